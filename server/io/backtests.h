/*
 * backtests.h - the backtest job registry (server/io/backtests.c): who owns
 * which job, what they asked for, and the Redis side of a job's life
 * (owner records, the job and cancel messages to the producer).
 *
 * The push hub asks tp_backtests_owner(job_id) for every backtest event so
 * progress and results reach only the job's owner; the REST handlers
 * (api_backtests.c) submit, list, look up and cancel jobs through it.
 *
 * Redis layout, P = the channel prefix ("tickstock"), TTL 7 days:
 *   P:backtest:owner:<job_id>  STRING <user_id>
 *   P:backtest:job:<job_id>    STRING {"user_id","submitted_at","request":{...}}
 * Channels: P.jobs.backtest (jobs), P.jobs.cancel (cancellations).
 */
#ifndef TICKPUSH_IO_BACKTESTS_H
#define TICKPUSH_IO_BACKTESTS_H

#include <stdbool.h>
#include <stddef.h>

#include "tickpush/event.h"
#include "tickpush/jobs.h"

struct tp_io;

#define TP_BACKTEST_TTL TP_JOBS_TTL             /* owner records live a week */
#define TP_BACKTESTS_PER_USER TP_JOBS_PER_USER  /* jobs remembered per user */

struct tp_backtests;

/* One job: struct tp_backtest_job (jobs.h), in the ingest's job table.
 * Borrowed: valid until the next call that changes the table (the loop
 * runs). */

/* Creates the registry and starts loading the owner records from Redis
 * as soon as the cache connection is up (SCAN, never KEYS). Needs
 * srv->rcache. NULL on out of memory. */
struct tp_backtests *tp_backtests_create(struct tp_io *srv);
/* Stops loading, fails parked waiters, and frees the registry once every
 * Redis reply it waits for has come back (the loop must keep running).
 * NULL-safe. */
void tp_backtests_close(struct tp_backtests *bt);

/* True once the owner records were loaded from Redis. */
bool tp_backtests_loaded(const struct tp_backtests *bt);

/* The owning user of a confirmed or in-flight job, 0 = unknown. */
long long tp_backtests_owner(const struct tp_backtests *bt, const char *job_id);
/* For the ingest's backtest hook: the owner of ev's job (0 = unknown, then
 * counted in backtest_events_unknown_job). */
long long tp_backtests_on_event(struct tp_backtests *bt,
				const struct tp_event *ev);

/* A confirmed, unexpired job, or NULL. */
const struct tp_backtest_job *tp_backtests_get(struct tp_backtests *bt,
					       const char *job_id, double now);
/* The user's confirmed jobs, most recent first, into *out (tp_malloc'd
 * array of borrowed pointers, tp_free it; NULL when none). Returns the
 * count, or (size_t)-1 on out of memory. */
size_t tp_backtests_list(struct tp_backtests *bt, long long user_id,
			 double now, const struct tp_backtest_job ***out);

/*
 * Async operations on the cache connection. Each returns TP_OK when the
 * callback will be called (exactly once, later, on the loop), TP_ERR_UPSTREAM when
 * Redis is not connected, TP_ERR_LIMIT when the user (or the registry) has
 * too many jobs, TP_ERR_NOMEM. The callback gets the job id it was about
 * (status TP_OK) or an error: TP_ERR_UPSTREAM (Redis failed or went away),
 * TP_ERR_NOTFOUND (fetch: no such job), TP_ERR_CANCELLED (registry closed).
 * job is borrowed for the call and NULL unless status is TP_OK.
 */
typedef void tp_backtests_cb(int status, const struct tp_backtest_job *job,
			     long long receivers, void *ud);

/* Submits a job: generates its id, records the owner (in process at once,
 * in Redis with the request) and publishes the job message, all in one
 * MULTI/EXEC. request_json is the validated request object (copied). On
 * failure nothing stays recorded. receivers = subscribers that got it. */
int tp_backtests_submit(struct tp_backtests *bt, long long user_id,
			const char *request_json, double now,
			tp_backtests_cb *cb, void *ud);
/* Reads a job this process does not know from Redis (another instance
 * recorded it, or the startup load has not finished) and adopts it. */
int tp_backtests_fetch(struct tp_backtests *bt, const char *job_id,
		       tp_backtests_cb *cb, void *ud);
/* Cluster mode: another instance submitted job_id for user_id; job_json is
 * its job key value ({"user_id","submitted_at","request"}). Adopted like
 * a job read from Redis (what is known already wins). */
void tp_backtests_learn(struct tp_backtests *bt, const char *job_id,
			long long user_id, const char *job_json, size_t len);
/* Publishes a cancellation for a known job and marks it cancel_requested. */
int tp_backtests_cancel(struct tp_backtests *bt, const char *job_id,
			tp_backtests_cb *cb, void *ud);
/* Calls cb (job NULL) once the startup load has finished (TP_OK), failed
 * for now (TP_ERR_UPSTREAM), or after 3 s at most (TP_ERR_TIMEOUT).
 * TP_ERR_EXISTS when there is nothing to wait for (already loaded, or Redis
 * down so no load is running); TP_ERR_LIMIT when too many wait already. */
int tp_backtests_when_loaded(struct tp_backtests *bt, tp_backtests_cb *cb,
			     void *ud);

/* Statistics: records in the job table (owned jobs, and the state of
 * jobs only seen in events). */
size_t tp_backtests_count(const struct tp_backtests *bt);

#endif
