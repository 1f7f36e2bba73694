/*
 * test_ingest.c - the ingest pipeline: parse once, store, keep the response
 * cache coherent, call the hooks, count rejections, remember jobs and
 * health, tag sectors.
 */
#include <stdio.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/ingest.h"
#include "tickpush/metrics.h"

#define NOW 1800000000.0

struct hooks_log {
	int upserts, removes, others, rejects;
	enum tp_removal last_why;
	enum tp_reject last_reject;
	char last_id[TP_PATTERN_ID_MAX + 1];
};

static void on_upsert(const struct tp_pattern *p, void *ud)
{
	struct hooks_log *l = ud;

	l->upserts++;
	snprintf(l->last_id, sizeof(l->last_id), "%s", p->id);
}

static void on_remove(const struct tp_pattern *p, enum tp_removal why, void *ud)
{
	struct hooks_log *l = ud;

	(void)p;
	l->removes++;
	l->last_why = why;
}

static void on_other(const struct tp_event *ev, void *ud)
{
	struct hooks_log *l = ud;

	(void)ev;
	l->others++;
}

static void on_reject(enum tp_channel ch, enum tp_reject why,
		      const struct tp_errdetail *err, void *ud)
{
	struct hooks_log *l = ud;

	(void)ch;
	assert_non_null(err);
	assert_true(err->msg[0] != '\0');
	l->rejects++;
	l->last_reject = why;
}

static const char *sector_of(const char *symbol, void *ud)
{
	(void)ud;
	return !strcmp(symbol, "AAPL") ? "Information Technology" : NULL;
}

static struct tp_ingest *make(struct hooks_log *log, size_t max)
{
	struct tp_ingest_opts o;

	memset(&o, 0, sizeof(o));
	memset(log, 0, sizeof(*log));
	o.max_patterns = max;
	o.pattern_ttl = 3600;
	o.respcache_entries = 64;
	o.respcache_ttl = 30;
	o.hooks.on_upsert = on_upsert;
	o.hooks.on_remove = on_remove;
	o.hooks.on_other = on_other;
	o.hooks.on_reject = on_reject;
	o.hooks.ud = log;
	o.sector_of = sector_of;
	return tp_ingest_create(&o);
}

static enum tp_reject feed(struct tp_ingest *ing, const char *json, double now)
{
	return tp_ingest_message(ing, TP_CH_PATTERNS, json, strlen(json), now);
}

static void pattern_json(char *out, size_t n, const char *sym, const char *type,
			 double conf, double ts, const char *action)
{
	snprintf(out, n, "{\"event_type\":\"%s\",\"data\":{\"symbol\":\"%s\",\"pattern\":\"%s\","
		 "\"confidence\":%.2f,\"timestamp\":%.0f}}", action, sym, type, conf, ts);
}

/* A scan of symbol `sym` through the response cache, as api_patterns does. */
static size_t cached_scan(struct tp_ingest *ing, const char *sym, bool *hit)
{
	struct tp_scan_query q;
	struct tp_scan_result r;
	struct tp_buf key;
	const struct tp_respcache_entry *e;
	size_t total;

	tp_scan_query_init(&q);
	q.filter.confidence_min = 0;
	assert_int_equal(tp_filter_set_param(&q.filter, "symbols", sym, NULL), TP_OK);
	tp_buf_init(&key, 0);
	tp_scan_query_canonical(&q, &key);
	e = tp_respcache_get(tp_ingest_respcache(ing), tp_buf_cstr(&key), NOW);
	*hit = e != NULL;
	if (e) {
		total = e->total;
	} else {
		const char *ids[100];

		assert_int_equal(tp_patterns_scan(tp_ingest_patterns(ing), &q, NOW, &r), TP_OK);
		for (size_t i = 0; i < r.n_rows; i++)
			ids[i] = r.rows[i]->id;
		total = r.total;
		assert_int_equal(tp_respcache_put(tp_ingest_respcache(ing), tp_buf_cstr(&key),
						  &q, ids, r.n_rows, r.total, NOW), TP_OK);
		tp_scan_result_cleanup(&r);
	}
	tp_buf_cleanup(&key);
	tp_scan_query_cleanup(&q);
	return total;
}

