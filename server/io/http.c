/*
 * http.c - the lws protocol callback for HTTP: routing, bodies, responses,
 * static files.
 *
 * One lws protocol ("tickpush.v1", index 0) receives every HTTP request
 * (there are no lws mounts: routing is ours, so every error is JSON). For a
 * request we:
 *   1. LWS_CALLBACK_HTTP: find the route; GET/DELETE dispatch at once,
 *      POST/PUT wait for the body (bounded by TP_HTTP_BODY_MAX -> 413);
 *   2. dispatch: build a tp_http_req, call the handler, which fills a
 *      response body in memory (handlers never block: data comes from the
 *      in-process caches);
 *   3. write the headers, then the body in chunks from HTTP_WRITEABLE, one
 *      lws_write per callback as lws requires, then complete the
 *      transaction so keep-alive connections can carry the next request.
 * The response buffer reserves LWS_PRE bytes of headroom so lws_write can
 * frame it in place. Request size and time limits are lws's
 * (max_http_header_data, timeout_secs) configured in server.c.
 *
 * Per-connection state (struct pss) is allocated by lws and lives as long
 * as the connection; it is reset between keep-alive transactions and its
 * buffers are freed on HTTP_DROP_PROTOCOL / CLOSED_HTTP (idempotent).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libwebsockets.h>

#include "api.h"
#include "api_backtests.h"
#include "api_symbols.h"
#include "http.h"
#include "stream.h"
#include "tickpush/alloc.h"
#include "tickpush/dict.h"
#include "tickpush/log.h"

#define CHUNK 16384

struct route {
	const char *path;
	bool prefix;          /* path is a prefix ending in '/' */
	unsigned methods;
	tp_http_handler *handler;
	enum tp_route metric;
};

static const struct route routes[] = {
	{"/api/patterns/scan", false, TP_HTTP_GET, tp_api_patterns_scan, TP_ROUTE_scan},
	{"/api/patterns/stats", false, TP_HTTP_GET, tp_api_patterns_stats, TP_ROUTE_stats},
	{"/api/patterns/summary", false, TP_HTTP_GET, tp_api_patterns_summary, TP_ROUTE_summary},
	{"/api/patterns/health", false, TP_HTTP_GET, tp_api_patterns_health, TP_ROUTE_patterns_health},
	{"/api/health", false, TP_HTTP_GET, tp_api_health, TP_ROUTE_health},
	{"/api/pattern-discovery/health", false, TP_HTTP_GET, tp_api_discovery_health, TP_ROUTE_discovery_health},
	{"/api/pattern-discovery/performance", false, TP_HTTP_GET, tp_api_discovery_performance, TP_ROUTE_discovery_performance},
	{"/api/auth/login", false, TP_HTTP_POST, tp_api_login, TP_ROUTE_auth},
	{"/api/symbols", false, TP_HTTP_GET, tp_api_symbols, TP_ROUTE_symbols},
	{"/api/symbols/", true, TP_HTTP_GET, tp_api_symbol, TP_ROUTE_symbols},
	{"/api/users/universe", false, TP_HTTP_GET, tp_api_universes, TP_ROUTE_universes},
	{"/api/users/universe/", true, TP_HTTP_GET, tp_api_universe, TP_ROUTE_universes},
	{"/api/dashboard/stats", false, TP_HTTP_GET, tp_api_dashboard_stats, TP_ROUTE_dashboard},
	{"/api/users/watchlists", false, TP_HTTP_GET | TP_HTTP_POST, tp_api_watchlists, TP_ROUTE_watchlists},
	{"/api/users/watchlists/", true, TP_HTTP_GET | TP_HTTP_PUT | TP_HTTP_DELETE, tp_api_watchlist, TP_ROUTE_watchlists},
	{"/api/users/filter-presets", false, TP_HTTP_GET | TP_HTTP_POST, tp_api_presets, TP_ROUTE_presets},
	{"/api/users/filter-presets/", true, TP_HTTP_GET | TP_HTTP_PUT | TP_HTTP_DELETE, tp_api_preset, TP_ROUTE_presets},
	{"/api/backtests", false, TP_HTTP_GET | TP_HTTP_POST, tp_api_backtests, TP_ROUTE_backtests},
	{"/api/backtests/", true, TP_HTTP_GET | TP_HTTP_DELETE, tp_api_backtest, TP_ROUTE_backtests},
	{"/api/stream", false, TP_HTTP_GET, tp_api_stream, TP_ROUTE_stream},
	{"/api/patterns/poll", false, TP_HTTP_GET, tp_api_poll, TP_ROUTE_stream},
	{"/metrics", false, TP_HTTP_GET, tp_api_metrics, TP_ROUTE_metrics},
	{"/healthz", false, TP_HTTP_GET, tp_api_healthz, TP_ROUTE_probes},
	{"/readyz", false, TP_HTTP_GET, tp_api_readyz, TP_ROUTE_probes},
};

