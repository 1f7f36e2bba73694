/*
 * test_filter.c - the filter model: parameter validation (every parameter,
 * valid and invalid), list normalisation, overlay, canonical form, preset
 * JSON and the match tables.
 */
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/filter.h"
#include "tickpush/render.h"

/* ---- helpers ---------------------------------------------------------- */

/* Canonical form as an owned string (tp_free it). */
static char *canon(const struct tp_filter *f)
{
	struct tp_buf b;
	char *s;

	tp_buf_init(&b, 0);
	tp_filter_canonical(f, &b);
	assert_false(b.oom);
	s = tp_strdup(tp_buf_cstr(&b));
	tp_buf_cleanup(&b);
	assert_non_null(s);
	return s;
}

static void assert_canon_equal(const struct tp_filter *a,
			       const struct tp_filter *b)
{
	char *ca = canon(a), *cb = canon(b);

	assert_string_equal(ca, cb);
	tp_free(ca);
	tp_free(cb);
}

static void set_ok(struct tp_filter *f, const char *name, const char *value)
{
	struct tp_errdetail err = { { 0 }, NULL };
	int rc = tp_filter_set_param(f, name, value, &err);

	if (rc != TP_OK)
		fail_msg("%s=%s: rc %d (%s)", name, value, rc, err.msg);
}

static double number_of(const struct tp_filter *f, const char *name)
{
	if (!strcmp(name, "confidence_min"))
		return f->confidence_min;
	if (!strcmp(name, "rs_min"))
		return f->rs_min;
	if (!strcmp(name, "vol_min"))
		return f->vol_min;
	fail_msg("no number %s", name);
	return 0;
}

static unsigned bit_of(const char *name)
{
	static const struct {
		const char *name;
		unsigned bit;
	} bits[] = {
		{ "pattern_types", TP_FP_PATTERN_TYPES },
		{ "symbols", TP_FP_SYMBOLS },
		{ "confidence_min", TP_FP_CONFIDENCE_MIN },
		{ "rs_min", TP_FP_RS_MIN },
		{ "vol_min", TP_FP_VOL_MIN },
		{ "rsi_range", TP_FP_RSI_RANGE },
		{ "timeframe", TP_FP_TIMEFRAME },
		{ "sectors", TP_FP_SECTORS },
	};
	for (size_t i = 0; i < TP_ARRAY_SIZE(bits); i++)
		if (!strcmp(bits[i].name, name))
			return bits[i].bit;
	fail_msg("no bit %s", name);
	return 0;
}

static struct tp_pattern base_pattern(void)
{
	struct tp_pattern p;

	memset(&p, 0, sizeof(p));
	strcpy(p.id, "AAPL:Weekly_Breakout:1725456789");
	strcpy(p.symbol, "AAPL");
	strcpy(p.pattern_type, "Weekly_Breakout");
	strcpy(p.sector, "Technology");
	p.confidence = 0.8;
	p.rs = 1.4;
	p.rvol = 2.1;
	p.rsi = 65;
	p.tier = TP_TIER_DAILY;
	p.detected_at = 1725456789;
	p.expires_at = p.detected_at + 3600;
	return p;
}

static int from_json(const char *text, struct tp_filter *f,
		     struct tp_filter_refs *refs, struct tp_errdetail *err);

/* ---- defaults --------------------------------------------------------- */

static void test_defaults(void **state)
{
	struct tp_filter f;
	char *c;

	(void)state;
	tp_filter_init(&f);
	assert_true(f.confidence_min == 0.5);
	assert_true(f.rs_min == 0 && f.vol_min == 0);
	assert_true(f.rsi_min == 0 && f.rsi_max == 100);
	assert_int_equal(f.tier_mask, 0);
	assert_int_equal(f.given, 0);
	assert_int_equal(f.n_symbols + f.n_pattern_types + f.n_sectors, 0);
	c = canon(&f);
	assert_string_equal(c,
		"{\"pattern_types\":[],\"symbols\":[],\"sectors\":[],"
		"\"confidence_min\":0.5,\"rs_min\":0,\"vol_min\":0,"
		"\"rsi_range\":[0,100],\"tier_mask\":0,\"given\":0}");
	tp_free(c);
	tp_filter_cleanup(&f);
	tp_filter_cleanup(NULL);
}

/* ---- numbers ---------------------------------------------------------- */

static void test_numbers_valid(void **state)
{
	static const struct {
		const char *name, *value;
		double want;
	} t[] = {
		{ "confidence_min", "0", 0 },
		{ "confidence_min", "1", 1 },
		{ "confidence_min", "0.75", 0.75 },
		{ "confidence_min", " 0.6 ", 0.6 },
		{ "confidence_min", ".5", 0.5 },
		{ "confidence_min", "5e-1", 0.5 },
		{ "confidence_min", "+0.3", 0.3 },
		{ "confidence_min", "-0", 0 },
		{ "confidence_min", "1.0", 1 },
		{ "rs_min", "0", 0 },
		{ "rs_min", "1.5", 1.5 },
		{ "rs_min", "2E3", 2000 },
		{ "rs_min", "1000000", 1e6 },
		{ "vol_min", "0", 0 },
		{ "vol_min", "2.25", 2.25 },
		{ "vol_min", "1e-400", 0 }, /* underflows to zero: still a number */
	};

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(t); i++) {
		struct tp_filter f;

		tp_filter_init(&f);
		set_ok(&f, t[i].name, t[i].value);
		if (number_of(&f, t[i].name) != t[i].want)
			fail_msg("%s=%s gave %g, want %g", t[i].name, t[i].value,
				 number_of(&f, t[i].name), t[i].want);
		assert_int_equal(f.given, bit_of(t[i].name));
		tp_filter_cleanup(&f);
	}
}

