/*
 * httphead.c - the raw request head check (see httphead.h).
 *
 * Mirrors what lws 4.1.6's parser (roles/http/parsers.c) gives up on, no
 * more: methods it knows, its URL decoding ('%' needs two hex digits, a
 * decoded NUL fails), one fragment slot per URL argument and per header
 * line (counted as if lws knew every header: slightly stricter), and
 * header lines need a ':' before their end. Sizes stay lws's and http.c's
 * (431/414 there). Only the head is looked at; a body is lws's and ours
 * later.
 */
#include <string.h>

#include "tickpush/ascii.h"
#include "tickpush/buf.h"
#include "tickpush/httphead.h"
#include "tickpush/render.h"

static const char *const methods[] = {
	"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD",
};

static enum tp_head_verdict bad(struct tp_head_error *err, int status,
				const char *error, const char *field)
{
	err->status = status;
	err->error = error;
	err->field = field;
	return TP_HEAD_BAD;
}

/* The end of the head ("\r\n\r\n" or "\n\n"), or 0 when not yet there. */
static size_t head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* *frags: the slots lws takes for the URL (it splits at every '&' and ';',
 * in the path too). */
static enum tp_head_verdict check_target(const char *t, size_t n,
					 const struct tp_head_limits *lim,
					 unsigned *frags, struct tp_head_error *err)
{
	const char *q = memchr(t, '?', n);

	*frags = 1 + (q != NULL);
	for (size_t i = 0; i < n; i++)
		*frags += t[i] == '&' || t[i] == ';';
	if (n >= lim->url_max)
		return bad(err, 414, "URL too long", "url");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c < 0x20 || c == 0x7f)
			return bad(err, 400, "url: control characters are not allowed", "url");
		if (c != '%')
			continue;
		if (i + 2 >= n || tp_ascii_hexval(t[i + 1]) < 0 || tp_ascii_hexval(t[i + 2]) < 0)
			return bad(err, 400, "url: malformed percent-encoding "
				   "(% must be followed by two hex digits)", "url");
		if (tp_ascii_hexval(t[i + 1]) == 0 && tp_ascii_hexval(t[i + 2]) == 0)
			return bad(err, 400, "url: %00 is not allowed", "url");
		i += 2;
	}
	return TP_HEAD_OK;
}

enum tp_head_verdict tp_http_head_check(const char *buf, size_t len,
					const struct tp_head_limits *lim,
					struct tp_head_error *err)
{
	size_t end = head_end(buf, len), mlen, i;
	const char *line, *sp1, *sp2, *eol;
	unsigned frags, lines = 0;
	int known = 0;

	memset(err, 0, sizeof(*err));
	/* Not an HTTP request line at all (a TLS hello on a plain check, a
	 * binary protocol): lws's to handle, as before. */
	if (len && (buf[0] < 'A' || buf[0] > 'Z'))
		return TP_HEAD_OK;
	if (!end) {
		/* A head longer than lws's table may still be fine: lws keeps
		 * only http_header_max bytes of each header (http.c answers
		 * 431/414 for those). Not ours to judge: lws's. */
		return len >= lim->head_max ? TP_HEAD_OK : TP_HEAD_MORE;
	}
	err->head_len = end;
	line = buf;
	eol = memchr(line, '\n', end);
	sp1 = memchr(line, ' ', (size_t)(eol - line));
	if (!sp1)
		return bad(err, 400, "Malformed request line", NULL);
	mlen = (size_t)(sp1 - line);
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		known |= strlen(methods[i]) == mlen && !memcmp(line, methods[i], mlen);
	if (!known)
		return bad(err, 501, "Method not implemented", "method");
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1)
		return bad(err, 400, "Malformed request line", NULL);
	if (check_target(sp1 + 1, (size_t)(sp2 - sp1 - 1), lim, &frags, err) != TP_HEAD_OK)
		return TP_HEAD_BAD;
	/* Header lines up to the empty one. */
	for (line = eol + 1; line < buf + end; line = eol + 1) {
		eol = memchr(line, '\n', (size_t)(buf + end - line));
		if (!eol || eol == line || (eol == line + 1 && line[0] == '\r'))
			break;
		if (!memchr(line, ':', (size_t)(eol - line)))
			return bad(err, 400, "Malformed header line", "header");
		lines++;
	}
	/* The URL's fragments and the version take slots too. More URL
	 * arguments than we take but fewer than lws fails on are left to
	 * http.c, which names the limit. */
	if (frags + lines + 1 > lim->frags) {
		if (frags > lines)
			return bad(err, 400, "query: too many parameters", "query");
		return bad(err, 431, "Too many header lines", NULL);
	}
	return TP_HEAD_OK;
}

void tp_http_head_refusal(const struct tp_head_error *err, struct tp_buf *out)
{
	struct tp_buf body;

	tp_buf_init(&body, 0);
	tp_render_error(&body, err->error, err->field, NULL);
	tp_buf_printf(out, "HTTP/1.1 %d %s\r\ncontent-type: application/json; charset=utf-8\r\n"
		      "content-length: %zu\r\ncache-control: no-store\r\n"
		      "x-content-type-options: nosniff\r\nconnection: close\r\n\r\n",
		      err->status,
		      err->status == 414 ? "URI Too Long" :
		      err->status == 431 ? "Request Header Fields Too Large" :
		      err->status == 501 ? "Not Implemented" : "Bad Request",
		      body.len);
	tp_buf_append(out, tp_buf_data(&body), body.len);
	out->oom |= body.oom;
	tp_buf_cleanup(&body);
}
