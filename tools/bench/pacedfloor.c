/*
 * pacedfloor.c - the kernel's cost of the push workloads' writes, paced as
 * the workloads pace them, with nothing of tickpush in between.
 *
 * Why: a back-to-back floor (one writev per frame to every connection in
 * a tight loop, the reader always busy) measures the cheapest regime the
 * kernel has. The push workloads are paced: every 1/rate seconds one event
 * goes to `reach` of the connections, the reader sleeps in epoll between
 * events and is woken for each, and the sockets are cold. This tool writes
 * exactly that pattern (the same frame size, the same connection count,
 * reach and rate) and reports the writer's CPU per frame, so a server's
 * figure can be compared with the floor of its own regime.
 *
 * One process: the writer (the caller pins it, e.g. taskset -c 0) forks a
 * reader (pinned with --reader-cpu) that connects from 127.0.0.2-9 and
 * reads everything with epoll, as a load client does. The writer accepts,
 * then for --seconds sends, per event, one pre-framed WebSocket text frame
 * (one writev each) to the connections of that event's group: with reach
 * 1/G, connection i belongs to group i % G and events go to groups in
 * turn (the bench's symbol mode: 20 symbols, 5 %); reach 1 = broadcast.
 * Prints one JSON line. Loopback only; the run stops by itself.
 *
 * Latency: the delivery latency a server adding nothing would give in the
 * same pattern on the same box. The writer takes CLOCK_MONOTONIC once per
 * event, before the event's first writev, and stamps it into that event's
 * frames as 20 decimal digits at a fixed offset of the payload,
 * {"ts_ns":"<20 digits>","pad":"xx..x"} (the frame keeps its length, so
 * --frame is at least 45). A frame's latency therefore includes the
 * writes to the connections before it in its event, as a server's
 * fan-out does. The reader cuts each stream into frames (one may arrive
 * split over several reads, or several in one read), takes
 * CLOCK_MONOTONIC once per read and records receipt - stamp in 1 us
 * buckets up to 100 ms, then 1 ms buckets up to 10 s (the exact max is
 * kept; lat_over_100ms counts what fell past the 1 us buckets). When every
 * connection has ended it sends its frame count and p50/p99/p99.9/max to
 * the writer over a pipe; a percentile is its bucket's upper edge, capped
 * at the max. The JSON line gains frames_received, frames_match (every
 * frame counted in "frames" arrived whole) and lat_*_ms; a mismatch is
 * also said in lat_note and on stderr. A writev that sent part of a frame
 * (partial_writes, counted in "refused" as before) leaves that stream out
 * of step, so its connection gets nothing more and counts as refused.
 *
 * The one difference from tickpush-load, the real harness: it stamps
 * before the Redis PUBLISH, this at the writer's event start, so a
 * server's real path also includes one Redis hop (the PUBLISH, Redis's
 * write to the server, the server's read). The stamp is when the event
 * starts, not when it was due: a writer that falls behind its rate shows
 * in "rate", not in the latency.
 *
 *   gcc -O2 -o pacedfloor tools/bench/pacedfloor.c
 *   taskset -c 0 ./pacedfloor --conns 1000 --rate 1000 --groups 20 --reader-cpu 1
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The payload: {"ts_ns":"<STAMP_LEN digits>","pad":"x..x"} after 4 bytes
 * of header. FRAME_MIN leaves the pad empty. */
#define STAMP_OFF 14			/* header + {"ts_ns":" */
#define STAMP_LEN 20			/* any uint64_t in decimal */
#define STAMP_END (STAMP_OFF + STAMP_LEN)
#define FRAME_MIN (STAMP_END + 11)	/* + ","pad":""} */
#define LAT_US_BUCKETS 100000		/* 1 us each: up to 100 ms */
#define LAT_MS_BUCKETS 9900		/* then 1 ms each: up to 10 s */
#ifndef READ_BUF
#define READ_BUF (1 << 16)	/* -DREAD_BUF=7: every frame split over reads */
#endif

static int conns = 1000, groups = 20, frame_len = 400, reader_cpu = -1;
static double rate = 1000, seconds = 10;

