/*
 * sse.c - the HTTP push fallbacks: Server-Sent Events (GET /api/stream)
 * and long-poll (GET /api/patterns/poll), plus tp_stream_send, the one
 * transport operation the push hub calls for every kind of connection.
 *
 * Both carry exactly the frames of the WebSocket protocol, with the same
 * filters, presets and epoch/seq positions, so a client can switch
 * transports and resume:
 *  - SSE: each frame is an event "id: <epoch>:<seq>", "event: <type>",
 *    "data: <the WebSocket frame>"; Last-Event-ID (or ?since=e:s) resumes;
 *    a comment line every 15 s keeps proxies from closing the stream. The
 *    stream is a never-ending HTTP response; once its headers are out its
 *    events go through the push write path (writer.c) like WebSocket
 *    frames: the shared part of an event is not copied per stream, and
 *    events leave in the loop turn that queued them, several per write.
 *    The queue is byte-bounded like a WebSocket session's (a slow reader
 *    is cut).
 *  - long-poll: answers at once with the matching events after `since`
 *    from the history, else waits (a deferred response) until one arrives
 *    or `timeout` (<= 30 s) passes; events arriving in the same loop turn
 *    are batched into one answer.
 *
 * Subscriptions: "patterns" (the filter from the query, or preset_id),
 * "health", "backtests" (signed-in only), chosen with ?channels= (SSE).
 *
 * With a token, its account must still exist (accounts.h): checked before
 * the stream or poll starts (401 when deleted), and for an open SSE stream
 * by the 1 Hz tick, which ends it with an "error" event (unauthorized)
 * once the account is found deleted.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>

#include "accounts.h"
#include "api.h"
#include "http.h"
#include "presets.h"
#include "stream.h"
#include "tickpush/alloc.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"
#include "tickpush/proto.h"
#include "tickpush/push.h"
#include "tickpush/streamparams.h"
#include "writer.h"

#define SSE_KEEPALIVE_S 15.0

/* ---- the hub's transport operation ---- */

int tp_stream_send(void *transport, const struct tp_push_frame *f)
{
	struct tp_stream_conn *c = transport;

	switch (c->kind) {
	case TP_STREAM_WS: return tp_ws_frame_enqueue(c, f);
	case TP_STREAM_SSE: return tp_sse_frame_enqueue(c, f);
	case TP_STREAM_POLL:
		/* Control frames (subscribed, snapshot) are not events. */
		if (!strcmp(f->type, "subscribed") || !strcmp(f->type, "snapshot"))
			return TP_OK;
		return tp_poll_frame_collect(c, f);
	}
	return TP_ERR_INVAL;
}

/* ---- shared request parsing ---- */

/* The request while tp_stream_params_parse runs: its need_user hook. */
struct stream_parse {
	const struct tp_http_req *req;
	struct tp_http_resp *resp;
	long long user;
};

static int stream_need_user(void *ud)
{
	struct stream_parse *sp = ud;

	return tp_http_require_user(sp->req, sp->resp, &sp->user);
}

/* Validates the query (core/streamparams.c) and the token; on error fills
 * resp and returns nonzero. */
static int stream_params_parse(const struct tp_http_req *req,
			       struct tp_http_resp *resp, bool sse,
			       struct tp_stream_params *sp, long long *user)
{
	struct tp_errdetail err = {{0}, NULL};
	struct stream_parse ctx = {req, resp, 0};
	char auth[64], leid[64];
	struct tp_stream_in in = {
		.query = req->query, .sse = sse,
		.has_auth = tp_http_req_header(req, "authorization:", auth, sizeof(auth)) > 0,
		.last_event_id = sse && tp_http_req_header(req, "last-event-id:", leid,
							   sizeof(leid)) > 0 ? leid : NULL,
		.epoch = req->srv->epoch, .need_user = stream_need_user, .ud = &ctx,
	};
	int rc = tp_stream_params_parse(&in, sp, &err);

	if (rc == TP_ERR_INVAL)
		tp_http_error(resp, 400, err.msg, err.field, NULL);
	*user = ctx.user;
	return rc;
}

