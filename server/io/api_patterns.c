/*
 * api_patterns.c - GET /api/patterns/{scan,stats,summary,health}.
 *
 * Everything here is answered from the in-process store; PostgreSQL is
 * never consulted for patterns. Scan results go through the response
 * cache, which stores ids rather than bytes: rows are rendered at response
 * time so "time"/"exp" are correct even on a cache hit. A cached entry that
 * names a pattern that has since expired (the sweep runs once a second) is
 * treated as a miss and recomputed, so a cached answer is never stale.
 */
#include <math.h>
#include <string.h>


#include "api.h"
#include "io.h"
#include "presets.h"
#include "tickpush/alloc.h"
#include "tickpush/clock.h"
#include "tickpush/dict.h"
#include "tickpush/log.h"
#include "tickpush/render.h"
#include "tickpush/scancache.h"

static const char scan_empty_shape[] =
	"\"patterns\":[],\"pagination\":{\"page\":1,\"per_page\":30,\"total\":0,\"pages\":0}";

/* ,"performance":{"api_response_time_ms":...,"source":...} */
static void put_performance(struct tp_buf *b, double elapsed_ms,
			    const char *source)
{
	tp_buf_json_key(b, "performance", false);
	tp_buf_json_open(b, "api_response_time_ms");
	tp_buf_json_fixed(b, elapsed_ms, 3);
	tp_buf_json_kv_str(b, "source", source);
	tp_buf_putc(b, '}');
}

static void put_stream(struct tp_buf *b, const struct tp_io *srv)
{
	tp_buf_json_key(b, "stream", true);
	tp_buf_json_open(b, "epoch");
	tp_buf_json_str(b, srv->epoch);
	tp_buf_json_kv_uint(b, "seq", tp_ingest_stats(srv->ingest)->seq);
	tp_buf_putc(b, '}');
}

/*
 * Runs a validated scan query at `now` and writes the 200 body into b.
 * Returns TP_OK, or TP_ERR_NOMEM (b then holds nothing useful).
 */
static int scan_render(struct tp_io *srv, const struct tp_scan_query *q,
		       double now, double mono_start, struct tp_buf *b)
{
	struct tp_scan_answer ans;
	double t0 = tp_mono(), query_ms;
	bool cached;

	if (tp_scancache_answer(srv->ingest, q, now, &ans)) {
		tp_scancache_done(&ans);
		return TP_ERR_NOMEM;
	}
	cached = ans.cached;
	query_ms = (tp_mono() - t0) * 1000.0;

	tp_scancache_render(&ans, q, now, b);
	/* The rendered body ends inside the outer object, after a comma. */
	tp_buf_json_key(b, "cache_info", true);
	tp_buf_json_open(b, "cached");
	tp_buf_json_bool(b, cached);
	tp_buf_json_kv_fixed(b, "query_time_ms", query_ms, 3);
	tp_buf_putc(b, '}');
	put_performance(b, (tp_mono() - mono_start) * 1000.0, "cache");
	tp_buf_putc(b, ',');
	put_stream(b, srv);
	tp_buf_putc(b, '}');
	tp_scancache_done(&ans);
	return b->oom ? TP_ERR_NOMEM : TP_OK;
}

/* ---- scans with preset_id: resolve the preset (presets.c), then scan ---- */

struct preset_scan {
	struct tp_io *srv;
	uint64_t ticket;
	struct tp_scan_query q;     /* explicit parameters of the request */
	double mono_start;
};

static void preset_scan_error(struct preset_scan *ps, int status, const char *msg,
			      const char *field)
{
	struct tp_buf b;
	struct tp_http_resp resp = {status, NULL, &b, NULL, 0};

	tp_buf_init(&b, 0);
	tp_http_error(&resp, status, msg, field, scan_empty_shape);
	tp_http_complete(ps->srv, ps->ticket, status, &b);
	tp_buf_cleanup(&b);
}

