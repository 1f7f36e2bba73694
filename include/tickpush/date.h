/*
 * date.h - proleptic Gregorian calendar arithmetic (server/base/date.c).
 *
 * No time zones and no libc: ISO 8601 timestamps in events and the dates
 * of backtest requests are turned into epoch days with these, the same way
 * at every call site, whatever TZ says.
 */
#ifndef TICKPUSH_DATE_H
#define TICKPUSH_DATE_H

#include <stdbool.h>

/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31; earlier dates are
 * negative). H. Hinnant's days_from_civil. */
long long tp_days_from_civil(int y, int m, int d);

/* Days in month m (1..12) of year y. */
int tp_days_in_month(int y, int m);

/* y-m-d is a real calendar date (m 1..12, d 1..days in that month). */
bool tp_date_valid(int y, int m, int d);

#endif