static void test_numbers_invalid(void **state)
{
	static const char *const names[] = { "confidence_min", "rs_min",
					     "vol_min" };
	static const char *const bad_everywhere[] = {
		"", " ", "abc", "1.5x", "x1", "nan", "NaN", "-nan", "inf",
		"-inf", "Infinity", "0x10", "0x1p-1", "1e999", "-1e999", "1,5",
		"1 5", "--1", "+-1", "1e", "e1", ".", "-", "1..2", "\t", "0.5\n",
	};
	static const struct {
		const char *name, *value;
	} bad_range[] = {
		{ "confidence_min", "1.5" },
		{ "confidence_min", "-0.1" },
		{ "confidence_min", "1.0000001" },
		{ "confidence_min", "2" },
		{ "rs_min", "-1" },
		{ "rs_min", "-0.001" },
		{ "vol_min", "-5" },
		{ "vol_min", "-1e-300" },
	};

	(void)state;
	for (size_t n = 0; n < TP_ARRAY_SIZE(names); n++) {
		for (size_t i = 0; i < TP_ARRAY_SIZE(bad_everywhere); i++) {
			struct tp_filter f;
			struct tp_errdetail err = { { 0 }, NULL };
			int rc;

			tp_filter_init(&f);
			rc = tp_filter_set_param(&f, names[n], bad_everywhere[i],
						 &err);
			if (rc != TP_ERR_INVAL)
				fail_msg("%s=\"%s\" accepted", names[n],
					 bad_everywhere[i]);
			assert_non_null(err.field);
			assert_string_equal(err.field, names[n]);
			assert_non_null(strstr(err.msg, names[n]));
			assert_int_equal(f.given, 0);
			assert_true(number_of(&f, names[n]) ==
				    (n == 0 ? 0.5 : 0));
			tp_filter_cleanup(&f);
		}
	}
	for (size_t i = 0; i < TP_ARRAY_SIZE(bad_range); i++) {
		struct tp_filter f;
		struct tp_errdetail err = { { 0 }, NULL };

		tp_filter_init(&f);
		if (tp_filter_set_param(&f, bad_range[i].name, bad_range[i].value,
					&err) != TP_ERR_INVAL)
			fail_msg("%s=%s accepted", bad_range[i].name,
				 bad_range[i].value);
		assert_string_equal(err.field, bad_range[i].name);
		assert_int_equal(f.given, 0);
		tp_filter_cleanup(&f);
	}
	/* The message of rest.md's example. */
	{
		struct tp_filter f;
		struct tp_errdetail err = { { 0 }, NULL };

		tp_filter_init(&f);
		assert_int_equal(tp_filter_set_param(&f, "confidence_min", "1.5",
						     &err), TP_ERR_INVAL);
		assert_string_equal(err.msg,
			"confidence_min: must be a number between 0 and 1");
		tp_filter_cleanup(&f);
	}
}

/* A negative zero must not make the canonical form differ. */
static void test_negative_zero(void **state)
{
	struct tp_filter a, b;

	(void)state;
	tp_filter_init(&a);
	tp_filter_init(&b);
	set_ok(&a, "rs_min", "-0");
	set_ok(&b, "rs_min", "0");
	set_ok(&a, "rsi_range", "-0.0,50");
	set_ok(&b, "rsi_range", "0,50");
	assert_canon_equal(&a, &b);
	tp_filter_cleanup(&a);
	tp_filter_cleanup(&b);
}

/* ---- rsi_range -------------------------------------------------------- */

static void test_rsi_range(void **state)
{
	static const struct {
		const char *value;
		double lo, hi;
	} good[] = {
		{ "30,70", 30, 70 },
		{ "70,30", 30, 70 }, /* min > max is swapped */
		{ " 10 , 90 ", 10, 90 },
		{ "0,100", 0, 100 },
		{ "50,50", 50, 50 },
		{ "0.5,99.5", 0.5, 99.5 },
		{ "100,0", 0, 100 },
	};
	static const char *const bad[] = {
		"x", "", "10", "10,", ",10", ",", "10,20,30", "-1,50", "50,101",
		"a,b", "nan,50", "10;20", "10 20", "inf,1", "0x10,20", "1e3,5",
	};

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(good); i++) {
		struct tp_filter f;

		tp_filter_init(&f);
		set_ok(&f, "rsi_range", good[i].value);
		if (f.rsi_min != good[i].lo || f.rsi_max != good[i].hi)
			fail_msg("rsi_range=%s gave %g,%g", good[i].value,
				 f.rsi_min, f.rsi_max);
		assert_int_equal(f.given, TP_FP_RSI_RANGE);
		tp_filter_cleanup(&f);
	}
	for (size_t i = 0; i < TP_ARRAY_SIZE(bad); i++) {
		struct tp_filter f;
		struct tp_errdetail err = { { 0 }, NULL };

		tp_filter_init(&f);
		if (tp_filter_set_param(&f, "rsi_range", bad[i], &err) !=
		    TP_ERR_INVAL)
			fail_msg("rsi_range=\"%s\" accepted", bad[i]);
		assert_string_equal(err.field, "rsi_range");
		assert_non_null(strstr(err.msg, "rsi_range"));
		assert_true(f.rsi_min == 0 && f.rsi_max == 100);
		assert_int_equal(f.given, 0);
		tp_filter_cleanup(&f);
	}
}

/* ---- timeframe -------------------------------------------------------- */

static void test_timeframe(void **state)
{
	static const struct {
		const char *value;
		unsigned mask;
	} good[] = {
		{ "All", 0 },
		{ "all", 0 },
		{ "ALL", 0 },
		{ "Daily", TP_TIER_BIT(TP_TIER_DAILY) },
		{ "DAILY", TP_TIER_BIT(TP_TIER_DAILY) },
		{ " daily ", TP_TIER_BIT(TP_TIER_DAILY) },
		{ "Intraday", TP_TIER_BIT(TP_TIER_INTRADAY) },
		{ "intraDAY", TP_TIER_BIT(TP_TIER_INTRADAY) },
		{ "Combo", TP_TIER_BIT(TP_TIER_COMBO) },
		{ "combo", TP_TIER_BIT(TP_TIER_COMBO) },
	};
	static const char *const bad[] = {
		"", "weekly", "Daily,Intraday", "Dail", "Allx", "Daily2",
		"unknown", "0",
	};

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(good); i++) {
		struct tp_filter f;

		tp_filter_init(&f);
		f.tier_mask = 0xff; /* must be overwritten */
		set_ok(&f, "timeframe", good[i].value);
		assert_int_equal(f.tier_mask, good[i].mask);
		assert_int_equal(f.given, TP_FP_TIMEFRAME);
		tp_filter_cleanup(&f);
	}
	for (size_t i = 0; i < TP_ARRAY_SIZE(bad); i++) {
		struct tp_filter f;
		struct tp_errdetail err = { { 0 }, NULL };

		tp_filter_init(&f);
		if (tp_filter_set_param(&f, "timeframe", bad[i], &err) !=
		    TP_ERR_INVAL)
			fail_msg("timeframe=\"%s\" accepted", bad[i]);
		assert_string_equal(err.field, "timeframe");
		assert_non_null(strstr(err.msg, "timeframe"));
		assert_int_equal(f.given, 0);
		tp_filter_cleanup(&f);
	}
}

/* ---- lists ------------------------------------------------------------ */

static void assert_list(char **list, size_t n, const char *const *want,
			size_t nwant)
{
	if (n != nwant)
		fail_msg("list has %zu entries, want %zu", n, nwant);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(list[i], want[i]);
}

