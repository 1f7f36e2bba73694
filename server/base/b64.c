/*
 * b64.c - strict base64 and base64url (RFC 4648), see b64.h.
 *
 * Strict on purpose: the decoders accept exactly one encoding per byte
 * string (no whitespace, no missing or stray padding, no non-zero trailing
 * bits), because what they read decides who a token belongs to. They never
 * allocate, so the password check can use them off the loop thread.
 */
#include <stdbool.h>
#include <string.h>

#include "tickpush/b64.h"
#include "tickpush/err.h"

static const char alpha_std[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char alpha_url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_encode(const void *in, size_t n, struct tp_buf *out, bool url)
{
	const unsigned char *p = in;
	const char *a = url ? alpha_url : alpha_std;
	size_t olen, i, j = 0;
	char *d;

	if (n > ((size_t)-1 / 2) / 4 * 3)
		return TP_ERR_NOMEM;
	olen = (n + 2) / 3 * 4;
	if (!tp_buf_reserve(out, olen))
		return TP_ERR_NOMEM;
	d = tp_buf_data(out) + out->len;
	for (i = 0; i + 3 <= n; i += 3) {
		unsigned long v = (unsigned long)p[i] << 16 |
				  (unsigned long)p[i + 1] << 8 | p[i + 2];

		d[j++] = a[v >> 18 & 63];
		d[j++] = a[v >> 12 & 63];
		d[j++] = a[v >> 6 & 63];
		d[j++] = a[v & 63];
	}
	if (n - i == 1) {
		unsigned long v = (unsigned long)p[i] << 16;

		d[j++] = a[v >> 18 & 63];
		d[j++] = a[v >> 12 & 63];
		if (!url) {
			d[j++] = '=';
			d[j++] = '=';
		}
	} else if (n - i == 2) {
		unsigned long v = (unsigned long)p[i] << 16 |
				  (unsigned long)p[i + 1] << 8;

		d[j++] = a[v >> 18 & 63];
		d[j++] = a[v >> 12 & 63];
		d[j++] = a[v >> 6 & 63];
		if (!url)
			d[j++] = '=';
	}
	out->len += j;
	return TP_OK;
}

int tp_b64url_encode(const void *in, size_t n, struct tp_buf *out)
{
	return b64_encode(in, n, out, true);
}

int tp_b64_encode(const void *in, size_t n, struct tp_buf *out)
{
	return b64_encode(in, n, out, false);
}

/* Value of one alphabet character, -1 for anything else ('=' included). */
static int sextet(unsigned char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

static int b64_decode(const char *in, size_t n, unsigned char *out,
		      size_t cap, size_t *outlen, bool url)
{
	size_t pads = 0, rem, need, i, j = 0;
	int v[4];

	*outlen = 0;
	if (n && !in)
		return TP_ERR_INVAL;
	if (!url) {
		/* Padded form: whole quads, at most two '=' and only at the end. */
		if (n % 4)
			return TP_ERR_INVAL;
		if (n >= 1 && in[n - 1] == '=') {
			pads = 1;
			if (n >= 2 && in[n - 2] == '=')
				pads = 2;
		}
		n -= pads;
	}
	rem = n % 4;
	if (rem == 1 || (!url && pads && rem != 4 - pads))
		return TP_ERR_INVAL;
	need = n / 4 * 3 + (rem ? rem - 1 : 0);
	if (need > cap)
		return TP_ERR_LIMIT;
	for (i = 0; i + 4 <= n; i += 4) {
		for (int k = 0; k < 4; k++)
			if ((v[k] = sextet((unsigned char)in[i + k], url)) < 0)
				return TP_ERR_INVAL;
		out[j++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		out[j++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		out[j++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	if (rem) {
		for (size_t k = 0; k < rem; k++)
			if ((v[k] = sextet((unsigned char)in[i + k], url)) < 0)
				return TP_ERR_INVAL;
		out[j++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (rem == 2 && (v[1] & 15))
			return TP_ERR_INVAL; /* non-zero trailing bits */
		if (rem == 3) {
			out[j++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
			if (v[2] & 3)
				return TP_ERR_INVAL;
		}
	}
	*outlen = j;
	return TP_OK;
}

int tp_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap,
		     size_t *outlen)
{
	return b64_decode(in, n, out, cap, outlen, true);
}

int tp_b64_decode(const char *in, size_t n, unsigned char *out, size_t cap,
		  size_t *outlen)
{
	return b64_decode(in, n, out, cap, outlen, false);
}
