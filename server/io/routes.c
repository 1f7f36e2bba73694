/*
 * routes.c - the REST route table: path, prefix?, methods, handler, metric,
 * public (open even with TICKPUSH_REQUIRE_AUTH: signing in and the probes
 * an orchestrator calls), and an alternative credential (a check that, when
 * it passes, stands in for a user token: the /metrics bearer token).
 *
 * Data only; server.c hands it to http.c (struct tp_http_ops, io.h), which
 * matches paths in this order. tests/e2e/api/openapi.test.mjs reads this
 * table to check docs/openapi.json, so keep one entry per line.
 */
#include <stdbool.h>
#include <stddef.h>

#include "api.h"
#include "api_backtests.h"
#include "api_symbols.h"
#include "routes.h"
#include "tickpush/err.h"

const struct tp_http_route tp_routes[] = {
	{"/api/patterns/scan", false, TP_HTTP_GET, tp_api_patterns_scan, TP_ROUTE_scan, false, NULL},
	{"/api/patterns/stats", false, TP_HTTP_GET, tp_api_patterns_stats, TP_ROUTE_stats, false, NULL},
	{"/api/patterns/summary", false, TP_HTTP_GET, tp_api_patterns_summary, TP_ROUTE_summary, false, NULL},
	{"/api/patterns/health", false, TP_HTTP_GET, tp_api_patterns_health, TP_ROUTE_patterns_health, false, NULL},
	{"/api/health", false, TP_HTTP_GET, tp_api_health, TP_ROUTE_health, false, NULL},
	{"/api/pattern-discovery/health", false, TP_HTTP_GET, tp_api_discovery_health, TP_ROUTE_discovery_health, false, NULL},
	{"/api/pattern-discovery/performance", false, TP_HTTP_GET, tp_api_discovery_performance, TP_ROUTE_discovery_performance, false, NULL},
	{"/api/auth/login", false, TP_HTTP_POST, tp_api_login, TP_ROUTE_auth, true, NULL},
	{"/api/symbols", false, TP_HTTP_GET, tp_api_symbols, TP_ROUTE_symbols, false, NULL},
	{"/api/symbols/", true, TP_HTTP_GET, tp_api_symbol, TP_ROUTE_symbols, false, NULL},
	{"/api/users/universe", false, TP_HTTP_GET, tp_api_universes, TP_ROUTE_universes, false, NULL},
	{"/api/users/universe/", true, TP_HTTP_GET, tp_api_universe, TP_ROUTE_universes, false, NULL},
	{"/api/dashboard/stats", false, TP_HTTP_GET, tp_api_dashboard_stats, TP_ROUTE_dashboard, false, NULL},
	{"/api/users/watchlists", false, TP_HTTP_GET | TP_HTTP_POST, tp_api_watchlists, TP_ROUTE_watchlists, false, NULL},
	{"/api/users/watchlists/", true, TP_HTTP_GET | TP_HTTP_PUT | TP_HTTP_DELETE, tp_api_watchlist, TP_ROUTE_watchlists, false, NULL},
	{"/api/users/filter-presets", false, TP_HTTP_GET | TP_HTTP_POST, tp_api_presets, TP_ROUTE_presets, false, NULL},
	{"/api/users/filter-presets/", true, TP_HTTP_GET | TP_HTTP_PUT | TP_HTTP_DELETE, tp_api_preset, TP_ROUTE_presets, false, NULL},
	{"/api/backtests", false, TP_HTTP_GET | TP_HTTP_POST, tp_api_backtests, TP_ROUTE_backtests, false, NULL},
	{"/api/backtests/", true, TP_HTTP_GET | TP_HTTP_DELETE, tp_api_backtest, TP_ROUTE_backtests, false, NULL},
	{"/api/stream", false, TP_HTTP_GET, tp_api_stream, TP_ROUTE_stream, false, NULL},
	{"/api/patterns/poll", false, TP_HTTP_GET, tp_api_poll, TP_ROUTE_stream, false, NULL},
	{"/metrics", false, TP_HTTP_GET, tp_api_metrics, TP_ROUTE_metrics, false, tp_api_metrics_token_ok},
	{"/healthz", false, TP_HTTP_GET, tp_api_healthz, TP_ROUTE_probes, true, NULL},
	{"/readyz", false, TP_HTTP_GET, tp_api_readyz, TP_ROUTE_probes, true, NULL},
	{"/api/openapi.json", false, TP_HTTP_GET, tp_api_openapi, TP_ROUTE_static, false, NULL},
};

const size_t tp_routes_count = TP_ARRAY_SIZE(tp_routes);
