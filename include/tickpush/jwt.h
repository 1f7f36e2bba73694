/*
 * jwt.h - session tokens: JWT (RFC 7519) signed with HS256 (RFC 7515)
 * (server/core/jwt.c).
 *
 * Pure: OpenSSL libcrypto and cJSON only, no I/O, the clock is passed in.
 * Nothing here logs; callers must never log tokens either.
 */
#ifndef TICKPUSH_JWT_H
#define TICKPUSH_JWT_H

#include <stddef.h>

#include "tickpush/buf.h"
#include "tickpush/err.h"

#define TP_JWT_MAX_LEN 4096 /* longer tokens are rejected unread */

/* Reasons tp_jwt_verify reports in err->field (static strings). */
#define TP_JWT_R_TOO_LONG "too_long"
#define TP_JWT_R_BAD_FORMAT "bad_format"       /* not three dot-separated parts, crit */
#define TP_JWT_R_BAD_BASE64 "bad_base64"
#define TP_JWT_R_BAD_JSON "bad_json"           /* not an object, duplicate keys, bad claim type */
#define TP_JWT_R_BAD_ALG "bad_alg"             /* alg missing or not HS256 (none, RS256, HS512) */
#define TP_JWT_R_BAD_SIGNATURE "bad_signature"
#define TP_JWT_R_EXPIRED "expired"
#define TP_JWT_R_NOT_YET_VALID "not_yet_valid" /* nbf or iat after now + leeway */
#define TP_JWT_R_MISSING_EXP "missing_exp"
#define TP_JWT_R_MISSING_SUB "missing_sub"
#define TP_JWT_R_BAD_SUB "bad_sub"             /* not a positive integer user id */
#define TP_JWT_R_BAD_KEY "bad_key"             /* empty key: a configuration error */

struct tp_jwt_claims {
	long long sub; /* user id, > 0 */
	double iat;    /* 0 when the token has none */
	double exp;
};

/* Appends a compact JWS to out: header {"alg":"HS256","typ":"JWT"},
 * payload {"sub":"<sub>","iat":iat,"exp":exp} (sub as a string, RFC 7519
 * StringOrURI). Returns TP_OK, TP_ERR_INVAL (empty key, sub <= 0, non-finite
 * times) or TP_ERR_NOMEM. */
int tp_jwt_sign(const unsigned char *key, size_t keylen, long long sub,
		double iat, double exp, struct tp_buf *out);

/* Verifies token[0..len) at time now (epoch seconds), allowing leeway
 * seconds of clock skew. Checks, in order: length, shape, header (alg must be
 * exactly HS256, typ if present JWT, no crit), the HMAC-SHA256 signature in
 * constant time, and only then the payload: exp (required; expired when
 * now >= exp + leeway), nbf/iat (not later than now + leeway), sub (a string
 * or number holding a positive integer). Returns TP_OK with *out filled, or
 * TP_ERR_AUTH with err->field = one of the TP_JWT_R_* reasons and err->msg a
 * description that never contains the token. */
int tp_jwt_verify(const unsigned char *key, size_t keylen, const char *token,
		  size_t len, double now, double leeway,
		  struct tp_jwt_claims *out, struct tp_errdetail *err);

/* The signature part of tp_jwt_verify alone: checks shape, header and
 * signature and appends the decoded payload bytes (untouched) to payload.
 * Same return values and reasons. */
int tp_jwt_verify_signature(const unsigned char *key, size_t keylen,
			    const char *token, size_t len, struct tp_buf *payload,
			    struct tp_errdetail *err);

#endif
