/*
 * test_input.c - hostile input text and account lifetimes, against a real
 * PostgreSQL (schema.sql + sample.sql), Redis and tickpush.
 *
 * Text: every request body route (login, watchlists, filter presets,
 * backtests) refuses invalid UTF-8, NUL (the escape \u0000 and a raw zero
 * byte), raw control characters, data after the JSON value and duplicate
 * members with a 400 naming the field: never a 503 from PostgreSQL, never a
 * silently shortened string. URL query values and WebSocket frames that
 * carry filter text are refused the same way. Every answer is JSON in
 * valid UTF-8, whatever the client sent.
 *
 * Accounts: a token whose user was deleted stops working within the check
 * cache's lifetime (TICKPUSH_USER_CHECK_TTL=1 here): REST user routes,
 * SSE and long-poll answer 401, the WebSocket handshake is refused, an
 * auth frame gets "unauthorized", a live session is closed with 4001 and
 * an open SSE stream ends with an "error" event.
 * A second server with a one-hour cache shows that a query that meets the
 * deletion (a preset subscription) refuses at once and teaches the cache.
 * The login limit per account holds across source addresses (127.0.0.x)
 * and does not lock other accounts out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "it_pg.h"
#include "test_support.h"
#include "tickpush/buf.h"
#include "tickpush/password.h"
#include "ws_client.h"

#define SECRET "integration-test-secret-0123456789abcdef"

static struct it_env env;
/* Users of this test are created with cheap hashes (1,000 iterations):
 * the sample users' 600,000 take seconds each on a loaded machine. */
static char uri_env[600], user_token[1024];

/* ---- helpers ---- */

static bool utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t k = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 :
			   c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;

		if (!k || i + k > n)
			return false;
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
		i += k;
	}
	return true;
}

/* One request from src (NULL = 127.0.0.1) with raw body bytes; returns the
 * status, the parsed body in *json (must be JSON in valid UTF-8) and the
 * Retry-After header in *retry_after (0 = none) when asked for. */
static int request(const char *src, int port, const char *method, const char *path,
		   const char *token, const char *body, size_t body_len, cJSON **json,
		   int *retry_after)
{
	char hdr[1200] = "";
	struct it_http_resp r;
	int status;

	if (token)
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", token);
	if (it_http_from(src, port, method, path, hdr, body, body_len, &r))
		fail_msg("%s %s: transport error", method, path);
	status = r.status;
	if (!utf8_valid((const unsigned char *)r.body, r.body_len))
		fail_msg("%s %s: answer is not valid UTF-8", method, path);
	if (json) {
		*json = cJSON_Parse(r.body);
		if (!*json)
			fail_msg("%s %s: not JSON: %s", method, path, r.body);
	}
	if (retry_after) {
		*retry_after = 0;
		for (const char *h = r.headers; *h; h++)
			if (!strncasecmp(h, "\r\nretry-after:", 14))
				*retry_after = atoi(h + 14);
	}
	it_http_free(&r);
	return status;
}

/* body may be NULL; body_len 0 = strlen(body). Fails unless the answer is 400 naming field
 * (NULL: no field) in "field" and at the start of the message. */
static void expect_400(const char *method, const char *path, const char *token,
		       const char *body, size_t body_len, const char *field)
{
	cJSON *j;
	int status = request(NULL, env.port, method, path, token, body,
			     !body ? 0 : body_len ? body_len : strlen(body), &j, NULL);
	const char *msg = it_json_str(j, "error");

	if (status != 400)
		fail_msg("%s %s %s: %d, want 400 (%s)", method, path, body, status, msg);
	if (field) {
		if (strcmp(it_json_str(j, "field"), field))
			fail_msg("%s %s %s: field \"%s\", want \"%s\" (%s)", method, path, body,
				 it_json_str(j, "field"), field, msg);
		if (strncmp(msg, field, strlen(field)))
			fail_msg("%s %s: message \"%s\" does not name %s", method, path, msg, field);
	}
	cJSON_Delete(j);
}

