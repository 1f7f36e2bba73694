/*
 * json.c - routes cJSON's allocations through tp_malloc/tp_free.
 *
 * Invariant: once tp_json_init() ran, every cJSON block comes from
 * tp_malloc, so cJSON_Delete/cJSON_free must never see a block allocated
 * before the switch (hence "call it at start-up"). Single-threaded, like the
 * rest of the server: the hooks and the OOM flag are plain globals.
 */
#include <stddef.h>

#include <cJSON.h>

#include "tickpush/alloc.h"
#include "tickpush/json.h"

static bool hooks_installed;
static bool alloc_failed;

static void *json_malloc(size_t size)
{
	void *p = tp_malloc(size);

	if (!p)
		alloc_failed = true;
	return p;
}

void tp_json_init(void)
{
	cJSON_Hooks hooks = {.malloc_fn = json_malloc, .free_fn = tp_free};

	if (hooks_installed)
		return;
	cJSON_InitHooks(&hooks);
	hooks_installed = true;
}

bool tp_json_take_oom(void)
{
	bool r = alloc_failed;

	alloc_failed = false;
	return r;
}
