/*
 * test_patterns.c - the pattern store: upsert/replace/remove, expiry,
 * eviction, every scan filter, sort and paging rule, index use, a
 * randomised comparison against a brute-force scan, and OOM on upsert.
 *
 * Filters are built by filling struct tp_filter directly (sorted lists, as
 * filter.h requires), so these tests do not depend on query parsing.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/dict.h"
#include "tickpush/filter.h"
#include "tickpush/patterns.h"
#include "tickpush/query.h"
#include "tickpush/render.h"
#include "tickpush/buf.h"

static char ind_json[] = "{\"relative_strength\":1.4,\"note\":\"x\"}";

#define NOW 1000000.0

static void mkp(struct tp_pattern *p, const char *sym, const char *type,
		double conf, double det, double exp)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->symbol, sizeof(p->symbol), "%s", sym);
	snprintf(p->pattern_type, sizeof(p->pattern_type), "%s", type);
	snprintf(p->id, sizeof(p->id), "%s:%s:%lld", sym, type, (long long)det);
	p->confidence = conf;
	p->detected_at = det;
	p->expires_at = exp;
	p->current_price = 100;
	p->rs = 1.0;
	p->rvol = 1.0;
	p->rsi = 50.0;
	p->tier = TP_TIER_DAILY;
	p->indicators_json = ind_json;
}

/* ---- removal log ------------------------------------------------------ */

#define LOG_MAX 64
struct rmlog {
	size_t n;
	char ids[LOG_MAX][TP_PATTERN_ID_MAX + 1];
	enum tp_removal why[LOG_MAX];
	double conf[LOG_MAX];
	bool json_ok[LOG_MAX];
};

static void on_removed(const struct tp_pattern *p, enum tp_removal why,
		       void *ud)
{
	struct rmlog *l = ud;

	if (l->n >= LOG_MAX)
		return;
	snprintf(l->ids[l->n], sizeof(l->ids[0]), "%s", p->id);
	l->why[l->n] = why;
	l->conf[l->n] = p->confidence;
	l->json_ok[l->n] = p->indicators_json && !strcmp(p->indicators_json, ind_json);
	l->n++;
}

static struct tp_patterns *mkstore(size_t max, struct rmlog *log)
{
	struct tp_patterns_opts o = { .max_patterns = max,
				      .on_removed = log ? on_removed : NULL,
				      .ud = log };
	struct tp_patterns *ps = tp_patterns_create(&o);

	assert_non_null(ps);
	return ps;
}

/* ---- filter / query helpers ------------------------------------------- */

/* Inserts s keeping the list sorted and deduplicated (filter.h invariant). */
static void list_add(char ***list, size_t *n, const char *s, bool nocase)
{
	size_t i = 0;
	char **l;

	while (i < *n) {
		int c = nocase ? strcasecmp(s, (*list)[i]) : strcmp(s, (*list)[i]);

		if (c == 0)
			return;
		if (c < 0)
			break;
		i++;
	}
	l = tp_realloc(*list, (*n + 1) * sizeof(*l));
	assert_non_null(l);
	memmove(l + i + 1, l + i, (*n - i) * sizeof(*l));
	l[i] = tp_strdup(s);
	assert_non_null(l[i]);
	*list = l;
	(*n)++;
}

static void q_init(struct tp_scan_query *q)
{
	memset(q, 0, sizeof(*q));
	tp_filter_init(&q->filter);
	q->filter.confidence_min = 0;
	q->page = 1;
	q->per_page = 100;
	q->sort_by = TP_SORT_CONFIDENCE;
	q->ascending = false;
}

static void q_sym(struct tp_scan_query *q, const char *s)
{
	list_add(&q->filter.symbols, &q->filter.n_symbols, s, false);
}

static void q_type(struct tp_scan_query *q, const char *s)
{
	list_add(&q->filter.pattern_types, &q->filter.n_pattern_types, s, true);
}

static void q_sector(struct tp_scan_query *q, const char *s)
{
	list_add(&q->filter.sectors, &q->filter.n_sectors, s, true);
}

static size_t scan_total(struct tp_patterns *ps, struct tp_scan_query *q,
			 double now)
{
	struct tp_scan_result r;

	assert_int_equal(tp_patterns_scan(ps, q, now, &r), TP_OK);
	tp_scan_result_cleanup(&r);
	return r.total;
}

/* True if the page holds a row with this id. */
static bool has_row(const struct tp_scan_result *r, const char *id)
{
	for (size_t i = 0; i < r->n_rows; i++)
		if (!strcmp(r->rows[i]->id, id))
			return true;
	return false;
}

/* ---- basic store behaviour ------------------------------------------- */

