/*
 * ratelimit.c - a token bucket per key (a client address, an account
 * name), for the login limits (see ratelimit.h).
 *
 * Design: the buckets are the base floor's tp_tbucket, kept in a
 * tp_lrumap, so the number of keys is bounded and the least recently seen
 * key is forgotten first in O(1). A forgotten key comes back with a full
 * bucket: the bound on memory wins over the limit.
 *
 * Ownership: the limiter owns its keys and buckets; callers' keys are
 * copied.
 */
#include <math.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/err.h"
#include "tickpush/lrumap.h"
#include "tickpush/ratelimit.h"
#include "tickpush/tbucket.h"


struct tp_ratelimit {
	struct tp_lrumap keys; /* key -> struct tp_tbucket */
	double rate, burst;
};

struct tp_ratelimit *tp_ratelimit_create(double rate, double burst,
					 size_t max_entries)
{
	struct tp_ratelimit *rl;

	if (!(rate > 0) || !isfinite(rate) || !(burst >= 1) ||
	    !isfinite(burst) || !max_entries)
		return NULL;
	if (!(rl = tp_calloc(1, sizeof(*rl))))
		return NULL;
	if (tp_lrumap_init(&rl->keys, max_entries, sizeof(struct tp_tbucket))) {
		tp_free(rl);
		return NULL;
	}
	rl->rate = rate;
	rl->burst = burst;
	return rl;
}

int tp_ratelimit_set(struct tp_ratelimit *rl, double rate, double burst)
{
	if (!(rate > 0) || !isfinite(rate) || !(burst >= 1) || !isfinite(burst))
		return TP_ERR_INVAL;
	/* Buckets above the new burst are cut down when next used. */
	rl->rate = rate;
	rl->burst = burst;
	return TP_OK;
}

void tp_ratelimit_destroy(struct tp_ratelimit *rl)
{
	if (!rl)
		return;
	tp_lrumap_cleanup(&rl->keys);
	tp_free(rl);
}

bool tp_ratelimit_allow(struct tp_ratelimit *rl, const char *key, double now)
{
	struct tp_tbucket *bucket;

	if (!rl || !key)
		return false;
	if (!(bucket = tp_lrumap_touch(&rl->keys, key))) {
		if (!(bucket = tp_lrumap_add(&rl->keys, key)))
			return false;
		bucket->last = now; /* a zeroed bucket is full */
	}
	return tp_tbucket_take(bucket, rl->rate, rl->burst, now);
}

void tp_ratelimit_refund(struct tp_ratelimit *rl, const char *key)
{
	struct tp_tbucket *bucket = rl && key ? tp_lrumap_peek(&rl->keys, key) : NULL;

	if (bucket)
		tp_tbucket_refund(bucket);
}

double tp_ratelimit_retry_after(const struct tp_ratelimit *rl, const char *key,
				double now)
{
	const struct tp_tbucket *bucket = rl && key ? tp_lrumap_peek(&rl->keys, key) : NULL;

	return bucket ? tp_tbucket_wait(bucket, rl->rate, rl->burst, now) : 0;
}

size_t tp_ratelimit_size(const struct tp_ratelimit *rl)
{
	return rl ? tp_lrumap_size(&rl->keys) : 0;
}
