/*
 * directory.c - the in-process copy of symbols and universes, loaded from
 * PostgreSQL through the non-blocking pool (pg.h).
 *
 * Responsibilities: run a refresh when created and then every
 * refresh_interval seconds (sooner, with a short doubling backoff up to
 * RETRY_MAX, while refreshes fail); answer lookups from the current copy.
 *
 * A refresh issues three prepared statements at once: every symbol, every
 * universe row of cache_entries, and the events count / latest time. Each
 * callback copies what it needs out of its PGresult (valid only during the
 * callback) into a new struct copy. When the last callback has run, the new
 * copy replaces the current one only if all three succeeded; otherwise it
 * is thrown away, the current copy keeps serving and is reported stale.
 * Readers therefore only ever see a complete copy, and a pointer they got
 * stays valid until the loop runs the next pg callback (the swap).
 *
 * Universe keys (docs/rest.md, the original cache_entries layout):
 *   type stock_universe -> "<name>_<key>"   category "stock"
 *   type etf_universe   -> "etf_<key>"      category "etf"
 *   type themes, key "list" -> "theme_<name>" category "theme"
 * The JSONB value carries the tickers as a bare array or under "tickers",
 * "symbols", "stocks", "etfs", "constituents" or "holdings"; elements are
 * strings or objects with "ticker"/"symbol". Tickers are upper-cased,
 * deduplicated, and bounded (MAX_TICKERS); the rest of the value becomes
 * the universe's metadata. Keys are matched case-insensitively; on a
 * duplicate key (e.g. several environments) the row sorted first wins, and
 * rows of the DEFAULT environment sort first.
 *
 * Bounds: at most MAX_SYMBOLS symbols and MAX_UNIVERSES universes are kept
 * (the statements ask for one more row to notice and log truncation); each
 * text field is cut at FIELD_MAX bytes on a UTF-8 boundary.
 *
 * Ownership and lifetime: the directory owns its copy, its timer and the
 * in-flight refresh. tp_directory_close frees the copy at once, closes the
 * timer and frees the directory once the timer is closed and the in-flight
 * refresh (if any) has had all its callbacks - pg.c guarantees each runs
 * exactly once, with TP_ERR_CANCELLED when the pool is closed. The pool
 * must therefore outlive tp_directory_close (close the directory first).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "directory.h"
#include "pg.h"
#include "tickpush/alloc.h"
#include "tickpush/ascii.h"
#include "tickpush/clock.h"
#include "tickpush/dict.h"
#include "tickpush/err.h"
#include "tickpush/log.h"
#include "tickpush/symbol.h"
#include "tickpush/utf8.h"

#define MAX_SYMBOLS 200000
#define MAX_UNIVERSES 10000
#define MAX_TICKERS 100000  /* per universe */
#define FIELD_MAX 1024      /* bytes kept of a text field */
#define UKEY_MAX 256        /* longest universe key */
#define RETRY_MIN 0.25      /* seconds, first retry after a failed refresh */
#define RETRY_MAX 5.0

/* LIMITs are MAX_SYMBOLS + 1 and MAX_UNIVERSES + 1. The COLLATE "C" order
 * only makes truncation deterministic; the copy is re-sorted bytewise after
 * upper-casing anyway. */
static const struct tp_pg_stmt stmt_symbols = {
	"tp_directory_symbols",
	"SELECT symbol::text, COALESCE(name::text, ''), COALESCE(exchange::text, ''),"
	" COALESCE(market::text, ''), COALESCE(locale::text, ''),"
	" COALESCE(currency_name::text, ''), COALESCE(type::text, ''),"
	" COALESCE(sector::text, ''), COALESCE(industry::text, ''),"
	" COALESCE(active, true), market_cap::float8,"
	" extract(epoch from last_updated)::float8"
	" FROM symbols WHERE symbol IS NOT NULL AND symbol <> ''"
	" ORDER BY symbol COLLATE \"C\" LIMIT 200001",
	0,
};

static const struct tp_pg_stmt stmt_universes = {
	"tp_directory_universes",
	"SELECT type::text, COALESCE(name::text, ''), COALESCE(key::text, ''),"
	" value::text FROM cache_entries"
	" WHERE type IN ('stock_universe', 'etf_universe', 'themes')"
	" AND value IS NOT NULL"
	" ORDER BY (environment IS NOT DISTINCT FROM 'DEFAULT') DESC,"
	" type, name, key LIMIT 10001",
	0,
};

