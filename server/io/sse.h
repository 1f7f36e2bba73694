/*
 * sse.h - what the wiring calls on the SSE streams (server/io/sse.c):
 * the 1 Hz tick. http.c owns each stream's connection and reaches the
 * stream through the ops sse.c hands to tp_http_stream_start.
 */
#ifndef TICKPUSH_IO_SSE_H
#define TICKPUSH_IO_SSE_H

struct tp_io;

/* Keep-alive comments, deleted accounts (an "error" event, then the end). */
void tp_sse_tick(struct tp_io *srv, double mono_now);

#endif