struct pss {
	struct tp_buf in;     /* request body */
	struct tp_buf out;    /* response body, LWS_PRE headroom */
	size_t sent;
	const struct route *route;
	unsigned method;
	char path[512];
	double mono_start;
	bool body_too_large;
	bool close_after;     /* close once the response is out */
	bool inflight;        /* counted in srv->http_inflight */
	uint64_t ticket;      /* deferred response pending, 0 = none */
	int deferred_status;  /* set by tp_http_complete */
	bool headers_due;     /* deferred answer arrived: headers next */
	void *stream;         /* SSE stream (sse.c) once started */
	bool stream_due;      /* stream started: its headers go next */
	void *ws;             /* WebSocket session (ws.c) after the upgrade */
	bool counted;         /* counted in the connections gauge */
};

static struct tp_server *server_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

static void ticket_key(uint64_t ticket, char out[24])
{
	snprintf(out, 24, "%llu", (unsigned long long)ticket);
}

static void forget_ticket(struct lws *wsi, struct pss *pss)
{
	char key[24];

	if (!pss->ticket)
		return;
	ticket_key(pss->ticket, key);
	tp_dict_del(server_of(wsi)->http_pending, key);
	pss->ticket = 0;
}

static void pss_reset(struct pss *pss)
{
	tp_buf_cleanup(&pss->in);
	tp_buf_cleanup(&pss->out);
	pss->sent = 0;
	pss->route = NULL;
	pss->method = 0;
	pss->path[0] = '\0';
	pss->body_too_large = false;
	pss->close_after = false;
	pss->deferred_status = 0;
	pss->headers_due = false;
}

static void inflight_done(struct lws *wsi, struct pss *pss)
{
	if (pss->inflight) {
		pss->inflight = false;
		server_of(wsi)->http_inflight--;
	}
}

int tp_http_req_header(const struct tp_http_req *req, const char *name,
		       char *buf, size_t len)
{
	struct lws *wsi = req->conn;
	int n;

	/* The few headers we read have lws token indexes. */
	if (!strcmp(name, "authorization:"))
		n = lws_hdr_copy(wsi, buf, (int)len, WSI_TOKEN_HTTP_AUTHORIZATION);
	else if (!strcmp(name, "origin:"))
		n = lws_hdr_copy(wsi, buf, (int)len, WSI_TOKEN_ORIGIN);
	else if (!strcmp(name, "host:"))
		n = lws_hdr_copy(wsi, buf, (int)len, WSI_TOKEN_HOST);
	else
		n = lws_hdr_custom_copy(wsi, buf, (int)len, name, (int)strlen(name));
	return n > 0 ? n : -1;
}

void tp_http_error(struct tp_http_resp *resp, int status, const char *msg,
		   const char *field, const char *extra)
{
	resp->status = status;
	tp_buf_reset(resp->body);
	tp_buf_puts(resp->body, "{\"error\":");
	tp_buf_json_str(resp->body, msg);
	if (field) {
		tp_buf_puts(resp->body, ",\"field\":");
		tp_buf_json_str(resp->body, field);
	}
	if (extra) {
		tp_buf_putc(resp->body, ',');
		tp_buf_puts(resp->body, extra);
	}
	tp_buf_putc(resp->body, '}');
}