static void test_upsert_replace_withdraw(void **state)
{
	struct hooks_log log;
	struct tp_ingest *ing = make(&log, 100);
	char ev[512];

	(void)state;
	tp_metrics_reset();
	pattern_json(ev, sizeof(ev), "AAPL", "Doji", 0.8, NOW - 10, "pattern_detected");
	assert_int_equal(feed(ing, ev, NOW), TP_REJECT_NONE);
	assert_int_equal(log.upserts, 1);
	assert_int_equal(tp_patterns_count(tp_ingest_patterns(ing)), 1);
	const struct tp_pattern *p = tp_patterns_get(tp_ingest_patterns(ing), log.last_id);
	assert_non_null(p);
	assert_string_equal(p->sector, "Information Technology");

	pattern_json(ev, sizeof(ev), "AAPL", "Doji", 0.9, NOW - 10, "pattern_updated");
	assert_int_equal(feed(ing, ev, NOW), TP_REJECT_NONE);
	assert_int_equal(log.upserts, 2);
	assert_int_equal(log.removes, 1);
	assert_int_equal(log.last_why, TP_REMOVED_REPLACED);
	assert_int_equal(tp_patterns_count(tp_ingest_patterns(ing)), 1);

	pattern_json(ev, sizeof(ev), "AAPL", "Doji", 0.9, NOW - 10, "pattern_expired");
	assert_int_equal(feed(ing, ev, NOW), TP_REJECT_NONE);
	assert_int_equal(log.removes, 2);
	assert_int_equal(log.last_why, TP_REMOVED_WITHDRAWN);
	assert_int_equal(tp_patterns_count(tp_ingest_patterns(ing)), 0);
	/* Withdrawing what is not there is accepted and changes nothing. */
	assert_int_equal(feed(ing, ev, NOW), TP_REJECT_NONE);
	assert_int_equal(log.removes, 2);

	const struct tp_ingest_stats *st = tp_ingest_stats(ing);
	assert_int_equal(st->events_processed, 4);
	/* Four events plus the withdrawal's removal, which is a stream
	 * position of its own (the replacement is not). */
	assert_int_equal(st->seq, 5);
	assert_int_equal(st->events_rejected, 0);
	assert_true(st->last_event_time == NOW);
	tp_ingest_destroy(ing);
}

static void test_rejections_counted_and_isolated(void **state)
{
	struct hooks_log log;
	struct tp_ingest *ing = make(&log, 100);
	char ev[512];

	(void)state;
	tp_metrics_reset();
	assert_int_equal(feed(ing, "{nope", NOW), TP_REJECT_BAD_JSON);
	assert_int_equal(feed(ing, "{\"test\":\"health_check\",\"timestamp\":1}", NOW),
			 TP_REJECT_DIAGNOSTIC);
	/* Already expired at arrival: refused, counted as out of range. */
	snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"X\","
		 "\"pattern\":\"Doji\",\"confidence\":0.5,\"timestamp\":%.0f,\"expires_at\":%.0f}}",
		 NOW - 100, NOW - 1);
	assert_int_equal(feed(ing, ev, NOW), TP_REJECT_OUT_OF_RANGE);
	assert_int_equal(log.rejects, 3);
	assert_int_equal(tp_ingest_stats(ing)->events_rejected, 3);
	assert_int_equal(tp_metrics_rejected(TP_CH_PATTERNS, TP_REJECT_BAD_JSON), 1);
	assert_int_equal(tp_metrics_rejected(TP_CH_PATTERNS, TP_REJECT_DIAGNOSTIC), 1);
	assert_int_equal(tp_patterns_count(tp_ingest_patterns(ing)), 0);
	/* The next good event is unaffected. */
	pattern_json(ev, sizeof(ev), "MSFT", "Hammer", 0.7, NOW, "pattern_detected");
	assert_int_equal(feed(ing, ev, NOW), TP_REJECT_NONE);
	assert_int_equal(tp_patterns_count(tp_ingest_patterns(ing)), 1);
	assert_int_equal(tp_ingest_stats(ing)->seq, 1);
	tp_ingest_destroy(ing);
}

