/*
 * filter.h - the one filter model (protocol/filter.c).
 *
 * Used by /api/patterns/scan query parameters, saved filter presets, inline
 * WebSocket filters and the SSE/long-poll query parameters. Parameters are validated by one
 * function, tp_filter_set_param, whatever their source, so every source
 * gives the same error for the same bad value. tp_filter_match allocates
 * nothing and does no I/O.
 */
#ifndef TICKPUSH_FILTER_H
#define TICKPUSH_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "tickpush/err.h"
#include "tickpush/event.h"

struct tp_buf;
struct cJSON;

/* Bounds on what one filter may hold (the whole list, after accumulating
 * repeated parameters and removing duplicates). */
#define TP_FILTER_MAX_PATTERN_TYPES 100
#define TP_FILTER_MAX_SYMBOLS 500
#define TP_FILTER_MAX_SECTORS 64
#define TP_FILTER_UNIVERSE_MAX 64 /* bytes of a universe key, without NUL */

/* Bits of tp_filter.tier_mask; 0 means "All". */
#define TP_TIER_BIT(t) (1u << (t))

/* Which parameters were given explicitly (explicit scan params override a
 * preset's). */
enum tp_filter_param {
	TP_FP_PATTERN_TYPES = 1u << 0,
	TP_FP_SYMBOLS = 1u << 1,
	TP_FP_CONFIDENCE_MIN = 1u << 2,
	TP_FP_RS_MIN = 1u << 3,
	TP_FP_VOL_MIN = 1u << 4,
	TP_FP_RSI_RANGE = 1u << 5,
	TP_FP_TIMEFRAME = 1u << 6,
	TP_FP_SECTORS = 1u << 7,
};

struct tp_filter {
	/* Sorted, deduplicated, owned arrays of owned strings. Pattern types
	 * are full names (displayed abbreviations, WeeklyBO or the 8-byte cut
	 * Cup_Hand, expanded by tp_pattern_expand), compared case-insensitively;
	 * symbols are upper-cased; sectors compared case-insensitively. An
	 * empty list means "any". */
	char **pattern_types;
	size_t n_pattern_types;
	char **symbols;
	size_t n_symbols;
	char **sectors;
	size_t n_sectors;
	double confidence_min; /* default 0.5 */
	double rs_min;         /* default 0 */
	double vol_min;        /* default 0 */
	double rsi_min, rsi_max; /* default 0,100 */
	unsigned tier_mask;    /* 0 = All */
	unsigned given;        /* enum tp_filter_param bits */
};

void tp_filter_init(struct tp_filter *f);    /* defaults of rest.md */
void tp_filter_cleanup(struct tp_filter *f); /* NULL-safe; re-init not implied */
int tp_filter_copy(struct tp_filter *dst, const struct tp_filter *src);

/*
 * Validates and applies one parameter by its scan name (pattern_types,
 * symbols, confidence_min, rs_min, vol_min, rsi_range, timeframe, sectors).
 * value is the raw text (a comma-separated list for list params; list params
 * accumulate when called repeatedly). A pattern type may be given as the
 * scan displays it; an abbreviation several known types share fails naming
 * them. Returns TP_OK, TP_ERR_INVAL with err naming the parameter, TP_ERR_NOTFOUND if name is not a filter parameter,
 * or TP_ERR_NOMEM.
 */
int tp_filter_set_param(struct tp_filter *f, const char *name,
			const char *value, struct tp_errdetail *err);

/* References a preset may carry besides the filter proper. They name symbol
 * sets stored in PostgreSQL, which the caller resolves later. */
struct tp_filter_refs {
	long long watchlist_id;                   /* 0 = none */
	char universe[TP_FILTER_UNIVERSE_MAX + 1]; /* "" = none */
};

/*
 * Builds *f (initialised here) from a preset's or inline filter's JSON
 * object: the scan parameter names as keys; pattern_types/symbols/sectors as
 * an array of strings or one comma-separated string, confidence_min/rs_min/
 * vol_min as numbers, rsi_range as [min,max] or "min,max", timeframe as a
 * string; null means "not given". Every value goes through
 * tp_filter_set_param. "watchlist_id" (positive integer) and "universe"
 * (string) go to *refs (zeroed here); with refs NULL they are rejected.
 * Unknown keys and wrong JSON types fail with TP_ERR_INVAL and err naming the
 * key. On failure *f is left empty (nothing to clean up).
 */
int tp_filter_from_json(struct tp_filter *f, const struct cJSON *obj,
			struct tp_filter_refs *refs, struct tp_errdetail *err);

/* Overlay: every parameter given in `over` replaces the one in `base` (and
 * becomes given in base). TP_OK or TP_ERR_NOMEM, base unchanged on failure. */
int tp_filter_overlay(struct tp_filter *base, const struct tp_filter *over);

/* Narrows the symbol constraint to the set syms[0..n) (a watchlist's or a
 * universe's symbols, already upper-case and trusted: no entry limit). If
 * the filter already names symbols the result is the intersection; an
 * empty result matches nothing. TP_OK or TP_ERR_NOMEM (f unchanged). */
int tp_filter_restrict_symbols(struct tp_filter *f, const char *const *syms,
			       size_t n);

/* True if the pattern passes every constraint. Allocation-free. */
bool tp_filter_match(const struct tp_filter *f, const struct tp_pattern *p);

/* Appends a canonical text form (a compact JSON object with every field,
 * case-insensitive list entries lower-cased): equal filters give equal
 * strings (used as response-cache and compiled-filter cache keys). */
void tp_filter_canonical(const struct tp_filter *f, struct tp_buf *out);

#endif
