/*
 * test_proto.c - the WebSocket protocol v1 codec (protocol/proto.c)
 * against docs/protocol.md: every client op with every option, every
 * malformed frame naming its field, every server frame parsed back with
 * cJSON member by member, and out-of-memory at every allocation of parsing
 * and rendering.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/filter.h"
#include "tickpush/json.h"
#include "tickpush/proto.h"

/* JSON literals without a forest of backslashes. */
#define J(...) #__VA_ARGS__

#define MAXLEN 65536

static int parse(const char *json, struct tp_client_frame *f,
		 struct tp_errdetail *err)
{
	return tp_proto_parse(json, strlen(json), MAXLEN, f, err);
}

static void parse_ok(const char *json, struct tp_client_frame *f)
{
	struct tp_errdetail err = {.msg = "", .field = NULL};
	int rc = parse(json, f, &err);

	if (rc != TP_OK) {
		print_error("rejected %s: %s\n", json, err.msg);
		fail();
	}
}

/* The frame is in its initial, empty state (what a failed parse leaves). */
static void assert_empty(const struct tp_client_frame *f)
{
	assert_int_equal(f->id[0], '\0');
	assert_false(f->has_filter);
	assert_null(f->filter.pattern_types);
	assert_null(f->filter.symbols);
	assert_null(f->filter.sectors);
	assert_null(f->ping_t);
	assert_null(f->token);
	assert_int_equal(f->preset_id, 0);
	assert_false(f->has_since);
	assert_int_equal(f->limit, TP_SNAPSHOT_LIMIT_DEFAULT);
}

/* Parses back a rendered frame; the caller deletes it. */
static cJSON *reparse(struct tp_buf *b)
{
	cJSON *root;

	assert_false(b->oom);
	tp_json_init();
	root = cJSON_ParseWithLength(tp_buf_data(b), b->len);
	if (!root) {
		print_error("not JSON: %.*s\n", (int)b->len, tp_buf_data(b));
		fail();
	}
	assert_true(cJSON_IsObject(root));
	return root;
}

static const cJSON *member(const cJSON *o, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!it) {
		print_error("member %s missing\n", name);
		fail();
	}
	return it;
}

static void assert_str_member(const cJSON *o, const char *name,
			      const char *want)
{
	const cJSON *it = member(o, name);

	assert_true(cJSON_IsString(it));
	assert_string_equal(it->valuestring, want);
}

static void assert_num_member(const cJSON *o, const char *name, double want)
{
	const cJSON *it = member(o, name);

	assert_true(cJSON_IsNumber(it));
	assert_true(it->valuedouble == want);
}

/* No members besides the listed ones (NULL-terminated). */
static void assert_members(const cJSON *o, const char *const *names)
{
	int n = 0;

	while (names[n])
		member(o, names[n++]);
	assert_int_equal(cJSON_GetArraySize(o), n);
}

/* The buffer holds exactly want (byte for byte). */
static void assert_buf(struct tp_buf *b, const char *want)
{
	assert_false(b->oom);
	assert_string_equal(tp_buf_cstr(b), want);
}

/* ------------------------------------------------------------------ */
/* Subscribe                                                            */

static void test_subscribe_defaults(void **state)
{
	struct tp_client_frame f;

	(void)state;
	parse_ok(J({"op":"subscribe","id":"s1","channel":"patterns"}), &f);
	assert_int_equal(f.op, TP_OP_SUBSCRIBE);
	assert_string_equal(f.id, "s1");
	assert_int_equal(f.channel, TP_SUBCH_PATTERNS);
	assert_int_equal(f.preset_id, 0);
	assert_false(f.has_filter);
	/* The inline default filter is the scan's default. */
	assert_true(f.filter.confidence_min == 0.5);
	assert_true(f.filter.rsi_min == 0 && f.filter.rsi_max == 100);
	assert_int_equal(f.filter.n_symbols, 0);
	assert_int_equal(f.filter.given, 0);
	assert_int_equal(f.refs.watchlist_id, 0);
	assert_string_equal(f.refs.universe, "");
	assert_false(f.has_since);
	assert_false(f.snapshot);
	assert_int_equal(f.limit, TP_SNAPSHOT_LIMIT_DEFAULT);
	assert_null(f.ping_t);
	assert_null(f.token);
	tp_client_frame_cleanup(&f);
	tp_client_frame_cleanup(&f); /* idempotent */
	tp_client_frame_cleanup(NULL);
}

static void test_subscribe_preset_all_options(void **state)
{
	struct tp_client_frame f;

	(void)state;
	parse_ok(J({"op":"subscribe","id":"dash-1","channel":"patterns","preset_id":7,
		    "since":{"epoch":"k3f9a1","seq":48213},"snapshot":true,"limit":1000}), &f);
	assert_string_equal(f.id, "dash-1");
	assert_int_equal(f.preset_id, 7);
	assert_false(f.has_filter);
	assert_true(f.has_since);
	assert_string_equal(f.since_epoch, "k3f9a1");
	assert_int_equal(f.since_seq, 48213);
	assert_true(f.snapshot);
	assert_int_equal(f.limit, 1000);
	tp_client_frame_cleanup(&f);

	/* Largest exact JSON integers; since seq 0; limit 1; snapshot false. */
	parse_ok(J({"limit":1,"snapshot":false,"preset_id":9007199254740992,
		    "since":{"seq":0,"epoch":"e"},"channel":"patterns","id":"x","op":"subscribe"}), &f);
	assert_int_equal(f.preset_id, 9007199254740992LL);
	assert_int_equal(f.since_seq, 0);
	assert_string_equal(f.since_epoch, "e");
	assert_false(f.snapshot);
	assert_int_equal(f.limit, 1);
	tp_client_frame_cleanup(&f);

	parse_ok(J({"op":"subscribe","id":"x","channel":"patterns",
		    "since":{"epoch":"0123456789012345678901234567890","seq":9007199254740992}}), &f);
	assert_int_equal(strlen(f.since_epoch), TP_EPOCH_MAX);
	assert_int_equal(f.since_seq, 9007199254740992ULL);
	tp_client_frame_cleanup(&f);

	/* Exponent notation of an integer is an integer. */
	parse_ok(J({"op":"subscribe","id":"x","channel":"patterns","preset_id":7e0,"limit":1.0e2}), &f);
	assert_int_equal(f.preset_id, 7);
	assert_int_equal(f.limit, 100);
	tp_client_frame_cleanup(&f);
}