static void test_response_cache_coherence(void **state)
{
	struct hooks_log log;
	struct tp_ingest *ing = make(&log, 100);
	char ev[512];
	bool hit;

	(void)state;
	pattern_json(ev, sizeof(ev), "AAPL", "Doji", 0.8, NOW - 5, "pattern_detected");
	feed(ing, ev, NOW);
	assert_int_equal(cached_scan(ing, "AAPL", &hit), 1);
	assert_false(hit);
	assert_int_equal(cached_scan(ing, "AAPL", &hit), 1);
	assert_true(hit);
	/* Another symbol: the cached AAPL answer stays. */
	pattern_json(ev, sizeof(ev), "MSFT", "Doji", 0.8, NOW - 5, "pattern_detected");
	feed(ing, ev, NOW);
	assert_int_equal(cached_scan(ing, "AAPL", &hit), 1);
	assert_true(hit);
	/* A new AAPL pattern invalidates it, and the fresh answer counts it. */
	pattern_json(ev, sizeof(ev), "AAPL", "Hammer", 0.8, NOW - 5, "pattern_detected");
	feed(ing, ev, NOW);
	assert_int_equal(cached_scan(ing, "AAPL", &hit), 2);
	assert_false(hit);
	/* Expiry (sweep) invalidates too. */
	assert_int_equal(cached_scan(ing, "AAPL", &hit), 2);
	assert_true(hit);
	assert_int_equal(tp_ingest_expire(ing, NOW + 7200), 3);
	assert_int_equal(log.last_why, TP_REMOVED_EXPIRED);
	assert_int_equal(tp_ingest_stats(ing)->expired_cleaned, 3);
	bool hit2;
	(void)cached_scan(ing, "AAPL", &hit2);
	assert_false(hit2);
	tp_ingest_destroy(ing);
}

static void test_warm_start_skips_hooks(void **state)
{
	struct hooks_log log;
	struct tp_ingest *ing = make(&log, 100);
	struct tp_pattern p;
	char ind[] = "{}";

	(void)state;
	memset(&p, 0, sizeof(p));
	strcpy(p.id, "AAPL:Doji:1");
	strcpy(p.symbol, "AAPL");
	strcpy(p.pattern_type, "Doji");
	p.confidence = 0.6;
	p.detected_at = NOW - 1;
	p.expires_at = NOW + 100;
	p.indicators_json = ind;
	assert_int_equal(tp_ingest_warm(ing, &p, NOW), TP_OK);
	assert_int_equal(log.upserts, 0);
	assert_int_equal(tp_ingest_stats(ing)->seq, 0);
	assert_string_equal(tp_patterns_get(tp_ingest_patterns(ing), "AAPL:Doji:1")->sector,
			    "Information Technology");
	/* A record already present (newer, from the live stream) wins. */
	assert_int_equal(tp_ingest_warm(ing, &p, NOW), TP_ERR_EXISTS);
	/* Expired in the cache: refused. */
	strcpy(p.id, "AAPL:Doji:2");
	p.expires_at = NOW - 1;
	assert_int_equal(tp_ingest_warm(ing, &p, NOW), TP_ERR_INVAL);
	tp_ingest_destroy(ing);
}

static void test_jobs_and_health(void **state)
{
	struct hooks_log log;
	struct tp_ingest *ing = make(&log, 100);
	const char *prog = "{\"event_type\":\"backtest_progress\",\"job_id\":\"job_1\","
			   "\"progress\":0.5,\"status\":\"processing\"}";
	const char *done = "{\"event_type\":\"backtest_result\",\"job_id\":\"job_1\","
			   "\"status\":\"completed\",\"results\":{\"roi\":0.1}}";
	const char *health = "{\"event_type\":\"system_health\",\"status\":\"healthy\","
			     "\"metrics\":{\"cpu_usage\":0.3}}";
	double received;

	(void)state;
	assert_int_equal(tp_ingest_message(ing, TP_CH_BACKTEST_PROGRESS, prog, strlen(prog), NOW),
			 TP_REJECT_NONE);
	assert_non_null(strstr(tp_ingest_job_json(ing, "job_1"), "processing"));
	assert_int_equal(tp_ingest_message(ing, TP_CH_BACKTEST_RESULTS, done, strlen(done), NOW),
			 TP_REJECT_NONE);
	assert_non_null(strstr(tp_ingest_job_json(ing, "job_1"), "completed"));
	assert_null(tp_ingest_job_json(ing, "job_2"));
	assert_null(tp_ingest_health_json(ing, &received));
	assert_int_equal(tp_ingest_message(ing, TP_CH_HEALTH, health, strlen(health), NOW),
			 TP_REJECT_NONE);
	assert_non_null(strstr(tp_ingest_health_json(ing, &received), "healthy"));
	assert_true(received == NOW);
	assert_int_equal(log.others, 3);
	/* A pattern on the health channel is refused. */
	char ev[512];
	pattern_json(ev, sizeof(ev), "AAPL", "Doji", 0.8, NOW, "pattern_detected");
	assert_int_equal(tp_ingest_message(ing, TP_CH_HEALTH, ev, strlen(ev), NOW),
			 TP_REJECT_WRONG_CHANNEL);
	tp_ingest_destroy(ing);
}

