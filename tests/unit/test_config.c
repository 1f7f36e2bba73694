/*
 * test_config.c - the configuration table: defaults, the file syntax and
 * its errors, precedence (defaults < file < env < flags), strict validation
 * of every type, typo detection in env and flags, secret masking, --help,
 * and that tickpush.conf.example and docs/config.md list every option.
 *
 * TP_SOURCE_DIR (tests/CMakeLists.txt) locates the example and docs.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_support.h"
#include "tickpush/alloc.h"
#include "tickpush/config.h"

#ifndef TP_SOURCE_DIR
#error "TP_SOURCE_DIR must name the source tree"
#endif

static int count(const char *const *v)
{
	int n = 0;

	while (v && v[n])
		n++;
	return n;
}

/* argv[0] is added here; args and env are NULL-terminated (or NULL). */
static int load(struct tp_config *cfg, const char *path, const char *const *env,
		const char *const *args, struct tp_errdetail *err)
{
	const char *argv[32] = {"tickpush"};
	int argc = 1 + count(args);

	assert_true(argc < 32);
	for (int i = 1; i < argc; i++)
		argv[i] = args[i - 1];
	memset(err, 0, sizeof(*err));
	return tp_config_load(cfg, path, (char *const *)env, argc,
			      (char *const *)argv, err);
}

static int load_text(struct tp_config *cfg, const char *text,
		     struct tp_errdetail *err)
{
	memset(err, 0, sizeof(*err));
	return tp_config_load_string(cfg, text, strlen(text), "t.conf", err);
}

static void write_tmp(char *path, const char *text)
{
	int fd;

	strcpy(path, "/tmp/tp_config_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Whole file in malloc'ed memory (not tp_malloc: outside the leak check). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *s;
	long n;

	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* tp_config_print output, malloc'ed. */
static char *print_cfg(const struct tp_config *cfg)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);

	assert_non_null(f);
	tp_config_print(f, cfg);
	fclose(f);
	return s;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("\"%s\" not found in \"%s\"", needle, hay);
}

static void assert_fails(const char *text, const char *msg_part)
{
	struct tp_config cfg;
	struct tp_errdetail err;

	assert_int_equal(load_text(&cfg, text, &err), TP_ERR_INVAL);
	assert_contains(err.msg, msg_part);
	assert_null(cfg.bind); /* cleaned up */
}

static void assert_env_fails(const char *var, const char *msg_part)
{
	const char *env[] = {var, NULL};
	struct tp_config cfg;
	struct tp_errdetail err;

	assert_int_equal(load(&cfg, NULL, env, NULL, &err), TP_ERR_INVAL);
	assert_contains(err.msg, msg_part);
}

static void assert_flag_ok(const char *flag, const char *value)
{
	const char *args[] = {flag, value, NULL};
	struct tp_config cfg;
	struct tp_errdetail err;

	if (load(&cfg, NULL, NULL, args, &err) != TP_OK)
		fail_msg("%s %s: %s", flag, value, err.msg);
	tp_config_cleanup(&cfg);
}

