/*
 * test_http.c - the HTTP surface under bad and hostile input.
 *
 * Covers: JSON 404/405 (with Allow), every malformed scan parameter gets a
 * 400 naming it, too many / too long parameters, a URL over the limit
 * (414), oversized headers, an oversized body, a client that trickles its request (dropped after the
 * request timeout), a client that connects and says nothing, garbage
 * instead of HTTP; after all of it the server still answers and exits
 * cleanly (no sanitizer report).
 */
#include <signal.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "ws_client.h"
#include "test_support.h"

static struct it_env env;

static int setup(void **state)
{
	/* No attempt regained during the login limit test, however slowly
	 * its eight requests go (the default regains one every 5 s). */
	const char *extra[] = {"TICKPUSH_HTTP_TIMEOUT=2", "TICKPUSH_LOGIN_RATE=0.001", NULL};

	(void)state;
	it_setup(&env, "http");
	it_redis_start(&env);
	it_server_start(&env, extra, true);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return it_finish(&env);
}

static void expect_json_error(const char *method, const char *path, int status,
			      const char *field)
{
	struct it_http_resp r;
	cJSON *j, *f;

	assert_int_equal(it_http(env.port, method, path, NULL, NULL, 0, &r), 0);
	if (r.status != status)
		fail_msg("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body);
	assert_non_null(strstr(r.headers, "application/json"));
	j = cJSON_Parse(r.body);
	assert_non_null(j);
	assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error")));
	if (field) {
		f = cJSON_GetObjectItemCaseSensitive(j, "field");
		if (!cJSON_IsString(f) || strcmp(f->valuestring, field))
			fail_msg("%s: error does not name %s: %s", path, field, r.body);
		assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(j, "error")->valuestring, field));
		/* The endpoint's empty shape comes with the error. */
		assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "patterns")));
	}
	cJSON_Delete(j);
	it_http_free(&r);
}

static void test_not_found_and_method(void **state)
{
	struct it_http_resp r;

	(void)state;
	expect_json_error("GET", "/api/nothing-here", 404, NULL);
	expect_json_error("GET", "/", 404, NULL);
	expect_json_error("DELETE", "/api/patterns/scan", 405, NULL);
	assert_int_equal(it_http(env.port, "POST", "/api/patterns/stats", NULL, "{}", 2, &r), 0);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(r.headers, "allow: GET"));
	it_http_free(&r);
}

static void test_bad_scan_parameters(void **state)
{
	static const struct { const char *query, *field; } cases[] = {
		{"rs_min=abc", "rs_min"},
		{"rs_min=-1", "rs_min"},
		{"vol_min=1e999", "vol_min"},
		{"confidence_min=1.5", "confidence_min"},
		{"confidence_min=", "confidence_min"},
		{"rsi_range=x", "rsi_range"},
		{"rsi_range=10,200", "rsi_range"},
		{"page=1.5", "page"},
		{"page=0", "page"},
		{"per_page=abc", "per_page"},
		{"sort_by=price", "sort_by"},
		{"sort_order=up", "sort_order"},
		{"timeframe=Weekly", "timeframe"},
		{"symbols=AAPL,%3Cscript%3E", "symbols"},
		{"pattern_types=%01", "pattern_types"},
	};
	char path[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), "/api/patterns/scan?%s", cases[i].query);
		expect_json_error("GET", path, 400, cases[i].field);
	}
}

static void test_too_many_and_too_long(void **state)
{
	struct it_http_resp r;
	char *path = malloc(20000);
	size_t n = 0;

	(void)state;
	n += (size_t)sprintf(path, "/api/patterns/scan?");
	for (int i = 0; i < 70; i++)
		n += (size_t)sprintf(path + n, "x%d=1&", i);
	assert_int_equal(it_http(env.port, "GET", path, NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "more than 64 parameters"));
	it_http_free(&r);

	/* Far more arguments than lws keeps header fragments for: lws drops
	 * the connection itself (documented in docs/operations.md). */
	for (int i = 70; i < 300; i++)
		n += (size_t)sprintf(path + n, "x%d=1&", i);
	if (it_http(env.port, "GET", path, NULL, NULL, 0, &r) == 0) {
		assert_true(r.status >= 400);
		it_http_free(&r);
	}

	/* A URL beyond the header limit: JSON 414 naming it (test_hostile.c
	 * has the rest of the head limits). */
	n = (size_t)sprintf(path, "/api/patterns/scan?symbols=");
	memset(path + n, 'A', 16000);
	path[n + 16000] = '\0';
	assert_int_equal(it_http(env.port, "GET", path, NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 414);
	assert_non_null(strstr(r.body, "\"field\":\"url\""));
	it_http_free(&r);
	free(path);
	cJSON_Delete(it_get_json(env.port, "/healthz", 200));
}

static void test_oversized_header_and_body(void **state)
{
	struct it_http_resp r;
	char *hdr = malloc(20000), *body = malloc(70000);

	(void)state;
	strcpy(hdr, "X-Junk: ");
	memset(hdr + 8, 'j', 15000);
	strcpy(hdr + 15008, "\r\n");
	if (it_http(env.port, "GET", "/healthz", hdr, NULL, 0, &r) == 0) {
		assert_true(r.status >= 400);
		it_http_free(&r);
	}
	memset(body, '{', 70000);
	if (it_http(env.port, "POST", "/api/patterns/scan", NULL, body, 70000, &r) == 0) {
		assert_true(r.status == 413 || r.status == 405);
		it_http_free(&r);
	}
	free(hdr);
	free(body);
	cJSON_Delete(it_get_json(env.port, "/healthz", 200));
}

/* Returns true when the server closed the connection within limit_s. */
static bool closed_within(int fd, double limit_s)
{
	double end = it_now() + limit_s;
	char buf[512];

	while (it_now() < end) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0)
			return true;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return true;
		usleep(50000);
	}
	return false;
}

