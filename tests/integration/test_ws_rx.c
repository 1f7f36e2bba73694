/*
 * test_ws_rx.c - the WebSocket read path (issue 8: unmasked client frames
 * close with 1002): raw frames against a real tickpush (with Redis).
 *
 * Each protocol violation gets a close frame with its code and a reason
 * naming it, then the connection ends; the server stays up, a bystander
 * session opened before keeps working, and the violation is counted by
 * reason in /metrics. Pings get pongs with their payload, fragmented
 * messages (with a ping between fragments) are reassembled, a client's
 * close is echoed, frames sent with the handshake (before the 101) are
 * refused, and the server exits 0 at the end (no sanitizer report).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "it.h"
#include "test_support.h"
#include "ws_client.h"

static struct it_env env;
static struct it_ws bystander;

static int setup(void **state)
{
	const char *extra[] = { "TICKPUSH_JWT_SECRET=ws-rx-test-secret-0123456789abcdefghij", NULL };
	cJSON *hello;

	(void)state;
	it_setup(&env, "ws_rx");
	it_redis_start(&env);
	it_server_start(&env, extra, true);
	if (it_ws_connect(&bystander, env.port, "/ws", NULL, 0))
		fail_msg("bystander: %d", bystander.http_status);
	hello = it_ws_wait_type(&bystander, "hello", 10);
	assert_non_null(hello);
	cJSON_Delete(hello);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_ws_close(&bystander);
	return it_finish(&env);
}

/* A client frame, masked or not (test_support.h). */
static size_t frame(unsigned char *out, unsigned char b0, const void *payload,
		    size_t len, bool masked)
{
	return tp_test_ws_frame(out, b0, payload, len, masked, 0);
}

static void open_session(struct it_ws *ws)
{
	cJSON *hello;

	if (it_ws_connect(ws, env.port, "/ws", NULL, 0))
		fail_msg("ws connect: %d %s", ws->http_status, ws->http_body);
	hello = it_ws_wait_type(ws, "hello", 10);
	assert_non_null(hello);
	cJSON_Delete(hello);
}

/* The bystander still gets answers, and so does HTTP. */
static void others_unaffected(void)
{
	cJSON *j;

	assert_int_equal(it_ws_send_text(&bystander, "{\"op\":\"ping\",\"t\":7}"), 0);
	j = it_ws_wait_type(&bystander, "pong", 10);
	assert_non_null(j);
	cJSON_Delete(j);
	j = it_get_json(env.port, "/healthz", 200);
	assert_non_null(j);
	cJSON_Delete(j);
}

/* Sends bytes on a fresh session and expects close code + reason, then
 * the end of the connection; counted under label in /metrics. */
static void expect_violation(const unsigned char *bytes, size_t n, int code,
			     const char *reason, const char *label)
{
	struct it_ws ws;
	char metric[160];
	double before;

	snprintf(metric, sizeof(metric), "tickpush_ws_protocol_errors_total{reason=\"%s\"}", label);
	before = it_metric(env.port, metric);
	open_session(&ws);
	assert_int_equal(it_ws_send_raw(&ws, bytes, n), 0);
	assert_int_equal(it_ws_wait_close(&ws, 10), code);
	assert_string_equal(ws.close_reason, reason);
	assert_true(it_ws_wait_eof(&ws, 10));
	it_ws_close(&ws);
	assert_true(it_metric(env.port, metric) == (before < 0 ? 0 : before) + 1);
	others_unaffected();
}

static void test_unmasked_frame(void **state)
{
	unsigned char b[64];
	size_t n = frame(b, 0x81, "{\"op\":\"ping\"}", 13, false);

	(void)state;
	expect_violation(b, n, 1002, "unmasked frame", "unmasked");
	/* An unmasked ping, too. */
	n = frame(b, 0x89, "x", 1, false);
	expect_violation(b, n, 1002, "unmasked frame", "unmasked");
}

static void test_header_violations(void **state)
{
	unsigned char b[256], big[126];
	size_t n;

	(void)state;
	n = frame(b, 0xC1, "{}", 2, true); /* RSV1 */
	expect_violation(b, n, 1002, "reserved bits set (no extension negotiated)",
			 "reserved_bits");
	n = frame(b, 0x83, "", 0, true);
	expect_violation(b, n, 1002, "unknown opcode", "unknown_opcode");
	memset(big, 'p', sizeof(big));
	n = frame(b, 0x89, big, sizeof(big), true);
	expect_violation(b, n, 1002, "control frame over 125 bytes", "control_too_long");
	n = frame(b, 0x80, "x", 1, true);
	expect_violation(b, n, 1002, "continuation frame without a message",
			 "bad_continuation");
	n = frame(b, 0x88, "\x03\xed", 2, true); /* close code 1005 */
	expect_violation(b, n, 1002, "close frame with an invalid code", "bad_close_code");
}