static void preset_resolved(int status, const struct tp_filter *filter,
			    const struct tp_errdetail *err, void *ud)
{
	struct preset_scan *ps = ud;
	struct tp_filter merged;
	struct tp_buf b;

	if (status != TP_OK) {
		tp_presets_complete_error(ps->srv, ps->ticket, status, err, scan_empty_shape);
		goto out;
	}
	/* Explicit request parameters override the preset's. */
	if (tp_filter_copy(&merged, filter)) {
		preset_scan_error(ps, 503, "Out of memory", NULL);
		goto out;
	}
	if (tp_filter_overlay(&merged, &ps->q.filter)) {
		tp_filter_cleanup(&merged);
		preset_scan_error(ps, 503, "Out of memory", NULL);
		goto out;
	}
	tp_filter_cleanup(&ps->q.filter);
	ps->q.filter = merged;
	tp_buf_init(&b, 0);
	if (scan_render(ps->srv, &ps->q, tp_now(), ps->mono_start, &b))
		preset_scan_error(ps, 503, "Out of memory", NULL);
	else
		tp_http_complete(ps->srv, ps->ticket, 200, &b);
	tp_buf_cleanup(&b);
out:
	tp_scan_query_cleanup(&ps->q);
	tp_free(ps);
}

static void scan_with_preset(const struct tp_http_req *req,
			     struct tp_http_resp *resp, struct tp_scan_query *q)
{
	struct tp_io *srv = req->srv;
	struct preset_scan *ps;
	long long uid;

	if (tp_http_require_user(req, resp, &uid)) {
		tp_buf_reset(resp->body);
		tp_http_error(resp, 401, "preset_id requires a signed-in user (Authorization: Bearer <token>)",
			      "preset_id", scan_empty_shape);
		tp_scan_query_cleanup(q);
		return;
	}
	if (!(ps = tp_calloc(1, sizeof(*ps)))) {
		tp_scan_query_cleanup(q);
		tp_http_error(resp, 503, "Out of memory", NULL, scan_empty_shape);
		return;
	}
	ps->srv = srv;
	ps->q = *q; /* takes ownership of the query's filter */
	ps->mono_start = req->mono_start;
	ps->ticket = tp_http_defer(req, resp);
	if (!ps->ticket || tp_presets_resolve(srv, uid, q->preset_id, preset_resolved, ps)) {
		if (ps->ticket)
			preset_scan_error(ps, 503, "Database unavailable", NULL);
		tp_scan_query_cleanup(&ps->q);
		tp_free(ps);
	}
}

void tp_api_patterns_scan(const struct tp_http_req *req,
			  struct tp_http_resp *resp)
{
	struct tp_scan_query q;
	struct tp_errdetail err = {{0}, NULL};

	TP_METRIC_INC(scans);
	if (tp_scan_query_from_params(req->query, &q, &err)) {
		tp_http_error(resp, 400, err.msg, err.field, scan_empty_shape);
		return;
	}
	if (q.preset_id) {
		scan_with_preset(req, resp, &q);
		return;
	}
	if (scan_render(req->srv, &q, req->now, req->mono_start, resp->body))
		tp_http_error(resp, 503, "Out of memory", NULL, scan_empty_shape);
	tp_scan_query_cleanup(&q);
}

void tp_api_patterns_stats(const struct tp_http_req *req,
			   struct tp_http_resp *resp)
{
	struct tp_io *srv = req->srv;
	const struct tp_ingest_stats *st = tp_ingest_stats(srv->ingest);
	struct tp_respcache *rc = tp_ingest_respcache(srv->ingest);
	size_t cached = tp_patterns_count(tp_ingest_patterns(srv->ingest));
	struct tp_buf *b = resp->body;

