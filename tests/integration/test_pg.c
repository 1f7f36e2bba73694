/*
 * test_pg.c - the PostgreSQL pool (server/io/pg.c) against a real server.
 *
 * One private cluster for the whole binary (it_pg_start); every test makes
 * its own libuv loop, drives the pool directly and ends with the pool
 * closed, uv_loop_close() == 0 (no handle leaked) and the allocator back
 * to zero (TP_TEST). Covers: parameters and NULLs round trip, more
 * concurrent queries than connections, SQL errors (at execution and at
 * prepare), a stuck query timing out while the loop keeps running, the
 * connection being replaced after that, outage and recovery without help,
 * bad and unreachable conninfo (and no password in the logs), a disabled
 * pool, cancellation on close, re-entrant callbacks.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <uv.h>

#include "it.h"
#include "it_pg.h"
#include "pg.h"
#include "test_support.h"
#include "tickpush/err.h"

static struct it_env env;
static char uri[1024];

static const struct tp_pg_stmt st_sum = {
	"test_sum", "SELECT $1::int + $2::int AS sum, $3::text IS NULL AS isnull", 3};
static const struct tp_pg_stmt st_double = {"test_double", "SELECT $1::int * 2", 1};
static const struct tp_pg_stmt st_div = {"test_div", "SELECT 1 / $1::int", 1};
static const struct tp_pg_stmt st_bad = {"test_bad", "SELEC nonsense", 0};
static const struct tp_pg_stmt st_sleep = {"test_sleep", "SELECT pg_sleep($1::float8)", 1};
static const struct tp_pg_stmt st_one = {"test_one", "SELECT 1", 0};

static int group_setup(void **state)
{
	(void)state;
	it_setup(&env, "pg");
	it_pg_start(&env, NULL);
	it_pg_uri(&env, NULL, uri, sizeof(uri));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	it_pg_stop(&env);
	it_teardown(&env);
	return 0;
}

/* ---- loop driving ---- */

static void noop_tick(uv_timer_t *t)
{
	(void)t;
}

/* Runs the loop until cond(ud) holds, at most timeout_s (a safety net for
 * a broken pool, not a performance threshold). */
static bool run_until(uv_loop_t *loop, bool (*cond)(void *), void *ud,
		      double timeout_s)
{
	uv_timer_t guard;
	double end = it_now() + timeout_s;
	bool ok;

	uv_timer_init(loop, &guard);
	uv_timer_start(&guard, noop_tick, 10, 10);
	while (!(ok = cond(ud)) && it_now() < end)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return ok;
}

static bool pool_up(void *ud)
{
	return tp_pg_is_up(ud);
}

static bool pool_down(void *ud)
{
	return !tp_pg_is_up(ud);
}

static bool all_up(void *ud)
{
	struct tp_pg_stats s;

	tp_pg_get_stats(ud, &s);
	return s.connections_up == 3;
}

/* Closes the pool, lets libuv finish, and checks nothing is left. */
static void finish_loop(uv_loop_t *loop, struct tp_pg *pg)
{
	tp_pg_close(pg);
	for (int i = 0; i < 100 && uv_loop_alive(loop); i++)
		uv_run(loop, UV_RUN_NOWAIT);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
}

static struct tp_pg *make_pool(uv_loop_t *loop, const char *conninfo,
			       int size, double timeout)
{
	struct tp_pg_opts o = {
		.conninfo = conninfo,
		.pool_size = size,
		.query_timeout = timeout,
		.reconnect_max = 0.5,
		.max_queued = 100,
	};
	struct tp_pg *pg = tp_pg_create(loop, &o);

	assert_non_null(pg);
	return pg;
}

/* ---- results ---- */

struct result {
	int calls;
	int status;
	char value[128];
	char value2[32];
	char sqlstate[8];
	char message[256];
};