static int call(const char *method, const char *path, const char *token,
		const char *body, cJSON **json)
{
	return request(NULL, env.port, method, path, token, body,
		       body ? strlen(body) : 0, json, NULL);
}

static void login_at(int port, const char *user, const char *pw, char *token, size_t n)
{
	char body[256];
	cJSON *j;
	int status;

	snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
	status = request(NULL, port, "POST", "/api/auth/login", NULL, body, strlen(body),
			 &j, NULL);
	if (status != 200)
		fail_msg("login %s: %d %s", user, status, it_json_str(j, "error"));
	snprintf(token, n, "%s", it_json_str(j, "token"));
	cJSON_Delete(j);
}

/* A user created behind the server's back, as an administrator would
 * (a cheap hash: 1,000 iterations keep the test fast). */
static void create_user(const char *name, const char *pw)
{
	struct tp_buf hash;
	const char *params[2];
	char id[32];

	tp_buf_init(&hash, 0);
	assert_int_equal(tp_password_hash(pw, 1000, &hash), 0);
	params[0] = name;
	params[1] = tp_buf_cstr(&hash);
	assert_int_equal(it_pg_value(&env, NULL, "INSERT INTO users (username, password_hash) "
				     "VALUES ($1, $2) RETURNING id", 2, params, id, sizeof(id)), 0);
	tp_buf_cleanup(&hash);
}

static void delete_user(const char *name)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "DELETE FROM users WHERE username = '%s'", name);
	assert_int_equal(it_pg_exec(&env, NULL, sql), 0);
}

static int setup(void **state)
{
	char uri[560];
	const char *extra[8];

	(void)state;
	it_setup(&env, "input");
	it_redis_start(&env);
	it_pg_start_sample(&env);
	snprintf(uri_env, sizeof(uri_env), "DATABASE_URI=%s",
		 it_pg_tickpush_uri(&env, uri, sizeof(uri)));
	extra[0] = uri_env;
	extra[1] = "TICKPUSH_JWT_SECRET=" SECRET;
	extra[2] = "TICKPUSH_USER_CHECK_TTL=1";
	/* Per account: 3 failures at once, then one per 100 s. The address
	 * limit is generous here: test_http.c tests it. */
	extra[3] = "TICKPUSH_LOGIN_ACCOUNT_BURST=3";
	extra[4] = "TICKPUSH_LOGIN_ACCOUNT_RATE=0.01";
	extra[5] = "TICKPUSH_LOGIN_BURST=50";
	extra[6] = NULL;
	it_server_start(&env, extra, true);
	if (!it_wait(it_symbols_loaded, &env, 20)) {
		it_dump_logs(&env);
		fail_msg("symbols never loaded");
	}
	create_user("alice", "alice-password");
	create_user("bob", "bob-password");
	login_at(env.port, "alice", "alice-password", user_token, sizeof(user_token));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return it_finish_pg(&env);
}

/* ---- text in request bodies ---- */

static void test_login_body_text(void **state)
{
	static const char nul_raw[] = "{\"username\":\"demo\",\"password\":\"de\0mo\"}";

	(void)state;
	/* A NUL used to cut the name: "demo\u0000" signed in as demo. */
	expect_400("POST", "/api/auth/login", NULL,
		   "{\"username\":\"demo\\u0000\",\"password\":\"demo\"}", 0, "username");
	expect_400("POST", "/api/auth/login", NULL,
		   "{\"username\":\"demo\",\"password\":\"demo\\u0000tail\"}", 0, "password");
	expect_400("POST", "/api/auth/login", NULL, nul_raw, sizeof(nul_raw) - 1, "password");
	/* Invalid UTF-8 used to reach PostgreSQL (22021 -> 503). */
	expect_400("POST", "/api/auth/login", NULL,
		   "{\"username\":\"d\xffmo\",\"password\":\"demo\"}", 0, "username");
	expect_400("POST", "/api/auth/login", NULL,
		   "{\"username\":\"demo\",\"password\":\"\xc0\xaf\"}", 0, "password");
	/* Trailing text after the object used to be ignored. */
	expect_400("POST", "/api/auth/login", NULL,
		   "{\"username\":\"demo\",\"password\":\"demo\"} xx", 0, NULL);
	expect_400("POST", "/api/auth/login", NULL,
		   "{\"username\":\"demo\",\"password\":\"demo\"}{}", 0, NULL);
	expect_400("POST", "/api/auth/login", NULL,
		   "{\"username\":\"demo\",\"username\":\"analyst\",\"password\":\"demo\"}", 0,
		   "username");
	expect_400("POST", "/api/auth/login", NULL,
		   "{\"username\":\"de\tmo\",\"password\":\"demo\"}", 0, "username");
	/* Whitespace around the object is fine. */
	assert_int_equal(call("POST", "/api/auth/login", NULL,
			      " \r\n{\"username\":\"alice\",\"password\":\"alice-password\"}\n\t ",
			      NULL), 200);
}