static const struct tp_pg_stmt stmt_events = {
	"tp_directory_events",
	"SELECT count(*), extract(epoch from max(created_at))::float8 FROM events",
	0,
};

struct market_count {
	char *market;
	size_t n;
};

/* One complete snapshot; immutable once swapped in. */
struct copy {
	struct tp_symbol_row *rows; /* sorted by symbol (bytewise) */
	size_t n_rows;
	struct tp_dict *by_symbol;  /* symbol -> row */
	size_t n_active;
	struct market_count *markets; /* sorted by market */
	size_t n_markets;
	struct tp_universe *univ;   /* category asc, count desc, key asc */
	size_t n_univ;
	struct tp_dict *by_key;     /* lower-cased key -> universe */
	long long events_count;
	double latest_event_time;
	double loaded_at;
	bool have_symbols, have_universes, have_events;
};

struct refresh {
	struct tp_directory *dir;
	struct copy *next;
	unsigned pending;           /* callbacks still to run, +1 while issuing */
	bool failed;
	char why[160];
};

struct tp_directory {
	uv_loop_t *loop;
	struct tp_pg *pg;
	double interval;
	tp_directory_loaded_cb *on_loaded;
	void *ud;
	uv_timer_t timer;
	bool timer_closed;
	bool closing;
	struct copy *cur;
	struct refresh *inflight;
	bool stale;                 /* the last refresh failed, or the pool
				     * went down since the last success */
	bool failing;               /* for logging transitions only */
	unsigned failures;          /* failed refreshes since the last success */
	double retry;               /* next retry delay after a failure */
};

/* ---- copies ---- */

static void universe_cleanup(struct tp_universe *u)
{
	tp_free(u->key);
	tp_free(u->description);
	tp_free(u->category);
	tp_free(u->criteria);
	tp_free(u->metadata_json);
	for (size_t i = 0; i < u->n_tickers; i++)
		tp_free(u->tickers[i]);
	tp_free(u->tickers);
	memset(u, 0, sizeof(*u));
}

static void copy_free(struct copy *c)
{
	if (!c)
		return;
	/* A row's strings live in one block that starts at row->symbol. */
	for (size_t i = 0; i < c->n_rows; i++)
		tp_free(c->rows[i].symbol);
	tp_free(c->rows);
	tp_dict_destroy(c->by_symbol);
	for (size_t i = 0; i < c->n_markets; i++)
		tp_free(c->markets[i].market);
	tp_free(c->markets);
	for (size_t i = 0; i < c->n_univ; i++)
		universe_cleanup(&c->univ[i]);
	tp_free(c->univ);
	tp_dict_destroy(c->by_key);
	tp_free(c);
}

