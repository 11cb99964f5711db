/* options.c: referral-bench's command line (--help). */
#include "bench.h"

#include "bounds.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define FLOOR_NAME "referral-floor"

static void usage(FILE *to)
{
        fprintf(to,
                "Usage: " PROG " [OPTION]...\n"
                "Submit referrals to referrald as fast as allowed and measure throughput and\n"
                "latency (send to reply): of a daemon already running (-e), of one started\n"
                "here (--spawn), of the floor under it (--floor), of the bare floor under\n"
                "that (--bare), or of all three side by side (--compare).\n"
                "\n"
                "  -e, --endpoint EP    the running daemon's intake (default " DEFAULT_ENDPOINT
                ");\n"
                "                       repeat it for several daemons (one active, the others\n"
                "                       standby): a request goes to the next on `unavailable`,\n"
                "                       no reply within --attempt-timeout or a lost connection\n"
                "  -t, --timeout MS     a request not answered MS after its first send is a\n"
                "                       timeout (default %d)\n"
                "      --attempt-timeout MS\n"
                "                       several endpoints: how long one attempt waits before the\n"
                "                       same request goes to the next (default: the timeout\n"
                "                       divided by the number of endpoints)\n"
                "      --requests FILE  write a line per request: its ref, the attempts it took,\n"
                "                       which endpoint answered and how (JSON lines)\n"
                "  -c, --clients N      DEALER sockets, one thread each (default %d)\n"
                "  -w, --window N       requests in flight per client (default %d)\n"
                "  -n, --total N        referrals to submit over all clients (default %d)\n"
                "      --rate R         offered load in requests/s over all clients, open loop;\n"
                "                       0 = as fast as the window allows (default 0)\n"
                "      --pid PID        report the running daemon's peak and current RSS\n"
                "      --spawn[=PATH]   start referrald (default: the one in the directory of\n"
                "                       this program) in a new temporary directory, on free\n"
                "                       loopback ports with a new database; load it, report\n"
                "                       its peak RSS and database size, stop it (SIGTERM)\n"
                "      --floor[=PATH]   the same with " FLOOR_NAME ", the floor under the\n"
                "                       daemon: receive, parse the JSON, one insert per submit\n"
                "                       with the same durability, a commit per batch, reply\n"
                "      --bare[=PATH]    the same with " FLOOR_NAME " --bare, the bare floor:\n"
                "                       receive, one insert of the frame, a commit per batch,\n"
                "                       reply; no parsing (PATH: a " FLOOR_NAME ")\n"
                "      --compare        --spawn, --floor and --bare, one after the other with\n"
                "                       the identical load, side by side: the ratios of their\n"
                "                       throughputs, what parsing costs per submit (floor -\n"
                "                       bare) and what the daemon does above that (daemon -\n"
                "                       floor); two of the three options: those two\n"
                "      --room           the daemon routes with connectors that have room for\n"
                "                       every referral: every one assigned (default: the\n"
                "                       example region with small teams, most waitlisted)\n"
                "      --keep           leave the temporary directories (config, database, log)\n"
                "      --postgresql CONNINFO\n"
                "                       with --spawn: the daemon's store is this PostgreSQL\n"
                "                       database (store: postgresql; the password from the\n"
                "                       conninfo, PGPASSWORD or ~/.pgpass)\n"
                "      --partner P      the partner id of the referrals (default " DEFAULT_PARTNER
                ")\n"
                "      --ref-prefix S   prefix of every ref (default: random, so that reruns\n"
                "                       do not meet their earlier referrals as duplicates)\n"
                "      --json           print the results as one JSON object\n"
                "  -h, --help           this help\n"
                "  -V, --version        the version\n"
                "\n"
                "A request unanswered after the timeout stops the sending, and the run ends.\n"
                "After each round of the endpoints without an answer, a request waits 100 ms\n"
                "(doubling to 1 s) before it goes round again.\n"
                "With --rate, latency is also measured from each request's due time, so that\n"
                "a stall of the daemon shows even when the window holds the sends back.\n"
                "A server started here must answer a ping within 20 s and exit 0 within 30 s\n"
                "of SIGTERM. $TMPDIR (default /tmp) holds the temporary directories.\n"
                "\n"
                "Exit status: 0 every request answered ok and every server started here\n"
                "stopped cleanly; 1 an error reply, a timeout, a reply matching no request,\n"
                "a server that did not start or stop cleanly, or a fault; 2 a usage error.\n",
                DEFAULT_TIMEOUT_MS, DEFAULT_CLIENTS, DEFAULT_WINDOW, DEFAULT_TOTAL);
}

