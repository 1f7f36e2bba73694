/*
 * test_body.c - protocol/body.c: JSON request bodies and their strings.
 *
 * Covers: accepted bodies (whitespace, escapes decoded to UTF-8, a literal
 * backslash before "u0000"); every refusal with the member it names (bad
 * UTF-8 in all its forms, "\u0000", raw NUL and control characters,
 * member names, nesting, data after the value, not an object, duplicate
 * members among many); the string getter's rules (required/optional,
 * characters vs bytes, control characters, a tree with bad UTF-8 that did
 * not come from tp_body_parse); out of memory at every allocation.
 */
#include <string.h>

#include <cJSON.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/body.h"
#include "tickpush/json.h"

#define J(...) #__VA_ARGS__

static cJSON *parse_ok(const char *text, size_t len)
{
	struct tp_body_error err;
	cJSON *root = NULL;
	int rc = tp_body_parse(text, len ? len : strlen(text), &root, &err);

	if (rc != TP_OK)
		fail_msg("refused %s: %s", text, err.msg);
	assert_non_null(root);
	return root;
}

static void test_accepted(void **state)
{
	cJSON *root;
	const cJSON *v;

	(void)state;
	root = parse_ok(" \r\n\t{\"name\":\"caf\\u00e9 \xe2\x82\xac\"} \n", 0);
	v = cJSON_GetObjectItemCaseSensitive(root, "name");
	assert_string_equal(v->valuestring, "caf\xc3\xa9 \xe2\x82\xac");
	cJSON_Delete(root);
	/* A surrogate pair decodes to one 4-byte character. */
	root = parse_ok(J({"e":"\ud83d\ude00"}), 0);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "e")->valuestring,
			    "\xf0\x9f\x98\x80");
	cJSON_Delete(root);
	/* An escaped backslash followed by "u0000" is six plain characters. */
	root = parse_ok("{\"a\":\"\\\\u0000\"}", 0);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "a")->valuestring, "\\u0000");
	cJSON_Delete(root);
}

struct refusal {
	const char *text;
	size_t len;          /* 0: strlen */
	const char *field;   /* err.field */
	const char *msg;     /* err.msg starts with it */
};

