/*
 * redis_conn.h - one hiredis async connection that never gives up
 * (server/io/redis_conn.c).
 *
 * Resolves the host asynchronously (uv_getaddrinfo: no DNS on the loop),
 * connects with a timeout (hiredis 0.14 has none), sends AUTH/SELECT, then
 * reports "ready". On any loss it reports "lost" and reconnects with
 * exponential backoff and jitter, capped by redis_reconnect_max. The
 * redisAsyncContext is valid only between on_ready and on_lost: hiredis
 * frees it after its disconnect callback.
 */
#ifndef TICKPUSH_IO_REDIS_CONN_H
#define TICKPUSH_IO_REDIS_CONN_H

#include <stdbool.h>

#include <hiredis/async.h>
#include <uv.h>

#include "tickpush/config.h"

struct tp_redis_conn;

struct tp_redis_conn_ops {
	/* Connected, authenticated, database selected. */
	void (*on_ready)(struct tp_redis_conn *rc, redisAsyncContext *ac,
			 void *ud);
	/* The connection was lost (or a connect attempt failed after having
	 * been ready); commands in flight got their callbacks with NULL. */
	void (*on_lost)(struct tp_redis_conn *rc, const char *why, void *ud);
};

struct tp_redis_conn *tp_redis_conn_create(uv_loop_t *loop,
					   const struct tp_config *cfg,
					   const char *name,
					   const struct tp_redis_conn_ops *ops,
					   void *ud);
/* Starts connecting (idempotent). */
void tp_redis_conn_start(struct tp_redis_conn *rc);
/* Disconnects, stops retrying and frees rc once libuv has closed every
 * handle (the loop must keep running for that). NULL-safe. */
void tp_redis_conn_close(struct tp_redis_conn *rc);
/* The live context, or NULL when not ready. */
redisAsyncContext *tp_redis_conn_ctx(const struct tp_redis_conn *rc);
bool tp_redis_conn_is_ready(const struct tp_redis_conn *rc);
unsigned long tp_redis_conn_reconnects(const struct tp_redis_conn *rc);

#endif
