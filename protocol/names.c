/*
 * names.c - wire names of the event enums (metric labels, JSON values).
 */
#include "tickpush/event.h"

const char *tp_channel_name(enum tp_channel ch)
{
	switch (ch) {
	case TP_CH_PATTERNS: return "patterns";
	case TP_CH_BACKTEST_PROGRESS: return "backtesting.progress";
	case TP_CH_BACKTEST_RESULTS: return "backtesting.results";
	case TP_CH_HEALTH: return "health";
	case TP_CH__COUNT: break;
	}
	return "unknown";
}

const char *tp_tier_name(enum tp_tier t)
{
	switch (t) {
	case TP_TIER_DAILY: return "daily";
	case TP_TIER_INTRADAY: return "intraday";
	case TP_TIER_COMBO: return "combo";
	case TP_TIER_UNKNOWN: break;
	}
	return "unknown";
}

const char *tp_reject_name(enum tp_reject r)
{
	switch (r) {
	case TP_REJECT_NONE: return "none";
	case TP_REJECT_TOO_LARGE: return "too_large";
	case TP_REJECT_BAD_JSON: return "bad_json";
	case TP_REJECT_NOT_OBJECT: return "not_object";
	case TP_REJECT_DIAGNOSTIC: return "diagnostic";
	case TP_REJECT_UNKNOWN_TYPE: return "unknown_event_type";
	case TP_REJECT_WRONG_CHANNEL: return "wrong_channel";
	case TP_REJECT_MISSING_FIELD: return "missing_field";
	case TP_REJECT_BAD_TYPE: return "bad_type";
	case TP_REJECT_OUT_OF_RANGE: return "out_of_range";
	case TP_REJECT_BAD_SYMBOL: return "bad_symbol";
	case TP_REJECT_BAD_TIME: return "bad_time";
	case TP_REJECT_NOMEM: return "out_of_memory";
	case TP_REJECT__COUNT: break;
	}
	return "unknown";
}
