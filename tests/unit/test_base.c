/*
 * test_base.c - the base floor (server/base/) on its own: JSON escaping of
 * every control character and of UTF-8, number formatting that reads back
 * to the same double, the JSON writer's members, the buffer's sticky
 * out-of-memory state under injected allocation failures, dict growth and
 * deletion (also failing at every allocation), the token bucket and the
 * log rate limit built on it, the LRU list, civil dates against timegm,
 * the locale-free ASCII compares and UTF-8 validation, cutting and
 * counting.
 */
#include <float.h>
#include <limits.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/ascii.h"
#include "tickpush/buf.h"
#include "tickpush/date.h"
#include "tickpush/dict.h"
#include "tickpush/err.h"
#include "tickpush/log.h"
#include "tickpush/lru.h"
#include "tickpush/lrumap.h"
#include "tickpush/tbucket.h"
#include "tickpush/utf8.h"

/* ---- JSON strings ---------------------------------------------------- */

static const char *json_of(struct tp_buf *b, const char *s, size_t n)
{
	tp_buf_reset(b);
	tp_buf_json_strn(b, s, n);
	return tp_buf_cstr(b);
}

static void test_json_escapes_every_control_char(void **state)
{
	struct tp_buf b;
	char in[1], want[16];

	(void)state;
	tp_buf_init(&b, 0);
	for (int c = 0; c < 0x20; c++) {
		in[0] = (char)c;
		switch (c) {
		case '\n': strcpy(want, "\"\\n\""); break;
		case '\r': strcpy(want, "\"\\r\""); break;
		case '\t': strcpy(want, "\"\\t\""); break;
		default: snprintf(want, sizeof(want), "\"\\u%04x\"", c);
		}
		assert_string_equal(json_of(&b, in, 1), want);
	}
	assert_string_equal(json_of(&b, "\"", 1), "\"\\\"\"");
	assert_string_equal(json_of(&b, "\\", 1), "\"\\\\\"");
	/* DEL and '/' need no escape in JSON and get none. */
	assert_string_equal(json_of(&b, "\x7f/", 2), "\"\x7f/\"");
	/* A NUL inside the counted form is escaped, not an end. */
	assert_string_equal(json_of(&b, "a\0b", 3), "\"a\\u0000b\"");
	/* Mixed runs: plain bytes around escapes come out in order. */
	assert_string_equal(json_of(&b, "x\"y\\z\n", 6), "\"x\\\"y\\\\z\\n\"");
	tp_buf_reset(&b);
	tp_buf_json_str(&b, "");
	assert_string_equal(tp_buf_cstr(&b), "\"\"");
	assert_false(b.oom);
	tp_buf_cleanup(&b);
}

static void test_json_keeps_utf8(void **state)
{
	/* 2-, 3- and 4-byte sequences, U+2028/2029 (valid in JSON) and C1
	 * characters pass through as bytes: only ASCII controls are escaped. */
	static const char *const texts[] = {
		"caf\xc3\xa9", "\xe2\x82\xac 5", "\xf0\x9f\x93\x88 up",
		"\xe2\x80\xa8\xe2\x80\xa9", "\xc2\x80\xc2\x9f", "\xef\xbb\xbf",
	};
	struct tp_buf b;
	char want[64];

	(void)state;
	tp_buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		snprintf(want, sizeof(want), "\"%s\"", texts[i]);
		assert_string_equal(json_of(&b, texts[i], strlen(texts[i])), want);
	}
	tp_buf_cleanup(&b);
}

/* ---- JSON numbers ---------------------------------------------------- */

static double num_roundtrip(struct tp_buf *b, double v)
{
	char *end;
	double r;

	tp_buf_reset(b);
	tp_buf_json_num(b, v);
	r = strtod(tp_buf_cstr(b), &end);
	assert_int_equal(*end, '\0');
	return r;
}

