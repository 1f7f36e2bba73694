/*
 * respcache.h - the coherent scan response cache (server/core/respcache.c).
 *
 * Keyed by the canonical scan query. An entry stores the matching ids of one
 * page and the total, not rendered bytes, so time/exp are rendered fresh at
 * response time. Coherence: every change to the store is offered to
 * tp_respcache_invalidate_pattern, which drops exactly the entries whose
 * filter the pattern matches (a pattern no filter matches leaves the cache
 * alone). Entries also die after ttl seconds. Bounded by max_entries (LRU).
 * An entry may also keep a memo of its rendered answer (scancache.c).
 */
#ifndef TICKPUSH_RESPCACHE_H
#define TICKPUSH_RESPCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tickpush/event.h"
#include "tickpush/query.h"

struct tp_respcache;

struct tp_respcache_entry {
	char **ids;     /* n_ids ids of the page, in order */
	size_t n_ids;
	size_t total;
};

struct tp_respcache *tp_respcache_create(size_t max_entries, double ttl);
void tp_respcache_destroy(struct tp_respcache *rc); /* NULL-safe */

/* Looks up key at time now; counts a hit or a miss. Returns the entry
 * (borrowed, valid until the next call that mutates the cache) or NULL. */
const struct tp_respcache_entry *tp_respcache_get(struct tp_respcache *rc,
						  const char *key, double now);

/* Stores a result for key; the filter of q is copied to decide future
 * invalidations. Replaces an existing entry. TP_OK / TP_ERR_NOMEM. */
int tp_respcache_put(struct tp_respcache *rc, const char *key,
		     const struct tp_scan_query *q, const char *const *ids,
		     size_t n_ids, size_t total, double now);

/* The memo: one rendering of an entry's answer, valid for now in [from,
 * until] (the caller vouches for that interval). It is dropped with the
 * entry. All memos together stay within TP_RESPCACHE_MEMO_BYTES; set
 * keeps nothing beyond that, or on failure (the caller renders again). */
#define TP_RESPCACHE_MEMO_BYTES (4u << 20)
bool tp_respcache_memo_get(const struct tp_respcache_entry *e, double now,
			   const char **data, size_t *len);
void tp_respcache_memo_set(struct tp_respcache *rc,
			   const struct tp_respcache_entry *e,
			   const char *data, size_t len, double from, double until);

/* Drops the entry for key (e.g. a listed id turned out to be gone). */
void tp_respcache_drop(struct tp_respcache *rc, const char *key);

/* Drops every entry whose filter matches p; returns how many. */
size_t tp_respcache_invalidate_pattern(struct tp_respcache *rc,
				       const struct tp_pattern *p);
void tp_respcache_clear(struct tp_respcache *rc);

size_t tp_respcache_size(const struct tp_respcache *rc);
uint64_t tp_respcache_hits(const struct tp_respcache *rc);
uint64_t tp_respcache_misses(const struct tp_respcache *rc);
/* hits/(hits+misses), 1.0 before any lookup. */
double tp_respcache_hit_ratio(const struct tp_respcache *rc);

#endif
