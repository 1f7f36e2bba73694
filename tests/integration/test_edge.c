/*
 * test_edge.c - tickpush at the edge of a real deployment: behind a
 * trusted proxy (X-Forwarded-For / X-Real-IP name the client for the login
 * limit; the same headers from anyone else are ignored); called from
 * another origin (CORS: preflight, the headers on REST, errors, SSE and
 * long-poll, an origin not listed gets none; "*" never with credentials);
 * read by a log shipper (log_format json: every line of a run with hostile
 * values in it is one JSON object, the values intact); scraped by
 * Prometheus (/metrics checked by a strict parser of the text format and
 * the naming rules; metrics_token unlocks /metrics alone, with
 * require_auth too).
 *
 * The server trusts 127.0.0.1 only; other loopback sources (127.0.0.x)
 * play untrusted clients. No database: a login attempt is answered 503
 * until the per-address limiter says 429, which is all the limit needs.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "test_support.h"

static struct it_env env;

static int setup(void **state)
{
	const char *extra[] = {
		"TICKPUSH_TRUSTED_PROXIES=127.0.0.1, ::1",
		/* Two attempts per address, then (practically) none. */
		"TICKPUSH_LOGIN_BURST=2", "TICKPUSH_LOGIN_RATE=0.001",
		"TICKPUSH_LOGIN_ACCOUNT_BURST=1000",
		/* No cors_origins: CORS follows allowed_origins. */
		"TICKPUSH_ALLOWED_ORIGINS=http://other.test:8000, https://dash.test", NULL,
	};

	(void)state;
	it_setup(&env, "edge");
	it_redis_start(&env);
	it_server_start(&env, extra, true);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return it_finish(&env);
}

/* One login attempt from src with extra headers; returns the status. */
static int login_from(const char *src, const char *headers)
{
	static const char body[] = "{\"username\":\"demo\",\"password\":\"guess\"}";
	struct it_http_resp r;
	int status;

	if (it_http_from(src, env.port, "POST", "/api/auth/login", headers, body,
			 sizeof(body) - 1, &r))
		fail_msg("login from %s: transport error", src);
	status = r.status;
	if ((status != 503 && status != 429) ||
	    (status == 429 && !strstr(r.body, "from this address")))
		fail_msg("login from %s (%s): %d %s", src, headers, status, r.body);
	it_http_free(&r);
	return status;
}

static void test_forwarded_client_has_own_login_limit(void **state)
{
	(void)state;
	/* Client A behind the proxy spends its two attempts... */
	assert_int_equal(login_from("127.0.0.1", "X-Forwarded-For: 203.0.113.1\r\n"), 503);
	assert_int_equal(login_from("127.0.0.1", "X-Forwarded-For: 203.0.113.1\r\n"), 503);
	assert_int_equal(login_from("127.0.0.1", "X-Forwarded-For: 203.0.113.1\r\n"), 429);
	/* ...through a second proxy hop too (the rightmost untrusted hop
	 * counts; what the client wrote left of it does not)... */
	assert_int_equal(login_from("127.0.0.1",
				    "X-Forwarded-For: 6.6.6.6, 203.0.113.1, ::1\r\n"), 429);
	/* ...while client B, from the same proxy, still has its own. */
	assert_int_equal(login_from("127.0.0.1", "X-Forwarded-For: 203.0.113.2\r\n"), 503);
	assert_int_equal(login_from("127.0.0.1", "X-Real-IP: 203.0.113.3\r\n"), 503);
	assert_int_equal(login_from("127.0.0.1", "X-Real-IP: 203.0.113.3\r\n"), 503);
	assert_int_equal(login_from("127.0.0.1", "X-Real-IP: 203.0.113.3\r\n"), 429);
}

static void test_spoofed_header_from_untrusted_peer_ignored(void **state)
{
	char hdr[64];

	(void)state;
	/* 127.0.0.2 is no proxy: a new X-Forwarded-For per attempt buys
	 * nothing, its own address is the key. */
	for (int i = 0; i < 4; i++) {
		snprintf(hdr, sizeof(hdr), "X-Forwarded-For: 198.51.100.%d\r\n", i + 1);
		assert_int_equal(login_from("127.0.0.2", hdr), i < 2 ? 503 : 429);
	}
	assert_int_equal(login_from("127.0.0.2", "X-Real-IP: 198.51.100.9\r\n"), 429);
	/* ...and it spent nothing of the clients it named. */
	assert_int_equal(login_from("127.0.0.1", "X-Forwarded-For: 198.51.100.1\r\n"), 503);
	/* The proxy itself, with no header, is keyed on its own address. */
	assert_int_equal(login_from("127.0.0.1", NULL), 503);
}

