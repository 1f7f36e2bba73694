/*
 * log.h - levelled logging to stderr, one line per call: key=value pairs
 * (default) or one JSON object (log_format = json).
 *
 * Call sites write key=value text: `msg="constant text" key=%d`. A value
 * that is not a constant or a number (names, paths, errors, anything from
 * outside) goes through tp_log_q: it comes back quoted and escaped, so the
 * line stays one line and parses back into the same pairs; the JSON form
 * is written from exactly that parse. Never hand-quote ("%s" in quotes).
 *
 * TP_LOG checks the level before evaluating its arguments. Never log tokens,
 * passwords or payloads at INFO or above.
 */
#ifndef TICKPUSH_LOG_H
#define TICKPUSH_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "tickpush/tbucket.h"

enum tp_log_level {
	TP_LOG_DEBUG = 0,
	TP_LOG_INFO = 1,
	TP_LOG_NOTICE = 2,
	TP_LOG_WARN = 3,
	TP_LOG_ERR = 4,
};

extern enum tp_log_level tp_log_min_level;
/* Under a supervisor, this process's worker number (1..N): every line then
 * carries worker=K. 0 (the default) = a single process, no field. */
extern unsigned tp_log_worker;

enum tp_log_format {
	TP_LOG_KEYVALUE = 0,
	TP_LOG_JSON = 1,
};

extern enum tp_log_format tp_log_format;

/* Parses "keyvalue|json"; returns -1 if unknown. */
int tp_log_format_parse(const char *s);

/* s quoted and escaped for a key=value line ("a \"b\"\n" for a "b"<LF>);
 * NULL is "". The text lives in a small per-thread ring: use it in the
 * TP_LOG call's arguments only (up to 8 per call, each cut at 500 bytes).
 * tp_log_qn takes at most n bytes of s. */
const char *tp_log_q(const char *s);
const char *tp_log_qn(const char *s, size_t n);

void tp_log(enum tp_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parses "debug|info|notice|warn|error"; returns -1 if unknown. */
int tp_log_level_parse(const char *s);

#define TP_LOG(level, ...)                                                     \
	do {                                                                   \
		if ((level) >= tp_log_min_level)                               \
			tp_log((level), __VA_ARGS__);                          \
	} while (0)

/* Rate limiter for noisy logs ("at most once a second per key"): a token
 * bucket of one token refilled every interval. Keep one per call site,
 * zeroed; returns true when the caller may log now, and *suppressed
 * receives how many were skipped since the last allowed one. */
struct tp_log_ratelimit {
	struct tp_tbucket bucket;
	unsigned long suppressed;
};
bool tp_log_ratelimit_allow(struct tp_log_ratelimit *rl, double now,
			    double interval, unsigned long *suppressed);

#endif
