/*
 * test_resilience.c - Redis outages, restarts of tickpush, shutdown.
 *
 * Covers: Redis killed -> tickpush keeps serving from its cache, reports
 * not-ready and degraded health, reconnects by itself when Redis returns
 * and ingests again (no restart); tickpush restarted -> the cache is warmed
 * from the Redis layout; Redis unreachable at startup is not fatal;
 * SIGTERM with an idle keep-alive connection open -> exit 0 within 5 s.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "test_support.h"

static struct it_env env;

static int setup(void **state)
{
	(void)state;
	it_setup(&env, "resilience");
	it_redis_start(&env);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_teardown(&env);
	return 0;
}

static void publish_pattern(const char *symbol, const char *type, double conf)
{
	char ev[512];

	snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"%s\","
		 "\"pattern\":\"%s\",\"confidence\":%.2f,\"timestamp\":%lld}}",
		 symbol, type, conf, (long long)time(NULL));
	it_publish(&env, "tickstock.events.patterns", ev);
}

struct want {
	const char *path, *member;
	double value;
};

static bool has_value(void *ud)
{
	struct want *w = ud;

	return it_json_number(env.port, w->path, w->member) == w->value;
}

static bool status_is(void *ud)
{
	struct want *w = ud;
	struct it_http_resp r;
	bool ok;

	if (it_http(env.port, "GET", w->path, NULL, NULL, 0, &r))
		return false;
	ok = r.status == (int)w->value;
	it_http_free(&r);
	return ok;
}

static void expect_cached(double n)
{
	struct want w = {"/api/patterns/stats", "stats.cached_patterns", n};

	if (!it_wait(has_value, &w, 10)) {
		it_dump_logs(&env);
		fail_msg("cached_patterns never reached %g", n);
	}
}

static void test_redis_restart_reconnects(void **state)
{
	struct want ready = {"/readyz", NULL, 200}, unready = {"/readyz", NULL, 503};
	cJSON *h;

	(void)state;
	it_server_start(&env, NULL, true);
	publish_pattern("AAPL", "Doji", 0.9);
	expect_cached(1);

	it_redis_stop(&env, SIGKILL);
	assert_true(it_wait(status_is, &unready, 10));
	/* Still serving from the in-process cache. */
	h = it_get_json(env.port, "/api/patterns/scan?symbols=AAPL", 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(h, "patterns")), 1);
	cJSON_Delete(h);
	h = it_get_json(env.port, "/api/health", 200);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(h, "status")->valuestring, "degraded");
	cJSON_Delete(h);
	cJSON_Delete(it_get_json(env.port, "/api/pattern-discovery/health", 503));

	it_redis_start(&env);
	assert_true(it_wait(status_is, &ready, 15));
	publish_pattern("MSFT", "Hammer", 0.8);
	expect_cached(2);

	struct it_http_resp r;
	assert_int_equal(it_http(env.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
	assert_null(strstr(r.body, "tp_redis_reconnects_total 0\n"));
	it_http_free(&r);
	assert_int_equal(it_server_stop(&env, SIGTERM, 10), 0);
}

static void test_warm_start_after_restart(void **state)
{
	cJSON *h;

	double before;

	(void)state;
	/* Redis restarted empty in the previous test; only what was written
	 * through since is in the layout. Add some more. */
	it_server_start(&env, NULL, true);
	publish_pattern("NVDA", "Bull_Flag", 0.75);
	publish_pattern("AMD", "Gap_Fill", 0.65);
	before = it_json_number(env.port, "/api/patterns/stats", "stats.cached_patterns");
	assert_true(before >= 2);
	expect_cached(before);
	assert_int_equal(it_server_stop(&env, SIGTERM, 10), 0);

	it_server_start(&env, NULL, true);
	expect_cached(before);
	h = it_get_json(env.port, "/api/pattern-discovery/health", 200);
	cJSON *pc = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(h, "components"), "pattern_cache");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(pc, "warm_start_loaded")->valuedouble, before);
	cJSON_Delete(h);
	h = it_get_json(env.port, "/api/patterns/scan?symbols=NVDA,AMD&confidence_min=0", 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(h, "patterns")), 2);
	cJSON_Delete(h);
	assert_int_equal(it_server_stop(&env, SIGTERM, 10), 0);

	/* With warm start disabled the cache starts empty. */
	const char *no_warm[] = {"TICKPUSH_REDIS_WARM_START=false", NULL};
	it_server_start(&env, no_warm, true);
	expect_cached(0);
	assert_int_equal(it_server_stop(&env, SIGTERM, 10), 0);
}

static void test_starts_without_redis(void **state)
{
	struct want ready = {"/readyz", NULL, 200};

	(void)state;
	it_redis_stop(&env, SIGTERM);
	it_server_start(&env, NULL, false);
	cJSON_Delete(it_get_json(env.port, "/healthz", 200));
	cJSON_Delete(it_get_json(env.port, "/readyz", 503));
	cJSON_Delete(it_get_json(env.port, "/api/patterns/scan", 200));
	it_redis_start(&env);
	assert_true(it_wait(status_is, &ready, 15));
	assert_int_equal(it_server_stop(&env, SIGTERM, 10), 0);
}

static void test_sigterm_with_open_connections(void **state)
{
	double t0;
	int idle, rc;

	(void)state;
	it_server_start(&env, NULL, true);
	/* An idle client that never sends anything, and a kept-alive one. */
	idle = it_connect(env.port);
	assert_true(idle >= 0);
	t0 = it_now();
	rc = it_server_stop(&env, SIGTERM, 10);
	assert_int_equal(rc, 0);
	assert_true(it_now() - t0 < 5.0);
	close(idle);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redis_restart_reconnects),
		cmocka_unit_test(test_warm_start_after_restart),
		cmocka_unit_test(test_starts_without_redis),
		cmocka_unit_test(test_sigterm_with_open_connections),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