static void test_trickling_client_is_dropped(void **state)
{
	const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	int fd = it_connect(env.port);
	double t0 = it_now();
	bool dropped = false;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	/* One byte every 300 ms, for at most 15 s: the request timeout is
	 * 2 s, so the server must hang up long before we finish. */
	for (int i = 0; i < 50 && !dropped; i++) {
		if (send(fd, "a", 1, MSG_NOSIGNAL) != 1)
			dropped = true;
		else
			dropped = closed_within(fd, 0.3);
	}
	close(fd);
	assert_true(dropped);
	assert_true(it_now() - t0 < 12);

	/* A client that connects and never sends anything is dropped too. */
	fd = it_connect(env.port);
	assert_true(fd >= 0);
	assert_true(closed_within(fd, 10));
	close(fd);
}

static void test_garbage_instead_of_http(void **state)
{
	static const char *const junk[] = {
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  /* a TLS hello */
		"GARBAGE\r\n\r\n",
		"GET /healthz HTTP/9.9\r\n\r\n",
		"GET\r\n\r\n",
		"\r\n\r\n\r\n",
		/* lws refuses these itself (docs/operations.md, Limits). */
		"GET /x%zz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /x%00 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nGET / HTTP/1.1\r\n\r\n",
	};
	char buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		int fd = it_connect(env.port);

		assert_true(fd >= 0);
		send(fd, junk[i], strlen(junk[i]), MSG_NOSIGNAL);
		/* Whatever the answer, the server must not hang on it. */
		(void)recv(fd, buf, sizeof(buf), 0);
		close(fd);
	}
	cJSON_Delete(it_get_json(env.port, "/healthz", 200));
}

static void test_login_rate_limited_per_address(void **state)
{
	const char *body = "{\"username\":\"demo\",\"password\":\"guess\"}";
	struct it_http_resp r;
	int limited = 0, attempts;

	(void)state;
	/* The budget is 5 attempts at once (no database here: each answer is
	 * 503 until the limiter says 429). */
	for (attempts = 0; attempts < 8; attempts++) {
		assert_int_equal(it_http(env.port, "POST", "/api/auth/login", NULL, body,
					 strlen(body), &r), 0);
		if (r.status == 429) {
			limited++;
			assert_non_null(strstr(r.headers, "retry-after:"));
			assert_non_null(strstr(r.body, "\"error\""));
		} else {
			assert_int_equal(r.status, 503);
		}
		it_http_free(&r);
	}
	assert_int_equal(limited, 3);
}

static void test_require_auth_everywhere(void **state)
{
	const char *extra[] = {"TICKPUSH_REQUIRE_AUTH=yes", NULL};
	struct it_env e2;
	int rc;

	(void)state;
	/* A second server over the same Redis, with the setting on. */
	it_setup(&e2, "http-auth");
	snprintf(e2.redis_sock, sizeof(e2.redis_sock), "%s", env.redis_sock);
	it_server_start(&e2, extra, true);
	assert_int_equal(it_call(e2.port, "GET", "/api/patterns/scan", NULL, NULL, NULL), 401);
	assert_int_equal(it_call(e2.port, "GET", "/metrics", NULL, NULL, NULL), 401);
	assert_int_equal(it_call(e2.port, "GET", "/healthz", NULL, NULL, NULL), 200);
	rc = it_server_stop(&e2, SIGTERM, 10);
	if (rc)
		it_dump_logs(&e2);
	it_teardown(&e2);
	assert_int_equal(rc, 0);
}

