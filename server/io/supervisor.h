/*
 * supervisor.h - `workers = N`: one supervisor process, N worker
 * processes on one port (server/io/supervisor.c).
 */
#ifndef TICKPUSH_IO_SUPERVISOR_H
#define TICKPUSH_IO_SUPERVISOR_H

struct tp_config;

/* Which worker this process is and the listening socket it accepts on
 * (the wiring, server.h, starts the server as one). */
struct tp_worker {
	unsigned id;        /* 1..N; 0 = a single process (lws listens) */
	unsigned restarts;  /* earlier processes of this slot the supervisor replaced */
	int listen_fd;      /* ours to accept on and close; -1 without */
	int port;           /* the port it listens on (port 0 resolved) */
};

/* Returned in a worker process (by fork): run the server as *w. */
#define TP_SUPERVISOR_WORKER (-1)

/* Becomes the supervisor of n (>= 2) workers. Call it before anything
 * creates a loop, a library context or a connection: each worker continues
 * from this call in its own fresh process. Returns TP_SUPERVISOR_WORKER in
 * a worker (with *w filled: its id, restart count, listening socket and
 * port), and in the supervisor the process exit code once every worker has
 * exited after SIGTERM/SIGINT: 0 when all of them exited 0, else the first
 * non-zero status (1 for one killed by a signal); 2 when the listening
 * sockets could not be created or the first worker of a slot could not
 * start (exit status 2). */
int tp_supervisor_run(const struct tp_config *cfg, unsigned n,
		      struct tp_worker *w);

/* Cores this process may run on (its CPU affinity; `workers = auto`). */
long tp_supervisor_cores(void);

#endif
