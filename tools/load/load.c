/*
 * load.c - tickpush-load: WebSocket push load generator (a tool that
 * prints numbers; never a test: timings depend on the machine).
 *
 * What it does, in phases:
 *   1. baseline: the server's VmRSS (/proc/<pid>/status) and tickpush_alloc_bytes
 *      (GET /metrics) before any session exists;
 *   2. ramp: opens N WebSocket sessions at a bounded rate with non-blocking
 *      connects, each bound to one of K source addresses 127.0.0.2.. (all of
 *      127/8 is loopback on Linux; spreading the sources keeps every
 *      (source, destination) pair far from the ephemeral-port limit), does
 *      the GET /ws upgrade (subprotocol tickpush.v1) and one subscribe;
 *   3. idle: once every session is subscribed and a settle time has passed,
 *      reads VmRSS and tickpush_alloc_bytes again: the difference divided by the
 *      sessions is the memory per idle session;
 *   4. publish: a publisher thread (blocking hiredis on its own connection;
 *      this is a tool, not the server) PUBLISHes pattern_detected events at
 *      a fixed rate for a fixed time, each with
 *      "indicators":{"published_at":<epoch s>} (unknown indicator keys pass
 *      through to the pushed row, while tickpush-sim --stamp puts
 *      published_at in the event's data, which the row does not carry). The
 *      epoll loop timestamps every received pattern frame: latency = receive
 *      wall-clock - published_at (one machine, one clock);
 *   5. drain: keeps reading until every expected frame arrived, nothing
 *      arrived for --quiet seconds, or the drain time ran out; then reports the
 *      delivered rate, latency p50/p99/max, the server CPU time per
 *      delivered frame (/proc/<pid>/stat utime+stime over phases 4-5),
 *      sessions the server closed (by close code) and a RESULT line.
 *
 * Workload: a universe of S synthetic symbols (LT0000..), each event picks
 * one uniformly. "broadcast" sessions subscribe with {"confidence_min":0}
 * (every event matches); "filtered" sessions each take one of F slices of
 * the universe (symbol index mod F) as their symbols filter, so with F=20
 * about 5% of events match each session. Every event gets a distinct
 * detected_at second, hence a distinct pattern id: no event replaces
 * another in the server's store. The expected frame count is summed by the
 * publisher from the live sessions of each slice at publish time.
 *
 * Bounded: every phase has a time limit, the publisher stops after
 * rate*duration events, and a server whose VmRSS passes --rss-cap-mb stops
 * the publisher early. Loopback only (127.0.0.0/8).
 *
 * Ownership: sessions live in one array for the whole run; a session's
 * carry (bytes of an incomplete frame), out (unsent bytes) and frag (a
 * fragmented message) buffers are its own, tp_malloc'd, freed at close.
 * The publisher thread shares only atomics with the main thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "tickpush/alloc.h"
#include "tickpush/clock.h"

#define SCRATCH_SIZE (4u << 20)     /* one recv buffer for every session */
#define MAX_SLICES 1000
#define MAX_SECONDS 3600
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="          /* RFC 6455 example */
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="   /* its accept value */

/* Latency histogram in microseconds: 1 us steps below 10 ms, 100 us below
 * 1 s, 10 ms below 120 s; beyond that the last bucket. */
#define H1_END 10000u
#define H2_END 1000000u
#define H3_END 120000000u
#define H_BUCKETS (H1_END + (H2_END - H1_END) / 100 + (H3_END - H2_END) / 10000 + 1)

enum state { S_FREE, S_CONNECTING, S_UPGRADING, S_SUBSCRIBING, S_READY, S_CLOSED };

struct sess {
	int fd;
	uint8_t state;
	uint16_t slice;
	bool want_out;         /* EPOLLOUT armed */
	bool frag_text;        /* frag holds the start of a text message */
	unsigned char *carry;  /* incomplete frame bytes from the last read */
	size_t carry_len;
	unsigned char *out;    /* bytes send() did not take yet */
	size_t out_len;
	unsigned char *frag;   /* fragmented message being assembled */
	size_t frag_len;
};

struct opts {
	const char *host;
	int port;
	int sessions;
	int sources;
	bool filtered;
	int slices;
	int symbols;
	double rate;
	double duration;
	double ramp;
	const char *redis_socket;
	const char *prefix;
	long server_pid;
	double settle;
	double drain;
	double quiet;
	double connect_timeout;
	long rss_cap_mb;
	unsigned seed;
};

/* Shared between the main thread and the publisher: atomics only. */
struct shared {
	_Atomic uint32_t slice_live[MAX_SLICES]; /* ready sessions per slice */
	_Atomic uint64_t published;
	_Atomic uint64_t expected;
	_Atomic uint64_t pub_errors;
	_Atomic bool stop;
	_Atomic bool done;
	_Atomic double first_pub_mono;
	_Atomic double last_pub_mono;
};

struct stats {
	uint64_t connect_failed, upgrade_failed, subscribe_failed;
	uint64_t ready_peak;
	uint64_t closed_by_code[5000]; /* close code from the server */
	uint64_t closed_no_code;       /* EOF/RST without a close frame */
	uint64_t error_frames;
	char first_error[200];
	uint64_t pattern_frames, other_frames, no_stamp;
	uint64_t bytes_in;
	uint64_t per_second[MAX_SECONDS];
	double max_us_per_second[MAX_SECONDS]; /* by receive second */
	double server_cpu_per_second[MAX_SECONDS]; /* share of one core */
	uint64_t hist[H_BUCKETS];
	double lat_max_us, lat_sum_us;
	double last_frame_mono;
};

