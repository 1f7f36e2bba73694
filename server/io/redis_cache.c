/*
 * redis_cache.c - write-through to, and warm start from, the original
 * Redis cache layout (docs/events.md), plus the producer heartbeat.
 *
 * Layout, with P the channel prefix ("tickstock"):
 *   P:patterns:<id>        HASH data=<normalised JSON> cached_at=<epoch>,
 *                          EXPIRE = time left until expires_at (<= TTL)
 *   P:indexes:confidence   ZSET <id> scored by confidence
 *   P:indexes:time         ZSET <id> scored by detected_at
 *   P:indexes:symbol       ZSET <symbol>:<id> scored by detected_at
 *   P:indexes:pattern_type ZSET <type>:<id> scored by detected_at
 * Writes go out pipelined on this connection (hiredis queues every command
 * and flushes when the socket is writable); we never wait for replies, we
 * only count them. The number in flight is bounded: past the bound, writes
 * are dropped and counted rather than queued without limit while Redis is
 * slow. When the connection is down, writes are dropped and counted too:
 * the in-process store stays the source of truth for this instance. When
 * it is lost (closed, or declared down by redis_conn's liveness check
 * because Redis stopped answering), hiredis calls every callback in flight
 * with NULL: each is counted as a write error and leaves `pending`, which
 * is therefore 0 again and lets the shutdown drain finish.
 *
 * Index members of patterns that expired by TTL (not through us) are
 * trimmed on every heartbeat tick by score (detected_at older than the
 * maximum TTL), which bounds the ZSETs without ever using KEYS.
 *
 * Warm start (once, on the first connection): SCAN P:patterns:* in batches,
 * HGET data of each key, parse with tp_pattern_from_json and insert what
 * has not expired. The server reports ready only once this finished.
 *
 * Write-back: Redis may come back empty (a restart without persistence)
 * or miss what happened while the connection was down. So whenever a
 * write could not be sent (not connected) the cache is "dirty", and when
 * the connection is ready again (after the warm start, on the first one)
 * the removals made meanwhile are sent first (queued, bounded) and then
 * every pattern the store holds is written again, in slices that keep
 * the pipeline under half its bound (continued as replies come in).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "redis.h"
#include "redis_conn.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/clock.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"

#define MAX_PENDING 50000
#define HEARTBEAT_FRESH_SECONDS 60.0
#define MAX_GONE 100000           /* removals remembered while away */

/* A pattern removed while the connection was down: its cache entries. */
struct gone {
	struct gone *next;
	char key[TP_PATTERN_ID_MAX + 1];
	char symbol[TP_SYMBOL_MAX + 1];
	char type[TP_PATTERN_TYPE_MAX + 1];
};

struct tp_redis_cache {
	struct tp_redis_cache_deps d;
	struct tp_redis_conn *conn;
	char prefix[96];
	size_t pending;           /* write-through replies outstanding */
	bool warm_started, warm_done;
	bool scan_finished;
	size_t warm_pending;      /* HGETs of the warm start in flight */
	size_t warm_loaded;
	uv_timer_t heartbeat_timer;
	bool timer_active;
	double heartbeat;         /* last producer heartbeat value */
	bool producer_online;     /* as last reported */
	struct tp_buf scratch;
	/* write-back (see the top comment) */
	bool dirty;               /* a write was skipped: not connected */
	struct gone *gone_head, *gone_tail;
	size_t n_gone;
	char **resync_ids;        /* store ids still to write, or NULL */
	size_t resync_n, resync_pos;
};

/* The configuration in force (a reload may replace it). */
static const struct tp_config *cfg_of(const struct tp_redis_cache *rc)
{
	return *rc->d.cfg;
}

static void resync_continue(struct tp_redis_cache *rc);

