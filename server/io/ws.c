/*
 * ws.c - the WebSocket transport: GET /ws, subprotocol tickpush.v1
 * (docs/protocol.md).
 *
 * Handshake (LWS_CALLBACK_HTTP_CONFIRM_UPGRADE): the path must be /ws, the
 * Origin (when a browser sends one) must be allowed, and a token given as
 * ?token= or Authorization: Bearer must verify; rejections are answered
 * with JSON (404/403/401), not a bare hang-up. A session without a token
 * is anonymous until an {"op":"auth"} frame (accepted within
 * ws_auth_timeout seconds).
 *
 * Per session: a queue of outgoing frames bounded in bytes
 * (ws_queue_max_bytes), written by the push write path (writer.c): we
 * frame them ourselves (wsframe.h) and they leave in the loop turn that
 * queued them, several per write; sessions that get the same event with
 * the same head share one copy of the whole frame (sharedframe.h). The
 * push hub enqueues through
 * tp_stream_send; a full queue means a slow consumer: the hub stops
 * sending and the session is closed with 4008, after which the client
 * resumes with `since`.
 *
 * Closing (close_async, from anywhere: fan-out, timers, shutdown): every
 * frame not yet started is dropped, the close frame is queued (after a
 * frame already half-written, never inside it) and WRITEABLE requested;
 * once the close frame has left (lws delivers WRITEABLE only after its
 * own buffered bytes are out) the WRITEABLE callback returns -1 and lws
 * closes the connection: lws rule, a connection is closed only from its
 * own callback. A peer that stops reading cannot take the close frame: it
 * is dropped CLOSE_GRACE_S after the close started (1 Hz tick).
 *
 * Keep-alive: we ping a session that showed no sign of life (no frame, no
 * pong, no progress reading what we wrote) for half of ws_idle_timeout
 * and close it (1001) when nothing came within ws_idle_timeout after
 * that (1 Hz tick). lws's own validity timer is off (server.c): it keeps
 * a sorted list with an O(sessions) insert per session and per pong.
 * Pings, and lws's answers to the client's pings, follow a half-written
 * frame and precede queued data.
 *
 * Input: after the handshake we read the socket ourselves
 * (reader.h) and parse the frames (tickpush/wsrx.h), because lws 4.1
 * accepts unmasked client frames: any RFC 6455 violation closes the
 * session with the parser's code and reason (1002 unmasked frame, RSV
 * bits, opcode, control frame rules, continuation; 1003 binary; 1007
 * invalid UTF-8; 1009 a message over ws_max_frame), counted by reason
 * (tickpush_ws_protocol_errors_total) and logged. Pings are answered with
 * pongs through the writer (control frames go before queued data); a
 * client's close is echoed, then the connection closes; frames that lws
 * read together with the handshake (sent before our 101, RFC 6455 4.1)
 * close with 1002. Over TLS the same, reading with SSL_read (tls.c's
 * source for reader.h).
 * Each message is parsed by tp_proto_parse; bad messages get an error
 * frame and the session stays open; messages beyond the rate limit get
 * "rate_limited", and a client that keeps exceeding it is closed (4029).
 * A token that expires mid-session closes it with 4001 (1 Hz check), and
 * so does one whose account was deleted (accounts.h: the tick queues each
 * signed-in user whose answer expired into one batched query); a deleted
 * account is also refused at the handshake, in an auth frame (checked
 * before the session takes the user) and when a subscription uses it.
 *
 * Lifetimes: struct ws_conn lives from ESTABLISHED to CLOSED. Async work
 * (preset resolution) refers to the session by id and finds nothing if it
 * has gone meanwhile.
 */
#include <string.h>

#include <libwebsockets.h>

#include "accounts.h"
#include "http.h"
#include "io.h"
#include "presets.h"
#include "reader.h"
#include "reload.h"
#include "transport.h"
#include "tls.h"
#include "tickpush/alloc.h"
#include "tickpush/ascii.h"
#include "tickpush/clock.h"
#include "tickpush/cors.h"
#include "tickpush/dict.h"
#include "tickpush/jwt.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"
#include "tickpush/proto.h"
#include "tickpush/push.h"
#include "tickpush/render.h"
#include "tickpush/sharedframe.h"
#include "tickpush/tbucket.h"
#include "tickpush/usercache.h"
#include "tickpush/wsframe.h"
#include "tickpush/wsrx.h"
#include "writer.h"
#include "ws.h"

