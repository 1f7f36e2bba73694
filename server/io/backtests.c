/*
 * backtests.c - the backtest job registry: job_id -> owner, request and
 * state of the submission, kept in process and in Redis.
 *
 * Responsibilities:
 *  - Submission: one MULTI/EXEC on the cache connection SETs the owner key
 *    and the job key (7-day TTL) and PUBLISHes the job on P.jobs.backtest,
 *    so either all of it happened or none of it. The job is entered in
 *    process (unconfirmed) before the transaction is sent, so a progress
 *    event racing the EXEC reply still finds its owner; a failed
 *    transaction removes it again: nothing stays recorded.
 *  - Startup load: once the cache connection is up, SCAN MATCH
 *    P:backtest:owner:* (never KEYS) and MGET each owner key with its job
 *    key, so a restarted tickpush still knows who owns which job. Requests
 *    that need the complete picture (a user's list) can wait for it.
 *  - Lookups for the push hub (tp_backtests_owner) and for REST; a job
 *    this process does not know can be fetched from Redis and adopted
 *    (another instance recorded it, or the load has not finished).
 *  - Cancellation: PUBLISH on P.jobs.cancel.
 *  - Forgetting: the records live in the one job table (core/jobs.c,
 *    owned by the ingest, which keeps each job's latest event state in
 *    the same record); its one rule forgets a job with its owner key
 *    (7 days), and this registry's timer prunes once a minute.
 *
 * Unconfirmed jobs are invisible to REST (get/list) but known to
 * tp_backtests_owner. Records without an owner (events of a job this
 * process has not learnt about) are invisible to both until adopted.
 *
 * Ownership and lifetime: the registry borrows the job table (the ingest
 * outlives it) and owns one struct op per Redis command it waits for.
 * hiredis calls every callback exactly once (with NULL when the
 * connection goes), so `inflight` counts them; tp_backtests_close frees
 * the registry only when the timer has closed and inflight is 0. Op
 * callbacks look jobs up by id, never keep pointers across the loop.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <openssl/rand.h>

#include "backtests.h"
#include "cluster.h"
#include "io.h"
#include "redis.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/clock.h"
#include "tickpush/ingest.h"
#include "tickpush/jobs.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"

#define LOAD_RETRY_MS 100
#define PRUNE_MS 60000
#define MAX_WAITERS 1024
#define MAX_WAIT_S 3.0            /* a parked request answers (partial) by then */
#define SCAN_COUNT "500"

enum op_kind { OP_SCAN, OP_LOAD, OP_SUBMIT, OP_FETCH, OP_CANCEL };

struct op {
	struct tp_backtests *bt;
	enum op_kind kind;
	char job_id[TP_JOB_ID_MAX + 1];
	tp_backtests_cb *cb;
	void *ud;
};

struct waiter {
	tp_backtests_cb *cb;
	void *ud;
	double deadline;          /* monotonic */
};

struct tp_backtests {
	struct tp_io *srv;
	char prefix[96];
	struct tp_jobs *jobs;     /* the ingest's job table (jobs.h), borrowed */
	uv_timer_t timer;
	bool loading, scan_done, load_failed, loaded;
	size_t load_pending;      /* MGETs of the load in flight */
	size_t load_adopted;
	size_t inflight;          /* callbacks hiredis still owes us */
	bool closing, timer_closed;
	struct waiter waiters[MAX_WAITERS];
	size_t n_waiters;
};

/* ---- jobs ---- */

/* A job with a known owner (the table also holds ownerless records: the
 * state of jobs only seen in events). */
static struct tp_backtest_job *known(const struct tp_backtests *bt, const char *job_id)
{
	struct tp_backtest_job *j = tp_jobs_find(bt->jobs, job_id);

	return j && j->user_id ? j : NULL;
}

/* Adopts a job read from Redis (owner key value, job key value or NULL).
 * What this process already knows wins. Returns the job or NULL. */
