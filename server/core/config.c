/*
 * config.c - the table-driven configuration (see config.h).
 *
 * Responsibilities: one static table, `options`, lists every option with its
 * file key, environment variable, flag, type, field offset, default, bounds,
 * flags and help text. Everything else (defaults, the file parser, the
 * environment and flag passes, validation, --help, --check-config output)
 * walks that table, so an option is added in exactly one place (plus its
 * field in struct tp_config, tickpush.conf.example and docs/config.md,
 * which the unit test cross-checks).
 *
 * Precedence: defaults < file < environment < flags. Each source goes
 * through set_value(), which parses strictly and validates before it
 * replaces the previous value, so a struct tp_config that tp_config_load
 * returned is always fully valid. Defaults are strings parsed by the same
 * code, so a bad default fails every load (and the unit test).
 *
 * No I/O apart from reading the one config file, and no DNS: "bind" must
 * be numeric (or "localhost"); "redis_host" may be a name, which the Redis
 * module resolves without blocking the loop.
 *
 * Ownership: string fields are tp_strdup'ed copies owned by the struct;
 * tp_config_cleanup frees them. Secret values (TP_CONFIG_SECRET) are never
 * echoed in error messages and are masked by tp_config_print.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tickpush/alloc.h"
#include "tickpush/ascii.h"
#include "tickpush/buf.h"
#include "tickpush/config.h"
#include "tickpush/log.h"
#include "tickpush/netaddr.h"
#include "tickpush/supervise.h"

#define LINE_MAX_BYTES 4096           /* longest config-file line */
#define FILE_MAX_BYTES (1024 * 1024)  /* largest config file */
/* Longest value from any source: small enough that tp_config_print's
 * quoted and escaped form still fits in one file line. */
#define VALUE_MAX_BYTES 1024
#define SUN_PATH_MAX 107              /* sizeof(sockaddr_un.sun_path) - 1 */
#define ENV_PREFIX "TICKPUSH_"

/* ---- extra checks for string options -------------------------------- */

static const char *check_bind(const char *v)
{
	unsigned char a[16];

	if (!strcmp(v, "localhost") || inet_pton(AF_INET, v, a) == 1 ||
	    inet_pton(AF_INET6, v, a) == 1)
		return NULL;
	return "must be a numeric IPv4 or IPv6 address or \"localhost\" "
	       "(host names are not resolved)";
}

static const char *check_host(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 253)
		goto bad;
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-_:%", *p))
			goto bad;
	return NULL;
bad:
	return "must be a host name or an IP address";
}

static const char *check_socket_path(const char *v)
{
	return strlen(v) <= SUN_PATH_MAX ? NULL
					 : "must be at most 107 bytes long";
}

static const char *check_channel_prefix(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 64)
		goto bad;
	/* Glob characters would change meaning under PSUBSCRIBE. */
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr("*?[]\\", *p))
			goto bad;
	return NULL;
bad:
	return "must be 1 to 64 characters without spaces or *?[]\\";
}

static const char *check_log_level(const char *v)
{
	return tp_log_level_parse(v) >= 0
		       ? NULL
		       : "must be one of debug, info, notice, warn, error";
}

static const char *check_database_uri(const char *v)
{
	if (!*v || !strncmp(v, "postgresql://", 13) ||
	    !strncmp(v, "postgres://", 11) || strchr(v, '='))
		return NULL;
	return "must be empty, a postgresql:// URI or a key=value "
	       "connection string";
}

static const char *check_workers(const char *v)
{
	return tp_workers_parse(v, 1) ? NULL
				      : "must be auto or a number from 1 to 256";
}

static const char *check_jwt_secret(const char *v)
{
	/* HS256 wants a key at least as long as the hash (RFC 7518 3.2). */
	return !*v || strlen(v) >= 32 ? NULL
				      : "must be empty or at least 32 bytes long";
}

static const char *check_plain_http(const char *v)
{
	return !strcmp(v, "refuse") || !strcmp(v, "redirect")
		       ? NULL
		       : "must be refuse or redirect";
}

/* One origin: http(s)://host[:port], no path, no spaces. */
static bool origin_ok(const char *s, size_t n)
{
	size_t skip;

	if (n > 8 && !strncmp(s, "https://", 8))
		skip = 8;
	else if (n > 7 && !strncmp(s, "http://", 7))
		skip = 7;
	else
		return false;
	for (size_t i = skip; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(".-_:[]", s[i]))
			return false;
	return true;
}

static const char *check_origins(const char *v)
{
	const char *p = v;

	if (!*v)
		return NULL;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		while (n && *p == ' ') {
			p++;
			n--;
		}
		while (n && p[n - 1] == ' ')
			n--;
		if (!origin_ok(p, n))
			return "must be a comma-separated list of origins "
			       "scheme://host[:port] (http or https)";
		if (!end)
			return NULL;
		p = end + 1;
	}
}

static const char *check_cluster(const char *v)
{
	return strcmp(v, "off") && strcmp(v, "redis") ? "must be off or redis" : NULL;
}

static const char *check_proxies(const char *v)
{
	struct tp_cidr_list l;

	return tp_cidr_list_parse(v, &l, NULL)
		       ? "must be a comma-separated list of IPv4/IPv6 addresses "
			 "or CIDRs (10.0.0.0/8, ::1), host bits clear"
		       : NULL;
}

/* cors_origins: like allowed_origins, or "*" alone. */
static const char *check_cors_origins(const char *v)
{
	return !strcmp(v, "*") ? NULL : check_origins(v);
}

