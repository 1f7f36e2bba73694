/*
 * test_tls.c - TLS on the listener and SIGHUP reload, against a real
 * tickpush and redis-server (no database), with certificates generated
 * here by the openssl command.
 *
 * What it proves:
 *  - curl gets /healthz over https, verifying the certificate (CA file and
 *    the address 127.0.0.1); TLS 1.1 is refused; plain HTTP on the TLS
 *    port is refused (tls_plain_http refuse) or answered with a 301 to
 *    https (tls_plain_http redirect, a second server, with two workers);
 *  - a wss client (OpenSSL, verifying) subscribes and gets pushed events:
 *    a burst larger than the socket buffers reaches a reader with a small
 *    receive buffer that starts late (its socket refused bytes: megabytes
 *    waited in its queue), every frame whole and in order;
 *  - client frames over wss are read and checked by tickpush (a message
 *    of several TLS records is answered, an unmasked frame closes 1002);
 *  - SSE over https gets pushed events; --check-config refuses a key that
 *    does not match the certificate;
 *  - SIGHUP with a new certificate (files replaced in place): a new
 *    connection gets the new certificate, a wss session opened before
 *    keeps receiving;
 *  - SIGHUP with a bad value: refused (logged naming the option, counted),
 *    the running configuration stays, the server serves on;
 *  - SIGHUP changing log_level (debug lines appear) and jwt_secret: tokens
 *    of the previous secret still verify within jwt_previous_grace, tokens
 *    of the new one verify, others do not, a login (PostgreSQL with the
 *    sample accounts) gets a token signed with the new secret; a later
 *    rotation with a grace of 0 ends the previous secret at once; then
 *    log_format json applies to the next lines.
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
#include "it_pg.h"
#include "test_support.h"
#include "tickpush/buf.h"
#include "tickpush/jwt.h"
#include "ws_client.h"

#define CHANNEL "tickstock.events.patterns"
#define SECRET1 "0123456789abcdef0123456789abcdef"
#define SECRET2 "fedcba9876543210fedcba9876543210"
#define SECRET3 "a-third-secret-of-32-bytes-or-more"
/* A slow reader's queue may hold a whole burst (not cut with 4008). */
#define BASE_CONF "ws_queue_max_bytes 33554432\n"

static struct it_env env;   /* TLS, refuse plain HTTP, --config file */
static struct it_env redir; /* TLS, redirect plain HTTP */
static char conf[300], cert[300], key[300], trust[300];
static char fp_a[100], fp_b[100];
static char db_env[640];      /* DATABASE_URI=... (accounts: logins, tokens) */
static long long demo_id;     /* the sample account demo/demo */
static double ts_base;

/* ---- helpers ---- */

static void run(const char *cmd)
{
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

/* A self-signed EC certificate for 127.0.0.1 in dir/<name>.pem + .key. */
static void make_cert(const char *dir, const char *name)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-days 2 -subj /CN=tickpush-test-%s -addext subjectAltName=IP:127.0.0.1 "
		 "-keyout '%s/%s.key' -out '%s/%s.pem' 2>/dev/null",
		 name, dir, name, dir, name);
	run(cmd);
}

static void fingerprint_of(const char *pem, char *out, size_t n)
{
	char cmd[600], line[300], *eq;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -fingerprint -sha256 -in '%s'", pem);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	pclose(p);
	line[strcspn(line, "\n")] = '\0';
	eq = strchr(line, '=');
	assert_non_null(eq);
	snprintf(out, n, "%s", eq + 1);
}

static void write_conf(const char *extra)
{
	FILE *f = fopen(conf, "w");

	assert_non_null(f);
	fprintf(f, "tls_cert %s\ntls_key %s\n%s", cert, key, extra);
	fclose(f);
}

/* How many lines of the server's log contain s. */
static int log_count(const struct it_env *e, const char *s)
{
	char path[320], line[2048];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/server.%d.log", e->dir, e->server_runs);
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, s) != NULL;
	fclose(f);
	return n;
}