static bool parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return false;
	v = strtod(s, &end);
	if (*end || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static int cmp_rows(const void *a, const void *b)
{
	return strcmp(((const struct tp_symbol_row *)a)->symbol,
		      ((const struct tp_symbol_row *)b)->symbol);
}

static int cmp_markets(const void *a, const void *b)
{
	return strcmp(((const struct market_count *)a)->market,
		      ((const struct market_count *)b)->market);
}

/* Text columns 1..8 of the symbols statement, in struct order. */
#define ROW_TEXT_FIELDS 8

static int row_from_result(const PGresult *res, int r, struct tp_symbol_row *row)
{
	char sym[TP_SYMBOL_MAX + 1];
	const char *text[ROW_TEXT_FIELDS];
	size_t len[ROW_TEXT_FIELDS], total, off;
	char **dst[ROW_TEXT_FIELDS] = {
		&row->name, &row->exchange, &row->market, &row->locale,
		&row->currency_name, &row->type, &row->sector, &row->industry,
	};
	char *block;
	const char *act;

	if (!tp_symbol_norm(PQgetvalue(res, r, 0), strlen(PQgetvalue(res, r, 0)), sym))
		return TP_ERR_INVAL;
	total = strlen(sym) + 1;
	for (int f = 0; f < ROW_TEXT_FIELDS; f++) {
		text[f] = PQgetvalue(res, r, f + 1);
		len[f] = tp_utf8_cut(text[f], strlen(text[f]), FIELD_MAX);
		total += len[f] + 1;
	}
	if (!(block = tp_malloc(total)))
		return TP_ERR_NOMEM;
	off = strlen(sym) + 1;
	memcpy(block, sym, off);
	row->symbol = block;
	for (int f = 0; f < ROW_TEXT_FIELDS; f++) {
		memcpy(block + off, text[f], len[f]);
		block[off + len[f]] = '\0';
		*dst[f] = block + off;
		off += len[f] + 1;
	}
	act = PQgetvalue(res, r, 9);
	row->active = !(act[0] == 'f' || act[0] == 'F' || act[0] == '0');
	if (PQgetisnull(res, r, 10) ||
	    !parse_double(PQgetvalue(res, r, 10), &row->market_cap) ||
	    row->market_cap < 0)
		row->market_cap = -1;
	if (PQgetisnull(res, r, 11) ||
	    !parse_double(PQgetvalue(res, r, 11), &row->last_updated))
		row->last_updated = 0;
	return TP_OK;
}

static int count_markets(struct copy *c)
{
	struct tp_dict *seen = tp_dict_create(); /* market -> index + 1 */
	size_t cap = 0;
	int rc = TP_ERR_NOMEM;

	if (!seen)
		return TP_ERR_NOMEM;
	for (size_t i = 0; i < c->n_rows; i++) {
		const char *m = c->rows[i].market;
		uintptr_t idx = (uintptr_t)tp_dict_get(seen, m);

		if (c->rows[i].active)
			c->n_active++;
		if (idx) {
			c->markets[idx - 1].n++;
			continue;
		}
		if (c->n_markets >= 1000)
			continue; /* absurd data: stop counting new markets */
		if (c->n_markets == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			void *grown = tp_realloc(c->markets, ncap * sizeof(*c->markets));

			if (!grown)
				goto out;
			c->markets = grown;
			cap = ncap;
		}
		if (!(c->markets[c->n_markets].market = tp_strdup(m)))
			goto out;
		c->markets[c->n_markets].n = 1;
		c->n_markets++;
		if (tp_dict_set(seen, m, (void *)(uintptr_t)c->n_markets, NULL))
			goto out;
	}
	qsort(c->markets, c->n_markets, sizeof(*c->markets), cmp_markets);
	rc = TP_OK;
out:
	tp_dict_destroy(seen);
	return rc;
}

static int load_symbols(struct copy *c, const PGresult *res, char *why,
			size_t whylen)
{
	int n, rc;
	size_t kept = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 12) {
		snprintf(why, whylen, "symbols: unexpected result shape");
		return TP_ERR_UPSTREAM;
	}
	n = PQntuples(res);
	if (n > MAX_SYMBOLS) {
		TP_LOG(TP_LOG_WARN, "msg=\"directory: too many symbols, truncated\" kept=%d",
		       MAX_SYMBOLS);
		n = MAX_SYMBOLS;
	}
	if (n > 0 && !(c->rows = tp_calloc((size_t)n, sizeof(*c->rows))))
		goto oom;
	for (int r = 0; r < n; r++) {
		rc = row_from_result(res, r, &c->rows[kept]);
		if (rc == TP_ERR_NOMEM) {
			c->n_rows = kept;
			goto oom;
		}
		if (rc == TP_OK)
			kept++;
	}
	c->n_rows = kept;
	qsort(c->rows, c->n_rows, sizeof(*c->rows), cmp_rows);
	/* Symbols that differ only in case collapse to one: keep the first. */
	if (c->n_rows > 1) {
		size_t w = 1;

		for (size_t i = 1; i < c->n_rows; i++) {
			if (!strcmp(c->rows[i].symbol, c->rows[w - 1].symbol))
				tp_free(c->rows[i].symbol);
			else
				c->rows[w++] = c->rows[i];
		}
		c->n_rows = w;
	}
	if (!(c->by_symbol = tp_dict_create()))
		goto oom;
	for (size_t i = 0; i < c->n_rows; i++)
		if (tp_dict_set(c->by_symbol, c->rows[i].symbol, &c->rows[i], NULL))
			goto oom;
	if (count_markets(c))
		goto oom;
	c->have_symbols = true;
	return TP_OK;
oom:
	snprintf(why, whylen, "symbols: out of memory");
	return TP_ERR_NOMEM;
}

