/*
 * presets.c - the preset/reference resolver (see presets.h).
 *
 * A resolution is a small state machine: [load preset] -> [load watchlist
 * symbols] -> [universe from the directory] -> callback. Every step's
 * failure ends it with one callback. The callback is always deferred to a
 * later loop turn (pg callbacks are; the no-query path uses a uv_idle-free
 * zero timer) so callers never see it re-entrantly.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "accounts.h"
#include "directory.h"
#include "http.h"
#include "io.h"
#include "pg.h"
#include "presets.h"
#include "tickpush/alloc.h"
#include "tickpush/log.h"

void tp_presets_complete_error(struct tp_io *srv, uint64_t ticket,
			       int status, const struct tp_errdetail *err,
			       const char *extra)
{
	struct tp_buf b;
	struct tp_http_resp resp = {503, NULL, &b, NULL, 0};

	tp_buf_init(&b, 0);
	switch (status) {
	case TP_ERR_NOTFOUND:
		tp_http_error(&resp, 404, err->msg, "preset_id", extra);
		break;
	case TP_ERR_AUTH:
		tp_http_error(&resp, 401, TP_ACCOUNT_GONE_MSG, NULL, extra);
		break;
	case TP_ERR_INVAL:
		tp_http_error(&resp, 409, err->msg, err->field, extra);
		break;
	case TP_ERR_TIMEOUT:
		tp_http_error(&resp, 503, "Database timed out", NULL, extra);
		break;
	default:
		tp_http_error(&resp, 503, "Database unavailable", NULL, extra);
		break;
	}
	tp_http_complete(srv, ticket, resp.status, &b);
	tp_buf_cleanup(&b);
}

/* Both queries start from the user's row, so they also tell whether the
 * account still exists: no row at all = deleted (TP_ERR_AUTH); a row of
 * NULLs = the user has no such preset / watchlist. */
static const struct tp_pg_stmt q_preset = {"resolve_preset",
	"SELECT p.filters::text FROM users u LEFT JOIN user_filter_presets p "
	"ON p.id = $1 AND p.user_id = u.id WHERE u.id = $2", 2};
static const struct tp_pg_stmt q_watchlist = {"resolve_watchlist",
	"SELECT sym.symbol FROM users u LEFT JOIN user_watchlists w ON w.id = $1 "
	"AND w.user_id = u.id LEFT JOIN LATERAL unnest(w.symbols) AS sym(symbol) ON true "
	"WHERE u.id = $2", 2};

struct resolve {
	struct tp_io *srv;
	tp_presets_resolved_cb *cb;
	void *ud;
	char user_id[24];
	struct tp_filter filter;
	struct tp_filter_refs refs;
	long long user;
	uv_timer_t defer;          /* for completions without a query */
	int status;
	struct tp_errdetail err;
};

static void finish_closed(uv_handle_t *h)
{
	struct resolve *r = h->data;

	tp_filter_cleanup(&r->filter);
	tp_free(r);
}

static void finish(struct resolve *r, int status)
{
	r->cb(status, status == TP_OK ? &r->filter : NULL, &r->err, r->ud);
	uv_close((uv_handle_t *)&r->defer, finish_closed);
}

/* A query joined the user's row: none means the account was deleted. */
static bool account_gone(struct resolve *r, const PGresult *res)
{
	bool gone = PQntuples(res) == 0;

	tp_user_learned(r->srv, r->user, !gone);
	if (gone) {
		tp_errdetail_set(&r->err, TP_ERR_AUTH, NULL, "account no longer exists");
		finish(r, TP_ERR_AUTH);
	}
	return gone;
}

static void step_universe(struct resolve *r)
{
	const struct tp_universe *u;

	if (r->refs.universe[0]) {
		if (!r->srv->dir || !tp_directory_has_copy(r->srv->dir)) {
			tp_errdetail_set(&r->err, TP_ERR_UPSTREAM, "universe", "Database unavailable");
			finish(r, TP_ERR_UPSTREAM);
			return;
		}
		u = tp_directory_universe(r->srv->dir, r->refs.universe);
		if (!u) {
			tp_errdetail_set(&r->err, TP_ERR_INVAL, "universe",
					 "universe: \"%.64s\" does not exist", r->refs.universe);
			finish(r, TP_ERR_INVAL);
			return;
		}
		if (tp_filter_restrict_symbols(&r->filter, (const char *const *)u->tickers,
					       u->n_tickers)) {
			finish(r, TP_ERR_NOMEM);
			return;
		}
	}
	finish(r, TP_OK);
}

