/*
 * api_backtests.c - backtest jobs over REST (rest.md "The user's own
 * objects"): submit, list, look up and cancel, token required.
 *
 * POST validates the request (core/backtest_req.c: symbols 1..100 with the symbol
 * charset, upper-cased; patterns 1..20 pattern type names with the scan's
 * rules, abbreviations expanded; start_date <= end_date, YYYY-MM-DD, not in
 * the future; parameters an optional object of at most 4 KiB as JSON) and
 * hands the normalised request to the registry (backtests.c), which
 * records the owner and publishes the job in one Redis transaction. Redis
 * down -> 503, nothing recorded.
 *
 * Reads render one record of the job table (core/jobs.c): what the
 * registry recorded (owner, request, submission time) and the latest
 * event state the ingest put there: status "submitted" until the producer
 * says more.
 * Another user's job and an unknown one are the same 404: existence is
 * never revealed. A job this process does not know is looked up in Redis
 * before answering 404 (another instance, or the startup load running).
 *
 * Every request is validated at once (400s, and 503 without Redis), then
 * deferred as a struct op and resumed once the caller's account is known
 * to exist (tp_api_for_user: a deleted user's token gets 401). The op is
 * owned by the callback chain and freed when it answers; the request
 * itself is gone once the handler returns (tp_http_defer).
 */
#include <ctype.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "api_backtests.h"
#include "backtests.h"
#include "io.h"
#include "redis.h"
#include "tickpush/alloc.h"
#include "tickpush/backtest_req.h"
#include "tickpush/clock.h"

enum op_kind { OP_LIST, OP_GET, OP_SUBMIT, OP_CANCEL };

struct op {
	struct tp_io *srv;
	uint64_t ticket;
	enum op_kind kind;
	long long user_id;
	char job_id[TP_JOB_ID_MAX + 1];
	char *request;       /* OP_SUBMIT: the validated request object */
	double now;          /* when the request came */
};

static void op_free(struct op *op)
{
	tp_free(op->request);
	tp_free(op);
}

/* ---- rendering ---- */

static bool is_terminal(const char *status)
{
	return !strcmp(status, "completed") || !strcmp(status, "failed") ||
	       !strcmp(status, "cancelled");
}

/* Members a job without a stored request shows as null. */
static const char *const request_members[] = {
	"symbols", "patterns", "start_date", "end_date", "parameters",
};

/* One job: registry facts + the latest event state (or null);
 * receivers >= 0 (a submit's answer) adds how many producers got it. */
static void render_job(struct tp_buf *b, const struct tp_backtest_job *j,
		       long long receivers)
{
	const char *latest = j->latest_json;
	cJSON *st = latest ? cJSON_Parse(latest) : NULL;
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(st, "status");
	const cJSON *progress = cJSON_GetObjectItemCaseSensitive(st, "progress");
	const cJSON *results = cJSON_GetObjectItemCaseSensitive(st, "results");
	const char *s = cJSON_IsString(status) ? status->valuestring : "submitted";
	char *results_json = results ? cJSON_PrintUnformatted(results) : NULL;

	/* A cancellation shows until the producer reports an end. */
	if (j->cancel_requested && !results && !is_terminal(s))
		s = "cancel_requested";
	tp_buf_json_open(b, "job_id");
	tp_buf_json_str(b, j->id);
	tp_buf_json_kv_str(b, "status", s);
	tp_buf_json_key(b, "progress", false);
	if (cJSON_IsNumber(progress))
		tp_buf_json_num(b, progress->valuedouble);
	else if (!st)
		tp_buf_puts(b, "0");
	else if (results && !strcmp(s, "completed"))
		tp_buf_puts(b, "1");
	else
		tp_buf_puts(b, "null");
	tp_buf_json_kv_time(b, "submitted_at", j->submitted_at);
	/* The registry stores the validated request object: splice its
	 * members (symbols, patterns, dates, parameters). */
	if (!tp_buf_json_kv_splice(b, j->request_json)) {
		for (size_t i = 0; i < sizeof(request_members) / sizeof(*request_members); i++)
			tp_buf_json_kv_raw(b, request_members[i], "null");
	}
	tp_buf_json_kv_raw(b, "results", results_json ? results_json : "null");
	tp_buf_json_kv_bool(b, "cancel_requested", j->cancel_requested);
	tp_buf_json_kv_raw(b, "latest", latest ? latest : "null");
	if (receivers >= 0)
		tp_buf_json_kv_int(b, "receivers", receivers);
	tp_buf_putc(b, '}');
	tp_free(results_json);
	cJSON_Delete(st);
}