double tp_http_elapsed_ms(const struct tp_http_req *req)
{
	return (tp_mono() - req->mono_start) * 1000.0;
}

/* Routes that stay open with TICKPUSH_REQUIRE_AUTH: signing in and the
 * probes an orchestrator calls. */
static bool route_always_public(const struct route *r)
{
	return r->handler == tp_api_login || r->handler == tp_api_healthz ||
	       r->handler == tp_api_readyz;
}

static unsigned method_of(struct lws *wsi)
{
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
		return TP_HTTP_GET;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
		return TP_HTTP_POST;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI))
		return TP_HTTP_PUT;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI))
		return TP_HTTP_DELETE;
	return TP_HTTP_OTHER;
}

static const struct route *find_route(const char *path)
{
	for (size_t i = 0; i < TP_ARRAY_SIZE(routes); i++) {
		const struct route *r = &routes[i];

		if (r->prefix ? !strncmp(path, r->path, strlen(r->path))
			      : !strcmp(path, r->path))
			return r;
	}
	return NULL;
}

static void allow_text(unsigned methods, char *out, size_t n)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{TP_HTTP_GET, "GET"}, {TP_HTTP_POST, "POST"},
		{TP_HTTP_PUT, "PUT"}, {TP_HTTP_DELETE, "DELETE"}};
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < TP_ARRAY_SIZE(names); i++)
		if (methods & names[i].bit)
			len += (size_t)snprintf(out + len, n - len, "%s%s",
						len ? ", " : "", names[i].name);
}

/* URL arguments: lws stores each '&'-separated argument already
 * percent-decoded as one fragment ("name=value"). */
static int collect_query(struct lws *wsi, struct tp_query *q,
			 struct tp_errdetail *err)
{
	char frag[TP_QUERY_MAX_BYTES];
	int total = 0;

	memset(q, 0, sizeof(*q));
	for (int i = 0;; i++) {
		int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag),
					      WSI_TOKEN_HTTP_URI_ARGS, i);
		char *eq;

		if (n < 0) {
			/* Past the last fragment, or one too long to copy. */
			if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) > 0)
				return tp_errdetail_set(err, TP_ERR_INVAL, "query",
							"query: argument %d is too long", i + 1);
			break;
		}
		total += n;
		if (total > TP_QUERY_MAX_BYTES)
			return tp_errdetail_set(err, TP_ERR_INVAL, "query",
						"query: longer than %d bytes",
						TP_QUERY_MAX_BYTES);
		if (n == 0)
			continue;
		if (q->n == TP_QUERY_MAX_PARAMS)
			return tp_errdetail_set(err, TP_ERR_INVAL, "query",
						"query: more than %d parameters",
						TP_QUERY_MAX_PARAMS);
		eq = strchr(frag, '=');
		if (eq)
			*eq = '\0';
		q->params[q->n].name = tp_strdup(frag);
		q->params[q->n].value = tp_strdup(eq ? eq + 1 : "");
		if (!q->params[q->n].name || !q->params[q->n].value) {
			tp_free(q->params[q->n].name);
			tp_free(q->params[q->n].value);
			return TP_ERR_NOMEM;
		}
		q->n++;
	}
	return TP_OK;
}

/* Writes status line and headers; the body follows from WRITEABLE. */
static int send_headers(struct lws *wsi, struct pss *pss,
			const struct tp_http_resp *resp)
{
	unsigned char hdr[LWS_PRE + 1024];
	unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
	const char *ctype = resp->content_type ? resp->content_type
					       : "application/json; charset=utf-8";

	if (lws_add_http_common_headers(wsi, (unsigned)resp->status, ctype,
					pss->out.len, &p, end))
		return -1;
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end))
		return -1;
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
					(const unsigned char *)"nosniff", 7, &p, end))
		return -1;
	if (resp->allow &&
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
					(const unsigned char *)resp->allow,
					(int)strlen(resp->allow), &p, end))
		return -1;
	if (resp->retry_after > 0) {
		char ra[16];
		int n = snprintf(ra, sizeof(ra), "%d", resp->retry_after);

		if (lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
						(const unsigned char *)ra, n, &p, end))
			return -1;
	}
	return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

