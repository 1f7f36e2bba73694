/*
 * test_cors.c - the CORS decision: which list is in force, exact origins
 * (case, blanks, near misses), "*", no Origin, and when answers vary.
 */
#include "test_support.h"
#include "tickpush/cors.h"

static void test_list_in_force(void **state)
{
	(void)state;
	assert_string_equal(tp_cors_list("*", "https://a.test"), "*");
	assert_string_equal(tp_cors_list("", "https://a.test"), "https://a.test");
	assert_string_equal(tp_cors_list(NULL, NULL), "");
}

static void test_decide(void **state)
{
	const char *list = "https://a.test, http://b.test:8000 ,https://c.test";

	(void)state;
	assert_int_equal(tp_cors_decide(list, "https://a.test"), TP_CORS_ECHO);
	assert_int_equal(tp_cors_decide(list, "HTTPS://A.TEST"), TP_CORS_ECHO);
	assert_int_equal(tp_cors_decide(list, "http://b.test:8000"), TP_CORS_ECHO);
	assert_int_equal(tp_cors_decide(list, "https://c.test"), TP_CORS_ECHO);
	assert_int_equal(tp_cors_decide(list, "http://b.test"), TP_CORS_NONE);
	assert_int_equal(tp_cors_decide(list, "https://a.test.evil"), TP_CORS_NONE);
	assert_int_equal(tp_cors_decide(list, "https://a.tes"), TP_CORS_NONE);
	assert_int_equal(tp_cors_decide(list, "null"), TP_CORS_NONE);
	assert_int_equal(tp_cors_decide(list, ""), TP_CORS_NONE);
	assert_int_equal(tp_cors_decide(list, NULL), TP_CORS_NONE);
	assert_int_equal(tp_cors_decide("*", "https://any.test"), TP_CORS_ANY);
	assert_int_equal(tp_cors_decide("*", NULL), TP_CORS_NONE);
	assert_int_equal(tp_cors_decide("", "https://a.test"), TP_CORS_NONE);
	assert_true(tp_cors_varies(list));
	assert_false(tp_cors_varies("*"));
	assert_false(tp_cors_varies(""));
	assert_false(tp_origin_listed("", "https://a.test"));
	assert_false(tp_origin_listed("https://a.test", ""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_in_force),
		cmocka_unit_test(test_decide),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