/* What the reader sends the writer when its connections have ended. */
struct lat_result {
	uint64_t frames;	/* whole frames received and parsed */
	uint64_t bad;		/* frames that did not parse (that stream dropped) */
	uint64_t truncated;	/* streams that ended inside a frame */
	uint64_t over;		/* latencies beyond the 1 us buckets (100 ms) */
	uint64_t p50, p99, p999, max;	/* ns */
	int timed_out;		/* the reader gave up waiting */
};

/* A reader connection: where it is in the current frame. */
struct rconn {
	int fd;
	bool bad;
	uint32_t got;			/* bytes of the current frame seen */
	unsigned char head[STAMP_END];	/* its header, prefix and stamp */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* A text frame of frame_len bytes: 126-length header + payload, stamp 0. */
static unsigned char *make_frame(void)
{
	unsigned char *f = malloc((size_t)frame_len);

	if (!f)
		die("malloc");
	memset(f, 'x', (size_t)frame_len);
	f[0] = 0x81;
	f[1] = 126;
	f[2] = (unsigned char)((frame_len - 4) >> 8);
	f[3] = (unsigned char)((frame_len - 4) & 0xff);
	memcpy(f + 4, "{\"ts_ns\":\"", STAMP_OFF - 4);
	memset(f + STAMP_OFF, '0', STAMP_LEN);
	memcpy(f + STAMP_END, "\",\"pad\":\"", 9);
	f[frame_len - 2] = '"';
	f[frame_len - 1] = '}';
	return f;
}

/* Fixed width, no snprintf: once per event, on the writer's clock. */
static void put_stamp(unsigned char *frame, uint64_t ns)
{
	for (int i = STAMP_LEN - 1; i >= 0; i--) {
		frame[STAMP_OFF + i] = (unsigned char)('0' + ns % 10);
		ns /= 10;
	}
}

static const unsigned char *frame_proto;	/* the reader checks against it */
static uint64_t lat_hist[LAT_US_BUCKETS + LAT_MS_BUCKETS];
static struct lat_result res;

/* A whole frame arrived at t: check its header and record its latency. */
static void frame_done(struct rconn *c, uint64_t t)
{
	uint64_t ns = 0, lat;

	if (memcmp(c->head, frame_proto, STAMP_OFF))
		goto bad;
	for (int i = 0; i < STAMP_LEN; i++) {
		unsigned d = (unsigned)c->head[STAMP_OFF + i] - '0';

		if (d > 9)
			goto bad;
		ns = ns * 10 + d;
	}
	lat = t > ns ? t - ns : 0;
	res.frames++;
	if (lat > res.max)
		res.max = lat;
	if (lat / 1000 < LAT_US_BUCKETS) {
		lat_hist[lat / 1000]++;
		return;
	}
	res.over++;
	if (lat / 1000000 - LAT_US_BUCKETS / 1000 < LAT_MS_BUCKETS)
		lat_hist[LAT_US_BUCKETS + lat / 1000000 - LAT_US_BUCKETS / 1000]++;
	return;
bad:
	/* Out of step with the frames: nothing after this can be trusted. */
	c->bad = true;
	res.bad++;
}

/* n bytes of c's stream read at t: frames may be split or several. */
static void consume(struct rconn *c, const unsigned char *p, size_t n,
		    uint64_t t)
{
	while (n > 0 && !c->bad) {
		size_t want = (c->got < STAMP_END ? STAMP_END : (size_t)frame_len) -
			      c->got;
		size_t take = n < want ? n : want;

		if (c->got < STAMP_END)
			memcpy(c->head + c->got, p, take);
		c->got += (uint32_t)take;
		p += take;
		n -= take;
		if (c->got == (uint32_t)frame_len) {
			frame_done(c, t);
			c->got = 0;
		}
	}
}

/* The q-per-mille percentile in ns: its bucket's upper edge, capped at the
 * max (and the max itself beyond the last bucket, 10 s). */
static uint64_t percentile(unsigned permille)
{
	uint64_t want = (res.frames * permille + 999) / 1000, acc = 0;

	if (!res.frames)
		return 0;
	if (want < 1)
		want = 1;
	for (size_t i = 0; i < LAT_US_BUCKETS + LAT_MS_BUCKETS; i++) {
		uint64_t edge = i < LAT_US_BUCKETS ? (i + 1) * 1000 :
				(i - LAT_US_BUCKETS + LAT_US_BUCKETS / 1000 + 1) *
				1000000;

		acc += lat_hist[i];
		if (acc >= want)
			return edge < res.max ? edge : res.max;
	}
	return res.max;
}

/* The reader: connects every connection, then reads until each ends, and
 * sends its latencies to the writer on out. */
static void reader(int port, int out)
{
	int ep = epoll_create1(0), open = 0;
	static unsigned char buf[READ_BUF];
	struct rconn *rc = calloc((size_t)conns, sizeof(*rc));

	if (!rc)
		die("reader calloc");
	if (reader_cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(reader_cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	for (int i = 0; i < conns; i++) {
		struct sockaddr_in src = { .sin_family = AF_INET }, dst = {
			.sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct epoll_event ev = { .events = EPOLLIN };

		/* 8 source addresses: 10,000 connections need no port tuning */
		src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i % 8));
		dst.sin_addr.s_addr = htonl(0x7f000001u);
		if (fd < 0 || bind(fd, (void *)&src, sizeof(src)) ||
		    connect(fd, (void *)&dst, sizeof(dst)))
			die("reader connect");
		fcntl(fd, F_SETFL, O_NONBLOCK);
		rc[i].fd = fd;
		ev.data.u32 = (uint32_t)i;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		open++;
	}
	while (open > 0) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, 30000);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			res.timed_out = 1;
			break; /* the writer is gone */
		}
		for (int i = 0; i < n; i++) {
			struct rconn *c = &rc[evs[i].data.u32];
			ssize_t r;

			/* One clock read per read(): its frames' receipt time. */
			while ((r = read(c->fd, buf, sizeof(buf))) > 0)
				consume(c, buf, (size_t)r, now_ns());
			if (r == 0) {
				if (c->got && !c->bad)
					res.truncated++;
				close(c->fd);
				open--;
			}
		}
	}
	res.p50 = percentile(500);
	res.p99 = percentile(990);
	res.p999 = percentile(999);
	if (write(out, &res, sizeof(res)) != (ssize_t)sizeof(res))
		die("reader result");
	_exit(0);
}

