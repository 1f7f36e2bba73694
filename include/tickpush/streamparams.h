/*
 * streamparams.h - the query of the HTTP push fallbacks (core/streamparams.c):
 * GET /api/stream (SSE) and GET /api/patterns/poll (long-poll).
 *
 * Pure: the io side hands in the decoded query, the Last-Event-ID header
 * and whether a token came, and gets the validated parameters back, or a
 * 400 message naming the parameter. Whether the token is good is io's
 * business: it is asked through a callback at the point where the old
 * handler checked it, so a bad token still wins over a bad `since`.
 */
#ifndef TICKPUSH_STREAMPARAMS_H
#define TICKPUSH_STREAMPARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "tickpush/err.h"
#include "tickpush/proto.h"
#include "tickpush/query.h"

#define TP_POLL_TIMEOUT_MAX 30.0
#define TP_POLL_TIMEOUT_DEFAULT 25.0

struct tp_stream_in {
	const struct tp_query *query;
	bool sse;                  /* SSE (channels, Last-Event-ID), else long-poll (timeout) */
	bool has_auth;             /* an Authorization header came */
	const char *last_event_id; /* the header's value, NULL when absent */
	const char *epoch;         /* this server's epoch, for a bare seq */
	/* Called when a user is needed (a token, a preset or the backtests
	 * channel); nonzero = refused, and the caller has answered. */
	int (*need_user)(void *ud);
	void *ud;
};

struct tp_stream_params {
	struct tp_scan_query q;    /* filter + preset_id from the query */
	unsigned channels;         /* bits 1 << TP_SUBCH_* */
	bool has_since;
	char epoch[TP_EPOCH_MAX + 1];
	uint64_t since;
	double timeout;            /* long-poll only, seconds */
};

/* Fills sp from in. TP_OK; TP_ERR_INVAL with err (a 400; sp is clean);
 * TP_ERR_AUTH when need_user refused (sp is clean). On TP_OK the caller
 * owns sp->q (tp_scan_query_cleanup). */
int tp_stream_params_parse(const struct tp_stream_in *in,
			   struct tp_stream_params *sp,
			   struct tp_errdetail *err);

/* "<epoch>:<seq>" or "<seq>" into sp (has_since, since, epoch when given);
 * TP_ERR_INVAL when malformed. */
int tp_stream_position_parse(const char *s, struct tp_stream_params *sp);

#endif
