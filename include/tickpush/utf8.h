/*
 * utf8.h - UTF-8 validation and cutting (server/base/utf8.c).
 *
 * One definition of "valid UTF-8" for every text we take in (events, JSON
 * bodies, WebSocket frames, URL parameters): RFC 3629, so no overlong
 * forms, no surrogates, nothing above U+10FFFF.
 */
#ifndef TICKPUSH_UTF8_H
#define TICKPUSH_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (n >= 1 bytes available), 0 if
 * invalid: no overlongs, surrogates or code points above U+10FFFF. */
size_t tp_utf8_seq(const unsigned char *s, size_t n);

/* s[0..n) is valid UTF-8 (by tp_utf8_seq). */
bool tp_utf8_valid(const char *s, size_t n);

/* s[0..n) is valid UTF-8 without control characters: C0, DEL or C1
 * (U+0080..U+009F). */
bool tp_utf8_printable(const char *s, size_t n);

/* How many of s[0..n)'s bytes to keep so the result is at most max bytes
 * and does not end inside a multi-byte sequence (n when n <= max). */
size_t tp_utf8_cut(const char *s, size_t n, size_t max);

/* Characters (non-continuation bytes) in s[0..n). */
size_t tp_utf8_chars(const char *s, size_t n);

#endif