static void render_list(struct tp_buf *b, struct tp_io *srv,
			long long user_id, bool partial)
{
	const struct tp_backtest_job **jobs = NULL;
	size_t n = tp_backtests_list(srv->backtests, user_id, tp_now(), &jobs);

	if (n == (size_t)-1) {
		b->oom = true;
		return;
	}
	tp_buf_json_open(b, "jobs");
	tp_buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			tp_buf_putc(b, ',');
		render_job(b, jobs[i], -1);
	}
	tp_buf_putc(b, ']');
	tp_buf_json_kv_uint(b, "count", n);
	/* The owner records are still loading from Redis (or could not be). */
	if (partial)
		tp_buf_json_kv_bool(b, "partial", true);
	tp_buf_putc(b, '}');
	tp_free(jobs);
}

static void complete_buf(struct op *op, int status, struct tp_buf *b)
{
	if (b->oom)
		tp_http_complete_error(op->srv, op->ticket, 503, "Out of memory", NULL);
	else
		tp_http_complete(op->srv, op->ticket, status, b);
}

/* ---- async steps ---- */

static void redis_error(struct op *op, int status)
{
	if (status == TP_ERR_LIMIT)
		tp_http_complete_error(op->srv, op->ticket, 429,
				       "Too many backtest jobs: older ones are forgotten after 7 days",
				       NULL);
	else if (status == TP_ERR_NOMEM)
		tp_http_complete_error(op->srv, op->ticket, 503, "Out of memory", NULL);
	else if (status == TP_ERR_UPSTREAM || status == TP_ERR_CANCELLED)
		tp_http_complete_error(op->srv, op->ticket, 503, "Redis unavailable", NULL);
	else
		tp_http_complete_error(op->srv, op->ticket, 503, "Could not submit the job", NULL);
}

static void listed(int status, const struct tp_backtest_job *job,
		   long long receivers, void *ud)
{
	struct op *op = ud;
	struct tp_buf b;

	(void)job;
	(void)receivers;
	if (status == TP_ERR_CANCELLED) {
		tp_http_complete_error(op->srv, op->ticket, 503, "Shutting down", NULL);
	} else {
		tp_buf_init(&b, 0);
		render_list(&b, op->srv, op->user_id, status != TP_OK);
		complete_buf(op, 200, &b);
		tp_buf_cleanup(&b);
	}
	op_free(op);
}

static void submitted(int status, const struct tp_backtest_job *job,
		      long long receivers, void *ud)
{
	struct op *op = ud;
	struct tp_buf b;

	if (status != TP_OK) {
		redis_error(op, status);
		op_free(op);
		return;
	}
	/* How many subscribers (producers) received the job message. */
	tp_buf_init(&b, 0);
	render_job(&b, job, receivers);
	complete_buf(op, 201, &b);
	tp_buf_cleanup(&b);
	op_free(op);
}

static void cancelled(int status, const struct tp_backtest_job *job,
		      long long receivers, void *ud)
{
	struct op *op = ud;
	struct tp_buf b;

	(void)receivers;
	if (status == TP_ERR_NOTFOUND) {
		tp_http_complete_error(op->srv, op->ticket, 404, "Not found", NULL);
	} else if (status != TP_OK) {
		redis_error(op, status);
	} else {
		tp_buf_init(&b, 0);
		tp_buf_putc(&b, '{');
		tp_buf_json_key(&b, "job_id", true);
		tp_buf_json_str(&b, job->id);
		tp_buf_json_kv_str(&b, "status", "cancel_requested");
		tp_buf_putc(&b, '}');
		complete_buf(op, 202, &b);
		tp_buf_cleanup(&b);
	}
	op_free(op);
}

/* The job is known here and belongs to the caller: answer or cancel. */
static void owned(struct op *op, const struct tp_backtest_job *job)
{
	struct tp_buf b;
	int rc;

	if (op->kind == OP_CANCEL) {
		rc = tp_backtests_cancel(op->srv->backtests, job->id, cancelled, op);
		if (rc) {
			cancelled(rc, NULL, 0, op);
		}
		return;
	}
	tp_buf_init(&b, 0);
	render_job(&b, job, -1);
	complete_buf(op, 200, &b);
	tp_buf_cleanup(&b);
	op_free(op);
}

static void fetched(int status, const struct tp_backtest_job *job,
		    long long receivers, void *ud)
{
	struct op *op = ud;

	(void)receivers;
	if (status == TP_OK && job->user_id == op->user_id) {
		owned(op, job);
		return;
	}
	if (status == TP_OK || status == TP_ERR_NOTFOUND ||
	    tp_backtests_loaded(op->srv->backtests))
		tp_http_complete_error(op->srv, op->ticket, 404, "Not found", NULL);
	else
		redis_error(op, status);
	op_free(op);
}

/* ---- input validation ---- */

/* The normalised request object (core/backtest_req.c), or NULL with the
 * error in resp. */
static char *validate_request(const struct tp_http_req *req,
			      struct tp_http_resp *resp)
{
	struct tp_errdetail err = {{0}, NULL};
	cJSON *body = NULL;
	char *out = NULL;
	int rc;