/* ---- universes ---- */

static const cJSON *ticker_array(const cJSON *v, const char **member)
{
	static const char *const names[] = {
		"tickers", "symbols", "stocks", "etfs", "constituents", "holdings",
	};

	*member = NULL;
	if (cJSON_IsArray(v))
		return v;
	if (!cJSON_IsObject(v))
		return NULL;
	for (size_t i = 0; i < TP_ARRAY_SIZE(names); i++) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(v, names[i]);

		if (cJSON_IsArray(a)) {
			*member = names[i];
			return a;
		}
	}
	return NULL;
}

static const char *ticker_of(const cJSON *el)
{
	const cJSON *t;

	if (cJSON_IsString(el))
		return el->valuestring;
	if (!cJSON_IsObject(el))
		return NULL;
	t = cJSON_GetObjectItemCaseSensitive(el, "ticker");
	if (!cJSON_IsString(t))
		t = cJSON_GetObjectItemCaseSensitive(el, "symbol");
	return cJSON_IsString(t) ? t->valuestring : NULL;
}

static int fill_tickers(struct tp_universe *u, const cJSON *arr)
{
	static char present;
	struct tp_dict *seen;
	const cJSON *el;
	size_t n = (size_t)cJSON_GetArraySize(arr);
	int rc = TP_ERR_NOMEM;

	if (n > MAX_TICKERS)
		n = MAX_TICKERS;
	if (n == 0)
		return TP_OK;
	if (!(u->tickers = tp_calloc(n, sizeof(*u->tickers))))
		return TP_ERR_NOMEM;
	if (!(seen = tp_dict_create()))
		return TP_ERR_NOMEM;
	cJSON_ArrayForEach(el, arr) {
		char sym[TP_SYMBOL_MAX + 1];
		const char *t = ticker_of(el);

		if (u->n_tickers >= n)
			break;
		if (!t || !tp_symbol_norm(t, strlen(t), sym) || tp_dict_get(seen, sym))
			continue;
		if (tp_dict_set(seen, sym, &present, NULL) ||
		    !(u->tickers[u->n_tickers] = tp_strdup(sym)))
			goto out;
		u->n_tickers++;
	}
	rc = TP_OK;
out:
	tp_dict_destroy(seen);
	return rc;
}

static char *criteria_text(const cJSON *v)
{
	const cJSON *c = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "criteria") : NULL;
	char *printed, *out;

	if (!c || cJSON_IsNull(c))
		return tp_strdup("");
	if (cJSON_IsString(c))
		return tp_strndup(c->valuestring, tp_utf8_cut(c->valuestring,
					strlen(c->valuestring), FIELD_MAX));
	if (!(printed = cJSON_PrintUnformatted(c)))
		return NULL;
	out = tp_strndup(printed, tp_utf8_cut(printed, strlen(printed), FIELD_MAX));
	cJSON_free(printed);
	return out;
}

/* The value minus its ticker array, with "category" and "description"
 * added when the value lacks them. */
static char *metadata_text(const cJSON *v, const char *member,
			   const struct tp_universe *u)
{
	cJSON *m = cJSON_CreateObject();
	const cJSON *it;
	char *printed = NULL, *out = NULL;

	if (!m)
		return NULL;
	if (cJSON_IsObject(v)) {
		cJSON_ArrayForEach(it, v) {
			cJSON *dup;

			if (!it->string || (member && !strcmp(it->string, member)))
				continue;
			if (!(dup = cJSON_Duplicate(it, true)))
				goto out;
			cJSON_AddItemToObject(m, it->string, dup);
		}
	}
	if (!cJSON_GetObjectItemCaseSensitive(m, "category") &&
	    !cJSON_AddStringToObject(m, "category", u->category))
		goto out;
	if (!cJSON_GetObjectItemCaseSensitive(m, "description") &&
	    !cJSON_AddStringToObject(m, "description", u->description))
		goto out;
	if (!(printed = cJSON_PrintUnformatted(m)))
		goto out;
	out = tp_strdup(printed);
out:
	cJSON_free(printed);
	cJSON_Delete(m);
	return out;
}

