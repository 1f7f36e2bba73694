/*
 * test_supervise.c - the supervisor's pure rules: `workers` values (auto,
 * numbers, bounds, junk) and the restart backoff (first wait, doubling,
 * cap, forgiveness after a stable run, no overflow on endless crashes),
 * and when a worker that could not start stops the supervisor.
 */
#include <stdbool.h>

#include "test_support.h"
#include "tickpush/supervise.h"

static void test_workers_numbers(void **state)
{
	(void)state;
	assert_int_equal(tp_workers_parse("1", 8), 1);
	assert_int_equal(tp_workers_parse("2", 8), 2);
	assert_int_equal(tp_workers_parse("16", 2), 16);
	assert_int_equal(tp_workers_parse("256", 2), TP_WORKERS_MAX);
	assert_int_equal(tp_workers_parse("257", 2), 0);
	assert_int_equal(tp_workers_parse("99999999999999999999", 2), 0);
	assert_int_equal(tp_workers_parse("0", 2), 0);
	assert_int_equal(tp_workers_parse("", 2), 0);
	assert_int_equal(tp_workers_parse(NULL, 2), 0);
	assert_int_equal(tp_workers_parse("-1", 2), 0);
	assert_int_equal(tp_workers_parse("2x", 2), 0);
	assert_int_equal(tp_workers_parse(" 2", 2), 0);
	assert_int_equal(tp_workers_parse("two", 2), 0);
}

static void test_workers_auto(void **state)
{
	(void)state;
	assert_int_equal(tp_workers_parse("auto", 2), 2);
	assert_int_equal(tp_workers_parse("AUTO", 12), 12);
	/* sysconf failed or says nonsense: one worker. */
	assert_int_equal(tp_workers_parse("auto", -1), 1);
	assert_int_equal(tp_workers_parse("auto", 0), 1);
	assert_int_equal(tp_workers_parse("auto", 1000), TP_WORKERS_MAX);
	assert_int_equal(tp_workers_parse("automatic", 4), 0);
}

static void test_backoff_doubles_to_cap(void **state)
{
	const struct tp_restart_policy *p = &tp_restart_default;
	struct tp_restart_state s = {0};
	double expect = p->base;

	(void)state;
	for (int i = 0; i < 12; i++) {
		assert_float_equal(tp_restart_delay(p, &s, 0.1), expect, 1e-9);
		expect = expect * 2 > p->cap ? p->cap : expect * 2;
	}
	assert_float_equal(expect, p->cap, 1e-9);
	/* Crashing forever neither overflows nor leaves the cap. */
	for (int i = 0; i < 1000; i++)
		assert_float_equal(tp_restart_delay(p, &s, 0), p->cap, 1e-9);
}

static void test_backoff_forgiven_after_stable_run(void **state)
{
	const struct tp_restart_policy p = {.base = 1, .cap = 8, .stable = 10};
	struct tp_restart_state s = {0};

	(void)state;
	assert_float_equal(tp_restart_delay(&p, &s, 1), 1, 1e-9);
	assert_float_equal(tp_restart_delay(&p, &s, 1), 2, 1e-9);
	assert_float_equal(tp_restart_delay(&p, &s, 9.99), 4, 1e-9);
	/* Ran for `stable` seconds: back to the first wait. */
	assert_float_equal(tp_restart_delay(&p, &s, 10), 1, 1e-9);
	assert_float_equal(tp_restart_delay(&p, &s, 0), 2, 1e-9);
	assert_float_equal(tp_restart_delay(&p, &s, 3600), 1, 1e-9);
}

static void test_default_policy_is_quick_first(void **state)
{
	const struct tp_restart_policy *p = &tp_restart_default;

	(void)state;
	/* A worker that crashes once is replaced well within seconds. */
	assert_true(p->base > 0 && p->base <= 1);
	assert_true(p->cap >= p->base && p->cap <= 60);
	assert_true(p->stable > p->base);
}

static void test_gives_up_only_on_a_first_start(void **state)
{
	(void)state;
	/* The first process of a slot could not start: stop. */
	assert_true(tp_restart_gives_up(0, true, TP_WORKER_EXIT_CANNOT_START));
	/* A replacement that could not start, or any other death: retry. */
	assert_false(tp_restart_gives_up(1, true, TP_WORKER_EXIT_CANNOT_START));
	assert_false(tp_restart_gives_up(0, true, 1));
	assert_false(tp_restart_gives_up(0, true, 70));
	assert_false(tp_restart_gives_up(0, true, 0));
	/* Killed by signal 2 (SIGINT) is not exit status 2. */
	assert_false(tp_restart_gives_up(0, false, 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_workers_numbers),
		TP_TEST(test_workers_auto),
		TP_TEST(test_backoff_doubles_to_cap),
		TP_TEST(test_backoff_forgiven_after_stable_run),
		TP_TEST(test_default_policy_is_quick_first),
		TP_TEST(test_gives_up_only_on_a_first_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