static void record(int status, const PGresult *res, void *ud)
{
	struct result *r = ud;

	r->calls++;
	r->status = status;
	if (res && status == TP_OK && PQntuples(res) > 0) {
		snprintf(r->value, sizeof(r->value), "%s", PQgetvalue(res, 0, 0));
		if (PQnfields(res) > 1)
			snprintf(r->value2, sizeof(r->value2), "%s", PQgetvalue(res, 0, 1));
	}
	if (res && status != TP_OK) {
		const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", s ? s : "");
		snprintf(r->message, sizeof(r->message), "%s", PQresultErrorMessage(res));
	}
}

static bool called(void *ud)
{
	return ((struct result *)ud)->calls > 0;
}

static void query_and_wait(uv_loop_t *loop, struct tp_pg *pg,
			   const struct tp_pg_stmt *st, const char *const *params,
			   struct result *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(tp_pg_query(pg, st, params, record, r), TP_OK);
	assert_int_equal(r->calls, 0); /* never inside tp_pg_query */
	assert_true(run_until(loop, called, r, 30));
	assert_int_equal(r->calls, 1);
}

/* ---- tests ---- */

static void test_params_round_trip(void **state)
{
	uv_loop_t loop;
	struct tp_pg *pg;
	struct result r;
	const char *p1[] = {"2", "40", NULL};
	const char *p2[] = {"-7", "10", "x"};
	struct tp_pg_stats s;

	(void)state;
	uv_loop_init(&loop);
	pg = make_pool(&loop, uri, 2, 10);
	assert_true(run_until(&loop, pool_up, pg, 30));

	query_and_wait(&loop, pg, &st_sum, p1, &r);
	assert_int_equal(r.status, TP_OK);
	assert_string_equal(r.value, "42");
	assert_string_equal(r.value2, "t");
	/* Second run: the statement is prepared on that connection now. */
	query_and_wait(&loop, pg, &st_sum, p2, &r);
	assert_int_equal(r.status, TP_OK);
	assert_string_equal(r.value, "3");
	assert_string_equal(r.value2, "f");
	/* A parameter that would be SQL if it were spliced in is just text. */
	{
		const char *p3[] = {"1", "1", "'); DROP TABLE x; --"};

		query_and_wait(&loop, pg, &st_sum, p3, &r);
		assert_int_equal(r.status, TP_OK);
		assert_string_equal(r.value2, "f");
	}
	tp_pg_get_stats(pg, &s);
	assert_int_equal(s.queries, 3);
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.busy, 0);
	assert_int_equal(s.queued, 0);
	/* Bad arguments are refused without a callback. */
	assert_int_equal(tp_pg_query(pg, &st_sum, NULL, record, &r), TP_ERR_INVAL);
	assert_int_equal(tp_pg_query(pg, NULL, NULL, record, &r), TP_ERR_INVAL);
	finish_loop(&loop, pg);
}

#define NCONC 40

struct conc {
	int calls[NCONC];
	int ok;
	int bad_value;
	int total;
};

struct conc_item {
	struct conc *c;
	int i;
};

static void conc_cb(int status, const PGresult *res, void *ud)
{
	struct conc_item *it = ud;

	it->c->calls[it->i]++;
	it->c->total++;
	if (status == TP_OK && res && PQntuples(res) == 1 &&
	    atoi(PQgetvalue(res, 0, 0)) == it->i * 2)
		it->c->ok++;
	else
		it->c->bad_value++;
}

static bool conc_done(void *ud)
{
	return ((struct conc *)ud)->total >= NCONC;
}

