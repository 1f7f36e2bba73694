/*
 * fuzz_jwt.c - libFuzzer harness for the token and password-hash parsers.
 *
 * The input is tried as a JWT (fixed key and clock; the full check and the
 * signature check alone), as the payload of a token the harness signs
 * itself (a random input is never validly signed, so this is how the claims
 * parser gets fuzzed), through the base64 decoders, and as a stored password
 * hash. The hash check uses a small iteration cap so a crafted
 * "pbkdf2_sha256$<huge>$..." can never make one run slow: anything above the
 * cap is refused before PBKDF2 runs.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tickpush/b64.h"
#include "tickpush/jwt.h"
#include "tickpush/password.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char key[] = "0123456789abcdef0123456789abcdef";

/* Every token that verifies must name a user; every rejection a reason.
 * The signature check alone accepts at least what the full check does. */
static void check(const char *tok, size_t len)
{
	struct tp_jwt_claims claims;
	struct tp_errdetail err;
	struct tp_buf payload;
	int rc = tp_jwt_verify(key, sizeof(key) - 1, tok, len, 1700000000.0, 30,
			       &claims, &err);
	int sig;

	if (rc == TP_OK && (claims.sub <= 0 || !(claims.exp > 1699999970.0)))
		__builtin_trap();
	if (rc != TP_OK && (rc != TP_ERR_AUTH || !err.field))
		__builtin_trap();
	tp_buf_init(&payload, 0);
	sig = tp_jwt_verify_signature(key, sizeof(key) - 1, tok, len, &payload, &err);
	if ((rc == TP_OK && sig != TP_OK) || (sig != TP_OK && sig != TP_ERR_AUTH &&
					      sig != TP_ERR_NOMEM))
		__builtin_trap();
	tp_buf_cleanup(&payload);
}

/* HS256 header + data as the payload, correctly signed. */
static void check_signed_payload(const uint8_t *data, size_t size)
{
	static const char hdr[] = "{\"alg\":\"HS256\"}";
	unsigned char mac[32];
	unsigned int maclen = 0;
	struct tp_buf t;

	if (size > TP_JWT_MAX_LEN / 2)
		return;
	tp_buf_init(&t, 0);
	tp_b64url_encode(hdr, sizeof(hdr) - 1, &t);
	tp_buf_putc(&t, '.');
	tp_b64url_encode(data, size, &t);
	if (!t.oom && HMAC(EVP_sha256(), key, (int)sizeof(key) - 1,
			   (const unsigned char *)tp_buf_data(&t), t.len, mac,
			   &maclen)) {
		tp_buf_putc(&t, '.');
		tp_b64url_encode(mac, maclen, &t);
		if (!t.oom)
			check(tp_buf_data(&t), t.len);
	}
	tp_buf_cleanup(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char out[TP_B64_DECODED_MAX(TP_JWT_MAX_LEN)];
	char enc[TP_PASSWORD_ENCODED_MAX + 2];
	size_t n;

	check((const char *)data, size);
	check_signed_payload(data, size);

	if (size <= TP_JWT_MAX_LEN) {
		if (tp_b64url_decode((const char *)data, size, out, sizeof(out), &n) == TP_OK &&
		    n > sizeof(out))
			__builtin_trap();
		(void)tp_b64_decode((const char *)data, size, out, sizeof(out), &n);
	}

	/* As a stored hash (NUL-terminated, bounded) with the password "pw". */
	n = size < sizeof(enc) - 1 ? size : sizeof(enc) - 1;
	memcpy(enc, data, n);
	enc[n] = '\0';
	(void)tp_password_verify_capped("pw", enc, 1000);
	return 0;
}
