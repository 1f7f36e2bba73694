/*
 * event.c - parse and normalise TickStockPL events (see event.h and
 * docs/events.md).
 *
 * Responsibilities: turn one pub/sub message into one struct tp_event, or a
 * reject reason plus a message naming the offending field; render the
 * normalised pattern record as the JSON of the Redis cache layout and read
 * it back (warm start, also the original system's records).
 *
 * How shapes are handled: the message is parsed once with cJSON, then the
 * chain of nested "data" objects is collected into a scope (root first, at
 * most MAX_DATA_DEPTH envelopes deep). Every field lookup walks that scope
 * from the innermost object outwards and tries each alternative name at a
 * level before moving out, so nested (A), flat (B), double-nested (C) and
 * renamed (D) shapes all go through the same code. A JSON null counts as
 * absent everywhere (Python producers send None for "no value").
 *
 * Invariants: on success every string of the record is NUL-terminated and
 * within its bound, symbol matches [A-Z0-9._/-]{1,16}, pattern_type is valid
 * UTF-8 without control characters, numbers are finite, times lie in
 * (0, TIME_MAX), confidence in [0,1] and indicators_json is a compact JSON
 * object whose first three keys are relative_strength, relative_volume, rsi.
 * On failure the output is all zeroes and owns nothing.
 *
 * Ownership: the cJSON tree lives only inside one call (allocated through
 * tp_malloc via tp_json_init). The event owns indicators_json and
 * data_json; tp_event_cleanup / tp_pattern_cleanup free them.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/date.h"
#include "tickpush/event.h"
#include "tickpush/json.h"
#include "tickpush/symbol.h"
#include "text.h"

/* Nested "data" envelopes followed below the root (shape C needs 2). */
#define MAX_DATA_DEPTH 4
/* Epoch seconds accepted for any time: after 1970, before year 5138.
 * Keeps the integer part of ids well inside long long. */
#define TIME_MAX 1e11
/* expires_at of a stored record that lacks it: PATTERN_CACHE_TTL's
 * documented default (the warm-start reader has no configuration). */
#define STORED_DEFAULT_TTL 3600.0
#define STATUS_MAX 31
/* A stored record may be larger than the event it came from: numbers are
 * rewritten in full ("1e14" becomes 15 digits), at most about 4x. */
#define RECORD_MAX_BYTES (4 * TP_EVENT_MAX_BYTES)

struct scope {
	const cJSON *lv[MAX_DATA_DEPTH + 1]; /* lv[0] root, lv[n-1] innermost */
	int n;
};

/* How parse_pattern treats absent fields. */
struct pattern_mode {
	bool expired;  /* pattern_expired: id may be given, confidence optional */
	bool stored;   /* a cache record: detected_at required, id accepted */
	double now;
	double ttl;
};

