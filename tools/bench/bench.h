/* bench.h: referral-bench, a load generator for referrald.
 *
 * CLIENTS threads, each with its own DEALER socket, submit TOTAL valid
 * referrals (protocol.md, "submit") with at most WINDOW requests in flight
 * per client. Every request carries a unique `ref` and a `corr` that names
 * its client, its slot in the window and its sequence number, so that every
 * reply is matched to exactly one request in flight; a reply that matches
 * none is a bug (of the daemon or of this program) and is reported.
 *
 * Latency runs from the send to the reply and goes into a log-linear
 * histogram (128 sub-buckets per power of two: < 0.8% error, 1 ns to
 * ~69 s, no allocation per request). With --rate the load is open loop:
 * request i of a client is due at a fixed time, whatever happened before,
 * and a second histogram measures from that due time (so a stalled daemon
 * is not hidden by the window holding back the sends: "coordinated
 * omission").
 *
 * Several daemons (-e A -e B: one active, the others standby; daemon.md,
 * "Several machines"): a request goes to the endpoint its client sends to
 * now (at first the first that answers a ping as active); on
 * `unavailable`, no reply within --attempt-timeout, or a lost connection,
 * the same request (the same bytes, the same corr) goes to the next
 * endpoint, round the list, with a pause after each round, until it is
 * answered or --timeout has passed since its first send. So a run can go
 * on through a daemon's death: every retry is counted, per request (the
 * attempts it took, --requests FILE: one line each) and per endpoint, and
 * so are the duplicates it came back as.
 *
 * The server is either one already running (-e ENDPOINT, --pid PID) or one
 * this program starts and stops itself, each in a fresh temporary directory
 * (mkdtemp under $TMPDIR or /tmp) that is removed afterwards (unless
 * --keep): --spawn starts referrald with a generated config (intake and
 * events on free loopback ports, the database in that directory, the
 * embedded routing rules, its log in referrald.log there); --floor starts
 * referral-floor (tools/floor.c), the least a server must do for this load
 * with the daemon's durability: receive, parse, one insert per submit, one
 * commit per drained batch, reply; --bare starts referral-floor --bare, the
 * same without the parsing (every frame stored as it came). --compare runs
 * the identical load against the daemon, the floor and the bare floor, one
 * after the other (any two of --spawn, --floor and --bare: those), and
 * prints them side by side with the ratios of their throughputs and the
 * differences of their times per submit: what parsing costs (floor - bare)
 * and what the daemon does above that (daemon - floor). --room routes with
 * connectors that have room for every referral (tools/bench/room.yaml):
 * every referral assigned, none waitlisted or forwarded.
 * The binaries are taken from the directory of this one unless given. A
 * started server is ready when it answers a ping; its peak RSS is read
 * before it gets SIGTERM, the size of its database (file and write-ahead
 * log) before and after it stops; it must exit 0.
 *
 * Exit codes: 0 every request answered ok (or duplicate) and every server
 * started here stopped cleanly, 1 an error reply, a timeout (no answer
 * within --timeout, default 10 s), an unmatched reply, a server that did not start or stop
 * cleanly, or a runtime fault, 2 a usage error.
 *
 * Where things are (tools/bench/):
 *   main.c     one run against a daemon already running, or the servers started here
 *   options.c  the command line (--help)
 *   submit.c   the content of the submit requests
 *   load.c     the clients, one thread each, and one run of the load
 *   client.h   what a client keeps: its window of slots, its counts
 *   peers.c    a client's endpoints: a DEALER and its monitor each, the warm-up
 *   retry.c    a request's attempts round the endpoints, and the copies still out
 *   hist.c     the latency histogram
 *   server.c   a server started here on a temporary database, and stopped
 *   report.c   the results, as text or JSON */
#ifndef RD_BENCH_H
#define RD_BENCH_H

#include "hist.h"
#include "tool.h"

#include <stdbool.h>
#include <stdint.h>

#define PROG "referral-bench"
#define DEFAULT_ENDPOINT "tcp://127.0.0.1:5570"
#define DEFAULT_CLIENTS 4
#define DEFAULT_WINDOW 64
#define DEFAULT_TOTAL 100000
#define DEFAULT_PARTNER "bench"
#define DEFAULT_TIMEOUT_MS 10000
#define MAX_CLIENTS 1024
#define MAX_ENDPOINTS 16
#define MAX_WINDOW 100000
#define PREFIX_MAX 64

