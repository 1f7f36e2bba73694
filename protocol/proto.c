/*
 * proto.c - the WebSocket protocol v1 as a pure codec (see proto.h and
 * docs/protocol.md, the client authors' reference).
 *
 * Responsibilities: turn one client text frame into a struct
 * tp_client_frame, or TP_ERR_PROTO with a message that names the offending
 * field (the server puts it in a bad_request error frame as is); render
 * every server frame as one compact JSON object.
 *
 * Parsing is strict on purpose, so client bugs show up on the first try:
 * - the bytes are checked before cJSON sees them (tp_json_text_check, as
 *   for REST bodies): valid UTF-8 (no overlongs or surrogates), no raw
 *   control characters, no "\u0000" escape (cJSON would cut the string
 *   there and we would act on a prefix); the message names the member;
 * - exactly one JSON object, nothing but whitespace after it;
 * - every member must be known for the op, and appear once (cJSON keeps
 *   duplicates and its getters return the first: refusing them removes the
 *   ambiguity);
 * - numbers are read from valuedouble and must be integral and in range;
 * - a JSON null counts as "absent" for optional members (what JavaScript
 *   and Python clients send for "no value"), never for required ones.
 * The inline filter goes through tp_filter_from_json, the same validator
 * as saved presets and scan parameters, so a value is refused with the same
 * words everywhere; its messages get the prefix "filter.".
 *
 * Invariants: after a failed parse *out owns nothing (and is in its
 * initial state); err->msg is always printable ASCII or text that came
 * through the UTF-8 check (client text is quoted through excerpt(), which
 * keeps only printable ASCII). Rendered frames are valid JSON as long as
 * the caller's data_json/rows are (inserted verbatim).
 *
 * Ownership: the cJSON tree lives only inside tp_proto_parse (allocated
 * through tp_malloc via tp_json_init, so leak checks and failure injection
 * cover it). The frame owns its filter arrays, ping_t and token;
 * tp_client_frame_cleanup frees them.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/proto.h"
#include "text.h"

/* Longest token accepted by the auth op (a JWT is a few hundred bytes). */
#define TOKEN_MAX 4096
/* Largest integer a JSON number (a double) carries exactly: 2^53. */
#define JSON_INT_MAX 9007199254740992.0

const char *tp_sub_channel_name(enum tp_sub_channel c)
{
	switch (c) {
	case TP_SUBCH_PATTERNS: return "patterns";
	case TP_SUBCH_BACKTESTS: return "backtests";
	case TP_SUBCH_HEALTH: return "health";
	}
	return "unknown";
}

