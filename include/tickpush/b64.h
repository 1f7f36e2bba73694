/*
 * b64.h - base64 and base64url (RFC 4648), strict (server/base/b64.c).
 *
 * Tokens (JWS) and stored password hashes use them (and the tests'
 * WebSocket client). Decoders do not allocate.
 */
#ifndef TICKPUSH_B64_H
#define TICKPUSH_B64_H

#include <stddef.h>

#include "tickpush/buf.h"

/* Appends the encoding of in[0..n) to out. url: the URL-safe alphabet
 * without padding (section 5, as JWS uses it); otherwise the standard
 * alphabet with '=' padding (section 4). Returns TP_OK or TP_ERR_NOMEM. */
int tp_b64url_encode(const void *in, size_t n, struct tp_buf *out);
int tp_b64_encode(const void *in, size_t n, struct tp_buf *out);

/* Strict decoders: reject characters outside the alphabet (including
 * whitespace), padding in base64url, missing or misplaced padding in base64,
 * impossible lengths and non-zero trailing bits (so every byte string has
 * exactly one accepted encoding). Writes at most cap bytes to out and the
 * decoded length to *outlen. Returns TP_OK, TP_ERR_INVAL (bad input) or
 * TP_ERR_LIMIT (cap too small). Do not allocate. */
int tp_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap,
		     size_t *outlen);
int tp_b64_decode(const char *in, size_t n, unsigned char *out, size_t cap,
		  size_t *outlen);

/* Decoded size upper bound for n encoded characters. */
#define TP_B64_DECODED_MAX(n) (((n) / 4 + 1) * 3)

#endif
