/*
 * http.h - what a REST route handler sees (server/io/http.c dispatches).
 *
 * Handlers are plain functions from a parsed request to a response: no lws
 * types, no I/O of their own. They run on the loop and must not block.
 * http.c owns the connection, reads and bounds the body, writes the
 * response from WRITEABLE callbacks and records per-route metrics. It
 * names no handler and no transport: the route table and the WebSocket
 * entry points come from the wiring (io.h, struct tp_http_ops), a
 * stream's from tp_http_stream_start (only that part sees an opaque
 * struct lws).
 */
#ifndef TICKPUSH_IO_HTTP_H
#define TICKPUSH_IO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tickpush/buf.h"
#include "tickpush/metrics.h"
#include "tickpush/query.h"

struct tp_io;

#define TP_HTTP_BODY_MAX (64 * 1024)

enum tp_http_method {
	TP_HTTP_GET = 1u << 0,
	TP_HTTP_POST = 1u << 1,
	TP_HTTP_PUT = 1u << 2,
	TP_HTTP_DELETE = 1u << 3,
	TP_HTTP_OTHER = 1u << 4,
	TP_HTTP_OPTIONS = 1u << 5,    /* CORS preflight, answered by http.c */
};

struct tp_http_req {
	struct tp_io *srv;
	unsigned method;              /* one enum tp_http_method bit */
	const char *path;             /* decoded path, starts with '/' */
	const char *subpath;          /* what follows a prefix route's path */
	const struct tp_query *query; /* decoded URL arguments */
	const char *body;             /* NUL-terminated copy, may be NULL */
	size_t body_len;
	double now;                   /* wall clock at dispatch */
	char peer[64];                /* client address (rate limits, logs) */
	double mono_start;            /* monotonic start, for response_time */
	void *conn;                   /* opaque, for tp_http_req_header */
};

struct tp_http_resp {
	int status;                   /* 0 after tp_http_defer: answer comes later */
	const char *content_type;     /* default application/json */
	struct tp_buf *body;          /* handler appends here */
	const char *allow;            /* Allow header for 405 */
	int retry_after;              /* seconds, 0 = none */
};

typedef void tp_http_handler(const struct tp_http_req *req,
			     struct tp_http_resp *resp);

/* One REST route (the table is server/io/routes.c; the wiring hands it
 * over in struct tp_http_ops, which http.c matches in order). */
struct tp_http_route {
	const char *path;
	bool prefix;                  /* path is a prefix ending in '/' */
	unsigned methods;             /* enum tp_http_method bits */
	tp_http_handler *handler;
	enum tp_route metric;
	bool public;                  /* open even with TICKPUSH_REQUIRE_AUTH */
	/* NULL, or a credential other than a user token that, when it
	 * passes, opens the route under TICKPUSH_REQUIRE_AUTH. */
	bool (*alt_auth)(const struct tp_http_req *req);
};

/* The lws protocol table (one protocol: HTTP, SSE and WebSocket), for
 * the wiring's lws context. */
struct lws_protocols;
const struct lws_protocols *tp_http_protocols(void);
/* May a new connection be accepted? Up to max_connections for anyone,
 * then TP_HTTP_OPS_RESERVE more for operators: on those only the probes
 * and /metrics are served, anything else (REST, files, SSE, WebSocket)
 * gets a 503 that says the server is full, so a full server can still be
 * probed and scraped. Counts and logs a refusal. lws's listener asks
 * through FILTER_NETWORK_CONNECTION, a worker's own listener
 * (listener.c) directly. */
#define TP_HTTP_OPS_RESERVE 16
bool tp_http_may_accept(struct tp_io *srv);
/* Must this request on wsi be refused because the server is full? True
 * (and counted in connections_refused) when its connection is one of the
 * operators' reserve and the server is still full; the caller answers 503
 * TP_HTTP_FULL_MSG. Call it only for requests that are not probes or
 * /metrics. A reserve connection whose request finds room again becomes
 * an ordinary connection. */
struct lws;
bool tp_http_refuse_full(struct lws *wsi);
/* The 503 message for requests refused because of max_connections. */
#define TP_HTTP_FULL_MSG "Server full: max_connections reached, try again later"
/* One line of lws's log: true when it says why lws gave up on a request
 * head (http.c answers that head and logs it; the line is only debug). */
bool tp_http_lws_log(const char *line);

/* Copies request header `name` (lower-case, with trailing ':', e.g.
 * "authorization:") into buf; returns its length or -1 if absent/too long. */
int tp_http_req_header(const struct tp_http_req *req, const char *name,
		       char *buf, size_t len);

/* Sets status and writes {"error":msg <, extra>} where extra is either NULL
 * or a JSON fragment of further members ("\"patterns\":[]"). */
void tp_http_error(struct tp_http_resp *resp, int status, const char *msg,
		   const char *field, const char *extra);

/* Milliseconds since the request started (for "performance" members). */
double tp_http_elapsed_ms(const struct tp_http_req *req);

/*
 * Deferred responses, for handlers that must wait for the database or the
 * threadpool. The handler calls tp_http_defer, copies whatever it needs
 * from req (req dies when the handler returns), starts its async work and
 * returns. Later, on the loop thread, tp_http_complete delivers the answer
 * by ticket. If the client has gone meanwhile the answer is dropped: async
 * completions never hold a connection pointer, only the ticket.
 */
uint64_t tp_http_defer(const struct tp_http_req *req,
		       struct tp_http_resp *resp);
/* Sends status + body (body is moved out of *body and *body reset). Returns
 * false when the connection is gone. */
bool tp_http_complete(struct tp_io *srv, uint64_t ticket, int status,
		      struct tp_buf *body);
/* What http.c calls on a stream's connection (sse.c): attach once it
 * started, writeable on each WRITEABLE (lws's return value), closed when
 * the connection goes. */
struct lws;
struct tp_http_stream_ops {
	void (*attach)(void *conn, struct lws *wsi);
	int (*writeable)(void *conn, struct lws *wsi);
	void (*closed)(void *conn);
};
/* Turns a deferred request into a never-ending stream (SSE): headers go
 * out without a length, then conn's frames as ops->writeable produces
 * them; when the connection closes, ops->closed(conn) runs. Returns
 * false (and does nothing) when the client is gone. */
bool tp_http_stream_start(struct tp_io *srv, uint64_t ticket, void *conn,
			  const struct tp_http_stream_ops *ops);

/* Convenience: complete with {"error": msg, "field"?: field}. */
bool tp_http_complete_error(struct tp_io *srv, uint64_t ticket, int status,
			    const char *msg, const char *field);

#endif
