/*
 * backtest_req.h - a backtest job request, validated and normalised
 * (core/backtest_req.c), for POST /api/backtests (docs/rest.md).
 *
 * Pure: the io handler parses the body and hands the object in; out comes
 * the normalised request object as JSON text (what the job registry stores
 * and publishes), or a 400 message naming the field.
 */
#ifndef TICKPUSH_BACKTEST_REQ_H
#define TICKPUSH_BACKTEST_REQ_H

#include <stdbool.h>

#include "tickpush/err.h"

struct cJSON;

#define TP_BACKTEST_MAX_SYMBOLS 100
#define TP_BACKTEST_MAX_PATTERNS 20
#define TP_BACKTEST_MAX_PARAMETERS_JSON 4096

/* Strict YYYY-MM-DD: a real calendar date of year 1900..9999, as days
 * since 1970-01-01. */
bool tp_backtest_date_parse(const char *s, long *days);

/* Validates body (symbols 1..100 by the symbol rule, upper-cased; patterns
 * 1..20 pattern type names by the scan's rules, abbreviations expanded;
 * start_date <= end_date, not in the future at now; parameters an optional
 * object of at most 4 KiB as JSON), duplicates dropped in order. Returns
 * TP_OK with *out the request object (tp_free), TP_ERR_INVAL with err, or
 * TP_ERR_NOMEM. */
int tp_backtest_req_validate(const struct cJSON *body, double now, char **out,
			     struct tp_errdetail *err);

#endif
