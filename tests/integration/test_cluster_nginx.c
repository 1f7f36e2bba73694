/*
 * test_cluster_nginx.c - one Redis, three tickpush instances (cluster =
 * redis) and a private nginx in front of them (Debian package nginx, its
 * own prefix and config in the test dir, daemon off, a port in
 * 21400..21499), as docs/deploy.md "Several instances" describes.
 *
 * Sessions subscribed through nginx receive exactly their events; the
 * instance holding a session is SIGKILLed; while it is dead more events
 * are published; every session it held reconnects through nginx (which
 * sends it to another instance) and resumes with `since`: exactly the
 * missed matching events, no gap, no duplicate; the sessions on the other
 * instances got the events published meanwhile live: nothing is lost.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "it_cluster.h"
#include "test_support.h"

#define N_INST 3
#define N_SESS 6
#define MAX_IDS 64

static struct it_env inst[N_INST];
static char nginx_dir[300];
static pid_t nginx_pid;
static int nginx_port;

static const char *nginx_bin(void)
{
	return access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" : "nginx";
}

static void write_conf(void)
{
	char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/nginx.conf", nginx_dir);
	f = fopen(path, "w");
	if (!f)
		fail_msg("cannot write %s", path);
	/* As root the workers would run as nobody, who cannot enter the
	 * test dir (0700). */
	if (geteuid() == 0)
		fprintf(f, "user root;\n");
	fprintf(f,
		"daemon off;\n"
		"worker_processes 1;\n"
		"pid %1$s/nginx.pid;\n"
		"error_log %1$s/nginx-error.log info;\n"
		"events { worker_connections 512; }\n"
		"http {\n"
		"  access_log %1$s/nginx-access.log;\n"
		"  client_body_temp_path %1$s/tmp-body;\n"
		"  proxy_temp_path %1$s/tmp-proxy;\n"
		"  fastcgi_temp_path %1$s/tmp-fcgi;\n"
		"  uwsgi_temp_path %1$s/tmp-uwsgi;\n"
		"  scgi_temp_path %1$s/tmp-scgi;\n"
		"  map $http_upgrade $connection_upgrade { default upgrade; '' close; }\n"
		"  upstream tickpush {\n"
		"    server 127.0.0.1:%2$d max_fails=1 fail_timeout=10s;\n"
		"    server 127.0.0.1:%3$d max_fails=1 fail_timeout=10s;\n"
		"    server 127.0.0.1:%4$d max_fails=1 fail_timeout=10s;\n"
		"  }\n"
		"  server {\n"
		"    listen 127.0.0.1:%5$d;\n"
		"    location / {\n"
		"      proxy_pass http://tickpush;\n"
		"      proxy_http_version 1.1;\n"
		"      proxy_set_header Upgrade $http_upgrade;\n"
		"      proxy_set_header Connection $connection_upgrade;\n"
		"      proxy_set_header Host $host;\n"
		"      proxy_connect_timeout 2s;\n"
		"      proxy_read_timeout 1h;\n"
		"      proxy_buffering off;\n"
		"      proxy_next_upstream error timeout;\n"
		"    }\n"
		"  }\n"
		"}\n",
		nginx_dir, inst[0].port, inst[1].port, inst[2].port, nginx_port);
	fclose(f);
}

static bool nginx_up(void *ud)
{
	struct it_http_resp r;
	bool ok;

	(void)ud;
	if (it_http(nginx_port, "GET", "/healthz", NULL, NULL, 0, &r))
		return false;
	ok = r.status == 200;
	it_http_free(&r);
	return ok;
}

static void dump_nginx(void)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "cat '%s/nginx-error.log' >&2", nginx_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "(no nginx log)\n");
}

static void start_nginx(void)
{
	char conf[400], log[400], prefix[320];

	snprintf(nginx_dir, sizeof(nginx_dir), "%s/nginx", inst[0].dir);
	mkdir(nginx_dir, 0700);
	for (nginx_port = 21400; nginx_port < 21500 && !it_port_free(nginx_port); nginx_port++)
		;
	if (nginx_port == 21500)
		fail_msg("no free port in 21400..21499");
	write_conf();
	snprintf(conf, sizeof(conf), "%s/nginx.conf", nginx_dir);
	snprintf(log, sizeof(log), "%s/nginx-error.log", nginx_dir);
	snprintf(prefix, sizeof(prefix), "%s/", nginx_dir);
	nginx_pid = fork();
	if (nginx_pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp(nginx_bin(), "nginx", "-p", prefix, "-c", conf, "-e", log,
		       (char *)NULL);
		_exit(127);
	}
	if (!it_wait(nginx_up, NULL, 10)) {
		dump_nginx();
		fail_msg("nginx did not start on port %d", nginx_port);
	}
}

static void stop_nginx(void)
{
	int st;

	if (nginx_pid <= 0)
		return;
	kill(nginx_pid, SIGQUIT);
	for (int i = 0; i < 500 && waitpid(nginx_pid, &st, WNOHANG) == 0; i++)
		usleep(10000);
	if (waitpid(nginx_pid, &st, WNOHANG) == 0) {
		kill(nginx_pid, SIGKILL);
		waitpid(nginx_pid, &st, 0);
	}
	nginx_pid = 0;
}

static int setup(void **state)
{
	(void)state;
	for (int i = 0; i < N_INST; i++) {
		char name[32];

		snprintf(name, sizeof(name), "nginx-%d", i);
		it_setup(&inst[i], name);
		if (i)
			itc_share_redis(&inst[i], &inst[0]);
		else
			it_redis_start(&inst[0]);
	}
	for (int i = 0; i < N_INST; i++)
		itc_start(&inst[i], NULL);
	start_nginx();
	return 0;
}

