/*
 * subindex.c - which pattern subscriptions can match an event (see
 * subindex.h).
 *
 * Responsibilities: file each subscription (an owner pointer plus a shared
 * compiled filter) by the most selective constraint its filter has, and for
 * an event visit only the subscriptions that could match it, evaluating
 * each distinct filter at most once (tp_cfilter_match memoises by event
 * generation) and reporting the owners that match.
 *
 * Filing rule (one category per entry, so an event never reaches an entry
 * twice):
 *   - the filter names symbols: one bucket per symbol in by_symbol, keyed by
 *     the symbol exactly as tp_filter_match compares it (strcmp). The ""
 *     that tp_filter_restrict_symbols leaves for "matches nothing" is filed
 *     like any symbol; no pattern has an empty symbol, so it is never
 *     visited;
 *   - else it names pattern types: one bucket per type in by_type, keyed by
 *     the type lower-cased (tp_filter_match compares without case), so the event's
 *     type is lower-cased the same way for the lookup;
 *   - else the unconstrained bucket `any`, visited for every event.
 * The buckets only pre-select: tp_filter_match decides, so a superset of
 * candidates is harmless and a missing one is the only possible bug (the
 * property test in test_subindex.c checks equality with brute force).
 *
 * Structure: a bucket holds one group per distinct cfilter filed in it, and
 * a group an intrusive doubly-linked list of link nodes, one per
 * subscription. Grouping is what makes the fan-out cheap: subscriptions
 * with equal filters share a cfilter (fcache), so an event costs one check
 * per distinct filter in the buckets it visits, and only the groups that
 * match are walked to report their owners (bench-fanout: 10k subscriptions
 * of which a fifth unconstrained, ~400 distinct filters). A group is found
 * on add through the groups dict, keyed by the (bucket, cfilter) pointer
 * pair. An entry filed under k keys carries its k link nodes in its own
 * allocation, so removal is O(k) with no search. Links are pushed at the
 * group head, which also makes duplicate keys within one filter cheap to
 * skip: filter lists are sorted (filter.h), so equal keys come one after
 * another, and a group that already holds a link of the entry being added
 * has it at its head. (Lists are deduplicated already; this covers types
 * that differ only past the length a pattern type can have, which share a
 * truncated key, and hand-built lists.) Empty groups and buckets are
 * deleted (Redis pubsub does the same), so memory follows the live
 * subscriptions. All entries are also on one list, for size and destroy.
 *
 * Matching allocates nothing: two dict lookups (the type is lower-cased into
 * a stack buffer) and list walks. last_examined counts the groups checked
 * (distinct filters per visited bucket), the quantity the cost scales with.
 *
 * Ownership: the index owns entries, groups and buckets; owners are opaque
 * and borrowed; cfilters are borrowed (the caller keeps a reference while
 * the entry is indexed). Single-threaded; tp_subindex_match must not be
 * re-entered and its callback must not add or remove entries (asserted).
 */
#include <stdio.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/ascii.h"
#include "tickpush/dict.h"
#include "tickpush/err.h"
#include "tickpush/event.h"
#include "tickpush/subindex.h"

struct bucket;
struct group;

struct link {
	struct link *prev, *next; /* within the group */
	struct group *group;
	struct tp_subentry *entry;
};

/* The subscriptions of one bucket that share one cfilter. */
struct group {
	struct group *prev, *next; /* within the bucket */
	struct bucket *bucket;
	struct tp_cfilter *cf;
	struct link *first;
	size_t n;
};

struct bucket {
	struct group *first;
	struct tp_dict *dict; /* the dict it is filed in; NULL for `any` */
	char key[];           /* its key in dict */
};

struct tp_subentry {
	struct tp_subentry *prev, *next; /* the all-entries list */
	struct tp_cfilter *cf;
	void *owner;
	size_t n_links; /* links in use */
	struct link links[];
};

struct tp_subindex {
	struct tp_dict *by_symbol; /* symbol -> struct bucket */
	struct tp_dict *by_type;   /* lower-cased pattern type -> struct bucket */
	struct tp_dict *groups;    /* "bucket cfilter" pointers -> struct group */
	struct bucket *any;        /* unconstrained filters (empty key); lives
				    * as long as the index */
	struct tp_subentry *all;
	size_t size;
	size_t last_examined;
	bool matching; /* inside tp_subindex_match */
};

/* "%p %p" of two pointers fits easily. */
#define GROUP_KEY_MAX 64

static const char *group_key(char out[GROUP_KEY_MAX], const struct bucket *b,
			     const struct tp_cfilter *cf)
{
	snprintf(out, GROUP_KEY_MAX, "%p %p", (const void *)b,
		 (const void *)cf);
	return out;
}