static const struct refusal refusals[] = {
	{NULL, 0, "", "body: required, a JSON object"},
	{"", 0, "", "body: required"},
	{"   ", 0, "", "body: not valid JSON"},
	{"{", 0, "", "body: not valid JSON"},
	{"{'a':1}", 0, "", "body: not valid JSON"},
	{J({"a":"\ud800"}), 0, "", "body: not valid JSON"},           /* lone surrogate */
	{"[1]", 0, "", "body: must be a JSON object"},
	{"\"text\"", 0, "", "body: must be a JSON object"},
	{"null", 0, "", "body: must be a JSON object"},
	{"{} xx", 0, "", "body: data after the JSON value (byte 3)"},
	{"{}{}", 0, "", "body: data after the JSON value (byte 2)"},
	{"{}\n]", 0, "", "body: data after the JSON value (byte 3)"},
	{"{}\0", 3, "", "body: control character (byte 2)"},
	{"{\x01}", 0, "", "body: control character (byte 1)"},
	{"\xff{}", 0, "", "body: invalid UTF-8 (byte 0)"},
	/* In a value: the member is named, in the field and the message. */
	{"{\"name\":\"a\xff\"}", 0, "name", "name: invalid UTF-8 (byte 10)"},
	{"{\"name\":\"\xc0\xaf\"}", 0, "name", "name: invalid UTF-8"},          /* overlong */
	{"{\"name\":\"\xed\xa0\x80\"}", 0, "name", "name: invalid UTF-8"},      /* surrogate */
	{"{\"name\":\"\xf4\x90\x80\x80\"}", 0, "name", "name: invalid UTF-8"},  /* > U+10FFFF */
	{"{\"name\":\"\xe2\x82\"}", 0, "name", "name: invalid UTF-8"},          /* truncated */
	{"{\"name\":\"x\\\xff\"}", 0, "name", "name: invalid UTF-8"},           /* escaped byte */
	{"{\"name\":\"demo\\u0000\"}", 0, "name", "name: \\u0000 (NUL) in a string (byte 13)"},
	{"{\"name\":\"demo\\u00zz\"}", 0, "name", "name: invalid \\u escape in a string"},
	{"{\"name\":\"demo\\u12\"}", 0, "name", "name: invalid \\u escape in a string"},
	{"{\"name\":\"demo\\u00\\\0x\"}", 22, "name", "name: invalid \\u escape"},
	{"{\"name\":\"x\\\x01\"}", 0, "name", "name: control character in a string"},
	{"{\"name\":\"a\0b\"}", 13, "name", "name: control character in a string (byte 10)"},
	{"{\"name\":\"a\tb\"}", 0, "name", "name: control character in a string"},
	{"{\"a\":\"x\\\"\\u0000\"}", 0, "a", "a: \\u0000"},   /* after an escaped quote */
	{"{\"name\":\"ok\",\"symbols\":[\"A\",\"B\\u0000\"]}", 0, "symbols", "symbols: \\u0000"},
	{"{\"filters\":{\"sectors\":[\"Energy\\u0000\"]}}", 0, "filters.sectors",
	 "filters.sectors: \\u0000"},
	{"{\"a\":{\"b\":1,\"c\":{\"d\":[[\"\xff\"]]}}}", 0, "a.c.d", "a.c.d: invalid UTF-8"},
	{"{\"a\":{\"b\":\"\xff\"}}", 0, "a.b", "a.b: invalid UTF-8"},
	{"{\"a\":{\"b\":1},\"c\":\"\xff\"}", 0, "c", "c: invalid UTF-8"},
	{"[\"\xff\"]", 0, "", "body: invalid UTF-8"},
	/* In a member name: the object holding it is named. */
	{"{\"na\xffme\":1}", 0, "", "body: member name: invalid UTF-8"},
	{"{\"filters\":{\"se\\u0000\":1}}", 0, "filters", "filters: member name: \\u0000"},
	{"{\"a\":1,\"b\\u0000\":1}", 0, "", "body: member name: \\u0000"},
	/* Duplicate members. */
	{J({"name":"a","name":"b"}), 0, "name", "name: given more than once"},
	{J({"":1,"":2}), 0, "", "body: the member \"\" is given more than once"},
	{J({"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"c":0}), 0, "c",
	 "c: given more than once"},
};

static void test_refusals(void **state)
{
	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(refusals); i++) {
		const struct refusal *r = &refusals[i];
		struct tp_body_error err;
		cJSON *root = (cJSON *)1;
		size_t len = r->len ? r->len : r->text ? strlen(r->text) : 0;
		int rc = tp_body_parse(r->text, len, &root, &err);

		if (rc != TP_ERR_INVAL || root)
			fail_msg("case %zu (%s): rc %d, want TP_ERR_INVAL", i, r->text, rc);
		if (strcmp(err.field, r->field) || strncmp(err.msg, r->msg, strlen(r->msg)))
			fail_msg("case %zu (%s): field \"%s\" msg \"%s\", want \"%s\" \"%s...\"",
				 i, r->text, err.field, err.msg, r->field, r->msg);
	}
}

/* Paths are bounded: deep nesting and long names are cut, never overrun. */
static void test_long_paths(void **state)
{
	char text[4096], key[200];
	struct tp_body_error err;
	cJSON *root;
	size_t n = 0;

	(void)state;
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	n += (size_t)snprintf(text + n, sizeof(text) - n, "{\"%s\":", key);
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "{\"l%d\":", i);
	n += (size_t)snprintf(text + n, sizeof(text) - n, "\"\xff\"");
	for (int i = 0; i < 41; i++)
		text[n++] = '}';
	text[n] = '\0';
	assert_int_equal(tp_body_parse(text, n, &root, &err), TP_ERR_INVAL);
	assert_true(strlen(err.field) < sizeof(err.field));
	assert_non_null(strstr(err.field, "..."));
	assert_non_null(strstr(err.msg, "invalid UTF-8"));
}