static void test_symbols(void **state)
{
	static const struct {
		const char *value;
		const char *want[4];
		size_t n;
	} good[] = {
		{ "aapl,msft", { "AAPL", "MSFT" }, 2 },
		{ "MSFT,aapl,GOOG", { "AAPL", "GOOG", "MSFT" }, 3 },
		{ "aapl,AAPL, aapl ", { "AAPL" }, 1 },
		{ ",,AAPL,, ,", { "AAPL" }, 1 },
		{ "brk.b,bf-b", { "BF-B", "BRK.B" }, 2 },
		{ "X_Y,EUR/USD", { "EUR/USD", "X_Y" }, 2 },
		{ "A,ABCDEFGHIJKLMNOP", { "A", "ABCDEFGHIJKLMNOP" }, 2 },
		{ "\tqqq\t", { "QQQ" }, 1 },
		{ "", { NULL }, 0 },
		{ " , ", { NULL }, 0 },
	};
	static const char *const bad[] = {
		"AA$", "AA PL", "ABCDEFGHIJKLMNOPQ", "A*B", "A\x01", "\xc3\x84PPL",
		"AAPL,BAD!", "a\"b", "A\\B",
	};

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(good); i++) {
		struct tp_filter f;

		tp_filter_init(&f);
		set_ok(&f, "symbols", good[i].value);
		assert_list(f.symbols, f.n_symbols, good[i].want, good[i].n);
		/* An empty value is still "given": it clears a preset's list. */
		assert_int_equal(f.given, TP_FP_SYMBOLS);
		tp_filter_cleanup(&f);
	}
	for (size_t i = 0; i < TP_ARRAY_SIZE(bad); i++) {
		struct tp_filter f;
		struct tp_errdetail err = { { 0 }, NULL };
		static const char *const keep[] = { "ZZZ" };

		tp_filter_init(&f);
		set_ok(&f, "symbols", "zzz");
		if (tp_filter_set_param(&f, "symbols", bad[i], &err) !=
		    TP_ERR_INVAL)
			fail_msg("symbols=\"%s\" accepted", bad[i]);
		assert_string_equal(err.field, "symbols");
		assert_non_null(strstr(err.msg, "symbols"));
		/* A failed call changes nothing, even its good entries. */
		assert_list(f.symbols, f.n_symbols, keep, 1);
		tp_filter_cleanup(&f);
	}
}

static void test_symbols_accumulate_and_limit(void **state)
{
	struct tp_filter f;
	struct tp_errdetail err = { { 0 }, NULL };
	static const char *const want[] = { "AAPL", "GOOG", "MSFT", "NVDA" };
	char sym[16];

	(void)state;
	tp_filter_init(&f);
	set_ok(&f, "symbols", "msft");
	set_ok(&f, "symbols", "aapl,nvda");
	set_ok(&f, "symbols", "GOOG,MSFT");
	assert_list(f.symbols, f.n_symbols, want, 4);
	tp_filter_cleanup(&f);

	tp_filter_init(&f);
	for (int i = 0; i < TP_FILTER_MAX_SYMBOLS; i++) {
		snprintf(sym, sizeof(sym), "S%d", i);
		set_ok(&f, "symbols", sym);
	}
	assert_int_equal(f.n_symbols, TP_FILTER_MAX_SYMBOLS);
	for (size_t i = 1; i < f.n_symbols; i++)
		assert_true(strcmp(f.symbols[i - 1], f.symbols[i]) < 0);
	set_ok(&f, "symbols", "S0,s1"); /* duplicates do not count */
	assert_int_equal(tp_filter_set_param(&f, "symbols", "S0,NEW", &err),
			 TP_ERR_INVAL);
	assert_string_equal(err.field, "symbols");
	assert_int_equal(f.n_symbols, TP_FILTER_MAX_SYMBOLS);
	tp_filter_cleanup(&f);
}

static void test_pattern_types(void **state)
{
	static const struct {
		const char *abbr, *full;
	} map[] = {
		{ "WeeklyBO", "Weekly_Breakout" },
		{ "BullFlag", "Bull_Flag" },
		{ "TrendHold", "Trendline_Hold" },
		{ "VolSpike", "Volume_Spike" },
		{ "GapFill", "Gap_Fill" },
		{ "MomShift", "Momentum_Shift" },
		{ "Support", "Support_Test" },
		{ "ResBreak", "Resistance_Break" },
		{ "AscTri", "Ascending_Triangle" },
		{ "Reversal", "Reversal_Signal" },
	};
	struct tp_filter f;
	struct tp_errdetail err = { { 0 }, NULL };
	char long_name[TP_PATTERN_TYPE_MAX + 2];

	(void)state;
	/* Every abbreviation of the rest.md map, in any case. */
	for (size_t i = 0; i < TP_ARRAY_SIZE(map); i++) {
		char lower[32];

		for (size_t k = 0; k <= strlen(map[i].abbr); k++)
			lower[k] = (char)(map[i].abbr[k] >= 'A' &&
							  map[i].abbr[k] <= 'Z'
						  ? map[i].abbr[k] + 32
						  : map[i].abbr[k]);
		tp_filter_init(&f);
		set_ok(&f, "pattern_types", map[i].abbr);
		set_ok(&f, "pattern_types", lower);
		assert_int_equal(f.n_pattern_types, 1);
		assert_string_equal(f.pattern_types[0], map[i].full);
		assert_int_equal(f.given, TP_FP_PATTERN_TYPES);
		tp_filter_cleanup(&f);
	}

	/* Full names are kept as given; duplicates compare case-insensitively
	 * (also against an expanded abbreviation). */
	tp_filter_init(&f);
	set_ok(&f, "pattern_types", "weekly_breakout, WeeklyBO ,WEEKLY_BREAKOUT");
	assert_int_equal(f.n_pattern_types, 1);
	assert_string_equal(f.pattern_types[0], "weekly_breakout");
	tp_filter_cleanup(&f);

	/* Sorted case-insensitively; Doji is not an abbreviation of anything. */
	tp_filter_init(&f);
	set_ok(&f, "pattern_types", "bull_flag,Doji,Awesome_Thing");
	set_ok(&f, "pattern_types", "ascending_triangle");
	{
		static const char *const want[] = { "ascending_triangle",
						    "Awesome_Thing", "bull_flag",
						    "Doji" };
		assert_list(f.pattern_types, f.n_pattern_types, want, 4);
	}
	tp_filter_cleanup(&f);

	/* Length bound: 64 bytes fit, 65 do not. */
	memset(long_name, 'P', sizeof(long_name));
	long_name[TP_PATTERN_TYPE_MAX] = '\0';
	tp_filter_init(&f);
	set_ok(&f, "pattern_types", long_name);
	assert_int_equal(f.n_pattern_types, 1);
	long_name[TP_PATTERN_TYPE_MAX] = 'Q';
	long_name[TP_PATTERN_TYPE_MAX + 1] = '\0';
	assert_int_equal(tp_filter_set_param(&f, "pattern_types", long_name,
					     &err), TP_ERR_INVAL);
	assert_string_equal(err.field, "pattern_types");
	assert_int_equal(f.n_pattern_types, 1);
	assert_int_equal(tp_filter_set_param(&f, "pattern_types", "a\x7f" "b",
					     &err), TP_ERR_INVAL);
	assert_int_equal(tp_filter_set_param(&f, "pattern_types", "a\nb",
					     &err), TP_ERR_INVAL);
	tp_filter_cleanup(&f);

	/* Count bound. */
	tp_filter_init(&f);
	for (int i = 0; i < TP_FILTER_MAX_PATTERN_TYPES; i++) {
		char name[32];

		snprintf(name, sizeof(name), "Type_%d", i);
		set_ok(&f, "pattern_types", name);
	}
	assert_int_equal(tp_filter_set_param(&f, "pattern_types", "One_More",
					     &err), TP_ERR_INVAL);
	assert_string_equal(err.field, "pattern_types");
	assert_int_equal(f.n_pattern_types, TP_FILTER_MAX_PATTERN_TYPES);
	tp_filter_cleanup(&f);
}

