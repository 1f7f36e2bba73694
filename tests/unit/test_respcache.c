/*
 * test_respcache.c - the coherent response cache: hit/miss accounting,
 * invalidation by matching pattern (and only by matching ones), TTL, LRU
 * bound, replace on put, OOM on put.
 *
 * Filters are built by filling struct tp_filter directly.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/filter.h"
#include "tickpush/query.h"
#include "tickpush/respcache.h"

#define NOW 5000.0

static void q_init(struct tp_scan_query *q)
{
	memset(q, 0, sizeof(*q));
	tp_filter_init(&q->filter);
	q->page = 1;
	q->per_page = 30;
}

/* Query with one symbol (filter.h lists are owned, sorted arrays). */
static void q_symbol(struct tp_scan_query *q, const char *sym)
{
	q_init(q);
	q->filter.symbols = tp_calloc(1, sizeof(char *));
	assert_non_null(q->filter.symbols);
	q->filter.symbols[0] = tp_strdup(sym);
	assert_non_null(q->filter.symbols[0]);
	q->filter.n_symbols = 1;
}

static void mkp(struct tp_pattern *p, const char *sym, double conf)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->symbol, sizeof(p->symbol), "%s", sym);
	snprintf(p->pattern_type, sizeof(p->pattern_type), "Doji");
	snprintf(p->id, sizeof(p->id), "%s:Doji:1", sym);
	p->confidence = conf;
	p->rs = p->rvol = 1.0;
	p->rsi = 50;
	p->detected_at = NOW - 10;
	p->expires_at = NOW + 100;
}

static const char *const ids2[] = { "AAPL:Doji:1", "AAPL:Hammer:2" };

static void test_hit_miss_ratio(void **state)
{
	struct tp_respcache *rc = tp_respcache_create(8, 30);
	struct tp_scan_query q;
	const struct tp_respcache_entry *e;

	(void)state;
	assert_non_null(rc);
	assert_true(tp_respcache_hit_ratio(rc) == 1.0); /* before traffic */
	assert_int_equal(tp_respcache_size(rc), 0);

	assert_null(tp_respcache_get(rc, "k1", NOW));
	assert_int_equal(tp_respcache_misses(rc), 1);
	assert_int_equal(tp_respcache_hits(rc), 0);
	assert_true(tp_respcache_hit_ratio(rc) == 0.0);

	q_symbol(&q, "AAPL");
	assert_int_equal(tp_respcache_put(rc, "k1", &q, ids2, 2, 7, NOW), TP_OK);
	tp_filter_cleanup(&q.filter); /* the cache keeps its own copy */
	assert_int_equal(tp_respcache_size(rc), 1);

	for (int i = 0; i < 3; i++) {
		e = tp_respcache_get(rc, "k1", NOW + 1);
		assert_non_null(e);
		assert_int_equal(e->n_ids, 2);
		assert_int_equal(e->total, 7);
		assert_string_equal(e->ids[0], ids2[0]);
		assert_string_equal(e->ids[1], ids2[1]);
		assert_ptr_not_equal(e->ids[0], ids2[0]); /* copied */
	}
	assert_int_equal(tp_respcache_hits(rc), 3);
	assert_int_equal(tp_respcache_misses(rc), 1);
	assert_true(tp_respcache_hit_ratio(rc) == 0.75);
	assert_null(tp_respcache_get(rc, "k2", NOW));
	assert_true(tp_respcache_hit_ratio(rc) == 0.6);

	/* An empty page is a valid, cacheable answer. */
	q_init(&q);
	assert_int_equal(tp_respcache_put(rc, "empty", &q, NULL, 0, 0, NOW), TP_OK);
	e = tp_respcache_get(rc, "empty", NOW);
	assert_non_null(e);
	assert_int_equal(e->n_ids, 0);
	assert_int_equal(e->total, 0);

	tp_respcache_drop(rc, "k1");
	tp_respcache_drop(rc, "absent");
	assert_null(tp_respcache_get(rc, "k1", NOW));
	assert_int_equal(tp_respcache_size(rc), 1);
	tp_respcache_clear(rc);
	assert_int_equal(tp_respcache_size(rc), 0);
	tp_respcache_destroy(rc);
	tp_respcache_destroy(NULL);
}

