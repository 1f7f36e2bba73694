/*
 * test_ingest.c - events published on real Redis reach the REST API.
 *
 * Covers: every event shape becomes visible in /api/patterns/scan with the
 * normalised fields; pattern_updated replaces, pattern_expired removes;
 * malformed events are counted per reason and change nothing else; the
 * write-through lands in the Redis cache layout with a TTL; the response
 * cache is invalidated by a matching event and kept by a non-matching one;
 * the write-through changes no poll (strace) and loses nothing of a burst,
 * also when the socket to Redis fills (a proxy that stops reading).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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
	it_setup(&env, "ingest");
	it_redis_start(&env);
	it_server_start(&env, NULL, true);
	return 0;
}

/* The proxied server and its proxy (test_write_through_waits_for_a_full_socket),
 * stopped here too when that test fails half-way. */
static struct it_env px;
static bool px_running;
static pid_t proxy_pid;

static int teardown(void **state)
{
	int rc = 0;

	(void)state;
	if (px_running && it_finish(&px))
		rc = -1;
	if (proxy_pid > 0)
		it_proxy_stop(proxy_pid);
	if (it_finish(&env)) /* a sanitizer report or unclean exit fails */
		rc = -1;
	return rc;
}

struct count_ctx {
	const char *path;
	const char *member;
	double want;
};

/* Generous: only ever waited for; a loaded (ASan, CI) box is slow. */
#define WAIT_S 20

static bool member_equals(void *ud)
{
	struct count_ctx *c = ud;

	return it_json_number(env.port, c->path, c->member) == c->want;
}

static bool px_member_equals(void *ud)
{
	struct count_ctx *c = ud;

	return it_json_number(px.port, c->path, c->member) == c->want;
}

static void wait_member(const char *path, const char *member, double want)
{
	struct count_ctx c = {path, member, want};

	if (!it_wait(member_equals, &c, WAIT_S)) {
		it_dump_logs(&env);
		fail_msg("%s %s: got %g, want %g", path, member,
			 it_json_number(env.port, path, member), want);
	}
}

static cJSON *scan(const char *query, int status)
{
	char path[512];

	snprintf(path, sizeof(path), "/api/patterns/scan%s", query);
	return it_get_json(env.port, path, status);
}

static cJSON *find_row(cJSON *root, const char *id)
{
	cJSON *row;

	cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(root, "patterns")) {
		cJSON *rid = cJSON_GetObjectItemCaseSensitive(row, "id");

		if (cJSON_IsString(rid) && !strcmp(rid->valuestring, id))
			return row;
	}
	return NULL;
}

static bool indexes_hold_4(void *ud)
{
	(void)ud;
	return it_redis(&env, NULL, 0, "ZCARD tickstock:indexes:confidence") == 4 &&
	       it_redis(&env, NULL, 0, "ZCARD tickstock:indexes:symbol") == 4;
}

