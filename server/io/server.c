/*
 * server.c - wiring and lifecycle: one libuv loop, lws on it, ingest,
 * Redis clients, timers, signals, graceful shutdown.
 *
 * Startup order: uv loop -> ingest (store, response cache) -> lws context
 * on our loop (foreign loop, LWS_SERVER_OPTION_LIBUV) and listen socket ->
 * Redis clients (they connect in the background; Redis being down at start
 * is not fatal) -> timers and signal watchers.
 *
 * Shutdown (SIGTERM/SIGINT, tp_server_stop):
 *   1. stop accepting: the listen socket is closed (lws_context_deprecate),
 *      new requests on kept-alive connections get 503;
 *   2. stop consuming: the pub/sub connection is closed;
 *   3. drain: a 50 ms timer waits until no HTTP request is in flight
 *      (httpconn.h) and the write-through pipeline is empty, at most
 *      shutdown_timeout;
 *   4. lws_context_destroy, close the cache connection, our timers and
 *      signal handles; uv_run returns when the last handle has closed, and
 *      tp_server_cleanup asserts uv_loop_close() succeeds (no leaked
 *      handles), as libuv's own tests do.
 */
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "accounts.h"
#include "api.h"
#include "backtests.h"
#include "cluster.h"
#include "directory.h"
#include "pg.h"
#include "redis.h"
#include "reload.h"
#include "routes.h"
#include "http.h"
#include "listener.h"
#include "loopwatch.h"
#include "sniff.h"
#include "sse.h"
#include "netutil.h"
#include "longpoll.h"
#include "transport.h"
#include "tickpush/clock.h"
#include "tickpush/push.h"
#include "io.h"
#include "server.h"
#include "tls.h"
#include "writer.h"
#include "ws.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/json.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"
#include "tickpush/ratelimit.h"

/* The server: the context its modules share (io.h) and what only the
 * wiring touches. */
struct tp_server {
	struct tp_io io;
	int port;                     /* bound listen port */
	struct tp_worker worker;      /* id 0: single process */
	struct tp_listener *listener; /* worker's accept loop (listener.c) */
	struct lws_token_limits http_token_limits; /* see create_lws */
	lws_retry_bo_t idle_policy;   /* all zero: lws's validity timer off */
	uv_signal_t sig_term, sig_int;
	uv_timer_t sweep_timer;       /* pattern expiry */
	uv_timer_t ws_round_timer;    /* the WebSocket round, in steps */
	uv_timer_t drain_timer;       /* shutdown drain */
	struct tp_loopwatch *loopwatch; /* counts turns (io.loop_turn), their busy time */
	double shutdown_deadline;
	/* Events/s over the last minute: accepted-event totals sampled once a
	 * second by the sweep timer into a ring. */
	unsigned long long rate_ring[61];
	unsigned rate_pos;
	int exit_code;
};

/* ---- ingest hooks ---- */

static uint64_t current_seq(const struct tp_server *srv)
{
	return tp_ingest_stats(srv->io.ingest)->seq;
}

static void hook_upsert(const struct tp_pattern *p, void *ud)
{
	struct tp_server *srv = ud;

	tp_redis_cache_on_upsert(srv->io.rcache, p);
	tp_push_pattern(srv->io.push, p, current_seq(srv), tp_now());
}

static void hook_remove(const struct tp_pattern *p, enum tp_removal why,
			void *ud)
{
	struct tp_server *srv = ud;

	tp_redis_cache_on_remove(srv->io.rcache, p, why);
	if (why != TP_REMOVED_REPLACED && srv->io.push)
		tp_push_pattern_removed(srv->io.push, p, current_seq(srv), tp_now());
}

static void hook_other(const struct tp_event *ev, void *ud)
{
	struct tp_server *srv = ud;

	if (ev->kind == TP_EV_SYSTEM_HEALTH) {
		tp_push_health(srv->io.push, ev->data_json ? ev->data_json : "{}",
			       current_seq(srv), tp_now());
		return;
	}
	/* Unknown jobs are kept in history but reach nobody (counted). */
	tp_push_backtest(srv->io.push, ev,
			 srv->io.backtests ? tp_backtests_on_event(srv->io.backtests, ev) : 0,
			 current_seq(srv), tp_now());
}

