/*
 * fuzz_backtest.c - libFuzzer harness for backtest requests: the raw POST
 * body goes through tp_body_parse and tp_backtest_req_validate, as POST
 * /api/backtests would, with a fixed "now".
 *
 * Checked beyond the sanitizers: nothing allocated survives an input; a
 * refusal names its field at the start of its message; an accepted
 * request is a JSON object with 1..100 upper-case symbols, 1..20 patterns,
 * ordered valid dates and parameters an object, and validating it again
 * gives the same text (normalising is idempotent).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tickpush/alloc.h"
#include "tickpush/backtest_req.h"
#include "tickpush/body.h"
#include "tickpush/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1767225600.0 /* 2026-01-01 00:00 UTC */

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_backtest: invariant failed: %s\n", what);
		abort();
	}
}

static void check_request(const char *out)
{
	cJSON *r = cJSON_Parse(out);
	const cJSON *syms = cJSON_GetObjectItemCaseSensitive(r, "symbols"), *it;
	const cJSON *pats = cJSON_GetObjectItemCaseSensitive(r, "patterns");
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(r, "start_date");
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(r, "end_date");
	struct tp_errdetail err = {{0}, NULL};
	long da, db;
	char *again = NULL;

	check(cJSON_IsObject(r), "an object");
	check(cJSON_GetArraySize(syms) >= 1 && cJSON_GetArraySize(syms) <= 100, "symbols");
	check(cJSON_GetArraySize(pats) >= 1 && cJSON_GetArraySize(pats) <= 20, "patterns");
	cJSON_ArrayForEach(it, syms)
		for (const char *s = it->valuestring; *s; s++)
			check(!(*s >= 'a' && *s <= 'z'), "symbols upper-cased");
	check(tp_backtest_date_parse(a->valuestring, &da) &&
	      tp_backtest_date_parse(b->valuestring, &db) && da <= db, "dates");
	check(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r, "parameters")),
	      "parameters");
	check(tp_backtest_req_validate(r, NOW, &again, &err) == TP_OK &&
	      !strcmp(again, out), "idempotent");
	tp_free(again);
	cJSON_Delete(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t used, blocks;
	struct tp_body_error e;
	struct tp_errdetail err = {{0}, NULL};
	cJSON *body = NULL;
	char *out = NULL;
	int rc;

	tp_json_init();
	used = tp_alloc_used();
	blocks = tp_alloc_blocks();
	if (tp_body_parse((const char *)data, size, &body, &e) == TP_OK) {
		rc = tp_backtest_req_validate(body, NOW, &out, &err);
		if (rc == TP_OK) {
			check_request(out);
			tp_free(out);
		} else {
			check(rc == TP_ERR_INVAL && !out, "refused");
			check(err.field && !strncmp(err.msg, err.field, strlen(err.field)) &&
			      err.msg[strlen(err.field)] == ':', "the message names its field");
		}
		cJSON_Delete(body);
	}
	check(tp_alloc_used() == used && tp_alloc_blocks() == blocks, "no leak");
	return 0;
}
