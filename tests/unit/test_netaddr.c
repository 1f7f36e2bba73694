/*
 * test_netaddr.c - address parsing, CIDR lists and the client address
 * behind trusted proxies: IPv4 and IPv6, mapped peers, ports as proxies
 * write them, bad lists refused with a message, and the X-Forwarded-For
 * walk (rightmost untrusted hop, spoofed left parts ignored, garbage hops,
 * headers ignored from an untrusted peer).
 */
#include <string.h>

#include "test_support.h"
#include "tickpush/netaddr.h"

static struct tp_cidr_list list(const char *s)
{
	struct tp_cidr_list l;
	struct tp_errdetail err = {{0}, NULL};

	if (tp_cidr_list_parse(s, &l, &err))
		fail_msg("\"%s\": %s", s, err.msg);
	return l;
}

static bool match(const struct tp_cidr_list *l, const char *addr)
{
	struct tp_ipaddr a;

	assert_true(tp_ipaddr_parse(addr, strlen(addr), &a));
	return tp_cidr_list_match(l, &a);
}

static void test_parse_addresses(void **state)
{
	static const struct { const char *in, *out; } ok[] = {
		{"127.0.0.1", "127.0.0.1"}, {" 10.1.2.3 ", "10.1.2.3"},
		{"10.1.2.3:8080", "10.1.2.3"}, {"::1", "::1"},
		{"[2001:db8::1]:443", "2001:db8::1"}, {"[::1]", "::1"},
		{"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
	};
	static const char *const bad[] = {
		"", " ", "unknown", "1.2.3", "1.2.3.4.5", "256.1.1.1", "[::1", "[::1]x",
		"example.com", "1.2.3.4:80:90x", "_hidden", "1.2.3.4/8",
	};
	struct tp_ipaddr a;
	char out[TP_ADDR_STRLEN];

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(ok); i++) {
		if (!tp_ipaddr_parse(ok[i].in, strlen(ok[i].in), &a))
			fail_msg("\"%s\" refused", ok[i].in);
		tp_ipaddr_format(&a, out, sizeof(out));
		assert_string_equal(out, ok[i].out);
	}
	for (size_t i = 0; i < TP_ARRAY_SIZE(bad); i++)
		if (tp_ipaddr_parse(bad[i], strlen(bad[i]), &a))
			fail_msg("\"%s\" accepted", bad[i]);
}

static void test_cidr_match(void **state)
{
	struct tp_cidr_list l = list("10.0.0.0/8, 192.168.1.7,2001:db8::/32 , ::1, 172.16.0.0/12");
	struct tp_cidr_list all4 = list("0.0.0.0/0"), none = list("");

	(void)state;
	assert_int_equal(l.n, 5);
	assert_true(match(&l, "10.255.1.2"));
	assert_true(match(&l, "::ffff:10.0.0.1")); /* mapped peer, v4 CIDR */
	assert_false(match(&l, "11.0.0.1"));
	assert_true(match(&l, "192.168.1.7"));
	assert_false(match(&l, "192.168.1.8"));
	assert_true(match(&l, "2001:db8:ffff::1"));
	assert_false(match(&l, "2001:db9::1"));
	assert_true(match(&l, "::1"));
	assert_false(match(&l, "::2"));
	assert_true(match(&l, "172.31.255.255"));
	assert_false(match(&l, "172.32.0.0"));
	assert_true(match(&all4, "8.8.8.8"));
	assert_false(match(&all4, "2001:db8::1")); /* /0 of v4 is v4 only */
	assert_false(match(&none, "127.0.0.1"));
}

static void test_cidr_list_errors(void **state)
{
	static const char *const bad[] = {
		"10.0.0.0/33", "::/129", "10.0.0.1/8", "10.0.0.0/", "10.0.0.0/x",
		"localhost", "10.0.0.0/8,,::1", "10.0.0.0/8,", "[::1]", "10.0.0.1:80",
		"10.0.0.0/-1", "10.0.0.0/0008",
	};
	struct tp_cidr_list l;
	struct tp_errdetail err = {{0}, NULL};
	char big[TP_CIDR_MAX * 12 + 16] = "";

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(bad); i++) {
		err.msg[0] = '\0';
		if (tp_cidr_list_parse(bad[i], &l, &err) != TP_ERR_INVAL)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_true(err.msg[0] != '\0');
	}
	for (int i = 0; i <= TP_CIDR_MAX; i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big), "%s10.0.%d.1",
			 i ? "," : "", i);
	assert_int_equal(tp_cidr_list_parse(big, &l, &err), TP_ERR_INVAL);
}

static const char *client(const struct tp_cidr_list *l, const char *peer,
			  const char *xff, const char *real)
{
	static char out[TP_ADDR_STRLEN];

	tp_client_addr(l, peer, xff, real, out, sizeof(out));
	return out;
}

static void test_client_addr(void **state)
{
	struct tp_cidr_list l = list("127.0.0.1, 10.0.0.0/8, ::1");
	struct tp_cidr_list none = list("");

	(void)state;
	/* Untrusted peer: headers ignored, whatever they say. */
	assert_string_equal(client(&l, "192.0.2.9", "1.2.3.4", "5.6.7.8"), "192.0.2.9");
	assert_string_equal(client(&none, "127.0.0.1", "1.2.3.4", NULL), "127.0.0.1");
	/* Trusted peer: the rightmost hop that is not a trusted proxy. */
	assert_string_equal(client(&l, "127.0.0.1", "203.0.113.5", NULL), "203.0.113.5");
	assert_string_equal(client(&l, "127.0.0.1", "6.6.6.6, 203.0.113.5, 10.1.1.1", NULL),
			    "203.0.113.5");
	assert_string_equal(client(&l, "::1", "2001:db8::7", NULL), "2001:db8::7");
	assert_string_equal(client(&l, "::ffff:127.0.0.1", "198.51.100.1:5555", NULL),
			    "198.51.100.1");
	/* Every hop trusted: the leftmost. */
	assert_string_equal(client(&l, "127.0.0.1", "10.0.0.9,10.0.0.8", NULL), "10.0.0.9");
	/* A garbage hop ends the walk at the last trusted one. */
	assert_string_equal(client(&l, "127.0.0.1", "203.0.113.5, unknown", NULL), "127.0.0.1");
	assert_string_equal(client(&l, "127.0.0.1", "garbage, 10.0.0.3", NULL), "10.0.0.3");
	assert_string_equal(client(&l, "127.0.0.1", ",", NULL), "127.0.0.1");
	/* X-Real-IP when there is no X-Forwarded-For. */
	assert_string_equal(client(&l, "127.0.0.1", NULL, "198.51.100.2"), "198.51.100.2");
	assert_string_equal(client(&l, "127.0.0.1", "", " 198.51.100.3 "), "198.51.100.3");
	assert_string_equal(client(&l, "127.0.0.1", NULL, "nonsense"), "127.0.0.1");
	assert_string_equal(client(&l, "127.0.0.1", NULL, NULL), "127.0.0.1");
	/* An unparsable peer (a unix socket) is never trusted. */
	assert_string_equal(client(&l, "", "1.2.3.4", NULL), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_addresses),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_cidr_list_errors),
		cmocka_unit_test(test_client_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
