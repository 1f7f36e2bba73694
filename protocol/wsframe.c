/*
 * wsframe.c - server WebSocket frame headers (see wsframe.h).
 */
#include <string.h>

#include "tickpush/wsframe.h"

size_t tp_ws_header(unsigned char out[TP_WS_HEADER_MAX], enum tp_ws_opcode op,
		    uint64_t len)
{
	out[0] = (unsigned char)(0x80 | (op & 0x0f));
	if (len < 126) {
		out[1] = (unsigned char)len;
		return 2;
	}
	if (len < 65536) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
	return 10;
}

size_t tp_ws_close_frame(unsigned char out[TP_WS_CONTROL_MAX], int code,
			 const char *reason)
{
	size_t n = reason ? strlen(reason) : 0;

	if (n > 123) {
		n = 123;
		/* Do not end inside a UTF-8 sequence. */
		while (n && ((unsigned char)reason[n] & 0xC0) == 0x80)
			n--;
	}
	out[0] = 0x80 | TP_WS_OP_CLOSE;
	out[1] = (unsigned char)(2 + n);
	out[2] = (unsigned char)((code >> 8) & 0xff);
	out[3] = (unsigned char)(code & 0xff);
	if (n)
		memcpy(out + 4, reason, n);
	return 4 + n;
}
