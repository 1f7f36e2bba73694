/*
 * writer.c - the push write path: queued frames onto sockets (see
 * writer.h; the queue itself is server/core/outq.c).
 *
 * When frames go out. A connection that gets a frame goes on one of two
 * lists: `now` (flushed by a uv_prepare handle, i.e. before the loop next
 * waits for I/O: everything queued in this loop turn, by the Redis reader,
 * a client's request or a timer, leaves in this turn) or, with a write
 * window, `later` (flushed when the window timer fires, delay_ms after the
 * first such frame). Urgent frames always go on `now`.
 *
 * How. A flush writes with writev straight to the socket: up to WRITE_IOV
 * slices (whole frames after the first) or WRITE_MAX bytes per call, as
 * long as the kernel takes everything. lws is not involved and nothing
 * changes in epoll: the steady state costs exactly one syscall per
 * connection per turn. Only when the kernel refuses bytes do we ask lws
 * for WRITEABLE (lws_callback_on_writable re-arms the socket in epoll:
 * with lws 4.1 on libuv that is a uv_poll_start, whose stop/start is an
 * epoll_ctl and a scan of the current event batch, too dear per frame).
 * `asked` remembers the request until WRITEABLE comes, so it is made once.
 *
 * Never split a frame. lws itself writes on this socket too: while it
 * reads the connection (TLS, SSE; on plain WebSocket connections only
 * until ws.c's own read path takes over, reader.h) it answers a client's
 * ping with a pong and a client's close with a close, from its own
 * POLLOUT handling, and before the user's WRITEABLE it first drains
 * its own buffer of unsent bytes (buflist_out) if it holds one. So when a
 * write ends inside a frame, the rest of that frame is handed to lws
 * (lws_write with the raw type: no framing, lws sends it or keeps it in
 * buflist_out) and the frame leaves our queue: whatever lws writes next,
 * and our next write (only after WRITEABLE, which lws delivers once its
 * buffer is empty), starts at a frame boundary. For the same reason we
 * never write directly while lws holds buffered bytes
 * (lws_partial_buffered: e.g. the tail of the handshake response).
 *
 * Failures. A write error other than EAGAIN means the peer is gone: the
 * queue is dropped, `failed` is set and WRITEABLE is requested so the
 * transport closes the connection from its own callback (lws closes a
 * connection only from its callbacks).
 *
 * TLS. lws owns the connection's SSL*, and writes on it too (pong, close
 * echo, its buffered bytes). OpenSSL's SSL_write, after WANT_WRITE, must
 * be called again with the same bytes before any other write: a pong
 * written by lws in between would fail or be sent as part of our record.
 * So TLS connections are written through lws_write (raw type), which owns
 * that retry (lws_issue_raw: on WANT_WRITE the whole buffer goes on
 * buflist_out and is retried first, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
 * write_out_tls copies whole slices of the queue into chunks of
 * TLS_CHUNK bytes (lws sends at most tx_packet_size per SSL_write, the
 * rest it buffers) and hands one chunk after another to lws while it
 * buffers nothing: one TLS record and one syscall per chunk. Once lws
 * buffers, the frame in progress is completed by hand_rest (as for plain
 * sockets), so whatever lws writes of its own lands on a frame boundary,
 * and the rest waits for WRITEABLE, which lws gives once its buffer is
 * empty.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include <libwebsockets.h>

#include "tickpush/alloc.h"
#include "tickpush/err.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"
#include "writer.h"

/* Per writev: enough frames that the syscall's cost is spread thin, few
 * enough that building the iovec array for a backlog the kernel takes
 * only part of does not waste much. */
#define WRITE_IOV 96             /* slices (>= 32 frames of 3) */
#define WRITE_MAX (64 * 1024)    /* bytes, about */
#define POOL_KEEP 1024           /* spare frame nodes kept when idle */
#define TLS_CHUNK 4096           /* per lws_write: server.c's tx_packet_size */

struct tp_writer {
	uv_prepare_t prepare;
	uv_timer_t window;
	unsigned delay_ms;
	struct tp_outq_pool *pool;
	/* The flush lists, FIFO: the connection that got the oldest frame
	 * is written first (indexed by enum tp_wconn_list). */
	struct tp_wconn *head[3], *tail[3];
	size_t queued;
	unsigned char chunk[TLS_CHUNK]; /* write_out_tls */
};

static void list_del(struct tp_wconn *c)
{
	struct tp_writer *w = c->w;

	if (c->list == TP_WL_NONE)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->head[c->list] = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		w->tail[c->list] = c->prev;
	c->prev = c->next = NULL;
	c->list = TP_WL_NONE;
}

static void window_fire(uv_timer_t *t);