static enum tp_reject fail(struct tp_errdetail *err, enum tp_reject r,
			   const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum tp_reject fail(struct tp_errdetail *err, enum tp_reject r,
			   const char *field, const char *fmt, ...)
{
	char tmp[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return r;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	tp_errdetail_set(err, 0, field, "%s: %s", field, tmp);
	return r;
}

static void scope_init(struct scope *sc, const cJSON *root)
{
	sc->lv[0] = root;
	sc->n = 1;
	while (sc->n <= MAX_DATA_DEPTH) {
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(
			sc->lv[sc->n - 1], "data");

		if (!cJSON_IsObject(d))
			break;
		sc->lv[sc->n++] = d;
	}
}

/* First non-null value under any of names (NULL-terminated list), searching
 * the innermost level first. */
static const cJSON *find(const struct scope *sc, const char *const *names)
{
	for (int i = sc->n - 1; i >= 0; i--) {
		for (const char *const *nm = names; *nm; nm++) {
			const cJSON *it =
				cJSON_GetObjectItemCaseSensitive(sc->lv[i], *nm);

			if (it && !cJSON_IsNull(it))
				return it;
		}
	}
	return NULL;
}

static const cJSON *find1(const struct scope *sc, const char *name)
{
	const char *names[] = {name, NULL};

	return find(sc, names);
}

/* 1..max bytes of valid UTF-8 without control characters. */
static bool text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t k;

		if (c < 0x20 || c == 0x7f)
			return false;
		k = tp_utf8_seq((const unsigned char *)s + i, n - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

/* Moves the buffer's text into a fresh NUL-terminated string. */
static enum tp_reject buf_take(struct tp_buf *b, char **out,
			       const char *field, struct tp_errdetail *err)
{
	if (!b->oom)
		*out = tp_strndup(tp_buf_cstr(b), b->len);
	tp_buf_cleanup(b);
	if (!*out)
		return fail(err, TP_REJECT_NOMEM, field, "out of memory");
	return TP_REJECT_NONE;
}

/* ------------------------------------------------------------------ */
/* Field readers. Each returns TP_REJECT_NONE or fills err.             */

static enum tp_reject number_value(const cJSON *it, const char *field,
				   double *out, struct tp_errdetail *err)
{
	if (!cJSON_IsNumber(it))
		return fail(err, TP_REJECT_BAD_TYPE, field, "must be a number");
	if (!isfinite(it->valuedouble))
		return fail(err, TP_REJECT_OUT_OF_RANGE, field,
			    "must be a finite number");
	*out = it->valuedouble;
	return TP_REJECT_NONE;
}

/* Optional finite number; *out keeps its default when absent. */
static enum tp_reject opt_number(const cJSON *it, const char *field,
				 double min, double max, double *out,
				 struct tp_errdetail *err)
{
	double v = 0; /* set by number_value on success (gcc -O2 cannot tell) */
	enum tp_reject r;

	if (!it || cJSON_IsNull(it))
		return TP_REJECT_NONE;
	r = number_value(it, field, &v, err);
	if (r)
		return r;
	if (v < min || v > max) {
		if (isinf(max))
			return fail(err, TP_REJECT_OUT_OF_RANGE, field,
				    "must be a number >= %g", min);
		return fail(err, TP_REJECT_OUT_OF_RANGE, field,
			    "must be a number in [%g,%g]", min, max);
	}
	*out = v;
	return TP_REJECT_NONE;
}

/* A fraction in [0,1], or a percentage in (1,100] divided by 100. */
static enum tp_reject fraction_value(const cJSON *it, const char *field,
				     double *out, struct tp_errdetail *err)
{
	double v;

	if (!cJSON_IsNumber(it))
		return fail(err, TP_REJECT_BAD_TYPE, field,
			    "must be a number in [0,1] or a percentage in (1,100]");
	v = it->valuedouble;
	if (!isfinite(v) || v < 0 || v > 100)
		return fail(err, TP_REJECT_OUT_OF_RANGE, field,
			    "must be a number in [0,1] or a percentage in (1,100]");
	*out = v > 1 ? v / 100 : v;
	return TP_REJECT_NONE;
}

static enum tp_reject time_value(const cJSON *it, const char *field,
				 double *out, struct tp_errdetail *err)
{
	double t;

	if (cJSON_IsNumber(it)) {
		t = it->valuedouble;
	} else if (cJSON_IsString(it)) {
		if (!tp_parse_iso8601(it->valuestring, &t))
			return fail(err, TP_REJECT_BAD_TIME, field,
				    "not an ISO-8601 time");
	} else {
		return fail(err, TP_REJECT_BAD_TYPE, field,
			    "must be epoch seconds or an ISO-8601 string");
	}
	if (!isfinite(t))
		return fail(err, TP_REJECT_BAD_TIME, field, "must be finite");
	if (!(t > 0 && t < TIME_MAX))
		return fail(err, TP_REJECT_OUT_OF_RANGE, field,
			    "must be epoch seconds in (0,1e11)");
	*out = t;
	return TP_REJECT_NONE;
}

static enum tp_reject symbol_value(const cJSON *it, const char *field,
				   char out[TP_SYMBOL_MAX + 1],
				   struct tp_errdetail *err)
{
	const char *s;
	size_t n;

	if (!cJSON_IsString(it))
		return fail(err, TP_REJECT_BAD_TYPE, field, "must be a string");
	s = it->valuestring;
	n = strlen(s);
	if (tp_symbol_norm(s, n, out))
		return TP_REJECT_NONE;
	return fail(err, TP_REJECT_BAD_SYMBOL, field,
		    "must be 1..%d characters of " TP_SYMBOL_CHARS,
		    TP_SYMBOL_MAX);
}

/* A bounded text field (pattern_type, status, id): valid UTF-8, no control
 * characters, 1..max bytes. */
static enum tp_reject text_value(const cJSON *it, const char *field,
				 char *out, size_t max, struct tp_errdetail *err)
{
	if (!cJSON_IsString(it))
		return fail(err, TP_REJECT_BAD_TYPE, field, "must be a string");
	if (!text_ok(it->valuestring, max))
		return fail(err, TP_REJECT_OUT_OF_RANGE, field,
			    "must be 1..%zu bytes of UTF-8 text without control characters",
			    max);
	memcpy(out, it->valuestring, strlen(it->valuestring) + 1);
	return TP_REJECT_NONE;
}

static bool job_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > TP_JOB_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == ':' || c == '-'))
			return false;
	}
	return true;
}