static struct opts O = {
	.host = "127.0.0.1", .sessions = 1000, .sources = 8, .slices = 20,
	.symbols = 400, .rate = 1000, .duration = 20, .ramp = 2000,
	.prefix = "tickstock", .settle = 2, .drain = 10, .quiet = 3, .connect_timeout = 120,
	.rss_cap_mb = 8192,
};
static struct shared SH;
static struct stats ST;
static struct sess *sessions;
static unsigned char *scratch;
static int epfd = -1;
static double pub_start_mono;
static volatile sig_atomic_t interrupted;

/* ---- clocks and small helpers ---- */

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Naive search: frames are small and the needle is found near the end. */
static const unsigned char *find_bytes(const unsigned char *h, size_t hn,
				       const char *needle)
{
	size_t nn = strlen(needle);

	if (nn > hn)
		return NULL;
	for (size_t i = 0; i + nn <= hn; i++)
		if (h[i] == (unsigned char)needle[0] && !memcmp(h + i, needle, nn))
			return h + i;
	return NULL;
}

/* ---- server-side numbers: /proc and /metrics ---- */

static long proc_rss_kb(void)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	if (O.server_pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", O.server_pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6)) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

/* utime + stime of the server in seconds (and utime alone in *user),
 * or -1. */
static double proc_cpu_s(double *user)
{
	char path[64], buf[2048], *p;
	unsigned long long ut = 0, st = 0;
	size_t n;
	FILE *f;

	if (user)
		*user = -1;
	if (O.server_pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", O.server_pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces: fields restart after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return -1;
	if (user)
		*user = (double)ut / (double)sysconf(_SC_CLK_TCK);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Busy and total core-seconds of the whole machine (/proc/stat "cpu"). */
static void machine_cpu_s(double *busy, double *total)
{
	unsigned long long v[8] = {0};
	FILE *f = fopen("/proc/stat", "r");
	double tck = (double)sysconf(_SC_CLK_TCK);

	*busy = *total = 0;
	if (!f)
		return;
	/* user nice system idle iowait irq softirq steal */
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
		   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		*busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / tck;
		*total = *busy + (double)(v[3] + v[4]) / tck;
	}
	fclose(f);
}

static double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int connect_server(struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)O.port);
	return inet_pton(AF_INET, O.host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* Value of a Prometheus metric line "name value" from GET /metrics
 * (blocking, 5 s timeout: used only outside the measured phases). */
static double metric(const char *name)
{
	struct sockaddr_in sa;
	struct timeval tv = {5, 0};
	char req[128];
	size_t cap = 1 << 20, len = 0;
	char *body = NULL, *p;
	double v = -1;
	int fd = -1;
	ssize_t n;

	if (connect_server(&sa))
		return -1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto out;
	n = snprintf(req, sizeof(req),
		     "GET /metrics HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
		     O.host);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		goto out;
	body = tp_malloc(cap + 1);
	if (!body)
		goto out;
	while (len < cap && (n = recv(fd, body + len, cap - len, 0)) > 0)
		len += (size_t)n;
	body[len] = '\0';
	for (p = body; (p = strstr(p, name)); p++) {
		size_t nl = strlen(name);

		if ((p == body || p[-1] == '\n') && p[nl] == ' ') {
			v = strtod(p + nl + 1, NULL);
			break;
		}
	}
out:
	tp_free(body);
	close(fd);
	return v;
}

/* ---- publisher thread ---- */

static void sleep_until_mono(double t)
{
	struct timespec ts;

	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static const char *const pattern_names[] = {
	"Doji", "Hammer", "Engulfing", "Volume_Spike", "Support_Test",
	"Momentum_Shift", "Gap_Fill", "Resistance_Break", "Trendline_Hold",
	"Bull_Flag", "Reversal_Signal", "Weekly_Breakout", "Ascending_Triangle",
};
#define N_PATTERNS (sizeof(pattern_names) / sizeof(pattern_names[0]))

/* Event k: a pattern_detected in the documented nested shape. Its
 * detected_at is a distinct whole second (base + k), so its id is new. */
static int format_event(char *buf, size_t cap, uint64_t k, double base,
			unsigned sym, double wall)
{
	return snprintf(buf, cap,
		"{\"event_type\":\"pattern_detected\",\"source\":\"TickStockPL\","
		"\"timestamp\":%.6f,\"data\":{\"symbol\":\"LT%04u\",\"pattern\":\"%s\","
		"\"confidence\":%.3f,\"current_price\":%.2f,\"price_change\":%.2f,"
		"\"timestamp\":%.0f,\"expires_at\":%.0f,\"indicators\":{"
		"\"relative_strength\":%.2f,\"relative_volume\":%.2f,\"rsi\":%.1f,"
		"\"published_at\":%.6f},\"source\":\"intraday\",\"tier\":\"intraday\"}}",
		wall, sym, pattern_names[k % N_PATTERNS],
		0.5 + (double)(k % 500) / 1000.0, 20.0 + (double)(sym % 300),
		(double)(k % 41) / 10.0 - 2.0, base + (double)k, wall + 7200.0,
		0.8 + (double)(k % 9) / 10.0, 1.0 + (double)(k % 7) / 4.0,
		30.0 + (double)(k % 40), wall);
}

static void *publisher(void *arg)
{
	uint64_t total = (uint64_t)llround(O.rate * O.duration), k = 0;
	char channel[128], buf[2048];
	redisContext *c;
	double t0, base;
	uint64_t seed = (uint64_t)O.seed * 2654435761u + 1;

	(void)arg;
	snprintf(channel, sizeof(channel), "%s.events.patterns", O.prefix);
	c = redisConnectUnix(O.redis_socket);
	if (!c || c->err) {
		fprintf(stderr, "tickpush-load: publisher: redis %s: %s\n",
			O.redis_socket, c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		atomic_store(&SH.done, true);
		return NULL;
	}
	/* Distinct past seconds for detected_at, well clear of "now". */
	base = floor(tp_now()) - 10.0 * (double)total - 86400.0;
	t0 = tp_mono();
	atomic_store(&SH.first_pub_mono, t0);
	while (k < total && !atomic_load(&SH.stop)) {
		double now = tp_mono();
		unsigned batch = 0;

		/* Publish everything due (pipelined), then wait for the next. */
		while (k < total && t0 + (double)k / O.rate <= now && batch < 1000) {
			unsigned sym;
			int n;

			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			sym = (unsigned)(seed % (uint64_t)O.symbols);
			n = format_event(buf, sizeof(buf), k, base, sym, tp_now());
			redisAppendCommand(c, "PUBLISH %s %b", channel, buf, (size_t)n);
			atomic_fetch_add(&SH.expected,
				O.filtered ? atomic_load(&SH.slice_live[sym % (unsigned)O.slices])
					   : atomic_load(&SH.slice_live[0]));
			k++;
			batch++;
		}
		for (unsigned i = 0; i < batch; i++) {
			redisReply *r = NULL;

			if (redisGetReply(c, (void **)&r) != REDIS_OK || !r ||
			    r->type == REDIS_REPLY_ERROR)
				atomic_fetch_add(&SH.pub_errors, 1);
			else
				atomic_fetch_add(&SH.published, 1);
			if (r)
				freeReplyObject(r);
			if (c->err)
				break;
		}
		atomic_store(&SH.last_pub_mono, tp_mono());
		if (c->err) {
			fprintf(stderr, "tickpush-load: publisher: %s\n", c->errstr);
			break;
		}
		if (k < total)
			sleep_until_mono(t0 + (double)k / O.rate);
	}
	redisFree(c);
	atomic_store(&SH.done, true);
	return NULL;
}

/* ---- sessions: output ---- */

static void arm(struct sess *s, bool out)
{
	struct epoll_event ev = {0};

	if (s->want_out == out)
		return;
	ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
	ev.data.ptr = s;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev) == 0)
		s->want_out = out;
}

/* Sends what is pending; 0 ok (maybe still pending), -1 dead. */
static int flush_out(struct sess *s)
{
	while (s->out_len) {
		ssize_t n = send(s->fd, s->out, s->out_len, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		memmove(s->out, s->out + n, s->out_len - (size_t)n);
		s->out_len -= (size_t)n;
	}
	if (!s->out_len)
		TP_FREE(s->out);
	arm(s, s->out_len > 0 || s->state == S_CONNECTING);
	return 0;
}

static int queue_out(struct sess *s, const void *p, size_t n)
{
	unsigned char *nb = tp_realloc(s->out, s->out_len + n);

	if (!nb)
		return -1;
	s->out = nb;
	memcpy(s->out + s->out_len, p, n);
	s->out_len += n;
	return flush_out(s);
}

/* A masked client frame (RFC 6455 5.3: clients must mask). */
static int send_frame(struct sess *s, int opcode, const void *payload, size_t n)
{
	unsigned char hdr[14], *frame;
	uint32_t mask = (uint32_t)rng();
	size_t h = 0;
	int r;

	hdr[h++] = (unsigned char)(0x80 | opcode);
	if (n < 126) {
		hdr[h++] = (unsigned char)(0x80 | n);
	} else if (n < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(n >> 8);
		hdr[h++] = (unsigned char)n;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (unsigned char)((uint64_t)n >> (8 * i));
	}
	memcpy(hdr + h, &mask, 4);
	h += 4;
	frame = tp_malloc(h + n);
	if (!frame)
		return -1;
	memcpy(frame, hdr, h);
	for (size_t i = 0; i < n; i++)
		frame[h + i] = ((const unsigned char *)payload)[i] ^ hdr[h - 4 + (i & 3)];
	r = queue_out(s, frame, h + n);
	tp_free(frame);
	return r;
}

/* ---- sessions: lifecycle ---- */

static void sess_close(struct sess *s)
{
	if (s->state == S_READY && s->slice < MAX_SLICES)
		atomic_fetch_sub(&SH.slice_live[s->slice], 1);
	if (s->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
	}
	s->fd = -1;
	s->state = S_CLOSED;
	TP_FREE(s->carry);
	TP_FREE(s->out);
	TP_FREE(s->frag);
	s->carry_len = s->out_len = s->frag_len = 0;
}

static int sess_open(struct sess *s, int index)
{
	struct sockaddr_in dst, src;
	struct epoll_event ev = {0};
	int one = 1;

	if (connect_server(&dst))
		return -1;
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(index % O.sources));
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -1;
	/* The port is chosen at connect(), per (source, destination) pair. */
	setsockopt(s->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(s->fd, (struct sockaddr *)&src, sizeof(src)))
		goto fail;
	if (connect(s->fd, (struct sockaddr *)&dst, sizeof(dst)) && errno != EINPROGRESS)
		goto fail;
	s->state = S_CONNECTING;
	s->want_out = true;
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.ptr = s;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev))
		goto fail;
	return 0;
fail:
	close(s->fd);
	s->fd = -1;
	s->state = S_CLOSED;
	return -1;
}

