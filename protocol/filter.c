/*
 * filter.c - the one filter model (see filter.h).
 *
 * A filter is built once (from scan parameters, a preset's JSON or an inline
 * WebSocket filter) and then only read. Lists are kept sorted and
 * deduplicated so matching is a binary search and the canonical form is
 * independent of the order parameters were given in. tp_filter_match runs
 * for every (event, subscription) pair on the push path: it must never
 * allocate.
 *
 * Validation: tp_filter_set_param is the only place a parameter's value is
 * checked, whatever its source (scan query string, preset JSON, inline
 * filter); tp_filter_from_json turns each JSON value into the text a query
 * string would carry and calls it. A failed set_param leaves the filter as it
 * was (list entries are validated and collected before they are merged), so
 * callers can report the error and discard or keep the filter.
 *
 * Ownership: the filter owns its arrays and strings; tp_filter_cleanup frees
 * them. Nothing here keeps pointers into the caller's input.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "tickpush/alloc.h"
#include "tickpush/ascii.h"
#include "tickpush/buf.h"
#include "tickpush/filter.h"
#include "tickpush/render.h"
#include "tickpush/symbol.h"
#include "text.h"

void tp_filter_init(struct tp_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->confidence_min = 0.5;
	f->rs_min = 0;
	f->vol_min = 0;
	f->rsi_min = 0;
	f->rsi_max = 100;
	f->tier_mask = 0;
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tp_free(list[i]);
	tp_free(list);
}

void tp_filter_cleanup(struct tp_filter *f)
{
	if (!f)
		return;
	free_list(f->pattern_types, f->n_pattern_types);
	free_list(f->symbols, f->n_symbols);
	free_list(f->sectors, f->n_sectors);
	f->pattern_types = f->symbols = f->sectors = NULL;
	f->n_pattern_types = f->n_symbols = f->n_sectors = 0;
}

static int copy_list(char ***dst, size_t *dn, char *const *src, size_t n)
{
	*dst = NULL;
	*dn = 0;
	if (!n)
		return TP_OK;
	*dst = tp_calloc(n, sizeof(char *));
	if (!*dst)
		return TP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		(*dst)[i] = tp_strdup(src[i]);
		if (!(*dst)[i])
			return TP_ERR_NOMEM; /* caller cleans up; *dn counts copies */
		*dn = i + 1;
	}
	return TP_OK;
}

int tp_filter_copy(struct tp_filter *dst, const struct tp_filter *src)
{
	*dst = *src;
	dst->pattern_types = dst->symbols = dst->sectors = NULL;
	dst->n_pattern_types = dst->n_symbols = dst->n_sectors = 0;
	if (copy_list(&dst->pattern_types, &dst->n_pattern_types,
		      src->pattern_types, src->n_pattern_types) ||
	    copy_list(&dst->symbols, &dst->n_symbols, src->symbols,
		      src->n_symbols) ||
	    copy_list(&dst->sectors, &dst->n_sectors, src->sectors,
		      src->n_sectors)) {
		tp_filter_cleanup(dst);
		return TP_ERR_NOMEM;
	}
	return TP_OK;
}

