/*
 * json.h - cJSON set-up shared by every module that parses JSON
 * (protocol/json.c).
 *
 * cJSON allocates through global hooks. tp_json_init() routes them to
 * tp_malloc/tp_free so cJSON trees count in the allocator's byte counter,
 * take part in the per-test leak check and obey failure injection.
 */
#ifndef TICKPUSH_JSON_H
#define TICKPUSH_JSON_H

#include <stdbool.h>

/* Installs the tp_malloc/tp_free hooks. Idempotent and cheap; call it at
 * start-up before any other cJSON use (a tree allocated before the switch
 * must not be freed after it). tp_event_parse and tp_pattern_from_json call
 * it themselves. */
void tp_json_init(void);

/* True if a cJSON allocation failed since the previous call (the flag is
 * cleared). Lets a caller tell "out of memory" from "bad JSON" when
 * cJSON_Parse* returns NULL. */
bool tp_json_take_oom(void);

#endif
