/*
 * respcache.c - the coherent scan response cache (see respcache.h).
 *
 * Responsibilities: remember the result of a scan query (the ids of one page
 * and the total) under its canonical key, hand it back to an identical query
 * until something could have changed it, and count hits and misses.
 *
 * Why ids and not rendered bytes: a row's "time" (age) and "exp" (time
 * left) fields change every second, and docs/rest.md promises them to
 * be correct at the moment of the response, also for a cached answer. So
 * the cache only saves the expensive part (filter, sort, page over the
 * store); the caller looks each id up in the store and renders the rows
 * fresh. An id that is gone by then means the entry raced a removal; the
 * caller drops the entry (tp_respcache_drop) and rescans.
 *
 * Coherence: the store offers every record that enters or leaves (new and
 * replaced versions alike) to tp_respcache_invalidate_pattern. An entry is
 * dropped when its filter matches that record, since the record could then
 * enter or leave the result or move within it. An entry that lists the
 * record's id is dropped too: that covers an update which stops matching
 * even if the caller only offered the new version. Everything else is left
 * alone, so unrelated ingest traffic does not flush the cache. Entries also
 * die ttl seconds after they were stored (now >= created + ttl), checked
 * lazily on lookup.
 *
 * Structure: a tp_dict key -> entry and a tp_lru list through the entries
 * (head = most recently used). Putting into a full cache evicts the tail.
 * Invalidation walks the list: the cache is bounded by max_entries and
 * tp_filter_match allocates nothing, so this is a short, cheap loop.
 *
 * Rendered bytes after all, but only as a memo (tp_respcache_memo_*): the
 * scan path may keep one rendering of an entry's answer with the entry,
 * with the interval of time over which that rendering is exactly what it
 * would render afresh (scancache.c decides it). The memo dies with its
 * entry, so with every change to the store that could alter the rows;
 * all memos together are bounded by TP_RESPCACHE_MEMO_BYTES (beyond it
 * no new memo is kept, which only costs a fresh rendering).
 *
 * Ownership: each entry owns its key copy, a tp_filter copy, its ids (one
 * block) and its memo. tp_respcache_get returns a borrowed pointer valid until the next
 * call that mutates the cache. Single-threaded.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/dict.h"
#include "tickpush/err.h"
#include "tickpush/filter.h"
#include "tickpush/lru.h"
#include "tickpush/respcache.h"

struct entry {
	struct tp_respcache_entry pub; /* what get() returns */
	struct tp_lru_node link;       /* on the LRU list */
	struct tp_filter filter;
	double created;
	char *key;
	char *memo;                    /* rendered answer, NULL = none */
	size_t memo_len;
	double memo_from, memo_until;  /* it holds for now in [from, until] */
};

struct tp_respcache {
	struct tp_dict *by_key;
	struct tp_lru lru;             /* head = most recently used */
	size_t n;
	size_t max_entries;
	double ttl;
	uint64_t hits, misses;
	size_t memo_bytes;             /* of all memos */
};

static void memo_drop(struct tp_respcache *rc, struct entry *e)
{
	rc->memo_bytes -= e->memo_len;
	tp_free(e->memo);
	e->memo = NULL;
	e->memo_len = 0;
}

static void entry_free(struct tp_respcache *rc, struct entry *e)
{
	if (!e)
		return;
	memo_drop(rc, e);
	tp_free(e->pub.ids); /* the ids' bytes too (copy_ids) */
	tp_filter_cleanup(&e->filter);
	tp_free(e->key);
	tp_free(e);
}

static struct entry *entry_of(struct tp_lru_node *n)
{
	return n ? tp_lru_entry(n, struct entry, link) : NULL;
}

static void entry_drop(struct tp_respcache *rc, struct entry *e)
{
	tp_lru_unlink(&rc->lru, &e->link);
	tp_dict_del(rc->by_key, e->key);
	rc->n--;
	entry_free(rc, e);
}

struct tp_respcache *tp_respcache_create(size_t max_entries, double ttl)
{
	struct tp_respcache *rc = tp_calloc(1, sizeof(*rc));

	if (!rc)
		return NULL;
	rc->by_key = tp_dict_create();
	if (!rc->by_key) {
		tp_free(rc);
		return NULL;
	}
	rc->max_entries = max_entries;
	rc->ttl = ttl;
	return rc;
}

void tp_respcache_clear(struct tp_respcache *rc)
{
	if (!rc)
		return;
	while (rc->lru.head)
		entry_drop(rc, entry_of(rc->lru.head));
}

void tp_respcache_destroy(struct tp_respcache *rc)
{
	if (!rc)
		return;
	tp_respcache_clear(rc);
	tp_dict_destroy(rc->by_key);
	tp_free(rc);
}

