/* referral-perf-fill: a database of many referrals, quickly, for measuring
 * the daemon at that size (start-up, `stats`, RSS; tools/perf/million.py).
 *
 * The referrals go through lib/hub exactly as the daemon's submits and
 * updates do (decide, store with the trace, the events, the offer, the
 * waitlist, the audit row), in one process without sockets, with the
 * store's synchronous=NORMAL (no fsync per commit; a test-only setting that
 * lib/store offers for tests and benchmarks) and a commit every 10,000
 * operations. Nothing of the daemon's production path changes: this is a
 * separate program, not installed.
 *
 * The clock is simulated: N referrals spread evenly over SPAN days that end
 * now (so that the daemon, started on the file, finds no backlog of
 * deadlines, retention or audit purges to catch up with). Each referral is
 * the one referral-bench sends (tools/bench/submit.c, ref prefix PREFIX,
 * partner "bench"), parsed and validated as the daemon does. Every offer is
 * started at once by its connector, and every started trajectory is closed
 * TRAJECTORY minutes later, which frees the place for the next offer (the
 * waitlist is served as the daemon serves it). Deadlines are handled as
 * the daemon's loop handles them, once a simulated minute. With the
 * benchmark's routing file (tools/bench/routing.yaml: small teams, 45
 * places) most referrals are started and closed, some forwarded, and a few
 * wait at the end.
 *
 * Usage: referral-perf-fill -d DBFILE -r ROUTING [-n N] [--span DAYS]
 *            [--trajectory MINUTES] [--prefix PREFIX]
 * The database must not exist. Exit codes: 0 done, 1 a fault, 2 a usage
 * error. */
#include "hub.h"
#include "referral.h"
#include "request.h"
#include "routing_files.h"
#include "rules.h"
#include "store.h"

#include "bench.h"
#include "submit.h"
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FILL_PROG "referral-perf-fill"
#define COMMIT_EVERY 10000 /* operations per transaction */
#define MINUTE_MS INT64_C(60000)
#define DAY_MS INT64_C(86400000)
#define TICK_LIMIT 256

/* A started trajectory, closed at CLOSE_AT by CONNECTOR. */
struct open_traj {
        int64_t close_at;
        char id[RD_RID_MAX];
        char connector[RD_ID_MAX + 1];
};

struct fill {
        struct rd_store *store;
        struct rd_hub *hub;
        struct options bench; /* what build_submit reads */
        uint64_t prefix_hash;
        int64_t trajectory_ms;
        struct open_traj *open; /* a ring, in order of close_at */
        size_t n_open, head, cap_open;
        size_t seen; /* events of the outbox looked at */
        uint64_t ops, submitted, started, closed;
};

/* ---- the operations, as the daemon runs them ------------------------------------------- */

static int audit(struct fill *f, int64_t now, const char *action, const char *id)
{
        return rd_store_audit(f->store, now, "local", "coordinator", action, id);
}

/* Referral number I of the load, submitted at NOW. */
static int submit(struct fill *f, uint64_t i, int64_t now)
{
        char buf[REQUEST_MAX];
        struct rd_request req;
        struct rd_stored st;
        struct rd_error err;
        bool duplicate;
        int len = build_submit(&f->bench, f->prefix_hash, 0, 0, i, buf, sizeof buf), r;

        if (len < 0)
                return -E2BIG;
        r = rd_request_decode(buf, (size_t)len, &req, &err);
        if (r == 0 && (r = req.referral_rc) < 0) {
                err = req.referral_err;
                rd_request_clear(&req);
        }
        if (r < 0) {
                tool_msg(FILL_PROG, "referral %" PRIu64 ": %s", i, err.message);
                return r;
        }
        r = rd_hub_submit(f->hub, &req.referral, now, &st, &duplicate, &err);
        rd_request_clear(&req);
        if (r == 0)
                r = audit(f, now, "submit", st.id);
        f->submitted += r == 0;
        return r;
}

/* An update of referral ID to STATUS by CONNECTOR at NOW, audited. */
static int update(struct fill *f, const char *id, enum rd_status status, const char *connector,
                  int64_t now)
{
        struct rd_update u = {.id = id, .status = status, .connector = connector};
        struct rd_stored st;
        struct rd_error err;
        bool changed;
        char action[32];
        int r = rd_hub_update(f->hub, &u, now, &st, &changed, &err);

        if (r < 0) {
                tool_msg(FILL_PROG, "update of %s to %s: %s", id, rd_status_name(status),
                         err.message);
                return r;
        }
        snprintf(action, sizeof action, "update:%s", rd_status_name(status));
        return audit(f, now, action, id);
}

/* Room for one more open trajectory. 0 or -ENOMEM. */
static int open_reserve(struct fill *f)
{
        struct open_traj *v;
        size_t cap;

        if (f->n_open < f->cap_open)
                return 0;
        cap = f->cap_open ? f->cap_open * 2 : 256;
        v = malloc(cap * sizeof *v);
        if (!v)
                return -ENOMEM;
        for (size_t k = 0; k < f->n_open; k++)
                v[k] = f->open[(f->head + k) % f->cap_open];
        free(f->open);
        f->open = v;
        f->cap_open = cap;
        f->head = 0;
        return 0;
}

