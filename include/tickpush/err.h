/*
 * err.h - error codes shared by every module.
 *
 * Functions return int: TP_OK (0) or a negative enum tp_err. Errors that a
 * user will see (REST 400, protocol error frames) also fill a tp_errdetail
 * whose message names what was wrong.
 */
#ifndef TICKPUSH_ERR_H
#define TICKPUSH_ERR_H

#include <stdio.h>
#include <stdlib.h>

enum tp_err {
	TP_OK = 0,
	TP_ERR_NOMEM = -1,
	TP_ERR_INVAL = -2,
	TP_ERR_PROTO = -3,
	TP_ERR_IO = -4,
	TP_ERR_TIMEOUT = -5,
	TP_ERR_NOTFOUND = -6,
	TP_ERR_AUTH = -7,
	TP_ERR_LIMIT = -8,
	TP_ERR_CANCELLED = -9,
	TP_ERR_UPSTREAM = -10,
	TP_ERR_PENDING = -11,
	TP_ERR_EXISTS = -12,
};

/* Static text for a tp_err code; never NULL. */
const char *tp_strerror(int err);

/* A user-facing error: msg names the offending field or value. */
struct tp_errdetail {
	char msg[160];
	const char *field; /* static string or NULL */
};

/* printf-style fill of d (d may be NULL); returns code so callers can
 * write `return tp_errdetail_set(err, TP_ERR_INVAL, "x", "...")`. */
int tp_errdetail_set(struct tp_errdetail *d, int code, const char *field,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Always-on invariant check (cheap conditions only). Never use it on input
 * from the network or the configuration: those return errors. */
#define TP_ASSERT(cond)                                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "tickpush: assertion failed: %s (%s:%d)\n", \
				#cond, __FILE__, __LINE__);                    \
			abort();                                               \
		}                                                              \
	} while (0)

#define TP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