static char *description_text(const cJSON *v, const char *category,
			      const char *name, const char *key)
{
	const cJSON *d = NULL;
	char buf[FIELD_MAX + 64];

	if (cJSON_IsObject(v)) {
		d = cJSON_GetObjectItemCaseSensitive(v, "description");
		if (!cJSON_IsString(d) || !d->valuestring[0])
			d = cJSON_GetObjectItemCaseSensitive(v, "name");
	}
	if (cJSON_IsString(d) && d->valuestring[0])
		return tp_strndup(d->valuestring, tp_utf8_cut(d->valuestring,
					strlen(d->valuestring), FIELD_MAX));
	if (!strcmp(category, "theme"))
		snprintf(buf, sizeof(buf), "Theme: %s", name);
	else if (!strcmp(category, "etf"))
		snprintf(buf, sizeof(buf), "ETF universe: %s", key);
	else
		snprintf(buf, sizeof(buf), "Stock universe: %s %s", name, key);
	return tp_strdup(buf);
}

/* Builds the key of a cache_entries row into key (UKEY_MAX + 1 bytes);
 * returns the category or NULL when the row is not a universe. */
static const char *universe_key(const char *type, const char *name,
				const char *k, char *key)
{
	int n;
	const char *cat;

	if (!strcmp(type, "stock_universe")) {
		cat = "stock";
		n = snprintf(key, UKEY_MAX + 1, "%s_%s", name, k);
	} else if (!strcmp(type, "etf_universe")) {
		cat = "etf";
		n = snprintf(key, UKEY_MAX + 1, "etf_%s", k);
	} else if (!strcmp(type, "themes") && !strcmp(k, "list")) {
		cat = "theme";
		n = snprintf(key, UKEY_MAX + 1, "theme_%s", name);
	} else {
		return NULL;
	}
	if (n < 0 || n > UKEY_MAX)
		return NULL;
	for (int i = 0; i < n; i++)
		if ((unsigned char)key[i] < ' ' || key[i] == '/' || key[i] == 0x7F)
			return NULL;
	return cat;
}

/* One cache_entries row into u (zeroed). TP_ERR_INVAL skips the row. */
static int universe_from_row(const PGresult *res, int r, struct tp_universe *u,
			     const struct tp_dict *by_key)
{
	char key[UKEY_MAX + 1], lkey[UKEY_MAX + 1];
	const char *name = PQgetvalue(res, r, 1), *k = PQgetvalue(res, r, 2);
	const char *text = PQgetvalue(res, r, 3), *member, *cat;
	const cJSON *arr;
	cJSON *v;
	int rc = TP_ERR_NOMEM;

	if (!(cat = universe_key(PQgetvalue(res, r, 0), name, k, key)))
		return TP_ERR_INVAL;
	tp_ascii_lower_into(lkey, sizeof(lkey), key);
	if (tp_dict_get(by_key, lkey))
		return TP_ERR_INVAL; /* a row sorted earlier already has it */
	v = cJSON_ParseWithLength(text, (size_t)PQgetlength(res, r, 3));
	if (!v)
		return TP_ERR_INVAL; /* unparseable (or out of memory): skip */
	if (!(arr = ticker_array(v, &member))) {
		rc = TP_ERR_INVAL;
		goto out;
	}
	if (!(u->key = tp_strdup(key)) || !(u->category = tp_strdup(cat)) ||
	    !(u->description = description_text(v, cat, name, k)) ||
	    !(u->criteria = criteria_text(v)) || fill_tickers(u, arr) ||
	    !(u->metadata_json = metadata_text(v, member, u)))
		goto out;
	rc = TP_OK;
out:
	cJSON_Delete(v);
	if (rc)
		universe_cleanup(u);
	return rc;
}

static int cmp_universes(const void *a, const void *b)
{
	const struct tp_universe *x = a, *y = b;
	int c = strcmp(x->category, y->category);

	if (c)
		return c;
	if (x->n_tickers != y->n_tickers)
		return x->n_tickers > y->n_tickers ? -1 : 1;
	return strcmp(x->key, y->key);
}