static struct tp_backtest_job *adopt(struct tp_backtests *bt,
				     const char *job_id, const char *owner,
				     const char *job_value, size_t job_len,
				     double now)
{
	struct tp_backtest_job *j = known(bt, job_id);
	char *end, *request = NULL;
	long long uid;
	double submitted_at = 0;
	cJSON *root = NULL;

	if (j)
		return j;
	uid = strtoll(owner, &end, 10);
	if (end == owner || *end || uid <= 0)
		return NULL;
	if (job_value)
		root = cJSON_ParseWithLength(job_value, job_len);
	if (cJSON_IsObject(root)) {
		const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "user_id");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "submitted_at");
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "request");

		/* The job key must agree with the owner key to be believed. */
		if (cJSON_IsNumber(u) && u->valuedouble == (double)uid) {
			if (cJSON_IsNumber(s) && s->valuedouble > 0 &&
			    s->valuedouble < 1e11)
				submitted_at = s->valuedouble;
			if (cJSON_IsObject(r))
				request = cJSON_PrintUnformatted(r);
		}
	}
	cJSON_Delete(root);
	if (submitted_at && submitted_at + TP_BACKTEST_TTL <= now) {
		tp_free(request);
		return NULL;
	}
	return tp_jobs_add(bt->jobs, job_id, uid, submitted_at,
		       submitted_at ? submitted_at + TP_BACKTEST_TTL
				    : now + TP_BACKTEST_TTL,
		       request, true);
}

/* ---- Redis plumbing ---- */

static void maybe_free(struct tp_backtests *bt);
static void on_reply(redisAsyncContext *ac, void *r, void *privdata);

static struct op *op_new(struct tp_backtests *bt, enum op_kind kind,
			 const char *job_id, tp_backtests_cb *cb, void *ud)
{
	struct op *op = tp_calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->bt = bt;
	op->kind = kind;
	snprintf(op->job_id, sizeof(op->job_id), "%s", job_id ? job_id : "");
	op->cb = cb;
	op->ud = ud;
	return op;
}

/* Sends one command; with op, on_reply gets it (and owns op from then on).
 * Without op the reply is ignored. TP_OK or TP_ERR_UPSTREAM. */
static int cmd(struct tp_backtests *bt, struct op *op, int argc,
	       const char **argv)
{
	size_t lens[8];

	TP_ASSERT(argc <= 8);
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if (tp_redis_cache_command(bt->srv->rcache, op ? on_reply : NULL, op,
				   argc, argv, lens))
		return TP_ERR_UPSTREAM;
	if (op)
		bt->inflight++;
	return TP_OK;
}

static void owner_key(const struct tp_backtests *bt, const char *job_id,
		      char *out, size_t n)
{
	snprintf(out, n, "%s:backtest:owner:%s", bt->prefix, job_id);
}

static void job_key(const struct tp_backtests *bt, const char *job_id,
		    char *out, size_t n)
{
	snprintf(out, n, "%s:backtest:job:%s", bt->prefix, job_id);
}

/* ---- startup load ---- */

static void notify_waiters(struct tp_backtests *bt, int status)
{
	size_t n = bt->n_waiters;
	struct waiter w[MAX_WAITERS];

	/* Copy first: a waiter may park again (and must then wait for the
	 * next round, not be called twice now). */
	memcpy(w, bt->waiters, n * sizeof(w[0]));
	bt->n_waiters = 0;
	for (size_t i = 0; i < n; i++)
		w[i].cb(status, NULL, 0, w[i].ud);
}

/* Answers the parked requests that waited too long (TP_ERR_TIMEOUT): a
 * slow load must not hold a user's list hostage. */
static void expire_waiters(struct tp_backtests *bt, double mono)
{
	struct waiter due[MAX_WAITERS];
	size_t n_due = 0, keep = 0;

	for (size_t i = 0; i < bt->n_waiters; i++) {
		if (bt->waiters[i].deadline <= mono)
			due[n_due++] = bt->waiters[i];
		else
			bt->waiters[keep++] = bt->waiters[i];
	}
	bt->n_waiters = keep;
	for (size_t i = 0; i < n_due; i++)
		due[i].cb(TP_ERR_TIMEOUT, NULL, 0, due[i].ud);
}