static void observe(struct lws *wsi, struct pss *pss, int status)
{
	enum tp_route metric = pss->route ? pss->route->metric : TP_ROUTE_other;

	(void)wsi;
	tp_metrics_observe_route(metric, tp_mono() - pss->mono_start);
	TP_METRIC_INC(http_requests);
	if (status >= 400 && status < 500)
		TP_METRIC_INC(http_bad_requests);
}

/* Finishes a transaction; returns nonzero when lws wants the connection
 * closed. */
static int complete(struct lws *wsi, struct pss *pss)
{
	bool close_now = pss->close_after;

	inflight_done(wsi, pss);
	pss_reset(pss);
	if (close_now)
		return -1;
	return lws_http_transaction_completed(wsi);
}

static int send_deferred_headers(struct lws *wsi, struct pss *pss);

static int respond(struct lws *wsi, struct pss *pss, struct tp_http_resp *resp)
{
	struct tp_server *srv = server_of(wsi);

	if (resp->status == 0) {
		/* A stream the handler already started is not "in flight": it
		 * never finishes, and must not hold up a shutdown drain. */
		if (pss->stream)
			return 0;
		/* Deferred: tp_http_complete answers. Count it as in flight so
		 * a shutdown waits for it (bounded by the drain timeout). */
		pss->inflight = true;
		srv->http_inflight++;
		/* The handler may have completed it already (a query that failed
		 * at once): then the headers can go out right now. */
		return pss->headers_due ? send_deferred_headers(wsi, pss) : 0;
	}

	if (pss->out.oom) {
		tp_buf_cleanup(&pss->out);
		tp_buf_init(&pss->out, LWS_PRE);
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
		resp->retry_after = 1;
	}
	observe(wsi, pss, resp->status);
	pss->inflight = true;
	srv->http_inflight++;
	if (send_headers(wsi, pss, resp))
		return -1;
	if (pss->out.len == 0)
		return complete(wsi, pss);
	lws_callback_on_writable(wsi);
	return 0;
}

static int dispatch(struct lws *wsi, struct pss *pss)
{
	struct tp_server *srv = server_of(wsi);
	struct tp_http_resp resp = {200, NULL, &pss->out, NULL, 0};
	struct tp_query query;
	struct tp_errdetail err = {{0}, NULL};
	char allow[64];
	int rc;

	tp_buf_init(&pss->out, LWS_PRE);
	if (!pss->route) {
		tp_http_error(&resp, 404, "Not found", NULL, NULL);
		return respond(wsi, pss, &resp);
	}
	if (!(pss->route->methods & pss->method)) {
		allow_text(pss->route->methods, allow, sizeof(allow));
		resp.allow = allow;
		tp_http_error(&resp, 405, "Method not allowed", NULL, NULL);
		return respond(wsi, pss, &resp);
	}
	if (pss->body_too_large) {
		tp_http_error(&resp, 413, "Request body larger than 64 KiB", NULL, NULL);
		return respond(wsi, pss, &resp);
	}
	rc = collect_query(wsi, &query, &err);
	if (rc) {
		tp_query_cleanup(&query);
		if (rc == TP_ERR_NOMEM) {
			tp_http_error(&resp, 503, "Out of memory", NULL, NULL);
			resp.retry_after = 1;
		} else {
			tp_http_error(&resp, 400, err.msg, err.field, NULL);
		}
		return respond(wsi, pss, &resp);
	}
	struct tp_http_req req = {
		.srv = srv,
		.method = pss->method,
		.path = pss->path,
		.subpath = pss->path + strlen(pss->route->path),
		.query = &query,
		.body = pss->in.len ? tp_buf_cstr(&pss->in) : NULL,
		.body_len = pss->in.len,
		.now = tp_now(),
		.mono_start = pss->mono_start,
		.conn = wsi,
	};
	lws_get_peer_simple(wsi, req.peer, sizeof(req.peer));
	if (srv->cfg->require_auth_everywhere && !route_always_public(pss->route)) {
		long long uid;

		/* TICKPUSH_REQUIRE_AUTH: public reads need a token too. */
		if (tp_http_require_user(&req, &resp, &uid)) {
			tp_query_cleanup(&query);
			return respond(wsi, pss, &resp);
		}
	}
	pss->route->handler(&req, &resp);
	tp_query_cleanup(&query);
	return respond(wsi, pss, &resp);
}

