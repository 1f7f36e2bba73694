/*
 * supervise.c - the pure rules of the worker supervisor (see supervise.h):
 * the `workers` value and the restart backoff. No processes, no clocks:
 * server/io/supervisor.c measures uptimes and sleeps.
 *
 * Why backoff at all: a worker that dies at once on every start (a
 * broken Redis password is not such a case, it keeps running; a crash on
 * the first event in the cache would be) must not turn the supervisor
 * into a fork loop that floods the log and the CPU. Why forgive: a worker
 * that ran for a while and then crashed once should be back quickly.
 */
#include <stdlib.h>
#include <string.h>

#include "tickpush/ascii.h"
#include "tickpush/supervise.h"

const struct tp_restart_policy tp_restart_default = {
	.base = 0.5,
	.cap = 30.0,
	.stable = 10.0,
};

unsigned tp_workers_parse(const char *spec, long ncpu)
{
	unsigned long n = 0;

	if (!spec || !*spec)
		return 0;
	if (tp_ascii_ieq(spec, "auto")) {
		if (ncpu < 1)
			return 1;
		return ncpu > TP_WORKERS_MAX ? TP_WORKERS_MAX : (unsigned)ncpu;
	}
	for (const char *p = spec; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		n = n * 10 + (unsigned long)(*p - '0');
		if (n > TP_WORKERS_MAX)
			return 0;
	}
	return n >= 1 ? (unsigned)n : 0;
}

double tp_restart_delay(const struct tp_restart_policy *p,
			struct tp_restart_state *s, double uptime)
{
	double d = p->base;

	if (uptime >= p->stable)
		s->streak = 0;
	for (unsigned i = 0; i < s->streak && d < p->cap; i++)
		d *= 2;
	if (d > p->cap)
		d = p->cap;
	if (s->streak < 64)
		s->streak++;
	return d;
}

bool tp_restart_gives_up(unsigned restarts_before, bool exited, int status)
{
	return restarts_before == 0 && exited &&
	       status == TP_WORKER_EXIT_CANNOT_START;
}
