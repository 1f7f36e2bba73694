/*
 * test_backtests.c - backtest jobs over REST against a real Redis,
 * PostgreSQL (accounts: schema.sql + sample.sql) and tickpush.
 *
 * Covers: every endpoint needs a token; each request field is validated
 * (400 naming it, nothing recorded); a submission publishes the job on
 * tickstock.jobs.backtest with the owner's user id and records the owner
 * key with a TTL; list (most recent first) and detail; progress and result
 * events for the job show in GET; another user's job is a 404 for reads
 * and cancels (and publishes nothing); DELETE publishes the cancellation;
 * after a restart the owners are still known (REST and the push owner
 * lookup); Redis down -> POST 503 with nothing recorded, recovery after.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "it.h"
#include "it_pg.h"
#include "test_support.h"

#define SECRET "integration-test-secret-0123456789abcdef"
#define JOBS_CHANNEL "tickstock.jobs.backtest"
#define CANCEL_CHANNEL "tickstock.jobs.cancel"

static struct it_env env;
static char uri_env[600], demo_token[1024], analyst_token[1024];
static const char *server_env[8];
static long long demo_id, analyst_id;
/* Jobs submitted by demo, in order. */
static char job1[80], job2[80];

static void tickpush_uri(char *out, size_t n)
{
	it_pg_tickpush_uri(&env, out, n);
}

/* Request with a bearer token (NULL = none); returns the status, body in
 * *json (parsed, may be NULL). */
static int call(const char *method, const char *path, const char *token,
		const char *body, cJSON **json)
{
	return it_call(env.port, method, path, token, body, json);
}

static void login(const char *user, char *token, size_t n, long long *id)
{
	char body[256];
	cJSON *j;

	snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", user, user);
	if (call("POST", "/api/auth/login", NULL, body, &j) != 200)
		fail_msg("login %s failed", user);
	snprintf(token, n, "%s", it_json_str(j, "token"));
	*id = (long long)it_json_num(cJSON_GetObjectItemCaseSensitive(j, "user"), "id");
	assert_true(*id > 0);
	cJSON_Delete(j);
}

static int setup(void **state)
{
	char uri[560];

	(void)state;
	it_setup(&env, "backtests");
	it_redis_start(&env);
	it_pg_start_sample(&env);
	tickpush_uri(uri, sizeof(uri));
	snprintf(uri_env, sizeof(uri_env), "DATABASE_URI=%s", uri);
	server_env[0] = uri_env;
	server_env[1] = "TICKPUSH_JWT_SECRET=" SECRET;
	server_env[2] = "TICKPUSH_LOGIN_BURST=1000";
	server_env[3] = NULL;
	it_server_start(&env, server_env, true);
	/* Ready means Redis; the logins also need the database connected. */
	if (!it_wait(it_symbols_loaded, &env, 20))
		fail_msg("the database never connected");
	login("demo", demo_token, sizeof(demo_token), &demo_id);
	login("analyst", analyst_token, sizeof(analyst_token), &analyst_id);
	assert_true(demo_id != analyst_id);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return it_finish_pg(&env);
}

/* ---- Redis helpers ---- */

static redisContext *redis_connect(void)
{
	struct timeval tv = {5, 0};
	redisContext *c = redisConnectUnixWithTimeout(env.redis_sock, tv);

	if (!c || c->err)
		fail_msg("redis connect: %s", c ? c->errstr : "no memory");
	redisSetTimeout(c, tv);
	return c;
}

/* A subscriber on the job and cancel channels (reads time out after 5 s,
 * which fails the test instead of hanging it). */
static redisContext *subscribe_jobs(void)
{
	redisContext *c = redis_connect();
	redisReply *r = redisCommand(c, "SUBSCRIBE %s %s", JOBS_CHANNEL, CANCEL_CHANNEL);
	void *more;

	assert_non_null(r);
	freeReplyObject(r);
	/* The second subscription's confirmation. */
	assert_int_equal(redisGetReply(c, &more), REDIS_OK);
	freeReplyObject(more);
	return c;
}