/* Schedules a flush of c: in this turn (TP_WL_NOW) or with the window. */
static void list_add(struct tp_wconn *c, enum tp_wconn_list l)
{
	struct tp_writer *w = c->w;

	if (c->list == l || c->list == TP_WL_NOW)
		return; /* already due as soon or sooner */
	list_del(c);
	c->prev = w->tail[l];
	c->next = NULL;
	if (w->tail[l])
		w->tail[l]->next = c;
	else
		w->head[l] = c;
	w->tail[l] = c;
	c->list = l;
	if (l == TP_WL_LATER && !uv_is_active((uv_handle_t *)&w->window))
		uv_timer_start(&w->window, window_fire, w->delay_ms, 0);
}

static void ask(struct tp_wconn *c)
{
	if (c->asked || !c->wsi)
		return;
	c->asked = true;
	lws_callback_on_writable(c->wsi);
}

static void fail(struct tp_wconn *c, int err)
{
	if (!c->failed)
		TP_LOG(TP_LOG_DEBUG, "msg=\"push write failed\" fd=%d err=%s",
		       c->fd, tp_log_q(strerror(err)));
	c->failed = true;
	c->w->queued -= tp_outq_cleanup(&c->q);
	ask(c);
}

/* The write ended inside the head frame: lws gets the rest of it. */
static void hand_rest(struct tp_wconn *c)
{
	struct iovec rest[3];
	int n = tp_outq_rest(&c->q, rest);

	for (int i = 0; i < n; i++) {
		if (lws_write(c->wsi, rest[i].iov_base, rest[i].iov_len,
			      (enum lws_write_protocol)c->lws_protocol) < 0) {
			fail(c, EPIPE);
			return;
		}
	}
	c->lws_empty = false; /* lws may keep some of it */
	c->w->queued -= tp_outq_pop(&c->q);
	TP_METRIC_INC(push_partial_writes);
}

/* The end of a write turn: a frame cut short goes to lws, whatever
 * remains waits for WRITEABLE. Returns written. */
static size_t wrote(struct tp_wconn *c, size_t frames, size_t written)
{
	TP_METRIC_ADD(ws_frames_sent, frames);
	if (c->failed)
		return written;
	if (tp_outq_started(&c->q))
		hand_rest(c);
	if (!c->failed && !tp_outq_empty(&c->q))
		ask(c);
	return written;
}

/* Returns the bytes written. */
static size_t write_out(struct tp_wconn *c)
{
	struct iovec iov[WRITE_IOV];
	size_t frames = 0, written = 0;

	while (!tp_outq_empty(&c->q)) {
		size_t want;
		int n = tp_outq_iov(&c->q, iov, WRITE_IOV, WRITE_MAX, &want);
		ssize_t r = writev(c->fd, iov, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				fail(c, errno);
			break;
		}
		TP_METRIC_INC(push_writes);
		frames += tp_outq_consume(&c->q, (size_t)r);
		c->w->queued -= (size_t)r;
		written += (size_t)r;
		if ((size_t)r < want)
			break;
	}
	return wrote(c, frames, written);
}

/* TLS connections: through lws (see the top of the file). */
static size_t write_out_tls(struct tp_wconn *c)
{
	struct iovec iov[WRITE_IOV];
	size_t frames = 0, written = 0;

	while (!tp_outq_empty(&c->q) && !lws_partial_buffered(c->wsi)) {
		size_t want, len = 0;
		int n = tp_outq_iov(&c->q, iov, WRITE_IOV, TLS_CHUNK, &want);

		for (int i = 0; i < n && len < TLS_CHUNK; i++) {
			size_t k = iov[i].iov_len < TLS_CHUNK - len
					   ? iov[i].iov_len : TLS_CHUNK - len;

			memcpy(c->w->chunk + len, iov[i].iov_base, k);
			len += k;
		}
		/* lws sends the chunk or keeps what the socket refused. */
		if (lws_write(c->wsi, c->w->chunk, len,
			      (enum lws_write_protocol)c->lws_protocol) < 0) {
			fail(c, EPIPE);
			break;
		}
		TP_METRIC_INC(push_writes);
		frames += tp_outq_consume(&c->q, len);
		c->w->queued -= len;
		written += len;
	}
	return wrote(c, frames, written);
}

static size_t flush(struct tp_wconn *c)
{
	list_del(c);
	if (!c->wsi || c->failed || c->asked || tp_outq_empty(&c->q))
		return 0;
	if (!c->lws_empty) {
		if (lws_partial_buffered(c->wsi)) {
			ask(c); /* lws first sends what it holds */
			return 0;
		}
		c->lws_empty = c->lws_silent; /* stays so until hand_rest */
	}
	return c->tls ? write_out_tls(c) : write_out(c);
}

static void flush_list(struct tp_writer *w, enum tp_wconn_list l)
{
	while (w->head[l])
		flush(w->head[l]);
	TP_METRIC_SET(ws_queued_bytes, w->queued);
}

