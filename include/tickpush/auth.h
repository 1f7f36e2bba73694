/*
 * auth.h - who a request is: JWT HS256 tokens, the login rate limiter and
 * the cache of accounts known to exist (server/core/auth.c). Password
 * hashes are password.h, base64 is b64.h.
 *
 * Pure: OpenSSL libcrypto and cJSON only, no I/O, the clock is passed in.
 * Nothing here logs; callers must never log tokens or passwords either.
 * Like the rest of tp_core this runs on the loop thread.
 */
#ifndef TICKPUSH_AUTH_H
#define TICKPUSH_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "tickpush/buf.h"
#include "tickpush/err.h"

/* Constant-time equality of two n-byte strings (CRYPTO_memcmp). */
bool tp_ct_equal(const void *a, const void *b, size_t n);

/* ---- JWT (RFC 7519) signed with HS256 (RFC 7515) -------------------- */

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
int tp_jws_hs256_verify(const unsigned char *key, size_t keylen,
			const char *token, size_t len, struct tp_buf *payload,
			struct tp_errdetail *err);

/* ---- login rate limiter ---------------------------------------------- */

/* A token bucket per key (a client address, an account name): each
 * attempt takes one token, tokens refill at rate per second up to burst.
 * At most max_entries keys are tracked; beyond that the least recently
 * seen key is forgotten (which gives that key a fresh bucket: the bound on
 * memory wins). */
struct tp_ratelimit;

struct tp_ratelimit *tp_ratelimit_create(double rate, double burst,
					 size_t max_entries);
void tp_ratelimit_destroy(struct tp_ratelimit *rl); /* NULL-safe */
/* New rate and burst (a reload); tracked keys keep their tokens, at most
 * the new burst. TP_OK or TP_ERR_INVAL (same rules as create). */
int tp_ratelimit_set(struct tp_ratelimit *rl, double rate, double burst);

/* True when key may make an attempt at time now (and takes a token).
 * A clock that goes backwards refills nothing. Out of memory denies. */
bool tp_ratelimit_allow(struct tp_ratelimit *rl, const char *key, double now);
/* Gives back the token an attempt took (at most up to burst), so only
 * some outcomes count (failed logins). Unknown keys: nothing happens. */
void tp_ratelimit_refund(struct tp_ratelimit *rl, const char *key);
/* Seconds until key has a whole token again (0: it has one, or is not
 * tracked): the Retry-After of a refusal. */
double tp_ratelimit_retry_after(const struct tp_ratelimit *rl, const char *key,
				double now);
size_t tp_ratelimit_size(const struct tp_ratelimit *rl);

/* ---- accounts known to exist ----------------------------------------- */

/* What is known about the account a token names (a token stays valid for
 * its lifetime, its user may be deleted meanwhile). The I/O layer asks
 * PostgreSQL and remembers the answers here for a short while, so a busy
 * session does not query for every request. */
enum tp_account_state {
	TP_ACCOUNT_UNKNOWN = 0, /* never checked, or the answer expired */
	TP_ACCOUNT_EXISTS,
	TP_ACCOUNT_GONE,
	TP_ACCOUNT_CHECKING,    /* a check is under way */
};

/* At most max_entries users (least recently used forgotten first). */
struct tp_usercache;

struct tp_usercache *tp_usercache_create(size_t max_entries);
void tp_usercache_destroy(struct tp_usercache *uc); /* NULL-safe */
/* The state of user at now: UNKNOWN once its "until" has passed (the entry
 * is dropped then). */
enum tp_account_state tp_usercache_get(struct tp_usercache *uc, long long user,
				       double now);
/* Remembers state until the time until; UNKNOWN forgets the user.
 * TP_OK, TP_ERR_NOMEM (nothing remembered) or TP_ERR_INVAL (uc NULL). */
int tp_usercache_set(struct tp_usercache *uc, long long user,
		     enum tp_account_state state, double until);
size_t tp_usercache_size(const struct tp_usercache *uc);

#endif
