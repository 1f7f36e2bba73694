/*
 * accounts.c - whether a token's account still exists, and the login
 * limiter per account (see accounts.h).
 *
 * One prepared statement answers every check: the ids of a list that are
 * still in users. A single check (tp_user_check) sends a list of one and
 * calls back; the batch (tp_user_gone + tp_user_check_flush) sends up to
 * BATCH_MAX ids and only fills the cache. A user queued for the batch is
 * marked CHECKING so that sessions of the same user queue it once; the
 * mark expires by itself if the answer never comes.
 *
 * Lifetimes: a check in flight owns its struct check and finds srv->accounts
 * through srv each time (it may have been destroyed at shutdown, after
 * pg.c cancelled the query).
 */
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "io.h"
#include "pg.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/clock.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"
#include "tickpush/ratelimit.h"
#include "tickpush/usercache.h"

#define BATCH_MAX 500        /* user ids per batched query */
#define CACHE_MAX 50000      /* users remembered */
#define ACCOUNT_NAMES_MAX 10000 /* account names the login limiter tracks */

struct tp_accounts {
	struct tp_usercache *known;
	struct tp_ratelimit *login_per_account;
	long long batch[BATCH_MAX];
	size_t n_batch;
};

static const struct tp_pg_stmt q_users_exist = {"accounts_exist",
	"SELECT id FROM users WHERE id = ANY($1::bigint[])", 1};

int tp_accounts_create(struct tp_io *srv)
{
	const struct tp_config *cfg = srv->cfg;
	struct tp_accounts *a = tp_calloc(1, sizeof(*a));

	if (!a)
		return TP_ERR_NOMEM;
	a->known = tp_usercache_create(CACHE_MAX);
	/* Per account name: login_account_burst failures at once, then
	 * login_account_rate per second (api_auth.c refunds successes). */
	a->login_per_account = tp_ratelimit_create(cfg->login_account_rate,
						   cfg->login_account_burst,
						   ACCOUNT_NAMES_MAX);
	if (!a->known || !a->login_per_account) {
		tp_usercache_destroy(a->known);
		tp_ratelimit_destroy(a->login_per_account);
		tp_free(a);
		return TP_ERR_NOMEM;
	}
	srv->accounts = a;
	return TP_OK;
}

void tp_accounts_destroy(struct tp_io *srv)
{
	struct tp_accounts *a = srv->accounts;

	if (!a)
		return;
	tp_usercache_destroy(a->known);
	tp_ratelimit_destroy(a->login_per_account);
	tp_free(a);
	srv->accounts = NULL;
}

struct tp_ratelimit *tp_accounts_login_limit(struct tp_io *srv)
{
	return srv->accounts ? srv->accounts->login_per_account : NULL;
}

/* ---- the cache ---- */

static enum tp_account_state known(struct tp_io *srv, long long user)
{
	return srv->accounts ? tp_usercache_get(srv->accounts->known, user, tp_now())
			     : TP_ACCOUNT_UNKNOWN;
}

static void remember(struct tp_io *srv, long long user,
		     enum tp_account_state state)
{
	/* Out of memory only means the next use asks again. */
	if (srv->accounts)
		(void)tp_usercache_set(srv->accounts->known, user, state,
				       tp_now() + srv->cfg->user_check_ttl);
}

void tp_user_learned(struct tp_io *srv, long long user, bool exists)
{
	if (user > 0)
		remember(srv, user, exists ? TP_ACCOUNT_EXISTS : TP_ACCOUNT_GONE);
}

/* The database could not answer: the account is taken to exist. */
static void check_failed(int status, size_t users)
{
	static struct tp_log_ratelimit rl;
	unsigned long skipped;

	TP_METRIC_ADD(account_check_failures, users);
	if (tp_log_ratelimit_allow(&rl, tp_mono(), 1.0, &skipped))
		TP_LOG(TP_LOG_WARN, "msg=\"account check failed, tokens accepted\" users=%zu err=%s suppressed=%lu",
		       users, tp_log_q(tp_strerror(status)), skipped);
}

/* ---- checks ---- */

struct check {
	struct tp_io *srv;
	tp_user_checked_cb *cb;   /* NULL for a batch */
	void *ud;
	size_t n;
	long long ids[];
};

static bool row_has(const PGresult *res, long long id)
{
	for (int r = 0; r < PQntuples(res); r++)
		if (strtoll(PQgetvalue(res, r, 0), NULL, 10) == id)
			return true;
	return false;
}

