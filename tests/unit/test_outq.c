/*
 * test_outq.c - the outgoing frame queue and shared buffers: frames from
 * head, shared tail and suffix come out byte-exact and in order through
 * partial writes; a started frame's rest is exactly what was not
 * written; control frames go ahead of unstarted data and never inside a
 * frame; closing keeps only a started frame; references to shared tails
 * are released; whole shared frames are packed several to a node and
 * behave like any other frame through partial writes, controls and
 * closes; the last frame is shared from its second sight in a row
 * (sharedframe.h); nodes are recycled by the pool; bad parts and OOM are
 * refused without side effects. A randomized run drives the queue as the
 * writer does (random partial writes, the rest of a cut frame handed
 * away, pings and closes queued at random moments) and checks the byte
 * stream a client would read.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/err.h"
#include "tickpush/outq.h"
#include "tickpush/sharedframe.h"
#include "tickpush/shbuf.h"

/* ------------------------------------------------------------------ */
/* helpers                                                              */

struct sink {
	char buf[65536];
	size_t len;
};

/* Writes at most accept bytes of the queue's front into s, as writev
 * would; returns how many. */
static size_t write_some(struct tp_outq *q, struct sink *s, size_t accept,
			 int max_iov, size_t max_bytes)
{
	struct iovec iov[64];
	size_t want, done = 0;
	int n = tp_outq_iov(q, iov, max_iov, max_bytes, &want);

	assert_true(n <= max_iov);
	for (int i = 0; i < n && done < accept; i++) {
		size_t k = iov[i].iov_len < accept - done ? iov[i].iov_len
							  : accept - done;

		assert_true(s->len + k <= sizeof(s->buf));
		memcpy(s->buf + s->len, iov[i].iov_base, k);
		s->len += k;
		done += k;
	}
	assert_true(done <= want);
	tp_outq_consume(q, done);
	return done;
}

static void push_data(struct tp_outq *q, const char *pre, const char *head,
		      struct tp_shbuf *tail, const char *suffix)
{
	struct tp_outq_parts p = {
		.pre = pre, .pre_len = pre ? strlen(pre) : 0,
		.head = head, .head_len = head ? strlen(head) : 0,
		.tail = tail, .tail_len = tail ? tail->len : 0,
		.suffix = suffix, .suffix_len = suffix ? strlen(suffix) : 0,
	};

	assert_int_equal(tp_outq_push(q, &p), TP_OK);
}

/* A whole frame of its own shbuf; the queue keeps the only reference
 * unless keep is given (then the caller gets one too). */
static void push_whole(struct tp_outq *q, const char *bytes,
		       struct tp_shbuf **keep)
{
	struct tp_shbuf *b = tp_shbuf_create(bytes, strlen(bytes));

	assert_non_null(b);
	assert_int_equal(tp_outq_push_shared(q, b), TP_OK);
	if (keep)
		*keep = b;
	else
		tp_shbuf_release(b);
}

static void push_ctl(struct tp_outq *q, const char *bytes)
{
	struct tp_outq_parts p = { .pre = bytes, .pre_len = strlen(bytes) };

	assert_int_equal(tp_outq_push_control(q, &p), TP_OK);
}

static void drain(struct tp_outq *q, struct sink *s)
{
	while (!tp_outq_empty(q))
		write_some(q, s, (size_t)-1, 64, (size_t)-1);
	s->buf[s->len] = '\0';
}

/* ------------------------------------------------------------------ */
/* tests                                                                */

static void test_shbuf_refs(void **state)
{
	struct tp_shbuf *b;

	(void)state;
	b = tp_shbuf_create("abc", 3);
	assert_non_null(b);
	assert_int_equal(b->refs, 1);
	assert_int_equal(b->len, 3);
	assert_memory_equal(b->data, "abc", 4); /* NUL-terminated too */
	assert_ptr_equal(tp_shbuf_acquire(b), b);
	assert_int_equal(b->refs, 2);
	tp_shbuf_release(b);
	tp_shbuf_release(b); /* freed: the leak check would see it */
	tp_shbuf_release(NULL);
	b = tp_shbuf_create(NULL, 0);
	assert_non_null(b);
	assert_int_equal(b->len, 0);
	tp_shbuf_release(b);
	tp_alloc_fail_at(1);
	assert_null(tp_shbuf_create("x", 1));
}