static long long parse_int(const char *opt, const char *s, long long lo, long long hi)
{
        return tool_parse_int(PROG, opt, s, lo, hi);
}

static bool partner_ok(const char *p)
{
        size_t n = strlen(p);

        if (n < 1 || n > RD_ID_MAX ||
            !(islower((unsigned char)p[0]) || isdigit((unsigned char)p[0])))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(islower((unsigned char)p[i]) || isdigit((unsigned char)p[i]) || p[i] == '_' ||
                      p[i] == '-'))
                        return false;
        return true;
}

enum {
        OPT_RATE = 256,
        OPT_PID,
        OPT_PARTNER,
        OPT_PREFIX,
        OPT_JSON,
        OPT_SPAWN,
        OPT_FLOOR,
        OPT_BARE,
        OPT_COMPARE,
        OPT_ROOM,
        OPT_KEEP,
        OPT_ATTEMPT_TIMEOUT,
        OPT_REQUESTS,
        OPT_POSTGRESQL
};

static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"timeout", required_argument, NULL, 't'},
        {"attempt-timeout", required_argument, NULL, OPT_ATTEMPT_TIMEOUT},
        {"requests", required_argument, NULL, OPT_REQUESTS},
        {"clients", required_argument, NULL, 'c'},
        {"window", required_argument, NULL, 'w'},
        {"total", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, OPT_RATE},
        {"pid", required_argument, NULL, OPT_PID},
        {"partner", required_argument, NULL, OPT_PARTNER},
        {"ref-prefix", required_argument, NULL, OPT_PREFIX},
        {"json", no_argument, NULL, OPT_JSON},
        {"spawn", optional_argument, NULL, OPT_SPAWN},
        {"floor", optional_argument, NULL, OPT_FLOOR},
        {"bare", optional_argument, NULL, OPT_BARE},
        {"compare", no_argument, NULL, OPT_COMPARE},
        {"room", no_argument, NULL, OPT_ROOM},
        {"keep", no_argument, NULL, OPT_KEEP},
        {"postgresql", required_argument, NULL, OPT_POSTGRESQL},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {0},
};

static double parse_rate(const char *s)
{
        char *end;
        double rate;

        errno = 0;
        rate = strtod(s, &end);
        if (errno || end == s || *end || !(rate >= 0) || rate > 1e8)
                tool_usage_error(PROG, "--rate wants requests per second, 0 or more, not '%s'", s);
        return rate;
}

/* The ref is printable ASCII without space; keep out '"' and '\\' so it
 * goes into JSON as is, and leave room for "-CLIENT-SEQ". */