static int send_upgrade(struct sess *s)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
		"GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Key: " WS_KEY "\r\n"
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tickpush.v1\r\n\r\n",
		O.host, O.port);

	s->state = S_UPGRADING;
	return queue_out(s, req, (size_t)n);
}

static int send_subscribe(struct sess *s)
{
	char buf[8192];
	size_t n = 0;

	n += (size_t)snprintf(buf, sizeof(buf),
		"{\"op\":\"subscribe\",\"id\":\"s\",\"channel\":\"patterns\",\"filter\":{");
	if (O.filtered) {
		bool first = true;

		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\"symbols\":[");
		for (int i = s->slice; i < O.symbols && n + 16 < sizeof(buf); i += O.slices) {
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"LT%04d\"",
					      first ? "" : ",", i);
			first = false;
		}
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "],");
	}
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\"confidence_min\":0}}");
	if (n >= sizeof(buf))
		return -1;
	s->state = S_SUBSCRIBING;
	return send_frame(s, 1, buf, n);
}

/* ---- sessions: input ---- */

static void record_latency(double us)
{
	size_t b;

	if (us < 0)
		us = 0;
	if (us > ST.lat_max_us)
		ST.lat_max_us = us;
	ST.lat_sum_us += us;
	if (us < H1_END)
		b = (size_t)us;
	else if (us < H2_END)
		b = H1_END + (size_t)((us - H1_END) / 100);
	else if (us < H3_END)
		b = H1_END + (H2_END - H1_END) / 100 + (size_t)((us - H2_END) / 10000);
	else
		b = H_BUCKETS - 1;
	ST.hist[b]++;
}