static void test_upsert_get_replace(void **state)
{
	struct rmlog log = { 0 };
	struct tp_patterns *ps = mkstore(100, &log);
	struct tp_pattern p;
	const struct tp_pattern *g;
	struct tp_scan_query q;
	struct tp_scan_result r;

	(void)state;
	mkp(&p, "AAPL", "Weekly_Breakout", 0.85, NOW - 10, NOW + 3600);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	assert_int_equal(tp_patterns_count(ps), 1);
	g = tp_patterns_get(ps, p.id);
	assert_non_null(g);
	assert_ptr_not_equal(g, &p);
	assert_ptr_not_equal(g->indicators_json, ind_json); /* deep copy */
	assert_string_equal(g->indicators_json, ind_json);
	assert_string_equal(g->symbol, "AAPL");
	assert_true(g->confidence == 0.85);
	assert_null(tp_patterns_get(ps, "MSFT:Bull_Flag:1"));

	/* Same id again: replaces, old version reported before it is freed. */
	p.confidence = 0.42;
	p.rs = 2.5;
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	assert_int_equal(tp_patterns_count(ps), 1);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.why[0], TP_REMOVED_REPLACED);
	assert_true(log.conf[0] == 0.85);
	assert_true(log.json_ok[0]);
	g = tp_patterns_get(ps, p.id);
	assert_true(g->confidence == 0.42 && g->rs == 2.5);

	/* The confidence index follows the replacement. */
	q_init(&q);
	q.filter.confidence_min = 0.8;
	assert_int_equal(scan_total(ps, &q, NOW), 0);
	q.filter.confidence_min = 0.4;
	assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
	assert_int_equal(r.total, 1);
	assert_int_equal(r.n_rows, 1);
	assert_ptr_equal(r.rows[0], g);
	tp_scan_result_cleanup(&r);
	tp_filter_cleanup(&q.filter);

	/* Already expired (expires_at <= now): refused, store unchanged. */
	mkp(&p, "MSFT", "Bull_Flag", 0.9, NOW - 100, NOW);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_ERR_INVAL);
	p.expires_at = NOW - 1;
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_ERR_INVAL);
	p.expires_at = NAN;
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_ERR_INVAL);
	assert_int_equal(tp_patterns_count(ps), 1);
	assert_null(tp_patterns_get(ps, p.id));
	assert_int_equal(log.n, 1);

	tp_patterns_destroy(ps); /* no callbacks on destroy */
	assert_int_equal(log.n, 1);
	tp_patterns_destroy(NULL);
}

static void test_remove(void **state)
{
	struct rmlog log = { 0 };
	struct tp_patterns *ps = mkstore(100, &log);
	struct tp_pattern p;
	struct tp_scan_query q;
	struct tp_scan_result r;

	(void)state;
	mkp(&p, "AAPL", "Bull_Flag", 0.9, NOW - 5, NOW + 60);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	mkp(&p, "AAPL", "Doji", 0.7, NOW - 6, NOW + 60);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	assert_int_equal(tp_patterns_remove(ps, "AAPL:Bull_Flag:999995"), TP_OK);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.why[0], TP_REMOVED_WITHDRAWN);
	assert_string_equal(log.ids[0], "AAPL:Bull_Flag:999995");
	assert_int_equal(tp_patterns_remove(ps, "AAPL:Bull_Flag:999995"),
			 TP_ERR_NOTFOUND);
	assert_int_equal(tp_patterns_remove(ps, "nope"), TP_ERR_NOTFOUND);
	assert_int_equal(tp_patterns_count(ps), 1);
	assert_null(tp_patterns_get(ps, "AAPL:Bull_Flag:999995"));
	assert_non_null(tp_patterns_get(ps, "AAPL:Doji:999994"));

	/* The type index no longer yields the removed record. */
	q_init(&q);
	q_type(&q, "bull_flag");
	assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
	assert_int_equal(r.total, 0);
	assert_int_equal(r.examined, 0);
	tp_scan_result_cleanup(&r);
	tp_filter_cleanup(&q.filter);

	/* Last record of a symbol gone: its symbol index is empty too. */
	assert_int_equal(tp_patterns_remove(ps, "AAPL:Doji:999994"), TP_OK);
	q_init(&q);
	q_sym(&q, "AAPL");
	assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
	assert_int_equal(r.total, 0);
	assert_int_equal(r.examined, 0);
	tp_scan_result_cleanup(&r);
	tp_filter_cleanup(&q.filter);
	/* And it can come back. */
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	q_init(&q);
	q_sym(&q, "AAPL");
	assert_int_equal(scan_total(ps, &q, NOW), 1);
	tp_filter_cleanup(&q.filter);
	tp_patterns_destroy(ps);
}

static void test_expire(void **state)
{
	struct rmlog log = { 0 };
	struct tp_patterns *ps = mkstore(100, &log);
	struct tp_pattern p;
	static const double exps[] = { 50, 10, 40, 20, 30, 10.5 };
	char sym[TP_SYMBOL_MAX + 1];

	(void)state;
	assert_true(tp_patterns_next_expiry(ps) == 0);
	assert_int_equal(tp_patterns_expire(ps, NOW + 1e9), 0);
	for (size_t i = 0; i < TP_ARRAY_SIZE(exps); i++) {
		snprintf(sym, sizeof(sym), "S%zu", i);
		mkp(&p, sym, "Doji", 0.6, NOW - (double)i, NOW + exps[i]);
		assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	}
	assert_true(tp_patterns_next_expiry(ps) == NOW + 10);

	/* Nothing is due yet. */
	assert_int_equal(tp_patterns_expire(ps, NOW + 9.99), 0);
	assert_int_equal(log.n, 0);

	/* expires_at <= now is due: 10 and 10.5 and 20 go, in expiry order. */
	assert_int_equal(tp_patterns_expire(ps, NOW + 20), 3);
	assert_int_equal(log.n, 3);
	assert_string_equal(log.ids[0], "S1:Doji:999999");
	assert_string_equal(log.ids[1], "S5:Doji:999995");
	assert_string_equal(log.ids[2], "S3:Doji:999997");
	for (size_t i = 0; i < log.n; i++) {
		assert_int_equal(log.why[i], TP_REMOVED_EXPIRED);
		assert_true(log.json_ok[i]);
	}
	assert_int_equal(tp_patterns_count(ps), 3);
	assert_int_equal(tp_patterns_expired_total(ps), 3);
	assert_true(tp_patterns_next_expiry(ps) == NOW + 30);
	assert_null(tp_patterns_get(ps, "S1:Doji:999999"));

	/* A withdrawn record is not counted as expired. */
	assert_int_equal(tp_patterns_remove(ps, "S2:Doji:999998"), TP_OK);
	assert_true(tp_patterns_next_expiry(ps) == NOW + 30);
	assert_int_equal(tp_patterns_expire(ps, NOW + 1000), 2);
	assert_string_equal(log.ids[4], "S4:Doji:999996");
	assert_string_equal(log.ids[5], "S0:Doji:1000000");
	assert_int_equal(tp_patterns_expired_total(ps), 5);
	assert_int_equal(tp_patterns_count(ps), 0);
	assert_true(tp_patterns_next_expiry(ps) == 0);

	/* A replacement moves the record in the expiry order. */
	mkp(&p, "A", "Doji", 0.6, NOW, NOW + 100);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	mkp(&p, "B", "Doji", 0.6, NOW, NOW + 200);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	mkp(&p, "A", "Doji", 0.6, NOW, NOW + 300);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	assert_true(tp_patterns_next_expiry(ps) == NOW + 200);
	assert_int_equal(tp_patterns_expire(ps, NOW + 250), 1);
	assert_non_null(tp_patterns_get(ps, "A:Doji:1000000"));
	tp_patterns_destroy(ps);
}

