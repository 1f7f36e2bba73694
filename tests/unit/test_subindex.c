/*
 * test_subindex.c - the subscription index: filing by category (symbols,
 * else pattern types, else unconstrained), add/remove with empty-bucket
 * deletion, the "" restrict-to-nothing symbol, separate symbol and type
 * namespaces, OOM on add, zero allocations while matching, the structural
 * selectivity bound (examined candidates) and a randomised property test:
 * the owners reported for an event are exactly those brute-force
 * tp_filter_match accepts.
 *
 * Filters are built through tp_filter_set_param (the real normalisation)
 * and shared through a tp_fcache as the push hub does. Owners are small
 * integers cast to pointers; reports are counted per owner so a duplicate
 * report fails as surely as a missing one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/fcache.h"
#include "tickpush/filter.h"
#include "tickpush/subindex.h"

/* ---- helpers ---------------------------------------------------------- */

#define OWNER(i) ((void *)(uintptr_t)((i) + 1))

struct hits {
	unsigned *count; /* per owner id */
	size_t cap;
	size_t calls;
};

static void on_match(void *owner, void *ud)
{
	struct hits *h = ud;
	uintptr_t id = (uintptr_t)owner;

	assert_true(id >= 1 && id <= h->cap);
	h->count[id - 1]++;
	h->calls++;
}

static void hits_init(struct hits *h, size_t cap)
{
	h->count = calloc(cap, sizeof(*h->count)); /* test bookkeeping */
	assert_non_null(h->count);
	h->cap = cap;
	h->calls = 0;
}

static void hits_reset(struct hits *h)
{
	memset(h->count, 0, h->cap * sizeof(*h->count));
	h->calls = 0;
}

static void set_ok(struct tp_filter *f, const char *name, const char *value)
{
	struct tp_errdetail err = { { 0 }, NULL };
	int rc = tp_filter_set_param(f, name, value, &err);

	if (rc != TP_OK)
		fail_msg("%s=%s: rc %d (%s)", name, value, rc, err.msg);
}

/* Builds *f from name/value pairs, NULL-terminated. */
static void build(struct tp_filter *f, const char *const *kv)
{
	tp_filter_init(f);
	for (; kv[0]; kv += 2)
		set_ok(f, kv[0], kv[1]);
}

static void mkp(struct tp_pattern *p, const char *sym, const char *type,
		double conf)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->symbol, sizeof(p->symbol), "%s", sym);
	snprintf(p->pattern_type, sizeof(p->pattern_type), "%s", type);
	p->confidence = conf;
	p->rs = p->rvol = 1.0;
	p->rsi = 50;
	p->tier = TP_TIER_DAILY;
}

/* One subscription of a test: its filter, cfilter and index entry. */
struct sub {
	struct tp_filter f;
	struct tp_cfilter *cf;
	struct tp_subentry *e;
	bool live;
};

static void sub_add(struct tp_fcache *fc, struct tp_subindex *ix,
		    struct sub *s, size_t id)
{
	assert_int_equal(tp_fcache_acquire(fc, &s->f, &s->cf), TP_OK);
	assert_int_equal(tp_subindex_add(ix, s->cf, OWNER(id), &s->e), TP_OK);
	assert_non_null(s->e);
	s->live = true;
}

static void sub_remove(struct tp_fcache *fc, struct tp_subindex *ix,
		       struct sub *s)
{
	tp_subindex_remove(ix, s->e);
	tp_fcache_release(fc, s->cf);
	s->e = NULL;
	s->cf = NULL;
	s->live = false;
}

static uint64_t gen_counter;

/* Matches p and returns the number reported; h holds who. */
static size_t run(struct tp_subindex *ix, const struct tp_pattern *p,
		  struct hits *h)
{
	size_t n;

	hits_reset(h);
	n = tp_subindex_match(ix, p, ++gen_counter, on_match, h);
	assert_int_equal(n, h->calls);
	return n;
}

/* ---- categories ------------------------------------------------------- */

enum { SYM, TYPE, ANY, SYM2, TYPE_AND_SYM, N_FIXED };