struct ws_conn {
	struct tp_stream_conn base; /* first: the hub's transport pointer */
	struct tp_io *srv;
	struct lws *wsi;
	uint64_t id;
	char id_str[24];
	struct tp_push_session *push;
	long long user;
	double token_exp;          /* 0 = anonymous */
	double connected_at;
	struct tp_wconn out;       /* frames not yet written (writer.h) */
	struct tp_rconn *reader;   /* our reads (reader.h) */
	struct tp_wsrx wsrx;       /* frames of our reads (with reader) */
	struct tp_buf rx;          /* lws's reads: the message's fragments */
	bool ping_out;             /* our ping is unanswered */
	bool killed;               /* close grace over: lws kills it */
	int close_code;            /* > 0: closing with this code */
	double close_at;           /* tp_mono() when the close started */
	double last_rx;            /* tp_mono() of the last sign of life: a
				      frame, a pong, or the peer draining
				      its socket (WRITEABLE wrote) */
	struct tp_tbucket bucket;  /* client frame rate limit */
	unsigned strikes;          /* consecutive rate-limit violations */
	bool auth_pending;         /* an auth frame waits for its account check */
	struct ws_conn *all_prev, *all_next; /* tp_ws.all, for the tick */
};

struct tp_ws {
	struct tp_dict *conns;     /* id_str -> struct ws_conn */
	uint64_t next_id;
	struct tp_sharedframe last; /* the last event frame, for sharing */
	/* Every session, newest first, and the housekeeping round's place
	 * in it: the next session to visit (NULL: no round under way). */
	struct ws_conn *all, *cursor;
	double round_now;          /* wall time of the round's start */
};

/* ---- queue ---- */

/* A peer that does not take our close frame within this is dropped. */
#define CLOSE_GRACE_S 30.0

/* Marks the session closing with code: frames not yet started are
 * dropped, the close frame queued; its WRITEABLE closes the connection
 * once that frame is out. Never closes from here (this may be another
 * connection's callback, or the fan-out). */
static void close_async(struct ws_conn *c, int code, const char *reason)
{
	unsigned char frame[TP_WS_CONTROL_MAX];
	struct tp_outq_parts p = { .pre = frame };
	size_t dropped;

	if (c->close_code)
		return;
	c->close_code = code;
	c->close_at = tp_mono();
	dropped = tp_wconn_drop_unstarted(&c->out);
	TP_LOG(TP_LOG_INFO, "msg=\"closing session\" sid=%s user=%lld code=%d reason=%s queued=%zu",
	       c->id_str, c->user, code, tp_log_q(reason), dropped + c->out.q.bytes);
	p.pre_len = tp_ws_close_frame(frame, code, reason);
	/* Out of memory for the frame: close without it. */
	if (tp_wconn_push_control(&c->out, &p) != TP_OK)
		TP_LOG(TP_LOG_WARN, "msg=\"close frame not queued: out of memory\" sid=%s",
		       c->id_str);
	tp_wconn_want_writeable(&c->out);
}

/* Queues a text frame: head, then the shared tail (may be NULL). bounded:
 * subject to ws_queue_max_bytes (pushed events); urgent: written in this
 * loop turn even with a write window (replies, non-event frames). */
static int enqueue(struct ws_conn *c, const char *head, size_t head_len,
		   struct tp_shbuf *tail, bool bounded, bool urgent)
{
	unsigned char hdr[TP_WS_HEADER_MAX];
	size_t len = head_len + (tail ? tail->len : 0);
	struct tp_outq_parts p = {
		.pre = hdr, .head = head, .head_len = head_len,
		.tail = tail, .tail_len = tail ? tail->len : 0,
	};
	struct tp_shbuf *whole;
	int rc;

	if (c->close_code)
		return TP_OK; /* closing: nothing more goes out */
	if (bounded && c->out.q.bytes + len > (size_t)c->srv->cfg->ws_queue_max_bytes) {
		TP_METRIC_INC(ws_slow_closed);
		close_async(c, 4008, "slow consumer");
		return TP_ERR_LIMIT;
	}
	p.pre_len = tp_ws_header(hdr, TP_WS_OP_TEXT, len);
	whole = tp_sharedframe_get(&c->srv->ws->last, hdr, p.pre_len, head,
				   head_len, tail, NULL, 0);
	if (whole)
		rc = tp_wconn_push_shared(&c->out, whole, urgent);
	else
		rc = tp_wconn_push(&c->out, &p, urgent);
	if (rc) {
		close_async(c, 1011, "out of memory");
		return TP_ERR_LIMIT;
	}
	return TP_OK;
}

static int ws_send(struct tp_stream_conn *sc, const struct tp_push_frame *f)
{
	struct ws_conn *c = (struct ws_conn *)sc;

	return enqueue(c, f->head, f->head_len, f->tail, true, f->seq == 0);
}

/* Replies to the client's own ops are not subject to the slow-consumer
 * bound (a client that floods us with pings is rate limited instead). */
