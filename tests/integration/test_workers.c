/*
 * test_workers.c - `workers = 2`: a supervisor and two workers on one
 * port (port 0, resolved once; the port file names it), with real Redis.
 *
 * Which worker answered is told by /metrics (tickpush_worker, tickpush_worker_pid,
 * tickpush_worker_restarts): requests land on both; WebSocket sessions spread
 * over both get exactly their events; a worker killed with SIGKILL takes
 * only its own sessions, the other keeps pushing to its sessions and
 * answering, and the supervisor replaces the dead one (restart counted);
 * SIGTERM to the supervisor stops everything with status 0 and leaves no
 * process behind. `workers = 1` keeps the single process (no supervisor).
 * Sanitizer reports in any process fail the test (exit status and log).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "test_support.h"
#include "ws_client.h"

#define CHANNEL "tickstock.events.patterns"
#define SESSIONS 16
#define WORKERS_ENV "TICKPUSH_WORKERS=2"
#define NO_CACHE "TICKPUSH_REDIS_WRITE_THROUGH=no", "TICKPUSH_REDIS_WARM_START=no"

static struct it_env env;
static double ts_next;   /* detected_at of the next published event */

/* One /metrics answer: which process gave it and a few of its values. */
struct scrape {
	int worker;
	long pid;
	int restarts;
	int ws_sessions;
};

static long metric_in(const char *body, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = body; p && *p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (!strncmp(p, name, n) && p[n] == ' ')
			return strtol(p + n + 1, NULL, 10);
	}
	return -1;
}

static bool scrape(int port, struct scrape *s)
{
	struct it_http_resp r;
	bool ok;

	if (it_http(port, "GET", "/metrics", NULL, NULL, 0, &r))
		return false;
	ok = r.status == 200;
	s->worker = (int)metric_in(r.body, "tickpush_worker");
	s->pid = metric_in(r.body, "tickpush_worker_pid");
	s->restarts = (int)metric_in(r.body, "tickpush_worker_restarts");
	s->ws_sessions = (int)metric_in(r.body, "tickpush_ws_sessions");
	it_http_free(&r);
	return ok && s->worker >= 0 && s->pid > 0;
}

/* Scrapes until both workers answered (at most `tries`); fills by[1..2]. */
static bool scrape_both(int port, struct scrape by[3], int tries)
{
	bool seen[3] = {false, false, false};

	for (int i = 0; i < tries && !(seen[1] && seen[2]); i++) {
		struct scrape s;

		if (!scrape(port, &s) || s.worker < 1 || s.worker > 2)
			continue;
		by[s.worker] = s;
		seen[s.worker] = true;
	}
	return seen[1] && seen[2];
}

static long ppid_of(long pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	long ppid = -1;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 2, "%*c %ld", &ppid);
	fclose(f);
	return ppid;
}

