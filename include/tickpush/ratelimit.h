/*
 * ratelimit.h - the login rate limiter: a token bucket per key
 * (server/core/ratelimit.c).
 *
 * Pure: the clock is passed in. Like the rest of tp_core this runs on the
 * loop thread.
 */
#ifndef TICKPUSH_RATELIMIT_H
#define TICKPUSH_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>

/* A token bucket per key (a client address, an account name): each
 * attempt takes one token, tokens refill at rate per second up to burst.
 * At most max_entries keys are tracked; beyond that the least recently
 * seen key is forgotten (which gives that key a fresh bucket: the bound on
 * memory wins). */
struct tp_ratelimit;

struct tp_ratelimit *tp_ratelimit_create(double rate, double burst,
					 size_t max_entries);
void tp_ratelimit_destroy(struct tp_ratelimit *rl); /* NULL-safe */
/* New rate and burst (a reload); tracked keys keep their tokens, at most
 * the new burst. TP_OK or TP_ERR_INVAL (same rules as create). */
int tp_ratelimit_set(struct tp_ratelimit *rl, double rate, double burst);

/* True when key may make an attempt at time now (and takes a token).
 * A clock that goes backwards refills nothing. Out of memory denies. */
bool tp_ratelimit_allow(struct tp_ratelimit *rl, const char *key, double now);
/* Gives back the token an attempt took (at most up to burst), so only
 * some outcomes count (failed logins). Unknown keys: nothing happens. */
void tp_ratelimit_refund(struct tp_ratelimit *rl, const char *key);
/* Seconds until key has a whole token again (0: it has one, or is not
 * tracked): the Retry-After of a refusal. */
double tp_ratelimit_retry_after(const struct tp_ratelimit *rl, const char *key,
				double now);
size_t tp_ratelimit_size(const struct tp_ratelimit *rl);

#endif