static void test_frames_in_order(void **state)
{
	struct tp_outq_pool *pool = tp_outq_pool_create();
	struct tp_shbuf *tail = tp_shbuf_create("TAIL", 4);
	struct tp_outq q;
	struct sink s = { .len = 0 };

	(void)state;
	tp_outq_init(&q, pool);
	assert_true(tp_outq_empty(&q));
	push_data(&q, "<1", "h1|", tail, NULL);
	push_data(&q, NULL, "whole2", NULL, NULL);
	push_data(&q, "<3", "h3|", tail, "\n\n");
	push_data(&q, NULL, NULL, tail, NULL);
	assert_int_equal(q.frames, 4);
	assert_int_equal(q.bytes, 9 + 6 + 11 + 4);
	assert_int_equal(tail->refs, 1 + 3); /* one per queued frame */
	drain(&q, &s);
	assert_string_equal(s.buf, "<1h1|TAILwhole2<3h3|TAIL\n\nTAIL");
	assert_int_equal(q.bytes, 0);
	assert_int_equal(q.frames, 0);
	assert_int_equal(tail->refs, 1);
	tp_shbuf_release(tail);
	tp_outq_cleanup(&q);
	tp_outq_pool_destroy(pool);
}

/* A write that ends inside a frame: the frame is started, its rest is
 * exactly the unwritten bytes, the iovecs resume from there. */
static void test_partial_write_and_rest(void **state)
{
	struct tp_outq_pool *pool = tp_outq_pool_create();
	struct tp_shbuf *tail = tp_shbuf_create("0123456789", 10);
	struct tp_outq q;
	struct sink s = { .len = 0 };
	struct iovec rest[3];
	char got[64] = "";
	int n;

	(void)state;
	tp_outq_init(&q, pool);
	push_data(&q, "HD", "head", tail, "!\n");
	push_data(&q, "X", NULL, NULL, NULL);
	assert_int_equal(write_some(&q, &s, 3, 64, (size_t)-1), 3);
	assert_true(tp_outq_started(&q));
	assert_int_equal(q.bytes, 18 + 1 - 3);
	n = tp_outq_rest(&q, rest);
	assert_int_equal(n, 3); /* "ead", the tail, "!\n" */
	for (int i = 0; i < n; i++)
		strncat(got, rest[i].iov_base, rest[i].iov_len);
	assert_string_equal(got, "ead0123456789!\n");
	/* Into the tail, then just the suffix left. */
	assert_int_equal(write_some(&q, &s, 7, 64, (size_t)-1), 7);
	n = tp_outq_rest(&q, rest);
	assert_int_equal(n, 2);
	assert_int_equal(rest[0].iov_len, 6);
	assert_memory_equal(rest[0].iov_base, "456789", 6);
	/* The rest handed elsewhere: popping drops exactly it. */
	assert_int_equal(tp_outq_pop(&q), 8);
	assert_false(tp_outq_started(&q));
	assert_int_equal(q.bytes, 1);
	drain(&q, &s);
	assert_string_equal(s.buf, "HDhead0123X");
	tp_outq_cleanup(&q);
	tp_shbuf_release(tail);
	tp_outq_pool_destroy(pool);
}

/* iov limits: whole frames after the first, and max_bytes stops after
 * the frame that crosses it. */
