/*
 * log.c - one line per call on stderr (see log.h): "ts=... level=... msg"
 * pairs, or the same pairs as one JSON object.
 *
 * The one writer: call sites format key=value text, untrusted values
 * quoted and escaped by tp_log_q (backslash escapes: \" \\ \n \r \t
 * \xHH), so a line always splits back into its pairs. The JSON form parses
 * the formatted line and writes every key and value through one escaping
 * JSON string writer (invalid UTF-8 becomes U+FFFD): whatever a value holds,
 * the line is one valid JSON object. Bare values that are JSON numbers are
 * written as numbers; words that are no key=value pair (a bug at a call
 * site) are kept, in "text". A repeated key gets a suffix (_2, _3, ...).
 *
 * Each line is written with one fwrite (stderr is unbuffered), so lines of
 * the loop thread and the threadpool never interleave within a line.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tickpush/ascii.h"
#include "tickpush/log.h"

#define LINE_BYTES 4096     /* longest formatted line; longer is cut */
/* Its JSON form: each byte at most 6 ("\u001f"), each pair at most 7 more
 * (,"":_NN), so a full line always fits. */
#define JSON_BYTES (LINE_BYTES * 10)
#define Q_SLOTS 8
#define Q_BYTES 512
#define MAX_KEYS 32

enum tp_log_level tp_log_min_level = TP_LOG_INFO;
enum tp_log_format tp_log_format = TP_LOG_KEYVALUE;
unsigned tp_log_worker;

static const char *const level_names[] = {"debug", "info", "notice", "warn",
					  "error"};

/* ---- quoting values for key=value lines ---- */

static _Thread_local char q_ring[Q_SLOTS][Q_BYTES];
static _Thread_local unsigned q_next;

const char *tp_log_qn(const char *s, size_t n)
{
	char *out = q_ring[q_next++ % Q_SLOTS];
	size_t o = 0;

	out[o++] = '"';
	for (size_t i = 0; s && i < n && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		int k;

		if (c == '"' || c == '\\')
			k = snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c == '\n')
			k = snprintf(esc, sizeof(esc), "\\n");
		else if (c == '\r')
			k = snprintf(esc, sizeof(esc), "\\r");
		else if (c == '\t')
			k = snprintf(esc, sizeof(esc), "\\t");
		else if (c < 0x20 || c == 0x7f)
			k = snprintf(esc, sizeof(esc), "\\x%02x", c);
		else
			k = snprintf(esc, sizeof(esc), "%c", c);
		if (o + (size_t)k + 5 > Q_BYTES) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, esc, (size_t)k);
		o += (size_t)k;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

const char *tp_log_q(const char *s)
{
	return tp_log_qn(s, SIZE_MAX);
}

/* ---- the JSON form ---- */

/* A bounded output buffer (never filled by a LINE_BYTES line; once full,
 * appends stop and the line is replaced, see write_json). */
struct jbuf {
	char b[JSON_BYTES];
	size_t n;
	bool full;
};

static void put(struct jbuf *j, const char *s, size_t n)
{
	if (j->full || j->n + n > sizeof(j->b) - 2) {
		j->full = true;
		return;
	}
	memcpy(j->b + j->n, s, n);
	j->n += n;
}

static void puts_(struct jbuf *j, const char *s)
{
	put(j, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t k = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
		 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;

	if (!k || k > n)
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong 3/4-byte forms, surrogates, beyond U+10FFFF. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return k;
}

/* The one JSON string writer: every key and value goes through here. */
static void put_str(struct jbuf *j, const char *s, size_t n)
{
	put(j, "\"", 1);
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		size_t k;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(j, esc, 2);
		} else if (c == '\n') {
			put(j, "\\n", 2);
		} else if (c == '\r') {
			put(j, "\\r", 2);
		} else if (c == '\t') {
			put(j, "\\t", 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(j, esc, 6);
		} else if (c >= 0x80) {
			k = utf8_len((const unsigned char *)s + i, n - i);
			if (k) {
				put(j, s + i, k);
				i += k;
				continue;
			}
			put(j, "\\ufffd", 6);
		} else {
			put(j, s + i, 1);
		}
		i++;
	}
	put(j, "\"", 1);
}

static bool is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* A JSON number, strictly (no leading zeros, +, inf, nan, hex). */
static bool is_number(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i >= n || s[i] < '0' || s[i] > '9')
		return false;
	if (s[i] == '0')
		i++;
	else
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	if (i < n && s[i] == '.') {
		if (++i >= n || s[i] < '0' || s[i] > '9')
			return false;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return false;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == n;
}

/* Undoes tp_log_q's escapes in place: [s, s+n) -> returns the new length. */
static size_t unquote(char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '\\' && i + 1 < n) {
			c = s[++i];
			if (c == 'n')
				c = '\n';
			else if (c == 'r')
				c = '\r';
			else if (c == 't')
				c = '\t';
			else if (c == 'x' && i + 2 < n) {
				unsigned v;

				if (sscanf(s + i + 1, "%2x", &v) == 1) {
					c = (char)v;
					i += 2;
				}
			}
		}
		s[o++] = c;
	}
	return o;
}

