/*
 * api_users.c - the user's own objects: watchlists and filter presets
 * (rest.md "The user's own objects"), stored in PostgreSQL.
 *
 * Every route needs a valid token whose account still exists (checked
 * once deferred, tp_api_for_user; an insert that races a deletion meets
 * the foreign key: 401 as well); every query is scoped by the token's
 * user id, so another user's object is simply "not found" (404): its
 * existence is never revealed. Input is validated before any query:
 * watchlist names 1..100 chars, symbols upper-cased, deduplicated, at most
 * 500, each known to the symbols directory (400 lists the unknown ones);
 * preset filters go through tp_filter_from_json, the same validator as the
 * scan parameters, and their watchlist_id / universe references must
 * resolve. Names are unique per user (409).
 *
 * Each request is one small state machine (struct op) driven by pg
 * callbacks; it owns copies of everything it needs because the request
 * itself is gone once the handler returns (tp_http_defer).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "accounts.h"
#include "api.h"
#include "cluster.h"
#include "directory.h"
#include "io.h"
#include "pg.h"
#include "presets.h"
#include "tickpush/push.h"
#include "tickpush/alloc.h"
#include "tickpush/filter.h"
#include "tickpush/log.h"
#include "tickpush/symlist.h"

#define NAME_MAX_CHARS 100

/* ---- statements ---- */

#define WL_COLS "id, name, array_to_json(symbols)::text, " \
	"extract(epoch from created_at)::float8, extract(epoch from updated_at)::float8"
#define PR_COLS "id, name, filters::text, is_default, " \
	"extract(epoch from created_at)::float8, extract(epoch from updated_at)::float8"

static const struct tp_pg_stmt q_wl_list = {"wl_list",
	"SELECT " WL_COLS " FROM user_watchlists WHERE user_id = $1 ORDER BY name, id", 1};
static const struct tp_pg_stmt q_wl_get = {"wl_get",
	"SELECT " WL_COLS " FROM user_watchlists WHERE id = $1 AND user_id = $2", 2};
static const struct tp_pg_stmt q_wl_insert = {"wl_insert",
	"INSERT INTO user_watchlists (user_id, name, symbols) VALUES ($1, $2, "
	"ARRAY(SELECT jsonb_array_elements_text($3::jsonb))) RETURNING " WL_COLS, 3};
static const struct tp_pg_stmt q_wl_update = {"wl_update",
	"UPDATE user_watchlists SET name = COALESCE($3, name), "
	"symbols = CASE WHEN $4::jsonb IS NULL THEN symbols "
	"ELSE ARRAY(SELECT jsonb_array_elements_text($4::jsonb)) END, updated_at = now() "
	"WHERE id = $1 AND user_id = $2 RETURNING " WL_COLS, 4};
static const struct tp_pg_stmt q_wl_delete = {"wl_delete",
	"DELETE FROM user_watchlists WHERE id = $1 AND user_id = $2 RETURNING id", 2};

static const struct tp_pg_stmt q_pr_list = {"pr_list",
	"SELECT " PR_COLS " FROM user_filter_presets WHERE user_id = $1 ORDER BY name, id", 1};
static const struct tp_pg_stmt q_pr_get = {"pr_get",
	"SELECT " PR_COLS " FROM user_filter_presets WHERE id = $1 AND user_id = $2", 2};
/* Clears the user's current default before another preset becomes it; for
 * an update only when that preset exists (so a 404 changes nothing). */
static const struct tp_pg_stmt q_pr_clear_default = {"pr_clear_default",
	"UPDATE user_filter_presets SET is_default = false WHERE user_id = $1 AND is_default "
	"AND id <> $2::bigint AND ($2::bigint = 0 OR EXISTS (SELECT 1 FROM user_filter_presets p "
	"WHERE p.id = $2::bigint AND p.user_id = $1))", 2};
static const struct tp_pg_stmt q_pr_insert = {"pr_insert",
	"INSERT INTO user_filter_presets (user_id, name, filters, is_default) "
	"VALUES ($1, $2, $3::jsonb, $4::boolean) RETURNING " PR_COLS, 4};
