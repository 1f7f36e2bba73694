/*
 * reload.c - SIGHUP: the configuration re-read and applied without a
 * restart (see reload.h; what changes live is decided by the pure
 * server/core/confdiff.c).
 *
 * Order, so that a bad configuration changes nothing:
 *   1. load the same sources as at start (--config file, environment,
 *      flags) into a new struct: every option validated as at start;
 *   2. diff against the configuration in force; options that need a
 *      restart get their running value back (logged as such);
 *   3. TLS: the certificate files are loaded and checked, then installed
 *      on the vhost's SSL_CTX all at once (tls.c) - also when the paths
 *      did not change, since renewed certificates replace files in place;
 *   Anything failing so far: the reload is refused, logged with what is
 *   wrong, counted (config_reload_errors); the old configuration stays.
 *   4. commit: srv->cfg points at the new struct (modules read live
 *      options through it on each use), and what is held elsewhere is
 *      applied: log level and format, trusted proxies, login limits, the
 *      JWT key.
 *
 * A replaced configuration is kept until shutdown, since modules may hold
 * pointers to its strings (e.g. pg.c's conninfo); a reload costs a few
 * KiB. Reading a small file is the only blocking step on the loop.
 *
 * JWT secret rotation: the previous key is copied and accepted by
 * tp_token_verify until jwt_previous_grace seconds after the reload; new
 * tokens are signed with the new one only.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "accounts.h"
#include "reload.h"
#include "io.h"
#include "tls.h"
#include "tickpush/alloc.h"
#include "tickpush/clock.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"
#include "tickpush/netaddr.h"
#include "tickpush/ratelimit.h"
#include "tickpush/confdiff.h"

extern char **environ;

struct tp_reload_cfg {
	struct tp_config cfg;
	struct tp_reload_cfg *next;
};

static const char *src_path;
static int src_argc;
static char *const *src_argv;

void tp_reload_source(const char *path, int argc, char *const *argv)
{
	src_path = path;
	src_argc = argc;
	src_argv = argv;
}

static int refuse(const char *why)
{
	TP_LOG(TP_LOG_ERR, "msg=\"config reload refused, the running configuration is kept\" error=%s",
	       tp_log_q(why));
	TP_METRIC_INC(config_reload_errors);
	return TP_ERR_INVAL;
}

static void set_jwt_key(struct tp_io *srv, const struct tp_config *cur)
{
	unsigned char *prev = tp_malloc(srv->jwt_key_len);

	if (!prev) {
		/* The new key still goes into force; old tokens stop now. */
		TP_LOG(TP_LOG_WARN, "msg=\"out of memory: the previous JWT secret is not kept\"");
	} else {
		memcpy(prev, srv->jwt_key, srv->jwt_key_len);
	}
	if (srv->jwt_prev_key)
		OPENSSL_cleanse(srv->jwt_prev_key, srv->jwt_prev_len);
	tp_free(srv->jwt_prev_key);
	srv->jwt_prev_key = prev;
	srv->jwt_prev_len = prev ? srv->jwt_key_len : 0;
	srv->jwt_prev_until = tp_now() + cur->jwt_previous_grace;
	srv->jwt_key = (const unsigned char *)cur->jwt_secret;
	srv->jwt_key_len = strlen(cur->jwt_secret);
}

/* Live options held outside srv->cfg. */
static void apply(struct tp_io *srv, const struct tp_config *cur,
		  const struct tp_confdiff_change *ch, size_t n)
{
	struct tp_ratelimit *per_account = tp_accounts_login_limit(srv);
	int level = tp_log_level_parse(cur->log_level);
	struct tp_cidr_list proxies;

	if (level >= 0)
		tp_log_min_level = (enum tp_log_level)level;
	tp_log_format = tp_log_format_parse(cur->log_format) == TP_LOG_JSON ? TP_LOG_JSON
									     : TP_LOG_KEYVALUE;
	/* Validated by config.c: parsing again cannot fail. */
	if (!tp_cidr_list_parse(cur->trusted_proxies, &proxies, NULL))
		srv->trusted_proxies = proxies;
	if (srv->login_rl)
		(void)tp_ratelimit_set(srv->login_rl, cur->login_rate, cur->login_burst);
	if (per_account)
		(void)tp_ratelimit_set(per_account, cur->login_account_rate,
				       cur->login_account_burst);
	for (size_t i = 0; i < n; i++)
		if (ch[i].live && !strcmp(ch[i].opt->name, "jwt_secret"))
			set_jwt_key(srv, cur);
}

#define VALUE_LOG 160 /* bytes of a value shown in the log */

/* newv[i]: change i's value as loaded (before restart-only options got
 * their running value back). */
static void log_changes(const struct tp_config *old, const char (*newv)[VALUE_LOG],
			const struct tp_confdiff_change *ch, size_t n)
{
	char a[VALUE_LOG];

	for (size_t i = 0; i < n; i++) {
		tp_confdiff_value(old, ch[i].opt, a, sizeof(a));
		if (ch[i].live)
			TP_LOG(TP_LOG_NOTICE, "msg=\"config changed\" option=%s old=%s new=%s",
			       ch[i].opt->name, tp_log_q(a), tp_log_q(newv[i]));
		else
			TP_LOG(TP_LOG_WARN, "msg=\"config change needs a restart, running value kept\" option=%s running=%s new=%s",
			       ch[i].opt->name, tp_log_q(a), tp_log_q(newv[i]));
	}
}

