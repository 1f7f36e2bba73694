/*
 * test_users.c - accounts, tokens and the user's own objects against a real
 * PostgreSQL (schema.sql + sample.sql) and a real tickpush.
 *
 * Covers: login (good, wrong password, unknown user, malformed); every
 * token rejection; watchlist and preset CRUD with validation errors that
 * name the field; one default preset per user; user A never sees user B's
 * objects (404); scan with preset_id (watchlist resolution, explicit
 * parameters override) and sectors; the read-only database role; a stuck
 * query times out (503) without delaying a concurrent scan; PostgreSQL down
 * -> 503 for user objects, patterns unaffected, recovery by itself;
 * `tickpush user add`.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "it_pg.h"
#include "test_support.h"
#include "tickpush/buf.h"
#include "tickpush/jwt.h"

#define SECRET "integration-test-secret-0123456789abcdef"

static struct it_env env;
static char uri_env[600], demo_token[1024], analyst_token[1024];

static void tickpush_uri(char *out, size_t n)
{
	it_pg_tickpush_uri(&env, out, n);
}

static void login(const char *user, const char *pw, char *token, size_t n)
{
	char body[256];
	struct it_http_resp r;
	cJSON *j;

	snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
	assert_int_equal(it_http(env.port, "POST", "/api/auth/login", NULL, body,
				 strlen(body), &r), 0);
	if (r.status != 200)
		fail_msg("login %s: %d %s", user, r.status, r.body);
	j = cJSON_Parse(r.body);
	snprintf(token, n, "%s", cJSON_GetObjectItemCaseSensitive(j, "token")->valuestring);
	cJSON_Delete(j);
	it_http_free(&r);
}

static int setup(void **state)
{
	char uri[560];
	const char *extra[8];

	(void)state;
	it_setup(&env, "users");
	it_redis_start(&env);
	it_pg_start_sample(&env);
	tickpush_uri(uri, sizeof(uri));
	snprintf(uri_env, sizeof(uri_env), "DATABASE_URI=%s", uri);
	extra[0] = uri_env;
	extra[1] = "TICKPUSH_JWT_SECRET=" SECRET;
	/* Long enough that the stuck login is surely still waiting while
	 * two other requests are answered, even on a loaded box. */
	extra[2] = "TICKPUSH_DB_QUERY_TIMEOUT=3";
	extra[3] = "TICKPUSH_SYMBOLS_REFRESH=1";
	/* Every request comes from 127.0.0.1: the login rate limit has its own
	 * test (test_http.c). */
	extra[4] = "TICKPUSH_LOGIN_BURST=1000";
	extra[5] = NULL;
	it_server_start(&env, extra, true);
	if (!it_wait(it_symbols_loaded, &env, 20)) {
		it_dump_logs(&env);
		fail_msg("symbols never loaded");
	}
	login("demo", "demo", demo_token, sizeof(demo_token));
	login("analyst", "analyst", analyst_token, sizeof(analyst_token));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return it_finish_pg(&env);
}

/* Request with a bearer token (NULL = none); returns the status, body in
 * *json (parsed, may be NULL). */
static int call(const char *method, const char *path, const char *token,
		const char *body, cJSON **json)
{
	return it_call(env.port, method, path, token, body, json);
}

static void expect_error(const char *method, const char *path, const char *token,
			 const char *body, int status, const char *field)
{
	cJSON *j;
	int got = call(method, path, token, body, &j);

	if (got != status)
		fail_msg("%s %s: %d, want %d", method, path, got, status);
	assert_true(it_json_str(j, "error")[0] != '\0');
	if (field && strcmp(it_json_str(j, "field"), field))
		fail_msg("%s %s: field \"%s\", want \"%s\" (%s)", method, path,
			 it_json_str(j, "field"), field, it_json_str(j, "error"));
	cJSON_Delete(j);
}