static void test_evict_oldest(void **state)
{
	struct rmlog log = { 0 };
	struct tp_patterns *ps = mkstore(3, &log);
	struct tp_pattern p;

	(void)state;
	mkp(&p, "A", "Doji", 0.6, NOW - 100, NOW + 500);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	mkp(&p, "B", "Doji", 0.6, NOW - 300, NOW + 500);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	mkp(&p, "C", "Doji", 0.6, NOW - 200, NOW + 500);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	assert_int_equal(tp_patterns_evictions(ps), 0);
	assert_int_equal(log.n, 0);

	/* Full: a new id evicts the smallest detected_at (B). */
	mkp(&p, "D", "Doji", 0.6, NOW - 50, NOW + 500);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	assert_int_equal(tp_patterns_count(ps), 3);
	assert_int_equal(tp_patterns_evictions(ps), 1);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.why[0], TP_REMOVED_EVICTED);
	assert_string_equal(log.ids[0], "B:Doji:999700");
	assert_null(tp_patterns_get(ps, "B:Doji:999700"));

	/* Replacing an existing id in a full store evicts nothing. */
	mkp(&p, "C", "Doji", 0.9, NOW - 200, NOW + 500);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	assert_int_equal(tp_patterns_evictions(ps), 1);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.why[1], TP_REMOVED_REPLACED);
	assert_int_equal(tp_patterns_count(ps), 3);

	/* A newcomer older than everyone still gets in; the oldest stored
	 * record (C, detected NOW-200) leaves. */
	mkp(&p, "E", "Doji", 0.6, NOW - 1000, NOW + 500);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	assert_int_equal(tp_patterns_evictions(ps), 2);
	assert_string_equal(log.ids[2], "C:Doji:999800");
	assert_non_null(tp_patterns_get(ps, "E:Doji:999000"));
	/* ...and is itself next in line. */
	mkp(&p, "F", "Doji", 0.6, NOW - 10, NOW + 500);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	assert_string_equal(log.ids[3], "E:Doji:999000");
	assert_int_equal(tp_patterns_evictions(ps), 3);
	assert_int_equal(tp_patterns_expired_total(ps), 0);
	assert_int_equal(tp_patterns_count(ps), 3);
	assert_non_null(tp_patterns_get(ps, "A:Doji:999900"));
	assert_non_null(tp_patterns_get(ps, "D:Doji:999950"));
	assert_non_null(tp_patterns_get(ps, "F:Doji:999990"));
	tp_patterns_destroy(ps);
}

/* ---- scan filters ----------------------------------------------------- */

struct row {
	const char *sym, *type, *sector;
	double conf, rs, rvol, rsi;
	enum tp_tier tier;
};

static const struct row rows_fixture[] = {
	{ "AAPL", "Weekly_Breakout", "Information Technology", 0.90, 1.4, 2.1, 65, TP_TIER_DAILY },
	{ "AAPL", "Bull_Flag", "Information Technology", 0.60, 0.8, 1.0, 45, TP_TIER_INTRADAY },
	{ "MSFT", "Weekly_Breakout", "Information Technology", 0.75, 1.1, 0.5, 72, TP_TIER_COMBO },
	{ "XOM", "Doji", "Energy", 0.55, 2.0, 3.0, 30, TP_TIER_DAILY },
	{ "JPM", "Hammer", "Financials", 0.95, 0.9, 1.5, 80, TP_TIER_INTRADAY },
	{ "ZZZZ", "Hammer", "", 0.70, 1.0, 1.0, 50, TP_TIER_UNKNOWN },
};

static struct tp_patterns *fixture_store(void)
{
	struct tp_patterns *ps = mkstore(100, NULL);
	struct tp_pattern p;

	for (size_t i = 0; i < TP_ARRAY_SIZE(rows_fixture); i++) {
		const struct row *w = &rows_fixture[i];

		mkp(&p, w->sym, w->type, w->conf, NOW - 100 - (double)i,
		    NOW + 3600);
		snprintf(p.sector, sizeof(p.sector), "%s", w->sector);
		p.rs = w->rs;
		p.rvol = w->rvol;
		p.rsi = w->rsi;
		p.tier = w->tier;
		assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	}
	return ps;
}

/* Scans and checks the result is exactly the fixture rows in `want`
 * (a string of row indexes, e.g. "024"). */
static void expect_rows(struct tp_patterns *ps, struct tp_scan_query *q,
			const char *want)
{
	struct tp_scan_result r;

	assert_int_equal(tp_patterns_scan(ps, q, NOW, &r), TP_OK);
	assert_int_equal(r.total, strlen(want));
	assert_int_equal(r.n_rows, strlen(want));
	for (const char *c = want; *c; c++) {
		const struct row *w = &rows_fixture[*c - '0'];
		char id[TP_PATTERN_ID_MAX + 1];

		snprintf(id, sizeof(id), "%s:%s:%lld", w->sym, w->type,
			 (long long)(NOW - 100 - (*c - '0')));
		assert_true(has_row(&r, id));
	}
	tp_scan_result_cleanup(&r);
	tp_filter_cleanup(&q->filter);
	q_init(q);
}