/* The producer went online or offline (redis_cache.c's hook). */
static void producer_changed(void *ud, bool online, double last_heartbeat)
{
	struct tp_server *srv = ud;
	struct tp_buf b;

	if (!srv->io.push || !srv->io.ingest)
		return;
	tp_buf_init(&b, 0);
	tp_buf_putc(&b, '{');
	tp_buf_json_key(&b, "status", true);
	tp_buf_json_str(&b, online ? "producer_online" : "producer_offline");
	tp_buf_json_key(&b, "producer", false);
	tp_buf_putc(&b, '{');
	tp_buf_json_key(&b, "online", true);
	tp_buf_json_bool(&b, online);
	tp_buf_json_kv_time(&b, "last_heartbeat", last_heartbeat);
	tp_buf_putc(&b, '}');
	tp_buf_putc(&b, '}');
	/* In cluster mode this notice is this instance's own: it may find no
	 * position left before the next stream entry (then it is only logged). */
	uint64_t seq = tp_ingest_bump_seq(srv->io.ingest);
	if (!b.oom && seq)
		tp_push_health(srv->io.push, tp_buf_cstr(&b), seq, tp_now());
	tp_buf_cleanup(&b);
}

/* Bad events are logged at most once a second per channel, with the
 * reason, the field and how many were suppressed since. */
static void hook_reject(enum tp_channel ch, enum tp_reject why,
			const struct tp_errdetail *err, void *ud)
{
	static struct tp_log_ratelimit rl[TP_CH__COUNT];
	unsigned long suppressed = 0;

	(void)ud;
	if (!tp_log_ratelimit_allow(&rl[ch], tp_mono(), 1.0, &suppressed))
		return;
	TP_LOG(TP_LOG_WARN, "msg=\"event rejected\" channel=%s reason=%s detail=%s suppressed=%lu",
	       tp_channel_name(ch), tp_reject_name(why), tp_log_q(err ? err->msg : ""),
	       suppressed);
}

/* The cluster stream's news from other instances (cluster.h hooks). */
static void user_changed(void *ud, long long user)
{
	struct tp_server *srv = ud;

	tp_api_users_refollow(&srv->io, user);
}

static void job_learned(void *ud, const char *job_id, long long user,
			const char *job_json, size_t len)
{
	struct tp_server *srv = ud;

	tp_backtests_learn(srv->io.backtests, job_id, user, job_json, len);
}

static struct tp_cluster *create_cluster(struct tp_server *srv)
{
	struct tp_cluster_deps d = {
		.loop = &srv->io.loop, .cfg = &srv->io.cfg, .ingest = srv->io.ingest,
		.push = srv->io.push, .epoch = srv->io.epoch,
		.epoch_size = sizeof(srv->io.epoch),
		.account_limit = tp_accounts_login_limit(&srv->io),
		.user_changed = user_changed, .job_learned = job_learned, .ud = srv,
	};

	return tp_cluster_create(&d);
}

static const char *hook_sector_of(const char *symbol, void *ud)
{
	struct tp_server *srv = ud;

	return srv->io.dir ? tp_directory_sector(srv->io.dir, symbol) : NULL;
}

static void directory_loaded(struct tp_directory *dir, void *ud)
{
	struct tp_server *srv = ud;

	(void)dir;
	tp_ingest_refresh_sectors(srv->io.ingest);
}

/* ---- timers ---- */

/* Sessions per step of the WebSocket round: ~0.5 µs each, so a step
 * holds the loop for ~0.1 ms. */
#define WS_ROUND_STEP 256

static void ws_round_step(uv_timer_t *t)
{
	struct tp_server *srv = t->data;

	if (!tp_ws_tick_step(&srv->io, WS_ROUND_STEP))
		uv_timer_stop(t);
}

