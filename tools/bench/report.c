/* report.c: see report.h. */
#include "report.h"

#include "macro.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static double us(int64_t ns)
{
        return (double)ns / 1000.0;
}

static const double pcts[] = {50, 90, 99, 99.9};
static const char *const pct_names[] = {"p50", "p90", "p99", "p99.9"};

static json_t *hist_json(const struct hist *h)
{
        json_t *o = json_object();

        json_object_set_new(o, "count", json_integer((json_int_t)h->n));
        json_object_set_new(o, "min_us", json_real(h->n ? us(h->min) : 0));
        json_object_set_new(o, "mean_us", json_real(h->n ? h->sum / (double)h->n / 1000.0 : 0));
        for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
                char key[32];
                snprintf(key, sizeof key, "%s_us", pct_names[i]);
                json_object_set_new(o, key, json_real(us(hist_percentile(h, pcts[i]))));
        }
        json_object_set_new(o, "max_us", json_real(us(h->max)));
        return o;
}

static void print_ms(const char *label, int64_t ns)
{
        if (ns < 10 * NS_PER_MS)
                printf(" %s %.3f ms", label, (double)ns / 1e6);
        else
                printf(" %s %.1f ms", label, (double)ns / 1e6);
}

static void print_hist(const char *title, const struct hist *h)
{
        printf("  %s (%" PRIu64 "):", title, h->n);
        if (!h->n) {
                printf(" none\n");
                return;
        }
        print_ms("min", h->min);
        for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++)
                print_ms(pct_names[i], hist_percentile(h, pcts[i]));
        print_ms("max", h->max);
        print_ms("mean", (int64_t)(h->sum / (double)h->n));
        printf("\n");
}

/* ---- the results -------------------------------------------------------- */

/* What went wrong in the run, on stderr. */
static void print_problems(const struct options *opt, const struct result *res)
{
        const struct stats *all = &res->all;

        if (res->fault)
                tool_msg(PROG, "client %d: %s", res->fault_client,
                         res->fault == ETIMEDOUT ? "no daemon answered a ping (as active) in time"
                         : res->fault == EPROTO  ? "the daemon answered the ping with an error"
                                                 : zmq_strerror(res->fault));
        if (opt->pid && !res->rss.have)
                tool_msg(PROG, "cannot read /proc/%ld/status", opt->pid);
        if (tool_interrupted)
                tool_msg(PROG, "interrupted; the results cover what was sent");
        if (all->timeouts)
                tool_msg(PROG, "%" PRIu64 " requests unanswered after %lld ms; the run stopped",
                         all->timeouts, (long long)(opt->timeout_ns / NS_PER_MS));
        if (all->unmatched)
                tool_msg(PROG,
                         "BUG: %" PRIu64 " replies matched no request in flight; the first: %s",
                         all->unmatched, all->first_unmatched);
}

bool run_failed(const struct result *res, const struct server *srv)
{
        return res->failed || (srv && srv->failed);
}

/* The retries of ALL (several endpoints) as a JSON object. */
static json_t *retries_json(const struct stats *all)
{
        json_t *o = json_object(), *by = json_object();

        for (size_t k = 0; k < N_ATTEMPT_BINS; k++) {
                char key[16];

                if (!all->by_attempts[k])
                        continue;
                snprintf(key, sizeof key, k + 1 < N_ATTEMPT_BINS ? "%zu" : "%zu+", k + 1);
                json_object_set_new(by, key, json_integer((json_int_t)all->by_attempts[k]));
        }
        json_object_set_new(o, "requests_retried", json_integer((json_int_t)all->retried));
        json_object_set_new(o, "resends", json_integer((json_int_t)all->resends));
        json_object_set_new(o, "by_attempts", by);
        json_object_set_new(o, "duplicates_after_retry",
                            json_integer((json_int_t)all->dup_after_retry));
        json_object_set_new(o, "duplicates_first_attempt",
                            json_integer((json_int_t)(all->duplicates - all->dup_after_retry)));
        return o;
}

