/*
 * api_body.c - JSON request bodies for the route handlers: tp_body_parse
 * and tp_body_string (protocol/body.c) with their refusals written into
 * the response, so every route answers bad text the same way: 400 with
 * the message and the member as "field", 503 when out of memory.
 */
#include <cjson/cJSON.h>

#include "api.h"
#include "tickpush/metrics.h"

static void refuse(struct tp_http_resp *resp, const struct tp_body_error *e)
{
	TP_METRIC_INC(http_bad_bodies);
	tp_http_error(resp, 400, e->msg, e->field[0] ? e->field : NULL, NULL);
}

int tp_api_body(const struct tp_http_req *req, struct tp_http_resp *resp,
		cJSON **out)
{
	struct tp_body_error e;
	int rc = tp_body_parse(req->body, req->body ? req->body_len : 0, out, &e);

	if (rc == TP_ERR_NOMEM) {
		tp_http_error(resp, 503, "Out of memory", NULL, NULL);
		resp->retry_after = 1;
	} else if (rc) {
		refuse(resp, &e);
	}
	return rc;
}

int tp_api_string(const cJSON *obj, const char *name, size_t min, size_t max,
		  unsigned flags, const char **out, struct tp_http_resp *resp)
{
	struct tp_body_error e;
	int rc = tp_body_string(obj, name, min, max, flags, out, &e);

	if (rc)
		refuse(resp, &e);
	return rc;
}
