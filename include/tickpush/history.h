/*
 * history.h - the seq-numbered ring of recent events used for resume
 * (server/core/history.c).
 *
 * Every event the server ingests gets the next seq (tp_ingest_stats) and is
 * appended here with what a replay needs: the pattern record (to evaluate a
 * subscription's filter again), or the backtest owner, and the rendered
 * data (row or data object) exactly as it was pushed live. Bounded by count
 * and age; the oldest entries go first. Pure: the clock is passed in.
 */
#ifndef TICKPUSH_HISTORY_H
#define TICKPUSH_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tickpush/event.h"

enum tp_hist_kind {
	TP_HIST_PATTERN = 0,       /* a new or updated pattern: data = row */
	TP_HIST_PATTERN_REMOVED,   /* expired or withdrawn: pattern.id */
	TP_HIST_BACKTEST_PROGRESS, /* data = data object, owner set */
	TP_HIST_BACKTEST_RESULT,
	TP_HIST_HEALTH,            /* data = data object */
};
/* Wire type name: "pattern", "pattern_removed", "backtest_progress", ... */
const char *tp_hist_kind_name(enum tp_hist_kind k);

struct tp_hist_entry {
	uint64_t seq;
	double time;               /* when it was ingested */
	enum tp_hist_kind kind;
	struct tp_pattern pattern; /* pattern kinds: a deep copy */
	char *data;                /* owned JSON (row or data object), may be NULL for removals */
	size_t data_len;
	long long owner;           /* backtests: owning user id, 0 unknown */
	char job_id[TP_JOB_ID_MAX + 1];
};

struct tp_history;

struct tp_history *tp_history_create(size_t max_events, double max_age);
void tp_history_destroy(struct tp_history *h); /* NULL-safe */

/* Appends a deep copy of e (seq must be greater than the last one).
 * Drops the oldest entries beyond max_events, and those older than
 * max_age relative to e->time. TP_OK / TP_ERR_NOMEM / TP_ERR_INVAL. */
int tp_history_append(struct tp_history *h, const struct tp_hist_entry *e);
/* Everything up to seq is lost for replay (cluster mode: entries of the
 * shared stream were trimmed before this instance read them): drops every
 * entry; a since before seq is then a gap. */
void tp_history_lose(struct tp_history *h, uint64_t seq);
/* Drops entries older than now - max_age. */
void tp_history_trim(struct tp_history *h, double now);

/* Can a client that has seen everything up to since_seq resume? True when
 * every entry after since_seq is still held (since_seq >= the seq before
 * the oldest held entry, and <= the last seq). *first receives the index
 * (for tp_history_at) of the first entry after since_seq. */
bool tp_history_resume(const struct tp_history *h, uint64_t since_seq,
		       size_t *first);

size_t tp_history_count(const struct tp_history *h);
/* i-th entry from the oldest (0 <= i < count); borrowed until the next
 * append/trim. */
const struct tp_hist_entry *tp_history_at(const struct tp_history *h, size_t i);
/* Seq of the newest entry ever appended (0 = none). */
uint64_t tp_history_last_seq(const struct tp_history *h);

#endif