/* Next pub/sub message: its channel into chan, payload parsed. */
static cJSON *next_message(redisContext *c, char *chan, size_t n)
{
	void *v;
	redisReply *r;
	cJSON *j;

	if (redisGetReply(c, &v) != REDIS_OK)
		fail_msg("no pub/sub message: %s", c->errstr);
	r = v;
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 3);
	assert_string_equal(r->element[0]->str, "message");
	snprintf(chan, n, "%s", r->element[1]->str);
	j = cJSON_Parse(r->element[2]->str);
	if (!j)
		fail_msg("message not JSON: %s", r->element[2]->str);
	freeReplyObject(r);
	return j;
}

static size_t count_owner_keys(void)
{
	redisContext *c = redis_connect();
	char cursor[32] = "0";
	size_t n = 0;

	do {
		redisReply *r = redisCommand(c, "SCAN %s MATCH tickstock:backtest:owner:* COUNT 1000",
					     cursor);

		assert_non_null(r);
		assert_int_equal(r->type, REDIS_REPLY_ARRAY);
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		n += r->element[1]->elements;
		freeReplyObject(r);
	} while (strcmp(cursor, "0"));
	redisFree(c);
	return n;
}

static double metric(const char *name)
{
	struct it_http_resp r;
	char needle[128];
	const char *p;
	double v = -1;

	assert_int_equal(it_http(env.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
	snprintf(needle, sizeof(needle), "\n%s ", name);
	p = strstr(r.body, needle);
	if (p)
		v = strtod(p + strlen(needle), NULL);
	it_http_free(&r);
	return v;
}

/* ---- tests ---- */

static void expect_400(const char *body, const char *field)
{
	cJSON *j;
	int got = call("POST", "/api/backtests", demo_token, body, &j);

	if (got != 400)
		fail_msg("POST %s: %d, want 400", body, got);
	assert_true(it_json_str(j, "error")[0] != '\0');
	if (field && strcmp(it_json_str(j, "field"), field))
		fail_msg("POST %s: field \"%s\", want \"%s\" (%s)", body,
			 it_json_str(j, "field"), field, it_json_str(j, "error"));
	cJSON_Delete(j);
}

#define GOOD_DATES "\"start_date\":\"2024-01-02\",\"end_date\":\"2024-06-28\""

static void test_token_required(void **state)
{
	(void)state;
	assert_int_equal(call("GET", "/api/backtests", NULL, NULL, NULL), 401);
	assert_int_equal(call("POST", "/api/backtests", NULL,
			      "{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"]," GOOD_DATES "}",
			      NULL), 401);
	assert_int_equal(call("GET", "/api/backtests/job_0123456789abcdef", NULL, NULL, NULL), 401);
	assert_int_equal(call("DELETE", "/api/backtests/job_0123456789abcdef", NULL, NULL, NULL), 401);
	assert_int_equal(call("GET", "/api/backtests", "garbage", NULL, NULL), 401);
	assert_int_equal(call("PUT", "/api/backtests", demo_token, "{}", NULL), 405);
}

