/*
 * fuzz_proto.c - libFuzzer harness for protocol/proto.c.
 *
 * Each input is parsed as a client frame with the contract's 64 KiB limit.
 * A refused frame must leave nothing owned and give a printable message
 * (it goes into an error frame as is). An accepted frame must satisfy the
 * parser's invariants (id and epoch bounds, limit range, at most one of
 * preset and inline filter, ping "t" is JSON); its "subscribed", "error"
 * and "pong" answers are rendered and must be valid JSON carrying the id
 * back unchanged. The allocator's live block count must be back where it
 * started: any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/filter.h"
#include "tickpush/json.h"
#include "tickpush/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_proto: check failed: %s (line %d)\n", \
				#c, __LINE__);                                 \
			abort();                                               \
		}                                                              \
	} while (0)

#define MAX_LEN 65536

/* Renders a frame, checks it is one JSON object whose "id" is id. */
static void check_rendered(struct tp_buf *b, const char *id)
{
	cJSON *root, *it;

	CHECK(!b->oom);
	root = cJSON_ParseWithLength(tp_buf_data(b), b->len);
	CHECK(root != NULL && cJSON_IsObject(root));
	it = cJSON_GetObjectItemCaseSensitive(root, "id");
	if (id)
		CHECK(cJSON_IsString(it) && !strcmp(it->valuestring, id));
	cJSON_Delete(root);
	tp_buf_reset(b);
}

/* subscribe and unsubscribe carry an id: bounded, printable, echoed. */
static void check_id(const struct tp_client_frame *f, struct tp_buf *b)
{
	size_t n = strlen(f->id);

	CHECK(n >= 1 && n <= TP_SUB_ID_MAX);
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)f->id[i] >= 0x20 && f->id[i] != 0x7f);
	tp_proto_subscribed(b, f->id, f->since_epoch, f->since_seq, f->has_since);
	check_rendered(b, f->id);
	tp_proto_error(b, f->id, TP_CODE_NOT_FOUND, "no such preset");
	check_rendered(b, f->id);
}

static void check_accepted(const struct tp_client_frame *f)
{
	struct tp_buf b;

	tp_buf_init(&b, 0);
	switch (f->op) {
	case TP_OP_SUBSCRIBE:
		CHECK(f->channel <= TP_SUBCH_HEALTH);
		CHECK(!(f->preset_id && f->has_filter));
		CHECK(f->preset_id >= 0);
		CHECK(f->limit >= 1 && f->limit <= TP_SNAPSHOT_LIMIT_MAX);
		if (f->channel != TP_SUBCH_PATTERNS)
			CHECK(!f->preset_id && !f->has_filter && !f->snapshot &&
			      f->limit == TP_SNAPSHOT_LIMIT_DEFAULT);
		if (f->has_since) {
			size_t e = strlen(f->since_epoch);

			CHECK(e >= 1 && e <= TP_EPOCH_MAX);
			CHECK(f->since_seq <= (1ull << 53));
		}
		/* The filter renders (its canonical form is JSON). */
		tp_filter_canonical(&f->filter, &b);
		check_rendered(&b, NULL);
		check_id(f, &b);
		break;
	case TP_OP_UNSUBSCRIBE:
		check_id(f, &b);
		break;
	case TP_OP_PING:
		tp_proto_pong(&b, f->ping_t);
		check_rendered(&b, NULL);
		break;
	case TP_OP_AUTH:
		CHECK(f->token && f->token[0]);
		CHECK(strlen(f->token) <= 4096);
		break;
	}
	tp_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tp_client_frame f;
	struct tp_errdetail err;
	size_t blocks;
	int rc;

	tp_json_init();
	blocks = tp_alloc_blocks();
	rc = tp_proto_parse((const char *)data, size, MAX_LEN, &f, &err);
	if (rc == TP_OK) {
		check_accepted(&f);
		tp_client_frame_cleanup(&f);
	} else {
		struct tp_buf b;

		CHECK(rc == TP_ERR_PROTO || rc == TP_ERR_NOMEM);
		CHECK(err.msg[0] != '\0');
		CHECK(f.token == NULL && f.ping_t == NULL &&
		      f.filter.symbols == NULL && f.filter.pattern_types == NULL &&
		      f.filter.sectors == NULL && !f.has_filter);
		for (const char *p = err.msg; *p; p++)
			CHECK(*p >= 0x20 && *p < 0x7f);
		tp_buf_init(&b, 0);
		tp_proto_error(&b, NULL, TP_CODE_BAD_REQUEST, err.msg);
		check_rendered(&b, NULL);
		tp_buf_cleanup(&b);
	}
	CHECK(tp_alloc_blocks() == blocks);
	return 0;
}