static int teardown(void **state)
{
	int rc = 0;

	(void)state;
	stop_nginx();
	for (int i = N_INST - 1; i >= 0; i--)
		if (it_finish(&inst[i]))
			rc = -1;
	return rc;
}

/* Published ids per symbol, in order. */
struct expect {
	char sym[8];
	char ids[MAX_IDS][96];
	size_t n;
};

static struct expect want[N_SESS];

static void publish_round(void)
{
	for (int k = 0; k < N_SESS; k++) {
		struct expect *w = &want[k];

		if (w->n >= MAX_IDS)
			fail_msg("too many events");
		itc_publish(&inst[0], w->sym, w->ids[w->n], sizeof(w->ids[0]));
		w->n++;
	}
}

static double sessions_on(int i)
{
	return it_metric(inst[i].port, "tickpush_ws_sessions");
}

/* Which instance took the session just opened: the one whose session
 * count grew. */
static int holder(const double *before)
{
	for (double end = it_now() + 20; it_now() < end;) {
		for (int i = 0; i < N_INST; i++)
			if (sessions_on(i) > before[i])
				return i;
		usleep(20000);
	}
	fail_msg("no instance counts the new session");
	return -1;
}

/* frames of a and then b (a resumed session) are exactly w's ids. */
static void expect_exactly(const struct expect *w, const struct itc_session *a,
			   const struct itc_session *b)
{
	size_t n = a->n + (b ? b->n : 0);

	if (n != w->n)
		fail_msg("%s: %zu frames, %zu events published", w->sym, n, w->n);
	for (size_t i = 0; i < w->n; i++) {
		const struct itc_frame *f = i < a->n ? &a->frames[i] : &b->frames[i - a->n];

		if (strcmp(f->type, "pattern") || strcmp(f->id, w->ids[i]))
			fail_msg("%s: frame %zu is %s %s, want pattern %s", w->sym, i,
				 f->type, f->id, w->ids[i]);
		if (i && f->seq <= (i - 1 < a->n ? a->frames[i - 1].seq
						 : b->frames[i - 1 - a->n].seq))
			fail_msg("%s: seq not increasing at frame %zu", w->sym, i);
	}
}

static void test_three_instances_behind_nginx(void **state)
{
	static struct itc_session sess[N_SESS], resumed[N_SESS];
	bool moved[N_SESS] = {false};
	int where[N_SESS], victim, n_moved = 0;
	double before[N_INST];

	(void)state;
	for (int k = 0; k < N_SESS; k++) {
		snprintf(want[k].sym, sizeof(want[k].sym), "NG%d", k);
		for (int i = 0; i < N_INST; i++)
			before[i] = sessions_on(i);
		itc_open(&sess[k], nginx_port, NULL);
		where[k] = holder(before);
		itc_subscribe(&sess[k], want[k].sym, false, NULL, 0);
	}
	/* Every session receives exactly its events. */
	for (int r = 0; r < 3; r++)
		publish_round();
	for (int k = 0; k < N_SESS; k++) {
		if (!itc_wait_frames(&sess[k], want[k].n, 10))
			fail_msg("session %d: %zu of %zu frames", k, sess[k].n, want[k].n);
		itc_collect(&sess[k], 0.2);
		expect_exactly(&want[k], &sess[k], NULL);
	}

	/* The instance holding session 0 dies; events go on being published. */
	victim = where[0];
	assert_int_equal(it_server_stop(&inst[victim], SIGKILL, 5), 128 + SIGKILL);
	for (int r = 0; r < 3; r++)
		publish_round();

	for (int k = 0; k < N_SESS; k++) {
		itc_collect(&sess[k], 1.0);
		/* nginx ends the client's connection once it sees the dead
		 * upstream's: not necessarily within that second. */
		for (double end = it_now() + 20;
		     where[k] == victim && !sess[k].ws.closed && it_now() < end;)
			itc_collect(&sess[k], 0.2);
		if (where[k] == victim) {
			/* Its connection ended: reconnect through nginx, resume. */
			assert_true(sess[k].ws.closed);
			moved[k] = true;
			n_moved++;
			itc_open(&resumed[k], nginx_port, NULL);
			assert_string_equal(resumed[k].epoch, sess[k].epoch);
			itc_subscribe(&resumed[k], want[k].sym, true, sess[k].epoch,
				      sess[k].seq);
			assert_true(resumed[k].recovered);
			if (!itc_wait_frames(&resumed[k], want[k].n - sess[k].n, 10))
				fail_msg("session %d resumed: %zu frames, %zu missed", k,
					 resumed[k].n, want[k].n - sess[k].n);
			itc_collect(&resumed[k], 0.3);
			assert_int_equal(resumed[k].gaps, 0);
		} else {
			assert_false(sess[k].ws.closed);
		}
	}
	assert_true(n_moved >= 1);
	/* One more round reaches everyone, moved or not. */
	publish_round();
	for (int k = 0; k < N_SESS; k++) {
		struct itc_session *live = moved[k] ? &resumed[k] : &sess[k];
		size_t total = want[k].n - (moved[k] ? sess[k].n : 0);

		if (!itc_wait_frames(live, total, 10))
			fail_msg("session %d: %zu of %zu frames after the kill", k,
				 live->n, total);
		itc_collect(live, 0.2);
		assert_int_equal(live->gaps, 0);
		expect_exactly(&want[k], &sess[k], moved[k] ? &resumed[k] : NULL);
	}
	for (int k = 0; k < N_SESS; k++) {
		itc_close(&sess[k]);
		if (moved[k])
			itc_close(&resumed[k]);
	}
	/* The dead one comes back and catches up (the teardown stops it). */
	itc_start(&inst[victim], NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_three_instances_behind_nginx),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
