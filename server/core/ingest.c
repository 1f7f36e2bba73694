/*
 * ingest.c - the ingest pipeline (see ingest.h).
 *
 * Flow for one message: tp_event_parse (parse + normalise once) ->
 *   pattern_detected/updated: tp_patterns_upsert; the store reports the
 *     replaced record through on_removed, we then invalidate the response
 *     cache for the new record and call on_upsert;
 *   pattern_expired: tp_patterns_remove (on_removed does the rest);
 *   backtest/health: remember the latest state, call on_other.
 * Every record leaving the store (replaced, withdrawn, expired, evicted)
 * passes through store_removed(), the one place that keeps the response
 * cache coherent and tells the hooks. Invalidation is by filter match: a
 * change only drops cached results whose filter the pattern matches.
 *
 * Ownership: the ingest owns the store, the response cache and the one
 * backtest job table (jobs.h; the job registry, io/backtests.c, uses it
 * too). Parsed events live on the
 * stack for the duration of one call.
 */
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/ingest.h"
#include "tickpush/jobs.h"
#include "tickpush/log.h"
#include "tickpush/metrics.h"

struct tp_ingest {
	struct tp_ingest_opts opts;
	struct tp_patterns *patterns;
	struct tp_respcache *respcache;
	struct tp_ingest_stats stats;
	struct tp_jobs *jobs;   /* the one backtest job table (jobs.h) */
	char *health_json;
	double health_received;
	bool warming;           /* suppress hooks for warm-start inserts */
	/* Cluster mode (ingest.h): the current stream entry's event slot (0 =
	 * no entry being applied) and the first seq of the next entry (0 =
	 * not in cluster mode). */
	uint64_t event_slot;
	uint64_t next_floor;
};

static void store_removed(const struct tp_pattern *p, enum tp_removal why,
			  void *ud)
{
	struct tp_ingest *ing = ud;
	size_t n = tp_respcache_invalidate_pattern(ing->respcache, p);

	/* A removal others can see is a position in the stream of its own
	 * (a replaced record is not: the upsert that follows is). */
	if (why != TP_REMOVED_REPLACED && !ing->warming)
		ing->stats.seq++;

	TP_METRIC_ADD(respcache_invalidations, n);
	switch (why) {
	case TP_REMOVED_EXPIRED:
		ing->stats.expired_cleaned++;
		TP_METRIC_INC(patterns_expired);
		break;
	case TP_REMOVED_WITHDRAWN: TP_METRIC_INC(patterns_withdrawn); break;
	case TP_REMOVED_EVICTED: TP_METRIC_INC(patterns_evicted); break;
	case TP_REMOVED_REPLACED: break;
	}
	if (ing->opts.hooks.on_remove && !ing->warming)
		ing->opts.hooks.on_remove(p, why, ing->opts.hooks.ud);
}

struct tp_ingest *tp_ingest_create(const struct tp_ingest_opts *o)
{
	struct tp_ingest *ing = tp_calloc(1, sizeof(*ing));
	struct tp_patterns_opts po;

	if (!ing)
		return NULL;
	ing->opts = *o;
	po.max_patterns = o->max_patterns;
	po.on_removed = store_removed;
	po.ud = ing;
	if (!(ing->patterns = tp_patterns_create(&po)))
		goto fail;
	if (!(ing->respcache = tp_respcache_create(o->respcache_entries,
						    o->respcache_ttl)))
		goto fail;
	if (!(ing->jobs = tp_jobs_create(ing->opts.max_jobs)))
		goto fail;
	return ing;
fail:
	tp_ingest_destroy(ing);
	return NULL;
}

void tp_ingest_destroy(struct tp_ingest *ing)
{
	if (!ing)
		return;
	tp_jobs_destroy(ing->jobs);
	tp_patterns_destroy(ing->patterns);
	tp_respcache_destroy(ing->respcache);
	tp_free(ing->health_json);
	tp_free(ing);
}