static void test_more_queries_than_connections(void **state)
{
	uv_loop_t loop;
	struct tp_pg *pg;
	struct conc c;
	struct conc_item items[NCONC];
	char nums[NCONC][12];
	struct tp_pg_stats s;

	(void)state;
	memset(&c, 0, sizeof(c));
	uv_loop_init(&loop);
	pg = make_pool(&loop, uri, 3, 30);
	assert_true(run_until(&loop, all_up, pg, 30));
	for (int i = 0; i < NCONC; i++) {
		const char *p[] = {nums[i]};

		snprintf(nums[i], sizeof(nums[i]), "%d", i);
		items[i].c = &c;
		items[i].i = i;
		assert_int_equal(tp_pg_query(pg, &st_double, p, conc_cb, &items[i]), TP_OK);
	}
	/* Parameters were copied: the caller's buffers may change now. */
	memset(nums, 'x', sizeof(nums));
	tp_pg_get_stats(pg, &s);
	assert_int_equal(s.busy, 3);
	assert_int_equal(s.queued, NCONC - 3);
	assert_true(run_until(&loop, conc_done, &c, 60));
	for (int i = 0; i < NCONC; i++)
		assert_int_equal(c.calls[i], 1);
	assert_int_equal(c.ok, NCONC);
	assert_int_equal(c.bad_value, 0);
	tp_pg_get_stats(pg, &s);
	assert_int_equal(s.queued, 0);
	assert_int_equal(s.busy, 0);
	assert_int_equal(s.connections_up, 3);
	finish_loop(&loop, pg);
}

static void test_queue_limit(void **state)
{
	uv_loop_t loop;
	struct tp_pg *pg;
	struct tp_pg_opts o = {.conninfo = uri, .pool_size = 1, .query_timeout = 10,
			       .reconnect_max = 0.5, .max_queued = 2};
	struct result r[4];
	const char *p[] = {"0.2"};

	(void)state;
	memset(r, 0, sizeof(r));
	uv_loop_init(&loop);
	pg = tp_pg_create(&loop, &o);
	assert_non_null(pg);
	assert_true(run_until(&loop, pool_up, pg, 30));
	assert_int_equal(tp_pg_query(pg, &st_sleep, p, record, &r[0]), TP_OK);
	assert_int_equal(tp_pg_query(pg, &st_one, NULL, record, &r[1]), TP_OK);
	assert_int_equal(tp_pg_query(pg, &st_one, NULL, record, &r[2]), TP_OK);
	/* One running, two waiting: the next is refused at once. */
	assert_int_equal(tp_pg_query(pg, &st_one, NULL, record, &r[3]), TP_ERR_LIMIT);
	assert_true(run_until(&loop, called, &r[2], 30));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].status, TP_OK);
	}
	assert_int_equal(r[3].calls, 0);
	finish_loop(&loop, pg);
}

struct order {
	int seq;
	struct result r[3];
	int at[3];
};

struct order_item {
	struct order *o;
	int i;
};

static void order_cb(int status, const PGresult *res, void *ud)
{
	struct order_item *it = ud;

	it->o->at[it->i] = ++it->o->seq;
	record(status, res, &it->o->r[it->i]);
}

static bool order_done(void *ud)
{
	return ((struct order *)ud)->seq == 3;
}

/* A query that waits longer than query_timeout for a connection fails with
 * TIMEOUT and leaves the busy connection alone. Deterministic: with one
 * connection, two sleeps of 0.6 x timeout each keep the third query queued
 * past its deadline, while each sleep alone stays within the timeout. */
static void test_queued_query_expires(void **state)
{
	uv_loop_t loop;
	struct tp_pg *pg;
	struct order o;
	struct order_item items[3];
	const char *sleep12[] = {"1.2"};
	struct tp_pg_stats s;

	(void)state;
	memset(&o, 0, sizeof(o));
	uv_loop_init(&loop);
	pg = make_pool(&loop, uri, 1, 2.0);
	assert_true(run_until(&loop, pool_up, pg, 30));
	for (int i = 0; i < 3; i++) {
		items[i].o = &o;
		items[i].i = i;
		assert_int_equal(tp_pg_query(pg, i < 2 ? &st_sleep : &st_one, sleep12,
					     order_cb, &items[i]), TP_OK);
	}
	assert_true(run_until(&loop, order_done, &o, 30));
	assert_int_equal(o.r[0].status, TP_OK);
	assert_int_equal(o.r[1].status, TP_OK);
	assert_int_equal(o.r[2].status, TP_ERR_TIMEOUT);
	/* The expired one was answered while the second still ran. */
	assert_true(o.at[2] < o.at[1]);
	tp_pg_get_stats(pg, &s);
	assert_int_equal(s.timeouts, 1);
	assert_int_equal(s.reconnects, 0);
	assert_int_equal(s.connections_up, 1);
	finish_loop(&loop, pg);
}

