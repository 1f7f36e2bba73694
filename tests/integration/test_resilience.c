/*
 * test_resilience.c - Redis outages, restarts of tickpush, shutdown.
 *
 * Covers: Redis killed -> tickpush keeps serving from its cache, reports
 * not-ready and degraded health, reconnects by itself when Redis returns
 * and ingests again (no restart); tickpush restarted -> the cache is warmed
 * from the Redis layout; Redis unreachable at startup is not fatal;
 * SIGTERM with an idle keep-alive connection open -> exit 0 within 5 s;
 * an idle Redis is PINGed and stays up, also across a stall of tickpush
 * itself; Redis frozen (SIGSTOP: the sockets stay open, nothing answers) -> both
 * connections declared down within 5 s and counted, not-ready, health says
 * so; thawed -> ready again by itself, events reach the scan and a
 * WebSocket session; write-through commands in flight on a frozen
 * connection are failed, not waited for, so shutdown stays quick.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "test_support.h"
#include "ws_client.h"

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

static bool both_new_in_scan(void *ud)
{
	cJSON *h;
	bool both;

	(void)ud;
	h = it_get_json(env.port, "/api/patterns/scan?symbols=NVDA,AMD&confidence_min=0", 200);
	both = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(h, "patterns")) == 2;
	cJSON_Delete(h);
	return both;
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
	assert_null(strstr(r.body, "tickpush_redis_reconnects_total 0\n"));
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
	/* Read the count only once both are in: read between the two, it
	 * would be one short and never seen again. */
	if (!it_wait(both_new_in_scan, NULL, 10)) {
		it_dump_logs(&env);
		fail_msg("NVDA and AMD never both reached the scan");
	}
	before = it_json_number(env.port, "/api/patterns/stats", "stats.cached_patterns");
	assert_true(before >= 2);
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

/* ---- a Redis that stops answering ---- */

static bool redis_frozen;
static struct it_ws follower = {.fd = -1};

/* SIGSTOP: Redis keeps its sockets open but answers nothing, like a hung
 * host or a black-holed network; no FIN, no RST, no error. */
static void redis_freeze(void)
{
	assert_int_equal(kill(env.redis_pid, SIGSTOP), 0);
	redis_frozen = true;
}

static void redis_thaw(void)
{
	if (redis_frozen && env.redis_pid > 0)
		kill(env.redis_pid, SIGCONT);
	redis_frozen = false;
}

/* A failed test must not leave Redis stopped, or its server running (or
 * stopped), for the next one. */
static int leftovers_teardown(void **state)
{
	(void)state;
	redis_thaw();
	it_ws_close(&follower);
	if (env.server_pid > 0)
		it_server_stop(&env, SIGKILL, 5);
	return 0;
}

struct metric_min {
	const char *name;
	double min;
};

static bool metric_reached(void *ud)
{
	struct metric_min *m = ud;

	return it_metric(env.port, m->name) >= m->min;
}

static void expect_metric_at_least(const char *name, double min, double timeout_s)
{
	struct metric_min m = {name, min};

	if (!it_wait(metric_reached, &m, timeout_s)) {
		it_dump_logs(&env);
		fail_msg("%s is %g, expected >= %g", name, it_metric(env.port, name), min);
	}
}

static const char *json_path_str(const cJSON *j, const char *a, const char *b)
{
	return it_json_str(cJSON_GetObjectItemCaseSensitive(j, a), b);
}

/* A WebSocket session subscribed to one symbol's patterns. */
static void ws_follow(struct it_ws *ws, const char *symbol)
{
	if (it_ws_follow(ws, env.port, symbol, 0))
		fail_msg("ws follow: %d %s", ws->http_status, ws->http_body);
}

static void expect_ws_pattern(struct it_ws *ws, const char *type)
{
	cJSON *j = it_ws_wait_type(ws, "pattern", 10);

	if (!j) {
		it_dump_logs(&env);
		fail_msg("no %s pattern frame", type);
	}
	assert_string_equal(json_path_str(j, "data", "pattern"), type);
	cJSON_Delete(j);
}