struct tp_subindex *tp_subindex_create(void)
{
	struct tp_subindex *ix = tp_calloc(1, sizeof(*ix));

	if (!ix)
		return NULL;
	ix->by_symbol = tp_dict_create();
	ix->by_type = tp_dict_create();
	ix->groups = tp_dict_create();
	/* Separately allocated: struct bucket ends in a flexible array. */
	ix->any = tp_calloc(1, sizeof(*ix->any) + 1);
	if (!ix->by_symbol || !ix->by_type || !ix->groups || !ix->any) {
		tp_dict_destroy(ix->by_symbol);
		tp_dict_destroy(ix->by_type);
		tp_dict_destroy(ix->groups);
		tp_free(ix->any);
		tp_free(ix);
		return NULL;
	}
	return ix;
}

static bool free_value(const char *key, void *value, void *ud)
{
	(void)key;
	(void)ud;
	tp_free(value);
	return true;
}

void tp_subindex_destroy(struct tp_subindex *ix)
{
	if (!ix)
		return;
	/* Entries should be gone already; free leftovers so a caller bug
	 * does not also leak (their handles are invalid from here on). */
	while (ix->all) {
		struct tp_subentry *e = ix->all;

		ix->all = e->next;
		tp_free(e);
	}
	tp_dict_foreach(ix->groups, free_value, NULL);
	tp_dict_foreach(ix->by_symbol, free_value, NULL);
	tp_dict_foreach(ix->by_type, free_value, NULL);
	tp_dict_destroy(ix->groups);
	tp_dict_destroy(ix->by_symbol);
	tp_dict_destroy(ix->by_type);
	tp_free(ix->any);
	tp_free(ix);
}

/* Lower-cases s into out (cap bytes, NUL included), truncating: a type too
 * long for a pattern can never match, so where it is filed only needs to be
 * deterministic. */
static const char *lower_key(char *out, size_t cap, const char *s)
{
	tp_ascii_lower_into(out, cap, s);
	return out;
}

/* Deletes b if it has no groups left (never the `any` bucket). */
static void drop_bucket_if_empty(struct bucket *b)
{
	void *gone;

	if (b->first || !b->dict)
		return;
	gone = tp_dict_del(b->dict, b->key);
	TP_ASSERT(gone == b);
	tp_free(b);
}

static void drop_group_if_empty(struct tp_subindex *ix, struct group *g)
{
	struct bucket *b = g->bucket;
	char key[GROUP_KEY_MAX];
	void *gone;

	if (g->n)
		return;
	if (g->prev)
		g->prev->next = g->next;
	else
		b->first = g->next;
	if (g->next)
		g->next->prev = g->prev;
	gone = tp_dict_del(ix->groups, group_key(key, b, g->cf));
	TP_ASSERT(gone == g);
	tp_free(g);
	drop_bucket_if_empty(b);
}

static void unlink_one(struct tp_subindex *ix, struct link *l)
{
	struct group *g = l->group;

	if (l->prev)
		l->prev->next = l->next;
	else
		g->first = l->next;
	if (l->next)
		l->next->prev = l->prev;
	g->n--;
	drop_group_if_empty(ix, g);
}

/* The bucket for key in dict, created empty if missing. */
static struct bucket *get_bucket(struct tp_dict *dict, const char *key)
{
	struct bucket *b = tp_dict_get(dict, key);
	size_t len;

	if (b)
		return b;
	len = strlen(key);
	b = tp_malloc(sizeof(*b) + len + 1);
	if (!b)
		return NULL;
	b->first = NULL;
	b->dict = dict;
	memcpy(b->key, key, len + 1);
	if (tp_dict_set(dict, b->key, b, NULL)) {
		tp_free(b);
		return NULL;
	}
	return b;
}

/* The group of cf in b, created empty if missing. */
static struct group *get_group(struct tp_subindex *ix, struct bucket *b,
			       struct tp_cfilter *cf)
{
	char key[GROUP_KEY_MAX];
	struct group *g;

	group_key(key, b, cf);
	g = tp_dict_get(ix->groups, key);
	if (g)
		return g;
	g = tp_calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->bucket = b;
	g->cf = cf;
	if (tp_dict_set(ix->groups, key, g, NULL)) {
		tp_free(g);
		return NULL;
	}
	g->next = b->first;
	if (b->first)
		b->first->prev = g;
	b->first = g;
	return g;
}

/* Files e under key in dict (or in `any` when dict is NULL). On failure
 * nothing new is left behind (an empty bucket or group is dropped). */
