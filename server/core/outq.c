/*
 * outq.c - outgoing frame queue (see outq.h).
 *
 * Structure: a singly linked FIFO of frame nodes. `off` counts the bytes
 * of the head node already written; every other node is untouched.
 * `ctl_last` is the last control frame placed ahead of the data: control
 * frames go right after it, or at the front, or right after a started
 * head frame. Invariant: every node from the head (or from the node after
 * a started head) up to ctl_last is a control frame.
 *
 * Nodes whose head bytes fit POOL_HEAD come from the pool's free list
 * (one size class: the WebSocket header plus the JSON head of an event
 * frame for a session with a few subscriptions is well under it); longer
 * ones are allocated to size and freed on release.
 */
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/err.h"
#include "tickpush/outq.h"

#define POOL_HEAD 88 /* node = 40 bytes of fields + 88 = 128 */

struct tp_outq_frame {
	struct tp_outq_frame *next;
	struct tp_shbuf *tail;
	const char *suffix;
	uint32_t head_len;
	uint32_t tail_len;
	uint16_t suffix_len;
	uint8_t pooled;
	uint8_t control;
	unsigned char head[];
};

struct tp_outq_pool {
	struct tp_outq_frame *free;
	size_t spare;
};

static size_t frame_len(const struct tp_outq_frame *f)
{
	return (size_t)f->head_len + f->tail_len + f->suffix_len;
}

struct tp_outq_pool *tp_outq_pool_create(void)
{
	return tp_calloc(1, sizeof(struct tp_outq_pool));
}

size_t tp_outq_pool_trim(struct tp_outq_pool *p, size_t keep)
{
	size_t n = 0;

	while (p && p->spare > keep) {
		struct tp_outq_frame *f = p->free;

		p->free = f->next;
		p->spare--;
		tp_free(f);
		n++;
	}
	return n;
}

size_t tp_outq_pool_spare(const struct tp_outq_pool *p)
{
	return p ? p->spare : 0;
}

void tp_outq_pool_destroy(struct tp_outq_pool *p)
{
	if (!p)
		return;
	tp_outq_pool_trim(p, 0);
	tp_free(p);
}

static struct tp_outq_frame *node_get(struct tp_outq_pool *p, size_t head_len)
{
	struct tp_outq_frame *f;

	if (head_len > POOL_HEAD) {
		f = tp_malloc(sizeof(*f) + head_len);
		if (f)
			f->pooled = 0;
		return f;
	}
	if (p->free) {
		f = p->free;
		p->free = f->next;
		p->spare--;
	} else if (!(f = tp_malloc(sizeof(*f) + POOL_HEAD))) {
		return NULL;
	}
	f->pooled = 1;
	return f;
}

static void node_put(struct tp_outq_pool *p, struct tp_outq_frame *f)
{
	tp_shbuf_release(f->tail);
	if (!f->pooled) {
		tp_free(f);
		return;
	}
	f->next = p->free;
	p->free = f;
	p->spare++;
}

void tp_outq_init(struct tp_outq *q, struct tp_outq_pool *pool)
{
	memset(q, 0, sizeof(*q));
	q->pool = pool;
}

size_t tp_outq_cleanup(struct tp_outq *q)
{
	size_t bytes = q->bytes;

	while (q->head)
		tp_outq_pop(q);
	return bytes;
}

/* Part sizes the node's fields can hold. */
static bool valid(const struct tp_outq_parts *p)
{
	return p->pre_len <= UINT32_MAX - p->head_len &&
	       p->head_len <= UINT32_MAX && p->suffix_len <= UINT16_MAX &&
	       (p->tail ? p->tail_len <= p->tail->len : !p->tail_len);
}

static struct tp_outq_frame *build(struct tp_outq *q,
				   const struct tp_outq_parts *p, bool control)
{
	size_t head_len = p->pre_len + p->head_len;
	struct tp_outq_frame *f;

	if (!(f = node_get(q->pool, head_len)))
		return NULL;
	f->next = NULL;
	if (p->pre_len)
		memcpy(f->head, p->pre, p->pre_len);
	if (p->head_len)
		memcpy(f->head + p->pre_len, p->head, p->head_len);
	f->head_len = (uint32_t)head_len;
	f->tail = p->tail ? tp_shbuf_acquire(p->tail) : NULL;
	f->tail_len = (uint32_t)p->tail_len;
	f->suffix = p->suffix;
	f->suffix_len = (uint16_t)p->suffix_len;
	f->control = control;
	q->bytes += frame_len(f);
	q->frames++;
	return f;
}

