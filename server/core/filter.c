/*
 * filter.c - the one filter model (see filter.h).
 *
 * A filter is built once (from scan parameters, a preset's JSON or an inline
 * WebSocket filter) and then only read. Lists are kept sorted and
 * deduplicated so matching is a binary search and the canonical form is
 * independent of the order parameters were given in. tp_filter_match runs
 * for every (event, subscription) pair on the push path: it must never
 * allocate.
 *
 * Ownership: the filter owns its arrays and strings; tp_filter_cleanup frees
 * them. Nothing here keeps pointers into the caller's input.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/filter.h"

void tp_filter_init(struct tp_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->confidence_min = 0.5;
	f->rs_min = 0;
	f->vol_min = 0;
	f->rsi_min = 0;
	f->rsi_max = 100;
	f->tier_mask = 0;
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tp_free(list[i]);
	tp_free(list);
}

void tp_filter_cleanup(struct tp_filter *f)
{
	if (!f)
		return;
	free_list(f->pattern_types, f->n_pattern_types);
	free_list(f->symbols, f->n_symbols);
	free_list(f->sectors, f->n_sectors);
	f->pattern_types = f->symbols = f->sectors = NULL;
	f->n_pattern_types = f->n_symbols = f->n_sectors = 0;
}

static int copy_list(char ***dst, size_t *dn, char *const *src, size_t n)
{
	*dst = NULL;
	*dn = 0;
	if (!n)
		return TP_OK;
	*dst = tp_calloc(n, sizeof(char *));
	if (!*dst)
		return TP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		(*dst)[i] = tp_strdup(src[i]);
		if (!(*dst)[i])
			return TP_ERR_NOMEM; /* caller cleans up; *dn counts copies */
		*dn = i + 1;
	}
	return TP_OK;
}

int tp_filter_copy(struct tp_filter *dst, const struct tp_filter *src)
{
	*dst = *src;
	dst->pattern_types = dst->symbols = dst->sectors = NULL;
	dst->n_pattern_types = dst->n_symbols = dst->n_sectors = 0;
	if (copy_list(&dst->pattern_types, &dst->n_pattern_types,
		      src->pattern_types, src->n_pattern_types) ||
	    copy_list(&dst->symbols, &dst->n_symbols, src->symbols,
		      src->n_symbols) ||
	    copy_list(&dst->sectors, &dst->n_sectors, src->sectors,
		      src->n_sectors)) {
		tp_filter_cleanup(dst);
		return TP_ERR_NOMEM;
	}
	return TP_OK;
}

/* Lists are sorted with the same comparison used here to search them. */
static bool list_has(char *const *list, size_t n, const char *key,
		     bool nocase)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = nocase ? strcasecmp(key, list[mid]) : strcmp(key, list[mid]);

		if (c == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

bool tp_filter_match(const struct tp_filter *f, const struct tp_pattern *p)
{
	if (p->confidence < f->confidence_min)
		return false;
	if (p->rs < f->rs_min || p->rvol < f->vol_min)
		return false;
	if (p->rsi < f->rsi_min || p->rsi > f->rsi_max)
		return false;
	if (f->tier_mask && !(f->tier_mask & TP_TIER_BIT(p->tier)))
		return false;
	if (f->n_symbols && !list_has(f->symbols, f->n_symbols, p->symbol, false))
		return false;
	if (f->n_pattern_types &&
	    !list_has(f->pattern_types, f->n_pattern_types, p->pattern_type, true))
		return false;
	if (f->n_sectors &&
	    (!p->sector[0] || !list_has(f->sectors, f->n_sectors, p->sector, true)))
		return false;
	return true;
}
