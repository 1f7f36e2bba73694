/*
 * fuzz_wsrx.c - libFuzzer harness for protocol/wsrx.c (client WebSocket
 * frames, server side).
 *
 * The first input byte picks the split (1..16 bytes per feed, or the
 * rest at once) and whether binary messages are allowed; the rest is the
 * stream a client sent. Checked beyond the sanitizers:
 * - fed whole and fed in pieces, the parser hands out the same events
 *   (kind, code, reason, payload) and stops at the same byte;
 * - every event obeys the rules: a message is at most MAX_MSG bytes and
 *   a text message is valid UTF-8; ping/pong/close payloads fit a control
 *   frame; a close code is 1005 or a valid one with a UTF-8 reason; an
 *   error carries 1002, 1003, 1007, 1009 or 1011 and a non-empty reason;
 * - after a close or an error nothing more is consumed;
 * - nothing stays allocated after cleanup.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/wsrx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSG 4096
#define MAX_EVENTS 256

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_wsrx: check failed: %s (line %d)\n", \
				#c, __LINE__);                                 \
			abort();                                               \
		}                                                              \
	} while (0)

struct seen {
	enum tp_wsrx_kind kind;
	int code;
	enum tp_wsrx_error error;
	size_t len;
	uint64_t hash;
};

struct trace {
	struct seen ev[MAX_EVENTS];
	size_t n;
	size_t consumed;
};

static uint64_t fnv(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* Independent of the parser: RFC 3629 UTF-8 (no overlongs, surrogates or
 * code points above U+10FFFF). */
static bool utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], need, cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0) { need = 1; cp = c & 0x1F; min = 0x80; }
		else if ((c & 0xF0) == 0xE0) { need = 2; cp = c & 0x0F; min = 0x800; }
		else if ((c & 0xF8) == 0xF0) { need = 3; cp = c & 0x07; min = 0x10000; }
		else return false;
		if (i + need >= n)
			return false;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += need + 1;
	}
	return true;
}

static void check_event(const struct tp_wsrx_event *ev)
{
	switch (ev->kind) {
	case TP_WSRX_TEXT:
		CHECK(utf8_ok(ev->data, ev->len));
		CHECK(ev->len <= MAX_MSG);
		break;
	case TP_WSRX_BINARY:
		CHECK(ev->len <= MAX_MSG);
		break;
	case TP_WSRX_PING:
	case TP_WSRX_PONG:
		CHECK(ev->len <= 125);
		break;
	case TP_WSRX_CLOSE:
		CHECK(ev->len <= 123);
		CHECK(ev->close_code == 1005 ? ev->len == 0
					     : tp_ws_close_code_valid(ev->close_code));
		CHECK(utf8_ok(ev->data, ev->len));
		break;
	case TP_WSRX_ERROR:
		CHECK(ev->close_code == 1002 || ev->close_code == 1003 ||
		      ev->close_code == 1007 || ev->close_code == 1009 ||
		      ev->close_code == 1011);
		CHECK(ev->reason && ev->reason[0]);
		CHECK(ev->error > TP_WSRX_E_NONE && ev->error < TP_WSRX_E__COUNT);
		CHECK(strcmp(tp_wsrx_error_name(ev->error), "none"));
		break;
	case TP_WSRX_NONE:
		break;
	}
}

/* Feeds data in pieces of chunk bytes (0: all at once). */
static void run(const uint8_t *data, size_t size, size_t chunk,
		bool text_only, struct trace *t)
{
	struct tp_wsrx p;
	struct tp_wsrx_event ev;
	size_t at = 0;
	bool done = false;

	memset(t, 0, sizeof(*t));
	tp_wsrx_init(&p, MAX_MSG, text_only);
	while (at < size && !done) {
		size_t end = chunk && at + chunk < size ? at + chunk : size;

		while (at < end) {
			size_t n = tp_wsrx_feed(&p, data + at, end - at, &ev);

			CHECK(n <= end - at);
			at += n;
			check_event(&ev);
			if (ev.kind == TP_WSRX_NONE) {
				CHECK(at == end);
				break;
			}
			CHECK(n > 0);
			if (t->n < MAX_EVENTS) {
				struct seen *s = &t->ev[t->n++];

				s->kind = ev.kind;
				s->code = ev.close_code;
				s->error = ev.error;
				s->len = ev.len;
				s->hash = ev.data ? fnv(ev.data, ev.len) : 0;
			}
			if (ev.kind == TP_WSRX_CLOSE || ev.kind == TP_WSRX_ERROR) {
				CHECK(tp_wsrx_feed(&p, data + at, size - at, &ev) == 0);
				CHECK(ev.kind == TP_WSRX_NONE);
				done = true;
				break;
			}
		}
	}
	t->consumed = at;
	tp_wsrx_cleanup(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct trace whole, pieces;
	size_t blocks = tp_alloc_blocks();
	size_t chunk;
	bool text_only;

	if (size < 1)
		return 0;
	chunk = data[0] & 0x0f;          /* 0 = all at once */
	text_only = !(data[0] & 0x10);
	data++;
	size--;
	run(data, size, 0, text_only, &whole);
	run(data, size, chunk ? chunk : 1, text_only, &pieces);
	CHECK(whole.n == pieces.n);
	CHECK(whole.consumed == pieces.consumed);
	for (size_t i = 0; i < whole.n; i++) {
		CHECK(whole.ev[i].kind == pieces.ev[i].kind);
		CHECK(whole.ev[i].code == pieces.ev[i].code);
		CHECK(whole.ev[i].error == pieces.ev[i].error);
		CHECK(whole.ev[i].len == pieces.ev[i].len);
		CHECK(whole.ev[i].hash == pieces.ev[i].hash);
	}
	CHECK(tp_alloc_blocks() == blocks);
	return 0;
}
