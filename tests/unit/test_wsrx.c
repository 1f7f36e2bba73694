/*
 * test_wsrx.c - the client frame parser: every rule with its close code
 * and reason, the three length encodings, fragmentation with control
 * frames in between, close payloads, and the same answers whether the
 * bytes come at once, one at a time or in threes.
 */
#include <stdio.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/wsrx.h"

#define MAX_MSG 1000

#define frame tp_test_ws_frame

/* Events seen, flattened to text: "TEXT:hello PING: CLOSE1000:bye
 * ERROR1002:unmasked frame". */
struct run {
	char log[4096];
	size_t consumed;
};

static void run(struct run *r, const unsigned char *in, size_t len,
		size_t chunk, size_t max, bool text_only)
{
	static const char *names[] = { "NONE", "TEXT", "BINARY", "PING", "PONG",
				       "CLOSE", "ERROR" };
	struct tp_wsrx p;
	struct tp_wsrx_event ev;
	size_t at = 0, n;

	memset(r, 0, sizeof(*r));
	tp_wsrx_init(&p, max, text_only);
	while (at < len) {
		size_t end = at + chunk < len ? at + chunk : len;

		/* Feed [at, end) until it is used up or the parser stops. */
		while (at < end) {
			n = tp_wsrx_feed(&p, in + at, end - at, &ev);
			at += n;
			if (ev.kind == TP_WSRX_NONE) {
				assert_int_equal(at, end);
				break;
			}
			size_t l = strlen(r->log);

			if (ev.kind == TP_WSRX_ERROR)
				snprintf(r->log + l, sizeof(r->log) - l, "%sERROR%d:%s", l ? " " : "",
					 ev.close_code, ev.reason);
			else
				snprintf(r->log + l, sizeof(r->log) - l, "%s%s%.0d:%.*s",
					 l ? " " : "", names[ev.kind],
					 ev.kind == TP_WSRX_CLOSE ? ev.close_code : 0,
					 (int)(ev.len > 200 ? 200 : ev.len), (const char *)ev.data);
			if (ev.kind == TP_WSRX_CLOSE || ev.kind == TP_WSRX_ERROR) {
				/* Done: nothing more is taken. */
				assert_int_equal(tp_wsrx_feed(&p, in + at, len - at, &ev), 0);
				assert_int_equal(ev.kind, TP_WSRX_NONE);
				r->consumed = at;
				tp_wsrx_cleanup(&p);
				return;
			}
		}
	}
	r->consumed = at;
	tp_wsrx_cleanup(&p);
}

/* The log must be the same at once, byte by byte and in threes. */
static void expect(const unsigned char *in, size_t len, const char *want)
{
	static const size_t chunks[] = { (size_t)-1 / 2, 1, 3 };
	struct run r;

	for (size_t i = 0; i < 3; i++) {
		run(&r, in, len, chunks[i], MAX_MSG, true);
		if (strcmp(r.log, want))
			fail_msg("chunk %zu: got \"%s\", want \"%s\"", chunks[i], r.log, want);
	}
}

static void test_messages(void **state)
{
	unsigned char b[4096];
	char big[300];
	size_t n = 0;

	(void)state;
	n += frame(b + n, 0x81, "hello", 5, 1, 0);
	n += frame(b + n, 0x81, "", 0, 1, 0);
	n += frame(b + n, 0x81, "h\xc3\xa9", 3, 1, 126); /* 16-bit form */
	n += frame(b + n, 0x81, "x", 1, 1, 127);         /* 64-bit form */
	n += frame(b + n, 0x89, "pi", 2, 1, 0);
	n += frame(b + n, 0x8A, "", 0, 1, 0);
	expect(b, n, "TEXT:hello TEXT: TEXT:h\xc3\xa9 TEXT:x PING:pi PONG:");

	memset(big, 'a', sizeof(big));
	n = frame(b, 0x81, big, sizeof(big), 1, 0);
	struct run r;

	run(&r, b, n, 7, MAX_MSG, true);
	assert_int_equal(strlen(r.log), 5 + 200);
	assert_int_equal(r.consumed, n);
}