static void reply(struct ws_conn *c, struct tp_buf *b)
{
	if (!b->oom)
		enqueue(c, tp_buf_data(b), b->len, NULL, false, true);
	tp_buf_reset(b);
}

static void send_error(struct ws_conn *c, const char *id,
		       enum tp_proto_code code, const char *msg)
{
	struct tp_buf b;

	tp_buf_init(&b, 0);
	tp_proto_error(&b, id, code, msg);
	reply(c, &b);
	tp_buf_cleanup(&b);
	TP_METRIC_INC(ws_errors);
}

static int on_writeable(struct ws_conn *c)
{
	/* The socket drained: a peer that reads slowly is alive even when
	 * our ping still waits behind the data it is reading. */
	if (tp_wconn_writeable(&c->out))
		c->last_rx = tp_mono();
	if (c->out.failed)
		return -1; /* the peer is gone */
	if (c->close_code && tp_wconn_idle(&c->out))
		return -1; /* the close frame is out: lws closes the socket */
	return 0;
}

/* Keep-alive and close grace, once a second (see the top of the file). */
static void idle_check(struct ws_conn *c, double mono)
{
	const struct tp_config *cfg = c->srv->cfg;
	double ping_after = cfg->ws_idle_timeout / 2 > 1 ? cfg->ws_idle_timeout / 2 : 1;
	static const unsigned char ping[2] = { 0x80 | TP_WS_OP_PING, 0 };
	struct tp_outq_parts p = { .pre = ping, .pre_len = sizeof(ping) };

	if (c->close_code) {
		if (!c->killed && mono - c->close_at >= CLOSE_GRACE_S) {
			c->killed = true;
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND,
					LWS_TO_KILL_ASYNC);
		}
		return;
	}
	if (mono - c->last_rx >= ping_after + cfg->ws_idle_timeout)
		close_async(c, LWS_CLOSE_STATUS_GOINGAWAY, "idle timeout");
	else if (mono - c->last_rx >= ping_after && !c->ping_out &&
		 tp_wconn_push_control(&c->out, &p) == TP_OK)
		c->ping_out = true;
}

/* ---- auth and origin ---- */

static struct tp_ws *ws_of(struct tp_io *srv)
{
	return srv->ws;
}

/* Token from ?token= or Authorization: Bearer; "" when none. */
static void token_of(struct lws *wsi, char *out, size_t n)
{
	char hdr[TP_JWT_MAX_LEN + 16];

	out[0] = '\0';
	if (lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION) > 7 &&
	    !tp_ascii_ncasecmp(hdr, "Bearer ", 7)) {
		size_t len = strlen(hdr + 7);

		/* Too long for out: treat as no token (verification would
		 * reject it anyway: TP_JWT_MAX_LEN). */
		if (len < n)
			memcpy(out, hdr + 7, len + 1);
		return;
	}
	/* lws returns a pointer into out, past the "token=" prefix. */
	const char *v = lws_get_urlarg_by_name(wsi, "token=", out, (int)n);

	if (!v)
		out[0] = '\0';
	else if (v != out)
		memmove(out, v, strlen(v) + 1);
}

static int verify(struct tp_io *srv, const char *token, long long *user,
		  double *exp, const char **why)
{
	struct tp_jwt_claims claims;
	struct tp_errdetail err = {{0}, NULL};

	if (tp_token_verify(srv, token, tp_now(), &claims, &err)) {
		*why = err.field && !strcmp(err.field, TP_JWT_R_EXPIRED) ? "Token expired"
									 : "Invalid token";
		return TP_ERR_AUTH;
	}
	*user = claims.sub;
	*exp = claims.exp;
	return TP_OK;
}

/* Origin allowed? No Origin (not a browser) is allowed; otherwise it must
 * be in allowed_origins, or, when that is empty, the same host the request
 * was sent to (plus any localhost origin in dev mode). */
static bool origin_ok(struct tp_io *srv, struct lws *wsi)
{
	char origin[256], host[256];
	const char *list = srv->cfg->allowed_origins, *hostpart;

	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
		return true;
	if (list && list[0])
		return tp_origin_listed(list, origin);
	hostpart = strstr(origin, "://");
	hostpart = hostpart ? hostpart + 3 : origin;
	if (lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) > 0 &&
	    !tp_ascii_casecmp(hostpart, host))
		return true;
	if (srv->cfg->dev_mode &&
	    (!tp_ascii_ncasecmp(hostpart, "localhost", 9) || !strncmp(hostpart, "127.0.0.1", 9)))
		return true;
	return false;
}

