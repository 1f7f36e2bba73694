/*
 * test_metrics.c - counters, rejection labels, route histograms and
 * quantiles, checked by parsing the rendered Prometheus text: every line is
 * a comment or a well-formed sample, HELP/TYPE precede each family once,
 * counters end in _total, histogram buckets are cumulative and
 * le="+Inf" equals _count.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/buf.h"
#include "tickpush/err.h"
#include "tickpush/metrics.h"

/* One parsed sample: "name{labels}" as written, and its value. */
struct sample {
	char key[160];
	double value;
};

struct parsed {
	struct sample s[1024];
	size_t n;
	char *text; /* the rendered text, malloc'ed */
};

static int setup(void **state)
{
	tp_metrics_reset();
	return tp_test_setup(state);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, tp_test_check_leaks)

static bool name_char(char c, bool first)
{
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9');
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static bool valid_name(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i], i == 0))
			return false;
	return true;
}

static const struct tp_process_stats proc = {12.5, 1700000000.25, 4096000, 8192000,
					     17, 1024, 3};

/* Renders, then parses and checks the grammar of every line. */
static void render(struct parsed *p)
{
	struct tp_buf b;
	char *line, *save = NULL;
	char typed[256][96];
	size_t ntyped = 0;

	tp_buf_init(&b, 0);
	tp_metrics_render_prometheus(&b, &proc);
	assert_false(b.oom);
	assert_true(b.len > 0);
	assert_int_equal(tp_buf_data(&b)[b.len - 1], '\n');
	p->text = strdup(tp_buf_cstr(&b));
	tp_buf_cleanup(&b);
	assert_non_null(p->text);
	p->n = 0;

	{
		char *copy = strdup(p->text);

		assert_non_null(copy);
		for (line = strtok_r(copy, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char *sp, *end;
			size_t nlen;

			if (!strncmp(line, "# HELP ", 7))
				continue;
			if (!strncmp(line, "# TYPE ", 7)) {
				char name[96], type[32];

				assert_int_equal(sscanf(line + 7, "%95s %31s", name,
							type),
						 2);
				assert_true(!strcmp(type, "counter") ||
					    !strcmp(type, "gauge") ||
					    !strcmp(type, "histogram"));
				for (size_t i = 0; i < ntyped; i++)
					assert_string_not_equal(typed[i], name);
				assert_true(ntyped < 256);
				strcpy(typed[ntyped++], name);
				continue;
			}
			assert_true(line[0] != '#');
			/* name[{labels}] value */
			sp = strrchr(line, ' ');
			assert_non_null(sp);
			nlen = strcspn(line, "{ ");
			assert_true(valid_name(line, nlen));
			/* Prometheus naming: our prefix (or the standard process_
			 * families), never a doubled _total. */
			assert_true(!strncmp(line, "tickpush_", 9) ||
				    !strncmp(line, "process_", 8));
			assert_null(strstr(line, "_total_total"));
			if (line[nlen] == '{')
				assert_int_equal(sp[-1], '}');
			/* The sample belongs to the last TYPE'd family. */
			assert_true(ntyped > 0);
			assert_true(!strncmp(line, typed[ntyped - 1],
					     strlen(typed[ntyped - 1])));
			assert_true(p->n < TP_ARRAY_SIZE(p->s));
			assert_true((size_t)(sp - line) < sizeof(p->s[0].key));
			memcpy(p->s[p->n].key, line, (size_t)(sp - line));
			p->s[p->n].key[sp - line] = '\0';
			p->s[p->n].value = strtod(sp + 1, &end);
			assert_int_equal(*end, '\0');
			p->n++;
		}
		free(copy);
	}
}

static double value(const struct parsed *p, const char *key)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->s[i].key, key))
			return p->s[i].value;
	fail_msg("sample %s not rendered", key);
	return -1;
}

static bool has_sample(const struct parsed *p, const char *key)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->s[i].key, key))
			return true;
	return false;
}