static void test_sql_errors(void **state)
{
	uv_loop_t loop;
	struct tp_pg *pg;
	struct result r;
	const char *zero[] = {"0"};
	const char *four[] = {"4"};
	struct tp_pg_stats s;

	(void)state;
	uv_loop_init(&loop);
	pg = make_pool(&loop, uri, 1, 10);
	assert_true(run_until(&loop, pool_up, pg, 30));

	query_and_wait(&loop, pg, &st_div, zero, &r);
	assert_int_equal(r.status, TP_ERR_UPSTREAM);
	assert_string_equal(r.sqlstate, "22012");
	assert_non_null(strstr(r.message, "division by zero"));
	/* The same connection (pool of one) still works, statement prepared. */
	query_and_wait(&loop, pg, &st_div, four, &r);
	assert_int_equal(r.status, TP_OK);
	assert_string_equal(r.value, "0");
	/* A statement that fails to prepare. */
	query_and_wait(&loop, pg, &st_bad, NULL, &r);
	assert_int_equal(r.status, TP_ERR_UPSTREAM);
	assert_string_equal(r.sqlstate, "42601");
	assert_non_null(strstr(r.message, "syntax error"));
	query_and_wait(&loop, pg, &st_one, NULL, &r);
	assert_int_equal(r.status, TP_OK);
	assert_string_equal(r.value, "1");
	tp_pg_get_stats(pg, &s);
	assert_int_equal(s.errors, 2);
	assert_int_equal(s.reconnects, 0);
	assert_int_equal(s.connections_up, 1);
	finish_loop(&loop, pg);
}

struct ticker {
	uv_timer_t t;
	int ticks;
	int ticks_at_cb;
	struct result r;
};

static void tick(uv_timer_t *t)
{
	((struct ticker *)t->data)->ticks++;
}

static void slow_cb(int status, const PGresult *res, void *ud)
{
	struct ticker *tk = ud;

	tk->ticks_at_cb = tk->ticks;
	record(status, res, &tk->r);
}

static bool slow_called(void *ud)
{
	return ((struct ticker *)ud)->r.calls > 0;
}

static void test_timeout_keeps_loop_running(void **state)
{
	uv_loop_t loop;
	struct tp_pg *pg;
	struct ticker tk;
	struct result r;
	const char *three[] = {"3"};
	struct tp_pg_stats s;

	(void)state;
	memset(&tk, 0, sizeof(tk));
	uv_loop_init(&loop);
	pg = make_pool(&loop, uri, 1, 0.5);
	assert_true(run_until(&loop, pool_up, pg, 30));

	uv_timer_init(&loop, &tk.t);
	tk.t.data = &tk;
	uv_timer_start(&tk.t, tick, 10, 10);
	assert_int_equal(tp_pg_query(pg, &st_sleep, three, slow_cb, &tk), TP_OK);
	assert_true(run_until(&loop, slow_called, &tk, 30));
	uv_close((uv_handle_t *)&tk.t, NULL);
	assert_int_equal(tk.r.calls, 1);
	assert_int_equal(tk.r.status, TP_ERR_TIMEOUT);
	/* The loop kept running while the query was in flight. */
	assert_true(tk.ticks_at_cb >= 10);
	tp_pg_get_stats(pg, &s);
	assert_int_equal(s.timeouts, 1);
	assert_true(s.reconnects >= 1);

	/* The connection is replaced and works. */
	assert_true(run_until(&loop, pool_up, pg, 30));
	query_and_wait(&loop, pg, &st_one, NULL, &r);
	assert_int_equal(r.status, TP_OK);
	assert_string_equal(r.value, "1");
	finish_loop(&loop, pg);
}