/* What each endpoint of OPT did, as a JSON array. */
static json_t *endpoints_json(const struct options *opt, const struct stats *all)
{
        json_t *a = json_array();

        for (int j = 0; j < opt->n_endpoints; j++) {
                const struct endpoint_stats *e = &all->ep[j];

                json_array_append_new(a,
                                      json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "endpoint",
                                                opt->endpoints[j], "sent", (json_int_t)e->sent,
                                                "answered", (json_int_t)e->answered, "unavailable",
                                                (json_int_t)e->unavailable, "attempt_timeouts",
                                                (json_int_t)e->attempt_timeouts, "connections_lost",
                                                (json_int_t)e->lost));
        }
        return a;
}

/* The run as one JSON object; with SRV, the server started for it. */
static json_t *result_json(const struct options *opt, const struct result *res,
                           const struct server *srv)
{
        const struct stats *all = &res->all;
        json_t *o = json_object(), *codes = json_object(), *st = json_object();

        json_object_set_new(o, "endpoint", json_string(opt->endpoints[0]));
        json_object_set_new(o, "by_endpoint", endpoints_json(opt, all));
        json_object_set_new(o, "timeout_ms", json_integer(opt->timeout_ns / NS_PER_MS));
        if (opt->n_endpoints > 1)
                json_object_set_new(o, "attempt_timeout_ms",
                                    json_integer(opt->attempt_timeout_ns / NS_PER_MS));
        json_object_set_new(o, "clients", json_integer(opt->clients));
        json_object_set_new(o, "window", json_integer(opt->window));
        json_object_set_new(o, "total", json_integer((json_int_t)opt->total));
        json_object_set_new(o, "rate", json_real(opt->rate));
        json_object_set_new(o, "ref_prefix", json_string(opt->prefix));
        json_object_set_new(o, "sent", json_integer((json_int_t)all->sent));
        json_object_set_new(o, "wall_s", json_real((double)res->wall / 1e9));
        json_object_set_new(o, "throughput_rps", json_real(res->throughput));
        json_object_set_new(o, "ok", json_integer((json_int_t)all->ok));
        json_object_set_new(o, "duplicates", json_integer((json_int_t)all->duplicates));
        for (size_t k = 0; k < N_STATUSES; k++)
                json_object_set_new(st, statuses[k], json_integer((json_int_t)all->by_status[k]));
        json_object_set_new(o, "by_status", st);
        json_object_set_new(o, "errors", json_integer((json_int_t)all->errors));
        for (size_t k = 0; k < N_CODES; k++)
                if (all->by_code[k])
                        json_object_set_new(codes, error_codes[k],
                                            json_integer((json_int_t)all->by_code[k]));
        json_object_set_new(o, "errors_by_code", codes);
        if (all->first_error[0])
                json_object_set_new(o, "first_error", json_string(all->first_error));
        json_object_set_new(o, "timeouts", json_integer((json_int_t)all->timeouts));
        json_object_set_new(o, "late_replies", json_integer((json_int_t)all->late));
        json_object_set_new(o, "retries", retries_json(all));
        json_object_set_new(o, "unmatched_replies", json_integer((json_int_t)all->unmatched));
        json_object_set_new(o, "latency", hist_json(&all->lat));
        if (opt->rate > 0) {
                json_object_set_new(o, "latency_from_due", hist_json(&all->lat_sched));
                json_object_set_new(o, "max_send_lag_us", json_real(us(res->max_lag)));
        }
        /* the keys say daemon also for the floor: "server" says which it was */
        if (opt->pid && res->rss.have) {
                json_object_set_new(o, "daemon_peak_rss_kb", json_integer(res->rss.hwm_kb));
                json_object_set_new(o, "daemon_rss_kb", json_integer(res->rss.rss_kb));
        }
        if (srv) {
                json_t *so = json_object();
                json_object_set_new(so, "kind", json_string(server_name(srv)));
                json_object_set_new(so, "path", json_string(srv->path));
                json_object_set_new(so, "pid", json_integer(srv->ran_pid));
                if (opt->keep)
                        json_object_set_new(so, "dir", json_string(srv->dir));
                json_object_set_new(so, "store",
                                    json_string(srv->conninfo ? "postgresql" : "sqlite"));
                json_object_set_new(so, "db_bytes", json_integer(srv->db_bytes));
                json_object_set_new(so, "wal_bytes", json_integer(srv->wal_bytes));
                json_object_set_new(so, "db_bytes_after_stop", json_integer(srv->db_bytes_end));
                json_object_set_new(so, "wal_bytes_after_stop", json_integer(srv->wal_bytes_end));
                if (srv->io_write_bytes >= 0)
                        json_object_set_new(so, "io_write_bytes",
                                            json_integer(srv->io_write_bytes));
                if (srv->cpu_s >= 0)
                        json_object_set_new(so, "cpu_s", json_real(srv->cpu_s));
                if (srv->kind == SERVER_DAEMON)
                        json_object_set_new(so, "routing",
                                            json_string(srv->room ? "room" : "example"));
                json_object_set_new(so, "stopped_cleanly", json_boolean(!srv->failed));
                json_object_set_new(o, "server", so);
        }
        if (res->fault)
                json_object_set_new(o, "fault", json_string(zmq_strerror(res->fault)));
        json_object_set_new(o, "client_cpu_s", json_real(res->client_cpu_s));
        json_object_set_new(o, "interrupted", json_boolean(tool_interrupted));
        json_object_set_new(o, "exit", json_integer(run_failed(res, srv) ? EXIT_FAULT : EXIT_OK));
        return o;
}

