/*
 * test_query.c - query-string splitting and decoding, and the scan query:
 * every parameter valid and invalid (rest.md's examples included), defaults,
 * per_page clamping, canonical keys and out-of-memory at every allocation.
 */
#include <stdio.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/query.h"

/* ---- helpers ---------------------------------------------------------- */

static int parse(const char *qs, struct tp_query *q, struct tp_errdetail *err)
{
	return tp_query_parse(qs, strlen(qs), q, err);
}

/* Parses qs as a scan query; returns the rc of whichever step failed. */
static int scan(const char *qs, struct tp_scan_query *sq,
		struct tp_errdetail *err)
{
	struct tp_query q;
	int rc = parse(qs, &q, err);

	if (rc) {
		tp_scan_query_init(sq);
		return rc;
	}
	rc = tp_scan_query_from_params(&q, sq, err);
	tp_query_cleanup(&q);
	return rc;
}

static char *scan_canon(const struct tp_scan_query *sq)
{
	struct tp_buf b;
	char *s;

	tp_buf_init(&b, 0);
	tp_scan_query_canonical(sq, &b);
	assert_false(b.oom);
	s = tp_strdup(tp_buf_cstr(&b));
	tp_buf_cleanup(&b);
	assert_non_null(s);
	return s;
}

/* ---- tp_query_parse --------------------------------------------------- */

static void test_query_split(void **state)
{
	struct tp_query q;
	struct tp_errdetail err = { { 0 }, NULL };

	(void)state;
	assert_int_equal(parse("a=1&b=2;c=3", &q, &err), TP_OK);
	assert_int_equal(q.n, 3);
	assert_string_equal(q.params[0].name, "a");
	assert_string_equal(q.params[0].value, "1");
	assert_string_equal(q.params[2].name, "c");
	assert_string_equal(tp_query_get(&q, "b"), "2");
	assert_null(tp_query_get(&q, "d"));
	assert_null(tp_query_get(&q, "A")); /* names are case-sensitive */
	tp_query_cleanup(&q);
	assert_int_equal(q.n, 0);

	/* Empty pieces and pieces without a name are skipped; '=' optional. */
	assert_int_equal(parse("&&a&b=&=x&;c==d&", &q, &err), TP_OK);
	assert_int_equal(q.n, 3);
	assert_string_equal(q.params[0].name, "a");
	assert_string_equal(q.params[0].value, "");
	assert_string_equal(q.params[1].name, "b");
	assert_string_equal(q.params[1].value, "");
	assert_string_equal(q.params[2].name, "c");
	assert_string_equal(q.params[2].value, "=d"); /* split at the first '=' */
	tp_query_cleanup(&q);

	/* First value wins for tp_query_get; all are kept. */
	assert_int_equal(parse("s=1&s=2", &q, &err), TP_OK);
	assert_int_equal(q.n, 2);
	assert_string_equal(tp_query_get(&q, "s"), "1");
	tp_query_cleanup(&q);

	/* Empty input. */
	assert_int_equal(tp_query_parse(NULL, 0, &q, &err), TP_OK);
	assert_int_equal(q.n, 0);
	tp_query_cleanup(&q);
	tp_query_cleanup(NULL);

	/* Not NUL-terminated: only len bytes are read. */
	{
		char buf[8] = { 'a', '=', '1', '&', 'b', '=', '2', 'X' };

		assert_int_equal(tp_query_parse(buf, 7, &q, &err), TP_OK);
		assert_int_equal(q.n, 2);
		assert_string_equal(tp_query_get(&q, "b"), "2");
		tp_query_cleanup(&q);
	}
}

