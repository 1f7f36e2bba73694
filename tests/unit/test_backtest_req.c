/*
 * test_backtest_req.c - backtest request validation (core/backtest_req.c):
 * a table of bodies with the normalised request or the 400 message (and
 * the field it names), and the strict date parser.
 */
#include <stdbool.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/backtest_req.h"
#include "tickpush/date.h"
#include "tickpush/json.h"

#define DATES "\"start_date\":\"2025-01-02\",\"end_date\":\"2025-03-04\""

static const struct {
	const char *body;
	const char *out;    /* the request object, NULL = refused */
	const char *field;
	const char *msg;    /* NULL: only "<field>:" is checked */
} cases[] = {
	{"{\"symbols\":[\"aapl\",\"MSFT\",\"AAPL\"],\"patterns\":[\"Doji\",\"doji\"]," DATES "}",
	 "{\"symbols\":[\"AAPL\",\"MSFT\"],\"patterns\":[\"Doji\"]," DATES
	 ",\"parameters\":{}}", NULL, NULL},
	{"{\"symbols\":[\"X\"],\"patterns\":[\"Doji\"]," DATES ",\"parameters\":{\"a\":1}}",
	 "{\"symbols\":[\"X\"],\"patterns\":[\"Doji\"]," DATES ",\"parameters\":{\"a\":1}}",
	 NULL, NULL},
	{"{\"symbols\":[\"X\"],\"patterns\":[\"Doji\"]," DATES ",\"parameters\":null}",
	 "{\"symbols\":[\"X\"],\"patterns\":[\"Doji\"]," DATES ",\"parameters\":{}}",
	 NULL, NULL},
	/* Same day start and end is fine. */
	{"{\"symbols\":[\"X\"],\"patterns\":[\"Doji\"],\"start_date\":\"2026-01-15\","
	 "\"end_date\":\"2026-01-15\"}",
	 "{\"symbols\":[\"X\"],\"patterns\":[\"Doji\"],\"start_date\":\"2026-01-15\","
	 "\"end_date\":\"2026-01-15\",\"parameters\":{}}", NULL, NULL},
	{"{}", NULL, "symbols", "symbols: required, an array of 1 to 100 names"},
	{"{\"symbols\":[]}", NULL, "symbols", "symbols: required, an array of 1 to 100 names"},
	{"{\"symbols\":\"AAPL\"}", NULL, "symbols",
	 "symbols: required, an array of 1 to 100 names"},
	{"{\"symbols\":[1]}", NULL, "symbols", "symbols: each entry must be one name (a string)"},
	{"{\"symbols\":[\"A,B\"]}", NULL, "symbols",
	 "symbols: each entry must be one name (a string)"},
	{"{\"symbols\":[\"\"]}", NULL, "symbols", "symbols: entries must not be empty"},
	{"{\"symbols\":[\"^GSPC\"]}", NULL, "symbols", NULL},
	{"{\"symbols\":[\"ABCDEFGHIJKLMNOPQ\"]}", NULL, "symbols", NULL},
	{"{\"symbols\":[\"X\"]}", NULL, "patterns", "patterns: required, an array of 1 to 20 names"},
	{"{\"symbols\":[\"X\"],\"patterns\":[null]}", NULL, "patterns",
	 "patterns: each entry must be one name (a string)"},
	{"{\"symbols\":[\"X\"],\"patterns\":[\"Doji\"]}", NULL, "start_date",
	 "start_date: required, a date as YYYY-MM-DD"},
	{"{\"symbols\":[\"X\"],\"patterns\":[\"Doji\"],\"start_date\":\"2025-02-30\"}", NULL,
	 "start_date", "start_date: required, a date as YYYY-MM-DD"},
	{"{\"symbols\":[\"X\"],\"patterns\":[\"Doji\"],\"start_date\":\"2025-01-02\"}", NULL,
	 "end_date", "end_date: required, a date as YYYY-MM-DD"},
	{"{\"symbols\":[\"X\"],\"patterns\":[\"Doji\"],\"start_date\":\"2025-01-02\","
	 "\"end_date\":\"2026-01-17\"}", NULL, "end_date", "end_date: must not be in the future"},
	{"{\"symbols\":[\"X\"],\"patterns\":[\"Doji\"],\"start_date\":\"2025-01-03\","
	 "\"end_date\":\"2025-01-02\"}", NULL, "start_date",
	 "start_date: must not be after end_date"},
	{"{\"symbols\":[\"X\"],\"patterns\":[\"Doji\"]," DATES ",\"parameters\":[1]}", NULL,
	 "parameters", "parameters: must be an object"},
};