/* Upper edge of bucket b, in microseconds. */
static double bucket_us(size_t b)
{
	if (b < H1_END)
		return (double)b + 1;
	b -= H1_END;
	if (b < (H2_END - H1_END) / 100)
		return H1_END + (double)(b + 1) * 100;
	b -= (H2_END - H1_END) / 100;
	return H2_END + (double)(b + 1) * 10000;
}

static double percentile(double q)
{
	uint64_t total = 0, want, acc = 0;

	for (size_t i = 0; i < H_BUCKETS; i++)
		total += ST.hist[i];
	if (!total)
		return 0;
	want = (uint64_t)ceil(q * (double)total);
	if (want < 1)
		want = 1;
	for (size_t i = 0; i < H_BUCKETS; i++) {
		acc += ST.hist[i];
		if (acc >= want)
			return fmin(bucket_us(i), ST.lat_max_us);
	}
	return ST.lat_max_us;
}

static void on_text(struct sess *s, const unsigned char *p, size_t n,
		    double wall, double mono)
{
	static const char pat[] = "{\"type\":\"pattern\",";

	if (n >= sizeof(pat) - 1 && !memcmp(p, pat, sizeof(pat) - 1)) {
		const unsigned char *q = find_bytes(p, n, "\"published_at\":");
		char num[40];
		size_t len;
		long sec;

		ST.pattern_frames++;
		ST.last_frame_mono = mono;
		sec = pub_start_mono > 0 ? (long)(mono - pub_start_mono) : 0;
		if (sec >= 0 && sec < MAX_SECONDS)
			ST.per_second[sec]++;
		if (!q) {
			ST.no_stamp++;
			return;
		}
		q += strlen("\"published_at\":");
		len = (size_t)(p + n - q) < sizeof(num) - 1 ? (size_t)(p + n - q) : sizeof(num) - 1;
		memcpy(num, q, len);
		num[len] = '\0';
		{
			double us = (wall - strtod(num, NULL)) * 1e6;

			record_latency(us);
			if (sec >= 0 && sec < MAX_SECONDS && us > ST.max_us_per_second[sec])
				ST.max_us_per_second[sec] = us;
		}
		return;
	}
	ST.other_frames++;
	if (n > 21 && !memcmp(p, "{\"type\":\"subscribed\"", 20)) {
		if (s->state == S_SUBSCRIBING) {
			s->state = S_READY;
			atomic_fetch_add(&SH.slice_live[O.filtered ? s->slice : 0], 1);
		}
	} else if (n > 16 && !memcmp(p, "{\"type\":\"error\"", 15)) {
		ST.error_frames++;
		if (!ST.first_error[0])
			snprintf(ST.first_error, sizeof(ST.first_error), "%.*s",
				 (int)(n < 190 ? n : 190), (const char *)p);
		if (s->state == S_SUBSCRIBING) {
			ST.subscribe_failed++;
			sess_close(s);
		}
	}
}

/* Parses complete frames in p[0..n); returns bytes consumed, or -1 when
 * the session must close. */