static void test_every_shape_is_ingested(void **state)
{
	double now = (double)time(NULL);
	char ev[1024], iso[64], id[128];
	time_t t = (time_t)now;
	struct tm tm;
	cJSON *root, *row;

	(void)state;
	/* (A) nested */
	snprintf(ev, sizeof(ev),
		 "{\"event_type\":\"pattern_detected\",\"source\":\"TickStockPL\",\"timestamp\":%.1f,"
		 "\"data\":{\"symbol\":\"aapl\",\"pattern\":\"Weekly_Breakout\",\"confidence\":0.85,"
		 "\"current_price\":150.25,\"price_change\":2.3,\"timestamp\":%.1f,"
		 "\"indicators\":{\"relative_strength\":1.4,\"relative_volume\":2.1,\"rsi\":65.5},"
		 "\"source\":\"daily\"}}", now, now);
	assert_true(it_publish(&env, "tickstock.events.patterns", ev) == 1);
	/* (B) flat, confidence as a percentage */
	snprintf(ev, sizeof(ev),
		 "{\"event_type\":\"pattern_detected\",\"source\":\"tickstock_pl\",\"timestamp\":%.1f,"
		 "\"pattern\":\"Doji\",\"symbol\":\"MSFT\",\"confidence\":77}", now);
	it_publish(&env, "tickstock.events.patterns", ev);
	/* (C) double-nested */
	snprintf(ev, sizeof(ev),
		 "{\"event_type\":\"pattern_detected\",\"data\":{\"event_type\":\"pattern_detected\","
		 "\"data\":{\"pattern\":\"Support_Bounce\",\"symbol\":\"TSLA\",\"confidence\":0.71,"
		 "\"timestamp\":%.1f}}}", now);
	it_publish(&env, "tickstock.events.patterns", ev);
	/* (D) alternative names and an ISO time */
	gmtime_r(&t, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S.500Z", &tm);
	snprintf(ev, sizeof(ev),
		 "{\"event_type\":\"pattern_detected\",\"data\":{\"ticker\":\"NVDA\","
		 "\"pattern_name\":\"Bull_Flag\",\"confidence\":0.9,\"price\":101.5,"
		 "\"timestamp\":\"%s\",\"tier\":\"intraday\"}}", iso);
	it_publish(&env, "tickstock.events.patterns", ev);

	wait_member("/api/patterns/stats", "stats.cached_patterns", 4);
	root = scan("?confidence_min=0&per_page=100", 200);
	snprintf(id, sizeof(id), "AAPL:Weekly_Breakout:%lld", (long long)now);
	row = find_row(root, id);
	assert_non_null(row);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(row, "pattern")->valuestring, "WeeklyBO");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(row, "rs")->valuestring, "1.4x");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(row, "price")->valuestring, "$150.25");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(row, "source")->valuestring, "daily");
	snprintf(id, sizeof(id), "MSFT:Doji:%lld", (long long)now);
	row = find_row(root, id);
	assert_non_null(row);
	assert_float_equal(cJSON_GetObjectItemCaseSensitive(row, "confidence")->valuedouble, 0.77, 1e-9);
	snprintf(id, sizeof(id), "TSLA:Support_Bounce:%lld", (long long)now);
	assert_non_null(find_row(root, id));
	snprintf(id, sizeof(id), "NVDA:Bull_Flag:%lld", (long long)now);
	row = find_row(root, id);
	assert_non_null(row);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(row, "source")->valuestring, "intraday");
	assert_float_equal(cJSON_GetObjectItemCaseSensitive(row, "current_price")->valuedouble, 101.5, 1e-9);
	cJSON_Delete(root);

	/* Filters over live data: symbol (case-insensitive), type by
	 * abbreviation, timeframe. */
	root = scan("?symbols=nvda,tsla&pattern_types=bullflag&confidence_min=0", 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "patterns")), 1);
	cJSON_Delete(root);
	root = scan("?timeframe=Intraday&confidence_min=0", 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "patterns")), 1);
	cJSON_Delete(root);

	/* Write-through: the hash, its TTL and the indexes. The writes go out
	 * after the store took the events, with no reply awaited: wait for
	 * them rather than assume they are in by now. */
	char key[200], data[4096];
	snprintf(key, sizeof(key), "tickstock:patterns:AAPL:Weekly_Breakout:%lld", (long long)now);
	assert_true(it_wait(indexes_hold_4, NULL, WAIT_S));
	assert_true(it_redis(&env, data, sizeof(data), "HGET %s data", key) > 0);
	assert_non_null(strstr(data, "\"symbol\":\"AAPL\""));
	long long ttl = it_redis(&env, NULL, 0, "TTL %s", key);
	assert_true(ttl > 3500 && ttl <= 3600);
	assert_int_equal(it_redis(&env, NULL, 0, "ZCARD tickstock:indexes:confidence"), 4);
	assert_int_equal(it_redis(&env, NULL, 0, "ZCARD tickstock:indexes:symbol"), 4);
}

static void test_update_and_expire(void **state)
{
	double now = (double)time(NULL) - 5;
	char ev[512], id[128], path[256];
	cJSON *root, *row;

	(void)state;
	snprintf(id, sizeof(id), "AMD:Hammer:%lld", (long long)now);
	snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"AMD\","
		 "\"pattern\":\"Hammer\",\"confidence\":0.6,\"timestamp\":%.0f}}", now);
	it_publish(&env, "tickstock.events.patterns", ev);
	snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_updated\",\"data\":{\"symbol\":\"AMD\","
		 "\"pattern\":\"Hammer\",\"confidence\":0.95,\"timestamp\":%.0f}}", now);
	it_publish(&env, "tickstock.events.patterns", ev);
	snprintf(path, sizeof(path), "/api/patterns/scan?symbols=AMD&confidence_min=0.9");
	struct count_ctx c = {path, "pagination.total", 1};
	assert_true(it_wait(member_equals, &c, WAIT_S));
	root = it_get_json(env.port, path, 200);
	row = find_row(root, id);
	assert_non_null(row);
	assert_float_equal(cJSON_GetObjectItemCaseSensitive(row, "confidence")->valuedouble, 0.95, 1e-9);
	cJSON_Delete(root);

	snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_expired\",\"data\":{\"symbol\":\"AMD\","
		 "\"pattern\":\"Hammer\",\"timestamp\":%.0f}}", now);
	it_publish(&env, "tickstock.events.patterns", ev);
	c.want = 0;
	assert_true(it_wait(member_equals, &c, WAIT_S));
	char key[200];
	snprintf(key, sizeof(key), "EXISTS tickstock:patterns:%s", id);
	assert_int_equal(it_redis(&env, NULL, 0, key), 0);
}