const char *tp_proto_code_name(enum tp_proto_code c)
{
	switch (c) {
	case TP_CODE_BAD_REQUEST: return "bad_request";
	case TP_CODE_UNAUTHORIZED: return "unauthorized";
	case TP_CODE_NOT_FOUND: return "not_found";
	case TP_CODE_LIMIT: return "limit";
	case TP_CODE_RATE_LIMITED: return "rate_limited";
	}
	return "bad_request";
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static int bad(struct tp_errdetail *err, const char *field, const char *fmt,
	       ...) __attribute__((format(printf, 3, 4)));

static int bad(struct tp_errdetail *err, const char *field, const char *fmt,
	       ...)
{
	va_list ap;

	if (!err)
		return TP_ERR_PROTO;
	err->field = field;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return TP_ERR_PROTO;
}

static int nomem(struct tp_errdetail *err)
{
	return tp_errdetail_set(err, TP_ERR_NOMEM, NULL, "out of memory");
}

/* A short, printable-ASCII excerpt of client text for error messages. */
static const char *excerpt(char out[32], const char *s)
{
	size_t n = strlen(s), k = n < 24 ? n : 24, i;

	for (i = 0; i < k; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
				 ? '?' : (char)c;
	}
	if (k < n) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* 1..max bytes of UTF-8 (checked already) without control characters. */
static bool text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n >= 1 && n <= max && tp_utf8_printable(s, n);
}

/* An integral JSON number in [min,max] (max at most 2^53). */
static bool int_in(const cJSON *it, double min, double max, double *out)
{
	double v;

	if (!cJSON_IsNumber(it))
		return false;
	v = it->valuedouble;
	if (!isfinite(v) || v != floor(v) || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Present and not null. */
static bool given(const cJSON *it)
{
	return it && !cJSON_IsNull(it);
}

/* ------------------------------------------------------------------ */
/* Members                                                              */

/* Members each op accepts ("op" included). At most 32 per op. */
static const char *const subscribe_keys[] = {
	"op", "id", "channel", "preset_id", "filter", "since", "snapshot",
	"limit", NULL,
};
static const char *const unsubscribe_keys[] = {"op", "id", NULL};
static const char *const ping_keys[] = {"op", "t", NULL};
static const char *const auth_keys[] = {"op", "token", NULL};

static const struct {
	const char *name;
	enum tp_op op;
	const char *const *keys;
} ops[] = {
	{"subscribe", TP_OP_SUBSCRIBE, subscribe_keys},
	{"unsubscribe", TP_OP_UNSUBSCRIBE, unsubscribe_keys},
	{"ping", TP_OP_PING, ping_keys},
	{"auth", TP_OP_AUTH, auth_keys},
};

/* Every member of obj must be in keys (NULL-terminated), once. what names
 * the object in messages; fields[i] is how keys[i] is named in errors. */
static int check_members(const cJSON *obj, const char *const *keys,
			 const char *const *fields, const char *what,
			 struct tp_errdetail *err)
{
	unsigned long seen = 0;
	char ex[32];

	for (const cJSON *it = obj->child; it; it = it->next) {
		const char *key = it->string ? it->string : "";
		size_t i;

		for (i = 0; keys[i]; i++)
			if (!strcmp(key, keys[i]))
				break;
		if (!keys[i])
			return bad(err, NULL, "%s: unknown member of %s",
				   excerpt(ex, key), what);
		if (seen & (1ul << i))
			return bad(err, fields[i], "%s: given more than once",
				   fields[i]);
		seen |= 1ul << i;
	}
	return TP_OK;
}

static int read_id(const cJSON *root, char out[TP_SUB_ID_MAX + 1],
		   struct tp_errdetail *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, "id");

	if (!given(it))
		return bad(err, "id", "id: required");
	if (!cJSON_IsString(it) || !text_ok(it->valuestring, TP_SUB_ID_MAX))
		return bad(err, "id",
			   "id: must be a string of 1..%d characters without control characters",
			   TP_SUB_ID_MAX);
	memcpy(out, it->valuestring, strlen(it->valuestring) + 1);
	return TP_OK;
}

static int read_channel(const cJSON *root, enum tp_sub_channel *out,
			struct tp_errdetail *err)
{
	static const enum tp_sub_channel all[] = {
		TP_SUBCH_PATTERNS, TP_SUBCH_BACKTESTS, TP_SUBCH_HEALTH,
	};
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, "channel");
	char ex[32];

	if (!given(it))
		return bad(err, "channel", "channel: required");
	if (!cJSON_IsString(it))
		return bad(err, "channel",
			   "channel: must be one of patterns, backtests, health");
	for (size_t i = 0; i < TP_ARRAY_SIZE(all); i++) {
		if (!strcmp(it->valuestring, tp_sub_channel_name(all[i]))) {
			*out = all[i];
			return TP_OK;
		}
	}
	return bad(err, "channel",
		   "channel: unknown channel \"%s\" (patterns, backtests, health)",
		   excerpt(ex, it->valuestring));
}

static int read_since(const cJSON *it, struct tp_client_frame *out,
		      struct tp_errdetail *err)
{
	static const char *const keys[] = {"epoch", "seq", NULL};
	static const char *const fields[] = {"since.epoch", "since.seq", NULL};
	const cJSON *epoch, *seq;
	double v;
	int rc;

	if (!cJSON_IsObject(it))
		return bad(err, "since",
			   "since: must be an object {\"epoch\":\"...\",\"seq\":N}");
	rc = check_members(it, keys, fields, "since", err);
	if (rc)
		return rc;
	epoch = cJSON_GetObjectItemCaseSensitive(it, "epoch");
	seq = cJSON_GetObjectItemCaseSensitive(it, "seq");
	if (!given(epoch))
		return bad(err, "since.epoch", "since.epoch: required");
	if (!cJSON_IsString(epoch) || !text_ok(epoch->valuestring, TP_EPOCH_MAX))
		return bad(err, "since.epoch",
			   "since.epoch: must be a string of 1..%d characters",
			   TP_EPOCH_MAX);
	if (!given(seq))
		return bad(err, "since.seq", "since.seq: required");
	if (!int_in(seq, 0, JSON_INT_MAX, &v))
		return bad(err, "since.seq",
			   "since.seq: must be an integer in 0..9007199254740992");
	memcpy(out->since_epoch, epoch->valuestring,
	       strlen(epoch->valuestring) + 1);
	out->since_seq = (uint64_t)v;
	out->has_since = true;
	return TP_OK;
}

static int read_filter(const cJSON *it, struct tp_client_frame *out,
		       struct tp_errdetail *err)
{
	struct tp_errdetail ferr = {.msg = "", .field = NULL};
	int rc;

	if (!cJSON_IsObject(it))
		return bad(err, "filter", "filter: must be a JSON object");
	/* from_json re-initialises out->filter and out->refs. */
	rc = tp_filter_from_json(&out->filter, it, &out->refs, &ferr);
	if (rc == TP_ERR_NOMEM)
		return nomem(err);
	if (rc)
		return bad(err, ferr.field, "filter.%s", ferr.msg);
	out->has_filter = true;
	return TP_OK;
}

static int parse_subscribe(const cJSON *root, struct tp_client_frame *out,
			   struct tp_errdetail *err)
{
	const cJSON *preset = cJSON_GetObjectItemCaseSensitive(root, "preset_id");
	const cJSON *filter = cJSON_GetObjectItemCaseSensitive(root, "filter");
	const cJSON *since = cJSON_GetObjectItemCaseSensitive(root, "since");
	const cJSON *snap = cJSON_GetObjectItemCaseSensitive(root, "snapshot");
	const cJSON *limit = cJSON_GetObjectItemCaseSensitive(root, "limit");
	double v;
	int rc;

	rc = read_id(root, out->id, err);
	if (!rc)
		rc = read_channel(root, &out->channel, err);
	if (rc)
		return rc;
	if (out->channel != TP_SUBCH_PATTERNS) {
		/* Members that only select or load patterns. */
		const char *only[] = {"preset_id", "filter", "snapshot", "limit"};
		const cJSON *its[] = {preset, filter, snap, limit};

		for (size_t i = 0; i < TP_ARRAY_SIZE(its); i++)
			if (given(its[i]))
				return bad(err, only[i],
					   "%s: only allowed on the patterns channel",
					   only[i]);
	}
	if (given(preset) && given(filter))
		return bad(err, "filter",
			   "filter: not allowed together with preset_id");
	if (given(preset)) {
		if (!int_in(preset, 1, JSON_INT_MAX, &v))
			return bad(err, "preset_id",
				   "preset_id: must be a positive integer");
		out->preset_id = (long long)v;
	}
	if (given(filter)) {
		rc = read_filter(filter, out, err);
		if (rc)
			return rc;
	}
	if (given(since)) {
		rc = read_since(since, out, err);
		if (rc)
			return rc;
	}
	if (given(snap)) {
		if (!cJSON_IsBool(snap))
			return bad(err, "snapshot",
				   "snapshot: must be true or false");
		out->snapshot = cJSON_IsTrue(snap);
	}
	if (given(limit)) {
		if (!int_in(limit, 1, TP_SNAPSHOT_LIMIT_MAX, &v))
			return bad(err, "limit",
				   "limit: must be an integer in 1..%d",
				   TP_SNAPSHOT_LIMIT_MAX);
		out->limit = (unsigned)v;
	}
	return TP_OK;
}

static int parse_ping(const cJSON *root, struct tp_client_frame *out,
		      struct tp_errdetail *err)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "t");
	struct tp_buf b;

	if (!t) /* "t":null is echoed as null */
		return TP_OK;
	tp_buf_init(&b, 0);
	tp_json_put(&b, t);
	if (!b.oom)
		out->ping_t = tp_strndup(tp_buf_cstr(&b), b.len);
	tp_buf_cleanup(&b);
	return out->ping_t ? TP_OK : nomem(err);
}