static void test_iov_limits(void **state)
{
	struct tp_outq_pool *pool = tp_outq_pool_create();
	struct tp_shbuf *tail = tp_shbuf_create("tt", 2);
	struct tp_outq q;
	struct iovec iov[8];
	size_t bytes;

	(void)state;
	tp_outq_init(&q, pool);
	for (int i = 0; i < 5; i++)
		push_data(&q, "p", "h", tail, "s"); /* 3 slices, 5 bytes */
	assert_int_equal(tp_outq_iov(&q, iov, 8, (size_t)-1, &bytes), 6);
	assert_int_equal(bytes, 10); /* a third frame would not fit whole */
	assert_int_equal(tp_outq_iov(&q, iov, 8, 6, &bytes), 6);
	assert_int_equal(bytes, 10);
	assert_int_equal(tp_outq_iov(&q, iov, 8, 5, &bytes), 3);
	assert_int_equal(bytes, 5);
	/* The first frame is always offered, even with fewer slices. */
	assert_int_equal(tp_outq_iov(&q, iov, 2, (size_t)-1, &bytes), 2);
	assert_int_equal(bytes, 4);
	tp_outq_consume(&q, 4);
	assert_int_equal(tp_outq_iov(&q, iov, 8, (size_t)-1, &bytes), 7);
	assert_int_equal(iov[0].iov_len, 1); /* the suffix of frame 1 */
	assert_int_equal(bytes, 11);
	assert_int_equal(tp_outq_cleanup(&q), 21);
	assert_int_equal(tail->refs, 1);
	tp_shbuf_release(tail);
	tp_outq_pool_destroy(pool);
}

static void test_control_frames(void **state)
{
	struct tp_outq_pool *pool = tp_outq_pool_create();
	struct tp_outq q;
	struct sink s = { .len = 0 };

	(void)state;
	tp_outq_init(&q, pool);
	/* Nothing started: controls go first, in their own order. */
	push_data(&q, "[d1]", NULL, NULL, NULL);
	push_data(&q, "[d2]", NULL, NULL, NULL);
	push_ctl(&q, "(c1)");
	push_ctl(&q, "(c2)");
	drain(&q, &s);
	assert_string_equal(s.buf, "(c1)(c2)[d1][d2]");

	/* A started frame is finished first. */
	s.len = 0;
	push_data(&q, "[d3]", NULL, NULL, NULL);
	push_data(&q, "[d4]", NULL, NULL, NULL);
	write_some(&q, &s, 2, 64, (size_t)-1);
	push_ctl(&q, "(c3)");
	push_data(&q, "[d5]", NULL, NULL, NULL);
	push_ctl(&q, "(c4)");
	drain(&q, &s);
	assert_string_equal(s.buf, "[d3](c3)(c4)[d4][d5]");

	/* Once the controls are out, the next one goes first again. */
	s.len = 0;
	push_data(&q, "[d6]", NULL, NULL, NULL);
	push_ctl(&q, "(c5)");
	write_some(&q, &s, 4, 64, (size_t)-1); /* (c5) out */
	push_ctl(&q, "(c6)");
	drain(&q, &s);
	assert_string_equal(s.buf, "(c5)(c6)[d6]");

	/* Into an empty queue, and after a started control frame. */
	s.len = 0;
	push_ctl(&q, "(c7)");
	write_some(&q, &s, 1, 64, (size_t)-1);
	push_ctl(&q, "(c8)");
	push_data(&q, "[d7]", NULL, NULL, NULL);
	drain(&q, &s);
	assert_string_equal(s.buf, "(c7)(c8)[d7]");
	tp_outq_cleanup(&q);
	tp_outq_pool_destroy(pool);
}

/* Closing: everything not started goes; a started frame stays, then the
 * close frame. */
