/*
 * symlist.c - a request body's list of symbols (symlist.h).
 *
 * Moved out of io/api_users.c unchanged in behaviour: shape first (an
 * array of at most TP_SYMLIST_MAX), then the directory's availability,
 * then each entry (a malformed one fails at once, unknown ones are
 * collected and named together), the same messages.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tickpush/alloc.h"
#include "tickpush/symbol.h"
#include "tickpush/symlist.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int tp_symlist_validate(const cJSON *body, bool required,
			tp_symlist_lookup *lookup, void *ud, char **out,
			struct tp_buf *extra, struct tp_errdetail *err)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "symbols"), *it;
	const char *list[TP_SYMLIST_MAX];
	size_t n = 0, unknown = 0;
	struct tp_buf b, bad, names; /* names: the unknown ones as JSON */
	int rc = TP_ERR_INVAL;

	*out = NULL;
	if (!arr && !required)
		return TP_OK;
	if (!cJSON_IsArray(arr))
		return tp_errdetail_set(err, rc, "symbols", "symbols: required, an array of symbols");
	if (cJSON_GetArraySize(arr) > TP_SYMLIST_MAX)
		return tp_errdetail_set(err, rc, "symbols", "symbols: at most %d symbols",
					TP_SYMLIST_MAX);
	if (!lookup)
		return TP_ERR_UPSTREAM;
	tp_buf_init(&b, 0);
	tp_buf_init(&bad, 0);
	tp_buf_init(&names, 0);
	cJSON_ArrayForEach(it, arr) {
		char sym[TP_SYMBOL_MAX + 1];
		const char *row;

		if (!cJSON_IsString(it) ||
		    !tp_symbol_norm(it->valuestring, strlen(it->valuestring), sym)) {
			tp_errdetail_set(err, rc, "symbols",
					 "symbols: each entry must be a symbol (1 to 16 characters of "
					 TP_SYMBOL_CHARS ")");
			goto out;
		}
		if (!(row = lookup(ud, sym))) {
			tp_buf_puts(&bad, unknown ? ", " : "");
			tp_buf_puts(&names, unknown ? "," : "");
			tp_buf_puts(&bad, sym);
			tp_buf_json_str(&names, sym);
			unknown++;
			continue;
		}
		list[n++] = row;
	}
	if (unknown) {
		/* extra holds members for the error body: this is its first. */
		tp_buf_json_key(extra, "unknown", true);
		tp_buf_putc(extra, '[');
		tp_buf_puts(extra, tp_buf_cstr(&names));
		tp_buf_putc(extra, ']');
		tp_errdetail_set(err, rc, "symbols", "symbols: unknown symbol%s: %.100s",
				 unknown > 1 ? "s" : "", tp_buf_cstr(&bad));
		goto out;
	}
	qsort(list, n, sizeof(list[0]), cmp_str);
	tp_buf_putc(&b, '[');
	for (size_t i = 0, w = 0; i < n; i++) {
		if (i && !strcmp(list[i], list[i - 1]))
			continue;
		tp_buf_puts(&b, w++ ? "," : "");
		tp_buf_json_str(&b, list[i]);
	}
	tp_buf_putc(&b, ']');
	rc = TP_ERR_NOMEM;
	if (!b.oom && !bad.oom && (*out = tp_strdup(tp_buf_cstr(&b))))
		rc = TP_OK;
out:
	tp_buf_cleanup(&b);
	tp_buf_cleanup(&bad);
	tp_buf_cleanup(&names);
	return rc;
}
