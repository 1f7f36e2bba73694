/*
 * test_push.c - live push end to end: real Redis, real PostgreSQL, real
 * tickpush, WebSocket clients in C, SSE and long-poll over raw HTTP.
 *
 * Expected deliveries are computed independently: every published event
 * is parsed with the same normaliser (tp_event_parse) and checked against
 * each client's filter with tp_filter_match (brute force), then compared
 * with what the client actually received.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "it_pg.h"
#include "test_support.h"
#include "tickpush/buf.h"
#include "tickpush/event.h"
#include "tickpush/filter.h"
#include "tickpush/jwt.h"
#include "ws_client.h"

#define SECRET "push-test-secret-0123456789abcdefghij"
/* A deadline for what only waits for a condition: generous, so a slow,
 * loaded (ASan, CI) machine is not mistaken for a broken server. */
#define WAIT_S 20

static struct it_env env;
static char uri_env[600], demo_token[1024], analyst_token[1024];
static unsigned long long event_counter;

static void login(const char *user, char *token, size_t n)
{
	char body[128];
	struct it_http_resp r;
	cJSON *j;

	snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", user, user);
	assert_int_equal(it_http(env.port, "POST", "/api/auth/login", NULL, body, strlen(body), &r), 0);
	assert_int_equal(r.status, 200);
	j = cJSON_Parse(r.body);
	snprintf(token, n, "%s", cJSON_GetObjectItemCaseSensitive(j, "token")->valuestring);
	cJSON_Delete(j);
	it_http_free(&r);
}

static void start_server(void)
{
	const char *extra[] = {uri_env, "TICKPUSH_JWT_SECRET=" SECRET,
			       "TICKPUSH_LOGIN_BURST=1000",
			       "TICKPUSH_WS_QUEUE_MAX_BYTES=262144",
			       "TICKPUSH_ALLOWED_ORIGINS=http://dashboard.example",
			       "TICKPUSH_HEARTBEAT_INTERVAL=1",
			       NULL};

	it_server_start(&env, extra, true);
	assert_true(it_wait(it_symbols_loaded, &env, 20));
}

static int setup(void **state)
{
	char uri[512];

	(void)state;
	it_setup(&env, "push");
	it_redis_start(&env);
	it_pg_start_sample(&env);
	snprintf(uri_env, sizeof(uri_env), "DATABASE_URI=%s",
		 it_pg_tickpush_uri(&env, uri, sizeof(uri)));
	start_server();
	login("demo", demo_token, sizeof(demo_token));
	login("analyst", analyst_token, sizeof(analyst_token));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return it_finish_pg(&env);
}

/* ---- helpers ---- */

/* Publishes a pattern event; the id it will have goes to id_out. The
 * detected_at is unique per call so every event is a new record. */
static void publish(const char *sym, const char *type, double conf,
		    double rs, char *json_out, size_t json_n, char *id_out)
{
	char ev[512];
	double ts = (double)time(NULL) - 100000 + (double)(++event_counter);

	snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"%s\","
		 "\"pattern\":\"%s\",\"confidence\":%.2f,\"timestamp\":%.0f,\"expires_at\":%.0f,"
		 "\"indicators\":{\"relative_strength\":%.2f}}}",
		 sym, type, conf, ts, (double)time(NULL) + 3600, rs);
	assert_true(it_publish(&env, "tickstock.events.patterns", ev) >= 1);
	if (id_out)
		snprintf(id_out, TP_PATTERN_ID_MAX + 1, "%s:%s:%.0f", sym, type, ts);
	if (json_out)
		snprintf(json_out, json_n, "%s", ev);
}

static struct it_ws *ws_open(const char *token)
{
	struct it_ws *ws = calloc(1, sizeof(*ws));
	char path[1200];
	cJSON *hello;

	snprintf(path, sizeof(path), token ? "/ws?token=%s" : "/ws", token);
	if (it_ws_connect(ws, env.port, path, NULL, 0))
		fail_msg("ws connect: %d %s", ws->http_status, ws->http_body);
	hello = it_ws_wait_type(ws, "hello", WAIT_S);
	assert_non_null(hello);
	assert_int_equal(it_json_num(hello, "protocol"), 1);
	cJSON_Delete(hello);
	return ws;
}

static void ws_free(struct it_ws *ws)
{
	it_ws_close(ws);
	free(ws);
}

static void subscribe(struct it_ws *ws, const char *frame)
{
	cJSON *j;

	assert_int_equal(it_ws_send_text(ws, frame), 0);
	j = it_ws_recv_json(ws, WAIT_S);
	if (!j || strcmp(it_json_str(j, "type"), "subscribed"))
		fail_msg("subscribe %s: got %s", frame, j ? cJSON_PrintUnformatted(j) : "nothing");
	cJSON_Delete(j);
}

/* Collects pattern frames' ids until at least `want` came (or WAIT_S
 * passed) and then `quiet` seconds pass with nothing: a pause of the
 * server before the expected ones is not the end, one after them is. */
static size_t collect_ids(struct it_ws *ws, char ids[][TP_PATTERN_ID_MAX + 1], size_t max,
			  size_t want, double quiet)
{
	double limit = it_now() + WAIT_S;
	size_t n = 0;
	cJSON *j;

	while ((j = it_ws_recv_json(ws, n < want ? limit - it_now() : quiet))) {
		if (!strcmp(it_json_str(j, "type"), "pattern") && n < max)
			snprintf(ids[n++], TP_PATTERN_ID_MAX + 1, "%s",
				 it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "id"));
		cJSON_Delete(j);
		if (n < want && it_now() >= limit)
			break;
	}
	return n;
}

struct scan_total {
	const char *sym;
	double total;
};

static bool scan_total_is(void *ud)
{
	const struct scan_total *w = ud;
	char path[128];

	snprintf(path, sizeof(path), "/api/patterns/scan?symbols=%s&confidence_min=0", w->sym);
	return it_json_number(env.port, path, "pagination.total") == w->total;
}

/* Waits until the scan of sym counts total patterns (the events published
 * before are ingested). */