static void test_query_decode(void **state)
{
	static const struct {
		const char *qs, *name, *value;
	} t[] = {
		{ "a=b+c", "a", "b c" },
		{ "a=b%20c", "a", "b c" },
		{ "a=%2C%2c", "a", ",," },
		{ "sym%62ols=AAPL%2CMSFT", "symbols", "AAPL,MSFT" },
		{ "a=%26%3D%3B", "a", "&=;" },   /* decoded separators are data */
		{ "a=%2B", "a", "+" },
		{ "a=%C3%A9", "a", "\xc3\xa9" },
		{ "a+b=1", "a b", "1" },
		{ "a=%7e%7E", "a", "~~" },
		{ "a=100%25", "a", "100%" },
	};

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(t); i++) {
		struct tp_query q;
		struct tp_errdetail err = { { 0 }, NULL };

		if (parse(t[i].qs, &q, &err) != TP_OK)
			fail_msg("%s: %s", t[i].qs, err.msg);
		assert_int_equal(q.n, 1);
		assert_string_equal(q.params[0].name, t[i].name);
		assert_string_equal(q.params[0].value, t[i].value);
		tp_query_cleanup(&q);
	}
}

static void test_query_malformed(void **state)
{
	static const struct {
		const char *qs;
		const char *in_msg;
	} t[] = {
		{ "a=%", "percent" },
		{ "a=%2", "percent" },
		{ "a=%0", "percent" },
		{ "a=%zz", "percent" },
		{ "a=%2g", "percent" },
		{ "a=%g2", "percent" },
		{ "a=% 2", "percent" },
		{ "%=1", "percent" },
		{ "ok=1&a%=1", "percent" },
		{ "a=%00", "NUL" },
		{ "a%00b=1", "NUL" },
		{ "a=1&b=x%00", "NUL" },
	};

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(t); i++) {
		struct tp_query q;
		struct tp_errdetail err = { { 0 }, NULL };

		if (parse(t[i].qs, &q, &err) != TP_ERR_INVAL)
			fail_msg("%s accepted", t[i].qs);
		assert_non_null(strstr(err.msg, t[i].in_msg));
		assert_non_null(strstr(err.msg, "query string"));
		assert_int_equal(q.n, 0); /* left empty */
	}

	/* A raw NUL byte (len-delimited input) is refused too. */
	{
		struct tp_query q;
		struct tp_errdetail err = { { 0 }, NULL };
		const char raw[] = { 'a', '=', 'x', '\0', 'y' };

		assert_int_equal(tp_query_parse(raw, sizeof(raw), &q, &err),
				 TP_ERR_INVAL);
		assert_non_null(strstr(err.msg, "NUL"));
	}

	/* An escape cut off by len is bad even if hex digits follow in
	 * memory: nothing past len is read. */
	{
		struct tp_query q;
		struct tp_errdetail err = { { 0 }, NULL };
		const char buf[] = "a=%4F";

		assert_int_equal(tp_query_parse(buf, 4, &q, &err), TP_ERR_INVAL);
		assert_non_null(strstr(err.msg, "percent"));
		assert_int_equal(tp_query_parse(buf, 3, &q, &err), TP_ERR_INVAL);
		assert_int_equal(tp_query_parse(buf, 5, &q, &err), TP_OK);
		assert_string_equal(tp_query_get(&q, "a"), "O");
		tp_query_cleanup(&q);
	}
}

