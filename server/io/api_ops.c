/*
 * api_ops.c - operations endpoints: /api/health,
 * /api/pattern-discovery/{health,performance}, /metrics, /healthz, /readyz.
 *
 * Status rules (documented in docs/operations.md):
 *  - /healthz: the process is up and its loop turns: always 200.
 *  - /readyz: 200 once subscribed to Redis and the warm start is done.
 *  - /api/health: "healthy" with both Redis connections up (pub/sub
 *    subscribed, cache connection ready); "degraded" while either is down
 *    but events still arrive or the cache still serves; "error" (503) when
 *    the subscriber is down and there is nothing cached to serve.
 *  - /api/pattern-discovery/health: "error" (503) while the event
 *    subscriber is down (the discovery pipeline is broken), "warning" when
 *    the producer heartbeat is stale, else "healthy".
 * "Down" includes a Redis that stopped answering: redis_conn declares a
 * connection silent for redis_ping_timeout down, so these follow within
 * that time.
 */
#include <string.h>

#include "api.h"
#include "directory.h"
#include "pg.h"
#include "redis.h"
#include "tickpush/alloc.h"

static const char *database_status(const struct tp_server *srv)
{
	if (!srv->pg)
		return "not_configured";
	return tp_pg_is_up(srv->pg) ? "connected" : "disconnected";
}

static void put_last_check(struct tp_buf *b, const struct tp_http_req *req)
{
	tp_buf_puts(b, "\"last_check\":");
	tp_buf_json_num(b, req->now);
}

void tp_api_health(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	struct tp_server *srv = req->srv;
	bool subscribed = tp_redis_sub_is_subscribed(srv->sub);
	bool redis_ok = subscribed && tp_redis_cache_is_connected(srv->rcache);
	size_t cached = tp_patterns_count(tp_ingest_patterns(srv->ingest));
	const char *status = redis_ok ? "healthy" :
			     subscribed || cached ? "degraded" : "error";
	struct tp_buf *b = resp->body;

	resp->status = strcmp(status, "error") ? 200 : 503;
	tp_buf_printf(b, "{\"status\":\"%s\",\"healthy\":%s,\"services\":{\"database\":\"%s\","
			 "\"redis\":\"%s\",\"cache\":\"%s\"},\"performance\":{\"response_time_ms\":%.3f},",
		      status, redis_ok ? "true" : "false", database_status(srv),
		      redis_ok ? "connected" : "disconnected",
		      cached ? "healthy" : "empty", tp_http_elapsed_ms(req));
	put_last_check(b, req);
	tp_buf_putc(b, '}');
}

void tp_api_discovery_health(const struct tp_http_req *req,
			     struct tp_http_resp *resp)
{
	struct tp_server *srv = req->srv;
	const struct tp_ingest_stats *st = tp_ingest_stats(srv->ingest);
	struct tp_respcache *rc = tp_ingest_respcache(srv->ingest);
	bool subscribed = tp_redis_sub_is_subscribed(srv->sub);
	bool cache_conn = tp_redis_cache_is_connected(srv->rcache);
	double hb = 0;
	bool producer = tp_redis_cache_producer_online(srv->rcache, &hb);
	size_t cached = tp_patterns_count(tp_ingest_patterns(srv->ingest));
	const char *status = !subscribed ? "error" : !producer ? "warning" : "healthy";
	struct tp_buf *b = resp->body;

	resp->status = subscribed ? 200 : 503;
	tp_buf_printf(b, "{\"status\":\"%s\",\"healthy\":%s,\"components\":{", status,
		      subscribed ? "true" : "false");
	tp_buf_printf(b, "\"redis\":{\"status\":\"%s\",\"subscribed\":%s,\"cache_connection\":%s,"
			 "\"reconnects\":%lu},",
		      !subscribed ? "error" : cache_conn ? "healthy" : "warning",
		      subscribed ? "true" : "false", cache_conn ? "true" : "false",
		      tp_redis_sub_reconnects(srv->sub));
	tp_buf_printf(b, "\"pattern_cache\":{\"status\":\"%s\",\"cached_patterns\":%zu,"
			 "\"hit_ratio\":",
		      cached ? "healthy" : "warning", cached);
	tp_buf_json_num(b, tp_respcache_hit_ratio(rc));
	tp_buf_printf(b, ",\"warm_start_loaded\":%zu},",
		      tp_redis_cache_warm_loaded(srv->rcache));
	tp_buf_printf(b, "\"database\":{\"status\":\"%s\"", database_status(srv));
	if (srv->dir)
		tp_buf_printf(b, ",\"symbols\":%zu,\"stale\":%s",
			      tp_directory_symbol_count(srv->dir),
			      tp_directory_is_stale(srv->dir) ? "true" : "false");
	tp_buf_puts(b, "},");
	tp_buf_printf(b, "\"event_subscriber\":{\"status\":\"%s\",\"events_processed\":%llu,"
			 "\"events_rejected\":%llu,\"last_event_time\":",
		      subscribed ? "healthy" : "error",
		      (unsigned long long)st->events_processed,
		      (unsigned long long)st->events_rejected);
	if (st->last_event_time > 0)
		tp_buf_json_num(b, st->last_event_time);
	else
		tp_buf_puts(b, "null");
	tp_buf_printf(b, "},\"producer\":{\"status\":\"%s\",\"last_heartbeat\":",
		      producer ? "online" : "offline");
	if (hb > 0)
		tp_buf_json_num(b, hb);
	else
		tp_buf_puts(b, "null");
	tp_buf_printf(b, "}},\"performance\":{\"response_time_ms\":%.3f},",
		      tp_http_elapsed_ms(req));
	put_last_check(b, req);
	tp_buf_putc(b, '}');
}

