/*
 * err.c - error code texts and user-facing error details.
 */
#include <stdarg.h>
#include <stdio.h>

#include "tickpush/err.h"

const char *tp_strerror(int err)
{
	switch (err) {
	case TP_OK: return "ok";
	case TP_ERR_NOMEM: return "out of memory";
	case TP_ERR_INVAL: return "invalid argument";
	case TP_ERR_PROTO: return "protocol error";
	case TP_ERR_IO: return "i/o error";
	case TP_ERR_TIMEOUT: return "timed out";
	case TP_ERR_NOTFOUND: return "not found";
	case TP_ERR_AUTH: return "not authorised";
	case TP_ERR_LIMIT: return "limit exceeded";
	case TP_ERR_CANCELLED: return "cancelled";
	case TP_ERR_UPSTREAM: return "upstream unavailable";
	case TP_ERR_PENDING: return "pending";
	case TP_ERR_EXISTS: return "already exists";
	}
	return "unknown error";
}

int tp_errdetail_set(struct tp_errdetail *d, int code, const char *field,
		     const char *fmt, ...)
{
	va_list ap;

	if (!d)
		return code;
	d->field = field;
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
	return code;
}
