/*
 * test_usercache.c - the accounts known to exist: states, expiry, the
 * bound, out of memory.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/err.h"
#include "tickpush/usercache.h"

/* ---- accounts known to exist ------------------------------------------ */

static void test_usercache(void **state)
{
	struct tp_usercache *uc = tp_usercache_create(3);

	(void)state;
	assert_null(tp_usercache_create(0));
	assert_non_null(uc);
	assert_int_equal(tp_usercache_get(uc, 7, 100), TP_ACCOUNT_UNKNOWN);
	assert_int_equal(tp_usercache_set(uc, 7, TP_ACCOUNT_EXISTS, 105), TP_OK);
	assert_int_equal(tp_usercache_set(uc, 8, TP_ACCOUNT_GONE, 105), TP_OK);
	assert_int_equal(tp_usercache_set(uc, 9, TP_ACCOUNT_CHECKING, 102), TP_OK);
	assert_int_equal(tp_usercache_get(uc, 7, 100), TP_ACCOUNT_EXISTS);
	assert_int_equal(tp_usercache_get(uc, 8, 104.9), TP_ACCOUNT_GONE);
	assert_int_equal(tp_usercache_get(uc, 9, 101), TP_ACCOUNT_CHECKING);
	/* Answers expire, and the expired entry is dropped. */
	assert_int_equal(tp_usercache_get(uc, 9, 102), TP_ACCOUNT_UNKNOWN);
	assert_int_equal(tp_usercache_size(uc), 2);
	assert_int_equal(tp_usercache_get(uc, 7, NAN), TP_ACCOUNT_UNKNOWN);
	/* A later answer replaces an earlier one; UNKNOWN forgets. */
	assert_int_equal(tp_usercache_set(uc, 8, TP_ACCOUNT_EXISTS, 200), TP_OK);
	assert_int_equal(tp_usercache_get(uc, 8, 150), TP_ACCOUNT_EXISTS);
	assert_int_equal(tp_usercache_set(uc, 8, TP_ACCOUNT_UNKNOWN, 0), TP_OK);
	assert_int_equal(tp_usercache_get(uc, 8, 150), TP_ACCOUNT_UNKNOWN);
	assert_int_equal(tp_usercache_size(uc), 0);
	/* Bounded: the least recently used user goes first. */
	tp_usercache_set(uc, 1, TP_ACCOUNT_EXISTS, 1000);
	tp_usercache_set(uc, 2, TP_ACCOUNT_EXISTS, 1000);
	tp_usercache_set(uc, 3, TP_ACCOUNT_EXISTS, 1000);
	assert_int_equal(tp_usercache_get(uc, 1, 0), TP_ACCOUNT_EXISTS); /* 2 is now oldest */
	tp_usercache_set(uc, 4, TP_ACCOUNT_GONE, 1000);
	assert_int_equal(tp_usercache_size(uc), 3);
	assert_int_equal(tp_usercache_get(uc, 2, 0), TP_ACCOUNT_UNKNOWN);
	assert_int_equal(tp_usercache_get(uc, 1, 0), TP_ACCOUNT_EXISTS);
	assert_int_equal(tp_usercache_get(uc, 4, 0), TP_ACCOUNT_GONE);
	assert_int_equal(tp_usercache_get(NULL, 1, 0), TP_ACCOUNT_UNKNOWN);
	assert_int_equal(tp_usercache_set(NULL, 1, TP_ACCOUNT_GONE, 0), TP_ERR_INVAL);
	tp_usercache_destroy(uc);
	tp_usercache_destroy(NULL);
}

static void test_usercache_oom(void **state)
{
	struct tp_usercache *uc;
	size_t n;

	(void)state;
	for (n = 1;; n++) {
		tp_alloc_fail_at(n);
		uc = tp_usercache_create(4);
		tp_alloc_fail_at(0);
		if (uc)
			break;
	}
	assert_true(n > 1);
	for (n = 1;; n++) {
		int rc;

		tp_alloc_fail_at(n);
		rc = tp_usercache_set(uc, 42, TP_ACCOUNT_EXISTS, 10);
		tp_alloc_fail_at(0);
		if (rc == TP_OK)
			break;
		assert_int_equal(rc, TP_ERR_NOMEM);
		assert_int_equal(tp_usercache_get(uc, 42, 0), TP_ACCOUNT_UNKNOWN);
	}
	assert_int_equal(tp_usercache_get(uc, 42, 0), TP_ACCOUNT_EXISTS);
	tp_usercache_destroy(uc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_usercache),
		TP_TEST(test_usercache_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
