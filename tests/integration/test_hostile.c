/*
 * test_hostile.c - one packet must not crash or stall the server (issue 8).
 *
 * Raw sockets against a real tickpush (with Redis and PostgreSQL): requests
 * pipelined into one TCP packet, connections closed while their requests
 * are still being answered, bodies announced in every wrong way, idle
 * connections by the thousand, more connections than max_connections,
 * oversized heads, symlinks out of the static folder. Every scenario runs against a fresh server; afterwards the
 * server must still answer, have no request left in flight
 * (tickpush_http_inflight counts only the /metrics scrape itself) and exit 0 on
 * SIGTERM well before its shutdown timeout (a request it lost track of
 * would make it wait that long), with no sanitizer report.
 *
 * Responses are checked byte for byte: the stream a client reads must be
 * exactly N well-formed responses (status line, headers, as many body bytes
 * as content-length says) and nothing more.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/ssl.h>

#include "it.h"
#include "it_pg.h"
#include "test_support.h"
#include "ws_client.h"

#define SECRET "hostile-test-secret-0123456789abcdef0123"
#define SHUTDOWN_TIMEOUT 10 /* the server's; a clean stop takes far less */
#define IDLE_TIMEOUT 2      /* TICKPUSH_HTTP_IDLE_TIMEOUT for these tests */
#define MAX_READ (1 << 20)  /* more than this from one scenario is a bug */

static struct it_env env;
static char uri_env[600], web_env[400], web_dir[300];
static char tls_cert[320], tls_key[320]; /* for the TLS scenarios */

/* ---- fixtures ---- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A web-demo folder with a file, a link to it (inside: served) and links
 * to a file and a folder outside it (never served). */
