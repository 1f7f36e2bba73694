/*
 * wsrx.c - client frames in, messages out (see wsrx.h).
 *
 * A byte-driven state machine with two phases per frame: the header
 * (2 to 14 bytes, collected in hdr until hdr_need is known and reached)
 * and the payload (remain bytes, unmasked while copied: into msg for
 * data frames, into ctl for control frames). Every rule is checked at the
 * first byte that can break it, so where the input is split never changes
 * the answer, only when it comes; a message too big is refused at its
 * frame header, before any of its payload is kept.
 */
#include <string.h>

#include "tickpush/utf8.h"
#include "tickpush/wsrx.h"

enum {
	OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2,
	OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xA,
};

/* A buffer bigger than this is freed once its message is delivered: a
 * session keeps memory for the small messages it usually gets. */
#define MSG_KEEP 4096

static const struct {
	const char *label;
	int code;
	const char *text;
} errors[] = {
	[TP_WSRX_E_NONE] = { "none", 0, "" },
#define TP_WSRX_ERROR_ROW(id, label, code, text) [TP_WSRX_E_##id] = { #label, code, text },
	TP_WSRX_ERRORS(TP_WSRX_ERROR_ROW)
#undef TP_WSRX_ERROR_ROW
};

const char *tp_wsrx_error_name(enum tp_wsrx_error e)
{
	return (unsigned)e < TP_WSRX_E__COUNT ? errors[e].label : "none";
}

bool tp_ws_close_code_valid(int code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

void tp_wsrx_init(struct tp_wsrx *p, size_t max_message, bool text_only)
{
	memset(p, 0, sizeof(*p));
	p->max_message = max_message;
	p->text_only = text_only;
	p->hdr_need = 2;
	tp_buf_init(&p->msg, 0);
}

void tp_wsrx_cleanup(struct tp_wsrx *p)
{
	tp_buf_cleanup(&p->msg);
}

static bool is_control(unsigned char op)
{
	return op & 0x8;
}

/* Fills ev with error e; the parser takes nothing more. */
static void fail(struct tp_wsrx *p, struct tp_wsrx_event *ev,
		 enum tp_wsrx_error e)
{
	p->done = true;
	ev->kind = TP_WSRX_ERROR;
	ev->error = e;
	ev->close_code = errors[e].code;
	ev->reason = errors[e].text;
}

/* Checks what the first header byte decides. */
static enum tp_wsrx_error check_b0(const struct tp_wsrx *p, unsigned char b0)
{
	unsigned char op = b0 & 0x0f;

	if (b0 & 0x70)
		return TP_WSRX_E_RSV;
	if (op > OP_BINARY && (op < OP_CLOSE || op > OP_PONG))
		return TP_WSRX_E_OPCODE;
	if (is_control(op))
		return b0 & 0x80 ? TP_WSRX_E_NONE : TP_WSRX_E_CONTROL_FRAGMENTED;
	if (op == OP_CONT && !p->in_message)
		return TP_WSRX_E_CONTINUATION;
	if (op != OP_CONT && p->in_message)
		return TP_WSRX_E_INTERLEAVED;
	if (op == OP_BINARY && p->text_only)
		return TP_WSRX_E_BINARY;
	return TP_WSRX_E_NONE;
}

/* Checks the second byte; sets how long the header is. */
static enum tp_wsrx_error check_b1(struct tp_wsrx *p, unsigned char b1)
{
	unsigned char len7 = b1 & 0x7f;

	if (!(b1 & 0x80))
		return TP_WSRX_E_UNMASKED;
	if (is_control(p->hdr[0] & 0x0f) && len7 > 125)
		return TP_WSRX_E_CONTROL_LONG;
	p->hdr_need = (unsigned char)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4);
	return TP_WSRX_E_NONE;
}

/* The header is complete: length, mask, and the message size bound. */
static enum tp_wsrx_error header_done(struct tp_wsrx *p)
{
	unsigned char len7 = p->hdr[1] & 0x7f;
	size_t at = 2;
	uint64_t len = len7;

	if (len7 == 126) {
		len = (uint64_t)p->hdr[2] << 8 | p->hdr[3];
		at = 4;
	} else if (len7 == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | p->hdr[2 + i];
		at = 10;
		if (len >> 63)
			return TP_WSRX_E_LENGTH;
	}
	memcpy(p->mask, p->hdr + at, 4);
	p->op = p->hdr[0] & 0x0f;
	p->fin = p->hdr[0] & 0x80;
	p->remain = len;
	p->seen = 0;
	p->ctl_len = 0;
	if (!is_control(p->op)) {
		if (len > p->max_message || p->msg.len > p->max_message - len)
			return TP_WSRX_E_TOO_BIG;
		if (p->op != OP_CONT)
			p->msg_op = p->op;
		if (!tp_buf_reserve(&p->msg, (size_t)len))
			return TP_WSRX_E_NOMEM;
	}
	return TP_WSRX_E_NONE;
}