	tp_buf_json_open(b, "stats");
	tp_buf_json_open(b, "cached_patterns");
	tp_buf_json_uint(b, cached);
	tp_buf_json_kv_uint(b, "cache_hits", tp_respcache_hits(rc));
	tp_buf_json_kv_uint(b, "cache_misses", tp_respcache_misses(rc));
	tp_buf_json_kv_num(b, "cache_hit_ratio", tp_respcache_hit_ratio(rc));
	tp_buf_json_kv_uint(b, "events_processed", st->events_processed);
	tp_buf_json_kv_uint(b, "events_rejected", st->events_rejected);
	tp_buf_json_kv_time(b, "last_event_time", st->last_event_time);
	tp_buf_json_kv_uint(b, "expired_patterns_cleaned", st->expired_cleaned);
	tp_buf_json_kv_uint(b, "api_response_cache_size", tp_respcache_size(rc));
	tp_buf_json_kv_uint(b, "index_cache_size", cached);
	tp_buf_json_kv_num(b, "last_check", req->now);
	tp_buf_json_kv_fixed(b, "api_response_time_ms", tp_http_elapsed_ms(req), 3);
	tp_buf_putc(b, '}');
	tp_buf_json_kv_str(b, "status", cached ? "healthy" : "no_data");
	tp_buf_putc(b, '}');
}

/* ---- summary ---- */

struct counter {
	char name[TP_PATTERN_TYPE_MAX + 1];
	size_t count;
};

struct summary {
	double now;
	size_t total, high;
	struct tp_dict *types;   /* abbreviation -> struct counter */
	struct tp_dict *symbols; /* symbol -> struct counter */
	bool oom;
};

static void bump(struct summary *s, struct tp_dict *d, const char *name)
{
	struct counter *c = tp_dict_get(d, name);

	if (!c) {
		if (!(c = tp_calloc(1, sizeof(*c))) || tp_dict_set(d, name, c, NULL)) {
			tp_free(c);
			s->oom = true;
			return;
		}
		snprintf(c->name, sizeof(c->name), "%s", name);
	}
	c->count++;
}

static void summary_visit(const struct tp_pattern *p, void *ud)
{
	struct summary *s = ud;
	char abbr[16];

	if (p->expires_at <= s->now || p->confidence < 0.7 ||
	    p->detected_at < s->now - 3600)
		return;
	s->total++;
	if (p->confidence > 0.8)
		s->high++;
	tp_pattern_abbrev(p->pattern_type, abbr);
	bump(s, s->types, abbr);
	bump(s, s->symbols, p->symbol);
}

struct topn {
	const struct counter *top[10];
	size_t n, max;
	struct tp_buf *b;
	bool first;
};

static bool topn_visit(const char *key, void *value, void *ud)
{
	struct topn *t = ud;
	const struct counter *c = value;
	size_t i;

	(void)key;
	/* Insertion into a small sorted array: count desc, name asc. */
	for (i = t->n; i > 0; i--) {
		const struct counter *o = t->top[i - 1];

		if (o->count > c->count ||
		    (o->count == c->count && strcmp(o->name, c->name) < 0))
			break;
		if (i < t->max)
			t->top[i] = o;
	}
	if (i < t->max) {
		t->top[i] = c;
		if (t->n < t->max)
			t->n++;
	}
	return false;
}

static bool distribution_visit(const char *key, void *value, void *ud)
{
	struct topn *t = ud;
	const struct counter *c = value;

	tp_buf_json_key(t->b, key, t->first);
	tp_buf_json_uint(t->b, c->count);
	t->first = false;
	return false;
}

static bool free_counter(const char *key, void *value, void *ud)
{
	(void)key;
	(void)ud;
	tp_free(value);
	return true;
}

static void put_top(struct tp_buf *b, struct tp_dict *d, size_t max,
		    const char *label)
{
	struct topn t = {.max = max, .b = b};

	tp_dict_foreach(d, topn_visit, &t);
	tp_buf_putc(b, '[');
	for (size_t i = 0; i < t.n; i++) {
		if (i)
			tp_buf_putc(b, ',');
		tp_buf_json_open(b, label);
		tp_buf_json_str(b, t.top[i]->name);
		tp_buf_json_kv_uint(b, "count", t.top[i]->count);
		tp_buf_putc(b, '}');
	}
	tp_buf_putc(b, ']');
}

void tp_api_patterns_summary(const struct tp_http_req *req,
			     struct tp_http_resp *resp)
{
	struct tp_io *srv = req->srv;
	const struct tp_ingest_stats *st = tp_ingest_stats(srv->ingest);
	struct summary s = {.now = req->now};
	struct tp_buf *b = resp->body;
	struct topn dist = {.b = b, .first = true};