static void wait_scan_total(const char *sym, double total)
{
	struct scan_total w = {sym, total};

	if (!it_wait(scan_total_is, &w, WAIT_S))
		fail_msg("the scan of %s never counted %g", sym, total);
}

/* ---- tests ---- */

static void test_hello_and_ping(void **state)
{
	struct it_ws *ws = ws_open(NULL);
	cJSON *j;

	(void)state;
	it_ws_send_text(ws, "{\"op\":\"ping\",\"t\":{\"n\":42}}");
	j = it_ws_wait_type(ws, "pong", WAIT_S);
	assert_non_null(j);
	assert_int_equal(it_json_num(cJSON_GetObjectItemCaseSensitive(j, "t"), "n"), 42);
	cJSON_Delete(j);
	ws_free(ws);
}

static void test_inline_filter_delivery(void **state)
{
	struct it_ws *ws = ws_open(NULL);
	char id[TP_PATTERN_ID_MAX + 1];
	cJSON *j;

	(void)state;
	subscribe(ws, "{\"op\":\"subscribe\",\"id\":\"s1\",\"channel\":\"patterns\","
		      "\"filter\":{\"symbols\":[\"aapl\"],\"confidence_min\":0.6}}");
	publish("MSFT", "Doji", 0.9, 1, NULL, 0, NULL);
	publish("AAPL", "Doji", 0.5, 1, NULL, 0, NULL);  /* below confidence_min */
	publish("AAPL", "Hammer", 0.8, 1, NULL, 0, id);
	j = it_ws_wait_type(ws, "pattern", WAIT_S);
	assert_non_null(j);
	assert_string_equal(it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "id"), id);
	assert_string_equal(it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "pattern"), "Hammer");
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "subs"), 0)->valuestring, "s1");
	assert_true(it_json_num(j, "seq") > 0);
	cJSON_Delete(j);
	/* Nothing else arrives. */
	assert_null(it_ws_recv_json(ws, 0.5));
	ws_free(ws);
}

#define CLIENTS 16
#define EVENTS 120

static void test_many_clients_match_brute_force(void **state)
{
	static const char *const syms[] = {"AAPL", "MSFT", "NVDA", "JPM", "XOM", "AMD", "IBM", "KO"};
	static const char *const types[] = {"Doji", "Hammer", "Bull_Flag", "Weekly_Breakout", "Gap_Fill"};
	struct it_ws *ws[CLIENTS];
	struct tp_filter filters[CLIENTS];
	static char events[EVENTS][512], ids[EVENTS][TP_PATTERN_ID_MAX + 1];
	static char got[512][TP_PATTERN_ID_MAX + 1];
	unsigned seed = 1234;

	(void)state;
	for (int c = 0; c < CLIENTS; c++) {
		char frame[512], syml[64] = "", typel[64] = "";
		double cmin = (rand_r(&seed) % 80) / 100.0;

		/* Mix of symbol filters, type filters and unconstrained ones. */
		if (c % 3 == 0)
			snprintf(syml, sizeof(syml), "%s,%s", syms[rand_r(&seed) % 8], syms[rand_r(&seed) % 8]);
		if (c % 3 == 1)
			snprintf(typel, sizeof(typel), "%s", types[rand_r(&seed) % 5]);
		tp_filter_init(&filters[c]);
		filters[c].confidence_min = cmin;
		if (syml[0])
			assert_int_equal(tp_filter_set_param(&filters[c], "symbols", syml, NULL), 0);
		if (typel[0])
			assert_int_equal(tp_filter_set_param(&filters[c], "pattern_types", typel, NULL), 0);
		snprintf(frame, sizeof(frame), "{\"op\":\"subscribe\",\"id\":\"c%d\",\"channel\":\"patterns\","
			 "\"filter\":{\"confidence_min\":%.2f%s%s%s%s%s%s}}", c, cmin,
			 syml[0] ? ",\"symbols\":\"" : "", syml, syml[0] ? "\"" : "",
			 typel[0] ? ",\"pattern_types\":\"" : "", typel, typel[0] ? "\"" : "");
		ws[c] = ws_open(NULL);
		subscribe(ws[c], frame);
	}
	for (int e = 0; e < EVENTS; e++)
		publish(syms[rand_r(&seed) % 8], types[rand_r(&seed) % 5],
			(rand_r(&seed) % 100) / 100.0, 1, events[e], sizeof(events[e]), ids[e]);
	for (int c = 0; c < CLIENTS; c++) {
		static bool match[EVENTS];
		size_t n, want = 0, k = 0;
		struct tp_event_opts eo = {(double)time(NULL), 3600};

		for (int e = 0; e < EVENTS; e++) {
			struct tp_event ev;

			assert_int_equal(tp_event_parse(TP_CH_PATTERNS, events[e], strlen(events[e]),
							&eo, &ev, NULL), TP_REJECT_NONE);
			match[e] = tp_filter_match(&filters[c], &ev.pattern);
			want += match[e];
			tp_event_cleanup(&ev);
		}
		n = collect_ids(ws[c], got, 512, want, 1.0);
		for (int e = 0; e < EVENTS; e++) {
			if (!match[e])
				continue;
			/* Same order as published. */
			if (k >= n || strcmp(got[k], ids[e]))
				fail_msg("client %d: expected %s at %zu, got %s", c, ids[e], k,
					 k < n ? got[k] : "(nothing)");
			k++;
		}
		if (n != want)
			fail_msg("client %d: received %zu events, expected %zu", c, n, want);
		tp_filter_cleanup(&filters[c]);
		ws_free(ws[c]);
	}
}

