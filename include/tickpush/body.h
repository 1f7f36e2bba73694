/*
 * body.h - JSON request bodies: one parser and one string getter for every
 * REST route that takes a body (protocol/body.c).
 *
 * cJSON accepts more than a request may carry: bytes that are not UTF-8
 * (PostgreSQL then refuses the query, 22021), "\u0000" (decoded to a NUL
 * that silently ends the C string: "demo\u0000" would sign in as demo),
 * raw control characters, duplicate members (its getters return the
 * first), and text after the value ("{...} xx"). tp_body_parse refuses all
 * of them before a handler looks at a member, naming the member; the
 * getter then checks what each field needs (length, control characters).
 *
 * Pure: cJSON and tp_base only, no I/O, so it is unit-tested and fuzzed
 * (tests/fuzz/fuzz_body.c). Trees are allocated through tp_malloc.
 */
#ifndef TICKPUSH_BODY_H
#define TICKPUSH_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include "tickpush/err.h"

struct cJSON;

/* A refused body: msg starts with the member it is about ("name: ...",
 * "filters.sectors: ...", or "body: ..." for the body as a whole); field
 * is that member's path, "" for the body as a whole. Both are printable
 * ASCII or valid UTF-8, safe to echo. */
struct tp_body_error {
	char msg[200];
	char field[64];
};

/*
 * Parses buf[0..len) as a request body: exactly one JSON object (JSON
 * whitespace around it allowed, nothing else), every string in it (member
 * names included) valid UTF-8 without "\u0000" or raw control characters,
 * and no member name twice at the top level. Returns TP_OK with *out (the
 * caller frees it with cJSON_Delete), TP_ERR_INVAL with *err filled, or
 * TP_ERR_NOMEM. buf may be NULL (no body: TP_ERR_INVAL). Strings in *out
 * never hold a NUL before their end, so strlen is their length.
 */
int tp_body_parse(const char *buf, size_t len, struct cJSON **out,
		  struct tp_body_error *err);

/* tp_body_string flags. */
enum {
	TP_BODY_OPTIONAL = 1u << 0,  /* absent: TP_OK with *out = NULL */
	TP_BODY_BYTES = 1u << 1,     /* min/max count bytes, not characters */
	TP_BODY_PRINTABLE = 1u << 2, /* no control characters (C0, DEL, C1) */
};

/*
 * The string member name of obj (a tree from tp_body_parse), checked: a
 * string of min..max characters (code points; bytes with TP_BODY_BYTES),
 * valid UTF-8, without control characters if TP_BODY_PRINTABLE. Returns
 * TP_OK with *out borrowed from obj (valid while obj lives), or
 * TP_ERR_INVAL with err naming the member and the rule ("name: required,
 * a string of 1 to 100 characters without control characters").
 */
int tp_body_string(const struct cJSON *obj, const char *name, size_t min,
		   size_t max, unsigned flags, const char **out,
		   struct tp_body_error *err);

#endif
