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
#include <stddef.h>
#include <stdio.h>

#include "tickpush/err.h"

struct tp_config {
	/* Listener. */
	char *bind;                 /* TICKPUSH_BIND, default 127.0.0.1 */
	int port;                   /* TICKPUSH_PORT, default 8080; 0 = any free port */
	char *port_file;            /* TICKPUSH_PORT_FILE: write the bound port here */
	char *web_demo_dir;         /* TICKPUSH_WEB_DEMO_DIR, "" = not served */
	/* TLS on the listener (https and wss); "" = plain HTTP. */
	char *tls_cert;             /* TICKPUSH_TLS_CERT, PEM certificate (+ chain) */
	char *tls_key;              /* TICKPUSH_TLS_KEY, PEM private key */
	char *tls_ca;               /* TICKPUSH_TLS_CA, PEM intermediates sent after the cert */
	char *tls_plain_http;       /* TICKPUSH_TLS_PLAIN_HTTP, refuse | redirect */
	/* Redis. */
	char *redis_host;           /* REDIS_HOST, default 127.0.0.1 */
	int redis_port;             /* REDIS_PORT, default 6379 */
	char *redis_socket;         /* TICKPUSH_REDIS_SOCKET, unix socket path, "" = TCP */
	int redis_db;               /* REDIS_DB, default 0 */
	char *redis_password;       /* REDIS_PASSWORD, "" = none */
	char *channel_prefix;       /* TICKPUSH_CHANNEL_PREFIX, default "tickstock" */
	double redis_reconnect_max; /* TICKPUSH_REDIS_RECONNECT_MAX seconds, default 5 */
	double redis_connect_timeout; /* TICKPUSH_REDIS_CONNECT_TIMEOUT, default 3 */
	double redis_ping_interval; /* TICKPUSH_REDIS_PING_INTERVAL s of silence before a PING, default 1; 0 = off */
	double redis_ping_timeout;  /* TICKPUSH_REDIS_PING_TIMEOUT s of silence = down, default 3 */
	bool redis_write_through;   /* TICKPUSH_REDIS_WRITE_THROUGH, default true */
	bool redis_warm_start;      /* TICKPUSH_REDIS_WARM_START, default true */
	char *cluster;              /* TICKPUSH_CLUSTER: "off" (default) or "redis" */
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
	int http_idle_timeout;      /* TICKPUSH_HTTP_IDLE_TIMEOUT s, default 5 (before the first request) */
	int http_keepalive_timeout; /* TICKPUSH_HTTP_KEEPALIVE_TIMEOUT s, default 30 */
	int max_connections;        /* TICKPUSH_MAX_CONNECTIONS, default 10000 */
	double shutdown_timeout;    /* TICKPUSH_SHUTDOWN_TIMEOUT s, default 4 */
	char *workers;              /* TICKPUSH_WORKERS, "1" (default), "N" or "auto" */
	/* Logging. */
	char *log_level;            /* TICKPUSH_LOG_LEVEL, default info */
	char *log_format;           /* TICKPUSH_LOG_FORMAT, keyvalue (default) or json */
	/* Added by the config module (not wired yet; see docs/config.md). */
	/* Auth and access. */
	bool require_auth_everywhere; /* TICKPUSH_REQUIRE_AUTH, default false */
	char *jwt_secret;           /* TICKPUSH_JWT_SECRET, secret, "" = unset */
	double jwt_previous_grace;  /* TICKPUSH_JWT_PREVIOUS_GRACE s the replaced secret still verifies, default 3600 */
	double token_ttl;           /* TICKPUSH_TOKEN_TTL s, default 86400 */
	double login_rate;          /* TICKPUSH_LOGIN_RATE attempts/s refill, default 0.2 */
	int login_burst;            /* TICKPUSH_LOGIN_BURST, default 5 */
	double login_account_rate;  /* TICKPUSH_LOGIN_ACCOUNT_RATE failures/s refill, default 0.05 */
	int login_account_burst;    /* TICKPUSH_LOGIN_ACCOUNT_BURST, default 10 */
	double user_check_ttl;      /* TICKPUSH_USER_CHECK_TTL s, default 5 */
	bool dev_mode;              /* TICKPUSH_DEV, default false */
	char *allowed_origins;      /* TICKPUSH_ALLOWED_ORIGINS, comma list, "" = same host (+ localhost in dev) */
	char *cors_origins;         /* TICKPUSH_CORS_ORIGINS, comma list or "*", "" = allowed_origins */
	char *metrics_token;        /* TICKPUSH_METRICS_TOKEN, secret, "" = /metrics as other routes */
	char *trusted_proxies;      /* TICKPUSH_TRUSTED_PROXIES, addresses/CIDRs, "" = none */
	/* Database. */
	double db_query_timeout;    /* TICKPUSH_DB_QUERY_TIMEOUT s, default 5 */
	int db_pool_size;           /* TICKPUSH_DB_POOL_SIZE, default 4 */
	double symbols_refresh_interval; /* TICKPUSH_SYMBOLS_REFRESH s, default 300 */
	/* WebSocket limits (docs/protocol.md "Limits"). */
	int ws_max_frame;           /* TICKPUSH_WS_MAX_FRAME bytes, default 65536 */
	int ws_max_subscriptions;   /* TICKPUSH_WS_MAX_SUBSCRIPTIONS, default 32 */
	double ws_rate;             /* TICKPUSH_WS_RATE frames/s, default 50 */
	int ws_burst;               /* TICKPUSH_WS_BURST frames, default 100 */
	int ws_queue_max_bytes;     /* TICKPUSH_WS_QUEUE_MAX_BYTES, default 1048576 */
	double ws_idle_timeout;     /* TICKPUSH_WS_IDLE_TIMEOUT s, default 60 */
	double ws_auth_timeout;     /* TICKPUSH_WS_AUTH_TIMEOUT s, default 10 */
	int ws_write_delay_ms;      /* TICKPUSH_WS_WRITE_DELAY_MS, default 0 */
	int history_events;         /* TICKPUSH_HISTORY_EVENTS, default 10000 */
	double history_seconds;     /* TICKPUSH_HISTORY_SECONDS, default 600 */
};

