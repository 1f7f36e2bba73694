/*
 * redis_conn.c - a self-healing hiredis async connection on our libuv loop.
 *
 * States: IDLE -> RESOLVING (uv_getaddrinfo on the threadpool, so DNS never
 * blocks the loop) -> CONNECTING (non-blocking connect to the numeric
 * address, guarded by a timer because hiredis 0.14 has no connect timeout)
 * -> HANDSHAKE (AUTH, SELECT) -> READY. Any failure goes to BACKOFF, whose
 * timer restarts at RESOLVING; the delay doubles from 100 ms up to
 * redis_reconnect_max seconds, with +-25% jitter so many instances do not
 * reconnect in lockstep.
 *
 * Liveness (READY only): hiredis 0.14 never times out a reply, so a Redis
 * that stops answering without closing the socket (SIGSTOP, a hung host, a
 * black-holed network) would look connected forever. The adapter stamps
 * every readable event; a connection silent for redis_ping_interval gets a
 * PING, and one silent for redis_ping_timeout is declared down: freed like
 * any lost connection (every callback in flight gets NULL, exactly once),
 * reported as TP_REDIS_LOSS_SILENT, retried with the usual backoff. Any
 * received byte counts, so a busy connection is never PINGed and a slow
 * but working Redis (replies queued behind a long pipeline) is not
 * mistaken for a dead one. Our own stalls are not Redis's silence: a PING
 * that went out late still gets timeout - interval to be answered, and an
 * answer already waiting unread in the socket counts. The timer is the
 * same handle as the connect timeout and the backoff: exactly one of them
 * is armed in each state.
 *
 * A subscribed context cannot take a PING through redisAsyncCommand: hiredis
 * 0.14.1 files the callback of any command sent while subscribed on
 * sub.invalid and only ever takes it off for a non-array reply, but the
 * answer in subscribe mode is the array ["pong", ""] (which
 * __redisGetSubscribeCallback looks up as a pattern named "" and drops).
 * One callback would leak per PING. So on a subscribed context the PING is
 * appended to the output buffer with no callback at all (redisAppendCommand
 * on the embedded redisContext, then our adapter's write watcher); the
 * reply only has to arrive. Owners of subscribed contexts must ignore a
 * ["pong", ""] reply: hiredis may hand it to the previous reply's callback.
 *
 * Event-loop adapter: hiredis's bundled adapters/libuv.h (0.14.1) returns
 * early when uv_poll reports an error, so a refused connect is never noticed
 * and the connection hangs. Ours forwards errors to hiredis as a read or
 * write event, which makes hiredis look at the socket and fail cleanly.
 *
 * Lifetimes: hiredis owns and frees the redisAsyncContext (after the
 * disconnect callback, or when a connect fails). rc->ac is cleared in those
 * callbacks and never used afterwards. rc itself is freed only when closing
 * and nothing is pending: no context, no getaddrinfo request, timer closed.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <hiredis/hiredis.h>

#include "netutil.h"
#include "redis_conn.h"
#include "tickpush/alloc.h"
#include "tickpush/log.h"

enum state {
	ST_IDLE,
	ST_RESOLVING,
	ST_CONNECTING,
	ST_HANDSHAKE,
	ST_READY,
	ST_BACKOFF,
	ST_CLOSING,
};

struct tp_redis_conn {
	uv_loop_t *loop;
	const struct tp_config *cfg;
	const char *name;
	struct tp_redis_conn_ops ops;
	void *ud;
	enum state state;
	redisAsyncContext *ac;
	uv_getaddrinfo_t gai;
	bool gai_pending;
	uv_timer_t timer;      /* connect timeout / liveness / backoff */
	bool timer_closed;
	double backoff;        /* seconds, next delay */
	unsigned long reconnects;
	bool was_ready;        /* lost after being ready: counts as reconnect */
	uint64_t last_rx;      /* uv_now() of the last readable event */
	uint64_t ping_sent;    /* uv_now() when the last PING went out */
	bool ping_unanswered;  /* a PING went out after last_rx */
	bool silent;           /* being freed because it went silent */
	char free_why[64];     /* why we free a connected context ourselves */
};

/* ---- libuv adapter for hiredis ---- */

