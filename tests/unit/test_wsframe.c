/*
 * test_wsframe.c - server WebSocket frame headers: the three length
 * encodings at their boundaries, opcodes with FIN, and close frames (code
 * in network order, reason cut to fit a control frame without splitting
 * a UTF-8 character).
 */
#include <string.h>

#include "test_support.h"
#include "tickpush/wsframe.h"

static void test_header_lengths(void **state)
{
	unsigned char h[TP_WS_HEADER_MAX];

	(void)state;
	assert_int_equal(tp_ws_header(h, TP_WS_OP_TEXT, 0), 2);
	assert_int_equal(h[0], 0x81);
	assert_int_equal(h[1], 0);
	assert_int_equal(tp_ws_header(h, TP_WS_OP_TEXT, 125), 2);
	assert_int_equal(h[1], 125);
	assert_int_equal(tp_ws_header(h, TP_WS_OP_TEXT, 126), 4);
	assert_int_equal(h[1], 126);
	assert_int_equal(h[2], 0);
	assert_int_equal(h[3], 126);
	assert_int_equal(tp_ws_header(h, TP_WS_OP_TEXT, 65535), 4);
	assert_int_equal(h[2], 0xff);
	assert_int_equal(h[3], 0xff);
	assert_int_equal(tp_ws_header(h, TP_WS_OP_TEXT, 65536), 10);
	assert_int_equal(h[1], 127);
	assert_memory_equal(h + 2, "\0\0\0\0\0\1\0\0", 8);
	assert_int_equal(tp_ws_header(h, TP_WS_OP_PING, 0), 2);
	assert_int_equal(h[0], 0x89);
	assert_int_equal(tp_ws_header(h, TP_WS_OP_PONG, 3), 2);
	assert_int_equal(h[0], 0x8A);
}

static void test_close_frame(void **state)
{
	unsigned char f[TP_WS_CONTROL_MAX];
	char reason[200];

	(void)state;
	assert_int_equal(tp_ws_close_frame(f, 4008, "slow consumer"), 4 + 13);
	assert_int_equal(f[0], 0x88);
	assert_int_equal(f[1], 2 + 13);
	assert_int_equal((f[2] << 8) | f[3], 4008);
	assert_memory_equal(f + 4, "slow consumer", 13);
	assert_int_equal(tp_ws_close_frame(f, 1001, NULL), 4);
	assert_int_equal(f[1], 2);
	assert_int_equal((f[2] << 8) | f[3], 1001);
	/* Too long: cut to 123 bytes... */
	memset(reason, 'r', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	assert_int_equal(tp_ws_close_frame(f, 1000, reason), 127);
	assert_int_equal(f[1], 125);
	/* ...never inside a UTF-8 character ("é" at bytes 122..123). */
	memset(reason, 'r', 122);
	memcpy(reason + 122, "\xc3\xa9tail", 7);
	assert_int_equal(tp_ws_close_frame(f, 1000, reason), 4 + 122);
	assert_int_equal(f[1], 2 + 122);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_header_lengths),
		TP_TEST(test_close_frame),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
