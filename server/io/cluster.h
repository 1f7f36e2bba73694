/*
 * cluster.h - one stream position for many instances (server/io/cluster.c,
 * docs/adr/0003-cluster-position.md). Only with `cluster = redis`.
 *
 * Every instance proposes what it consumes from pub/sub (and its expiry
 * sweeps, and user changes) for the shared Redis Stream; a Lua script
 * appends each proposal once (leaderless: a SET NX dedup key), and every
 * instance applies the stream in order, so an event has the same
 * (epoch, seq) everywhere and the stream is the shared resume history.
 */
#ifndef TICKPUSH_IO_CLUSTER_H
#define TICKPUSH_IO_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "tickpush/config.h"
#include "tickpush/event.h" /* enum tp_channel */
#include "tickpush/ingest.h"

struct tp_cluster;
struct tp_push;
struct tp_ratelimit;

/* What the cluster works on, from the wiring. */
struct tp_cluster_deps {
	uv_loop_t *loop;
	/* The wiring's slot for the configuration in force (a reload
	 * replaces it): read on each use. */
	const struct tp_config *const *cfg;
	struct tp_ingest *ingest;       /* where stream entries are applied */
	struct tp_push *push;           /* told of a new epoch and of lost entries */
	char *epoch;                    /* the server's epoch: the stream's replaces it */
	size_t epoch_size;
	struct tp_ratelimit *account_limit; /* failed logins per account (accounts.c) */
	/* Hooks for other instances' entries: user changed a preset or
	 * watchlist (re-resolve what that user's subscriptions follow); a
	 * backtest job was submitted (learn its owner). */
	void (*user_changed)(void *ud, long long user);
	void (*job_learned)(void *ud, const char *job_id, long long user,
			    const char *job_json, size_t len);
	void *ud;
};

/* Starts the two connections (append, read). NULL when out of memory. */
struct tp_cluster *tp_cluster_create(const struct tp_cluster_deps *d);
/* Stops reading and appending; what is still queued is dropped (the
 * other instances append it). NULL-safe. */
void tp_cluster_close(struct tp_cluster *cl);

/* A pub/sub message of channel ch (redis_sub.c), instead of ingesting it. */
void tp_cluster_propose_event(struct tp_cluster *cl, enum tp_channel ch,
			      const char *payload, size_t len);
/* The expiry sweep in cluster mode: proposes "expire everything due by
 * now" when something is due (server.c, once a second). */
void tp_cluster_sweep(struct tp_cluster *cl, double now);
/* A preset or watchlist of user changed here: the other instances
 * re-resolve that user's followed presets (api_users.c). */
void tp_cluster_user_changed(struct tp_cluster *cl, long long user);

/* A login for account (lower-cased name) failed here: every other
 * instance takes the same token from its own per-account bucket, so the
 * failed-login limit per account holds across instances (api_auth.c). */
void tp_cluster_login_failed(struct tp_cluster *cl, const char *account);

/* A backtest job was submitted here: the other instances learn its owner
 * (backtests.c). job_json is the job key's value. */
void tp_cluster_job(struct tp_cluster *cl, const char *job_id,
		    long long user, const char *job_json);

/* A token bucket shared by every instance (the login limit per address):
 * key under kind, rate per second, burst. cb gets allowed (true also
 * when Redis failed: the local limit still holds) and the seconds to
 * wait; called exactly once, later. TP_OK, or TP_ERR_UPSTREAM when not
 * connected (cb never called: decide locally). */
typedef void tp_cluster_allow_cb(bool allowed, double wait, void *ud);
int tp_cluster_allow(struct tp_cluster *cl, const char *kind, const char *key,
		     double rate, int burst, tp_cluster_allow_cb *cb, void *ud);

/* True once the reader has applied everything the stream held when it
 * connected (readiness). */
bool tp_cluster_caught_up(const struct tp_cluster *cl);

#endif