static void test_counters_and_gauges(void **state)
{
	static const struct {
		const char *name, *type, *help;
	} metrics[] = {
#define M(n, t, h) {#n, #t, h},
		TP_METRICS(M)
#undef M
	};
	struct parsed p;
	size_t own = 0;

	(void)state;
	TP_METRIC_INC(events_received);
	TP_METRIC_INC(events_received);
	TP_METRIC_ADD(events_processed, 40);
	TP_METRIC_SET(patterns_cached, 7);
	TP_METRIC_SET(http_connections, 3);
	TP_METRIC_SET(http_connections, 2);
	TP_METRIC_INC(ws_connections_total);
	render(&p);
	assert_true(value(&p, "tickpush_events_received_total") == 2);
	assert_true(value(&p, "tickpush_events_processed_total") == 40);
	assert_true(value(&p, "tickpush_patterns_cached") == 7);
	assert_true(value(&p, "tickpush_http_connections") == 2);
	assert_true(value(&p, "tickpush_scans_total") == 0);
	/* A counter named ..._total gets no second suffix. */
	assert_true(value(&p, "tickpush_ws_connections_total") == 1);
	/* Every metric of the list is rendered under its own name with its
	 * HELP and TYPE, or is a member of a labelled family (below). */
	for (size_t i = 0; i < TP_ARRAY_SIZE(metrics); i++) {
		bool counter = !strcmp(metrics[i].type, "counter");
		size_t len = strlen(metrics[i].name);
		char name[96], line[256];

		snprintf(name, sizeof(name), "tickpush_%s%s", metrics[i].name,
			 counter && (len < 6 || strcmp(metrics[i].name + len - 6, "_total"))
				 ? "_total" : "");
		if (!has_sample(&p, name))
			continue;
		own++;
		assert_true(value(&p, name) == (double)tp_metrics_values[i]);
		snprintf(line, sizeof(line), "# HELP %s %s\n", name, metrics[i].help);
		assert_non_null(strstr(p.text, line));
		snprintf(line, sizeof(line), "# TYPE %s %s\n", name, metrics[i].type);
		assert_non_null(strstr(p.text, line));
	}
	assert_true(own >= TP_ARRAY_SIZE(metrics) - 16);
	/* Gauges have no _total, counters only the suffixed name. */
	assert_null(strstr(p.text, "tickpush_patterns_cached_total"));
	assert_null(strstr(p.text, "\ntickpush_events_received "));
	free(p.text);

	tp_metrics_reset();
	render(&p);
	assert_true(value(&p, "tickpush_events_received_total") == 0);
	assert_true(value(&p, "tickpush_patterns_cached") == 0);
	free(p.text);
}

/* Codes and reasons are labels of one family, not names of their own. */
static void test_labelled_families(void **state)
{
	struct parsed p;

	(void)state;
	TP_METRIC_INC(ws_slow_closed);
	TP_METRIC_ADD(ws_rate_closed, 2);
	TP_METRIC_SET(redis_cache_connected, 1);
	TP_METRIC_INC(redis_disconnects);
	TP_METRIC_ADD(patterns_evicted, 4);
	TP_METRIC_INC(login_limited_account);
	tp_metrics_http_response(200);
	tp_metrics_http_response(200);
	tp_metrics_http_response(404);
	tp_metrics_http_response(99);  /* not a status: counted as a request only */
	assert_int_equal(TP_METRIC_GET(http_requests), 4);
	assert_int_equal(tp_metrics_http_responses(200), 2);
	assert_int_equal(tp_metrics_http_responses(700), 0);
	tp_metrics_set_build_info("1.2.3", "4.1.6 \"x\"");
	render(&p);
	assert_true(value(&p, "tickpush_ws_closed_total{code=\"4008\",reason=\"slow_consumer\"}") == 1);
	assert_true(value(&p, "tickpush_ws_closed_total{code=\"4029\",reason=\"rate_limited\"}") == 2);
	assert_true(value(&p, "tickpush_redis_connected{conn=\"pubsub\"}") == 0);
	assert_true(value(&p, "tickpush_redis_connected{conn=\"cache\"}") == 1);
	assert_true(value(&p, "tickpush_redis_disconnects_total{conn=\"pubsub\"}") == 1);
	assert_true(value(&p, "tickpush_redis_ping_timeouts_total{conn=\"cache\"}") == 0);
	assert_true(value(&p, "tickpush_patterns_removed_total{reason=\"evicted\"}") == 4);
	assert_true(value(&p, "tickpush_patterns_removed_total{reason=\"expired\"}") == 0);
	assert_true(value(&p, "tickpush_login_limited_total{by=\"account\"}") == 1);
	assert_true(value(&p, "tickpush_login_limited_total{by=\"address\"}") == 0);
	assert_true(value(&p, "tickpush_http_requests_total") == 4);
	assert_true(value(&p, "tickpush_http_responses_total{code=\"200\"}") == 2);
	assert_true(value(&p, "tickpush_http_responses_total{code=\"404\"}") == 1);
	assert_false(has_sample(&p, "tickpush_http_responses_total{code=\"500\"}"));
	assert_true(value(&p, "tickpush_build_info{version=\"1.2.3\",lws=\"4.1.6 \\\"x\\\"\"}") == 1);
	/* One HELP per family. */
	assert_non_null(strstr(p.text, "# HELP tickpush_ws_closed_total "));
	assert_null(strstr(strstr(p.text, "# HELP tickpush_ws_closed_total ") + 1,
			   "# HELP tickpush_ws_closed_total "));
	assert_null(strstr(p.text, "ws_slow_closed"));
	assert_null(strstr(p.text, "redis_cache_connected"));
	/* The process families, as given. */
	assert_true(value(&p, "process_cpu_seconds_total") == 12.5);
	assert_true(value(&p, "process_start_time_seconds") == 1700000000.25);
	assert_true(value(&p, "process_resident_memory_bytes") == 4096000);
	assert_true(value(&p, "process_open_fds") == 17);
	assert_true(value(&p, "process_max_fds") == 1024);
	free(p.text);
}