/* Each process holds conns sockets (plus a few): raise the soft limit. */
static void need_fds(void)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)conns + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		fprintf(stderr, "pacedfloor: %d connections need %lu fds, the "
			"hard limit is %lu\n", conns, (unsigned long)want,
			(unsigned long)rl.rlim_max);
		exit(2);
	}
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("setrlimit");
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t alen = sizeof(addr);
	int lfd, *fds, one = 1, lat_pipe[2];
	unsigned char *frame;
	bool *broken, have_res = false;
	long frames = 0, events = 0, refused = 0, partial = 0;
	double t0, cpu0, next, period, cpu, wall;
	pid_t child;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--conns"))
			conns = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--rate"))
			rate = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--groups"))
			groups = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--frame"))
			frame_len = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--reader-cpu"))
			reader_cpu = atoi(argv[i + 1]);
		else {
			fprintf(stderr, "usage: pacedfloor [--conns N] [--rate EV/S] "
				"[--groups G (1 = broadcast)] [--frame BYTES (%d-65535)] "
				"[--seconds S] [--reader-cpu CPU]\n", FRAME_MIN);
			return 2;
		}
	}
	if (conns < 1 || groups < 1 || rate <= 0 || frame_len < FRAME_MIN ||
	    frame_len > 65535 || seconds <= 0 || seconds > 600)
		return 2;
	need_fds();
	signal(SIGPIPE, SIG_IGN);
	frame = make_frame();
	frame_proto = frame;	/* the reader's is fork's copy, never stamped */
	addr.sin_addr.s_addr = htonl(0x7f000001u);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (void *)&addr, sizeof(addr)) || listen(lfd, 4096) ||
	    getsockname(lfd, (void *)&addr, &alen))
		die("listen");
	if (pipe(lat_pipe))
		die("pipe");
	if ((child = fork()) == 0) {
		close(lfd);
		close(lat_pipe[0]);
		reader(ntohs(addr.sin_port), lat_pipe[1]);
	}
	close(lat_pipe[1]);
	fds = calloc((size_t)conns, sizeof(*fds));
	broken = calloc((size_t)conns, sizeof(*broken));
	if (!fds || !broken)
		die("calloc");
	for (int i = 0; i < conns; i++) {
		if ((fds[i] = accept(lfd, NULL, NULL)) < 0)
			die("accept");
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
		setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	sleep(1); /* the reader settles into epoll_wait */
	period = 1 / rate;
	t0 = now();
	cpu0 = cpu_self();
	next = t0;
	while (now() - t0 < seconds) {
		int g = (int)(events % groups);

		/* writev copies the bytes: the next event may restamp. */
		put_stamp(frame, now_ns());
		for (int i = g; i < conns; i += groups) {
			struct iovec iov = { frame, (size_t)frame_len };
			ssize_t w;

			if (broken[i]) {
				refused++;
				continue;
			}
			w = writev(fds[i], &iov, 1);
			if (w == frame_len) {
				frames++;
			} else {
				refused++; /* a full socket: counted, not retried */
				/* Half a frame sent: the stream is out of step
				 * for the reader, so it gets nothing more. */
				if (w > 0) {
					broken[i] = true;
					partial++;
				}
			}
		}
		events++;
		next += period;
		if (next > now()) {
			struct timespec ts;
			double d = next - now();

			ts.tv_sec = (time_t)d;
			ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
			nanosleep(&ts, NULL);
		}
	}
	cpu = cpu_self() - cpu0;
	wall = now() - t0;
	/* The reader reports once every connection has ended. */
	for (int i = 0; i < conns; i++)
		close(fds[i]);
	free(fds);
	free(broken);
	free(frame);
	close(lfd);
	{
		size_t got = 0;
		ssize_t r;

		while (got < sizeof(res) &&
		       ((r = read(lat_pipe[0], (char *)&res + got,
				  sizeof(res) - got)) > 0 ||
			(r < 0 && errno == EINTR)))
			if (r > 0)
				got += (size_t)r;
		have_res = got == sizeof(res);
	}
	close(lat_pipe[0]);
	waitpid(child, NULL, 0);
	printf("{\"tool\":\"pacedfloor\",\"conns\":%d,\"groups\":%d,\"rate\":%g,"
	       "\"frame\":%d,\"events\":%ld,\"frames\":%ld,\"refused\":%ld,"
	       "\"wall_s\":%.2f,\"cpu_s\":%.3f,\"us_per_frame\":%.2f,"
	       "\"cpu_pct\":%.1f,\"partial_writes\":%ld",
	       conns, groups, events / wall, frame_len, events, frames,
	       refused, wall, cpu, frames ? cpu / (double)frames * 1e6 : 0,
	       cpu / wall * 100, partial);
	if (!have_res) {
		printf(",\"frames_received\":null,\"frames_match\":false,"
		       "\"lat_note\":\"no result from the reader\"}\n");
		fprintf(stderr, "pacedfloor: no result from the reader\n");
		return 1;
	}
	printf(",\"frames_received\":%llu,\"frames_match\":%s,"
	       "\"lat_p50_ms\":%.3f,\"lat_p99_ms\":%.3f,\"lat_p999_ms\":%.3f,"
	       "\"lat_max_ms\":%.3f,\"lat_over_100ms\":%llu",
	       (unsigned long long)res.frames,
	       res.frames == (uint64_t)frames ? "true" : "false",
	       (double)res.p50 / 1e6, (double)res.p99 / 1e6,
	       (double)res.p999 / 1e6, (double)res.max / 1e6,
	       (unsigned long long)res.over);
	if (res.frames != (uint64_t)frames || res.bad || res.timed_out) {
		char note[200];

		snprintf(note, sizeof(note), "frames_received %llu, frames sent %ld:"
			 " %llu unparsable, %llu streams cut in a frame%s",
			 (unsigned long long)res.frames, frames,
			 (unsigned long long)res.bad,
			 (unsigned long long)res.truncated,
			 res.timed_out ? ", the reader timed out" : "");
		printf(",\"lat_note\":\"%s\"", note);
		fprintf(stderr, "pacedfloor: %s\n", note);
	}
	printf("}\n");
	return 0;
}
