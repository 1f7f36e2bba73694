/*
 * test_edge.c - tickpush at the edge of a real deployment: behind a
 * trusted proxy (X-Forwarded-For / X-Real-IP name the client for the login
 * limit; the same headers from anyone else are ignored).
 *
 * The server trusts 127.0.0.1 only; other loopback sources (127.0.0.x)
 * play untrusted clients. No database: a login attempt is answered 503
 * until the per-address limiter says 429, which is all the limit needs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "test_support.h"

static struct it_env env;

static int setup(void **state)
{
	const char *extra[] = {
		"TICKPUSH_TRUSTED_PROXIES=127.0.0.1, ::1",
		/* Two attempts per address, then (practically) none. */
		"TICKPUSH_LOGIN_BURST=2", "TICKPUSH_LOGIN_RATE=0.001",
		"TICKPUSH_LOGIN_ACCOUNT_BURST=1000", NULL,
	};

	(void)state;
	it_setup(&env, "edge");
	it_redis_start(&env);
	it_server_start(&env, extra, true);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return it_finish(&env);
}

/* One login attempt from src with extra headers; returns the status. */
static int login_from(const char *src, const char *headers)
{
	static const char body[] = "{\"username\":\"demo\",\"password\":\"guess\"}";
	struct it_http_resp r;
	int status;

	if (it_http_from(src, env.port, "POST", "/api/auth/login", headers, body,
			 sizeof(body) - 1, &r))
		fail_msg("login from %s: transport error", src);
	status = r.status;
	if ((status != 503 && status != 429) ||
	    (status == 429 && !strstr(r.body, "from this address")))
		fail_msg("login from %s (%s): %d %s", src, headers, status, r.body);
	it_http_free(&r);
	return status;
}

static void test_forwarded_client_has_own_login_limit(void **state)
{
	(void)state;
	/* Client A behind the proxy spends its two attempts... */
	assert_int_equal(login_from("127.0.0.1", "X-Forwarded-For: 203.0.113.1\r\n"), 503);
	assert_int_equal(login_from("127.0.0.1", "X-Forwarded-For: 203.0.113.1\r\n"), 503);
	assert_int_equal(login_from("127.0.0.1", "X-Forwarded-For: 203.0.113.1\r\n"), 429);
	/* ...through a second proxy hop too (the rightmost untrusted hop
	 * counts; what the client wrote left of it does not)... */
	assert_int_equal(login_from("127.0.0.1",
				    "X-Forwarded-For: 6.6.6.6, 203.0.113.1, ::1\r\n"), 429);
	/* ...while client B, from the same proxy, still has its own. */
	assert_int_equal(login_from("127.0.0.1", "X-Forwarded-For: 203.0.113.2\r\n"), 503);
	assert_int_equal(login_from("127.0.0.1", "X-Real-IP: 203.0.113.3\r\n"), 503);
	assert_int_equal(login_from("127.0.0.1", "X-Real-IP: 203.0.113.3\r\n"), 503);
	assert_int_equal(login_from("127.0.0.1", "X-Real-IP: 203.0.113.3\r\n"), 429);
}

static void test_spoofed_header_from_untrusted_peer_ignored(void **state)
{
	char hdr[64];

	(void)state;
	/* 127.0.0.2 is no proxy: a new X-Forwarded-For per attempt buys
	 * nothing, its own address is the key. */
	for (int i = 0; i < 4; i++) {
		snprintf(hdr, sizeof(hdr), "X-Forwarded-For: 198.51.100.%d\r\n", i + 1);
		assert_int_equal(login_from("127.0.0.2", hdr), i < 2 ? 503 : 429);
	}
	assert_int_equal(login_from("127.0.0.2", "X-Real-IP: 198.51.100.9\r\n"), 429);
	/* ...and it spent nothing of the clients it named. */
	assert_int_equal(login_from("127.0.0.1", "X-Forwarded-For: 198.51.100.1\r\n"), 503);
	/* The proxy itself, with no header, is keyed on its own address. */
	assert_int_equal(login_from("127.0.0.1", NULL), 503);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forwarded_client_has_own_login_limit),
		cmocka_unit_test(test_spoofed_header_from_untrusted_peer_ignored),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
