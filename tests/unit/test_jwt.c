/*
 * test_jwt.c - JWT HS256 (RFC 7515 A.1 / RFC 7519 3.1 and every
 * rejection): sign, verify, the signature check alone.
 *
 * Tokens with unusual headers or claims are built here with a correct
 * HS256 signature (make_token), so each test reaches the check it targets.
 */
#include <math.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/b64.h"
#include "tickpush/jwt.h"

/* RFC 7515 appendix A.1 (the same token is RFC 7519 section 3.1). */
static const char rfc_key_b64[] =
	"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
static const char rfc_token[] =
	"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
	".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
	".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
static const char rfc_payload[] =
	"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";
/* RFC 7519 section 6.1: the unsecured JWT (alg none, empty signature). */
static const char rfc_unsecured[] =
	"eyJhbGciOiJub25lIn0"
	".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.";

static const unsigned char key[] = "0123456789abcdef0123456789abcdef";
#define KEYLEN (sizeof(key) - 1)
#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* ---- helpers ----------------------------------------------------------- */

static const char *b64url(const char *s, struct tp_buf *b)
{
	tp_buf_reset(b);
	assert_int_equal(tp_b64url_encode(s, strlen(s), b), TP_OK);
	return tp_buf_cstr(b);
}

/* header.payload signed with HS256 under k (raw JSON in, token out). */
static const char *make_token(const unsigned char *k, size_t klen,
			      const char *header, const char *payload,
			      struct tp_buf *out)
{
	unsigned char mac[32];
	unsigned int maclen = 0;

	tp_buf_reset(out);
	assert_int_equal(tp_b64url_encode(header, strlen(header), out), TP_OK);
	tp_buf_putc(out, '.');
	assert_int_equal(tp_b64url_encode(payload, strlen(payload), out), TP_OK);
	assert_non_null(HMAC(EVP_sha256(), k, (int)klen, (const unsigned char *)tp_buf_data(out),
			     out->len, mac, &maclen));
	tp_buf_putc(out, '.');
	assert_int_equal(tp_b64url_encode(mac, maclen, out), TP_OK);
	return tp_buf_cstr(out);
}

/* Verifies with the test key at now (no leeway); returns the reason or
 * "ok". */
static const char *verify_at(const char *tok, double now,
			     struct tp_jwt_claims *claims)
{
	struct tp_errdetail err = {0};
	struct tp_jwt_claims c;
	int rc = tp_jwt_verify(key, KEYLEN, tok, strlen(tok), now, 0,
			       claims ? claims : &c, &err);

	if (rc == TP_OK)
		return "ok";
	assert_int_equal(rc, TP_ERR_AUTH);
	assert_non_null(err.field);
	assert_true(strlen(err.msg) > 0);
	return err.field;
}

static const char *claims_reason(const char *header, const char *payload,
				 double now)
{
	static char reason[32];
	struct tp_buf b;

	tp_buf_init(&b, 0);
	snprintf(reason, sizeof(reason), "%s",
		 verify_at(make_token(key, KEYLEN, header, payload, &b), now, NULL));
	tp_buf_cleanup(&b);
	return reason;
}

/* ---- JWT: RFC examples ------------------------------------------------- */

static void rfc_key(unsigned char *k, size_t *klen)
{
	assert_int_equal(tp_b64url_decode(rfc_key_b64, strlen(rfc_key_b64), k,
					  64, klen), TP_OK);
	assert_int_equal(*klen, 64);
}