static const char *const fixed_specs[N_FIXED][9] = {
	[SYM] = { "symbols", "aapl,MSFT", NULL },
	[TYPE] = { "pattern_types", "doji,HAMMER", NULL },
	[ANY] = { "confidence_min", "0.6", NULL },
	[SYM2] = { "symbols", "AAPL", "confidence_min", "0.8", NULL },
	/* Names both: filed under its symbol only. */
	[TYPE_AND_SYM] = { "symbols", "NVDA", "pattern_types", "Doji", NULL },
};

static void test_categories(void **state)
{
	struct tp_fcache *fc = tp_fcache_create();
	struct tp_subindex *ix = tp_subindex_create();
	struct sub subs[N_FIXED];
	struct tp_pattern p;
	struct hits h;

	(void)state;
	assert_non_null(fc);
	assert_non_null(ix);
	hits_init(&h, N_FIXED);
	for (size_t i = 0; i < N_FIXED; i++) {
		build(&subs[i].f, fixed_specs[i]);
		sub_add(fc, ix, &subs[i], i);
	}
	assert_int_equal(tp_subindex_size(ix), N_FIXED);
	/* AAPL, MSFT, NVDA; doji, hammer. */
	assert_int_equal(tp_subindex_buckets(ix), 5);

	mkp(&p, "AAPL", "Doji", 0.9);
	assert_int_equal(run(ix, &p, &h), 4);
	assert_int_equal(h.count[SYM], 1);
	assert_int_equal(h.count[TYPE], 1);
	assert_int_equal(h.count[ANY], 1);
	assert_int_equal(h.count[SYM2], 1);
	assert_int_equal(tp_subindex_last_examined(ix), 4);

	/* The type is compared case-insensitively. */
	mkp(&p, "IBM", "hAmMeR", 0.7);
	assert_int_equal(run(ix, &p, &h), 2);
	assert_int_equal(h.count[TYPE], 1);
	assert_int_equal(h.count[ANY], 1);
	assert_int_equal(tp_subindex_last_examined(ix), 2);

	mkp(&p, "AAPL", "Bull_Flag", 0.7);
	assert_int_equal(run(ix, &p, &h), 2); /* SYM2 wants 0.8 */
	assert_int_equal(h.count[SYM], 1);
	assert_int_equal(h.count[ANY], 1);
	assert_int_equal(tp_subindex_last_examined(ix), 3);

	/* Filed under NVDA only; it still checks its type. */
	mkp(&p, "NVDA", "Hammer", 0.9);
	assert_int_equal(run(ix, &p, &h), 2);
	assert_int_equal(h.count[TYPE], 1);
	assert_int_equal(h.count[ANY], 1);
	assert_int_equal(tp_subindex_last_examined(ix), 3);
	mkp(&p, "NVDA", "DOJI", 0.9);
	assert_int_equal(run(ix, &p, &h), 3);
	assert_int_equal(h.count[TYPE_AND_SYM], 1);
	/* Another symbol with that type does not look at it. */
	mkp(&p, "TSLA", "Doji", 0.55);
	assert_int_equal(run(ix, &p, &h), 1);
	assert_int_equal(h.count[TYPE], 1);
	assert_int_equal(tp_subindex_last_examined(ix), 2);

	/* Removing shrinks buckets and deletes empty ones. */
	sub_remove(fc, ix, &subs[SYM]); /* MSFT empties, AAPL keeps SYM2 */
	assert_int_equal(tp_subindex_buckets(ix), 4);
	mkp(&p, "MSFT", "Doji", 0.9);
	assert_int_equal(run(ix, &p, &h), 2);
	assert_int_equal(h.count[SYM], 0);
	sub_remove(fc, ix, &subs[SYM2]);
	assert_int_equal(tp_subindex_buckets(ix), 3);
	sub_remove(fc, ix, &subs[TYPE]);
	assert_int_equal(tp_subindex_buckets(ix), 1);
	sub_remove(fc, ix, &subs[ANY]);
	mkp(&p, "AAPL", "Doji", 0.9);
	assert_int_equal(run(ix, &p, &h), 0);
	assert_int_equal(tp_subindex_last_examined(ix), 0);
	sub_remove(fc, ix, &subs[TYPE_AND_SYM]);
	assert_int_equal(tp_subindex_buckets(ix), 0);
	assert_int_equal(tp_subindex_size(ix), 0);
	tp_subindex_remove(ix, NULL);

	for (size_t i = 0; i < N_FIXED; i++)
		tp_filter_cleanup(&subs[i].f);
	free(h.count);
	tp_subindex_destroy(ix);
	tp_fcache_destroy(fc);
	tp_subindex_destroy(NULL);
}