static void load_check_done(struct tp_backtests *bt)
{
	if (!bt->loading || !bt->scan_done || bt->load_pending)
		return;
	bt->loading = false;
	if (bt->load_failed) {
		TP_LOG(TP_LOG_WARN, "msg=\"backtest owners load interrupted, will retry\" adopted=%zu",
		       bt->load_adopted);
		notify_waiters(bt, TP_ERR_UPSTREAM);
		return;
	}
	bt->loaded = true;
	TP_LOG(TP_LOG_NOTICE, "msg=\"backtest owners loaded\" adopted=%zu jobs=%zu",
	       bt->load_adopted, tp_jobs_count(bt->jobs));
	if (!bt->closing)
		uv_timer_set_repeat(&bt->timer, PRUNE_MS);
	notify_waiters(bt, TP_OK);
}

static void load_scan(struct tp_backtests *bt, const char *cursor)
{
	char match[160];
	const char *argv[6] = {"SCAN", cursor, "MATCH", match, "COUNT", SCAN_COUNT};
	struct op *op = op_new(bt, OP_SCAN, NULL, NULL, NULL);

	snprintf(match, sizeof(match), "%s:backtest:owner:*", bt->prefix);
	if (!op || cmd(bt, op, 6, argv)) {
		tp_free(op);
		bt->load_failed = true;
		bt->scan_done = true;
	}
}

static void load_start(struct tp_backtests *bt)
{
	bt->loading = true;
	bt->scan_done = false;
	bt->load_failed = false;
	bt->load_adopted = 0;
	load_scan(bt, "0");
	load_check_done(bt);
}

static void scan_reply(struct tp_backtests *bt, const redisReply *reply)
{
	const redisReply *keys;
	size_t plen = strlen(bt->prefix) + strlen(":backtest:owner:");

	if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_ARRAY || bt->closing) {
		bt->load_failed = true;
		bt->scan_done = true;
		return;
	}
	keys = reply->element[1];
	for (size_t i = 0; i < keys->elements; i++) {
		const redisReply *k = keys->element[i];
		char jkey[200];
		const char *argv[3];
		struct op *op;

		if (k->type != REDIS_REPLY_STRING || k->len <= plen ||
		    k->len - plen > TP_JOB_ID_MAX || memchr(k->str, '\0', k->len))
			continue;
		if (!(op = op_new(bt, OP_LOAD, k->str + plen, NULL, NULL))) {
			bt->load_failed = true;
			continue;
		}
		job_key(bt, op->job_id, jkey, sizeof(jkey));
		argv[0] = "MGET";
		argv[1] = k->str;
		argv[2] = jkey;
		if (cmd(bt, op, 3, argv)) {
			tp_free(op);
			bt->load_failed = true;
			continue;
		}
		bt->load_pending++;
	}
	if (!strcmp(reply->element[0]->str, "0"))
		bt->scan_done = true;
	else
		load_scan(bt, reply->element[0]->str);
}

/* MGET owner-key job-key: [owner or nil, job JSON or nil]. */
static bool mget_pair(const redisReply *reply, const redisReply **owner,
		      const redisReply **job)
{
	if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
		return false;
	*owner = reply->element[0];
	*job = reply->element[1];
	return true;
}

static void load_reply(struct tp_backtests *bt, struct op *op,
		       const redisReply *reply)
{
	const redisReply *owner, *job;

	bt->load_pending--;
	if (!mget_pair(reply, &owner, &job)) {
		bt->load_failed = true;
		return;
	}
	/* nil: the key expired between SCAN and MGET. */
	if (owner->type == REDIS_REPLY_STRING &&
	    !known(bt, op->job_id) &&
	    adopt(bt, op->job_id, owner->str,
		  job->type == REDIS_REPLY_STRING ? job->str : NULL,
		  job->type == REDIS_REPLY_STRING ? job->len : 0, tp_now()))
		bt->load_adopted++;
}

