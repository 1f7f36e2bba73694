/*
 * test_push.c - the push hub against a fake transport: subscribe rules,
 * fan-out checked against brute force (one frame per event per session,
 * listing every matching subscription in creation order), resume (replay
 * then live, no gap or duplicate; other epoch, too old and future
 * positions get a gap), snapshots, slow consumers, backtests to their
 * owner, health, preset changes and deletion, pattern removals, the HTTP
 * replay, and OOM at every allocation of subscribe, fan-out and preset
 * changes.
 *
 * The fake transport records frames with the C library allocator so the
 * recording never consumes injected allocation failures.
 */
#include <cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/filter.h"
#include "tickpush/patterns.h"
#include "tickpush/push.h"
#include "tickpush/render.h"

#define NOW 1000000.0
#define EPOCH "ep1"

/* ------------------------------------------------------------------ */
/* fake transport                                                       */

struct rec {
	char type[32];
	uint64_t seq;
	char *frame;
};

struct fake {
	struct rec *r;
	size_t n, cap;
	size_t attempts;
	size_t limit; /* > 0: refuse (TP_ERR_LIMIT) once n reaches it */
};

/* Records head + tail as one frame: what a client receives. */
static int fake_send(void *transport, const struct tp_push_frame *pf)
{
	struct fake *f = transport;
	size_t tail_len = pf->tail ? pf->tail->len : 0;
	size_t len = pf->head_len + tail_len;
	struct rec *r;

	f->attempts++;
	if (f->limit && f->n >= f->limit)
		return TP_ERR_LIMIT;
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->r = realloc(f->r, f->cap * sizeof(*f->r));
		assert_non_null(f->r);
	}
	r = &f->r[f->n++];
	snprintf(r->type, sizeof(r->type), "%s", pf->type);
	r->seq = pf->seq;
	r->frame = malloc(len + 1);
	assert_non_null(r->frame);
	memcpy(r->frame, pf->head, pf->head_len);
	if (tail_len)
		memcpy(r->frame + pf->head_len, pf->tail->data, tail_len);
	r->frame[len] = '\0';
	return TP_OK;
}

static void fake_clear(struct fake *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->r[i].frame);
	free(f->r);
	memset(f, 0, sizeof(*f));
}

static struct tp_push *mkhub(size_t max_subs, size_t hist)
{
	struct tp_push_opts o;
	struct tp_push *hub;

	memset(&o, 0, sizeof(o));
	o.epoch = EPOCH;
	o.max_subs = max_subs;
	o.history_events = hist;
	o.history_seconds = 600;
	o.ops.send = fake_send;
	hub = tp_push_create(&o);
	assert_non_null(hub);
	return hub;
}

/* ------------------------------------------------------------------ */
/* helpers                                                              */

/* Builds *f from name/value pairs, NULL-terminated. */
static void build(struct tp_filter *f, const char *const *kv)
{
	tp_filter_init(f);
	for (; kv && kv[0]; kv += 2) {
		struct tp_errdetail err = { { 0 }, NULL };
		int rc = tp_filter_set_param(f, kv[0], kv[1], &err);

		if (rc != TP_OK)
			fail_msg("%s=%s: rc %d (%s)", kv[0], kv[1], rc, err.msg);
	}
}

static void mkp(struct tp_pattern *p, const char *sym, const char *type,
		double conf, double detected)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->symbol, sizeof(p->symbol), "%s", sym);
	snprintf(p->pattern_type, sizeof(p->pattern_type), "%s", type);
	snprintf(p->id, sizeof(p->id), "%s:%s:%lld", sym, type,
		 (long long)detected);
	p->confidence = conf;
	p->current_price = 100;
	p->price_change = 1.5;
	p->rs = p->rvol = 1.0;
	p->rsi = 50;
	p->tier = TP_TIER_DAILY;
	p->detected_at = detected;
	p->expires_at = detected + 3600;
	p->indicators_json = (char *)"{}";
}

static struct tp_push_sub_req req_patterns(const char *id,
					   const struct tp_filter *f)
{
	struct tp_push_sub_req r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.channel = TP_SUBCH_PATTERNS;
	r.filter = f;
	return r;
}

static struct tp_push_sub_req req_channel(const char *id,
					  enum tp_sub_channel ch)
{
	struct tp_push_sub_req r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.channel = ch;
	return r;
}

static void subscribe_ok(struct tp_push *hub, struct tp_push_session *s,
			 const struct tp_push_sub_req *r,
			 const struct tp_patterns *store)
{
	struct tp_errdetail err = { { 0 }, NULL };
	int rc = tp_push_subscribe(hub, s, r, store, NOW, &err);

	if (rc != TP_OK)
		fail_msg("subscribe %s: rc %d (%s)", r->id, rc, err.msg);
}

static cJSON *parse(const struct rec *r)
{
	cJSON *j = cJSON_Parse(r->frame);

	if (!j)
		fail_msg("not JSON: %s", r->frame);
	return j;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	assert_true(cJSON_IsNumber(it));
	return it->valuedouble;
}

/* "subs" joined by ','. */
static void jsubs(const cJSON *o, char *out, size_t n)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "subs");
	const cJSON *it;
	size_t at = 0;

	assert_true(cJSON_IsArray(a));
	out[0] = '\0';
	cJSON_ArrayForEach(it, a) {
		assert_true(cJSON_IsString(it));
		at += (size_t)snprintf(out + at, n - at, "%s%s", at ? "," : "",
				       it->valuestring);
		assert_true(at < n);
	}
}

