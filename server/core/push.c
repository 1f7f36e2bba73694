/*
 * push.c - the live push hub (see push.h).
 *
 * Responsibilities: sessions and their subscriptions, the resume history,
 * and the fan-out of every ingested event to the sessions that asked for
 * it, one frame per session per event listing all its matching
 * subscription ids (docs/protocol.md).
 *
 * Structures:
 *   - sessions: a doubly-linked list owned by the hub. Each session holds
 *     its subscriptions in an array kept in creation order (removal
 *     shifts), which is the order ids are listed in "subs". A second array
 *     of the same size is scratch for those id lists, so the fan-out
 *     allocates nothing per session. Both grow on subscribe, up to
 *     max_subs (an idle session with one subscription holds two slots).
 *   - pattern subscriptions hold one reference to a shared compiled filter
 *     (tp_fcache: one per distinct filter) and one entry in the
 *     subscription index (tp_subindex), whose owner pointer is the sub.
 *   - backtests and health subscriptions are found by walking the
 *     sessions: those events are rare (job progress, periodic health), and
 *     a per-session counter skips sessions without such subscriptions.
 *
 * Fan-out of a pattern event: hub->gen is bumped (the index's filter memo
 * and our marks key on it); the row is rendered once into hub->row and
 * appended to the history; tp_subindex_match calls on_match for every
 * matching subscription: the sub gets hit_gen = gen and its session, the
 * first time it is seen for this gen, is pushed on hub->hits. The frame's
 * shared tail ("seq" and the data, tp_proto_event_tail) is rendered once
 * into a refcounted tp_shbuf; then each session on that list gets the
 * frame as its own head, built in the reused hub->frame with the ids of
 * its subs whose hit_gen is gen in creation order (consecutive sessions
 * matched by one subscription of the same id share the rendering), plus
 * that tail. The
 * hub's reference to the tail is dropped after the fan-out; transports
 * that queue the frame hold their own.
 *
 * Backpressure and failures: ops.send returning anything but TP_OK (the
 * contract says TP_ERR_LIMIT) marks the session slow; a slow session is
 * never sent anything again and is counted once in slow_sessions; its
 * subscriptions stay until the transport destroys it. When a frame for a
 * session cannot be built (out of memory), the session is marked slow too:
 * it would otherwise silently miss an event, and a slow session is closed
 * by its transport and resumes with `since`, losing nothing still in
 * history. The same applies to a snapshot that cannot be computed and to a
 * preset change whose new filter cannot be installed.
 *
 * Resume: tp_push_subscribe with since answers "subscribed" (recovered iff
 * same epoch and tp_history_resume says every entry after since is held),
 * then either every held entry after since that matches the subscription,
 * in seq order, with subs [id], or a "gap". Since the hub is called
 * synchronously from the ingest, nothing can arrive in between: the live
 * events that follow continue exactly after the replay.
 *
 * History data: pattern entries keep the row exactly as pushed live. If the
 * row could not be rendered (out of memory) the entry is stored with data
 * NULL and a replay renders it from the stored pattern at the entry's time,
 * which gives the same bytes. Backtest entries keep data_json ("{}" when
 * the event had none), health entries the data object.
 *
 * Ownership: the hub owns sessions, subscriptions, the history, the filter
 * cache and the index; sessions borrow the transport pointer. Frames handed
 * to ops.send are borrowed for the duration of the call (a transport
 * that keeps the shared tail takes a reference).
 * Single-threaded; ops.send must not call back into the hub.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/dict.h"
#include "tickpush/err.h"
#include "tickpush/fcache.h"
#include "tickpush/history.h"
#include "tickpush/log.h"
#include "tickpush/push.h"
#include "tickpush/render.h"
#include "tickpush/shbuf.h"
#include "tickpush/subindex.h"

#define DEFAULT_MAX_SUBS 32
#define SNAPSHOT_PAGE 100 /* tp_patterns_scan clamps per_page to 100 */

/* A subscription id, shared by every subscription that uses it (most
 * clients name theirs alike: "s1", "patterns"): equal ids are one pointer. */
struct idstr {
	size_t refs;
	char s[];
};

struct sub {
	const char *id;              /* an interned idstr's s */
	enum tp_sub_channel channel;
	long long preset_id;         /* patterns: 0 = inline filter */
	struct tp_cfilter *cf;       /* patterns: one reference */
	struct tp_subentry *entry;   /* patterns: in hub->ix */
	struct tp_push_session *sess;
	uint64_t hit_gen;            /* matched the event of this gen */
	uint64_t after;              /* resumed ahead of us: events up to this
				      * seq were already seen (0 = none) */
};

struct tp_push_session {
	struct tp_push *hub;
	void *transport;
	long long user;
	bool slow;
	struct sub **subs;           /* cap slots, creation order */
	size_t n_subs, cap;
	size_t n_backtests, n_health;
	const char **scratch;        /* cap slots: ids of one frame */
	uint64_t gen;                /* on hub->hits for this gen */
	struct sub *first_hit;       /* of this gen, and how many */
	size_t n_hits;
	struct tp_push_session *next_hit;
	struct tp_push_session *prev, *next; /* hub->sessions */
};