static void test_json_numbers_round_trip(void **state)
{
	static const double fixed[] = {
		0.0, 1.0, -1.0, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 150.25, 1e15 - 1,
		1e15, 1e15 + 0.5, 1e16, 123456789012345678.0, 1e300, 1e-300,
		DBL_MAX, -DBL_MAX, DBL_MIN, 4.9406564584124654e-324, DBL_EPSILON,
		0.85, 0.71, 1725456789.123, -2.5, 9007199254740993.0,
	};
	struct tp_buf b;
	unsigned long long x = 0x9e3779b97f4a7c15ull;

	(void)state;
	tp_buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		assert_true(num_roundtrip(&b, fixed[i]) == fixed[i]);
	/* Random bit patterns: every finite double reads back exactly. */
	for (int i = 0; i < 20000; i++) {
		double v;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(&v, &x, sizeof(v));
		if (!isfinite(v))
			continue;
		assert_true(num_roundtrip(&b, v) == v);
	}
	/* Whole numbers below 1e15 print without a fraction or exponent. */
	tp_buf_reset(&b);
	tp_buf_json_num(&b, 1725456789.0);
	assert_string_equal(tp_buf_cstr(&b), "1725456789");
	tp_buf_reset(&b);
	tp_buf_json_num(&b, 0.1);
	assert_string_equal(tp_buf_cstr(&b), "0.1");
	/* JSON has no NaN or infinity. */
	tp_buf_reset(&b);
	tp_buf_json_num(&b, NAN);
	tp_buf_putc(&b, ',');
	tp_buf_json_num(&b, INFINITY);
	tp_buf_putc(&b, ',');
	tp_buf_json_num(&b, -INFINITY);
	assert_string_equal(tp_buf_cstr(&b), "null,null,null");
	tp_buf_cleanup(&b);
}

/* What tp_buf_json_num wrote before its shortcuts (snprintf only). */
static void num_reference(double v, char *out, size_t n)
{
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(out, n, "%.0f", v);
		return;
	}
	snprintf(out, n, "%.15g", v);
	if (strtod(out, NULL) != v)
		snprintf(out, n, "%.17g", v);
}

/* The hand-made digits (integers, short decimals, fixed decimals) are
 * snprintf's bytes. */
static void test_json_numbers_as_printf(void **state)
{
	static const double fixed[] = {
		0.0, -0.0, 1.0, -1.0, 0.6, 0.1, 0.001, 0.0015, 0.000999, 150.25,
		-2.5, 999999999.999999, 1e9 - 0.5, 1e9, 1e15 - 1, 1e15, 0.123456,
		0.1234567, 1.0 / 3, 0.85, 12.3, 99.99, 1725456789.123,
		1733212345.5, -1725456789.123, 1733212345.123456, 123456789012.345,
		99999999999999.9, 999999999999999.0, 1764912345678901.0,
		1764912345678900.0, 9007199254740991.0, 9007199254740992.0,
		-1764912345678901.0, 0.999999, 1e14 + 0.5,
	};
	struct tp_buf b;
	char want[64];
	unsigned long long x = 0x2545f4914f6cdd1dull;
	static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7};

	(void)state;
	tp_buf_init(&b, 0);
	for (int i = 0; i < 60000; i++) {
		double v;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (i < (int)(sizeof(fixed) / sizeof(fixed[0])))
			v = fixed[i];
		else if (i % 5 == 0) /* Unix times: s with a fraction, or us */
			v = i % 2 ? 1.7e9 + (double)(x % 100000000ull) +
					    (double)((x >> 30) % 1000000) / pow10[(x >> 50) % 7]
				  : 1.7e15 + (double)(x % 100000000000000ull);
		else if (i % 3 == 0) /* m / 10^k, up to 7 places, either sign */
			v = (double)(long long)(x % 2000000000000ull - 1000000000000ull) /
			    pow10[(x >> 45) % 8];
		else if (i % 3 == 1) /* short decimals of all magnitudes */
			v = (double)(x % 100000) / pow10[(x >> 40) % 8] *
			    pow10[(x >> 50) % 8] / pow10[(x >> 55) % 8];
		else
			memcpy(&v, &x, sizeof(v));
		if (!isfinite(v))
			continue;
		tp_buf_reset(&b);
		tp_buf_json_num(&b, v);
		num_reference(v, want, sizeof(want));
		if (strcmp(tp_buf_cstr(&b), want))
			fail_msg("%.17g: %s, printf %s", v, tp_buf_cstr(&b), want);
	}
	/* Fixed decimals: near ties, halves, negatives, -0, big values. */
	for (int i = 0; i < 60000; i++) {
		static const double fixed3[] = {0.0005, 0.0015, 0.0025, 1.0005,
			-0.0001, -0.0, 2.675, 1e11, 1e12, 999999.9995, 0.1 + 0.2};
		int d = i % 7;
		double v;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (i < (int)(sizeof(fixed3) / sizeof(fixed3[0])))
			v = fixed3[i], d = 3;
		else if (i % 2)
			v = (double)(long long)(x % 20000000ull - 10000000ull) / 2000.0;
		else
			v = (double)(x % 1000000000ull) / 1e3 * ((x >> 40) % 2 ? -1 : 1) /
			    pow10[(x >> 50) % 8];
		tp_buf_reset(&b);
		tp_buf_json_fixed(&b, v, d);
		snprintf(want, sizeof(want), "%.*f", d, v);
		if (strcmp(tp_buf_cstr(&b), want))
			fail_msg("%.17g %d: %s, printf %s", v, d, tp_buf_cstr(&b), want);
	}
	tp_buf_reset(&b);
	tp_buf_json_uint(&b, 0);
	tp_buf_putc(&b, ',');
	tp_buf_json_uint(&b, 18446744073709551615ull);
	tp_buf_putc(&b, ',');
	tp_buf_json_int(&b, -9223372036854775807ll - 1);
	tp_buf_putc(&b, ',');
	tp_buf_json_int(&b, -7);
	assert_string_equal(tp_buf_cstr(&b),
			    "0,18446744073709551615,-9223372036854775808,-7");
	tp_buf_cleanup(&b);
}

