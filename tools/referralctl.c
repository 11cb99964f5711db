/* referralctl: the command-line client of referrald.
 *
 * It talks the wire protocol of protocol.md and nothing else: one DEALER
 * socket for requests (a unique `corr` per request, ZMQ_LINGER 0, every
 * wait bounded by --timeout) and, for `events --follow`, a SUB socket on
 * the PUB endpoint.
 *
 * Commands live in one table (one handler each), so that later commands
 * (explain, rules check/test, keygen, audit, backup) are one entry more.
 *
 * Exit codes: 0 done, 1 a runtime fault or an error reply from the daemon
 * (any `ok: false`), 2 a usage error. */
#include "timefmt.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#ifndef RD_VERSION
#define RD_VERSION "0.0.0"
#endif

#define PROG "referralctl"
#define DEFAULT_ENDPOINT "tcp://127.0.0.1:5570"
#define DEFAULT_EVENTS "tcp://127.0.0.1:5571"
#define DEFAULT_TIMEOUT_MS 5000
#define EVENTS_PAGE 1000
/* With --follow: how long the live stream may stay silent before we ask
 * the daemon whether we missed the tail (a PUB drops what a subscriber
 * that is not yet connected would have received). */
#define FOLLOW_RECHECK_MS 2000

enum { EXIT_OK = 0, EXIT_FAULT = 1, EXIT_USAGE = 2 };

struct ctl {
        const char *endpoint;
        const char *events_endpoint;
        bool json;
        int timeout_ms; /* 0: wait without limit */
        void *zctx;
        void *dealer; /* opened on first request, reopened after a timeout */
        unsigned long corr_seq;
        char corr_prefix[64];
};

struct command {
        const char *name;
        int (*run)(struct ctl *c, int argc, char **argv);
        const char *synopsis;
        const char *summary;
};

static volatile sig_atomic_t stop_requested;

/* ------------------------------------------------------------------ */
/* Messages */