/* ---- replies ---- */

static void submit_reply(struct tp_backtests *bt, struct op *op,
			 const redisReply *reply)
{
	struct tp_backtest_job *j = known(bt, op->job_id);
	bool ok = reply && reply->type == REDIS_REPLY_ARRAY &&
		  reply->elements == 3 && j;

	for (size_t i = 0; ok && i < 3; i++)
		if (reply->element[i]->type == REDIS_REPLY_ERROR)
			ok = false;
	if (!ok) {
		if (reply && reply->type == REDIS_REPLY_ERROR)
			TP_LOG(TP_LOG_WARN, "msg=\"backtest submit failed\" error=\"%.200s\"",
			       reply->str);
		tp_jobs_remove(bt->jobs, op->job_id);
		op->cb(TP_ERR_UPSTREAM, NULL, 0, op->ud);
		return;
	}
	j->confirmed = true;
	TP_METRIC_INC(backtests_submitted);
	TP_LOG(TP_LOG_INFO, "msg=\"backtest submitted\" job_id=%s user_id=%lld receivers=%lld",
	       j->id, j->user_id, reply->element[2]->integer);
	op->cb(TP_OK, j, reply->element[2]->type == REDIS_REPLY_INTEGER
		       ? reply->element[2]->integer : 0, op->ud);
}

static void fetch_reply(struct tp_backtests *bt, struct op *op,
			const redisReply *reply)
{
	const redisReply *owner, *job;
	struct tp_backtest_job *j;

	if (!mget_pair(reply, &owner, &job)) {
		op->cb(TP_ERR_UPSTREAM, NULL, 0, op->ud);
		return;
	}
	if (owner->type != REDIS_REPLY_STRING) {
		/* Maybe submitted meanwhile by this very process. */
		j = known(bt, op->job_id);
		op->cb(j && j->confirmed ? TP_OK : TP_ERR_NOTFOUND,
		       j && j->confirmed ? j : NULL, 0, op->ud);
		return;
	}
	j = adopt(bt, op->job_id, owner->str,
		  job->type == REDIS_REPLY_STRING ? job->str : NULL,
		  job->type == REDIS_REPLY_STRING ? job->len : 0, tp_now());
	if (j && !j->confirmed)
		j = NULL;
	op->cb(j ? TP_OK : TP_ERR_NOTFOUND, j, 0, op->ud);
}

static void cancel_reply(struct tp_backtests *bt, struct op *op,
			 const redisReply *reply)
{
	struct tp_backtest_job *j = known(bt, op->job_id);

	if (!reply || reply->type != REDIS_REPLY_INTEGER) {
		op->cb(TP_ERR_UPSTREAM, NULL, 0, op->ud);
		return;
	}
	if (!j) {
		op->cb(TP_ERR_NOTFOUND, NULL, 0, op->ud);
		return;
	}
	j->cancel_requested = true;
	TP_LOG(TP_LOG_INFO, "msg=\"backtest cancel requested\" job_id=%s user_id=%lld",
	       j->id, j->user_id);
	op->cb(TP_OK, j, reply->integer, op->ud);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct op *op = privdata;
	struct tp_backtests *bt = op->bt;
	const redisReply *reply = r;

	(void)ac;
	bt->inflight--;
	switch (op->kind) {
	case OP_SCAN:
		scan_reply(bt, reply);
		load_check_done(bt);
		break;
	case OP_LOAD:
		load_reply(bt, op, reply);
		load_check_done(bt);
		break;
	case OP_SUBMIT:
		submit_reply(bt, op, reply);
		break;
	case OP_FETCH:
		fetch_reply(bt, op, reply);
		break;
	case OP_CANCEL:
		cancel_reply(bt, op, reply);
		break;
	}
	tp_free(op);
	maybe_free(bt);
}