static void prepare_cb(uv_prepare_t *p)
{
	flush_list(p->data, TP_WL_NOW);
}

static void window_fire(uv_timer_t *t)
{
	struct tp_writer *w = t->data;

	flush_list(w, TP_WL_LATER);
	flush_list(w, TP_WL_NOW);
}

struct tp_writer *tp_writer_create(uv_loop_t *loop, unsigned delay_ms)
{
	struct tp_writer *w = tp_calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	if (!(w->pool = tp_outq_pool_create())) {
		tp_free(w);
		return NULL;
	}
	w->delay_ms = delay_ms;
	uv_prepare_init(loop, &w->prepare);
	w->prepare.data = w;
	uv_prepare_start(&w->prepare, prepare_cb);
	/* Runs every turn but must not keep the loop alive by itself. */
	uv_unref((uv_handle_t *)&w->prepare);
	uv_timer_init(loop, &w->window);
	w->window.data = w;
	return w;
}

static void handle_closed(uv_handle_t *h)
{
	(void)h;
}

void tp_writer_close(struct tp_writer *w)
{
	if (!w || uv_is_closing((uv_handle_t *)&w->prepare))
		return;
	uv_close((uv_handle_t *)&w->prepare, handle_closed);
	uv_close((uv_handle_t *)&w->window, handle_closed);
}

void tp_writer_destroy(struct tp_writer *w)
{
	if (!w)
		return;
	TP_ASSERT(!w->head[TP_WL_NOW] && !w->head[TP_WL_LATER]);
	tp_outq_pool_destroy(w->pool);
	tp_free(w);
}

size_t tp_writer_queued(const struct tp_writer *w)
{
	return w ? w->queued : 0;
}

void tp_writer_tick(struct tp_writer *w)
{
	size_t spare = tp_outq_pool_spare(w->pool);

	/* Decay: half of what is spare beyond POOL_KEEP goes each second. */
	if (spare > POOL_KEEP)
		tp_outq_pool_trim(w->pool, POOL_KEEP + (spare - POOL_KEEP) / 2);
}

void tp_wconn_init(struct tp_wconn *c, struct tp_writer *w)
{
	memset(c, 0, sizeof(*c));
	c->w = w;
	c->fd = -1;
	tp_outq_init(&c->q, w->pool);
}

int tp_wconn_attach(struct tp_wconn *c, struct lws *wsi, int lws_protocol)
{
	c->wsi = wsi;
	c->tls = lws_is_ssl(wsi) != 0;
	c->fd = lws_get_socket_fd(wsi);
	c->lws_protocol = lws_protocol;
	if (!tp_outq_empty(&c->q))
		list_add(c, TP_WL_NOW);
	return TP_OK;
}

size_t tp_wconn_cleanup(struct tp_wconn *c)
{
	size_t bytes;

	list_del(c);
	bytes = tp_outq_cleanup(&c->q);
	c->w->queued -= bytes;
	c->wsi = NULL;
	return bytes;
}

/* The queue grew from before bytes (rc TP_OK): account and schedule. */
static int pushed(struct tp_wconn *c, int rc, size_t before, bool urgent)
{
	if (rc != TP_OK)
		return rc;
	c->w->queued += c->q.bytes - before;
	if (c->wsi)
		list_add(c, urgent || !c->w->delay_ms ? TP_WL_NOW : TP_WL_LATER);
	return TP_OK;
}

int tp_wconn_push(struct tp_wconn *c, const struct tp_outq_parts *p,
		  bool urgent)
{
	size_t before = c->q.bytes;

	return pushed(c, tp_outq_push(&c->q, p), before, urgent);
}

int tp_wconn_push_control(struct tp_wconn *c, const struct tp_outq_parts *p)
{
	size_t before = c->q.bytes;

	return pushed(c, tp_outq_push_control(&c->q, p), before, true);
}

int tp_wconn_push_shared(struct tp_wconn *c, struct tp_shbuf *frame,
			 bool urgent)
{
	size_t before = c->q.bytes;

	return pushed(c, tp_outq_push_shared(&c->q, frame), before, urgent);
}

size_t tp_wconn_drop_unstarted(struct tp_wconn *c)
{
	size_t bytes = tp_outq_drop_unstarted(&c->q);

	c->w->queued -= bytes;
	return bytes;
}

void tp_wconn_flush(struct tp_wconn *c)
{
	flush(c);
}

void tp_wconn_want_writeable(struct tp_wconn *c)
{
	ask(c);
}

void tp_wconn_lws_silent(struct tp_wconn *c, bool silent)
{
	c->lws_silent = silent && !c->tls;
	c->lws_empty = false; /* checked again at the next flush */
}

size_t tp_wconn_writeable(struct tp_wconn *c)
{
	c->asked = false;
	return flush(c);
}