static void test_watchlist_body_text(void **state)
{
	static const char nul_raw[] = "{\"name\":\"a\0b\",\"symbols\":[\"AAPL\"]}";
	cJSON *j;
	char path[128];

	(void)state;
	expect_400("POST", "/api/users/watchlists", user_token,
		   "{\"name\":\"bad \xff\xfe name\",\"symbols\":[\"AAPL\"]}", 0, "name");
	expect_400("POST", "/api/users/watchlists", user_token,
		   "{\"name\":\"\xed\xa0\x80\",\"symbols\":[\"AAPL\"]}", 0, "name");
	expect_400("POST", "/api/users/watchlists", user_token,
		   "{\"name\":\"a\\u0000b\",\"symbols\":[\"AAPL\"]}", 0, "name");
	expect_400("POST", "/api/users/watchlists", user_token, nul_raw, sizeof(nul_raw) - 1,
		   "name");
	expect_400("POST", "/api/users/watchlists", user_token,
		   "{\"name\":\"ok\",\"symbols\":[\"AAPL\\u0000X\"]}", 0, "symbols");
	expect_400("POST", "/api/users/watchlists", user_token,
		   "{\"name\":\"ok\",\"symbols\":[\"AAPL\"]} xx", 0, NULL);
	expect_400("POST", "/api/users/watchlists", user_token,
		   "{\"name\":\"ok\",\"symbols\":[\"AAPL\"],\"name\":\"other\"}", 0, "name");
	/* An unknown member is ignored, but its text must still be text. */
	expect_400("POST", "/api/users/watchlists", user_token,
		   "{\"name\":\"ok\",\"symbols\":[\"AAPL\"],\"note\":\"\xff\"}", 0, "note");

	assert_int_equal(call("POST", "/api/users/watchlists", user_token,
			      "{\"name\":\"Text \xc3\xa9t\xc3\xa9 \\u00e9\",\"symbols\":[\"AAPL\"]}", &j),
			 201);
	assert_string_equal(it_json_str(j, "name"), "Text \xc3\xa9t\xc3\xa9 \xc3\xa9");
	snprintf(path, sizeof(path), "/api/users/watchlists/%.0f", it_json_num(j, "id"));
	cJSON_Delete(j);
	expect_400("PUT", path, user_token, "{\"name\":\"x\\u0000\"}", 0, "name");
	expect_400("PUT", path, user_token, "{\"name\":\"x\xe2\x82\"}", 0, "name");
	expect_400("PUT", path, user_token, "{\"name\":\"x\"}]", 0, NULL);
	assert_int_equal(call("GET", path, user_token, NULL, &j), 200);
	assert_string_equal(it_json_str(j, "name"), "Text \xc3\xa9t\xc3\xa9 \xc3\xa9");
	cJSON_Delete(j);
	assert_int_equal(call("DELETE", path, user_token, NULL, NULL), 200);
}