static void test_drop_unstarted(void **state)
{
	struct tp_outq_pool *pool = tp_outq_pool_create();
	struct tp_shbuf *tail = tp_shbuf_create("TT", 2);
	struct tp_outq q;
	struct sink s = { .len = 0 };

	(void)state;
	tp_outq_init(&q, pool);
	push_data(&q, "[a", NULL, tail, "]");
	push_data(&q, "[b", NULL, tail, "]");
	push_ctl(&q, "(p)");
	assert_int_equal(tp_outq_drop_unstarted(&q), 10 + 3);
	assert_true(tp_outq_empty(&q));
	assert_int_equal(tail->refs, 1);

	push_data(&q, "[c", NULL, tail, "]");
	push_data(&q, "[d", NULL, tail, "]");
	write_some(&q, &s, 3, 64, (size_t)-1);
	assert_int_equal(tp_outq_drop_unstarted(&q), 5);
	assert_int_equal(q.frames, 1);
	push_ctl(&q, "(close)");
	drain(&q, &s);
	assert_string_equal(s.buf, "[cTT](close)");

	/* A started control frame is kept too, and the close follows it. */
	s.len = 0;
	push_data(&q, "[e]", NULL, NULL, NULL);
	push_ctl(&q, "(ping)");
	write_some(&q, &s, 2, 64, (size_t)-1);
	tp_outq_drop_unstarted(&q);
	push_ctl(&q, "(close)");
	drain(&q, &s);
	assert_string_equal(s.buf, "(ping)(close)");
	assert_int_equal(tail->refs, 1);
	tp_shbuf_release(tail);
	tp_outq_cleanup(&q);
	tp_outq_pool_destroy(pool);
}

/* Shared whole frames: byte-exact and in order among other frames, one
 * reference each, packed several to a node (not a node per frame). */
static void test_shared_frames(void **state)
{
	struct tp_outq_pool *pool = tp_outq_pool_create();
	struct tp_shbuf *ev = tp_shbuf_create("[ev]", 4);
	struct tp_outq q, q2;
	struct sink s = { .len = 0 }, s2 = { .len = 0 };
	char want[512] = "";
	size_t blocks;

	(void)state;
	tp_outq_init(&q, pool);
	tp_outq_init(&q2, pool);
	push_data(&q, "<1", "h|", NULL, NULL);
	blocks = tp_alloc_blocks();
	for (int i = 0; i < 40; i++) { /* the same frame in two queues */
		assert_int_equal(tp_outq_push_shared(&q, ev), TP_OK);
		assert_int_equal(tp_outq_push_shared(&q2, ev), TP_OK);
	}
	/* 80 frames in a handful of nodes (the exact size is the node's). */
	assert_true(tp_alloc_blocks() - blocks <= 8);
	assert_int_equal(ev->refs, 1 + 80);
	push_data(&q, "<2", "h|", NULL, NULL);
	push_whole(&q, "[w]", NULL);
	assert_int_equal(q.frames, 43);
	assert_int_equal(q.bytes, 4 + 160 + 4 + 3);
	assert_int_equal(tp_outq_push_shared(&q, NULL), TP_ERR_INVAL);
	drain(&q, &s);
	strcat(want, "<1h|");
	for (int i = 0; i < 40; i++)
		strcat(want, "[ev]");
	strcat(want, "<2h|[w]");
	assert_string_equal(s.buf, want);
	assert_int_equal(ev->refs, 1 + 40);
	/* Partial writes through a batch: offsets within and across frames. */
	for (size_t k = 1; !tp_outq_empty(&q2); k = k % 7 + 1)
		write_some(&q2, &s2, k, 5, (size_t)-1);
	s2.buf[s2.len] = '\0';
	assert_int_equal(s2.len, 160);
	assert_memory_equal(s2.buf, want + 4, 160);
	assert_int_equal(ev->refs, 1);
	assert_int_equal(q2.bytes, 0);
	assert_int_equal(q2.frames, 0);
	tp_shbuf_release(ev);
	tp_outq_cleanup(&q);
	tp_outq_cleanup(&q2);
	tp_outq_pool_destroy(pool);
}

/* A control frame queued while a shared frame in the middle of a batch is
 * started goes right after that frame, before the batch's later frames;
 * closing keeps only the started frame; the rest of a started shared
 * frame is exactly its unwritten bytes. */