/* 2026-01-15 12:00 UTC; with UTC+14 "today" is still the 16th. */
static double now(void)
{
	return (double)tp_days_from_civil(2026, 1, 15) * 86400 + 12 * 3600;
}

static void test_backtest_req_table(void **state)
{
	(void)state;
	tp_json_init();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *body = cJSON_Parse(cases[i].body);
		struct tp_errdetail err = {{0}, NULL};
		char *out = (char *)1;
		int rc;

		print_message("case %zu: %s\n", i, cases[i].body);
		assert_non_null(body);
		rc = tp_backtest_req_validate(body, now(), &out, &err);
		if (cases[i].out) {
			assert_int_equal(rc, TP_OK);
			assert_string_equal(out, cases[i].out);
			tp_free(out);
		} else {
			assert_int_equal(rc, TP_ERR_INVAL);
			assert_null(out);
			assert_string_equal(err.field, cases[i].field);
			if (cases[i].msg)
				assert_string_equal(err.msg, cases[i].msg);
			else
				assert_true(!strncmp(err.msg, "symbols:", 8));
		}
		cJSON_Delete(body);
	}
}

static void test_backtest_req_limits(void **state)
{
	cJSON *body = cJSON_CreateObject(), *syms, *pats, *params;
	struct tp_errdetail err = {{0}, NULL};
	char name[16], big[5000];
	char *out = NULL;

	(void)state;
	tp_json_init();
	syms = cJSON_AddArrayToObject(body, "symbols");
	for (int i = 0; i < 101; i++) {
		snprintf(name, sizeof(name), "S%d", i);
		cJSON_AddItemToArray(syms, cJSON_CreateString(name));
	}
	assert_int_equal(tp_backtest_req_validate(body, now(), &out, &err), TP_ERR_INVAL);
	assert_string_equal(err.msg, "symbols: required, an array of 1 to 100 names");
	cJSON_DeleteItemFromArray(syms, 0);
	pats = cJSON_AddArrayToObject(body, "patterns");
	for (int i = 0; i < 21; i++)
		cJSON_AddItemToArray(pats, cJSON_CreateString("Doji"));
	assert_int_equal(tp_backtest_req_validate(body, now(), &out, &err), TP_ERR_INVAL);
	assert_string_equal(err.msg, "patterns: required, an array of 1 to 20 names");
	cJSON_DeleteItemFromArray(pats, 0);
	cJSON_AddStringToObject(body, "start_date", "2025-01-01");
	cJSON_AddStringToObject(body, "end_date", "2025-01-01");
	params = cJSON_AddObjectToObject(body, "parameters");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cJSON_AddStringToObject(params, "k", big);
	assert_int_equal(tp_backtest_req_validate(body, now(), &out, &err), TP_ERR_INVAL);
	assert_string_equal(err.field, "parameters");
	assert_string_equal(err.msg, "parameters: at most 4096 bytes as JSON");
	/* 100 symbols and 20 (equal) patterns are fine: duplicates dropped. */
	cJSON_DeleteItemFromObject(body, "parameters");
	assert_int_equal(tp_backtest_req_validate(body, now(), &out, &err), TP_OK);
	assert_non_null(strstr(out, "\"patterns\":[\"Doji\"],"));
	tp_free(out);
	cJSON_Delete(body);
}

static void test_backtest_date(void **state)
{
	static const struct {
		const char *s;
		bool ok;
		long days;
	} dates[] = {
		{"1970-01-01", true, 0},
		{"2024-02-29", true, 19782},
		{"1900-01-01", true, -25567},
		{"9999-12-31", true, 2932896},
		{"2023-02-29", false, 0},
		{"1899-12-31", false, 0},
		{"2024-13-01", false, 0},
		{"2024-00-10", false, 0},
		{"2024-01-00", false, 0},
		{"2024-1-01", false, 0},
		{"2024-01-011", false, 0},
		{"2024/01/01", false, 0},
		{"2024-01-0a", false, 0},
		{"+024-01-01", false, 0},
		{"", false, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		long d = -1;

		assert_int_equal(tp_backtest_date_parse(dates[i].s, &d), dates[i].ok);
		if (dates[i].ok)
			assert_int_equal(d, dates[i].days);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_backtest_req_table),
		TP_TEST(test_backtest_req_limits),
		TP_TEST(test_backtest_date),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
