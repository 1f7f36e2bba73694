/*
 * cluster.c - one stream position for many instances (see cluster.h and
 * docs/adr/0003-cluster-position.md).
 *
 * Redis keys (fixed names, one cluster per Redis database):
 *   tickpush:stream        the Stream: one entry per event, id "<ms>-<n>"
 *                          where n is the entry number (seq derives from
 *                          it, ingest.h) and ms Redis's clock; fields
 *                          e (epoch), k (kind), d (data), o (origin)
 *   tickpush:stream:meta   HASH epoch, last (n), ms
 *   tickpush:dedup:<sha1>:<k>  SET NX PX, one per proposal
 * Kinds: "0".."3" a pub/sub message of that channel (d = payload), "x"
 * expire everything due by d (seconds), "u" a user's presets or
 * watchlists changed (d = user id), "j" a backtest job was submitted
 * (d = "<job id> <user id> <job JSON>"), "f" a login for an account
 * failed (d = the lower-cased account name: every instance takes the
 * token from its own per-account bucket), "i" a new stream (nothing to
 * apply).
 *
 * Appending (connection "cluster"): APPEND_LUA below, run by EVALSHA,
 * appends a proposal unless its dedup key exists, and creates the stream
 * with a fresh epoch (the caller's random candidate) when the stream or
 * its meta is missing. Every instance proposes every pub/sub message it
 * receives; the dedup key is the SHA-1 of channel and payload plus the
 * occurrence number of that payload here within the dedup window, so a
 * producer that publishes the same bytes twice gets two entries, and the
 * same message seen by three instances gets one. Proposals wait in a
 * bounded queue while the connection is down and are sent again when a
 * reply was lost (the dedup key makes that safe).
 *
 * Reading (connection "stream"): on every connect, the same script with
 * no kind returns the current epoch (creating the stream if needed); a
 * different epoch than ours means the history was lost: we adopt it
 * (tp_push_new_epoch: live subscriptions get a gap) and read the new
 * stream from its start. Then XREAD BLOCK in a loop, never blocking our
 * loop (the connection is async; BLOCK only parks that connection, and
 * its answer every 500 ms keeps redis_conn's liveness check fed). Each
 * entry is applied in order: tp_ingest_begin_entry(n), the ingest, end.
 * At start the reader applies every retained entry, which fills the push
 * history: a `since` from any instance resumes here.
 *
 * Ownership: proposals (struct prop) live in the queue or, while sent,
 * with their reply callback; the seen list and the occurrence dict own
 * their nodes. Single-threaded (the loop).
 */
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cluster.h"
#include "redis_conn.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/clock.h"
#include "tickpush/dict.h"
#include "tickpush/jobs.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"
#include "tickpush/push.h"
#include "tickpush/ratelimit.h"

#define STREAM_KEY "tickpush:stream"
#define META_KEY "tickpush:stream:meta"
#define DEDUP_PREFIX "tickpush:dedup:"
#define DEDUP_SECONDS 30.0     /* same message seen (or re-sent after a lost
				* reply) by every instance within */
#define QUEUE_MAX 100000       /* proposals waiting for the connection */
#define INFLIGHT_MAX 5000      /* EVALSHAs sent, not answered */
#define READ_COUNT "500"
#define READ_BLOCK_MS "500"
#define EXPIRE_MAX (TP_INGEST_EVENT_SLOT - 16) /* removals per "x" entry */