/*
 * Writes. hiredis asks for write interest (addWrite) after every command
 * it appends to its output buffer, and drops it (delWrite) once the buffer
 * is out. Passing that to the poll would cost, per loop turn with a
 * command, a uv_poll_start both ways (libuv 1.44 stops a poll before it
 * starts it again: an epoll_ctl DEL, then an ADD at the next poll), a
 * loop turn to learn the obvious (an idle socket is writable) and a
 * sleep before the reply. So on a connected context a write request only
 * starts an idle handle: early in the next loop turn, before the push
 * writer's flush and before the loop can wait, `ev_flush` writes
 * everything the turn's commands appended, in one write(), and the reply
 * is usually back by the time the loop polls. Only when the kernel takes
 * part of it (hiredis asks again from inside the flush) or while the
 * connect is in progress (hiredis learns of the connect by writability)
 * does the poll watch for POLLOUT.
 */
struct uv_events {
	redisAsyncContext *ac;
	uv_poll_t poll;
	uv_idle_t flush;
	int events;         /* what the poll watches */
	bool flushing;      /* inside ev_flush: a write request needs POLLOUT */
	int open_handles;   /* freed when both handles are closed */
};

static void note_rx(struct tp_redis_conn *rc);

static void ev_poll_cb(uv_poll_t *h, int status, int events)
{
	struct uv_events *e = h->data;

	if (status < 0) {
		/* Let hiredis find the error itself (SO_ERROR or read()). */
		events = e->events;
	} else if (e->ac && (events & UV_READABLE)) {
		note_rx(e->ac->data);
	}
	if (e->ac && (events & UV_WRITABLE))
		redisAsyncHandleWrite(e->ac);
	if (e->ac && (events & UV_READABLE))
		redisAsyncHandleRead(e->ac);
}

static void ev_update(struct uv_events *e, int events)
{
	/* Re-arming an unchanged poll would stop and start it (see above). */
	if (events == e->events && uv_is_active((uv_handle_t *)&e->poll) == !!events)
		return;
	e->events = events;
	if (e->events)
		uv_poll_start(&e->poll, e->events, ev_poll_cb);
	else
		uv_poll_stop(&e->poll);
}

static void ev_flush(uv_idle_t *h)
{
	struct uv_events *e = h->data;

	uv_idle_stop(h);
	if (!e->ac)
		return;
	e->flushing = true;
	redisAsyncHandleWrite(e->ac); /* may free the context: e stays */
	e->flushing = false;
}

static void ev_add_read(void *p)
{
	struct uv_events *e = p;

	ev_update(e, e->events | UV_READABLE);
}

static void ev_del_read(void *p)
{
	struct uv_events *e = p;

	ev_update(e, e->events & ~UV_READABLE);
}

static void ev_add_write(void *p)
{
	struct uv_events *e = p;

	if (e->flushing || !e->ac || !(e->ac->c.flags & REDIS_CONNECTED)) {
		ev_update(e, e->events | UV_WRITABLE);
		return;
	}
	if (!(e->events & UV_WRITABLE)) /* else the poll will say when */
		uv_idle_start(&e->flush, ev_flush);
}

static void ev_del_write(void *p)
{
	struct uv_events *e = p;

	uv_idle_stop(&e->flush);
	ev_update(e, e->events & ~UV_WRITABLE);
}

static void ev_closed(uv_handle_t *h)
{
	struct uv_events *e = h->data;

	if (--e->open_handles == 0)
		tp_free(e);
}

static void ev_cleanup(void *p)
{
	struct uv_events *e = p;

	e->ac = NULL;
	uv_close((uv_handle_t *)&e->poll, ev_closed);
	uv_close((uv_handle_t *)&e->flush, ev_closed);
}

static int ev_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
	struct uv_events *e = tp_calloc(1, sizeof(*e));

	if (!e)
		return REDIS_ERR;
	if (uv_poll_init(loop, &e->poll, ac->c.fd)) {
		tp_free(e);
		return REDIS_ERR;
	}
	uv_idle_init(loop, &e->flush);
	e->poll.data = e;
	e->flush.data = e;
	e->open_handles = 2;
	e->ac = ac;
	ac->ev.data = e;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	return REDIS_OK;
}

/* ---- connection state machine ---- */

static void start_resolve(struct tp_redis_conn *rc);

static void maybe_free(struct tp_redis_conn *rc)
{
	if (rc->state == ST_CLOSING && !rc->ac && !rc->gai_pending &&
	    rc->timer_closed)
		tp_free(rc);
}

static void timer_closed_cb(uv_handle_t *h)
{
	struct tp_redis_conn *rc = h->data;

	rc->timer_closed = true;
	maybe_free(rc);
}

