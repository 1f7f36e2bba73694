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
 * process behind; a killed supervisor leaves no orphans; workers that
 * cannot start make the supervisor exit 2; SIGHUP reloads every worker in
 * place; https reaches both workers. `workers = 1` keeps the single
 * process (no supervisor).
 * Sanitizer reports in any process fail the test (exit status and log).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "it_cluster.h"
#include "test_support.h"
#include "ws_client.h"

extern char **environ;

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

/* Scrapes until both workers answered (at most timeout_s: a limit in
 * tries passes in well under a second on a fast machine, while a worker
 * under ASan on a loaded one may take longer to start); fills by[1..2]. */
static bool scrape_both(int port, struct scrape by[3], double timeout_s)
{
	bool seen[3] = {false, false, false};

	for (double end = it_now() + timeout_s; it_now() < end && !(seen[1] && seen[2]);) {
		struct scrape s;

		if (!scrape(port, &s) || s.worker < 1 || s.worker > 2) {
			usleep(10000);
			continue;
		}
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

struct log_wait {
	const struct it_env *e;
	const char *needle;
};

static bool log_appeared(void *ud)
{
	const struct log_wait *w = ud;

	return log_has(w->e, w->needle);
}

static bool wait_log(const struct it_env *e, const char *needle, double timeout_s)
{
	struct log_wait w = {e, needle};

	return it_wait(log_appeared, &w, timeout_s);
}

/* ud: the port (int *). */
static bool both_ready(void *ud)
{
	int port = *(int *)ud;
	struct scrape by[3];

	/* Each worker has its own Redis subscriber: wait until both are
	 * subscribed, or an event could reach one worker only. */
	for (int i = 0; i < 40; i++) {
		struct it_http_resp r;
		bool ready;

		if (it_http(port, "GET", "/readyz", NULL, NULL, 0, &r))
			return false;
		ready = r.status == 200;
		it_http_free(&r);
		if (!ready)
			return false;
	}
	return scrape_both(port, by, 2);
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
	if (!it_wait(both_ready, &env.port, 30)) {
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
		const char *id;

		if (!j)
			return ws->closed && got == 0 ? 0 : -1;
		snprintf(want, sizeof(want), "%s:Weekly_Breakout:%.0f", sym_of(i), ts0 + k);
		id = it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "id");
		if (strcmp(id, want)) {
			fprintf(stderr, "session %d: got %s, want %s\n", i, id, want);
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
	assert_true(scrape_both(env.port, by, 20));
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

/* Sessions counted by the two workers of a port. */
struct counted {
	int port;
	int total;     /* expected over both */
	int per[3];    /* per[1..2]: by worker */
};

static bool sessions_counted(void *ud)
{
	struct counted *c = ud;
	struct scrape by[3];

	if (!scrape_both(c->port, by, 2))
		return false;
	c->per[1] = by[1].ws_sessions;
	c->per[2] = by[2].ws_sessions;
	return c->per[1] + c->per[2] == c->total;
}

static void test_sessions_on_both_workers_then_one_dies(void **state)
{
	struct it_ws *ws[SESSIONS];
	struct counted cnt = {env.port, SESSIONS, {0, 0, 0}};
	int *per_worker = cnt.per;
	int ended = 0, served = 0;
	struct scrape before[3], after;
	double ts0, deadline;
	bool replaced = false;

	(void)state;
	for (int i = 0; i < SESSIONS; i++)
		ws[i] = open_subscribed(sym_of(i));
	/* The kernel spreads connections by a hash: both get some of 16
	 * (all on one has a chance of 2^-15). */
	assert_true(it_wait(sessions_counted, &cnt, 10));
	assert_true(per_worker[1] > 0 && per_worker[2] > 0);

	/* Every session, on either worker, gets exactly its events. */
	ts0 = publish(20, 2);
	for (int i = 0; i < SESSIONS; i++)
		assert_int_equal(read_exactly(ws[i], i, ts0, 20), 1);

	/* Worker 1 is killed: its sessions end, the others keep going. */
	assert_true(scrape_both(env.port, before, 20));
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
	assert_true(scrape_both(env.port, before, 20));
	assert_int_equal(before[2].restarts, 0);
	assert_int_equal(before[2].ws_sessions, per_worker[2]);

	/* New sessions work on the replacement as well: open until one is
	 * counted there, and push to all of them. */
	for (int i = 0; i < SESSIONS; i++) {
		it_ws_close(ws[i]);
		free(ws[i]);
		ws[i] = open_subscribed(sym_of(i));
	}
	assert_true(it_wait(sessions_counted, &cnt, 10));
	assert_true(per_worker[1] > 0 && per_worker[2] > 0);
	assert_true(it_wait(both_ready, &env.port, 20));
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
	assert_true(scrape_both(env.port, by, 20));
	/* Status 0: every worker drained and exited 0 (a sanitizer report or
	 * a leaked handle in one would make it non-zero), within
	 * shutdown_timeout (3 s) and the supervisor's grace (5 s), which the
	 * exit code tells; the wait has room for slow exits (ASan's leak
	 * check) on a loaded box. */
	assert_int_equal(it_server_stop(&env, SIGTERM, 3 + 5 + 10), 0);
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

/* Another supervisor with two workers on the same Redis; by[1..2] are
 * its workers. */
static void start_another(struct it_env *e, const char *name, struct scrape by[3])
{
	const char *extra[] = {WORKERS_ENV, NO_CACHE, NULL};

	it_setup(e, name);
	snprintf(e->redis_sock, sizeof(e->redis_sock), "%s", env.redis_sock);
	it_server_start(e, extra, false);
	assert_true(scrape_both(e->port, by, 20));
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
	struct scrape by[3];

	(void)state;
	start_another(&sk, "workers-kill", by);
	killed_workers[1] = by[1].pid;
	killed_workers[2] = by[2].pid;
	assert_int_equal(it_server_stop(&sk, SIGKILL, 5), 128 + SIGKILL);
	assert_true(it_wait(workers_gone, NULL, 10));
	it_teardown(&sk);
}

/* SIGHUP to the supervisor is forwarded: each worker reloads its
 * configuration in place (same process, no restart) and the supervisor
 * keeps running. (What a reload changes is tested with the reload.) */
static void test_sighup_is_forwarded(void **state)
{
	struct it_env hup;
	struct scrape by[3], after[3];

	(void)state;
	start_another(&hup, "workers-hup", by);
	assert_int_equal(kill(hup.server_pid, SIGHUP), 0);
	assert_true(wait_log(&hup, "msg=\"supervisor: forwarding SIGHUP\" running=2", 10));
	assert_true(wait_log(&hup, "worker=1 msg=\"config reloaded\"", 10));
	assert_true(wait_log(&hup, "worker=2 msg=\"config reloaded\"", 10));
	assert_true(scrape_both(hup.port, after, 20));
	assert_int_equal(after[1].pid, by[1].pid);
	assert_int_equal(after[2].pid, by[2].pid);
	assert_false(log_has(&hup, "worker died"));
	assert_int_equal(it_finish(&hup), 0);
}

/* TLS: each worker hands the connections it accepts to lws with TLS
 * allowed, so https reaches both workers on the shared port. */
static void test_tls_on_both_workers(void **state)
{
	static char body[65536];
	struct it_env t;
	char pem[300], cert_env[340], key_env[340], cmd[1200];
	const char *extra[] = {WORKERS_ENV, NO_CACHE, cert_env, key_env, NULL};
	bool seen[3] = {false, false, false};

	(void)state;
	it_setup(&t, "workers-tls");
	snprintf(t.redis_sock, sizeof(t.redis_sock), "%s", env.redis_sock);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-days 2 -subj /CN=tickpush-workers -addext subjectAltName=IP:127.0.0.1 "
		 "-keyout '%s/c.key' -out '%s/c.pem' 2>/dev/null", t.dir, t.dir);
	assert_int_equal(system(cmd), 0);
	snprintf(pem, sizeof(pem), "%s/c.pem", t.dir);
	snprintf(cert_env, sizeof(cert_env), "TICKPUSH_TLS_CERT=%s", pem);
	snprintf(key_env, sizeof(key_env), "TICKPUSH_TLS_KEY=%s/c.key", t.dir);
	t.tls_ca = pem;
	it_server_start(&t, extra, false);
	for (double end = it_now() + 20; it_now() < end && !(seen[1] && seen[2]);) {
		long w;

		if (it_https_get(t.port, pem, "/metrics", body, sizeof(body)) != 200)
			continue;
		w = metric_in(body, "tickpush_worker");
		if (w == 1 || w == 2)
			seen[w] = true;
	}
	assert_true(seen[1] && seen[2]);
	assert_int_equal(it_finish(&t), 0);
}

/* cluster = redis with two workers: the workers are instances of one
 * cluster, so every session, on either worker, sees the same epoch and
 * the same seq for the same event (a client may reconnect to the other
 * worker and resume). */
static void test_cluster_workers_share_one_position(void **state)
{
	enum { N = 8 };
	struct itc_session *s = calloc(N, sizeof(*s));
	struct it_env c;
	const char *extra[] = {WORKERS_ENV, NULL};
	struct counted cnt = {0, N, {0, 0, 0}};

	(void)state;
	assert_non_null(s);
	it_setup(&c, "workers-cluster");
	itc_share_redis(&c, &env);
	itc_start(&c, extra);
	assert_true(it_wait(both_ready, &c.port, 20));
	cnt.port = c.port;
	for (int i = 0; i < N; i++) {
		itc_open(&s[i], c.port, NULL);
		itc_subscribe(&s[i], "WKRC", false, NULL, 0);
	}
	assert_true(it_wait(sessions_counted, &cnt, 10));
	assert_true(cnt.per[1] > 0 && cnt.per[2] > 0);
	for (int k = 0; k < 5; k++)
		itc_publish(&c, "WKRC", NULL, 0);
	for (int i = 0; i < N; i++) {
		assert_true(itc_wait_frames(&s[i], 5, 10));
		assert_string_equal(s[i].epoch, s[0].epoch);
		for (size_t f = 0; f < 5; f++) {
			assert_string_equal(s[i].frames[f].id, s[0].frames[f].id);
			assert_true(s[i].frames[f].seq == s[0].frames[f].seq);
		}
	}
	for (int i = 0; i < N; i++)
		itc_close(&s[i]);
	free(s);
	assert_int_equal(it_finish(&c), 0);
}

/* A setup error only a worker finds (a database without a JWT secret):
 * the first workers exit 2, so the supervisor stops and exits 2 too,
 * instead of restarting them forever. */
static void test_workers_that_cannot_start_stop_the_supervisor(void **state)
{
	char log[320], sock[340], *envp[64];
	char *argv[] = {getenv("TICKPUSH_BIN"), NULL};
	double end = it_now() + 20;
	int status = 0;
	size_t n = 0;
	pid_t pid, r = 0;

	(void)state;
	snprintf(log, sizeof(log), "%s/cannot-start.log", env.dir);
	snprintf(sock, sizeof(sock), "TICKPUSH_REDIS_SOCKET=%s", env.redis_sock);
	/* The sanitizer settings of the run, none of its TICKPUSH_ names
	 * (TICKPUSH_BIN is no option), then a database and no JWT secret. */
	for (char **e = environ; *e && n < 50; e++)
		if (strncmp(*e, "TICKPUSH_", 9))
			envp[n++] = *e;
	envp[n++] = (char *)"TICKPUSH_WORKERS=2";
	envp[n++] = (char *)"TICKPUSH_PORT=0";
	envp[n++] = sock;
	envp[n++] = (char *)"DATABASE_URI=postgresql://127.0.0.1:1/none";
	envp[n] = NULL;
	pid = it_spawn(argv, envp, log);
	while (it_now() < end && (r = waitpid(pid, &status, WNOHANG)) == 0)
		usleep(20000);
	if (r != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("the supervisor kept running with workers that cannot start");
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests_reach_both_workers),
		cmocka_unit_test(test_one_worker_is_one_process),
		cmocka_unit_test(test_supervisor_killed_leaves_no_orphans),
		cmocka_unit_test(test_workers_that_cannot_start_stop_the_supervisor),
		cmocka_unit_test(test_sighup_is_forwarded),
		cmocka_unit_test(test_tls_on_both_workers),
		cmocka_unit_test(test_cluster_workers_share_one_position),
		cmocka_unit_test(test_sessions_on_both_workers_then_one_dies),
		cmocka_unit_test(test_sigterm_stops_everything),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
