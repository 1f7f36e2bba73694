/*
 * test_simulator.c - tickpush-sim against a real tickpush, end to end.
 *
 * The simulator publishes a mix of every event shape plus malformed events
 * at a high rate; every message must be accounted for by the server (each
 * is either processed or rejected, none lost, none double-counted), the
 * store must hold patterns, and the server must shut down cleanly.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "test_support.h"

static struct it_env env;

static int setup(void **state)
{
	(void)state;
	it_setup(&env, "sim");
	it_redis_start(&env);
	it_server_start(&env, NULL, true);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return it_finish(&env);
}

struct totals {
	double want;
};

static bool all_accounted(void *ud)
{
	struct totals *t = ud;
	double p = it_json_number(env.port, "/api/patterns/stats", "stats.events_processed");
	double r = it_json_number(env.port, "/api/patterns/stats", "stats.events_rejected");

	return p + r >= t->want;
}

static void test_every_published_event_is_accounted_for(void **state)
{
	const char *sim = getenv("TICKPUSH_SIM");
	char cmd[1024];
	struct totals t = {2000};
	double processed, rejected;
	int rc;

	(void)state;
	assert_non_null(sim);
	snprintf(cmd, sizeof(cmd),
		 "'%s' --socket '%s' --count 2000 --rate 5000 --seed 42 --shapes "
		 "--malformed 0.1 --health-interval 0 --no-heartbeat --no-backtest --quiet "
		 ">> '%s/sim.log' 2>&1",
		 sim, env.redis_sock, env.dir);
	rc = system(cmd);
	assert_int_equal(rc, 0);
	if (!it_wait(all_accounted, &t, 20)) {
		it_dump_logs(&env);
		fail_msg("not every event was accounted for");
	}
	processed = it_json_number(env.port, "/api/patterns/stats", "stats.events_processed");
	rejected = it_json_number(env.port, "/api/patterns/stats", "stats.events_rejected");
	assert_true(processed + rejected == 2000);
	/* --malformed 0.1 of 2000: clearly some, clearly not most. */
	assert_true(rejected >= 100 && rejected <= 400);
	assert_true(it_json_number(env.port, "/api/patterns/stats", "stats.cached_patterns") > 100);

	cJSON *root = it_get_json(env.port, "/api/patterns/scan?per_page=100&confidence_min=0", 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "patterns")), 100);
	cJSON_Delete(root);
	root = it_get_json(env.port, "/api/patterns/summary", 200);
	assert_true(cJSON_GetObjectItemCaseSensitive(root, "total_patterns")->valuedouble > 0);
	cJSON_Delete(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_published_event_is_accounted_for),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