static void test_invalid_utf8(void **state)
{
	unsigned char b[64];
	size_t n = frame(b, 0x81, "{\"op\":\"\xff\"}", 10, true);

	(void)state;
	expect_violation(b, n, 1007, "text message is not valid UTF-8", "invalid_utf8");
}

static void test_ping_pong(void **state)
{
	struct it_ws ws;
	unsigned char b[64], *p;
	size_t n, len;
	int op;

	(void)state;
	open_session(&ws);
	n = frame(b, 0x89, "abc", 3, true);
	assert_int_equal(it_ws_send_raw(&ws, b, n), 0);
	assert_int_equal(it_ws_next_frame(&ws, 10, &op, &p, &len), 1);
	assert_int_equal(op, 0xA);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "abc", 3);
	free(p);
	/* An empty ping too. */
	n = frame(b, 0x89, "", 0, true);
	assert_int_equal(it_ws_send_raw(&ws, b, n), 0);
	assert_int_equal(it_ws_next_frame(&ws, 10, &op, &p, &len), 1);
	assert_int_equal(op, 0xA);
	assert_int_equal(len, 0);
	free(p);
	it_ws_close(&ws);
}

static void test_fragmented_message(void **state)
{
	struct it_ws ws;
	unsigned char b[256], *p;
	size_t n = 0, len;
	int op;
	cJSON *j;

	(void)state;
	open_session(&ws);
	/* {"op":"ping","t":42} in three fragments, a ping in between; the
	 * whole lot in one write and then byte by byte. */
	n += frame(b + n, 0x01, "{\"op\":\"pi", 9, true);
	n += frame(b + n, 0x89, "mid", 3, true);
	n += frame(b + n, 0x00, "ng\",\"t\"", 7, true);
	n += frame(b + n, 0x80, ":42}", 4, true);
	for (int round = 0; round < 2; round++) {
		if (round == 0) {
			assert_int_equal(it_ws_send_raw(&ws, b, n), 0);
		} else {
			for (size_t i = 0; i < n; i++)
				assert_int_equal(it_ws_send_raw(&ws, b + i, 1), 0);
		}
		assert_int_equal(it_ws_next_frame(&ws, 10, &op, &p, &len), 1);
		assert_int_equal(op, 0xA); /* the pong comes first */
		assert_memory_equal(p, "mid", 3);
		free(p);
		j = it_ws_wait_type(&ws, "pong", 10);
		assert_non_null(j);
		assert_int_equal((int)it_json_num(j, "t"), 42);
		cJSON_Delete(j);
	}
	it_ws_close(&ws);
}

static void test_client_close(void **state)
{
	struct it_ws ws;
	unsigned char b[64], *p;
	size_t n, len;
	int op;

	(void)state;
	open_session(&ws);
	n = frame(b, 0x88, "\x03\xe8" "bye", 5, true);
	assert_int_equal(it_ws_send_raw(&ws, b, n), 0);
	assert_int_equal(it_ws_next_frame(&ws, 10, &op, &p, &len), 1);
	assert_int_equal(op, 0x8);
	assert_true(len >= 2);
	assert_int_equal(p[0] << 8 | p[1], 1000); /* echoed */
	free(p);
	assert_true(it_ws_wait_eof(&ws, 10));
	it_ws_close(&ws);
	/* Without a code: answered with 1000. */
	open_session(&ws);
	n = frame(b, 0x88, "", 0, true);
	assert_int_equal(it_ws_send_raw(&ws, b, n), 0);
	assert_int_equal(it_ws_wait_close(&ws, 10), 1000);
	assert_true(it_ws_wait_eof(&ws, 10));
	it_ws_close(&ws);
	others_unaffected();
}

static char *head_end(unsigned char *b, size_t n)
{
	for (size_t i = 0; i + 4 <= n; i++)
		if (!memcmp(b + i, "\r\n\r\n", 4))
			return (char *)b + i;
	return NULL;
}

/* Sends the handshake and, in the same packet, the first cut bytes of a
 * frame; expects the 101, then 1002 for data sent before it. */
