/*
 * gen.c - tickpush-sim event generator.
 *
 * Responsibilities: turn a seeded PRNG and a wall-clock time into realistic
 * TickStockPL events (docs/events.md): a weighted pattern-type mix, a
 * Zipf-like symbol popularity, per-symbol random-walking prices, detector-like
 * confidences (Beta around 0.7), tier-dependent expiry horizons, updates and
 * expiries of recently detected patterns (same symbol/pattern/detected_at, so
 * the id matches), every producer shape (A nested, B flat, C double-nested,
 * D alternative names and ISO-8601 times) and malformed events.
 *
 * Invariants: no I/O and no clock reads; the same seed and the same `now`
 * sequence give the same bytes. Times that end up in ids are kept as integer
 * milliseconds so epoch and ISO renderings of one event agree exactly.
 *
 * Ownership: the state owns rank/zipf_cdf/price (tp_malloc); the symbol table
 * is borrowed from the caller (or the compiled-in one). The output buffer
 * belongs to the caller and is reset on every call.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/err.h"

/* ---- PRNG: xoshiro256** seeded through splitmix64 ---- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(struct sim_state *st)
{
	uint64_t *s = st->rng;
	uint64_t r = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

double sim_rand01(struct sim_state *st)
{
	return (double)(next_u64(st) >> 11) * 0x1.0p-53;
}

static double uniform(struct sim_state *st, double lo, double hi)
{
	return lo + (hi - lo) * sim_rand01(st);
}

static size_t below(struct sim_state *st, size_t n)
{
	size_t i = (size_t)(sim_rand01(st) * (double)n);

	return i < n ? i : n - 1;
}

static bool chance(struct sim_state *st, double p)
{
	return sim_rand01(st) < p;
}

static double normal(struct sim_state *st)
{
	/* Box-Muller; 1 - u keeps the log argument in (0, 1]. */
	double u1 = 1.0 - sim_rand01(st), u2 = sim_rand01(st);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double gamma_draw(struct sim_state *st, double a)
{
	/* Marsaglia-Tsang, valid for a >= 1 (all our shapes are). */
	double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);

	for (;;) {
		double x = normal(st), v = 1.0 + c * x, u;

		if (v <= 0)
			continue;
		v = v * v * v;
		u = 1.0 - sim_rand01(st);
		if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
			return d * v;
	}
}

static double beta_draw(struct sim_state *st, double a, double b)
{
	double x = gamma_draw(st, a), y = gamma_draw(st, b);

	return x / (x + y);
}