static int load_universes(struct copy *c, const PGresult *res, char *why,
			  size_t whylen)
{
	struct tp_dict *seen = NULL;
	int n, rc;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 4) {
		snprintf(why, whylen, "universes: unexpected result shape");
		return TP_ERR_UPSTREAM;
	}
	n = PQntuples(res);
	if (n > MAX_UNIVERSES) {
		TP_LOG(TP_LOG_WARN, "msg=\"directory: too many universe rows, truncated\" kept=%d",
		       MAX_UNIVERSES);
		n = MAX_UNIVERSES;
	}
	if (!(seen = tp_dict_create()))
		goto oom;
	if (n > 0 && !(c->univ = tp_calloc((size_t)n, sizeof(*c->univ))))
		goto oom;
	for (int r = 0; r < n; r++) {
		static char present;
		char lkey[UKEY_MAX + 1];
		struct tp_universe *u = &c->univ[c->n_univ];

		rc = universe_from_row(res, r, u, seen);
		if (rc == TP_ERR_NOMEM)
			goto oom;
		if (rc)
			continue;
		c->n_univ++;
		tp_ascii_lower_into(lkey, sizeof(lkey), u->key);
		if (tp_dict_set(seen, lkey, &present, NULL))
			goto oom;
	}
	tp_dict_destroy(seen);
	seen = NULL;
	qsort(c->univ, c->n_univ, sizeof(*c->univ), cmp_universes);
	if (!(c->by_key = tp_dict_create()))
		goto oom;
	for (size_t i = 0; i < c->n_univ; i++) {
		char lkey[UKEY_MAX + 1];

		tp_ascii_lower_into(lkey, sizeof(lkey), c->univ[i].key);
		if (tp_dict_set(c->by_key, lkey, &c->univ[i], NULL))
			goto oom;
	}
	c->have_universes = true;
	return TP_OK;
oom:
	tp_dict_destroy(seen);
	snprintf(why, whylen, "universes: out of memory");
	return TP_ERR_NOMEM;
}

static int load_events(struct copy *c, const PGresult *res, char *why,
			size_t whylen)
{
	double count;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 2 ||
	    PQntuples(res) != 1 || !parse_double(PQgetvalue(res, 0, 0), &count) ||
	    count < 0 || count > 9e18) {
		snprintf(why, whylen, "events: unexpected result shape");
		return TP_ERR_UPSTREAM;
	}
	c->events_count = (long long)count;
	if (PQgetisnull(res, 0, 1) ||
	    !parse_double(PQgetvalue(res, 0, 1), &c->latest_event_time))
		c->latest_event_time = 0;
	c->have_events = true;
	return TP_OK;
}

/* ---- refresh cycle ---- */

static void start_refresh(struct tp_directory *dir);

static void maybe_free(struct tp_directory *dir)
{
	if (dir->closing && dir->timer_closed && !dir->inflight)
		tp_free(dir);
}

static void timer_closed_cb(uv_handle_t *h)
{
	struct tp_directory *dir = h->data;

	dir->timer_closed = true;
	maybe_free(dir);
}

static void timer_cb(uv_timer_t *t)
{
	start_refresh(t->data);
}

static void schedule(struct tp_directory *dir, double seconds)
{
	uint64_t ms = (uint64_t)(seconds * 1000.0);

	if (!dir->closing)
		uv_timer_start(&dir->timer, timer_cb, ms, 0);
}

static void refresh_failed(struct tp_directory *dir, const char *why)
{
	double delay = dir->retry < dir->interval ? dir->retry : dir->interval;

	dir->stale = true;
	dir->failures++;
	if (!dir->failing && !dir->cur && !tp_pg_is_up(dir->pg)) {
		/* Starting up: the pool is still connecting (it logs why). */
		TP_LOG(TP_LOG_INFO, "msg=\"directory waiting for the database\"");
	} else if (!dir->failing) {
		dir->failing = true;
		TP_LOG(TP_LOG_WARN, "msg=\"directory refresh failed\" error=%s serving=%s",
		       tp_log_q(why), dir->cur ? "stale_copy" : "nothing");
	} else {
		TP_LOG(TP_LOG_DEBUG, "msg=\"directory refresh failed\" error=%s failures=%u",
		       tp_log_q(why), dir->failures);
	}
	dir->retry *= 2;
	if (dir->retry > RETRY_MAX)
		dir->retry = RETRY_MAX;
	schedule(dir, delay);
}