/* Checks record r is an event frame of type with seq and subs. */
static void expect_event(const struct rec *r, const char *type, uint64_t seq,
			 const char *subs)
{
	cJSON *j = parse(r);
	char got[512];

	assert_string_equal(r->type, type);
	assert_int_equal(r->seq, seq);
	assert_string_equal(jstr(j, "type"), type);
	assert_true(jnum(j, "seq") == (double)seq);
	jsubs(j, got, sizeof(got));
	assert_string_equal(got, subs);
	cJSON_Delete(j);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

static const char *const SYMS[] = { "AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "META" };
static const char *const TYPES[] = { "Doji", "Hammer", "Bull_Flag", "Weekly_Breakout" };

/* ------------------------------------------------------------------ */
/* subscribe rules                                                      */

static void test_subscribe_rules(void **state)
{
	struct tp_push *hub = mkhub(3, 100);
	struct fake fa = { 0 }, fu = { 0 };
	struct tp_push_session *anon, *user;
	struct tp_errdetail err = { { 0 }, NULL };
	struct tp_push_sub_req r;
	struct tp_push_stats st;
	struct tp_filter f;
	cJSON *j;

	(void)state;
	build(&f, (const char *const[]){ "symbols", "AAPL", NULL });
	anon = tp_push_session_create(hub, &fa, 0);
	user = tp_push_session_create(hub, &fu, 42);
	assert_non_null(anon);
	assert_non_null(user);
	assert_int_equal(tp_push_session_user(user), 42);
	assert_false(tp_push_session_is_slow(anon));

	/* Anonymous: inline patterns and health only. */
	r = req_patterns("p", &f);
	subscribe_ok(hub, anon, &r, NULL);
	assert_int_equal(fa.n, 1);
	j = parse(&fa.r[0]);
	assert_string_equal(jstr(j, "type"), "subscribed");
	assert_string_equal(jstr(j, "id"), "p");
	assert_string_equal(jstr(j, "epoch"), EPOCH);
	assert_true(jnum(j, "seq") == 0);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "recovered")));
	cJSON_Delete(j);
	assert_string_equal(fa.r[0].type, "subscribed");

	r = req_patterns("q", &f);
	r.preset_id = 7;
	assert_int_equal(tp_push_subscribe(hub, anon, &r, NULL, NOW, &err),
			 TP_ERR_AUTH);
	assert_non_null(strstr(err.msg, "token"));
	r = req_channel("b", TP_SUBCH_BACKTESTS);
	assert_int_equal(tp_push_subscribe(hub, anon, &r, NULL, NOW, &err),
			 TP_ERR_AUTH);
	r = req_channel("h", TP_SUBCH_HEALTH);
	subscribe_ok(hub, anon, &r, NULL);
	assert_int_equal(tp_push_session_subs(anon), 2);
	assert_int_equal(fa.n, 2); /* errors sent nothing */

	/* Duplicate id, whatever the channel. */
	r = req_channel("p", TP_SUBCH_HEALTH);
	assert_int_equal(tp_push_subscribe(hub, anon, &r, NULL, NOW, &err),
			 TP_ERR_EXISTS);
	/* Invalid ids. */
	r = req_channel("", TP_SUBCH_HEALTH);
	assert_int_equal(tp_push_subscribe(hub, anon, &r, NULL, NOW, &err),
			 TP_ERR_INVAL);

	/* Users: presets and backtests; max_subs = 3. */
	r = req_patterns("p", &f);
	r.preset_id = 7;
	subscribe_ok(hub, user, &r, NULL);
	r = req_channel("b", TP_SUBCH_BACKTESTS);
	subscribe_ok(hub, user, &r, NULL);
	r = req_patterns("x", &f);
	subscribe_ok(hub, user, &r, NULL);
	r = req_channel("y", TP_SUBCH_HEALTH);
	assert_int_equal(tp_push_subscribe(hub, user, &r, NULL, NOW, &err),
			 TP_ERR_LIMIT);
	assert_int_equal(fu.n, 3);
	assert_int_equal(tp_push_session_subs(user), 3);

	tp_push_get_stats(hub, &st);
	assert_int_equal(st.sessions, 2);
	assert_int_equal(st.subscriptions, 5);
	assert_int_equal(st.distinct_filters, 1); /* three subs, one filter */
	assert_int_equal(st.frames, 5);

	/* Unsubscribe frees a slot. */
	assert_int_equal(tp_push_unsubscribe(hub, user, "zz"), TP_ERR_NOTFOUND);
	assert_int_equal(tp_push_unsubscribe(hub, user, "x"), TP_OK);
	assert_int_equal(tp_push_unsubscribe(hub, user, "x"), TP_ERR_NOTFOUND);
	subscribe_ok(hub, user, &r, NULL);
	assert_int_equal(tp_push_session_subs(user), 3);

	/* Re-authentication changes what the session may do. */
	tp_push_session_set_user(anon, 9);
	r = req_channel("b", TP_SUBCH_BACKTESTS);
	subscribe_ok(hub, anon, &r, NULL);

	tp_push_session_destroy(user);
	tp_push_session_destroy(anon);
	tp_push_session_destroy(NULL);
	tp_push_get_stats(hub, &st);
	assert_int_equal(st.sessions, 0);
	assert_int_equal(st.subscriptions, 0);
	assert_int_equal(st.distinct_filters, 0);
	tp_push_destroy(hub);
	tp_push_destroy(NULL);
	tp_filter_cleanup(&f);
	fake_clear(&fa);
	fake_clear(&fu);
}

/* ------------------------------------------------------------------ */
/* fan-out against brute force                                          */

#define NSESS 24
#define MAXS 6

struct msub {
	char id[16];
	struct tp_filter f;
};

struct msess {
	struct tp_push_session *s;
	struct fake fk;
	struct msub subs[MAXS];
	size_t n;
	size_t seen; /* frames checked so far */
};

static void random_filter(struct tp_filter *f)
{
	char syms[64] = "", types[128] = "";
	static const char *const confs[] = { "0", "0.3", "0.5", "0.7", "0.9" };
	unsigned mode = rnd(4), k;

	tp_filter_init(f);
	if (mode == 0 || mode == 3) {
		k = 1 + rnd(3);
		for (unsigned i = 0; i < k; i++)
			snprintf(syms + strlen(syms), sizeof(syms) - strlen(syms),
				 "%s%s", i ? "," : "", SYMS[rnd(6)]);
		assert_int_equal(tp_filter_set_param(f, "symbols", syms, NULL), TP_OK);
	}
	if (mode == 1 || mode == 3) {
		k = 1 + rnd(2);
		for (unsigned i = 0; i < k; i++)
			snprintf(types + strlen(types), sizeof(types) - strlen(types),
				 "%s%s", i ? "," : "", TYPES[rnd(4)]);
		assert_int_equal(tp_filter_set_param(f, "pattern_types", types,
						     NULL), TP_OK);
	}
	assert_int_equal(tp_filter_set_param(f, "confidence_min", confs[rnd(5)],
					     NULL), TP_OK);
}

static void msess_add(struct tp_push *hub, struct msess *m, unsigned serial)
{
	struct msub *ms = &m->subs[m->n];
	struct tp_push_sub_req r;

	snprintf(ms->id, sizeof(ms->id), "s%u", serial);
	random_filter(&ms->f);
	r = req_patterns(ms->id, &ms->f);
	subscribe_ok(hub, m->s, &r, NULL);
	m->n++;
	m->seen++; /* the "subscribed" frame */
	assert_int_equal(m->fk.n, m->seen);
}

static void msess_drop_first(struct tp_push *hub, struct msess *m)
{
	assert_int_equal(tp_push_unsubscribe(hub, m->s, m->subs[0].id), TP_OK);
	tp_filter_cleanup(&m->subs[0].f);
	memmove(&m->subs[0], &m->subs[1], (m->n - 1) * sizeof(m->subs[0]));
	m->n--;
}

static void test_fanout_brute_force(void **state)
{
	struct tp_push *hub = mkhub(MAXS, 50);
	static struct msess ms[NSESS];
	struct tp_push_stats st;
	unsigned serial = 0;
	uint64_t seq = 0, frames = 0;

	(void)state;
	memset(ms, 0, sizeof(ms));
	for (size_t i = 0; i < NSESS; i++) {
		ms[i].s = tp_push_session_create(hub, &ms[i].fk, (long long)i + 1);
		assert_non_null(ms[i].s);
		for (unsigned k = rnd(MAXS); k; k--)
			msess_add(hub, &ms[i], serial++);
		frames += ms[i].n;
	}
	for (int ev = 0; ev < 600; ev++) {
		struct tp_pattern p;
		bool removed = rnd(7) == 0;

		mkp(&p, SYMS[rnd(6)], TYPES[rnd(4)], rnd(101) / 100.0,
		    NOW - rnd(1000));
		seq += 1 + rnd(3); /* seqs may skip */
		if (removed)
			tp_push_pattern_removed(hub, &p, seq, NOW);
		else
			tp_push_pattern(hub, &p, seq, NOW);

		for (size_t i = 0; i < NSESS; i++) {
			struct msess *m = &ms[i];
			char want[512] = "", got[512];
			size_t at = 0;
			cJSON *j;

			for (size_t k = 0; k < m->n; k++)
				if (tp_filter_match(&m->subs[k].f, &p))
					at += (size_t)snprintf(want + at,
							       sizeof(want) - at,
							       "%s%s", at ? "," : "",
							       m->subs[k].id);
			if (!at) {
				assert_int_equal(m->fk.n, m->seen);
				continue;
			}
			assert_int_equal(m->fk.n, m->seen + 1);
			j = parse(&m->fk.r[m->seen]);
			jsubs(j, got, sizeof(got));
			assert_string_equal(got, want);
			assert_true(jnum(j, "seq") == (double)seq);
			assert_int_equal(m->fk.r[m->seen].seq, seq);
			if (removed) {
				assert_string_equal(jstr(j, "type"), "pattern_removed");
				assert_string_equal(jstr(j, "id"), p.id);
			} else {
				const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "data");

				assert_string_equal(jstr(j, "type"), "pattern");
				assert_string_equal(jstr(d, "id"), p.id);
				assert_true(jnum(d, "confidence") == p.confidence);
			}
			cJSON_Delete(j);
			m->seen++;
			frames++;
		}
		/* Churn: subscriptions come and go between events. */
		if (ev % 25 == 24) {
			struct msess *m = &ms[rnd(NSESS)];

			if (m->n)
				msess_drop_first(hub, m);
			if (m->n < MAXS) {
				msess_add(hub, m, serial++);
				frames++;
			}
		}
	}
	tp_push_get_stats(hub, &st);
	assert_int_equal(st.sessions, NSESS);
	assert_int_equal(st.frames, frames);
	assert_int_equal(st.history, 50);
	assert_int_equal(st.slow_sessions, 0);
	assert_int_equal(tp_push_last_seq(hub), seq);
	{
		/* Distinct filters = distinct canonical forms in the model. */
		char *canon[NSESS * MAXS];
		size_t nc = 0, subs = 0;

		for (size_t i = 0; i < NSESS; i++) {
			for (size_t k = 0; k < ms[i].n; k++, subs++) {
				struct tp_buf b;
				size_t c;

				tp_buf_init(&b, 0);
				tp_filter_canonical(&ms[i].subs[k].f, &b);
				for (c = 0; c < nc; c++)
					if (!strcmp(canon[c], tp_buf_cstr(&b)))
						break;
				if (c == nc)
					canon[nc++] = strdup(tp_buf_cstr(&b));
				tp_buf_cleanup(&b);
			}
		}
		assert_int_equal(st.distinct_filters, nc);
		assert_int_equal(st.subscriptions, subs);
		for (size_t c = 0; c < nc; c++)
			free(canon[c]);
	}
	for (size_t i = 0; i < NSESS; i++) {
		tp_push_session_destroy(ms[i].s);
		for (size_t k = 0; k < ms[i].n; k++)
			tp_filter_cleanup(&ms[i].subs[k].f);
		fake_clear(&ms[i].fk);
	}
	tp_push_destroy(hub);
}