/* Every name the scan displays works as input (8-byte cuts included);
 * one shared by several known types is refused naming them all, wherever
 * the filter comes from, and changes nothing. */
static void test_pattern_types_displayed(void **state)
{
	static const struct {
		const char *shown, *full;
	} cut[] = {
		{ "Cup_Hand", "Cup_Handle" },
		{ "cup_HAND", "Cup_Handle" },
		{ "Support_", "Support_Bounce" },
		{ "HeadAndS", "HeadAndShoulders" },
		{ "InverseH", "InverseHeadAndShoulders" },
		{ "Day1Brea", "Day1Breakout" },
		{ "MACrosso", "MACrossover" },
	};
	struct tp_filter f;
	struct tp_errdetail err = { { 0 }, NULL };
	struct tp_pattern p = base_pattern();
	const char *name;
	char abbr[TP_ABBREV_MAX];

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(cut); i++) {
		tp_filter_init(&f);
		set_ok(&f, "pattern_types", cut[i].shown);
		assert_int_equal(f.n_pattern_types, 1);
		assert_string_equal(f.pattern_types[0], cut[i].full);
		/* ... and matches the pattern it was displayed for. */
		strcpy(p.pattern_type, cut[i].full);
		assert_true(tp_filter_match(&f, &p));
		strcpy(p.pattern_type, "Doji");
		assert_false(tp_filter_match(&f, &p));
		tp_filter_cleanup(&f);
	}

	/* The property: for every known type, what the scan shows for it
	 * selects it, or is refused as ambiguous naming it. */
	for (size_t i = 0; (name = tp_pattern_known(i)); i++) {
		int rc;

		tp_pattern_abbrev(name, abbr);
		tp_filter_init(&f);
		rc = tp_filter_set_param(&f, "pattern_types", abbr, &err);
		print_message("%s shown as %s: rc %d %s\n", name, abbr, rc,
			      rc ? err.msg : "");
		strcpy(p.pattern_type, name);
		if (rc == TP_OK) {
			assert_int_equal(f.n_pattern_types, 1);
			assert_true(tp_filter_match(&f, &p));
		} else {
			assert_int_equal(rc, TP_ERR_INVAL);
			assert_string_equal(err.field, "pattern_types");
			assert_non_null(strstr(err.msg, "ambiguous"));
			assert_non_null(strstr(err.msg, name));
		}
		tp_filter_cleanup(&f);
	}

	/* Ambiguous: 400 material naming every candidate; nothing changes. */
	tp_filter_init(&f);
	set_ok(&f, "pattern_types", "Doji");
	assert_int_equal(tp_filter_set_param(&f, "pattern_types", "Hammer,Trending",
					     &err), TP_ERR_INVAL);
	assert_string_equal(err.field, "pattern_types");
	assert_string_equal(err.msg, "pattern_types: \"Trending\" is ambiguous: "
			    "TrendingDown, TrendingUp (give the full name)");
	assert_int_equal(f.n_pattern_types, 1);
	assert_int_equal(tp_filter_set_param(&f, "pattern_types", "closedin",
					     &err), TP_ERR_INVAL);
	assert_non_null(strstr(err.msg, "ClosedInBottom10Percent, ClosedInTop10Percent"));
	/* The full names are fine, and so is a name tickpush does not know
	 * (kept as given: the producer may publish new types). */
	set_ok(&f, "pattern_types", "TrendingUp,trendingdown,Inverse_Hammer");
	assert_int_equal(f.n_pattern_types, 4);
	tp_filter_cleanup(&f);

	/* Presets and inline WebSocket filters go through the same code. */
	assert_int_equal(from_json("{\"pattern_types\":[\"Cup_Hand\",\"WeeklyBO\"]}",
				   &f, NULL, &err), TP_OK);
	assert_int_equal(f.n_pattern_types, 2);
	assert_string_equal(f.pattern_types[0], "Cup_Handle");
	assert_string_equal(f.pattern_types[1], "Weekly_Breakout");
	tp_filter_cleanup(&f);
	assert_int_equal(from_json("{\"pattern_types\":\"Doji,Trending\"}", &f,
				   NULL, &err), TP_ERR_INVAL);
	assert_string_equal(err.field, "pattern_types");
	assert_non_null(strstr(err.msg, "TrendingDown, TrendingUp"));
	assert_int_equal(f.n_pattern_types, 0);
}

static void test_sectors(void **state)
{
	struct tp_filter f;
	struct tp_errdetail err = { { 0 }, NULL };
	char name[TP_SECTOR_MAX + 2];
	static const char *const want[] = { "energy", "Health Care",
					    "Technology" };

	(void)state;
	tp_filter_init(&f);
	set_ok(&f, "sectors", "Technology, technology ,energy");
	set_ok(&f, "sectors", "Health Care,TECHNOLOGY");
	assert_list(f.sectors, f.n_sectors, want, 3);
	assert_int_equal(f.given, TP_FP_SECTORS);
	tp_filter_cleanup(&f);

	memset(name, 's', sizeof(name));
	name[TP_SECTOR_MAX] = '\0';
	tp_filter_init(&f);
	set_ok(&f, "sectors", name);
	name[TP_SECTOR_MAX] = 's';
	name[TP_SECTOR_MAX + 1] = '\0';
	assert_int_equal(tp_filter_set_param(&f, "sectors", name, &err),
			 TP_ERR_INVAL);
	assert_string_equal(err.field, "sectors");
	assert_non_null(strstr(err.msg, "sectors"));
	assert_int_equal(tp_filter_set_param(&f, "sectors", "Tech\tnology",
					     &err), TP_ERR_INVAL);
	assert_int_equal(f.n_sectors, 1);
	tp_filter_cleanup(&f);

	tp_filter_init(&f);
	for (int i = 0; i < TP_FILTER_MAX_SECTORS; i++) {
		char s[16];

		snprintf(s, sizeof(s), "Sector %d", i);
		set_ok(&f, "sectors", s);
	}
	assert_int_equal(tp_filter_set_param(&f, "sectors", "one more", &err),
			 TP_ERR_INVAL);
	assert_int_equal(f.n_sectors, TP_FILTER_MAX_SECTORS);
	tp_filter_cleanup(&f);
}

static void test_unknown_param(void **state)
{
	struct tp_filter f;
	struct tp_errdetail err = { { 0 }, NULL };

	(void)state;
	tp_filter_init(&f);
	assert_int_equal(tp_filter_set_param(&f, "page", "1", &err),
			 TP_ERR_NOTFOUND);
	assert_int_equal(tp_filter_set_param(&f, "Symbols", "AAPL", &err),
			 TP_ERR_NOTFOUND);
	assert_int_equal(tp_filter_set_param(&f, "", "", &err),
			 TP_ERR_NOTFOUND);
	assert_int_equal(f.given, 0);
	/* A NULL value is an empty one. */
	assert_int_equal(tp_filter_set_param(&f, "symbols", NULL, &err), TP_OK);
	assert_int_equal(tp_filter_set_param(&f, "rs_min", NULL, &err),
			 TP_ERR_INVAL);
	tp_filter_cleanup(&f);
}

