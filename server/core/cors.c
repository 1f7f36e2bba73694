/*
 * cors.c - the CORS decision (see cors.h).
 *
 * Credentials rule (Fetch standard): "Access-Control-Allow-Origin: *" is
 * ignored by browsers for a request with credentials, and "*" with
 * "Allow-Credentials: true" is refused outright. So "*" never comes with
 * credentials, and an exact list echoes the caller's origin (and allows
 * credentials: EventSource withCredentials, fetch credentials "include").
 * tickpush's own auth is a bearer token in a header or the query, so
 * neither mode needs cookies.
 */
#include <string.h>

#include "tickpush/ascii.h"
#include "tickpush/cors.h"

const char *tp_cors_list(const char *cors_origins, const char *allowed_origins)
{
	if (cors_origins && cors_origins[0])
		return cors_origins;
	return allowed_origins ? allowed_origins : "";
}

bool tp_origin_listed(const char *list, const char *origin)
{
	size_t n = strlen(origin);

	for (const char *p = list; *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		while (len && *p == ' ')
			p++, len--;
		while (len && p[len - 1] == ' ')
			len--;
		if (n && len == n && !tp_ascii_ncasecmp(p, origin, n))
			return true;
		if (!comma)
			break;
		p = comma + 1;
	}
	return false;
}

bool tp_cors_varies(const char *list)
{
	return list[0] && strcmp(list, "*");
}

enum tp_cors tp_cors_decide(const char *list, const char *origin)
{
	if (!origin || !origin[0] || !list[0])
		return TP_CORS_NONE;
	if (!strcmp(list, "*"))
		return TP_CORS_ANY;
	return tp_origin_listed(list, origin) ? TP_CORS_ECHO : TP_CORS_NONE;
}
