/* referral-bench: a load generator for referrald (bench.h says what it
 * does and where each part is). Here: one run against a daemon already
 * running (-e, --pid), or a run against each server started here
 * (--spawn, --floor; both: --compare, with the ratio). */
#include "bench.h"
#include "report.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>

/* The load of OPT against the daemon at OPT->endpoint. The exit status. */
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
 * *THROUGHPUT: the requests answered per second. Returns 1 when the run
 * and the server were clean, 0 when not, -1 when there was no run (the
 * server did not start, or out of memory): no further server is tried. */
static int run_against(struct server *srv, const struct options *opt, json_t *both, bool first,
                       double *throughput)
{
        struct options ro = *opt;
        struct result *res = NULL;
        int ok = -1;

        if (server_start(srv) == 0) {
                ro.endpoint = srv->endpoint;
                ro.pid = (long)srv->pid;
                res = run_load(&ro);
                server_stop(srv);
        }
        if (res) {
                report_run(&ro, res, srv, both, first);
                ok = !run_failed(res, srv);
                *throughput = res->throughput;
        }
        server_cleanup(srv, opt->keep);
        free(res);
        return ok;
}

/* The servers that OPT starts, the daemon first, then the floor, each with
 * the identical load; with both, the ratio. The exit status. */
static int run_spawned(const struct options *opt)
{
        struct server servers[2];
        double throughput[2] = {0, 0};
        bool ok[2] = {false, false}, failed = false;
        json_t *both = NULL;
        int n = 0;

        memset(servers, 0, sizeof servers);
        if (opt->spawn_daemon)
                servers[n++].kind = SERVER_DAEMON;
        if (opt->spawn_floor)
                servers[n++].kind = SERVER_FLOOR;
        for (int i = 0; i < n; i++)
                if (server_locate(&servers[i], servers[i].kind == SERVER_DAEMON
                                                       ? opt->daemon_path
                                                       : opt->floor_path) < 0)
                        return EXIT_FAULT;
        if (opt->json && n > 1)
                both = json_object();
        for (int i = 0; i < n && !tool_interrupted; i++) {
                int r = run_against(&servers[i], opt, both, i == 0, &throughput[i]);

                ok[i] = r > 0;
                failed |= !ok[i];
                if (r < 0)
                        break;
        }
        if (n == 2) /* servers[0] is the daemon, servers[1] the floor */
                report_ratio(throughput[0], throughput[1], ok[0] && ok[1], failed, both);
        return failed ? EXIT_FAULT : EXIT_OK;
}

int main(int argc, char **argv)
{
        struct options opt = {0};

        parse_options(argc, argv, &opt);
        tool_catch_stop_signals();
        if (!opt.spawn_daemon && !opt.spawn_floor)
                return run_against_running(&opt);
        return run_spawned(&opt);
}