static void test_login(void **state)
{
	cJSON *j;
	char wrong[256], unknown[256];

	(void)state;
	assert_true(strlen(demo_token) > 20);
	snprintf(wrong, sizeof(wrong), "{\"username\":\"demo\",\"password\":\"nope\"}");
	snprintf(unknown, sizeof(unknown), "{\"username\":\"nobody\",\"password\":\"nope\"}");
	assert_int_equal(call("POST", "/api/auth/login", NULL, wrong, &j), 401);
	char msg_wrong[128];
	snprintf(msg_wrong, sizeof(msg_wrong), "%s", it_json_str(j, "error"));
	cJSON_Delete(j);
	assert_int_equal(call("POST", "/api/auth/login", NULL, unknown, &j), 401);
	/* The same message: the existence of an account is not revealed. */
	assert_string_equal(it_json_str(j, "error"), msg_wrong);
	cJSON_Delete(j);
	expect_error("POST", "/api/auth/login", NULL, "{\"password\":\"x\"}", 400, "username");
	expect_error("POST", "/api/auth/login", NULL, "{\"username\":\"demo\",\"password\":7}", 400,
		     "password");
	expect_error("POST", "/api/auth/login", NULL, "[1]", 400, NULL);
	expect_error("GET", "/api/auth/login", NULL, NULL, 405, NULL);
}

static void make_token(char *out, size_t n, const unsigned char *key, size_t keylen,
		       long long sub, double iat, double exp)
{
	struct tp_buf b;

	tp_buf_init(&b, 0);
	assert_int_equal(tp_jwt_sign(key, keylen, sub, iat, exp, &b), 0);
	snprintf(out, n, "%s", tp_buf_cstr(&b));
	tp_buf_cleanup(&b);
}

static void test_token_rejections(void **state)
{
	const unsigned char *key = (const unsigned char *)SECRET;
	double now = (double)time(NULL);
	char tok[1200], path[1400];

	(void)state;
	expect_error("GET", "/api/users/watchlists", NULL, NULL, 401, NULL);
	expect_error("GET", "/api/users/watchlists", "garbage", NULL, 401, NULL);
	expect_error("GET", "/api/users/watchlists", "a.b.c", NULL, 401, NULL);
	/* Signed with another key. */
	make_token(tok, sizeof(tok), (const unsigned char *)"another-secret-another-secret-xx", 32,
		   1, now, now + 600);
	expect_error("GET", "/api/users/watchlists", tok, NULL, 401, NULL);
	/* Expired. */
	make_token(tok, sizeof(tok), key, strlen(SECRET), 1, now - 7200, now - 3600);
	cJSON *j;
	assert_int_equal(call("GET", "/api/users/watchlists", tok, NULL, &j), 401);
	assert_string_equal(it_json_str(j, "error"), "Token expired");
	cJSON_Delete(j);
	/* alg none with the payload of a valid token. */
	make_token(tok, sizeof(tok), key, strlen(SECRET), 1, now, now + 600);
	char *dot = strchr(tok, '.');
	char none[1200];
	snprintf(none, sizeof(none), "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0%.*s.",
		 (int)(strrchr(tok, '.') - dot), dot);
	expect_error("GET", "/api/users/watchlists", none, NULL, 401, NULL);
	/* A valid token works, also as ?token=. */
	assert_int_equal(call("GET", "/api/users/watchlists", tok, NULL, NULL), 200);
	snprintf(path, sizeof(path), "/api/users/watchlists?token=%s", tok);
	assert_int_equal(call("GET", path, NULL, NULL, NULL), 200);
}