/* Out of memory at every allocation: the filter is unchanged, no leak. */
static void test_set_param_oom(void **state)
{
	static const struct {
		const char *name, *value;
	} ops[] = {
		{ "symbols", "nvda,aapl,msft" },
		{ "pattern_types", "WeeklyBO,doji,Bull_Flag" },
		{ "sectors", "Energy,Utilities" },
	};

	(void)state;
	for (size_t o = 0; o < TP_ARRAY_SIZE(ops); o++) {
		size_t failures = 0;

		for (size_t i = 1;; i++) {
			struct tp_filter f;
			char *before, *after;
			int rc;

			tp_filter_init(&f);
			set_ok(&f, ops[o].name, "Zed");
			before = canon(&f);
			tp_alloc_fail_at(i);
			rc = tp_filter_set_param(&f, ops[o].name, ops[o].value,
						 NULL);
			tp_alloc_fail_at(0);
			after = canon(&f);
			if (rc == TP_OK) {
				assert_string_not_equal(before, after);
			} else {
				assert_int_equal(rc, TP_ERR_NOMEM);
				assert_string_equal(before, after);
				failures++;
			}
			tp_free(before);
			tp_free(after);
			tp_filter_cleanup(&f);
			if (rc == TP_OK)
				break;
		}
		assert_true(failures > 0);
	}
}

/* ---- overlay ---------------------------------------------------------- */

static void test_overlay(void **state)
{
	struct tp_filter base, over, want;

	(void)state;
	tp_filter_init(&base);
	set_ok(&base, "symbols", "AAPL,GOOG");
	set_ok(&base, "confidence_min", "0.7");
	set_ok(&base, "timeframe", "Daily");
	set_ok(&base, "sectors", "Technology");

	tp_filter_init(&over);
	set_ok(&over, "symbols", "MSFT");
	set_ok(&over, "rsi_range", "30,70");
	set_ok(&over, "sectors", ""); /* explicitly "any" */

	assert_int_equal(tp_filter_overlay(&base, &over), TP_OK);

	tp_filter_init(&want);
	set_ok(&want, "symbols", "MSFT");
	set_ok(&want, "confidence_min", "0.7");
	set_ok(&want, "timeframe", "daily");
	set_ok(&want, "rsi_range", "70,30");
	set_ok(&want, "sectors", "");
	assert_canon_equal(&base, &want);
	assert_int_equal(base.n_sectors, 0);
	assert_true(base.rs_min == 0);

	/* Overlaying nothing changes nothing. */
	tp_filter_cleanup(&over);
	tp_filter_init(&over);
	assert_int_equal(tp_filter_overlay(&base, &over), TP_OK);
	assert_canon_equal(&base, &want);

	/* Every scalar. */
	set_ok(&over, "confidence_min", "0.9");
	set_ok(&over, "rs_min", "1.1");
	set_ok(&over, "vol_min", "1.2");
	set_ok(&over, "timeframe", "all");
	set_ok(&over, "pattern_types", "Doji");
	assert_int_equal(tp_filter_overlay(&base, &over), TP_OK);
	assert_true(base.confidence_min == 0.9);
	assert_true(base.rs_min == 1.1);
	assert_true(base.vol_min == 1.2);
	assert_int_equal(base.tier_mask, 0);
	assert_int_equal(base.n_pattern_types, 1);
	assert_int_equal(base.n_symbols, 1);
	assert_true(base.rsi_min == 30 && base.rsi_max == 70);

	tp_filter_cleanup(&base);
	tp_filter_cleanup(&over);
	tp_filter_cleanup(&want);
}

static void test_overlay_oom(void **state)
{
	size_t failures = 0;

	(void)state;
	for (size_t i = 1;; i++) {
		struct tp_filter base, over;
		char *before, *after;
		int rc;

		tp_filter_init(&base);
		tp_filter_init(&over);
		set_ok(&base, "symbols", "AAPL");
		set_ok(&over, "symbols", "MSFT,NVDA");
		set_ok(&over, "pattern_types", "Doji");
		set_ok(&over, "sectors", "Energy");
		before = canon(&base);
		tp_alloc_fail_at(i);
		rc = tp_filter_overlay(&base, &over);
		tp_alloc_fail_at(0);
		after = canon(&base);
		if (rc != TP_OK) {
			assert_int_equal(rc, TP_ERR_NOMEM);
			assert_string_equal(before, after);
			failures++;
		} else {
			assert_int_equal(base.n_symbols, 2);
		}
		tp_free(before);
		tp_free(after);
		tp_filter_cleanup(&base);
		tp_filter_cleanup(&over);
		if (rc == TP_OK)
			break;
	}
	assert_true(failures > 0);
}

/* ---- canonical -------------------------------------------------------- */

static void test_canonical(void **state)
{
	struct tp_filter a, b, c;
	char *ca, *cc;

	(void)state;
	tp_filter_init(&a);
	set_ok(&a, "symbols", "msft,aapl");
	set_ok(&a, "pattern_types", "Doji,WeeklyBO");
	set_ok(&a, "sectors", "Tech,energy");
	set_ok(&a, "confidence_min", "0.6");
	set_ok(&a, "rsi_range", "20,80");
	set_ok(&a, "timeframe", "Combo");

	/* Same filter: other order, case, repetition and spelling. */
	tp_filter_init(&b);
	set_ok(&b, "timeframe", "COMBO");
	set_ok(&b, "rsi_range", "80,20");
	set_ok(&b, "sectors", "ENERGY");
	set_ok(&b, "pattern_types", "weekly_breakout");
	set_ok(&b, "symbols", "AAPL");
	set_ok(&b, "sectors", "tech,Energy");
	set_ok(&b, "symbols", "MSFT,aapl");
	set_ok(&b, "pattern_types", "DOJI");
	set_ok(&b, "confidence_min", "6e-1");
	assert_canon_equal(&a, &b);

	/* A copy is equal too. */
	assert_int_equal(tp_filter_copy(&c, &a), TP_OK);
	assert_canon_equal(&a, &c);
	tp_filter_cleanup(&c);

	/* Each field on its own makes a difference. */
	ca = canon(&a);
	{
		static const struct {
			const char *name, *value;
		} diff[] = {
			{ "symbols", "NVDA" },
			{ "pattern_types", "Bull_Flag" },
			{ "sectors", "Utilities" },
			{ "confidence_min", "0.61" },
			{ "rs_min", "0.1" },
			{ "vol_min", "0.1" },
			{ "rsi_range", "20,81" },
			{ "timeframe", "Daily" },
		};
		for (size_t i = 0; i < TP_ARRAY_SIZE(diff); i++) {
			assert_int_equal(tp_filter_copy(&c, &a), TP_OK);
			set_ok(&c, diff[i].name, diff[i].value);
			cc = canon(&c);
			if (!strcmp(ca, cc))
				fail_msg("%s=%s did not change the canonical form",
					 diff[i].name, diff[i].value);
			tp_free(cc);
			tp_filter_cleanup(&c);
		}
	}
	tp_free(ca);

	/* Given-ness is part of the form (overlay depends on it). */
	tp_filter_cleanup(&b);
	tp_filter_init(&b);
	tp_filter_init(&c);
	set_ok(&c, "confidence_min", "0.5");
	ca = canon(&b);
	cc = canon(&c);
	assert_string_not_equal(ca, cc);
	tp_free(ca);
	tp_free(cc);

	/* Strings are escaped so the form stays unambiguous JSON. */
	tp_filter_cleanup(&c);
	tp_filter_init(&c);
	set_ok(&c, "sectors", "a\"b\\c");
	cc = canon(&c);
	assert_non_null(strstr(cc, "\"sectors\":[\"a\\\"b\\\\c\"]"));
	{
		cJSON *j = cJSON_Parse(cc);

		assert_non_null(j);
		cJSON_Delete(j);
	}
	tp_free(cc);

	tp_filter_cleanup(&a);
	tp_filter_cleanup(&b);
	tp_filter_cleanup(&c);
}

