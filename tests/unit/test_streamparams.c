/*
 * test_streamparams.c - the SSE / long-poll query (core/streamparams.c):
 * a table of queries and headers with the parameters or the 400 message
 * (naming its parameter) each gives, and when the token hook is asked.
 */
#include <stdbool.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/streamparams.h"

#define CH(x) (1u << TP_SUBCH_##x)

static int hook_calls;
static int hook_refuse;

static int need_user(void *ud)
{
	(void)ud;
	hook_calls++;
	return hook_refuse;
}

static const struct {
	bool sse;
	const char *qs;
	const char *leid;      /* Last-Event-ID, NULL = absent */
	bool auth;             /* an Authorization header */
	int rc;
	const char *field;     /* of the error */
	const char *msg;       /* the whole error message */
	unsigned channels;
	bool has_since;
	const char *epoch;
	unsigned long long since;
	double timeout;
	int hook;              /* times the token hook is asked */
} cases[] = {
	{true, "", NULL, false, TP_OK, NULL, NULL, CH(PATTERNS), false, "", 0, 25, 0},
	{true, "channels=health,backtests", NULL, false, TP_OK, NULL, NULL,
	 CH(HEALTH) | CH(BACKTESTS), false, "", 0, 25, 1},
	{true, "channels=patterns,,health", NULL, false, TP_OK, NULL, NULL,
	 CH(PATTERNS) | CH(HEALTH), false, "", 0, 25, 0},
	{true, "channels=news", NULL, false, TP_ERR_INVAL, "channels",
	 "channels: use patterns, health and/or backtests", 0, false, "", 0, 0, 0},
	{true, "channels=", NULL, false, TP_ERR_INVAL, "channels", "channels: empty",
	 0, false, "", 0, 0, 0},
	{true, "channels=,", NULL, false, TP_ERR_INVAL, "channels", "channels: empty",
	 0, false, "", 0, 0, 0},
	/* Long-poll has no channels: ignored. */
	{false, "channels=news", NULL, false, TP_OK, NULL, NULL, CH(PATTERNS), false, "",
	 0, 25, 0},
	{true, "token=x", NULL, false, TP_OK, NULL, NULL, CH(PATTERNS), false, "", 0, 25, 1},
	{true, "", NULL, true, TP_OK, NULL, NULL, CH(PATTERNS), false, "", 0, 25, 1},
	{true, "preset_id=7", NULL, false, TP_OK, NULL, NULL, CH(PATTERNS), false, "", 0,
	 25, 1},
	{true, "since=42", NULL, false, TP_OK, NULL, NULL, CH(PATTERNS), true, "E0", 42, 25,
	 0},
	{true, "since=e1:42", NULL, false, TP_OK, NULL, NULL, CH(PATTERNS), true, "e1", 42,
	 25, 0},
	{true, "since=42&epoch=e2", NULL, false, TP_OK, NULL, NULL, CH(PATTERNS), true, "e2",
	 42, 25, 0},
	{true, "since=7", "e3:9", false, TP_OK, NULL, NULL, CH(PATTERNS), true, "e3", 9, 25,
	 0},
	{true, "since=-1", NULL, false, TP_ERR_INVAL, "since",
	 "since: expected a sequence number (or <epoch>:<seq>)", 0, false, "", 0, 0, 0},
	{true, "since=e:", NULL, false, TP_ERR_INVAL, "since",
	 "since: expected a sequence number (or <epoch>:<seq>)", 0, false, "", 0, 0, 0},
	{true, "since=12x", NULL, false, TP_ERR_INVAL, "since",
	 "since: expected a sequence number (or <epoch>:<seq>)", 0, false, "", 0, 0, 0},
	{true, "", "nope", false, TP_ERR_INVAL, "Last-Event-ID",
	 "Last-Event-ID: expected <epoch>:<seq>", 0, false, "", 0, 0, 0},
	/* Long-poll ignores Last-Event-ID. */
	{false, "", "nope", false, TP_OK, NULL, NULL, CH(PATTERNS), false, "", 0, 25, 0},
	{false, "timeout=0", NULL, false, TP_OK, NULL, NULL, CH(PATTERNS), false, "", 0, 0, 0},
	{false, "timeout=2.5", NULL, false, TP_OK, NULL, NULL, CH(PATTERNS), false, "", 0,
	 2.5, 0},
	{false, "timeout=31", NULL, false, TP_ERR_INVAL, "timeout",
	 "timeout: seconds between 0 and 30", 0, false, "", 0, 0, 0},
	{false, "timeout=", NULL, false, TP_ERR_INVAL, "timeout",
	 "timeout: seconds between 0 and 30", 0, false, "", 0, 0, 0},
	{false, "timeout=nan", NULL, false, TP_ERR_INVAL, "timeout",
	 "timeout: seconds between 0 and 30", 0, false, "", 0, 0, 0},
	/* SSE has no timeout: ignored. */
	{true, "timeout=99", NULL, false, TP_OK, NULL, NULL, CH(PATTERNS), false, "", 0, 25,
	 0},
	/* The scan filter's own errors name their parameter. */
	{true, "confidence_min=2", NULL, false, TP_ERR_INVAL, "confidence_min", NULL, 0,
	 false, "", 0, 0, 0},
};