static void test_scan_filters(void **state)
{
	struct tp_patterns *ps = fixture_store();
	struct tp_scan_query q;

	(void)state;
	q_init(&q);
	expect_rows(ps, &q, "012345");

	q_sym(&q, "AAPL");
	expect_rows(ps, &q, "01");
	q_sym(&q, "AAPL");
	q_sym(&q, "JPM");
	q_sym(&q, "NONE");
	expect_rows(ps, &q, "014");

	/* Types are case-insensitive. */
	q_type(&q, "weekly_BREAKOUT");
	expect_rows(ps, &q, "02");
	q_type(&q, "HAMMER");
	q_type(&q, "doji");
	expect_rows(ps, &q, "345");
	q_type(&q, "Bull_Flag");
	q_sym(&q, "MSFT");
	expect_rows(ps, &q, "");

	q.filter.confidence_min = 0.75;
	expect_rows(ps, &q, "024");
	q.filter.confidence_min = 0.5; /* the documented default */
	expect_rows(ps, &q, "012345");
	q.filter.confidence_min = 0.951;
	expect_rows(ps, &q, "");

	q.filter.rs_min = 1.1;
	expect_rows(ps, &q, "023");
	q.filter.vol_min = 1.5;
	expect_rows(ps, &q, "034");
	q.filter.rsi_min = 45;
	q.filter.rsi_max = 65;
	expect_rows(ps, &q, "015");
	q.filter.rsi_min = 72;
	q.filter.rsi_max = 100;
	expect_rows(ps, &q, "24");

	q.filter.tier_mask = TP_TIER_BIT(TP_TIER_DAILY);
	expect_rows(ps, &q, "03");
	q.filter.tier_mask = TP_TIER_BIT(TP_TIER_INTRADAY) | TP_TIER_BIT(TP_TIER_COMBO);
	expect_rows(ps, &q, "124");

	/* Sectors are case-insensitive; a symbol without a sector never
	 * matches a sector filter. */
	q_sector(&q, "information technology");
	expect_rows(ps, &q, "012");
	q_sector(&q, "Energy");
	q_sector(&q, "FINANCIALS");
	expect_rows(ps, &q, "34");

	/* Everything at once. */
	q_sym(&q, "AAPL");
	q_sym(&q, "MSFT");
	q_type(&q, "weekly_breakout");
	q.filter.confidence_min = 0.7;
	q.filter.rs_min = 1.0;
	q.filter.rsi_min = 60;
	q_sector(&q, "Information Technology");
	q.filter.tier_mask = TP_TIER_BIT(TP_TIER_COMBO);
	expect_rows(ps, &q, "2");

	tp_filter_cleanup(&q.filter);
	tp_patterns_destroy(ps);
}

static void test_scan_skips_unswept_expired(void **state)
{
	struct tp_patterns *ps = mkstore(100, NULL);
	struct tp_pattern p;
	struct tp_scan_query q;
	struct tp_scan_result r;

	(void)state;
	mkp(&p, "A", "Doji", 0.9, NOW, NOW + 10);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	mkp(&p, "B", "Doji", 0.8, NOW, NOW + 20);
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	q_init(&q);
	assert_int_equal(scan_total(ps, &q, NOW + 9), 2);
	/* expires_at == now counts as expired, even before the sweep. */
	assert_int_equal(tp_patterns_scan(ps, &q, NOW + 10, &r), TP_OK);
	assert_int_equal(r.total, 1);
	assert_int_equal(r.n_rows, 1);
	assert_string_equal(r.rows[0]->symbol, "B");
	tp_scan_result_cleanup(&r);
	assert_int_equal(tp_patterns_count(ps), 2);
	assert_int_equal(scan_total(ps, &q, NOW + 25), 0);
	tp_filter_cleanup(&q.filter);
	tp_patterns_destroy(ps);
}

/* ---- sorting and paging ----------------------------------------------- */

static double key_of(const struct tp_pattern *p, enum tp_sort_key k)
{
	switch (k) {
	case TP_SORT_DETECTED_AT: return p->detected_at;
	case TP_SORT_RS: return p->rs;
	case TP_SORT_VOLUME: return p->rvol;
	case TP_SORT_CONFIDENCE: return p->confidence;
	default: return 0;
	}
}

/* The reference order: sort key, then detected_at desc, then id asc. */
static int ref_cmp(enum tp_sort_key k, bool asc, const struct tp_pattern *a,
		   const struct tp_pattern *b)
{
	int c;

	if (k == TP_SORT_SYMBOL) {
		c = strcmp(a->symbol, b->symbol);
		c = (c > 0) - (c < 0);
	} else {
		double x = key_of(a, k), y = key_of(b, k);

		c = (x > y) - (x < y);
	}
	if (c)
		return asc ? c : -c;
	if (a->detected_at != b->detected_at)
		return a->detected_at > b->detected_at ? -1 : 1;
	return strcmp(a->id, b->id);
}

