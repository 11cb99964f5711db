/* referralctl: the command-line client of referrald (ctl.h says where
 * everything is). Here: the table of commands, --help, and main(), which
 * parses the options before the command and runs its handler. */
#include "commands.h"
#include "conn.h"
#include "options.h"
#include "print.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* One row a command, in the order of --help; the handlers are in cmd_*.c
 * (commands.h). */
static const struct command commands[] = {
        {"submit", cmd_submit, "submit FILE.json",
         "submit a referral (the inner object; '-' reads stdin)"},
        {"get", cmd_get, "get ID | get --partner P --ref R",
         "show a referral, its decision and history"},
        {"list", cmd_list,
         "list [--status S]... [--team T] [--connector C] [--attention] [--since N] [--limit N]",
         "list referrals whose latest event is after seq N (every filter given must hold; "
         "--status may be repeated: any of them)"},
        {"update", cmd_update,
         "update ID STATUS [--connector C] [--reason-code CODE] [--reason TEXT] [--forward-to T] "
         "[--expected-end TIME]",
         "change a referral's status"},
        {"events", cmd_events, "events [--since N] [--follow]",
         "print events after seq N; --follow keeps printing live ones, without gaps or doubles"},
        {"stats", cmd_stats, "stats [--openmetrics]",
         "every figure: counts per status, the window kept and missed, times to offer and start, "
         "forwards, the waitlist, reason codes, loads per connector, the routing file in force "
         "(--openmetrics: for node_exporter's textfile collector)"},
        {"ping", cmd_ping, "ping",
         "check that the daemon answers; the routing file in force and since when"},
        {"erase", cmd_erase, "erase ID",
         "erase a referral's personal data for good (coordinator; an open one is withdrawn "
         "first)"},
        {"audit", cmd_audit, "audit [--since N] [--limit N] [--id ID] [--follow-all]",
         "who read personal data or changed what (coordinator); --follow-all pages to the end"},
        {"keygen", cmd_keygen, "keygen [--out BASENAME [--force]]",
         "make a CURVE key pair: BASENAME.key (secret, 0600) and BASENAME.pub; prints the "
         "public key (without --out: both, labelled)"},
        {"explain", cmd_explain, "explain ID | explain --partner P --ref R",
         "why the daemon decided as it did: the rules tried, the candidates, the forecast"},
        {"backup", cmd_backup, "backup DB OUT",
         "copy a live SQLite database into a new file OUT (offline: reads the file; SQLite's "
         "online backup API); a PostgreSQL database is backed up with pg_dump"},
        {"report", cmd_report, "report --db DB [--from DATE] [--to DATE] [--html OUT.html]",
         "the figures of the one-month promise for a period (default: the last 7 days; a DATE "
         "is YYYY-MM-DD, midnight in Europe/Brussels, or an RFC 3339 time; --html: also as one "
         "self-contained page; offline: reads the database, a SQLite file or a PostgreSQL "
         "conninfo)"},
        {"rules", cmd_rules,
         "rules check FILE | rules show FILE [--json] | rules test FILE "
         "REFERRAL.json|CASES.yaml [--at TIME] [--state DB] | rules diff FILE --state DB "
         "[--at TIME]",
         "check a routing file; print it rule by rule as a coordinator reads it; show "
         "what it would decide for a referral and why, or run a cases file (offline; "
         "--state: after a reload with FILE of the database, a SQLite file or a PostgreSQL "
         "conninfo); diff: what a reload with FILE "
         "would do now, and what differs from the file in force"},
        {"replay", cmd_replay,
         "replay --db DB --rules CANDIDATE.yaml [--against BASELINE.yaml] [--from DATE] "
         "[--to DATE] [--seed N] [--html OUT.html] | replay --synthetic MODEL.yaml --rules "
         "CANDIDATE.yaml --against BASELINE.yaml|--db DB [--seed N] [--html OUT.html]",
         "what a routing file would have done: the history of DB (or a synthetic model) "
         "replayed in simulated time with the daemon's engine under CANDIDATE, beside the "
         "history as recorded or BASELINE (offline)"},
};

const struct command *find_command(const char *name)
{
        size_t i;

        for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (!strcmp(name, commands[i].name))
                        return &commands[i];
        return NULL;
}