static void test_validation(void **state)
{
	char big[6000], many[2000];
	size_t off;

	(void)state;
	expect_400("not json", NULL);
	expect_400("[1,2]", NULL);
	/* symbols */
	expect_400("{\"patterns\":[\"Doji\"]," GOOD_DATES "}", "symbols");
	expect_400("{\"symbols\":[],\"patterns\":[\"Doji\"]," GOOD_DATES "}", "symbols");
	expect_400("{\"symbols\":\"AAPL\",\"patterns\":[\"Doji\"]," GOOD_DATES "}", "symbols");
	expect_400("{\"symbols\":[\"AA PL\"],\"patterns\":[\"Doji\"]," GOOD_DATES "}", "symbols");
	expect_400("{\"symbols\":[\"AAPL$\"],\"patterns\":[\"Doji\"]," GOOD_DATES "}", "symbols");
	expect_400("{\"symbols\":[\"ABCDEFGHIJKLMNOPQ\"],\"patterns\":[\"Doji\"]," GOOD_DATES "}",
		   "symbols");
	expect_400("{\"symbols\":[7],\"patterns\":[\"Doji\"]," GOOD_DATES "}", "symbols");
	expect_400("{\"symbols\":[\"AAPL,MSFT\"],\"patterns\":[\"Doji\"]," GOOD_DATES "}", "symbols");
	expect_400("{\"symbols\":[\"\"],\"patterns\":[\"Doji\"]," GOOD_DATES "}", "symbols");
	off = (size_t)snprintf(many, sizeof(many), "{\"symbols\":[");
	for (int i = 0; i < 101; i++)
		off += (size_t)snprintf(many + off, sizeof(many) - off, "%s\"S%d\"", i ? "," : "", i);
	snprintf(many + off, sizeof(many) - off, "],\"patterns\":[\"Doji\"]," GOOD_DATES "}");
	expect_400(many, "symbols");
	/* patterns */
	expect_400("{\"symbols\":[\"AAPL\"]," GOOD_DATES "}", "patterns");
	expect_400("{\"symbols\":[\"AAPL\"],\"patterns\":[]," GOOD_DATES "}", "patterns");
	expect_400("{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\\u0001\"]," GOOD_DATES "}",
		   "patterns");
	expect_400("{\"symbols\":[\"AAPL\"],\"patterns\":[\"" /* 65 bytes */
		   "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"],"
		   GOOD_DATES "}", "patterns");
	off = (size_t)snprintf(many, sizeof(many), "{\"symbols\":[\"AAPL\"],\"patterns\":[");
	for (int i = 0; i < 21; i++)
		off += (size_t)snprintf(many + off, sizeof(many) - off, "%s\"P%d\"", i ? "," : "", i);
	snprintf(many + off, sizeof(many) - off, "]," GOOD_DATES "}");
	expect_400(many, "patterns");
	/* dates */
	expect_400("{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],\"end_date\":\"2024-06-28\"}",
		   "start_date");
	expect_400("{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],\"start_date\":\"2024-01-02\"}",
		   "end_date");
	expect_400("{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],\"start_date\":\"2024-13-01\","
		   "\"end_date\":\"2024-06-28\"}", "start_date");
	expect_400("{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],\"start_date\":\"2023-02-29\","
		   "\"end_date\":\"2024-06-28\"}", "start_date");
	expect_400("{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],\"start_date\":\"20240102\","
		   "\"end_date\":\"2024-06-28\"}", "start_date");
	expect_400("{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],\"start_date\":\"2024-01-02\","
		   "\"end_date\":20240628}", "end_date");
	expect_400("{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],\"start_date\":\"2024-06-28\","
		   "\"end_date\":\"2024-01-02\"}", "start_date");
	expect_400("{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],\"start_date\":\"2024-01-02\","
		   "\"end_date\":\"2999-01-01\"}", "end_date");
	/* parameters */
	expect_400("{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"]," GOOD_DATES
		   ",\"parameters\":[1]}", "parameters");
	off = (size_t)snprintf(big, sizeof(big), "{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],"
			       GOOD_DATES ",\"parameters\":{\"note\":\"");
	memset(big + off, 'x', 4200);
	off += 4200;
	snprintf(big + off, sizeof(big) - off, "\"}}");
	expect_400(big, "parameters");
	/* Over 64 KiB: http.c refuses the body. */
	{
		size_t n = 70 * 1024;
		char *huge = malloc(n + 1);
		cJSON *j;

		assert_non_null(huge);
		memset(huge, ' ', n);
		huge[0] = '{';
		huge[n - 1] = '}';
		huge[n] = '\0';
		assert_int_equal(call("POST", "/api/backtests", demo_token, huge, &j), 413);
		cJSON_Delete(j);
		free(huge);
	}
	/* Nothing of the above was recorded. */
	assert_int_equal(count_owner_keys(), 0);
	assert_true(metric("tickpush_backtests_submitted_total") == 0);
}

