/*
 * redis_conn.h - one hiredis async connection that never gives up
 * (server/io/redis_conn.c).
 *
 * Resolves the host asynchronously (uv_getaddrinfo: no DNS on the loop),
 * connects with a timeout (hiredis 0.14 has none), sends AUTH/SELECT, then
 * reports "ready". While ready it watches the connection: one that has
 * received nothing for redis_ping_timeout (a PING goes out after
 * redis_ping_interval of silence) is declared down. On any loss it reports
 * "lost" and reconnects with exponential backoff and jitter, capped by
 * redis_reconnect_max. The redisAsyncContext is valid only between
 * on_ready and on_lost: hiredis frees it after its disconnect callback.
 */
#ifndef TICKPUSH_IO_REDIS_CONN_H
#define TICKPUSH_IO_REDIS_CONN_H

#include <stdbool.h>

#include <hiredis/async.h>
#include <uv.h>

#include "tickpush/config.h"

struct tp_redis_conn;

/* Why a ready connection was lost. */
enum tp_redis_loss {
	TP_REDIS_LOSS_ERROR,  /* closed by Redis, a socket error, a refusal */
	TP_REDIS_LOSS_SILENT, /* nothing received for redis_ping_timeout */
	TP_REDIS_LOSS_CLOSED, /* tp_redis_conn_close */
};

/* Called on the loop thread. */
struct tp_redis_conn_ops {
	/* Connected, authenticated, database selected. */
	void (*on_ready)(struct tp_redis_conn *rc, redisAsyncContext *ac,
			 void *ud);
	/* The ready connection was lost; every command in flight has already
	 * had its callback, with a NULL reply. why is for logs. */
	void (*on_lost)(struct tp_redis_conn *rc, enum tp_redis_loss loss,
			const char *why, void *ud);
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