static void test_preset_body_text(void **state)
{
	cJSON *j;
	char path[128];

	(void)state;
	expect_400("POST", "/api/users/filter-presets", user_token,
		   "{\"name\":\"p\\u0000\",\"filters\":{}}", 0, "name");
	expect_400("POST", "/api/users/filter-presets", user_token,
		   "{\"name\":\"p\",\"filters\":{\"sectors\":[\"Energy\\u0000\"]}}", 0,
		   "filters.sectors");
	/* Invalid UTF-8 inside filters used to reach jsonb (503). */
	expect_400("POST", "/api/users/filter-presets", user_token,
		   "{\"name\":\"p\",\"filters\":{\"pattern_types\":[\"Dra\xffon\"]}}", 0,
		   "filters.pattern_types");
	expect_400("POST", "/api/users/filter-presets", user_token,
		   "{\"name\":\"p\",\"filters\":{\"universe\":\"\\u0000\"}}", 0,
		   "filters.universe");
	expect_400("POST", "/api/users/filter-presets", user_token,
		   "{\"name\":\"p\",\"filters\":{}} {}", 0, NULL);
	assert_int_equal(call("POST", "/api/users/filter-presets", user_token,
			      "{\"name\":\"text preset\",\"filters\":{}}", &j), 201);
	snprintf(path, sizeof(path), "/api/users/filter-presets/%.0f", it_json_num(j, "id"));
	cJSON_Delete(j);
	expect_400("PUT", path, user_token, "{\"filters\":{\"sectors\":\"\xf4\x90\x80\x80\"}}", 0,
		   "filters.sectors");
	expect_400("PUT", path, user_token, "{\"is_default\":true}x", 0, NULL);
	assert_int_equal(call("DELETE", path, user_token, NULL, NULL), 200);
}

static void test_backtest_body_text(void **state)
{
	(void)state;
	/* "AAPL\u0000" used to be submitted as AAPL. */
	expect_400("POST", "/api/backtests", user_token,
		   "{\"symbols\":[\"AAPL\\u0000\"],\"patterns\":[\"Doji\"],"
		   "\"start_date\":\"2024-01-02\",\"end_date\":\"2024-06-28\"}", 0, "symbols");
	expect_400("POST", "/api/backtests", user_token,
		   "{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],\"start_date\":\"2024-01-02\","
		   "\"end_date\":\"2024-06-28\",\"parameters\":{\"note\":\"\xff\"}}", 0,
		   "parameters.note");
	expect_400("POST", "/api/backtests", user_token,
		   "{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],\"start_date\":\"2024-01-02\","
		   "\"end_date\":\"2024-06-28\",\"parameters\":{\"note\":\"a\\u0000b\"}}", 0,
		   "parameters.note");
	expect_400("POST", "/api/backtests", user_token,
		   "{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],\"start_date\":\"2024-01-02\","
		   "\"end_date\":\"2024-06-28\"} 1", 0, NULL);
	expect_400("POST", "/api/backtests", user_token,
		   "{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],\"start_date\":\"2024-01-02\\u0000\","
		   "\"end_date\":\"2024-06-28\"}", 0, "start_date");
}

/* ---- text in URLs and WebSocket frames ---- */