static void test_strings(void **state)
{
	struct tp_body_error err;
	const char *s;
	cJSON *root;
	char hundred[256], many[512];

	(void)state;
	root = parse_ok(J({"name":"Tech list","n":7,"ctl":"a\nb","c1":"a\u0085b",
			   "del":"a\u007fb","e":""}), 0);
	assert_int_equal(tp_body_string(root, "name", 1, 100, TP_BODY_PRINTABLE, &s, &err), TP_OK);
	assert_string_equal(s, "Tech list");
	/* Required and absent; optional and absent. */
	assert_int_equal(tp_body_string(root, "nope", 1, 100, TP_BODY_PRINTABLE, &s, &err),
			 TP_ERR_INVAL);
	assert_null(s);
	assert_string_equal(err.field, "nope");
	assert_string_equal(err.msg, "nope: required, a string of 1 to 100 characters "
			    "without control characters");
	assert_int_equal(tp_body_string(root, "nope", 1, 100, TP_BODY_OPTIONAL, &s, &err), TP_OK);
	assert_null(s);
	/* Present but wrong: type, length, control characters. */
	assert_int_equal(tp_body_string(root, "n", 1, 100, TP_BODY_OPTIONAL, &s, &err),
			 TP_ERR_INVAL);
	assert_string_equal(err.msg, "n: must be a string of 1 to 100 characters");
	assert_int_equal(tp_body_string(root, "e", 1, 100, 0, &s, &err), TP_ERR_INVAL);
	assert_int_equal(tp_body_string(root, "e", 0, 100, 0, &s, &err), TP_OK);
	assert_int_equal(tp_body_string(root, "name", 1, 8, TP_BODY_BYTES, &s, &err), TP_ERR_INVAL);
	assert_string_equal(err.msg, "name: required, a string of 1 to 8 bytes");
	assert_int_equal(tp_body_string(root, "ctl", 1, 9, 0, &s, &err), TP_OK);
	assert_int_equal(tp_body_string(root, "ctl", 1, 9, TP_BODY_PRINTABLE, &s, &err),
			 TP_ERR_INVAL);
	assert_int_equal(tp_body_string(root, "c1", 1, 9, TP_BODY_PRINTABLE, &s, &err),
			 TP_ERR_INVAL);
	assert_int_equal(tp_body_string(root, "del", 1, 9, TP_BODY_PRINTABLE, &s, &err),
			 TP_ERR_INVAL);
	cJSON_Delete(root);

	/* Characters, not bytes: 100 two-byte characters fit 1..100. */
	strcpy(hundred, "{\"x\":\"");
	for (int i = 0; i < 100; i++)
		strcat(hundred, "\xc3\xa9");
	strcat(hundred, "\"}");
	root = parse_ok(hundred, 0);
	assert_int_equal(tp_body_string(root, "x", 1, 100, 0, &s, &err), TP_OK);
	assert_int_equal(tp_body_string(root, "x", 1, 199, TP_BODY_BYTES, &s, &err), TP_ERR_INVAL);
	assert_int_equal(tp_body_string(root, "x", 1, 200, TP_BODY_BYTES, &s, &err), TP_OK);
	cJSON_Delete(root);
	strcpy(many, hundred);
	many[strlen(many) - 2] = '\0';
	strcat(many, "a\"}");
	root = parse_ok(many, 0);
	assert_int_equal(tp_body_string(root, "x", 1, 100, 0, &s, &err), TP_ERR_INVAL);
	cJSON_Delete(root);

	/* A tree that did not come through tp_body_parse is checked too. */
	tp_json_init();
	root = cJSON_Parse("{\"x\":\"a\xff\"}");
	assert_non_null(root);
	assert_int_equal(tp_body_string(root, "x", 1, 10, 0, &s, &err), TP_ERR_INVAL);
	assert_string_equal(err.msg, "x: not valid UTF-8");
	cJSON_Delete(root);
}

static void test_oom(void **state)
{
	static const char *const bodies[] = {
		J({"name":"a","symbols":["AAPL","MSFT"],"x":{"y":[1,2,{"z":null}]}}),
		J({"a":1,"b":2,"c":3,"d":4}),
	};

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(bodies); i++) {
		size_t n;

		for (n = 1;; n++) {
			size_t blocks = tp_alloc_blocks(), bytes = tp_alloc_used();
			struct tp_body_error err;
			cJSON *root = NULL;
			int rc;

			tp_alloc_fail_at(n);
			rc = tp_body_parse(bodies[i], strlen(bodies[i]), &root, &err);
			tp_alloc_fail_at(0);
			if (rc == TP_OK) {
				cJSON_Delete(root);
				assert_int_equal(tp_alloc_blocks(), blocks);
				break;
			}
			assert_int_equal(rc, TP_ERR_NOMEM);
			assert_null(root);
			assert_int_equal(tp_alloc_blocks(), blocks);
			assert_int_equal(tp_alloc_used(), bytes);
		}
		assert_true(n > 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_accepted),
		TP_TEST(test_refusals),
		TP_TEST(test_long_paths),
		TP_TEST(test_strings),
		TP_TEST(test_oom),
	};

	tp_json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