static void count_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct tp_redis_cache *rc = privdata;
	redisReply *reply = r;

	(void)ac;
	if (rc->pending)
		rc->pending--;
	if (!reply || reply->type == REDIS_REPLY_ERROR)
		TP_METRIC_INC(redis_cache_write_errors);
	else if (rc->resync_ids && rc->pending < MAX_PENDING / 4)
		resync_continue(rc);
}

/* Sends one write-through command; false when it had to be dropped. */
static bool send_cmd(struct tp_redis_cache *rc, int argc, const char **argv,
		     const size_t *argvlen)
{
	redisAsyncContext *ac = tp_redis_conn_ctx(rc->conn);

	if (!ac || rc->pending >= MAX_PENDING) {
		TP_METRIC_INC(redis_cache_write_errors);
		return false;
	}
	if (redisAsyncCommandArgv(ac, count_reply, rc, argc, argv, argvlen) !=
	    REDIS_OK) {
		TP_METRIC_INC(redis_cache_write_errors);
		return false;
	}
	rc->pending++;
	TP_METRIC_INC(redis_cache_writes);
	return true;
}

static void send_fmt(struct tp_redis_cache *rc, const char *a0, const char *a1,
		     const char *a2, const char *a3)
{
	const char *argv[4] = {a0, a1, a2, a3};
	size_t lens[4];
	int argc = a3 ? 4 : a2 ? 3 : 2;

	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	send_cmd(rc, argc, argv, lens);
}

void tp_redis_cache_on_upsert(struct tp_redis_cache *rc,
			      const struct tp_pattern *p)
{
	char key[256], idx[160], member[256], score[64], ttl[32], now_s[32];
	double now = tp_now();
	double left = p->expires_at - now;
	double max_ttl = cfg_of(rc)->pattern_cache_ttl;
	const char *argv[6];
	size_t lens[6];

	if (!rc || !cfg_of(rc)->redis_write_through)
		return;
	if (!tp_redis_conn_is_ready(rc->conn)) {
		rc->dirty = true; /* written back when the connection returns */
		return;
	}
	if (left > max_ttl)
		left = max_ttl;
	if (left < 1)
		left = 1;
	snprintf(key, sizeof(key), "%s:patterns:%s", rc->prefix, p->id);
	tp_buf_reset(&rc->scratch);
	tp_pattern_to_json(&rc->scratch, p);
	if (rc->scratch.oom)
		return;
	tp_fmt_fixed(now_s, sizeof(now_s), now, 3);
	argv[0] = "HSET"; argv[1] = key; argv[2] = "data";
	argv[3] = tp_buf_data(&rc->scratch); argv[4] = "cached_at"; argv[5] = now_s;
	for (int i = 0; i < 6; i++)
		lens[i] = i == 3 ? rc->scratch.len : strlen(argv[i]);
	send_cmd(rc, 6, argv, lens);
	snprintf(ttl, sizeof(ttl), "%lld", (long long)ceil(left));
	send_fmt(rc, "EXPIRE", key, ttl, NULL);

	snprintf(idx, sizeof(idx), "%s:indexes:confidence", rc->prefix);
	tp_fmt_fixed(score, sizeof(score), p->confidence, 6);
	argv[0] = "ZADD"; argv[1] = idx; argv[2] = score; argv[3] = p->id;
	for (int i = 0; i < 4; i++)
		lens[i] = strlen(argv[i]);
	send_cmd(rc, 4, argv, lens);

	tp_fmt_fixed(score, sizeof(score), p->detected_at, 3);
	snprintf(idx, sizeof(idx), "%s:indexes:time", rc->prefix);
	argv[1] = idx; argv[2] = score; argv[3] = p->id;
	for (int i = 0; i < 4; i++)
		lens[i] = strlen(argv[i]);
	send_cmd(rc, 4, argv, lens);

	snprintf(idx, sizeof(idx), "%s:indexes:symbol", rc->prefix);
	snprintf(member, sizeof(member), "%s:%s", p->symbol, p->id);
	argv[1] = idx; argv[3] = member;
	for (int i = 0; i < 4; i++)
		lens[i] = strlen(argv[i]);
	send_cmd(rc, 4, argv, lens);

	snprintf(idx, sizeof(idx), "%s:indexes:pattern_type", rc->prefix);
	snprintf(member, sizeof(member), "%s:%s", p->pattern_type, p->id);
	argv[3] = member;
	for (int i = 0; i < 4; i++)
		lens[i] = strlen(argv[i]);
	send_cmd(rc, 4, argv, lens);
}

