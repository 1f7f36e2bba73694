/*
 * writer.h - the push write path's I/O half (server/io/writer.c): puts a
 * connection's queued frames (tickpush/outq.h) on its socket.
 *
 * Used by the WebSocket and SSE transports; each of their connections
 * embeds a struct tp_wconn. Frames queued during a loop turn are written
 * before the loop next waits for I/O (a uv_prepare handle), several per
 * writev, straight to the socket; lws is asked for WRITEABLE only when the
 * kernel refused bytes, and then the connection's WRITEABLE callback calls
 * tp_wconn_writeable to go on. A write that ends inside a frame hands the
 * rest of that frame to lws (lws_write raw), which sends its buffered
 * bytes before anything else, its own control frames (pong, close echo)
 * included: a frame is never split. With a write window (delay_ms > 0,
 * ws_write_delay_ms) frames that are not urgent wait up to that long so
 * that more of them share a write.
 *
 * Lifetimes: a tp_wconn is initialised when its connection is created
 * and cleaned up from the transport's close path; cleanup drops whatever
 * is still queued. The writer outlives every connection (created before
 * lws, destroyed after it); tp_writer_close closes its loop handles.
 */
#ifndef TICKPUSH_IO_WRITER_H
#define TICKPUSH_IO_WRITER_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "tickpush/outq.h"

struct lws;
struct tp_writer;

enum tp_wconn_list { TP_WL_NONE = 0, TP_WL_NOW, TP_WL_LATER };

struct tp_wconn {
	struct tp_outq q;
	struct tp_writer *w;
	struct lws *wsi;            /* NULL until attached */
	int fd;                     /* the socket, once attached */
	int lws_protocol;           /* lws_write type for a frame's rest */
	enum tp_wconn_list list;    /* which flush list it is on */
	struct tp_wconn *prev, *next;
	bool asked;                 /* WRITEABLE requested, not yet seen */
	bool failed;                /* a write failed: the peer is gone */
	bool tls;                   /* written through lws_write (writer.c) */
	bool lws_silent;            /* lws reads nothing here, so writes nothing of its own */
	bool lws_empty;             /* ... and holds nothing: checked since our last hand-off */
};

/* delay_ms: the write window (0 = write in the same loop turn). */
struct tp_writer *tp_writer_create(uv_loop_t *loop, unsigned delay_ms);
/* Closes the loop handles (shutdown); the loop then finishes closing. */
void tp_writer_close(struct tp_writer *w);
/* After the loop closed the handles and every connection is gone.
 * NULL-safe. */
void tp_writer_destroy(struct tp_writer *w);
/* Bytes queued on all connections. */
size_t tp_writer_queued(const struct tp_writer *w);
/* Once a second: returns spare frame nodes to the allocator. */
void tp_writer_tick(struct tp_writer *w);

void tp_wconn_init(struct tp_wconn *c, struct tp_writer *w);
/* The connection's socket is ready for its frames (WebSocket: from
 * ESTABLISHED; SSE: once the response headers are written).
 * lws_protocol is the lws_write type that writes raw bytes on it
 * (LWS_WRITE_RAW / LWS_WRITE_HTTP, the same value). TP_OK (TLS
 * connections are written through lws, writer.c). */
int tp_wconn_attach(struct tp_wconn *c, struct lws *wsi, int lws_protocol);
/* Drops the queue and leaves the flush lists; returns the bytes dropped. */
size_t tp_wconn_cleanup(struct tp_wconn *c);

/* Queue a data / control frame (outq.h). urgent: write it in this loop
 * turn even when a write window is configured (replies to the client's
 * own requests, control frames). TP_OK or the outq error. */
int tp_wconn_push(struct tp_wconn *c, const struct tp_outq_parts *p,
		  bool urgent);
int tp_wconn_push_control(struct tp_wconn *c, const struct tp_outq_parts *p);
/* Queue a data frame that is frame's bytes alone, shared with other
 * connections (tp_outq_push_shared). */
int tp_wconn_push_shared(struct tp_wconn *c, struct tp_shbuf *frame,
			 bool urgent);
/* Drops the frames that have not started (outq.h); returns the bytes. */
size_t tp_wconn_drop_unstarted(struct tp_wconn *c);
/* Write now rather than at the end of the loop turn. */
void tp_wconn_flush(struct tp_wconn *c);
/* Asks lws for the connection's WRITEABLE (once until it comes). */
void tp_wconn_want_writeable(struct tp_wconn *c);

/* Our reader took the socket over (plain connections: reader.h): lws no
 * longer reads it, so it sends no pong or close echo of its own, and once
 * seen empty it holds nothing until we hand it bytes. The writer then
 * stops asking lws before each write (a cold cache line per frame).
 * false when our reading ends (lws may act again). */
void tp_wconn_lws_silent(struct tp_wconn *c, bool silent);
/* From the connection's WRITEABLE callback: writes what it can; returns
 * the bytes written. The socket had been full, so bytes written now mean
 * the peer is reading (a keep-alive may count that as a sign of life). */
size_t tp_wconn_writeable(struct tp_wconn *c);

/* Nothing of ours is waiting: every frame is in the kernel or with lws
 * (lws sends its buffered bytes before the next WRITEABLE). */
static inline bool tp_wconn_idle(const struct tp_wconn *c)
{
	return tp_outq_empty(&c->q);
}

#endif