static long parse_frames(struct sess *s, const unsigned char *p, size_t n,
			 double wall, double mono)
{
	size_t off = 0;

	while (off + 2 <= n && s->state != S_CLOSED) {
		const unsigned char *f = p + off;
		bool fin = f[0] & 0x80, masked = f[1] & 0x80;
		int op = f[0] & 0x0f;
		uint64_t len = f[1] & 0x7f;
		size_t h = 2;

		if (len == 126) {
			if (off + 4 > n)
				break;
			len = ((uint64_t)f[2] << 8) | f[3];
			h = 4;
		} else if (len == 127) {
			if (off + 10 > n)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = (len << 8) | f[2 + i];
			h = 10;
		}
		if (masked || len > SCRATCH_SIZE / 2)
			return -1; /* servers never mask; nothing here is that big */
		if (off + h + len > n)
			break;
		f += h;
		if (op == 0x8) {
			int code = len >= 2 ? (f[0] << 8) | f[1] : 0;

			if (code > 0 && code < 5000)
				ST.closed_by_code[code]++;
			else
				ST.closed_no_code++;
			return -1;
		} else if (op == 0x9) {
			if (send_frame(s, 0xA, f, (size_t)len))
				return -1;
		} else if (op == 0x1 && fin) {
			on_text(s, f, (size_t)len, wall, mono);
		} else if (op == 0x1 || op == 0x0) {
			/* Fragmented text: assemble, then treat as one message. */
			unsigned char *nb;

			if (op == 0x1) {
				s->frag_len = 0;
				s->frag_text = true;
			}
			nb = tp_realloc(s->frag, s->frag_len + (size_t)len + 1);
			if (!nb)
				return -1;
			s->frag = nb;
			memcpy(s->frag + s->frag_len, f, (size_t)len);
			s->frag_len += (size_t)len;
			if (fin && s->frag_text)
				on_text(s, s->frag, s->frag_len, wall, mono);
			if (fin) {
				TP_FREE(s->frag);
				s->frag_len = 0;
				s->frag_text = false;
			}
		} else if (op == 0x2) {
			return -1;
		}
		off += h + (size_t)len;
	}
	return (long)off;
}

/* Handles the 101 response in p[0..n); returns bytes consumed (0 = need
 * more), -1 on a refusal. */
static long parse_upgrade(struct sess *s, const unsigned char *p, size_t n)
{
	const unsigned char *end = find_bytes(p, n, "\r\n\r\n");

	if (!end)
		return n > 16384 ? -1 : 0;
	if (n < 12 || memcmp(p, "HTTP/1.1 101", 12) ||
	    !find_bytes(p, (size_t)(end - p), WS_ACCEPT)) {
		ST.upgrade_failed++;
		return -1;
	}
	if (send_subscribe(s))
		return -1;
	return (long)(end + 4 - p);
}

static void on_readable(struct sess *s)
{
	size_t have = s->carry_len;
	double wall, mono;
	ssize_t n;
	long used;
	size_t off = 0;

	if (have)
		memcpy(scratch, s->carry, have);
	n = recv(s->fd, scratch + have, SCRATCH_SIZE - have, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		if (s->state == S_UPGRADING)
			ST.upgrade_failed++;
		else if (s->state == S_SUBSCRIBING)
			ST.subscribe_failed++;
		else
			ST.closed_no_code++;
		sess_close(s);
		return;
	}
	wall = tp_now();
	mono = tp_mono();
	ST.bytes_in += (uint64_t)n;
	have += (size_t)n;
	if (s->state == S_UPGRADING) {
		used = parse_upgrade(s, scratch, have);
		if (used < 0) {
			sess_close(s);
			return;
		}
		off = (size_t)used;
	}
	if (s->state != S_UPGRADING && s->state != S_CLOSED) {
		used = parse_frames(s, scratch + off, have - off, wall, mono);
		if (used < 0) {
			sess_close(s);
			return;
		}
		off += (size_t)used;
	}
	if (s->state == S_CLOSED)
		return;
	/* Keep the incomplete tail for the next read. */
	TP_FREE(s->carry);
	s->carry_len = have - off;
	if (s->carry_len) {
		s->carry = tp_memdup(scratch + off, s->carry_len);
		if (!s->carry)
			sess_close(s);
	}
}

static void on_event(struct sess *s, uint32_t events)
{
	if (s->state == S_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err || (events & EPOLLERR)) {
			ST.connect_failed++;
			sess_close(s);
			return;
		}
		if (send_upgrade(s)) {
			ST.upgrade_failed++;
			sess_close(s);
			return;
		}
		return;
	}
	if ((events & EPOLLOUT) && s->out_len && flush_out(s)) {
		sess_close(s);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		on_readable(s);
}

/* One pass of the loop: waits up to timeout_ms for events. */
static void service(int timeout_ms)
{
	struct epoll_event evs[1024];
	int n = epoll_wait(epfd, evs, 1024, timeout_ms);

	for (int i = 0; i < n; i++) {
		struct sess *s = evs[i].data.ptr;

		if (s->state != S_CLOSED && s->state != S_FREE)
			on_event(s, evs[i].events);
	}
}

static uint64_t count_state(enum state st)
{
	uint64_t c = 0;

	for (int i = 0; i < O.sessions; i++)
		c += sessions[i].state == st;
	return c;
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tickpush-load --port P --redis-socket PATH [options]\n"
		"  --host ADDR          server address, loopback (127.0.0.1)\n"
		"  --port P             server port (required)\n"
		"  --sessions N         WebSocket sessions (1000)\n"
		"  --sources K          source addresses 127.0.0.2..127.0.0.(K+1) (8)\n"
		"  --mode M             broadcast (every session matches) | filtered\n"
		"  --slices F           filtered: 1/F of the symbols per session (20 = 5%%)\n"
		"  --symbols S          symbol universe LT0000.. (400)\n"
		"  --rate R             events per second (1000)\n"
		"  --duration S         publish for S seconds (20)\n"
		"  --ramp R             new sessions per second (2000)\n"
		"  --redis-socket PATH  Redis unix socket the server subscribes to\n"
		"  --prefix P           channel prefix (tickstock)\n"
		"  --server-pid PID     read VmRSS and CPU time of this process\n"
		"  --settle S           idle seconds before the memory reading (2)\n"
		"  --drain S            most seconds to wait for frames after publishing (10)\n"
		"  --quiet S            ... or until no frame came for S seconds (3)\n"
		"  --connect-timeout S  most seconds for the ramp (120)\n"
		"  --rss-cap-mb M       stop publishing if the server's RSS passes M MiB (8192)\n"
		"  --seed N             symbol choice seed (1)\n");
}

