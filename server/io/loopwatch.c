/*
 * loopwatch.c - busy time per loop turn (see loopwatch.h).
 *
 * A uv_check runs once per turn, after the I/O callbacks. From one check
 * to the next the loop ran closing callbacks, timers, idle and prepare
 * handles (the push writer's flush), waited in epoll and ran the I/O
 * callbacks; libuv's idle-time metric (UV_METRICS_IDLE_TIME) says how long
 * the wait was, so the rest is the turn's work, whatever phase it fell in.
 * It also counts the turns for the wiring (one check handle, not two).
 * Cost: two clock reads and one thread-CPU read per turn.
 */
#include <time.h>

#include "tickpush/alloc.h"
#include "tickpush/clock.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"
#include "loopwatch.h"

#define LOOPWATCH_SLOW_S 0.1 /* a turn this busy is logged */

/* What a turn did, from counters kept anyway: a slow turn's log line
 * says whether it was a burst of events, of frames or of requests, or
 * none of them (a timer's sweep, a large answer). */
struct turn_work {
	uint64_t events, frames, writes, requests;
};

struct tp_loopwatch {
	uv_check_t check;
	uint64_t *turns;       /* the wiring's turn counter (io.loop_turn) */
	uint64_t last_ns;      /* uv_hrtime at the previous check */
	uint64_t last_idle_ns; /* uv_metrics_idle_time then */
	double last_cpu;       /* the thread's CPU seconds then */
	struct turn_work last; /* the counters then */
	struct tp_log_ratelimit slow_log;
};

static struct turn_work work_now(void)
{
	return (struct turn_work){
		.events = TP_METRIC_GET(events_received),
		.frames = TP_METRIC_GET(ws_frames_sent),
		.writes = TP_METRIC_GET(push_writes),
		.requests = TP_METRIC_GET(http_requests),
	};
}

static double thread_cpu(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_check(uv_check_t *h)
{
	struct tp_loopwatch *lw = h->data;
	uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(h->loop);
	double cpu = thread_cpu(), busy, turn_cpu;
	struct turn_work work = work_now();
	unsigned long suppressed;

	(*lw->turns)++;
	if (!lw->last_ns)
		goto remember; /* the first turn has no start */
	/* The idle clock and ours are read at different instants: clamp. */
	busy = now - lw->last_ns > idle - lw->last_idle_ns
		       ? (double)(now - lw->last_ns - (idle - lw->last_idle_ns)) / 1e9
		       : 0;
	turn_cpu = cpu - lw->last_cpu;
	tp_metrics_observe_loop_turn(busy);
	if (busy >= LOOPWATCH_SLOW_S &&
	    tp_log_ratelimit_allow(&lw->slow_log, tp_mono(), 1, &suppressed))
		TP_LOG(TP_LOG_WARN, "msg=\"slow loop turn: everything waited\" "
		       "busy_ms=%.1f cpu_ms=%.1f events=%llu frames=%llu writes=%llu "
		       "requests=%llu earlier_not_logged=%lu",
		       busy * 1e3, turn_cpu * 1e3,
		       (unsigned long long)(work.events - lw->last.events),
		       (unsigned long long)(work.frames - lw->last.frames),
		       (unsigned long long)(work.writes - lw->last.writes),
		       (unsigned long long)(work.requests - lw->last.requests),
		       suppressed);
remember:
	lw->last = work;
	lw->last_ns = now;
	lw->last_idle_ns = idle;
	lw->last_cpu = cpu;
}

struct tp_loopwatch *tp_loopwatch_start(uv_loop_t *loop, uint64_t *turns)
{
	struct tp_loopwatch *lw = tp_calloc(1, sizeof(*lw));

	if (!lw)
		return NULL;
	lw->turns = turns;
	uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
	uv_check_init(loop, &lw->check);
	lw->check.data = lw;
	uv_check_start(&lw->check, on_check);
	uv_unref((uv_handle_t *)&lw->check); /* never keeps the loop alive */
	return lw;
}

static void closed(uv_handle_t *h)
{
	tp_free(h->data);
}

void tp_loopwatch_close(struct tp_loopwatch *lw)
{
	if (lw && !uv_is_closing((uv_handle_t *)&lw->check))
		uv_close((uv_handle_t *)&lw->check, closed);
}
