/*
 * alloc.c - counting allocator.
 *
 * Every block carries a small header with its size so tp_free can keep the
 * live-byte counter exact. The counter feeds /metrics and the unit tests'
 * leak check (tp_alloc_used() == 0 after each test). The failure injection
 * hook lets tests walk every allocation of a constructor and check that it
 * fails cleanly.
 *
 * The counters are atomic (relaxed): the server is single-threaded, but CPU
 * heavy work such as password hashing runs on libuv's threadpool and may
 * allocate there.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tickpush/alloc.h"

/* Header keeps max_align_t alignment for the user pointer. */
union hdr {
	size_t size;
	max_align_t align;
};

static _Atomic size_t used_bytes;
static _Atomic size_t live_blocks;
static _Atomic size_t attempts;
static _Atomic size_t fail_at;


static int should_fail(void)
{
	attempts++;
	if (fail_at && attempts == fail_at) {
		fail_at = 0;
		return 1;
	}
	return 0;
}

void *tp_malloc(size_t size)
{
	union hdr *h;

	if (should_fail() || size > SIZE_MAX - sizeof(*h))
		return NULL;
	h = malloc(sizeof(*h) + size);
	if (!h)
		return NULL;
	h->size = size;
	atomic_fetch_add_explicit(&used_bytes, size, memory_order_relaxed);
	atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
	return h + 1;
}

void *tp_calloc(size_t nmemb, size_t size)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	p = tp_malloc(nmemb * size);
	if (p)
		memset(p, 0, nmemb * size);
	return p;
}

void *tp_realloc(void *ptr, size_t size)
{
	union hdr *h, *nh;

	if (!ptr)
		return tp_malloc(size);
	if (should_fail() || size > SIZE_MAX - sizeof(*h))
		return NULL;
	h = (union hdr *)ptr - 1;
	size_t old = h->size;
	nh = realloc(h, sizeof(*nh) + size);
	if (!nh)
		return NULL;
	nh->size = size;
	atomic_fetch_sub_explicit(&used_bytes, old, memory_order_relaxed);
	atomic_fetch_add_explicit(&used_bytes, size, memory_order_relaxed);
	return nh + 1;
}

void tp_free(void *ptr)
{
	union hdr *h;

	if (!ptr)
		return;
	h = (union hdr *)ptr - 1;
	atomic_fetch_sub_explicit(&used_bytes, h->size, memory_order_relaxed);
	atomic_fetch_sub_explicit(&live_blocks, 1, memory_order_relaxed);
	free(h);
}

void *tp_memdup(const void *p, size_t n)
{
	void *d = tp_malloc(n ? n : 1);

	if (d && n)
		memcpy(d, p, n);
	return d;
}

char *tp_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = tp_malloc(len + 1);

	if (!d)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *tp_strdup(const char *s)
{
	return tp_strndup(s, SIZE_MAX);
}

size_t tp_alloc_used(void)
{
	return atomic_load_explicit(&used_bytes, memory_order_relaxed);
}

size_t tp_alloc_blocks(void)
{
	return atomic_load_explicit(&live_blocks, memory_order_relaxed);
}

size_t tp_alloc_fail_at(size_t n)
{
	size_t prev = attempts;

	attempts = 0;
	fail_at = n;
	return prev;
}
