/*
 * gen.h - tickpush-sim event generator (pure: no I/O, the clock is passed in).
 *
 * sim_gen_next() produces one TickStockPL event as JSON text plus the channel
 * it belongs on, following docs/events.md. All randomness comes from the
 * state's seeded PRNG, so a seed and a sequence of `now` values reproduce the
 * exact same bytes. The backtest helpers build the producer's answers to a
 * backtest job (progress and result events); sim.c owns the jobs and the I/O.
 */
#ifndef TICKPUSH_SIM_GEN_H
#define TICKPUSH_SIM_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tickpush/event.h"

struct tp_buf;

struct sim_symbol {
	const char *symbol;
	const char *sector;
};

/* Compiled-in S&P 500 table (symbols.c, written by scripts/gen-sim-symbols). */
extern const struct sim_symbol sim_symbols_builtin[];
extern const size_t sim_symbols_builtin_count;

/* What one generated event is; the self-test uses it to know what to expect. */
enum sim_kind {
	SIM_K_DETECTED = 0,
	SIM_K_UPDATED,
	SIM_K_EXPIRED,
	SIM_K_PROGRESS,
	SIM_K_RESULT,
	SIM_K_HEALTH,
	SIM_K_MALFORMED,
	SIM_K__COUNT
};
const char *sim_kind_name(enum sim_kind k);

/* The malformed variants (--malformed); each must be rejected by a parser. */
enum sim_bad {
	SIM_BAD_NONE = 0,
	SIM_BAD_JSON,          /* truncated / not JSON */
	SIM_BAD_NOT_OBJECT,    /* a JSON array or string */
	SIM_BAD_NO_SYMBOL,     /* pattern without symbol */
	SIM_BAD_CONFIDENCE,    /* confidence 7.5e3 */
	SIM_BAD_SYMBOL_CHARS,  /* "AA PL$" */
	SIM_BAD_DIAGNOSTIC,    /* {"test":"health_check",...} */
	SIM_BAD_OVERSIZED,     /* > 64 KiB */
	SIM_BAD_WRONG_TYPE,    /* confidence as a string, symbol as a number */
	SIM_BAD_EVENT_TYPE,    /* unknown event_type */
	SIM_BAD_NO_JOB_ID,     /* backtest_progress without job_id */
	SIM_BAD__COUNT
};
const char *sim_bad_name(enum sim_bad b);

struct sim_opts {
	uint64_t seed;
	bool shapes;           /* mix every shape A/B/C/D, ISO times, alt names */
	double malformed;      /* fraction of malformed events, 0..1 */
	bool stamp;            /* add published_at = now */
	/* Symbol table; NULL = the compiled-in one. Not copied: must outlive
	 * the state. */
	const struct sim_symbol *symbols;
	size_t nsymbols;
};

/* What the generator knows about the event it just produced. */
struct sim_info {
	enum sim_kind kind;
	enum sim_bad bad;           /* SIM_K_MALFORMED only */
	enum tp_channel channel;
	char shape;                 /* 'A'..'D', 'F' (flat non-pattern), 0 */
	/* Pattern events: the identity and values a parser must produce. */
	char id[TP_PATTERN_ID_MAX + 1];
	char symbol[TP_SYMBOL_MAX + 1];
	const char *pattern_type;
	double confidence;
	double detected_at;
	double expires_at;
	enum tp_tier tier;
	bool tier_checkable;        /* false where the shape makes tier ambiguous */
	/* Backtest events. */
	char job_id[TP_JOB_ID_MAX + 1];
};

/* A recently detected pattern, kept so updates/expiries reuse its id. */
struct sim_recent {
	uint32_t sym;
	uint16_t pat;
	uint8_t tier;     /* enum tp_tier */
	double detected_at;
	double expires_at;
	double confidence;
};

#define SIM_RECENT_MAX 512

struct sim_state {
	struct sim_opts opts;
	uint64_t rng[4];             /* xoshiro256** */
	const struct sim_symbol *symbols;
	size_t nsymbols;
	uint32_t *rank;              /* popularity rank -> symbol index (owned) */
	double *zipf_cdf;            /* cumulative popularity by rank (owned) */
	double *price;               /* random-walking price per symbol (owned) */
	struct sim_recent recent[SIM_RECENT_MAX];
	size_t nrecent;
	size_t recent_head;          /* next slot to overwrite when full */
	uint64_t seq;                /* events generated */
	double started;              /* first `now` seen, for uptime_hours */
};

/* Initialises st (TP_OK / TP_ERR_NOMEM / TP_ERR_INVAL for an empty table). */
int sim_state_init(struct sim_state *st, const struct sim_opts *opts);
void sim_state_cleanup(struct sim_state *st); /* NULL-safe, idempotent */

/*
 * Generates the next stream event at wall-clock time `now` (epoch seconds)
 * into out (reset first) and describes it in *info (may be NULL). The mix:
 * malformed with probability opts.malformed; otherwise ~10% pattern_updated
 * and ~3% pattern_expired of a recent pattern, the rest pattern_detected;
 * with opts.shapes also some backtest and health events in every shape.
 */
enum sim_kind sim_gen_next(struct sim_state *st, double now, struct tp_buf *out,
			   struct sim_info *info);

/* A system_health event (the periodic --health-interval one). */
void sim_gen_health(struct sim_state *st, double now, struct tp_buf *out,
		    struct sim_info *info);

/* Backtest job answers (flat shape of docs/events.md). */
void sim_gen_backtest_progress(struct sim_state *st, double now,
			       struct tp_buf *out, const char *job_id,
			       double progress, const char *current_symbol,
			       unsigned processed, double eta);
void sim_gen_backtest_result(struct sim_state *st, double now,
			     struct tp_buf *out, const char *job_id,
			     const char *status, double processing_time);

/* Random helpers shared with sim.c (job durations, symbol picks). */
double sim_rand01(struct sim_state *st);
const char *sim_pick_symbol(struct sim_state *st);

/* Loads a symbol table from a CSV with a header naming "Symbol" (and
 * optionally "GICS Sector" / "Sector") columns; quoted fields are handled.
 * On success *out is an owned array (free with sim_symbols_free) whose
 * strings live in the same allocation. TP_OK, TP_ERR_IO, TP_ERR_INVAL
 * (no usable rows; msg says why), TP_ERR_NOMEM. */
int sim_symbols_load(const char *path, struct sim_symbol **out, size_t *n,
		     char *msg, size_t msglen);
void sim_symbols_free(struct sim_symbol *syms);

#endif