static void test_one_frame_lists_every_matching_sub(void **state)
{
	struct it_ws *ws = ws_open(NULL);
	cJSON *j, *subs;

	(void)state;
	subscribe(ws, "{\"op\":\"subscribe\",\"id\":\"a\",\"channel\":\"patterns\",\"filter\":{\"symbols\":[\"KO\"],\"confidence_min\":0}}");
	subscribe(ws, "{\"op\":\"subscribe\",\"id\":\"b\",\"channel\":\"patterns\",\"filter\":{\"pattern_types\":[\"Doji\"],\"confidence_min\":0}}");
	subscribe(ws, "{\"op\":\"subscribe\",\"id\":\"c\",\"channel\":\"patterns\",\"filter\":{\"symbols\":[\"PEP\"],\"confidence_min\":0}}");
	publish("KO", "Doji", 0.7, 1, NULL, 0, NULL);
	j = it_ws_wait_type(ws, "pattern", WAIT_S);
	assert_non_null(j);
	subs = cJSON_GetObjectItemCaseSensitive(j, "subs");
	assert_int_equal(cJSON_GetArraySize(subs), 2);
	cJSON_Delete(j);
	assert_null(it_ws_recv_json(ws, 0.5)); /* one frame, not two */
	it_ws_send_text(ws, "{\"op\":\"unsubscribe\",\"id\":\"a\"}");
	publish("KO", "Doji", 0.7, 1, NULL, 0, NULL);
	j = it_ws_wait_type(ws, "pattern", WAIT_S);
	subs = cJSON_GetObjectItemCaseSensitive(j, "subs");
	assert_int_equal(cJSON_GetArraySize(subs), 1);
	assert_string_equal(cJSON_GetArrayItem(subs, 0)->valuestring, "b");
	cJSON_Delete(j);
	ws_free(ws);
}

static double create_preset(const char *token, const char *body)
{
	char hdr[1200];
	struct it_http_resp r;
	double id;
	cJSON *j;

	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", token);
	assert_int_equal(it_http(env.port, "POST", "/api/users/filter-presets", hdr, body,
				 strlen(body), &r), 0);
	if (r.status != 201)
		fail_msg("preset: %d %s", r.status, r.body);
	j = cJSON_Parse(r.body);
	id = it_json_num(j, "id");
	cJSON_Delete(j);
	it_http_free(&r);
	return id;
}

static int http_with_token(const char *method, const char *path, const char *token,
			   const char *body)
{
	char hdr[1200];
	struct it_http_resp r;
	int st;

	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", token);
	assert_int_equal(it_http(env.port, method, path, hdr, body, body ? strlen(body) : 0, &r), 0);
	st = r.status;
	it_http_free(&r);
	return st;
}

/* After a preset edit the live subscription re-resolves it (a query that
 * ends after the REST answer; a fixed pause may be too short): publishes
 * events of sym, which the old filter drops, until one arrives, then reads
 * on to the last one published (events are pushed in order). */
static void wait_follows(struct it_ws *ws, const char *sym)
{
	char id[TP_PATTERN_ID_MAX + 1];
	double limit = it_now() + WAIT_S;
	cJSON *j;

	do {
		publish(sym, "Doji", 0.7, 1, NULL, 0, id);
		j = it_ws_wait_type(ws, "pattern", 0.5);
	} while (!j && it_now() < limit);
	while (j) {
		cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
		bool last = !strcmp(it_json_str(data, "id"), id);

		assert_string_equal(it_json_str(data, "symbol"), sym);
		cJSON_Delete(j);
		if (last)
			return;
		j = it_ws_wait_type(ws, "pattern", WAIT_S);
	}
	fail_msg("the subscription never followed the preset to %s", sym);
}

static void test_preset_follows_edits(void **state)
{
	double pid = create_preset(demo_token, "{\"name\":\"push follow\",\"filters\":{"
				   "\"symbols\":[\"CAT\"],\"confidence_min\":0}}");
	struct it_ws *ws = ws_open(demo_token);
	char frame[256], path[128], id[TP_PATTERN_ID_MAX + 1];
	cJSON *j;

	(void)state;
	snprintf(frame, sizeof(frame), "{\"op\":\"subscribe\",\"id\":\"p\",\"channel\":\"patterns\","
		 "\"preset_id\":%.0f}", pid);
	subscribe(ws, frame);
	publish("CAT", "Doji", 0.7, 1, NULL, 0, id);
	j = it_ws_wait_type(ws, "pattern", WAIT_S);
	assert_non_null(j);
	cJSON_Delete(j);
	/* Edit the preset over REST: the live subscription follows at once. */
	snprintf(path, sizeof(path), "/api/users/filter-presets/%.0f", pid);
	assert_int_equal(http_with_token("PUT", path, demo_token,
					 "{\"filters\":{\"symbols\":[\"DE\"],\"confidence_min\":0}}"), 200);
	wait_follows(ws, "DE");
	publish("CAT", "Doji", 0.7, 1, NULL, 0, NULL);
	publish("DE", "Doji", 0.7, 1, NULL, 0, id);
	j = it_ws_wait_type(ws, "pattern", WAIT_S);
	assert_non_null(j);
	assert_string_equal(it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "id"), id);
	cJSON_Delete(j);
	/* Deleting it ends the subscription with an error frame. */
	assert_int_equal(http_with_token("DELETE", path, demo_token, NULL), 200);
	j = it_ws_wait_type(ws, "error", WAIT_S);
	assert_non_null(j);
	assert_string_equal(it_json_str(j, "code"), "not_found");
	assert_string_equal(it_json_str(j, "id"), "p");
	cJSON_Delete(j);
	publish("DE", "Doji", 0.7, 1, NULL, 0, NULL);
	assert_null(it_ws_wait_type(ws, "pattern", 0.5));
	/* Another user's preset: not found. */
	pid = create_preset(analyst_token, "{\"name\":\"analyst only\",\"filters\":{}}");
	snprintf(frame, sizeof(frame), "{\"op\":\"subscribe\",\"id\":\"q\",\"channel\":\"patterns\","
		 "\"preset_id\":%.0f}", pid);
	it_ws_send_text(ws, frame);
	j = it_ws_wait_type(ws, "error", WAIT_S);
	assert_string_equal(it_json_str(j, "code"), "not_found");
	cJSON_Delete(j);
	ws_free(ws);
}