static int parse_num(const char *arg, const char *name, double lo, double hi,
		     double *out)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || *end || !(v >= lo && v <= hi)) {
		fprintf(stderr, "tickpush-load: %s: must be a number in %g..%g, got \"%s\"\n",
			name, lo, hi, arg);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv)
{
	static const struct option lo[] = {
		{"host", required_argument, NULL, 'H'},
		{"port", required_argument, NULL, 'p'},
		{"sessions", required_argument, NULL, 'n'},
		{"sources", required_argument, NULL, 'k'},
		{"mode", required_argument, NULL, 'm'},
		{"slices", required_argument, NULL, 'f'},
		{"symbols", required_argument, NULL, 'S'},
		{"rate", required_argument, NULL, 'r'},
		{"duration", required_argument, NULL, 'd'},
		{"ramp", required_argument, NULL, 'R'},
		{"redis-socket", required_argument, NULL, 's'},
		{"prefix", required_argument, NULL, 'P'},
		{"server-pid", required_argument, NULL, 'i'},
		{"settle", required_argument, NULL, 'w'},
		{"drain", required_argument, NULL, 'D'},
		{"quiet", required_argument, NULL, 'q'},
		{"connect-timeout", required_argument, NULL, 'T'},
		{"rss-cap-mb", required_argument, NULL, 'c'},
		{"seed", required_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	double v;
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'H': O.host = optarg; break;
		case 'p': if (parse_num(optarg, "--port", 1, 65535, &v)) return -1; O.port = (int)v; break;
		case 'n': if (parse_num(optarg, "--sessions", 1, 19000, &v)) return -1; O.sessions = (int)v; break;
		case 'k': if (parse_num(optarg, "--sources", 1, 250, &v)) return -1; O.sources = (int)v; break;
		case 'm':
			if (!strcmp(optarg, "broadcast")) {
				O.filtered = false;
			} else if (!strcmp(optarg, "filtered")) {
				O.filtered = true;
			} else {
				fprintf(stderr, "tickpush-load: --mode: broadcast or filtered\n");
				return -1;
			}
			break;
		case 'f': if (parse_num(optarg, "--slices", 1, MAX_SLICES, &v)) return -1; O.slices = (int)v; break;
		case 'S': if (parse_num(optarg, "--symbols", 1, 9999, &v)) return -1; O.symbols = (int)v; break;
		case 'r': if (parse_num(optarg, "--rate", 0.1, 100000, &v)) return -1; O.rate = v; break;
		case 'd': if (parse_num(optarg, "--duration", 0.1, 600, &v)) return -1; O.duration = v; break;
		case 'R': if (parse_num(optarg, "--ramp", 1, 100000, &v)) return -1; O.ramp = v; break;
		case 's': O.redis_socket = optarg; break;
		case 'P': O.prefix = optarg; break;
		case 'i': if (parse_num(optarg, "--server-pid", 1, 4194304, &v)) return -1; O.server_pid = (long)v; break;
		case 'w': if (parse_num(optarg, "--settle", 0, 600, &v)) return -1; O.settle = v; break;
		case 'D': if (parse_num(optarg, "--drain", 0, 600, &v)) return -1; O.drain = v; break;
		case 'q': if (parse_num(optarg, "--quiet", 0.1, 600, &v)) return -1; O.quiet = v; break;
		case 'T': if (parse_num(optarg, "--connect-timeout", 1, 3600, &v)) return -1; O.connect_timeout = v; break;
		case 'c': if (parse_num(optarg, "--rss-cap-mb", 1, 1 << 20, &v)) return -1; O.rss_cap_mb = (long)v; break;
		case 'e': if (parse_num(optarg, "--seed", 0, 4294967295.0, &v)) return -1; O.seed = (unsigned)v; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc || !O.port || !O.redis_socket) {
		usage(stderr);
		return -1;
	}
	if (strncmp(O.host, "127.", 4)) {
		fprintf(stderr, "tickpush-load: --host must be a loopback address (127.x.x.x)\n");
		return -1;
	}
	if (O.filtered && O.slices > O.symbols) {
		fprintf(stderr, "tickpush-load: --slices must not exceed --symbols\n");
		return -1;
	}
	return 0;
}

/* Lets this process hold every session's socket (the hard limit is the
 * most an unprivileged process may ask for). */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)O.sessions + 64)
		fprintf(stderr, "tickpush-load: warning: open-file limit %llu < sessions + 64\n",
			(unsigned long long)rl.rlim_cur);
}

/* ---- the run ---- */

struct mem_reading {
	long rss_kb;
	double alloc_bytes;
};

static struct mem_reading read_mem(void)
{
	struct mem_reading m = { proc_rss_kb(), metric("tickpush_alloc_bytes") };

	return m;
}