static void refresh_done(struct refresh *r)
{
	struct tp_directory *dir = r->dir;
	struct copy *old;

	if (--r->pending > 0)
		return;
	dir->inflight = NULL;
	if (dir->closing) {
		copy_free(r->next);
		tp_free(r);
		maybe_free(dir);
		return;
	}
	if (r->failed || !r->next->have_symbols || !r->next->have_universes ||
	    !r->next->have_events) {
		refresh_failed(dir, r->why[0] ? r->why : "incomplete");
		copy_free(r->next);
		tp_free(r);
		return;
	}
	old = dir->cur;
	dir->cur = r->next;
	dir->cur->loaded_at = tp_now();
	copy_free(old);
	tp_free(r);
	dir->stale = false;
	dir->failures = 0;
	dir->retry = RETRY_MIN;
	TP_LOG(dir->failing ? TP_LOG_NOTICE : TP_LOG_INFO,
	       "msg=\"directory loaded\" symbols=%zu universes=%zu events=%lld",
	       dir->cur->n_rows, dir->cur->n_univ, dir->cur->events_count);
	dir->failing = false;
	schedule(dir, dir->interval);
	/* Last: the callback may look at (or even close) the directory. */
	if (dir->on_loaded)
		dir->on_loaded(dir, dir->ud);
}

typedef int loader_fn(struct copy *c, const PGresult *res, char *why,
		      size_t whylen);

static void on_result(struct refresh *r, int status, const PGresult *res,
		      loader_fn *load, const char *what)
{
	if (r->dir->closing || r->failed) {
		r->failed = true;
	} else if (status != TP_OK) {
		const char *msg = res ? PQresultErrorMessage(res) : "";
		size_t n = strcspn(msg, "\r\n");

		r->failed = true;
		snprintf(r->why, sizeof(r->why), "%s: %s%s%.*s", what,
			 tp_strerror(status), n ? ": " : "", (int)n, msg);
	} else if (load(r->next, res, r->why, sizeof(r->why))) {
		r->failed = true;
	}
	refresh_done(r);
}

static void symbols_cb(int status, const PGresult *res, void *ud)
{
	on_result(ud, status, res, load_symbols, "symbols");
}

static void universes_cb(int status, const PGresult *res, void *ud)
{
	on_result(ud, status, res, load_universes, "universes");
}

static void events_cb(int status, const PGresult *res, void *ud)
{
	on_result(ud, status, res, load_events, "events");
}

static void issue(struct refresh *r, const struct tp_pg_stmt *stmt, tp_pg_cb *cb)
{
	int rc;

	if (r->failed)
		return;
	/* Counted before the call: pg.c may run the callback right away. */
	r->pending++;
	rc = tp_pg_query(r->dir->pg, stmt, NULL, cb, r);
	if (rc) {
		r->pending--;
		r->failed = true;
		snprintf(r->why, sizeof(r->why), "%s: %s", stmt->name, tp_strerror(rc));
	}
}

static void start_refresh(struct tp_directory *dir)
{
	struct refresh *r;

	if (dir->closing || dir->inflight)
		return;
	if (!tp_pg_is_up(dir->pg)) {
		refresh_failed(dir, "database not connected");
		return;
	}
	if (!(r = tp_calloc(1, sizeof(*r))) || !(r->next = tp_calloc(1, sizeof(*r->next)))) {
		tp_free(r);
		refresh_failed(dir, "out of memory");
		return;
	}
	r->dir = dir;
	r->pending = 1; /* held while issuing */
	dir->inflight = r;
	issue(r, &stmt_symbols, symbols_cb);
	issue(r, &stmt_universes, universes_cb);
	issue(r, &stmt_events, events_cb);
	refresh_done(r);
}

/* ---- public ---- */

struct tp_directory *tp_directory_create(uv_loop_t *loop, struct tp_pg *pg,
					 double refresh_interval,
					 tp_directory_loaded_cb *on_loaded,
					 void *ud)
{
	struct tp_directory *dir;

	if (!loop || !pg)
		return NULL;
	if (!(dir = tp_calloc(1, sizeof(*dir))))
		return NULL;
	dir->loop = loop;
	dir->pg = pg;
	dir->interval = refresh_interval >= 0.1 ? refresh_interval : 300;
	dir->on_loaded = on_loaded;
	dir->ud = ud;
	dir->retry = RETRY_MIN;
	if (uv_timer_init(loop, &dir->timer)) {
		tp_free(dir);
		return NULL;
	}
	dir->timer.data = dir;
	/* First refresh on the next loop turn: the pool is only starting to
	 * connect now, and callbacks should not run before we return. */
	schedule(dir, 0);
	return dir;
}