void tp_api_discovery_performance(const struct tp_http_req *req,
				  struct tp_http_resp *resp)
{
	struct tp_server *srv = req->srv;
	struct tp_buf *b = resp->body;
	double uptime = req->now - srv->started_at;

	tp_buf_puts(b, "{\"routes\":{");
	for (int r = 0; r < TP_ROUTE__COUNT; r++) {
		tp_buf_printf(b, "%s\"%s\":{\"count\":%llu,\"p50_ms\":", r ? "," : "",
			      tp_route_name((enum tp_route)r),
			      (unsigned long long)tp_metrics_route_count((enum tp_route)r));
		tp_buf_json_num(b, tp_metrics_route_quantile((enum tp_route)r, 0.5) * 1000);
		tp_buf_puts(b, ",\"p95_ms\":");
		tp_buf_json_num(b, tp_metrics_route_quantile((enum tp_route)r, 0.95) * 1000);
		tp_buf_puts(b, ",\"p99_ms\":");
		tp_buf_json_num(b, tp_metrics_route_quantile((enum tp_route)r, 0.99) * 1000);
		tp_buf_putc(b, '}');
	}
	tp_buf_puts(b, "},\"cache_hit_ratio\":");
	tp_buf_json_num(b, tp_respcache_hit_ratio(tp_ingest_respcache(srv->ingest)));
	tp_buf_puts(b, ",\"events_per_second\":");
	tp_buf_json_num(b, srv->events_per_second);
	tp_buf_printf(b, ",\"connections\":%llu,\"uptime_seconds\":",
		      (unsigned long long)TP_METRIC_GET(http_connections));
	tp_buf_json_num(b, uptime);
	tp_buf_puts(b, ",\"targets\":{\"api_response_time_ms\":50,\"websocket_latency_ms\":100,"
		       "\"cache_hit_ratio\":0.7},");
	put_last_check(b, req);
	tp_buf_putc(b, '}');
}

void tp_api_metrics(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	struct tp_server *srv = req->srv;
	struct tp_respcache *rc = tp_ingest_respcache(srv->ingest);

	/* Refresh gauges and mirrored counters right before rendering. */
	TP_METRIC_SET(patterns_cached, tp_patterns_count(tp_ingest_patterns(srv->ingest)));
	TP_METRIC_SET(respcache_hits, tp_respcache_hits(rc));
	TP_METRIC_SET(respcache_misses, tp_respcache_misses(rc));
	TP_METRIC_SET(redis_connected, tp_redis_sub_is_subscribed(srv->sub));
	TP_METRIC_SET(redis_cache_connected, tp_redis_cache_is_connected(srv->rcache));
	TP_METRIC_SET(redis_cache_pending, tp_redis_cache_pending(srv->rcache));
	TP_METRIC_SET(producer_online, tp_redis_cache_producer_online(srv->rcache, NULL));
	TP_METRIC_SET(alloc_bytes, tp_alloc_used());
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	tp_metrics_render_prometheus(resp->body);
}

void tp_api_healthz(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	(void)req;
	tp_buf_puts(resp->body, "{\"status\":\"ok\"}");
}

void tp_api_readyz(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	const char *why;
	bool ready = tp_server_ready(req->srv, &why);

	resp->status = ready ? 200 : 503;
	tp_buf_puts(resp->body, ready ? "{\"status\":\"ready\"" : "{\"status\":\"not_ready\"");
	tp_buf_puts(resp->body, ",\"reason\":");
	tp_buf_json_str(resp->body, why);
	tp_buf_putc(resp->body, '}');
}
