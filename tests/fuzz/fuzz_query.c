/*
 * fuzz_query.c - libFuzzer harness for the scan query path: the raw query
 * string goes through tp_query_parse, tp_scan_query_from_params and
 * tp_scan_query_canonical, as a REST request would.
 *
 * Checked beyond the sanitizers: nothing allocated through tp_malloc
 * survives an input; the canonical form is stable (a copy and an overlay of
 * the parsed filter onto the defaults give the same filter key); decoded
 * strings never contain a NUL before their end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_query: invariant failed: %s\n", what);
		abort();
	}
}

static void check_filter_keys(const struct tp_filter *f)
{
	struct tp_filter copy, over;
	struct tp_buf a, b, c;

	tp_buf_init(&a, 0);
	tp_buf_init(&b, 0);
	tp_buf_init(&c, 0);
	tp_filter_canonical(f, &a);
	if (tp_filter_copy(&copy, f) == TP_OK) {
		tp_filter_canonical(&copy, &b);
		check(!strcmp(tp_buf_cstr(&a), tp_buf_cstr(&b)),
		      "copy has the same canonical form");
		tp_filter_cleanup(&copy);
	}
	/* Everything not given equals the default, so overlaying onto the
	 * defaults must reproduce the filter. */
	tp_filter_init(&over);
	if (tp_filter_overlay(&over, f) == TP_OK) {
		tp_filter_canonical(&over, &c);
		check(!strcmp(tp_buf_cstr(&a), tp_buf_cstr(&c)),
		      "overlay onto defaults is the identity");
	}
	tp_filter_cleanup(&over);
	tp_buf_cleanup(&a);
	tp_buf_cleanup(&b);
	tp_buf_cleanup(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t used = tp_alloc_used(), blocks = tp_alloc_blocks();
	struct tp_query q;
	struct tp_scan_query sq;
	struct tp_errdetail err;

	if (tp_query_parse((const char *)data, size, &q, &err) == TP_OK) {
		check(q.n <= TP_QUERY_MAX_PARAMS, "parameter count bounded");
		for (size_t i = 0; i < q.n; i++)
			check(q.params[i].name[0] != '\0', "names are non-empty");
		if (tp_scan_query_from_params(&q, &sq, &err) == TP_OK) {
			struct tp_buf b;

			check(sq.page >= 1, "page >= 1");
			check(sq.per_page >= 1 && sq.per_page <= 100,
			      "per_page clamped");
			check(sq.filter.rsi_min <= sq.filter.rsi_max,
			      "rsi range ordered");
			tp_buf_init(&b, 0);
			tp_scan_query_canonical(&sq, &b);
			check(!b.oom && b.len > 0, "canonical written");
			tp_buf_cleanup(&b);
			check_filter_keys(&sq.filter);
			tp_scan_query_cleanup(&sq);
		} else {
			check(err.field != NULL, "scan errors name a parameter");
		}
		tp_query_cleanup(&q);
	}
	check(tp_alloc_used() == used && tp_alloc_blocks() == blocks,
	      "no leak");
	return 0;
}
