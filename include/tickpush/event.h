/*
 * event.h - TickStockPL events: parse and normalise once (protocol/event.c).
 *
 * Every shape of docs/events.md (nested A, flat B, double-nested C,
 * alternative names D, ISO-8601 or epoch times) becomes one struct tp_event.
 * Parsing is pure: no I/O, the clock is passed in.
 */
#ifndef TICKPUSH_EVENT_H
#define TICKPUSH_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include "tickpush/err.h"
#include "tickpush/symbol.h" /* TP_SYMBOL_MAX */

#define TP_PATTERN_TYPE_MAX 64  /* bytes, without NUL */
#define TP_SECTOR_MAX 63
#define TP_JOB_ID_MAX 64
#define TP_PATTERN_ID_MAX (TP_SYMBOL_MAX + 1 + TP_PATTERN_TYPE_MAX + 1 + 24)
#define TP_EVENT_MAX_BYTES (64 * 1024)

/* The four inbound channels (names are configurable; see config.h). */
enum tp_channel {
	TP_CH_PATTERNS = 0,
	TP_CH_BACKTEST_PROGRESS,
	TP_CH_BACKTEST_RESULTS,
	TP_CH_HEALTH,
	TP_CH__COUNT
};
const char *tp_channel_name(enum tp_channel ch); /* "patterns", ... */

enum tp_tier {
	TP_TIER_UNKNOWN = 0,
	TP_TIER_DAILY,
	TP_TIER_INTRADAY,
	TP_TIER_COMBO,
};
const char *tp_tier_name(enum tp_tier t); /* "daily", ..., "unknown" */

/* Why an event was dropped. Names (tp_reject_name) are metric labels. */
enum tp_reject {
	TP_REJECT_NONE = 0,
	TP_REJECT_TOO_LARGE,      /* over TP_EVENT_MAX_BYTES */
	TP_REJECT_BAD_JSON,       /* not parseable JSON */
	TP_REJECT_NOT_OBJECT,     /* JSON but not an object */
	TP_REJECT_DIAGNOSTIC,     /* {"test":"health_check",...} and similar */
	TP_REJECT_UNKNOWN_TYPE,   /* event_type missing or not known */
	TP_REJECT_WRONG_CHANNEL,  /* known event_type on another channel */
	TP_REJECT_MISSING_FIELD,  /* a required field is absent */
	TP_REJECT_BAD_TYPE,       /* a field has the wrong JSON type */
	TP_REJECT_OUT_OF_RANGE,   /* a number or string outside its range */
	TP_REJECT_BAD_SYMBOL,     /* symbol has characters outside A-Z0-9.-_/ */
	TP_REJECT_BAD_TIME,       /* unparseable ISO-8601 or non-finite time */
	TP_REJECT_NOMEM,          /* out of memory while parsing (not the input's fault) */
	TP_REJECT__COUNT
};
const char *tp_reject_name(enum tp_reject r); /* "too_large", ... */

/* One normalised pattern record (docs/events.md "The normalised record"). */
struct tp_pattern {
	char id[TP_PATTERN_ID_MAX + 1];   /* SYMBOL:Pattern_Type:int(detected_at) */
	char symbol[TP_SYMBOL_MAX + 1];   /* upper-cased */
	char pattern_type[TP_PATTERN_TYPE_MAX + 1];
	char sector[TP_SECTOR_MAX + 1];   /* "" until a symbol directory fills it */
	double confidence;                /* [0,1] */
	double current_price;
	double price_change;              /* percent */
	double detected_at;               /* epoch seconds */
	double expires_at;                /* epoch seconds */
	double rs;                        /* indicators.relative_strength, default 1.0 */
	double rvol;                      /* indicators.relative_volume, default 1.0 */
	double rsi;                       /* indicators.rsi, default 50.0 */
	enum tp_tier tier;
	/* Compact JSON of the whole indicators object (other keys passed
	 * through), owned; never NULL after a successful parse ("{}" at least). */
	char *indicators_json;
};

enum tp_event_kind {
	TP_EV_PATTERN = 0,
	TP_EV_BACKTEST_PROGRESS,
	TP_EV_BACKTEST_RESULT,
	TP_EV_SYSTEM_HEALTH,
};

enum tp_pattern_action {
	TP_PA_DETECTED = 0, /* insert or replace */
	TP_PA_UPDATED,      /* insert or replace */
	TP_PA_EXPIRED,      /* remove the record with pattern.id */
};

struct tp_event {
	enum tp_event_kind kind;
	enum tp_pattern_action action; /* TP_EV_PATTERN only */
	double timestamp;              /* event time (epoch s), receive time if absent */
	struct tp_pattern pattern;     /* TP_EV_PATTERN only */
	/* Backtest events. */
	char job_id[TP_JOB_ID_MAX + 1];
	char status[32];               /* e.g. "processing", "completed", "healthy" */
	double progress;               /* [0,1]; backtest_progress only */
	/* Compact JSON object of the normalised payload for backtest and health
	 * events (what a subscriber receives as "data"); owned; NULL for
	 * patterns. */
	char *data_json;
};

struct tp_event_opts {
	double now;          /* receive time, epoch seconds */
	double default_ttl;  /* PATTERN_CACHE_TTL, seconds (3600) */
};

/*
 * Parses one message received on channel ch. On success returns
 * TP_REJECT_NONE and fills *out (release with tp_event_cleanup). On failure
 * returns the reason, leaves *out empty (nothing to clean up, though calling
 * tp_event_cleanup is harmless) and writes a message naming the field into
 * err (may be NULL). Never reads past buf[len]; buf need not be NUL-terminated.
 */
enum tp_reject tp_event_parse(enum tp_channel ch, const char *buf, size_t len,
			      const struct tp_event_opts *opts,
			      struct tp_event *out, struct tp_errdetail *err);
void tp_event_cleanup(struct tp_event *ev); /* NULL-safe, idempotent */

/* Deep copy of a pattern (indicators_json duplicated, text fields always
 * NUL-terminated). TP_OK/TP_ERR_NOMEM. */
int tp_pattern_copy(struct tp_pattern *dst, const struct tp_pattern *src);
void tp_pattern_cleanup(struct tp_pattern *p);

/* Parses "2025-09-04T13:33:09.123Z" / "+02:00" offsets / no offset (UTC)
 * into epoch seconds. Returns false if malformed. */
bool tp_parse_iso8601(const char *s, double *out);

/* Renders the normalised record as the JSON stored in the Redis cache layout
 * (field "data" of tickstock:patterns:<id>) and parses it back (warm start).
 * The parse accepts exactly what render produces plus the original system's
 * records (up to 4 * TP_EVENT_MAX_BYTES: rendering can lengthen numbers);
 * returns TP_REJECT_NONE on success. */
struct tp_buf;
void tp_pattern_to_json(struct tp_buf *b, const struct tp_pattern *p);
enum tp_reject tp_pattern_from_json(const char *buf, size_t len,
				    struct tp_pattern *out,
				    struct tp_errdetail *err);

/* Appends the record's indicators as a JSON object: indicators_json as
 * received, else the three the filters use (relative_strength,
 * relative_volume, rsi). Shared by the cache record and the scan row. */
void tp_pattern_indicators_json(struct tp_buf *b, const struct tp_pattern *p);

#endif
