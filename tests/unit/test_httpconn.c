/*
 * test_httpconn.c - the HTTP request lifecycle state machine, apart from
 * lws: every row of the state table, the events lws was seen to repeat
 * (a second "body done", a head in the middle of a request), deferred
 * requests whose connection closes (the crash of issue 8), exact in-flight
 * accounting, refusals (411, 413, 400, the driver's own), streams, OOM in
 * the ticket registry, and a random walk that checks the invariants after
 * every event.
 */
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/dict.h"
#include "tickpush/err.h"
#include "tickpush/httpconn.h"
#include "tickpush/metrics.h"

#define BODY_MAX 100

static struct tp_hc_hub hub;

static int setup(void **state)
{
	tp_test_setup(state);
	assert_int_equal(tp_hc_hub_init(&hub, BODY_MAX), TP_OK);
	return 0;
}

static int teardown(void **state)
{
	tp_hc_hub_cleanup(&hub);
	return tp_test_check_leaks(state);
}

static void conn(struct tp_hc *hc, void *owner)
{
	memset(hc, 0, sizeof(*hc));
	tp_hc_attach(hc, &hub, owner);
}

static struct tp_hc_head get(void)
{
	struct tp_hc_head h = {false, -1, false, false, false, 0, NULL, NULL};

	return h;
}

static struct tp_hc_head post(long long len)
{
	struct tp_hc_head h = get();

	h.body_method = true;
	h.content_length = len;
	return h;
}

/* A fresh connection whose GET the handler deferred: its ticket. */
static uint64_t waiting(struct tp_hc *hc)
{
	struct tp_hc_head h = get();

	conn(hc, hc);
	assert_int_equal(tp_hc_on_head(hc, &h), TP_HC_DISPATCH);
	return tp_hc_defer(hc);
}

static void in_flight(unsigned n)
{
	assert_int_equal(hub.inflight, n);
	assert_int_equal(TP_METRIC_GET(http_inflight), n);
}

static void test_get_answered_then_next(void **state)
{
	struct tp_hc hc;
	struct tp_hc_head h = get();

	(void)state;
	conn(&hc, &hc);
	assert_int_equal(hc.state, TP_HC_IDLE);
	assert_int_equal(tp_hc_on_head(&hc, &h), TP_HC_DISPATCH);
	assert_int_equal(hc.state, TP_HC_HANDLING);
	in_flight(1);
	assert_true(tp_hc_respond(&hc));
	assert_int_equal(hc.state, TP_HC_SENDING);
	assert_int_equal(tp_hc_sent(&hc), TP_HC_NEXT);
	assert_int_equal(hc.state, TP_HC_IDLE);
	in_flight(0);
	/* The next request on the same connection. */
	assert_int_equal(tp_hc_on_head(&hc, &h), TP_HC_DISPATCH);
	assert_true(tp_hc_respond(&hc));
	assert_int_equal(tp_hc_sent(&hc), TP_HC_NEXT);
	in_flight(0);
	assert_string_equal(tp_hc_state_name(TP_HC_WAITING), "waiting");
	assert_string_equal(tp_hc_state_name((enum tp_hc_state)99), "?");
}

/* The endless-answers bug: lws reported "body done" again and again; each
 * must not dispatch the request once more. */
static void test_post_dispatched_exactly_once(void **state)
{
	struct tp_hc hc;
	struct tp_hc_head h = post(2);

	(void)state;
	conn(&hc, &hc);
	assert_int_equal(tp_hc_on_head(&hc, &h), TP_HC_READ_BODY);
	assert_int_equal(hc.state, TP_HC_BODY);
	in_flight(0); /* a body on its way is not yet in flight */
	assert_true(tp_hc_on_body(&hc, 2));
	assert_int_equal(tp_hc_on_body_done(&hc), TP_HC_DISPATCH);
	in_flight(1);
	assert_int_equal(tp_hc_on_body_done(&hc), TP_HC_IGNORE);
	assert_false(tp_hc_on_body(&hc, 5));
	assert_true(tp_hc_respond(&hc));
	assert_int_equal(tp_hc_on_body_done(&hc), TP_HC_IGNORE);
	assert_false(tp_hc_respond(&hc)); /* answering twice is refused */
	assert_int_equal(tp_hc_sent(&hc), TP_HC_NEXT);
	assert_int_equal(tp_hc_sent(&hc), TP_HC_IGNORE);
	assert_int_equal(tp_hc_on_body_done(&hc), TP_HC_IGNORE);
	in_flight(0);
}

