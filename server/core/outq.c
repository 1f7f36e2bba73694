/*
 * outq.c - outgoing frame queue (see outq.h).
 *
 * Structure: a singly linked FIFO of nodes. A node is either one frame
 * (its own head bytes, a shared tail, a suffix) or a batch: up to
 * BATCH_MAX whole shared frames, each one shbuf, sent in order from index
 * `first`. A session that gets the same pre-framed bytes as many others
 * (tp_outq_push_shared, e.g. a broadcast) costs one pointer in the batch
 * at its tail instead of a node per frame: fewer cache lines written when
 * queueing, and fewer read when building the write's iovecs.
 *
 * `off` counts the bytes of the current frame (the head node's frame, or
 * its batch's frame `first`) already written; every later frame is
 * untouched. `ctl_last` is the last control frame placed ahead of the
 * data: control frames go right after it, or at the front, or right
 * after a started current frame (a batch is split there first, so its
 * started frame ends its node). Invariant: every node from the head (or
 * from the node after a started head) up to ctl_last is a control frame;
 * batches never are.
 *
 * Nodes come from the pool's free list, one size class (NODE_SIZE: a
 * batch, or a frame whose head bytes fit POOL_HEAD: the WebSocket header
 * plus the JSON head of an event frame for a session with a few
 * subscriptions is well under it); longer frames are allocated to size
 * and freed on release.
 */
#include <stddef.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/err.h"
#include "tickpush/outq.h"

#define NODE_SIZE 128

struct tp_outq_node {
	struct tp_outq_node *next;
	uint8_t batch;   /* a struct batch_node, else a struct frame_node */
	uint8_t pooled;
	uint8_t control;
	uint8_t first;   /* batch: frames [first, n) are queued */
	uint8_t n;
};

struct frame_node {
	struct tp_outq_node node;
	struct tp_shbuf *tail;
	const char *suffix;
	uint32_t head_len;
	uint32_t tail_len;
	uint16_t suffix_len;
	unsigned char head[];
};

#define POOL_HEAD (NODE_SIZE - offsetof(struct frame_node, head))
#define BATCH_MAX ((NODE_SIZE - sizeof(struct tp_outq_node)) / sizeof(struct tp_shbuf *))

struct batch_node {
	struct tp_outq_node node;
	struct tp_shbuf *buf[BATCH_MAX];
};

_Static_assert(sizeof(struct batch_node) <= NODE_SIZE, "batch fits a node");
_Static_assert(BATCH_MAX < 256, "first and n are bytes");

struct tp_outq_pool {
	struct tp_outq_node *free;
	size_t spare;
};

static struct frame_node *as_frame(struct tp_outq_node *nd)
{
	return (struct frame_node *)nd;
}

static struct batch_node *as_batch(struct tp_outq_node *nd)
{
	return (struct batch_node *)nd;
}

static size_t frame_node_len(const struct frame_node *f)
{
	return (size_t)f->head_len + f->tail_len + f->suffix_len;
}

/* The length of the node's current frame. */
static size_t cur_len(struct tp_outq_node *nd)
{
	if (nd->batch)
		return as_batch(nd)->buf[nd->first]->len;
	return frame_node_len(as_frame(nd));
}

struct tp_outq_pool *tp_outq_pool_create(void)
{
	return tp_calloc(1, sizeof(struct tp_outq_pool));
}

