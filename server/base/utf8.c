/*
 * utf8.c - UTF-8 validation (RFC 3629) and cutting (see utf8.h).
 */
#include "tickpush/utf8.h"

size_t tp_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1fu;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0fu;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07u;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool tp_utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t k = u[i] < 0x80 ? 1 : tp_utf8_seq(u + i, n - i);

		if (!k)
			return false;
		i += k;
	}
	return true;
}

bool tp_utf8_printable(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	if (!tp_utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f)
			return false;
		/* U+0080..U+009F is C2 80..C2 9F in UTF-8. */
		if (u[i] == 0xc2 && i + 1 < n && u[i + 1] <= 0x9f)
			return false;
	}
	return true;
}

size_t tp_utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	/* s[max] is the first byte dropped: while it continues a sequence,
	 * the character it belongs to goes too. */
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

size_t tp_utf8_chars(const char *s, size_t n)
{
	size_t chars = 0;

	for (size_t i = 0; i < n; i++)
		chars += ((unsigned char)s[i] & 0xc0) != 0x80;
	return chars;
}
