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
 *     the type lower-cased (tp_filter_match uses strcasecmp), so the event's
 *     type is lower-cased the same way for the lookup;
 *   - else the unconstrained bucket `any`, visited for every event.
 * The buckets only pre-select: tp_filter_match decides, so a superset of
 * candidates is harmless and a missing one is the only possible bug (the
 * property test in test_subindex.c checks equality with brute force).
 *
 * Structure: a bucket is an intrusive doubly-linked list of link nodes; an
 * entry filed under k keys carries its k link nodes in the same allocation,
 * so adding is one allocation (plus one per new bucket) and removal is O(k)
 * with no search. Links are pushed at the bucket head, which also makes
 * duplicate keys within one filter cheap to skip: filter lists are sorted
 * (filter.h), so equal keys come one after another, and a bucket that
 * already holds a link of the entry being added has it at its head. (Lists
 * are deduplicated already; this covers types that differ only past the
 * length a pattern type can have, which share a truncated key.) Empty buckets
 * are deleted (Redis pubsub does the same), so memory follows the live
 * subscriptions. All entries are also on one list, for size and destroy.
 *
 * Matching allocates nothing: two dict lookups (the type is lower-cased into
 * a stack buffer) and list walks.
 *
 * Ownership: the index owns entries and buckets; owners are opaque and
 * borrowed; cfilters are borrowed (the caller keeps a reference while the
 * entry is indexed). Single-threaded; tp_subindex_match must not be
 * re-entered and its callback must not add or remove entries (asserted).
 */
#include <ctype.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/dict.h"
#include "tickpush/err.h"
#include "tickpush/event.h"
#include "tickpush/subindex.h"

struct bucket;

struct link {
	struct link *prev, *next; /* within the bucket */
	struct bucket *bucket;
	struct tp_subentry *entry;
};

struct bucket {
	struct link *first;
	size_t n;
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
	struct bucket any;         /* unconstrained filters; never freed */
	struct tp_subentry *all;
	size_t size;
	size_t last_examined;
	bool matching; /* inside tp_subindex_match */
};

struct tp_subindex *tp_subindex_create(void)
{
	struct tp_subindex *ix = tp_calloc(1, sizeof(*ix));

	if (!ix)
		return NULL;
	ix->by_symbol = tp_dict_create();
	ix->by_type = tp_dict_create();
	if (!ix->by_symbol || !ix->by_type) {
		tp_dict_destroy(ix->by_symbol);
		tp_dict_destroy(ix->by_type);
		tp_free(ix);
		return NULL;
	}
	return ix;
}

static bool free_bucket(const char *key, void *value, void *ud)
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
	tp_dict_foreach(ix->by_symbol, free_bucket, NULL);
	tp_dict_foreach(ix->by_type, free_bucket, NULL);
	tp_dict_destroy(ix->by_symbol);
	tp_dict_destroy(ix->by_type);
	tp_free(ix);
}

/* Lower-cases s into out (cap bytes, NUL included), truncating: a type too
 * long for a pattern can never match, so where it is filed only needs to be
 * deterministic. */
static const char *lower_key(char *out, size_t cap, const char *s)
{
	size_t i;

	for (i = 0; i + 1 < cap && s[i]; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
	return out;
}

static void unlink_one(struct link *l)
{
	struct bucket *b = l->bucket;

	if (l->prev)
		l->prev->next = l->next;
	else
		b->first = l->next;
	if (l->next)
		l->next->prev = l->prev;
	b->n--;
	if (!b->n && b->dict) {
		void *gone = tp_dict_del(b->dict, b->key);

		TP_ASSERT(gone == b);
		tp_free(b);
	}
}

/* Files e under key in dict (or in `any` when dict is NULL). */
static int file_under(struct tp_subindex *ix, struct tp_dict *dict,
		      const char *key, struct tp_subentry *e)
{
	struct bucket *b;
	struct link *l;

	if (dict) {
		b = tp_dict_get(dict, key);
		if (!b) {
			size_t len = strlen(key);

			b = tp_malloc(sizeof(*b) + len + 1);
			if (!b)
				return TP_ERR_NOMEM;
			b->first = NULL;
			b->n = 0;
			b->dict = dict;
			memcpy(b->key, key, len + 1);
			if (tp_dict_set(dict, b->key, b, NULL)) {
				tp_free(b);
				return TP_ERR_NOMEM;
			}
		}
	} else {
		b = &ix->any;
	}
	/* A duplicate key of this entry: its earlier link is the head. */
	if (b->first && b->first->entry == e)
		return TP_OK;
	l = &e->links[e->n_links++];
	l->bucket = b;
	l->entry = e;
	l->prev = NULL;
	l->next = b->first;
	if (b->first)
		b->first->prev = l;
	b->first = l;
	b->n++;
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
		unlink_one(&e->links[--e->n_links]);
	tp_free(e);
	return rc;
}

void tp_subindex_remove(struct tp_subindex *ix, struct tp_subentry *e)
{
	if (!e)
		return;
	TP_ASSERT(!ix->matching);
	while (e->n_links)
		unlink_one(&e->links[--e->n_links]);
	if (e->prev)
		e->prev->next = e->next;
	else
		ix->all = e->next;
	if (e->next)
		e->next->prev = e->prev;
	ix->size--;
	tp_free(e);
}

/* Reports the matching entries of b; returns how many matched. */
static size_t visit(struct tp_subindex *ix, const struct bucket *b,
		    const struct tp_pattern *p, uint64_t gen,
		    tp_subindex_match_cb *cb, void *ud)
{
	size_t n = 0;

	if (!b)
		return 0;
	for (const struct link *l = b->first; l; l = l->next) {
		ix->last_examined++;
		if (tp_cfilter_match(l->entry->cf, p, gen)) {
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
	n += visit(ix, &ix->any, p, gen, cb, ud);
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