static const char APPEND_LUA[] =
	"if KEYS[3] ~= '' and not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[2]) then\n"
	"  return {0, redis.call('HGET', KEYS[2], 'epoch') or ''}\n"
	"end\n"
	"local ep = redis.call('HGET', KEYS[2], 'epoch')\n"
	"local fresh = false\n"
	"if not ep or redis.call('EXISTS', KEYS[1]) == 0 then\n"
	"  ep = ARGV[1]\n"
	"  fresh = true\n"
	"  redis.call('DEL', KEYS[1])\n"
	"  redis.call('HSET', KEYS[2], 'epoch', ep, 'last', 0, 'ms', 0)\n"
	"end\n"
	"local kind = ARGV[5]\n"
	"if kind == '' then\n"
	"  if not fresh then return {0, ep} end\n"
	"  kind = 'i'\n"
	"end\n"
	"local n = redis.call('HINCRBY', KEYS[2], 'last', 1)\n"
	"local t = redis.call('TIME')\n"
	"local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local last = tonumber(redis.call('HGET', KEYS[2], 'ms'))\n"
	"if ms < last then ms = last end\n"
	"redis.call('HSET', KEYS[2], 'ms', ms)\n"
	"redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3],\n"
	"  string.format('%.0f-%.0f', ms, n), 'e', ep, 'k', kind, 'd', ARGV[6], 'o', ARGV[7])\n"
	"if tonumber(ARGV[4]) > 0 then\n"
	"  redis.call('XTRIM', KEYS[1], 'MINID', '~',\n"
	"    string.format('%.0f-0', ms - tonumber(ARGV[4])))\n"
	"end\n"
	"return {n, ep}\n";

/* Token bucket per key (login attempts per address, shared by every
 * instance): ARGV rate/s, burst. Returns {1|0, seconds to wait}. */
static const char BUCKET_LUA[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) + tonumber(t[2]) / 1e6\n"
	"local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
	"local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')\n"
	"local tokens = tonumber(b[1]) or burst\n"
	"local ts = tonumber(b[2]) or now\n"
	"tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)\n"
	"local ok, wait = 0, 0\n"
	"if tokens >= 1 then tokens = tokens - 1; ok = 1\n"
	"elseif rate > 0 then wait = (1 - tokens) / rate else wait = 86400 end\n"
	"redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))\n"
	"local ttl = rate > 0 and math.ceil(burst / rate) + 1 or 86400\n"
	"redis.call('EXPIRE', KEYS[1], ttl)\n"
	"return {ok, tostring(wait)}\n";

struct prop {
	struct prop *next;
	struct tp_cluster *cl;
	char key[96];        /* dedup key */
	char kind[2];
	size_t len;
	char data[];
};

struct seen {
	struct seen *next;
	double t;
	char hex[41];
};

struct occ {
	unsigned total;      /* occurrences numbered so far */
	unsigned alive;      /* of them, still within the window */
};

struct tp_cluster {
	struct tp_cluster_deps d;
	struct tp_redis_conn *append, *read;
	char sha[41];                  /* of APPEND_LUA */
	char origin[13];               /* this process, random */
	struct prop *q_head, *q_tail;  /* waiting to be sent */
	size_t queued, inflight;
	bool closing;
	/* occurrences of each payload within the dedup window */
	struct tp_dict *occ;           /* sha1 hex -> struct occ * */
	struct seen *seen_head, *seen_tail;
	double last_expire;            /* last "x" proposed */
	/* reader */
	char last_id[48];              /* last entry read, "0-0" = from the start */
	uint64_t applied;              /* last entry number applied */
	bool caught_up;
	bool reading;                  /* an XREAD (or the epoch EVAL) is out */
};

/* ---- helpers ---- */

