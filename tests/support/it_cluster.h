/*
 * it_cluster.h - helpers for the multi-instance tests (cluster = redis):
 * several tickpush instances on one Redis, pattern events with unique
 * ids, WebSocket sessions that record what they received.
 *
 * Each instance is an it_env of its own (own temp dir and logs) sharing
 * the first one's redis-server: only the first one starts and stops it.
 */
#ifndef TICKPUSH_TEST_IT_CLUSTER_H
#define TICKPUSH_TEST_IT_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include "it.h"
#include "ws_client.h"

#define ITC_MAX_FRAMES 512

/* A received event frame. */
struct itc_frame {
	char type[24];           /* pattern, pattern_removed, ... */
	unsigned long long seq;
	char id[96];             /* data.id (pattern) or id (removed) */
};

struct itc_session {
	struct it_ws ws;
	char epoch[32];          /* of hello / subscribed / gap */
	unsigned long long seq;  /* last event seq seen (or subscribed's) */
	struct itc_frame frames[ITC_MAX_FRAMES];
	size_t n;
	int gaps;
	bool recovered;          /* of the last subscribed */
};

/* e shares redis's redis-server (e gets its own dir from it_setup). */
void itc_share_redis(struct it_env *e, const struct it_env *redis);
/* Starts tickpush with cluster = redis plus extra (NULL-terminated, may
 * be NULL), waiting until ready. */
void itc_start(struct it_env *e, const char *const *extra);

/* Publishes a pattern event for symbol sym; its id goes to id_out (may be
 * NULL). Every call makes a new record. */
void itc_publish(const struct it_env *redis, const char *sym, char *id_out,
		 size_t id_n);

/* Opens a WebSocket on port (path "/ws" plus query), reads hello. */
void itc_open(struct itc_session *s, int port, const char *query);
/* Subscribes "s1" to patterns of symbol sym; since_seq used when
 * with_since (epoch = s->epoch). Reads until "subscribed" (recorded). */
void itc_subscribe(struct itc_session *s, const char *sym, bool with_since,
		   const char *epoch, unsigned long long since_seq);
/* Reads frames until quiet seconds pass without one (or the connection
 * ends); returns how many event frames were added. */
size_t itc_collect(struct itc_session *s, double quiet);
/* Reads until s holds n event frames or timeout; true when it does. */
bool itc_wait_frames(struct itc_session *s, size_t n, double timeout);
void itc_close(struct itc_session *s);

/* GET /api/patterns/scan?symbols=sym on port: the stream position;
 * returns how many patterns the scan found. */
int itc_scan_position(int port, const char *sym, char *epoch, size_t epoch_n,
		      unsigned long long *seq);

#endif
