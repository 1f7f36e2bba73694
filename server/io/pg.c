/*
 * pg.c - a small pool of non-blocking libpq connections on our libuv loop.
 *
 * Responsibilities: keep up to pool_size connections to PostgreSQL, run
 * prepared statements on them without ever blocking the loop, bound every
 * query by a timeout, and heal the pool after the database goes away.
 *
 * Connection states: BACKOFF (timer) -> RESOLVING (uv_getaddrinfo on the
 * threadpool, one host name of the conninfo at a time; the addresses go to
 * libpq as hostaddr so PQconnectStartParams never resolves names itself) ->
 * CONNECTING (PQconnectPoll driven by uv_poll, guarded by a timer because
 * libpq's connect_timeout only works for blocking connects) -> READY (idle,
 * watching for the server closing on us) <-> BUSY (one query in flight,
 * guarded by the query timer). Any failure goes to BACKOFF: the delay
 * doubles from 100 ms up to reconnect_max with +-25% jitter. A query timeout
 * drops the connection (PQcancel blocks) and reconnects at once.
 *
 * Statements are prepared lazily: each connection remembers (c->prepared)
 * which statement names it prepared; the first run on a connection sends
 * PQsendPrepare, waits for its result, then PQsendQueryPrepared.
 *
 * libuv and libpq share each socket. libuv must never watch a descriptor
 * that libpq closed or replaced (epoll would be left inconsistent, and
 * libuv aborts on that), and libpq may close its socket inside almost any
 * call (PQconnectPoll opens a new one per address it tries; errors drop
 * it). So the rule here is: the poll handle is stopped before every libpq
 * call that may touch the socket and started again afterwards on whatever
 * PQsocket is then (watch() replaces the handle when the descriptor
 * changed); on teardown the handle is uv_close'd (which stops it at once)
 * before PQfinish closes the descriptor. The price is an epoll_ctl
 * DEL/ADD pair per socket event, nothing next to a database round trip.
 *
 * Invariants: a query is in exactly one place: the FIFO queue, one
 * connection's c->q, or being finished (its callback runs exactly once,
 * then it is freed). pg->up counts connections in READY or BUSY. No user
 * callback runs inside tp_pg_query or tp_pg_create. After every user
 * callback the code re-checks pg->closing, since the callback may have
 * closed the pool.
 *
 * Ownership and lifetime: the pool owns the connections, the queries (with
 * copies of their parameters) and the PGresults (cleared after the
 * callback). Poll handles are heap blocks freed in their close callback.
 * tp_pg_close cancels everything and closes the handles; the pool itself is
 * freed from the last close callback (or getaddrinfo callback), never
 * synchronously, so code on the stack below a user callback may still look
 * at pg->closing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netutil.h"
#include "pg.h"
#include "tickpush/alloc.h"
#include "tickpush/clock.h"
#include "tickpush/dict.h"
#include "tickpush/err.h"
#include "tickpush/log.h"

#define BACKOFF_START 0.1
#define CONNECT_TIMEOUT_MIN 5.0  /* seconds; at least query_timeout */
#define DOWN_LOG_INTERVAL 30.0   /* "still unavailable" at most this often */
#define QUERY_LOG_INTERVAL 1.0   /* query errors and timeouts */

enum cstate {
	C_BACKOFF,
	C_RESOLVING,
	C_CONNECTING,
	C_READY,
	C_BUSY,
	C_CLOSED,
};

struct query {
	struct query *next;
	const struct tp_pg_stmt *stmt;
	char **params;      /* stmt->nparams entries, same block as the query */
	tp_pg_cb *cb;
	void *ud;
	uint64_t deadline;  /* loop ms: TIMEOUT if still queued by then */
};

struct conn {
	struct tp_pg *pg;
	unsigned id;
	enum cstate state;
	PGconn *pq;
	uv_poll_t *poll;        /* NULL, or the handle on poll_fd */
	int poll_fd;
	uv_timer_t timer;       /* backoff / connect / query timeout / deferred failure */
	uv_getaddrinfo_t gai;
	bool gai_pending;
	size_t resolve_idx;     /* host being resolved */
	char **addrs;           /* per host: resolved address, or NULL */
	struct tp_dict *prepared; /* statement names prepared on this session */
	struct query *q;        /* running query */
	bool preparing;         /* the command in flight is q's PQsendPrepare */
	bool flushing;          /* output left to send: watch writable */
	PGresult *res;          /* last result of the command in flight */
	double backoff;         /* seconds, next delay */
	char err[256];          /* failure to report from the loop */
};

struct tp_pg {
	uv_loop_t *loop;
	struct tp_pg_opts o;    /* o.conninfo is not kept */
	/* The parsed conninfo as PQconnectStartParams arrays (NULL-terminated,
	 * all strings owned); hostaddr_slot >= 0 is filled per attempt. */
	char **kw, **val;
	int hostaddr_slot;
	char **hosts;           /* the host list, split */
	bool *needs_dns;
	size_t n_hosts;
	bool resolve;           /* some host is a name: resolve before connecting */
	char target[512];       /* for logs: host, port, dbname, user; no password */
	struct conn *conns;
	unsigned n_conns;
	struct query *qhead, *qtail;
	unsigned n_queued;
	uv_timer_t qtimer;      /* expiry of the queue head */
	unsigned open_handles;  /* initialised handles not yet closed */
	unsigned pending_reqs;  /* getaddrinfo requests in flight */
	unsigned up;            /* connections READY or BUSY */
	bool reported_up;       /* last state given to on_state */
	bool closing;
	bool failing;           /* a failure was logged since the last success */
	struct tp_log_ratelimit down_rl, query_rl;
	struct tp_pg_stats st;
};

