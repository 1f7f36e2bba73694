/*
 * api_auth.c - POST /api/auth/login and the token check every protected
 * route uses.
 *
 * Login: validate the body (api_body.c), then two limits: per client
 * address (every attempt counts) and per account (the name as typed,
 * ASCII case folded: an attacker rotating addresses against one account is
 * held by this one; every attempt takes a token and a successful one, or
 * one the database could not answer, gives it back, so only failures
 * count and another account's failures never lock a user out). Then look
 * the user up (PostgreSQL, async) and verify the password on libuv's
 * threadpool: PBKDF2 with hundreds of thousands of iterations takes long
 * enough that running it on the loop would stall every other client. An
 * unknown user costs the same (dummy verify) and gets the same 401 as a
 * wrong password. On success the answer carries a JWT HS256 signed with
 * the configured secret (sub = user id, iat, exp = now + token_ttl).
 *
 * The token check (tp_http_require_user) stays synchronous: signature and
 * expiry, plus what accounts.c already knows about the user (a deleted
 * account is refused; an unknown one is queued for the next batched
 * check). Routes that act for the user confirm it once they have
 * deferred (tp_api_for_user: cached, or one query).
 *
 * Passwords are wiped from memory after use and, like tokens, never logged.
 */
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "accounts.h"
#include "cluster.h"
#include "api.h"
#include "io.h"
#include "pg.h"
#include "reload.h"
#include "tickpush/alloc.h"
#include "tickpush/ascii.h"
#include "tickpush/clock.h"
#include "tickpush/jwt.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"
#include "tickpush/password.h"
#include "tickpush/ratelimit.h"
#include "tickpush/usercache.h"

#define USERNAME_MAX 100
#define PASSWORD_MAX 256

struct login {
	struct tp_io *srv;
	uint64_t ticket;
	uv_work_t work;
	char username[USERNAME_MAX + 1];
	char account[USERNAME_MAX + 1]; /* the per-account limiter's key */
	char password[PASSWORD_MAX + 1];
	char hash[TP_PASSWORD_ENCODED_MAX + 1];
	long long user_id;
	bool found;
	bool ok;
	bool failed;   /* a wrong password or unknown user: the token stays spent */
	char addr[64]; /* the client's address (req->peer), for logs */
};

static const struct tp_pg_stmt q_user_by_name = {
	"auth_user_by_name",
	"SELECT id, password_hash FROM users WHERE username = $1",
	1,
};

static void login_free(struct login *l)
{
	/* Only failed attempts count against the account. */
	if (!l->failed)
		tp_ratelimit_refund(tp_accounts_login_limit(l->srv), l->account);
	OPENSSL_cleanse(l->password, sizeof(l->password));
	tp_free(l);
}

static void verify_work(uv_work_t *w)
{
	struct login *l = w->data;

	/* Threadpool: touches only l and OpenSSL. */
	if (l->found)
		l->ok = tp_password_verify(l->password, l->hash);
	else
		tp_password_dummy_verify(l->password);
}

static void verify_done(uv_work_t *w, int status)
{
	struct login *l = w->data;
	struct tp_io *srv = l->srv;
	struct tp_buf b, token;
	double now = tp_now(), exp = now + srv->cfg->token_ttl;

	tp_buf_init(&b, 0);
	tp_buf_init(&token, 0);
	if (status || !l->ok) {
		if (status == 0) {
			l->failed = true;
			tp_cluster_login_failed(srv->cluster, l->account);
			TP_LOG(TP_LOG_NOTICE, "msg=\"login failed\" user_known=%s addr=%s",
			       l->found ? "yes" : "no", tp_log_q(l->addr));
		}
		tp_http_complete_error(srv, l->ticket, 401,
				       "Invalid username or password", NULL);
		goto out;
	}
	if (tp_jwt_sign(srv->jwt_key, srv->jwt_key_len, l->user_id, now, exp,
			&token) || token.oom) {
		tp_http_complete_error(srv, l->ticket, 503, "Out of memory", NULL);
		goto out;
	}
	tp_buf_putc(&b, '{');
	tp_buf_json_key(&b, "token", true);
	tp_buf_json_strn(&b, tp_buf_data(&token), token.len);
	tp_buf_json_kv_num(&b, "expires_at", exp);
	tp_buf_json_key(&b, "user", false);
	tp_buf_putc(&b, '{');
	tp_buf_json_key(&b, "id", true);
	tp_buf_json_int(&b, l->user_id);
	tp_buf_json_kv_str(&b, "username", l->username);
	tp_buf_putc(&b, '}');
	tp_buf_putc(&b, '}');
	TP_LOG(TP_LOG_INFO, "msg=\"login\" user_id=%lld", l->user_id);
	tp_user_learned(srv, l->user_id, true); /* its first requests need no check */
	tp_http_complete(srv, l->ticket, 200, &b);
out:
	tp_buf_cleanup(&token);
	tp_buf_cleanup(&b);
	login_free(l);
}

