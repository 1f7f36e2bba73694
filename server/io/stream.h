/*
 * stream.h - the push transports (server/io/ws.c, sse.c, poll.c) and the
 * glue that connects them to the push hub (stream.c).
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

#include "http.h"
#include "presets.h"
#include "io.h"
#include "tickpush/push.h"
#include "tickpush/streamparams.h"

struct lws;

enum tp_stream_kind {
	TP_STREAM_WS = 1,
	TP_STREAM_SSE,
	TP_STREAM_POLL,
};

struct tp_stream_conn {
	enum tp_stream_kind kind;
};

/* The hub's transport operation (stream.c; server.c installs it). */
int tp_stream_send(void *transport, const struct tp_push_frame *f);

/* An SSE or long-poll request between its handler and its start: the
 * account check, then the preset resolution (both may wait). */
struct tp_stream_pending {
	struct tp_io *srv;
	uint64_t ticket;
	struct tp_stream_params sp;
	long long user;                   /* the token's user, 0 = anonymous */
	tp_preset_resolved_cb *resolved;  /* the transport's start */
};

/* Validates the query and token (400/401 into resp), defers the request,
 * confirms the token's account, resolves any preset, then calls resolved
 * with the pending request, which it must free (tp_stream_pending_free). */
void tp_stream_request(const struct tp_http_req *req, struct tp_http_resp *resp,
		       bool sse, tp_preset_resolved_cb *resolved);
void tp_stream_pending_free(struct tp_stream_pending *p);

/* ---- WebSocket (ws.c) ---- */
int tp_ws_create(struct tp_io *srv);      /* srv->ws */
/* Sends close 1001 to every session (shutdown); returns how many remain. */
size_t tp_ws_close_all(struct tp_io *srv);
void tp_ws_destroy(struct tp_io *srv);    /* after lws is gone */
size_t tp_ws_count(const struct tp_io *srv);
/* 1 Hz housekeeping: token expiry (close 4001), keep-alive pings and the
 * idle timeout, dropping peers that do not take their close frame. */
void tp_ws_tick(struct tp_io *srv, double now);
/* The lws callback for WebSocket reasons (http.c forwards them). slot is
 * the connection's per-session storage for our pointer. */
int tp_ws_callback(struct lws *wsi, int reason, void **slot, void *in,
		   size_t len);
/* Upgrade gate (LWS_CALLBACK_HTTP_CONFIRM_UPGRADE): path, Origin and token
 * checks; returns 0 to proceed, >0 when it answered with an error. */
int tp_ws_confirm_upgrade(struct lws *wsi);
int tp_ws_frame_enqueue(struct tp_stream_conn *c, const struct tp_push_frame *f);

/* ---- SSE (sse.c) and long-poll (poll.c) ---- */
int tp_sse_frame_enqueue(struct tp_stream_conn *c, const struct tp_push_frame *f);
int tp_poll_frame_collect(struct tp_stream_conn *c, const struct tp_push_frame *f);
/* Answers every waiting long-poll now (shutdown). */
void tp_poll_answer_all(struct tp_io *srv);

#endif
