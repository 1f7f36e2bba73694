/*
 * render.c - the pattern row of the REST scan (docs/rest.md) and its
 * display formats (see render.h).
 *
 * Responsibilities: one function, tp_render_row, produces the row bytes
 * that REST and every push transport send, so all clients see the same
 * text; tp_pattern_abbrev makes the short "pattern" name and
 * tp_pattern_expand reads it back, so whatever a page shows can be typed
 * into a filter; tp_render_error writes the error body of every JSON error
 * answer. The display strings (time, exp) depend on the clock, which is
 * passed in: a cached row is re-rendered at answer time, never stored.
 *
 * Rounding choices: "conf" is the confidence rounded to 2 decimals (half
 * away from zero, as Python's display did for the examples), "confidence"
 * is the exact value. Ages and time left are floored, so a pattern with 59 s
 * left shows "0m" rather than claiming a full minute.
 *
 * Pure and allocation-free apart from the caller's tp_buf.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tickpush/buf.h"
#include "tickpush/render.h"
#include "text.h"

/* Ages and times left above this many seconds (~31 million years) print
 * as if they were this long: keeps the strings short for absurd clocks. */
#define DURATION_CAP 1e15

static const struct {
	const char *full;
	const char *abbr;
} abbrevs[] = {
	{"Weekly_Breakout", "WeeklyBO"},  {"Bull_Flag", "BullFlag"},
	{"Trendline_Hold", "TrendHold"},  {"Volume_Spike", "VolSpike"},
	{"Gap_Fill", "GapFill"},          {"Momentum_Shift", "MomShift"},
	{"Support_Test", "Support"},      {"Resistance_Break", "ResBreak"},
	{"Ascending_Triangle", "AscTri"}, {"Reversal_Signal", "Reversal"},
};

/* Shown as they are, even when longer than the 8-byte cut. */
static const char *const unchanged[] = {"Doji", "Hammer", "Engulfing"};

/*
 * Further pattern types tickpush knows by name: those TickStockPL's pattern
 * library publishes and those seen in its events over time. They are shown
 * by the 8-byte cut like any unknown type; being listed only lets
 * tp_pattern_expand read their abbreviation back. Types that are not
 * listed anywhere here are stored, filtered and shown all the same.
 */
static const char *const known_others[] = {
	"Support_Bounce", "Head_Shoulders", "Cup_Handle",
	"HeadAndShoulders", "InverseHeadAndShoulders", "DoubleBottom",
	"MACrossover", "Day1Breakout", "HighOfDay", "LowOfDay",
	"TrendingUp", "TrendingDown",
	"ClosedInTop10Percent", "ClosedInBottom10Percent",
};

#define ABBREV_CUT 8

void tp_pattern_abbrev(const char *pattern_type, char out[TP_ABBREV_MAX])
{
	const char *src = pattern_type ? pattern_type : "";
	size_t n;

	for (size_t i = 0; i < TP_ARRAY_SIZE(abbrevs); i++) {
		if (tp_ascii_ieq(src, abbrevs[i].full)) {
			snprintf(out, TP_ABBREV_MAX, "%s", abbrevs[i].abbr);
			return;
		}
	}
	for (size_t i = 0; i < TP_ARRAY_SIZE(unchanged); i++) {
		if (tp_ascii_ieq(src, unchanged[i])) {
			snprintf(out, TP_ABBREV_MAX, "%s", src);
			return;
		}
	}
	/* Never split a UTF-8 sequence: a character the cut lands in goes. */
	n = tp_utf8_cut(src, strlen(src), ABBREV_CUT);
	memcpy(out, src, n);
	out[n] = '\0';
}

static size_t known_count(void)
{
	return TP_ARRAY_SIZE(abbrevs) + TP_ARRAY_SIZE(unchanged) +
	       TP_ARRAY_SIZE(known_others);
}

