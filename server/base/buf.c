/*
 * buf.c - growable byte buffer with JSON helpers (see buf.h).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/buf.h"

void tp_buf_init(struct tp_buf *b, size_t headroom)
{
	memset(b, 0, sizeof(*b));
	b->headroom = headroom;
}

void tp_buf_cleanup(struct tp_buf *b)
{
	tp_free(b->base);
	memset(b, 0, sizeof(*b));
}

void tp_buf_reset(struct tp_buf *b)
{
	b->len = 0;
	b->oom = false;
}

bool tp_buf_reserve(struct tp_buf *b, size_t extra)
{
	size_t need, ncap;
	char *nb;

	if (b->oom)
		return false;
	/* +1 keeps room for the terminating NUL of tp_buf_cstr. */
	if (extra > (size_t)-1 / 2 - b->len - b->headroom - 1) {
		b->oom = true;
		return false;
	}
	need = b->len + extra + 1;
	if (b->base && need <= b->cap)
		return true;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap *= 2;
	nb = tp_realloc(b->base, b->headroom + ncap);
	if (!nb) {
		b->oom = true;
		return false;
	}
	b->base = nb;
	b->cap = ncap;
	return true;
}

void tp_buf_append(struct tp_buf *b, const void *p, size_t n)
{
	if (!tp_buf_reserve(b, n))
		return;
	if (n)
		memcpy(b->base + b->headroom + b->len, p, n);
	b->len += n;
}

void tp_buf_puts(struct tp_buf *b, const char *s)
{
	tp_buf_append(b, s, strlen(s));
}

void tp_buf_putc(struct tp_buf *b, char c)
{
	tp_buf_append(b, &c, 1);
}