static int reject(struct lws *wsi, int status, const char *msg)
{
	unsigned char buf[LWS_PRE + 512];
	unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
	struct tp_buf body;
	int rc = -1;

	TP_METRIC_INC(ws_rejected);
	/* msg may quote a token check's reason: escaped by the writer. */
	tp_buf_init(&body, 0);
	tp_render_error(&body, msg, NULL, NULL);
	if (body.oom || body.len > 256 ||
	    lws_add_http_common_headers(wsi, (unsigned)status,
					"application/json; charset=utf-8",
					(lws_filepos_t)body.len, &p, end) ||
	    (status == 503 && /* shutting down, full: come back soon */
	     lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
					 (const unsigned char *)"1", 1, &p, end)) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		goto out;
	memcpy(start, tp_buf_data(&body), body.len);
	if (lws_write(wsi, start, body.len, LWS_WRITE_HTTP_FINAL) == (int)body.len)
		rc = 1;
out:
	tp_buf_cleanup(&body);
	return rc;
}

int tp_ws_confirm_upgrade(struct lws *wsi)
{
	struct tp_io *srv = lws_context_user(lws_get_context(wsi));
	char uri[64], token[TP_JWT_MAX_LEN + 1];
	long long user;
	double exp;
	const char *why;

	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
	    strcmp(uri, "/ws"))
		return reject(wsi, 404, "Not found");
	if (srv->stopping)
		return reject(wsi, 503, "Server is shutting down");
	if (tp_http_refuse_full(wsi))
		return reject(wsi, 503, TP_HTTP_FULL_MSG);
	if (!origin_ok(srv, wsi))
		return reject(wsi, 403, "Origin not allowed");
	token_of(wsi, token, sizeof(token));
	if (token[0] && verify(srv, token, &user, &exp, &why))
		return reject(wsi, 401, why);
	/* A deleted account known as such; an unknown one is checked by the
	 * tick (and the session closed 4001 if it is gone). */
	if (token[0] && tp_user_gone(srv, user))
		return reject(wsi, 401, TP_ACCOUNT_GONE_MSG);
	if (!token[0] && srv->cfg->require_auth_everywhere)
		return reject(wsi, 401, "Authentication required");
	return 0;
}

/* ---- sessions ---- */

static void hello(struct ws_conn *c)
{
	struct tp_buf b;

	tp_buf_init(&b, 0);
	tp_proto_hello(&b, c->id_str, c->user, c->srv->epoch,
		       tp_ingest_stats(c->srv->ingest)->seq, tp_now());
	reply(c, &b);
	tp_buf_cleanup(&b);
}

static struct tp_rconn *start_reader(struct ws_conn *c);

static struct ws_conn *established(struct lws *wsi)
{
	struct tp_io *srv = lws_context_user(lws_get_context(wsi));
	struct tp_ws *ws = ws_of(srv);
	struct ws_conn *c = tp_calloc(1, sizeof(*c));
	char token[TP_JWT_MAX_LEN + 1];
	const char *why;

	if (!c)
		return NULL;
	c->base.send = ws_send;
	c->srv = srv;
	c->wsi = wsi;
	c->id = ++ws->next_id;
	snprintf(c->id_str, sizeof(c->id_str), "w%llu", (unsigned long long)c->id);
	c->connected_at = tp_now();
	c->last_rx = tp_mono();
	tp_wconn_init(&c->out, srv->writer);
	c->bucket.last = tp_mono(); /* a zeroed bucket is full */
	tp_buf_init(&c->rx, 0);
	tp_wsrx_init(&c->wsrx, (size_t)srv->cfg->ws_max_frame, true);
	/* The handshake verified the token; read it again for the claims. */
	token_of(wsi, token, sizeof(token));
	if (token[0] && verify(srv, token, &c->user, &c->token_exp, &why)) {
		c->user = 0;
		c->token_exp = 0;
	}
	c->push = tp_push_session_create(srv->push, c, c->user);
	if (!c->push || tp_wconn_attach(&c->out, wsi, LWS_WRITE_RAW) ||
	    !(c->reader = start_reader(c)) ||
	    tp_dict_set(ws->conns, c->id_str, c, NULL)) {
		tp_rconn_close(c->reader);
		tp_push_session_destroy(c->push);
		tp_wsrx_cleanup(&c->wsrx);
		tp_buf_cleanup(&c->rx);
		tp_free(c);
		return NULL;
	}
	c->all_next = ws->all;
	if (ws->all)
		ws->all->all_prev = c;
	ws->all = c;
	TP_METRIC_INC(ws_sessions);
	TP_METRIC_INC(ws_connections_total);
	hello(c);
	return c;
}

static void closed(struct ws_conn *c)
{
	struct tp_ws *ws = ws_of(c->srv);

	tp_dict_del(ws->conns, c->id_str);
	if (ws->cursor == c)
		ws->cursor = c->all_next;
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else
		ws->all = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	tp_rconn_close(c->reader); /* before lws closes the socket */
	tp_push_session_destroy(c->push);
	tp_wconn_cleanup(&c->out);
	tp_wsrx_cleanup(&c->wsrx);
	tp_buf_cleanup(&c->rx);
	TP_METRIC_SET(ws_sessions, TP_METRIC_GET(ws_sessions) - 1);
	tp_free(c);
}

