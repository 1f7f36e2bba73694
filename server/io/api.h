/*
 * api.h - the REST route handlers (server/io/api_*.c), listed in the route
 * table of http.c.
 */
#ifndef TICKPUSH_IO_API_H
#define TICKPUSH_IO_API_H

#include "http.h"
#include "tickpush/body.h"

struct cJSON;

/* api_body.c: request bodies (tickpush/body.h) with the refusal written
 * into resp (400 naming the field, or 503 out of memory). tp_api_body:
 * TP_OK with *out (caller cJSON_Deletes); tp_api_string: TP_OK with *out
 * borrowed from obj. */
int tp_api_body(const struct tp_http_req *req, struct tp_http_resp *resp,
		struct cJSON **out);
int tp_api_string(const struct cJSON *obj, const char *name, size_t min,
		  size_t max, unsigned flags, const char **out,
		  struct tp_http_resp *resp);

/* api_patterns.c */
tp_http_handler tp_api_patterns_scan;
tp_http_handler tp_api_patterns_stats;
tp_http_handler tp_api_patterns_summary;
tp_http_handler tp_api_patterns_health;

/* api_auth.c */
tp_http_handler tp_api_login;
/* Checks the bearer token (Authorization header or ?token=): signature,
 * expiry, and that its account is not known to be deleted (accounts.h).
 * On success returns TP_OK with *user_id set; otherwise writes a 401 into
 * resp. Synchronous: routes that act for the user confirm the account
 * with tp_api_for_user once they have deferred. */
int tp_http_require_user(const struct tp_http_req *req,
			 struct tp_http_resp *resp, long long *user_id);
/* Continues a deferred request (ticket) once its user's account is known
 * to exist: ready(ud) runs, at once or from a later loop turn. When the
 * account is gone the request is answered 401 "Account no longer exists"
 * (503 when shutting down or out of memory) and dismiss(ud) runs instead,
 * to free what ud owns. Exactly one of them runs. */
void tp_api_for_user(struct tp_io *srv, uint64_t ticket, long long user,
		     void (*ready)(void *ud), void (*dismiss)(void *ud), void *ud);

/* api_users.c (token required) */
tp_http_handler tp_api_watchlists;  /* GET, POST /api/users/watchlists */
tp_http_handler tp_api_watchlist;   /* GET, PUT, DELETE /api/users/watchlists/<id> */
tp_http_handler tp_api_presets;     /* GET, POST /api/users/filter-presets */
tp_http_handler tp_api_preset;      /* GET, PUT, DELETE /api/users/filter-presets/<id> */
/* Re-resolves every followed preset of user (another instance changed
 * one of their presets or watchlists: the wiring's cluster hook). */
void tp_api_users_refollow(struct tp_io *srv, long long user);

/* sse.c: the push fallbacks over plain HTTP */
tp_http_handler tp_api_stream;      /* GET /api/stream (SSE) */
tp_http_handler tp_api_poll;        /* GET /api/patterns/poll (long-poll) */

/* api_ops.c */
tp_http_handler tp_api_health;
tp_http_handler tp_api_discovery_health;
tp_http_handler tp_api_discovery_performance;
tp_http_handler tp_api_metrics;
/* Does the request carry the configured metrics_token? */
bool tp_api_metrics_token_ok(const struct tp_http_req *req);
tp_http_handler tp_api_healthz;
tp_http_handler tp_api_readyz;

/* api_openapi.c: GET /api/openapi.json, docs/openapi.json compiled in */
tp_http_handler tp_api_openapi;

#endif
