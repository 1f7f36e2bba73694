/*
 * alloc.h - the one allocator every module uses.
 *
 * Counts live bytes (exported as a metric, checked to be zero at the end of
 * every unit test) and supports "fail the Nth allocation" injection for
 * out-of-memory tests. The server is single-threaded, but the counters are
 * atomic: work on libuv's threadpool (password hashing) allocates too.
 */
#ifndef TICKPUSH_ALLOC_H
#define TICKPUSH_ALLOC_H

#include <stddef.h>

void *tp_malloc(size_t size);
void *tp_calloc(size_t nmemb, size_t size); /* overflow-checked */
void *tp_realloc(void *ptr, size_t size);
char *tp_strdup(const char *s);
char *tp_strndup(const char *s, size_t n);
void *tp_memdup(const void *p, size_t n);
void tp_free(void *ptr); /* NULL-safe */

#define TP_FREE(p)                                                             \
	do {                                                                   \
		tp_free(p);                                                    \
		(p) = NULL;                                                    \
	} while (0)

/* Bytes currently allocated through tp_* and number of live blocks. */
size_t tp_alloc_used(void);
size_t tp_alloc_blocks(void);

/* Tests only: make the n-th allocation from now fail (1 = the next one);
 * 0 disables. Returns how many allocations were attempted since the last
 * call, so a test can loop "fail at 1, 2, ... until it succeeds". */
size_t tp_alloc_fail_at(size_t n);

#endif