static void watchlist_loaded(int status, const PGresult *res, void *ud)
{
	struct resolve *r = ud;
	int n;
	size_t k;
	const char **syms;

	if (status != TP_OK) {
		tp_errdetail_set(&r->err, status, NULL, "Database unavailable");
		finish(r, status == TP_ERR_TIMEOUT ? TP_ERR_TIMEOUT : TP_ERR_UPSTREAM);
		return;
	}
	if (account_gone(r, res))
		return;
	n = PQntuples(res);
	if (!(syms = tp_calloc(n ? (size_t)n : 1, sizeof(char *)))) {
		finish(r, TP_ERR_NOMEM);
		return;
	}
	k = 0;
	for (int i = 0; i < n; i++)
		if (!PQgetisnull(res, i, 0))
			syms[k++] = PQgetvalue(res, i, 0);
	/* A deleted watchlist leaves no symbols: match nothing, not all. */
	status = tp_filter_restrict_symbols(&r->filter, syms, k);
	tp_free(syms);
	if (status) {
		finish(r, TP_ERR_NOMEM);
		return;
	}
	step_universe(r);
}

static void step_watchlist(struct resolve *r)
{
	char wl[24];
	const char *p[2] = {wl, r->user_id};

	if (r->refs.watchlist_id <= 0) {
		step_universe(r);
		return;
	}
	snprintf(wl, sizeof(wl), "%lld", r->refs.watchlist_id);
	if (tp_pg_query(r->srv->pg, &q_watchlist, p, watchlist_loaded, r)) {
		tp_errdetail_set(&r->err, TP_ERR_UPSTREAM, NULL, "Database unavailable");
		finish(r, TP_ERR_UPSTREAM);
	}
}

static void preset_loaded(int status, const PGresult *res, void *ud)
{
	struct resolve *r = ud;
	cJSON *obj;
	int rc;

	if (status != TP_OK) {
		tp_errdetail_set(&r->err, status, NULL, "Database unavailable");
		finish(r, status == TP_ERR_TIMEOUT ? TP_ERR_TIMEOUT : TP_ERR_UPSTREAM);
		return;
	}
	if (account_gone(r, res))
		return;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		tp_errdetail_set(&r->err, TP_ERR_NOTFOUND, "preset_id",
				 "preset_id: no such filter preset");
		finish(r, TP_ERR_NOTFOUND);
		return;
	}
	obj = cJSON_Parse(PQgetvalue(res, 0, 0));
	tp_filter_cleanup(&r->filter);
	rc = obj ? tp_filter_from_json(&r->filter, obj, &r->refs, &r->err) : TP_ERR_INVAL;
	cJSON_Delete(obj);
	if (rc) {
		/* Stored presets were validated on write: the stored JSON was
		 * changed behind our back. */
		TP_LOG(TP_LOG_WARN, "msg=\"stored preset no longer valid\" detail=%s",
		       tp_log_q(r->err.msg));
		tp_filter_init(&r->filter);
		tp_errdetail_set(&r->err, TP_ERR_INVAL, "preset_id",
				 "preset_id: the stored preset is not valid any more");
		finish(r, TP_ERR_INVAL);
		return;
	}
	step_watchlist(r);
}

static struct resolve *resolve_new(struct tp_io *srv, long long user_id,
				   tp_presets_resolved_cb *cb, void *ud)
{
	struct resolve *r = tp_calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->srv = srv;
	r->cb = cb;
	r->ud = ud;
	r->user = user_id;
	snprintf(r->user_id, sizeof(r->user_id), "%lld", user_id);
	tp_filter_init(&r->filter);
	uv_timer_init(&srv->loop, &r->defer);
	r->defer.data = r;
	return r;
}

int tp_presets_resolve(struct tp_io *srv, long long user_id,
		       long long preset_id, tp_presets_resolved_cb *cb, void *ud)
{
	struct resolve *r;
	char pid[24];
	const char *p[2];

	if (!srv->pg)
		return TP_ERR_UPSTREAM;
	if (!(r = resolve_new(srv, user_id, cb, ud)))
		return TP_ERR_NOMEM;
	snprintf(pid, sizeof(pid), "%lld", preset_id);
	p[0] = pid;
	p[1] = r->user_id;
	if (tp_pg_query(srv->pg, &q_preset, p, preset_loaded, r)) {
		/* Nothing started: free without a callback. */
		uv_close((uv_handle_t *)&r->defer, finish_closed);
		return TP_ERR_UPSTREAM;
	}
	return TP_OK;
}

static void deferred_start(uv_timer_t *t)
{
	step_watchlist(t->data);
}

int tp_presets_resolve_filter(struct tp_io *srv, long long user_id,
			      struct tp_filter *filter, const struct tp_filter_refs *refs,
			      tp_presets_resolved_cb *cb, void *ud)
{
	struct resolve *r;

	if (refs->watchlist_id > 0 && user_id <= 0)
		return TP_ERR_AUTH;
	if ((refs->watchlist_id > 0 || refs->universe[0]) && !srv->pg)
		return TP_ERR_UPSTREAM;
	if (!(r = resolve_new(srv, user_id, cb, ud)))
		return TP_ERR_NOMEM;
	r->filter = *filter;
	tp_filter_init(filter);
	r->refs = *refs;
	/* Start on the next loop turn so the callback never runs inside this
	 * call, whichever steps are needed. */
	uv_timer_start(&r->defer, deferred_start, 0, 0);
	return TP_OK;
}
