/*
 * httpconn.c - the request lifecycle of one HTTP/1.1 connection (the state
 * table and guarantees are in include/tickpush/httpconn.h).
 *
 * Design: every transition is one function that checks the current state
 * first and does nothing (IGNORE) when the event does not belong there, so
 * a library that reports an event twice, or a handler that answers twice,
 * cannot dispatch a request again or answer a connection that is gone.
 * In-flight accounting has one door in (count) and one door out (uncount),
 * both idempotent per connection, so hub->inflight cannot drift. Tickets
 * live in the hub's registry exactly while their connection is WAITING.
 */
#include <stdio.h>

#include "tickpush/dict.h"
#include "tickpush/err.h"
#include "tickpush/httpconn.h"
#include "tickpush/metrics.h"

static void ticket_key(uint64_t ticket, char out[24])
{
	snprintf(out, 24, "%llu", (unsigned long long)ticket);
}

static void count(struct tp_hc *hc)
{
	if (hc->counted)
		return;
	hc->counted = true;
	hc->hub->inflight++;
	TP_METRIC_SET(http_inflight, hc->hub->inflight);
}

static void uncount(struct tp_hc *hc)
{
	if (!hc->counted)
		return;
	hc->counted = false;
	hc->hub->inflight--;
	TP_METRIC_SET(http_inflight, hc->hub->inflight);
}

static void withdraw_ticket(struct tp_hc *hc)
{
	char key[24];

	if (!hc->ticket)
		return;
	ticket_key(hc->ticket, key);
	tp_dict_del(hc->hub->pending, key);
	hc->ticket = 0;
}

int tp_hc_hub_init(struct tp_hc_hub *hub, size_t body_max)
{
	hub->pending = tp_dict_create();
	hub->next_ticket = 0;
	hub->inflight = 0;
	hub->body_max = body_max;
	TP_METRIC_SET(http_inflight, 0);
	return hub->pending ? TP_OK : TP_ERR_NOMEM;
}

void tp_hc_hub_cleanup(struct tp_hc_hub *hub)
{
	tp_dict_destroy(hub->pending);
	hub->pending = NULL;
}

void tp_hc_attach(struct tp_hc *hc, struct tp_hc_hub *hub, void *owner)
{
	hc->hub = hub;
	hc->owner = owner;
}

/* A refusal: answered, in flight until written, and the connection ends. */
static enum tp_hc_action refuse(struct tp_hc *hc, int status, const char *error,
				const char *field)
{
	hc->status = status;
	hc->error = error;
	hc->field = field;
	hc->closing = true;
	hc->state = TP_HC_SENDING;
	count(hc);
	return TP_HC_REFUSE;
}

enum tp_hc_action tp_hc_on_head(struct tp_hc *hc, const struct tp_hc_head *h)
{
	if (hc->state == TP_HC_CLOSED)
		return TP_HC_IGNORE;
	if (hc->state != TP_HC_IDLE) {
		/* A second request while one is in progress: the stream is out
		 * of step with us, so nothing more on it can be trusted. */
		hc->closing = true;
		return TP_HC_CLOSE;
	}
	hc->closing = h->close;
	hc->body_len = 0;
	hc->body_too_large = false;
	if (h->refuse_status)
		return refuse(hc, h->refuse_status, h->refuse_error, h->refuse_field);
	/* lws reads only Content-Length bodies; anything else would be taken
	 * for the next request, or waited for until the timeout. */
	if (h->chunked)
		return refuse(hc, 411, "Length required: send the body with Content-Length "
			      "(Transfer-Encoding is not accepted)", NULL);
	if (h->bad_length)
		return refuse(hc, 400, "Content-Length: not a byte count", "content-length");
	if (h->body_method && h->content_length < 0)
		return refuse(hc, 411, "Length required: send the body with Content-Length",
			      NULL);
	if (h->content_length > 0 && (unsigned long long)h->content_length > hc->hub->body_max)
		return refuse(hc, 413, "Request body too large", NULL);
	if (h->content_length > 0) {
		hc->state = TP_HC_BODY;
		return TP_HC_READ_BODY;
	}
	hc->state = TP_HC_HANDLING;
	count(hc);
	return TP_HC_DISPATCH;
}