static void test_json_writer_members(void **state)
{
	struct tp_buf b;

	(void)state;
	tp_buf_init(&b, 0);
	tp_buf_putc(&b, '{');
	tp_buf_json_key(&b, "id", true);
	tp_buf_json_str(&b, "A:B");
	tp_buf_json_kv_str(&b, "we\"ird", "line\nbreak");
	tp_buf_json_kv_num(&b, "n", 0.5);
	tp_buf_json_kv_num(&b, "bad", NAN);
	tp_buf_putc(&b, '}');
	assert_string_equal(tp_buf_cstr(&b),
		"{\"id\":\"A:B\",\"we\\\"ird\":\"line\\nbreak\",\"n\":0.5,\"bad\":null}");
	tp_buf_cleanup(&b);

	/* An object opened at its first member, nested in another's member:
	 * no comma after either '{', the key escaped like any other. */
	tp_buf_init(&b, 0);
	tp_buf_json_open(&b, "a\"b");
	tp_buf_json_uint(&b, 1);
	tp_buf_json_key(&b, "in", false);
	tp_buf_json_open(&b, "x");
	tp_buf_json_bool(&b, true);
	tp_buf_putc(&b, '}');
	tp_buf_putc(&b, '}');
	assert_string_equal(tp_buf_cstr(&b), "{\"a\\\"b\":1,\"in\":{\"x\":true}}");
	tp_buf_cleanup(&b);
}

static void test_json_writer_values(void **state)
{
	struct tp_buf b;

	(void)state;
	tp_buf_init(&b, 0);
	tp_buf_putc(&b, '{');
	tp_buf_json_key(&b, "t", true);
	tp_buf_json_bool(&b, true);
	tp_buf_json_kv_bool(&b, "f", false);
	tp_buf_json_kv_int(&b, "min", LLONG_MIN);
	tp_buf_json_kv_int(&b, "big", 9007199254740993LL);
	tp_buf_json_kv_uint(&b, "max", ULLONG_MAX);
	tp_buf_json_kv_fixed(&b, "ms", 1.5, 3);
	tp_buf_json_kv_fixed(&b, "neg", -0.0004, 3);
	tp_buf_json_kv_fixed(&b, "nan", NAN, 3);
	tp_buf_json_kv_str_or_null(&b, "s", "x\"y");
	tp_buf_json_kv_str_or_null(&b, "empty", "");
	tp_buf_json_kv_str_or_null(&b, "none", NULL);
	tp_buf_json_kv_time(&b, "at", 1700000000.25);
	tp_buf_json_kv_time(&b, "zero", 0);
	tp_buf_json_kv_time(&b, "nat", NAN);
	tp_buf_json_kv_raw(&b, "raw", "{\"a\":[1]}");
	assert_true(tp_buf_json_kv_splice(&b, "{\"x\":1,\"y\":{}}"));
	assert_false(tp_buf_json_kv_splice(&b, "{}"));
	assert_false(tp_buf_json_kv_splice(&b, "[1]"));
	assert_false(tp_buf_json_kv_splice(&b, NULL));
	tp_buf_putc(&b, '}');
	assert_string_equal(tp_buf_cstr(&b),
		"{\"t\":true,\"f\":false,\"min\":-9223372036854775808,"
		"\"big\":9007199254740993,\"max\":18446744073709551615,"
		"\"ms\":1.500,\"neg\":-0.000,\"nan\":null,\"s\":\"x\\\"y\","
		"\"empty\":null,\"none\":null,\"at\":1700000000.25,\"zero\":null,"
		"\"nat\":null,\"raw\":{\"a\":[1]},\"x\":1,\"y\":{}}");
	tp_buf_cleanup(&b);
}

