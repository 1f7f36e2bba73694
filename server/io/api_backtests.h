/*
 * api_backtests.h - REST handlers for backtest jobs (server/io/api_backtests.c),
 * token required. Registered in the route table of routes.c.
 */
#ifndef TICKPUSH_IO_API_BACKTESTS_H
#define TICKPUSH_IO_API_BACKTESTS_H

#include "http.h"

/* GET (the caller's jobs), POST (submit) /api/backtests */
tp_http_handler tp_api_backtests;
/* GET (one job), DELETE (cancel) /api/backtests/<job_id> (prefix route,
 * subpath = job_id) */
tp_http_handler tp_api_backtest;

#endif
