/*
 * confdiff.c - the pure half of a configuration reload (see confdiff.h):
 * which options changed, which of them apply live, restoring the rest.
 *
 * Walks the config table (tp_config_options), so a new option is covered
 * with no change here: it needs a restart until it is added to `live`
 * below, which is the safe default (the server may have copied its value
 * at start).
 */
#include <stdio.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/confdiff.h"

/* Options the running server picks up from srv->cfg on every use, or that
 * server/io/reload.c applies. */
static const char *const live[] = {
	"log_level",
	"log_format",
	"allowed_origins",
	"cors_origins",
	"trusted_proxies",
	"metrics_token",
	"require_auth_everywhere",
	"token_ttl",
	"jwt_secret",
	"jwt_previous_grace",
	"login_rate",
	"login_burst",
	"login_account_rate",
	"login_account_burst",
	"user_check_ttl",
	"ws_rate",
	"ws_burst",
	"ws_queue_max_bytes",
	"ws_idle_timeout",
	"ws_auth_timeout",
	"http_idle_timeout",
	"tls_cert",
	"tls_key",
	"tls_ca",
};

bool tp_confdiff_is_live(const char *name)
{
	for (size_t i = 0; i < TP_ARRAY_SIZE(live); i++)
		if (!strcmp(live[i], name))
			return true;
	return false;
}

#define CFIELD(cfg, o, type)                                                   \
	((const type *)(const void *)((const char *)(cfg) + (o)->offset))

static const char *str_of(const struct tp_config *cfg,
			  const struct tp_config_option *o)
{
	const char *v = *CFIELD(cfg, o, char *);

	return v ? v : "";
}

static bool differs(const struct tp_config *a, const struct tp_config *b,
		    const struct tp_config_option *o)
{
	switch (o->type) {
	case TP_CONFIG_STRING:
		return strcmp(str_of(a, o), str_of(b, o)) != 0;
	case TP_CONFIG_INT:
		return *CFIELD(a, o, int) != *CFIELD(b, o, int);
	case TP_CONFIG_DOUBLE:
		return *CFIELD(a, o, double) != *CFIELD(b, o, double);
	case TP_CONFIG_BOOL:
		return *CFIELD(a, o, bool) != *CFIELD(b, o, bool);
	}
	return true;
}

static bool is_live(const struct tp_config *old, const struct tp_config *cur,
		    const struct tp_config_option *o)
{
	if (!tp_confdiff_is_live(o->name))
		return false;
	if (!strncmp(o->name, "tls_", 4))
		return *old->tls_cert && *cur->tls_cert;
	if (!strcmp(o->name, "jwt_secret"))
		return *old->jwt_secret && *cur->jwt_secret;
	return true;
}

size_t tp_confdiff(const struct tp_config *old, const struct tp_config *cur,
		      struct tp_confdiff_change *out, size_t max)
{
	size_t n_opts, n = 0;
	const struct tp_config_option *opts = tp_config_options(&n_opts);

	for (size_t i = 0; i < n_opts; i++) {
		if (!differs(old, cur, &opts[i]))
			continue;
		if (n < max) {
			out[n].opt = &opts[i];
			out[n].live = is_live(old, cur, &opts[i]);
		}
		n++;
	}
	return n;
}

int tp_confdiff_keep_restart(struct tp_config *cur, const struct tp_config *old,
			   const struct tp_confdiff_change *changes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct tp_config_option *o = changes[i].opt;
		void *dst = (char *)cur + o->offset;
		const void *src = (const char *)old + o->offset;
		char *copy;

		if (changes[i].live)
			continue;
		switch (o->type) {
		case TP_CONFIG_STRING:
			if (!(copy = tp_strdup(str_of(old, o))))
				return TP_ERR_NOMEM;
			tp_free(*(char **)dst);
			*(char **)dst = copy;
			break;
		case TP_CONFIG_INT:
			memcpy(dst, src, sizeof(int));
			break;
		case TP_CONFIG_DOUBLE:
			memcpy(dst, src, sizeof(double));
			break;
		case TP_CONFIG_BOOL:
			memcpy(dst, src, sizeof(bool));
			break;
		}
	}
	return TP_OK;
}

const char *tp_confdiff_value(const struct tp_config *cfg,
			    const struct tp_config_option *o, char *out,
			    size_t n)
{
	switch (o->type) {
	case TP_CONFIG_STRING:
		if ((o->flags & TP_CONFIG_SECRET) && *str_of(cfg, o))
			snprintf(out, n, "***");
		else
			snprintf(out, n, "%s", str_of(cfg, o));
		break;
	case TP_CONFIG_INT:
		snprintf(out, n, "%d", *CFIELD(cfg, o, int));
		break;
	case TP_CONFIG_DOUBLE:
		snprintf(out, n, "%.15g", *CFIELD(cfg, o, double));
		break;
	case TP_CONFIG_BOOL:
		snprintf(out, n, "%s", *CFIELD(cfg, o, bool) ? "yes" : "no");
		break;
	}
	return out;
}