void tp_buf_printf(struct tp_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	size_t room;

	/* Straight into the free room; a second pass only if it did not
	 * fit (formatting twice was a measurable part of a scan answer). */
	if (!tp_buf_reserve(b, 64))
		return;
	room = b->cap - b->len; /* the NUL's byte included */
	va_start(ap, fmt);
	n = vsnprintf(b->base + b->headroom + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= room) {
		if (!tp_buf_reserve(b, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf(b->base + b->headroom + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void tp_buf_json_strn(struct tp_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	tp_buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t run = i;

		/* Copy runs of plain bytes at once. */
		while (run < n && (unsigned char)s[run] >= 0x20 &&
		       s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i) {
			tp_buf_append(b, s + i, run - i);
			i = run - 1;
			continue;
		}
		switch (c) {
		case '"': tp_buf_append(b, "\\\"", 2); break;
		case '\\': tp_buf_append(b, "\\\\", 2); break;
		case '\n': tp_buf_append(b, "\\n", 2); break;
		case '\r': tp_buf_append(b, "\\r", 2); break;
		case '\t': tp_buf_append(b, "\\t", 2); break;
		default: {
			char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			tp_buf_append(b, esc, sizeof(esc));
		}
		}
	}
	tp_buf_putc(b, '"');
}

void tp_buf_json_str(struct tp_buf *b, const char *s)
{
	tp_buf_json_strn(b, s, strlen(s));
}

/* v in decimal at p (no NUL); returns the digits written. */
static size_t put_digits(char *p, unsigned long long v)
{
	char tmp[24];
	size_t k = sizeof(tmp), n;

	do {
		tmp[--k] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	n = sizeof(tmp) - k;
	memcpy(p, tmp + k, n);
	return n;
}

/*
 * What "%.15g" writes for 1e-3 <= |v| < 1e15 when v is the double nearest
 * to a decimal of at most 6 places and 15 digits, m / 10^k: that decimal,
 * in fixed notation without trailing zeros. (v is within half an ulp of
 * m / 10^k, less than half a unit of the 15th digit; the exponent is
 * below 15, so %g does not switch to e-notation; the smallest k gives a
 * last digit that is not 0.) Such values (0.6, 150.25, prices, ratios,
 * Unix times with milliseconds) are most of what we print, and printing
 * them by hand skips snprintf and the strtod check. false: not such a
 * value, the caller formats it.
 */
static bool short_decimal(double v, char *out, size_t n)
{
	static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
	double a = fabs(v);
	int int_digits = 0;

	if (!(a >= 1e-3 && a < 1e15) || n < 32)
		return false;
	for (double t = 1; t <= a; t *= 10)
		int_digits++;
	for (int k = 1; k <= 6 && int_digits + k <= 15; k++) {
		double m = nearbyint(a * pow10[k]);
		unsigned long long u, ip, fp;
		char *p = out;

		if (m / pow10[k] != a)
			continue;
		u = (unsigned long long)m;
		ip = u / (unsigned long long)pow10[k];
		fp = u % (unsigned long long)pow10[k];
		if (v < 0)
			*p++ = '-';
		p += put_digits(p, ip);
		*p++ = '.';
		for (int d = k - 1; d >= 0; d--) {
			p[d] = (char)('0' + fp % 10);
			fp /= 10;
		}
		p[k] = '\0';
		return true;
	}
	return false;
}

void tp_buf_json_num(struct tp_buf *b, double v)
{
	char tmp[40];

	if (!isfinite(v)) {
		tp_buf_puts(b, "null");
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15) {
		/* "%.0f" by hand (exact: |v| < 1e15), "-0" included. */
		if (signbit(v))
			tp_buf_putc(b, '-');
		tp_buf_json_uint(b, (unsigned long long)fabs(v));
		return;
	}
	if (v == floor(v) && fabs(v) < 9007199254740992.0 /* 2^53 */ &&
	    (unsigned long long)fabs(v) % 10) {
		/* 16 digits, the last not 0 (microsecond stamps): %.15g
		 * cannot round-trip, %.17g writes them all. */
		if (signbit(v))
			tp_buf_putc(b, '-');
		tp_buf_json_uint(b, (unsigned long long)fabs(v));
		return;
	}
	if (!short_decimal(v, tmp, sizeof(tmp))) {
		/* Shortest of %.15g / %.17g that round-trips. */
		snprintf(tmp, sizeof(tmp), "%.15g", v);
		if (strtod(tmp, NULL) != v)
			snprintf(tmp, sizeof(tmp), "%.17g", v);
	}
	tp_buf_puts(b, tmp);
}

void tp_buf_json_bool(struct tp_buf *b, bool v)
{
	tp_buf_puts(b, v ? "true" : "false");
}

void tp_buf_json_int(struct tp_buf *b, long long v)
{
	if (v < 0)
		tp_buf_putc(b, '-');
	tp_buf_json_uint(b, v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v);
}

/* Digits by hand: integers are in every answer (pages, totals, seq). */
void tp_buf_json_uint(struct tp_buf *b, unsigned long long v)
{
	char tmp[24];

	tp_buf_append(b, tmp, put_digits(tmp, v));
}

/*
 * "%.*f" by hand for 1..6 decimals and |v| * 10^decimals < 1e12, the
 * usual milliseconds and prices: x = v * 10^d is then within 1.2e-4 of
 * the exact product, so unless x's fraction is within 1e-3 of one half
 * (a near tie, left to printf) rounding x to the nearest integer gives
 * printf's digits. Writes into out (at least TP_FIXED_FAST_MAX bytes,
 * not terminated) and returns the length; 0: the caller uses printf.
 */
#define TP_FIXED_FAST_MAX 24 /* "-" 12 digits "." 6 digits */

static size_t fixed_by_hand(char *out, double v, int decimals)
{
	static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
	double x, r;
	unsigned long long u, p;
	size_t len = 0;

	if (decimals < 1 || decimals > 6)
		return 0;
	x = fabs(v) * pow10[decimals];
	if (!(x < 1e12) || fabs(x - floor(x) - 0.5) < 1e-3)
		return 0;
	r = floor(x + 0.5);
	u = (unsigned long long)r;
	p = (unsigned long long)pow10[decimals];
	if (signbit(v) && u)
		out[len++] = '-';
	else if (signbit(v))
		return 0; /* printf writes "-0.000": leave it that */
	len += put_digits(out + len, u / p);
	out[len] = '.';
	u %= p;
	for (int d = decimals; d >= 1; d--) {
		out[len + (size_t)d] = (char)('0' + u % 10);
		u /= 10;
	}
	return len + (size_t)decimals + 1;
}

size_t tp_fmt_fixed(char *out, size_t n, double v, int decimals)
{
	char tmp[TP_FIXED_FAST_MAX];
	size_t len = isfinite(v) ? fixed_by_hand(tmp, v, decimals) : 0;
	int w;

	if (!len) {
		w = snprintf(out, n, "%.*f", decimals, v);
		return w < 0 ? 0 : (size_t)w;
	}
	if (n) {
		size_t k = len < n ? len : n - 1; /* snprintf's truncation */

		memcpy(out, tmp, k);
		out[k] = '\0';
	}
	return len;
}

void tp_buf_json_fixed(struct tp_buf *b, double v, int decimals)
{
	char tmp[TP_FIXED_FAST_MAX];
	size_t len;

	if (!isfinite(v))
		tp_buf_puts(b, "null");
	else if ((len = fixed_by_hand(tmp, v, decimals)))
		tp_buf_append(b, tmp, len);
	else
		tp_buf_printf(b, "%.*f", decimals, v);
}

void tp_buf_json_str_or_null(struct tp_buf *b, const char *s)
{
	if (s && *s)
		tp_buf_json_str(b, s);
	else
		tp_buf_puts(b, "null");
}

void tp_buf_json_time(struct tp_buf *b, double t)
{
	if (t > 0)
		tp_buf_json_num(b, t);
	else
		tp_buf_puts(b, "null");
}

void tp_buf_json_key(struct tp_buf *b, const char *key, bool first)
{
	if (!first)
		tp_buf_putc(b, ',');
	tp_buf_json_str(b, key);
	tp_buf_putc(b, ':');
}

void tp_buf_json_open(struct tp_buf *b, const char *key)
{
	tp_buf_putc(b, '{');
	tp_buf_json_key(b, key, true);
}

void tp_buf_json_kv_str(struct tp_buf *b, const char *key, const char *v)
{
	tp_buf_json_key(b, key, false);
	tp_buf_json_str(b, v);
}

void tp_buf_json_kv_num(struct tp_buf *b, const char *key, double v)
{
	tp_buf_json_key(b, key, false);
	tp_buf_json_num(b, v);
}

void tp_buf_json_kv_bool(struct tp_buf *b, const char *key, bool v)
{
	tp_buf_json_key(b, key, false);
	tp_buf_json_bool(b, v);
}

void tp_buf_json_kv_int(struct tp_buf *b, const char *key, long long v)
{
	tp_buf_json_key(b, key, false);
	tp_buf_json_int(b, v);
}

void tp_buf_json_kv_uint(struct tp_buf *b, const char *key, unsigned long long v)
{
	tp_buf_json_key(b, key, false);
	tp_buf_json_uint(b, v);
}

void tp_buf_json_kv_fixed(struct tp_buf *b, const char *key, double v, int decimals)
{
	tp_buf_json_key(b, key, false);
	tp_buf_json_fixed(b, v, decimals);
}

void tp_buf_json_kv_str_or_null(struct tp_buf *b, const char *key, const char *v)
{
	tp_buf_json_key(b, key, false);
	tp_buf_json_str_or_null(b, v);
}

void tp_buf_json_kv_time(struct tp_buf *b, const char *key, double t)
{
	tp_buf_json_key(b, key, false);
	tp_buf_json_time(b, t);
}

void tp_buf_json_kv_raw(struct tp_buf *b, const char *key, const char *json)
{
	tp_buf_json_key(b, key, false);
	tp_buf_puts(b, json);
}

bool tp_buf_json_kv_splice(struct tp_buf *b, const char *obj)
{
	size_t n = obj ? strlen(obj) : 0;

	if (n < 3 || obj[0] != '{' || obj[n - 1] != '}')
		return false;
	tp_buf_putc(b, ',');
	tp_buf_append(b, obj + 1, n - 2);
	return true;
}

const char *tp_buf_cstr(struct tp_buf *b)
{
	if (!b->base && !tp_buf_reserve(b, 0))
		return "";
	if (b->oom)
		return "";
	b->base[b->headroom + b->len] = '\0';
	return b->base + b->headroom;
}
