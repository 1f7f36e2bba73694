/*
 * sniff.c - a connection's first request head, checked before lws reads
 * it, so that what lws 4.1.6 would answer with its HTML 403 or a silent
 * drop gets the project's JSON error (include/tickpush/httphead.h says
 * which heads).
 *
 * lws offers no hook between reading a request and parsing it, and its
 * parser fails before any callback. So when a connection is adopted
 * (LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED), tickpush peeks at the
 * socket (recv MSG_PEEK: the bytes stay for lws):
 *  - the head is there (the usual case: a client writes its request as
 *    soon as it is connected): check it now, one system call;
 *  - not yet: lws is told not to read (rx flow control) while a uv_poll on
 *    a duplicate of the descriptor waits for the first bytes; a head that
 *    comes in pieces is peeked again after 1, 2, 4 ... 64 ms (the data
 *    stays unread, so a poll would fire at once, again and again). The
 *    idle timer (http.c) still closes a connection that says nothing, and
 *    a head not complete http_timeout after its first bytes is dropped,
 *    as lws would.
 * A bad head is answered here, with send() on the fresh socket, its bytes
 * read away (closing over unread data would reset the connection and
 * could destroy the answer), and the connection closed. A good one is
 * left to lws, which reads it as it would have.
 *
 * The wait costs a second descriptor (the dup) while a connection is
 * silent; when none is to be had, the connection is left unchecked.
 *
 * Limits of the approach: only a connection's first request is checked
 * (peeking before each later keep-alive request would cost system calls
 * on every request), and TLS connections are not (their bytes are
 * ciphertext until lws decrypts them). What lws drops of those, http.c
 * answers as lws closes the connection (lws_close_free_wsi there).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "io.h"
#include "sniff.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/clock.h"
#include "tickpush/httphead.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"
#include "tickpush/netaddr.h"

#define RETRY_MAX_MS 64

struct tp_sniff {
	struct tp_io *srv;
	struct lws *wsi;
	uv_poll_t poll;
	uv_timer_t timer;
	int fd;                       /* the duplicate, ours */
	unsigned retry_ms;
	double first_bytes;           /* tp_mono() when part of a head came, 0 = not yet */
	int open_handles;
	struct tp_sniff *next, **prev; /* srv->sniffs */
};

/* The peek buffer: one head at a time, on the loop thread. */
static char peekbuf[65535 + TP_HTTP_HEAD_SLACK + 1];

static void limits_of(const struct tp_io *srv, struct tp_head_limits *lim)
{
	lim->url_max = (size_t)tp_http_header_limit(srv->cfg);
	lim->head_max = lim->url_max + TP_HTTP_HEAD_SLACK;
	lim->frags = WSI_TOKEN_COUNT;
}

void tp_sniff_refused(struct lws *wsi, const struct tp_head_error *err)
{
	static struct tp_log_ratelimit rl;
	char peer[TP_ADDR_STRLEN];
	unsigned long suppressed;

	tp_metrics_http_response(err->status);
	if (!tp_log_ratelimit_allow(&rl, tp_mono(), 1.0, &suppressed))
		return;
	lws_get_peer_simple(wsi, peer, sizeof(peer));
	TP_LOG(TP_LOG_WARN, "msg=\"malformed request refused\" status=%d error=%s peer=%s "
	       "suppressed=%lu", err->status, tp_log_q(err->error), tp_log_q(peer), suppressed);
}

/* The JSON refusal, written straight to the socket; the request's bytes
 * are read away first. */