/* A WebSocket client that stops answering pings is dropped: lws pings
 * after half the idle timeout and hangs up after the timeout. */
static void test_idle_websocket_dropped(void **state)
{
	const char *extra[] = {"TICKPUSH_WS_IDLE_TIMEOUT=2", NULL};
	struct it_env e2;
	struct it_ws ws;
	char *msg;
	size_t len;
	double t0;
	int rc, r;

	(void)state;
	it_setup(&e2, "http-idle");
	snprintf(e2.redis_sock, sizeof(e2.redis_sock), "%s", env.redis_sock);
	it_server_start(&e2, extra, true);
	assert_int_equal(it_ws_connect(&ws, e2.port, "/ws", NULL, 0), 0);
	t0 = it_now();
	sleep(5); /* not reading: the server's ping goes unanswered */
	do {
		r = it_ws_recv(&ws, 10, &msg, &len);
		if (r == 1)
			free(msg);
	} while (r == 1);
	assert_int_equal(r, -1);      /* dropped, not a timeout */
	assert_true(it_now() - t0 < 12);
	it_ws_close(&ws);
	rc = it_server_stop(&e2, SIGTERM, 10);
	if (rc)
		it_dump_logs(&e2);
	it_teardown(&e2);
	assert_int_equal(rc, 0);
}

/* The keep-alive round visits every session, in steps of a few hundred
 * per loop turn (server.c WS_ROUND_STEP): 600 clients that never answer
 * are all dropped, while one that answers its pings stays. */
#define ROUND_CLIENTS 600
static void test_idle_round_reaches_every_session(void **state)
{
	const char *extra[] = {"TICKPUSH_WS_IDLE_TIMEOUT=4", NULL};
	struct it_env e2;
	struct it_ws *ws = calloc(ROUND_CLIENTS, sizeof(*ws)), live;
	static bool gone[ROUND_CLIENTS];
	double deadline;
	size_t dropped = 0;
	int rc;

	(void)state;
	assert_non_null(ws);
	it_setup(&e2, "http-round");
	snprintf(e2.redis_sock, sizeof(e2.redis_sock), "%s", env.redis_sock);
	it_server_start(&e2, extra, true);
	assert_int_equal(it_ws_connect(&live, e2.port, "/ws", NULL, 0), 0);
	for (int i = 0; i < ROUND_CLIENTS; i++)
		if (it_ws_connect(&ws[i], e2.port, "/ws", NULL, 0))
			fail_msg("connect %d failed", i);
	/* Ping after 2 s of silence, drop 4 s after that: every one within
	 * a few rounds (the live one has 4 s to answer, even on a loaded
	 * box). The silent ones are read raw (their pings must go
	 * unanswered) until the server ends them; the live client reads
	 * through the helper, which answers its pings. */
	deadline = it_now() + 30;
	while (dropped < ROUND_CLIENTS && it_now() < deadline) {
		char *msg, junk[512];
		size_t len;
		int r;

		for (int i = 0; i < ROUND_CLIENTS; i++) {
			ssize_t k;

			if (gone[i])
				continue;
			while ((k = recv(ws[i].fd, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
				;
			if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
				gone[i] = true;
				dropped++;
			}
		}
		while ((r = it_ws_recv(&live, 0.05, &msg, &len)) == 1)
			free(msg);
		assert_int_equal(r, 0); /* the live one is never dropped */
	}
	assert_int_equal(dropped, ROUND_CLIENTS);
	/* The live one is still served: a ping of ours is answered. */
	{
		cJSON *j;

		assert_int_equal(it_ws_send_text(&live, "{\"op\":\"ping\",\"t\":1}"), 0);
		j = it_ws_wait_type(&live, "pong", 10);
		assert_non_null(j);
		cJSON_Delete(j);
	}
	it_ws_close(&live);
	for (int i = 0; i < ROUND_CLIENTS; i++)
		it_ws_close(&ws[i]);
	free(ws);
	rc = it_server_stop(&e2, SIGTERM, 10);
	if (rc)
		it_dump_logs(&e2);
	it_teardown(&e2);
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_found_and_method),
		cmocka_unit_test(test_bad_scan_parameters),
		cmocka_unit_test(test_too_many_and_too_long),
		cmocka_unit_test(test_oversized_header_and_body),
		cmocka_unit_test(test_trickling_client_is_dropped),
		cmocka_unit_test(test_garbage_instead_of_http),
		cmocka_unit_test(test_login_rate_limited_per_address),
		cmocka_unit_test(test_require_auth_everywhere),
		cmocka_unit_test(test_idle_websocket_dropped),
		cmocka_unit_test(test_idle_round_reaches_every_session),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