size_t tp_outq_pool_trim(struct tp_outq_pool *p, size_t keep)
{
	size_t n = 0;

	while (p && p->spare > keep) {
		struct tp_outq_node *nd = p->free;

		p->free = nd->next;
		p->spare--;
		tp_free(nd);
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

/* A node of size bytes (pooled when it fits NODE_SIZE), fields zeroed
 * but for next. */
static struct tp_outq_node *node_get(struct tp_outq_pool *p, size_t size)
{
	struct tp_outq_node *nd;
	bool pooled = size <= NODE_SIZE;

	if (pooled && p->free) {
		nd = p->free;
		p->free = nd->next;
		p->spare--;
	} else if (!(nd = tp_malloc(pooled ? NODE_SIZE : size))) {
		return NULL;
	}
	memset(nd, 0, sizeof(*nd));
	nd->pooled = pooled;
	return nd;
}

/* Releases what the node still references and frees or recycles it. */
static void node_put(struct tp_outq_pool *p, struct tp_outq_node *nd)
{
	if (nd->batch) {
		for (unsigned i = nd->first; i < nd->n; i++)
			tp_shbuf_release(as_batch(nd)->buf[i]);
	} else {
		tp_shbuf_release(as_frame(nd)->tail);
	}
	if (!nd->pooled) {
		tp_free(nd);
		return;
	}
	nd->next = p->free;
	p->free = nd;
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

static struct tp_outq_node *build(struct tp_outq *q,
				  const struct tp_outq_parts *p, bool control)
{
	size_t head_len = p->pre_len + p->head_len;
	struct tp_outq_node *nd;
	struct frame_node *f;

	if (!(nd = node_get(q->pool, offsetof(struct frame_node, head) + head_len)))
		return NULL;
	f = as_frame(nd);
	nd->next = NULL;
	nd->control = control;
	if (p->pre_len)
		memcpy(f->head, p->pre, p->pre_len);
	if (p->head_len)
		memcpy(f->head + p->pre_len, p->head, p->head_len);
	f->head_len = (uint32_t)head_len;
	f->tail = p->tail ? tp_shbuf_acquire(p->tail) : NULL;
	f->tail_len = (uint32_t)p->tail_len;
	f->suffix = p->suffix;
	f->suffix_len = (uint16_t)p->suffix_len;
	q->bytes += frame_node_len(f);
	q->frames++;
	return nd;
}

static void append(struct tp_outq *q, struct tp_outq_node *nd)
{
	if (q->tail)
		q->tail->next = nd;
	else
		q->head = nd;
	q->tail = nd;
}

int tp_outq_push(struct tp_outq *q, const struct tp_outq_parts *p)
{
	struct tp_outq_node *nd;

	if (!valid(p))
		return TP_ERR_INVAL;
	if (!(nd = build(q, p, false)))
		return TP_ERR_NOMEM;
	append(q, nd);
	return TP_OK;
}

int tp_outq_push_shared(struct tp_outq *q, struct tp_shbuf *frame)
{
	struct tp_outq_node *nd = q->tail;

	if (!frame)
		return TP_ERR_INVAL;
	if (!nd || !nd->batch || nd->n == BATCH_MAX) {
		if (!(nd = node_get(q->pool, sizeof(struct batch_node))))
			return TP_ERR_NOMEM;
		nd->next = NULL;
		nd->batch = 1;
		append(q, nd);
	}
	as_batch(nd)->buf[nd->n++] = tp_shbuf_acquire(frame);
	q->bytes += frame->len;
	q->frames++;
	return TP_OK;
}

/* The head is a batch whose current frame has started: its later frames
 * move to a new node right after it, so the started frame ends its node
 * and a control frame can follow it. */
static int split_started(struct tp_outq *q)
{
	struct tp_outq_node *h = q->head, *nd;
	unsigned keep = h->first + 1u;

	if (!h->batch || h->n == keep)
		return TP_OK;
	if (!(nd = node_get(q->pool, sizeof(struct batch_node))))
		return TP_ERR_NOMEM;
	nd->batch = 1;
	nd->n = (uint8_t)(h->n - keep);
	memcpy(as_batch(nd)->buf, as_batch(h)->buf + keep,
	       nd->n * sizeof(struct tp_shbuf *));
	h->n = (uint8_t)keep;
	nd->next = h->next;
	h->next = nd;
	if (q->tail == h)
		q->tail = nd;
	return TP_OK;
}

int tp_outq_push_control(struct tp_outq *q, const struct tp_outq_parts *p)
{
	struct tp_outq_node *nd, *after;

	if (!valid(p))
		return TP_ERR_INVAL;
	if (!q->ctl_last && q->off && split_started(q) != TP_OK)
		return TP_ERR_NOMEM;
	if (!(nd = build(q, p, true)))
		return TP_ERR_NOMEM;
	/* After the last control frame ahead of data; else after a started
	 * head (never split a frame); else at the front. */
	after = q->ctl_last ? q->ctl_last : (q->off ? q->head : NULL);
	if (after) {
		nd->next = after->next;
		after->next = nd;
	} else {
		nd->next = q->head;
		q->head = nd;
	}
	if (!nd->next)
		q->tail = nd;
	q->ctl_last = nd;
	return TP_OK;
}

/* Releases frames [from, n) of batch nd; returns their bytes. */
static size_t batch_drop_from(struct tp_outq *q, struct tp_outq_node *nd,
			      unsigned from)
{
	size_t bytes = 0;

	for (unsigned i = from; i < nd->n; i++) {
		bytes += as_batch(nd)->buf[i]->len;
		tp_shbuf_release(as_batch(nd)->buf[i]);
		q->frames--;
	}
	nd->n = (uint8_t)from;
	return bytes;
}

size_t tp_outq_drop_unstarted(struct tp_outq *q)
{
	struct tp_outq_node *keep = q->off ? q->head : NULL;
	struct tp_outq_node *nd = keep ? keep->next : q->head;
	size_t dropped = 0;

	if (keep && keep->batch)
		dropped += batch_drop_from(q, keep, keep->first + 1u);
	while (nd) {
		struct tp_outq_node *next = nd->next;

		if (nd->batch) {
			dropped += batch_drop_from(q, nd, nd->first);
		} else {
			dropped += frame_node_len(as_frame(nd));
			q->frames--;
		}
		node_put(q->pool, nd);
		nd = next;
	}
	q->bytes -= dropped;
	q->head = q->tail = keep;
	if (keep)
		keep->next = NULL;
	q->ctl_last = keep && keep->control ? keep : NULL;
	return dropped;
}

/* Appends the slices of frame node f from byte skip on; returns the new
 * count. */
static int slices(const struct frame_node *f, size_t skip,
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
	size_t skip = q->off;
	int n = 0;

	*bytes = 0;
	for (struct tp_outq_node *nd = q->head; nd && n < max_iov;
	     nd = nd->next) {
		if (nd->batch) {
			/* One slice per frame: always whole but the first. */
			for (unsigned i = nd->first; i < nd->n; i++) {
				struct tp_shbuf *b = as_batch(nd)->buf[i];

				if (n == max_iov)
					return n;
				iov[n].iov_base = b->data + skip;
				iov[n].iov_len = b->len - skip;
				*bytes += b->len - skip;
				skip = 0;
				n++;
				if (*bytes >= max_bytes)
					return n;
			}
			continue;
		}
		/* A frame is added only when all its slices fit, so a write
		 * never ends inside it for lack of iovecs. */
		if (n + 3 > max_iov && nd != q->head)
			break;
		n = slices(as_frame(nd), skip, iov, n, max_iov, bytes);
		skip = 0;
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
		size_t left = cur_len(q->head) - q->off;

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
	struct tp_outq_node *h = q->head;

	if (!h)
		return 0;
	if (h->batch) {
		struct tp_shbuf *b = as_batch(h)->buf[h->first];

		iov[0].iov_base = b->data + q->off;
		iov[0].iov_len = b->len - q->off;
		return 1;
	}
	return slices(as_frame(h), q->off, iov, 0, 3, &bytes);
}

size_t tp_outq_pop(struct tp_outq *q)
{
	struct tp_outq_node *h = q->head;
	size_t left;

	if (!h)
		return 0;
	left = cur_len(h) - q->off;
	q->bytes -= left;
	q->frames--;
	q->off = 0;
	if (h->batch) {
		tp_shbuf_release(as_batch(h)->buf[h->first++]);
		if (h->first < h->n)
			return left; /* the batch's next frame is current */
	}
	q->head = h->next;
	if (!q->head)
		q->tail = NULL;
	if (q->ctl_last == h)
		q->ctl_last = NULL;
	node_put(q->pool, h);
	return left;
}
