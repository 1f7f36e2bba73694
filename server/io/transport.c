/*
 * transport.c - tp_stream_send, the one transport operation the push hub
 * calls for every kind of connection: it hands the frame to the
 * connection's own encoder (transport.h), so a WebSocket frame does not
 * pass through the SSE or long-poll code, nor they through each other.
 */
#include "transport.h"

int tp_stream_send(void *transport, const struct tp_push_frame *f)
{
	struct tp_stream_conn *c = transport;

	return c->send(c, f);
}
