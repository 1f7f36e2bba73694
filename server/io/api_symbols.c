/*
 * api_symbols.c - GET /api/symbols, /api/symbols/<symbol>,
 * /api/users/universe, /api/users/universe/<key>, /api/dashboard/stats.
 *
 * Everything is answered from the in-process directory copy (directory.h),
 * never by a query of its own, so a slow or dead database cannot delay a
 * request. "source" stays "database" as the contract says: the data is the
 * database's, the copy is only how we hold it. When the copy is older than
 * a failed refresh (or PostgreSQL is down) responses carry "stale": true;
 * with no copy at all (no DATABASE_URI, or never loaded) they are 503
 * {"error":"Database unavailable", <the endpoint's empty shape>}.
 *
 * Borrowed directory pointers are used only within one handler call: the
 * copy cannot be swapped while a handler runs (same loop thread).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_symbols.h"
#include "directory.h"
#include "io.h"
#include "tickpush/alloc.h"
#include "tickpush/ascii.h"
#include "tickpush/symbol.h"

#define LIMIT_DEFAULT 1000
#define LIMIT_MAX 5000
#define SEARCH_MAX 100
#define MARKET_MAX 32
#define UKEY_PATH_MAX 256

static const char symbols_empty[] = "\"symbols\":[],\"count\":0";
static const char universes_empty[] = "\"universes\":[],\"total_universes\":0";
static const char universe_empty[] = "\"tickers\":[],\"count\":0";

/* The directory when it has a copy to serve, else NULL. */
static const struct tp_directory *usable(const struct tp_http_req *req)
{
	const struct tp_directory *dir = req->srv ? req->srv->dir : NULL;

	return tp_directory_has_copy(dir) ? dir : NULL;
}

static void unavailable(struct tp_http_resp *resp, const char *empty_shape)
{
	tp_http_error(resp, 503, "Database unavailable", NULL, empty_shape);
	resp->retry_after = 5;
}

/* ,"performance":{...}[,"stale":true] - the closing members of a body. */
static void put_tail(struct tp_buf *b, const struct tp_http_req *req,
		     const struct tp_directory *dir)
{
	bool stale = tp_directory_is_stale(dir);
	double loaded = tp_directory_loaded_at(dir);

	tp_buf_json_key(b, "performance", false);
	tp_buf_json_open(b, "api_response_time_ms");
	tp_buf_json_fixed(b, tp_http_elapsed_ms(req), 3);
	tp_buf_json_kv_str(b, "source", "database");
	tp_buf_json_kv_num(b, "loaded_at", loaded);
	tp_buf_json_kv_fixed(b, "data_age_s", req->now > loaded ? req->now - loaded : 0.0, 3);
	tp_buf_json_kv_uint(b, "refresh_failures", tp_directory_refresh_failures(dir));
	tp_buf_putc(b, '}');
	if (stale)
		tp_buf_json_kv_bool(b, "stale", true);
}

/* Case-insensitive substring test; needle is upper-case already. */
static bool contains_upper(const char *hay, const char *needle, size_t nlen)
{
	if (nlen == 0)
		return true;
	for (; *hay; hay++) {
		size_t i = 0;

		while (i < nlen && hay[i] &&
		       (hay[i] >= 'a' && hay[i] <= 'z' ? hay[i] - 32 : hay[i]) == needle[i])
			i++;
		if (i == nlen)
			return true;
	}
	return false;
}

/* Strict 1..LIMIT_MAX; "" or absent means the default. */
static bool parse_limit(const char *s, unsigned *out)
{
	unsigned long v = 0;

	if (!s || !*s) {
		*out = LIMIT_DEFAULT;
		return true;
	}
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || p - s >= 6)
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < 1 || v > LIMIT_MAX)
		return false;
	*out = (unsigned)v;
	return true;
}

/* A symbol object of the list and of the detail, left open:
 * {"symbol","name","exchange","market" ... then "type","active","sector". */
static void put_row_head(struct tp_buf *b, const struct tp_symbol_row *r)
{
	tp_buf_json_open(b, "symbol");
	tp_buf_json_str(b, r->symbol);
	tp_buf_json_kv_str(b, "name", r->name);
	tp_buf_json_kv_str_or_null(b, "exchange", r->exchange);
	tp_buf_json_kv_str(b, "market", r->market);
}

static void put_row_class(struct tp_buf *b, const struct tp_symbol_row *r)
{
	tp_buf_json_kv_str_or_null(b, "type", r->type);
	tp_buf_json_kv_bool(b, "active", r->active);
	tp_buf_json_kv_str_or_null(b, "sector", r->sector);
}

