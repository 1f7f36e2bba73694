/*
 * test_symbols.c - symbols, universes and dashboard stats (directory.c,
 * api_symbols.c) against a real PostgreSQL loaded with schema.sql +
 * sample.sql and a real tickpush.
 *
 * Every expected figure is asked from PostgreSQL itself (it_pg_value), so
 * the test follows the sample data rather than hard-coding it. Covers: the
 * list with its limit/search/market filters and their 400s; one symbol
 * (case-insensitive, ISO last_updated, 404 and 400 shapes); universes
 * (keys per the cache_entries layout, order category asc / count desc,
 * tickers and metadata of one, 404/400); dashboard counts; a change in the
 * database shows up after a refresh; PostgreSQL down -> the last copy
 * keeps answering with "stale": true, and back -> fresh again; a tickpush
 * whose database is down from the start answers 503 "Database
 * unavailable" while the pattern API keeps working.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "it.h"
#include "it_pg.h"
#include "test_support.h"

/* Required with a database; nothing here signs in. */
#define SECRET "symbols-test-secret-0123456789abcdef"

static struct it_env env;
static char uri_env[700];
static const char *extra_env[5];

/* The server connects as its own read-only role (schema.sql). */
static void tickpush_uri(const struct it_env *e, char *out, size_t n)
{
	it_pg_tickpush_uri(e, out, n);
}

static bool symbols_fresh(void *ud)
{
	struct it_http_resp r;
	bool ok;

	(void)ud;
	if (it_http(env.port, "GET", "/api/symbols?limit=1", NULL, NULL, 0, &r))
		return false;
	ok = r.status == 200 && !strstr(r.body, "\"stale\"");
	it_http_free(&r);
	return ok;
}

static bool symbols_stale(void *ud)
{
	struct it_http_resp r;
	bool ok;

	(void)ud;
	if (it_http(env.port, "GET", "/api/symbols?limit=1", NULL, NULL, 0, &r))
		return false;
	ok = r.status == 200 && strstr(r.body, "\"stale\":true");
	it_http_free(&r);
	return ok;
}

static int setup(void **state)
{
	char uri[600];

	(void)state;
	it_setup(&env, "symbols");
	it_redis_start(&env);
	it_pg_start_sample(&env);
	tickpush_uri(&env, uri, sizeof(uri));
	snprintf(uri_env, sizeof(uri_env), "DATABASE_URI=%s", uri);
	extra_env[0] = uri_env;
	extra_env[1] = "TICKPUSH_SYMBOLS_REFRESH=1";
	extra_env[2] = "TICKPUSH_DB_QUERY_TIMEOUT=5";
	extra_env[3] = "TICKPUSH_JWT_SECRET=" SECRET;
	extra_env[4] = NULL;
	it_server_start(&env, extra_env, true);
	if (!it_wait(symbols_fresh, NULL, 30)) {
		it_dump_logs(&env);
		fail_msg("symbols never loaded");
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return it_finish_pg(&env);
}

/* ---- helpers ---- */

static long long sql_int(const char *sql)
{
	char out[64];

	if (it_pg_value(&env, NULL, sql, 0, NULL, out, sizeof(out)) != 0)
		fail_msg("query failed: %s", sql);
	return strtoll(out, NULL, 10);
}

static double sql_double(const char *sql)
{
	char out[64];

	if (it_pg_value(&env, NULL, sql, 0, NULL, out, sizeof(out)) != 0)
		fail_msg("query failed: %s", sql);
	return strtod(out, NULL);
}

static void sql_text(const char *sql, const char *param, char *out, size_t n)
{
	const char *params[1] = {param};

	if (it_pg_value(&env, NULL, sql, param ? 1 : 0, param ? params : NULL,
			out, n) != 0)
		fail_msg("query failed: %s", sql);
}

static const cJSON *member(const cJSON *j, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, name);

	if (!m)
		fail_msg("member %s missing", name);
	return m;
}

/* GET expecting status; on a JSON error body checks "error" is a string. */
static cJSON *get(const char *path, int status)
{
	cJSON *j = it_get_json(env.port, path, status);

	if (status >= 400)
		assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error")));
	return j;
}

