/*
 * fcache.c - compiled filters shared by identical specs (see fcache.h).
 *
 * Responsibilities: map a filter's canonical text (tp_filter_canonical) to
 * one refcounted struct tp_cfilter, so subscriptions with equal filters
 * share it and the fan-out evaluates each distinct filter once per event;
 * count hits and misses.
 *
 * Invariants: every cfilter in the dict has refs >= 1 and is filed under
 * its own canon; the dict holds exactly the live cfilters (the last release
 * removes and frees the entry, so there is no LRU and no bound: every entry
 * has a subscriber). A cfilter's filter is a deep copy taken on the miss and
 * never changes afterwards, which is what makes sharing it safe.
 *
 * Memo: tp_cfilter_match remembers the result for one event generation.
 * Generation 0 is reserved as "no memo" (a fresh cfilter has memo_gen 0,
 * and a call with gen 0 always evaluates and records nothing), so callers
 * number events from 1.
 *
 * Ownership: the cache owns every cfilter (struct, filter copy, canon) and
 * the dict (which keeps its own key copy). Callers hold references, never
 * ownership. Single-threaded.
 */
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/dict.h"
#include "tickpush/err.h"
#include "tickpush/fcache.h"

struct tp_fcache {
	struct tp_dict *by_canon; /* canonical text -> struct tp_cfilter */
	uint64_t hits, misses;
};

struct tp_fcache *tp_fcache_create(void)
{
	struct tp_fcache *fc = tp_calloc(1, sizeof(*fc));

	if (!fc)
		return NULL;
	fc->by_canon = tp_dict_create();
	if (!fc->by_canon) {
		tp_free(fc);
		return NULL;
	}
	return fc;
}

static void cfilter_free(struct tp_cfilter *cf)
{
	if (!cf)
		return;
	tp_filter_cleanup(&cf->filter);
	tp_free(cf->canon);
	tp_free(cf);
}

static bool free_entry(const char *key, void *value, void *ud)
{
	(void)key;
	(void)ud;
	cfilter_free(value);
	return true;
}

void tp_fcache_destroy(struct tp_fcache *fc)
{
	if (!fc)
		return;
	/* Entries left here are a caller bug (a reference never released);
	 * free them anyway so shutdown does not leak. */
	tp_dict_foreach(fc->by_canon, free_entry, NULL);
	tp_dict_destroy(fc->by_canon);
	tp_free(fc);
}

int tp_fcache_acquire(struct tp_fcache *fc, const struct tp_filter *f,
		      struct tp_cfilter **out)
{
	struct tp_buf key;
	struct tp_cfilter *cf = NULL;
	int rc = TP_ERR_NOMEM;

	*out = NULL;
	tp_buf_init(&key, 0);
	tp_filter_canonical(f, &key);
	if (key.oom)
		goto fail;
	cf = tp_dict_get(fc->by_canon, tp_buf_cstr(&key));
	if (cf) {
		cf->refs++;
		fc->hits++;
		*out = cf;
		cf = NULL; /* shared: not ours to free */
		rc = TP_OK;
		goto done;
	}
	cf = tp_calloc(1, sizeof(*cf));
	if (!cf)
		goto fail;
	tp_filter_init(&cf->filter);
	if (tp_filter_copy(&cf->filter, f))
		goto fail;
	cf->canon = tp_strdup(tp_buf_cstr(&key));
	if (!cf->canon)
		goto fail;
	if (tp_dict_set(fc->by_canon, cf->canon, cf, NULL))
		goto fail;
	cf->refs = 1;
	cf->memo_gen = 0; /* 0 = nothing memoised */
	cf->memo_match = false;
	fc->misses++;
	*out = cf;
	cf = NULL;
	rc = TP_OK;
	goto done;
fail:
	cfilter_free(cf);
	cf = NULL;
done:
	tp_buf_cleanup(&key);
	return rc;
}

void tp_fcache_release(struct tp_fcache *fc, struct tp_cfilter *cf)
{
	void *gone;

	if (!cf)
		return;
	TP_ASSERT(cf->refs > 0);
	if (--cf->refs)
		return;
	/* The dict must hold this very cfilter under its canon: anything else
	 * means it came from another cache or was released twice. */
	gone = tp_dict_del(fc->by_canon, cf->canon);
	TP_ASSERT(gone == cf);
	cfilter_free(cf);
}

bool tp_cfilter_match(struct tp_cfilter *cf, const struct tp_pattern *p,
		      uint64_t gen)
{
	bool m;

	if (gen && cf->memo_gen == gen)
		return cf->memo_match;
	m = tp_filter_match(&cf->filter, p);
	if (gen) {
		cf->memo_gen = gen;
		cf->memo_match = m;
	}
	return m;
}

size_t tp_fcache_size(const struct tp_fcache *fc)
{
	return tp_dict_size(fc->by_canon);
}

uint64_t tp_fcache_hits(const struct tp_fcache *fc)
{
	return fc->hits;
}

uint64_t tp_fcache_misses(const struct tp_fcache *fc)
{
	return fc->misses;
}
