/*
 * httphead.h - a request head checked before libwebsockets parses it
 * (server/core/httphead.c, pure; server/io/sniff.c feeds it).
 *
 * lws 4.1.6 refuses some heads inside its parser, before any callback:
 * malformed percent-encoding or an unknown method get its own HTML 403, a
 * %00, more URL arguments and header lines than its fragment table holds,
 * or a line that is no header make it drop the connection without a word. This check finds exactly those
 * in the raw bytes, so tickpush can answer them with its JSON error
 * instead. Whatever it lets through, lws parses as before.
 */
#ifndef TICKPUSH_HTTPHEAD_H
#define TICKPUSH_HTTPHEAD_H

#include <stddef.h>

struct tp_buf;

enum tp_head_verdict {
	TP_HEAD_OK,        /* acceptable to lws (or too long to judge: head_len 0) */
	TP_HEAD_MORE,      /* incomplete so far */
	TP_HEAD_BAD,       /* refuse: status, error, field */
};

struct tp_head_limits {
	size_t head_max;   /* lws's header table: a head that does not end
			    * within it is left to lws (and http.c) */
	size_t url_max;    /* longest URL (http_header_max) */
	unsigned frags;    /* lws's fragment slots (WSI_TOKEN_COUNT) */
};

struct tp_head_error {
	int status;        /* 400, 414, 431, 501 */
	const char *error; /* static text */
	const char *field; /* "url", "query", "method", "header" or NULL */
	size_t head_len;   /* bytes of the head (for TP_HEAD_OK/BAD), 0 if unknown */
};

enum tp_head_verdict tp_http_head_check(const char *buf, size_t len,
					const struct tp_head_limits *lim,
					struct tp_head_error *err);

/* The whole answer refusing a head, as bytes for the socket: status line,
 * headers (Connection: close) and the JSON error {"error":..,"field":..}.
 * Written where lws cannot be asked to answer (sniff.c, before lws reads
 * the head; http.c, after lws gave up on one). Appended to out. */
void tp_http_head_refusal(const struct tp_head_error *err, struct tp_buf *out);

#endif