static void test_shared_started_batch(void **state)
{
	struct tp_outq_pool *pool = tp_outq_pool_create();
	struct tp_outq q;
	struct sink s = { .len = 0 };
	struct iovec rest[3];

	(void)state;
	tp_outq_init(&q, pool);
	push_whole(&q, "[a1]", NULL);
	push_whole(&q, "[a2]", NULL);
	push_whole(&q, "[a3]", NULL);
	push_whole(&q, "[a4]", NULL);
	write_some(&q, &s, 6, 64, (size_t)-1); /* "[a1][a" */
	assert_true(tp_outq_started(&q));
	assert_int_equal(tp_outq_rest(&q, rest), 1);
	assert_int_equal(rest[0].iov_len, 2);
	assert_memory_equal(rest[0].iov_base, "2]", 2);
	push_ctl(&q, "(c1)");
	push_whole(&q, "[a5]", NULL);
	push_ctl(&q, "(c2)");
	drain(&q, &s);
	assert_string_equal(s.buf, "[a1][a2](c1)(c2)[a3][a4][a5]");

	/* Out of memory for the split: refused, nothing changed. */
	s.len = 0;
	push_whole(&q, "[b1]", NULL);
	push_whole(&q, "[b2]", NULL);
	write_some(&q, &s, 1, 64, (size_t)-1);
	tp_outq_pool_trim(pool, 0); /* the split must allocate */
	tp_alloc_fail_at(1);
	{
		struct tp_outq_parts p = { .pre = "(x)", .pre_len = 3 };

		assert_int_equal(tp_outq_push_control(&q, &p), TP_ERR_NOMEM);
	}
	assert_int_equal(q.frames, 2);
	assert_int_equal(q.bytes, 7);

	/* Closing inside a batch: the started frame stays, then the close. */
	push_whole(&q, "[b3]", NULL);
	assert_int_equal(tp_outq_drop_unstarted(&q), 8);
	assert_int_equal(q.frames, 1);
	push_ctl(&q, "(close)");
	drain(&q, &s);
	assert_string_equal(s.buf, "[b1](close)");

	/* Nothing started: everything goes, the close alone is left. */
	s.len = 0;
	push_whole(&q, "[c1]", NULL);
	push_data(&q, "[c2]", NULL, NULL, NULL);
	push_whole(&q, "[c3]", NULL);
	assert_int_equal(tp_outq_drop_unstarted(&q), 12);
	push_ctl(&q, "(close)");
	drain(&q, &s);
	assert_string_equal(s.buf, "(close)");
	tp_outq_cleanup(&q);
	tp_outq_pool_destroy(pool);
}

/* The last frame asked for is shared from its second sight in a row:
 * exactly pre, head, tail and suffix; a different head, tail (even with
 * the same bytes), pre or suffix starts over; too long or out of memory:
 * NULL (queue in parts), never a wrong frame. */
