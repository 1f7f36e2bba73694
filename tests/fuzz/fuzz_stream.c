/*
 * fuzz_stream.c - libFuzzer harness for the SSE / long-poll query
 * (core/streamparams.c). Input: one flag byte (bit 0 SSE, bit 1 an
 * Authorization header, bit 2 a Last-Event-ID header, bit 3 the token is
 * refused), then, with bit 2, the header value up to the first newline
 * (at most 63 bytes, as io reads it), then the raw query string.
 *
 * Checked beyond the sanitizers: nothing allocated survives an input; every
 * 400 names its parameter in the field and the message; an accepted
 * request has a channel, a bounded timeout and a NUL-terminated epoch.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/streamparams.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_stream: invariant failed: %s\n", what);
		abort();
	}
}

static int refuse(void *ud)
{
	return *(const int *)ud;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t used = tp_alloc_used(), blocks = tp_alloc_blocks();
	struct tp_query q;
	struct tp_stream_params sp;
	struct tp_errdetail err = {{0}, NULL};
	char leid[64];
	int flags, refused, rc;

	if (size < 1)
		return 0;
	flags = data[0];
	data++;
	size--;
	refused = (flags & 8) != 0;
	if (flags & 4) {
		const uint8_t *nl = memchr(data, '\n', size);
		size_t n = nl ? (size_t)(nl - data) : size;

		/* io's header read: truncated, and NUL ends it. */
		snprintf(leid, sizeof(leid), "%.*s", (int)n, (const char *)data);
		data += nl ? n + 1 : n;
		size -= nl ? n + 1 : n;
	}
	if (tp_query_parse((const char *)data, size, &q, &err) == TP_OK) {
		struct tp_stream_in in = {
			.query = &q, .sse = flags & 1, .has_auth = flags & 2,
			.last_event_id = flags & 4 ? leid : NULL, .epoch = "E",
			.need_user = refuse, .ud = &refused,
		};

		rc = tp_stream_params_parse(&in, &sp, &err);
		if (rc == TP_OK) {
			check(sp.channels != 0 && sp.channels < 8, "channels known");
			check(sp.timeout >= 0 && sp.timeout <= TP_POLL_TIMEOUT_MAX,
			      "timeout bounded");
			check(memchr(sp.epoch, 0, sizeof(sp.epoch)) != NULL, "epoch ends");
			check(!sp.has_since || sp.epoch[0], "a position has an epoch");
			tp_scan_query_cleanup(&sp.q);
		} else if (rc == TP_ERR_INVAL) {
			check(err.field && strstr(err.msg, err.field) == err.msg,
			      "the message starts with its field");
		} else {
			check(rc == TP_ERR_AUTH && refused, "only a refused token");
		}
		tp_query_cleanup(&q);
	}
	check(tp_alloc_used() == used && tp_alloc_blocks() == blocks, "no leak");
	return 0;
}
