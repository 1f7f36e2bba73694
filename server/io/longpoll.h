/*
 * longpoll.h - the long-poll transport (server/io/longpoll.c): what the wiring
 * calls. Its route handler, tp_api_poll, is in api.h.
 */
#ifndef TICKPUSH_IO_LONGPOLL_H
#define TICKPUSH_IO_LONGPOLL_H

struct tp_io;

/* Answers every waiting long-poll now (shutdown). */
void tp_poll_answer_all(struct tp_io *srv);

#endif
