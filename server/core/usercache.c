/*
 * usercache.c - what is known about the accounts tokens name, for a short
 * while (see usercache.h).
 *
 * Design: one record (state, until) per user id in a tp_lrumap keyed by
 * the id's decimal text: bounded, least recently used forgotten first, an
 * expired record dropped when read. The I/O layer (accounts.c) asks
 * PostgreSQL and writes the answers here; this file only remembers.
 *
 * Ownership: the cache owns its records.
 */
#include <stdio.h>

#include "tickpush/alloc.h"
#include "tickpush/err.h"
#include "tickpush/lrumap.h"
#include "tickpush/usercache.h"


struct account {
	double until;
	enum tp_account_state state;
};

struct tp_usercache {
	struct tp_lrumap users; /* decimal user id -> struct account */
};

struct tp_usercache *tp_usercache_create(size_t max_entries)
{
	struct tp_usercache *uc;

	if (!max_entries || !(uc = tp_calloc(1, sizeof(*uc))))
		return NULL;
	if (tp_lrumap_init(&uc->users, max_entries, sizeof(struct account))) {
		tp_free(uc);
		return NULL;
	}
	return uc;
}

void tp_usercache_destroy(struct tp_usercache *uc)
{
	if (!uc)
		return;
	tp_lrumap_cleanup(&uc->users);
	tp_free(uc);
}

enum tp_account_state tp_usercache_get(struct tp_usercache *uc, long long user,
				       double now)
{
	char key[24];
	struct account *a;

	if (!uc)
		return TP_ACCOUNT_UNKNOWN;
	snprintf(key, sizeof(key), "%lld", user);
	if (!(a = tp_lrumap_touch(&uc->users, key)))
		return TP_ACCOUNT_UNKNOWN;
	if (!(now < a->until)) { /* expired (or a NaN clock) */
		tp_lrumap_del(&uc->users, a);
		return TP_ACCOUNT_UNKNOWN;
	}
	return a->state;
}

int tp_usercache_set(struct tp_usercache *uc, long long user,
		     enum tp_account_state state, double until)
{
	char key[24];
	struct account *a;

	if (!uc)
		return TP_ERR_INVAL;
	snprintf(key, sizeof(key), "%lld", user);
	a = tp_lrumap_touch(&uc->users, key);
	if (state == TP_ACCOUNT_UNKNOWN) {
		if (a)
			tp_lrumap_del(&uc->users, a);
		return TP_OK;
	}
	if (!a && !(a = tp_lrumap_add(&uc->users, key)))
		return TP_ERR_NOMEM;
	a->state = state;
	a->until = until;
	return TP_OK;
}

size_t tp_usercache_size(const struct tp_usercache *uc)
{
	return uc ? tp_lrumap_size(&uc->users) : 0;
}