static bool tier_from_name(const char *s, enum tp_tier *out)
{
	static const enum tp_tier tiers[] = {TP_TIER_DAILY, TP_TIER_INTRADAY,
					     TP_TIER_COMBO};

	for (size_t i = 0; i < TP_ARRAY_SIZE(tiers); i++) {
		if (tp_ascii_ieq(s, tp_tier_name(tiers[i]))) {
			*out = tiers[i];
			return true;
		}
	}
	return false;
}

/* The first string under names that names a tier, innermost level first.
 * Anything else (the top-level "source":"tickstock_pl", other types) is
 * not a tier and leaves "unknown". */
static enum tp_tier tier_lookup(const struct scope *sc,
				const char *const *names)
{
	enum tp_tier t;

	for (int i = sc->n - 1; i >= 0; i--) {
		for (const char *const *nm = names; *nm; nm++) {
			const cJSON *it =
				cJSON_GetObjectItemCaseSensitive(sc->lv[i], *nm);

			if (cJSON_IsString(it) && tier_from_name(it->valuestring, &t))
				return t;
		}
	}
	return TP_TIER_UNKNOWN;
}

/* One indicator: optional number in [min,max], default kept. */
static enum tp_reject indicator(const cJSON *ind, const char *key,
				const char *field, double max, double *out,
				struct tp_errdetail *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(ind, key);

	return opt_number(it, field, 0, max, out, err);
}

static bool indicator_known(const char *key)
{
	return key && (!strcmp(key, "relative_strength") ||
		       !strcmp(key, "relative_volume") || !strcmp(key, "rsi"));
}

/* {"relative_strength":...,"relative_volume":...,"rsi":... - the known
 * indicators, left open for the others (the record and the parse share
 * it). */
static void put_indicators_head(struct tp_buf *b, const struct tp_pattern *p)
{
	tp_buf_json_open(b, "relative_strength");
	tp_buf_json_num(b, p->rs);
	tp_buf_json_kv_num(b, "relative_volume", p->rvol);
	tp_buf_json_kv_num(b, "rsi", p->rsi);
}

/* Fills rs/rvol/rsi and indicators_json from the indicators object (NULL
 * or null: all defaults). Other keys pass through in their order. */
static enum tp_reject parse_indicators(const cJSON *ind, struct tp_pattern *p,
				       struct tp_errdetail *err)
{
	struct tp_buf b;
	const cJSON *c;
	enum tp_reject r;

	p->rs = 1.0;
	p->rvol = 1.0;
	p->rsi = 50.0;
	if (ind && cJSON_IsNull(ind))
		ind = NULL;
	if (ind && !cJSON_IsObject(ind))
		return fail(err, TP_REJECT_BAD_TYPE, "indicators",
			    "must be an object");
	if (ind) {
		r = indicator(ind, "relative_strength",
			      "indicators.relative_strength", HUGE_VAL, &p->rs,
			      err);
		if (!r)
			r = indicator(ind, "relative_volume",
				      "indicators.relative_volume", HUGE_VAL,
				      &p->rvol, err);
		if (!r)
			r = indicator(ind, "rsi", "indicators.rsi", 100, &p->rsi,
				      err);
		if (r)
			return r;
	}
	tp_buf_init(&b, 0);
	put_indicators_head(&b, p);
	if (ind) {
		cJSON_ArrayForEach(c, ind) {
			if (indicator_known(c->string))
				continue;
			tp_buf_json_key(&b, c->string ? c->string : "", false);
			tp_json_put(&b, c);
		}
	}
	tp_buf_putc(&b, '}');
	return buf_take(&b, &p->indicators_json, "indicators", err);
}

/* detected_at: per level, innermost first, "detected_at" then
 * "timestamp"; the root's timestamp is thus the last resort before now. */