static void reject(struct tp_ingest *ing, enum tp_channel ch,
		   enum tp_reject why, const struct tp_errdetail *err)
{
	ing->stats.events_rejected++;
	tp_metrics_reject(ch, why);
	if (ing->opts.hooks.on_reject)
		ing->opts.hooks.on_reject(ch, why, err, ing->opts.hooks.ud);
}

static void accepted(struct tp_ingest *ing, double now)
{
	ing->stats.events_processed++;
	/* In cluster mode the event's position is fixed by its stream entry
	 * (never behind a removal it caused). */
	if (ing->event_slot && ing->event_slot > ing->stats.seq)
		ing->stats.seq = ing->event_slot;
	else
		ing->stats.seq++;
	ing->stats.last_event_time = now;
	TP_METRIC_INC(events_processed);
}

enum tp_reject tp_ingest_message(struct tp_ingest *ing, enum tp_channel ch,
				 const char *buf, size_t len, double now)
{
	struct tp_event_opts eo = {.now = now, .default_ttl = ing->opts.pattern_ttl};
	struct tp_errdetail err = {{0}, NULL};
	struct tp_event ev;
	enum tp_reject r;
	int rc;

	TP_METRIC_INC(events_received);
	r = tp_event_parse(ch, buf, len, &eo, &ev, &err);
	if (r != TP_REJECT_NONE) {
		reject(ing, ch, r, &err);
		return r;
	}

	switch (ev.kind) {
	case TP_EV_PATTERN:
		if (ev.action == TP_PA_EXPIRED) {
			/* Withdrawing an unknown id is not an error: the producer
			 * may expire what we never saw (or already swept). */
			tp_patterns_remove(ing->patterns, ev.pattern.id);
			accepted(ing, now);
			break;
		}
		if (ing->opts.sector_of) {
			const char *sector = ing->opts.sector_of(ev.pattern.symbol,
								 ing->opts.hooks.ud);

			snprintf(ev.pattern.sector, sizeof(ev.pattern.sector), "%s",
				 sector ? sector : "");
		}
		rc = tp_patterns_upsert(ing->patterns, &ev.pattern, now);
		if (rc == TP_ERR_INVAL) {
			tp_errdetail_set(&err, rc, "expires_at",
					 "expires_at: pattern already expired");
			r = TP_REJECT_OUT_OF_RANGE;
			reject(ing, ch, r, &err);
			break;
		}
		if (rc) {
			tp_errdetail_set(&err, rc, NULL, "out of memory");
			TP_LOG(TP_LOG_ERR, "msg=\"pattern store insert failed\" err=%s",
			       tp_log_q(tp_strerror(rc)));
			/* Counted as rejected: the event was not applied. */
			ing->stats.events_rejected++;
			TP_METRIC_INC(events_rejected);
			r = TP_REJECT__COUNT;
			break;
		}
		TP_METRIC_ADD(respcache_invalidations,
			      tp_respcache_invalidate_pattern(ing->respcache,
							      &ev.pattern));
		ing->stats.patterns_ingested++;
		accepted(ing, now);
		if (ing->opts.hooks.on_upsert) {
			const struct tp_pattern *stored =
				tp_patterns_get(ing->patterns, ev.pattern.id);

			if (stored)
				ing->opts.hooks.on_upsert(stored, ing->opts.hooks.ud);
		}
		break;
	case TP_EV_BACKTEST_PROGRESS:
	case TP_EV_BACKTEST_RESULT:
		/* A failure keeps the previous state: the event still counts
		 * as processed, only the remembered summary is lost. */
		(void)tp_jobs_update(ing->jobs, ev.job_id, ev.data_json, now);
		accepted(ing, now);
		if (ing->opts.hooks.on_other)
			ing->opts.hooks.on_other(&ev, ing->opts.hooks.ud);
		break;
	case TP_EV_SYSTEM_HEALTH: {
		char *json = tp_strdup(ev.data_json ? ev.data_json : "{}");

		if (json) {
			tp_free(ing->health_json);
			ing->health_json = json;
			ing->health_received = now;
		}
		accepted(ing, now);
		if (ing->opts.hooks.on_other)
			ing->opts.hooks.on_other(&ev, ing->opts.hooks.ud);
		break;
	}
	}
	TP_METRIC_SET(patterns_cached, tp_patterns_count(ing->patterns));
	tp_event_cleanup(&ev);
	return r;
}

