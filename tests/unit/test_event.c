/*
 * test_event.c - TickStockPL event parsing and normalisation
 * (protocol/event.c) against docs/events.md: every accepted shape,
 * every normalisation rule, every rejection reason with the field it names,
 * independence of consecutive parses, the cache-record JSON round trip and
 * out-of-memory at every allocation.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/event.h"

/* JSON literals without a forest of backslashes. */
#define J(...) #__VA_ARGS__

#define NOW 1725460000.0
#define TTL 3600.0
/* 2025-09-04T13:33:09Z */
#define ISO_T 1756992789.0

static const struct tp_event_opts opts = {.now = NOW, .default_ttl = TTL};

static enum tp_reject parse(enum tp_channel ch, const char *json,
			    struct tp_event *ev, struct tp_errdetail *err)
{
	return tp_event_parse(ch, json, strlen(json), &opts, ev, err);
}

static void assert_near(double got, double want)
{
	if (fabs(got - want) > 1e-6) {
		print_error("got %.9f, want %.9f\n", got, want);
		fail();
	}
}

/* ------------------------------------------------------------------ */
/* Accepted pattern events                                              */

struct ok_case {
	const char *name;
	const char *json;
	enum tp_pattern_action action;
	const char *id;
	const char *symbol;
	const char *pattern_type;
	double conf, price, change, detected, expires, rs, rvol, rsi;
	enum tp_tier tier;
	const char *indicators; /* NULL: the three defaults only */
	const char *sector;
};

#define DEFAULT_IND "{\"relative_strength\":1,\"relative_volume\":1,\"rsi\":50}"

