/*
 * http.c - the lws protocol callback for HTTP: the request lifecycle,
 * routing, bodies, responses, deferred answers, SSE streams, static files.
 *
 * One lws protocol ("tickpush.v1", index 0) receives every HTTP request
 * (there are no lws mounts: routing is ours, so every error we answer is
 * JSON). Each request goes through the state machine of
 * include/tickpush/httpconn.h, which this file drives:
 *   1. LWS_CALLBACK_HTTP (the head is complete): check what lws kept of it
 *      (431/414, see below), describe the body framing, and let the state
 *      machine choose: refuse (411, 413, 400, 431, 414, 503, then close),
 *      read a Content-Length body, or dispatch now;
 *   2. HTTP_BODY / HTTP_BODY_COMPLETION: the body (bounded by
 *      TP_HTTP_BODY_MAX), then dispatch. lws may report the end of a body
 *      more than once; the state machine dispatches exactly once;
 *   3. dispatch: build a tp_http_req and call the handler, which answers
 *      now, or defers (tp_http_defer) and answers later by ticket
 *      (tp_http_complete), or starts an SSE stream;
 *   4. the answer, headers and body, is written in one writev: at once
 *      when it is ready inside LWS_CALLBACK_HTTP (a request without a
 *      body that is not closing), else from HTTP_WRITEABLE; lws gets and
 *      sends whatever the kernel did not take (write_answer). Then the
 *      request ends: the connection closes (Connection: close, a
 *      refusal) or takes the next request.
 * Pipelining: lws parses no further request head until the current one's
 * transaction is completed, so requests pipelined behind it wait, unparsed,
 * in lws's buffer, and are answered in order. Two lws 4.1.6 defects shape
 * what happens around that buffer:
 *  - after a body, lws reports HTTP_BODY_COMPLETION again whenever it
 *    looks at the buffer (once per loop turn). Before the state machine
 *    each repeat dispatched the request again: endless answers, a second
 *    ticket for one connection, a crash when the first completed. The
 *    repeats are ignored now, and while a request waits for its deferred
 *    answer lws is told not to read the connection (lws_rx_flow_control;
 *    not while answering: lws delivers no HTTP_WRITEABLE to a
 *    flow-controlled HTTP connection);
 *  - a request WITH a body that lws takes from that buffer (one pipelined
 *    behind another) is handed the start of its own head as its body
 *    (memory lws has freed, if the body is longer than the head), and lws
 *    then repeats HTTP_BODY_COMPLETION in a loop it never leaves. Its
 *    first body bytes are its own request line: such a request is refused
 *    with 400 and the connection closed (closing is the only way out of
 *    that loop), and nothing lws hands over for it is read. Whatever else
 *    might lead lws into that loop, many completions within one loop turn
 *    close the connection too (server.c counts the turns).
 *
 * Limits: lws parses request heads itself, into a header table ("ah") per
 * connection sending a request. server.c sizes the pool of tables for
 * max_connections and the operators' reserve past it (tp_http_may_accept;
 * no connection waits for a table) and makes lws keep at most
 * http_header_max bytes of any one header (token_limits: the rest of that
 * line is skipped, not a parse failure), so an oversized header or URL
 * reaches us truncated to exactly that size and gets a JSON 431 or 414.
 * What lws still refuses itself, before any callback, is documented in
 * docs/operations.md. A new connection that has not started a request
 * within http_idle_timeout is closed (LWS_CALLBACK_TIMER, armed at accept).
 *
 * Per-request state (struct pss) is allocated by lws: it binds our
 * protocol afresh for every request, so a pss lives for one request
 * (HTTP_DROP_PROTOCOL / CLOSED_HTTP end it; both are handled, idempotent).
 * What lives as long as the connection (the idle timer, its place in the
 * connections gauge, the rx flow state) is kept on the wsi itself.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <libwebsockets.h>
#include <uv.h>

#include "http.h"
#include "io.h"
#include "sniff.h"
#include "tickpush/alloc.h"
#include "tickpush/ascii.h"
#include "tickpush/clock.h"
#include "tickpush/cors.h"
#include "tickpush/httpconn.h"
#include "tickpush/httphead.h"
#include "tickpush/log.h"
#include "tickpush/render.h"

/* The answer being written: set when it is ready (now or by ticket). */
struct answer {
	int status;
	const char *content_type;     /* static string; NULL = JSON */
	char allow[64];               /* Allow header for 405, "" = none */
	int retry_after;              /* seconds, 0 = none */
	bool headers_sent;
	size_t sent;                  /* body bytes written */
};

struct pss {
	struct tp_hc hc;              /* this request's lifecycle */
	struct tp_buf in;             /* request body */
	struct tp_buf out;            /* response body, LWS_PRE headroom */
	struct answer ans;
	const struct tp_http_route *route;
	unsigned method;
	char path[512];
	double mono_start;
	void *stream;                 /* SSE stream (sse.c) once started */
	const struct tp_http_stream_ops *stream_ops; /* what it is called */
	bool stream_due;              /* stream started: its headers go next */
	void *ws;                     /* WebSocket session (ws.c) after the upgrade */
	enum tp_cors cors;            /* Access-Control-Allow-Origin to send */
	bool cors_vary;               /* Vary: Origin */
	bool preflight;               /* an OPTIONS answer: the preflight headers */
	char origin[256];             /* the request's Origin, "" = none */
	bool head_seen;               /* LWS_CALLBACK_HTTP came: the head is ours */
	bool body_seen;               /* lws has handed over body bytes */
	bool answer_now;              /* in LWS_CALLBACK_HTTP: answer at once */
	bool rx_paused;               /* we told lws not to read (deferred) */
	bool bad_pipeline;            /* lws misread its body (see top) */
	uint64_t completion_turn;     /* loop turn of the last BODY_COMPLETION */
	unsigned completions;         /* how many in that turn */
};

/* A client connection's opaque user data: counted in the connections
 * gauge, and accepted into the operators' reserve (over max_connections,
 * tp_http_may_accept) or not. */
static char counted_mark, reserve_mark;

static bool counted(struct lws *wsi)
{
	void *mark = lws_get_opaque_user_data(wsi);

	return mark == &counted_mark || mark == &reserve_mark;
}

static struct tp_io *server_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/* Frees the request's buffers; the pss itself is lws's. */
static void pss_release(struct pss *pss)
{
	tp_buf_cleanup(&pss->in);
	tp_buf_cleanup(&pss->out);
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
	tp_render_error(resp->body, msg, field, extra);
}

/* The client's address (rate limits, logs): the TCP peer, or, when that
 * is one of trusted_proxies, the client X-Forwarded-For / X-Real-IP name
 * (include/tickpush/netaddr.h). */
