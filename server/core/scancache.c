/*
 * scancache.c - a scan through the response cache (scancache.h).
 *
 * Moved out of io/api_patterns.c (scan_render) unchanged in behaviour: the
 * handler measures and renders, this decides hit or miss.
 */
#include <string.h>

#include "tickpush/buf.h"
#include "tickpush/respcache.h"
#include "tickpush/scancache.h"

/* Resolves cached ids to live rows; false if any is gone or expired. */
static bool resolve_cached(const struct tp_patterns *ps,
			   const struct tp_respcache_entry *e, double now,
			   const struct tp_pattern **rows)
{
	for (size_t i = 0; i < e->n_ids; i++) {
		rows[i] = tp_patterns_get(ps, e->ids[i]);
		if (!rows[i] || rows[i]->expires_at <= now)
			return false;
	}
	return true;
}

int tp_scancache_answer(struct tp_ingest *ing, const struct tp_scan_query *q,
			double now, struct tp_scan_answer *a)
{
	struct tp_patterns *ps = tp_ingest_patterns(ing);
	struct tp_respcache *rc = tp_ingest_respcache(ing);
	const struct tp_respcache_entry *hit;
	const char *ids[TP_SCANCACHE_ROWS];
	struct tp_buf key;
	size_t n_ids;

	memset(a, 0, sizeof(*a));
	/* Sweep first: O(expired), and it makes both the store and the
	 * response cache exact at this instant, not just at the last tick. */
	tp_ingest_expire(ing, now);
	tp_buf_init(&key, 0);
	tp_scan_query_canonical(q, &key);
	if (key.oom) {
		tp_buf_cleanup(&key);
		return TP_ERR_NOMEM;
	}
	hit = tp_respcache_get(rc, tp_buf_cstr(&key), now);
	if (hit && hit->n_ids <= TP_SCANCACHE_ROWS &&
	    resolve_cached(ps, hit, now, a->hit_rows)) {
		a->cached = true;
		a->rows = a->hit_rows;
		a->n_rows = hit->n_ids;
		a->total = hit->total;
		tp_buf_cleanup(&key);
		return TP_OK;
	}
	if (hit)
		tp_respcache_drop(rc, tp_buf_cstr(&key));
	if (tp_patterns_scan(ps, q, now, &a->res)) {
		tp_buf_cleanup(&key);
		return TP_ERR_NOMEM;
	}
	a->rows = a->res.rows;
	a->n_rows = a->res.n_rows;
	a->total = a->res.total;
	n_ids = a->n_rows < TP_SCANCACHE_ROWS ? a->n_rows : TP_SCANCACHE_ROWS;
	for (size_t i = 0; i < n_ids; i++)
		ids[i] = a->rows[i]->id;
	/* A failed put only costs a future miss. */
	tp_respcache_put(rc, tp_buf_cstr(&key), q, ids, n_ids, a->total, now);
	tp_buf_cleanup(&key);
	return TP_OK;
}

void tp_scancache_done(struct tp_scan_answer *a)
{
	tp_scan_result_cleanup(&a->res);
}