static void backoff_fired(uv_timer_t *t)
{
	struct tp_redis_conn *rc = t->data;

	if (rc->state == ST_BACKOFF)
		start_resolve(rc);
}

/* Reports the loss of a ready connection, once. */
static void report_lost(struct tp_redis_conn *rc, enum tp_redis_loss loss,
			const char *why)
{
	if (!rc->was_ready)
		return;
	rc->was_ready = false;
	if (rc->ops.on_lost)
		rc->ops.on_lost(rc, loss, why, rc->ud);
}

static void schedule_retry(struct tp_redis_conn *rc, const char *why)
{
	double max = rc->cfg->redis_reconnect_max > 0 ? rc->cfg->redis_reconnect_max : 5;
	double delay;

	if (rc->state == ST_CLOSING)
		return;
	report_lost(rc, TP_REDIS_LOSS_ERROR, why);
	rc->state = ST_BACKOFF;
	rc->reconnects++;
	delay = tp_backoff_next(&rc->backoff, max);
	TP_LOG(TP_LOG_WARN, "msg=\"redis unavailable, retrying\" conn=%s why=%s retry_in=%.2fs",
	       rc->name, tp_log_q(why), delay);
	uv_timer_start(&rc->timer, backoff_fired, (uint64_t)(delay * 1000), 0);
}

/* ---- liveness ---- */

static uint64_t seconds_ms(double s)
{
	return (uint64_t)(s * 1000 + 0.5);
}

static void note_rx(struct tp_redis_conn *rc)
{
	rc->last_rx = uv_now(rc->loop);
	rc->ping_unanswered = false;
}

static void send_ping(struct tp_redis_conn *rc)
{
	redisAsyncContext *ac = rc->ac;

	if (ac->c.flags & REDIS_SUBSCRIBED) {
		/* No callback: see the design note at the top. */
		if (redisAppendCommand(&ac->c, "PING") == REDIS_OK)
			ev_add_write(ac->ev.data);
	} else {
		redisAsyncCommand(ac, NULL, NULL, "PING");
	}
	rc->ping_unanswered = true;
	rc->ping_sent = uv_now(rc->loop);
}

/* When an unanswered PING makes the connection count as down: after
 * redis_ping_timeout of silence, but never before the PING had
 * timeout - interval to be answered (it goes out late when our own loop
 * was held up). */
static uint64_t down_at(const struct tp_redis_conn *rc, uint64_t interval,
			uint64_t timeout)
{
	uint64_t silent = rc->last_rx + timeout;
	uint64_t answer_by = rc->ping_sent + (timeout > interval ? timeout - interval : 0);

	return silent > answer_by ? silent : answer_by;
}

/* An answer waiting unread in the socket means our loop, not Redis, was
 * slow (timers run before I/O after a stall): not silence. */
