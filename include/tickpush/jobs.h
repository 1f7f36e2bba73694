/*
 * jobs.h - the one backtest job table (core/jobs.c): per job its owner,
 * request and submission facts (the registry, io/backtests.c) and the
 * latest state the producer reported (the ingest, core/ingest.c).
 *
 * One eviction rule for every record: a job is forgotten TP_JOBS_TTL after
 * its submission (an unconfirmed one, still being submitted, never), or,
 * when its owner is unknown (only events seen), TP_JOBS_TTL after its
 * latest event; tp_jobs_prune does it. The table holds at most max
 * records: beyond that the least recently updated ownerless record makes
 * room, and an owned job is refused (the registry answers 429).
 *
 * Pure: time is passed in. Ownership: the table owns the records and
 * their JSON; pointers it returns are borrowed until the next change.
 * The ingest creates it (tp_ingest_jobs) and the registry uses it.
 */
#ifndef TICKPUSH_JOBS_H
#define TICKPUSH_JOBS_H

#include <stdbool.h>
#include <stddef.h>

#include "tickpush/event.h"
#include "tickpush/lru.h"

#define TP_JOBS_TTL (7 * 24 * 3600)   /* a week, as the Redis owner records */
#define TP_JOBS_PER_USER 1000         /* jobs a user may have at once */
#define TP_JOBS_MAX 100000            /* records in all */

struct tp_backtest_job {
	char id[TP_JOB_ID_MAX + 1];
	long long user_id;        /* 0 = owner unknown: only events seen */
	double submitted_at;      /* epoch s; 0 = unknown (request lost) */
	double expires_at;        /* forgotten after this */
	/* Validated request {"symbols","patterns","start_date","end_date",
	 * "parameters"} as compact JSON, owned; NULL when unknown. */
	char *request_json;
	/* The latest progress/result event's data as JSON, owned; NULL when
	 * none came yet. */
	char *latest_json;
	bool confirmed;           /* recorded in Redis and published */
	bool cancel_requested;
	struct tp_backtest_job *prev, *next; /* the owner's list */
	struct tp_lru_node orphan; /* ownerless records, by last event */
};

struct tp_jobs;

/* max 0 = TP_JOBS_MAX. NULL on out of memory. */
struct tp_jobs *tp_jobs_create(size_t max);
void tp_jobs_destroy(struct tp_jobs *t); /* NULL-safe */

size_t tp_jobs_count(const struct tp_jobs *t);
size_t tp_jobs_user_count(const struct tp_jobs *t, long long user_id);
/* Full of owned jobs: no new one fits. */
bool tp_jobs_full(const struct tp_jobs *t);
/* Any record (confirmed or not, owned or not), or NULL. */
struct tp_backtest_job *tp_jobs_find(const struct tp_jobs *t, const char *id);
/* The owner of a job, 0 = unknown (the push hub routes events by it). */
long long tp_jobs_owner(const struct tp_jobs *t, const char *id);

/* Enters an owned job (user_id > 0), taking request_json (freed on failure
 * too). An ownerless record of that id is claimed (its state kept); an
 * owned one is left alone and returned as is. NULL on out of memory or
 * when full of owned jobs. */
struct tp_backtest_job *tp_jobs_add(struct tp_jobs *t, const char *id,
				    long long user_id, double submitted_at,
				    double expires_at, char *request_json,
				    bool confirmed);
/* Forgets a record. */
void tp_jobs_remove(struct tp_jobs *t, const char *id);

/* A progress or result event's data (copied) becomes the job's latest
 * state; an unknown job gets an ownerless record (its clock restarts with
 * every event). TP_ERR_NOMEM or TP_ERR_LIMIT (full of owned jobs) keep
 * what was there. */
int tp_jobs_update(struct tp_jobs *t, const char *id, const char *data_json,
		   double now);

/* A confirmed, unexpired owned job, or NULL. */
const struct tp_backtest_job *tp_jobs_get(const struct tp_jobs *t,
					  const char *id, double now);
/* The user's confirmed unexpired jobs, most recent first, into *out
 * (tp_malloc'd array of borrowed pointers, tp_free it; NULL when none).
 * The count, or (size_t)-1 on out of memory. */
size_t tp_jobs_list(const struct tp_jobs *t, long long user_id, double now,
		    const struct tp_backtest_job ***out);
/* Forgets every expired record (the rule above); returns how many. */
size_t tp_jobs_prune(struct tp_jobs *t, double now);

#endif
