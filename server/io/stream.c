/*
 * stream.c - the start of an SSE or long-poll request, what the two HTTP
 * push fallbacks share: parameters, the token's account, the preset.
 *
 * With a token, its account must still exist (accounts.h): checked before
 * the stream or poll starts (401 when deleted).
 */
#include <stdbool.h>

#include "api.h"
#include "http.h"
#include "io.h"
#include "presets.h"
#include "stream.h"
#include "tickpush/alloc.h"
#include "tickpush/streamparams.h"

/* The request while tp_stream_params_parse runs: its need_user hook. */
struct stream_parse {
	const struct tp_http_req *req;
	struct tp_http_resp *resp;
	long long user;
};

static int stream_need_user(void *ud)
{
	struct stream_parse *sp = ud;

	return tp_http_require_user(sp->req, sp->resp, &sp->user);
}

/* Validates the query (core/streamparams.c) and the token; on error fills
 * resp and returns nonzero. */
static int stream_params_parse(const struct tp_http_req *req,
			       struct tp_http_resp *resp, bool sse,
			       struct tp_stream_params *sp, long long *user)
{
	struct tp_errdetail err = {{0}, NULL};
	struct stream_parse ctx = {req, resp, 0};
	char auth[64], leid[64];
	struct tp_stream_in in = {
		.query = req->query, .sse = sse,
		.has_auth = tp_http_req_header(req, "authorization:", auth, sizeof(auth)) > 0,
		.last_event_id = sse && tp_http_req_header(req, "last-event-id:", leid,
							   sizeof(leid)) > 0 ? leid : NULL,
		.epoch = req->srv->epoch, .need_user = stream_need_user, .ud = &ctx,
	};
	int rc = tp_stream_params_parse(&in, sp, &err);

	if (rc == TP_ERR_INVAL)
		tp_http_error(resp, 400, err.msg, err.field, NULL);
	*user = ctx.user;
	return rc;
}

void tp_stream_pending_free(struct tp_stream_pending *p)
{
	tp_scan_query_cleanup(&p->sp.q);
	tp_free(p);
}

/* tp_api_for_user's cleanup: the request ends without starting. */
static void pending_drop(void *ud)
{
	tp_stream_pending_free(ud);
}

/* The account (if any) exists: resolve the preset, or start at once. */
static void pending_begin(void *ud)
{
	struct tp_stream_pending *p = ud;

	if (!p->sp.q.preset_id) {
		p->resolved(TP_OK, &p->sp.q.filter, NULL, p);
		return;
	}
	if (tp_presets_resolve(p->srv, p->user, p->sp.q.preset_id, p->resolved, p)) {
		tp_http_complete_error(p->srv, p->ticket, 503, "Database unavailable", NULL);
		tp_stream_pending_free(p);
	}
}

/* Defers the request; a token's account is confirmed first. */
static void pending_start(const struct tp_http_req *req,
			  struct tp_http_resp *resp, struct tp_stream_pending *p)
{
	p->srv = req->srv;
	if (!(p->ticket = tp_http_defer(req, resp))) {
		tp_stream_pending_free(p);
		return;
	}
	if (p->user > 0)
		tp_api_for_user(p->srv, p->ticket, p->user, pending_begin,
				pending_drop, p);
	else
		pending_begin(p);
}

void tp_stream_request(const struct tp_http_req *req, struct tp_http_resp *resp,
		       bool sse, tp_presets_resolved_cb *resolved)
{
	struct tp_stream_pending *p = tp_calloc(1, sizeof(*p));

	if (!p) {
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
		return;
	}
	if (stream_params_parse(req, resp, sse, &p->sp, &p->user)) {
		tp_free(p);
		return;
	}
	p->resolved = resolved;
	pending_start(req, resp, p);
}
