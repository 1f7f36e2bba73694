/*
 * it_pg.c - private PostgreSQL helpers for integration tests (see it_pg.h).
 *
 * Cluster management goes through the shell fixtures (tests/fixtures/pg.sh
 * and the tp_pg_* functions of scripts/lib.sh) with system(), so tests,
 * scripts/test and the docs share one way of running PostgreSQL. SQL runs
 * through short-lived synchronous libpq connections: fine in a test thread.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "it.h"
#include "it_pg.h"
#include "test_support.h"

const char *it_pg_default_db(void)
{
	const char *db = getenv("TP_PG_DB");

	return db && *db ? db : "tickpush";
}

static const char *source_dir(void)
{
	const char *s = getenv("TP_SOURCE_DIR");

	if (!s || !*s)
		fail_msg("TP_SOURCE_DIR is not set (run the test through ctest)");
	return s;
}

/* Appends s to buf as one single-quoted shell word. */
static void shell_word(char *buf, size_t cap, const char *s)
{
	size_t n = strlen(buf);

	if (n + 3 >= cap)
		fail_msg("shell command too long");
	buf[n++] = ' ';
	buf[n++] = '\'';
	for (; *s; s++) {
		if (*s == '\'') {
			if (n + 5 >= cap)
				fail_msg("shell command too long");
			memcpy(buf + n, "'\\''", 4);
			n += 4;
		} else {
			if (n + 2 >= cap)
				fail_msg("shell command too long");
			buf[n++] = *s;
		}
	}
	buf[n++] = '\'';
	buf[n] = '\0';
}

static void fixture_log(const struct it_env *e, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/pg-fixture.log", e->dir);
}

static void dump_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];

	if (!f)
		return;
	fprintf(stderr, "---- %s ----\n", path);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

/* Runs cmd (already quoted) with output appended to the fixture log;
 * fails the test with what when it exits non-zero. */
static void run(const struct it_env *e, char *cmd, size_t cap, const char *what)
{
	char log[320];
	int rc;

	fixture_log(e, log, sizeof(log));
	if (strlen(cmd) + strlen(log) + 16 >= cap)
		fail_msg("shell command too long");
	strcat(cmd, " >>");
	shell_word(cmd, cap, log);
	strcat(cmd, " 2>&1 </dev/null");
	rc = system(cmd);
	if (rc != 0) {
		dump_file(log);
		fail_msg("%s failed (status %d)", what, rc);
	}
}

void it_pg_start(const struct it_env *e, const char *const *sql_files)
{
	char cmd[4096] = "";
	char script[600];

	snprintf(script, sizeof(script), "%s/tests/fixtures/pg.sh", source_dir());
	shell_word(cmd, sizeof(cmd), script);
	strcat(cmd, " start");
	shell_word(cmd, sizeof(cmd), e->dir);
	for (size_t i = 0; sql_files && sql_files[i]; i++)
		shell_word(cmd, sizeof(cmd), sql_files[i]);
	run(e, cmd, sizeof(cmd), "pg.sh start");
}

void it_pg_stop(const struct it_env *e)
{
	char cmd[2048] = "";
	char script[600];

	snprintf(script, sizeof(script), "%s/tests/fixtures/pg.sh", source_dir());
	shell_word(cmd, sizeof(cmd), script);
	strcat(cmd, " stop");
	shell_word(cmd, sizeof(cmd), e->dir);
	run(e, cmd, sizeof(cmd), "pg.sh stop");
}

/* bash -c 'source lib.sh && FN DIR' */
static void lib_call(const struct it_env *e, const char *fn)
{
	char cmd[2048] = "bash -c";
	char body[200];

	snprintf(body, sizeof(body), "source \"$0/scripts/lib.sh\" && %s \"$1\"", fn);
	shell_word(cmd, sizeof(cmd), body);
	shell_word(cmd, sizeof(cmd), source_dir());
	shell_word(cmd, sizeof(cmd), e->dir);
	run(e, cmd, sizeof(cmd), fn);
}

void it_pg_down(const struct it_env *e)
{
	lib_call(e, "tp_pg_stop");
}

void it_pg_up(const struct it_env *e)
{
	lib_call(e, "tp_pg_start");
}