/* ---- buffer out of memory -------------------------------------------- */

static void test_buf_oom_is_sticky(void **state)
{
	struct tp_buf b;

	(void)state;
	tp_buf_init(&b, 16);
	tp_alloc_fail_at(1);
	tp_buf_puts(&b, "lost");
	assert_true(b.oom);
	assert_int_equal(b.len, 0);
	/* Later appends are no-ops even though memory is back. */
	tp_buf_puts(&b, "also lost");
	tp_buf_printf(&b, "%d", 42);
	tp_buf_json_str(&b, "x");
	tp_buf_json_num(&b, 1);
	assert_true(b.oom);
	assert_int_equal(b.len, 0);
	assert_string_equal(tp_buf_cstr(&b), "");
	/* reset clears the state; headroom is kept in front of the data. */
	tp_buf_reset(&b);
	tp_buf_puts(&b, "ok");
	assert_false(b.oom);
	assert_string_equal(tp_buf_cstr(&b), "ok");
	assert_ptr_equal(tp_buf_data(&b), b.base + 16);
	/* Growth failing half way keeps what was there. */
	tp_alloc_fail_at(1);
	for (int i = 0; i < 100; i++)
		tp_buf_puts(&b, "0123456789");
	assert_true(b.oom);
	assert_true(b.len >= 2 && b.len < 1000);
	assert_memory_equal(tp_buf_data(&b), "ok", 2);
	tp_alloc_fail_at(0);
	/* An impossible reservation is an OOM too, not an overflow. */
	tp_buf_reset(&b);
	assert_false(tp_buf_reserve(&b, (size_t)-1 / 2));
	assert_true(b.oom);
	tp_buf_cleanup(&b);
}

/* ---- dict ------------------------------------------------------------ */

static bool delete_odd(const char *key, void *value, void *ud)
{
	(void)key;
	(*(size_t *)ud)++;
	return (size_t)(uintptr_t)value % 2 == 1;
}

static void test_dict_growth_and_deletion(void **state)
{
	enum { N = 20000 };
	struct tp_dict *d = tp_dict_create();
	char key[32];
	void *old;
	size_t visited = 0;

	(void)state;
	assert_non_null(d);
	for (size_t i = 1; i <= N; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		assert_int_equal(tp_dict_set(d, key, (void *)(uintptr_t)i, &old), TP_OK);
		assert_null(old);
	}
	assert_int_equal(tp_dict_size(d), N);
	for (size_t i = 1; i <= N; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		assert_int_equal((uintptr_t)tp_dict_get(d, key), i);
	}
	/* Replacing returns the old value and does not grow the map. */
	assert_int_equal(tp_dict_set(d, "k7", (void *)(uintptr_t)70, &old), TP_OK);
	assert_int_equal((uintptr_t)old, 7);
	assert_int_equal(tp_dict_size(d), N);
	assert_int_equal(tp_dict_set(d, "k7", (void *)(uintptr_t)7, NULL), TP_OK);
	/* Deleting from the callback while iterating. */
	tp_dict_foreach(d, delete_odd, &visited);
	assert_int_equal(visited, N);
	assert_int_equal(tp_dict_size(d), N / 2);
	for (size_t i = 1; i <= N; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		if (i % 2)
			assert_null(tp_dict_get(d, key));
		else
			assert_int_equal((uintptr_t)tp_dict_del(d, key), i);
	}
	assert_int_equal(tp_dict_size(d), 0);
	assert_null(tp_dict_del(d, "k2"));
	assert_null(tp_dict_get(d, ""));
	tp_dict_destroy(d);
}

