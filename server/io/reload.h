/*
 * reload.h - SIGHUP: re-read the configuration, apply what can change
 * live, refuse a bad one (server/io/reload.c; the diff is the pure
 * include/tickpush/reload.h). Also the token check that knows the
 * previous JWT secret during its grace period.
 */
#ifndef TICKPUSH_IO_RELOAD_H
#define TICKPUSH_IO_RELOAD_H

#include <stddef.h>

#include "tickpush/jwt.h"

struct tp_io;

/* Where a reload reads the configuration: the same --config file,
 * environment and flags as the start (main calls this before
 * tp_server_init; the pointers must outlive the server). */
void tp_reload_source(const char *path, int argc, char *const *argv);

/* Starts / closes the SIGHUP watcher (server.c). */
void tp_reload_init(struct tp_io *srv);
void tp_reload_close(struct tp_io *srv);
/* Frees the configurations reloads installed and the previous JWT key
 * (tp_server_cleanup, when nothing reads them any more). */
void tp_reload_cleanup(struct tp_io *srv);

/* One reload now (what SIGHUP does). TP_OK when the new configuration is
 * in force, else the error (the old one stays). */
int tp_reload_now(struct tp_io *srv);

/* tp_jwt_verify with the server's key, then, if the signature does not
 * match and a reload replaced the secret less than jwt_previous_grace
 * ago, with the previous one. Same results as tp_jwt_verify (no key:
 * TP_ERR_AUTH, TP_JWT_R_BAD_KEY). */
int tp_token_verify(struct tp_io *srv, const char *token, double now,
		    struct tp_jwt_claims *claims, struct tp_errdetail *err);

#endif