/* BYTES for people: "812 KiB", "14.3 MiB". */
static const char *size_text(long long bytes, char *buf, size_t cap)
{
        if (bytes < 1024 * 1024)
                snprintf(buf, cap, "%.0f KiB", (double)bytes / 1024.0);
        else
                snprintf(buf, cap, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
        return buf;
}

/* Several endpoints: the retries and what each endpoint did, as text. */
static void print_retries(const struct options *opt, const struct stats *all)
{
        printf("  retried %" PRIu64 " (%" PRIu64 " sends more); by attempts:", all->retried,
               all->resends);
        for (size_t k = 0; k < N_ATTEMPT_BINS; k++)
                if (all->by_attempts[k])
                        printf(" %zu%s %" PRIu64, k + 1, k + 1 < N_ATTEMPT_BINS ? "" : "+",
                               all->by_attempts[k]);
        printf("; duplicates after a retry %" PRIu64 "\n", all->dup_after_retry);
        for (int j = 0; j < opt->n_endpoints; j++) {
                const struct endpoint_stats *e = &all->ep[j];

                printf("  %s: sent %" PRIu64 ", answered %" PRIu64 ", unavailable %" PRIu64
                       ", no reply in time %" PRIu64 ", connections lost %" PRIu64 "\n",
                       opt->endpoints[j], e->sent, e->answered, e->unavailable, e->attempt_timeouts,
                       e->lost);
        }
}

/* The run as text; with SRV, the server started for it. */
static void print_result(const struct options *opt, const struct result *res,
                         const struct server *srv)
{
        const struct stats *all = &res->all;

        if (srv && srv->kind == SERVER_DAEMON)
                printf("== the daemon: %s%s ==\n", srv->path,
                       srv->room ? " (routing with room for every referral)" : "");
        else if (srv && srv->kind == SERVER_FLOOR)
                printf("== the FLOOR, not the daemon: %s (receive, parse, one insert per submit, "
                       "a commit per batch, reply) ==\n",
                       srv->path);
        else if (srv)
                printf("== the BARE FLOOR, not the daemon: %s --bare (receive, one insert of the "
                       "frame, a commit per batch, reply; no parsing) ==\n",
                       srv->path);
        printf(PROG ": %" PRIu64 " submits, %d client%s x window %d, %s", opt->total, opt->clients,
               opt->clients == 1 ? "" : "s", opt->window, opt->endpoints[0]);
        for (int j = 1; j < opt->n_endpoints; j++)
                printf(" %s", opt->endpoints[j]);
        printf("\n");
        if (opt->rate > 0)
                printf("  offered %.1f req/s (open loop), latest send %.3f ms after its "
                       "due time\n",
                       opt->rate, (double)res->max_lag / 1e6);
        printf("  sent %" PRIu64 ", answered %" PRIu64 " in %.3f s: %.1f req/s\n", all->sent,
               res->answered, (double)res->wall / 1e9, res->throughput);
        printf("  ok %" PRIu64 " (duplicates %" PRIu64 "):", all->ok, all->duplicates);
        for (size_t k = 0; k < N_STATUSES; k++)
                if (all->by_status[k] || k + 1 < N_STATUSES)
                        printf(" %s %" PRIu64, statuses[k], all->by_status[k]);
        printf("\n  errors %" PRIu64, all->errors);
        for (size_t k = 0; k < N_CODES; k++)
                if (all->by_code[k])
                        printf(" %s %" PRIu64, error_codes[k], all->by_code[k]);
        if (all->first_error[0])
                printf(" (first: %s)", all->first_error);
        printf("; timeouts %" PRIu64 "; late replies %" PRIu64 "; unmatched replies %" PRIu64 "\n",
               all->timeouts, all->late, all->unmatched);
        if (opt->n_endpoints > 1)
                print_retries(opt, all);
        print_hist("latency send->reply", &all->lat);
        if (opt->rate > 0)
                print_hist("latency due->reply", &all->lat_sched);
        if (opt->pid && res->rss.have)
                printf("  %s pid %ld: peak RSS %.1f MiB, RSS now %.1f MiB\n",
                       srv ? server_kind_label(srv->kind) : "daemon", opt->pid,
                       (double)res->rss.hwm_kb / 1024, (double)res->rss.rss_kb / 1024);
        if (srv) {
                uint64_t stored = all->ok - all->duplicates;
                long long end = srv->db_bytes_end + srv->wal_bytes_end;

                char t[3][32], e[32];

                if (srv->conninfo) {
                        printf("  database: PostgreSQL (its size is the server's)\n");
                } else {
                        printf("  database after the run %s (file %s + write-ahead log %s); "
                               "after the stop %s",
                               size_text(srv->db_bytes + srv->wal_bytes, t[0], sizeof t[0]),
                               size_text(srv->db_bytes, t[1], sizeof t[1]),
                               size_text(srv->wal_bytes, t[2], sizeof t[2]),
                               size_text(end, e, sizeof e));
                        if (stored)
                                printf(", %.0f bytes per referral", (double)end / (double)stored);
                        printf("\n");
                }
                if (srv->cpu_s >= 0 && res->wall > 0)
                        printf("  CPU time: %s %.2f s (%.0f%% of the wall time, %.1f us per "
                               "request), " PROG " %.2f s\n",
                               server_kind_label(srv->kind), srv->cpu_s,
                               100.0 * srv->cpu_s * 1e9 / (double)res->wall,
                               res->answered ? srv->cpu_s * 1e6 / (double)res->answered : 0,
                               res->client_cpu_s);
                if (stored && srv->io_write_bytes >= 0)
                        printf("  written to storage while serving %s, %.0f bytes per referral\n",
                               size_text(srv->io_write_bytes, t[0], sizeof t[0]),
                               (double)srv->io_write_bytes / (double)stored);
                if (opt->keep)
                        printf("  kept %s (config, database, log)\n", srv->dir);
        }
        printf("  ref prefix %s\n", opt->prefix);
}

/* V rounded, with a comma between thousands: 131,000. */
static const char *thousands(double v, char *buf, size_t cap)
{
        char digits[32];
        int n = snprintf(digits, sizeof digits, "%.0f", v < 0 ? 0 : v), lead;
        size_t o = 0;

        lead = n % 3 ? n % 3 : 3;
        for (int i = 0; i < n && o + 2 < cap; i++) {
                if (i >= lead && (i - lead) % 3 == 0)
                        buf[o++] = ',';
                buf[o++] = digits[i];
        }
        buf[o] = '\0';
        return buf;
}

void print_json(json_t *o)
{
        char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));

        if (text)
                puts(text);
        free(text);
        json_decref(o);
}