static void test_procstat_parse(void **state)
{
	/* A comm with blanks and parentheses, as the kernel writes it. */
	static const char stat[] =
		"4242 (tick push) (x)) S 1 4242 4242 0 -1 4194560 1500 0 3 0 250 50 0 0 "
		"20 0 5 0 12345 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 4096 "
		"17920 0 0 0 17 1 0 0 0 0 0\n";
	struct tp_process_stats ps;

	(void)state;
	assert_int_equal(tp_procstat_parse(stat, 100, 4096, 1700000000, &ps), TP_OK);
	assert_true(ps.cpu_seconds == 3.0);
	assert_true(ps.start_time == 1700000000 + 123.45);
	assert_true(ps.vm_bytes == 104857600);
	assert_true(ps.rss_bytes == 2560.0 * 4096);
	assert_true(ps.threads == 5);
	assert_int_equal(tp_procstat_parse("garbage", 100, 4096, 0, &ps), TP_ERR_INVAL);
	assert_int_equal(tp_procstat_parse("1 (x) S 1 2", 100, 4096, 0, &ps), TP_ERR_INVAL);
	assert_int_equal(tp_procstat_parse(stat, 0, 4096, 0, &ps), TP_ERR_INVAL);
}

static void test_rejects(void **state)
{
	struct parsed p;
	char key[160];

	(void)state;
	tp_metrics_reject(TP_CH_PATTERNS, TP_REJECT_BAD_JSON);
	tp_metrics_reject(TP_CH_PATTERNS, TP_REJECT_BAD_JSON);
	tp_metrics_reject(TP_CH_HEALTH, TP_REJECT_DIAGNOSTIC);
	/* Out-of-range enums still count in the total, nowhere else. */
	tp_metrics_reject(TP_CH__COUNT, TP_REJECT_BAD_JSON);
	tp_metrics_reject(TP_CH_PATTERNS, TP_REJECT__COUNT);
	assert_int_equal(tp_metrics_rejected(TP_CH_PATTERNS, TP_REJECT_BAD_JSON), 2);
	assert_int_equal(tp_metrics_rejected(TP_CH_HEALTH, TP_REJECT_DIAGNOSTIC), 1);
	assert_int_equal(tp_metrics_rejected(TP_CH_HEALTH, TP_REJECT_BAD_JSON), 0);
	assert_int_equal(tp_metrics_rejected(TP_CH__COUNT, TP_REJECT_BAD_JSON), 0);
	assert_int_equal(TP_METRIC_GET(events_rejected), 5);

	render(&p);
	/* The labelled family is the total: no unlabelled sum beside it. */
	assert_null(strstr(p.text, "\ntickpush_events_rejected_total "));
	assert_true(value(&p, "tickpush_events_rejected_total{channel=\"patterns\","
			      "reason=\"bad_json\"}") == 2);
	assert_true(value(&p, "tickpush_events_rejected_total{channel=\"health\","
			      "reason=\"diagnostic\"}") == 1);
	assert_non_null(strstr(p.text, "# TYPE tickpush_events_rejected_total "
				       "counter\n"));
	/* Every (channel, reason) pair is rendered, zeros included; the
	 * pseudo-reason "none" is not. */
	for (int ch = 0; ch < TP_CH__COUNT; ch++) {
		for (int why = 1; why < TP_REJECT__COUNT; why++) {
			snprintf(key, sizeof(key),
				 "tickpush_events_rejected_total{channel=\"%s\","
				 "reason=\"%s\"}",
				 tp_channel_name((enum tp_channel)ch),
				 tp_reject_name((enum tp_reject)why));
			assert_true(value(&p, key) ==
				    (double)tp_metrics_rejected(
					    (enum tp_channel)ch,
					    (enum tp_reject)why));
		}
	}
	assert_null(strstr(p.text, "reason=\"none\""));
	free(p.text);
}