static const struct tp_pg_stmt q_pr_update = {"pr_update",
	"UPDATE user_filter_presets SET name = COALESCE($3, name), "
	"filters = COALESCE($4::jsonb, filters), is_default = COALESCE($5::boolean, is_default), "
	"updated_at = now() WHERE id = $1 AND user_id = $2 RETURNING " PR_COLS, 5};
static const struct tp_pg_stmt q_pr_delete = {"pr_delete",
	"DELETE FROM user_filter_presets WHERE id = $1 AND user_id = $2 RETURNING id", 2};
static const struct tp_pg_stmt q_wl_owned = {"wl_owned",
	"SELECT 1 FROM user_watchlists WHERE id = $1 AND user_id = $2", 2};

/* ---- request state ---- */

enum op_kind { OP_WL_LIST, OP_WL_GET, OP_WL_CREATE, OP_WL_UPDATE, OP_WL_DELETE,
	       OP_PR_LIST, OP_PR_GET, OP_PR_CREATE, OP_PR_UPDATE, OP_PR_DELETE };

struct op {
	struct tp_io *srv;
	uint64_t ticket;
	enum op_kind kind;
	char user_id[24];
	char id[24];             /* object id from the path, "0" for creates */
	char *name;              /* NULL = not given (PUT) */
	char *symbols_json;      /* validated JSON array, NULL = not given */
	char *filters_json;      /* validated JSON object, NULL = not given */
	int is_default;          /* -1 = not given, 0/1 */
	char watchlist_ref[24];  /* preset filters.watchlist_id, "" = none */
};

static void op_free(struct op *op)
{
	if (!op)
		return;
	tp_free(op->name);
	tp_free(op->symbols_json);
	tp_free(op->filters_json);
	tp_free(op);
}

static bool is_watchlist(enum op_kind k)
{
	return k <= OP_WL_DELETE;
}

/* ---- rendering ---- */

/* {"id":...,"name":"..." - columns 0 and 1 (the id a bigint's text). */
static void put_head(struct tp_buf *b, const PGresult *res, int row)
{
	tp_buf_json_open(b, "id");
	tp_buf_puts(b, PQgetvalue(res, row, 0));
	tp_buf_json_kv_str(b, "name", PQgetvalue(res, row, 1));
}

/* ,"created_at":...,"updated_at":... - epoch seconds in columns col and
 * col + 1, null when NULL. */
static void put_times(struct tp_buf *b, const PGresult *res, int row, int col)
{
	static const char *const keys[] = {"created_at", "updated_at"};

	for (int i = 0; i < 2; i++) {
		if (PQgetisnull(res, row, col + i))
			tp_buf_json_kv_raw(b, keys[i], "null");
		else
			tp_buf_json_kv_num(b, keys[i], strtod(PQgetvalue(res, row, col + i), NULL));
	}
}

static void render_watchlist(struct tp_buf *b, const PGresult *res, int row)
{
	put_head(b, res, row);
	/* array_to_json of a text[]: already JSON. */
	tp_buf_json_kv_raw(b, "symbols",
			   PQgetisnull(res, row, 2) ? "[]" : PQgetvalue(res, row, 2));
	put_times(b, res, row, 3);
	tp_buf_putc(b, '}');
}

static void render_preset(struct tp_buf *b, const PGresult *res, int row)
{
	put_head(b, res, row);
	/* filters::text of a jsonb: already JSON. */
	tp_buf_json_kv_raw(b, "filters", PQgetvalue(res, row, 2));
	tp_buf_json_kv_bool(b, "is_default", PQgetvalue(res, row, 3)[0] == 't');
	put_times(b, res, row, 4);
	tp_buf_putc(b, '}');
}

static void finish_rows(struct op *op, const PGresult *res, int status_ok,
			bool list)
{
	struct tp_buf b;
	void (*render)(struct tp_buf *, const PGresult *, int) =
		is_watchlist(op->kind) ? render_watchlist : render_preset;

	tp_buf_init(&b, 0);
	if (list) {
		tp_buf_putc(&b, '{');
		tp_buf_json_key(&b, is_watchlist(op->kind) ? "watchlists" : "presets", true);
		tp_buf_putc(&b, '[');
		for (int i = 0; i < PQntuples(res); i++) {
			if (i)
				tp_buf_putc(&b, ',');
			render(&b, res, i);
		}
		tp_buf_putc(&b, ']');
		tp_buf_json_kv_int(&b, "count", PQntuples(res));
		tp_buf_putc(&b, '}');
	} else {
		render(&b, res, 0);
	}
	tp_http_complete(op->srv, op->ticket, status_ok, &b);
	tp_buf_cleanup(&b);
}