static void test_query_and_frame_text(void **state)
{
	struct it_ws ws;
	cJSON *j;

	(void)state;
	expect_400("GET", "/api/patterns/scan?sectors=%ff", NULL, NULL, 0, "sectors");
	expect_400("GET", "/api/patterns/scan?pattern_types=Doji,%c3%28", NULL, NULL, 0,
		   "pattern_types");
	expect_400("GET", "/api/patterns/poll?timeout=0&sectors=Energy%ed%a0%80", NULL, NULL, 0,
		   "sectors");

	/* A text frame that is not UTF-8 fails the connection (RFC 6455:
	 * 1007, enforced by libwebsockets before our parser). */
	assert_int_equal(it_ws_connect(&ws, env.port, "/ws", NULL, 0), 0);
	cJSON_Delete(it_ws_wait_type(&ws, "hello", 20));
	assert_int_equal(it_ws_send_text(&ws, "{\"op\":\"subscribe\",\"id\":\"s\",\"channel\":"
					 "\"patterns\",\"filter\":{\"sectors\":[\"\xff\"]}}"), 0);
	assert_int_equal(it_ws_wait_close(&ws, 20), 1007);
	it_ws_close(&ws);
	/* Valid UTF-8 that would cut a string: an error frame naming the
	 * member, and the session goes on. */
	assert_int_equal(it_ws_connect(&ws, env.port, "/ws", NULL, 0), 0);
	cJSON_Delete(it_ws_wait_type(&ws, "hello", 20));
	for (int i = 0; i < 2; i++) {
		const char *frame = i ? "{\"op\":\"subscribe\",\"id\":\"s\",\"channel\":\"patterns\","
					"\"filter\":{\"universe\":\"x\\u0000\"}}"
				      : "{\"op\":\"subscribe\",\"id\":\"s\",\"channel\":\"patterns\","
					"\"filter\":{\"sectors\":[\"Energy\\u0000\"]}}";
		const char *member = i ? "filter.universe" : "filter.sectors";

		assert_int_equal(it_ws_send_text(&ws, frame), 0);
		j = it_ws_wait_type(&ws, "error", 20);
		assert_non_null(j);
		assert_string_equal(it_json_str(j, "code"), "bad_request");
		if (!strstr(it_json_str(j, "message"), member))
			fail_msg("error does not name %s: %s", member, it_json_str(j, "message"));
		cJSON_Delete(j);
	}
	assert_int_equal(it_ws_send_text(&ws, "{\"op\":\"ping\"}"), 0);
	j = it_ws_wait_type(&ws, "pong", 20);
	assert_non_null(j);
	cJSON_Delete(j);
	it_ws_close(&ws);
}

/* ---- login limit per account ---- */

static void test_login_limited_per_account(void **state)
{
	const char *wrong = "{\"username\":\"bob\",\"password\":\"guess\"}";
	const char *right = "{\"username\":\"bob\",\"password\":\"bob-password\"}";
	const char *other = "{\"username\":\"alice\",\"password\":\"alice-password\"}";
	const char *upper = "{\"username\":\"BOB\",\"password\":\"x\"}";
	char src[32];
	cJSON *j;
	int ra, status;

	(void)state;
	/* An attacker rotating addresses: one attempt from each. The account
	 * takes 3 failures, then 429 whatever the address. */
	for (int i = 0; i < 8; i++) {
		snprintf(src, sizeof(src), "127.0.0.%d", 2 + i);
		status = request(src, env.port, "POST", "/api/auth/login", NULL, wrong,
				 strlen(wrong), &j, &ra);
		if (i < 3) {
			assert_int_equal(status, 401);
		} else {
			if (status != 429)
				fail_msg("attempt %d from %s: %d, want 429", i + 1, src, status);
			assert_true(ra >= 1);
			assert_string_equal(it_json_str(j, "field"), "username");
		}
		cJSON_Delete(j);
	}
	/* The name is normalised: case does not open a new budget. */
	status = request("127.0.0.20", env.port, "POST", "/api/auth/login", NULL, upper,
			 strlen(upper), NULL, &ra);
	assert_int_equal(status, 429);
	/* Limited before the password is checked: the right one waits too. */
	assert_int_equal(request("127.0.0.21", env.port, "POST", "/api/auth/login", NULL, right,
				 strlen(right), NULL, NULL), 429);
	/* Another account from an address that took part is not locked out,
	 * and successful logins do not spend the account's budget. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(request("127.0.0.9", env.port, "POST", "/api/auth/login", NULL,
					 other, strlen(other), NULL, NULL), 200);
}

/* ---- deleted accounts ---- */

static bool refused(void *ud)
{
	const char *token = ud;

	return call("GET", "/api/users/watchlists", token, NULL, NULL) == 401;
}

/* gone: the message must say the account is gone (the scan words its own
 * 401 for preset_id). */
static void expect_401(int port, const char *method, const char *path, const char *token,
		       const char *body, bool gone)
{
	cJSON *j;
	int status = request(NULL, port, method, path, token, body, body ? strlen(body) : 0,
			     &j, NULL);

	if (status != 401)
		fail_msg("%s %s: %d, want 401 (%s)", method, path, status, it_json_str(j, "error"));
	if (gone)
		assert_string_equal(it_json_str(j, "error"), "Account no longer exists");
	cJSON_Delete(j);
}

/* Opens an SSE stream with token on a raw connection (200 expected). */
static int sse_open(const char *token)
{
	char req[1400], buf[2048];
	int fd = it_connect(env.port);
	ssize_t n;

	assert_true(fd >= 0);
	snprintf(req, sizeof(req), "GET /api/stream?channels=health&token=%s HTTP/1.1\r\n"
		 "Host: x\r\n\r\n", token);
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	if (!strstr(buf, " 200 "))
		fail_msg("SSE: %s", buf);
	return fd;
}

/* Reads fd until the server closes it (or timeout); true when an SSE
 * "error" event saying unauthorized came before the end. */
static bool sse_ends_unauthorized(int fd, double timeout)
{
	static char buf[1 << 16];
	size_t len = 0;
	double end = it_now() + timeout;
	bool closed = false;

	while (it_now() < end && len < sizeof(buf) - 1) {
		ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);

		if (r == 0) {
			closed = true;
			break;
		}
		if (r > 0)
			len += (size_t)r;
	}
	buf[len] = '\0';
	close(fd);
	return closed && strstr(buf, "event: error\n") && strstr(buf, "\"unauthorized\"");
}

