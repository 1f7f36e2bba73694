/*
 * test_symlist.c - a body's list of symbols (protocol/symlist.c): a table
 * of bodies against a small directory, with the list or the 400 message
 * (every one naming "symbols") and the "unknown" extra.
 */
#include <stdbool.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/json.h"
#include "tickpush/symlist.h"

static const char *const directory[] = {"AAPL", "BRK.B", "MSFT", "EUR/USD"};

static const char *lookup(void *ud, const char *sym)
{
	(void)ud;
	for (size_t i = 0; i < sizeof(directory) / sizeof(directory[0]); i++)
		if (!strcmp(directory[i], sym))
			return directory[i];
	return NULL;
}

#define ENTRY "symbols: each entry must be a symbol (1 to 16 characters of A-Z 0-9 . - _ /)"

static const struct {
	const char *body;
	bool required;
	int rc;
	const char *out;    /* TP_OK: the list ("" = NULL); else the message */
	const char *extra;  /* unknown symbols, "" = none */
} cases[] = {
	{"{\"symbols\":[\"msft\",\"aapl\",\"MSFT\",\"brk.b\"]}", true, TP_OK,
	 "[\"AAPL\",\"BRK.B\",\"MSFT\"]", ""},
	{"{\"symbols\":[]}", true, TP_OK, "[]", ""},
	{"{\"symbols\":[\"eur/usd\"]}", false, TP_OK, "[\"EUR/USD\"]", ""},
	{"{}", false, TP_OK, "", ""},
	{"{}", true, TP_ERR_INVAL, "symbols: required, an array of symbols", ""},
	{"{\"symbols\":null}", false, TP_ERR_INVAL, "symbols: required, an array of symbols", ""},
	{"{\"symbols\":\"AAPL\"}", true, TP_ERR_INVAL, "symbols: required, an array of symbols",
	 ""},
	{"{\"symbols\":[1]}", true, TP_ERR_INVAL, ENTRY, ""},
	{"{\"symbols\":[\"\"]}", true, TP_ERR_INVAL, ENTRY, ""},
	{"{\"symbols\":[\"^GSPC\"]}", true, TP_ERR_INVAL, ENTRY, ""},
	{"{\"symbols\":[\"ABCDEFGHIJKLMNOPQ\"]}", true, TP_ERR_INVAL, ENTRY, ""},
	{"{\"symbols\":[\"ZZZ\",\"AAPL\"]}", true, TP_ERR_INVAL, "symbols: unknown symbol: ZZZ",
	 "\"unknown\":[\"ZZZ\"]"},
	{"{\"symbols\":[\"zzz\",\"AAPL\",\"yy\"]}", true, TP_ERR_INVAL,
	 "symbols: unknown symbols: ZZZ, YY", "\"unknown\":[\"ZZZ\",\"YY\"]"},
	/* A malformed entry fails at once, even after unknown ones. */
	{"{\"symbols\":[\"ZZZ\",\"A B\"]}", true, TP_ERR_INVAL, ENTRY, ""},
};

static void test_symlist_table(void **state)
{
	(void)state;
	tp_json_init();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *body = cJSON_Parse(cases[i].body);
		struct tp_errdetail err = {{0}, NULL};
		struct tp_buf extra;
		char *out = (char *)1;
		int rc;

		print_message("case %zu: %s\n", i, cases[i].body);
		assert_non_null(body);
		tp_buf_init(&extra, 0);
		rc = tp_symlist_validate(body, cases[i].required, lookup, NULL, &out, &extra, &err);
		assert_int_equal(rc, cases[i].rc);
		assert_string_equal(tp_buf_cstr(&extra), cases[i].extra);
		if (rc == TP_OK && !*cases[i].out) {
			assert_null(out);
		} else if (rc == TP_OK) {
			assert_string_equal(out, cases[i].out);
			tp_free(out);
		} else {
			assert_null(out);
			assert_string_equal(err.field, "symbols");
			assert_string_equal(err.msg, cases[i].out);
		}
		tp_buf_cleanup(&extra);
		cJSON_Delete(body);
	}
}

static void test_symlist_limits(void **state)
{
	cJSON *body = cJSON_CreateObject(), *arr;
	struct tp_errdetail err = {{0}, NULL};
	struct tp_buf extra;
	char *out = NULL;

	(void)state;
	tp_json_init();
	tp_buf_init(&extra, 0);
	arr = cJSON_AddArrayToObject(body, "symbols");
	for (int i = 0; i < TP_SYMLIST_MAX; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(i % 2 ? "aapl" : "MSFT"));
	assert_int_equal(tp_symlist_validate(body, true, lookup, NULL, &out, &extra, &err), TP_OK);
	assert_string_equal(out, "[\"AAPL\",\"MSFT\"]");
	tp_free(out);
	/* No directory: the shape is still checked first. */
	assert_int_equal(tp_symlist_validate(body, true, NULL, NULL, &out, &extra, &err),
			 TP_ERR_UPSTREAM);
	cJSON_AddItemToArray(arr, cJSON_CreateString("AAPL"));
	assert_int_equal(tp_symlist_validate(body, true, NULL, NULL, &out, &extra, &err),
			 TP_ERR_INVAL);
	assert_string_equal(err.field, "symbols");
	assert_string_equal(err.msg, "symbols: at most 500 symbols");
	assert_int_equal(extra.len, 0);
	tp_buf_cleanup(&extra);
	cJSON_Delete(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_symlist_table),
		TP_TEST(test_symlist_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
