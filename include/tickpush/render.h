/*
 * render.h - the pattern row of docs/rest.md and its display formats
 * (protocol/render.c). The same row bytes go to REST and to every push
 * transport.
 */
#ifndef TICKPUSH_RENDER_H
#define TICKPUSH_RENDER_H

#include <stddef.h>

#include "tickpush/event.h"

struct tp_buf;

/* Appends the scan row object for p as seen at time now:
 * {"id","symbol","pattern","pattern_type","conf","confidence","rs","vol",
 *  "price","chg","time","exp","source","current_price","price_change",
 *  "detected_at","expires_at","indicators":{...}} */
void tp_render_row(struct tp_buf *b, const struct tp_pattern *p, double now);
/* The same row in three parts: head + times + tail == tp_render_row. Head
 * and tail do not depend on the clock, so a store may render them once per
 * record and only add the times per response. */
void tp_render_row_head(struct tp_buf *b, const struct tp_pattern *p);
void tp_render_row_times(struct tp_buf *b, const struct tp_pattern *p,
			 double now);
void tp_render_row_tail(struct tp_buf *b, const struct tp_pattern *p);

/* The error body of docs/rest.md: {"error":"<msg>","field":"<field>"}
 * (field NULL: no "field"), extra (NULL: none) being more members already
 * rendered ("symbols":[],"count":0) placed last. Every JSON error answer
 * is written by this one function. */
void tp_render_error(struct tp_buf *b, const char *msg, const char *field,
		     const char *extra);

/* Age as "Ns"/"Nm"/"Nh"/"Nd" (floor; negative ages count as 0s). */
void tp_format_age(char *out, size_t n, double seconds);
/* Time left as "Nm"/"Nh"/"Nd" (floor), "Expired" when <= 0. */
void tp_format_expiry(char *out, size_t n, double seconds_left);
/* "%.1fx", "$%.2f", "%+.1f%%". */
void tp_format_ratio(char *out, size_t n, double v);
void tp_format_price(char *out, size_t n, double v);
void tp_format_change(char *out, size_t n, double v);

/* Display abbreviation of docs/rest.md (Weekly_Breakout -> WeeklyBO; Doji,
 * Hammer, Engulfing unchanged; others cut to 8 bytes, never inside a UTF-8
 * sequence) into out. TP_ABBREV_MAX bytes hold every result with its NUL
 * ("TrendHold" and "Engulfing" are 9 characters). Matching is
 * case-insensitive. */
#define TP_ABBREV_MAX 16
void tp_pattern_abbrev(const char *pattern_type, char out[TP_ABBREV_MAX]);

/*
 * Reads a displayed name back: the pattern types tickpush knows by name
 * (the display map, the unchanged names and the other TickStockPL types
 * listed in render.c) whose abbreviation equals text, case-insensitively.
 * A known full name stands for itself alone. Returns how many types match
 * (0: not a name tickpush can read back; 1: out[0] is the full name; more:
 * ambiguous) and stores up to max of them in out, sorted by name. The
 * strings are static.
 */
size_t tp_pattern_expand(const char *text, const char **out, size_t max);
/* The known pattern types one by one (i = 0, 1, ...), NULL past the end. */
const char *tp_pattern_known(size_t i);

#endif
