/*
 * test_confdiff.c - what a SIGHUP reload changes (server/core/confdiff.c): the
 * diff of two configurations, live or restart per option, the running
 * value restored for restart-only options, secrets masked; and the login
 * limiter's new rate (tp_ratelimit_set).
 */
#include <string.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/confdiff.h"
#include "tickpush/ratelimit.h"

static void load(struct tp_config *cfg, const char *text)
{
	struct tp_errdetail err = {{0}, NULL};

	assert_int_equal(tp_config_load_string(cfg, text, strlen(text), "t.conf", &err),
			 TP_OK);
}

/* The changes from old to cur; returns how many. */
static size_t diff(const char *old_text, const char *cur_text,
		   struct tp_config *old, struct tp_config *cur,
		   struct tp_confdiff_change *ch, size_t max)
{
	load(old, old_text);
	load(cur, cur_text);
	return tp_confdiff(old, cur, ch, max);
}

static void test_same_config_no_change(void **state)
{
	struct tp_config a, b;
	struct tp_confdiff_change ch[4];

	(void)state;
	assert_int_equal(diff("port 1\n", "port 1\n", &a, &b, ch, 4), 0);
	tp_config_cleanup(&a);
	tp_config_cleanup(&b);
}

static void test_live_and_restart(void **state)
{
	struct tp_config a, b;
	struct tp_confdiff_change ch[8];
	size_t n;

	(void)state;
	n = diff("port 8080\nlog_level info\nws_rate 50\n",
		 "port 9090\nlog_level debug\nws_rate 7\nmax_patterns 5\n",
		 &a, &b, ch, 8);
	/* In table order: port, max_patterns, ws_rate, log_level. */
	assert_int_equal(n, 4);
	assert_string_equal(ch[0].opt->name, "port");
	assert_false(ch[0].live);
	assert_string_equal(ch[1].opt->name, "max_patterns");
	assert_false(ch[1].live);
	assert_string_equal(ch[2].opt->name, "ws_rate");
	assert_true(ch[2].live);
	assert_string_equal(ch[3].opt->name, "log_level");
	assert_true(ch[3].live);
	/* More changes than room: the count is still right. */
	assert_int_equal(tp_confdiff(&a, &b, ch, 1), 4);
	assert_int_equal(tp_confdiff(&a, &b, ch, 8), 4);
	/* Restart-only options get the running value back, live ones stay. */
	assert_int_equal(tp_confdiff_keep_restart(&b, &a, ch, n), TP_OK);
	assert_int_equal(b.port, 8080);
	assert_int_equal(b.max_patterns, a.max_patterns);
	assert_string_equal(b.log_level, "debug");
	assert_true(b.ws_rate == 7);
	assert_int_equal(tp_confdiff(&a, &b, ch, 8), 2);
	tp_config_cleanup(&a);
	tp_config_cleanup(&b);
}

static void test_string_restore(void **state)
{
	struct tp_config a, b;
	struct tp_confdiff_change ch[4];
	size_t n;

	(void)state;
	n = diff("redis_host r1\n", "redis_host r2\n", &a, &b, ch, 4);
	assert_int_equal(n, 1);
	assert_false(ch[0].live);
	assert_int_equal(tp_confdiff_keep_restart(&b, &a, ch, n), TP_OK);
	assert_string_equal(b.redis_host, "r1");
	assert_true(b.redis_host != a.redis_host); /* a copy: both are freed */
	tp_config_cleanup(&a);
	tp_config_cleanup(&b);
}

/* TLS files change live while TLS stays on; on or off needs a restart. */
static void test_tls_rules(void **state)
{
	struct tp_config a, b;
	struct tp_confdiff_change ch[4];

	(void)state;
	assert_int_equal(diff("tls_cert /a.pem\ntls_key /a.key\n",
			      "tls_cert /b.pem\ntls_key /b.key\ntls_ca /ca.pem\n",
			      &a, &b, ch, 4), 3);
	for (int i = 0; i < 3; i++)
		assert_true(ch[i].live);
	tp_config_cleanup(&a);
	tp_config_cleanup(&b);
	assert_int_equal(diff("", "tls_cert /b.pem\ntls_key /b.key\n", &a, &b, ch, 4), 2);
	assert_false(ch[0].live);
	assert_false(ch[1].live);
	tp_config_cleanup(&a);
	tp_config_cleanup(&b);
	assert_int_equal(diff("tls_cert /b.pem\ntls_key /b.key\ntls_plain_http redirect\n",
			      "tls_cert /b.pem\ntls_key /b.key\n", &a, &b, ch, 4), 1);
	assert_string_equal(ch[0].opt->name, "tls_plain_http");
	assert_false(ch[0].live);
	tp_config_cleanup(&a);
	tp_config_cleanup(&b);
}