/* ------------------------------------------------------------------ */
/* resume                                                               */

/* seq 1..12: symbols cycle AAPL, MSFT, NVDA; seq 8 removes seq 7's AAPL
 * pattern instead; seq 10 is a health report. */
static void push_script(struct tp_push *hub, uint64_t from, uint64_t to)
{
	for (uint64_t s = from; s <= to; s++) {
		struct tp_pattern p;

		mkp(&p, SYMS[(s - 1) % 3], "Doji", 0.8, NOW - 100 + (double)s);
		if (s == 8) {
			mkp(&p, "AAPL", "Doji", 0.8, NOW - 100 + 7);
			tp_push_pattern_removed(hub, &p, s, NOW + (double)s);
		} else if (s == 10) {
			tp_push_health(hub, "{\"status\":\"healthy\"}", s,
				       NOW + (double)s);
		} else {
			tp_push_pattern(hub, &p, s, NOW + (double)s);
		}
	}
}

/* Sessions whose subscriptions share ids (interned, and a head rendered
 * once for a run of sessions with the same single id) still get exactly
 * their own "subs", whatever order the index visits them in; unsubscribing
 * the last user of an id and reusing it is safe. */
static void test_shared_ids(void **state)
{
	static const char *const names[] = { "a", "b", "s\"1" };
	struct tp_push *hub = mkhub(4, 100);
	struct fake fk[12];
	struct tp_push_session *ss[12];
	char want[12][64];
	struct tp_filter all, aapl;
	struct tp_pattern p;

	(void)state;
	memset(fk, 0, sizeof(fk));
	build(&all, (const char *const[]){ "confidence_min", "0", NULL });
	build(&aapl, (const char *const[]){ "symbols", "AAPL", "confidence_min", "0", NULL });
	for (int i = 0; i < 12; i++) {
		struct tp_push_sub_req r;

		ss[i] = tp_push_session_create(hub, &fk[i], 0);
		assert_non_null(ss[i]);
		/* One id from names (alternating runs), and every third session
		 * a second one that only AAPL events match. */
		r = req_patterns(names[(i / 2) % 3], &all);
		subscribe_ok(hub, ss[i], &r, NULL);
		snprintf(want[i], sizeof(want[i]), "%s", names[(i / 2) % 3]);
		if (i % 3 == 0) {
			const char *other = names[((i / 2) + 1) % 3];

			r = req_patterns(other, &aapl);
			subscribe_ok(hub, ss[i], &r, NULL);
			snprintf(want[i] + strlen(want[i]),
				 sizeof(want[i]) - strlen(want[i]), ",%s", other);
		}
	}
	mkp(&p, "MSFT", "Doji", 0.9, NOW - 10);
	tp_push_pattern(hub, &p, 1, NOW);
	mkp(&p, "AAPL", "Doji", 0.9, NOW - 9);
	tp_push_pattern(hub, &p, 2, NOW);
	for (int i = 0; i < 12; i++) {
		size_t n = fk[i].n;

		/* subscribed frames, then the two events. */
		assert_true(n >= 2);
		expect_event(&fk[i].r[n - 2], "pattern", 1, names[(i / 2) % 3]);
		expect_event(&fk[i].r[n - 1], "pattern", 2, want[i]);
	}
	/* The last user of "a" leaves; "a" comes back with a new session. */
	for (int i = 0; i < 12; i++)
		if (!strcmp(names[(i / 2) % 3], "a") ||
		    (i % 3 == 0 && !strcmp(names[((i / 2) + 1) % 3], "a")))
			assert_int_equal(tp_push_unsubscribe(hub, ss[i], "a"), TP_OK);
	{
		struct tp_push_sub_req r = req_patterns("a", &all);

		subscribe_ok(hub, ss[11], &r, NULL);
	}
	mkp(&p, "TSLA", "Doji", 0.9, NOW - 8);
	tp_push_pattern(hub, &p, 3, NOW);
	expect_event(&fk[11].r[fk[11].n - 1], "pattern", 3, "s\"1,a");
	expect_event(&fk[2].r[fk[2].n - 1], "pattern", 3, "b");
	for (int i = 0; i < 12; i++) {
		tp_push_session_destroy(ss[i]);
		fake_clear(&fk[i]);
	}
	tp_push_destroy(hub);
	tp_filter_cleanup(&all);
	tp_filter_cleanup(&aapl);
}

static void test_resume_replay_then_live(void **state)
{
	struct tp_push *hub = mkhub(8, 100);
	struct fake fl = { 0 }, fr = { 0 };
	struct tp_push_session *live, *late;
	struct tp_push_sub_req r;
	struct tp_filter f;
	cJSON *j;
	size_t i;

	(void)state;
	build(&f, (const char *const[]){ "symbols", "AAPL", NULL });
	live = tp_push_session_create(hub, &fl, 0);
	late = tp_push_session_create(hub, &fr, 0);
	r = req_patterns("a", &f);
	subscribe_ok(hub, live, &r, NULL);
	push_script(hub, 1, 12);
	/* live got seqs 1, 4, 7, 8 (removal of 7), then 13, 16 later. */
	assert_int_equal(fl.n, 1 + 4);

	r = req_patterns("a", &f);
	r.has_since = true;
	r.since_epoch = EPOCH;
	r.since_seq = 4; /* has seen 1 and 4 */
	subscribe_ok(hub, late, &r, NULL);
	assert_int_equal(fr.n, 1 + 2);
	j = parse(&fr.r[0]);
	assert_string_equal(jstr(j, "type"), "subscribed");
	assert_true(jnum(j, "seq") == 12);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "recovered")));
	cJSON_Delete(j);
	expect_event(&fr.r[1], "pattern", 7, "a");
	expect_event(&fr.r[2], "pattern_removed", 8, "a");
	/* Replayed bytes are exactly what was pushed live. */
	assert_string_equal(fr.r[1].frame, fl.r[3].frame);
	assert_string_equal(fr.r[2].frame, fl.r[4].frame);

	push_script(hub, 13, 16);
	assert_int_equal(fr.n, 3 + 2);
	expect_event(&fr.r[3], "pattern", 13, "a");
	expect_event(&fr.r[4], "pattern", 16, "a");
	for (i = 2; i < fr.n; i++) /* no duplicate, in order */
		assert_true(fr.r[i].seq > fr.r[i - 1].seq);
	assert_string_equal(fr.r[3].frame, fl.r[5].frame);

	tp_push_session_destroy(live);
	tp_push_session_destroy(late);
	tp_push_destroy(hub);
	tp_filter_cleanup(&f);
	fake_clear(&fl);
	fake_clear(&fr);
}