static double clamp(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Rounds to `unit` (0.1, 0.01, 0.001): dividing by the exact integer scale
 * gives the double nearest the decimal, so it prints short. */
static double round_to(double v, double unit)
{
	double scale = round(1.0 / unit);

	return round(v * scale) / scale;
}

/* ---- tables ---- */

struct pattern_def {
	const char *name;
	double weight;     /* relative frequency */
	double bias;       /* mean price_change, percent */
	bool daily_only;
};

/* Candlesticks are cheap to detect and frequent; multi-bar structures rare. */
static const struct pattern_def patterns[] = {
	{"Doji", 16, 0.0, false},
	{"Hammer", 14, 0.6, false},
	{"Engulfing", 14, 0.3, false},
	{"Volume_Spike", 10, 0.8, false},
	{"Support_Test", 8, -0.2, false},
	{"Momentum_Shift", 7, 0.4, false},
	{"Gap_Fill", 6, -0.3, false},
	{"Resistance_Break", 6, 1.2, false},
	{"Trendline_Hold", 5, 0.3, false},
	{"Bull_Flag", 4, 1.0, false},
	{"Reversal_Signal", 4, -0.5, false},
	{"Weekly_Breakout", 3, 2.0, true},
	{"Ascending_Triangle", 3, 1.1, false},
};
#define NPATTERNS (sizeof(patterns) / sizeof(patterns[0]))

/* Liquid large caps dominate real detector output: they head the ranking. */
static const char *const popular[] = {
	"AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "AVGO",
	"BRK.B", "JPM", "LLY", "V", "UNH", "XOM", "MA", "JNJ", "PG", "HD",
	"COST", "NFLX", "AMD", "ORCL", "CRM", "BAC", "ABBV", "WMT", "KO",
	"PEP", "MRK", "CVX", "ADBE", "INTC", "DIS", "CSCO", "QCOM", "PLTR",
	"UBER", "PYPL", "BA", "GS",
};

#define ZIPF_S 0.95

const char *sim_kind_name(enum sim_kind k)
{
	switch (k) {
	case SIM_K_DETECTED: return "detected";
	case SIM_K_UPDATED: return "updated";
	case SIM_K_EXPIRED: return "expired";
	case SIM_K_PROGRESS: return "progress";
	case SIM_K_RESULT: return "result";
	case SIM_K_HEALTH: return "health";
	case SIM_K_MALFORMED: return "malformed";
	case SIM_K__COUNT: break;
	}
	return "unknown";
}

const char *sim_bad_name(enum sim_bad b)
{
	switch (b) {
	case SIM_BAD_NONE: return "none";
	case SIM_BAD_JSON: return "bad_json";
	case SIM_BAD_NOT_OBJECT: return "not_object";
	case SIM_BAD_NO_SYMBOL: return "no_symbol";
	case SIM_BAD_CONFIDENCE: return "confidence";
	case SIM_BAD_SYMBOL_CHARS: return "symbol_chars";
	case SIM_BAD_DIAGNOSTIC: return "diagnostic";
	case SIM_BAD_OVERSIZED: return "oversized";
	case SIM_BAD_WRONG_TYPE: return "wrong_type";
	case SIM_BAD_EVENT_TYPE: return "event_type";
	case SIM_BAD_NO_JOB_ID: return "no_job_id";
	case SIM_BAD__COUNT: break;
	}
	return "unknown";
}

/* ---- state ---- */

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static const struct sim_symbol *rank_syms; /* qsort context (init only) */

static int rank_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	uint32_t hx = fnv1a(rank_syms[x].symbol), hy = fnv1a(rank_syms[y].symbol);

	if (hx != hy)
		return hx < hy ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Popularity order: the well-known large caps first, the rest in a
 * hash order that does not depend on the seed or the file order. */
static int build_rank(struct sim_state *st)
{
	size_t n = st->nsymbols, top = 0, i, j;
	bool *used = tp_calloc(n, sizeof(*used));

	if (!used)
		return TP_ERR_NOMEM;
	for (i = 0; i < TP_ARRAY_SIZE(popular); i++) {
		for (j = 0; j < n; j++) {
			if (!used[j] && strcmp(st->symbols[j].symbol, popular[i]) == 0) {
				used[j] = true;
				st->rank[top++] = (uint32_t)j;
				break;
			}
		}
	}
	for (j = 0, i = top; j < n; j++)
		if (!used[j])
			st->rank[i++] = (uint32_t)j;
	rank_syms = st->symbols;
	qsort(st->rank + top, n - top, sizeof(st->rank[0]), rank_cmp);
	rank_syms = NULL;
	tp_free(used);
	return TP_OK;
}

int sim_state_init(struct sim_state *st, const struct sim_opts *opts)
{
	uint64_t x;
	double total = 0;
	size_t i;

	memset(st, 0, sizeof(*st));
	st->opts = *opts;
	st->symbols = opts->symbols ? opts->symbols : sim_symbols_builtin;
	st->nsymbols = opts->symbols ? opts->nsymbols : sim_symbols_builtin_count;
	if (st->nsymbols == 0 || st->nsymbols > UINT32_MAX)
		return TP_ERR_INVAL;
	x = opts->seed;
	for (i = 0; i < 4; i++)
		st->rng[i] = splitmix64(&x);
	st->rank = tp_calloc(st->nsymbols, sizeof(*st->rank));
	st->zipf_cdf = tp_calloc(st->nsymbols, sizeof(*st->zipf_cdf));
	st->price = tp_calloc(st->nsymbols, sizeof(*st->price));
	if (!st->rank || !st->zipf_cdf || !st->price)
		goto fail;
	if (build_rank(st) != TP_OK)
		goto fail;
	for (i = 0; i < st->nsymbols; i++) {
		total += 1.0 / pow((double)(i + 1), ZIPF_S);
		st->zipf_cdf[i] = total;
	}
	for (i = 0; i < st->nsymbols; i++) {
		st->zipf_cdf[i] /= total;
		st->price[i] = clamp(exp(4.4 + 0.8 * normal(st)), 5.0, 3000.0);
	}
	st->started = NAN;
	return TP_OK;
fail:
	sim_state_cleanup(st);
	return TP_ERR_NOMEM;
}

void sim_state_cleanup(struct sim_state *st)
{
	if (!st)
		return;
	TP_FREE(st->rank);
	TP_FREE(st->zipf_cdf);
	TP_FREE(st->price);
}

static uint32_t pick_symbol_index(struct sim_state *st)
{
	double u = sim_rand01(st);
	size_t lo = 0, hi = st->nsymbols - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (st->zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return st->rank[lo];
}

const char *sim_pick_symbol(struct sim_state *st)
{
	return st->symbols[pick_symbol_index(st)].symbol;
}

static uint16_t pick_pattern(struct sim_state *st)
{
	double total = 0, u;
	size_t i;

	for (i = 0; i < NPATTERNS; i++)
		total += patterns[i].weight;
	u = sim_rand01(st) * total;
	for (i = 0; i < NPATTERNS - 1; i++) {
		if (u < patterns[i].weight)
			break;
		u -= patterns[i].weight;
	}
	return (uint16_t)i;
}

/* ---- a tiny comma-tracking JSON writer over tp_buf ---- */

struct jw {
	struct tp_buf *b;
	int depth;
	bool comma[8];
};

static void jw_key(struct jw *w, const char *k)
{
	if (w->comma[w->depth])
		tp_buf_putc(w->b, ',');
	w->comma[w->depth] = true;
	if (k) {
		tp_buf_json_str(w->b, k);
		tp_buf_putc(w->b, ':');
	}
}

static void jw_open(struct jw *w, const char *k)
{
	jw_key(w, k);
	tp_buf_putc(w->b, '{');
	TP_ASSERT(w->depth + 1 < (int)TP_ARRAY_SIZE(w->comma));
	w->comma[++w->depth] = false;
}

static void jw_close(struct jw *w)
{
	tp_buf_putc(w->b, '}');
	w->depth--;
}

static void jw_str(struct jw *w, const char *k, const char *v)
{
	jw_key(w, k);
	tp_buf_json_str(w->b, v);
}

static void jw_num(struct jw *w, const char *k, double v)
{
	jw_key(w, k);
	tp_buf_json_num(w->b, v);
}

/* Fixed decimals: prices and percentages look like the producer's. */
static void jw_fix(struct jw *w, const char *k, double v, int decimals)
{
	jw_key(w, k);
	tp_buf_printf(w->b, "%.*f", decimals, v);
}

static void jw_raw(struct jw *w, const char *k, const char *raw)
{
	jw_key(w, k);
	tp_buf_puts(w->b, raw);
}

static void jw_init(struct jw *w, struct tp_buf *b)
{
	memset(w, 0, sizeof(*w));
	w->b = b;
}

/* ---- times ---- */

static double ms_to_s(int64_t ms)
{
	return (double)ms / 1000.0;
}

static int64_t s_to_ms(double s)
{
	return (int64_t)llround(s * 1000.0);
}

/* ISO-8601 variants the producer has used. */
enum iso_style { ISO_Z, ISO_Z_US, ISO_UTC_OFFSET, ISO_PLUS2, ISO_MINUS5, ISO_NAIVE, ISO__COUNT };

static void iso_format(int64_t ms, enum iso_style style, char *out, size_t outlen)
{
	int offset_min = style == ISO_PLUS2 ? 120 : style == ISO_MINUS5 ? -300 : 0;
	int64_t local = ms + (int64_t)offset_min * 60000;
	int64_t secs = local >= 0 ? local / 1000 : -((-local + 999) / 1000);
	int frac = (int)(local - secs * 1000);
	time_t t = (time_t)secs;
	struct tm tm;
	char base[32];
	const char *suffix = "";

	gmtime_r(&t, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	switch (style) {
	case ISO_Z: suffix = "Z"; break;
	case ISO_Z_US: snprintf(out, outlen, "%s.%03d000Z", base, frac); return;
	case ISO_UTC_OFFSET: suffix = "+00:00"; break;
	case ISO_PLUS2: suffix = "+02:00"; break;
	case ISO_MINUS5: suffix = "-05:00"; break;
	case ISO_NAIVE: case ISO__COUNT: break;
	}
	snprintf(out, outlen, "%s.%03d%s", base, frac, suffix);
}

static void jw_time(struct jw *w, const char *k, int64_t ms, bool iso,
		    struct sim_state *st)
{
	char tmp[48];

	if (!iso) {
		jw_num(w, k, ms_to_s(ms));
		return;
	}
	iso_format(ms, (enum iso_style)below(st, ISO__COUNT), tmp, sizeof(tmp));
	jw_str(w, k, tmp);
}

/* ---- pattern events ---- */

struct pat {
	uint32_t sym;
	uint16_t pat;
	enum tp_tier tier;
	double confidence;
	double price;
	double change;
	int64_t detected_ms;
	int64_t expires_ms;
	double rs, rvol, rsi, sma20;
	long volume;
	char flow_id[40];
};

/* How to render one pattern event (shape, names, deliberate faults). */
struct ropts {
	const char *event_type;
	char shape;          /* 'A', 'B', 'C', 'D' */
	bool pct;            /* confidence as a percentage */
	bool stamp;
	double now;
	enum sim_bad bad;
	size_t pad;          /* oversized: bytes of filler */
};

static const char *const bad_symbols[] = {
	"AA PL", "AAPL$", "BRK B", "MS\\u00c4FT", "TOOLONGSYMBOLNAME1", "GO*OG", "",
};

static enum tp_tier pick_tier(struct sim_state *st, const struct pattern_def *pd)
{
	double u = sim_rand01(st);

	if (pd->daily_only)
		return TP_TIER_DAILY;
	return u < 0.55 ? TP_TIER_INTRADAY : u < 0.85 ? TP_TIER_DAILY : TP_TIER_COMBO;
}

static double horizon_s(struct sim_state *st, enum tp_tier tier)
{
	switch (tier) {
	case TP_TIER_INTRADAY: return uniform(st, 15 * 60, 60 * 60);
	case TP_TIER_COMBO: return uniform(st, 60 * 60, 3 * 3600);
	case TP_TIER_DAILY: case TP_TIER_UNKNOWN: break;
	}
	return uniform(st, 3 * 3600, 12 * 3600);
}

static double draw_confidence(struct sim_state *st)
{
	/* Beta(13, 5.5): mean ~0.70, sd ~0.10, like the detectors' output. */
	return round_to(clamp(beta_draw(st, 13.0, 5.5), 0.30, 0.99), 0.001);
}

static void fill_market(struct sim_state *st, struct pat *p)
{
	const struct pattern_def *pd = &patterns[p->pat];
	double *price = &st->price[p->sym];

	*price = clamp(*price * exp(0.006 * normal(st)), 1.0, 10000.0);
	p->price = round_to(*price, 0.01);
	p->change = round_to(clamp(pd->bias + 1.3 * normal(st), -15, 15), 0.01);
	p->rs = round_to(exp(0.25 * normal(st)), 0.01);
	p->rvol = exp(0.15 + 0.6 * normal(st));
	if (strcmp(pd->name, "Volume_Spike") == 0)
		p->rvol = 2.0 + p->rvol * 1.5;
	p->rvol = round_to(clamp(p->rvol, 0.05, 50), 0.01);
	p->rsi = round_to(clamp(50 + 12 * normal(st) + 3 * pd->bias, 20, 80), 0.1);
	p->sma20 = round_to(p->price * (1 - 0.02 * normal(st) - pd->bias / 100), 0.01);
	p->volume = lround(clamp(exp(13.5 + 1.2 * normal(st)) * p->rvol, 1e3, 5e8));
	snprintf(p->flow_id, sizeof(p->flow_id), "%08x-%04x-4%03x-%04x-%012llx",
		 (unsigned)(next_u64(st) & 0xffffffffu),
		 (unsigned)(next_u64(st) & 0xffff), (unsigned)(next_u64(st) & 0xfff),
		 (unsigned)(0x8000 | (next_u64(st) & 0x3fff)),
		 (unsigned long long)(next_u64(st) & 0xffffffffffffULL));
}

static void new_pattern(struct sim_state *st, double now, struct pat *p)
{
	memset(p, 0, sizeof(*p));
	p->sym = pick_symbol_index(st);
	p->pat = pick_pattern(st);
	p->tier = pick_tier(st, &patterns[p->pat]);
	p->confidence = draw_confidence(st);
	/* Detection happens a moment before publication. */
	p->detected_ms = s_to_ms(now - uniform(st, 0.0, 2.0));
	p->expires_ms = p->detected_ms + s_to_ms(horizon_s(st, p->tier));
	fill_market(st, p);
}

static void remember(struct sim_state *st, const struct pat *p)
{
	struct sim_recent *r;

	if (st->nrecent < SIM_RECENT_MAX) {
		r = &st->recent[st->nrecent++];
	} else {
		r = &st->recent[st->recent_head];
		st->recent_head = (st->recent_head + 1) % SIM_RECENT_MAX;
	}
	r->sym = p->sym;
	r->pat = p->pat;
	r->tier = (uint8_t)p->tier;
	r->detected_at = ms_to_s(p->detected_ms);
	r->expires_at = ms_to_s(p->expires_ms);
	r->confidence = p->confidence;
}

static void forget(struct sim_state *st, size_t i)
{
	st->recent[i] = st->recent[--st->nrecent];
	if (st->recent_head >= st->nrecent)
		st->recent_head = 0;
}

/* A recent pattern that has not expired yet, or -1. */
static long pick_recent(struct sim_state *st, double now)
{
	int tries;

	for (tries = 0; st->nrecent > 0 && tries < 6; tries++) {
		size_t i = below(st, st->nrecent);

		if (st->recent[i].expires_at > now + 1.0)
			return (long)i;
	}
	return -1;
}

static void from_recent(struct sim_state *st, const struct sim_recent *r,
			struct pat *p)
{
	memset(p, 0, sizeof(*p));
	p->sym = r->sym;
	p->pat = r->pat;
	p->tier = (enum tp_tier)r->tier;
	p->detected_ms = s_to_ms(r->detected_at);
	p->expires_ms = s_to_ms(r->expires_at);
	p->confidence = r->confidence;
	fill_market(st, p);
}

static void put_symbol(struct jw *w, struct sim_state *st, const struct pat *p,
		       const struct ropts *ro, const char *key)
{
	if (ro->bad == SIM_BAD_NO_SYMBOL)
		return;
	if (ro->bad == SIM_BAD_SYMBOL_CHARS) {
		/* Raw, so the \u escape reaches the parser as written. */
		char tmp[64];

		snprintf(tmp, sizeof(tmp), "\"%s\"",
			 bad_symbols[below(st, TP_ARRAY_SIZE(bad_symbols))]);
		jw_raw(w, key, tmp);
		return;
	}
	if (ro->bad == SIM_BAD_WRONG_TYPE && chance(st, 0.34)) {
		jw_num(w, key, 12345);
		return;
	}
	jw_str(w, key, st->symbols[p->sym].symbol);
}

static void put_confidence(struct jw *w, struct sim_state *st,
			   const struct pat *p, const struct ropts *ro)
{
	if (ro->bad == SIM_BAD_CONFIDENCE) {
		jw_raw(w, "confidence", chance(st, 0.7) ? "7.5e3" : "-0.25");
		return;
	}
	if (ro->bad == SIM_BAD_WRONG_TYPE) {
		jw_raw(w, "confidence", chance(st, 0.5) ? "\"0.85\"" : "true");
		return;
	}
	if (ro->pct)
		jw_fix(w, "confidence", p->confidence * 100.0, 1);
	else
		jw_num(w, "confidence", p->confidence);
}

/* With --stamp the publish time also goes into indicators: tickpush passes
 * unknown indicator keys through to the pushed row, so a dashboard can
 * measure publish-to-screen latency (the event's own published_at stays
 * for other consumers). */
static void put_indicators(struct jw *w, const struct pat *p, double stamp)
{
	jw_open(w, "indicators");
	jw_fix(w, "relative_strength", p->rs, 2);
	jw_fix(w, "relative_volume", p->rvol, 2);
	jw_fix(w, "rsi", p->rsi, 1);
	jw_fix(w, "sma_20", p->sma20, 2);
	if (stamp > 0)
		jw_fix(w, "published_at", stamp, 6);
	jw_close(w);
}

static void put_padding(struct jw *w, size_t n)
{
	size_t i;

	jw_key(w, "notes");
	tp_buf_putc(w->b, '"');
	if (!tp_buf_reserve(w->b, n + 1))
		return;
	for (i = 0; i < n; i++)
		tp_buf_putc(w->b, (char)('a' + i % 26));
	tp_buf_putc(w->b, '"');
}

/* The record fields of a nested event (shapes A, C, D). */
static void put_record(struct jw *w, struct sim_state *st, const struct pat *p,
		       const struct ropts *ro)
{
	bool alt = ro->shape == 'D';
	const char *pname = patterns[p->pat].name;

	put_symbol(w, st, p, ro, alt ? "ticker" : "symbol");
	if (ro->bad == SIM_BAD_WRONG_TYPE && chance(st, 0.3)) {
		jw_key(w, "pattern");
		tp_buf_printf(w->b, "[\"%s\"]", pname);
	} else {
		jw_str(w, alt ? (chance(st, 0.5) ? "pattern_type" : "pattern_name")
			      : "pattern", pname);
	}
	put_confidence(w, st, p, ro);
	jw_fix(w, alt ? "price" : "current_price", p->price, 2);
	jw_fix(w, "price_change", p->change, 2);
	jw_time(w, "timestamp", p->detected_ms, alt && chance(st, 0.8), st);
	if (alt && chance(st, 0.5))
		jw_time(w, "detected_at", p->detected_ms, chance(st, 0.8), st);
	jw_time(w, "expires_at", p->expires_ms, alt && chance(st, 0.8), st);
	put_indicators(w, p, ro->stamp ? ro->now : 0);
	jw_str(w, "source", tp_tier_name(p->tier));
	jw_str(w, "flow_id", p->flow_id);
	jw_str(w, "tier", tp_tier_name(p->tier));
	jw_num(w, "volume", (double)p->volume);
	if (ro->pad)
		put_padding(w, ro->pad);
	if (ro->stamp)
		jw_fix(w, "published_at", ro->now, 6);
}

static void render_pattern(struct sim_state *st, struct tp_buf *b,
			   const struct pat *p, const struct ropts *ro)
{
	struct jw w;
	int64_t now_ms = s_to_ms(ro->now);

	jw_init(&w, b);
	jw_open(&w, NULL);
	if (ro->bad != SIM_BAD_EVENT_TYPE || chance(st, 0.5))
		jw_str(&w, "event_type", ro->bad == SIM_BAD_EVENT_TYPE
					 ? "pattern_exploded" : ro->event_type);
	switch (ro->shape) {
	case 'B':
		jw_str(&w, "source", "tickstock_pl");
		jw_time(&w, "timestamp", p->detected_ms, false, st);
		jw_str(&w, "pattern", patterns[p->pat].name);
		put_symbol(&w, st, p, ro, "symbol");
		put_confidence(&w, st, p, ro);
		jw_fix(&w, "current_price", p->price, 2);
		jw_fix(&w, "price_change", p->change, 2);
		jw_time(&w, "expires_at", p->expires_ms, false, st);
		jw_str(&w, "tier", tp_tier_name(p->tier));
		put_indicators(&w, p, ro->stamp ? ro->now : 0);
		jw_open(&w, "details");
		jw_str(&w, "timeframe", p->tier == TP_TIER_INTRADAY ? "5min" : "1D");
		jw_num(&w, "volume", (double)p->volume);
		jw_str(&w, "flow_id", p->flow_id);
		if (ro->pad)
			put_padding(&w, ro->pad);
		jw_close(&w);
		if (ro->stamp)
			jw_fix(&w, "published_at", ro->now, 6);
		break;
	case 'C':
		jw_open(&w, "data");
		jw_str(&w, "event_type", ro->event_type);
		jw_open(&w, "data");
		put_record(&w, st, p, ro);
		jw_close(&w);
		jw_close(&w);
		break;
	default: /* 'A' and 'D' */
		jw_str(&w, "source", "TickStockPL");
		jw_time(&w, "timestamp", now_ms, ro->shape == 'D' && chance(st, 0.8), st);
		jw_open(&w, "data");
		put_record(&w, st, p, ro);
		jw_close(&w);
		break;
	}
	jw_close(&w);
}

static char pick_shape(struct sim_state *st)
{
	double u;

	if (!st->opts.shapes)
		return 'A';
	u = sim_rand01(st);
	return u < 0.4 ? 'A' : u < 0.6 ? 'B' : u < 0.8 ? 'C' : 'D';
}

static void describe_pattern(struct sim_state *st, const struct pat *p,
			     const struct ropts *ro, struct sim_info *info)
{
	info->channel = TP_CH_PATTERNS;
	info->shape = ro->shape;
	snprintf(info->symbol, sizeof(info->symbol), "%s", st->symbols[p->sym].symbol);
	info->pattern_type = patterns[p->pat].name;
	info->confidence = p->confidence;
	info->detected_at = ms_to_s(p->detected_ms);
	info->expires_at = ms_to_s(p->expires_ms);
	info->tier = p->tier;
	/* Flat events carry "source":"tickstock_pl" beside "tier". */
	info->tier_checkable = ro->shape != 'B';
	snprintf(info->id, sizeof(info->id), "%s:%s:%lld", info->symbol,
		 info->pattern_type, (long long)(p->detected_ms / 1000));
}

static enum sim_kind gen_pattern(struct sim_state *st, double now,
				 struct tp_buf *out, struct sim_info *info)
{
	struct ropts ro = {.now = now, .stamp = st->opts.stamp};
	struct pat p;
	enum sim_kind kind = SIM_K_DETECTED;
	double u = sim_rand01(st);
	long ri = -1;

	if (u < 0.13)
		ri = pick_recent(st, now);
	if (ri >= 0) {
		from_recent(st, &st->recent[ri], &p);
		if (u < 0.10) {
			kind = SIM_K_UPDATED;
			/* Detectors refine their score as bars come in. */
			p.confidence = round_to(clamp(p.confidence + 0.04 * normal(st),
						      0.30, 0.99), 0.001);
			st->recent[ri].confidence = p.confidence;
		} else {
			kind = SIM_K_EXPIRED;
			forget(st, (size_t)ri);
		}
	} else {
		new_pattern(st, now, &p);
		remember(st, &p);
	}
	ro.event_type = kind == SIM_K_DETECTED ? "pattern_detected"
		       : kind == SIM_K_UPDATED ? "pattern_updated" : "pattern_expired";
	ro.shape = pick_shape(st);
	ro.pct = ro.shape == 'D' && chance(st, 0.3);
	render_pattern(st, out, &p, &ro);
	info->kind = kind;
	describe_pattern(st, &p, &ro, info);
	return kind;
}

/* ---- backtest and health events ---- */

/* Flat, or (shapes) the same fields inside a "data" envelope. */
static void open_flat(struct jw *w, struct sim_state *st, const char *event_type,
		      double now, bool envelope)
{
	jw_open(w, NULL);
	jw_str(w, "event_type", event_type);
	jw_str(w, "source", "tickstock_pl");
	jw_fix(w, "timestamp", now, 3);
	if (envelope)
		jw_open(w, "data");
	if (st->opts.stamp)
		jw_fix(w, "published_at", now, 6);
}

static void close_flat(struct jw *w, bool envelope)
{
	if (envelope)
		jw_close(w);
	jw_close(w);
}

static bool want_envelope(struct sim_state *st)
{
	return st->opts.shapes && chance(st, 0.5);
}

void sim_gen_backtest_progress(struct sim_state *st, double now,
			       struct tp_buf *out, const char *job_id,
			       double progress, const char *current_symbol,
			       unsigned processed, double eta)
{
	struct jw w;
	bool env = want_envelope(st);

	tp_buf_reset(out);
	jw_init(&w, out);
	open_flat(&w, st, "backtest_progress", now, env);
	if (job_id)
		jw_str(&w, "job_id", job_id);
	jw_fix(&w, "progress", clamp(progress, 0, 1), 4);
	jw_str(&w, "status", "processing");
	jw_fix(&w, "estimated_completion", eta, 3);
	jw_str(&w, "current_symbol", current_symbol);
	jw_num(&w, "processed_symbols", processed);
	close_flat(&w, env);
}

void sim_gen_backtest_result(struct sim_state *st, double now,
			     struct tp_buf *out, const char *job_id,
			     const char *status, double processing_time)
{
	struct jw w;
	bool env = want_envelope(st);

	tp_buf_reset(out);
	jw_init(&w, out);
	open_flat(&w, st, "backtest_result", now, env);
	jw_str(&w, "job_id", job_id);
	jw_str(&w, "status", status);
	if (strcmp(status, "completed") == 0) {
		double win = clamp(0.55 + 0.08 * normal(st), 0.2, 0.9);

		jw_open(&w, "results");
		jw_fix(&w, "win_rate", win, 3);
		jw_num(&w, "total_trades", (double)(20 + below(st, 400)));
		jw_fix(&w, "roi", clamp(0.08 + 0.1 * normal(st), -0.5, 1.5), 4);
		jw_fix(&w, "sharpe_ratio", clamp(1.2 + 0.6 * normal(st), -2, 4), 2);
		jw_fix(&w, "max_drawdown", clamp(0.08 + 0.04 * normal(st), 0.01, 0.6), 4);
		jw_close(&w);
	} else if (strcmp(status, "failed") == 0) {
		jw_str(&w, "error", "insufficient market data for the requested range");
	}
	jw_fix(&w, "processing_time_seconds", processing_time, 1);
	close_flat(&w, env);
}

void sim_gen_health(struct sim_state *st, double now, struct tp_buf *out,
		    struct sim_info *info)
{
	struct jw w;
	bool env = want_envelope(st);
	double u = sim_rand01(st);

	if (isnan(st->started))
		st->started = now - uniform(st, 0.5, 200) * 3600;
	tp_buf_reset(out);
	jw_init(&w, out);
	open_flat(&w, st, "system_health", now, env);
	jw_str(&w, "status", u < 0.93 ? "healthy" : u < 0.98 ? "degraded" : "warning");
	jw_open(&w, "metrics");
	jw_fix(&w, "cpu_usage", clamp(0.35 + 0.12 * normal(st), 0.01, 1), 3);
	jw_fix(&w, "memory_usage", clamp(0.6 + 0.06 * normal(st), 0.05, 1), 3);
	jw_num(&w, "active_jobs", (double)below(st, 6));
	jw_num(&w, "queue_depth", (double)below(st, 40));
	jw_fix(&w, "uptime_hours", (now - st->started) / 3600.0, 2);
	jw_close(&w);
	close_flat(&w, env);
	if (info) {
		memset(info, 0, sizeof(*info));
		info->kind = SIM_K_HEALTH;
		info->channel = TP_CH_HEALTH;
		info->shape = env ? 'A' : 'F';
	}
}

static enum sim_kind gen_backtest(struct sim_state *st, double now,
				  struct tp_buf *out, struct sim_info *info)
{
	char job[TP_JOB_ID_MAX + 1];

	snprintf(job, sizeof(job), "job_%06u", (unsigned)below(st, 1000000));
	snprintf(info->job_id, sizeof(info->job_id), "%s", job);
	if (chance(st, 0.7)) {
		double prog = round_to(sim_rand01(st), 0.01);

		sim_gen_backtest_progress(st, now, out, job, prog,
					  sim_pick_symbol(st),
					  (unsigned)(prog * 100), now + uniform(st, 5, 300));
		info->kind = SIM_K_PROGRESS;
		info->channel = TP_CH_BACKTEST_PROGRESS;
	} else {
		sim_gen_backtest_result(st, now, out, job,
					chance(st, 0.9) ? "completed" : "failed",
					uniform(st, 3, 120));
		info->kind = SIM_K_RESULT;
		info->channel = TP_CH_BACKTEST_RESULTS;
	}
	return info->kind;
}

/* ---- malformed events ---- */

static enum tp_channel any_channel(struct sim_state *st)
{
	return chance(st, 0.7) ? TP_CH_PATTERNS : (enum tp_channel)below(st, TP_CH__COUNT);
}

static enum sim_kind gen_malformed(struct sim_state *st, double now,
				   struct tp_buf *out, struct sim_info *info)
{
	enum sim_bad bad = (enum sim_bad)(1 + below(st, SIM_BAD__COUNT - 1));
	struct ropts ro = {.now = now, .event_type = "pattern_detected",
			   .shape = pick_shape(st), .bad = bad};
	struct pat p;
	struct jw w;

	info->kind = SIM_K_MALFORMED;
	info->bad = bad;
	info->channel = TP_CH_PATTERNS;
	new_pattern(st, now, &p);
	switch (bad) {
	case SIM_BAD_JSON: {
		static const char *const junk[] = {
			"", "pattern_detected AAPL 0.85", "{'symbol': 'AAPL', 'pattern': 'Doji'}",
			"{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"AAPL\",}}",
			"{\"event_type\":\"pattern_detected\" \"symbol\":\"AAPL\"}", "\xff\xfe{}",
		};
		info->channel = any_channel(st);
		if (chance(st, 0.5)) {
			/* Truncated in flight: a valid event cut short. */
			render_pattern(st, out, &p, &(struct ropts){
				.now = now, .event_type = "pattern_detected", .shape = 'A'});
			out->len = 1 + below(st, out->len - 1);
		} else {
			tp_buf_puts(out, junk[below(st, TP_ARRAY_SIZE(junk))]);
		}
		break;
	}
	case SIM_BAD_NOT_OBJECT: {
		static const char *const junk[] = {
			"[{\"symbol\":\"AAPL\",\"pattern\":\"Doji\",\"confidence\":0.8}]",
			"\"pattern_detected\"", "42", "null", "true",
		};
		info->channel = any_channel(st);
		tp_buf_puts(out, junk[below(st, TP_ARRAY_SIZE(junk))]);
		break;
	}
	case SIM_BAD_DIAGNOSTIC:
		info->channel = (enum tp_channel)below(st, TP_CH__COUNT);
		jw_init(&w, out);
		jw_open(&w, NULL);
		jw_str(&w, "test", "health_check");
		jw_fix(&w, "timestamp", now, 3);
		if (chance(st, 0.5))
			jw_str(&w, "source", "redis_monitor");
		jw_close(&w);
		break;
	case SIM_BAD_OVERSIZED:
		ro.pad = TP_EVENT_MAX_BYTES + 1 + below(st, 8192);
		render_pattern(st, out, &p, &ro);
		break;
	case SIM_BAD_NO_JOB_ID:
		info->channel = TP_CH_BACKTEST_PROGRESS;
		sim_gen_backtest_progress(st, now, out, NULL, sim_rand01(st), "AAPL",
					  3, now + 60);
		break;
	case SIM_BAD_EVENT_TYPE:
		/* Not C: a parser may fall back to the inner event_type. */
		ro.shape = chance(st, 0.5) ? 'A' : 'B';
		render_pattern(st, out, &p, &ro);
		break;
	case SIM_BAD_NO_SYMBOL: case SIM_BAD_CONFIDENCE: case SIM_BAD_SYMBOL_CHARS:
	case SIM_BAD_WRONG_TYPE:
		render_pattern(st, out, &p, &ro);
		break;
	case SIM_BAD_NONE: case SIM_BAD__COUNT:
		break;
	}
	return SIM_K_MALFORMED;
}

enum sim_kind sim_gen_next(struct sim_state *st, double now, struct tp_buf *out,
			   struct sim_info *info)
{
	struct sim_info local;
	enum sim_kind k;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	tp_buf_reset(out);
	if (isnan(st->started))
		st->started = now - uniform(st, 0.5, 200) * 3600;
	st->seq++;
	if (st->opts.malformed > 0 && chance(st, st->opts.malformed))
		k = gen_malformed(st, now, out, info);
	else if (st->opts.shapes && chance(st, 0.06))
		k = chance(st, 0.25) ? (sim_gen_health(st, now, out, info), SIM_K_HEALTH)
				     : gen_backtest(st, now, out, info);
	else
		k = gen_pattern(st, now, out, info);
	return k;
}
