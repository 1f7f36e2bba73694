/*
 * date.c - civil dates to epoch days (see date.h).
 */
#include "tickpush/date.h"

long long tp_days_from_civil(int y, int m, int d)
{
	long long era, yoe, doy, doe;

	/* Years start in March, so the leap day is the last day of a year. */
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int tp_days_in_month(int y, int m)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dim[m - 1];
}

bool tp_date_valid(int y, int m, int d)
{
	return m >= 1 && m <= 12 && d >= 1 && d <= tp_days_in_month(y, m);
}