static void test_malformed_events_change_nothing(void **state)
{
	static const char *const bad[] = {
		"not json at all",
		"[1,2,3]",
		"{\"test\":\"health_check\",\"timestamp\":1}",
		"{\"event_type\":\"pattern_detected\",\"data\":{\"pattern\":\"Doji\",\"confidence\":0.5}}",
		"{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"AA PL\",\"pattern\":\"Doji\",\"confidence\":0.5}}",
		"{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"IBM\",\"pattern\":\"Doji\",\"confidence\":750}}",
		"{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"IBM\",\"pattern\":\"Doji\",\"confidence\":\"high\"}}",
		"{\"event_type\":\"pattern_exploded\",\"data\":{\"symbol\":\"IBM\"}}",
		"{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"IBM\",\"pattern\":\"Doji\",\"confidence\":0.5,\"timestamp\":\"yesterday\"}}",
	};
	double rejected0 = it_json_number(env.port, "/api/patterns/stats", "stats.events_rejected");
	double cached0 = it_json_number(env.port, "/api/patterns/stats", "stats.cached_patterns");
	struct it_http_resp r;
	char ev[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		it_publish(&env, "tickstock.events.patterns", bad[i]);
	/* An oversized message (> 64 KiB). */
	char *big = malloc(70000);
	memset(big, ' ', 69999);
	big[0] = '{';
	big[69998] = '}';
	big[69999] = '\0';
	it_publish(&env, "tickstock.events.patterns", big);
	free(big);
	/* A good event right after the bad ones is ingested. */
	snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"INTC\","
		 "\"pattern\":\"Gap_Fill\",\"confidence\":0.8,\"timestamp\":%lld}}", (long long)time(NULL));
	it_publish(&env, "tickstock.events.patterns", ev);

	wait_member("/api/patterns/stats", "stats.events_rejected", rejected0 + 10);
	wait_member("/api/patterns/stats", "stats.cached_patterns", cached0 + 1);
	assert_int_equal(it_http(env.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "reason=\"bad_json\"} 1"));
	assert_non_null(strstr(r.body, "reason=\"diagnostic\"} 1"));
	assert_non_null(strstr(r.body, "reason=\"too_large\"} 1"));
	assert_non_null(strstr(r.body, "reason=\"bad_symbol\"} 1"));
	assert_non_null(strstr(r.body, "reason=\"unknown_event_type\"} 1"));
	it_http_free(&r);
}

static void test_response_cache_coherence(void **state)
{
	char ev[512];
	cJSON *root;
	double now = (double)time(NULL);

	(void)state;
	root = scan("?symbols=ORCL&confidence_min=0", 200);
	cJSON_Delete(root);
	root = scan("?symbols=ORCL&confidence_min=0", 200);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(root, "cache_info"), "cached")));
	cJSON_Delete(root);
	/* A non-matching event keeps the cached answer. */
	snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"QCOM\","
		 "\"pattern\":\"Doji\",\"confidence\":0.8,\"timestamp\":%.0f}}", now);
	it_publish(&env, "tickstock.events.patterns", ev);
	struct count_ctx c = {"/api/patterns/scan?symbols=QCOM&confidence_min=0", "pagination.total", 1};
	assert_true(it_wait(member_equals, &c, WAIT_S));
	root = scan("?symbols=ORCL&confidence_min=0", 200);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(root, "cache_info"), "cached")));
	cJSON_Delete(root);
	/* A matching one invalidates it: the next answer is fresh and has it. */
	snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"ORCL\","
		 "\"pattern\":\"Doji\",\"confidence\":0.8,\"timestamp\":%.0f}}", now);
	it_publish(&env, "tickstock.events.patterns", ev);
	struct count_ctx c2 = {"/api/patterns/scan?symbols=ORCL&confidence_min=0", "pagination.total", 1};
	assert_true(it_wait(member_equals, &c2, WAIT_S));
}

