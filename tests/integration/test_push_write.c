/*
 * test_push_write.c - the push write path against real sockets: a real
 * tickpush and redis-server (no database), WebSocket clients in C that
 * check every byte they get.
 *
 * What it proves:
 *  - a burst of 1,500 events of ~3 KB, published as fast as Redis takes
 *    them, reaches a client that reads as fast as it can, completely, in
 *    order, without a 4008 (the queue bound is 1 MiB; the burst is 4.5 MB);
 *  - a client that stops reading is closed with 4008 while another one
 *    gets every frame of the same burst;
 *  - a slow reader whose socket buffer fills inside a frame (small
 *    SO_RCVBUF, a burst larger than the kernel buffers: tcp_wmem lets a
 *    socket buffer up to 4 MiB, so these bursts are ~8 MB and the queue
 *    bound of that server is raised) gets every frame intact and in order
 *    once it reads, and
 *    when the session is closed while a frame is half-written (4008, or
 *    shutdown 1001) it sees whole frames, then the close frame: never a
 *    torn frame (tickpush_push_partial_writes_total shows the socket really
 *    filled mid-frame);
 *  - with ws_write_delay_ms, events wait for the window and share writes.
 *
 * Every text frame is parsed as JSON and must be a pattern frame with the
 * next expected id; anything torn or spliced fails the parse or the order.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "test_support.h"
#include "ws_client.h"

#define CHANNEL "tickstock.events.patterns"

static struct it_env env;     /* default queue bound (1 MiB) */
static struct it_env big;     /* 32 MiB bound: slow readers are not cut */
static double ts_base;        /* detected_at of event 0 of the next burst */

#define BIG_QUEUE "TICKPUSH_WS_QUEUE_MAX_BYTES=33554432"
/* The bursts are not kept in Redis: servers started later do not load
 * megabytes of them at start. */
#define NO_CACHE "TICKPUSH_REDIS_WRITE_THROUGH=no", "TICKPUSH_REDIS_WARM_START=no"

static int setup(void **state)
{
	const char *extra[] = {NO_CACHE, NULL};
	const char *extra_big[] = {BIG_QUEUE, NO_CACHE, NULL};

	(void)state;
	it_setup(&env, "pushw");
	it_redis_start(&env);
	it_server_start(&env, extra, true);
	it_setup(&big, "pushw-big");
	snprintf(big.redis_sock, sizeof(big.redis_sock), "%s", env.redis_sock);
	it_server_start(&big, extra_big, true);
	ts_base = (double)time(NULL) - 200000;
	return 0;
}

static int teardown(void **state)
{
	int rc;

	(void)state;
	rc = it_finish(&big);
	return it_finish(&env) || rc ? -1 : 0;
}

/* ---- helpers ---- */

/* Each test has its own symbol: the servers share one Redis, and a
 * server may still be pushing the previous test's burst. */
struct burst {
	const char *sym;
	double ts0;                 /* detected_at of event 0 */
	size_t (*pad)(unsigned i);  /* padding of event i */
};

/* Event i of a burst: a new pattern (its own detected_at) with padding in
 * its indicators (pushed rows carry unknown indicator keys). */
static char *burst_event(unsigned i, void *ud)
{
	const struct burst *b = ud;
	size_t pad = b->pad(i);
	char *ev = malloc(pad + 512), *p;
	int n = snprintf(ev, 512, "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"%s\","
			 "\"pattern\":\"Weekly_Breakout\",\"confidence\":0.8,\"timestamp\":%.0f,"
			 "\"expires_at\":%.0f,\"indicators\":{\"relative_strength\":1.2,\"pad\":\"",
			 b->sym, b->ts0 + i, (double)time(NULL) + 3600);

	p = ev + n;
	memset(p, 'a' + (char)(i % 26), pad);
	strcpy(p + pad, "\"}}}");
	return ev;
}

/* Publishes n events in one pipeline from a child process (the test
 * reads meanwhile). Returns its pid. */
static pid_t publish_burst(const char *sym, double ts0, unsigned n,
			   size_t (*pad)(unsigned))
{
	struct burst b = {sym, ts0, pad};
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(it_publish_burst(&env, CHANNEL, n, burst_event, &b) ? 2 : 0);
	return pid;
}

