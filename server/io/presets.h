/*
 * presets.h - turn a saved preset, or a filter with watchlist/universe
 * references, into a plain filter (server/io/presets.c).
 *
 * One resolver serves the scan (preset_id), WebSocket/SSE/long-poll
 * subscriptions and the propagation of preset edits to live
 * subscriptions, so all of them see the same filter for the same preset.
 * Resolution: the preset's filters JSON (PostgreSQL, scoped by user) goes
 * through tp_filter_from_json; a watchlist_id is replaced by the
 * watchlist's symbols (PostgreSQL), a universe by its tickers (the
 * in-process directory); both narrow the symbol set
 * (tp_filter_restrict_symbols), and a missing watchlist matches nothing.
 */
#ifndef TICKPUSH_IO_PRESETS_H
#define TICKPUSH_IO_PRESETS_H

#include "tickpush/filter.h"

struct tp_io;

/* status: TP_OK (filter valid during the call), TP_ERR_NOTFOUND (no such
 * preset for this user), TP_ERR_AUTH (the user's account was deleted: the
 * queries start from the users row and tell accounts.c), TP_ERR_INVAL
 * (references that do not resolve; err says which), TP_ERR_UPSTREAM /
 * TP_ERR_TIMEOUT (database), NOMEM.
 * Runs exactly once, never inside the resolve call itself. */
typedef void tp_presets_resolved_cb(int status, const struct tp_filter *filter,
				    const struct tp_errdetail *err, void *ud);

/* Loads and resolves preset preset_id of user_id. Returns an error (and
 * never calls cb) when it cannot start: no database, out of memory. */
int tp_presets_resolve(struct tp_io *srv, long long user_id,
		       long long preset_id, tp_presets_resolved_cb *cb, void *ud);

/* Resolves the references of an already parsed filter (taken: *filter is
 * moved into the resolver and reset). user_id <= 0 with a watchlist_id
 * fails with TP_ERR_AUTH at once. */
int tp_presets_resolve_filter(struct tp_io *srv, long long user_id,
			      struct tp_filter *filter, const struct tp_filter_refs *refs,
			      tp_presets_resolved_cb *cb, void *ud);

/* Answers a deferred HTTP request whose resolution failed with status:
 * 404 (no such preset), 401 (account deleted), 409 (stored preset or
 * references no longer valid), 503 (database). extra: further JSON
 * members, or NULL. */
void tp_presets_complete_error(struct tp_io *srv, uint64_t ticket,
			       int status, const struct tp_errdetail *err,
			       const char *extra);

#endif