static void test_deleted_user_token(void **state)
{
	char token[1024], path[1200];
	struct it_ws live, anon, again;
	cJSON *j;
	double preset;
	int sse;

	(void)state;
	create_user("ghost", "ghost-password");
	login_at(env.port, "ghost", "ghost-password", token, sizeof(token));
	assert_int_equal(call("POST", "/api/users/filter-presets", token,
			      "{\"name\":\"ghost preset\",\"filters\":{}}", &j), 201);
	preset = it_json_num(j, "id");
	cJSON_Delete(j);
	snprintf(path, sizeof(path), "/ws?token=%s", token);
	assert_int_equal(it_ws_connect(&live, env.port, path, NULL, 0), 0);
	cJSON_Delete(it_ws_wait_type(&live, "hello", 20));
	assert_int_equal(it_ws_connect(&anon, env.port, "/ws", NULL, 0), 0);
	cJSON_Delete(it_ws_wait_type(&anon, "hello", 20));
	sse = sse_open(token);

	delete_user("ghost");
	/* Within the check cache's lifetime (1 s here) the token is refused. */
	if (!it_wait(refused, token, 10))
		fail_msg("the deleted user's token still works");
	expect_401(env.port, "GET", "/api/users/watchlists", token, NULL, true);
	expect_401(env.port, "POST", "/api/users/watchlists", token,
		   "{\"name\":\"x\",\"symbols\":[\"AAPL\"]}", true);
	expect_401(env.port, "GET", "/api/users/filter-presets", token, NULL, true);
	expect_401(env.port, "GET", "/api/backtests", token, NULL, true);
	expect_401(env.port, "POST", "/api/backtests", token,
		   "{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],"
		   "\"start_date\":\"2024-01-02\",\"end_date\":\"2024-06-28\"}", true);
	expect_401(env.port, "GET", "/api/backtests/some-job", token, NULL, true);
	snprintf(path, sizeof(path), "/api/patterns/scan?preset_id=%.0f", preset);
	expect_401(env.port, "GET", path, token, NULL, false);
	snprintf(path, sizeof(path), "/api/patterns/poll?timeout=0&token=%s", token);
	expect_401(env.port, "GET", path, NULL, NULL, true);
	snprintf(path, sizeof(path), "/api/stream?token=%s", token);
	expect_401(env.port, "GET", path, NULL, NULL, true);

	/* The live session is closed; a new one is refused at the handshake;
	 * an anonymous one cannot sign in with the token. */
	assert_int_equal(it_ws_wait_close(&live, 10), 4001);
	it_ws_close(&live);
	assert_true(sse_ends_unauthorized(sse, 10));
	snprintf(path, sizeof(path), "/ws?token=%s", token);
	assert_int_equal(it_ws_connect(&again, env.port, path, NULL, 0), -1);
	assert_int_equal(again.http_status, 401);
	snprintf(path, sizeof(path), "{\"op\":\"auth\",\"token\":\"%s\"}", token);
	assert_int_equal(it_ws_send_text(&anon, path), 0);
	j = it_ws_wait_type(&anon, "error", 20);
	assert_non_null(j);
	assert_string_equal(it_json_str(j, "code"), "unauthorized");
	cJSON_Delete(j);
	it_ws_close(&anon);
	/* Other users are unaffected. */
	assert_int_equal(call("GET", "/api/users/watchlists", user_token, NULL, NULL), 200);
}