static bool gone(long pid)
{
	return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

static bool log_has(const struct it_env *e, const char *needle)
{
	char path[320], line[2048];
	bool found = false;

	for (int i = 1; i <= e->server_runs && !found; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/server.%d.log", e->dir, i);
		if (!(f = fopen(path, "r")))
			continue;
		while (!found && fgets(line, sizeof(line), f))
			found = strstr(line, needle) != NULL;
		fclose(f);
	}
	return found;
}

static bool both_ready(void *ud)
{
	struct scrape by[3];

	(void)ud;
	/* Each worker has its own Redis subscriber: wait until both are
	 * subscribed, or an event could reach one worker only. */
	for (int i = 0; i < 40; i++) {
		struct it_http_resp r;
		bool ready;

		if (it_http(env.port, "GET", "/readyz", NULL, NULL, 0, &r))
			return false;
		ready = r.status == 200;
		it_http_free(&r);
		if (!ready)
			return false;
	}
	return scrape_both(env.port, by, 200);
}

static int setup(void **state)
{
	const char *extra[] = {WORKERS_ENV, NO_CACHE, "TICKPUSH_SHUTDOWN_TIMEOUT=3",
			       NULL};

	(void)state;
	it_setup(&env, "workers");
	it_redis_start(&env);
	it_server_start(&env, extra, true);
	ts_next = (double)time(NULL) - 300000;
	if (!it_wait(both_ready, NULL, 30)) {
		it_dump_logs(&env);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	bool quiet = !log_has(&env, "Sanitizer") && !log_has(&env, "runtime error");

	(void)state;
	if (!quiet)
		it_dump_logs(&env);
	if (env.server_pid > 0)
		return it_finish(&env) || !quiet ? -1 : 0;
	it_teardown(&env);
	return quiet ? 0 : -1;
}

/* ---- sessions and events ---- */

static struct it_ws *open_subscribed(const char *sym)
{
	struct it_ws *ws = calloc(1, sizeof(*ws));

	assert_non_null(ws);
	assert_int_equal(it_ws_follow(ws, env.port, sym, 0), 0);
	return ws;
}

static const char *sym_of(int i)
{
	return i % 2 ? "WKRB" : "WKRA";
}

/* Publishes n events alternating WKRA, WKRB (event k has detected_at
 * ts0 + k), each received by at least `subscribers` workers; returns ts0. */
static double publish(unsigned n, long long subscribers)
{
	double ts0 = ts_next;

	for (unsigned k = 0; k < n; k++) {
		char ev[400];

		snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"%s\","
			 "\"pattern\":\"Weekly_Breakout\",\"confidence\":0.8,\"timestamp\":%.0f,"
			 "\"expires_at\":%.0f}}", sym_of((int)k), ts0 + k,
			 (double)time(NULL) + 3600);
		assert_true(it_publish(&env, CHANNEL, ev) >= subscribers);
	}
	ts_next += n;
	return ts0;
}

/* Reads what session i should get of n events from ts0: its symbol's
 * events in order, then nothing more. Returns 1 when exactly those
 * arrived, 0 when the connection ended before the first, -1 otherwise. */
static int read_exactly(struct it_ws *ws, int i, double ts0, unsigned n)
{
	unsigned got = 0;

	for (unsigned k = (unsigned)i % 2; k < n; k += 2) {
		char want[96];
		cJSON *j = it_ws_wait_type(ws, "pattern", 10);

		if (!j)
			return ws->closed && got == 0 ? 0 : -1;
		snprintf(want, sizeof(want), "%s:Weekly_Breakout:%.0f", sym_of(i), ts0 + k);
		if (strcmp(it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "id"), want)) {
			fprintf(stderr, "session %d: got %s, want %s\n",
				i, it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "id"), want);
			cJSON_Delete(j);
			return -1;
		}
		cJSON_Delete(j);
		got++;
	}
	/* No duplicate, nothing of the other symbol. */
	{
		cJSON *extra = it_ws_wait_type(ws, "pattern", 0.5);

		if (extra) {
			cJSON_Delete(extra);
			return -1;
		}
	}
	return 1;
}

/* ---- tests ---- */

static void test_requests_reach_both_workers(void **state)
{
	struct scrape by[3];

	(void)state;
	assert_true(scrape_both(env.port, by, 200));
	assert_int_not_equal(by[1].pid, by[2].pid);
	/* Both are children of the supervisor, which serves nothing. */
	assert_int_equal(ppid_of(by[1].pid), env.server_pid);
	assert_int_equal(ppid_of(by[2].pid), env.server_pid);
	assert_int_not_equal(by[1].pid, env.server_pid);
	assert_int_equal(by[1].restarts, 0);
	assert_int_equal(by[2].restarts, 0);
	assert_true(log_has(&env, "worker=1 msg=\"listening\""));
	assert_true(log_has(&env, "worker=2 msg=\"listening\""));
}

/* All SESSIONS are counted by the two workers (per_worker[1..2]). */
static bool sessions_counted(void *ud)
{
	int *per_worker = ud;
	struct scrape by[3];

	if (!scrape_both(env.port, by, 200))
		return false;
	per_worker[1] = by[1].ws_sessions;
	per_worker[2] = by[2].ws_sessions;
	return per_worker[1] + per_worker[2] == SESSIONS;
}