static void usage_error(const char *cmd, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static const struct command *find_command(const char *name);

static void usage_error(const char *cmd, const char *fmt, ...)
{
        const struct command *command = cmd ? find_command(cmd) : NULL;
        va_list ap;

        fprintf(stderr, "%s: ", PROG);
        if (cmd)
                fprintf(stderr, "%s: ", cmd);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        if (command)
                fprintf(stderr, "Usage: %s %s\n", PROG, command->synopsis);
        fprintf(stderr, "Try '%s --help'.\n", PROG);
}

static void fault(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fault(const char *fmt, ...)
{
        va_list ap;

        fputs("error: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/* ------------------------------------------------------------------ */
/* Small JSON helpers */

static const char *jstr(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

static bool jint(const json_t *o, const char *key, json_int_t *out)
{
        json_t *v = json_object_get(o, key);

        if (!json_is_integer(v))
                return false;
        *out = json_integer_value(v);
        return true;
}

static void print_json_line(const json_t *v)
{
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

        if (s) {
                puts(s);
                free(s);
        }
}

/* Print an `ok: false` reply as "error: CODE: FIELD: MESSAGE" on stderr. */
static void print_error_reply(const json_t *reply)
{
        const json_t *err = json_object_get(reply, "error");
        const char *code = jstr(err, "code");
        const char *field = jstr(err, "field");
        const char *msg = jstr(err, "message");

        fprintf(stderr, "error: %s", code ? code : "unknown");
        if (field && *field)
                fprintf(stderr, ": %s", field);
        fprintf(stderr, ": %s\n", msg && *msg ? msg : "(no message)");
}

/* ------------------------------------------------------------------ */
/* Time */

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until DEADLINE for zmq_poll: -1 = no limit. */
static long left_ms(int64_t deadline)
{
        int64_t left;

        if (deadline < 0)
                return -1;
        left = deadline - now_ms();
        return left < 0 ? 0 : (long)left;
}

static int64_t deadline_after(int timeout_ms)
{
        return timeout_ms > 0 ? now_ms() + timeout_ms : -1;
}

/* ------------------------------------------------------------------ */
/* Request/reply */

static void close_dealer(struct ctl *c)
{
        if (c->dealer) {
                zmq_close(c->dealer);
                c->dealer = NULL;
        }
}

static int open_dealer(struct ctl *c)
{
        int linger = 0;

        if (c->dealer)
                return 0;
        c->dealer = zmq_socket(c->zctx, ZMQ_DEALER);
        if (!c->dealer) {
                fault("cannot create a socket: %s", zmq_strerror(zmq_errno()));
                return -1;
        }
        zmq_setsockopt(c->dealer, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_connect(c->dealer, c->endpoint) != 0) {
                fault("cannot connect to %s: %s", c->endpoint, zmq_strerror(zmq_errno()));
                close_dealer(c);
                return -1;
        }
        return 0;
}

/* Receive all frames of one message; return the last non-empty frame as
 * parsed JSON (a REQ-style empty delimiter is skipped), or NULL with
 * *bad set when the reply is not a JSON object. */
static json_t *recv_reply(void *sock, bool *bad)
{
        json_t *out = NULL;
        int more = 1;

        *bad = false;
        while (more) {
                zmq_msg_t msg;
                size_t moresz = sizeof more;

                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, sock, 0) < 0) {
                        zmq_msg_close(&msg);
                        *bad = true;
                        json_decref(out);
                        return NULL;
                }
                if (zmq_msg_size(&msg) > 0) {
                        json_error_t jerr;

                        json_decref(out);
                        out = json_loadb(zmq_msg_data(&msg), zmq_msg_size(&msg), 0, &jerr);
                }
                zmq_msg_close(&msg);
                zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &moresz);
        }
        if (!json_is_object(out)) {
                json_decref(out);
                *bad = true;
                return NULL;
        }
        return out;
}

enum req_result { REQ_OK, REQ_ERROR_REPLY, REQ_FAULT, REQ_TIMEOUT };

/* Send REQ (a JSON object; `corr` is set here) and wait for the reply with
 * the same corr, at most c->timeout_ms. Steals nothing: REQ stays the
 * caller's. *REPLY is set for REQ_OK and REQ_ERROR_REPLY. On a timeout the
 * DEALER is closed, so that a late reply can never be taken for the answer
 * to a later request; the next request opens a new one. Nothing is
 * printed: the caller decides (see call()). */
static enum req_result request(struct ctl *c, json_t *req, json_t **reply)
{
        char corr[128];
        char *text;
        int64_t deadline;
        int rc;

        *reply = NULL;
        if (open_dealer(c) != 0)
                return REQ_FAULT;
        snprintf(corr, sizeof corr, "%s-%lu", c->corr_prefix, ++c->corr_seq);
        json_object_set_new(req, "corr", json_string(corr));
        text = json_dumps(req, JSON_COMPACT);
        if (!text) {
                fault("cannot encode the request");
                return REQ_FAULT;
        }
        deadline = deadline_after(c->timeout_ms);
        /* A DEALER queues the frame while it is not connected yet, so this
         * does not block: the wait is in the poll below. */
        rc = zmq_send(c->dealer, text, strlen(text), ZMQ_DONTWAIT);
        free(text);
        if (rc < 0) {
                if (zmq_errno() == EAGAIN) {
                        close_dealer(c);
                        return REQ_TIMEOUT;
                }
                fault("cannot send to %s: %s", c->endpoint, zmq_strerror(zmq_errno()));
                return REQ_FAULT;
        }
        for (;;) {
                zmq_pollitem_t item = {.socket = c->dealer, .events = ZMQ_POLLIN};
                json_t *r;
                bool bad;
                const char *rcorr;

                rc = zmq_poll(&item, 1, left_ms(deadline));
                if (rc < 0) {
                        if (zmq_errno() == EINTR && !stop_requested)
                                continue;
                        if (zmq_errno() == EINTR)
                                return REQ_FAULT; /* interrupted: quiet exit */
                        fault("poll: %s", zmq_strerror(zmq_errno()));
                        return REQ_FAULT;
                }
                if (rc == 0) {
                        close_dealer(c);
                        return REQ_TIMEOUT;
                }
                r = recv_reply(c->dealer, &bad);
                if (bad) {
                        fault("the daemon at %s sent a reply that is not a JSON object",
                              c->endpoint);
                        return REQ_FAULT;
                }
                rcorr = jstr(r, "corr");
                if (!rcorr || strcmp(rcorr, corr) != 0) {
                        json_decref(r); /* a stale reply to an earlier request */
                        continue;
                }
                *reply = r;
                return json_is_true(json_object_get(r, "ok")) ? REQ_OK : REQ_ERROR_REPLY;
        }
}

static void print_timeout(const struct ctl *c)
{
        fault("no reply from %s within %d ms (is referrald running there? see --endpoint, "
              "--timeout)",
              c->endpoint, c->timeout_ms);
}

/* request() that prints what went wrong. Returns 0 with *REPLY (ok: true)
 * or an exit code (1) with the error printed; with --json an error reply
 * is also printed on stdout, for scripts. Takes ownership of REQ. */
static int call(struct ctl *c, json_t *req, json_t **reply)
{
        enum req_result res = request(c, req, reply);

        json_decref(req);
        switch (res) {
        case REQ_OK: return 0;
        case REQ_ERROR_REPLY:
                if (c->json)
                        print_json_line(*reply);
                print_error_reply(*reply);
                json_decref(*reply);
                *reply = NULL;
                return EXIT_FAULT;
        case REQ_TIMEOUT: print_timeout(c); return EXIT_FAULT;
        case REQ_FAULT: return EXIT_FAULT;
        }
        return EXIT_FAULT;
}

/* ------------------------------------------------------------------ */
/* Argument parsing shared by the commands */

/* Long options every command accepts too, so that `referralctl list
 * --json` works as well as `referralctl --json list`. */
enum {
        OPT_EVENTS_ENDPOINT = 256,
        OPT_JSON,
        OPT_HELP,
        OPT_VERSION,
        OPT_STATUS,
        OPT_SINCE,
        OPT_LIMIT,
        OPT_FOLLOW,
        OPT_PARTNER,
        OPT_REF,
        OPT_CONNECTOR,
        OPT_REASON,
        OPT_FORWARD_TO,
        OPT_EXPECTED_END,
};

/* clang-format off */
#define GLOBAL_SHORT ":e:t:h"
#define GLOBAL_LONG                                                     \
        {"endpoint", required_argument, NULL, 'e'},                     \
        {"events-endpoint", required_argument, NULL, OPT_EVENTS_ENDPOINT}, \
        {"json", no_argument, NULL, OPT_JSON},                          \
        {"timeout", required_argument, NULL, 't'},                      \
        {"help", no_argument, NULL, 'h'}
/* clang-format on */

static void print_help(FILE *f);

static bool parse_count(const char *s, long long max, long long *out)
{
        char *end;
        long long v;

        if (!s || !*s || *s == '-' || *s == '+')
                return false;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || *end || v > max)
                return false;
        *out = v;
        return true;
}

/* Handle an option that is common to all commands, or a getopt error.
 * Returns 1 when handled, 0 when OPT is not a common option, or -1 after
 * a usage error (printed) and -2 after --help (printed; exit 0). */
static int common_option(struct ctl *c, const char *cmd, int opt, char **argv)
{
        long long v;

        switch (opt) {
        case 'e': c->endpoint = optarg; return 1;
        case OPT_EVENTS_ENDPOINT: c->events_endpoint = optarg; return 1;
        case OPT_JSON: c->json = true; return 1;
        case 't':
                if (!parse_count(optarg, INT_MAX, &v)) {
                        usage_error(cmd, "--timeout needs milliseconds (0 = no limit), not '%s'",
                                    optarg);
                        return -1;
                }
                c->timeout_ms = (int)v;
                return 1;
        case 'h': print_help(stdout); return -2;
        case ':': usage_error(cmd, "option '%s' needs a value", argv[optind - 1]); return -1;
        case '?':
                if (optopt && optopt < 256)
                        usage_error(cmd, "unknown option '-%c'", optopt);
                else
                        usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
                return -1;
        default: return 0;
        }
}

/* Map common_option()'s -1/-2 to an exit code. */
static int option_exit(int r)
{
        return r == -2 ? EXIT_OK : EXIT_USAGE;
}

/* Start a command's option parsing over ARGC/ARGV (ARGV[0] is the
 * command name). */
static void getopt_reset(void)
{
        optind = 0; /* GNU: re-initialise, scanning starts at argv[1] */
        opterr = 0;
}

/* ------------------------------------------------------------------ */
/* Human-readable forms */

/* "R000001 assigned to kelly (team genk, rule family-by-region), start by
 * 2026-12-23T10:00:00Z" and the like, from the decision fields of a
 * reply (submit, get, update) or an event. */
static void print_decision(const json_t *o)
{
        const char *id = jstr(o, "id");
        const char *status = jstr(o, "status");
        const char *conn = jstr(o, "connector");
        const char *team = jstr(o, "team");
        const char *rule = jstr(o, "rule");
        const char *start_by = jstr(o, "start_by");
        const char *expected_start = jstr(o, "expected_start");
        const char *expected_end = jstr(o, "expected_end");
        const char *fwd = jstr(o, "forward_to");
        const char *reason = jstr(o, "reason");
        bool open;
        int n = 0;

        if (!status)
                status = "?";
        printf("%s %s", id ? id : "?", status);
        if (!strcmp(status, "assigned") && conn)
                printf(" to %s", conn);
        else if ((!strcmp(status, "accepted") || !strcmp(status, "started")) && conn)
                printf(" by %s", conn);
        else if (!strcmp(status, "forwarded") && fwd)
                printf(" to %s", fwd);
        else if (conn)
                printf(" (connector %s)", conn);

        if (team || rule) {
                printf(" (");
                if (team)
                        printf("%steam %s", n++ ? ", " : "", team);
                if (rule)
                        printf("%srule %s", n++ ? ", " : "", rule);
                printf(")");
        }
        open = !strcmp(status, "assigned") || !strcmp(status, "accepted") ||
               !strcmp(status, "started") || !strcmp(status, "waitlisted");
        if (start_by && open)
                printf(", start by %s", start_by);
        if (expected_start && !strcmp(status, "waitlisted"))
                printf(", expected start %s", expected_start);
        if (expected_end && !strcmp(status, "started"))
                printf(", expected end %s", expected_end);
        if (reason && *reason)
                printf(": %s", reason);
}

/* "42 2026-11-23T10:00:00.123Z referral.assigned R000001 ocmw-genk/REF-1
 * status=assigned rule=family-by-region team=genk connector=kelly ...":
 * the fixed fields, then every other field as key=value, in the order
 * the daemon sent them. */
static void print_event(const json_t *ev)
{
        static const char *const fixed[] = {"seq", "at", "type", "id", "partner", "ref"};
        json_int_t seq = 0;
        const char *type = jstr(ev, "type");
        const char *at = jstr(ev, "at");
        const char *id = jstr(ev, "id");
        const char *partner = jstr(ev, "partner");
        const char *ref = jstr(ev, "ref");
        const char *key;
        json_t *v;

        jint(ev, "seq", &seq);
        printf("%" JSON_INTEGER_FORMAT " %s %s", seq, at ? at : "-", type ? type : "?");
        if (id)
                printf(" %s", id);
        if (partner || ref)
                printf(" %s/%s", partner ? partner : "?", ref ? ref : "?");
        json_object_foreach((json_t *)ev, key, v)
        {
                size_t i;
                bool skip = false;
                char *s;

                for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
                        skip = skip || !strcmp(key, fixed[i]);
                if (skip)
                        continue;
                if (json_is_string(v)) {
                        printf(" %s=%s", key, json_string_value(v));
                        continue;
                }
                s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                printf(" %s=%s", key, s ? s : "?");
                free(s);
        }
        putchar('\n');
}

static void emit_event(const struct ctl *c, const json_t *ev)
{
        if (c->json)
                print_json_line(ev);
        else
                print_event(ev);
}

/* ------------------------------------------------------------------ */
/* submit */

static int cmd_submit(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG, {0}};
        json_t *referral, *req, *reply;
        json_error_t jerr;
        const char *file;
        int opt, r;

        getopt_reset();
        while ((opt = getopt_long(argc, argv, GLOBAL_SHORT, opts, NULL)) != -1) {
                r = common_option(c, argv[0], opt, argv);
                if (r < 0)
                        return option_exit(r);
        }
        if (argc - optind != 1) {
                usage_error(argv[0], "needs exactly one FILE.json (or '-' for stdin)");
                return EXIT_USAGE;
        }
        file = argv[optind];
        if (!strcmp(file, "-"))
                referral = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
        else
                referral = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
        if (!referral) {
                if (jerr.line > 0)
                        fault("%s:%d:%d: %s", file, jerr.line, jerr.column, jerr.text);
                else
                        fault("%s: %s", file, jerr.text);
                return EXIT_FAULT;
        }
        if (!json_is_object(referral)) {
                fault("%s: the referral must be a JSON object", file);
                json_decref(referral);
                return EXIT_FAULT;
        }
        req = json_pack("{s:s, s:o}", "op", "submit", "referral", referral);
        r = call(c, req, &reply);
        if (r)
                return r;
        if (c->json) {
                print_json_line(reply);
        } else {
                print_decision(reply);
                if (json_is_true(json_object_get(reply, "duplicate")))
                        printf(" (duplicate: already submitted, nothing changed)");
                putchar('\n');
        }
        json_decref(reply);
        return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* get */

static void print_referral_details(const json_t *reply)
{
        const json_t *ref = json_object_get(reply, "referral");
        const json_t *history = json_object_get(reply, "history");
        const json_t *v;
        const char *key;
        size_t i;

        print_decision(reply);
        putchar('\n');
        if (json_is_object(ref)) {
                json_object_foreach((json_t *)ref, key, v)
                {
                        char *s;

                        if (json_is_string(v)) {
                                printf("  %-10s %s\n", key, json_string_value(v));
                                continue;
                        }
                        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                        printf("  %-10s %s\n", key, s ? s : "?");
                        free(s);
                }
        }
        if (json_is_array(history) && json_array_size(history) > 0) {
                printf("history:\n");
                json_array_foreach(history, i, v)
                {
                        printf("  ");
                        print_event(v);
                }
        }
}

static int cmd_get(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"partner", required_argument, NULL, OPT_PARTNER},
                                             {"ref", required_argument, NULL, OPT_REF},
                                             {0}};
        const char *partner = NULL, *ref = NULL;
        json_t *req, *reply;
        int opt, r;

        getopt_reset();
        while ((opt = getopt_long(argc, argv, GLOBAL_SHORT, opts, NULL)) != -1) {
                r = common_option(c, argv[0], opt, argv);
                if (r < 0)
                        return option_exit(r);
                if (r == 0 && opt == OPT_PARTNER)
                        partner = optarg;
                else if (r == 0 && opt == OPT_REF)
                        ref = optarg;
        }
        if (argc - optind == 1 && !partner && !ref) {
                req = json_pack("{s:s, s:s}", "op", "get", "id", argv[optind]);
        } else if (argc - optind == 0 && partner && ref) {
                req = json_pack("{s:s, s:s, s:s}", "op", "get", "partner", partner, "ref", ref);
        } else {
                usage_error(argv[0], "needs either ID, or --partner P and --ref R");
                return EXIT_USAGE;
        }
        r = call(c, req, &reply);
        if (r)
                return r;
        if (c->json)
                print_json_line(reply);
        else
                print_referral_details(reply);
        json_decref(reply);
        return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* list */

