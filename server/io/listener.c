/*
 * listener.c - a worker's accept loop (workers > 1).
 *
 * Why not lws's listener: lws 4.1.6 sets SO_REUSEPORT only when a context
 * has more than one service thread (roles/http/server/server.c), so N
 * single-threaded processes could not bind one port through it. Under a
 * supervisor, the supervisor creates one SO_REUSEPORT listening socket per
 * worker (supervisor.c) and the worker accepts on it here: a uv_poll on
 * the socket, accept4 until EAGAIN, max_connections checked as lws's own
 * listener does (tp_http_may_accept), TCP_NODELAY as lws sets it, then
 * lws_adopt_descriptor_vhost turns the socket into an lws HTTP connection
 * exactly like one lws accepted itself (TLS too, when the vhost has it).
 * lws's vhost is created with CONTEXT_PORT_NO_LISTEN_SERVER (server.c).
 *
 * Out of descriptors (EMFILE/ENFILE): the socket stays readable, so the
 * poll would spin; it is paused for 100 ms instead (the connection waits
 * in the kernel's queue meanwhile).
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "listener.h"
#include "tickpush/alloc.h"
#include "tickpush/clock.h"
#include "tickpush/log.h"

#define ACCEPTS_PER_WAKEUP 64   /* then let the loop serve the others */
#define PAUSE_MS 100            /* after EMFILE/ENFILE */

struct tp_listener {
	struct lws_vhost *vhost;
	bool (*may_accept)(void *ud);
	void *ud;
	uv_poll_t poll;
	uv_timer_t pause;
	int fd;
	int open_handles;
};

static void on_readable(uv_poll_t *h, int status, int events);

static void handle_closed(uv_handle_t *h)
{
	struct tp_listener *l = h->data;

	if (--l->open_handles == 0)
		tp_free(l);
}

static void resume(uv_timer_t *t)
{
	struct tp_listener *l = t->data;

	uv_poll_start(&l->poll, UV_READABLE, on_readable);
}

static void adopt(struct tp_listener *l, int cfd)
{
	lws_sock_file_fd_type fd;
	int one = 1;

	if (!l->may_accept(l->ud)) {
		close(cfd);
		return;
	}
	/* lws sets this on the sockets it accepts (Nagle off). */
	(void)setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fd.sockfd = cfd;
	/* lws drops ALLOW_SSL itself when the vhost has no TLS; on failure
	 * it has closed the socket. */
	if (!lws_adopt_descriptor_vhost(l->vhost,
					LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP |
						LWS_ADOPT_ALLOW_SSL,
					fd, NULL, NULL))
		TP_LOG(TP_LOG_WARN, "msg=\"lws refused an accepted connection\"");
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	struct tp_listener *l = h->data;
	static struct tp_log_ratelimit rl;
	unsigned long skipped;

	(void)events;
	if (status < 0)
		return;
	for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
		int cfd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd >= 0) {
			adopt(l, cfd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			if (tp_log_ratelimit_allow(&rl, tp_mono(), 1.0, &skipped))
				TP_LOG(TP_LOG_WARN, "msg=\"accept paused\" err=%s suppressed=%lu",
				       tp_log_q(strerror(errno)), skipped);
			uv_poll_stop(&l->poll);
			uv_timer_start(&l->pause, resume, PAUSE_MS, 0);
		}
		return; /* EAGAIN: queue empty */
	}
}

struct tp_listener *tp_listener_start(uv_loop_t *loop, struct lws_vhost *vhost,
				      int fd, bool (*may_accept)(void *ud),
				      void *ud)
{
	struct tp_listener *l = tp_calloc(1, sizeof(*l));

	if (!l || uv_poll_init_socket(loop, &l->poll, fd)) {
		TP_LOG(TP_LOG_ERR, "msg=\"cannot poll the listening socket\" fd=%d", fd);
		tp_free(l);
		close(fd);
		return NULL;
	}
	l->vhost = vhost;
	l->may_accept = may_accept;
	l->ud = ud;
	l->fd = fd;
	l->poll.data = l;
	uv_timer_init(loop, &l->pause);
	l->pause.data = l;
	l->open_handles = 2;
	uv_poll_start(&l->poll, UV_READABLE, on_readable);
	return l;
}

void tp_listener_close(struct tp_listener *l)
{
	if (!l)
		return;
	uv_close((uv_handle_t *)&l->poll, handle_closed);
	uv_close((uv_handle_t *)&l->pause, handle_closed);
	/* Stopped and no longer watched: the descriptor can go now. */
	close(l->fd);
}
