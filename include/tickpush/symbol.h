/*
 * symbol.h - what a ticker symbol is (protocol/symbol.c).
 *
 * One rule everywhere a symbol comes in: events, scan and stream filters,
 * presets, watchlists, the /api/symbols/{symbol} path and the symbol
 * directory loaded from PostgreSQL. A symbol is 1 to TP_SYMBOL_MAX
 * characters of A-Z, 0-9 and . - _ / ; lower-case letters are accepted and
 * upper-cased, so "brk.b" and "BRK.B" are the same symbol.
 */
#ifndef TICKPUSH_SYMBOL_H
#define TICKPUSH_SYMBOL_H

#include <stdbool.h>
#include <stddef.h>

#define TP_SYMBOL_MAX 16 /* bytes, without NUL */
/* The characters, for error messages. */
#define TP_SYMBOL_CHARS "A-Z 0-9 . - _ /"

/* s[0..n) is a symbol (in any case). */
bool tp_symbol_valid(const char *s, size_t n);

/* Writes the upper-cased s[0..n) to out and returns true, or returns false
 * with out "" when s[0..n) is not a symbol. */
bool tp_symbol_norm(const char *s, size_t n, char out[TP_SYMBOL_MAX + 1]);

#endif