static void test_sessions_on_both_workers_then_one_dies(void **state)
{
	struct it_ws *ws[SESSIONS];
	int per_worker[3] = {0, 0, 0};
	int ended = 0, served = 0;
	struct scrape before[3], after;
	double ts0, deadline;
	bool replaced = false;

	(void)state;
	for (int i = 0; i < SESSIONS; i++)
		ws[i] = open_subscribed(sym_of(i));
	/* The kernel spreads connections by a hash: both get some of 16
	 * (all on one has a chance of 2^-15). */
	assert_true(it_wait(sessions_counted, per_worker, 10));
	assert_true(per_worker[1] > 0 && per_worker[2] > 0);

	/* Every session, on either worker, gets exactly its events. */
	ts0 = publish(20, 2);
	for (int i = 0; i < SESSIONS; i++)
		assert_int_equal(read_exactly(ws[i], i, ts0, 20), 1);

	/* Worker 1 is killed: its sessions end, the others keep going. */
	assert_true(scrape_both(env.port, before, 200));
	assert_int_equal(kill((pid_t)before[1].pid, SIGKILL), 0);
	ts0 = publish(20, 1);
	for (int i = 0; i < SESSIONS; i++) {
		int r = read_exactly(ws[i], i, ts0, 20);

		if (r == 0)
			ended++;
		else if (r == 1)
			served++;
		else
			fail_msg("session %d neither ended nor got exactly its events", i);
	}
	assert_int_equal(ended, per_worker[1]);
	assert_int_equal(served, per_worker[2]);

	/* The supervisor replaces it within seconds and counts the restart;
	 * worker 2 is the same process as before. */
	deadline = it_now() + 10;
	while (!replaced && it_now() < deadline) {
		if (scrape(env.port, &after) && after.worker == 1 && after.pid != before[1].pid) {
			assert_int_equal(after.restarts, 1);
			assert_int_equal(ppid_of(after.pid), env.server_pid);
			replaced = true;
		}
	}
	assert_true(replaced);
	assert_true(log_has(&env, "msg=\"worker died\" worker_id=1"));
	assert_true(log_has(&env, "signal=9"));
	assert_true(scrape_both(env.port, before, 200));
	assert_int_equal(before[2].restarts, 0);
	assert_int_equal(before[2].ws_sessions, per_worker[2]);

	/* New sessions work on the replacement as well: open until one is
	 * counted there, and push to all of them. */
	for (int i = 0; i < SESSIONS; i++) {
		it_ws_close(ws[i]);
		free(ws[i]);
		ws[i] = open_subscribed(sym_of(i));
	}
	assert_true(it_wait(sessions_counted, per_worker, 10));
	assert_true(per_worker[1] > 0 && per_worker[2] > 0);
	assert_true(it_wait(both_ready, NULL, 20));
	ts0 = publish(10, 2);
	for (int i = 0; i < SESSIONS; i++) {
		assert_int_equal(read_exactly(ws[i], i, ts0, 10), 1);
		it_ws_close(ws[i]);
		free(ws[i]);
	}
}

static void test_sigterm_stops_everything(void **state)
{
	struct scrape by[3];

	(void)state;
	assert_true(scrape_both(env.port, by, 200));
	/* Status 0: every worker drained and exited 0 (a sanitizer report or
	 * a leaked handle in one would make it non-zero), within
	 * shutdown_timeout (3 s) and the supervisor's grace (5 s). */
	assert_int_equal(it_server_stop(&env, SIGTERM, 3 + 5), 0);
	assert_true(gone(by[1].pid));
	assert_true(gone(by[2].pid));
	assert_true(log_has(&env, "msg=\"supervisor: stopped\" exit_code=0"));
}

/* workers = 1 (the default): one process, no supervisor. */
static void test_one_worker_is_one_process(void **state)
{
	struct it_env one;
	const char *extra[] = {"TICKPUSH_WORKERS=1", NO_CACHE, NULL};
	struct scrape s;

	(void)state;
	it_setup(&one, "workers-one");
	snprintf(one.redis_sock, sizeof(one.redis_sock), "%s", env.redis_sock);
	it_server_start(&one, extra, true);
	assert_true(scrape(one.port, &s));
	assert_int_equal(s.worker, 0);
	assert_int_equal(s.pid, one.server_pid);
	assert_false(log_has(&one, "supervisor"));
	assert_int_equal(it_finish(&one), 0);
}

static long killed_workers[3];

static bool workers_gone(void *ud)
{
	(void)ud;
	return gone(killed_workers[1]) && gone(killed_workers[2]);
}

/* A supervisor killed with SIGKILL cannot stop its workers: they stop
 * themselves (SIGTERM from the kernel, PR_SET_PDEATHSIG), no orphans. */
static void test_supervisor_killed_leaves_no_orphans(void **state)
{
	struct it_env sk;
	const char *extra[] = {WORKERS_ENV, NO_CACHE, NULL};
	struct scrape by[3];

	(void)state;
	it_setup(&sk, "workers-kill");
	snprintf(sk.redis_sock, sizeof(sk.redis_sock), "%s", env.redis_sock);
	it_server_start(&sk, extra, false);
	assert_true(scrape_both(sk.port, by, 200));
	killed_workers[1] = by[1].pid;
	killed_workers[2] = by[2].pid;
	assert_int_equal(it_server_stop(&sk, SIGKILL, 5), 128 + SIGKILL);
	assert_true(it_wait(workers_gone, NULL, 10));
	it_teardown(&sk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests_reach_both_workers),
		cmocka_unit_test(test_one_worker_is_one_process),
		cmocka_unit_test(test_supervisor_killed_leaves_no_orphans),
		cmocka_unit_test(test_sessions_on_both_workers_then_one_dies),
		cmocka_unit_test(test_sigterm_stops_everything),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