static const struct ok_case ok_cases[] = {
	{
		.name = "A nested, documented",
		.json = J({"event_type":"pattern_detected","source":"TickStockPL","timestamp":1725456789.123,
			"data":{"symbol":"AAPL","pattern":"Weekly_Breakout","confidence":0.85,"current_price":150.25,
			"price_change":2.3,"timestamp":1725456789.123,"expires_at":1725460389.123,
			"indicators":{"relative_strength":1.4,"relative_volume":2.1,"rsi":65.5,"sma_20":148.5},
			"source":"daily","flow_id":"0b6f","tier":"daily","volume":1200000}}),
		.action = TP_PA_DETECTED,
		.id = "AAPL:Weekly_Breakout:1725456789",
		.symbol = "AAPL", .pattern_type = "Weekly_Breakout",
		.conf = 0.85, .price = 150.25, .change = 2.3,
		.detected = 1725456789.123, .expires = 1725460389.123,
		.rs = 1.4, .rvol = 2.1, .rsi = 65.5, .tier = TP_TIER_DAILY,
		.indicators = "{\"relative_strength\":1.4,\"relative_volume\":2.1,\"rsi\":65.5,\"sma_20\":148.5}",
	},
	{
		.name = "B flat, lower-case symbol, defaults",
		.json = J({"event_type":"pattern_detected","source":"tickstock_pl","timestamp":1725456789.1,
			"pattern":"Doji","symbol":"aapl","confidence":0.85,"details":{"x":1}}),
		.action = TP_PA_DETECTED,
		.id = "AAPL:Doji:1725456789",
		.symbol = "AAPL", .pattern_type = "Doji",
		.conf = 0.85, .price = 0, .change = 0,
		.detected = 1725456789.1, .expires = 1725456789.1 + TTL,
		.rs = 1, .rvol = 1, .rsi = 50, .tier = TP_TIER_UNKNOWN,
	},
	{
		.name = "C double-nested, no timestamps: receive time",
		.json = J({"event_type":"pattern_detected","data":{"event_type":"pattern_detected",
			"data":{"pattern":"Support_Bounce","symbol":"TSLA","confidence":0.71}}}),
		.action = TP_PA_DETECTED,
		.id = "TSLA:Support_Bounce:1725460000",
		.symbol = "TSLA", .pattern_type = "Support_Bounce",
		.conf = 0.71, .detected = NOW, .expires = NOW + TTL,
		.rs = 1, .rvol = 1, .rsi = 50, .tier = TP_TIER_UNKNOWN,
	},
	{
		.name = "D ticker, pattern_type, price, percentage, ISO Z with fraction",
		.json = J({"event_type":"pattern_updated","data":{"ticker":"msft","pattern_type":"Bull_Flag",
			"confidence":85,"price":410.5,"timestamp":"2025-09-04T13:33:09.123Z"}}),
		.action = TP_PA_UPDATED,
		.id = "MSFT:Bull_Flag:1756992789",
		.symbol = "MSFT", .pattern_type = "Bull_Flag",
		.conf = 0.85, .price = 410.5,
		.detected = ISO_T + 0.123, .expires = ISO_T + 0.123 + TTL,
		.rs = 1, .rvol = 1, .rsi = 50, .tier = TP_TIER_UNKNOWN,
	},
	{
		.name = "D pattern_name, +02:00 offset, expires_at without offset",
		.json = J({"event_type":"pattern_detected","data":{"symbol":"NVDA","pattern_name":"Gap_Fill",
			"confidence":0.6,"timestamp":"2025-09-04T15:33:09+02:00",
			"expires_at":"2025-09-04T14:33:09"}}),
		.action = TP_PA_DETECTED,
		.id = "NVDA:Gap_Fill:1756992789",
		.symbol = "NVDA", .pattern_type = "Gap_Fill",
		.conf = 0.6, .detected = ISO_T, .expires = ISO_T + 3600,
		.rs = 1, .rvol = 1, .rsi = 50, .tier = TP_TIER_UNKNOWN,
	},
	{
		.name = "D detected_at, -05:00 offset, epoch expires_at, tier from tier",
		.json = J({"event_type":"pattern_detected","timestamp":1000,"data":{"symbol":"BRK.B",
			"pattern":"Hammer","confidence":1,"detected_at":"2025-09-04T08:33:09-05:00",
			"expires_at":1756999999,"source":"scanner","tier":"INTRADAY"}}),
		.action = TP_PA_DETECTED,
		.id = "BRK.B:Hammer:1756992789",
		.symbol = "BRK.B", .pattern_type = "Hammer",
		.conf = 1, .detected = ISO_T, .expires = 1756999999,
		.rs = 1, .rvol = 1, .rsi = 50, .tier = TP_TIER_INTRADAY,
	},
	{
		.name = "combo tier, passthrough indicator keys, partial defaults",
		.json = J({"event_type":"pattern_detected","data":{"symbol":"BTC/USD","pattern":"Engulfing",
			"confidence":0.5,"timestamp":1725456000,"source":"Combo",
			"indicators":{"relative_strength":2,"macd":{"signal":-0.5,"hist":[1,2,null,true]},"note":"x\ny"}}}),
		.action = TP_PA_DETECTED,
		.id = "BTC/USD:Engulfing:1725456000",
		.symbol = "BTC/USD", .pattern_type = "Engulfing",
		.conf = 0.5, .detected = 1725456000, .expires = 1725456000 + TTL,
		.rs = 2, .rvol = 1, .rsi = 50, .tier = TP_TIER_COMBO,
		.indicators = "{\"relative_strength\":2,\"relative_volume\":1,\"rsi\":50,"
			      "\"macd\":{\"signal\":-0.5,\"hist\":[1,2,null,true]},\"note\":\"x\\ny\"}",
	},
	{
		.name = "innermost wins; top-level timestamp is the fallback",
		.json = J({"event_type":"pattern_detected","timestamp":1725450000.75,"symbol":"WRONG",
			"confidence":0.1,"data":{"symbol":"ES_F-1","pattern":"Volume_Spike","confidence":0.9,
			"current_price":-1.5,"price_change":-3.25,"sector":"Technology"}}),
		.action = TP_PA_DETECTED,
		.id = "ES_F-1:Volume_Spike:1725450000",
		.symbol = "ES_F-1", .pattern_type = "Volume_Spike",
		.conf = 0.9, .price = -1.5, .change = -3.25,
		.detected = 1725450000.75, .expires = 1725450000.75 + TTL,
		.rs = 1, .rvol = 1, .rsi = 50, .tier = TP_TIER_UNKNOWN,
		.sector = "Technology",
	},
	{
		.name = "null optionals are absent, 100 is 100 percent",
		.json = J({"event_type":"pattern_detected","symbol":"AMD","pattern":"Bull_Flag",
			"confidence":100,"current_price":null,"indicators":null,"expires_at":null,
			"timestamp":1725456789}),
		.action = TP_PA_DETECTED,
		.id = "AMD:Bull_Flag:1725456789",
		.symbol = "AMD", .pattern_type = "Bull_Flag",
		.conf = 1, .detected = 1725456789, .expires = 1725456789 + TTL,
		.rs = 1, .rvol = 1, .rsi = 50, .tier = TP_TIER_UNKNOWN,
	},
	{
		.name = "1.5 is a percentage, indicator edges 0 and 100",
		.json = J({"event_type":"pattern_detected","symbol":"X","pattern":"P","confidence":1.5,
			"timestamp":1725456789,"indicators":{"relative_strength":0,"relative_volume":0,"rsi":100}}),
		.action = TP_PA_DETECTED,
		.id = "X:P:1725456789",
		.symbol = "X", .pattern_type = "P",
		.conf = 0.015, .detected = 1725456789, .expires = 1725456789 + TTL,
		.rs = 0, .rvol = 0, .rsi = 100, .tier = TP_TIER_UNKNOWN,
		.indicators = "{\"relative_strength\":0,\"relative_volume\":0,\"rsi\":100}",
	},
	{
		.name = "expired with explicit pattern_id, no confidence",
		.json = J({"event_type":"pattern_expired","data":{"pattern_id":"AAPL:Doji:1725456789"}}),
		.action = TP_PA_EXPIRED,
		.id = "AAPL:Doji:1725456789",
		.symbol = "", .pattern_type = "",
		.conf = 0, .detected = NOW, .expires = NOW + TTL,
		.rs = 1, .rvol = 1, .rsi = 50, .tier = TP_TIER_UNKNOWN,
	},
	{
		.name = "expired: id built from symbol, pattern, detected_at",
		.json = J({"event_type":"pattern_expired","timestamp":1725456789.9,
			"data":{"symbol":"aapl","pattern":"Doji"}}),
		.action = TP_PA_EXPIRED,
		.id = "AAPL:Doji:1725456789",
		.symbol = "AAPL", .pattern_type = "Doji",
		.conf = 0, .detected = 1725456789.9, .expires = 1725456789.9 + TTL,
		.rs = 1, .rvol = 1, .rsi = 50, .tier = TP_TIER_UNKNOWN,
	},
	{
		.name = "whitespace around the object, UTF-8 pattern name",
		.json = " \r\n{\"event_type\":\"pattern_detected\",\"symbol\":\"SAP\","
			"\"pattern\":\"Drei_Ra\xc3\xbc" "ben\",\"confidence\":0.5,"
			"\"timestamp\":1725456789}\n\t ",
		.action = TP_PA_DETECTED,
		.id = "SAP:Drei_Ra\xc3\xbc" "ben:1725456789",
		.symbol = "SAP", .pattern_type = "Drei_Ra\xc3\xbc" "ben",
		.conf = 0.5, .detected = 1725456789, .expires = 1725456789 + TTL,
		.rs = 1, .rvol = 1, .rsi = 50, .tier = TP_TIER_UNKNOWN,
	},
};

static void check_ok(const struct ok_case *c, const struct tp_event *ev)
{
	const struct tp_pattern *p = &ev->pattern;

	assert_int_equal(ev->kind, TP_EV_PATTERN);
	assert_int_equal(ev->action, c->action);
	assert_string_equal(p->id, c->id);
	assert_string_equal(p->symbol, c->symbol);
	assert_string_equal(p->pattern_type, c->pattern_type);
	assert_near(p->confidence, c->conf);
	assert_near(p->current_price, c->price);
	assert_near(p->price_change, c->change);
	assert_near(p->detected_at, c->detected);
	assert_near(p->expires_at, c->expires);
	assert_near(p->rs, c->rs);
	assert_near(p->rvol, c->rvol);
	assert_near(p->rsi, c->rsi);
	assert_int_equal(p->tier, c->tier);
	assert_non_null(p->indicators_json);
	assert_string_equal(p->indicators_json,
			    c->indicators ? c->indicators : DEFAULT_IND);
	assert_string_equal(p->sector, c->sector ? c->sector : "");
	assert_null(ev->data_json);
}

static void test_accepted_shapes(void **state)
{
	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(ok_cases); i++) {
		struct tp_event ev;
		struct tp_errdetail err;
		enum tp_reject r;

		print_message("case: %s\n", ok_cases[i].name);
		r = parse(TP_CH_PATTERNS, ok_cases[i].json, &ev, &err);
		if (r != TP_REJECT_NONE)
			print_error("rejected %s: %s\n", tp_reject_name(r), err.msg);
		assert_int_equal(r, TP_REJECT_NONE);
		check_ok(&ok_cases[i], &ev);
		tp_event_cleanup(&ev);
		assert_null(ev.pattern.indicators_json);
		tp_event_cleanup(&ev); /* idempotent */
	}
}

