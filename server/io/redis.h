/*
 * redis.h - the two Redis clients of the server (server/io/redis_sub.c,
 * server/io/redis_cache.c). Both run on the server's loop through
 * redis_conn and survive any Redis outage.
 */
#ifndef TICKPUSH_IO_REDIS_H
#define TICKPUSH_IO_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/async.h>
#include <uv.h>

#include "tickpush/config.h"
#include "tickpush/ingest.h"
#include "tickpush/patterns.h" /* enum tp_removal */

struct tp_cluster;

/* Pub/sub consumer: SUBSCRIBEs to the four channels of events.md on a
 * dedicated connection and feeds every message to tp_ingest_message, or
 * with a cluster (cluster = redis, else NULL) proposes it to the shared
 * stream. cfg is read at creation only. */
struct tp_redis_sub *tp_redis_sub_create(uv_loop_t *loop,
					  const struct tp_config *cfg,
					  struct tp_ingest *ingest,
					  struct tp_cluster *cluster);
void tp_redis_sub_close(struct tp_redis_sub *sub); /* NULL-safe */
bool tp_redis_sub_is_subscribed(const struct tp_redis_sub *sub);
unsigned long tp_redis_sub_reconnects(const struct tp_redis_sub *sub);
double tp_redis_sub_last_message(const struct tp_redis_sub *sub);

/* Cache client on a second connection: write-through of the pattern store
 * to the original Redis cache layout (pipelined, TTL from expires_at), the
 * warm start that reads that layout back at startup, and the producer
 * heartbeat check. */
struct tp_redis_cache_deps {
	uv_loop_t *loop;
	/* The wiring's slot for the configuration in force (a reload
	 * replaces it): read on each use. */
	const struct tp_config *const *cfg;
	struct tp_ingest *ingest;
	/* The producer went online or offline (the heartbeat): the wiring
	 * tells "health" subscribers. */
	void (*producer_changed)(void *ud, bool online, double last_heartbeat);
	void *ud;
};
struct tp_redis_cache *tp_redis_cache_create(const struct tp_redis_cache_deps *d);
void tp_redis_cache_close(struct tp_redis_cache *rc); /* NULL-safe */
void tp_redis_cache_on_upsert(struct tp_redis_cache *rc,
			      const struct tp_pattern *p);
void tp_redis_cache_on_remove(struct tp_redis_cache *rc,
			      const struct tp_pattern *p, enum tp_removal why);
bool tp_redis_cache_is_connected(const struct tp_redis_cache *rc);
/* True once the warm start finished (or is disabled / impossible). */
bool tp_redis_cache_warm_done(const struct tp_redis_cache *rc);
size_t tp_redis_cache_warm_loaded(const struct tp_redis_cache *rc);
/* Write-through commands sent but not yet answered; back to 0 as soon as
 * the connection is lost or declared down (their callbacks have run). */
size_t tp_redis_cache_pending(const struct tp_redis_cache *rc);

/* Sends one command on the cache connection for another module (the
 * backtest registry). cb (may be NULL) is called exactly once with the
 * reply, or with NULL if the connection is lost first. TP_OK, or
 * TP_ERR_UPSTREAM when not connected or hiredis refused the command (then
 * cb is never called). Not counted as write-through. */
int tp_redis_cache_command(struct tp_redis_cache *rc, redisCallbackFn *cb,
			   void *ud, int argc, const char **argv,
			   const size_t *argvlen);

/* Producer heartbeat (events.md): online when now - value < 60 s.
 * *last receives the heartbeat value (0 when never seen). */
bool tp_redis_cache_producer_online(const struct tp_redis_cache *rc,
				    double *last);

#endif