static void test_query_limits(void **state)
{
	struct tp_query q;
	struct tp_errdetail err = { { 0 }, NULL };
	struct tp_buf b;
	char *big;

	(void)state;
	/* Exactly TP_QUERY_MAX_PARAMS parameters fit; one more does not. */
	tp_buf_init(&b, 0);
	for (int i = 0; i < TP_QUERY_MAX_PARAMS; i++)
		tp_buf_printf(&b, "%sp%d=%d", i ? "&" : "", i, i);
	assert_int_equal(tp_query_parse(tp_buf_data(&b), b.len, &q, &err), TP_OK);
	assert_int_equal(q.n, TP_QUERY_MAX_PARAMS);
	assert_string_equal(tp_query_get(&q, "p63"), "63");
	tp_query_cleanup(&q);
	tp_buf_puts(&b, "&one=more");
	assert_int_equal(tp_query_parse(tp_buf_data(&b), b.len, &q, &err),
			 TP_ERR_INVAL);
	assert_non_null(strstr(err.msg, "parameters"));
	assert_int_equal(q.n, 0);
	/* Empty pieces do not count against the limit. */
	tp_buf_reset(&b);
	for (int i = 0; i < 200; i++)
		tp_buf_putc(&b, '&');
	tp_buf_puts(&b, "a=1");
	assert_int_equal(tp_query_parse(tp_buf_data(&b), b.len, &q, &err), TP_OK);
	assert_int_equal(q.n, 1);
	tp_query_cleanup(&q);
	tp_buf_cleanup(&b);

	/* Length: TP_QUERY_MAX_BYTES is fine, one more byte is not. */
	big = tp_malloc(TP_QUERY_MAX_BYTES + 2);
	assert_non_null(big);
	memcpy(big, "symbols=", 8);
	memset(big + 8, 'A', TP_QUERY_MAX_BYTES + 1 - 8);
	assert_int_equal(tp_query_parse(big, TP_QUERY_MAX_BYTES, &q, &err), TP_OK);
	assert_int_equal(q.n, 1);
	assert_int_equal(strlen(q.params[0].value), TP_QUERY_MAX_BYTES - 8);
	tp_query_cleanup(&q);
	assert_int_equal(tp_query_parse(big, TP_QUERY_MAX_BYTES + 1, &q, &err),
			 TP_ERR_INVAL);
	assert_non_null(strstr(err.msg, "longer"));
	assert_int_equal(q.n, 0);
	tp_free(big);
}

static void test_query_oom(void **state)
{
	size_t failures = 0;

	(void)state;
	for (size_t i = 1;; i++) {
		struct tp_query q;
		int rc;

		tp_alloc_fail_at(i);
		rc = parse("a=1&b=%41&c&d=x+y", &q, NULL);
		tp_alloc_fail_at(0);
		if (rc == TP_OK) {
			assert_int_equal(q.n, 4);
			assert_string_equal(tp_query_get(&q, "b"), "A");
			tp_query_cleanup(&q);
			break;
		}
		assert_int_equal(rc, TP_ERR_NOMEM);
		assert_int_equal(q.n, 0);
		failures++;
	}
	assert_true(failures > 0);
}

/* ---- the scan query --------------------------------------------------- */

static void test_scan_defaults(void **state)
{
	struct tp_scan_query sq;
	struct tp_errdetail err = { { 0 }, NULL };
	char *c;

	(void)state;
	/* Unknown parameters (cache-busters) are ignored. */
	assert_int_equal(scan("_=1725456789&foo=bar&Page=x", &sq, &err), TP_OK);
	assert_int_equal(sq.page, 1);
	assert_int_equal(sq.per_page, 30);
	assert_int_equal(sq.sort_by, TP_SORT_CONFIDENCE);
	assert_false(sq.ascending);
	assert_int_equal(sq.preset_id, 0);
	assert_true(sq.filter.confidence_min == 0.5);
	assert_int_equal(sq.filter.given, 0);
	c = scan_canon(&sq);
	assert_non_null(strstr(c, "\"page\":1,\"per_page\":30,"
				  "\"sort_by\":\"confidence\",\"sort_order\":\"desc\""));
	tp_free(c);
	tp_scan_query_cleanup(&sq);
	tp_scan_query_cleanup(NULL);
}