struct log_wait {
	const struct it_env *e;
	const char *s;
	int n;
};

static bool log_reached(void *ud)
{
	struct log_wait *w = ud;

	return log_count(w->e, w->s) >= w->n;
}

/* SIGHUP, then waits until the server has logged `done` one more time. */
static void reload(const char *done)
{
	struct log_wait w = {&env, done, log_count(&env, done) + 1};

	kill(env.server_pid, SIGHUP);
	if (!it_wait(log_reached, &w, 10)) {
		it_dump_logs(&env);
		fail_msg("no \"%s\" after SIGHUP", done);
	}
}

/* A sample of /metrics over https ("tickpush_ws_queued_bytes"). */
static double metric(const char *name)
{
	static char body[256 * 1024];
	char key_s[96];
	const char *p;

	snprintf(key_s, sizeof(key_s), "\n%s ", name);
	assert_int_equal(it_https_get(env.port, trust, "/metrics", body, sizeof(body)), 200);
	p = strstr(body, key_s);
	assert_non_null(p);
	return strtod(p + strlen(key_s), NULL);
}

/* curl's exit status; its output (body or -w) in out. */
static int curl(const char *args, char *out, size_t n)
{
	char cmd[1200];
	FILE *p;
	size_t len = 0;

	snprintf(cmd, sizeof(cmd), "curl -sS --max-time 20 %s 2>/dev/null", args);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (out && n) {
		len = fread(out, 1, n - 1, p);
		out[len] = '\0';
	} else {
		char sink[4096];

		while (fread(sink, 1, sizeof(sink), p) > 0)
			;
	}
	int st = pclose(p);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *event(const char *sym, double ts, size_t pad)
{
	char *ev = malloc(pad + 512), *p;
	int n = snprintf(ev, 512, "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"%s\","
			 "\"pattern\":\"Weekly_Breakout\",\"confidence\":0.8,\"timestamp\":%.0f,"
			 "\"expires_at\":%.0f,\"indicators\":{\"pad\":\"",
			 sym, ts, (double)time(NULL) + 3600);

	p = ev + n;
	memset(p, 'a' + (char)((unsigned)ts % 26), pad);
	strcpy(p + pad, "\"}}}");
	return ev;
}

struct burst {
	const char *sym;
	double ts0;
};

/* Every 25th ~40 KB (more than a small receive window), the others 50 B
 * to ~8 KB, so writes stop anywhere inside frames. */
static size_t pad_of(unsigned i)
{
	return i % 25 == 0 ? 40000 : 50 + (size_t)(i * 7919u % 8000u);
}

static char *burst_event(unsigned i, void *ud)
{
	const struct burst *b = ud;

	return event(b->sym, b->ts0 + i, pad_of(i));
}

static struct it_ws *open_wss(int rcvbuf, const char *headers, const char *sym)
{
	struct it_ws *ws = calloc(1, sizeof(*ws));

	assert_non_null(ws);
	assert_int_equal(it_wss_connect(ws, env.port, "/ws", headers, rcvbuf, trust), 0);
	assert_int_equal(it_ws_hello_and_subscribe(ws, sym), 0);
	return ws;
}

static void ws_free(struct it_ws *ws)
{
	it_ws_close(ws);
	free(ws);
}

/* Reads `want` pattern frames of sym from ts0 on: each whole JSON with
 * the next id. Returns how many came. */
static unsigned read_frames(struct it_ws *ws, const char *sym, double ts0,
			    unsigned want, double timeout_s)
{
	double end = it_now() + timeout_s;
	unsigned got = 0;

	while (got < want && it_now() < end) {
		char *msg, id[96];
		size_t len;
		cJSON *j;

		if (it_ws_recv(ws, end - it_now(), &msg, &len) != 1)
			break;
		j = cJSON_ParseWithLength(msg, len);
		snprintf(id, sizeof(id), "%s:Weekly_Breakout:%.0f", sym, ts0 + got);
		if (!j || strcmp(it_json_str(j, "type"), "pattern") ||
		    strcmp(it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "id"), id))
			fail_msg("frame %u (%zu bytes) is not pattern %s: %.60s", got, len, id, msg);
		free(msg);
		cJSON_Delete(j);
		got++;
	}
	return got;
}