void print_help(FILE *f)
{
        size_t i;

        fprintf(f, "Usage: %s [OPTIONS] COMMAND [ARGS]\n\n", PROG);
        fprintf(f, "The command-line client of referrald.\n\nCommands:\n");
        for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
                fprintf(f, "  %s\n      %s\n", commands[i].synopsis, commands[i].summary);
        fprintf(f,
                "\nOptions (before or after the command):\n"
                "  -e, --endpoint URL       intake endpoint; repeat it for several daemons:\n"
                "                           a request goes to the next on `unavailable` or\n"
                "                           a timeout (default $REFERRALD_ENDPOINT, a list\n"
                "                           separated by commas, or %s)\n"
                "      --events-endpoint URL\n"
                "                           event endpoint; repeat it for several daemons\n"
                "                           (default $REFERRALD_EVENTS, a list separated by\n"
                "                           commas, or %s)\n"
                "      --json               print replies (events: each event) as JSON, one per "
                "line;\n"
                "                           an error reply too (and exit status 1)\n"
                "  -t, --timeout MS         wait at most MS for a reply, over all the\n"
                "                           endpoints (default %d; 0 = no limit)\n"
                "      --server-key KEY|@FILE\n"
                "                           CURVE: the daemon's public key, Z85 or a file\n"
                "                           holding it; once for all the daemons, or once per\n"
                "                           endpoint in their order (default\n"
                "                           $REFERRALD_SERVER_KEY, a list separated by commas)\n"
                "      --key FILE           CURVE: this client's secret key file (from "
                "keygen;\n"
                "                           default $REFERRALD_KEY); both or neither\n"
                "  -v, --verbose            say on stderr which endpoint answered, and every\n"
                "                           failover\n"
                "  -h, --help               show this help\n"
                "      --version            show the version\n"
                "\nExit status: 0 done, 1 a fault, an error reply from the daemon or a failed "
                "test case,\n2 a usage error (also bad keys), 78 an invalid routing file.\n",
                DEFAULT_ENDPOINT, DEFAULT_EVENTS, DEFAULT_TIMEOUT_MS);
}

/* The options before the command, into C, and the command (*CMD; its
 * arguments start at argv[optind]). -1 to run it, or the exit status
 * (printed). */
static int before_command(struct ctl *c, int argc, char **argv, const struct command **cmd)
{
        static const struct option opts[] = {
                GLOBAL_LONG, {"version", no_argument, NULL, OPT_VERSION}, {0}};
        int opt, r;

        opterr = 0;
        /* '+': stop at the command; its own options are parsed by it. */
        while ((opt = getopt_long(argc, argv, "+" GLOBAL_SHORT, opts, NULL)) != -1) {
                if (opt == OPT_VERSION) {
                        printf("%s %s\n", PROG, RD_VERSION);
                        return EXIT_OK;
                }
                r = common_option(c, NULL, opt, argv);
                if (r < 0)
                        return r == -2 ? EXIT_OK : EXIT_USAGE;
        }
        if (optind >= argc) {
                usage_error(NULL, "no command given");
                return EXIT_USAGE;
        }
        *cmd = find_command(argv[optind]);
        if (!*cmd) {
                usage_error(NULL, "unknown command '%s'", argv[optind]);
                return EXIT_USAGE;
        }
        return -1;
}

/* Run CMD with its ARGC arguments ARGV (ARGV[0] its name). The exit status. */
static int run(struct ctl *c, const struct command *cmd, int argc, char **argv)
{
        struct timespec ts;
        int r;

        /* A corr prefix unique enough across processes: pid and start time. */
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(c->corr_prefix, sizeof c->corr_prefix, "ctl-%ld-%llx", (long)getpid(),
                 (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec);
        c->zctx = zmq_ctx_new();
        if (!c->zctx) {
                fault("cannot start ZeroMQ: %s", zmq_strerror(zmq_errno()));
                return EXIT_FAULT;
        }
        r = cmd->run(c, argc, argv);
        if (c->curve_state == -2)
                r = EXIT_USAGE; /* bad keys, printed */
        close_dealers(c);
        explicit_bzero(c->secret_key, sizeof c->secret_key);
        zmq_ctx_term(c->zctx);
        fflush(stdout);
        if (ferror(stdout) && r == EXIT_OK) {
                fault("cannot write the output");
                r = EXIT_FAULT;
        }
        return r;
}

int main(int argc, char **argv)
{
        struct ctl c = {0};
        const struct command *cmd = NULL;
        int r = options_defaults(&c);

        if (!r && (r = before_command(&c, argc, argv, &cmd)) < 0)
                r = run(&c, cmd, argc - optind, argv + optind);
        options_free(&c);
        return r;
}
