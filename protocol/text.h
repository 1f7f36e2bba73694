/*
 * text.h - small text helpers shared by the wire-format modules
 * (protocol/text.c). Private to protocol/.
 */
#ifndef TICKPUSH_PROTOCOL_TEXT_H
#define TICKPUSH_PROTOCOL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;
struct tp_buf;

/* Length of the valid UTF-8 sequence at s (n >= 1 bytes available), 0 if
 * invalid: no overlongs, surrogates or code points above U+10FFFF. */
size_t tp_utf8_seq(const unsigned char *s, size_t n);

/* ASCII-only case-insensitive equality (no locale). */
bool tp_ascii_ieq(const char *a, const char *b);

/* Appends any cJSON value as compact JSON (numbers in the shortest
 * round-trip form, non-finite ones as null). Depth is bounded by cJSON's
 * own nesting limit. */
void tp_json_put(struct tp_buf *b, const struct cJSON *it);

#endif
