/*
 * loopwatch.h - how long each turn of the event loop keeps it busy
 * (server/io/loopwatch.c).
 *
 * Everything tickpush does runs on one loop, so one long turn delays every
 * session, request and Redis reply behind it. The watch measures each
 * turn's busy time (wall time between two checks minus the time the loop
 * spent waiting in epoll), feeds the histogram tickpush_loop_busy_seconds,
 * and logs a turn that kept the loop busy for LOOPWATCH_SLOW_S or more
 * (at most once a second), with the CPU time the thread got in it: CPU
 * close to the busy time means our own work was long; much less means the
 * machine took the core away.
 */
#ifndef TICKPUSH_IO_LOOPWATCH_H
#define TICKPUSH_IO_LOOPWATCH_H

#include <stdint.h>

#include <uv.h>

struct tp_loopwatch;

/* Starts watching (the loop must not have run yet: it is configured to
 * account its idle time); *turns is incremented once per turn (the turn
 * number http.c tells lws's nested loops from turns by). NULL when out of
 * memory. */
struct tp_loopwatch *tp_loopwatch_start(uv_loop_t *loop, uint64_t *turns);

/* Closes the handle; the watch is freed when the loop has closed it. */
void tp_loopwatch_close(struct tp_loopwatch *lw); /* NULL-safe */

#endif
