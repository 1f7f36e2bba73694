/*
 * test_writeback.c - Redis restarts lose nothing: Redis killed and
 * restarted empty while tickpush runs; afterwards every pattern tickpush
 * holds is in the Redis cache layout again (hash and indexes), including
 * those ingested while the cache connection was still reconnecting and
 * without those withdrawn meanwhile, and a fresh instance warm-starts
 * with all of them. Once with one instance (cluster = off), once in
 * cluster mode, where the lost stream also means a new epoch: live
 * sessions get a gap and a since from before is answered with a gap.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "it_cluster.h"
#include "test_support.h"

#define N_BEFORE 20
#define N_AFTER 5

static struct it_env env, fresh;

static int setup(void **state)
{
	(void)state;
	it_setup(&env, "writeback");
	it_setup(&fresh, "writeback-fresh");
	it_redis_start(&env);
	itc_share_redis(&fresh, &env);
	return 0;
}

static int teardown(void **state)
{
	int rc = 0;

	(void)state;
	if (it_finish(&fresh))
		rc = -1;
	if (it_finish(&env))
		rc = -1;
	return rc;
}

struct count_want {
	const struct it_env *e;
	double n;
};

static bool cached_is(void *ud)
{
	struct count_want *w = ud;

	return it_json_number(w->e->port, "/api/patterns/stats",
			      "stats.cached_patterns") == w->n;
}

static void expect_cached(const struct it_env *e, double n)
{
	struct count_want w = {e, n};

	if (!it_wait(cached_is, &w, 15)) {
		it_dump_logs(e);
		fail_msg("cached_patterns never reached %g (%g)", n,
			 it_json_number(e->port, "/api/patterns/stats", "stats.cached_patterns"));
	}
}

struct layout_want {
	char (*ids)[96];
	size_t n;
	const char *gone;
};

/* Every id has its hash and its confidence/time index members; gone has
 * none. */
static bool in_layout(void *ud)
{
	struct layout_want *w = ud;
	char key[160];

	for (size_t i = 0; i < w->n; i++) {
		snprintf(key, sizeof(key), "tickstock:patterns:%s", w->ids[i]);
		if (it_redis(&env, NULL, 0, "EXISTS %s", key) != 1 ||
		    it_redis(&env, NULL, 0, "ZRANK tickstock:indexes:confidence %s", w->ids[i]) < 0 ||
		    it_redis(&env, NULL, 0, "ZRANK tickstock:indexes:time %s", w->ids[i]) < 0)
			return false;
	}
	if (w->gone) {
		snprintf(key, sizeof(key), "tickstock:patterns:%s", w->gone);
		if (it_redis(&env, NULL, 0, "EXISTS %s", key) != 0)
			return false;
	}
	return true;
}

static void withdraw(const char *id)
{
	char ev[256];

	snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_expired\",\"data\":{\"id\":\"%s\"}}", id);
	assert_true(it_publish(&env, "tickstock.events.patterns", ev) >= 1);
}

static void restart_redis_empty(void)
{
	it_redis_stop(&env, SIGKILL);
	it_redis_start(&env); /* --save "" and no AOF: it comes back empty */
}

/* Subscribed on the new Redis: the gauge alone may still say 1 from
 * before the kill (not yet noticed on a loaded box), and an event
 * published then would reach nobody. */
static bool subscribed(void *ud)
{
	const struct it_env *e = ud;

	return it_redis(e, NULL, 0, "PUBSUB CHANNELS tickstock.events.patterns") >= 1 &&
	       it_metric(e->port, "tickpush_redis_connected{conn=\"pubsub\"}") == 1;
}

static void run(const char *const *extra, bool cluster)
{
	static char ids[N_BEFORE + N_AFTER][96];
	struct layout_want lw = {ids, 0, NULL};
	struct itc_session live;
	char old_epoch[32], gone[96];
	size_t n = 0;

	if (cluster)
		itc_start(&env, extra);
	else
		it_server_start(&env, extra, true);
	itc_open(&live, env.port, NULL);
	itc_subscribe(&live, "WB", false, NULL, 0);
	snprintf(old_epoch, sizeof(old_epoch), "%s", live.epoch);
	for (; n < N_BEFORE; n++)
		itc_publish(&env, "WB", ids[n], sizeof(ids[n]));
	itc_publish(&env, "WB", gone, sizeof(gone));
	expect_cached(&env, N_BEFORE + 1);

	restart_redis_empty();
	/* As soon as pub/sub is back (the cache connection may still be
	 * reconnecting): more patterns, and one withdrawn. */
	assert_true(it_wait(subscribed, &env, 15));
	for (; n < N_BEFORE + N_AFTER; n++)
		itc_publish(&env, "WB", ids[n], sizeof(ids[n]));
	withdraw(gone);
	expect_cached(&env, N_BEFORE + N_AFTER);
	lw.n = n;
	lw.gone = gone;
	if (!it_wait(in_layout, &lw, 15)) {
		it_dump_logs(&env);
		fail_msg("the cache layout never got every pattern back");
	}
	if (cluster) {
		/* The stream was lost too: a new epoch, a gap for live sessions. */
		assert_true(itc_wait_frames(&live, N_BEFORE + 1, 20));
		for (double end = it_now() + 20; !live.gaps && it_now() < end;)
			itc_collect(&live, 0.5);
		assert_true(live.gaps >= 1);
		assert_string_not_equal(live.epoch, old_epoch);
	}
	itc_close(&live);

	/* A fresh instance warm-starts with all of them. */
	if (cluster)
		itc_start(&fresh, extra);
	else
		it_server_start(&fresh, extra, true);
	expect_cached(&fresh, N_BEFORE + N_AFTER);
	assert_int_equal(it_server_stop(&fresh, SIGTERM, 10), 0);
	assert_int_equal(it_server_stop(&env, SIGTERM, 10), 0);
}

static void test_one_instance(void **state)
{
	(void)state;
	run(NULL, false);
}

static void test_cluster_mode(void **state)
{
	(void)state;
	it_redis(&env, NULL, 0, "FLUSHALL");
	assert_int_equal(it_redis(&env, NULL, 0, "DBSIZE"), 0);
	run(NULL, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_instance),
		cmocka_unit_test(test_cluster_mode),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