/* Copies n payload bytes from in, unmasked. */
static void take_payload(struct tp_wsrx *p, const unsigned char *in, size_t n)
{
	unsigned char *out;

	if (is_control(p->op)) {
		out = p->ctl + p->ctl_len;
		p->ctl_len = (unsigned char)(p->ctl_len + n);
	} else {
		/* Reserved at the header: cannot fail. */
		out = (unsigned char *)tp_buf_data(&p->msg) + p->msg.len;
		p->msg.len += n;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = in[i] ^ p->mask[(p->seen + i) & 3];
	p->seen += n;
	p->remain -= n;
}

static void close_frame(struct tp_wsrx *p, struct tp_wsrx_event *ev)
{
	int code = 1005; /* RFC 6455 7.1.5: no status code present */

	if (p->ctl_len == 1) {
		fail(p, ev, TP_WSRX_E_CLOSE_PAYLOAD);
		return;
	}
	if (p->ctl_len >= 2) {
		code = p->ctl[0] << 8 | p->ctl[1];
		if (!tp_ws_close_code_valid(code)) {
			fail(p, ev, TP_WSRX_E_CLOSE_CODE);
			return;
		}
		if (!tp_utf8_valid((const char *)p->ctl + 2, p->ctl_len - 2u)) {
			fail(p, ev, TP_WSRX_E_CLOSE_UTF8);
			return;
		}
	}
	p->done = true;
	ev->kind = TP_WSRX_CLOSE;
	ev->close_code = code;
	ev->data = p->ctl + (p->ctl_len ? 2 : 0);
	ev->len = p->ctl_len ? p->ctl_len - 2u : 0;
}

/* The frame's payload is all in: fills ev when that completes something. */
static void frame_done(struct tp_wsrx *p, struct tp_wsrx_event *ev)
{
	static const unsigned char empty[1];
	const unsigned char *data;

	p->hdr_len = 0;
	p->hdr_need = 2;
	switch (p->op) {
	case OP_PING:
	case OP_PONG:
		ev->kind = p->op == OP_PING ? TP_WSRX_PING : TP_WSRX_PONG;
		ev->data = p->ctl;
		ev->len = p->ctl_len;
		return;
	case OP_CLOSE:
		close_frame(p, ev);
		return;
	default:
		break;
	}
	if (!p->fin) {
		p->in_message = true;
		return;
	}
	p->in_message = false;
	data = p->msg.len ? (const unsigned char *)tp_buf_data(&p->msg) : empty;
	if (p->msg_op == OP_TEXT && !tp_utf8_valid((const char *)data, p->msg.len)) {
		fail(p, ev, TP_WSRX_E_UTF8);
		return;
	}
	ev->kind = p->msg_op == OP_TEXT ? TP_WSRX_TEXT : TP_WSRX_BINARY;
	ev->data = data;
	ev->len = p->msg.len;
	p->deliver_reset = true;
}

size_t tp_wsrx_feed(struct tp_wsrx *p, const void *in, size_t len,
		    struct tp_wsrx_event *ev)
{
	const unsigned char *b = in;
	size_t used = 0;
	enum tp_wsrx_error e;

	memset(ev, 0, sizeof(*ev));
	if (p->done)
		return 0;
	if (p->deliver_reset) {
		p->deliver_reset = false;
		if (p->msg.cap > MSG_KEEP) {
			tp_buf_cleanup(&p->msg);
			tp_buf_init(&p->msg, 0);
		} else {
			tp_buf_reset(&p->msg);
		}
	}
	while (used < len || (p->hdr_len == p->hdr_need && !p->remain)) {
		if (p->hdr_len < p->hdr_need) {
			unsigned char c = b[used++];

			p->hdr[p->hdr_len++] = c;
			if (p->hdr_len == 1)
				e = check_b0(p, c);
			else if (p->hdr_len == 2)
				e = check_b1(p, c);
			else
				e = TP_WSRX_E_NONE;
			if (!e && p->hdr_len == p->hdr_need)
				e = header_done(p);
			if (e) {
				fail(p, ev, e);
				return used;
			}
			if (p->hdr_len < p->hdr_need)
				continue;
		}
		if (p->remain) {
			size_t n = len - used;

			if (n > p->remain)
				n = (size_t)p->remain;
			take_payload(p, b + used, n);
			used += n;
			if (p->remain)
				break; /* needs more input */
		}
		frame_done(p, ev);
		if (ev->kind != TP_WSRX_NONE)
			return used;
	}
	return used;
}
