/*
 * sse.h - what the HTTP layer and the wiring call on an SSE stream
 * (server/io/sse.c). http.c owns the connection: once a stream has
 * started (tp_http_stream_start) it attaches the wsi, asks for bytes on
 * WRITEABLE and reports the close; server.c runs the 1 Hz tick.
 */
#ifndef TICKPUSH_IO_SSE_H
#define TICKPUSH_IO_SSE_H

struct lws;
struct tp_server;

int tp_sse_writeable(void *conn, struct lws *wsi);
void tp_sse_attach(void *conn, struct lws *wsi);
void tp_sse_closed(void *conn);
/* Keep-alive comments, deleted accounts (an "error" event, then the end). */
void tp_sse_tick(struct tp_server *srv, double mono_now);

#endif
