/*
 * test_ratelimit.c - the login rate limiter: a bucket per key, refunds
 * and Retry-After, the bound on keys, out of memory.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/err.h"
#include "tickpush/ratelimit.h"

/* ---- rate limiter ------------------------------------------------------ */

static void test_ratelimit_bucket(void **state)
{
	struct tp_ratelimit *rl;

	(void)state;
	assert_null(tp_ratelimit_create(0, 3, 10));
	assert_null(tp_ratelimit_create(1, 0.5, 10));
	assert_null(tp_ratelimit_create(1, 3, 0));
	assert_null(tp_ratelimit_create(NAN, 3, 10));
	assert_null(tp_ratelimit_create(1, INFINITY, 10));

	rl = tp_ratelimit_create(1.0, 3, 10); /* 3 at once, then 1 per second */
	assert_non_null(rl);
	assert_true(tp_ratelimit_allow(rl, "10.0.0.1", 100));
	assert_true(tp_ratelimit_allow(rl, "10.0.0.1", 100));
	assert_true(tp_ratelimit_allow(rl, "10.0.0.1", 100));
	assert_false(tp_ratelimit_allow(rl, "10.0.0.1", 100));
	assert_false(tp_ratelimit_allow(rl, "10.0.0.1", 100.5));
	assert_true(tp_ratelimit_allow(rl, "10.0.0.1", 101.0));  /* 1 token back */
	assert_false(tp_ratelimit_allow(rl, "10.0.0.1", 101.0));
	/* A clock that goes back refills nothing, and does not move "last". */
	assert_false(tp_ratelimit_allow(rl, "10.0.0.1", 50));
	assert_false(tp_ratelimit_allow(rl, "10.0.0.1", NAN));
	assert_true(tp_ratelimit_allow(rl, "10.0.0.1", 102.0));
	/* A long pause refills only up to burst. */
	for (int i = 0; i < 3; i++)
		assert_true(tp_ratelimit_allow(rl, "10.0.0.1", 1000));
	assert_false(tp_ratelimit_allow(rl, "10.0.0.1", 1000));
	/* Another address is independent. */
	assert_true(tp_ratelimit_allow(rl, "10.0.0.2", 1000));
	assert_int_equal(tp_ratelimit_size(rl), 2);
	assert_false(tp_ratelimit_allow(rl, NULL, 1000));
	assert_false(tp_ratelimit_allow(NULL, "x", 1000));
	tp_ratelimit_destroy(rl);
	tp_ratelimit_destroy(NULL);
}

/* Refunds make only some outcomes count; Retry-After says when a token is
 * back. */
static void test_ratelimit_refund_and_retry_after(void **state)
{
	struct tp_ratelimit *rl = tp_ratelimit_create(0.5, 2, 10); /* 2, then 1 per 2 s */

	(void)state;
	assert_non_null(rl);
	assert_true(tp_ratelimit_retry_after(rl, "acct", 10) == 0); /* unknown */
	assert_true(tp_ratelimit_allow(rl, "acct", 10));
	tp_ratelimit_refund(rl, "acct");  /* a success: given back */
	assert_true(tp_ratelimit_allow(rl, "acct", 10));
	assert_true(tp_ratelimit_allow(rl, "acct", 10));
	assert_false(tp_ratelimit_allow(rl, "acct", 10));
	assert_true(tp_ratelimit_retry_after(rl, "acct", 10) == 2.0);
	assert_true(tp_ratelimit_retry_after(rl, "acct", 11) == 1.0);
	assert_true(tp_ratelimit_retry_after(rl, "acct", 12) == 0);
	assert_true(tp_ratelimit_retry_after(rl, "acct", 5) == 2.0); /* clock went back */
	/* Refunds never exceed the burst. */
	for (int i = 0; i < 5; i++)
		tp_ratelimit_refund(rl, "acct");
	assert_true(tp_ratelimit_allow(rl, "acct", 10));
	assert_true(tp_ratelimit_allow(rl, "acct", 10));
	assert_false(tp_ratelimit_allow(rl, "acct", 10));
	tp_ratelimit_refund(rl, "unknown"); /* nothing happens */
	assert_int_equal(tp_ratelimit_size(rl), 1);
	tp_ratelimit_refund(NULL, "x");
	assert_true(tp_ratelimit_retry_after(NULL, "x", 1) == 0);
	tp_ratelimit_destroy(rl);
}

static void test_ratelimit_bounded(void **state)
{
	struct tp_ratelimit *rl = tp_ratelimit_create(0.001, 1, 2);

	(void)state;
	assert_non_null(rl);
	assert_true(tp_ratelimit_allow(rl, "a", 0));
	assert_true(tp_ratelimit_allow(rl, "b", 1));
	assert_false(tp_ratelimit_allow(rl, "a", 2)); /* a is now most recent */
	assert_int_equal(tp_ratelimit_size(rl), 2);
	/* c pushes out b, the least recently seen; a keeps its empty bucket. */
	assert_true(tp_ratelimit_allow(rl, "c", 3));
	assert_int_equal(tp_ratelimit_size(rl), 2);
	assert_false(tp_ratelimit_allow(rl, "a", 4));
	/* b comes back with a fresh bucket (and pushes out c). */
	assert_true(tp_ratelimit_allow(rl, "b", 5));
	assert_false(tp_ratelimit_allow(rl, "a", 6));
	assert_true(tp_ratelimit_allow(rl, "c", 7)); /* c was forgotten too */
	assert_int_equal(tp_ratelimit_size(rl), 2);

	/* Many keys never grow the table past its bound. */
	for (int i = 0; i < 1000; i++) {
		char k[16];

		snprintf(k, sizeof(k), "k%d", i);
		assert_true(tp_ratelimit_allow(rl, k, 10 + i));
		assert_true(tp_ratelimit_size(rl) <= 2);
	}
	tp_ratelimit_destroy(rl);
}

static void test_ratelimit_oom(void **state)
{
	struct tp_ratelimit *rl = tp_ratelimit_create(1, 2, 8);
	size_t attempts;

	(void)state;
	assert_non_null(rl);
	assert_true(tp_ratelimit_allow(rl, "a", 0));
	/* Every allocation a new key needs fails in turn: deny, stay intact. */
	for (size_t n = 1;; n++) {
		bool ok;

		tp_alloc_fail_at(n);
		ok = tp_ratelimit_allow(rl, "new", 0);
		attempts = tp_alloc_fail_at(0);
		if (ok)
			break;
		assert_true(n <= attempts);
		assert_int_equal(tp_ratelimit_size(rl), 1);
	}
	assert_int_equal(tp_ratelimit_size(rl), 2);
	assert_true(tp_ratelimit_allow(rl, "a", 0));
	assert_false(tp_ratelimit_allow(rl, "a", 0));
	tp_ratelimit_destroy(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_ratelimit_bucket),
		TP_TEST(test_ratelimit_bounded),
		TP_TEST(test_ratelimit_oom),
		TP_TEST(test_ratelimit_refund_and_retry_after),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
