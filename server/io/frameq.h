/*
 * frameq.h - a connection's queue of outgoing frames, each stored with
 * LWS_PRE bytes of headroom so lws_write can frame it in place
 * (server/io/frameq.c). Used by the WebSocket and SSE transports; the
 * byte count is what their slow-consumer bound checks.
 */
#ifndef TICKPUSH_IO_FRAMEQ_H
#define TICKPUSH_IO_FRAMEQ_H

#include <stddef.h>

struct tp_frame {
	struct tp_frame *next;
	size_t len;
	unsigned char buf[]; /* LWS_PRE headroom, then len bytes */
};

struct tp_frameq {
	struct tp_frame *head, *tail;
	size_t bytes;
};

/* Appends a copy of data. TP_OK or TP_ERR_NOMEM. */
int tp_frameq_push(struct tp_frameq *q, const void *data, size_t len);
/* The payload of the head frame (NULL when empty); lws may write into the
 * LWS_PRE bytes in front of it. */
unsigned char *tp_frameq_head(const struct tp_frameq *q, size_t *len);
/* Frees the head frame; returns its length. */
size_t tp_frameq_pop(struct tp_frameq *q);
/* Frees everything; returns the bytes that were queued. */
size_t tp_frameq_clear(struct tp_frameq *q);

#endif
