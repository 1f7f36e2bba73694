/*
 * fuzz_event.c - libFuzzer harness for protocol/event.c and render.c.
 *
 * Each input is parsed as an event on every channel and as a stored cache
 * record. Every accepted pattern is rendered as a scan row (which must be
 * valid JSON) and round-tripped through tp_pattern_to_json /
 * tp_pattern_from_json (which must reproduce the same bytes). Invariants of
 * the normalised record are checked, and the allocator's live block count
 * must be back where it started: any violation aborts.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/event.h"
#include "tickpush/json.h"
#include "tickpush/render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_event: check failed: %s (line %d)\n", \
				#c, __LINE__);                                 \
			abort();                                               \
		}                                                              \
	} while (0)

#define NOW 1725460000.0

static void check_pattern(const struct tp_pattern *p, bool named)
{
	size_t n = strlen(p->symbol);

	CHECK(p->indicators_json != NULL);
	CHECK(strncmp(p->indicators_json, "{\"relative_strength\":", 21) == 0);
	CHECK(n <= TP_SYMBOL_MAX && (!named || n > 0));
	for (size_t i = 0; i < n; i++)
		CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_/",
			     p->symbol[i]) != NULL);
	CHECK(!named || p->pattern_type[0] != '\0');
	CHECK(p->id[0] != '\0');
	CHECK(p->confidence >= 0 && p->confidence <= 1);
	CHECK(isfinite(p->current_price) && isfinite(p->price_change));
	CHECK(p->detected_at > 0 && p->detected_at < 1e11);
	CHECK(p->expires_at > 0 && p->expires_at < 1e11);
	CHECK(p->rs >= 0 && isfinite(p->rs));
	CHECK(p->rvol >= 0 && isfinite(p->rvol));
	CHECK(p->rsi >= 0 && p->rsi <= 100);
}

/* Row must be valid JSON; the record must read back to the same bytes. */
static void exercise(const struct tp_pattern *p)
{
	struct tp_buf row, rec, rec2;
	struct tp_pattern back;
	struct tp_errdetail err;
	cJSON *root;
	enum tp_reject r;

	tp_buf_init(&row, 0);
	tp_render_row(&row, p, NOW);
	if (!row.oom) {
		root = cJSON_ParseWithLength(tp_buf_data(&row), row.len);
		CHECK(root != NULL);
		CHECK(cJSON_GetArraySize(root) == 18);
		cJSON_Delete(root);
	}
	tp_buf_cleanup(&row);

	tp_buf_init(&rec, 0);
	tp_buf_init(&rec2, 0);
	tp_pattern_to_json(&rec, p);
	CHECK(!rec.oom);
	r = tp_pattern_from_json(tp_buf_data(&rec), rec.len, &back, &err);
	if (r != TP_REJECT_NONE)
		fprintf(stderr, "round trip: %s: %s\n", tp_reject_name(r), err.msg);
	CHECK(r == TP_REJECT_NONE);
	check_pattern(&back, true);
	tp_pattern_to_json(&rec2, &back);
	CHECK(rec.len == rec2.len &&
	      memcmp(tp_buf_data(&rec), tp_buf_data(&rec2), rec.len) == 0);
	tp_pattern_cleanup(&back);
	tp_buf_cleanup(&rec);
	tp_buf_cleanup(&rec2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct tp_event_opts opts = {.now = NOW, .default_ttl = 3600};
	const char *buf = (const char *)data;
	size_t blocks;
	struct tp_errdetail err;
	struct tp_pattern p;
	enum tp_reject r;

	tp_json_init();
	blocks = tp_alloc_blocks();
	for (int ch = 0; ch < TP_CH__COUNT; ch++) {
		struct tp_event ev;

		r = tp_event_parse((enum tp_channel)ch, buf, size, &opts, &ev,
				   &err);
		CHECK(r < TP_REJECT__COUNT);
		if (r != TP_REJECT_NONE) {
			CHECK(err.field != NULL);
			CHECK(strncmp(err.msg, err.field, strlen(err.field)) == 0);
			CHECK(ev.data_json == NULL &&
			      ev.pattern.indicators_json == NULL);
			continue;
		}
		if (ev.kind == TP_EV_PATTERN) {
			bool named = ev.action != TP_PA_EXPIRED;

			check_pattern(&ev.pattern, named);
			if (named)
				exercise(&ev.pattern);
		} else {
			CHECK(ev.data_json != NULL && ev.data_json[0] == '{');
			CHECK(ev.progress >= 0 && ev.progress <= 1);
		}
		tp_event_cleanup(&ev);
	}
	r = tp_pattern_from_json(buf, size, &p, &err);
	if (r == TP_REJECT_NONE) {
		check_pattern(&p, true);
		exercise(&p);
		tp_pattern_cleanup(&p);
	}
	CHECK(tp_alloc_blocks() == blocks);
	return 0;
}
