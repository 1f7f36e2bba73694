/*
 * config.h - validated, immutable configuration (server/core/config.c).
 *
 * Sources, later ones win: built-in defaults < config file (--config FILE,
 * "name value" lines, '#' comments) < environment variables < command-line
 * flags (--name=value or --name value). Every option has one row in a
 * table giving its file name, environment variable, flag, type, bounds and
 * default; tickpush.conf.example documents each one. Invalid input stops
 * startup with a message naming the option and the source.
 */
#ifndef TICKPUSH_CONFIG_H
#define TICKPUSH_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "tickpush/err.h"

struct tp_config {
	/* Listener. */
	char *bind;                 /* TICKPUSH_BIND, default 127.0.0.1 */
	int port;                   /* TICKPUSH_PORT, default 8080; 0 = any free port */
	char *port_file;            /* TICKPUSH_PORT_FILE: write the bound port here */
	char *web_demo_dir;         /* TICKPUSH_WEB_DEMO_DIR, "" = not served */
	/* Redis. */
	char *redis_host;           /* REDIS_HOST, default 127.0.0.1 */
	int redis_port;             /* REDIS_PORT, default 6379 */
	char *redis_socket;         /* TICKPUSH_REDIS_SOCKET, unix socket path, "" = TCP */
	int redis_db;               /* REDIS_DB, default 0 */
	char *redis_password;       /* REDIS_PASSWORD, "" = none */
	char *channel_prefix;       /* TICKPUSH_CHANNEL_PREFIX, default "tickstock" */
	double redis_reconnect_max; /* TICKPUSH_REDIS_RECONNECT_MAX seconds, default 5 */
	double redis_connect_timeout; /* TICKPUSH_REDIS_CONNECT_TIMEOUT, default 3 */
	bool redis_write_through;   /* TICKPUSH_REDIS_WRITE_THROUGH, default true */
	bool redis_warm_start;      /* TICKPUSH_REDIS_WARM_START, default true */
	double heartbeat_interval;  /* TICKPUSH_HEARTBEAT_INTERVAL s, default 10 */
	/* Pattern cache. */
	double pattern_cache_ttl;   /* PATTERN_CACHE_TTL, default 3600 */
	double api_response_cache_ttl; /* API_RESPONSE_CACHE_TTL, default 30 */
	int max_patterns;           /* TICKPUSH_MAX_PATTERNS, default 100000 */
	int response_cache_entries; /* TICKPUSH_RESPONSE_CACHE_ENTRIES, default 1024 */
	/* Database (issue 3). */
	char *database_uri;         /* DATABASE_URI, "" = no database */
	/* HTTP limits. */
	int http_header_max;        /* TICKPUSH_HTTP_HEADER_MAX bytes, default 8192 */
	int http_timeout;           /* TICKPUSH_HTTP_TIMEOUT s, default 10 (request must arrive within) */
	int http_keepalive_timeout; /* TICKPUSH_HTTP_KEEPALIVE_TIMEOUT s, default 30 */
	int max_connections;        /* TICKPUSH_MAX_CONNECTIONS, default 10000 */
	double shutdown_timeout;    /* TICKPUSH_SHUTDOWN_TIMEOUT s, default 4 */
	/* Logging. */
	char *log_level;            /* TICKPUSH_LOG_LEVEL, default info */
};

/* Fills cfg with defaults, then applies the file (if path != NULL), then
 * envp (NULL-terminated "NAME=value" array; NULL = none), then argv flags
 * (argv[0] skipped; non-option words are an error unless they are listed
 * in `positional_ok`). On error returns TP_ERR_INVAL, fills err with a
 * message naming the option and where it came from, and leaves cfg cleaned
 * up. Unknown file keys, environment variables with our TICKPUSH_ prefix
 * that are not options, and unknown flags are errors. */
int tp_config_load(struct tp_config *cfg, const char *path, char *const *envp,
		   int argc, char *const *argv, struct tp_errdetail *err);
void tp_config_cleanup(struct tp_config *cfg);

/* Writes the --help text (every option, its env var, default, meaning). */
void tp_config_print_help(FILE *out, const char *argv0);
/* Writes the effective configuration, secrets masked (--check-config). */
void tp_config_print(FILE *out, const struct tp_config *cfg);

/* Finds "--config FILE" / "--config=FILE" in argv (NULL if absent) so the
 * file can be read before the flags that override it. */
const char *tp_config_find_file_arg(int argc, char *const *argv);

#endif
