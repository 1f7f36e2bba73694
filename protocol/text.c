/*
 * text.c - text helpers shared by event, proto and render (see text.h).
 */
#include <string.h>

#include <cJSON.h>

#include "text.h"
#include "tickpush/buf.h"
#include "tickpush/err.h"
#include "tickpush/json.h"

/* ---- the JSON text check ---- */

/* Nesting levels whose member name the path can show; deeper ones are
 * checked all the same, the path just stops there. */
#define PATH_LEVELS 16

struct level {
	bool obj;
	size_t key_off, key_len; /* the current member name (raw bytes) */
};

/* The member names of levels [0, upto) joined with '.'. */
static void put_path(struct tp_json_text_issue *is, const unsigned char *s,
		     const struct level *lv, size_t upto)
{
	size_t n = 0, cap = sizeof(is->path) - 4; /* room for "..." */
	bool cut = false;

	for (size_t d = 0; d < upto && d < PATH_LEVELS && !cut; d++) {
		if (!lv[d].obj || !lv[d].key_len)
			continue;
		if (n && n < cap)
			is->path[n++] = '.';
		for (size_t i = 0; i < lv[d].key_len; i++) {
			unsigned char c = s[lv[d].key_off + i];

			if (n == cap) {
				cut = true;
				break;
			}
			is->path[n++] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\'
						? (char)c : '?';
		}
	}
	if (cut)
		memcpy(is->path + n, "...", 3), n += 3;
	is->path[n] = '\0';
}

static bool issue_at(struct tp_json_text_issue *is, const char *why,
		     size_t at, bool in_name, const unsigned char *s,
		     const struct level *lv, size_t upto)
{
	if (is) {
		is->why = why;
		is->at = at;
		is->in_name = in_name;
		put_path(is, s, lv, upto);
	}
	return false;
}

static int hex_digit(unsigned char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The escape at s[0], a backslash (n >= 2 bytes): NULL and its length in
 * *k, or why it is refused. cJSON decodes "\u0000" to a NUL, and so it
 * does any \u not followed by four hex digits ("\u00zz"): its hex reader
 * answers 0 for a bad digit. */
static const char *escape_check(const unsigned char *s, size_t n, size_t *k)
{
	unsigned code = 0;

	if (s[1] >= 0x80) {
		*k = 1; /* not an escape; the byte is checked as UTF-8 next */
		return NULL;
	}
	if (s[1] < 0x20)
		return "control character in a string";
	if (s[1] != 'u') {
		*k = 2; /* the escaped character, a quote or backslash too */
		return NULL;
	}
	for (size_t i = 2; i < 6; i++) {
		int h = i < n ? hex_digit(s[i]) : -1;

		if (h < 0)
			return "invalid \\u escape in a string";
		code = code << 4 | (unsigned)h;
	}
	*k = 6;
	return code ? NULL : "\\u0000 (NUL) in a string";
}

bool tp_json_text_check(const char *buf, size_t len,
			struct tp_json_text_issue *issue)
{
	const unsigned char *s = (const unsigned char *)buf;
	struct level lv[PATH_LEVELS];
	size_t depth = 0;
	bool want_key = false; /* the next string is a member name */

	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];

		if (c == '"') {
			bool is_key = want_key;
			size_t j = i + 1;

			while (j < len && s[j] != '"') {
				unsigned char d = s[j];
				const char *why = NULL;
				size_t k = 1;

				if (d < 0x20)
					why = "control character in a string";
				else if (d >= 0x80 && !(k = tp_utf8_seq(s + j, len - j)))
					why = "invalid UTF-8";
				else if (d == '\\' && j + 1 < len)
					why = escape_check(s + j, len - j, &k);
				if (why)
					return issue_at(issue, why, j, is_key, s, lv,
							is_key ? depth - 1 : depth);
				j += k;
			}
			if (is_key && depth <= PATH_LEVELS) {
				lv[depth - 1].key_off = i + 1;
				lv[depth - 1].key_len = j - (i + 1);
			}
			i = j + 1;
			continue;
		}
		switch (c) {
		case '{':
		case '[':
			if (depth < PATH_LEVELS)
				lv[depth] = (struct level){c == '{', 0, 0};
			depth++;
			want_key = c == '{' && depth <= PATH_LEVELS;
			break;
		case '}':
		case ']':
			depth -= depth > 0;
			want_key = false;
			break;
		case ',':
			want_key = depth && depth <= PATH_LEVELS && lv[depth - 1].obj;
			break;
		case ':':
			want_key = false;
			break;
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			break;
		default:
			if (c >= 0x80) {
				size_t k = tp_utf8_seq(s + i, len - i);

				if (!k)
					return issue_at(issue, "invalid UTF-8", i, false,
							s, lv, depth);
				i += k;
				continue;
			}
			if (c < 0x20)
				return issue_at(issue, "control character", i, false,
						s, lv, depth);
		}
		i++;
	}
	return true;
}

static bool json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int refused(struct tp_json_failure *f, enum tp_json_refusal why,
		   size_t at)
{
	f->why = why;
	f->at = at;
	return TP_ERR_INVAL;
}

int tp_json_object_parse(const char *buf, size_t len, cJSON **out,
			 struct tp_json_failure *f)
{
	const char *end = NULL;
	cJSON *root;

	*out = NULL;
	if (!buf || !len)
		return refused(f, TP_JSON_EMPTY, 0);
	if (!tp_json_text_check(buf, len, &f->text))
		return refused(f, TP_JSON_TEXT, f->text.at);
	tp_json_init();
	(void)tp_json_take_oom();
	/* require_null_terminated would need the NUL inside len (cJSON
	 * 1.7.15): check what follows the value through return_parse_end. */
	root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (!root) {
		if (tp_json_take_oom())
			return TP_ERR_NOMEM;
		return refused(f, TP_JSON_SYNTAX,
			       end >= buf && end <= buf + len ? (size_t)(end - buf) : 0);
	}
	for (const char *p = end; p < buf + len; p++) {
		if (!json_space(*p)) {
			cJSON_Delete(root);
			return refused(f, TP_JSON_TRAILING, (size_t)(p - buf));
		}
	}
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return refused(f, TP_JSON_NOT_OBJECT, 0);
	}
	*out = root;
	return TP_OK;
}

void tp_json_put(struct tp_buf *b, const cJSON *it)
{
	const cJSON *c;
	bool first = true;

	if (cJSON_IsFalse(it)) {
		tp_buf_puts(b, "false");
	} else if (cJSON_IsTrue(it)) {
		tp_buf_puts(b, "true");
	} else if (cJSON_IsNumber(it)) {
		tp_buf_json_num(b, it->valuedouble);
	} else if (cJSON_IsString(it)) {
		tp_buf_json_str(b, it->valuestring ? it->valuestring : "");
	} else if (cJSON_IsArray(it) || cJSON_IsObject(it)) {
		bool obj = cJSON_IsObject(it);

		tp_buf_putc(b, obj ? '{' : '[');
		cJSON_ArrayForEach(c, it) {
			if (!first)
				tp_buf_putc(b, ',');
			first = false;
			if (obj) {
				tp_buf_json_str(b, c->string ? c->string : "");
				tp_buf_putc(b, ':');
			}
			tp_json_put(b, c);
		}
		tp_buf_putc(b, obj ? '}' : ']');
	} else {
		tp_buf_puts(b, "null");
	}
}