static void test_watchlist_crud(void **state)
{
	cJSON *j, *syms;
	char path[128], id[32];

	(void)state;
	assert_int_equal(call("POST", "/api/users/watchlists", demo_token,
			      "{\"name\":\"CRUD list\",\"symbols\":[\"msft\",\"AAPL\",\"aapl\"]}", &j), 201);
	snprintf(id, sizeof(id), "%.0f", it_json_num(j, "id"));
	syms = cJSON_GetObjectItemCaseSensitive(j, "symbols");
	assert_int_equal(cJSON_GetArraySize(syms), 2);
	assert_string_equal(cJSON_GetArrayItem(syms, 0)->valuestring, "AAPL");
	assert_string_equal(cJSON_GetArrayItem(syms, 1)->valuestring, "MSFT");
	assert_true(it_json_num(j, "created_at") > 0);
	cJSON_Delete(j);

	snprintf(path, sizeof(path), "/api/users/watchlists/%s", id);
	assert_int_equal(call("GET", path, demo_token, NULL, &j), 200);
	assert_string_equal(it_json_str(j, "name"), "CRUD list");
	cJSON_Delete(j);
	assert_int_equal(call("PUT", path, demo_token, "{\"name\":\"Renamed\"}", &j), 200);
	assert_string_equal(it_json_str(j, "name"), "Renamed");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "symbols")), 2);
	cJSON_Delete(j);
	assert_int_equal(call("PUT", path, demo_token,
			      "{\"symbols\":[\"AAPL\",\"NOPE1\",\"NOPE2\"]}", &j), 400);
	assert_string_equal(it_json_str(j, "field"), "symbols");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "unknown")), 2);
	cJSON_Delete(j);

	/* Validation, each naming its field. */
	expect_error("POST", "/api/users/watchlists", demo_token, "{\"symbols\":[]}", 400, "name");
	expect_error("POST", "/api/users/watchlists", demo_token, "{\"name\":\"\",\"symbols\":[]}", 400, "name");
	expect_error("POST", "/api/users/watchlists", demo_token, "{\"name\":\"x\",\"symbols\":\"AAPL\"}", 400, "symbols");
	expect_error("POST", "/api/users/watchlists", demo_token, "{\"name\":\"x\",\"symbols\":[1]}", 400, "symbols");
	expect_error("POST", "/api/users/watchlists", demo_token, "not json", 400, NULL);
	expect_error("POST", "/api/users/watchlists", demo_token,
		     "{\"name\":\"Renamed\",\"symbols\":[\"AAPL\"]}", 409, "name");
	char big[120 + 501 * 8];
	size_t n = (size_t)sprintf(big, "{\"name\":\"big\",\"symbols\":[");
	for (int i = 0; i < 501; i++)
		n += (size_t)sprintf(big + n, "%s\"AAPL\"", i ? "," : "");
	sprintf(big + n, "]}");
	expect_error("POST", "/api/users/watchlists", demo_token, big, 400, "symbols");
	expect_error("GET", "/api/users/watchlists/abc", demo_token, NULL, 404, NULL);

	assert_int_equal(call("DELETE", path, demo_token, NULL, &j), 200);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "deleted")));
	cJSON_Delete(j);
	expect_error("GET", path, demo_token, NULL, 404, NULL);
	expect_error("DELETE", path, demo_token, NULL, 404, NULL);
}

static void test_body_too_large(void **state)
{
	char *body = malloc(70 * 1024);
	struct it_http_resp r;
	char hdr[1200];

	(void)state;
	memset(body, ' ', 70 * 1024);
	body[0] = '{';
	body[70 * 1024 - 1] = '}';
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", demo_token);
	assert_int_equal(it_http(env.port, "POST", "/api/users/watchlists", hdr, body,
				 70 * 1024, &r), 0);
	assert_int_equal(r.status, 413);
	assert_non_null(strstr(r.body, "\"error\""));
	it_http_free(&r);
	free(body);
}

static double find_default(cJSON *list)
{
	cJSON *p;
	double id = -1;
	int defaults = 0;

	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(list, "presets")) {
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "is_default"))) {
			defaults++;
			id = it_json_num(p, "id");
		}
	}
	assert_true(defaults <= 1);
	return id;
}