const struct tp_respcache_entry *tp_respcache_get(struct tp_respcache *rc,
						  const char *key, double now)
{
	struct entry *e = tp_dict_get(rc->by_key, key);

	if (e && !(now < e->created + rc->ttl)) {
		entry_drop(rc, e);
		e = NULL;
	}
	if (!e) {
		rc->misses++;
		return NULL;
	}
	rc->hits++;
	tp_lru_touch(&rc->lru, &e->link);
	return &e->pub;
}

/* The ids of a page in one block: the pointers, then the strings (one
 * allocation per entry instead of one per id; puts come with every miss). */
static char **copy_ids(const char *const *ids, size_t n_ids)
{
	size_t bytes = n_ids * sizeof(char *);
	char **v, *p;

	for (size_t i = 0; i < n_ids; i++)
		bytes += strlen(ids[i]) + 1;
	if (!(v = tp_malloc(bytes)))
		return NULL;
	p = (char *)(v + n_ids);
	for (size_t i = 0; i < n_ids; i++) {
		size_t len = strlen(ids[i]) + 1;

		v[i] = memcpy(p, ids[i], len);
		p += len;
	}
	return v;
}

int tp_respcache_put(struct tp_respcache *rc, const char *key,
		     const struct tp_scan_query *q, const char *const *ids,
		     size_t n_ids, size_t total, double now)
{
	struct entry *e;
	void *old = NULL;

	if (!rc->max_entries)
		return TP_OK; /* caching disabled */
	e = tp_calloc(1, sizeof(*e));
	if (!e)
		return TP_ERR_NOMEM;
	e->key = tp_strdup(key);
	if (!e->key || tp_filter_copy(&e->filter, &q->filter) != TP_OK)
		goto fail;
	if (n_ids) {
		if (!(e->pub.ids = copy_ids(ids, n_ids)))
			goto fail;
		e->pub.n_ids = n_ids;
	}
	e->pub.total = total;
	e->created = now;
	/* Replacing an existing key does not allocate; a new key may fail. */
	if (tp_dict_set(rc->by_key, e->key, e, &old) != TP_OK)
		goto fail;
	if (old) {
		tp_lru_unlink(&rc->lru, &((struct entry *)old)->link);
		entry_free(rc, old);
	} else {
		rc->n++;
	}
	tp_lru_push(&rc->lru, &e->link);
	while (rc->n > rc->max_entries)
		entry_drop(rc, entry_of(rc->lru.tail));
	return TP_OK;

fail:
	entry_free(rc, e);
	return TP_ERR_NOMEM;
}

void tp_respcache_drop(struct tp_respcache *rc, const char *key)
{
	struct entry *e = tp_dict_get(rc->by_key, key);

	if (e)
		entry_drop(rc, e);
}

static struct entry *entry_of_pub(const struct tp_respcache_entry *pub)
{
	return (struct entry *)((char *)(uintptr_t)pub - offsetof(struct entry, pub));
}

bool tp_respcache_memo_get(const struct tp_respcache_entry *pub, double now,
			   const char **data, size_t *len)
{
	const struct entry *e = entry_of_pub(pub);

	if (!e->memo || !(now >= e->memo_from && now <= e->memo_until))
		return false;
	*data = e->memo;
	*len = e->memo_len;
	return true;
}

void tp_respcache_memo_set(struct tp_respcache *rc,
			   const struct tp_respcache_entry *pub,
			   const char *data, size_t len, double from, double until)
{
	struct entry *e = entry_of_pub(pub);
	char *copy;

	memo_drop(rc, e);
	if (!(from <= until) || len > TP_RESPCACHE_MEMO_BYTES - rc->memo_bytes)
		return;
	if (!(copy = tp_memdup(data, len)))
		return; /* only a fresh rendering next time */
	e->memo = copy;
	e->memo_len = len;
	e->memo_from = from;
	e->memo_until = until;
	rc->memo_bytes += len;
}

static bool lists_id(const struct entry *e, const char *id)
{
	for (size_t i = 0; i < e->pub.n_ids; i++)
		if (!strcmp(e->pub.ids[i], id))
			return true;
	return false;
}

size_t tp_respcache_invalidate_pattern(struct tp_respcache *rc,
				       const struct tp_pattern *p)
{
	struct entry *e = entry_of(rc->lru.head);
	size_t n = 0;

	while (e) {
		struct entry *next = entry_of(e->link.next);

		if (tp_filter_match(&e->filter, p) || lists_id(e, p->id)) {
			entry_drop(rc, e);
			n++;
		}
		e = next;
	}
	return n;
}

size_t tp_respcache_size(const struct tp_respcache *rc)
{
	return rc->n;
}

uint64_t tp_respcache_hits(const struct tp_respcache *rc)
{
	return rc->hits;
}

uint64_t tp_respcache_misses(const struct tp_respcache *rc)
{
	return rc->misses;
}

double tp_respcache_hit_ratio(const struct tp_respcache *rc)
{
	uint64_t all = rc->hits + rc->misses;

	return all ? (double)rc->hits / (double)all : 1.0;
}
