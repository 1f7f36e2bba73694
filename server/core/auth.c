/*
 * auth.c - JWT HS256, the login rate limiter and the cache of accounts
 * known to exist (see auth.h).
 *
 * Design:
 * - Everything that decides "who is this" is strict and fails closed: the
 *   JSON parts of a token must be single objects with no duplicate keys and
 *   no trailing bytes (its base64 is strict too, b64.c), and any doubt is a
 *   rejection with a named reason.
 * - tp_jwt_verify checks the header and the signature before it looks at the
 *   payload. The MAC comparison is constant time (CRYPTO_memcmp). A token is
 *   bounded (TP_JWT_MAX_LEN) before it is read, so every decode below fits
 *   in fixed stack buffers.
 * - The rate limiter (a tp_tbucket per key) and the user cache (an
 *   account state and its expiry per user id) share one bounded map: a
 *   tp_dict plus a tp_lru list threaded through the entries, so forgetting
 *   the least recently used key when the map is full is O(1).
 *
 * Ownership: callers own every buffer; the rate limiter and the user cache
 * own their entries. MACs are wiped from the stack after use.
 */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tickpush/alloc.h"
#include "tickpush/ascii.h"
#include "tickpush/auth.h"
#include "tickpush/b64.h"
#include "tickpush/dict.h"
#include "tickpush/lru.h"
#include "tickpush/tbucket.h"

bool tp_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

/* ---- JWT ---------------------------------------------------------------- */

#define MAC_LEN 32                                /* HMAC-SHA256 */
#define PART_MAX (TP_JWT_MAX_LEN / 4 * 3 + 3)     /* decoded bytes of any part */

static const char jwt_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static bool hmac_sha256(const unsigned char *key, size_t keylen,
			const void *data, size_t n, unsigned char mac[MAC_LEN])
{
	unsigned int maclen = 0;

	if (keylen > INT_MAX)
		return false;
	return HMAC(EVP_sha256(), key, (int)keylen, data, n, mac, &maclen) &&
	       maclen == MAC_LEN;
}

int tp_jwt_sign(const unsigned char *key, size_t keylen, long long sub,
		double iat, double exp, struct tp_buf *out)
{
	struct tp_buf payload;
	unsigned char mac[MAC_LEN];
	size_t start = out->len;
	int rc = TP_ERR_NOMEM;

	if (!key || !keylen || sub <= 0 || !isfinite(iat) || !isfinite(exp))
		return TP_ERR_INVAL;
	tp_buf_init(&payload, 0);
	tp_buf_printf(&payload, "{\"sub\":\"%lld\",\"iat\":", sub);
	tp_buf_json_num(&payload, iat);
	tp_buf_puts(&payload, ",\"exp\":");
	tp_buf_json_num(&payload, exp);
	tp_buf_putc(&payload, '}');
	if (payload.oom)
		goto fail;
	if (tp_b64url_encode(jwt_header, strlen(jwt_header), out))
		goto fail;
	tp_buf_putc(out, '.');
	if (out->oom || tp_b64url_encode(tp_buf_data(&payload), payload.len, out))
		goto fail;
	if (!hmac_sha256(key, keylen, tp_buf_data(out) + start,
			 out->len - start, mac)) {
		rc = TP_ERR_INVAL;
		goto fail;
	}
	tp_buf_putc(out, '.');
	if (tp_b64url_encode(mac, sizeof(mac), out) || out->oom)
		goto fail;
	rc = TP_OK;
fail:
	if (rc != TP_OK && !out->oom)
		out->len = start;
	OPENSSL_cleanse(mac, sizeof(mac));
	tp_buf_cleanup(&payload);
	return rc;
}

static int reject(struct tp_errdetail *err, const char *reason, const char *msg)
{
	return tp_errdetail_set(err, TP_ERR_AUTH, reason, "invalid token: %s", msg);
}

