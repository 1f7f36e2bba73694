/*
 * test_fcache.c - the compiled-filter cache: equal filters (given in any
 * order and case) share one refcounted cfilter, references and freeing,
 * deep copies, the per-generation memo, hit/miss counters and OOM.
 *
 * Filters are built through tp_filter_set_param, the path every real filter
 * takes, so list order and case normalisation are the real ones.
 */
#include <stdio.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/fcache.h"
#include "tickpush/filter.h"

/* Builds *f from name/value pairs, NULL-terminated. */
static void build(struct tp_filter *f, const char *const *kv)
{
	tp_filter_init(f);
	for (; kv[0]; kv += 2) {
		struct tp_errdetail err = { { 0 }, NULL };
		int rc = tp_filter_set_param(f, kv[0], kv[1], &err);

		if (rc != TP_OK)
			fail_msg("%s=%s: rc %d (%s)", kv[0], kv[1], rc, err.msg);
	}
}

static void mkp(struct tp_pattern *p, const char *sym, const char *type,
		double conf)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->symbol, sizeof(p->symbol), "%s", sym);
	snprintf(p->pattern_type, sizeof(p->pattern_type), "%s", type);
	p->confidence = conf;
	p->rs = p->rvol = 1.0;
	p->rsi = 50;
	p->tier = TP_TIER_DAILY;
}

static const char *const spec_a[] = {
	"symbols", "aapl,MSFT",
	"pattern_types", "doji,Bull_Flag",
	"confidence_min", "0.7",
	"timeframe", "daily",
	NULL,
};

/* The same filter: other order, other case, repeated entries, split
 * parameters. */
static const char *const spec_a2[] = {
	"timeframe", "DAILY",
	"pattern_types", "BULL_FLAG",
	"confidence_min", "0.70",
	"symbols", "msft",
	"pattern_types", "DOJI, bull_flag",
	"symbols", "AAPL,aapl",
	NULL,
};

static const char *const spec_b[] = {
	"symbols", "aapl,MSFT",
	"pattern_types", "doji,Bull_Flag",
	"confidence_min", "0.8",
	"timeframe", "daily",
	NULL,
};

static void test_identical_filters_share(void **state)
{
	struct tp_fcache *fc = tp_fcache_create();
	struct tp_filter a, a2, b;
	struct tp_cfilter *c1 = NULL, *c2 = NULL, *c3 = NULL;
	struct tp_buf key;
	struct tp_pattern p;

	(void)state;
	assert_non_null(fc);
	build(&a, spec_a);
	build(&a2, spec_a2);
	build(&b, spec_b);

	assert_int_equal(tp_fcache_acquire(fc, &a, &c1), TP_OK);
	assert_int_equal(tp_fcache_acquire(fc, &a2, &c2), TP_OK);
	assert_int_equal(tp_fcache_acquire(fc, &b, &c3), TP_OK);
	assert_ptr_equal(c1, c2);
	assert_ptr_not_equal(c1, c3);
	assert_int_equal(c1->refs, 2);
	assert_int_equal(c3->refs, 1);
	assert_int_equal(tp_fcache_size(fc), 2);
	assert_int_equal(tp_fcache_hits(fc), 1);
	assert_int_equal(tp_fcache_misses(fc), 2);

	/* The key is the canonical text. */
	tp_buf_init(&key, 0);
	tp_filter_canonical(&a2, &key);
	assert_string_equal(c1->canon, tp_buf_cstr(&key));
	tp_buf_cleanup(&key);

	/* A deep copy: the sources can go, the cfilter still works (ASan
	 * would flag any pointer into them). */
	tp_filter_cleanup(&a);
	tp_filter_cleanup(&a2);
	tp_filter_cleanup(&b);
	assert_int_equal(c1->filter.n_symbols, 2);
	assert_string_equal(c1->filter.symbols[0], "AAPL");
	assert_string_equal(c1->filter.symbols[1], "MSFT");
	mkp(&p, "MSFT", "bull_flag", 0.75);
	assert_true(tp_cfilter_match(c1, &p, 1));
	assert_false(tp_cfilter_match(c3, &p, 1)); /* confidence 0.75 < 0.8 */
	mkp(&p, "MSFT", "Hammer", 0.9);
	assert_false(tp_cfilter_match(c1, &p, 2));

	tp_fcache_release(fc, c1);
	tp_fcache_release(fc, c2);
	tp_fcache_release(fc, c3);
	assert_int_equal(tp_fcache_size(fc), 0);
	tp_fcache_destroy(fc);
}

