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
 *
 * /metrics reads /proc for the process_* families: small files of the
 * kernel's own (no disk behind them), read with one read() each, and the
 * fd directory listed (as Prometheus client libraries do). With
 * metrics_token set, /metrics answers that bearer token only (compared in
 * constant time), whether or not require_auth is on.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api.h"
#include "directory.h"
#include "io.h"
#include "pg.h"
#include "redis.h"
#include "tickpush/alloc.h"
#include "tickpush/ascii.h"
#include "tickpush/clock.h"

static const char *database_status(const struct tp_io *srv)
{
	if (!srv->pg)
		return "not_configured";
	return tp_pg_is_up(srv->pg) ? "connected" : "disconnected";
}

/* ,"performance":{"response_time_ms":...},"last_check":... - the closing
 * members of the health bodies. */
static void put_tail(struct tp_buf *b, const struct tp_http_req *req)
{
	tp_buf_json_key(b, "performance", false);
	tp_buf_json_open(b, "response_time_ms");
	tp_buf_json_fixed(b, tp_http_elapsed_ms(req), 3);
	tp_buf_putc(b, '}');
	tp_buf_json_kv_num(b, "last_check", req->now);
}

/* "name":{"status":"..." - a component of the discovery health, left open
 * for its other members. */
static void open_component(struct tp_buf *b, const char *name, bool first,
			   const char *status)
{
	tp_buf_json_key(b, name, first);
	tp_buf_json_open(b, "status");
	tp_buf_json_str(b, status);
}

void tp_api_health(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	struct tp_io *srv = req->srv;
	bool subscribed = tp_redis_sub_is_subscribed(srv->sub);
	bool redis_ok = subscribed && tp_redis_cache_is_connected(srv->rcache);
	size_t cached = tp_patterns_count(tp_ingest_patterns(srv->ingest));
	const char *status = redis_ok ? "healthy" :
			     subscribed || cached ? "degraded" : "error";
	struct tp_buf *b = resp->body;

	resp->status = strcmp(status, "error") ? 200 : 503;
	tp_buf_json_open(b, "status");
	tp_buf_json_str(b, status);
	tp_buf_json_kv_bool(b, "healthy", redis_ok);
	tp_buf_json_key(b, "services", false);
	tp_buf_json_open(b, "database");
	tp_buf_json_str(b, database_status(srv));
	tp_buf_json_kv_str(b, "redis", redis_ok ? "connected" : "disconnected");
	tp_buf_json_kv_str(b, "cache", cached ? "healthy" : "empty");
	tp_buf_putc(b, '}');
	put_tail(b, req);
	tp_buf_putc(b, '}');
}

void tp_api_discovery_health(const struct tp_http_req *req,
			     struct tp_http_resp *resp)
{
	struct tp_io *srv = req->srv;
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
	tp_buf_json_open(b, "status");
	tp_buf_json_str(b, status);
	tp_buf_json_kv_bool(b, "healthy", subscribed);
	tp_buf_json_key(b, "components", false);
	tp_buf_putc(b, '{');
	open_component(b, "redis", true,
		       !subscribed ? "error" : cache_conn ? "healthy" : "warning");
	tp_buf_json_kv_bool(b, "subscribed", subscribed);
	tp_buf_json_kv_bool(b, "cache_connection", cache_conn);
	tp_buf_json_kv_uint(b, "reconnects", tp_redis_sub_reconnects(srv->sub));
	tp_buf_putc(b, '}');
	open_component(b, "pattern_cache", false, cached ? "healthy" : "warning");
	tp_buf_json_kv_uint(b, "cached_patterns", cached);
	tp_buf_json_kv_num(b, "hit_ratio", tp_respcache_hit_ratio(rc));
	tp_buf_json_kv_uint(b, "warm_start_loaded", tp_redis_cache_warm_loaded(srv->rcache));
	tp_buf_putc(b, '}');
	open_component(b, "database", false, database_status(srv));
	if (srv->dir) {
		tp_buf_json_kv_uint(b, "symbols", tp_directory_symbol_count(srv->dir));
		tp_buf_json_kv_bool(b, "stale", tp_directory_is_stale(srv->dir));
	}
	tp_buf_putc(b, '}');
	open_component(b, "event_subscriber", false, subscribed ? "healthy" : "error");
	tp_buf_json_kv_uint(b, "events_processed", st->events_processed);
	tp_buf_json_kv_uint(b, "events_rejected", st->events_rejected);
	tp_buf_json_kv_time(b, "last_event_time", st->last_event_time);
	tp_buf_putc(b, '}');
	open_component(b, "producer", false, producer ? "online" : "offline");
	tp_buf_json_kv_time(b, "last_heartbeat", hb);
	tp_buf_putc(b, '}');
	tp_buf_putc(b, '}');
	put_tail(b, req);
	tp_buf_putc(b, '}');
}

void tp_api_discovery_performance(const struct tp_http_req *req,
				  struct tp_http_resp *resp)
{
	struct tp_io *srv = req->srv;
	struct tp_buf *b = resp->body;
	double uptime = req->now - srv->started_at;