/* ---- query plumbing ---- */

static bool is_unique_violation(const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return state && !strcmp(state, "23505");
}

static void db_error(struct op *op, int status, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	/* foreign_key_violation: the user was deleted after the check. */
	if (state && !strcmp(state, "23503")) {
		tp_user_learned(op->srv, strtoll(op->user_id, NULL, 10), false);
		tp_http_complete_error(op->srv, op->ticket, 401, TP_ACCOUNT_GONE_MSG, NULL);
		return;
	}
	if (is_unique_violation(res)) {
		char msg[160];

		snprintf(msg, sizeof(msg), "A %s named \"%.100s\" already exists",
			 is_watchlist(op->kind) ? "watchlist" : "filter preset",
			 op->name ? op->name : "");
		tp_http_complete_error(op->srv, op->ticket, 409, msg, "name");
		return;
	}
	if (status == TP_ERR_TIMEOUT)
		tp_http_complete_error(op->srv, op->ticket, 503, "Database timed out", NULL);
	else
		tp_http_complete_error(op->srv, op->ticket, 503, "Database unavailable", NULL);
}

static void run(struct op *op, const struct tp_pg_stmt *stmt,
		const char *const *params, tp_pg_cb *cb)
{
	if (tp_pg_query(op->srv->pg, stmt, params, cb, op)) {
		tp_http_complete_error(op->srv, op->ticket, 503, "Database unavailable", NULL);
		op_free(op);
	}
}

static void step_main(struct op *op);

/* ---- live subscriptions follow their presets ---- */

struct follow {
	struct tp_io *srv;
	long long user, preset;
};

static void follow_resolved(int status, const struct tp_filter *filter,
			    const struct tp_errdetail *err, void *ud)
{
	struct follow *f = ud;

	(void)err;
	if (status == TP_OK)
		tp_push_preset_changed(f->srv->push, f->user, f->preset, filter);
	else if (status == TP_ERR_NOTFOUND || status == TP_ERR_AUTH) /* or its user */
		tp_push_preset_changed(f->srv->push, f->user, f->preset, NULL);
	/* Database trouble: subscriptions keep their last filter. */
	tp_free(f);
}

static void refollow(long long user, long long preset, void *ud)
{
	struct tp_io *srv = ud;
	struct follow *f = tp_calloc(1, sizeof(*f));

	if (!f)
		return;
	f->srv = srv;
	f->user = user;
	f->preset = preset;
	if (tp_presets_resolve(srv, user, preset, follow_resolved, f))
		tp_free(f);
}

void tp_api_users_refollow(struct tp_io *srv, long long user)
{
	/* A deleted preset resolves to not found: its subscriptions end. */
	if (srv->push && user > 0)
		tp_push_foreach_preset(srv->push, user, refollow, srv);
}

/* A preset or watchlist of user changed: re-resolve what live
 * subscriptions use. Deleting a preset ends its subscriptions. Other
 * instances (cluster mode) hear of it through the stream and
 * re-resolve every followed preset of that user. */
static void notify_change(struct op *op)
{
	long long user = strtoll(op->user_id, NULL, 10);
	long long id = strtoll(op->id, NULL, 10);

	if (!op->srv->push)
		return;
	switch (op->kind) {
	case OP_PR_DELETE:
	case OP_PR_UPDATE:
	case OP_WL_UPDATE:
	case OP_WL_DELETE:
		tp_cluster_user_changed(op->srv->cluster, user);
		break;
	default:
		break;
	}
	switch (op->kind) {
	case OP_PR_DELETE:
		tp_push_preset_changed(op->srv->push, user, id, NULL);
		break;
	case OP_PR_UPDATE:
		refollow(user, id, op->srv);
		break;
	case OP_WL_UPDATE:
	case OP_WL_DELETE:
		/* Any followed preset of this user may reference it. */
		tp_push_foreach_preset(op->srv->push, user, refollow, op->srv);
		break;
	default:
		break;
	}
}