static void test_preset_crud(void **state)
{
	cJSON *j;
	char path[128], body[512];
	double id;

	(void)state;
	assert_int_equal(call("POST", "/api/users/filter-presets", demo_token,
			      "{\"name\":\"Breakouts\",\"filters\":{\"pattern_types\":[\"WeeklyBO\"],"
			      "\"confidence_min\":0.7,\"rsi_range\":[30,70],\"timeframe\":\"Daily\"},"
			      "\"is_default\":true}", &j), 201);
	id = it_json_num(j, "id");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "is_default")));
	cJSON_Delete(j);
	/* Exactly one default per user: the new one. */
	assert_int_equal(call("GET", "/api/users/filter-presets", demo_token, NULL, &j), 200);
	assert_true(find_default(j) == id);
	cJSON_Delete(j);

	/* Validation errors name the filter field. */
	expect_error("POST", "/api/users/filter-presets", demo_token,
		     "{\"name\":\"b1\",\"filters\":{\"rsi_range\":[10,200]}}", 400, "rsi_range");
	expect_error("POST", "/api/users/filter-presets", demo_token,
		     "{\"name\":\"b2\",\"filters\":{\"confidence_min\":\"high\"}}", 400, "confidence_min");
	expect_error("POST", "/api/users/filter-presets", demo_token,
		     "{\"name\":\"b3\",\"filters\":{\"timeframe\":\"Weekly\"}}", 400, "timeframe");
	expect_error("POST", "/api/users/filter-presets", demo_token,
		     "{\"name\":\"b4\",\"filters\":{\"bogus\":1}}", 400, NULL);
	expect_error("POST", "/api/users/filter-presets", demo_token,
		     "{\"name\":\"b5\",\"filters\":{\"universe\":\"no_such_universe\"}}", 400, "universe");
	expect_error("POST", "/api/users/filter-presets", demo_token,
		     "{\"name\":\"b6\",\"filters\":{},\"is_default\":\"yes\"}", 400, "is_default");
	/* The analyst's watchlist is not demo's to reference. */
	char wl[32] = "";
	it_pg_value(&env, NULL, "SELECT w.id FROM user_watchlists w JOIN users u ON u.id = w.user_id "
		    "WHERE u.username = 'analyst' LIMIT 1", 0, NULL, wl, sizeof(wl));
	snprintf(body, sizeof(body), "{\"name\":\"b7\",\"filters\":{\"watchlist_id\":%s}}", wl);
	expect_error("POST", "/api/users/filter-presets", demo_token, body, 400, "watchlist_id");

	snprintf(path, sizeof(path), "/api/users/filter-presets/%.0f", id);
	assert_int_equal(call("PUT", path, demo_token, "{\"filters\":{\"confidence_min\":0.9}}", &j), 200);
	assert_true(it_json_num(cJSON_GetObjectItemCaseSensitive(j, "filters"), "confidence_min") == 0.9);
	cJSON_Delete(j);
	assert_int_equal(call("DELETE", path, demo_token, NULL, NULL), 200);
	expect_error("GET", path, demo_token, NULL, 404, NULL);
}

static void test_other_users_objects_are_invisible(void **state)
{
	cJSON *j;
	char path[128];

	(void)state;
	assert_int_equal(call("POST", "/api/users/watchlists", analyst_token,
			      "{\"name\":\"Analyst private\",\"symbols\":[\"IBM\"]}", &j), 201);
	snprintf(path, sizeof(path), "/api/users/watchlists/%.0f", it_json_num(j, "id"));
	cJSON_Delete(j);
	expect_error("GET", path, demo_token, NULL, 404, NULL);
	expect_error("PUT", path, demo_token, "{\"name\":\"hijack\"}", 404, NULL);
	expect_error("DELETE", path, demo_token, NULL, 404, NULL);
	assert_int_equal(call("GET", path, analyst_token, NULL, &j), 200);
	assert_string_equal(it_json_str(j, "name"), "Analyst private");
	cJSON_Delete(j);
	/* Not listed for demo either. */
	assert_int_equal(call("GET", "/api/users/watchlists", demo_token, NULL, &j), 200);
	cJSON *w;
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(j, "watchlists"))
		assert_string_not_equal(it_json_str(w, "name"), "Analyst private");
	cJSON_Delete(j);
}

static int total_of(const char *path, const char *token)
{
	cJSON *j;
	int total;

	assert_int_equal(call("GET", path, token, NULL, &j), 200);
	total = (int)it_json_num(cJSON_GetObjectItemCaseSensitive(j, "pagination"), "total");
	cJSON_Delete(j);
	return total;
}

struct want_total {
	const char *path;
	int total;
};

static bool total_is(void *ud)
{
	struct want_total *w = ud;

	return total_of(w->path, NULL) == w->total;
}

