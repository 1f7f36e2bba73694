/*
 * bench_scan.c - CPU time of tp_patterns_scan for the uncached scan mix of
 * tools/bench/scan.sh (a tool that prints numbers; never a test: timings
 * depend on the machine).
 *
 * Fills a store with N patterns (default 10,000) shaped like the
 * simulator's: 500 symbols, 7 types, confidence 0.50-0.99 in steps of
 * 0.01, rs and relative volume in steps of 0.1, detected_at shared by 20
 * records each (events stamped to the second), so sort keys and
 * detected_at tie often. Then runs Q queries (default 3,000) of the mix:
 * page 1-20, a random sort_by and confidence_min 0.00-0.99, and prints the
 * process CPU time per query (CLOCK_PROCESS_CPUTIME_ID: preemption by
 * other work on a busy machine does not count) and the mean matches.
 *
 * Usage: bench-scan [patterns [queries [seed]]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tickpush/patterns.h"
#include "tickpush/query.h"

static double cpu_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const char *const types[] = { "Bull_Flag", "Doji", "Hammer",
		"Weekly_Breakout", "Gap_Fill", "Engulfing", "Support_Test" };
	int npat = argc > 1 ? atoi(argv[1]) : 10000;
	int nq = argc > 2 ? atoi(argv[2]) : 3000;
	unsigned seed = argc > 3 ? (unsigned)atoi(argv[3]) : 1;
	struct tp_patterns_opts o = { .max_patterns = (size_t)npat * 2 };
	struct tp_patterns *ps = tp_patterns_create(&o);
	double now = 1.8e9, t0;
	size_t total = 0;

	if (!ps || npat < 1 || nq < 1) {
		fprintf(stderr, "usage: bench-scan [patterns [queries [seed]]]\n");
		return 2;
	}
	srand(seed);
	for (int i = 0; i < npat; i++) {
		struct tp_pattern p;

		memset(&p, 0, sizeof(p));
		snprintf(p.symbol, sizeof(p.symbol), "S%03d", rand() % 500);
		snprintf(p.pattern_type, sizeof(p.pattern_type), "%s", types[rand() % 7]);
		p.detected_at = now - i / 20;
		snprintf(p.id, sizeof(p.id), "%s:%s:%lld", p.symbol, p.pattern_type,
			 (long long)p.detected_at);
		p.confidence = 0.5 + (rand() % 50) / 100.0;
		p.rs = (rand() % 30) / 10.0;
		p.rvol = (rand() % 40) / 10.0;
		p.rsi = rand() % 100;
		p.expires_at = now + 3600;
		p.current_price = 100;
		tp_patterns_upsert(ps, &p, now);
	}
	t0 = cpu_now();
	for (int i = 0; i < nq; i++) {
		struct tp_scan_query q;
		struct tp_scan_result r;

		tp_scan_query_init(&q);
		q.page = 1 + (unsigned)(rand() % 20);
		q.sort_by = (enum tp_sort_key)(rand() % 5);
		q.filter.confidence_min = (rand() % 100) / 100.0;
		if (tp_patterns_scan(ps, &q, now + 1, &r)) {
			fprintf(stderr, "bench-scan: out of memory\n");
			return 1;
		}
		total += r.total;
		tp_scan_result_cleanup(&r);
		tp_scan_query_cleanup(&q);
	}
	printf("patterns %zu, queries %d: %.1f us CPU per scan, %zu matches on average\n",
	       tp_patterns_count(ps), nq, (cpu_now() - t0) / nq * 1e6, total / (size_t)nq);
	tp_patterns_destroy(ps);
	return 0;
}