static void sweep_tick(uv_timer_t *t)
{
	struct tp_server *srv = t->data;
	size_t n = 0;
	unsigned long long cur = tp_ingest_stats(srv->io.ingest)->events_processed;
	unsigned slots = TP_ARRAY_SIZE(srv->rate_ring);
	unsigned oldest = (srv->rate_pos + 1) % slots;
	unsigned filled = srv->rate_pos + 1 < slots ? srv->rate_pos + 1 : slots - 1;

	/* In cluster mode expiry goes through the stream (a position shared
	 * by every instance); while Redis is away it waits (scans skip
	 * expired rows anyway). */
	if (srv->io.cluster)
		tp_cluster_sweep(srv->io.cluster, tp_now());
	else
		n = tp_ingest_expire(srv->io.ingest, tp_now());

	srv->rate_ring[srv->rate_pos % slots] = cur;
	if (srv->rate_pos >= slots - 1)
		srv->io.events_per_second = (double)(cur - srv->rate_ring[oldest]) / (slots - 1);
	else
		srv->io.events_per_second = (double)(cur - srv->rate_ring[0]) / filled;
	srv->rate_pos++;
	tp_ws_tick_start(&srv->io, tp_now());
	if (tp_ws_tick_step(&srv->io, WS_ROUND_STEP))
		uv_timer_start(&srv->ws_round_timer, ws_round_step, 1, 1);
	tp_sse_tick(&srv->io, tp_mono());
	tp_writer_tick(srv->io.writer);
	if (srv->io.push) {
		struct tp_push_stats ps;

		tp_push_get_stats(srv->io.push, &ps);
		TP_METRIC_SET(push_subscriptions, ps.subscriptions);
		TP_METRIC_SET(push_filters, ps.distinct_filters);
		TP_METRIC_SET(push_frames, ps.frames);
	}
	if (n)
		TP_LOG(TP_LOG_DEBUG, "msg=\"expired patterns removed\" count=%zu", n);
}

/* ---- lws logging into ours ---- */

static void lws_log_emit(int level, const char *line)
{
	enum tp_log_level l = level == LLL_ERR ? TP_LOG_ERR :
			      level == LLL_WARN ? TP_LOG_WARN : TP_LOG_NOTICE;
	size_t n = strlen(line);

	if (tp_http_lws_log(line))
		l = TP_LOG_DEBUG; /* a bad request head: http.c answers and logs it */
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	TP_LOG(l, "msg=\"lws\" detail=%s", tp_log_qn(line, n));
}

static void *lws_realloc_hook(void *ptr, size_t size, const char *reason)
{
	(void)reason;
	if (!size) {
		tp_free(ptr);
		return NULL;
	}
	return tp_realloc(ptr, size);
}

/* Once per loop iteration, after I/O callbacks (http.c: a callback that
 * lws repeats many times within one iteration is lws looping). */
/* A worker's listener asks before it hands a connection to lws. */
static bool may_accept(void *ud)
{
	struct tp_server *srv = ud;

	return tp_http_may_accept(&srv->io);
}

/* ---- shutdown ---- */

static void handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void finish_shutdown(struct tp_server *srv)
{
	/* Database users first: cancelled queries complete their deferred
	 * HTTP requests while lws still exists (or find them gone). */
	tp_directory_close(srv->io.dir);
	srv->io.dir = NULL;
	tp_pg_close(srv->io.pg);
	srv->io.pg = NULL;
	uv_timer_stop(&srv->drain_timer);
	uv_close((uv_handle_t *)&srv->drain_timer, handle_closed);
	uv_close((uv_handle_t *)&srv->sweep_timer, handle_closed);
	uv_close((uv_handle_t *)&srv->ws_round_timer, handle_closed);
	tp_loopwatch_close(srv->loopwatch);
	uv_close((uv_handle_t *)&srv->sig_term, handle_closed);
	uv_close((uv_handle_t *)&srv->sig_int, handle_closed);
	tp_reload_close(&srv->io);
	tp_writer_close(srv->io.writer);
	/* With a foreign loop lws tears down in stages as its handles close;
	 * info.pcontext clears srv->io.lws when that has finished, and
	 * tp_server_run completes it if the loop stops first. */
	if (srv->io.lws)
		lws_context_destroy(srv->io.lws);
	tp_backtests_close(srv->io.backtests);
	srv->io.backtests = NULL;
	tp_redis_cache_close(srv->io.rcache);
	srv->io.rcache = NULL;
	TP_LOG(TP_LOG_NOTICE, "msg=\"stopped\"");
}

static void drain_tick(uv_timer_t *t)
{
	struct tp_server *srv = t->data;
	bool drained = srv->io.http.inflight == 0 &&
		       tp_redis_cache_pending(srv->io.rcache) == 0 &&
		       tp_ws_count(&srv->io) == 0;

	if (drained || tp_mono() >= srv->shutdown_deadline) {
		if (!drained)
			TP_LOG(TP_LOG_WARN, "msg=\"shutdown timeout, closing anyway\" http_inflight=%u redis_pending=%zu",
			       srv->io.http.inflight, tp_redis_cache_pending(srv->io.rcache));
		finish_shutdown(srv);
	}
}

/* lws calls this when the last connection of a deprecated context has
 * gone; our drain timer already tracks what matters. */
