/*
 * test_render.c - the scan's pattern row (protocol/render.c): exact rows
 * for fixed inputs and a fixed clock, the rounding edges of "time" and
 * "exp", the display formats, the abbreviation map and reading displayed
 * names back.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "test_support.h"
#include "tickpush/buf.h"
#include "tickpush/event.h"
#include "tickpush/json.h"
#include "tickpush/render.h"

#define T0 1725456789.0

static void render(const struct tp_pattern *p, double now, struct tp_buf *b)
{
	tp_buf_init(b, 0);
	tp_render_row(b, p, now);
	assert_false(b->oom);
}

/* A parsed event (shape A) seen 15 minutes after detection, 4.5 h left. */
static void test_row_from_event(void **state)
{
	static const char json[] =
		"{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"aapl\","
		"\"pattern\":\"Weekly_Breakout\",\"confidence\":0.85,\"current_price\":150.25,"
		"\"price_change\":2.3,\"timestamp\":1725456789,\"expires_at\":1725473000.5,"
		"\"indicators\":{\"relative_strength\":1.4,\"relative_volume\":2.1,"
		"\"rsi\":65.5,\"sma_20\":148.5},\"source\":\"daily\"}}";
	const struct tp_event_opts opts = {.now = T0, .default_ttl = 3600};
	struct tp_event ev;
	struct tp_buf b;

	(void)state;
	assert_int_equal(tp_event_parse(TP_CH_PATTERNS, json, strlen(json),
					&opts, &ev, NULL),
			 TP_REJECT_NONE);
	render(&ev.pattern, T0 + 900, &b);
	assert_string_equal(tp_buf_cstr(&b),
		"{\"id\":\"AAPL:Weekly_Breakout:1725456789\",\"symbol\":\"AAPL\","
		"\"pattern\":\"WeeklyBO\",\"pattern_type\":\"Weekly_Breakout\","
		"\"conf\":0.85,\"confidence\":0.85,\"rs\":\"1.4x\",\"vol\":\"2.1x\","
		"\"price\":\"$150.25\",\"chg\":\"+2.3%\",\"time\":\"15m\",\"exp\":\"4h\","
		"\"source\":\"daily\",\"current_price\":150.25,\"price_change\":2.3,"
		"\"detected_at\":1725456789,\"expires_at\":1725473000.5,"
		"\"indicators\":{\"relative_strength\":1.4,\"relative_volume\":2.1,"
		"\"rsi\":65.5,\"sma_20\":148.5}}");
	/* The same record later: only time and exp move. */
	tp_buf_reset(&b);
	tp_render_row(&b, &ev.pattern, T0 + 2 * 86400);
	assert_non_null(strstr(tp_buf_cstr(&b),
			       "\"time\":\"2d\",\"exp\":\"Expired\","));
	tp_buf_cleanup(&b);
	tp_event_cleanup(&ev);
}

/* A hand-built record: no indicators_json (defaults come from rs/rvol/rsi),
 * unknown tier, a name cut to 8 bytes, conf rounded to 2 decimals,
 * negative change, a clock behind detected_at. */
static void test_row_hand_built(void **state)
{
	struct tp_pattern p;
	struct tp_buf b;

	(void)state;
	memset(&p, 0, sizeof(p));
	snprintf(p.id, sizeof(p.id), "TSLA:Support_Bounce:1725456789");
	snprintf(p.symbol, sizeof(p.symbol), "TSLA");
	snprintf(p.pattern_type, sizeof(p.pattern_type), "Support_Bounce");
	p.confidence = 0.856;
	p.current_price = 1234.5;
	p.price_change = -1.26;
	p.detected_at = T0;
	p.expires_at = T0 + 30;
	p.rs = 0.96;
	p.rvol = 12.34;
	p.rsi = 50;
	p.tier = TP_TIER_UNKNOWN;
	render(&p, T0 - 10, &b);
	assert_string_equal(tp_buf_cstr(&b),
		"{\"id\":\"TSLA:Support_Bounce:1725456789\",\"symbol\":\"TSLA\","
		"\"pattern\":\"Support_\",\"pattern_type\":\"Support_Bounce\","
		"\"conf\":0.86,\"confidence\":0.856,\"rs\":\"1.0x\",\"vol\":\"12.3x\","
		"\"price\":\"$1234.50\",\"chg\":\"-1.3%\",\"time\":\"0s\",\"exp\":\"0m\","
		"\"source\":\"unknown\",\"current_price\":1234.5,\"price_change\":-1.26,"
		"\"detected_at\":1725456789,\"expires_at\":1725456819,"
		"\"indicators\":{\"relative_strength\":0.96,\"relative_volume\":12.34,\"rsi\":50}}");
	tp_buf_cleanup(&b);
}

