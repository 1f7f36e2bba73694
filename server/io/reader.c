/*
 * reader.c - a WebSocket connection's reads, ours instead of lws's
 * (see reader.h).
 *
 * States: started (lws still reads; the prepare handle is active) ->
 * reading (lws_rx_flow_control(wsi, 0) done, our poll watches the dup'd
 * fd for UV_READABLE) -> stopped (the session is closing, or the stream
 * ended) -> closed (tp_rconn_close: both handles closing; the struct and
 * the fd are freed when the second close callback ran).
 *
 * Why the switch waits for a prepare: lws has read the handshake with
 * whatever followed it in the same packet; it keeps those bytes in its
 * own buffer and parses them from its idle handler, which libuv runs
 * before the prepare handles of the next turn. Stopping lws at
 * ESTABLISHED would strand them (lws's buffer is private); switching in
 * that prepare lets lws deliver them first (ws.c refuses them: a client
 * must wait for the handshake response, RFC 6455 4.1) and leaves no poll
 * phase in between in which lws could read fresh bytes.
 *
 * One read per readiness, up to READ_MAX bytes: the poll is level
 * triggered, so a busy client is read again next turn and cannot hold
 * the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "reader.h"
#include "tickpush/alloc.h"
#include "tickpush/log.h"

#define READ_MAX (16 * 1024)

struct tp_rconn {
	uv_poll_t poll;
	uv_prepare_t prepare;
	struct lws *wsi;
	int fd;                   /* our dup of the socket */
	struct tp_rconn_source src;
	struct tp_rconn_sink sink;
	int open_handles;         /* closing: frees at 0 */
	bool reading;             /* switched: our poll reads */
	bool stopped;             /* no more reads */
};

static ssize_t plain_read(void *ctx, int fd, void *buf, size_t len)
{
	(void)ctx;
	return recv(fd, buf, len, MSG_DONTWAIT);
}

/* The stream ended or failed: stop, then tell the transport. */
static void ended(struct tp_rconn *r, int err)
{
	tp_rconn_stop(r);
	if (r->sink.on_end)
		r->sink.on_end(r->sink.ud, err);
}

static void read_once(struct tp_rconn *r)
{
	static unsigned char buf[READ_MAX]; /* one loop, one thread */
	ssize_t n = r->src.read(r->src.ctx, r->fd, buf, sizeof(buf));

	if (n > 0) {
		r->sink.on_data(r->sink.ud, buf, (size_t)n);
		return;
	}
	if (n == 0)
		ended(r, 0);
	else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		ended(r, errno);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct tp_rconn *r = h->data;

	if (r->stopped)
		return;
	if (status < 0) {
		ended(r, status == UV_EBADF ? EBADF : EIO);
		return;
	}
	if (events & UV_READABLE)
		read_once(r);
	/* A source that holds decrypted bytes gets them delivered without
	 * waiting for the socket. */
	while (!r->stopped && r->src.pending && r->src.pending(r->src.ctx))
		read_once(r);
}

/* The first turn after ESTABLISHED: take over from lws (see the top). */
static void switch_cb(uv_prepare_t *h)
{
	struct tp_rconn *r = h->data;

	uv_prepare_stop(&r->prepare);
	if (!r->stopped && r->sink.on_switch)
		r->sink.on_switch(r->sink.ud);
	if (r->stopped)
		return;
	lws_rx_flow_control(r->wsi, 0);
	r->reading = true;
	uv_poll_start(&r->poll, UV_READABLE, poll_cb);
}

struct tp_rconn *tp_rconn_start(uv_loop_t *loop, struct lws *wsi,
				const struct tp_rconn_source *source,
				const struct tp_rconn_sink *sink)
{
	struct tp_rconn *r = tp_calloc(1, sizeof(*r));
	int fd = lws_get_socket_fd(wsi), rc;

	if (!r)
		return NULL;
	r->fd = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
	rc = r->fd < 0 ? -errno : uv_poll_init(loop, &r->poll, r->fd);
	if (rc) {
		TP_LOG(TP_LOG_WARN, "msg=\"WebSocket session refused: no descriptor for its reads\" err=\"%s\"",
		       uv_strerror(rc));
		if (r->fd >= 0)
			close(r->fd);
		tp_free(r);
		return NULL;
	}
	r->wsi = wsi;
	r->src = source ? *source
			: (struct tp_rconn_source){ .read = plain_read };
	r->sink = *sink;
	r->poll.data = r;
	uv_prepare_init(loop, &r->prepare);
	r->prepare.data = r;
	uv_prepare_start(&r->prepare, switch_cb);
	r->open_handles = 2;
	return r;
}

bool tp_rconn_reading(const struct tp_rconn *r)
{
	return r && r->reading;
}

void tp_rconn_stop(struct tp_rconn *r)
{
	if (!r || r->stopped)
		return;
	r->stopped = true;
	uv_poll_stop(&r->poll);
	uv_prepare_stop(&r->prepare);
}

static void handle_closed(uv_handle_t *h)
{
	struct tp_rconn *r = h->data;

	if (--r->open_handles)
		return;
	close(r->fd);
	tp_free(r);
}

void tp_rconn_close(struct tp_rconn *r)
{
	if (!r)
		return;
	tp_rconn_stop(r);
	r->sink = (struct tp_rconn_sink){ 0 };
	r->wsi = NULL;
	uv_close((uv_handle_t *)&r->poll, handle_closed);
	uv_close((uv_handle_t *)&r->prepare, handle_closed);
}
