/* referral-bench: a load generator for referrald (bench.h says what it
 * does and where each part is). Here: one run against a daemon already
 * running (-e, --pid), or a run against each server started here
 * (--spawn, --floor, --bare; all three: --compare, side by side). */
#include "bench.h"
#include "report.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>

/* The load of OPT against the daemons at OPT->endpoints. The exit status. */
static int run_against_running(const struct options *opt)
{
        struct result *res = run_load(opt);
        bool failed;

        if (!res)
                return EXIT_FAULT;
        report_run(opt, res, NULL, NULL, true);
        failed = res->failed;
        free(res);
        return failed ? EXIT_FAULT : EXIT_OK;
}

/* Start SRV, run the load of OPT against it, stop it, report (into BOTH
 * with --compare --json; FIRST: the first run), remove its directory.
 * *SUM: what the side by side shows of it. Returns 1 when the run and the
 * server were clean, 0 when not, -1 when there was no run (the server did
 * not start, or out of memory): no further server is tried. */
static int run_against(struct server *srv, const struct options *opt, json_t *both, bool first,
                       struct summary *sum)
{
        struct options ro = *opt;
        struct result *res = NULL;
        int ok = -1;

        srv->room = opt->room;
        srv->conninfo = opt->postgresql;
        if (server_start(srv) == 0) {
                ro.endpoints[0] = srv->endpoint;
                ro.n_endpoints = 1;
                ro.pid = (long)srv->pid;
                res = run_load(&ro);
                server_stop(srv);
        }
        if (res) {
                report_run(&ro, res, srv, both, first);
                ok = !run_failed(res, srv);
                summarise(res, srv, sum);
                sum->ok = ok;
        }
        server_cleanup(srv, opt->keep);
        free(res);
        return ok;
}

/* The servers that OPT starts, the daemon, the floor, the bare floor, in
 * that order, each with the identical load; with two or more, side by
 * side. The exit status. */
static int run_spawned(const struct options *opt)
{
        const struct {
                bool on;
                enum server_kind kind;
                const char *path;
        } wanted[] = {
                {opt->spawn_daemon, SERVER_DAEMON, opt->daemon_path},
                {opt->spawn_floor, SERVER_FLOOR, opt->floor_path},
                {opt->spawn_bare, SERVER_BARE, opt->bare_path},
        };
        struct server servers[SERVER__MAX];
        struct summary sums[SERVER__MAX];
        bool failed = false;
        json_t *both = NULL;
        int n = 0;

        memset(servers, 0, sizeof servers);
        memset(sums, 0, sizeof sums);
        for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
                if (!wanted[i].on)
                        continue;
                servers[n].kind = sums[n].kind = wanted[i].kind;
                if (server_locate(&servers[n], wanted[i].path) < 0)
                        return EXIT_FAULT;
                n++;
        }
        if (opt->json && n > 1)
                both = json_object();
        for (int i = 0; i < n && !tool_interrupted; i++) {
                int r = run_against(&servers[i], opt, both, i == 0, &sums[i]);

                failed |= r <= 0;
                if (r < 0)
                        break;
        }
        if (n > 1)
                report_compare(opt, sums, n, failed, both);
        return failed ? EXIT_FAULT : EXIT_OK;
}

int main(int argc, char **argv)
{
        struct options opt = {0};

        parse_options(argc, argv, &opt);
        tool_catch_stop_signals();
        if (!opt.spawn_daemon && !opt.spawn_floor && !opt.spawn_bare)
                return run_against_running(&opt);
        return run_spawned(&opt);
}