/* Rows are valid JSON with the rest.md keys in order, also when strings
 * need escaping. */
static void test_row_is_json(void **state)
{
	static const char *const keys[] = {
		"id", "symbol", "pattern", "pattern_type", "conf", "confidence",
		"rs", "vol", "price", "chg", "time", "exp", "source",
		"current_price", "price_change", "detected_at", "expires_at",
		"indicators",
	};
	struct tp_pattern p;
	struct tp_buf b;
	cJSON *root, *it;
	size_t i = 0;

	(void)state;
	memset(&p, 0, sizeof(p));
	snprintf(p.id, sizeof(p.id), "X:Bull\"Fl\\ag:1");
	snprintf(p.symbol, sizeof(p.symbol), "X");
	snprintf(p.pattern_type, sizeof(p.pattern_type), "Bull\"Fl\\ag");
	p.confidence = 1;
	p.current_price = 1e300; /* absurd but finite: no truncation */
	p.detected_at = T0;
	p.expires_at = T0 + 1e9;
	p.tier = TP_TIER_COMBO;
	render(&p, T0, &b);
	root = cJSON_ParseWithLength(tp_buf_data(&b), b.len);
	assert_non_null(root);
	cJSON_ArrayForEach(it, root) {
		assert_true(i < TP_ARRAY_SIZE(keys));
		assert_string_equal(it->string, keys[i]);
		i++;
	}
	assert_int_equal(i, TP_ARRAY_SIZE(keys));
	it = cJSON_GetObjectItemCaseSensitive(root, "pattern_type");
	assert_string_equal(it->valuestring, "Bull\"Fl\\ag");
	it = cJSON_GetObjectItemCaseSensitive(root, "pattern");
	assert_string_equal(it->valuestring, "Bull\"Fl\\");
	it = cJSON_GetObjectItemCaseSensitive(root, "price");
	assert_int_equal(strlen(it->valuestring), 1 + 301 + 3);
	it = cJSON_GetObjectItemCaseSensitive(root, "exp");
	assert_string_equal(it->valuestring, "11574d");
	it = cJSON_GetObjectItemCaseSensitive(root, "source");
	assert_string_equal(it->valuestring, "combo");
	cJSON_Delete(root);
	tp_buf_cleanup(&b);
}

static void test_age(void **state)
{
	static const struct {
		double s;
		const char *want;
	} cases[] = {
		{0, "0s"},        {0.999, "0s"},    {59.9, "59s"},
		{60, "1m"},       {119.99, "1m"},   {3599, "59m"},
		{3599.99, "59m"}, {3600, "1h"},     {7199, "1h"},
		{86399, "23h"},   {86399.9, "23h"}, {86400, "1d"},
		{86400 * 400.0, "400d"},            {-5, "0s"},
		{-1e12, "0s"},    {NAN, "0s"},
	};
	char out[32];

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(cases); i++) {
		tp_format_age(out, sizeof(out), cases[i].s);
		print_message("age %g -> %s\n", cases[i].s, out);
		assert_string_equal(out, cases[i].want);
	}
	/* Truncated, still terminated. */
	tp_format_age(out, 3, 86400 * 400.0);
	assert_string_equal(out, "40");
	out[0] = 'z';
	tp_format_age(out, 0, 5);
	assert_int_equal(out[0], 'z');
}