static void test_jwt_rfc7515_a1(void **state)
{
	unsigned char k[64];
	size_t klen;
	struct tp_buf pl;
	struct tp_errdetail err = {0};
	struct tp_jwt_claims c;

	(void)state;
	rfc_key(k, &klen);
	tp_buf_init(&pl, 0);
	/* The signature checks out and yields the RFC's payload bytes. */
	assert_int_equal(tp_jwt_verify_signature(k, klen, rfc_token, strlen(rfc_token),
					     &pl, &err), TP_OK);
	assert_int_equal(pl.len, strlen(rfc_payload));
	assert_memory_equal(tp_buf_data(&pl), rfc_payload, pl.len);
	tp_buf_cleanup(&pl);

	/* Before its exp the token gets as far as the claims: it has no sub. */
	assert_int_equal(tp_jwt_verify(k, klen, rfc_token, strlen(rfc_token),
				       1300819379.0, 0, &c, &err), TP_ERR_AUTH);
	assert_string_equal(err.field, TP_JWT_R_MISSING_SUB);
	/* At and after exp (1300819380) it is expired, also with leeway used up. */
	assert_int_equal(tp_jwt_verify(k, klen, rfc_token, strlen(rfc_token),
				       1300819380.0, 0, &c, &err), TP_ERR_AUTH);
	assert_string_equal(err.field, TP_JWT_R_EXPIRED);
	assert_int_equal(tp_jwt_verify(k, klen, rfc_token, strlen(rfc_token),
				       1300819389.0, 10, &c, &err), TP_ERR_AUTH);
	assert_string_equal(err.field, TP_JWT_R_MISSING_SUB);
	assert_int_equal(tp_jwt_verify(k, klen, rfc_token, strlen(rfc_token),
				       1300819390.0, 10, &c, &err), TP_ERR_AUTH);
	assert_string_equal(err.field, TP_JWT_R_EXPIRED);
	/* The message never echoes the token. */
	assert_null(strstr(err.msg, "eyJ"));

	/* Under our test key the same token is a forgery. */
	assert_int_equal(tp_jwt_verify(key, KEYLEN, rfc_token, strlen(rfc_token),
				       1300819379.0, 0, &c, &err), TP_ERR_AUTH);
	assert_string_equal(err.field, TP_JWT_R_BAD_SIGNATURE);
}

static void test_jwt_rfc_tampered(void **state)
{
	unsigned char k[64];
	size_t klen, len = strlen(rfc_token);
	char tok[sizeof(rfc_token)];
	struct tp_errdetail err = {0};
	const char *d1 = strchr(rfc_token, '.');
	size_t pay = (size_t)(d1 - rfc_token) + 5;

	(void)state;
	rfc_key(k, &klen);
	/* One changed character in the payload, then in the signature. */
	memcpy(tok, rfc_token, sizeof(tok));
	tok[pay] = tok[pay] == 'A' ? 'B' : 'A';
	assert_int_equal(tp_jwt_verify(k, klen, tok, len, 1300819379.0, 0, NULL,
				       &err), TP_ERR_AUTH);
	assert_string_equal(err.field, TP_JWT_R_BAD_SIGNATURE);
	memcpy(tok, rfc_token, sizeof(tok));
	tok[len - 3] = tok[len - 3] == 'A' ? 'B' : 'A';
	assert_int_equal(tp_jwt_verify(k, klen, tok, len, 1300819379.0, 0, NULL,
				       &err), TP_ERR_AUTH);
	assert_string_equal(err.field, TP_JWT_R_BAD_SIGNATURE);
	/* The RFC 7519 6.1 unsecured token. */
	assert_int_equal(tp_jwt_verify(k, klen, rfc_unsecured,
				       strlen(rfc_unsecured), 1300819379.0, 0,
				       NULL, &err), TP_ERR_AUTH);
	assert_string_equal(err.field, TP_JWT_R_BAD_ALG);
}

/* ---- JWT: sign and verify ---------------------------------------------- */