/* Subscriptions sharing one cfilter: each owner reported once, the filter
 * evaluated once (its memo belongs to this generation). */
static void test_shared_filter(void **state)
{
	static const char *const spec[] = { "symbols", "AAPL,MSFT", NULL };
	struct tp_fcache *fc = tp_fcache_create();
	struct tp_subindex *ix = tp_subindex_create();
	struct sub subs[3];
	struct tp_pattern p, other;
	struct hits h;
	size_t n;

	(void)state;
	hits_init(&h, 3);
	for (size_t i = 0; i < 3; i++) {
		build(&subs[i].f, spec);
		sub_add(fc, ix, &subs[i], i);
	}
	assert_int_equal(tp_fcache_size(fc), 1);
	assert_int_equal(tp_subindex_buckets(ix), 2);
	mkp(&p, "MSFT", "Doji", 0.9);
	assert_int_equal(run(ix, &p, &h), 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(h.count[i], 1);
	/* One check for the three: they share the cfilter and bucket. */
	assert_int_equal(tp_subindex_last_examined(ix), 1);
	assert_int_equal(subs[0].cf->memo_gen, gen_counter);
	/* Same generation again with a pattern the filter would refuse:
	 * the memo answers, which shows the filter ran once for the gen. */
	mkp(&other, "MSFT", "Doji", 0.1);
	hits_reset(&h);
	n = tp_subindex_match(ix, &other, gen_counter, on_match, &h);
	assert_int_equal(n, 3);
	assert_int_equal(run(ix, &other, &h), 0);

	/* Removing one keeps the buckets for the others. */
	sub_remove(fc, ix, &subs[1]);
	assert_int_equal(tp_subindex_buckets(ix), 2);
	assert_int_equal(run(ix, &p, &h), 2);
	assert_int_equal(h.count[1], 0);
	sub_remove(fc, ix, &subs[0]);
	sub_remove(fc, ix, &subs[2]);
	assert_int_equal(tp_subindex_buckets(ix), 0);
	for (size_t i = 0; i < 3; i++)
		tp_filter_cleanup(&subs[i].f);
	free(h.count);
	tp_subindex_destroy(ix);
	tp_fcache_destroy(fc);
}

/* tp_filter_restrict_symbols with an empty intersection leaves the single
 * symbol "": filed under "", it is never a candidate and never matches. */
static void test_restrict_to_nothing(void **state)
{
	static const char *const wl[] = { "TSLA", "NVDA" };
	struct tp_fcache *fc = tp_fcache_create();
	struct tp_subindex *ix = tp_subindex_create();
	struct sub s;
	struct tp_pattern p;
	struct hits h;

	(void)state;
	hits_init(&h, 1);
	tp_filter_init(&s.f);
	set_ok(&s.f, "symbols", "AAPL");
	assert_int_equal(tp_filter_restrict_symbols(&s.f, wl, 2), TP_OK);
	assert_int_equal(s.f.n_symbols, 1);
	assert_string_equal(s.f.symbols[0], "");
	sub_add(fc, ix, &s, 0);
	assert_int_equal(tp_subindex_buckets(ix), 1);
	for (size_t i = 0; i < 3; i++) {
		mkp(&p, i == 0 ? "AAPL" : wl[i - 1], "Doji", 0.9);
		assert_int_equal(run(ix, &p, &h), 0);
		assert_int_equal(tp_subindex_last_examined(ix), 0);
	}
	sub_remove(fc, ix, &s);
	assert_int_equal(tp_subindex_buckets(ix), 0);
	tp_filter_cleanup(&s.f);
	free(h.count);
	tp_subindex_destroy(ix);
	tp_fcache_destroy(fc);
}

/* Symbol and type keys live in separate tables: a symbol "1" and a type
 * "1" are different buckets, and one event visits each entry once. */
static void test_separate_namespaces(void **state)
{
	static const char *const by_sym[] = { "symbols", "1", NULL };
	static const char *const by_type[] = { "pattern_types", "1", NULL };
	struct tp_fcache *fc = tp_fcache_create();
	struct tp_subindex *ix = tp_subindex_create();
	struct sub s[2];
	struct tp_pattern p;
	struct hits h;

	(void)state;
	hits_init(&h, 2);
	build(&s[0].f, by_sym);
	build(&s[1].f, by_type);
	sub_add(fc, ix, &s[0], 0);
	sub_add(fc, ix, &s[1], 1);
	assert_int_equal(tp_subindex_buckets(ix), 2);
	mkp(&p, "1", "Doji", 0.9);
	assert_int_equal(run(ix, &p, &h), 1);
	assert_int_equal(h.count[0], 1);
	assert_int_equal(tp_subindex_last_examined(ix), 1);
	mkp(&p, "X", "1", 0.9);
	assert_int_equal(run(ix, &p, &h), 1);
	assert_int_equal(h.count[1], 1);
	assert_int_equal(tp_subindex_last_examined(ix), 1);
	mkp(&p, "1", "1", 0.9);
	assert_int_equal(run(ix, &p, &h), 2);
	assert_int_equal(tp_subindex_last_examined(ix), 2);
	sub_remove(fc, ix, &s[0]);
	sub_remove(fc, ix, &s[1]);
	tp_filter_cleanup(&s[0].f);
	tp_filter_cleanup(&s[1].f);
	free(h.count);
	tp_subindex_destroy(ix);
	tp_fcache_destroy(fc);
}

/* A hand-built filter may repeat a key (set_param never does); the entry
 * is still reported once. */
static void test_duplicate_keys(void **state)
{
	static char t1[] = "Doji", t2[] = "DOJI", t3[] = "hammer";
	static char s1[] = "AAPL", s2[] = "AAPL";
	char *types[] = { t1, t2, t3 }, *syms[] = { s1, s2 };
	struct tp_fcache *fc = tp_fcache_create();
	struct tp_subindex *ix = tp_subindex_create();
	struct tp_filter f;
	struct tp_cfilter *cf = NULL;
	struct tp_subentry *e1 = NULL, *e2 = NULL;
	struct tp_pattern p;
	struct hits h;

	(void)state;
	hits_init(&h, 2);
	tp_filter_init(&f);
	f.pattern_types = types;
	f.n_pattern_types = 3;
	assert_int_equal(tp_fcache_acquire(fc, &f, &cf), TP_OK);
	assert_int_equal(tp_subindex_add(ix, cf, OWNER(0), &e1), TP_OK);
	assert_int_equal(tp_subindex_buckets(ix), 2);
	f.pattern_types = NULL;
	f.n_pattern_types = 0;
	f.symbols = syms;
	f.n_symbols = 2;
	/* A second filter, with a repeated symbol. */
	{
		struct tp_cfilter *cf2 = NULL;

		assert_int_equal(tp_fcache_acquire(fc, &f, &cf2), TP_OK);
		assert_int_equal(tp_subindex_add(ix, cf2, OWNER(1), &e2),
				 TP_OK);
		assert_int_equal(tp_subindex_buckets(ix), 3);
		mkp(&p, "AAPL", "doji", 0.9);
		assert_int_equal(run(ix, &p, &h), 2);
		assert_int_equal(h.count[0], 1);
		assert_int_equal(h.count[1], 1);
		assert_int_equal(tp_subindex_last_examined(ix), 2);
		tp_subindex_remove(ix, e2);
		tp_fcache_release(fc, cf2);
	}
	tp_subindex_remove(ix, e1);
	tp_fcache_release(fc, cf);
	assert_int_equal(tp_subindex_buckets(ix), 0);
	free(h.count);
	tp_subindex_destroy(ix);
	tp_fcache_destroy(fc);
}

/* A failed add leaves the index as it was, including buckets it shares
 * with existing entries. */
static void test_oom_add(void **state)
{
	static const char *const old_spec[] = { "symbols", "MSFT", NULL };
	static const char *const new_spec[] = { "symbols", "AAPL,MSFT,NVDA,TSLA",
						NULL };
	struct tp_fcache *fc = tp_fcache_create();
	struct tp_subindex *ix = NULL;
	struct sub old, fresh;
	struct tp_pattern p;
	struct hits h;
	size_t n;

	(void)state;
	for (n = 1;; n++) {
		tp_alloc_fail_at(n);
		ix = tp_subindex_create();
		if (tp_alloc_fail_at(0) < n) {
			assert_non_null(ix);
			break;
		}
		assert_null(ix);
	}
	hits_init(&h, 2);
	build(&old.f, old_spec);
	build(&fresh.f, new_spec);
	sub_add(fc, ix, &old, 0);
	assert_int_equal(tp_fcache_acquire(fc, &fresh.f, &fresh.cf), TP_OK);
	for (n = 1;; n++) {
		int rc;

		fresh.e = NULL;
		tp_alloc_fail_at(n);
		rc = tp_subindex_add(ix, fresh.cf, OWNER(1), &fresh.e);
		if (tp_alloc_fail_at(0) < n) {
			assert_int_equal(rc, TP_OK);
			break;
		}
		assert_int_equal(rc, TP_ERR_NOMEM);
		assert_null(fresh.e);
		assert_int_equal(tp_subindex_size(ix), 1);
		assert_int_equal(tp_subindex_buckets(ix), 1);
		mkp(&p, "MSFT", "Doji", 0.9);
		assert_int_equal(run(ix, &p, &h), 1);
		assert_int_equal(h.count[0], 1);
	}
	assert_true(n > 4); /* entry + 3 buckets at least */
	fresh.live = true;
	assert_int_equal(tp_subindex_buckets(ix), 4);
	mkp(&p, "MSFT", "Doji", 0.9);
	assert_int_equal(run(ix, &p, &h), 2);
	sub_remove(fc, ix, &fresh);
	sub_remove(fc, ix, &old);
	assert_int_equal(tp_subindex_buckets(ix), 0);
	tp_filter_cleanup(&old.f);
	tp_filter_cleanup(&fresh.f);
	free(h.count);
	tp_subindex_destroy(ix);
	tp_fcache_destroy(fc);
}

/* Entries left at destroy are freed (the leak check proves it). */
static void test_destroy_frees_leftovers(void **state)
{
	static const char *const a[] = { "symbols", "AAPL,MSFT", NULL };
	static const char *const b[] = { "pattern_types", "Doji", NULL };
	struct tp_fcache *fc = tp_fcache_create();
	struct tp_subindex *ix = tp_subindex_create();
	struct sub s[3];

	(void)state;
	build(&s[0].f, a);
	build(&s[1].f, b);
	tp_filter_init(&s[2].f);
	for (size_t i = 0; i < 3; i++)
		sub_add(fc, ix, &s[i], i);
	tp_subindex_destroy(ix);
	for (size_t i = 0; i < 3; i++) {
		tp_fcache_release(fc, s[i].cf);
		tp_filter_cleanup(&s[i].f);
	}
	tp_fcache_destroy(fc);
}

/* ---- randomised property test ------------------------------------------ */

/* xorshift64*: deterministic across platforms. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static size_t rnd_below(size_t n)
{
	return (size_t)(rnd() % n);
}

static double rnd_unit(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static bool chance(double p)
{
	return rnd_unit() < p;
}

#define N_SYMBOLS 200
#define N_TYPES 14
#define N_SECTORS 6

static char symbol_pool[N_SYMBOLS + 20][12];

/* Full names only (an abbreviation would be expanded by set_param and make
 * the random-case comparison below meaningless). */
static const char *const type_pool[N_TYPES] = {
	"Doji", "Hammer", "Engulfing", "Weekly_Breakout", "Bull_Flag",
	"Trendline_Hold", "Volume_Spike", "Gap_Fill", "Momentum_Shift",
	"Support_Test", "Resistance_Break", "Ascending_Triangle",
	"Reversal_Signal", "Head_Shoulders",
};

static const char *const sector_pool[N_SECTORS] = {
	"Technology", "Health Care", "Financials", "Energy", "Utilities",
	"Industrials",
};

static const char *const timeframes[] = { "All", "Daily", "Intraday",
					  "Combo" };

static void make_symbol_pool(void)
{
	for (size_t i = 0; i < TP_ARRAY_SIZE(symbol_pool); i++) {
		size_t len = 1 + rnd_below(5);

		for (size_t k = 0; k < len; k++)
			symbol_pool[i][k] = (char)('A' + rnd_below(26));
		/* A distinct suffix keeps pool entries unique. */
		snprintf(symbol_pool[i] + len, sizeof(symbol_pool[i]) - len,
			 "%zu", i);
	}
}

static void random_case(char *out, size_t cap, const char *s)
{
	size_t i;

	for (i = 0; i + 1 < cap && s[i]; i++) {
		char c = s[i];

		if (chance(0.5))
			c = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' :
				   c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		out[i] = c;
	}
	out[i] = '\0';
}

/* A comma-separated list of k random entries of pool (duplicates likely
 * for small pools; set_param removes them), in random case. */
static void random_list(char *out, size_t cap, const char *const *pool,
			size_t n_pool, size_t k)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		char tmp[80];

		random_case(tmp, sizeof(tmp), pool[rnd_below(n_pool)]);
		len += (size_t)snprintf(out + len, cap - len, "%s%s",
					i ? "," : "", tmp);
		assert_true(len < cap);
	}
}

