/*
 * bench_fanout.c - throughput of the push fan-out decision (a tool that
 * prints numbers; never a test: timings depend on the machine).
 *
 * Builds N subscriptions (default 10,000) with a realistic mix of filters,
 * shared through a tp_fcache and filed in a tp_subindex exactly as the push
 * hub does, then times E events (default 200,000, a fresh generation each)
 * through tp_subindex_match with tp_mono. Reports events/s, ns per
 * (event, candidate) and per distinct filter evaluation, the average
 * candidates examined and matched, and checks that the timed loop made no
 * allocation (tp_alloc_blocks and the allocator's attempt counter). A second
 * loop times tp_filter_match alone over (event, filter) pairs, the design
 * budget's "filter check".
 *
 * Workload (about 5% of subscriptions match a random event):
 *   60% watchlists: 5-20 of 500 symbols (300 distinct lists), confidence
 *       0.5-0.7, filed under their symbols;
 *   20% pattern-type presets: 1-3 of 14 types in any case, confidence
 *       0.6-0.8 (80 distinct), filed under their types;
 *   10% sector filters: 1-2 of 11 sectors, confidence 0.7 (unconstrained
 *       list: sectors are not indexed);
 *   10% "strong signal" filters: confidence 0.8-0.95, rs_min 1.0-1.4,
 *       optional timeframe (20 distinct, unconstrained).
 * Events: uniform symbol of 500 and type of 14, confidence 0.5-1, rs 0.5-2,
 * relative volume 0.5-3, RSI 20-80, a random tier and sector.
 *
 * With "unique" as the fourth argument every subscription gets its own
 * variant (no two filters alike in practice): the worst case for the
 * per-filter grouping of the index.
 *
 * Usage: bench-fanout [events [subscriptions [seed [unique]]]]
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tickpush/alloc.h"
#include "tickpush/clock.h"
#include "tickpush/err.h"
#include "tickpush/event.h"
#include "tickpush/fcache.h"
#include "tickpush/filter.h"
#include "tickpush/subindex.h"

#define N_SYMBOLS 500
#define N_EVENT_RING 4096

static const char *const types[] = {
	"Doji", "Hammer", "Engulfing", "Weekly_Breakout", "Bull_Flag",
	"Trendline_Hold", "Volume_Spike", "Gap_Fill", "Momentum_Shift",
	"Support_Test", "Resistance_Break", "Ascending_Triangle",
	"Reversal_Signal", "Head_Shoulders",
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

static const char *const sectors[] = {
	"Information Technology", "Health Care", "Financials",
	"Consumer Discretionary", "Communication Services", "Industrials",
	"Consumer Staples", "Energy", "Utilities", "Real Estate", "Materials",
};
#define N_SECTORS (sizeof(sectors) / sizeof(sectors[0]))

/* ---- PRNG (xorshift64*) ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static size_t below(size_t n)
{
	return (size_t)(rnd() % n);
}

static double unit(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static double span(double lo, double hi)
{
	return lo + (hi - lo) * unit();
}

/* ---- workload ---- */

static char symbols[N_SYMBOLS][8];

static void make_symbols(void)
{
	for (size_t i = 0; i < N_SYMBOLS; i++) {
		size_t len = 2 + below(3);

		for (size_t k = 0; k < len; k++)
			symbols[i][k] = (char)('A' + below(26));
		snprintf(symbols[i] + len, sizeof(symbols[i]) - len, "%zu",
			 i % 10);
		/* Uniqueness does not matter much; collisions just merge
		 * buckets (a few of the 500 may coincide). */
	}
}

static void set(struct tp_filter *f, const char *name, const char *value)
{
	struct tp_errdetail err = { { 0 }, NULL };

	if (tp_filter_set_param(f, name, value, &err) != TP_OK) {
		fprintf(stderr, "bench-fanout: %s=%s: %s\n", name, value,
			err.msg);
		exit(1);
	}
}

static void set_num(struct tp_filter *f, const char *name, double v)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%.2f", v);
	set(f, name, tmp);
}

/* Filter number `variant` of a kind: the same variant gives the same
 * filter, so subscriptions share cfilters as presets and watchlists do. */
