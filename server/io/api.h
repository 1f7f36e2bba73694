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

/* api_ops.c */
tp_http_handler tp_api_health;
tp_http_handler tp_api_discovery_health;
tp_http_handler tp_api_discovery_performance;
tp_http_handler tp_api_metrics;
tp_http_handler tp_api_healthz;
tp_http_handler tp_api_readyz;

#endif
