/* report.h: the results of referral-bench: a run as text (for a person)
 * or as one JSON object (--json), what went wrong on stderr, and the
 * daemon/floor ratio of --compare. */
#ifndef RD_BENCH_REPORT_H
#define RD_BENCH_REPORT_H

#include "bench.h"
#include "server.h"

#include <jansson.h>

/* Whether the run failed (exit status 1): RES, or SRV (may be NULL: a
 * daemon already running) did not start or stop cleanly. */
bool run_failed(const struct result *res, const struct server *srv);

/* Report the run RES of the load OPT, against SRV (the server started for
 * it; NULL: a daemon already running): what went wrong on stderr; then the
 * results into BOTH under the server's name (--compare --json), or as one
 * JSON line (--json), or as text (after a blank line unless FIRST). */
void report_run(const struct options *opt, const struct result *res, const struct server *srv,
                json_t *both, bool first);

/* --compare: the ratio of the daemon's throughput DAEMON_RPS to the
 * floor's FLOOR_RPS, when
 * BOTH_OK (both runs complete and clean); into BOTH (then printed as one
 * JSON line with the exit status FAILED says, and freed) or as text, or
 * why there is none on stderr. */
void report_ratio(double daemon_rps, double floor_rps, bool both_ok, bool failed, json_t *both);

/* O as one compact JSON line on stdout; O is freed. */
void print_json(json_t *o);

#endif
