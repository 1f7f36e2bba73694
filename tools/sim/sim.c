/*
 * sim.c - tickpush-sim: publishes realistic TickStockPL events to Redis.
 *
 * Responsibilities: options, the paced publish loop, the producer heartbeat
 * and periodic health events, the producer's side of backtest jobs, Redis
 * connections (blocking hiredis; this is a command-line tool, not the
 * server) with reconnect and backoff, clean stop on count / duration /
 * SIGINT / SIGTERM, and the summary line. Event bytes come from gen.c.
 *
 * Pacing: stream event k (0-based) is due at t0 + k / rate on the monotonic
 * clock. Each turn publishes every event that is due (pipelined, so high
 * rates are cheap) and then sleeps with clock_nanosleep(TIMER_ABSTIME) until
 * the next deadline, so errors do not accumulate. If the loop falls more
 * than a second behind (Redis stalled or gone), the schedule restarts from
 * now instead of bursting to catch up.
 *
 * Backtest jobs: a second connection SUBSCRIBEs to <prefix>.jobs.backtest
 * and <prefix>.jobs.cancel; poll() waits on it between publishes. Each job
 * publishes progress about once a second and then one result.
 *
 * Ownership: main owns every resource; a single exit path releases them.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "gen.h"
#include "sim.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/clock.h"
#include "tickpush/err.h"

#define BATCH_MAX 1000
#define MAX_JOBS 64
#define HEARTBEAT_EVERY 60.0
#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 5.0

struct cfg {
	const char *host;
	int port;
	const char *socket;
	int db;
	const char *password;
	const char *prefix;
	double rate;
	unsigned long long count;   /* 0 = unlimited */
	double duration;            /* 0 = unlimited */
	unsigned long long seed;
	bool seed_set;
	bool shapes;
	double malformed;
	double health_interval;
	bool heartbeat;
	const char *symbols_file;
	bool stamp;
	bool quiet;
	bool verbose;
	bool dry_run;
	bool backtest;
	unsigned long selftest;     /* 0 = off */
};

struct job {
	bool active;
	char id[TP_JOB_ID_MAX + 1];
	double started_wall, started, duration, next_tick;
	unsigned nsym;
	char syms[8][TP_SYMBOL_MAX + 1];
	unsigned nsyms_kept;
	bool fails;
};

