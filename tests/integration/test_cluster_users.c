/*
 * test_cluster_users.c - user changes across instances (cluster = redis,
 * real PostgreSQL): a preset edited through A re-filters a live session
 * on B within a second, deleting it through A ends B's subscription; a
 * backtest submitted through A reaches its owner's session on B; the
 * login limit per address holds across instances.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "it_cluster.h"
#include "it_pg.h"
#include "test_support.h"

#define SECRET "cluster-users-secret-0123456789abcdefgh"

static struct it_env a, b;
static char uri_env[600], token[1024];

static void start(struct it_env *e, const char *burst)
{
	/* Refills slower than ASan-built PBKDF2 runs (a token per 1,000 s). */
	const char *extra[] = {uri_env, "TICKPUSH_JWT_SECRET=" SECRET, burst,
			       "TICKPUSH_LOGIN_RATE=0.001", "TICKPUSH_LOGIN_ACCOUNT_BURST=3",
			       "TICKPUSH_LOGIN_ACCOUNT_RATE=0.001", NULL};

	itc_start(e, extra);
	if (!it_wait(it_symbols_loaded, e, 20))
		fail_msg("symbols never loaded");
}

static int setup(void **state)
{
	char uri[512];
	cJSON *j;

	(void)state;
	it_setup(&a, "clusterusers-a");
	it_setup(&b, "clusterusers-b");
	it_redis_start(&a);
	itc_share_redis(&b, &a);
	it_pg_start_sample(&a);
	snprintf(uri_env, sizeof(uri_env), "DATABASE_URI=%s",
		 it_pg_tickpush_uri(&a, uri, sizeof(uri)));
	/* 3 login attempts per address, then 429: the limit is shared. */
	start(&a, "TICKPUSH_LOGIN_BURST=3");
	start(&b, "TICKPUSH_LOGIN_BURST=3");
	assert_int_equal(it_call(a.port, "POST", "/api/auth/login", NULL,
				 "{\"username\":\"demo\",\"password\":\"demo\"}", &j), 200);
	snprintf(token, sizeof(token), "%s", it_json_str(j, "token"));
	cJSON_Delete(j);
	return 0;
}

static int teardown(void **state)
{
	int rc = 0;

	(void)state;
	if (it_finish(&b))
		rc = -1;
	if (it_finish_pg(&a))
		rc = -1;
	return rc;
}

static void subscribe_preset(struct itc_session *s, double pid)
{
	char frame[160];
	cJSON *j;

	snprintf(frame, sizeof(frame), "{\"op\":\"subscribe\",\"id\":\"p\",\"channel\":\"patterns\","
		 "\"preset_id\":%.0f}", pid);
	assert_int_equal(it_ws_send_text(&s->ws, frame), 0);
	j = it_ws_wait_type(&s->ws, "subscribed", 10);
	assert_non_null(j);
	cJSON_Delete(j);
}

/* B applies a preset edit from the stream by re-resolving the preset (a
 * query), events in the meantime still meet the old filter: a fixed pause
 * may be too short on a loaded box. Publishes events of sym, which the old
 * filter drops, until one arrives, then reads on to the last one. */
static void wait_follows(struct itc_session *s, const char *sym)
{
	char id[96], prefix[32];
	double limit = it_now() + 20;
	size_t n0 = s->n;

	do
		itc_publish(&a, sym, id, sizeof(id));
	while (!itc_wait_frames(s, n0 + 1, 0.5) && it_now() < limit);
	while (s->n > n0 && strcmp(s->frames[s->n - 1].id, id))
		if (!itc_wait_frames(s, s->n + 1, 20))
			break;
	if (s->n == n0 || strcmp(s->frames[s->n - 1].id, id))
		fail_msg("the session never followed the preset to %s", sym);
	snprintf(prefix, sizeof(prefix), "%s:", sym);
	for (size_t i = n0; i < s->n; i++)
		assert_true(!strncmp(s->frames[i].id, prefix, strlen(prefix)));
}

static void test_preset_edit_reaches_other_instance(void **state)
{
	struct itc_session sb;
	char query[1100], path[128], id[96];
	double pid;
	size_t n;
	cJSON *j;

	(void)state;
	assert_int_equal(it_call(a.port, "POST", "/api/users/filter-presets", token,
				 "{\"name\":\"cluster follow\",\"filters\":{\"symbols\":[\"CAT\"],"
				 "\"confidence_min\":0}}", &j), 201);
	pid = it_json_num(j, "id");
	cJSON_Delete(j);
	snprintf(query, sizeof(query), "?token=%s", token);
	itc_open(&sb, b.port, query);
	subscribe_preset(&sb, pid);
	itc_publish(&a, "CAT", id, sizeof(id));
	assert_true(itc_wait_frames(&sb, 1, 10));
	assert_string_equal(sb.frames[0].id, id);

	/* Edited through A: B's session follows. */
	snprintf(path, sizeof(path), "/api/users/filter-presets/%.0f", pid);
	assert_int_equal(it_call(a.port, "PUT", path, token,
				 "{\"filters\":{\"symbols\":[\"DE\"],\"confidence_min\":0}}",
				 NULL), 200);
	wait_follows(&sb, "DE");
	n = sb.n;
	itc_publish(&a, "CAT", NULL, 0);
	itc_publish(&a, "DE", id, sizeof(id));
	assert_true(itc_wait_frames(&sb, n + 1, 20));
	itc_collect(&sb, 0.3);
	assert_int_equal(sb.n, n + 1);
	assert_string_equal(sb.frames[n].id, id);

	/* Deleted through A: B's subscription ends with not_found. */
	assert_int_equal(it_call(a.port, "DELETE", path, token, NULL, NULL), 200);
	j = it_ws_wait_type(&sb.ws, "error", 20);
	assert_non_null(j);
	assert_string_equal(it_json_str(j, "code"), "not_found");
	assert_string_equal(it_json_str(j, "id"), "p");
	cJSON_Delete(j);
	itc_close(&sb);
}