static enum tp_reject detected_lookup(const struct scope *sc, bool *found,
				      double *out, struct tp_errdetail *err)
{
	static const char *const names[] = {"detected_at", "timestamp"};

	*found = false;
	for (int i = sc->n - 1; i >= 0; i--) {
		for (size_t k = 0; k < TP_ARRAY_SIZE(names); k++) {
			const cJSON *it = cJSON_GetObjectItemCaseSensitive(
				sc->lv[i], names[k]);

			if (it && !cJSON_IsNull(it)) {
				*found = true;
				return time_value(it, names[k], out, err);
			}
		}
	}
	return TP_REJECT_NONE;
}

static enum tp_reject parse_pattern(const struct scope *sc,
				    const struct pattern_mode *m,
				    struct tp_pattern *p,
				    struct tp_errdetail *err)
{
	static const char *const id_names[] = {"id", "pattern_id", NULL};
	static const char *const sym_names[] = {"symbol", "ticker", NULL};
	static const char *const pat_names[] = {"pattern", "pattern_type",
						"pattern_name", NULL};
	static const char *const stored_pat_names[] = {"pattern_type", "pattern",
						       "pattern_name", NULL};
	static const char *const price_names[] = {"current_price", "price",
						  NULL};
	static const char *const tier_names[] = {"source", "tier", NULL};
	static const char *const stored_tier_names[] = {"source_tier", "source",
							"tier", NULL};
	const cJSON *it;
	bool has_id = false, need_names, found;
	enum tp_reject r;

	if (m->expired || m->stored) {
		it = find(sc, id_names);
		if (it) {
			r = text_value(it, "id", p->id, TP_PATTERN_ID_MAX, err);
			if (r)
				return r;
			has_id = true;
		}
	}
	/* Only a removal may name its record by id alone. */
	need_names = !(m->expired && has_id);

	it = find(sc, sym_names);
	if (it) {
		r = symbol_value(it, "symbol", p->symbol, err);
		if (r)
			return r;
	} else if (need_names) {
		return fail(err, TP_REJECT_MISSING_FIELD, "symbol",
			    "required (or \"ticker\")");
	}

	it = find(sc, m->stored ? stored_pat_names : pat_names);
	if (it) {
		r = text_value(it, "pattern_type", p->pattern_type,
			       TP_PATTERN_TYPE_MAX, err);
		if (r)
			return r;
	} else if (need_names) {
		return fail(err, TP_REJECT_MISSING_FIELD, "pattern_type",
			    "required (\"pattern\", \"pattern_type\" or \"pattern_name\")");
	}

	it = find1(sc, "confidence");
	if (it) {
		r = fraction_value(it, "confidence", &p->confidence, err);
		if (r)
			return r;
	} else if (!m->expired) {
		return fail(err, TP_REJECT_MISSING_FIELD, "confidence",
			    "required");
	}

	r = opt_number(find(sc, price_names), "current_price", -HUGE_VAL,
		       HUGE_VAL, &p->current_price, err);
	if (r)
		return r;
	r = opt_number(find1(sc, "price_change"), "price_change", -HUGE_VAL,
		       HUGE_VAL, &p->price_change, err);
	if (r)
		return r;

	r = detected_lookup(sc, &found, &p->detected_at, err);
	if (r)
		return r;
	if (!found) {
		if (m->stored)
			return fail(err, TP_REJECT_MISSING_FIELD, "detected_at",
				    "required");
		p->detected_at = m->now;
	}

	it = find1(sc, "expires_at");
	if (it) {
		r = time_value(it, "expires_at", &p->expires_at, err);
		if (r)
			return r;
	} else {
		p->expires_at = p->detected_at + m->ttl;
		/* Keep the record readable back (tp_pattern_from_json). */
		if (!(p->expires_at > 0 && p->expires_at < TIME_MAX))
			return fail(err, TP_REJECT_OUT_OF_RANGE, "expires_at",
				    "detected_at + TTL must be in (0,1e11)");
	}

	r = parse_indicators(find1(sc, "indicators"), p, err);
	if (r)
		return r;

	p->tier = tier_lookup(sc, m->stored ? stored_tier_names : tier_names);

	/* Informational: kept when well-formed, ignored otherwise. */
	it = find1(sc, "sector");
	if (cJSON_IsString(it) && text_ok(it->valuestring, TP_SECTOR_MAX))
		memcpy(p->sector, it->valuestring, strlen(it->valuestring) + 1);