static const char *array_item(const cJSON *j, const char *name, int i)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, name);
	const cJSON *v = cJSON_GetArrayItem(a, i);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static void test_submit_publishes_and_records(void **state)
{
	redisContext *sub = subscribe_jobs();
	cJSON *j, *msg;
	char chan[128], key[160], val[64];
	long long ttl;

	(void)state;
	assert_int_equal(call("POST", "/api/backtests", demo_token,
			      "{\"symbols\":[\"aapl\",\"MSFT\",\"AAPL\"],"
			      "\"patterns\":[\"WeeklyBO\",\"Doji\",\"weekly_breakout\"],"
			      GOOD_DATES ",\"parameters\":{\"hold_days\":5}}", &j), 201);
	snprintf(job1, sizeof(job1), "%s", it_json_str(j, "job_id"));
	assert_int_equal(strlen(job1), 20);
	assert_memory_equal(job1, "job_", 4);
	assert_int_equal(strspn(job1 + 4, "0123456789abcdef"), 16);
	assert_string_equal(it_json_str(j, "status"), "submitted");
	assert_true(it_json_num(j, "progress") == 0);
	assert_true(it_json_num(j, "submitted_at") > 1.7e9);
	/* Upper-cased, abbreviations expanded, duplicates dropped (pattern
	 * types case-insensitively, as the scan compares them), order kept. */
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "symbols")), 2);
	assert_string_equal(array_item(j, "symbols", 0), "AAPL");
	assert_string_equal(array_item(j, "symbols", 1), "MSFT");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "patterns")), 2);
	assert_string_equal(array_item(j, "patterns", 0), "Weekly_Breakout");
	assert_string_equal(array_item(j, "patterns", 1), "Doji");
	assert_true(it_json_num(j, "receivers") >= 1); /* our subscriber */
	cJSON_Delete(j);

	msg = next_message(sub, chan, sizeof(chan));
	assert_string_equal(chan, JOBS_CHANNEL);
	assert_string_equal(it_json_str(msg, "type"), "backtest_job");
	assert_string_equal(it_json_str(msg, "job_id"), job1);
	assert_true(it_json_num(msg, "user_id") == (double)demo_id);
	assert_string_equal(array_item(msg, "symbols", 0), "AAPL");
	assert_string_equal(array_item(msg, "symbols", 1), "MSFT");
	assert_string_equal(array_item(msg, "patterns", 0), "Weekly_Breakout");
	assert_string_equal(it_json_str(msg, "start_date"), "2024-01-02");
	assert_string_equal(it_json_str(msg, "end_date"), "2024-06-28");
	assert_true(it_json_num(cJSON_GetObjectItemCaseSensitive(msg, "parameters"), "hold_days") == 5);
	assert_true(it_json_num(msg, "submitted_at") > 1.7e9);
	assert_string_equal(it_json_str(msg, "source"), "tickpush");
	cJSON_Delete(msg);
	redisFree(sub);

	/* The owner key, with the 7-day TTL. */
	snprintf(key, sizeof(key), "tickstock:backtest:owner:%s", job1);
	assert_true(it_redis(&env, val, sizeof(val), "GET %s", key) > 0);
	assert_true(atoll(val) == demo_id);
	ttl = it_redis(&env, NULL, 0, "TTL %s", key);
	assert_true(ttl > 0 && ttl <= 604800);
	assert_int_equal(count_owner_keys(), 1);
	assert_true(metric("tickpush_backtests_submitted_total") == 1);

	/* A second job, without parameters. */
	assert_int_equal(call("POST", "/api/backtests", demo_token,
			      "{\"symbols\":[\"NVDA\"],\"patterns\":[\"Hammer\"],"
			      GOOD_DATES "}", &j), 201);
	snprintf(job2, sizeof(job2), "%s", it_json_str(j, "job_id"));
	assert_string_not_equal(job1, job2);
	assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "parameters")));
	cJSON_Delete(j);
}

