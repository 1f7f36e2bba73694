/*
 * server.h - the wiring's public face (server/io/server.c), for main and
 * the in-process harnesses only: no io module includes it (they get a
 * struct tp_io, io.h, at init; tools/check-layers fails if one does).
 *
 * struct tp_server is private to server.c: it holds the io context and
 * what only the wiring touches (timers, signals, the listener, shutdown).
 */
#ifndef TICKPUSH_IO_SERVER_H
#define TICKPUSH_IO_SERVER_H

#include "supervisor.h" /* struct tp_worker */

struct tp_config;
struct tp_server;
struct uv_loop_s;
struct lws_vhost;

/* Starts a server on cfg (which must outlive it); *out is NULL on
 * failure. */
int tp_server_init(struct tp_server **out, const struct tp_config *cfg);
/* The same for worker w of a supervisor: accepts on w->listen_fd (taken
 * over, closed at shutdown or on failure), writes no port file (the
 * supervisor did). */
int tp_server_init_worker(struct tp_server **out, const struct tp_config *cfg,
			  const struct tp_worker *w);
int tp_server_run(struct tp_server *srv); /* returns the exit code */
/* Frees what init created and srv itself; returns TP_OK, or TP_ERR_IO
 * when the loop still had live handles (a shutdown bug worth failing
 * tests for). */
int tp_server_cleanup(struct tp_server *srv);
/* Starts a graceful shutdown (idempotent). */
void tp_server_stop(struct tp_server *srv);

/* For harnesses that drive the loop themselves (tests/fuzz/fuzz_http.c). */
struct uv_loop_s *tp_server_loop(struct tp_server *srv);
struct lws_vhost *tp_server_vhost(struct tp_server *srv);
unsigned tp_server_http_inflight(const struct tp_server *srv);

#endif