static void test_defaults(void **state)
{
	struct tp_config cfg;
	struct tp_errdetail err;
	size_t n;
	const struct tp_config_option *opts = tp_config_options(&n);

	(void)state;
	assert_int_equal(load(&cfg, NULL, NULL, NULL, &err), TP_OK);
	assert_string_equal(cfg.bind, "127.0.0.1");
	assert_int_equal(cfg.port, 8080);
	assert_string_equal(cfg.port_file, "");
	assert_string_equal(cfg.redis_host, "127.0.0.1");
	assert_int_equal(cfg.redis_port, 6379);
	assert_int_equal(cfg.redis_db, 0);
	assert_string_equal(cfg.redis_password, "");
	assert_string_equal(cfg.channel_prefix, "tickstock");
	assert_true(cfg.redis_write_through);
	assert_true(cfg.redis_warm_start);
	assert_true(cfg.pattern_cache_ttl == 3600);
	assert_true(cfg.api_response_cache_ttl == 30);
	assert_int_equal(cfg.max_patterns, 100000);
	assert_int_equal(cfg.http_header_max, 8192);
	assert_true(cfg.shutdown_timeout == 4);
	assert_string_equal(cfg.log_level, "info");
	assert_false(cfg.require_auth_everywhere);
	assert_false(cfg.dev_mode);
	assert_int_equal(cfg.db_pool_size, 4);
	assert_true(cfg.db_query_timeout == 5);
	assert_true(cfg.symbols_refresh_interval == 300);
	assert_int_equal(cfg.ws_max_frame, 65536);
	assert_int_equal(cfg.ws_queue_max_bytes, 1048576);
	/* Every string option is set (never NULL) and the table is sane. */
	for (size_t i = 0; i < n; i++) {
		assert_non_null(opts[i].help);
		assert_non_null(opts[i].def);
		assert_true(opts[i].offset < sizeof(cfg));
		assert_true(!strncmp(opts[i].flag, "--", 2));
		if (opts[i].type == TP_CONFIG_STRING)
			assert_non_null(*(char **)(void *)((char *)&cfg +
							    opts[i].offset));
		/* Env vars are ours (TICKPUSH_*) or the original system's. */
		if (strncmp(opts[i].env, "TICKPUSH_", 9))
			assert_true(!strncmp(opts[i].env, "REDIS_", 6) ||
				    !strcmp(opts[i].env, "PATTERN_CACHE_TTL") ||
				    !strcmp(opts[i].env, "API_RESPONSE_CACHE_TTL") ||
				    !strcmp(opts[i].env, "DATABASE_URI"));
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(opts[i].name, opts[j].name);
			assert_string_not_equal(opts[i].env, opts[j].env);
			assert_string_not_equal(opts[i].flag, opts[j].flag);
			assert_true(opts[i].offset != opts[j].offset);
		}
	}
	tp_config_cleanup(&cfg);
	tp_config_cleanup(&cfg); /* idempotent */
	tp_config_cleanup(NULL);
}