static void test_ws_protocol_errors(void **state)
{
	struct parsed p;

	(void)state;
	tp_metrics_ws_protocol_error(TP_WSRX_E_UNMASKED);
	tp_metrics_ws_protocol_error(TP_WSRX_E_UNMASKED);
	tp_metrics_ws_protocol_error(TP_WSRX_E_UTF8);
	tp_metrics_ws_protocol_error(TP_WSRX_E__COUNT); /* ignored */
	assert_int_equal(tp_metrics_ws_protocol_errors(TP_WSRX_E_UNMASKED), 2);
	assert_int_equal(tp_metrics_ws_protocol_errors(TP_WSRX_E__COUNT), 0);
	render(&p);
	assert_true(value(&p, "tickpush_ws_protocol_errors_total{reason=\"unmasked\"}") == 2);
	assert_true(value(&p, "tickpush_ws_protocol_errors_total{reason=\"invalid_utf8\"}") == 1);
	assert_non_null(strstr(p.text, "# TYPE tickpush_ws_protocol_errors_total counter\n"));
	/* Only reasons seen are rendered. */
	assert_null(strstr(p.text, "reason=\"reserved_bits\""));
	free(p.text);
}

static void test_histogram(void **state)
{
	static const double obs[] = {0.00005, 0.0001, 0.0003, 0.002, 0.002,
				     0.07,    1.0,    3.0,    -1.0};
	struct parsed p;
	double sum = 0, prev = -1, le_last = 0;
	size_t buckets = 0;

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(obs); i++) {
		tp_metrics_observe_route(TP_ROUTE_scan, obs[i]);
		sum += obs[i] < 0 ? 0 : obs[i];
	}
	/* Ignored: would poison _sum. */
	tp_metrics_observe_route(TP_ROUTE_scan, NAN);
	tp_metrics_observe_route(TP_ROUTE_scan, INFINITY);
	tp_metrics_observe_route(TP_ROUTE__COUNT, 0.1);
	tp_metrics_observe_route(TP_ROUTE_health, 0.01);
	assert_int_equal(tp_metrics_route_count(TP_ROUTE_scan), TP_ARRAY_SIZE(obs));
	assert_int_equal(tp_metrics_route_count(TP_ROUTE_health), 1);
	assert_int_equal(tp_metrics_route_count(TP_ROUTE_stats), 0);

	render(&p);
	assert_non_null(strstr(p.text, "# TYPE tickpush_http_request_duration_seconds "
				       "histogram\n"));
	/* Cumulative, non-decreasing, increasing le, ending in +Inf == count. */
	for (size_t i = 0; i < p.n; i++) {
		const char *k = p.s[i].key, *le;
		static const char pre[] =
			"tickpush_http_request_duration_seconds_bucket{route=\"scan\",le=\"";

		if (strncmp(k, pre, sizeof(pre) - 1))
			continue;
		le = k + sizeof(pre) - 1;
		assert_true(p.s[i].value >= prev);
		prev = p.s[i].value;
		buckets++;
		if (!strncmp(le, "+Inf\"", 5)) {
			assert_true(p.s[i].value ==
				    value(&p, "tickpush_http_request_duration_seconds_count"
					      "{route=\"scan\"}"));
			continue;
		}
		{
			double bound = strtod(le, NULL);
			double want = 0;

			assert_true(bound > le_last);
			le_last = bound;
			for (size_t j = 0; j < TP_ARRAY_SIZE(obs); j++)
				want += (obs[j] < 0 ? 0 : obs[j]) <= bound;
			assert_true(p.s[i].value == want);
		}
	}
	assert_true(buckets >= 2);
	assert_true(prev == TP_ARRAY_SIZE(obs));
	assert_true(fabs(value(&p, "tickpush_http_request_duration_seconds_sum"
				   "{route=\"scan\"}") - sum) < 1e-12);
	assert_true(value(&p, "tickpush_http_request_duration_seconds_bucket"
			      "{route=\"scan\",le=\"0.0001\"}") == 3);
	assert_true(value(&p, "tickpush_http_request_duration_seconds_bucket"
			      "{route=\"scan\",le=\"2.5\"}") == 8);
	assert_true(value(&p, "tickpush_http_request_duration_seconds_bucket"
			      "{route=\"health\",le=\"0.01\"}") == 1);
	assert_true(value(&p, "tickpush_http_request_duration_seconds_bucket"
			      "{route=\"health\",le=\"0.005\"}") == 0);
	/* Every route is rendered, observed or not. */
	for (int r = 0; r < TP_ROUTE__COUNT; r++) {
		char key[160];

		snprintf(key, sizeof(key),
			 "tickpush_http_request_duration_seconds_count{route=\"%s\"}",
			 tp_route_name((enum tp_route)r));
		assert_true(value(&p, key) ==
			    (double)tp_metrics_route_count((enum tp_route)r));
	}
	free(p.text);
}

