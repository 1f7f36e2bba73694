/*
 * metrics.c - process metrics and their Prometheus text exposition (see
 * metrics.h).
 *
 * Responsibilities: the global counter/gauge array, the per-(channel,
 * reason) rejection counters and a fixed-bucket latency histogram per HTTP
 * route, plus rendering all of them as Prometheus text format 0.0.4.
 *
 * Invariants: everything is static storage touched only from the loop
 * thread, so there are no locks and nothing is allocated here except the
 * caller's output buffer. Histogram buckets are stored per bucket (not
 * cumulative); rendering accumulates, so every rendered series is
 * cumulative and le="+Inf" equals _count.
 *
 * Names (Prometheus conventions): every family is tickpush_<name>, a
 * counter ends in exactly one _total (a name that already ends so gets no
 * second one), units are suffixes (_seconds, _bytes), and counters that
 * differ only by a code or a reason are one family with a label: the
 * `grouped` table maps such members of the X list to their family and
 * label, so call sites keep their plain TP_METRIC_INC. HELP and TYPE come
 * once per family, before its first sample (with the _total, as text
 * format 0.0.4 names the sample). The process_* families are the standard
 * ones of Prometheus client libraries, unprefixed.
 *
 * The rejection counter is rendered for every (channel, reason) pair,
 * zeros included, so rate() sees each series from the start; HTTP
 * responses for every status code seen; the route label is the route's
 * short name (tp_route_name), every route is always rendered.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickpush/buf.h"
#include "tickpush/err.h"
#include "tickpush/metrics.h"

uint64_t tp_metrics_values[TP_M__COUNT];

/* Upper bounds in seconds; a final implicit +Inf bucket follows. */
static const double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
				0.005,  0.01,    0.025,  0.05,  0.1,
				0.25,   0.5,     1,      2.5};
#define N_BOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct histogram {
	uint64_t buckets[N_BOUNDS + 1]; /* per bucket; last = +Inf */
	uint64_t count;
	double sum;
};

static struct histogram routes[TP_ROUTE__COUNT];
static struct histogram loop_turns; /* busy time per event-loop turn */
static uint64_t rejects[TP_CH__COUNT][TP_REJECT__COUNT];
static uint64_t ws_protocol[TP_WSRX_E__COUNT];
static uint64_t http_status[600];
static char build_version[64], build_lws[64];

/* Members of the X list exposed as one series of a labelled family. */
static const struct {
	enum tp_metric m;
	const char *family, *labels, *help; /* help: the family's */
} grouped[] = {
	{TP_M_patterns_expired, "patterns_removed", "reason=\"expired\"",
	 "Patterns removed from the store, by reason"},
	{TP_M_patterns_withdrawn, "patterns_removed", "reason=\"withdrawn\"", NULL},
	{TP_M_patterns_evicted, "patterns_removed", "reason=\"evicted\"", NULL},
	{TP_M_redis_connected, "redis_connected", "conn=\"pubsub\"",
	 "1 while the Redis connection is up (pubsub: subscribed)"},
	{TP_M_redis_cache_connected, "redis_connected", "conn=\"cache\"", NULL},
	{TP_M_redis_disconnects, "redis_disconnects", "conn=\"pubsub\"",
	 "Redis connections lost"},
	{TP_M_redis_cache_disconnects, "redis_disconnects", "conn=\"cache\"", NULL},
	{TP_M_redis_ping_timeouts, "redis_ping_timeouts", "conn=\"pubsub\"",
	 "Redis connections declared down: silent for redis_ping_timeout"},
	{TP_M_redis_cache_ping_timeouts, "redis_ping_timeouts", "conn=\"cache\"", NULL},
	{TP_M_ws_slow_closed, "ws_closed", "code=\"4008\",reason=\"slow_consumer\"",
	 "Sessions closed by the server, by close code"},
	{TP_M_ws_rate_closed, "ws_closed", "code=\"4029\",reason=\"rate_limited\"", NULL},
	{TP_M_login_limited_address, "login_limited", "by=\"address\"",
	 "Logins refused by the per-address or the per-account limit"},
	{TP_M_login_limited_account, "login_limited", "by=\"account\"", NULL},
};

static const struct {
	const char *name, *type, *help;
} metric_info[TP_M__COUNT] = {
#define TP_METRIC_INFO(n, t, h) {#n, #t, h},
	TP_METRICS(TP_METRIC_INFO)
#undef TP_METRIC_INFO
};

static const char *const route_names[TP_ROUTE__COUNT] = {
#define TP_ROUTE_NAME(n, path) #n,
	TP_ROUTES(TP_ROUTE_NAME)
#undef TP_ROUTE_NAME
};