static void test_resume_since_loses_nothing(void **state)
{
	struct it_ws *ws = ws_open(NULL);
	char epoch[64], frame[512], want[6][TP_PATTERN_ID_MAX + 1];
	static char got[32][TP_PATTERN_ID_MAX + 1];
	double seq;
	cJSON *j;
	int w = 0;
	size_t n;

	(void)state;
	subscribe(ws, "{\"op\":\"subscribe\",\"id\":\"r\",\"channel\":\"patterns\",\"filter\":{\"symbols\":[\"HD\"],\"confidence_min\":0}}");
	publish("HD", "Doji", 0.7, 1, NULL, 0, NULL);
	j = it_ws_wait_type(ws, "pattern", WAIT_S);
	seq = it_json_num(j, "seq");
	cJSON_Delete(j);
	j = it_get_json(env.port, "/api/patterns/scan?per_page=1", 200);
	snprintf(epoch, sizeof(epoch), "%s", it_json_str(cJSON_GetObjectItemCaseSensitive(j, "stream"), "epoch"));
	cJSON_Delete(j);
	ws_free(ws);
	/* Published while disconnected: 3 matching, 3 not. */
	for (int i = 0; i < 6; i++)
		publish(i % 2 ? "HD" : "LOW", "Hammer", 0.7, 1, NULL, 0, i % 2 ? want[w++] : NULL);
	usleep(300 * 1000);
	ws = ws_open(NULL);
	snprintf(frame, sizeof(frame), "{\"op\":\"subscribe\",\"id\":\"r\",\"channel\":\"patterns\","
		 "\"filter\":{\"symbols\":[\"HD\"],\"confidence_min\":0},\"since\":{\"epoch\":\"%s\",\"seq\":%.0f}}",
		 epoch, seq);
	it_ws_send_text(ws, frame);
	j = it_ws_recv_json(ws, WAIT_S);
	assert_string_equal(it_json_str(j, "type"), "subscribed");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "recovered")));
	cJSON_Delete(j);
	publish("HD", "Gap_Fill", 0.7, 1, NULL, 0, want[w++]); /* live after replay */
	n = collect_ids(ws, got, 32, (size_t)w, 1.0);
	assert_int_equal(n, (size_t)w);
	for (int i = 0; i < w; i++)
		assert_string_equal(got[i], want[i]);
	/* A position from another epoch: gap. */
	it_ws_send_text(ws, "{\"op\":\"subscribe\",\"id\":\"g\",\"channel\":\"patterns\","
			    "\"since\":{\"epoch\":\"not-this-one\",\"seq\":1}}");
	j = it_ws_recv_json(ws, WAIT_S);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "recovered")));
	cJSON_Delete(j);
	j = it_ws_wait_type(ws, "gap", WAIT_S);
	assert_non_null(j);
	assert_string_equal(it_json_str(j, "id"), "g");
	cJSON_Delete(j);
	ws_free(ws);
}

static void test_scan_position_joins_the_stream(void **state)
{
	char frame[512], after[3][TP_PATTERN_ID_MAX + 1];
	static char got[16][TP_PATTERN_ID_MAX + 1];
	struct it_ws *ws;
	cJSON *j, *stream;
	size_t n;

	(void)state;
	publish("NKE", "Doji", 0.7, 1, NULL, 0, NULL); /* part of the initial load */
	/* Once ingested (a fixed pause may be too short on a loaded box). */
	wait_scan_total("NKE", 1);
	j = it_get_json(env.port, "/api/patterns/scan?symbols=NKE&confidence_min=0", 200);
	stream = cJSON_GetObjectItemCaseSensitive(j, "stream");
	assert_int_equal(it_json_num(cJSON_GetObjectItemCaseSensitive(j, "pagination"), "total"), 1);
	for (int i = 0; i < 3; i++)
		publish("NKE", "Hammer", 0.7, 1, NULL, 0, after[i]);
	usleep(300 * 1000);
	ws = ws_open(NULL);
	snprintf(frame, sizeof(frame), "{\"op\":\"subscribe\",\"id\":\"n\",\"channel\":\"patterns\","
		 "\"filter\":{\"symbols\":[\"NKE\"],\"confidence_min\":0},"
		 "\"since\":{\"epoch\":\"%s\",\"seq\":%.0f}}", it_json_str(stream, "epoch"), it_json_num(stream, "seq"));
	cJSON_Delete(j);
	subscribe(ws, frame);
	n = collect_ids(ws, got, 16, 3, 1.0);
	/* Exactly what came after the initial load: no gap, no duplicate. */
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++)
		assert_string_equal(got[i], after[i]);
	ws_free(ws);
}

static void test_snapshot(void **state)
{
	struct it_ws *ws = ws_open(NULL);
	cJSON *j, *rows;
	double prev = 2;

	(void)state;
	publish("MMM", "Doji", 0.61, 1, NULL, 0, NULL);
	publish("MMM", "Hammer", 0.93, 1, NULL, 0, NULL);
	publish("MMM", "Gap_Fill", 0.75, 1, NULL, 0, NULL);
	wait_scan_total("MMM", 3); /* all three in the store the snapshot reads */
	it_ws_send_text(ws, "{\"op\":\"subscribe\",\"id\":\"m\",\"channel\":\"patterns\","
			    "\"filter\":{\"symbols\":[\"MMM\"],\"confidence_min\":0},\"snapshot\":true,\"limit\":2}");
	j = it_ws_wait_type(ws, "snapshot", WAIT_S);
	assert_non_null(j);
	rows = cJSON_GetObjectItemCaseSensitive(j, "patterns");
	assert_int_equal(cJSON_GetArraySize(rows), 2);
	cJSON *row;
	cJSON_ArrayForEach(row, rows) {
		assert_true(it_json_num(row, "confidence") <= prev);
		prev = it_json_num(row, "confidence");
		assert_string_equal(it_json_str(row, "symbol"), "MMM");
	}
	assert_true(it_json_num(cJSON_GetArrayItem(rows, 0), "confidence") > 0.9);
	cJSON_Delete(j);
	ws_free(ws);
}

static void expect_error_code(struct it_ws *ws, const char *frame, const char *code)
{
	cJSON *j;

	it_ws_send_text(ws, frame);
	j = it_ws_wait_type(ws, "error", WAIT_S);
	if (!j || strcmp(it_json_str(j, "code"), code))
		fail_msg("%s: want error %s", frame, code);
	assert_true(strlen(it_json_str(j, "message")) > 0);
	cJSON_Delete(j);
}