static void test_expiry(void **state)
{
	static const struct {
		double s;
		const char *want;
	} cases[] = {
		{0, "Expired"},   {-1, "Expired"},   {NAN, "Expired"},
		{-0.0, "Expired"}, {0.5, "0m"},      {59, "0m"},
		{59.99, "0m"},    {60, "1m"},        {3599, "59m"},
		{3600, "1h"},     {14400, "4h"},     {86399, "23h"},
		{86400, "1d"},    {86400 * 3.5, "3d"},
	};
	char out[32];

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(cases); i++) {
		tp_format_expiry(out, sizeof(out), cases[i].s);
		print_message("exp %g -> %s\n", cases[i].s, out);
		assert_string_equal(out, cases[i].want);
	}
}

static void test_number_formats(void **state)
{
	char out[64];

	(void)state;
	tp_format_ratio(out, sizeof(out), 1.44);
	assert_string_equal(out, "1.4x");
	tp_format_ratio(out, sizeof(out), 2.06);
	assert_string_equal(out, "2.1x");
	tp_format_ratio(out, sizeof(out), 0);
	assert_string_equal(out, "0.0x");
	tp_format_price(out, sizeof(out), 150.25);
	assert_string_equal(out, "$150.25");
	tp_format_price(out, sizeof(out), 0);
	assert_string_equal(out, "$0.00");
	tp_format_price(out, sizeof(out), 9.999);
	assert_string_equal(out, "$10.00");
	tp_format_change(out, sizeof(out), 2.3);
	assert_string_equal(out, "+2.3%");
	tp_format_change(out, sizeof(out), -1.26);
	assert_string_equal(out, "-1.3%");
	tp_format_change(out, sizeof(out), 0);
	assert_string_equal(out, "+0.0%");
}

/* The formats are snprintf's bytes for any double, at any buffer size
 * (they skip printf for the usual values). */
static void test_number_formats_as_printf(void **state)
{
	static const double fixed[] = {
		0.0, -0.0, 0.05, -0.05, 0.25, 0.125, 2.675, 1.45, -1.45, 9.995,
		1e11, 1e12, 1e300, -1e300, 1e-300, 123456789.125, 0.1 + 0.2,
	};
	unsigned long long x = 0x9e3779b97f4a7c15ull;
	char got[400], want[400];

	(void)state;
	for (int i = 0; i < 200000; i++) {
		size_t n = i % 5 ? sizeof(got) : (size_t)(i / 5 % 12);
		double v;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (i < (int)TP_ARRAY_SIZE(fixed))
			v = fixed[i];
		else if (i % 7 == 0)
			v = i % 2 ? (double)NAN : (i % 3 ? (double)INFINITY : -(double)INFINITY);
		else if (i % 3 == 0) /* whole cents and tenths, either sign */
			v = (double)(long long)(x % 2000000ull - 1000000ull) / (i % 2 ? 100.0 : 10.0);
		else if (i % 3 == 1)
			v = (double)(x % 100000000ull) / 1e3 * ((x >> 40) % 2 ? -1 : 1);
		else
			memcpy(&v, &x, sizeof(v));
		memset(got, 'Z', sizeof(got));
		tp_format_ratio(got, n, v);
		snprintf(want, n, "%.1fx", v);
		if (n && strcmp(got, want))
			fail_msg("ratio %.17g n=%zu: %s, printf %s", v, n, got, want);
		tp_format_price(got, n, v);
		snprintf(want, n, "$%.2f", v);
		if (n && strcmp(got, want))
			fail_msg("price %.17g n=%zu: %s, printf %s", v, n, got, want);
		tp_format_change(got, n, v);
		snprintf(want, n, "%+.1f%%", v);
		if (n && strcmp(got, want))
			fail_msg("change %.17g n=%zu: %s, printf %s", v, n, got, want);
		for (int d = 1; d <= 7; d += 2) {
			int w = snprintf(want, n, "%.*f", d, v);

			if (tp_fmt_fixed(got, n, v, d) != (size_t)w || (n && strcmp(got, want)))
				fail_msg("fixed %.17g %d n=%zu: %s, printf %s", v, d, n, got, want);
		}
	}
}