struct tp_push {
	char epoch[TP_EPOCH_MAX + 1];
	size_t max_subs;
	struct tp_push_transport_ops ops;
	struct tp_history *hist;
	struct tp_fcache *fc;
	struct tp_subindex *ix;
	struct tp_dict *ids;          /* id -> struct idstr (interned ids) */
	struct tp_push_session *sessions;
	size_t n_sessions, n_subs;
	uint64_t gen;
	uint64_t last_seq;
	uint64_t future_window;       /* tp_push_opts */
	size_t history_events;
	double history_seconds;
	struct tp_push_session *hits; /* sessions matched by the current event */
	struct tp_buf row;            /* the current event's row */
	struct tp_buf frame;          /* the frame (or head) being built */
	struct tp_buf tail;           /* the shared tail being built */
	const char *head_id;          /* hub->frame is the head for this id */
	uint64_t frames, slow_sessions;
};

/* ------------------------------------------------------------------ */
/* hub and sessions                                                     */

struct tp_push *tp_push_create(const struct tp_push_opts *o)
{
	struct tp_push *hub;

	if (!o || !o->ops.send)
		return NULL;
	hub = tp_calloc(1, sizeof(*hub));
	if (!hub)
		return NULL;
	snprintf(hub->epoch, sizeof(hub->epoch), "%s", o->epoch ? o->epoch : "");
	hub->max_subs = o->max_subs ? o->max_subs : DEFAULT_MAX_SUBS;
	hub->ops = o->ops;
	hub->future_window = o->future_window;
	hub->history_events = o->history_events;
	hub->history_seconds = o->history_seconds;
	tp_buf_init(&hub->row, 0);
	tp_buf_init(&hub->frame, 0);
	tp_buf_init(&hub->tail, 0);
	if (!(hub->hist = tp_history_create(o->history_events,
					    o->history_seconds)))
		goto fail;
	if (!(hub->fc = tp_fcache_create()))
		goto fail;
	if (!(hub->ix = tp_subindex_create()))
		goto fail;
	if (!(hub->ids = tp_dict_create()))
		goto fail;
	return hub;
fail:
	tp_push_destroy(hub);
	return NULL;
}

void tp_push_destroy(struct tp_push *hub)
{
	if (!hub)
		return;
	TP_ASSERT(!hub->sessions);
	TP_ASSERT(!hub->ids || tp_dict_size(hub->ids) == 0);
	tp_dict_destroy(hub->ids);
	tp_subindex_destroy(hub->ix);
	tp_fcache_destroy(hub->fc);
	tp_history_destroy(hub->hist);
	tp_buf_cleanup(&hub->row);
	tp_buf_cleanup(&hub->frame);
	tp_buf_cleanup(&hub->tail);
	tp_free(hub);
}

struct tp_push_session *tp_push_session_create(struct tp_push *hub,
					       void *transport,
					       long long user_id)
{
	struct tp_push_session *s;

	if (!hub)
		return NULL;
	s = tp_calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->hub = hub;
	s->transport = transport;
	s->user = user_id;
	s->next = hub->sessions;
	if (hub->sessions)
		hub->sessions->prev = s;
	hub->sessions = s;
	hub->n_sessions++;
	return s;
}

void tp_push_session_set_user(struct tp_push_session *s, long long user_id)
{
	if (s)
		s->user = user_id;
}

long long tp_push_session_user(const struct tp_push_session *s)
{
	return s ? s->user : 0;
}

bool tp_push_session_is_slow(const struct tp_push_session *s)
{
	return s && s->slow;
}

size_t tp_push_session_subs(const struct tp_push_session *s)
{
	return s ? s->n_subs : 0;
}

/* The interned copy of id (one more reference), or NULL (no memory). */
static const char *id_acquire(struct tp_push *hub, const char *id)
{
	struct idstr *is = tp_dict_get(hub->ids, id);
	size_t n;

	if (!is) {
		n = strlen(id);
		if (!(is = tp_malloc(sizeof(*is) + n + 1)))
			return NULL;
		memcpy(is->s, id, n + 1);
		is->refs = 0;
		if (tp_dict_set(hub->ids, id, is, NULL) != TP_OK) {
			tp_free(is);
			return NULL;
		}
	}
	is->refs++;
	return is->s;
}

static void id_release(struct tp_push *hub, const char *id)
{
	struct idstr *is;

	if (!id)
		return;
	is = (struct idstr *)(id - offsetof(struct idstr, s));
	if (--is->refs == 0) {
		tp_dict_del(hub->ids, id);
		tp_free(is);
	}
}

static void sub_free(struct tp_push *hub, struct sub *sub)
{
	if (!sub)
		return;
	if (sub->entry)
		tp_subindex_remove(hub->ix, sub->entry);
	tp_fcache_release(hub->fc, sub->cf);
	id_release(hub, sub->id);
	tp_free(sub);
}