static void test_bad_frames(void **state)
{
	struct it_ws *ws = ws_open(NULL);
	char *big;
	cJSON *j;

	(void)state;
	expect_error_code(ws, "this is not json", "bad_request");
	expect_error_code(ws, "{\"op\":\"dance\"}", "bad_request");
	expect_error_code(ws, "{\"op\":\"subscribe\",\"id\":\"x\",\"channel\":\"gossip\"}", "bad_request");
	expect_error_code(ws, "{\"op\":\"subscribe\",\"id\":\"x\",\"channel\":\"patterns\","
			      "\"filter\":{\"rsi_range\":[5,500]}}", "bad_request");
	expect_error_code(ws, "{\"op\":\"subscribe\",\"id\":\"x\",\"channel\":\"backtests\"}", "unauthorized");
	expect_error_code(ws, "{\"op\":\"unsubscribe\",\"id\":\"nope\"}", "not_found");
	/* The session is still fine. */
	it_ws_send_text(ws, "{\"op\":\"ping\"}");
	j = it_ws_wait_type(ws, "pong", WAIT_S);
	assert_non_null(j);
	cJSON_Delete(j);
	/* Binary: 1003. */
	it_ws_send(ws, 2, "\x01\x02", 2, true);
	assert_int_equal(it_ws_wait_close(ws, WAIT_S), 1003);
	ws_free(ws);
	/* Over 64 KiB, even in fragments: 1009. */
	ws = ws_open(NULL);
	big = malloc(70000);
	memset(big, 'x', 70000);
	it_ws_send(ws, 1, big, 40000, false);
	it_ws_send(ws, 0, big, 30000, true);
	assert_int_equal(it_ws_wait_close(ws, WAIT_S), 1009);
	free(big);
	ws_free(ws);
}

static void test_handshake_rejections(void **state)
{
	struct it_ws ws;
	const unsigned char *key = (const unsigned char *)SECRET;
	struct tp_buf tok;
	char path[1200];
	double now = (double)time(NULL);

	(void)state;
	assert_int_equal(it_ws_connect(&ws, env.port, "/ws?token=garbage", NULL, 0), -1);
	assert_int_equal(ws.http_status, 401);
	assert_non_null(strstr(ws.http_body, "\"error\""));
	tp_buf_init(&tok, 0);
	tp_jwt_sign(key, strlen(SECRET), 1, now - 7200, now - 3600, &tok);
	snprintf(path, sizeof(path), "/ws?token=%s", tp_buf_cstr(&tok));
	tp_buf_cleanup(&tok);
	assert_int_equal(it_ws_connect(&ws, env.port, path, NULL, 0), -1);
	assert_int_equal(ws.http_status, 401);
	assert_non_null(strstr(ws.http_body, "expired"));
	assert_int_equal(it_ws_connect(&ws, env.port, "/ws", "Origin: http://evil.example\r\n", 0), -1);
	assert_int_equal(ws.http_status, 403);
	assert_int_equal(it_ws_connect(&ws, env.port, "/ws", "Origin: http://dashboard.example\r\n", 0), 0);
	it_ws_close(&ws);
	assert_int_equal(it_ws_connect(&ws, env.port, "/elsewhere", NULL, 0), -1);
	assert_int_equal(ws.http_status, 404);
}

static void test_subscription_limit(void **state)
{
	struct it_ws *ws = ws_open(NULL);
	char frame[160];

	(void)state;
	for (int i = 0; i < 32; i++) {
		snprintf(frame, sizeof(frame), "{\"op\":\"subscribe\",\"id\":\"s%d\",\"channel\":\"patterns\"}", i);
		subscribe(ws, frame);
	}
	expect_error_code(ws, "{\"op\":\"subscribe\",\"id\":\"s32\",\"channel\":\"patterns\"}", "limit");
	/* A duplicate id is a bad request, whatever the count. */
	expect_error_code(ws, "{\"op\":\"subscribe\",\"id\":\"s1\",\"channel\":\"patterns\"}", "bad_request");
	ws_free(ws);
}

static void test_rate_limit(void **state)
{
	struct it_ws *ws = ws_open(NULL);
	int limited = 0, code;
	cJSON *j;

	(void)state;
	/* 100 burst + 50/s: 150 pings at once exceed it; a client that keeps
	 * going after being told is cut with 4029. */
	for (int i = 0; i < 150; i++)
		it_ws_send_text(ws, "{\"op\":\"ping\"}");
	while ((j = it_ws_recv_json(ws, 0.5))) {
		if (!strcmp(it_json_str(j, "type"), "error") && !strcmp(it_json_str(j, "code"), "rate_limited"))
			limited++;
		cJSON_Delete(j);
	}
	assert_true(limited > 0);
	for (int i = 0; i < 400; i++)
		if (it_ws_send_text(ws, "{\"op\":\"ping\"}"))
			break;
	code = it_ws_wait_close(ws, WAIT_S);
	assert_int_equal(code, 4029);
	ws_free(ws);
}

/* ADBE events with ~2.5 KB of padding, each a new pattern. */
static char *padded_event(unsigned i, void *ud)
{
	double ts0 = *(const double *)ud;
	char *ev = malloc(3072);

	snprintf(ev, 3072, "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"ADBE\","
		 "\"pattern\":\"Weekly_Breakout\",\"confidence\":0.8,\"timestamp\":%.0f,"
		 "\"expires_at\":%.0f,\"indicators\":{\"relative_strength\":1,\"pad\":\"%02500d\"}}}",
		 ts0 + i, (double)time(NULL) + 3600, 0);
	return ev;
}