const char *tp_route_name(enum tp_route r)
{
	return (unsigned)r < TP_ROUTE__COUNT ? route_names[r] : "other";
}

void tp_metrics_reject(enum tp_channel ch, enum tp_reject why)
{
	TP_METRIC_INC(events_rejected);
	if ((unsigned)ch < TP_CH__COUNT && (unsigned)why < TP_REJECT__COUNT)
		rejects[ch][why]++;
}

uint64_t tp_metrics_rejected(enum tp_channel ch, enum tp_reject why)
{
	if ((unsigned)ch < TP_CH__COUNT && (unsigned)why < TP_REJECT__COUNT)
		return rejects[ch][why];
	return 0;
}

void tp_metrics_ws_protocol_error(enum tp_wsrx_error why)
{
	if ((unsigned)why < TP_WSRX_E__COUNT)
		ws_protocol[why]++;
}

uint64_t tp_metrics_ws_protocol_errors(enum tp_wsrx_error why)
{
	return (unsigned)why < TP_WSRX_E__COUNT ? ws_protocol[why] : 0;
}

static void observe(struct histogram *h, double seconds)
{
	size_t i = 0;

	/* A non-finite value is a caller bug; it would poison _sum. */
	if (!isfinite(seconds))
		return;
	if (seconds < 0) /* clock stepped back */
		seconds = 0;
	while (i < N_BOUNDS && seconds > bounds[i])
		i++;
	h->buckets[i]++;
	h->count++;
	h->sum += seconds;
}

void tp_metrics_observe_route(enum tp_route r, double seconds)
{
	if ((unsigned)r < TP_ROUTE__COUNT)
		observe(&routes[r], seconds);
}

void tp_metrics_observe_loop_turn(double busy_seconds)
{
	observe(&loop_turns, busy_seconds);
}

uint64_t tp_metrics_loop_turns(void)
{
	return loop_turns.count;
}

uint64_t tp_metrics_route_count(enum tp_route r)
{
	return (unsigned)r < TP_ROUTE__COUNT ? routes[r].count : 0;
}

