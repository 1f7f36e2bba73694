/*
 * confdiff.h - what a configuration reload changes (server/core/confdiff.c),
 * the pure half of SIGHUP (the I/O half is server/io/reload.c).
 *
 * tp_confdiff compares the configuration in force with a newly loaded,
 * valid one, option by option (the config table), and says for each
 * changed option whether it applies live or needs a restart. Live options
 * are those the server reads through srv->cfg each time it uses them, or
 * that server/io/reload.c applies (log level, login limits, JWT secret,
 * TLS certificate). tp_confdiff_keep_restart then copies the old value of
 * every restart-only option into the new configuration, so that the one
 * that goes into force states what is really in force.
 */
#ifndef TICKPUSH_CONFDIFF_H
#define TICKPUSH_CONFDIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "tickpush/config.h"

struct tp_confdiff_change {
	const struct tp_config_option *opt;
	bool live;             /* false: needs a restart, old value kept */
};

/* The changed options, in table order, at most max in out; returns how
 * many changed (may exceed max). Rules beyond the live list: the tls_*
 * options are live only while TLS stays on (turning it on or off needs a
 * restart); jwt_secret is live only from one set secret to another (from
 * or to "" it decides whether accounts work, or the dev mode's random
 * key is in use). */
size_t tp_confdiff(const struct tp_config *old, const struct tp_config *cur,
		      struct tp_confdiff_change *out, size_t max);

/* Whether option `name` can change without a restart (the list). */
bool tp_confdiff_is_live(const char *name);

/* For each change that is not live, puts old's value back into cur.
 * TP_OK or TP_ERR_NOMEM (cur then still valid, partly restored). */
int tp_confdiff_keep_restart(struct tp_config *cur, const struct tp_config *old,
			   const struct tp_confdiff_change *changes, size_t n);

/* The value of o in cfg as text for a log line ("***" for a set secret).
 * Returns out. */
const char *tp_confdiff_value(const struct tp_config *cfg,
			    const struct tp_config_option *o, char *out,
			    size_t n);

#endif
