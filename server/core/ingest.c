/* ingest.c - placeholder until the ingest pipeline lands. */
#include "tickpush/err.h"
int tp_ingest_placeholder(void);
int tp_ingest_placeholder(void) { return TP_OK; }
