/*
 * lru.h - an intrusive least-recently-used list (server/base/lru.c).
 *
 * Bounded caches (the scan response cache, the login rate limiter, the
 * cache of known accounts) find entries through a tp_dict and keep them on
 * this list, most recently used first, so dropping the least recently used
 * one when full is O(1). The node lives inside the caller's entry; the list
 * neither allocates nor frees.
 */
#ifndef TICKPUSH_LRU_H
#define TICKPUSH_LRU_H

#include <stddef.h>

struct tp_lru_node {
	struct tp_lru_node *prev, *next; /* next: towards the least recent */
};

struct tp_lru {
	struct tp_lru_node *head, *tail; /* most / least recently used */
};

/* The entry of type that holds node as member (node must not be NULL). */
#define tp_lru_entry(node, type, member) \
	((type *)(void *)((char *)(node) - offsetof(type, member)))

/* Adds n (not on a list) as the most recent. */
void tp_lru_push(struct tp_lru *l, struct tp_lru_node *n);
/* Takes n off the list (its links are cleared). */
void tp_lru_unlink(struct tp_lru *l, struct tp_lru_node *n);
/* Makes n, which is on the list, the most recent. */
void tp_lru_touch(struct tp_lru *l, struct tp_lru_node *n);

#endif
