/*
 * tbucket.c - token bucket (see tbucket.h).
 *
 * The state counts tokens used rather than tokens left so that a zeroed
 * struct (static, calloc) is a full bucket without an init call.
 */
#include <math.h>

#include "tickpush/tbucket.h"

/* Refills computed in several steps can fall short of a whole token by a
 * rounding error; a bucket that is full to within this is full. */
#define SLACK 1e-9

/* used after refilling up to now (not stored). */
static double used_at(const struct tp_tbucket *b, double rate, double now)
{
	double elapsed = now - b->last;

	return elapsed > 0 ? fmax(0, b->used - elapsed * rate) : b->used;
}

bool tp_tbucket_take(struct tp_tbucket *b, double rate, double burst, double now)
{
	if (now - b->last > 0) {
		b->used = used_at(b, rate, now);
		b->last = now;
	}
	if (b->used + 1 <= burst + SLACK) {
		b->used += 1;
		return true;
	}
	return false;
}

void tp_tbucket_refund(struct tp_tbucket *b)
{
	b->used = fmax(0, b->used - 1);
}

double tp_tbucket_wait(const struct tp_tbucket *b, double rate, double burst,
		       double now)
{
	double used = used_at(b, rate, now);

	return used + 1 <= burst + SLACK ? 0 : (used + 1 - burst) / rate;
}