static void test_file_syntax(void **state)
{
	static const char text[] =
		"# a comment\n"
		"\n"
		"   # indented comment\n"
		"port 9000\n"
		"bind = ::1\n"
		"redis_host=redis.internal\r\n"
		"\tredis_port\t6380   \n"
		"redis_password \"pa ss\\\"word\\\\\"\n"
		"web_demo_dir '/srv/web demo'\n"
		"port_file \"\"\n"
		"channel_prefix  = \"prod\"  \n"
		"redis_write_through no\n"
		"dev_mode ON\n"
		"pattern_cache_ttl 1.5e3\n"
		"log_level debug"; /* no final newline */
	struct tp_config cfg;
	struct tp_errdetail err;

	(void)state;
	if (load_text(&cfg, text, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(cfg.port, 9000);
	assert_string_equal(cfg.bind, "::1");
	assert_string_equal(cfg.redis_host, "redis.internal");
	assert_int_equal(cfg.redis_port, 6380);
	assert_string_equal(cfg.redis_password, "pa ss\"word\\");
	assert_string_equal(cfg.web_demo_dir, "/srv/web demo");
	assert_string_equal(cfg.port_file, "");
	assert_string_equal(cfg.channel_prefix, "prod");
	assert_false(cfg.redis_write_through);
	assert_true(cfg.dev_mode);
	assert_true(cfg.pattern_cache_ttl == 1500);
	assert_string_equal(cfg.log_level, "debug");
	tp_config_cleanup(&cfg);

	/* An empty text is all defaults. */
	assert_int_equal(load_text(&cfg, "", &err), TP_OK);
	assert_int_equal(cfg.port, 8080);
	tp_config_cleanup(&cfg);
}

static void test_file_errors(void **state)
{
	char longline[5000];

	(void)state;
	assert_fails("port 1\n\nprot 2\n", "t.conf:3: unknown option \"prot\"");
	assert_fails("PORT 2\n", "(did you mean port?)");
	assert_fails("# x\nport 80x\n",
		     "t.conf:2: port: must be an integer between 0 and 65535, "
		     "got \"80x\"");
	assert_fails("port 1\nport 2\n", "t.conf:2: port: already set on line 1");
	assert_fails("port\n", "t.conf:1: port: missing value");
	assert_fails("bind =\n", "t.conf:1: bind: missing value");
	assert_fails("bind \"::1\n", "t.conf:1: bind: missing closing quote");
	assert_fails("bind \"::1\" x\n", "text after the closing quote");
	assert_fails("bind \"a\\n\"\n", "may be escaped");
	assert_fails("port 1 # comment\n", "got \"1 # comment\"");
	/* Secrets are never echoed. */
	assert_fails("jwt_secret tooshort\n",
		     "t.conf:1: jwt_secret: must be empty or at least 32 bytes");
	{
		struct tp_config cfg;
		struct tp_errdetail err;

		assert_int_equal(load_text(&cfg, "jwt_secret tooshort\n", &err),
				 TP_ERR_INVAL);
		assert_null(strstr(err.msg, "tooshort"));
		assert_string_equal(err.field, "jwt_secret");
	}
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	assert_fails(longline, "t.conf:1: line longer than 4096 bytes");
	memcpy(longline, "bind ", 5);
	longline[1030] = '\0';
	assert_fails(longline, "t.conf:1: bind: must be at most 1024 bytes");
	assert_fails("web_demo_dir \"a\tb\x01\"\n", "must not contain control characters");
	{
		struct tp_config cfg;
		struct tp_errdetail err;

		assert_int_equal(tp_config_load_string(&cfg, "port 1\0\n", 8, NULL,
						       &err),
				 TP_ERR_INVAL);
		assert_contains(err.msg, "<string>:1: contains a NUL byte");
	}
}

static void test_real_file_and_precedence(void **state)
{
	char path[64];
	char want[128];
	const char *env[] = {"PATH=/usr/bin", "TICKPUSH_PORT=9100",
			     "REDIS_HOST=10.0.0.9", "HOME=/root", NULL};
	const char *args[] = {"--port=9200", "--redis-db", "3", NULL};
	struct tp_config cfg;
	struct tp_errdetail err;

	(void)state;
	write_tmp(path, "port 9000\nredis_host file.host\nredis_db 2\n"
			"log_level warn\n");
	/* File over defaults. */
	assert_int_equal(load(&cfg, path, NULL, NULL, &err), TP_OK);
	assert_int_equal(cfg.port, 9000);
	assert_string_equal(cfg.redis_host, "file.host");
	assert_int_equal(cfg.redis_db, 2);
	tp_config_cleanup(&cfg);
	/* Env over file. */
	assert_int_equal(load(&cfg, path, env, NULL, &err), TP_OK);
	assert_int_equal(cfg.port, 9100);
	assert_string_equal(cfg.redis_host, "10.0.0.9");
	assert_int_equal(cfg.redis_db, 2);
	assert_string_equal(cfg.log_level, "warn");
	tp_config_cleanup(&cfg);
	/* Flags over env, both syntaxes. */
	assert_int_equal(load(&cfg, path, env, args, &err), TP_OK);
	assert_int_equal(cfg.port, 9200);
	assert_int_equal(cfg.redis_db, 3);
	assert_string_equal(cfg.redis_host, "10.0.0.9");
	assert_string_equal(cfg.log_level, "warn");
	tp_config_cleanup(&cfg);

	/* Errors in the real file name it. */
	unlink(path);
	write_tmp(path, "\nredis_port 0\n");
	assert_int_equal(load(&cfg, path, NULL, NULL, &err), TP_ERR_INVAL);
	snprintf(want, sizeof(want),
		 "%s:2: redis_port: must be an integer between 1 and 65535", path);
	assert_contains(err.msg, want);
	unlink(path);
	/* A missing file is an I/O error naming it. */
	assert_int_equal(load(&cfg, path, NULL, NULL, &err), TP_ERR_IO);
	assert_contains(err.msg, path);
	assert_contains(err.msg, "cannot open");
}

static void test_int_validation(void **state)
{
	(void)state;
	assert_env_fails("TICKPUSH_PORT=80x",
			 "TICKPUSH_PORT (environment): must be an integer "
			 "between 0 and 65535, got \"80x\"");
	assert_env_fails("TICKPUSH_PORT=65536", "got \"65536\"");
	assert_env_fails("TICKPUSH_PORT=-1", "got \"-1\"");
	assert_env_fails("TICKPUSH_PORT=", "got \"\"");
	assert_env_fails("TICKPUSH_PORT= 80", "got \" 80\"");
	assert_env_fails("TICKPUSH_PORT=0x50", "got \"0x50\"");
	assert_env_fails("TICKPUSH_PORT=8.0", "got \"8.0\"");
	assert_env_fails("TICKPUSH_PORT=99999999999999999999999", "must be an integer");
	assert_env_fails("REDIS_PORT=0", "REDIS_PORT (environment): must be "
					 "an integer between 1 and 65535");
	assert_env_fails("TICKPUSH_WS_QUEUE_MAX_BYTES=100",
			 "between 4096 and 1073741824");
	assert_flag_ok("--port", "0");
	assert_flag_ok("--port", "65535");
	assert_flag_ok("--port", "+80");
}

static void test_double_validation(void **state)
{
	(void)state;
	assert_env_fails("PATTERN_CACHE_TTL=abc",
			 "PATTERN_CACHE_TTL (environment): must be a number "
			 "between 1 and 31536000, got \"abc\"");
	assert_env_fails("PATTERN_CACHE_TTL=0.5", "got \"0.5\"");
	assert_env_fails("PATTERN_CACHE_TTL=inf", "got \"inf\"");
	assert_env_fails("PATTERN_CACHE_TTL=nan", "got \"nan\"");
	assert_env_fails("PATTERN_CACHE_TTL=1e999", "got \"1e999\"");
	assert_env_fails("PATTERN_CACHE_TTL=0x10", "got \"0x10\"");
	assert_env_fails("PATTERN_CACHE_TTL=10s", "got \"10s\"");
	assert_env_fails("TICKPUSH_REDIS_CONNECT_TIMEOUT=0",
			 "between 0.1 and 600");
	assert_flag_ok("--pattern-cache-ttl", "1");
	assert_flag_ok("--pattern-cache-ttl", "2.5e2");
	assert_flag_ok("--api-response-cache-ttl", "0");
	/* Tokens as short as 5 s (the e2e test renews across expiries). */
	assert_env_fails("TICKPUSH_TOKEN_TTL=4.9", "between 5 and 31536000");
	assert_flag_ok("--token-ttl", "5");
}

/* Options checked against each other once every source is applied: the
 * Redis PING must go out before silence counts as down. */
static void test_redis_ping_combination(void **state)
{
	const char *env[] = {"TICKPUSH_REDIS_PING_TIMEOUT=10", NULL};
	const char *args[] = {"--redis-ping-interval=5", NULL};
	const char *off[] = {"--redis-ping-interval=0", "--redis-ping-timeout=0.1", NULL};
	struct tp_config cfg;
	struct tp_errdetail err;

	(void)state;
	assert_int_equal(load(&cfg, NULL, NULL, NULL, &err), TP_OK);
	assert_true(cfg.redis_ping_interval == 1 && cfg.redis_ping_timeout == 3);
	tp_config_cleanup(&cfg);
	assert_fails("redis_ping_interval 3\n",
		     "redis_ping_interval (3) must be less than "
		     "redis_ping_timeout (3), or 0 to turn the liveness check off");
	assert_int_equal(load(&cfg, NULL, NULL, args, &err), TP_ERR_INVAL);
	assert_string_equal(err.field, "redis_ping_interval");
	assert_contains(err.msg, "(5) must be less than redis_ping_timeout (3)");
	/* Each from another source: the flag's interval and the env's timeout. */
	assert_int_equal(load(&cfg, NULL, env, args, &err), TP_OK);
	assert_true(cfg.redis_ping_interval == 5 && cfg.redis_ping_timeout == 10);
	tp_config_cleanup(&cfg);
	assert_int_equal(load(&cfg, NULL, NULL, off, &err), TP_OK);
	assert_true(cfg.redis_ping_interval == 0);
	tp_config_cleanup(&cfg);
	assert_env_fails("TICKPUSH_REDIS_PING_TIMEOUT=0", "between 0.1 and 3600");
}

/* TLS: both files or neither, intermediates only with them, the plain
 * HTTP policy a word (the files themselves are checked by server/io/tls.c). */
static void test_tls_combination(void **state)
{
	struct tp_config cfg;
	struct tp_errdetail err;

	(void)state;
	assert_int_equal(load_text(&cfg, "tls_cert /c.pem\ntls_key /k.pem\n"
				   "tls_ca /ca.pem\ntls_plain_http redirect\n", &err),
			 TP_OK);
	assert_string_equal(cfg.tls_cert, "/c.pem");
	assert_string_equal(cfg.tls_plain_http, "redirect");
	assert_true(cfg.jwt_previous_grace == 3600);
	tp_config_cleanup(&cfg);
	assert_fails("tls_cert /c.pem\n",
		     "tls_cert and tls_key must be set together (both empty = plain HTTP)");
	assert_int_equal(load_text(&cfg, "tls_key /k.pem\n", &err), TP_ERR_INVAL);
	assert_string_equal(err.field, "tls_cert");
	assert_fails("tls_ca /ca.pem\n", "tls_ca needs tls_cert and tls_key");
	assert_fails("tls_plain_http allow\n",
		     "t.conf:1: tls_plain_http: must be refuse or redirect, got \"allow\"");
	assert_fails("jwt_previous_grace -1\n",
		     "t.conf:1: jwt_previous_grace: must be a number between 0 and 31536000, got \"-1\"");
}

static void test_bool_validation(void **state)
{
	static const char *const yes[] = {"true", "YES", "on", "1"};
	static const char *const no[] = {"false", "No", "OFF", "0"};
	struct tp_config cfg;
	struct tp_errdetail err;
	char var[64];

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		const char *env[] = {var, NULL};

		snprintf(var, sizeof(var), "TICKPUSH_DEV=%s", yes[i]);
		assert_int_equal(load(&cfg, NULL, env, NULL, &err), TP_OK);
		assert_true(cfg.dev_mode);
		tp_config_cleanup(&cfg);
		snprintf(var, sizeof(var), "TICKPUSH_REDIS_WARM_START=%s", no[i]);
		assert_int_equal(load(&cfg, NULL, env, NULL, &err), TP_OK);
		assert_false(cfg.redis_warm_start);
		tp_config_cleanup(&cfg);
	}
	assert_env_fails("TICKPUSH_DEV=maybe",
			 "TICKPUSH_DEV (environment): must be yes/no, "
			 "true/false, on/off or 1/0, got \"maybe\"");
	assert_env_fails("TICKPUSH_DEV=", "got \"\"");
	assert_env_fails("TICKPUSH_DEV=2", "got \"2\"");
}

static void test_string_validation(void **state)
{
	static const char *const good_bind[] = {"0.0.0.0", "127.0.0.1", "::",
						"::1", "fe80::1", "localhost"};
	static const char *const bad_bind[] = {"example.com", "127.0.0.256",
					       "[::1]", "", "localhost.",
					       "1.2.3"};

	(void)state;
	for (size_t i = 0; i < TP_ARRAY_SIZE(good_bind); i++)
		assert_flag_ok("--bind", good_bind[i]);
	for (size_t i = 0; i < TP_ARRAY_SIZE(bad_bind); i++) {
		const char *args[] = {"--bind", bad_bind[i], NULL};
		struct tp_config cfg;
		struct tp_errdetail err;

		if (!*bad_bind[i])
			args[1] = NULL; /* "--bind" alone: missing value */
		assert_int_equal(load(&cfg, NULL, NULL, args, &err), TP_ERR_INVAL);
		if (*bad_bind[i])
			assert_contains(err.msg,
					"--bind (command line): must be a numeric "
					"IPv4 or IPv6 address");
	}
	assert_env_fails("TICKPUSH_BIND=", "TICKPUSH_BIND (environment): must be "
					   "a numeric");
	/* redis_host may be a name (resolved asynchronously elsewhere). */
	assert_flag_ok("--redis-host", "redis.example.com");
	assert_flag_ok("--redis-host", "::1");
	assert_env_fails("REDIS_HOST=", "REDIS_HOST (environment): must be a host");
	assert_env_fails("REDIS_HOST=a b", "must be a host");
	assert_env_fails("TICKPUSH_WEB_DEMO_DIR=a\nb",
			 "TICKPUSH_WEB_DEMO_DIR (environment): must not contain "
			 "control characters, got \"a?b\"");
	assert_env_fails("TICKPUSH_LOG_LEVEL=loud",
			 "TICKPUSH_LOG_LEVEL (environment): must be one of");
	assert_flag_ok("--log-level", "WARN");
	assert_env_fails("TICKPUSH_CHANNEL_PREFIX=a*", "must be 1 to 64");
	assert_env_fails("TICKPUSH_CHANNEL_PREFIX=", "must be 1 to 64");
	assert_env_fails("DATABASE_URI=mysql:x", "DATABASE_URI (environment): "
						 "must be empty, a postgresql");
	assert_flag_ok("--database-uri", "postgresql://u:p@localhost/db");
	assert_flag_ok("--database-uri", "host=/tmp dbname=tp");
	assert_flag_ok("--allowed-origins",
		       "https://a.example.com, http://localhost:8080");
	assert_env_fails("TICKPUSH_ALLOWED_ORIGINS=https://a.com/path",
			 "list of origins");
	assert_env_fails("TICKPUSH_ALLOWED_ORIGINS=a.com", "list of origins");
	assert_env_fails("TICKPUSH_ALLOWED_ORIGINS=https://a.com,,https://b.com",
			 "list of origins");
	assert_env_fails("TICKPUSH_REDIS_SOCKET=/tmp/"
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
			 "at most 107 bytes");
}

static void test_env_typos(void **state)
{
	const char *env[] = {"TICKPUSH_PORT=1", "SOME_OTHER=1", NULL};
	struct tp_config cfg;
	struct tp_errdetail err;

	(void)state;
	assert_env_fails("TICKPUSH_PROT=80",
			 "TICKPUSH_PROT (environment): not a tickpush option");
	assert_env_fails("TICKPUSH_redis_host=x",
			 "(did you mean REDIS_HOST?)");
	assert_env_fails("TICKPUSH_CONFIG=/etc/x", "not a tickpush option");
	/* Unrelated variables are not our business. */
	assert_int_equal(load(&cfg, NULL, env, NULL, &err), TP_OK);
	assert_int_equal(cfg.port, 1);
	tp_config_cleanup(&cfg);
}

static void test_env_first_wins(void **state)
{
	const char *env[] = {"TICKPUSH_PORT=1", "TICKPUSH_PORT=2", NULL};
	struct tp_config cfg;
	struct tp_errdetail err;

	(void)state;
	/* Like getenv(): the first entry counts. */
	assert_int_equal(load(&cfg, NULL, env, NULL, &err), TP_OK);
	assert_int_equal(cfg.port, 1);
	tp_config_cleanup(&cfg);
}

static void test_flags(void **state)
{
	struct tp_config cfg;
	struct tp_errdetail err;
	const char *ok[] = {"--help", "--config", "/nonexistent", "-h",
			    "--bind=::", "--check-config", "--version",
			    "--config=/x", "--redis-password", "p w",
			    "--port=1", "--port", "2", "--dev", "yes", NULL};

	(void)state;
	/* Reserved words and --config are skipped; the last flag wins. */
	assert_int_equal(load(&cfg, NULL, NULL, ok, &err), TP_OK);
	assert_string_equal(cfg.bind, "::");
	assert_string_equal(cfg.redis_password, "p w");
	assert_int_equal(cfg.port, 2);
	assert_true(cfg.dev_mode);
	tp_config_cleanup(&cfg);

	{
		const char *a[] = {"--port", NULL};

		assert_int_equal(load(&cfg, NULL, NULL, a, &err), TP_ERR_INVAL);
		assert_string_equal(err.msg, "--port (command line): missing value");
		assert_string_equal(err.field, "port");
	}
	{
		const char *a[] = {"--port", "--bind=::1", NULL};

		assert_int_equal(load(&cfg, NULL, NULL, a, &err), TP_ERR_INVAL);
		assert_string_equal(err.msg, "--port (command line): missing value");
	}
	{
		const char *a[] = {"--config", NULL};

		assert_int_equal(load(&cfg, NULL, NULL, a, &err), TP_ERR_INVAL);
		assert_contains(err.msg, "--config (command line): missing value");
	}
	{
		const char *a[] = {"--prot=1", NULL};

		assert_int_equal(load(&cfg, NULL, NULL, a, &err), TP_ERR_INVAL);
		assert_string_equal(err.msg, "unknown flag --prot");
	}
	{
		const char *a[] = {"--redis_host", "x", NULL};

		assert_int_equal(load(&cfg, NULL, NULL, a, &err), TP_ERR_INVAL);
		assert_contains(err.msg,
				"unknown flag --redis_host (did you mean "
				"--redis-host?)");
	}
	{
		const char *a[] = {"serve", NULL};

		assert_int_equal(load(&cfg, NULL, NULL, a, &err), TP_ERR_INVAL);
		assert_contains(err.msg, "unexpected argument \"serve\"");
	}
	{
		const char *a[] = {"-p", "80", NULL};

		assert_int_equal(load(&cfg, NULL, NULL, a, &err), TP_ERR_INVAL);
		assert_contains(err.msg, "unexpected argument \"-p\"");
	}
	{
		const char *a[] = {"--", NULL};

		assert_int_equal(load(&cfg, NULL, NULL, a, &err), TP_ERR_INVAL);
	}
	{
		/* A bad flag after a good env value still fails the load. */
		const char *env[] = {"TICKPUSH_PORT=5", NULL};
		const char *a[] = {"--port=x", NULL};

		assert_int_equal(load(&cfg, NULL, env, a, &err), TP_ERR_INVAL);
		assert_contains(err.msg, "--port (command line): must be an integer");
		assert_null(cfg.bind);
	}
}

static void test_find_file_arg(void **state)
{
	const char *a1[] = {"tickpush", "--port", "1", "--config", "f.conf", NULL};
	const char *a2[] = {"tickpush", "--config=g.conf", NULL};
	const char *a3[] = {"tickpush", "--config", NULL};
	const char *a4[] = {"tickpush", "--config", "--port=1", NULL};
	const char *a5[] = {"tickpush", NULL};

	(void)state;
	assert_string_equal(tp_config_find_file_arg(5, (char *const *)a1), "f.conf");
	assert_string_equal(tp_config_find_file_arg(2, (char *const *)a2), "g.conf");
	assert_null(tp_config_find_file_arg(2, (char *const *)a3));
	assert_null(tp_config_find_file_arg(3, (char *const *)a4));
	assert_null(tp_config_find_file_arg(1, (char *const *)a5));
}

static void test_print_masks_secrets(void **state)
{
	const char *args[] = {
		"--redis-password", "hunter2-redis",
		"--jwt-secret", "0123456789abcdef0123456789abcdef-jwt",
		"--database-uri", "postgresql://app:s3cr3t@db.example:5432/tp?sslmode=require&password=qs3cr3t",
		NULL};
	const char *conninfo[] = {
		"--database-uri", "host=/tmp password = 'pa\\'ss word' dbname=tp",
		NULL};
	struct tp_config cfg;
	struct tp_errdetail err;
	char *out;

	(void)state;
	assert_int_equal(load(&cfg, NULL, NULL, args, &err), TP_OK);
	out = print_cfg(&cfg);
	assert_null(strstr(out, "hunter2"));
	assert_null(strstr(out, "0123456789abcdef"));
	assert_null(strstr(out, "s3cr3t"));
	assert_contains(out, "\nredis_password ***\n");
	assert_contains(out, "\njwt_secret ***\n");
	assert_contains(out, "\ndatabase_uri postgresql://app:***@db.example:5432/"
			     "tp?sslmode=require&password=***\n");
	assert_contains(out, "\nport 8080\n");
	free(out);
	tp_config_cleanup(&cfg);

	assert_int_equal(load(&cfg, NULL, NULL, conninfo, &err), TP_OK);
	out = print_cfg(&cfg);
	assert_null(strstr(out, "pa\\'ss"));
	assert_null(strstr(out, "ss word"));
	assert_contains(out, "database_uri \"host=/tmp password = *** dbname=tp\"");
	free(out);
	tp_config_cleanup(&cfg);

	/* Unset secrets print as empty, not as a mask. */
	assert_int_equal(load(&cfg, NULL, NULL, NULL, &err), TP_OK);
	out = print_cfg(&cfg);
	assert_contains(out, "redis_password \"\"\n");
	free(out);
	tp_config_cleanup(&cfg);
}

static void test_print_round_trip(void **state)
{
	const char *args[] = {"--web-demo-dir", "/srv/a dir/\"q\"",
			      "--port-file", "=p", "--redis-socket", "#s",
			      "--redis-reconnect-max", "0.3",
			      "--dev", "on", "--port", "0",
			      "--allowed-origins", "https://x.example,http://y:1",
			      NULL};
	struct tp_config cfg, back;
	struct tp_errdetail err;
	char *first, *second;

	(void)state;
	assert_int_equal(load(&cfg, NULL, NULL, args, &err), TP_OK);
	first = print_cfg(&cfg);
	/* What --check-config prints is itself a valid config file. */
	if (load_text(&back, first, &err))
		fail_msg("%s\n%s", err.msg, first);
	assert_string_equal(back.web_demo_dir, "/srv/a dir/\"q\"");
	assert_true(back.redis_reconnect_max == 0.3);
	assert_true(back.dev_mode);
	assert_string_equal(back.port_file, "=p");
	assert_string_equal(back.redis_socket, "#s");
	second = print_cfg(&back);
	assert_string_equal(first, second);
	free(first);
	free(second);
	tp_config_cleanup(&cfg);
	tp_config_cleanup(&back);
}

static void test_help_lists_every_option(void **state)
{
	size_t n;
	const struct tp_config_option *o = tp_config_options(&n);
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	(void)state;
	assert_non_null(f);
	tp_config_print_help(f, "tickpush");
	fclose(f);
	assert_contains(s, "usage: tickpush");
	assert_contains(s, "--check-config");
	for (size_t i = 0; i < n; i++) {
		char line[128];

		snprintf(line, sizeof(line), "  %s ", o[i].flag);
		assert_contains(s, line);
		snprintf(line, sizeof(line), "env %s, file key %s\n", o[i].env,
			 o[i].name);
		assert_contains(s, line);
		assert_contains(s, o[i].help);
	}
	free(s);
}

/* Every option is documented, with its env var, in the example and docs. */
static void test_docs_list_every_option(void **state)
{
	size_t n;
	const struct tp_config_option *o = tp_config_options(&n);
	char *example = slurp(TP_SOURCE_DIR "/tickpush.conf.example");
	char *doc = slurp(TP_SOURCE_DIR "/docs/config.md");
	struct tp_config cfg;
	struct tp_errdetail err;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		char s[160];

		/* The commented default line "# name value" is there... */
		snprintf(s, sizeof(s), "\n# %s ", o[i].name);
		assert_contains(example, s);
		assert_contains(example, o[i].env);
		/* ...and docs/config.md has the row "| `name` | `ENV` | `--flag` |". */
		snprintf(s, sizeof(s), "| `%s` | `%s` | `%s` |", o[i].name,
			 o[i].env, o[i].flag);
		assert_contains(doc, s);
	}
	/* The example parses, and uncommenting nothing leaves the defaults. */
	assert_int_equal(tp_config_load_string(&cfg, example, strlen(example),
					       "tickpush.conf.example", &err),
			 TP_OK);
	tp_config_cleanup(&cfg);
	free(example);
	free(doc);
}

