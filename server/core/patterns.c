/*
 * patterns.c - the in-process pattern store (see patterns.h).
 *
 * Responsibilities: hold one deep copy per pattern id, find the records a
 * scan filter can match without walking the whole store, expire records in
 * expires_at order, evict the oldest (smallest detected_at) record when the
 * store is full, and answer the paged, sorted scan of /api/patterns/scan.
 *
 * Layout. Every record ("struct rec") is one allocation that embeds the
 * public struct tp_pattern first (so &rec->p is what callers borrow) and the
 * links of every index it belongs to:
 *   - ids:    tp_dict id -> rec.
 *   - bysym:  tp_dict symbol -> struct list (intrusive doubly-linked list).
 *   - bytype: tp_dict lower-cased pattern type -> struct list.
 *   - conf:   101 lists, bucket floor(confidence * 100).
 *   - two binary min-heaps of rec pointers, one keyed by expires_at (the
 *     sweep), one by detected_at (eviction); each record stores its slot in
 *     both, so removal from a heap is O(log n).
 * Removing a record therefore costs O(1) for the lists and O(log n) for the
 * heaps. Like Redis pubsub, a symbol or type list is deleted from its dict
 * when its last record leaves, so a stream of one-off symbols cannot grow
 * the dicts without bound.
 *
 * Invariants: every record is in exactly one list of each kind, in both
 * heaps and in ids; list->n counts its members; heap slots are consistent
 * with rec->hidx. No list in bysym/bytype is empty between calls.
 *
 * Mutations are two-phase: every allocation an upsert needs (the record,
 * its indicators, heap room, the dict entries) happens first and is undone
 * on failure, so TP_ERR_NOMEM leaves the store exactly as it was; the
 * commit phase (linking, replacing, evicting) cannot fail.
 *
 * Scan: the candidate source is the smallest of (union of the filter's
 * symbol lists, union of its type lists, confidence buckets at or above
 * confidence_min), estimated from list sizes before any record is touched.
 * Every candidate goes through tp_filter_match (so the index only has to be
 * complete, never exact) and the expiry check. Of the m matches, the first
 * k = page*per_page in sort order are chosen with a quickselect (expected
 * O(m), whatever order the candidates come in; over a buffer of at most
 * 2k, see struct topk); a second quickselect splits off the rows before
 * the requested page and only the page's per_page rows are heap-sorted:
 * O(m + k + per_page log per_page), never a sort of all matches.
 *
 * The scan array ("hot"): per confidence bucket, one dense entry per
 * record with what filtering and sorting read (confidence, expiry, the
 * sort keys, rs/rvol/rsi, tier, the first bytes of symbol and id), kept in
 * step with the records (swap-remove, each record knows its slot). The
 * confidence source walks these arrays, not the bucket lists: sequential
 * reads instead of one cache miss per record, which was nearly all of an
 * uncached scan's time at 10,000 records. The record itself is read only
 * when the filter has lists (symbols, types, sectors) or when sort keys
 * tie on what the entry holds. Selection and sort work on a contiguous
 * copy of each match's keys as integers (struct cand), for the same
 * reason.
 *
 * Ownership: the store owns records and their indicators_json; scan rows
 * and tp_patterns_get results are borrowed until the next mutation.
 * Single-threaded, like the rest of the server. Pure: the clock is passed in.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/ascii.h"
#include "tickpush/buf.h"
#include "tickpush/dict.h"
#include "tickpush/err.h"
#include "tickpush/filter.h"
#include "tickpush/patterns.h"
#include "tickpush/render.h"

#define CONF_BUCKETS 101

enum { L_SYM = 0, L_TYPE, L_CONF, L__COUNT };
enum { H_EXP = 0, H_AGE, H__COUNT };

struct rec;

struct list {
	struct rec *first;
	size_t n;
};

struct link {
	struct rec *prev, *next;
	struct list *owner;
};

struct rec {
	struct tp_pattern p; /* first: callers borrow &rec->p */
	char type_key[TP_PATTERN_TYPE_MAX + 1]; /* lower-cased pattern_type */
	/* The scan row minus "time"/"exp", rendered once at insert: a scan
	 * answer is then mostly byte copies (tp_patterns_render_row). */
	char *row_head, *row_tail;
	size_t row_head_len, row_tail_len;
	struct link ln[L__COUNT];
	size_t hidx[H__COUNT];
	size_t hot;              /* slot in its confidence bucket's hot array */
};

/* A record's entry in the scan array (see the top). */
struct hot {
	struct rec *r;
	double conf, exp, det, rs, rvol, rsi;
	/* The first bytes of symbol and id, big-endian, 0-padded: compared
	 * as integers they order like strcmp (ties on the sort key and
	 * detected_at are common, and would read two records each). */
	uint64_t sym8, id_hi, id_lo;
	unsigned tier_bit;  /* TP_TIER_BIT(tier) */
};

struct heap {
	struct rec **a;
	size_t n, cap;
};