static int cmd_list(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"status", required_argument, NULL, OPT_STATUS},
                                             {"since", required_argument, NULL, OPT_SINCE},
                                             {"limit", required_argument, NULL, OPT_LIMIT},
                                             {0}};
        const char *status = NULL;
        long long since = -1, limit = -1;
        json_t *req, *reply, *rows, *row;
        json_int_t last;
        size_t i;
        int opt, r;

        getopt_reset();
        while ((opt = getopt_long(argc, argv, GLOBAL_SHORT, opts, NULL)) != -1) {
                r = common_option(c, argv[0], opt, argv);
                if (r < 0)
                        return option_exit(r);
                if (r)
                        continue;
                if (opt == OPT_STATUS) {
                        status = optarg;
                } else if (opt == OPT_SINCE && !parse_count(optarg, INT64_MAX, &since)) {
                        usage_error(argv[0], "--since needs a seq (0 or more), not '%s'", optarg);
                        return EXIT_USAGE;
                } else if (opt == OPT_LIMIT && !parse_count(optarg, INT64_MAX, &limit)) {
                        usage_error(argv[0], "--limit needs a number, not '%s'", optarg);
                        return EXIT_USAGE;
                }
        }
        if (optind != argc) {
                usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
                return EXIT_USAGE;
        }
        req = json_pack("{s:s}", "op", "list");
        if (status)
                json_object_set_new(req, "status", json_string(status));
        if (since >= 0)
                json_object_set_new(req, "since", json_integer(since));
        if (limit >= 0)
                json_object_set_new(req, "limit", json_integer(limit));
        r = call(c, req, &reply);
        if (r)
                return r;
        if (c->json) {
                print_json_line(reply);
                json_decref(reply);
                return EXIT_OK;
        }
        rows = json_object_get(reply, "referrals");
        printf("%-10s %-10s %-32s %-14s %-10s %-24s %s\n", "ID", "STATUS", "PARTNER/REF", "TEAM",
               "CONNECTOR", "START_BY", "SEQ");
        json_array_foreach(rows, i, row)
        {
                char pref[256];
                const char *team = jstr(row, "team"), *conn = jstr(row, "connector");
                const char *sb = jstr(row, "start_by"), *id = jstr(row, "id");
                const char *st = jstr(row, "status");
                json_int_t seq = 0;

                jint(row, "seq", &seq);
                snprintf(pref, sizeof pref, "%s/%s",
                         jstr(row, "partner") ? jstr(row, "partner") : "?",
                         jstr(row, "ref") ? jstr(row, "ref") : "?");
                printf("%-10s %-10s %-32s %-14s %-10s %-24s %" JSON_INTEGER_FORMAT "\n",
                       id ? id : "?", st ? st : "?", pref, team ? team : "-", conn ? conn : "-",
                       sb ? sb : "-", seq);
        }
        /* A full page: there may be more (the daemon's default limit is 100). */
        if (jint(reply, "last", &last) && json_array_size(rows) > 0 &&
            json_array_size(rows) >= (size_t)(limit >= 0 ? limit : 100))
                printf("(more may follow: %s list --since %" JSON_INTEGER_FORMAT ")\n", PROG, last);
        json_decref(reply);
        return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* update */

