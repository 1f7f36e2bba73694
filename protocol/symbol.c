/*
 * symbol.c - the one symbol rule (see symbol.h).
 *
 * Why this set: it is what TickStockPL publishes and what US listings use
 * (BRK.B, BF-B, share classes with '/' in some feeds). Anything else (spaces,
 * ':' or '^' index prefixes, non-ASCII) can never name a pattern, so it is
 * refused where it enters rather than stored and never matched.
 */
#include "tickpush/ascii.h"
#include "tickpush/symbol.h"

static bool symbol_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
	       c == '-' || c == '_' || c == '/';
}

bool tp_symbol_valid(const char *s, size_t n)
{
	if (!s || n == 0 || n > TP_SYMBOL_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!symbol_char(tp_ascii_upper(s[i])))
			return false;
	return true;
}

bool tp_symbol_norm(const char *s, size_t n, char out[TP_SYMBOL_MAX + 1])
{
	out[0] = '\0';
	if (!tp_symbol_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = tp_ascii_upper(s[i]);
	out[n] = '\0';
	return true;
}
