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
 * Rendering choices: counters carry the _total suffix (in the HELP and
 * TYPE lines too, as text format 0.0.4 names the sample); the rejection
 * counter is rendered for every (channel, reason) pair, zeros included, so
 * rate() sees each series from the start; the route label is the route's
 * short name (tp_route_name), every route is always rendered.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickpush/buf.h"
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
static uint64_t rejects[TP_CH__COUNT][TP_REJECT__COUNT];
static uint64_t ws_protocol[TP_WSRX_E__COUNT];

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

void tp_metrics_observe_route(enum tp_route r, double seconds)
{
	struct histogram *h;
	size_t i = 0;

	/* A non-finite latency is a caller bug; it would poison _sum. */
	if ((unsigned)r >= TP_ROUTE__COUNT || !isfinite(seconds))
		return;
	if (seconds < 0) /* clock stepped back */
		seconds = 0;
	h = &routes[r];
	while (i < N_BOUNDS && seconds > bounds[i])
		i++;
	h->buckets[i]++;
	h->count++;
	h->sum += seconds;
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

static void render_values(struct tp_buf *out)
{
	char name[96];

	for (size_t i = 0; i < TP_M__COUNT; i++) {
		bool counter = !strcmp(metric_info[i].type, "counter");

		snprintf(name, sizeof(name), "tp_%s%s", metric_info[i].name,
			 counter ? "_total" : "");
		put_header(out, name, metric_info[i].help, metric_info[i].type);
		tp_buf_printf(out, "%s %llu\n", name,
			      (unsigned long long)tp_metrics_values[i]);
	}
}

static void render_rejects(struct tp_buf *out)
{
	static const char name[] = "tp_events_rejected_by_reason_total";

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
	static const char name[] = "tp_ws_protocol_errors_total";

	put_header(out, name, "WebSocket sessions closed for a protocol error, by reason",
		   "counter");
	for (unsigned why = 1; why < TP_WSRX_E__COUNT; why++)
		if (ws_protocol[why])
			tp_buf_printf(out, "%s{reason=\"%s\"} %llu\n", name,
				      tp_wsrx_error_name((enum tp_wsrx_error)why),
				      (unsigned long long)ws_protocol[why]);
}

static void render_histograms(struct tp_buf *out)
{
	static const char name[] = "tp_http_request_duration_seconds";

	put_header(out, name, "HTTP request latency by route, seconds",
		   "histogram");
	for (unsigned r = 0; r < TP_ROUTE__COUNT; r++) {
		const struct histogram *h = &routes[r];
		uint64_t cum = 0;

		for (size_t i = 0; i <= N_BOUNDS; i++) {
			cum += h->buckets[i];
			tp_buf_printf(out, "%s_bucket{route=\"%s\",le=\"", name,
				      route_names[r]);
			if (i < N_BOUNDS)
				put_double(out, bounds[i]);
			else
				tp_buf_puts(out, "+Inf");
			tp_buf_printf(out, "\"} %llu\n", (unsigned long long)cum);
		}
		tp_buf_printf(out, "%s_sum{route=\"%s\"} ", name, route_names[r]);
		put_double(out, h->sum);
		tp_buf_printf(out, "\n%s_count{route=\"%s\"} %llu\n", name,
			      route_names[r], (unsigned long long)h->count);
	}
}

void tp_metrics_render_prometheus(struct tp_buf *out)
{
	render_values(out);
	render_rejects(out);
	render_ws_protocol(out);
	render_histograms(out);
}

void tp_metrics_reset(void)
{
	memset(tp_metrics_values, 0, sizeof(tp_metrics_values));
	memset(rejects, 0, sizeof(rejects));
	memset(ws_protocol, 0, sizeof(ws_protocol));
	memset(routes, 0, sizeof(routes));
}
