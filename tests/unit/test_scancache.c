/*
 * test_scancache.c - a scan through the response cache (core/scancache.c):
 * a miss is cached, a hit only while every cached row is live, a change
 * of a matching pattern or its expiry makes the next answer fresh; the
 * memo of a hit's rendering gives the bytes of a fresh rendering.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/buf.h"
#include "tickpush/filter.h"
#include "tickpush/scancache.h"

#define NOW 1760000000.0

static struct tp_ingest *make_with(size_t respcache_entries)
{
	struct tp_ingest_opts o;

	memset(&o, 0, sizeof(o));
	o.max_patterns = 100;
	o.pattern_ttl = 3600;
	o.respcache_entries = respcache_entries;
	o.respcache_ttl = 30;
	return tp_ingest_create(&o);
}

static struct tp_ingest *make(void)
{
	return make_with(64);
}

static void feed(struct tp_ingest *ing, const char *sym, const char *type, double ts)
{
	char ev[256];

	snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"%s\","
		 "\"pattern\":\"%s\",\"confidence\":0.8,\"timestamp\":%.3f}}", sym, type, ts);
	assert_int_equal(tp_ingest_message(ing, TP_CH_PATTERNS, ev, strlen(ev), ts), TP_REJECT_NONE);
}

/* Total matches for symbol sym at now; *cached says where from. */
static size_t scan(struct tp_ingest *ing, const char *sym, double now, bool *cached)
{
	struct tp_scan_query q;
	struct tp_scan_answer a;
	size_t total;

	tp_scan_query_init(&q);
	q.filter.confidence_min = 0;
	assert_int_equal(tp_filter_set_param(&q.filter, "symbols", sym, NULL), TP_OK);
	assert_int_equal(tp_scancache_answer(ing, &q, now, &a), TP_OK);
	assert_int_equal(a.n_rows, a.total);
	for (size_t i = 0; i < a.n_rows; i++)
		assert_string_equal(a.rows[i]->symbol, sym);
	*cached = a.cached;
	total = a.total;
	tp_scancache_done(&a);
	tp_scan_query_cleanup(&q);
	return total;
}

static void test_scancache(void **state)
{
	struct tp_ingest *ing = make();
	bool cached;

	(void)state;
	feed(ing, "AAPL", "Doji", NOW - 5);
	assert_int_equal(scan(ing, "AAPL", NOW, &cached), 1);
	assert_false(cached);
	assert_int_equal(scan(ing, "AAPL", NOW, &cached), 1);
	assert_true(cached);
	/* Another symbol leaves the cached answer alone. */
	feed(ing, "MSFT", "Doji", NOW - 4);
	assert_int_equal(scan(ing, "AAPL", NOW, &cached), 1);
	assert_true(cached);
	/* A new matching pattern: a fresh answer counting it. */
	feed(ing, "AAPL", "Hammer", NOW - 3);
	assert_int_equal(scan(ing, "AAPL", NOW, &cached), 2);
	assert_false(cached);
	assert_int_equal(scan(ing, "AAPL", NOW + 1, &cached), 2);
	assert_true(cached);
	/* Past their expiry the answer sweeps first: fresh and empty. */
	assert_int_equal(scan(ing, "AAPL", NOW + 3600, &cached), 0);
	assert_false(cached);
	tp_ingest_destroy(ing);
}

/* The rows and pagination of the default query at now into b; true if
 * they came from the memo. */
static bool render(struct tp_ingest *ing, double now, struct tp_buf *b)
{
	struct tp_scan_query q;
	struct tp_scan_answer a;
	bool memo;

	tp_scan_query_init(&q);
	q.filter.confidence_min = 0;
	tp_buf_reset(b);
	assert_int_equal(tp_scancache_answer(ing, &q, now, &a), TP_OK);
	memo = a.memo != NULL;
	tp_scancache_render(&a, &q, now, b);
	assert_false(b->oom);
	tp_scancache_done(&a);
	tp_scan_query_cleanup(&q);
	return memo;
}

/* A cached store and one without a response cache get the same events;
 * at instants that cross second, minute and hour boundaries of the rows'
 * ages and times left (and their expiries), the memo's bytes are always
 * the fresh rendering's. */
static void test_memo(void **state)
{
	struct tp_ingest *cached = make(), *fresh = make_with(0);
	struct tp_buf a, b;
	unsigned seed = 7, memos = 0;
	double now = NOW;

	(void)state;
	for (int i = 0; i < 40; i++) {
		char sym[16];
		double ts = NOW - 3590 + i * 91.37;

		snprintf(sym, sizeof(sym), "S%02d", i);
		feed(cached, sym, "Doji", ts);
		feed(fresh, sym, "Doji", ts);
	}
	tp_buf_init(&a, 0);
	tp_buf_init(&b, 0);
	while (now < NOW + 300) {
		memos += render(cached, now, &a);
		assert_false(render(fresh, now, &b));
		assert_int_equal(a.len, b.len);
		assert_memory_equal(tp_buf_data(&a), tp_buf_data(&b), a.len);
		seed = seed * 1103515245u + 12345u;
		now += (double)(seed >> 16 & 0x3ff) / 1024.0 * 0.7;
	}
	/* Most answers within a second of each other reuse it. */
	assert_true(memos > 100);
	tp_buf_cleanup(&a);
	tp_buf_cleanup(&b);
	tp_ingest_destroy(cached);
	tp_ingest_destroy(fresh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_scancache),
		TP_TEST(test_memo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