void report_run(const struct options *opt, const struct result *res, const struct server *srv,
                json_t *both, bool first)
{
        print_problems(opt, res);
        if (both) {
                json_object_set_new(both, server_name(srv), result_json(opt, res, srv));
        } else if (opt->json) {
                print_json(result_json(opt, res, srv));
        } else {
                if (!first)
                        printf("\n");
                print_result(opt, res, srv);
                fflush(stdout);
        }
}

void summarise(const struct result *res, const struct server *srv, struct summary *sum)
{
        uint64_t stored = res->all.ok - res->all.duplicates;

        sum->throughput = res->throughput;
        sum->p50 = hist_percentile(&res->all.lat, 50);
        sum->p99 = hist_percentile(&res->all.lat, 99);
        sum->stored_bytes =
                stored ? (double)(srv->db_bytes_end + srv->wal_bytes_end) / (double)stored : 0;
        sum->cpu_us =
                res->answered && srv->cpu_s >= 0 ? srv->cpu_s * 1e6 / (double)res->answered : -1;
        sum->written_bytes = stored && srv->io_write_bytes >= 0
                                     ? (double)srv->io_write_bytes / (double)stored
                                     : -1;
}

/* The pairs compared: A/B, each a throughput ratio and a difference of
 * time per submit; WHAT says what the difference is. */
