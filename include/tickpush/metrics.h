/*
 * metrics.h - process metrics, rendered as Prometheus text
 * (server/core/metrics.c).
 *
 * Plain counters and gauges in one global array (single thread, no locks);
 * per-(channel, reason) rejection counters; HTTP responses per status code;
 * fixed-bucket latency histograms per HTTP route; build and process
 * information. Exposed with Prometheus names (metrics.c says how): prefix
 * tickpush_, counters end in exactly one _total, units as suffixes, codes
 * and reasons as labels of one family.
 */
#ifndef TICKPUSH_METRICS_H
#define TICKPUSH_METRICS_H

#include <stdint.h>

#include "tickpush/event.h"
#include "tickpush/wsrx.h"

struct tp_buf;

/* X(name, type, help): type is counter or gauge. */
#define TP_METRICS(X)                                                          \
	X(events_received, counter, "Messages received from Redis pub/sub")    \
	X(events_processed, counter, "Events accepted after parsing")          \
	X(events_rejected, counter, "Events dropped as malformed (all reasons)") \
	X(patterns_cached, gauge, "Patterns held in the in-process store")     \
	X(patterns_expired, counter, "Patterns removed by the expiry sweep")   \
	X(patterns_withdrawn, counter, "Patterns removed by pattern_expired events") \
	X(patterns_evicted, counter, "Patterns evicted because the store was full") \
	X(scans, counter, "Pattern scan queries answered")                     \
	X(respcache_hits, counter, "Scan responses served from the response cache") \
	X(respcache_misses, counter, "Scan responses computed from the store") \
	X(respcache_invalidations, counter, "Response cache entries invalidated by changes") \
	X(redis_connected, gauge, "1 while the pub/sub connection is subscribed") \
	X(redis_reconnects, counter, "Pub/sub reconnect attempts after a loss") \
	X(redis_disconnects, counter, "Pub/sub connections lost")              \
	X(redis_ping_timeouts, counter, "Pub/sub connections declared down: silent for redis_ping_timeout") \
	X(redis_cache_connected, gauge, "1 while the cache connection is up")  \
	X(redis_cache_disconnects, counter, "Cache connections lost")          \
	X(redis_cache_ping_timeouts, counter, "Cache connections declared down: silent for redis_ping_timeout") \
	X(redis_cache_pending, gauge, "Write-through commands sent and not answered yet") \
	X(redis_cache_writes, counter, "Write-through commands sent to the Redis cache") \
	X(redis_cache_write_errors, counter, "Write-through commands that failed or were dropped") \
	X(redis_warm_loaded, counter, "Patterns loaded from the Redis cache at start") \
	X(producer_online, gauge, "1 while the producer heartbeat is fresh")   \
	X(http_requests, counter, "HTTP requests answered")                    \
	X(http_bad_bodies, counter, "Request bodies refused as malformed JSON or text") \
	X(http_connections, gauge, "Open client connections (HTTP, SSE and WebSocket)") \
	X(connections_refused, counter, "Connections refused at max_connections") \
	X(http_inflight, gauge, "HTTP requests being handled or answered (a scrape counts itself)") \
	X(http_idle_closed, counter, "Connections closed for sending no request within the idle timeout") \
	X(alloc_bytes, gauge, "Bytes allocated through the tickpush allocator") \
	X(ws_sessions, gauge, "Open WebSocket sessions") \
	X(ws_connections_total, counter, "WebSocket sessions opened") \
	X(ws_rejected, counter, "WebSocket handshakes refused (path, origin, token)") \
	X(ws_frames_received, counter, "Frames received from WebSocket clients") \
	X(ws_frames_sent, counter, "Frames written to WebSocket and SSE clients") \
	X(ws_errors, counter, "Error frames sent and protocol violations") \
	X(ws_queued_bytes, gauge, "Bytes waiting in WebSocket and SSE session queues") \
	X(ws_slow_closed, counter, "Sessions closed as slow consumers (4008)") \
	X(ws_rate_closed, counter, "Sessions closed for exceeding the rate limit (4029)") \
	X(sse_sessions, gauge, "Open Server-Sent Events streams") \
	X(poll_waiting, gauge, "Long-poll requests waiting for events") \
	X(push_subscriptions, gauge, "Live subscriptions over every transport") \
	X(push_frames, counter, "Frames handed to push transports") \
	X(push_filters, gauge, "Distinct compiled filters in use") \
	X(login_limited_address, counter, "Logins refused by a limit") \
	X(login_limited_account, counter, "Logins refused by a limit") \
	X(account_check_failures, counter, "Tokens accepted unchecked: database unavailable") \
	X(accounts_gone, counter, "Tokens refused: their account was deleted") \
	X(push_writes, counter, "Socket writes of the push transports (each carries one or more frames)") \
	X(push_partial_writes, counter, "Writes that ended inside a frame (its rest was handed to lws)") \
	X(backtests_submitted, counter, "Backtest jobs submitted and published") \
	X(backtest_events_unknown_job, counter, "Backtest events for a job with no known owner") \
	X(worker, gauge, "Worker number of the answering process (workers > 1); 0 = single process") \
	X(worker_pid, gauge, "Process id of the answering process") \
	X(worker_restarts, gauge, "Restarts of this worker slot by the supervisor before this process") \
	X(config_reloads, counter, "SIGHUP reloads applied") \
	X(config_reload_errors, counter, "SIGHUP reloads refused (invalid configuration; the running one is kept)") \
	X(cluster_appended, counter, "Cluster: proposals this instance appended to the stream") \
	X(cluster_duplicates, counter, "Cluster: proposals another instance had appended") \
	X(cluster_queued, gauge, "Cluster: proposals waiting for the Redis connection") \
	X(cluster_dropped, counter, "Cluster: proposals dropped (queue full, refused)")

