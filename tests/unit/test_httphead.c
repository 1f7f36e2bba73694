/*
 * test_httphead.c - the raw head check: good heads pass (also split at
 * any byte: "more" until complete), and each kind lws 4.1.6 would answer
 * with HTML or drop gets its JSON status: bad percent-encoding, %00,
 * unknown methods, too many arguments, too many lines, a line without ':',
 * a URL too long; a head too long to judge is left to lws. The refusal
 * is one whole HTTP answer: its length right, JSON escaped, closing.
 */
#include <stdio.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/buf.h"
#include "tickpush/err.h"
#include "tickpush/httphead.h"

static const struct tp_head_limits lim = {4096, 1000, 90};

static enum tp_head_verdict check(const char *head, struct tp_head_error *err)
{
	return tp_http_head_check(head, strlen(head), &lim, err);
}

static void expect_bad(const char *head, int status, const char *field)
{
	struct tp_head_error err;

	if (check(head, &err) != TP_HEAD_BAD)
		fail_msg("accepted: %s", head);
	assert_int_equal(err.status, status);
	if (field)
		assert_string_equal(err.field, field);
	else
		assert_null(err.field);
	assert_non_null(err.error);
}

static void test_good_heads(void **state)
{
	static const char *const ok[] = {
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /api/patterns/scan?symbols=AAPL%2CMSFT&confidence_min=0.5 HTTP/1.1\r\n\r\n",
		("POST /api/auth/login HTTP/1.1\r\nContent-Type: application/json\r\n"
		 "Content-Length: 2\r\n\r\n{}"),
		"OPTIONS /api/patterns/scan HTTP/1.1\r\nOrigin: http://a\r\n\r\n",
		"DELETE /api/users/watchlists/3 HTTP/1.0\n\n",
		"GET /?a=%41%7e+b HTTP/1.1\r\n\r\n",
	};
	struct tp_head_error err;

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(ok); i++) {
		size_t len = strlen(ok[i]);

		if (check(ok[i], &err) != TP_HEAD_OK)
			fail_msg("refused (%d %s): %s", err.status, err.error, ok[i]);
		/* Any prefix short of the blank line is "more". */
		for (size_t n = 0; n + 1 < err.head_len; n++)
			assert_int_equal(tp_http_head_check(ok[i], n, &lim, &err), TP_HEAD_MORE);
		assert_int_equal(tp_http_head_check(ok[i], len, &lim, &err), TP_HEAD_OK);
	}
}

/* What is no HTTP at all is lws's, as before (a TLS ClientHello must not
 * be held waiting for a blank line that never comes). */
static void test_not_http(void **state)
{
	static const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
	struct tp_head_error err;

	(void)state;
	assert_int_equal(tp_http_head_check(hello, sizeof(hello) - 1, &lim, &err), TP_HEAD_OK);
	assert_int_equal(check("get / HTTP/1.1\r\n\r\n", &err), TP_HEAD_OK);
}

static void test_bad_heads(void **state)
{
	char big[6000], args[2000], lines[3000];
	int n;

	(void)state;
	expect_bad("GET /api/patterns/scan?symbols=%zz HTTP/1.1\r\n\r\n", 400, "url");
	expect_bad("GET /a%2 HTTP/1.1\r\n\r\n", 400, "url");
	expect_bad("GET /a% HTTP/1.1\r\n\r\n", 400, "url");
	expect_bad("GET /a%00b HTTP/1.1\r\n\r\n", 400, "url");
	expect_bad("GET /a\x01 HTTP/1.1\r\n\r\n", 400, "url");
	expect_bad("BREW /pot HTTP/1.1\r\n\r\n", 501, "method");
	expect_bad("GeT / HTTP/1.1\r\n\r\n", 501, "method");
	expect_bad("GET\r\n\r\n", 400, NULL);
	expect_bad("GET  HTTP/1.1\r\n\r\n", 400, NULL);
	expect_bad("GET / HTTP/1.1\r\nHost: x\r\nGET / HTTP/1.1\r\n\r\n", 400, "header");
	/* 65 arguments: too many for http.c (it says so), not for lws; 95
	 * are too many for lws. */
	n = snprintf(args, sizeof(args), "GET /api/patterns/scan?a=1");
	for (int i = 0; i < 64; i++)
		n += snprintf(args + n, sizeof(args) - (size_t)n, "&a%d=1", i);
	snprintf(args + n, sizeof(args) - (size_t)n, " HTTP/1.1\r\n\r\n");
	{
		struct tp_head_error err;

		assert_int_equal(check(args, &err), TP_HEAD_OK);
	}
	for (int i = 64; i < 94; i++)
		n += snprintf(args + n, sizeof(args) - (size_t)n, "&a%d=1", i);
	snprintf(args + n, sizeof(args) - (size_t)n, " HTTP/1.1\r\n\r\n");
	expect_bad(args, 400, "query");
	/* 40 arguments and 60 header lines: more than lws's 90 slots. */
	n = snprintf(lines, sizeof(lines), "GET /?a=1");
	for (int i = 0; i < 39; i++)
		n += snprintf(lines + n, sizeof(lines) - (size_t)n, ";b=%d", i);
	n += snprintf(lines + n, sizeof(lines) - (size_t)n, " HTTP/1.1\r\n");
	for (int i = 0; i < 60; i++)
		n += snprintf(lines + n, sizeof(lines) - (size_t)n, "X-%d: y\r\n", i);
	snprintf(lines + n, sizeof(lines) - (size_t)n, "\r\n");
	expect_bad(lines, 431, NULL); /* more lines than arguments */
	/* A URL at the limit; a head beyond the table is lws's to judge. */
	n = snprintf(big, sizeof(big), "GET /");
	memset(big + n, 'a', 1000);
	snprintf(big + n + 1000, sizeof(big) - (size_t)n - 1000, " HTTP/1.1\r\n\r\n");
	expect_bad(big, 414, "url");
	n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nX-Big: ");
	memset(big + n, 'b', 4200);
	big[n + 4200] = '\0';
	{
		struct tp_head_error err;

		assert_int_equal(check(big, &err), TP_HEAD_OK);
		assert_int_equal(err.head_len, 0);
	}
}

static void test_refusal(void **state)
{
	static const char want[] =
		"HTTP/1.1 431 Request Header Fields Too Large\r\n"
		"content-type: application/json; charset=utf-8\r\ncontent-length: 33\r\n"
		"cache-control: no-store\r\nx-content-type-options: nosniff\r\n"
		"connection: close\r\n\r\n"
		"{\"error\":\"a \\\"b\\\"\",\"field\":\"url\"}";
	struct tp_head_error err = {431, "a \"b\"", "url", 0};
	struct tp_buf b;

	(void)state;
	tp_buf_init(&b, 0);
	tp_http_head_refusal(&err, &b);
	assert_string_equal(tp_buf_cstr(&b), want);
	tp_buf_reset(&b);
	err.status = 400;
	err.field = NULL;
	tp_http_head_refusal(&err, &b);
	assert_non_null(strstr(tp_buf_cstr(&b), "400 Bad Request"));
	assert_non_null(strstr(tp_buf_cstr(&b), "\r\n\r\n{\"error\":\"a \\\"b\\\"\"}"));
	tp_buf_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_heads),
		cmocka_unit_test(test_bad_heads),
		cmocka_unit_test(test_not_http),
		cmocka_unit_test(test_refusal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
