/*
 * test_jobs.c - the one backtest job table (core/jobs.c): owned jobs and
 * their per-user lists, event state for known and unknown jobs, claiming
 * an ownerless record, and the one eviction rule (age and count).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/jobs.h"

#define T0 1000000.0

static char *dup(const char *s)
{
	return tp_strdup(s);
}

static void test_jobs_owned(void **state)
{
	struct tp_jobs *t = tp_jobs_create(0);
	struct tp_backtest_job *j;
	const struct tp_backtest_job **list;

	(void)state;
	assert_non_null(t);
	j = tp_jobs_add(t, "a", 7, T0, T0 + TP_JOBS_TTL, dup("{\"x\":1}"), false);
	assert_non_null(j);
	assert_int_equal(tp_jobs_owner(t, "a"), 7);
	/* Unconfirmed: the owner is known (events route), REST sees nothing. */
	assert_null(tp_jobs_get(t, "a", T0));
	assert_int_equal(tp_jobs_list(t, 7, T0, &list), 0);
	j->confirmed = true;
	assert_ptr_equal(tp_jobs_get(t, "a", T0), j);
	assert_non_null(tp_jobs_add(t, "b", 7, T0 + 5, T0 + 5 + TP_JOBS_TTL, NULL, true));
	assert_non_null(tp_jobs_add(t, "c", 8, T0, T0 + TP_JOBS_TTL, NULL, true));
	assert_int_equal(tp_jobs_user_count(t, 7), 2);
	assert_int_equal(tp_jobs_count(t), 3);
	/* Most recent first. */
	assert_int_equal(tp_jobs_list(t, 7, T0 + 10, &list), 2);
	assert_string_equal(list[0]->id, "b");
	assert_string_equal(list[1]->id, "a");
	tp_free(list);
	/* What is known wins: a second add of "a" changes nothing. */
	assert_ptr_equal(tp_jobs_add(t, "a", 9, T0, T0, dup("{}"), true), j);
	assert_int_equal(j->user_id, 7);
	assert_string_equal(j->request_json, "{\"x\":1}");
	/* Event state lands in the same record. */
	assert_int_equal(tp_jobs_update(t, "a", "{\"status\":\"running\"}", T0 + 1), TP_OK);
	assert_string_equal(j->latest_json, "{\"status\":\"running\"}");
	assert_int_equal(tp_jobs_update(t, "a", NULL, T0 + 2), TP_OK);
	assert_string_equal(j->latest_json, "{}");
	tp_jobs_remove(t, "a");
	assert_null(tp_jobs_find(t, "a"));
	assert_int_equal(tp_jobs_user_count(t, 7), 1);
	assert_null(tp_jobs_add(t, "d", 0, T0, T0, dup("{}"), true)); /* no owner */
	tp_jobs_destroy(t);
}

static void test_jobs_ownerless(void **state)
{
	struct tp_jobs *t = tp_jobs_create(0);
	struct tp_backtest_job *j;
	const struct tp_backtest_job **list;

	(void)state;
	assert_int_equal(tp_jobs_update(t, "x", "{\"progress\":0.5}", T0), TP_OK);
	j = tp_jobs_find(t, "x");
	assert_non_null(j);
	assert_int_equal(j->user_id, 0);
	assert_int_equal(tp_jobs_owner(t, "x"), 0);
	assert_null(tp_jobs_get(t, "x", T0));
	assert_int_equal(tp_jobs_list(t, 0, T0, &list), 0);
	/* Adopted later (fetch, cluster): the state is kept. */
	assert_ptr_equal(tp_jobs_add(t, "x", 3, T0, T0 + TP_JOBS_TTL, dup("{}"), true), j);
	assert_int_equal(j->user_id, 3);
	assert_string_equal(j->latest_json, "{\"progress\":0.5}");
	assert_int_equal(tp_jobs_user_count(t, 3), 1);
	assert_ptr_equal(tp_jobs_get(t, "x", T0), j);
	tp_jobs_destroy(t);
}

/* One rule: age for all (unconfirmed submissions excepted), count for
 * ownerless records first, then refusal. */