static void test_slow_consumer_is_closed_others_unaffected(void **state)
{
	struct it_ws slow, *fast = ws_open(NULL);
	char id[TP_PATTERN_ID_MAX + 1];
	double ts0 = (double)time(NULL) - 50000;
	cJSON *j;
	int code;

	(void)state;
	assert_int_equal(it_ws_connect(&slow, env.port, "/ws", NULL, 4096), 0);
	it_ws_send_text(&slow, "{\"op\":\"subscribe\",\"id\":\"all\",\"channel\":\"patterns\","
			       "\"filter\":{\"confidence_min\":0}}");
	subscribe(fast, "{\"op\":\"subscribe\",\"id\":\"f\",\"channel\":\"patterns\","
			"\"filter\":{\"symbols\":[\"ZTS\"],\"confidence_min\":0}}");
	/* The slow client reads nothing while ~7.5 MB of frames are pushed:
	 * more than the 256 KiB queue bound and the (up to 4 MiB) kernel
	 * buffers of its socket. */
	assert_int_equal(it_publish_burst(&env, "tickstock.events.patterns", 3000,
					  padded_event, &ts0), 0);
	publish("ZTS", "Doji", 0.8, 1, NULL, 0, id);
	j = it_ws_wait_type(fast, "pattern", 10);
	assert_non_null(j);
	assert_string_equal(it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "id"), id);
	cJSON_Delete(j);
	/* Now the slow one reads: what was queued, then close 4008. */
	code = it_ws_wait_close(&slow, 30);
	assert_int_equal(code, 4008);
	it_ws_close(&slow);
	ws_free(fast);
}

static void test_health_channel(void **state)
{
	struct it_ws *ws = ws_open(NULL);
	cJSON *j;

	(void)state;
	subscribe(ws, "{\"op\":\"subscribe\",\"id\":\"h\",\"channel\":\"health\"}");
	it_publish(&env, "tickstock.health.status", "{\"test\":\"health_check\",\"timestamp\":1}");
	it_publish(&env, "tickstock.health.status", "{\"event_type\":\"system_health\",\"status\":\"healthy\","
		   "\"metrics\":{\"cpu_usage\":0.25}}");
	j = it_ws_wait_type(ws, "system_health", WAIT_S);
	assert_non_null(j);
	assert_string_equal(it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "status"), "healthy");
	cJSON_Delete(j);
	assert_null(it_ws_recv_json(ws, 0.5)); /* the diagnostic was not forwarded */
	ws_free(ws);
}

static void test_producer_online_offline_on_health(void **state)
{
	struct it_ws *ws = ws_open(NULL);
	char now_s[32];
	cJSON *j;

	(void)state;
	subscribe(ws, "{\"op\":\"subscribe\",\"id\":\"h\",\"channel\":\"health\"}");
	snprintf(now_s, sizeof(now_s), "%lld", (long long)time(NULL));
	it_redis(&env, NULL, 0, "SET tickstock:producer:heartbeat %s", now_s);
	j = it_ws_wait_type(ws, "system_health", WAIT_S);
	assert_non_null(j);
	assert_string_equal(it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "status"), "producer_online");
	cJSON_Delete(j);
	j = it_get_json(env.port, "/api/pattern-discovery/health", 200);
	assert_string_equal(it_json_str(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "components"), "producer"), "status"), "online");
	cJSON_Delete(j);
	/* A heartbeat older than 60 s: offline. */
	snprintf(now_s, sizeof(now_s), "%lld", (long long)time(NULL) - 120);
	it_redis(&env, NULL, 0, "SET tickstock:producer:heartbeat %s", now_s);
	j = it_ws_wait_type(ws, "system_health", WAIT_S);
	assert_non_null(j);
	assert_string_equal(it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "status"), "producer_offline");
	cJSON_Delete(j);
	ws_free(ws);
}

static void test_token_expiry_closes_4001(void **state)
{
	const unsigned char *key = (const unsigned char *)SECRET;
	struct tp_buf tok;
	char path[1200];
	struct it_ws ws;
	double now = (double)time(NULL);

	(void)state;
	tp_buf_init(&tok, 0);
	tp_jwt_sign(key, strlen(SECRET), 1, now, now + 2, &tok);
	snprintf(path, sizeof(path), "/ws?token=%s", tp_buf_cstr(&tok));
	tp_buf_cleanup(&tok);
	assert_int_equal(it_ws_connect(&ws, env.port, path, NULL, 0), 0);
	assert_int_equal(it_ws_wait_close(&ws, WAIT_S), 4001);
	it_ws_close(&ws);
}

static void test_backtests_reach_only_their_owner(void **state)
{
	struct it_ws *demo = ws_open(demo_token), *analyst = ws_open(analyst_token);
	char hdr[1200], ev[512];
	struct it_http_resp r;
	const char *body = "{\"symbols\":[\"AAPL\"],\"patterns\":[\"Doji\"],"
			   "\"start_date\":\"2024-01-02\",\"end_date\":\"2024-06-28\"}";
	cJSON *j;

	(void)state;
	subscribe(demo, "{\"op\":\"subscribe\",\"id\":\"b\",\"channel\":\"backtests\"}");
	subscribe(analyst, "{\"op\":\"subscribe\",\"id\":\"b\",\"channel\":\"backtests\"}");
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", demo_token);
	assert_int_equal(it_http(env.port, "POST", "/api/backtests", hdr, body, strlen(body), &r), 0);
	if (r.status != 201)
		fail_msg("backtest: %d %s", r.status, r.body);
	j = cJSON_Parse(r.body);
	snprintf(ev, sizeof(ev), "{\"event_type\":\"backtest_progress\",\"job_id\":\"%s\","
		 "\"progress\":0.5,\"status\":\"processing\"}", it_json_str(j, "job_id"));
	cJSON_Delete(j);
	it_http_free(&r);
	it_publish(&env, "tickstock.events.backtesting.progress", ev);
	j = it_ws_wait_type(demo, "backtest_progress", WAIT_S);
	assert_non_null(j);
	assert_true(it_json_num(cJSON_GetObjectItemCaseSensitive(j, "data"), "progress") == 0.5);
	cJSON_Delete(j);
	assert_null(it_ws_wait_type(analyst, "backtest_progress", 0.5));
	/* A job nobody here owns reaches nobody. */
	it_publish(&env, "tickstock.events.backtesting.progress",
		   "{\"event_type\":\"backtest_progress\",\"job_id\":\"job_foreign\",\"progress\":0.1}");
	assert_null(it_ws_wait_type(demo, "backtest_progress", 0.5));
	ws_free(demo);
	ws_free(analyst);
}

