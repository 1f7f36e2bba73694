/*
 * password.h - password hashes: PBKDF2-HMAC-SHA256 (server/core/password.c).
 *
 * Threading: tp_password_verify and tp_password_dummy_verify do not
 * allocate and touch no shared state, so the I/O layer may run them on a
 * worker (uv_queue_work) to keep a ~0.1 s PBKDF2 off the loop. Nothing here
 * logs; never log a password.
 */
#ifndef TICKPUSH_PASSWORD_H
#define TICKPUSH_PASSWORD_H

#include <stdbool.h>

#include "tickpush/buf.h"

/* "pbkdf2_sha256$<iterations>$<salt base64>$<hash base64>" with standard,
 * padded base64, a 16-byte random salt and a 32-byte derived key. */
#define TP_PASSWORD_DEFAULT_ITER 600000u /* OWASP 2023 for PBKDF2-HMAC-SHA256 */
#define TP_PASSWORD_MAX_ITER 2000000u    /* verify refuses more: a crafted hash cannot stall us */
#define TP_PASSWORD_SALT_LEN 16
#define TP_PASSWORD_HASH_LEN 32
#define TP_PASSWORD_ENCODED_MAX 256 /* longer encodings are malformed */

/* Appends a new encoded hash of pw to out. iterations 0 means the default;
 * must be <= TP_PASSWORD_MAX_ITER. Returns TP_OK, TP_ERR_INVAL,
 * TP_ERR_NOMEM or TP_ERR_IO (no randomness). */
int tp_password_hash(const char *pw, unsigned iterations, struct tp_buf *out);

/* True when pw matches encoded. A malformed encoding (wrong prefix, bad
 * base64, salt outside 8..64 bytes, hash not 32 bytes, iterations 0, above
 * the cap or not canonical decimal) is false, at no PBKDF2 cost. */
bool tp_password_verify(const char *pw, const char *encoded);
/* The same with a caller-chosen iteration cap (<= TP_PASSWORD_MAX_ITER);
 * the fuzz harness uses a small one. */
bool tp_password_verify_capped(const char *pw, const char *encoded,
			       unsigned max_iter);

/* Costs what verifying against a default-iteration hash costs, always
 * "fails": call it when the user does not exist, so unknown user and wrong
 * password take the same time. */
void tp_password_dummy_verify(const char *pw);

#endif