struct states {
	int ups, downs;
};

static void on_state(bool up, void *ud)
{
	struct states *s = ud;

	if (up)
		s->ups++;
	else
		s->downs++;
}

static void test_outage_and_recovery(void **state)
{
	uv_loop_t loop;
	struct tp_pg *pg;
	struct states sts = {0, 0};
	struct tp_pg_opts o = {.conninfo = uri, .pool_size = 2, .query_timeout = 5,
			       .reconnect_max = 0.5, .max_queued = 10,
			       .on_state = on_state, .state_ud = &sts};
	struct result r;
	struct tp_pg_stats s1, s2;

	(void)state;
	uv_loop_init(&loop);
	pg = tp_pg_create(&loop, &o);
	assert_non_null(pg);
	assert_true(run_until(&loop, pool_up, pg, 30));
	assert_int_equal(sts.ups, 1);
	query_and_wait(&loop, pg, &st_one, NULL, &r);
	assert_int_equal(r.status, TP_OK);

	it_pg_down(&env);
	assert_true(run_until(&loop, pool_down, pg, 30));
	assert_int_equal(sts.downs, 1);
	/* Fails at once, no callback. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(tp_pg_query(pg, &st_one, NULL, record, &r), TP_ERR_UPSTREAM);
	tp_pg_get_stats(pg, &s1);
	assert_int_equal(s1.connections_up, 0);
	/* It keeps trying while the database is away. */
	{
		struct tp_pg_stats now;
		double end = it_now() + 30;

		do {
			uv_run(&loop, UV_RUN_ONCE);
			tp_pg_get_stats(pg, &now);
		} while (now.reconnects < s1.reconnects + 2 && it_now() < end);
		assert_true(now.reconnects >= s1.reconnects + 2);
	}
	assert_false(tp_pg_is_up(pg));

	it_pg_up(&env);
	assert_true(run_until(&loop, pool_up, pg, 30));
	assert_int_equal(sts.ups, 2);
	query_and_wait(&loop, pg, &st_one, NULL, &r);
	assert_int_equal(r.status, TP_OK);
	assert_string_equal(r.value, "1");
	tp_pg_get_stats(pg, &s2);
	assert_true(s2.last_error_time > 0);
	assert_int_equal(r.calls, 1);
	finish_loop(&loop, pg);
	assert_int_equal(r.calls, 1);
}

/* stderr into a file while fn runs; returns the captured text (free). */
static char *capture_stderr(void (*fn)(void *), void *ud)
{
	char path[320];
	int saved, fd;
	FILE *f;
	long len;
	char *text;

	snprintf(path, sizeof(path), "%s/stderr.capture", env.dir);
	fflush(stderr);
	saved = dup(2);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	fn(ud);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	if (len > 0 && fread(text, 1, (size_t)len, f) != (size_t)len)
		len = 0;
	fclose(f);
	return text;
}

static void bad_conninfo_run(void *ud)
{
	uv_loop_t *loop = ud;
	struct tp_pg_opts o = {.pool_size = 1, .query_timeout = 1,
			       .reconnect_max = 1, .max_queued = 1};

	o.conninfo = "this is not a conninfo";
	assert_null(tp_pg_create(loop, &o));
	o.conninfo = "postgresql:///db?no_such_option=1";
	assert_null(tp_pg_create(loop, &o));
	/* libpq quotes the whole URI in this error: the password must go. */
	o.conninfo = "postgresql://u:sekr1tpw@[::1/db";
	assert_null(tp_pg_create(loop, &o));
}

static void test_bad_conninfo(void **state)
{
	uv_loop_t loop;
	char *log;

	(void)state;
	uv_loop_init(&loop);
	log = capture_stderr(bad_conninfo_run, &loop);
	assert_non_null(strstr(log, "invalid PostgreSQL connection string"));
	assert_null(strstr(log, "sekr1tpw"));
	free(log);
	assert_int_equal(uv_loop_close(&loop), 0);
}