/* Lists are sorted with the same comparison used here to search them. */
static bool list_has(char *const *list, size_t n, const char *key,
		     bool nocase)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = nocase ? tp_ascii_casecmp(key, list[mid]) : strcmp(key, list[mid]);

		if (c == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

/* server/core/patterns.c (hot_match) repeats the numeric tests below for
 * its scan array: change both together. */
bool tp_filter_match(const struct tp_filter *f, const struct tp_pattern *p)
{
	if (p->confidence < f->confidence_min)
		return false;
	if (p->rs < f->rs_min || p->rvol < f->vol_min)
		return false;
	if (p->rsi < f->rsi_min || p->rsi > f->rsi_max)
		return false;
	if (f->tier_mask && !(f->tier_mask & TP_TIER_BIT(p->tier)))
		return false;
	if (f->n_symbols && !list_has(f->symbols, f->n_symbols, p->symbol, false))
		return false;
	if (f->n_pattern_types &&
	    !list_has(f->pattern_types, f->n_pattern_types, p->pattern_type, true))
		return false;
	if (f->n_sectors &&
	    (!p->sector[0] || !list_has(f->sectors, f->n_sectors, p->sector, true)))
		return false;
	return true;
}

/* ------------------------------------------------------------------------
 * Parameter validation: one validator for every source.
 */

enum list_kind { LIST_PATTERN_TYPES = 0, LIST_SYMBOLS, LIST_SECTORS };

struct list_spec {
	const char *name; /* parameter name; static, used as err->field */
	unsigned bit;
	size_t max_entries;
	bool nocase;
};

static const struct list_spec list_specs[] = {
	[LIST_PATTERN_TYPES] = { "pattern_types", TP_FP_PATTERN_TYPES,
				 TP_FILTER_MAX_PATTERN_TYPES, true },
	[LIST_SYMBOLS] = { "symbols", TP_FP_SYMBOLS, TP_FILTER_MAX_SYMBOLS, false },
	[LIST_SECTORS] = { "sectors", TP_FP_SECTORS, TP_FILTER_MAX_SECTORS, true },
};

/* Longest normalised list entry of any kind. */
#define ENTRY_MAX TP_PATTERN_TYPE_MAX
_Static_assert(TP_SYMBOL_MAX <= ENTRY_MAX && TP_SECTOR_MAX <= ENTRY_MAX,
	       "list entries fit the normalisation buffer");

static char *const *list_read(const struct tp_filter *f, enum list_kind kind,
			      size_t *n)
{
	switch (kind) {
	case LIST_PATTERN_TYPES:
		*n = f->n_pattern_types;
		return f->pattern_types;
	case LIST_SYMBOLS:
		*n = f->n_symbols;
		return f->symbols;
	case LIST_SECTORS:
		*n = f->n_sectors;
		return f->sectors;
	}
	TP_ASSERT(0);
	return NULL;
}

static void list_of(struct tp_filter *f, enum list_kind kind, char ****list,
		    size_t **n)
{
	switch (kind) {
	case LIST_PATTERN_TYPES:
		*list = &f->pattern_types;
		*n = &f->n_pattern_types;
		return;
	case LIST_SYMBOLS:
		*list = &f->symbols;
		*n = &f->n_symbols;
		return;
	case LIST_SECTORS:
		*list = &f->sectors;
		*n = &f->n_sectors;
		return;
	}
	TP_ASSERT(0);
}

static int cmp_entry(const char *a, const char *b, bool nocase)
{
	return nocase ? tp_ascii_casecmp(a, b) : strcmp(a, b);
}

/* Index of the first entry not less than key; *found if it equals key. */
static size_t lower_bound(char *const *list, size_t n, const char *key,
			  bool nocase, bool *found)
{
	size_t lo = 0, hi = n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_entry(key, list[mid], nocase);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static void trim(const char **s, size_t *n)
{
	while (*n && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* A short, printable excerpt of user input for error messages. */
static const char *excerpt(char out[32], const char *s, size_t n)
{
	size_t k = n < 24 ? n : 24, i;

	for (i = 0; i < k; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = (c < 0x20 || c >= 0x7f || c == '"') ? '?' : (char)c;
	}
	if (k < n) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* Free text (pattern types, sectors, universes) must be printable UTF-8:
 * it comes from URLs, presets and frames, and goes into cache keys,
 * stored presets and error messages. */
static bool has_control(const char *s, size_t n)
{
	return !tp_utf8_printable(s, n);
}

/* Candidates named in an "ambiguous" message; more are summarised. */
#define AMBIGUOUS_LISTED 6

/*
 * A pattern type as the scan displays it (WeeklyBO, Cup_Hand) stands for
 * the full name it abbreviates; an abbreviation shared by several known
 * types is refused naming them. Full names, and names tickpush does not
 * know, are kept as given (tmp).
 */
static int expand_pattern_type(const char *tmp, const char **out,
			       struct tp_errdetail *err)
{
	const char *cands[AMBIGUOUS_LISTED];
	size_t n = tp_pattern_expand(tmp, cands, AMBIGUOUS_LISTED);
	char list[AMBIGUOUS_LISTED * (TP_PATTERN_TYPE_MAX + 2)], ex[32];
	size_t len = 0;

	if (n <= 1) {
		/* Only an abbreviation is replaced: a full name (in whatever
		 * case) or an unknown name stays as given. */
		*out = n == 1 && tp_ascii_casecmp(cands[0], tmp) ? cands[0] : tmp;
		return TP_OK;
	}
	list[0] = '\0';
	for (size_t i = 0; i < n && i < AMBIGUOUS_LISTED && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
					i ? ", " : "", cands[i]);
	return tp_errdetail_set(err, TP_ERR_INVAL, "pattern_types",
		"pattern_types: \"%s\" is ambiguous: %s%s (give the full name)",
		excerpt(ex, tmp, strlen(tmp)), list,
		n > AMBIGUOUS_LISTED ? ", ..." : "");
}

/*
 * Validates one trimmed, non-empty list entry and writes its normalised form
 * to *out: tmp (ENTRY_MAX + 1 bytes) or a static full pattern name.
 */
static int norm_entry(enum list_kind kind, const char *s, size_t n,
		      char *tmp, const char **out, struct tp_errdetail *err)
{
	const char *name = list_specs[kind].name;
	char ex[32];

	switch (kind) {
	case LIST_PATTERN_TYPES:
		if (n > TP_PATTERN_TYPE_MAX || has_control(s, n))
			return tp_errdetail_set(err, TP_ERR_INVAL, name,
				"%s: \"%s\" is not a pattern type (1 to %d bytes of printable UTF-8)",
				name, excerpt(ex, s, n), TP_PATTERN_TYPE_MAX);
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		return expand_pattern_type(tmp, out, err);
	case LIST_SYMBOLS:
		if (!tp_symbol_norm(s, n, tmp))
			goto bad_symbol;
		*out = tmp;
		return TP_OK;
	case LIST_SECTORS:
		if (n > TP_SECTOR_MAX || has_control(s, n))
			return tp_errdetail_set(err, TP_ERR_INVAL, name,
				"%s: \"%s\" is not a sector (1 to %d bytes of printable UTF-8)",
				name, excerpt(ex, s, n), TP_SECTOR_MAX);
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		*out = tmp;
		return TP_OK;
	}
	TP_ASSERT(0);
bad_symbol:
	return tp_errdetail_set(err, TP_ERR_INVAL, name,
		"%s: \"%s\" is not a symbol (1 to %d of " TP_SYMBOL_CHARS ")",
		name, excerpt(ex, s, n), TP_SYMBOL_MAX);
}

/*
 * Adds the comma-separated entries of value to the sorted list of kind.
 * New entries are validated and collected (sorted, deduplicated) in `fresh`
 * first and merged only when all are good, so a failure changes nothing.
 */
static int add_entries(struct tp_filter *f, enum list_kind kind,
		       const char *value, struct tp_errdetail *err)
{
	const struct list_spec *spec = &list_specs[kind];
	char ***list;
	size_t *n;
	char **fresh = NULL, **merged = NULL;
	size_t n_fresh = 0;
	const char *p = value;
	int rc = TP_OK;

	list_of(f, kind, &list, &n);
	for (;;) {
		const char *comma = strchr(p, ',');
		const char *s = p, *norm = NULL;
		size_t len = comma ? (size_t)(comma - p) : strlen(p), at;
		char tmp[ENTRY_MAX + 1];
		bool found;

		trim(&s, &len);
		if (len) {
			rc = norm_entry(kind, s, len, tmp, &norm, err);
			if (rc)
				goto fail;
			if (list_has(*list, *n, norm, spec->nocase))
				goto next;
			at = lower_bound(fresh, n_fresh, norm, spec->nocase, &found);
			if (found)
				goto next;
			if (*n + n_fresh >= spec->max_entries) {
				rc = tp_errdetail_set(err, TP_ERR_INVAL, spec->name,
					"%s: more than %zu entries", spec->name,
					spec->max_entries);
				goto fail;
			}
			if (!fresh) {
				fresh = tp_calloc(spec->max_entries, sizeof(char *));
				if (!fresh)
					goto nomem;
			}
			memmove(fresh + at + 1, fresh + at,
				(n_fresh - at) * sizeof(char *));
			fresh[at] = tp_strdup(norm);
			if (!fresh[at]) {
				memmove(fresh + at, fresh + at + 1,
					(n_fresh - at) * sizeof(char *));
				goto nomem;
			}
			n_fresh++;
		}
next:
		if (!comma)
			break;
		p = comma + 1;
	}
	if (n_fresh) {
		size_t i = 0, j = 0, k = 0;

		merged = tp_calloc(*n + n_fresh, sizeof(char *));
		if (!merged)
			goto nomem;
		while (i < *n || j < n_fresh) {
			if (j == n_fresh ||
			    (i < *n && cmp_entry((*list)[i], fresh[j], spec->nocase) < 0))
				merged[k++] = (*list)[i++];
			else
				merged[k++] = fresh[j++];
		}
		tp_free(*list);
		tp_free(fresh);
		*list = merged;
		*n = k;
	}
	f->given |= spec->bit;
	return TP_OK;
nomem:
	rc = tp_errdetail_set(err, TP_ERR_NOMEM, spec->name, "%s: out of memory",
			      spec->name);
fail:
	free_list(fresh, n_fresh);
	return rc;
}

/*
 * Strict number: the whole (space-trimmed) text must be a finite decimal
 * number. strtod alone would also take "nan", "inf", hex and leading
 * whitespace, so the characters are checked first.
 */
static bool parse_number(const char *s, size_t n, double *out)
{
	char tmp[64], *end;
	double v;

	trim(&s, &n);
	if (n == 0 || n >= sizeof(tmp))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || c == '.' || c == '+' ||
		      c == '-' || c == 'e' || c == 'E'))
			return false;
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	v = strtod(tmp, &end);
	if (end != tmp + n || !isfinite(v))
		return false;
	*out = v + 0.0; /* -0 -> +0, so the canonical form has one zero */
	return true;
}

static int set_rsi_range(struct tp_filter *f, const char *value,
			 struct tp_errdetail *err)
{
	const char *comma = strchr(value, ',');
	double lo, hi;

	if (!comma || !parse_number(value, (size_t)(comma - value), &lo) ||
	    !parse_number(comma + 1, strlen(comma + 1), &hi) || lo < 0 ||
	    lo > 100 || hi < 0 || hi > 100)
		return tp_errdetail_set(err, TP_ERR_INVAL, "rsi_range",
			"rsi_range: must be \"min,max\" with numbers between 0 and 100");
	f->rsi_min = lo < hi ? lo : hi;
	f->rsi_max = lo < hi ? hi : lo;
	f->given |= TP_FP_RSI_RANGE;
	return TP_OK;
}

static int set_timeframe(struct tp_filter *f, const char *value,
			 struct tp_errdetail *err)
{
	static const struct {
		const char *name;
		unsigned mask;
	} tf[] = {
		{ "All", 0 },
		{ "Daily", TP_TIER_BIT(TP_TIER_DAILY) },
		{ "Intraday", TP_TIER_BIT(TP_TIER_INTRADAY) },
		{ "Combo", TP_TIER_BIT(TP_TIER_COMBO) },
	};
	const char *s = value;
	size_t n = strlen(value);

	trim(&s, &n);
	for (size_t i = 0; i < TP_ARRAY_SIZE(tf); i++) {
		if (strlen(tf[i].name) == n && !tp_ascii_ncasecmp(s, tf[i].name, n)) {
			f->tier_mask = tf[i].mask;
			f->given |= TP_FP_TIMEFRAME;
			return TP_OK;
		}
	}
	return tp_errdetail_set(err, TP_ERR_INVAL, "timeframe",
		"timeframe: must be one of All, Daily, Intraday, Combo");
}

int tp_filter_set_param(struct tp_filter *f, const char *name,
			const char *value, struct tp_errdetail *err)
{
	double v;

	if (!value)
		value = "";
	if (!strcmp(name, "pattern_types"))
		return add_entries(f, LIST_PATTERN_TYPES, value, err);
	if (!strcmp(name, "symbols"))
		return add_entries(f, LIST_SYMBOLS, value, err);
	if (!strcmp(name, "sectors"))
		return add_entries(f, LIST_SECTORS, value, err);
	if (!strcmp(name, "confidence_min")) {
		if (!parse_number(value, strlen(value), &v) || v < 0 || v > 1)
			return tp_errdetail_set(err, TP_ERR_INVAL, "confidence_min",
				"confidence_min: must be a number between 0 and 1");
		f->confidence_min = v;
		f->given |= TP_FP_CONFIDENCE_MIN;
		return TP_OK;
	}
	if (!strcmp(name, "rs_min")) {
		if (!parse_number(value, strlen(value), &v) || v < 0)
			return tp_errdetail_set(err, TP_ERR_INVAL, "rs_min",
				"rs_min: must be a number >= 0");
		f->rs_min = v;
		f->given |= TP_FP_RS_MIN;
		return TP_OK;
	}
	if (!strcmp(name, "vol_min")) {
		if (!parse_number(value, strlen(value), &v) || v < 0)
			return tp_errdetail_set(err, TP_ERR_INVAL, "vol_min",
				"vol_min: must be a number >= 0");
		f->vol_min = v;
		f->given |= TP_FP_VOL_MIN;
		return TP_OK;
	}
	if (!strcmp(name, "rsi_range"))
		return set_rsi_range(f, value, err);
	if (!strcmp(name, "timeframe"))
		return set_timeframe(f, value, err);
	{
		char ex[32];

		return tp_errdetail_set(err, TP_ERR_NOTFOUND, NULL,
			"%s: not a filter parameter",
			excerpt(ex, name, strlen(name)));
	}
}

/* ------------------------------------------------------------------------
 * Presets and inline filters: JSON values become parameter text.
 */

static int json_list(struct tp_filter *f, const char *name, const cJSON *v,
		     struct tp_errdetail *err)
{
	const cJSON *e;
	int rc;

	if (cJSON_IsString(v))
		return tp_filter_set_param(f, name, v->valuestring, err);
	if (!cJSON_IsArray(v))
		goto bad;
	/* Validate the types first so a bad element changes nothing. */
	for (e = v->child; e; e = e->next)
		if (!cJSON_IsString(e))
			goto bad;
	if (!v->child) /* [] = explicitly "any" */
		return tp_filter_set_param(f, name, "", err);
	for (e = v->child; e; e = e->next) {
		rc = tp_filter_set_param(f, name, e->valuestring, err);
		if (rc)
			return rc;
	}
	return TP_OK;
bad:
	return tp_errdetail_set(err, TP_ERR_INVAL, name,
		"%s: must be an array of strings or a comma-separated string", name);
}

static int json_number(struct tp_filter *f, const char *name, const cJSON *v,
		       struct tp_errdetail *err)
{
	char tmp[40];

	if (!cJSON_IsNumber(v))
		return tp_errdetail_set(err, TP_ERR_INVAL, name,
					"%s: must be a number", name);
	/* %.17g round-trips every double exactly. */
	snprintf(tmp, sizeof(tmp), "%.17g", v->valuedouble);
	return tp_filter_set_param(f, name, tmp, err);
}

static int json_rsi_range(struct tp_filter *f, const cJSON *v,
			  struct tp_errdetail *err)
{
	char tmp[96];

	if (cJSON_IsString(v))
		return tp_filter_set_param(f, "rsi_range", v->valuestring, err);
	if (cJSON_IsArray(v) && v->child && cJSON_IsNumber(v->child) &&
	    v->child->next && cJSON_IsNumber(v->child->next) &&
	    !v->child->next->next) {
		snprintf(tmp, sizeof(tmp), "%.17g,%.17g", v->child->valuedouble,
			 v->child->next->valuedouble);
		return tp_filter_set_param(f, "rsi_range", tmp, err);
	}
	return tp_errdetail_set(err, TP_ERR_INVAL, "rsi_range",
		"rsi_range: must be [min,max] with numbers between 0 and 100");
}

static int json_refs(const char *key, const cJSON *v,
		     struct tp_filter_refs *refs, struct tp_errdetail *err)
{
	bool is_wl = !strcmp(key, "watchlist_id");
	const char *name = is_wl ? "watchlist_id" : "universe";

	if (!refs)
		return tp_errdetail_set(err, TP_ERR_INVAL, name,
					"%s: not allowed here", name);
	if (is_wl) {
		double d = cJSON_IsNumber(v) ? v->valuedouble : 0;

		/* Integral and exactly representable (<= 2^53). */
		if (!(d >= 1 && d <= 9007199254740992.0 && d == floor(d)))
			return tp_errdetail_set(err, TP_ERR_INVAL, name,
				"watchlist_id: must be a positive integer");
		refs->watchlist_id = (long long)d;
		return TP_OK;
	}
	if (!cJSON_IsString(v) || !v->valuestring[0] ||
	    strlen(v->valuestring) > TP_FILTER_UNIVERSE_MAX ||
	    has_control(v->valuestring, strlen(v->valuestring)))
		return tp_errdetail_set(err, TP_ERR_INVAL, name,
			"universe: must be a string of 1 to %d bytes of printable UTF-8",
			TP_FILTER_UNIVERSE_MAX);
	memcpy(refs->universe, v->valuestring, strlen(v->valuestring) + 1);
	return TP_OK;
}

int tp_filter_from_json(struct tp_filter *f, const struct cJSON *obj,
			struct tp_filter_refs *refs, struct tp_errdetail *err)
{
	static const char *const numbers[] = { "confidence_min", "rs_min",
					       "vol_min" };
	int rc = TP_OK;

	tp_filter_init(f);
	if (refs)
		memset(refs, 0, sizeof(*refs));
	if (!cJSON_IsObject(obj))
		return tp_errdetail_set(err, TP_ERR_INVAL, "filters",
					"filters: must be a JSON object");
	for (const cJSON *it = obj->child; it; it = it->next) {
		const char *key = it->string ? it->string : "";
		bool known = false;

		for (size_t i = 0; i < TP_ARRAY_SIZE(list_specs); i++) {
			if (!strcmp(key, list_specs[i].name)) {
				known = true;
				if (!cJSON_IsNull(it))
					rc = json_list(f, list_specs[i].name, it, err);
			}
		}
		for (size_t i = 0; i < TP_ARRAY_SIZE(numbers); i++) {
			if (!strcmp(key, numbers[i])) {
				known = true;
				if (!cJSON_IsNull(it))
					rc = json_number(f, numbers[i], it, err);
			}
		}
		if (!strcmp(key, "rsi_range")) {
			known = true;
			if (!cJSON_IsNull(it))
				rc = json_rsi_range(f, it, err);
		} else if (!strcmp(key, "timeframe")) {
			known = true;
			if (cJSON_IsString(it))
				rc = tp_filter_set_param(f, "timeframe",
							 it->valuestring, err);
			else if (!cJSON_IsNull(it))
				rc = tp_errdetail_set(err, TP_ERR_INVAL, "timeframe",
					"timeframe: must be one of All, Daily, Intraday, Combo");
		} else if (!strcmp(key, "watchlist_id") || !strcmp(key, "universe")) {
			known = true;
			if (!cJSON_IsNull(it))
				rc = json_refs(key, it, refs, err);
		}
		if (!known) {
			char ex[32];

			rc = tp_errdetail_set(err, TP_ERR_INVAL, NULL,
				"%s: unknown filter field",
				excerpt(ex, key, strlen(key)));
		}
		if (rc)
			goto fail;
	}
	return TP_OK;
fail:
	tp_filter_cleanup(f);
	tp_filter_init(f);
	if (refs)
		memset(refs, 0, sizeof(*refs));
	return rc;
}

/* ------------------------------------------------------------------------
 * Overlay and canonical form.
 */

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int tp_filter_restrict_symbols(struct tp_filter *f, const char *const *syms,
			       size_t n)
{
	char **set = tp_calloc(n ? n : 1, sizeof(char *));
	size_t k = 0;

	if (!set)
		return TP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		/* Intersect with symbols the filter already names. */
		if (f->n_symbols && !list_has(f->symbols, f->n_symbols, syms[i], false))
			continue;
		if (!(set[k] = tp_strdup(syms[i]))) {
			free_list(set, k);
			return TP_ERR_NOMEM;
		}
		k++;
	}
	qsort(set, k, sizeof(char *), cmp_strp);
	size_t w = 0;
	for (size_t i = 0; i < k; i++) {
		if (w && !strcmp(set[w - 1], set[i])) {
			tp_free(set[i]);
			continue;
		}
		set[w++] = set[i];
	}
	if (w == 0) {
		/* An empty set must match nothing, while an empty list means
		 * "any": keep one entry no symbol can equal. */
		if (!(set[0] = tp_strdup(""))) {
			tp_free(set);
			return TP_ERR_NOMEM;
		}
		w = 1;
	}
	free_list(f->symbols, f->n_symbols);
	f->symbols = set;
	f->n_symbols = w;
	f->given |= TP_FP_SYMBOLS;
	return TP_OK;
}

int tp_filter_overlay(struct tp_filter *base, const struct tp_filter *over)
{
	char **lists[3] = { NULL, NULL, NULL };
	size_t counts[3] = { 0, 0, 0 };
	int rc = TP_OK;

	/* Copy every list first: on failure base is untouched. */
	for (int k = 0; k < 3; k++) {
		char *const *src;
		size_t n;

		if (!(over->given & list_specs[k].bit))
			continue;
		src = list_read(over, (enum list_kind)k, &n);
		rc = copy_list(&lists[k], &counts[k], src, n);
		if (rc)
			goto fail;
	}
	for (int k = 0; k < 3; k++) {
		char ***dst;
		size_t *n;

		if (!(over->given & list_specs[k].bit))
			continue;
		list_of(base, (enum list_kind)k, &dst, &n);
		free_list(*dst, *n);
		*dst = lists[k];
		*n = counts[k];
	}
	if (over->given & TP_FP_CONFIDENCE_MIN)
		base->confidence_min = over->confidence_min;
	if (over->given & TP_FP_RS_MIN)
		base->rs_min = over->rs_min;
	if (over->given & TP_FP_VOL_MIN)
		base->vol_min = over->vol_min;
	if (over->given & TP_FP_RSI_RANGE) {
		base->rsi_min = over->rsi_min;
		base->rsi_max = over->rsi_max;
	}
	if (over->given & TP_FP_TIMEFRAME)
		base->tier_mask = over->tier_mask;
	base->given |= over->given;
	return TP_OK;
fail:
	for (int k = 0; k < 3; k++)
		free_list(lists[k], counts[k]);
	return rc;
}

/* A JSON string, lower-cased for the case-insensitive lists so entries that
 * compare equal print equal. Entries fit ENTRY_MAX (checked when read). */
static void put_str(struct tp_buf *out, const char *s, bool lower)
{
	char tmp[ENTRY_MAX + 1];

	if (lower && tp_ascii_lower_into(tmp, sizeof(tmp), s) < sizeof(tmp))
		s = tmp;
	tp_buf_json_str(out, s);
}

void tp_filter_canonical(const struct tp_filter *f, struct tp_buf *out)
{
	tp_buf_putc(out, '{');
	for (int k = 0; k < 3; k++) {
		size_t n;
		char *const *list = list_read(f, (enum list_kind)k, &n);

		tp_buf_json_key(out, list_specs[k].name, k == 0);
		tp_buf_putc(out, '[');
		for (size_t i = 0; i < n; i++) {
			if (i)
				tp_buf_putc(out, ',');
			put_str(out, list[i], list_specs[k].nocase);
		}
		tp_buf_putc(out, ']');
	}
	tp_buf_json_kv_num(out, "confidence_min", f->confidence_min);
	tp_buf_json_kv_num(out, "rs_min", f->rs_min);
	tp_buf_json_kv_num(out, "vol_min", f->vol_min);
	tp_buf_json_key(out, "rsi_range", false);
	tp_buf_putc(out, '[');
	tp_buf_json_num(out, f->rsi_min);
	tp_buf_putc(out, ',');
	tp_buf_json_num(out, f->rsi_max);
	tp_buf_putc(out, ']');
	tp_buf_json_kv_uint(out, "tier_mask", f->tier_mask);
	tp_buf_json_kv_uint(out, "given", f->given);
	tp_buf_putc(out, '}');
}
