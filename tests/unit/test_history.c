/*
 * test_history.c - the resume ring: append and deep copies, trim by count
 * and by age, resume edges (empty, since = last, since > last, since older
 * than what was dropped, seq skips), growth across wrap-around, OOM.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/err.h"
#include "tickpush/history.h"

static void mk(struct tp_hist_entry *e, uint64_t seq, double t,
	       enum tp_hist_kind kind, char *data)
{
	memset(e, 0, sizeof(*e));
	e->seq = seq;
	e->time = t;
	e->kind = kind;
	if (kind == TP_HIST_PATTERN || kind == TP_HIST_PATTERN_REMOVED) {
		snprintf(e->pattern.symbol, sizeof(e->pattern.symbol), "S%llu",
			 (unsigned long long)seq);
		snprintf(e->pattern.id, sizeof(e->pattern.id), "S%llu:Doji:1",
			 (unsigned long long)seq);
		e->pattern.indicators_json = (char *)"{\"rsi\":50}";
	}
	if (data) {
		e->data = data;
		e->data_len = strlen(data);
	}
}

static void append_ok(struct tp_history *h, uint64_t seq, double t)
{
	struct tp_hist_entry e;
	char data[32];

	snprintf(data, sizeof(data), "{\"n\":%llu}", (unsigned long long)seq);
	mk(&e, seq, t, TP_HIST_PATTERN, data);
	assert_int_equal(tp_history_append(h, &e), TP_OK);
}

static void test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(tp_hist_kind_name(TP_HIST_PATTERN), "pattern");
	assert_string_equal(tp_hist_kind_name(TP_HIST_PATTERN_REMOVED),
			    "pattern_removed");
	assert_string_equal(tp_hist_kind_name(TP_HIST_BACKTEST_PROGRESS),
			    "backtest_progress");
	assert_string_equal(tp_hist_kind_name(TP_HIST_BACKTEST_RESULT),
			    "backtest_result");
	assert_string_equal(tp_hist_kind_name(TP_HIST_HEALTH), "system_health");
}

static void test_deep_copy(void **state)
{
	struct tp_history *h = tp_history_create(10, 600);
	struct tp_hist_entry e;
	const struct tp_hist_entry *got;
	char data[] = "{\"x\":1}";
	char ind[] = "{\"rsi\":50}";

	(void)state;
	assert_non_null(h);
	mk(&e, 5, 100, TP_HIST_PATTERN, data);
	e.pattern.indicators_json = ind;
	assert_int_equal(tp_history_append(h, &e), TP_OK);
	/* Scribble over the caller's copies: the history must not share them. */
	memset(data, 'z', sizeof(data) - 1);
	memset(ind, 'z', sizeof(ind) - 1);
	got = tp_history_at(h, 0);
	assert_non_null(got);
	assert_string_equal(got->data, "{\"x\":1}");
	assert_int_equal(got->data_len, 7);
	assert_string_equal(got->pattern.indicators_json, "{\"rsi\":50}");
	assert_string_equal(got->pattern.symbol, "S5");
	assert_true(got->time == 100);

	/* Backtest entry: owner and job id kept, data may be NULL. */
	mk(&e, 6, 101, TP_HIST_BACKTEST_RESULT, NULL);
	e.owner = 42;
	snprintf(e.job_id, sizeof(e.job_id), "job-1");
	assert_int_equal(tp_history_append(h, &e), TP_OK);
	got = tp_history_at(h, 1);
	assert_int_equal(got->owner, 42);
	assert_string_equal(got->job_id, "job-1");
	assert_null(got->data);
	assert_null(tp_history_at(h, 2));
	assert_int_equal(tp_history_last_seq(h), 6);
	tp_history_destroy(h);
	tp_history_destroy(NULL);
}

static void test_rejects_non_increasing(void **state)
{
	struct tp_history *h = tp_history_create(10, 600);
	struct tp_hist_entry e;

	(void)state;
	append_ok(h, 3, 1);
	mk(&e, 3, 2, TP_HIST_HEALTH, NULL);
	assert_int_equal(tp_history_append(h, &e), TP_ERR_INVAL);
	mk(&e, 2, 2, TP_HIST_HEALTH, NULL);
	assert_int_equal(tp_history_append(h, &e), TP_ERR_INVAL);
	mk(&e, 0, 2, TP_HIST_HEALTH, NULL);
	assert_int_equal(tp_history_append(h, &e), TP_ERR_INVAL);
	assert_int_equal(tp_history_count(h), 1);
	assert_int_equal(tp_history_last_seq(h), 3);
	tp_history_destroy(h);
}