static int deprecated_cb(void)
{
	return 0;
}

void tp_server_stop(struct tp_server *srv)
{
	if (srv->io.stopping)
		return;
	srv->io.stopping = true;
	TP_LOG(TP_LOG_NOTICE, "msg=\"shutting down\" timeout=%.1fs",
	       srv->io.cfg->shutdown_timeout);
	uv_timer_stop(&srv->sweep_timer);
	uv_timer_stop(&srv->ws_round_timer);
	tp_listener_close(srv->listener);
	srv->listener = NULL;
	tp_sniff_stop_all(&srv->io);
	if (srv->io.lws)
		lws_context_deprecate(srv->io.lws, deprecated_cb);
	tp_redis_sub_close(srv->io.sub);
	srv->io.sub = NULL;
	tp_cluster_close(srv->io.cluster);
	srv->io.cluster = NULL;
	/* Close 1001 to every WebSocket session; long-polls answer now. */
	tp_ws_close_all(&srv->io);
	tp_poll_answer_all(&srv->io);
	srv->shutdown_deadline = tp_mono() + srv->io.cfg->shutdown_timeout;
	uv_timer_start(&srv->drain_timer, drain_tick, 0, 50);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct tp_server *srv = s->data;

	TP_LOG(TP_LOG_NOTICE, "msg=\"signal received\" signal=%d", signum);
	tp_server_stop(srv);
}

/* Readiness (/readyz through the io hook): pub/sub subscribed and the
 * warm start finished. */
static bool server_ready(void *ud, const char **why)
{
	const struct tp_server *srv = ud;

	if (srv->io.stopping) {
		*why = "shutting down";
		return false;
	}
	if (!tp_redis_sub_is_subscribed(srv->io.sub)) {
		*why = "not subscribed to Redis";
		return false;
	}
	if (!tp_redis_cache_warm_done(srv->io.rcache)) {
		*why = "cache warm start not finished";
		return false;
	}
	if (srv->io.cluster && !tp_cluster_caught_up(srv->io.cluster)) {
		*why = "reading the cluster stream";
		return false;
	}
	*why = "ready";
	return true;
}

/* ---- lifecycle ---- */

/* Raises the soft open-file limit to the hard one (a push server holds a
 * socket per client) and returns the limit in force, at least want. */
static rlim_t fd_limit(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return want;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t old = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			rl.rlim_cur = old;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1000000)
		rl.rlim_cur = 1000000;
	return rl.rlim_cur > want ? rl.rlim_cur : want;
}

/* Per-connection buffer sizes for the one protocol of http.c's table.
 * rx: lws allocates this much (plus LWS_PRE) per WebSocket session for
 * the frames it receives; the default, pt_serv_buf_size (4 KiB), was half
 * of an idle session's memory. Client frames are small and ws.c
 * reassembles any that arrive in pieces. tx: the most lws_write sends per
 * call before it buffers the rest (HTTP body chunks, the rest of a push
 * frame cut by a full socket); it defaults to rx's size, so it is pinned
 * to the 4 KiB HTTP responses were written with before. */
#define WS_RX_BUFFER 1024
#define TX_PACKET 4096
#define TLS_RECORD_MAX 16384 /* plaintext bytes, TLS 1.2 and 1.3 */

/* http.c's protocol table with those sizes; lws copies it into the
 * vhost, a static keeps it valid in any case. */
static const struct lws_protocols *tuned_protocols(void)
{
	static struct lws_protocols tuned[8];
	const struct lws_protocols *p = tp_http_protocols();
	size_t n = 0;

	for (; p[n].name && n < TP_ARRAY_SIZE(tuned) - 1; n++) {
		tuned[n] = p[n];
		tuned[n].rx_buffer_size = WS_RX_BUFFER;
		tuned[n].tx_packet_size = TX_PACKET;
	}
	TP_ASSERT(!p[n].name); /* room for the whole table */
	memset(&tuned[n], 0, sizeof(tuned[n]));
	tp_tls_wrap_protocol(&tuned[0]); /* the vhost's SSL_CTX comes there */
	return tuned;
}