/* ---- ops ---- */

struct pending_sub {
	struct tp_io *srv;
	char conn_id[24];
	char id[TP_SUB_ID_MAX + 1];
	long long preset_id;
	bool has_since;
	char since_epoch[TP_EPOCH_MAX + 1];
	uint64_t since_seq;
	bool snapshot;
	unsigned limit;
};

static void subscribe_now(struct ws_conn *c, const char *id,
			  enum tp_sub_channel ch, const struct tp_filter *f,
			  long long preset_id, bool has_since,
			  const char *since_epoch, uint64_t since_seq,
			  bool snapshot, unsigned limit)
{
	struct tp_push_sub_req req = {
		.id = id, .channel = ch, .filter = f, .preset_id = preset_id,
		.has_since = has_since, .since_epoch = since_epoch,
		.since_seq = since_seq, .snapshot = snapshot, .limit = limit,
	};
	struct tp_errdetail err = {{0}, NULL};
	int rc;

	rc = tp_push_subscribe(c->srv->push, c->push, &req,
			       tp_ingest_patterns(c->srv->ingest), tp_now(), &err);
	switch (rc) {
	case TP_OK: break;
	case TP_ERR_LIMIT: send_error(c, id, TP_CODE_LIMIT, err.msg); break;
	case TP_ERR_AUTH: send_error(c, id, TP_CODE_UNAUTHORIZED, err.msg); break;
	case TP_ERR_NOMEM: send_error(c, id, TP_CODE_BAD_REQUEST, "out of memory"); break;
	default: send_error(c, id, TP_CODE_BAD_REQUEST, err.msg); break;
	}
}

static void sub_resolved(int status, const struct tp_filter *filter,
			 const struct tp_errdetail *err, void *ud)
{
	struct pending_sub *ps = ud;
	struct ws_conn *c = tp_dict_get(ws_of(ps->srv)->conns, ps->conn_id);

	if (c && !c->close_code) {
		if (status == TP_OK)
			subscribe_now(c, ps->id, TP_SUBCH_PATTERNS, filter, ps->preset_id,
				      ps->has_since, ps->since_epoch, ps->since_seq,
				      ps->snapshot, ps->limit);
		else if (status == TP_ERR_NOTFOUND)
			send_error(c, ps->id, TP_CODE_NOT_FOUND, err->msg);
		else if (status == TP_ERR_AUTH) /* the tick closes the session */
			send_error(c, ps->id, TP_CODE_UNAUTHORIZED, "account no longer exists");
		else if (status == TP_ERR_INVAL)
			send_error(c, ps->id, TP_CODE_BAD_REQUEST, err->msg);
		else
			send_error(c, ps->id, TP_CODE_BAD_REQUEST, "database unavailable, try again");
	}
	tp_free(ps);
}

static void op_subscribe(struct ws_conn *c, struct tp_client_frame *f)
{
	struct pending_sub *ps;
	int rc;

	if (c->user > 0 && tp_user_gone(c->srv, c->user)) {
		send_error(c, f->id, TP_CODE_UNAUTHORIZED, "account no longer exists");
		return;
	}
	if (f->channel != TP_SUBCH_PATTERNS || (!f->preset_id &&
	    f->refs.watchlist_id <= 0 && !f->refs.universe[0])) {
		subscribe_now(c, f->id, f->channel, &f->filter, 0, f->has_since,
			      f->since_epoch, f->since_seq, f->snapshot, f->limit);
		return;
	}
	if (c->user <= 0) {
		send_error(c, f->id, TP_CODE_UNAUTHORIZED,
			   "presets and watchlists need a signed-in session");
		return;
	}
	/* Needs the database: resolve, then subscribe (by session id). */
	if (!(ps = tp_calloc(1, sizeof(*ps)))) {
		send_error(c, f->id, TP_CODE_BAD_REQUEST, "out of memory");
		return;
	}
	ps->srv = c->srv;
	snprintf(ps->conn_id, sizeof(ps->conn_id), "%s", c->id_str);
	snprintf(ps->id, sizeof(ps->id), "%s", f->id);
	ps->preset_id = f->preset_id;
	ps->has_since = f->has_since;
	snprintf(ps->since_epoch, sizeof(ps->since_epoch), "%s", f->since_epoch);
	ps->since_seq = f->since_seq;
	ps->snapshot = f->snapshot;
	ps->limit = f->limit;
	if (f->preset_id)
		rc = tp_presets_resolve(c->srv, c->user, f->preset_id, sub_resolved, ps);
	else
		rc = tp_presets_resolve_filter(c->srv, c->user, &f->filter, &f->refs,
					       sub_resolved, ps);
	if (rc) {
		tp_free(ps);
		send_error(c, f->id, rc == TP_ERR_AUTH ? TP_CODE_UNAUTHORIZED : TP_CODE_BAD_REQUEST,
			   rc == TP_ERR_UPSTREAM ? "database unavailable, try again"
						 : "cannot resolve the filter");
	}
}