static void test_fragments(void **state)
{
	unsigned char b[512];
	size_t n = 0;

	(void)state;
	/* "hé" split inside the "é": valid once whole. A ping and a pong in
	 * between are delivered at once. */
	n += frame(b + n, 0x01, "h\xc3", 2, 1, 0);
	n += frame(b + n, 0x89, "p", 1, 1, 0);
	n += frame(b + n, 0x00, "", 0, 1, 0);
	n += frame(b + n, 0x8A, "q", 1, 1, 0);
	n += frame(b + n, 0x80, "\xa9!", 2, 1, 0);
	n += frame(b + n, 0x81, "next", 4, 1, 0);
	expect(b, n, "PING:p PONG:q TEXT:h\xc3\xa9! TEXT:next");

	n = frame(b, 0x80, "x", 1, 1, 0);
	expect(b, n, "ERROR1002:continuation frame without a message");
	n = frame(b, 0x01, "a", 1, 1, 0);
	n += frame(b + n, 0x81, "b", 1, 1, 0);
	expect(b, n, "ERROR1002:new message inside a fragmented message");
	n = frame(b, 0x01, "a", 1, 1, 0);
	n += frame(b + n, 0x09, "", 0, 1, 0);
	expect(b, n, "ERROR1002:fragmented control frame");
}

static void test_header_rules(void **state)
{
	unsigned char b[512];
	size_t n;

	(void)state;
	n = frame(b, 0x81, "hi", 2, 0, 0);
	expect(b, n, "ERROR1002:unmasked frame");
	/* Also an unmasked control frame, and after a good message. */
	n = frame(b, 0x81, "ok", 2, 1, 0);
	n += frame(b + n, 0x89, "", 0, 0, 0);
	expect(b, n, "TEXT:ok ERROR1002:unmasked frame");
	for (unsigned rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
		n = frame(b, (unsigned char)(0x81 | rsv), "hi", 2, 1, 0);
		expect(b, n, "ERROR1002:reserved bits set (no extension negotiated)");
	}
	for (unsigned op = 3; op <= 0xF; op++) {
		if (op >= 8 && op <= 0xA)
			continue;
		n = frame(b, (unsigned char)(0x80 | op), "", 0, 1, 0);
		expect(b, n, "ERROR1002:unknown opcode");
	}
	memset(b + 100, 'p', 126);
	n = frame(b, 0x89, b + 100, 126, 1, 0);
	expect(b, n, "ERROR1002:control frame over 125 bytes");
	n = frame(b, 0x89, b + 100, 125, 1, 0);
	assert_int_equal(n, 2 + 4 + 125);
	/* A control frame in the 16-bit form is too long even when short. */
	n = frame(b, 0x89, "", 0, 1, 126);
	expect(b, n, "ERROR1002:control frame over 125 bytes");
	/* 64-bit length with the top bit set. */
	unsigned char h[] = { 0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4 };

	expect(h, sizeof(h), "ERROR1002:frame length with the top bit set");
	n = frame(b, 0x82, "\x01", 1, 1, 0);
	expect(b, n, "ERROR1003:binary frames are not accepted");
}

static void test_binary_allowed(void **state)
{
	unsigned char b[64];
	size_t n = frame(b, 0x82, "\xff\x00", 2, 1, 0);
	struct run r;

	(void)state;
	run(&r, b, n, 1, MAX_MSG, false);
	assert_memory_equal(r.log, "BINARY:\xff", 8); /* %.*s stops at the NUL */
}

static void test_sizes(void **state)
{
	static unsigned char b[8192], big[MAX_MSG + 1];
	size_t n;

	(void)state;
	memset(big, 'z', sizeof(big));
	n = frame(b, 0x81, big, MAX_MSG, 1, 0);
	struct run r;

	run(&r, b, n, 1, MAX_MSG, true);
	assert_int_equal(r.log[0], 'T');
	assert_int_equal(r.consumed, n);
	n = frame(b, 0x81, big, MAX_MSG + 1, 1, 0);
	expect(b, n, "ERROR1009:message too big");
	/* Refused at the header: no payload byte is taken. */
	run(&r, b, n, 1, MAX_MSG, true);
	assert_int_equal(r.consumed, 2 + 2 + 4);
	/* Fragments add up. */
	n = frame(b, 0x01, big, 600, 1, 0);
	n += frame(b + n, 0x80, big, 401, 1, 0);
	expect(b, n, "ERROR1009:message too big");
	/* A huge declared length. */
	unsigned char h[] = { 0x81, 0xFF, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			      1, 2, 3, 4 };

	expect(h, sizeof(h), "ERROR1009:message too big");
}

