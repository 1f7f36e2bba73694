/*
 * lrumap.c - bounded string-keyed map, least recently used forgotten
 * first (see lrumap.h).
 *
 * One allocation per key: the entry header, the value (aligned as
 * max_align_t) and the key's bytes after it. The dict holds its own copy
 * of the key; the entry's copy lets del find the dict slot from a value.
 */
#include <stdalign.h>
#include <stddef.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/dict.h"
#include "tickpush/err.h"
#include "tickpush/lrumap.h"

struct entry {
	struct tp_lru_node link;
	const char *key;       /* inside this allocation, after the value */
	max_align_t value[];   /* value_size bytes, rounded up */
};

static struct entry *entry_of(struct tp_lru_node *n)
{
	return n ? tp_lru_entry(n, struct entry, link) : NULL;
}

static struct entry *entry_of_value(void *value)
{
	return (struct entry *)(void *)((char *)value - offsetof(struct entry, value));
}

static size_t value_bytes(const struct tp_lrumap *m)
{
	size_t a = alignof(max_align_t);

	return (m->value_size + a - 1) / a * a;
}

int tp_lrumap_init(struct tp_lrumap *m, size_t max, size_t value_size)
{
	memset(m, 0, sizeof(*m));
	if (!max)
		return TP_ERR_INVAL;
	m->max = max;
	m->value_size = value_size;
	return (m->map = tp_dict_create()) ? TP_OK : TP_ERR_NOMEM;
}

void tp_lrumap_cleanup(struct tp_lrumap *m)
{
	struct entry *e, *next;

	for (e = entry_of(m->list.head); e; e = next) {
		next = entry_of(e->link.next);
		tp_free(e);
	}
	tp_dict_destroy(m->map);
	memset(m, 0, sizeof(*m));
}

void *tp_lrumap_touch(struct tp_lrumap *m, const char *key)
{
	struct entry *e = tp_dict_get(m->map, key);

	if (!e)
		return NULL;
	tp_lru_touch(&m->list, &e->link);
	return e->value;
}

void *tp_lrumap_peek(const struct tp_lrumap *m, const char *key)
{
	struct entry *e = tp_dict_get(m->map, key);

	return e ? e->value : NULL;
}

void tp_lrumap_del(struct tp_lrumap *m, void *value)
{
	struct entry *e = entry_of_value(value);

	tp_lru_unlink(&m->list, &e->link);
	tp_dict_del(m->map, e->key);
	tp_free(e);
}

void *tp_lrumap_add(struct tp_lrumap *m, const char *key)
{
	size_t klen = strlen(key), vlen = value_bytes(m);
	struct entry *e;
	char *kcopy;

	if (tp_dict_size(m->map) >= m->max)
		tp_lrumap_del(m, entry_of(m->list.tail)->value);
	if (!(e = tp_calloc(1, sizeof(*e) + vlen + klen + 1)))
		return NULL;
	kcopy = (char *)e->value + vlen;
	memcpy(kcopy, key, klen + 1);
	e->key = kcopy;
	if (tp_dict_set(m->map, key, e, NULL)) {
		tp_free(e);
		return NULL;
	}
	tp_lru_push(&m->list, &e->link);
	return e->value;
}

size_t tp_lrumap_size(const struct tp_lrumap *m)
{
	return tp_dict_size(m->map);
}
