/*
 * tls.c - TLS on the listener: the vhost's SSL_CTX policy, loading and
 * checking the certificate files, the certificate swap of a reload (see
 * tls.h).
 *
 * Policy (Mozilla "intermediate"): TLS 1.2 minimum, TLS 1.2 only with
 * ECDHE and AEAD ciphers (AES-GCM, ChaCha20-Poly1305), OpenSSL's TLS 1.3
 * suites, no renegotiation, no compression, server cipher order.
 *
 * All or nothing. Files are loaded into a scratch SSL_CTX first, where the
 * key is checked against the certificate; only a complete, matching set
 * is installed on the live context, in one SSL_CTX_use_cert_and_key call.
 * A reload that would change the key type (RSA -> EC) is refused:
 * OpenSSL keeps one certificate per key type in a context and has no way
 * to drop the old one, so clients could still be offered it.
 *
 * Files are read with blocking stdio: a certificate and a key are a few
 * KiB, read at start and on SIGHUP only.
 *
 * Reading WebSocket sessions (tp_tls_read_source): once reader.c has
 * taken the reads over from lws (lws_rx_flow_control 0: lws neither
 * reads nor fakes POLLIN for what OpenSSL holds decrypted), SSL_read is
 * called on the same SSL lws writes with. OpenSSL allows reads while a
 * write waits to be retried; lws's own reads, before the switch and for a
 * closing session, are sequential with ours on the one loop. Decrypted
 * bytes OpenSSL holds do not make the socket readable, so the source
 * reports them (SSL_pending) and reader.c drains them.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <libwebsockets.h>

#include "reader.h"
#include "io.h"
#include "tickpush/err.h"
#include "tickpush/log.h"
#include "tls.h"

#define TLS12_CIPHERS                                                          \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"          \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"          \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES                                                           \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"                      \
	"TLS_CHACHA20_POLY1305_SHA256"

/* why = "<option> <path>: <what>", what from errno or OpenSSL's queue. */
static int fail(char *why, size_t n, const char *opt, const char *path,
		const char *what)
{
	unsigned long e = ERR_peek_last_error();

	if (!what)
		what = e ? ERR_reason_error_string(e) : NULL;
	snprintf(why, n, "%s %s: %s", opt, path, what ? what : "not usable");
	ERR_clear_error();
	return TP_ERR_INVAL;
}

/* A clearer message than OpenSSL's for the common case: no such file, or
 * not readable by the server's user. */
static bool readable(const char *path, char *why, size_t n, const char *opt)
{
	FILE *f = fopen(path, "rb");

	if (f) {
		fclose(f);
		return true;
	}
	fail(why, n, opt, path, strerror(errno));
	return false;
}

static int add_chain(SSL_CTX *s, const char *path, char *why, size_t n)
{
	BIO *bio;
	X509 *x;
	int count = 0;

	if (!readable(path, why, n, "tls_ca"))
		return TP_ERR_INVAL;
	if (!(bio = BIO_new_file(path, "r")))
		return fail(why, n, "tls_ca", path, NULL);
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		int ok = SSL_CTX_add1_chain_cert(s, x);

		X509_free(x);
		if (ok != 1) {
			BIO_free(bio);
			return fail(why, n, "tls_ca", path, NULL);
		}
		count++;
	}
	BIO_free(bio);
	ERR_clear_error(); /* the end of the file reads as "no start line" */
	return count ? TP_OK
		     : fail(why, n, "tls_ca", path, "no PEM certificate in it");
}

/* A context holding cfg's files, checked; NULL with why filled. */
static SSL_CTX *load_scratch(const struct tp_config *cfg, char *why, size_t n)
{
	SSL_CTX *s;

	ERR_clear_error();
	if (!readable(cfg->tls_cert, why, n, "tls_cert") ||
	    !readable(cfg->tls_key, why, n, "tls_key"))
		return NULL;
	if (!(s = SSL_CTX_new(TLS_server_method()))) {
		fail(why, n, "tls_cert", cfg->tls_cert, "out of memory");
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(s, cfg->tls_cert) != 1)
		fail(why, n, "tls_cert", cfg->tls_cert, NULL);
	else if (SSL_CTX_use_PrivateKey_file(s, cfg->tls_key, SSL_FILETYPE_PEM) != 1)
		fail(why, n, "tls_key", cfg->tls_key, NULL);
	else if (SSL_CTX_check_private_key(s) != 1)
		fail(why, n, "tls_key", cfg->tls_key,
		     "does not match the certificate of tls_cert");
	else if (!*cfg->tls_ca || !add_chain(s, cfg->tls_ca, why, n))
		return s;
	SSL_CTX_free(s);
	return NULL;
}

int tp_tls_check(const struct tp_config *cfg, char *why, size_t n)
{
	SSL_CTX *s;

	if (!*cfg->tls_cert)
		return TP_OK;
	if (!(s = load_scratch(cfg, why, n)))
		return TP_ERR_INVAL;
	SSL_CTX_free(s);
	return TP_OK;
}