/* ---- JSON (presets, inline filters) ----------------------------------- */

static int from_json(const char *text, struct tp_filter *f,
		     struct tp_filter_refs *refs, struct tp_errdetail *err)
{
	cJSON *j = cJSON_Parse(text);
	int rc;

	if (!j)
		fail_msg("test JSON does not parse: %s", text);
	rc = tp_filter_from_json(f, j, refs, err);
	cJSON_Delete(j);
	return rc;
}

static void test_from_json(void **state)
{
	struct tp_filter f, want;
	struct tp_filter_refs refs;
	struct tp_errdetail err = { { 0 }, NULL };

	(void)state;
	assert_int_equal(from_json(
		"{\"pattern_types\":[\"WeeklyBO\",\"Doji\"],\"symbols\":\"aapl,msft\","
		"\"confidence_min\":0.7,\"rs_min\":1.2,\"vol_min\":1.5,"
		"\"rsi_range\":[70,30],\"timeframe\":\"daily\","
		"\"sectors\":[\"Technology\",\"energy\"],\"watchlist_id\":12,"
		"\"universe\":\"sp500_large\"}", &f, &refs, &err), TP_OK);
	tp_filter_init(&want);
	set_ok(&want, "pattern_types", "Weekly_Breakout,Doji");
	set_ok(&want, "symbols", "AAPL,MSFT");
	set_ok(&want, "confidence_min", "0.7");
	set_ok(&want, "rs_min", "1.2");
	set_ok(&want, "vol_min", "1.5");
	set_ok(&want, "rsi_range", "30,70");
	set_ok(&want, "timeframe", "Daily");
	set_ok(&want, "sectors", "energy,technology");
	assert_canon_equal(&f, &want);
	assert_int_equal(refs.watchlist_id, 12);
	assert_string_equal(refs.universe, "sp500_large");
	tp_filter_cleanup(&f);
	tp_filter_cleanup(&want);

	/* String forms of lists and rsi_range; nulls are "not given". */
	assert_int_equal(from_json(
		"{\"pattern_types\":\"weeklybo, doji\",\"symbols\":[\"aapl,msft\"],"
		"\"rsi_range\":\" 10 , 90\",\"sectors\":null,\"timeframe\":null,"
		"\"confidence_min\":null,\"watchlist_id\":null,\"universe\":null}",
		&f, &refs, &err), TP_OK);
	assert_int_equal(f.given,
			 TP_FP_PATTERN_TYPES | TP_FP_SYMBOLS | TP_FP_RSI_RANGE);
	assert_int_equal(f.n_pattern_types, 2);
	assert_string_equal(f.pattern_types[1], "Weekly_Breakout");
	assert_int_equal(f.n_symbols, 2);
	assert_true(f.rsi_min == 10 && f.rsi_max == 90);
	assert_true(f.confidence_min == 0.5);
	assert_int_equal(refs.watchlist_id, 0);
	assert_string_equal(refs.universe, "");
	tp_filter_cleanup(&f);

	/* Empty object: the defaults. Empty array: given, "any". */
	assert_int_equal(from_json("{}", &f, NULL, &err), TP_OK);
	tp_filter_init(&want);
	assert_canon_equal(&f, &want);
	tp_filter_cleanup(&f);
	assert_int_equal(from_json("{\"symbols\":[]}", &f, NULL, &err), TP_OK);
	assert_int_equal(f.given, TP_FP_SYMBOLS);
	assert_int_equal(f.n_symbols, 0);
	tp_filter_cleanup(&f);
	tp_filter_cleanup(&want);

	/* Numbers survive the trip through text exactly. */
	assert_int_equal(from_json("{\"rs_min\":0.1,\"vol_min\":1e-7,"
				   "\"confidence_min\":0.30000000000000004}",
				   &f, NULL, &err), TP_OK);
	assert_true(f.rs_min == 0.1);
	assert_true(f.vol_min == 1e-7);
	assert_true(f.confidence_min == 0.30000000000000004);
	tp_filter_cleanup(&f);

	/* Refs: the largest exact integer is accepted. */
	assert_int_equal(from_json("{\"watchlist_id\":9007199254740992}", &f,
				   &refs, &err), TP_OK);
	assert_true(refs.watchlist_id == 9007199254740992LL);
	tp_filter_cleanup(&f);
}