static const char *known_at(size_t i)
{
	if (i < TP_ARRAY_SIZE(abbrevs))
		return abbrevs[i].full;
	i -= TP_ARRAY_SIZE(abbrevs);
	if (i < TP_ARRAY_SIZE(unchanged))
		return unchanged[i];
	return known_others[i - TP_ARRAY_SIZE(unchanged)];
}

const char *tp_pattern_known(size_t i)
{
	return i < known_count() ? known_at(i) : NULL;
}

size_t tp_pattern_expand(const char *text, const char **out, size_t max)
{
	char abbr[TP_ABBREV_MAX];
	size_t n = 0;

	if (!text || !text[0])
		return 0;
	/* A full name means itself, even when it is also the display form
	 * of another type. */
	for (size_t i = 0; i < known_count(); i++) {
		if (tp_ascii_ieq(text, known_at(i))) {
			if (max)
				out[0] = known_at(i);
			return 1;
		}
	}
	for (size_t i = 0; i < known_count(); i++) {
		tp_pattern_abbrev(known_at(i), abbr);
		if (!tp_ascii_ieq(text, abbr))
			continue;
		if (n < max) {
			/* Sorted by name, so messages list candidates stably. */
			size_t k = n;

			while (k > 0 && strcmp(out[k - 1], known_at(i)) > 0) {
				out[k] = out[k - 1];
				k--;
			}
			out[k] = known_at(i);
		}
		n++;
	}
	return n;
}

/* floor(count) and the unit, as snprintf "%.0f%c" of floor(count) would
 * write them. The digits are made by hand: printing doubles was most of
 * what a cached scan row costs. count is within [0, DURATION_CAP], so
 * the integer is exact. */