static const char *check_metrics_token(const char *v)
{
	return !*v || strlen(v) >= 16 ? NULL : "must be empty or at least 16 bytes long";
}

static const char *check_log_format(const char *v)
{
	return tp_log_format_parse(v) >= 0 ? NULL : "must be keyvalue or json";
}

/* ---- the table ------------------------------------------------------ */

#define OPT(name, env, flag, type, field, def, min, max, flags, check, help) \
	{name, env, flag, TP_CONFIG_##type, offsetof(struct tp_config, field), \
	 def, min, max, flags, check, help}
#define STR(name, env, flag, def, flags, check, help)                          \
	OPT(#name, env, flag, STRING, name, def, 0, 0, flags, check, help)
#define INT(name, env, flag, def, min, max, help)                              \
	OPT(#name, env, flag, INT, name, def, min, max, 0, NULL, help)
#define DBL(name, env, flag, def, min, max, help)                              \
	OPT(#name, env, flag, DOUBLE, name, def, min, max, 0, NULL, help)
#define BOOL(name, env, flag, def, help)                                       \
	OPT(#name, env, flag, BOOL, name, def, 0, 1, 0, NULL, help)
#define SECRET TP_CONFIG_SECRET

static const struct tp_config_option options[] = {
	/* Listener. */
	STR(bind, "TICKPUSH_BIND", "--bind", "127.0.0.1", 0, check_bind,
	    "Listen address: a numeric IPv4/IPv6 address or localhost"),
	INT(port, "TICKPUSH_PORT", "--port", "8080", 0, 65535,
	    "TCP port to listen on; 0 = any free port (see port_file)"),
	STR(port_file, "TICKPUSH_PORT_FILE", "--port-file", "", 0, NULL,
	    "Write the bound port to this file once listening; empty = no file"),
	STR(web_demo_dir, "TICKPUSH_WEB_DEMO_DIR", "--web-demo-dir", "", 0, NULL,
	    "Directory of the web demo to serve; empty = not served"),
	/* TLS. */
	STR(tls_cert, "TICKPUSH_TLS_CERT", "--tls-cert", "", 0, NULL,
	    "PEM certificate (chain) file; set with tls_key for https and wss; empty = plain HTTP"),
	STR(tls_key, "TICKPUSH_TLS_KEY", "--tls-key", "", 0, NULL,
	    "PEM private key file of tls_cert"),
	STR(tls_ca, "TICKPUSH_TLS_CA", "--tls-ca", "", 0, NULL,
	    "PEM intermediate certificates sent after tls_cert; empty = none"),
	STR(tls_plain_http, "TICKPUSH_TLS_PLAIN_HTTP", "--tls-plain-http",
	    "refuse", 0, check_plain_http,
	    "Plain HTTP on the TLS port: refuse (close) or redirect (301 to https://host/)"),
	/* Redis. */
	STR(redis_host, "REDIS_HOST", "--redis-host", "127.0.0.1", 0, check_host,
	    "Redis host name or address (resolved without blocking)"),
	INT(redis_port, "REDIS_PORT", "--redis-port", "6379", 1, 65535,
	    "Redis TCP port"),
	STR(redis_socket, "TICKPUSH_REDIS_SOCKET", "--redis-socket", "", 0,
	    check_socket_path,
	    "Redis unix socket path; empty = TCP to redis_host:redis_port"),
	INT(redis_db, "REDIS_DB", "--redis-db", "0", 0, 65535,
	    "Redis database number for the pattern cache (SELECT)"),
	STR(redis_password, "REDIS_PASSWORD", "--redis-password", "", SECRET,
	    NULL, "Redis password (AUTH); empty = none"),
	STR(channel_prefix, "TICKPUSH_CHANNEL_PREFIX", "--channel-prefix",
	    "tickstock", 0, check_channel_prefix,
	    "Prefix of the pub/sub channels and cache keys"),
	DBL(redis_reconnect_max, "TICKPUSH_REDIS_RECONNECT_MAX",
	    "--redis-reconnect-max", "5", 0.1, 3600,
	    "Longest wait between Redis reconnect attempts, seconds"),
	DBL(redis_connect_timeout, "TICKPUSH_REDIS_CONNECT_TIMEOUT",
	    "--redis-connect-timeout", "3", 0.1, 600,
	    "Redis connect timeout, seconds"),
	DBL(redis_ping_interval, "TICKPUSH_REDIS_PING_INTERVAL",
	    "--redis-ping-interval", "1", 0, 3600,
	    "Seconds of silence before a Redis connection is PINGed; 0 = no check"),
	DBL(redis_ping_timeout, "TICKPUSH_REDIS_PING_TIMEOUT",
	    "--redis-ping-timeout", "3", 0.1, 3600,
	    "Seconds of silence after which a Redis connection is declared down"),
	BOOL(redis_write_through, "TICKPUSH_REDIS_WRITE_THROUGH",
	     "--redis-write-through", "yes",
	     "Write patterns through to the Redis cache layout"),
	BOOL(redis_warm_start, "TICKPUSH_REDIS_WARM_START", "--redis-warm-start",
	     "yes", "Load cached patterns from Redis at start"),
	STR(cluster, "TICKPUSH_CLUSTER", "--cluster", "off", 0, check_cluster,
	    "off = one instance; redis = share one stream position through Redis"),
	DBL(heartbeat_interval, "TICKPUSH_HEARTBEAT_INTERVAL",
	    "--heartbeat-interval", "10", 0.1, 3600,
	    "How often the producer heartbeat key is checked, seconds"),
	/* Pattern cache. */
	DBL(pattern_cache_ttl, "PATTERN_CACHE_TTL", "--pattern-cache-ttl", "3600",
	    1, 31536000,
	    "Pattern lifetime when an event has no expires_at, seconds"),
	DBL(api_response_cache_ttl, "API_RESPONSE_CACHE_TTL",
	    "--api-response-cache-ttl", "30", 0, 86400,
	    "Lifetime of a cached /api/patterns/scan response, seconds"),
	INT(max_patterns, "TICKPUSH_MAX_PATTERNS", "--max-patterns", "100000", 1,
	    10000000, "Most patterns kept; the oldest is evicted when full"),
	INT(response_cache_entries, "TICKPUSH_RESPONSE_CACHE_ENTRIES",
	    "--response-cache-entries", "1024", 1, 1000000,
	    "Most entries in the scan response cache (LRU)"),
	/* Database. */
	STR(database_uri, "DATABASE_URI", "--database-uri", "", SECRET,
	    check_database_uri,
	    "PostgreSQL connection (URI or key=value); empty = no database"),
	DBL(db_query_timeout, "TICKPUSH_DB_QUERY_TIMEOUT", "--db-query-timeout",
	    "5", 0.1, 600, "PostgreSQL query timeout, seconds"),
	INT(db_pool_size, "TICKPUSH_DB_POOL_SIZE", "--db-pool-size", "4", 1, 64,
	    "PostgreSQL connections kept open"),
	DBL(symbols_refresh_interval, "TICKPUSH_SYMBOLS_REFRESH",
	    "--symbols-refresh", "300", 1, 86400,
	    "How often symbols and universes are reloaded, seconds"),
	/* HTTP. */
	INT(http_header_max, "TICKPUSH_HTTP_HEADER_MAX", "--http-header-max",
	    "8192", 1024, 1048576, "Largest HTTP request header, bytes"),
	INT(http_timeout, "TICKPUSH_HTTP_TIMEOUT", "--http-timeout", "10", 1,
	    3600, "Seconds a client has to send a whole request"),
	INT(http_idle_timeout, "TICKPUSH_HTTP_IDLE_TIMEOUT", "--http-idle-timeout",
	    "5", 1, 3600,
	    "Seconds a new connection may stay silent before its first request"),
	INT(http_keepalive_timeout, "TICKPUSH_HTTP_KEEPALIVE_TIMEOUT",
	    "--http-keepalive-timeout", "30", 1, 3600,
	    "Idle keep-alive connections are closed after this many seconds"),
	INT(max_connections, "TICKPUSH_MAX_CONNECTIONS", "--max-connections",
	    "10000", 1, 1000000,
	    "Most open client connections (16 more may only probe and scrape)"),
	DBL(shutdown_timeout, "TICKPUSH_SHUTDOWN_TIMEOUT", "--shutdown-timeout",
	    "4", 0, 600, "Seconds to drain clients on shutdown before exiting"),
	/* Processes. */
	STR(workers, "TICKPUSH_WORKERS", "--workers", "1", 0, check_workers,
	    "Worker processes sharing the port; auto = one per core; 1 = no supervisor"),
	/* Auth and access. */
	BOOL(require_auth_everywhere, "TICKPUSH_REQUIRE_AUTH", "--require-auth",
	     "no", "Require a token on every endpoint, public ones included"),
	STR(jwt_secret, "TICKPUSH_JWT_SECRET", "--jwt-secret", "", SECRET,
	    check_jwt_secret,
	    "HS256 secret for login tokens (>= 32 bytes); empty = unset"),
	DBL(jwt_previous_grace, "TICKPUSH_JWT_PREVIOUS_GRACE",
	    "--jwt-previous-grace", "3600", 0, 31536000,
	    "After a reload changes jwt_secret, seconds the previous secret still verifies tokens"),
	DBL(token_ttl, "TICKPUSH_TOKEN_TTL", "--token-ttl", "86400", 5, 31536000,
	    "Lifetime of a login token, seconds"),
	DBL(login_rate, "TICKPUSH_LOGIN_RATE", "--login-rate", "0.2", 0.001, 1000,
	    "Login attempts per second a client address regains"),
	INT(login_burst, "TICKPUSH_LOGIN_BURST", "--login-burst", "5", 1, 100000,
	    "Login attempts a client address may make at once"),
	DBL(login_account_rate, "TICKPUSH_LOGIN_ACCOUNT_RATE",
	    "--login-account-rate", "0.05", 0.0001, 1000,
	    "Failed logins per second an account regains"),
	INT(login_account_burst, "TICKPUSH_LOGIN_ACCOUNT_BURST",
	    "--login-account-burst", "10", 1, 100000,
	    "Failed logins an account may have at once, from any addresses"),
	DBL(user_check_ttl, "TICKPUSH_USER_CHECK_TTL", "--user-check-ttl", "5",
	    1, 3600, "Seconds a token's account is known to exist (or not) before it is checked again"),
	BOOL(dev_mode, "TICKPUSH_DEV", "--dev", "no",
	     "Development mode (e.g. localhost origins allowed)"),
	STR(allowed_origins, "TICKPUSH_ALLOWED_ORIGINS", "--allowed-origins", "",
	    0, check_origins,
	    "Comma list of allowed Origins; empty = same host (+ localhost in dev)"),
	STR(cors_origins, "TICKPUSH_CORS_ORIGINS", "--cors-origins", "", 0,
	    check_cors_origins,
	    "Comma list of Origins allowed cross-origin REST/SSE calls, or *; empty = allowed_origins"),
	STR(metrics_token, "TICKPUSH_METRICS_TOKEN", "--metrics-token", "", SECRET,
	    check_metrics_token,
	    "Bearer token that /metrics then requires (>= 16 bytes), also with require_auth; empty = none"),
	STR(trusted_proxies, "TICKPUSH_TRUSTED_PROXIES", "--trusted-proxies", "",
	    0, check_proxies,
	    "Comma list of proxy addresses/CIDRs whose X-Forwarded-For is believed"),
	/* WebSocket limits. */
	INT(ws_max_frame, "TICKPUSH_WS_MAX_FRAME", "--ws-max-frame", "65536",
	    1024, 16777216, "Largest frame a client may send, bytes (close 1009)"),
	INT(ws_max_subscriptions, "TICKPUSH_WS_MAX_SUBSCRIPTIONS",
	    "--ws-max-subscriptions", "32", 1, 10000,
	    "Most subscriptions per WebSocket session"),
	DBL(ws_rate, "TICKPUSH_WS_RATE", "--ws-rate", "50", 0.1, 100000,
	    "Client frames per second allowed (token bucket rate)"),
	INT(ws_burst, "TICKPUSH_WS_BURST", "--ws-burst", "100", 1, 100000,
	    "Client frames allowed in a burst (token bucket size)"),
	INT(ws_queue_max_bytes, "TICKPUSH_WS_QUEUE_MAX_BYTES",
	    "--ws-queue-max-bytes", "1048576", 4096, 1073741824,
	    "Queued outgoing bytes per session before close 4008"),
	DBL(ws_idle_timeout, "TICKPUSH_WS_IDLE_TIMEOUT", "--ws-idle-timeout",
	    "60", 1, 86400,
	    "Close a session that sends nothing this long after a ping, seconds"),
	DBL(ws_auth_timeout, "TICKPUSH_WS_AUTH_TIMEOUT", "--ws-auth-timeout",
	    "10", 1, 3600, "Seconds allowed for the first auth frame"),
	INT(ws_write_delay_ms, "TICKPUSH_WS_WRITE_DELAY_MS",
	    "--ws-write-delay-ms", "0", 0, 1000,
	    "Push events may wait this long so more share a write, ms (0 = write at once)"),
	INT(history_events, "TICKPUSH_HISTORY_EVENTS", "--history-events",
	    "10000", 0, 10000000, "Events kept for resume (since)"),
	DBL(history_seconds, "TICKPUSH_HISTORY_SECONDS", "--history-seconds",
	    "600", 0, 86400, "Longest age of an event kept for resume, seconds"),
	/* Logging. */
	STR(log_level, "TICKPUSH_LOG_LEVEL", "--log-level", "info", 0,
	    check_log_level, "Least severe level logged: debug info notice warn error"),
	STR(log_format, "TICKPUSH_LOG_FORMAT", "--log-format", "keyvalue", 0,
	    check_log_format, "Log line format: keyvalue or json (one object per line)"),
};

#undef OPT
#undef STR
#undef INT
#undef DBL
#undef BOOL
#undef SECRET

#define N_OPTIONS TP_ARRAY_SIZE(options)

const struct tp_config_option *tp_config_options(size_t *n)
{
	*n = N_OPTIONS;
	return options;
}

/* Words main handles itself; tp_config_load skips them. */
static const char *const reserved_flags[] = {"--help", "-h", "--check-config",
					     "--version"};

/* ---- sources and error messages ------------------------------------- */

enum src_kind { SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_FLAG };

struct src {
	enum src_kind kind;
	const char *file; /* SRC_FILE */
	unsigned line;    /* SRC_FILE */
};

/* The message prefix naming the option and its source: "file:line: name",
 * "ENV (environment)", "--flag (command line)". */
static void where(char *out, size_t n, const struct tp_config_option *o,
		  const struct src *s)
{
	switch (s->kind) {
	case SRC_FILE:
		snprintf(out, n, "%s:%u: %s", s->file, s->line, o->name);
		break;
	case SRC_ENV:
		snprintf(out, n, "%s (environment)", o->env);
		break;
	case SRC_FLAG:
		snprintf(out, n, "%s (command line)", o->flag);
		break;
	case SRC_DEFAULT:
		snprintf(out, n, "%s (default)", o->name);
		break;
	}
}

static int bad_value(struct tp_errdetail *err, const struct tp_config_option *o,
		     const struct src *s, const char *why, const char *value)
{
	char w[160], shown[41];
	size_t n = 0;

	where(w, sizeof(w), o, s);
	if (o->flags & TP_CONFIG_SECRET)
		return tp_errdetail_set(err, TP_ERR_INVAL, o->name, "%s: %s", w,
					why);
	/* At most 40 bytes, control bytes shown as '?', so the message
	 * stays one readable line. */
	for (; value[n] && n < sizeof(shown) - 1; n++)
		shown[n] = (unsigned char)value[n] < ' ' || value[n] == 0x7f
				   ? '?'
				   : value[n];
	shown[n] = '\0';
	return tp_errdetail_set(err, TP_ERR_INVAL, o->name,
				"%s: %s, got \"%s%s\"", w, why, shown,
				value[n] ? "..." : "");
}

/* ---- strict parsers -------------------------------------------------- */

/* Digits with an optional sign, nothing else (strtoll alone would accept
 * leading spaces, and strtod hex, "inf" and "nan"). */
static bool parse_int(const char *s, long long *out)
{
	const char *p = s;
	char *end;

	if (*p == '+' || *p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return false;
	for (; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static bool parse_double(const char *s, double *out)
{
	char *end;

	if (!*s || strspn(s, "0123456789.eE+-") != strlen(s))
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return *end == '\0' && errno != ERANGE && isfinite(*out);
}

static int parse_bool(const char *s)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < TP_ARRAY_SIZE(yes); i++) {
		if (!tp_ascii_casecmp(s, yes[i]))
			return 1;
		if (!tp_ascii_casecmp(s, no[i]))
			return 0;
	}
	return -1;
}

static char **str_field(struct tp_config *cfg, const struct tp_config_option *o)
{
	return (char **)(void *)((char *)cfg + o->offset);
}

#define FIELD(cfg, o, type) ((type *)(void *)((char *)(cfg) + (o)->offset))
#define CFIELD(cfg, o, type)                                                   \
	((const type *)(const void *)((const char *)(cfg) + (o)->offset))

/* Parses and validates value for option o; replaces the field only when
 * the value is good. */
static int set_value(struct tp_config *cfg, const struct tp_config_option *o,
		     const char *value, const struct src *s,
		     struct tp_errdetail *err)
{
	char why[96];
	long long ll;
	double d;
	int b;

	if (strlen(value) > VALUE_MAX_BYTES)
		return bad_value(err, o, s, "must be at most 1024 bytes", value);
	switch (o->type) {
	case TP_CONFIG_STRING: {
		const char *problem = o->check ? o->check(value) : NULL;
		char *copy;

		/* A newline (from env or argv) could not be printed back as
		 * a config line, and control bytes are never meant. */
		for (const char *p = value; *p && !problem; p++)
			if (((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f)
				problem = "must not contain control characters";
		if (problem)
			return bad_value(err, o, s, problem, value);
		if (!(copy = tp_strdup(value)))
			return tp_errdetail_set(err, TP_ERR_NOMEM, o->name,
						"out of memory");
		tp_free(*str_field(cfg, o));
		*str_field(cfg, o) = copy;
		return TP_OK;
	}
	case TP_CONFIG_INT:
		if (!parse_int(value, &ll) || ll < (long long)o->min ||
		    ll > (long long)o->max) {
			snprintf(why, sizeof(why),
				 "must be an integer between %.0f and %.0f",
				 o->min, o->max);
			return bad_value(err, o, s, why, value);
		}
		*FIELD(cfg, o, int) = (int)ll;
		return TP_OK;
	case TP_CONFIG_DOUBLE:
		if (!parse_double(value, &d) || d < o->min || d > o->max) {
			snprintf(why, sizeof(why),
				 "must be a number between %.15g and %.15g", o->min,
				 o->max);
			return bad_value(err, o, s, why, value);
		}
		*FIELD(cfg, o, double) = d;
		return TP_OK;
	case TP_CONFIG_BOOL:
		if ((b = parse_bool(value)) < 0)
			return bad_value(err, o, s,
					 "must be yes/no, true/false, on/off "
					 "or 1/0",
					 value);
		*FIELD(cfg, o, bool) = b == 1;
		return TP_OK;
	}
	return tp_errdetail_set(err, TP_ERR_INVAL, o->name, "bad option type");
}

static const struct tp_config_option *find_by_name(const char *name, size_t n)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strlen(options[i].name) == n && !memcmp(options[i].name, name, n))
			return &options[i];
	return NULL;
}

static const struct tp_config_option *find_by_env(const char *env, size_t n)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strlen(options[i].env) == n && !memcmp(options[i].env, env, n))
			return &options[i];
	return NULL;
}

static const struct tp_config_option *find_by_flag(const char *flag, size_t n)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strlen(options[i].flag) == n && !memcmp(options[i].flag, flag, n))
			return &options[i];
	return NULL;
}

/* True when a, read case-insensitively with '-' as '_', equals norm[0..k). */
static bool norm_eq(const char *a, const char *norm, size_t k)
{
	size_t i;

	for (i = 0; i < k && a[i]; i++)
		if ((a[i] == '-' ? '_' : tp_ascii_lower(a[i])) != norm[i])
			return false;
	return i == k && !a[i];
}

/* For "did you mean": the option whose name, env var or flag matches s
 * once case, dashes and the TICKPUSH_ / -- prefixes are ignored. */
static const struct tp_config_option *guess(const char *s, size_t n)
{
	char norm[64];

	while (n && *s == '-') {
		s++;
		n--;
	}
	if (n > 9 && !tp_ascii_ncasecmp(s, ENV_PREFIX, 9)) {
		s += 9;
		n -= 9;
	}
	if (n == 0 || n >= sizeof(norm))
		return NULL;
	for (size_t i = 0; i < n; i++)
		norm[i] = s[i] == '-' ? '_' : tp_ascii_lower(s[i]);
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const char *e = options[i].env;

		if (!strncmp(e, ENV_PREFIX, 9))
			e += 9;
		if (norm_eq(options[i].name, norm, n) || norm_eq(e, norm, n) ||
		    norm_eq(options[i].flag + 2, norm, n))
			return &options[i];
	}
	return NULL;
}