static void test_scan_filter_params(void **state)
{
	struct tp_scan_query sq;
	struct tp_errdetail err = { { 0 }, NULL };

	(void)state;
	assert_int_equal(scan("pattern_types=WeeklyBO,doji&symbols=aapl"
			      "&symbols=msft%2Cnvda&confidence_min=0.7&rs_min=1.2"
			      "&vol_min=1.5&rsi_range=70%2C30&timeframe=intraday"
			      "&sectors=Technology&sectors=energy",
			      &sq, &err), TP_OK);
	assert_int_equal(sq.filter.n_pattern_types, 2);
	assert_string_equal(sq.filter.pattern_types[0], "doji");
	assert_string_equal(sq.filter.pattern_types[1], "Weekly_Breakout");
	assert_int_equal(sq.filter.n_symbols, 3);
	assert_string_equal(sq.filter.symbols[0], "AAPL");
	assert_string_equal(sq.filter.symbols[2], "NVDA");
	assert_true(sq.filter.confidence_min == 0.7);
	assert_true(sq.filter.rs_min == 1.2);
	assert_true(sq.filter.vol_min == 1.5);
	assert_true(sq.filter.rsi_min == 30 && sq.filter.rsi_max == 70);
	assert_int_equal(sq.filter.tier_mask, TP_TIER_BIT(TP_TIER_INTRADAY));
	assert_int_equal(sq.filter.n_sectors, 2);
	assert_int_equal(sq.filter.given,
			 TP_FP_PATTERN_TYPES | TP_FP_SYMBOLS | TP_FP_CONFIDENCE_MIN |
				 TP_FP_RS_MIN | TP_FP_VOL_MIN | TP_FP_RSI_RANGE |
				 TP_FP_TIMEFRAME | TP_FP_SECTORS);
	tp_scan_query_cleanup(&sq);

	/* '+' is a space and spaces around list entries are trimmed. */
	assert_int_equal(scan("symbols=aapl+,+msft", &sq, &err), TP_OK);
	assert_int_equal(sq.filter.n_symbols, 2);
	tp_scan_query_cleanup(&sq);

	/* A repeated scalar: the last one wins (each must be valid). */
	assert_int_equal(scan("confidence_min=0.9&confidence_min=0.6", &sq, &err),
			 TP_OK);
	assert_true(sq.filter.confidence_min == 0.6);
	tp_scan_query_cleanup(&sq);
}

static void test_scan_paging_sort(void **state)
{
	static const struct {
		const char *qs;
		unsigned page, per_page;
		enum tp_sort_key sort;
		bool asc;
		long long preset;
	} t[] = {
		{ "page=2", 2, 30, TP_SORT_CONFIDENCE, false, 0 },
		{ "page=01", 1, 30, TP_SORT_CONFIDENCE, false, 0 },
		{ "page=1000000000", 1000000000, 30, TP_SORT_CONFIDENCE, false, 0 },
		{ "per_page=50", 1, 50, TP_SORT_CONFIDENCE, false, 0 },
		{ "per_page=1", 1, 1, TP_SORT_CONFIDENCE, false, 0 },
		{ "per_page=100", 1, 100, TP_SORT_CONFIDENCE, false, 0 },
		{ "per_page=101", 1, 100, TP_SORT_CONFIDENCE, false, 0 },
		{ "per_page=100000000000000000000000", 1, 100, TP_SORT_CONFIDENCE, false, 0 },
		{ "per_page=0", 1, 1, TP_SORT_CONFIDENCE, false, 0 },
		{ "per_page=-5", 1, 1, TP_SORT_CONFIDENCE, false, 0 },
		{ "per_page=-99999999999999999999999", 1, 1, TP_SORT_CONFIDENCE, false, 0 },
		{ "sort_by=detected_at", 1, 30, TP_SORT_DETECTED_AT, false, 0 },
		{ "sort_by=symbol&sort_order=asc", 1, 30, TP_SORT_SYMBOL, true, 0 },
		{ "sort_by=rs&sort_order=desc", 1, 30, TP_SORT_RS, false, 0 },
		{ "sort_by=volume", 1, 30, TP_SORT_VOLUME, false, 0 },
		{ "sort_by=Confidence&sort_order=ASC", 1, 30, TP_SORT_CONFIDENCE, true, 0 },
		{ "preset_id=42", 1, 30, TP_SORT_CONFIDENCE, false, 42 },
		{ "preset_id=9223372036854775807", 1, 30, TP_SORT_CONFIDENCE, false,
		  9223372036854775807LL },
		{ "page=3&per_page=10&sort_by=rs&sort_order=asc&preset_id=7", 3, 10,
		  TP_SORT_RS, true, 7 },
	};

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(t); i++) {
		struct tp_scan_query sq;
		struct tp_errdetail err = { { 0 }, NULL };

		if (scan(t[i].qs, &sq, &err) != TP_OK)
			fail_msg("%s: %s", t[i].qs, err.msg);
		if (sq.page != t[i].page || sq.per_page != t[i].per_page ||
		    sq.sort_by != t[i].sort || sq.ascending != t[i].asc ||
		    sq.preset_id != t[i].preset)
			fail_msg("%s: page %u per_page %u sort %d asc %d preset %lld",
				 t[i].qs, sq.page, sq.per_page, sq.sort_by,
				 sq.ascending, sq.preset_id);
		tp_scan_query_cleanup(&sq);
	}
}

