/*
 * fcache.h - compiled filters shared by identical specs (server/core/fcache.c).
 *
 * Subscriptions with the same filter (same canonical form, see
 * tp_filter_canonical) share one refcounted struct tp_cfilter, so the
 * fan-out evaluates each distinct filter once per event: the cfilter
 * memoises its last result by event generation. Unused entries are freed
 * when their last reference goes (no LRU needed: every live entry has a
 * subscriber).
 */
#ifndef TICKPUSH_FCACHE_H
#define TICKPUSH_FCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tickpush/filter.h"

struct tp_cfilter {
	struct tp_filter filter;  /* read-only once acquired */
	char *canon;              /* canonical text, the cache key */
	size_t refs;
	/* Memo for the fan-out: result of the last evaluation and the event
	 * generation it belongs to. */
	uint64_t memo_gen;
	bool memo_match;
};

struct tp_fcache;

struct tp_fcache *tp_fcache_create(void);
/* Frees the cache; every cfilter must have been released. NULL-safe. */
void tp_fcache_destroy(struct tp_fcache *fc);

/* Returns (in *out) the shared compiled filter equal to f, creating it (a
 * deep copy of f) on first use; takes one reference. TP_OK/TP_ERR_NOMEM. */
int tp_fcache_acquire(struct tp_fcache *fc, const struct tp_filter *f,
		      struct tp_cfilter **out);
void tp_fcache_release(struct tp_fcache *fc, struct tp_cfilter *cf); /* NULL-safe */

/* Evaluates cf against p for event generation gen, at most once per gen.
 * Generation 0 means "no memo": it always evaluates and records nothing,
 * so number events from 1. */
bool tp_cfilter_match(struct tp_cfilter *cf, const struct tp_pattern *p,
		      uint64_t gen);

size_t tp_fcache_size(const struct tp_fcache *fc);
uint64_t tp_fcache_hits(const struct tp_fcache *fc);
uint64_t tp_fcache_misses(const struct tp_fcache *fc);

#endif
