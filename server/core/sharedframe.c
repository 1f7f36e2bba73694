/*
 * sharedframe.c - the last event frame, framed whole for sharing (see
 * sharedframe.h).
 */
#include <stdbool.h>
#include <string.h>

#include "tickpush/sharedframe.h"

void tp_sharedframe_reset(struct tp_sharedframe *m)
{
	tp_shbuf_release(m->frame);
	tp_shbuf_release(m->tail);
	m->frame = m->tail = NULL;
}

static bool same(const struct tp_sharedframe *m, const void *pre,
		 size_t pre_len, const void *head, size_t head_len,
		 const struct tp_shbuf *tail, const char *suffix,
		 size_t suffix_len)
{
	return m->tail == tail && m->pre_len == pre_len &&
	       m->head_len == head_len && m->suffix == suffix &&
	       m->suffix_len == suffix_len &&
	       (!pre_len || !memcmp(m->key, pre, pre_len)) &&
	       (!head_len || !memcmp(m->key + pre_len, head, head_len));
}

struct tp_shbuf *tp_sharedframe_get(struct tp_sharedframe *m,
				    const void *pre, size_t pre_len,
				    const void *head, size_t head_len,
				    struct tp_shbuf *tail,
				    const char *suffix, size_t suffix_len)
{
	char *p;

	if (!tail || pre_len > TP_SHAREDFRAME_KEY_MAX ||
	    head_len > TP_SHAREDFRAME_KEY_MAX - pre_len)
		return NULL;
	if (!same(m, pre, pre_len, head, head_len, tail, suffix, suffix_len)) {
		tp_sharedframe_reset(m);
		m->tail = tp_shbuf_acquire(tail);
		m->pre_len = pre_len;
		m->head_len = head_len;
		m->suffix = suffix;
		m->suffix_len = suffix_len;
		if (pre_len)
			memcpy(m->key, pre, pre_len);
		if (head_len)
			memcpy(m->key + pre_len, head, head_len);
		return NULL;
	}
	if (m->frame)
		return m->frame;
	m->frame = tp_shbuf_alloc(pre_len + head_len + (size_t)tail->len + suffix_len);
	if (!m->frame)
		return NULL;
	p = m->frame->data;
	memcpy(p, m->key, pre_len + head_len);
	p += pre_len + head_len;
	memcpy(p, tail->data, tail->len);
	if (suffix_len)
		memcpy(p + tail->len, suffix, suffix_len);
	return m->frame;
}