static int cmd_update(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {
                GLOBAL_LONG,
                {"connector", required_argument, NULL, OPT_CONNECTOR},
                {"reason", required_argument, NULL, OPT_REASON},
                {"forward-to", required_argument, NULL, OPT_FORWARD_TO},
                {"expected-end", required_argument, NULL, OPT_EXPECTED_END},
                {0}};
        const char *connector = NULL, *reason = NULL, *forward_to = NULL, *expected_end = NULL;
        json_t *req, *reply;
        int64_t ms;
        int opt, r;

        getopt_reset();
        while ((opt = getopt_long(argc, argv, GLOBAL_SHORT, opts, NULL)) != -1) {
                r = common_option(c, argv[0], opt, argv);
                if (r < 0)
                        return option_exit(r);
                if (r)
                        continue;
                switch (opt) {
                case OPT_CONNECTOR: connector = optarg; break;
                case OPT_REASON: reason = optarg; break;
                case OPT_FORWARD_TO: forward_to = optarg; break;
                case OPT_EXPECTED_END: expected_end = optarg; break;
                default: break;
                }
        }
        if (argc - optind != 2) {
                usage_error(argv[0], "needs ID and STATUS");
                return EXIT_USAGE;
        }
        if (expected_end && rd_time_parse(expected_end, &ms) != 0) {
                usage_error(argv[0],
                            "--expected-end needs an RFC 3339 time such as "
                            "2027-03-01T00:00:00Z, not '%s'",
                            expected_end);
                return EXIT_USAGE;
        }
        req = json_pack("{s:s, s:s, s:s}", "op", "update", "id", argv[optind], "status",
                        argv[optind + 1]);
        if (connector)
                json_object_set_new(req, "connector", json_string(connector));
        if (reason)
                json_object_set_new(req, "reason", json_string(reason));
        if (forward_to)
                json_object_set_new(req, "forward_to", json_string(forward_to));
        if (expected_end)
                json_object_set_new(req, "expected_end", json_string(expected_end));
        r = call(c, req, &reply);
        if (r)
                return r;
        if (c->json) {
                print_json_line(reply);
        } else {
                print_decision(reply);
                putchar('\n');
        }
        json_decref(reply);
        return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* events */

/* Replay state: everything with seq <= cursor has been printed. */
struct replay {
        json_int_t cursor;
};

/* Print the events after r->cursor, page by page, until caught up with
 * the `last` the daemon reports (or an empty page: a client that may not
 * see every referral gets gaps in seq). The cursor only ever moves to a
 * seq actually received, so an event committed while we page is never
 * skipped. Returns REQ_OK, or the failure (with *REPLY set to an error
 * reply for REQ_ERROR_REPLY). */
static enum req_result replay(struct ctl *c, struct replay *st, json_t **err_reply)
{
        *err_reply = NULL;
        for (;;) {
                json_t *req = json_pack("{s:s, s:I, s:i}", "op", "events", "since",
                                        (json_int_t)st->cursor, "limit", EVENTS_PAGE);
                json_t *reply, *events, *ev;
                json_int_t last = 0, before = st->cursor;
                enum req_result res = request(c, req, &reply);
                size_t i;

                json_decref(req);
                if (res != REQ_OK) {
                        *err_reply = reply;
                        return res;
                }
                events = json_object_get(reply, "events");
                jint(reply, "last", &last);
                json_array_foreach(events, i, ev)
                {
                        json_int_t seq;

                        if (!jint(ev, "seq", &seq) || seq <= st->cursor)
                                continue;
                        emit_event(c, ev);
                        st->cursor = seq;
                }
                i = json_array_size(events);
                json_decref(reply);
                if (i == 0 || st->cursor >= last || st->cursor == before)
                        return REQ_OK;
        }
}

static void on_signal(int sig)
{
        (void)sig;
        stop_requested = 1;
}

/* Wait until the SUB socket has completed its handshake with the PUB, so
 * that the subscription is in place before the replay starts. */
static int wait_subscribed(struct ctl *c, void *sub)
{
        char addr[64];
        void *mon;
        int64_t deadline = deadline_after(c->timeout_ms);
        int rc = -1;

        snprintf(addr, sizeof addr, "inproc://referralctl-sub-monitor-%ld", (long)getpid());
        mon = NULL;
        if (zmq_socket_monitor(sub, addr, ZMQ_EVENT_HANDSHAKE_SUCCEEDED) == 0) {
                mon = zmq_socket(c->zctx, ZMQ_PAIR);
                if (mon && zmq_connect(mon, addr) != 0) {
                        zmq_close(mon);
                        mon = NULL;
                }
        }
        if (zmq_connect(sub, c->events_endpoint) != 0) {
                fault("cannot connect to %s: %s", c->events_endpoint, zmq_strerror(zmq_errno()));
                if (mon)
                        zmq_close(mon);
                return -1;
        }
        if (!mon)
                return 0; /* cannot watch: carry on, the gap checks cover us */
        while (!stop_requested) {
                zmq_pollitem_t item = {.socket = mon, .events = ZMQ_POLLIN};
                zmq_msg_t msg;
                int more = 0;
                size_t moresz = sizeof more;
                uint16_t event = 0;
                int n = zmq_poll(&item, 1, left_ms(deadline));

                if (n < 0 && zmq_errno() == EINTR)
                        continue;
                if (n <= 0) {
                        fault("no connection to the event endpoint %s within %d ms (see "
                              "--events-endpoint)",
                              c->events_endpoint, c->timeout_ms);
                        break;
                }
                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, mon, 0) >= 2)
                        memcpy(&event, zmq_msg_data(&msg), sizeof event);
                zmq_getsockopt(mon, ZMQ_RCVMORE, &more, &moresz);
                zmq_msg_close(&msg);
                while (more) { /* the endpoint frame */
                        zmq_msg_init(&msg);
                        zmq_msg_recv(&msg, mon, 0);
                        zmq_getsockopt(mon, ZMQ_RCVMORE, &more, &moresz);
                        zmq_msg_close(&msg);
                }
                if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
                        rc = 0;
                        break;
                }
        }
        zmq_socket_monitor(sub, NULL, 0);
        zmq_close(mon);
        return rc;
}

