/*
 * it.c - integration test helpers (see it.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "it.h"
#include "ws_client.h"
#include "test_support.h"

#define TP_IT_TOKEN_MAX 4096

extern char **environ;

double it_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

bool it_wait(bool (*cond)(void *ud), void *ud, double timeout_s)
{
	double end = it_now() + timeout_s;

	do {
		if (cond(ud))
			return true;
		sleep_ms(20);
	} while (it_now() < end);
	return cond(ud);
}

void it_setup(struct it_env *e, const char *name)
{
	char tmpl[256];

	memset(e, 0, sizeof(*e));
	snprintf(tmpl, sizeof(tmpl), "/tmp/tickpush-it-%s-XXXXXX", name);
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		abort();
	}
	snprintf(e->dir, sizeof(e->dir), "%s", tmpl);
	snprintf(e->redis_sock, sizeof(e->redis_sock), "%s/redis.sock", e->dir);
	signal(SIGPIPE, SIG_IGN);
}

static void rm_rf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", dir);
}

void it_teardown(struct it_env *e)
{
	if (e->server_pid > 0)
		it_server_stop(e, SIGKILL, 5);
	if (e->redis_pid > 0)
		it_redis_stop(e, SIGKILL);
	if (!getenv("KEEP_IT_DIR"))
		rm_rf(e->dir);
}

pid_t it_spawn(char *const argv[], char *const envp[], const char *log)
{
	pid_t pid = fork();

	if (pid < 0) {
		perror("fork");
		abort();
	}
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execve(argv[0], argv, envp);
		/* Try PATH for plain names such as redis-server. */
		execvp(argv[0], argv);
		perror("exec");
		_exit(127);
	}
	return pid;
}

/* Is pid traced (strace has attached)? */
static bool traced(pid_t pid)
{
	char path[64], line[128];
	bool yes = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "TracerPid:", 10))
			yes = atoi(line + 10) != 0;
	fclose(f);
	return yes;
}

static void strace_paths(const struct it_env *e, const char *name,
			 char *out, char *log, size_t size)
{
	snprintf(out, size, "%s/%s.strace", e->dir, name);
	snprintf(log, size, "%s/%s.strace.log", e->dir, name);
}

pid_t it_strace_start(const struct it_env *e, const char *syscalls,
		      const char *name)
{
	char out[400], log[400], trace[128], pid[16];
	char a0[] = "/usr/bin/strace", a1[] = "-f", a2[] = "-qq", a3[] = "-c",
	     a4[] = "-e", a6[] = "-o", a8[] = "-p";
	char *const argv[] = {a0, a1, a2, a3, a4, trace, a6, out, a8, pid, NULL};
	pid_t sp;
	double until;

	if (access(a0, X_OK))
		return -1;
	strace_paths(e, name, out, log, sizeof(out));
	snprintf(trace, sizeof(trace), "trace=%s", syscalls);
	snprintf(pid, sizeof(pid), "%d", (int)e->server_pid);
	sp = it_spawn(argv, environ, log);
	for (until = it_now() + 5; !traced(e->server_pid) && it_now() < until;)
		usleep(20000);
	if (!traced(e->server_pid)) {
		kill(sp, SIGKILL);
		waitpid(sp, NULL, 0);
		return -1; /* no ptrace here */
	}
	return sp;
}

long it_strace_calls(const struct it_env *e, pid_t sp, const char *name,
		     const char *syscall)
{
	char out[400], log[400], line[256], sc[64];
	long calls = 0, c;
	FILE *f;

	kill(sp, SIGINT);
	if (waitpid(sp, NULL, 0) != sp)
		return -1;
	strace_paths(e, name, out, log, sizeof(out));
	if (!(f = fopen(out, "r")))
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* "% time seconds usecs/call calls [errors] syscall" */
		char *last = strrchr(line, ' ');

		if (!last || sscanf(last + 1, "%63s", sc) != 1 || strcmp(sc, syscall))
			continue;
		if (sscanf(line, "%*f %*f %*d %ld", &c) == 1)
			calls = c;
	}
	fclose(f);
	return calls;
}