/* With a one-hour cache, the deletion is found by the query of a preset
 * subscription: refused at once, and the cache learns it (REST 401, the
 * session closed 4001) without waiting for the hour. */
static void test_deletion_found_by_preset_query(void **state)
{
	const char *extra[] = {uri_env, "TICKPUSH_JWT_SECRET=" SECRET,
			       "TICKPUSH_USER_CHECK_TTL=3600", NULL};
	struct it_env e2;
	struct it_ws ws;
	const char *body = "{\"name\":\"g2\",\"filters\":{}}";
	char token[1024], path[1200], frame[256];
	cJSON *j;
	double preset;

	(void)state;
	it_setup(&e2, "input-ttl");
	snprintf(e2.redis_sock, sizeof(e2.redis_sock), "%s", env.redis_sock);
	it_server_start(&e2, extra, true);
	create_user("ghost2", "ghost-password");
	login_at(e2.port, "ghost2", "ghost-password", token, sizeof(token));
	assert_int_equal(request(NULL, e2.port, "POST", "/api/users/filter-presets", token,
				 body, strlen(body), &j, NULL), 201);
	preset = it_json_num(j, "id");
	cJSON_Delete(j);
	snprintf(path, sizeof(path), "/ws?token=%s", token);
	assert_int_equal(it_ws_connect(&ws, e2.port, path, NULL, 0), 0);
	cJSON_Delete(it_ws_wait_type(&ws, "hello", 20));
	snprintf(frame, sizeof(frame), "{\"op\":\"subscribe\",\"id\":\"a\",\"channel\":"
		 "\"patterns\",\"preset_id\":%.0f}", preset);
	assert_int_equal(it_ws_send_text(&ws, frame), 0);
	j = it_ws_wait_type(&ws, "subscribed", 20);
	assert_non_null(j);
	cJSON_Delete(j);

	delete_user("ghost2");
	snprintf(frame, sizeof(frame), "{\"op\":\"subscribe\",\"id\":\"b\",\"channel\":"
		 "\"patterns\",\"preset_id\":%.0f}", preset);
	assert_int_equal(it_ws_send_text(&ws, frame), 0);
	j = it_ws_wait_type(&ws, "error", 20);
	assert_non_null(j);
	assert_string_equal(it_json_str(j, "code"), "unauthorized");
	assert_string_equal(it_json_str(j, "id"), "b");
	cJSON_Delete(j);
	assert_int_equal(it_ws_wait_close(&ws, 20), 4001);
	it_ws_close(&ws);
	expect_401(e2.port, "GET", "/api/users/watchlists", token, NULL, true);
	assert_int_equal(it_finish(&e2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_login_body_text),
		cmocka_unit_test(test_watchlist_body_text),
		cmocka_unit_test(test_preset_body_text),
		cmocka_unit_test(test_backtest_body_text),
		cmocka_unit_test(test_query_and_frame_text),
		cmocka_unit_test(test_login_limited_per_account),
		cmocka_unit_test(test_deleted_user_token),
		cmocka_unit_test(test_deletion_found_by_preset_query),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