static void on_poll(uv_poll_t *h, int status, int events);
static void start_attempt(struct conn *c);
static void pump(struct tp_pg *pg);
static void maybe_free(struct tp_pg *pg);

/* ---- small helpers ---- */

static double loop_now(const struct tp_pg *pg)
{
	return (double)uv_now(pg->loop) / 1000.0;
}

static uint64_t ms(double seconds)
{
	return seconds <= 0 ? 0 : (uint64_t)(seconds * 1000.0 + 0.5);
}

/* First line of a libpq message, fit for a quoted log value. */
static void first_line(char *out, size_t outlen, const char *msg)
{
	size_t n = 0;

	if (!msg || !*msg)
		msg = "unknown error";
	for (; *msg && *msg != '\n' && n + 1 < outlen; msg++)
		out[n++] = *msg == '"' ? '\'' : *msg;
	while (n && (out[n - 1] == ' ' || out[n - 1] == '\r'))
		n--;
	out[n] = '\0';
}

static bool is_up_state(enum cstate s)
{
	return s == C_READY || s == C_BUSY;
}

/* ---- queries ---- */

static struct query *query_new(const struct tp_pg_stmt *stmt,
			       const char *const *params, tp_pg_cb *cb,
			       void *ud)
{
	size_t n = (size_t)stmt->nparams, size = sizeof(struct query);
	struct query *q;
	char *p;

	size += n * sizeof(char *);
	for (size_t i = 0; i < n; i++)
		if (params[i])
			size += strlen(params[i]) + 1;
	q = tp_malloc(size);
	if (!q)
		return NULL;
	memset(q, 0, sizeof(*q));
	q->stmt = stmt;
	q->cb = cb;
	q->ud = ud;
	q->params = (char **)(q + 1);
	p = (char *)(q->params + n);
	for (size_t i = 0; i < n; i++) {
		if (!params[i]) {
			q->params[i] = NULL;
			continue;
		}
		size_t len = strlen(params[i]) + 1;

		memcpy(p, params[i], len);
		q->params[i] = p;
		p += len;
	}
	return q;
}

/* Runs q's callback (exactly once) and frees q and res. The caller must
 * re-check pg->closing afterwards. */
static void finish(struct tp_pg *pg, struct query *q, int status,
		   PGresult *res)
{
	if (status == TP_ERR_UPSTREAM) {
		pg->st.errors++;
		pg->st.last_error_time = tp_now();
	} else if (status == TP_ERR_TIMEOUT) {
		pg->st.timeouts++;
		pg->st.last_error_time = tp_now();
	}
	q->cb(status, res, q->ud);
	PQclear(res);
	tp_free(q);
}

static struct query *queue_pop(struct tp_pg *pg)
{
	struct query *q = pg->qhead;

	if (!q)
		return NULL;
	pg->qhead = q->next;
	if (!pg->qhead)
		pg->qtail = NULL;
	q->next = NULL;
	pg->n_queued--;
	return q;
}

static void queue_expire(uv_timer_t *t);

/* Arms the queue timer for the head's deadline (FIFO with one timeout:
 * the head always expires first). */
static void queue_arm(struct tp_pg *pg)
{
	uint64_t now = uv_now(pg->loop);

	if (pg->closing)
		return;
	if (!pg->qhead) {
		uv_timer_stop(&pg->qtimer);
		return;
	}
	uv_timer_start(&pg->qtimer, queue_expire,
		       pg->qhead->deadline > now ? pg->qhead->deadline - now : 0, 0);
}

static void queue_expire(uv_timer_t *t)
{
	struct tp_pg *pg = t->data;
	uint64_t now = uv_now(pg->loop);

	while (pg->qhead && pg->qhead->deadline <= now) {
		struct query *q = queue_pop(pg);

		finish(pg, q, TP_ERR_TIMEOUT, NULL);
		if (pg->closing)
			return;
	}
	queue_arm(pg);
}

/* Fails every queued query (no connection is up to run them). */
static void fail_queue(struct tp_pg *pg, int status)
{
	struct query *q;

	while (!pg->closing && (q = queue_pop(pg)))
		finish(pg, q, status, NULL);
	queue_arm(pg);
}

/* ---- pool state, logging ---- */

static void set_reported(struct tp_pg *pg, bool up)
{
	if (pg->reported_up == up || pg->closing)
		return;
	pg->reported_up = up;
	if (pg->o.on_state)
		pg->o.on_state(up, pg->o.state_ud);
}

/* After a connection went away: with none left, queued queries fail now
 * rather than wait for a reconnect. */