static void random_hex(char *out, size_t bytes)
{
	unsigned char r[16];

	if (bytes > sizeof(r))
		bytes = sizeof(r);
	if (RAND_bytes(r, (int)bytes) != 1)
		for (size_t i = 0; i < bytes; i++)
			r[i] = (unsigned char)rand();
	for (size_t i = 0; i < bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static void sha1_hex(const void *a, size_t alen, const void *b, size_t blen,
		     char out[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	out[0] = '\0';
	if (!ctx)
		return;
	if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, a, alen) == 1 &&
	    (!blen || EVP_DigestUpdate(ctx, b, blen) == 1) &&
	    EVP_DigestFinal_ex(ctx, md, &n) == 1)
		for (unsigned i = 0; i < n && i < 20; i++)
			snprintf(out + 2 * i, 3, "%02x", md[i]);
	EVP_MD_CTX_free(ctx);
}

/* The stream's bounds, as script arguments: the in-process history's. */
static void bounds(const struct tp_cluster *cl, char maxlen[24], char age[24])
{
	const struct tp_config *cfg = *cl->d.cfg;

	snprintf(maxlen, 24, "%d", cfg->history_events > 0 ? cfg->history_events : 1);
	snprintf(age, 24, "%.0f", cfg->history_seconds * 1000);
}

/* ---- appending ---- */

static void send_prop(struct tp_cluster *cl, struct prop *p);

static void enqueue(struct tp_cluster *cl, struct prop *p)
{
	if (cl->queued >= QUEUE_MAX) {
		struct prop *old = cl->q_head;

		/* Bounded: the oldest goes (other instances likely appended it). */
		cl->q_head = old->next;
		if (!cl->q_head)
			cl->q_tail = NULL;
		cl->queued--;
		tp_free(old);
		TP_METRIC_INC(cluster_dropped);
	}
	p->next = NULL;
	if (cl->q_tail)
		cl->q_tail->next = p;
	else
		cl->q_head = p;
	cl->q_tail = p;
	cl->queued++;
	TP_METRIC_SET(cluster_queued, cl->queued);
}

static void flush(struct tp_cluster *cl)
{
	while (cl->q_head && cl->inflight < INFLIGHT_MAX &&
	       tp_redis_conn_is_ready(cl->append)) {
		struct prop *p = cl->q_head;

		cl->q_head = p->next;
		if (!cl->q_head)
			cl->q_tail = NULL;
		cl->queued--;
		send_prop(cl, p);
	}
	TP_METRIC_SET(cluster_queued, cl->queued);
}

static void load_script(struct tp_cluster *cl)
{
	redisAsyncContext *ac = tp_redis_conn_ctx(cl->append);

	if (ac)
		redisAsyncCommand(ac, NULL, NULL, "SCRIPT LOAD %s", APPEND_LUA);
}

static void appended(redisAsyncContext *ac, void *r, void *privdata)
{
	struct prop *p = privdata;
	struct tp_cluster *cl = p->cl;
	redisReply *reply = r;

	(void)ac;
	cl->inflight--;
	if (cl->closing) {
		tp_free(p);
		return;
	}
	if (!reply) {
		enqueue(cl, p); /* lost with the connection: again (dedup) */
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		if (!strncmp(reply->str, "NOSCRIPT", 8)) {
			load_script(cl); /* SCRIPT FLUSH, or a new Redis */
			enqueue(cl, p);
			flush(cl);
			return;
		}
		TP_LOG(TP_LOG_ERR, "msg=\"cluster append refused\" reply=%s",
		       tp_log_qn(reply->str, (size_t)reply->len));
		TP_METRIC_INC(cluster_dropped);
		tp_free(p);
		flush(cl);
		return;
	}
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
	    reply->element[0]->type == REDIS_REPLY_INTEGER) {
		if (reply->element[0]->integer > 0)
			TP_METRIC_INC(cluster_appended);
		else
			TP_METRIC_INC(cluster_duplicates);
	}
	tp_free(p);
	flush(cl);
}

static void send_prop(struct tp_cluster *cl, struct prop *p)
{
	redisAsyncContext *ac = tp_redis_conn_ctx(cl->append);
	char epoch[16], ttl[24], maxlen[24], age[24];
	const char *argv[13];
	size_t lens[13];

	random_hex(epoch, 6);
	snprintf(ttl, sizeof(ttl), "%.0f", DEDUP_SECONDS * 1000);
	bounds(cl, maxlen, age);
	argv[0] = "EVALSHA"; argv[1] = cl->sha; argv[2] = "3";
	argv[3] = STREAM_KEY; argv[4] = META_KEY; argv[5] = p->key;
	argv[6] = epoch; argv[7] = ttl; argv[8] = maxlen; argv[9] = age;
	argv[10] = p->kind; argv[11] = p->data; argv[12] = cl->origin;
	for (int i = 0; i < 13; i++)
		lens[i] = i == 11 ? p->len : strlen(argv[i]);
	if (!ac || redisAsyncCommandArgv(ac, appended, p, 13, argv, lens) != REDIS_OK) {
		enqueue(cl, p);
		return;
	}
	cl->inflight++;
}