static bool list_has(const cJSON *list, const char *job_id)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "jobs"))
		if (!strcmp(it_json_str(it, "job_id"), job_id))
			return true;
	return false;
}

static void test_list_and_detail(void **state)
{
	cJSON *j, *jobs;
	char path[160];

	(void)state;
	assert_int_equal(call("GET", "/api/backtests", demo_token, NULL, &j), 200);
	jobs = cJSON_GetObjectItemCaseSensitive(j, "jobs");
	assert_int_equal(cJSON_GetArraySize(jobs), 2);
	assert_true(it_json_num(j, "count") == 2);
	/* Most recent first. */
	assert_string_equal(it_json_str(cJSON_GetArrayItem(jobs, 0), "job_id"), job2);
	assert_string_equal(it_json_str(cJSON_GetArrayItem(jobs, 1), "job_id"), job1);
	assert_string_equal(it_json_str(cJSON_GetArrayItem(jobs, 1), "status"), "submitted");
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(jobs, 1),
								  "latest")));
	cJSON_Delete(j);

	snprintf(path, sizeof(path), "/api/backtests/%s", job1);
	assert_int_equal(call("GET", path, demo_token, NULL, &j), 200);
	assert_string_equal(it_json_str(j, "job_id"), job1);
	assert_string_equal(it_json_str(j, "status"), "submitted");
	assert_string_equal(it_json_str(j, "start_date"), "2024-01-02");
	cJSON_Delete(j);

	/* analyst sees none of it. */
	assert_int_equal(call("GET", "/api/backtests", analyst_token, NULL, &j), 200);
	assert_false(list_has(j, job1));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "jobs")), 0);
	cJSON_Delete(j);
	assert_int_equal(call("GET", path, analyst_token, NULL, &j), 404);
	assert_string_equal(it_json_str(j, "error"), "Not found");
	cJSON_Delete(j);

	/* Unknown and malformed ids: the same 404. */
	assert_int_equal(call("GET", "/api/backtests/job_ffffffffffffffff", demo_token, NULL, &j),
			 404);
	assert_string_equal(it_json_str(j, "error"), "Not found");
	cJSON_Delete(j);
	assert_int_equal(call("GET", "/api/backtests/a%20b", demo_token, NULL, NULL), 404);
	assert_int_equal(call("DELETE", "/api/backtests/job_ffffffffffffffff", demo_token, NULL,
			      NULL), 404);
}

struct want {
	const char *job;
	const char *status;
	double progress;
};

static bool job_state_is(void *ud)
{
	const struct want *w = ud;
	char path[160];
	cJSON *j;
	bool ok;

	snprintf(path, sizeof(path), "/api/backtests/%s", w->job);
	if (call("GET", path, demo_token, NULL, &j) != 200) {
		cJSON_Delete(j);
		return false;
	}
	ok = !strcmp(it_json_str(j, "status"), w->status) && it_json_num(j, "progress") == w->progress;
	cJSON_Delete(j);
	return ok;
}