enum tp_metric {
#define TP_METRIC_ENUM(name, type, help) TP_M_##name,
	TP_METRICS(TP_METRIC_ENUM)
#undef TP_METRIC_ENUM
	TP_M__COUNT
};

extern uint64_t tp_metrics_values[TP_M__COUNT];

#define TP_METRIC_INC(m) (tp_metrics_values[TP_M_##m]++)
#define TP_METRIC_ADD(m, v) (tp_metrics_values[TP_M_##m] += (uint64_t)(v))
#define TP_METRIC_SET(m, v) (tp_metrics_values[TP_M_##m] = (uint64_t)(v))
#define TP_METRIC_GET(m) (tp_metrics_values[TP_M_##m])

/* Rejections by channel and reason (also adds to events_rejected). */
void tp_metrics_reject(enum tp_channel ch, enum tp_reject why);
uint64_t tp_metrics_rejected(enum tp_channel ch, enum tp_reject why);

/* WebSocket sessions closed for a protocol error, by reason. */
void tp_metrics_ws_protocol_error(enum tp_wsrx_error why);
uint64_t tp_metrics_ws_protocol_errors(enum tp_wsrx_error why);

/* An HTTP answer with this status (counts http_requests too). */
void tp_metrics_http_response(int status);
uint64_t tp_metrics_http_responses(int status);

/* tickpush_build_info{version,lws} (strings are copied, cut at 63 bytes). */
void tp_metrics_set_build_info(const char *version, const char *lws);

/* The process, as /proc tells it (server/io/api_ops.c reads it). */
struct tp_process_stats {
	double cpu_seconds;        /* user + system */
	double start_time;         /* epoch seconds */
	double rss_bytes;
	double vm_bytes;
	double open_fds;           /* < 0 = unknown */
	double max_fds;            /* < 0 = unknown */
	double threads;
};

/* Parses the text of /proc/self/stat, given the clock ticks per second,
 * the page size and the boot time (epoch s, "btime" of /proc/stat).
 * Fills the CPU, start, memory and thread fields; TP_ERR_INVAL when the
 * text is not a stat line. */
int tp_procstat_parse(const char *stat, long ticks, long page_size,
		      double boot_time, struct tp_process_stats *out);

/* HTTP routes with a latency histogram each. */
#define TP_ROUTES(X)                                                           \
	X(scan, "/api/patterns/scan")                                          \
	X(stats, "/api/patterns/stats")                                        \
	X(summary, "/api/patterns/summary")                                    \
	X(patterns_health, "/api/patterns/health")                             \
	X(health, "/api/health")                                               \
	X(discovery_health, "/api/pattern-discovery/health")                   \
	X(discovery_performance, "/api/pattern-discovery/performance")         \
	X(auth, "/api/auth/login")                                             \
	X(symbols, "/api/symbols")                                             \
	X(universes, "/api/users/universe")                                    \
	X(dashboard, "/api/dashboard/stats")                                   \
	X(watchlists, "/api/users/watchlists")                                 \
	X(presets, "/api/users/filter-presets")                                \
	X(stream, "/api/stream,/api/patterns/poll")                            \
	X(backtests, "/api/backtests")                                         \
	X(metrics, "/metrics")                                                 \
	X(probes, "/healthz,/readyz")                                          \
	X(static, "static files")                                              \
	X(other, "other")

enum tp_route {
#define TP_ROUTE_ENUM(name, path) TP_ROUTE_##name,
	TP_ROUTES(TP_ROUTE_ENUM)
#undef TP_ROUTE_ENUM
	TP_ROUTE__COUNT
};
const char *tp_route_name(enum tp_route r);

/* Records one request's latency in seconds. */
void tp_metrics_observe_route(enum tp_route r, double seconds);

/* One turn of the event loop kept it busy this long (server/io/loopwatch.c):
 * tickpush_loop_busy_seconds. */
void tp_metrics_observe_loop_turn(double busy_seconds);
uint64_t tp_metrics_loop_turns(void);
/* Approximate latency quantile (0 < q < 1) in seconds from the histogram
 * (upper bound of the bucket that holds it; the highest finite bound, 2.5,
 * when that is the +Inf bucket); 0 when no observations. */
double tp_metrics_route_quantile(enum tp_route r, double q);
uint64_t tp_metrics_route_count(enum tp_route r);

/* Appends the Prometheus text exposition of everything above (and of
 * proc, the process_* families, when not NULL). Callers refresh gauges
 * (patterns_cached, alloc_bytes, ...) before rendering. */
void tp_metrics_render_prometheus(struct tp_buf *out,
				  const struct tp_process_stats *proc);

/* Tests: zero everything. */
void tp_metrics_reset(void);

#endif