/* The session is open: a ping op is answered. */
static void assert_alive(struct it_ws *ws)
{
	cJSON *j;

	assert_int_equal(it_ws_send_text(ws, "{\"op\":\"ping\"}"), 0);
	j = it_ws_wait_type(ws, "pong", 10);
	assert_non_null(j);
	cJSON_Delete(j);
}

static void make_token(const char *secret, long long sub, char *out, size_t n)
{
	struct tp_buf b;
	double now = (double)time(NULL);

	tp_buf_init(&b, 0);
	assert_int_equal(tp_jwt_sign((const unsigned char *)secret, strlen(secret), sub,
				     now, now + 3600, &b), TP_OK);
	snprintf(out, n, "%s", tp_buf_cstr(&b));
	tp_buf_cleanup(&b);
}

static bool verifies(const char *token, const char *secret)
{
	struct tp_jwt_claims c;
	struct tp_errdetail err = {{0}, NULL};

	return tp_jwt_verify((const unsigned char *)secret, strlen(secret), token,
			     strlen(token), (double)time(NULL), 30, &c, &err) == TP_OK &&
	       c.sub == demo_id;
}

/* POST /api/auth/login over https (curl) as demo; the token to out. */
static void login_token(char *out, size_t n)
{
	char args[900], body[4096];
	cJSON *j;

	snprintf(args, sizeof(args), "--cacert '%s' -H 'Content-Type: application/json' "
		 "-d '{\"username\":\"demo\",\"password\":\"demo\"}' "
		 "https://127.0.0.1:%d/api/auth/login", trust, env.port);
	assert_int_equal(curl(args, body, sizeof(body)), 0);
	j = cJSON_Parse(body);
	if (!j || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "token")))
		fail_msg("login: %.200s", body);
	snprintf(out, n, "%s", cJSON_GetObjectItemCaseSensitive(j, "token")->valuestring);
	cJSON_Delete(j);
}

/* The user a wss upgrade with this token gets (0: refused). */
static long long user_of(const char *token)
{
	struct it_ws ws;
	char hdr[600];
	long long user = 0;
	cJSON *j;

	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", token);
	if (it_wss_connect(&ws, env.port, "/ws", hdr, 0, trust)) {
		assert_int_equal(ws.http_status, 401);
		return 0;
	}
	j = it_ws_wait_type(&ws, "hello", 10);
	assert_non_null(j);
	user = (long long)it_json_num(j, "user");
	cJSON_Delete(j);
	it_ws_close(&ws);
	return user;
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	char cmd[1200], redir_cert[340], redir_key[340];
	const char *args[] = {"--config", conf, NULL};

	(void)state;
	it_setup(&env, "tls");
	it_redis_start(&env);
	make_cert(env.dir, "a");
	make_cert(env.dir, "b");
	snprintf(cert, sizeof(cert), "%s/cert.pem", env.dir);
	snprintf(key, sizeof(key), "%s/cert.key", env.dir);
	snprintf(trust, sizeof(trust), "%s/trust.pem", env.dir);
	snprintf(conf, sizeof(conf), "%s/tickpush.conf", env.dir);
	snprintf(cmd, sizeof(cmd), "cd '%s' && cp a.pem cert.pem && cp a.key cert.key && "
		 "cat a.pem b.pem > trust.pem", env.dir);
	run(cmd);
	fingerprint_of(cert, fp_a, sizeof(fp_a));
	snprintf(cmd, sizeof(cmd), "%s/b.pem", env.dir);
	fingerprint_of(cmd, fp_b, sizeof(fp_b));
	write_conf(BASE_CONF "jwt_secret " SECRET1 "\nlog_level info\n");
	env.tls_ca = trust;
	/* Accounts, so that a login signs a token with the secret in force. */
	it_pg_start_sample(&env);
	{
		const char *name[] = {"demo"};
		const char *extra[] = {db_env, NULL};
		char uri[560], id[32];

		snprintf(db_env, sizeof(db_env), "DATABASE_URI=%s",
			 it_pg_tickpush_uri(&env, uri, sizeof(uri)));
		assert_int_equal(it_pg_value(&env, NULL, "SELECT id FROM users WHERE username = $1",
					     1, name, id, sizeof(id)), 0);
		demo_id = atoll(id);
		it_server_start_args(&env, extra, args, true);
	}

	it_setup(&redir, "tls-redir");
	snprintf(redir.redis_sock, sizeof(redir.redis_sock), "%s", env.redis_sock);
	snprintf(redir_cert, sizeof(redir_cert), "TICKPUSH_TLS_CERT=%s/a.pem", env.dir);
	snprintf(redir_key, sizeof(redir_key), "TICKPUSH_TLS_KEY=%s/a.key", env.dir);
	{
		/* Two workers: each adopts its connections with TLS (listener.c). */
		const char *extra[] = {redir_cert, redir_key, "TICKPUSH_TLS_PLAIN_HTTP=redirect",
				       "TICKPUSH_WORKERS=2", NULL};

		redir.tls_ca = trust;
		it_server_start(&redir, extra, false);
	}
	ts_base = (double)time(NULL) - 300000;
	return 0;
}