static void client_addr(struct lws *wsi, char *out, size_t n)
{
	const struct tp_io *srv = server_of(wsi);
	char peer[TP_ADDR_STRLEN], real[TP_ADDR_STRLEN];
	char *xff = NULL;
	int len;

	lws_get_peer_simple(wsi, peer, sizeof(peer));
	if (!srv->trusted_proxies.n) {
		snprintf(out, n, "%s", peer);
		return;
	}
	/* X-Forwarded-For as long as lws kept it (http_header_max): a long
	 * chain must not fall back to the proxy's own address. */
	len = lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR);
	if (len > 0 && (xff = tp_malloc((size_t)len + 1)) &&
	    lws_hdr_copy(wsi, xff, len + 1, WSI_TOKEN_X_FORWARDED_FOR) < 0)
		xff[0] = '\0';
	if (lws_hdr_copy(wsi, real, sizeof(real), WSI_TOKEN_HTTP_X_REAL_IP) <= 0)
		real[0] = '\0';
	tp_client_addr(&srv->trusted_proxies, peer, xff, real, out, n);
	tp_free(xff);
}

double tp_http_elapsed_ms(const struct tp_http_req *req)
{
	return (tp_mono() - req->mono_start) * 1000.0;
}

static const enum lws_token_indexes uri_tokens[] = {
	WSI_TOKEN_GET_URI, WSI_TOKEN_POST_URI, WSI_TOKEN_PUT_URI,
	WSI_TOKEN_PATCH_URI, WSI_TOKEN_DELETE_URI, WSI_TOKEN_OPTIONS_URI,
	WSI_TOKEN_HEAD_URI, WSI_TOKEN_CONNECT,
};

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
	if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI))
		return TP_HTTP_OPTIONS;
	return TP_HTTP_OTHER;
}

/* Has the request line begun? (lws has seen a method and part of a URL.) */
static bool request_started(struct lws *wsi)
{
	for (size_t i = 0; i < TP_ARRAY_SIZE(uri_tokens); i++)
		if (lws_hdr_total_length(wsi, uri_tokens[i]) > 0)
			return true;
	return false;
}

static const struct tp_http_route *find_route(const struct tp_io *srv,
					      const char *path)
{
	for (size_t i = 0; i < srv->http_ops.routes_count; i++) {
		const struct tp_http_route *r = &srv->http_ops.routes[i];

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
		{TP_HTTP_PUT, "PUT"}, {TP_HTTP_DELETE, "DELETE"},
		{TP_HTTP_OPTIONS, "OPTIONS"}};
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

/* ---- the request head ---- */

/* Content-Length as lws saw it: -1 when absent; *bad when it is not a
 * plain decimal byte count (lws itself would read "abc" as 0). */
static long long content_length(struct lws *wsi, bool *bad)
{
	char cl[24];
	char *end;
	long long n;

	*bad = false;
	if (!lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH))
		return -1;
	if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
	    cl[0] < '0' || cl[0] > '9') {
		*bad = true;
		return -1;
	}
	errno = 0;
	n = strtoll(cl, &end, 10);
	if (errno || *end) {
		*bad = true;
		return -1;
	}
	return n;
}

/* Whether the client asked to end the connection after this request:
 * "Connection: close" (among other tokens), or HTTP/1.0 without
 * keep-alive, or a request line lws had to cut short. */
static bool wants_close(struct lws *wsi)
{
	char v[128], ver[16];
	bool close = false, keep = false, http11;

	http11 = lws_hdr_copy(wsi, ver, sizeof(ver), WSI_TOKEN_HTTP) > 0 &&
		 !strcmp(ver, "HTTP/1.1");
	if (lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_CONNECTION) > 0) {
		char *save = NULL;

		for (char *t = strtok_r(v, ", \t", &save); t;
		     t = strtok_r(NULL, ", \t", &save)) {
			close |= !tp_ascii_casecmp(t, "close");
			keep |= !tp_ascii_casecmp(t, "keep-alive");
		}
	}
	return close || (!http11 && !keep);
}

/* The header name of lws token t, lower case, without ':'. */
static void token_name(enum lws_token_indexes t, char *out, size_t n)
{
	const unsigned char *name = lws_token_to_string(t);
	size_t len = name ? strcspn((const char *)name, ": ") : 0;

	snprintf(out, n, "%.*s", (int)len, name ? (const char *)name : "");
}

static bool is_uri_token(int t)
{
	for (size_t i = 0; i < TP_ARRAY_SIZE(uri_tokens); i++)
		if (t == (int)uri_tokens[i])
			return true;
	return t == WSI_TOKEN_HTTP_URI_ARGS;
}

/*
 * lws keeps at most `limit` bytes of any one header or URL fragment
 * (server.c sets token_limits) and skips the rest of that line, so
 * reaching the limit means "was longer": 414 for the URL, 431 for a
 * header (named in *field), also 431 when the URL and the headers lws
 * knows reach it together. Returns the status, or 0 when within limits.
 */
static int oversized(struct lws *wsi, int limit, const char **field)
{
	static char name[48];
	int url = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS), total;

	*field = NULL;
	for (size_t i = 0; i < TP_ARRAY_SIZE(uri_tokens); i++)
		url += lws_hdr_total_length(wsi, uri_tokens[i]);
	if (url >= limit) {
		*field = "url";
		return 414;
	}
	total = url;
	for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
		int n = is_uri_token(t) ? 0 : lws_hdr_total_length(wsi, (enum lws_token_indexes)t);

		if (n >= limit) {
			token_name((enum lws_token_indexes)t, name, sizeof(name));
			*field = name[0] ? name : NULL;
			return 431;
		}
		total += n;
	}
	return total >= limit ? 431 : 0;
}

/* The lws defect described at the top: the first body bytes lws hands over
 * are this request's own request line ("POST /..."), method matched
 * without case as lws does. A real JSON body never starts like that. */
static bool own_head_as_body(struct lws *wsi, const char *in, size_t len)
{
	for (size_t i = 0; i < TP_ARRAY_SIZE(uri_tokens); i++) {
		const char *m = (const char *)lws_token_to_string(uri_tokens[i]);
		size_t n;

		if (!m || lws_hdr_total_length(wsi, uri_tokens[i]) <= 0)
			continue;
		n = strlen(m) < len ? strlen(m) : len; /* m ends in ' ' */
		return n > 0 && !tp_ascii_ncasecmp(in, m, n);
	}
	return false;
}

/* ---- answers ---- */

static void observe(struct pss *pss, int status)
{
	enum tp_route metric = pss->route ? pss->route->metric : TP_ROUTE_other;

	tp_metrics_observe_route(metric, tp_mono() - pss->mono_start);
	tp_metrics_http_response(status);
}

static int write_answer(struct lws *wsi, struct pss *pss);

/* The answer in pss->out is ready: record it, then write it now (`now`:
 * we are in the request's own LWS_CALLBACK_HTTP and nothing touches pss
 * after us) or ask for WRITEABLE. */