void tp_directory_close(struct tp_directory *dir)
{
	if (!dir || dir->closing)
		return;
	dir->closing = true;
	copy_free(dir->cur);
	dir->cur = NULL;
	uv_timer_stop(&dir->timer);
	uv_close((uv_handle_t *)&dir->timer, timer_closed_cb);
}

void tp_directory_refresh_now(struct tp_directory *dir)
{
	if (!dir || dir->closing || dir->inflight)
		return;
	uv_timer_stop(&dir->timer);
	start_refresh(dir);
}

void tp_directory_db_state(struct tp_directory *dir, bool up)
{
	if (!dir || dir->closing)
		return;
	if (up) {
		tp_directory_refresh_now(dir);
		return;
	}
	/* Whatever changed while the database was away, we have not seen. */
	dir->stale = true;
}

unsigned tp_directory_refresh_failures(const struct tp_directory *dir)
{
	return dir ? dir->failures : 0;
}

bool tp_directory_has_copy(const struct tp_directory *dir)
{
	return dir && dir->cur;
}

bool tp_directory_is_stale(const struct tp_directory *dir)
{
	return dir && dir->cur && (dir->stale || !tp_pg_is_up(dir->pg));
}

double tp_directory_loaded_at(const struct tp_directory *dir)
{
	return dir && dir->cur ? dir->cur->loaded_at : 0;
}

const struct tp_symbol_row *tp_directory_symbol(const struct tp_directory *dir,
						const char *symbol)
{
	char sym[TP_SYMBOL_MAX + 1];

	if (!dir || !dir->cur || !symbol || !tp_symbol_norm(symbol, strlen(symbol), sym))
		return NULL;
	return tp_dict_get(dir->cur->by_symbol, sym);
}

const char *tp_directory_sector(const struct tp_directory *dir,
				const char *symbol)
{
	const struct tp_symbol_row *row = tp_directory_symbol(dir, symbol);

	return row && row->sector[0] ? row->sector : NULL;
}

size_t tp_directory_symbol_count(const struct tp_directory *dir)
{
	return dir && dir->cur ? dir->cur->n_rows : 0;
}

const struct tp_symbol_row *tp_directory_symbol_at(const struct tp_directory *dir,
						   size_t i)
{
	return dir && dir->cur && i < dir->cur->n_rows ? &dir->cur->rows[i] : NULL;
}

size_t tp_directory_active_count(const struct tp_directory *dir)
{
	return dir && dir->cur ? dir->cur->n_active : 0;
}

size_t tp_directory_market_count(const struct tp_directory *dir)
{
	return dir && dir->cur ? dir->cur->n_markets : 0;
}

const char *tp_directory_market_at(const struct tp_directory *dir, size_t i,
				   size_t *n_symbols)
{
	if (!dir || !dir->cur || i >= dir->cur->n_markets)
		return NULL;
	if (n_symbols)
		*n_symbols = dir->cur->markets[i].n;
	return dir->cur->markets[i].market;
}

const struct tp_universe *tp_directory_universe(const struct tp_directory *dir,
						const char *key)
{
	char lkey[UKEY_MAX + 1];

	if (!dir || !dir->cur || !key || strlen(key) > UKEY_MAX)
		return NULL;
	tp_ascii_lower_into(lkey, sizeof(lkey), key);
	return tp_dict_get(dir->cur->by_key, lkey);
}

size_t tp_directory_universe_count(const struct tp_directory *dir)
{
	return dir && dir->cur ? dir->cur->n_univ : 0;
}

const struct tp_universe *tp_directory_universe_at(const struct tp_directory *dir,
						   size_t i)
{
	return dir && dir->cur && i < dir->cur->n_univ ? &dir->cur->univ[i] : NULL;
}

long long tp_directory_events_count(const struct tp_directory *dir)
{
	return dir && dir->cur ? dir->cur->events_count : 0;
}

double tp_directory_latest_event_time(const struct tp_directory *dir)
{
	return dir && dir->cur ? dir->cur->latest_event_time : 0;
}