/* The loop's histogram has no label: its _sum and _count carry no braces,
 * and the strict parser above accepts the page. */
static void test_loop_turn_histogram(void **state)
{
	struct parsed p;

	(void)state;
	tp_metrics_observe_loop_turn(0.0002);
	tp_metrics_observe_loop_turn(0.03);
	tp_metrics_observe_loop_turn(4.0);
	tp_metrics_observe_loop_turn(NAN); /* ignored */
	assert_int_equal(tp_metrics_loop_turns(), 3);
	render(&p);
	assert_non_null(strstr(p.text, "# TYPE tickpush_loop_busy_seconds histogram\n"));
	assert_true(value(&p, "tickpush_loop_busy_seconds_bucket{le=\"0.00025\"}") == 1);
	assert_true(value(&p, "tickpush_loop_busy_seconds_bucket{le=\"0.05\"}") == 2);
	assert_true(value(&p, "tickpush_loop_busy_seconds_bucket{le=\"2.5\"}") == 2);
	assert_true(value(&p, "tickpush_loop_busy_seconds_bucket{le=\"+Inf\"}") == 3);
	assert_true(value(&p, "tickpush_loop_busy_seconds_count") == 3);
	assert_true(fabs(value(&p, "tickpush_loop_busy_seconds_sum") - 4.0302) < 1e-12);
	free(p.text);
}

static void test_quantiles(void **state)
{
	(void)state;
	assert_true(tp_metrics_route_quantile(TP_ROUTE_stats, 0.5) == 0);
	/* 90 fast (<= 1 ms) and 10 slow (<= 50 ms) requests. */
	for (int i = 0; i < 90; i++)
		tp_metrics_observe_route(TP_ROUTE_stats, 0.0008);
	for (int i = 0; i < 10; i++)
		tp_metrics_observe_route(TP_ROUTE_stats, 0.04);
	assert_true(tp_metrics_route_quantile(TP_ROUTE_stats, 0.5) == 0.001);
	assert_true(tp_metrics_route_quantile(TP_ROUTE_stats, 0.9) == 0.001);
	assert_true(tp_metrics_route_quantile(TP_ROUTE_stats, 0.91) == 0.05);
	assert_true(tp_metrics_route_quantile(TP_ROUTE_stats, 0.99) == 0.05);
	assert_true(tp_metrics_route_quantile(TP_ROUTE_stats, 0.0001) == 0.001);
	/* Beyond the last finite bound: the highest finite bound. */
	tp_metrics_observe_route(TP_ROUTE_summary, 10.0);
	assert_true(tp_metrics_route_quantile(TP_ROUTE_summary, 0.5) == 2.5);
	/* Exactly on a bound belongs to that bucket (le is inclusive). */
	tp_metrics_observe_route(TP_ROUTE_metrics, 0.25);
	assert_true(tp_metrics_route_quantile(TP_ROUTE_metrics, 0.99) == 0.25);
	assert_true(tp_metrics_route_quantile(TP_ROUTE__COUNT, 0.5) == 0);
	tp_metrics_reset();
	assert_true(tp_metrics_route_quantile(TP_ROUTE_stats, 0.5) == 0);
	assert_int_equal(tp_metrics_route_count(TP_ROUTE_stats), 0);
}

static void test_route_names(void **state)
{
	(void)state;
	assert_string_equal(tp_route_name(TP_ROUTE_scan), "scan");
	assert_string_equal(tp_route_name(TP_ROUTE_discovery_performance),
			    "discovery_performance");
	assert_string_equal(tp_route_name(TP_ROUTE__COUNT), "other");
}

static void test_render_oom(void **state)
{
	struct tp_buf b;

	(void)state;
	TP_METRIC_INC(scans);
	/* A failed allocation leaves the buffer in its sticky error state. */
	tp_buf_init(&b, 0);
	tp_alloc_fail_at(1);
	tp_metrics_render_prometheus(&b, NULL);
	tp_alloc_fail_at(0);
	assert_true(b.oom);
	tp_buf_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_counters_and_gauges),
		TEST(test_labelled_families),
		TEST(test_procstat_parse),
		TEST(test_rejects),
		TEST(test_ws_protocol_errors),
		TEST(test_histogram),
		TEST(test_loop_turn_histogram),
		TEST(test_quantiles),
		TEST(test_route_names),
		TEST(test_render_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