static int teardown(void **state)
{
	int rc;

	(void)state;
	rc = it_finish(&redir);
	return it_finish_pg(&env) || rc ? -1 : 0;
}

/* ---- tests ---- */

static void test_https_with_curl(void **state)
{
	char args[800], out[4096];

	(void)state;
	snprintf(args, sizeof(args), "--cacert '%s' https://127.0.0.1:%d/healthz", trust,
		 env.port);
	assert_int_equal(curl(args, out, sizeof(out)), 0);
	assert_string_equal(out, "{\"status\":\"ok\"}");
	/* HTTP/1.1 even when the client offers h2 (ALPN). */
	snprintf(args, sizeof(args), "--http2 -o /dev/null -w '%%{http_version}' --cacert '%s' "
		 "https://127.0.0.1:%d/healthz", trust, env.port);
	assert_int_equal(curl(args, out, sizeof(out)), 0);
	assert_string_equal(out, "1.1");
	/* TLS 1.1 and older: refused in the handshake. */
	snprintf(args, sizeof(args), "--tls-max 1.1 --cacert '%s' https://127.0.0.1:%d/healthz",
		 trust, env.port);
	assert_int_not_equal(curl(args, NULL, 0), 0);
	/* A CA that did not sign it: curl refuses the server. */
	snprintf(args, sizeof(args), "https://127.0.0.1:%d/healthz", env.port);
	assert_int_not_equal(curl(args, NULL, 0), 0);
}