static void ramp_up(void)
{
	double t0 = tp_mono(), last_print = t0;
	int opened = 0;

	while (!interrupted) {
		double now = tp_mono();
		int target = (int)fmin((double)O.sessions, (now - t0) * O.ramp + 1);
		uint64_t ready, pending;

		for (; opened < target; opened++) {
			sessions[opened].slice = (uint16_t)(O.filtered ? (unsigned)opened % (unsigned)O.slices : 0);
			if (sess_open(&sessions[opened], opened))
				ST.connect_failed++;
		}
		service(5);
		ready = count_state(S_READY);
		pending = count_state(S_CONNECTING) + count_state(S_UPGRADING) +
			  count_state(S_SUBSCRIBING);
		if (now - last_print >= 2) {
			fprintf(stderr, "  ramp: %d opened, %llu subscribed, %llu pending\n",
				opened, (unsigned long long)ready, (unsigned long long)pending);
			last_print = now;
		}
		if (opened == O.sessions && !pending)
			break;
		if (now - t0 > O.connect_timeout) {
			fprintf(stderr, "tickpush-load: ramp timed out with %llu pending\n",
				(unsigned long long)pending);
			break;
		}
	}
	fprintf(stderr, "  ramp: %.1f s\n", tp_mono() - t0);
}

static void serve_for(double seconds)
{
	double end = tp_mono() + seconds;

	while (!interrupted && tp_mono() < end)
		service(10);
}