struct key_ctx {
	char key[128];
};

static bool key_exists(void *ud)
{
	struct key_ctx *k = ud;

	return it_redis(&env, NULL, 0, "EXISTS %s", k->key) == 1;
}

/*
 * The write-through costs no poll change. Each event's commands (HSET,
 * EXPIRE, the index ZADDs) leave in one write early in the next loop turn;
 * before, hiredis's write interest went to the poll, and libuv 1.44 makes
 * every uv_poll_start an EPOLL_CTL_DEL and an ADD: four epoll_ctl per
 * event (redis_conn.c, "Writes"). Events are published one at a time, so
 * each is its own loop turn. Skipped where strace is missing or may not
 * attach.
 */
#define WT_EVENTS 100

static void test_write_through_costs_no_epoll_ctl(void **state)
{
	long long now = (long long)time(NULL);
	struct count_ctx c = {"/api/patterns/scan?symbols=EPCT&confidence_min=0",
			      "pagination.total", WT_EVENTS};
	struct key_ctx last;
	char ev[512];
	long calls;
	pid_t sp;

	(void)state;
	if ((sp = it_strace_start(&env, "epoll_ctl", "writethrough")) < 0)
		skip();
	for (int i = 0; i < WT_EVENTS; i++) {
		snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_detected\",\"data\":"
			 "{\"symbol\":\"EPCT\",\"pattern\":\"Doji\",\"confidence\":0.8,"
			 "\"timestamp\":%lld}}", now - i);
		assert_int_equal(it_publish(&env, "tickstock.events.patterns", ev), 1);
		usleep(2000);
	}
	if (!it_wait(member_equals, &c, WAIT_S))
		fail_msg("not all %d events were ingested", WT_EVENTS);
	/* One connection, commands in order: the last hash there means all. */
	snprintf(last.key, sizeof(last.key), "tickstock:patterns:EPCT:Doji:%lld",
		 now - (WT_EVENTS - 1));
	if (!it_wait(key_exists, &last, WAIT_S))
		fail_msg("%s never reached Redis", last.key);
	calls = it_strace_calls(&env, sp, "writethrough", "epoll_ctl");
	print_message("epoll_ctl during %d events: %ld\n", WT_EVENTS, calls);
	assert_true(calls >= 0);
	/* Before: ~400. What remains is the rest of the server (the clients
	 * of this test's HTTP checks), hence the margin. */
	if (calls >= WT_EVENTS)
		fail_msg("%ld epoll_ctl for %d events", calls, WT_EVENTS);
}

/* Event i of the write-through burst: a new pattern with ~3 KB of
 * indicators, which the hash in Redis stores whole. */
#define WTB_EVENTS 600
#define WTB_PAD 3000

static char *wtb_event(unsigned i, void *ud)
{
	const long long *ts0 = ud; /* first member of struct wtb_ctx */
	char *ev = malloc(WTB_PAD + 512), *p;
	int n = snprintf(ev, 512, "{\"event_type\":\"pattern_detected\",\"data\":{"
			 "\"symbol\":\"WTB\",\"pattern\":\"Doji\",\"confidence\":0.8,"
			 "\"timestamp\":%lld,\"indicators\":{\"pad\":\"", *ts0 - (long long)i);

	p = ev + n;
	memset(p, 'a' + (char)(i % 26), WTB_PAD);
	strcpy(p + WTB_PAD, "\"}}}");
	return ev;
}

struct wtb_ctx {
	long long ts0;
	const char *prefix; /* of the cache keys: the channel prefix */
	unsigned present;   /* keys found so far, in order */
};

static bool wtb_all_in_redis(void *ud)
{
	struct wtb_ctx *c = ud;
	char key[128];

	for (; c->present < WTB_EVENTS; c->present++) {
		snprintf(key, sizeof(key), "%s:patterns:WTB:Doji:%lld", c->prefix,
			 c->ts0 - (long long)c->present);
		if (it_redis(&env, NULL, 0, "EXISTS %s", key) != 1)
			return false;
	}
	return true;
}