static int parse_auth(const cJSON *root, struct tp_client_frame *out,
		      struct tp_errdetail *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, "token");

	if (!given(it))
		return bad(err, "token", "token: required");
	if (!cJSON_IsString(it) || !text_ok(it->valuestring, TOKEN_MAX))
		return bad(err, "token",
			   "token: must be a string of 1..%d characters without control characters",
			   TOKEN_MAX);
	out->token = tp_strdup(it->valuestring);
	return out->token ? TP_OK : nomem(err);
}

/* ------------------------------------------------------------------ */
/* Parsing                                                              */

static void frame_init(struct tp_client_frame *f)
{
	memset(f, 0, sizeof(*f));
	tp_filter_init(&f->filter);
	f->limit = TP_SNAPSHOT_LIMIT_DEFAULT;
}

void tp_client_frame_cleanup(struct tp_client_frame *f)
{
	if (!f)
		return;
	tp_filter_cleanup(&f->filter);
	tp_free(f->ping_t);
	tp_free(f->token);
	frame_init(f);
}

/* buf as exactly one JSON object (whitespace around it allowed). */
static int parse_root(const char *buf, size_t len, size_t max_len,
		      cJSON **out, struct tp_errdetail *err)
{
	struct tp_json_failure f;
	const struct tp_json_text_issue *is = &f.text;
	int rc;

	if (len > max_len) {
		*out = NULL;
		return bad(err, NULL,
			   "frame too large: %zu bytes, over the %zu byte limit",
			   len, max_len);
	}
	rc = tp_json_object_parse(buf, len, out, &f);
	if (rc == TP_ERR_NOMEM)
		return nomem(err);
	if (rc == TP_OK)
		return TP_OK;
	switch (f.why) {
	case TP_JSON_EMPTY:
		return bad(err, NULL, "not valid JSON: empty frame");
	case TP_JSON_TEXT:
		if (!is->path[0])
			return bad(err, NULL, "not valid JSON: %s (%sbyte %zu)", is->why,
				   is->in_name ? "member name, " : "", is->at);
		return bad(err, NULL, "not valid JSON: %s (%s %s, byte %zu)", is->why,
			   is->in_name ? "member name in" : "member", is->path, is->at);
	case TP_JSON_SYNTAX:
		return bad(err, NULL, "not valid JSON (near byte %zu)", f.at);
	case TP_JSON_TRAILING:
		return bad(err, NULL, "not valid JSON: data after the object (byte %zu)",
			   f.at);
	case TP_JSON_NOT_OBJECT:
		break;
	}
	return bad(err, NULL, "frame must be a JSON object");
}