static int set_defaults(struct tp_config *cfg, struct tp_errdetail *err)
{
	struct src s = {.kind = SRC_DEFAULT};
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_OPTIONS; i++)
		if ((rc = set_value(cfg, &options[i], options[i].def, &s, err)))
			return rc;
	return TP_OK;
}

/* ---- the file -------------------------------------------------------- */

/* Decodes a quoted value in place: "..." with \" and \\ escapes, or '...'
 * taken literally. Returns NULL on success or what is wrong. */
static const char *unquote(char *v)
{
	char q = v[0], *r = v + 1, *w = v;

	for (;; r++) {
		if (!*r)
			return "missing closing quote";
		if (*r == q)
			break;
		if (q == '"' && *r == '\\') {
			if (r[1] != '"' && r[1] != '\\')
				return "only \\\" and \\\\ may be escaped";
			r++;
		}
		*w++ = *r;
	}
	*w = '\0';
	for (r++; *r; r++)
		if (*r != ' ' && *r != '\t')
			return "text after the closing quote";
	return NULL;
}

static int file_error(struct tp_errdetail *err, const char *origin,
		      unsigned line, const char *what)
{
	return tp_errdetail_set(err, TP_ERR_INVAL, NULL, "%s:%u: %s", origin,
				line, what);
}

