/*
 * httpconn.h - the request lifecycle of one HTTP/1.1 connection: a small
 * state machine that knows nothing of sockets or libwebsockets.
 *
 * The io layer (server/io/http.c) feeds it what lws reports (a request head
 * arrived, body bytes, the body ended, the answer is written, the
 * connection closed) and what handlers do (answer now, defer, stream); it
 * answers with what to do next. It guarantees:
 *   - one request at a time per connection: a head is only accepted in
 *     IDLE (http.c keeps lws from reading further requests until the
 *     current one is answered, so pipelined requests wait their turn);
 *   - each request is dispatched exactly once (a second "body done" is
 *     ignored, a head in the middle of a request closes the connection);
 *   - every deferred request is tracked by its ticket until it is
 *     answered, turned into a stream, or its connection closes;
 *   - hub->inflight counts exactly the requests in HANDLING, WAITING and
 *     SENDING (the shutdown drain waits for them; gauge tp_http_inflight).
 *
 *   state      event                              next       action
 *   IDLE       head, refused (driver, 411, 413)   SENDING    REFUSE
 *   IDLE       head, Content-Length > 0           BODY       READ_BODY
 *   IDLE       head, no body                      HANDLING   DISPATCH
 *   BODY       body bytes                         BODY       (kept up to body_max)
 *   BODY       body done                          HANDLING   DISPATCH
 *   BODY       body done, more than body_max      SENDING    REFUSE (413)
 *   BODY       refuse (the driver)                SENDING    REFUSE
 *   HANDLING   defer                              WAITING    (ticket registered)
 *   HANDLING   respond                            SENDING
 *   WAITING    complete (by ticket)               SENDING
 *   WAITING    stream (by ticket)                 STREAMING  (no longer in flight)
 *   WAITING    respond (handler answered anyway)  SENDING    (ticket withdrawn)
 *   SENDING    sent                               IDLE       NEXT, or CLOSE if closing
 *   not IDLE   head                               unchanged  CLOSE
 *   any        closed                             CLOSED     (ticket withdrawn)
 *   otherwise  any event                          unchanged  IGNORE
 *
 * A connection "closing" (Connection: close, HTTP/1.0, or any refusal)
 * ends after its answer; its answer says so. Refusals close because the
 * rest of the stream cannot be trusted (an unread body, a truncated head).
 *
 * Single-threaded: the loop thread only. A struct tp_hc is zeroed storage
 * (zero = IDLE with no hub) that the caller owns; tp_hc_attach binds it.
 */
#ifndef TICKPUSH_HTTPCONN_H
#define TICKPUSH_HTTPCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tp_dict;

enum tp_hc_state {
	TP_HC_IDLE = 0, /* no request: the next head may come */
	TP_HC_BODY,     /* head accepted, its body is being read */
	TP_HC_HANDLING, /* the route handler runs */
	TP_HC_WAITING,  /* the handler deferred; a ticket is out */
	TP_HC_SENDING,  /* the answer is being written */
	TP_HC_STREAMING,/* an endless answer (SSE) until the connection ends */
	TP_HC_CLOSED,   /* the connection is gone */
};

enum tp_hc_action {
	TP_HC_IGNORE,    /* not valid now: do nothing */
	TP_HC_READ_BODY, /* wait for the body */
	TP_HC_DISPATCH,  /* run the handler */
	TP_HC_REFUSE,    /* answer hc->status with hc->error, then close */
	TP_HC_NEXT,      /* request over; the connection takes the next one */
	TP_HC_CLOSE,     /* close the connection */
};

/* Shared by every connection of a server. */
struct tp_hc_hub {
	struct tp_dict *pending;  /* ticket (decimal) -> struct tp_hc * */
	uint64_t next_ticket;
	unsigned inflight;        /* connections in HANDLING, WAITING, SENDING */
	size_t body_max;          /* largest request body, bytes */
};

/* What the driver learned from a request head. */
struct tp_hc_head {
	bool body_method;          /* POST, PUT, PATCH */
	long long content_length;  /* -1: no Content-Length header */
	bool bad_length;           /* Content-Length present but not a number */
	bool chunked;              /* Transfer-Encoding present */
	bool close;                /* Connection: close, or HTTP/1.0 */
	int refuse_status;         /* the driver refuses it (431, 414, 503), or 0 */
	const char *refuse_error;  /* static message for refuse_status */
	const char *refuse_field;  /* static field name, or NULL */
};

struct tp_hc {
	struct tp_hc_hub *hub;
	void *owner;               /* the driver's connection, returned by lookups */
	enum tp_hc_state state;
	uint64_t ticket;           /* registered in WAITING, else 0 */
	size_t body_len;           /* body bytes seen */
	bool body_too_large;
	bool closing;              /* close once this answer is written */
	bool counted;              /* counted in hub->inflight */
	/* A refusal (action REFUSE): status and a static message. */
	int status;
	const char *error;
	const char *field;
};

/* Creates the ticket registry; TP_OK or TP_ERR_NOMEM. */
int tp_hc_hub_init(struct tp_hc_hub *hub, size_t body_max);
/* Frees the registry (connections still registered are forgotten). */
void tp_hc_hub_cleanup(struct tp_hc_hub *hub);

/* Binds zeroed (or IDLE) storage to a hub and an owner; idempotent. */
void tp_hc_attach(struct tp_hc *hc, struct tp_hc_hub *hub, void *owner);

/* A complete request head arrived (see the table). */
enum tp_hc_action tp_hc_on_head(struct tp_hc *hc, const struct tp_hc_head *h);
/* len body bytes arrived: true when the caller should keep them. */
bool tp_hc_on_body(struct tp_hc *hc, size_t len);
/* The body ended: DISPATCH, REFUSE (413) or IGNORE (not reading a body). */
enum tp_hc_action tp_hc_on_body_done(struct tp_hc *hc);

/* The driver refuses the request whose body is being read (it found the
 * body unusable): REFUSE as for a head, or IGNORE when not reading one.
 * error and field must be static strings. */
enum tp_hc_action tp_hc_refuse(struct tp_hc *hc, int status, const char *error,
			       const char *field);

/* The handler defers its answer: returns the ticket (nonzero), or 0 when
 * not HANDLING or out of memory (then answer at once, e.g. 503). */
uint64_t tp_hc_defer(struct tp_hc *hc);
/* The handler answered (HANDLING, or WAITING whose ticket is withdrawn):
 * true when the answer should be written now (state SENDING). */
bool tp_hc_respond(struct tp_hc *hc);
/* The deferred answer for ticket is ready: the connection, now SENDING,
 * or NULL when the ticket is unknown (answered, or its connection gone). */
struct tp_hc *tp_hc_complete(struct tp_hc_hub *hub, uint64_t ticket);
/* The deferred request becomes a stream: the connection, now STREAMING
 * and no longer in flight, or NULL as for tp_hc_complete. */
struct tp_hc *tp_hc_stream(struct tp_hc_hub *hub, uint64_t ticket);
/* The answer is fully written: NEXT or CLOSE (IGNORE when not SENDING). */
enum tp_hc_action tp_hc_sent(struct tp_hc *hc);
/* The connection (or this request's binding to it) ended. Idempotent. */
void tp_hc_closed(struct tp_hc *hc);

/* The connection ends after the current answer. */
static inline bool tp_hc_closing(const struct tp_hc *hc)
{
	return hc->closing;
}

const char *tp_hc_state_name(enum tp_hc_state s);

#endif