/* Start every referral the outbox offered since it was last looked at,
 * and remember when to close it. */
static int start_offers(struct fill *f, int64_t now)
{
        size_t n;
        const struct rd_event *ev = rd_hub_events(f->hub, &n);
        int r = 0;

        while (r == 0 && f->seen < n) {
                struct rd_event e = ev[f->seen++]; /* the outbox grows as we go */
                struct open_traj *t;

                if (e.type != RD_EV_ASSIGNED)
                        continue;
                r = open_reserve(f);
                if (r == 0)
                        r = update(f, e.id, RD_STATUS_STARTED, e.connector, now);
                if (r < 0)
                        break;
                t = &f->open[(f->head + f->n_open++) % f->cap_open];
                t->close_at = now + f->trajectory_ms;
                snprintf(t->id, sizeof t->id, "%s", e.id);
                snprintf(t->connector, sizeof t->connector, "%s", e.connector);
                f->started++;
                f->ops++;
                ev = rd_hub_events(f->hub, &n);
        }
        return r;
}

/* Close the trajectories due at NOW (the waitlist is served as each frees
 * a place) and start what that offered. */
static int close_due(struct fill *f, int64_t now)
{
        int r = 0;

        while (r == 0 && f->n_open && f->open[f->head].close_at <= now) {
                struct open_traj t = f->open[f->head];

                f->head = (f->head + 1) % f->cap_open;
                f->n_open--;
                r = update(f, t.id, RD_STATUS_CLOSED, t.connector, now);
                if (r == 0)
                        r = start_offers(f, now);
                f->closed++;
                f->ops++;
        }
        return r;
}

/* The daemon's deadlines at NOW: offers, windows (at risk, missed). */
static int tick(struct fill *f, int64_t now)
{
        size_t done;
        int r;

        do {
                r = rd_hub_tick(f->hub, now, TICK_LIMIT, &done);
        } while (r == 0 && done == TICK_LIMIT);
        return r == 0 ? start_offers(f, now) : r;
}

/* Commit the transaction, forget the outbox, begin the next. */
static int commit(struct fill *f, bool again)
{
        int r = rd_store_commit(f->store);

        rd_hub_events_clear(f->hub);
        f->seen = 0;
        if (r < 0)
                tool_msg(FILL_PROG, "commit: %s", rd_store_errmsg(f->store));
        else if (again)
                r = rd_store_begin(f->store);
        return r;
}

/* N referrals from START to END (ms since the epoch). */
static int run(struct fill *f, uint64_t n, int64_t start, int64_t end)
{
        int64_t step = (end - start) / (int64_t)(n ? n : 1), next_tick = start + MINUTE_MS;
        uint64_t committed_ops = 0;
        int r = rd_store_begin(f->store);

        if (r == 0)
                r = rd_hub_serve_waitlist(f->hub, start); /* notes the routing file */
        for (uint64_t i = 0; r == 0 && i < n && !tool_interrupted; i++) {
                int64_t now = start + (int64_t)i * step;

                r = close_due(f, now);
                if (r == 0 && now >= next_tick) {
                        r = tick(f, now);
                        next_tick = now + MINUTE_MS;
                }
                if (r == 0)
                        r = submit(f, i, now);
                if (r == 0)
                        r = start_offers(f, now);
                f->ops++;
                if (r == 0 && f->ops - committed_ops >= COMMIT_EVERY) {
                        r = commit(f, true);
                        committed_ops = f->ops;
                }
                if (r == 0 && (i + 1) % 100000 == 0)
                        fprintf(stderr,
                                FILL_PROG ": %" PRIu64 " referrals, %" PRIu64 " started, %" PRIu64
                                          " closed\n",
                                i + 1, f->started, f->closed);
        }
        if (r == 0)
                r = commit(f, false);
        if (r < 0)
                tool_msg(FILL_PROG, "stopped: %s (%s)", strerror(-r), rd_store_errmsg(f->store));
        return r;
}

/* ---- main ----------------------------------------------------------------------------- */

static void usage(FILE *to)
{
        fprintf(to, "Usage: " FILL_PROG " -d DBFILE -r ROUTING [-n N] [--span DAYS]\n"
                    "           [--trajectory MINUTES] [--prefix PREFIX]\n"
                    "A new database of N referrals (default 1000000) made through lib/hub as the\n"
                    "daemon makes them, with synchronous=NORMAL, over SPAN days (default 300)\n"
                    "that end now: every offer started at once and closed TRAJECTORY minutes\n"
                    "later (default 10). For measuring (tools/perf/million.py); not installed.\n");
}

struct args {
        const char *db, *routing, *prefix;
        uint64_t n;
        int64_t span_days, trajectory_min;
};