	if (!has_id)
		snprintf(p->id, sizeof(p->id), "%s:%s:%lld", p->symbol,
			 p->pattern_type, (long long)floor(p->detected_at));
	return TP_REJECT_NONE;
}

/* ------------------------------------------------------------------ */
/* Backtest and health events.                                          */

static enum tp_reject job_id_field(const struct scope *sc, struct tp_event *ev,
				   struct tp_errdetail *err)
{
	const cJSON *it = find1(sc, "job_id");

	if (!it)
		return fail(err, TP_REJECT_MISSING_FIELD, "job_id", "required");
	if (!cJSON_IsString(it))
		return fail(err, TP_REJECT_BAD_TYPE, "job_id", "must be a string");
	if (!job_id_ok(it->valuestring))
		return fail(err, TP_REJECT_OUT_OF_RANGE, "job_id",
			    "must be 1..%d characters of A-Z a-z 0-9 _ . : -",
			    TP_JOB_ID_MAX);
	memcpy(ev->job_id, it->valuestring, strlen(it->valuestring) + 1);
	return TP_REJECT_NONE;
}

/* status: required when def is NULL, else defaults to def. */
static enum tp_reject status_field(const struct scope *sc, struct tp_event *ev,
				   const char *def, struct tp_errdetail *err)
{
	const cJSON *it = find1(sc, "status");

	if (!it) {
		if (!def)
			return fail(err, TP_REJECT_MISSING_FIELD, "status",
				    "required");
		snprintf(ev->status, sizeof(ev->status), "%s", def);
		return TP_REJECT_NONE;
	}
	return text_value(it, "status", ev->status, STATUS_MAX, err);
}

/* An optional object (results, metrics) rendered compactly, {} if absent. */
static enum tp_reject object_field(const struct scope *sc, const char *field,
				   struct tp_buf *b, struct tp_errdetail *err)
{
	const cJSON *it = find1(sc, field);

	if (it && !cJSON_IsObject(it))
		return fail(err, TP_REJECT_BAD_TYPE, field, "must be an object");
	if (it)
		tp_json_put(b, it);
	else
		tp_buf_puts(b, "{}");
	return TP_REJECT_NONE;
}

static enum tp_reject parse_progress(const struct scope *sc,
				     struct tp_event *ev,
				     struct tp_errdetail *err)
{
	const cJSON *it;
	char sym[TP_SYMBOL_MAX + 1] = "";
	double eta = 0, processed = 0;
	bool has_eta = false, has_processed = false;
	struct tp_buf b;
	enum tp_reject r;

	r = job_id_field(sc, ev, err);
	if (r)
		return r;
	it = find1(sc, "progress");
	if (!it)
		return fail(err, TP_REJECT_MISSING_FIELD, "progress", "required");
	r = fraction_value(it, "progress", &ev->progress, err);
	if (r)
		return r;
	r = status_field(sc, ev, "processing", err);
	if (r)
		return r;
	it = find1(sc, "estimated_completion");
	if (it) {
		r = time_value(it, "estimated_completion", &eta, err);
		if (r)
			return r;
		has_eta = true;
	}
	it = find1(sc, "current_symbol");
	if (it) {
		r = symbol_value(it, "current_symbol", sym, err);
		if (r)
			return r;
	}
	it = find1(sc, "processed_symbols");
	if (it) {
		r = opt_number(it, "processed_symbols", 0, HUGE_VAL, &processed,
			       err);
		if (r)
			return r;
		has_processed = true;
	}

	tp_buf_init(&b, 0);
	tp_buf_putc(&b, '{');
	tp_buf_json_key(&b, "job_id", true);
	tp_buf_json_str(&b, ev->job_id);
	tp_buf_json_kv_num(&b, "progress", ev->progress);
	tp_buf_json_kv_str(&b, "status", ev->status);
	if (has_eta)
		tp_buf_json_kv_num(&b, "estimated_completion", eta);
	if (sym[0])
		tp_buf_json_kv_str(&b, "current_symbol", sym);
	if (has_processed)
		tp_buf_json_kv_num(&b, "processed_symbols", processed);
	tp_buf_putc(&b, '}');
	return buf_take(&b, &ev->data_json, "data", err);
}

static enum tp_reject parse_result(const struct scope *sc, struct tp_event *ev,
				   struct tp_errdetail *err)
{
	const cJSON *it;
	double secs = 0;
	struct tp_buf b;
	enum tp_reject r;