void tp_api_symbols(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	const struct tp_directory *dir;
	const char *market = tp_query_get(req->query, "market");
	const char *search = tp_query_get(req->query, "search");
	char needle[SEARCH_MAX + 1];
	size_t nlen = 0, n, count = 0;
	unsigned limit;
	struct tp_buf *b = resp->body;

	if (!parse_limit(tp_query_get(req->query, "limit"), &limit)) {
		tp_http_error(resp, 400, "limit must be an integer from 1 to 5000",
			      "limit", symbols_empty);
		return;
	}
	if (search && strlen(search) > SEARCH_MAX) {
		tp_http_error(resp, 400, "search must be at most 100 characters",
			      "search", symbols_empty);
		return;
	}
	if (market && strlen(market) > MARKET_MAX) {
		tp_http_error(resp, 400, "market must be at most 32 characters",
			      "market", symbols_empty);
		return;
	}
	if (!(dir = usable(req))) {
		unavailable(resp, symbols_empty);
		return;
	}
	if (search) {
		for (nlen = 0; search[nlen]; nlen++)
			needle[nlen] = search[nlen] >= 'a' && search[nlen] <= 'z'
					       ? (char)(search[nlen] - 32) : search[nlen];
		needle[nlen] = '\0';
	}
	n = tp_directory_symbol_count(dir);
	tp_buf_json_open(b, "symbols");
	tp_buf_putc(b, '[');
	for (size_t i = 0; i < n && count < limit; i++) {
		const struct tp_symbol_row *r = tp_directory_symbol_at(dir, i);

		if (market && *market && !tp_ascii_ieq(r->market, market))
			continue;
		if (nlen && !contains_upper(r->symbol, needle, nlen) &&
		    !contains_upper(r->name, needle, nlen))
			continue;
		if (count++)
			tp_buf_putc(b, ',');
		put_row_head(b, r);
		put_row_class(b, r);
		tp_buf_putc(b, '}');
	}
	tp_buf_putc(b, ']');
	tp_buf_json_kv_uint(b, "count", count);
	tp_buf_json_key(b, "filters", false);
	tp_buf_json_open(b, "market");
	tp_buf_json_str_or_null(b, market);
	tp_buf_json_kv_str_or_null(b, "search", search);
	tp_buf_json_kv_uint(b, "limit", limit);
	tp_buf_putc(b, '}');
	put_tail(b, req, dir);
	tp_buf_putc(b, '}');
}

static void put_iso(struct tp_buf *b, double t)
{
	time_t secs = (time_t)floor(t);
	struct tm tm;
	char out[48];
	size_t n;
	long ms = lround((t - floor(t)) * 1000.0);

	if (!(t > 0) || !isfinite(t) || !gmtime_r(&secs, &tm) ||
	    !(n = strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%S", &tm))) {
		tp_buf_puts(b, "null");
		return;
	}
	if (ms > 999)
		ms = 999;
	if (ms > 0)
		snprintf(out + n, sizeof(out) - n, ".%03ldZ", ms);
	else
		snprintf(out + n, sizeof(out) - n, "Z");
	tp_buf_json_str(b, out);
}

void tp_api_symbol(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	const struct tp_directory *dir;
	const struct tp_symbol_row *r;
	struct tp_buf *b = resp->body;
	char msg[96], up[TP_SYMBOL_MAX + 1];

	if (!tp_symbol_norm(req->subpath, req->subpath ? strlen(req->subpath) : 0, up)) {
		tp_http_error(resp, 400,
			      "symbol must be 1 to 16 characters of letters, digits and ._/-",
			      "symbol", NULL);
		return;
	}
	if (!(dir = usable(req))) {
		unavailable(resp, NULL);
		return;
	}
	if (!(r = tp_directory_symbol(dir, up))) {
		snprintf(msg, sizeof(msg), "Symbol %s not found", up);
		tp_http_error(resp, 404, msg, NULL, NULL);
		return;
	}
	put_row_head(b, r);
	tp_buf_json_kv_str(b, "locale", r->locale);
	tp_buf_json_kv_str(b, "currency_name", r->currency_name);
	put_row_class(b, r);
	tp_buf_json_kv_str_or_null(b, "industry", r->industry);
	/* market_cap < 0: unknown. */
	if (r->market_cap >= 0)
		tp_buf_json_kv_num(b, "market_cap", r->market_cap);
	else
		tp_buf_json_kv_raw(b, "market_cap", "null");
	tp_buf_json_key(b, "last_updated", false);
	put_iso(b, r->last_updated);
	put_tail(b, req, dir);
	tp_buf_putc(b, '}');
}

void tp_api_universes(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	const struct tp_directory *dir = usable(req);
	struct tp_buf *b = resp->body;
	size_t n;

	if (!dir) {
		unavailable(resp, universes_empty);
		return;
	}
	n = tp_directory_universe_count(dir);
	tp_buf_json_open(b, "universes");
	tp_buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		const struct tp_universe *u = tp_directory_universe_at(dir, i);

		if (i)
			tp_buf_putc(b, ',');
		tp_buf_json_open(b, "key");
		tp_buf_json_str(b, u->key);
		tp_buf_json_kv_str(b, "description", u->description);
		tp_buf_json_kv_str(b, "criteria", u->criteria);
		tp_buf_json_kv_uint(b, "count", u->n_tickers);
		tp_buf_json_kv_str(b, "category", u->category);
		tp_buf_putc(b, '}');
	}
	tp_buf_putc(b, ']');
	tp_buf_json_kv_uint(b, "total_universes", n);
	put_tail(b, req, dir);
	tp_buf_putc(b, '}');
}

