/*
 * streamparams.c - validation of the SSE / long-poll query (streamparams.h).
 *
 * Moved out of io/sse.c unchanged in behaviour: the same checks in the same
 * order (filter, channels, user, position, timeout), the same messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickpush/streamparams.h"

int tp_stream_position_parse(const char *s, struct tp_stream_params *sp)
{
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long long seq;

	if (colon && (size_t)(colon - s) <= TP_EPOCH_MAX && colon > s) {
		memcpy(sp->epoch, s, (size_t)(colon - s));
		sp->epoch[colon - s] = '\0';
		s = colon + 1;
	}
	if (!*s || *s == '-')
		return TP_ERR_INVAL;
	seq = strtoull(s, &end, 10);
	if (*end)
		return TP_ERR_INVAL;
	sp->since = seq;
	sp->has_since = true;
	return TP_OK;
}

static int parse_channels(const char *v, unsigned *out, struct tp_errdetail *err)
{
	*out = 0;
	for (const char *p = v; *p;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n == 8 && !strncmp(p, "patterns", 8))
			*out |= 1u << TP_SUBCH_PATTERNS;
		else if (n == 6 && !strncmp(p, "health", 6))
			*out |= 1u << TP_SUBCH_HEALTH;
		else if (n == 9 && !strncmp(p, "backtests", 9))
			*out |= 1u << TP_SUBCH_BACKTESTS;
		else if (n)
			return tp_errdetail_set(err, TP_ERR_INVAL, "channels",
						"channels: use patterns, health and/or backtests");
		if (!comma)
			break;
		p = comma + 1;
	}
	if (!*out)
		return tp_errdetail_set(err, TP_ERR_INVAL, "channels", "channels: empty");
	return TP_OK;
}

int tp_stream_params_parse(const struct tp_stream_in *in,
			   struct tp_stream_params *sp,
			   struct tp_errdetail *err)
{
	const char *v;
	int rc;

	memset(sp, 0, sizeof(*sp));
	if ((rc = tp_scan_query_from_params(in->query, &sp->q, err)))
		return rc;
	sp->channels = 1u << TP_SUBCH_PATTERNS;
	if (in->sse && (v = tp_query_get(in->query, "channels")) &&
	    (rc = parse_channels(v, &sp->channels, err)))
		goto fail;
	/* A token is optional, but needed for presets and backtests. */
	if (tp_query_get(in->query, "token") || in->has_auth || sp->q.preset_id ||
	    (sp->channels & (1u << TP_SUBCH_BACKTESTS))) {
		if (in->need_user && in->need_user(in->ud)) {
			rc = TP_ERR_AUTH;
			goto fail;
		}
	}
	/* Resume position: Last-Event-ID, else ?since= ("e:s" or "s"), with
	 * ?epoch= for long-poll. */
	rc = TP_ERR_INVAL;
	if (in->sse && in->last_event_id) {
		if (tp_stream_position_parse(in->last_event_id, sp)) {
			tp_errdetail_set(err, rc, "Last-Event-ID",
					 "Last-Event-ID: expected <epoch>:<seq>");
			goto fail;
		}
	} else if ((v = tp_query_get(in->query, "since"))) {
		if (tp_stream_position_parse(v, sp)) {
			tp_errdetail_set(err, rc, "since",
					 "since: expected a sequence number (or <epoch>:<seq>)");
			goto fail;
		}
	}
	if ((v = tp_query_get(in->query, "epoch")))
		snprintf(sp->epoch, sizeof(sp->epoch), "%s", v);
	if (sp->has_since && !sp->epoch[0]) /* a bare seq means "this epoch" */
		snprintf(sp->epoch, sizeof(sp->epoch), "%s", in->epoch ? in->epoch : "");
	sp->timeout = TP_POLL_TIMEOUT_DEFAULT;
	if (!in->sse && (v = tp_query_get(in->query, "timeout"))) {
		char *end;
		double t = strtod(v, &end);

		if (end == v || *end || !(t >= 0 && t <= TP_POLL_TIMEOUT_MAX)) {
			tp_errdetail_set(err, rc, "timeout", "timeout: seconds between 0 and 30");
			goto fail;
		}
		sp->timeout = t;
	}
	return TP_OK;
fail:
	tp_scan_query_cleanup(&sp->q);
	return rc;
}