static void after_loss(struct tp_pg *pg)
{
	if (pg->closing || pg->up)
		return;
	set_reported(pg, false);
	if (!pg->closing)
		fail_queue(pg, TP_ERR_UPSTREAM);
}

/* One WARN when the database becomes unavailable, then at most one every
 * DOWN_LOG_INTERVAL while it stays so. */
static void log_failure(struct tp_pg *pg, const struct conn *c, const char *why,
			bool was_up, double retry_in)
{
	unsigned long suppressed = 0;

	pg->st.last_error_time = tp_now();
	if (!pg->failing) {
		pg->failing = true;
		memset(&pg->down_rl, 0, sizeof(pg->down_rl));
		tp_log_ratelimit_allow(&pg->down_rl, loop_now(pg), DOWN_LOG_INTERVAL, NULL);
		TP_LOG(TP_LOG_WARN, "msg=\"postgres %s, retrying\" conn=%u %s error=%s retry_in=%.2fs",
		       was_up ? "connection lost" : "unavailable", c->id, pg->target,
		       tp_log_q(why), retry_in);
	} else if (tp_log_ratelimit_allow(&pg->down_rl, loop_now(pg),
					  DOWN_LOG_INTERVAL, &suppressed)) {
		TP_LOG(TP_LOG_WARN, "msg=\"postgres still unavailable\" conn=%u %s error=%s retry_in=%.2fs suppressed=%lu",
		       c->id, pg->target, tp_log_q(why), retry_in, suppressed);
	} else {
		TP_LOG(TP_LOG_DEBUG, "msg=\"postgres connect failed\" conn=%u error=%s retry_in=%.2fs",
		       c->id, tp_log_q(why), retry_in);
	}
}

/* ---- socket watching ---- */

static void poll_closed(uv_handle_t *h);

/* Stops watching (before a libpq call that may close the socket). */
static void unwatch(struct conn *c)
{
	if (c->poll)
		uv_poll_stop(c->poll);
}

static void drop_poll(struct conn *c)
{
	if (!c->poll)
		return;
	/* uv_close stops the handle at once; the fd may be closed after. */
	uv_close((uv_handle_t *)c->poll, poll_closed);
	c->poll = NULL;
	c->poll_fd = -1;
}

/* Watches PQsocket(c->pq) for events, on a new handle if libpq's socket
 * changed since the last call. */
static int watch(struct conn *c, int events)
{
	int fd = PQsocket(c->pq);
	uv_poll_t *p;

	if (fd < 0)
		return TP_ERR_IO;
	if (c->poll && c->poll_fd != fd)
		drop_poll(c);
	if (!c->poll) {
		p = tp_malloc(sizeof(*p));
		if (!p)
			return TP_ERR_NOMEM;
		if (uv_poll_init(c->pg->loop, p, fd)) {
			tp_free(p);
			return TP_ERR_IO;
		}
		p->data = c;
		c->poll = p;
		c->poll_fd = fd;
		c->pg->open_handles++;
	}
	return uv_poll_start(c->poll, events, on_poll) ? TP_ERR_IO : TP_OK;
}

/* ---- connection teardown and retry ---- */

static bool clear_prepared(const char *key, void *value, void *ud)
{
	(void)key;
	(void)value;
	(void)ud;
	return true;
}

/* Ends c's session (poll handle first, then PQfinish) and detaches the
 * running query, which the caller must finish. Leaves c->state to the
 * caller. */
static struct query *disconnect(struct conn *c)
{
	struct query *q = c->q;

	drop_poll(c);
	if (c->pq) {
		PQfinish(c->pq);
		c->pq = NULL;
	}
	PQclear(c->res);
	c->res = NULL;
	if (is_up_state(c->state))
		c->pg->up--;
	c->q = NULL;
	c->preparing = false;
	c->flushing = false;
	tp_dict_foreach(c->prepared, clear_prepared, NULL);
	uv_timer_stop(&c->timer);
	return q;
}

static void backoff_fired(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->state != C_BACKOFF || c->pg->closing)
		return;
	c->pg->st.reconnects++;
	start_attempt(c);
}

/* Goes to BACKOFF; returns the delay in seconds. */
static double schedule_retry(struct conn *c)
{
	struct tp_pg *pg = c->pg;
	double delay = tp_backoff_next(&c->backoff, pg->o.reconnect_max);

	c->state = C_BACKOFF;
	uv_timer_start(&c->timer, backoff_fired, ms(delay), 0);
	return delay;
}

/* The session of c failed (connect failed, connection lost, send failed):
 * tear it down, schedule a retry, fail its running query with UPSTREAM,
 * and the queue too when no connection is left. */
static void conn_failed(struct conn *c, const char *why)
{
	struct tp_pg *pg = c->pg;
	bool was_up = is_up_state(c->state);
	struct query *q;
	char msg[256];
	double delay;

	first_line(msg, sizeof(msg), why); /* why may live in c->pq */
	q = disconnect(c);
	delay = schedule_retry(c);
	log_failure(pg, c, msg, was_up, delay);
	if (q)
		finish(pg, q, TP_ERR_UPSTREAM, NULL);
	after_loss(pg);
}

