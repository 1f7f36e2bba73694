/*
 * netaddr.c - addresses, CIDR lists, the client behind trusted proxies
 * (see netaddr.h).
 *
 * Addresses are parsed with inet_pton only (numeric, never DNS) and kept
 * in the 16-byte IPv4-mapped form, so "10.0.0.0/8" is stored as
 * ::ffff:10.0.0.0/104 and matches both a plain IPv4 peer and the mapped
 * form an IPv6 listener reports.
 *
 * X-Forwarded-For is "client, proxy1, proxy2": each proxy appends the
 * address it received the request from. Only the entries our trusted
 * proxies appended can be believed, so the walk goes right to left and
 * stops at the first hop that is not a trusted proxy: whatever stands left
 * of it was written by the client and proves nothing.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "tickpush/netaddr.h"

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

bool tp_ipaddr_parse(const char *s, size_t n, struct tp_ipaddr *out)
{
	char buf[48];
	const char *colon;
	uint8_t v4[4];

	while (n && is_blank(*s))
		s++, n--;
	while (n && is_blank(s[n - 1]))
		n--;
	if (n && *s == '[') {
		/* "[v6]" or "[v6]:port" */
		const char *close = memchr(s, ']', n);

		if (!close)
			return false;
		if (close + 1 < s + n && close[1] != ':')
			return false;
		n = (size_t)(close - s) - 1;
		s++;
		if (n >= sizeof(buf))
			return false;
		memcpy(buf, s, n);
		buf[n] = '\0';
		return inet_pton(AF_INET6, buf, out->b) == 1;
	}
	if (!n || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET6, buf, out->b) == 1)
		return true;
	/* "a.b.c.d:port": one colon only (two or more made it IPv6). */
	colon = strchr(buf, ':');
	if (colon && !strchr(colon + 1, ':'))
		buf[colon - buf] = '\0';
	if (inet_pton(AF_INET, buf, v4) != 1)
		return false;
	memcpy(out->b, v4_mapped, sizeof(v4_mapped));
	memcpy(out->b + 12, v4, 4);
	return true;
}

void tp_ipaddr_format(const struct tp_ipaddr *a, char *out, size_t n)
{
	char tmp[INET6_ADDRSTRLEN];
	bool v4 = !memcmp(a->b, v4_mapped, sizeof(v4_mapped));

	if (!inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? a->b + 12 : a->b, tmp, sizeof(tmp)))
		tmp[0] = '\0';
	snprintf(out, n, "%s", tmp);
}

static bool prefix_equal(const struct tp_ipaddr *x, const struct tp_ipaddr *y,
			 unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(x->b, y->b, whole))
		return false;
	if (!rest)
		return true;
	return ((x->b[whole] ^ y->b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* One "addr" or "addr/bits" of length n. */
static int parse_cidr(const char *s, size_t n, struct tp_cidr *c,
		      struct tp_errdetail *err)
{
	const char *slash = memchr(s, '/', n);
	size_t alen = slash ? (size_t)(slash - s) : n;
	size_t colons = 0;
	bool v4;
	unsigned bits = 0, max;

	for (size_t i = 0; i < alen; i++)
		colons += s[i] == ':';
	/* No "[v6]" and no "v4:port" in a CIDR: tp_ipaddr_parse allows them
	 * for header values only. */
	v4 = colons == 0;
	if (colons == 1 || memchr(s, '[', alen) || !tp_ipaddr_parse(s, alen, &c->net))
		return tp_errdetail_set(err, TP_ERR_INVAL, NULL,
					"\"%.*s\" is not an IPv4 or IPv6 address",
					(int)(alen > 64 ? 64 : alen), s);
	max = v4 ? 32 : 128;
	if (!slash) {
		bits = max;
	} else {
		const char *p = slash + 1, *end = s + n;

		while (p < end && is_blank(*p))
			p++;
		while (end > p && is_blank(end[-1]))
			end--;
		if (p == end || end - p > 3)
			goto bad_bits;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				goto bad_bits;
			bits = bits * 10 + (unsigned)(*p - '0');
		}
		if (bits > max)
			goto bad_bits;
	}
	c->bits = v4 ? bits + 96 : bits;
	/* Host bits set beyond the prefix: 10.0.0.1/8 is most likely a typo. */
	for (unsigned i = c->bits; i < 128; i++)
		if (c->net.b[i / 8] & (0x80 >> (i % 8)))
			return tp_errdetail_set(err, TP_ERR_INVAL, NULL,
						"\"%.*s\" has bits set beyond its prefix",
						(int)(n > 64 ? 64 : n), s);
	return TP_OK;
bad_bits:
	return tp_errdetail_set(err, TP_ERR_INVAL, NULL,
				"\"%.*s\": the prefix length must be 0-%u",
				(int)(n > 64 ? 64 : n), s, max);
}

int tp_cidr_list_parse(const char *s, struct tp_cidr_list *out,
		       struct tp_errdetail *err)
{
	out->n = 0;
	if (!*s)
		return TP_OK;
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		int rc;

		while (n && is_blank(*s))
			s++, n--;
		while (n && is_blank(s[n - 1]))
			n--;
		if (!n)
			return tp_errdetail_set(err, TP_ERR_INVAL, NULL,
						"empty entry in the address list");
		if (out->n == TP_CIDR_MAX)
			return tp_errdetail_set(err, TP_ERR_INVAL, NULL,
						"more than %d entries", TP_CIDR_MAX);
		rc = parse_cidr(s, n, &out->e[out->n], err);
		if (rc)
			return rc;
		out->n++;
		if (!comma)
			return TP_OK;
		s = comma + 1;
	}
}

bool tp_cidr_list_match(const struct tp_cidr_list *l, const struct tp_ipaddr *a)
{
	for (size_t i = 0; i < l->n; i++)
		if (prefix_equal(&l->e[i].net, a, l->e[i].bits))
			return true;
	return false;
}

static bool trusted_text(const struct tp_cidr_list *l, const char *s, size_t n,
			 struct tp_ipaddr *a)
{
	return tp_ipaddr_parse(s, n, a) && tp_cidr_list_match(l, a);
}

bool tp_client_addr(const struct tp_cidr_list *trusted, const char *peer,
		    const char *xff, const char *real_ip, char *out, size_t n)
{
	struct tp_ipaddr a, last;

	snprintf(out, n, "%s", peer);
	if (!trusted->n || !trusted_text(trusted, peer, strlen(peer), &last))
		return false;
	if (xff && *xff) {
		const char *end = xff + strlen(xff);

		/* Right to left over the comma list. */
		while (end > xff) {
			const char *start = end;

			while (start > xff && start[-1] != ',')
				start--;
			if (!tp_ipaddr_parse(start, (size_t)(end - start), &a))
				break; /* not an address: the last trusted hop stands */
			if (!tp_cidr_list_match(trusted, &a)) {
				tp_ipaddr_format(&a, out, n);
				return true;
			}
			last = a;
			end = start > xff ? start - 1 : xff;
		}
		tp_ipaddr_format(&last, out, n);
		return true;
	}
	if (real_ip && tp_ipaddr_parse(real_ip, strlen(real_ip), &a)) {
		tp_ipaddr_format(&a, out, n);
		return true;
	}
	return false;
}
