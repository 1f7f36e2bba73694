/* loop.c - placeholder. */
#include "tickpush/err.h"
int tp_loop_placeholder(void);
int tp_loop_placeholder(void) { return TP_OK; }
