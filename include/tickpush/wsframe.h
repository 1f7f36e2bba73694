/*
 * wsframe.h - WebSocket (RFC 6455) frame headers as the server writes them
 * (protocol/wsframe.c): unmasked, FIN set, no extensions.
 *
 * The push write path frames its own frames (server/io/writer.c writes
 * them straight to the socket, several per write), so the header is
 * rendered here instead of by lws_write.
 */
#ifndef TICKPUSH_WSFRAME_H
#define TICKPUSH_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

#define TP_WS_HEADER_MAX 10
/* A control frame carries at most 125 payload bytes. */
#define TP_WS_CONTROL_MAX (2 + 125)

enum tp_ws_opcode {
	TP_WS_OP_TEXT = 0x1,
	TP_WS_OP_CLOSE = 0x8,
	TP_WS_OP_PING = 0x9,
	TP_WS_OP_PONG = 0xA,
};

/* Writes the header of a final frame with opcode op and a payload of len
 * bytes into out; returns its length: 2 (< 126), 4 (< 65536) or 10. */
size_t tp_ws_header(unsigned char out[TP_WS_HEADER_MAX], enum tp_ws_opcode op,
		    uint64_t len);

/* A whole close frame: code (1000..4999) then reason, cut at a character
 * boundary to fit 123 bytes. Returns the frame length. */
size_t tp_ws_close_frame(unsigned char out[TP_WS_CONTROL_MAX], int code,
			 const char *reason);

#endif
