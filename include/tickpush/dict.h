/*
 * dict.h - string-keyed hash map (open hashing, power-of-two buckets).
 *
 * Keys are copied on insert and owned by the dict; values are borrowed
 * pointers the caller owns. Iteration order is unspecified. Not safe against
 * mutation during tp_dict_foreach except deleting the visited key through
 * the callback's return value.
 */
#ifndef TICKPUSH_DICT_H
#define TICKPUSH_DICT_H

#include <stdbool.h>
#include <stddef.h>

struct tp_dict;

struct tp_dict *tp_dict_create(void);
void tp_dict_destroy(struct tp_dict *d); /* NULL-safe; does not free values */

/* Insert or replace. *old (if non-NULL) receives the replaced value or NULL.
 * Returns TP_OK or TP_ERR_NOMEM (the dict is unchanged then). */
int tp_dict_set(struct tp_dict *d, const char *key, void *value, void **old);
void *tp_dict_get(const struct tp_dict *d, const char *key);
/* Removes key; returns its value or NULL when absent. */
void *tp_dict_del(struct tp_dict *d, const char *key);
size_t tp_dict_size(const struct tp_dict *d);

/* Calls cb for each entry; cb returns true to delete that entry. */
typedef bool tp_dict_visit_cb(const char *key, void *value, void *ud);
void tp_dict_foreach(struct tp_dict *d, tp_dict_visit_cb *cb, void *ud);

/* FNV-1a, exposed for modules that build their own tables. */
unsigned long tp_hash_str(const char *s);

#endif