static bool answer_waiting(const struct tp_redis_conn *rc)
{
	char byte;

	return recv(rc->ac->c.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

static void declare_down(struct tp_redis_conn *rc, uint64_t now)
{
	snprintf(rc->free_why, sizeof(rc->free_why),
		 "nothing received for %.1fs", (double)(now - rc->last_rx) / 1000);
	rc->silent = true;
	/* Not inside a hiredis callback, so this frees at once: every callback
	 * in flight gets NULL, then disconnect_cb reports the loss and
	 * schedules the reconnect. */
	redisAsyncFree(rc->ac);
}

/* Runs when the connection may be due a PING or due to be declared down,
 * and re-arms itself for the next such instant. */
static void liveness_tick(uv_timer_t *t)
{
	struct tp_redis_conn *rc = t->data;
	uint64_t now = uv_now(rc->loop), next;
	uint64_t interval = seconds_ms(rc->cfg->redis_ping_interval);
	uint64_t timeout = seconds_ms(rc->cfg->redis_ping_timeout);

	if (rc->state != ST_READY || !rc->ac)
		return;
	if (rc->ping_unanswered && now >= down_at(rc, interval, timeout)) {
		if (!answer_waiting(rc)) {
			declare_down(rc, now);
			return;
		}
		note_rx(rc);
	}
	if (!rc->ping_unanswered && now - rc->last_rx >= interval)
		send_ping(rc);
	next = rc->ping_unanswered ? down_at(rc, interval, timeout)
				   : rc->last_rx + interval;
	uv_timer_start(t, liveness_tick, next > now ? next - now : 1, 0);
}

static void liveness_start(struct tp_redis_conn *rc)
{
	rc->last_rx = uv_now(rc->loop);
	rc->ping_unanswered = false;
	if (rc->cfg->redis_ping_interval > 0)
		uv_timer_start(&rc->timer, liveness_tick,
			       seconds_ms(rc->cfg->redis_ping_interval), 0);
}

static void connect_timeout_fired(uv_timer_t *t)
{
	struct tp_redis_conn *rc = t->data;
	redisAsyncContext *ac = rc->ac;

	if (!ac || (rc->state != ST_CONNECTING && rc->state != ST_HANDSHAKE))
		return;
	/* Not inside a hiredis callback, so this frees at once; for a
	 * connected (handshaking) context the disconnect callback runs and
	 * clears rc->ac. */
	if (rc->state == ST_CONNECTING) {
		rc->ac = NULL;
		redisAsyncFree(ac);
		schedule_retry(rc, "connect timed out");
	} else {
		snprintf(rc->free_why, sizeof(rc->free_why), "%s",
			 "AUTH/SELECT timed out");
		redisAsyncFree(ac);
	}
}

/* Reply to AUTH (and first look at SELECT's): an error reply means the
 * server refuses us; disconnect and let the backoff retry. */
static void handshake_done(redisAsyncContext *ac, void *r, void *privdata)
{
	struct tp_redis_conn *rc = privdata;
	redisReply *reply = r;

	if (!reply || rc->ac != ac || rc->state != ST_HANDSHAKE)
		return; /* connection went away; disconnect_cb handles it */
	if (reply->type == REDIS_REPLY_ERROR) {
		TP_LOG(TP_LOG_ERR, "msg=\"redis handshake refused\" conn=%s reply=%s",
		       rc->name, tp_log_qn(reply->str, (size_t)reply->len));
		redisAsyncDisconnect(ac);
	}
}

static void select_done(redisAsyncContext *ac, void *r, void *privdata)
{
	struct tp_redis_conn *rc = privdata;
	redisReply *reply = r;

	handshake_done(ac, r, privdata);
	if (!reply || rc->ac != ac || rc->state != ST_HANDSHAKE ||
	    reply->type == REDIS_REPLY_ERROR)
		return;
	uv_timer_stop(&rc->timer);
	rc->state = ST_READY;
	rc->backoff = 0.1;
	rc->was_ready = true;
	liveness_start(rc);
	TP_LOG(TP_LOG_NOTICE, "msg=\"redis connected\" conn=%s", rc->name);
	if (rc->ops.on_ready)
		rc->ops.on_ready(rc, ac, rc->ud);
}

static void connect_cb(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct tp_redis_conn *rc = ac->data;

	if (rc->ac != ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		rc->ac = NULL;
		if (rc->state == ST_CLOSING) {
			maybe_free(rc);
			return;
		}
		schedule_retry(rc, ac->errstr[0] ? ac->errstr : "connect failed");
		return;
	}
	rc->state = ST_HANDSHAKE;
	/* TCP keepalive notices a peer that vanished without a FIN (not
	 * applicable to unix sockets, where setting it fails the context). */
	if (!(rc->cfg->redis_socket && rc->cfg->redis_socket[0]))
		redisEnableKeepAlive(&ac->c);
	if (rc->cfg->redis_password && rc->cfg->redis_password[0])
		redisAsyncCommand(ac, handshake_done, rc, "AUTH %s",
				  rc->cfg->redis_password);
	redisAsyncCommand(ac, select_done, rc, "SELECT %d", rc->cfg->redis_db);
}

static void disconnect_cb(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct tp_redis_conn *rc = ac->data;
	char why[160];

	if (rc->ac != ac)
		return;
	snprintf(why, sizeof(why), "%s",
		 rc->free_why[0] ? rc->free_why :
		 status == REDIS_OK ? "disconnected" :
		 (ac->errstr[0] ? ac->errstr : "connection lost"));
	rc->free_why[0] = '\0';
	rc->ac = NULL;
	if (rc->state == ST_CLOSING) {
		report_lost(rc, TP_REDIS_LOSS_CLOSED, "closing");
		maybe_free(rc);
		return;
	}
	if (rc->silent) {
		rc->silent = false;
		report_lost(rc, TP_REDIS_LOSS_SILENT, why);
	}
	schedule_retry(rc, why);
}

static void start_connect(struct tp_redis_conn *rc, const char *ip, int port)
{
	redisAsyncContext *ac;
	double timeout = rc->cfg->redis_connect_timeout > 0 ?
			 rc->cfg->redis_connect_timeout : 3;

	if (ip)
		ac = redisAsyncConnect(ip, port);
	else
		ac = redisAsyncConnectUnix(rc->cfg->redis_socket);
	if (!ac) {
		schedule_retry(rc, "out of memory");
		return;
	}
	if (ac->err) {
		char why[160];

		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		schedule_retry(rc, why);
		return;
	}
	ac->data = rc;
	if (ev_attach(ac, rc->loop) != REDIS_OK) {
		redisAsyncFree(ac);
		schedule_retry(rc, "cannot attach to the event loop");
		return;
	}
	rc->ac = ac;
	rc->state = ST_CONNECTING;
	redisAsyncSetConnectCallback(ac, connect_cb);
	redisAsyncSetDisconnectCallback(ac, disconnect_cb);
	uv_timer_start(&rc->timer, connect_timeout_fired,
		       (uint64_t)(timeout * 1000), 0);
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct tp_redis_conn *rc = req->data;
	char ip[INET6_ADDRSTRLEN] = "";

	rc->gai_pending = false;
	if (rc->state == ST_CLOSING) {
		uv_freeaddrinfo(res);
		maybe_free(rc);
		return;
	}
	if (status < 0 || !res) {
		char why[200];

		snprintf(why, sizeof(why), "cannot resolve %s: %s",
			 rc->cfg->redis_host, uv_strerror(status));
		uv_freeaddrinfo(res);
		schedule_retry(rc, why);
		return;
	}
	tp_addrinfo_ip(res, ip, sizeof(ip));
	uv_freeaddrinfo(res);
	start_connect(rc, ip, rc->cfg->redis_port);
}

static void start_resolve(struct tp_redis_conn *rc)
{
	struct addrinfo hints;
	int err;

	if (rc->cfg->redis_socket && rc->cfg->redis_socket[0]) {
		start_connect(rc, NULL, 0);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc->state = ST_RESOLVING;
	rc->gai.data = rc;
	err = uv_getaddrinfo(rc->loop, &rc->gai, resolved, rc->cfg->redis_host,
			     NULL, &hints);
	if (err) {
		schedule_retry(rc, uv_strerror(err));
		return;
	}
	rc->gai_pending = true;
}

struct tp_redis_conn *tp_redis_conn_create(uv_loop_t *loop,
					   const struct tp_config *cfg,
					   const char *name,
					   const struct tp_redis_conn_ops *ops,
					   void *ud)
{
	struct tp_redis_conn *rc = tp_calloc(1, sizeof(*rc));

	if (!rc)
		return NULL;
	rc->loop = loop;
	rc->cfg = cfg;
	rc->name = name;
	rc->ops = *ops;
	rc->ud = ud;
	rc->backoff = 0.1;
	uv_timer_init(loop, &rc->timer);
	rc->timer.data = rc;
	return rc;
}

void tp_redis_conn_start(struct tp_redis_conn *rc)
{
	if (rc->state == ST_IDLE)
		start_resolve(rc);
}

void tp_redis_conn_close(struct tp_redis_conn *rc)
{
	redisAsyncContext *ac;

	if (!rc || rc->state == ST_CLOSING)
		return;
	rc->state = ST_CLOSING;
	uv_timer_stop(&rc->timer);
	uv_close((uv_handle_t *)&rc->timer, timer_closed_cb);
	if (rc->gai_pending)
		uv_cancel((uv_req_t *)&rc->gai);
	ac = rc->ac;
	if (ac) {
		/* Free outright: pending callbacks get NULL replies. A connected
		 * context calls disconnect_cb, which clears rc->ac; one still
		 * connecting is freed silently, so clear it here. */
		if (!(ac->c.flags & REDIS_CONNECTED))
			rc->ac = NULL;
		redisAsyncFree(ac);
	}
	maybe_free(rc);
}

redisAsyncContext *tp_redis_conn_ctx(const struct tp_redis_conn *rc)
{
	return rc && rc->state == ST_READY ? rc->ac : NULL;
}

bool tp_redis_conn_is_ready(const struct tp_redis_conn *rc)
{
	return rc && rc->state == ST_READY;
}

unsigned long tp_redis_conn_reconnects(const struct tp_redis_conn *rc)
{
	return rc->reconnects;
}
