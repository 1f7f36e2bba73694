/*
 * text.c - text helpers shared by event, proto and render (see text.h).
 */
#include <cJSON.h>

#include "text.h"
#include "tickpush/buf.h"

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

bool tp_ascii_ieq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = *a, y = *b;

		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return *a == *b;
}

void tp_json_put(struct tp_buf *b, const cJSON *it)
{
	const cJSON *c;
	bool first = true;

	if (cJSON_IsFalse(it)) {
		tp_buf_puts(b, "false");
	} else if (cJSON_IsTrue(it)) {
		tp_buf_puts(b, "true");
	} else if (cJSON_IsNumber(it)) {
		tp_buf_json_num(b, it->valuedouble);
	} else if (cJSON_IsString(it)) {
		tp_buf_json_str(b, it->valuestring ? it->valuestring : "");
	} else if (cJSON_IsArray(it) || cJSON_IsObject(it)) {
		bool obj = cJSON_IsObject(it);

		tp_buf_putc(b, obj ? '{' : '[');
		cJSON_ArrayForEach(c, it) {
			if (!first)
				tp_buf_putc(b, ',');
			first = false;
			if (obj) {
				tp_buf_json_str(b, c->string ? c->string : "");
				tp_buf_putc(b, ':');
			}
			tp_json_put(b, c);
		}
		tp_buf_putc(b, obj ? '}' : ']');
	} else {
		tp_buf_puts(b, "null");
	}
}
