/*
 * it.h - helpers for integration tests: real processes, real sockets.
 *
 * Each integration test binary owns a private temporary directory, starts
 * its own redis-server (unix socket only, nothing on TCP) and its own
 * tickpush (port 0, the bound port read from a port file), and talks to
 * them with blocking clients: a minimal HTTP/1.1 client and hiredis's
 * synchronous API. Everything has a timeout so a broken server fails the
 * test instead of hanging it. Server logs are kept in the directory and
 * printed when a test fails (it_dump_logs).
 */
#ifndef TICKPUSH_TEST_IT_H
#define TICKPUSH_TEST_IT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cJSON;

struct it_env {
	char dir[256];
	char redis_sock[300];
	pid_t redis_pid;
	pid_t server_pid;
	int port;
	int server_runs;   /* logs are server.<n>.log */
	const char *tls_ca; /* set: the server speaks TLS, probes verify with this CA */
};

/* Creates the temp dir (removed by it_teardown unless KEEP_IT_DIR is set). */
void it_setup(struct it_env *e, const char *name);
void it_teardown(struct it_env *e);

/* redis-server on e->redis_sock; waits until it answers PING. */
void it_redis_start(struct it_env *e);
/* sig = SIGKILL for a crash, SIGTERM for a clean stop; waits for exit. */
void it_redis_stop(struct it_env *e, int sig);

/* Runs argv[0] (a path, else looked up in PATH) with envp, stdout and
 * stderr appended to log; returns the pid (aborts if fork fails). */
pid_t it_spawn(char *const argv[], char *const envp[], const char *log);

/* Counting a server's system calls: it_strace_start attaches
 * `strace -f -c -e trace=<syscalls>` to e's server, its summary going to
 * e->dir/<name>.strace, and returns strace's pid once it is attached, or
 * -1 where strace is missing or may not attach (the caller skips).
 * it_strace_calls stops it and returns how many calls of syscall it
 * counted (0 when it counted none). */
pid_t it_strace_start(const struct it_env *e, const char *syscalls,
		      const char *name);
long it_strace_calls(const struct it_env *e, pid_t sp, const char *name,
		     const char *syscall);

/* A forwarding proxy in a child process: each connection to a new unix
 * socket at `path` is joined to the unix socket `target` (Redis's).
 * SIGUSR1 stops reading what the clients send, which then waits in their
 * socket buffers until they fill; SIGUSR2 reads on. Returns its pid once
 * it listens; end it with it_proxy_stop. */
pid_t it_proxy_start(const char *path, const char *target);
void it_proxy_stop(pid_t pid);

/* Starts tickpush (TICKPUSH_BIN) with the Redis socket, port 0 and any
 * extra "NAME=value" environment entries (NULL-terminated, may be NULL);
 * waits until it listens and, if wait_ready, until /readyz says ready. */
void it_server_start(struct it_env *e, const char *const *extra_env,
		     bool wait_ready);
/* The same with command-line arguments (NULL-terminated, at most 14),
 * e.g. {"--config", path, NULL}; TICKPUSH_LOG_LEVEL is then not set. */
void it_server_start_args(struct it_env *e, const char *const *extra_env,
			  const char *const *args, bool wait_ready);
/* Sends sig, waits up to timeout_s, returns the exit status (or -1 on
 * timeout after SIGKILL). */
int it_server_stop(struct it_env *e, int sig, double timeout_s);

/* End of a test group: SIGTERM to the server (logs printed if it did not
 * exit 0: a sanitizer report does that), then it_teardown. Returns 0, or
 * -1 so the group fails. (it_pg.h: it_finish_pg also stops PostgreSQL.) */
int it_finish(struct it_env *e);

/* Prints the server and Redis logs to stderr. */
void it_dump_logs(const struct it_env *e);

struct it_http_resp {
	int status;
	char *headers;  /* raw header block */
	char *body;     /* NUL-terminated */
	size_t body_len;
};

/* One request on a fresh connection (Connection: close); body may be NULL.
 * extra_headers is "Name: value\r\n..." or NULL. Returns 0 or -1 on a
 * transport error/timeout. */
