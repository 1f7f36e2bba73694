/*
 * sniff.h - a connection's first request head checked before lws parses
 * it (server/io/sniff.c).
 */
#ifndef TICKPUSH_IO_SNIFF_H
#define TICKPUSH_IO_SNIFF_H

#include <stdbool.h>

struct tp_server;
struct tp_head_error;
struct lws;

/* At adoption: checks the first head (a bad one is answered and the
 * connection closed soon after), or waits for it with lws held off.
 * Returns 0 (the adoption callback's answer). */
int tp_sniff_accepted(struct tp_server *srv, struct lws *wsi);
/* Has part of a first head come while it is being awaited? (A started
 * request is not idle.) */
bool tp_sniff_started(const struct tp_server *srv, const struct lws *wsi);
/* The connection is going: forget any wait for it. */
void tp_sniff_gone(struct tp_server *srv, struct lws *wsi);
/* A head refused with err (here, or by http.c after lws gave up on it):
 * counted by status and logged (at most once a second). */
void tp_sniff_refused(struct lws *wsi, const struct tp_head_error *err);
/* Shutdown: lws takes every waiting connection. */
void tp_sniff_stop_all(struct tp_server *srv);

#endif
