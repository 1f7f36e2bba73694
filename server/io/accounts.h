/*
 * accounts.h - does the account a token names still exist? And the login
 * limit per account (server/io/accounts.c).
 *
 * A token stays valid until it expires, but its user may be deleted
 * before that (an administrator's DELETE FROM users; the objects go with
 * it, ON DELETE CASCADE). Whatever uses the user checks it here: REST
 * routes that act for the user, WebSocket and SSE sessions when they sign
 * in, subscribe or are visited by the 1 Hz tick. Answers come from
 * PostgreSQL (non-blocking, pg.c) and are remembered user_check_ttl
 * seconds in a bounded cache (tp_usercache), so a deleted account's tokens
 * stop working at most that long after the deletion, and a busy session
 * costs at most one query per user and period. Long-lived sessions are
 * checked in batches: one query for every user whose answer expired.
 *
 * When the database cannot answer (down, overloaded, none configured) an
 * account is taken to exist: an outage must not sign everyone out. Such
 * answers are counted (tp_account_check_failures_total) and not cached.
 *
 * All functions run on the loop thread and never block.
 */
#ifndef TICKPUSH_IO_ACCOUNTS_H
#define TICKPUSH_IO_ACCOUNTS_H

#include <stdbool.h>

struct tp_io;
struct tp_ratelimit;

/* What a client is told when its token's account was deleted (401, or
 * the WebSocket "unauthorized" error). */
#define TP_ACCOUNT_GONE_MSG "Account no longer exists"

/* Creates srv->accounts (after srv->cfg is set); TP_OK or TP_ERR_NOMEM. */
int tp_accounts_create(struct tp_io *srv);
/* Frees it. Checks still running (pg.c cancels them at shutdown) find it
 * gone and only answer their callers. NULL-safe. */
void tp_accounts_destroy(struct tp_io *srv);

/* status: TP_OK (the account exists, or the database could not say),
 * TP_ERR_AUTH (gone), TP_ERR_CANCELLED (shutting down). */
typedef void tp_user_checked_cb(int status, void *ud);

/*
 * Whether user (> 0) still exists. Returns TP_OK (known to exist, or no
 * way to ask) or TP_ERR_AUTH (known gone) at once, without calling cb; or
 * TP_ERR_PENDING when it asked PostgreSQL: cb then runs exactly once, on
 * the loop, never inside this call.
 */
int tp_user_check(struct tp_io *srv, long long user,
		  tp_user_checked_cb *cb, void *ud);

/* For the periodic tick of sessions and for the synchronous token check:
 * true when user is known to be gone. When nothing is known (or the
 * answer expired) user joins the next batched check and false is
 * returned. Never queries by itself. */
bool tp_user_gone(struct tp_io *srv, long long user);
/* Sends the batched check: one query for every user queued by
 * tp_user_gone since the last flush (the ticks call it). */
void tp_user_check_flush(struct tp_io *srv);

/* A query that joined the users table learned whether user exists
 * (presets.c folds the check into its own queries). */
void tp_user_learned(struct tp_io *srv, long long user, bool exists);

/* The login limiter keyed by account name (api_auth.c), NULL before
 * tp_accounts_create. */
struct tp_ratelimit *tp_accounts_login_limit(struct tp_io *srv);

#endif
