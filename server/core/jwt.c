/*
 * jwt.c - JWT (RFC 7519) signed and verified with HS256 (RFC 7515): the
 * session tokens of the REST API and the push transports (see jwt.h).
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
 *
 * Ownership: callers own every buffer. MACs are wiped from the stack after
 * use.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tickpush/ascii.h"
#include "tickpush/b64.h"
#include "tickpush/jwt.h"


#define MAC_LEN 32                                /* HMAC-SHA256 */
#define PART_MAX (TP_JWT_MAX_LEN / 4 * 3 + 3)     /* decoded bytes of any part */

/* Fixed bytes: every token we sign has this exact header. */
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
	char subtext[24]; /* sub is a string claim (StringOrURI) */
	size_t start = out->len;
	int rc = TP_ERR_NOMEM;

	if (!key || !keylen || sub <= 0 || !isfinite(iat) || !isfinite(exp))
		return TP_ERR_INVAL;
	tp_buf_init(&payload, 0);
	snprintf(subtext, sizeof(subtext), "%lld", sub);
	tp_buf_putc(&payload, '{');
	tp_buf_json_key(&payload, "sub", true);
	tp_buf_json_str(&payload, subtext);
	tp_buf_json_kv_num(&payload, "iat", iat);
	tp_buf_json_kv_num(&payload, "exp", exp);
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

int tp_jwt_verify_signature(const unsigned char *key, size_t keylen,
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