/* ---- CORS ---- */

#define GOOD "http://other.test:8000"
#define BAD "http://evil.test"

/* The value of header name in a raw header block into out ("" = absent). */
static const char *header(const char *headers, const char *name, char *out, size_t n)
{
	size_t len = strlen(name);

	out[0] = '\0';
	for (const char *h = headers; (h = strstr(h, "\r\n")); h += 2) {
		if (!strncasecmp(h + 2, name, len) && h[2 + len] == ':') {
			const char *v = h + 3 + len, *e;

			while (*v == ' ')
				v++;
			e = strstr(v, "\r\n");
			snprintf(out, n, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
			break;
		}
	}
	return out;
}

static void request(int port, const char *method, const char *path, const char *hdrs,
		    struct it_http_resp *r)
{
	if (it_http(port, method, path, hdrs, NULL, 0, r))
		fail_msg("%s %s: transport error", method, path);
}

/* An answer for origin GOOD (echo) or any (star), or none (cors NULL). */
static void expect_cors(const char *headers, const char *allow_origin, bool vary)
{
	char v[256];

	assert_string_equal(header(headers, "access-control-allow-origin", v, sizeof(v)),
			    allow_origin ? allow_origin : "");
	if (!allow_origin || !strcmp(allow_origin, "*"))
		assert_string_equal(header(headers, "access-control-allow-credentials", v,
					   sizeof(v)), "");
	else
		assert_string_equal(header(headers, "access-control-allow-credentials", v,
					   sizeof(v)), "true");
	assert_string_equal(header(headers, "vary", v, sizeof(v)), vary ? "Origin" : "");
}

static void test_cors_preflight(void **state)
{
	struct it_http_resp r;
	char v[256];

	(void)state;
	request(env.port, "OPTIONS", "/api/patterns/scan",
		"Origin: " GOOD "\r\nAccess-Control-Request-Method: GET\r\n"
		"Access-Control-Request-Headers: authorization\r\n", &r);
	assert_int_equal(r.status, 204);
	expect_cors(r.headers, GOOD, true);
	assert_string_equal(header(r.headers, "access-control-allow-methods", v, sizeof(v)),
			    "GET, OPTIONS");
	header(r.headers, "access-control-allow-headers", v, sizeof(v));
	assert_non_null(strstr(v, "Authorization"));
	assert_non_null(strstr(v, "Content-Type"));
	assert_string_equal(header(r.headers, "access-control-max-age", v, sizeof(v)), "600");
	it_http_free(&r);
	/* Login: POST with a JSON body, from the second listed origin. */
	request(env.port, "OPTIONS", "/api/auth/login",
		"Origin: https://dash.test\r\nAccess-Control-Request-Method: POST\r\n"
		"Access-Control-Request-Headers: content-type\r\n", &r);
	assert_int_equal(r.status, 204);
	expect_cors(r.headers, "https://dash.test", true);
	assert_string_equal(header(r.headers, "access-control-allow-methods", v, sizeof(v)),
			    "POST, OPTIONS");
	it_http_free(&r);
	/* An origin not listed: a JSON 403 and nothing that lets it in. */
	request(env.port, "OPTIONS", "/api/patterns/scan",
		"Origin: " BAD "\r\nAccess-Control-Request-Method: GET\r\n", &r);
	assert_int_equal(r.status, 403);
	expect_cors(r.headers, NULL, true);
	assert_non_null(strstr(r.body, "\"Origin not allowed\""));
	assert_string_equal(header(r.headers, "access-control-allow-methods", v, sizeof(v)), "");
	it_http_free(&r);
	/* OPTIONS without an Origin: just what the route allows. */
	request(env.port, "OPTIONS", "/api/users/watchlists", NULL, &r);
	assert_int_equal(r.status, 204);
	assert_string_equal(header(r.headers, "allow", v, sizeof(v)), "GET, POST, OPTIONS");
	expect_cors(r.headers, NULL, true);
	it_http_free(&r);
	/* An unknown path stays a 404. */
	request(env.port, "OPTIONS", "/api/nope", "Origin: " GOOD "\r\n", &r);
	assert_int_equal(r.status, 404);
	it_http_free(&r);
}

static void test_cors_headers_on_answers(void **state)
{
	struct it_http_resp r;
	char v[256];

	(void)state;
	request(env.port, "GET", "/api/patterns/scan", "Origin: " GOOD "\r\n", &r);
	assert_int_equal(r.status, 200);
	expect_cors(r.headers, GOOD, true);
	assert_string_equal(header(r.headers, "access-control-expose-headers", v, sizeof(v)),
			    "Retry-After");
	it_http_free(&r);
	/* Errors too: a script must be able to read the JSON error. */
	request(env.port, "GET", "/api/patterns/scan?confidence_min=x", "Origin: " GOOD "\r\n",
		&r);
	assert_int_equal(r.status, 400);
	expect_cors(r.headers, GOOD, true);
	it_http_free(&r);
	/* Long-poll (deferred answer). */
	request(env.port, "GET", "/api/patterns/poll?timeout=0", "Origin: " GOOD "\r\n", &r);
	assert_int_equal(r.status, 200);
	expect_cors(r.headers, GOOD, true);
	it_http_free(&r);
	/* Not listed, or no Origin at all: no CORS headers. */
	request(env.port, "GET", "/api/patterns/scan", "Origin: " BAD "\r\n", &r);
	assert_int_equal(r.status, 200);
	expect_cors(r.headers, NULL, true);
	it_http_free(&r);
	request(env.port, "GET", "/api/patterns/scan", NULL, &r);
	expect_cors(r.headers, NULL, true);
	it_http_free(&r);
}

/* The head of an SSE answer (the stream itself never ends). */
static char *sse_head(int port, const char *origin)
{
	char req[256], *buf = calloc(1, 4096);
	size_t len = 0;
	int fd = it_connect(port);

	assert_true(fd >= 0);
	snprintf(req, sizeof(req), "GET /api/stream HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\n\r\n",
		 origin);
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	while (len < 4095 && !strstr(buf, "\r\n\r\n")) {
		ssize_t n = recv(fd, buf + len, 4095 - len, 0);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	return buf;
}

static void test_cors_sse(void **state)
{
	char *head = sse_head(env.port, GOOD);

	(void)state;
	assert_non_null(strstr(head, "text/event-stream"));
	expect_cors(head, GOOD, true);
	free(head);
	head = sse_head(env.port, BAD);
	assert_non_null(strstr(head, "text/event-stream"));
	expect_cors(head, NULL, true);
	free(head);
}

/* cors_origins "*": any origin, never with credentials, nothing varies. */
static void test_cors_star(void **state)
{
	const char *extra[] = {"TICKPUSH_CORS_ORIGINS=*",
			       "TICKPUSH_ALLOWED_ORIGINS=https://dash.test", NULL};
	struct it_env e2;
	struct it_http_resp r;
	char *head;
	int rc;

	(void)state;
	it_setup(&e2, "edge-star");
	snprintf(e2.redis_sock, sizeof(e2.redis_sock), "%s", env.redis_sock);
	it_server_start(&e2, extra, true);
	request(e2.port, "OPTIONS", "/api/patterns/scan",
		"Origin: " BAD "\r\nAccess-Control-Request-Method: GET\r\n", &r);
	assert_int_equal(r.status, 204);
	expect_cors(r.headers, "*", false);
	it_http_free(&r);
	request(e2.port, "GET", "/api/patterns/scan", "Origin: " BAD "\r\n", &r);
	expect_cors(r.headers, "*", false);
	it_http_free(&r);
	head = sse_head(e2.port, GOOD);
	expect_cors(head, "*", false);
	free(head);
	rc = it_server_stop(&e2, SIGTERM, 10);
	if (rc)
		it_dump_logs(&e2);
	it_teardown(&e2);
	assert_int_equal(rc, 0);
}

/* ---- JSON logs ---- */

static bool postgres_retry_logged(void *ud)
{
	const char *path = ud;
	FILE *f = fopen(path, "r");
	char line[4096];
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, "postgres unavailable, retrying") != NULL;
	if (f)
		fclose(f);
	return found;
}

static void test_json_logs(void **state)
{
	/* A database host with a quote and a newline (percent-encoded in the
	 * URI), which every PostgreSQL log line names. */
	const char *extra[] = {"TICKPUSH_LOG_FORMAT=json",
			       "DATABASE_URI=postgresql://tp@/tp?host=%2Fnonexistent%2Fa%22b%0Ac",
			       "TICKPUSH_JWT_SECRET=edge-test-secret-0123456789abcdef0123", NULL};
	struct it_env e3;
	char path[300], line[8192];
	FILE *f;
	int rc, n = 0, pg_lines = 0;

	(void)state;
	it_setup(&e3, "edge-json");
	snprintf(e3.redis_sock, sizeof(e3.redis_sock), "%s", env.redis_sock);
	it_server_start(&e3, extra, true);
	/* A rejected event whose text is hostile too. */
	it_publish(&e3, "tickstock.events.patterns",
		   "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"A\\\"B\\n\","
		   "\"pattern\":\"x\\u0001y\",\"confidence\":2}}");
	snprintf(path, sizeof(path), "%s/server.1.log", e3.dir);
	assert_true(it_wait(postgres_retry_logged, path, 15));
	rc = it_server_stop(&e3, SIGTERM, 10);
	if (rc)
		it_dump_logs(&e3);
	assert_int_equal(rc, 0);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		cJSON *j = cJSON_Parse(line);
		const char *msg;

		if (!j || !cJSON_IsObject(j))
			fail_msg("log line %d is not a JSON object: %s", n + 1, line);
		assert_string_not_equal(it_json_str(j, "ts"), "");
		assert_string_not_equal(it_json_str(j, "level"), "");
		msg = it_json_str(j, "msg");
		assert_string_not_equal(msg, "");
		if (strstr(msg, "postgres")) {
			assert_string_equal(it_json_str(j, "host"), "/nonexistent/a\"b\nc");
			pg_lines++;
		}
		cJSON_Delete(j);
		n++;
	}
	fclose(f);
	it_teardown(&e3);
	assert_true(n >= 4); /* starting, listening, postgres..., stopped */
	assert_true(pg_lines >= 1);
}

