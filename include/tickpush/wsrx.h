/*
 * wsrx.h - the server side of RFC 6455 framing as the client sends it
 * (protocol/wsrx.c): an incremental parser fed with whatever bytes the
 * socket gave, any split, that hands back whole messages and control
 * frames, or the first protocol error with the close code and a reason
 * naming what was wrong.
 *
 * Rules (each a close code): every client frame masked (1002), RSV bits
 * 0 (no extension is ever negotiated, 1002), opcodes 0-2 and 8-10 only
 * (1002), control frames final and at most 125 bytes (1002),
 * continuation frames only inside a fragmented message and no new
 * message inside one (1002), the 64-bit length's top bit clear (1002),
 * a message at most max_message bytes (1009, checked at each frame
 * header, before any of its payload is kept), text messages valid UTF-8
 * (1007, checked when the message is complete), close payloads empty or
 * a valid code (1000-1003, 1007-1014, 3000-4999: 1002) and a valid UTF-8
 * reason (1007); binary messages are refused with 1003 when text_only.
 *
 * Pure: no I/O, no clock. After an error or a close frame the parser
 * takes no more input (tp_wsrx_feed consumes nothing).
 */
#ifndef TICKPUSH_WSRX_H
#define TICKPUSH_WSRX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tickpush/buf.h"

/* What was wrong, for a metric label (tp_wsrx_error_name) and a test.
 * EARLY is found by the transport, not the parser: frames that lws read
 * with the handshake, before the server's response (RFC 6455 4.1). */
#define TP_WSRX_ERRORS(X)                                                      \
	X(UNMASKED, unmasked, 1002, "unmasked frame")                          \
	X(RSV, reserved_bits, 1002, "reserved bits set (no extension negotiated)") \
	X(OPCODE, unknown_opcode, 1002, "unknown opcode")                      \
	X(CONTROL_LONG, control_too_long, 1002, "control frame over 125 bytes") \
	X(CONTROL_FRAGMENTED, control_fragmented, 1002, "fragmented control frame") \
	X(CONTINUATION, bad_continuation, 1002, "continuation frame without a message") \
	X(INTERLEAVED, interleaved_message, 1002, "new message inside a fragmented message") \
	X(LENGTH, bad_length, 1002, "frame length with the top bit set")      \
	X(TOO_BIG, message_too_big, 1009, "message too big")                   \
	X(UTF8, invalid_utf8, 1007, "text message is not valid UTF-8")         \
	X(CLOSE_PAYLOAD, bad_close_payload, 1002, "close frame with a 1-byte payload") \
	X(CLOSE_CODE, bad_close_code, 1002, "close frame with an invalid code") \
	X(CLOSE_UTF8, close_reason_utf8, 1007, "close reason is not valid UTF-8") \
	X(BINARY, binary, 1003, "binary frames are not accepted")              \
	X(NOMEM, out_of_memory, 1011, "out of memory")                       \
	X(EARLY, early_data, 1002, "frame sent before the handshake response")

enum tp_wsrx_error {
	TP_WSRX_E_NONE = 0,
#define TP_WSRX_ERROR_ENUM(id, label, code, text) TP_WSRX_E_##id,
	TP_WSRX_ERRORS(TP_WSRX_ERROR_ENUM)
#undef TP_WSRX_ERROR_ENUM
	TP_WSRX_E__COUNT
};

/* "unmasked", ...: snake_case, for metrics; "none" for TP_WSRX_E_NONE. */
const char *tp_wsrx_error_name(enum tp_wsrx_error e);

enum tp_wsrx_kind {
	TP_WSRX_NONE = 0, /* all input consumed, nothing complete yet */
	TP_WSRX_TEXT,     /* a whole text message */
	TP_WSRX_BINARY,   /* a whole binary message (not with text_only) */
	TP_WSRX_PING,
	TP_WSRX_PONG,
	TP_WSRX_CLOSE,    /* the peer's close: close_code (1005: none) */
	TP_WSRX_ERROR,    /* protocol error: close_code, reason, error */
};

struct tp_wsrx_event {
	enum tp_wsrx_kind kind;
	/* TEXT/BINARY: the message; PING/PONG: the payload; CLOSE: the
	 * reason (no code). Valid until the next tp_wsrx_feed. */
	const unsigned char *data;
	size_t len;
	int close_code;     /* CLOSE: the peer's code; ERROR: ours to send */
	const char *reason; /* ERROR: static text naming what was wrong */
	enum tp_wsrx_error error;
};

struct tp_wsrx {
	size_t max_message;
	bool text_only;
	bool done;               /* a close or an error came: no more input */
	bool in_message;         /* a fragmented message is open */
	bool deliver_reset;      /* msg was handed out: empty it first */
	unsigned char msg_op;    /* opcode of the open message */
	/* The frame being read. */
	unsigned char hdr[14];
	unsigned char hdr_len;   /* header bytes seen */
	unsigned char hdr_need;  /* header bytes needed (2 until known) */
	unsigned char op;
	bool fin;
	unsigned char mask[4];
	uint64_t remain;         /* payload bytes still to come */
	uint64_t seen;           /* payload bytes of this frame so far */
	struct tp_buf msg;       /* payload of the open message */
	unsigned char ctl[125];  /* payload of a control frame */
	unsigned char ctl_len;
};

/* max_message: the largest message (all fragments) accepted. */
void tp_wsrx_init(struct tp_wsrx *p, size_t max_message, bool text_only);
void tp_wsrx_cleanup(struct tp_wsrx *p);

/*
 * Consumes in[0..len) up to and including the first frame that completes
 * something, which *ev then describes; returns the bytes consumed. With
 * ev->kind TP_WSRX_NONE everything was consumed and more is needed. Call
 * again with the rest (in + returned) until it is all consumed. After
 * TP_WSRX_CLOSE or TP_WSRX_ERROR it consumes nothing (done).
 */
size_t tp_wsrx_feed(struct tp_wsrx *p, const void *in, size_t len,
		    struct tp_wsrx_event *ev);

/* A close code a peer may send in a close frame (RFC 6455 7.4, IANA). */
bool tp_ws_close_code_valid(int code);

#endif