static void test_jwt_round_trip(void **state)
{
	struct tp_buf tok, pl;
	struct tp_jwt_claims c = {0};
	struct tp_errdetail err = {0};
	unsigned char part[256];
	size_t n;
	const char *t, *d1, *d2;

	(void)state;
	tp_buf_init(&tok, 0);
	tp_buf_init(&pl, 0);
	tp_buf_puts(&tok, "prefix:"); /* sign appends */
	assert_int_equal(tp_jwt_sign(key, KEYLEN, 42, 1000, 4600, &tok), TP_OK);
	t = tp_buf_cstr(&tok) + 7;
	assert_memory_equal(tp_buf_cstr(&tok), "prefix:", 7);

	d1 = strchr(t, '.');
	d2 = strchr(d1 + 1, '.');
	assert_non_null(d2);
	assert_null(strchr(d2 + 1, '.'));
	assert_int_equal(tp_b64url_decode(t, (size_t)(d1 - t), part, sizeof(part), &n), TP_OK);
	assert_int_equal(n, strlen(HS256));
	assert_memory_equal(part, HS256, n);
	assert_int_equal(tp_jwt_verify_signature(key, KEYLEN, t, strlen(t), &pl, &err), TP_OK);
	assert_string_equal(tp_buf_cstr(&pl),
			    "{\"sub\":\"42\",\"iat\":1000,\"exp\":4600}");

	assert_string_equal(verify_at(t, 1000, &c), "ok");
	assert_int_equal(c.sub, 42);
	assert_true(c.iat == 1000);
	assert_true(c.exp == 4600);
	assert_string_equal(verify_at(t, 4599.999, NULL), "ok");
	assert_string_equal(verify_at(t, 4600, NULL), TP_JWT_R_EXPIRED);
	assert_string_equal(verify_at(t, 1e9, NULL), TP_JWT_R_EXPIRED);
	/* iat in the future beyond the (zero) leeway. */
	assert_string_equal(verify_at(t, 999, NULL), TP_JWT_R_NOT_YET_VALID);
	/* Leeway stretches both ends. */
	assert_int_equal(tp_jwt_verify(key, KEYLEN, t, strlen(t), 4629, 30, &c, &err), TP_OK);
	assert_int_equal(tp_jwt_verify(key, KEYLEN, t, strlen(t), 4630, 30, &c, &err), TP_ERR_AUTH);
	assert_int_equal(tp_jwt_verify(key, KEYLEN, t, strlen(t), 970, 30, &c, &err), TP_OK);
	/* A NaN clock rejects instead of accepting. */
	assert_string_equal(verify_at(t, NAN, NULL), TP_JWT_R_EXPIRED);
	/* A different key of the same length. */
	{
		unsigned char other[KEYLEN];

		memcpy(other, key, KEYLEN);
		other[0] ^= 1;
		assert_int_equal(tp_jwt_verify(other, KEYLEN, t, strlen(t), 2000, 0,
					       &c, &err), TP_ERR_AUTH);
		assert_string_equal(err.field, TP_JWT_R_BAD_SIGNATURE);
	}
	/* Fractional times survive. */
	tp_buf_reset(&tok);
	assert_int_equal(tp_jwt_sign(key, KEYLEN, 9007199254740993LL, 10.25, 20.5, &tok), TP_OK);
	assert_string_equal(verify_at(tp_buf_cstr(&tok), 20.4, &c), "ok");
	assert_int_equal(c.sub, 9007199254740993LL);
	assert_true(c.iat == 10.25 && c.exp == 20.5);
	tp_buf_cleanup(&tok);
	tp_buf_cleanup(&pl);
}

static void test_jwt_sign_rejects_bad_input(void **state)
{
	struct tp_buf b;

	(void)state;
	tp_buf_init(&b, 0);
	assert_int_equal(tp_jwt_sign(key, 0, 1, 0, 10, &b), TP_ERR_INVAL);
	assert_int_equal(tp_jwt_sign(NULL, 5, 1, 0, 10, &b), TP_ERR_INVAL);
	assert_int_equal(tp_jwt_sign(key, KEYLEN, 0, 0, 10, &b), TP_ERR_INVAL);
	assert_int_equal(tp_jwt_sign(key, KEYLEN, -5, 0, 10, &b), TP_ERR_INVAL);
	assert_int_equal(tp_jwt_sign(key, KEYLEN, 1, 0, NAN, &b), TP_ERR_INVAL);
	assert_int_equal(tp_jwt_sign(key, KEYLEN, 1, INFINITY, 10, &b), TP_ERR_INVAL);
	assert_int_equal(b.len, 0);
	/* Out of memory: an error, nothing half-written is claimed valid. */
	tp_alloc_fail_at(1);
	assert_int_equal(tp_jwt_sign(key, KEYLEN, 1, 0, 10, &b), TP_ERR_NOMEM);
	tp_alloc_fail_at(0);
	tp_buf_cleanup(&b);
}