/* Signed in: the session acts for user from now on. */
static void auth_done(struct ws_conn *c, long long user, double exp)
{
	c->user = user;
	c->token_exp = exp;
	tp_push_session_set_user(c->push, user);
	hello(c); /* tells the client who it is now */
}

struct pending_auth {
	struct tp_io *srv;
	char conn_id[24];
	long long user;
	double exp;
};

static void auth_checked(int status, void *ud)
{
	struct pending_auth *pa = ud;
	struct ws_conn *c = pa->srv->ws ? tp_dict_get(pa->srv->ws->conns, pa->conn_id) : NULL;

	if (c && !c->close_code) {
		c->auth_pending = false;
		if (status == TP_OK)
			auth_done(c, pa->user, pa->exp);
		else
			send_error(c, NULL, TP_CODE_UNAUTHORIZED,
				   status == TP_ERR_AUTH ? "account no longer exists"
							 : "server shutting down");
	}
	tp_free(pa);
}

static void op_auth(struct ws_conn *c, const char *token)
{
	struct pending_auth *pa;
	const char *why;
	long long user;
	double exp;
	int rc;

	if (tp_now() - c->connected_at > c->srv->cfg->ws_auth_timeout) {
		send_error(c, NULL, TP_CODE_UNAUTHORIZED,
			   "auth must come within the first seconds of the session");
		return;
	}
	if (c->user > 0 || c->auth_pending) {
		send_error(c, NULL, TP_CODE_BAD_REQUEST, "already authenticated");
		return;
	}
	if (verify(c->srv, token, &user, &exp, &why)) {
		send_error(c, NULL, TP_CODE_UNAUTHORIZED, why);
		return;
	}
	/* The token's account must still exist (cached, or one query). */
	if (!(pa = tp_calloc(1, sizeof(*pa)))) {
		send_error(c, NULL, TP_CODE_BAD_REQUEST, "out of memory");
		return;
	}
	pa->srv = c->srv;
	snprintf(pa->conn_id, sizeof(pa->conn_id), "%s", c->id_str);
	pa->user = user;
	pa->exp = exp;
	rc = tp_user_check(c->srv, user, auth_checked, pa);
	if (rc == TP_ERR_PENDING) {
		c->auth_pending = true;
		return;
	}
	tp_free(pa);
	if (rc == TP_OK)
		auth_done(c, user, exp);
	else
		send_error(c, NULL, TP_CODE_UNAUTHORIZED, "account no longer exists");
}

/* Token bucket: ws_rate frames/s, ws_burst deep. Returns false when the
 * frame must be refused; closes the session when the client keeps on. */
static bool rate_ok(struct ws_conn *c)
{
	const struct tp_config *cfg = c->srv->cfg;
	double now = tp_mono();

	if (tp_tbucket_take(&c->bucket, cfg->ws_rate, cfg->ws_burst, now)) {
		c->strikes = 0;
		return true;
	}
	if (++c->strikes > (unsigned)cfg->ws_burst) {
		TP_METRIC_INC(ws_rate_closed);
		close_async(c, 4029, "rate limit exceeded");
	} else {
		send_error(c, NULL, TP_CODE_RATE_LIMITED, "too many frames, slow down");
	}
	return false;
}

static void on_message(struct ws_conn *c, const char *buf, size_t len)
{
	struct tp_client_frame f;
	struct tp_errdetail err = {{0}, NULL};
	struct tp_buf b;
	int rc;

	TP_METRIC_INC(ws_frames_received);
	if (!rate_ok(c))
		return;
	rc = tp_proto_parse(buf, len, (size_t)c->srv->cfg->ws_max_frame, &f, &err);
	if (rc) {
		send_error(c, NULL, TP_CODE_BAD_REQUEST,
			   rc == TP_ERR_NOMEM ? "out of memory" : err.msg);
		return;
	}
	switch (f.op) {
	case TP_OP_SUBSCRIBE:
		op_subscribe(c, &f);
		break;
	case TP_OP_UNSUBSCRIBE:
		if (tp_push_unsubscribe(c->srv->push, c->push, f.id))
			send_error(c, f.id, TP_CODE_NOT_FOUND, "no such subscription");
		break;
	case TP_OP_PING:
		tp_buf_init(&b, 0);
		tp_proto_pong(&b, f.ping_t);
		reply(c, &b);
		tp_buf_cleanup(&b);
		break;
	case TP_OP_AUTH:
		op_auth(c, f.token);
		break;
	}
	tp_client_frame_cleanup(&f);
}