static void user_loaded(int status, const PGresult *res, void *ud)
{
	struct login *l = ud;

	if (status != TP_OK) {
		tp_http_complete_error(l->srv, l->ticket, 503, "Database unavailable", NULL);
		login_free(l);
		return;
	}
	if (PQntuples(res) == 1) {
		l->found = true;
		l->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		snprintf(l->hash, sizeof(l->hash), "%s", PQgetvalue(res, 0, 1));
	}
	l->work.data = l;
	if (uv_queue_work(&l->srv->loop, &l->work, verify_work, verify_done)) {
		tp_http_complete_error(l->srv, l->ticket, 503, "Server busy", NULL);
		login_free(l);
	}
}

/* cJSON keeps its own copy of the password until the tree is deleted. */
static void wipe_password(cJSON *body)
{
	cJSON *pw = cJSON_GetObjectItemCaseSensitive(body, "password");

	if (cJSON_IsString(pw) && pw->valuestring)
		OPENSSL_cleanse(pw->valuestring, strlen(pw->valuestring));
}

/* 429 with Retry-After from the limiter's bucket (whole seconds, >= 1). */
static void limited(struct tp_http_resp *resp, const struct tp_ratelimit *rl,
		    const char *key, double now, const char *msg, const char *field,
		    const char *addr)
{
	double wait = tp_ratelimit_retry_after(rl, key, now);
	static struct tp_log_ratelimit log_rl;
	unsigned long skipped;

	tp_http_error(resp, 429, msg, field, NULL);
	resp->retry_after = wait < 1 ? 1 : wait > 86400 ? 86400 : (int)ceil(wait);
	if (tp_log_ratelimit_allow(&log_rl, tp_mono(), 1.0, &skipped))
		TP_LOG(TP_LOG_NOTICE, "msg=\"login rate limited\" by=%s addr=%s suppressed=%lu",
		       field ? "account" : "address", tp_log_q(addr), skipped);
}

static void find_user(struct login *l)
{
	const char *params[1] = {l->username};

	if (tp_pg_query(l->srv->pg, &q_user_by_name, params, user_loaded, l)) {
		tp_http_complete_error(l->srv, l->ticket, 503, "Database unavailable", NULL);
		login_free(l);
	}
}

/* Cluster mode: the per-address limit shared by every instance said. */
static void shared_limit(bool allowed, double wait, void *ud)
{
	struct login *l = ud;

	(void)wait;
	if (allowed) {
		find_user(l);
		return;
	}
	TP_METRIC_INC(login_limited_address);
	tp_http_complete_error(l->srv, l->ticket, 429,
			       "Too many login attempts from this address; try again later",
			       NULL);
	login_free(l);
}

void tp_api_login(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	struct tp_io *srv = req->srv;
	struct tp_ratelimit *per_account = tp_accounts_login_limit(srv);
	struct login *l;
	cJSON *body;
	const char *user, *pw;

	if (tp_api_body(req, resp, &body))
		return;
	if (tp_api_string(body, "username", 1, USERNAME_MAX,
			  TP_BODY_BYTES | TP_BODY_PRINTABLE, &user, resp) ||
	    tp_api_string(body, "password", 1, PASSWORD_MAX, TP_BODY_BYTES,
			  &pw, resp)) {
		wipe_password(body);
		cJSON_Delete(body);
		return;
	}
	if (!(l = tp_calloc(1, sizeof(*l)))) {
		wipe_password(body);
		cJSON_Delete(body);
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
		return;
	}
	l->srv = srv;
	snprintf(l->addr, sizeof(l->addr), "%s", req->peer);
	l->failed = true; /* nothing taken from the account's bucket yet */
	memcpy(l->username, user, strlen(user) + 1);
	memcpy(l->password, pw, strlen(pw) + 1);
	wipe_password(body);
	cJSON_Delete(body);
	/* Names are unique ignoring case (schema.sql): so is the key. */
	tp_ascii_lower_into(l->account, sizeof(l->account), l->username);
	if (!tp_ratelimit_allow(srv->login_rl, req->peer, req->now)) {
		TP_METRIC_INC(login_limited_address);
		limited(resp, srv->login_rl, req->peer, req->now,
			"Too many login attempts from this address; try again later", NULL,
			req->peer);
		login_free(l);
		return;
	}
	if (!tp_ratelimit_allow(per_account, l->account, req->now)) {
		TP_METRIC_INC(login_limited_account);
		limited(resp, per_account, l->account, req->now,
			"Too many failed logins for this account; try again later", "username",
			req->peer);
		login_free(l);
		return;
	}
	l->failed = false; /* a token is taken: given back unless the password fails */
	if (!srv->pg) {
		login_free(l);
		tp_http_error(resp, 503, "Database unavailable", NULL, NULL);
		return;
	}
	l->ticket = tp_http_defer(req, resp);
	if (!l->ticket) {
		login_free(l);
		return;
	}
	/* Cluster mode: the address's attempts also count in a bucket every
	 * instance shares (Redis unreachable: the local limit alone). */
	if (tp_cluster_allow(srv->cluster, "login", req->peer, srv->cfg->login_rate,
			     srv->cfg->login_burst, shared_limit, l) == TP_OK)
		return;
	find_user(l);
}