struct tp_patterns {
	struct tp_patterns_opts opts;
	struct tp_dict *ids;
	struct tp_dict *bysym;
	struct tp_dict *bytype;
	struct list conf[CONF_BUCKETS];
	struct heap heap[H__COUNT];
	struct hotv {
		struct hot *a;
		size_t n, cap;
	} hot[CONF_BUCKETS]; /* the scan array, by confidence bucket */
	size_t count;
	uint64_t evictions;
	uint64_t expired;
};

/* ---- helpers ---------------------------------------------------------- */

static int cmp_dbl(double a, double b)
{
	return (a > b) - (a < b);
}

/* Lower-cases s into dst (size TP_PATTERN_TYPE_MAX + 1); false if s is too
 * long to be any record's pattern type. */
static bool type_key(char *dst, const char *s)
{
	return tp_ascii_lower_into(dst, TP_PATTERN_TYPE_MAX + 1, s) <=
	       TP_PATTERN_TYPE_MAX;
}

/* Monotone in c, so conf >= min implies bucket(conf) >= bucket(min). */
static size_t conf_bucket(double c)
{
	double b;

	if (!(c > 0)) /* also NaN */
		return 0;
	b = floor(c * 100.0);
	if (b >= CONF_BUCKETS - 1)
		return CONF_BUCKETS - 1;
	return (size_t)b;
}

static void rec_free(struct rec *r)
{
	if (!r)
		return;
	tp_free(r->p.indicators_json);
	tp_free(r->row_head);
	tp_free(r->row_tail);
	tp_free(r);
}

static int rec_render(struct rec *r)
{
	struct tp_buf b;

	tp_buf_init(&b, 0);
	tp_render_row_head(&b, &r->p);
	if (b.oom || !(r->row_head = tp_memdup(tp_buf_data(&b), b.len)))
		goto fail;
	r->row_head_len = b.len;
	tp_buf_reset(&b);
	tp_render_row_tail(&b, &r->p);
	if (b.oom || !(r->row_tail = tp_memdup(tp_buf_data(&b), b.len)))
		goto fail;
	r->row_tail_len = b.len;
	tp_buf_cleanup(&b);
	return TP_OK;
fail:
	tp_buf_cleanup(&b);
	return TP_ERR_NOMEM;
}

void tp_patterns_render_row(const struct tp_pattern *stored, double now,
			    struct tp_buf *b)
{
	const struct rec *r = (const struct rec *)stored;

	tp_buf_append(b, r->row_head, r->row_head_len);
	tp_render_row_times(b, stored, now);
	tp_buf_append(b, r->row_tail, r->row_tail_len);
}

/* ---- intrusive lists -------------------------------------------------- */

/* A CPU hint (GCC and Clang); no effect on what any code computes. */
#define PREFETCH(p) __builtin_prefetch(p)

void tp_patterns_prefetch_rows(const struct tp_pattern *const *rows, size_t n)
{
	/* The records first (the parts' pointers, the times, the id), so
	 * that reading the pointers below mostly hits. */
	for (size_t i = 0; i < n; i++) {
		const struct rec *r = (const struct rec *)rows[i];

		PREFETCH(r->p.id);
		PREFETCH(&r->p.detected_at);
		PREFETCH(&r->row_head);
	}
	for (size_t i = 0; i < n; i++) {
		const struct rec *r = (const struct rec *)rows[i];

		for (size_t o = 0; o < r->row_head_len; o += 64)
			PREFETCH(r->row_head + o);
		for (size_t o = 0; o < r->row_tail_len; o += 64)
			PREFETCH(r->row_tail + o);
	}
}

static void list_push(struct list *l, struct rec *r, int k)
{
	r->ln[k].owner = l;
	r->ln[k].prev = NULL;
	r->ln[k].next = l->first;
	if (l->first)
		l->first->ln[k].prev = r;
	l->first = r;
	l->n++;
}

static void list_unlink(struct rec *r, int k)
{
	struct link *ln = &r->ln[k];

	if (ln->prev)
		ln->prev->ln[k].next = ln->next;
	else
		ln->owner->first = ln->next;
	if (ln->next)
		ln->next->ln[k].prev = ln->prev;
	ln->owner->n--;
	ln->prev = ln->next = NULL;
}

/* Unlinks r from a dict-held list and drops the list once empty. */
static void keyed_unlink(struct tp_dict *d, struct rec *r, int k,
			 const char *key)
{
	struct list *l = r->ln[k].owner;

	list_unlink(r, k);
	if (!l->n) {
		tp_dict_del(d, key);
		tp_free(l);
	}
	r->ln[k].owner = NULL;
}

/* Returns the list for key, creating (and registering) an empty one if
 * needed; *created tells the caller to undo it on a later failure. */
static struct list *keyed_get(struct tp_dict *d, const char *key,
			      bool *created)
{
	struct list *l = tp_dict_get(d, key);

	*created = false;
	if (l)
		return l;
	l = tp_calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	if (tp_dict_set(d, key, l, NULL) != TP_OK) {
		tp_free(l);
		return NULL;
	}
	*created = true;
	return l;
}

