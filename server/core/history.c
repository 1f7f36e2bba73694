/*
 * history.c - the seq-numbered ring of recent events (see history.h).
 *
 * Responsibilities: keep the last max_events entries (and none older than
 * max_age) with everything a resume needs, in seq order, and answer "can a
 * client that has seen up to seq N resume, and where does it start".
 *
 * Structure: a circular array. `head` is the slot of the oldest entry and
 * entries occupy head, head+1, ... (mod alloc) for `count` slots. The array
 * grows by doubling up to max_events, so an idle server does not hold the
 * full ring (10,000 entries of a few hundred bytes each); once it reaches
 * max_events it never moves again and appends overwrite the oldest slot.
 *
 * Invariants: seqs of held entries strictly increase from the oldest to the
 * newest (append rejects anything else), so the first entry after a seq is
 * found by binary search. `dropped_seq` is the highest seq that left the
 * history (trimmed by count or age, or lost because copying it failed);
 * because seqs may skip, "resumable" is "since_seq >= dropped_seq" and not
 * "since_seq >= oldest.seq - 1": a client at dropped_seq has seen
 * everything that is gone, and every held entry is after it.
 *
 * An append that fails for lack of memory still advances last_seq and
 * dropped_seq to the event's seq: the event is lost for replay, so a client
 * whose position is before it must get a gap rather than a silent hole.
 *
 * Ownership: every entry owns a deep copy of its pattern (indicators_json)
 * and of its data. tp_history_at returns borrowed entries, valid until the
 * next append or trim. Pure and single-threaded: the clock is passed in.
 */
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/err.h"
#include "tickpush/history.h"

struct tp_history {
	struct tp_hist_entry *ring;
	size_t alloc;        /* slots in ring (<= max_events) */
	size_t head;         /* slot of the oldest entry */
	size_t count;
	size_t max_events;
	double max_age;      /* <= 0: no age bound */
	uint64_t last_seq;   /* newest seq ever appended (or lost) */
	uint64_t dropped_seq; /* highest seq no longer held, 0 = none */
};

const char *tp_hist_kind_name(enum tp_hist_kind k)
{
	switch (k) {
	case TP_HIST_PATTERN: return "pattern";
	case TP_HIST_PATTERN_REMOVED: return "pattern_removed";
	case TP_HIST_BACKTEST_PROGRESS: return "backtest_progress";
	case TP_HIST_BACKTEST_RESULT: return "backtest_result";
	case TP_HIST_HEALTH: return "system_health";
	}
	return "unknown";
}

static bool kind_has_pattern(enum tp_hist_kind k)
{
	return k == TP_HIST_PATTERN || k == TP_HIST_PATTERN_REMOVED;
}

static void entry_cleanup(struct tp_hist_entry *e)
{
	tp_pattern_cleanup(&e->pattern);
	TP_FREE(e->data);
	e->data_len = 0;
}

static struct tp_hist_entry *slot(const struct tp_history *h, size_t i)
{
	return &h->ring[(h->head + i) % h->alloc];
}

struct tp_history *tp_history_create(size_t max_events, double max_age)
{
	struct tp_history *h = tp_calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->max_events = max_events;
	h->max_age = max_age;
	return h;
}

void tp_history_destroy(struct tp_history *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->count; i++)
		entry_cleanup(slot(h, i));
	tp_free(h->ring);
	tp_free(h);
}

static void drop_oldest(struct tp_history *h)
{
	struct tp_hist_entry *e = slot(h, 0);

	if (e->seq > h->dropped_seq)
		h->dropped_seq = e->seq;
	entry_cleanup(e);
	h->head = (h->head + 1) % h->alloc;
	h->count--;
}

/* Makes room for one more entry while below max_events: doubles the array
 * and unwraps the ring into it (head = 0). */
static int grow(struct tp_history *h)
{
	size_t n = h->alloc ? h->alloc * 2 : 16;
	struct tp_hist_entry *ring;

	if (n > h->max_events)
		n = h->max_events;
	ring = tp_calloc(n, sizeof(*ring));
	if (!ring)
		return TP_ERR_NOMEM;
	for (size_t i = 0; i < h->count; i++)
		ring[i] = *slot(h, i);
	tp_free(h->ring);
	h->ring = ring;
	h->alloc = n;
	h->head = 0;
	return TP_OK;
}

static void trim_before(struct tp_history *h, double now)
{
	if (h->max_age <= 0)
		return;
	while (h->count && slot(h, 0)->time < now - h->max_age)
		drop_oldest(h);
}

/* The event is lost for replay: make any position before it a gap. */
static void mark_lost(struct tp_history *h, uint64_t seq)
{
	h->last_seq = seq;
	h->dropped_seq = seq;
}

int tp_history_append(struct tp_history *h, const struct tp_hist_entry *e)
{
	struct tp_hist_entry copy;

	if (!h || !e || e->seq == 0 || e->seq <= h->last_seq ||
	    (unsigned)e->kind > (unsigned)TP_HIST_HEALTH)
		return TP_ERR_INVAL;
	if (h->max_events == 0) {
		mark_lost(h, e->seq); /* holds nothing: every seq is gone at once */
		return TP_OK;
	}

	memset(&copy, 0, sizeof(copy));
	copy.seq = e->seq;
	copy.time = e->time;
	copy.kind = e->kind;
	copy.owner = e->owner;
	memcpy(copy.job_id, e->job_id, sizeof(copy.job_id));
	copy.job_id[TP_JOB_ID_MAX] = '\0';
	if (kind_has_pattern(e->kind) &&
	    tp_pattern_copy(&copy.pattern, &e->pattern) != TP_OK)
		goto nomem;
	if (e->data) {
		copy.data = tp_malloc(e->data_len + 1);
		if (!copy.data)
			goto nomem;
		memcpy(copy.data, e->data, e->data_len);
		copy.data[e->data_len] = '\0';
		copy.data_len = e->data_len;
	}
	if (h->count == h->alloc && h->alloc < h->max_events &&
	    grow(h) != TP_OK)
		goto nomem;
	if (h->count == h->max_events)
		drop_oldest(h);

	*slot(h, h->count) = copy;
	h->count++;
	h->last_seq = e->seq;
	trim_before(h, e->time);
	return TP_OK;
nomem:
	entry_cleanup(&copy);
	mark_lost(h, e->seq);
	return TP_ERR_NOMEM;
}

void tp_history_lose(struct tp_history *h, uint64_t seq)
{
	if (!h)
		return;
	while (h->count)
		drop_oldest(h);
	if (seq > h->last_seq)
		mark_lost(h, seq);
}

void tp_history_trim(struct tp_history *h, double now)
{
	if (h)
		trim_before(h, now);
}

bool tp_history_resume(const struct tp_history *h, uint64_t since_seq,
		       size_t *first)
{
	size_t lo = 0, hi;

	if (!h || since_seq > h->last_seq || since_seq < h->dropped_seq)
		return false;
	/* First held entry with seq > since_seq (seqs strictly increase). */
	hi = h->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (slot(h, mid)->seq <= since_seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (first)
		*first = lo;
	return true;
}

size_t tp_history_count(const struct tp_history *h)
{
	return h ? h->count : 0;
}

const struct tp_hist_entry *tp_history_at(const struct tp_history *h, size_t i)
{
	if (!h || i >= h->count)
		return NULL;
	return slot(h, i);
}

uint64_t tp_history_last_seq(const struct tp_history *h)
{
	return h ? h->last_seq : 0;
}