/* Subscribes with since and returns how many frames it got. */
static size_t since_frames(struct tp_push *hub, const char *epoch,
			   uint64_t since, enum tp_sub_channel ch,
			   const struct tp_filter *f, struct fake *fk)
{
	struct tp_push_session *s = tp_push_session_create(hub, fk, 3);
	struct tp_push_sub_req r;

	fake_clear(fk);
	r = ch == TP_SUBCH_PATTERNS ? req_patterns("g", f) : req_channel("g", ch);
	r.has_since = true;
	r.since_epoch = epoch;
	r.since_seq = since;
	subscribe_ok(hub, s, &r, NULL);
	tp_push_session_destroy(s);
	return fk->n;
}

static void expect_gap(const struct fake *fk, uint64_t last)
{
	cJSON *j;

	assert_int_equal(fk->n, 2);
	j = parse(&fk->r[0]);
	assert_string_equal(jstr(j, "type"), "subscribed");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "recovered")));
	cJSON_Delete(j);
	j = parse(&fk->r[1]);
	assert_string_equal(fk->r[1].type, "gap");
	assert_string_equal(jstr(j, "type"), "gap");
	assert_string_equal(jstr(j, "id"), "g");
	assert_string_equal(jstr(j, "epoch"), EPOCH);
	assert_true(jnum(j, "seq") == (double)last);
	cJSON_Delete(j);
}

static void test_resume_edges(void **state)
{
	struct tp_push *hub = mkhub(8, 5); /* holds the last 5 events */
	struct fake fk = { 0 };
	struct tp_filter any;

	(void)state;
	tp_filter_init(&any);
	assert_true(tp_filter_set_param(&any, "confidence_min", "0", NULL) == TP_OK);

	/* Empty history: position 0 is up to date. */
	assert_int_equal(since_frames(hub, EPOCH, 0, TP_SUBCH_PATTERNS, &any, &fk), 1);
	assert_int_equal(since_frames(hub, EPOCH, 1, TP_SUBCH_PATTERNS, &any, &fk), 2);
	expect_gap(&fk, 0);

	push_script(hub, 1, 12); /* held: 8..12; dropped up to 7 */
	/* since = last: recovered, nothing to replay. */
	assert_int_equal(since_frames(hub, EPOCH, 12, TP_SUBCH_PATTERNS, &any, &fk), 1);
	/* since = the last dropped: everything after it is held. */
	assert_int_equal(since_frames(hub, EPOCH, 7, TP_SUBCH_PATTERNS, &any, &fk),
			 1 + 4); /* 8 (removal), 9, 11, 12; 10 is health */
	expect_event(&fk.r[1], "pattern_removed", 8, "g");
	expect_event(&fk.r[4], "pattern", 12, "g");
	/* Health subscription replays the health entry only. */
	assert_int_equal(since_frames(hub, EPOCH, 7, TP_SUBCH_HEALTH, NULL, &fk), 2);
	expect_event(&fk.r[1], "system_health", 10, "g");
	/* Too old, other epoch, from the future: gap. */
	assert_int_equal(since_frames(hub, EPOCH, 6, TP_SUBCH_PATTERNS, &any, &fk), 2);
	expect_gap(&fk, 12);
	assert_int_equal(since_frames(hub, "other", 12, TP_SUBCH_PATTERNS, &any, &fk), 2);
	expect_gap(&fk, 12);
	assert_int_equal(since_frames(hub, EPOCH, 13, TP_SUBCH_PATTERNS, &any, &fk), 2);
	expect_gap(&fk, 12);
	assert_int_equal(since_frames(hub, NULL, 12, TP_SUBCH_PATTERNS, &any, &fk), 2);
	expect_gap(&fk, 12);

	/* Non-increasing seqs are refused (nothing sent, position unchanged). */
	{
		struct tp_push_session *s = tp_push_session_create(hub, &fk, 0);
		struct tp_push_sub_req r = req_patterns("x", &any);
		struct tp_pattern p;

		fake_clear(&fk);
		subscribe_ok(hub, s, &r, NULL);
		mkp(&p, "AAPL", "Doji", 0.9, NOW);
		tp_push_pattern(hub, &p, 12, NOW);
		tp_push_pattern(hub, &p, 3, NOW);
		assert_int_equal(fk.n, 1);
		assert_int_equal(tp_push_last_seq(hub), 12);
		tp_push_session_destroy(s);
	}
	assert_string_equal(tp_push_epoch(hub), EPOCH);
	tp_push_destroy(hub);
	tp_filter_cleanup(&any);
	fake_clear(&fk);
}

/* Cluster mode: a position a little ahead resumes without replay and
 * skips events up to it; a new epoch sends every subscription a gap. */
static void test_future_and_new_epoch(void **state)
{
	struct tp_push_opts o;
	struct tp_push *hub;
	struct fake fk = { 0 };
	struct tp_filter any;
	struct tp_push_session *s;
	struct tp_push_sub_req r;
	struct tp_pattern p;
	cJSON *j;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.epoch = EPOCH;
	o.history_events = 10;
	o.history_seconds = 600;
	o.future_window = 100;
	o.ops.send = fake_send;
	hub = tp_push_create(&o);
	assert_non_null(hub);
	tp_filter_init(&any);
	assert_true(tp_filter_set_param(&any, "confidence_min", "0", NULL) == TP_OK);
	push_script(hub, 1, 5);
	/* Beyond the window: still a gap. */
	assert_int_equal(since_frames(hub, EPOCH, 106, TP_SUBCH_PATTERNS, &any, &fk), 2);
	expect_gap(&fk, 5);

	s = tp_push_session_create(hub, &fk, 3);
	fake_clear(&fk);
	r = req_patterns("f", &any);
	r.has_since = true;
	r.since_epoch = EPOCH;
	r.since_seq = 8;
	subscribe_ok(hub, s, &r, NULL);
	assert_int_equal(fk.n, 1); /* subscribed, recovered, no replay */
	j = parse(&fk.r[0]);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "recovered")));
	cJSON_Delete(j);
	mkp(&p, "AAPL", "Doji", 0.9, NOW);
	tp_push_pattern(hub, &p, 7, NOW); /* seen by the client already */
	tp_push_pattern(hub, &p, 8, NOW);
	assert_int_equal(fk.n, 1);
	tp_push_pattern(hub, &p, 9, NOW);
	assert_int_equal(fk.n, 2);
	expect_event(&fk.r[1], "pattern", 9, "f");

	/* A hole up to 50 (stream trimmed before this instance read it):
	 * the live subscription gets a gap there, older positions too. */
	tp_push_lost(hub, 50);
	assert_int_equal(fk.n, 3);
	expect_event(&fk.r[1], "pattern", 9, "f");
	j = parse(&fk.r[2]);
	assert_string_equal(jstr(j, "type"), "gap");
	assert_true(jnum(j, "seq") == 50);
	cJSON_Delete(j);
	fake_clear(&fk);
	{
		struct fake fk2 = { 0 };

		assert_int_equal(since_frames(hub, EPOCH, 9, TP_SUBCH_PATTERNS, &any, &fk2), 2);
		expect_gap(&fk2, 50);
		assert_int_equal(since_frames(hub, EPOCH, 50, TP_SUBCH_PATTERNS, &any, &fk2), 1);
		fake_clear(&fk2);
	}
	tp_push_pattern(hub, &p, 51, NOW);
	assert_int_equal(fk.n, 1);
	fake_clear(&fk);
	tp_push_pattern(hub, &p, 52, NOW);
	assert_int_equal(fk.n, 1);

	/* The history was lost: a gap at position 0 of the new epoch. */
	assert_int_equal(tp_push_new_epoch(hub, "newer"), TP_OK);
	assert_int_equal(fk.n, 2);
	j = parse(&fk.r[1]);
	assert_string_equal(jstr(j, "type"), "gap");
	assert_string_equal(jstr(j, "epoch"), "newer");
	assert_true(jnum(j, "seq") == 0);
	cJSON_Delete(j);
	assert_string_equal(tp_push_epoch(hub), "newer");
	tp_push_pattern(hub, &p, 1, NOW);
	assert_int_equal(fk.n, 3);
	tp_push_session_destroy(s);
	tp_push_destroy(hub);
	tp_filter_cleanup(&any);
	fake_clear(&fk);
}

