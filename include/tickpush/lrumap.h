/*
 * lrumap.h - a bounded string-keyed map that forgets the least recently
 * used key when full (server/base/lrumap.c).
 *
 * For small per-key records kept for a while: the login rate limiter's
 * buckets (ratelimit.h), the known accounts (usercache.h). Each key owns
 * one zeroed value of value_size bytes, aligned for any type, allocated
 * with the entry; the map owns keys and values. A tp_dict finds entries,
 * a tp_lru list through them orders them, so every operation is O(1).
 */
#ifndef TICKPUSH_LRUMAP_H
#define TICKPUSH_LRUMAP_H

#include <stddef.h>

#include "tickpush/lru.h"

struct tp_dict;

struct tp_lrumap {
	struct tp_dict *map; /* key -> entry */
	struct tp_lru list;  /* head = most recently used */
	size_t max, value_size;
};

/* An empty map of at most max keys (max >= 1). TP_OK, TP_ERR_INVAL (max
 * 0) or TP_ERR_NOMEM. */
int tp_lrumap_init(struct tp_lrumap *m, size_t max, size_t value_size);
void tp_lrumap_cleanup(struct tp_lrumap *m); /* frees every entry */

/* The value of key, made the most recent; NULL when absent. */
void *tp_lrumap_touch(struct tp_lrumap *m, const char *key);
/* The value of key, its place unchanged; NULL when absent. */
void *tp_lrumap_peek(const struct tp_lrumap *m, const char *key);
/* A new zeroed value for key (which must be absent), the most recent; the
 * least recent key is forgotten first when the map is full. NULL when out
 * of memory (the map is unchanged then, but for that forgotten key). */
void *tp_lrumap_add(struct tp_lrumap *m, const char *key);
/* Forgets the key whose value this is (from touch, peek or add). */
void tp_lrumap_del(struct tp_lrumap *m, void *value);
size_t tp_lrumap_size(const struct tp_lrumap *m);

#endif