static void test_subscribe_inline_filter(void **state)
{
	struct tp_client_frame f;

	(void)state;
	parse_ok(J({"op":"subscribe","id":"s1","channel":"patterns",
		    "filter":{"pattern_types":["WeeklyBO","Doji"],"symbols":"msft,aapl",
			      "confidence_min":0.7,"rs_min":1.2,"vol_min":1.5,"rsi_range":[70,30],
			      "timeframe":"Daily","sectors":["Technology"],"watchlist_id":12,
			      "universe":"sp500"},
		    "snapshot":true,"limit":50}), &f);
	assert_true(f.has_filter);
	assert_int_equal(f.preset_id, 0);
	assert_int_equal(f.filter.n_pattern_types, 2);
	assert_string_equal(f.filter.pattern_types[0], "Doji");
	assert_string_equal(f.filter.pattern_types[1], "Weekly_Breakout");
	assert_int_equal(f.filter.n_symbols, 2);
	assert_string_equal(f.filter.symbols[0], "AAPL");
	assert_string_equal(f.filter.symbols[1], "MSFT");
	assert_int_equal(f.filter.n_sectors, 1);
	assert_true(f.filter.confidence_min == 0.7);
	assert_true(f.filter.rs_min == 1.2);
	assert_true(f.filter.vol_min == 1.5);
	assert_true(f.filter.rsi_min == 30 && f.filter.rsi_max == 70);
	assert_int_equal(f.filter.tier_mask, TP_TIER_BIT(TP_TIER_DAILY));
	assert_int_equal(f.refs.watchlist_id, 12);
	assert_string_equal(f.refs.universe, "sp500");
	assert_true(f.snapshot);
	assert_int_equal(f.limit, 50);
	tp_client_frame_cleanup(&f);
	assert_null(f.filter.symbols);

	/* An empty filter object is an inline filter with the defaults. */
	parse_ok(J({"op":"subscribe","id":"s1","channel":"patterns","filter":{}}), &f);
	assert_true(f.has_filter);
	assert_true(f.filter.confidence_min == 0.5);
	tp_client_frame_cleanup(&f);

	/* null means "absent" for optional members. */
	parse_ok(J({"op":"subscribe","id":"s1","channel":"patterns","filter":null,
		    "preset_id":null,"since":null,"snapshot":null,"limit":null}), &f);
	assert_false(f.has_filter);
	assert_int_equal(f.preset_id, 0);
	assert_false(f.has_since);
	assert_int_equal(f.limit, TP_SNAPSHOT_LIMIT_DEFAULT);
	tp_client_frame_cleanup(&f);
	parse_ok(J({"op":"subscribe","id":"s1","channel":"patterns","filter":{"symbols":"AAPL"},
		    "preset_id":null}), &f);
	assert_true(f.has_filter);
	tp_client_frame_cleanup(&f);
}

/* The inline filter is exactly what a preset with the same "filters"
 * object gives (same schema, same validator). */
static void test_filter_same_as_preset(void **state)
{
	static const char *const filters[] = {
		J({}),
		J({"symbols":["nvda","AAPL","nvda"],"confidence_min":0.9}),
		J({"pattern_types":"BullFlag,Hammer","rsi_range":"80,20","timeframe":"Combo",
		   "sectors":"Energy","vol_min":2,"watchlist_id":3}),
	};

	(void)state;
	tp_json_init();
	for (size_t i = 0; i < TP_ARRAY_SIZE(filters); i++) {
		char json[512];
		struct tp_client_frame f;
		struct tp_filter want;
		struct tp_filter_refs refs;
		struct tp_buf a, b;
		cJSON *obj = cJSON_Parse(filters[i]);

		assert_non_null(obj);
		assert_int_equal(tp_filter_from_json(&want, obj, &refs, NULL), TP_OK);
		snprintf(json, sizeof(json),
			 "{\"op\":\"subscribe\",\"id\":\"s\",\"channel\":\"patterns\",\"filter\":%s}",
			 filters[i]);
		parse_ok(json, &f);
		assert_true(f.has_filter);
		tp_buf_init(&a, 0);
		tp_buf_init(&b, 0);
		tp_filter_canonical(&want, &a);
		tp_filter_canonical(&f.filter, &b);
		assert_string_equal(tp_buf_cstr(&a), tp_buf_cstr(&b));
		assert_int_equal(f.filter.given, want.given);
		assert_int_equal(f.refs.watchlist_id, refs.watchlist_id);
		assert_string_equal(f.refs.universe, refs.universe);
		tp_buf_cleanup(&a);
		tp_buf_cleanup(&b);
		tp_filter_cleanup(&want);
		tp_client_frame_cleanup(&f);
		cJSON_Delete(obj);
	}
}

static void test_subscribe_other_channels(void **state)
{
	struct tp_client_frame f;

	(void)state;
	parse_ok(J({"op":"subscribe","id":"b","channel":"backtests"}), &f);
	assert_int_equal(f.channel, TP_SUBCH_BACKTESTS);
	assert_false(f.has_filter);
	tp_client_frame_cleanup(&f);

	parse_ok(J({"op":"subscribe","id":"h","channel":"health","since":{"epoch":"e1","seq":5}}), &f);
	assert_int_equal(f.channel, TP_SUBCH_HEALTH);
	assert_true(f.has_since);
	assert_int_equal(f.since_seq, 5);
	tp_client_frame_cleanup(&f);

	/* Pattern-only members given as null are absent, hence fine. */
	parse_ok(J({"op":"subscribe","id":"h","channel":"health","limit":null,"filter":null}), &f);
	tp_client_frame_cleanup(&f);

	assert_string_equal(tp_sub_channel_name(TP_SUBCH_PATTERNS), "patterns");
	assert_string_equal(tp_sub_channel_name(TP_SUBCH_BACKTESTS), "backtests");
	assert_string_equal(tp_sub_channel_name(TP_SUBCH_HEALTH), "health");
}

static void test_subscribe_ids(void **state)
{
	char json[256], id[TP_SUB_ID_MAX + 1];
	struct tp_client_frame f;

	(void)state;
	memset(id, 'a', TP_SUB_ID_MAX);
	id[TP_SUB_ID_MAX] = '\0';
	snprintf(json, sizeof(json),
		 "{\"op\":\"subscribe\",\"id\":\"%s\",\"channel\":\"health\"}", id);
	parse_ok(json, &f);
	assert_string_equal(f.id, id);
	tp_client_frame_cleanup(&f);

	/* Non-ASCII text, quotes and spaces are fine; the id is text. */
	parse_ok("{\"op\":\"unsubscribe\",\"id\":\"caf\xc3\xa9 \\\"1\\\"\"}", &f);
	assert_int_equal(f.op, TP_OP_UNSUBSCRIBE);
	assert_string_equal(f.id, "caf\xc3\xa9 \"1\"");
	tp_client_frame_cleanup(&f);

	/* An escaped non-ASCII character decodes to UTF-8. */
	parse_ok(J({"op":"unsubscribe","id":"\u00e9"}), &f);
	assert_string_equal(f.id, "\xc3\xa9");
	tp_client_frame_cleanup(&f);
}

