/*
 * log.c - key=value lines on stderr: "ts=... level=... msg".
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tickpush/ascii.h"
#include "tickpush/log.h"

enum tp_log_level tp_log_min_level = TP_LOG_INFO;
unsigned tp_log_worker;

static const char *const level_names[] = {"debug", "info", "notice", "warn",
					  "error"};

void tp_log(enum tp_log_level level, const char *fmt, ...)
{
	char ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;

	if (level < tp_log_min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "ts=%s.%03ldZ level=%s ", ts, now.tv_nsec / 1000000L,
		level_names[level]);
	if (tp_log_worker)
		fprintf(stderr, "worker=%u ", tp_log_worker);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int tp_log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (!tp_ascii_casecmp(s, level_names[i]))
			return (int)i;
	if (!tp_ascii_casecmp(s, "warning"))
		return TP_LOG_WARN;
	if (!tp_ascii_casecmp(s, "err"))
		return TP_LOG_ERR;
	return -1;
}

bool tp_log_ratelimit_allow(struct tp_log_ratelimit *rl, double now,
			    double interval, unsigned long *suppressed)
{
	if (!tp_tbucket_take(&rl->bucket, 1 / interval, 1, now)) {
		rl->suppressed++;
		return false;
	}
	if (suppressed)
		*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}