/* Content-Length: 0 is no body: dispatched at the head; lws's extra
 * "body done" for an empty POST is ignored. */
static void test_empty_body_dispatched_at_head(void **state)
{
	struct tp_hc hc;
	struct tp_hc_head h = post(0);

	(void)state;
	conn(&hc, &hc);
	assert_int_equal(tp_hc_on_head(&hc, &h), TP_HC_DISPATCH);
	assert_false(tp_hc_on_body(&hc, 0));
	assert_int_equal(tp_hc_on_body_done(&hc), TP_HC_IGNORE);
	assert_true(tp_hc_respond(&hc));
	assert_int_equal(tp_hc_sent(&hc), TP_HC_NEXT);
	in_flight(0);
}

/* A body on a GET is read (and dropped by the handler), then dispatched. */
static void test_get_with_body_waits_for_it(void **state)
{
	struct tp_hc hc;
	struct tp_hc_head h = get();

	(void)state;
	h.content_length = 5;
	conn(&hc, &hc);
	assert_int_equal(tp_hc_on_head(&hc, &h), TP_HC_READ_BODY);
	assert_true(tp_hc_on_body(&hc, 5));
	assert_int_equal(tp_hc_on_body_done(&hc), TP_HC_DISPATCH);
	assert_true(tp_hc_respond(&hc));
	assert_int_equal(tp_hc_sent(&hc), TP_HC_NEXT);
}

static void expect_refusal(struct tp_hc_head h, int status, const char *field)
{
	struct tp_hc hc;

	conn(&hc, &hc);
	assert_int_equal(tp_hc_on_head(&hc, &h), TP_HC_REFUSE);
	assert_int_equal(hc.status, status);
	assert_non_null(hc.error);
	if (field)
		assert_string_equal(hc.field, field);
	else
		assert_null(hc.field);
	assert_true(tp_hc_closing(&hc));
	assert_int_equal(hc.state, TP_HC_SENDING);
	in_flight(1);
	/* A refusal cannot be dispatched by a late "body done". */
	assert_int_equal(tp_hc_on_body_done(&hc), TP_HC_IGNORE);
	assert_int_equal(tp_hc_sent(&hc), TP_HC_CLOSE);
	in_flight(0);
	tp_hc_closed(&hc);
	assert_int_equal(hc.state, TP_HC_CLOSED);
}

static void test_refusals(void **state)
{
	struct tp_hc_head h;

	(void)state;
	h = post(-1); /* no length */
	expect_refusal(h, 411, NULL);
	h = post(10);
	h.chunked = true; /* chunked (with or without a length) */
	expect_refusal(h, 411, NULL);
	h = get();
	h.chunked = true;
	expect_refusal(h, 411, NULL);
	h = post(-1);
	h.bad_length = true;
	expect_refusal(h, 400, "content-length");
	expect_refusal(post(BODY_MAX + 1), 413, NULL);
	h = get();
	h.content_length = BODY_MAX + 1;
	expect_refusal(h, 413, NULL);
	/* The driver's own refusal comes first (it saw a truncated head). */
	h = post(-1);
	h.refuse_status = 431;
	h.refuse_error = "Request header too large";
	h.refuse_field = "cookie";
	expect_refusal(h, 431, "cookie");
	/* Exactly body_max is fine. */
	{
		struct tp_hc hc;
		struct tp_hc_head ok = post(BODY_MAX);

		conn(&hc, &hc);
		assert_int_equal(tp_hc_on_head(&hc, &ok), TP_HC_READ_BODY);
		assert_true(tp_hc_on_body(&hc, BODY_MAX));
		assert_int_equal(tp_hc_on_body_done(&hc), TP_HC_DISPATCH);
		tp_hc_closed(&hc);
		in_flight(0);
	}
}