static void test_scan_sort_keys(void **state)
{
	struct tp_patterns *ps = mkstore(1000, NULL);
	struct tp_pattern p;
	struct tp_scan_query q;
	static const char *const syms[] = { "MSFT", "AAPL", "XOM", "JPM", "GE" };
	char sym[16];

	(void)state;
	for (int i = 0; i < 60; i++) {
		snprintf(sym, sizeof(sym), "%s", syms[i % 5]);
		mkp(&p, sym, i % 2 ? "Doji" : "Hammer", 0.5 + (i * 7 % 5) / 10.0,
		    NOW - (i * 13 % 17), NOW + 100);
		snprintf(p.id, sizeof(p.id), "%s:%d", sym, i);
		p.rs = (i * 3 % 7) * 0.5;
		p.rvol = (i * 5 % 4) * 0.7;
		assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	}
	for (int k = TP_SORT_CONFIDENCE; k <= TP_SORT_VOLUME; k++) {
		for (int asc = 0; asc <= 1; asc++) {
			struct tp_scan_result r;

			q_init(&q);
			q.sort_by = (enum tp_sort_key)k;
			q.ascending = asc;
			assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
			assert_int_equal(r.total, 60);
			assert_int_equal(r.n_rows, 60);
			for (size_t i = 1; i < r.n_rows; i++)
				assert_true(ref_cmp(q.sort_by, asc, r.rows[i - 1],
						    r.rows[i]) < 0);
			/* The key itself is monotone in the asked direction. */
			if (k == TP_SORT_SYMBOL) {
				assert_string_equal(r.rows[0]->symbol,
						    asc ? "AAPL" : "XOM");
			} else {
				double first = key_of(r.rows[0], q.sort_by);
				double last = key_of(r.rows[59], q.sort_by);

				assert_true(asc ? first < last : first > last);
			}
			tp_scan_result_cleanup(&r);
			tp_filter_cleanup(&q.filter);
		}
	}
	tp_patterns_destroy(ps);
}

static void test_scan_tie_rule(void **state)
{
	struct tp_patterns *ps = mkstore(100, NULL);
	struct tp_pattern p;
	struct tp_scan_query q;
	/* Equal confidence; two share detected_at, so the id decides. */
	static const struct { const char *id; double det; } w[] = {
		{ "b", NOW - 5 }, { "a", NOW - 5 }, { "c", NOW - 1 }, { "d", NOW - 9 },
	};

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(w); i++) {
		mkp(&p, "T", "Doji", 0.8, w[i].det, NOW + 100);
		snprintf(p.id, sizeof(p.id), "%s", w[i].id);
		assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	}
	mkp(&p, "T", "Doji", 0.9, NOW - 100, NOW + 100);
	snprintf(p.id, sizeof(p.id), "top");
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);

	for (int asc = 0; asc <= 1; asc++) {
		struct tp_scan_result r;
		static const char *const ties[] = { "c", "a", "b", "d" };

		q_init(&q);
		q.ascending = asc;
		assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
		assert_int_equal(r.n_rows, 5);
		/* The tie order is the same in both directions. */
		for (size_t i = 0; i < 4; i++)
			assert_string_equal(r.rows[asc ? i : i + 1]->id, ties[i]);
		assert_string_equal(r.rows[asc ? 4 : 0]->id, "top");
		tp_scan_result_cleanup(&r);
		tp_filter_cleanup(&q.filter);
	}
	tp_patterns_destroy(ps);
}

static void test_scan_paging(void **state)
{
	struct tp_patterns *ps = mkstore(1000, NULL);
	struct tp_pattern p;
	struct tp_scan_query q;
	struct tp_scan_result all, r;
	char sym[16];

	(void)state;
	for (int i = 0; i < 250; i++) {
		snprintf(sym, sizeof(sym), "S%d", i);
		mkp(&p, sym, "Doji", (i % 50) / 50.0, NOW - i, NOW + 100);
		assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	}
	q_init(&q);
	q.per_page = 100;
	q.page = 1;
	assert_int_equal(tp_patterns_scan(ps, &q, NOW, &all), TP_OK);
	assert_int_equal(all.total, 250);
	assert_int_equal(all.n_rows, 100);

	/* per_page 1 walks the same order one row at a time. */
	q.per_page = 1;
	for (unsigned pg = 1; pg <= 100; pg += 33) {
		q.page = pg;
		assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
		assert_int_equal(r.total, 250);
		assert_int_equal(r.n_rows, 1);
		assert_ptr_equal(r.rows[0], all.rows[pg - 1]);
		tp_scan_result_cleanup(&r);
	}
	tp_scan_result_cleanup(&all);

	/* Pages of 100: 100, 100, 50 (last partial), then empty. */
	q.per_page = 100;
	q.page = 3;
	assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
	assert_int_equal(r.total, 250);
	assert_int_equal(r.n_rows, 50);
	/* The last page ends with the overall last row: conf 0, oldest. */
	assert_string_equal(r.rows[49]->symbol, "S200");
	tp_scan_result_cleanup(&r);
	q.page = 4;
	assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
	assert_int_equal(r.total, 250);
	assert_int_equal(r.n_rows, 0);
	tp_scan_result_cleanup(&r);
	q.page = 4000000000u; /* far past the end, no overflow */
	assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
	assert_int_equal(r.total, 250);
	assert_int_equal(r.n_rows, 0);
	tp_scan_result_cleanup(&r);

	/* Consecutive pages of 30 tile the whole result without overlap. */
	{
		const struct tp_pattern *seen[250];
		size_t n = 0;

		q.per_page = 30;
		for (q.page = 1; q.page <= 9; q.page++) {
			assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
			assert_int_equal(r.n_rows, q.page < 9 ? 30 : 10);
			for (size_t i = 0; i < r.n_rows; i++) {
				if (n)
					assert_true(ref_cmp(TP_SORT_CONFIDENCE, false,
							    seen[n - 1], r.rows[i]) < 0);
				seen[n++] = r.rows[i];
			}
			tp_scan_result_cleanup(&r);
		}
		assert_int_equal(n, 250);
	}
	tp_filter_cleanup(&q.filter);
	tp_patterns_destroy(ps);
}