int tp_ingest_warm(struct tp_ingest *ing, const struct tp_pattern *p,
		   double now)
{
	int rc;

	/* An existing record is newer than the cache copy: keep it. */
	if (tp_patterns_get(ing->patterns, p->id))
		return TP_ERR_EXISTS;
	ing->warming = true;
	if (ing->opts.sector_of) {
		struct tp_pattern tagged = *p; /* shallow: only sector changes */
		const char *sector = ing->opts.sector_of(p->symbol, ing->opts.hooks.ud);

		snprintf(tagged.sector, sizeof(tagged.sector), "%s", sector ? sector : "");
		rc = tp_patterns_upsert(ing->patterns, &tagged, now);
	} else {
		rc = tp_patterns_upsert(ing->patterns, p, now);
	}
	ing->warming = false;
	if (rc == TP_OK)
		tp_respcache_invalidate_pattern(ing->respcache, p);
	TP_METRIC_SET(patterns_cached, tp_patterns_count(ing->patterns));
	return rc;
}

size_t tp_ingest_expire(struct tp_ingest *ing, double now)
{
	size_t n = tp_patterns_expire(ing->patterns, now);

	TP_METRIC_SET(patterns_cached, tp_patterns_count(ing->patterns));
	return n;
}

uint64_t tp_ingest_bump_seq(struct tp_ingest *ing)
{
	if (ing->next_floor && ing->stats.seq + 1 >= ing->next_floor)
		return 0;
	return ++ing->stats.seq;
}

void tp_ingest_begin_entry(struct tp_ingest *ing, uint64_t n)
{
	uint64_t floor = n * TP_INGEST_STRIDE;

	/* A later entry never moves positions back (a reset does). */
	if (floor > ing->stats.seq)
		ing->stats.seq = floor;
	ing->event_slot = floor + TP_INGEST_EVENT_SLOT;
	ing->next_floor = floor + TP_INGEST_STRIDE;
}

void tp_ingest_end_entry(struct tp_ingest *ing)
{
	ing->event_slot = 0;
}

void tp_ingest_reset_seq(struct tp_ingest *ing, uint64_t seq)
{
	ing->stats.seq = seq;
	ing->event_slot = 0;
	ing->next_floor = 0;
}

size_t tp_ingest_expire_max(struct tp_ingest *ing, double now, size_t max)
{
	size_t n = 0;
	double next;

	/* One expiry instant at a time (ties go together), up to max. */
	while (n < max && (next = tp_patterns_next_expiry(ing->patterns)) > 0 &&
	       next <= now)
		n += tp_patterns_expire(ing->patterns, next);
	TP_METRIC_SET(patterns_cached, tp_patterns_count(ing->patterns));
	return n;
}

void tp_ingest_refresh_sectors(struct tp_ingest *ing)
{
	if (!ing->opts.sector_of)
		return;
	tp_patterns_update_sectors(ing->patterns, ing->opts.sector_of,
				   ing->opts.hooks.ud);
	tp_respcache_clear(ing->respcache);
}

struct tp_patterns *tp_ingest_patterns(const struct tp_ingest *ing)
{
	return ing->patterns;
}

struct tp_respcache *tp_ingest_respcache(const struct tp_ingest *ing)
{
	return ing->respcache;
}

const struct tp_ingest_stats *tp_ingest_stats(const struct tp_ingest *ing)
{
	return &ing->stats;
}

const char *tp_ingest_health_json(const struct tp_ingest *ing, double *received)
{
	if (received)
		*received = ing->health_received;
	return ing->health_json;
}

const char *tp_ingest_job_json(const struct tp_ingest *ing, const char *job_id)
{
	const struct tp_backtest_job *j = tp_jobs_find(ing->jobs, job_id);

	return j ? j->latest_json : NULL;
}

struct tp_jobs *tp_ingest_jobs(struct tp_ingest *ing)
{
	return ing->jobs;
}