/* ------------------------------------------------------------------ */
/* snapshot                                                             */

static int cmp_snap(const void *a, const void *b)
{
	const struct tp_pattern *x = *(const struct tp_pattern *const *)a;
	const struct tp_pattern *y = *(const struct tp_pattern *const *)b;

	if (x->confidence != y->confidence)
		return x->confidence > y->confidence ? -1 : 1;
	if (x->detected_at != y->detected_at)
		return x->detected_at > y->detected_at ? -1 : 1;
	return strcmp(x->id, y->id);
}

static void check_snapshot(const struct rec *r, const char *id, uint64_t seq,
			   struct tp_pattern *const *want, size_t n, double now)
{
	cJSON *j = parse(r);
	const cJSON *rows = cJSON_GetObjectItemCaseSensitive(j, "patterns");
	const cJSON *row;
	size_t i = 0;

	assert_string_equal(jstr(j, "type"), "snapshot");
	assert_string_equal(jstr(j, "id"), id);
	assert_true(jnum(j, "seq") == (double)seq);
	assert_true(cJSON_IsArray(rows));
	assert_int_equal(cJSON_GetArraySize(rows), n);
	cJSON_ArrayForEach(row, rows) {
		struct tp_buf b;
		char *txt = cJSON_PrintUnformatted(row);
		cJSON *wj;
		char *wtxt;

		assert_string_equal(jstr(row, "id"), want[i]->id);
		/* The whole row is the scan row rendered at now. */
		tp_buf_init(&b, 0);
		tp_render_row(&b, want[i], now);
		wj = cJSON_Parse(tp_buf_cstr(&b));
		wtxt = cJSON_PrintUnformatted(wj);
		assert_string_equal(txt, wtxt);
		cJSON_free(txt);
		cJSON_free(wtxt);
		cJSON_Delete(wj);
		tp_buf_cleanup(&b);
		i++;
	}
	cJSON_Delete(j);
}

static void test_snapshot(void **state)
{
	struct tp_patterns_opts po = { 2000, NULL, NULL };
	struct tp_patterns *store = tp_patterns_create(&po);
	struct tp_push *hub = mkhub(8, 100);
	static struct tp_pattern pats[600];
	static struct tp_pattern *want[600];
	struct fake fk = { 0 };
	struct tp_push_session *s;
	struct tp_push_sub_req r;
	struct tp_filter f;
	size_t nw = 0;
	double later = NOW + 10;

	(void)state;
	assert_non_null(store);
	build(&f, (const char *const[]){ "symbols", "AAPL,MSFT",
					 "confidence_min", "0.2", NULL });
	for (size_t i = 0; i < 600; i++) {
		struct tp_pattern *p = &pats[i];

		mkp(p, SYMS[i % 6], TYPES[i % 4], (double)((i * 37) % 100) / 100.0,
		    NOW - (double)(i % 50));
		snprintf(p->id, sizeof(p->id), "%s:%s:%zu", SYMS[i % 6],
			 TYPES[i % 4], i);
		if (i % 10 == 3)
			p->expires_at = NOW + 5; /* expired by `later` */
		assert_int_equal(tp_patterns_upsert(store, p, NOW), TP_OK);
		if (tp_filter_match(&f, p) && p->expires_at > later)
			want[nw++] = p;
	}
	qsort(want, nw, sizeof(want[0]), cmp_snap);
	assert_true(nw > 120);

	push_script(hub, 1, 3);
	s = tp_push_session_create(hub, &fk, 0);
	r = req_patterns("s", &f);
	r.snapshot = true;
	r.limit = 120;
	assert_int_equal(tp_push_subscribe(hub, s, &r, store, later, NULL), TP_OK);
	assert_int_equal(fk.n, 2);
	assert_string_equal(fk.r[0].type, "subscribed");
	assert_string_equal(fk.r[1].type, "snapshot");
	check_snapshot(&fk.r[1], "s", 3, want, 120, later);

	/* limit 0 = default 100; a large limit gets every match. */
	fake_clear(&fk);
	r.id = "t";
	r.limit = 0;
	assert_int_equal(tp_push_subscribe(hub, s, &r, store, later, NULL), TP_OK);
	check_snapshot(&fk.r[1], "t", 3, want, 100, later);
	fake_clear(&fk);
	r.id = "u";
	r.limit = 1000;
	assert_int_equal(tp_push_subscribe(hub, s, &r, store, later, NULL), TP_OK);
	check_snapshot(&fk.r[1], "u", 3, want, nw, later);

	/* since and snapshot: subscribed, replay, then the snapshot. */
	fake_clear(&fk);
	r.id = "v";
	r.limit = 5;
	r.has_since = true;
	r.since_epoch = EPOCH;
	r.since_seq = 0;
	assert_int_equal(tp_push_subscribe(hub, s, &r, store, later, NULL), TP_OK);
	assert_int_equal(fk.n, 1 + 2 + 1); /* script 1..3: AAPL(1), MSFT(2) match */
	assert_string_equal(fk.r[0].type, "subscribed");
	expect_event(&fk.r[1], "pattern", 1, "v");
	expect_event(&fk.r[2], "pattern", 2, "v");
	check_snapshot(&fk.r[3], "v", 3, want, 5, later);
	tp_push_session_destroy(s);

	/* No store: an empty snapshot. */
	s = tp_push_session_create(hub, &fk, 0);
	fake_clear(&fk);
	r = req_patterns("w", &f);
	r.snapshot = true;
	assert_int_equal(tp_push_subscribe(hub, s, &r, NULL, later, NULL), TP_OK);
	check_snapshot(&fk.r[1], "w", 3, NULL, 0, later);

	tp_push_session_destroy(s);
	tp_push_destroy(hub);
	tp_patterns_destroy(store);
	tp_filter_cleanup(&f);
	fake_clear(&fk);
}

/* ------------------------------------------------------------------ */
/* slow consumers                                                       */

static void test_slow_session(void **state)
{
	struct tp_push *hub = mkhub(8, 100);
	struct fake fa = { 0 }, fb = { 0 };
	struct tp_push_session *a, *b;
	struct tp_push_sub_req r;
	struct tp_push_stats st;
	struct tp_filter any;

	(void)state;
	tp_filter_init(&any);
	fa.limit = 3; /* subscribed + 2 events, then TP_ERR_LIMIT */
	a = tp_push_session_create(hub, &fa, 0);
	b = tp_push_session_create(hub, &fb, 0);
	r = req_patterns("a", &any);
	subscribe_ok(hub, a, &r, NULL);
	subscribe_ok(hub, b, &r, NULL);
	push_script(hub, 1, 5); /* 5 pattern events (8, 10 are later) */
	assert_int_equal(fa.n, 3);
	assert_int_equal(fa.attempts, 4); /* refused once, then left alone */
	assert_true(tp_push_session_is_slow(a));
	assert_false(tp_push_session_is_slow(b));
	assert_int_equal(fb.n, 1 + 5);
	push_script(hub, 6, 9);
	assert_int_equal(fa.attempts, 4);
	assert_int_equal(fb.n, 1 + 9);
	/* Its subscriptions stay until the transport destroys it. */
	assert_int_equal(tp_push_session_subs(a), 1);
	r = req_channel("h", TP_SUBCH_HEALTH);
	subscribe_ok(hub, a, &r, NULL);
	assert_int_equal(fa.attempts, 4);
	tp_push_get_stats(hub, &st);
	assert_int_equal(st.slow_sessions, 1);
	assert_int_equal(st.frames, 3 + 10);

	tp_push_session_destroy(a);
	tp_push_session_destroy(b);
	tp_push_destroy(hub);
	fake_clear(&fa);
	fake_clear(&fb);
}