static void send_removal(struct tp_redis_cache *rc, const char *id,
			 const char *symbol, const char *type);
static void remember_gone(struct tp_redis_cache *rc, const struct tp_pattern *p);

void tp_redis_cache_on_remove(struct tp_redis_cache *rc,
			      const struct tp_pattern *p, enum tp_removal why)
{
	/* A replaced record is overwritten by the upsert that follows; an
	 * evicted one only left this process's bounded memory and stays in
	 * the shared cache until its TTL. */
	if (!rc || why == TP_REMOVED_REPLACED || why == TP_REMOVED_EVICTED ||
	    !cfg_of(rc)->redis_write_through)
		return;
	if (!tp_redis_conn_is_ready(rc->conn)) {
		remember_gone(rc, p);
		return;
	}
	send_removal(rc, p->id, p->symbol, p->pattern_type);
}

static void send_removal(struct tp_redis_cache *rc, const char *id,
			 const char *symbol, const char *type)
{
	char key[256], idx[160], member[256];

	snprintf(key, sizeof(key), "%s:patterns:%s", rc->prefix, id);
	send_fmt(rc, "DEL", key, NULL, NULL);
	snprintf(idx, sizeof(idx), "%s:indexes:confidence", rc->prefix);
	send_fmt(rc, "ZREM", idx, id, NULL);
	snprintf(idx, sizeof(idx), "%s:indexes:time", rc->prefix);
	send_fmt(rc, "ZREM", idx, id, NULL);
	snprintf(idx, sizeof(idx), "%s:indexes:symbol", rc->prefix);
	snprintf(member, sizeof(member), "%s:%s", symbol, id);
	send_fmt(rc, "ZREM", idx, member, NULL);
	snprintf(idx, sizeof(idx), "%s:indexes:pattern_type", rc->prefix);
	snprintf(member, sizeof(member), "%s:%s", type, id);
	send_fmt(rc, "ZREM", idx, member, NULL);
}

/* ---- write-back ---- */

static void remember_gone(struct tp_redis_cache *rc, const struct tp_pattern *p)
{
	struct gone *g;

	rc->dirty = true;
	if (rc->n_gone >= MAX_GONE || !(g = tp_calloc(1, sizeof(*g)))) {
		/* Its cache entry stays until its TTL (expires_at). */
		TP_METRIC_INC(redis_cache_write_errors);
		return;
	}
	snprintf(g->key, sizeof(g->key), "%s", p->id);
	snprintf(g->symbol, sizeof(g->symbol), "%s", p->symbol);
	snprintf(g->type, sizeof(g->type), "%s", p->pattern_type);
	if (rc->gone_tail)
		rc->gone_tail->next = g;
	else
		rc->gone_head = g;
	rc->gone_tail = g;
	rc->n_gone++;
}

static void free_gone(struct tp_redis_cache *rc)
{
	while (rc->gone_head) {
		struct gone *g = rc->gone_head;

		rc->gone_head = g->next;
		tp_free(g);
	}
	rc->gone_tail = NULL;
	rc->n_gone = 0;
}

static void free_resync(struct tp_redis_cache *rc)
{
	for (size_t i = rc->resync_pos; rc->resync_ids && i < rc->resync_n; i++)
		tp_free(rc->resync_ids[i]);
	tp_free(rc->resync_ids);
	rc->resync_ids = NULL;
	rc->resync_n = rc->resync_pos = 0;
}