/* jwt_secret: live from one secret to another; from or to "" not. */
static void test_jwt_rules(void **state)
{
	static const char s1[] = "jwt_secret 0123456789abcdef0123456789abcdef\n";
	static const char s2[] = "jwt_secret fedcba9876543210fedcba9876543210\n";
	struct tp_config a, b;
	struct tp_confdiff_change ch[4];
	char v[64];

	(void)state;
	assert_int_equal(diff(s1, s2, &a, &b, ch, 4), 1);
	assert_true(ch[0].live);
	/* Secrets never reach a log line. */
	assert_string_equal(tp_confdiff_value(&b, ch[0].opt, v, sizeof(v)), "***");
	tp_config_cleanup(&a);
	tp_config_cleanup(&b);
	assert_int_equal(diff("", s2, &a, &b, ch, 4), 1);
	assert_false(ch[0].live);
	assert_string_equal(tp_confdiff_value(&a, ch[0].opt, v, sizeof(v)), "");
	tp_config_cleanup(&a);
	tp_config_cleanup(&b);
	assert_int_equal(diff(s1, "", &a, &b, ch, 4), 1);
	assert_false(ch[0].live);
	tp_config_cleanup(&a);
	tp_config_cleanup(&b);
}

static void test_values_and_list(void **state)
{
	struct tp_config a;
	size_t n;
	const struct tp_config_option *o = tp_config_options(&n);
	char v[64];
	size_t live = 0;

	(void)state;
	load(&a, "ws_rate 0.5\nredis_write_through no\nport 81\n");
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(o[i].name, "ws_rate"))
			assert_string_equal(tp_confdiff_value(&a, &o[i], v, sizeof(v)), "0.5");
		if (!strcmp(o[i].name, "redis_write_through"))
			assert_string_equal(tp_confdiff_value(&a, &o[i], v, sizeof(v)), "no");
		if (!strcmp(o[i].name, "port"))
			assert_string_equal(tp_confdiff_value(&a, &o[i], v, sizeof(v)), "81");
		live += tp_confdiff_is_live(o[i].name);
	}
	/* Every name of the live list is an option (no typo hides one). */
	assert_int_equal(live, 24);
	assert_false(tp_confdiff_is_live("no_such_option"));
	tp_config_cleanup(&a);
}

static void test_ratelimit_set(void **state)
{
	struct tp_ratelimit *rl = tp_ratelimit_create(1, 2, 10);

	(void)state;
	assert_non_null(rl);
	assert_true(tp_ratelimit_allow(rl, "a", 100));
	assert_true(tp_ratelimit_allow(rl, "a", 100));
	assert_false(tp_ratelimit_allow(rl, "a", 100));
	assert_int_equal(tp_ratelimit_set(rl, 0, 2), TP_ERR_INVAL);
	assert_int_equal(tp_ratelimit_set(rl, 10, 0.5), TP_ERR_INVAL);
	/* 10/s now: 0.1 s gives a token back (1/s would need 1 s). */
	assert_int_equal(tp_ratelimit_set(rl, 10, 5), TP_OK);
	assert_true(tp_ratelimit_allow(rl, "a", 100.15));
	/* The new burst: a new key may make 5 attempts at once. */
	for (int i = 0; i < 5; i++)
		assert_true(tp_ratelimit_allow(rl, "b", 200));
	assert_false(tp_ratelimit_allow(rl, "b", 200));
	tp_ratelimit_destroy(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_same_config_no_change),
		TP_TEST(test_live_and_restart),
		TP_TEST(test_string_restore),
		TP_TEST(test_tls_rules),
		TP_TEST(test_jwt_rules),
		TP_TEST(test_values_and_list),
		TP_TEST(test_ratelimit_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