	r = job_id_field(sc, ev, err);
	if (!r)
		r = status_field(sc, ev, "completed", err);
	if (r)
		return r;
	it = find1(sc, "processing_time_seconds");
	r = opt_number(it, "processing_time_seconds", 0, HUGE_VAL, &secs, err);
	if (r)
		return r;

	tp_buf_init(&b, 0);
	tp_buf_putc(&b, '{');
	tp_buf_json_key(&b, "job_id", true);
	tp_buf_json_str(&b, ev->job_id);
	tp_buf_json_kv_str(&b, "status", ev->status);
	tp_buf_json_key(&b, "results", false);
	r = object_field(sc, "results", &b, err);
	if (r) {
		tp_buf_cleanup(&b);
		return r;
	}
	if (it)
		tp_buf_json_kv_num(&b, "processing_time_seconds", secs);
	tp_buf_putc(&b, '}');
	return buf_take(&b, &ev->data_json, "data", err);
}

static enum tp_reject parse_health(const struct scope *sc, struct tp_event *ev,
				   struct tp_errdetail *err)
{
	struct tp_buf b;
	enum tp_reject r;

	r = status_field(sc, ev, NULL, err);
	if (r)
		return r;
	tp_buf_init(&b, 0);
	tp_buf_putc(&b, '{');
	tp_buf_json_key(&b, "status", true);
	tp_buf_json_str(&b, ev->status);
	tp_buf_json_key(&b, "metrics", false);
	r = object_field(sc, "metrics", &b, err);
	if (r) {
		tp_buf_cleanup(&b);
		return r;
	}
	tp_buf_json_kv_num(&b, "timestamp", ev->timestamp);
	tp_buf_putc(&b, '}');
	return buf_take(&b, &ev->data_json, "data", err);
}

/* ------------------------------------------------------------------ */

static const struct {
	const char *name;
	enum tp_event_kind kind;
	enum tp_pattern_action action;
	enum tp_channel channel;
} event_types[] = {
	{"pattern_detected", TP_EV_PATTERN, TP_PA_DETECTED, TP_CH_PATTERNS},
	{"pattern_updated", TP_EV_PATTERN, TP_PA_UPDATED, TP_CH_PATTERNS},
	{"pattern_expired", TP_EV_PATTERN, TP_PA_EXPIRED, TP_CH_PATTERNS},
	{"backtest_progress", TP_EV_BACKTEST_PROGRESS, TP_PA_DETECTED,
	 TP_CH_BACKTEST_PROGRESS},
	{"backtest_result", TP_EV_BACKTEST_RESULT, TP_PA_DETECTED,
	 TP_CH_BACKTEST_RESULTS},
	{"system_health", TP_EV_SYSTEM_HEALTH, TP_PA_DETECTED, TP_CH_HEALTH},
};

static bool json_space(char c)
{
	/* A trailing NUL is tolerated: C publishers sometimes send it. */
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0';
}

/* Parses buf as exactly one JSON object (whitespace around it allowed). */
static enum tp_reject parse_root(const char *buf, size_t len, size_t max,
				 cJSON **out, struct tp_errdetail *err)
{
	const char *end = NULL;
	cJSON *root;

	*out = NULL;
	if (len > max)
		return fail(err, TP_REJECT_TOO_LARGE, "message",
			    "%zu bytes, over the %zu byte limit", len, max);
	if (!buf || len == 0)
		return fail(err, TP_REJECT_BAD_JSON, "message", "empty");
	tp_json_init();
	(void)tp_json_take_oom();
	root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (!root) {
		if (tp_json_take_oom())
			return fail(err, TP_REJECT_NOMEM, "message",
				    "out of memory while parsing");
		return fail(err, TP_REJECT_BAD_JSON, "message",
			    "not valid JSON (near byte %zu)",
			    end >= buf && end <= buf + len ? (size_t)(end - buf)
							  : (size_t)0);
	}
	for (const char *p = end; p && p < buf + len; p++) {
		if (!json_space(*p)) {
			cJSON_Delete(root);
			return fail(err, TP_REJECT_BAD_JSON, "message",
				    "unexpected data after the JSON value (byte %zu)",
				    (size_t)(p - buf));
		}
	}
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return fail(err, TP_REJECT_NOT_OBJECT, "message",
			    "must be a JSON object");
	}
	*out = root;
	return TP_REJECT_NONE;
}

