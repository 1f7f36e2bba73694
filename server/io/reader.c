/*
 * reader.c - a WebSocket connection's reads, ours instead of lws's
 * (see reader.h).
 *
 * One epoll instance for all the connections we read (Linux): the
 * sockets themselves are registered in it, and the loop polls the epoll
 * descriptor with one uv_poll. libuv allows one poll handle per
 * descriptor and lws holds the one for each socket (for POLLOUT), so a
 * socket cannot get a second uv_poll; a dup() per socket could, at the
 * price of a second descriptor per session. A separate epoll instance
 * keeps one descriptor per session and costs one more per process.
 * Registrations are level triggered, with the reader as data; a reader is
 * removed from the instance (EPOLL_CTL_DEL) when it stops, before lws
 * closes the socket, so no event names a freed reader.
 *
 * States of a reader: waiting (lws still reads; the reader is on the
 * switch list) -> reading (lws_rx_flow_control(wsi, 0) done, the socket is
 * in the epoll instance) -> stopped (the session is closing, or the stream
 * ended; out of the instance) -> freed (tp_rconn_close; deferred to the
 * end of a dispatch that is running).
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
 * One read per ready socket per turn, up to READ_MAX bytes: level
 * triggered, so a busy client is read again next turn and cannot hold the
 * loop. The hub (epoll instance, poll and prepare handles) exists while
 * any reader does: the first creates it, the last closes it, so shutdown
 * needs nothing of its own.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "reader.h"
#include "tickpush/alloc.h"
#include "tickpush/err.h"
#include "tickpush/log.h"

#define READ_MAX (16 * 1024)
#define EVENTS_MAX 64            /* ready sockets taken per epoll_wait */

struct tp_rconn {
	struct rhub *hub;
	struct lws *wsi;
	int fd;                       /* lws's socket: we only read it */
	struct tp_rconn_source src;
	struct tp_rconn_sink sink;
	struct tp_rconn *prev, *next; /* switch list, then zombie list */
	bool waiting;                 /* on the switch list */
	bool reading;                 /* switched: in the epoll instance */
	bool stopped;                 /* no more reads (closed ones too) */
};

/* The loop's side of all readers (one loop per process). */
struct rhub {
	uv_loop_t *loop;
	int epfd;
	uv_poll_t poll;
	uv_prepare_t prepare;
	size_t readers;               /* alive: the last one closes the hub */
	int open_handles;             /* closing: freed at 0 */
	bool dispatching;             /* readers closed now are freed later */
	struct tp_rconn *waiting;     /* switch list (next turn's prepare) */
	struct tp_rconn *zombies;     /* closed during a dispatch */
};

static struct rhub *hub_now;

static ssize_t plain_read(void *ctx, int fd, void *buf, size_t len)
{
	(void)ctx;
	return recv(fd, buf, len, MSG_DONTWAIT);
}

static void list_push(struct tp_rconn **head, struct tp_rconn *r)
{
	r->prev = NULL;
	r->next = *head;
	if (*head)
		(*head)->prev = r;
	*head = r;
}

static void list_del(struct tp_rconn **head, struct tp_rconn *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
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

/* Whatever the source holds already decrypted: the socket's readiness
 * does not show it. */
static void drain_pending(struct tp_rconn *r)
{
	while (!r->stopped && r->src.pending && r->src.pending(r->src.ctx))
		read_once(r);
}

static void free_zombies(struct rhub *h)
{
	while (h->zombies) {
		struct tp_rconn *r = h->zombies;

		list_del(&h->zombies, r);
		tp_free(r);
	}
}

static void hub_cb(uv_poll_t *p, int status, int events)
{
	struct rhub *h = p->data;
	struct epoll_event ev[EVENTS_MAX];
	int n;

	(void)status;
	(void)events;
	n = epoll_wait(h->epfd, ev, EVENTS_MAX, 0);
	h->dispatching = true;
	for (int i = 0; i < n; i++) {
		struct tp_rconn *r = ev[i].data.ptr;

		if (!r->stopped) {
			read_once(r);
			drain_pending(r);
		}
	}
	h->dispatching = false;
	free_zombies(h);
}

/* The first turn after ESTABLISHED: take over from lws (see the top). */
static void switch_one(struct tp_rconn *r)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = r };

	if (r->sink.on_switch)
		r->sink.on_switch(r->sink.ud);
	if (r->stopped)
		return;
	if (epoll_ctl(r->hub->epfd, EPOLL_CTL_ADD, r->fd, &ev)) {
		ended(r, errno);
		return;
	}
	lws_rx_flow_control(r->wsi, 0);
	r->reading = true;
	drain_pending(r);
}