static void test_invalidate(void **state)
{
	struct tp_respcache *rc = tp_respcache_create(8, 30);
	struct tp_scan_query q;
	struct tp_pattern p;
	static const char *const msft[] = { "MSFT:Doji:1" };

	(void)state;
	q_symbol(&q, "AAPL");
	assert_int_equal(tp_respcache_put(rc, "aapl", &q, ids2, 2, 2, NOW), TP_OK);
	tp_filter_cleanup(&q.filter);
	q_symbol(&q, "MSFT");
	q.filter.confidence_min = 0.8;
	assert_int_equal(tp_respcache_put(rc, "msft", &q, msft, 1, 1, NOW), TP_OK);
	tp_filter_cleanup(&q.filter);
	q_init(&q); /* every symbol, confidence >= 0.5 */
	assert_int_equal(tp_respcache_put(rc, "all", &q, ids2, 2, 3, NOW), TP_OK);
	tp_filter_cleanup(&q.filter);
	assert_int_equal(tp_respcache_size(rc), 3);

	/* Matches no cached filter (other symbol, conf below every minimum):
	 * nothing is dropped. */
	mkp(&p, "XOM", 0.3);
	assert_int_equal(tp_respcache_invalidate_pattern(rc, &p), 0);
	mkp(&p, "MSFT", 0.45);
	snprintf(p.id, sizeof(p.id), "MSFT:Doji:3");
	assert_int_equal(tp_respcache_invalidate_pattern(rc, &p), 0);
	assert_int_equal(tp_respcache_size(rc), 3);
	assert_non_null(tp_respcache_get(rc, "aapl", NOW));
	assert_non_null(tp_respcache_get(rc, "msft", NOW));
	assert_non_null(tp_respcache_get(rc, "all", NOW));

	/* Matches "all" only (MSFT at 0.6 is under msft's 0.8). */
	mkp(&p, "MSFT", 0.6);
	snprintf(p.id, sizeof(p.id), "MSFT:Doji:2");
	assert_int_equal(tp_respcache_invalidate_pattern(rc, &p), 1);
	assert_null(tp_respcache_get(rc, "all", NOW));
	assert_non_null(tp_respcache_get(rc, "msft", NOW));
	assert_non_null(tp_respcache_get(rc, "aapl", NOW));

	/* A new version of a listed row that no longer matches its filter
	 * still drops the entry (the page would show a stale row). */
	mkp(&p, "MSFT", 0.3);
	assert_int_equal(tp_respcache_invalidate_pattern(rc, &p), 1);
	assert_null(tp_respcache_get(rc, "msft", NOW));

	/* Matches aapl. */
	mkp(&p, "AAPL", 0.99);
	snprintf(p.id, sizeof(p.id), "AAPL:Bull_Flag:9");
	assert_int_equal(tp_respcache_invalidate_pattern(rc, &p), 1);
	assert_int_equal(tp_respcache_size(rc), 0);
	tp_respcache_destroy(rc);
}

static void test_ttl(void **state)
{
	struct tp_respcache *rc = tp_respcache_create(8, 30);
	struct tp_scan_query q;

	(void)state;
	q_init(&q);
	assert_int_equal(tp_respcache_put(rc, "k", &q, ids2, 2, 2, NOW), TP_OK);
	assert_non_null(tp_respcache_get(rc, "k", NOW + 29.9));
	/* A hit does not extend the life of an entry. */
	assert_null(tp_respcache_get(rc, "k", NOW + 30));
	assert_int_equal(tp_respcache_size(rc), 0);
	assert_int_equal(tp_respcache_hits(rc), 1);
	assert_int_equal(tp_respcache_misses(rc), 1);
	/* A fresh put starts a new life. */
	assert_int_equal(tp_respcache_put(rc, "k", &q, ids2, 2, 2, NOW + 40), TP_OK);
	assert_non_null(tp_respcache_get(rc, "k", NOW + 69));
	assert_null(tp_respcache_get(rc, "k", NOW + 71));
	tp_filter_cleanup(&q.filter);
	tp_respcache_destroy(rc);
}