static void test_scan_with_preset_and_sectors(void **state)
{
	char ev[512], path[256], body[256];
	cJSON *j;
	long long now = (long long)time(NULL);
	const char *syms[] = {"AAPL", "MSFT", "JPM", "XOM"};

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"%s\","
			 "\"pattern\":\"Hammer\",\"confidence\":0.75,\"timestamp\":%lld}}", syms[i], now);
		it_publish(&env, "tickstock.events.patterns", ev);
	}
	struct want_total w = {"/api/patterns/scan?pattern_types=Hammer&confidence_min=0", 4};
	assert_true(it_wait(total_is, &w, 20));
	/* Sectors come from the symbols table. */
	assert_int_equal(total_of("/api/patterns/scan?pattern_types=Hammer&confidence_min=0"
				  "&sectors=Information%20Technology", NULL), 2);
	assert_int_equal(total_of("/api/patterns/scan?pattern_types=Hammer&confidence_min=0"
				  "&sectors=energy", NULL), 1);

	/* A preset over a watchlist of AAPL and JPM. */
	assert_int_equal(call("POST", "/api/users/watchlists", demo_token,
			      "{\"name\":\"Preset list\",\"symbols\":[\"AAPL\",\"JPM\"]}", &j), 201);
	snprintf(body, sizeof(body), "{\"name\":\"Hammers on my list\",\"filters\":{"
		 "\"watchlist_id\":%.0f,\"pattern_types\":[\"Hammer\"],\"confidence_min\":0}}",
		 it_json_num(j, "id"));
	cJSON_Delete(j);
	assert_int_equal(call("POST", "/api/users/filter-presets", demo_token, body, &j), 201);
	snprintf(path, sizeof(path), "/api/patterns/scan?preset_id=%.0f", it_json_num(j, "id"));
	cJSON_Delete(j);
	assert_int_equal(total_of(path, demo_token), 2);
	/* Explicit parameters override the preset's. */
	strcat(path, "&confidence_min=0.9");
	assert_int_equal(total_of(path, demo_token), 0);
	/* Another user's preset, or none: 404; no token: 401. */
	*strrchr(path, '&') = '\0';
	cJSON *e;
	assert_int_equal(call("GET", path, analyst_token, NULL, &e), 404);
	assert_string_equal(it_json_str(e, "field"), "preset_id");
	cJSON_Delete(e);
	assert_int_equal(call("GET", path, NULL, NULL, NULL), 401);
}

static void test_readonly_role(void **state)
{
	(void)state;
	/* What tickpush's role may and may not do, enforced by PostgreSQL. */
	assert_int_equal(it_pg_exec(&env, NULL, "SET ROLE tickpush; SELECT count(*) FROM symbols"), 0);
	assert_int_equal(it_pg_exec(&env, NULL, "SET ROLE tickpush; INSERT INTO symbols (symbol, name) "
				    "VALUES ('EVIL', 'x')"), -1);
	assert_int_equal(it_pg_exec(&env, NULL, "SET ROLE tickpush; UPDATE symbols SET name = 'x'"), -1);
	assert_int_equal(it_pg_exec(&env, NULL, "SET ROLE tickpush; DELETE FROM cache_entries"), -1);
	assert_int_equal(it_pg_exec(&env, NULL, "SET ROLE tickpush; UPDATE user_watchlists "
				    "SET name = name WHERE false"), 0);
}

static bool users_locked(void *ud)
{
	char n[16];

	(void)ud;
	return it_pg_value(&env, NULL, "SELECT count(*) FROM pg_locks l JOIN pg_class c "
			   "ON c.oid = l.relation WHERE c.relname = 'users' "
			   "AND l.mode = 'AccessExclusiveLock' AND l.granted", 0, NULL, n,
			   sizeof(n)) == 0 && !strcmp(n, "1");
}