int tp_outq_push(struct tp_outq *q, const struct tp_outq_parts *p)
{
	struct tp_outq_frame *f;

	if (!valid(p))
		return TP_ERR_INVAL;
	if (!(f = build(q, p, false)))
		return TP_ERR_NOMEM;
	if (q->tail)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
	return TP_OK;
}

int tp_outq_push_control(struct tp_outq *q, const struct tp_outq_parts *p)
{
	struct tp_outq_frame *f, *after;

	if (!valid(p))
		return TP_ERR_INVAL;
	if (!(f = build(q, p, true)))
		return TP_ERR_NOMEM;
	/* After the last control frame ahead of data; else after a started
	 * head (never split a frame); else at the front. */
	after = q->ctl_last ? q->ctl_last : (q->off ? q->head : NULL);
	if (after) {
		f->next = after->next;
		after->next = f;
	} else {
		f->next = q->head;
		q->head = f;
	}
	if (!f->next)
		q->tail = f;
	q->ctl_last = f;
	return TP_OK;
}

size_t tp_outq_drop_unstarted(struct tp_outq *q)
{
	struct tp_outq_frame *keep = q->off ? q->head : NULL;
	struct tp_outq_frame *f = keep ? keep->next : q->head;
	size_t dropped = 0;

	while (f) {
		struct tp_outq_frame *next = f->next;

		dropped += frame_len(f);
		q->frames--;
		node_put(q->pool, f);
		f = next;
	}
	q->bytes -= dropped;
	q->head = q->tail = keep;
	if (keep)
		keep->next = NULL;
	q->ctl_last = keep && keep->control ? keep : NULL;
	return dropped;
}

/* Appends the slices of f from byte skip on; returns the new count. */
static int slices(const struct tp_outq_frame *f, size_t skip,
		  struct iovec *iov, int n, int max, size_t *bytes)
{
	const void *base[3] = { f->head, f->tail ? f->tail->data : NULL,
				f->suffix };
	size_t len[3] = { f->head_len, f->tail_len, f->suffix_len };

	for (int i = 0; i < 3 && n < max; i++) {
		if (skip >= len[i]) {
			skip -= len[i];
			continue;
		}
		iov[n].iov_base = (char *)base[i] + skip;
		iov[n].iov_len = len[i] - skip;
		*bytes += len[i] - skip;
		skip = 0;
		n++;
	}
	return n;
}

int tp_outq_iov(const struct tp_outq *q, struct iovec *iov, int max_iov,
		size_t max_bytes, size_t *bytes)
{
	int n = 0;

	*bytes = 0;
	for (const struct tp_outq_frame *f = q->head; f && n < max_iov;
	     f = f->next) {
		/* A frame is added only when all its slices fit, so a write
		 * never ends inside it for lack of iovecs. */
		if (n + 3 > max_iov && f != q->head)
			break;
		n = slices(f, f == q->head ? q->off : 0, iov, n, max_iov, bytes);
		if (*bytes >= max_bytes)
			break;
	}
	return n;
}

size_t tp_outq_consume(struct tp_outq *q, size_t n)
{
	size_t done = 0;

	TP_ASSERT(n <= q->bytes);
	while (n && q->head) {
		size_t left = frame_len(q->head) - q->off;

		if (n < left) {
			q->off += n;
			q->bytes -= n;
			return done;
		}
		n -= left;
		tp_outq_pop(q); /* takes the left bytes off q->bytes */
		done++;
	}
	return done;
}

int tp_outq_rest(const struct tp_outq *q, struct iovec iov[3])
{
	size_t bytes = 0;

	if (!q->head)
		return 0;
	return slices(q->head, q->off, iov, 0, 3, &bytes);
}

size_t tp_outq_pop(struct tp_outq *q)
{
	struct tp_outq_frame *f = q->head;
	size_t left;

	if (!f)
		return 0;
	left = frame_len(f) - q->off;
	q->bytes -= left;
	q->frames--;
	q->off = 0;
	q->head = f->next;
	if (!q->head)
		q->tail = NULL;
	if (q->ctl_last == f)
		q->ctl_last = NULL;
	node_put(q->pool, f);
	return left;
}
