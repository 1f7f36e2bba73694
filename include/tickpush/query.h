/*
 * query.h - URL query strings and the /api/patterns/scan query
 * (server/core/query.c).
 *
 * tp_query_* splits and percent-decodes application/x-www-form-urlencoded
 * text with strict bounds; tp_scan_query_parse validates every scan
 * parameter (filter parameters through tp_filter_set_param) and names the
 * offending parameter on error.
 */
#ifndef TICKPUSH_QUERY_H
#define TICKPUSH_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "tickpush/err.h"
#include "tickpush/filter.h"

#define TP_QUERY_MAX_PARAMS 64
#define TP_QUERY_MAX_BYTES 8192

struct tp_query_param {
	char *name;  /* decoded, owned */
	char *value; /* decoded, owned ("" when absent) */
};

struct tp_query {
	struct tp_query_param params[TP_QUERY_MAX_PARAMS];
	size_t n;
};

/* Splits qs (without the leading '?', need not be NUL-terminated). Rejects
 * more than TP_QUERY_MAX_PARAMS parameters, input over TP_QUERY_MAX_BYTES,
 * bad percent escapes and decoded NUL bytes with TP_ERR_INVAL + err. */
int tp_query_parse(const char *qs, size_t len, struct tp_query *out,
		   struct tp_errdetail *err);
void tp_query_cleanup(struct tp_query *q);
/* First value of name, or NULL. */
const char *tp_query_get(const struct tp_query *q, const char *name);

enum tp_sort_key {
	TP_SORT_CONFIDENCE = 0,
	TP_SORT_DETECTED_AT,
	TP_SORT_SYMBOL,
	TP_SORT_RS,
	TP_SORT_VOLUME,
};

struct tp_scan_query {
	struct tp_filter filter;
	long long preset_id;   /* 0 = none */
	unsigned page;         /* >= 1 */
	unsigned per_page;     /* clamped to 1..100 */
	enum tp_sort_key sort_by;
	bool ascending;        /* sort_order=asc */
};

/* Defaults of rest.md: page 1, per_page 30, confidence desc. */
void tp_scan_query_init(struct tp_scan_query *q);
void tp_scan_query_cleanup(struct tp_scan_query *q);

/* Validates every parameter of q into out (initialised here). Unknown
 * parameters are ignored (dashboards send cache-busters); malformed or
 * out-of-range values fail with TP_ERR_INVAL and err naming the parameter. */
int tp_scan_query_from_params(const struct tp_query *q,
			      struct tp_scan_query *out,
			      struct tp_errdetail *err);

/* Canonical key of the whole query (filter + paging + sort). */
void tp_scan_query_canonical(const struct tp_scan_query *q, struct tp_buf *out);

const char *tp_sort_key_name(enum tp_sort_key k);

#endif
