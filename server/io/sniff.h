/*
 * sniff.h - a connection's first request head checked before lws parses
 * it (server/io/sniff.c).
 */
#ifndef TICKPUSH_IO_SNIFF_H
#define TICKPUSH_IO_SNIFF_H

#include <stdbool.h>

#include "tickpush/config.h"

struct tp_io;
struct tp_head_error;
struct lws;

/* Room in lws's header table beyond the largest header, so that a header
 * lws cut short still leaves space for the rest of the request head. */
#define TP_HTTP_HEAD_SLACK 4096

/* The longest header value or URL accepted (http_header_max, at most
 * 65535: lws counts one header's length in 16 bits); one that reaches it
 * gets 431 / 414 (here for a first head, from http.c for later ones).
 * server.c makes lws keep no more of any header. */
static inline int tp_http_header_limit(const struct tp_config *cfg)
{
	return cfg->http_header_max < 65535 ? cfg->http_header_max : 65535;
}

/* At adoption: checks the first head (a bad one is answered and the
 * connection closed soon after), or waits for it with lws held off.
 * Returns 0 (the adoption callback's answer). */
int tp_sniff_accepted(struct tp_io *srv, struct lws *wsi);
/* Has part of a first head come while it is being awaited? (A started
 * request is not idle.) */
bool tp_sniff_started(const struct tp_io *srv, const struct lws *wsi);
/* The connection is going: forget any wait for it. */
void tp_sniff_gone(struct tp_io *srv, struct lws *wsi);
/* A head refused with err (here, or by http.c after lws gave up on it):
 * counted by status and logged (at most once a second). */
void tp_sniff_refused(struct lws *wsi, const struct tp_head_error *err);
/* Shutdown: lws takes every waiting connection. */
void tp_sniff_stop_all(struct tp_io *srv);

#endif