/* ------------------------------------------------------------------ */
/* Other ops                                                            */

static void test_ping(void **state)
{
	static const struct {
		const char *json;
		const char *t; /* NULL: absent */
	} cases[] = {
		{J({"op":"ping"}), NULL},
		{J({"op":"ping","t":1725456789123}), "1725456789123"},
		{J({"op":"ping","t":0.25}), "0.25"},
		{J({"op":"ping","t":-3}), "-3"},
		{J({"op":"ping","t":"hi \"there\""}), "\"hi \\\"there\\\"\""},
		{J({"op":"ping","t":null}), "null"},
		{J({"op":"ping","t":true}), "true"},
		{J({"op":"ping","t":false}), "false"},
		{J({"op":"ping","t":[]}), "[]"},
		{J({"op":"ping","t":{}}), "{}"},
		{J({ "t" : { "a" : [ 1 , { "b" : null } , "x" ] , "c" : 2.5 } , "op" : "ping" }),
		 "{\"a\":[1,{\"b\":null},\"x\"],\"c\":2.5}"},
		/* Outside what a double holds: null rather than invalid JSON. */
		{J({"op":"ping","t":1e999}), "null"},
	};

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(cases); i++) {
		struct tp_client_frame f;

		parse_ok(cases[i].json, &f);
		assert_int_equal(f.op, TP_OP_PING);
		if (cases[i].t)
			assert_string_equal(f.ping_t, cases[i].t);
		else
			assert_null(f.ping_t);
		tp_client_frame_cleanup(&f);
	}
}