static int on_receive(struct ws_conn *c, const void *in, size_t len)
{
	struct lws *wsi = c->wsi;
	size_t max = (size_t)c->srv->cfg->ws_max_frame;

	if (lws_frame_is_binary(wsi)) {
		TP_METRIC_INC(ws_errors);
		close_async(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "binary frames are not accepted");
		return 0;
	}
	if (c->close_code)
		return 0;
	if (c->rx.len + len > max) {
		TP_METRIC_INC(ws_errors);
		close_async(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "frame too large");
		return 0;
	}
	tp_buf_append(&c->rx, in, len);
	if (!lws_is_final_fragment(wsi))
		return 0;
	if (c->rx.oom) {
		close_async(c, 1011, "out of memory");
		return 0;
	}
	on_message(c, tp_buf_data(&c->rx) ? tp_buf_data(&c->rx) : "", c->rx.len);
	tp_buf_reset(&c->rx);
	return 0;
}

/* ---- our read path (see the top of the file) ---- */

/* Closes the session for a protocol violation: code and reason go to
 * the client, the reason's label to the metric and the log. */
static void protocol_error(struct ws_conn *c, enum tp_wsrx_error why,
			   int code, const char *reason)
{
	tp_rconn_stop(c->reader);
	if (c->close_code)
		return;
	TP_METRIC_INC(ws_errors);
	tp_metrics_ws_protocol_error(why);
	TP_LOG(TP_LOG_WARN, "msg=\"WebSocket protocol error\" sid=%s user=%lld why=%s code=%d",
	       c->id_str, c->user, tp_wsrx_error_name(why), code);
	close_async(c, code, reason);
}

/* A ping's payload comes back in a pong, before queued data. A client
 * that pings without reading is a slow consumer like any other. */
static void pong(struct ws_conn *c, const unsigned char *data, size_t len)
{
	unsigned char hdr[TP_WS_HEADER_MAX];
	struct tp_outq_parts p = {
		.pre = hdr, .head = (const char *)data, .head_len = len,
	};

	if (c->close_code)
		return;
	p.pre_len = tp_ws_header(hdr, TP_WS_OP_PONG, len);
	if (c->out.q.bytes + p.pre_len + len > (size_t)c->srv->cfg->ws_queue_max_bytes) {
		TP_METRIC_INC(ws_slow_closed);
		close_async(c, 4008, "slow consumer");
	} else if (tp_wconn_push_control(&c->out, &p) != TP_OK) {
		close_async(c, 1011, "out of memory");
	}
}

static void on_frame(struct ws_conn *c, const struct tp_wsrx_event *ev)
{
	switch (ev->kind) {
	case TP_WSRX_TEXT:
		if (!c->close_code)
			on_message(c, (const char *)ev->data, ev->len);
		break;
	case TP_WSRX_PING:
		pong(c, ev->data, ev->len);
		break;
	case TP_WSRX_CLOSE:
		/* The client closes: echo its code (RFC 6455 5.5.1), then
		 * the socket closes once the echo is out. When we started
		 * the close, this is its answer: nothing more to send. */
		tp_rconn_stop(c->reader);
		close_async(c, ev->close_code == 1005 ? 1000 : ev->close_code,
			    "client closed");
		break;
	case TP_WSRX_ERROR:
		protocol_error(c, ev->error, ev->close_code, ev->reason);
		break;
	default: /* pong: the sign of life is the read itself */
		break;
	}
}

static void rx_data(void *ud, const unsigned char *buf, size_t len)
{
	struct ws_conn *c = ud;
	struct tp_wsrx_event ev;
	size_t at = 0;

	c->last_rx = tp_mono();
	c->ping_out = false;
	while (at < len) {
		at += tp_wsrx_feed(&c->wsrx, buf + at, len - at, &ev);
		if (ev.kind == TP_WSRX_NONE)
			break;
		on_frame(c, &ev);
		if (ev.kind == TP_WSRX_CLOSE || ev.kind == TP_WSRX_ERROR)
			break;
	}
}

/* The peer closed its side or the socket failed: nothing more can come,
 * and a close frame would have come first. lws closes the connection. */
static void rx_end(void *ud, int err)
{
	struct ws_conn *c = ud;

	TP_LOG(TP_LOG_DEBUG, "msg=\"WebSocket peer gone\" sid=%s err=%s", c->id_str,
	       tp_log_q(err ? strerror(err) : "end of stream"));
	tp_wconn_lws_silent(&c->out, false);
	if (!c->killed) {
		c->killed = true;
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
	}
}