static void test_jwt_alg_rejected(void **state)
{
	static const char *headers[] = {
		"{\"alg\":\"none\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
		"{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
		"{\"alg\":\"hs256\"}",
		"{\"alg\":\"HS256 \"}",
		"{\"alg\":null}",
		"{\"alg\":256}",
		"{\"typ\":\"JWT\"}",
		"{\"ALG\":\"HS256\"}",
	};
	const char *pay = "{\"sub\":\"1\",\"exp\":100}";
	struct tp_buf b, h, p, tok;

	(void)state;
	/* Correctly signed with HS256, still refused by the header. */
	for (size_t i = 0; i < TP_ARRAY_SIZE(headers); i++)
		assert_string_equal(claims_reason(headers[i], pay, 50), TP_JWT_R_BAD_ALG);
	/* Sanity: the same payload under the right header passes. */
	assert_string_equal(claims_reason(HS256, pay, 50), "ok");
	assert_string_equal(claims_reason("{\"alg\":\"HS256\"}", pay, 50), "ok");
	assert_string_equal(claims_reason("{\"typ\":\"jwt\",\"alg\":\"HS256\"}", pay, 50), "ok");

	/* alg none with the empty signature of an unsecured JWS. */
	tp_buf_init(&b, 0);
	tp_buf_init(&h, 0);
	tp_buf_init(&p, 0);
	tp_buf_init(&tok, 0);
	tp_buf_printf(&tok, "%s.%s.", b64url("{\"alg\":\"none\"}", &h), b64url(pay, &p));
	assert_string_equal(verify_at(tp_buf_cstr(&tok), 50, NULL), TP_JWT_R_BAD_ALG);
	/* An HS256 header with no signature at all. */
	tp_buf_reset(&tok);
	tp_buf_printf(&tok, "%s.%s.", b64url(HS256, &h), b64url(pay, &p));
	assert_string_equal(verify_at(tp_buf_cstr(&tok), 50, NULL), TP_JWT_R_BAD_SIGNATURE);
	tp_buf_cleanup(&b);
	tp_buf_cleanup(&h);
	tp_buf_cleanup(&p);
	tp_buf_cleanup(&tok);
}

static void test_jwt_header_checks(void **state)
{
	const char *pay = "{\"sub\":\"1\",\"exp\":100}";

	(void)state;
	assert_string_equal(claims_reason("{\"alg\":\"HS256\",\"typ\":\"JOSE\"}", pay, 50),
			    TP_JWT_R_BAD_FORMAT);
	assert_string_equal(claims_reason("{\"alg\":\"HS256\",\"typ\":7}", pay, 50),
			    TP_JWT_R_BAD_FORMAT);
	assert_string_equal(claims_reason("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", pay, 50),
			    TP_JWT_R_BAD_FORMAT);
	assert_string_equal(claims_reason("[\"HS256\"]", pay, 50), TP_JWT_R_BAD_JSON);
	assert_string_equal(claims_reason("{\"alg\":\"HS256\"", pay, 50), TP_JWT_R_BAD_JSON);
	assert_string_equal(claims_reason("{\"alg\":\"HS256\"}x", pay, 50), TP_JWT_R_BAD_JSON);
	/* Duplicate alg: no guessing which one counts. */
	assert_string_equal(claims_reason("{\"alg\":\"none\",\"alg\":\"HS256\"}", pay, 50),
			    TP_JWT_R_BAD_JSON);
	assert_string_equal(claims_reason("{\"alg\":\"HS256\"} \r\n", pay, 50), "ok");
}

static void test_jwt_claims(void **state)
{
	(void)state;
	/* exp */
	assert_string_equal(claims_reason(HS256, "{\"sub\":\"1\"}", 50), TP_JWT_R_MISSING_EXP);
	assert_string_equal(claims_reason(HS256, "{\"sub\":\"1\",\"exp\":\"100\"}", 50),
			    TP_JWT_R_BAD_JSON);
	assert_string_equal(claims_reason(HS256, "{\"sub\":\"1\",\"exp\":40}", 50),
			    TP_JWT_R_EXPIRED);
	/* nbf and iat */
	assert_string_equal(claims_reason(HS256, "{\"sub\":\"1\",\"exp\":100,\"nbf\":60}", 50),
			    TP_JWT_R_NOT_YET_VALID);
	assert_string_equal(claims_reason(HS256, "{\"sub\":\"1\",\"exp\":100,\"nbf\":50}", 50), "ok");
	assert_string_equal(claims_reason(HS256, "{\"sub\":\"1\",\"exp\":100,\"iat\":51}", 50),
			    TP_JWT_R_NOT_YET_VALID);
	assert_string_equal(claims_reason(HS256, "{\"sub\":\"1\",\"exp\":100,\"nbf\":null}", 50),
			    TP_JWT_R_BAD_JSON);
	/* payload shape */
	assert_string_equal(claims_reason(HS256, "[1,2]", 50), TP_JWT_R_BAD_JSON);
	assert_string_equal(claims_reason(HS256, "{\"sub\":\"1\",\"exp\":100", 50), TP_JWT_R_BAD_JSON);
	assert_string_equal(claims_reason(HS256, "{\"sub\":\"1\",\"exp\":100}{}", 50), TP_JWT_R_BAD_JSON);
	assert_string_equal(claims_reason(HS256, "{\"sub\":\"1\",\"exp\":100,\"sub\":\"2\"}", 50),
			    TP_JWT_R_BAD_JSON);
	assert_string_equal(claims_reason(HS256, "not json", 50), TP_JWT_R_BAD_JSON);
}