static void main_done(int status, const PGresult *res, void *ud)
{
	struct op *op = ud;

	if (status != TP_OK) {
		db_error(op, status, res);
	} else {
		switch (op->kind) {
		case OP_WL_LIST:
		case OP_PR_LIST:
			finish_rows(op, res, 200, true);
			break;
		case OP_WL_DELETE:
		case OP_PR_DELETE:
			if (PQntuples(res) == 0) {
				tp_http_complete_error(op->srv, op->ticket, 404, "Not found", NULL);
			} else {
				struct tp_buf b;

				tp_buf_init(&b, 0);
				tp_buf_putc(&b, '{');
				tp_buf_json_key(&b, "deleted", true);
				tp_buf_json_bool(&b, true);
				/* op->id: the path's digits, checked. */
				tp_buf_json_kv_raw(&b, "id", op->id);
				tp_buf_putc(&b, '}');
				tp_http_complete(op->srv, op->ticket, 200, &b);
				tp_buf_cleanup(&b);
				notify_change(op);
			}
			break;
		default:
			if (PQntuples(res) == 0) {
				tp_http_complete_error(op->srv, op->ticket, 404, "Not found", NULL);
			} else {
				finish_rows(op, res,
					    op->kind == OP_WL_CREATE || op->kind == OP_PR_CREATE ? 201 : 200,
					    false);
				notify_change(op);
			}
		}
	}
	op_free(op);
}

static void step_main(struct op *op)
{
	const char *p[5] = {NULL, NULL, NULL, NULL, NULL};
	const char *def = op->is_default < 0 ? NULL : op->is_default ? "true" : "false";

	switch (op->kind) {
	case OP_WL_LIST:
		p[0] = op->user_id;
		run(op, &q_wl_list, p, main_done);
		break;
	case OP_PR_LIST:
		p[0] = op->user_id;
		run(op, &q_pr_list, p, main_done);
		break;
	case OP_WL_GET:
	case OP_WL_DELETE:
	case OP_PR_GET:
	case OP_PR_DELETE:
		p[0] = op->id;
		p[1] = op->user_id;
		run(op, op->kind == OP_WL_GET ? &q_wl_get : op->kind == OP_WL_DELETE ? &q_wl_delete
			: op->kind == OP_PR_GET ? &q_pr_get : &q_pr_delete, p, main_done);
		break;
	case OP_WL_CREATE:
		p[0] = op->user_id;
		p[1] = op->name;
		p[2] = op->symbols_json;
		run(op, &q_wl_insert, p, main_done);
		break;
	case OP_WL_UPDATE:
		p[0] = op->id;
		p[1] = op->user_id;
		p[2] = op->name;
		p[3] = op->symbols_json;
		run(op, &q_wl_update, p, main_done);
		break;
	case OP_PR_CREATE:
		p[0] = op->user_id;
		p[1] = op->name;
		p[2] = op->filters_json;
		p[3] = def ? def : "false";
		run(op, &q_pr_insert, p, main_done);
		break;
	case OP_PR_UPDATE:
		p[0] = op->id;
		p[1] = op->user_id;
		p[2] = op->name;
		p[3] = op->filters_json;
		p[4] = def;
		run(op, &q_pr_update, p, main_done);
		break;
	}
}

static void default_cleared(int status, const PGresult *res, void *ud)
{
	struct op *op = ud;

	if (status != TP_OK) {
		db_error(op, status, res);
		op_free(op);
		return;
	}
	step_main(op);
}

/* Presets: after references are checked, clear the old default if this
 * one becomes it, then write. */
static void step_write_preset(struct op *op)
{
	const char *p[2] = {op->user_id, op->id};

	if (op->is_default == 1)
		run(op, &q_pr_clear_default, p, default_cleared);
	else
		step_main(op);
}