static void keyed_undo(struct tp_dict *d, const char *key, struct list *l,
		       bool created)
{
	if (created && l && !l->n) {
		tp_dict_del(d, key);
		tp_free(l);
	}
}

/* ---- heaps (expires_at, detected_at) ---------------------------------- */

static bool heap_less(int k, const struct rec *a, const struct rec *b)
{
	int c = k == H_EXP ? cmp_dbl(a->p.expires_at, b->p.expires_at)
			   : cmp_dbl(a->p.detected_at, b->p.detected_at);

	if (c)
		return c < 0;
	return strcmp(a->p.id, b->p.id) < 0; /* deterministic order on ties */
}

static void heap_set(struct heap *h, int k, size_t i, struct rec *r)
{
	h->a[i] = r;
	r->hidx[k] = i;
}

static void heap_up(struct heap *h, int k, size_t i)
{
	struct rec *r = h->a[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!heap_less(k, r, h->a[parent]))
			break;
		heap_set(h, k, i, h->a[parent]);
		i = parent;
	}
	heap_set(h, k, i, r);
}

static void heap_down(struct heap *h, int k, size_t i)
{
	struct rec *r = h->a[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && heap_less(k, h->a[c + 1], h->a[c]))
			c++;
		if (!heap_less(k, h->a[c], r))
			break;
		heap_set(h, k, i, h->a[c]);
		i = c;
	}
	heap_set(h, k, i, r);
}

/* Grows the array *a of *cap elements of `size` bytes to hold want. */
static int grow(void **a, size_t *cap, size_t want, size_t size)
{
	size_t c;
	void *n;

	if (want <= *cap)
		return TP_OK;
	c = *cap ? *cap * 2 : 64;
	while (c < want)
		c *= 2;
	n = tp_realloc(*a, c * size);
	if (!n)
		return TP_ERR_NOMEM;
	*a = n;
	*cap = c;
	return TP_OK;
}

static int heap_reserve(struct heap *h, size_t want)
{
	void *a = h->a;
	int rc = grow(&a, &h->cap, want, sizeof(*h->a));

	h->a = a;
	return rc;
}

/* Room must have been reserved. */
static void heap_push(struct heap *h, int k, struct rec *r)
{
	TP_ASSERT(h->n < h->cap);
	heap_set(h, k, h->n++, r);
	heap_up(h, k, h->n - 1);
}

static void heap_remove(struct heap *h, int k, struct rec *r)
{
	size_t i = r->hidx[k];
	struct rec *last;

	TP_ASSERT(i < h->n && h->a[i] == r);
	last = h->a[--h->n];
	if (last == r)
		return;
	heap_set(h, k, i, last);
	heap_up(h, k, i);
	heap_down(h, k, last->hidx[k]);
}

/* ---- the scan array ---------------------------------------------------- */

/* Room for one more entry in the bucket of confidence c. */
static int hot_reserve(struct tp_patterns *ps, double c)
{
	struct hotv *v = &ps->hot[conf_bucket(c)];
	void *a = v->a;
	int rc = grow(&a, &v->cap, v->n + 1, sizeof(*v->a));

	v->a = a;
	return rc;
}

static struct hot *hot_of(const struct tp_patterns *ps, const struct rec *r)
{
	return &ps->hot[conf_bucket(r->p.confidence)].a[r->hot];
}

/* s[0..8) big-endian, 0 after the first NUL; *end once s ended there. */
static uint64_t pack8(const char *s, bool *end)
{
	uint64_t v = 0;

	for (size_t i = 0; i < 8; i++) {
		v = v << 8 | (unsigned char)s[i];
		if (!s[i]) {
			*end = true;
			return v << 8 * (7 - i);
		}
	}
	return v;
}

/* Room must have been reserved (hot_reserve). */
static void hot_add(struct tp_patterns *ps, struct rec *r)
{
	struct hotv *v = &ps->hot[conf_bucket(r->p.confidence)];
	struct hot *e = &v->a[v->n];
	bool sym_end = false, id_end = false;
	uint64_t id_hi = pack8(r->p.id, &id_end);

	*e = (struct hot){ .r = r, .conf = r->p.confidence,
		.exp = r->p.expires_at, .det = r->p.detected_at, .rs = r->p.rs,
		.rvol = r->p.rvol, .rsi = r->p.rsi,
		.sym8 = pack8(r->p.symbol, &sym_end), .id_hi = id_hi,
		.id_lo = id_end ? 0 : pack8(r->p.id + 8, &id_end),
		.tier_bit = TP_TIER_BIT(r->p.tier) };
	r->hot = v->n++;
}

/* The bucket's last entry moves into r's slot. */
static void hot_del(struct tp_patterns *ps, struct rec *r)
{
	struct hotv *v = &ps->hot[conf_bucket(r->p.confidence)];
	struct hot *last = &v->a[--v->n];

	TP_ASSERT(v->a[r->hot].r == r);
	if (last->r != r) {
		v->a[r->hot] = *last;
		last->r->hot = r->hot;
	}
}

