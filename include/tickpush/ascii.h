/*
 * ascii.h - ASCII case folding that ignores the locale (server/base/ascii.c).
 *
 * Protocol words (header names, "Bearer", sort keys, level names, pattern
 * names) are ASCII; strcasecmp would fold by the C library's locale, and
 * toupper() takes an int that must not be a negative char. These fold A-Z
 * only and leave every other byte, UTF-8 included, as it is.
 */
#ifndef TICKPUSH_ASCII_H
#define TICKPUSH_ASCII_H

#include <stdbool.h>
#include <stddef.h>

static inline char tp_ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static inline char tp_ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* The value of a hex digit (either case), or -1. */
static inline int tp_ascii_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* strcasecmp/strncasecmp without the locale: <0, 0, >0 ordered as the
 * lower-cased bytes (unsigned), so sorted tables keep their order. */
int tp_ascii_casecmp(const char *a, const char *b);
int tp_ascii_ncasecmp(const char *a, const char *b, size_t n);

/* tp_ascii_casecmp(a, b) == 0. */
bool tp_ascii_ieq(const char *a, const char *b);

/* Copies s lower-cased into dst (cap >= 1 bytes, NUL included), cut to
 * fit; returns strlen(s), so a result >= cap means it was cut. */
size_t tp_ascii_lower_into(char *dst, size_t cap, const char *s);

#endif