static void watchlist_ref_checked(int status, const PGresult *res, void *ud)
{
	struct op *op = ud;

	if (status != TP_OK) {
		db_error(op, status, res);
		op_free(op);
		return;
	}
	if (PQntuples(res) == 0) {
		tp_http_complete_error(op->srv, op->ticket, 400,
				       "filters.watchlist_id: no such watchlist", "watchlist_id");
		op_free(op);
		return;
	}
	step_write_preset(op);
}

/* ---- input validation ---- */

static int parse_id(const char *s, char out[24])
{
	char *end;
	long long v;

	if (!s || !*s || strlen(s) > 18 || !isdigit((unsigned char)s[0]))
		return TP_ERR_INVAL;
	v = strtoll(s, &end, 10);
	if (*end || v <= 0)
		return TP_ERR_INVAL;
	snprintf(out, 24, "%lld", v);
	return TP_OK;
}

static int validate_name(const cJSON *body, bool required, char **out,
			 struct tp_http_resp *resp)
{
	const char *name;

	if (tp_api_string(body, "name", 1, NAME_MAX_CHARS,
			  TP_BODY_PRINTABLE | (required ? 0 : TP_BODY_OPTIONAL),
			  &name, resp))
		return TP_ERR_INVAL;
	if (name && !(*out = tp_strdup(name))) {
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
		return TP_ERR_NOMEM;
	}
	return TP_OK;
}

static const char *dir_lookup(void *ud, const char *sym)
{
	const struct tp_symbol_row *row = tp_directory_symbol(ud, sym);

	return row ? row->symbol : NULL; /* borrowed: valid during the call */
}

/* symbols: array of strings -> upper-cased, deduplicated JSON array; every
 * symbol must be in the directory (protocol/symlist.c). */
static int validate_symbols(struct tp_io *srv, const cJSON *body,
			    bool required, char **out, struct tp_http_resp *resp)
{
	struct tp_errdetail err = {{0}, NULL};
	bool dir = srv->dir && tp_directory_has_copy(srv->dir);
	struct tp_buf extra;
	int rc;

	tp_buf_init(&extra, 0);
	rc = tp_symlist_validate(body, required, dir ? dir_lookup : NULL, srv->dir, out,
				 &extra, &err);
	if (rc == TP_ERR_INVAL)
		tp_http_error(resp, 400, err.msg, err.field,
			      extra.len ? tp_buf_cstr(&extra) : NULL);
	else if (rc == TP_ERR_UPSTREAM)
		tp_http_error(resp, 503, "Database unavailable", NULL, NULL);
	else if (rc)
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
	tp_buf_cleanup(&extra);
	return rc;
}

static int validate_filters(struct tp_io *srv, struct op *op,
			    const cJSON *body, bool required,
			    struct tp_http_resp *resp)
{
	const cJSON *obj = cJSON_GetObjectItemCaseSensitive(body, "filters");
	struct tp_filter f;
	struct tp_filter_refs refs;
	struct tp_errdetail err = {{0}, NULL};

	if (!obj && !required)
		return TP_OK;
	if (!cJSON_IsObject(obj)) {
		tp_http_error(resp, 400, "filters: required, an object of scan parameters",
			      "filters", NULL);
		return TP_ERR_INVAL;
	}
	if (tp_filter_from_json(&f, obj, &refs, &err)) {
		char msg[200];

		snprintf(msg, sizeof(msg), "filters.%s", err.msg);
		tp_http_error(resp, 400, msg, err.field, NULL);
		return TP_ERR_INVAL;
	}
	tp_filter_cleanup(&f);
	if (refs.universe[0] &&
	    (!srv->dir || !tp_directory_universe(srv->dir, refs.universe))) {
		tp_http_error(resp, 400, srv->dir && tp_directory_has_copy(srv->dir)
			      ? "filters.universe: no such universe" : "Database unavailable",
			      "universe", NULL);
		return TP_ERR_INVAL;
	}
	if (refs.watchlist_id > 0)
		snprintf(op->watchlist_ref, sizeof(op->watchlist_ref), "%lld",
			 refs.watchlist_id);
	if (!(op->filters_json = cJSON_PrintUnformatted(obj))) {
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
		return TP_ERR_NOMEM;
	}
	/* cJSON_Print* allocates with the hooks (tp_malloc): tp_free frees. */
	return TP_OK;
}