/* ---- create / destroy ------------------------------------------------- */

struct tp_patterns *tp_patterns_create(const struct tp_patterns_opts *o)
{
	struct tp_patterns *ps;

	if (!o || !o->max_patterns)
		return NULL;
	ps = tp_calloc(1, sizeof(*ps));
	if (!ps)
		return NULL;
	ps->opts = *o;
	ps->ids = tp_dict_create();
	ps->bysym = tp_dict_create();
	ps->bytype = tp_dict_create();
	if (!ps->ids || !ps->bysym || !ps->bytype)
		goto fail;
	return ps;
fail:
	tp_patterns_destroy(ps);
	return NULL;
}

static bool free_list_cb(const char *key, void *value, void *ud)
{
	(void)key;
	(void)ud;
	tp_free(value);
	return true;
}

void tp_patterns_destroy(struct tp_patterns *ps)
{
	if (!ps)
		return;
	for (size_t b = 0; b < CONF_BUCKETS; b++) {
		struct rec *r = ps->conf[b].first;

		while (r) {
			struct rec *next = r->ln[L_CONF].next;

			rec_free(r);
			r = next;
		}
	}
	if (ps->bysym)
		tp_dict_foreach(ps->bysym, free_list_cb, NULL);
	if (ps->bytype)
		tp_dict_foreach(ps->bytype, free_list_cb, NULL);
	tp_dict_destroy(ps->ids);
	tp_dict_destroy(ps->bysym);
	tp_dict_destroy(ps->bytype);
	for (int k = 0; k < H__COUNT; k++)
		tp_free(ps->heap[k].a);
	for (size_t b = 0; b < CONF_BUCKETS; b++)
		tp_free(ps->hot[b].a);
	tp_free(ps);
}

/* ---- mutation --------------------------------------------------------- */

/* Takes r out of every index, tells the owner, frees it. in_ids is false
 * when the id dict already points at a replacement. */
static void rec_remove(struct tp_patterns *ps, struct rec *r,
		       enum tp_removal why, bool in_ids)
{
	keyed_unlink(ps->bysym, r, L_SYM, r->p.symbol);
	keyed_unlink(ps->bytype, r, L_TYPE, r->type_key);
	list_unlink(r, L_CONF);
	for (int k = 0; k < H__COUNT; k++)
		heap_remove(&ps->heap[k], k, r);
	if (in_ids)
		tp_dict_del(ps->ids, r->p.id);
	hot_del(ps, r);
	ps->count--;
	if (ps->opts.on_removed)
		ps->opts.on_removed(&r->p, why, ps->opts.ud);
	rec_free(r);
}

int tp_patterns_upsert(struct tp_patterns *ps, const struct tp_pattern *p,
		       double now)
{
	struct rec *r = NULL, *old;
	struct list *ls = NULL, *lt = NULL;
	bool ls_new = false, lt_new = false;
	int rc = TP_ERR_NOMEM;

	if (!(p->expires_at > now)) /* also NaN */
		return TP_ERR_INVAL;
	r = tp_calloc(1, sizeof(*r));
	if (!r)
		return TP_ERR_NOMEM;
	if (tp_pattern_copy(&r->p, p) != TP_OK || rec_render(r) != TP_OK)
		goto fail;
	/* Cannot fail: pattern_type was NUL-terminated within its array. */
	(void)type_key(r->type_key, r->p.pattern_type);

	old = tp_dict_get(ps->ids, r->p.id);
	for (int k = 0; k < H__COUNT; k++)
		if (heap_reserve(&ps->heap[k], ps->count + 1) != TP_OK)
			goto fail;
	if (hot_reserve(ps, r->p.confidence) != TP_OK)
		goto fail;
	ls = keyed_get(ps->bysym, r->p.symbol, &ls_new);
	if (!ls)
		goto fail;
	lt = keyed_get(ps->bytype, r->type_key, &lt_new);
	if (!lt)
		goto fail;
	/* Replacing an existing key never allocates; a new key may fail. */
	if (tp_dict_set(ps->ids, r->p.id, r, NULL) != TP_OK)
		goto fail;

	/* Commit: nothing below can fail. Link first so a list shared with
	 * the record leaving is never emptied (and freed) under us. */
	list_push(ls, r, L_SYM);
	list_push(lt, r, L_TYPE);
	list_push(&ps->conf[conf_bucket(r->p.confidence)], r, L_CONF);
	ps->count++;
	hot_add(ps, r);
	if (old) {
		rec_remove(ps, old, TP_REMOVED_REPLACED, false);
	} else if (ps->count > ps->opts.max_patterns && ps->heap[H_AGE].n) {
		/* r is not in the heaps yet, so it cannot evict itself. */
		ps->evictions++;
		rec_remove(ps, ps->heap[H_AGE].a[0], TP_REMOVED_EVICTED, true);
	}
	for (int k = 0; k < H__COUNT; k++)
		heap_push(&ps->heap[k], k, r);
	return TP_OK;

fail:
	keyed_undo(ps->bytype, r->type_key, lt, lt_new);
	keyed_undo(ps->bysym, r->p.symbol, ls, ls_new);
	rec_free(r);
	return rc;
}

