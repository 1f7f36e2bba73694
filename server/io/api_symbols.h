/*
 * api_symbols.h - REST handlers for symbols, universes and the dashboard
 * (server/io/api_symbols.c), answered from the in-process directory copy
 * (directory.h). Registered in the route table of routes.c.
 */
#ifndef TICKPUSH_IO_API_SYMBOLS_H
#define TICKPUSH_IO_API_SYMBOLS_H

#include "http.h"

/* GET /api/symbols?market=&search=&limit= */
tp_http_handler tp_api_symbols;
/* GET /api/symbols/<symbol> (prefix route, subpath = symbol) */
tp_http_handler tp_api_symbol;
/* GET /api/users/universe */
tp_http_handler tp_api_universes;
/* GET /api/users/universe/<key> (prefix route, subpath = key) */
tp_http_handler tp_api_universe;
/* GET /api/dashboard/stats */
tp_http_handler tp_api_dashboard_stats;

#endif
