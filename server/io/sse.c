/*
 * sse.c - the Server-Sent Events transport (GET /api/stream), one of the
 * two HTTP push fallbacks (the other is long-poll, longpoll.c; the request
 * start they share is in stream.c).
 *
 * Both carry exactly the frames of the WebSocket protocol, with the same
 * filters, presets and epoch/seq positions, so a client can switch
 * transports and resume. SSE: each frame is an event "id: <epoch>:<seq>",
 * "event: <type>", "data: <the WebSocket frame>"; Last-Event-ID (or
 * ?since=e:s) resumes; a comment line every 15 s keeps proxies from
 * closing the stream. The stream is a never-ending HTTP response; once its
 * headers are out its events go through the push write path (writer.c)
 * like WebSocket frames: the shared part of an event is not copied per
 * stream, and events leave in the loop turn that queued them, several per
 * write. The queue is byte-bounded like a WebSocket session's (a slow
 * reader is cut).
 *
 * Subscriptions: "patterns" (the filter from the query, or preset_id),
 * "health", "backtests" (signed-in only), chosen with ?channels= (SSE).
 *
 * With a token, its account must still exist (accounts.h): checked before
 * the stream starts (401 when deleted, stream.c), and for an open stream
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
#include "io.h"
#include "presets.h"
#include "sse.h"
#include "stream.h"
#include "transport.h"
#include "tickpush/alloc.h"
#include "tickpush/clock.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"
#include "tickpush/proto.h"
#include "tickpush/push.h"
#include "tickpush/streamparams.h"
#include "writer.h"

#define SSE_KEEPALIVE_S 15.0

struct sse_conn {
	struct tp_stream_conn base;
	struct tp_io *srv;
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
 * tail shared, then the blank line that ends it; or, when the previous
 * stream got the same bytes, one reference to them whole. */
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
	struct tp_shbuf *whole;

	if (c->slow)
		return TP_ERR_LIMIT;
	if (head_len || tail) {
		p.suffix = "\n\n";
		p.suffix_len = 2;
		len += 2;
	}
	if (bounded && c->out.q.bytes + len > (size_t)c->srv->cfg->ws_queue_max_bytes) {
		sse_cut(c);
		return TP_ERR_LIMIT;
	}
	whole = tp_sharedframe_get(&c->srv->sse_last, pre, pre_len, head,
				   head_len, tail, p.suffix, p.suffix_len);
	if (whole ? tp_wconn_push_shared(&c->out, whole, urgent)
		  : tp_wconn_push(&c->out, &p, urgent)) {
		sse_cut(c);
		return TP_ERR_LIMIT;
	}
	c->last_write = tp_mono();
	return TP_OK;
}

static int sse_send(struct tp_stream_conn *sc, const struct tp_push_frame *f)
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

static void sse_attach(void *conn, struct lws *wsi)
{
	struct sse_conn *c = conn;

	c->wsi = wsi;
}

/* Called by http.c from HTTP_WRITEABLE of a streaming connection, once
 * the response headers are out: from then on the writer may write the
 * stream's events straight to the socket. */
static int sse_writeable(void *conn, struct lws *wsi)
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

static void sse_closed(void *conn)
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

		sse_send(&c->base, &f);
	}
	tp_buf_cleanup(&b);
	c->ending = true;
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

void tp_sse_tick(struct tp_io *srv, double mono_now)
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
				sse_send(&c->base, &f);
			tp_buf_cleanup(&b);
		}
	}
}

static struct sse_conn *sse_new(struct tp_io *srv, long long user)
{
	struct sse_conn *c = tp_calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->base.send = sse_send;
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

/* What http.c calls on a started stream. */
static const struct tp_http_stream_ops sse_stream_ops = {
	sse_attach, sse_writeable, sse_closed,
};

static void sse_resolved(int status, const struct tp_filter *filter,
			 const struct tp_errdetail *err, void *ud)
{
	struct tp_stream_pending *p = ud;
	struct sse_conn *c;

	if (status != TP_OK) {
		tp_presets_complete_error(p->srv, p->ticket, status, err, NULL);
	} else if ((c = sse_new(p->srv, p->user))) {
		if (tp_http_stream_start(p->srv, p->ticket, c, &sse_stream_ops))
			sse_subscribe(c, &p->sp, filter);
		else
			sse_closed(c); /* the client went away */
	} else {
		tp_http_complete_error(p->srv, p->ticket, 503, "Out of memory", NULL);
	}
	tp_stream_pending_free(p);
}

void tp_api_stream(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	tp_stream_request(req, resp, true, sse_resolved);
}
