/*
 * proto.h - the WebSocket protocol v1 as a pure codec (protocol/proto.c).
 *
 * Parses client frames (docs/protocol.md "Client -> server") into
 * typed structs, naming the offending field on error, and renders every
 * server frame. Used by the server, the tests and the tools. No I/O; cJSON
 * and the filter model only. protocol/SPEC.md / docs/protocol.md describe
 * the wire format for client authors.
 */
#ifndef TICKPUSH_PROTO_H
#define TICKPUSH_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tickpush/err.h"
#include "tickpush/filter.h"

struct tp_buf;

#define TP_PROTO_VERSION 1
#define TP_PROTO_NAME "tickpush.v1"
#define TP_SUB_ID_MAX 64
#define TP_EPOCH_MAX 31
#define TP_SNAPSHOT_LIMIT_MAX 1000
#define TP_SNAPSHOT_LIMIT_DEFAULT 100

enum tp_op {
	TP_OP_SUBSCRIBE = 0,
	TP_OP_UNSUBSCRIBE,
	TP_OP_PING,
	TP_OP_AUTH,
};

enum tp_sub_channel {
	TP_SUBCH_PATTERNS = 0,
	TP_SUBCH_BACKTESTS,
	TP_SUBCH_HEALTH,
};
const char *tp_sub_channel_name(enum tp_sub_channel c);

/* Error codes of the contract (the "code" member of an error frame). */
enum tp_proto_code {
	TP_CODE_BAD_REQUEST = 0,
	TP_CODE_UNAUTHORIZED,
	TP_CODE_NOT_FOUND,
	TP_CODE_LIMIT,
	TP_CODE_RATE_LIMITED,
};
const char *tp_proto_code_name(enum tp_proto_code c);

struct tp_client_frame {
	enum tp_op op;
	char id[TP_SUB_ID_MAX + 1];  /* subscribe/unsubscribe: 1..64 chars */
	enum tp_sub_channel channel; /* subscribe */
	long long preset_id;         /* subscribe patterns: 0 = none */
	bool has_filter;             /* subscribe patterns: inline filter */
	struct tp_filter filter;     /* owned; defaults when !has_filter */
	struct tp_filter_refs refs;  /* watchlist_id / universe of the filter */
	bool has_since;
	char since_epoch[TP_EPOCH_MAX + 1];
	uint64_t since_seq;
	bool snapshot;
	unsigned limit;              /* snapshot rows, default 100, max 1000 */
	char *ping_t;                /* ping: compact JSON of "t" (owned), NULL if absent */
	char *token;                 /* auth: owned */
};

/*
 * Parses one text frame (need not be NUL-terminated). Rejects frames over
 * max_len, invalid JSON or UTF-8, non-objects, unknown or missing "op",
 * unknown channels, a bad id, both preset_id and filter, an invalid filter
 * (through tp_filter_from_json: the field is named), bad since/limit, with
 * TP_ERR_PROTO and err naming the field. TP_ERR_NOMEM on allocation
 * failure. On success the caller owns *out (tp_client_frame_cleanup).
 */
int tp_proto_parse(const char *buf, size_t len, size_t max_len,
		   struct tp_client_frame *out, struct tp_errdetail *err);
void tp_client_frame_cleanup(struct tp_client_frame *f); /* NULL-safe */

/* ---- server frames: each appends one compact JSON object to out ---- */

/* {"type":"hello","protocol":1,"session":"<id>","user":<id|null>,
 *  "epoch":"e","seq":N,"server_time":t} (user <= 0 renders null) */
void tp_proto_hello(struct tp_buf *out, const char *session_id,
		    long long user_id, const char *epoch, uint64_t seq,
		    double server_time);
void tp_proto_subscribed(struct tp_buf *out, const char *id,
			 const char *epoch, uint64_t seq, bool recovered);
/* {"type":"snapshot","id":"s1","seq":N,"patterns":[rows...]}: rows are
 * already-rendered row objects joined by the caller between begin/end. */
void tp_proto_snapshot_begin(struct tp_buf *out, const char *id, uint64_t seq);
void tp_proto_snapshot_end(struct tp_buf *out);
/* Event frames are rendered in two parts so the fan-out renders what all
 * sessions share once: a per-session head {"type":"<type>","subs":[...],
 * (ending with the comma) and a shared tail "seq":N,...}. Concatenated
 * they are one JSON object; members appear in that order. */
void tp_proto_event_head(struct tp_buf *out, const char *type,
			 const char *const *subs, size_t n_subs);
/* "seq":N,"data":<data_json>} (data_len 0 renders null) */
void tp_proto_event_tail(struct tp_buf *out, uint64_t seq,
			 const char *data_json, size_t data_len);
/* "seq":N,"id":"<pattern id>"} */
void tp_proto_removed_tail(struct tp_buf *out, uint64_t seq,
			   const char *pattern_id);
/* Whole frames (head + tail): {"type":"<type>","subs":[...],"seq":N,
 * "data":<data_json>} for pattern, backtest_progress, backtest_result,
 * system_health. */
void tp_proto_event(struct tp_buf *out, const char *type, uint64_t seq,
		    const char *const *subs, size_t n_subs,
		    const char *data_json, size_t data_len);
/* {"type":"pattern_removed","subs":[...],"seq":N,"id":"<pattern id>"} */
void tp_proto_removed(struct tp_buf *out, uint64_t seq,
		      const char *const *subs, size_t n_subs,
		      const char *pattern_id);
void tp_proto_gap(struct tp_buf *out, const char *id, const char *epoch,
		  uint64_t seq);
/* id NULL renders null. */
void tp_proto_error(struct tp_buf *out, const char *id,
		    enum tp_proto_code code, const char *message);
/* t_json NULL renders no "t". */
void tp_proto_pong(struct tp_buf *out, const char *t_json);

#endif