/* The CLIENT LIST line of the subscribed connection (sub=4), or "". */
static void subscriber_client(char *line, size_t n)
{
	char all[8192];
	const char *p, *end;

	line[0] = '\0';
	assert_true(it_redis(&env, all, sizeof(all), "CLIENT LIST") > 0);
	if (!(p = strstr(all, " sub=4 ")))
		return;
	while (p > all && p[-1] != '\n')
		p--;
	end = strchr(p, '\n');
	snprintf(line, n, "%.*s", end ? (int)(end - p) : (int)strlen(p), p);
}

/* A healthy but idle Redis is never declared down: both connections are
 * PINGed after a second of silence (the subscribed one too, which hiredis
 * cannot do through its callback API) and the answers keep them up. */
static void test_idle_redis_stays_up(void **state)
{
	char client[1024];

	(void)state;
	it_server_start(&env, NULL, true);
	/* Twice the default redis_ping_timeout without any traffic. */
	sleep(6);
	cJSON_Delete(it_get_json(env.port, "/readyz", 200));
	assert_true(it_metric(env.port, "tickpush_redis_ping_timeouts_total{conn=\"pubsub\"}") == 0);
	assert_true(it_metric(env.port, "tickpush_redis_ping_timeouts_total{conn=\"cache\"}") == 0);
	assert_true(it_metric(env.port, "tickpush_redis_disconnects_total{conn=\"pubsub\"}") == 0);
	assert_true(it_metric(env.port, "tickpush_redis_disconnects_total{conn=\"cache\"}") == 0);
	assert_true(it_metric(env.port, "tickpush_redis_connected{conn=\"cache\"}") == 1);
	subscriber_client(client, sizeof(client));
	if (!strstr(client, " cmd=ping"))
		fail_msg("the subscriber was not PINGed: %s", client);
	assert_int_equal(it_server_stop(&env, SIGTERM, 10), 0);
}

/* tickpush itself stalled (stopped for longer than redis_ping_timeout)
 * while Redis answered: on resuming it must not call Redis silent. */
static void test_own_stall_is_not_redis_silence(void **state)
{
	(void)state;
	it_server_start(&env, NULL, true);
	sleep(2); /* past redis_ping_interval: a PING is out or due */
	assert_int_equal(kill(env.server_pid, SIGSTOP), 0);
	sleep(5);
	assert_int_equal(kill(env.server_pid, SIGCONT), 0);
	sleep(4); /* past the timeout of any PING sent on resuming */
	assert_true(it_metric(env.port, "tickpush_redis_ping_timeouts_total{conn=\"pubsub\"}") == 0);
	assert_true(it_metric(env.port, "tickpush_redis_ping_timeouts_total{conn=\"cache\"}") == 0);
	cJSON_Delete(it_get_json(env.port, "/readyz", 200));
	assert_int_equal(it_server_stop(&env, SIGTERM, 10), 0);
}

/* The issue: Redis stopped with SIGSTOP went unnoticed (ready, connected,
 * events silently gone). Now it is declared down within 5 s by default and
 * recovers by itself once Redis answers again. */
