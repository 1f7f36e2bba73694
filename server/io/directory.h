/*
 * directory.h - symbols and universes held in process, refreshed from
 * PostgreSQL (server/io/directory.c, REST in server/io/api_symbols.c).
 *
 * The whole symbols table and every universe of cache_entries are loaded
 * into memory when the database is (or becomes) reachable and refreshed
 * every symbols_refresh_interval seconds. Readers only ever see a complete
 * copy: a refresh builds a new one and swaps it in when every query
 * succeeded. When PostgreSQL is down the last good copy keeps serving and is
 * reported stale; before any copy exists lookups find nothing and the REST
 * handlers answer 503 {"error":"Database unavailable"}.
 *
 * All functions run on the loop thread; returned pointers are borrowed and
 * valid until the next refresh swap (i.e. within one callback).
 */
#ifndef TICKPUSH_IO_DIRECTORY_H
#define TICKPUSH_IO_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

struct tp_pg;
struct tp_directory;

struct tp_symbol_row {
	char *symbol;        /* upper-case */
	char *name, *exchange, *market, *locale, *currency_name, *type;
	char *sector, *industry; /* may be "" */
	bool active;
	double market_cap;   /* < 0 = NULL */
	double last_updated; /* epoch seconds, 0 = NULL */
};

struct tp_universe {
	char *key;           /* e.g. sp500_large, etf_growth, theme_ai */
	char *description;
	char *category;      /* "stock", "etf", "theme" */
	char *criteria;      /* text, may be "" */
	char *metadata_json; /* JSON object (the cache_entries value minus tickers) */
	char **tickers;      /* upper-case */
	size_t n_tickers;
};

/* Called after every successful (re)load. */
typedef void tp_directory_loaded_cb(struct tp_directory *dir, void *ud);

struct tp_directory *tp_directory_create(uv_loop_t *loop, struct tp_pg *pg,
					 double refresh_interval,
					 tp_directory_loaded_cb *on_loaded,
					 void *ud);
void tp_directory_close(struct tp_directory *dir); /* NULL-safe, async free */
/* Starts a refresh now unless one is in flight (e.g. from the pool's
 * on_state callback when the database comes back). NULL-safe. */
void tp_directory_refresh_now(struct tp_directory *dir);
/* Feed the pool's state changes (tp_pg_opts.on_state) here: down marks the
 * copy stale until the next successful refresh, up starts one at once.
 * NULL-safe. */
void tp_directory_db_state(struct tp_directory *dir, bool up);
/* Failed refreshes since the last successful one. */
unsigned tp_directory_refresh_failures(const struct tp_directory *dir);

bool tp_directory_has_copy(const struct tp_directory *dir);
/* A copy exists but the last refresh failed (or the database is down). */
bool tp_directory_is_stale(const struct tp_directory *dir);
double tp_directory_loaded_at(const struct tp_directory *dir);

/* Case-insensitive lookup; NULL when unknown or no copy. */
const struct tp_symbol_row *tp_directory_symbol(const struct tp_directory *dir,
						const char *symbol);
/* Sector of a symbol or NULL (used to tag patterns for sector filters). */
const char *tp_directory_sector(const struct tp_directory *dir,
				const char *symbol);
size_t tp_directory_symbol_count(const struct tp_directory *dir);
/* i-th symbol in symbol order (0 <= i < count). */
const struct tp_symbol_row *tp_directory_symbol_at(const struct tp_directory *dir,
						   size_t i);

/* Symbols with active = true (NULL counts as active). */
size_t tp_directory_active_count(const struct tp_directory *dir);
/* Distinct markets, sorted; tp_directory_market_at returns the i-th market
 * name and stores its number of symbols in *n_symbols (may be NULL). */
size_t tp_directory_market_count(const struct tp_directory *dir);
const char *tp_directory_market_at(const struct tp_directory *dir, size_t i,
				   size_t *n_symbols);

/* Case-insensitive lookup by key; NULL when unknown or no copy. */
const struct tp_universe *tp_directory_universe(const struct tp_directory *dir,
						const char *key);
size_t tp_directory_universe_count(const struct tp_directory *dir);
/* Universes sorted by category asc, count desc (rest.md order). */
const struct tp_universe *tp_directory_universe_at(const struct tp_directory *dir,
						   size_t i);

/* From the events table at the last refresh. */
long long tp_directory_events_count(const struct tp_directory *dir);
double tp_directory_latest_event_time(const struct tp_directory *dir);

#endif