static void refuse(struct lws *wsi, int fd, const struct tp_head_error *err)
{
	struct tp_buf b;

	tp_buf_init(&b, 0);
	tp_http_head_refusal(err, &b);
	while (recv(fd, peekbuf, sizeof(peekbuf), MSG_DONTWAIT) > 0)
		;
	if (!b.oom)
		(void)send(fd, tp_buf_data(&b), b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	tp_buf_cleanup(&b);
	tp_sniff_refused(wsi, err);
}

/* Peeks at fd: TP_HEAD_OK/BAD/MORE as the check says; *eof when the peer
 * closed or the socket failed (then lws shall see it for itself). */
static enum tp_head_verdict peek(const struct tp_io *srv, int fd,
				 struct tp_head_error *err, bool *eof, size_t *got)
{
	struct tp_head_limits lim;
	ssize_t n;

	limits_of(srv, &lim);
	*eof = false;
	*got = 0;
	n = recv(fd, peekbuf, lim.head_max + 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		*eof = true;
		return TP_HEAD_OK;
	}
	if (n < 0)
		return TP_HEAD_MORE;
	*got = (size_t)n;
	return tp_http_head_check(peekbuf, (size_t)n, &lim, err);
}

static void handle_closed(uv_handle_t *h)
{
	struct tp_sniff *s = h->data;

	if (--s->open_handles == 0) {
		close(s->fd);
		tp_free(s);
	}
}

/* Ends the wait; lws reads the connection from here on. */
static void finish(struct tp_sniff *s, bool resume)
{
	*s->prev = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (resume)
		lws_rx_flow_control(s->wsi, 1);
	uv_close((uv_handle_t *)&s->poll, handle_closed);
	uv_close((uv_handle_t *)&s->timer, handle_closed);
}

static void on_readable(uv_poll_t *h, int status, int events);
static void on_timer(uv_timer_t *t);

static void look(struct tp_sniff *s)
{
	struct tp_head_error err;
	size_t got;
	bool eof;
	enum tp_head_verdict v = peek(s->srv, s->fd, &err, &eof, &got);

	if (v == TP_HEAD_MORE) {
		if (!got) {
			uv_poll_start(&s->poll, UV_READABLE, on_readable);
			return;
		}
		/* Part of a head: unread bytes keep the socket readable, so
		 * wait by the clock instead; as long as lws would (http_timeout
		 * for a whole head), no longer. */
		uv_poll_stop(&s->poll);
		if (!s->first_bytes)
			s->first_bytes = tp_mono();
		if (tp_mono() - s->first_bytes > s->srv->cfg->http_timeout) {
			lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
			finish(s, false);
			return;
		}
		s->retry_ms = s->retry_ms ? s->retry_ms * 2 : 1;
		if (s->retry_ms > RETRY_MAX_MS)
			s->retry_ms = RETRY_MAX_MS;
		uv_timer_start(&s->timer, on_timer, s->retry_ms, 0);
		return;
	}
	if (v == TP_HEAD_BAD) {
		refuse(s->wsi, s->fd, &err);
		/* lws closes it on its next turn (never from inside ours). */
		lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
		finish(s, false);
		return;
	}
	finish(s, true);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	look(h->data);
}

static void on_timer(uv_timer_t *t)
{
	look(t->data);
}

int tp_sniff_accepted(struct tp_io *srv, struct lws *wsi)
{
	int fd = lws_get_socket_fd(wsi);
	struct tp_head_error err;
	struct tp_sniff *s;
	size_t got;
	bool eof;
	enum tp_head_verdict v;

	if (fd < 0 || lws_is_ssl(wsi))
		return 0;
	v = peek(srv, fd, &err, &eof, &got);
	if (v == TP_HEAD_OK)
		return 0;
	if (v == TP_HEAD_BAD) {
		refuse(wsi, fd, &err);
		/* Unread by lws, closed on its next turn (failing the adoption
		 * instead would look like an error to listener.c). */
		lws_rx_flow_control(wsi, 0);
		lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
		return 0;
	}
	/* Not all there yet: hold lws off and wait for it. */
	s = tp_calloc(1, sizeof(*s));
	if (!s || (s->fd = dup(fd)) < 0 ||
	    uv_poll_init_socket(&srv->loop, &s->poll, s->fd)) {
		if (s && s->fd >= 0)
			close(s->fd);
		tp_free(s);
		return 0; /* unchecked: lws as before */
	}
	uv_timer_init(&srv->loop, &s->timer);
	s->srv = srv;
	s->wsi = wsi;
	s->poll.data = s;
	s->timer.data = s;
	s->open_handles = 2;
	s->next = srv->sniffs;
	if (s->next)
		s->next->prev = &s->next;
	s->prev = &srv->sniffs;
	srv->sniffs = s;
	lws_rx_flow_control(wsi, 0);
	if (got) {
		s->first_bytes = tp_mono();
		uv_timer_start(&s->timer, on_timer, 1, 0);
	}
	else
		uv_poll_start(&s->poll, UV_READABLE, on_readable);
	return 0;
}

bool tp_sniff_started(const struct tp_io *srv, const struct lws *wsi)
{
	for (const struct tp_sniff *s = srv->sniffs; s; s = s->next)
		if (s->wsi == wsi)
			return s->first_bytes != 0;
	return false;
}

void tp_sniff_gone(struct tp_io *srv, struct lws *wsi)
{
	for (struct tp_sniff *s = srv->sniffs; s; s = s->next)
		if (s->wsi == wsi) {
			finish(s, false);
			return;
		}
}

void tp_sniff_stop_all(struct tp_io *srv)
{
	/* Shutting down: lws takes them (and answers 503). */
	while (srv->sniffs)
		finish(srv->sniffs, true);
}