static void set_prefix(struct options *opt, const char *s)
{
        if (!*s || strlen(s) > PREFIX_MAX ||
            strspn(s, "!#$%&'()*+,-./0123456789:;<=>?@"
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`"
                      "abcdefghijklmnopqrstuvwxyz{|}~") != strlen(s))
                tool_usage_error(PROG,
                                 "--ref-prefix wants 1 to %d printable ASCII characters without "
                                 "space, '\"' or '\\', not '%s'",
                                 PREFIX_MAX, s);
        snprintf(opt->prefix, sizeof opt->prefix, "%s", s);
}

/* --spawn[=PATH] (CH OPT_SPAWN), --floor[=PATH] or --bare[=PATH]. */
static void set_spawn(struct options *opt, int ch, const char *path)
{
        if (path && !*path)
                tool_usage_error(PROG, "%s= wants the path of the program to start",
                                 ch == OPT_SPAWN   ? "--spawn"
                                 : ch == OPT_FLOOR ? "--floor"
                                                   : "--bare");
        if (ch == OPT_SPAWN) {
                opt->spawn_daemon = true;
                opt->daemon_path = path;
        } else if (ch == OPT_FLOOR) {
                opt->spawn_floor = true;
                opt->floor_path = path;
        } else {
                opt->spawn_bare = true;
                opt->bare_path = path;
        }
}

/* One more -e: the first replaces the default. */
static void add_endpoint(struct options *opt, bool *have_endpoint, const char *ep)
{
        if (!*have_endpoint)
                opt->n_endpoints = 0;
        *have_endpoint = true;
        if (opt->n_endpoints == MAX_ENDPOINTS)
                tool_usage_error(PROG, "-e given more than %d times", MAX_ENDPOINTS);
        opt->endpoints[opt->n_endpoints++] = ep;
}

/* Take option CH (its value in optarg) into OPT; -e sets *HAVE_ENDPOINT. */
static void take_option(struct options *opt, int ch, bool *have_endpoint)
{
        switch (ch) {
        case 'e': add_endpoint(opt, have_endpoint, optarg); break;
        case 't': opt->timeout_ns = parse_int("--timeout", optarg, 1, 86400000) * NS_PER_MS; break;
        case OPT_ATTEMPT_TIMEOUT:
                opt->attempt_timeout_ns =
                        parse_int("--attempt-timeout", optarg, 1, 86400000) * NS_PER_MS;
                break;
        case OPT_REQUESTS: opt->requests_path = optarg; break;
        case 'c': opt->clients = (int)parse_int("-c", optarg, 1, MAX_CLIENTS); break;
        case 'w': opt->window = (int)parse_int("-w", optarg, 1, MAX_WINDOW); break;
        case 'n': opt->total = (uint64_t)parse_int("-n", optarg, 1, INT64_MAX); break;
        case OPT_RATE: opt->rate = parse_rate(optarg); break;
        case OPT_PID: opt->pid = (long)parse_int("--pid", optarg, 1, 1L << 30); break;
        case OPT_PARTNER:
                if (!partner_ok(optarg))
                        tool_usage_error(PROG,
                                         "--partner wants an id [a-z0-9][a-z0-9_-]{0,63}, not '%s'",
                                         optarg);
                opt->partner = optarg;
                break;
        case OPT_PREFIX: set_prefix(opt, optarg); break;
        case OPT_JSON: opt->json = true; break;
        case OPT_SPAWN:
        case OPT_FLOOR:
        case OPT_BARE: set_spawn(opt, ch, optarg); break;
        case OPT_COMPARE: opt->spawn_daemon = opt->spawn_floor = opt->spawn_bare = true; break;
        case OPT_ROOM: opt->room = true; break;
        case OPT_KEEP: opt->keep = true; break;
        case OPT_POSTGRESQL: opt->postgresql = optarg; break;
        case 'h': usage(stdout); exit(EXIT_OK);
        case 'V': printf(PROG " " RD_VERSION "\n"); exit(EXIT_OK);
        default: fprintf(stderr, "Try '" PROG " --help'.\n"); exit(EXIT_USAGE);
        }
}

void parse_options(int argc, char **argv, struct options *opt)
{
        bool spawn, have_endpoint = false;
        int ch;

        opt->endpoints[0] = DEFAULT_ENDPOINT;
        opt->n_endpoints = 1;
        opt->timeout_ns = DEFAULT_TIMEOUT_MS * NS_PER_MS;
        opt->clients = DEFAULT_CLIENTS;
        opt->window = DEFAULT_WINDOW;
        opt->total = DEFAULT_TOTAL;
        opt->partner = DEFAULT_PARTNER;
        while ((ch = getopt_long(argc, argv, "e:t:c:w:n:hV", longopts, NULL)) != -1)
                take_option(opt, ch, &have_endpoint);
        spawn = opt->spawn_daemon || opt->spawn_floor || opt->spawn_bare;
        if (optind < argc)
                tool_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
        if (spawn && have_endpoint)
                tool_usage_error(PROG, "-e names a daemon already running; --spawn, --floor, "
                                       "--bare and --compare start their own");
        if (spawn && opt->pid)
                tool_usage_error(PROG, "--pid names a daemon already running; --spawn, --floor, "
                                       "--bare and --compare report the RSS of the server they "
                                       "start");
        if (opt->attempt_timeout_ns && opt->n_endpoints < 2)
                tool_usage_error(PROG, "--attempt-timeout goes with several -e: with one "
                                       "endpoint a request waits the whole --timeout");
        if (!opt->attempt_timeout_ns)
                opt->attempt_timeout_ns = opt->timeout_ns / opt->n_endpoints;
        if (opt->keep && !spawn)
                tool_usage_error(PROG, "--keep goes with --spawn, --floor, --bare or --compare");
        if (opt->postgresql && !opt->spawn_daemon)
                tool_usage_error(PROG, "--postgresql goes with --spawn or --compare: it is the "
                                       "store of a daemon started here");
        if (opt->room && !opt->spawn_daemon)
                tool_usage_error(PROG, "--room goes with --spawn or --compare: it is the routing "
                                       "file of a daemon started here");
        if ((uint64_t)opt->clients > opt->total)
                tool_usage_error(PROG,
                                 "-c %d clients for -n %" PRIu64 " referrals: some would have none",
                                 opt->clients, opt->total);
        if (!opt->prefix[0]) { /* no --ref-prefix */
                uint32_t r;
                if (getrandom(&r, sizeof r, 0) != sizeof r)
                        r = (uint32_t)tool_mono_ns() ^ (uint32_t)getpid();
                snprintf(opt->prefix, sizeof opt->prefix, "BENCH-%08" PRIx32, r);
        }
}