static void test_abbrev(void **state)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
		{"Weekly_Breakout", "WeeklyBO"},
		{"Bull_Flag", "BullFlag"},
		{"Trendline_Hold", "TrendHold"},
		{"Volume_Spike", "VolSpike"},
		{"Gap_Fill", "GapFill"},
		{"Momentum_Shift", "MomShift"},
		{"Support_Test", "Support"},
		{"Resistance_Break", "ResBreak"},
		{"Ascending_Triangle", "AscTri"},
		{"Reversal_Signal", "Reversal"},
		{"weekly_BREAKOUT", "WeeklyBO"},
		{"Doji", "Doji"},
		{"Hammer", "Hammer"},
		{"Engulfing", "Engulfing"}, /* 9 characters, not cut */
		{"engulfing", "engulfing"}, /* unchanged means as given */
		{"Support_Bounce", "Support_"},
		{"Head_And_Shoulders", "Head_And"},
		{"ABCDEFGH", "ABCDEFGH"},
		{"ABCDEFGHI", "ABCDEFGH"},
		{"Short", "Short"},
		{"", ""},
		/* Cuts never split a UTF-8 sequence. */
		{"Drei_Ra\xc3\xbc" "ben", "Drei_Ra"},
		{"ABCDEF\xe2\x82\xac" "x", "ABCDEF"},
		{"ABCDEFG\xe2\x82\xac", "ABCDEFG"},
		{"ABCDE\xe2\x82\xac" "xy", "ABCDE\xe2\x82\xac"},
		{"\xf0\x9f\x93\x88\xf0\x9f\x93\x88\xf0\x9f\x93\x88",
		 "\xf0\x9f\x93\x88\xf0\x9f\x93\x88"},
	};
	char out[TP_ABBREV_MAX];

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(cases); i++) {
		memset(out, 'z', sizeof(out));
		tp_pattern_abbrev(cases[i].in, out);
		print_message("abbrev %s -> %s\n", cases[i].in, out);
		assert_string_equal(out, cases[i].want);
	}
	tp_pattern_abbrev(NULL, out);
	assert_string_equal(out, "");
}

/* Reading a display name back: the map, the 8-byte cuts, full names,
 * ambiguity, unknown names. */