/* Removes subs[i] from its session (keeping creation order) and frees it. */
static void sub_remove_at(struct tp_push_session *s, size_t i)
{
	struct sub *sub = s->subs[i];

	if (sub->channel == TP_SUBCH_BACKTESTS)
		s->n_backtests--;
	else if (sub->channel == TP_SUBCH_HEALTH)
		s->n_health--;
	memmove(&s->subs[i], &s->subs[i + 1],
		(s->n_subs - i - 1) * sizeof(*s->subs));
	s->n_subs--;
	s->hub->n_subs--;
	sub_free(s->hub, sub);
}

void tp_push_session_destroy(struct tp_push_session *s)
{
	struct tp_push *hub;

	if (!s)
		return;
	hub = s->hub;
	while (s->n_subs)
		sub_remove_at(s, s->n_subs - 1);
	if (s->prev)
		s->prev->next = s->next;
	else
		hub->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	hub->n_sessions--;
	tp_free(s->subs);
	tp_free(s->scratch);
	tp_free(s);
}

/* Room for one more subscription: grows subs and scratch (doubling, at
 * most max_subs slots). TP_OK or TP_ERR_NOMEM (nothing changed). */
static int grow_subs(struct tp_push_session *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 2;
	struct sub **subs;
	const char **scratch;

	if (s->n_subs < s->cap)
		return TP_OK;
	if (ncap > s->hub->max_subs)
		ncap = s->hub->max_subs;
	subs = tp_calloc(ncap, sizeof(*subs));
	scratch = tp_calloc(ncap, sizeof(*scratch));
	if (!subs || !scratch) {
		tp_free(subs);
		tp_free(scratch);
		return TP_ERR_NOMEM;
	}
	if (s->n_subs)
		memcpy(subs, s->subs, s->n_subs * sizeof(*subs));
	tp_free(s->subs);
	tp_free(s->scratch);
	s->subs = subs;
	s->scratch = scratch;
	s->cap = ncap;
	return TP_OK;
}

/* ------------------------------------------------------------------ */
/* sending                                                              */

static void mark_slow(struct tp_push_session *s)
{
	if (s->slow)
		return;
	s->slow = true;
	s->hub->slow_sessions++;
}

/* Hands hub->frame (whole, or the head of an event whose shared tail is
 * tail) to the session's transport. */
static void deliver_with(struct tp_push_session *s, const char *type,
			 uint64_t seq, struct tp_shbuf *tail)
{
	struct tp_push *hub = s->hub;
	struct tp_push_frame f = {
		.type = type, .seq = seq, .head = tp_buf_data(&hub->frame),
		.head_len = hub->frame.len, .tail = tail,
	};
	int rc;

	if (s->slow)
		return;
	if (hub->frame.oom) {
		mark_slow(s); /* it would miss this frame otherwise */
		return;
	}
	rc = hub->ops.send(s->transport, &f);
	if (rc != TP_OK) {
		mark_slow(s);
		return;
	}
	hub->frames++;
}

static void deliver(struct tp_push_session *s, const char *type, uint64_t seq)
{
	deliver_with(s, type, seq, NULL);
}

/* Renders history entry e into hub->frame with the given subs. Pattern
 * entries without stored data are rendered from their record at the
 * entry's time (same bytes as live). Uses hub->row as scratch for that. */
static void render_entry(struct tp_push *hub, const struct tp_hist_entry *e,
			 const char *const *subs, size_t n)
{
	const char *data = e->data;
	size_t len = e->data_len;

	tp_buf_reset(&hub->frame);
	switch (e->kind) {
	case TP_HIST_PATTERN_REMOVED:
		tp_proto_removed(&hub->frame, e->seq, subs, n, e->pattern.id);
		return;
	case TP_HIST_PATTERN:
		if (!data) {
			tp_buf_reset(&hub->row);
			tp_render_row(&hub->row, &e->pattern, e->time);
			if (hub->row.oom) {
				hub->frame.oom = true;
				return;
			}
			data = tp_buf_data(&hub->row);
			len = hub->row.len;
		}
		break;
	case TP_HIST_BACKTEST_PROGRESS:
	case TP_HIST_BACKTEST_RESULT:
	case TP_HIST_HEALTH:
		break;
	}
	tp_proto_event(&hub->frame, tp_hist_kind_name(e->kind), e->seq, subs, n,
		       data, len);
}

/* Does history entry e belong to subscription sub (of a session whose
 * user is user)? */