static void make_web_dir(void)
{
	char path[400];

	snprintf(web_dir, sizeof(web_dir), "%s/web", env.dir);
	assert_int_equal(mkdir(web_dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/index.html", web_dir);
	write_file(path, "<!doctype html><title>demo</title>\n");
	snprintf(path, sizeof(path), "%s/inside.html", web_dir);
	assert_int_equal(symlink("index.html", path), 0);
	snprintf(path, sizeof(path), "%s/passwd", web_dir);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	snprintf(path, sizeof(path), "%s/etc", web_dir);
	assert_int_equal(symlink("/etc", path), 0);
	snprintf(web_env, sizeof(web_env), "TICKPUSH_WEB_DEMO_DIR=%s", web_dir);
}

/* A self-signed certificate for 127.0.0.1 (the TLS scenarios). */
static void make_cert(void)
{
	char cmd[1200];

	snprintf(tls_cert, sizeof(tls_cert), "%s/tls.pem", env.dir);
	snprintf(tls_key, sizeof(tls_key), "%s/tls.key", env.dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-days 2 -subj /CN=tickpush-hostile -addext subjectAltName=IP:127.0.0.1 "
		 "-keyout '%s' -out '%s' 2>/dev/null", tls_key, tls_cert);
	if (system(cmd) != 0)
		fail_msg("openssl could not make a certificate");
}

static int group_setup(void **state)
{
	char uri[560];

	(void)state;
	it_setup(&env, "hostile");
	it_redis_start(&env);
	it_pg_start_sample(&env);
	it_pg_tickpush_uri(&env, uri, sizeof(uri));
	snprintf(uri_env, sizeof(uri_env), "DATABASE_URI=%s", uri);
	make_web_dir();
	make_cert();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	it_pg_stop(&env);
	it_teardown(&env);
	return 0;
}

/* Starts the server for a scenario; `more` is one extra NAME=value or
 * NULL, idle_timeout TICKPUSH_HTTP_IDLE_TIMEOUT. */
static int start_with(bool tls, int idle_timeout, const char *more)
{
	static char idle_env[64], shutdown_env[64], cert_env[340], key_env[340];
	const char *extra[12];
	size_t n = 0;

	snprintf(idle_env, sizeof(idle_env), "TICKPUSH_HTTP_IDLE_TIMEOUT=%d", idle_timeout);
	snprintf(shutdown_env, sizeof(shutdown_env), "TICKPUSH_SHUTDOWN_TIMEOUT=%d",
		 SHUTDOWN_TIMEOUT);
	extra[n++] = uri_env;
	extra[n++] = "TICKPUSH_JWT_SECRET=" SECRET;
	extra[n++] = "TICKPUSH_LOGIN_BURST=1000";
	extra[n++] = web_env;
	extra[n++] = idle_env;
	extra[n++] = shutdown_env;
	env.tls_ca = NULL;
	if (tls) {
		snprintf(cert_env, sizeof(cert_env), "TICKPUSH_TLS_CERT=%s", tls_cert);
		snprintf(key_env, sizeof(key_env), "TICKPUSH_TLS_KEY=%s", tls_key);
		extra[n++] = cert_env;
		extra[n++] = key_env;
		env.tls_ca = tls_cert;
	}
	if (more)
		extra[n++] = more;
	extra[n] = NULL;
	it_server_start(&env, extra, true);
	/* Ready means Redis; logins also need the database connected (the
	 * TLS scenarios log nobody in). */
	if (!tls && !it_wait(it_symbols_loaded, &env, 20)) {
		it_dump_logs(&env);
		fail_msg("the database never connected");
	}
	return 0;
}

static int start(bool tls)
{
	return start_with(tls, IDLE_TIMEOUT, NULL);
}

static int server_start(void **state)
{
	(void)state;
	return start(false);
}

/* max_connections 4, and idle connections that stay. */
#define FULL_MAX 4
#define OPS_RESERVE 16 /* server/io/http.h TP_HTTP_OPS_RESERVE */

static int server_start_small(void **state)
{
	(void)state;
	return start_with(false, 60, "TICKPUSH_MAX_CONNECTIONS=4");
}

/* The same server speaking TLS (https and wss) on its port. */
static int server_start_tls(void **state)
{
	(void)state;
	return start(true);
}

/* ---- reading what the server sent ---- */

/* Case-insensitive strstr (strcasestr is a GNU extension). */
static const char *find_nocase(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return hay;
	return NULL;
}

struct parsed {
	int status;
	char headers[2048];
	char body[2048];
	size_t body_len;
};

/* Splits a byte stream into responses. Returns how many were complete,
 * or -1 if the stream holds anything else (a truncated body, a second
 * header block where a body should be, trailing garbage). */
static int parse_responses(const char *buf, size_t len, struct parsed *out,
			   int max)
{
	size_t pos = 0;
	int count = 0;

	while (pos < len) {
		const char *start = buf + pos, *end = strstr(start, "\r\n\r\n"), *cl;
		size_t head_len, body_len;

		if (count == max || !end || strncmp(start, "HTTP/1.", 7))
			return -1;
		head_len = (size_t)(end - start) + 4;
		memset(&out[count], 0, sizeof(out[count]));
		if (sscanf(start, "HTTP/1.%*d %d", &out[count].status) != 1)
			return -1;
		snprintf(out[count].headers, sizeof(out[count].headers), "%.*s",
			 (int)(end - start), start);
		cl = find_nocase(out[count].headers, "\r\ncontent-length:");
		if (!cl)
			return -1; /* every answer here has a length */
		body_len = strtoul(cl + 17, NULL, 10);
		if (pos + head_len + body_len > len)
			return -1;
		snprintf(out[count].body, sizeof(out[count].body), "%.*s",
			 (int)body_len, start + head_len);
		out[count].body_len = body_len;
		pos += head_len + body_len;
		count++;
	}
	return count;
}

/* One client connection, plain or TLS (no certificate check: what is
 * tested is what the server writes). */
struct conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

static void conn_open(struct conn *c, bool tls)
{
	memset(c, 0, sizeof(*c));
	c->fd = it_connect(env.port);
	assert_true(c->fd >= 0);
	if (!tls)
		return;
	c->ctx = SSL_CTX_new(TLS_client_method());
	c->ssl = c->ctx ? SSL_new(c->ctx) : NULL;
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1)
		fail_msg("TLS handshake failed");
}

static void conn_send(struct conn *c, const char *bytes, size_t len)
{
	if (c->ssl)
		assert_int_equal(SSL_write(c->ssl, bytes, (int)len), (int)len);
	else
		assert_int_equal(send(c->fd, bytes, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Bytes read, or <= 0 when the server closed (or reset). */
static ssize_t conn_recv(struct conn *c, char *buf, size_t n)
{
	if (c->ssl)
		return SSL_read(c->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
	return recv(c->fd, buf, n, 0);
}

static bool conn_readable(struct conn *c, double wait_s)
{
	struct pollfd pfd = {c->fd, POLLIN, 0};

	return (c->ssl && SSL_pending(c->ssl) > 0) || poll(&pfd, 1, (int)(wait_s * 1000)) > 0;
}

static void conn_close(struct conn *c)
{
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	close(c->fd);
}

/* Reads until the server closes or MAX_READ bytes arrived; or, once `want`
 * complete answers are in, until nothing more came for QUIET s (anything
 * more would be a bug); or until wait_s passed (a busy machine may take
 * seconds for a deferred answer: generous). When the last of them says
 * "Connection: close", the close it announces is waited for up to wait_s
 * too (a server paused between answer and close is slow, not wrong; data
 * after the answers still shows). *closed says whether the server closed
 * the connection. */
#define QUIET 1.0
static char *conn_read_answers(struct conn *c, int want, double wait_s, size_t *len,
			       bool *closed)
{
	char *buf = malloc(MAX_READ + 1);
	struct parsed *scratch = calloc((size_t)want + 4, sizeof(*scratch));
	double deadline = it_now() + wait_s;
	size_t n = 0;

	*closed = false;
	while (n < MAX_READ) {
		double left = deadline - it_now();
		ssize_t r;
		int got;

		buf[n] = '\0';
		got = parse_responses(buf, n, scratch, want + 4);
		if (got >= want && got > 0 &&
		    !find_nocase(scratch[got - 1].headers, "\r\nconnection: close"))
			left = QUIET;
		if (left <= 0 || !conn_readable(c, left))
			break;
		r = conn_recv(c, buf + n, MAX_READ - n);
		if (r <= 0) {
			*closed = true;
			break;
		}
		n += (size_t)r;
	}
	free(scratch);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static char *read_answers(int fd, int want, double wait_s, size_t *len, bool *closed)
{
	struct conn c = {fd, NULL, NULL};

	return conn_read_answers(&c, want, wait_s, len, closed);
}

/* Sends raw bytes in one send() (one packet on loopback), then either
 * closes at once (returns -1) or returns the socket. */
static int send_packet(const char *bytes, size_t len, bool close_now)
{
	int fd = it_connect(env.port);

	assert_true(fd >= 0);
	assert_int_equal(send(fd, bytes, len, MSG_NOSIGNAL), (ssize_t)len);
	if (close_now) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Checks that buf holds exactly `n` answers with these statuses; returns
 * them parsed (caller frees). */
static struct parsed *expect_answers(char *buf, size_t len, int n, const int *statuses)
{
	struct parsed *p = calloc((size_t)n + 4, sizeof(*p));
	int got = parse_responses(buf, len, p, n + 4);

	if (got != n) {
		fail_msg("want exactly %d answers, the stream (%zu bytes) holds %d: %.600s",
			 n, len, got, buf);
	}
	for (int i = 0; i < n; i++)
		if (p[i].status != statuses[i])
			fail_msg("answer %d: status %d, want %d: %s", i + 1, p[i].status,
				 statuses[i], p[i].body);
	free(buf);
	return p;
}

/* Sends len bytes in one packet (plain or TLS) and expects exactly `n`
 * answers with these statuses (read_answers). Returns the parsed answers
 * (caller frees) and whether the server closed. */
static struct parsed *exchange_on(bool tls, const char *bytes, size_t len, int n,
				  const int *statuses, double wait_s, bool *closed)
{
	struct conn c;
	size_t got;
	char *buf;

	conn_open(&c, tls);
	conn_send(&c, bytes, len);
	buf = conn_read_answers(&c, n, wait_s, &got, closed);
	conn_close(&c);
	return expect_answers(buf, got, n, statuses);
}

static struct parsed *exchange(const char *bytes, int n, const int *statuses,
			       double wait_s, bool *closed)
{
	return exchange_on(false, bytes, strlen(bytes), n, statuses, wait_s, closed);
}

/* The body is our JSON error, naming `field` when not NULL. */
static void expect_json_error(const struct parsed *p, const char *field)
{
	cJSON *j = cJSON_Parse(p->body), *f;

	if (!j || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error")))
		fail_msg("not a JSON error: %s", p->body);
	assert_non_null(find_nocase(p->headers, "content-type: application/json"));
	if (field) {
		f = cJSON_GetObjectItemCaseSensitive(j, "field");
		if (!cJSON_IsString(f) || strcmp(f->valuestring, field))
			fail_msg("error does not name %s: %s", field, p->body);
	}
	cJSON_Delete(j);
}

/* ---- the server after each scenario ---- */

/* GET path (plain or https, as the server speaks): the status, the body
 * in body[n]. */
static int get(const char *path, char *body, size_t n)
{
	struct it_http_resp r;
	int status;

	if (env.tls_ca)
		return it_https_get(env.port, env.tls_ca, path, body, n);
	if (it_http(env.port, "GET", path, NULL, NULL, 0, &r))
		return -1;
	status = r.status;
	snprintf(body, n, "%s", r.body);
	it_http_free(&r);
	return status;
}

static double metric(const char *name)
{
	size_t size = 1 << 20;
	char *body = malloc(size), needle[128];
	const char *p;
	double v = -1;

	snprintf(needle, sizeof(needle), "\n%s ", name);
	if (get("/metrics", body, size) == 200 && (p = strstr(body, needle)))
		v = strtod(p + strlen(needle), NULL);
	free(body);
	return v;
}

static bool nothing_in_flight(void *ud)
{
	(void)ud;
	/* The scrape itself is the one request in flight. */
	return metric("tickpush_http_inflight") == 1;
}

/* After every scenario: still answering, nothing left in flight, and a
 * SIGTERM ends it at once with exit code 0 (no sanitizer report). The
 * server is stopped whatever went wrong, before anything is reported. */
static int server_check_and_stop(void **state)
{
	char problem[256] = "", body[256];
	double t0, took;
	int rc;

	(void)state;
	if (get("/healthz", body, sizeof(body)) != 200)
		snprintf(problem, sizeof(problem), "the server no longer answers /healthz");
	else if (!it_wait(nothing_in_flight, NULL, 30))
		snprintf(problem, sizeof(problem), "tickpush_http_inflight did not come back (%g)",
			 metric("tickpush_http_inflight"));
	t0 = it_now();
	rc = it_server_stop(&env, SIGTERM, SHUTDOWN_TIMEOUT + 10);
	took = it_now() - t0;
	if (!problem[0] && rc != 0)
		snprintf(problem, sizeof(problem), "tickpush exited %d after SIGTERM", rc);
	if (!problem[0] && took > SHUTDOWN_TIMEOUT / 2.0)
		snprintf(problem, sizeof(problem),
			 "SIGTERM took %.1f s: the drain waited for a request", took);
	if (problem[0]) {
		it_dump_logs(&env);
		fail_msg("%s", problem);
	}
	return 0;
}

/* ---- requests ---- */

#define LOGIN_WRONG "{\"username\":\"demo\",\"password\":\"wrong\"}"

static const char login_req[] =
	"POST /api/auth/login HTTP/1.1\r\nHost: x\r\n"
	"Content-Type: application/json\r\nContent-Length: 38\r\n\r\n" LOGIN_WRONG;

static const char get_healthz[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

static const char post_empty_object[] =
	"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";

/* ---- scenarios ---- */

/* The crash of issue 8: both logins are deferred (PostgreSQL, then PBKDF2
 * on the threadpool) and the client is gone before either finishes. */
static void test_two_logins_one_packet_then_close(void **state)
{
	char pkt[512];

	(void)state;
	assert_int_equal((int)strlen(LOGIN_WRONG), 38);
	snprintf(pkt, sizeof(pkt), "%s%s", login_req, login_req);
	send_packet(pkt, strlen(pkt), true);
	/* Both verifications finish within a second or two; the check after
	 * the scenario waits for tickpush_http_inflight and then stops the server. */
	sleep(2);
}

/* A request with a body pipelined behind another is refused with a clear
 * answer (lws 4.1.6 cannot read its body, see http.c), after the first
 * was answered; then the connection closes. */
static void expect_pipelining_refusal(const struct parsed *p)
{
	expect_json_error(p, NULL);
	assert_non_null(strstr(p->body, "pipelined"));
	assert_non_null(find_nocase(p->headers, "\r\nconnection: close"));
}

/* The same two logins on a connection that stays: the first is answered
 * (after its deferred check), the second refused, in that order. */
static void test_two_logins_one_packet_answered_in_order(void **state)
{
	static const int want[] = {401, 400};
	char pkt[512];
	struct parsed *p;
	bool closed;

	(void)state;
	snprintf(pkt, sizeof(pkt), "%s%s", login_req, login_req);
	p = exchange(pkt, 2, want, 10, &closed);
	expect_json_error(&p[0], NULL);
	expect_pipelining_refusal(&p[1]);
	assert_true(closed);
	free(p);
}

/* Deferred without a database: two long-polls, client gone at once. */
static void test_two_long_polls_one_packet_then_close(void **state)
{
	static const char pkt[] =
		"GET /api/patterns/poll?timeout=1 HTTP/1.1\r\nHost: x\r\n\r\n"
		"GET /api/patterns/poll?timeout=1 HTTP/1.1\r\nHost: x\r\n\r\n";

	(void)state;
	send_packet(pkt, strlen(pkt), true);
	sleep(3); /* both polls time out meanwhile */
}

/* The endless-answers bug: a GET then a POST with a 2-byte body, in one
 * 97-byte packet, get exactly two answers. */
static void test_get_then_post_one_packet(void **state)
{
	static const int want[] = {200, 400};
	char pkt[256];
	struct parsed *p;
	bool closed;

	(void)state;
	snprintf(pkt, sizeof(pkt), "%s%s", get_healthz, post_empty_object);
	assert_int_equal((int)strlen(pkt), 97);
	p = exchange(pkt, 2, want, 10, &closed);
	expect_pipelining_refusal(&p[1]);
	assert_true(closed);
	free(p);
}

static void test_post_then_post_one_packet(void **state)
{
	static const int want[] = {400, 400};
	char pkt[256];
	struct parsed *p;
	bool closed;

	(void)state;
	snprintf(pkt, sizeof(pkt), "%s%s", post_empty_object, post_empty_object);
	p = exchange(pkt, 2, want, 10, &closed);
	expect_json_error(&p[0], "username");
	expect_pipelining_refusal(&p[1]);
	assert_true(closed);
	free(p);
}

/* lws would hand this body memory it has already freed (the body is longer
 * than the head it sits behind): refused without reading any of it (an
 * ASan build fails here if anything does). */
static void test_long_body_pipelined(void **state)
{
	static const int want[] = {200, 400};
	char pkt[512];
	struct parsed *p;
	bool closed;

	(void)state;
	snprintf(pkt, sizeof(pkt), "%sPOST /api/auth/login HTTP/1.1\r\nHost: x\r\n"
		 "Content-Length: 300\r\n\r\n%s", get_healthz, LOGIN_WRONG);
	p = exchange(pkt, 2, want, 10, &closed);
	expect_pipelining_refusal(&p[1]);
	assert_true(closed);
	free(p);
}

/* Content-Length: 0 is a body of zero bytes: one request, one answer
 * (POST and PUT take different paths through lws). */
static void test_empty_bodies_answered_once(void **state)
{
	static const int post_want[] = {400, 200};
	static const int put_want[] = {401, 200};
	char pkt[256];
	struct parsed *p;
	bool closed;

	(void)state;
	snprintf(pkt, sizeof(pkt), "POST /api/auth/login HTTP/1.1\r\nHost: x\r\n"
		 "Content-Length: 0\r\n\r\n%s", get_healthz);
	p = exchange(pkt, 2, post_want, 10, &closed);
	expect_json_error(&p[0], NULL);
	free(p);
	snprintf(pkt, sizeof(pkt), "PUT /api/users/watchlists/1 HTTP/1.1\r\nHost: x\r\n"
		 "Content-Length: 0\r\n\r\n%s", get_healthz);
	p = exchange(pkt, 2, put_want, 10, &closed);
	expect_json_error(&p[0], NULL);
	free(p);
}

/* A body on a GET is read and ignored; the next request still works. */
static void test_get_with_body_then_get(void **state)
{
	static const int want[] = {200, 200};
	char pkt[256];
	bool closed;

	(void)state;
	snprintf(pkt, sizeof(pkt), "GET /healthz HTTP/1.1\r\nHost: x\r\n"
		 "Content-Length: 5\r\n\r\nhello%s", get_healthz);
	free(exchange(pkt, 2, want, 10, &closed));
}

/* Held before this work; keep it so: 100 pipelined GETs, 100 answers. */
static void test_hundred_pipelined_gets(void **state)
{
	int want[100];
	char *pkt = malloc(100 * sizeof(get_healthz) + 1);
	size_t n = 0;
	bool closed;

	(void)state;
	for (int i = 0; i < 100; i++) {
		want[i] = 200;
		memcpy(pkt + n, get_healthz, strlen(get_healthz));
		n += strlen(get_healthz);
	}
	pkt[n] = '\0';
	free(exchange(pkt, 100, want, 10, &closed));
	free(pkt);
}

/* An Upgrade lws does not know: lws 4.1.6 answers it itself and then
 * still asked us to confirm the upgrade, and we answered a second time
 * (found by fuzz_http). One answer, our JSON (http.c takes over lws's
 * lws_return_http_status), then the connection is closed and the request
 * pipelined behind it is not answered. */
static void test_unknown_upgrade_answered_once(void **state)
{
	static const int want[] = {400};
	char pkt[256];
	struct parsed *p;
	bool closed;

	(void)state;
	snprintf(pkt, sizeof(pkt), "GET /healthz HTTP/1.1\r\nHost: x\r\n"
		 "Upgrade: foo\r\n\r\n%s", get_healthz);
	p = exchange(pkt, 1, want, 10, &closed);
	expect_json_error(&p[0], NULL);
	free(p);
	assert_true(closed);
}

/* What lws's own parser refuses on a later keep-alive request (sniff.c
 * checks only a connection's first head) gets our JSON too, not lws's
 * HTML page. */
static void test_malformed_keepalive_request_gets_json(void **state)
{
	static const int want[] = {200, 400};
	char pkt[256];
	struct parsed *p;
	bool closed;

	(void)state;
	snprintf(pkt, sizeof(pkt), "%sGET /api/a%%zz HTTP/1.1\r\nHost: x\r\n\r\n",
		 get_healthz);
	p = exchange(pkt, 2, want, 10, &closed);
	expect_json_error(&p[1], NULL);
	assert_null(find_nocase(p[1].body, "<html"));
	free(p);
}

/*
 * Heads lws 4.1.6's parser gives up on without a word when they are not a
 * connection's first (sniff.c checks only that one, and no TLS one): a
 * NUL byte in the URL (raw or %00), headers with no request line before
 * them, a head larger than lws's header table (http_header_max + 4 KiB,
 * here 12 KiB, in lines each within http_header_max), more header lines
 * than lws has slots for, a second request line. Each gets our JSON error
 * saying what was wrong, with Connection: close, then the close; whether
 * it comes in the packet of the request before it (pipelined) or after
 * that request was answered, on plain and TLS connections. What lws
 * answers itself (%zz) is answered once.
 */
struct bad_head {
	const char *bytes;
	size_t len;
	int status;
	const char *field; /* the error's field, or NULL */
	const char *says;  /* in the error text */
	bool by_lws;       /* lws answers it itself (lws_return_http_status,
			    * no Connection header): once, not twice */
};

/* GET /healthz with `lines` headers of `size` bytes (caller frees). */
static char *padded_head(int lines, int size, size_t *len)
{
	char *head = malloc((size_t)lines * ((size_t)size + 16) + 64);
	size_t n = (size_t)sprintf(head, "GET /healthz HTTP/1.1\r\nHost: x\r\n");

	for (int i = 0; i < lines; i++) {
		n += (size_t)sprintf(head + n, "X-Pad-%d: ", i);
		memset(head + n, 'a', (size_t)size);
		n += (size_t)size;
		n += (size_t)sprintf(head + n, "\r\n");
	}
	n += (size_t)sprintf(head + n, "\r\n");
	*len = n;
	return head;
}

/* Sends a GET, then bad (in the same packet, or after the GET's answer),
 * and expects the GET's 200, then bad's JSON error and the close. */
static void expect_later_refusal(bool tls, bool pipelined, const struct bad_head *bad)
{
	const int want[] = {200, bad->status};
	size_t glen = strlen(get_healthz), len;
	struct parsed *p;
	struct conn c;
	bool closed;
	char *buf;

	conn_open(&c, tls);
	if (pipelined) {
		char *pkt = malloc(glen + bad->len);

		memcpy(pkt, get_healthz, glen);
		memcpy(pkt + glen, bad->bytes, bad->len);
		conn_send(&c, pkt, glen + bad->len);
		free(pkt);
	} else {
		conn_send(&c, get_healthz, glen);
		buf = conn_read_answers(&c, 1, 10, &len, &closed);
		assert_false(closed);
		free(expect_answers(buf, len, 1, want));
		conn_send(&c, bad->bytes, bad->len);
	}
	buf = conn_read_answers(&c, pipelined ? 2 : 1, 10, &len, &closed);
	conn_close(&c);
	p = expect_answers(buf, len, pipelined ? 2 : 1, pipelined ? want : want + 1);
	if (pipelined)
		p[0] = p[1];
	expect_json_error(&p[0], bad->field);
	if (!strstr(p[0].body, bad->says))
		fail_msg("the error does not say \"%s\": %s", bad->says, p[0].body);
	if (!bad->by_lws)
		assert_non_null(find_nocase(p[0].headers, "\r\nconnection: close"));
	assert_true(closed);
	free(p);
}

/* tickpush_http_responses_total{code}; a code not answered yet has no
 * sample. */
static double answers_with(int code)
{
	char name[80];
	double v;

	snprintf(name, sizeof(name), "tickpush_http_responses_total{code=\"%d\"}", code);
	v = metric(name);
	return v < 0 ? 0 : v;
}

static void expect_later_refusals(bool tls)
{
	static const char nul[] = "GET /api/sym\0bols HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char no_line[] = "Host: x\r\nAccept: */*\r\n\r\n";
	static const char bad_pct[] = "GET /healthz%zz HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char pct00[] = "GET /api/symbols/A%00B HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char two_lines[] = "GET / HTTP/1.1\r\nHost: x\r\nGET / HTTP/1.1\r\n\r\n";
	char many_lines[4096];
	size_t big_len, n;
	char *big = padded_head(10, 1500, &big_len);
	struct bad_head bad[] = {
		{nul, sizeof(nul) - 1, 400, "url", "NUL", false},
		{no_line, strlen(no_line), 400, NULL, "request line", false},
		{big, big_len, 431, NULL, "header table", false},
		{bad_pct, strlen(bad_pct), 400, NULL, "Malformed request", true},
		{pct00, strlen(pct00), 400, "url", "NUL", false},
		{two_lines, strlen(two_lines), 400, "header", "second request line", false},
		{many_lines, 0, 431, NULL, "header lines", false},
	};
	double b400 = answers_with(400), b431 = answers_with(431);

	/* 100 header lines: more than lws's fragment slots. */
	n = (size_t)sprintf(many_lines, "GET /healthz HTTP/1.1\r\n");
	for (int i = 0; i < 100; i++)
		n += (size_t)sprintf(many_lines + n, "Accept: x/%d\r\n", i);
	n += (size_t)sprintf(many_lines + n, "\r\n");
	bad[6].len = n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_later_refusal(tls, true, &bad[i]);
		expect_later_refusal(tls, false, &bad[i]);
	}
	free(big);
	/* Counted with the other refusals, by status. */
	assert_true(answers_with(400) == b400 + 10);
	assert_true(answers_with(431) == b431 + 4);
}

static void test_later_malformed_requests_get_json(void **state)
{
	static const char nul[] = "GET /api/sym\0bols HTTP/1.1\r\nHost: x\r\n\r\n";
	static const int want[] = {401, 400};
	size_t llen = strlen(login_req);
	char pkt[512];
	struct parsed *p;
	bool closed;

	(void)state;
	expect_later_refusals(false);
	/* Behind an answer that waits for the database (and PBKDF2): it comes
	 * first, whole, then the refusal. */
	memcpy(pkt, login_req, llen);
	memcpy(pkt + llen, nul, sizeof(nul) - 1);
	p = exchange_on(false, pkt, llen + sizeof(nul) - 1, 2, want, 20, &closed);
	expect_json_error(&p[0], NULL);
	expect_json_error(&p[1], "url");
	assert_true(closed);
	free(p);
}

/* What lws says in its log about a head it gives up on is the reason
 * http.c gives for that head only: a complaint lws logged about a head it
 * then handed to us (here an Upgrade head without a request line: lws
 * logs "Missing URI", then asks us to confirm the upgrade, and we answer
 * 404) must not become the reason given for another client's dropped
 * head. */
static void test_lws_complaint_stays_with_its_head(void **state)
{
	static const char upgrade[] = "Host: x\r\nUpgrade: websocket\r\n"
				      "Connection: Upgrade\r\n\r\n";
	static const char nul[] = "GET /api/sym\0bols HTTP/1.1\r\nHost: x\r\n\r\n";
	const struct bad_head bad = {nul, sizeof(nul) - 1, 400, "url", "NUL", false};
	struct conn c;
	size_t len;
	bool closed;
	char *buf;

	(void)state;
	conn_open(&c, false);
	conn_send(&c, get_healthz, strlen(get_healthz));
	free(conn_read_answers(&c, 1, 10, &len, &closed));
	conn_send(&c, upgrade, strlen(upgrade));
	buf = conn_read_answers(&c, 1, 10, &len, &closed);
	conn_close(&c);
	free(buf);
	expect_later_refusal(false, false, &bad);
}

static void test_later_malformed_requests_get_json_tls(void **state)
{
	(void)state;
	expect_later_refusals(true);
}

/* A head of 10 KiB (within the table) in one packet over TLS is served at
 * once: one TLS record, which lws used to read in three pieces and then
 * wait for the client's next packet for the third (server.c). */
static void test_big_head_over_tls_is_served(void **state)
{
	static const int ok = 200;
	size_t len;
	char *head = padded_head(10, 1000, &len);
	bool closed;

	(void)state;
	free(exchange_on(true, head, len, 1, &ok, 10, &closed));
	free(head);
}

/* ---- idle connections ---- */

static void raise_fd_limit(rlim_t want)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	if (rl.rlim_cur < want)
		skip(); /* cannot hold that many sockets here */
}

static bool at_least_1000_connections(void *ud)
{
	(void)ud;
	return metric("tickpush_http_connections") >= 1000;
}

/* 1,000 connections that never send a byte must not lock anyone out;
 * they are closed after the idle timeout. */
static void test_idle_connections_do_not_lock_out(void **state)
{
	enum { N = 1000 };
	int *fds = malloc(N * sizeof(int));
	struct it_http_resp r;
	double t0, took;
	int open_after = 0;

	(void)state;
	raise_fd_limit(N + 200);
	for (int i = 0; i < N; i++) {
		fds[i] = it_connect(env.port);
		assert_true(fds[i] >= 0);
	}
	/* All accepted (the gauge counts idle connections too)... */
	if (!it_wait(at_least_1000_connections, NULL, 10))
		fail_msg("the server did not accept 1,000 connections (gauge %g)",
			 metric("tickpush_http_connections"));
	/* ...and a new client is served at once. */
	t0 = it_now();
	assert_int_equal(it_http(env.port, "GET", "/healthz", NULL, NULL, 0, &r), 0);
	took = it_now() - t0;
	assert_int_equal(r.status, 200);
	it_http_free(&r);
	if (took > 1.0)
		fail_msg("/healthz took %.2f s next to 1,000 idle connections", took);

	/* The idle ones are closed after the idle timeout (they sent nothing). */
	sleep(IDLE_TIMEOUT);
	for (int i = 0; i < N; i++) {
		struct pollfd pfd = {fds[i], POLLIN, 0};
		char c;

		if (poll(&pfd, 1, 8000) != 1 || recv(fds[i], &c, 1, MSG_DONTWAIT) != 0)
			open_after++;
		close(fds[i]);
	}
	free(fds);
	if (open_after)
		fail_msg("%d idle connections were still open after the idle timeout",
			 open_after);
}

/* A connection that has started its request is not cut by the idle
 * timeout: the whole request may take http_timeout. */
static void test_started_request_outlives_idle_timeout(void **state)
{
	static const int want[] = {200};
	int fd = it_connect(env.port);
	char *buf;
	size_t len;
	bool closed;
	struct parsed p[2];

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(send(fd, "GET /healthz HTTP/1.1\r\n", 23, MSG_NOSIGNAL), 23);
	sleep(IDLE_TIMEOUT + 1);
	assert_int_equal(send(fd, "Host: x\r\n\r\n", 11, MSG_NOSIGNAL), 11);
	buf = read_answers(fd, 1, 10, &len, &closed);
	assert_int_equal(parse_responses(buf, len, p, 2), 1);
	assert_int_equal(p[0].status, want[0]);
	free(buf);
	close(fd);
}

/* ---- malformed and oversized requests ---- */

/* prefix, then n copies of c, then suffix (caller frees). */
static char *padded(const char *prefix, char c, size_t n, const char *suffix)
{
	size_t a = strlen(prefix), b = strlen(suffix);
	char *s = malloc(a + n + b + 1);

	memcpy(s, prefix, a);
	memset(s + a, c, n);
	memcpy(s + a + n, suffix, b + 1);
	return s;
}

/* Sends pkt and expects one JSON error (status, naming field when not
 * NULL) that says and does close the connection. */
static void expect_refusal(const char *pkt, int status, const char *field)
{
	struct parsed *p;
	bool closed;

	p = exchange(pkt, 1, &status, 10, &closed);
	expect_json_error(&p[0], field);
	assert_non_null(find_nocase(p[0].headers, "\r\nconnection: close"));
	assert_true(closed);
	free(p);
}

static void test_oversized_header_is_431(void **state)
{
	char *pkt = padded("GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: ", 'c', 15000,
			   "\r\n\r\n");

	size_t len;
	char *lines = padded_head(10, 1500, &len);

	(void)state;
	expect_refusal(pkt, 431, "cookie");
	free(pkt);
	/* Lines each within the limit, together beyond lws's header table,
	 * as a connection's first head (too long for sniff.c to judge). */
	expect_refusal(lines, 431, NULL);
	free(lines);
}

static void test_oversized_url_is_414(void **state)
{
	char *args = padded("GET /api/patterns/scan?symbols=", 'A', 16000,
			    " HTTP/1.1\r\nHost: x\r\n\r\n");
	char *path = padded("GET /", 'p', 12000, " HTTP/1.1\r\nHost: x\r\n\r\n");

	(void)state;
	expect_refusal(args, 414, "url");
	expect_refusal(path, 414, "url");
	free(args);
	free(path);
}

/* lws does not decode chunked request bodies, and a POST without a length
 * would make it wait for 100 MB: both are refused at once with 411. */
static void test_body_without_length_is_411(void **state)
{
	char chunked[] =
		"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		"26\r\n" LOGIN_WRONG "\r\n0\r\n\r\n";
	char no_length[] = "POST /api/auth/login HTTP/1.1\r\nHost: x\r\n\r\n";

	(void)state;
	expect_refusal(chunked, 411, NULL);
	expect_refusal(no_length, 411, NULL);
}

static void test_connection_close_honoured(void **state)
{
	static const int ok[] = {200}, bad[] = {400};
	static const char get_close[] =
		"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	static const char post_close[] =
		"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		"Content-Length: 2\r\n\r\n{}";
	struct parsed *p;
	bool closed;

	(void)state;
	p = exchange(get_close, 1, ok, 10, &closed);
	assert_non_null(find_nocase(p[0].headers, "\r\nconnection: close"));
	assert_true(closed);
	free(p);
	p = exchange(post_close, 1, bad, 10, &closed);
	assert_non_null(find_nocase(p[0].headers, "\r\nconnection: close"));
	assert_true(closed);
	free(p);
}

/* What lws 4.1.6 used to refuse itself, inside its parser, with its HTML
 * 403 or by dropping the connection: now our JSON (sniff.c). */
static void test_lws_parser_refusals_are_json(void **state)
{
	char many_args[4096], many_lines[8192];
	int n;

	(void)state;
	expect_refusal("GET /api/patterns/scan?symbols=%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "url");
	expect_refusal("GET /healthz%2 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "url");
	expect_refusal("GET /api/symbols/A%00B HTTP/1.1\r\nHost: x\r\n\r\n", 400, "url");
	expect_refusal("BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 501, "method");
	expect_refusal("GET / HTTP/1.1\r\nHost: x\r\nGET / HTTP/1.1\r\n\r\n", 400, "header");
	/* 100 URL arguments: more than lws has slots for. */
	n = snprintf(many_args, sizeof(many_args), "GET /api/patterns/scan?a=1");
	for (int i = 0; i < 99; i++)
		n += snprintf(many_args + n, sizeof(many_args) - (size_t)n, "&p%d=1", i);
	snprintf(many_args + n, sizeof(many_args) - (size_t)n, " HTTP/1.1\r\nHost: x\r\n\r\n");
	expect_refusal(many_args, 400, "query");
	/* 100 header lines. */
	n = snprintf(many_lines, sizeof(many_lines), "GET /healthz HTTP/1.1\r\n");
	for (int i = 0; i < 100; i++)
		n += snprintf(many_lines + n, sizeof(many_lines) - (size_t)n, "Accept: x/%d\r\n", i);
	snprintf(many_lines + n, sizeof(many_lines) - (size_t)n, "\r\n");
	expect_refusal(many_lines, 431, NULL);
}

/* The same when the head comes in pieces, after the connection was
 * accepted: the check waits for the whole head. */
static void test_lws_parser_refusal_in_pieces(void **state)
{
	static const char part1[] = "GET /api/patterns/scan?sym", part2[] = "bols=%g1 HTTP/1.1\r\n",
			  part3[] = "Host: x\r\n\r\n",
			  rest[] = "thz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct parsed p[2];
	int fd = it_connect(env.port);
	size_t len;
	bool closed;
	char *buf;

	(void)state;
	assert_true(fd >= 0);
	usleep(100 * 1000); /* accepted with nothing to read yet */
	assert_int_equal(send(fd, part1, strlen(part1), MSG_NOSIGNAL), (ssize_t)strlen(part1));
	usleep(30 * 1000);
	assert_int_equal(send(fd, part2, strlen(part2), MSG_NOSIGNAL), (ssize_t)strlen(part2));
	usleep(30 * 1000);
	assert_int_equal(send(fd, part3, strlen(part3), MSG_NOSIGNAL), (ssize_t)strlen(part3));
	buf = read_answers(fd, 1, 10, &len, &closed);
	close(fd);
	if (parse_responses(buf, len, p, 2) != 1)
		fail_msg("want one answer: %s", buf);
	assert_int_equal(p[0].status, 400);
	expect_json_error(&p[0], "url");
	assert_true(closed);
	free(buf);
	/* A good head in pieces is served as before. */
	fd = it_connect(env.port);
	assert_true(fd >= 0);
	usleep(50 * 1000);
	assert_int_equal(send(fd, "GET /heal", 9, MSG_NOSIGNAL), 9);
	usleep(30 * 1000);
	assert_int_equal(send(fd, rest, strlen(rest), MSG_NOSIGNAL), (ssize_t)strlen(rest));
	buf = read_answers(fd, 1, 10, &len, &closed);
	close(fd);
	if (parse_responses(buf, len, p, 2) != 1 || p[0].status != 200)
		fail_msg("want one 200: %s", buf);
	free(buf);
}

/* ---- static files ---- */

static int static_status(const char *path)
{
	struct it_http_resp r;
	int status;

	assert_int_equal(it_http(env.port, "GET", path, NULL, NULL, 0, &r), 0);
	status = r.status;
	if (status == 200 && strstr(r.body, "root:"))
		fail_msg("%s served a file from outside the web-demo folder", path);
	it_http_free(&r);
	return status;
}

static void test_static_files_stay_inside_the_folder(void **state)
{
	(void)state;
	assert_int_equal(static_status("/index.html"), 200);
	assert_int_equal(static_status("/"), 200);
	assert_int_equal(static_status("/inside.html"), 200);
	assert_int_equal(static_status("/passwd"), 404);
	assert_int_equal(static_status("/etc/passwd"), 404);
	assert_int_equal(static_status("/etc/"), 404);
}
/* ---- keep-alive answers ---- */

static const char get_scan[] =
	"GET /api/patterns/scan?confidence_min=0.6 HTTP/1.1\r\nHost: x\r\n\r\n";

/* Sends req on c and reads its one answer whole; returns its status. */
static int ask(struct conn *c, const char *req, size_t len)
{
	static char buf[1 << 16];
	struct parsed p;
	size_t n = 0;

	conn_send(c, req, len);
	while (n < sizeof(buf) - 1) {
		ssize_t r;

		if (!conn_readable(c, 10))
			fail_msg("no answer within 10 s after %zu bytes", n);
		r = conn_recv(c, buf + n, sizeof(buf) - 1 - n);
		if (r <= 0)
			fail_msg("the server closed a keep-alive connection");
		n += (size_t)r;
		buf[n] = '\0';
		if (parse_responses(buf, n, &p, 1) == 1) {
			assert_null(find_nocase(p.headers, "\r\nconnection: close"));
			return p.status;
		}
	}
	fail_msg("answer larger than %zu bytes", sizeof(buf));
	return -1;
}

/* n GETs one after another on c, each answered in full before the next. */
static void ask_scans(struct conn *c, int n)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(ask(c, get_scan, strlen(get_scan)), 200);
}

/*
 * A keep-alive answer costs no poll change. lws 4.1.6 followed each one
 * with a POLLOUT round (POLLOUT on, then off twice) and its libuv glue
 * made each change a uv_poll_start, i.e. an EPOLL_CTL_DEL and an ADD:
 * six epoll_ctl per request (http.c, uv_poll_start). Counted with strace
 * attached to the server over 100 sequential requests on one connection;
 * skipped where strace is missing or may not attach. Before and after,
 * deferred answers (logins, written from WRITEABLE) on the same
 * connection: the next request is still read and answered.
 */
static void test_keepalive_answers_cost_no_epoll_ctl(void **state)
{
	struct conn c;
	pid_t sp;
	long calls;

	(void)state;
	conn_open(&c, false);
	assert_int_equal(ask(&c, login_req, strlen(login_req)), 401);
	ask_scans(&c, 3);
	if ((sp = it_strace_start(&env, "epoll_ctl", "keepalive")) < 0) {
		conn_close(&c);
		skip();
	}
	ask_scans(&c, 100);
	calls = it_strace_calls(&env, sp, "keepalive", "epoll_ctl");
	print_message("epoll_ctl during 100 keep-alive requests: %ld\n", calls);
	assert_true(calls >= 0);
	/* Before: ~600. Now ~0; what remains is the server's other
	 * connections (Redis, PostgreSQL), hence the margin. */
	if (calls >= 100)
		fail_msg("%ld epoll_ctl for 100 keep-alive requests", calls);
	assert_int_equal(ask(&c, login_req, strlen(login_req)), 401);
	ask_scans(&c, 3);
	conn_close(&c);
}

/* n connections that send nothing (counted from accept). */
static void open_idle(int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		fds[i] = it_connect(env.port);
		assert_true(fds[i] >= 0);
	}
}

static bool connections_reach(void *ud)
{
	return metric("tickpush_http_connections") >= *(const double *)ud;
}

static bool healthz_answers(void *ud)
{
	char body[256];

	(void)ud;
	return get("/healthz", body, sizeof(body)) == 200;
}

/* One request on a fresh connection: a single 503 naming the limit, with
 * Retry-After, then the close. */
static void expect_full(const char *request)
{
	static const int st[] = {503};
	struct parsed *p;
	bool closed = false;

	p = exchange(request, 1, st, 10, &closed);
	expect_json_error(&p[0], NULL);
	if (!strstr(p[0].body, "max_connections"))
		fail_msg("the 503 does not name max_connections: %s", p[0].body);
	assert_non_null(find_nocase(p[0].headers, "\r\nretry-after: 1"));
	assert_true(closed);
	free(p);
}

/*
 * A full server can still be probed and scraped. With max_connections
 * (4 here) taken, the next connections go to a reserve of 16 where
 * /healthz and /metrics are served and anything else (REST, a file, a
 * WebSocket handshake) gets a 503 naming the limit; past the reserve a
 * connection is refused at accept. Every refusal is counted. A reserve
 * connection whose request finds room again is served as usual.
 */
static void test_full_server_still_probed(void **state)
{
	int idle[FULL_MAX + OPS_RESERVE], late, probe;
	double want = FULL_MAX + 1, refused0, refused;
	char buf[256];
	struct parsed *p;
	bool closed = false;
	static const int ok[] = {200};

	(void)state;
	open_idle(idle, FULL_MAX);
	/* The scrape that sees them is itself on a reserve connection. */
	if (!it_wait(connections_reach, &want, 20))
		fail_msg("the server never counted %d connections", FULL_MAX);
	assert_int_equal(get("/healthz", buf, sizeof(buf)), 200);
	refused0 = metric("tickpush_connections_refused_total");
	expect_full("GET /api/patterns/scan HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_full("GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_full("GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
		    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		    "Sec-WebSocket-Protocol: tickpush.v1\r\n\r\n");
	refused = metric("tickpush_connections_refused_total");
	if (refused != refused0 + 3)
		fail_msg("connections_refused went %g -> %g, want +3", refused0, refused);
	/* Opened while full: a reserve connection, kept for later. */
	late = it_connect(env.port);
	assert_true(late >= 0);
	/* Fill the reserve; the connection after them is not served. */
	open_idle(idle + FULL_MAX, OPS_RESERVE - 1);
	probe = it_connect(env.port);
	assert_true(probe >= 0);
	/* Closed at accept: the send may already fail. */
	(void)!send(probe, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 34, MSG_NOSIGNAL);
	if (it_read_head(probe, 10) > 0)
		fail_msg("a connection past the reserve was answered");
	close(probe);
	/* Room again: all but 2 of the first ones leave, and `late` (a
	 * reserve connection) gets an ordinary answer. */
	for (int i = 2; i < FULL_MAX + OPS_RESERVE - 1; i++)
		close(idle[i]);
	if (!it_wait(healthz_answers, NULL, 20))
		fail_msg("no room came back after the clients left");
	refused = metric("tickpush_connections_refused_total");
	if (refused < refused0 + 4)
		fail_msg("the refusal at accept was not counted (%g -> %g)", refused0, refused);
	{
		static const char scan[] = "GET /api/patterns/scan HTTP/1.1\r\nHost: t\r\n\r\n";

		assert_int_equal(send(late, scan, strlen(scan), MSG_NOSIGNAL),
				 (ssize_t)strlen(scan));
	}
	{
		size_t len;
		char *answers = read_answers(late, 1, 10, &len, &closed);

		p = expect_answers(answers, len, 1, ok);
		free(p);
	}
	close(late);
	close(idle[0]);
	close(idle[1]);
}

/* The same requests over TLS (lws writes those answers, not our writev). */
static void test_keepalive_answers_over_tls(void **state)
{
	struct conn c;

	(void)state;
	conn_open(&c, true);
	ask_scans(&c, 20);
	conn_close(&c);
}


#define SCENARIO(fn) cmocka_unit_test_setup_teardown(fn, server_start, server_check_and_stop)
#define SCENARIO_TLS(fn) \
	cmocka_unit_test_setup_teardown(fn, server_start_tls, server_check_and_stop)

int main(void)
{
	const struct CMUnitTest tests[] = {
		SCENARIO(test_two_logins_one_packet_then_close),
		SCENARIO(test_two_logins_one_packet_answered_in_order),
		SCENARIO(test_two_long_polls_one_packet_then_close),
		SCENARIO(test_get_then_post_one_packet),
		SCENARIO(test_post_then_post_one_packet),
		SCENARIO(test_long_body_pipelined),
		SCENARIO(test_empty_bodies_answered_once),
		SCENARIO(test_get_with_body_then_get),
		SCENARIO(test_hundred_pipelined_gets),
		SCENARIO(test_keepalive_answers_cost_no_epoll_ctl),
		cmocka_unit_test_setup_teardown(test_full_server_still_probed,
						server_start_small, server_check_and_stop),
		SCENARIO_TLS(test_keepalive_answers_over_tls),
		SCENARIO(test_unknown_upgrade_answered_once),
		SCENARIO(test_malformed_keepalive_request_gets_json),
		SCENARIO(test_later_malformed_requests_get_json),
		SCENARIO_TLS(test_later_malformed_requests_get_json_tls),
		SCENARIO(test_lws_complaint_stays_with_its_head),
		SCENARIO_TLS(test_big_head_over_tls_is_served),
		SCENARIO(test_idle_connections_do_not_lock_out),
		SCENARIO(test_started_request_outlives_idle_timeout),
		SCENARIO(test_oversized_header_is_431),
		SCENARIO(test_oversized_url_is_414),
		SCENARIO(test_body_without_length_is_411),
		SCENARIO(test_connection_close_honoured),
		SCENARIO(test_lws_parser_refusals_are_json),
		SCENARIO(test_lws_parser_refusal_in_pieces),
		SCENARIO(test_static_files_stay_inside_the_folder),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