static void propose(struct tp_cluster *cl, const char *kind, const char *key,
		    const char *data, size_t len)
{
	struct prop *p;

	if (!cl || cl->closing)
		return;
	p = tp_malloc(sizeof(*p) + len + 1);
	if (!p) {
		TP_METRIC_INC(cluster_dropped);
		return;
	}
	memset(p, 0, sizeof(*p));
	p->cl = cl;
	snprintf(p->key, sizeof(p->key), "%s%s", DEDUP_PREFIX, key);
	snprintf(p->kind, sizeof(p->kind), "%s", kind);
	memcpy(p->data, data, len);
	p->data[len] = '\0';
	p->len = len;
	if (cl->q_head || cl->inflight >= INFLIGHT_MAX ||
	    !tp_redis_conn_is_ready(cl->append)) {
		enqueue(cl, p);
		return;
	}
	send_prop(cl, p);
}

/* Forgets occurrences older than the dedup window. */
static void prune_seen(struct tp_cluster *cl, double now)
{
	while (cl->seen_head && cl->seen_head->t < now - DEDUP_SECONDS) {
		struct seen *s = cl->seen_head;
		struct occ *o = tp_dict_get(cl->occ, s->hex);

		cl->seen_head = s->next;
		if (!cl->seen_head)
			cl->seen_tail = NULL;
		if (o && --o->alive == 0)
			tp_free(tp_dict_del(cl->occ, s->hex));
		tp_free(s);
	}
}

/* The occurrence number of a payload within the window (1, 2, ...), or 0
 * when out of memory (then the key has no number: still deduplicated). */
static unsigned occurrence(struct tp_cluster *cl, const char *hex, double now)
{
	struct occ *o = tp_dict_get(cl->occ, hex);
	struct seen *s = tp_calloc(1, sizeof(*s));

	if (!s)
		return 0;
	if (!o) {
		if (!(o = tp_calloc(1, sizeof(*o))) ||
		    tp_dict_set(cl->occ, hex, o, NULL)) {
			tp_free(o);
			tp_free(s);
			return 0;
		}
	}
	o->total++;
	o->alive++;
	s->t = now;
	memcpy(s->hex, hex, sizeof(s->hex));
	if (cl->seen_tail)
		cl->seen_tail->next = s;
	else
		cl->seen_head = s;
	cl->seen_tail = s;
	return o->total;
}

void tp_cluster_propose_event(struct tp_cluster *cl, enum tp_channel ch,
			      const char *payload, size_t len)
{
	char kind[2] = {(char)('0' + ch), '\0'};
	char hex[41], key[64];
	double now = tp_mono();

	if (!cl)
		return;
	prune_seen(cl, now);
	sha1_hex(kind, 1, payload, len, hex);
	snprintf(key, sizeof(key), "%s:%u", hex, occurrence(cl, hex, now));
	propose(cl, kind, key, payload, len);
}

void tp_cluster_sweep(struct tp_cluster *cl, double now)
{
	struct tp_patterns *ps = tp_ingest_patterns(cl->d.ingest);
	double next = tp_patterns_next_expiry(ps);
	double due = (double)(long long)now;
	char key[48], data[32];
	int n;

	/* Every instance proposes the same whole second: one entry. */
	if (!next || next > due || due <= cl->last_expire)
		return;
	cl->last_expire = due;
	snprintf(key, sizeof(key), "x:%.0f", due);
	n = snprintf(data, sizeof(data), "%.0f", due);
	propose(cl, "x", key, data, (size_t)n);
}

void tp_cluster_user_changed(struct tp_cluster *cl, long long user)
{
	char key[48], data[32];
	int n;

	if (!cl)
		return;
	/* A key of its own: appended once even when the reply is lost. */
	memcpy(key, "u:", 2);
	random_hex(key + 2, 12);
	n = snprintf(data, sizeof(data), "%lld", user);
	propose(cl, "u", key, data, (size_t)n);
}

void tp_cluster_login_failed(struct tp_cluster *cl, const char *account)
{
	char key[48];

	if (!cl)
		return;
	memcpy(key, "f:", 2);
	random_hex(key + 2, 12);
	propose(cl, "f", key, account, strlen(account));
}

void tp_cluster_job(struct tp_cluster *cl, const char *job_id,
		    long long user, const char *job_json)
{
	struct tp_buf b;
	char key[32];

	if (!cl)
		return;
	tp_buf_init(&b, 0);
	tp_buf_printf(&b, "%s %lld %s", job_id, user, job_json);
	snprintf(key, sizeof(key), "j:%s", job_id);
	if (!b.oom)
		propose(cl, "j", key, tp_buf_data(&b), b.len);
	tp_buf_cleanup(&b);
}