/* Parses n decoded bytes as exactly one JSON object: no NUL inside, nothing
 * but whitespace after it, no duplicate member names (RFC 7515 5.2 lets us
 * reject them, which avoids parser disagreements about which one counts). */
static cJSON *parse_object(const unsigned char *p, size_t n)
{
	const char *end = NULL;
	cJSON *root;

	if (memchr(p, '\0', n))
		return NULL;
	root = cJSON_ParseWithLengthOpts((const char *)p, n, &end, 0);
	if (!root)
		return NULL;
	while (end && end < (const char *)p + n &&
	       (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end != (const char *)p + n || !cJSON_IsObject(root))
		goto fail;
	for (const cJSON *a = root->child; a; a = a->next)
		for (const cJSON *b = a->next; b; b = b->next)
			if (!a->string || !b->string ||
			    strcmp(a->string, b->string) == 0)
				goto fail;
	return root;
fail:
	cJSON_Delete(root);
	return NULL;
}

static int check_header(const unsigned char *h, size_t n,
			struct tp_errdetail *err)
{
	cJSON *root = parse_object(h, n);
	const cJSON *alg, *typ;
	int rc = TP_OK;

	if (!root)
		return reject(err, TP_JWT_R_BAD_JSON, "header is not a JSON object");
	alg = cJSON_GetObjectItemCaseSensitive(root, "alg");
	typ = cJSON_GetObjectItemCaseSensitive(root, "typ");
	if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0)
		rc = reject(err, TP_JWT_R_BAD_ALG, "algorithm must be HS256");
	else if (typ && (!cJSON_IsString(typ) ||
			 !tp_ascii_ieq(typ->valuestring, "JWT")))
		rc = reject(err, TP_JWT_R_BAD_FORMAT, "typ must be JWT");
	else if (cJSON_GetObjectItemCaseSensitive(root, "crit"))
		rc = reject(err, TP_JWT_R_BAD_FORMAT, "crit is not supported");
	cJSON_Delete(root);
	return rc;
}

/* Checks shape, header and signature; decodes the payload into pl (at
 * least PART_MAX bytes). */
