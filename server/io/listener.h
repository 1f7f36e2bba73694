/*
 * listener.h - a worker's own accept loop on a listening socket it was
 * handed (server/io/listener.c). Only used under a supervisor
 * (workers > 1); a single process lets lws listen.
 */
#ifndef TICKPUSH_IO_LISTENER_H
#define TICKPUSH_IO_LISTENER_H

#include <stdbool.h>

#include <uv.h>

struct lws_vhost;
struct tp_listener;

/* Starts accepting on fd (listening, any blocking mode) and hands each
 * connection to lws as an HTTP connection of vhost, when may_accept(ud)
 * says so (max_connections: the HTTP layer's; else it is closed). Takes
 * fd: it is closed by tp_listener_close, or here on failure. NULL on
 * failure. */
struct tp_listener *tp_listener_start(uv_loop_t *loop, struct lws_vhost *vhost,
				      int fd, bool (*may_accept)(void *ud),
				      void *ud);

/* Stops accepting and closes the socket (connections still queued on it
 * are reset by the kernel; the other workers' sockets take new ones).
 * The struct is freed once its handles have closed. NULL is a no-op. */
void tp_listener_close(struct tp_listener *l);

#endif