static void expect_bad_param(const char *path, const char *field)
{
	cJSON *j = get(path, 400);

	assert_string_equal(it_json_str(j, "field"), field);
	assert_non_null(strstr(it_json_str(j, "error"), field));
	/* The endpoint's empty shape comes with the error. */
	assert_true(cJSON_IsArray(member(j, "symbols")));
	assert_int_equal(cJSON_GetArraySize(member(j, "symbols")), 0);
	cJSON_Delete(j);
}

static void check_perf(const cJSON *j, bool stale)
{
	const cJSON *perf = member(j, "performance");

	assert_string_equal(it_json_str(perf, "source"), "database");
	assert_true(it_json_num(perf, "api_response_time_ms") >= 0);
	if (stale)
		assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "stale")));
	else
		assert_null(cJSON_GetObjectItemCaseSensitive(j, "stale"));
}

static bool contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return true;
	return false;
}

/* ---- /api/symbols ---- */

static void test_symbols_list(void **state)
{
	long long total = sql_int("SELECT count(*) FROM symbols");
	cJSON *j, *arr, *it;
	const cJSON *f;
	const char *prev = "";
	bool aapl = false;

	(void)state;
	assert_true(total > 5 && total <= 1000);
	j = get("/api/symbols", 200);
	arr = (cJSON *)member(j, "symbols");
	assert_int_equal(cJSON_GetArraySize(arr), total);
	assert_int_equal((long long)it_json_num(j, "count"), total);
	f = member(j, "filters");
	assert_true(cJSON_IsNull(member(f, "market")));
	assert_true(cJSON_IsNull(member(f, "search")));
	assert_int_equal((int)it_json_num(f, "limit"), 1000);
	check_perf(j, false);
	cJSON_ArrayForEach(it, arr) {
		const char *sym = it_json_str(it, "symbol");

		/* Symbol order, every member of the contract present. */
		assert_true(strcmp(prev, sym) < 0);
		prev = sym;
		it_json_str(it, "name");
		it_json_str(it, "market");
		member(it, "exchange");
		member(it, "type");
		member(it, "sector");
		assert_true(cJSON_IsBool(member(it, "active")));
		if (!strcmp(sym, "AAPL")) {
			char sector[128];

			aapl = true;
			sql_text("SELECT sector FROM symbols WHERE symbol = 'AAPL'", NULL,
				 sector, sizeof(sector));
			assert_string_equal(it_json_str(it, "sector"), sector);
			assert_string_equal(it_json_str(it, "sector"), "Information Technology");
		}
	}
	assert_true(aapl);
	cJSON_Delete(j);

	/* limit: the first n in symbol order. */
	j = get("/api/symbols?limit=5", 200);
	arr = (cJSON *)member(j, "symbols");
	assert_int_equal(cJSON_GetArraySize(arr), 5);
	assert_int_equal((int)it_json_num(member(j, "filters"), "limit"), 5);
	{
		char first[32];

		sql_text("SELECT symbol FROM symbols ORDER BY symbol COLLATE \"C\" LIMIT 1",
			 NULL, first, sizeof(first));
		assert_string_equal(it_json_str(cJSON_GetArrayItem(arr, 0), "symbol"), first);
	}
	cJSON_Delete(j);

	expect_bad_param("/api/symbols?limit=0", "limit");
	expect_bad_param("/api/symbols?limit=5001", "limit");
	expect_bad_param("/api/symbols?limit=abc", "limit");
	expect_bad_param("/api/symbols?limit=-1", "limit");
	expect_bad_param("/api/symbols?limit=2.5", "limit");
	j = get("/api/symbols?limit=5000", 200);
	cJSON_Delete(j);
}

