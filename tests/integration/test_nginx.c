/*
 * test_nginx.c - tickpush behind nginx with exactly the configuration of
 * docs/deploy.md "Behind nginx": the test reads it from the page and
 * changes only the listen ports (two free ones from 21500 up, for 443
 * and 80), the upstream port and the certificate paths (a certificate made here with
 * the openssl tool). nginx runs as a private instance (its own prefix,
 * config, logs and pid under the test's folder, `daemon off`).
 *
 * The clients speak plain HTTP to a small TLS bridge (a forked child of
 * this test on a port the kernel picks) that opens a TLS connection to nginx for each one,
 * verifying nginx's certificate, from the same source address the client
 * used (127.0.0.x), so nginx sees several clients. Through it: REST, a
 * WebSocket session that gets a pushed event, an SSE stream that gets it
 * at once (no buffering), a long-poll, the 80 -> 443 redirect, and the
 * login limit keyed on the address nginx forwards (two clients do not
 * share a bucket; an X-Forwarded-For a client writes itself changes
 * nothing).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/ssl.h>

#include "it.h"
#include "test_support.h"
#include "ws_client.h"

/* Chosen at setup: free ports, not fixed ones, so two runs of this test
 * on one machine (two checkouts, two CI jobs) neither collide nor, worse,
 * talk to each other's nginx. */
static int https_port, http_port, bridge_port;

static struct it_env env;
static pid_t nginx_pid = -1, bridge_pid = -1;
static char cert[400], key[400];