static void random_filter(struct tp_filter *f)
{
	const char *syms[N_SYMBOLS];
	char list[1024], num[64];

	for (size_t i = 0; i < N_SYMBOLS; i++)
		syms[i] = symbol_pool[i];
	tp_filter_init(f);
	if (chance(0.6)) {
		random_list(list, sizeof(list), syms, N_SYMBOLS, 1 + rnd_below(5));
		set_ok(f, "symbols", list);
	}
	if (chance(0.5)) {
		random_list(list, sizeof(list), type_pool, N_TYPES,
			    1 + rnd_below(3));
		set_ok(f, "pattern_types", list);
	}
	if (chance(0.5)) {
		snprintf(num, sizeof(num), "%.2f", rnd_unit());
		set_ok(f, "confidence_min", num);
	}
	if (chance(0.2)) {
		snprintf(num, sizeof(num), "%.2f", 2 * rnd_unit());
		set_ok(f, "rs_min", num);
	}
	if (chance(0.2)) {
		snprintf(num, sizeof(num), "%.2f", 3 * rnd_unit());
		set_ok(f, "vol_min", num);
	}
	if (chance(0.2)) {
		snprintf(num, sizeof(num), "%.0f,%.0f", 100 * rnd_unit(),
			 100 * rnd_unit());
		set_ok(f, "rsi_range", num);
	}
	if (chance(0.25))
		set_ok(f, "timeframe", timeframes[rnd_below(4)]);
	if (chance(0.15)) {
		random_list(list, sizeof(list), sector_pool, N_SECTORS,
			    1 + rnd_below(2));
		set_ok(f, "sectors", list);
	}
	if (chance(0.07)) {
		/* A watchlist/universe restriction; often an empty
		 * intersection, which leaves the "" symbol. */
		const char *set[10];
		size_t n = rnd_below(10);

		for (size_t i = 0; i < n; i++)
			set[i] = syms[rnd_below(N_SYMBOLS)];
		assert_int_equal(tp_filter_restrict_symbols(f, set, n), TP_OK);
	}
}