static void make_filter(struct tp_filter *f, int kind, uint64_t variant)
{
	uint64_t saved = rng;

	rng = 0x2545f4914f6cdd1dULL ^ (variant * 0x9e3779b97f4a7c15ULL) ^
	      (uint64_t)kind;
	rnd();
	tp_filter_init(f);
	switch (kind) {
	case 0: { /* watchlist */
		size_t n = 5 + below(16);

		for (size_t i = 0; i < n; i++)
			set(f, "symbols", symbols[below(N_SYMBOLS)]);
		set_num(f, "confidence_min", 0.5 + 0.1 * (double)below(3));
		break;
	}
	case 1: { /* pattern-type preset, in whatever case a user typed */
		size_t n = 1 + below(3);

		for (size_t i = 0; i < n; i++) {
			char t[64];

			snprintf(t, sizeof(t), "%s", types[below(N_TYPES)]);
			if (below(2))
				for (char *c = t; *c; c++)
					if (*c >= 'A' && *c <= 'Z')
						*c = (char)(*c - 'A' + 'a');
			set(f, "pattern_types", t);
		}
		set_num(f, "confidence_min", 0.6 + 0.1 * (double)below(3));
		break;
	}
	case 2: { /* sectors */
		size_t n = 1 + below(2);

		for (size_t i = 0; i < n; i++)
			set(f, "sectors", sectors[below(N_SECTORS)]);
		set_num(f, "confidence_min", 0.7);
		break;
	}
	default: /* strong signals */
		set_num(f, "confidence_min", 0.8 + 0.05 * (double)below(4));
		set_num(f, "rs_min", 1.0 + 0.1 * (double)below(5));
		if (below(2))
			set(f, "timeframe", below(2) ? "Daily" : "Intraday");
		break;
	}
	rng = saved;
}

static void make_event(struct tp_pattern *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->symbol, sizeof(p->symbol), "%s", symbols[below(N_SYMBOLS)]);
	snprintf(p->pattern_type, sizeof(p->pattern_type), "%s",
		 types[below(N_TYPES)]);
	snprintf(p->sector, sizeof(p->sector), "%s", sectors[below(N_SECTORS)]);
	p->confidence = span(0.5, 1.0);
	p->rs = span(0.5, 2.0);
	p->rvol = span(0.5, 3.0);
	p->rsi = span(20, 80);
	p->tier = (enum tp_tier)(1 + below(3));
	p->current_price = span(5, 500);
}

/* ---- measurement ---- */

struct counts {
	uint64_t matched;
};

static void on_match(void *owner, void *ud)
{
	struct counts *c = ud;

	(void)owner;
	c->matched++;
}