static bool entry_matches(const struct tp_hist_entry *e,
			  enum tp_sub_channel ch, const struct tp_filter *f,
			  long long user)
{
	switch (e->kind) {
	case TP_HIST_PATTERN:
	case TP_HIST_PATTERN_REMOVED:
		return ch == TP_SUBCH_PATTERNS &&
		       (!f || tp_filter_match(f, &e->pattern));
	case TP_HIST_BACKTEST_PROGRESS:
	case TP_HIST_BACKTEST_RESULT:
		return ch == TP_SUBCH_BACKTESTS && user > 0 && e->owner == user;
	case TP_HIST_HEALTH:
		return ch == TP_SUBCH_HEALTH;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* subscribe                                                            */

static struct sub *find_sub(const struct tp_push_session *s, const char *id,
			    size_t *at)
{
	for (size_t i = 0; i < s->n_subs; i++) {
		if (strcmp(s->subs[i]->id, id) == 0) {
			if (at)
				*at = i;
			return s->subs[i];
		}
	}
	return NULL;
}

static int check_req(const struct tp_push *hub, const struct tp_push_session *s,
		     const struct tp_push_sub_req *req,
		     struct tp_errdetail *err)
{
	size_t idlen;

	if (!req->id || !(idlen = strlen(req->id)) || idlen > TP_SUB_ID_MAX)
		return tp_errdetail_set(err, TP_ERR_INVAL, "id",
					"id must be 1..%d characters",
					TP_SUB_ID_MAX);
	if (req->channel != TP_SUBCH_PATTERNS &&
	    req->channel != TP_SUBCH_BACKTESTS &&
	    req->channel != TP_SUBCH_HEALTH)
		return tp_errdetail_set(err, TP_ERR_INVAL, "channel",
					"unknown channel");
	if (find_sub(s, req->id, NULL))
		return tp_errdetail_set(err, TP_ERR_EXISTS, "id",
					"subscription id '%s' is already in use",
					req->id);
	if (s->user <= 0 && req->channel == TP_SUBCH_BACKTESTS)
		return tp_errdetail_set(err, TP_ERR_AUTH, "channel",
					"the backtests channel needs a token");
	if (s->user <= 0 && req->channel == TP_SUBCH_PATTERNS &&
	    req->preset_id != 0)
		return tp_errdetail_set(err, TP_ERR_AUTH, "preset_id",
					"preset_id needs a token");
	if (s->n_subs >= hub->max_subs)
		return tp_errdetail_set(err, TP_ERR_LIMIT, "id",
					"at most %zu subscriptions per session",
					hub->max_subs);
	return TP_OK;
}

/* Replays every held entry after since_seq (from index first) that matches
 * sub, as frames listing only sub. */
/* A position of this epoch we have not reached yet, but within the
 * window (cluster mode: the instance that answered is a little ahead). */
static bool future_ok(const struct tp_push *hub, uint64_t since)
{
	return hub->future_window && since > hub->last_seq &&
	       since - hub->last_seq <= hub->future_window;
}

static void replay_sub(struct tp_push *hub, struct sub *sub, size_t first)
{
	struct tp_push_session *s = sub->sess;
	const char *ids[1] = { sub->id };
	const struct tp_filter *f = sub->cf ? &sub->cf->filter : NULL;
	size_t n = tp_history_count(hub->hist);

	for (size_t i = first; i < n && !s->slow; i++) {
		const struct tp_hist_entry *e = tp_history_at(hub->hist, i);

		if (!entry_matches(e, sub->channel, f, s->user))
			continue;
		render_entry(hub, e, ids, 1);
		deliver(s, tp_hist_kind_name(e->kind), e->seq);
	}
}

/* The snapshot frame: the store's unexpired matching rows, confidence
 * desc, at most limit, rendered at now. Paged through tp_patterns_scan,
 * which serves at most SNAPSHOT_PAGE rows per page. */
static void send_snapshot(struct tp_push *hub, struct sub *sub,
			  const struct tp_patterns *store, unsigned limit,
			  double now)
{
	struct tp_scan_query q;
	size_t sent = 0;
	bool failed = false;

	if (limit == 0)
		limit = TP_SNAPSHOT_LIMIT_DEFAULT;
	if (limit > TP_SNAPSHOT_LIMIT_MAX)
		limit = TP_SNAPSHOT_LIMIT_MAX;
	/* The filter is borrowed from the cfilter: q is never cleaned up. */
	memset(&q, 0, sizeof(q));
	q.filter = sub->cf->filter;
	q.per_page = SNAPSHOT_PAGE;
	q.sort_by = TP_SORT_CONFIDENCE;
	q.ascending = false;

	tp_buf_reset(&hub->frame);
	tp_proto_snapshot_begin(&hub->frame, sub->id, hub->last_seq);
	for (q.page = 1; store && sent < limit; q.page++) {
		struct tp_scan_result r;
		size_t i;

		if (tp_patterns_scan(store, &q, now, &r) != TP_OK) {
			failed = true;
			break;
		}
		for (i = 0; i < r.n_rows && sent < limit; i++, sent++) {
			if (sent)
				tp_buf_putc(&hub->frame, ',');
			tp_patterns_render_row(r.rows[i], now, &hub->frame);
		}
		i = r.n_rows;
		tp_scan_result_cleanup(&r);
		if (i < SNAPSHOT_PAGE)
			break;
	}
	tp_proto_snapshot_end(&hub->frame);
	if (failed)
		hub->frame.oom = true; /* an incomplete snapshot is never sent */
	deliver(sub->sess, "snapshot", 0);
}

int tp_push_subscribe(struct tp_push *hub, struct tp_push_session *s,
		      const struct tp_push_sub_req *req,
		      const struct tp_patterns *store, double now,
		      struct tp_errdetail *err)
{
	struct tp_filter defaults;
	struct sub *sub = NULL;
	bool recovered = false;
	size_t first = 0;
	int rc;

	if (!hub || !s || !req)
		return TP_ERR_INVAL;
	if ((rc = check_req(hub, s, req, err)) != TP_OK)
		return rc;
	if (grow_subs(s) != TP_OK)
		goto nomem;
	sub = tp_calloc(1, sizeof(*sub));
	if (!sub)
		goto nomem;
	if (!(sub->id = id_acquire(hub, req->id)))
		goto nomem;
	sub->channel = req->channel;
	sub->sess = s;
	if (req->channel == TP_SUBCH_PATTERNS) {
		const struct tp_filter *f = req->filter;

		if (!f) {
			tp_filter_init(&defaults);
			f = &defaults;
		}
		sub->preset_id = req->preset_id;
		if (tp_fcache_acquire(hub->fc, f, &sub->cf) != TP_OK)
			goto nomem;
		if (tp_subindex_add(hub->ix, sub->cf, sub, &sub->entry) != TP_OK)
			goto nomem;
	}
	s->subs[s->n_subs++] = sub;
	hub->n_subs++;
	if (sub->channel == TP_SUBCH_BACKTESTS)
		s->n_backtests++;
	else if (sub->channel == TP_SUBCH_HEALTH)
		s->n_health++;

	if (req->has_since && req->since_epoch &&
	    strcmp(req->since_epoch, hub->epoch) == 0) {
		recovered = tp_history_resume(hub->hist, req->since_seq, &first);
		if (!recovered && future_ok(hub, req->since_seq)) {
			/* Another instance is a little ahead: nothing to replay,
			 * and the events up to since_seq are skipped when they
			 * arrive here. */
			recovered = true;
			first = tp_history_count(hub->hist);
			sub->after = req->since_seq;
		}
	}
	tp_buf_reset(&hub->frame);
	tp_proto_subscribed(&hub->frame, sub->id, hub->epoch, hub->last_seq,
			    recovered);
	deliver(s, "subscribed", 0);
	if (recovered) {
		replay_sub(hub, sub, first);
	} else if (req->has_since) {
		tp_buf_reset(&hub->frame);
		tp_proto_gap(&hub->frame, sub->id, hub->epoch, hub->last_seq);
		deliver(s, "gap", 0);
	}
	if (req->snapshot && sub->channel == TP_SUBCH_PATTERNS)
		send_snapshot(hub, sub, store, req->limit, now);
	return TP_OK;
nomem:
	sub_free(hub, sub);
	return tp_errdetail_set(err, TP_ERR_NOMEM, NULL, "out of memory");
}

int tp_push_unsubscribe(struct tp_push *hub, struct tp_push_session *s,
			const char *id)
{
	size_t at;

	if (!hub || !s || !id || !find_sub(s, id, &at))
		return TP_ERR_NOTFOUND;
	sub_remove_at(s, at);
	return TP_OK;
}

/* ------------------------------------------------------------------ */
/* events                                                               */

/* Accepts seq for the next event, or refuses a non-increasing one (a
 * caller bug: sending it would break every client's resume position). */
static bool next_seq(struct tp_push *hub, uint64_t seq)
{
	if (seq <= hub->last_seq) {
		TP_LOG(TP_LOG_WARN, "msg=\"push: event out of order, dropped\" seq=%llu last=%llu",
		       (unsigned long long)seq,
		       (unsigned long long)hub->last_seq);
		return false;
	}
	hub->last_seq = seq;
	hub->gen++;
	return true;
}

static void on_match(void *owner, void *ud)
{
	struct sub *sub = owner;
	struct tp_push_session *s = sub->sess;
	struct tp_push *hub = ud;

	if (s->slow || sub->after >= hub->last_seq)
		return;
	sub->hit_gen = hub->gen;
	if (s->gen != hub->gen) {
		s->gen = hub->gen;
		s->first_hit = sub;
		s->n_hits = 1;
		s->next_hit = hub->hits;
		hub->hits = s;
	} else {
		s->n_hits++;
	}
}

/* Ids of s's subscriptions matched by the current event, creation order
 * (one match, the common case, needs no walk). */
static size_t hit_ids(struct tp_push_session *s, uint64_t gen)
{
	size_t n = 0;

	if (s->n_hits == 1) {
		s->scratch[0] = s->first_hit->id;
		return 1;
	}
	for (size_t i = 0; i < s->n_subs; i++)
		if (s->subs[i]->hit_gen == gen)
			s->scratch[n++] = s->subs[i]->id;
	return n;
}

/* The head of the current event for a session whose matching
 * subscriptions are ids[0..n) into hub->frame. Sessions with the same
 * single id (a broadcast: everyone's "s1") share one rendering: the head
 * is rendered again only when the id differs from the last one (ids are
 * interned: equal ids are equal pointers). The caller clears
 * hub->head_id before each event. */
static void render_head(struct tp_push *hub, const char *type,
			const char *const *ids, size_t n,
			const struct tp_shbuf *tail)
{
	if (n == 1 && hub->head_id == ids[0])
		return;
	tp_buf_reset(&hub->frame);
	tp_proto_event_head(&hub->frame, type, ids, n);
	if (!tail)
		hub->frame.oom = true;
	hub->head_id = n == 1 && !hub->frame.oom ? ids[0] : NULL;
}

/* The current event's shared tail from hub->tail, or NULL (out of
 * memory: every session that should get the event is marked slow). */
static struct tp_shbuf *make_tail(struct tp_push *hub)
{
	if (hub->tail.oom)
		return NULL;
	return tp_shbuf_create(tp_buf_data(&hub->tail), hub->tail.len);
}

/* Walks the index for p and sends each matching session one frame: its
 * own head, then the tail shared by all of them. */
static void fan_out_pattern(struct tp_push *hub, const struct tp_pattern *p,
			    uint64_t seq, bool removed)
{
	const char *type = removed ? "pattern_removed" : "pattern";
	struct tp_push_session *s, *next;
	struct tp_shbuf *tail;

	hub->hits = NULL;
	tp_subindex_match(hub->ix, p, hub->gen, on_match, hub);
	if (!hub->hits)
		return;
	tp_buf_reset(&hub->tail);
	if (removed)
		tp_proto_removed_tail(&hub->tail, seq, p->id);
	else if (hub->row.oom)
		hub->tail.oom = true;
	else
		tp_proto_event_tail(&hub->tail, seq, tp_buf_data(&hub->row),
				    hub->row.len);
	tail = make_tail(hub);
	hub->head_id = NULL;
	for (s = hub->hits; s; s = next) {
		size_t n = hit_ids(s, hub->gen);

		next = s->next_hit;
		s->next_hit = NULL;
		render_head(hub, type, s->scratch, n, tail);
		deliver_with(s, type, seq, tail);
	}
	hub->hits = NULL;
	tp_shbuf_release(tail);
}

static void append_history(struct tp_push *hub, struct tp_hist_entry *e)
{
	int rc = tp_history_append(hub->hist, e);

	/* NOMEM: the history records the seq as lost, so resumes from
	 * before it get a gap; live delivery goes on. */
	if (rc != TP_OK)
		TP_LOG(TP_LOG_WARN, "msg=\"history append failed\" seq=%llu err=%s",
		       (unsigned long long)e->seq, tp_log_q(tp_strerror(rc)));
}

void tp_push_pattern(struct tp_push *hub, const struct tp_pattern *p,
		     uint64_t seq, double now)
{
	struct tp_hist_entry e;

	if (!hub || !p || !next_seq(hub, seq))
		return;
	tp_buf_reset(&hub->row);
	tp_render_row(&hub->row, p, now);

	memset(&e, 0, sizeof(e));
	e.seq = seq;
	e.time = now;
	e.kind = TP_HIST_PATTERN;
	e.pattern = *p; /* the history deep-copies */
	if (!hub->row.oom) {
		e.data = tp_buf_data(&hub->row);
		e.data_len = hub->row.len;
	}
	append_history(hub, &e);
	fan_out_pattern(hub, p, seq, false);
}

void tp_push_pattern_removed(struct tp_push *hub, const struct tp_pattern *p,
			     uint64_t seq, double now)
{
	struct tp_hist_entry e;

	if (!hub || !p || !next_seq(hub, seq))
		return;
	memset(&e, 0, sizeof(e));
	e.seq = seq;
	e.time = now;
	e.kind = TP_HIST_PATTERN_REMOVED;
	e.pattern = *p;
	append_history(hub, &e);
	fan_out_pattern(hub, p, seq, true);
}

/* Sends the event (type, data) to every session whose subscriptions on
 * channel ch accept it: backtests only for user owner. The tail is
 * rendered once, when the first such session is found. */
static void fan_out_channel(struct tp_push *hub, enum tp_sub_channel ch,
			    long long owner, const char *type, uint64_t seq,
			    const char *data, size_t len)
{
	struct tp_shbuf *tail = NULL;
	bool rendered = false;

	for (struct tp_push_session *s = hub->sessions; s; s = s->next) {
		size_t n = 0;

		if (s->slow)
			continue;
		if (ch == TP_SUBCH_BACKTESTS &&
		    (!s->n_backtests || owner <= 0 || s->user != owner))
			continue;
		if (ch == TP_SUBCH_HEALTH && !s->n_health)
			continue;
		for (size_t i = 0; i < s->n_subs; i++)
			if (s->subs[i]->channel == ch && s->subs[i]->after < seq)
				s->scratch[n++] = s->subs[i]->id;
		if (!n)
			continue;
		if (!rendered) {
			tp_buf_reset(&hub->tail);
			tp_proto_event_tail(&hub->tail, seq, data, len);
			tail = make_tail(hub);
			hub->head_id = NULL;
			rendered = true;
		}
		render_head(hub, type, s->scratch, n, tail);
		deliver_with(s, type, seq, tail);
	}
	tp_shbuf_release(tail);
}

void tp_push_backtest(struct tp_push *hub, const struct tp_event *ev,
		      long long owner, uint64_t seq, double now)
{
	struct tp_hist_entry e;
	const char *data;

	if (!hub || !ev || (ev->kind != TP_EV_BACKTEST_PROGRESS &&
			    ev->kind != TP_EV_BACKTEST_RESULT))
		return;
	if (!next_seq(hub, seq))
		return;
	data = ev->data_json ? ev->data_json : "{}";
	memset(&e, 0, sizeof(e));
	e.seq = seq;
	e.time = now;
	e.kind = ev->kind == TP_EV_BACKTEST_PROGRESS ?
		TP_HIST_BACKTEST_PROGRESS : TP_HIST_BACKTEST_RESULT;
	e.data = (char *)data; /* the history copies; never written */
	e.data_len = strlen(data);
	e.owner = owner > 0 ? owner : 0;
	memcpy(e.job_id, ev->job_id, sizeof(e.job_id));
	append_history(hub, &e);
	if (owner > 0)
		fan_out_channel(hub, TP_SUBCH_BACKTESTS, owner,
				tp_hist_kind_name(e.kind), seq, data, e.data_len);
}

void tp_push_health(struct tp_push *hub, const char *data_json, uint64_t seq,
		    double now)
{
	struct tp_hist_entry e;
	const char *data = data_json ? data_json : "{}";

	if (!hub || !next_seq(hub, seq))
		return;
	memset(&e, 0, sizeof(e));
	e.seq = seq;
	e.time = now;
	e.kind = TP_HIST_HEALTH;
	e.data = (char *)data; /* the history copies; never written */
	e.data_len = strlen(data);
	append_history(hub, &e);
	fan_out_channel(hub, TP_SUBCH_HEALTH, 0, "system_health", seq, data,
			e.data_len);
}

/* ------------------------------------------------------------------ */
/* presets                                                              */

/* Installs filter f on a preset subscription: acquire, file the new entry,
 * then drop the old (so a failure leaves the old one intact). */
static int refilter(struct tp_push *hub, struct sub *sub,
		    const struct tp_filter *f)
{
	struct tp_cfilter *cf;
	struct tp_subentry *entry;

	if (tp_fcache_acquire(hub->fc, f, &cf) != TP_OK)
		return TP_ERR_NOMEM;
	if (cf == sub->cf) { /* same canonical filter: nothing moves */
		tp_fcache_release(hub->fc, cf);
		return TP_OK;
	}
	if (tp_subindex_add(hub->ix, cf, sub, &entry) != TP_OK) {
		tp_fcache_release(hub->fc, cf);
		return TP_ERR_NOMEM;
	}
	tp_subindex_remove(hub->ix, sub->entry);
	tp_fcache_release(hub->fc, sub->cf);
	sub->entry = entry;
	sub->cf = cf;
	return TP_OK;
}

void tp_push_preset_changed(struct tp_push *hub, long long user_id,
			    long long preset_id, const struct tp_filter *filter)
{
	char msg[64];

	if (!hub || user_id <= 0 || preset_id == 0)
		return;
	snprintf(msg, sizeof(msg), "preset %lld was deleted", preset_id);
	for (struct tp_push_session *s = hub->sessions; s; s = s->next) {
		size_t i = 0;

		if (s->user != user_id)
			continue;
		while (i < s->n_subs) {
			struct sub *sub = s->subs[i];
			char id[TP_SUB_ID_MAX + 1];

			if (sub->channel != TP_SUBCH_PATTERNS ||
			    sub->preset_id != preset_id) {
				i++;
				continue;
			}
			if (filter) {
				/* Could not follow the change: the session
				 * would see the old filter, so it goes (and
				 * resumes) instead. */
				if (refilter(hub, sub, filter) != TP_OK)
					mark_slow(s);
				i++;
				continue;
			}
			snprintf(id, sizeof(id), "%s", sub->id);
			sub_remove_at(s, i);
			tp_buf_reset(&hub->frame);
			tp_proto_error(&hub->frame, id, TP_CODE_NOT_FOUND, msg);
			deliver(s, "error", 0);
		}
	}
}

struct preset_pair {
	long long user, preset;
};

void tp_push_foreach_preset(struct tp_push *hub, long long user_id,
			    tp_push_preset_cb *cb, void *ud)
{
	struct preset_pair *pairs = NULL;
	size_t n = 0, cap = 0;

	if (!hub || !cb)
		return;
	/* Collect the distinct pairs first: cb may change or end the very
	 * subscriptions being walked. */
	for (struct tp_push_session *s = hub->sessions; s; s = s->next) {
		if (user_id > 0 && s->user != user_id)
			continue;
		for (size_t i = 0; i < s->n_subs; i++) {
			const struct sub *sub = s->subs[i];
			size_t j;

			if (sub->channel != TP_SUBCH_PATTERNS || !sub->preset_id)
				continue;
			for (j = 0; j < n; j++)
				if (pairs[j].user == s->user &&
				    pairs[j].preset == sub->preset_id)
					break;
			if (j < n)
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				struct preset_pair *np =
					tp_realloc(pairs, ncap * sizeof(*np));

				if (!np)
					goto nomem;
				pairs = np;
				cap = ncap;
			}
			pairs[n].user = s->user;
			pairs[n].preset = sub->preset_id;
			n++;
		}
	}
	for (size_t j = 0; j < n; j++)
		cb(pairs[j].user, pairs[j].preset, ud);
	tp_free(pairs);
	return;
nomem:
	/* Out of memory for the list: visit each occurrence instead
	 * (duplicates are harmless, a missed preset is not). The walk
	 * tolerates cb ending the visited subscription. */
	tp_free(pairs);
	for (struct tp_push_session *s = hub->sessions; s; s = s->next) {
		size_t i = 0;

		if (user_id > 0 && s->user != user_id)
			continue;
		while (i < s->n_subs) {
			const struct sub *sub = s->subs[i];

			if (sub->channel == TP_SUBCH_PATTERNS && sub->preset_id)
				cb(s->user, sub->preset_id, ud);
			if (i < s->n_subs && s->subs[i] == sub)
				i++;
		}
	}
}

/* ------------------------------------------------------------------ */
/* replay for the plain-HTTP transports                                 */

bool tp_push_replay(struct tp_push *hub, const char *epoch, uint64_t since_seq,
		    const struct tp_filter *filter, long long user_id,
		    unsigned channels, tp_push_replay_cb *cb, void *ud)
{
	size_t first, n;

	if (!hub || !epoch || strcmp(epoch, hub->epoch) != 0)
		return false;
	if (!tp_history_resume(hub->hist, since_seq, &first))
		return future_ok(hub, since_seq); /* nothing to replay yet */
	n = tp_history_count(hub->hist);
	for (size_t i = first; i < n; i++) {
		const struct tp_hist_entry *e = tp_history_at(hub->hist, i);
		bool want = false;

		for (unsigned ch = TP_SUBCH_PATTERNS; ch <= TP_SUBCH_HEALTH; ch++)
			if ((channels & (1u << ch)) &&
			    entry_matches(e, (enum tp_sub_channel)ch, filter,
					  user_id))
				want = true;
		if (!want)
			continue;
		render_entry(hub, e, NULL, 0);
		if (hub->frame.oom)
			return false; /* the caller must not skip it silently */
		if (cb)
			cb(tp_hist_kind_name(e->kind), e->seq,
			   tp_buf_data(&hub->frame), hub->frame.len, ud);
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* a new history                                                        */

/* A gap at the current position to every live subscription. */
static void gap_all(struct tp_push *hub)
{
	for (struct tp_push_session *s = hub->sessions; s; s = s->next) {
		for (size_t i = 0; i < s->n_subs; i++) {
			s->subs[i]->after = 0;
			tp_buf_reset(&hub->frame);
			tp_proto_gap(&hub->frame, s->subs[i]->id, hub->epoch,
				     hub->last_seq);
			deliver(s, "gap", 0);
		}
	}
}

void tp_push_lost(struct tp_push *hub, uint64_t seq)
{
	if (!hub)
		return;
	tp_history_lose(hub->hist, seq);
	if (seq > hub->last_seq)
		hub->last_seq = seq;
	gap_all(hub);
}

int tp_push_new_epoch(struct tp_push *hub, const char *epoch)
{
	struct tp_history *h;

	if (!hub || !epoch)
		return TP_ERR_INVAL;
	h = tp_history_create(hub->history_events, hub->history_seconds);
	if (!h)
		return TP_ERR_NOMEM;
	tp_history_destroy(hub->hist);
	hub->hist = h;
	snprintf(hub->epoch, sizeof(hub->epoch), "%s", epoch);
	hub->last_seq = 0;
	/* Every live subscription lost whatever the old history held that it
	 * had not seen: a gap at position 0 of the new epoch. */
	gap_all(hub);
	return TP_OK;
}

/* ------------------------------------------------------------------ */
/* stats                                                                */

void tp_push_get_stats(const struct tp_push *hub, struct tp_push_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!hub)
		return;
	out->sessions = hub->n_sessions;
	out->subscriptions = hub->n_subs;
	out->distinct_filters = tp_fcache_size(hub->fc);
	out->history = tp_history_count(hub->hist);
	out->frames = hub->frames;
	out->slow_sessions = hub->slow_sessions;
}

uint64_t tp_push_last_seq(const struct tp_push *hub)
{
	return hub ? hub->last_seq : 0;
}

const char *tp_push_epoch(const struct tp_push *hub)
{
	return hub ? hub->epoch : "";
}