/* One line, NUL-terminated, trailing whitespace already removed. */
static int apply_line(struct tp_config *cfg, char *line, const char *origin,
		      unsigned lineno, unsigned *seen, struct tp_errdetail *err)
{
	const struct tp_config_option *o, *g;
	struct src s = {.kind = SRC_FILE, .file = origin, .line = lineno};
	char *p = line, *name, *value;
	const char *problem;
	size_t n;

	p += strspn(p, " \t");
	if (!*p || *p == '#')
		return TP_OK;
	name = p;
	n = strcspn(p, " \t=");
	p += n;
	p += strspn(p, " \t");
	if (*p == '=') {
		p++;
		p += strspn(p, " \t");
	}
	value = p;
	if (!(o = find_by_name(name, n))) {
		g = guess(name, n);
		return tp_errdetail_set(err, TP_ERR_INVAL, NULL,
					"%s:%u: unknown option \"%.*s\"%s%s%s",
					origin, lineno, n > 40 ? 40 : (int)n,
					name, g ? " (did you mean " : "",
					g ? g->name : "", g ? "?)" : "");
	}
	if (!*value) {
		char w[160];

		where(w, sizeof(w), o, &s);
		return tp_errdetail_set(err, TP_ERR_INVAL, o->name,
					"%s: missing value (use \"\" for empty)",
					w);
	}
	if (seen[o - options])
		return tp_errdetail_set(err, TP_ERR_INVAL, o->name,
					"%s:%u: %s: already set on line %u",
					origin, lineno, o->name,
					seen[o - options]);
	seen[o - options] = lineno;
	if ((*value == '"' || *value == '\'') && (problem = unquote(value))) {
		char w[160];

		where(w, sizeof(w), o, &s);
		return tp_errdetail_set(err, TP_ERR_INVAL, o->name, "%s: %s", w,
					problem);
	}
	return set_value(cfg, o, value, &s, err);
}

