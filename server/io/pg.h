/*
 * pg.h - PostgreSQL on the event loop (server/io/pg.c).
 *
 * A small pool of non-blocking libpq connections driven by uv_poll on
 * PQsocket. Never blocks the loop: connections start with
 * PQconnectStartParams + PQconnectPoll (a host name is resolved first with
 * uv_getaddrinfo and passed as hostaddr), queries go out with
 * PQsendQueryPrepared + PQflush, results are read with PQconsumeInput /
 * PQisBusy / PQgetResult. Only prepared statements are used: each
 * connection prepares a statement the first time it runs it. No SQL is
 * ever built from strings; parameters are passed as text values.
 *
 * Every query's callback runs exactly once, on the loop thread, with a
 * status: TP_OK (res is the result), TP_ERR_UPSTREAM (database unreachable
 * or the query failed: res may carry the error), TP_ERR_TIMEOUT (the query
 * ran longer than the configured timeout: its connection is closed and
 * replaced, because PQcancel blocks), TP_ERR_LIMIT (too many queries
 * waiting), or TP_ERR_CANCELLED (tp_pg_close). If tp_pg_query returns an
 * error, the callback never runs. res is valid only during the callback
 * (pg.c PQclears it afterwards): copy what you keep.
 *
 * Lost connections reconnect with exponential backoff; while none is up,
 * queries fail at once with TP_ERR_UPSTREAM (they do not wait), so a
 * database outage never delays a request.
 *
 * Synchronous errors: tp_pg_query returns TP_ERR_UPSTREAM when no
 * connection is up (or the pool is disabled), TP_ERR_LIMIT when every
 * connection is busy and max_queued queries already wait, TP_ERR_CANCELLED
 * after tp_pg_close, TP_ERR_INVAL / TP_ERR_NOMEM; the callback then never
 * runs. A callback never runs inside tp_pg_query itself (a failure to send
 * is reported from the loop), but callbacks may call tp_pg_query and
 * tp_pg_close. A query waits for a free connection at most query_timeout
 * seconds (then TP_ERR_TIMEOUT, no connection is dropped) and runs at most
 * query_timeout seconds once sent, so a callback comes within twice the
 * timeout.
 *
 * conninfo "" gives a disabled pool: never up, every query gets
 * TP_ERR_UPSTREAM. Passwords in conninfo never appear in logs.
 */
#ifndef TICKPUSH_IO_PG_H
#define TICKPUSH_IO_PG_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <uv.h>

/* A statement: define it static const next to the code that uses it. The
 * name must be unique per SQL text across the process. */
struct tp_pg_stmt {
	const char *name;
	const char *sql;
	int nparams;
};

struct tp_pg_opts {
	const char *conninfo;     /* URI or key=value; "" = disabled */
	int pool_size;            /* connections, >= 1 */
	double query_timeout;     /* seconds */
	double reconnect_max;     /* backoff cap, seconds */
	int max_queued;           /* queries waiting for a connection */
	/* Optional: called on the loop thread when the pool goes from no
	 * connection up to one up (up = true) and back (false); never from
	 * tp_pg_create or tp_pg_close. May call tp_pg_query / tp_pg_close. */
	void (*on_state)(bool up, void *ud);
	void *state_ud;
};

struct tp_pg;

typedef void tp_pg_cb(int status, const PGresult *res, void *ud);

/* Creates the pool and starts connecting. Returns NULL on allocation
 * failure or an unparseable conninfo (logged). */
struct tp_pg *tp_pg_create(uv_loop_t *loop, const struct tp_pg_opts *o);
/* Fails every queued and running query with TP_ERR_CANCELLED, closes the
 * connections, and frees the pool once libuv closed its handles (the loop
 * must keep running). NULL-safe. */
void tp_pg_close(struct tp_pg *pg);

/* Queues stmt with params (text values; NULL = SQL NULL). */
int tp_pg_query(struct tp_pg *pg, const struct tp_pg_stmt *stmt,
		const char *const *params, tp_pg_cb *cb, void *ud);

/* At least one connection is up. */
bool tp_pg_is_up(const struct tp_pg *pg);
/* Counters for /metrics and health. */
struct tp_pg_stats {
	uint64_t queries, errors, timeouts, reconnects;
	unsigned connections_up, busy, queued;
	double last_error_time;
};
void tp_pg_get_stats(const struct tp_pg *pg, struct tp_pg_stats *out);

#endif