static void test_symbols_search_and_market(void **state)
{
	cJSON *j, *it;
	long long want;
	bool aapl = false;

	(void)state;
	/* search matches the name, case-insensitively. */
	want = sql_int("SELECT count(*) FROM symbols WHERE symbol ILIKE '%apple%'"
		       " OR name ILIKE '%apple%'");
	assert_true(want >= 1);
	j = get("/api/symbols?search=apple", 200);
	assert_int_equal((long long)it_json_num(j, "count"), want);
	assert_string_equal(it_json_str(member(j, "filters"), "search"), "apple");
	cJSON_ArrayForEach(it, member(j, "symbols")) {
		assert_true(contains_ci(it_json_str(it, "symbol"), "apple") ||
			    contains_ci(it_json_str(it, "name"), "apple"));
		if (!strcmp(it_json_str(it, "symbol"), "AAPL"))
			aapl = true;
	}
	assert_true(aapl);
	cJSON_Delete(j);

	/* ... and the symbol. */
	want = sql_int("SELECT count(*) FROM symbols WHERE symbol ILIKE '%aap%'"
		       " OR name ILIKE '%aap%'");
	j = get("/api/symbols?search=aAp", 200);
	assert_int_equal((long long)it_json_num(j, "count"), want);
	assert_true(want >= 1);
	cJSON_Delete(j);

	j = get("/api/symbols?search=no-such-thing-anywhere", 200);
	assert_int_equal((int)it_json_num(j, "count"), 0);
	assert_int_equal(cJSON_GetArraySize(member(j, "symbols")), 0);
	cJSON_Delete(j);

	/* market: exact, case-insensitive; combined with search and limit. */
	want = sql_int("SELECT count(*) FROM symbols WHERE lower(market) = 'stocks'");
	j = get("/api/symbols?market=STOCKS&limit=5000", 200);
	assert_int_equal((long long)it_json_num(j, "count"), want);
	assert_string_equal(it_json_str(member(j, "filters"), "market"), "STOCKS");
	cJSON_Delete(j);
	j = get("/api/symbols?market=stock", 200);
	assert_int_equal((int)it_json_num(j, "count"), 0);
	cJSON_Delete(j);
	want = sql_int("SELECT count(*) FROM symbols WHERE market = 'stocks'"
		       " AND (symbol ILIKE '%in%' OR name ILIKE '%in%')");
	assert_true(want > 3);
	j = get("/api/symbols?market=stocks&search=IN&limit=3", 200);
	assert_int_equal((int)it_json_num(j, "count"), 3);
	cJSON_Delete(j);
	j = get("/api/symbols?market=stocks&search=IN", 200);
	assert_int_equal((long long)it_json_num(j, "count"), want);
	cJSON_Delete(j);

	expect_bad_param("/api/symbols?search=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			 "search");
}

/* ---- /api/symbols/<symbol> ---- */

static void test_symbol_detail(void **state)
{
	cJSON *j;
	char want[160];

	(void)state;
	j = get("/api/symbols/aapl", 200);
	assert_string_equal(it_json_str(j, "symbol"), "AAPL");
	sql_text("SELECT name FROM symbols WHERE symbol = $1", "AAPL", want, sizeof(want));
	assert_string_equal(it_json_str(j, "name"), want);
	sql_text("SELECT industry FROM symbols WHERE symbol = $1", "AAPL", want, sizeof(want));
	assert_string_equal(it_json_str(j, "industry"), want);
	sql_text("SELECT exchange FROM symbols WHERE symbol = $1", "AAPL", want, sizeof(want));
	assert_string_equal(it_json_str(j, "exchange"), want);
	assert_string_equal(it_json_str(j, "sector"), "Information Technology");
	assert_string_equal(it_json_str(j, "market"), "stocks");
	assert_string_equal(it_json_str(j, "locale"), "us");
	assert_string_equal(it_json_str(j, "currency_name"), "usd");
	it_json_str(j, "type");
	assert_true(cJSON_IsTrue(member(j, "active")));
	/* market_cap is NULL in the sample data. */
	assert_true(cJSON_IsNull(member(j, "market_cap")));
	/* last_updated: ISO-8601 UTC, the same second as in the database. */
	sql_text("SELECT to_char(last_updated AT TIME ZONE 'UTC',"
		 " 'YYYY-MM-DD\"T\"HH24:MI:SS') FROM symbols WHERE symbol = $1",
		 "AAPL", want, sizeof(want));
	assert_true(!strncmp(it_json_str(j, "last_updated"), want, strlen(want)));
	assert_int_equal(it_json_str(j, "last_updated")[strlen(it_json_str(j, "last_updated")) - 1], 'Z');
	check_perf(j, false);
	cJSON_Delete(j);

	/* Punctuation in symbols. */
	j = get("/api/symbols/brk.b", 200);
	assert_string_equal(it_json_str(j, "symbol"), "BRK.B");
	cJSON_Delete(j);

	j = get("/api/symbols/NOPE", 404);
	assert_string_equal(it_json_str(j, "error"), "Symbol NOPE not found");
	cJSON_Delete(j);
	j = get("/api/symbols/nope", 404);
	assert_string_equal(it_json_str(j, "error"), "Symbol NOPE not found");
	cJSON_Delete(j);

	j = get("/api/symbols/bad%20symbol", 400);
	assert_string_equal(it_json_str(j, "field"), "symbol");
	cJSON_Delete(j);
	j = get("/api/symbols/%3Cscript%3E", 400);
	cJSON_Delete(j);
	j = get("/api/symbols/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 400); /* 33 */
	cJSON_Delete(j);
	j = get("/api/symbols/", 400);
	cJSON_Delete(j);
}

/* ---- universes ---- */

static void test_universes_list(void **state)
{
	long long want = sql_int(
		"SELECT count(*) FROM cache_entries WHERE type IN ('stock_universe', 'etf_universe')"
		" OR (type = 'themes' AND key = 'list')");
	cJSON *j, *it;
	const char *prev_cat = "";
	double prev_count = 0;
	bool sector_it = false, etf = false, theme = false;

	(void)state;
	j = get("/api/users/universe", 200);
	assert_int_equal((long long)it_json_num(j, "total_universes"), want);
	assert_int_equal(cJSON_GetArraySize(member(j, "universes")), want);
	check_perf(j, false);
	cJSON_ArrayForEach(it, member(j, "universes")) {
		const char *key = it_json_str(it, "key"), *cat = it_json_str(it, "category");
		double count = it_json_num(it, "count");
		char sql[512];

		it_json_str(it, "description");
		it_json_str(it, "criteria");
		/* category asc, then count desc. */
		assert_true(strcmp(prev_cat, cat) <= 0);
		if (!strcmp(prev_cat, cat))
			assert_true(count <= prev_count);
		prev_cat = cat;
		prev_count = count;
		/* The key maps back to its cache_entries row per the layout,
		 * and the count is that row's number of tickers. */
		snprintf(sql, sizeof(sql),
			 "SELECT jsonb_array_length(value->'tickers') FROM cache_entries WHERE"
			 " (type = 'stock_universe' AND name || '_' || key = '%s' AND '%s' = 'stock')"
			 " OR (type = 'etf_universe' AND 'etf_' || key = '%s' AND '%s' = 'etf')"
			 " OR (type = 'themes' AND key = 'list' AND 'theme_' || name = '%s'"
			 " AND '%s' = 'theme')", key, cat, key, cat, key, cat);
		assert_int_equal((long long)count, sql_int(sql));
		if (!strcmp(key, "sector_information_technology"))
			sector_it = true;
		if (!strcmp(key, "etf_broad_market")) {
			etf = true;
			assert_string_equal(it_json_str(it, "description"), "Broad market index ETFs");
		}
		if (!strcmp(key, "theme_semiconductors"))
			theme = true;
	}
	assert_true(sector_it && etf && theme);
	cJSON_Delete(j);
}

static void test_universe_detail(void **state)
{
	cJSON *j, *it;
	const cJSON *meta;
	char want[4096], got[4096] = "";
	size_t n = 0;

	(void)state;
	j = get("/api/users/universe/theme_semiconductors", 200);
	assert_string_equal(it_json_str(j, "universe_key"), "theme_semiconductors");
	sql_text("SELECT string_agg(t, ',' ORDER BY o) FROM cache_entries,"
		 " jsonb_array_elements_text(value->'tickers') WITH ORDINALITY AS x(t, o)"
		 " WHERE type = 'themes' AND name = $1 AND key = 'list'",
		 "semiconductors", want, sizeof(want));
	cJSON_ArrayForEach(it, member(j, "tickers")) {
		assert_true(cJSON_IsString(it));
		n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s", n ? "," : "",
				      it->valuestring);
	}
	assert_string_equal(got, want);
	assert_int_equal((int)it_json_num(j, "count"), cJSON_GetArraySize(member(j, "tickers")));
	meta = member(j, "metadata");
	assert_true(cJSON_IsObject(meta));
	assert_null(cJSON_GetObjectItemCaseSensitive(meta, "tickers"));
	sql_text("SELECT value->>'description' FROM cache_entries WHERE type = 'themes'"
		 " AND name = $1 AND key = 'list'", "semiconductors", want, sizeof(want));
	assert_string_equal(it_json_str(meta, "description"), want);
	assert_string_equal(it_json_str(meta, "category"), "theme");
	it_json_str(meta, "criteria");
	check_perf(j, false);
	cJSON_Delete(j);

	j = get("/api/users/universe/etf_broad_market", 200);
	assert_int_equal((int)it_json_num(j, "count"),
			 sql_int("SELECT jsonb_array_length(value->'tickers') FROM cache_entries"
				 " WHERE type = 'etf_universe' AND key = 'broad_market'"));
	cJSON_Delete(j);
	/* Keys are matched case-insensitively. */
	j = get("/api/users/universe/SECTOR_Information_Technology", 200);
	assert_string_equal(it_json_str(j, "universe_key"), "sector_information_technology");
	cJSON_Delete(j);

	j = get("/api/users/universe/no_such_universe", 404);
	assert_true(cJSON_IsArray(member(j, "tickers")));
	cJSON_Delete(j);
	j = get("/api/users/universe/bad%01key", 400);
	cJSON_Delete(j);
	j = get("/api/users/universe/a/b", 400);
	cJSON_Delete(j);
}

/* ---- dashboard ---- */

static void test_dashboard_stats(void **state)
{
	cJSON *j, *stats;
	const cJSON *bm, *pat, *it;
	double latest;

	(void)state;
	j = get("/api/dashboard/stats", 200);
	assert_int_equal((long long)it_json_num(j, "symbols_count"), sql_int("SELECT count(*) FROM symbols"));
	assert_int_equal((long long)it_json_num(j, "active_symbols_count"),
			 sql_int("SELECT count(*) FROM symbols WHERE active"));
	bm = member(j, "symbols_by_market");
	assert_true(cJSON_IsObject(bm));
	assert_int_equal(cJSON_GetArraySize(bm),
			 sql_int("SELECT count(DISTINCT market) FROM symbols"));
	cJSON_ArrayForEach(it, bm) {
		char sql[256];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM symbols WHERE market = '%s'",
			 it->string);
		assert_int_equal((long long)it->valuedouble, sql_int(sql));
	}
	assert_int_equal((long long)it_json_num(j, "events_count"), sql_int("SELECT count(*) FROM events"));
	latest = sql_double("SELECT extract(epoch from max(created_at)) FROM events");
	assert_true(fabs(it_json_num(j, "latest_event_time") - latest) < 0.001);
	assert_string_equal(it_json_str(j, "database_status"), "connected");
	pat = member(j, "patterns");
	stats = it_get_json(env.port, "/api/patterns/stats", 200);
	assert_int_equal((long long)it_json_num(pat, "cached"),
			 (long long)it_json_num(member(stats, "stats"), "cached_patterns"));
	member(pat, "last_event_time");
	check_perf(j, false);
	cJSON_Delete(stats);
	cJSON_Delete(j);
}