static void test_from_json_invalid(void **state)
{
	static const struct {
		const char *json;
		const char *field; /* NULL: unknown key, named in msg */
		const char *in_msg;
	} t[] = {
		{ "[]", "filters", "filters" },
		{ "\"x\"", "filters", "filters" },
		{ "5", "filters", "filters" },
		{ "null", "filters", "filters" },
		{ "{\"symbols\":5}", "symbols", "symbols" },
		{ "{\"symbols\":true}", "symbols", "symbols" },
		{ "{\"symbols\":[1]}", "symbols", "symbols" },
		{ "{\"symbols\":[\"AAPL\",null]}", "symbols", "symbols" },
		{ "{\"symbols\":[[\"AAPL\"]]}", "symbols", "symbols" },
		{ "{\"symbols\":{\"a\":1}}", "symbols", "symbols" },
		{ "{\"symbols\":[\"A$\"]}", "symbols", "symbols" },
		{ "{\"pattern_types\":7}", "pattern_types", "pattern_types" },
		{ "{\"sectors\":[false]}", "sectors", "sectors" },
		{ "{\"confidence_min\":\"0.5\"}", "confidence_min", "confidence_min" },
		{ "{\"confidence_min\":1.5}", "confidence_min", "between 0 and 1" },
		{ "{\"confidence_min\":-0.5}", "confidence_min", "confidence_min" },
		{ "{\"confidence_min\":true}", "confidence_min", "confidence_min" },
		{ "{\"confidence_min\":[0.5]}", "confidence_min", "confidence_min" },
		{ "{\"rs_min\":-1}", "rs_min", "rs_min" },
		{ "{\"rs_min\":{}}", "rs_min", "rs_min" },
		{ "{\"vol_min\":[1]}", "vol_min", "vol_min" },
		{ "{\"vol_min\":-1e-9}", "vol_min", "vol_min" },
		{ "{\"rsi_range\":[1]}", "rsi_range", "rsi_range" },
		{ "{\"rsi_range\":[]}", "rsi_range", "rsi_range" },
		{ "{\"rsi_range\":[1,2,3]}", "rsi_range", "rsi_range" },
		{ "{\"rsi_range\":[\"1\",\"2\"]}", "rsi_range", "rsi_range" },
		{ "{\"rsi_range\":5}", "rsi_range", "rsi_range" },
		{ "{\"rsi_range\":[-1,50]}", "rsi_range", "rsi_range" },
		{ "{\"rsi_range\":[0,100.5]}", "rsi_range", "rsi_range" },
		{ "{\"rsi_range\":\"x\"}", "rsi_range", "rsi_range" },
		{ "{\"timeframe\":1}", "timeframe", "timeframe" },
		{ "{\"timeframe\":\"weekly\"}", "timeframe", "timeframe" },
		{ "{\"timeframe\":[\"Daily\"]}", "timeframe", "timeframe" },
		{ "{\"watchlist_id\":0}", "watchlist_id", "watchlist_id" },
		{ "{\"watchlist_id\":-1}", "watchlist_id", "watchlist_id" },
		{ "{\"watchlist_id\":1.5}", "watchlist_id", "watchlist_id" },
		{ "{\"watchlist_id\":\"12\"}", "watchlist_id", "watchlist_id" },
		{ "{\"watchlist_id\":1e300}", "watchlist_id", "watchlist_id" },
		{ "{\"watchlist_id\":9007199254740994}", "watchlist_id", "watchlist_id" },
		{ "{\"universe\":\"\"}", "universe", "universe" },
		{ "{\"universe\":5}", "universe", "universe" },
		{ "{\"universe\":[\"x\"]}", "universe", "universe" },
		{ "{\"universe\":\"a\\nb\"}", "universe", "universe" },
		{ "{\"universe\":\"0123456789012345678901234567890123456789"
		  "01234567890123456789012345\"}", "universe", "universe" },
		{ "{\"bogus\":1}", NULL, "bogus" },
		{ "{\"Symbols\":[\"AAPL\"]}", NULL, "Symbols" },
		{ "{\"page\":1}", NULL, "page" },
		{ "{\"symbols\":[\"AAPL\"],\"extra\":null}", NULL, "extra" },
	};

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(t); i++) {
		struct tp_filter f;
		struct tp_filter_refs refs;
		struct tp_errdetail err = { { 0 }, NULL };
		int rc = from_json(t[i].json, &f, &refs, &err);

		if (rc != TP_ERR_INVAL)
			fail_msg("%s: rc %d, want TP_ERR_INVAL", t[i].json, rc);
		if (t[i].field) {
			if (!err.field || strcmp(err.field, t[i].field))
				fail_msg("%s: field %s, want %s", t[i].json,
					 err.field ? err.field : "(null)",
					 t[i].field);
		} else {
			assert_null(err.field);
		}
		if (!strstr(err.msg, t[i].in_msg))
			fail_msg("%s: message \"%s\" lacks \"%s\"", t[i].json,
				 err.msg, t[i].in_msg);
		/* Left empty: nothing to clean up, refs cleared. */
		assert_null(f.symbols);
		assert_int_equal(f.given, 0);
		assert_int_equal(refs.watchlist_id, 0);
		assert_string_equal(refs.universe, "");
	}
}

/* The refs only where the caller can take them; one validator for both
 * sources (same message for the same bad value). */
static void test_from_json_refs_and_messages(void **state)
{
	struct tp_filter f;
	struct tp_errdetail e1 = { { 0 }, NULL }, e2 = { { 0 }, NULL };

	(void)state;
	assert_int_equal(from_json("{\"watchlist_id\":3}", &f, NULL, &e1),
			 TP_ERR_INVAL);
	assert_string_equal(e1.field, "watchlist_id");
	assert_int_equal(from_json("{\"universe\":\"sp500\"}", &f, NULL, &e1),
			 TP_ERR_INVAL);
	assert_string_equal(e1.field, "universe");
	assert_int_equal(tp_filter_from_json(&f, NULL, NULL, &e1), TP_ERR_INVAL);

	assert_int_equal(from_json("{\"confidence_min\":1.5}", &f, NULL, &e1),
			 TP_ERR_INVAL);
	tp_filter_init(&f);
	assert_int_equal(tp_filter_set_param(&f, "confidence_min", "1.5", &e2),
			 TP_ERR_INVAL);
	tp_filter_cleanup(&f);
	assert_string_equal(e1.msg, e2.msg);

	assert_int_equal(from_json("{\"symbols\":[\"GOOD\",\"B@D\"]}", &f, NULL,
				   &e1), TP_ERR_INVAL);
	tp_filter_init(&f);
	assert_int_equal(tp_filter_set_param(&f, "symbols", "B@D", &e2),
			 TP_ERR_INVAL);
	tp_filter_cleanup(&f);
	assert_string_equal(e1.msg, e2.msg);
}

static void test_from_json_oom(void **state)
{
	cJSON *j = cJSON_Parse("{\"pattern_types\":[\"WeeklyBO\",\"Doji\"],"
			       "\"symbols\":[\"aapl\",\"msft\"],"
			       "\"sectors\":\"Energy,Tech\",\"rsi_range\":[1,2],"
			       "\"universe\":\"u\"}");
	size_t failures = 0;

	(void)state;
	assert_non_null(j);
	for (size_t i = 1;; i++) {
		struct tp_filter f;
		struct tp_filter_refs refs;
		int rc;

		tp_alloc_fail_at(i);
		rc = tp_filter_from_json(&f, j, &refs, NULL);
		tp_alloc_fail_at(0);
		if (rc == TP_OK) {
			assert_int_equal(f.n_symbols, 2);
			assert_int_equal(f.n_pattern_types, 2);
			assert_int_equal(f.n_sectors, 2);
			tp_filter_cleanup(&f);
			break;
		}
		assert_int_equal(rc, TP_ERR_NOMEM);
		assert_null(f.symbols);
		failures++;
	}
	assert_true(failures > 0);
	cJSON_Delete(j);
}

/* ---- match tables ----------------------------------------------------- */