static void test_jwt_sub(void **state)
{
	static const char *bad[] = {
		"\"abc\"", "\"0\"", "\"-1\"", "\"1.5\"", "\"01\"", "\" 1\"", "\"1 \"",
		"\"+1\"", "\"\"", "\"99999999999999999999\"", "\"9223372036854775808\"",
		"1.5", "0", "-3", "1e300", "9007199254740994", "true", "{}", "[1]",
	};
	struct tp_buf b;
	struct tp_jwt_claims c;
	char pay[128];

	(void)state;
	tp_buf_init(&b, 0);
	for (size_t i = 0; i < TP_ARRAY_SIZE(bad); i++) {
		snprintf(pay, sizeof(pay), "{\"exp\":100,\"sub\":%s}", bad[i]);
		assert_string_equal(claims_reason(HS256, pay, 50), TP_JWT_R_BAD_SUB);
	}
	assert_string_equal(claims_reason(HS256, "{\"exp\":100,\"sub\":null}", 50),
			    TP_JWT_R_MISSING_SUB);
	assert_string_equal(claims_reason(HS256, "{\"exp\":100}", 50), TP_JWT_R_MISSING_SUB);
	/* A numeric sub and the largest string sub are accepted. */
	assert_string_equal(verify_at(make_token(key, KEYLEN, HS256,
						 "{\"exp\":100,\"sub\":7}", &b), 50, &c), "ok");
	assert_int_equal(c.sub, 7);
	assert_string_equal(verify_at(make_token(key, KEYLEN, HS256,
						 "{\"exp\":100,\"sub\":\"9223372036854775807\"}", &b),
				      50, &c), "ok");
	assert_int_equal(c.sub, 9223372036854775807LL);
	assert_true(c.iat == 0);
	tp_buf_cleanup(&b);
}

