/*
 * ws.h - the WebSocket transport (server/io/ws.c): what the wiring calls.
 * http.c's lws protocol hands it the WebSocket reasons through the hooks
 * the wiring registers (io.h, struct tp_http_ops).
 */
#ifndef TICKPUSH_IO_WS_H
#define TICKPUSH_IO_WS_H

#include <stdbool.h>
#include <stddef.h>

struct lws;
struct tp_io;

int tp_ws_create(struct tp_io *srv);      /* srv->ws */
/* Sends close 1001 to every session (shutdown); returns how many remain. */
size_t tp_ws_close_all(struct tp_io *srv);
void tp_ws_destroy(struct tp_io *srv);    /* after lws is gone */
size_t tp_ws_count(const struct tp_io *srv);
/* Housekeeping, a round a second: token expiry (close 4001), keep-alive
 * pings and the idle timeout, dropping peers that do not take their close
 * frame. tp_ws_tick_start begins a round over every session (now: wall
 * time, for token expiry); tp_ws_tick_step visits the next max sessions
 * of it and returns whether any remain. Walking 10,000 sessions in one go
 * took 5 ms, a stall every second that events waited behind; in steps,
 * the loop serves I/O in between. */
void tp_ws_tick_start(struct tp_io *srv, double now);
bool tp_ws_tick_step(struct tp_io *srv, size_t max);
/* The lws callback for WebSocket reasons (tp_http_ops.ws_callback). slot
 * is the connection's per-session storage for our pointer. */
int tp_ws_callback(struct lws *wsi, int reason, void **slot, void *in,
		   size_t len);
/* Upgrade gate (LWS_CALLBACK_HTTP_CONFIRM_UPGRADE): path, Origin and token
 * checks; returns 0 to proceed, >0 when it answered with an error. */
int tp_ws_confirm_upgrade(struct lws *wsi);

#endif
