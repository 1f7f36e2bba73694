/*
 * supervise.h - the pure rules of the worker supervisor
 * (server/core/supervise.c; the processes themselves are
 * server/io/supervisor.c).
 *
 * Two decisions live here so they can be tested without forking: how many
 * workers a `workers` value means, and how long to wait before restarting
 * a worker that died (exponential backoff, capped, forgiven after a worker
 * has run long enough to count as healthy).
 */
#ifndef TICKPUSH_SUPERVISE_H
#define TICKPUSH_SUPERVISE_H

#include <stdbool.h>

/* Most workers one supervisor runs (the supervisor keeps a fixed table). */
#define TP_WORKERS_MAX 256

/* Parses a `workers` value: "auto" (= ncpu, at least 1, at most
 * TP_WORKERS_MAX) or a decimal 1..TP_WORKERS_MAX. Returns the count, or 0
 * when the text is neither. */
unsigned tp_workers_parse(const char *spec, long ncpu);

/* Restart backoff. The first restart of a worker waits `base` seconds;
 * each further death within `stable` seconds of its start doubles the wait,
 * up to `cap`. A worker that ran for `stable` seconds or longer starts the
 * series again at `base`. */
struct tp_restart_policy {
	double base;    /* first wait, seconds */
	double cap;     /* longest wait, seconds */
	double stable;  /* uptime that forgives earlier crashes, seconds */
};

/* The policy tickpush uses: 0.5 s, doubling, at most 30 s, forgiven
 * after 10 s of uptime. */
extern const struct tp_restart_policy tp_restart_default;

/* Per worker slot: deaths in a row that came too soon. */
struct tp_restart_state {
	unsigned streak;
};

/* A worker of this slot died after `uptime` seconds: returns how long to
 * wait before starting its replacement, and updates the streak. */
double tp_restart_delay(const struct tp_restart_policy *p,
			struct tp_restart_state *s, double uptime);

/* Exit status 2 is a worker saying it could not start (tickpush's exit
 * codes). From the first process of a slot that is a setup error every
 * replacement would hit too (a missing secret, an unusable address), so
 * the supervisor stops and exits 2 as a single process would; from a
 * replacement it is retried like any death. */
#define TP_WORKER_EXIT_CANNOT_START 2
bool tp_restart_gives_up(unsigned restarts_before, bool exited, int status);

#endif