static int apply_text(struct tp_config *cfg, const char *text, size_t len,
		      const char *origin, struct tp_errdetail *err)
{
	unsigned seen[N_OPTIONS] = {0};
	char line[LINE_MAX_BYTES + 1];
	unsigned lineno = 0;
	size_t pos = 0;
	int rc;

	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;

		pos += n + (nl ? 1 : 0);
		lineno++;
		if (n > LINE_MAX_BYTES)
			return file_error(err, origin, lineno,
					  "line longer than 4096 bytes");
		if (memchr(start, '\0', n))
			return file_error(err, origin, lineno,
					  "contains a NUL byte");
		memcpy(line, start, n);
		while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' ||
			     line[n - 1] == '\t'))
			n--;
		line[n] = '\0';
		if ((rc = apply_line(cfg, line, origin, lineno, seen, err)))
			return rc;
	}
	return TP_OK;
}

static int read_file(const char *path, char **out, size_t *len,
		     struct tp_errdetail *err)
{
	FILE *f = NULL;
	char *data = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	if (!(f = fopen(path, "rb"))) {
		rc = tp_errdetail_set(err, TP_ERR_IO, NULL, "%s: cannot open: %s",
				      path, strerror(errno));
		goto fail;
	}
	if (!(data = tp_malloc(FILE_MAX_BYTES + 1))) {
		rc = tp_errdetail_set(err, TP_ERR_NOMEM, NULL, "out of memory");
		goto fail;
	}
	n = fread(data, 1, FILE_MAX_BYTES + 1, f);
	if (ferror(f)) {
		rc = tp_errdetail_set(err, TP_ERR_IO, NULL, "%s: cannot read: %s",
				      path, strerror(errno));
		goto fail;
	}
	if (n > FILE_MAX_BYTES) {
		rc = tp_errdetail_set(err, TP_ERR_INVAL, NULL,
				      "%s: larger than 1 MiB", path);
		goto fail;
	}
	fclose(f);
	*out = data;
	*len = n;
	return TP_OK;
fail:
	if (f)
		fclose(f);
	tp_free(data);
	return rc;
}