/* The example's commented "# name value" lines, uncommented, are exactly
 * the defaults. */
static void test_example_defaults(void **state)
{
	char *example = slurp(TP_SOURCE_DIR "/tickpush.conf.example");
	char *text = malloc(strlen(example) + 1), *w = text;
	struct tp_config cfg, def;
	struct tp_errdetail err;
	char *a, *b;
	size_t n;
	const struct tp_config_option *o = tp_config_options(&n);

	(void)state;
	assert_non_null(text);
	for (char *line = example; *line;) {
		char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
		bool keep = false;

		for (size_t i = 0; i < n && !keep; i++) {
			size_t k = strlen(o[i].name);

			keep = !strncmp(line, "# ", 2) &&
			       !strncmp(line + 2, o[i].name, k) &&
			       line[2 + k] == ' ';
		}
		if (keep) {
			memcpy(w, line + 2, len - 2);
			w += len - 2;
		}
		line += len;
	}
	*w = '\0';
	if (tp_config_load_string(&cfg, text, strlen(text), "uncommented", &err))
		fail_msg("%s", err.msg);
	assert_int_equal(load(&def, NULL, NULL, NULL, &err), TP_OK);
	a = print_cfg(&cfg);
	b = print_cfg(&def);
	assert_string_equal(a, b);
	free(a);
	free(b);
	tp_config_cleanup(&cfg);
	tp_config_cleanup(&def);
	free(text);
	free(example);
}