/* The driver refuses a body it cannot use (lws handed it the wrong
 * bytes): only while the body is being read. */
static void test_driver_refuses_body(void **state)
{
	struct tp_hc hc;
	struct tp_hc_head h = post(10);

	(void)state;
	conn(&hc, &hc);
	assert_int_equal(tp_hc_refuse(&hc, 400, "no", NULL), TP_HC_IGNORE); /* IDLE */
	assert_int_equal(tp_hc_on_head(&hc, &h), TP_HC_READ_BODY);
	assert_int_equal(tp_hc_refuse(&hc, 400, "pipelined", NULL), TP_HC_REFUSE);
	assert_int_equal(hc.status, 400);
	assert_string_equal(hc.error, "pipelined");
	assert_true(tp_hc_closing(&hc));
	in_flight(1);
	assert_false(tp_hc_on_body(&hc, 3));          /* nothing more is kept */
	assert_int_equal(tp_hc_on_body_done(&hc), TP_HC_IGNORE);
	assert_int_equal(tp_hc_refuse(&hc, 400, "again", NULL), TP_HC_IGNORE);
	assert_int_equal(tp_hc_sent(&hc), TP_HC_CLOSE);
	in_flight(0);
}

/* More body than announced (lws never does this; be safe anyway): 413. */
static void test_body_overflow(void **state)
{
	struct tp_hc hc;
	struct tp_hc_head h = post(BODY_MAX);

	(void)state;
	conn(&hc, &hc);
	assert_int_equal(tp_hc_on_head(&hc, &h), TP_HC_READ_BODY);
	assert_true(tp_hc_on_body(&hc, BODY_MAX - 1));
	assert_false(tp_hc_on_body(&hc, 2));
	assert_false(tp_hc_on_body(&hc, 0));
	assert_int_equal(tp_hc_on_body_done(&hc), TP_HC_REFUSE);
	assert_int_equal(hc.status, 413);
	assert_int_equal(tp_hc_sent(&hc), TP_HC_CLOSE);
	in_flight(0);
}

static void test_connection_close(void **state)
{
	struct tp_hc hc;
	struct tp_hc_head h = get();

	(void)state;
	h.close = true;
	conn(&hc, &hc);
	assert_int_equal(tp_hc_on_head(&hc, &h), TP_HC_DISPATCH);
	assert_true(tp_hc_closing(&hc));
	assert_true(tp_hc_respond(&hc));
	assert_int_equal(tp_hc_sent(&hc), TP_HC_CLOSE);
	/* Nothing more happens on it. */
	h.close = false;
	assert_int_equal(tp_hc_on_head(&hc, &h), TP_HC_IGNORE);
	in_flight(0);
	tp_hc_closed(&hc);
}

static void test_deferred_then_completed(void **state)
{
	struct tp_hc hc;
	struct tp_hc_head h = get();
	uint64_t t;

	(void)state;
	conn(&hc, (void *)0x1234);
	assert_int_equal(tp_hc_on_head(&hc, &h), TP_HC_DISPATCH);
	t = tp_hc_defer(&hc);
	assert_true(t != 0);
	assert_int_equal(hc.state, TP_HC_WAITING);
	assert_int_equal(tp_hc_defer(&hc), 0); /* one ticket per request */
	in_flight(1);
	assert_ptr_equal(tp_hc_complete(&hub, t), &hc);
	assert_ptr_equal(hc.owner, (void *)0x1234);
	assert_int_equal(hc.state, TP_HC_SENDING);
	assert_null(tp_hc_complete(&hub, t)); /* answered already */
	assert_null(tp_hc_complete(&hub, 0));
	in_flight(1);
	assert_int_equal(tp_hc_sent(&hc), TP_HC_NEXT);
	in_flight(0);
	assert_int_equal(tp_dict_size(hub.pending), 0);
}