static void test_dict_oom_changes_nothing(void **state)
{
	char key[32];

	(void)state;
	/* Fail each allocation of a run of inserts in turn (growth included):
	 * a failed set leaves the dict exactly as it was. */
	for (size_t fail = 1;; fail++) {
		struct tp_dict *d = tp_dict_create();
		size_t ok = 0;
		bool failed = false;

		assert_non_null(d);
		tp_alloc_fail_at(fail);
		for (size_t i = 0; i < 40; i++) {
			snprintf(key, sizeof(key), "key-%zu", i);
			if (tp_dict_set(d, key, key, NULL) != TP_OK) {
				failed = true;
				assert_null(tp_dict_get(d, key));
				continue;
			}
			ok++;
		}
		tp_alloc_fail_at(0);
		assert_int_equal(tp_dict_size(d), ok);
		tp_dict_destroy(d);
		if (!failed)
			break;
		assert_true(fail < 200);
	}
}

/* ---- token bucket ---------------------------------------------------- */

static void test_tbucket(void **state)
{
	struct tp_tbucket b = {0};
	int taken = 0;

	(void)state;
	/* A zeroed bucket is full: burst 3 allows three at once. */
	for (int i = 0; i < 5; i++)
		taken += tp_tbucket_take(&b, 2, 3, 100.0);
	assert_int_equal(taken, 3);
	assert_true(fabs(tp_tbucket_wait(&b, 2, 3, 100.0) - 0.5) < 1e-9);
	/* Rate 2/s: one token after half a second, not before. */
	assert_false(tp_tbucket_take(&b, 2, 3, 100.4));
	assert_true(tp_tbucket_take(&b, 2, 3, 100.5));
	assert_false(tp_tbucket_take(&b, 2, 3, 100.5));
	/* Never more than burst, however long it rested. */
	taken = 0;
	for (int i = 0; i < 5; i++)
		taken += tp_tbucket_take(&b, 2, 3, 1e6);
	assert_int_equal(taken, 3);
	/* A clock going back (or NaN) refills nothing. */
	assert_false(tp_tbucket_take(&b, 2, 3, 10.0));
	assert_false(tp_tbucket_take(&b, 2, 3, NAN));
	/* A refund gives one back, never above burst. */
	tp_tbucket_refund(&b);
	assert_true(tp_tbucket_take(&b, 2, 3, 1e6));
	for (int i = 0; i < 10; i++)
		tp_tbucket_refund(&b);
	assert_true(b.used == 0);
	assert_true(tp_tbucket_wait(&b, 2, 3, 1e6) == 0);
	/* Once per interval (the log limiter): many small steps add up to a
	 * whole token despite rounding. */
	memset(&b, 0, sizeof(b));
	assert_true(tp_tbucket_take(&b, 1 / 0.3, 1, 5000.0));
	for (int i = 1; i < 10; i++)
		assert_false(tp_tbucket_take(&b, 1 / 0.3, 1, 5000.0 + i * 0.03));
	assert_true(tp_tbucket_take(&b, 1 / 0.3, 1, 5000.3));
	/* A burst below one never allows anything. */
	memset(&b, 0, sizeof(b));
	assert_false(tp_tbucket_take(&b, 1, 0.5, 1.0));
}

static void test_log_ratelimit(void **state)
{
	struct tp_log_ratelimit rl = {0};
	unsigned long suppressed = 99;

	(void)state;
	/* A zeroed limiter allows the first line, whatever the clock says. */
	assert_true(tp_log_ratelimit_allow(&rl, 0.5, 1.0, &suppressed));
	assert_int_equal(suppressed, 0);
	for (int i = 1; i <= 9; i++)
		assert_false(tp_log_ratelimit_allow(&rl, 0.5 + i * 0.1, 1.0, &suppressed));
	/* One interval after the last allowed line: allowed, and told how
	 * many were skipped meanwhile. */
	assert_true(tp_log_ratelimit_allow(&rl, 1.5, 1.0, &suppressed));
	assert_int_equal(suppressed, 9);
	assert_true(tp_log_ratelimit_allow(&rl, 3.0, 1.0, NULL));
	assert_false(tp_log_ratelimit_allow(&rl, 3.2, 1.0, NULL));
	assert_true(tp_log_ratelimit_allow(&rl, 4.0, 1.0, &suppressed));
	assert_int_equal(suppressed, 1);
}

/* ---- bounded LRU map -------------------------------------------------- */