static void test_expand(void **state)
{
	static const char *const full[] = {
		"Weekly_Breakout", "Bull_Flag", "Trendline_Hold", "Volume_Spike",
		"Gap_Fill", "Momentum_Shift", "Support_Test", "Resistance_Break",
		"Ascending_Triangle", "Reversal_Signal",
	};
	static const struct {
		const char *text, *want;
	} one[] = {
		{"weeklybo", "Weekly_Breakout"},  {"TRENDHOLD", "Trendline_Hold"},
		{"asctri", "Ascending_Triangle"}, {"Cup_Hand", "Cup_Handle"},
		{"cup_hand", "Cup_Handle"},       {"Support_", "Support_Bounce"},
		{"HeadAndS", "HeadAndShoulders"}, {"InverseH", "InverseHeadAndShoulders"},
		{"Head_Sho", "Head_Shoulders"},   {"Day1Brea", "Day1Breakout"},
		/* Full names stand for themselves (in any case). */
		{"Doji", "Doji"},                 {"engulfing", "Engulfing"},
		{"Weekly_Breakout", "Weekly_Breakout"}, {"LowOfDay", "LowOfDay"},
		{"TrendingUp", "TrendingUp"},
	};
	const char *out[4];
	char abbr[TP_ABBREV_MAX];

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(full); i++) {
		tp_pattern_abbrev(full[i], abbr);
		assert_string_not_equal(abbr, full[i]);
		assert_int_equal(tp_pattern_expand(abbr, out, 4), 1);
		assert_string_equal(out[0], full[i]);
	}
	for (size_t i = 0; i < TP_ARRAY_SIZE(one); i++) {
		print_message("expand %s\n", one[i].text);
		assert_int_equal(tp_pattern_expand(one[i].text, out, 4), 1);
		assert_string_equal(out[0], one[i].want);
	}
	/* Shared cuts: every candidate, sorted by name. */
	assert_int_equal(tp_pattern_expand("Trending", out, 4), 2);
	assert_string_equal(out[0], "TrendingDown");
	assert_string_equal(out[1], "TrendingUp");
	assert_int_equal(tp_pattern_expand("closedin", out, 4), 2);
	assert_string_equal(out[0], "ClosedInBottom10Percent");
	assert_string_equal(out[1], "ClosedInTop10Percent");
	/* The count is exact even when out is too small. */
	assert_int_equal(tp_pattern_expand("Trending", out, 1), 2);
	assert_int_equal(tp_pattern_expand("Trending", NULL, 0), 2);
	/* Not displayed for any known type. */
	assert_int_equal(tp_pattern_expand("WeeklyB", out, 4), 0);
	assert_int_equal(tp_pattern_expand("WeeklyBOx", out, 4), 0);
	assert_int_equal(tp_pattern_expand("Weekly_B", out, 4), 0);
	assert_int_equal(tp_pattern_expand("Cup_Han", out, 4), 0);
	assert_int_equal(tp_pattern_expand("Awesome_Thing", out, 4), 0);
	assert_int_equal(tp_pattern_expand("", out, 4), 0);
	assert_int_equal(tp_pattern_expand(NULL, out, 4), 0);
}

/* Every name the scan can display for a known type reads back to that
 * type, or is ambiguous and names it among the candidates. */
static void test_expand_every_known_type(void **state)
{
	const char *name, *out[16];
	char abbr[TP_ABBREV_MAX];
	size_t i, n;

	(void)state;
	for (i = 0; (name = tp_pattern_known(i)); i++) {
		bool found = false;

		tp_pattern_abbrev(name, abbr);
		n = tp_pattern_expand(abbr, out, TP_ARRAY_SIZE(out));
		print_message("known %s -> %s (%zu)\n", name, abbr, n);
		assert_true(n >= 1 && n <= TP_ARRAY_SIZE(out));
		for (size_t k = 0; k < n; k++)
			found = found || !strcmp(out[k], name);
		assert_true(found);
		/* The full name always reads back alone. */
		assert_int_equal(tp_pattern_expand(name, out, 1), 1);
		assert_string_equal(out[0], name);
	}
	assert_true(i >= 13); /* the map and the unchanged names at least */
	assert_null(tp_pattern_known(i));
}

static void test_error_body(void **state)
{
	struct tp_buf b;

	(void)state;
	tp_buf_init(&b, 0);
	tp_render_error(&b, "Not found", NULL, NULL);
	assert_string_equal(tp_buf_cstr(&b), "{\"error\":\"Not found\"}");
	tp_buf_reset(&b);
	/* The message and field are escaped; extra members come last. */
	tp_render_error(&b, "bad \"x\"\n", "limit", "\"symbols\":[],\"count\":0");
	assert_string_equal(tp_buf_cstr(&b),
		"{\"error\":\"bad \\\"x\\\"\\n\",\"field\":\"limit\","
		"\"symbols\":[],\"count\":0}");
	tp_buf_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_row_from_event),
		TP_TEST(test_row_hand_built),
		TP_TEST(test_row_is_json),
		TP_TEST(test_age),
		TP_TEST(test_expiry),
		TP_TEST(test_number_formats),
		TP_TEST(test_number_formats_as_printf),
		TP_TEST(test_abbrev),
		TP_TEST(test_expand),
		TP_TEST(test_expand_every_known_type),
		TP_TEST(test_error_body),
	};

	/* cJSON trees in these tests go through tp_malloc like everywhere. */
	tp_json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
