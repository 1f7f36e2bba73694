/*
 * lru.c - intrusive doubly-linked LRU list (see lru.h).
 */
#include "tickpush/lru.h"

void tp_lru_push(struct tp_lru *l, struct tp_lru_node *n)
{
	n->prev = NULL;
	n->next = l->head;
	if (l->head)
		l->head->prev = n;
	l->head = n;
	if (!l->tail)
		l->tail = n;
}

void tp_lru_unlink(struct tp_lru *l, struct tp_lru_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		l->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->tail = n->prev;
	n->prev = n->next = NULL;
}

void tp_lru_touch(struct tp_lru *l, struct tp_lru_node *n)
{
	if (l->head == n)
		return;
	tp_lru_unlink(l, n);
	tp_lru_push(l, n);
}