static void test_event_timestamp(void **state)
{
	struct tp_event ev;

	(void)state;
	/* The root's timestamp is the event time even when data has its own. */
	assert_int_equal(parse(TP_CH_PATTERNS, ok_cases[0].json, &ev, NULL),
			 TP_REJECT_NONE);
	assert_near(ev.timestamp, 1725456789.123);
	tp_event_cleanup(&ev);
	assert_int_equal(parse(TP_CH_PATTERNS, ok_cases[2].json, &ev, NULL),
			 TP_REJECT_NONE);
	assert_near(ev.timestamp, NOW);
	tp_event_cleanup(&ev);
}

/* Exactly TP_EVENT_MAX_BYTES is accepted, one more byte is not. */
static void test_size_limit(void **state)
{
	const char *ev_json = ok_cases[1].json;
	size_t n = strlen(ev_json);
	char *big = tp_malloc(TP_EVENT_MAX_BYTES + 1);
	struct tp_event ev;
	struct tp_errdetail err;

	(void)state;
	assert_non_null(big);
	memcpy(big, ev_json, n);
	memset(big + n, ' ', TP_EVENT_MAX_BYTES + 1 - n);
	assert_int_equal(tp_event_parse(TP_CH_PATTERNS, big, TP_EVENT_MAX_BYTES,
					&opts, &ev, &err),
			 TP_REJECT_NONE);
	assert_string_equal(ev.pattern.symbol, "AAPL");
	tp_event_cleanup(&ev);
	assert_int_equal(tp_event_parse(TP_CH_PATTERNS, big,
					TP_EVENT_MAX_BYTES + 1, &opts, &ev, &err),
			 TP_REJECT_TOO_LARGE);
	assert_string_equal(err.field, "message");
	tp_free(big);
}

/* The parser must not need a terminating NUL. */
static void test_not_nul_terminated(void **state)
{
	const char *src = ok_cases[0].json;
	size_t n = strlen(src);
	char *copy = tp_malloc(n);
	struct tp_event ev;

	(void)state;
	assert_non_null(copy);
	memcpy(copy, src, n);
	assert_int_equal(tp_event_parse(TP_CH_PATTERNS, copy, n, &opts, &ev,
					NULL),
			 TP_REJECT_NONE);
	assert_string_equal(ev.pattern.id, "AAPL:Weekly_Breakout:1725456789");
	tp_event_cleanup(&ev);
	/* A prefix cut inside the object is bad JSON, not an over-read. */
	assert_int_equal(tp_event_parse(TP_CH_PATTERNS, copy, n - 1, &opts,
					&ev, NULL),
			 TP_REJECT_BAD_JSON);
	tp_free(copy);
}

/* ------------------------------------------------------------------ */
/* Backtest and health events                                           */

struct other_case {
	const char *name;
	enum tp_channel ch;
	const char *json;
	enum tp_event_kind kind;
	const char *job_id;
	const char *status;
	double progress;
	double timestamp;
	const char *data_json;
};

static const struct other_case other_cases[] = {
	{
		.name = "backtest_progress, documented",
		.ch = TP_CH_BACKTEST_PROGRESS,
		.json = J({"event_type":"backtest_progress","source":"tickstock_pl","timestamp":1725456789.1,
			"job_id":"job_123","progress":0.45,"status":"processing",
			"estimated_completion":1725456954.1,"current_symbol":"aapl","processed_symbols":45}),
		.kind = TP_EV_BACKTEST_PROGRESS,
		.job_id = "job_123", .status = "processing", .progress = 0.45,
		.timestamp = 1725456789.1,
		.data_json = "{\"job_id\":\"job_123\",\"progress\":0.45,\"status\":\"processing\","
			     "\"estimated_completion\":1725456954.1,\"current_symbol\":\"AAPL\","
			     "\"processed_symbols\":45}",
	},
	{
		.name = "backtest_progress in a data envelope, percent, default status",
		.ch = TP_CH_BACKTEST_PROGRESS,
		.json = J({"event_type":"backtest_progress","timestamp":"2025-09-04T13:33:09Z",
			"data":{"job_id":"bt:2025.09-04_x","progress":45,"estimated_completion":"2025-09-04T13:43:09Z"}}),
		.kind = TP_EV_BACKTEST_PROGRESS,
		.job_id = "bt:2025.09-04_x", .status = "processing", .progress = 0.45,
		.timestamp = ISO_T,
		.data_json = "{\"job_id\":\"bt:2025.09-04_x\",\"progress\":0.45,\"status\":\"processing\","
			     "\"estimated_completion\":1756993389}",
	},
	{
		.name = "backtest_result, documented",
		.ch = TP_CH_BACKTEST_RESULTS,
		.json = J({"event_type":"backtest_result","source":"tickstock_pl","timestamp":1725456834.3,
			"job_id":"job_123","status":"completed","results":{"win_rate":0.65,"total_trades":150,
			"roi":0.12,"sharpe_ratio":1.8,"max_drawdown":0.05},"processing_time_seconds":45.2}),
		.kind = TP_EV_BACKTEST_RESULT,
		.job_id = "job_123", .status = "completed", .progress = 0,
		.timestamp = 1725456834.3,
		.data_json = "{\"job_id\":\"job_123\",\"status\":\"completed\",\"results\":{\"win_rate\":0.65,"
			     "\"total_trades\":150,\"roi\":0.12,\"sharpe_ratio\":1.8,\"max_drawdown\":0.05},"
			     "\"processing_time_seconds\":45.2}",
	},
	{
		.name = "backtest_result, minimal: defaults",
		.ch = TP_CH_BACKTEST_RESULTS,
		.json = J({"event_type":"backtest_result","data":{"job_id":"j1"}}),
		.kind = TP_EV_BACKTEST_RESULT,
		.job_id = "j1", .status = "completed", .timestamp = NOW,
		.data_json = "{\"job_id\":\"j1\",\"status\":\"completed\",\"results\":{}}",
	},
	{
		.name = "system_health, documented",
		.ch = TP_CH_HEALTH,
		.json = J({"event_type":"system_health","source":"tickstock_pl","timestamp":1725456789.1,
			"status":"healthy","metrics":{"cpu_usage":0.35,"memory_usage":0.62,"active_jobs":3,
			"queue_depth":12,"uptime_hours":72.5}}),
		.kind = TP_EV_SYSTEM_HEALTH,
		.job_id = "", .status = "healthy", .timestamp = 1725456789.1,
		.data_json = "{\"status\":\"healthy\",\"metrics\":{\"cpu_usage\":0.35,\"memory_usage\":0.62,"
			     "\"active_jobs\":3,\"queue_depth\":12,\"uptime_hours\":72.5},"
			     "\"timestamp\":1725456789.1}",
	},
	{
		.name = "system_health without metrics or timestamp",
		.ch = TP_CH_HEALTH,
		.json = J({"event_type":"system_health","data":{"status":"degraded"}}),
		.kind = TP_EV_SYSTEM_HEALTH,
		.job_id = "", .status = "degraded", .timestamp = NOW,
		.data_json = "{\"status\":\"degraded\",\"metrics\":{},\"timestamp\":1725460000}",
	},
};