/* Event time: the root's timestamp, else the innermost one, else now. */
static enum tp_reject event_time(const struct scope *sc, double now,
				 double *out, struct tp_errdetail *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(sc->lv[0],
							   "timestamp");

	if (!it || cJSON_IsNull(it))
		it = find1(sc, "timestamp");
	if (!it) {
		*out = now;
		return TP_REJECT_NONE;
	}
	return time_value(it, "timestamp", out, err);
}

enum tp_reject tp_event_parse(enum tp_channel ch, const char *buf, size_t len,
			      const struct tp_event_opts *opts,
			      struct tp_event *out, struct tp_errdetail *err)
{
	cJSON *root = NULL;
	struct scope sc;
	const cJSON *et;
	size_t i;
	enum tp_reject r;

	TP_ASSERT(opts && out);
	memset(out, 0, sizeof(*out));
	if (err) {
		err->msg[0] = '\0';
		err->field = NULL;
	}
	r = parse_root(buf, len, TP_EVENT_MAX_BYTES, &root, err);
	if (r)
		return r;
	scope_init(&sc, root);

	et = find1(&sc, "event_type");
	if (!et) {
		if (cJSON_GetObjectItemCaseSensitive(root, "test"))
			r = fail(err, TP_REJECT_DIAGNOSTIC, "test",
				 "diagnostic message, not an event");
		else
			r = fail(err, TP_REJECT_UNKNOWN_TYPE, "event_type",
				 "required");
		goto done;
	}
	if (!cJSON_IsString(et)) {
		r = fail(err, TP_REJECT_BAD_TYPE, "event_type",
			 "must be a string");
		goto done;
	}
	for (i = 0; i < TP_ARRAY_SIZE(event_types); i++)
		if (!strcmp(et->valuestring, event_types[i].name))
			break;
	if (i == TP_ARRAY_SIZE(event_types)) {
		r = fail(err, TP_REJECT_UNKNOWN_TYPE, "event_type",
			 "not a known event type");
		goto done;
	}
	if (event_types[i].channel != ch) {
		r = fail(err, TP_REJECT_WRONG_CHANNEL, "event_type",
			 "%s does not belong on the %s channel",
			 event_types[i].name, tp_channel_name(ch));
		goto done;
	}
	out->kind = event_types[i].kind;
	out->action = event_types[i].action;
	r = event_time(&sc, opts->now, &out->timestamp, err);
	if (r)
		goto done;

	switch (out->kind) {
	case TP_EV_PATTERN: {
		struct pattern_mode m = {
			.expired = out->action == TP_PA_EXPIRED,
			.now = opts->now,
			.ttl = opts->default_ttl,
		};

		r = parse_pattern(&sc, &m, &out->pattern, err);
		break;
	}
	case TP_EV_BACKTEST_PROGRESS: r = parse_progress(&sc, out, err); break;
	case TP_EV_BACKTEST_RESULT: r = parse_result(&sc, out, err); break;
	case TP_EV_SYSTEM_HEALTH: r = parse_health(&sc, out, err); break;
	}
done:
	cJSON_Delete(root);
	if (r) {
		tp_event_cleanup(out);
		memset(out, 0, sizeof(*out));
	}
	return r;
}

void tp_event_cleanup(struct tp_event *ev)
{
	if (!ev)
		return;
	tp_pattern_cleanup(&ev->pattern);
	TP_FREE(ev->data_json);
}

int tp_pattern_copy(struct tp_pattern *dst, const struct tp_pattern *src)
{
	*dst = *src;
	/* The text fields are arrays: a source built by hand (tests, the
	 * store's callers) may have filled one to the brim. */
	dst->id[sizeof(dst->id) - 1] = '\0';
	dst->symbol[sizeof(dst->symbol) - 1] = '\0';
	dst->pattern_type[sizeof(dst->pattern_type) - 1] = '\0';
	dst->sector[sizeof(dst->sector) - 1] = '\0';
	dst->indicators_json = NULL;
	if (src->indicators_json) {
		dst->indicators_json = tp_strdup(src->indicators_json);
		if (!dst->indicators_json)
			return TP_ERR_NOMEM;
	}
	return TP_OK;
}

void tp_pattern_cleanup(struct tp_pattern *p)
{
	if (!p)
		return;
	TP_FREE(p->indicators_json);
}

/* ------------------------------------------------------------------ */
/* ISO-8601                                                             */