static void test_backtest_owner_on_other_instance(void **state)
{
	struct itc_session sb;
	char query[1100], job[80], ev[512];
	cJSON *j;

	(void)state;
	snprintf(query, sizeof(query), "?token=%s", token);
	itc_open(&sb, b.port, query);
	assert_int_equal(it_ws_send_text(&sb.ws, "{\"op\":\"subscribe\",\"id\":\"bt\",\"channel\":\"backtests\"}"), 0);
	j = it_ws_wait_type(&sb.ws, "subscribed", 10);
	assert_non_null(j);
	cJSON_Delete(j);
	assert_int_equal(it_call(a.port, "POST", "/api/backtests", token,
				 "{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],"
				 "\"start_date\":\"2024-01-02\",\"end_date\":\"2024-06-28\"}", &j), 201);
	snprintf(job, sizeof(job), "%s", it_json_str(j, "job_id"));
	cJSON_Delete(j);
	snprintf(ev, sizeof(ev), "{\"event_type\":\"backtest_progress\",\"source\":\"tickstock_pl\","
		 "\"timestamp\":%.1f,\"job_id\":\"%s\",\"progress\":0.5,\"status\":\"processing\"}",
		 (double)time(NULL), job);
	/* B learns the job from the stream; a progress event that gets there
	 * first reaches nobody on B. A fixed pause may be too short on a
	 * loaded box: publish until one arrives. */
	j = NULL;
	for (double limit = it_now() + 20; !j && it_now() < limit;) {
		assert_true(it_publish(&a, "tickstock.events.backtesting.progress", ev) >= 2);
		j = it_ws_wait_type(&sb.ws, "backtest_progress", 1);
	}
	assert_non_null(j);
	assert_string_equal(it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "job_id"), job);
	cJSON_Delete(j);
	itc_close(&sb);
}

/* Three attempts per address in all, whichever instance they reach. */
static void test_login_limit_across_instances(void **state)
{
	const char *bad = "{\"username\":\"demo\",\"password\":\"wrong\"}";
	int codes[5];

	(void)state;
	for (int i = 0; i < 5; i++) {
		struct it_http_resp r;

		assert_int_equal(it_http_from("127.0.0.9", i % 2 ? b.port : a.port, "POST",
					      "/api/auth/login", NULL, bad, strlen(bad), &r), 0);
		codes[i] = r.status;
		it_http_free(&r);
	}
	assert_int_equal(codes[0], 401);
	assert_int_equal(codes[1], 401);
	assert_int_equal(codes[2], 401);
	assert_int_equal(codes[3], 429);
	assert_int_equal(codes[4], 429);
}

/* Three failed logins per account in all, whichever instance they reach
 * and from whichever address (each its own, so the per-address limit
 * stays out of it); a failure reaches the other instance through the
 * stream, which the pause between attempts leaves time for. */
static void test_account_limit_across_instances(void **state)
{
	const char *bad = "{\"username\":\"Analyst\",\"password\":\"wrong\"}";
	int codes[5];

	(void)state;
	for (int i = 0; i < 5; i++) {
		struct it_http_resp r;
		char src[16];

		snprintf(src, sizeof(src), "127.0.0.%d", 21 + i);
		assert_int_equal(it_http_from(src, i % 2 ? b.port : a.port, "POST",
					      "/api/auth/login", NULL, bad, strlen(bad), &r), 0);
		codes[i] = r.status;
		if (r.status == 429)
			assert_non_null(strstr(r.body, "\"field\":\"username\""));
		it_http_free(&r);
		usleep(1000 * 1000);
	}
	assert_int_equal(codes[0], 401);
	assert_int_equal(codes[1], 401);
	assert_int_equal(codes[2], 401);
	assert_int_equal(codes[3], 429);
	assert_int_equal(codes[4], 429);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_preset_edit_reaches_other_instance),
		cmocka_unit_test(test_backtest_owner_on_other_instance),
		cmocka_unit_test(test_login_limit_across_instances),
		cmocka_unit_test(test_account_limit_across_instances),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