/* ---- refresh ---- */

static bool zzzt_present(void *ud)
{
	struct it_http_resp r;
	bool ok;

	(void)ud;
	if (it_http(env.port, "GET", "/api/symbols/ZZZT", NULL, NULL, 0, &r))
		return false;
	ok = r.status == 200;
	it_http_free(&r);
	return ok;
}

static bool zzzt_absent(void *ud)
{
	struct it_http_resp r;
	bool ok;

	(void)ud;
	if (it_http(env.port, "GET", "/api/symbols/ZZZT", NULL, NULL, 0, &r))
		return false;
	ok = r.status == 404;
	it_http_free(&r);
	return ok;
}

static void test_refresh_follows_the_database(void **state)
{
	cJSON *j;

	(void)state;
	assert_true(zzzt_absent(NULL));
	assert_int_equal(it_pg_exec(&env, NULL,
				    "INSERT INTO symbols (symbol, name, market, sector)"
				    " VALUES ('ZZZT', 'Zed Test Corp', 'otc', 'Testing')"), 0);
	assert_true(it_wait(zzzt_present, NULL, 20));
	j = get("/api/symbols/zzzt", 200);
	assert_string_equal(it_json_str(j, "sector"), "Testing");
	cJSON_Delete(j);
	j = get("/api/dashboard/stats", 200);
	assert_int_equal((int)it_json_num(member(j, "symbols_by_market"), "otc"), 1);
	cJSON_Delete(j);
	j = get("/api/symbols?market=OTC", 200);
	assert_int_equal((int)it_json_num(j, "count"), 1);
	cJSON_Delete(j);
	assert_int_equal(it_pg_exec(&env, NULL, "DELETE FROM symbols WHERE symbol = 'ZZZT'"), 0);
	assert_true(it_wait(zzzt_absent, NULL, 20));
}