/* Receive one published event (topic frame, JSON frame). NULL if the
 * message is not an event object. */
static json_t *recv_event(void *sub)
{
        bool bad;
        json_t *ev = recv_reply(sub, &bad); /* the last frame is the JSON */

        return bad ? NULL : ev;
}

static int follow(struct ctl *c, struct replay *st)
{
        int linger = 0, r = EXIT_FAULT;
        bool warned = false;
        json_t *err_reply;
        enum req_result res;
        void *sub;
        struct sigaction sa;

        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal; /* no SA_RESTART: zmq_poll returns EINTR */
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        setvbuf(stdout, NULL, _IOLBF, 0);

        /* 1. Subscribe first: what is published from now on is queued. */
        sub = zmq_socket(c->zctx, ZMQ_SUB);
        if (!sub) {
                fault("cannot create a socket: %s", zmq_strerror(zmq_errno()));
                return EXIT_FAULT;
        }
        zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
        if (wait_subscribed(c, sub) != 0)
                goto out;

        /* 2. Replay what was before, up to the daemon's last seq. */
        res = replay(c, st, &err_reply);
        if (res != REQ_OK)
                goto fail;

        /* 3. Live: print what is newer than the cursor; a gap is filled
         * from the replay before the event that revealed it; a silence
         * makes us ask for what we may have missed. */
        while (!stop_requested) {
                zmq_pollitem_t item = {.socket = sub, .events = ZMQ_POLLIN};
                int n = zmq_poll(&item, 1, FOLLOW_RECHECK_MS);
                json_t *ev;
                json_int_t seq;

                if (n < 0) {
                        if (zmq_errno() == EINTR)
                                continue;
                        fault("poll: %s", zmq_strerror(zmq_errno()));
                        goto out;
                }
                if (n == 0) {
                        ev = NULL;
                        seq = st->cursor + 1; /* maybe missed: look */
                } else {
                        ev = recv_event(sub);
                        if (!ev || !jint(ev, "seq", &seq)) {
                                json_decref(ev);
                                continue;
                        }
                        if (seq <= st->cursor) {
                                json_decref(ev); /* already printed by the replay */
                                continue;
                        }
                }
                if (seq > st->cursor + 1 || !ev) {
                        res = replay(c, st, &err_reply);
                        if (res == REQ_ERROR_REPLY) {
                                json_decref(ev);
                                goto fail;
                        }
                        if (res == REQ_TIMEOUT) {
                                /* Keep following: the daemon may be restarting. The
                                 * event is not printed out of order; the next
                                 * replay brings it. */
                                if (!warned)
                                        fprintf(stderr,
                                                "warning: no reply from %s within %d ms; "
                                                "still following\n",
                                                c->endpoint, c->timeout_ms);
                                warned = true;
                                json_decref(ev);
                                continue;
                        }
                        if (res == REQ_FAULT) {
                                json_decref(ev);
                                goto out;
                        }
                        warned = false;
                }
                if (ev && seq > st->cursor) {
                        emit_event(c, ev);
                        st->cursor = seq;
                }
                json_decref(ev);
        }
        r = EXIT_OK;
        goto out;
fail:
        if (res == REQ_TIMEOUT)
                print_timeout(c);
        if (res == REQ_ERROR_REPLY) {
                if (c->json)
                        print_json_line(err_reply);
                print_error_reply(err_reply);
                json_decref(err_reply);
        }
out:
        zmq_close(sub);
        return stop_requested ? EXIT_OK : r;
}