static void test_progress_and_result_events(void **state)
{
	char ev[512], path[160];
	struct want w = {job1, "processing", 0.45};
	double unknown_before = metric("tickpush_backtest_events_unknown_job_total");
	cJSON *j, *jobs;

	(void)state;
	snprintf(ev, sizeof(ev), "{\"event_type\":\"backtest_progress\",\"source\":\"tickstock_pl\","
		 "\"timestamp\":%.1f,\"job_id\":\"%s\",\"progress\":0.45,\"status\":\"processing\","
		 "\"current_symbol\":\"MSFT\",\"processed_symbols\":1}", it_now(), job1);
	assert_true(it_publish(&env, "tickstock.events.backtesting.progress", ev) >= 1);
	if (!it_wait(job_state_is, &w, 10))
		fail_msg("progress never showed in GET");
	/* The list shows the same state. */
	assert_int_equal(call("GET", "/api/backtests", demo_token, NULL, &j), 200);
	jobs = cJSON_GetObjectItemCaseSensitive(j, "jobs");
	assert_string_equal(it_json_str(cJSON_GetArrayItem(jobs, 1), "status"), "processing");
	assert_string_equal(it_json_str(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(jobs, 1),
								 "latest"), "current_symbol"), "MSFT");
	cJSON_Delete(j);

	snprintf(ev, sizeof(ev), "{\"event_type\":\"backtest_result\",\"source\":\"tickstock_pl\","
		 "\"timestamp\":%.1f,\"job_id\":\"%s\",\"status\":\"completed\",\"results\":"
		 "{\"win_rate\":0.65,\"total_trades\":150,\"roi\":0.12},\"processing_time_seconds\":45.2}",
		 it_now(), job1);
	assert_true(it_publish(&env, "tickstock.events.backtesting.results", ev) >= 1);
	w.status = "completed";
	w.progress = 1;
	if (!it_wait(job_state_is, &w, 10))
		fail_msg("result never showed in GET");
	snprintf(path, sizeof(path), "/api/backtests/%s", job1);
	assert_int_equal(call("GET", path, demo_token, NULL, &j), 200);
	assert_true(it_json_num(cJSON_GetObjectItemCaseSensitive(j, "results"), "win_rate") == 0.65);
	cJSON_Delete(j);
	/* Both events had a known owner. */
	assert_true(metric("tickpush_backtest_events_unknown_job_total") == unknown_before);

	/* An event for a job nobody submitted is counted as unknown. */
	snprintf(ev, sizeof(ev), "{\"event_type\":\"backtest_progress\",\"job_id\":\"job_nobody\","
		 "\"progress\":0.1,\"status\":\"processing\"}");
	assert_true(it_publish(&env, "tickstock.events.backtesting.progress", ev) >= 1);
	for (double until = it_now() + 10; it_now() < until;)
		if (metric("tickpush_backtest_events_unknown_job_total") == unknown_before + 1)
			break;
	assert_true(metric("tickpush_backtest_events_unknown_job_total") == unknown_before + 1);
}

static void test_cancel(void **state)
{
	redisContext *sub = subscribe_jobs();
	char path[160], chan[128];
	cJSON *j, *msg;

	(void)state;
	snprintf(path, sizeof(path), "/api/backtests/%s", job2);
	/* analyst cannot cancel demo's job, and nothing is published. */
	assert_int_equal(call("DELETE", path, analyst_token, NULL, &j), 404);
	assert_string_equal(it_json_str(j, "error"), "Not found");
	cJSON_Delete(j);

	assert_int_equal(call("DELETE", path, demo_token, NULL, &j), 202);
	assert_string_equal(it_json_str(j, "job_id"), job2);
	assert_string_equal(it_json_str(j, "status"), "cancel_requested");
	cJSON_Delete(j);
	/* A marker after it: the cancel must be the only message before it. */
	assert_true(it_publish(&env, CANCEL_CHANNEL, "{\"marker\":true}") >= 1);

	msg = next_message(sub, chan, sizeof(chan));
	assert_string_equal(chan, CANCEL_CHANNEL);
	assert_string_equal(it_json_str(msg, "type"), "backtest_cancel");
	assert_string_equal(it_json_str(msg, "job_id"), job2);
	assert_true(it_json_num(msg, "user_id") == (double)demo_id);
	assert_string_equal(it_json_str(msg, "source"), "tickpush");
	cJSON_Delete(msg);
	msg = next_message(sub, chan, sizeof(chan));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "marker")));
	cJSON_Delete(msg);
	redisFree(sub);

	assert_int_equal(call("GET", path, demo_token, NULL, &j), 200);
	assert_string_equal(it_json_str(j, "status"), "cancel_requested");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "cancel_requested")));
	cJSON_Delete(j);
}