static void test_scan_invalid(void **state)
{
	static const struct {
		const char *qs, *field;
	} t[] = {
		/* The examples of rest.md. */
		{ "rs_min=abc", "rs_min" },
		{ "confidence_min=1.5", "confidence_min" },
		{ "rsi_range=x", "rsi_range" },
		{ "page=1.5", "page" },
		{ "sort_by=price", "sort_by" },
		/* More of each. */
		{ "page=0", "page" },
		{ "page=-1", "page" },
		{ "page=abc", "page" },
		{ "page=", "page" },
		{ "page", "page" },
		{ "page=+1", "page" },
		{ "page=1e2", "page" },
		{ "page=%201", "page" },
		{ "page=1000000001", "page" },
		{ "page=99999999999999999999999", "page" },
		{ "per_page=1.5", "per_page" },
		{ "per_page=abc", "per_page" },
		{ "per_page=", "per_page" },
		{ "per_page=-", "per_page" },
		{ "per_page=--1", "per_page" },
		{ "preset_id=0", "preset_id" },
		{ "preset_id=-3", "preset_id" },
		{ "preset_id=abc", "preset_id" },
		{ "preset_id=1.0", "preset_id" },
		{ "preset_id=", "preset_id" },
		{ "preset_id=9223372036854775808", "preset_id" },
		{ "sort_by=", "sort_by" },
		{ "sort_by=confidence,rs", "sort_by" },
		{ "sort_order=up", "sort_order" },
		{ "sort_order=", "sort_order" },
		{ "vol_min=-1", "vol_min" },
		{ "timeframe=weekly", "timeframe" },
		{ "symbols=AAPL,B%24D", "symbols" },
		{ "sectors=a%09b", "sectors" },
		/* A good parameter before the bad one does not hide it. */
		{ "page=2&symbols=AAPL&rs_min=-2", "rs_min" },
	};

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(t); i++) {
		struct tp_scan_query sq;
		struct tp_errdetail err = { { 0 }, NULL };
		int rc = scan(t[i].qs, &sq, &err);

		if (rc != TP_ERR_INVAL)
			fail_msg("%s: rc %d, want TP_ERR_INVAL", t[i].qs, rc);
		if (!err.field || strcmp(err.field, t[i].field))
			fail_msg("%s: field %s, want %s", t[i].qs,
				 err.field ? err.field : "(null)", t[i].field);
		if (strncmp(err.msg, t[i].field, strlen(t[i].field)))
			fail_msg("%s: message \"%s\" does not name %s", t[i].qs,
				 err.msg, t[i].field);
		/* Left empty (defaults, nothing owned). */
		assert_null(sq.filter.symbols);
		assert_int_equal(sq.page, 1);
		tp_scan_query_cleanup(&sq);
	}
}

