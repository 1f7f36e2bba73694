/*
 * netaddr.h - IP addresses, CIDR lists and the client address behind
 * trusted proxies (server/core/netaddr.c). Pure: no I/O, no DNS.
 *
 * trusted_proxies is a comma list of addresses or CIDRs ("10.0.0.0/8,
 * ::1, 192.168.1.7"). Only when the TCP peer is in it do X-Forwarded-For
 * (walked from the right: the first hop that is not itself a trusted
 * proxy is the client) or X-Real-IP name the client; from any other peer
 * both headers are ignored, so a client cannot choose its own address.
 */
#ifndef TICKPUSH_NETADDR_H
#define TICKPUSH_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tickpush/err.h"

/* Most entries in one list (a proxy fleet fits; a list is walked linearly). */
#define TP_CIDR_MAX 64
/* Longest textual address tp_client_addr writes, NUL included. */
#define TP_ADDR_STRLEN 64

/* An IPv4 address is held IPv4-mapped (::ffff:a.b.c.d), so one compare
 * serves both families and a mapped peer matches a v4 CIDR. */
struct tp_ipaddr {
	uint8_t b[16];
};

struct tp_cidr {
	struct tp_ipaddr net;
	unsigned bits; /* prefix length over the 128-bit (mapped) form */
};

struct tp_cidr_list {
	struct tp_cidr e[TP_CIDR_MAX];
	size_t n;
};

/* Parses one numeric address: IPv4, IPv6, "[v6]" with an optional ":port",
 * or "v4:port" (ports as some proxies write them). Surrounding blanks are
 * allowed. Returns false when it is not an address. */
bool tp_ipaddr_parse(const char *s, size_t n, struct tp_ipaddr *out);

/* Writes the canonical text (dotted quad for IPv4, RFC 5952 for IPv6). */
void tp_ipaddr_format(const struct tp_ipaddr *a, char *out, size_t n);

/* Parses a comma list of addresses and CIDRs ("" = empty list). Host bits
 * beyond the prefix are refused (10.0.0.1/8 is likely a typo). */
int tp_cidr_list_parse(const char *s, struct tp_cidr_list *out,
		       struct tp_errdetail *err);

bool tp_cidr_list_match(const struct tp_cidr_list *l, const struct tp_ipaddr *a);

/*
 * The client's address into out (TP_ADDR_STRLEN): peer itself unless it is
 * a trusted proxy; then the rightmost X-Forwarded-For hop that is not a
 * trusted proxy (xff may be NULL), else X-Real-IP (may be NULL), else the
 * leftmost trusted hop. A hop that is not an address ends the walk (what
 * lies left of it is the client's to write). Returns true when a header
 * gave the answer.
 */
bool tp_client_addr(const struct tp_cidr_list *trusted, const char *peer,
		    const char *xff, const char *real_ip, char *out, size_t n);

#endif