static void parse_args(int argc, char **argv, struct args *a)
{
        enum { OPT_SPAN = 256, OPT_TRAJ, OPT_PREFIX };
        static const struct option longopts[] = {
                {"database", required_argument, NULL, 'd'},
                {"routing", required_argument, NULL, 'r'},
                {"total", required_argument, NULL, 'n'},
                {"span", required_argument, NULL, OPT_SPAN},
                {"trajectory", required_argument, NULL, OPT_TRAJ},
                {"prefix", required_argument, NULL, OPT_PREFIX},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        int ch;

        *a = (struct args){.prefix = "FILL", .n = 1000000, .span_days = 300, .trajectory_min = 10};
        while ((ch = getopt_long(argc, argv, "d:r:n:h", longopts, NULL)) != -1) {
                switch (ch) {
                case 'd': a->db = optarg; break;
                case 'r': a->routing = optarg; break;
                case 'n':
                        a->n = (uint64_t)tool_parse_int(FILL_PROG, "-n", optarg, 1, 100000000);
                        break;
                case OPT_SPAN:
                        a->span_days = tool_parse_int(FILL_PROG, "--span", optarg, 1, 3650);
                        break;
                case OPT_TRAJ:
                        a->trajectory_min =
                                tool_parse_int(FILL_PROG, "--trajectory", optarg, 1, 1000000);
                        break;
                case OPT_PREFIX: a->prefix = optarg; break;
                case 'h': usage(stdout); exit(EXIT_OK);
                default: fprintf(stderr, "Try '" FILL_PROG " --help'.\n"); exit(EXIT_USAGE);
                }
        }
        if (optind < argc || !a->db || !a->routing)
                tool_usage_error(FILL_PROG, "-d DBFILE and -r ROUTING are required");
        if (strlen(a->prefix) > PREFIX_MAX || strpbrk(a->prefix, "\"\\ "))
                tool_usage_error(FILL_PROG,
                                 "--prefix: at most %d characters, no space, '\"' or "
                                 "'\\'",
                                 PREFIX_MAX);
        if (access(a->db, F_OK) == 0)
                tool_usage_error(FILL_PROG, "%s exists: the database must be new", a->db);
}

/* Record RULES, loaded from the LEN bytes at TEXT, in F's store as in
 * force from START, as the daemon does before it decides under a file (the
 * stored traces refer to it). 0 or -1 (said). */
static int record_routing(struct fill *f, const struct rd_rules *rules, const char *text,
                          size_t len, int64_t start)
{
        int r = rd_store_begin(f->store);

        if (r == 0)
                r = rd_routing_record(f->store, rules, text, len, start);
        if (r == 0)
                r = rd_store_commit(f->store);
        if (r < 0) {
                tool_msg(FILL_PROG, "cannot record the routing file: %s",
                         rd_store_errmsg(f->store));
                rd_store_rollback(f->store);
                return -1;
        }
        return 0;
}

/* The store and the hub of A into F, the routing file in force from START.
 * 0 or -1 (said). */
static int open_all(struct fill *f, const struct args *a, int64_t start)
{
        struct rd_diag diag = {0};
        struct rd_rules *rules = NULL;
        char errbuf[256], *text = NULL;
        size_t len = 0;
        int r = rd_routing_load_file(a->routing, &rules, &text, &len, &diag);

        if (r < 0) {
                tool_msg(FILL_PROG, "%s", rd_diag_first_error(&diag));
                rd_diag_clear(&diag);
                return -1;
        }
        rd_diag_clear(&diag);
        if (rd_store_open(a->db, false, &f->store, errbuf, sizeof errbuf) < 0) {
                rd_rules_free(rules);
                free(text);
                tool_msg(FILL_PROG, "%s", errbuf);
                return -1;
        }
        r = record_routing(f, rules, text, len, start);
        free(text);
        if (r < 0) {
                rd_rules_free(rules);
                return -1;
        }
        if (rd_hub_new(f->store, rules, &f->hub) < 0) { /* takes RULES */
                tool_msg(FILL_PROG, "cannot make the hub: %s", rd_store_errmsg(f->store));
                return -1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        struct fill f = {0};
        struct args a;
        struct timespec ts;
        int64_t end;
        int r = -1;

        parse_args(argc, argv, &a);
        tool_catch_stop_signals();
        f.bench.partner = "bench";
        snprintf(f.bench.prefix, sizeof f.bench.prefix, "%s", a.prefix);
        f.prefix_hash = submit_prefix_hash(f.bench.prefix);
        f.trajectory_ms = a.trajectory_min * MINUTE_MS;
        clock_gettime(CLOCK_REALTIME, &ts);
        end = (int64_t)ts.tv_sec * 1000 - MINUTE_MS;
        if (open_all(&f, &a, end - a.span_days * DAY_MS) == 0)
                r = run(&f, a.n, end - a.span_days * DAY_MS, end);
        if (r == 0)
                printf("%" PRIu64 " referrals submitted, %" PRIu64 " started, %" PRIu64
                       " closed, %zu open trajectories, %" PRIu64 " operations\n",
                       f.submitted, f.started, f.closed, f.n_open, f.ops);
        rd_hub_free(f.hub);
        rd_store_close(f.store);
        free(f.open);
        return r == 0 ? EXIT_OK : EXIT_FAULT;
}
