/*
 * it_cluster.c - multi-instance test helpers (see it_cluster.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "it_cluster.h"
#include "test_support.h"

static unsigned long long published;

void itc_share_redis(struct it_env *e, const struct it_env *redis)
{
	snprintf(e->redis_sock, sizeof(e->redis_sock), "%s", redis->redis_sock);
}

void itc_start(struct it_env *e, const char *const *extra)
{
	const char *env[24];
	size_t n = 0;

	env[n++] = "TICKPUSH_CLUSTER=redis";
	env[n++] = "TICKPUSH_HEARTBEAT_INTERVAL=1";
	for (size_t i = 0; extra && extra[i] && n < 22; i++)
		env[n++] = extra[i];
	env[n] = NULL;
	it_server_start(e, env, true);
}

void itc_publish(const struct it_env *redis, const char *sym, char *id_out,
		 size_t id_n)
{
	char ev[512];
	double ts = (double)time(NULL) - 100000 + (double)(++published);

	snprintf(ev, sizeof(ev), "{\"event_type\":\"pattern_detected\",\"data\":{\"symbol\":\"%s\","
		 "\"pattern\":\"Doji\",\"confidence\":0.9,\"timestamp\":%.0f,\"expires_at\":%.0f}}",
		 sym, ts, (double)time(NULL) + 3600);
	if (it_publish(redis, "tickstock.events.patterns", ev) < 1)
		fail_msg("nobody subscribed to the pattern channel");
	if (id_out)
		snprintf(id_out, id_n, "%s:Doji:%.0f", sym, ts);
}

void itc_open(struct itc_session *s, int port, const char *query)
{
	char path[256];
	cJSON *hello;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "/ws%s", query ? query : "");
	if (it_ws_connect(&s->ws, port, path, NULL, 0))
		fail_msg("ws connect to %d: %d %s", port, s->ws.http_status,
			 s->ws.http_body);
	hello = it_ws_wait_type(&s->ws, "hello", 10);
	if (!hello)
		fail_msg("no hello from %d", port);
	snprintf(s->epoch, sizeof(s->epoch), "%s", it_json_str(hello, "epoch"));
	s->seq = (unsigned long long)it_json_num(hello, "seq");
	cJSON_Delete(hello);
}

/* Records one frame; returns true for an event frame. */
static bool record(struct itc_session *s, const cJSON *j)
{
	const char *type = it_json_str(j, "type");
	struct itc_frame *f;

	if (!strcmp(type, "subscribed")) {
		snprintf(s->epoch, sizeof(s->epoch), "%s", it_json_str(j, "epoch"));
		s->recovered = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "recovered"));
		return false;
	}
	if (!strcmp(type, "gap")) {
		s->gaps++;
		snprintf(s->epoch, sizeof(s->epoch), "%s", it_json_str(j, "epoch"));
		s->seq = (unsigned long long)it_json_num(j, "seq");
		return false;
	}
	if (strcmp(type, "pattern") && strcmp(type, "pattern_removed"))
		return false;
	if (s->n >= ITC_MAX_FRAMES)
		fail_msg("too many frames");
	f = &s->frames[s->n++];
	snprintf(f->type, sizeof(f->type), "%s", type);
	f->seq = (unsigned long long)it_json_num(j, "seq");
	if (!strcmp(type, "pattern"))
		snprintf(f->id, sizeof(f->id), "%s",
			 it_json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "id"));
	else
		snprintf(f->id, sizeof(f->id), "%s", it_json_str(j, "id"));
	s->seq = f->seq;
	return true;
}

void itc_subscribe(struct itc_session *s, const char *sym, bool with_since,
		   const char *epoch, unsigned long long since_seq)
{
	char frame[512], since[160] = "";
	cJSON *j;

	if (with_since)
		snprintf(since, sizeof(since), ",\"since\":{\"epoch\":\"%s\",\"seq\":%llu}",
			 epoch, since_seq);
	snprintf(frame, sizeof(frame), "{\"op\":\"subscribe\",\"id\":\"s1\",\"channel\":\"patterns\","
		 "\"filter\":{\"symbols\":[\"%s\"],\"confidence_min\":0}%s}", sym, since);
	if (it_ws_send_text(&s->ws, frame))
		fail_msg("subscribe: send failed");
	while ((j = it_ws_recv_json(&s->ws, 10))) {
		bool done = !strcmp(it_json_str(j, "type"), "subscribed");

		if (!strcmp(it_json_str(j, "type"), "error"))
			fail_msg("subscribe: %s", it_json_str(j, "message"));
		record(s, j);
		cJSON_Delete(j);
		if (done)
			return;
	}
	fail_msg("subscribe: no answer");
}

size_t itc_collect(struct itc_session *s, double quiet)
{
	size_t added = 0;
	cJSON *j;

	while ((j = it_ws_recv_json(&s->ws, quiet))) {
		added += record(s, j);
		cJSON_Delete(j);
	}
	return added;
}

bool itc_wait_frames(struct itc_session *s, size_t n, double timeout)
{
	double end = it_now() + timeout;
	cJSON *j;

	while (s->n < n && it_now() < end) {
		if (!(j = it_ws_recv_json(&s->ws, end - it_now())))
			break;
		record(s, j);
		cJSON_Delete(j);
	}
	return s->n >= n;
}

void itc_close(struct itc_session *s)
{
	it_ws_close(&s->ws);
}

int itc_scan_position(int port, const char *sym, char *epoch, size_t epoch_n,
		      unsigned long long *seq)
{
	char path[160];
	cJSON *j, *stream;
	int n;

	snprintf(path, sizeof(path), "/api/patterns/scan?symbols=%s&confidence_min=0", sym);
	j = it_get_json(port, path, 200);
	stream = cJSON_GetObjectItemCaseSensitive(j, "stream");
	snprintf(epoch, epoch_n, "%s", it_json_str(stream, "epoch"));
	*seq = (unsigned long long)it_json_num(stream, "seq");
	n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "patterns"));
	cJSON_Delete(j);
	return n;
}