struct lm_value {
	double d;
	int n;
};

static void test_lrumap(void **state)
{
	struct tp_lrumap m;
	struct lm_value *a, *b, *c;

	(void)state;
	assert_int_equal(tp_lrumap_init(&m, 0, sizeof(*a)), TP_ERR_INVAL);
	tp_lrumap_cleanup(&m);
	assert_int_equal(tp_lrumap_init(&m, 3, sizeof(*a)), TP_OK);
	assert_null(tp_lrumap_touch(&m, "a"));
	a = tp_lrumap_add(&m, "a");
	b = tp_lrumap_add(&m, "b");
	c = tp_lrumap_add(&m, "c");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	/* Zeroed, aligned for any type, distinct. */
	assert_true(a->d == 0 && a->n == 0);
	assert_int_equal((uintptr_t)b % alignof(max_align_t), 0);
	a->n = 1;
	b->n = 2;
	c->n = 3;
	assert_ptr_equal(tp_lrumap_touch(&m, "a"), a); /* order: a c b */
	assert_ptr_equal(tp_lrumap_peek(&m, "b"), b);  /* peeking keeps b last */
	assert_non_null(tp_lrumap_add(&m, "d"));       /* full: b goes */
	assert_int_equal(tp_lrumap_size(&m), 3);
	assert_null(tp_lrumap_peek(&m, "b"));
	assert_int_equal(((struct lm_value *)tp_lrumap_peek(&m, "a"))->n, 1);
	tp_lrumap_del(&m, c);
	assert_null(tp_lrumap_peek(&m, "c"));
	assert_int_equal(tp_lrumap_size(&m), 2);
	/* A key too long for any fixed buffer is copied whole. */
	{
		char long_key[300];

		memset(long_key, 'k', sizeof(long_key) - 1);
		long_key[sizeof(long_key) - 1] = '\0';
		assert_non_null(tp_lrumap_add(&m, long_key));
		assert_non_null(tp_lrumap_touch(&m, long_key));
	}
	tp_lrumap_cleanup(&m); /* frees the rest: the leak check sees it */
}

static void test_lrumap_oom(void **state)
{
	struct tp_lrumap m;

	(void)state;
	assert_int_equal(tp_lrumap_init(&m, 8, sizeof(int)), TP_OK);
	assert_non_null(tp_lrumap_add(&m, "kept"));
	/* The entry, then the dict's key copy or growth: nothing is added. */
	for (size_t fail = 1; fail <= 2; fail++) {
		tp_alloc_fail_at(fail);
		assert_null(tp_lrumap_add(&m, "new"));
		tp_alloc_fail_at(0);
		assert_null(tp_lrumap_peek(&m, "new"));
		assert_int_equal(tp_lrumap_size(&m), 1);
	}
	assert_non_null(tp_lrumap_add(&m, "new"));
	tp_lrumap_cleanup(&m);
}

/* ---- LRU list -------------------------------------------------------- */

struct item {
	int v;
	struct tp_lru_node link;
};

static void expect_order(const struct tp_lru *l, const char *want)
{
	char got[16];
	size_t n = 0;

	for (const struct tp_lru_node *p = l->head; p; p = p->next) {
		assert_true(n + 1 < sizeof(got));
		got[n++] = (char)('0' + tp_lru_entry(p, struct item, link)->v);
	}
	got[n] = '\0';
	assert_string_equal(got, want);
	/* Walking back from the tail gives the same list reversed. */
	for (const struct tp_lru_node *p = l->tail; p; p = p->prev)
		assert_int_equal(got[--n], '0' + tp_lru_entry(p, struct item, link)->v);
	assert_int_equal(n, 0);
}

static void test_lru(void **state)
{
	struct item it[4] = {{.v = 0}, {.v = 1}, {.v = 2}, {.v = 3}};
	struct tp_lru l = {0};

	(void)state;
	expect_order(&l, "");
	for (int i = 0; i < 4; i++)
		tp_lru_push(&l, &it[i].link);
	expect_order(&l, "3210");
	tp_lru_touch(&l, &it[0].link);   /* tail to head */
	expect_order(&l, "0321");
	tp_lru_touch(&l, &it[2].link);   /* middle to head */
	expect_order(&l, "2031");
	tp_lru_touch(&l, &it[2].link);   /* head stays */
	expect_order(&l, "2031");
	tp_lru_unlink(&l, l.tail);       /* evict the least recent */
	expect_order(&l, "203");
	assert_null(it[1].link.prev);
	assert_null(it[1].link.next);
	tp_lru_unlink(&l, &it[2].link);  /* the head */
	tp_lru_unlink(&l, &it[0].link);
	expect_order(&l, "3");
	tp_lru_unlink(&l, &it[3].link);
	expect_order(&l, "");
	assert_null(l.head);
	assert_null(l.tail);
}