static void test_sse_and_poll_carry_the_same_sequence(void **state)
{
	struct it_ws *ws = ws_open(NULL);
	static char ws_ids[16][TP_PATTERN_ID_MAX + 1], sse_ids[16][TP_PATTERN_ID_MAX + 1],
		want[8][TP_PATTERN_ID_MAX + 1];
	const char *req = "GET /api/stream?channels=patterns&symbols=ORCL&confidence_min=0 HTTP/1.1\r\n"
			  "Host: x\r\nAccept: text/event-stream\r\n\r\n";
	int fd = it_connect(env.port);
	char path[256];
	cJSON *j, *events;
	double seq0;

	(void)state;
	subscribe(ws, "{\"op\":\"subscribe\",\"id\":\"o\",\"channel\":\"patterns\","
		      "\"filter\":{\"symbols\":[\"ORCL\"],\"confidence_min\":0}}");
	assert_true(fd >= 0);
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	/* The head is out once the stream is subscribed: from then on it gets
	 * every event (a fixed pause may end before that on a loaded box). */
	assert_int_equal(it_read_head(fd, WAIT_S), 200);
	j = it_get_json(env.port, "/api/patterns/scan?per_page=1", 200);
	seq0 = it_json_num(cJSON_GetObjectItemCaseSensitive(j, "stream"), "seq");
	cJSON_Delete(j);
	for (int i = 0; i < 8; i++)
		publish(i % 2 ? "ORCL" : "SAP", "Doji", 0.7, 1, NULL, 0, i % 2 ? want[i / 2] : NULL);
	assert_int_equal(collect_ids(ws, ws_ids, 16, 4, 1.0), 4);
	assert_int_equal(it_sse_pattern_ids(fd, sse_ids[0], sizeof(sse_ids[0]), 16, 4, 1.0, NULL), 4);
	close(fd);
	for (int i = 0; i < 4; i++) {
		assert_string_equal(ws_ids[i], want[i]);
		assert_string_equal(sse_ids[i], want[i]);
	}
	/* Long-poll from the same position: the same four, at once. */
	snprintf(path, sizeof(path), "/api/patterns/poll?since=%.0f&timeout=5&symbols=ORCL&confidence_min=0",
		 seq0);
	j = it_get_json(env.port, path, 200);
	events = cJSON_GetObjectItemCaseSensitive(j, "events");
	assert_int_equal(cJSON_GetArraySize(events), 4);
	for (int i = 0; i < 4; i++)
		assert_string_equal(it_json_str(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(events, i), "data"), "id"),
				    want[i]);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "gap")));
	cJSON_Delete(j);
	/* A poll with nothing new waits, then answers empty at its timeout. */
	j = it_get_json(env.port, "/api/patterns/poll?timeout=0.5&symbols=ORCL&confidence_min=0", 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "events")), 0);
	cJSON_Delete(j);
	ws_free(ws);
}

/* Sessions that get the same event with the same head share one copy of
 * the whole frame (sharedframe.h): every session still gets exactly its
 * events, in order, byte for byte what the others with the same
 * subscription id got, and with its own "subs". Mixed ids make the
 * shared frame start over between sessions; two SSE streams with the
 * same filter share too. */
#define SHARED_WS 8
#define SHARED_EVENTS 30
static void test_shared_frames_exact_per_session(void **state)
{
	/* Clients 0-3 "same", 4-5 "alt", 6 both (two matching subs), 7 "same"
	 * with a filter that matches only half of the events. */
	static const char *const subs_want[SHARED_WS] = {
		"[\"same\"]", "[\"same\"]", "[\"same\"]", "[\"same\"]",
		"[\"alt\"]", "[\"alt\"]", "[\"same\",\"alt\"]", "[\"same\"]",
	};
	static char ids[SHARED_EVENTS][TP_PATTERN_ID_MAX + 1];
	static char sse_ids[2][SHARED_EVENTS][TP_PATTERN_ID_MAX + 1];
	char *first_raw[2][SHARED_EVENTS] = {{NULL}};
	struct it_ws *ws[SHARED_WS];
	const char *req = "GET /api/stream?channels=patterns&symbols=KO&confidence_min=0 HTTP/1.1\r\n"
			  "Host: x\r\nAccept: text/event-stream\r\n\r\n";
	int sse[2];

	(void)state;
	for (int c = 0; c < SHARED_WS; c++) {
		const char *f = "{\"symbols\":[\"KO\"],\"confidence_min\":0}";

		ws[c] = ws_open(NULL);
		if (c < 4 || c == 6 || c == 7) {
			char frame[256];

			snprintf(frame, sizeof(frame),
				 "{\"op\":\"subscribe\",\"id\":\"same\",\"channel\":\"patterns\",\"filter\":%s}",
				 c == 7 ? "{\"symbols\":[\"KO\"],\"confidence_min\":0.5}" : f);
			subscribe(ws[c], frame);
		}
		if (c == 4 || c == 5 || c == 6) {
			char frame[256];

			snprintf(frame, sizeof(frame),
				 "{\"op\":\"subscribe\",\"id\":\"alt\",\"channel\":\"patterns\",\"filter\":%s}", f);
			subscribe(ws[c], frame);
		}
	}
	for (int k = 0; k < 2; k++) {
		sse[k] = it_connect(env.port);
		assert_true(sse[k] >= 0);
		assert_int_equal(send(sse[k], req, strlen(req), 0), (ssize_t)strlen(req));
		assert_int_equal(it_read_head(sse[k], WAIT_S), 200);
	}
	for (int e = 0; e < SHARED_EVENTS; e++) /* odd ones at 0.9, even at 0.2 */
		publish("KO", "Doji", e % 2 ? 0.9 : 0.2, 1, NULL, 0, ids[e]);
	for (int c = 0; c < SHARED_WS; c++) {
		/* Which raw frames must be equal: same subs, same events. */
		int group = c < 4 ? 0 : c < 6 ? 1 : -1;
		int e = c == 7 ? 1 : 0;

		for (; e < SHARED_EVENTS; e += c == 7 ? 2 : 1) {
			char *msg = NULL;
			size_t len;
			cJSON *j;

			if (it_ws_recv(ws[c], WAIT_S, &msg, &len) != 1)
				fail_msg("client %d: event %d never came", c, e);
			j = cJSON_ParseWithLength(msg, len);
			assert_non_null(j);
			assert_string_equal(it_json_str(j, "type"), "pattern");
			assert_string_equal(it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "id"),
					    ids[e]);
			{
				char *subs = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "subs"));

				if (strcmp(subs, subs_want[c]))
					fail_msg("client %d event %d: subs %s, want %s", c, e, subs,
						 subs_want[c]);
				cJSON_free(subs);
			}
			cJSON_Delete(j);
			if (group >= 0 && !first_raw[group][e]) {
				first_raw[group][e] = msg;
				continue;
			}
			if (group >= 0 && strcmp(first_raw[group][e], msg))
				fail_msg("client %d event %d differs from its group's:\n%s\n%s", c, e,
					 msg, first_raw[group][e]);
			free(msg);
		}
	}
	for (int k = 0; k < 2; k++) {
		assert_int_equal(it_sse_pattern_ids(sse[k], sse_ids[k][0], sizeof(sse_ids[k][0]),
						    SHARED_EVENTS, SHARED_EVENTS, 0.5, NULL),
				 SHARED_EVENTS);
		close(sse[k]);
		for (int e = 0; e < SHARED_EVENTS; e++)
			assert_string_equal(sse_ids[k][e], ids[e]);
	}
	/* Nothing more for anyone (no duplicates). */
	for (int c = 0; c < SHARED_WS; c++) {
		char *msg = NULL;
		size_t len;

		if (it_ws_recv(ws[c], 0.3, &msg, &len) == 1)
			fail_msg("client %d: unexpected %.*s", c, (int)len, msg);
		ws_free(ws[c]);
	}
	for (int g = 0; g < 2; g++)
		for (int e = 0; e < SHARED_EVENTS; e++)
			free(first_raw[g][e]);
}