/* ---- outage ---- */

static double perf_number(const char *path, const char *name)
{
	cJSON *j = get(path, 200);
	double v = it_json_num(member(j, "performance"), name);

	cJSON_Delete(j);
	return v;
}

static bool refresh_failed(void *ud)
{
	(void)ud;
	return perf_number("/api/dashboard/stats", "refresh_failures") >= 1;
}

static double loaded_before;

/* Fresh, from a refresh that succeeded after the outage. */
static bool reloaded(void *ud)
{
	(void)ud;
	return symbols_fresh(NULL) &&
	       perf_number("/api/symbols?limit=1", "loaded_at") > loaded_before;
}

static void test_stale_while_database_down(void **state)
{
	cJSON *j;
	long long total = sql_int("SELECT count(*) FROM symbols");

	(void)state;
	assert_int_equal((int)perf_number("/api/dashboard/stats", "refresh_failures"), 0);
	it_pg_down(&env);
	/* The last good copy keeps answering, marked stale. */
	assert_true(it_wait(symbols_stale, NULL, 10));
	loaded_before = perf_number("/api/symbols?limit=1", "loaded_at");
	/* Refreshes fail meanwhile (the interval is 1 s) ... */
	assert_true(it_wait(refresh_failed, NULL, 20));
	/* ... and the copy stays: same load, all of it, still stale. */
	assert_true(perf_number("/api/symbols?limit=1", "loaded_at") == loaded_before);
	j = get("/api/symbols", 200);
	assert_int_equal((long long)it_json_num(j, "count"), total);
	check_perf(j, true);
	cJSON_Delete(j);
	j = get("/api/symbols/AAPL", 200);
	assert_string_equal(it_json_str(j, "sector"), "Information Technology");
	check_perf(j, true);
	cJSON_Delete(j);
	j = get("/api/users/universe", 200);
	assert_true(it_json_num(j, "total_universes") > 0);
	check_perf(j, true);
	cJSON_Delete(j);
	j = get("/api/users/universe/etf_broad_market", 200);
	check_perf(j, true);
	cJSON_Delete(j);
	j = get("/api/dashboard/stats", 200);
	assert_string_equal(it_json_str(j, "database_status"), "stale");
	assert_int_equal((long long)it_json_num(j, "symbols_count"), total);
	cJSON_Delete(j);
	cJSON_Delete(it_get_json(env.port, "/api/patterns/scan", 200));

	it_pg_up(&env);
	assert_true(it_wait(reloaded, NULL, 30));
	j = get("/api/dashboard/stats", 200);
	assert_string_equal(it_json_str(j, "database_status"), "connected");
	assert_int_equal((int)it_json_num(member(j, "performance"), "refresh_failures"), 0);
	check_perf(j, false);
	cJSON_Delete(j);
}

