/*
 * test_support.h - shared helpers for the cmocka unit tests.
 *
 * Every test's teardown calls tp_test_check_leaks(), which fails the test if
 * anything allocated through tp_malloc is still live (the allocator counts).
 */
#ifndef TICKPUSH_TEST_SUPPORT_H
#define TICKPUSH_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Records the live allocation count; pair with tp_test_check_leaks. */
int tp_test_setup(void **state);
/* Fails if tp_alloc_used()/tp_alloc_blocks() differ from the setup values. */
int tp_test_check_leaks(void **state);

/* A WebSocket frame as a client would send it: first byte b0 (FIN, RSV,
 * opcode), the payload masked with a fixed key or not; len_form 0 = the
 * shortest length encoding, 126 / 127 = that extended form. Returns the
 * bytes written to out (room for 14 + len). */
size_t tp_test_ws_frame(unsigned char *out, unsigned char b0, const void *payload,
			size_t len, int masked, int len_form);

#define TP_TEST(fn) cmocka_unit_test_setup_teardown(fn, tp_test_setup, tp_test_check_leaks)

#endif