static int jws_verify(const unsigned char *key, size_t keylen,
		      const char *token, size_t len, unsigned char *pl,
		      size_t *pllen, struct tp_errdetail *err)
{
	unsigned char part[PART_MAX], mac[MAC_LEN];
	const char *d1, *d2;
	size_t hlen, plen, slen, n;
	int rc;

	if (!key || !keylen)
		return reject(err, TP_JWT_R_BAD_KEY, "no signing key configured");
	if (len > TP_JWT_MAX_LEN)
		return reject(err, TP_JWT_R_TOO_LONG, "token too long");
	if (!token || !len)
		return reject(err, TP_JWT_R_BAD_FORMAT, "empty token");
	d1 = memchr(token, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
	if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
		return reject(err, TP_JWT_R_BAD_FORMAT,
			      "expected three dot-separated parts");
	hlen = (size_t)(d1 - token);
	plen = (size_t)(d2 - d1 - 1);
	slen = len - (size_t)(d2 + 1 - token);
	if (!hlen || !plen)
		return reject(err, TP_JWT_R_BAD_FORMAT, "empty header or payload");

	if (tp_b64url_decode(token, hlen, part, sizeof(part), &n))
		return reject(err, TP_JWT_R_BAD_BASE64, "header is not base64url");
	if ((rc = check_header(part, n, err)))
		return rc;

	if (!slen)
		return reject(err, TP_JWT_R_BAD_SIGNATURE, "missing signature");
	rc = tp_b64url_decode(d2 + 1, slen, part, sizeof(part), &n);
	if (rc == TP_ERR_INVAL)
		return reject(err, TP_JWT_R_BAD_BASE64, "signature is not base64url");
	if (rc || n != MAC_LEN)
		return reject(err, TP_JWT_R_BAD_SIGNATURE, "bad signature length");
	if (!hmac_sha256(key, keylen, token, (size_t)(d2 - token), mac))
		return reject(err, TP_JWT_R_BAD_KEY, "cannot compute HMAC");
	rc = CRYPTO_memcmp(mac, part, MAC_LEN);
	OPENSSL_cleanse(mac, sizeof(mac));
	if (rc)
		return reject(err, TP_JWT_R_BAD_SIGNATURE, "signature mismatch");

	if (tp_b64url_decode(d1 + 1, plen, pl, PART_MAX, pllen))
		return reject(err, TP_JWT_R_BAD_BASE64, "payload is not base64url");
	return TP_OK;
}

int tp_jws_hs256_verify(const unsigned char *key, size_t keylen,
			const char *token, size_t len, struct tp_buf *payload,
			struct tp_errdetail *err)
{
	unsigned char pl[PART_MAX];
	size_t n;
	int rc = jws_verify(key, keylen, token, len, pl, &n, err);

	if (rc)
		return rc;
	tp_buf_append(payload, pl, n);
	return payload->oom ? TP_ERR_NOMEM : TP_OK;
}

/* A positive integer user id from a string of canonical decimal digits or
 * from an integral JSON number (exact in a double: at most 2^53). */
static bool parse_sub(const cJSON *sub, long long *out)
{
	if (cJSON_IsString(sub)) {
		const char *s = sub->valuestring;
		long long v = 0;

		if (!s[0] || s[0] == '0' || strlen(s) > 19)
			return false;
		for (; *s; s++) {
			if (*s < '0' || *s > '9' ||
			    v > (LLONG_MAX - (*s - '0')) / 10)
				return false;
			v = v * 10 + (*s - '0');
		}
		*out = v;
		return true;
	}
	if (cJSON_IsNumber(sub)) {
		double d = sub->valuedouble;

		if (!isfinite(d) || d < 1 || d > 9007199254740992.0 || d != floor(d))
			return false;
		*out = (long long)d;
		return true;
	}
	return false;
}

/* Reads an optional NumericDate claim: 0 absent, 1 present, -1 wrong type. */
static int numeric_date(const cJSON *root, const char *name, double *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, name);

	if (!it)
		return 0;
	if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
		return -1;
	*out = it->valuedouble;
	return 1;
}

int tp_jwt_verify(const unsigned char *key, size_t keylen, const char *token,
		  size_t len, double now, double leeway,
		  struct tp_jwt_claims *out, struct tp_errdetail *err)
{
	unsigned char pl[PART_MAX];
	cJSON *root = NULL;
	const cJSON *sub;
	double exp = 0, nbf = 0, iat = 0;
	int has_exp, has_nbf, has_iat, rc;
	long long id = 0;
	size_t n;

	if ((rc = jws_verify(key, keylen, token, len, pl, &n, err)))
		return rc;
	if (!(leeway > 0))
		leeway = 0; /* also catches NaN */
	if (!(root = parse_object(pl, n)))
		return reject(err, TP_JWT_R_BAD_JSON, "payload is not a JSON object");
	has_exp = numeric_date(root, "exp", &exp);
	has_nbf = numeric_date(root, "nbf", &nbf);
	has_iat = numeric_date(root, "iat", &iat);
	sub = cJSON_GetObjectItemCaseSensitive(root, "sub");
	/* Negated comparisons so a NaN clock rejects instead of accepting. */
	if (has_exp < 0 || has_nbf < 0 || has_iat < 0)
		rc = reject(err, TP_JWT_R_BAD_JSON, "exp, nbf and iat must be numbers");
	else if (!has_exp)
		rc = reject(err, TP_JWT_R_MISSING_EXP, "no exp claim");
	else if (!(now < exp + leeway))
		rc = reject(err, TP_JWT_R_EXPIRED, "token expired");
	else if (has_nbf && !(nbf <= now + leeway))
		rc = reject(err, TP_JWT_R_NOT_YET_VALID, "token not valid yet (nbf)");
	else if (has_iat && !(iat <= now + leeway))
		rc = reject(err, TP_JWT_R_NOT_YET_VALID, "token issued in the future");
	else if (!sub || cJSON_IsNull(sub))
		rc = reject(err, TP_JWT_R_MISSING_SUB, "no sub claim");
	else if (!parse_sub(sub, &id))
		rc = reject(err, TP_JWT_R_BAD_SUB, "sub is not a user id");
	cJSON_Delete(root);
	if (rc)
		return rc;
	if (out) {
		out->sub = id;
		out->iat = has_iat ? iat : 0;
		out->exp = exp;
	}
	return TP_OK;
}