static void random_pattern(struct tp_pattern *p)
{
	char type[TP_PATTERN_TYPE_MAX + 1];

	memset(p, 0, sizeof(*p));
	/* Sometimes a symbol no filter names. */
	snprintf(p->symbol, sizeof(p->symbol), "%s",
		 symbol_pool[rnd_below(TP_ARRAY_SIZE(symbol_pool))]);
	if (chance(0.1))
		snprintf(type, sizeof(type), "Mystery_Pattern");
	else
		random_case(type, sizeof(type), type_pool[rnd_below(N_TYPES)]);
	snprintf(p->pattern_type, sizeof(p->pattern_type), "%s", type);
	if (chance(0.8))
		random_case(p->sector, sizeof(p->sector),
			    sector_pool[rnd_below(N_SECTORS)]);
	p->confidence = rnd_unit();
	p->rs = 2.5 * rnd_unit();
	p->rvol = 3.5 * rnd_unit();
	p->rsi = 100 * rnd_unit();
	p->tier = (enum tp_tier)rnd_below(4);
}

struct totals {
	size_t matched, examined, pairs;
};

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

/* Brute force of the filing rule: could sub s be examined for p? */
static bool filed_for(const struct tp_filter *f, const struct tp_pattern *p)
{
	if (f->n_symbols) {
		for (size_t i = 0; i < f->n_symbols; i++)
			if (!strcmp(f->symbols[i], p->symbol))
				return true;
		return false;
	}
	for (size_t i = 0; i < f->n_pattern_types; i++)
		if (!strcasecmp(f->pattern_types[i], p->pattern_type))
			return true;
	return f->n_pattern_types == 0;
}