static void publisher_done(pid_t pid)
{
	int st = 0;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static size_t pad_3k(unsigned i)
{
	(void)i;
	return 3000;
}

/* Every 25th frame ~40 KB, larger than the socket buffers of a client
 * with a small SO_RCVBUF can take, so a write must stop inside it; the
 * others 50 bytes .. ~8 KB, so frames straddle buffer edges anywhere. */
static size_t pad_varied(unsigned i)
{
	if (i % 25 == 0)
		return 40000;
	return 50 + (size_t)(i * 7919u % 8000u);
}

/* ~3 KB, with a ~50 KB frame every 10th. */
static size_t pad_mixed(unsigned i)
{
	return i % 10 == 0 ? 50000 : 3000;
}

/* A session subscribed to sym's patterns (rcvbuf > 0: a small socket
 * receive buffer). */
static struct it_ws *open_subscribed(int port, int rcvbuf, const char *sym)
{
	struct it_ws *ws = calloc(1, sizeof(*ws));

	assert_non_null(ws);
	assert_int_equal(it_ws_follow(ws, port, sym, rcvbuf), 0);
	return ws;
}

static void ws_free(struct it_ws *ws)
{
	it_ws_close(ws);
	free(ws);
}

/* Reads pattern frames of the burst starting at ts0 until `want` arrived
 * or the connection ended; each must be whole JSON, a pattern frame,
 * with the next id and a larger seq (else *bad is set, with why). Returns
 * how many arrived; *ended tells whether the connection ended
 * (ws->close_code holds the code, 0 for a TCP close). Asserts nothing, so
 * a child process can use it. */
static unsigned read_frames(struct it_ws *ws, const char *sym, double ts0,
			    unsigned want, double timeout_s, bool *ended,
			    bool *bad, char why[160])
{
	double end = it_now() + timeout_s;
	double last_seq = 0;
	unsigned got = 0;

	*ended = *bad = false;
	while (got < want && it_now() < end) {
		char *msg, id[96];
		size_t len;
		int r = it_ws_recv(ws, end - it_now(), &msg, &len);
		cJSON *j;

		if (r < 0) {
			*ended = true;
			break;
		}
		if (r == 0)
			break;
		j = cJSON_ParseWithLength(msg, len);
		snprintf(id, sizeof(id), "%s:Weekly_Breakout:%.0f", sym, ts0 + got);
		if (!j || strcmp(it_json_str(j, "type"), "pattern") ||
		    strcmp(it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "id"), id) ||
		    !(it_json_num(j, "seq") > last_seq)) {
			snprintf(why, 160, "frame %u (%zu bytes) is not pattern %.40s: %.40s",
				 got, len, id, msg);
			*bad = true;
			free(msg);
			cJSON_Delete(j);
			break;
		}
		free(msg);
		last_seq = it_json_num(j, "seq");
		cJSON_Delete(j);
		got++;
	}
	return got;
}

static unsigned read_burst(struct it_ws *ws, const char *sym, double ts0,
			   unsigned want, double timeout_s, bool *ended)
{
	char why[160];
	bool bad;
	unsigned got = read_frames(ws, sym, ts0, want, timeout_s, ended, &bad,
				   why);

	if (bad)
		fail_msg("%s", why);
	return got;
}

/* Reads a whole burst on ws in a child process (so this one can watch
 * another client meanwhile); it exits 0 when all `want` frames came
 * intact and the connection stayed open. */
static pid_t read_burst_in_child(struct it_ws *ws, const char *sym,
				 double ts0, unsigned want)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char why[160];
		bool ended, bad;
		unsigned got = read_frames(ws, sym, ts0, want, 240, &ended,
					   &bad, why);

		if (bad)
			fprintf(stderr, "child reader: %s\n", why);
		_exit(got == want && !ended && !bad ? 0 : 1);
	}
	return pid;
}

#define SLOW_CLOSED "tickpush_ws_closed_total{code=\"4008\",reason=\"slow_consumer\"}"

/* A sample from /metrics, by its full name with labels as written
 * ("tickpush_push_writes_total"). */