static void deferred_fail_fired(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->pg->closing || c->state == C_BACKOFF || c->state == C_CLOSED)
		return;
	conn_failed(c, c->err);
}

/* Reports a failure from the loop instead of from the current call (used
 * where a user callback must not run: inside tp_pg_query). */
static void fail_soon(struct conn *c, const char *why)
{
	first_line(c->err, sizeof(c->err), why);
	unwatch(c);
	uv_timer_start(&c->timer, deferred_fail_fired, 0, 0);
}

/* ---- connecting ---- */

static void connect_timeout_fired(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->state == C_CONNECTING && !c->pg->closing)
		conn_failed(c, "connect timed out");
}

static void notice_cb(void *arg, const char *message)
{
	struct conn *c = arg;
	char msg[256];

	first_line(msg, sizeof(msg), message);
	TP_LOG(TP_LOG_INFO, "msg=\"postgres notice\" conn=%u text=%s", c->id, tp_log_q(msg));
}

/* Joins the resolved addresses into a hostaddr list matching the host
 * list (an empty entry lets libpq use a socket path or numeric host). */
static char *hostaddr_list(const struct conn *c)
{
	const struct tp_pg *pg = c->pg;
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < pg->n_hosts; i++)
		len += (c->addrs[i] ? strlen(c->addrs[i]) : 0) + 1;
	s = tp_malloc(len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < pg->n_hosts; i++) {
		if (i)
			strcat(s, ",");
		if (c->addrs[i])
			strcat(s, c->addrs[i]);
	}
	return s;
}

static void connect_now(struct conn *c)
{
	struct tp_pg *pg = c->pg;
	char *hostaddr = NULL;
	double timeout = pg->o.query_timeout > CONNECT_TIMEOUT_MIN ?
			 pg->o.query_timeout : CONNECT_TIMEOUT_MIN;

	if (pg->hostaddr_slot >= 0) {
		hostaddr = hostaddr_list(c);
		if (!hostaddr) {
			conn_failed(c, "out of memory");
			return;
		}
		pg->val[pg->hostaddr_slot] = hostaddr;
	}
	/* expand_dbname = 0: the values were parsed already. */
	c->pq = PQconnectStartParams((const char *const *)pg->kw,
				     (const char *const *)pg->val, 0);
	if (pg->hostaddr_slot >= 0)
		pg->val[pg->hostaddr_slot] = NULL;
	tp_free(hostaddr);
	c->state = C_CONNECTING;
	if (!c->pq) {
		conn_failed(c, "out of memory");
		return;
	}
	if (PQstatus(c->pq) == CONNECTION_BAD) {
		conn_failed(c, PQerrorMessage(c->pq));
		return;
	}
	PQsetNoticeProcessor(c->pq, notice_cb, c);
	/* As if PQconnectPoll had returned PGRES_POLLING_WRITING. */
	if (watch(c, UV_WRITABLE)) {
		conn_failed(c, "cannot watch the socket");
		return;
	}
	uv_timer_start(&c->timer, connect_timeout_fired, ms(timeout), 0);
}

static void resolve_next(struct conn *c);

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct conn *c = req->data;
	struct tp_pg *pg = c->pg;
	char ip[INET6_ADDRSTRLEN] = "";
	char why[300];

	c->gai_pending = false;
	pg->pending_reqs--;
	if (pg->closing || c->state != C_RESOLVING) {
		uv_freeaddrinfo(res);
		maybe_free(pg);
		return;
	}
	if (status < 0 || !res) {
		snprintf(why, sizeof(why), "cannot resolve %s: %s",
			 pg->hosts[c->resolve_idx], uv_strerror(status));
		uv_freeaddrinfo(res);
		conn_failed(c, why);
		return;
	}
	tp_addrinfo_ip(res, ip, sizeof(ip));
	uv_freeaddrinfo(res);
	tp_free(c->addrs[c->resolve_idx]);
	c->addrs[c->resolve_idx] = tp_strdup(ip);
	if (!c->addrs[c->resolve_idx]) {
		conn_failed(c, "out of memory");
		return;
	}
	c->resolve_idx++;
	resolve_next(c);
}

/* Resolves the next host name of the list, or connects when none is left.
 * No timeout here: the resolver has its own, and a getaddrinfo request
 * cannot be abandoned while it runs. */