/* ------------------------------------------------------------------ */
/* backtests and health                                                 */

static void mkbt(struct tp_event *ev, enum tp_event_kind kind,
		 const char *job, const char *data)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	snprintf(ev->job_id, sizeof(ev->job_id), "%s", job);
	ev->data_json = (char *)data;
}

static void expect_data(const struct rec *r, const char *data)
{
	cJSON *j = parse(r), *want = cJSON_Parse(data);

	assert_non_null(want);
	assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(j, "data"),
				  want, true));
	cJSON_Delete(j);
	cJSON_Delete(want);
}

static void test_backtests_to_owner(void **state)
{
	struct tp_push *hub = mkhub(8, 100);
	struct fake f7a = { 0 }, f7b = { 0 }, f8 = { 0 }, fr = { 0 };
	struct tp_push_session *s7a, *s7b, *s8, *sr;
	struct tp_push_sub_req r;
	struct tp_push_stats st;
	struct tp_event ev;
	struct tp_filter any;
	const char *d1 = "{\"job_id\":\"j1\",\"progress\":0.5}";
	const char *d3 = "{\"job_id\":\"j1\",\"status\":\"completed\"}";

	(void)state;
	tp_filter_init(&any);
	s7a = tp_push_session_create(hub, &f7a, 7);
	s7b = tp_push_session_create(hub, &f7b, 7);
	s8 = tp_push_session_create(hub, &f8, 8);
	r = req_channel("b1", TP_SUBCH_BACKTESTS);
	subscribe_ok(hub, s7a, &r, NULL);
	r = req_patterns("p", &any);
	subscribe_ok(hub, s7a, &r, NULL);
	r = req_channel("b2", TP_SUBCH_BACKTESTS);
	subscribe_ok(hub, s7a, &r, NULL);
	r = req_channel("bt", TP_SUBCH_BACKTESTS);
	subscribe_ok(hub, s7b, &r, NULL);
	r = req_channel("b", TP_SUBCH_BACKTESTS);
	subscribe_ok(hub, s8, &r, NULL);

	mkbt(&ev, TP_EV_BACKTEST_PROGRESS, "j1", d1);
	tp_push_backtest(hub, &ev, 7, 1, NOW);
	assert_int_equal(f7a.n, 3 + 1);
	expect_event(&f7a.r[3], "backtest_progress", 1, "b1,b2");
	expect_data(&f7a.r[3], d1);
	assert_int_equal(f7b.n, 1 + 1);
	expect_event(&f7b.r[1], "backtest_progress", 1, "bt");
	assert_int_equal(f8.n, 1);

	/* Unknown owner: history only. */
	tp_push_backtest(hub, &ev, 0, 2, NOW);
	mkbt(&ev, TP_EV_BACKTEST_RESULT, "j1", d3);
	tp_push_backtest(hub, &ev, 7, 3, NOW);
	assert_int_equal(f7a.n, 5);
	expect_event(&f7a.r[4], "backtest_result", 3, "b1,b2");
	expect_data(&f7a.r[4], d3);
	assert_int_equal(f8.n, 1);
	/* Not a backtest event: ignored. */
	mkbt(&ev, TP_EV_SYSTEM_HEALTH, "", "{}");
	tp_push_backtest(hub, &ev, 7, 4, NOW);
	/* No data: "{}". */
	mkbt(&ev, TP_EV_BACKTEST_PROGRESS, "j2", NULL);
	tp_push_backtest(hub, &ev, 8, 5, NOW);
	expect_event(&f8.r[1], "backtest_progress", 5, "b");
	expect_data(&f8.r[1], "{}");
	tp_push_get_stats(hub, &st);
	assert_int_equal(st.history, 4);
	assert_int_equal(tp_push_last_seq(hub), 5);

	/* Resume replays the owner's entries only. */
	sr = tp_push_session_create(hub, &fr, 7);
	r = req_channel("r", TP_SUBCH_BACKTESTS);
	r.has_since = true;
	r.since_epoch = EPOCH;
	subscribe_ok(hub, sr, &r, NULL);
	assert_int_equal(fr.n, 1 + 2);
	expect_event(&fr.r[1], "backtest_progress", 1, "r");
	expect_event(&fr.r[2], "backtest_result", 3, "r");
	expect_data(&fr.r[2], d3);

	tp_push_session_destroy(s7a);
	tp_push_session_destroy(s7b);
	tp_push_session_destroy(s8);
	tp_push_session_destroy(sr);
	tp_push_destroy(hub);
	fake_clear(&f7a);
	fake_clear(&f7b);
	fake_clear(&f8);
	fake_clear(&fr);
}

static void test_health(void **state)
{
	struct tp_push *hub = mkhub(8, 100);
	struct fake f1 = { 0 }, f2 = { 0 }, f3 = { 0 };
	struct tp_push_session *s1, *s2, *s3;
	struct tp_push_sub_req r;
	struct tp_filter any;
	const char *d = "{\"status\":\"healthy\",\"components\":{\"db\":\"ok\"}}";

	(void)state;
	tp_filter_init(&any);
	s1 = tp_push_session_create(hub, &f1, 1);
	s2 = tp_push_session_create(hub, &f2, 0);
	s3 = tp_push_session_create(hub, &f3, 0);
	r = req_channel("h", TP_SUBCH_HEALTH);
	subscribe_ok(hub, s1, &r, NULL);
	r = req_patterns("p", &any);
	subscribe_ok(hub, s1, &r, NULL);
	r = req_channel("h2", TP_SUBCH_HEALTH);
	subscribe_ok(hub, s1, &r, NULL);
	r = req_channel("x", TP_SUBCH_HEALTH);
	subscribe_ok(hub, s2, &r, NULL);
	r = req_patterns("p", &any);
	subscribe_ok(hub, s3, &r, NULL);

	tp_push_health(hub, d, 1, NOW);
	assert_int_equal(f1.n, 3 + 1);
	expect_event(&f1.r[3], "system_health", 1, "h,h2");
	expect_data(&f1.r[3], d);
	assert_int_equal(f2.n, 2);
	expect_event(&f2.r[1], "system_health", 1, "x");
	assert_int_equal(f3.n, 1);
	tp_push_health(hub, NULL, 2, NOW);
	expect_data(&f2.r[2], "{}");

	tp_push_session_destroy(s1);
	tp_push_session_destroy(s2);
	tp_push_session_destroy(s3);
	tp_push_destroy(hub);
	fake_clear(&f1);
	fake_clear(&f2);
	fake_clear(&f3);
}

/* ------------------------------------------------------------------ */
/* presets                                                              */

struct pairs {
	long long user[16], preset[16];
	size_t n;
	struct tp_push *delete_in; /* cb deletes the preset through this hub */
};

static void collect_pair(long long user, long long preset, void *ud)
{
	struct pairs *ps = ud;

	assert_true(ps->n < 16);
	ps->user[ps->n] = user;
	ps->preset[ps->n] = preset;
	ps->n++;
	if (ps->delete_in)
		tp_push_preset_changed(ps->delete_in, user, preset, NULL);
}

static bool has_pair(const struct pairs *ps, long long u, long long p)
{
	for (size_t i = 0; i < ps->n; i++)
		if (ps->user[i] == u && ps->preset[i] == p)
			return true;
	return false;
}