static bool take_digits(const char **sp, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*sp)[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*sp += n;
	*out = v;
	return true;
}

static bool take_char(const char **sp, char c)
{
	if (**sp != c)
		return false;
	(*sp)++;
	return true;
}

bool tp_parse_iso8601(const char *s, double *out)
{
	int y, mo, d, h, mi, sec = 0, oh = 0, om = 0, sign = 0;
	double frac = 0, scale = 1;

	if (!s)
		return false;
	if (!take_digits(&s, 4, &y) || !take_char(&s, '-') ||
	    !take_digits(&s, 2, &mo) || !take_char(&s, '-') ||
	    !take_digits(&s, 2, &d))
		return false;
	if (*s != 'T' && *s != 't' && *s != ' ')
		return false;
	s++;
	if (!take_digits(&s, 2, &h) || !take_char(&s, ':') ||
	    !take_digits(&s, 2, &mi))
		return false;
	if (take_char(&s, ':')) {
		if (!take_digits(&s, 2, &sec))
			return false;
		if (*s == '.' || *s == ',') {
			int nd = 0;

			s++;
			for (; *s >= '0' && *s <= '9'; s++, nd++) {
				/* Digits past nanoseconds cannot change a double
				 * epoch; they are accepted and ignored. */
				if (nd < 9) {
					scale /= 10;
					frac += (*s - '0') * scale;
				}
			}
			if (nd == 0)
				return false;
		}
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s == '+' ? 1 : -1;
		s++;
		if (!take_digits(&s, 2, &oh))
			return false;
		if (take_char(&s, ':')) {
			if (!take_digits(&s, 2, &om))
				return false;
		} else if (*s >= '0' && *s <= '9') {
			if (!take_digits(&s, 2, &om))
				return false;
		}
	}
	if (*s != '\0')
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > tp_days_in_month(y, mo) || h > 23 ||
	    mi > 59 || sec > 60 || oh > 23 || om > 59)
		return false;
	*out = (double)(tp_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
			sec - sign * (oh * 3600 + om * 60)) +
	       frac;
	return true;
}

/* ------------------------------------------------------------------ */
/* Cache record JSON                                                    */

void tp_pattern_indicators_json(struct tp_buf *b, const struct tp_pattern *p)
{
	if (p->indicators_json) {
		tp_buf_puts(b, p->indicators_json);
		return;
	}
	put_indicators_head(b, p);
	tp_buf_putc(b, '}');
}

void tp_pattern_to_json(struct tp_buf *b, const struct tp_pattern *p)
{
	tp_buf_json_open(b, "id");
	tp_buf_json_str(b, p->id);
	tp_buf_json_kv_str(b, "symbol", p->symbol);
	tp_buf_json_kv_str(b, "pattern_type", p->pattern_type);
	tp_buf_json_kv_num(b, "confidence", p->confidence);
	tp_buf_json_kv_num(b, "current_price", p->current_price);
	tp_buf_json_kv_num(b, "price_change", p->price_change);
	tp_buf_json_kv_num(b, "detected_at", p->detected_at);
	tp_buf_json_kv_num(b, "expires_at", p->expires_at);
	tp_buf_json_key(b, "indicators", false);
	tp_pattern_indicators_json(b, p);
	tp_buf_json_kv_str(b, "source_tier", tp_tier_name(p->tier));
	if (p->sector[0])
		tp_buf_json_kv_str(b, "sector", p->sector);
	tp_buf_putc(b, '}');
}

enum tp_reject tp_pattern_from_json(const char *buf, size_t len,
				    struct tp_pattern *out,
				    struct tp_errdetail *err)
{
	struct pattern_mode m = {.stored = true, .ttl = STORED_DEFAULT_TTL};
	cJSON *root = NULL;
	struct scope sc;
	enum tp_reject r;

	memset(out, 0, sizeof(*out));
	if (err) {
		err->msg[0] = '\0';
		err->field = NULL;
	}
	r = parse_root(buf, len, RECORD_MAX_BYTES, &root, err);
	if (r)
		return r;
	/* A record is flat: no "data" envelopes to follow. */
	sc.lv[0] = root;
	sc.n = 1;
	r = parse_pattern(&sc, &m, out, err);
	cJSON_Delete(root);
	if (r) {
		tp_pattern_cleanup(out);
		memset(out, 0, sizeof(*out));
	}
	return r;
}