static int create_lws(struct tp_server *srv)
{
	struct lws_context_creation_info info;
	void *loops[1] = {&srv->io.loop};
	const struct tp_config *cfg = srv->io.cfg;
	int limit;

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBUV |
		       LWS_SERVER_OPTION_VALIDATE_UTF8 |
		       LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME;
	if (!strchr(cfg->bind, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	/* TLS (tls.c). HTTP/1.1 only: with h2 negotiated by ALPN, requests
	 * would be streams of one socket, which http.c and the push write
	 * path do not handle. */
	info.options |= tp_tls_lws_options(cfg);
	if (*cfg->tls_cert)
		info.alpn = "http/1.1";
	info.foreign_loops = loops;
	/* A worker accepts on the supervisor's socket itself (listener.c). */
	info.port = srv->worker.id ? CONTEXT_PORT_NO_LISTEN_SERVER : cfg->port;
	info.iface = cfg->bind;
	info.protocols = tuned_protocols();
	info.user = &srv->io; /* what the modules get from a wsi */
	/* Request heads. lws parses them into a header table ("ah") that a
	 * connection holds while a request is on it: from accept for the
	 * first one (lws 4.1.6 attaches a table when it accepts), from the
	 * first byte for later ones on a kept-alive connection, until the
	 * request has been answered. With the pool of tables exhausted a new
	 * connection waits, unread, for one: so the pool covers
	 * max_connections and the operators' reserve (http.h), and nobody
	 * ever waits (tables are allocated on demand and freed on release:
	 * a large pool costs nothing unused).
	 * lws keeps at most http_header_max bytes of any one header
	 * (token_limits: the rest of that line is skipped, not a parse
	 * failure) so that http.c can answer 431/414; the table has room
	 * for the rest of the head beyond that. The head must be complete
	 * within http_timeout of the table being attached
	 * (timeout_secs_ah_idle); a new connection that starts no request is
	 * closed after http_idle_timeout (http.c). */
	limit = tp_http_header_limit(cfg);
	for (size_t i = 0; i < TP_ARRAY_SIZE(srv->http_token_limits.token_limit); i++)
		srv->http_token_limits.token_limit[i] = (unsigned short)limit;
	info.token_limits = &srv->http_token_limits;
	info.max_http_header_data2 = (unsigned)limit + TP_HTTP_HEAD_SLACK;
	info.max_http_header_pool2 = (unsigned)cfg->max_connections +
				     TP_HTTP_OPS_RESERVE + 16;
	info.timeout_secs = (unsigned)cfg->http_timeout;
	info.timeout_secs_ah_idle = (unsigned)cfg->http_timeout;
	info.keepalive_timeout = cfg->http_keepalive_timeout;
	/* lws looks sockets up directly by fd only when its table covers
	 * every fd the process may get; a smaller table means a linear scan
	 * per socket event (24 % of the server's time at 10k sessions,
	 * docs/benchmarks.md). So the table spans the whole fd limit, and
	 * max_connections is enforced at accept (http.c). */
	info.fd_limit_per_thread = (unsigned)fd_limit(cfg->max_connections +
						      TP_HTTP_OPS_RESERVE + 64);
	info.server_string = "tickpush";
	/* lws reads a request in pieces of this size. Over TLS, a piece that
	 * fills it leaves the rest of the TLS record decrypted inside OpenSSL,
	 * where no socket event announces it; lws 4.1.6 on libuv looks at such
	 * bytes once (its idle handler) and then forgets them: a head of three
	 * pieces or more (> 8 KiB with the default 4 KiB) waited for the
	 * client's next packet. Larger than the largest TLS record (16 KiB),
	 * no read leaves anything behind. One buffer per loop. */
	info.pt_serv_buf_size = TLS_RECORD_MAX + 1024;
	/* lws's connection validity timer stays off (a policy with no
	 * hang-up time; without one lws applies its default, 300 s): lws 4.1
	 * keeps its timers in one sorted list and inserts each session's
	 * timer by walking it from the head, at every session start and every
	 * pong: quadratic in the sessions (at 10,000 sessions it took most of
	 * the server's CPU, docs/benchmarks.md). ws.c pings idle sessions
	 * and enforces ws_idle_timeout from its 1 Hz tick instead. */
	memset(&srv->idle_policy, 0, sizeof(srv->idle_policy));
	info.retry_and_idle_policy = &srv->idle_policy;
	info.pcontext = &srv->io.lws;

	srv->io.lws = lws_create_context(&info);
	if (!srv->io.lws) {
		TP_LOG(TP_LOG_ERR, "msg=\"cannot start the HTTP listener\" bind=%s port=%d",
		       cfg->bind, cfg->port);
		return TP_ERR_IO;
	}
	srv->io.vhost = lws_get_vhost_by_name(srv->io.lws, "default");
	if (srv->worker.id)
		srv->port = srv->worker.port; /* the supervisor resolved port 0 */
	else
		srv->port = srv->io.vhost ? lws_get_vhost_listen_port(srv->io.vhost) : cfg->port;
	return srv->io.vhost ? TP_OK : TP_ERR_IO;
}

/* A worker's supervisor has written it (supervisor.c). */
static int write_port_file(const struct tp_server *srv)
{
	return srv->worker.id ? TP_OK : tp_port_file_write(srv->io.cfg->port_file, srv->port);
}

/* The HS256 key: the configured secret, or in dev mode a random one (tokens
 * then die with the process). Without a database there are no accounts, so
 * no secret is needed. */
static int setup_auth(struct tp_server *srv)
{
	const struct tp_config *cfg = srv->io.cfg;

	if (cfg->jwt_secret && cfg->jwt_secret[0]) {
		srv->io.jwt_key = (const unsigned char *)cfg->jwt_secret;
		srv->io.jwt_key_len = strlen(cfg->jwt_secret);
	} else if (cfg->dev_mode) {
		if (RAND_bytes(srv->io.jwt_dev_key, sizeof(srv->io.jwt_dev_key)) != 1)
			return TP_ERR_IO;
		srv->io.jwt_key = srv->io.jwt_dev_key;
		srv->io.jwt_key_len = sizeof(srv->io.jwt_dev_key);
		TP_LOG(TP_LOG_WARN, "msg=\"dev mode: generated a random JWT secret; tokens end with this process\"");
	} else if (cfg->database_uri && cfg->database_uri[0]) {
		TP_LOG(TP_LOG_ERR, "msg=\"TICKPUSH_JWT_SECRET is required with a database "
		       "(at least 32 bytes; or TICKPUSH_DEV=true for a random one)\"");
		return TP_ERR_INVAL;
	}
	if (tp_cidr_list_parse(cfg->trusted_proxies, &srv->io.trusted_proxies, NULL))
		return TP_ERR_INVAL; /* config.c validated it */
	/* Per client address: login_burst attempts at once, then login_rate
	 * per second; at most 10,000 addresses tracked. */
	srv->io.login_rl = tp_ratelimit_create(cfg->login_rate, cfg->login_burst, 10000);
	if (!srv->io.login_rl)
		return TP_ERR_NOMEM;
	/* Whether token accounts still exist; the login limit per account. */
	return tp_accounts_create(&srv->io);
}

static int setup_push(struct tp_server *srv)
{
	const struct tp_config *cfg = srv->io.cfg;
	struct tp_push_opts po;

	memset(&po, 0, sizeof(po));
	po.epoch = srv->io.epoch;
	po.max_subs = (size_t)cfg->ws_max_subscriptions;
	po.history_events = (size_t)cfg->history_events;
	po.history_seconds = cfg->history_seconds;
	/* Cluster: a position another instance gave out may be up to 1,000
	 * stream entries ahead of ours (ingest.h: TP_INGEST_STRIDE seqs
	 * each); events up to it are skipped for that subscription. */
	if (tp_io_clustered(&srv->io))
		po.future_window = 1000ull * TP_INGEST_STRIDE;
	po.ops.send = tp_stream_send;
	if (!(srv->io.push = tp_push_create(&po)))
		return TP_ERR_NOMEM;
	if (!(srv->io.writer = tp_writer_create(&srv->io.loop,
					     (unsigned)cfg->ws_write_delay_ms)))
		return TP_ERR_NOMEM;
	return tp_ws_create(&srv->io);
}

static void database_state(bool up, void *ud)
{
	struct tp_server *srv = ud;

	if (srv->io.dir)
		tp_directory_db_state(srv->io.dir, up);
}

static int setup_database(struct tp_server *srv)
{
	const struct tp_config *cfg = srv->io.cfg;
	struct tp_pg_opts po;

	if (!cfg->database_uri || !cfg->database_uri[0]) {
		TP_LOG(TP_LOG_NOTICE, "msg=\"no DATABASE_URI: symbols, accounts and user objects are unavailable\"");
		return TP_OK;
	}
	memset(&po, 0, sizeof(po));
	po.conninfo = cfg->database_uri;
	po.pool_size = cfg->db_pool_size;
	po.query_timeout = cfg->db_query_timeout;
	po.reconnect_max = cfg->redis_reconnect_max > 0 ? cfg->redis_reconnect_max : 5;
	po.max_queued = 1000;
	po.on_state = database_state;
	po.state_ud = srv;
	srv->io.pg = tp_pg_create(&srv->io.loop, &po);
	if (!srv->io.pg)
		return TP_ERR_INVAL;
	srv->io.dir = tp_directory_create(&srv->io.loop, srv->io.pg,
				       cfg->symbols_refresh_interval,
				       directory_loaded, srv);
	return srv->io.dir ? TP_OK : TP_ERR_NOMEM;
}

int tp_server_init(struct tp_server **out, const struct tp_config *cfg)
{
	struct tp_worker single = {.listen_fd = -1};

	return tp_server_init_worker(out, cfg, &single);
}

int tp_server_init_worker(struct tp_server **out, const struct tp_config *cfg,
			  const struct tp_worker *w)
{
	struct tp_ingest_opts io;
	unsigned char rnd[4];
	int listen_fd = w->listen_fd;
	struct tp_server *srv = tp_calloc(1, sizeof(*srv));

	*out = srv;
	if (!srv) {
		if (listen_fd >= 0)
			close(listen_fd);
		return TP_ERR_NOMEM;
	}
	srv->io.cfg = cfg;
	srv->io.hooks.ready = server_ready;
	srv->io.hooks.ud = srv;
	srv->worker = *w;
	srv->worker.listen_fd = -1; /* the listener owns it from here */
	TP_METRIC_SET(worker, w->id);
	TP_METRIC_SET(worker_pid, getpid());
	TP_METRIC_SET(worker_restarts, w->restarts);
	srv->io.started_at = tp_now();
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memcpy(rnd, &srv->io.started_at, sizeof(rnd));
	snprintf(srv->io.epoch, sizeof(srv->io.epoch), "%02x%02x%02x%02x", rnd[0],
		 rnd[1], rnd[2], rnd[3]);
	signal(SIGPIPE, SIG_IGN);
	tp_json_init();
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	lws_set_allocator(lws_realloc_hook);

	if (uv_loop_init(&srv->io.loop)) {
		if (listen_fd >= 0)
			close(listen_fd);
		tp_free(srv); /* nothing else exists yet */
		*out = NULL;
		return TP_ERR_IO;
	}
	if (!(srv->loopwatch = tp_loopwatch_start(&srv->io.loop, &srv->io.loop_turn)) ||
	    tp_hc_hub_init(&srv->io.http, TP_HTTP_BODY_MAX) || setup_auth(srv))
		goto fail;
	/* The REST routes are ours to choose; http.c only matches them. */
	srv->io.http_ops.routes = tp_routes;
	srv->io.http_ops.routes_count = tp_routes_count;
	srv->io.http_ops.require_user = tp_http_require_user;
	srv->io.http_ops.ws_confirm_upgrade = tp_ws_confirm_upgrade;
	srv->io.http_ops.ws_callback = tp_ws_callback;
	memset(&io, 0, sizeof(io));
	io.max_patterns = (size_t)cfg->max_patterns;
	io.pattern_ttl = cfg->pattern_cache_ttl;
	io.respcache_entries = (size_t)cfg->response_cache_entries;
	io.respcache_ttl = cfg->api_response_cache_ttl;
	io.hooks.on_upsert = hook_upsert;
	io.hooks.on_remove = hook_remove;
	io.hooks.on_reject = hook_reject;
	io.hooks.on_other = hook_other;
	io.sector_of = hook_sector_of;
	io.hooks.ud = srv;
	srv->io.ingest = tp_ingest_create(&io);
	if (!srv->io.ingest || setup_push(srv))
		goto fail;
	if (create_lws(srv))
		goto fail;
	if (listen_fd >= 0) {
		srv->listener = tp_listener_start(&srv->io.loop, srv->io.vhost,
						  listen_fd, may_accept, srv);
		listen_fd = -1;
		if (!srv->listener)
			goto fail;
	}
	TP_LOG(TP_LOG_NOTICE, "msg=\"listening\" url=%s://%s:%d/ epoch=%s",
	       srv->io.tls_ctx ? "https" : "http",
	       strchr(cfg->bind, ':') ? "[::1]" : cfg->bind, srv->port, srv->io.epoch);
	if (write_port_file(srv))
		goto fail;

	uv_timer_init(&srv->io.loop, &srv->sweep_timer);
	srv->sweep_timer.data = srv;
	uv_timer_start(&srv->sweep_timer, sweep_tick, 1000, 1000);
	uv_timer_init(&srv->io.loop, &srv->ws_round_timer);
	srv->ws_round_timer.data = srv;
	uv_timer_init(&srv->io.loop, &srv->drain_timer);
	srv->drain_timer.data = srv;
	uv_signal_init(&srv->io.loop, &srv->sig_term);
	srv->sig_term.data = srv;
	uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
	uv_signal_init(&srv->io.loop, &srv->sig_int);
	srv->sig_int.data = srv;
	uv_signal_start(&srv->sig_int, on_signal, SIGINT);
	tp_reload_init(&srv->io); /* SIGHUP */

	srv->io.rcache = tp_redis_cache_create(&(struct tp_redis_cache_deps){
		.loop = &srv->io.loop, .cfg = &srv->io.cfg, .ingest = srv->io.ingest,
		.producer_changed = producer_changed, .ud = srv,
	});
	if (tp_io_clustered(&srv->io) && !(srv->io.cluster = create_cluster(srv)))
		goto fail_running;
	srv->io.sub = tp_redis_sub_create(&srv->io.loop, cfg, srv->io.ingest,
					  srv->io.cluster);
	if (!srv->io.rcache || !srv->io.sub || setup_database(srv) ||
	    !(srv->io.backtests = tp_backtests_create(&srv->io)))
		goto fail_running;
	return TP_OK;

fail_running:
	/* Handles exist: go through the normal close path. */
	tp_server_stop(srv);
	finish_shutdown(srv);
	tp_server_run(srv);
	tp_server_cleanup(srv);
	*out = NULL;
	return TP_ERR_NOMEM;
fail:
	if (listen_fd >= 0)
		close(listen_fd);
	tp_listener_close(srv->listener);
	srv->listener = NULL;
	if (srv->io.lws) {
		lws_context_destroy(srv->io.lws);
		uv_run(&srv->io.loop, UV_RUN_DEFAULT);
		if (srv->io.lws)
			lws_context_destroy(srv->io.lws);
		uv_run(&srv->io.loop, UV_RUN_DEFAULT);
	}
	if (srv->io.writer)
		tp_writer_close(srv->io.writer);
	tp_loopwatch_close(srv->loopwatch);
	uv_run(&srv->io.loop, UV_RUN_DEFAULT);
	tp_server_cleanup(srv);
	*out = NULL;
	return TP_ERR_IO;
}

int tp_server_run(struct tp_server *srv)
{
	uv_run(&srv->io.loop, UV_RUN_DEFAULT);
	/* lws finishes destroying a context on a foreign loop only when
	 * lws_context_destroy is called again after its handles closed (as
	 * lws's own foreign-loop example does); then let it close the rest. */
	if (srv->io.lws) {
		lws_context_destroy(srv->io.lws);
		uv_run(&srv->io.loop, UV_RUN_DEFAULT);
	}
	return srv->exit_code;
}

int tp_server_cleanup(struct tp_server *srv)
{
	int rc;

	/* Every connection is gone (lws is destroyed): the sessions are too. */
	tp_ws_destroy(&srv->io);
	tp_sharedframe_reset(&srv->io.sse_last);
	tp_push_destroy(srv->io.push);
	srv->io.push = NULL;
	tp_writer_destroy(srv->io.writer);
	srv->io.writer = NULL;
	tp_ingest_destroy(srv->io.ingest);
	srv->io.ingest = NULL;
	tp_hc_hub_cleanup(&srv->io.http);
	tp_ratelimit_destroy(srv->io.login_rl);
	srv->io.login_rl = NULL;
	tp_accounts_destroy(&srv->io);
	OPENSSL_cleanse(srv->io.jwt_dev_key, sizeof(srv->io.jwt_dev_key));
	tp_reload_cleanup(&srv->io);
	rc = uv_loop_close(&srv->io.loop);
	if (rc)
		TP_LOG(TP_LOG_ERR, "msg=\"event loop closed with live handles\" err=%s",
		       tp_log_q(uv_strerror(rc)));
	tp_free(srv);
	return rc ? TP_ERR_IO : TP_OK;
}

struct uv_loop_s *tp_server_loop(struct tp_server *srv)
{
	return &srv->io.loop;
}

struct lws_vhost *tp_server_vhost(struct tp_server *srv)
{
	return srv->io.vhost;
}

unsigned tp_server_http_inflight(const struct tp_server *srv)
{
	return srv->io.http.inflight;
}