double tp_metrics_route_quantile(enum tp_route r, double q)
{
	const struct histogram *h;
	uint64_t rank, seen = 0;

	if ((unsigned)r >= TP_ROUTE__COUNT || !routes[r].count || isnan(q))
		return 0;
	h = &routes[r];
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	/* The rank-th smallest observation, 1-based. */
	rank = (uint64_t)ceil(q * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (size_t i = 0; i < N_BOUNDS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			return bounds[i];
	}
	/* In the +Inf bucket: like Prometheus's histogram_quantile, answer
	 * the highest finite bound. */
	return bounds[N_BOUNDS - 1];
}

/* HELP text escaping: backslash and newline (label values also escape
 * the double quote). */
static void put_escaped(struct tp_buf *out, const char *s, bool label)
{
	for (; *s; s++) {
		if (*s == '\\')
			tp_buf_puts(out, "\\\\");
		else if (*s == '\n')
			tp_buf_puts(out, "\\n");
		else if (label && *s == '"')
			tp_buf_puts(out, "\\\"");
		else
			tp_buf_putc(out, *s);
	}
}

/* Go-style float: shortest of %.15g / %.17g that reads back exactly. */
static void put_double(struct tp_buf *out, double v)
{
	char tmp[40];

	snprintf(tmp, sizeof(tmp), "%.15g", v);
	if (strtod(tmp, NULL) != v)
		snprintf(tmp, sizeof(tmp), "%.17g", v);
	tp_buf_puts(out, tmp);
}

static void put_header(struct tp_buf *out, const char *name, const char *help,
		       const char *type)
{
	tp_buf_printf(out, "# HELP %s ", name);
	put_escaped(out, help, false);
	tp_buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

/* The exposed name: tickpush_<name>, one _total on a counter. */
static void family_name(char *out, size_t n, const char *name, bool counter)
{
	size_t len = strlen(name);
	bool has_total = len > 6 && !strcmp(name + len - 6, "_total");

	snprintf(out, n, "tickpush_%s%s", name, counter && !has_total ? "_total" : "");
}

static int group_of(size_t m)
{
	for (size_t g = 0; g < TP_ARRAY_SIZE(grouped); g++)
		if ((size_t)grouped[g].m == m)
			return (int)g;
	return -1;
}

/* A labelled family: header, then every member's series. */
static void render_group(struct tp_buf *out, size_t first)
{
	const char *family = grouped[first].family;
	bool counter = !strcmp(metric_info[grouped[first].m].type, "counter");
	char name[96];

	family_name(name, sizeof(name), family, counter);
	put_header(out, name, grouped[first].help, metric_info[grouped[first].m].type);
	for (size_t g = first; g < TP_ARRAY_SIZE(grouped); g++)
		if (!strcmp(grouped[g].family, family))
			tp_buf_printf(out, "%s{%s} %llu\n", name, grouped[g].labels,
				      (unsigned long long)tp_metrics_values[grouped[g].m]);
}

static void render_rejects(struct tp_buf *out)
{
	static const char name[] = "tickpush_events_rejected_total";

	put_header(out, name, "Events dropped as malformed, by channel and reason",
		   "counter");
	for (unsigned ch = 0; ch < TP_CH__COUNT; ch++) {
		/* TP_REJECT_NONE is not a reason. */
		for (unsigned why = 1; why < TP_REJECT__COUNT; why++) {
			tp_buf_printf(out, "%s{channel=\"", name);
			put_escaped(out, tp_channel_name((enum tp_channel)ch), true);
			tp_buf_puts(out, "\",reason=\"");
			put_escaped(out, tp_reject_name((enum tp_reject)why), true);
			tp_buf_printf(out, "\"} %llu\n",
				      (unsigned long long)rejects[ch][why]);
		}
	}
}

/* Only reasons seen (sixteen zero series would cost /metrics 1 KiB). */
static void render_ws_protocol(struct tp_buf *out)
{
	static const char name[] = "tickpush_ws_protocol_errors_total";

	put_header(out, name, "WebSocket sessions closed for a protocol error, by reason",
		   "counter");
	/* `unmasked` always, so the family has a sample before any error. */
	for (unsigned why = 1; why < TP_WSRX_E__COUNT; why++)
		if (ws_protocol[why] || why == TP_WSRX_E_UNMASKED)
			tp_buf_printf(out, "%s{reason=\"%s\"} %llu\n", name,
				      tp_wsrx_error_name((enum tp_wsrx_error)why),
				      (unsigned long long)ws_protocol[why]);
}

static void render_http_responses(struct tp_buf *out)
{
	static const char name[] = "tickpush_http_responses_total";

	put_header(out, name, "HTTP answers by status code", "counter");
	for (int code = 100; code < 600; code++)
		if (http_status[code] || code == 200)
			tp_buf_printf(out, "%s{code=\"%d\"} %llu\n", name, code,
				      (unsigned long long)http_status[code]);
}

static void render_values(struct tp_buf *out)
{
	char name[96];

	for (size_t i = 0; i < TP_M__COUNT; i++) {
		bool counter = !strcmp(metric_info[i].type, "counter");
		int g = group_of(i);

		if (i == TP_M_events_rejected) {
			/* The sum of the labelled family: rendered as that. */
			render_rejects(out);
			continue;
		}
		if (g >= 0) {
			/* A family renders at its first member. */
			int first = g;

			for (int k = 0; k < g; k++)
				if (!strcmp(grouped[k].family, grouped[g].family)) {
					first = k;
					break;
				}
			if (first == g)
				render_group(out, (size_t)g);
			continue;
		}
		family_name(name, sizeof(name), metric_info[i].name, counter);
		put_header(out, name, metric_info[i].help, metric_info[i].type);
		tp_buf_printf(out, "%s %llu\n", name,
			      (unsigned long long)tp_metrics_values[i]);
		if (i == TP_M_http_requests)
			render_http_responses(out);
	}
}

static void render_build_info(struct tp_buf *out)
{
	static const char name[] = "tickpush_build_info";

	put_header(out, name, "Always 1: the version of tickpush and of libwebsockets",
		   "gauge");
	tp_buf_printf(out, "%s{version=\"", name);
	put_escaped(out, build_version[0] ? build_version : "unknown", true);
	tp_buf_puts(out, "\",lws=\"");
	put_escaped(out, build_lws[0] ? build_lws : "unknown", true);
	tp_buf_puts(out, "\"} 1\n");
}

static void put_gauge(struct tp_buf *out, const char *name, const char *type,
		      const char *help, double v)
{
	put_header(out, name, help, type);
	tp_buf_printf(out, "%s ", name);
	put_double(out, v);
	tp_buf_putc(out, '\n');
}

static void render_process(struct tp_buf *out, const struct tp_process_stats *p)
{
	put_gauge(out, "process_cpu_seconds_total", "counter",
		  "Total user and system CPU time spent in seconds", p->cpu_seconds);
	put_gauge(out, "process_resident_memory_bytes", "gauge",
		  "Resident memory size in bytes", p->rss_bytes);
	put_gauge(out, "process_virtual_memory_bytes", "gauge",
		  "Virtual memory size in bytes", p->vm_bytes);
	put_gauge(out, "process_start_time_seconds", "gauge",
		  "Start time of the process since unix epoch in seconds", p->start_time);
	put_gauge(out, "process_threads", "gauge", "Number of OS threads", p->threads);
	if (p->open_fds >= 0)
		put_gauge(out, "process_open_fds", "gauge", "Number of open file descriptors",
			  p->open_fds);
	if (p->max_fds >= 0)
		put_gauge(out, "process_max_fds", "gauge",
			  "Maximum number of open file descriptors", p->max_fds);
}

void tp_metrics_http_response(int status)
{
	TP_METRIC_INC(http_requests);
	if (status >= 100 && status < 600)
		http_status[status]++;
}

uint64_t tp_metrics_http_responses(int status)
{
	return status >= 100 && status < 600 ? http_status[status] : 0;
}

void tp_metrics_set_build_info(const char *version, const char *lws)
{
	snprintf(build_version, sizeof(build_version), "%s", version ? version : "");
	snprintf(build_lws, sizeof(build_lws), "%s", lws ? lws : "");
}

int tp_procstat_parse(const char *stat, long ticks, long page_size,
		      double boot_time, struct tp_process_stats *out)
{
	/* "pid (comm) state ppid ...": comm may hold spaces and parentheses,
	 * so the fields start after the last ')'. */
	const char *p = strrchr(stat, ')');
	long long f[25]; /* fields 4..24, 1-based as proc(5) numbers them */

	if (!p || ticks <= 0 || page_size <= 0)
		return TP_ERR_INVAL;
	p++;
	for (int i = 3; i <= 24; i++) {
		char *end;

		while (*p == ' ')
			p++;
		if (i == 3) { /* the state, one letter */
			if (!*p)
				return TP_ERR_INVAL;
			p++;
			continue;
		}
		f[i] = strtoll(p, &end, 10);
		if (end == p)
			return TP_ERR_INVAL;
		p = end;
	}
	/* utime 14, stime 15, num_threads 20, starttime 22, vsize 23, rss 24 */
	out->cpu_seconds = (double)(f[14] + f[15]) / (double)ticks;
	out->start_time = boot_time + (double)f[22] / (double)ticks;
	out->vm_bytes = (double)f[23];
	out->rss_bytes = (double)f[24] * (double)page_size;
	out->threads = (double)f[20];
	return TP_OK;
}

/* One histogram's series; label: `name="value",` or "" */
static void render_histogram(struct tp_buf *out, const char *name,
			     const char *label, const struct histogram *h)
{
	uint64_t cum = 0;

	for (size_t i = 0; i <= N_BOUNDS; i++) {
		cum += h->buckets[i];
		tp_buf_printf(out, "%s_bucket{%sle=\"", name, label);
		if (i < N_BOUNDS)
			put_double(out, bounds[i]);
		else
			tp_buf_puts(out, "+Inf");
		tp_buf_printf(out, "\"} %llu\n", (unsigned long long)cum);
	}
	/* "route=\"x\"," -> "{route=\"x\"}"; "" -> no braces */
	tp_buf_printf(out, "%s_sum", name);
	if (*label)
		tp_buf_printf(out, "{%.*s}", (int)strlen(label) - 1, label);
	tp_buf_putc(out, ' ');
	put_double(out, h->sum);
	tp_buf_printf(out, "\n%s_count", name);
	if (*label)
		tp_buf_printf(out, "{%.*s}", (int)strlen(label) - 1, label);
	tp_buf_printf(out, " %llu\n", (unsigned long long)h->count);
}

static void render_histograms(struct tp_buf *out)
{
	static const char name[] = "tickpush_http_request_duration_seconds";
	static const char loop[] = "tickpush_loop_busy_seconds";
	char label[64];

	put_header(out, name, "HTTP request latency by route, seconds",
		   "histogram");
	for (unsigned r = 0; r < TP_ROUTE__COUNT; r++) {
		snprintf(label, sizeof(label), "route=\"%s\",", route_names[r]);
		render_histogram(out, name, label, &routes[r]);
	}
	put_header(out, loop, "Busy time of each event-loop turn (its work, "
		   "not its wait for I/O), seconds", "histogram");
	render_histogram(out, loop, "", &loop_turns);
}

void tp_metrics_render_prometheus(struct tp_buf *out,
				  const struct tp_process_stats *proc)
{
	render_build_info(out);
	render_values(out);
	render_ws_protocol(out);
	render_histograms(out);
	if (proc)
		render_process(out, proc);
}

void tp_metrics_reset(void)
{
	memset(tp_metrics_values, 0, sizeof(tp_metrics_values));
	memset(rejects, 0, sizeof(rejects));
	memset(ws_protocol, 0, sizeof(ws_protocol));
	memset(routes, 0, sizeof(routes));
	memset(&loop_turns, 0, sizeof(loop_turns));
	memset(http_status, 0, sizeof(http_status));
}
