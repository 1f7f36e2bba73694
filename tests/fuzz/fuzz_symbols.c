/*
 * fuzz_symbols.c - libFuzzer harness for a body's list of symbols: the raw
 * body goes through tp_body_parse and tp_symlist_validate (as a watchlist
 * create or update would) against a small directory. The first byte picks
 * required (bit 0) and a missing directory (bit 1).
 *
 * Checked beyond the sanitizers: nothing allocated survives an input; a
 * refusal names "symbols"; "unknown" comes only with its 400, as a JSON
 * array; an accepted
 * list is a sorted JSON array of directory symbols without duplicates.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tickpush/alloc.h"
#include "tickpush/body.h"
#include "tickpush/json.h"
#include "tickpush/symlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const directory[] = {"A", "AAPL", "BRK.B", "EUR/USD", "MSFT", "X_1"};

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_symbols: invariant failed: %s\n", what);
		abort();
	}
}

static const char *lookup(void *ud, const char *sym)
{
	(void)ud;
	for (size_t i = 0; i < sizeof(directory) / sizeof(directory[0]); i++)
		if (!strcmp(directory[i], sym))
			return directory[i];
	return NULL;
}

static void check_list(const char *out)
{
	cJSON *arr = cJSON_Parse(out);
	const cJSON *it;
	const char *prev = NULL;

	check(cJSON_IsArray(arr), "an array");
	cJSON_ArrayForEach(it, arr) {
		check(cJSON_IsString(it) && lookup(NULL, it->valuestring), "directory symbols");
		check(!prev || strcmp(prev, it->valuestring) < 0, "sorted, no duplicates");
		prev = it->valuestring;
	}
	cJSON_Delete(arr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t used, blocks;
	struct tp_body_error e;
	struct tp_errdetail err = {{0}, NULL};
	cJSON *body = NULL;
	struct tp_buf extra;
	char *out = NULL;
	int flags, rc;

	if (size < 1)
		return 0;
	flags = data[0];
	tp_json_init();
	used = tp_alloc_used();
	blocks = tp_alloc_blocks();
	if (tp_body_parse((const char *)data + 1, size - 1, &body, &e) == TP_OK) {
		tp_buf_init(&extra, 0);
		rc = tp_symlist_validate(body, flags & 1, flags & 2 ? NULL : lookup, NULL, &out,
					 &extra, &err);
		if (rc == TP_OK) {
			check(extra.len == 0, "no extra");
			check(out || !(flags & 1), "required gives a list");
			if (out)
				check_list(out);
			tp_free(out);
		} else if (rc == TP_ERR_INVAL) {
			check(!out && err.field && !strcmp(err.field, "symbols") &&
			      !strncmp(err.msg, "symbols: ", 9), "names symbols");
			if (extra.len) {
				struct tp_buf obj;
				cJSON *o;

				tp_buf_init(&obj, 0);
				tp_buf_printf(&obj, "{%s}", tp_buf_cstr(&extra));
				o = cJSON_Parse(tp_buf_cstr(&obj));
				check(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "unknown")),
				      "unknown is a JSON array");
				cJSON_Delete(o);
				tp_buf_cleanup(&obj);
			}
		} else {
			check(rc == TP_ERR_UPSTREAM && (flags & 2) && !extra.len, "no directory");
		}
		tp_buf_cleanup(&extra);
		cJSON_Delete(body);
	}
	check(tp_alloc_used() == used && tp_alloc_blocks() == blocks, "no leak");
	return 0;
}
