/*
 * it_pg.h - a private PostgreSQL for integration tests (tests/support/it_pg.c).
 *
 * The cluster lives in <e->dir>/pg and is driven by the ctest fixture
 * script tests/fixtures/pg.sh (found through TP_SOURCE_DIR, which ctest
 * sets for every integration test): unix socket only, trust auth, role
 * postgres, port TP_PG_PORT (54329; the port only names the socket, so
 * clusters of different tests never collide). As root the server runs as
 * the OS user postgres (the script uses runuser). Script output goes to
 * <e->dir>/pg-fixture.log, printed when a step fails.
 *
 * Call it_pg_stop before it_teardown: it_teardown does not know about the
 * cluster. Every function fails the running cmocka test on a setup error
 * except where a return value is documented. Blocking, test thread only.
 */
#ifndef TICKPUSH_TEST_IT_PG_H
#define TICKPUSH_TEST_IT_PG_H

#include <stdbool.h>
#include <stddef.h>

struct it_env;

/* The database pg.sh creates (TP_PG_DB, default "tickpush"). */
const char *it_pg_default_db(void);

/* A fresh cluster (anything left in <dir>/pg is deleted first), with the
 * default database, loading the SQL files in order (NULL-terminated list,
 * may be NULL). */
void it_pg_start(const struct it_env *e, const char *const *sql_files);
/* it_pg_start with server/sql/schema.sql and sample.sql (TP_SOURCE_DIR). */
void it_pg_start_sample(const struct it_env *e);

/* it_wait condition (ud = the struct it_env *): /api/symbols answers from
 * a fresh (not stale) copy of the symbols table. */
bool it_symbols_loaded(void *ud);

/* Stops the server and deletes the cluster. Idempotent. */
void it_pg_stop(const struct it_env *e);

/* Outage simulation: stops the server (fast shutdown, clients are cut
 * off) but keeps the cluster and its data; it_pg_up starts it again. */
void it_pg_down(const struct it_env *e);
void it_pg_up(const struct it_env *e);

/* libpq URI of database db (NULL = the default database) in e's cluster,
 * written to out; returns out. */
const char *it_pg_uri(const struct it_env *e, const char *db, char *out,
		      size_t outlen);

/* The URI of the default database for the restricted role tickpush
 * (what the server connects as), written to out; returns out. */
const char *it_pg_tickpush_uri(const struct it_env *e, char *out, size_t outlen);

/* it_finish for a test that also started PostgreSQL: stops the server
 * (exit status checked), the cluster, then tears down. 0 or -1. */
int it_finish_pg(struct it_env *e);

/* Creates database db (dropped first if it exists). */
void it_pg_create_db(const struct it_env *e, const char *db);

/* Runs sql (one or more statements, no parameters) in db (NULL = default)
 * on a short-lived synchronous connection. Returns 0, or -1 with the
 * error printed to stderr. */
int it_pg_exec(const struct it_env *e, const char *db, const char *sql);

/* Runs one statement with text parameters (NULL entries = SQL NULL) and
 * copies the first column of the first row to out. Returns 0, 1 when
 * there is no row or the value is NULL (out = ""), -1 on error (printed). */
int it_pg_value(const struct it_env *e, const char *db, const char *sql,
		int nparams, const char *const *params, char *out,
		size_t outlen);

#endif