static int answer_ready(struct lws *wsi, struct pss *pss,
			const struct tp_http_resp *resp, bool now)
{
	if (pss->out.oom) {
		struct tp_http_resp oom = {503, NULL, &pss->out, NULL, 1};

		tp_buf_cleanup(&pss->out);
		tp_buf_init(&pss->out, LWS_PRE);
		tp_http_error(&oom, 503, "Out of memory", NULL, NULL);
		resp = &oom;
		pss->ans.status = 503;
		pss->ans.retry_after = 1;
	} else {
		pss->ans.status = resp->status;
		pss->ans.retry_after = resp->retry_after;
	}
	pss->ans.content_type = resp->content_type;
	snprintf(pss->ans.allow, sizeof(pss->ans.allow), "%s",
		 resp->allow ? resp->allow : "");
	pss->ans.headers_sent = false;
	pss->ans.sent = 0;
	observe(pss, pss->ans.status);
	/* Else no WRITEABLE (see the top). Only when we paused it: lws 4.1.6
	 * re-applies an enable that changes nothing, a uv_poll_start (two
	 * epoll_ctl) per answer. */
	if (pss->rx_paused) {
		pss->rx_paused = false;
		lws_rx_flow_control(wsi, 1);
	}
	/* A closing answer still goes from WRITEABLE: lws closes at once
	 * when a callback returns -1. */
	if (now && !tp_hc_closing(&pss->hc))
		return write_answer(wsi, pss);
	lws_callback_on_writable(wsi);
	return 0;
}

/* A refusal decided by the state machine (status, message, field). */
static int refuse(struct lws *wsi, struct pss *pss)
{
	struct tp_http_resp resp = {pss->hc.status, NULL, &pss->out, NULL, 0};

	tp_buf_cleanup(&pss->out);
	tp_buf_init(&pss->out, LWS_PRE);
	tp_buf_cleanup(&pss->in);
	tp_http_error(&resp, pss->hc.status, pss->hc.error, pss->hc.field, NULL);
	if (pss->hc.status == 503)
		resp.retry_after = 1;
	return answer_ready(wsi, pss, &resp, false);
}

/* The handler returned. */
static int respond(struct lws *wsi, struct pss *pss, struct tp_http_resp *resp)
{
	if (resp->status == 0) {
		/* Deferred. The handler may have completed it already (a query
		 * that failed at once) or started a stream; else its answer
		 * comes by ticket, and meanwhile lws leaves the connection
		 * unread. */
		if (pss->hc.state == TP_HC_WAITING) {
			pss->rx_paused = true;
			lws_rx_flow_control(wsi, 0);
			return 0;
		}
		if (pss->hc.state == TP_HC_STREAMING)
			return 0;
		if (pss->hc.state == TP_HC_SENDING) {
			lws_callback_on_writable(wsi);
			return 0;
		}
		/* Status 0 without a deferral: a handler bug, not a hang. */
		tp_http_error(resp, 500, "Internal error: no answer", NULL, NULL);
	}
	if (!tp_hc_respond(&pss->hc))
		return 0;
	return answer_ready(wsi, pss, resp, pss->answer_now);
}

static int add_header(struct lws *wsi, const char *name, const char *value,
		      unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
					   (const unsigned char *)value,
					   (int)strlen(value), p, end);
}

/* The CORS headers of an answer (cors.h decided at the head): the origin
 * allowed, credentials with an echoed origin only, what scripts may read;
 * for a preflight also the methods and headers allowed and for how long
 * the browser may cache that. */
static int add_cors_headers(struct lws *wsi, const struct pss *pss,
			    unsigned char **p, unsigned char *end)
{
	if (pss->cors_vary && add_header(wsi, "vary:", "Origin", p, end))
		return -1;
	if (pss->cors == TP_CORS_NONE)
		return 0;
	if (add_header(wsi, "access-control-allow-origin:",
		       pss->cors == TP_CORS_ANY ? "*" : pss->origin, p, end))
		return -1;
	if (pss->cors == TP_CORS_ECHO &&
	    add_header(wsi, "access-control-allow-credentials:", "true", p, end))
		return -1;
	if (!pss->preflight)
		return add_header(wsi, "access-control-expose-headers:",
				  "Retry-After", p, end) ? -1 : 0;
	if (add_header(wsi, "access-control-allow-methods:", pss->ans.allow, p, end) ||
	    add_header(wsi, "access-control-allow-headers:",
		       "Authorization, Content-Type, Last-Event-ID", p, end) ||
	    add_header(wsi, "access-control-max-age:", "600", p, end))
		return -1;
	return 0;
}

/* Status line and headers of pss->ans into [start, *pp). */
static int build_headers(struct lws *wsi, struct pss *pss, unsigned char **pp,
			 unsigned char *end)
{
	unsigned char *p = *pp;
	const struct answer *a = &pss->ans;
	const char *ctype = a->content_type ? a->content_type
					    : "application/json; charset=utf-8";

	if (lws_add_http_common_headers(wsi, (unsigned)a->status, ctype,
					pss->out.len, &p, end))
		return -1;
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end))
		return -1;
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
					(const unsigned char *)"nosniff", 7, &p, end))
		return -1;
	if (a->allow[0] &&
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
					(const unsigned char *)a->allow,
					(int)strlen(a->allow), &p, end))
		return -1;
	if (a->retry_after > 0) {
		char ra[16];
		int n = snprintf(ra, sizeof(ra), "%d", a->retry_after);

		if (lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
						(const unsigned char *)ra, n, &p, end))
			return -1;
	}
	if (tp_hc_closing(&pss->hc) &&
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
					(const unsigned char *)"close", 5, &p, end))
		return -1;
	if (add_cors_headers(wsi, pss, &p, end))
		return -1;
	if (lws_finalize_http_header(wsi, &p, end))
		return -1;
	*pp = p;
	return 0;
}

/* Writes status line and headers of pss->ans through lws. */
static int send_headers(struct lws *wsi, struct pss *pss)
{
	unsigned char hdr[LWS_PRE + 1024];
	unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
	int n;

	if (build_headers(wsi, pss, &p, end))
		return -1;
	n = (int)(p - start);
	return lws_write(wsi, start, (size_t)n, LWS_WRITE_HTTP_HEADERS) == n ? 0 : -1;
}

/* The connection whose answer our writev sent whole, while finish() has
 * lws complete its transaction (see uv_poll_start below); fd -1: none. */
static struct {
	int fd;
	const struct lws *wsi;
} completing = {-1, NULL};

/* The answer is out (`whole`: all of it by our writev): close, or let lws
 * read the next request. Nothing may touch pss after
 * lws_http_transaction_completed: lws frees it when it binds our protocol
 * afresh for the next request. */
