/*
 * tbucket.h - a token bucket (server/base/tbucket.c).
 *
 * The one rate limiter: WebSocket client frames, login attempts per key
 * and rate-limited log lines all use it. Tokens refill at rate per second
 * up to burst; an action takes one. The bucket keeps no rate or burst of
 * its own (callers have them in their configuration), only its state, so
 * it is two doubles and a zeroed bucket is a full one.
 *
 * Time is passed in (any clock, as long as the same one every call). A
 * clock that goes backwards, or NaN, refills nothing.
 */
#ifndef TICKPUSH_TBUCKET_H
#define TICKPUSH_TBUCKET_H

#include <stdbool.h>

struct tp_tbucket {
	double used;  /* tokens taken and not refilled yet: 0 = full */
	double last;  /* time of the last refill */
};

/* Takes a token at now if there is one (true), else false. */
bool tp_tbucket_take(struct tp_tbucket *b, double rate, double burst, double now);

/* Gives one token back (never above burst): only some outcomes count. */
void tp_tbucket_refund(struct tp_tbucket *b);

/* Seconds from now until a whole token is there (0: there is one). */
double tp_tbucket_wait(const struct tp_tbucket *b, double rate, double burst,
		       double now);

#endif
