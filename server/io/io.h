/*
 * io.h - the context the wiring (server.c) hands to the io modules above
 * the clients at init (the HTTP layer, handlers, transports, accounts,
 * backtests, reload): what they share, and the hooks through which they
 * call upward. The clients below (pg, directory, writer, the Redis
 * clients, cluster) take explicit dependencies instead.
 *
 * One struct tp_io per process, embedded in server.c's private struct
 * tp_server (its timers, signals, shutdown and rate sampling stay there).
 * Modules keep it as `srv` and reach each other through the handles below
 * and the functions of the handle's module; each handle is created and
 * destroyed by the wiring, and written by no one else (the exceptions are
 * marked: a field one module owns outright).
 *
 * Calls that go up, to the wiring, are hooks: a function pointer and user
 * data the wiring registers before any module starts (as the push hub's
 * transport send is), so no io module includes the wiring header
 * (tools/check-layers fails if one does).
 */
#ifndef TICKPUSH_IO_IO_H
#define TICKPUSH_IO_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <uv.h>

#include "tickpush/config.h"
#include "tickpush/httpconn.h"
#include "tickpush/ingest.h"
#include "tickpush/netaddr.h"
#include "tickpush/sharedframe.h"

struct lws;
struct lws_context;
struct lws_vhost;
struct ssl_ctx_st;
struct tp_accounts;
struct tp_backtests;
struct tp_cluster;
struct tp_directory;
struct tp_http_route;
struct tp_http_req;
struct tp_http_resp;
struct tp_pg;
struct tp_push;
struct tp_ratelimit;
struct tp_redis_cache;
struct tp_redis_sub;
struct tp_reload_cfg;
struct tp_sniff;
struct tp_writer;
struct tp_ws;
struct sse_conn;
struct poll_conn;

/* Upward calls, registered by the wiring (ud is its own). */
struct tp_io_hooks {
	/* Readiness (/readyz, api_ops.c): pub/sub subscribed, warm start
	 * and cluster catch-up done, not stopping; *why says which. */
	bool (*ready)(void *ud, const char **why);
	void *ud;
};

/* What the HTTP layer calls outside itself (http.c), registered by the
 * wiring: the route table (routes.c, with its `public` flag), the token
 * check, and the WebSocket transport that shares its lws protocol. */
struct tp_http_ops {
	const struct tp_http_route *routes; /* matched in order */
	size_t routes_count;
	/* Checks a user token (TICKPUSH_REQUIRE_AUTH on non-public routes):
	 * 0 with *user set, else it wrote a 401 into resp. */
	int (*require_user)(const struct tp_http_req *req,
			    struct tp_http_resp *resp, long long *user);
	/* WebSocket (ws.c): the upgrade gate and the lws reasons of a
	 * session; slot is the connection's storage for its pointer. */
	int (*ws_confirm_upgrade)(struct lws *wsi);
	int (*ws_callback)(struct lws *wsi, int reason, void **slot, void *in,
			   size_t len);
};

struct tp_io {
	/* In force: main's until a SIGHUP reload installs another (reload.c
	 * writes both; live options are read through it on each use). */
	const struct tp_config *cfg;
	struct tp_reload_cfg *reloaded;
	uv_loop_t loop;
	struct lws_context *lws;
	struct lws_vhost *vhost;
	struct ssl_ctx_st *tls_ctx;   /* the vhost's SSL_CTX (lws owns it), NULL = plain: tls.c's */
	char epoch[16];               /* changes on every start (stream position) */
	double started_at;
	bool stopping;                /* a graceful shutdown has begun */
	double events_per_second;     /* over the last minute (server.c samples it) */
	uint64_t loop_turn;           /* loop iterations, counted by loopwatch.c (http.c tells lws's loops from turns) */
	struct tp_io_hooks hooks;

	/* The modules. */
	struct tp_ingest *ingest;
	struct tp_redis_sub *sub;     /* pub/sub consumer */
	struct tp_redis_cache *rcache; /* write-through, warm start, heartbeat */
	struct tp_cluster *cluster;   /* cluster = redis: the shared stream, else NULL */
	struct tp_pg *pg;             /* NULL when DATABASE_URI is unset */
	struct tp_directory *dir;     /* symbols/universes copy, NULL without pg */
	struct tp_backtests *backtests; /* job owners (backtests.c) */
	struct tp_accounts *accounts; /* accounts.c: do token accounts exist */

	/* Live push: the hub (pure) and its transports. */
	struct tp_push *push;
	struct tp_ws *ws;             /* WebSocket sessions: ws.c's */
	struct tp_writer *writer;     /* push write path (writer.c) */
	struct sse_conn *sse;         /* open SSE streams: sse.c's */
	struct tp_sharedframe sse_last; /* sse.c: the last event, for sharing */
	struct poll_conn *polls;      /* waiting long-polls: longpoll.c's */

	/* HTTP: requests in flight and deferred answers by ticket (http.c
	 * drives the lifecycle, tickpush/httpconn.h), what it calls. */
	struct tp_hc_hub http;
	struct tp_http_ops http_ops;
	struct tp_sniff *sniffs;      /* connections whose first head is awaited: sniff.c's */

	/* Auth: HS256 key (config or, in dev mode, random) and the login
	 * rate limiter per client address. */
	const unsigned char *jwt_key; /* cfg->jwt_secret or jwt_dev_key */
	size_t jwt_key_len;           /* 0 = no secret: tokens cannot be verified */
	unsigned char jwt_dev_key[32];
	/* The secret a reload replaced, accepted until jwt_prev_until
	 * (reload.c, tp_token_verify). */
	unsigned char *jwt_prev_key;
	size_t jwt_prev_len;
	double jwt_prev_until;
	struct tp_ratelimit *login_rl;
	/* trusted_proxies, parsed: peers whose X-Forwarded-For is believed
	 * (http.c). */
	struct tp_cidr_list trusted_proxies;
	uv_signal_t sig_hup;          /* reload.c's */
};

/* cluster = redis (server/io/cluster.c). */
static inline bool tp_io_clustered(const struct tp_io *srv)
{
	return srv->cfg->cluster && !strcmp(srv->cfg->cluster, "redis");
}

#endif