struct options {
        const char *endpoints[MAX_ENDPOINTS]; /* at least one */
        int n_endpoints;
        int64_t timeout_ns;         /* a request unanswered this long after its first send */
        int64_t attempt_timeout_ns; /* several endpoints: one attempt's wait */
        const char *requests_path;  /* --requests FILE: a line per request; NULL: none */
        int clients;
        int window;
        uint64_t total;
        double rate; /* requests/s over all clients; 0: as fast as the window allows */
        long pid;    /* 0: none */
        const char *partner;
        char prefix[PREFIX_MAX + 1];
        bool json;
        bool spawn_daemon, spawn_floor, spawn_bare; /* --spawn, --floor, --bare; --compare */
        const char *daemon_path;                    /* --spawn=PATH; NULL: beside this program */
        const char *floor_path;                     /* --floor=PATH; NULL: beside this program */
        const char *bare_path;  /* --bare=PATH (a referral-floor); NULL: beside this program */
        bool keep;              /* --keep: leave the temporary directories */
        bool room;              /* --room: the routing file with room for every referral */
        const char *postgresql; /* --postgresql: the spawned daemon's store, or NULL */
};

/* Fill OPT (zeroed by the caller) from the command line; a usage error
 * (printed) exits 2, --help and --version exit 0. OPT points into ARGV. */
void parse_options(int argc, char **argv, struct options *opt);

/* The error codes of protocol.md, "Requests and replies", and a bin for
 * others ("other", the last); the statuses of an ok submit and a bin; the
 * bins of the attempts a request took (1 to N_ATTEMPT_BINS - 1, and
 * more). */
enum { N_CODES = 9, N_STATUSES = 4, N_ATTEMPT_BINS = 17 };
extern const char *const error_codes[];
extern const char *const statuses[];

/* What one endpoint did with the requests sent to it. */
struct endpoint_stats {
        uint64_t sent;             /* copies sent, first attempts and retries */
        uint64_t answered;         /* final answers (ok or an error but unavailable) */
        uint64_t unavailable;      /* `unavailable`: the request went on to the next */
        uint64_t attempt_timeouts; /* no reply within --attempt-timeout */
        uint64_t lost;             /* lost or refused connections (monitor events) */
};

/* What the replies of one client, or of a whole run, came to. */
struct stats {
        uint64_t sent, ok, duplicates, errors, timeouts, unmatched, late, bad_replies;
        /* several endpoints: the retries; late counts the copies answered
         * after their request was (late copies included) */
        uint64_t retried;                     /* requests sent more than once */
        uint64_t resends;                     /* the sends beyond each request's first */
        uint64_t dup_after_retry;             /* ok duplicates of requests sent more than once */
        uint64_t by_attempts[N_ATTEMPT_BINS]; /* answered requests by their sends */
        struct endpoint_stats ep[MAX_ENDPOINTS];
        uint64_t by_code[N_CODES];
        uint64_t by_status[N_STATUSES];
        int64_t first_send_ns, last_reply_ns;
        int64_t max_send_lag_ns; /* with --rate: how late a send was against its due time */
        struct hist lat;         /* send -> reply */
        struct hist lat_sched;   /* due time -> reply (with --rate) */
        char first_error[256];   /* the first error reply (code: message), for the report */
        char first_unmatched[160];
};

/* A server's memory, from /proc/PID/status. */
struct rss {
        bool have;
        long hwm_kb, rss_kb;
};

/* One run of the load. */
struct result {
        struct stats all;
        int64_t wall, max_lag;
        uint64_t answered;
        double throughput;
        struct rss rss;
        double client_cpu_s; /* this program's CPU time over the run (every thread) */
        int fault, fault_client;
        bool failed;
};

/* Run the load of OPT against OPT->endpoint (CLIENTS threads), read the
 * RSS of OPT->pid if set, and gather the results (the caller frees them).
 * NULL when out of memory (printed). SIGINT or SIGTERM (tool_interrupted)
 * stops the sending; the replies in flight are awaited. */
struct result *run_load(const struct options *opt);

#endif