static void early_frame(size_t cut)
{
	char req[1024];
	unsigned char pkt[1200];
	struct it_ws ws;
	char *end;
	size_t n;
	int rn;

	memset(&ws, 0, sizeof(ws));
	rn = snprintf(req, sizeof(req),
		      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
		      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tickpush.v1\r\n\r\n",
		      env.port);
	memcpy(pkt, req, (size_t)rn);
	n = frame(pkt + rn, 0x81, "{\"op\":\"ping\"}", 13, true);
	n = (size_t)rn + (cut && cut < n ? cut : n);
	ws.fd = it_connect(env.port);
	assert_true(ws.fd >= 0);
	assert_int_equal(it_ws_send_raw(&ws, pkt, n), 0);
	/* The 101, then the hello, then the close. */
	ws.cap = 65536;
	ws.buf = malloc(ws.cap);
	while (!(end = head_end(ws.buf, ws.len))) {
		ssize_t r = recv(ws.fd, ws.buf + ws.len, ws.cap - ws.len, 0);

		assert_true(r > 0);
		ws.len += (size_t)r;
	}
	assert_memory_equal(ws.buf, "HTTP/1.1 101", 12);
	n = (size_t)(end + 4 - (char *)ws.buf);
	memmove(ws.buf, ws.buf + n, ws.len - n);
	ws.len -= n;
	assert_int_equal(it_ws_wait_close(&ws, 10), 1002);
	assert_string_equal(ws.close_reason, "frame sent before the handshake response");
	assert_true(it_ws_wait_eof(&ws, 10));
	it_ws_close(&ws);
	others_unaffected();
}

/* Frames in the same packet as the handshake request were sent before
 * the server's 101 (RFC 6455 4.1): refused with 1002, not lost, whether
 * lws got a whole frame or stopped inside its header or payload. */
static void test_frame_with_handshake(void **state)
{
	(void)state;
	early_frame(0);
	early_frame(4);  /* header and part of the mask */
	early_frame(10); /* and part of the payload */
	assert_true(it_metric(env.port, "tickpush_ws_protocol_errors_total{reason=\"early_data\"}") == 3);
}

static bool only_bystander_left(void *ud)
{
	(void)ud;
	return it_metric(env.port, "tickpush_ws_sessions") == 1;
}

/* A client that sends as soon as the 101 is in (before the hello) is
 * served normally: the switch never takes its frames for early ones. */
static void test_frame_right_after_101(void **state)
{
	unsigned char b[64];
	size_t n = frame(b, 0x81, "{\"op\":\"ping\",\"t\":5}", 19, true);

	(void)state;
	for (int i = 0; i < 20; i++) {
		struct it_ws ws;
		cJSON *j;

		/* it_ws_connect returns once the 101 is read. */
		if (it_ws_connect(&ws, env.port, "/ws", NULL, 0))
			fail_msg("ws connect: %d", ws.http_status);
		assert_int_equal(it_ws_send_raw(&ws, b, n), 0);
		j = it_ws_wait_type(&ws, "pong", 10);
		assert_non_null(j);
		cJSON_Delete(j);
		it_ws_close(&ws);
	}
}

static int server_fds(void)
{
	char path[64];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)env.server_pid);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Our reads cost no descriptor per session: 20 sessions (each answered
 * once, so every one has switched to our reads) add 20 sockets. */
static void test_one_descriptor_per_session(void **state)
{
	struct it_ws ws[20];
	int before;

	(void)state;
	before = server_fds();
	for (int i = 0; i < 20; i++) {
		cJSON *j;

		open_session(&ws[i]);
		assert_int_equal(it_ws_send_text(&ws[i], "{\"op\":\"ping\"}"), 0);
		j = it_ws_wait_type(&ws[i], "pong", 10);
		assert_non_null(j);
		cJSON_Delete(j);
	}
	/* An HTTP connection of an earlier check may close meanwhile; two
	 * descriptors per session would make it 40. */
	assert_in_range(server_fds() - before, 17, 22);
	for (int i = 0; i < 20; i++)
		it_ws_close(&ws[i]);
}

/* Many violations and abrupt ends at once: nothing leaks, nothing is
 * left open (the server's exit at teardown checks the sanitizers). */
static void test_churn(void **state)
{
	unsigned char b[64];
	size_t n = frame(b, 0x81, "x", 1, false);

	(void)state;
	for (int i = 0; i < 40; i++) {
		struct it_ws ws;

		open_session(&ws);
		if (i % 2)
			it_ws_send_raw(&ws, b, n);
		else
			it_ws_send_raw(&ws, b, 3); /* half a frame, then gone */
		it_ws_close(&ws);
	}
	others_unaffected();
	assert_true(it_wait(only_bystander_left, NULL, 20));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unmasked_frame),
		cmocka_unit_test(test_header_violations),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_ping_pong),
		cmocka_unit_test(test_fragmented_message),
		cmocka_unit_test(test_client_close),
		cmocka_unit_test(test_frame_with_handshake),
		cmocka_unit_test(test_frame_right_after_101),
		cmocka_unit_test(test_one_descriptor_per_session),
		cmocka_unit_test(test_churn),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