/* "<job id> <user id> <job JSON>" of a "j" entry, from another instance. */
static void learn_job(struct tp_cluster *cl, const char *d, size_t len)
{
	char job[TP_JOB_ID_MAX + 1]; /* %64s below */
	long long user;
	int used = 0;

	_Static_assert(TP_JOB_ID_MAX == 64, "the sscanf width");
	if (sscanf(d, "%64s %lld %n", job, &user, &used) == 2 &&
	    used > 0 && (size_t)used <= len)
		cl->d.job_learned(cl->d.ud, job, user, d + used,
				  len - (size_t)used);
}

static void append_ready(struct tp_redis_conn *conn, redisAsyncContext *ac,
			 void *ud)
{
	struct tp_cluster *cl = ud;

	(void)conn;
	(void)ac;
	/* Pipelined before any EVALSHA, so it is loaded before they run. */
	load_script(cl);
	flush(cl);
}

static void append_lost(struct tp_redis_conn *conn, enum tp_redis_loss loss,
			const char *why, void *ud)
{
	(void)conn;
	(void)loss;
	(void)why;
	(void)ud;
	/* Every proposal in flight is back in the queue (appended()). */
}

/* ---- the shared login limit ---- */

struct bucket_wait {
	tp_cluster_allow_cb *cb;
	void *ud;
};

static void bucket_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct bucket_wait *w = privdata;
	redisReply *reply = r;
	bool ok = true; /* Redis trouble: the local limit alone decides */
	double wait = 0;

	(void)ac;
	if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
	    reply->element[0]->type == REDIS_REPLY_INTEGER) {
		ok = reply->element[0]->integer == 1;
		if (reply->element[1]->type == REDIS_REPLY_STRING)
			wait = strtod(reply->element[1]->str, NULL);
	}
	w->cb(ok, wait, w->ud);
	tp_free(w);
}

int tp_cluster_allow(struct tp_cluster *cl, const char *kind, const char *key,
		     double rate, int burst, tp_cluster_allow_cb *cb, void *ud)
{
	redisAsyncContext *ac = cl ? tp_redis_conn_ctx(cl->append) : NULL;
	struct bucket_wait *w;
	char rk[300], rs[32], bs[16];

	if (!ac || cl->closing || !(w = tp_calloc(1, sizeof(*w))))
		return TP_ERR_UPSTREAM;
	w->cb = cb;
	w->ud = ud;
	snprintf(rk, sizeof(rk), "tickpush:limit:%s:%s", kind, key);
	snprintf(rs, sizeof(rs), "%.6f", rate);
	snprintf(bs, sizeof(bs), "%d", burst);
	if (redisAsyncCommand(ac, bucket_reply, w, "EVAL %s 1 %s %s %s", BUCKET_LUA,
			      rk, rs, bs) != REDIS_OK) {
		tp_free(w);
		return TP_ERR_UPSTREAM;
	}
	return TP_OK;
}

/* ---- reading ---- */

static void read_next(struct tp_cluster *cl);

/* Adopts the stream's epoch: a history we did not have, or one that
 * replaced ours (Redis lost the stream). */
static void adopt_epoch(struct tp_cluster *cl, const char *epoch)
{
	if (cl->d.epoch[0] && strcmp(cl->d.epoch, epoch))
		TP_LOG(TP_LOG_NOTICE, "msg=\"cluster stream epoch\" old=%s new=%s",
		       cl->d.epoch, epoch);
	snprintf(cl->d.epoch, cl->d.epoch_size, "%s", epoch);
	tp_push_new_epoch(cl->d.push, epoch);
	tp_ingest_reset_seq(cl->d.ingest, 0);
	cl->applied = 0;
	snprintf(cl->last_id, sizeof(cl->last_id), "0-0");
}

static const redisReply *field(const redisReply *kv, const char *name)
{
	for (size_t i = 0; i + 1 < kv->elements; i += 2)
		if (kv->element[i]->type == REDIS_REPLY_STRING &&
		    !strcmp(kv->element[i]->str, name) &&
		    kv->element[i + 1]->type == REDIS_REPLY_STRING)
			return kv->element[i + 1];
	return NULL;
}