static void test_scan_canonical(void **state)
{
	struct tp_scan_query a, b;
	struct tp_errdetail err = { { 0 }, NULL };
	char *ca, *cb;

	(void)state;
	assert_int_equal(scan("symbols=msft,aapl&sort_by=rs&page=2&per_page=500"
			      "&pattern_types=WeeklyBO&_=1", &a, &err), TP_OK);
	assert_int_equal(scan("per_page=100&pattern_types=weekly_breakout"
			      "&sort_order=desc&page=02&symbols=AAPL&symbols=MSFT"
			      "&sort_by=RS&cachebuster=9", &b, &err), TP_OK);
	ca = scan_canon(&a);
	cb = scan_canon(&b);
	assert_string_equal(ca, cb);
	tp_free(cb);
	tp_scan_query_cleanup(&b);

	/* Paging, sort, order and preset each change the key. */
	{
		static const char *const other[] = {
			"symbols=msft,aapl&sort_by=rs&page=3&per_page=500&pattern_types=WeeklyBO",
			"symbols=msft,aapl&sort_by=rs&page=2&per_page=99&pattern_types=WeeklyBO",
			"symbols=msft,aapl&sort_by=volume&page=2&per_page=500&pattern_types=WeeklyBO",
			"symbols=msft,aapl&sort_by=rs&sort_order=asc&page=2&per_page=500&pattern_types=WeeklyBO",
			"symbols=msft,aapl&sort_by=rs&page=2&per_page=500&pattern_types=WeeklyBO&preset_id=1",
			"symbols=msft&sort_by=rs&page=2&per_page=500&pattern_types=WeeklyBO",
		};
		for (size_t i = 0; i < TP_ARRAY_SIZE(other); i++) {
			assert_int_equal(scan(other[i], &b, &err), TP_OK);
			cb = scan_canon(&b);
			if (!strcmp(ca, cb))
				fail_msg("%s has the same key", other[i]);
			tp_free(cb);
			tp_scan_query_cleanup(&b);
		}
	}
	tp_free(ca);
	tp_scan_query_cleanup(&a);
}

static void test_sort_key_name(void **state)
{
	(void)state;
	assert_string_equal(tp_sort_key_name(TP_SORT_CONFIDENCE), "confidence");
	assert_string_equal(tp_sort_key_name(TP_SORT_DETECTED_AT), "detected_at");
	assert_string_equal(tp_sort_key_name(TP_SORT_SYMBOL), "symbol");
	assert_string_equal(tp_sort_key_name(TP_SORT_RS), "rs");
	assert_string_equal(tp_sort_key_name(TP_SORT_VOLUME), "volume");
	assert_string_equal(tp_sort_key_name((enum tp_sort_key)99), "unknown");
	/* Every name parses back to its key. */
	for (int k = TP_SORT_CONFIDENCE; k <= TP_SORT_VOLUME; k++) {
		char qs[64];
		struct tp_scan_query sq;

		snprintf(qs, sizeof(qs), "sort_by=%s",
			 tp_sort_key_name((enum tp_sort_key)k));
		assert_int_equal(scan(qs, &sq, NULL), TP_OK);
		assert_int_equal(sq.sort_by, k);
		tp_scan_query_cleanup(&sq);
	}
}

static void test_scan_oom(void **state)
{
	static const char qs[] =
		"symbols=nvda,aapl&symbols=msft&pattern_types=WeeklyBO,Doji"
		"&sectors=Energy&page=2&sort_by=rs";
	struct tp_query q;
	size_t failures = 0;

	(void)state;
	assert_int_equal(parse(qs, &q, NULL), TP_OK);
	for (size_t i = 1;; i++) {
		struct tp_scan_query sq;
		int rc;

		tp_alloc_fail_at(i);
		rc = tp_scan_query_from_params(&q, &sq, NULL);
		tp_alloc_fail_at(0);
		if (rc == TP_OK) {
			assert_int_equal(sq.filter.n_symbols, 3);
			assert_int_equal(sq.filter.n_pattern_types, 2);
			assert_int_equal(sq.page, 2);
			tp_scan_query_cleanup(&sq);
			break;
		}
		assert_int_equal(rc, TP_ERR_NOMEM);
		assert_null(sq.filter.symbols);
		failures++;
	}
	assert_true(failures > 0);
	tp_query_cleanup(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_query_split),
		TP_TEST(test_query_decode),
		TP_TEST(test_query_malformed),
		TP_TEST(test_query_limits),
		TP_TEST(test_query_oom),
		TP_TEST(test_scan_defaults),
		TP_TEST(test_scan_filter_params),
		TP_TEST(test_scan_paging_sort),
		TP_TEST(test_scan_invalid),
		TP_TEST(test_scan_canonical),
		TP_TEST(test_sort_key_name),
		TP_TEST(test_scan_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