int tp_patterns_remove(struct tp_patterns *ps, const char *id)
{
	struct rec *r = tp_dict_get(ps->ids, id);

	if (!r)
		return TP_ERR_NOTFOUND;
	rec_remove(ps, r, TP_REMOVED_WITHDRAWN, true);
	return TP_OK;
}

size_t tp_patterns_expire(struct tp_patterns *ps, double now)
{
	struct heap *h = &ps->heap[H_EXP];
	size_t n = 0;

	while (h->n && h->a[0]->p.expires_at <= now) {
		ps->expired++;
		n++;
		rec_remove(ps, h->a[0], TP_REMOVED_EXPIRED, true);
	}
	return n;
}

double tp_patterns_next_expiry(const struct tp_patterns *ps)
{
	const struct heap *h = &ps->heap[H_EXP];

	return h->n ? h->a[0]->p.expires_at : 0;
}

/* ---- queries ---------------------------------------------------------- */

const struct tp_pattern *tp_patterns_get(const struct tp_patterns *ps,
					 const char *id)
{
	const struct rec *r = tp_dict_get(ps->ids, id);

	return r ? &r->p : NULL;
}

size_t tp_patterns_count(const struct tp_patterns *ps)
{
	return ps->count;
}

uint64_t tp_patterns_evictions(const struct tp_patterns *ps)
{
	return ps->evictions;
}

uint64_t tp_patterns_expired_total(const struct tp_patterns *ps)
{
	return ps->expired;
}

void tp_patterns_foreach(const struct tp_patterns *ps, tp_patterns_visit_cb *cb,
			 void *ud)
{
	for (size_t b = 0; b < CONF_BUCKETS; b++)
		for (const struct rec *r = ps->conf[b].first; r;
		     r = r->ln[L_CONF].next)
			cb(&r->p, ud);
}

void tp_patterns_update_sectors(struct tp_patterns *ps,
				tp_patterns_sector_cb *sector_of, void *ud)
{
	/* The sector is not indexed, so it can change in place. */
	for (size_t b = 0; b < CONF_BUCKETS; b++)
		for (struct rec *r = ps->conf[b].first; r; r = r->ln[L_CONF].next) {
			const char *sector = sector_of(r->p.symbol, ud);

			snprintf(r->p.sector, sizeof(r->p.sector), "%s",
				 sector ? sector : "");
		}
}

/* ---- scan ------------------------------------------------------------- */

struct order {
	enum tp_sort_key key;
	bool asc;
};

/* < 0 when a comes before b in the response. Ties: detected_at desc, then
 * id asc, whatever the direction, so paging is stable. Reads the records
 * only for symbols of 8+ bytes that share their first 8 and ids that
 * share their first 16. */
static int order_cmp(const struct order *o, const struct hot *a,
		     const struct hot *b)
{
	int c;

	switch (o->key) {
	case TP_SORT_DETECTED_AT:
		c = cmp_dbl(a->det, b->det);
		break;
	case TP_SORT_SYMBOL:
		c = (a->sym8 > b->sym8) - (a->sym8 < b->sym8);
		/* Equal prefixes that end in a NUL are the whole symbols. */
		if (!c && (a->sym8 & 0xff)) {
			c = strcmp(a->r->p.symbol, b->r->p.symbol);
			c = (c > 0) - (c < 0);
		}
		break;
	case TP_SORT_RS:
		c = cmp_dbl(a->rs, b->rs);
		break;
	case TP_SORT_VOLUME:
		c = cmp_dbl(a->rvol, b->rvol);
		break;
	case TP_SORT_CONFIDENCE:
	default:
		c = cmp_dbl(a->conf, b->conf);
		break;
	}
	if (c)
		return o->asc ? c : -c;
	c = cmp_dbl(b->det, a->det);
	if (c)
		return c;
	if (a->id_hi != b->id_hi)
		return a->id_hi < b->id_hi ? -1 : 1;
	if (a->id_lo != b->id_lo)
		return a->id_lo < b->id_lo ? -1 : 1;
	return strcmp(a->r->p.id, b->r->p.id);
}

/* A double as an integer of the same order (-0 as +0; no NaN is stored). */
static uint64_t ord_dbl(double x)
{
	uint64_t u;

	if (x == 0)
		x = 0;
	memcpy(&u, &x, sizeof(u));
	return u >> 63 ? ~u : u | (uint64_t)1 << 63;
}

/* A match as selection and sorting compare it: the sort key and
 * detected_at as integers in response order, the id's first bytes, and
 * the entry for whatever those leave undecided. Comparing is then a few
 * integer compares on contiguous memory. */