/* Fills cfg with defaults, then applies the file (if path != NULL), then
 * envp (NULL-terminated "NAME=value" array; NULL = none), then argv flags
 * (argv[0] skipped; "--name=value" or "--name value", bool flags too).
 * "--config FILE" / "--config=FILE" is skipped here (main finds it with
 * tp_config_find_file_arg and passes it as path), and so are the words main
 * handles itself: "--help", "-h", "--check-config" and "--version". Any
 * other word is an error: unknown flags, non-option words, a flag without
 * its value. Unknown file keys, duplicate file keys and environment
 * variables with our TICKPUSH_ prefix that are not options are errors too.
 * On error returns TP_ERR_INVAL (TP_ERR_IO if the file cannot be read,
 * TP_ERR_NOMEM), fills err with a message naming the option and where it
 * came from (err->field = the option's file name, when there is one;
 * secret values are never echoed), and leaves cfg cleaned up. On success
 * the caller owns cfg and frees it with tp_config_cleanup. */
int tp_config_load(struct tp_config *cfg, const char *path, char *const *envp,
		   int argc, char *const *argv, struct tp_errdetail *err);
/* Defaults, then `text` (len bytes, config-file syntax, need not be NUL
 * terminated) as if read from a file called `origin` (used in messages;
 * NULL = "<string>"), then validation. Same errors and ownership as
 * tp_config_load. Used by the fuzz harness and tests. */
int tp_config_load_string(struct tp_config *cfg, const char *text, size_t len,
			  const char *origin, struct tp_errdetail *err);
/* NULL-safe; frees the strings and zeroes cfg. */
void tp_config_cleanup(struct tp_config *cfg);

/* Writes the --help text (every option, its env var, default, meaning). */
void tp_config_print_help(FILE *out, const char *argv0);
/* Writes the effective configuration in config-file syntax, secrets masked
 * (redis_password, jwt_secret, the password inside database_uri). */
void tp_config_print(FILE *out, const struct tp_config *cfg);

/* Finds "--config FILE" / "--config=FILE" in argv (NULL if absent) so the
 * file can be read before the flags that override it. The result points
 * into argv. */
const char *tp_config_find_file_arg(int argc, char *const *argv);

/* The option table, read-only (docs, tests, --help). */
enum tp_config_type {
	TP_CONFIG_STRING = 0,
	TP_CONFIG_INT,
	TP_CONFIG_DOUBLE,
	TP_CONFIG_BOOL,
};
#define TP_CONFIG_SECRET 0x1u /* value masked in output and errors */
struct tp_config_option {
	const char *name;     /* file key, e.g. "redis_port" */
	const char *env;      /* environment variable, e.g. "REDIS_PORT" */
	const char *flag;     /* command-line flag, e.g. "--redis-port" */
	enum tp_config_type type;
	size_t offset;        /* offsetof(struct tp_config, field) */
	const char *def;      /* default, in config-file syntax */
	double min, max;      /* bounds for INT and DOUBLE */
	unsigned flags;       /* TP_CONFIG_SECRET */
	/* Extra check of a STRING value after parsing: NULL = fine, else
	 * what the value must be ("must be ..."). NULL pointer = none. */
	const char *(*check)(const char *value);
	const char *help;     /* one line */
};
/* Returns the table and stores its length in *n. */
const struct tp_config_option *tp_config_options(size_t *n);

#endif