static void test_sharedframe(void **state)
{
	struct tp_sharedframe m = { .tail = NULL };
	struct tp_shbuf *t1 = tp_shbuf_create("TAIL1", 5);
	struct tp_shbuf *t2 = tp_shbuf_create("TAIL1", 5);
	struct tp_shbuf *f;
	char big[TP_SHAREDFRAME_KEY_MAX + 1];

	(void)state;
	assert_null(tp_sharedframe_get(&m, "P", 1, "h1", 2, t1, "\n", 1));
	assert_int_equal(t1->refs, 2); /* held while remembered */
	f = tp_sharedframe_get(&m, "P", 1, "h1", 2, t1, "\n", 1);
	assert_non_null(f);
	assert_int_equal(f->len, 9);
	assert_memory_equal(f->data, "Ph1TAIL1\n", 9);
	assert_ptr_equal(tp_sharedframe_get(&m, "P", 1, "h1", 2, t1, "\n", 1), f);
	/* Each difference starts over. */
	assert_null(tp_sharedframe_get(&m, "P", 1, "h2", 2, t1, "\n", 1));
	assert_null(tp_sharedframe_get(&m, "P", 1, "h2", 2, t2, "\n", 1));
	assert_int_equal(t1->refs, 1);
	assert_null(tp_sharedframe_get(&m, "Q", 1, "h2", 2, t2, "\n", 1));
	assert_null(tp_sharedframe_get(&m, "Q", 1, "h2", 2, t2, NULL, 0));
	assert_null(tp_sharedframe_get(&m, "Q", 1, "h", 1, t2, NULL, 0));
	assert_null(tp_sharedframe_get(&m, "Qh", 2, "", 0, t2, NULL, 0));
	f = tp_sharedframe_get(&m, "Qh", 2, NULL, 0, t2, NULL, 0);
	assert_non_null(f);
	assert_memory_equal(f->data, "QhTAIL1", 7);
	/* No tail, or pre and head too long: never shared. */
	assert_null(tp_sharedframe_get(&m, "Qh", 2, NULL, 0, NULL, NULL, 0));
	memset(big, 'b', sizeof(big));
	assert_null(tp_sharedframe_get(&m, big, sizeof(big), NULL, 0, t1, NULL, 0));
	assert_null(tp_sharedframe_get(&m, big, sizeof(big), NULL, 0, t1, NULL, 0));
	assert_null(tp_sharedframe_get(&m, "x", 1, big, sizeof(big) - 1, t1, NULL, 0));
	/* Out of memory for the frame: parts now, shared once it can be. */
	assert_null(tp_sharedframe_get(&m, "P", 1, NULL, 0, t1, NULL, 0));
	tp_alloc_fail_at(1);
	assert_null(tp_sharedframe_get(&m, "P", 1, NULL, 0, t1, NULL, 0));
	f = tp_sharedframe_get(&m, "P", 1, NULL, 0, t1, NULL, 0);
	assert_non_null(f);
	assert_memory_equal(f->data, "PTAIL1", 6);
	/* A queue's reference outlives the reset. */
	tp_shbuf_acquire(f);
	tp_sharedframe_reset(&m);
	tp_sharedframe_reset(&m);
	assert_int_equal(f->refs, 1);
	assert_int_equal(t1->refs, 1);
	assert_int_equal(t2->refs, 1);
	tp_shbuf_release(f);
	tp_shbuf_release(t1);
	tp_shbuf_release(t2);
}

static void test_pool_recycles(void **state)
{
	struct tp_outq_pool *pool = tp_outq_pool_create();
	struct tp_outq q;
	char big[300];
	size_t blocks;

	(void)state;
	tp_outq_init(&q, pool);
	for (int i = 0; i < 10; i++)
		push_data(&q, "<hdr>", "small", NULL, NULL);
	tp_outq_cleanup(&q);
	assert_int_equal(tp_outq_pool_spare(pool), 10);
	/* Steady state: no allocation for small frames. */
	blocks = tp_alloc_blocks();
	for (int i = 0; i < 10; i++)
		push_data(&q, "<hdr>", "small", NULL, NULL);
	assert_int_equal(tp_alloc_blocks(), blocks);
	assert_int_equal(tp_outq_pool_spare(pool), 0);
	/* A large head is allocated to size and not kept. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	push_data(&q, NULL, big, NULL, NULL);
	assert_int_equal(tp_alloc_blocks(), blocks + 1);
	tp_outq_cleanup(&q);
	assert_int_equal(tp_alloc_blocks(), blocks);
	assert_int_equal(tp_outq_pool_spare(pool), 10);
	assert_int_equal(tp_outq_pool_trim(pool, 4), 6);
	assert_int_equal(tp_outq_pool_spare(pool), 4);
	tp_outq_pool_destroy(pool);
	tp_outq_pool_destroy(NULL);
}

static void test_bad_parts_and_oom(void **state)
{
	struct tp_outq_pool *pool = tp_outq_pool_create();
	struct tp_shbuf *tail = tp_shbuf_create("abc", 3);
	struct tp_outq q;
	struct tp_outq_parts p = { .head = "h", .head_len = 1, .tail = tail,
				   .tail_len = 4 };

	(void)state;
	tp_outq_init(&q, pool);
	assert_int_equal(tp_outq_push(&q, &p), TP_ERR_INVAL); /* tail_len > len */
	p.tail = NULL;
	p.tail_len = 1;
	assert_int_equal(tp_outq_push_control(&q, &p), TP_ERR_INVAL);
	p.tail_len = 0;
	p.suffix = "x";
	p.suffix_len = 70000;
	assert_int_equal(tp_outq_push(&q, &p), TP_ERR_INVAL);
	p.suffix_len = 1;
	p.tail = tail;
	p.tail_len = 3;
	tp_alloc_fail_at(1);
	assert_int_equal(tp_outq_push(&q, &p), TP_ERR_NOMEM);
	tp_alloc_fail_at(1);
	assert_int_equal(tp_outq_push_control(&q, &p), TP_ERR_NOMEM);
	assert_true(tp_outq_empty(&q));
	assert_int_equal(q.bytes, 0);
	assert_int_equal(tail->refs, 1);
	assert_int_equal(tp_outq_push(&q, &p), TP_OK);
	assert_int_equal(q.bytes, 5);
	tp_outq_cleanup(&q);
	tp_shbuf_release(tail);
	tp_outq_pool_destroy(pool);
}