/* ---- environment and flags ------------------------------------------ */

/* getenv() semantics on envp: the first NAME= entry wins. */
static const char *env_lookup(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (char *const *e = envp; *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static int apply_env(struct tp_config *cfg, char *const *envp,
		     struct tp_errdetail *err)
{
	struct src s = {.kind = SRC_ENV};
	int rc;

	if (!envp)
		return TP_OK;
	/* A TICKPUSH_ variable that is no option is most likely a typo. */
	for (char *const *e = envp; *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
		const struct tp_config_option *g;

		if (strncmp(*e, ENV_PREFIX, 9) || find_by_env(*e, n))
			continue;
		g = guess(*e, n);
		return tp_errdetail_set(err, TP_ERR_INVAL, NULL,
					"%.*s (environment): not a tickpush "
					"option%s%s%s",
					n > 60 ? 60 : (int)n, *e,
					g ? " (did you mean " : "",
					g ? g->env : "", g ? "?)" : "");
	}
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const char *v = env_lookup(envp, options[i].env);

		if (v && (rc = set_value(cfg, &options[i], v, &s, err)))
			return rc;
	}
	return TP_OK;
}

static bool is_reserved(const char *a)
{
	for (size_t i = 0; i < TP_ARRAY_SIZE(reserved_flags); i++)
		if (!strcmp(a, reserved_flags[i]))
			return true;
	return false;
}

static int apply_flags(struct tp_config *cfg, int argc, char *const *argv,
		       struct tp_errdetail *err)
{
	struct src s = {.kind = SRC_FLAG};
	int rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *value;
		const struct tp_config_option *o, *g;
		bool is_config;
		size_t n;

		if (is_reserved(a))
			continue;
		if (strncmp(a, "--", 2) || !a[2])
			return tp_errdetail_set(err, TP_ERR_INVAL, NULL,
						"unexpected argument \"%.60s\" "
						"(options are --name=value)",
						a);
		eq = strchr(a, '=');
		n = eq ? (size_t)(eq - a) : strlen(a);
		is_config = n == 8 && !strncmp(a, "--config", 8);
		o = is_config ? NULL : find_by_flag(a, n);
		if (!is_config && !o)
			goto unknown;
		/* A following "--word" is the next flag, not this value. */
		if (eq)
			value = eq + 1;
		else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2))
			value = argv[++i];
		else
			value = NULL;
		if (!value || (is_config && !*value))
			return tp_errdetail_set(err, TP_ERR_INVAL,
						o ? o->name : NULL,
						"%.*s (command line): missing "
						"value",
						(int)n, a);
		if (is_config)
			continue; /* main has read the file already */
		if ((rc = set_value(cfg, o, value, &s, err)))
			return rc;
		continue;