/* Distinct cfilters among the live subs filed where p looks: each sits in
 * one bucket p visits, so this is the number of groups examined. */
static size_t expected_examined(struct sub *subs, size_t n_subs,
				const struct tp_pattern *p, void **scratch)
{
	size_t n = 0, distinct = 0;

	for (size_t i = 0; i < n_subs; i++)
		if (subs[i].live && filed_for(&subs[i].f, p))
			scratch[n++] = subs[i].cf;
	qsort(scratch, n, sizeof(*scratch), cmp_ptr);
	for (size_t i = 0; i < n; i++)
		distinct += !i || scratch[i] != scratch[i - 1];
	return distinct;
}

/* Every pattern: reported owners == brute force over the live subs. */
static void check_patterns(struct tp_subindex *ix, struct sub *subs,
			   size_t n_subs, size_t n_patterns, struct hits *h,
			   struct totals *t)
{
	size_t live = 0;
	void **scratch = calloc(n_subs, sizeof(*scratch));

	assert_non_null(scratch);
	for (size_t i = 0; i < n_subs; i++)
		live += subs[i].live;
	assert_int_equal(tp_subindex_size(ix), live);
	for (size_t k = 0; k < n_patterns; k++) {
		struct tp_pattern p;
		size_t n, expect = 0;

		random_pattern(&p);
		n = run(ix, &p, h);
		for (size_t i = 0; i < n_subs; i++) {
			bool want = subs[i].live && tp_filter_match(&subs[i].f, &p);

			if (h->count[i] != (want ? 1u : 0u))
				fail_msg("pattern %zu (%s %s conf %.3f): sub %zu "
					 "reported %u times, expected %d",
					 k, p.symbol, p.pattern_type,
					 p.confidence, i, h->count[i], want);
			expect += want;
		}
		assert_int_equal(n, expect);
		assert_int_equal(tp_subindex_last_examined(ix),
				 expected_examined(subs, n_subs, &p, scratch));
		t->matched += n;
		t->examined += tp_subindex_last_examined(ix);
		t->pairs += live;
	}
	free(scratch);
}

