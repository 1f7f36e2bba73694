/*
 * sharedframe.h - one event frame, framed whole once for every connection
 * that sends the same bytes (server/core/sharedframe.c).
 *
 * The push hub hands one event to its sessions one after the other, with
 * the same shared tail (shbuf.h); sessions matched by the same
 * subscription id get the same head, and a transport's framing before it
 * (the WebSocket header, SSE's id:/event:/data: lines) is the same for
 * all of them. tp_sharedframe_get remembers the last frame asked for and,
 * from the second time the same bytes are asked for in a row, returns
 * them as one shbuf (pre, head, tail, suffix back to back) for
 * tp_outq_push_shared: no copy and no queue node per session and frame.
 * The first sight of a frame costs a compare and a copy of its pre and
 * head here. The tail reference held keeps its address from being reused
 * by a later event while it is compared. Single-threaded.
 */
#ifndef TICKPUSH_SHAREDFRAME_H
#define TICKPUSH_SHAREDFRAME_H

#include <stddef.h>

#include "tickpush/shbuf.h"

/* pre + head longer than this are never shared. */
#define TP_SHAREDFRAME_KEY_MAX 192

struct tp_sharedframe {
	struct tp_shbuf *tail;     /* NULL: nothing remembered */
	struct tp_shbuf *frame;    /* NULL: these bytes seen once so far */
	const char *suffix;
	size_t pre_len, head_len, suffix_len;
	char key[TP_SHAREDFRAME_KEY_MAX]; /* pre, then head */
};

/* Zero-initialised is empty. */
void tp_sharedframe_reset(struct tp_sharedframe *m);

/* The frame pre + head + tail + suffix as one shared shbuf (borrowed:
 * the queue takes its own reference), or NULL: queue it in parts (first
 * sight, too long, or out of memory). suffix must be a literal. */
struct tp_shbuf *tp_sharedframe_get(struct tp_sharedframe *m,
				    const void *pre, size_t pre_len,
				    const void *head, size_t head_len,
				    struct tp_shbuf *tail,
				    const char *suffix, size_t suffix_len);

#endif