	if (tp_api_body(req, resp, &body))
		return NULL;
	rc = tp_backtest_req_validate(body, req->now, &out, &err);
	if (rc == TP_ERR_INVAL)
		tp_http_error(resp, 400, err.msg, err.field, NULL);
	else if (rc)
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
	cJSON_Delete(body);
	return out;
}

/* Job ids in paths: what the registry could hold, anything else is 404. */
static bool valid_job_id(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 1 || n > TP_JOB_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_-.:", s[i]))
			return false;
	return true;
}

/* ---- handlers ---- */

/* The caller's account exists: the rest of the request (ud: the op). */
static void op_resume(void *ud)
{
	struct op *op = ud;
	struct tp_io *srv = op->srv;
	const struct tp_backtest_job *job;
	struct tp_buf b;
	int rc;

	switch (op->kind) {
	case OP_SUBMIT:
		rc = tp_backtests_submit(srv->backtests, op->user_id, op->request, op->now,
					 submitted, op);
		if (rc)
			submitted(rc, NULL, 0, op);
		return;
	case OP_LIST:
		if (!tp_backtests_loaded(srv->backtests) &&
		    tp_redis_cache_is_connected(srv->rcache)) {
			/* The owner records are loading: answer once they are in. */
			if (tp_backtests_when_loaded(srv->backtests, listed, op))
				listed(TP_ERR_UPSTREAM, NULL, 0, op);
			return;
		}
		tp_buf_init(&b, 0);
		render_list(&b, srv, op->user_id, !tp_backtests_loaded(srv->backtests));
		complete_buf(op, 200, &b);
		tp_buf_cleanup(&b);
		op_free(op);
		return;
	case OP_GET:
	case OP_CANCEL:
		break;
	}
	job = tp_backtests_get(srv->backtests, op->job_id, op->now);
	if (job && job->user_id != op->user_id) {
		tp_http_complete_error(srv, op->ticket, 404, "Not found", NULL);
		op_free(op);
		return;
	}
	if (job) {
		owned(op, job);
		return;
	}
	if (!tp_redis_cache_is_connected(srv->rcache)) {
		if (tp_backtests_loaded(srv->backtests))
			tp_http_complete_error(srv, op->ticket, 404, "Not found", NULL);
		else
			tp_http_complete_error(srv, op->ticket, 503, "Redis unavailable", NULL);
		op_free(op);
		return;
	}
	rc = tp_backtests_fetch(srv->backtests, op->job_id, fetched, op);
	if (rc)
		fetched(rc, NULL, 0, op);
}

static void op_dismiss(void *ud)
{
	op_free(ud);
}

/* Defers the request and resumes it once the account is confirmed
 * (tickets outlive the request; everything the op needs is copied). */
static void op_start(const struct tp_http_req *req, struct tp_http_resp *resp,
		     enum op_kind kind, long long user_id, const char *job_id,
		     char *take_request)
{
	struct op *op = tp_calloc(1, sizeof(*op));

	if (!op) {
		tp_free(take_request);
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
		return;
	}
	op->srv = req->srv;
	op->kind = kind;
	op->user_id = user_id;
	op->now = req->now;
	op->request = take_request;
	if (job_id)
		snprintf(op->job_id, sizeof(op->job_id), "%s", job_id);
	if (!(op->ticket = tp_http_defer(req, resp))) {
		op_free(op);
		return;
	}
	tp_api_for_user(req->srv, op->ticket, user_id, op_resume, op_dismiss, op);
}

void tp_api_backtests(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	struct tp_io *srv = req->srv;
	char *request;
	long long uid;

	if (tp_http_require_user(req, resp, &uid))
		return;
	if (req->method == TP_HTTP_POST) {
		if (!(request = validate_request(req, resp)))
			return;
		if (!srv->backtests || !tp_redis_cache_is_connected(srv->rcache)) {
			tp_free(request);
			tp_http_error(resp, 503, "Redis unavailable", NULL, NULL);
			resp->retry_after = 1;
			return;
		}
		op_start(req, resp, OP_SUBMIT, uid, NULL, request);
		return;
	}
	if (!srv->backtests) {
		tp_http_error(resp, 503, "Redis unavailable", NULL, "\"jobs\":[]");
		return;
	}
	op_start(req, resp, OP_LIST, uid, NULL, NULL);
}

void tp_api_backtest(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	long long uid;

	if (tp_http_require_user(req, resp, &uid))
		return;
	if (!valid_job_id(req->subpath)) {
		tp_http_error(resp, 404, "Not found", NULL, NULL);
		return;
	}
	if (!req->srv->backtests) {
		tp_http_error(resp, 503, "Redis unavailable", NULL, NULL);
		return;
	}
	op_start(req, resp, req->method == TP_HTTP_DELETE ? OP_CANCEL : OP_GET, uid,
		 req->subpath, NULL);
}
