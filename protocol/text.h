/*
 * text.h - small text helpers shared by the wire-format modules
 * (protocol/text.c). Private to protocol/.
 */
#ifndef TICKPUSH_PROTOCOL_TEXT_H
#define TICKPUSH_PROTOCOL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "tickpush/ascii.h" /* tp_ascii_ieq */
#include "tickpush/utf8.h"  /* tp_utf8_valid, tp_utf8_printable */

struct cJSON;
struct tp_buf;

/* What tp_json_text_check found wrong with a JSON text. */
struct tp_json_text_issue {
	const char *why;   /* static: "invalid UTF-8", "\\u0000 (NUL) in a string", ... */
	size_t at;         /* byte offset of the offending byte or escape */
	bool in_name;      /* inside a member name: path names its object */
	char path[64];     /* member names down to the string, '.'-joined,
			    * printable ASCII ('?' for anything else), "..."
			    * when cut; "" = not inside any member */
};

/*
 * Checks the raw bytes of a JSON text for what cJSON lets through but no
 * string we act on may hold: invalid UTF-8 (anywhere), raw control
 * characters (inside strings; outside them anything but the four JSON
 * whitespace characters, which cJSON would skip), and the escape \u0000,
 * which cJSON decodes to a NUL byte that ends the C string: we would act
 * on a prefix ("demo\u0000x" would be "demo"). cJSON 1.7.15 decodes a
 * malformed \u escape ("\u00zz") to NUL as well, so those are refused
 * here too. Everything else (syntax) is left to cJSON. Returns true when clean; otherwise false with *issue
 * filled (the path says which member, so errors can name the field).
 */
bool tp_json_text_check(const char *buf, size_t len,
			struct tp_json_text_issue *issue);

/* Why tp_json_object_parse refused a text. */
enum tp_json_refusal {
	TP_JSON_EMPTY = 1,   /* no bytes at all */
	TP_JSON_TEXT,        /* tp_json_text_check: see text */
	TP_JSON_SYNTAX,      /* cJSON failed near byte at */
	TP_JSON_TRAILING,    /* non-whitespace at byte at after the value */
	TP_JSON_NOT_OBJECT,  /* a valid value, but not an object */
};

struct tp_json_failure {
	enum tp_json_refusal why;
	size_t at;
	struct tp_json_text_issue text;
};

/* Parses buf[0..len) as exactly one JSON object (JSON whitespace around it
 * allowed) whose bytes pass tp_json_text_check. Returns TP_OK with *out
 * (caller cJSON_Deletes), TP_ERR_INVAL with *f saying why, or
 * TP_ERR_NOMEM. The callers word the refusal for their clients. */
int tp_json_object_parse(const char *buf, size_t len, struct cJSON **out,
			 struct tp_json_failure *f);

/* Appends any cJSON value as compact JSON (numbers in the shortest
 * round-trip form, non-finite ones as null). Depth is bounded by cJSON's
 * own nesting limit. */
void tp_json_put(struct tp_buf *b, const struct cJSON *it);

#endif
