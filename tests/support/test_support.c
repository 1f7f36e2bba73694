/*
 * test_support.c - leak check around each unit test (see test_support.h).
 */
#include <stdio.h>

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