unknown:
		g = guess(a, n);
		return tp_errdetail_set(err, TP_ERR_INVAL, NULL,
					"unknown flag %.*s%s%s%s",
					n > 60 ? 60 : (int)n, a,
					g ? " (did you mean " : "",
					g ? g->flag : "", g ? "?)" : "");
	}
	return TP_OK;
}

/* ---- rules between options ------------------------------------------ */

/* Checked once every source has been applied, since each option of a pair
 * may come from a different one. */
static int check_combinations(const struct tp_config *cfg,
			      struct tp_errdetail *err)
{
	/* A PING must go out before silence counts as down, else an idle but
	 * healthy Redis would be declared down. */
	if (cfg->redis_ping_interval > 0 &&
	    cfg->redis_ping_interval >= cfg->redis_ping_timeout)
		return tp_errdetail_set(err, TP_ERR_INVAL, "redis_ping_interval",
					"redis_ping_interval (%g) must be less "
					"than redis_ping_timeout (%g), or 0 to "
					"turn the liveness check off",
					cfg->redis_ping_interval,
					cfg->redis_ping_timeout);
	/* TLS needs both halves; intermediates without a certificate mean
	 * a forgotten tls_cert. */
	if (!*cfg->tls_cert != !*cfg->tls_key)
		return tp_errdetail_set(err, TP_ERR_INVAL,
					*cfg->tls_cert ? "tls_key" : "tls_cert",
					"tls_cert and tls_key must be set "
					"together (both empty = plain HTTP)");
	if (*cfg->tls_ca && !*cfg->tls_cert)
		return tp_errdetail_set(err, TP_ERR_INVAL, "tls_ca",
					"tls_ca needs tls_cert and tls_key");
	return TP_OK;
}

/* ---- public API ------------------------------------------------------ */

int tp_config_load(struct tp_config *cfg, const char *path, char *const *envp,
		   int argc, char *const *argv, struct tp_errdetail *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	if ((rc = set_defaults(cfg, err)))
		goto fail;
	if (path) {
		if ((rc = read_file(path, &text, &len, err)))
			goto fail;
		if ((rc = apply_text(cfg, text, len, path, err)))
			goto fail;
	}
	if ((rc = apply_env(cfg, envp, err)))
		goto fail;
	if ((rc = apply_flags(cfg, argc, argv, err)))
		goto fail;
	if ((rc = check_combinations(cfg, err)))
		goto fail;
	tp_free(text);
	return TP_OK;
fail:
	tp_free(text);
	tp_config_cleanup(cfg);
	return rc;
}

int tp_config_load_string(struct tp_config *cfg, const char *text, size_t len,
			  const char *origin, struct tp_errdetail *err)
{
	int rc;

	if (!origin)
		origin = "<string>";
	if ((rc = set_defaults(cfg, err)) ||
	    (rc = apply_text(cfg, text, len, origin, err)) ||
	    (rc = check_combinations(cfg, err))) {
		tp_config_cleanup(cfg);
		return rc;
	}
	return TP_OK;
}

void tp_config_cleanup(struct tp_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].type == TP_CONFIG_STRING)
			tp_free(*str_field(cfg, &options[i]));
	memset(cfg, 0, sizeof(*cfg));
}

const char *tp_config_find_file_arg(int argc, char *const *argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--config=", 9))
			return argv[i] + 9;
		/* Same rule as tp_config_load: "--x" is a flag, not a value. */
		if (!strcmp(argv[i], "--config"))
			return i + 1 < argc && strncmp(argv[i + 1], "--", 2)
				       ? argv[i + 1]
				       : NULL;
	}
	return NULL;
}