static void put_count(char *out, size_t n, double count, char unit)
{
	char tmp[24];
	size_t k = sizeof(tmp), len;
	unsigned long long v = (unsigned long long)floor(count);

	tmp[--k] = unit;
	do {
		tmp[--k] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	len = sizeof(tmp) - k;
	if (len > n - 1)
		len = n - 1;
	memcpy(out, tmp + k, len);
	out[len] = '\0';
}

void tp_format_age(char *out, size_t n, double seconds)
{
	if (!n)
		return;
	if (!(seconds > 0)) /* negative (clock skew) or NaN */
		seconds = 0;
	if (seconds > DURATION_CAP)
		seconds = DURATION_CAP;
	if (seconds < 60)
		put_count(out, n, seconds, 's');
	else if (seconds < 3600)
		put_count(out, n, seconds / 60, 'm');
	else if (seconds < 86400)
		put_count(out, n, seconds / 3600, 'h');
	else
		put_count(out, n, seconds / 86400, 'd');
}

void tp_format_expiry(char *out, size_t n, double seconds_left)
{
	if (!n)
		return;
	if (!(seconds_left > 0)) {
		snprintf(out, n, "Expired");
		return;
	}
	if (seconds_left > DURATION_CAP)
		seconds_left = DURATION_CAP;
	if (seconds_left < 3600)
		put_count(out, n, seconds_left / 60, 'm');
	else if (seconds_left < 86400)
		put_count(out, n, seconds_left / 3600, 'h');
	else
		put_count(out, n, seconds_left / 86400, 'd');
}

/* The three below are snprintf's "%.1fx", "$%.2f" and "%+.1f%%", the
 * number through tp_fmt_fixed (no printf for the usual values). */
void tp_format_ratio(char *out, size_t n, double v)
{
	size_t len;

	if (n < 2) {
		if (n)
			out[0] = '\0';
		return;
	}
	len = tp_fmt_fixed(out, n - 1, v, 1);
	if (len + 2 <= n) {
		out[len] = 'x';
		out[len + 1] = '\0';
	} else {
		snprintf(out, n, "%.1fx", v);
	}
}

void tp_format_price(char *out, size_t n, double v)
{
	if (n < 2) {
		if (n)
			out[0] = '\0';
		return;
	}
	out[0] = '$';
	tp_fmt_fixed(out + 1, n - 1, v, 2);
}

void tp_format_change(char *out, size_t n, double v)
{
	size_t len;

	if (n < 4 || !isfinite(v) || signbit(v)) {
		if (n)
			snprintf(out, n, "%+.1f%%", v);
		return;
	}
	out[0] = '+';
	len = 1 + tp_fmt_fixed(out + 1, n - 2, v, 1);
	if (len + 2 <= n) {
		out[len] = '%';
		out[len + 1] = '\0';
	} else {
		snprintf(out, n, "%+.1f%%", v);
	}
}

/* Enough for "%.2f" of DBL_MAX (309 digits) plus sign and decorations. */
#define FMT_MAX 352

/* The row is rendered in three parts so stores can keep the first and
 * last (everything but "time"/"exp", which depend on the clock) and
 * answer a scan by copying bytes: formatting doubles is most of the cost. */
void tp_render_row_head(struct tp_buf *b, const struct tp_pattern *p)
{
	char abbr[TP_ABBREV_MAX];
	char tmp[FMT_MAX];

	tp_buf_json_open(b, "id");
	tp_buf_json_str(b, p->id);
	tp_buf_json_kv_str(b, "symbol", p->symbol);
	tp_pattern_abbrev(p->pattern_type, abbr);
	tp_buf_json_kv_str(b, "pattern", abbr);
	tp_buf_json_kv_str(b, "pattern_type", p->pattern_type);
	tp_buf_json_kv_num(b, "conf", round(p->confidence * 100) / 100);
	tp_buf_json_kv_num(b, "confidence", p->confidence);
	tp_format_ratio(tmp, sizeof(tmp), p->rs);
	tp_buf_json_kv_str(b, "rs", tmp);
	tp_format_ratio(tmp, sizeof(tmp), p->rvol);
	tp_buf_json_kv_str(b, "vol", tmp);
	tp_format_price(tmp, sizeof(tmp), p->current_price);
	tp_buf_json_kv_str(b, "price", tmp);
	tp_format_change(tmp, sizeof(tmp), p->price_change);
	tp_buf_json_kv_str(b, "chg", tmp);
}

void tp_render_row_times(struct tp_buf *b, const struct tp_pattern *p,
			 double now)
{
	char tmp[FMT_MAX];

	tp_format_age(tmp, sizeof(tmp), now - p->detected_at);
	tp_buf_json_kv_str(b, "time", tmp);
	tp_format_expiry(tmp, sizeof(tmp), p->expires_at - now);
	tp_buf_json_kv_str(b, "exp", tmp);
}

void tp_render_row_tail(struct tp_buf *b, const struct tp_pattern *p)
{
	tp_buf_json_kv_str(b, "source", tp_tier_name(p->tier));
	tp_buf_json_kv_num(b, "current_price", p->current_price);
	tp_buf_json_kv_num(b, "price_change", p->price_change);
	tp_buf_json_kv_num(b, "detected_at", p->detected_at);
	tp_buf_json_kv_num(b, "expires_at", p->expires_at);
	tp_buf_json_key(b, "indicators", false);
	tp_pattern_indicators_json(b, p);
	tp_buf_putc(b, '}');
}

void tp_render_row(struct tp_buf *b, const struct tp_pattern *p, double now)
{
	tp_render_row_head(b, p);
	tp_render_row_times(b, p, now);
	tp_render_row_tail(b, p);
}

void tp_render_error(struct tp_buf *b, const char *msg, const char *field,
		     const char *extra)
{
	tp_buf_json_open(b, "error");
	tp_buf_json_str(b, msg);
	if (field)
		tp_buf_json_kv_str(b, "field", field);
	if (extra) {
		tp_buf_putc(b, ',');
		tp_buf_puts(b, extra);
	}
	tp_buf_putc(b, '}');
}
