/*
 * supervisor.c - `workers = N`: a supervisor process and N workers on one
 * port.
 *
 * Design. Each worker is a whole tickpush (its own libuv loop, lws
 * context, Redis connections, pattern cache, sessions); the processes
 * share nothing but the port. The supervisor runs before any of that
 * exists and never creates any of it: it only owns sockets, children and
 * signals, with plain POSIX calls, so a fork never copies a loop, a
 * library's threads or a connection. Each worker continues from
 * tp_supervisor_run in a fresh child and builds its server from scratch.
 *
 * The port. lws 4.1.6 sets SO_REUSEPORT only for contexts with several
 * service threads, so the supervisor makes the sockets: one listening
 * SO_REUSEPORT socket per worker slot, all bound to the same address and
 * port, before the first fork. The kernel spreads new connections over
 * the listening sockets by a hash of the 4-tuple (even, no thundering
 * herd); worker K accepts on socket K only (listener.c) and closes the
 * others. Port 0 is resolved by the first socket's bind (getsockname) and
 * the rest bind that port; the supervisor writes the port file once all
 * sockets listen, so the file always names the shared port and
 * connections made after it exists wait in a backlog until a worker
 * accepts them.
 *
 * A worker dies: the supervisor closes that slot's socket at once (the
 * kernel then routes new connections to the other workers; connections
 * still queued on the dead socket are reset, which is what any listening
 * process's death does), and after the restart backoff (supervise.c: 0.5 s
 * doubling to 30 s, forgiven after 10 s of uptime) makes a fresh socket
 * and forks a replacement. Sessions on the other workers never notice.
 * Exit status or signal, uptime and the slot's restart count are logged;
 * the worker's /metrics shows tp_worker_restarts.
 * One exception: the first process of a slot exiting with status 2
 * ("could not start") is a setup error every replacement would repeat,
 * so the supervisor stops the others and exits 2, as one process would.
 *
 * Signals are blocked in the supervisor and taken synchronously with
 * sigtimedwait (no handlers, no async-signal-safety puzzles), with the
 * next restart or the shutdown deadline as the timeout. Workers get the
 * original mask back before they run. SIGTERM/SIGINT: close the listening
 * sockets, forward the signal to every worker (each drains for
 * shutdown_timeout), wait; after shutdown_timeout + 5 s SIGKILL whoever is
 * left. SIGHUP is forwarded (each worker reloads itself). A worker whose
 * supervisor disappears gets SIGTERM (PR_SET_PDEATHSIG), so no worker is
 * ever orphaned. The exit code is 0 when every worker exited 0 on
 * shutdown (a sanitizer report or a leaked handle in any worker makes it
 * non-zero).
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netutil.h"
#include "supervisor.h"
#include "tickpush/clock.h"
#include "tickpush/config.h"
#include "tickpush/log.h"
#include "tickpush/supervise.h"

#define KILL_GRACE 5.0  /* seconds after shutdown_timeout before SIGKILL */

struct slot {
	pid_t pid;            /* 0 = not running */
	int fd;               /* listening socket, -1 = none */
	double started;       /* tp_mono() at fork */
	double restart_at;    /* when not running: fork again at */
	unsigned restarts;
	struct tp_restart_state backoff;
};

/* Static: a worker inherits nothing it would have to free. */
static struct slot slots[TP_WORKERS_MAX];

long tp_supervisor_cores(void)
{
	cpu_set_t set;

	if (!sched_getaffinity(0, sizeof(set), &set))
		return CPU_COUNT(&set);
	return sysconf(_SC_NPROCESSORS_ONLN);
}

/* A listening SO_REUSEPORT socket on bind:*port; *port is set to the
 * bound port (port 0 resolved). -1 on failure (logged). */
static int open_listener(const char *bind_addr, int *port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	const char *addr = strcmp(bind_addr, "localhost") ? bind_addr : "127.0.0.1";
	int one = 1, fd;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)*port);
		len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)*port);
		len = sizeof(*in6);
	} else {
		TP_LOG(TP_LOG_ERR, "msg=\"supervisor: bad bind address\" bind=%s", tp_log_q(bind_addr));
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, SOMAXCONN))
		goto fail;
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		goto fail;
	*port = ntohs(ss.ss_family == AF_INET ? in4->sin_port : in6->sin6_port);
	return fd;
fail:
	TP_LOG(TP_LOG_ERR, "msg=\"supervisor: cannot listen\" bind=%s port=%d err=%s",
	       tp_log_q(bind_addr), *port, tp_log_q(strerror(errno)));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The signals the supervisor takes (sigtimedwait). */