static void apply_entry(struct tp_cluster *cl, const redisReply *entry)
{
	const redisReply *id, *kv, *e, *k, *d, *o;
	unsigned long long ms, n;
	double when;

	if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2)
		return;
	id = entry->element[0];
	kv = entry->element[1];
	if (id->type != REDIS_REPLY_STRING || kv->type != REDIS_REPLY_ARRAY ||
	    sscanf(id->str, "%llu-%llu", &ms, &n) != 2)
		return;
	snprintf(cl->last_id, sizeof(cl->last_id), "%s", id->str);
	e = field(kv, "e");
	k = field(kv, "k");
	d = field(kv, "d");
	o = field(kv, "o");
	if (!e || !k || !d || e->len == 0 || (size_t)e->len >= cl->d.epoch_size)
		return;
	if (strcmp(e->str, cl->d.epoch)) {
		adopt_epoch(cl, e->str);
		snprintf(cl->last_id, sizeof(cl->last_id), "%s", id->str);
	}
	if (n <= cl->applied)
		return;
	/* Entry numbers have no holes, unless the stream was trimmed past
	 * what we had read (a reader far behind, or one that starts after
	 * the first entries went): positions before n cannot be resumed. */
	if (n > cl->applied + 1)
		tp_push_lost(cl->d.push, n * TP_INGEST_STRIDE - 1);
	cl->applied = n;
	when = (double)ms / 1000;
	tp_ingest_begin_entry(cl->d.ingest, n);
	switch (k->str[0]) {
	case '0': case '1': case '2': case '3':
		tp_ingest_message(cl->d.ingest, (enum tp_channel)(k->str[0] - '0'),
				  d->str, d->len, when);
		break;
	case 'x':
		tp_ingest_expire_max(cl->d.ingest, strtod(d->str, NULL), EXPIRE_MAX);
		break;
	case 'u':
		if (!o || strcmp(o->str, cl->origin))
			cl->d.user_changed(cl->d.ud, strtoll(d->str, NULL, 10));
		break;
	case 'j':
		if (!o || strcmp(o->str, cl->origin))
			learn_job(cl, d->str, d->len);
		break;
	case 'f':
		/* Another instance's failed login: its token, taken here too. */
		if (!o || strcmp(o->str, cl->origin))
			(void)tp_ratelimit_allow(cl->d.account_limit, d->str, tp_now());
		break;
	default:
		break;
	}
	tp_ingest_end_entry(cl->d.ingest);
}

static void got_entries(redisAsyncContext *ac, void *r, void *privdata)
{
	struct tp_cluster *cl = privdata;
	redisReply *reply = r;
	size_t n = 0;

	(void)ac;
	cl->reading = false;
	if (!reply || cl->closing)
		return; /* lost: read_ready starts again */
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
	    reply->element[0]->type == REDIS_REPLY_ARRAY &&
	    reply->element[0]->elements == 2) {
		const redisReply *entries = reply->element[0]->element[1];

		if (entries->type == REDIS_REPLY_ARRAY) {
			n = entries->elements;
			for (size_t i = 0; i < n; i++)
				apply_entry(cl, entries->element[i]);
		}
	} else if (reply->type == REDIS_REPLY_ERROR) {
		TP_LOG(TP_LOG_ERR, "msg=\"cluster stream read failed\" reply=%s",
		       tp_log_qn(reply->str, (size_t)reply->len));
	}
	if (!cl->caught_up && n < (size_t)atoi(READ_COUNT)) {
		cl->caught_up = true;
		TP_LOG(TP_LOG_NOTICE, "msg=\"cluster stream caught up\" epoch=%s entry=%llu",
		       cl->d.epoch, (unsigned long long)cl->applied);
	}
	read_next(cl);
}

static void read_next(struct tp_cluster *cl)
{
	redisAsyncContext *ac = tp_redis_conn_ctx(cl->read);

	if (!ac || cl->reading || cl->closing)
		return;
	if (redisAsyncCommand(ac, got_entries, cl, "XREAD COUNT %s BLOCK %s STREAMS %s %s",
			      READ_COUNT, READ_BLOCK_MS, STREAM_KEY,
			      cl->last_id) == REDIS_OK)
		cl->reading = true;
}