/* ---- bounded LRU map (rate limiter, user cache) -------------------------- */

/* One entry per key; the owner's numbers live in the union. Entries are
 * on a tp_lru list, so forgetting the least recently used one when the map
 * is full is O(1). */
struct lru_entry {
	struct tp_lru_node link;
	union {
		struct tp_tbucket bucket;                      /* tp_ratelimit */
		struct { double until; int state; } account;   /* tp_usercache */
	} u;
	char key[];
};

struct lru {
	struct tp_dict *map; /* key -> struct lru_entry */
	struct tp_lru list;
	size_t max;
};

static struct lru_entry *entry_of(struct tp_lru_node *n)
{
	return n ? tp_lru_entry(n, struct lru_entry, link) : NULL;
}

static int lru_init(struct lru *l, size_t max)
{
	memset(l, 0, sizeof(*l));
	l->max = max;
	return (l->map = tp_dict_create()) ? TP_OK : TP_ERR_NOMEM;
}

static void lru_cleanup(struct lru *l)
{
	struct lru_entry *e, *next;

	for (e = entry_of(l->list.head); e; e = next) {
		next = entry_of(e->link.next);
		tp_free(e);
	}
	tp_dict_destroy(l->map);
	memset(l, 0, sizeof(*l));
}

static void lru_del(struct lru *l, struct lru_entry *e)
{
	tp_lru_unlink(&l->list, &e->link);
	tp_dict_del(l->map, e->key);
	tp_free(e);
}

/* The entry of key made the most recent, or NULL. */
static struct lru_entry *lru_touch(struct lru *l, const char *key)
{
	struct lru_entry *e = tp_dict_get(l->map, key);

	if (e)
		tp_lru_touch(&l->list, &e->link);
	return e;
}

/* A new, zeroed entry for key (not in the map), the most recent; the
 * least recent one goes when the map is full. NULL when out of memory. */
static struct lru_entry *lru_add(struct lru *l, const char *key)
{
	size_t klen = strlen(key);
	struct lru_entry *e;

	if (tp_dict_size(l->map) >= l->max)
		lru_del(l, entry_of(l->list.tail));
	if (!(e = tp_calloc(1, sizeof(*e) + klen + 1)))
		return NULL;
	memcpy(e->key, key, klen + 1);
	if (tp_dict_set(l->map, key, e, NULL)) {
		tp_free(e);
		return NULL;
	}
	tp_lru_push(&l->list, &e->link);
	return e;
}

/* ---- rate limiter ------------------------------------------------------- */

struct tp_ratelimit {
	struct lru keys;
	double rate, burst;
};

struct tp_ratelimit *tp_ratelimit_create(double rate, double burst,
					 size_t max_entries)
{
	struct tp_ratelimit *rl;

	if (!(rate > 0) || !isfinite(rate) || !(burst >= 1) ||
	    !isfinite(burst) || !max_entries)
		return NULL;
	if (!(rl = tp_calloc(1, sizeof(*rl))))
		return NULL;
	if (lru_init(&rl->keys, max_entries)) {
		tp_free(rl);
		return NULL;
	}
	rl->rate = rate;
	rl->burst = burst;
	return rl;
}