static void test_trim_by_count(void **state)
{
	struct tp_history *h = tp_history_create(5, 0); /* no age bound */
	size_t first = 99;

	(void)state;
	/* 40 appends through a 5-slot ring: wraps many times. */
	for (uint64_t s = 1; s <= 40; s++) {
		append_ok(h, s * 2, (double)s);
		assert_int_equal(tp_history_count(h), s < 5 ? s : 5);
	}
	for (size_t i = 0; i < 5; i++) {
		const struct tp_hist_entry *e = tp_history_at(h, i);
		char want[32];

		assert_int_equal(e->seq, (36 + i) * 2);
		snprintf(want, sizeof(want), "{\"n\":%llu}",
			 (unsigned long long)e->seq);
		assert_string_equal(e->data, want);
	}
	/* Last dropped seq is 70: resumable from 70 on, not from 69. */
	assert_false(tp_history_resume(h, 69, &first));
	assert_false(tp_history_resume(h, 1, &first));
	assert_true(tp_history_resume(h, 70, &first));
	assert_int_equal(first, 0);
	assert_true(tp_history_resume(h, 71, &first));
	assert_int_equal(first, 0);
	assert_true(tp_history_resume(h, 72, &first));
	assert_int_equal(first, 1);
	assert_true(tp_history_resume(h, 79, &first));
	assert_int_equal(first, 4);
	assert_true(tp_history_resume(h, 80, &first));
	assert_int_equal(first, 5);
	assert_false(tp_history_resume(h, 81, &first));
	tp_history_destroy(h);
}

static void test_trim_by_age(void **state)
{
	struct tp_history *h = tp_history_create(100, 10);
	size_t first;

	(void)state;
	append_ok(h, 1, 100);
	append_ok(h, 2, 105);
	append_ok(h, 3, 110);
	assert_int_equal(tp_history_count(h), 3);
	/* 100 is exactly max_age old at 110: kept (only older goes). */
	append_ok(h, 4, 111); /* now 100 < 101: dropped */
	assert_int_equal(tp_history_count(h), 3);
	assert_int_equal(tp_history_at(h, 0)->seq, 2);
	assert_false(tp_history_resume(h, 0, &first));
	assert_true(tp_history_resume(h, 1, &first));
	assert_int_equal(first, 0);

	tp_history_trim(h, 115); /* drops 105 (< 105? no: 105 == 105 kept) */
	assert_int_equal(tp_history_count(h), 3);
	tp_history_trim(h, 120.5); /* drops 105 and 110 */
	assert_int_equal(tp_history_count(h), 1);
	assert_int_equal(tp_history_at(h, 0)->seq, 4);
	assert_false(tp_history_resume(h, 2, &first));
	assert_true(tp_history_resume(h, 3, &first));
	assert_int_equal(first, 0);

	tp_history_trim(h, 1000); /* everything */
	assert_int_equal(tp_history_count(h), 0);
	assert_int_equal(tp_history_last_seq(h), 4);
	assert_false(tp_history_resume(h, 3, &first));
	assert_true(tp_history_resume(h, 4, &first)); /* up to date */
	assert_int_equal(first, 0);
	assert_false(tp_history_resume(h, 5, &first)); /* from the future */
	tp_history_destroy(h);
}