static void test_jwt_malformed(void **state)
{
	struct tp_buf good, tok, h, p;
	struct tp_errdetail err = {0};
	const char *g, *d2;
	char *huge;

	(void)state;
	tp_buf_init(&good, 0);
	tp_buf_init(&tok, 0);
	tp_buf_init(&h, 0);
	tp_buf_init(&p, 0);
	assert_int_equal(tp_jwt_sign(key, KEYLEN, 5, 0, 100, &good), TP_OK);
	g = tp_buf_cstr(&good);
	d2 = strrchr(g, '.');

	assert_string_equal(verify_at("", 50, NULL), TP_JWT_R_BAD_FORMAT);
	assert_string_equal(verify_at("abc", 50, NULL), TP_JWT_R_BAD_FORMAT);
	assert_string_equal(verify_at("a.b", 50, NULL), TP_JWT_R_BAD_FORMAT);
	assert_string_equal(verify_at("..", 50, NULL), TP_JWT_R_BAD_FORMAT);
	/* Extra dots, before and after a valid token. */
	tp_buf_printf(&tok, "%s.", g);
	assert_string_equal(verify_at(tp_buf_cstr(&tok), 50, NULL), TP_JWT_R_BAD_FORMAT);
	tp_buf_reset(&tok);
	tp_buf_printf(&tok, ".%s", g);
	assert_string_equal(verify_at(tp_buf_cstr(&tok), 50, NULL), TP_JWT_R_BAD_FORMAT);
	tp_buf_reset(&tok);
	tp_buf_printf(&tok, "%s.%s", b64url("{}", &h), g);
	assert_string_equal(verify_at(tp_buf_cstr(&tok), 50, NULL), TP_JWT_R_BAD_FORMAT);
	/* Padding or foreign characters in the header / signature. */
	tp_buf_reset(&tok);
	tp_buf_printf(&tok, "%s=%s", b64url(HS256, &h), strchr(g, '.'));
	assert_string_equal(verify_at(tp_buf_cstr(&tok), 50, NULL), TP_JWT_R_BAD_BASE64);
	tp_buf_reset(&tok);
	tp_buf_printf(&tok, "%.*s=", (int)strlen(g), g);
	assert_string_equal(verify_at(tp_buf_cstr(&tok), 50, NULL), TP_JWT_R_BAD_BASE64);
	tp_buf_reset(&tok);
	tp_buf_printf(&tok, "%.*s.%s", (int)(d2 - g), g, "dBjftJeZ4CVP+mB92K27uhbUJU1p1r/wW1gFWFOEjXk");
	assert_string_equal(verify_at(tp_buf_cstr(&tok), 50, NULL), TP_JWT_R_BAD_BASE64);
	/* Signature of the wrong length. */
	tp_buf_reset(&tok);
	tp_buf_printf(&tok, "%.*s.AAAA", (int)(d2 - g), g);
	assert_string_equal(verify_at(tp_buf_cstr(&tok), 50, NULL), TP_JWT_R_BAD_SIGNATURE);
	/* A payload that is not base64url but carries a valid MAC over its
	 * text: the signature passes, the decode still refuses. */
	{
		unsigned char mac[32];
		unsigned int ml;

		tp_buf_reset(&tok);
		tp_buf_printf(&tok, "%s.%s", b64url(HS256, &h), "e30=");
		HMAC(EVP_sha256(), key, (int)KEYLEN,
		     (const unsigned char *)tp_buf_data(&tok), tok.len, mac, &ml);
		tp_buf_putc(&tok, '.');
		tp_b64url_encode(mac, ml, &tok);
		assert_string_equal(verify_at(tp_buf_cstr(&tok), 50, NULL), TP_JWT_R_BAD_BASE64);
	}
	/* Too long: refused before anything is decoded. */
	huge = tp_malloc(TP_JWT_MAX_LEN + 2);
	memset(huge, 'A', TP_JWT_MAX_LEN + 1);
	huge[10] = '.';
	huge[20] = '.';
	huge[TP_JWT_MAX_LEN + 1] = '\0';
	assert_string_equal(verify_at(huge, 50, NULL), TP_JWT_R_TOO_LONG);
	huge[TP_JWT_MAX_LEN] = '\0'; /* at the limit it is read: a header of NUL bytes */
	assert_string_equal(verify_at(huge, 50, NULL), TP_JWT_R_BAD_JSON);
	tp_free(huge);
	/* An embedded NUL inside the length the caller gave. */
	tp_buf_reset(&tok);
	tp_buf_append(&tok, g, strlen(g));
	tp_buf_data(&tok)[3] = '\0';
	assert_int_equal(tp_jwt_verify(key, KEYLEN, tp_buf_data(&tok), tok.len, 50, 0,
				       NULL, &err), TP_ERR_AUTH);
	assert_string_equal(err.field, TP_JWT_R_BAD_BASE64);
	/* No key configured. */
	assert_int_equal(tp_jwt_verify(key, 0, g, strlen(g), 50, 0, NULL, &err), TP_ERR_AUTH);
	assert_string_equal(err.field, TP_JWT_R_BAD_KEY);
	/* And the untouched token is fine, with a NULL errdetail too. */
	assert_int_equal(tp_jwt_verify(key, KEYLEN, g, strlen(g), 50, 0, NULL, NULL), TP_OK);
	tp_buf_cleanup(&good);
	tp_buf_cleanup(&tok);
	tp_buf_cleanup(&h);
	tp_buf_cleanup(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_jwt_rfc7515_a1),
		TP_TEST(test_jwt_rfc_tampered),
		TP_TEST(test_jwt_round_trip),
		TP_TEST(test_jwt_sign_rejects_bad_input),
		TP_TEST(test_jwt_alg_rejected),
		TP_TEST(test_jwt_header_checks),
		TP_TEST(test_jwt_claims),
		TP_TEST(test_jwt_sub),
		TP_TEST(test_jwt_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
