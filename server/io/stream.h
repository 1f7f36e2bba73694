/*
 * stream.h - the push transports (server/io/ws.c, server/io/sse.c) and the
 * glue that connects them to the push hub.
 *
 * Every transport connection starts with struct tp_stream_conn, so the
 * hub's single send operation (tp_push_transport_ops.send) can hand a
 * frame to the right encoder: a WebSocket text frame, an SSE event, or a
 * long-poll batch.
 */
#ifndef TICKPUSH_IO_STREAM_H
#define TICKPUSH_IO_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"
#include "tickpush/push.h"

struct lws;

enum tp_stream_kind {
	TP_STREAM_WS = 1,
	TP_STREAM_SSE,
	TP_STREAM_POLL,
};

struct tp_stream_conn {
	enum tp_stream_kind kind;
};

/* The hub's transport operation (server.c installs it). */
int tp_stream_send(void *transport, const struct tp_push_frame *f);

/* ---- WebSocket (ws.c) ---- */
int tp_ws_create(struct tp_server *srv);      /* srv->ws */
/* Sends close 1001 to every session (shutdown); returns how many remain. */
size_t tp_ws_close_all(struct tp_server *srv);
void tp_ws_destroy(struct tp_server *srv);    /* after lws is gone */
size_t tp_ws_count(const struct tp_server *srv);
/* 1 Hz housekeeping: token expiry (close 4001), keep-alive pings and the
 * idle timeout, dropping peers that do not take their close frame. */
void tp_ws_tick(struct tp_server *srv, double now);
/* The lws callback for WebSocket reasons (http.c forwards them). slot is
 * the connection's per-session storage for our pointer. */
int tp_ws_callback(struct lws *wsi, int reason, void **slot, void *in,
		   size_t len);
/* Upgrade gate (LWS_CALLBACK_HTTP_CONFIRM_UPGRADE): path, Origin and token
 * checks; returns 0 to proceed, >0 when it answered with an error. */
int tp_ws_confirm_upgrade(struct lws *wsi);
int tp_ws_frame_enqueue(struct tp_stream_conn *c, const struct tp_push_frame *f);

/* ---- SSE and long-poll (sse.c) ---- */
int tp_sse_frame_enqueue(struct tp_stream_conn *c, const struct tp_push_frame *f);
int tp_poll_frame_collect(struct tp_stream_conn *c, const struct tp_push_frame *f);

#endif
