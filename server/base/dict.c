/*
 * dict.c - string-keyed hash map with chaining.
 *
 * Buckets double when the load factor passes 1 and the rehash happens at
 * once (tables here hold at most a few hundred thousand keys, so the pause is
 * far below a millisecond). Keys are stored inline after the entry header so
 * an insert is one allocation.
 */
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/dict.h"
#include "tickpush/err.h"

struct entry {
	struct entry *next;
	unsigned long hash;
	void *value;
	char key[];
};

struct tp_dict {
	struct entry **buckets;
	size_t nbuckets; /* power of two */
	size_t size;
};

unsigned long tp_hash_str(const char *s)
{
	unsigned long h = 1469598103934665603UL;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211UL;
	}
	return h;
}

struct tp_dict *tp_dict_create(void)
{
	struct tp_dict *d = tp_calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->nbuckets = 16;
	d->buckets = tp_calloc(d->nbuckets, sizeof(*d->buckets));
	if (!d->buckets) {
		tp_free(d);
		return NULL;
	}
	return d;
}

void tp_dict_destroy(struct tp_dict *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nbuckets; i++) {
		struct entry *e = d->buckets[i];

		while (e) {
			struct entry *n = e->next;

			tp_free(e);
			e = n;
		}
	}
	tp_free(d->buckets);
	tp_free(d);
}

static struct entry **find(const struct tp_dict *d, const char *key,
			   unsigned long h)
{
	struct entry **pe = &d->buckets[h & (d->nbuckets - 1)];

	while (*pe && ((*pe)->hash != h || strcmp((*pe)->key, key)))
		pe = &(*pe)->next;
	return pe;
}

static void grow(struct tp_dict *d)
{
	size_t nb = d->nbuckets * 2;
	struct entry **b = tp_calloc(nb, sizeof(*b));

	if (!b)
		return; /* stay at the current size: slower, still correct */
	for (size_t i = 0; i < d->nbuckets; i++) {
		struct entry *e = d->buckets[i];

		while (e) {
			struct entry *n = e->next;
			size_t j = e->hash & (nb - 1);

			e->next = b[j];
			b[j] = e;
			e = n;
		}
	}
	tp_free(d->buckets);
	d->buckets = b;
	d->nbuckets = nb;
}

int tp_dict_set(struct tp_dict *d, const char *key, void *value, void **old)
{
	unsigned long h = tp_hash_str(key);
	struct entry **pe = find(d, key, h);
	size_t klen;

	if (*pe) {
		if (old)
			*old = (*pe)->value;
		(*pe)->value = value;
		return TP_OK;
	}
	if (old)
		*old = NULL;
	klen = strlen(key);
	struct entry *e = tp_malloc(sizeof(*e) + klen + 1);
	if (!e)
		return TP_ERR_NOMEM;
	e->hash = h;
	e->value = value;
	memcpy(e->key, key, klen + 1);
	e->next = NULL;
	*pe = e;
	if (++d->size > d->nbuckets)
		grow(d);
	return TP_OK;
}

void *tp_dict_get(const struct tp_dict *d, const char *key)
{
	struct entry **pe = find(d, key, tp_hash_str(key));

	return *pe ? (*pe)->value : NULL;
}

void *tp_dict_del(struct tp_dict *d, const char *key)
{
	struct entry **pe = find(d, key, tp_hash_str(key));
	struct entry *e = *pe;
	void *v;

	if (!e)
		return NULL;
	*pe = e->next;
	v = e->value;
	tp_free(e);
	d->size--;
	return v;
}

size_t tp_dict_size(const struct tp_dict *d)
{
	return d->size;
}

void tp_dict_foreach(struct tp_dict *d, tp_dict_visit_cb *cb, void *ud)
{
	for (size_t i = 0; i < d->nbuckets; i++) {
		struct entry **pe = &d->buckets[i];

		while (*pe) {
			struct entry *e = *pe;

			if (cb(e->key, e->value, ud)) {
				*pe = e->next;
				tp_free(e);
				d->size--;
			} else {
				pe = &e->next;
			}
		}
	}
}