bool tp_hc_on_body(struct tp_hc *hc, size_t len)
{
	if (hc->state != TP_HC_BODY)
		return false;
	if (hc->body_too_large || len > hc->hub->body_max - hc->body_len) {
		hc->body_too_large = true;
		return false;
	}
	hc->body_len += len;
	return true;
}

enum tp_hc_action tp_hc_on_body_done(struct tp_hc *hc)
{
	if (hc->state != TP_HC_BODY)
		return TP_HC_IGNORE;
	if (hc->body_too_large)
		return refuse(hc, 413, "Request body too large", NULL);
	hc->state = TP_HC_HANDLING;
	count(hc);
	return TP_HC_DISPATCH;
}

enum tp_hc_action tp_hc_refuse(struct tp_hc *hc, int status, const char *error,
			       const char *field)
{
	if (hc->state != TP_HC_BODY)
		return TP_HC_IGNORE;
	return refuse(hc, status, error, field);
}

uint64_t tp_hc_defer(struct tp_hc *hc)
{
	char key[24];
	uint64_t ticket;

	if (hc->state != TP_HC_HANDLING)
		return 0;
	ticket = ++hc->hub->next_ticket;
	ticket_key(ticket, key);
	if (tp_dict_set(hc->hub->pending, key, hc, NULL))
		return 0;
	hc->ticket = ticket;
	hc->state = TP_HC_WAITING;
	return ticket;
}

bool tp_hc_respond(struct tp_hc *hc)
{
	if (hc->state == TP_HC_WAITING)
		withdraw_ticket(hc);
	else if (hc->state != TP_HC_HANDLING)
		return false;
	hc->state = TP_HC_SENDING;
	return true;
}

/* The WAITING connection of ticket, unregistered; NULL when unknown. */
static struct tp_hc *take(struct tp_hc_hub *hub, uint64_t ticket)
{
	char key[24];
	struct tp_hc *hc;

	if (!ticket || !hub->pending)
		return NULL;
	ticket_key(ticket, key);
	hc = tp_dict_del(hub->pending, key);
	if (!hc)
		return NULL;
	hc->ticket = 0;
	return hc;
}

struct tp_hc *tp_hc_complete(struct tp_hc_hub *hub, uint64_t ticket)
{
	struct tp_hc *hc = take(hub, ticket);

	if (hc)
		hc->state = TP_HC_SENDING;
	return hc;
}

struct tp_hc *tp_hc_stream(struct tp_hc_hub *hub, uint64_t ticket)
{
	struct tp_hc *hc = take(hub, ticket);

	if (!hc)
		return NULL;
	/* A stream never finishes: it must not hold up a shutdown drain. */
	hc->state = TP_HC_STREAMING;
	uncount(hc);
	return hc;
}

enum tp_hc_action tp_hc_sent(struct tp_hc *hc)
{
	if (hc->state != TP_HC_SENDING)
		return TP_HC_IGNORE;
	uncount(hc);
	hc->status = 0;
	hc->error = hc->field = NULL;
	if (hc->closing) {
		hc->state = TP_HC_CLOSED; /* nothing more happens on it */
		return TP_HC_CLOSE;
	}
	hc->state = TP_HC_IDLE;
	return TP_HC_NEXT;
}

void tp_hc_closed(struct tp_hc *hc)
{
	if (!hc->hub || hc->state == TP_HC_CLOSED)
		return;
	withdraw_ticket(hc);
	uncount(hc);
	hc->state = TP_HC_CLOSED;
}

const char *tp_hc_state_name(enum tp_hc_state s)
{
	static const char *const names[] = {
		"idle", "body", "handling", "waiting", "sending", "streaming", "closed",
	};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}
