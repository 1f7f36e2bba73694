/*
 * shbuf.h - an immutable, reference-counted byte string
 * (server/core/shbuf.c).
 *
 * The push hub renders the part of an event frame that every session
 * shares (its "seq" and data, see proto.h) once into a shbuf; each session
 * queue that holds the frame holds one reference instead of a copy. The
 * last release frees it. Single-threaded: the count is a plain integer.
 */
#ifndef TICKPUSH_SHBUF_H
#define TICKPUSH_SHBUF_H

#include <stddef.h>
#include <stdint.h>

struct tp_shbuf {
	uint32_t refs;
	uint32_t len;
	char data[]; /* len bytes (plus a NUL, for debugging) */
};

/* A copy of data[0..len) with one reference; NULL when out of memory or
 * len does not fit 32 bits. */
struct tp_shbuf *tp_shbuf_create(const void *data, size_t len);
/* len bytes, uninitialised, with one reference: the creator fills them
 * before sharing. NULL as above. */
struct tp_shbuf *tp_shbuf_alloc(size_t len);
/* Another reference to s (returned for chaining). */
struct tp_shbuf *tp_shbuf_acquire(struct tp_shbuf *s);
/* Drops one reference; the last frees. NULL-safe. */
void tp_shbuf_release(struct tp_shbuf *s);

#endif