/* ---- the configuration from the page ---- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		fail_msg("cannot read %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* Replaces the one occurrence of from (fails when absent); s is malloc'd. */
static char *replace(char *s, const char *from, const char *to)
{
	char *at = strstr(s, from), *out;

	if (!at)
		fail_msg("deploy.md's nginx config has no \"%s\"", from);
	out = malloc(strlen(s) - strlen(from) + strlen(to) + 1);
	sprintf(out, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
	free(s);
	return out;
}

static char *config_from_docs(void)
{
	const char *src = getenv("TP_SOURCE_DIR");
	char path[512], port[64], line[512];
	char *doc, *begin, *end, *conf;

	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/docs/deploy.md", src);
	doc = slurp(path);
	begin = strstr(doc, "<!-- nginx:begin -->\n```nginx\n");
	assert_non_null(begin);
	begin += strlen("<!-- nginx:begin -->\n```nginx\n");
	end = strstr(begin, "```\n<!-- nginx:end -->");
	assert_non_null(end);
	conf = strndup(begin, (size_t)(end - begin));
	free(doc);
	snprintf(line, sizeof(line), "listen 127.0.0.1:%d ssl;", https_port);
	conf = replace(conf, "listen 443 ssl;", line);
	snprintf(line, sizeof(line), "listen 127.0.0.1:%d;", http_port);
	conf = replace(conf, "listen 80;", line);
	snprintf(port, sizeof(port), "server 127.0.0.1:%d;", env.port);
	conf = replace(conf, "server 127.0.0.1:8080;", port);
	conf = replace(conf, "/etc/ssl/tickpush/fullchain.pem", cert);
	return replace(conf, "/etc/ssl/tickpush/privkey.pem", key);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* ---- nginx ---- */

static bool port_open(void *ud)
{
	int fd = it_connect(*(int *)ud);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Two free ports for nginx: 443 and 80. */
static void pick_ports(void)
{
	for (https_port = 21500; https_port < 21600; https_port += 2)
		if (it_port_free(https_port) && it_port_free(https_port + 1))
			break;
	if (https_port >= 21600)
		fail_msg("no two free ports in 21500..21599");
	http_port = https_port + 1;
}

/* Our nginx listens (not merely someone on the port): its pid file is
 * written only once it has bound its ports. */
static bool nginx_listening(void *ud)
{
	char pid[400];

	snprintf(pid, sizeof(pid), "%s/nginx.pid", env.dir);
	return access(pid, F_OK) == 0 && port_open(ud);
}

static void start_nginx(void)
{
	char path[400], conf[4096], errlog[400], prefix[400];
	int n;
	char *site = config_from_docs();
	int port = https_port;

	snprintf(path, sizeof(path), "%s/tickpush.conf", env.dir);
	write_file(path, site);
	free(site);
	n = snprintf(conf, sizeof(conf),
		 "%s"
		 "worker_processes 1;\n"
		 "error_log %s/nginx-error.log warn;\n"
		 "pid %s/nginx.pid;\n"
		 "events { worker_connections 256; }\n"
		 "http {\n"
		 "  access_log %s/nginx-access.log;\n"
		 "  client_body_temp_path %s/ngx-body;\n"
		 "  proxy_temp_path %s/ngx-proxy;\n"
		 "  fastcgi_temp_path %s/ngx-fastcgi;\n"
		 "  uwsgi_temp_path %s/ngx-uwsgi;\n"
		 "  scgi_temp_path %s/ngx-scgi;\n"
		 "  include %s/tickpush.conf;\n"
		 "}\n",
		 geteuid() == 0 ? "user root;\n" : "", env.dir, env.dir, env.dir, env.dir,
		 env.dir, env.dir, env.dir, env.dir, env.dir);
	assert_true(n > 0 && (size_t)n < sizeof(conf));
	snprintf(path, sizeof(path), "%s/nginx.conf", env.dir);
	write_file(path, conf);
	snprintf(errlog, sizeof(errlog), "%s/nginx-error.log", env.dir);
	snprintf(prefix, sizeof(prefix), "%s/", env.dir);
	nginx_pid = fork();
	assert_true(nginx_pid >= 0);
	if (nginx_pid == 0) {
		const char *bin = getenv("TP_NGINX") ? getenv("TP_NGINX") : "nginx";

		execlp(bin, "nginx", "-p", prefix, "-c", path, "-e", errlog, "-g",
		       "daemon off;", (char *)NULL);
		_exit(127);
	}
	if (!it_wait(nginx_listening, &port, 15)) {
		char *log = slurp(errlog);

		fail_msg("nginx did not listen on %d: %s", https_port, log);
	}
}

/* ---- the TLS bridge: plain client <-> TLS to nginx ---- */

static int pump(int plain, SSL *ssl)
{
	char buf[16384];
	int tfd = SSL_get_fd(ssl);

	for (;;) {
		struct pollfd p[2] = {{plain, POLLIN, 0}, {tfd, POLLIN, 0}};
		int n;

		if (!SSL_pending(ssl) && poll(p, 2, 60000) <= 0)
			return 0;
		if (SSL_pending(ssl) || (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			n = SSL_read(ssl, buf, sizeof(buf));
			/* Without AUTO_RETRY, records that carry no data (TLS 1.3
			 * session tickets) come back as WANT_READ instead of a
			 * read that blocks while the client waits for us. */
			if (n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_WANT_READ)
				continue;
			if (n <= 0)
				return 0;
			if (send(plain, buf, (size_t)n, MSG_NOSIGNAL) != n)
				return 0;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = (int)recv(plain, buf, sizeof(buf), 0);
			if (n <= 0 || SSL_write(ssl, buf, n) != n)
				return 0;
		}
	}
}

/* One client: connect to nginx from the client's own address, TLS with
 * the certificate checked, then pump both ways until either side ends. */
static void bridge_one(int plain, SSL_CTX *ctx)
{
	struct sockaddr_in src, dst = {0};
	socklen_t sl = sizeof(src);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	SSL *ssl;

	getpeername(plain, (struct sockaddr *)&src, &sl);
	src.sin_port = 0;
	dst.sin_family = AF_INET;
	dst.sin_port = htons(https_port);
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)))
		_exit(1);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, "localhost");
	SSL_set1_host(ssl, "localhost");
	if (SSL_connect(ssl) != 1 || SSL_get_verify_result(ssl) != X509_V_OK)
		_exit(2);
	pump(plain, ssl);
	SSL_shutdown(ssl);
	_exit(0);
}