static void test_preset_changed(void **state)
{
	struct tp_push *hub = mkhub(8, 100);
	struct fake f5 = { 0 }, f5b = { 0 }, f6 = { 0 };
	struct tp_push_session *s5, *s5b, *s6;
	struct tp_push_sub_req r;
	struct tp_push_stats st;
	struct tp_filter aapl, msft;
	struct tp_pattern pa, pm;
	struct pairs ps;
	cJSON *j;

	(void)state;
	build(&aapl, (const char *const[]){ "symbols", "AAPL", NULL });
	build(&msft, (const char *const[]){ "symbols", "MSFT", NULL });
	mkp(&pa, "AAPL", "Doji", 0.9, NOW);
	mkp(&pm, "MSFT", "Doji", 0.9, NOW);
	s5 = tp_push_session_create(hub, &f5, 5);
	s5b = tp_push_session_create(hub, &f5b, 5);
	s6 = tp_push_session_create(hub, &f6, 6);
	r = req_patterns("p", &aapl);
	r.preset_id = 9;
	subscribe_ok(hub, s5, &r, NULL);
	subscribe_ok(hub, s5b, &r, NULL);
	subscribe_ok(hub, s6, &r, NULL);
	r = req_patterns("i", &aapl); /* inline: not following any preset */
	subscribe_ok(hub, s5, &r, NULL);
	r = req_patterns("k", &aapl);
	r.preset_id = 11;
	subscribe_ok(hub, s5, &r, NULL);

	memset(&ps, 0, sizeof(ps));
	tp_push_foreach_preset(hub, 0, collect_pair, &ps);
	assert_int_equal(ps.n, 3); /* (5,9) once although two sessions */
	assert_true(has_pair(&ps, 5, 9) && has_pair(&ps, 6, 9) &&
		    has_pair(&ps, 5, 11));
	memset(&ps, 0, sizeof(ps));
	tp_push_foreach_preset(hub, 5, collect_pair, &ps);
	assert_int_equal(ps.n, 2);
	assert_false(has_pair(&ps, 6, 9));

	tp_push_preset_changed(hub, 5, 9, &msft);
	tp_push_get_stats(hub, &st);
	assert_int_equal(st.distinct_filters, 2);
	tp_push_pattern(hub, &pa, 1, NOW);
	expect_event(&f5.r[f5.n - 1], "pattern", 1, "i,k");
	assert_int_equal(f5b.n, 1); /* followed the change */
	expect_event(&f6.r[f6.n - 1], "pattern", 1, "p"); /* another user's */
	tp_push_pattern(hub, &pm, 2, NOW);
	expect_event(&f5.r[f5.n - 1], "pattern", 2, "p");
	expect_event(&f5b.r[f5b.n - 1], "pattern", 2, "p");
	assert_int_equal(f6.n, 2);

	/* Same filter again: nothing moves. */
	tp_push_preset_changed(hub, 5, 9, &msft);
	tp_push_get_stats(hub, &st);
	assert_int_equal(st.distinct_filters, 2);

	/* Deleted: the subscriptions end with an error frame. */
	tp_push_preset_changed(hub, 5, 9, NULL);
	assert_int_equal(tp_push_session_subs(s5), 2);
	assert_int_equal(tp_push_session_subs(s5b), 0);
	j = parse(&f5.r[f5.n - 1]);
	assert_string_equal(f5.r[f5.n - 1].type, "error");
	assert_string_equal(jstr(j, "type"), "error");
	assert_string_equal(jstr(j, "id"), "p");
	assert_string_equal(jstr(j, "code"), "not_found");
	assert_string_equal(jstr(j, "message"), "preset 9 was deleted");
	cJSON_Delete(j);
	assert_string_equal(f5b.r[f5b.n - 1].type, "error");
	tp_push_pattern(hub, &pm, 3, NOW);
	assert_string_equal(f5.r[f5.n - 1].type, "error");
	tp_push_get_stats(hub, &st);
	assert_int_equal(st.subscriptions, 3);
	assert_int_equal(st.distinct_filters, 1);

	/* The callback may end the subscriptions it is told about. */
	memset(&ps, 0, sizeof(ps));
	ps.delete_in = hub;
	tp_push_foreach_preset(hub, 0, collect_pair, &ps);
	assert_int_equal(ps.n, 2); /* (6,9), (5,11) */
	assert_int_equal(tp_push_session_subs(s5), 1);
	assert_int_equal(tp_push_session_subs(s6), 0);

	tp_push_session_destroy(s5);
	tp_push_session_destroy(s5b);
	tp_push_session_destroy(s6);
	tp_push_destroy(hub);
	tp_filter_cleanup(&aapl);
	tp_filter_cleanup(&msft);
	fake_clear(&f5);
	fake_clear(&f5b);
	fake_clear(&f6);
}

/* ------------------------------------------------------------------ */
/* HTTP replay                                                          */

struct collected {
	uint64_t seq[64];
	char type[64][32];
	size_t n;
	bool empty_subs;
};

static void collect(const char *type, uint64_t seq, const char *frame,
		    size_t len, void *ud)
{
	struct collected *c = ud;
	cJSON *j = cJSON_ParseWithLength(frame, len);
	const cJSON *subs = cJSON_GetObjectItemCaseSensitive(j, "subs");

	assert_non_null(j);
	assert_true(c->n < 64);
	assert_string_equal(jstr(j, "type"), type);
	assert_true(jnum(j, "seq") == (double)seq);
	if (!cJSON_IsArray(subs) || cJSON_GetArraySize(subs) != 0)
		c->empty_subs = false;
	c->seq[c->n] = seq;
	snprintf(c->type[c->n], sizeof(c->type[0]), "%s", type);
	c->n++;
	cJSON_Delete(j);
}

static void test_replay(void **state)
{
	struct tp_push *hub = mkhub(8, 100);
	struct tp_filter aapl;
	struct collected c;
	struct tp_event ev;
	unsigned all = (1u << TP_SUBCH_PATTERNS) | (1u << TP_SUBCH_BACKTESTS) |
		       (1u << TP_SUBCH_HEALTH);

	(void)state;
	build(&aapl, (const char *const[]){ "symbols", "AAPL", NULL });
	push_script(hub, 1, 12);
	mkbt(&ev, TP_EV_BACKTEST_RESULT, "j", "{\"ok\":1}");
	tp_push_backtest(hub, &ev, 3, 13, NOW + 13);
	tp_push_backtest(hub, &ev, 4, 14, NOW + 14);

	memset(&c, 0, sizeof(c));
	c.empty_subs = true;
	assert_true(tp_push_replay(hub, EPOCH, 4, &aapl, 3, all, collect, &c));
	assert_int_equal(c.n, 4);
	assert_int_equal(c.seq[0], 7);
	assert_string_equal(c.type[0], "pattern");
	assert_int_equal(c.seq[1], 8);
	assert_string_equal(c.type[1], "pattern_removed");
	assert_int_equal(c.seq[2], 10);
	assert_string_equal(c.type[2], "system_health");
	assert_int_equal(c.seq[3], 13);
	assert_string_equal(c.type[3], "backtest_result");
	assert_true(c.empty_subs);

	memset(&c, 0, sizeof(c));
	assert_true(tp_push_replay(hub, EPOCH, 4, NULL, 0,
				   1u << TP_SUBCH_PATTERNS, collect, &c));
	assert_int_equal(c.n, 7); /* 5 6 7 8 9 11 12 */
	assert_int_equal(c.seq[5], 11);

	memset(&c, 0, sizeof(c));
	assert_true(tp_push_replay(hub, EPOCH, 4, NULL, 0,
				   1u << TP_SUBCH_BACKTESTS, collect, &c));
	assert_int_equal(c.n, 0); /* anonymous: no backtests */
	assert_true(tp_push_replay(hub, EPOCH, 14, NULL, 0, all, collect, &c));
	assert_int_equal(c.n, 0);
	assert_false(tp_push_replay(hub, EPOCH, 15, NULL, 0, all, collect, &c));
	assert_false(tp_push_replay(hub, "other", 4, NULL, 0, all, collect, &c));
	assert_false(tp_push_replay(hub, NULL, 4, NULL, 0, all, collect, &c));
	assert_int_equal(c.n, 0);

	tp_push_destroy(hub);
	tp_filter_cleanup(&aapl);
}

