/*
 * query.c - URL query strings and the /api/patterns/scan query (see query.h).
 *
 * tp_query_parse turns raw application/x-www-form-urlencoded text into at
 * most TP_QUERY_MAX_PARAMS decoded (name, value) pairs. It is strict on
 * purpose: a bad percent escape or a decoded NUL is an error rather than
 * something silently repaired, because the decoded strings are later used
 * as C strings and as cache keys.
 *
 * tp_scan_query_from_params validates the scan parameters. Filter parameters
 * go through tp_filter_set_param (the one validator shared with presets);
 * paging and sort are checked here. Parameters are applied in order, so for
 * scalar parameters given twice the last one wins, and list parameters
 * accumulate. Unknown names are ignored.
 *
 * Ownership: struct tp_query owns its decoded strings; struct tp_scan_query
 * owns its filter. Both cleanup functions are NULL-safe and leave an empty
 * value behind. On error every function here leaves its output empty.
 */
#include <limits.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/ascii.h"
#include "tickpush/buf.h"
#include "tickpush/query.h"

/* ------------------------------------------------------------------------
 * Query strings.
 */

/* Decodes s[0..n) into a new string ('+' is a space, %XX a byte). */
static int decode(const char *s, size_t n, char **out, struct tp_errdetail *err)
{
	char *d = tp_malloc(n + 1);
	size_t k = 0;

	*out = NULL;
	if (!d)
		return tp_errdetail_set(err, TP_ERR_NOMEM, "query",
					"query string: out of memory");
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			/* Exactly two hex digits must follow. */
			if (n - i < 3 || tp_ascii_hexval(s[i + 1]) < 0 ||
			    tp_ascii_hexval(s[i + 2]) < 0) {
				tp_free(d);
				return tp_errdetail_set(err, TP_ERR_INVAL, "query",
					"query string: bad percent escape (expected %%XX)");
			}
			c = (char)(tp_ascii_hexval(s[i + 1]) * 16 + tp_ascii_hexval(s[i + 2]));
			i += 2;
		}
		if (c == '\0') {
			tp_free(d);
			return tp_errdetail_set(err, TP_ERR_INVAL, "query",
				"query string: NUL byte not allowed");
		}
		d[k++] = c;
	}
	d[k] = '\0';
	*out = d;
	return TP_OK;
}

int tp_query_parse(const char *qs, size_t len, struct tp_query *out,
		   struct tp_errdetail *err)
{
	size_t start = 0;
	int rc = TP_OK;

	memset(out, 0, sizeof(*out));
	if (len > TP_QUERY_MAX_BYTES)
		return tp_errdetail_set(err, TP_ERR_INVAL, "query",
			"query string: longer than %d bytes", TP_QUERY_MAX_BYTES);
	while (start < len) {
		size_t end = start, eq;
		char *name = NULL, *value = NULL;

		while (end < len && qs[end] != '&' && qs[end] != ';')
			end++;
		for (eq = start; eq < end && qs[eq] != '='; eq++)
			;
		if (end == start)
			goto next; /* empty piece: "a=1&&b=2" */
		rc = decode(qs + start, eq - start, &name, err);
		if (!rc)
			rc = decode(qs + eq + (eq < end), end - eq - (eq < end),
				    &value, err);
		if (rc) {
			tp_free(name);
			goto fail;
		}
		if (!name[0]) {
			/* "=x" names nothing a handler could ask for. */
			tp_free(name);
			tp_free(value);
			goto next;
		}
		if (out->n == TP_QUERY_MAX_PARAMS) {
			tp_free(name);
			tp_free(value);
			rc = tp_errdetail_set(err, TP_ERR_INVAL, "query",
				"query string: more than %d parameters",
				TP_QUERY_MAX_PARAMS);
			goto fail;
		}
		out->params[out->n].name = name;
		out->params[out->n].value = value;
		out->n++;
next:
		start = end + 1;
	}
	return TP_OK;
fail:
	tp_query_cleanup(out);
	return rc;
}

void tp_query_cleanup(struct tp_query *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++) {
		tp_free(q->params[i].name);
		tp_free(q->params[i].value);
	}
	memset(q, 0, sizeof(*q));
}

const char *tp_query_get(const struct tp_query *q, const char *name)
{
	for (size_t i = 0; i < q->n; i++)
		if (!strcmp(q->params[i].name, name))
			return q->params[i].value;
	return NULL;
}

/* ------------------------------------------------------------------------
 * The scan query.
 */

static const char *const sort_names[] = {
	[TP_SORT_CONFIDENCE] = "confidence",
	[TP_SORT_DETECTED_AT] = "detected_at",
	[TP_SORT_SYMBOL] = "symbol",
	[TP_SORT_RS] = "rs",
	[TP_SORT_VOLUME] = "volume",
};

const char *tp_sort_key_name(enum tp_sort_key k)
{
	if ((unsigned)k < TP_ARRAY_SIZE(sort_names))
		return sort_names[k];
	return "unknown";
}