	s.types = tp_dict_create();
	s.symbols = tp_dict_create();
	if (s.types && s.symbols)
		tp_patterns_foreach(tp_ingest_patterns(srv->ingest), summary_visit, &s);
	if (!s.types || !s.symbols || s.oom) {
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
		goto out;
	}
	tp_buf_json_open(b, "total_patterns");
	tp_buf_json_uint(b, s.total);
	tp_buf_json_kv_uint(b, "high_confidence_patterns", s.high);
	tp_buf_json_key(b, "pattern_types", false);
	tp_buf_json_open(b, "distribution");
	tp_buf_putc(b, '{');
	tp_dict_foreach(s.types, distribution_visit, &dist);
	tp_buf_putc(b, '}');
	tp_buf_json_key(b, "top_patterns", false);
	put_top(b, s.types, 5, "pattern");
	tp_buf_putc(b, '}');
	tp_buf_json_key(b, "symbols", false);
	tp_buf_json_open(b, "active_symbols");
	tp_buf_json_uint(b, tp_dict_size(s.symbols));
	tp_buf_json_key(b, "top_symbols", false);
	put_top(b, s.symbols, 10, "symbol");
	tp_buf_putc(b, '}');
	tp_buf_json_key(b, "cache_performance", false);
	tp_buf_json_open(b, "hit_ratio");
	tp_buf_json_num(b, tp_respcache_hit_ratio(tp_ingest_respcache(srv->ingest)));
	tp_buf_json_kv_uint(b, "cached_patterns",
			    tp_patterns_count(tp_ingest_patterns(srv->ingest)));
	tp_buf_json_kv_time(b, "last_event_time", st->last_event_time);
	tp_buf_putc(b, '}');
	put_performance(b, tp_http_elapsed_ms(req), "cache");
	tp_buf_putc(b, '}');
out:
	if (s.types) {
		tp_dict_foreach(s.types, free_counter, NULL);
		tp_dict_destroy(s.types);
	}
	if (s.symbols) {
		tp_dict_foreach(s.symbols, free_counter, NULL);
		tp_dict_destroy(s.symbols);
	}
}

/* ---- health ---- */

void tp_api_patterns_health(const struct tp_http_req *req,
			    struct tp_http_resp *resp)
{
	struct tp_io *srv = req->srv;
	const struct tp_ingest_stats *st = tp_ingest_stats(srv->ingest);
	struct tp_respcache *rc = tp_ingest_respcache(srv->ingest);
	size_t cached = tp_patterns_count(tp_ingest_patterns(srv->ingest));
	double ratio = tp_respcache_hit_ratio(rc);
	const char *status, *message;
	bool healthy;
	struct tp_buf *b = resp->body;

	if (cached == 0) {
		status = "warning", message = "No patterns in cache", healthy = false;
	} else if (st->last_event_time == 0 || req->now - st->last_event_time > 300) {
		status = "warning", message = "No recent pattern events", healthy = false;
	} else if (ratio < 0.5) {
		status = "degraded", message = "Response cache hit ratio below 0.5", healthy = true;
	} else {
		status = "healthy", message = "Pattern cache is serving", healthy = true;
	}
	resp->status = healthy ? 200 : 503;
	tp_buf_json_open(b, "status");
	tp_buf_json_str(b, status);
	tp_buf_json_kv_bool(b, "healthy", healthy);
	tp_buf_json_kv_str(b, "message", message);
	tp_buf_json_key(b, "metrics", false);
	tp_buf_json_open(b, "cached_patterns");
	tp_buf_json_uint(b, cached);
	tp_buf_json_kv_num(b, "cache_hit_ratio", ratio);
	tp_buf_json_kv_uint(b, "events_processed", st->events_processed);
	tp_buf_json_kv_time(b, "last_event_time", st->last_event_time);
	tp_buf_json_kv_fixed(b, "response_time_ms", tp_http_elapsed_ms(req), 3);
	tp_buf_putc(b, '}');
	tp_buf_json_kv_num(b, "last_check", req->now);
	tp_buf_putc(b, '}');
}