static void test_utf8(void **state)
{
	unsigned char b[64];
	size_t n;

	(void)state;
	n = frame(b, 0x81, "a\xff", 2, 1, 0);
	expect(b, n, "ERROR1007:text message is not valid UTF-8");
	n = frame(b, 0x81, "\xed\xa0\x80", 3, 1, 0); /* a surrogate */
	expect(b, n, "ERROR1007:text message is not valid UTF-8");
	n = frame(b, 0x81, "\xc0\xaf", 2, 1, 0);     /* overlong */
	expect(b, n, "ERROR1007:text message is not valid UTF-8");
	n = frame(b, 0x01, "a\xe2\x82", 3, 1, 0);    /* cut at the end */
	n += frame(b + n, 0x80, "", 0, 1, 0);
	expect(b, n, "ERROR1007:text message is not valid UTF-8");
}

static void test_close(void **state)
{
	unsigned char b[256];
	size_t n;
	static const int bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999,
				   5000, 65535 };
	static const int good[] = { 1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000,
				    4000, 4999 };

	(void)state;
	n = frame(b, 0x88, "", 0, 1, 0);
	n += frame(b + n, 0x81, "after", 5, 1, 0);
	expect(b, n, "CLOSE1005:");
	n = frame(b, 0x88, "\x03", 1, 1, 0);
	expect(b, n, "ERROR1002:close frame with a 1-byte payload");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char pl[2] = { (unsigned char)(bad[i] >> 8), (unsigned char)bad[i] };

		n = frame(b, 0x88, pl, 2, 1, 0);
		expect(b, n, "ERROR1002:close frame with an invalid code");
		assert_false(tp_ws_close_code_valid(bad[i]));
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		unsigned char pl[5] = { (unsigned char)(good[i] >> 8), (unsigned char)good[i],
					'b', 'y', 'e' };
		char want[32];

		n = frame(b, 0x88, pl, 5, 1, 0);
		snprintf(want, sizeof(want), "CLOSE%d:bye", good[i]);
		expect(b, n, want);
	}
	n = frame(b, 0x88, "\x03\xe8\xff", 3, 1, 0);
	expect(b, n, "ERROR1007:close reason is not valid UTF-8");
	/* A close between fragments ends everything. */
	n = frame(b, 0x01, "a", 1, 1, 0);
	n += frame(b + n, 0x88, "\x03\xe8", 2, 1, 0);
	expect(b, n, "CLOSE1000:");
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(tp_wsrx_error_name(TP_WSRX_E_UNMASKED), "unmasked");
	assert_string_equal(tp_wsrx_error_name(TP_WSRX_E_TOO_BIG), "message_too_big");
	assert_string_equal(tp_wsrx_error_name(TP_WSRX_E_NONE), "none");
	assert_string_equal(tp_wsrx_error_name(TP_WSRX_E__COUNT), "none");
}

/* A big message leaves no big buffer behind; data stays valid until the
 * next feed. */
static void test_buffer_reuse(void **state)
{
	static unsigned char b[8192], big[5000];
	struct tp_wsrx p;
	struct tp_wsrx_event ev;
	size_t n, used;

	(void)state;
	memset(big, 'y', sizeof(big));
	n = frame(b, 0x81, big, sizeof(big), 1, 0);
	n += frame(b + n, 0x81, "s", 1, 1, 0);
	tp_wsrx_init(&p, 10000, true);
	used = tp_wsrx_feed(&p, b, n, &ev);
	assert_int_equal(ev.kind, TP_WSRX_TEXT);
	assert_int_equal(ev.len, sizeof(big));
	assert_memory_equal(ev.data, big, sizeof(big));
	used += tp_wsrx_feed(&p, b + used, n - used, &ev);
	assert_int_equal(used, n);
	assert_int_equal(ev.kind, TP_WSRX_TEXT);
	assert_memory_equal(ev.data, "s", 1);
	assert_true(p.msg.cap <= 4096);
	tp_wsrx_cleanup(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_messages),
		TP_TEST(test_fragments),
		TP_TEST(test_header_rules),
		TP_TEST(test_binary_allowed),
		TP_TEST(test_sizes),
		TP_TEST(test_utf8),
		TP_TEST(test_close),
		TP_TEST(test_names),
		TP_TEST(test_buffer_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