void tp_scan_query_init(struct tp_scan_query *q)
{
	memset(q, 0, sizeof(*q));
	tp_filter_init(&q->filter);
	q->preset_id = 0;
	q->page = 1;
	q->per_page = 30;
	q->sort_by = TP_SORT_CONFIDENCE;
	q->ascending = false;
}

void tp_scan_query_cleanup(struct tp_scan_query *q)
{
	if (!q)
		return;
	tp_filter_cleanup(&q->filter);
	tp_scan_query_init(q);
}

/*
 * Strict integer: optional '-' (only if allow_neg), then 1+ decimal digits,
 * nothing else. Values beyond +-LLONG_MAX saturate and set *overflow.
 */
static bool parse_int(const char *s, bool allow_neg, long long *out,
		      bool *overflow)
{
	bool neg = false;
	unsigned long long v = 0;

	*overflow = false;
	if (allow_neg && *s == '-') {
		neg = true;
		s++;
	}
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (unsigned long long)LLONG_MAX / 10 ||
		    v * 10 + (unsigned long long)(*s - '0') >
			    (unsigned long long)LLONG_MAX) {
			*overflow = true;
			v = (unsigned long long)LLONG_MAX;
			continue;
		}
		v = v * 10 + (unsigned long long)(*s - '0');
	}
	*out = neg ? -(long long)v : (long long)v;
	return true;
}

/* Largest page accepted: keeps (page - 1) * per_page far from overflow. */
#define MAX_PAGE 1000000000LL

static int scan_param(struct tp_scan_query *out, const char *name,
		      const char *value, struct tp_errdetail *err)
{
	long long v;
	bool overflow;
	int rc;

	rc = tp_filter_set_param(&out->filter, name, value, err);
	if (rc != TP_ERR_NOTFOUND)
		return rc;
	if (!strcmp(name, "page")) {
		if (!parse_int(value, false, &v, &overflow) || v < 1 ||
		    v > MAX_PAGE)
			return tp_errdetail_set(err, TP_ERR_INVAL, "page",
				"page: must be an integer between 1 and %lld",
				MAX_PAGE);
		out->page = (unsigned)v;
	} else if (!strcmp(name, "per_page")) {
		/* Out-of-range values are clamped, malformed ones rejected. */
		if (!parse_int(value, true, &v, &overflow))
			return tp_errdetail_set(err, TP_ERR_INVAL, "per_page",
				"per_page: must be an integer (clamped to 1..100)");
		out->per_page = v < 1 ? 1 : v > 100 ? 100 : (unsigned)v;
	} else if (!strcmp(name, "preset_id")) {
		if (!parse_int(value, false, &v, &overflow) || overflow || v < 1)
			return tp_errdetail_set(err, TP_ERR_INVAL, "preset_id",
				"preset_id: must be a positive integer");
		out->preset_id = v;
	} else if (!strcmp(name, "sort_by")) {
		size_t i;

		for (i = 0; i < TP_ARRAY_SIZE(sort_names); i++)
			if (!tp_ascii_casecmp(value, sort_names[i]))
				break;
		if (i == TP_ARRAY_SIZE(sort_names))
			return tp_errdetail_set(err, TP_ERR_INVAL, "sort_by",
				"sort_by: must be one of confidence, detected_at, symbol, rs, volume");
		out->sort_by = (enum tp_sort_key)i;
	} else if (!strcmp(name, "sort_order")) {
		if (!tp_ascii_casecmp(value, "asc"))
			out->ascending = true;
		else if (!tp_ascii_casecmp(value, "desc"))
			out->ascending = false;
		else
			return tp_errdetail_set(err, TP_ERR_INVAL, "sort_order",
				"sort_order: must be asc or desc");
	}
	/* Anything else is not ours: ignored (cache-busters and the like). */
	return TP_OK;
}

int tp_scan_query_from_params(const struct tp_query *q,
			      struct tp_scan_query *out,
			      struct tp_errdetail *err)
{
	tp_scan_query_init(out);
	for (size_t i = 0; i < q->n; i++) {
		int rc = scan_param(out, q->params[i].name, q->params[i].value,
				    err);

		if (rc) {
			tp_scan_query_cleanup(out);
			return rc;
		}
	}
	return TP_OK;
}

void tp_scan_query_canonical(const struct tp_scan_query *q, struct tp_buf *out)
{
	/* Built for every scan, cached ones included: the writer's integers
	 * and keys cost no printf. */
	tp_buf_json_open(out, "filter");
	tp_filter_canonical(&q->filter, out);
	tp_buf_json_kv_int(out, "preset_id", q->preset_id);
	tp_buf_json_kv_uint(out, "page", q->page);
	tp_buf_json_kv_uint(out, "per_page", q->per_page);
	tp_buf_json_kv_str(out, "sort_by", tp_sort_key_name(q->sort_by));
	tp_buf_json_kv_str(out, "sort_order", q->ascending ? "asc" : "desc");
	tp_buf_putc(out, '}');
}