struct keys {
	const char *k[MAX_KEYS];
	size_t len[MAX_KEYS];
	unsigned n;
};

/* Writes "key": with a suffix when the key was used before on the line. */
static void put_key(struct jbuf *j, struct keys *seen, const char *k, size_t n)
{
	unsigned dup = 1;
	char key[80];

	for (unsigned i = 0; i < seen->n; i++)
		if (seen->len[i] == n && !memcmp(seen->k[i], k, n))
			dup++;
	if (seen->n < MAX_KEYS) {
		seen->k[seen->n] = k;
		seen->len[seen->n++] = n;
	}
	put(j, ",", 1);
	if (dup == 1) {
		put_str(j, k, n);
	} else {
		int m = snprintf(key, sizeof(key), "%.*s_%u", (int)(n > 64 ? 64 : n), k, dup);

		put_str(j, key, (size_t)m);
	}
	put(j, ":", 1);
}

static void write_json(const char *ts, enum tp_log_level level, char *line)
{
	static _Thread_local struct jbuf j;
	char text[LINE_BYTES];
	size_t tn = 0;
	struct keys seen = {{"ts", "level"}, {2, 5}, 2};
	char *p = line;

	j.n = 0;
	j.full = false;
	puts_(&j, "{\"ts\":");
	put_str(&j, ts, strlen(ts));
	puts_(&j, ",\"level\":");
	put_str(&j, level_names[level], strlen(level_names[level]));
	while (*p) {
		char *key = p, *v;
		size_t kn, vn;

		while (*p == ' ')
			key = ++p;
		if (!*p)
			break;
		while (is_key_char(*p))
			p++;
		kn = (size_t)(p - key);
		if (!kn || *p != '=') {
			/* Not a pair: the word goes to "text". */
			while (*p && *p != ' ')
				p++;
			if (tn + (size_t)(p - key) + 1 < sizeof(text)) {
				if (tn)
					text[tn++] = ' ';
				memcpy(text + tn, key, (size_t)(p - key));
				tn += (size_t)(p - key);
			}
			continue;
		}
		v = ++p;
		if (*v == '"') {
			/* Quoted: up to the closing unescaped quote. */
			for (p = ++v; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			vn = unquote(v, (size_t)(p - v));
			if (*p)
				p++;
			put_key(&j, &seen, key, kn);
			put_str(&j, v, vn);
			continue;
		}
		while (*p && *p != ' ')
			p++;
		vn = (size_t)(p - v);
		put_key(&j, &seen, key, kn);
		if (is_number(v, vn))
			put(&j, v, vn);
		else
			put_str(&j, v, vn);
	}
	if (tn) {
		put_key(&j, &seen, "text", 4);
		put_str(&j, text, tn);
	}
	if (j.full) { /* cannot happen (JSON_BYTES); still one valid object */
		j.n = 0;
		j.full = false;
		puts_(&j, "{\"ts\":");
		put_str(&j, ts, strlen(ts));
		puts_(&j, ",\"msg\":\"log line too long\"");
	}
	j.b[j.n++] = '}';
	j.b[j.n++] = '\n';
	fwrite(j.b, 1, j.n, stderr);
}

void tp_log(enum tp_log_level level, const char *fmt, ...)
{
	char ts[40], day[24], line[LINE_BYTES];
	int off;
	struct timespec now;
	struct tm tm;
	va_list ap;

	if (level < tp_log_min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts, sizeof(ts), "%s.%03ldZ", day, now.tv_nsec / 1000000L);
	/* A worker (workers = N) names itself first, in both formats. */
	off = tp_log_worker ? snprintf(line, sizeof(line), "worker=%u ", tp_log_worker) : 0;
	va_start(ap, fmt);
	vsnprintf(line + off, sizeof(line) - (size_t)off, fmt, ap);
	va_end(ap);
	if (tp_log_format == TP_LOG_JSON) {
		write_json(ts, level, line);
	} else {
		char out[LINE_BYTES + 64];
		int n = snprintf(out, sizeof(out), "ts=%s level=%s %s\n", ts,
				 level_names[level], line);

		if (n >= (int)sizeof(out)) { /* cut: still one line */
			n = (int)sizeof(out) - 1;
			out[n - 1] = '\n';
		}
		fwrite(out, 1, (size_t)n, stderr);
	}
}

int tp_log_format_parse(const char *s)
{
	if (!tp_ascii_casecmp(s, "keyvalue"))
		return TP_LOG_KEYVALUE;
	if (!tp_ascii_casecmp(s, "json"))
		return TP_LOG_JSON;
	return -1;
}

int tp_log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (!tp_ascii_casecmp(s, level_names[i]))
			return (int)i;
	if (!tp_ascii_casecmp(s, "warning"))
		return TP_LOG_WARN;
	if (!tp_ascii_casecmp(s, "err"))
		return TP_LOG_ERR;
	return -1;
}

bool tp_log_ratelimit_allow(struct tp_log_ratelimit *rl, double now,
			    double interval, unsigned long *suppressed)
{
	if (!tp_tbucket_take(&rl->bucket, 1 / interval, 1, now)) {
		rl->suppressed++;
		return false;
	}
	if (suppressed)
		*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}