int tp_proto_parse(const char *buf, size_t len, size_t max_len,
		   struct tp_client_frame *out, struct tp_errdetail *err)
{
	cJSON *root = NULL;
	const cJSON *op;
	size_t k;
	char ex[32];
	int rc;

	frame_init(out);
	if (err) {
		err->msg[0] = '\0';
		err->field = NULL;
	}
	rc = parse_root(buf, len, max_len, &root, err);
	if (rc)
		return rc;
	op = cJSON_GetObjectItemCaseSensitive(root, "op");
	if (!given(op)) {
		rc = bad(err, "op", "op: required");
		goto fail;
	}
	if (!cJSON_IsString(op)) {
		rc = bad(err, "op",
			 "op: must be one of subscribe, unsubscribe, ping, auth");
		goto fail;
	}
	for (k = 0; k < TP_ARRAY_SIZE(ops); k++)
		if (!strcmp(op->valuestring, ops[k].name))
			break;
	if (k == TP_ARRAY_SIZE(ops)) {
		rc = bad(err, "op",
			 "op: unknown op \"%s\" (subscribe, unsubscribe, ping, auth)",
			 excerpt(ex, op->valuestring));
		goto fail;
	}
	out->op = ops[k].op;
	rc = check_members(root, ops[k].keys, ops[k].keys, ops[k].name,
			   err);
	if (rc)
		goto fail;
	switch (out->op) {
	case TP_OP_SUBSCRIBE:
		rc = parse_subscribe(root, out, err);
		break;
	case TP_OP_UNSUBSCRIBE:
		rc = read_id(root, out->id, err);
		break;
	case TP_OP_PING:
		rc = parse_ping(root, out, err);
		break;
	case TP_OP_AUTH:
		rc = parse_auth(root, out, err);
		break;
	}
	if (rc)
		goto fail;
	cJSON_Delete(root);
	return TP_OK;
fail:
	cJSON_Delete(root);
	tp_client_frame_cleanup(out);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Server frames                                                        */

/* {"type":"<type>" - the start of every server frame. */
static void put_type(struct tp_buf *out, const char *type)
{
	tp_buf_json_open(out, "type");
	tp_buf_json_str(out, type);
}

/* ,"subs":[...] */
static void put_subs(struct tp_buf *out, const char *const *subs, size_t n)
{
	tp_buf_json_key(out, "subs", false);
	tp_buf_putc(out, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			tp_buf_putc(out, ',');
		tp_buf_json_str(out, subs[i] ? subs[i] : "");
	}
	tp_buf_putc(out, ']');
}

void tp_proto_hello(struct tp_buf *out, const char *session_id,
		    long long user_id, const char *epoch, uint64_t seq,
		    double server_time)
{
	put_type(out, "hello");
	tp_buf_json_kv_int(out, "protocol", TP_PROTO_VERSION);
	tp_buf_json_kv_str(out, "session", session_id ? session_id : "");
	if (user_id > 0)
		tp_buf_json_kv_int(out, "user", user_id);
	else
		tp_buf_json_kv_raw(out, "user", "null");
	tp_buf_json_kv_str(out, "epoch", epoch ? epoch : "");
	tp_buf_json_kv_uint(out, "seq", seq);
	tp_buf_json_kv_num(out, "server_time", server_time);
	tp_buf_putc(out, '}');
}

void tp_proto_subscribed(struct tp_buf *out, const char *id,
			 const char *epoch, uint64_t seq, bool recovered)
{
	put_type(out, "subscribed");
	tp_buf_json_kv_str(out, "id", id ? id : "");
	tp_buf_json_kv_str(out, "epoch", epoch ? epoch : "");
	tp_buf_json_kv_uint(out, "seq", seq);
	tp_buf_json_kv_bool(out, "recovered", recovered);
	tp_buf_putc(out, '}');
}

void tp_proto_snapshot_begin(struct tp_buf *out, const char *id, uint64_t seq)
{
	put_type(out, "snapshot");
	tp_buf_json_kv_str(out, "id", id ? id : "");
	tp_buf_json_kv_uint(out, "seq", seq);
	tp_buf_json_key(out, "patterns", false);
	tp_buf_putc(out, '[');
}

void tp_proto_snapshot_end(struct tp_buf *out)
{
	tp_buf_putc(out, ']');
	tp_buf_putc(out, '}');
}

/* Ends with the comma before the tail's first member (proto.h). */
void tp_proto_event_head(struct tp_buf *out, const char *type,
			 const char *const *subs, size_t n_subs)
{
	put_type(out, type ? type : "");
	put_subs(out, subs, n_subs);
	tp_buf_putc(out, ',');
}

void tp_proto_event_tail(struct tp_buf *out, uint64_t seq,
			 const char *data_json, size_t data_len)
{
	tp_buf_json_key(out, "seq", true);
	tp_buf_json_uint(out, seq);
	tp_buf_json_key(out, "data", false);
	if (data_json && data_len)
		tp_buf_append(out, data_json, data_len);
	else
		tp_buf_puts(out, "null");
	tp_buf_putc(out, '}');
}

void tp_proto_removed_tail(struct tp_buf *out, uint64_t seq,
			   const char *pattern_id)
{
	tp_buf_json_key(out, "seq", true);
	tp_buf_json_uint(out, seq);
	tp_buf_json_kv_str(out, "id", pattern_id ? pattern_id : "");
	tp_buf_putc(out, '}');
}

void tp_proto_event(struct tp_buf *out, const char *type, uint64_t seq,
		    const char *const *subs, size_t n_subs,
		    const char *data_json, size_t data_len)
{
	tp_proto_event_head(out, type, subs, n_subs);
	tp_proto_event_tail(out, seq, data_json, data_len);
}

void tp_proto_removed(struct tp_buf *out, uint64_t seq,
		      const char *const *subs, size_t n_subs,
		      const char *pattern_id)
{
	tp_proto_event_head(out, "pattern_removed", subs, n_subs);
	tp_proto_removed_tail(out, seq, pattern_id);
}

void tp_proto_gap(struct tp_buf *out, const char *id, const char *epoch,
		  uint64_t seq)
{
	put_type(out, "gap");
	tp_buf_json_kv_str(out, "id", id ? id : "");
	tp_buf_json_kv_str(out, "epoch", epoch ? epoch : "");
	tp_buf_json_kv_uint(out, "seq", seq);
	tp_buf_putc(out, '}');
}

void tp_proto_error(struct tp_buf *out, const char *id,
		    enum tp_proto_code code, const char *message)
{
	put_type(out, "error");
	if (id)
		tp_buf_json_kv_str(out, "id", id);
	else
		tp_buf_json_kv_raw(out, "id", "null");
	tp_buf_json_kv_str(out, "code", tp_proto_code_name(code));
	tp_buf_json_kv_str(out, "message", message ? message : "");
	tp_buf_putc(out, '}');
}

void tp_proto_pong(struct tp_buf *out, const char *t_json)
{
	put_type(out, "pong");
	if (t_json) /* the ping's "t" as compact JSON (tp_client_frame) */
		tp_buf_json_kv_raw(out, "t", t_json);
	tp_buf_putc(out, '}');
}
