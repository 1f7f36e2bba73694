/*
 * fuzz_config.c - libFuzzer harness for the config-file parser
 * (tp_config_load_string), also replayed over corpus/config/ in ctest.
 *
 * Properties checked beyond "no crash, no leak, no UB":
 * - a failed load leaves a message and a cleaned-up struct;
 * - a successful load, when it holds no secrets (which print masked),
 *   prints as a file that loads again and prints identically.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickpush/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *print_cfg(const struct tp_config *cfg, size_t *len)
{
	char *s = NULL;
	FILE *f = open_memstream(&s, len);

	if (!f)
		abort();
	tp_config_print(f, cfg);
	fclose(f);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tp_config cfg, back;
	struct tp_errdetail err;
	char *first, *second;
	size_t n1, n2;

	memset(&err, 0, sizeof(err));
	if (tp_config_load_string(&cfg, (const char *)data, size, "fuzz", &err)) {
		if (!err.msg[0] || cfg.bind != NULL)
			abort();
		return 0;
	}
	if (*cfg.redis_password || *cfg.jwt_secret || *cfg.database_uri) {
		tp_config_cleanup(&cfg);
		return 0;
	}
	first = print_cfg(&cfg, &n1);
	if (tp_config_load_string(&back, first, n1, "printed", &err)) {
		fprintf(stderr, "printed config does not load: %s\n%s\n", err.msg,
			first);
		abort();
	}
	second = print_cfg(&back, &n2);
	if (n1 != n2 || memcmp(first, second, n1))
		abort();
	free(first);
	free(second);
	tp_config_cleanup(&cfg);
	tp_config_cleanup(&back);
	return 0;
}
