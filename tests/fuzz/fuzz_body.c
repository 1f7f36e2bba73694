/*
 * fuzz_body.c - libFuzzer harness for protocol/body.c (REST request
 * bodies) and, through it, the JSON text check shared with the WebSocket
 * frame parser.
 *
 * Each input is a body of at most 64 KiB (the HTTP limit). Checked beyond
 * the sanitizers, with an oracle written here, independent of the code
 * under test:
 * - a refused body leaves nothing allocated and gets a message and field
 *   in printable, valid UTF-8 (they are echoed to the client), the message
 *   starting with the field when there is one;
 * - an accepted body is one object without duplicate top-level members,
 *   every string and member name in it is valid UTF-8, and no string was
 *   cut: the input holds no raw NUL, no "\u0000" and no malformed \u
 *   escape (cJSON 1.7.15 decodes those to NUL too);
 * - printed compactly and parsed again it is accepted again and prints
 *   the same;
 * - tp_body_string's answers obey their rules (length in characters or
 *   bytes, no control characters when asked).
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "tickpush/alloc.h"
#include "tickpush/body.h"
#include "tickpush/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_body: check failed: %s (line %d)\n", \
				#c, __LINE__);                                 \
			abort();                                               \
		}                                                              \
	} while (0)

#define MAX_LEN 65536

/* The oracle's own UTF-8 rules (RFC 3629): no overlongs, no surrogates,
 * nothing above U+10FFFF. */
static size_t seq_len(const unsigned char *s, size_t n)
{
	unsigned cp;
	size_t k;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		k = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		k = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		k = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

static bool utf8(const char *s, size_t n, size_t *chars)
{
	size_t c = 0;

	for (size_t i = 0, k; i < n; i += k, c++)
		if (!(k = seq_len((const unsigned char *)s + i, n - i)))
			return false;
	if (chars)
		*chars = c;
	return true;
}

static bool controls(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return true;
	return false;
}

/* Every string and member name below it is valid UTF-8. Returns false
 * when a number is not finite (cJSON prints it as null). */
static bool check_tree(const cJSON *it, int depth)
{
	bool finite = true;

	CHECK(depth < 2000);
	for (; it; it = it->next) {
		if (it->string)
			CHECK(utf8(it->string, strlen(it->string), NULL));
		if (cJSON_IsString(it))
			CHECK(utf8(it->valuestring, strlen(it->valuestring), NULL));
		if (cJSON_IsNumber(it) && !isfinite(it->valuedouble))
			finite = false;
		finite = check_tree(it->child, depth + 1) && finite;
	}
	return finite;
}

/* True when cJSON would have decoded a NUL somewhere in d: a raw zero
 * byte, "\u0000", or a \u not followed by four hex digits (cJSON's hex
 * reader answers 0 for those). Backslash pairs are skipped as escapes,
 * which over-approximates outside strings: fine for an oracle that is
 * only consulted for accepted bodies. */
static bool may_hold_nul(const uint8_t *d, size_t n)
{
	if (memchr(d, 0, n))
		return true;
	for (size_t i = 0; i + 1 < n; i++) {
		unsigned code = 0;

		if (d[i] != '\\')
			continue;
		if (d[i + 1] != 'u') {
			i++; /* an escaped character, perhaps a backslash */
			continue;
		}
		for (size_t j = i + 2; j < i + 6; j++) {
			if (j >= n || !((d[j] >= '0' && d[j] <= '9') ||
					((d[j] | 0x20) >= 'a' && (d[j] | 0x20) <= 'f')))
				return true;
			code = code << 4 | (unsigned)(d[j] <= '9' ? d[j] - '0' : (d[j] | 0x20) - 'a' + 10);
		}
		if (!code)
			return true;
		i += 5;
	}
	return false;
}

static void check_strings(const cJSON *root)
{
	static const unsigned flags[] = {
		0, TP_BODY_PRINTABLE, TP_BODY_BYTES, TP_BODY_BYTES | TP_BODY_PRINTABLE,
		TP_BODY_OPTIONAL,
	};

	for (const cJSON *it = root->child; it; it = it->next) {
		for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
			struct tp_body_error err;
			const char *s = NULL;
			size_t chars, min = f, max = 8 + 4 * f;
			int rc = tp_body_string(root, it->string, min, max, flags[f], &s, &err);

			if (rc != TP_OK) {
				CHECK(rc == TP_ERR_INVAL && !s);
				CHECK(!strncmp(err.msg, err.field, strlen(err.field)));
				continue;
			}
			CHECK(s && cJSON_IsString(it) && s == it->valuestring);
			CHECK(utf8(s, strlen(s), &chars));
			if (flags[f] & TP_BODY_BYTES)
				chars = strlen(s);
			CHECK(chars >= min && chars <= max);
			if (flags[f] & TP_BODY_PRINTABLE)
				CHECK(!controls(s));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t blocks = tp_alloc_blocks(), used = tp_alloc_used();
	struct tp_body_error err;
	cJSON *root = NULL, *again = NULL;
	char *printed = NULL;
	bool finite;

	if (size > MAX_LEN)
		return 0;
	tp_json_init();
	memset(&err, 0x55, sizeof(err));
	if (tp_body_parse((const char *)data, size, &root, &err) != TP_OK) {
		CHECK(!root);
		CHECK(err.msg[0] && utf8(err.msg, strlen(err.msg), NULL) && !controls(err.msg));
		CHECK(utf8(err.field, strlen(err.field), NULL) && !controls(err.field));
		if (err.field[0])
			CHECK(!strncmp(err.msg, err.field, strlen(err.field)));
		else
			CHECK(!strncmp(err.msg, "body: ", 6));
		CHECK(tp_alloc_blocks() == blocks && tp_alloc_used() == used);
		return 0;
	}
	CHECK(cJSON_IsObject(root));
	CHECK(!may_hold_nul(data, size));
	finite = check_tree(root->child, 0);
	for (const cJSON *a = root->child; a; a = a->next)
		for (const cJSON *b = a->next; b; b = b->next)
			CHECK(strcmp(a->string, b->string));
	check_strings(root);
	/* What was accepted, printed again, is accepted again and equal. */
	if (finite)
		printed = cJSON_PrintUnformatted(root);
	if (printed) {
		if (tp_body_parse(printed, strlen(printed), &again, &err) == TP_OK) {
			/* Printed forms, not cJSON_Compare: that one cannot
			 * compare nested objects with duplicate members. */
			char *twice = cJSON_PrintUnformatted(again);

			CHECK(!twice || !strcmp(printed, twice));
			tp_free(twice);
			cJSON_Delete(again);
		} else {
			/* Only running out of memory may refuse it. */
			CHECK(!err.msg[0]);
		}
		tp_free(printed);
	}
	cJSON_Delete(root);
	CHECK(tp_alloc_blocks() == blocks && tp_alloc_used() == used);
	return 0;
}
