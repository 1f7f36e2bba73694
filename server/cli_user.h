/*
 * cli_user.h - the "tickpush user" subcommand (server/cli_user.c).
 */
#ifndef TICKPUSH_CLI_USER_H
#define TICKPUSH_CLI_USER_H

#include "tickpush/config.h"

/* action "add" or "passwd"; the password comes from stdin. Returns the
 * process exit code. */
int tp_cli_user(const struct tp_config *cfg, const char *action,
		const char *username);

#endif