static void test_resume_empty_and_skips(void **state)
{
	struct tp_history *h = tp_history_create(4, 600);
	size_t first = 99;

	(void)state;
	/* Empty: only position 0 (nothing seen, nothing happened) resumes. */
	assert_true(tp_history_resume(h, 0, &first));
	assert_int_equal(first, 0);
	assert_false(tp_history_resume(h, 1, &first));
	assert_int_equal(tp_history_count(h), 0);
	assert_int_equal(tp_history_last_seq(h), 0);

	/* Seqs skip: 10, 20, 30. A position inside a skip is fine. */
	append_ok(h, 10, 1);
	append_ok(h, 20, 2);
	append_ok(h, 30, 3);
	assert_true(tp_history_resume(h, 0, &first)); /* nothing dropped yet */
	assert_int_equal(first, 0);
	assert_true(tp_history_resume(h, 15, &first));
	assert_int_equal(first, 1);
	assert_true(tp_history_resume(h, 20, &first));
	assert_int_equal(first, 2);
	assert_true(tp_history_resume(h, 30, &first));
	assert_int_equal(first, 3);
	assert_false(tp_history_resume(h, 31, &first));

	/* Two more: 10 drops (capacity 4). Anything in [10, 50] resumes. */
	append_ok(h, 40, 4);
	append_ok(h, 50, 5);
	assert_int_equal(tp_history_at(h, 0)->seq, 20);
	assert_false(tp_history_resume(h, 9, &first));
	assert_true(tp_history_resume(h, 10, &first));
	assert_int_equal(first, 0);
	assert_true(tp_history_resume(h, 19, &first));
	assert_int_equal(first, 0);
	assert_true(tp_history_resume(h, 45, &first));
	assert_int_equal(first, 3);
	tp_history_destroy(h);
}

static void test_zero_capacity(void **state)
{
	struct tp_history *h = tp_history_create(0, 600);
	size_t first;

	(void)state;
	append_ok(h, 7, 1);
	assert_int_equal(tp_history_count(h), 0);
	assert_int_equal(tp_history_last_seq(h), 7);
	assert_true(tp_history_resume(h, 7, &first));
	assert_false(tp_history_resume(h, 6, &first));
	tp_history_destroy(h);
}

/* Growth from the lazy start to max_events while the ring also wraps by age:
 * the order and contents survive the unwrap. */
static void test_growth_with_wrap(void **state)
{
	struct tp_history *h = tp_history_create(1000, 20);
	uint64_t s;

	(void)state;
	for (s = 1; s <= 500; s++) {
		append_ok(h, s, (double)s);
		assert_true(tp_history_count(h) <= 21);
	}
	assert_int_equal(tp_history_count(h), 21);
	for (size_t i = 0; i < 21; i++)
		assert_int_equal(tp_history_at(h, i)->seq, 480 + i);
	/* Now without age pressure: grows to hold many. */
	for (; s <= 800; s++)
		append_ok(h, s, 500);
	assert_int_equal(tp_history_count(h), 800 - 480 + 1);
	for (size_t i = 0; i < tp_history_count(h); i++)
		assert_int_equal(tp_history_at(h, i)->seq, 480 + i);
	tp_history_destroy(h);
}

static void test_oom(void **state)
{
	(void)state;
	for (size_t n = 1;; n++) {
		struct tp_history *h;
		struct tp_hist_entry e;
		char data[] = "{\"k\":true}";
		size_t first;
		int rc = TP_OK;

		tp_alloc_fail_at(n);
		h = tp_history_create(8, 600);
		if (!h) {
			tp_alloc_fail_at(0);
			continue;
		}
		for (uint64_t s = 1; s <= 20 && rc == TP_OK; s++) {
			mk(&e, s, (double)s, TP_HIST_PATTERN, data);
			rc = tp_history_append(h, &e);
			if (rc != TP_OK) {
				assert_int_equal(rc, TP_ERR_NOMEM);
				/* The lost event makes earlier positions a gap. */
				assert_int_equal(tp_history_last_seq(h), s);
				assert_false(tp_history_resume(h, s - 1, &first));
				assert_true(tp_history_resume(h, s, &first));
				assert_int_equal(first, tp_history_count(h));
			}
		}
		tp_alloc_fail_at(0);
		tp_history_destroy(h);
		if (rc == TP_OK)
			break;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_kind_names),
		TP_TEST(test_deep_copy),
		TP_TEST(test_rejects_non_increasing),
		TP_TEST(test_trim_by_count),
		TP_TEST(test_trim_by_age),
		TP_TEST(test_resume_empty_and_skips),
		TP_TEST(test_zero_capacity),
		TP_TEST(test_growth_with_wrap),
		TP_TEST(test_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