static void test_match_table(void **state)
{
	/* base_pattern(): AAPL Weekly_Breakout Technology conf 0.8 rs 1.4
	 * rvol 2.1 rsi 65 daily. Each row constrains one thing. */
	static const struct {
		const char *name, *value;
		bool match;
	} t[] = {
		{ "confidence_min", "0.8", true },
		{ "confidence_min", "0.81", false },
		{ "confidence_min", "0", true },
		{ "rs_min", "1.4", true },
		{ "rs_min", "1.5", false },
		{ "vol_min", "2.1", true },
		{ "vol_min", "2.2", false },
		{ "rsi_range", "65,100", true },
		{ "rsi_range", "0,64.9", false },
		{ "rsi_range", "65,65", true },
		{ "rsi_range", "100,66", false },
		{ "timeframe", "Daily", true },
		{ "timeframe", "Intraday", false },
		{ "timeframe", "Combo", false },
		{ "timeframe", "All", true },
		{ "symbols", "aapl", true },
		{ "symbols", "msft", false },
		{ "symbols", "msft,aapl", true },
		{ "symbols", "", true },
		{ "pattern_types", "WeeklyBO", true },
		{ "pattern_types", "weekly_breakout", true },
		{ "pattern_types", "Doji", false },
		{ "pattern_types", "Doji,WEEKLY_BREAKOUT", true },
		{ "pattern_types", "BullFlag", false },
		{ "sectors", "technology", true },
		{ "sectors", "Energy", false },
		{ "sectors", "Energy,TECHNOLOGY", true },
	};
	struct tp_pattern p = base_pattern();

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(t); i++) {
		struct tp_filter f;

		tp_filter_init(&f);
		set_ok(&f, "confidence_min", "0"); /* isolate the row */
		set_ok(&f, t[i].name, t[i].value);
		if (tp_filter_match(&f, &p) != t[i].match)
			fail_msg("%s=%s: match %d, want %d", t[i].name,
				 t[i].value, !t[i].match, t[i].match);
		tp_filter_cleanup(&f);
	}
}

static void test_match_pattern_side(void **state)
{
	struct tp_filter f;
	struct tp_pattern p;

	(void)state;
	tp_filter_init(&f);
	p = base_pattern();
	assert_true(tp_filter_match(&f, &p)); /* defaults pass 0.8 */
	p.confidence = 0.49;
	assert_false(tp_filter_match(&f, &p)); /* default confidence_min 0.5 */
	p.confidence = 0.5;
	assert_true(tp_filter_match(&f, &p));

	/* A pattern without a sector never matches a sector filter. */
	set_ok(&f, "sectors", "Technology");
	p = base_pattern();
	p.sector[0] = '\0';
	assert_false(tp_filter_match(&f, &p));
	tp_filter_cleanup(&f);

	/* Unknown tier: only "All" passes. */
	tp_filter_init(&f);
	p = base_pattern();
	p.tier = TP_TIER_UNKNOWN;
	assert_true(tp_filter_match(&f, &p));
	set_ok(&f, "timeframe", "Daily");
	assert_false(tp_filter_match(&f, &p));
	tp_filter_cleanup(&f);

	/* Everything at once, then break each constraint in turn. */
	tp_filter_init(&f);
	set_ok(&f, "symbols", "AAPL,MSFT");
	set_ok(&f, "pattern_types", "WeeklyBO");
	set_ok(&f, "sectors", "Technology");
	set_ok(&f, "confidence_min", "0.75");
	set_ok(&f, "rs_min", "1");
	set_ok(&f, "vol_min", "2");
	set_ok(&f, "rsi_range", "60,70");
	set_ok(&f, "timeframe", "daily");
	p = base_pattern();
	assert_true(tp_filter_match(&f, &p));
	for (int k = 0; k < 8; k++) {
		p = base_pattern();
		switch (k) {
		case 0: strcpy(p.symbol, "NVDA"); break;
		case 1: strcpy(p.pattern_type, "Bull_Flag"); break;
		case 2: strcpy(p.sector, "Energy"); break;
		case 3: p.confidence = 0.7; break;
		case 4: p.rs = 0.9; break;
		case 5: p.rvol = 1.9; break;
		case 6: p.rsi = 71; break;
		case 7: p.tier = TP_TIER_INTRADAY; break;
		}
		if (tp_filter_match(&f, &p))
			fail_msg("constraint %d not applied", k);
	}
	tp_filter_cleanup(&f);
}

/* Watchlist/universe resolution: set, intersect, dedupe, empty = nothing. */
static void test_restrict_symbols(void **state)
{
	const char *const wl[] = {"MSFT", "AAPL", "MSFT", "NVDA"};
	struct tp_filter f;
	struct tp_pattern p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.confidence = 0.9;
	p.rs = p.rvol = 1;
	p.rsi = 50;

	tp_filter_init(&f);
	assert_int_equal(tp_filter_restrict_symbols(&f, wl, 4), TP_OK);
	assert_int_equal(f.n_symbols, 3);
	assert_string_equal(f.symbols[0], "AAPL");
	assert_string_equal(f.symbols[2], "NVDA");
	assert_true(f.given & TP_FP_SYMBOLS);
	strcpy(p.symbol, "NVDA");
	assert_true(tp_filter_match(&f, &p));
	strcpy(p.symbol, "IBM");
	assert_false(tp_filter_match(&f, &p));
	tp_filter_cleanup(&f);

	/* Explicit symbols intersect with the set. */
	tp_filter_init(&f);
	assert_int_equal(tp_filter_set_param(&f, "symbols", "nvda,ibm", NULL), TP_OK);
	assert_int_equal(tp_filter_restrict_symbols(&f, wl, 4), TP_OK);
	assert_int_equal(f.n_symbols, 1);
	assert_string_equal(f.symbols[0], "NVDA");
	tp_filter_cleanup(&f);

	/* An empty set (deleted or empty watchlist) matches nothing. */
	tp_filter_init(&f);
	assert_int_equal(tp_filter_restrict_symbols(&f, NULL, 0), TP_OK);
	strcpy(p.symbol, "AAPL");
	assert_false(tp_filter_match(&f, &p));
	tp_filter_cleanup(&f);

	/* Out of memory at each allocation leaves the filter usable. */
	for (size_t n = 1; n < 10; n++) {
		tp_filter_init(&f);
		tp_alloc_fail_at(n);
		int rc = tp_filter_restrict_symbols(&f, wl, 4);
		tp_alloc_fail_at(0);
		assert_true(rc == TP_OK || rc == TP_ERR_NOMEM);
		tp_filter_cleanup(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_defaults),
		TP_TEST(test_numbers_valid),
		TP_TEST(test_numbers_invalid),
		TP_TEST(test_negative_zero),
		TP_TEST(test_rsi_range),
		TP_TEST(test_timeframe),
		TP_TEST(test_symbols),
		TP_TEST(test_symbols_accumulate_and_limit),
		TP_TEST(test_pattern_types),
		TP_TEST(test_pattern_types_displayed),
		TP_TEST(test_sectors),
		TP_TEST(test_unknown_param),
		TP_TEST(test_set_param_oom),
		TP_TEST(test_overlay),
		TP_TEST(test_overlay_oom),
		TP_TEST(test_canonical),
		TP_TEST(test_from_json),
		TP_TEST(test_from_json_invalid),
		TP_TEST(test_from_json_refs_and_messages),
		TP_TEST(test_from_json_oom),
		TP_TEST(test_match_table),
		TP_TEST(test_match_pattern_side),
		TP_TEST(test_restrict_symbols),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