static void test_stream_params_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tp_query q;
		struct tp_stream_params sp;
		struct tp_errdetail err = {{0}, NULL};
		struct tp_stream_in in = {
			.query = &q, .sse = cases[i].sse, .has_auth = cases[i].auth,
			.last_event_id = cases[i].leid, .epoch = "E0",
			.need_user = need_user,
		};
		int rc;

		print_message("case %zu: %s\n", i, cases[i].qs);
		assert_int_equal(tp_query_parse(cases[i].qs, strlen(cases[i].qs), &q, &err), TP_OK);
		hook_calls = 0;
		hook_refuse = 0;
		rc = tp_stream_params_parse(&in, &sp, &err);
		assert_int_equal(rc, cases[i].rc);
		assert_int_equal(hook_calls, cases[i].hook);
		if (rc) {
			assert_string_equal(err.field, cases[i].field);
			if (cases[i].msg)
				assert_string_equal(err.msg, cases[i].msg);
			else
				assert_non_null(strstr(err.msg, cases[i].field));
		} else {
			assert_int_equal(sp.channels, cases[i].channels);
			assert_int_equal(sp.has_since, cases[i].has_since);
			assert_string_equal(sp.epoch, cases[i].epoch);
			assert_int_equal(sp.since, cases[i].since);
			assert_true(sp.timeout == cases[i].timeout);
			tp_scan_query_cleanup(&sp.q);
		}
		tp_query_cleanup(&q);
	}
}

/* A refused token wins over a bad position or timeout (the old order). */
static void test_stream_params_refused(void **state)
{
	static const char *const qs[] = {"token=x&since=bad", "preset_id=3&timeout=99",
					 "channels=backtests&since=-"};
	(void)state;
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		struct tp_query q;
		struct tp_stream_params sp;
		struct tp_errdetail err = {{0}, NULL};
		struct tp_stream_in in = {.query = &q, .sse = i != 1, .epoch = "E0",
					  .need_user = need_user};

		assert_int_equal(tp_query_parse(qs[i], strlen(qs[i]), &q, &err), TP_OK);
		hook_calls = 0;
		hook_refuse = 1;
		assert_int_equal(tp_stream_params_parse(&in, &sp, &err), TP_ERR_AUTH);
		assert_int_equal(hook_calls, 1);
		tp_query_cleanup(&q);
	}
}

static void test_stream_position(void **state)
{
	struct tp_stream_params sp;
	char longe[64];

	(void)state;
	memset(&sp, 0, sizeof(sp));
	assert_int_equal(tp_stream_position_parse("a:b:5", &sp), TP_OK);
	assert_string_equal(sp.epoch, "a:b");
	assert_int_equal(sp.since, 5);
	/* An epoch longer than TP_EPOCH_MAX is not split off: malformed. */
	memset(longe, 'e', sizeof(longe));
	strcpy(longe + 40, ":1");
	memset(&sp, 0, sizeof(sp));
	assert_int_equal(tp_stream_position_parse(longe, &sp), TP_ERR_INVAL);
	assert_int_equal(tp_stream_position_parse(":1", &sp), TP_ERR_INVAL);
	assert_int_equal(tp_stream_position_parse("", &sp), TP_ERR_INVAL);
	assert_int_equal(tp_stream_position_parse("18446744073709551615", &sp), TP_OK);
	assert_true(sp.since == 18446744073709551615ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_stream_params_table),
		TP_TEST(test_stream_params_refused),
		TP_TEST(test_stream_position),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
