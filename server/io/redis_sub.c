/*
 * redis_sub.c - the pub/sub consumer.
 *
 * A dedicated connection (a subscribed Redis connection can run nothing
 * else) SUBSCRIBEs to the four channels of docs/events.md under the
 * configured prefix. Every message is handed to the ingest pipeline inside
 * the hiredis callback: the reply lives only during the callback, and the
 * parser copies what it keeps. After any disconnect redis_conn reconnects
 * with backoff and on_ready subscribes again, so a Redis restart needs no
 * action here; the store keeps serving meanwhile. A Redis that stops
 * answering is declared down by redis_conn's liveness check and handled
 * the same way.
 */
#include <string.h>

#include <hiredis/hiredis.h>

#include "cluster.h"
#include "redis.h"
#include "redis_conn.h"
#include "tickpush/alloc.h"
#include "tickpush/clock.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"

struct tp_redis_sub {
	struct tp_ingest *ingest;
	struct tp_cluster *cluster; /* cluster = redis: messages go there */
	char prefix[96];            /* channel_prefix (restart-only) */
	struct tp_redis_conn *conn;
	char channels[TP_CH__COUNT][128];
	unsigned confirmed;   /* subscribe confirmations on this connection */
	bool subscribed;
	double last_message;
};

static const char *const channel_suffix[TP_CH__COUNT] = {
	[TP_CH_PATTERNS] = "events.patterns",
	[TP_CH_BACKTEST_PROGRESS] = "events.backtesting.progress",
	[TP_CH_BACKTEST_RESULTS] = "events.backtesting.results",
	[TP_CH_HEALTH] = "health.status",
};

static int channel_of(const struct tp_redis_sub *sub, const char *name,
		      size_t len)
{
	for (int i = 0; i < TP_CH__COUNT; i++)
		if (strlen(sub->channels[i]) == len &&
		    !memcmp(sub->channels[i], name, len))
			return i;
	return -1;
}

static void on_message(redisAsyncContext *ac, void *r, void *privdata)
{
	struct tp_redis_sub *sub = privdata;
	redisReply *reply = r;
	redisReply *kind, *chan, *payload;
	int ch;

	(void)ac;
	/* NULL on disconnect: redis_conn handles the loss. The ["pong", ""]
	 * answer to redis_conn's liveness PING may land here too (hiredis
	 * hands an unmatched reply to the previous callback): two elements. */
	if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
		return;
	kind = reply->element[0];
	chan = reply->element[1];
	payload = reply->element[2];
	if (kind->type != REDIS_REPLY_STRING || chan->type != REDIS_REPLY_STRING)
		return;
	if (!strcmp(kind->str, "subscribe")) {
		if (++sub->confirmed == TP_CH__COUNT) {
			sub->subscribed = true;
			TP_METRIC_SET(redis_connected, 1);
			TP_LOG(TP_LOG_NOTICE, "msg=\"subscribed\" channels=%d prefix=%s",
			       TP_CH__COUNT, sub->prefix);
		}
		return;
	}
	if (strcmp(kind->str, "message") || payload->type != REDIS_REPLY_STRING)
		return;
	ch = channel_of(sub, chan->str, chan->len);
	if (ch < 0)
		return;
	sub->last_message = tp_now();
	if (sub->cluster) {
		/* Applied when it comes back from the shared stream. */
		tp_cluster_propose_event(sub->cluster, (enum tp_channel)ch,
					 payload->str, payload->len);
		return;
	}
	tp_ingest_message(sub->ingest, (enum tp_channel)ch, payload->str,
			  payload->len, sub->last_message);
}

static void on_ready(struct tp_redis_conn *conn, redisAsyncContext *ac,
		     void *ud)
{
	struct tp_redis_sub *sub = ud;

	(void)conn;
	sub->confirmed = 0;
	redisAsyncCommand(ac, on_message, sub, "SUBSCRIBE %s %s %s %s",
			  sub->channels[0], sub->channels[1], sub->channels[2],
			  sub->channels[3]);
}

static void on_lost(struct tp_redis_conn *conn, enum tp_redis_loss loss,
		    const char *why, void *ud)
{
	struct tp_redis_sub *sub = ud;

	(void)conn;
	if (sub->subscribed && loss != TP_REDIS_LOSS_CLOSED)
		TP_LOG(TP_LOG_WARN, "msg=\"pub/sub connection lost, serving from cache\" why=%s",
		       tp_log_q(why));
	sub->subscribed = false;
	sub->confirmed = 0;
	TP_METRIC_SET(redis_connected, 0);
	if (loss == TP_REDIS_LOSS_CLOSED)
		return;
	if (loss == TP_REDIS_LOSS_SILENT)
		TP_METRIC_INC(redis_ping_timeouts);
	TP_METRIC_INC(redis_disconnects);
	TP_METRIC_INC(redis_reconnects);
}

struct tp_redis_sub *tp_redis_sub_create(uv_loop_t *loop,
					  const struct tp_config *cfg,
					  struct tp_ingest *ingest,
					  struct tp_cluster *cluster)
{
	static const struct tp_redis_conn_ops ops = {on_ready, on_lost};
	struct tp_redis_sub *sub = tp_calloc(1, sizeof(*sub));

	if (!sub)
		return NULL;
	sub->ingest = ingest;
	sub->cluster = cluster;
	snprintf(sub->prefix, sizeof(sub->prefix), "%s", cfg->channel_prefix);
	for (int i = 0; i < TP_CH__COUNT; i++)
		snprintf(sub->channels[i], sizeof(sub->channels[i]), "%s.%s",
			 cfg->channel_prefix, channel_suffix[i]);
	sub->conn = tp_redis_conn_create(loop, cfg, "pubsub", &ops, sub);
	if (!sub->conn) {
		tp_free(sub);
		return NULL;
	}
	tp_redis_conn_start(sub->conn);
	return sub;
}

void tp_redis_sub_close(struct tp_redis_sub *sub)
{
	if (!sub)
		return;
	tp_redis_conn_close(sub->conn); /* may call on_lost synchronously */
	TP_METRIC_SET(redis_connected, 0);
	tp_free(sub);
}

bool tp_redis_sub_is_subscribed(const struct tp_redis_sub *sub)
{
	return sub && sub->subscribed;
}

unsigned long tp_redis_sub_reconnects(const struct tp_redis_sub *sub)
{
	return sub ? tp_redis_conn_reconnects(sub->conn) : 0;
}

double tp_redis_sub_last_message(const struct tp_redis_sub *sub)
{
	return sub ? sub->last_message : 0;
}
