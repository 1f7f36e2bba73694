/*
 * outq.h - a connection's queue of outgoing frames (server/core/outq.c),
 * the pure half of the push write path (the I/O half is server/io/writer.c).
 *
 * A frame is up to three byte ranges sent back to back:
 *   head   : per-connection bytes, copied into the queue (the transport's
 *            framing, e.g. the WebSocket header, then the session's JSON
 *            head `{"type":...,"subs":[...],`);
 *   tail   : bytes shared by every connection that gets the same event
 *            (a tp_shbuf: one reference per queued frame, no copy);
 *   suffix : static bytes, never copied (SSE's blank line).
 * or, queued with tp_outq_push_shared, one shbuf holding the whole frame,
 * framing included, shared by every connection that sends the same bytes
 * (a reference, no copy, and no node of its own: such frames are packed
 * several to a node).
 *
 * Writing: tp_outq_iov() describes the unwritten bytes from the front as
 * an iovec array (several frames per write), tp_outq_consume() records
 * how many the kernel took. A write that ends inside a frame leaves that
 * frame "started" (tp_outq_started); tp_outq_rest() gives its unwritten
 * slices so the caller can hand them to whoever must finish it.
 *
 * Control frames (WebSocket ping, pong, close) are queued ahead of every
 * data frame that has not started, in their own FIFO order; a started
 * frame is never split, so they follow it. tp_outq_drop_unstarted() keeps
 * only a started frame (closing: nothing new may follow but the close).
 *
 * Frame nodes come from a tp_outq_pool shared by all queues, so queueing a
 * frame with a small head does not allocate in steady state; the pool
 * keeps spare nodes until tp_outq_pool_trim. Single-threaded.
 */
#ifndef TICKPUSH_OUTQ_H
#define TICKPUSH_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "tickpush/shbuf.h"

struct tp_outq_pool;
struct tp_outq_node;

struct tp_outq {
	struct tp_outq_pool *pool;
	struct tp_outq_node *head, *tail;
	struct tp_outq_node *ctl_last;  /* last control frame ahead of data */
	size_t bytes;                   /* unwritten bytes, every frame */
	size_t frames;
	size_t off;                     /* bytes of the current frame written */
};

/* What one frame is made of (see above). pre and head are copied, in
 * that order, into the frame's own head bytes; tail gains a reference
 * (tail_len <= tail->len bytes of it are sent); suffix must outlive the
 * frame (a string literal). Any part may be empty. */
struct tp_outq_parts {
	const void *pre;
	size_t pre_len;
	const void *head;
	size_t head_len;
	struct tp_shbuf *tail;
	size_t tail_len;
	const char *suffix;
	size_t suffix_len;
};

struct tp_outq_pool *tp_outq_pool_create(void);
/* Every queue of the pool must have been cleaned up. NULL-safe. */
void tp_outq_pool_destroy(struct tp_outq_pool *p);
/* Frees spare nodes beyond keep; returns how many were freed. */
size_t tp_outq_pool_trim(struct tp_outq_pool *p, size_t keep);
size_t tp_outq_pool_spare(const struct tp_outq_pool *p);

void tp_outq_init(struct tp_outq *q, struct tp_outq_pool *pool);
/* Drops every frame; returns the unwritten bytes dropped. */
size_t tp_outq_cleanup(struct tp_outq *q);

/* Appends a data frame. TP_OK, TP_ERR_NOMEM, TP_ERR_INVAL (a part too
 * large). Nothing is queued and no reference taken on error. */
int tp_outq_push(struct tp_outq *q, const struct tp_outq_parts *p);
/* Appends a data frame made of frame's bytes alone (one more reference,
 * no copy). TP_OK, TP_ERR_NOMEM, TP_ERR_INVAL (frame NULL). */
int tp_outq_push_shared(struct tp_outq *q, struct tp_shbuf *frame);
/* Queues a control frame ahead of the data frames not yet started.
 * TP_OK, TP_ERR_NOMEM, TP_ERR_INVAL. */
int tp_outq_push_control(struct tp_outq *q, const struct tp_outq_parts *p);
/* Drops every frame that has not started; returns the bytes dropped. */
size_t tp_outq_drop_unstarted(struct tp_outq *q);

static inline bool tp_outq_empty(const struct tp_outq *q)
{
	return !q->head;
}

/* The current (first) frame is partly written. */
static inline bool tp_outq_started(const struct tp_outq *q)
{
	return q->head && q->off > 0;
}

/* Fills iov[0..max_iov) with the unwritten bytes from the front, whole
 * frames only except the first, stopping once *bytes reaches max_bytes
 * (the frame that crosses it is included). Returns the iovec count. */
int tp_outq_iov(const struct tp_outq *q, struct iovec *iov, int max_iov,
		size_t max_bytes, size_t *bytes);
/* n (<= q->bytes) bytes from the front were written: completed frames
 * are released. Returns how many frames completed. */
size_t tp_outq_consume(struct tp_outq *q, size_t n);
/* The unwritten slices of the current frame (at most 3); returns the
 * count (0 when empty). */
int tp_outq_rest(const struct tp_outq *q, struct iovec iov[3]);
/* Releases the current frame, written or not; returns its unwritten
 * bytes. */
size_t tp_outq_pop(struct tp_outq *q);

#endif
