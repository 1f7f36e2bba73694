/*
 * cors.h - which cross-origin callers may read an answer
 * (server/core/cors.c). Pure: the HTTP adapter (server/io/http.c) turns
 * the decision into Access-Control-* headers.
 *
 * The list is cors_origins, or allowed_origins when that is empty: exact
 * origins ("https://dash.example.com"), compared without ASCII case, or
 * "*" alone. An empty list means no cross-origin access at all.
 */
#ifndef TICKPUSH_CORS_H
#define TICKPUSH_CORS_H

#include <stdbool.h>

enum tp_cors {
	TP_CORS_NONE,  /* no Access-Control-Allow-Origin */
	TP_CORS_ANY,   /* "*": any origin, never with credentials */
	TP_CORS_ECHO,  /* the request's own origin, with credentials, Vary */
};

/* The list in force: cors_origins, else allowed_origins (never NULL). */
const char *tp_cors_list(const char *cors_origins, const char *allowed_origins);

/* Is origin one of the comma list's entries (blanks around entries)? */
bool tp_origin_listed(const char *list, const char *origin);

/* The decision for a request carrying Origin origin (NULL or "" = none:
 * not a cross-origin browser call, so no CORS headers). */
enum tp_cors tp_cors_decide(const char *list, const char *origin);

/* Whether answers under list vary by Origin (an exact list: caches must
 * key on it, also for answers that carry no CORS header). */
bool tp_cors_varies(const char *list);

#endif