static int cmd_events(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"since", required_argument, NULL, OPT_SINCE},
                                             {"follow", no_argument, NULL, OPT_FOLLOW},
                                             {0}};
        long long since = 0;
        bool follow_live = false;
        struct replay st;
        json_t *err_reply;
        enum req_result res;
        int opt, r;

        getopt_reset();
        while ((opt = getopt_long(argc, argv, GLOBAL_SHORT "f", opts, NULL)) != -1) {
                r = common_option(c, argv[0], opt, argv);
                if (r < 0)
                        return option_exit(r);
                if (r)
                        continue;
                if (opt == OPT_FOLLOW || opt == 'f') {
                        follow_live = true;
                } else if (opt == OPT_SINCE && !parse_count(optarg, INT64_MAX, &since)) {
                        usage_error(argv[0], "--since needs a seq (0 or more), not '%s'", optarg);
                        return EXIT_USAGE;
                }
        }
        if (optind != argc) {
                usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
                return EXIT_USAGE;
        }
        st.cursor = since;
        if (follow_live)
                return follow(c, &st);
        res = replay(c, &st, &err_reply);
        switch (res) {
        case REQ_OK: return EXIT_OK;
        case REQ_TIMEOUT: print_timeout(c); return EXIT_FAULT;
        case REQ_ERROR_REPLY:
                if (c->json)
                        print_json_line(err_reply);
                print_error_reply(err_reply);
                json_decref(err_reply);
                return EXIT_FAULT;
        case REQ_FAULT: return EXIT_FAULT;
        }
        return EXIT_FAULT;
}