static void switch_cb(uv_prepare_t *p)
{
	struct rhub *h = p->data;

	h->dispatching = true;
	while (h->waiting) {
		struct tp_rconn *r = h->waiting;

		list_del(&h->waiting, r);
		r->waiting = false;
		switch_one(r);
	}
	h->dispatching = false;
	free_zombies(h);
	uv_prepare_stop(&h->prepare);
}

static struct rhub *hub_get(uv_loop_t *loop)
{
	struct rhub *h = hub_now;

	if (h) {
		TP_ASSERT(h->loop == loop);
		return h;
	}
	if (!(h = tp_calloc(1, sizeof(*h))))
		return NULL;
	h->loop = loop;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0 || uv_poll_init(loop, &h->poll, h->epfd)) {
		TP_LOG(TP_LOG_ERR, "msg=\"WebSocket read path unavailable: no epoll instance\" err=\"%s\"",
		       strerror(errno));
		if (h->epfd >= 0)
			close(h->epfd);
		tp_free(h);
		return NULL;
	}
	h->poll.data = h;
	uv_poll_start(&h->poll, UV_READABLE, hub_cb);
	uv_prepare_init(loop, &h->prepare);
	h->prepare.data = h;
	h->open_handles = 2;
	return hub_now = h;
}

static void hub_closed(uv_handle_t *handle)
{
	struct rhub *h = handle->data;

	if (--h->open_handles)
		return;
	close(h->epfd);
	tp_free(h);
}

/* The last reader is gone. */
static void hub_put(struct rhub *h)
{
	if (--h->readers)
		return;
	if (hub_now == h)
		hub_now = NULL;
	if (!h->dispatching) /* else the dispatch frees them, h stays valid */
		free_zombies(h);
	uv_close((uv_handle_t *)&h->poll, hub_closed);
	uv_close((uv_handle_t *)&h->prepare, hub_closed);
}

struct tp_rconn *tp_rconn_start(uv_loop_t *loop, struct lws *wsi,
				const struct tp_rconn_source *source,
				const struct tp_rconn_sink *sink)
{
	struct rhub *h = hub_get(loop);
	struct tp_rconn *r;

	if (!h)
		return NULL;
	h->readers++;
	if (!(r = tp_calloc(1, sizeof(*r)))) {
		hub_put(h);
		return NULL;
	}
	r->hub = h;
	r->wsi = wsi;
	r->fd = lws_get_socket_fd(wsi);
	r->src = source ? *source
			: (struct tp_rconn_source){ .read = plain_read };
	r->sink = *sink;
	r->waiting = true;
	list_push(&h->waiting, r);
	uv_prepare_start(&h->prepare, switch_cb);
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
	if (r->waiting) {
		list_del(&r->hub->waiting, r);
		r->waiting = false;
	}
	if (r->reading) {
		struct epoll_event ev = { 0 };

		epoll_ctl(r->hub->epfd, EPOLL_CTL_DEL, r->fd, &ev);
	}
}

void tp_rconn_close(struct tp_rconn *r)
{
	struct rhub *h;

	if (!r)
		return;
	h = r->hub;
	tp_rconn_stop(r);
	r->sink = (struct tp_rconn_sink){ 0 };
	if (h->dispatching)
		list_push(&h->zombies, r); /* an event of this batch may name it */
	else
		tp_free(r);
	hub_put(h);
}
