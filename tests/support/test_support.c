/*
 * test_support.c - leak check around each unit test (see test_support.h).
 */
#include <stdio.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/alloc.h"

static size_t base_bytes, base_blocks;

int tp_test_setup(void **state)
{
	(void)state;
	tp_alloc_fail_at(0);
	base_bytes = tp_alloc_used();
	base_blocks = tp_alloc_blocks();
	return 0;
}

int tp_test_check_leaks(void **state)
{
	(void)state;
	tp_alloc_fail_at(0);
	if (tp_alloc_used() != base_bytes || tp_alloc_blocks() != base_blocks) {
		fprintf(stderr, "leak: %zu bytes in %zu blocks still allocated\n",
			tp_alloc_used() - base_bytes,
			tp_alloc_blocks() - base_blocks);
		return -1;
	}
	return 0;
}

size_t tp_test_ws_frame(unsigned char *out, unsigned char b0, const void *payload,
			size_t len, int masked, int len_form)
{
	static const unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	const unsigned char *pl = payload;
	size_t at = 0;
	unsigned char m = masked ? 0x80 : 0;

	out[at++] = b0;
	if (len_form == 127 || (!len_form && len > 65535)) {
		out[at++] = m | 127;
		for (int i = 0; i < 8; i++)
			out[at++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	} else if (len_form == 126 || len > 125) {
		out[at++] = m | 126;
		out[at++] = (unsigned char)(len >> 8);
		out[at++] = (unsigned char)len;
	} else {
		out[at++] = (unsigned char)(m | len);
	}
	if (masked) {
		memcpy(out + at, key, 4);
		at += 4;
	}
	for (size_t i = 0; i < len; i++)
		out[at + i] = masked ? pl[i] ^ key[i & 3] : pl[i];
	return at + len;
}