static void test_eviction_when_full(void **state)
{
	struct hooks_log log;
	struct tp_ingest *ing = make(&log, 3);
	char ev[512], sym[8];

	(void)state;
	for (int i = 0; i < 5; i++) {
		snprintf(sym, sizeof(sym), "S%d", i);
		pattern_json(ev, sizeof(ev), sym, "Doji", 0.8, NOW - 100 + i, "pattern_detected");
		assert_int_equal(feed(ing, ev, NOW), TP_REJECT_NONE);
	}
	assert_int_equal(tp_patterns_count(tp_ingest_patterns(ing)), 3);
	assert_int_equal(log.last_why, TP_REMOVED_EVICTED);
	/* The oldest two went. */
	assert_null(tp_patterns_get(tp_ingest_patterns(ing), "S0:Doji:1799999900"));
	assert_non_null(tp_patterns_get(tp_ingest_patterns(ing), "S4:Doji:1799999904"));
	tp_ingest_destroy(ing);
}

/* Cluster mode: stream entry n owns n * STRIDE ..; the event sits at its
 * slot whatever removals it caused, so instances that evicted or not
 * agree on it; local notices fit before the next entry or get none. */
static void test_entry_positions(void **state)
{
	struct hooks_log log;
	struct tp_ingest *ing = make(&log, 1);
	const struct tp_ingest_stats *st = tp_ingest_stats(ing);
	char ev[512];
	uint64_t floor = 7 * TP_INGEST_STRIDE;

	(void)state;
	tp_ingest_begin_entry(ing, 7);
	pattern_json(ev, sizeof(ev), "A", "Doji", 0.8, NOW - 10, "pattern_detected");
	assert_int_equal(feed(ing, ev, NOW), TP_REJECT_NONE);
	tp_ingest_end_entry(ing);
	assert_int_equal(st->seq, floor + TP_INGEST_EVENT_SLOT);
	/* Entry 9 evicts A (max 1): the removal first, the event at its slot. */
	floor = 9 * TP_INGEST_STRIDE;
	tp_ingest_begin_entry(ing, 9);
	pattern_json(ev, sizeof(ev), "B", "Doji", 0.8, NOW - 5, "pattern_detected");
	assert_int_equal(feed(ing, ev, NOW), TP_REJECT_NONE);
	assert_int_equal(log.last_why, TP_REMOVED_EVICTED);
	assert_int_equal(st->seq, floor + TP_INGEST_EVENT_SLOT);
	tp_ingest_end_entry(ing);
	/* Local notices until the next entry's floor, then none. */
	assert_int_equal(tp_ingest_bump_seq(ing), floor + TP_INGEST_EVENT_SLOT + 1);
	for (unsigned i = TP_INGEST_EVENT_SLOT + 2; i < TP_INGEST_STRIDE; i++)
		assert_int_equal(tp_ingest_bump_seq(ing), floor + i);
	assert_int_equal(tp_ingest_bump_seq(ing), 0);
	/* An expiry entry removes what is due, a seq each, from its floor. */
	tp_ingest_begin_entry(ing, 10);
	assert_int_equal(tp_ingest_expire_max(ing, NOW + 1e6, 10), 1);
	tp_ingest_end_entry(ing);
	assert_int_equal(st->seq, 10 * TP_INGEST_STRIDE + 1);
	/* A new epoch starts again. */
	tp_ingest_reset_seq(ing, 0);
	assert_int_equal(tp_ingest_bump_seq(ing), 1);
	tp_ingest_destroy(ing);
}

static void test_create_oom(void **state)
{
	struct hooks_log log;

	(void)state;
	for (size_t n = 1; n < 40; n++) {
		tp_alloc_fail_at(n);
		struct tp_ingest *ing = make(&log, 10);
		tp_alloc_fail_at(0);
		tp_ingest_destroy(ing);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_upsert_replace_withdraw),
		TP_TEST(test_rejections_counted_and_isolated),
		TP_TEST(test_response_cache_coherence),
		TP_TEST(test_warm_start_skips_hooks),
		TP_TEST(test_jobs_and_health),
		TP_TEST(test_eviction_when_full),
		TP_TEST(test_entry_positions),
		TP_TEST(test_create_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