static void test_backtest_and_health(void **state)
{
	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(other_cases); i++) {
		const struct other_case *c = &other_cases[i];
		struct tp_event ev;
		struct tp_errdetail err;
		enum tp_reject r;

		print_message("case: %s\n", c->name);
		r = parse(c->ch, c->json, &ev, &err);
		if (r != TP_REJECT_NONE)
			print_error("rejected %s: %s\n", tp_reject_name(r), err.msg);
		assert_int_equal(r, TP_REJECT_NONE);
		assert_int_equal(ev.kind, c->kind);
		assert_string_equal(ev.job_id, c->job_id);
		assert_string_equal(ev.status, c->status);
		assert_near(ev.progress, c->progress);
		assert_near(ev.timestamp, c->timestamp);
		assert_non_null(ev.data_json);
		assert_string_equal(ev.data_json, c->data_json);
		assert_null(ev.pattern.indicators_json);
		tp_event_cleanup(&ev);
		assert_null(ev.data_json);
	}
}

/* ------------------------------------------------------------------ */
/* Rejections                                                           */

struct bad_case {
	const char *name;
	enum tp_channel ch;
	const char *json;
	enum tp_reject want;
	const char *field;
};

#define PAT TP_CH_PATTERNS

static const struct bad_case bad_cases[] = {
	{"not JSON", PAT, "{not json", TP_REJECT_BAD_JSON, "message"},
	{"empty", PAT, "", TP_REJECT_BAD_JSON, "message"},
	{"truncated", PAT, "{\"event_type\":\"pattern_detected\",\"symbol\":\"AA", TP_REJECT_BAD_JSON, "message"},
	{"trailing garbage", PAT, J({"event_type":"pattern_detected"} x), TP_REJECT_BAD_JSON, "message"},
	{"two objects", PAT, J({"a":1}{"b":2}), TP_REJECT_BAD_JSON, "message"},
	{"array", PAT, J([1,2]), TP_REJECT_NOT_OBJECT, "message"},
	{"number", PAT, "42", TP_REJECT_NOT_OBJECT, "message"},
	{"string", PAT, J("pattern_detected"), TP_REJECT_NOT_OBJECT, "message"},
	{"null", PAT, "null", TP_REJECT_NOT_OBJECT, "message"},
	{"diagnostic on patterns", PAT, J({"test":"health_check","timestamp":1725456789}), TP_REJECT_DIAGNOSTIC, "test"},
	{"diagnostic on health", TP_CH_HEALTH, J({"test":"health_check","timestamp":1725456789}), TP_REJECT_DIAGNOSTIC, "test"},
	{"diagnostic on progress", TP_CH_BACKTEST_PROGRESS, J({"test":true}), TP_REJECT_DIAGNOSTIC, "test"},
	{"diagnostic on results", TP_CH_BACKTEST_RESULTS, J({"test":"ping"}), TP_REJECT_DIAGNOSTIC, "test"},
	{"no event_type", PAT, J({"symbol":"AAPL","pattern":"Doji","confidence":0.5}), TP_REJECT_UNKNOWN_TYPE, "event_type"},
	{"unknown event_type", PAT, J({"event_type":"pattern_exploded","symbol":"AAPL"}), TP_REJECT_UNKNOWN_TYPE, "event_type"},
	{"event_type case", PAT, J({"event_type":"Pattern_Detected","symbol":"AAPL"}), TP_REJECT_UNKNOWN_TYPE, "event_type"},
	{"event_type number", PAT, J({"event_type":5}), TP_REJECT_BAD_TYPE, "event_type"},
	{"progress on patterns", PAT, J({"event_type":"backtest_progress","job_id":"j","progress":0.5}), TP_REJECT_WRONG_CHANNEL, "event_type"},
	{"health on patterns", PAT, J({"event_type":"system_health","status":"healthy"}), TP_REJECT_WRONG_CHANNEL, "event_type"},
	{"pattern on health", TP_CH_HEALTH, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":0.5}), TP_REJECT_WRONG_CHANNEL, "event_type"},
	{"result on progress", TP_CH_BACKTEST_PROGRESS, J({"event_type":"backtest_result","job_id":"j"}), TP_REJECT_WRONG_CHANNEL, "event_type"},
	{"missing symbol", PAT, J({"event_type":"pattern_detected","pattern":"Doji","confidence":0.5}), TP_REJECT_MISSING_FIELD, "symbol"},
	{"null symbol", PAT, J({"event_type":"pattern_detected","symbol":null,"pattern":"Doji","confidence":0.5}), TP_REJECT_MISSING_FIELD, "symbol"},
	{"missing pattern", PAT, J({"event_type":"pattern_detected","data":{"symbol":"A","confidence":0.5}}), TP_REJECT_MISSING_FIELD, "pattern_type"},
	{"missing confidence", PAT, J({"event_type":"pattern_detected","data":{"symbol":"A","pattern":"P"}}), TP_REJECT_MISSING_FIELD, "confidence"},
	{"symbol number", PAT, J({"event_type":"pattern_detected","symbol":5,"pattern":"P","confidence":0.5}), TP_REJECT_BAD_TYPE, "symbol"},
	{"symbol space", PAT, J({"event_type":"pattern_detected","symbol":"AA PL","pattern":"P","confidence":0.5}), TP_REJECT_BAD_SYMBOL, "symbol"},
	{"symbol empty", PAT, J({"event_type":"pattern_detected","symbol":"","pattern":"P","confidence":0.5}), TP_REJECT_BAD_SYMBOL, "symbol"},
	{"symbol 17 chars", PAT, J({"event_type":"pattern_detected","symbol":"ABCDEFGHIJKLMNOPQ","pattern":"P","confidence":0.5}), TP_REJECT_BAD_SYMBOL, "symbol"},
	{"symbol non-ASCII", PAT, "{\"event_type\":\"pattern_detected\",\"ticker\":\"\xc3\x84PL\",\"pattern\":\"P\",\"confidence\":0.5}", TP_REJECT_BAD_SYMBOL, "symbol"},
	{"symbol colon", PAT, J({"event_type":"pattern_detected","symbol":"A:B","pattern":"P","confidence":0.5}), TP_REJECT_BAD_SYMBOL, "symbol"},
	{"pattern number", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":3,"confidence":0.5}), TP_REJECT_BAD_TYPE, "pattern_type"},
	{"pattern empty", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"","confidence":0.5}), TP_REJECT_OUT_OF_RANGE, "pattern_type"},
	{"pattern 65 bytes", PAT, J({"event_type":"pattern_detected","symbol":"A","confidence":0.5,
		"pattern":"12345678901234567890123456789012345678901234567890123456789012345"}), TP_REJECT_OUT_OF_RANGE, "pattern_type"},
	{"pattern control char", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"Bull\nFlag","confidence":0.5}), TP_REJECT_OUT_OF_RANGE, "pattern_type"},
	{"pattern invalid UTF-8", PAT, "{\"event_type\":\"pattern_detected\",\"symbol\":\"A\",\"pattern\":\"Bull\xff\",\"confidence\":0.5}", TP_REJECT_OUT_OF_RANGE, "pattern_type"},
	{"confidence string", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":"0.85"}), TP_REJECT_BAD_TYPE, "confidence"},
	{"confidence negative", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":-0.1}), TP_REJECT_OUT_OF_RANGE, "confidence"},
	{"confidence over 100", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":100.5}), TP_REJECT_OUT_OF_RANGE, "confidence"},
	{"confidence infinite", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":1e999}), TP_REJECT_OUT_OF_RANGE, "confidence"},
	{"price string", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":0.5,"current_price":"150"}), TP_REJECT_BAD_TYPE, "current_price"},
	{"price infinite", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":0.5,"price":-1e999}), TP_REJECT_OUT_OF_RANGE, "current_price"},
	{"change bool", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":0.5,"price_change":true}), TP_REJECT_BAD_TYPE, "price_change"},
	{"timestamp words", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":0.5,"timestamp":"yesterday"}), TP_REJECT_BAD_TIME, "timestamp"},
	{"detected_at month 13", PAT, J({"event_type":"pattern_detected","data":{"symbol":"A","pattern":"P","confidence":0.5,"detected_at":"2025-13-01T00:00:00Z"}}), TP_REJECT_BAD_TIME, "detected_at"},
	{"detected_at Feb 30", PAT, J({"event_type":"pattern_detected","data":{"symbol":"A","pattern":"P","confidence":0.5,"detected_at":"2025-02-30T00:00:00Z"}}), TP_REJECT_BAD_TIME, "detected_at"},
	{"expires_at bad offset", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":0.5,"expires_at":"2025-09-04T13:33:09+25:00"}), TP_REJECT_BAD_TIME, "expires_at"},
	{"timestamp infinite", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":0.5,"timestamp":1e999}), TP_REJECT_BAD_TIME, "timestamp"},
	{"timestamp negative", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":0.5,"timestamp":-5}), TP_REJECT_OUT_OF_RANGE, "timestamp"},
	{"timestamp in ms", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":0.5,"timestamp":1725456789123}), TP_REJECT_OUT_OF_RANGE, "timestamp"},
	{"timestamp array", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":0.5,"timestamp":[]}), TP_REJECT_BAD_TYPE, "timestamp"},
	{"indicators array", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":0.5,"indicators":[]}), TP_REJECT_BAD_TYPE, "indicators"},
	{"rsi over 100", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":0.5,"indicators":{"rsi":101}}), TP_REJECT_OUT_OF_RANGE, "indicators.rsi"},
	{"rvol negative", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":0.5,"indicators":{"relative_volume":-1}}), TP_REJECT_OUT_OF_RANGE, "indicators.relative_volume"},
	{"rs string", PAT, J({"event_type":"pattern_detected","symbol":"A","pattern":"P","confidence":0.5,"indicators":{"relative_strength":"1.4"}}), TP_REJECT_BAD_TYPE, "indicators.relative_strength"},
	{"expired without id or symbol", PAT, J({"event_type":"pattern_expired","data":{"pattern":"Doji"}}), TP_REJECT_MISSING_FIELD, "symbol"},
	{"expired id number", PAT, J({"event_type":"pattern_expired","id":5}), TP_REJECT_BAD_TYPE, "id"},
	{"progress missing job_id", TP_CH_BACKTEST_PROGRESS, J({"event_type":"backtest_progress","progress":0.5}), TP_REJECT_MISSING_FIELD, "job_id"},
	{"job_id number", TP_CH_BACKTEST_PROGRESS, J({"event_type":"backtest_progress","job_id":7,"progress":0.5}), TP_REJECT_BAD_TYPE, "job_id"},
	{"job_id bad chars", TP_CH_BACKTEST_PROGRESS, J({"event_type":"backtest_progress","job_id":"bad id!","progress":0.5}), TP_REJECT_OUT_OF_RANGE, "job_id"},
	{"job_id 65 chars", TP_CH_BACKTEST_RESULTS, J({"event_type":"backtest_result",
		"job_id":"12345678901234567890123456789012345678901234567890123456789012345"}), TP_REJECT_OUT_OF_RANGE, "job_id"},
	{"progress missing", TP_CH_BACKTEST_PROGRESS, J({"event_type":"backtest_progress","job_id":"j"}), TP_REJECT_MISSING_FIELD, "progress"},
	{"progress string", TP_CH_BACKTEST_PROGRESS, J({"event_type":"backtest_progress","job_id":"j","progress":"50%"}), TP_REJECT_BAD_TYPE, "progress"},
	{"progress over 100", TP_CH_BACKTEST_PROGRESS, J({"event_type":"backtest_progress","job_id":"j","progress":101}), TP_REJECT_OUT_OF_RANGE, "progress"},
	{"progress bad symbol", TP_CH_BACKTEST_PROGRESS, J({"event_type":"backtest_progress","job_id":"j","progress":0.1,"current_symbol":"a b"}), TP_REJECT_BAD_SYMBOL, "current_symbol"},
	{"progress bad eta", TP_CH_BACKTEST_PROGRESS, J({"event_type":"backtest_progress","job_id":"j","progress":0.1,"estimated_completion":"soon"}), TP_REJECT_BAD_TIME, "estimated_completion"},
	{"processed negative", TP_CH_BACKTEST_PROGRESS, J({"event_type":"backtest_progress","job_id":"j","progress":0.1,"processed_symbols":-1}), TP_REJECT_OUT_OF_RANGE, "processed_symbols"},
	{"status 32 chars", TP_CH_BACKTEST_PROGRESS, J({"event_type":"backtest_progress","job_id":"j","progress":0.1,
		"status":"12345678901234567890123456789012"}), TP_REJECT_OUT_OF_RANGE, "status"},
	{"results array", TP_CH_BACKTEST_RESULTS, J({"event_type":"backtest_result","job_id":"j","results":[1]}), TP_REJECT_BAD_TYPE, "results"},
	{"processing time string", TP_CH_BACKTEST_RESULTS, J({"event_type":"backtest_result","job_id":"j","processing_time_seconds":"45"}), TP_REJECT_BAD_TYPE, "processing_time_seconds"},
	{"health missing status", TP_CH_HEALTH, J({"event_type":"system_health","metrics":{}}), TP_REJECT_MISSING_FIELD, "status"},
	{"health status number", TP_CH_HEALTH, J({"event_type":"system_health","status":1}), TP_REJECT_BAD_TYPE, "status"},
	{"health metrics string", TP_CH_HEALTH, J({"event_type":"system_health","status":"ok","metrics":"x"}), TP_REJECT_BAD_TYPE, "metrics"},
};

static void test_rejections(void **state)
{
	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct tp_event ev;
		struct tp_errdetail err;
		enum tp_reject r;

		print_message("case: %s\n", c->name);
		memset(&ev, 0x5a, sizeof(ev)); /* garbage in: must come out empty */
		r = parse(c->ch, c->json, &ev, &err);
		if (r != c->want)
			print_error("got %s (%s), want %s\n", tp_reject_name(r),
				    err.msg, tp_reject_name(c->want));
		assert_int_equal(r, c->want);
		assert_non_null(err.field);
		assert_string_equal(err.field, c->field);
		/* The message starts with the field it names. */
		assert_int_equal(strncmp(err.msg, c->field, strlen(c->field)), 0);
		assert_int_equal(err.msg[strlen(c->field)], ':');
		assert_null(ev.pattern.indicators_json);
		assert_null(ev.data_json);
		assert_string_equal(ev.pattern.symbol, "");
		tp_event_cleanup(&ev); /* harmless after a failure */
		/* The same with err == NULL. */
		assert_int_equal(parse(c->ch, c->json, &ev, NULL), c->want);
	}
}

static void test_error_messages(void **state)
{
	struct tp_event ev;
	struct tp_errdetail err;

	(void)state;
	assert_int_equal(parse(PAT, J({"event_type":"pattern_detected","symbol":"A",
				      "pattern":"P","confidence":250}),
			       &ev, &err),
			 TP_REJECT_OUT_OF_RANGE);
	assert_string_equal(err.msg,
			    "confidence: must be a number in [0,1] or a percentage in (1,100]");
	assert_int_equal(parse(PAT, J({"event_type":"pattern_detected","symbol":"a$",
				      "pattern":"P","confidence":0.5}),
			       &ev, &err),
			 TP_REJECT_BAD_SYMBOL);
	assert_string_equal(err.msg,
			    "symbol: must be 1..16 characters of A-Z 0-9 . - _ /");
	assert_int_equal(parse(TP_CH_HEALTH, J({"event_type":"backtest_progress"}),
			       &ev, &err),
			 TP_REJECT_WRONG_CHANNEL);
	assert_string_equal(err.msg,
			    "event_type: backtest_progress does not belong on the health channel");
}

/* A rejected event leaves nothing behind that changes the next parse. */
static void test_bad_then_good(void **state)
{
	const char *good = ok_cases[0].json;
	/* Fails late: symbol, pattern and confidence were already filled in. */
	const char *bad = J({"event_type":"pattern_detected","data":{"symbol":"ZZZ",
		"pattern":"Hammer","confidence":0.5,"indicators":{"rsi":10,"k":[1]},
		"expires_at":"never"}});
	struct tp_event ev1, ev2;
	struct tp_buf b1, b2;

	(void)state;
	assert_int_equal(parse(PAT, good, &ev1, NULL), TP_REJECT_NONE);
	for (size_t i = 0; i < TP_ARRAY_SIZE(bad_cases); i++)
		assert_int_equal(parse(bad_cases[i].ch, bad_cases[i].json, &ev2,
				       NULL),
				 bad_cases[i].want);
	assert_int_equal(parse(PAT, bad, &ev2, NULL), TP_REJECT_BAD_TIME);
	assert_int_equal(parse(PAT, good, &ev2, NULL), TP_REJECT_NONE);
	check_ok(&ok_cases[0], &ev2);
	tp_buf_init(&b1, 0);
	tp_buf_init(&b2, 0);
	tp_pattern_to_json(&b1, &ev1.pattern);
	tp_pattern_to_json(&b2, &ev2.pattern);
	assert_string_equal(tp_buf_cstr(&b1), tp_buf_cstr(&b2));
	tp_buf_cleanup(&b1);
	tp_buf_cleanup(&b2);
	tp_event_cleanup(&ev1);
	tp_event_cleanup(&ev2);
}

/* ------------------------------------------------------------------ */
/* ISO-8601                                                             */

static void test_iso8601(void **state)
{
	static const struct {
		const char *s;
		double want;
	} good[] = {
		{"2025-09-04T13:33:09Z", ISO_T},
		{"2025-09-04T13:33:09z", ISO_T},
		{"2025-09-04t13:33:09", ISO_T},
		{"2025-09-04 13:33:09", ISO_T},
		{"2025-09-04T13:33:09.5Z", ISO_T + 0.5},
		{"2025-09-04T13:33:09,25Z", ISO_T + 0.25},
		{"2025-09-04T13:33:09.123456+00:00", ISO_T + 0.123456},
		{"2025-09-04T13:33:09.1234567891234Z", ISO_T + 0.123456789},
		{"2025-09-04T15:33:09+02:00", ISO_T},
		{"2025-09-04T15:33:09+0200", ISO_T},
		{"2025-09-04T15:33:09+02", ISO_T},
		{"2025-09-04T08:03:09-05:30", ISO_T},
		{"2025-09-04T13:33Z", ISO_T - 9},
		{"2024-02-29T00:00:00Z", 1709164800},
		{"2000-03-01T00:00:00Z", 951868800},
		{"1970-01-01T00:00:01Z", 1},
		{"2099-12-31T23:59:59Z", 4102444799.0},
	};
	static const char *const bad[] = {
		"", "2025", "2025-09-04", "2025-09-04T", "2025-9-04T13:33:09Z",
		"2025-09-04T13:33:09.Z", "2025-09-04T13:33:09Zjunk",
		"2025-09-04T24:00:00Z", "2025-09-04T13:60:00Z",
		"2025-09-04T13:33:61Z", "2025-02-29T00:00:00Z",
		"2025-00-10T00:00:00Z", "2025-09-00T00:00:00Z",
		"2025-09-04T13:33:09+24:00", "2025-09-04T13:33:09+02:60",
		"2025-09-04T13:33:09+2", "2025-09-04X13:33:09Z",
		" 2025-09-04T13:33:09Z", "2025-09-04T13:33:09Z ",
		"2025-09-04T13:33:09+02:0", "2025-09-04T13:3:09Z",
	};
	double t;

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(good); i++) {
		t = -1;
		print_message("iso: %s\n", good[i].s);
		assert_true(tp_parse_iso8601(good[i].s, &t));
		assert_near(t, good[i].want);
	}
	for (size_t i = 0; i < TP_ARRAY_SIZE(bad); i++) {
		t = -1;
		print_message("iso (bad): \"%s\"\n", bad[i]);
		assert_false(tp_parse_iso8601(bad[i], &t));
		assert_true(t == -1); /* untouched */
	}
	assert_false(tp_parse_iso8601(NULL, &t));
}

/* ------------------------------------------------------------------ */
/* Cache record JSON                                                    */

static void assert_same_pattern(const struct tp_pattern *a,
				const struct tp_pattern *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->symbol, b->symbol);
	assert_string_equal(a->pattern_type, b->pattern_type);
	assert_string_equal(a->sector, b->sector);
	/* Numbers are written in shortest round-trip form: exact equality. */
	assert_true(a->confidence == b->confidence);
	assert_true(a->current_price == b->current_price);
	assert_true(a->price_change == b->price_change);
	assert_true(a->detected_at == b->detected_at);
	assert_true(a->expires_at == b->expires_at);
	assert_true(a->rs == b->rs);
	assert_true(a->rvol == b->rvol);
	assert_true(a->rsi == b->rsi);
	assert_int_equal(a->tier, b->tier);
	assert_string_equal(a->indicators_json, b->indicators_json);
}

static void test_record_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(ok_cases); i++) {
		struct tp_event ev;
		struct tp_pattern back;
		struct tp_buf b, b2;
		struct tp_errdetail err;
		enum tp_reject r;

		if (ok_cases[i].action == TP_PA_EXPIRED)
			continue;
		print_message("case: %s\n", ok_cases[i].name);
		assert_int_equal(parse(PAT, ok_cases[i].json, &ev, NULL),
				 TP_REJECT_NONE);
		tp_buf_init(&b, 0);
		tp_buf_init(&b2, 0);
		tp_pattern_to_json(&b, &ev.pattern);
		r = tp_pattern_from_json(tp_buf_data(&b), b.len, &back, &err);
		if (r)
			print_error("%s: %s\n", tp_reject_name(r), err.msg);
		assert_int_equal(r, TP_REJECT_NONE);
		assert_same_pattern(&ev.pattern, &back);
		tp_pattern_to_json(&b2, &back);
		assert_string_equal(tp_buf_cstr(&b), tp_buf_cstr(&b2));
		tp_pattern_cleanup(&back);
		tp_buf_cleanup(&b);
		tp_buf_cleanup(&b2);
		tp_event_cleanup(&ev);
	}
}

static void test_record_exact(void **state)
{
	struct tp_event ev;
	struct tp_buf b;

	(void)state;
	assert_int_equal(parse(PAT, ok_cases[0].json, &ev, NULL), TP_REJECT_NONE);
	tp_buf_init(&b, 0);
	tp_pattern_to_json(&b, &ev.pattern);
	assert_string_equal(tp_buf_cstr(&b),
		"{\"id\":\"AAPL:Weekly_Breakout:1725456789\",\"symbol\":\"AAPL\","
		"\"pattern_type\":\"Weekly_Breakout\",\"confidence\":0.85,"
		"\"current_price\":150.25,\"price_change\":2.3,"
		"\"detected_at\":1725456789.123,\"expires_at\":1725460389.123,"
		"\"indicators\":{\"relative_strength\":1.4,\"relative_volume\":2.1,"
		"\"rsi\":65.5,\"sma_20\":148.5},\"source_tier\":\"daily\"}");
	tp_buf_cleanup(&b);
	tp_event_cleanup(&ev);
}

/* Records written by the original system. */
static void test_record_original(void **state)
{
	const char *orig = J({"symbol":"aapl","pattern":"Doji","confidence":0.8,
		"detected_at":1725456789.5,"source":"Daily","current_price":10,
		"indicators":{"rsi":30,"x":"y"},"sector":"Tech"});
	const char *orig2 = J({"id":"AAPL:Doji:1","symbol":"AAPL","pattern_type":"Doji",
		"confidence":0.8,"timestamp":"2025-09-04T13:33:09Z",
		"expires_at":1756999999,"source_tier":"combo"});
	struct tp_pattern p;
	struct tp_errdetail err;

	(void)state;
	assert_int_equal(tp_pattern_from_json(orig, strlen(orig), &p, &err),
			 TP_REJECT_NONE);
	assert_string_equal(p.id, "AAPL:Doji:1725456789");
	assert_string_equal(p.symbol, "AAPL");
	assert_string_equal(p.pattern_type, "Doji");
	assert_string_equal(p.sector, "Tech");
	assert_int_equal(p.tier, TP_TIER_DAILY);
	assert_near(p.expires_at, 1725456789.5 + 3600);
	assert_near(p.rsi, 30);
	assert_string_equal(p.indicators_json,
			    "{\"relative_strength\":1,\"relative_volume\":1,\"rsi\":30,\"x\":\"y\"}");
	tp_pattern_cleanup(&p);

	assert_int_equal(tp_pattern_from_json(orig2, strlen(orig2), &p, &err),
			 TP_REJECT_NONE);
	assert_string_equal(p.id, "AAPL:Doji:1"); /* the stored id is the key */
	assert_near(p.detected_at, ISO_T);
	assert_near(p.expires_at, 1756999999);
	assert_int_equal(p.tier, TP_TIER_COMBO);
	tp_pattern_cleanup(&p);

	/* A record has no receive time to fall back on. */
	assert_int_equal(tp_pattern_from_json(J({"symbol":"A","pattern":"P","confidence":0.5}),
					      strlen(J({"symbol":"A","pattern":"P","confidence":0.5})),
					      &p, &err),
			 TP_REJECT_MISSING_FIELD);
	assert_string_equal(err.field, "detected_at");
	assert_null(p.indicators_json);
	assert_int_equal(tp_pattern_from_json("[]", 2, &p, &err),
			 TP_REJECT_NOT_OBJECT);
	assert_int_equal(tp_pattern_from_json("{", 1, &p, &err),
			 TP_REJECT_BAD_JSON);
}

/* Rendering can lengthen numbers ("1e14" has 15 digits): a record made
 * from a maximal event must still read back. */
static void test_record_growth(void **state)
{
	static const char head[] = "{\"event_type\":\"pattern_detected\","
		"\"symbol\":\"A\",\"pattern\":\"P\",\"confidence\":0.5,"
		"\"timestamp\":1725456789,\"indicators\":{\"a\":[1e14";
	char *json = tp_malloc(TP_EVENT_MAX_BYTES);
	size_t n = sizeof(head) - 1;
	struct tp_event ev;
	struct tp_pattern back;
	struct tp_buf b;

	(void)state;
	assert_non_null(json);
	memcpy(json, head, n);
	while (n + 5 + 3 <= TP_EVENT_MAX_BYTES) {
		memcpy(json + n, ",1e14", 5);
		n += 5;
	}
	memcpy(json + n, "]}}", 3);
	n += 3;
	assert_int_equal(tp_event_parse(PAT, json, n, &opts, &ev, NULL),
			 TP_REJECT_NONE);
	tp_buf_init(&b, 0);
	tp_pattern_to_json(&b, &ev.pattern);
	assert_true(b.len > 3 * TP_EVENT_MAX_BYTES);
	assert_int_equal(tp_pattern_from_json(tp_buf_data(&b), b.len, &back,
					      NULL),
			 TP_REJECT_NONE);
	assert_string_equal(back.indicators_json, ev.pattern.indicators_json);
	tp_pattern_cleanup(&back);
	tp_buf_cleanup(&b);
	tp_event_cleanup(&ev);
	tp_free(json);
}

static void test_pattern_copy(void **state)
{
	struct tp_event ev;
	struct tp_pattern copy;

	(void)state;
	assert_int_equal(parse(PAT, ok_cases[0].json, &ev, NULL), TP_REJECT_NONE);
	assert_int_equal(tp_pattern_copy(&copy, &ev.pattern), TP_OK);
	assert_ptr_not_equal(copy.indicators_json, ev.pattern.indicators_json);
	assert_same_pattern(&copy, &ev.pattern);
	tp_event_cleanup(&ev);
	/* The copy survives the original. */
	assert_string_equal(copy.indicators_json,
			    ok_cases[0].indicators);
	tp_pattern_cleanup(&copy);
	tp_pattern_cleanup(&copy);
	tp_pattern_cleanup(NULL);
	tp_event_cleanup(NULL);

	assert_int_equal(parse(PAT, ok_cases[0].json, &ev, NULL), TP_REJECT_NONE);
	tp_alloc_fail_at(1);
	assert_int_equal(tp_pattern_copy(&copy, &ev.pattern), TP_ERR_NOMEM);
	tp_alloc_fail_at(0);
	assert_null(copy.indicators_json);
	tp_event_cleanup(&ev);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(tp_reject_name(TP_REJECT_NOMEM), "out_of_memory");
	assert_string_equal(tp_reject_name(TP_REJECT_DIAGNOSTIC), "diagnostic");
	assert_string_equal(tp_tier_name(TP_TIER_COMBO), "combo");
	for (int r = 0; r < TP_REJECT__COUNT; r++)
		assert_string_not_equal(tp_reject_name((enum tp_reject)r),
					"unknown");
}

/* ------------------------------------------------------------------ */
/* Out of memory at every allocation                                    */

static void oom_walk(enum tp_channel ch, const char *json, bool record)
{
	size_t n;

	for (n = 1;; n++) {
		size_t blocks = tp_alloc_blocks(), bytes = tp_alloc_used();
		struct tp_event ev;
		struct tp_pattern p;
		enum tp_reject r;
		size_t attempts;

		tp_alloc_fail_at(n);
		if (record)
			r = tp_pattern_from_json(json, strlen(json), &p, NULL);
		else
			r = parse(ch, json, &ev, NULL);
		attempts = tp_alloc_fail_at(0);
		if (r == TP_REJECT_NONE) {
			/* Success is only possible if no allocation failed. */
			assert_true(attempts < n);
			if (record)
				tp_pattern_cleanup(&p);
			else
				tp_event_cleanup(&ev);
			assert_int_equal(tp_alloc_blocks(), blocks);
			assert_int_equal(tp_alloc_used(), bytes);
			break;
		}
		assert_int_equal(r, TP_REJECT_NOMEM);
		assert_int_equal(tp_alloc_blocks(), blocks);
		assert_int_equal(tp_alloc_used(), bytes);
	}
	assert_true(n > 1); /* the parse does allocate */
}

static void test_oom(void **state)
{
	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(ok_cases); i++)
		oom_walk(PAT, ok_cases[i].json, false);
	for (size_t i = 0; i < TP_ARRAY_SIZE(other_cases); i++)
		oom_walk(other_cases[i].ch, other_cases[i].json, false);
	oom_walk(PAT, J({"symbol":"A","pattern":"P","confidence":0.5,
		"detected_at":1725456789,"indicators":{"a":[1,{"b":2}]}}), true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_accepted_shapes),
		TP_TEST(test_event_timestamp),
		TP_TEST(test_size_limit),
		TP_TEST(test_not_nul_terminated),
		TP_TEST(test_backtest_and_health),
		TP_TEST(test_rejections),
		TP_TEST(test_error_messages),
		TP_TEST(test_bad_then_good),
		TP_TEST(test_iso8601),
		TP_TEST(test_record_round_trip),
		TP_TEST(test_record_exact),
		TP_TEST(test_record_original),
		TP_TEST(test_record_growth),
		TP_TEST(test_pattern_copy),
		TP_TEST(test_names),
		TP_TEST(test_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