static void test_expiry_pushes_removal(void **state)
{
	struct it_ws *ws = ws_open(NULL);
	char ev[512];
	double now = (double)time(NULL);
	cJSON *j;

	(void)state;
	subscribe(ws, "{\"op\":\"subscribe\",\"id\":\"x\",\"channel\":\"patterns\","
		      "\"filter\":{\"symbols\":[\"TGT\"],\"confidence_min\":0}}");
	snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"TGT\","
		 "\"pattern\":\"Doji\",\"confidence\":0.7,\"timestamp\":%.0f,\"expires_at\":%.0f}}",
		 now - 10, now + 2);
	it_publish(&env, "tickstock.events.patterns", ev);
	j = it_ws_wait_type(ws, "pattern", WAIT_S);
	assert_non_null(j);
	cJSON_Delete(j);
	j = it_ws_wait_type(ws, "pattern_removed", WAIT_S);
	assert_non_null(j);
	assert_non_null(strstr(it_json_str(j, "id"), "TGT:Doji:"));
	cJSON_Delete(j);
	ws_free(ws);
}

static double connections_gauge(void)
{
	struct it_http_resp r;
	const char *p;
	double v = -1;

	assert_int_equal(it_http(env.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
	p = strstr(r.body, "\ntickpush_http_connections ");
	if (p)
		v = strtod(p + strlen("\ntickpush_http_connections "), NULL);
	it_http_free(&r);
	return v;
}

static double baseline;

static bool connections_back_to_baseline(void *ud)
{
	(void)ud;
	/* Earlier tests' connections may still be closing: at most. */
	return connections_gauge() <= baseline;
}

/* The connection count (which max_connections is checked against) must
 * come back down when WebSocket sessions end. */
static void test_connection_count_follows_sessions(void **state)
{
	struct it_ws *ws[5];

	(void)state;
	baseline = connections_gauge();
	assert_true(baseline >= 1);
	for (int i = 0; i < 5; i++)
		ws[i] = ws_open(NULL);
	assert_true(connections_gauge() >= 5 + 1); /* five sessions and this request */
	for (int i = 0; i < 5; i++)
		ws_free(ws[i]);
	if (!it_wait(connections_back_to_baseline, NULL, WAIT_S))
		fail_msg("connections: %g, expected %g", connections_gauge(), baseline);
}

static void test_restart_gives_gap(void **state)
{
	struct it_ws *ws;
	char frame[256], epoch[64];
	cJSON *j;

	(void)state;
	j = it_get_json(env.port, "/api/patterns/scan?per_page=1", 200);
	snprintf(epoch, sizeof(epoch), "%s", it_json_str(cJSON_GetObjectItemCaseSensitive(j, "stream"), "epoch"));
	cJSON_Delete(j);
	assert_int_equal(it_server_stop(&env, SIGTERM, 10), 0);
	start_server();
	ws = ws_open(NULL);
	snprintf(frame, sizeof(frame), "{\"op\":\"subscribe\",\"id\":\"r\",\"channel\":\"patterns\","
		 "\"since\":{\"epoch\":\"%s\",\"seq\":1}}", epoch);
	it_ws_send_text(ws, frame);
	j = it_ws_wait_type(ws, "gap", WAIT_S);
	assert_non_null(j);
	assert_string_not_equal(it_json_str(j, "epoch"), epoch);
	cJSON_Delete(j);
	ws_free(ws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_and_ping),
		cmocka_unit_test(test_inline_filter_delivery),
		cmocka_unit_test(test_many_clients_match_brute_force),
		cmocka_unit_test(test_one_frame_lists_every_matching_sub),
		cmocka_unit_test(test_preset_follows_edits),
		cmocka_unit_test(test_resume_since_loses_nothing),
		cmocka_unit_test(test_scan_position_joins_the_stream),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_bad_frames),
		cmocka_unit_test(test_handshake_rejections),
		cmocka_unit_test(test_subscription_limit),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_slow_consumer_is_closed_others_unaffected),
		cmocka_unit_test(test_health_channel),
		cmocka_unit_test(test_producer_online_offline_on_health),
		cmocka_unit_test(test_token_expiry_closes_4001),
		cmocka_unit_test(test_backtests_reach_only_their_owner),
		cmocka_unit_test(test_sse_and_poll_carry_the_same_sequence),
		cmocka_unit_test(test_shared_frames_exact_per_session),
		cmocka_unit_test(test_expiry_pushes_removal),
		cmocka_unit_test(test_connection_count_follows_sessions),
		cmocka_unit_test(test_restart_gives_gap),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