/* ---- index use -------------------------------------------------------- */

static void test_scan_uses_indexes(void **state)
{
	struct tp_patterns *ps = mkstore(20000, NULL);
	struct tp_pattern p;
	struct tp_scan_query q;
	struct tp_scan_result r;
	static const char *const types[] = { "Doji", "Hammer", "Bull_Flag",
		"Gap_Fill", "Weekly_Breakout", "Engulfing", "Support_Test",
		"Volume_Spike", "Trendline_Hold", "Reversal_Signal" };
	char sym[16];

	(void)state;
	/* 10,000 patterns over 500 symbols (20 each), 10 types (1,000 each),
	 * confidence c(i)/100 + 0.001 with c(i) = (i + i/500) % 100, so each
	 * confidence bucket holds 100 and a symbol's records spread over 20. */
	for (int i = 0; i < 10000; i++) {
		snprintf(sym, sizeof(sym), "SYM%d", i % 500);
		mkp(&p, sym, types[(i / 500) % 10],
		    ((i + i / 500) % 100) / 100.0 + 0.001, NOW - i, NOW + 3600);
		assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	}
	assert_int_equal(tp_patterns_count(ps), 10000);

	q_init(&q);
	q_sym(&q, "SYM42");
	assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
	assert_int_equal(r.total, 20);
	assert_int_equal(r.examined, 20);
	tp_scan_result_cleanup(&r);

	/* Two symbols and the default confidence: still only their records. */
	q_sym(&q, "SYM7");
	q.filter.confidence_min = 0.5;
	assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
	assert_int_equal(r.examined, 40);
	{
		size_t want = 0;

		for (int j = 0; j < 20; j++)
			want += ((42 + j) % 100 >= 50) + ((7 + j) % 100 >= 50);
		assert_true(want > 0);
		assert_int_equal(r.total, want);
	}
	tp_scan_result_cleanup(&r);
	tp_filter_cleanup(&q.filter);

	/* One type: its 1,000 records, any case. */
	q_init(&q);
	q_type(&q, "GAP_FILL");
	assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
	assert_int_equal(r.total, 1000);
	assert_int_equal(r.examined, 1000);
	tp_scan_result_cleanup(&r);
	/* With a selective confidence the buckets are smaller: 5 x 100. */
	q.filter.confidence_min = 0.95;
	assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
	assert_int_equal(r.examined, 500);
	assert_int_equal(r.total, 50);
	tp_scan_result_cleanup(&r);
	tp_filter_cleanup(&q.filter);

	/* Confidence only. */
	q_init(&q);
	q.filter.confidence_min = 0.9;
	q.per_page = 5;
	assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
	assert_int_equal(r.examined, 1000);
	assert_int_equal(r.total, 1000);
	assert_int_equal(r.n_rows, 5);
	assert_true(r.rows[0]->confidence > 0.99);
	tp_scan_result_cleanup(&r);
	tp_filter_cleanup(&q.filter);

	/* Unknown symbol: nothing to look at. */
	q_init(&q);
	q_sym(&q, "NOPE");
	assert_int_equal(tp_patterns_scan(ps, &q, NOW, &r), TP_OK);
	assert_int_equal(r.examined, 0);
	assert_int_equal(r.total, 0);
	assert_null(r.rows);
	tp_scan_result_cleanup(&r);
	tp_filter_cleanup(&q.filter);
	tp_patterns_destroy(ps);
}

/* ---- randomised comparison with a brute-force scan --------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static unsigned rndn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

struct collect {
	const struct tp_pattern **v;
	size_t n;
};

static void collect_cb(const struct tp_pattern *p, void *ud)
{
	struct collect *c = ud;

	c->v[c->n++] = p;
}

static struct { enum tp_sort_key k; bool asc; } ref_ctx;

static int ref_qsort_cmp(const void *a, const void *b)
{
	return ref_cmp(ref_ctx.k, ref_ctx.asc, *(const struct tp_pattern *const *)a,
		       *(const struct tp_pattern *const *)b);
}

/*
 * npat random records with coarse values (sort keys tie often), then nq
 * random queries, each checked against a full qsort of a brute-force
 * filter: same total, same page, same order. long_syms: symbols share
 * their first 8 bytes (the scan array's symbol prefix ties) and between
 * queries records are withdrawn and replaced (the scan array's slots
 * move).
 */