static void test_release_frees(void **state)
{
	struct tp_fcache *fc = tp_fcache_create();
	struct tp_filter a;
	struct tp_cfilter *c[3], *again = NULL;
	size_t blocks, bytes;

	(void)state;
	assert_non_null(fc);
	build(&a, spec_a);
	blocks = tp_alloc_blocks();
	bytes = tp_alloc_used();
	for (int i = 0; i < 3; i++)
		assert_int_equal(tp_fcache_acquire(fc, &a, &c[i]), TP_OK);
	assert_true(tp_alloc_blocks() > blocks);
	assert_int_equal(c[0]->refs, 3);

	tp_fcache_release(fc, c[1]);
	tp_fcache_release(fc, c[0]);
	assert_int_equal(tp_fcache_size(fc), 1);
	assert_int_equal(c[2]->refs, 1);
	/* Still usable by the last holder. */
	assert_int_equal(c[2]->filter.n_pattern_types, 2);
	tp_fcache_release(fc, c[2]);
	assert_int_equal(tp_fcache_size(fc), 0);
	/* Everything the entry held is gone (the dict's table may have
	 * grown, but a one-entry dict never rehashes). */
	assert_int_equal(tp_alloc_blocks(), blocks);
	assert_int_equal(tp_alloc_used(), bytes);
	tp_fcache_release(fc, NULL);

	/* Acquiring again is a miss and a new entry. */
	assert_int_equal(tp_fcache_acquire(fc, &a, &again), TP_OK);
	assert_int_equal(again->refs, 1);
	assert_int_equal(tp_fcache_misses(fc), 2);
	assert_int_equal(tp_fcache_hits(fc), 2);
	tp_fcache_release(fc, again);

	tp_filter_cleanup(&a);
	tp_fcache_destroy(fc);
	tp_fcache_destroy(NULL);
}

/*
 * The memo: a filter is evaluated at most once per generation. Changing the
 * pattern between calls with the same generation proves it: the second
 * call returns the first answer although the pattern now says otherwise.
 */
static void test_memo_by_generation(void **state)
{
	static const char *const spec[] = { "symbols", "AAPL", NULL };
	struct tp_fcache *fc = tp_fcache_create();
	struct tp_filter f;
	struct tp_cfilter *cf = NULL, *shared = NULL;
	struct tp_pattern yes, no;
	size_t evaluations = 0;

	(void)state;
	assert_non_null(fc);
	build(&f, spec);
	assert_int_equal(tp_fcache_acquire(fc, &f, &cf), TP_OK);
	assert_int_equal(tp_fcache_acquire(fc, &f, &shared), TP_OK);
	assert_ptr_equal(cf, shared);
	mkp(&yes, "AAPL", "Doji", 0.9);
	mkp(&no, "MSFT", "Doji", 0.9);

	assert_true(tp_cfilter_match(cf, &yes, 1));
	assert_true(tp_cfilter_match(cf, &no, 1));      /* memo of gen 1 */
	assert_true(tp_cfilter_match(shared, &no, 1));  /* shared memo */
	assert_false(tp_cfilter_match(cf, &no, 2));     /* new generation */
	assert_false(tp_cfilter_match(cf, &yes, 2));    /* memo of gen 2 */
	assert_true(tp_cfilter_match(cf, &yes, 3));
	assert_int_equal(cf->memo_gen, 3);

	/* Generation 0 never uses nor records the memo. */
	assert_false(tp_cfilter_match(cf, &no, 0));
	assert_true(tp_cfilter_match(cf, &yes, 0));
	assert_false(tp_cfilter_match(cf, &no, 0));
	assert_int_equal(cf->memo_gen, 3);
	assert_true(tp_cfilter_match(cf, &no, 3));

	/* Over 100 generations with the pattern flipped on every call, count
	 * the calls whose answer followed the pattern they were given: only
	 * the first of each generation's 6 calls can be told apart from the
	 * memo, and the 2 later calls with the other pattern must not follow
	 * it, so exactly 100 * (1 + 2) answers agree with a fresh
	 * evaluation and 100 * 3 do not. */
	for (uint64_t gen = 10; gen < 110; gen++) {
		for (int k = 0; k < 6; k++) {
			const struct tp_pattern *p =
				(k + (int)gen) % 2 ? &yes : &no;

			evaluations += tp_cfilter_match(cf, p, gen) ==
				       tp_filter_match(&cf->filter, p);
		}
	}
	assert_int_equal(evaluations, 300);

	tp_fcache_release(fc, cf);
	tp_fcache_release(fc, shared);
	tp_filter_cleanup(&f);
	tp_fcache_destroy(fc);
}

