/*
 * netutil.c - reconnect backoff, address formatting, the port file (see
 * netutil.h).
 */
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include "netutil.h"
#include "tickpush/err.h"
#include "tickpush/log.h"

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

int tp_port_file_write(const char *path, int port)
{
	char tmp[1024];
	bool ok;
	FILE *f;

	if (!path || !path[0])
		return TP_OK;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	ok = f && fprintf(f, "%d\n", port) > 0;
	if (f && fclose(f))
		ok = false;
	if (!ok || rename(tmp, path)) {
		TP_LOG(TP_LOG_ERR, "msg=\"cannot write port file\" path=%s", tp_log_q(path));
		return TP_ERR_IO;
	}
	return TP_OK;
}
