/*
 * clock.c - wall and monotonic clocks as double seconds (see clock.h).
 */
#include <time.h>

#include "tickpush/clock.h"

static double seconds(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double tp_now(void)
{
	return seconds(CLOCK_REALTIME);
}

double tp_mono(void)
{
	return seconds(CLOCK_MONOTONIC);
}