int tp_http_require_user(const struct tp_http_req *req,
			 struct tp_http_resp *resp, long long *user_id)
{
	struct tp_io *srv = req->srv;
	struct tp_jwt_claims claims;
	struct tp_errdetail err = {{0}, NULL};
	char hdr[TP_JWT_MAX_LEN + 16];
	const char *token = NULL;
	int n = tp_http_req_header(req, "authorization:", hdr, sizeof(hdr));

	if (n > 7 && !tp_ascii_ncasecmp(hdr, "Bearer ", 7))
		token = hdr + 7;
	else
		token = tp_query_get(req->query, "token");
	if (!token || !token[0]) {
		tp_http_error(resp, 401, "Authentication required (Authorization: Bearer <token>)",
			      NULL, NULL);
		return TP_ERR_AUTH;
	}
	if (tp_token_verify(srv, token, req->now, &claims, &err)) {
		const char *why = err.field && !strcmp(err.field, TP_JWT_R_EXPIRED)
					  ? "Token expired" : "Invalid token";

		tp_http_error(resp, 401, why, NULL, NULL);
		return TP_ERR_AUTH;
	}
	/* What accounts.c knows; an unknown account joins the next batched
	 * check, and routes acting for the user confirm it themselves. */
	if (tp_user_gone(srv, claims.sub)) {
		tp_http_error(resp, 401, TP_ACCOUNT_GONE_MSG, NULL, NULL);
		return TP_ERR_AUTH;
	}
	*user_id = claims.sub;
	return TP_OK;
}

/* ---- routes acting for the user ---- */

struct user_wait {
	struct tp_io *srv;
	uint64_t ticket;
	void (*ready)(void *ud);
	void (*dismiss)(void *ud);
	void *ud;
};

/* Answers the deferred request for a user that cannot be served. */
static void refuse_user(struct user_wait *w, int status)
{
	if (status == TP_ERR_AUTH)
		tp_http_complete_error(w->srv, w->ticket, 401, TP_ACCOUNT_GONE_MSG, NULL);
	else
		tp_http_complete_error(w->srv, w->ticket, 503,
				       status == TP_ERR_NOMEM ? "Out of memory" : "Shutting down",
				       NULL);
	w->dismiss(w->ud);
}

static void user_checked(int status, void *ud)
{
	struct user_wait *w = ud;

	if (status == TP_OK)
		w->ready(w->ud);
	else
		refuse_user(w, status);
	tp_free(w);
}

void tp_api_for_user(struct tp_io *srv, uint64_t ticket, long long user,
		     void (*ready)(void *ud), void (*dismiss)(void *ud), void *ud)
{
	struct user_wait stack = {srv, ticket, ready, dismiss, ud};
	struct user_wait *w = tp_calloc(1, sizeof(*w));
	int rc;

	if (!w) {
		refuse_user(&stack, TP_ERR_NOMEM);
		return;
	}
	*w = stack;
	rc = tp_user_check(srv, user, user_checked, w);
	if (rc == TP_ERR_PENDING)
		return; /* user_checked runs later and frees w */
	tp_free(w);
	if (rc == TP_OK)
		ready(ud);
	else
		refuse_user(&stack, rc);
}