struct unreach {
	uv_loop_t loop;
	struct tp_pg *pg;
};

static bool retried(void *ud)
{
	struct tp_pg_stats s;

	tp_pg_get_stats(ud, &s);
	return s.reconnects >= 2;
}

static void unreachable_run(void *ud)
{
	struct unreach *u = ud;

	u->pg = make_pool(&u->loop,
			  "postgresql://tester:sekr1tpw@/tickpush?host=/nonexistent-tp-dir&port=54329",
			  2, 1);
	assert_true(run_until(&u->loop, retried, u->pg, 30));
}

static void test_unreachable(void **state)
{
	struct unreach u;
	struct result r;
	char *log;

	(void)state;
	memset(&r, 0, sizeof(r));
	uv_loop_init(&u.loop);
	log = capture_stderr(unreachable_run, &u);
	assert_false(tp_pg_is_up(u.pg));
	assert_int_equal(tp_pg_query(u.pg, &st_one, NULL, record, &r), TP_ERR_UPSTREAM);
	/* The failure was logged (once, not per attempt), without the password. */
	assert_non_null(strstr(log, "postgres unavailable"));
	assert_non_null(strstr(log, "nonexistent-tp-dir"));
	assert_null(strstr(strstr(log, "postgres unavailable") + 1, "postgres unavailable"));
	assert_null(strstr(log, "sekr1tpw"));
	free(log);
	finish_loop(&u.loop, u.pg);
	assert_int_equal(r.calls, 0);
}

static void test_unresolvable_host(void **state)
{
	uv_loop_t loop;
	struct tp_pg *pg;
	struct result r;

	(void)state;
	memset(&r, 0, sizeof(r));
	uv_loop_init(&loop);
	/* A name goes through uv_getaddrinfo (".invalid" never resolves,
	 * RFC 6761) and the failure leads to retries, not to a block. */
	pg = make_pool(&loop, "host=tickpush-test.invalid port=5432 dbname=x connect_timeout=1", 1, 1);
	assert_true(run_until(&loop, retried, pg, 60));
	assert_false(tp_pg_is_up(pg));
	assert_int_equal(tp_pg_query(pg, &st_one, NULL, record, &r), TP_ERR_UPSTREAM);
	finish_loop(&loop, pg);
}

/* A host list whose first entry is a name (resolved with uv_getaddrinfo,
 * passed as hostaddr) on a TCP port where nobody listens, then our unix
 * socket: libpq fails the non-blocking TCP connect while we poll it, drops
 * that socket and opens another (often with the same descriptor number),
 * which the pool must follow. */
static void test_host_list_fallback(void **state)
{
	uv_loop_t loop;
	struct tp_pg *pg;
	struct result r;
	char conninfo[1024];

	(void)state;
	uv_loop_init(&loop);
	snprintf(conninfo, sizeof(conninfo),
		 "host=localhost,%s/pg port=1,%s dbname=%s user=postgres",
		 env.dir, getenv("TP_PG_PORT") ? getenv("TP_PG_PORT") : "54329",
		 it_pg_default_db());
	pg = make_pool(&loop, conninfo, 2, 10);
	assert_true(run_until(&loop, pool_up, pg, 30));
	query_and_wait(&loop, pg, &st_one, NULL, &r);
	assert_int_equal(r.status, TP_OK);
	assert_string_equal(r.value, "1");
	finish_loop(&loop, pg);
}

static void test_disabled(void **state)
{
	uv_loop_t loop;
	struct tp_pg *pg;
	struct result r;

	(void)state;
	memset(&r, 0, sizeof(r));
	uv_loop_init(&loop);
	pg = make_pool(&loop, "", 2, 1);
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_false(tp_pg_is_up(pg));
	assert_int_equal(tp_pg_query(pg, &st_one, NULL, record, &r), TP_ERR_UPSTREAM);
	finish_loop(&loop, pg);
	assert_int_equal(r.calls, 0);
}