static int validate_default(const cJSON *body, struct op *op,
			    struct tp_http_resp *resp)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "is_default");

	op->is_default = -1;
	if (!v)
		return TP_OK;
	if (!cJSON_IsBool(v)) {
		tp_http_error(resp, 400, "is_default: must be true or false", "is_default", NULL);
		return TP_ERR_INVAL;
	}
	op->is_default = cJSON_IsTrue(v);
	return TP_OK;
}

/* ---- handlers ---- */

/* The account exists: the first query of the request. */
static void step_first(void *ud)
{
	struct op *op = ud;

	if (op->watchlist_ref[0]) {
		const char *p[2] = {op->watchlist_ref, op->user_id};

		run(op, &q_wl_owned, p, watchlist_ref_checked);
	} else if (op->kind == OP_PR_CREATE || op->kind == OP_PR_UPDATE) {
		step_write_preset(op);
	} else {
		step_main(op);
	}
}

static void op_dismiss(void *ud)
{
	op_free(ud);
}

static void start(const struct tp_http_req *req, struct tp_http_resp *resp,
		  enum op_kind kind, const char *id)
{
	struct tp_io *srv = req->srv;
	long long uid;
	struct op *op = NULL;
	cJSON *body = NULL;
	bool writes = kind == OP_WL_CREATE || kind == OP_WL_UPDATE ||
		      kind == OP_PR_CREATE || kind == OP_PR_UPDATE;
	bool create = kind == OP_WL_CREATE || kind == OP_PR_CREATE;

	if (tp_http_require_user(req, resp, &uid))
		return;
	if (!(op = tp_calloc(1, sizeof(*op)))) {
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
		return;
	}
	op->srv = srv;
	op->kind = kind;
	op->is_default = -1;
	snprintf(op->user_id, sizeof(op->user_id), "%lld", uid);
	snprintf(op->id, sizeof(op->id), "0");
	if (id && parse_id(id, op->id)) {
		tp_http_error(resp, 404, "Not found", NULL, NULL);
		goto fail;
	}
	if (writes) {
		if (tp_api_body(req, resp, &body))
			goto fail;
		if (validate_name(body, create, &op->name, resp))
			goto fail;
		if (is_watchlist(kind)) {
			if (validate_symbols(srv, body, create, &op->symbols_json, resp))
				goto fail;
		} else {
			if (validate_filters(srv, op, body, create, resp) ||
			    validate_default(body, op, resp))
				goto fail;
		}
		if (!create && !op->name && !op->symbols_json && !op->filters_json &&
		    op->is_default < 0) {
			tp_http_error(resp, 400, "Nothing to change: give name, symbols, filters or is_default",
				      NULL, NULL);
			goto fail;
		}
		cJSON_Delete(body);
		body = NULL;
	}
	if (!srv->pg) {
		tp_http_error(resp, 503, "Database unavailable", NULL, NULL);
		goto fail;
	}
	op->ticket = tp_http_defer(req, resp);
	if (!op->ticket)
		goto fail;
	/* The token may name a deleted account: confirm it first (cached). */
	tp_api_for_user(srv, op->ticket, uid, step_first, op_dismiss, op);
	return;
fail:
	cJSON_Delete(body);
	op_free(op);
}

void tp_api_watchlists(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	start(req, resp, req->method == TP_HTTP_POST ? OP_WL_CREATE : OP_WL_LIST, NULL);
}

void tp_api_watchlist(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	enum op_kind k = req->method == TP_HTTP_PUT ? OP_WL_UPDATE :
			 req->method == TP_HTTP_DELETE ? OP_WL_DELETE : OP_WL_GET;

	start(req, resp, k, req->subpath);
}

void tp_api_presets(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	start(req, resp, req->method == TP_HTTP_POST ? OP_PR_CREATE : OP_PR_LIST, NULL);
}

void tp_api_preset(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	enum op_kind k = req->method == TP_HTTP_PUT ? OP_PR_UPDATE :
			 req->method == TP_HTTP_DELETE ? OP_PR_DELETE : OP_PR_GET;

	start(req, resp, k, req->subpath);
}