static void brute_force(int npat, int nq, bool long_syms, uint64_t seed)
{
	static const char *const types[] = { "Doji", "Hammer", "Bull_Flag",
		"Gap_Fill", "Weekly_Breakout", "Engulfing" };
	static const char *const sectors[] = { "", "Energy", "Financials",
		"Utilities", "Information Technology" };
	struct tp_patterns *ps = mkstore((size_t)npat * 2, NULL);
	struct tp_pattern p;
	struct collect all = { 0 };
	const struct tp_pattern **match;
	const char *symprefix = long_syms ? "LONGSYMB" : "S";
	char sym[TP_SYMBOL_MAX + 1], type[TP_PATTERN_TYPE_MAX + 1];

	rng_state = seed;
	for (int i = 0; i < npat; i++) {
		snprintf(sym, sizeof(sym), "%s%u", symprefix, rndn(120));
		/* Coarse values so sort keys tie often. */
		mkp(&p, sym, types[rndn(6)], rndn(21) / 20.0, NOW - rndn(50),
		    NOW + 1 + rndn(400));
		snprintf(p.id, sizeof(p.id), "%s:%u", sym, rndn(1000000));
		snprintf(p.sector, sizeof(p.sector), "%s", sectors[rndn(5)]);
		p.rs = rndn(8) * 0.25;
		p.rvol = rndn(6) * 0.5;
		p.rsi = rndn(11) * 10.0;
		p.tier = (enum tp_tier)rndn(4);
		assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	}
	all.v = tp_calloc(tp_patterns_count(ps) * 2, sizeof(*all.v));
	match = tp_calloc(tp_patterns_count(ps) * 2, sizeof(*match));
	assert_non_null(all.v);
	assert_non_null(match);

	for (int qi = 0; qi < nq; qi++) {
		struct tp_scan_query q;
		struct tp_scan_result r;
		double now = NOW + rndn(300); /* some rows expired, not swept */
		size_t nm = 0, off;

		if (long_syms && qi) {
			/* Withdraw one record, replace another. */
			all.n = 0;
			tp_patterns_foreach(ps, collect_cb, &all);
			assert_int_equal(tp_patterns_remove(ps, all.v[rndn((unsigned)all.n)]->id), TP_OK);
			all.n = 0;
			tp_patterns_foreach(ps, collect_cb, &all);
			p = *all.v[rndn((unsigned)all.n)];
			p.indicators_json = NULL;
			p.confidence = rndn(21) / 20.0;
			p.rs = rndn(8) * 0.25;
			assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
		}
		all.n = 0;
		tp_patterns_foreach(ps, collect_cb, &all);
		assert_int_equal(all.n, tp_patterns_count(ps));
		q_init(&q);
		q.filter.confidence_min = rndn(3) ? rndn(21) / 20.0 : 0;
		if (!rndn(3))
			for (unsigned j = rndn(4) + 1; j; j--) {
				snprintf(sym, sizeof(sym), "%s%u", symprefix, rndn(130));
				q_sym(&q, sym);
			}
		if (!rndn(3))
			for (unsigned j = rndn(3) + 1; j; j--) {
				snprintf(type, sizeof(type), "%s", types[rndn(6)]);
				for (char *c = type; *c; c++)
					if (rndn(2))
						*c = (char)(*c ^ 0x20 * (*c >= 'A'));
				q_type(&q, type);
			}
		if (!rndn(4))
			q.filter.rs_min = rndn(8) * 0.25;
		if (!rndn(4))
			q.filter.vol_min = rndn(6) * 0.5;
		if (!rndn(4)) {
			q.filter.rsi_min = rndn(6) * 10.0;
			q.filter.rsi_max = q.filter.rsi_min + rndn(6) * 10.0;
		}
		if (!rndn(4))
			q.filter.tier_mask = 1u + rndn(15);
		if (!rndn(5))
			q_sector(&q, sectors[1 + rndn(4)]);
		q.sort_by = (enum tp_sort_key)rndn(5);
		q.ascending = rndn(2);
		q.per_page = 1 + rndn(100);
		q.page = 1 + rndn(rndn(2) ? 3 : 40);

		for (size_t i = 0; i < all.n; i++)
			if (all.v[i]->expires_at > now &&
			    tp_filter_match(&q.filter, all.v[i]))
				match[nm++] = all.v[i];
		ref_ctx.k = q.sort_by;
		ref_ctx.asc = q.ascending;
		qsort(match, nm, sizeof(*match), ref_qsort_cmp);

		assert_int_equal(tp_patterns_scan(ps, &q, now, &r), TP_OK);
		assert_int_equal(r.total, nm);
		assert_true(r.examined >= nm && r.examined <= all.n);
		off = (size_t)(q.page - 1) * q.per_page;
		assert_int_equal(r.n_rows,
				 off >= nm ? 0 : (nm - off < q.per_page ? nm - off : q.per_page));
		for (size_t i = 0; i < r.n_rows; i++)
			assert_ptr_equal(r.rows[i], match[off + i]);
		tp_scan_result_cleanup(&r);
		tp_filter_cleanup(&q.filter);
	}
	tp_free(all.v);
	tp_free(match);
	tp_patterns_destroy(ps);
}

static void test_scan_matches_brute_force(void **state)
{
	(void)state;
	brute_force(3000, 300, false, 0x9E3779B97F4A7C15ull);
}

/* 10,000 records as in the scan benchmark: broad filters take the scan
 * array, whose top-k must equal the full sort, ties included. */
static void test_scan_topk_large_with_ties(void **state)
{
	(void)state;
	brute_force(10000, 150, true, 0x2545F4914F6CDD1Dull);
}

/* ---- out of memory ---------------------------------------------------- */

/* Visits every record into a fingerprint: count, ids and confidences. */
static void sum_cb(const struct tp_pattern *p, void *ud)
{
	double *s = ud;

	s[0] += 1;
	s[1] += p->confidence * (double)(tp_hash_str(p->id) % 1000);
	s[2] += p->detected_at;
}

static void fingerprint(struct tp_patterns *ps, double fp[3])
{
	fp[0] = fp[1] = fp[2] = 0;
	tp_patterns_foreach(ps, sum_cb, fp);
}

/* Runs one upsert with the n-th allocation failing, for n = 1, 2, ...
 * until it succeeds; each failure must leave the store as it was. (The
 * stores here are too small for a dict to grow, so every injected failure
 * is one the upsert needs.) */