/* ---- dates ----------------------------------------------------------- */

static void test_dates(void **state)
{
	(void)state;
	assert_int_equal(tp_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(tp_days_from_civil(1969, 12, 31), -1);
	assert_int_equal(tp_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(tp_days_from_civil(2024, 2, 29) + 1,
			 tp_days_from_civil(2024, 3, 1));
	assert_int_equal(tp_days_from_civil(0, 3, 1), -719468);
	/* Every day 1900..2200 agrees with timegm (UTC). */
	for (int y = 1900; y <= 2200; y++) {
		for (int m = 1; m <= 12; m++) {
			for (int d = 1; d <= tp_days_in_month(y, m); d++) {
				struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1,
						.tm_mday = d};

				assert_true(tp_days_from_civil(y, m, d) * 86400 ==
					    (long long)timegm(&tm));
			}
		}
	}
	assert_int_equal(tp_days_in_month(2024, 2), 29);
	assert_int_equal(tp_days_in_month(2023, 2), 28);
	assert_int_equal(tp_days_in_month(1900, 2), 28);
	assert_int_equal(tp_days_in_month(2000, 2), 29);
	assert_int_equal(tp_days_in_month(2023, 4), 30);
	assert_int_equal(tp_days_in_month(2023, 12), 31);
	assert_true(tp_date_valid(2024, 2, 29));
	assert_false(tp_date_valid(2023, 2, 29));
	assert_false(tp_date_valid(2023, 0, 1));
	assert_false(tp_date_valid(2023, 13, 1));
	assert_false(tp_date_valid(2023, 4, 31));
	assert_false(tp_date_valid(2023, 1, 0));
}

/* ---- ASCII ----------------------------------------------------------- */

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

static void test_ascii(void **state)
{
	char out[8];

	(void)state;
	assert_true(tp_ascii_ieq("Bearer", "bEARER"));
	assert_true(tp_ascii_ieq("", ""));
	assert_false(tp_ascii_ieq("keep-alive", "keep-aliv"));
	assert_false(tp_ascii_ieq("a", "ab"));
	/* Only A-Z fold: the Latin-1 / UTF-8 bytes of "É" and "é" differ, and
	 * '[' (after 'Z') is not '{' (after 'z'). */
	assert_false(tp_ascii_ieq("\xc3\x89", "\xc3\xa9"));
	assert_false(tp_ascii_ieq("[", "{"));
	assert_false(tp_ascii_ieq("@", "`"));
	/* Order: as the lower-cased bytes, unsigned, like strcasecmp in C. */
	assert_int_equal(sign(tp_ascii_casecmp("ASC", "desc")), -1);
	assert_int_equal(sign(tp_ascii_casecmp("b", "A")), 1);
	assert_int_equal(sign(tp_ascii_casecmp("abc", "ABCD")), -1);
	assert_int_equal(sign(tp_ascii_casecmp("_", "a")), -1); /* '_' < 'a' */
	assert_int_equal(sign(tp_ascii_casecmp("\xc3", "z")), 1);
	assert_int_equal(tp_ascii_ncasecmp("Bearer xyz", "bearer ", 7), 0);
	assert_int_equal(tp_ascii_ncasecmp("ab", "AB", 10), 0);
	assert_int_equal(tp_ascii_ncasecmp("abc", "abd", 2), 0);
	assert_int_equal(tp_ascii_ncasecmp("x", "y", 0), 0);
	assert_int_equal(tp_ascii_upper('q'), 'Q');
	assert_int_equal(tp_ascii_upper('\xe9'), '\xe9');
	assert_int_equal(tp_ascii_lower('Q'), 'q');
	assert_int_equal(tp_ascii_lower('5'), '5');
	assert_int_equal(tp_ascii_lower_into(out, sizeof(out), "Bull_FLAG"), 9);
	assert_string_equal(out, "bull_fl");
	assert_int_equal(tp_ascii_lower_into(out, sizeof(out), "Doji"), 4);
	assert_string_equal(out, "doji");
	assert_int_equal(tp_ascii_lower_into(out, 1, "x"), 1);
	assert_string_equal(out, "");
}

/* ---- UTF-8 ----------------------------------------------------------- */

static void test_utf8(void **state)
{
	static const struct {
		const char *s;
		bool valid;
	} cases[] = {
		{"plain ASCII", true},
		{"caf\xc3\xa9", true},
		{"\xe2\x82\xac", true},
		{"\xf0\x9f\x93\x88", true},
		{"\xf4\x8f\xbf\xbf", true},       /* U+10FFFF */
		{"\xed\x9f\xbf", true},           /* U+D7FF */
		{"\xee\x80\x80", true},           /* U+E000 */
		{"\xc0\xaf", false},              /* overlong '/' */
		{"\xc1\xbf", false},              /* overlong */
		{"\xe0\x80\xaf", false},          /* overlong */
		{"\xf0\x80\x80\xaf", false},      /* overlong */
		{"\xed\xa0\x80", false},          /* U+D800 surrogate */
		{"\xed\xbf\xbf", false},          /* U+DFFF surrogate */
		{"\xf4\x90\x80\x80", false},      /* above U+10FFFF */
		{"\xf5\x80\x80\x80", false},
		{"\xff", false},
		{"\x80", false},                  /* lone continuation */
		{"\xc3", false},                  /* truncated */
		{"\xe2\x82", false},
		{"\xc3\x28", false},              /* bad continuation */
		{"a\xf0\x9f\x93", false},
	};
	const char *euro3 = "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"; /* 3 x 3 bytes */

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(tp_utf8_valid(cases[i].s, strlen(cases[i].s)),
				 cases[i].valid);
	assert_true(tp_utf8_valid("a\0b", 3)); /* NUL is valid UTF-8 */
	assert_int_equal(tp_utf8_seq((const unsigned char *)"\xe2\x82\xac", 3), 3);
	assert_int_equal(tp_utf8_seq((const unsigned char *)"\xe2\x82\xac", 2), 0);
	/* Printable: no C0, DEL or C1. */
	assert_true(tp_utf8_printable("caf\xc3\xa9 \xe2\x82\xac", 9));
	assert_false(tp_utf8_printable("a\tb", 3));
	assert_false(tp_utf8_printable("a\x7f", 2));
	assert_false(tp_utf8_printable("\xc2\x85", 2)); /* NEL, a C1 control */
	assert_true(tp_utf8_printable("\xc2\xa0", 2));  /* NBSP is not */
	assert_false(tp_utf8_printable("\xc3", 1));
	/* Cut: never inside a sequence. */
	assert_int_equal(tp_utf8_cut(euro3, 9, 9), 9);
	assert_int_equal(tp_utf8_cut(euro3, 9, 8), 6);
	assert_int_equal(tp_utf8_cut(euro3, 9, 7), 6);
	assert_int_equal(tp_utf8_cut(euro3, 9, 6), 6);
	assert_int_equal(tp_utf8_cut(euro3, 9, 2), 0);
	assert_int_equal(tp_utf8_cut("abcdef", 6, 4), 4);
	assert_int_equal(tp_utf8_cut("ab", 2, 0), 0);
	assert_int_equal(tp_utf8_chars(euro3, 9), 3);
	assert_int_equal(tp_utf8_chars("caf\xc3\xa9", 5), 4);
	assert_int_equal(tp_utf8_chars("", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_json_escapes_every_control_char),
		TP_TEST(test_json_keeps_utf8),
		TP_TEST(test_json_numbers_round_trip),
		TP_TEST(test_json_numbers_as_printf),
		TP_TEST(test_json_writer_members),
		TP_TEST(test_json_writer_values),
		TP_TEST(test_buf_oom_is_sticky),
		TP_TEST(test_dict_growth_and_deletion),
		TP_TEST(test_dict_oom_changes_nothing),
		TP_TEST(test_tbucket),
		TP_TEST(test_log_ratelimit),
		TP_TEST(test_lru),
		TP_TEST(test_lrumap),
		TP_TEST(test_lrumap_oom),
		TP_TEST(test_dates),
		TP_TEST(test_ascii),
		TP_TEST(test_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