/*
 * A burst loses no write-through. 600 events published in one pipeline
 * arrive over many loop turns, and each turn's commands leave in one
 * write from the idle flush (redis_conn.c) while the next events come in:
 * about 2 MB in all. Every pattern must reach Redis whole, its
 * indicators included.
 */
static void test_write_through_burst_arrives_whole(void **state)
{
	struct wtb_ctx c = {(long long)time(NULL), "tickstock", 0};
	struct count_ctx total = {"/api/patterns/scan?symbols=WTB&confidence_min=0",
				  "pagination.total", WTB_EVENTS};
	char key[128], *data = malloc(WTB_PAD + 4096);

	(void)state;
	assert_int_equal(it_publish_burst(&env, "tickstock.events.patterns", WTB_EVENTS,
					  wtb_event, &c.ts0), 0);
	if (!it_wait(member_equals, &total, WAIT_S))
		fail_msg("not all %d events were ingested", WTB_EVENTS);
	if (!it_wait(wtb_all_in_redis, &c, WAIT_S))
		fail_msg("pattern %u of %d never reached Redis", c.present, WTB_EVENTS);
	/* The last one whole: its padding is in the stored data. */
	snprintf(key, sizeof(key), "tickstock:patterns:WTB:Doji:%lld",
		 c.ts0 - (WTB_EVENTS - 1));
	assert_true(it_redis(&env, data, WTB_PAD + 4096, "HGET %s data", key) > WTB_PAD);
	assert_non_null(strstr(data, "\"pad\""));
	free(data);
}

/*
 * A write-through that the kernel takes only in part waits and then goes
 * out whole. A second server reaches Redis through a proxy that stops
 * reading what the server sends (redis_conn.c: after a partial write the
 * poll watches for POLLOUT, then the idle flush takes over again). Events
 * still flow in; their 2 MB of commands cannot all fit in the sockets, so
 * hiredis's writes end part-way. When the proxy reads on, every pattern
 * reaches Redis. Its own channel prefix keeps this test's events and
 * keys apart from the other server's.
 */
static void test_write_through_waits_for_a_full_socket(void **state)
{
	const char *extra[] = {"TICKPUSH_CHANNEL_PREFIX=px",
			       "TICKPUSH_REDIS_PING_TIMEOUT=120", NULL};
	struct wtb_ctx c = {(long long)time(NULL), "px", 0};
	struct count_ctx total = {"/api/patterns/scan?symbols=WTB&confidence_min=0",
				  "pagination.total", WTB_EVENTS};
	char path[300], key[128];

	(void)state;
	it_setup(&px, "ingest-proxy");
	snprintf(path, sizeof(path), "%s/proxy.sock", px.dir);
	proxy_pid = it_proxy_start(path, env.redis_sock);
	snprintf(px.redis_sock, sizeof(px.redis_sock), "%s", path);
	px_running = true;
	it_server_start(&px, extra, true);
	kill(proxy_pid, SIGUSR1);
	usleep(100000); /* the proxy has read the signal */
	assert_int_equal(it_publish_burst(&env, "px.events.patterns", WTB_EVENTS,
					  wtb_event, &c.ts0), 0);
	if (!it_wait(px_member_equals, &total, WAIT_S))
		fail_msg("not all %d events reached the proxied server", WTB_EVENTS);
	/* Held back: the last pattern is not in Redis yet. */
	snprintf(key, sizeof(key), "px:patterns:WTB:Doji:%lld", c.ts0 - (WTB_EVENTS - 1));
	assert_int_equal(it_redis(&env, NULL, 0, "EXISTS %s", key), 0);
	kill(proxy_pid, SIGUSR2);
	if (!it_wait(wtb_all_in_redis, &c, WAIT_S))
		fail_msg("pattern %u of %d never reached Redis", c.present, WTB_EVENTS);
	px_running = false;
	assert_int_equal(it_finish(&px), 0);
	it_proxy_stop(proxy_pid);
	proxy_pid = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_shape_is_ingested),
		cmocka_unit_test(test_update_and_expire),
		cmocka_unit_test(test_malformed_events_change_nothing),
		cmocka_unit_test(test_response_cache_coherence),
		cmocka_unit_test(test_write_through_costs_no_epoll_ctl),
		cmocka_unit_test(test_write_through_burst_arrives_whole),
		cmocka_unit_test(test_write_through_waits_for_a_full_socket),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
