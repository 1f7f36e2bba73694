/*
 * cli_user.c - "tickpush user add|passwd NAME": manage accounts from the
 * command line.
 *
 * Runs before (and instead of) the server, so the blocking libpq API is
 * fine here. The password is read from standard input: the first line, or
 * typed at a prompt with echo off when stdin is a terminal. It is hashed
 * with PBKDF2-SHA256 (tp_password_hash) and never printed or logged.
 */
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "cli_user.h"
#include "tickpush/buf.h"
#include "tickpush/password.h"

static int read_password(char *pw, size_t cap)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO);
	size_t n;

	if (tty) {
		fprintf(stderr, "password: ");
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
	}
	if (!fgets(pw, (int)cap, stdin))
		pw[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
		fputc('\n', stderr);
	}
	n = strlen(pw);
	while (n && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
		pw[--n] = '\0';
	if (n < 4 || n > 256) {
		fprintf(stderr, "tickpush user: the password must be 4 to 256 bytes\n");
		return -1;
	}
	return 0;
}

static bool valid_username(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 100)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return false;
	return true;
}

int tp_cli_user(const struct tp_config *cfg, const char *action,
		const char *username)
{
	char pw[300];
	struct tp_buf hash;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	const char *params[2];
	int rc = 1;
	bool add = !strcmp(action, "add");

	if (!add && strcmp(action, "passwd")) {
		fprintf(stderr, "tickpush user: unknown action \"%s\" (add or passwd)\n", action);
		return 2;
	}
	if (!valid_username(username)) {
		fprintf(stderr, "tickpush user: a username is 1 to 100 of A-Z a-z 0-9 _ - .\n");
		return 2;
	}
	if (!cfg->database_uri || !cfg->database_uri[0]) {
		fprintf(stderr, "tickpush user: DATABASE_URI is not set\n");
		return 2;
	}
	if (read_password(pw, sizeof(pw)))
		return 2;
	tp_buf_init(&hash, 0);
	if (tp_password_hash(pw, 0, &hash) || hash.oom) {
		fprintf(stderr, "tickpush user: cannot hash the password\n");
		goto out;
	}
	conn = PQconnectdb(cfg->database_uri);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "tickpush user: cannot connect to the database: %s",
			PQerrorMessage(conn));
		goto out;
	}
	params[0] = username;
	params[1] = tp_buf_cstr(&hash);
	res = PQexecParams(conn, add
		? "INSERT INTO users (username, password_hash) VALUES ($1, $2) RETURNING id"
		: "UPDATE users SET password_hash = $2 WHERE username = $1 RETURNING id",
		2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (state && !strcmp(state, "23505"))
			fprintf(stderr, "tickpush user: user \"%s\" already exists\n", username);
		else
			fprintf(stderr, "tickpush user: %s", PQresultErrorMessage(res));
		goto out;
	}
	if (PQntuples(res) != 1) {
		fprintf(stderr, "tickpush user: no user \"%s\"\n", username);
		goto out;
	}
	printf("%s user %s (id %s)\n", add ? "added" : "updated password of", username,
	       PQgetvalue(res, 0, 0));
	rc = 0;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	PQclear(res);
	PQfinish(conn);
	tp_buf_cleanup(&hash);
	return rc;
}