static void test_plain_http_refused_or_redirected(void **state)
{
	struct it_http_resp r;
	char args[800], out[4096];
	const char *loc;

	(void)state;
	/* refuse: no HTTP answer at all, the connection is closed. */
	snprintf(args, sizeof(args), "-o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/healthz",
		 env.port);
	assert_int_not_equal(curl(args, out, sizeof(out)), 0);
	assert_string_equal(out, "000");
	/* redirect: 301 to https on the same host and port. */
	assert_int_equal(it_http(redir.port, "GET", "/api/patterns/scan", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 301);
	loc = strstr(r.headers, "\nlocation: "); /* lws writes it in lower case */
	assert_non_null(loc);
	snprintf(out, sizeof(out), "https://127.0.0.1:%d/", redir.port);
	assert_true(!strncmp(loc + 11, out, strlen(out)));
	it_http_free(&r);
	/* ...and the same port speaks TLS, whichever worker answers. */
	for (int i = 0; i < 6; i++)
		assert_int_equal(it_https_get(redir.port, trust, "/healthz", NULL, 0), 200);
}

static void test_wss_burst_slow_reader(void **state)
{
	struct it_ws *fast = open_wss(0, NULL, "TLSA");
	struct it_ws *slow = open_wss(4096, NULL, "TLSA");
	struct burst b = {"TLSA", ts_base};
	unsigned n = 1000; /* ~5.6 MB: more than the kernel buffers of slow */
	pid_t pid;
	int st = 0;

	(void)state;
	ts_base += 10000;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(it_publish_burst(&env, CHANNEL, n, burst_event, &b) ? 2 : 0);
	/* The fast reader reads as it comes; slow's buffers fill meanwhile. */
	assert_int_equal(read_frames(fast, "TLSA", b.ts0, n, 180), n);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* The socket of slow refused bytes: megabytes wait in its queue,
	 * behind what lws buffered of a TLS record (SSL_write wanted to
	 * write again)... */
	assert_true(metric("tickpush_ws_queued_bytes") > 1024 * 1024);
	/* ...and slow gets every frame whole and in order once it reads. */
	assert_int_equal(read_frames(slow, "TLSA", b.ts0, n, 180), n);
	assert_alive(fast);
	assert_alive(slow);
	ws_free(fast);
	ws_free(slow);
}

/* SSE over TLS: the push write path's other transport (LWS_WRITE_HTTP). */
struct sse_wait {
	const char *path;
	const char *want;
};

static bool sse_open(void *ud)
{
	(void)ud;
	return metric("tickpush_sse_sessions") >= 1;
}

static bool sse_got(void *ud)
{
	struct sse_wait *w = ud;
	static char buf[65536];
	FILE *f = fopen(w->path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, w->want) != NULL;
}

static void test_sse_over_tls(void **state)
{
	char cmd[900], path[400], id[96], *ev;
	struct sse_wait w = {path, id};

	(void)state;
	snprintf(path, sizeof(path), "%s/sse.out", env.dir);
	snprintf(cmd, sizeof(cmd), "curl -sS -N --max-time 30 --cacert '%s' "
		 "'https://127.0.0.1:%d/api/stream?channels=patterns&symbols=TLSS&confidence_min=0' "
		 "> '%s' 2>/dev/null &", trust, env.port, path);
	run(cmd);
	assert_true(it_wait(sse_open, NULL, 20));
	ev = event("TLSS", ts_base, 20000);
	assert_true(it_publish(&env, CHANNEL, ev) >= 1);
	free(ev);
	snprintf(id, sizeof(id), "TLSS:Weekly_Breakout:%.0f", ts_base);
	ts_base += 10;
	assert_true(it_wait(sse_got, &w, 20));
}

/* --check-config loads the TLS files: a key of another certificate is an
 * error naming the option (exit 1). */
static void test_check_config_tls(void **state)
{
	char cmd[1500];

	(void)state;
	/* Without the test's TICKPUSH_* variables (not options). */
	snprintf(cmd, sizeof(cmd), "env -u TICKPUSH_BIN -u TICKPUSH_SIM '%s' --check-config "
		 "--tls-cert '%s/a.pem' --tls-key '%s/b.key' >/dev/null 2>'%s/check.err'",
		 getenv("TICKPUSH_BIN"), env.dir, env.dir, env.dir);
	int st = system(cmd);

	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	snprintf(cmd, sizeof(cmd), "grep -q 'invalid configuration: tls_key .*b.key' '%s/check.err'",
		 env.dir);
	run(cmd);
	snprintf(cmd, sizeof(cmd), "env -u TICKPUSH_BIN -u TICKPUSH_SIM '%s' --check-config "
		 "--tls-cert '%s/a.pem' --tls-key '%s/a.key' >/dev/null",
		 getenv("TICKPUSH_BIN"), env.dir, env.dir);
	run(cmd);
}

/* Client frames over TLS are read and checked by tickpush (reader.c with
 * SSL_read): a message of several TLS records is answered; an unmasked
 * frame closes with 1002 (lws would have accepted it). */
static void test_wss_frames_checked(void **state)
{
	struct it_ws *ws = open_wss(0, NULL, NULL);
	static const unsigned char unmasked[] = "\x81\x0d{\"op\":\"ping\"}";
	char *sub = malloc(40000), *p = sub;
	cJSON *j;

	(void)state;
	assert_non_null(sub);
	/* ~36 KB: three TLS records, reassembled by our parser. */
	p += sprintf(p, "{\"op\":\"subscribe\",\"id\":\"big\",\"channel\":\"patterns\","
		     "\"filter\":{\"symbols\":[");
	for (int i = 0; i < 3000; i++)
		p += sprintf(p, "%s\"S%04d\"", i ? "," : "", i);
	strcpy(p, "]}}");
	assert_int_equal(it_ws_send_text(ws, sub), 0);
	free(sub);
	j = it_ws_recv_json(ws, 20);
	assert_non_null(j);
	/* Subscribed, or refused by a filter limit: either way an answer
	 * to the whole message, and the session stays open. */
	assert_true(!strcmp(it_json_str(j, "type"), "subscribed") ||
		    !strcmp(it_json_str(j, "type"), "error"));
	cJSON_Delete(j);
	assert_alive(ws);
	assert_int_equal(it_ws_send_raw(ws, unmasked, sizeof(unmasked) - 1), 0);
	assert_int_equal(it_ws_wait_close(ws, 10), 1002);
	assert_true(it_ws_wait_eof(ws, 10));
	ws_free(ws);
}

struct fp_wait {
	const char *want;
};

static bool new_conn_has(void *ud)
{
	struct fp_wait *w = ud;
	char fp[100];

	return !it_tls_peer_sha256(env.port, trust, fp, sizeof(fp)) && !strcmp(fp, w->want);
}

static void test_reload_certificate(void **state)
{
	struct it_ws *old = open_wss(0, NULL, "TLSB");
	struct fp_wait w = {fp_b};
	char cmd[800], fp[100], *ev;

	(void)state;
	assert_string_equal(old->peer_sha256, fp_a);
	assert_int_equal(it_tls_peer_sha256(env.port, trust, fp, sizeof(fp)), 0);
	assert_string_equal(fp, fp_a);
	/* Renewed in place, as certbot and friends do. */
	snprintf(cmd, sizeof(cmd), "cd '%s' && cp b.pem cert.pem.new && cp b.key cert.key.new && "
		 "mv cert.pem.new cert.pem && mv cert.key.new cert.key", env.dir);
	run(cmd);
	reload("msg=\"config reloaded\"");
	assert_true(it_wait(new_conn_has, &w, 10));
	assert_int_equal(log_count(&env, "tls certificate replaced"), 1);
	/* The session from before keeps its TLS session and its events. */
	ev = event("TLSB", ts_base, 100);
	assert_true(it_publish(&env, CHANNEL, ev) >= 1);
	free(ev);
	assert_int_equal(read_frames(old, "TLSB", ts_base, 1, 20), 1);
	ts_base += 10;
	assert_alive(old);
	assert_string_equal(old->peer_sha256, fp_a);
	ws_free(old);
	/* New sessions verify against the new certificate. */
	old = open_wss(0, NULL, NULL);
	assert_string_equal(old->peer_sha256, fp_b);
	ws_free(old);
}

static void test_reload_bad_config_refused(void **state)
{
	double errors0 = metric("tickpush_config_reload_errors_total");
	char fp[100];

	(void)state;
	write_conf(BASE_CONF "jwt_secret " SECRET1 "\nlog_level info\nws_rate -5\n");
	reload("config reload refused");
	assert_int_equal(log_count(&env, "ws_rate: must be a number between"), 1);
	assert_true(metric("tickpush_config_reload_errors_total") == errors0 + 1);
	/* A key that does not match its certificate: refused as well, and
	 * the certificate in use stays. */
	snprintf(key, sizeof(key), "%s/a.key", env.dir);
	write_conf(BASE_CONF "jwt_secret " SECRET1 "\nlog_level info\n");
	reload("config reload refused");
	assert_int_equal(log_count(&env, "error=\"tls_key "), 1);
	snprintf(key, sizeof(key), "%s/cert.key", env.dir);
	assert_true(metric("tickpush_config_reload_errors_total") == errors0 + 2);
	/* Still up, same certificate, old configuration in force. */
	assert_int_equal(it_https_get(env.port, trust, "/healthz", NULL, 0), 200);
	assert_int_equal(it_tls_peer_sha256(env.port, trust, fp, sizeof(fp)), 0);
	assert_string_equal(fp, fp_b);
	write_conf(BASE_CONF "jwt_secret " SECRET1 "\nlog_level info\n");
	reload("msg=\"config reloaded\"");
}

static void test_reload_log_level_and_jwt(void **state)
{
	char t1[1024], t2[1024], t3[1024], *ev;
	struct log_wait w = {&env, "expired patterns removed", 1};

	(void)state;
	make_token(SECRET1, demo_id, t1, sizeof(t1));
	make_token(SECRET2, demo_id, t2, sizeof(t2));
	make_token(SECRET3, demo_id, t3, sizeof(t3));
	assert_int_equal(user_of(t1), demo_id);
	assert_int_equal(user_of(t2), 0);
	assert_int_equal(log_count(&env, "expired patterns removed"), 0);

	write_conf(BASE_CONF "jwt_secret " SECRET2 "\nlog_level debug\n");
	reload("msg=\"config reloaded\"");
	assert_int_equal(log_count(&env, "option=log_level old=\"info\" new=\"debug\""), 1);
	assert_int_equal(log_count(&env, "option=jwt_secret old=\"***\" new=\"***\""), 1);
	/* Debug lines now: a pattern that expires in a second is swept. */
	ev = malloc(1024);
	snprintf(ev, 1024, "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"TLSC\","
		 "\"pattern\":\"Weekly_Breakout\",\"confidence\":0.8,\"timestamp\":%.0f,"
		 "\"expires_at\":%.0f}}", ts_base, (double)time(NULL) + 1);
	assert_true(it_publish(&env, CHANNEL, ev) >= 1);
	free(ev);
	assert_true(it_wait(log_reached, &w, 10));
	/* The new secret verifies, the previous one still does (grace). */
	assert_int_equal(user_of(t2), demo_id);
	assert_int_equal(user_of(t1), demo_id);
	assert_int_equal(user_of(t3), 0);
	/* A login now gets a token signed with the new secret only. */
	login_token(t3, sizeof(t3));
	assert_true(verifies(t3, SECRET2));
	assert_false(verifies(t3, SECRET1));
	make_token(SECRET3, demo_id, t3, sizeof(t3));

	/* Rotating again with no grace: only the newest secret works. */
	write_conf(BASE_CONF "jwt_secret " SECRET3 "\njwt_previous_grace 0\n");
	reload("msg=\"config reloaded\"");
	assert_int_equal(user_of(t3), demo_id);
	assert_int_equal(user_of(t2), 0);
	assert_int_equal(user_of(t1), 0);

	/* log_format too: the next lines are JSON objects. */
	write_conf(BASE_CONF "jwt_secret " SECRET3 "\nlog_format json\n");
	reload("\"msg\":\"config reloaded\"");
	/* (the change itself is logged before it applies) */
	assert_int_equal(log_count(&env, "option=log_format"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_https_with_curl),
		cmocka_unit_test(test_plain_http_refused_or_redirected),
		cmocka_unit_test(test_wss_burst_slow_reader),
		cmocka_unit_test(test_wss_frames_checked),
		cmocka_unit_test(test_sse_over_tls),
		cmocka_unit_test(test_check_config_tls),
		cmocka_unit_test(test_reload_certificate),
		cmocka_unit_test(test_reload_bad_config_refused),
		cmocka_unit_test(test_reload_log_level_and_jwt),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