/* Universe keys come from the database: any printable text but '/'. */
static bool valid_key_path(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > UKEY_PATH_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < ' ' || s[i] == 0x7F || s[i] == '/')
			return false;
	return true;
}

void tp_api_universe(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	const struct tp_directory *dir;
	const struct tp_universe *u;
	struct tp_buf *b = resp->body;
	char msg[UKEY_PATH_MAX + 32];

	if (!valid_key_path(req->subpath)) {
		tp_http_error(resp, 400, "universe key must be 1 to 256 printable characters without '/'",
			      "universe_key", universe_empty);
		return;
	}
	if (!(dir = usable(req))) {
		unavailable(resp, universe_empty);
		return;
	}
	if (!(u = tp_directory_universe(dir, req->subpath))) {
		snprintf(msg, sizeof(msg), "Universe %s not found", req->subpath);
		tp_http_error(resp, 404, msg, NULL, universe_empty);
		return;
	}
	tp_buf_json_open(b, "universe_key");
	tp_buf_json_str(b, u->key);
	tp_buf_json_key(b, "tickers", false);
	tp_buf_putc(b, '[');
	for (size_t i = 0; i < u->n_tickers; i++) {
		if (i)
			tp_buf_putc(b, ',');
		tp_buf_json_str(b, u->tickers[i]);
	}
	tp_buf_putc(b, ']');
	tp_buf_json_kv_uint(b, "count", u->n_tickers);
	/* metadata_json is an object we printed ourselves at load time. */
	tp_buf_json_kv_raw(b, "metadata", u->metadata_json);
	put_tail(b, req, dir);
	tp_buf_putc(b, '}');
}

static void put_patterns(struct tp_buf *b, const struct tp_io *srv)
{
	size_t cached = 0;
	double last = 0;

	if (srv->ingest) {
		cached = tp_patterns_count(tp_ingest_patterns(srv->ingest));
		last = tp_ingest_stats(srv->ingest)->last_event_time;
	}
	tp_buf_json_key(b, "patterns", false);
	tp_buf_json_open(b, "cached");
	tp_buf_json_uint(b, cached);
	tp_buf_json_kv_time(b, "last_event_time", last);
	tp_buf_putc(b, '}');
}

void tp_api_dashboard_stats(const struct tp_http_req *req,
			    struct tp_http_resp *resp)
{
	const struct tp_directory *dir = usable(req);
	struct tp_buf *b = resp->body;
	size_t nm;

	if (!dir) {
		struct tp_buf extra;

		/* The empty shape, with the pattern figures we do have. */
		tp_buf_init(&extra, 0);
		tp_buf_puts(&extra, "\"symbols_count\":0,\"active_symbols_count\":0,"
				    "\"symbols_by_market\":{},\"events_count\":0,"
				    "\"latest_event_time\":null");
		tp_buf_json_kv_str(&extra, "database_status",
				   req->srv->pg ? "unavailable" : "not_configured");
		put_patterns(&extra, req->srv);
		unavailable(resp, extra.oom ? NULL : tp_buf_cstr(&extra));
		tp_buf_cleanup(&extra);
		return;
	}
	tp_buf_json_open(b, "symbols_count");
	tp_buf_json_uint(b, tp_directory_symbol_count(dir));
	tp_buf_json_kv_uint(b, "active_symbols_count", tp_directory_active_count(dir));
	tp_buf_json_key(b, "symbols_by_market", false);
	tp_buf_putc(b, '{');
	nm = tp_directory_market_count(dir);
	for (size_t i = 0; i < nm; i++) {
		size_t count = 0;
		const char *m = tp_directory_market_at(dir, i, &count);

		tp_buf_json_key(b, m, i == 0);
		tp_buf_json_uint(b, count);
	}
	tp_buf_putc(b, '}');
	tp_buf_json_kv_int(b, "events_count", tp_directory_events_count(dir));
	tp_buf_json_kv_time(b, "latest_event_time", tp_directory_latest_event_time(dir));
	tp_buf_json_kv_str(b, "database_status",
			   tp_directory_is_stale(dir) ? "stale" : "connected");
	put_patterns(b, req->srv);
	put_tail(b, req, dir);
	tp_buf_putc(b, '}');
}
