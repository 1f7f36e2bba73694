/*
 * stream.h - the start of an SSE or long-poll request (server/io/stream.c),
 * what the two HTTP push fallbacks (sse.c, longpoll.c) share: the query, the
 * token's account, the preset. The transports themselves are ws.h,
 * sse.h, longpoll.h; their common header and the hub's send, transport.h.
 */
#ifndef TICKPUSH_IO_STREAM_H
#define TICKPUSH_IO_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "presets.h"
#include "tickpush/streamparams.h"

struct tp_io;

/* An SSE or long-poll request between its handler and its start: the
 * account check, then the preset resolution (both may wait). */
struct tp_stream_pending {
	struct tp_io *srv;
	uint64_t ticket;
	struct tp_stream_params sp;
	long long user;                   /* the token's user, 0 = anonymous */
	tp_presets_resolved_cb *resolved;  /* the transport's start */
};

/* Validates the query and token (400/401 into resp), defers the request,
 * confirms the token's account, resolves any preset, then calls resolved
 * with the pending request, which it must free (tp_stream_pending_free). */
void tp_stream_request(const struct tp_http_req *req, struct tp_http_resp *resp,
		       bool sse, tp_presets_resolved_cb *resolved);
void tp_stream_pending_free(struct tp_stream_pending *p);

#endif
