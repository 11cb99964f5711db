/* report.h: the results of referral-bench: a run as text (for a person)
 * or as one JSON object (--json), what went wrong on stderr, and the side
 * by side of --compare with its ratios. */
#ifndef RD_BENCH_REPORT_H
#define RD_BENCH_REPORT_H

#include "bench.h"
#include "client.h"
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

/* What the side by side of --compare shows of one server's run. */
struct summary {
        enum server_kind kind;
        bool ok;              /* the run and the server were clean */
        double throughput;    /* answered per second */
        int64_t p50, p99;     /* latency send -> reply, ns */
        double stored_bytes;  /* database and log after the stop, per referral stored; 0: none */
        double written_bytes; /* written to storage while serving, per referral; < 0: unknown */
        double cpu_us;        /* the server's CPU time per submit (all its threads); < 0: unknown */
};

/* The summary of RES against SRV into *SUM (all but ok). */
void summarise(const struct result *res, const struct server *srv, struct summary *sum);

/* --compare (or two of --spawn, --floor, --bare): the N runs SUMS of the
 * load OPT side by side (daemon, floor, bare floor, those that ran), the
 * ratios of their throughputs and the differences of their times per
 * submit, for the pairs whose runs both completed cleanly (why a figure is
 * missing goes to stderr). Into BOTH (then printed as one JSON line with
 * the exit status FAILED says, and freed) or as text. */
void report_compare(const struct options *opt, const struct summary *sums, int n, bool failed,
                    json_t *both);

/* --requests: one JSON line per request of the OPT->clients CLIENTS into
 * OPT->requests_path, by client, then in the order they were sent:
 * {"ref", "attempts", "endpoint" (the one that answered), "ok": true,
 * "duplicate", "id", "status"}, or the same with "ok": false and "error"
 * (its code), or {"ref", "attempts", "timeout": true}, or {"ref",
 * "attempts": 0} for one never sent. 0, or -errno (said on stderr). */
int write_requests(const struct options *opt, const struct client *clients);

/* O as one compact JSON line on stdout; O is freed. */
void print_json(json_t *o);

#endif