#define PROP_SUBS 3000
#define PROP_EXTRA 1000
#define PROP_PATTERNS 2000

static void test_property_random(void **state)
{
	struct tp_fcache *fc = tp_fcache_create();
	struct tp_subindex *ix = tp_subindex_create();
	size_t n_subs = PROP_SUBS + PROP_EXTRA, order[PROP_SUBS];
	struct sub *subs = calloc(n_subs, sizeof(*subs));
	struct totals t = { 0, 0, 0 };
	struct hits h;

	(void)state;
	assert_non_null(subs);
	rng_state = 0x9e3779b97f4a7c15ULL;
	make_symbol_pool();
	hits_init(&h, n_subs);
	for (size_t i = 0; i < PROP_SUBS; i++) {
		random_filter(&subs[i].f);
		sub_add(fc, ix, &subs[i], i);
	}
	/* Many filters are equal, so the cache shares them. */
	assert_true(tp_fcache_size(fc) < PROP_SUBS);
	assert_true(tp_fcache_hits(fc) > 0);
	check_patterns(ix, subs, n_subs, PROP_PATTERNS, &h, &t);

	/* Remove a random half, then add fresh subscriptions. */
	for (size_t i = 0; i < PROP_SUBS; i++)
		order[i] = i;
	for (size_t i = PROP_SUBS - 1; i > 0; i--) {
		size_t j = rnd_below(i + 1), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	for (size_t i = 0; i < PROP_SUBS / 2; i++)
		sub_remove(fc, ix, &subs[order[i]]);
	check_patterns(ix, subs, n_subs, PROP_PATTERNS, &h, &t);
	for (size_t i = PROP_SUBS; i < n_subs; i++) {
		random_filter(&subs[i].f);
		sub_add(fc, ix, &subs[i], i);
	}
	/* And re-add some of the removed ones under their old owner ids. */
	for (size_t i = 0; i < PROP_SUBS / 8; i++)
		sub_add(fc, ix, &subs[order[i]], order[i]);
	check_patterns(ix, subs, n_subs, PROP_PATTERNS, &h, &t);

	/* The test is only meaningful if matches are common and the index
	 * actually pre-selects. */
	assert_true(t.matched > 1000);
	assert_true(t.examined < t.pairs / 2);

	for (size_t i = 0; i < n_subs; i++) {
		if (subs[i].live)
			sub_remove(fc, ix, &subs[i]);
		tp_filter_cleanup(&subs[i].f);
	}
	assert_int_equal(tp_subindex_size(ix), 0);
	assert_int_equal(tp_subindex_buckets(ix), 0);
	assert_int_equal(tp_fcache_size(fc), 0);
	free(subs);
	free(h.count);
	tp_subindex_destroy(ix);
	tp_fcache_destroy(fc);
}

/* ---- selectivity and allocation-free matching -------------------------- */

#define SEL_SUBS 10000
#define SEL_SYMBOLS 500
#define SEL_EVENTS 500

/*
 * 10k subscriptions on 1-3 of 500 symbols: an event looks at exactly the
 * distinct filters naming its symbol (about 40 on average), never at the
 * other thousands, and reports every subscription naming it. This is a
 * structural property (counts), not a timing.
 */
static void test_selective_examined(void **state)
{
	struct tp_fcache *fc = tp_fcache_create();
	struct tp_subindex *ix = tp_subindex_create();
	struct sub *subs = calloc(SEL_SUBS, sizeof(*subs));
	unsigned *naming = calloc(SEL_SYMBOLS, sizeof(*naming));
	void **scratch = calloc(SEL_SUBS, sizeof(*scratch));
	size_t max_examined = 0, sum_examined = 0;
	struct hits h;

	(void)state;
	assert_non_null(subs);
	assert_non_null(naming);
	rng_state = 0x2545f4914f6cdd1dULL;
	hits_init(&h, SEL_SUBS);
	for (size_t i = 0; i < SEL_SUBS; i++) {
		size_t k = 1 + rnd_below(3);
		bool seen[SEL_SYMBOLS] = { false };
		char sym[16];

		tp_filter_init(&subs[i].f);
		for (size_t j = 0; j < k; j++) {
			size_t s = rnd_below(SEL_SYMBOLS);

			snprintf(sym, sizeof(sym), "S%zu", s);
			set_ok(&subs[i].f, "symbols", sym);
			if (!seen[s])
				naming[s]++;
			seen[s] = true;
		}
		sub_add(fc, ix, &subs[i], i);
	}
	for (size_t k = 0; k < SEL_EVENTS; k++) {
		struct tp_pattern p;
		size_t s = rnd_below(SEL_SYMBOLS), ex;
		char sym[16];

		snprintf(sym, sizeof(sym), "S%zu", s);
		mkp(&p, sym, type_pool[rnd_below(N_TYPES)], 0.9);
		hits_reset(&h);
		tp_alloc_fail_at(0); /* reset the attempt counter */
		assert_int_equal(tp_subindex_match(ix, &p, ++gen_counter,
						   on_match, &h),
				 naming[s]);
		/* Matching attempted no allocation at all. */
		assert_int_equal(tp_alloc_fail_at(0), 0);
		ex = tp_subindex_last_examined(ix);
		assert_int_equal(ex, expected_examined(subs, SEL_SUBS, &p,
						       scratch));
		assert_true(ex <= naming[s]);
		sum_examined += ex;
		if (ex > max_examined)
			max_examined = ex;
	}
	assert_true(max_examined <= 200);
	assert_true(sum_examined / SEL_EVENTS <= 80);
	assert_true(sum_examined > 0);

	for (size_t i = 0; i < SEL_SUBS; i++) {
		sub_remove(fc, ix, &subs[i]);
		tp_filter_cleanup(&subs[i].f);
	}
	assert_int_equal(tp_subindex_buckets(ix), 0);
	free(subs);
	free(naming);
	free(scratch);
	free(h.count);
	tp_subindex_destroy(ix);
	tp_fcache_destroy(fc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_categories),
		TP_TEST(test_shared_filter),
		TP_TEST(test_restrict_to_nothing),
		TP_TEST(test_separate_namespaces),
		TP_TEST(test_duplicate_keys),
		TP_TEST(test_oom_add),
		TP_TEST(test_destroy_frees_leftovers),
		TP_TEST(test_property_random),
		TP_TEST(test_selective_examined),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