static void collect_id(const struct tp_pattern *p, void *ud)
{
	struct tp_redis_cache *rc = ud;

	if (rc->resync_ids && !(rc->resync_ids[rc->resync_n++] = tp_strdup(p->id)))
		rc->resync_n--;
}

/* Writes the next slice of the store; the last one ends the write-back. */
static void resync_continue(struct tp_redis_cache *rc)
{
	struct tp_patterns *ps = tp_ingest_patterns(rc->d.ingest);

	while (rc->resync_pos < rc->resync_n && rc->pending < MAX_PENDING / 2 &&
	       tp_redis_conn_is_ready(rc->conn)) {
		char *id = rc->resync_ids[rc->resync_pos++];
		const struct tp_pattern *p = tp_patterns_get(ps, id);

		if (p) /* still held (it may have gone since) */
			tp_redis_cache_on_upsert(rc, p);
		tp_free(id);
	}
	if (rc->resync_pos == rc->resync_n) {
		TP_LOG(TP_LOG_NOTICE, "msg=\"cache written back\" patterns=%zu",
		       rc->resync_n);
		free_resync(rc);
	}
}

/* The connection is back after writes were skipped: removals first, then
 * everything the store holds. */
static void write_back(struct tp_redis_cache *rc)
{
	struct tp_patterns *ps = tp_ingest_patterns(rc->d.ingest);
	size_t n = tp_patterns_count(ps);

	if (!rc->dirty || !cfg_of(rc)->redis_write_through)
		return;
	rc->dirty = false;
	TP_LOG(TP_LOG_NOTICE, "msg=\"writing the cache back\" removals=%zu patterns=%zu",
	       rc->n_gone, n);
	for (struct gone *g = rc->gone_head; g; g = g->next)
		send_removal(rc, g->key, g->symbol, g->type);
	free_gone(rc);
	free_resync(rc);
	if (!n || !(rc->resync_ids = tp_calloc(n, sizeof(char *))))
		return;
	tp_patterns_foreach(ps, collect_id, rc);
	resync_continue(rc);
}

/* ---- warm start ---- */

static void warm_finish_if_done(struct tp_redis_cache *rc)
{
	if (rc->warm_done || !rc->scan_finished || rc->warm_pending)
		return;
	rc->warm_done = true;
	write_back(rc); /* what was ingested before the first connection */
	TP_METRIC_ADD(redis_warm_loaded, rc->warm_loaded);
	TP_LOG(TP_LOG_NOTICE, "msg=\"warm start finished\" loaded=%zu cached=%zu",
	       rc->warm_loaded, tp_patterns_count(tp_ingest_patterns(rc->d.ingest)));
}

static void warm_got_record(redisAsyncContext *ac, void *r, void *privdata)
{
	struct tp_redis_cache *rc = privdata;
	redisReply *reply = r;
	struct tp_pattern p;
	struct tp_errdetail err;

	(void)ac;
	rc->warm_pending--;
	if (reply && reply->type == REDIS_REPLY_STRING &&
	    tp_pattern_from_json(reply->str, reply->len, &p, &err) ==
		    TP_REJECT_NONE) {
		if (tp_ingest_warm(rc->d.ingest, &p, tp_now()) == TP_OK)
			rc->warm_loaded++;
		tp_pattern_cleanup(&p);
	}
	warm_finish_if_done(rc);
}

static void warm_scan(struct tp_redis_cache *rc, const char *cursor);