struct cand {
	uint64_t k1, k2, id_hi, id_lo;
	const struct hot *e;
};

/* The matches of a scan; finally the best k of them, in response order.
 * Once the buffer holds 2k, it is cut to its best k and the worst of
 * those becomes the bar: later matches not better than it are dropped
 * with one comparison, so a scan keeps at most 2k and selects over O(m)
 * in total. */
struct topk {
	struct cand *a;
	size_t n, cap, k;
	const struct order *o;
	struct cand bar;
	bool has_bar;
};

/* order_cmp in the terms of struct cand. */
/* Inlined: it is most of selection's time (measured: ~5 % of a scan). */
static inline __attribute__((always_inline))
int cand_cmp(const struct order *o, const struct cand *a, const struct cand *b)
{
	if (a->k1 != b->k1)
		return a->k1 < b->k1 ? -1 : 1;
	/* Symbols of 8+ bytes that share their first 8: strcmp decides. */
	if (o->key == TP_SORT_SYMBOL && (a->e->sym8 & 0xff))
		return order_cmp(o, a->e, b->e);
	if (a->k2 != b->k2)
		return a->k2 < b->k2 ? -1 : 1;
	if (a->id_hi != b->id_hi)
		return a->id_hi < b->id_hi ? -1 : 1;
	if (a->id_lo != b->id_lo)
		return a->id_lo < b->id_lo ? -1 : 1;
	return order_cmp(o, a->e, b->e);
}

static void topk_select(struct topk *t);

/* Cuts the buffer to its best k; their worst becomes the bar. */
static void topk_trim(struct topk *t)
{
	size_t worst = 0;

	topk_select(t);
	t->n = t->k;
	for (size_t i = 1; i < t->n; i++)
		if (cand_cmp(t->o, &t->a[i], &t->a[worst]) > 0)
			worst = i;
	t->bar = t->a[worst];
	t->has_bar = true;
}

static int topk_offer(struct topk *t, const struct hot *e)
{
	struct cand c;
	uint64_t k1;

	if (!t->k)
		return TP_OK; /* a page past the end: only the total counts */
	switch (t->o->key) {
	case TP_SORT_DETECTED_AT:
		k1 = ord_dbl(e->det);
		break;
	case TP_SORT_SYMBOL:
		k1 = e->sym8;
		break;
	case TP_SORT_RS:
		k1 = ord_dbl(e->rs);
		break;
	case TP_SORT_VOLUME:
		k1 = ord_dbl(e->rvol);
		break;
	case TP_SORT_CONFIDENCE:
	default:
		k1 = ord_dbl(e->conf);
		break;
	}
	k1 = t->o->asc ? k1 : ~k1;
	/* Most matches lose to the bar on the sort key alone. */
	if (t->has_bar && k1 > t->bar.k1)
		return TP_OK;
	c = (struct cand){ .k1 = k1, .k2 = ~ord_dbl(e->det),
		.id_hi = e->id_hi, .id_lo = e->id_lo, .e = e };
	if (t->has_bar && cand_cmp(t->o, &c, &t->bar) >= 0)
		return TP_OK; /* not better than the k-th kept */
	if (t->n == t->cap) {
		void *a = t->a;

		if (t->cap >= 2 * t->k) {
			topk_trim(t);
			if (cand_cmp(t->o, &c, &t->bar) >= 0)
				return TP_OK;
		} else if (grow(&a, &t->cap, t->n + 1, sizeof(*t->a)) != TP_OK) {
			return TP_ERR_NOMEM;
		}
		t->a = a;
	}
	t->a[t->n++] = c;
	return TP_OK;
}

static void swap_cand(struct cand *a, size_t i, size_t j)
{
	struct cand x = a[i];

	a[i] = a[j];
	a[j] = x;
}

/* Quickselect: afterwards a[0..k) are the k first of a[0..n) in response
 * order (unordered among themselves). Median-of-three pivots, so input
 * that is already in (or against) sort order, like records walked in
 * arrival order and sorted by detected_at, costs O(n), not O(n log k) as
 * a bounded heap did. No two entries compare equal (the id decides). */
static void select_first(const struct order *o, struct cand *a, size_t n,
			 size_t k)
{
	size_t lo = 0, hi = n;

	while (hi - lo > 2) {
		size_t mid = lo + (hi - lo) / 2, last = hi - 1, store = lo;

		/* Median of a[lo], a[mid], a[last] into a[last]. */
		if (cand_cmp(o, &a[mid], &a[lo]) < 0)
			swap_cand(a, mid, lo);
		if (cand_cmp(o, &a[last], &a[lo]) < 0)
			swap_cand(a, last, lo);
		if (cand_cmp(o, &a[mid], &a[last]) < 0)
			swap_cand(a, mid, last);
		for (size_t i = lo; i < last; i++)
			if (cand_cmp(o, &a[i], &a[last]) < 0)
				swap_cand(a, i, store++);
		swap_cand(a, store, last);
		if (store == k || store + 1 == k)
			return;
		if (store > k)
			hi = store;
		else
			lo = store + 1;
	}
	if (hi - lo == 2 && cand_cmp(o, &a[lo + 1], &a[lo]) < 0)
		swap_cand(a, lo, lo + 1);
}