struct sim {
	struct cfg cfg;
	struct sim_state gen;
	struct tp_buf buf;
	redisContext *pub;
	redisContext *sub;
	char chan[TP_CH__COUNT][160];
	char chan_jobs[160], chan_cancel[160], hb_key[160];
	double next_pub_try, pub_backoff;
	double next_sub_try, sub_backoff;
	struct job jobs[MAX_JOBS];
	/* Counters for the summary. */
	unsigned long long published[SIM_K__COUNT];
	/* errors: events (and heartbeats) that could not be published. */
	unsigned long long errors, connect_failures, reconnects, heartbeats, rebases;
	unsigned long long jobs_seen;
	bool warned_down;
	bool hb_due;    /* after a reconnect: Redis may have lost the key */
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void sleep_until(double mono_deadline)
{
	struct timespec ts;

	ts.tv_sec = (time_t)floor(mono_deadline);
	ts.tv_nsec = (long)((mono_deadline - floor(mono_deadline)) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	/* EINTR (a signal) returns early; the loop re-checks stop_signal. */
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* ---- options ---- */

static void usage(FILE *out)
{
	fprintf(out,
"Usage: tickpush-sim [OPTIONS]\n"
"Publishes realistic TickStockPL events (docs/events.md) to Redis.\n"
"\n"
"Connection:\n"
"  -h, --host HOST          Redis host (default 127.0.0.1)\n"
"  -p, --port PORT          Redis port (default 6379)\n"
"  -s, --socket PATH        Redis unix socket (overrides host/port)\n"
"  -n, --db N               SELECT this database (default 0)\n"
"  -a, --password PASS      AUTH with this password\n"
"      --prefix P           channel/key prefix (default tickstock)\n"
"Stream:\n"
"  -r, --rate N             events per second, fractional ok (default 5)\n"
"  -c, --count N            stop after N stream events\n"
"  -d, --duration S         stop after S seconds (default: until SIGINT/SIGTERM)\n"
"      --seed N             PRNG seed (default: from the clock; printed)\n"
"      --shapes             mix every producer shape (A/B/C/D, ISO times,\n"
"                           alternative names) plus backtest/health events\n"
"      --malformed F        fraction F (0..1) of malformed events\n"
"      --symbols-file CSV   symbols (and sectors) from a CSV with a Symbol column\n"
"      --stamp              add published_at (epoch float) to each event\n"
"Producer side:\n"
"      --health-interval S  system_health every S seconds (default 10; 0 = off)\n"
"      --heartbeat          SET <prefix>:producer:heartbeat every 60 s (default)\n"
"      --no-heartbeat       do not\n"
"      --no-backtest        do not answer <prefix>.jobs.backtest jobs\n"
"Other:\n"
"  -q, --quiet              no banner (the summary line is still printed)\n"
"  -v, --verbose            print every published event\n"
"      --dry-run            write 'channel<TAB>payload' lines to stdout, no Redis\n"
"      --self-test N        generate N events, check them with the event parser\n"
"      --help               this text\n");
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool parse_ull(const char *s, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (*s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		return false;
	*out = v;
	return true;
}

enum {
	OPT_PREFIX = 256, OPT_SEED, OPT_SHAPES, OPT_MALFORMED, OPT_HEALTH,
	OPT_HB, OPT_NO_HB, OPT_SYMFILE, OPT_STAMP, OPT_DRY, OPT_SELFTEST,
	OPT_NO_BT, OPT_HELP,
};

static const struct option long_opts[] = {
	{"host", required_argument, NULL, 'h'},
	{"port", required_argument, NULL, 'p'},
	{"socket", required_argument, NULL, 's'},
	{"db", required_argument, NULL, 'n'},
	{"password", required_argument, NULL, 'a'},
	{"prefix", required_argument, NULL, OPT_PREFIX},
	{"rate", required_argument, NULL, 'r'},
	{"count", required_argument, NULL, 'c'},
	{"duration", required_argument, NULL, 'd'},
	{"seed", required_argument, NULL, OPT_SEED},
	{"shapes", no_argument, NULL, OPT_SHAPES},
	{"malformed", required_argument, NULL, OPT_MALFORMED},
	{"health-interval", required_argument, NULL, OPT_HEALTH},
	{"heartbeat", no_argument, NULL, OPT_HB},
	{"no-heartbeat", no_argument, NULL, OPT_NO_HB},
	{"no-backtest", no_argument, NULL, OPT_NO_BT},
	{"symbols-file", required_argument, NULL, OPT_SYMFILE},
	{"stamp", no_argument, NULL, OPT_STAMP},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"dry-run", no_argument, NULL, OPT_DRY},
	{"self-test", required_argument, NULL, OPT_SELFTEST},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static int bad_arg(const char *opt, const char *val, const char *want)
{
	fprintf(stderr, "tickpush-sim: invalid --%s '%s': %s\n", opt, val, want);
	return 2;
}

/* Returns 0 to run, 2 on a usage error, -1 after --help. */
static int parse_args(int argc, char **argv, struct cfg *c)
{
	unsigned long long u;
	double d;
	int o;

	*c = (struct cfg){.host = "127.0.0.1", .port = 6379, .prefix = "tickstock",
			  .rate = 5, .health_interval = 10, .heartbeat = true,
			  .backtest = true};
	while ((o = getopt_long(argc, argv, "h:p:s:n:a:r:c:d:qv", long_opts, NULL)) != -1) {
		switch (o) {
		case 'h': c->host = optarg; break;
		case 'p':
			if (!parse_ull(optarg, &u) || u == 0 || u > 65535)
				return bad_arg("port", optarg, "1..65535");
			c->port = (int)u;
			break;
		case 's': c->socket = optarg; break;
		case 'n':
			if (!parse_ull(optarg, &u) || u > 1000000)
				return bad_arg("db", optarg, "a database number");
			c->db = (int)u;
			break;
		case 'a': c->password = optarg; break;
		case OPT_PREFIX:
			if (!*optarg || strlen(optarg) > 100)
				return bad_arg("prefix", optarg, "1..100 characters");
			c->prefix = optarg;
			break;
		case 'r':
			if (!parse_double(optarg, 1e-6, 1e7, &d))
				return bad_arg("rate", optarg, "events per second, > 0");
			c->rate = d;
			break;
		case 'c':
			if (!parse_ull(optarg, &u))
				return bad_arg("count", optarg, "a count");
			c->count = u;
			break;
		case 'd':
			if (!parse_double(optarg, 0, 1e9, &d))
				return bad_arg("duration", optarg, "seconds >= 0");
			c->duration = d;
			break;
		case OPT_SEED:
			if (!parse_ull(optarg, &u))
				return bad_arg("seed", optarg, "an unsigned integer");
			c->seed = u;
			c->seed_set = true;
			break;
		case OPT_SHAPES: c->shapes = true; break;
		case OPT_MALFORMED:
			if (!parse_double(optarg, 0, 1, &d))
				return bad_arg("malformed", optarg, "a fraction 0..1");
			c->malformed = d;
			break;
		case OPT_HEALTH:
			if (!parse_double(optarg, 0, 1e7, &d))
				return bad_arg("health-interval", optarg, "seconds >= 0");
			c->health_interval = d;
			break;
		case OPT_HB: c->heartbeat = true; break;
		case OPT_NO_HB: c->heartbeat = false; break;
		case OPT_NO_BT: c->backtest = false; break;
		case OPT_SYMFILE: c->symbols_file = optarg; break;
		case OPT_STAMP: c->stamp = true; break;
		case 'q': c->quiet = true; break;
		case 'v': c->verbose = true; break;
		case OPT_DRY: c->dry_run = true; break;
		case OPT_SELFTEST:
			if (!parse_ull(optarg, &u) || u == 0 || u > 100000000)
				return bad_arg("self-test", optarg, "a number of events");
			c->selftest = (unsigned long)u;
			break;
		case OPT_HELP:
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tickpush-sim: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return 0;
}

/* ---- Redis ---- */

static redisContext *connect_redis(const struct cfg *c, char *err, size_t errlen)
{
	struct timeval tv = {2, 0}, cmd_tv = {5, 0};
	redisContext *ctx;
	redisReply *r;

	ctx = c->socket ? redisConnectUnixWithTimeout(c->socket, tv)
			: redisConnectWithTimeout(c->host, c->port, tv);
	if (!ctx || ctx->err) {
		snprintf(err, errlen, "%s", ctx ? ctx->errstr : "out of memory");
		goto fail;
	}
	/* A hung server must not hang the tool forever. */
	redisSetTimeout(ctx, cmd_tv);
	if (c->password) {
		r = redisCommand(ctx, "AUTH %s", c->password);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "AUTH: %s", r ? r->str : ctx->errstr);
			freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	if (c->db) {
		r = redisCommand(ctx, "SELECT %d", c->db);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "SELECT: %s", r ? r->str : ctx->errstr);
			freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	return ctx;
fail:
	if (ctx)
		redisFree(ctx);
	return NULL;
}

static const char *where(const struct cfg *c, char *tmp, size_t len)
{
	if (c->socket)
		snprintf(tmp, len, "unix:%s", c->socket);
	else
		snprintf(tmp, len, "%s:%d", c->host, c->port);
	return tmp;
}

static void pub_lost(struct sim *s, const char *what)
{
	char tmp[300];

	if (!s->warned_down)
		fprintf(stderr, "tickpush-sim: Redis %s lost (%s: %s); reconnecting\n",
			where(&s->cfg, tmp, sizeof(tmp)), what,
			s->pub && s->pub->errstr[0] ? s->pub->errstr : "error reply");
	s->warned_down = true;
	if (s->pub)
		redisFree(s->pub);
	s->pub = NULL;
	s->pub_backoff = BACKOFF_MIN;
	s->next_pub_try = tp_mono() + s->pub_backoff;
}

/* Reconnects the publisher when its backoff allows; true when connected. */
static bool ensure_pub(struct sim *s, double mnow)
{
	char err[256];

	if (s->pub)
		return true;
	if (mnow < s->next_pub_try)
		return false;
	s->pub = connect_redis(&s->cfg, err, sizeof(err));
	if (!s->pub) {
		s->connect_failures++;
		s->pub_backoff = fmin(s->pub_backoff * 2, BACKOFF_MAX);
		s->next_pub_try = mnow + s->pub_backoff;
		return false;
	}
	s->reconnects++;
	s->hb_due = s->cfg.heartbeat;
	if (!s->cfg.quiet)
		fprintf(stderr, "tickpush-sim: reconnected to Redis\n");
	s->warned_down = false;
	return true;
}

static void echo(struct sim *s, const char *chan, const char *p, size_t len)
{
	if (s->cfg.dry_run)
		printf("%s\t%.*s\n", chan, (int)len, p);
	else if (s->cfg.verbose)
		printf("%s %.*s%s\n", chan, (int)(len > 500 ? 500 : len), p,
		       len > 500 ? "..." : "");
}

/* Publishes one event now (not pipelined); counts it under kind. */
static void publish_one(struct sim *s, enum tp_channel ch, enum sim_kind kind)
{
	redisReply *r;
	const char *p = tp_buf_cstr(&s->buf);

	echo(s, s->chan[ch], p, s->buf.len);
	if (s->cfg.dry_run) {
		s->published[kind]++;
		return;
	}
	if (!ensure_pub(s, tp_mono())) {
		s->errors++;
		return;
	}
	r = redisCommand(s->pub, "PUBLISH %s %b", s->chan[ch], p, s->buf.len);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		s->errors++;
		freeReplyObject(r);
		pub_lost(s, "PUBLISH");
		return;
	}
	freeReplyObject(r);
	s->published[kind]++;
}

/* Generates and publishes n stream events as one pipeline. */
static void publish_batch(struct sim *s, unsigned n)
{
	enum sim_kind kinds[BATCH_MAX];
	struct sim_info info;
	unsigned i, queued = 0, done = 0;
	redisReply *r;
	bool ok = true;

	for (i = 0; i < n; i++) {
		kinds[i] = sim_gen_next(&s->gen, tp_now(), &s->buf, &info);
		echo(s, s->chan[info.channel], tp_buf_cstr(&s->buf), s->buf.len);
		if (s->cfg.dry_run) {
			s->published[kinds[i]]++;
			continue;
		}
		if (redisAppendCommand(s->pub, "PUBLISH %s %b", s->chan[info.channel],
				       tp_buf_cstr(&s->buf), s->buf.len) != REDIS_OK) {
			ok = false;
			break;
		}
		queued++;
	}
	for (i = 0; ok && i < queued; i++) {
		r = NULL; /* left untouched when redisGetReply fails */
		if (redisGetReply(s->pub, (void **)&r) != REDIS_OK || !r ||
		    r->type == REDIS_REPLY_ERROR) {
			if (r)
				freeReplyObject(r);
			ok = false;
			break;
		}
		freeReplyObject(r);
		s->published[kinds[i]]++;
		done++;
	}
	if (!ok) {
		s->errors += n - done;
		pub_lost(s, "PUBLISH");
	}
}

static void heartbeat(struct sim *s)
{
	redisReply *r;

	if (s->cfg.dry_run) {
		s->heartbeats++;
		return;
	}
	if (!ensure_pub(s, tp_mono())) {
		s->errors++;
		return;
	}
	r = redisCommand(s->pub, "SET %s %lld", s->hb_key, (long long)time(NULL));
	if (!r || r->type == REDIS_REPLY_ERROR) {
		s->errors++;
		freeReplyObject(r);
		pub_lost(s, "SET heartbeat");
		return;
	}
	freeReplyObject(r);
	s->heartbeats++;
}

/* ---- backtest jobs ---- */

static void sub_drop(struct sim *s)
{
	if (s->sub)
		redisFree(s->sub);
	s->sub = NULL;
	s->sub_backoff = fmin(fmax(s->sub_backoff * 2, BACKOFF_MIN), BACKOFF_MAX);
	s->next_sub_try = tp_mono() + s->sub_backoff;
}

static void ensure_sub(struct sim *s, double mnow)
{
	char err[256];
	redisReply *r;

	if (!s->cfg.backtest || s->cfg.dry_run || s->sub || mnow < s->next_sub_try)
		return;
	s->sub = connect_redis(&s->cfg, err, sizeof(err));
	if (!s->sub) {
		sub_drop(s);
		return;
	}
	r = redisCommand(s->sub, "SUBSCRIBE %s %s", s->chan_jobs, s->chan_cancel);
	if (!r) {
		sub_drop(s);
		return;
	}
	freeReplyObject(r);
	/* The second subscribe confirmation arrives through the reader. */
	s->sub_backoff = 0;
}

static void job_progress(struct sim *s, struct job *j, double mnow)
{
	double frac = fmin((mnow - j->started) / j->duration, 1.0);
	unsigned processed = (unsigned)(frac * j->nsym);
	const char *cur = j->nsyms_kept ? j->syms[processed % j->nsyms_kept]
					: sim_pick_symbol(&s->gen);
	double wnow = tp_now();

	sim_gen_backtest_progress(&s->gen, wnow, &s->buf, j->id, frac, cur, processed,
				  wnow + (j->duration - (mnow - j->started)));
	publish_one(s, TP_CH_BACKTEST_PROGRESS, SIM_K_PROGRESS);
}

static void job_finish(struct sim *s, struct job *j, const char *status)
{
	double wnow = tp_now();

	sim_gen_backtest_result(&s->gen, wnow, &s->buf, j->id, status,
				wnow - j->started_wall);
	publish_one(s, TP_CH_BACKTEST_RESULTS, SIM_K_RESULT);
	j->active = false;
}

static struct job *find_job(struct sim *s, const char *id)
{
	size_t i;

	for (i = 0; i < MAX_JOBS; i++)
		if (s->jobs[i].active && strcmp(s->jobs[i].id, id) == 0)
			return &s->jobs[i];
	return NULL;
}

static void on_job(struct sim *s, const char *chan, const char *p, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(p, len);
	const cJSON *id = root ? cJSON_GetObjectItemCaseSensitive(root, "job_id") : NULL;
	const cJSON *syms, *list, *it;
	struct job *j = NULL;
	size_t i;

	if (!cJSON_IsString(id) || !id->valuestring[0] ||
	    strlen(id->valuestring) > TP_JOB_ID_MAX) {
		if (!s->cfg.quiet)
			fprintf(stderr, "tickpush-sim: ignoring job message without a "
				"usable job_id on %s\n", chan);
		goto out;
	}
	if (strcmp(chan, s->chan_cancel) == 0) {
		j = find_job(s, id->valuestring);
		if (j)
			job_finish(s, j, "cancelled");
		goto out;
	}
	if (find_job(s, id->valuestring))
		goto out; /* duplicate delivery */
	for (i = 0; i < MAX_JOBS && !j; i++)
		if (!s->jobs[i].active)
			j = &s->jobs[i];
	if (!j) {
		fprintf(stderr, "tickpush-sim: %d jobs running; ignoring %s\n", MAX_JOBS,
			id->valuestring);
		goto out;
	}
	memset(j, 0, sizeof(*j));
	snprintf(j->id, sizeof(j->id), "%s", id->valuestring);
	syms = cJSON_GetObjectItemCaseSensitive(root, "symbols");
	list = cJSON_IsArray(syms) ? syms : NULL;
	cJSON_ArrayForEach(it, list) {
		if (cJSON_IsString(it) && strlen(it->valuestring) <= TP_SYMBOL_MAX &&
		    j->nsyms_kept < TP_ARRAY_SIZE(j->syms))
			snprintf(j->syms[j->nsyms_kept++], sizeof(j->syms[0]), "%s",
				 it->valuestring);
		j->nsym++;
	}
	if (j->nsym == 0)
		j->nsym = 25;
	if (j->nsym > 5000)
		j->nsym = 5000;
	j->active = true;
	j->started = tp_mono();
	j->started_wall = tp_now();
	j->duration = fmin(fmax(j->nsym * (0.1 + 0.3 * sim_rand01(&s->gen)), 3), 60);
	j->fails = sim_rand01(&s->gen) < 0.05;
	j->next_tick = j->started + 1.0;
	s->jobs_seen++;
	job_progress(s, j, j->started);
out:
	cJSON_Delete(root);
}

static void sub_read(struct sim *s)
{
	void *reply;
	redisReply *r;

	if (redisBufferRead(s->sub) != REDIS_OK) {
		sub_drop(s);
		return;
	}
	for (;;) {
		if (redisGetReplyFromReader(s->sub, &reply) != REDIS_OK) {
			sub_drop(s);
			return;
		}
		if (!reply)
			return;
		r = reply;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[0]->str, "message") == 0 &&
		    r->element[2]->type == REDIS_REPLY_STRING)
			on_job(s, r->element[1]->str, r->element[2]->str,
			       (size_t)r->element[2]->len);
		freeReplyObject(r);
	}
}

/* Advances running jobs; returns the next time a job needs attention. */
static double jobs_tick(struct sim *s, double mnow)
{
	double next = INFINITY;
	size_t i;

	for (i = 0; i < MAX_JOBS; i++) {
		struct job *j = &s->jobs[i];

		if (!j->active)
			continue;
		if (mnow >= j->started + j->duration ||
		    (j->fails && mnow >= j->started + j->duration / 2)) {
			job_finish(s, j, j->fails ? "failed" : "completed");
			continue;
		}
		if (mnow >= j->next_tick) {
			job_progress(s, j, mnow);
			j->next_tick += 1.0;
		}
		next = fmin(next, fmin(j->next_tick, j->started + j->duration));
	}
	return next;
}

/* Sleeps until the deadline, serving the job subscription meanwhile. */
static void wait_until(struct sim *s, double deadline)
{
	double mnow = tp_mono();

	if (s->sub && deadline - mnow > 0.002) {
		struct pollfd pfd = {.fd = s->sub->fd, .events = POLLIN};
		int ms = (int)fmin((deadline - mnow - 0.001) * 1000, 1000);

		if (poll(&pfd, 1, ms) > 0)
			sub_read(s);
		/* The caller recomputes; the last ~1 ms is slept precisely. */
		return;
	}
	if (deadline > tp_mono())
		sleep_until(deadline);
}

/* ---- main loop ---- */

static void summary(struct sim *s, double elapsed)
{
	unsigned long long total = 0;
	int k;

	for (k = 0; k < SIM_K__COUNT; k++)
		total += s->published[k];
	fprintf(stderr, "tickpush-sim: published %llu in %.1fs (%.1f/s):", total,
		elapsed, elapsed > 0 ? (double)total / elapsed : 0.0);
	for (k = 0; k < SIM_K__COUNT; k++)
		fprintf(stderr, " %s=%llu", sim_kind_name((enum sim_kind)k), s->published[k]);
	fprintf(stderr, " heartbeats=%llu jobs=%llu errors=%llu reconnects=%llu"
		" connect_failures=%llu rebases=%llu\n", s->heartbeats, s->jobs_seen,
		s->errors, s->reconnects, s->connect_failures, s->rebases);
}

static void run(struct sim *s)
{
	const struct cfg *c = &s->cfg;
	double t0 = tp_mono(), start = t0, mnow, next_health, next_hb, deadline, next_job;
	unsigned long long sent = 0;

	next_health = c->health_interval > 0 ? t0 + c->health_interval : INFINITY;
	next_hb = c->heartbeat ? t0 : INFINITY;
	while (!stop_signal) {
		double due_at;
		unsigned long long due;

		mnow = tp_mono();
		if (c->duration > 0 && mnow - start >= c->duration)
			break;
		if (c->count && sent >= c->count)
			break;
		if (mnow >= next_hb || s->hb_due) {
			s->hb_due = false;
			heartbeat(s);
			next_hb = mnow + HEARTBEAT_EVERY;
		}
		if (mnow >= next_health) {
			sim_gen_health(&s->gen, tp_now(), &s->buf, NULL);
			publish_one(s, TP_CH_HEALTH, SIM_K_HEALTH);
			next_health += c->health_interval;
		}
		ensure_sub(s, mnow);
		next_job = jobs_tick(s, mnow);
		/* Stream events due by now (event k is due at t0 + k/rate). */
		due_at = t0 + (double)sent / c->rate;
		if (mnow - due_at > 1.0) {
			/* Over a second behind: resume the schedule from now. */
			t0 = mnow - (double)sent / c->rate;
			due_at = mnow;
			s->rebases++;
		}
		due = mnow >= due_at ? (unsigned long long)floor((mnow - t0) * c->rate) + 1 - sent
				     : 0;
		if (due > BATCH_MAX)
			due = BATCH_MAX;
		if (c->count && due > c->count - sent)
			due = c->count - sent;
		if (due > 0) {
			if (c->dry_run || ensure_pub(s, mnow))
				publish_batch(s, (unsigned)due);
			else
				s->errors += due;
			sent += due;
			continue;
		}
		deadline = fmin(due_at, fmin(next_hb, fmin(next_health, next_job)));
		if (c->duration > 0)
			deadline = fmin(deadline, start + c->duration);
		if (!s->pub && !c->dry_run)
			deadline = fmin(deadline, s->next_pub_try);
		if (c->backtest && !s->sub && !c->dry_run)
			deadline = fmin(deadline, s->next_sub_try);
		wait_until(s, deadline);
	}
	summary(s, tp_mono() - start);
}

int main(int argc, char **argv)
{
	struct sim *s = NULL;
	struct sim_symbol *file_syms = NULL;
	size_t nfile = 0;
	struct sim_opts go;
	struct sigaction sa;
	char err[300], tmp[300];
	int rc;

	s = tp_calloc(1, sizeof(*s));
	if (!s) {
		fprintf(stderr, "tickpush-sim: out of memory\n");
		return 1;
	}
	rc = parse_args(argc, argv, &s->cfg);
	if (rc) {
		rc = rc < 0 ? 0 : rc;
		goto out;
	}
	if (!s->cfg.seed_set)
		s->cfg.seed = s->cfg.selftest ? 1 : (unsigned long long)time(NULL) ^
				  ((unsigned long long)getpid() << 16);
	if (s->cfg.symbols_file) {
		rc = sim_symbols_load(s->cfg.symbols_file, &file_syms, &nfile, err,
				      sizeof(err));
		if (rc != TP_OK) {
			fprintf(stderr, "tickpush-sim: %s\n",
				rc == TP_ERR_NOMEM ? "out of memory" : err);
			rc = 2;
			goto out;
		}
	}
	go = (struct sim_opts){.seed = s->cfg.seed, .shapes = s->cfg.shapes,
			       .malformed = s->cfg.malformed, .stamp = s->cfg.stamp,
			       .symbols = file_syms, .nsymbols = nfile};
	if (s->cfg.selftest) {
		rc = sim_selftest(&go, s->cfg.selftest, s->cfg.verbose);
		goto out;
	}
	if (sim_state_init(&s->gen, &go) != TP_OK) {
		fprintf(stderr, "tickpush-sim: cannot initialise the generator\n");
		rc = 1;
		goto out;
	}
	tp_buf_init(&s->buf, 0);
	snprintf(s->chan[TP_CH_PATTERNS], sizeof(s->chan[0]), "%s.events.patterns",
		 s->cfg.prefix);
	snprintf(s->chan[TP_CH_BACKTEST_PROGRESS], sizeof(s->chan[0]),
		 "%s.events.backtesting.progress", s->cfg.prefix);
	snprintf(s->chan[TP_CH_BACKTEST_RESULTS], sizeof(s->chan[0]),
		 "%s.events.backtesting.results", s->cfg.prefix);
	snprintf(s->chan[TP_CH_HEALTH], sizeof(s->chan[0]), "%s.health.status",
		 s->cfg.prefix);
	snprintf(s->chan_jobs, sizeof(s->chan_jobs), "%s.jobs.backtest", s->cfg.prefix);
	snprintf(s->chan_cancel, sizeof(s->chan_cancel), "%s.jobs.cancel", s->cfg.prefix);
	snprintf(s->hb_key, sizeof(s->hb_key), "%s:producer:heartbeat", s->cfg.prefix);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;  /* no SA_RESTART: sleeps return at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);   /* a dead socket is an error, not a kill */

	if (!s->cfg.dry_run) {
		s->pub = connect_redis(&s->cfg, err, sizeof(err));
		if (!s->pub) {
			fprintf(stderr, "tickpush-sim: cannot connect to Redis at %s: %s\n",
				where(&s->cfg, tmp, sizeof(tmp)), err);
			rc = 1;
			goto out;
		}
		s->pub_backoff = BACKOFF_MIN;
	}
	if (!s->cfg.quiet)
		fprintf(stderr, "tickpush-sim: %s, prefix %s, %g events/s, seed %llu, "
			"%zu symbols%s%s\n",
			s->cfg.dry_run ? "dry run" : where(&s->cfg, tmp, sizeof(tmp)),
			s->cfg.prefix, s->cfg.rate, s->cfg.seed, s->gen.nsymbols,
			s->cfg.shapes ? ", all shapes" : "",
			s->cfg.malformed > 0 ? ", with malformed events" : "");
	run(s);
	rc = 0;
out:
	if (s) {
		if (s->pub)
			redisFree(s->pub);
		if (s->sub)
			redisFree(s->sub);
		sim_state_cleanup(&s->gen);
		tp_buf_cleanup(&s->buf);
	}
	sim_symbols_free(file_syms);
	tp_free(s);
	fflush(stdout);
	return rc;
}
