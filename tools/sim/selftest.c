/*
 * selftest.c - tickpush-sim --self-test: the generator against the parser.
 *
 * Responsibilities: generate N events on a fixed, deterministic clock and
 * run each through tp_event_parse (protocol/event.c) on the channel it would
 * be published on. This checks both sides of docs/events.md at once: the
 * simulator emits what the contract describes, and the parser accepts every
 * shape and rejects every malformed variant. It also checks properties of
 * the stream itself (updated/expired reuse a detected id, confidences in
 * range, the mix roughly as documented); with a fixed seed these are
 * deterministic, not statistical flukes.
 *
 * Ownership: everything is local and released before the allocator check
 * at the end (tp_alloc_used must return to its starting value).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/dict.h"
#include "tickpush/err.h"
#include "tickpush/event.h"

#define MAX_REPORTED 10

struct st_counts {
	unsigned long kinds[SIM_K__COUNT];
	unsigned long shapes[128];
	unsigned long reasons[TP_REJECT__COUNT];
	unsigned long bad[SIM_BAD__COUNT];
	unsigned long failures;
	double conf_sum;
	unsigned long conf_n;
};

static void fail(struct st_counts *c, unsigned long i, const struct sim_info *info,
		 const char *payload, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void fail(struct st_counts *c, unsigned long i, const struct sim_info *info,
		 const char *payload, size_t len, const char *fmt, ...)
{
	va_list ap;

	c->failures++;
	if (c->failures > MAX_REPORTED)
		return;
	printf("FAIL event %lu (%s%s%s, shape %c): ", i, sim_kind_name(info->kind),
	       info->kind == SIM_K_MALFORMED ? "/" : "",
	       info->kind == SIM_K_MALFORMED ? sim_bad_name(info->bad) : "",
	       info->shape ? info->shape : '-');
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n    %.*s%s\n", (int)(len > 400 ? 400 : len), payload,
	       len > 400 ? "..." : "");
}

/* Reasons that only one reading of the contract allows. */
static enum tp_reject strict_reason(enum sim_bad bad)
{
	switch (bad) {
	case SIM_BAD_JSON: return TP_REJECT_BAD_JSON;
	case SIM_BAD_NOT_OBJECT: return TP_REJECT_NOT_OBJECT;
	case SIM_BAD_DIAGNOSTIC: return TP_REJECT_DIAGNOSTIC;
	case SIM_BAD_OVERSIZED: return TP_REJECT_TOO_LARGE;
	default: break;
	}
	return TP_REJECT_NONE;
}

static enum tp_pattern_action action_of(enum sim_kind k)
{
	return k == SIM_K_UPDATED ? TP_PA_UPDATED
	       : k == SIM_K_EXPIRED ? TP_PA_EXPIRED : TP_PA_DETECTED;
}

static void check_pattern(struct st_counts *c, unsigned long i,
			  const struct sim_info *info, const struct tp_event *ev,
			  const char *p, size_t len, struct tp_dict *ids)
{
	const struct tp_pattern *pt = &ev->pattern;
	char num[2][32];

	if (ev->kind != TP_EV_PATTERN) {
		fail(c, i, info, p, len, "parsed as a non-pattern event");
		return;
	}
	if (ev->action != action_of(info->kind))
		fail(c, i, info, p, len, "wrong action");
	if (strcmp(pt->symbol, info->symbol) != 0)
		fail(c, i, info, p, len, "symbol %s, expected %s", pt->symbol, info->symbol);
	if (strcmp(pt->pattern_type, info->pattern_type) != 0)
		fail(c, i, info, p, len, "pattern_type %s, expected %s",
		     pt->pattern_type, info->pattern_type);
	if (strcmp(pt->id, info->id) != 0)
		fail(c, i, info, p, len, "id %s, expected %s", pt->id, info->id);
	if (fabs(pt->confidence - info->confidence) > 1e-9) {
		snprintf(num[0], sizeof(num[0]), "%.6f", pt->confidence);
		snprintf(num[1], sizeof(num[1]), "%.6f", info->confidence);
		fail(c, i, info, p, len, "confidence %s, expected %s", num[0], num[1]);
	}
	if (fabs(pt->detected_at - info->detected_at) > 1e-3) {
		snprintf(num[0], sizeof(num[0]), "%.3f", pt->detected_at);
		snprintf(num[1], sizeof(num[1]), "%.3f", info->detected_at);
		fail(c, i, info, p, len, "detected_at %s, expected %s", num[0], num[1]);
	}
	if (fabs(pt->expires_at - info->expires_at) > 1e-3) {
		snprintf(num[0], sizeof(num[0]), "%.3f", pt->expires_at);
		snprintf(num[1], sizeof(num[1]), "%.3f", info->expires_at);
		fail(c, i, info, p, len, "expires_at %s, expected %s", num[0], num[1]);
	}
	if (info->tier_checkable && pt->tier != info->tier)
		fail(c, i, info, p, len, "tier %s, expected %s", tp_tier_name(pt->tier),
		     tp_tier_name(info->tier));
	if (!pt->indicators_json)
		fail(c, i, info, p, len, "indicators_json is NULL");
	if (pt->confidence < 0.3 || pt->confidence > 0.99)
		fail(c, i, info, p, len, "confidence outside [0.3, 0.99]");
	/* The generator's own invariant: updates and expiries name a pattern
	 * that was detected earlier in the stream. */
	if (info->kind != SIM_K_DETECTED && !tp_dict_get(ids, info->id))
		fail(c, i, info, p, len, "%s of unknown id %s", sim_kind_name(info->kind),
		     info->id);
	if (info->kind == SIM_K_DETECTED &&
	    tp_dict_set(ids, info->id, (void *)1, NULL) != TP_OK)
		fail(c, i, info, p, len, "out of memory");
	c->conf_sum += pt->confidence;
	c->conf_n++;
}