static void resolve_next(struct conn *c)
{
	struct tp_pg *pg = c->pg;
	struct addrinfo hints;
	int err;

	while (c->resolve_idx < pg->n_hosts && !pg->needs_dns[c->resolve_idx])
		c->resolve_idx++;
	if (c->resolve_idx >= pg->n_hosts) {
		connect_now(c);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	c->state = C_RESOLVING;
	c->gai.data = c;
	err = uv_getaddrinfo(pg->loop, &c->gai, resolved,
			     pg->hosts[c->resolve_idx], NULL, &hints);
	if (err) {
		char why[300];

		snprintf(why, sizeof(why), "cannot resolve %s: %s",
			 pg->hosts[c->resolve_idx], uv_strerror(err));
		conn_failed(c, why);
		return;
	}
	c->gai_pending = true;
	pg->pending_reqs++;
}

static void start_attempt(struct conn *c)
{
	c->resolve_idx = 0;
	if (c->pg->resolve)
		resolve_next(c);
	else
		connect_now(c);
}

static void connected(struct conn *c)
{
	struct tp_pg *pg = c->pg;

	uv_timer_stop(&c->timer);
	if (PQsetnonblocking(c->pq, 1)) {
		conn_failed(c, PQerrorMessage(c->pq));
		return;
	}
	if (watch(c, UV_READABLE)) {
		conn_failed(c, "cannot watch the socket");
		return;
	}
	c->state = C_READY;
	c->backoff = BACKOFF_START;
	pg->up++;
	if (pg->failing) {
		pg->failing = false;
		TP_LOG(TP_LOG_NOTICE, "msg=\"postgres available\" conn=%u %s", c->id,
		       pg->target);
	} else {
		TP_LOG(TP_LOG_INFO, "msg=\"postgres connected\" conn=%u %s", c->id,
		       pg->target);
	}
	set_reported(pg, true);
	if (!pg->closing)
		pump(pg);
}

static void connect_step(struct conn *c)
{
	PostgresPollingStatusType r;

	unwatch(c);
	r = PQconnectPoll(c->pq);
	switch (r) {
	case PGRES_POLLING_OK:
		connected(c);
		return;
	case PGRES_POLLING_READING:
	case PGRES_POLLING_WRITING:
		if (watch(c, r == PGRES_POLLING_READING ? UV_READABLE : UV_WRITABLE))
			conn_failed(c, "cannot watch the socket");
		return;
	default:
		conn_failed(c, PQerrorMessage(c->pq));
		return;
	}
}

/* ---- running queries ---- */

static void query_timeout_fired(uv_timer_t *t)
{
	struct conn *c = t->data;
	struct tp_pg *pg = c->pg;
	struct query *q;
	unsigned long suppressed = 0;

	if (c->state != C_BUSY || pg->closing)
		return;
	q = disconnect(c);
	c->state = C_BACKOFF; /* nothing scheduled: we reconnect right below */
	if (tp_log_ratelimit_allow(&pg->query_rl, loop_now(pg), QUERY_LOG_INTERVAL,
				   &suppressed))
		TP_LOG(TP_LOG_WARN, "msg=\"postgres query timed out, replacing the connection\" conn=%u stmt=%s timeout=%.2fs suppressed=%lu",
		       c->id, q ? q->stmt->name : "-", pg->o.query_timeout, suppressed);
	if (q)
		finish(pg, q, TP_ERR_TIMEOUT, NULL);
	if (pg->closing)
		return;
	pg->st.reconnects++;
	start_attempt(c);
	if (pg->closing)
		return;
	after_loss(pg);
}

/* Sends what libpq buffered and watches for the answer (and for
 * writability while output remains). */
static int flush_and_watch(struct conn *c)
{
	int r = PQflush(c->pq);

	if (r < 0)
		return TP_ERR_IO;
	c->flushing = r == 1;
	return watch(c, UV_READABLE | (c->flushing ? UV_WRITABLE : 0));
}

static int send_exec(struct conn *c)
{
	const struct query *q = c->q;

	if (!PQsendQueryPrepared(c->pq, q->stmt->name, q->stmt->nparams,
				 (const char *const *)q->params, NULL, NULL, 0))
		return TP_ERR_IO;
	return flush_and_watch(c);
}

/* Starts q on the idle connection c. Failures are reported from the loop
 * (fail_soon): this runs inside tp_pg_query too. */
static void dispatch(struct conn *c, struct query *q)
{
	int ok;

	unwatch(c);
	c->q = q;
	c->state = C_BUSY;
	uv_timer_start(&c->timer, query_timeout_fired, ms(c->pg->o.query_timeout), 0);
	if (tp_dict_get(c->prepared, q->stmt->name)) {
		c->preparing = false;
		ok = send_exec(c) == TP_OK;
	} else {
		c->preparing = true;
		ok = PQsendPrepare(c->pq, q->stmt->name, q->stmt->sql,
				   q->stmt->nparams, NULL) &&
		     flush_and_watch(c) == TP_OK;
	}
	if (!ok)
		fail_soon(c, PQerrorMessage(c->pq));
}

static struct conn *idle_conn(struct tp_pg *pg)
{
	for (unsigned i = 0; i < pg->n_conns; i++)
		if (pg->conns[i].state == C_READY && !pg->conns[i].q)
			return &pg->conns[i];
	return NULL;
}

/* Hands queued queries to idle connections. */
static void pump(struct tp_pg *pg)
{
	struct conn *c;

	while (!pg->closing && pg->qhead && (c = idle_conn(pg)))
		dispatch(c, queue_pop(pg));
	queue_arm(pg);
}

static void log_query_error(struct tp_pg *pg, const struct conn *c,
			    const struct query *q, const PGresult *res)
{
	unsigned long suppressed = 0;
	char msg[256];

	if (!tp_log_ratelimit_allow(&pg->query_rl, loop_now(pg), QUERY_LOG_INTERVAL,
				    &suppressed))
		return;
	first_line(msg, sizeof(msg), res ? PQresultErrorMessage(res) : NULL);
	TP_LOG(TP_LOG_WARN, "msg=\"postgres query failed\" conn=%u stmt=%s sqlstate=%s error=%s suppressed=%lu",
	       c->id, q->stmt->name,
	       res && PQresultErrorField(res, PG_DIAG_SQLSTATE) ?
	       PQresultErrorField(res, PG_DIAG_SQLSTATE) : "-", tp_log_q(msg), suppressed);
}

/* The command in flight on c completed (PQgetResult returned NULL). */
static void command_done(struct conn *c)
{
	struct tp_pg *pg = c->pg;
	PGresult *res = c->res;
	struct query *q = c->q;
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int status;

	c->res = NULL;
	if (PQstatus(c->pq) == CONNECTION_BAD) {
		PQclear(res);
		conn_failed(c, PQerrorMessage(c->pq));
		return;
	}
	if (c->preparing) {
		c->preparing = false;
		if (st == PGRES_COMMAND_OK) {
			PQclear(res);
			/* The value only marks presence. */
			if (tp_dict_set(c->prepared, q->stmt->name, c, NULL) != TP_OK) {
				/* Would prepare twice next time: start afresh. */
				conn_failed(c, "out of memory");
				return;
			}
			if (send_exec(c))
				conn_failed(c, PQerrorMessage(c->pq));
			return;
		}
	}
	status = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK ? TP_OK
								 : TP_ERR_UPSTREAM;
	if (status != TP_OK)
		log_query_error(pg, c, q, res);
	c->q = NULL;
	c->state = C_READY;
	uv_timer_stop(&c->timer);
	finish(pg, q, status, res);
	if (pg->closing)
		return;
	/* The callback may have given c a new query already. */
	if (c->state == C_READY && !c->q) {
		if (watch(c, UV_READABLE)) {
			conn_failed(c, "cannot watch the socket");
			return;
		}
		pump(pg);
	}
}

/* Reads whatever arrived; completes the command when libpq has it all. */
static void busy_step(struct conn *c, int events)
{
	if ((events & UV_READABLE) && !PQconsumeInput(c->pq)) {
		conn_failed(c, PQerrorMessage(c->pq));
		return;
	}
	/* Output left: libpq wants PQflush after either event (its docs). */
	if (c->flushing) {
		int r = PQflush(c->pq);

		if (r < 0) {
			conn_failed(c, PQerrorMessage(c->pq));
			return;
		}
		c->flushing = r == 1;
	}
	while (!PQisBusy(c->pq)) {
		PGresult *r = PQgetResult(c->pq);

		if (!r) {
			command_done(c);
			return;
		}
		/* One statement gives one result; keep the last regardless. */
		PQclear(c->res);
		c->res = r;
	}
	if (PQstatus(c->pq) == CONNECTION_BAD) {
		conn_failed(c, PQerrorMessage(c->pq));
		return;
	}
	if (watch(c, UV_READABLE | (c->flushing ? UV_WRITABLE : 0)))
		conn_failed(c, "cannot watch the socket");
}

/* Idle: the server may close the session (shutdown, idle timeout). */
static void idle_step(struct conn *c)
{
	PGnotify *n;

	if (!PQconsumeInput(c->pq) || PQstatus(c->pq) == CONNECTION_BAD) {
		conn_failed(c, PQerrorMessage(c->pq));
		return;
	}
	while ((n = PQnotifies(c->pq)))
		PQfreemem(n);
	if (watch(c, UV_READABLE))
		conn_failed(c, "cannot watch the socket");
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct conn *c = h->data;

	if (h != c->poll || !c->pq || c->pg->closing)
		return;
	unwatch(c);
	/* An error on the socket: let libpq find it by reading and writing. */
	if (status < 0)
		events = UV_READABLE | UV_WRITABLE;
	switch (c->state) {
	case C_CONNECTING:
		connect_step(c);
		break;
	case C_BUSY:
		busy_step(c, events);
		break;
	case C_READY:
		idle_step(c);
		break;
	default:
		break;
	}
}

/* ---- conninfo ---- */

static bool needs_dns(const char *h)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (!h[0] || h[0] == '/' || h[0] == '@')
		return false; /* default, socket directory, abstract socket */
	return inet_pton(AF_INET, h, buf) != 1 && inet_pton(AF_INET6, h, buf) != 1;
}

