/*
 * server.h - the server's wiring, shared by the io modules (not a public
 * API: pure modules never see it).
 *
 * One struct tp_server per process holds what main wires together: the
 * libuv loop that everything runs on, the lws context, the ingest pipeline
 * and the Redis clients. Every io module keeps its own state in its own
 * opaque struct and only reaches the others through their functions.
 */
#ifndef TICKPUSH_IO_SERVER_H
#define TICKPUSH_IO_SERVER_H

#include <stdbool.h>

#include <libwebsockets.h>
#include <uv.h>

#include "tickpush/clock.h" /* tp_now, tp_mono: most io files use them */
#include "tickpush/config.h"
#include "tickpush/httpconn.h"
#include "tickpush/netaddr.h"
#include "tickpush/ingest.h"

struct lws_context;
struct lws_vhost;
struct tp_redis_sub;
struct tp_redis_cache;
struct tp_pg;
struct tp_directory;
struct tp_dict;
struct tp_ratelimit;
struct tp_push;
struct tp_ws;
struct tp_writer;
struct sse_conn;
struct poll_conn;
struct tp_backtests;
struct tp_accounts;
struct tp_cluster;
struct ssl_ctx_st;
struct tp_reload_cfg;
struct tp_sniff;
struct tp_listener;
struct tp_loopwatch;

/* Under a supervisor (workers > 1, supervisor.h): which worker this
 * process is and the listening socket it accepts on. */
struct tp_worker {
	unsigned id;        /* 1..N; 0 = a single process (lws listens) */
	unsigned restarts;  /* earlier processes of this slot the supervisor replaced */
	int listen_fd;      /* ours to accept on and close; -1 without */
	int port;           /* the port it listens on (port 0 resolved) */
};

struct tp_http_route;

struct tp_server {
	/* In force: main's until a SIGHUP reload installs another (reload.c;
	 * live options are read through it on each use). */
	const struct tp_config *cfg;
	struct tp_reload_cfg *reloaded; /* configurations reloads installed */
	uv_loop_t loop;
	struct lws_context *lws;
	struct lws_vhost *vhost;
	int port;                     /* bound listen port */
	struct tp_worker worker;      /* id 0: single process */
	struct tp_listener *listener; /* worker's accept loop (listener.c) */
	struct ssl_ctx_st *tls_ctx;   /* the vhost's SSL_CTX (lws owns it), NULL = plain (tls.c) */
	struct tp_sniff *sniffs;      /* connections whose first head is awaited (sniff.c) */

	struct tp_ingest *ingest;
	struct tp_redis_sub *sub;     /* pub/sub consumer */
	struct tp_redis_cache *rcache; /* write-through, warm start, heartbeat */
	struct tp_cluster *cluster;   /* cluster = redis: the shared stream, else NULL */
	struct tp_pg *pg;             /* NULL when DATABASE_URI is unset */
	struct tp_directory *dir;     /* symbols/universes copy, NULL without pg */

	/* Live push: the hub (pure) and its transports. */
	struct tp_push *push;
	struct tp_ws *ws;             /* WebSocket sessions (ws.c) */
	struct tp_writer *writer;     /* push write path (writer.c) */
	struct tp_loopwatch *loopwatch; /* busy time per loop turn */
	struct sse_conn *sse;         /* open SSE streams (sse.c) */
	struct poll_conn *polls;      /* waiting long-polls (poll.c) */
	struct tp_backtests *backtests; /* job owners (backtests.c) */

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
	struct tp_accounts *accounts; /* accounts.c: do token accounts exist */
	/* trusted_proxies, parsed: peers whose X-Forwarded-For is believed
	 * (tp_http_client_addr). */
	struct tp_cidr_list trusted_proxies;

	/* HTTP requests in flight and deferred answers by ticket (http.c
	 * drives the lifecycle, include/tickpush/httpconn.h). */
	struct tp_hc_hub http;
	const struct tp_http_route *routes; /* routes.c, tp_http_set_routes */
	size_t routes_count;
	struct lws_token_limits http_token_limits; /* see create_lws */

	lws_retry_bo_t idle_policy;   /* all zero: lws's validity timer off */
	uv_signal_t sig_term, sig_int, sig_hup; /* sig_hup: reload.c */
	uv_timer_t sweep_timer;       /* pattern expiry */
	uv_timer_t drain_timer;       /* shutdown drain */
	uv_check_t turn_check;        /* counts loop iterations: */
	uint64_t loop_turn;           /* (http.c tells lws's loops from turns) */
	double started_at;
	double shutdown_deadline;
	char epoch[16];               /* changes on every start (stream position) */
	bool stopping;
	/* Events/s over the last minute: accepted-event totals sampled once a
	 * second by the sweep timer into a ring. */
	unsigned long long rate_ring[61];
	unsigned rate_pos;
	double events_per_second;
	int exit_code;
};

int tp_server_init(struct tp_server *srv, const struct tp_config *cfg);
/* The same for worker w of a supervisor: accepts on w->listen_fd (taken
 * over, closed at shutdown or on failure), writes no port file (the
 * supervisor did). */
int tp_server_init_worker(struct tp_server *srv, const struct tp_config *cfg,
			  const struct tp_worker *w);
int tp_server_run(struct tp_server *srv); /* returns the exit code */
/* Frees what init created; returns TP_OK, or TP_ERR_IO when the loop
 * still had live handles (a shutdown bug worth failing tests for). */
int tp_server_cleanup(struct tp_server *srv);
/* Starts a graceful shutdown (idempotent). */
void tp_server_stop(struct tp_server *srv);

/* The producer went online or offline (heartbeat, redis_cache.c): tells
 * "health" subscribers (server.c). */
void tp_server_producer_changed(struct tp_server *srv, bool online,
				double last_heartbeat);
/* Answers every waiting long-poll now (shutdown; poll.c). */
void tp_poll_answer_all(struct tp_server *srv);

/* HTTP (http.c). */
const struct lws_protocols *tp_http_protocols(void);
/* cluster = redis (server/io/cluster.c). */
bool tp_server_clustered(const struct tp_server *srv);
/* Readiness: pub/sub subscribed and the warm start finished. */
bool tp_server_ready(const struct tp_server *srv, const char **why);

#endif