int tp_ratelimit_set(struct tp_ratelimit *rl, double rate, double burst)
{
	if (!(rate > 0) || !isfinite(rate) || !(burst >= 1) || !isfinite(burst))
		return TP_ERR_INVAL;
	/* Buckets above the new burst are cut down when next used. */
	rl->rate = rate;
	rl->burst = burst;
	return TP_OK;
}

void tp_ratelimit_destroy(struct tp_ratelimit *rl)
{
	if (!rl)
		return;
	lru_cleanup(&rl->keys);
	tp_free(rl);
}

bool tp_ratelimit_allow(struct tp_ratelimit *rl, const char *key, double now)
{
	struct lru_entry *e;

	if (!rl || !key)
		return false;
	if (!(e = lru_touch(&rl->keys, key))) {
		if (!(e = lru_add(&rl->keys, key)))
			return false;
		e->u.bucket.last = now; /* a zeroed bucket is full */
	}
	return tp_tbucket_take(&e->u.bucket, rl->rate, rl->burst, now);
}

void tp_ratelimit_refund(struct tp_ratelimit *rl, const char *key)
{
	struct lru_entry *e = rl && key ? tp_dict_get(rl->keys.map, key) : NULL;

	if (e)
		tp_tbucket_refund(&e->u.bucket);
}

double tp_ratelimit_retry_after(const struct tp_ratelimit *rl, const char *key,
				double now)
{
	struct lru_entry *e = rl && key ? tp_dict_get(rl->keys.map, key) : NULL;

	return e ? tp_tbucket_wait(&e->u.bucket, rl->rate, rl->burst, now) : 0;
}

size_t tp_ratelimit_size(const struct tp_ratelimit *rl)
{
	return rl ? tp_dict_size(rl->keys.map) : 0;
}

/* ---- accounts known to exist -------------------------------------------- */

struct tp_usercache {
	struct lru users; /* decimal user id -> account state, until */
};

struct tp_usercache *tp_usercache_create(size_t max_entries)
{
	struct tp_usercache *uc;

	if (!max_entries || !(uc = tp_calloc(1, sizeof(*uc))))
		return NULL;
	if (lru_init(&uc->users, max_entries)) {
		tp_free(uc);
		return NULL;
	}
	return uc;
}

void tp_usercache_destroy(struct tp_usercache *uc)
{
	if (!uc)
		return;
	lru_cleanup(&uc->users);
	tp_free(uc);
}

enum tp_account_state tp_usercache_get(struct tp_usercache *uc, long long user,
				       double now)
{
	char key[24];
	struct lru_entry *e;

	if (!uc)
		return TP_ACCOUNT_UNKNOWN;
	snprintf(key, sizeof(key), "%lld", user);
	if (!(e = lru_touch(&uc->users, key)))
		return TP_ACCOUNT_UNKNOWN;
	if (!(now < e->u.account.until)) { /* expired (or a NaN clock) */
		lru_del(&uc->users, e);
		return TP_ACCOUNT_UNKNOWN;
	}
	return (enum tp_account_state)e->u.account.state;
}

int tp_usercache_set(struct tp_usercache *uc, long long user,
		     enum tp_account_state state, double until)
{
	char key[24];
	struct lru_entry *e;

	if (!uc)
		return TP_ERR_INVAL;
	snprintf(key, sizeof(key), "%lld", user);
	e = lru_touch(&uc->users, key);
	if (state == TP_ACCOUNT_UNKNOWN) {
		if (e)
			lru_del(&uc->users, e);
		return TP_OK;
	}
	if (!e && !(e = lru_add(&uc->users, key)))
		return TP_ERR_NOMEM;
	e->u.account.state = (int)state;
	e->u.account.until = until;
	return TP_OK;
}

size_t tp_usercache_size(const struct tp_usercache *uc)
{
	return uc ? tp_dict_size(uc->users.map) : 0;
}