const char *it_pg_uri(const struct it_env *e, const char *db, char *out,
		      size_t outlen)
{
	const char *port = getenv("TP_PG_PORT");
	char host[600], enc[1800];
	size_t n = 0;

	snprintf(host, sizeof(host), "%s/pg", e->dir);
	/* Percent-encode like tp_uri_escape (keeps / . _ ~ -). */
	for (const char *s = host; *s && n + 4 < sizeof(enc); s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("/._~-", ch))
			enc[n++] = (char)ch;
		else
			n += (size_t)snprintf(enc + n, sizeof(enc) - n, "%%%02X", ch);
	}
	enc[n] = '\0';
	snprintf(out, outlen, "postgresql://postgres@/%s?host=%s&port=%s",
		 db ? db : it_pg_default_db(), enc, port && *port ? port : "54329");
	return out;
}

static PGconn *connect_db(const struct it_env *e, const char *db)
{
	char uri[2048];
	const char *const kw[] = {"dbname", "connect_timeout", NULL};
	const char *val[] = {NULL, "10", NULL};
	PGconn *pq;

	val[0] = it_pg_uri(e, db, uri, sizeof(uri));
	pq = PQconnectdbParams(kw, val, 1);
	if (PQstatus(pq) != CONNECTION_OK) {
		fprintf(stderr, "it_pg: cannot connect to %s: %s", uri,
			PQerrorMessage(pq));
		PQfinish(pq);
		return NULL;
	}
	return pq;
}

int it_pg_exec(const struct it_env *e, const char *db, const char *sql)
{
	PGconn *pq = connect_db(e, db);
	PGresult *res;
	int rc = 0;

	if (!pq)
		return -1;
	res = PQexec(pq, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "it_pg: %s: %s", sql, PQerrorMessage(pq));
		rc = -1;
	}
	PQclear(res);
	PQfinish(pq);
	return rc;
}

int it_pg_value(const struct it_env *e, const char *db, const char *sql,
		int nparams, const char *const *params, char *out,
		size_t outlen)
{
	PGconn *pq = connect_db(e, db);
	PGresult *res;
	int rc = 1;

	if (outlen)
		out[0] = '\0';
	if (!pq)
		return -1;
	res = PQexecParams(pq, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "it_pg: %s: %s", sql, PQerrorMessage(pq));
		rc = -1;
	} else if (PQntuples(res) > 0 && PQnfields(res) > 0 &&
		   !PQgetisnull(res, 0, 0)) {
		snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
		rc = 0;
	}
	PQclear(res);
	PQfinish(pq);
	return rc;
}

void it_pg_create_db(const struct it_env *e, const char *db)
{
	PGconn *pq = connect_db(e, "postgres");
	PGresult *res;
	char *ident;
	char sql[600];

	if (!pq)
		fail_msg("it_pg_create_db: no connection");
	ident = PQescapeIdentifier(pq, db, strlen(db));
	if (!ident)
		fail_msg("it_pg_create_db: %s", PQerrorMessage(pq));
	/* Test-only DDL: identifiers cannot be bound as parameters. */
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", ident);
	res = PQexec(pq, sql);
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", ident);
		res = PQexec(pq, sql);
	}
	PQfreemem(ident);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		char msg[300];

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pq));
		PQclear(res);
		PQfinish(pq);
		fail_msg("it_pg_create_db %s: %s", db, msg);
	}
	PQclear(res);
	PQfinish(pq);
}

const char *it_pg_tickpush_uri(const struct it_env *e, char *out, size_t outlen)
{
	char uri[512];
	const char *at;

	it_pg_uri(e, NULL, uri, sizeof(uri));
	at = strchr(uri, '@');
	snprintf(out, outlen, "postgresql://tickpush%s", at ? at : "@");
	return out;
}

int it_finish_pg(struct it_env *e)
{
	int rc = it_server_stop(e, SIGTERM, 30);

	if (rc != 0)
		it_dump_logs(e);
	it_pg_stop(e);
	it_teardown(e);
	return rc == 0 ? 0 : -1;
}

void it_pg_start_sample(const struct it_env *e)
{
	const char *src = getenv("TP_SOURCE_DIR");
	char schema[512], sample[512];
	const char *sql[3] = {schema, sample, NULL};

	if (!src)
		fail_msg("TP_SOURCE_DIR is not set");
	snprintf(schema, sizeof(schema), "%s/server/sql/schema.sql", src);
	snprintf(sample, sizeof(sample), "%s/server/sql/sample.sql", src);
	it_pg_start(e, sql);
}

bool it_symbols_loaded(void *ud)
{
	const struct it_env *e = ud;
	struct it_http_resp r;
	bool ok;

	if (it_http(e->port, "GET", "/api/symbols?limit=1", NULL, NULL, 0, &r))
		return false;
	ok = r.status == 200 && !strstr(r.body, "\"stale\":true");
	it_http_free(&r);
	return ok;
}
