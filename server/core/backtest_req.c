/*
 * backtest_req.c - validation of a backtest job request (backtest_req.h).
 *
 * Moved out of io/api_backtests.c unchanged in behaviour: the same checks
 * in the same order (symbols, patterns, start_date, end_date, their order,
 * parameters), the same messages. Names are normalised by the scan's own
 * filter rules (tp_filter_set_param), so a backtest accepts exactly the
 * symbols and pattern types a scan does.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tickpush/alloc.h"
#include "tickpush/ascii.h"
#include "tickpush/backtest_req.h"
#include "tickpush/buf.h"
#include "tickpush/date.h"
#include "tickpush/filter.h"

/* "Today" is the date in the most eastern time zone (UTC+14), so no user
 * has today's date rejected as being in the future. */
#define LATEST_ZONE_OFFSET (14 * 3600)
#define MAX_LIST (TP_BACKTEST_MAX_SYMBOLS > TP_BACKTEST_MAX_PATTERNS ? \
		  TP_BACKTEST_MAX_SYMBOLS : TP_BACKTEST_MAX_PATTERNS)

/*
 * A list of names normalised one entry at a time by the scan's own rules
 * (tp_filter_set_param with filter_name), kept in the caller's order with
 * duplicates dropped, as a JSON array into out.
 */
static int validate_list(const cJSON *body, const char *field,
			 const char *filter_name, size_t max, bool nocase,
			 struct tp_buf *out, struct tp_errdetail *e)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, field), *it;
	bool symbols = !strcmp(filter_name, "symbols");
	char *seen[MAX_LIST];
	size_t n = 0;
	int size, rc = TP_ERR_INVAL;

	TP_ASSERT(max <= TP_ARRAY_SIZE(seen));
	if (!cJSON_IsArray(arr) || (size = cJSON_GetArraySize(arr)) < 1 ||
	    (size_t)size > max)
		return tp_errdetail_set(e, rc, field, "%s: required, an array of 1 to %zu names",
					field, max);
	cJSON_ArrayForEach(it, arr) {
		struct tp_filter one;
		struct tp_errdetail err = {{0}, NULL};
		const char *s = cJSON_IsString(it) ? it->valuestring : NULL;
		const char *norm, *detail;
		bool dup = false;
		int frc;

		/* One name per entry: the scan would split a comma list. */
		if (!s || strchr(s, ',')) {
			tp_errdetail_set(e, rc, field, "%s: each entry must be one name (a string)",
					 field);
			goto out;
		}
		tp_filter_init(&one);
		frc = tp_filter_set_param(&one, filter_name, s, &err);
		if (frc == TP_ERR_NOMEM) {
			tp_filter_cleanup(&one);
			rc = TP_ERR_NOMEM;
			goto out;
		}
		if (frc || (symbols ? one.n_symbols : one.n_pattern_types) != 1) {
			tp_filter_cleanup(&one);
			/* The filter names its own parameter: name ours. */
			detail = frc ? strchr(err.msg, ':') : NULL;
			tp_errdetail_set(e, rc, field, "%s%s", field,
					 detail ? detail : ": entries must not be empty");
			goto out;
		}
		norm = symbols ? one.symbols[0] : one.pattern_types[0];
		for (size_t i = 0; i < n && !dup; i++)
			dup = nocase ? !tp_ascii_casecmp(seen[i], norm) : !strcmp(seen[i], norm);
		if (!dup && !(seen[n++] = tp_strdup(norm))) {
			n--;
			tp_filter_cleanup(&one);
			rc = TP_ERR_NOMEM;
			goto out;
		}
		tp_filter_cleanup(&one);
	}
	tp_buf_putc(out, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			tp_buf_putc(out, ',');
		tp_buf_json_str(out, seen[i]);
	}
	tp_buf_putc(out, ']');
	rc = TP_OK;
out:
	for (size_t i = 0; i < n; i++)
		tp_free(seen[i]);
	return rc;
}

bool tp_backtest_date_parse(const char *s, long *days)
{
	int y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1900 || !tp_date_valid(y, m, d))
		return false;
	*days = (long)tp_days_from_civil(y, m, d);
	return true;
}

static int validate_date(const cJSON *body, const char *field, double now,
			 long *days, struct tp_errdetail *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, field);

	if (!cJSON_IsString(v) || !tp_backtest_date_parse(v->valuestring, days))
		return tp_errdetail_set(e, TP_ERR_INVAL, field,
					"%s: required, a date as YYYY-MM-DD", field);
	if (*days > (long)floor((now + LATEST_ZONE_OFFSET) / 86400))
		return tp_errdetail_set(e, TP_ERR_INVAL, field,
					"%s: must not be in the future", field);
	return TP_OK;
}

int tp_backtest_req_validate(const cJSON *body, double now, char **out,
			     struct tp_errdetail *err)
{
	const cJSON *params;
	char *params_json = NULL;
	struct tp_buf syms, pats, b;
	long start, end;
	int rc;

	*out = NULL;
	tp_buf_init(&syms, 0);
	tp_buf_init(&pats, 0);
	tp_buf_init(&b, 0);
	if ((rc = validate_list(body, "symbols", "symbols", TP_BACKTEST_MAX_SYMBOLS, false,
				&syms, err)) ||
	    (rc = validate_list(body, "patterns", "pattern_types", TP_BACKTEST_MAX_PATTERNS,
				true, &pats, err)) ||
	    (rc = validate_date(body, "start_date", now, &start, err)) ||
	    (rc = validate_date(body, "end_date", now, &end, err)))
		goto out;
	rc = TP_ERR_INVAL;
	if (start > end) {
		tp_errdetail_set(err, rc, "start_date", "start_date: must not be after end_date");
		goto out;
	}
	params = cJSON_GetObjectItemCaseSensitive(body, "parameters");
	if (params && !cJSON_IsNull(params)) {
		if (!cJSON_IsObject(params)) {
			tp_errdetail_set(err, rc, "parameters", "parameters: must be an object");
			goto out;
		}
		/* cJSON allocates through the tp_ hooks: tp_free frees. */
		if (!(params_json = cJSON_PrintUnformatted(params))) {
			rc = TP_ERR_NOMEM;
			goto out;
		}
		if (strlen(params_json) > TP_BACKTEST_MAX_PARAMETERS_JSON) {
			tp_errdetail_set(err, rc, "parameters",
					 "parameters: at most 4096 bytes as JSON");
			goto out;
		}
	}
	/* syms and pats are arrays rendered above, params_json by cJSON. */
	tp_buf_putc(&b, '{');
	tp_buf_json_key(&b, "symbols", true);
	tp_buf_puts(&b, tp_buf_cstr(&syms));
	tp_buf_json_kv_raw(&b, "patterns", tp_buf_cstr(&pats));
	tp_buf_json_kv_str(&b, "start_date",
			   cJSON_GetObjectItemCaseSensitive(body, "start_date")->valuestring);
	tp_buf_json_kv_str(&b, "end_date",
			   cJSON_GetObjectItemCaseSensitive(body, "end_date")->valuestring);
	tp_buf_json_kv_raw(&b, "parameters", params_json ? params_json : "{}");
	tp_buf_putc(&b, '}');
	rc = TP_ERR_NOMEM;
	if (!syms.oom && !pats.oom && !b.oom && (*out = tp_strdup(tp_buf_cstr(&b))))
		rc = TP_OK;
out:
	tp_free(params_json);
	tp_buf_cleanup(&syms);
	tp_buf_cleanup(&pats);
	tp_buf_cleanup(&b);
	return rc;
}