static void warm_scan_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct tp_redis_cache *rc = privdata;
	redisReply *reply = r;
	redisReply *keys;

	if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_ARRAY) {
		/* Connection lost or an odd reply: give up warming rather than
		 * keep the server unready; live events fill the store. */
		TP_LOG(TP_LOG_WARN, "msg=\"warm start aborted\" loaded=%zu", rc->warm_loaded);
		rc->scan_finished = true;
		warm_finish_if_done(rc);
		return;
	}
	keys = reply->element[1];
	for (size_t i = 0; i < keys->elements; i++) {
		if (keys->element[i]->type != REDIS_REPLY_STRING)
			continue;
		if (redisAsyncCommand(ac, warm_got_record, rc, "HGET %b data",
				      keys->element[i]->str,
				      keys->element[i]->len) == REDIS_OK)
			rc->warm_pending++;
	}
	if (!strcmp(reply->element[0]->str, "0")) {
		rc->scan_finished = true;
		warm_finish_if_done(rc);
	} else {
		warm_scan(rc, reply->element[0]->str);
	}
}

static void warm_scan(struct tp_redis_cache *rc, const char *cursor)
{
	redisAsyncContext *ac = tp_redis_conn_ctx(rc->conn);
	char match[128];

	snprintf(match, sizeof(match), "%s:patterns:*", rc->prefix);
	if (!ac || redisAsyncCommand(ac, warm_scan_reply, rc,
				     "SCAN %s MATCH %s COUNT 500", cursor,
				     match) != REDIS_OK) {
		rc->scan_finished = true;
		warm_finish_if_done(rc);
	}
}

/* ---- heartbeat and index trimming ---- */

/* Reports a change of the producer's state (log, metric, push). */
static void check_producer(struct tp_redis_cache *rc)
{
	double last;
	bool online = tp_redis_cache_producer_online(rc, &last);

	TP_METRIC_SET(producer_online, online);
	if (online == rc->producer_online)
		return;
	rc->producer_online = online;
	TP_LOG(TP_LOG_NOTICE, "msg=\"producer %s\" heartbeat=%.0f",
	       online ? "online" : "offline", last);
	rc->d.producer_changed(rc->d.ud, online, last);
}

static void heartbeat_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct tp_redis_cache *rc = privdata;
	redisReply *reply = r;

	(void)ac;
	if (!reply)
		return;
	if (reply->type == REDIS_REPLY_STRING) {
		char *end;
		double v = strtod(reply->str, &end);

		if (end != reply->str && isfinite(v))
			rc->heartbeat = v;
	}
	check_producer(rc);
}

static void heartbeat_tick(uv_timer_t *t)
{
	struct tp_redis_cache *rc = t->data;
	redisAsyncContext *ac = tp_redis_conn_ctx(rc->conn);
	char key[128], idx[128], max[64];

	/* A heartbeat that stops coming turns stale here, Redis up or not. */
	check_producer(rc);
	if (!ac)
		return;
	snprintf(key, sizeof(key), "%s:producer:heartbeat", rc->prefix);
	redisAsyncCommand(ac, heartbeat_reply, rc, "GET %s", key);
	if (!cfg_of(rc)->redis_write_through)
		return;
	snprintf(max, sizeof(max), "(%.3f",
		 tp_now() - cfg_of(rc)->pattern_cache_ttl);
	static const char *const by_time[] = {"time", "symbol", "pattern_type"};
	for (size_t i = 0; i < TP_ARRAY_SIZE(by_time); i++) {
		snprintf(idx, sizeof(idx), "%s:indexes:%s", rc->prefix, by_time[i]);
		send_fmt(rc, "ZREMRANGEBYSCORE", idx, "-inf", max);
	}
}

static void on_ready(struct tp_redis_conn *conn, redisAsyncContext *ac,
		     void *ud)
{
	struct tp_redis_cache *rc = ud;

	(void)conn;
	(void)ac;
	TP_METRIC_SET(redis_cache_connected, 1);
	heartbeat_tick(&rc->heartbeat_timer);
	if (!rc->warm_started) {
		rc->warm_started = true;
		if (cfg_of(rc)->redis_warm_start) {
			warm_scan(rc, "0");
		} else {
			rc->scan_finished = true;
			warm_finish_if_done(rc);
		}
	} else if (rc->warm_done) {
		write_back(rc);
	}
}