/* ---- SSE ---- */

struct sse_conn {
	struct tp_stream_conn base;
	struct tp_server *srv;
	struct tp_push_session *push;
	void *wsi;                 /* struct lws *, NULL once closed */
	struct tp_wconn out;       /* events not yet written (writer.h) */
	bool slow;
	bool ending;               /* close once the queue is written */
	long long user;            /* the token's user, 0 = anonymous */
	double last_write;
	struct sse_conn *next, *prev; /* srv->sse list, for keep-alives */
};

/* Cuts a reader that fell too far behind, from its own WRITEABLE. */
static void sse_cut(struct sse_conn *c)
{
	c->slow = true;
	TP_METRIC_INC(ws_slow_closed);
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

/* Queues one event: pre (its id:/event:/data: lines) and head copied,
 * tail shared, then the blank line that ends it. */
static int sse_push(struct sse_conn *c, const char *pre, size_t pre_len,
		    const char *head, size_t head_len, struct tp_shbuf *tail,
		    bool bounded, bool urgent)
{
	struct tp_outq_parts p = {
		.pre = pre, .pre_len = pre_len, .head = head,
		.head_len = head_len, .tail = tail,
		.tail_len = tail ? tail->len : 0,
	};
	size_t len = pre_len + head_len + p.tail_len;

	if (c->slow)
		return TP_ERR_LIMIT;
	if (head_len || tail) {
		p.suffix = "\n\n";
		p.suffix_len = 2;
		len += 2;
	}
	if ((bounded && c->out.q.bytes + len > (size_t)c->srv->cfg->ws_queue_max_bytes) ||
	    tp_wconn_push(&c->out, &p, urgent)) {
		sse_cut(c);
		return TP_ERR_LIMIT;
	}
	c->last_write = tp_mono();
	return TP_OK;
}

int tp_sse_frame_enqueue(struct tp_stream_conn *sc, const struct tp_push_frame *f)
{
	struct sse_conn *c = (struct sse_conn *)sc;
	char pre[128];
	int n;

	if (f->seq)
		n = snprintf(pre, sizeof(pre), "id: %s:%llu\nevent: %s\ndata: ",
			     c->srv->epoch, (unsigned long long)f->seq, f->type);
	else
		n = snprintf(pre, sizeof(pre), "event: %s\ndata: ", f->type);
	if (n < 0 || (size_t)n >= sizeof(pre))
		return TP_ERR_LIMIT; /* cannot happen: short epoch and type */
	/* Frames are single-line JSON: no "data:" continuation needed. */
	return sse_push(c, pre, (size_t)n, f->head, f->head_len, f->tail, true,
			f->seq == 0);
}

void tp_sse_attach(void *conn, struct lws *wsi)
{
	struct sse_conn *c = conn;

	c->wsi = wsi;
}

/* Called by http.c from HTTP_WRITEABLE of a streaming connection, once
 * the response headers are out: from then on the writer may write the
 * stream's events straight to the socket. */
int tp_sse_writeable(void *conn, struct lws *wsi)
{
	struct sse_conn *c = conn;

	if (c->slow)
		return -1; /* cut a reader that fell too far behind */
	if (!c->out.wsi && tp_wconn_attach(&c->out, wsi, LWS_WRITE_HTTP))
		return -1;
	tp_wconn_writeable(&c->out);
	if (c->out.failed)
		return -1;
	if (c->ending) {
		/* The last event is written (or with lws, which sends its
		 * buffered bytes first): end the stream. */
		if (tp_wconn_idle(&c->out) && !lws_partial_buffered(wsi))
			return -1;
		lws_callback_on_writable(wsi);
	}
	return 0;
}

void tp_sse_closed(void *conn)
{
	struct sse_conn *c = conn;

	if (c->prev)
		c->prev->next = c->next;
	else
		c->srv->sse = c->next;
	if (c->next)
		c->next->prev = c->prev;
	tp_push_session_destroy(c->push);
	tp_wconn_cleanup(&c->out);
	TP_METRIC_SET(sse_sessions, TP_METRIC_GET(sse_sessions) - 1);
	tp_free(c);
}

/* The stream's account was deleted: a last "error" event, then the end. */
static void sse_end_gone(struct sse_conn *c)
{
	struct tp_buf b;

	tp_buf_init(&b, 0);
	tp_proto_error(&b, NULL, TP_CODE_UNAUTHORIZED, "account no longer exists");
	if (!b.oom) {
		struct tp_push_frame f = {"error", 0, tp_buf_data(&b), b.len, NULL};

		tp_sse_frame_enqueue(&c->base, &f);
	}
	tp_buf_cleanup(&b);
	c->ending = true;
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

void tp_sse_tick(struct tp_server *srv, double mono_now)
{
	static const char ka[] = ": keepalive\n\n";

	for (struct sse_conn *c = srv->sse; c; c = c->next) {
		if (c->ending)
			continue;
		if (c->user > 0 && tp_user_gone(srv, c->user)) {
			sse_end_gone(c);
			continue;
		}
		if (mono_now - c->last_write >= SSE_KEEPALIVE_S &&
		    tp_wconn_idle(&c->out)) {
			sse_push(c, ka, sizeof(ka) - 1, NULL, 0, NULL, false, true);
			c->last_write = mono_now;
		}
	}
	/* Users whose answers expired were queued above: one query. */
	tp_user_check_flush(srv);
}

/* Subscribes the stream's channels; errors become SSE error events. */
static void sse_subscribe(struct sse_conn *c, const struct tp_stream_params *sp,
			  const struct tp_filter *filter)
{
	static const char *const names[] = {
		[TP_SUBCH_PATTERNS] = "patterns",
		[TP_SUBCH_BACKTESTS] = "backtests",
		[TP_SUBCH_HEALTH] = "health",
	};

	for (int ch = 0; ch <= TP_SUBCH_HEALTH; ch++) {
		struct tp_push_sub_req req = {
			.id = names[ch], .channel = (enum tp_sub_channel)ch,
			.filter = filter, .preset_id = sp->q.preset_id,
			.has_since = sp->has_since, .since_epoch = sp->epoch,
			.since_seq = sp->since,
		};
		struct tp_errdetail err = {{0}, NULL};

		if (!(sp->channels & (1u << ch)))
			continue;
		if (ch != TP_SUBCH_PATTERNS)
			req.preset_id = 0, req.filter = NULL;
		if (tp_push_subscribe(c->srv->push, c->push, &req,
				      tp_ingest_patterns(c->srv->ingest), tp_now(), &err)) {
			struct tp_buf b;

			struct tp_push_frame f = { .type = "error" };

			tp_buf_init(&b, 0);
			tp_proto_error(&b, names[ch], TP_CODE_BAD_REQUEST, err.msg);
			f.head = tp_buf_data(&b);
			f.head_len = b.len;
			if (!b.oom)
				tp_sse_frame_enqueue(&c->base, &f);
			tp_buf_cleanup(&b);
		}
	}
}

static struct sse_conn *sse_new(struct tp_server *srv, long long user)
{
	struct sse_conn *c = tp_calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->base.kind = TP_STREAM_SSE;
	c->srv = srv;
	c->user = user;
	c->last_write = tp_mono();
	tp_wconn_init(&c->out, srv->writer);
	if (!(c->push = tp_push_session_create(srv->push, c, user))) {
		tp_free(c);
		return NULL;
	}
	c->next = srv->sse;
	if (srv->sse)
		srv->sse->prev = c;
	srv->sse = c;
	TP_METRIC_INC(sse_sessions);
	return c;
}

/* A stream or long-poll request between its handler and its start: the
 * account check, then the preset resolution (both may wait). */
struct stream_pending {
	struct tp_server *srv;
	uint64_t ticket;
	struct tp_stream_params sp;
	long long user;                   /* the token's user, 0 = anonymous */
	tp_preset_resolved_cb *resolved;  /* sse_resolved or poll_resolved */
};

static void pending_free(void *ud)
{
	struct stream_pending *p = ud;

	tp_scan_query_cleanup(&p->sp.q);
	tp_free(p);
}

/* The account (if any) exists: resolve the preset, or start at once. */
static void pending_begin(void *ud)
{
	struct stream_pending *p = ud;

	if (!p->sp.q.preset_id) {
		p->resolved(TP_OK, &p->sp.q.filter, NULL, p);
		return;
	}
	if (tp_preset_resolve(p->srv, p->user, p->sp.q.preset_id, p->resolved, p)) {
		tp_http_complete_error(p->srv, p->ticket, 503, "Database unavailable", NULL);
		pending_free(p);
	}
}

/* Defers the request; a token's account is confirmed first. */
static void pending_start(const struct tp_http_req *req,
			  struct tp_http_resp *resp, struct stream_pending *p)
{
	p->srv = req->srv;
	if (!(p->ticket = tp_http_defer(req, resp))) {
		pending_free(p);
		return;
	}
	if (p->user > 0)
		tp_api_for_user(p->srv, p->ticket, p->user, pending_begin,
				pending_free, p);
	else
		pending_begin(p);
}

static void sse_resolved(int status, const struct tp_filter *filter,
			 const struct tp_errdetail *err, void *ud)
{
	struct stream_pending *p = ud;
	struct sse_conn *c;

	if (status != TP_OK) {
		tp_preset_complete_error(p->srv, p->ticket, status, err, NULL);
	} else if ((c = sse_new(p->srv, p->user))) {
		if (tp_http_stream_start(p->srv, p->ticket, c))
			sse_subscribe(c, &p->sp, filter);
		else
			tp_sse_closed(c); /* the client went away */
	} else {
		tp_http_complete_error(p->srv, p->ticket, 503, "Out of memory", NULL);
	}
	pending_free(p);
}

void tp_api_stream(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	struct stream_pending *p = tp_calloc(1, sizeof(*p));

	if (!p) {
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
		return;
	}
	if (stream_params_parse(req, resp, true, &p->sp, &p->user)) {
		tp_free(p);
		return;
	}
	p->resolved = sse_resolved;
	pending_start(req, resp, p);
}

/* ---- long-poll ---- */

struct poll_conn {
	struct tp_stream_conn base;
	struct tp_server *srv;
	uint64_t ticket;
	struct tp_push_session *push;
	struct tp_buf events;      /* comma-joined frames */
	size_t n_events;
	uv_timer_t timer;          /* timeout, then "answer now" */
	bool answered;
	struct poll_conn *next, *prev; /* srv->polls */
};

static void poll_closed(uv_handle_t *h)
{
	struct poll_conn *c = h->data;

	tp_buf_cleanup(&c->events);
	tp_free(c);
}

static void poll_answer(struct poll_conn *c, bool gap)
{
	struct tp_buf b;

	if (c->answered)
		return;
	c->answered = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->srv->polls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	tp_buf_init(&b, 0);
	tp_buf_puts(&b, "{\"events\":[");
	if (c->events.len)
		tp_buf_append(&b, tp_buf_data(&c->events), c->events.len);
	tp_buf_printf(&b, "],\"seq\":%llu,\"epoch\":",
		      (unsigned long long)tp_ingest_stats(c->srv->ingest)->seq);
	tp_buf_json_str(&b, c->srv->epoch);
	tp_buf_printf(&b, ",\"gap\":%s}", gap ? "true" : "false");
	tp_http_complete(c->srv, c->ticket, 200, &b);
	tp_buf_cleanup(&b);
	/* Not inside a hub callback here (timer), so the session can go. */
	tp_push_session_destroy(c->push);
	c->push = NULL;
	TP_METRIC_SET(poll_waiting, TP_METRIC_GET(poll_waiting) - 1);
	uv_close((uv_handle_t *)&c->timer, poll_closed);
}

static void poll_fire(uv_timer_t *t)
{
	poll_answer(t->data, false);
}

void tp_poll_answer_all(struct tp_server *srv)
{
	while (srv->polls) {
		uv_timer_stop(&srv->polls->timer);
		poll_answer(srv->polls, false);
	}
}

int tp_poll_frame_collect(struct tp_stream_conn *sc, const struct tp_push_frame *f)
{
	struct poll_conn *c = (struct poll_conn *)sc;

	if (c->answered)
		return TP_OK;
	if (c->n_events++)
		tp_buf_putc(&c->events, ',');
	tp_buf_append(&c->events, f->head, f->head_len);
	if (f->tail)
		tp_buf_append(&c->events, f->tail->data, f->tail->len);
	if (c->events.len > (size_t)c->srv->cfg->ws_queue_max_bytes)
		return TP_ERR_LIMIT;
	/* Answer on the next loop turn: events of this turn join the batch,
	 * and the hub is not re-entered from its own send. */
	uv_timer_start(&c->timer, poll_fire, 0, 0);
	return TP_OK;
}

static void replay_collect(const char *type, uint64_t seq, const char *frame,
			   size_t len, void *ud)
{
	struct tp_push_frame f = {
		.type = type, .seq = seq, .head = frame, .head_len = len,
	};

	tp_poll_frame_collect(ud, &f);
}

static void poll_start(struct stream_pending *p, const struct tp_filter *filter)
{
	struct tp_server *srv = p->srv;
	struct poll_conn *c = tp_calloc(1, sizeof(*c));
	uint64_t since = p->sp.has_since ? p->sp.since : tp_ingest_stats(srv->ingest)->seq;
	struct tp_push_sub_req req = {
		.id = "poll", .channel = TP_SUBCH_PATTERNS, .filter = filter,
		.preset_id = p->sp.q.preset_id,
	};
	struct tp_errdetail err = {{0}, NULL};
	bool resumable;

	if (!c) {
		tp_http_complete_error(srv, p->ticket, 503, "Out of memory", NULL);
		return;
	}
	c->base.kind = TP_STREAM_POLL;
	c->srv = srv;
	c->ticket = p->ticket;
	tp_buf_init(&c->events, 0);
	uv_timer_init(&srv->loop, &c->timer);
	c->timer.data = c;
	TP_METRIC_INC(poll_waiting);
	c->next = srv->polls;
	if (srv->polls)
		srv->polls->prev = c;
	srv->polls = c;
	resumable = tp_push_replay(srv->push, p->sp.has_since ? p->sp.epoch : srv->epoch,
				   since, filter, p->user, 1u << TP_SUBCH_PATTERNS,
				   replay_collect, c);
	if (!resumable || c->n_events || srv->stopping) {
		/* Answer at once: missed events, a gap to report, or a server
		 * that is shutting down (its drain waits for open answers). */
		uv_timer_stop(&c->timer);
		poll_answer(c, !resumable);
		return;
	}
	/* The position again: in cluster mode one a little ahead of ours is
	 * resumable, and the events up to it must not be answered. */
	req.has_since = p->sp.has_since;
	req.since_epoch = p->sp.epoch;
	req.since_seq = since;
	c->push = tp_push_session_create(srv->push, c, p->user);
	if (!c->push || tp_push_subscribe(srv->push, c->push, &req,
					  tp_ingest_patterns(srv->ingest), tp_now(), &err)) {
		poll_answer(c, false);
		return;
	}
	uv_timer_start(&c->timer, poll_fire, (uint64_t)(p->sp.timeout * 1000), 0);
}

static void poll_resolved(int status, const struct tp_filter *filter,
			  const struct tp_errdetail *err, void *ud)
{
	struct stream_pending *p = ud;

	if (status == TP_OK)
		poll_start(p, filter);
	else
		tp_preset_complete_error(p->srv, p->ticket, status, err, NULL);
	pending_free(p);
}

void tp_api_poll(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	struct stream_pending *p = tp_calloc(1, sizeof(*p));

	if (!p) {
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
		return;
	}
	if (stream_params_parse(req, resp, false, &p->sp, &p->user)) {
		tp_free(p);
		return;
	}
	p->resolved = poll_resolved;
	pending_start(req, resp, p);
}
