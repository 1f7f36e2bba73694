/*
 * symfile.c - tickpush-sim --symbols-file: load (symbol, sector) from a CSV.
 *
 * Responsibilities: read a CSV (RFC 4180 quoting, CRLF or LF), find the
 * "Symbol"/"Ticker" and "GICS Sector"/"Sector" columns from the header (or,
 * without such a header, take the first column of every row as the symbol),
 * upper-case and validate symbols against the contract's character set, and
 * drop duplicates.
 *
 * Ownership: the result is ONE tp_malloc block: the sim_symbol array followed
 * by the string pool its pointers point into; sim_symbols_free releases it.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "gen.h"
#include "tickpush/alloc.h"
#include "tickpush/ascii.h"
#include "tickpush/buf.h"
#include "tickpush/dict.h"
#include "tickpush/err.h"

#define MAX_FILE_BYTES (64u << 20)

/* Reads one field starting at *p into f (NUL-terminated). Sets *eol when the
 * field ended its record. Returns false at end of input with nothing read. */
static bool next_field(const char **p, const char *end, struct tp_buf *f, bool *eol)
{
	const char *s = *p;
	bool quoted = false;

	tp_buf_reset(f);
	*eol = false;
	if (s >= end)
		return false;
	if (*s == '"') {
		quoted = true;
		s++;
	}
	while (s < end) {
		char c = *s;

		if (quoted) {
			if (c == '"' && s + 1 < end && s[1] == '"') {
				tp_buf_putc(f, '"');
				s += 2;
				continue;
			}
			if (c == '"') {
				quoted = false;
				s++;
				continue;
			}
			tp_buf_putc(f, c);
			s++;
			continue;
		}
		if (c == ',') {
			s++;
			break;
		}
		if (c == '\r' || c == '\n') {
			s += (c == '\r' && s + 1 < end && s[1] == '\n') ? 2 : 1;
			*eol = true;
			break;
		}
		tp_buf_putc(f, c);
		s++;
	}
	if (s >= end)
		*eol = true;
	*p = s;
	tp_buf_cstr(f);
	return true;
}

static void trim_upper(char *s, bool upper)
{
	size_t n = strlen(s), i = 0;

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	while (s[i] && isspace((unsigned char)s[i]))
		i++;
	memmove(s, s + i, n - i + 1);
	for (i = 0; upper && s[i]; i++)
		s[i] = tp_ascii_upper(s[i]);
}

static bool valid_symbol(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > TP_SYMBOL_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '-' || c == '_' || c == '/'))
			return false;
	}
	return true;
}

static int read_file(const char *path, struct tp_buf *b, char *msg, size_t msglen)
{
	FILE *fp = fopen(path, "rb");
	char chunk[8192];
	size_t n;
	int rc = TP_OK;

	if (!fp) {
		snprintf(msg, msglen, "%s: cannot open", path);
		return TP_ERR_IO;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		tp_buf_append(b, chunk, n);
		if (b->len > MAX_FILE_BYTES) {
			snprintf(msg, msglen, "%s: larger than %u bytes", path, MAX_FILE_BYTES);
			rc = TP_ERR_INVAL;
			break;
		}
	}
	if (rc == TP_OK && ferror(fp)) {
		snprintf(msg, msglen, "%s: read error", path);
		rc = TP_ERR_IO;
	}
	if (rc == TP_OK && b->oom)
		rc = TP_ERR_NOMEM;
	fclose(fp);
	return rc;
}

int sim_symbols_load(const char *path, struct sim_symbol **out, size_t *nout,
		     char *msg, size_t msglen)
{
	struct tp_buf file, field, pool, offs;
	struct tp_dict *seen = NULL;
	const char *p, *end;
	long sym_col = -1, sec_col = -1, col = 0;
	bool header = true, eol;
	size_t n = 0, i, *o;
	struct sim_symbol *res;
	char sym[TP_SYMBOL_MAX + 1] = "", sector[TP_SECTOR_MAX + 1] = "";
	int rc;

	*out = NULL;
	*nout = 0;
	tp_buf_init(&file, 0);
	tp_buf_init(&field, 0);
	tp_buf_init(&pool, 0);
	tp_buf_init(&offs, 0);
	rc = read_file(path, &file, msg, msglen);
	if (rc != TP_OK)
		goto done;
	seen = tp_dict_create();
	if (!seen) {
		rc = TP_ERR_NOMEM;
		goto done;
	}
	p = tp_buf_data(&file);
	end = p + file.len;
	if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3; /* UTF-8 BOM from spreadsheet exports */
	while (next_field(&p, end, &field, &eol)) {
		static char empty[1];
		char *f = tp_buf_data(&field) ? tp_buf_data(&field) : empty;

		trim_upper(f, false);
		if (header) {
			if (tp_ascii_casecmp(f, "Symbol") == 0 || tp_ascii_casecmp(f, "Ticker") == 0)
				sym_col = col;
			else if (tp_ascii_casecmp(f, "GICS Sector") == 0 ||
				 (tp_ascii_casecmp(f, "Sector") == 0 && sec_col < 0))
				sec_col = col;
			if (col == 0 && sym_col < 0 && eol) {
				/* A bare list: the first line is data. */
				header = false;
				sym_col = 0;
			}
		}
		if (!header) {
			if (col == sym_col) {
				trim_upper(f, true);
				/* Too long: left empty, so the row is skipped. */
				if (strlen(f) <= TP_SYMBOL_MAX)
					memcpy(sym, f, strlen(f) + 1);
			} else if (col == sec_col) {
				snprintf(sector, sizeof(sector), "%s", f);
			}
		}
		col++;
		if (!eol)
			continue;
		if (header) {
			header = false;
			if (sym_col < 0)
				sym_col = 0; /* no named column: first one */
		} else if (valid_symbol(sym) && !tp_dict_get(seen, sym)) {
			size_t so = pool.len, se;

			tp_buf_append(&pool, sym, strlen(sym) + 1);
			se = pool.len;
			tp_buf_append(&pool, sector, strlen(sector) + 1);
			tp_buf_append(&offs, &so, sizeof(so));
			tp_buf_append(&offs, &se, sizeof(se));
			if (tp_dict_set(seen, sym, (void *)1, NULL) != TP_OK) {
				rc = TP_ERR_NOMEM;
				goto done;
			}
			n++;
		}
		col = 0;
		sym[0] = sector[0] = '\0';
	}
	if (pool.oom || offs.oom || field.oom) {
		rc = TP_ERR_NOMEM;
		goto done;
	}
	if (n == 0) {
		snprintf(msg, msglen, "%s: no valid symbols (need a Symbol column of "
			 "1-16 chars A-Z 0-9 . - _ /)", path);
		rc = TP_ERR_INVAL;
		goto done;
	}
	res = tp_malloc(n * sizeof(*res) + pool.len);
	if (!res) {
		rc = TP_ERR_NOMEM;
		goto done;
	}
	memcpy((char *)(res + n), tp_buf_data(&pool), pool.len);
	o = (size_t *)(void *)tp_buf_data(&offs);
	for (i = 0; i < n; i++) {
		res[i].symbol = (const char *)(res + n) + o[2 * i];
		res[i].sector = (const char *)(res + n) + o[2 * i + 1];
	}
	*out = res;
	*nout = n;
done:
	tp_dict_destroy(seen);
	tp_buf_cleanup(&file);
	tp_buf_cleanup(&field);
	tp_buf_cleanup(&pool);
	tp_buf_cleanup(&offs);
	return rc;
}

void sim_symbols_free(struct sim_symbol *syms)
{
	tp_free(syms);
}