static void start_bridge(void)
{
	struct sockaddr_in a = {0};
	socklen_t alen = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_family = AF_INET;
	a.sin_port = 0; /* any free one */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 64) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen))
		fail_msg("bridge: cannot listen: %s", strerror(errno));
	port = bridge_port = ntohs(a.sin_port);
	bridge_pid = fork();
	assert_true(bridge_pid >= 0);
	if (bridge_pid == 0) {
		SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

		setpgid(0, 0); /* its children go with it */
		signal(SIGCHLD, SIG_IGN);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
		if (SSL_CTX_load_verify_locations(ctx, cert, NULL) != 1)
			_exit(3);
		for (;;) {
			int c = accept(lfd, NULL, NULL);

			if (c < 0)
				continue;
			if (fork() == 0) {
				close(lfd);
				bridge_one(c, ctx);
			}
			close(c);
		}
	}
	close(lfd);
	assert_true(it_wait(port_open, &port, 5));
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	const char *extra[] = {
		"TICKPUSH_TRUSTED_PROXIES=127.0.0.1",
		"TICKPUSH_LOGIN_BURST=2", "TICKPUSH_LOGIN_RATE=0.001",
		"TICKPUSH_LOGIN_ACCOUNT_BURST=1000", NULL,
	};
	char cmd[1200];

	(void)state;
	it_setup(&env, "nginx");
	it_redis_start(&env);
	it_server_start(&env, extra, true);
	snprintf(cert, sizeof(cert), "%s/cert.pem", env.dir);
	snprintf(key, sizeof(key), "%s/key.pem", env.dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
		 "-addext subjectAltName=DNS:localhost -keyout '%s' -out '%s' 2>/dev/null",
		 key, cert);
	assert_int_equal(system(cmd), 0);
	pick_ports();
	start_nginx();
	start_bridge();
	return 0;
}

static int stop(pid_t pid, int sig)
{
	int status = 0;

	if (pid <= 0)
		return 0;
	kill(pid, sig);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static int teardown(void **state)
{
	int rc;

	(void)state;
	if (bridge_pid > 0)
		kill(-bridge_pid, SIGTERM); /* the bridge's own process group */
	stop(bridge_pid, SIGTERM);
	rc = stop(nginx_pid, SIGQUIT); /* graceful */
	if (rc)
		fprintf(stderr, "nginx exited with status %d\n", rc);
	return it_finish(&env);
}

/* ---- through nginx ---- */

static int call(const char *src, const char *method, const char *path,
		const char *headers, const char *body, struct it_http_resp *r)
{
	if (it_http_from(src, bridge_port, method, path, headers, body,
			 body ? strlen(body) : 0, r))
		fail_msg("%s %s through nginx: transport error", method, path);
	return r->status;
}

static void test_rest(void **state)
{
	struct it_http_resp r;
	cJSON *j;

	(void)state;
	assert_int_equal(call(NULL, "GET", "/api/patterns/scan?symbols=AAPL", NULL, NULL, &r), 200);
	j = cJSON_Parse(r.body);
	assert_non_null(j);
	assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "patterns")));
	cJSON_Delete(j);
	assert_non_null(strstr(r.headers, "cache-control: no-store"));
	it_http_free(&r);
	/* Our JSON errors come through as they are. */
	assert_int_equal(call(NULL, "GET", "/api/nope", NULL, NULL, &r), 404);
	assert_non_null(strstr(r.body, "\"error\""));
	it_http_free(&r);
	/* Plain HTTP on "80" is sent to https. */
	assert_int_equal(it_http(http_port, "GET", "/api/health", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 301);
	assert_non_null(strstr(r.headers, "https://"));
	it_http_free(&r);
}

static char *event_for(const char *symbol)
{
	static char ev[512];

	snprintf(ev, sizeof(ev),
		 "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"%s\","
		 "\"pattern\":\"Doji\",\"confidence\":0.9,\"timestamp\":%lld}}",
		 symbol, (long long)time(NULL));
	return ev;
}

static void test_websocket_push(void **state)
{
	struct it_ws ws;
	cJSON *j;

	(void)state;
	if (it_ws_follow(&ws, bridge_port, "NGXW", 0))
		fail_msg("WebSocket through nginx: %d %s", ws.http_status, ws.http_body);
	assert_true(it_publish(&env, "tickstock.events.patterns", event_for("NGXW")) >= 1);
	j = it_ws_wait_type(&ws, "pattern", 10);
	assert_non_null(j);
	assert_string_equal(it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "symbol"),
			    "NGXW");
	cJSON_Delete(j);
	it_ws_close(&ws);
}