static void test_frozen_redis_declared_down(void **state)
{
	struct want ready = {"/readyz", NULL, 200}, unready = {"/readyz", NULL, 503};
	double cached, t0, took;
	cJSON *h;

	(void)state;
	it_server_start(&env, NULL, true);
	cached = it_json_number(env.port, "/api/patterns/stats", "stats.cached_patterns");
	ws_follow(&follower, "IBM");
	publish_pattern("IBM", "Doji", 0.9);
	expect_ws_pattern(&follower, "Doji");
	expect_cached(cached + 1);

	redis_freeze();
	t0 = it_now();
	if (!it_wait(status_is, &unready, 20)) {
		it_dump_logs(&env);
		fail_msg("/readyz still 200 20 s after Redis froze");
	}
	took = it_now() - t0;
	if (took >= 5.0) {
		it_dump_logs(&env);
		fail_msg("frozen Redis noticed after %.1f s (bound: 5 s)", took);
	}
	/* Still serving from memory, and saying why. */
	h = it_get_json(env.port, "/api/health", 200);
	assert_string_equal(it_json_str(h, "status"), "degraded");
	assert_string_equal(json_path_str(h, "services", "redis"), "disconnected");
	cJSON_Delete(h);
	h = it_get_json(env.port, "/api/pattern-discovery/health", 503);
	assert_string_equal(it_json_str(h, "status"), "error");
	assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, "components"),
						 "redis"), "subscribed")));
	cJSON_Delete(h);
	assert_true(it_metric(env.port, "tickpush_redis_connected{conn=\"pubsub\"}") == 0);
	assert_true(it_metric(env.port, "tickpush_redis_ping_timeouts_total{conn=\"pubsub\"}") >= 1);
	assert_true(it_metric(env.port, "tickpush_redis_disconnects_total{conn=\"pubsub\"}") >= 1);
	/* The cache connection is as silent and is declared down too. */
	expect_metric_at_least("tickpush_redis_ping_timeouts_total{conn=\"cache\"}", 1, 10);
	assert_true(it_metric(env.port, "tickpush_redis_connected{conn=\"cache\"}") == 0);
	assert_true(it_metric(env.port, "tickpush_redis_disconnects_total{conn=\"cache\"}") >= 1);

	redis_thaw();
	if (!it_wait(status_is, &ready, 20)) {
		it_dump_logs(&env);
		fail_msg("not ready again 20 s after Redis thawed");
	}
	expect_metric_at_least("tickpush_redis_connected{conn=\"cache\"}", 1, 20);
	assert_true(it_metric(env.port, "tickpush_redis_connected{conn=\"pubsub\"}") == 1);
	h = it_get_json(env.port, "/api/health", 200);
	assert_string_equal(it_json_str(h, "status"), "healthy");
	assert_string_equal(json_path_str(h, "services", "redis"), "connected");
	cJSON_Delete(h);
	/* Events flow again, to the scan and to the session that stayed. */
	publish_pattern("IBM", "Hammer", 0.8);
	expect_ws_pattern(&follower, "Hammer");
	expect_cached(cached + 2);
	it_ws_close(&follower);
	assert_int_equal(it_server_stop(&env, SIGTERM, 10), 0);
}

/* Starts a server whose cache connection always has commands in flight
 * (the heartbeat tick trims the cache indexes every 0.1 s) and freezes
 * Redis under it; a 30 s drain limit makes any wait for them show. */
static void freeze_with_writes_in_flight(void)
{
	static const char *const busy_cache[] = {"TICKPUSH_HEARTBEAT_INTERVAL=0.1",
						 "TICKPUSH_SHUTDOWN_TIMEOUT=30", NULL};

	it_server_start(&env, busy_cache, true);
	redis_freeze();
	expect_metric_at_least("tickpush_redis_cache_pending", 1, 10);
}

/* SIGTERM -> exit 0, well before the 30 s drain limit. */
static void expect_quick_clean_exit(void)
{
	double t0 = it_now();

	assert_int_equal(it_server_stop(&env, SIGTERM, 40), 0);
	assert_true(it_now() - t0 < 10.0);
}

/* Commands in flight when the cache connection is declared down get their
 * callbacks (as errors): none is left pending, so shutdown has nothing to
 * wait for. */
static void test_frozen_cache_connection_fails_pending(void **state)
{
	(void)state;
	freeze_with_writes_in_flight();
	expect_metric_at_least("tickpush_redis_ping_timeouts_total{conn=\"cache\"}", 1, 15);
	assert_true(it_metric(env.port, "tickpush_redis_cache_pending") == 0);
	assert_true(it_metric(env.port, "tickpush_redis_cache_write_errors_total") >= 1);
	expect_quick_clean_exit();
	redis_thaw();
}

/* SIGTERM while Redis is frozen and commands are still in flight: the
 * drain ends when the connection is declared down, not at the limit. */
static void test_sigterm_while_redis_frozen(void **state)
{
	(void)state;
	freeze_with_writes_in_flight();
	expect_quick_clean_exit();
	redis_thaw();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redis_restart_reconnects),
		cmocka_unit_test(test_warm_start_after_restart),
		cmocka_unit_test(test_starts_without_redis),
		cmocka_unit_test(test_sigterm_with_open_connections),
		cmocka_unit_test_teardown(test_idle_redis_stays_up, leftovers_teardown),
		cmocka_unit_test_teardown(test_own_stall_is_not_redis_silence, leftovers_teardown),
		cmocka_unit_test_teardown(test_frozen_redis_declared_down, leftovers_teardown),
		cmocka_unit_test_teardown(test_frozen_cache_connection_fails_pending, leftovers_teardown),
		cmocka_unit_test_teardown(test_sigterm_while_redis_frozen, leftovers_teardown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
