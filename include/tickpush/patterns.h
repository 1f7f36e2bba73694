/*
 * patterns.h - the in-process pattern store (server/core/patterns.c).
 *
 * Holds every unexpired pattern, keyed by id, indexed by symbol, by pattern
 * type (case-insensitive) and by confidence so a selective scan never walks
 * all patterns, and ordered by expiry so the sweep is O(expired). Bounded by
 * max_patterns: inserting into a full store evicts the oldest (smallest
 * detected_at) record. Pure: the clock is passed in.
 */
#ifndef TICKPUSH_PATTERNS_H
#define TICKPUSH_PATTERNS_H

#include <stddef.h>
#include <stdint.h>

#include "tickpush/event.h"
#include "tickpush/query.h"

struct tp_patterns;

enum tp_removal {
	TP_REMOVED_EXPIRED = 0,  /* expires_at passed (sweep) */
	TP_REMOVED_WITHDRAWN,    /* pattern_expired event */
	TP_REMOVED_EVICTED,      /* store full */
	TP_REMOVED_REPLACED,     /* same id upserted again (old record) */
};

/* Called for every record leaving the store, before it is freed; p is valid
 * only during the call. Runs synchronously inside the mutating call. */
typedef void tp_patterns_removed_cb(const struct tp_pattern *p,
				    enum tp_removal why, void *ud);

struct tp_patterns_opts {
	size_t max_patterns;             /* > 0 */
	tp_patterns_removed_cb *on_removed; /* may be NULL */
	void *ud;
};

struct tp_patterns *tp_patterns_create(const struct tp_patterns_opts *o);
void tp_patterns_destroy(struct tp_patterns *ps); /* NULL-safe, no callbacks */

/* Inserts or replaces (same id) a deep copy of p. A record whose expires_at
 * <= now is not stored (returns TP_ERR_INVAL). Returns TP_OK or
 * TP_ERR_NOMEM (store unchanged). */
int tp_patterns_upsert(struct tp_patterns *ps, const struct tp_pattern *p,
		       double now);
/* Removes the record with this id (TP_REMOVED_WITHDRAWN); TP_ERR_NOTFOUND
 * if absent. */
int tp_patterns_remove(struct tp_patterns *ps, const char *id);
/* Removes every record with expires_at <= now; returns how many. */
size_t tp_patterns_expire(struct tp_patterns *ps, double now);
/* Earliest expires_at in the store, or 0 when empty (timer scheduling). */
double tp_patterns_next_expiry(const struct tp_patterns *ps);

/* Borrowed; valid until the next mutation. */
const struct tp_pattern *tp_patterns_get(const struct tp_patterns *ps,
					 const char *id);
size_t tp_patterns_count(const struct tp_patterns *ps);
/* Totals since creation. */
uint64_t tp_patterns_evictions(const struct tp_patterns *ps);
uint64_t tp_patterns_expired_total(const struct tp_patterns *ps);

/* Appends the scan row of a record (a pointer the store returned) at time
 * now: the same bytes as tp_render_row, from parts rendered at insert. */
struct tp_buf;
void tp_patterns_render_row(const struct tp_pattern *stored, double now,
			    struct tp_buf *b);
/* Asks the CPU for what rendering rows[0..n) reads (records and their
 * rendered parts), all at once: after a scan they are cold, and waiting
 * for them one row at a time was most of rendering a page. A hint only. */
void tp_patterns_prefetch_rows(const struct tp_pattern *const *rows, size_t n);

/* Visits every record (unspecified order). */
typedef void tp_patterns_visit_cb(const struct tp_pattern *p, void *ud);
void tp_patterns_foreach(const struct tp_patterns *ps, tp_patterns_visit_cb *cb,
			 void *ud);

/* Re-tags every record's sector (used when the symbol directory loads or
 * changes). The caller must drop cached scan results that filter by
 * sector afterwards. sector_of returns NULL for an unknown symbol. */
typedef const char *tp_patterns_sector_cb(const char *symbol, void *ud);
void tp_patterns_update_sectors(struct tp_patterns *ps,
				tp_patterns_sector_cb *sector_of, void *ud);

/* One page of a scan: rows are borrowed (valid until the next mutation),
 * total counts every match. */
struct tp_scan_result {
	const struct tp_pattern **rows;
	size_t n_rows;
	size_t total;
	size_t examined; /* candidates looked at (tests check index use) */
};

/* Runs q against the store at time now: filter, skip expired
 * (expires_at <= now), sort by q->sort_by/ascending with ties broken by
 * detected_at desc then id asc, then page. out->rows is allocated
 * (tp_scan_result_cleanup). Returns TP_OK or TP_ERR_NOMEM. */
int tp_patterns_scan(const struct tp_patterns *ps,
		     const struct tp_scan_query *q, double now,
		     struct tp_scan_result *out);
void tp_scan_result_cleanup(struct tp_scan_result *r);

#endif