int it_http(int port, const char *method, const char *path,
	    const char *extra_headers, const char *body, size_t body_len,
	    struct it_http_resp *out);
/* The same from source address src ("127.0.0.2"; any 127.x.y.z is
 * loopback), so a test can play several clients; NULL = the default. */
int it_http_from(const char *src, int port, const char *method,
		 const char *path, const char *extra_headers, const char *body,
		 size_t body_len, struct it_http_resp *out);
void it_http_free(struct it_http_resp *r);
/* GET returning parsed JSON (caller cJSON_Delete); asserts the status. */
struct cJSON *it_get_json(int port, const char *path, int expect_status);

/* Raw TCP connection to the server (for trickling and abusive clients). */
/* Can a listener bind 127.0.0.1:port now (for helpers that need a fixed
 * port, such as nginx's)? */
bool it_port_free(int port);
int it_connect(int port);
/* The same from source address src (see it_http_from); -1 on failure. */
int it_connect_from(int port, const char *src);
/* The same with SO_RCVBUF set to rcvbuf (> 0) before connecting. */
int it_connect_rcvbuf(int port, int rcvbuf);
/* Both: source address src (or NULL) and SO_RCVBUF rcvbuf (or 0). */
int it_connect_opts(int port, const char *src, int rcvbuf);

/* Redis command over the unix socket (hiredis sync). Returns the integer
 * reply, or the string length for string replies; -1 on error. If out is
 * non-NULL, a string reply is copied into it (size outlen). */
long long it_redis(const struct it_env *e, char *out, size_t outlen,
		   const char *fmt, ...);
/* PUBLISH payload on <prefix>.<suffix>; returns receivers. */
long long it_publish(const struct it_env *e, const char *channel,
		     const char *payload);

/* PUBLISHes make(i, ud) for i in 0..n-1 (malloc'd strings, freed here) in
 * one pipeline: as fast as Redis takes them. 0, or -1 on an error. */
typedef char *it_event_fn(unsigned i, void *ud);
int it_publish_burst(const struct it_env *e, const char *channel, unsigned n,
		     it_event_fn *make, void *ud);

/* Reads an SSE stream on fd until at least want "event: pattern"
 * messages came (or IT_SSE_WAIT_MAX seconds passed: a slow server is not
 * a wrong one) and then quiet seconds pass without data (or it ends), and
 * stores the data.id of each pattern message in order: the i-th at
 * ids + i * id_size (at most max). *gaps (may be NULL) receives the number
 * of "event: gap" messages. Returns the count. */
#define IT_SSE_WAIT_MAX 20.0
size_t it_sse_pattern_ids(int fd, char *ids, size_t id_size, size_t max,
			  size_t want, double quiet, int *gaps);
/* Reads the response head of a request sent on fd (up to the blank line,
 * nothing after it) within timeout_s; returns the status, -1 on failure.
 * After it, the server has the stream registered: events published from
 * then on reach it. */
int it_read_head(int fd, double timeout_s);

/* Polls cond(ud) every 20 ms until true or timeout; returns the result. */
bool it_wait(bool (*cond)(void *ud), void *ud, double timeout_s);
double it_now(void);

/* A string/number member of a JSON object ("" / -1 when absent or of
 * another type). */
const char *it_json_str(const struct cJSON *j, const char *name);
double it_json_num(const struct cJSON *j, const char *name);

/* One request with an optional bearer token; returns the status and, if
 * json is not NULL, the parsed body (fails the test if it is not JSON). */
int it_call(int port, const char *method, const char *path, const char *token,
	    const char *body, struct cJSON **json);

/* The value of one sample in GET /metrics, as written: a name
 * ("tickpush_scans_total") or a name with its labels in order
 * ("tickpush_redis_connected{conn=\"pubsub\"}"); -1 when absent. */
double it_metric(int port, const char *name);

/* Reads a numeric value of a top-level member path "stats.cached_patterns"
 * from a JSON GET; returns -1 when absent. */
double it_json_number(int port, const char *path, const char *member_path);

#endif