static int finish(struct lws *wsi, struct pss *pss, bool whole)
{
	enum tp_hc_action next = tp_hc_sent(&pss->hc);
	int rc;

	pss_release(pss);
	if (next != TP_HC_NEXT)
		return -1;
	completing.fd = whole ? lws_get_socket_fd(wsi) : -1;
	completing.wsi = wsi;
	rc = lws_http_transaction_completed(wsi);
	completing.fd = -1;
	return rc ? -1 : 0;
}

/*
 * Headers and body leave together, in one writev straight to the socket:
 * one syscall and no WRITEABLE round per answer (lws would write the
 * headers, then the body in tx_packet_size pieces, each from its own
 * WRITEABLE). What the kernel does not take goes to lws, which buffers
 * it, sends it before anything else on the connection and completes the
 * transaction once it is out (lws_http_transaction_completed defers
 * itself while lws holds bytes). TLS, or bytes lws still holds: all of
 * it through lws.
 */
static int write_answer(struct lws *wsi, struct pss *pss)
{
	unsigned char hdr[LWS_PRE + 1024];
	unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
	unsigned char *body = (unsigned char *)tp_buf_data(&pss->out);
	size_t hlen, blen = pss->out.len, done = 0;
	bool whole;

	if (pss->ans.headers_sent)
		return 0;
	pss->ans.headers_sent = true;
	if (build_headers(wsi, pss, &p, end))
		return -1;
	hlen = (size_t)(p - start);
	if (!lws_is_ssl(wsi) && !lws_partial_buffered(wsi)) {
		struct iovec iov[2] = {{start, hlen}, {body, blen}};
		ssize_t r;

		do
			r = writev(lws_get_socket_fd(wsi), iov, blen ? 2 : 1);
		while (r < 0 && errno == EINTR);
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1; /* the peer is gone */
		done = r > 0 ? (size_t)r : 0;
	}
	whole = done == hlen + blen;
	if (done < hlen &&
	    lws_write(wsi, start + done, hlen - done, LWS_WRITE_HTTP_HEADERS) != (int)(hlen - done))
		return -1;
	done = done > hlen ? done - hlen : 0;
	/* Bytes in front of the rest are the LWS_PRE headroom or body
	 * already sent, which lws may use for framing. */
	if (done < blen &&
	    lws_write(wsi, body + done, blen - done, LWS_WRITE_HTTP_FINAL) != (int)(blen - done))
		return -1;
	pss->ans.sent = blen;
	return finish(wsi, pss, whole);
}

/* Writes a ready answer at once (not from WRITEABLE), for the one case
 * where the connection must close inside an lws callback: lws has copied
 * what it could not send, and a small JSON error always fits. */
static void write_answer_now(struct lws *wsi, struct pss *pss)
{
	unsigned char *p;

	if (pss->hc.state != TP_HC_SENDING || !pss->ans.status || pss->ans.headers_sent)
		return;
	pss->ans.headers_sent = true;
	if (send_headers(wsi, pss) || !pss->out.len)
		return;
	p = (unsigned char *)tp_buf_data(&pss->out);
	lws_write(wsi, p, pss->out.len, LWS_WRITE_HTTP_FINAL);
}

/* ---- deferred answers and streams ---- */

uint64_t tp_http_defer(const struct tp_http_req *req,
		       struct tp_http_resp *resp)
{
	struct pss *pss = lws_wsi_user(req->conn);
	uint64_t ticket = tp_hc_defer(&pss->hc);

	if (!ticket) {
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
		resp->retry_after = 1;
		return 0;
	}
	resp->status = 0;
	return ticket;
}

bool tp_http_complete(struct tp_io *srv, uint64_t ticket, int status,
		      struct tp_buf *body)
{
	struct tp_hc *hc = tp_hc_complete(&srv->http, ticket);
	struct lws *wsi;
	struct pss *pss;
	struct tp_http_resp resp = {status, NULL, NULL, NULL, 0};

	if (!hc) {
		tp_buf_reset(body);
		return false; /* the client went away */
	}
	wsi = hc->owner;
	pss = lws_wsi_user(wsi);
	/* The body needs LWS_PRE headroom in front for lws_write. */
	tp_buf_cleanup(&pss->out);
	tp_buf_init(&pss->out, LWS_PRE);
	tp_buf_append(&pss->out, tp_buf_data(body), body->len);
	tp_buf_reset(body);
	resp.body = &pss->out;
	answer_ready(wsi, pss, &resp, false);
	return true;
}

