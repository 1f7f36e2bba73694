/*
 * buf.h - growable byte buffer with JSON helpers.
 *
 * On allocation failure the buffer enters a sticky error state (oom = true)
 * and further appends are no-ops, so callers check once at the end.
 * An optional headroom reserves bytes in front of the data (LWS_PRE for
 * payloads handed to lws_write) without this header knowing lws.
 */
#ifndef TICKPUSH_BUF_H
#define TICKPUSH_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct tp_buf {
	char *base;      /* allocation; data starts at base + headroom */
	size_t headroom;
	size_t len;      /* bytes of data */
	size_t cap;      /* bytes available for data */
	bool oom;
};

void tp_buf_init(struct tp_buf *b, size_t headroom);
void tp_buf_cleanup(struct tp_buf *b);
void tp_buf_reset(struct tp_buf *b); /* len = 0, keeps memory, clears oom */

static inline char *tp_buf_data(const struct tp_buf *b)
{
	return b->base ? b->base + b->headroom : NULL;
}

bool tp_buf_reserve(struct tp_buf *b, size_t extra);
void tp_buf_append(struct tp_buf *b, const void *p, size_t n);
void tp_buf_puts(struct tp_buf *b, const char *s);
void tp_buf_putc(struct tp_buf *b, char c);
void tp_buf_printf(struct tp_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends s as a quoted, escaped JSON string (control chars as \u00XX). */
void tp_buf_json_str(struct tp_buf *b, const char *s);
void tp_buf_json_strn(struct tp_buf *b, const char *s, size_t n);
/* Appends a JSON number: shortest round-trip repr, "null" for NaN/inf. */
void tp_buf_json_num(struct tp_buf *b, double v);

/* Appends true or false. */
void tp_buf_json_bool(struct tp_buf *b, bool v);
/* Appends an integer exactly (no double rounding above 2^53). */
void tp_buf_json_int(struct tp_buf *b, long long v);
void tp_buf_json_uint(struct tp_buf *b, unsigned long long v);
/* Appends v with exactly `decimals` digits after the point ("%.*f"): for
 * figures read by people, such as milliseconds; "null" for NaN/inf. */
void tp_buf_json_fixed(struct tp_buf *b, double v, int decimals);
/* snprintf(out, n, "%.*f", decimals, v), the same bytes and return value,
 * without printf for the usual values (prices, ratios, times): those are
 * most of what formatting an event costs. */
size_t tp_fmt_fixed(char *out, size_t n, double v, int decimals);
/* Appends s as a JSON string, or null when s is NULL or "" (an optional
 * text column). */
void tp_buf_json_str_or_null(struct tp_buf *b, const char *s);
/* Appends a Unix time: the number when t > 0, null when unset (0, or not
 * a number). */
void tp_buf_json_time(struct tp_buf *b, double t);

/* The JSON writer: members of an object being written. tp_buf_json_key
 * appends "key": (escaped), after a comma unless first (the member right
 * after '{'); the _kv_ forms append ,"key":value with the value writer of
 * the same name. tp_buf_json_kv_raw takes a value already rendered as JSON
 * (a nested object we printed, "null", a stored JSON text). */
void tp_buf_json_key(struct tp_buf *b, const char *key, bool first);
/* Opens an object at its first member: appends {"key": (the '{' and the
 * comma rule in one call, so an object's start cannot get a comma). */
void tp_buf_json_open(struct tp_buf *b, const char *key);
void tp_buf_json_kv_str(struct tp_buf *b, const char *key, const char *v);
void tp_buf_json_kv_num(struct tp_buf *b, const char *key, double v);
void tp_buf_json_kv_bool(struct tp_buf *b, const char *key, bool v);
void tp_buf_json_kv_int(struct tp_buf *b, const char *key, long long v);
void tp_buf_json_kv_uint(struct tp_buf *b, const char *key, unsigned long long v);
void tp_buf_json_kv_fixed(struct tp_buf *b, const char *key, double v, int decimals);
void tp_buf_json_kv_str_or_null(struct tp_buf *b, const char *key, const char *v);
void tp_buf_json_kv_time(struct tp_buf *b, const char *key, double t);
void tp_buf_json_kv_raw(struct tp_buf *b, const char *key, const char *json);
/* Appends the members of obj, an object already rendered as JSON ("{...}"
 * with at least one member), after a comma: they become members of the
 * object being written. False, nothing appended, when obj is not that. */
bool tp_buf_json_kv_splice(struct tp_buf *b, const char *obj);

/* NUL-terminated copy of the data (or "" when empty); ownership stays. */
const char *tp_buf_cstr(struct tp_buf *b);

#endif