/* ---- the proxy ---- */

#define PROXY_PAIRS 16

static volatile sig_atomic_t proxy_paused;

static void proxy_signal(int sig)
{
	proxy_paused = sig == SIGUSR1;
}

static int unix_socket_at(const char *path, bool listen_there)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0 || strlen(path) >= sizeof(a.sun_path))
		return -1;
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (listen_there ? bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16)
			 : connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* All n bytes on fd; -1 when the peer is gone. A signal (the proxy's)
 * does not cut it short. */
static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Moves what is readable on `from` to `to`; false when either end is gone. */
static bool pass_on(int from, int to)
{
	static char buf[65536];
	ssize_t r = read(from, buf, sizeof(buf));

	if (r < 0 && errno == EINTR)
		return true;
	return r > 0 && send_all(to, buf, (size_t)r) == 0;
}

static void proxy_run(int ls, const char *target)
{
	int client[PROXY_PAIRS], server[PROXY_PAIRS], n = 0;
	struct sigaction sa = {.sa_handler = proxy_signal}; /* no SA_RESTART */

	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	for (;;) {
		struct pollfd p[1 + 2 * PROXY_PAIRS];
		bool paused = proxy_paused;

		p[0] = (struct pollfd){.fd = ls, .events = POLLIN};
		for (int i = 0; i < n; i++) {
			/* Paused: the clients' side is not even polled. */
			p[1 + 2 * i] = (struct pollfd){.fd = paused ? -1 : client[i], .events = POLLIN};
			p[2 + 2 * i] = (struct pollfd){.fd = server[i], .events = POLLIN};
		}
		if (poll(p, (nfds_t)(1 + 2 * n), 1000) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		for (int i = n - 1; i >= 0; i--) {
			bool ok = true;

			if (p[1 + 2 * i].revents)
				ok = pass_on(client[i], server[i]);
			if (ok && p[2 + 2 * i].revents)
				ok = pass_on(server[i], client[i]);
			if (!ok) {
				close(client[i]);
				close(server[i]);
				client[i] = client[--n];
				server[i] = server[n];
			}
		}
		if ((p[0].revents & POLLIN) && n < PROXY_PAIRS) {
			int c = accept(ls, NULL, NULL), s = c >= 0 ? unix_socket_at(target, false) : -1;

			if (s < 0) {
				if (c >= 0)
					close(c);
				continue;
			}
			client[n] = c;
			server[n++] = s;
		}
	}
}

pid_t it_proxy_start(const char *path, const char *target)
{
	int ls;
	pid_t pid;

	unlink(path);
	ls = unix_socket_at(path, true);
	assert_true(ls >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test */
		proxy_run(ls, target);
		_exit(0);
	}
	close(ls);
	return pid;
}

void it_proxy_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int wait_exit(pid_t pid, double timeout_s)
{
	double end = it_now() + timeout_s;
	int status;

	while (it_now() < end) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status)
						 : 128 + WTERMSIG(status);
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static bool redis_up(void *ud)
{
	struct it_env *e = ud;
	char pong[16] = "";

	return it_redis(e, pong, sizeof(pong), "PING") >= 0 && !strcmp(pong, "PONG");
}

void it_redis_start(struct it_env *e)
{
	char log[300], dir[300];
	char a0[] = "redis-server", a1[] = "--port", a2[] = "0",
	     a3[] = "--unixsocket", a5[] = "--unixsocketperm", a6[] = "700",
	     a7[] = "--save", a8[] = "", a9[] = "--appendonly", a10[] = "no",
	     a11[] = "--dir";
	char *argv[] = {a0, a1, a2, a3, e->redis_sock, a5, a6, a7, a8, a9, a10,
			a11, dir, NULL};

	snprintf(dir, sizeof(dir), "%s", e->dir);
	snprintf(log, sizeof(log), "%s/redis.log", e->dir);
	e->redis_pid = it_spawn(argv, environ, log);
	/* Deadlines for process start and stop: generous, for ASan builds on
	 * a loaded CI machine; a pass does not wait them out. */
	if (!it_wait(redis_up, e, 30)) {
		it_dump_logs(e);
		fail_msg("redis-server did not start");
	}
}

void it_redis_stop(struct it_env *e, int sig)
{
	if (e->redis_pid <= 0)
		return;
	kill(e->redis_pid, sig);
	wait_exit(e->redis_pid, 10);
	e->redis_pid = 0;
	unlink(e->redis_sock);
}

static bool read_port(struct it_env *e, const char *path)
{
	FILE *f = fopen(path, "r");
	int port = 0;

	if (!f)
		return false;
	if (fscanf(f, "%d", &port) != 1)
		port = 0;
	fclose(f);
	e->port = port;
	return port > 0;
}

struct ready_ctx {
	struct it_env *e;
	const char *port_file;
	bool need_ready;
};

static bool server_up(void *ud)
{
	struct ready_ctx *c = ud;
	struct it_http_resp r;
	bool ok;

	if (!read_port(c->e, c->port_file))
		return false;
	if (c->e->tls_ca)
		return it_https_get(c->e->port, c->e->tls_ca,
				    c->need_ready ? "/readyz" : "/healthz", NULL, 0) == 200;
	if (it_http(c->e->port, "GET", c->need_ready ? "/readyz" : "/healthz",
		    NULL, NULL, 0, &r))
		return false;
	ok = r.status == 200;
	it_http_free(&r);
	return ok;
}

void it_server_start(struct it_env *e, const char *const *extra_env,
		     bool wait_ready)
{
	it_server_start_args(e, extra_env, NULL, wait_ready);
}

void it_server_start_args(struct it_env *e, const char *const *extra_env,
			  const char *const *args, bool wait_ready)
{
	const char *bin = getenv("TICKPUSH_BIN");
	char log[300], port_file[300];
	char env_sock[340], env_port_file[340];
	char *envp[64];
	size_t n = 0, a = 1;
	char *argv[16];

	if (!bin)
		fail_msg("TICKPUSH_BIN is not set");
	snprintf(port_file, sizeof(port_file), "%s/port", e->dir);
	unlink(port_file);
	snprintf(log, sizeof(log), "%s/server.%d.log", e->dir, ++e->server_runs);
	snprintf(env_sock, sizeof(env_sock), "TICKPUSH_REDIS_SOCKET=%s", e->redis_sock);
	snprintf(env_port_file, sizeof(env_port_file), "TICKPUSH_PORT_FILE=%s", port_file);
	/* Keep the sanitizer settings of the test run. */
	for (char **p = environ; *p && n < 40; p++)
		if (!strncmp(*p, "ASAN_OPTIONS=", 13) || !strncmp(*p, "UBSAN_OPTIONS=", 14) ||
		    !strncmp(*p, "LSAN_OPTIONS=", 13) || !strncmp(*p, "PATH=", 5))
			envp[n++] = *p;
	envp[n++] = env_sock;
	envp[n++] = env_port_file;
	envp[n++] = (char *)"TICKPUSH_PORT=0";
	/* The default level, unless arguments may name a config file whose
	 * log_level a test reloads (the environment would override it). */
	if (!args)
		envp[n++] = (char *)"TICKPUSH_LOG_LEVEL=info";
	for (size_t i = 0; extra_env && extra_env[i] && n < 62; i++)
		envp[n++] = (char *)extra_env[i];
	envp[n] = NULL;
	argv[0] = (char *)bin;
	for (size_t i = 0; args && args[i] && a < 15; i++)
		argv[a++] = (char *)args[i];
	argv[a] = NULL;
	e->server_pid = it_spawn(argv, envp, log);

	struct ready_ctx c = {e, port_file, wait_ready};
	if (!it_wait(server_up, &c, 30)) {
		it_dump_logs(e);
		fail_msg("tickpush did not become %s", wait_ready ? "ready" : "live");
	}
}

int it_server_stop(struct it_env *e, int sig, double timeout_s)
{
	int rc;

	if (e->server_pid <= 0)
		return -1;
	kill(e->server_pid, sig);
	rc = wait_exit(e->server_pid, timeout_s);
	e->server_pid = 0;
	return rc;
}

static void cat_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];

	if (!f)
		return;
	fprintf(stderr, "---- %s ----\n", path);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

void it_dump_logs(const struct it_env *e)
{
	char path[320];

	for (int i = 1; i <= e->server_runs; i++) {
		snprintf(path, sizeof(path), "%s/server.%d.log", e->dir, i);
		cat_file(path);
	}
	snprintf(path, sizeof(path), "%s/redis.log", e->dir);
	cat_file(path);
}

bool it_port_free(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	bool ok;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

int it_connect(int port)
{
	return it_connect_opts(port, NULL, 0);
}

int it_connect_from(int port, const char *src)
{
	return it_connect_opts(port, src, 0);
}

int it_connect_rcvbuf(int port, int rcvbuf)
{
	return it_connect_opts(port, NULL, rcvbuf);
}

int it_connect_opts(int port, const char *src, int rcvbuf)
{
	struct sockaddr_in sa;
	/* Generous: a login (PBKDF2, 600k iterations under ASan) takes
	 * seconds on a loaded 2-core machine; a hung server still fails. */
	struct timeval tv = {30, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (src) {
		/* Any 127.x.y.z is loopback on Linux: bind it as the source. */
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		if (inet_pton(AF_INET, src, &sa.sin_addr) != 1 ||
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			close(fd);
			return -1;
		}
	}
	/* Before connect, so the window scale suits the small buffer: set
	 * afterwards, the peer's data trickles in (a window update per
	 * delayed ACK), which makes a merely small reader very slow. */
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

static char *find_nocase(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return (char *)hay;
	return NULL;
}

int it_http(int port, const char *method, const char *path,
	    const char *extra_headers, const char *body, size_t body_len,
	    struct it_http_resp *out)
{
	return it_http_from(NULL, port, method, path, extra_headers, body,
			    body_len, out);
}

int it_http_from(const char *src, int port, const char *method,
		 const char *path, const char *extra_headers, const char *body,
		 size_t body_len, struct it_http_resp *out)
{
	size_t head_cap = strlen(path) + (extra_headers ? strlen(extra_headers) : 0) + 512;
	char *head = malloc(head_cap);
	char *buf = NULL, *hdr_end;
	size_t len = 0, cap = 0;
	int fd, n;

	memset(out, 0, sizeof(*out));
	fd = it_connect_from(port, src);
	if (fd < 0) {
		free(head);
		return -1;
	}
	n = snprintf(head, head_cap,
		     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s",
		     method, path, port, extra_headers ? extra_headers : "");
	if (body)
		n += snprintf(head + n, head_cap - (size_t)n,
			      "Content-Type: application/json\r\nContent-Length: %zu\r\n",
			      body_len);
	n += snprintf(head + n, head_cap - (size_t)n, "\r\n");
	/* A failed send is not the end: the server may have answered (413,
	 * 431) and closed before reading everything; read what it said. */
	if (!send_all(fd, head, (size_t)n) && body)
		send_all(fd, body, body_len);
	free(head);
	for (;;) {
		ssize_t r;

		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 16384;
			buf = realloc(buf, cap + 1);
		}
		r = recv(fd, buf + len, cap - len, 0);
		if (r < 0) {
			free(buf);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		/* Stop at Content-Length: the server may keep the socket. */
		buf[len] = '\0';
		hdr_end = strstr(buf, "\r\n\r\n");
		if (hdr_end) {
			char *cl = find_nocase(buf, "\r\ncontent-length:");
			if (cl && cl < hdr_end &&
			    len >= (size_t)(hdr_end + 4 - buf) + strtoul(cl + 17, NULL, 10))
				break;
		}
	}
	close(fd);
	if (!buf)
		return -1;
	buf[len] = '\0';
	hdr_end = strstr(buf, "\r\n\r\n");
	if (!hdr_end || sscanf(buf, "HTTP/1.%*d %d", &out->status) != 1) {
		free(buf);
		return -1;
	}
	*hdr_end = '\0';
	out->headers = strdup(buf);
	out->body_len = len - (size_t)(hdr_end + 4 - buf);
	out->body = malloc(out->body_len + 1);
	memcpy(out->body, hdr_end + 4, out->body_len);
	out->body[out->body_len] = '\0';
	free(buf);
	return 0;
}

void it_http_free(struct it_http_resp *r)
{
	free(r->headers);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

cJSON *it_get_json(int port, const char *path, int expect_status)
{
	struct it_http_resp r;
	cJSON *j;

	if (it_http(port, "GET", path, NULL, NULL, 0, &r))
		fail_msg("GET %s: transport error", path);
	if (r.status != expect_status)
		fail_msg("GET %s: status %d, expected %d: %s", path, r.status,
			 expect_status, r.body);
	j = cJSON_Parse(r.body);
	if (!j)
		fail_msg("GET %s: body is not JSON: %s", path, r.body);
	it_http_free(&r);
	return j;
}

long long it_redis(const struct it_env *e, char *out, size_t outlen,
		   const char *fmt, ...)
{
	struct timeval tv = {5, 0};
	redisContext *c = redisConnectUnixWithTimeout(e->redis_sock, tv);
	redisReply *reply;
	long long rc = -1;
	va_list ap;

	if (!c || c->err) {
		redisFree(c);
		return -1;
	}
	redisSetTimeout(c, tv);
	va_start(ap, fmt);
	reply = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (reply) {
		if (reply->type == REDIS_REPLY_INTEGER) {
			rc = reply->integer;
		} else if (reply->type == REDIS_REPLY_STRING ||
			   reply->type == REDIS_REPLY_STATUS) {
			rc = (long long)reply->len;
			if (out)
				snprintf(out, outlen, "%s", reply->str);
		} else if (reply->type == REDIS_REPLY_NIL) {
			rc = 0;
			if (out && outlen)
				out[0] = '\0';
		} else if (reply->type == REDIS_REPLY_ARRAY) {
			rc = (long long)reply->elements;
		}
		freeReplyObject(reply);
	}
	redisFree(c);
	return rc;
}

long long it_publish(const struct it_env *e, const char *channel,
		     const char *payload)
{
	return it_redis(e, NULL, 0, "PUBLISH %s %s", channel, payload);
}

int it_publish_burst(const struct it_env *e, const char *channel, unsigned n,
		     it_event_fn *make, void *ud)
{
	struct timeval tv = {30, 0};
	redisContext *c = redisConnectUnixWithTimeout(e->redis_sock, tv);
	redisReply *r;
	int rc = 0;

	if (!c || c->err) {
		redisFree(c);
		return -1;
	}
	redisSetTimeout(c, tv);
	for (unsigned i = 0; i < n; i++) {
		char *ev = make(i, ud);

		redisAppendCommand(c, "PUBLISH %s %s", channel, ev);
		free(ev);
	}
	for (unsigned i = 0; i < n; i++) {
		if (redisGetReply(c, (void **)&r) != REDIS_OK) {
			rc = -1;
			break;
		}
		freeReplyObject(r);
	}
	redisFree(c);
	return rc;
}

double it_json_number(int port, const char *path, const char *member_path)
{
	cJSON *root = it_get_json(port, path, 200), *node = root;
	char buf[256], *save = NULL, *tok;
	double v = -1;

	snprintf(buf, sizeof(buf), "%s", member_path);
	for (tok = strtok_r(buf, ".", &save); tok && node;
	     tok = strtok_r(NULL, ".", &save))
		node = cJSON_GetObjectItemCaseSensitive(node, tok);
	if (node && cJSON_IsNumber(node))
		v = node->valuedouble;
	cJSON_Delete(root);
	return v;
}

double it_metric(int port, const char *name)
{
	struct it_http_resp r;
	char needle[160];
	const char *p;
	double v = -1;

	if (it_http(port, "GET", "/metrics", NULL, NULL, 0, &r))
		fail_msg("GET /metrics: transport error");
	snprintf(needle, sizeof(needle), "\n%s ", name);
	if ((p = strstr(r.body, needle)))
		v = strtod(p + strlen(needle), NULL);
	it_http_free(&r);
	return v;
}

const char *it_json_str(const cJSON *j, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}

double it_json_num(const cJSON *j, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

int it_call(int port, const char *method, const char *path, const char *token,
	    const char *body, cJSON **json)
{
	char hdr[TP_IT_TOKEN_MAX + 64] = "";
	struct it_http_resp r;
	int status;

	if (token)
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", token);
	if (it_http(port, method, path, hdr, body, body ? strlen(body) : 0, &r))
		fail_msg("%s %s: transport error", method, path);
	status = r.status;
	if (json) {
		*json = cJSON_Parse(r.body);
		if (!*json)
			fail_msg("%s %s: not JSON: %s", method, path, r.body);
	}
	it_http_free(&r);
	return status;
}

int it_finish(struct it_env *e)
{
	int rc = it_server_stop(e, SIGTERM, 30);

	if (rc != 0)
		it_dump_logs(e);
	it_teardown(e);
	return rc == 0 ? 0 : -1;
}

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

size_t it_sse_pattern_ids(int fd, char *ids, size_t id_size, size_t max,
			  size_t want, double quiet, int *gaps)
{
	static char buf[1 << 20];
	size_t len = 0, n = 0;
	double now = it_now(), end = now + quiet, limit = now + IT_SSE_WAIT_MAX;
	struct timeval tv = {0, 100000};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (len < sizeof(buf) - 1) {
		ssize_t r;

		if (it_now() >= end) {
			/* Quiet, but a slow server may still be on its way to
			 * the events expected: only a hard limit ends that. */
			buf[len] = '\0';
			if (count_str(buf, "event: pattern\n") >= want || it_now() >= limit)
				break;
			end = it_now() + quiet;
		}
		r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (r > 0) {
			len += (size_t)r;
			end = it_now() + quiet;
		} else if (r == 0) {
			break;
		}
	}
	buf[len] = '\0';
	if (gaps)
		*gaps = (int)count_str(buf, "event: gap\n");
	for (char *p = buf; (p = strstr(p, "event: pattern\ndata: ")); ) {
		char *data = p + 21, *nl = strchr(data, '\n');
		cJSON *j;

		if (!nl)
			break;
		*nl = '\0';
		j = cJSON_Parse(data);
		if (j && n < max)
			snprintf(ids + n++ * id_size, id_size, "%s",
				 it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "id"));
		cJSON_Delete(j);
		p = nl + 1;
	}
	return n;
}

int it_read_head(int fd, double timeout_s)
{
	char head[8192];
	size_t len = 0;
	double end = it_now() + timeout_s;
	struct timeval tv = {0, 100000};
	int status;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* A byte at a time: what follows the head stays in the socket. */
	while (len < sizeof(head) - 1 && it_now() < end) {
		ssize_t r = recv(fd, head + len, 1, 0);

		if (r == 0)
			return -1;
		if (r < 0)
			continue;
		head[++len] = '\0';
		if (len >= 4 && !memcmp(head + len - 4, "\r\n\r\n", 4))
			return sscanf(head, "HTTP/1.%*d %d", &status) == 1 ? status : -1;
	}
	return -1;
}