static void on_lost(struct tp_redis_conn *conn, enum tp_redis_loss loss,
		    const char *why, void *ud)
{
	struct tp_redis_cache *rc = ud;

	(void)conn;
	(void)why;
	/* hiredis has already run every pending callback with NULL. */
	rc->pending = 0;
	/* Those writes (and a write-back under way) may not have landed. */
	rc->dirty = true;
	TP_METRIC_SET(redis_cache_connected, 0);
	if (loss == TP_REDIS_LOSS_CLOSED)
		return;
	if (loss == TP_REDIS_LOSS_SILENT)
		TP_METRIC_INC(redis_cache_ping_timeouts);
	TP_METRIC_INC(redis_cache_disconnects);
}

struct tp_redis_cache *tp_redis_cache_create(const struct tp_redis_cache_deps *d)
{
	static const struct tp_redis_conn_ops ops = {on_ready, on_lost};
	struct tp_redis_cache *rc = tp_calloc(1, sizeof(*rc));
	const struct tp_config *cfg = *d->cfg;
	double every = cfg->heartbeat_interval > 0 ? cfg->heartbeat_interval : 10;

	if (!rc)
		return NULL;
	rc->d = *d;
	snprintf(rc->prefix, sizeof(rc->prefix), "%s", cfg->channel_prefix);
	tp_buf_init(&rc->scratch, 0);
	rc->conn = tp_redis_conn_create(d->loop, cfg, "cache", &ops, rc);
	if (!rc->conn) {
		tp_free(rc);
		return NULL;
	}
	uv_timer_init(d->loop, &rc->heartbeat_timer);
	rc->heartbeat_timer.data = rc;
	uv_timer_start(&rc->heartbeat_timer, heartbeat_tick,
		       (uint64_t)(every * 1000), (uint64_t)(every * 1000));
	rc->timer_active = true;
	tp_redis_conn_start(rc->conn);
	return rc;
}

static void heartbeat_timer_closed(uv_handle_t *h)
{
	struct tp_redis_cache *rc = h->data;

	tp_buf_cleanup(&rc->scratch);
	free_gone(rc);
	free_resync(rc);
	tp_free(rc);
}

void tp_redis_cache_close(struct tp_redis_cache *rc)
{
	if (!rc)
		return;
	tp_redis_conn_close(rc->conn);
	rc->conn = NULL;
	uv_close((uv_handle_t *)&rc->heartbeat_timer, heartbeat_timer_closed);
}

bool tp_redis_cache_is_connected(const struct tp_redis_cache *rc)
{
	return rc && tp_redis_conn_is_ready(rc->conn);
}

bool tp_redis_cache_warm_done(const struct tp_redis_cache *rc)
{
	return rc && rc->warm_done;
}

size_t tp_redis_cache_warm_loaded(const struct tp_redis_cache *rc)
{
	return rc ? rc->warm_loaded : 0;
}

size_t tp_redis_cache_pending(const struct tp_redis_cache *rc)
{
	return rc ? rc->pending : 0;
}

int tp_redis_cache_command(struct tp_redis_cache *rc, redisCallbackFn *cb,
			   void *ud, int argc, const char **argv,
			   const size_t *argvlen)
{
	redisAsyncContext *ac = rc ? tp_redis_conn_ctx(rc->conn) : NULL;

	if (!ac || redisAsyncCommandArgv(ac, cb, ud, argc, argv, argvlen) != REDIS_OK)
		return TP_ERR_UPSTREAM;
	return TP_OK;
}

bool tp_redis_cache_producer_online(const struct tp_redis_cache *rc,
				    double *last)
{
	double hb = rc ? rc->heartbeat : 0;

	if (last)
		*last = hb;
	return hb > 0 && tp_now() - hb < HEARTBEAT_FRESH_SECONDS;
}