/* ---- timer: start the load, prune expired jobs ---- */

static void tick(uv_timer_t *t)
{
	struct tp_backtests *bt = t->data;
	bool connected = tp_redis_cache_is_connected(bt->srv->rcache);

	if (!bt->loaded) {
		if (!bt->loading && connected)
			load_start(bt);
		else if (!connected && bt->n_waiters)
			notify_waiters(bt, TP_ERR_UPSTREAM);
		expire_waiters(bt, tp_mono());
		return;
	}
	size_t removed = tp_jobs_prune(bt->jobs, tp_now());

	if (removed)
		TP_LOG(TP_LOG_INFO, "msg=\"expired backtest jobs forgotten\" count=%zu",
		       removed);
}

/* ---- lifecycle ---- */

struct tp_backtests *tp_backtests_create(struct tp_io *srv)
{
	struct tp_backtests *bt = tp_calloc(1, sizeof(*bt));

	if (!bt)
		return NULL;
	bt->srv = srv;
	snprintf(bt->prefix, sizeof(bt->prefix), "%s", srv->cfg->channel_prefix);
	bt->jobs = tp_ingest_jobs(srv->ingest);
	uv_timer_init(&srv->loop, &bt->timer);
	bt->timer.data = bt;
	uv_timer_start(&bt->timer, tick, 0, LOAD_RETRY_MS);
	return bt;
}

static void maybe_free(struct tp_backtests *bt)
{
	if (!bt->closing || !bt->timer_closed || bt->inflight)
		return;
	tp_free(bt);
}

static void timer_closed(uv_handle_t *h)
{
	struct tp_backtests *bt = h->data;

	bt->timer_closed = true;
	maybe_free(bt);
}

void tp_backtests_close(struct tp_backtests *bt)
{
	if (!bt || bt->closing)
		return;
	bt->closing = true;
	notify_waiters(bt, TP_ERR_CANCELLED);
	uv_close((uv_handle_t *)&bt->timer, timer_closed);
}

/* ---- queries ---- */

bool tp_backtests_loaded(const struct tp_backtests *bt)
{
	return bt && bt->loaded;
}

size_t tp_backtests_count(const struct tp_backtests *bt)
{
	return bt ? tp_jobs_count(bt->jobs) : 0;
}

void tp_backtests_learn(struct tp_backtests *bt, const char *job_id,
			long long user_id, const char *job_json, size_t len)
{
	char uid[24];

	if (!bt || bt->closing)
		return;
	snprintf(uid, sizeof(uid), "%lld", user_id);
	if (!adopt(bt, job_id, uid, job_json, len, tp_now()))
		TP_LOG(TP_LOG_WARN, "msg=\"backtest owner not recorded\" job=%s", job_id);
}

long long tp_backtests_owner(const struct tp_backtests *bt, const char *job_id)
{
	return bt ? tp_jobs_owner(bt->jobs, job_id) : 0;
}

long long tp_backtests_on_event(struct tp_backtests *bt,
				const struct tp_event *ev)
{
	long long owner;

	if (ev->kind != TP_EV_BACKTEST_PROGRESS && ev->kind != TP_EV_BACKTEST_RESULT)
		return 0;
	owner = tp_backtests_owner(bt, ev->job_id);
	if (!owner)
		TP_METRIC_INC(backtest_events_unknown_job);
	return owner;
}

const struct tp_backtest_job *tp_backtests_get(struct tp_backtests *bt,
					       const char *job_id, double now)
{
	return bt ? tp_jobs_get(bt->jobs, job_id, now) : NULL;
}

size_t tp_backtests_list(struct tp_backtests *bt, long long user_id,
			 double now, const struct tp_backtest_job ***out)
{
	*out = NULL;
	return bt ? tp_jobs_list(bt->jobs, user_id, now, out) : 0;
}

/* ---- operations ---- */