/* ---- /metrics ---- */

struct family {
	char name[128], type[16];
	bool help, samples, closed;
};

static bool name_ok(const char *s, size_t n, bool metric)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			     (metric && c == ':');

		if (!alpha && (i == 0 || c < '0' || c > '9'))
			return false;
	}
	return true;
}

/* {name="value",...}: names distinct, values with \\ \" \n escapes only.
 * Returns the end of the label set, or NULL. */
static const char *labels_ok(const char *p, char le[32])
{
	char names[16][64];
	int n = 0;

	le[0] = '\0';
	if (*p++ != '{')
		return NULL;
	while (*p != '}') {
		const char *start = p;
		size_t len;
		char *v = NULL;

		while (*p && *p != '=')
			p++;
		len = (size_t)(p - start);
		if (!*p || !name_ok(start, len, false) || len >= 64 || n == 16 ||
		    !strncmp(start, "__", 2) || p[1] != '"')
			return NULL;
		for (int i = 0; i < n; i++)
			if (strlen(names[i]) == len && !strncmp(names[i], start, len))
				return NULL;
		snprintf(names[n++], 64, "%.*s", (int)len, start);
		if (!strcmp(names[n - 1], "le"))
			v = le;
		p += 2;
		for (size_t k = 0; *p != '"'; p++) {
			if (!*p || *p == '\n')
				return NULL;
			if (*p == '\\' && (p[1] != '\\' && p[1] != '"' && p[1] != 'n'))
				return NULL;
			if (*p == '\\')
				p++;
			if (v && k < 31) {
				v[k++] = *p;
				v[k] = '\0';
			}
		}
		p++;
		if (*p == ',')
			p++;
		else if (*p != '}')
			return NULL;
	}
	return p + 1;
}