/* A handler that defers and fails at once completes before returning. */
static void test_completed_inside_the_handler(void **state)
{
	struct tp_hc hc;
	uint64_t t = waiting(&hc);

	(void)state;
	assert_ptr_equal(tp_hc_complete(&hub, t), &hc);
	/* The driver then finds it SENDING, not WAITING, and writes. */
	assert_int_equal(hc.state, TP_HC_SENDING);
	assert_false(tp_hc_respond(&hc));
	assert_int_equal(tp_hc_sent(&hc), TP_HC_NEXT);
	in_flight(0);
}

/* A handler that deferred but answered anyway: the ticket is withdrawn, so
 * its late completion finds nothing. */
static void test_respond_withdraws_ticket(void **state)
{
	struct tp_hc hc;
	uint64_t t = waiting(&hc);

	(void)state;
	assert_true(tp_hc_respond(&hc));
	assert_null(tp_hc_complete(&hub, t));
	assert_int_equal(tp_hc_sent(&hc), TP_HC_NEXT);
	in_flight(0);
}

/* The crash of issue 8: the connection closes while its request waits;
 * the late completion must find nothing, and nothing stays in flight. */
static void test_close_while_waiting(void **state)
{
	struct tp_hc a, b;
	uint64_t ta = waiting(&a), tb = waiting(&b);

	(void)state;
	assert_true(ta && tb && ta != tb);
	in_flight(2);
	tp_hc_closed(&a);
	tp_hc_closed(&a); /* lws may report it twice (drop + close) */
	in_flight(1);
	assert_null(tp_hc_complete(&hub, ta));
	assert_null(tp_hc_stream(&hub, ta));
	assert_ptr_equal(tp_hc_complete(&hub, tb), &b);
	tp_hc_closed(&b); /* gone while sending */
	in_flight(0);
	assert_int_equal(tp_dict_size(hub.pending), 0);
}

/* A head while a request is in progress (pipelining that got past the
 * driver): close, and the waiting ticket goes with the connection. */
static void test_head_while_busy_closes(void **state)
{
	struct tp_hc hc;
	struct tp_hc_head h = get();
	uint64_t t = waiting(&hc);

	(void)state;
	assert_int_equal(tp_hc_on_head(&hc, &h), TP_HC_CLOSE);
	assert_int_equal(hc.state, TP_HC_WAITING); /* until the driver closes */
	assert_int_equal(hc.ticket, t);
	tp_hc_closed(&hc);
	assert_null(tp_hc_complete(&hub, t));
	in_flight(0);
	/* Also in BODY and SENDING. */
	conn(&hc, &hc);
	h = post(3);
	tp_hc_on_head(&hc, &h);
	assert_int_equal(tp_hc_on_head(&hc, &h), TP_HC_CLOSE);
	tp_hc_closed(&hc);
	in_flight(0);
}

static void test_stream(void **state)
{
	struct tp_hc hc;
	struct tp_hc_head h = get();
	uint64_t t = waiting(&hc);

	(void)state;
	assert_ptr_equal(tp_hc_stream(&hub, t), &hc);
	assert_int_equal(hc.state, TP_HC_STREAMING);
	in_flight(0); /* a stream never finishes: not in flight */
	assert_null(tp_hc_complete(&hub, t));
	assert_int_equal(tp_hc_sent(&hc), TP_HC_IGNORE);
	assert_int_equal(tp_hc_on_head(&hc, &h), TP_HC_CLOSE);
	tp_hc_closed(&hc);
	in_flight(0);
}

static void test_events_on_closed_or_unbound(void **state)
{
	struct tp_hc hc, zero;
	struct tp_hc_head h = get();

	(void)state;
	memset(&zero, 0, sizeof(zero));
	tp_hc_closed(&zero); /* never attached: nothing to settle */
	conn(&hc, &hc);
	tp_hc_closed(&hc);
	assert_int_equal(tp_hc_on_head(&hc, &h), TP_HC_IGNORE);
	assert_false(tp_hc_on_body(&hc, 1));
	assert_int_equal(tp_hc_on_body_done(&hc), TP_HC_IGNORE);
	assert_int_equal(tp_hc_defer(&hc), 0);
	assert_false(tp_hc_respond(&hc));
	assert_int_equal(tp_hc_sent(&hc), TP_HC_IGNORE);
	in_flight(0);
}