static const struct {
        enum server_kind a, b;
        const char *what;
} pairs[] = {
        {SERVER_DAEMON, SERVER_FLOOR, "what the daemon does above the floor"},
        {SERVER_FLOOR, SERVER_BARE, "parsing"},
        {SERVER_DAEMON, SERVER_BARE, "all the daemon does above the bare floor"},
};

static const struct summary *find_sum(const struct summary *sums, int n, enum server_kind k)
{
        for (int i = 0; i < n; i++)
                if (sums[i].kind == k)
                        return &sums[i];
        return NULL;
}

/* Microseconds of wall time per submit at throughput T. */
static double us_per_submit(double t)
{
        return t > 0 ? 1e6 / t : 0;
}

/* Whether both runs of pair K ran (*A, *B) and were clean with answers. */
static bool pair_ran(const struct summary *sums, int n, size_t k, const struct summary **a,
                     const struct summary **b)
{
        *a = find_sum(sums, n, pairs[k].a);
        *b = find_sum(sums, n, pairs[k].b);
        return *a && *b;
}

static bool pair_clean(const struct summary *a, const struct summary *b)
{
        return a->ok && b->ok && a->throughput > 0 && b->throughput > 0;
}

static void compare_json(const struct summary *sums, int n, bool failed, json_t *both)
{
        json_t *ratios = json_object(), *us = json_object(), *diff = json_object();

        for (int i = 0; i < n; i++)
                if (sums[i].ok)
                        json_object_set_new(us, server_kind_name(sums[i].kind),
                                            json_real(us_per_submit(sums[i].throughput)));
        for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
                const struct summary *a, *b;
                char key[32];

                if (!pair_ran(sums, n, k, &a, &b))
                        continue;
                snprintf(key, sizeof key, "%s/%s", server_kind_name(a->kind),
                         server_kind_name(b->kind));
                json_object_set_new(ratios, key,
                                    pair_clean(a, b) ? json_real(a->throughput / b->throughput)
                                                     : json_null());
                json_object_set_new(diff, key,
                                    pair_clean(a, b) ? json_real(us_per_submit(a->throughput) -
                                                                 us_per_submit(b->throughput))
                                                     : json_null());
                if (k == 0) /* "ratio": daemon/floor, as before there were three */
                        json_object_set_new(both, "ratio",
                                            json_incref(json_object_get(ratios, key)));
        }
        json_object_set_new(both, "ratios", ratios);
        json_object_set_new(both, "us_per_submit", us);
        json_object_set_new(both, "us_per_submit_difference", diff);
        json_object_set_new(both, "exit", json_integer(failed ? EXIT_FAULT : EXIT_OK));
        print_json(both);
}

/* One row of the side by side. */
static void print_row(const struct summary *s)
{
        char t[32];

        printf("  %-11s %11s %9.3f %9.3f %9.1f", server_kind_label(s->kind),
               thousands(s->throughput, t, sizeof t), (double)s->p50 / 1e6, (double)s->p99 / 1e6,
               us_per_submit(s->throughput));
        if (s->stored_bytes > 0)
                printf(" %9.0f", s->stored_bytes);
        else
                printf(" %9s", "-");
        if (s->written_bytes >= 0)
                printf(" %9.0f", s->written_bytes);
        else
                printf(" %9s", "-");
        if (s->cpu_us >= 0)
                printf(" %9.1f", s->cpu_us);
        else
                printf(" %9s", "-");
        printf("%s\n", s->ok ? "" : "  (not clean: no ratios)");
}

/* The ratio of pair K's throughputs, and the difference of their times
 * per submit (or on stderr why there is none). */
