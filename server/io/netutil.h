/*
 * netutil.h - small helpers shared by the io clients (server/io/netutil.c).
 */
#ifndef TICKPUSH_IO_NETUTIL_H
#define TICKPUSH_IO_NETUTIL_H

#include <stddef.h>

struct addrinfo;

/* The next reconnect delay in seconds: *backoff with +-25 % jitter (so many
 * instances do not reconnect in lockstep), capped at max; *backoff doubles
 * for the time after, also capped. */
double tp_backoff_next(double *backoff, double max);

/* The numeric address of ai (IPv4 or IPv6) into out. */
void tp_addrinfo_ip(const struct addrinfo *ai, char *out, size_t n);

/* Writes "port\n" to path through path.tmp and a rename, so a reader never
 * sees a partial file (tests wait for it). Empty or NULL path: nothing.
 * Returns TP_OK or TP_ERR_IO (logged). */
int tp_port_file_write(const char *path, int port);

#endif
