/*
 * password.c - PBKDF2-HMAC-SHA256 password hashes (see password.h).
 *
 * Design: the stored form names its algorithm and iteration count, so the
 * cost can rise later without invalidating old hashes. Verifying never
 * allocates and keeps no state, so the I/O layer runs it on libuv's
 * threadpool; the iteration count of a stored hash is capped so a crafted
 * row cannot make a login arbitrarily slow. Unknown users cost the same as
 * wrong passwords (tp_password_dummy_verify). Derived keys are wiped from
 * the stack after use.
 */
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tickpush/b64.h"
#include "tickpush/err.h"
#include "tickpush/password.h"

static const char pw_prefix[] = "pbkdf2_sha256$";

static bool derive(const char *pw, const unsigned char *salt, size_t saltlen,
		   unsigned iter, unsigned char dk[TP_PASSWORD_HASH_LEN])
{
	size_t pwlen = strlen(pw);

	if (pwlen > INT_MAX || saltlen > INT_MAX || iter > INT_MAX)
		return false;
	return PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)saltlen, (int)iter,
				 EVP_sha256(), TP_PASSWORD_HASH_LEN, dk) == 1;
}

int tp_password_hash(const char *pw, unsigned iterations, struct tp_buf *out)
{
	unsigned char salt[TP_PASSWORD_SALT_LEN], dk[TP_PASSWORD_HASH_LEN];
	size_t start = out->len;
	int rc = TP_ERR_IO;

	if (!pw || iterations > TP_PASSWORD_MAX_ITER)
		return TP_ERR_INVAL;
	if (!iterations)
		iterations = TP_PASSWORD_DEFAULT_ITER;
	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    !derive(pw, salt, sizeof(salt), iterations, dk))
		goto fail;
	rc = TP_ERR_NOMEM;
	tp_buf_printf(out, "%s%u$", pw_prefix, iterations);
	if (out->oom || tp_b64_encode(salt, sizeof(salt), out))
		goto fail;
	tp_buf_putc(out, '$');
	if (out->oom || tp_b64_encode(dk, sizeof(dk), out))
		goto fail;
	rc = TP_OK;
fail:
	if (rc != TP_OK && !out->oom)
		out->len = start;
	OPENSSL_cleanse(dk, sizeof(dk));
	return rc;
}

bool tp_password_verify_capped(const char *pw, const char *encoded,
			       unsigned max_iter)
{
	unsigned char salt[64], want[48], dk[TP_PASSWORD_HASH_LEN];
	const char *p, *s, *h;
	size_t n, saltlen, hashlen;
	unsigned long iter = 0;
	bool ok;

	if (!pw || !encoded)
		return false;
	if (max_iter > TP_PASSWORD_MAX_ITER)
		max_iter = TP_PASSWORD_MAX_ITER;
	n = strnlen(encoded, TP_PASSWORD_ENCODED_MAX + 1);
	if (n > TP_PASSWORD_ENCODED_MAX ||
	    strncmp(encoded, pw_prefix, sizeof(pw_prefix) - 1) != 0)
		return false;
	/* Iterations: canonical decimal, checked against the cap digit by
	 * digit so a huge number cannot overflow. */
	p = encoded + sizeof(pw_prefix) - 1;
	if (*p == '0')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		iter = iter * 10 + (unsigned long)(*p - '0');
		if (iter > max_iter)
			return false;
	}
	if (!iter || *p != '$')
		return false;
	s = p + 1;
	if (!(h = strchr(s, '$')) || strchr(h + 1, '$'))
		return false;
	if (tp_b64_decode(s, (size_t)(h - s), salt, sizeof(salt), &saltlen) ||
	    saltlen < 8 ||
	    tp_b64_decode(h + 1, strlen(h + 1), want, sizeof(want), &hashlen) ||
	    hashlen != TP_PASSWORD_HASH_LEN)
		return false;
	ok = derive(pw, salt, saltlen, (unsigned)iter, dk) &&
	     CRYPTO_memcmp(dk, want, TP_PASSWORD_HASH_LEN) == 0;
	OPENSSL_cleanse(dk, sizeof(dk));
	return ok;
}

bool tp_password_verify(const char *pw, const char *encoded)
{
	return tp_password_verify_capped(pw, encoded, TP_PASSWORD_MAX_ITER);
}

void tp_password_dummy_verify(const char *pw)
{
	static const unsigned char salt[TP_PASSWORD_SALT_LEN] = "tickpush-dummy!";
	static const unsigned char want[TP_PASSWORD_HASH_LEN];
	unsigned char dk[TP_PASSWORD_HASH_LEN];

	/* Same work as a real verify: derive, then a constant-time compare
	 * whose result is ignored. */
	if (derive(pw ? pw : "", salt, sizeof(salt), TP_PASSWORD_DEFAULT_ITER, dk))
		(void)CRYPTO_memcmp(dk, want, sizeof(dk));
	OPENSSL_cleanse(dk, sizeof(dk));
}