static struct family *family_of(struct family *f, int n, const char *name, size_t len)
{
	for (int i = 0; i < n; i++)
		if (strlen(f[i].name) == len && !strncmp(f[i].name, name, len))
			return &f[i];
	return NULL;
}

/* The strict check: fails the test naming the line. Returns the number
 * of families. */
static int check_exposition(const char *text)
{
	static struct family fam[256];
	struct family *cur = NULL;
	int nf = 0, lineno = 0;
	const char *line = text;

	assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
	while (*line) {
		const char *eol = strchr(line, '\n');
		char buf[1024], le[32];
		size_t len = (size_t)(eol - line);

		lineno++;
		if (len >= sizeof(buf)) {
			fail_msg("line %d too long", lineno);
			return -1; /* fail_msg is not declared noreturn */
		}
		memcpy(buf, line, len);
		buf[len] = '\0';
		line = eol + 1;
		if (!len)
			fail_msg("line %d: empty", lineno);
		if (strstr(buf, "_total_total"))
			fail_msg("line %d: doubled _total: %s", lineno, buf);
		if (!strncmp(buf, "# HELP ", 7) || !strncmp(buf, "# TYPE ", 7)) {
			bool type = buf[2] == 'T';
			const char *name = buf + 7;
			size_t nlen = strcspn(name, " ");
			struct family *f = family_of(fam, nf, name, nlen);

			if (!name_ok(name, nlen, true) || name[nlen] != ' ')
				fail_msg("line %d: bad family name: %s", lineno, buf);
			if (strncmp(name, "tickpush_", 9) && strncmp(name, "process_", 8))
				fail_msg("line %d: not tickpush_ or process_: %s", lineno, buf);
			if (!f) {
				if (nf == 256)
					fail_msg("too many families");
				f = &fam[nf++];
				snprintf(f->name, sizeof(f->name), "%.*s", (int)nlen, name);
			}
			if (f->samples || f->closed)
				fail_msg("line %d: HELP/TYPE after samples: %s", lineno, buf);
			if (cur && cur != f)
				cur->closed = true;
			cur = f;
			if (type) {
				const char *t = name + nlen + 1;

				if (f->type[0])
					fail_msg("line %d: second TYPE for %s", lineno, f->name);
				if (strcmp(t, "counter") && strcmp(t, "gauge") &&
				    strcmp(t, "histogram"))
					fail_msg("line %d: type %s", lineno, t);
				snprintf(f->type, sizeof(f->type), "%s", t);
				if (!strcmp(t, "counter") &&
				    (nlen < 6 || strncmp(name + nlen - 6, "_total", 6)))
					fail_msg("line %d: counter without _total: %s", lineno, buf);
			} else {
				if (f->help)
					fail_msg("line %d: second HELP for %s", lineno, f->name);
				f->help = true;
			}
			continue;
		}
		if (buf[0] == '#')
			fail_msg("line %d: stray comment: %s", lineno, buf);
		{
			size_t nlen = strcspn(buf, "{ ");
			const char *rest = buf + nlen;
			char *end;
			bool hist_part = false;

			if (!name_ok(buf, nlen, true))
				fail_msg("line %d: bad sample name: %s", lineno, buf);
			if (!cur || (strncmp(buf, cur->name, strlen(cur->name))))
				fail_msg("line %d: sample outside its family: %s", lineno, buf);
			if (nlen != strlen(cur->name)) {
				const char *suffix = buf + strlen(cur->name);

				hist_part = !strcmp(cur->type, "histogram") &&
					    (!strncmp(suffix, "_bucket", 7) || !strncmp(suffix, "_sum", 4) ||
					     !strncmp(suffix, "_count", 6));
				if (!hist_part)
					fail_msg("line %d: not a sample of %s: %s", lineno, cur->name, buf);
			}
			if (!strcmp(cur->type, "histogram") && !hist_part)
				fail_msg("line %d: bare histogram sample: %s", lineno, buf);
			if (!cur->type[0] || !cur->help)
				fail_msg("line %d: family %s without HELP and TYPE", lineno, cur->name);
			if (*rest == '{' && !(rest = labels_ok(rest, le)))
				fail_msg("line %d: bad labels: %s", lineno, buf);
			if (strstr(buf, "_bucket{") && !le[0])
				fail_msg("line %d: bucket without le: %s", lineno, buf);
			if (*rest != ' ')
				fail_msg("line %d: no value: %s", lineno, buf);
			if (strcmp(rest + 1, "+Inf") && strcmp(rest + 1, "-Inf") &&
			    strcmp(rest + 1, "NaN")) {
				strtod(rest + 1, &end);
				if (end == rest + 1 || *end)
					fail_msg("line %d: bad value: %s", lineno, buf);
			}
			cur->samples = true;
		}
	}
	for (int i = 0; i < nf; i++)
		if (!fam[i].samples || !fam[i].type[0] || !fam[i].help)
			fail_msg("family %s: no samples, HELP or TYPE", fam[i].name);
	return nf;
}