static void topk_select(struct topk *t)
{
	select_first(t->o, t->a, t->n, t->k);
}

/* Max-heap in response order (a[0] the last row) over a[0..n). */
static void heap_down_cand(const struct order *o, struct cand *a, size_t i,
			   size_t n)
{
	struct cand x = a[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && cand_cmp(o, &a[c + 1], &a[c]) > 0)
			c++;
		if (cand_cmp(o, &a[c], &x) <= 0)
			break;
		a[i] = a[c];
		i = c;
	}
	a[i] = x;
}

/* Keeps the best k matches, then puts a[offset..k), the page, in response
 * order: a second selection splits off the rows before the page, and only
 * the page is heap-sorted (a deep page sorted all k before). */
static void topk_sort(struct topk *t, size_t offset)
{
	struct cand *pg;
	size_t n;

	if (t->n > t->k) {
		topk_select(t);
		t->n = t->k;
	}
	if (offset >= t->n)
		return;
	if (offset)
		select_first(t->o, t->a, t->n, offset);
	pg = t->a + offset;
	n = t->n - offset;
	for (size_t i = n / 2; i-- > 0;)
		heap_down_cand(t->o, pg, i, n);
	for (size_t m = n; m > 1; m--) {
		swap_cand(pg, 0, m - 1);
		heap_down_cand(t->o, pg, 0, m - 1);
	}
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(struct list *const *)a;
	uintptr_t y = (uintptr_t)*(struct list *const *)b;

	return (x > y) - (x < y);
}

/* Sum of list sizes for the filter's symbols (use_types false) or types. */
static size_t keyed_estimate(const struct tp_patterns *ps,
			     const struct tp_filter *f, bool use_types)
{
	char key[TP_PATTERN_TYPE_MAX + 1];
	size_t n = use_types ? f->n_pattern_types : f->n_symbols;
	size_t est = 0;

	for (size_t i = 0; i < n; i++) {
		const struct list *l;

		if (use_types) {
			if (!type_key(key, f->pattern_types[i]))
				continue;
			l = tp_dict_get(ps->bytype, key);
		} else {
			l = tp_dict_get(ps->bysym, f->symbols[i]);
		}
		if (l)
			est += l->n;
	}
	return est;
}

/* Collects the distinct lists of the chosen keyed source into *out. */
static int keyed_lists(const struct tp_patterns *ps, const struct tp_filter *f,
		       bool use_types, struct list ***out, size_t *nout)
{
	char key[TP_PATTERN_TYPE_MAX + 1];
	size_t n = use_types ? f->n_pattern_types : f->n_symbols;
	struct list **v;
	size_t m = 0, u = 0;

	*out = NULL;
	*nout = 0;
	v = tp_calloc(n, sizeof(*v));
	if (!v)
		return TP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		struct list *l;

		if (use_types) {
			if (!type_key(key, f->pattern_types[i]))
				continue;
			l = tp_dict_get(ps->bytype, key);
		} else {
			l = tp_dict_get(ps->bysym, f->symbols[i]);
		}
		if (l)
			v[m++] = l;
	}
	/* Case variants of one type (or a repeated key) share a list. */
	qsort(v, m, sizeof(*v), cmp_ptr);
	for (size_t i = 0; i < m; i++)
		if (!u || v[u - 1] != v[i])
			v[u++] = v[i];
	*out = v;
	*nout = u;
	return TP_OK;
}

static int visit(const struct tp_patterns *ps, const struct list *l, int k,
		 const struct tp_filter *f, double now, struct topk *t,
		 struct tp_scan_result *out)
{
	for (const struct rec *r = l->first; r; r = r->ln[k].next) {
		out->examined++;
		if (r->p.expires_at <= now || !tp_filter_match(f, &r->p))
			continue;
		out->total++;
		if (topk_offer(t, hot_of(ps, r)) != TP_OK)
			return TP_ERR_NOMEM;
	}
	return TP_OK;
}

/* tp_filter_match's tests of the values an entry holds, in the same
 * terms (protocol/filter.c; the randomised unit test compares the two). */
static bool hot_match(const struct tp_filter *f, const struct hot *e)
{
	if (e->conf < f->confidence_min)
		return false;
	if (e->rs < f->rs_min || e->rvol < f->vol_min)
		return false;
	if (e->rsi < f->rsi_min || e->rsi > f->rsi_max)
		return false;
	return !f->tier_mask || (f->tier_mask & e->tier_bit);
}

/* A confidence bucket's scan array; the record only when the filter has
 * lists. t NULL: the matches are only counted. */
