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

static int conns = 1000, groups = 20, frame_len = 400, reader_cpu = -1;
static double rate = 1000, seconds = 10;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

/* The reader: connects every connection, then reads until each ends. */
static void reader(int port)
{
	int ep = epoll_create1(0), open = 0;
	static char buf[1 << 16];

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
		ev.data.fd = fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		open++;
	}
	while (open > 0) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, 30000);

		if (n <= 0)
			break; /* the writer is gone */
		for (int i = 0; i < n; i++) {
			ssize_t r;

			while ((r = read(evs[i].data.fd, buf, sizeof(buf))) > 0)
				;
			if (r == 0) {
				close(evs[i].data.fd);
				open--;
			}
		}
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t alen = sizeof(addr);
	int lfd, *fds, one = 1;
	unsigned char *frame;
	long frames = 0, events = 0, refused = 0;
	double t0, cpu0, next, period;
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
				"[--groups G (1 = broadcast)] [--frame BYTES] "
				"[--seconds S] [--reader-cpu CPU]\n");
			return 2;
		}
	}
	if (conns < 1 || groups < 1 || rate <= 0 || frame_len < 8 ||
	    frame_len > 65535 || seconds <= 0 || seconds > 600)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	addr.sin_addr.s_addr = htonl(0x7f000001u);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (void *)&addr, sizeof(addr)) || listen(lfd, 4096) ||
	    getsockname(lfd, (void *)&addr, &alen))
		die("listen");
	if ((child = fork()) == 0)
		reader(ntohs(addr.sin_port));
	fds = calloc((size_t)conns, sizeof(*fds));
	for (int i = 0; i < conns; i++) {
		if ((fds[i] = accept(lfd, NULL, NULL)) < 0)
			die("accept");
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
		setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	/* A text frame of frame_len bytes: 126-length header + payload. */
	frame = malloc((size_t)frame_len);
	memset(frame, 'x', (size_t)frame_len);
	frame[0] = 0x81;
	frame[1] = 126;
	frame[2] = (unsigned char)((frame_len - 4) >> 8);
	frame[3] = (unsigned char)((frame_len - 4) & 0xff);
	sleep(1); /* the reader settles into epoll_wait */
	period = 1 / rate;
	t0 = now();
	cpu0 = cpu_self();
	next = t0;
	while (now() - t0 < seconds) {
		int g = (int)(events % groups);

		for (int i = g; i < conns; i += groups) {
			struct iovec iov = { frame, (size_t)frame_len };

			if (writev(fds[i], &iov, 1) == frame_len)
				frames++;
			else
				refused++; /* a full socket: counted, not retried */
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
	{
		double cpu = cpu_self() - cpu0, wall = now() - t0;

		printf("{\"tool\":\"pacedfloor\",\"conns\":%d,\"groups\":%d,\"rate\":%g,"
		       "\"frame\":%d,\"events\":%ld,\"frames\":%ld,\"refused\":%ld,"
		       "\"wall_s\":%.2f,\"cpu_s\":%.3f,\"us_per_frame\":%.2f,"
		       "\"cpu_pct\":%.1f}\n",
		       conns, groups, events / wall, frame_len, events, frames,
		       refused, wall, cpu, frames ? cpu / (double)frames * 1e6 : 0,
		       cpu / wall * 100);
	}
	for (int i = 0; i < conns; i++)
		close(fds[i]);
	waitpid(child, NULL, 0);
	return 0;
}