#define NCANCEL 6

struct cancel_ctx {
	struct tp_pg *pg;
	int calls[NCANCEL];
	int status[NCANCEL];
	int requery;
};

struct cancel_item {
	struct cancel_ctx *c;
	int i;
};

static void cancel_cb(int status, const PGresult *res, void *ud)
{
	struct cancel_item *it = ud;

	(void)res;
	it->c->calls[it->i]++;
	it->c->status[it->i] = status;
	/* Re-entrant use during close is refused, without a callback. */
	it->c->requery = tp_pg_query(it->c->pg, &st_one, NULL, cancel_cb, it);
	tp_pg_close(it->c->pg); /* and closing twice is harmless */
}

static void test_close_cancels(void **state)
{
	uv_loop_t loop;
	struct cancel_ctx c;
	struct cancel_item items[NCANCEL];
	const char *p[] = {"5"};

	(void)state;
	memset(&c, 0, sizeof(c));
	uv_loop_init(&loop);
	c.pg = make_pool(&loop, uri, 1, 30);
	assert_true(run_until(&loop, pool_up, c.pg, 30));
	for (int i = 0; i < NCANCEL; i++) {
		items[i].c = &c;
		items[i].i = i;
		assert_int_equal(tp_pg_query(c.pg, i ? &st_one : &st_sleep, p,
					     cancel_cb, &items[i]), TP_OK);
	}
	/* Let the first one reach the server. */
	for (int i = 0; i < 5; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	tp_pg_close(c.pg);
	for (int i = 0; i < NCANCEL; i++) {
		assert_int_equal(c.calls[i], 1);
		assert_int_equal(c.status[i], TP_ERR_CANCELLED);
	}
	assert_int_equal(c.requery, TP_ERR_CANCELLED);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	for (int i = 0; i < NCANCEL; i++)
		assert_int_equal(c.calls[i], 1);
}

struct chain {
	struct tp_pg *pg;
	int left;
	int ok;
	int closed_in_cb;
};

static void chain_cb(int status, const PGresult *res, void *ud)
{
	struct chain *ch = ud;
	const char *p[] = {"21"};

	if (status == TP_OK && res && !strcmp(PQgetvalue(res, 0, 0), "42"))
		ch->ok++;
	if (--ch->left > 0) {
		assert_int_equal(tp_pg_query(ch->pg, &st_double, p, chain_cb, ch), TP_OK);
	} else {
		tp_pg_close(ch->pg);
		ch->closed_in_cb = 1;
	}
}

static bool chain_done(void *ud)
{
	return ((struct chain *)ud)->closed_in_cb;
}

static void test_reentrant_callbacks(void **state)
{
	uv_loop_t loop;
	struct chain ch = {NULL, 5, 0, 0};
	const char *p[] = {"21"};

	(void)state;
	uv_loop_init(&loop);
	ch.pg = make_pool(&loop, uri, 2, 10);
	assert_true(run_until(&loop, pool_up, ch.pg, 30));
	assert_int_equal(tp_pg_query(ch.pg, &st_double, p, chain_cb, &ch), TP_OK);
	assert_true(run_until(&loop, chain_done, &ch, 30));
	assert_int_equal(ch.ok, 5);
	/* The pool was closed from inside its own callback. */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_params_round_trip),
		TP_TEST(test_more_queries_than_connections),
		TP_TEST(test_queue_limit),
		TP_TEST(test_queued_query_expires),
		TP_TEST(test_sql_errors),
		TP_TEST(test_timeout_keeps_loop_running),
		TP_TEST(test_close_cancels),
		TP_TEST(test_reentrant_callbacks),
		TP_TEST(test_bad_conninfo),
		TP_TEST(test_unreachable),
		TP_TEST(test_unresolvable_host),
		TP_TEST(test_host_list_fallback),
		TP_TEST(test_disabled),
		TP_TEST(test_outage_and_recovery),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
