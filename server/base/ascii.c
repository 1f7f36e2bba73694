/*
 * ascii.c - locale-independent case-insensitive compares (see ascii.h).
 */
#include <string.h>

#include "tickpush/ascii.h"

int tp_ascii_ncasecmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		unsigned char x = (unsigned char)tp_ascii_lower(*a);
		unsigned char y = (unsigned char)tp_ascii_lower(*b);

		if (x != y)
			return x < y ? -1 : 1;
		if (!x)
			break;
	}
	return 0;
}

int tp_ascii_casecmp(const char *a, const char *b)
{
	return tp_ascii_ncasecmp(a, b, (size_t)-1);
}

bool tp_ascii_ieq(const char *a, const char *b)
{
	return tp_ascii_casecmp(a, b) == 0;
}

size_t tp_ascii_lower_into(char *dst, size_t cap, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < cap; i++)
		dst[i] = tp_ascii_lower(s[i]);
	dst[i] = '\0';
	return i + strlen(s + i);
}
