/*
 * clock.h - the two clocks (server/base/clock.c).
 *
 * Pure modules never read a clock: they take "now" as an argument, so tests
 * choose the time. The I/O layer reads these and passes the value down.
 */
#ifndef TICKPUSH_CLOCK_H
#define TICKPUSH_CLOCK_H

/* Wall-clock time, epoch seconds (timestamps shown to users, expiry). */
double tp_now(void);
/* Monotonic seconds (durations, deadlines, rate limits). */
double tp_mono(void);

#endif