bool tp_http_complete_error(struct tp_io *srv, uint64_t ticket, int status,
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

bool tp_http_stream_start(struct tp_io *srv, uint64_t ticket, void *conn,
			  const struct tp_http_stream_ops *ops)
{
	struct tp_hc *hc = tp_hc_stream(&srv->http, ticket);
	struct lws *wsi;
	struct pss *pss;

	if (!hc)
		return false;
	wsi = hc->owner;
	pss = lws_wsi_user(wsi);
	pss->stream = conn;
	pss->stream_ops = ops;
	pss->stream_due = true;
	ops->attach(conn, wsi);
	pss->rx_paused = false;
	lws_rx_flow_control(wsi, 1);
	lws_callback_on_writable(wsi);
	return true;
}

static int send_stream_headers(struct lws *wsi, struct pss *pss)
{
	unsigned char hdr[LWS_PRE + 1024];
	unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;

	pss->stream_due = false;
	observe(pss, 200);
	if (lws_add_http_common_headers(wsi, 200, "text/event-stream",
					LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-cache", 8, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"x-accel-buffering:",
					(const unsigned char *)"no", 2, &p, end) ||
	    add_cors_headers(wsi, pss, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	/* No idle timeout on a stream; our keep-alive comments flow.
	 * (lws_http_mark_sse is for h2 streams and complains on h1.) */
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	lws_callback_on_writable(wsi);
	return 0;
}

/* ---- static files ---- */

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

/*
 * Heads lws gives up on. lws 4.1.6's parser abandons some request heads
 * before any callback of ours and closes the connection without a word:
 * a NUL byte in the URL (raw or %00), headers with no request line, a head
 * larger than its header table (http_header_max + TP_HTTP_HEAD_SLACK),
 * more URL arguments and header lines than its fragment slots, a second
 * request line. sniff.c answers those in a plain connection's first head,
 * before lws reads it; every other head (a later keep-alive request, any
 * on TLS, one beyond the table) is answered here, on the way out: lws ends
 * such a connection with lws_close_free_wsi(.., "lws_read_h1 bail"), a
 * call from inside libwebsockets.so that binds to the definition below
 * (interposition, as for lws_return_http_status), which answers and then
 * lets lws's own close go on. Nothing is added to a well-formed request.
 *
 * The same bail also ends a connection for reasons that are not a dropped
 * head, so the answer goes only to a client connection (counted_mark)
 * whose current head never reached us (no LWS_CALLBACK_HTTP: a head that
 * did is ours, answered or closed on purpose; nor a WebSocket) and that
 * lws did not answer itself in this loop turn (lws_return_http_status,
 * an Upgrade: lws_answers). lws parses no head while the previous answer
 * is being written (http.c's top), so this answer follows the previous
 * one whole: never a second answer to one head, never one inside another.
 *
 * What was wrong, lws says only in its log, right before giving up (the
 * same call): server.c hands its lines to tp_http_lws_log. A head it gave
 * up on without a word had a NUL byte in its URL (the one silent failure
 * of lws_parse).
 */
static struct {
	const struct lws *wsi;        /* lws answered this connection's head... */
	uint64_t turn;                /* ...in this loop turn */
} lws_answered;

enum lws_complaint {
	LWS_SAID_NOTHING,
	LWS_NO_ROOM,                  /* the header table is full */
	LWS_NO_SLOTS,                 /* fragment slots used up */
	LWS_NO_METHOD,                /* headers without a request line */
	LWS_TWO_METHODS,              /* a second request line */
};

/* Since the last bail, or the last head lws answered or handed to us: lws
 * logs "Missing URI" about an Upgrade head it then still asks us to
 * confirm, and a complaint left over from that would become the reason
 * given for some other connection's dropped head. */
static enum lws_complaint complaint;

static void lws_answers(struct lws *wsi)
{
	lws_answered.wsi = wsi;
	lws_answered.turn = server_of(wsi)->loop_turn;
	complaint = LWS_SAID_NOTHING; /* it was about this head */
}

bool tp_http_lws_log(const char *line)
{
	static const struct {
		const char *text;
		enum lws_complaint what;
	} said[] = {
		{"Ran out of header data space", LWS_NO_ROOM},
		{"More hdr frags than we can deal with", LWS_NO_SLOTS},
		{"Missing URI in HTTP request", LWS_NO_METHOD},
		{"Duplicated method", LWS_TWO_METHODS},
		{"multiple methods?", LWS_TWO_METHODS},
	};
	size_t n = strcspn(line, "\r\n");

	for (size_t i = 0; i < TP_ARRAY_SIZE(said); i++)
		if (strlen(said[i].text) == n && !memcmp(line, said[i].text, n)) {
			complaint = said[i].what;
			return true;
		}
	return false;
}

static void dropped_error(const struct tp_io *srv, enum lws_complaint what,
			  struct tp_head_error *err)
{
	static char room[128];

	memset(err, 0, sizeof(*err));
	switch (what) {
	case LWS_NO_ROOM:
		snprintf(room, sizeof(room), "Request head too large: its headers exceed "
			 "the server's header table (%d bytes)",
			 tp_http_header_limit(srv->cfg) + TP_HTTP_HEAD_SLACK);
		err->status = 431;
		err->error = room;
		break;
	case LWS_NO_SLOTS:
		err->status = 431;
		err->error = "Too many URL arguments and header lines";
		break;
	case LWS_NO_METHOD:
		err->status = 400;
		err->error = "Malformed request line: the head has no method and URL";
		break;
	case LWS_TWO_METHODS:
		err->status = 400;
		err->error = "Malformed header line: a second request line";
		err->field = "header";
		break;
	default:
		err->status = 400;
		err->error = "url: a NUL byte (raw or %00) is not allowed";
		err->field = "url";
		break;
	}
}

/* The refusal, straight into the connection before lws closes it (lws
 * sends what the socket does not take before closing). The unread rest of
 * a head beyond the table is read away first, as far as it is there:
 * closing over unread bytes would reset the connection, and a reset can
 * destroy the answer on its way. */
static void answer_dropped_head(struct lws *wsi)
{
	struct pss *pss = lws_wsi_user(wsi);
	const struct tp_io *srv = server_of(wsi);
	enum lws_complaint what = complaint;
	struct tp_head_error err;
	char junk[4096];
	struct tp_buf b;

	complaint = LWS_SAID_NOTHING;
	if (!counted(wsi) || (pss && (pss->head_seen || pss->ws)) ||
	    (lws_answered.wsi == wsi && lws_answered.turn == srv->loop_turn))
		return;
	dropped_error(srv, what, &err);
	for (int i = 0; i < 16 && recv(lws_get_socket_fd(wsi), junk, sizeof(junk),
				      MSG_DONTWAIT) > 0; i++)
		;
	tp_buf_init(&b, LWS_PRE);
	tp_http_head_refusal(&err, &b);
	if (!b.oom)
		(void)lws_write(wsi, (unsigned char *)tp_buf_data(&b), b.len, LWS_WRITE_HTTP);
	tp_buf_cleanup(&b);
	tp_sniff_refused(wsi, &err);
}

typedef void lws_close_fn(struct lws *wsi, enum lws_close_status reason,
			  const char *caller);

void lws_close_free_wsi(struct lws *wsi, enum lws_close_status reason, const char *caller)
{
	static lws_close_fn *lws_own;

	if (!lws_own) {
		void *sym = dlsym(RTLD_NEXT, "lws_close_free_wsi");

		if (!sym)
			abort(); /* cannot be: libwebsockets is linked */
		memcpy(&lws_own, &sym, sizeof(lws_own));
	}
	if (caller && !strcmp(caller, "lws_read_h1 bail"))
		answer_dropped_head(wsi);
	lws_own(wsi, reason, caller);
}

/*
 * lws's own error answers, in our JSON. lws 4.1.6 answers what its parser
 * refuses (a URL it will not sanitise, a request line without a method,
 * an unknown Upgrade, ...) by itself, before any callback of ours, through
 * lws_return_http_status and an HTML page: on keep-alive requests and TLS
 * connections too, where sniff.c cannot look. Inside libwebsockets.so
 * every call to that function goes through the PLT, so this definition in
 * our executable is the one they bind to (symbol interposition, the way
 * malloc replacements work); integration.hostile fails if it stops being
 * so. lws's 403 means "I could not parse this", so it is answered as 400.
 * Headers as lws writes them (no content-length state: lws_write counts
 * the whole answer as body).
 */
int lws_return_http_status(struct lws *wsi, unsigned int code, const char *html_body)
{
	unsigned char buf[LWS_PRE + 1024];
	unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
	unsigned status = code == HTTP_STATUS_FORBIDDEN ? 400 : code;
	const char *msg = status == 400 ? "Malformed request: the request line, URL or "
					  "headers could not be parsed"
			  : status == 404 ? "Not found"
			  : status == 415 ? "Unsupported media type"
			  : status == 416 ? "Range not satisfiable"
			  : status == 503 ? "Service unavailable"
					  : "Request refused";
	struct tp_buf body;
	char len[24];
	int llen, n, rc = 1;

	(void)html_body;
	lws_answers(wsi);
	tp_buf_init(&body, 0);
	tp_render_error(&body, msg, NULL, NULL);
	llen = snprintf(len, sizeof(len), "%zu", body.len);
	if (body.oom || lws_add_http_header_status(wsi, status, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
					 (const unsigned char *)"application/json; charset=utf-8",
					 31, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
					 (const unsigned char *)len, llen, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
					(const unsigned char *)"nosniff", 7, &p, end) ||
	    lws_finalize_http_header(wsi, &p, end) || end - p < (ptrdiff_t)body.len)
		goto out;
	memcpy(p, tp_buf_data(&body), body.len);
	p += body.len;
	n = (int)(p - start);
	tp_metrics_http_response((int)status);
	rc = lws_write(wsi, start, (size_t)n, LWS_WRITE_HTTP) != n;
out:
	tp_buf_cleanup(&body);
	return rc;
}

/*
 * The keep-alive POLLOUT round, and poll restarts that change nothing.
 * After each keep-alive answer lws 4.1.6 (lws_http_transaction_completed)
 * parks the connection (LRS_DEFERRING_ACTION) in a state that reads
 * nothing until the socket reports writable, and asks for that
 * (lws_callback_on_writable); when POLLOUT comes it turns POLLOUT off
 * again, twice (lws_h1_server_socket_service), and when the next request
 * arrives it enables the POLLIN it already has (lws_header_table_attach).
 * Its libuv glue (elops_io_uv) hands every such change to uv_poll_start,
 * and libuv 1.44 implements each call as a stop (an EPOLL_CTL_DEL at
 * once) and a start (an ADD at the next poll), even when the events stay
 * the same: per request four uv_poll_start, six epoll_ctl and a second
 * epoll_wait.
 *
 * Calls to uv_poll_start from lws's libuv plugin bind to this definition
 * (interposition, as for lws_close_free_wsi; our own calls do too):
 *  - a start with the very events, callback and state the handle already
 *    has is not passed on (libuv would only drop and re-add the fd);
 *  - the POLLOUT lws asks for inside finish(), for a connection whose
 *    answer our writev sent whole, is not asked of the kernel: lws wants
 *    it only to leave that parked state (it writes nothing then, as
 *    nothing is left to write), so it is handed to lws's own poll
 *    callback from an idle handle, at the start of the next loop turn,
 *    exactly as libuv would have reported it. A change lws makes to that
 *    handle meanwhile (POLLOUT off, reading paused) cancels it; a handle
 *    closed or stopped by then gets nothing; WSI_DESTROY drops it.
 * So a keep-alive request costs its read and its writev, and no epoll_ctl.
 */
typedef int uv_poll_start_fn(uv_poll_t *h, int events, uv_poll_cb cb);

#define TP_WRITABLE_DUE_MAX 256

struct writable_due {
	uv_poll_t *h;
	uv_poll_cb cb;
	const struct lws *wsi;
};

static struct {
	struct writable_due at[TP_WRITABLE_DUE_MAX];
	unsigned n;
	uv_idle_t *idle;              /* delivers them; closed once it has */
} due;

static int due_find(const uv_poll_t *h)
{
	for (unsigned i = 0; i < due.n; i++)
		if (due.at[i].h == h)
			return (int)i;
	return -1;
}

static void due_drop(unsigned i)
{
	due.at[i] = due.at[--due.n];
}

/* The connection is being freed: its handle goes with it. */
static void due_forget(const struct lws *wsi)
{
	for (unsigned i = due.n; i-- > 0;)
		if (due.at[i].wsi == wsi)
			due_drop(i);
}

static void idle_closed(uv_handle_t *h)
{
	tp_free(h);
}

static void due_deliver(uv_idle_t *idle)
{
	struct writable_due at[TP_WRITABLE_DUE_MAX];
	unsigned n = due.n;

	memcpy(at, due.at, n * sizeof(at[0]));
	due.n = 0;
	due.idle = NULL;
	uv_close((uv_handle_t *)idle, idle_closed);
	/* A handle closed meanwhile is still memory until the loop's closing
	 * phase, which comes after this one. */
	for (unsigned i = 0; i < n; i++)
		if (uv_is_active((uv_handle_t *)at[i].h) &&
		    !uv_is_closing((uv_handle_t *)at[i].h))
			at[i].cb(at[i].h, 0, UV_WRITABLE);
}

static bool due_add(uv_poll_t *h, uv_poll_cb cb)
{
	if (due.n == TP_WRITABLE_DUE_MAX)
		return false;
	if (!due.idle) {
		uv_idle_t *idle = tp_malloc(sizeof(*idle));

		if (!idle)
			return false;
		uv_idle_init(h->loop, idle);
		uv_idle_start(idle, due_deliver);
		due.idle = idle;
	}
	due.at[due.n++] = (struct writable_due){h, cb, completing.wsi};
	return true;
}

/* Would uv_poll_start(h, events, cb) leave h as it is? */
static bool poll_unchanged(const uv_poll_t *h, int events, uv_poll_cb cb)
{
	unsigned want = (events & UV_READABLE ? POLLIN : 0u) |
			(events & UV_WRITABLE ? POLLOUT : 0u);

	return !(events & ~(UV_READABLE | UV_WRITABLE)) &&
	       uv_is_active((const uv_handle_t *)h) &&
	       !uv_is_closing((const uv_handle_t *)h) && h->poll_cb == cb &&
	       h->io_watcher.pevents == want;
}

int uv_poll_start(uv_poll_t *h, int events, uv_poll_cb cb)
{
	static uv_poll_start_fn *uv_own;
	int i = due_find(h);

	if (!uv_own) {
		void *sym = dlsym(RTLD_NEXT, "uv_poll_start");

		if (!sym)
			abort(); /* cannot be: libuv is linked */
		memcpy(&uv_own, &sym, sizeof(uv_own));
	}
	if (i >= 0) {
		if ((events & UV_WRITABLE) && poll_unchanged(h, events & ~UV_WRITABLE, cb))
			return 0; /* POLLOUT is still due from us */
		due_drop((unsigned)i);
	} else if (completing.fd >= 0 && h->io_watcher.fd == completing.fd &&
		   events == (UV_READABLE | UV_WRITABLE) &&
		   poll_unchanged(h, UV_READABLE, cb) && due_add(h, cb)) {
		completing.fd = -1;
		return 0;
	}
	if (poll_unchanged(h, events, cb))
		return 0;
	return uv_own(h, events, cb);
}

/* The regular file that path names under the web-demo folder, with every
 * symlink resolved, in out; false when there is none or it resolves to
 * anything outside the folder (a link to /etc/passwd is not served). */
static bool static_file(const char *dir, const char *path, char *out, size_t n)
{
	char want[PATH_MAX], root[PATH_MAX];
	struct stat st;
	size_t len;
	int w;

	w = snprintf(want, sizeof(want), "%s%s%s", dir, path,
		     path[strlen(path) - 1] == '/' ? "index.html" : "");
	if (w < 0 || (size_t)w >= sizeof(want) || n < PATH_MAX ||
	    !realpath(dir, root) || !realpath(want, out))
		return false;
	len = strlen(root);
	if (strncmp(out, root, len) || out[len] != '/')
		return false;
	return !stat(out, &st) && S_ISREG(st.st_mode);
}

/* Returns 1 when a static file is being served, 0 when not applicable. */
static int try_static(struct lws *wsi, struct pss *pss, int *ret)
{
	static const char cache[] = "cache-control: no-cache\r\n";
	static const char cache_close[] = "cache-control: no-cache\r\nconnection: close\r\n";
	struct tp_io *srv = server_of(wsi);
	const char *dir = srv->cfg->web_demo_dir;
	const char *extra;
	char full[PATH_MAX];
	int n;

	if (!dir || !dir[0] || pss->method != TP_HTTP_GET ||
	    !strncmp(pss->path, "/api/", 5) || !safe_static_path(pss->path) ||
	    !static_file(dir, pss->path, full, sizeof(full)) || !tp_hc_respond(&pss->hc))
		return 0;
	tp_metrics_observe_route(TP_ROUTE_static, tp_mono() - pss->mono_start);
	tp_metrics_http_response(200);
	extra = tp_hc_closing(&pss->hc) ? cache_close : cache;
	n = lws_serve_http_file(wsi, full, mime_of(full), extra, (int)strlen(extra));
	/* > 0: lws sent it all at once; else FILE_COMPLETION follows. */
	*ret = n < 0 ? -1 : n > 0 ? finish(wsi, pss, false) : 0;
	return 1;
}

/* ---- dispatch ---- */

/* OPTIONS on a route: a CORS preflight when the browser sends an Origin
 * (refused with 403 when that origin may not call us), else just Allow. */
static int preflight(struct lws *wsi, struct pss *pss)
{
	struct tp_http_resp resp = {204, NULL, &pss->out, NULL, 0};
	char allow[64];

	allow_text(pss->route->methods | TP_HTTP_OPTIONS, allow, sizeof(allow));
	resp.allow = allow;
	pss->preflight = true;
	if (pss->origin[0] && pss->cors == TP_CORS_NONE)
		tp_http_error(&resp, 403, "Origin not allowed", "origin", NULL);
	return respond(wsi, pss, &resp);
}

static int dispatch(struct lws *wsi, struct pss *pss)
{
	struct tp_io *srv = server_of(wsi);
	struct tp_http_resp resp = {200, NULL, &pss->out, NULL, 0};
	struct tp_query query;
	struct tp_errdetail err = {{0}, NULL};
	char allow[64];
	int rc;

	tp_buf_init(&pss->out, LWS_PRE);
	if (!pss->route) {
		if (try_static(wsi, pss, &rc))
			return rc;
		tp_http_error(&resp, 404, "Not found", NULL, NULL);
		return respond(wsi, pss, &resp);
	}
	if (pss->method == TP_HTTP_OPTIONS)
		return preflight(wsi, pss);
	if (!(pss->route->methods & pss->method)) {
		allow_text(pss->route->methods, allow, sizeof(allow));
		resp.allow = allow;
		tp_http_error(&resp, 405, "Method not allowed", NULL, NULL);
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
	client_addr(wsi, req.peer, sizeof(req.peer));
	if (srv->cfg->require_auth_everywhere && !pss->route->public &&
	    !(pss->route->alt_auth && pss->route->alt_auth(&req))) {
		long long uid;

		/* TICKPUSH_REQUIRE_AUTH: public reads need a token too. */
		if (srv->http_ops.require_user(&req, &resp, &uid)) {
			tp_query_cleanup(&query);
			return respond(wsi, pss, &resp);
		}
	}
	pss->route->handler(&req, &resp);
	tp_query_cleanup(&query);
	return respond(wsi, pss, &resp);
}

/* Acts on what the state machine decided for a head or a body's end. */
static int act(struct lws *wsi, struct pss *pss, enum tp_hc_action a)
{
	switch (a) {
	case TP_HC_DISPATCH:
		return dispatch(wsi, pss);
	case TP_HC_REFUSE:
		return refuse(wsi, pss);
	case TP_HC_READ_BODY:
		tp_buf_init(&pss->in, 0);
		return 0;
	case TP_HC_CLOSE:
		return -1;
	default:
		return 0;
	}
}

/* The CORS decision for this request, made while lws still holds its
 * head (a deferred answer is written after lws may have let it go). */
static void cors_of(struct lws *wsi, const struct tp_io *srv, struct pss *pss)
{
	const char *list = tp_cors_list(srv->cfg->cors_origins, srv->cfg->allowed_origins);

	if (lws_hdr_copy(wsi, pss->origin, sizeof(pss->origin), WSI_TOKEN_ORIGIN) <= 0)
		pss->origin[0] = '\0';
	pss->cors = tp_cors_decide(list, pss->origin);
	pss->cors_vary = tp_cors_varies(list);
	pss->preflight = false;
}

/* The probes and /metrics: what a full server still serves. */
static bool ops_route(const struct tp_http_route *r)
{
	return r && (r->metric == TP_ROUTE_probes || r->metric == TP_ROUTE_metrics);
}

static int on_http(struct lws *wsi, struct pss *pss, const char *uri)
{
	struct tp_io *srv = server_of(wsi);
	struct tp_hc_head head;
	const char *field;
	int status;

	lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL); /* the idle timer */
	pss->head_seen = true;
	complaint = LWS_SAID_NOTHING; /* whatever lws said, this head is ours */
	tp_hc_attach(&pss->hc, &srv->http, wsi);
	pss->mono_start = tp_mono();
	pss->method = method_of(wsi);
	snprintf(pss->path, sizeof(pss->path), "%s", uri ? uri : "/");
	pss->route = find_route(srv, pss->path);
	cors_of(wsi, srv, pss);

	memset(&head, 0, sizeof(head));
	head.body_method = pss->method == TP_HTTP_POST || pss->method == TP_HTTP_PUT ||
			   lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI) > 0;
	head.content_length = content_length(wsi, &head.bad_length);
	head.chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
	head.close = wants_close(wsi);
	status = oversized(wsi, tp_http_header_limit(srv->cfg), &field);
	if (status) {
		head.refuse_status = status;
		head.refuse_error = status == 414 ? "URL too long" : "Request header too large";
		head.refuse_field = field;
	} else if (srv->stopping) {
		head.refuse_status = 503;
		head.refuse_error = "Server is shutting down";
	} else if (!ops_route(pss->route) && tp_http_refuse_full(wsi)) {
		head.refuse_status = 503;
		head.refuse_error = TP_HTTP_FULL_MSG;
	}
	/* A request without a body is answered from here, in one write. */
	pss->answer_now = true;
	return act(wsi, pss, tp_hc_on_head(&pss->hc, &head));
}

static int on_body(struct lws *wsi, struct pss *pss, const char *in, size_t len)
{
	if (!pss->body_seen) {
		pss->body_seen = true;
		if (own_head_as_body(wsi, in, len)) {
			/* The lws defect (see the top): refuse, read nothing. */
			pss->bad_pipeline = true;
			if (tp_hc_refuse(&pss->hc, 400, "A request with a body cannot be "
					 "pipelined behind another: send it after the "
					 "previous answer", NULL) == TP_HC_REFUSE)
				return refuse(wsi, pss);
		}
	}
	if (!pss->bad_pipeline && tp_hc_on_body(&pss->hc, len))
		tp_buf_append(&pss->in, in, len);
	else
		tp_buf_cleanup(&pss->in);
	return 0;
}

/* lws repeats HTTP_BODY_COMPLETION at most twice per loop turn for a
 * request whose answer is under way (see the top); many more in one turn
 * is the loop it never leaves, whatever led to it. */
static bool lws_is_looping(struct lws *wsi, struct pss *pss)
{
	uint64_t turn = server_of(wsi)->loop_turn;

	if (pss->completion_turn != turn) {
		pss->completion_turn = turn;
		pss->completions = 0;
	}
	return ++pss->completions > 8;
}

/* The request (or this binding of our protocol to it) ended. */
static void request_gone(struct pss *pss)
{
	if (pss->stream) {
		pss->stream_ops->closed(pss->stream);
		pss->stream = NULL;
	}
	tp_hc_closed(&pss->hc);
	pss_release(pss);
}

bool tp_http_refuse_full(struct lws *wsi)
{
	if (lws_get_opaque_user_data(wsi) != &reserve_mark)
		return false;
	if (TP_METRIC_GET(http_connections) <=
	    (uint64_t)server_of(wsi)->cfg->max_connections) {
		lws_set_opaque_user_data(wsi, &counted_mark); /* room again */
		return false;
	}
	TP_METRIC_INC(connections_refused);
	return true;
}

bool tp_http_may_accept(struct tp_io *srv)
{
	static struct tp_log_ratelimit rl;
	unsigned long skipped;

	/* max_connections and the reserve: refuse at accept. The gauge
	 * counts every client connection from accept to close: idle, HTTP
	 * (SSE included) and WebSocket. */
	if (TP_METRIC_GET(http_connections) <
	    (uint64_t)srv->cfg->max_connections + TP_HTTP_OPS_RESERVE)
		return true;
	TP_METRIC_INC(connections_refused);
	if (tp_log_ratelimit_allow(&rl, tp_mono(), 1.0, &skipped))
		TP_LOG(TP_LOG_WARN, "msg=\"connection refused: max_connections reached\" max=%d suppressed=%lu",
		       srv->cfg->max_connections, skipped);
	return false;
}

/* A WebSocket session's reasons go to ws.c (the wiring's hook). */
static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
		       struct pss *pss, void *in, size_t len)
{
	return server_of(wsi)->http_ops.ws_callback(wsi, (int)reason, &pss->ws,
						    in, len);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct pss *pss = user;

	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		return tp_http_may_accept(server_of(wsi)) ? 0 : 1;
	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
		lws_set_opaque_user_data(wsi, TP_METRIC_GET(http_connections) <
						 (uint64_t)server_of(wsi)->cfg->max_connections
					 ? &counted_mark : &reserve_mark);
		TP_METRIC_INC(http_connections);
		/* A connection that starts no request is closed (TIMER). */
		lws_set_timer_usecs(wsi, (lws_usec_t)server_of(wsi)->cfg->http_idle_timeout *
					 LWS_US_PER_SEC);
		/* Its first head, before lws parses it (sniff.c). */
		return tp_sniff_accepted(server_of(wsi), wsi);
	case LWS_CALLBACK_TIMER:
		/* The idle timer: no request completed yet (no pss) and none
		 * begun. One that has begun has http_timeout to finish. */
		if (pss || request_started(wsi) || tp_sniff_started(server_of(wsi), wsi))
			return 0;
		TP_METRIC_INC(http_idle_closed);
		return -1;
	case LWS_CALLBACK_WSI_DESTROY:
		/* Normally a no-op by now (DROP_PROTOCOL or CLOSED_HTTP came
		 * first): a ticket must never outlive its pss. */
		if (pss)
			request_gone(pss);
		due_forget(wsi);
		if (counted(wsi)) {
			tp_sniff_gone(server_of(wsi), wsi);
			lws_set_opaque_user_data(wsi, NULL);
			TP_METRIC_SET(http_connections, TP_METRIC_GET(http_connections) - 1);
		}
		break;
	case LWS_CALLBACK_HTTP:
		return on_http(wsi, pss, in);
	case LWS_CALLBACK_HTTP_BODY:
		return on_body(wsi, pss, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		pss->answer_now = false;
		if (pss->bad_pipeline || lws_is_looping(wsi, pss)) {
			/* lws would call this again forever: answer, close. */
			write_answer_now(wsi, pss);
			return -1;
		}
		return act(wsi, pss, tp_hc_on_body_done(&pss->hc));
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!pss)
			return 0;
		if (pss->stream_due)
			return send_stream_headers(wsi, pss);
		if (pss->stream)
			return pss->stream_ops->writeable(pss->stream, wsi);
		if (pss->hc.state != TP_HC_SENDING || !pss->ans.status)
			return 0; /* spurious, or lws is serving a file */
		return write_answer(wsi, pss);
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		return pss ? finish(wsi, pss, false) : -1;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (pss)
			request_gone(pss);
		break;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
		/* lws 4.1.6 answers an unknown Upgrade with its own 403, ends
		 * the transaction (freeing the headers `in` points into) and
		 * then still asks us to confirm: answering again would send a
		 * second answer to one request (fuzz_http found it). Only the
		 * header table can tell: it is gone by then. Hang up. */
		char up[16];

		lws_answers(wsi); /* whatever comes of it: not a dropped head */
		if (lws_hdr_copy(wsi, up, sizeof(up), WSI_TOKEN_UPGRADE) <= 0 ||
		    (!tp_ascii_ieq(up, "websocket") && !tp_ascii_ieq(up, "h2c")))
			return -1;
		lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
		return server_of(wsi)->http_ops.ws_confirm_upgrade(wsi);
	}
	case LWS_CALLBACK_CLOSED:
		/* An upgraded connection ends here, not in CLOSED_HTTP. */
		return pss ? ws_callback(wsi, reason, pss, in, len) : 0;
	case LWS_CALLBACK_ESTABLISHED:
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_RECEIVE_PONG:
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return pss ? ws_callback(wsi, reason, pss, in, len) : -1;
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
