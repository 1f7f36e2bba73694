/*
 * frameq.c - outgoing frame queue (see frameq.h).
 */
#include <string.h>

#include <libwebsockets.h>

#include "frameq.h"
#include "tickpush/alloc.h"
#include "tickpush/err.h"

int tp_frameq_push(struct tp_frameq *q, const void *data, size_t len)
{
	struct tp_frame *f = tp_malloc(sizeof(*f) + LWS_PRE + len);

	if (!f)
		return TP_ERR_NOMEM;
	f->next = NULL;
	f->len = len;
	memcpy(f->buf + LWS_PRE, data, len);
	if (q->tail)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
	q->bytes += len;
	return TP_OK;
}

unsigned char *tp_frameq_head(const struct tp_frameq *q, size_t *len)
{
	if (!q->head)
		return NULL;
	*len = q->head->len;
	return q->head->buf + LWS_PRE;
}

size_t tp_frameq_pop(struct tp_frameq *q)
{
	struct tp_frame *f = q->head;
	size_t len;

	if (!f)
		return 0;
	len = f->len;
	q->head = f->next;
	if (!q->head)
		q->tail = NULL;
	q->bytes -= len;
	tp_free(f);
	return len;
}

size_t tp_frameq_clear(struct tp_frameq *q)
{
	size_t bytes = q->bytes;

	while (q->head)
		tp_frameq_pop(q);
	return bytes;
}
