/*
 * tls.h - TLS on the listener (server/io/tls.c): https and wss on the one
 * port, the certificate loaded, checked and reloaded by tickpush itself.
 *
 * lws creates the vhost's SSL_CTX (LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX,
 * no file names given to lws) and hands it to the first protocol's
 * callback at LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS;
 * tp_tls_protocol_cb intercepts that one reason, sets the policy (TLS 1.2+,
 * forward-secret AEAD ciphers) and loads the files. A reload swaps the
 * certificate, key and chain of that same SSL_CTX in one call
 * (SSL_CTX_use_cert_and_key): SSL_new copies them from the context, so
 * connections accepted later get the new certificate and open sessions
 * keep the one they were accepted with.
 */
#ifndef TICKPUSH_IO_TLS_H
#define TICKPUSH_IO_TLS_H

#include <stddef.h>

#include <libwebsockets.h>

#include "tickpush/config.h"

struct ssl_ctx_st;
struct tp_io;
struct tp_rconn_source;

/* Checks cfg's tls_cert / tls_key / tls_ca (when set): readable PEM, the
 * key matches the certificate. TP_OK, or TP_ERR_INVAL with why filled
 * ("tls_key /path: ..."). No TLS configured = TP_OK. */
int tp_tls_check(const struct tp_config *cfg, char *why, size_t n);

/* Installs cfg's certificate, key and chain on ctx, all or nothing (ctx
 * is unchanged on error). why as above. */
int tp_tls_load(struct ssl_ctx_st *ctx, const struct tp_config *cfg,
		char *why, size_t n);

/* "AB:CD:..." SHA-256 of ctx's certificate (for logs and tests). */
void tp_tls_fingerprint(struct ssl_ctx_st *ctx, char *out, size_t n);

/* Wraps the first protocol's callback (server.c's copy of http.c's
 * table): the vhost's SSL_CTX is set up here and stored in srv->tls_ctx,
 * every other reason goes to the original callback. */
void tp_tls_wrap_protocol(struct lws_protocols *first);

/* The WebSocket read path's source for a TLS connection (reader.h):
 * SSL_read on the connection's SSL, and what OpenSSL holds decrypted.
 * Fills *out and returns it; NULL when wsi is not TLS. */
const struct tp_rconn_source *tp_tls_read_source(struct lws *wsi,
						 struct tp_rconn_source *out);

/* The lws creation options for cfg (0 without TLS). */
unsigned long long tp_tls_lws_options(const struct tp_config *cfg);

#endif