static void checked(int status, const PGresult *res, void *ud)
{
	struct check *c = ud;
	int answer = TP_OK;

	if (status == TP_OK) {
		for (size_t i = 0; i < c->n; i++) {
			bool exists = row_has(res, c->ids[i]);

			remember(c->srv, c->ids[i], exists ? TP_ACCOUNT_EXISTS : TP_ACCOUNT_GONE);
			if (!exists)
				answer = TP_ERR_AUTH;
		}
	} else {
		if (status != TP_ERR_CANCELLED)
			check_failed(status, c->n);
		/* Forget the CHECKING marks: the next use asks again. */
		for (size_t i = 0; i < c->n; i++)
			if (known(c->srv, c->ids[i]) == TP_ACCOUNT_CHECKING)
				remember(c->srv, c->ids[i], TP_ACCOUNT_UNKNOWN);
		answer = status == TP_ERR_CANCELLED ? TP_ERR_CANCELLED : TP_OK;
	}
	if (c->cb)
		c->cb(answer, c->ud);
	tp_free(c);
}

/* Sends the query for ids[0..n); TP_OK when checked() will run. */
static int send_check(struct tp_io *srv, const long long *ids, size_t n,
		      tp_user_checked_cb *cb, void *ud)
{
	struct check *c;
	struct tp_buf list;
	const char *params[1];
	int rc;

	if (!srv->pg)
		return TP_ERR_UPSTREAM;
	if (!(c = tp_calloc(1, sizeof(*c) + n * sizeof(c->ids[0]))))
		return TP_ERR_NOMEM;
	c->srv = srv;
	c->cb = cb;
	c->ud = ud;
	c->n = n;
	memcpy(c->ids, ids, n * sizeof(ids[0]));
	/* A PostgreSQL array literal: {1,2,3}. */
	tp_buf_init(&list, 0);
	tp_buf_putc(&list, '{');
	for (size_t i = 0; i < n; i++)
		tp_buf_printf(&list, "%s%lld", i ? "," : "", ids[i]);
	tp_buf_putc(&list, '}');
	params[0] = tp_buf_cstr(&list);
	rc = list.oom ? TP_ERR_NOMEM : tp_pg_query(srv->pg, &q_users_exist, params, checked, c);
	tp_buf_cleanup(&list);
	if (rc) {
		tp_free(c);
		return rc;
	}
	return TP_OK;
}

/* Takes user out of the batch not sent yet (tp_http_require_user queues
 * the users it does not know; the route then asks itself). */
static void unqueue(struct tp_accounts *a, long long user)
{
	for (size_t i = 0; a && i < a->n_batch; i++) {
		if (a->batch[i] == user) {
			a->batch[i] = a->batch[--a->n_batch];
			return;
		}
	}
}

int tp_user_check(struct tp_io *srv, long long user,
		  tp_user_checked_cb *cb, void *ud)
{
	int rc;

	switch (known(srv, user)) {
	case TP_ACCOUNT_EXISTS:
		return TP_OK;
	case TP_ACCOUNT_GONE:
		TP_METRIC_INC(accounts_gone);
		return TP_ERR_AUTH;
	default:
		break;
	}
	if (!srv->pg)
		return TP_OK; /* no database, no accounts to lose */
	unqueue(srv->accounts, user); /* this query answers for the batch too */
	rc = send_check(srv, &user, 1, cb, ud);
	if (rc) {
		check_failed(rc, 1);
		return TP_OK;
	}
	return TP_ERR_PENDING;
}

bool tp_user_gone(struct tp_io *srv, long long user)
{
	struct tp_accounts *a = srv->accounts;

	switch (known(srv, user)) {
	case TP_ACCOUNT_GONE:
		TP_METRIC_INC(accounts_gone);
		return true;
	case TP_ACCOUNT_UNKNOWN:
		if (a && srv->pg && user > 0 && a->n_batch < BATCH_MAX) {
			a->batch[a->n_batch++] = user;
			/* Queued once; the mark outlives a slow answer. */
			(void)tp_usercache_set(a->known, user, TP_ACCOUNT_CHECKING,
					       tp_now() + 2 * srv->cfg->db_query_timeout + 2);
		}
		return false;
	default:
		return false;
	}
}

void tp_user_check_flush(struct tp_io *srv)
{
	struct tp_accounts *a = srv->accounts;
	int rc;

	if (!a || !a->n_batch)
		return;
	rc = send_check(srv, a->batch, a->n_batch, NULL, NULL);
	if (rc) {
		check_failed(rc, a->n_batch);
		for (size_t i = 0; i < a->n_batch; i++)
			remember(srv, a->batch[i], TP_ACCOUNT_UNKNOWN);
	}
	a->n_batch = 0;
}
