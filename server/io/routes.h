/*
 * routes.h - the REST route table (server/io/routes.c), as data.
 *
 * The wiring (server.c) hands it to the HTTP layer (tp_http_ops, io.h),
 * so http.c names no handler and decides nothing per handler: which
 * routes stay open under TICKPUSH_REQUIRE_AUTH is a flag in the table.
 */
#ifndef TICKPUSH_IO_ROUTES_H
#define TICKPUSH_IO_ROUTES_H

#include <stddef.h>

#include "http.h"

extern const struct tp_http_route tp_routes[];
extern const size_t tp_routes_count;

#endif
