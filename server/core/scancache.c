/*
 * scancache.c - a scan through the response cache (scancache.h).
 *
 * Moved out of io/api_patterns.c (scan_render) unchanged in behaviour: the
 * handler measures and renders, this decides hit or miss and renders the
 * rows.
 *
 * The memo (respcache.h): a hit renders its rows and pagination and keeps
 * those bytes with the entry, for as long as no row's "time" or "exp"
 * changes. Both are whole counts of a unit (render.c: age in s/m/h/d,
 * time left in m/h/d), monotone in the clock: so if every row renders the
 * same times at the start and at the end of an interval, it does at every
 * instant between. memo_window guesses the end from the units, less a
 * millisecond, and then checks it that way; the interval starts at the
 * rendering (a clock that steps back leaves it). Everything else the bytes
 * depend on is fixed while the entry lives (the store drops entries whose
 * rows change or leave), so a hit within the interval copies the memo:
 * the bytes a fresh rendering would give, without resolving 30 ids and
 * rendering 30 rows.
 */
#include <math.h>
#include <string.h>

#include "tickpush/buf.h"
#include "tickpush/render.h"
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

/* A millisecond before a row's times change: the guess never ends where
 * rounding could already render the next value. */
#define MEMO_MARGIN 1e-3

/* The unit render.c counts s seconds of age (age) or time left in. */
static double unit_of(double s, bool age)
{
	if (age && s < 60)
		return 1;
	if (s < 3600)
		return 60;
	return s < 86400 ? 3600 : 86400;
}

/* The guess: the next whole unit of p's age, the start of the current
 * unit of its time left (at its end the row is expired and swept). */
static double times_until(const struct tp_pattern *p, double now)
{
	double age = now - p->detected_at, left = p->expires_at - now;
	double u, until, e;

	if (!(age > 0)) {
		until = p->detected_at + 1; /* "0s" until a second old */
	} else {
		u = unit_of(age, true);
		until = p->detected_at + (floor(age / u) + 1) * u;
	}
	if (left > 0) {
		u = unit_of(left, false);
		e = p->expires_at - floor(left / u) * u;
		until = e < until ? e : until;
	}
	return until - MEMO_MARGIN;
}

/* The interval [now, *until] over which rows render the same times, or
 * false (then no memo). Renders each row's times at both ends. */
static bool memo_window(const struct tp_pattern *const *rows, size_t n,
			double now, double *until)
{
	struct tp_buf t0, t1;
	double end = INFINITY;
	bool same;

	for (size_t i = 0; i < n; i++) {
		double u = times_until(rows[i], now);

		end = u < end ? u : end;
	}
	if (!(end >= now) || isinf(end))
		return false;
	tp_buf_init(&t0, 0);
	tp_buf_init(&t1, 0);
	for (size_t i = 0; i < n; i++) {
		tp_render_row_times(&t0, rows[i], now);
		tp_render_row_times(&t1, rows[i], end);
	}
	same = !t0.oom && !t1.oom && t0.len == t1.len &&
	       (!t0.len || !memcmp(tp_buf_data(&t0), tp_buf_data(&t1), t0.len));
	tp_buf_cleanup(&t0);
	tp_buf_cleanup(&t1);
	*until = end;
	return same;
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
	a->rc = rc;
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
	    (tp_respcache_memo_get(hit, now, &a->memo, &a->memo_len) ||
	     resolve_cached(ps, hit, now, a->hit_rows))) {
		a->cached = true;
		a->hit = hit;
		a->rows = a->memo ? NULL : a->hit_rows;
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
	/* The put below reads the rows' ids, rendering their parts. */
	tp_patterns_prefetch_rows(a->rows, a->n_rows);
	n_ids = a->n_rows < TP_SCANCACHE_ROWS ? a->n_rows : TP_SCANCACHE_ROWS;
	for (size_t i = 0; i < n_ids; i++)
		ids[i] = a->rows[i]->id;
	/* A failed put only costs a future miss. */
	tp_respcache_put(rc, tp_buf_cstr(&key), q, ids, n_ids, a->total, now);
	tp_buf_cleanup(&key);
	return TP_OK;
}

void tp_scancache_render(struct tp_scan_answer *a,
			 const struct tp_scan_query *q, double now,
			 struct tp_buf *b)
{
	size_t start = b->len;
	double until;

	if (a->memo) {
		tp_buf_append(b, a->memo, a->memo_len);
		return;
	}
	/* One allocation for the whole body (rows are ~400 bytes), not a
	 * doubling series of them. */
	tp_buf_reserve(b, 512 + a->n_rows * 512);
	tp_patterns_prefetch_rows(a->rows, a->n_rows);
	tp_buf_json_open(b, "patterns");
	tp_buf_putc(b, '[');
	for (size_t i = 0; i < a->n_rows; i++) {
		if (i)
			tp_buf_putc(b, ',');
		tp_patterns_render_row(a->rows[i], now, b);
	}
	tp_buf_putc(b, ']');
	tp_buf_json_key(b, "pagination", false);
	tp_buf_json_open(b, "page");
	tp_buf_json_uint(b, q->page);
	tp_buf_json_kv_uint(b, "per_page", q->per_page);
	tp_buf_json_kv_uint(b, "total", a->total);
	tp_buf_json_kv_uint(b, "pages", (a->total + q->per_page - 1) / q->per_page);
	tp_buf_puts(b, "},"); /* the caller's members follow (api_patterns.c) */
	if (a->hit && !b->oom && memo_window(a->rows, a->n_rows, now, &until))
		tp_respcache_memo_set(a->rc, a->hit, tp_buf_data(b) + start,
				      b->len - start, now, until);
}

void tp_scancache_done(struct tp_scan_answer *a)
{
	tp_scan_result_cleanup(&a->res);
}