/* Reads from fd into buf until needle shows up or timeout_s passes. */
static bool read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle,
		       double timeout_s)
{
	double end = it_now() + timeout_s;

	while (!strstr(buf, needle)) {
		struct pollfd p = {fd, POLLIN, 0};
		double left = end - it_now();
		ssize_t n;

		if (left <= 0 || *len + 1 >= cap || poll(&p, 1, (int)(left * 1000)) <= 0)
			return false;
		n = recv(fd, buf + *len, cap - *len - 1, 0);
		if (n <= 0)
			return false;
		*len += (size_t)n;
		buf[*len] = '\0';
	}
	return true;
}

static void test_sse_unbuffered(void **state)
{
	static const char req[] = "GET /api/stream?symbols=NGXS&confidence_min=0 HTTP/1.1\r\n"
				  "Host: localhost\r\nAccept: text/event-stream\r\n\r\n";
	char buf[16384] = "";
	size_t len = 0;
	int fd = it_connect(bridge_port);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(req) - 1);
	/* The head and the "subscribed" event come before any pattern. */
	if (!read_until(fd, buf, sizeof(buf), &len, "event: subscribed", 10))
		fail_msg("no subscribed event through nginx: %s", buf);
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	assert_non_null(strstr(buf, "text/event-stream"));
	assert_true(it_publish(&env, "tickstock.events.patterns", event_for("NGXS")) >= 1);
	/* Unbuffered: the event arrives while the stream stays open (a
	 * buffering proxy holds it until the stream ends, which it never
	 * does here: a generous wait still tells). */
	if (!read_until(fd, buf, sizeof(buf), &len, "event: pattern", 20))
		fail_msg("the pattern did not come through nginx at once: %s", buf);
	assert_non_null(strstr(buf, "NGXS"));
	close(fd);
}

static void test_long_poll(void **state)
{
	struct it_http_resp r;
	double t0 = it_now();

	(void)state;
	assert_int_equal(call(NULL, "GET", "/api/patterns/poll?symbols=NGXP&timeout=2", NULL,
			      NULL, &r), 200);
	assert_true(it_now() - t0 >= 1.5); /* held by tickpush, not cut by nginx */
	assert_non_null(strstr(r.body, "\"events\""));
	it_http_free(&r);
}

static int login(const char *src, const char *headers)
{
	static const char body[] = "{\"username\":\"demo\",\"password\":\"guess\"}";
	struct it_http_resp r;
	int status = call(src, "POST", "/api/auth/login", headers, body, &r);

	if (status != 503 && status != 429)
		fail_msg("login from %s: %d %s", src, status, r.body);
	it_http_free(&r);
	return status;
}

static void test_login_limit_per_forwarded_client(void **state)
{
	(void)state;
	/* Client .2 spends its two attempts... */
	assert_int_equal(login("127.0.0.2", NULL), 503);
	assert_int_equal(login("127.0.0.2", NULL), 503);
	assert_int_equal(login("127.0.0.2", NULL), 429);
	/* ...client .3, through the same nginx, has its own... */
	assert_int_equal(login("127.0.0.3", NULL), 503);
	/* ...and client .4 claiming to be a fresh address, or to be .3,
	 * is still .4 (nginx appends the address it saw). */
	assert_int_equal(login("127.0.0.4", "X-Forwarded-For: 198.51.100.7\r\n"), 503);
	assert_int_equal(login("127.0.0.4", "X-Forwarded-For: 198.51.100.8\r\n"), 503);
	assert_int_equal(login("127.0.0.4", "X-Forwarded-For: 127.0.0.3\r\n"), 429);
	assert_int_equal(login("127.0.0.3", NULL), 503);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rest),
		cmocka_unit_test(test_websocket_push),
		cmocka_unit_test(test_sse_unbuffered),
		cmocka_unit_test(test_long_poll),
		cmocka_unit_test(test_login_limit_per_forwarded_client),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