static int write_body(struct lws *wsi, struct pss *pss)
{
	size_t left = pss->out.len - pss->sent;
	size_t n = left > CHUNK ? CHUNK : left;
	bool last = n == left;
	/* Bytes in front of the chunk are either the LWS_PRE headroom or body
	 * already sent, which lws may overwrite with framing. */
	unsigned char *p = (unsigned char *)tp_buf_data(&pss->out) + pss->sent;

	if (lws_write(wsi, p, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
	    (int)n)
		return -1;
	pss->sent += n;
	if (!last) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	return complete(wsi, pss);
}

uint64_t tp_http_defer(const struct tp_http_req *req,
		       struct tp_http_resp *resp)
{
	struct lws *wsi = req->conn;
	struct pss *pss = lws_wsi_user(wsi);
	struct tp_server *srv = req->srv;
	char key[24];

	pss->ticket = ++srv->next_ticket;
	ticket_key(pss->ticket, key);
	if (tp_dict_set(srv->http_pending, key, wsi, NULL)) {
		pss->ticket = 0;
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
		resp->retry_after = 1;
		return 0;
	}
	resp->status = 0;
	return pss->ticket;
}

bool tp_http_complete(struct tp_server *srv, uint64_t ticket, int status,
		      struct tp_buf *body)
{
	char key[24];
	struct lws *wsi;
	struct pss *pss;

	ticket_key(ticket, key);
	wsi = ticket ? tp_dict_del(srv->http_pending, key) : NULL;
	if (!wsi) {
		tp_buf_reset(body);
		return false; /* the client went away */
	}
	pss = lws_wsi_user(wsi);
	pss->ticket = 0;
	/* The body needs LWS_PRE headroom in front for lws_write. */
	tp_buf_cleanup(&pss->out);
	tp_buf_init(&pss->out, LWS_PRE);
	tp_buf_append(&pss->out, tp_buf_data(body), body->len);
	tp_buf_reset(body);
	pss->deferred_status = status;
	if (pss->out.oom) {
		tp_buf_cleanup(&pss->out);
		tp_buf_init(&pss->out, LWS_PRE);
		tp_buf_puts(&pss->out, "{\"error\":\"Out of memory\"}");
		pss->deferred_status = 503;
	}
	pss->headers_due = true;
	lws_callback_on_writable(wsi);
	return true;
}

bool tp_http_complete_error(struct tp_server *srv, uint64_t ticket, int status,
			    const char *msg, const char *field)
{
	struct tp_buf b;
	struct tp_http_resp resp = {status, NULL, &b, NULL, 0};
	bool ok;

	tp_buf_init(&b, 0);
	tp_http_error(&resp, status, msg, field, NULL);
	ok = tp_http_complete(srv, ticket, status, &b);
	tp_buf_cleanup(&b);
	return ok;
}

bool tp_http_stream_start(struct tp_server *srv, uint64_t ticket, void *conn)
{
	char key[24];
	struct lws *wsi;
	struct pss *pss;

	ticket_key(ticket, key);
	wsi = ticket ? tp_dict_del(srv->http_pending, key) : NULL;
	if (!wsi)
		return false;
	pss = lws_wsi_user(wsi);
	pss->ticket = 0;
	pss->stream = conn;
	pss->stream_due = true;
	/* A stream never "finishes": it must not hold up a shutdown drain. */
	inflight_done(wsi, pss);
	tp_sse_attach(conn, wsi);
	lws_callback_on_writable(wsi);
	return true;
}

static int send_stream_headers(struct lws *wsi, struct pss *pss)
{
	unsigned char hdr[LWS_PRE + 512];
	unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;

	pss->stream_due = false;
	observe(wsi, pss, 200);
	if (lws_add_http_common_headers(wsi, 200, "text/event-stream",
					LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-cache", 8, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"x-accel-buffering:",
					(const unsigned char *)"no", 2, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	/* No idle timeout on a stream; our keep-alive comments flow.
	 * (lws_http_mark_sse is for h2 streams and complains on h1.) */
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	lws_callback_on_writable(wsi);
	return 0;
}

static int send_deferred_headers(struct lws *wsi, struct pss *pss)
{
	struct tp_http_resp resp = {pss->deferred_status, NULL, &pss->out, NULL, 0};

	pss->headers_due = false;
	observe(wsi, pss, resp.status);
	if (send_headers(wsi, pss, &resp))
		return -1;
	if (pss->out.len == 0)
		return complete(wsi, pss);
	lws_callback_on_writable(wsi);
	return 0;
}

static bool safe_static_path(const char *path)
{
	/* No "..", no hidden files, no backslashes: the demo dir only. */
	return path[0] == '/' && !strstr(path, "..") && !strstr(path, "/.") &&
	       !strchr(path, '\\') && strlen(path) < 256;
}

static const char *mime_of(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (!dot)
		return "application/octet-stream";
	if (!strcmp(dot, ".html"))
		return "text/html; charset=utf-8";
	if (!strcmp(dot, ".js") || !strcmp(dot, ".mjs"))
		return "text/javascript; charset=utf-8";
	if (!strcmp(dot, ".css"))
		return "text/css; charset=utf-8";
	if (!strcmp(dot, ".json"))
		return "application/json; charset=utf-8";
	if (!strcmp(dot, ".svg"))
		return "image/svg+xml";
	if (!strcmp(dot, ".png"))
		return "image/png";
	if (!strcmp(dot, ".ico"))
		return "image/x-icon";
	return "application/octet-stream";
}

/* Returns 1 when a static file is being served, 0 when not applicable. */
static int try_static(struct lws *wsi, struct pss *pss, int *ret)
{
	struct tp_server *srv = server_of(wsi);
	const char *dir = srv->cfg->web_demo_dir;
	char full[1024];
	struct stat st;
	int n;

	if (!dir || !dir[0] || pss->method != TP_HTTP_GET ||
	    !strncmp(pss->path, "/api/", 5) || !safe_static_path(pss->path))
		return 0;
	n = snprintf(full, sizeof(full), "%s%s%s", dir, pss->path,
		     pss->path[strlen(pss->path) - 1] == '/' ? "index.html" : "");
	if (n < 0 || (size_t)n >= sizeof(full) || stat(full, &st) ||
	    !S_ISREG(st.st_mode))
		return 0;
	pss->route = NULL;
	tp_metrics_observe_route(TP_ROUTE_static, tp_mono() - pss->mono_start);
	TP_METRIC_INC(http_requests);
	n = lws_serve_http_file(wsi, full, mime_of(full),
				"cache-control: no-cache\r\n", 25);
	*ret = (n < 0 || (n > 0 && lws_http_transaction_completed(wsi))) ? -1 : 0;
	return 1;
}

static int on_http(struct lws *wsi, struct pss *pss, const char *uri)
{
	struct tp_server *srv = server_of(wsi);
	int ret;

	pss_reset(pss);
	pss->mono_start = tp_mono();
	pss->method = method_of(wsi);
	snprintf(pss->path, sizeof(pss->path), "%s", uri ? uri : "/");
	pss->route = find_route(pss->path);
	if (srv->stopping) {
		struct tp_http_resp resp = {503, NULL, &pss->out, NULL, 1};

		tp_buf_init(&pss->out, LWS_PRE);
		tp_http_error(&resp, 503, "Server is shutting down", NULL, NULL);
		return respond(wsi, pss, &resp);
	}
	if (!pss->route && try_static(wsi, pss, &ret))
		return ret;
	if (pss->method == TP_HTTP_POST || pss->method == TP_HTTP_PUT) {
		char cl[24];
		long long n = -1;

		if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
			n = strtoll(cl, NULL, 10);
		if (n > TP_HTTP_BODY_MAX) {
			/* Refuse before reading it; the unread body makes the
			 * connection unusable, so close after answering. */
			pss->body_too_large = true;
			pss->close_after = true;
			return dispatch(wsi, pss);
		}
		if (n > 0 || lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING)) {
			/* BODY callbacks follow; BODY_COMPLETION dispatches. */
			tp_buf_init(&pss->in, 0);
			return 0;
		}
	}
	return dispatch(wsi, pss);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct pss *pss = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP_BIND_PROTOCOL:
		if (pss && !pss->counted) {
			pss->counted = true;
			TP_METRIC_INC(http_connections);
		}
		break;
	case LWS_CALLBACK_HTTP:
		return on_http(wsi, pss, in);
	case LWS_CALLBACK_HTTP_BODY:
		if (pss->in.len + len > TP_HTTP_BODY_MAX) {
			pss->body_too_large = true;
			tp_buf_cleanup(&pss->in);
			return 0;
		}
		if (!pss->body_too_large)
			tp_buf_append(&pss->in, in, len);
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return dispatch(wsi, pss);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (pss && pss->stream_due)
			return send_stream_headers(wsi, pss);
		if (pss && pss->stream)
			return tp_sse_writeable(pss->stream, wsi);
		if (pss && pss->headers_due)
			return send_deferred_headers(wsi, pss);
		if (!pss || !pss->out.base || pss->sent >= pss->out.len)
			return 0; /* spurious */
		return write_body(wsi, pss);
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (pss) {
			if (pss->stream) {
				tp_sse_closed(pss->stream);
				pss->stream = NULL;
			}
			forget_ticket(wsi, pss);
			inflight_done(wsi, pss);
			pss_reset(pss);
			if (pss->counted) {
				pss->counted = false;
				TP_METRIC_SET(http_connections,
					      TP_METRIC_GET(http_connections) - 1);
			}
		}
		break;
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: {
		struct tp_server *srv = server_of(wsi);
		static struct tp_log_ratelimit rl;
		unsigned long skipped;

		/* max_connections: refuse at accept. The gauge counts every
		 * client connection, HTTP (SSE included) and WebSocket. */
		if (TP_METRIC_GET(http_connections) < (uint64_t)srv->cfg->max_connections)
			return 0;
		TP_METRIC_INC(connections_refused);
		if (tp_log_ratelimit_allow(&rl, tp_mono(), 1.0, &skipped))
			TP_LOG(TP_LOG_WARN, "msg=\"connection refused: max_connections reached\" max=%d suppressed=%lu",
			       srv->cfg->max_connections, skipped);
		return 1;
	}
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return tp_ws_confirm_upgrade(wsi);
	case LWS_CALLBACK_CLOSED:
		/* An upgraded connection ends here, not in CLOSED_HTTP. */
		if (pss && pss->counted) {
			pss->counted = false;
			TP_METRIC_SET(http_connections, TP_METRIC_GET(http_connections) - 1);
		}
		return pss ? tp_ws_callback(wsi, (int)reason, &pss->ws, in, len) : 0;
	case LWS_CALLBACK_ESTABLISHED:
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_RECEIVE_PONG:
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return pss ? tp_ws_callback(wsi, (int)reason, &pss->ws, in, len) : -1;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	{"tickpush.v1", callback, sizeof(struct pss), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

const struct lws_protocols *tp_http_protocols(void)
{
	return protocols;
}
