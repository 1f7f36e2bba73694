/*
 * usercache.h - the accounts known to exist, remembered for a short while
 * (server/core/usercache.c).
 *
 * Pure: the clock is passed in. Like the rest of tp_core this runs on the
 * loop thread.
 */
#ifndef TICKPUSH_USERCACHE_H
#define TICKPUSH_USERCACHE_H

#include <stddef.h>

/* What is known about the account a token names (a token stays valid for
 * its lifetime, its user may be deleted meanwhile). The I/O layer asks
 * PostgreSQL and remembers the answers here for a short while, so a busy
 * session does not query for every request. */
enum tp_account_state {
	TP_ACCOUNT_UNKNOWN = 0, /* never checked, or the answer expired */
	TP_ACCOUNT_EXISTS,
	TP_ACCOUNT_GONE,
	TP_ACCOUNT_CHECKING,    /* a check is under way */
};

/* At most max_entries users (least recently used forgotten first). */
struct tp_usercache;

struct tp_usercache *tp_usercache_create(size_t max_entries);
void tp_usercache_destroy(struct tp_usercache *uc); /* NULL-safe */
/* The state of user at now: UNKNOWN once its "until" has passed (the entry
 * is dropped then). */
enum tp_account_state tp_usercache_get(struct tp_usercache *uc, long long user,
				       double now);
/* Remembers state until the time until; UNKNOWN forgets the user.
 * TP_OK, TP_ERR_NOMEM (nothing remembered) or TP_ERR_INVAL (uc NULL). */
int tp_usercache_set(struct tp_usercache *uc, long long user,
		     enum tp_account_state state, double until);
size_t tp_usercache_size(const struct tp_usercache *uc);

#endif