	tp_buf_json_open(b, "routes");
	tp_buf_putc(b, '{');
	for (int r = 0; r < TP_ROUTE__COUNT; r++) {
		enum tp_route route = (enum tp_route)r;

		tp_buf_json_key(b, tp_route_name(route), r == 0);
		tp_buf_json_open(b, "count");
		tp_buf_json_uint(b, tp_metrics_route_count(route));
		tp_buf_json_kv_num(b, "p50_ms", tp_metrics_route_quantile(route, 0.5) * 1000);
		tp_buf_json_kv_num(b, "p95_ms", tp_metrics_route_quantile(route, 0.95) * 1000);
		tp_buf_json_kv_num(b, "p99_ms", tp_metrics_route_quantile(route, 0.99) * 1000);
		tp_buf_putc(b, '}');
	}
	tp_buf_putc(b, '}');
	tp_buf_json_kv_num(b, "cache_hit_ratio",
			   tp_respcache_hit_ratio(tp_ingest_respcache(srv->ingest)));
	tp_buf_json_kv_num(b, "events_per_second", srv->events_per_second);
	tp_buf_json_kv_uint(b, "connections", TP_METRIC_GET(http_connections));
	tp_buf_json_kv_num(b, "uptime_seconds", uptime);
	tp_buf_json_key(b, "targets", false);
	tp_buf_json_open(b, "api_response_time_ms");
	tp_buf_json_int(b, 50);
	tp_buf_json_kv_int(b, "websocket_latency_ms", 100);
	tp_buf_json_kv_num(b, "cache_hit_ratio", 0.7);
	tp_buf_putc(b, '}');
	tp_buf_json_kv_num(b, "last_check", req->now);
	tp_buf_putc(b, '}');
}

/* A small /proc file into buf (NUL-terminated); false when unreadable. */
static bool read_proc(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return false;
	got = read(fd, buf, n - 1);
	close(fd);
	if (got <= 0)
		return false;
	buf[got] = '\0';
	return true;
}

/* The boot time (epoch s), read once: it does not change. /proc/stat
 * names it, but the systemd unit's ProcSubset=pid hides that file: then
 * the wall clock minus the time since boot (CLOCK_BOOTTIME, the clock
 * /proc/self/stat's start time counts in). */
static double boot_time(void)
{
	static double btime = -1;
	char buf[8192];
	const char *p;
	struct timespec up;

	if (btime >= 0)
		return btime;
	if (read_proc("/proc/stat", buf, sizeof(buf)) && (p = strstr(buf, "\nbtime ")))
		btime = strtod(p + 7, NULL);
	else if (!clock_gettime(CLOCK_BOOTTIME, &up))
		btime = tp_now() - ((double)up.tv_sec + (double)up.tv_nsec / 1e9);
	return btime < 0 ? 0 : btime;
}

static bool process_stats(struct tp_process_stats *ps)
{
	char buf[1024];
	struct rlimit rl;
	DIR *d;

	memset(ps, 0, sizeof(*ps));
	if (!read_proc("/proc/self/stat", buf, sizeof(buf)) ||
	    tp_procstat_parse(buf, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE),
			      boot_time(), ps))
		return false;
	ps->open_fds = -1; /* unknown */
	if ((d = opendir("/proc/self/fd"))) {
		const struct dirent *e;
		double n = -1; /* not counting the directory's own descriptor */

		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
		ps->open_fds = n;
	}
	ps->max_fds = getrlimit(RLIMIT_NOFILE, &rl) ? -1 : (double)rl.rlim_cur;
	return true;
}

bool tp_api_metrics_token_ok(const struct tp_http_req *req)
{
	const char *want = req->srv->cfg->metrics_token;
	char hdr[512];
	size_t n;

	if (!want || !want[0] ||
	    tp_http_req_header(req, "authorization:", hdr, sizeof(hdr)) < 8 ||
	    tp_ascii_ncasecmp(hdr, "Bearer ", 7))
		return false;
	n = strlen(want);
	/* Constant time over the token's length (a length mismatch says
	 * nothing about the content). */
	return strlen(hdr + 7) == n && !CRYPTO_memcmp(hdr + 7, want, n);
}

void tp_api_metrics(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	struct tp_io *srv = req->srv;
	struct tp_respcache *rc = tp_ingest_respcache(srv->ingest);
	struct tp_process_stats ps;

	if (srv->cfg->metrics_token[0] && !tp_api_metrics_token_ok(req)) {
		tp_http_error(resp, 401, "This endpoint needs the metrics token "
			      "(Authorization: Bearer)", NULL, NULL);
		return;
	}

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
	tp_metrics_render_prometheus(resp->body, process_stats(&ps) ? &ps : NULL);
}

void tp_api_healthz(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	(void)req;
	tp_buf_puts(resp->body, "{\"status\":\"ok\"}");
}

void tp_api_readyz(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	const char *why;
	bool ready = req->srv->hooks.ready(req->srv->hooks.ud, &why);

	resp->status = ready ? 200 : 503;
	tp_buf_json_open(resp->body, "status");
	tp_buf_json_str(resp->body, ready ? "ready" : "not_ready");
	tp_buf_json_kv_str(resp->body, "reason", why);
	tp_buf_putc(resp->body, '}');
}