static void check_one(struct st_counts *c, unsigned long i, const struct sim_info *info,
		      const char *p, size_t len, double now, struct tp_dict *ids)
{
	struct tp_event_opts eo = {.now = now, .default_ttl = 3600};
	struct tp_event ev;
	struct tp_errdetail err = {{0}, NULL};
	enum tp_reject r;

	memset(&ev, 0, sizeof(ev));
	r = tp_event_parse(info->channel, p, len, &eo, &ev, &err);
	if (r < TP_REJECT__COUNT)
		c->reasons[r]++;
	if (info->kind == SIM_K_MALFORMED) {
		enum tp_reject want = strict_reason(info->bad);

		c->bad[info->bad]++;
		if (r == TP_REJECT_NONE)
			fail(c, i, info, p, len, "malformed event accepted");
		else if (want != TP_REJECT_NONE && r != want)
			fail(c, i, info, p, len, "rejected as %s, expected %s",
			     tp_reject_name(r), tp_reject_name(want));
		goto done;
	}
	if (r != TP_REJECT_NONE) {
		fail(c, i, info, p, len, "rejected (%s): %s", tp_reject_name(r), err.msg);
		goto done;
	}
	switch (info->kind) {
	case SIM_K_DETECTED: case SIM_K_UPDATED: case SIM_K_EXPIRED:
		check_pattern(c, i, info, &ev, p, len, ids);
		break;
	case SIM_K_PROGRESS: case SIM_K_RESULT:
		if (ev.kind != (info->kind == SIM_K_PROGRESS ? TP_EV_BACKTEST_PROGRESS
							      : TP_EV_BACKTEST_RESULT))
			fail(c, i, info, p, len, "wrong event kind");
		if (strcmp(ev.job_id, info->job_id) != 0)
			fail(c, i, info, p, len, "job_id %s, expected %s", ev.job_id,
			     info->job_id);
		if (!ev.data_json)
			fail(c, i, info, p, len, "data_json is NULL");
		break;
	case SIM_K_HEALTH:
		if (ev.kind != TP_EV_SYSTEM_HEALTH)
			fail(c, i, info, p, len, "wrong event kind");
		break;
	case SIM_K_MALFORMED: case SIM_K__COUNT:
		break;
	}
	tp_event_cleanup(&ev);
	/* A known event on the wrong channel is dropped, not misfiled. */
	if (info->kind <= SIM_K_EXPIRED && i % 7 == 0) {
		memset(&ev, 0, sizeof(ev));
		r = tp_event_parse(TP_CH_HEALTH, p, len, &eo, &ev, NULL);
		if (r == TP_REJECT_NONE)
			fail(c, i, info, p, len, "pattern accepted on the health channel");
	}
done:
	tp_event_cleanup(&ev);
}