static void test_restart_keeps_owners(void **state)
{
	char path[160], ev[512];
	cJSON *j, *jobs;
	struct want w = {job2, "cancelled", -1};

	(void)state;
	assert_int_equal(it_server_stop(&env, SIGTERM, 10), 0);
	it_server_start(&env, server_env, true);

	/* The list waits for the owner records to load. */
	assert_int_equal(call("GET", "/api/backtests", demo_token, NULL, &j), 200);
	jobs = cJSON_GetObjectItemCaseSensitive(j, "jobs");
	assert_int_equal(cJSON_GetArraySize(jobs), 2);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "partial"));
	assert_string_equal(it_json_str(cJSON_GetArrayItem(jobs, 0), "job_id"), job2);
	assert_string_equal(it_json_str(cJSON_GetArrayItem(jobs, 1), "job_id"), job1);
	cJSON_Delete(j);

	/* The request came back from Redis with the owner. */
	snprintf(path, sizeof(path), "/api/backtests/%s", job1);
	assert_int_equal(call("GET", path, demo_token, NULL, &j), 200);
	assert_string_equal(array_item(j, "symbols", 1), "MSFT");
	assert_string_equal(array_item(j, "patterns", 0), "Weekly_Breakout");
	assert_string_equal(it_json_str(j, "end_date"), "2024-06-28");
	assert_true(it_json_num(j, "submitted_at") > 1.7e9);
	cJSON_Delete(j);
	assert_int_equal(call("GET", path, analyst_token, NULL, NULL), 404);
	assert_int_equal(call("DELETE", path, analyst_token, NULL, NULL), 404);

	/* The push side knows the owner too: this event is not "unknown". */
	snprintf(ev, sizeof(ev), "{\"event_type\":\"backtest_result\",\"job_id\":\"%s\","
		 "\"status\":\"cancelled\",\"results\":{}}", job2);
	assert_true(it_publish(&env, "tickstock.events.backtesting.results", ev) >= 1);
	w.progress = -1; /* a cancelled result has no progress: null */
	if (!it_wait(job_state_is, &w, 10))
		fail_msg("result after restart never showed");
	assert_true(metric("tickpush_backtest_events_unknown_job_total") == 0);
	assert_true(metric("tickpush_backtests_submitted_total") == 0);
}

static bool post_ok(void *ud)
{
	(void)ud;
	return call("POST", "/api/backtests", demo_token,
		    "{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"]," GOOD_DATES "}", NULL) == 201;
}

static void test_redis_down(void **state)
{
	cJSON *j;
	char path[160];

	(void)state;
	it_redis_stop(&env, SIGKILL);
	assert_int_equal(call("POST", "/api/backtests", demo_token,
			      "{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"]," GOOD_DATES "}",
			      &j), 503);
	assert_true(it_json_str(j, "error")[0] != '\0');
	cJSON_Delete(j);
	/* Nothing recorded: the known jobs are still answered from memory. */
	assert_int_equal(call("GET", "/api/backtests", demo_token, NULL, &j), 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "jobs")), 2);
	cJSON_Delete(j);
	snprintf(path, sizeof(path), "/api/backtests/%s", job1);
	assert_int_equal(call("GET", path, demo_token, NULL, NULL), 200);
	/* Cancelling needs Redis. */
	assert_int_equal(call("DELETE", path, demo_token, NULL, NULL), 503);

	/* Back: submissions work again once reconnected. */
	it_redis_start(&env);
	if (!it_wait(post_ok, NULL, 20))
		fail_msg("POST never recovered after Redis came back");
	assert_int_equal(count_owner_keys(), 1);
	assert_int_equal(call("GET", "/api/backtests", demo_token, NULL, &j), 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "jobs")), 3);
	cJSON_Delete(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_required),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_submit_publishes_and_records),
		cmocka_unit_test(test_list_and_detail),
		cmocka_unit_test(test_progress_and_result_events),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_restart_keeps_owners),
		cmocka_unit_test(test_redis_down),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