static int new_job_id(struct tp_backtests *bt, char out[TP_JOB_ID_MAX + 1])
{
	unsigned char rnd[8];

	for (int attempt = 0; attempt < 4; attempt++) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return TP_ERR_IO;
		snprintf(out, TP_JOB_ID_MAX + 1, "job_%02x%02x%02x%02x%02x%02x%02x%02x",
			 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
		if (!tp_jobs_find(bt->jobs, out))
			return TP_OK;
	}
	return TP_ERR_EXISTS;
}

/* {"type":...,"job_id":...,"user_id":... - the start of a message to the
 * producer, left open for its other members. */
static void put_message_head(struct tp_buf *b, const char *type, const char *job_id,
			     long long user_id)
{
	tp_buf_json_open(b, "type");
	tp_buf_json_str(b, type);
	tp_buf_json_kv_str(b, "job_id", job_id);
	tp_buf_json_kv_int(b, "user_id", user_id);
}

int tp_backtests_submit(struct tp_backtests *bt, long long user_id,
			const char *request_json, double now,
			tp_backtests_cb *cb, void *ud)
{
	char id[TP_JOB_ID_MAX + 1], okey[200], jkey[200], chan[160], ttl[24];
	char uid[24];
	struct tp_buf payload, value;
	size_t rlen = strlen(request_json);
	struct tp_backtest_job *j = NULL;
	struct op *op = NULL;
	char *req_copy = NULL;
	bool multi_sent = false;
	int rc;

	if (!bt || bt->closing || !tp_redis_cache_is_connected(bt->srv->rcache))
		return TP_ERR_UPSTREAM;
	/* An object with at least one member: it is spliced into the message. */
	if (rlen < 3 || request_json[0] != '{' || request_json[rlen - 1] != '}')
		return TP_ERR_INVAL;
	if (tp_jobs_user_count(bt->jobs, user_id) >= TP_BACKTESTS_PER_USER ||
	    tp_jobs_full(bt->jobs))
		return TP_ERR_LIMIT;
	if ((rc = new_job_id(bt, id)))
		return rc;
	tp_buf_init(&payload, 0);
	tp_buf_init(&value, 0);
	put_message_head(&payload, "backtest_job", id, user_id);
	tp_buf_json_kv_splice(&payload, request_json); /* checked above */
	tp_buf_json_kv_num(&payload, "submitted_at", now);
	tp_buf_json_kv_str(&payload, "source", "tickpush");
	tp_buf_putc(&payload, '}');
	tp_buf_putc(&value, '{');
	tp_buf_json_key(&value, "user_id", true);
	tp_buf_json_int(&value, user_id);
	tp_buf_json_kv_num(&value, "submitted_at", now);
	tp_buf_json_kv_raw(&value, "request", request_json);
	tp_buf_putc(&value, '}');
	rc = TP_ERR_NOMEM;
	if (payload.oom || value.oom || !(req_copy = tp_strdup(request_json)) ||
	    !(op = op_new(bt, OP_SUBMIT, id, cb, ud)))
		goto fail;
	/* In process first (see the top comment); removed again on failure. */
	j = tp_jobs_add(bt->jobs, id, user_id, now, now + TP_BACKTEST_TTL, req_copy, false);
	req_copy = NULL;
	if (!j)
		goto fail;
	owner_key(bt, id, okey, sizeof(okey));
	job_key(bt, id, jkey, sizeof(jkey));
	snprintf(chan, sizeof(chan), "%s.jobs.backtest", bt->prefix);
	snprintf(ttl, sizeof(ttl), "%d", TP_BACKTEST_TTL);
	snprintf(uid, sizeof(uid), "%lld", user_id);
	{
		const char *multi[] = {"MULTI"};
		const char *set_owner[] = {"SET", okey, uid, "EX", ttl};
		const char *set_job[] = {"SET", jkey, tp_buf_cstr(&value), "EX", ttl};
		const char *publish[] = {"PUBLISH", chan, tp_buf_cstr(&payload)};
		const char *exec[] = {"EXEC"};

		rc = TP_ERR_UPSTREAM;
		if (cmd(bt, NULL, 1, multi))
			goto fail;
		multi_sent = true;
		if (cmd(bt, NULL, 5, set_owner) || cmd(bt, NULL, 5, set_job) ||
		    cmd(bt, NULL, 3, publish) || cmd(bt, op, 1, exec))
			goto fail;
	}
	/* Cluster mode: every instance learns the owner through the stream,
	 * so progress reaches the owner wherever they are connected. */
	tp_cluster_job(bt->srv->cluster, id, user_id, tp_buf_cstr(&value));
	tp_buf_cleanup(&payload);
	tp_buf_cleanup(&value);
	return TP_OK;
fail:
	if (multi_sent) {
		/* Never leave the shared connection inside a transaction. */
		const char *discard[] = {"DISCARD"};

		cmd(bt, NULL, 1, discard);
	}
	if (j)
		tp_jobs_remove(bt->jobs, id);
	tp_free(req_copy);
	tp_free(op);
	tp_buf_cleanup(&payload);
	tp_buf_cleanup(&value);
	return rc;
}

