/*
 * reader.h - the WebSocket read path's I/O half (server/io/reader.c):
 * reads a connection's socket on the loop once lws has done the
 * handshake, and hands the bytes to the transport (ws.c feeds them to
 * the frame parser, tickpush/wsrx.h).
 *
 * Why: lws 4.1 parses client frames itself and accepts unmasked ones
 * (the mask bit is private to it), so RFC 6455's rules are checked by
 * our own parser on our own reads; this mirrors the write path
 * (writer.h), which writes to the same socket directly.
 *
 * How: the sockets we read are registered in one epoll instance of our
 * own, which the loop watches with one uv_poll (libuv allows one poll
 * handle per descriptor, and lws keeps its own on each socket for
 * POLLOUT). The switch happens in the first loop turn after ESTABLISHED,
 * from a uv_prepare (after lws's idle handler has run its parser over any
 * bytes it read past the handshake, before the loop next polls): lws's
 * reading is stopped (lws_rx_flow_control 0) and ours starts. Until then
 * lws reads, and the transport is told by tp_rconn_reading() that a frame
 * lws delivers came before the switch.
 *
 * Lifetimes: started from ESTABLISHED, closed from the transport's close
 * path (lws's CLOSED, before lws closes the socket): tp_rconn_close takes
 * the socket out of the epoll instance and detaches the callbacks at
 * once, so nothing calls the transport after it.
 */
#ifndef TICKPUSH_IO_READER_H
#define TICKPUSH_IO_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <uv.h>

struct lws;
struct tp_rconn;

/* Where the bytes come from: plaintext reads the socket with recv; the
 * TLS source (tls.c, tp_tls_read_source) decrypts with SSL_read on the
 * connection's SSL and also reports what it holds already decrypted
 * (pending), which the socket's readiness does not show: drained after
 * each read and at the switch. read returns bytes (> 0), 0 at the end of
 * the stream, or -1 with errno (EAGAIN: nothing now). */
struct tp_rconn_source {
	ssize_t (*read)(void *ctx, int fd, void *buf, size_t len);
	size_t (*pending)(void *ctx); /* NULL: nothing is ever held */
	void *ctx;
};

/* The transport's side: bytes that arrived (valid during the call), the
 * end of the stream (err 0: the peer closed; else an errno; nothing more
 * is read after it), and the moment of the switch (optional: a transport
 * that finds lws inside a frame then calls tp_rconn_stop, and lws keeps
 * reading). */
struct tp_rconn_sink {
	void (*on_data)(void *ud, const unsigned char *buf, size_t len);
	void (*on_end)(void *ud, int err);
	void (*on_switch)(void *ud);
	void *ud;
};

/* From ESTABLISHED of a connection lws may stop reading. source NULL:
 * plaintext recv. NULL when out of memory, or without an epoll instance
 * (ws.c then refuses the session: its frames would go unchecked). */
struct tp_rconn *tp_rconn_start(uv_loop_t *loop, struct lws *wsi,
				const struct tp_rconn_source *source,
				const struct tp_rconn_sink *sink);
/* The switch was made: the bytes are ours (lws delivers none). */
bool tp_rconn_reading(const struct tp_rconn *r);
/* Stops reading for good (the session is closing: the peer's close or a
 * protocol error); the socket's readiness no longer wakes the loop. */
void tp_rconn_stop(struct tp_rconn *r);
/* Detaches and frees (see Lifetimes). NULL-safe. */
void tp_rconn_close(struct tp_rconn *r);

#endif
