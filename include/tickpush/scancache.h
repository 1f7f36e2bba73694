/*
 * scancache.h - a scan answered through the response cache
 * (core/scancache.c): the one decision GET /api/patterns/scan makes
 * before rendering.
 *
 * Sweep the expired patterns at `now` (so store and cache are exact at
 * this instant), look the canonical query up in the response cache, use
 * the hit only when every cached id is still a live pattern, else drop
 * it, scan the store and cache the new answer (ids, not bytes: rows are
 * rendered at response time). Pure: time is passed in.
 *
 * tp_scancache_render writes what of the answer depends only on the
 * query, the rows and the clock (the rows and the pagination). A cache
 * hit keeps that rendering as the entry's memo, with the interval over
 * which every row's "time" and "exp" stay as rendered, and the hits in
 * that interval copy it instead of rendering 30 rows: the same bytes.
 */
#ifndef TICKPUSH_SCANCACHE_H
#define TICKPUSH_SCANCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "tickpush/ingest.h"
#include "tickpush/patterns.h"
#include "tickpush/query.h"

struct tp_buf;
struct tp_respcache;
struct tp_respcache_entry;

#define TP_SCANCACHE_ROWS 100 /* the largest page (per_page) */

struct tp_scan_answer {
	const struct tp_pattern **rows; /* n_rows rows of the page, borrowed */
	size_t n_rows;
	size_t total;                   /* matches over all pages */
	bool cached;                    /* from the response cache */
	/* private */
	struct tp_respcache *rc;
	const struct tp_respcache_entry *hit; /* the cache's entry, if cached */
	const char *memo;               /* its memo (rows NULL then) */
	size_t memo_len;
	const struct tp_pattern *hit_rows[TP_SCANCACHE_ROWS];
	struct tp_scan_result res;
};

/* Answers q at now into a (rows valid until the store changes). TP_OK or
 * TP_ERR_NOMEM; call tp_scancache_done(a) either way. */
int tp_scancache_answer(struct tp_ingest *ing, const struct tp_scan_query *q,
			double now, struct tp_scan_answer *a);
/* Appends {"patterns":[rows...],"pagination":{...}, for a (answered for
 * q at now) to b: the memo when it holds, else rendered, and kept as the
 * memo if a came from the cache. */
void tp_scancache_render(struct tp_scan_answer *a,
			 const struct tp_scan_query *q, double now,
			 struct tp_buf *b);
void tp_scancache_done(struct tp_scan_answer *a);

#endif
