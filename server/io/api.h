/*
 * api.h - the REST route handlers (server/io/api_*.c), listed in the route
 * table of http.c.
 */
#ifndef TICKPUSH_IO_API_H
#define TICKPUSH_IO_API_H

#include "http.h"

/* api_patterns.c */
tp_http_handler tp_api_patterns_scan;
tp_http_handler tp_api_patterns_stats;
tp_http_handler tp_api_patterns_summary;
tp_http_handler tp_api_patterns_health;

/* api_auth.c */
tp_http_handler tp_api_login;
/* Checks the bearer token (Authorization header or ?token=). On success
 * returns TP_OK with *user_id set; otherwise writes a 401 into resp. */
int tp_http_require_user(const struct tp_http_req *req,
			 struct tp_http_resp *resp, long long *user_id);

/* api_users.c (token required) */
tp_http_handler tp_api_watchlists;  /* GET, POST /api/users/watchlists */
tp_http_handler tp_api_watchlist;   /* GET, PUT, DELETE /api/users/watchlists/<id> */
tp_http_handler tp_api_presets;     /* GET, POST /api/users/filter-presets */
tp_http_handler tp_api_preset;      /* GET, PUT, DELETE /api/users/filter-presets/<id> */

/* sse.c: the push fallbacks over plain HTTP */
tp_http_handler tp_api_stream;      /* GET /api/stream (SSE) */
tp_http_handler tp_api_poll;        /* GET /api/patterns/poll (long-poll) */

/* api_ops.c */
tp_http_handler tp_api_health;
tp_http_handler tp_api_discovery_health;
tp_http_handler tp_api_discovery_performance;
tp_http_handler tp_api_metrics;
tp_http_handler tp_api_healthz;
tp_http_handler tp_api_readyz;

/* api_openapi.c: GET /api/openapi.json, docs/openapi.json compiled in */
tp_http_handler tp_api_openapi;

#endif