static void test_jobs_eviction(void **state)
{
	struct tp_jobs *t = tp_jobs_create(3);
	char id[8];

	(void)state;
	assert_non_null(tp_jobs_add(t, "own", 1, T0, T0 + 10, NULL, true));
	assert_non_null(tp_jobs_add(t, "sub", 1, T0, T0 + 10, NULL, false));
	assert_int_equal(tp_jobs_update(t, "o1", "{}", T0), TP_OK);
	assert_false(tp_jobs_full(t));
	/* Full: a new ownerless record pushes out the stalest one. */
	assert_int_equal(tp_jobs_update(t, "o2", "{}", T0 + 1), TP_OK);
	assert_null(tp_jobs_find(t, "o1"));
	assert_int_equal(tp_jobs_count(t), 3);
	/* An owned job takes an ownerless record's place too. */
	assert_non_null(tp_jobs_add(t, "own2", 2, T0, T0 + 10, NULL, true));
	assert_null(tp_jobs_find(t, "o2"));
	assert_true(tp_jobs_full(t));
	/* Full of owned jobs: refused, nothing dropped. */
	assert_null(tp_jobs_add(t, "own3", 2, T0, T0 + 10, tp_strdup("{}"), true));
	assert_int_equal(tp_jobs_update(t, "o3", "{}", T0), TP_ERR_LIMIT);
	assert_int_equal(tp_jobs_count(t), 3);
	/* Age: confirmed ones go, the unconfirmed submission stays. */
	assert_int_equal(tp_jobs_prune(t, T0 + 9), 0);
	assert_int_equal(tp_jobs_prune(t, T0 + 10), 2);
	assert_non_null(tp_jobs_find(t, "sub"));
	assert_int_equal(tp_jobs_user_count(t, 1), 1);
	assert_int_equal(tp_jobs_user_count(t, 2), 0);
	/* Ownerless records age from their latest event. */
	assert_int_equal(tp_jobs_update(t, "o4", "{}", T0), TP_OK);
	assert_int_equal(tp_jobs_update(t, "o4", "{}", T0 + 100), TP_OK);
	assert_int_equal(tp_jobs_prune(t, T0 + TP_JOBS_TTL + 50), 0);
	assert_int_equal(tp_jobs_prune(t, T0 + TP_JOBS_TTL + 100), 1);
	/* The least recently updated ownerless record goes first. */
	tp_jobs_remove(t, "sub");
	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "e%d", i);
		assert_int_equal(tp_jobs_update(t, id, "{}", T0), TP_OK);
	}
	assert_int_equal(tp_jobs_update(t, "e0", "{}", T0 + 1), TP_OK); /* touched */
	assert_int_equal(tp_jobs_update(t, "e3", "{}", T0 + 2), TP_OK);
	assert_non_null(tp_jobs_find(t, "e0"));
	assert_null(tp_jobs_find(t, "e1"));
	tp_jobs_destroy(t);
}

static void test_jobs_oom(void **state)
{
	struct tp_jobs *t = tp_jobs_create(0);
	char big[TP_JOB_ID_MAX + 2];

	(void)state;
	memset(big, 'j', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_null(tp_jobs_add(t, big, 1, T0, T0, tp_strdup("{}"), true));
	assert_int_equal(tp_jobs_update(t, big, "{}", T0), TP_ERR_NOMEM);
	for (int fail = 1; fail < 6; fail++) {
		tp_alloc_fail_at((size_t)fail);
		(void)tp_jobs_add(t, "a", 1, T0, T0, tp_strdup("{}"), true);
		(void)tp_jobs_update(t, "b", "{}", T0);
		tp_alloc_fail_at(0);
		tp_jobs_remove(t, "a");
		tp_jobs_remove(t, "b");
	}
	assert_int_equal(tp_jobs_count(t), 0);
	tp_jobs_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_jobs_owned),
		TP_TEST(test_jobs_ownerless),
		TP_TEST(test_jobs_eviction),
		TP_TEST(test_jobs_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
