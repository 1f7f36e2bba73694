/*
 * sim.h - tickpush-sim entry points shared between its files.
 */
#ifndef TICKPUSH_SIM_SIM_H
#define TICKPUSH_SIM_SIM_H

#include <stdbool.h>

#include "gen.h"

/*
 * --self-test N: generates N events with opts (no Redis) and parses each
 * with tp_event_parse on its channel. Well-formed events must be accepted
 * and normalise to what the generator meant (symbol, pattern type,
 * confidence, id, times, tier, job id); updates and expiries must reuse an
 * id detected before; malformed ones must be rejected. Prints a summary
 * (and up to 10 failures) to stdout. Returns the process exit code.
 */
int sim_selftest(const struct sim_opts *opts, unsigned long n, bool verbose);

#endif