static void print_machine(void)
{
	FILE *fp = fopen("/proc/cpuinfo", "r");
	char line[256], model[256] = "unknown";

	while (fp && fgets(line, sizeof(line), fp)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && colon) {
			snprintf(model, sizeof(model), "%s", colon + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (fp)
		fclose(fp);
	printf("machine: %ld online CPUs, %s\n", sysconf(_SC_NPROCESSORS_ONLN),
	       model);
#ifdef NDEBUG
	printf("build: optimised (NDEBUG)\n");
#else
	printf("build: NOT optimised (NDEBUG unset): numbers are not representative\n");
#endif
}

struct sub {
	struct tp_cfilter *cf;
	struct tp_subentry *e;
};

int main(int argc, char **argv)
{
	size_t n_events = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
	size_t n_subs = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
	struct tp_fcache *fc = tp_fcache_create();
	struct tp_subindex *ix = tp_subindex_create();
	struct tp_pattern *ring = calloc(N_EVENT_RING, sizeof(*ring));
	struct sub *subs = calloc(n_subs ? n_subs : 1, sizeof(*subs));
	struct tp_cfilter **distinct = calloc(n_subs ? n_subs : 1,
					      sizeof(*distinct));
	size_t n_distinct = 0, blocks_before, blocks_after, attempts;
	uint64_t examined = 0, evaluations = 0, gen = 0;
	struct counts c = { 0 };
	double t0, t1, secs, check_ns;
	int kinds[4] = { 0, 0, 0, 0 };
	bool unique = argc > 4 && !strcmp(argv[4], "unique");

	if (argc > 3)
		rng = strtoull(argv[3], NULL, 10) | 1;
	if (!fc || !ix || !ring || !subs || !distinct || !n_events) {
		fprintf(stderr, "usage: bench-fanout [events [subscriptions "
			"[seed [unique]]]]\n");
		return 1;
	}
	print_machine();
	make_symbols();

	for (size_t i = 0; i < n_subs; i++) {
		double r = unit();
		int kind = r < 0.6 ? 0 : r < 0.8 ? 1 : r < 0.9 ? 2 : 3;
		static const size_t variants[4] = { 300, 80, 50, 20 };
		struct tp_filter f;
		size_t before = tp_fcache_size(fc);

		make_filter(&f, kind, unique ? i : below(variants[kind]));
		if (tp_fcache_acquire(fc, &f, &subs[i].cf) ||
		    tp_subindex_add(ix, subs[i].cf, &subs[i], &subs[i].e)) {
			fprintf(stderr, "bench-fanout: out of memory\n");
			return 1;
		}
		if (tp_fcache_size(fc) > before)
			distinct[n_distinct++] = subs[i].cf;
		tp_filter_cleanup(&f);
		kinds[kind]++;
	}
	for (size_t i = 0; i < N_EVENT_RING; i++)
		make_event(&ring[i]);
	printf("subscriptions: %zu (watchlist %d, type %d, sector %d, strong %d); "
	       "distinct filters %zu; buckets %zu\n",
	       n_subs, kinds[0], kinds[1], kinds[2], kinds[3], n_distinct,
	       tp_subindex_buckets(ix));

	/* Untimed pass: distinct filter evaluations per event (a cfilter
	 * evaluated for gen has memo_gen == gen). */
	for (size_t k = 0; k < N_EVENT_RING; k++) {
		tp_subindex_match(ix, &ring[k], ++gen, on_match, &c);
		for (size_t i = 0; i < n_distinct; i++)
			evaluations += distinct[i]->memo_gen == gen;
	}
	c.matched = 0;

	/* Timed pass. */
	blocks_before = tp_alloc_blocks();
	tp_alloc_fail_at(0); /* resets the attempt counter */
	t0 = tp_mono();
	for (size_t k = 0; k < n_events; k++) {
		tp_subindex_match(ix, &ring[k & (N_EVENT_RING - 1)], ++gen,
				  on_match, &c);
		examined += tp_subindex_last_examined(ix);
	}
	t1 = tp_mono();
	attempts = tp_alloc_fail_at(0);
	blocks_after = tp_alloc_blocks();
	secs = t1 - t0;

	printf("events: %zu in %.3f s = %.0f events/s (%.2f us/event)\n",
	       n_events, secs, (double)n_events / secs,
	       secs * 1e6 / (double)n_events);
	printf("candidates examined: %.1f/event (%.1f%% of subscriptions); "
	       "matched %.1f/event (%.2f%%)\n",
	       (double)examined / (double)n_events,
	       100.0 * (double)examined / (double)n_events / (double)n_subs,
	       (double)c.matched / (double)n_events,
	       100.0 * (double)c.matched / (double)n_events / (double)n_subs);
	/* A candidate is one distinct filter in a visited bucket (the index
	 * groups subscriptions by shared cfilter); the loop time also covers
	 * reporting every matched subscription. */
	printf("loop time per (event, candidate): %.2f ns (includes reporting "
	       "the matches); filter evaluations %.1f/event\n",
	       secs * 1e9 / (double)examined,
	       (double)evaluations / N_EVENT_RING);
	printf("allocations during the timed loop: %zu attempted, live blocks "
	       "%zu -> %zu (%s)\n",
	       attempts, blocks_before, blocks_after,
	       attempts == 0 && blocks_after == blocks_before ? "zero: OK"
							      : "NOT ZERO");

	/* The bare filter check: every distinct filter against a stream of
	 * events, no index, no memo. */
	{
		size_t pairs = 0, hits = 0;
		size_t rounds = 20000000 / (n_distinct ? n_distinct : 1) + 1;

		t0 = tp_mono();
		for (size_t k = 0; k < rounds; k++) {
			const struct tp_pattern *p =
				&ring[k & (N_EVENT_RING - 1)];

			for (size_t i = 0; i < n_distinct; i++)
				hits += tp_filter_match(&distinct[i]->filter, p);
			pairs += n_distinct;
		}
		t1 = tp_mono();
		check_ns = (t1 - t0) * 1e9 / (double)pairs;
		printf("tp_filter_match alone: %.2f ns per (event, filter) over "
		       "%zu pairs (%.2f%% matched)\n",
		       check_ns, pairs, 100.0 * (double)hits / (double)pairs);
	}

	for (size_t i = 0; i < n_subs; i++) {
		tp_subindex_remove(ix, subs[i].e);
		tp_fcache_release(fc, subs[i].cf);
	}
	tp_subindex_destroy(ix);
	tp_fcache_destroy(fc);
	free(ring);
	free(subs);
	free(distinct);
	return attempts == 0 && blocks_after == blocks_before ? 0 : 2;
}
