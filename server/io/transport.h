/*
 * transport.h - the push hub's one transport operation (transport.c) and
 * the header every transport connection starts with.
 *
 * The hub (core/push.c) holds a transport connection as an opaque
 * pointer and hands it each frame through tp_stream_send; the connection
 * itself says how to encode it: a WebSocket text frame (ws.c), an SSE
 * event (sse.c) or a long-poll batch (longpoll.c). No transport names another.
 */
#ifndef TICKPUSH_IO_TRANSPORT_H
#define TICKPUSH_IO_TRANSPORT_H

struct tp_push_frame;

struct tp_stream_conn {
	/* The transport's encoder: TP_OK, or an error the hub acts on (a
	 * full queue: the slow consumer is dropped). */
	int (*send)(struct tp_stream_conn *c, const struct tp_push_frame *f);
};

/* tp_push_transport_ops.send (the wiring installs it): transport is a
 * struct tp_stream_conn. */
int tp_stream_send(void *transport, const struct tp_push_frame *f);

#endif