static int file_under(struct tp_subindex *ix, struct tp_dict *dict,
		      const char *key, struct tp_subentry *e)
{
	struct bucket *b = dict ? get_bucket(dict, key) : ix->any;
	struct group *g;
	struct link *l;

	if (!b)
		return TP_ERR_NOMEM;
	g = get_group(ix, b, e->cf);
	if (!g) {
		drop_bucket_if_empty(b);
		return TP_ERR_NOMEM;
	}
	/* A duplicate key of this entry: its earlier link is the head. */
	if (g->first && g->first->entry == e)
		return TP_OK;
	l = &e->links[e->n_links++];
	l->group = g;
	l->entry = e;
	l->prev = NULL;
	l->next = g->first;
	if (g->first)
		g->first->prev = l;
	g->first = l;
	g->n++;
	return TP_OK;
}

int tp_subindex_add(struct tp_subindex *ix, struct tp_cfilter *cf,
		    void *owner, struct tp_subentry **out)
{
	const struct tp_filter *f = &cf->filter;
	struct tp_subentry *e = NULL;
	size_t k = f->n_symbols ? f->n_symbols
		   : f->n_pattern_types ? f->n_pattern_types : 1;
	int rc = TP_OK;

	TP_ASSERT(!ix->matching);
	*out = NULL;
	e = tp_malloc(sizeof(*e) + k * sizeof(e->links[0]));
	if (!e)
		return TP_ERR_NOMEM;
	e->cf = cf;
	e->owner = owner;
	e->n_links = 0;
	if (f->n_symbols) {
		for (size_t i = 0; i < f->n_symbols && !rc; i++)
			rc = file_under(ix, ix->by_symbol, f->symbols[i], e);
	} else if (f->n_pattern_types) {
		for (size_t i = 0; i < f->n_pattern_types && !rc; i++) {
			char key[TP_PATTERN_TYPE_MAX + 1];

			rc = file_under(ix, ix->by_type,
					lower_key(key, sizeof(key),
						  f->pattern_types[i]), e);
		}
	} else {
		rc = file_under(ix, NULL, NULL, e);
	}
	if (rc)
		goto fail;
	e->prev = NULL;
	e->next = ix->all;
	if (ix->all)
		ix->all->prev = e;
	ix->all = e;
	ix->size++;
	*out = e;
	return TP_OK;
fail:
	while (e->n_links)
		unlink_one(ix, &e->links[--e->n_links]);
	tp_free(e);
	return rc;
}

void tp_subindex_remove(struct tp_subindex *ix, struct tp_subentry *e)
{
	if (!e)
		return;
	TP_ASSERT(!ix->matching);
	while (e->n_links)
		unlink_one(ix, &e->links[--e->n_links]);
	if (e->prev)
		e->prev->next = e->next;
	else
		ix->all = e->next;
	if (e->next)
		e->next->prev = e->prev;
	ix->size--;
	tp_free(e);
}

/* Reports the matching subscriptions of b; returns how many matched. */
static size_t visit(struct tp_subindex *ix, const struct bucket *b,
		    const struct tp_pattern *p, uint64_t gen,
		    tp_subindex_match_cb *cb, void *ud)
{
	size_t n = 0;

	if (!b)
		return 0;
	for (const struct group *g = b->first; g; g = g->next) {
		ix->last_examined++;
		if (!tp_cfilter_match(g->cf, p, gen))
			continue;
		for (const struct link *l = g->first; l; l = l->next) {
			cb(l->entry->owner, ud);
			n++;
		}
	}
	return n;
}

size_t tp_subindex_match(struct tp_subindex *ix, const struct tp_pattern *p,
			 uint64_t gen, tp_subindex_match_cb *cb, void *ud)
{
	char type[TP_PATTERN_TYPE_MAX + 1];
	size_t n = 0;

	TP_ASSERT(!ix->matching);
	ix->matching = true;
	ix->last_examined = 0;
	if (tp_dict_size(ix->by_symbol))
		n += visit(ix, tp_dict_get(ix->by_symbol, p->symbol), p, gen,
			   cb, ud);
	if (tp_dict_size(ix->by_type))
		n += visit(ix, tp_dict_get(ix->by_type,
					   lower_key(type, sizeof(type),
						     p->pattern_type)),
			   p, gen, cb, ud);
	n += visit(ix, ix->any, p, gen, cb, ud);
	ix->matching = false;
	return n;
}

size_t tp_subindex_size(const struct tp_subindex *ix)
{
	return ix->size;
}

size_t tp_subindex_last_examined(const struct tp_subindex *ix)
{
	return ix->last_examined;
}

size_t tp_subindex_buckets(const struct tp_subindex *ix)
{
	return tp_dict_size(ix->by_symbol) + tp_dict_size(ix->by_type);
}
