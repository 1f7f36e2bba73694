/*
 * netutil.c - reconnect backoff and address formatting (see netutil.h).
 */
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>

#include <uv.h>

#include "netutil.h"

double tp_backoff_next(double *backoff, double max)
{
	/* rand() is fine: the jitter is not security-relevant. */
	double delay = *backoff * (0.75 + 0.5 * ((double)rand() / RAND_MAX));

	if (delay > max)
		delay = max;
	*backoff = *backoff * 2 > max ? max : *backoff * 2;
	return delay;
}

void tp_addrinfo_ip(const struct addrinfo *ai, char *out, size_t n)
{
	if (ai->ai_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)ai->ai_addr, out, n);
	else
		uv_ip4_name((const struct sockaddr_in *)ai->ai_addr, out, n);
}