static void check_mix(struct st_counts *c, const struct sim_opts *o, unsigned long n)
{
	unsigned long pats = c->kinds[SIM_K_DETECTED] + c->kinds[SIM_K_UPDATED] +
			     c->kinds[SIM_K_EXPIRED];
	double upd, exp_, mal, mean;

	if (n < 1000 || pats == 0)
		return; /* too few events for the shares to mean anything */
	upd = (double)c->kinds[SIM_K_UPDATED] / (double)pats;
	exp_ = (double)c->kinds[SIM_K_EXPIRED] / (double)pats;
	mal = (double)c->kinds[SIM_K_MALFORMED] / (double)n;
	mean = c->conf_n ? c->conf_sum / (double)c->conf_n : 0;
	if (upd < 0.05 || upd > 0.15 || exp_ < 0.01 || exp_ > 0.06) {
		printf("FAIL mix: updated %.3f (want ~0.10), expired %.3f (want ~0.03)\n",
		       upd, exp_);
		c->failures++;
	}
	if (fabs(mal - o->malformed) > 0.03 + o->malformed / 3) {
		printf("FAIL mix: malformed %.3f, asked %.3f\n", mal, o->malformed);
		c->failures++;
	}
	if (mean < 0.62 || mean > 0.78) {
		printf("FAIL mix: mean confidence %.3f (want 0.65-0.75)\n", mean);
		c->failures++;
	}
	if (o->shapes && (!c->shapes['A'] || !c->shapes['B'] || !c->shapes['C'] ||
			  !c->shapes['D'] || !c->kinds[SIM_K_HEALTH] ||
			  !c->kinds[SIM_K_PROGRESS] || !c->kinds[SIM_K_RESULT])) {
		printf("FAIL mix: --shapes did not produce every shape and kind\n");
		c->failures++;
	}
}

int sim_selftest(const struct sim_opts *opts, unsigned long n, bool verbose)
{
	size_t used0 = tp_alloc_used();
	struct sim_state st;
	struct tp_buf buf;
	struct tp_dict *ids = NULL;
	struct st_counts c;
	struct sim_info info;
	double now = 1757000000.0; /* fixed: the run is reproducible */
	unsigned long i;
	int k, rc = 1;

	memset(&c, 0, sizeof(c));
	tp_buf_init(&buf, 0);
	if (sim_state_init(&st, opts) != TP_OK) {
		printf("self-test: cannot initialise the generator\n");
		return 1;
	}
	ids = tp_dict_create();
	if (!ids)
		goto out;
	for (i = 0; i < n; i++) {
		now += 0.05;
		sim_gen_next(&st, now, &buf, &info);
		if (buf.oom) {
			printf("self-test: out of memory\n");
			goto out;
		}
		c.kinds[info.kind]++;
		c.shapes[(unsigned char)info.shape & 127]++;
		if (verbose)
			printf("%s %.*s\n", tp_channel_name(info.channel),
			       (int)(buf.len > 300 ? 300 : buf.len), tp_buf_data(&buf));
		check_one(&c, i, &info, tp_buf_data(&buf) ? tp_buf_data(&buf) : "",
			  buf.len, now + 0.001, ids);
		if (i % 50 == 49) {
			/* The periodic health event too. */
			sim_gen_health(&st, now, &buf, &info);
			c.kinds[SIM_K_HEALTH]++;
			check_one(&c, i, &info, tp_buf_data(&buf), buf.len, now, ids);
		}
	}
	check_mix(&c, opts, n);
	printf("self-test: %lu events, seed %llu:", n, (unsigned long long)opts->seed);
	for (k = 0; k < SIM_K__COUNT; k++)
		printf(" %s=%lu", sim_kind_name((enum sim_kind)k), c.kinds[k]);
	printf("\n  shapes: A=%lu B=%lu C=%lu D=%lu flat=%lu\n  parser verdicts:",
	       c.shapes['A'], c.shapes['B'], c.shapes['C'], c.shapes['D'], c.shapes['F']);
	for (k = 0; k < TP_REJECT__COUNT; k++)
		if (c.reasons[k])
			printf(" %s=%lu", tp_reject_name((enum tp_reject)k), c.reasons[k]);
	printf("\n  mean confidence %.3f\n", c.conf_n ? c.conf_sum / (double)c.conf_n : 0);
	rc = c.failures ? 1 : 0;
out:
	tp_dict_destroy(ids);
	tp_buf_cleanup(&buf);
	sim_state_cleanup(&st);
	if (tp_alloc_used() != used0) {
		printf("FAIL leak: %zu bytes still allocated\n", tp_alloc_used() - used0);
		rc = 1;
	}
	printf("self-test: %s (%lu failures)\n", rc ? "FAILED" : "ok", c.failures);
	return rc;
}