static void print_pair(const struct summary *a, const struct summary *b, size_t k)
{
        char ta[32], tb[32];

        if (!pair_clean(a, b)) {
                tool_msg(PROG, "no %s/%s ratio: %s", server_kind_label(a->kind),
                         server_kind_label(b->kind),
                         tool_interrupted ? "interrupted"
                                          : "the two runs did not both complete cleanly");
                return;
        }
        printf("%s/%s ratio: %.3f (%s %s/s, %s %s/s)\n", server_kind_label(a->kind),
               server_kind_label(b->kind), a->throughput / b->throughput,
               server_kind_label(a->kind), thousands(a->throughput, ta, sizeof ta),
               server_kind_label(b->kind), thousands(b->throughput, tb, sizeof tb));
        printf("  %s: %.1f us per submit\n", pairs[k].what,
               us_per_submit(a->throughput) - us_per_submit(b->throughput));
}

void report_compare(const struct options *opt, const struct summary *sums, int n, bool failed,
                    json_t *both)
{
        if (both) {
                compare_json(sums, n, failed, both);
                return;
        }
        printf("\n== side by side: %" PRIu64 " submits each, %d client%s x window %d%s ==\n",
               opt->total, opt->clients, opt->clients == 1 ? "" : "s", opt->window,
               opt->room ? ", the daemon with room for every referral" : "");
        printf("  %-11s %11s %9s %9s %9s %9s %9s %9s\n", "server", "submits/s", "p50 ms", "p99 ms",
               "us/submit", "stored B", "written B", "cpu us");
        for (int i = 0; i < n; i++)
                print_row(&sums[i]);
        printf("  (us/submit: wall time per submit; stored B: database and log after the stop "
               "per referral; written B: written to storage while serving, per referral; cpu "
               "us: the server's CPU time per submit, all its threads)\n");
        for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
                const struct summary *a, *b;
                if (pair_ran(sums, n, k, &a, &b))
                        print_pair(a, b, k);
        }
        fflush(stdout);
}

/* Request SEQ of client CLIENT as it was recorded in REC, as a JSON object. */
static json_t *request_json(const struct options *opt, int client, uint64_t seq,
                            const struct req_record *rec)
{
        char ref[PREFIX_MAX + 48];
        json_t *o;

        snprintf(ref, sizeof ref, "%s-%d-%" PRIu64, opt->prefix, client, seq);
        o = json_pack("{s:s, s:i}", "ref", ref, "attempts", (int)rec->attempts);
        if (rec->outcome == REQ_TIMED_OUT)
                json_object_set_new(o, "timeout", json_true());
        if (rec->outcome != REQ_ANSWERED_OK && rec->outcome != REQ_ANSWERED_ERROR)
                return o;
        json_object_set_new(o, "endpoint", json_string(opt->endpoints[rec->endpoint]));
        json_object_set_new(o, "ok", json_boolean(rec->outcome == REQ_ANSWERED_OK));
        if (rec->outcome == REQ_ANSWERED_ERROR) {
                json_object_set_new(o, "error", json_string(error_codes[rec->code]));
                return o;
        }
        json_object_set_new(o, "duplicate", json_boolean(rec->duplicate));
        json_object_set_new(o, "id", json_string(rec->id));
        json_object_set_new(o, "status", json_string(statuses[rec->code]));
        return o;
}

int write_requests(const struct options *opt, const struct client *clients)
{
        FILE *f = fopen(opt->requests_path, "w");
        int e;

        if (!f) {
                e = errno;
                tool_msg(PROG, "--requests %s: %s", opt->requests_path, strerror(e));
                return -e;
        }
        for (int i = 0; i < opt->clients; i++) {
                for (uint64_t seq = 0; seq < clients[i].quota; seq++) {
                        json_t *o = request_json(opt, i, seq, &clients[i].records[seq]);

                        json_dumpf(o, f, JSON_COMPACT);
                        fputc('\n', f);
                        json_decref(o);
                }
        }
        if (ferror(f) | fclose(f)) {
                e = errno ? errno : EIO;
                tool_msg(PROG, "--requests %s: cannot write it: %s", opt->requests_path,
                         strerror(e));
                return -e;
        }
        return 0;
}