static void test_defer_oom(void **state)
{
	struct tp_hc hc;
	struct tp_hc_head h = get();
	uint64_t t = 0;

	(void)state;
	for (size_t n = 1; !t; n++) {
		conn(&hc, &hc);
		tp_hc_on_head(&hc, &h);
		tp_alloc_fail_at(n);
		t = tp_hc_defer(&hc);
		tp_alloc_fail_at(0);
		if (!t) {
			/* Still HANDLING: the driver answers 503 at once. */
			assert_int_equal(hc.state, TP_HC_HANDLING);
			assert_true(tp_hc_respond(&hc));
			assert_int_equal(tp_hc_sent(&hc), TP_HC_NEXT);
		}
	}
	tp_hc_closed(&hc);
	in_flight(0);
	assert_int_equal(tp_dict_size(hub.pending), 0);
}

/* Random events on a few connections; after each one: inflight equals the
 * connections in HANDLING/WAITING/SENDING, and the registry holds exactly
 * the WAITING ones. */
static void check_invariants(struct tp_hc *c, size_t n)
{
	unsigned busy = 0;
	size_t waiting = 0;

	for (size_t i = 0; i < n; i++) {
		bool counted = c[i].state == TP_HC_HANDLING ||
			       c[i].state == TP_HC_WAITING ||
			       c[i].state == TP_HC_SENDING;

		/* A closing connection whose answer is out is not counted. */
		assert_int_equal(c[i].counted, counted);
		busy += counted;
		if (c[i].state == TP_HC_WAITING) {
			waiting++;
			assert_true(c[i].ticket != 0);
		} else {
			assert_int_equal(c[i].ticket, 0);
		}
	}
	assert_int_equal(hub.inflight, busy);
	assert_int_equal(tp_dict_size(hub.pending), waiting);
}

static void test_random_walk(void **state)
{
	enum { N = 4 };
	struct tp_hc c[N];
	uint64_t tickets[64] = {0};
	size_t nt = 0;

	(void)state;
	srand(8);
	for (size_t i = 0; i < N; i++)
		conn(&c[i], &c[i]);
	for (int step = 0; step < 20000; step++) {
		struct tp_hc *hc = &c[rand() % N];
		struct tp_hc_head h = rand() % 2 ? get() : post(rand() % 3 - 1);
		uint64_t t;

		h.close = rand() % 8 == 0;
		h.chunked = rand() % 16 == 0;
		switch (rand() % 10) {
		case 0: tp_hc_on_head(hc, &h); break;
		case 1: tp_hc_on_body(hc, (size_t)(rand() % 4)); break;
		case 2: tp_hc_on_body_done(hc); break;
		case 3:
			if ((t = tp_hc_defer(hc)))
				tickets[nt++ % 64] = t;
			break;
		case 4: tp_hc_respond(hc); break;
		case 5: tp_hc_complete(&hub, tickets[rand() % 64]); break;
		case 6: tp_hc_stream(&hub, tickets[rand() % 64]); break;
		case 7: tp_hc_sent(hc); break;
		case 8: tp_hc_refuse(hc, 400, "x", NULL); break;
		default:
			if (rand() % 4 == 0) {
				tp_hc_closed(hc);
				conn(hc, hc); /* a new connection in its place */
			}
			break;
		}
		check_invariants(c, N);
	}
	for (size_t i = 0; i < N; i++)
		tp_hc_closed(&c[i]);
	in_flight(0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_get_answered_then_next),
		T(test_post_dispatched_exactly_once),
		T(test_empty_body_dispatched_at_head),
		T(test_get_with_body_waits_for_it),
		T(test_refusals),
		T(test_driver_refuses_body),
		T(test_body_overflow),
		T(test_connection_close),
		T(test_deferred_then_completed),
		T(test_completed_inside_the_handler),
		T(test_respond_withdraws_ticket),
		T(test_close_while_waiting),
		T(test_head_while_busy_closes),
		T(test_stream),
		T(test_events_on_closed_or_unbound),
		T(test_defer_oom),
		T(test_random_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
