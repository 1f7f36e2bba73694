/*
 * subindex.h - which pattern subscriptions can match an event
 * (server/core/subindex.c).
 *
 * A subscription whose filter names symbols is filed under each of its
 * symbols; otherwise one that names pattern types under each (lower-cased)
 * type; otherwise on the unconstrained list. An event with symbol S and
 * type T can only match subscriptions filed under S, under T, or
 * unconstrained, so the fan-out looks at those buckets only and evaluates
 * their (shared) filters; a subscription sits in exactly one category, so
 * nothing is visited twice. Empty buckets are deleted (as Redis pubsub
 * does), so memory follows the live subscriptions.
 */
#ifndef TICKPUSH_SUBINDEX_H
#define TICKPUSH_SUBINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "tickpush/fcache.h"

struct tp_subindex;

/* An indexed subscription. The index does not own owner; cf is borrowed
 * (the caller holds a reference for as long as the entry is indexed). */
struct tp_subentry;

struct tp_subindex *tp_subindex_create(void);
void tp_subindex_destroy(struct tp_subindex *ix); /* entries must be gone */

/* Files owner with cf; returns the entry handle in *out. TP_OK/NOMEM (the
 * index unchanged). remove is NULL-safe. */
int tp_subindex_add(struct tp_subindex *ix, struct tp_cfilter *cf,
		    void *owner, struct tp_subentry **out);
void tp_subindex_remove(struct tp_subindex *ix, struct tp_subentry *e);

/* Calls cb(owner) for every subscription whose filter matches p, each
 * filter evaluated at most once for generation gen (pass a fresh gen per
 * event); returns how many matched. Must not be re-entered; cb must not add
 * or remove entries. */
typedef void tp_subindex_match_cb(void *owner, void *ud);
size_t tp_subindex_match(struct tp_subindex *ix, const struct tp_pattern *p,
			 uint64_t gen, tp_subindex_match_cb *cb, void *ud);

size_t tp_subindex_size(const struct tp_subindex *ix);
/* Candidates examined by the last tp_subindex_match (tests check that a
 * selective event looks at few entries). Subscriptions filed in one bucket
 * with the same cfilter are examined together: this counts distinct
 * filters per visited bucket. */
size_t tp_subindex_last_examined(const struct tp_subindex *ix);
/* Symbol and pattern-type buckets currently allocated (the unconstrained
 * list is not counted); tests check that empty buckets are deleted. */
size_t tp_subindex_buckets(const struct tp_subindex *ix);

#endif