static void got_epoch(redisAsyncContext *ac, void *r, void *privdata)
{
	struct tp_cluster *cl = privdata;
	redisReply *reply = r;
	const redisReply *ep;

	(void)ac;
	cl->reading = false;
	if (!reply || cl->closing)
		return;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[1]->type != REDIS_REPLY_STRING) {
		TP_LOG(TP_LOG_ERR, "msg=\"cluster stream epoch unknown\" reply_type=%d",
		       reply->type);
		return;
	}
	ep = reply->element[1];
	if (ep->len && (size_t)ep->len < cl->d.epoch_size &&
	    strcmp(ep->str, cl->d.epoch))
		adopt_epoch(cl, ep->str);
	read_next(cl);
}

static void read_ready(struct tp_redis_conn *conn, redisAsyncContext *ac,
		       void *ud)
{
	struct tp_cluster *cl = ud;
	char epoch[16], age[24], maxlen[24];

	(void)conn;
	random_hex(epoch, 6);
	bounds(cl, maxlen, age);
	/* The epoch first (creating the stream if there is none): a stream
	 * that changed while we were away is read from its start. */
	if (redisAsyncCommand(ac, got_epoch, cl, "EVAL %s 3 %s %s %s %s %s %s %s %s %s %s",
			      APPEND_LUA, STREAM_KEY, META_KEY, "", epoch, "0",
			      maxlen, age, "", "", cl->origin) == REDIS_OK)
		cl->reading = true;
}

static void read_lost(struct tp_redis_conn *conn, enum tp_redis_loss loss,
		      const char *why, void *ud)
{
	struct tp_cluster *cl = ud;

	(void)conn;
	(void)loss;
	(void)why;
	cl->reading = false;
}

/* ---- lifecycle ---- */

struct tp_cluster *tp_cluster_create(const struct tp_cluster_deps *d)
{
	static const struct tp_redis_conn_ops append_ops = {append_ready, append_lost};
	static const struct tp_redis_conn_ops read_ops = {read_ready, read_lost};
	struct tp_cluster *cl = tp_calloc(1, sizeof(*cl));

	if (!cl)
		return NULL;
	cl->d = *d;
	sha1_hex(APPEND_LUA, strlen(APPEND_LUA), NULL, 0, cl->sha);
	random_hex(cl->origin, 6);
	snprintf(cl->last_id, sizeof(cl->last_id), "0-0");
	if (!(cl->occ = tp_dict_create()))
		goto fail;
	cl->append = tp_redis_conn_create(d->loop, *d->cfg, "cluster",
					  &append_ops, cl);
	if (!cl->append)
		goto fail;
	cl->read = tp_redis_conn_create(d->loop, *d->cfg, "stream",
					&read_ops, cl);
	if (!cl->read)
		goto fail;
	tp_redis_conn_start(cl->append);
	tp_redis_conn_start(cl->read);
	return cl;
fail:
	tp_redis_conn_close(cl->append);
	tp_dict_destroy(cl->occ);
	tp_free(cl);
	return NULL;
}

static bool free_occ(const char *key, void *value, void *ud)
{
	(void)key;
	(void)ud;
	tp_free(value);
	return true;
}

void tp_cluster_close(struct tp_cluster *cl)
{
	if (!cl)
		return;
	cl->closing = true;
	/* Callbacks in flight run now with NULL and free their proposals. */
	tp_redis_conn_close(cl->read);
	tp_redis_conn_close(cl->append);
	while (cl->q_head) {
		struct prop *p = cl->q_head;

		cl->q_head = p->next;
		tp_free(p);
	}
	while (cl->seen_head) {
		struct seen *s = cl->seen_head;

		cl->seen_head = s->next;
		tp_free(s);
	}
	tp_dict_foreach(cl->occ, free_occ, NULL);
	tp_dict_destroy(cl->occ);
	tp_free(cl);
}

bool tp_cluster_caught_up(const struct tp_cluster *cl)
{
	return cl && cl->caught_up;
}