static void oom_upsert(struct tp_patterns *ps, struct rmlog *log,
		       const struct tp_pattern *p, size_t nsym)
{
	double before[3], after[3];
	size_t n;

	fingerprint(ps, before);
	for (n = 1;; n++) {
		size_t cnt = tp_patterns_count(ps), logn = log->n;
		struct tp_scan_query q;
		int rc;

		tp_alloc_fail_at(n);
		rc = tp_patterns_upsert(ps, p, NOW);
		if (tp_alloc_fail_at(0) < n) {
			assert_int_equal(rc, TP_OK);
			break;
		}
		assert_int_equal(rc, TP_ERR_NOMEM);
		assert_int_equal(tp_patterns_count(ps), cnt);
		assert_int_equal(log->n, logn);
		fingerprint(ps, after);
		assert_memory_equal(before, after, sizeof(before));
		/* Indexes intact: the symbol still yields exactly its records. */
		q_init(&q);
		q_sym(&q, p->symbol);
		assert_int_equal(scan_total(ps, &q, NOW), nsym);
		tp_filter_cleanup(&q.filter);
		q_init(&q);
		q_type(&q, p->pattern_type);
		assert_int_equal(scan_total(ps, &q, NOW) <= tp_patterns_count(ps), 1);
		tp_filter_cleanup(&q.filter);
	}
	assert_true(n > 1); /* at least one failure was injected */
	assert_non_null(tp_patterns_get(ps, p->id));
}

static void test_upsert_oom(void **state)
{
	struct rmlog log = { 0 };
	struct tp_patterns *ps = mkstore(4, &log);
	struct tp_pattern p;
	struct tp_scan_query q;

	(void)state;
	/* Into an empty store: dicts, heaps, first lists. */
	mkp(&p, "AAPL", "Doji", 0.7, NOW - 10, NOW + 60);
	oom_upsert(ps, &log, &p, 0);
	/* New symbol and new type. */
	mkp(&p, "MSFT", "Hammer", 0.8, NOW - 20, NOW + 60);
	oom_upsert(ps, &log, &p, 0);
	/* Existing symbol, existing type. */
	mkp(&p, "AAPL", "Hammer", 0.9, NOW - 30, NOW + 60);
	oom_upsert(ps, &log, &p, 1);
	/* Replacement of an existing id. */
	mkp(&p, "AAPL", "Doji", 0.95, NOW - 10, NOW + 90);
	oom_upsert(ps, &log, &p, 2);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.why[0], TP_REMOVED_REPLACED);
	mkp(&p, "GE", "Gap_Fill", 0.6, NOW - 5, NOW + 60);
	oom_upsert(ps, &log, &p, 0);
	assert_int_equal(tp_patterns_count(ps), 4);
	/* Full: a new id evicts only once it succeeds. */
	mkp(&p, "XOM", "Bull_Flag", 0.6, NOW - 1, NOW + 60);
	oom_upsert(ps, &log, &p, 0);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.why[1], TP_REMOVED_EVICTED);
	assert_string_equal(log.ids[1], "AAPL:Hammer:999970");
	assert_int_equal(tp_patterns_evictions(ps), 1);
	assert_int_equal(tp_patterns_count(ps), 4);

	/* Scan under OOM fails cleanly. */
	q_init(&q);
	for (size_t n = 1;; n++) {
		struct tp_scan_result r;
		int rc;

		tp_alloc_fail_at(n);
		rc = tp_patterns_scan(ps, &q, NOW, &r);
		if (tp_alloc_fail_at(0) < n) {
			assert_int_equal(rc, TP_OK);
			assert_int_equal(r.total, 4);
			tp_scan_result_cleanup(&r);
			break;
		}
		assert_int_equal(rc, TP_ERR_NOMEM);
		assert_null(r.rows);
		assert_int_equal(r.n_rows, 0);
		tp_scan_result_cleanup(&r);
	}
	tp_filter_cleanup(&q.filter);
	tp_patterns_destroy(ps);
}

static void test_create_rejects_zero(void **state)
{
	struct tp_patterns_opts o = { .max_patterns = 0 };

	(void)state;
	assert_null(tp_patterns_create(&o));
	for (size_t n = 1;; n++) {
		struct tp_patterns *ps;

		o.max_patterns = 10;
		tp_alloc_fail_at(n);
		ps = tp_patterns_create(&o);
		if (tp_alloc_fail_at(0) < n) {
			assert_non_null(ps);
			tp_patterns_destroy(ps);
			break;
		}
		assert_null(ps);
	}
}

/* Rows from the parts cached at insert equal a fresh tp_render_row. */
static void test_cached_row_parts(void **state)
{
	struct tp_patterns_opts o = {100, NULL, NULL};
	struct tp_patterns *ps = tp_patterns_create(&o);
	struct tp_pattern p;
	struct tp_buf a, b;

	(void)state;
	mkp(&p, "AAPL", "Weekly_Breakout", 0.857, NOW - 125, NOW + 7300);
	p.current_price = 150.25;
	p.price_change = -2.34;
	assert_int_equal(tp_patterns_upsert(ps, &p, NOW), TP_OK);
	const struct tp_pattern *stored = tp_patterns_get(ps, p.id);
	for (double t = NOW; t < NOW + 200; t += 37.5) {
		tp_buf_init(&a, 0);
		tp_buf_init(&b, 0);
		tp_render_row(&a, stored, t);
		tp_patterns_render_row(stored, t, &b);
		assert_string_equal(tp_buf_cstr(&a), tp_buf_cstr(&b));
		tp_buf_cleanup(&a);
		tp_buf_cleanup(&b);
	}
	tp_patterns_destroy(ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_cached_row_parts),
		TP_TEST(test_upsert_get_replace),
		TP_TEST(test_remove),
		TP_TEST(test_expire),
		TP_TEST(test_evict_oldest),
		TP_TEST(test_scan_filters),
		TP_TEST(test_scan_skips_unswept_expired),
		TP_TEST(test_scan_sort_keys),
		TP_TEST(test_scan_tie_rule),
		TP_TEST(test_scan_paging),
		TP_TEST(test_scan_uses_indexes),
		TP_TEST(test_scan_matches_brute_force),
		TP_TEST(test_scan_topk_large_with_ties),
		TP_TEST(test_upsert_oom),
		TP_TEST(test_create_rejects_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
