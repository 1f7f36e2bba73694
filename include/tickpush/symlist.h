/*
 * symlist.h - a list of symbols in a request body (protocol/symlist.c):
 * a watchlist's "symbols", checked against the symbol directory.
 *
 * Pure: the directory is a lookup callback the io side passes (NULL when
 * it has no copy loaded). Each entry follows the one symbol rule
 * (symbol.h); the answer is the directory's spellings, sorted, without
 * duplicates, as a JSON array.
 */
#ifndef TICKPUSH_SYMLIST_H
#define TICKPUSH_SYMLIST_H

#include <stdbool.h>

#include "tickpush/buf.h"
#include "tickpush/err.h"

#define TP_SYMLIST_MAX 500 /* entries in one list */

struct cJSON;

/* The directory's row for sym (valid, upper-cased): its symbol, borrowed
 * until tp_symlist_validate returns, or NULL when unknown. */
typedef const char *tp_symlist_lookup(void *ud, const char *sym);

/*
 * Validates body's "symbols" member. TP_OK with *out the JSON array
 * (tp_free), or *out NULL when absent and not required. TP_ERR_INVAL with
 * err (a 400); for unknown symbols extra also gets "unknown":[...].
 * TP_ERR_UPSTREAM when lookup is NULL (checked after the list's shape);
 * TP_ERR_NOMEM.
 */
int tp_symlist_validate(const struct cJSON *body, bool required,
			tp_symlist_lookup *lookup, void *ud, char **out,
			struct tp_buf *extra, struct tp_errdetail *err);

#endif