static void test_auth(void **state)
{
	char *json = tp_malloc(4200), *tok = tp_malloc(4097);
	struct tp_client_frame f;
	struct tp_errdetail err;

	(void)state;
	assert_non_null(json);
	assert_non_null(tok);
	parse_ok(J({"op":"auth","token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI3In0.sig"}), &f);
	assert_int_equal(f.op, TP_OP_AUTH);
	assert_string_equal(f.token, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI3In0.sig");
	tp_client_frame_cleanup(&f);
	assert_null(f.token);

	memset(tok, 'A', 4096);
	tok[4096] = '\0';
	snprintf(json, 4200, "{\"op\":\"auth\",\"token\":\"%s\"}", tok);
	parse_ok(json, &f);
	assert_int_equal(strlen(f.token), 4096);
	tp_client_frame_cleanup(&f);

	snprintf(json, 4200, "{\"op\":\"auth\",\"token\":\"%sB\"}", tok);
	assert_int_equal(parse(json, &f, &err), TP_ERR_PROTO);
	assert_string_equal(err.field, "token");
	assert_empty(&f);
	tp_free(json);
	tp_free(tok);
}

static void test_frame_bounds(void **state)
{
	const char *json = J({"op":"ping","t":1});
	char buf[64];
	struct tp_client_frame f;
	struct tp_errdetail err;
	size_t n = strlen(json);

	(void)state;
	/* Exactly at the limit is fine; one byte over is refused. */
	assert_int_equal(tp_proto_parse(json, n, n, &f, &err), TP_OK);
	tp_client_frame_cleanup(&f);
	assert_int_equal(tp_proto_parse(json, n, n - 1, &f, &err), TP_ERR_PROTO);
	assert_null(err.field);
	assert_non_null(strstr(err.msg, "frame too large"));
	assert_empty(&f);

	/* The frame need not be NUL-terminated: only len bytes count. */
	memcpy(buf, json, n);
	memcpy(buf + n, "garbage!", 8);
	assert_int_equal(tp_proto_parse(buf, n, MAXLEN, &f, &err), TP_OK);
	assert_string_equal(f.ping_t, "1");
	tp_client_frame_cleanup(&f);
	/* ... and bytes after them are not read as part of it. */
	assert_int_equal(tp_proto_parse(buf, n - 1, MAXLEN, &f, &err), TP_ERR_PROTO);
	assert_null(err.field);

	/* Whitespace around the object is allowed. */
	parse_ok(" \r\n\t{\"op\":\"ping\"} \n", &f);
	tp_client_frame_cleanup(&f);

	/* NULL or empty input; a NULL err is allowed. */
	assert_int_equal(tp_proto_parse(NULL, 0, MAXLEN, &f, NULL), TP_ERR_PROTO);
	assert_int_equal(tp_proto_parse("", 0, MAXLEN, &f, &err), TP_ERR_PROTO);
	assert_non_null(strstr(err.msg, "not valid JSON"));
	assert_int_equal(parse("{\"op\":1}", &f, NULL), TP_ERR_PROTO);
	assert_empty(&f);
}

/* A value nested depth levels deep in "t". */
static char *nested(size_t depth)
{
	char *s = tp_malloc(2 * depth + 32);
	size_t n = 0;

	assert_non_null(s);
	n += (size_t)sprintf(s, "{\"op\":\"ping\",\"t\":");
	for (size_t i = 0; i < depth; i++)
		s[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		s[n++] = ']';
	s[n++] = '}';
	s[n] = '\0';
	return s;
}

static void test_nesting(void **state)
{
	struct tp_client_frame f;
	struct tp_errdetail err;
	char *s;

	(void)state;
	s = nested(200);
	parse_ok(s, &f);
	assert_int_equal(strlen(f.ping_t), 400);
	assert_int_equal(f.ping_t[199], '[');
	assert_int_equal(f.ping_t[200], ']');
	tp_client_frame_cleanup(&f);
	tp_free(s);

	/* Beyond cJSON's nesting limit: refused as invalid JSON. */
	s = nested(CJSON_NESTING_LIMIT + 1);
	assert_int_equal(parse(s, &f, &err), TP_ERR_PROTO);
	assert_null(err.field);
	assert_non_null(strstr(err.msg, "not valid JSON"));
	assert_empty(&f);
	tp_free(s);
}

/* ------------------------------------------------------------------ */
/* Malformed frames                                                     */

struct bad_case {
	const char *json;
	size_t len;          /* 0: strlen */
	const char *field;   /* NULL: err.field must be NULL */
	const char *msg;     /* err.msg must start with this */
};

#define SUB "\"op\":\"subscribe\",\"id\":\"s1\","
#define ID65 "12345678901234567890123456789012345678901234567890123456789012345"

static const struct bad_case bad_cases[] = {
	/* Not JSON, not UTF-8, not an object. */
	{"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, NULL, "not valid JSON"},
	{"\xff\xfe{}", 0, NULL, "not valid JSON: invalid UTF-8"},
	{"{\"op\":\"ping\",\"t\":\"\xc3\x28\"}", 0, NULL, "not valid JSON: invalid UTF-8"},
	{"{\"op\":\"ping\",\"t\":\"\xc0\xaf\"}", 0, NULL, "not valid JSON: invalid UTF-8"},        /* overlong */
	{"{\"op\":\"ping\",\"t\":\"\xed\xa0\x80\"}", 0, NULL, "not valid JSON: invalid UTF-8"},    /* surrogate */
	{"{\"op\":\"ping\",\"t\":\"\xf4\x90\x80\x80\"}", 0, NULL, "not valid JSON: invalid UTF-8"},/* > U+10FFFF */
	{"{\"op\":\"ping\",\"t\":\"\xe2\x82\"}", 0, NULL, "not valid JSON: invalid UTF-8"},        /* truncated */
	{"{\"op\":\"ping\",\"t\":\"a\tb\"}", 0, NULL, "not valid JSON: control character in a string"},
	{"{\"op\":\"ping\",\"t\":\"a\\u0000b\"}", 0, NULL, "not valid JSON: \\u0000 (NUL) in a string (member t, byte 19)"},
	/* The member holding bad text is named. */
	{"{" SUB "\"channel\":\"patterns\",\"filter\":{\"sectors\":[\"\xff\"]}}", 0, NULL,
	 "not valid JSON: invalid UTF-8 (member filter.sectors, byte"},
	{"{" SUB "\"channel\":\"patterns\",\"filter\":{\"universe\":\"x\\u0000\"}}", 0, NULL,
	 "not valid JSON: \\u0000 (NUL) in a string (member filter.universe, byte"},
	{"{\"op\":\"auth\",\"token\":\"abc\\u0000\"}", 0, NULL,
	 "not valid JSON: \\u0000 (NUL) in a string (member token, byte 25)"},
	{"{\"op\":\"ping\",\"t\\u0000\":1}", 0, NULL,
	 "not valid JSON: \\u0000 (NUL) in a string (member name, byte"},
	{"{\"op\":\"ping\",\"t\":{\"\xc3\x28\":1}}", 0, NULL,
	 "not valid JSON: invalid UTF-8 (member name in t, byte"},
	{"{\"op\":\"ping\"}\0", 14, NULL, "not valid JSON: control character"},
	{"{\"op\":\"ping\",\"t\":\"\\ud800\"}", 0, NULL, "not valid JSON"},                     /* lone surrogate escape */
	{"{\"op\":\"ping\"", 0, NULL, "not valid JSON"},
	{"{\"op\":\"ping\"}}", 0, NULL, "not valid JSON: data after the object"},
	{"{\"op\":\"ping\"} {\"op\":\"ping\"}", 0, NULL, "not valid JSON: data after the object"},
	{"{'op':'ping'}", 0, NULL, "not valid JSON"},
	{"{\"op\":\"ping\",\"t\":NaN}", 0, NULL, "not valid JSON"},
	{"   ", 0, NULL, "not valid JSON"},
	{"[]", 0, NULL, "frame must be a JSON object"},
	{"\"subscribe\"", 0, NULL, "frame must be a JSON object"},
	{"42", 0, NULL, "frame must be a JSON object"},
	{"null", 0, NULL, "frame must be a JSON object"},
	/* op */
	{"{}", 0, "op", "op: required"},
	{"{\"op\":null}", 0, "op", "op: required"},
	{"{\"op\":1}", 0, "op", "op: must be one of"},
	{"{\"op\":[\"ping\"]}", 0, "op", "op: must be one of"},
	{"{\"op\":\"publish\"}", 0, "op", "op: unknown op \"publish\""},
	{"{\"op\":\"Ping\"}", 0, "op", "op: unknown op \"Ping\""},
	{"{\"op\":\"\"}", 0, "op", "op: unknown op \"\""},
	{"{\"op\":\"x\\\"y\\n\"}", 0, "op", "op: unknown op \"x?y?\""},
	{"{\"Op\":\"ping\"}", 0, "op", "op: required"},
	{"{\"op\":\"ping\",\"op\":\"auth\"}", 0, "op", "op: given more than once"},
	/* unknown members */
	{"{\"op\":\"ping\",\"x\":1}", 0, NULL, "x: unknown member of ping"},
	{"{\"op\":\"auth\",\"token\":\"t\",\"user\":1}", 0, NULL, "user: unknown member of auth"},
	{"{\"op\":\"unsubscribe\",\"id\":\"s1\",\"channel\":\"patterns\"}", 0, NULL, "channel: unknown member of unsubscribe"},
	{"{" SUB "\"channel\":\"patterns\",\"Filter\":{}}", 0, NULL, "Filter: unknown member of subscribe"},
	{"{" SUB "\"channel\":\"patterns\",\"presetId\":7}", 0, NULL, "presetId: unknown member of subscribe"},
	{"{" SUB "\"channel\":\"patterns\",\"limit\":5,\"limit\":6}", 0, "limit", "limit: given more than once"},
	/* id */
	{"{\"op\":\"subscribe\",\"channel\":\"patterns\"}", 0, "id", "id: required"},
	{"{\"op\":\"subscribe\",\"id\":null,\"channel\":\"patterns\"}", 0, "id", "id: required"},
	{"{\"op\":\"subscribe\",\"id\":\"\",\"channel\":\"patterns\"}", 0, "id", "id: must be a string of 1..64"},
	{"{\"op\":\"subscribe\",\"id\":7,\"channel\":\"patterns\"}", 0, "id", "id: must be a string"},
	{"{\"op\":\"subscribe\",\"id\":\"" ID65 "\",\"channel\":\"patterns\"}", 0, "id", "id: must be a string of 1..64"},
	{"{\"op\":\"subscribe\",\"id\":\"a\\nb\",\"channel\":\"patterns\"}", 0, "id", "id: must be"},
	{"{\"op\":\"subscribe\",\"id\":\"a\\u007fb\",\"channel\":\"patterns\"}", 0, "id", "id: must be"},
	{"{\"op\":\"subscribe\",\"id\":\"a\\u0085b\",\"channel\":\"patterns\"}", 0, "id", "id: must be"},
	{"{\"op\":\"unsubscribe\"}", 0, "id", "id: required"},
	{"{\"op\":\"unsubscribe\",\"id\":\"\"}", 0, "id", "id: must be"},
	{"{\"op\":\"unsubscribe\",\"id\":[\"s1\"]}", 0, "id", "id: must be"},
	/* channel */
	{"{" SUB "\"limit\":5}", 0, "channel", "channel: required"},
	{"{" SUB "\"channel\":\"trades\"}", 0, "channel", "channel: unknown channel \"trades\""},
	{"{" SUB "\"channel\":\"Patterns\"}", 0, "channel", "channel: unknown channel \"Patterns\""},
	{"{" SUB "\"channel\":5}", 0, "channel", "channel: must be one of"},
	/* preset_id / filter */
	{"{" SUB "\"channel\":\"patterns\",\"preset_id\":7,\"filter\":{}}", 0, "filter", "filter: not allowed together with preset_id"},
	{"{" SUB "\"channel\":\"patterns\",\"preset_id\":0}", 0, "preset_id", "preset_id: must be a positive integer"},
	{"{" SUB "\"channel\":\"patterns\",\"preset_id\":-7}", 0, "preset_id", "preset_id: must be a positive integer"},
	{"{" SUB "\"channel\":\"patterns\",\"preset_id\":7.5}", 0, "preset_id", "preset_id: must be a positive integer"},
	{"{" SUB "\"channel\":\"patterns\",\"preset_id\":\"7\"}", 0, "preset_id", "preset_id: must be a positive integer"},
	{"{" SUB "\"channel\":\"patterns\",\"preset_id\":9007199254740994}", 0, "preset_id", "preset_id: must be a positive integer"},
	{"{" SUB "\"channel\":\"patterns\",\"preset_id\":1e400}", 0, "preset_id", "preset_id: must be a positive integer"},
	{"{" SUB "\"channel\":\"patterns\",\"preset_id\":true}", 0, "preset_id", "preset_id: must be a positive integer"},
	{"{" SUB "\"channel\":\"patterns\",\"filter\":[]}", 0, "filter", "filter: must be a JSON object"},
	{"{" SUB "\"channel\":\"patterns\",\"filter\":\"symbols=AAPL\"}", 0, "filter", "filter: must be a JSON object"},
	{"{" SUB "\"channel\":\"patterns\",\"filter\":{\"rsi_range\":\"x\"}}", 0, "rsi_range", "filter.rsi_range:"},
	{"{" SUB "\"channel\":\"patterns\",\"filter\":{\"rsi_range\":[1]}}", 0, "rsi_range", "filter.rsi_range:"},
	{"{" SUB "\"channel\":\"patterns\",\"filter\":{\"confidence_min\":1.5}}", 0, "confidence_min", "filter.confidence_min:"},
	{"{" SUB "\"channel\":\"patterns\",\"filter\":{\"rs_min\":\"abc\"}}", 0, "rs_min", "filter.rs_min:"},
	{"{" SUB "\"channel\":\"patterns\",\"filter\":{\"timeframe\":\"Hourly\"}}", 0, "timeframe", "filter.timeframe:"},
	{"{" SUB "\"channel\":\"patterns\",\"filter\":{\"symbols\":[1]}}", 0, "symbols", "filter.symbols:"},
	{"{" SUB "\"channel\":\"patterns\",\"filter\":{\"watchlist_id\":0}}", 0, "watchlist_id", "filter.watchlist_id:"},
	{"{" SUB "\"channel\":\"patterns\",\"filter\":{\"universe\":\"\"}}", 0, "universe", "filter.universe:"},
	{"{" SUB "\"channel\":\"patterns\",\"filter\":{\"colour\":\"red\"}}", 0, NULL, "filter.colour: unknown filter field"},
	/* pattern-only members on other channels */
	{"{" SUB "\"channel\":\"backtests\",\"preset_id\":7}", 0, "preset_id", "preset_id: only allowed on the patterns channel"},
	{"{" SUB "\"channel\":\"health\",\"filter\":{}}", 0, "filter", "filter: only allowed on the patterns channel"},
	{"{" SUB "\"channel\":\"health\",\"snapshot\":false}", 0, "snapshot", "snapshot: only allowed on the patterns channel"},
	{"{" SUB "\"channel\":\"backtests\",\"limit\":10}", 0, "limit", "limit: only allowed on the patterns channel"},
	/* since */
	{"{" SUB "\"channel\":\"patterns\",\"since\":5}", 0, "since", "since: must be an object"},
	{"{" SUB "\"channel\":\"patterns\",\"since\":\"e:5\"}", 0, "since", "since: must be an object"},
	{"{" SUB "\"channel\":\"patterns\",\"since\":{\"seq\":5}}", 0, "since.epoch", "since.epoch: required"},
	{"{" SUB "\"channel\":\"patterns\",\"since\":{\"epoch\":\"e\"}}", 0, "since.seq", "since.seq: required"},
	{"{" SUB "\"channel\":\"patterns\",\"since\":{\"epoch\":\"\",\"seq\":5}}", 0, "since.epoch", "since.epoch: must be"},
	{"{" SUB "\"channel\":\"patterns\",\"since\":{\"epoch\":5,\"seq\":5}}", 0, "since.epoch", "since.epoch: must be"},
	{"{" SUB "\"channel\":\"patterns\",\"since\":{\"epoch\":\"01234567890123456789012345678901\",\"seq\":5}}", 0, "since.epoch", "since.epoch: must be"},
	{"{" SUB "\"channel\":\"patterns\",\"since\":{\"epoch\":\"e\",\"seq\":-1}}", 0, "since.seq", "since.seq: must be an integer"},
	{"{" SUB "\"channel\":\"patterns\",\"since\":{\"epoch\":\"e\",\"seq\":1.5}}", 0, "since.seq", "since.seq: must be an integer"},
	{"{" SUB "\"channel\":\"patterns\",\"since\":{\"epoch\":\"e\",\"seq\":\"5\"}}", 0, "since.seq", "since.seq: must be an integer"},
	{"{" SUB "\"channel\":\"patterns\",\"since\":{\"epoch\":\"e\",\"seq\":1e300}}", 0, "since.seq", "since.seq: must be an integer"},
	{"{" SUB "\"channel\":\"patterns\",\"since\":{\"epoch\":\"e\",\"seq\":5,\"x\":1}}", 0, NULL, "x: unknown member of since"},
	{"{" SUB "\"channel\":\"patterns\",\"since\":{\"epoch\":\"e\",\"seq\":5,\"seq\":6}}", 0, "since.seq", "since.seq: given more than once"},
	/* snapshot, limit */
	{"{" SUB "\"channel\":\"patterns\",\"snapshot\":1}", 0, "snapshot", "snapshot: must be true or false"},
	{"{" SUB "\"channel\":\"patterns\",\"snapshot\":\"true\"}", 0, "snapshot", "snapshot: must be true or false"},
	{"{" SUB "\"channel\":\"patterns\",\"limit\":0}", 0, "limit", "limit: must be an integer in 1..1000"},
	{"{" SUB "\"channel\":\"patterns\",\"limit\":1001}", 0, "limit", "limit: must be an integer in 1..1000"},
	{"{" SUB "\"channel\":\"patterns\",\"limit\":1.5}", 0, "limit", "limit: must be an integer in 1..1000"},
	{"{" SUB "\"channel\":\"patterns\",\"limit\":\"10\"}", 0, "limit", "limit: must be an integer in 1..1000"},
	{"{" SUB "\"channel\":\"patterns\",\"limit\":-1e999}", 0, "limit", "limit: must be an integer in 1..1000"},
	/* auth */
	{"{\"op\":\"auth\"}", 0, "token", "token: required"},
	{"{\"op\":\"auth\",\"token\":null}", 0, "token", "token: required"},
	{"{\"op\":\"auth\",\"token\":\"\"}", 0, "token", "token: must be a string of 1..4096"},
	{"{\"op\":\"auth\",\"token\":42}", 0, "token", "token: must be a string"},
	{"{\"op\":\"auth\",\"token\":\"a\\rb\"}", 0, "token", "token: must be a string"},
};

static void test_malformed(void **state)
{
	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t len = c->len ? c->len : strlen(c->json);
		struct tp_client_frame f;
		struct tp_errdetail err = {.msg = "", .field = "unset"};
		int rc = tp_proto_parse(c->json, len, MAXLEN, &f, &err);
		bool field_ok = c->field ? (err.field && !strcmp(err.field, c->field))
					 : err.field == NULL;

		if (rc != TP_ERR_PROTO || !field_ok ||
		    strncmp(err.msg, c->msg, strlen(c->msg)) != 0) {
			print_error("case %zu %s: rc %d field %s msg \"%s\"; want field %s msg \"%s\"\n",
				    i, c->json, rc, err.field ? err.field : "(null)",
				    err.msg, c->field ? c->field : "(null)", c->msg);
			fail();
		}
		/* Messages go into error frames as is: printable ASCII only. */
		for (const char *p = err.msg; *p; p++)
			assert_true(*p >= 0x20 && *p < 0x7f);
		assert_empty(&f);
	}
}

/* A failed parse after a successful one leaves nothing of the first. */
static void test_reuse(void **state)
{
	struct tp_client_frame f;

	(void)state;
	parse_ok(J({"op":"auth","token":"abc"}), &f);
	tp_client_frame_cleanup(&f);
	assert_int_equal(parse(J({"op":"subscribe","id":"s","channel":"patterns",
				 "filter":{"symbols":"AAPL","rsi_range":"z"}}), &f, NULL),
			 TP_ERR_PROTO);
	assert_empty(&f);
	tp_client_frame_cleanup(&f);
}

/* ------------------------------------------------------------------ */
/* Server frames                                                        */

static void test_render_hello(void **state)
{
	static const char *const keys[] = {"type", "protocol", "session", "user",
					   "epoch", "seq", "server_time", NULL};
	struct tp_buf b;
	cJSON *r;

	(void)state;
	tp_buf_init(&b, 0);
	tp_proto_hello(&b, "sess-1", 42, "k3f9a1", 48213, 1725456789.125);
	assert_buf(&b, "{\"type\":\"hello\",\"protocol\":1,\"session\":\"sess-1\",\"user\":42,"
		       "\"epoch\":\"k3f9a1\",\"seq\":48213,\"server_time\":1725456789.125}");
	r = reparse(&b);
	assert_members(r, keys);
	assert_str_member(r, "type", "hello");
	assert_num_member(r, "protocol", TP_PROTO_VERSION);
	assert_str_member(r, "session", "sess-1");
	assert_num_member(r, "user", 42);
	assert_str_member(r, "epoch", "k3f9a1");
	assert_num_member(r, "seq", 48213);
	assert_num_member(r, "server_time", 1725456789.125);
	cJSON_Delete(r);

	/* Anonymous: user null. */
	tp_buf_reset(&b);
	tp_proto_hello(&b, "s\"2", 0, "e", 0, 1.5);
	r = reparse(&b);
	assert_members(r, keys);
	assert_true(cJSON_IsNull(member(r, "user")));
	assert_str_member(r, "session", "s\"2");
	assert_num_member(r, "seq", 0);
	cJSON_Delete(r);
	tp_buf_reset(&b);
	tp_proto_hello(&b, "s", -5, "e", 1, 1);
	assert_non_null(strstr(tp_buf_cstr(&b), "\"user\":null"));
	tp_buf_cleanup(&b);
}

static void test_render_subscribed_gap(void **state)
{
	static const char *const sub_keys[] = {"type", "id", "epoch", "seq",
					       "recovered", NULL};
	static const char *const gap_keys[] = {"type", "id", "epoch", "seq", NULL};
	struct tp_buf b;
	cJSON *r;

	(void)state;
	tp_buf_init(&b, 0);
	tp_proto_subscribed(&b, "s1", "e1", 17, true);
	assert_buf(&b, "{\"type\":\"subscribed\",\"id\":\"s1\",\"epoch\":\"e1\",\"seq\":17,\"recovered\":true}");
	r = reparse(&b);
	assert_members(r, sub_keys);
	assert_true(cJSON_IsTrue(member(r, "recovered")));
	cJSON_Delete(r);

	/* An id with characters that need escaping comes back unchanged. */
	tp_buf_reset(&b);
	tp_proto_subscribed(&b, "a\"b\\c\x01\xc3\xa9", "e1", 18446744073709551615ULL, false);
	assert_non_null(strstr(tp_buf_cstr(&b), "\"seq\":18446744073709551615,"));
	r = reparse(&b);
	assert_members(r, sub_keys);
	assert_str_member(r, "type", "subscribed");
	assert_str_member(r, "id", "a\"b\\c\x01\xc3\xa9");
	assert_str_member(r, "epoch", "e1");
	assert_true(cJSON_IsFalse(member(r, "recovered")));
	cJSON_Delete(r);

	tp_buf_reset(&b);
	tp_proto_gap(&b, "s1", "k3f9a1", 500);
	assert_buf(&b, "{\"type\":\"gap\",\"id\":\"s1\",\"epoch\":\"k3f9a1\",\"seq\":500}");
	r = reparse(&b);
	assert_members(r, gap_keys);
	assert_str_member(r, "type", "gap");
	assert_str_member(r, "id", "s1");
	assert_str_member(r, "epoch", "k3f9a1");
	assert_num_member(r, "seq", 500);
	cJSON_Delete(r);
	tp_buf_cleanup(&b);
}

static void test_render_snapshot(void **state)
{
	static const char *const keys[] = {"type", "id", "seq", "patterns", NULL};
	const char *rows[] = {"{\"id\":\"AAPL:Doji:1\",\"conf\":0.9}",
			      "{\"id\":\"MSFT:Doji:2\",\"conf\":0.8}"};
	struct tp_buf b;
	cJSON *r;
	const cJSON *pats;

	(void)state;
	tp_buf_init(&b, 0);
	tp_proto_snapshot_begin(&b, "s1", 99);
	tp_proto_snapshot_end(&b);
	assert_buf(&b, "{\"type\":\"snapshot\",\"id\":\"s1\",\"seq\":99,\"patterns\":[]}");

	tp_buf_reset(&b);
	tp_proto_snapshot_begin(&b, "s1", 100);
	for (size_t i = 0; i < TP_ARRAY_SIZE(rows); i++) {
		if (i)
			tp_buf_putc(&b, ',');
		tp_buf_puts(&b, rows[i]);
	}
	tp_proto_snapshot_end(&b);
	r = reparse(&b);
	assert_members(r, keys);
	assert_str_member(r, "type", "snapshot");
	assert_str_member(r, "id", "s1");
	assert_num_member(r, "seq", 100);
	pats = member(r, "patterns");
	assert_true(cJSON_IsArray(pats));
	assert_int_equal(cJSON_GetArraySize(pats), 2);
	assert_str_member(cJSON_GetArrayItem(pats, 1), "id", "MSFT:Doji:2");
	cJSON_Delete(r);
	tp_buf_cleanup(&b);
}

static void test_render_events(void **state)
{
	static const char *const keys[] = {"type", "seq", "subs", "data", NULL};
	static const char *const rm_keys[] = {"type", "seq", "subs", "id", NULL};
	static const char *const types[] = {"pattern", "backtest_progress",
					    "backtest_result", "system_health"};
	const char *subs[] = {"s1", "dash \"2\""};
	const char *data = "{\"id\":\"AAPL:Weekly_Breakout:1725456789\",\"conf\":0.85,\"n\":[1,2]}";
	struct tp_buf b;
	cJSON *r, *want;
	const cJSON *s;

	(void)state;
	tp_json_init();
	want = cJSON_Parse(data);
	assert_non_null(want);
	tp_buf_init(&b, 0);
	for (size_t i = 0; i < TP_ARRAY_SIZE(types); i++) {
		tp_buf_reset(&b);
		tp_proto_event(&b, types[i], 1000 + i, subs, 2, data, strlen(data));
		r = reparse(&b);
		assert_members(r, keys);
		assert_str_member(r, "type", types[i]);
		assert_num_member(r, "seq", (double)(1000 + i));
		s = member(r, "subs");
		assert_int_equal(cJSON_GetArraySize(s), 2);
		assert_string_equal(cJSON_GetArrayItem(s, 0)->valuestring, "s1");
		assert_string_equal(cJSON_GetArrayItem(s, 1)->valuestring, "dash \"2\"");
		/* data is inserted verbatim. */
		assert_true(cJSON_Compare(member(r, "data"), want, true));
		assert_non_null(strstr(tp_buf_cstr(&b), data));
		cJSON_Delete(r);
	}
	cJSON_Delete(want);

	/* Only data_len bytes of data are used. */
	tp_buf_reset(&b);
	tp_proto_event(&b, "system_health", 7, subs, 1, "{\"a\":1}XYZ", 7);
	assert_buf(&b, "{\"type\":\"system_health\",\"subs\":[\"s1\"],\"seq\":7,\"data\":{\"a\":1}}");

	tp_buf_reset(&b);
	tp_proto_removed(&b, 8, subs, 2, "AAPL:Weekly_Breakout:1725456789");
	assert_buf(&b, "{\"type\":\"pattern_removed\",\"subs\":[\"s1\",\"dash \\\"2\\\"\"],\"seq\":8,"
		       "\"id\":\"AAPL:Weekly_Breakout:1725456789\"}");
	r = reparse(&b);
	assert_members(r, rm_keys);
	assert_str_member(r, "id", "AAPL:Weekly_Breakout:1725456789");
	cJSON_Delete(r);

	/* No subscriptions (history replay for long-poll) renders []. */
	tp_buf_reset(&b);
	tp_proto_removed(&b, 9, NULL, 0, "X:Y:1");
	assert_buf(&b, "{\"type\":\"pattern_removed\",\"subs\":[],\"seq\":9,\"id\":\"X:Y:1\"}");
	tp_buf_cleanup(&b);
}

/* The fan-out sends a per-session head and a shared tail: together they
 * are byte for byte the whole frame, for every event kind. */
static void test_render_event_parts(void **state)
{
	const char *subs[] = {"a", "b\"c"};
	const char *data = "{\"x\":[1,2]}";
	struct tp_buf whole, parts;

	(void)state;
	tp_buf_init(&whole, 0);
	tp_buf_init(&parts, 0);
	tp_proto_event(&whole, "backtest_result", 42, subs, 2, data, strlen(data));
	tp_proto_event_head(&parts, "backtest_result", subs, 2);
	assert_int_equal(parts.len, strlen("{\"type\":\"backtest_result\",\"subs\":[\"a\",\"b\\\"c\"],"));
	tp_proto_event_tail(&parts, 42, data, strlen(data));
	assert_int_equal(parts.len, whole.len);
	assert_memory_equal(tp_buf_data(&parts), tp_buf_data(&whole), whole.len);

	tp_buf_reset(&whole);
	tp_buf_reset(&parts);
	tp_proto_removed(&whole, 43, subs, 1, "A:B:1");
	tp_proto_event_head(&parts, "pattern_removed", subs, 1);
	tp_proto_removed_tail(&parts, 43, "A:B:1");
	assert_int_equal(parts.len, whole.len);
	assert_memory_equal(tp_buf_data(&parts), tp_buf_data(&whole), whole.len);

	/* A tail alone, as shared: no data renders null. */
	tp_buf_reset(&parts);
	tp_proto_event_tail(&parts, 7, NULL, 0);
	assert_buf(&parts, "\"seq\":7,\"data\":null}");
	tp_buf_cleanup(&whole);
	tp_buf_cleanup(&parts);
}

static void test_render_error_pong(void **state)
{
	static const char *const keys[] = {"type", "id", "code", "message", NULL};
	static const struct {
		enum tp_proto_code code;
		const char *name;
	} codes[] = {
		{TP_CODE_BAD_REQUEST, "bad_request"},
		{TP_CODE_UNAUTHORIZED, "unauthorized"},
		{TP_CODE_NOT_FOUND, "not_found"},
		{TP_CODE_LIMIT, "limit"},
		{TP_CODE_RATE_LIMITED, "rate_limited"},
	};
	struct tp_client_frame f;
	struct tp_errdetail err;
	struct tp_buf b;
	cJSON *r, *sent;

	(void)state;
	tp_buf_init(&b, 0);
	for (size_t i = 0; i < TP_ARRAY_SIZE(codes); i++) {
		assert_string_equal(tp_proto_code_name(codes[i].code), codes[i].name);
		tp_buf_reset(&b);
		tp_proto_error(&b, i % 2 ? "s1" : NULL, codes[i].code, "msg \"q\"\n");
		r = reparse(&b);
		assert_members(r, keys);
		assert_str_member(r, "type", "error");
		if (i % 2)
			assert_str_member(r, "id", "s1");
		else
			assert_true(cJSON_IsNull(member(r, "id")));
		assert_str_member(r, "code", codes[i].name);
		assert_str_member(r, "message", "msg \"q\"\n");
		cJSON_Delete(r);
	}

	/* A parse error becomes a bad_request frame naming the field. */
	assert_int_equal(parse(J({"op":"subscribe","id":"s9","channel":"patterns",
				 "filter":{"rsi_range":[1,2,3]}}), &f, &err),
			 TP_ERR_PROTO);
	tp_buf_reset(&b);
	tp_proto_error(&b, NULL, TP_CODE_BAD_REQUEST, err.msg);
	r = reparse(&b);
	assert_string_equal(member(r, "message")->valuestring, err.msg);
	assert_int_equal(strncmp(err.msg, "filter.rsi_range: ", 18), 0);
	cJSON_Delete(r);

	tp_buf_reset(&b);
	tp_proto_pong(&b, NULL);
	assert_buf(&b, "{\"type\":\"pong\"}");

	/* ping -> pong echoes t as the same JSON value. */
	{
		const char *ping = J({"op":"ping","t":{"k":[1,2.5,"x\"y",null,true],"n":-0.001}});

		parse_ok(ping, &f);
		tp_buf_reset(&b);
		tp_proto_pong(&b, f.ping_t);
		r = reparse(&b);
		assert_str_member(r, "type", "pong");
		sent = cJSON_Parse(ping);
		assert_non_null(sent);
		assert_true(cJSON_Compare(member(r, "t"),
					  cJSON_GetObjectItemCaseSensitive(sent, "t"), true));
		assert_int_equal(cJSON_GetArraySize(r), 2);
		cJSON_Delete(sent);
		cJSON_Delete(r);
		tp_client_frame_cleanup(&f);
	}
	tp_buf_cleanup(&b);
}

/* The headroom (LWS_PRE) stays in front of the frame. */
static void test_render_headroom(void **state)
{
	struct tp_buf b;

	(void)state;
	tp_buf_init(&b, 16);
	tp_proto_gap(&b, "s", "e", 1);
	assert_false(b.oom);
	assert_ptr_equal(tp_buf_data(&b), b.base + 16);
	assert_memory_equal(tp_buf_data(&b), "{\"type\":\"gap\"", 13);
	tp_buf_cleanup(&b);
}

/* ------------------------------------------------------------------ */
/* Out of memory                                                        */

static void oom_parse(const char *json)
{
	size_t n;

	for (n = 1;; n++) {
		size_t blocks = tp_alloc_blocks(), bytes = tp_alloc_used();
		struct tp_client_frame f;
		struct tp_errdetail err;
		size_t attempts;
		int rc;

		tp_alloc_fail_at(n);
		rc = parse(json, &f, &err);
		attempts = tp_alloc_fail_at(0);
		if (rc == TP_OK) {
			assert_true(attempts < n);
			tp_client_frame_cleanup(&f);
			assert_int_equal(tp_alloc_blocks(), blocks);
			assert_int_equal(tp_alloc_used(), bytes);
			break;
		}
		if (rc != TP_ERR_NOMEM) {
			print_error("fail at %zu of %s: rc %d %s\n", n, json, rc, err.msg);
			fail();
		}
		assert_empty(&f);
		assert_int_equal(tp_alloc_blocks(), blocks);
		assert_int_equal(tp_alloc_used(), bytes);
	}
	assert_true(n > 1);
}

static void test_oom_parse(void **state)
{
	static const char *const frames[] = {
		J({"op":"subscribe","id":"s1","channel":"patterns"}),
		J({"op":"subscribe","id":"s1","channel":"patterns","preset_id":3,
		   "since":{"epoch":"e","seq":4},"snapshot":true,"limit":10}),
		J({"op":"subscribe","id":"s1","channel":"patterns",
		   "filter":{"pattern_types":["WeeklyBO","Doji","Hammer"],"symbols":"AAPL,MSFT,NVDA",
			     "sectors":["Technology","Energy"],"rsi_range":[20,80],"confidence_min":0.6,
			     "timeframe":"Intraday","universe":"sp500"}}),
		J({"op":"subscribe","id":"h","channel":"health"}),
		J({"op":"unsubscribe","id":"s1"}),
		J({"op":"ping","t":{"a":[1,2,{"b":"c"}],"d":null}}),
		J({"op":"ping"}),
		J({"op":"auth","token":"abc.def.ghi"}),
	};

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(frames); i++)
		oom_parse(frames[i]);
}

/* Renders every frame into b. */
static void render_all(struct tp_buf *b)
{
	const char *subs[] = {"s1", "s2"};

	tp_proto_hello(b, "sess", 7, "e", 1, 2.5);
	tp_proto_subscribed(b, "s1", "e", 2, true);
	tp_proto_snapshot_begin(b, "s1", 3);
	tp_buf_puts(b, "{\"id\":\"r\"}");
	tp_proto_snapshot_end(b);
	tp_proto_event(b, "pattern", 4, subs, 2, "{\"x\":1}", 7);
	tp_proto_removed(b, 5, subs, 2, "A:B:1");
	tp_proto_gap(b, "s1", "e", 6);
	tp_proto_error(b, NULL, TP_CODE_LIMIT, "too many subscriptions");
	tp_proto_pong(b, "[1,2]");
}

static void test_oom_render(void **state)
{
	struct tp_buf ref, b;
	size_t n;

	(void)state;
	tp_buf_init(&ref, 0);
	render_all(&ref);
	assert_false(ref.oom);
	for (n = 1;; n++) {
		size_t attempts;

		tp_buf_init(&b, 0);
		tp_alloc_fail_at(n);
		render_all(&b);
		attempts = tp_alloc_fail_at(0);
		if (!b.oom) {
			assert_true(attempts < n);
			assert_int_equal(b.len, ref.len);
			assert_memory_equal(tp_buf_data(&b), tp_buf_data(&ref), ref.len);
			tp_buf_cleanup(&b);
			break;
		}
		tp_buf_cleanup(&b);
	}
	assert_true(n > 1);
	tp_buf_cleanup(&ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_subscribe_defaults),
		TP_TEST(test_subscribe_preset_all_options),
		TP_TEST(test_subscribe_inline_filter),
		TP_TEST(test_filter_same_as_preset),
		TP_TEST(test_subscribe_other_channels),
		TP_TEST(test_subscribe_ids),
		TP_TEST(test_ping),
		TP_TEST(test_auth),
		TP_TEST(test_frame_bounds),
		TP_TEST(test_nesting),
		TP_TEST(test_malformed),
		TP_TEST(test_reuse),
		TP_TEST(test_render_hello),
		TP_TEST(test_render_subscribed_gap),
		TP_TEST(test_render_snapshot),
		TP_TEST(test_render_events),
		TP_TEST(test_render_event_parts),
		TP_TEST(test_render_error_pong),
		TP_TEST(test_render_headroom),
		TP_TEST(test_oom_parse),
		TP_TEST(test_oom_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