/* libpq's own parse errors may quote the whole conninfo (password
 * included): keep only the text before the first quote. */
static void log_parse_error(const char *err)
{
	char msg[200];
	size_t n = 0;

	if (!err)
		err = "out of memory";
	while (err[n] && err[n] != '"' && err[n] != '\n' && n + 1 < sizeof(msg)) {
		msg[n] = err[n];
		n++;
	}
	while (n && (msg[n - 1] == ' ' || msg[n - 1] == ':'))
		n--;
	msg[n] = '\0';
	TP_LOG(TP_LOG_ERR, "msg=\"invalid PostgreSQL connection string\" error=%s", tp_log_q(msg));
}

static int add_kv(struct tp_pg *pg, size_t *n, const char *k, const char *v)
{
	char *kc = tp_strdup(k), *vc = v ? tp_strdup(v) : NULL;

	if (!kc || (v && !vc)) {
		tp_free(kc);
		tp_free(vc);
		return TP_ERR_NOMEM;
	}
	pg->kw[*n] = kc;
	pg->val[*n] = vc;
	(*n)++;
	return TP_OK;
}

static int split_hosts(struct tp_pg *pg, const char *list)
{
	size_t n = 1;
	const char *p = list;

	for (const char *s = list; *s; s++)
		n += *s == ',';
	pg->hosts = tp_calloc(n, sizeof(char *));
	pg->needs_dns = tp_calloc(n, sizeof(bool));
	if (!pg->hosts || !pg->needs_dns)
		return TP_ERR_NOMEM;
	pg->n_hosts = n;
	for (size_t i = 0; i < n; i++) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		pg->hosts[i] = tp_strndup(p, len);
		if (!pg->hosts[i])
			return TP_ERR_NOMEM;
		pg->needs_dns[i] = needs_dns(pg->hosts[i]);
		pg->resolve |= pg->needs_dns[i];
		p = end ? end + 1 : p + len;
	}
	return TP_OK;
}