int tp_backtests_fetch(struct tp_backtests *bt, const char *job_id,
		       tp_backtests_cb *cb, void *ud)
{
	char okey[200], jkey[200];
	const char *argv[3] = {"MGET", okey, jkey};
	struct op *op;

	if (!bt || bt->closing || strlen(job_id) > TP_JOB_ID_MAX)
		return TP_ERR_UPSTREAM;
	if (!(op = op_new(bt, OP_FETCH, job_id, cb, ud)))
		return TP_ERR_NOMEM;
	owner_key(bt, job_id, okey, sizeof(okey));
	job_key(bt, job_id, jkey, sizeof(jkey));
	if (cmd(bt, op, 3, argv)) {
		tp_free(op);
		return TP_ERR_UPSTREAM;
	}
	return TP_OK;
}

int tp_backtests_cancel(struct tp_backtests *bt, const char *job_id,
			tp_backtests_cb *cb, void *ud)
{
	const struct tp_backtest_job *j;
	char chan[160];
	struct tp_buf payload;
	struct op *op = NULL;
	int rc = TP_ERR_NOMEM;

	if (!bt || bt->closing)
		return TP_ERR_UPSTREAM;
	if (!(j = known(bt, job_id)) || !j->confirmed)
		return TP_ERR_NOTFOUND;
	tp_buf_init(&payload, 0);
	put_message_head(&payload, "backtest_cancel", j->id, j->user_id);
	tp_buf_json_kv_str(&payload, "source", "tickpush");
	tp_buf_putc(&payload, '}');
	snprintf(chan, sizeof(chan), "%s.jobs.cancel", bt->prefix);
	const char *argv[3] = {"PUBLISH", chan, tp_buf_cstr(&payload)};

	if (payload.oom || !(op = op_new(bt, OP_CANCEL, job_id, cb, ud)))
		goto out;
	rc = cmd(bt, op, 3, argv);
	if (rc) {
		tp_free(op);
		rc = TP_ERR_UPSTREAM;
	}
out:
	tp_buf_cleanup(&payload);
	return rc;
}

int tp_backtests_when_loaded(struct tp_backtests *bt, tp_backtests_cb *cb,
			     void *ud)
{
	if (!bt || bt->loaded || bt->closing ||
	    !tp_redis_cache_is_connected(bt->srv->rcache))
		return TP_ERR_EXISTS;
	if (bt->n_waiters >= MAX_WAITERS)
		return TP_ERR_LIMIT;
	bt->waiters[bt->n_waiters].cb = cb;
	bt->waiters[bt->n_waiters].ud = ud;
	bt->waiters[bt->n_waiters].deadline = tp_mono() + MAX_WAIT_S;
	bt->n_waiters++;
	return TP_OK;
}