/* ------------------------------------------------------------------ */
/* stats, ping */

/* Parse a command that takes only the common options. */
static int no_args(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG, {0}};
        int opt, r;

        getopt_reset();
        while ((opt = getopt_long(argc, argv, GLOBAL_SHORT, opts, NULL)) != -1) {
                r = common_option(c, argv[0], opt, argv);
                if (r < 0)
                        return option_exit(r) == EXIT_OK ? -2 : -1;
        }
        if (optind != argc) {
                usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
                return -1;
        }
        return 0;
}

static void print_stats(const json_t *reply)
{
        const json_t *by_status = json_object_get(reply, "by_status");
        const json_t *teams = json_object_get(reply, "teams");
        const json_t *window = json_object_get(reply, "window");
        const json_t *v, *team;
        const char *key;
        json_int_t started = 0, in_time = 0;
        size_t i;
        int n = 0;

        printf("by status:");
        json_object_foreach((json_t *)by_status, key, v)
        {
                printf("%s %s %" JSON_INTEGER_FORMAT, n++ ? "," : "", key, json_integer_value(v));
        }
        printf("%s\n", n ? "" : " (no referrals)");
        if (jint(window, "started", &started) && jint(window, "in_time", &in_time)) {
                printf("window: %" JSON_INTEGER_FORMAT " started, %" JSON_INTEGER_FORMAT " in time",
                       started, in_time);
                if (started > 0)
                        printf(" (%.1f%%)", 100.0 * (double)in_time / (double)started);
                putchar('\n');
        }
        json_array_foreach(teams, i, team)
        {
                const json_t *conn;
                size_t j;

                printf("team %s\n", jstr(team, "id") ? jstr(team, "id") : "?");
                json_array_foreach(json_object_get(team, "connectors"), j, conn)
                {
                        json_int_t load = 0, cap = 0;

                        jint(conn, "load", &load);
                        jint(conn, "capacity", &cap);
                        printf("  %-16s load %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT "\n",
                               jstr(conn, "id") ? jstr(conn, "id") : "?", load, cap);
                }
        }
}

static int simple_command(struct ctl *c, int argc, char **argv, const char *op,
                          void (*human)(const json_t *))
{
        json_t *reply;
        int r = no_args(c, argc, argv);

        if (r == -2)
                return EXIT_OK;
        if (r < 0)
                return EXIT_USAGE;
        r = call(c, json_pack("{s:s}", "op", op), &reply);
        if (r)
                return r;
        if (c->json)
                print_json_line(reply);
        else
                human(reply);
        json_decref(reply);
        return EXIT_OK;
}