/* ------------------------------------------------------------------ */
/* out of memory                                                        */

static void test_oom_subscribe(void **state)
{
	struct tp_patterns_opts po = { 100, NULL, NULL };
	struct tp_filter aapl;
	size_t n, attempts;

	(void)state;
	build(&aapl, (const char *const[]){ "symbols", "AAPL", NULL });
	for (n = 1;; n++) {
		struct tp_patterns *store = tp_patterns_create(&po);
		struct tp_push *hub = mkhub(8, 100);
		struct fake fk = { 0 };
		struct tp_push_session *s = tp_push_session_create(hub, &fk, 0);
		struct tp_errdetail err = { { 0 }, NULL };
		struct tp_push_sub_req r = req_patterns("a", &aapl);
		int rc;

		assert_non_null(store);
		assert_non_null(s);
		for (int i = 0; i < 20; i++) {
			struct tp_pattern p;

			mkp(&p, SYMS[i % 3], "Doji", 0.6 + i / 100.0, NOW - i);
			assert_int_equal(tp_patterns_upsert(store, &p, NOW), TP_OK);
		}
		push_script(hub, 1, 12);
		r.has_since = true;
		r.since_epoch = EPOCH;
		r.since_seq = 4;
		r.snapshot = true;
		r.limit = 10;

		tp_alloc_fail_at(n);
		rc = tp_push_subscribe(hub, s, &r, store, NOW, &err);
		attempts = tp_alloc_fail_at(0);
		if (rc != TP_OK) {
			assert_int_equal(rc, TP_ERR_NOMEM);
			assert_int_equal(tp_push_session_subs(s), 0);
			assert_int_equal(fk.n, 0);
		} else {
			assert_int_equal(tp_push_session_subs(s), 1);
			if (!tp_push_session_is_slow(s)) {
				/* Complete: subscribed, 7, 8, snapshot of 7. */
				assert_int_equal(fk.n, 4);
				expect_event(&fk.r[1], "pattern", 7, "a");
				expect_event(&fk.r[2], "pattern_removed", 8, "a");
				assert_string_equal(fk.r[3].type, "snapshot");
			}
		}
		tp_push_session_destroy(s);
		tp_push_destroy(hub);
		tp_patterns_destroy(store);
		fake_clear(&fk);
		if (attempts < n)
			break;
	}
	assert_true(n > 3);
	tp_filter_cleanup(&aapl);
}

static void test_oom_events(void **state)
{
	struct tp_filter any, aapl;
	size_t n, attempts;
	unsigned all = (1u << TP_SUBCH_PATTERNS) | (1u << TP_SUBCH_BACKTESTS) |
		       (1u << TP_SUBCH_HEALTH);

	(void)state;
	tp_filter_init(&any);
	build(&aapl, (const char *const[]){ "symbols", "AAPL", NULL });
	for (n = 1;; n++) {
		struct tp_push *hub = mkhub(8, 100);
		struct fake fk[4];
		struct tp_push_session *s[4];
		struct tp_push_sub_req r;
		struct tp_pattern p;
		struct tp_event ev;
		struct collected c;
		/* Which seqs each session must get: A any, B AAPL, C health,
		 * D backtests of user 7. */
		static const uint64_t want[4][3] = {
			{ 1, 2, 0 }, { 1, 2, 0 }, { 3, 0, 0 }, { 4, 0, 0 } };

		memset(fk, 0, sizeof(fk));
		for (int i = 0; i < 4; i++)
			s[i] = tp_push_session_create(hub, &fk[i], 7);
		r = req_patterns("a", &any);
		subscribe_ok(hub, s[0], &r, NULL);
		r = req_patterns("b", &aapl);
		subscribe_ok(hub, s[1], &r, NULL);
		r = req_channel("c", TP_SUBCH_HEALTH);
		subscribe_ok(hub, s[2], &r, NULL);
		r = req_channel("d", TP_SUBCH_BACKTESTS);
		subscribe_ok(hub, s[3], &r, NULL);
		mkp(&p, "AAPL", "Doji", 0.9, NOW);
		mkbt(&ev, TP_EV_BACKTEST_PROGRESS, "j", "{\"p\":1}");

		tp_alloc_fail_at(n);
		tp_push_pattern(hub, &p, 1, NOW);
		tp_push_pattern_removed(hub, &p, 2, NOW);
		tp_push_health(hub, "{\"h\":1}", 3, NOW);
		tp_push_backtest(hub, &ev, 7, 4, NOW);
		attempts = tp_alloc_fail_at(0);

		/* Every session got every event, or is slow (and resumes). */
		for (int i = 0; i < 4; i++) {
			size_t k = 1;

			if (tp_push_session_is_slow(s[i]))
				continue;
			for (int e = 0; e < 3 && want[i][e]; e++, k++) {
				assert_true(k < fk[i].n);
				assert_int_equal(fk[i].r[k].seq, want[i][e]);
			}
			assert_int_equal(fk[i].n, k);
		}
		/* The history holds all four, or admits a gap. */
		memset(&c, 0, sizeof(c));
		if (tp_push_replay(hub, EPOCH, 0, NULL, 7, all, collect, &c))
			assert_int_equal(c.n, 4);
		assert_int_equal(tp_push_last_seq(hub), 4);

		for (int i = 0; i < 4; i++) {
			tp_push_session_destroy(s[i]);
			fake_clear(&fk[i]);
		}
		tp_push_destroy(hub);
		if (attempts < n)
			break;
	}
	assert_true(n > 3);
	tp_filter_cleanup(&aapl);
}

static void test_oom_presets(void **state)
{
	struct tp_filter aapl, msft;
	size_t n, attempts;

	(void)state;
	build(&aapl, (const char *const[]){ "symbols", "AAPL", NULL });
	build(&msft, (const char *const[]){ "symbols", "MSFT", NULL });
	for (n = 1;; n++) {
		struct tp_push *hub = mkhub(8, 100);
		struct fake fk = { 0 };
		struct tp_push_session *s = tp_push_session_create(hub, &fk, 5);
		struct tp_push_sub_req r = req_patterns("p", &aapl);
		struct tp_pattern pm;
		struct pairs ps;

		r.preset_id = 9;
		subscribe_ok(hub, s, &r, NULL);
		r.id = "q";
		r.preset_id = 10;
		subscribe_ok(hub, s, &r, NULL);

		tp_alloc_fail_at(n);
		tp_push_preset_changed(hub, 5, 9, &msft);
		memset(&ps, 0, sizeof(ps));
		tp_push_foreach_preset(hub, 5, collect_pair, &ps);
		attempts = tp_alloc_fail_at(0);

		assert_true(has_pair(&ps, 5, 9) && has_pair(&ps, 5, 10));
		assert_int_equal(tp_push_session_subs(s), 2);
		mkp(&pm, "MSFT", "Doji", 0.9, NOW);
		tp_push_pattern(hub, &pm, 1, NOW);
		if (!tp_push_session_is_slow(s)) /* followed the change */
			expect_event(&fk.r[fk.n - 1], "pattern", 1, "p");

		tp_push_session_destroy(s);
		tp_push_destroy(hub);
		fake_clear(&fk);
		if (attempts < n)
			break;
	}
	tp_filter_cleanup(&aapl);
	tp_filter_cleanup(&msft);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_subscribe_rules),
		TP_TEST(test_fanout_brute_force),
		TP_TEST(test_shared_ids),
		TP_TEST(test_resume_replay_then_live),
		TP_TEST(test_resume_edges),
		TP_TEST(test_future_and_new_epoch),
		TP_TEST(test_snapshot),
		TP_TEST(test_slow_session),
		TP_TEST(test_backtests_to_owner),
		TP_TEST(test_health),
		TP_TEST(test_preset_changed),
		TP_TEST(test_replay),
		TP_TEST(test_oom_subscribe),
		TP_TEST(test_oom_events),
		TP_TEST(test_oom_presets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