/* ---- output ---------------------------------------------------------- */

/* Appends the database URI / conninfo with every password replaced by
 * "***": the userinfo password of a URI, and password= parameters in a
 * URI query or key=value string. */
static void mask_dburi(struct tp_buf *b, const char *s)
{
	const char *p = s, *scheme = strstr(s, "://");

	if (scheme) {
		const char *auth = scheme + 3, *at = NULL, *colon = NULL;
		size_t hostpart = strcspn(auth, "/?#");

		/* The userinfo ends at the last '@' before the path; an
		 * unencoded '@' in a password must not leak its tail. */
		for (size_t i = 0; i < hostpart; i++)
			if (auth[i] == '@')
				at = auth + i;
		if (at)
			colon = memchr(auth, ':', (size_t)(at - auth));
		if (colon) {
			tp_buf_append(b, s, (size_t)(colon + 1 - s));
			tp_buf_puts(b, "***");
			p = at;
		}
	}
	while (*p) {
		const char *hit = strstr(p, "password");
		const char *v;
		bool boundary;

		if (!hit)
			break;
		boundary = hit == s || strchr(" \t?&", hit[-1]);
		v = hit + 8;
		v += strspn(v, " \t");
		if (!boundary || *v != '=') {
			tp_buf_append(b, p, (size_t)(hit + 8 - p));
			p = hit + 8;
			continue;
		}
		v++;
		v += strspn(v, " \t");
		tp_buf_append(b, p, (size_t)(v - p));
		tp_buf_puts(b, "***");
		if (*v == '\'') {
			/* conninfo quoting: '...' with \' and \\ escapes */
			for (v++; *v && *v != '\''; v++)
				if (*v == '\\' && v[1])
					v++;
			if (*v)
				v++;
		} else {
			v += strcspn(v, scheme ? "&#" : " \t");
		}
		p = v;
	}
	tp_buf_puts(b, p);
}

/* Writes s in config-file syntax: bare when that reads back the same,
 * else double-quoted with \" and \\ escaped. */
static void print_str(FILE *out, const char *s)
{
	bool bare = *s && !strchr("\"'#=", *s) &&
		    !strpbrk(s, " \t\r\n");

	if (bare) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void print_double(FILE *out, double v)
{
	char tmp[40];

	/* Shortest of %.15g / %.17g that reads back exactly. */
	snprintf(tmp, sizeof(tmp), "%.15g", v);
	if (strtod(tmp, NULL) != v)
		snprintf(tmp, sizeof(tmp), "%.17g", v);
	fputs(tmp, out);
}

void tp_config_print(FILE *out, const struct tp_config *cfg)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct tp_config_option *o = &options[i];

		fprintf(out, "%s ", o->name);
		switch (o->type) {
		case TP_CONFIG_STRING: {
			const char *v = *CFIELD(cfg, o, char *);

			if (!v)
				v = "";
			if (!(o->flags & TP_CONFIG_SECRET) || !*v) {
				print_str(out, v);
			} else if (o->offset ==
				   offsetof(struct tp_config, database_uri)) {
				struct tp_buf b;

				tp_buf_init(&b, 0);
				mask_dburi(&b, v);
				print_str(out, b.oom ? "***" : tp_buf_cstr(&b));
				tp_buf_cleanup(&b);
			} else {
				fputs("***", out);
			}
			break;
		}
		case TP_CONFIG_INT:
			fprintf(out, "%d", *CFIELD(cfg, o, int));
			break;
		case TP_CONFIG_DOUBLE:
			print_double(out, *CFIELD(cfg, o, double));
			break;
		case TP_CONFIG_BOOL:
			fputs(*CFIELD(cfg, o, bool) ? "yes" : "no", out);
			break;
		}
		fputc('\n', out);
	}
}

static const char *type_word(enum tp_config_type t)
{
	switch (t) {
	case TP_CONFIG_STRING: return "STRING";
	case TP_CONFIG_INT: return "INT";
	case TP_CONFIG_DOUBLE: return "NUMBER";
	case TP_CONFIG_BOOL: return "yes|no";
	}
	return "VALUE";
}

void tp_config_print_help(FILE *out, const char *argv0)
{
	fprintf(out,
		"usage: %s [--config FILE] [--check-config] [--version] [--help]\n"
		"       [--OPTION VALUE | --OPTION=VALUE]...\n"
		"\n"
		"Settings come from, later ones winning: built-in defaults, the\n"
		"config file (\"name value\" lines), environment variables, flags.\n"
		"  --config FILE    read FILE (see tickpush.conf.example)\n"
		"  --check-config   validate, print the effective settings, exit\n"
		"  --version        print the version and exit\n"
		"  --help, -h       print this text and exit\n"
		"\n"
		"Options (flag VALUE, environment variable, config file key):\n",
		argv0 ? argv0 : "tickpush");
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct tp_config_option *o = &options[i];

		fprintf(out, "  %s %s\n      env %s, file key %s\n      %s",
			o->flag,
			type_word(o->type),
			o->env, o->name, o->help);
		if (o->flags & TP_CONFIG_SECRET)
			fputs(" (secret: masked in output)", out);
		fprintf(out, ". Default: %s", *o->def ? o->def : "\"\"");
		if (o->type == TP_CONFIG_INT || o->type == TP_CONFIG_DOUBLE)
			fprintf(out, " (range %.15g..%.15g)", o->min, o->max);
		fputc('\n', out);
	}
}