int main(int argc, char **argv)
{
	struct mem_reading before, after;
	pthread_t pub;
	double mbusy0, mtotal0, mbusy1, mtotal1;
	double cpu0, cpu1, cpu_prev, user0, user1, self0, self1, t_end, last_check, pub_first, pub_last;
	double span, p50, p99;
	long rss_peak = 0;
	uint64_t ready, published, expected, delivered, closed = 0;
	int rc = 1;

	if (parse_opts(argc, argv))
		return 2;
	rng_state ^= (uint64_t)O.seed * 0x9e3779b97f4a7c15ull;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	raise_nofile();
	sessions = tp_calloc((size_t)O.sessions, sizeof(*sessions));
	scratch = tp_malloc(SCRATCH_SIZE);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!sessions || !scratch || epfd < 0) {
		fprintf(stderr, "tickpush-load: out of memory or epoll\n");
		goto out;
	}
	for (int i = 0; i < O.sessions; i++)
		sessions[i].fd = -1;

	printf("scenario: sessions=%d mode=%s%s rate=%g/s duration=%gs symbols=%d sources=%d\n",
	       O.sessions, O.filtered ? "filtered" : "broadcast",
	       O.filtered ? " (1 slice of the symbols each)" : "", O.rate, O.duration,
	       O.symbols, O.sources);
	before = read_mem();
	ramp_up();
	serve_for(O.settle);
	after = read_mem();
	ready = count_state(S_READY);
	ST.ready_peak = ready;
	printf("sessions: ready=%llu connect_failed=%llu upgrade_failed=%llu subscribe_failed=%llu\n",
	       (unsigned long long)ready, (unsigned long long)ST.connect_failed,
	       (unsigned long long)ST.upgrade_failed, (unsigned long long)ST.subscribe_failed);
	if (ST.first_error[0])
		printf("first error frame: %s\n", ST.first_error);
	if (!ready || interrupted)
		goto out;
	printf("memory: VmRSS %ld -> %ld KiB (%.2f KiB/session); tickpush_alloc_bytes %.0f -> %.0f (%.0f B/session)\n",
	       before.rss_kb, after.rss_kb,
	       (double)(after.rss_kb - before.rss_kb) / (double)ready,
	       before.alloc_bytes, after.alloc_bytes,
	       (after.alloc_bytes - before.alloc_bytes) / (double)ready);

	/* Publish and receive. */
	cpu0 = proc_cpu_s(&user0);
	self0 = self_cpu_s();
	machine_cpu_s(&mbusy0, &mtotal0);
	pub_start_mono = tp_mono();
	last_check = pub_start_mono;
	cpu_prev = cpu0;
	if (pthread_create(&pub, NULL, publisher, NULL)) {
		fprintf(stderr, "tickpush-load: pthread_create failed\n");
		goto out;
	}
	for (;;) {
		double now;

		service(10);
		now = tp_mono();
		if (now - last_check >= 1) {
			long rss = proc_rss_kb();
			double cpu = proc_cpu_s(NULL);
			long sec = (long)(last_check - pub_start_mono + 0.5);

			if (sec >= 0 && sec < MAX_SECONDS)
				ST.server_cpu_per_second[sec] = (cpu - cpu_prev) / (now - last_check);
			cpu_prev = cpu;

			if (rss > rss_peak)
				rss_peak = rss;
			if (rss > O.rss_cap_mb * 1024 && !atomic_load(&SH.stop)) {
				fprintf(stderr, "tickpush-load: server RSS %ld KiB over the cap: stopping the publisher\n",
					rss);
				atomic_store(&SH.stop, true);
			}
			fprintf(stderr, "  t=%.0fs published=%llu delivered=%llu rss=%ld KiB\n",
				now - pub_start_mono,
				(unsigned long long)atomic_load(&SH.published),
				(unsigned long long)ST.pattern_frames, rss);
			last_check = now;
		}
		if (interrupted)
			atomic_store(&SH.stop, true);
		if (atomic_load(&SH.done)) {
			double quiet_since = ST.last_frame_mono > atomic_load(&SH.last_pub_mono)
						     ? ST.last_frame_mono : atomic_load(&SH.last_pub_mono);

			if (ST.pattern_frames >= atomic_load(&SH.expected) ||
			    now - quiet_since > O.quiet ||
			    now - atomic_load(&SH.last_pub_mono) > O.drain)
				break;
		}
		if (now - pub_start_mono > O.duration + O.drain + 60) {
			atomic_store(&SH.stop, true); /* hard bound */
			if (atomic_load(&SH.done))
				break;
		}
	}
	pthread_join(pub, NULL);
	cpu1 = proc_cpu_s(&user1);
	self1 = self_cpu_s();
	machine_cpu_s(&mbusy1, &mtotal1);
	t_end = tp_mono();

	published = atomic_load(&SH.published);
	expected = atomic_load(&SH.expected);
	delivered = ST.pattern_frames;
	pub_first = atomic_load(&SH.first_pub_mono);
	pub_last = atomic_load(&SH.last_pub_mono);
	span = (ST.last_frame_mono > pub_first ? ST.last_frame_mono : t_end) - pub_first;
	p50 = percentile(0.50);
	p99 = percentile(0.99);
	for (int c = 0; c < 5000; c++)
		closed += ST.closed_by_code[c];
	closed += ST.closed_no_code;

	printf("published: %llu events in %.2f s (%.0f/s), errors=%llu\n",
	       (unsigned long long)published, pub_last - pub_first,
	       (double)published / fmax(pub_last - pub_first, 1e-9),
	       (unsigned long long)atomic_load(&SH.pub_errors));
	printf("delivered: %llu of %llu expected pattern frames (%.1f%%) in %.2f s = %.0f frames/s; no_stamp=%llu\n",
	       (unsigned long long)delivered, (unsigned long long)expected,
	       expected ? 100.0 * (double)delivered / (double)expected : 0.0, span,
	       (double)delivered / fmax(span, 1e-9), (unsigned long long)ST.no_stamp);
	printf("received: %llu bytes, %llu other frames, %llu error frames\n",
	       (unsigned long long)ST.bytes_in, (unsigned long long)ST.other_frames,
	       (unsigned long long)ST.error_frames);
	printf("per second:");
	for (long s = 0; s < MAX_SECONDS && s <= (long)(t_end - pub_start_mono); s++)
		printf(" %llu", (unsigned long long)ST.per_second[s]);
	printf("\n");
	printf("max latency per second (ms):");
	for (long s = 0; s < MAX_SECONDS && s <= (long)(t_end - pub_start_mono); s++)
		printf(" %.0f", ST.max_us_per_second[s] / 1000);
	printf("\n");
	printf("server cpu per second (%% of a core):");
	for (long s = 0; s < MAX_SECONDS && s < (long)(t_end - pub_start_mono); s++)
		printf(" %.0f", 100 * ST.server_cpu_per_second[s]);
	printf("\n");
	printf("latency publish->receive: p50=%.3f ms p99=%.3f ms max=%.3f ms mean=%.3f ms\n",
	       p50 / 1000, p99 / 1000, ST.lat_max_us / 1000,
	       delivered ? ST.lat_sum_us / (double)delivered / 1000 : 0.0);
	printf("server closed sessions: %llu (", (unsigned long long)closed);
	for (int c = 0; c < 5000; c++)
		if (ST.closed_by_code[c])
			printf("%d:%llu ", c, (unsigned long long)ST.closed_by_code[c]);
	printf("no close frame:%llu); still ready: %llu\n",
	       (unsigned long long)ST.closed_no_code,
	       (unsigned long long)count_state(S_READY));
	printf("server cpu: %.2f s (user %.2f, system %.2f) over %.2f s = %.3f us/delivered frame; "
	       "server RSS peak %ld KiB\n",
	       cpu1 - cpu0, user1 - user0, (cpu1 - cpu0) - (user1 - user0), t_end - pub_start_mono,
	       delivered ? (cpu1 - cpu0) * 1e6 / (double)delivered : 0.0, rss_peak);
	printf("load tool cpu: %.2f s; machine busy %.2f of %.2f core-seconds, of which "
	       "%.2f neither server nor load tool (redis-server, kernel threads, others)\n",
	       self1 - self0, mbusy1 - mbusy0, mtotal1 - mtotal0,
	       (mbusy1 - mbusy0) - (cpu1 - cpu0) - (self1 - self0));
	printf("RESULT sessions=%llu mode=%s rate=%g published=%llu expected=%llu delivered=%llu "
	       "delivered_per_s=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f rss_kib_per_session=%.2f "
	       "alloc_b_per_session=%.0f cpu_us_per_frame=%.3f closed=%llu closed_4008=%llu rss_peak_kib=%ld "
	       "other_cpu_s=%.2f\n",
	       (unsigned long long)ready, O.filtered ? "filtered" : "broadcast", O.rate,
	       (unsigned long long)published, (unsigned long long)expected,
	       (unsigned long long)delivered, (double)delivered / fmax(span, 1e-9),
	       p50 / 1000, p99 / 1000, ST.lat_max_us / 1000,
	       (double)(after.rss_kb - before.rss_kb) / (double)ready,
	       (after.alloc_bytes - before.alloc_bytes) / (double)ready,
	       delivered ? (cpu1 - cpu0) * 1e6 / (double)delivered : 0.0,
	       (unsigned long long)closed, (unsigned long long)ST.closed_by_code[4008], rss_peak,
	       (mbusy1 - mbusy0) - (cpu1 - cpu0) - (self1 - self0));
	rc = 0;
out:
	if (sessions)
		for (int i = 0; i < O.sessions; i++)
			sess_close(&sessions[i]);
	tp_free(sessions);
	tp_free(scratch);
	if (epfd >= 0)
		close(epfd);
	return rc;
}