static void test_oom(void **state)
{
	struct tp_fcache *fc = NULL;
	struct tp_filter a;
	struct tp_cfilter *cf = NULL, *hit = NULL;
	size_t n;

	(void)state;
	build(&a, spec_a);
	/* create */
	for (n = 1;; n++) {
		tp_alloc_fail_at(n);
		fc = tp_fcache_create();
		if (tp_alloc_fail_at(0) < n) {
			assert_non_null(fc);
			break;
		}
		assert_null(fc);
	}
	assert_true(n > 1);

	/* acquire, miss path */
	for (n = 1;; n++) {
		int rc;

		tp_alloc_fail_at(n);
		rc = tp_fcache_acquire(fc, &a, &cf);
		if (tp_alloc_fail_at(0) < n) {
			assert_int_equal(rc, TP_OK);
			break;
		}
		assert_int_equal(rc, TP_ERR_NOMEM);
		assert_null(cf);
		assert_int_equal(tp_fcache_size(fc), 0);
		assert_int_equal(tp_fcache_misses(fc), 0);
	}
	assert_true(n > 3);
	assert_non_null(cf);
	assert_int_equal(tp_fcache_misses(fc), 1);

	/* acquire, hit path (building the key allocates) */
	for (n = 1;; n++) {
		int rc;

		tp_alloc_fail_at(n);
		rc = tp_fcache_acquire(fc, &a, &hit);
		if (tp_alloc_fail_at(0) < n) {
			assert_int_equal(rc, TP_OK);
			break;
		}
		assert_int_equal(rc, TP_ERR_NOMEM);
		assert_null(hit);
		assert_int_equal(cf->refs, 1);
		assert_int_equal(tp_fcache_hits(fc), 0);
	}
	assert_ptr_equal(hit, cf);
	assert_int_equal(cf->refs, 2);

	tp_fcache_release(fc, hit);
	tp_fcache_release(fc, cf);
	tp_filter_cleanup(&a);
	tp_fcache_destroy(fc);
}

/* A reference never released is a caller bug, but destroy still frees it
 * (the leak check proves it). */
static void test_destroy_frees_leftovers(void **state)
{
	struct tp_fcache *fc = tp_fcache_create();
	struct tp_filter a, b;
	struct tp_cfilter *c1 = NULL, *c2 = NULL;

	(void)state;
	assert_non_null(fc);
	build(&a, spec_a);
	build(&b, spec_b);
	assert_int_equal(tp_fcache_acquire(fc, &a, &c1), TP_OK);
	assert_int_equal(tp_fcache_acquire(fc, &b, &c2), TP_OK);
	tp_filter_cleanup(&a);
	tp_filter_cleanup(&b);
	tp_fcache_destroy(fc);
}

/* An empty filter ("any") and the restrict-to-nothing filter are distinct
 * entries with the expected behaviour. */
static void test_any_and_nothing(void **state)
{
	static const char *const none[] = { "ZZZZ" };
	struct tp_fcache *fc = tp_fcache_create();
	struct tp_filter any, nothing;
	struct tp_cfilter *ca = NULL, *cn = NULL;
	struct tp_pattern p;

	(void)state;
	assert_non_null(fc);
	tp_filter_init(&any);
	tp_filter_init(&nothing);
	assert_int_equal(tp_filter_set_param(&nothing, "symbols", "AAPL", NULL),
			 TP_OK);
	assert_int_equal(tp_filter_restrict_symbols(&nothing, none, 1), TP_OK);
	assert_int_equal(nothing.n_symbols, 1);
	assert_string_equal(nothing.symbols[0], "");
	assert_int_equal(tp_fcache_acquire(fc, &any, &ca), TP_OK);
	assert_int_equal(tp_fcache_acquire(fc, &nothing, &cn), TP_OK);
	assert_ptr_not_equal(ca, cn);
	mkp(&p, "AAPL", "Doji", 0.9);
	assert_true(tp_cfilter_match(ca, &p, 1));
	assert_false(tp_cfilter_match(cn, &p, 1));
	tp_fcache_release(fc, ca);
	tp_fcache_release(fc, cn);
	tp_filter_cleanup(&nothing);
	tp_fcache_destroy(fc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_identical_filters_share),
		TP_TEST(test_release_frees),
		TP_TEST(test_memo_by_generation),
		TP_TEST(test_oom),
		TP_TEST(test_destroy_frees_leftovers),
		TP_TEST(test_any_and_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
