/*
 * push.h - the live push hub (server/core/push.c): sessions, their
 * subscriptions, history and resume, fan-out. Pure: transports (WebSocket,
 * SSE, long-poll in server/io/) plug in through tp_push_transport_ops.
 *
 * Flow of one event: the server calls tp_push_pattern (or _removed,
 * _backtest, _health) with the seq the ingest assigned. The hub renders
 * the data once (the scan row for patterns), appends it to the history,
 * then asks the subscription index which pattern subscriptions can match,
 * evaluates each distinct filter once, and sends every matching session
 * one frame listing all of its matching subscription ids. The part of
 * that frame every session shares (seq and data) is rendered once and
 * handed to the transports by reference; per session only the head with
 * its "subs" is rendered. Backtest events
 * go to the owner's "backtests" subscriptions, health to "health" ones.
 *
 * Resume: a subscription with since = {epoch, seq} first gets
 * "subscribed" (recovered true), then every history entry after seq that
 * matches it, in order, then live events: no gap, no duplicate. A since
 * from another epoch, or older than the history, gets "subscribed"
 * (recovered false) and a "gap" frame instead.
 *
 * Backpressure belongs to the transport: ops.send returns TP_ERR_LIMIT
 * when the session's queue is full; the hub then stops sending to that
 * session (tp_push_session_is_slow) and the transport closes it (4008).
 *
 * Single-threaded; ops.send must not call back into the hub.
 */
#ifndef TICKPUSH_PUSH_H
#define TICKPUSH_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tickpush/err.h"
#include "tickpush/event.h"
#include "tickpush/filter.h"
#include "tickpush/patterns.h"
#include "tickpush/proto.h"
#include "tickpush/shbuf.h"

struct tp_push;
struct tp_push_session;

/* One frame for one session. Event frames come in two parts: head is the
 * session's own {"type":...,"subs":[...], and tail the rest, rendered
 * once per event and shared by every session that gets it (a transport
 * that keeps it takes a reference, tp_shbuf_acquire). Other frames
 * (subscribed, snapshot, gap, error, replays) are whole in head, with
 * tail NULL. */
struct tp_push_frame {
	const char *type;       /* the frame's "type" */
	uint64_t seq;           /* stream position, 0 for non-events */
	const char *head;
	size_t head_len;
	struct tp_shbuf *tail;  /* borrowed; may be NULL */
};

struct tp_push_transport_ops {
	/* Queues one frame for the session whose transport pointer is
	 * given (type and seq let SSE frame it: event:/id:). TP_OK, or
	 * TP_ERR_LIMIT when the session is too far behind (the hub marks it
	 * slow and sends it nothing more). */
	int (*send)(void *transport, const struct tp_push_frame *f);
};

struct tp_push_opts {
	const char *epoch;           /* copied */
	size_t max_subs;             /* per session (contract: 32) */
	size_t history_events;       /* 10,000 */
	double history_seconds;      /* 600 */
	/* Cluster mode: a since of this epoch up to this many seqs beyond
	 * the last one is accepted (another instance is a little ahead);
	 * events up to it are skipped for that subscription. 0 = a future
	 * position is a gap. */
	uint64_t future_window;
	struct tp_push_transport_ops ops;
};

struct tp_push *tp_push_create(const struct tp_push_opts *o);
/* All sessions must have been destroyed first. NULL-safe. */
void tp_push_destroy(struct tp_push *hub);

/* user_id <= 0: anonymous (patterns with inline filters, health). */
struct tp_push_session *tp_push_session_create(struct tp_push *hub,
					       void *transport,
					       long long user_id);
void tp_push_session_set_user(struct tp_push_session *s, long long user_id);
long long tp_push_session_user(const struct tp_push_session *s);
bool tp_push_session_is_slow(const struct tp_push_session *s);
size_t tp_push_session_subs(const struct tp_push_session *s);
/* Removes the session and all its subscriptions. NULL-safe. */
void tp_push_session_destroy(struct tp_push_session *s);