/* ---- shutdown while a refresh waits on the database ---- */

static bool refresh_blocked(void *ud)
{
	(void)ud;
	return sql_int("SELECT count(*) FROM pg_stat_activity WHERE usename = 'tickpush'"
		       " AND wait_event_type = 'Lock'") >= 1;
}

static void test_shutdown_during_refresh(void **state)
{
	char uri[600];
	PGconn *pq;
	PGresult *res;
	int rc;

	(void)state;
	/* Hold a lock that the symbols query waits for: the next refresh
	 * stays in flight until tickpush is stopped. */
	it_pg_uri(&env, NULL, uri, sizeof(uri));
	pq = PQconnectdb(uri);
	assert_int_equal(PQstatus(pq), CONNECTION_OK);
	res = PQexec(pq, "BEGIN; LOCK TABLE symbols IN ACCESS EXCLUSIVE MODE");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	assert_true(it_wait(refresh_blocked, NULL, 10));
	/* The in-flight refresh is cancelled and freed: a clean exit (the
	 * sanitizers make leaks and use-after-free a non-zero status). */
	rc = it_server_stop(&env, SIGTERM, 10);
	if (rc != 0)
		it_dump_logs(&env);
	assert_int_equal(rc, 0);
	res = PQexec(pq, "ROLLBACK");
	PQclear(res);
	PQfinish(pq);

	it_server_start(&env, extra_env, true);
	assert_true(it_wait(symbols_fresh, NULL, 30));
}