/* ------------------------------------------------------------------ */
/* randomized: the writer's use of the queue                            */

/* Frames are "<Dnnnn:payload>" (data) and "<Cnnnn>" (control): '<' only
 * starts a frame, so the wire can be checked as a sequence of frames. */
struct wire {
	char *buf;
	size_t len, cap;
	size_t scanned;          /* frame starts counted up to here */
	unsigned data_begun;     /* data frames begun on the wire */
	bool ctl_begun[2000];
};

static void wire_put(struct wire *w, const void *p, size_t n)
{
	if (w->len + n > w->cap) {
		w->cap = (w->len + n) * 2;
		w->buf = realloc(w->buf, w->cap);
		assert_non_null(w->buf);
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	/* Count the frames that have begun (a '<' and its kind letter). */
	while (w->scanned + 1 < w->len) {
		if (w->buf[w->scanned] == '<') {
			if (w->buf[w->scanned + 1] == 'D') {
				w->data_begun++;
			} else if (w->scanned + 6 <= w->len) {
				unsigned id;

				assert_int_equal(sscanf(w->buf + w->scanned + 2, "%4u", &id), 1);
				w->ctl_begun[id] = true;
			} else {
				break; /* the control's id is not all here yet */
			}
		}
		w->scanned++;
	}
}

static unsigned long long rng_state = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

/* One writev of random size and iovec budget; a cut frame's rest is then
 * handed away: to lws, which sends it before anything else. */
static void random_write(struct tp_outq *q, struct wire *w)
{
	struct iovec iov[64], rest[3];
	size_t want, accept = rnd(300), done = 0;
	int n = tp_outq_iov(q, iov, 3 + (int)rnd(60), 1 + rnd(2000), &want);

	for (int i = 0; i < n && done < accept; i++) {
		size_t k = iov[i].iov_len < accept - done ? iov[i].iov_len
							  : accept - done;

		wire_put(w, iov[i].iov_base, k);
		done += k;
	}
	tp_outq_consume(q, done);
	if (tp_outq_started(q)) {
		int r = tp_outq_rest(q, rest);

		for (int i = 0; i < r; i++)
			wire_put(w, rest[i].iov_base, rest[i].iov_len);
		tp_outq_pop(q);
	}
}

static void random_run(unsigned long long seed)
{
	struct tp_outq_pool *pool = tp_outq_pool_create();
	struct tp_shbuf *tails[4];
	struct tp_outq q;
	struct wire *w = calloc(1, sizeof(*w));
	/* Per control frame: data frames begun when it was queued; it must
	 * come right after those, before every later data frame. -1: it was
	 * dropped by the close before it began. */
	int ctl_after[2000];
	unsigned n_data = 0, n_ctl = 0, close_id = 0;
	bool closed = false;
	char name[32];

	assert_non_null(w);
	rng_state = seed;
	for (int i = 0; i < 4; i++) {
		char t[200];
		size_t n = 10 + 40 * (size_t)i;

		memset(t, 'a' + i, n);
		t[n - 1] = '>';
		tails[i] = tp_shbuf_create(t, n);
	}
	tp_outq_init(&q, pool);
	for (int step = 0; step < 20000 && n_ctl < 1990; step++) {
		unsigned op = rnd(100);

		if (closed && tp_outq_empty(&q))
			break;
		if (op < 45 && !closed) {
			struct tp_shbuf *t = tails[rnd(4)];

			snprintf(name, sizeof(name), "<D%04u:", n_data++);
			if (rnd(2)) {
				push_data(&q, NULL, name, t, NULL);
			} else { /* the same bytes, framed whole */
				char whole[256];

				snprintf(whole, sizeof(whole), "%s%s", name, t->data);
				push_whole(&q, whole, NULL);
			}
		} else if (op < 55 && !closed) {
			snprintf(name, sizeof(name), "<C%04u>", n_ctl);
			ctl_after[n_ctl++] = (int)w->data_begun;
			push_ctl(&q, name);
		} else if (op == 55 && !closed && step > 1000) {
			/* Close: what has not begun goes, the close follows. */
			tp_outq_drop_unstarted(&q);
			for (unsigned c = 0; c < n_ctl; c++)
				if (!w->ctl_begun[c])
					ctl_after[c] = -1;
			snprintf(name, sizeof(name), "<C%04u>", n_ctl);
			close_id = n_ctl;
			ctl_after[n_ctl++] = (int)w->data_begun;
			push_ctl(&q, name);
			closed = true;
		} else {
			random_write(&q, w);
		}
	}
	while (!tp_outq_empty(&q))
		random_write(&q, w);

	/* The wire: whole frames only; data frames 0, 1, 2, ... with no gap
	 * (a close drops only the end); control frames in FIFO order, each
	 * right where it was due; the close frame last. */
	{
		size_t i = 0;
		unsigned next_data = 0;
		int last_ctl = -1;
		bool close_seen = false;

		while (i < w->len) {
			char *end = memchr(w->buf + i, '>', w->len - i);
			unsigned id;

			assert_int_equal(w->buf[i], '<');
			assert_non_null(end);
			assert_false(close_seen);
			assert_int_equal(sscanf(w->buf + i + 2, "%4u", &id), 1);
			if (w->buf[i + 1] == 'D') {
				assert_int_equal(id, next_data);
				next_data++;
			} else {
				assert_int_equal(w->buf[i + 1], 'C');
				assert_true((int)id > last_ctl);
				assert_true(ctl_after[id] >= 0);
				assert_int_equal(next_data, ctl_after[id]);
				last_ctl = (int)id;
				close_seen = closed && id == close_id;
			}
			i = (size_t)(end - w->buf) + 1;
		}
		if (closed)
			assert_true(close_seen);
		else
			assert_int_equal(next_data, n_data);
		for (unsigned c = 0; c < n_ctl; c++) /* none lost */
			assert_true(ctl_after[c] < 0 || w->ctl_begun[c]);
	}
	free(w->buf);
	free(w);
	tp_outq_cleanup(&q);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(tails[i]->refs, 1);
		tp_shbuf_release(tails[i]);
	}
	tp_outq_pool_destroy(pool);
}

static void test_random_writer_never_splits(void **state)
{
	(void)state;
	for (unsigned long long seed = 1; seed <= 40; seed++)
		random_run(seed * 0x9E3779B97F4A7C15ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_shbuf_refs),
		TP_TEST(test_frames_in_order),
		TP_TEST(test_partial_write_and_rest),
		TP_TEST(test_iov_limits),
		TP_TEST(test_control_frames),
		TP_TEST(test_drop_unstarted),
		TP_TEST(test_shared_frames),
		TP_TEST(test_shared_started_batch),
		TP_TEST(test_sharedframe),
		TP_TEST(test_pool_recycles),
		TP_TEST(test_bad_parts_and_oom),
		TP_TEST(test_random_writer_never_splits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