static const int taken[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
#define TAKEN_COUNT (sizeof(taken) / sizeof(taken[0]))

struct sup {
	const struct tp_config *cfg;
	unsigned n;
	int port;              /* the shared port, resolved */
	sigset_t orig_mask;    /* the workers' signal mask... */
	struct sigaction orig_action[TAKEN_COUNT]; /* ...and dispositions */
	pid_t self;
	bool stopping;
	bool give_up;          /* a first worker could not start: stop all */
	double deadline;       /* SIGKILL the rest after this */
	int rc;                /* exit code */
};

static void close_listeners(const struct sup *sp)
{
	for (unsigned i = 0; i < sp->n; i++) {
		if (slots[i].fd >= 0)
			close(slots[i].fd);
		slots[i].fd = -1;
	}
}

static void signal_all(const struct sup *sp, int sig)
{
	for (unsigned i = 0; i < sp->n; i++)
		if (slots[i].pid > 0)
			kill(slots[i].pid, sig);
}

static unsigned running(const struct sup *sp)
{
	unsigned r = 0;

	for (unsigned i = 0; i < sp->n; i++)
		r += slots[i].pid > 0;
	return r;
}

static void schedule_restart(struct slot *s, double uptime)
{
	s->restart_at = tp_mono() + tp_restart_delay(&tp_restart_default,
						     &s->backoff, uptime);
}

/* Forks worker i. Returns true in the child (*w filled), false in the
 * supervisor (also when it failed: retried after a backoff). */
static bool spawn(struct sup *sp, unsigned i, struct tp_worker *w)
{
	struct slot *s = &slots[i];
	pid_t pid;

	if (s->fd < 0 && (s->fd = open_listener(sp->cfg->bind, &sp->port)) < 0) {
		schedule_restart(s, 0);
		return false;
	}
	pid = fork();
	if (pid == 0) {
		for (size_t k = 0; k < TAKEN_COUNT; k++)
			sigaction(taken[k], &sp->orig_action[k], NULL);
		sigprocmask(SIG_SETMASK, &sp->orig_mask, NULL);
		/* Never outlive the supervisor (it may be SIGKILLed). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != sp->self)
			_exit(1);
		for (unsigned k = 0; k < sp->n; k++)
			if (k != i && slots[k].fd >= 0)
				close(slots[k].fd);
		w->id = i + 1;
		w->restarts = s->restarts;
		w->listen_fd = s->fd;
		w->port = sp->port;
		tp_log_worker = w->id;
		return true;
	}
	if (pid < 0) {
		TP_LOG(TP_LOG_ERR, "msg=\"supervisor: fork failed\" worker_id=%u err=%s",
		       i + 1, tp_log_q(strerror(errno)));
		schedule_restart(s, 0);
		return false;
	}
	s->pid = pid;
	s->started = tp_mono();
	TP_LOG(TP_LOG_NOTICE, "msg=\"worker started\" worker_id=%u pid=%ld restarts=%u",
	       i + 1, (long)pid, s->restarts);
	return false;
}

/* Collects exited workers: logs each, schedules replacements (unless
 * stopping) and records shutdown statuses. */
static void reap(struct sup *sp)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		unsigned i;
		struct slot *s;
		double uptime;
		int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;

		for (i = 0; i < sp->n && slots[i].pid != pid; i++)
			;
		if (i == sp->n)
			continue;
		s = &slots[i];
		s->pid = 0;
		uptime = tp_mono() - s->started;
		if (sp->stopping) {
			if (code && !sp->rc)
				sp->rc = code;
			TP_LOG(code ? TP_LOG_WARN : TP_LOG_NOTICE,
			       "msg=\"worker exited\" worker_id=%u pid=%ld %s=%d uptime=%.1fs",
			       i + 1, (long)pid,
			       WIFEXITED(status) ? "status" : "signal",
			       WIFEXITED(status) ? code : WTERMSIG(status), uptime);
			continue;
		}
		/* New connections go to the others from now on. */
		if (s->fd >= 0)
			close(s->fd);
		s->fd = -1;
		if (tp_restart_gives_up(s->restarts, WIFEXITED(status), code)) {
			TP_LOG(TP_LOG_ERR, "msg=\"worker could not start, stopping\" worker_id=%u pid=%ld status=%d",
			       i + 1, (long)pid, code);
			sp->rc = code;
			sp->give_up = true;
			continue;
		}
		schedule_restart(s, uptime);
		s->restarts++;
		TP_LOG(TP_LOG_ERR, "msg=\"worker died\" worker_id=%u pid=%ld %s=%d uptime=%.1fs restart_in=%.1fs restarts=%u",
		       i + 1, (long)pid, WIFEXITED(status) ? "status" : "signal",
		       WIFEXITED(status) ? code : WTERMSIG(status), uptime,
		       s->restart_at - tp_mono(), s->restarts);
	}
}

static void begin_stop(struct sup *sp, int sig)
{
	if (!sp->stopping) {
		sp->stopping = true;
		sp->deadline = tp_mono() + sp->cfg->shutdown_timeout + KILL_GRACE;
		TP_LOG(TP_LOG_NOTICE, "msg=\"supervisor: stopping workers\" signal=%d running=%u timeout=%.1fs",
		       sig, running(sp), sp->cfg->shutdown_timeout + KILL_GRACE);
		close_listeners(sp);
	}
	signal_all(sp, sig);
}

/* Seconds until the supervisor must act without a signal. */
static double next_wakeup(const struct sup *sp, double now)
{
	double t = 1.0; /* an upper bound: also re-checks the children */

	if (sp->stopping)
		return sp->deadline - now < t ? sp->deadline - now : t;
	for (unsigned i = 0; i < sp->n; i++)
		if (!slots[i].pid && slots[i].restart_at - now < t)
			t = slots[i].restart_at - now;
	return t;
}

int tp_supervisor_run(const struct tp_config *cfg, unsigned n,
		      struct tp_worker *w)
{
	struct sup sp = {.cfg = cfg, .n = n, .port = cfg->port, .self = getpid()};
	sigset_t set;

	TP_ASSERT(n >= 2 && n <= TP_WORKERS_MAX);
	for (unsigned i = 0; i < n; i++)
		slots[i] = (struct slot){.fd = -1};
	/* All sockets first: the port file then names a port every worker
	 * listens on, and port 0 is chosen once. */
	for (unsigned i = 0; i < n; i++) {
		if ((slots[i].fd = open_listener(cfg->bind, &sp.port)) < 0) {
			close_listeners(&sp);
			return 2;
		}
	}
	if (tp_port_file_write(cfg->port_file, sp.port)) {
		close_listeners(&sp);
		return 2;
	}
	TP_LOG(TP_LOG_NOTICE, "msg=\"supervisor: listening\" url=%s://%s:%d/ workers=%u pid=%ld",
	       *cfg->tls_cert ? "https" : "http",
	       strchr(cfg->bind, ':') ? "[::1]" : cfg->bind, sp.port, n, (long)sp.self);

	/* Blocked, and at their default action: an ignored signal (nohup
	 * ignores SIGHUP; a parent may ignore SIGCHLD, which would reap the
	 * workers behind our back) is never pending, so never taken. */
	sigemptyset(&set);
	for (size_t k = 0; k < TAKEN_COUNT; k++)
		sigaddset(&set, taken[k]);
	sigprocmask(SIG_BLOCK, &set, &sp.orig_mask);
	for (size_t k = 0; k < TAKEN_COUNT; k++) {
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(taken[k], &dfl, &sp.orig_action[k]);
	}

	for (unsigned i = 0; i < n; i++)
		if (spawn(&sp, i, w))
			return TP_SUPERVISOR_WORKER;

	for (;;) {
		double now = tp_mono(), wait = next_wakeup(&sp, now);
		struct timespec ts;
		int sig;

		if (wait < 0)
			wait = 0;
		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			begin_stop(&sp, sig);
		} else if (sig == SIGHUP && !sp.stopping) {
			TP_LOG(TP_LOG_NOTICE, "msg=\"supervisor: forwarding SIGHUP\" running=%u",
			       running(&sp));
			signal_all(&sp, SIGHUP);
		}
		reap(&sp);
		if (sp.give_up && !sp.stopping)
			begin_stop(&sp, SIGTERM);
		now = tp_mono();
		if (sp.stopping) {
			if (!running(&sp))
				break;
			if (now >= sp.deadline) {
				TP_LOG(TP_LOG_ERR, "msg=\"supervisor: shutdown timeout, killing workers\" running=%u",
				       running(&sp));
				signal_all(&sp, SIGKILL);
				sp.deadline = now + 3600; /* reaped next turns */
				if (!sp.rc)
					sp.rc = 1;
			}
			continue;
		}
		for (unsigned i = 0; i < n; i++)
			if (!slots[i].pid && now >= slots[i].restart_at &&
			    spawn(&sp, i, w))
				return TP_SUPERVISOR_WORKER;
	}
	for (size_t k = 0; k < TAKEN_COUNT; k++)
		sigaction(taken[k], &sp.orig_action[k], NULL);
	sigprocmask(SIG_SETMASK, &sp.orig_mask, NULL);
	TP_LOG(TP_LOG_NOTICE, "msg=\"supervisor: stopped\" exit_code=%d", sp.rc);
	return sp.rc;
}