static double metric(int port, const char *name)
{
	struct it_http_resp r;
	char key[160];
	const char *p;
	double v = -1;

	snprintf(key, sizeof(key), "\n%s ", name);
	assert_int_equal(it_http(port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	if ((p = strstr(r.body, key)))
		v = strtod(p + strlen(key), NULL);
	it_http_free(&r);
	assert_true(v >= 0);
	return v;
}

/* ---- tests ---- */

static void test_burst_reaches_fast_reader(void **state)
{
	struct it_ws *ws = open_subscribed(env.port, 0, "AAPL");
	double ts0 = ts_base;
	pid_t pub;
	bool ended;

	(void)state;
	ts_base += 10000;
	pub = publish_burst("AAPL", ts0, 1500, pad_3k);
	assert_int_equal(read_burst(ws, "AAPL", ts0, 1500, 120, &ended), 1500);
	assert_false(ended);
	publisher_done(pub);
	/* Still open and served. */
	assert_int_equal(it_ws_send_text(ws, "{\"op\":\"ping\"}"), 0);
	cJSON *j = it_ws_wait_type(ws, "pong", 10);
	assert_non_null(j);
	cJSON_Delete(j);
	ws_free(ws);
}

/* Waits until counter `name` of the server on port passes v. */
static bool metric_above(int port, const char *name, double v, double timeout_s)
{
	double end = it_now() + timeout_s;

	while (it_now() < end) {
		if (metric(port, name) > v)
			return true;
		usleep(50000);
	}
	return false;
}

static void test_stalled_reader_closed_others_unaffected(void **state)
{
	struct it_ws *fast = open_subscribed(env.port, 0, "MSFT");
	struct it_ws *stalled = open_subscribed(env.port, 4096, "MSFT");
	double ts0 = ts_base, slow0 = metric(env.port, SLOW_CLOSED);
	double partial0 = metric(env.port, "tickpush_push_partial_writes_total");
	unsigned got;
	pid_t pub, reader;
	bool ended;

	(void)state;
	ts_base += 10000;
	/* ~7.7 MB: well over the 1 MiB bound plus the up to 4 MiB the kernel
	 * buffers for the stalled client (tcp_wmem autotuning); its ~50 KB
	 * frames cannot fit whole. The fast client reads it all meanwhile. */
	reader = read_burst_in_child(fast, "MSFT", ts0, 1000);
	pub = publish_burst("MSFT", ts0, 1000, pad_mixed);
	/* The stalled one is cut (4008) while the fast one reads on. */
	assert_true(metric_above(env.port, SLOW_CLOSED, slow0, 180));
	/* Its socket had filled inside a frame. */
	assert_true(metric(env.port, "tickpush_push_partial_writes_total") > partial0);
	/* It reads now: whole frames in order, then the close frame. */
	got = read_burst(stalled, "MSFT", ts0, 1000, 120, &ended);
	assert_true(got > 0 && got < 1000);
	assert_true(ended);
	assert_int_equal(stalled->close_code, 4008);
	assert_int_equal(stalled->len, 0); /* nothing torn left over */
	publisher_done(pub);
	publisher_done(reader); /* every frame, no close, no 4008 */
	ws_free(stalled);
	ws_free(fast);
}

/* Bursts of ~8.4 MB (every 25th frame ~40 KB) against a 32 MiB queue:
 * more than the kernel buffers, so writes stop inside frames. */
#define SLOW_BURST 1500

static void test_slow_reader_gets_every_frame(void **state)
{
	struct it_ws *ws = open_subscribed(big.port, 4096, "NVDA");
	double ts0 = ts_base, partial0 = metric(big.port, "tickpush_push_partial_writes_total");
	pid_t pub;
	bool ended;

	(void)state;
	ts_base += 10000;
	pub = publish_burst("NVDA", ts0, SLOW_BURST, pad_varied);
	publisher_done(pub);
	/* Not reading yet: the server's writes stop mid-frame. */
	assert_true(metric_above(big.port, "tickpush_push_partial_writes_total", partial0, 60));
	assert_int_equal(read_burst(ws, "NVDA", ts0, SLOW_BURST, 180, &ended), SLOW_BURST);
	assert_false(ended);
	ws_free(ws);
}

/* Shutdown (close 1001) while frames are half-written to a slow reader:
 * the reader gets whole frames, then the close frame, and the server
 * still exits 0. Its own server, since it is stopped; a drain long enough
 * for an ASan-built client to read what the kernel holds. */
static void test_shutdown_while_half_written(void **state)
{
	const char *extra[] = {BIG_QUEUE, NO_CACHE, "TICKPUSH_SHUTDOWN_TIMEOUT=60", NULL};
	struct it_env e2;
	struct it_ws *ws;
	double ts0 = ts_base;
	unsigned got;
	pid_t pub;
	bool ended;
	int rc;

	(void)state;
	ts_base += 10000;
	it_setup(&e2, "pushw-stop");
	snprintf(e2.redis_sock, sizeof(e2.redis_sock), "%s", env.redis_sock);
	it_server_start(&e2, extra, true);
	ws = open_subscribed(e2.port, 4096, "AMZN");
	pub = publish_burst("AMZN", ts0, SLOW_BURST, pad_varied);
	publisher_done(pub);
	assert_true(metric_above(e2.port, "tickpush_push_partial_writes_total", 0, 60));
	assert_int_equal(kill(e2.server_pid, SIGTERM), 0);
	got = read_burst(ws, "AMZN", ts0, SLOW_BURST, 120, &ended);
	assert_true(got > 0 && got < SLOW_BURST); /* the rest was dropped */
	assert_true(ended);
	assert_int_equal(ws->close_code, 1001);
	assert_int_equal(ws->len, 0); /* no torn frame */
	ws_free(ws);
	/* Already stopping: wait for its exit (0 after the drain), no second
	 * signal. */
	rc = it_server_stop(&e2, 0, 30);
	if (rc)
		it_dump_logs(&e2);
	it_teardown(&e2);
	assert_int_equal(rc, 0);
}

/* ws_write_delay_ms: an event waits for the window; events within one
 * window leave in one write; replies to the client do not wait. */
static void test_write_window(void **state)
{
	const char *extra[] = {"TICKPUSH_WS_WRITE_DELAY_MS=800", NO_CACHE, NULL};
	struct it_env e3;
	struct it_ws *ws;
	double ts0 = ts_base, t0, writes0;
	bool ended;
	pid_t pub;
	cJSON *j;

	(void)state;
	ts_base += 10000;
	it_setup(&e3, "pushw-window");
	snprintf(e3.redis_sock, sizeof(e3.redis_sock), "%s", env.redis_sock);
	it_server_start(&e3, extra, true);
	ws = open_subscribed(e3.port, 0, "META"); /* hello/subscribed did not wait */

	/* One event: held for the window (a lower bound: never flaky). */
	t0 = it_now();
	pub = publish_burst("META", ts0, 1, pad_3k);
	assert_int_equal(read_burst(ws, "META", ts0, 1, 30, &ended), 1);
	assert_true(it_now() - t0 >= 0.6);
	publisher_done(pub);

	/* Twenty pipelined events arrive within one window: one write (two
	 * if the window happened to end mid-burst). */
	writes0 = metric(e3.port, "tickpush_push_writes_total");
	pub = publish_burst("META", ts0 + 1, 20, pad_3k);
	assert_int_equal(read_burst(ws, "META", ts0 + 1, 20, 30, &ended), 20);
	publisher_done(pub);
	assert_true(metric(e3.port, "tickpush_push_writes_total") - writes0 <= 2);

	/* A reply is not held back by the window. */
	assert_int_equal(it_ws_send_text(ws, "{\"op\":\"ping\"}"), 0);
	j = it_ws_wait_type(ws, "pong", 10);
	assert_non_null(j);
	cJSON_Delete(j);
	ws_free(ws);
	assert_int_equal(it_finish(&e3), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_reaches_fast_reader),
		cmocka_unit_test(test_stalled_reader_closed_others_unaffected),
		cmocka_unit_test(test_slow_reader_gets_every_frame),
		cmocka_unit_test(test_shutdown_while_half_written),
		cmocka_unit_test(test_write_window),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
