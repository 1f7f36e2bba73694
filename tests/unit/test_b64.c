/*
 * test_b64.c - base64 and base64url (RFC 4648): the vectors, both
 * alphabets, and the strict decoder's refusals.
 */
#include <string.h>

#include "test_support.h"
#include "tickpush/b64.h"
#include "tickpush/err.h"

/* ---- base64 ------------------------------------------------------------ */

static void test_b64_rfc4648_vectors(void **state)
{
	static const struct {
		const char *plain, *std, *url;
	} v[] = {
		{"", "", ""},
		{"f", "Zg==", "Zg"},
		{"fo", "Zm8=", "Zm8"},
		{"foo", "Zm9v", "Zm9v"},
		{"foob", "Zm9vYg==", "Zm9vYg"},
		{"fooba", "Zm9vYmE=", "Zm9vYmE"},
		{"foobar", "Zm9vYmFy", "Zm9vYmFy"},
	};
	struct tp_buf b;
	unsigned char out[16];
	size_t n;

	(void)state;
	tp_buf_init(&b, 0);
	for (size_t i = 0; i < TP_ARRAY_SIZE(v); i++) {
		size_t len = strlen(v[i].plain);

		tp_buf_reset(&b);
		assert_int_equal(tp_b64_encode(v[i].plain, len, &b), TP_OK);
		assert_string_equal(tp_buf_cstr(&b), v[i].std);
		tp_buf_reset(&b);
		assert_int_equal(tp_b64url_encode(v[i].plain, len, &b), TP_OK);
		assert_string_equal(tp_buf_cstr(&b), v[i].url);

		assert_int_equal(tp_b64_decode(v[i].std, strlen(v[i].std), out,
					       sizeof(out), &n), TP_OK);
		assert_int_equal(n, len);
		assert_memory_equal(out, v[i].plain, len);
		assert_int_equal(tp_b64url_decode(v[i].url, strlen(v[i].url), out,
						  sizeof(out), &n), TP_OK);
		assert_int_equal(n, len);
		assert_memory_equal(out, v[i].plain, len);
	}
	tp_buf_cleanup(&b);
}

static void test_b64_alphabets(void **state)
{
	static const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
	struct tp_buf b;
	unsigned char out[8];
	size_t n;

	(void)state;
	tp_buf_init(&b, 0);
	assert_int_equal(tp_b64_encode(bytes, 3, &b), TP_OK);
	assert_string_equal(tp_buf_cstr(&b), "+/+/");
	tp_buf_reset(&b);
	assert_int_equal(tp_b64url_encode(bytes, 3, &b), TP_OK);
	assert_string_equal(tp_buf_cstr(&b), "-_-_");
	tp_buf_cleanup(&b);

	assert_int_equal(tp_b64url_decode("-_-_", 4, out, sizeof(out), &n), TP_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(out, bytes, 3);
	/* Each alphabet rejects the other's two special characters. */
	assert_int_equal(tp_b64url_decode("+/+/", 4, out, sizeof(out), &n), TP_ERR_INVAL);
	assert_int_equal(tp_b64_decode("-_-_", 4, out, sizeof(out), &n), TP_ERR_INVAL);
}

static void test_b64_strict_rejects(void **state)
{
	static const char *bad_url[] = {
		"Zg==", "Zm8=",      /* padding */
		"Zm9vY",             /* length % 4 == 1 */
		"Zh", "Zm9", "Zm9vYh", /* non-zero trailing bits */
		"Zm 9", "Zm9\n", "Zm.v", "Zm9v=", "\x80\x81",
	};
	static const char *bad_std[] = {
		"Zg", "Zm8",         /* missing padding */
		"Zg=", "Zg===", "====", "Z===", "Z=g=", "Zm=v",
		"Zh==", "Zm9=",      /* non-zero trailing bits */
		"Zm9v\n", " Zm9v",
	};
	unsigned char out[16];
	size_t n = 99;

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(bad_url); i++)
		assert_int_equal(tp_b64url_decode(bad_url[i], strlen(bad_url[i]), out,
						  sizeof(out), &n), TP_ERR_INVAL);
	/* An embedded NUL inside the given length. */
	assert_int_equal(tp_b64url_decode("Zm\0v", 4, out, sizeof(out), &n), TP_ERR_INVAL);
	for (size_t i = 0; i < TP_ARRAY_SIZE(bad_std); i++)
		assert_int_equal(tp_b64_decode(bad_std[i], strlen(bad_std[i]), out,
					       sizeof(out), &n), TP_ERR_INVAL);
	/* Output capacity is respected exactly. */
	assert_int_equal(tp_b64url_decode("Zm9vYmFy", 8, out, 5, &n), TP_ERR_LIMIT);
	assert_int_equal(tp_b64url_decode("Zm9vYmFy", 8, out, 6, &n), TP_OK);
	assert_int_equal(n, 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_b64_rfc4648_vectors),
		TP_TEST(test_b64_alphabets),
		TP_TEST(test_b64_strict_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