static void test_oom(void **state)
{
	const char *env[] = {"REDIS_HOST=h", NULL};
	const char *args[] = {"--bind=::1", NULL};
	struct tp_config cfg;
	struct tp_errdetail err;
	char path[64];
	size_t i;
	int rc;

	(void)state;
	write_tmp(path, "web_demo_dir /srv\n");
	for (i = 1; i < 1000; i++) {
		tp_alloc_fail_at(i);
		rc = load(&cfg, path, env, args, &err);
		if (rc == TP_OK)
			break;
		assert_int_equal(rc, TP_ERR_NOMEM);
		assert_null(cfg.bind);
	}
	tp_alloc_fail_at(0);
	assert_true(i > 1);
	assert_int_equal(rc, TP_OK);
	assert_string_equal(cfg.web_demo_dir, "/srv");
	assert_string_equal(cfg.redis_host, "h");
	assert_string_equal(cfg.bind, "::1");
	tp_config_cleanup(&cfg);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_defaults),
		TP_TEST(test_file_syntax),
		TP_TEST(test_file_errors),
		TP_TEST(test_real_file_and_precedence),
		TP_TEST(test_int_validation),
		TP_TEST(test_double_validation),
		TP_TEST(test_redis_ping_combination),
		TP_TEST(test_tls_combination),
		TP_TEST(test_bool_validation),
		TP_TEST(test_string_validation),
		TP_TEST(test_env_typos),
		TP_TEST(test_env_first_wins),
		TP_TEST(test_flags),
		TP_TEST(test_find_file_arg),
		TP_TEST(test_print_masks_secrets),
		TP_TEST(test_print_round_trip),
		TP_TEST(test_help_lists_every_option),
		TP_TEST(test_docs_list_every_option),
		TP_TEST(test_example_defaults),
		TP_TEST(test_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