int tp_tls_load(SSL_CTX *ctx, const struct tp_config *cfg, char *why,
		size_t n)
{
	SSL_CTX *s = load_scratch(cfg, why, n);
	EVP_PKEY *old = SSL_CTX_get0_privatekey(ctx), *key;
	STACK_OF(X509) *chain = NULL;
	int rc = TP_OK;

	if (!s)
		return TP_ERR_INVAL;
	key = SSL_CTX_get0_privatekey(s);
	SSL_CTX_get0_chain_certs(s, &chain);
	if (old && EVP_PKEY_get_base_id(old) != EVP_PKEY_get_base_id(key))
		rc = fail(why, n, "tls_key", cfg->tls_key,
			  "has another key type than the one in use (a restart "
			  "is needed to change it)");
	else if (SSL_CTX_use_cert_and_key(ctx, SSL_CTX_get0_certificate(s), key,
					  chain, 1) != 1)
		rc = fail(why, n, "tls_cert", cfg->tls_cert, NULL);
	SSL_CTX_free(s);
	return rc;
}

void tp_tls_fingerprint(SSL_CTX *ctx, char *out, size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	X509 *x = ctx ? SSL_CTX_get0_certificate(ctx) : NULL;
	size_t w = 0;

	if (n)
		out[0] = '\0';
	if (!x || X509_digest(x, EVP_sha256(), md, &len) != 1)
		return;
	for (unsigned i = 0; i < len && w + 3 < n; i++)
		w += (size_t)snprintf(out + w, n - w, i ? ":%02X" : "%02X", md[i]);
}

static int set_policy(SSL_CTX *ctx)
{
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
				 SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1)
		return TP_ERR_INVAL;
	return TP_OK;
}

/* lws hands over the vhost's new SSL_CTX: policy, files, remember it. */
static int vhost_ctx(struct lws *wsi, SSL_CTX *ctx)
{
	struct tp_io *srv = lws_context_user(lws_get_context(wsi));
	char why[512], fp[100];

	if (set_policy(ctx)) {
		TP_LOG(TP_LOG_ERR, "msg=\"cannot set the TLS policy\"");
		return 1;
	}
	if (tp_tls_load(ctx, srv->cfg, why, sizeof(why))) {
		TP_LOG(TP_LOG_ERR, "msg=\"cannot load the TLS certificate\" detail=%s",
		       tp_log_q(why));
		return 1;
	}
	srv->tls_ctx = ctx;
	tp_tls_fingerprint(ctx, fp, sizeof(fp));
	TP_LOG(TP_LOG_NOTICE, "msg=\"tls certificate loaded\" cert=%s sha256=%s",
	       tp_log_q(srv->cfg->tls_cert), fp);
	return 0;
}

static lws_callback_function *next_cb;

static int protocol_cb(struct lws *wsi, enum lws_callback_reasons reason,
		       void *user, void *in, size_t len)
{
	if (reason == LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS)
		return vhost_ctx(wsi, user);
	return next_cb(wsi, reason, user, in, len);
}

void tp_tls_wrap_protocol(struct lws_protocols *first)
{
	if (first->callback == protocol_cb)
		return;
	next_cb = first->callback;
	first->callback = protocol_cb;
}

/* read() of reader.h: bytes, 0 at the end of the stream, -1 + errno. */
static ssize_t ssl_read(void *ctx, int fd, void *buf, size_t len)
{
	SSL *ssl = ctx;
	int n, e;

	(void)fd; /* OpenSSL reads the connection's own descriptor */
	ERR_clear_error();
	errno = 0;
	n = SSL_read(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (n > 0)
		return n;
	e = SSL_get_error(ssl, n);
	/* lws looks at the error queue after its own calls: leave it empty. */
	ERR_clear_error();
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE: /* e.g. a record without data: later */
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN: /* close_notify */
		return 0;
	case SSL_ERROR_SYSCALL:
		if (!errno)
			return 0; /* the peer closed without close_notify */
		return -1;
	default:
		errno = EPROTO; /* a bad record: the stream is unusable */
		return -1;
	}
}

static size_t ssl_pending(void *ctx)
{
	return (size_t)SSL_pending(ctx);
}

const struct tp_rconn_source *tp_tls_read_source(struct lws *wsi,
						 struct tp_rconn_source *out)
{
	SSL *ssl = lws_is_ssl(wsi) ? lws_get_ssl(wsi) : NULL;

	if (!ssl)
		return NULL;
	*out = (struct tp_rconn_source){ .read = ssl_read, .pending = ssl_pending,
					 .ctx = ssl };
	return out;
}

unsigned long long tp_tls_lws_options(const struct tp_config *cfg)
{
	unsigned long long o;

	if (!*cfg->tls_cert)
		return 0;
	/* No file names go to lws: vhost_ctx loads them. */
	o = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
	    LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX;
	/* lws peeks at the first bytes: not a TLS hello -> plain HTTP, which
	 * it answers with a 301 to https://<Host>/. Without these options
	 * the failed handshake closes the connection. */
	if (!strcmp(cfg->tls_plain_http, "redirect"))
		o |= LWS_SERVER_OPTION_ALLOW_NON_SSL_ON_SSL_PORT |
		     LWS_SERVER_OPTION_REDIRECT_HTTP_TO_HTTPS;
	return o;
}