/* ---- a database that is down from the start ---- */

static void expect_unavailable(const struct it_env *e, const char *path,
			       const char *shape)
{
	cJSON *j = it_get_json(e->port, path, 503);

	assert_string_equal(it_json_str(j, "error"), "Database unavailable");
	if (shape)
		assert_true(cJSON_IsArray(member(j, shape)));
	cJSON_Delete(j);
}

static void test_database_down_at_startup(void **state)
{
	struct it_env e2;
	char uri[600], uri2[700];
	const char *extra[4];
	cJSON *j;
	int rc;

	(void)state;
	it_setup(&e2, "symbols-nodb");
	it_redis_start(&e2);
	/* A cluster that was never started: nothing listens on its socket. */
	tickpush_uri(&e2, uri, sizeof(uri));
	snprintf(uri2, sizeof(uri2), "DATABASE_URI=%s", uri);
	extra[0] = uri2;
	extra[1] = "TICKPUSH_SYMBOLS_REFRESH=1";
	extra[2] = "TICKPUSH_JWT_SECRET=" SECRET;
	extra[3] = NULL;
	it_server_start(&e2, extra, true);

	expect_unavailable(&e2, "/api/symbols", "symbols");
	expect_unavailable(&e2, "/api/symbols?search=apple", "symbols");
	expect_unavailable(&e2, "/api/symbols/AAPL", NULL);
	expect_unavailable(&e2, "/api/users/universe", "universes");
	expect_unavailable(&e2, "/api/users/universe/etf_broad_market", "tickers");
	j = it_get_json(e2.port, "/api/dashboard/stats", 503);
	assert_string_equal(it_json_str(j, "error"), "Database unavailable");
	assert_string_equal(it_json_str(j, "database_status"), "unavailable");
	assert_true(cJSON_IsObject(member(j, "patterns")));
	cJSON_Delete(j);
	/* Parameters are still validated first. */
	j = it_get_json(e2.port, "/api/symbols?limit=0", 400);
	cJSON_Delete(j);
	/* Patterns never depend on PostgreSQL. */
	cJSON_Delete(it_get_json(e2.port, "/api/patterns/scan", 200));
	cJSON_Delete(it_get_json(e2.port, "/api/patterns/stats", 200));

	rc = it_server_stop(&e2, SIGTERM, 10);
	if (rc != 0)
		it_dump_logs(&e2);
	it_teardown(&e2);
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_symbols_list),
		cmocka_unit_test(test_symbols_search_and_market),
		cmocka_unit_test(test_symbol_detail),
		cmocka_unit_test(test_universes_list),
		cmocka_unit_test(test_universe_detail),
		cmocka_unit_test(test_dashboard_stats),
		cmocka_unit_test(test_refresh_follows_the_database),
		cmocka_unit_test(test_stale_while_database_down),
		cmocka_unit_test(test_shutdown_during_refresh),
		cmocka_unit_test(test_database_down_at_startup),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
