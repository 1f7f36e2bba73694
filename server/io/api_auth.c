/*
 * api_auth.c - POST /api/auth/login and the token check every protected
 * route uses.
 *
 * Login: validate the body, rate-limit per client address, look the user up
 * (PostgreSQL, async), then verify the password on libuv's threadpool:
 * PBKDF2 with hundreds of thousands of iterations takes long enough that
 * running it on the loop would stall every other client. An unknown user
 * costs the same (dummy verify) and gets the same 401 as a wrong password.
 * On success the answer carries a JWT HS256 signed with the configured
 * secret (sub = user id, iat, exp = now + token_ttl).
 *
 * Passwords are wiped from memory after use and, like tokens, never logged.
 */
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "api.h"
#include "pg.h"
#include "tickpush/alloc.h"
#include "tickpush/auth.h"
#include "tickpush/log.h"

#define USERNAME_MAX 100
#define PASSWORD_MAX 256

struct login {
	struct tp_server *srv;
	uint64_t ticket;
	uv_work_t work;
	char username[USERNAME_MAX + 1];
	char password[PASSWORD_MAX + 1];
	char hash[TP_PASSWORD_ENCODED_MAX + 1];
	long long user_id;
	bool found;
	bool ok;
};

static const struct tp_pg_stmt q_user_by_name = {
	"auth_user_by_name",
	"SELECT id, password_hash FROM users WHERE username = $1",
	1,
};

static void login_free(struct login *l)
{
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
	struct tp_server *srv = l->srv;
	struct tp_buf b, token;
	double now = tp_now(), exp = now + srv->cfg->token_ttl;

	tp_buf_init(&b, 0);
	tp_buf_init(&token, 0);
	if (status || !l->ok) {
		if (status == 0)
			TP_LOG(TP_LOG_NOTICE, "msg=\"login failed\" user_known=%s",
			       l->found ? "yes" : "no");
		tp_http_complete_error(srv, l->ticket, 401,
				       "Invalid username or password", NULL);
		goto out;
	}
	if (tp_jwt_sign(srv->jwt_key, srv->jwt_key_len, l->user_id, now, exp,
			&token) || token.oom) {
		tp_http_complete_error(srv, l->ticket, 503, "Out of memory", NULL);
		goto out;
	}
	tp_buf_puts(&b, "{\"token\":");
	tp_buf_json_strn(&b, tp_buf_data(&token), token.len);
	tp_buf_puts(&b, ",\"expires_at\":");
	tp_buf_json_num(&b, exp);
	tp_buf_printf(&b, ",\"user\":{\"id\":%lld,\"username\":", l->user_id);
	tp_buf_json_str(&b, l->username);
	tp_buf_puts(&b, "}}");
	TP_LOG(TP_LOG_INFO, "msg=\"login\" user_id=%lld", l->user_id);
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

/* Copies a required string member of obj (1..max bytes) into out. */
static bool get_string(const cJSON *obj, const char *name, char *out,
		       size_t max, struct tp_http_resp *resp)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	char msg[96];

	if (!cJSON_IsString(v) || !v->valuestring[0] ||
	    strlen(v->valuestring) > max) {
		snprintf(msg, sizeof(msg), "%s: required, a string of 1 to %zu bytes",
			 name, max);
		tp_http_error(resp, 400, msg, name, NULL);
		return false;
	}
	memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
	return true;
}

void tp_api_login(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	struct tp_server *srv = req->srv;
	struct login *l;
	cJSON *body;
	const char *params[1];

	if (!req->body) {
		tp_http_error(resp, 400, "Body must be a JSON object {\"username\",\"password\"}",
			      NULL, NULL);
		return;
	}
	body = cJSON_ParseWithLength(req->body, req->body_len);
	if (!cJSON_IsObject(body)) {
		cJSON_Delete(body);
		tp_http_error(resp, 400, "Body must be a JSON object {\"username\",\"password\"}",
			      NULL, NULL);
		return;
	}
	if (!(l = tp_calloc(1, sizeof(*l)))) {
		cJSON_Delete(body);
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
		return;
	}
	if (!get_string(body, "username", l->username, USERNAME_MAX, resp) ||
	    !get_string(body, "password", l->password, PASSWORD_MAX, resp)) {
		/* cJSON keeps its own copy of the password until deleted. */
		cJSON *pw = cJSON_GetObjectItemCaseSensitive(body, "password");

		if (cJSON_IsString(pw))
			OPENSSL_cleanse(pw->valuestring, strlen(pw->valuestring));
		cJSON_Delete(body);
		login_free(l);
		return;
	}
	OPENSSL_cleanse(cJSON_GetObjectItemCaseSensitive(body, "password")->valuestring,
			strlen(l->password));
	cJSON_Delete(body);
	if (!tp_ratelimit_allow(srv->login_rl, req->peer, req->now)) {
		login_free(l);
		tp_http_error(resp, 429, "Too many login attempts; try again later", NULL, NULL);
		resp->retry_after = 10;
		return;
	}
	if (!srv->pg) {
		login_free(l);
		tp_http_error(resp, 503, "Database unavailable", NULL, NULL);
		return;
	}
	l->srv = srv;
	l->ticket = tp_http_defer(req, resp);
	if (!l->ticket) {
		login_free(l);
		return;
	}
	params[0] = l->username;
	if (tp_pg_query(srv->pg, &q_user_by_name, params, user_loaded, l)) {
		tp_http_complete_error(srv, l->ticket, 503, "Database unavailable", NULL);
		login_free(l);
	}
}

int tp_http_require_user(const struct tp_http_req *req,
			 struct tp_http_resp *resp, long long *user_id)
{
	struct tp_server *srv = req->srv;
	struct tp_jwt_claims claims;
	struct tp_errdetail err = {{0}, NULL};
	char hdr[TP_JWT_MAX_LEN + 16];
	const char *token = NULL;
	int n = tp_http_req_header(req, "authorization:", hdr, sizeof(hdr));

	if (n > 7 && !strncasecmp(hdr, "Bearer ", 7))
		token = hdr + 7;
	else
		token = tp_query_get(req->query, "token");
	if (!token || !token[0]) {
		tp_http_error(resp, 401, "Authentication required (Authorization: Bearer <token>)",
			      NULL, NULL);
		return TP_ERR_AUTH;
	}
	if (!srv->jwt_key_len ||
	    tp_jwt_verify(srv->jwt_key, srv->jwt_key_len, token, strlen(token),
			  req->now, 30, &claims, &err)) {
		const char *why = err.field && !strcmp(err.field, TP_JWT_R_EXPIRED)
					  ? "Token expired" : "Invalid token";

		tp_http_error(resp, 401, why, NULL, NULL);
		return TP_ERR_AUTH;
	}
	*user_id = claims.sub;
	return TP_OK;
}