static const char *opt_val(const PQconninfoOption *opts, const char *key)
{
	for (const PQconninfoOption *o = opts; o->keyword; o++)
		if (!strcmp(o->keyword, key))
			return o->val;
	return NULL;
}

static int parse_conninfo(struct tp_pg *pg, const char *conninfo)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	const char *host, *hostaddr;
	size_t n = 0, cap = 3;
	int rc = TP_ERR_NOMEM;

	if (!opts) {
		log_parse_error(err);
		PQfreemem(err);
		return TP_ERR_INVAL;
	}
	for (const PQconninfoOption *o = opts; o->keyword; o++)
		cap++;
	pg->kw = tp_calloc(cap, sizeof(char *));
	pg->val = tp_calloc(cap, sizeof(char *));
	if (!pg->kw || !pg->val)
		goto out;
	for (const PQconninfoOption *o = opts; o->keyword; o++)
		if (o->val && add_kv(pg, &n, o->keyword, o->val))
			goto out;
	host = opt_val(opts, "host");
	hostaddr = opt_val(opts, "hostaddr");
	/* libpq would take the host from the environment; resolve that too. */
	if (!host && (host = getenv("PGHOST")) && add_kv(pg, &n, "host", host))
		goto out;
	if (!hostaddr)
		hostaddr = getenv("PGHOSTADDR");
	if (!opt_val(opts, "application_name") &&
	    add_kv(pg, &n, "fallback_application_name", "tickpush"))
		goto out;
	pg->hostaddr_slot = -1;
	if (host && !(hostaddr && hostaddr[0])) {
		if (split_hosts(pg, host))
			goto out;
		if (pg->resolve) {
			if (add_kv(pg, &n, "hostaddr", NULL))
				goto out;
			pg->hostaddr_slot = (int)n - 1;
		}
	}
	/* A key=value log fragment: every value quoted and escaped. */
	snprintf(pg->target, sizeof(pg->target), "host=%s port=%s dbname=%s user=%s",
		 tp_log_q(host ? host : "(default)"),
		 tp_log_q(opt_val(opts, "port") ? opt_val(opts, "port") : "(default)"),
		 tp_log_q(opt_val(opts, "dbname") ? opt_val(opts, "dbname") : "(default)"),
		 tp_log_q(opt_val(opts, "user") ? opt_val(opts, "user") : "(default)"));
	rc = TP_OK;
out:
	PQconninfoFree(opts);
	return rc;
}

/* ---- pool lifetime ---- */

static void free_pool(struct tp_pg *pg)
{
	if (!pg)
		return;
	for (unsigned i = 0; pg->conns && i < pg->n_conns; i++) {
		struct conn *c = &pg->conns[i];

		tp_dict_destroy(c->prepared);
		for (size_t h = 0; c->addrs && h < pg->n_hosts; h++)
			tp_free(c->addrs[h]);
		tp_free(c->addrs);
	}
	tp_free(pg->conns);
	for (size_t i = 0; pg->kw && pg->kw[i]; i++) {
		tp_free(pg->kw[i]);
		tp_free(pg->val[i]);
	}
	tp_free(pg->kw);
	tp_free(pg->val);
	for (size_t i = 0; pg->hosts && i < pg->n_hosts; i++)
		tp_free(pg->hosts[i]);
	tp_free(pg->hosts);
	tp_free(pg->needs_dns);
	tp_free(pg);
}

static void maybe_free(struct tp_pg *pg)
{
	if (pg->closing && !pg->open_handles && !pg->pending_reqs)
		free_pool(pg);
}

static void handle_closed(uv_handle_t *h)
{
	struct tp_pg *pg = h->data;

	pg->open_handles--;
	maybe_free(pg);
}

static void poll_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct tp_pg *pg = c->pg;

	tp_free(h);
	pg->open_handles--;
	maybe_free(pg);
}

static void conn_timer_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct tp_pg *pg = c->pg;

	pg->open_handles--;
	maybe_free(pg);
}

struct tp_pg *tp_pg_create(uv_loop_t *loop, const struct tp_pg_opts *o)
{
	struct tp_pg *pg = tp_calloc(1, sizeof(*pg));
	bool enabled = o->conninfo && o->conninfo[0];
	int rc = TP_ERR_NOMEM;