static void test_stuck_query_times_out_without_blocking(void **state)
{
	char req[512], buf[4096];
	const char *body = "{\"username\":\"demo\",\"password\":\"demo\"}";
	pid_t locker;
	int fd, status;
	ssize_t n;
	cJSON *j;

	(void)state;
	/* Hold an exclusive lock on users from another session until this
	 * test ends it; the login starts once the lock is granted (a fixed
	 * pause may end before that on a loaded box). */
	locker = fork();
	if (locker == 0)
		_exit(it_pg_exec(&env, NULL, "BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE; "
				 "SELECT pg_sleep(60); COMMIT") ? 1 : 0);
	if (!it_wait(users_locked, NULL, 20))
		fail_msg("the lock on users was never granted");
	fd = it_connect(env.port);
	assert_true(fd >= 0);
	snprintf(req, sizeof(req), "POST /api/auth/login HTTP/1.1\r\nHost: x\r\n"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(body), body);
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	/* While the login waits on the lock, other requests are answered. */
	usleep(100 * 1000);
	cJSON_Delete(it_get_json(env.port, "/api/patterns/scan", 200));
	cJSON_Delete(it_get_json(env.port, "/api/patterns/stats", 200));
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
	/* The login's query times out (3 s): 503, as JSON. Headers and body
	 * may arrive in separate segments: read until the body is there. */
	size_t got = 0;
	while (got < sizeof(buf) - 1) {
		n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		char *body_start = strstr(buf, "\r\n\r\n");
		if (body_start && strchr(body_start, '}'))
			break;
	}
	assert_true(got > 0);
	assert_non_null(strstr(buf, " 503 "));
	assert_non_null(strstr(buf, "\"error\""));
	close(fd);
	/* Done with the lock: end its session (its exit status says so). */
	assert_int_equal(it_pg_exec(&env, NULL, "SELECT pg_terminate_backend(l.pid) FROM pg_locks l "
				    "JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'users' "
				    "AND l.mode = 'AccessExclusiveLock' AND l.granted"), 0);
	waitpid(locker, &status, 0);
	/* And the pool recovers: logins work again. */
	assert_int_equal(call("POST", "/api/auth/login", NULL, body, &j), 200);
	cJSON_Delete(j);
}

static bool watchlists_ok(void *ud)
{
	(void)ud;
	return call("GET", "/api/users/watchlists", demo_token, NULL, NULL) == 200;
}

static void test_database_down_and_back(void **state)
{
	cJSON *j;

	(void)state;
	it_pg_down(&env);
	assert_int_equal(call("GET", "/api/users/watchlists", demo_token, NULL, &j), 503);
	assert_string_equal(it_json_str(j, "error"), "Database unavailable");
	cJSON_Delete(j);
	assert_int_equal(call("POST", "/api/auth/login", NULL,
			      "{\"username\":\"demo\",\"password\":\"demo\"}", NULL), 503);
	/* Symbols from the last good copy, marked stale; patterns untouched. */
	assert_int_equal(call("GET", "/api/symbols/AAPL", NULL, NULL, &j), 200);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "stale")));
	cJSON_Delete(j);
	cJSON_Delete(it_get_json(env.port, "/api/patterns/scan", 200));
	j = it_get_json(env.port, "/api/health", 200);
	assert_string_equal(it_json_str(cJSON_GetObjectItemCaseSensitive(j, "services"), "database"),
			    "disconnected");
	cJSON_Delete(j);

	it_pg_up(&env);
	assert_true(it_wait(watchlists_ok, NULL, 20));
	assert_true(it_wait(it_symbols_loaded, &env, 20));
}

static void test_cli_user_add(void **state)
{
	char cmd[1200], token[1024], uri[560];

	(void)state;
	tickpush_uri(uri, sizeof(uri));
	snprintf(cmd, sizeof(cmd), "echo 'n3w-passw0rd' | env -i PATH=\"$PATH\" "
		 "ASAN_OPTIONS=\"$ASAN_OPTIONS\" DATABASE_URI='%s' '%s' user add newbie "
		 ">> '%s/cli.log' 2>&1", uri, getenv("TICKPUSH_BIN"), env.dir);
	assert_int_equal(system(cmd), 0);
	login("newbie", "n3w-passw0rd", token, sizeof(token));
	/* Adding the same user again fails. */
	assert_true(system(cmd) != 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_token_rejections),
		cmocka_unit_test(test_watchlist_crud),
		cmocka_unit_test(test_body_too_large),
		cmocka_unit_test(test_preset_crud),
		cmocka_unit_test(test_other_users_objects_are_invisible),
		cmocka_unit_test(test_scan_with_preset_and_sectors),
		cmocka_unit_test(test_readonly_role),
		cmocka_unit_test(test_stuck_query_times_out_without_blocking),
		cmocka_unit_test(test_database_down_and_back),
		cmocka_unit_test(test_cli_user_add),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