static void test_lru_bound(void **state)
{
	struct tp_respcache *rc = tp_respcache_create(3, 1000);
	struct tp_scan_query q;
	char key[16];

	(void)state;
	q_init(&q);
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(tp_respcache_put(rc, key, &q, ids2, 1, 1, NOW), TP_OK);
	}
	/* Touch k0 so k1 is the least recently used. */
	assert_non_null(tp_respcache_get(rc, "k0", NOW));
	assert_int_equal(tp_respcache_put(rc, "k3", &q, ids2, 1, 1, NOW), TP_OK);
	assert_int_equal(tp_respcache_size(rc), 3);
	assert_null(tp_respcache_get(rc, "k1", NOW));
	assert_non_null(tp_respcache_get(rc, "k0", NOW));
	assert_non_null(tp_respcache_get(rc, "k2", NOW));
	assert_non_null(tp_respcache_get(rc, "k3", NOW));
	/* Now k0 is the oldest use. */
	assert_int_equal(tp_respcache_put(rc, "k4", &q, ids2, 1, 1, NOW), TP_OK);
	assert_null(tp_respcache_get(rc, "k0", NOW));
	assert_int_equal(tp_respcache_size(rc), 3);
	tp_filter_cleanup(&q.filter);
	tp_respcache_destroy(rc);

	/* max_entries 0 disables caching. */
	rc = tp_respcache_create(0, 30);
	q_init(&q);
	assert_int_equal(tp_respcache_put(rc, "k", &q, ids2, 1, 1, NOW), TP_OK);
	assert_null(tp_respcache_get(rc, "k", NOW));
	assert_int_equal(tp_respcache_size(rc), 0);
	tp_filter_cleanup(&q.filter);
	tp_respcache_destroy(rc);
}

static void test_replace_on_put(void **state)
{
	struct tp_respcache *rc = tp_respcache_create(4, 30);
	struct tp_scan_query q;
	struct tp_pattern p;
	const struct tp_respcache_entry *e;
	static const char *const one[] = { "XOM:Doji:1" };

	(void)state;
	q_symbol(&q, "AAPL");
	assert_int_equal(tp_respcache_put(rc, "k", &q, ids2, 2, 2, NOW), TP_OK);
	tp_filter_cleanup(&q.filter);
	q_symbol(&q, "XOM");
	assert_int_equal(tp_respcache_put(rc, "k", &q, one, 1, 9, NOW + 20), TP_OK);
	tp_filter_cleanup(&q.filter);
	assert_int_equal(tp_respcache_size(rc), 1);
	e = tp_respcache_get(rc, "k", NOW + 40); /* new created time */
	assert_non_null(e);
	assert_int_equal(e->n_ids, 1);
	assert_int_equal(e->total, 9);
	assert_string_equal(e->ids[0], "XOM:Doji:1");
	/* The replaced filter (AAPL) no longer decides invalidation. */
	mkp(&p, "AAPL", 0.9);
	snprintf(p.id, sizeof(p.id), "AAPL:Doji:77");
	assert_int_equal(tp_respcache_invalidate_pattern(rc, &p), 0);
	mkp(&p, "XOM", 0.9);
	snprintf(p.id, sizeof(p.id), "XOM:Doji:77");
	assert_int_equal(tp_respcache_invalidate_pattern(rc, &p), 1);
	tp_respcache_destroy(rc);
}

static void test_put_oom(void **state)
{
	struct tp_respcache *rc = tp_respcache_create(4, 30);
	struct tp_scan_query q;
	const struct tp_respcache_entry *e;
	static const char *const one[] = { "XOM:Doji:1" };
	size_t n;

	(void)state;
	q_symbol(&q, "AAPL");
	assert_int_equal(tp_respcache_put(rc, "k", &q, one, 1, 1, NOW), TP_OK);
	for (n = 1;; n++) {
		int r;

		tp_alloc_fail_at(n);
		r = tp_respcache_put(rc, n % 2 ? "k" : "new", &q, ids2, 2, 5, NOW);
		if (tp_alloc_fail_at(0) < n) {
			assert_int_equal(r, TP_OK);
			break;
		}
		assert_int_equal(r, TP_ERR_NOMEM);
		/* The old entry is intact; nothing was added. */
		assert_int_equal(tp_respcache_size(rc), 1);
		e = tp_respcache_get(rc, "k", NOW);
		assert_non_null(e);
		assert_int_equal(e->total, 1);
	}
	assert_true(n > 1);
	tp_filter_cleanup(&q.filter);
	tp_respcache_destroy(rc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_hit_miss_ratio),
		TP_TEST(test_invalidate),
		TP_TEST(test_ttl),
		TP_TEST(test_lru_bound),
		TP_TEST(test_replace_on_put),
		TP_TEST(test_put_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