static void test_metrics_exposition(void **state)
{
	struct it_http_resp r;
	int families;

	(void)state;
	/* Some traffic first: status codes, a route histogram. */
	request(env.port, "GET", "/api/nope", NULL, &r);
	it_http_free(&r);
	request(env.port, "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "text/plain; version=0.0.4"));
	families = check_exposition(r.body);
	assert_true(families > 40);
	assert_non_null(strstr(r.body, "\ntickpush_build_info{version=\"0."));
	assert_non_null(strstr(r.body, ",lws=\"4."));
	assert_non_null(strstr(r.body, "\ntickpush_http_responses_total{code=\"404\"} "));
	assert_non_null(strstr(r.body, "\ntickpush_ws_connections_total "));
	assert_non_null(strstr(r.body, "\ntickpush_events_rejected_total{channel=\"patterns\","));
	assert_non_null(strstr(r.body, "\nprocess_start_time_seconds "));
	it_http_free(&r);
	assert_true(it_metric(env.port, "process_resident_memory_bytes") > 1e6);
	assert_true(it_metric(env.port, "process_open_fds") >= 5);
	assert_true(it_metric(env.port, "process_max_fds") >= it_metric(env.port, "process_open_fds"));
	assert_true(it_metric(env.port, "process_cpu_seconds_total") > 0);
	/* Started within the last minutes (it is the wall clock, not uptime). */
	assert_true(fabs(it_metric(env.port, "process_start_time_seconds") - (double)time(NULL)) < 600);
	/* The loop's busy time: turns counted, and their work cannot exceed
	 * the CPU the process was given plus what the machine took from it
	 * (wall time): far below the seconds since start. */
	assert_true(it_metric(env.port, "tickpush_loop_busy_seconds_count") > 10);
	assert_true(it_metric(env.port, "tickpush_loop_busy_seconds_sum") <
		    (double)time(NULL) - it_metric(env.port, "process_start_time_seconds") + 1);
}

#define METRICS_TOKEN "scrape-0123456789abcdef"

static int get_with(int port, const char *path, const char *token)
{
	char hdr[128] = "";
	struct it_http_resp r;
	int status;

	if (token)
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", token);
	request(port, "GET", path, hdr, &r);
	status = r.status;
	if (status != 200)
		assert_non_null(strstr(r.body, "\"error\""));
	it_http_free(&r);
	return status;
}

static void test_metrics_token(void **state)
{
	const char *extra[] = {"TICKPUSH_METRICS_TOKEN=" METRICS_TOKEN,
			       "TICKPUSH_REQUIRE_AUTH=yes", NULL};
	struct it_env e4;
	int rc;

	(void)state;
	it_setup(&e4, "edge-metrics");
	snprintf(e4.redis_sock, sizeof(e4.redis_sock), "%s", env.redis_sock);
	it_server_start(&e4, extra, true);
	assert_int_equal(get_with(e4.port, "/metrics", NULL), 401);
	assert_int_equal(get_with(e4.port, "/metrics", "scrape-0123456789abcdeX"), 401);
	assert_int_equal(get_with(e4.port, "/metrics", "scrape-0123456789abcde"), 401);
	assert_int_equal(get_with(e4.port, "/metrics", METRICS_TOKEN "0"), 401);
	assert_int_equal(get_with(e4.port, "/metrics", METRICS_TOKEN), 200);
	/* It unlocks /metrics only. */
	assert_int_equal(get_with(e4.port, "/api/patterns/scan", METRICS_TOKEN), 401);
	rc = it_server_stop(&e4, SIGTERM, 10);
	if (rc)
		it_dump_logs(&e4);
	it_teardown(&e4);
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forwarded_client_has_own_login_limit),
		cmocka_unit_test(test_spoofed_header_from_untrusted_peer_ignored),
		cmocka_unit_test(test_cors_preflight),
		cmocka_unit_test(test_cors_headers_on_answers),
		cmocka_unit_test(test_cors_sse),
		cmocka_unit_test(test_cors_star),
		cmocka_unit_test(test_json_logs),
		cmocka_unit_test(test_metrics_exposition),
		cmocka_unit_test(test_metrics_token),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
