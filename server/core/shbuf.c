/*
 * shbuf.c - reference-counted immutable bytes (see shbuf.h).
 */
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/err.h"
#include "tickpush/shbuf.h"

struct tp_shbuf *tp_shbuf_alloc(size_t len)
{
	struct tp_shbuf *s;

	if (len > UINT32_MAX - 1)
		return NULL;
	s = tp_malloc(sizeof(*s) + len + 1);
	if (!s)
		return NULL;
	s->refs = 1;
	s->len = (uint32_t)len;
	s->data[len] = '\0';
	return s;
}

struct tp_shbuf *tp_shbuf_create(const void *data, size_t len)
{
	struct tp_shbuf *s = tp_shbuf_alloc(len);

	if (s && len)
		memcpy(s->data, data, len);
	return s;
}

struct tp_shbuf *tp_shbuf_acquire(struct tp_shbuf *s)
{
	TP_ASSERT(s && s->refs > 0);
	s->refs++;
	return s;
}

void tp_shbuf_release(struct tp_shbuf *s)
{
	if (!s)
		return;
	TP_ASSERT(s->refs > 0);
	if (--s->refs == 0)
		tp_free(s);
}
