/*
 * fuzz_http.c - libFuzzer harness for the whole HTTP request path: raw
 * bytes through lws's real parser into http.c, the request lifecycle
 * (httpconn) and the route handlers, in process.
 *
 * One tickpush server (tp_server_init: lws on our libuv loop, no Redis
 * reachable, no database, the demo folder served) lives for the whole run.
 * Each input is one client connection: a socketpair whose server end lws
 * adopts as if accepted; the input goes in at the other end, the loop is
 * turned until the server has been quiet for a while, then the client
 * hangs up and the connection is closed for good (even one waiting for a
 * deferred answer), so inputs do not see each other's connections.
 *
 * Input: byte 0 is the chunk size (0 = everything in one write); the rest
 * is what the client sends, split into chunks of that size with a loop
 * turn between them (requests split across reads, pipelined requests,
 * bodies arriving late).
 *
 * Checked beyond the sanitizers: what the server sent is a sequence of
 * well-formed answers (status line, headers, exactly content-length body
 * bytes; a stream or an upgrade ends the check; the last answer may be cut
 * off by the hang-up), never more answers than the input has request
 * heads (the endless-answers bug of issue 8), and when the connection is
 * gone no request is left in flight (hub.inflight back to zero).
 * FUZZ_HTTP_VERBOSE=1 prints what each input got back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <uv.h>

#include "server.h"
#include "tickpush/config.h"
#include "tickpush/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OUT (1 << 20)
#define QUIET_TURNS 20
#define MAX_TURNS 2000

static struct tp_server *srv;
static struct tp_config cfg;
static bool started;
static char out[MAX_OUT + 1];

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_http: invariant failed: %s\n", what);
		abort();
	}
}

static void stop_server(void)
{
	if (!started)
		return;
	started = false;
	tp_server_stop(srv);
	tp_server_run(srv);
	check(tp_server_cleanup(srv) == TP_OK, "the loop closes cleanly");
	tp_config_cleanup(&cfg);
}

static void start_server(void)
{
	char conf[1024];
	struct tp_errdetail err;
	/* This file is <repo>/tests/fuzz/fuzz_http.c: serve <repo>/web-demo. */
	int repo_len = (int)(strlen(__FILE__) - strlen("tests/fuzz/fuzz_http.c"));

	/* No Redis, no database: every route answers from memory or refuses. */
	snprintf(conf, sizeof(conf),
		 "port 0\nbind 127.0.0.1\nlog_level error\n"
		 "redis_socket /nonexistent/tickpush-fuzz.sock\n"
		 "redis_write_through no\nredis_warm_start no\n"
		 "shutdown_timeout 0\nhttp_idle_timeout 1\n"
		 "web_demo_dir %.*sweb-demo\n", repo_len, __FILE__);
	check(tp_config_load_string(&cfg, conf, strlen(conf), "fuzz", &err) == TP_OK,
	      "the fuzz configuration loads");
	check(tp_server_init(&srv, &cfg) == TP_OK, "the server starts");
	started = true;
	atexit(stop_server);
}

static void turn(void)
{
	uv_run(tp_server_loop(srv), UV_RUN_NOWAIT);
}

/* Reads what the server sent so far; returns the bytes read now. */
static size_t drain(int fd, size_t *len)
{
	size_t got = 0;

	for (;;) {
		ssize_t r = recv(fd, out + *len, MAX_OUT - *len, MSG_DONTWAIT);

		if (r <= 0)
			break;
		*len += (size_t)r;
		got += (size_t)r;
	}
	out[*len] = '\0';
	return got;
}

/* Request heads in the input: every head ends with an empty line. */
static size_t heads_in(const uint8_t *d, size_t n)
{
	size_t heads = 1; /* lws may refuse a head it has not finished */

	for (size_t i = 0; i + 1 < n; i++)
		if (d[i] == '\n' && (d[i + 1] == '\n' ||
				     (d[i + 1] == '\r' && i + 2 < n && d[i + 2] == '\n')))
			heads++;
	return heads;
}

static const char *find_nocase(const char *hay, const char *end, const char *needle)
{
	size_t n = strlen(needle);

	for (; hay + n <= end; hay++)
		if (!strncasecmp(hay, needle, n))
			return hay;
	return NULL;
}

/* Checks the answers in out[0..len); returns how many were complete. */
static size_t check_answers(size_t len)
{
	size_t pos = 0, answers = 0;

	while (pos < len) {
		const char *a = out + pos, *end = out + len, *head_end, *cl;
		size_t head, body;

		if ((size_t)(end - a) < 12 || !(head_end = strstr(a, "\r\n\r\n"))) {
			/* Cut off by the hang-up: at least it began as an answer. */
			check(!strncmp(a, "HTTP/1.", (size_t)(end - a) < 7 ? (size_t)(end - a) : 7),
			      "the server sends only HTTP answers");
			break;
		}
		check(!strncmp(a, "HTTP/1.", 7), "an answer starts with a status line");
		answers++;
		if (!strncmp(a + 9, "101", 3) ||
		    find_nocase(a, head_end, "content-type: text/event-stream"))
			break; /* WebSocket or SSE from here on */
		cl = find_nocase(a, head_end, "\r\ncontent-length:");
		check(cl != NULL, "every answer has a content-length");
		head = (size_t)(head_end - a) + 4;
		body = strtoul(cl + 17, NULL, 10);
		if (pos + head + body > len)
			break; /* cut off */
		pos += head + body;
	}
	return answers;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t base;
	size_t chunk, sent = 0, len = 0, quiet = 0;
	int sv[2];
	struct lws *wsi;

	if (size < 1)
		return 0;
	if (!started)
		start_server();
	base = TP_METRIC_GET(http_connections);
	chunk = data[0] ? data[0] : size;
	data++;
	size--;
	check(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
	wsi = lws_adopt_socket_vhost(tp_server_vhost(srv), sv[0]);
	if (!wsi) {
		close(sv[1]);
		return 0;
	}
	for (int turns = 0; turns < MAX_TURNS && quiet < QUIET_TURNS; turns++) {
		if (sent < size) {
			size_t n = size - sent < chunk ? size - sent : chunk;
			ssize_t w = send(sv[1], data + sent, n, MSG_NOSIGNAL);

			if (w > 0)
				sent += (size_t)w;
			else if (w < 0 && errno != EAGAIN)
				sent = size; /* the server hung up */
		}
		turn();
		quiet = drain(sv[1], &len) || sent < size ? 0 : quiet + 1;
	}
	if (getenv("FUZZ_HTTP_VERBOSE"))
		fprintf(stderr, "fuzz_http: %zu bytes in, %zu answers, %zu bytes out:\n%.*s\n",
			size, check_answers(len), len, len > 600 ? 600 : (int)len, out);
	check(check_answers(len) <= heads_in(data, size),
	      "no more answers than requests");

	/* The client hangs up; a connection still open (waiting for a
	 * deferred answer, or a stream) is closed by force. */
	close(sv[1]);
	for (int i = 0; i < 8; i++)
		turn();
	if (TP_METRIC_GET(http_connections) > base)
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
	for (int i = 0; i < 200 && TP_METRIC_GET(http_connections) > base; i++)
		turn();
	check(TP_METRIC_GET(http_connections) == base, "the connection is gone");
	check(tp_server_http_inflight(srv) == 0, "nothing left in flight");
	return 0;
}
