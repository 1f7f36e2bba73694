/*
 * longpoll.c - the long-poll transport (GET /api/patterns/poll), the second
 * HTTP push fallback (sse.c is the first; the request start they share,
 * parameters, the token's account and the preset, is in stream.c).
 *
 * It carries exactly the frames of the WebSocket protocol, with the same
 * filters, presets and epoch/seq positions: it answers at once with the
 * matching events after `since` from the history, else waits (a deferred
 * response) until one arrives or `timeout` (<= 30 s) passes; events
 * arriving in the same loop turn are batched into one answer. Waiting
 * polls are listed in srv->polls, so shutdown answers them all at once.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <uv.h>

#include "api.h"
#include "http.h"
#include "io.h"
#include "longpoll.h"
#include "presets.h"
#include "stream.h"
#include "transport.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/clock.h"
#include "tickpush/metrics.h"
#include "tickpush/push.h"

struct poll_conn {
	struct tp_stream_conn base;
	struct tp_io *srv;
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
	tp_buf_putc(&b, '{');
	tp_buf_json_key(&b, "events", true);
	tp_buf_putc(&b, '[');
	if (c->events.len) /* rendered events, comma-separated */
		tp_buf_append(&b, tp_buf_data(&c->events), c->events.len);
	tp_buf_putc(&b, ']');
	tp_buf_json_kv_uint(&b, "seq", tp_ingest_stats(c->srv->ingest)->seq);
	tp_buf_json_kv_str(&b, "epoch", c->srv->epoch);
	tp_buf_json_kv_bool(&b, "gap", gap);
	tp_buf_putc(&b, '}');
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

void tp_poll_answer_all(struct tp_io *srv)
{
	while (srv->polls) {
		uv_timer_stop(&srv->polls->timer);
		poll_answer(srv->polls, false);
	}
}

static int poll_collect(struct poll_conn *c, const struct tp_push_frame *f)
{
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

/* The hub's frames: control frames (subscribed, snapshot) are not
 * events. */
static int poll_send(struct tp_stream_conn *sc, const struct tp_push_frame *f)
{
	if (!strcmp(f->type, "subscribed") || !strcmp(f->type, "snapshot"))
		return TP_OK;
	return poll_collect((struct poll_conn *)sc, f);
}

static void replay_collect(const char *type, uint64_t seq, const char *frame,
			   size_t len, void *ud)
{
	struct tp_push_frame f = {
		.type = type, .seq = seq, .head = frame, .head_len = len,
	};

	poll_collect(ud, &f);
}

static void poll_start(struct tp_stream_pending *p, const struct tp_filter *filter)
{
	struct tp_io *srv = p->srv;
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
	c->base.send = poll_send;
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
	struct tp_stream_pending *p = ud;

	if (status == TP_OK)
		poll_start(p, filter);
	else
		tp_presets_complete_error(p->srv, p->ticket, status, err, NULL);
	tp_stream_pending_free(p);
}

void tp_api_poll(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	tp_stream_request(req, resp, false, poll_resolved);
}