/* The certificate files, again (they may have been renewed in place). */
static int reload_tls(struct tp_io *srv, const struct tp_config *cur)
{
	char why[512], before[100], after[100];

	if (!srv->tls_ctx)
		return TP_OK;
	tp_tls_fingerprint(srv->tls_ctx, before, sizeof(before));
	if (tp_tls_load(srv->tls_ctx, cur, why, sizeof(why)))
		return refuse(why);
	tp_tls_fingerprint(srv->tls_ctx, after, sizeof(after));
	if (strcmp(before, after))
		TP_LOG(TP_LOG_NOTICE, "msg=\"tls certificate replaced: new connections get it\" cert=%s sha256=%s",
		       tp_log_q(cur->tls_cert), after);
	else
		TP_LOG(TP_LOG_NOTICE, "msg=\"tls certificate unchanged\" cert=%s sha256=%s",
		       tp_log_q(cur->tls_cert), after);
	return TP_OK;
}

int tp_reload_now(struct tp_io *srv)
{
	struct tp_errdetail err = {{0}, NULL};
	const struct tp_config *old = srv->cfg;
	struct tp_reload_cfg *node = tp_calloc(1, sizeof(*node));
	struct tp_confdiff_change *ch;
	char (*newv)[VALUE_LOG];
	size_t n_opts, n;
	int rc = TP_ERR_NOMEM;

	(void)tp_config_options(&n_opts);
	ch = tp_calloc(n_opts, sizeof(*ch));
	newv = tp_calloc(n_opts, sizeof(*newv));
	if (!node || !ch || !newv) {
		refuse("out of memory");
		goto out;
	}
	if (tp_config_load(&node->cfg, src_path, environ, src_argc, src_argv, &err)) {
		rc = refuse(err.msg);
		goto out;
	}
	n = tp_confdiff(old, &node->cfg, ch, n_opts);
	for (size_t i = 0; i < n; i++)
		tp_confdiff_value(&node->cfg, ch[i].opt, newv[i], sizeof(newv[i]));
	if (tp_confdiff_keep_restart(&node->cfg, old, ch, n)) {
		rc = refuse("out of memory");
		goto out;
	}
	if ((rc = reload_tls(srv, &node->cfg)))
		goto out;
	log_changes(old, (const char (*)[VALUE_LOG])newv, ch, n);
	srv->cfg = &node->cfg;
	node->next = srv->reloaded;
	srv->reloaded = node;
	node = NULL;
	apply(srv, srv->cfg, ch, n);
	TP_METRIC_INC(config_reloads);
	TP_LOG(TP_LOG_NOTICE, "msg=\"config reloaded\" file=%s changed=%zu",
	       tp_log_q(src_path ? src_path : ""), n);
out:
	if (node)
		tp_config_cleanup(&node->cfg);
	tp_free(node);
	tp_free(ch);
	tp_free(newv);
	return rc;
}

static void on_hup(uv_signal_t *s, int signum)
{
	struct tp_io *srv = s->data;

	TP_LOG(TP_LOG_NOTICE, "msg=\"signal received\" signal=%d action=reload", signum);
	if (!srv->stopping)
		(void)tp_reload_now(srv);
}

void tp_reload_init(struct tp_io *srv)
{
	uv_signal_init(&srv->loop, &srv->sig_hup);
	srv->sig_hup.data = srv;
	uv_signal_start(&srv->sig_hup, on_hup, SIGHUP);
	/* A pending signal must not keep the loop alive at shutdown. */
	uv_unref((uv_handle_t *)&srv->sig_hup);
}

static void handle_closed(uv_handle_t *h)
{
	(void)h;
}

void tp_reload_close(struct tp_io *srv)
{
	if (!uv_is_closing((uv_handle_t *)&srv->sig_hup))
		uv_close((uv_handle_t *)&srv->sig_hup, handle_closed);
}

void tp_reload_cleanup(struct tp_io *srv)
{
	while (srv->reloaded) {
		struct tp_reload_cfg *next = srv->reloaded->next;

		tp_config_cleanup(&srv->reloaded->cfg);
		tp_free(srv->reloaded);
		srv->reloaded = next;
	}
	if (srv->jwt_prev_key)
		OPENSSL_cleanse(srv->jwt_prev_key, srv->jwt_prev_len);
	tp_free(srv->jwt_prev_key);
	srv->jwt_prev_key = NULL;
	srv->jwt_prev_len = 0;
}

int tp_token_verify(struct tp_io *srv, const char *token, double now,
		    struct tp_jwt_claims *claims, struct tp_errdetail *err)
{
	size_t len = strlen(token);
	int rc;

	if (!srv->jwt_key_len)
		return tp_errdetail_set(err, TP_ERR_AUTH, TP_JWT_R_BAD_KEY,
					"no JWT secret configured");
	rc = tp_jwt_verify(srv->jwt_key, srv->jwt_key_len, token, len, now, 30,
			   claims, err);
	if (rc && err->field && !strcmp(err->field, TP_JWT_R_BAD_SIGNATURE) &&
	    srv->jwt_prev_len && now < srv->jwt_prev_until)
		rc = tp_jwt_verify(srv->jwt_prev_key, srv->jwt_prev_len, token,
				   len, now, 30, claims, err);
	return rc;
}