	if (!pg)
		return NULL;
	pg->loop = loop;
	pg->o = *o;
	pg->o.conninfo = NULL;
	if (pg->o.pool_size < 1)
		pg->o.pool_size = 1;
	if (pg->o.query_timeout <= 0)
		pg->o.query_timeout = 5;
	if (pg->o.reconnect_max <= 0)
		pg->o.reconnect_max = 5;
	if (pg->o.max_queued < 0)
		pg->o.max_queued = 0;
	pg->hostaddr_slot = -1;
	snprintf(pg->target, sizeof(pg->target), "host=-");
	if (enabled) {
		/* Everything that can fail comes before the first uv handle, so
		 * failure frees synchronously. */
		if ((rc = parse_conninfo(pg, o->conninfo)))
			goto fail;
		rc = TP_ERR_NOMEM;
		pg->conns = tp_calloc((size_t)pg->o.pool_size, sizeof(*pg->conns));
		if (!pg->conns)
			goto fail;
		pg->n_conns = (unsigned)pg->o.pool_size;
		for (unsigned i = 0; i < pg->n_conns; i++) {
			struct conn *c = &pg->conns[i];

			c->pg = pg;
			c->id = i;
			c->poll_fd = -1;
			c->backoff = BACKOFF_START;
			c->prepared = tp_dict_create();
			c->addrs = tp_calloc(pg->n_hosts ? pg->n_hosts : 1, sizeof(char *));
			if (!c->prepared || !c->addrs)
				goto fail;
		}
	}
	uv_timer_init(loop, &pg->qtimer);
	pg->qtimer.data = pg;
	pg->open_handles++;
	for (unsigned i = 0; i < pg->n_conns; i++) {
		uv_timer_init(loop, &pg->conns[i].timer);
		pg->conns[i].timer.data = &pg->conns[i];
		pg->open_handles++;
	}
	if (!enabled)
		TP_LOG(TP_LOG_NOTICE, "msg=\"postgres disabled (no DATABASE_URI)\"");
	for (unsigned i = 0; i < pg->n_conns; i++)
		start_attempt(&pg->conns[i]);
	return pg;
fail:
	if (rc == TP_ERR_NOMEM)
		TP_LOG(TP_LOG_ERR, "msg=\"postgres pool: out of memory\"");
	free_pool(pg);
	return NULL;
}

void tp_pg_close(struct tp_pg *pg)
{
	struct query *running = NULL, *q;

	if (!pg || pg->closing)
		return;
	pg->closing = true;
	for (unsigned i = 0; i < pg->n_conns; i++) {
		struct conn *c = &pg->conns[i];

		q = disconnect(c);
		if (q) {
			q->next = running;
			running = q;
		}
		c->state = C_CLOSED;
		uv_close((uv_handle_t *)&c->timer, conn_timer_closed);
		/* Fails unless still queued; resolved() sees closing either way. */
		if (c->gai_pending)
			uv_cancel((uv_req_t *)&c->gai);
	}
	uv_close((uv_handle_t *)&pg->qtimer, handle_closed);
	while ((q = running)) {
		running = q->next;
		finish(pg, q, TP_ERR_CANCELLED, NULL);
	}
	while ((q = queue_pop(pg)))
		finish(pg, q, TP_ERR_CANCELLED, NULL);
}

int tp_pg_query(struct tp_pg *pg, const struct tp_pg_stmt *stmt,
		const char *const *params, tp_pg_cb *cb, void *ud)
{
	struct conn *c;
	struct query *q;

	if (!pg || !stmt || !stmt->name || !stmt->sql || stmt->nparams < 0 ||
	    (stmt->nparams > 0 && !params) || !cb)
		return TP_ERR_INVAL;
	if (pg->closing)
		return TP_ERR_CANCELLED;
	pg->st.queries++;
	if (!pg->up) {
		pg->st.errors++;
		return TP_ERR_UPSTREAM;
	}
	c = idle_conn(pg);
	if (!c && pg->n_queued >= (unsigned)pg->o.max_queued)
		return TP_ERR_LIMIT;
	q = query_new(stmt, params, cb, ud);
	if (!q)
		return TP_ERR_NOMEM;
	if (c) {
		dispatch(c, q);
		return TP_OK;
	}
	q->deadline = uv_now(pg->loop) + ms(pg->o.query_timeout);
	if (pg->qtail)
		pg->qtail->next = q;
	else
		pg->qhead = q;
	pg->qtail = q;
	pg->n_queued++;
	if (pg->qhead == q)
		queue_arm(pg);
	return TP_OK;
}

bool tp_pg_is_up(const struct tp_pg *pg)
{
	return pg && !pg->closing && pg->up > 0;
}

void tp_pg_get_stats(const struct tp_pg *pg, struct tp_pg_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!pg)
		return;
	*out = pg->st;
	out->connections_up = pg->up;
	out->queued = pg->n_queued;
	for (unsigned i = 0; i < pg->n_conns; i++)
		out->busy += pg->conns[i].state == C_BUSY;
}