static int visit_hot(const struct hotv *v, const struct tp_filter *f,
		     double now, struct topk *t, struct tp_scan_result *out)
{
	bool lists = f->n_symbols || f->n_pattern_types || f->n_sectors;
	bool back = false;

	/* Sorted by detected_at, walk from the end that comes first in the
	 * response (entries are appended as records arrive, so mostly in
	 * detected_at order): the first matches then set a bar that most
	 * later ones fail with one comparison, where walking against the
	 * order let every match in and cut the buffer again and again. Any
	 * order gives the same result. */
	if (t && t->o->key == TP_SORT_DETECTED_AT && v->n > 1)
		back = t->o->asc ? v->a[0].det > v->a[v->n - 1].det
				 : v->a[v->n - 1].det > v->a[0].det;
	out->examined += v->n;
	for (size_t j = 0; j < v->n; j++) {
		const struct hot *e = &v->a[back ? v->n - 1 - j : j];

		if (e->exp <= now || !hot_match(f, e) ||
		    (lists && !tp_filter_match(f, &e->r->p)))
			continue;
		out->total++;
		if (t && topk_offer(t, e) != TP_OK)
			return TP_ERR_NOMEM;
	}
	return TP_OK;
}

int tp_patterns_scan(const struct tp_patterns *ps,
		     const struct tp_scan_query *q, double now,
		     struct tp_scan_result *out)
{
	const struct tp_filter *f = &q->filter;
	struct order o = { .key = q->sort_by, .asc = q->ascending };
	struct topk t = { .o = &o };
	struct list **lists = NULL;
	size_t nlists = 0;
	size_t est_sym = SIZE_MAX, est_type = SIZE_MAX, est_conf = 0;
	size_t start = conf_bucket(f->confidence_min);
	uint64_t per_page, offset, want;
	int rc = TP_OK;

	memset(out, 0, sizeof(*out));
	per_page = q->per_page < 1 ? 1 : q->per_page > 100 ? 100 : q->per_page;
	offset = (uint64_t)(q->page ? q->page - 1 : 0) * per_page;
	/* Rows past the store size can never exist: keep none, count all. */
	want = offset >= ps->count ? 0 : offset + per_page;
	t.k = want > ps->count ? ps->count : (size_t)want;

	if (f->n_symbols)
		est_sym = keyed_estimate(ps, f, false);
	if (f->n_pattern_types)
		est_type = keyed_estimate(ps, f, true);
	for (size_t b = start; b < CONF_BUCKETS; b++)
		est_conf += ps->conf[b].n;
	/* Room for the candidates at once (at most 2k are kept): growing
	 * by doubling copied them several times over. */
	if (t.k) {
		size_t est = est_sym < est_type ? est_sym : est_type;
		void *a = NULL;

		est = est < est_conf ? est : est_conf;
		est = est < 2 * t.k ? est : 2 * t.k;
		if (est && (rc = grow(&a, &t.cap, est, sizeof(*t.a))) != TP_OK)
			goto fail;
		t.a = a;
	}

	if (est_sym <= est_type && est_sym <= est_conf) {
		rc = keyed_lists(ps, f, false, &lists, &nlists);
		for (size_t i = 0; rc == TP_OK && i < nlists; i++)
			rc = visit(ps, lists[i], L_SYM, f, now, &t, out);
	} else if (est_type <= est_conf) {
		rc = keyed_lists(ps, f, true, &lists, &nlists);
		for (size_t i = 0; rc == TP_OK && i < nlists; i++)
			rc = visit(ps, lists[i], L_TYPE, f, now, &t, out);
	} else {
		/* Sorted by confidence, every entry of a bucket comes before
		 * every entry of the buckets after it in that order (the bucket
		 * is monotone in the confidence): once k are kept, the rest are
		 * only counted. */
		bool by_conf = q->sort_by == TP_SORT_CONFIDENCE;

		for (size_t i = 0; rc == TP_OK && i < CONF_BUCKETS - start; i++) {
			size_t b = by_conf && !o.asc ? CONF_BUCKETS - 1 - i : start + i;

			rc = visit_hot(&ps->hot[b], f, now,
				       !by_conf || t.n < t.k ? &t : NULL, out);
		}
	}
	tp_free(lists);
	if (rc != TP_OK)
		goto fail;

	topk_sort(&t, offset < t.n ? (size_t)offset : t.n);
	if (offset < t.n) {
		size_t n = t.n - (size_t)offset;

		out->rows = tp_calloc(n, sizeof(*out->rows));
		if (!out->rows) {
			rc = TP_ERR_NOMEM;
			goto fail;
		}
		for (size_t i = 0; i < n; i++)
			out->rows[i] = &t.a[offset + i].e->r->p;
		out->n_rows = n;
	}
	tp_free(t.a);
	return TP_OK;

fail:
	tp_free(t.a);
	memset(out, 0, sizeof(*out));
	return rc;
}

void tp_scan_result_cleanup(struct tp_scan_result *r)
{
	if (!r)
		return;
	tp_free(r->rows);
	r->rows = NULL;
	r->n_rows = 0;
}
