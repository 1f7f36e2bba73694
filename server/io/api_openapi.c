/*
 * api_openapi.c - GET /api/openapi.json: the OpenAPI 3.1 description of
 * the REST API (docs/openapi.json; docs/rest.md is the prose reference).
 *
 * The document is compiled in: server/CMakeLists.txt turns
 * docs/openapi.json into a C array at build time (server/embed.cmake).
 * Reading it from an installed path instead would mean a file read on the
 * event loop (or a startup read that can fail), a path to configure, and a
 * document that can drift from the binary serving it after an upgrade;
 * compiled in, it is always the one this server implements, and answering
 * is a memory copy. The bytes are served exactly as they are in the
 * repository, so tests can compare them with the file.
 *
 * The route is public like the other reads: it needs no token unless
 * TICKPUSH_REQUIRE_AUTH asks for one everywhere (the same document ships
 * in the repository for tools that cannot sign in).
 */
#include "api.h"

extern const unsigned char tp_openapi_json[];
extern const size_t tp_openapi_json_len;

void tp_api_openapi(const struct tp_http_req *req, struct tp_http_resp *resp)
{
	(void)req;
	resp->content_type = "application/json; charset=utf-8";
	tp_buf_append(resp->body, tp_openapi_json, tp_openapi_json_len);
}
