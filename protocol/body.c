/*
 * body.c - JSON request bodies (see body.h).
 *
 * tp_json_object_parse (text.c, shared with the WebSocket frame parser)
 * checks the raw bytes first (tp_json_text_check: UTF-8, "\u0000",
 * control characters), because once cJSON has decoded the text a
 * "\u0000" is indistinguishable from the end of the string; then cJSON
 * parses, and whatever follows the value must be JSON whitespace. Here
 * the refusals are worded for REST clients, and duplicate top-level
 * members are found by sorting the names (a 64 KiB body can hold
 * thousands: no quadratic scan).
 *
 * Messages quote member names only as tp_json_text_check's path does:
 * printable ASCII, '?' for anything else.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "text.h"
#include "tickpush/alloc.h"
#include "tickpush/body.h"

static int refuse(struct tp_body_error *err, const char *field,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int refuse(struct tp_body_error *err, const char *field,
		  const char *fmt, ...)
{
	va_list ap;

	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return TP_ERR_INVAL;
}

/* A member name as printable ASCII, cut to fit out. */
static const char *printable_name(char out[48], const char *s)
{
	size_t i;

	for (i = 0; s[i] && i < 44; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
	}
	if (s[i])
		memcpy(out + i, "...", 3), i += 3;
	out[i] = '\0';
	return out;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A member of obj given more than once: its name, else NULL. */
static int find_duplicate(const cJSON *obj, const char **dup)
{
	const char **names;
	size_t n = 0, i = 0;
	const cJSON *it;

	*dup = NULL;
	for (it = obj->child; it; it = it->next)
		n++;
	if (n < 2)
		return TP_OK;
	if (!(names = tp_calloc(n, sizeof(*names))))
		return TP_ERR_NOMEM;
	for (it = obj->child; it; it = it->next)
		names[i++] = it->string ? it->string : "";
	qsort(names, n, sizeof(*names), cmp_name);
	for (i = 1; i < n && !*dup; i++)
		if (!strcmp(names[i - 1], names[i]))
			*dup = names[i];
	tp_free(names);
	return TP_OK;
}

int tp_body_parse(const char *buf, size_t len, cJSON **out,
		  struct tp_body_error *err)
{
	struct tp_json_failure f;
	const struct tp_json_text_issue *is = &f.text;
	const char *dup;
	char name[48];
	int rc;

	err->msg[0] = err->field[0] = '\0';
	rc = tp_json_object_parse(buf, len, out, &f);
	if (rc == TP_ERR_NOMEM)
		return rc;
	if (rc) {
		switch (f.why) {
		case TP_JSON_EMPTY:
			return refuse(err, NULL, "body: required, a JSON object");
		case TP_JSON_TEXT:
			return refuse(err, is->path, "%s: %s%s (byte %zu)",
				      is->path[0] ? is->path : "body",
				      is->in_name ? "member name: " : "", is->why, is->at);
		case TP_JSON_SYNTAX:
			return refuse(err, NULL, "body: not valid JSON (near byte %zu)", f.at);
		case TP_JSON_TRAILING:
			return refuse(err, NULL, "body: data after the JSON value (byte %zu)",
				      f.at);
		case TP_JSON_NOT_OBJECT:
			break;
		}
		return refuse(err, NULL, "body: must be a JSON object");
	}
	rc = find_duplicate(*out, &dup);
	if (rc || dup) {
		if (dup && !dup[0])
			rc = refuse(err, NULL, "body: the member \"\" is given more than once");
		else if (dup)
			rc = refuse(err, printable_name(name, dup),
				    "%s: given more than once", name);
		cJSON_Delete(*out);
		*out = NULL;
	}
	return rc;
}

int tp_body_string(const cJSON *obj, const char *name, size_t min,
		   size_t max, unsigned flags, const char **out,
		   struct tp_body_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	bool printable = flags & TP_BODY_PRINTABLE;
	const char *s;
	size_t n;

	*out = NULL;
	if (!v && (flags & TP_BODY_OPTIONAL))
		return TP_OK;
	if (cJSON_IsString(v) && v->valuestring) {
		s = v->valuestring;
		n = strlen(s);
		/* A tree from tp_body_parse is valid UTF-8; any other is
		 * checked here all the same. */
		if (!tp_utf8_valid(s, n))
			return refuse(err, name, "%s: not valid UTF-8", name);
		n = flags & TP_BODY_BYTES ? n : tp_utf8_chars(s, n);
		if (n >= min && n <= max &&
		    (!printable || tp_utf8_printable(s, strlen(s)))) {
			*out = s;
			return TP_OK;
		}
	}
	return refuse(err, name, "%s: %s a string of %zu to %zu %s%s", name,
		      flags & TP_BODY_OPTIONAL ? "must be" : "required,", min, max,
		      flags & TP_BODY_BYTES ? "bytes" : "characters",
		      printable ? " without control characters" : "");
}
