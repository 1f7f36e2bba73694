/*
 * ingest.h - one inbound message -> parsed once -> store, caches, hooks
 * (server/core/ingest.c).
 *
 * The ingest owns the pattern store and the response cache and keeps them
 * coherent: every record that enters or leaves the store is offered to the
 * response cache's invalidation and to the caller's hooks (Redis
 * write-through now, push fan-out later). It also keeps the latest state of
 * each backtest job and the latest producer health report. Pure: no I/O,
 * the clock is passed in. Single-threaded.
 */
#ifndef TICKPUSH_INGEST_H
#define TICKPUSH_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tickpush/event.h"
#include "tickpush/patterns.h"
#include "tickpush/respcache.h"

struct tp_ingest;

/* Hooks run synchronously inside tp_ingest_* calls; pointers are valid only
 * during the call. Any hook may be NULL. */
struct tp_ingest_hooks {
	/* A pattern was inserted or replaced (after the store changed). */
	void (*on_upsert)(const struct tp_pattern *p, void *ud);
	/* A pattern left the store (before it is freed). */
	void (*on_remove)(const struct tp_pattern *p, enum tp_removal why,
			  void *ud);
	/* A backtest or health event was accepted. */
	void (*on_other)(const struct tp_event *ev, void *ud);
	/* A message was rejected; err names the field. */
	void (*on_reject)(enum tp_channel ch, enum tp_reject why,
			  const struct tp_errdetail *err, void *ud);
	void *ud;
};

struct tp_ingest_opts {
	size_t max_patterns;
	double pattern_ttl;           /* PATTERN_CACHE_TTL */
	size_t respcache_entries;
	double respcache_ttl;         /* API_RESPONSE_CACHE_TTL */
	size_t max_jobs;              /* backtest job records (jobs.h), 0 = TP_JOBS_MAX */
	/* Sector of a symbol (for sector filters), NULL when unknown; may be
	 * NULL when no symbol directory exists. */
	tp_patterns_sector_cb *sector_of;
	struct tp_ingest_hooks hooks;
};

struct tp_ingest_stats {
	uint64_t events_processed;  /* accepted events of every kind */
	uint64_t events_rejected;
	uint64_t patterns_ingested; /* accepted pattern upserts */
	uint64_t expired_cleaned;   /* removed by the expiry sweep */
	double last_event_time;     /* receive time of the last accepted event, 0 = never */
	uint64_t seq;               /* stream position: grows with every accepted event
				     * and every visible removal (expiry, withdrawal,
				     * eviction); hooks read it for the current change */
};

struct tp_ingest *tp_ingest_create(const struct tp_ingest_opts *o);
void tp_ingest_destroy(struct tp_ingest *ing); /* NULL-safe; no hooks run */

/* Parses and applies one message from channel ch received at now. Returns
 * TP_REJECT_NONE when accepted. Rejections are counted (also in metrics)
 * and reported to on_reject; nothing else changes. TP_REJECT__COUNT means
 * a valid event could not be applied (out of memory); it is counted as
 * rejected but not per reason. */
enum tp_reject tp_ingest_message(struct tp_ingest *ing, enum tp_channel ch,
				 const char *buf, size_t len, double now);

/* Inserts a record loaded from the Redis cache layout (warm start): no hooks
 * for write-through, no seq change. TP_OK, TP_ERR_INVAL (expired), NOMEM. */
int tp_ingest_warm(struct tp_ingest *ing, const struct tp_pattern *p,
		   double now);

/* Expiry sweep; returns the number removed. */
size_t tp_ingest_expire(struct tp_ingest *ing, double now);

/* Takes the next stream position for a change that does not come from an
 * event (e.g. the producer going offline); returns it, or 0 in cluster
 * mode when the current entry has no position left (push nothing). */
uint64_t tp_ingest_bump_seq(struct tp_ingest *ing);

/*
 * Cluster mode (docs/adr/0003-cluster-position.md): positions come from a
 * shared Redis Stream, so every instance gives the same change the same
 * seq. Stream entry n owns the seqs n * TP_INGEST_STRIDE ..
 * (n + 1) * TP_INGEST_STRIDE - 1: removals caused by applying it take the
 * next ones from the floor (at most TP_INGEST_EVENT_SLOT - 1 of them), the
 * event itself takes floor + TP_INGEST_EVENT_SLOT, and changes of this
 * instance alone (tp_ingest_bump_seq) the ones after, until the next
 * entry. Outside cluster mode none of this is used: seq just grows.
 */
#define TP_INGEST_STRIDE 1024u
#define TP_INGEST_EVENT_SLOT 512u
/* The changes that follow belong to stream entry n (> 0), until
 * tp_ingest_end_entry. */
void tp_ingest_begin_entry(struct tp_ingest *ing, uint64_t n);
void tp_ingest_end_entry(struct tp_ingest *ing);
/* A new history (a new epoch): positions start again at seq. */
void tp_ingest_reset_seq(struct tp_ingest *ing, uint64_t seq);
/* Expiry sweep removing at most max records (each takes a seq). */
size_t tp_ingest_expire_max(struct tp_ingest *ing, double now, size_t max);

/* The symbol directory changed: re-tag sectors of stored patterns and drop
 * the response cache (sector filters may answer differently now). */
void tp_ingest_refresh_sectors(struct tp_ingest *ing);

struct tp_patterns *tp_ingest_patterns(const struct tp_ingest *ing);
struct tp_respcache *tp_ingest_respcache(const struct tp_ingest *ing);
const struct tp_ingest_stats *tp_ingest_stats(const struct tp_ingest *ing);

/* Latest producer health report as a JSON object (borrowed, NULL if none)
 * and when it arrived. */
const char *tp_ingest_health_json(const struct tp_ingest *ing, double *received);
/* Latest state of a backtest job as a JSON object (borrowed) or NULL. */
const char *tp_ingest_job_json(const struct tp_ingest *ing, const char *job_id);
/* The backtest job table (jobs.h) the events update; the job registry
 * records owners in it. Lives as long as the ingest. */
struct tp_jobs;
struct tp_jobs *tp_ingest_jobs(struct tp_ingest *ing);

#endif