struct tp_push_sub_req {
	const char *id;                  /* 1..64 chars, unique per session */
	enum tp_sub_channel channel;
	const struct tp_filter *filter;  /* patterns: resolved filter (copied) */
	long long preset_id;             /* patterns: followed on change, 0 = inline */
	bool has_since;
	const char *since_epoch;
	uint64_t since_seq;
	bool snapshot;                   /* patterns: send matching cached rows */
	unsigned limit;                  /* snapshot rows */
};

/*
 * Adds a subscription and sends, through ops.send: "subscribed", then the
 * replay or a "gap" (when has_since), then a "snapshot" (when asked, from
 * store at time now, sorted by confidence desc). Errors (nothing sent, err
 * names the problem): TP_ERR_LIMIT (max_subs reached), TP_ERR_EXISTS
 * (id in use), TP_ERR_AUTH (backtests or a preset without a user),
 * TP_ERR_NOMEM.
 */
int tp_push_subscribe(struct tp_push *hub, struct tp_push_session *s,
		      const struct tp_push_sub_req *req,
		      const struct tp_patterns *store, double now,
		      struct tp_errdetail *err);
/* TP_OK or TP_ERR_NOTFOUND. */
int tp_push_unsubscribe(struct tp_push *hub, struct tp_push_session *s,
			const char *id);

/* Events, in seq order (seq strictly increasing across all four). */
void tp_push_pattern(struct tp_push *hub, const struct tp_pattern *p,
		     uint64_t seq, double now);
void tp_push_pattern_removed(struct tp_push *hub, const struct tp_pattern *p,
			     uint64_t seq, double now);
/* ev is a backtest_progress/backtest_result event; owner 0 = unknown job
 * (kept in history, sent to nobody). */
void tp_push_backtest(struct tp_push *hub, const struct tp_event *ev,
		      long long owner, uint64_t seq, double now);
void tp_push_health(struct tp_push *hub, const char *data_json, uint64_t seq,
		    double now);

/* A saved preset changed: every live subscription of user_id that follows
 * preset_id gets the new (resolved) filter at once. filter NULL = deleted:
 * those subscriptions end and their sessions get an error frame
 * (not_found) naming the subscription. */
void tp_push_preset_changed(struct tp_push *hub, long long user_id,
			    long long preset_id, const struct tp_filter *filter);
/* Every (user, preset) pair with live subscriptions, for re-resolving
 * presets after a watchlist change. cb may call tp_push_preset_changed. */
typedef void tp_push_preset_cb(long long user_id, long long preset_id,
			       void *ud);
void tp_push_foreach_preset(struct tp_push *hub, long long user_id,
			    tp_push_preset_cb *cb, void *ud);

/* Replays history entries after since_seq that match filter into a
 * caller's callback (long-poll collects instead of streaming). Returns
 * false (gap) when since_seq is not resumable in this epoch. */
typedef void tp_push_replay_cb(const char *type, uint64_t seq,
			       const char *frame, size_t len, void *ud);
bool tp_push_replay(struct tp_push *hub, const char *epoch, uint64_t since_seq,
		    const struct tp_filter *filter, long long user_id,
		    unsigned channels, tp_push_replay_cb *cb, void *ud);

/* The history was lost (cluster mode: the shared stream is new): starts
 * an empty history named epoch at seq 0, and sends every live
 * subscription a gap at that position. TP_OK or TP_ERR_NOMEM. */
int tp_push_new_epoch(struct tp_push *hub, const char *epoch);

/* Events up to seq were lost (cluster mode: a hole in the stream this
 * instance read): resumes from before seq get a gap, and so does every
 * live subscription (they missed those events). */
void tp_push_lost(struct tp_push *hub, uint64_t seq);

struct tp_push_stats {
	size_t sessions;
	size_t subscriptions;
	size_t distinct_filters;
	size_t history;
	uint64_t frames;        /* frames handed to transports */
	uint64_t slow_sessions; /* sessions that hit TP_ERR_LIMIT */
};
void tp_push_get_stats(const struct tp_push *hub, struct tp_push_stats *out);
uint64_t tp_push_last_seq(const struct tp_push *hub);
const char *tp_push_epoch(const struct tp_push *hub);

#endif