static int cmd_stats(struct ctl *c, int argc, char **argv)
{
        return simple_command(c, argc, argv, "stats", print_stats);
}

static void print_ping(const json_t *reply)
{
        json_int_t up = 0, last = 0;
        const char *version = jstr(reply, "version");

        jint(reply, "uptime_s", &up);
        jint(reply, "last_seq", &last);
        printf("referrald %s, up %" JSON_INTEGER_FORMAT " s, last seq %" JSON_INTEGER_FORMAT "\n",
               version ? version : "?", up, last);
}

static int cmd_ping(struct ctl *c, int argc, char **argv)
{
        return simple_command(c, argc, argv, "ping", print_ping);
}

/* ------------------------------------------------------------------ */
/* The command table */

static const struct command commands[] = {
        {"submit", cmd_submit, "submit FILE.json",
         "submit a referral (the inner object; '-' reads stdin)"},
        {"get", cmd_get, "get ID | get --partner P --ref R",
         "show a referral, its decision and history"},
        {"list", cmd_list, "list [--status S] [--since N] [--limit N]",
         "list referrals whose latest event is after seq N"},
        {"update", cmd_update,
         "update ID STATUS [--connector C] [--reason TEXT] [--forward-to T] [--expected-end TIME]",
         "change a referral's status"},
        {"events", cmd_events, "events [--since N] [--follow]",
         "print events after seq N; --follow keeps printing live ones, without gaps or doubles"},
        {"stats", cmd_stats, "stats", "counts per status, loads per connector, window kept"},
        {"ping", cmd_ping, "ping", "check that the daemon answers"},
};

static const struct command *find_command(const char *name)
{
        size_t i;

        for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (!strcmp(name, commands[i].name))
                        return &commands[i];
        return NULL;
}

static void print_help(FILE *f)
{
        size_t i;

        fprintf(f, "Usage: %s [OPTIONS] COMMAND [ARGS]\n\n", PROG);
        fprintf(f, "The command-line client of referrald.\n\nCommands:\n");
        for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
                fprintf(f, "  %s\n      %s\n", commands[i].synopsis, commands[i].summary);
        fprintf(f,
                "\nOptions (before or after the command):\n"
                "  -e, --endpoint URL       intake endpoint (default $REFERRALD_ENDPOINT or %s)\n"
                "      --events-endpoint URL\n"
                "                           event endpoint (default $REFERRALD_EVENTS or %s)\n"
                "      --json               print replies (events: each event) as JSON, one per "
                "line;\n"
                "                           an error reply too (and exit status 1)\n"
                "  -t, --timeout MS         wait at most MS for a reply (default %d; 0 = no "
                "limit)\n"
                "  -h, --help               show this help\n"
                "      --version            show the version\n"
                "\nExit status: 0 done, 1 a fault or an error reply from the daemon, 2 a usage "
                "error.\n",
                DEFAULT_ENDPOINT, DEFAULT_EVENTS, DEFAULT_TIMEOUT_MS);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                GLOBAL_LONG, {"version", no_argument, NULL, OPT_VERSION}, {0}};
        struct ctl c = {0};
        const struct command *cmd = NULL;
        const char *env;
        struct timespec ts;
        int opt, r;

        c.endpoint = (env = getenv("REFERRALD_ENDPOINT")) && *env ? env : DEFAULT_ENDPOINT;
        c.events_endpoint = (env = getenv("REFERRALD_EVENTS")) && *env ? env : DEFAULT_EVENTS;
        c.timeout_ms = DEFAULT_TIMEOUT_MS;

        opterr = 0;
        /* '+': stop at the command; its own options are parsed by it. */
        while ((opt = getopt_long(argc, argv, "+" GLOBAL_SHORT, opts, NULL)) != -1) {
                if (opt == OPT_VERSION) {
                        printf("%s %s\n", PROG, RD_VERSION);
                        return EXIT_OK;
                }
                r = common_option(&c, NULL, opt, argv);
                if (r < 0)
                        return option_exit(r);
        }
        if (optind >= argc) {
                usage_error(NULL, "no command given");
                return EXIT_USAGE;
        }
        cmd = find_command(argv[optind]);
        if (!cmd) {
                usage_error(NULL, "unknown command '%s'", argv[optind]);
                return EXIT_USAGE;
        }

        /* A corr prefix unique enough across processes: pid and start time. */
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(c.corr_prefix, sizeof c.corr_prefix, "ctl-%ld-%llx", (long)getpid(),
                 (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec);
        c.zctx = zmq_ctx_new();
        if (!c.zctx) {
                fault("cannot start ZeroMQ: %s", zmq_strerror(zmq_errno()));
                return EXIT_FAULT;
        }
        r = cmd->run(&c, argc - optind, argv + optind);
        close_dealer(&c);
        zmq_ctx_term(c.zctx);
        fflush(stdout);
        if (ferror(stdout) && r == EXIT_OK) {
                fault("cannot write the output");
                r = EXIT_FAULT;
        }
        return r;
}