/* Frames lws read with the handshake: the client sent them before our
 * 101 (RFC 6455 4.1), and lws parsed them, unchecked. */
static void early_data(struct ws_conn *c)
{
	protocol_error(c, TP_WSRX_E_EARLY, 1002, "frame sent before the handshake response");
}

/* Our reads start: lws must be between frames, else it holds the start
 * of one sent early (a header with a length, or part of a payload). */
static void rx_switch(void *ud)
{
	struct ws_conn *c = ud;

	if (lws_remaining_packet_payload(c->wsi)) {
		early_data(c);
		return;
	}
	tp_wconn_lws_silent(&c->out, true);
}

static struct tp_rconn *start_reader(struct ws_conn *c)
{
	const struct tp_rconn_sink sink = {
		.on_data = rx_data, .on_end = rx_end, .on_switch = rx_switch, .ud = c,
	};
	struct tp_rconn_source tls;

	/* NULL for plaintext: recv. */
	return tp_rconn_start(&c->srv->loop, c->wsi, tp_tls_read_source(c->wsi, &tls),
			      &sink);
}

int tp_ws_callback(struct lws *wsi, int reason, void **slot, void *in,
		   size_t len)
{
	struct ws_conn *c = *slot;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		*slot = established(wsi);
		return *slot ? 0 : -1;
	case LWS_CALLBACK_RECEIVE:
		if (!c)
			return -1;
		if (c->reader) {
			/* Sent with the handshake (reader.c): unchecked by us. */
			if (!tp_rconn_reading(c->reader))
				early_data(c);
			return 0; /* else lws reads for its close: ignored */
		}
		c->last_rx = tp_mono();
		c->ping_out = false;
		return on_receive(c, in, len);
	case LWS_CALLBACK_RECEIVE_PONG:
		if (!c)
			return 0;
		if (c->reader && !tp_rconn_reading(c->reader)) {
			early_data(c); /* sent with the handshake */
			return 0;
		}
		c->last_rx = tp_mono();
		c->ping_out = false;
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c ? on_writeable(c) : 0;
	case LWS_CALLBACK_CLOSED:
		if (c) {
			closed(c);
			*slot = NULL;
		}
		return 0;
	default:
		return 0;
	}
}

/* ---- module ---- */

int tp_ws_create(struct tp_io *srv)
{
	struct tp_ws *ws = tp_calloc(1, sizeof(*ws));

	if (!ws || !(ws->conns = tp_dict_create())) {
		tp_free(ws);
		return TP_ERR_NOMEM;
	}
	srv->ws = ws;
	return TP_OK;
}

static bool close_visit(const char *key, void *value, void *ud)
{
	struct ws_conn *c = value;

	(void)key;
	(void)ud;
	close_async(c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
	return false;
}

size_t tp_ws_close_all(struct tp_io *srv)
{
	if (!srv->ws)
		return 0;
	tp_dict_foreach(srv->ws->conns, close_visit, NULL);
	return tp_dict_size(srv->ws->conns);
}

void tp_ws_destroy(struct tp_io *srv)
{
	if (!srv->ws)
		return;
	/* lws closed every connection (CLOSED ran for each) before this. */
	tp_dict_destroy(srv->ws->conns);
	tp_sharedframe_reset(&srv->ws->last);
	tp_free(srv->ws);
	srv->ws = NULL;
}

size_t tp_ws_count(const struct tp_io *srv)
{
	return srv->ws ? tp_dict_size(srv->ws->conns) : 0;
}

static void tick_visit(struct ws_conn *c, double now, double mono)
{
	if (c->token_exp > 0 && now >= c->token_exp)
		close_async(c, 4001, "token expired");
	else if (c->user > 0 && !c->close_code && tp_user_gone(c->srv, c->user))
		close_async(c, 4001, "account no longer exists");
	idle_check(c, mono);
}

void tp_ws_tick_start(struct tp_io *srv, double now)
{
	if (!srv->ws)
		return;
	srv->ws->cursor = srv->ws->all;
	srv->ws->round_now = now;
}

bool tp_ws_tick_step(struct tp_io *srv, size_t max)
{
	struct tp_ws *ws = srv->ws;
	double mono = tp_mono();

	if (!ws)
		return false;
	/* Nothing visited closes a connection synchronously (close_async
	 * only queues), so the cursor stays valid; closed() moves it. */
	for (size_t i = 0; i < max && ws->cursor; i++) {
		struct ws_conn *c = ws->cursor;

		ws->cursor = c->all_next;
		tick_visit(c, ws->round_now, mono);
	}
	/* Users whose answers expired were queued above: one query. */
	tp_user_check_flush(srv);
	return ws->cursor != NULL;
}
