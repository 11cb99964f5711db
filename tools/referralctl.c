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
 * `rules check` and `rules test` work offline on files (routing.md); with
 * --state, `rules test` reads the loads from a copy of the daemon's
 * database with lib/store, as the daemon reads them at start.
 *
 * With --server-key and --key (or $REFERRALD_SERVER_KEY, $REFERRALD_KEY)
 * both sockets are CURVE clients (protocol.md, "Security"); `keygen`
 * makes the key pairs. A daemon that refuses a key (ZAP) answers nothing:
 * the socket monitor tells us so where libzmq reports it, and a timeout
 * says to check the keys.
 *
 * Exit codes: 0 done, 1 a runtime fault or an error reply from the daemon
 * (any `ok: false`) or a failed test case, 2 a usage error (also bad keys),
 * 78 (EX_CONFIG) an invalid routing file. */
#include "hub.h"
#include "keys.h"
#include "referral.h"
#include "route.h"
#include "rules.h"
#include "store.h"
#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>
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

enum { EXIT_OK = 0, EXIT_FAULT = 1, EXIT_USAGE = 2, EXIT_CONFIG = 78 };

struct ctl {
        const char *endpoint;
        const char *events_endpoint;
        bool json;
        int timeout_ms; /* 0: wait without limit */
        void *zctx;
        void *dealer; /* opened on first request, reopened after a timeout */
        void *dealer_mon; /* PAIR on the DEALER's socket monitor (handshake failures) */
        unsigned long mon_seq;
        unsigned long corr_seq;
        char corr_prefix[64];
        /* CURVE: the arguments (or environment), then the keys once loaded */
        const char *server_key_arg; /* Z85 or @FILE */
        const char *key_file;       /* the client's secret key file */
        int curve_state;            /* 0 not looked at, 1 on, -1 off, -2 bad keys */
        char server_key[41], public_key[41], secret_key[41];
        char refusal[512]; /* why the daemon refused the handshake, when known */
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
/* CURVE keys */

/* Read one key from PATH into OUT (lib/keys). WHAT names the option in
 * messages; SECRET warns when others can read the file. 0, or -1 with the
 * reason printed. */
static int read_key_file(const char *path, const char *what, char out[RD_KEY_Z85_LEN + 1],
                         bool secret)
{
        char err[512];
        unsigned mode = 0;

        if (rd_key_read_file(path, out, &mode, err, sizeof err) < 0) {
                fault("%s: %s", what, err);
                return -1;
        }
        if (secret && (mode & 077))
                fprintf(stderr,
                        "warning: the secret key file %s can be read by others (mode %04o); "
                        "run: chmod 600 %s\n",
                        path, mode, path);
        return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);

        return n >= m && !strcmp(s + n - m, suffix);
}

/* Load the keys once, from the options or the environment. Returns 1 when
 * CURVE is on, 0 when off, -1 after an error (printed; exit status 2). */
static int curve_setup(struct ctl *c)
{
        const char *env;

        if (c->curve_state == 1 || c->curve_state == -1)
                return c->curve_state == 1;
        if (c->curve_state == -2)
                return -1;
        c->curve_state = -2;
        if (!c->server_key_arg && (env = getenv("REFERRALD_SERVER_KEY")) && *env)
                c->server_key_arg = env;
        if (!c->key_file && (env = getenv("REFERRALD_KEY")) && *env)
                c->key_file = env;
        if (!c->server_key_arg && !c->key_file) {
                c->curve_state = -1;
                return 0;
        }
        if (!c->server_key_arg || !c->key_file) {
                fault("CURVE needs both the daemon's public key (--server-key or "
                      "$REFERRALD_SERVER_KEY) and this client's secret key file (--key or "
                      "$REFERRALD_KEY); only %s was given",
                      c->key_file ? "the secret key file" : "the server key");
                return -1;
        }
        if (!zmq_has("curve")) {
                fault("this libzmq was built without CURVE; cannot connect securely");
                return -1;
        }
        {
                char err[512];
                /* by what the value is: '@' is also a Z85 character */
                if (rd_key_from_arg(c->server_key_arg, c->server_key, err, sizeof err) < 0) {
                        fault("--server-key: %s", err);
                        return -1;
                }
        }
        if (has_suffix(c->key_file, ".pub")) {
                fault("--key %s: that looks like a public key file; --key needs this client's "
                      "secret key file (BASENAME.key from `%s keygen --out BASENAME`)",
                      c->key_file, PROG);
                return -1;
        }
        if (read_key_file(c->key_file, "--key", c->secret_key, true))
                return -1;
        if (zmq_curve_public(c->public_key, c->secret_key) != 0) {
                fault("--key %s: cannot derive the public key: %s", c->key_file,
                      zmq_strerror(zmq_errno()));
                return -1;
        }
        if (!strcmp(c->server_key, c->public_key)) {
                fault("--server-key is this client's own public key; give the daemon's public "
                      "key (the one that belongs to its security.secret_key_file)");
                return -1;
        }
        c->curve_state = 1;
        return 1;
}

/* Make SOCK a CURVE client when keys are given. 0, or -1 (printed). */
static int curve_apply(struct ctl *c, void *sock)
{
        int r = curve_setup(c);

        if (r <= 0)
                return r;
        if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, c->server_key, RD_KEY_Z85_LEN) != 0 ||
            zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, c->public_key, RD_KEY_Z85_LEN) != 0 ||
            zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, c->secret_key, RD_KEY_Z85_LEN) != 0) {
                fault("cannot set the CURVE keys: %s", zmq_strerror(zmq_errno()));
                return -1;
        }
        return 0;
}

/* Watch SOCK's handshakes: a PAIR socket that receives its monitor events
 * (MASK), or NULL when that cannot be set up (we then rely on timeouts). */
static void *watch_socket(struct ctl *c, void *sock, int mask)
{
        char addr[96];
        void *mon;
        int linger = 0;

        snprintf(addr, sizeof addr, "inproc://referralctl-monitor-%ld-%lu", (long)getpid(),
                 ++c->mon_seq);
        if (zmq_socket_monitor(sock, addr, mask) != 0)
                return NULL;
        mon = zmq_socket(c->zctx, ZMQ_PAIR);
        if (!mon)
                return NULL;
        zmq_setsockopt(mon, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_connect(mon, addr) != 0) {
                zmq_close(mon);
                return NULL;
        }
        return mon;
}

static void unwatch_socket(void *sock, void **mon)
{
        if (*mon) {
                zmq_socket_monitor(sock, NULL, 0);
                zmq_close(*mon);
                *mon = NULL;
        }
}

/* Read one monitor event: its number and value (the ZAP status code, or
 * a protocol error code). Returns false when none could be read. */
static bool read_monitor_event(void *mon, uint16_t *event, uint32_t *value)
{
        zmq_msg_t msg;
        int more = 0;
        size_t moresz = sizeof more;
        bool got = false;

        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, mon, ZMQ_DONTWAIT) >= 6) {
                memcpy(event, zmq_msg_data(&msg), 2);
                memcpy(value, (char *)zmq_msg_data(&msg) + 2, 4);
                got = true;
        }
        zmq_getsockopt(mon, ZMQ_RCVMORE, &more, &moresz);
        zmq_msg_close(&msg);
        while (more) { /* the endpoint frame */
                zmq_msg_init(&msg);
                zmq_msg_recv(&msg, mon, 0);
                zmq_getsockopt(mon, ZMQ_RCVMORE, &more, &moresz);
                zmq_msg_close(&msg);
        }
        return got;
}

#define HANDSHAKE_FAILURES                                                                         \
        (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                \
         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)

/* Put into c->refusal what a failed handshake with ENDPOINT means, for a
 * person. Returns true when the failure is final (no point in waiting). */
static bool explain_handshake_failure(struct ctl *c, const char *endpoint, uint16_t event,
                                      uint32_t value, bool events_socket)
{
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
                if (events_socket)
                        snprintf(c->refusal, sizeof c->refusal,
                                 "the daemon at %s refused the subscription (ZAP status %u): "
                                 "only monitors and coordinators listed in its security.clients "
                                 "may subscribe; partners and connectors follow their referrals "
                                 "with `events` or `list`",
                                 endpoint, (unsigned)value);
                else
                        snprintf(c->refusal, sizeof c->refusal,
                                 "the daemon at %s refused this client (ZAP status %u): the "
                                 "public key %s (derived from --key) is not listed in its "
                                 "security.clients",
                                 endpoint, (unsigned)value,
                                 c->curve_state == 1 ? c->public_key : "?");
                return true;
        }
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
            value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
                snprintf(c->refusal, sizeof c->refusal,
                         c->curve_state == 1
                                 ? "the daemon at %s does not use CURVE (no security block in "
                                   "its config?); leave out --server-key and --key"
                                 : "the daemon at %s requires CURVE: give --server-key (its "
                                   "public key) and --key (this client's secret key file), or "
                                   "set $REFERRALD_SERVER_KEY and $REFERRALD_KEY",
                         endpoint);
                return true;
        }
        snprintf(c->refusal, sizeof c->refusal,
                 "the CURVE handshake with %s failed (%s 0x%x): check that --server-key is the "
                 "daemon's public key",
                 endpoint,
                 event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error" : "no detail",
                 (unsigned)value);
        return false; /* may be transient; the timeout message says the rest */
}

/* ------------------------------------------------------------------ */
/* Request/reply */

static void close_dealer(struct ctl *c)
{
        if (c->dealer) {
                unwatch_socket(c->dealer, &c->dealer_mon);
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
        if (curve_apply(c, c->dealer) != 0) {
                close_dealer(c);
                return -1;
        }
        c->refusal[0] = '\0';
        c->dealer_mon = watch_socket(c, c->dealer, HANDSHAKE_FAILURES);
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

enum req_result { REQ_OK, REQ_ERROR_REPLY, REQ_FAULT, REQ_TIMEOUT, REQ_REFUSED };

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
                zmq_pollitem_t items[2] = {{.socket = c->dealer, .events = ZMQ_POLLIN},
                                           {.socket = c->dealer_mon, .events = ZMQ_POLLIN}};
                json_t *r;
                bool bad;
                const char *rcorr;

                rc = zmq_poll(items, c->dealer_mon ? 2 : 1, left_ms(deadline));
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
                if (c->dealer_mon && (items[1].revents & ZMQ_POLLIN)) {
                        uint16_t event = 0;
                        uint32_t value = 0;

                        if (read_monitor_event(c->dealer_mon, &event, &value) &&
                            explain_handshake_failure(c, c->endpoint, event, value, false)) {
                                close_dealer(c);
                                return REQ_REFUSED;
                        }
                        if (!(items[0].revents & ZMQ_POLLIN))
                                continue;
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
        if (c->curve_state == 1)
                fault("no reply from %s within %d ms (is referrald running there? see "
                      "--endpoint, --timeout). CURVE is on: a daemon that does not accept this "
                      "client answers nothing, so check the keys: --server-key must be the "
                      "daemon's public key, and this client's public key %s (from --key) must "
                      "be listed in its security.clients%s%s",
                      c->endpoint, c->timeout_ms, c->public_key, c->refusal[0] ? "; " : "",
                      c->refusal);
        else
                fault("no reply from %s within %d ms (is referrald running there? see "
                      "--endpoint, --timeout; if the daemon has security on, give --server-key "
                      "and --key)",
                      c->endpoint, c->timeout_ms);
}

static void print_refused(const struct ctl *c)
{
        fault("%s", c->refusal);
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
        case REQ_REFUSED: print_refused(c); return EXIT_FAULT;
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
        OPT_SERVER_KEY,
        OPT_KEY,
};

/* clang-format off */
#define GLOBAL_SHORT ":e:t:h"
#define GLOBAL_LONG                                                     \
        {"endpoint", required_argument, NULL, 'e'},                     \
        {"events-endpoint", required_argument, NULL, OPT_EVENTS_ENDPOINT}, \
        {"json", no_argument, NULL, OPT_JSON},                          \
        {"timeout", required_argument, NULL, 't'},                      \
        {"server-key", required_argument, NULL, OPT_SERVER_KEY},        \
        {"key", required_argument, NULL, OPT_KEY},                      \
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
        case OPT_SERVER_KEY: c->server_key_arg = optarg; return 1;
        case OPT_KEY: c->key_file = optarg; return 1;
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
 * that the subscription is in place before the replay starts. Returns 0
 * when subscribed, 1 when the daemon refused the subscription (CURVE: the
 * client's role may not subscribe; c->refusal says so), -1 on a failure
 * (printed). */
static int wait_subscribed(struct ctl *c, void *sub)
{
        void *mon;
        int64_t deadline = deadline_after(c->timeout_ms);
        int rc = -1;

        c->refusal[0] = '\0';
        mon = watch_socket(c, sub, ZMQ_EVENT_HANDSHAKE_SUCCEEDED | HANDSHAKE_FAILURES);
        if (zmq_connect(sub, c->events_endpoint) != 0) {
                fault("cannot connect to %s: %s", c->events_endpoint, zmq_strerror(zmq_errno()));
                unwatch_socket(sub, &mon);
                return -1;
        }
        if (!mon)
                return 0; /* cannot watch: carry on, the gap checks cover us */
        while (!stop_requested) {
                zmq_pollitem_t item = {.socket = mon, .events = ZMQ_POLLIN};
                uint16_t event = 0;
                uint32_t value = 0;
                int n = zmq_poll(&item, 1, left_ms(deadline));

                if (n < 0 && zmq_errno() == EINTR)
                        continue;
                if (n <= 0) {
                        fault("no connection to the event endpoint %s within %d ms (see "
                              "--events-endpoint%s)%s%s",
                              c->events_endpoint, c->timeout_ms,
                              c->curve_state == 1 ? "; CURVE is on: check --server-key and "
                                                    "--key"
                                                  : "",
                              c->refusal[0] ? ": " : "", c->refusal);
                        break;
                }
                if (!read_monitor_event(mon, &event, &value))
                        continue;
                if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
                        rc = 0;
                        break;
                }
                if (explain_handshake_failure(c, c->events_endpoint, event, value, true)) {
                        rc = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? 1 : -1;
                        if (rc < 0)
                                fault("%s", c->refusal);
                        break;
                }
        }
        unwatch_socket(sub, &mon);
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
        if (curve_apply(c, sub) != 0)
                goto out;
        switch (wait_subscribed(c, sub)) {
        case 0: break;
        case 1:
                /* Not allowed to subscribe (a partner or a connector): follow
                 * by asking for what is new, as protocol.md tells them to. */
                fprintf(stderr,
                        "note: %s; following by polling every %d ms instead\n",
                        c->refusal, FOLLOW_RECHECK_MS);
                zmq_close(sub);
                sub = NULL;
                break;
        default: goto out;
        }

        /* 2. Replay what was before, up to the daemon's last seq. */
        res = replay(c, st, &err_reply);
        if (res != REQ_OK)
                goto fail;

        /* 3. Live: print what is newer than the cursor; a gap is filled
         * from the replay before the event that revealed it; a silence
         * makes us ask for what we may have missed. */
        while (!stop_requested) {
                zmq_pollitem_t item = {.socket = sub, .events = ZMQ_POLLIN};
                /* without a subscription: a plain wait, then a replay */
                int n = zmq_poll(sub ? &item : NULL, sub ? 1 : 0, FOLLOW_RECHECK_MS);
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
                        if (res == REQ_ERROR_REPLY || res == REQ_REFUSED) {
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
        if (res == REQ_REFUSED)
                print_refused(c);
        if (res == REQ_ERROR_REPLY) {
                if (c->json)
                        print_json_line(err_reply);
                print_error_reply(err_reply);
                json_decref(err_reply);
        }
out:
        if (sub)
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
        case REQ_REFUSED: print_refused(c); return EXIT_FAULT;
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
/* erase */

static int cmd_erase(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG, {0}};
        json_t *reply;
        const char *erased;
        int opt, r;

        getopt_reset();
        while ((opt = getopt_long(argc, argv, GLOBAL_SHORT, opts, NULL)) != -1) {
                r = common_option(c, argv[0], opt, argv);
                if (r < 0)
                        return option_exit(r);
        }
        if (argc - optind != 1) {
                usage_error(argv[0], "needs exactly one ID");
                return EXIT_USAGE;
        }
        r = call(c, json_pack("{s:s, s:s}", "op", "erase", "id", argv[optind]), &reply);
        if (r)
                return r;
        if (c->json) {
                print_json_line(reply);
        } else {
                erased = jstr(reply, "erased");
                printf("%s: personal data erased%s%s (family, note, children, postcode); status "
                       "%s; the routing history stays\n",
                       jstr(reply, "id") ? jstr(reply, "id") : argv[optind],
                       erased ? " at " : "", erased ? erased : "",
                       jstr(reply, "status") ? jstr(reply, "status") : "?");
        }
        json_decref(reply);
        return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* audit */

enum { OPT_AUDIT_ID = 340, OPT_FOLLOW_ALL };

static void print_audit_row(const json_t *e)
{
        json_int_t n = 0;

        jint(e, "n", &n);
        printf("%-8" JSON_INTEGER_FORMAT " %-24s %-20s %-12s %-20s %s\n", n,
               jstr(e, "at") ? jstr(e, "at") : "-", jstr(e, "client") ? jstr(e, "client") : "-",
               jstr(e, "role") ? jstr(e, "role") : "-", jstr(e, "action") ? jstr(e, "action") : "-",
               jstr(e, "id") ? jstr(e, "id") : "-");
}

static int cmd_audit(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"since", required_argument, NULL, OPT_SINCE},
                                             {"limit", required_argument, NULL, OPT_LIMIT},
                                             {"id", required_argument, NULL, OPT_AUDIT_ID},
                                             {"follow-all", no_argument, NULL, OPT_FOLLOW_ALL},
                                             {0}};
        long long since = 0, limit = -1;
        const char *id = NULL;
        bool all = false, header = false;
        json_t *entries = json_array(), *reply = NULL, *page, *e;
        json_int_t last = 0;
        size_t i, n;
        int opt, r;

        getopt_reset();
        while ((opt = getopt_long(argc, argv, GLOBAL_SHORT, opts, NULL)) != -1) {
                r = common_option(c, argv[0], opt, argv);
                if (r < 0) {
                        json_decref(entries);
                        return option_exit(r);
                }
                if (r)
                        continue;
                if (opt == OPT_SINCE && !parse_count(optarg, INT64_MAX, &since)) {
                        usage_error(argv[0], "--since needs an entry number (0 or more), not '%s'",
                                    optarg);
                        json_decref(entries);
                        return EXIT_USAGE;
                } else if (opt == OPT_LIMIT &&
                           (!parse_count(optarg, INT64_MAX, &limit) || limit < 1)) {
                        usage_error(argv[0], "--limit needs a number of at least 1, not '%s'",
                                    optarg);
                        json_decref(entries);
                        return EXIT_USAGE;
                } else if (opt == OPT_AUDIT_ID) {
                        id = optarg;
                } else if (opt == OPT_FOLLOW_ALL) {
                        all = true;
                }
        }
        if (optind != argc) {
                usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
                json_decref(entries);
                return EXIT_USAGE;
        }
        last = since;
        for (;;) {
                json_t *req = json_pack("{s:s, s:I}", "op", "audit", "since", (json_int_t)last);
                json_int_t page_last = last;

                if (limit > 0)
                        json_object_set_new(req, "limit", json_integer(limit));
                if (id)
                        json_object_set_new(req, "id", json_string(id));
                r = call(c, req, &reply);
                if (r) {
                        json_decref(entries);
                        return r;
                }
                page = json_object_get(reply, "entries");
                n = json_array_size(page);
                jint(reply, "last", &page_last);
                if (!c->json) {
                        if (!header)
                                printf("%-8s %-24s %-20s %-12s %-20s %s\n", "N", "AT", "CLIENT",
                                       "ROLE", "ACTION", "ID");
                        header = true;
                        json_array_foreach(page, i, e) print_audit_row(e);
                } else {
                        json_array_extend(entries, page);
                }
                /* page on while pages come, by the last entry number seen */
                if (!all || n == 0 || page_last <= last) {
                        last = page_last > last ? page_last : last;
                        break;
                }
                last = page_last;
                json_decref(reply);
                reply = NULL;
        }
        if (c->json) {
                json_t *o = json_pack("{s:b, s:O, s:I}", "ok", 1, "entries", entries, "last",
                                      last);
                if (!all)
                        print_json_line(reply);
                else
                        print_json_line(o);
                json_decref(o);
        } else if (!all && n > 0 && limit > 0 && n >= (size_t)limit) {
                printf("(more may follow: %s audit --since %" JSON_INTEGER_FORMAT
                       ", or --follow-all)\n",
                       PROG, last);
        } else if (!all && n > 0 && limit < 0 && n >= 100) {
                printf("(more may follow: %s audit --since %" JSON_INTEGER_FORMAT
                       ", or --follow-all)\n",
                       PROG, last);
        }
        json_decref(reply);
        json_decref(entries);
        return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* keygen */

enum { OPT_OUT = 360, OPT_FORCE };

/* Write TEXT to PATH with MODE (whatever the umask), through a temporary
 * file in the same folder: renamed over PATH with FORCE, else linked,
 * which fails when PATH exists. 0, or -1 (printed). */
static int write_key_file(const char *path, const char *text, mode_t mode, bool force)
{
        size_t len = strlen(path) + 16, n = strlen(text);
        char *tmp = malloc(len);
        int fd, r = -1;

        if (!tmp) {
                fault("out of memory");
                return -1;
        }
        snprintf(tmp, len, "%s.tmpXXXXXX", path);
        fd = mkstemp(tmp); /* 0600 */
        if (fd < 0) {
                fault("cannot create %s: %s", tmp, strerror(errno));
                free(tmp);
                return -1;
        }
        if (fchmod(fd, mode) != 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) != 0) {
                fault("cannot write %s: %s", tmp, strerror(errno));
                close(fd);
                goto out;
        }
        if (close(fd) != 0) {
                fault("cannot write %s: %s", tmp, strerror(errno));
                goto out;
        }
        if (force ? rename(tmp, path) : link(tmp, path)) {
                if (errno == EEXIST)
                        fault("%s exists; not overwritten (use --force to replace it)", path);
                else
                        fault("cannot create %s: %s", path, strerror(errno));
                goto out;
        }
        r = 0;
out:
        if (r != 0 || !force)
                unlink(tmp);
        free(tmp);
        return r;
}

static int cmd_keygen(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"out", required_argument, NULL, OPT_OUT},
                                             {"force", no_argument, NULL, OPT_FORCE},
                                             {0}};
        const char *base = NULL;
        bool force = false;
        char pub[41], sec[41], text[64];
        char *key_path = NULL, *pub_path = NULL;
        int opt, r = EXIT_FAULT;

        getopt_reset();
        while ((opt = getopt_long(argc, argv, GLOBAL_SHORT, opts, NULL)) != -1) {
                int cr = common_option(c, argv[0], opt, argv);

                if (cr < 0)
                        return option_exit(cr);
                if (cr == 0 && opt == OPT_OUT)
                        base = optarg;
                else if (cr == 0 && opt == OPT_FORCE)
                        force = true;
        }
        if (optind != argc) {
                usage_error(argv[0], "unexpected argument '%s' (the files are named with --out)",
                            argv[optind]);
                return EXIT_USAGE;
        }
        if (base && !*base) {
                usage_error(argv[0], "--out needs a BASENAME, e.g. --out ocmw-genk");
                return EXIT_USAGE;
        }
        if (force && !base) {
                usage_error(argv[0], "--force is for --out");
                return EXIT_USAGE;
        }
        if (zmq_curve_keypair(pub, sec) != 0) {
                fault("cannot make a CURVE key pair: %s%s", zmq_strerror(zmq_errno()),
                      zmq_errno() == ENOTSUP ? " (this libzmq was built without CURVE)" : "");
                return EXIT_FAULT;
        }
        if (!base) {
                if (c->json) {
                        json_t *o = json_pack("{s:s, s:s}", "public_key", pub, "secret_key", sec);
                        print_json_line(o);
                        json_decref(o);
                } else {
                        printf("public: %s\nsecret: %s\n", pub, sec);
                }
                explicit_bzero(sec, sizeof sec);
                return EXIT_OK;
        }
        if (asprintf(&key_path, "%s.key", base) < 0 || asprintf(&pub_path, "%s.pub", base) < 0) {
                fault("out of memory");
                goto out;
        }
        if (!force) { /* refuse before writing either file */
                struct stat sb;
                const char *exists = lstat(key_path, &sb) == 0   ? key_path
                                     : lstat(pub_path, &sb) == 0 ? pub_path
                                                                 : NULL;
                if (exists) {
                        fault("%s exists; not overwritten (use --force to replace it)", exists);
                        goto out;
                }
        }
        snprintf(text, sizeof text, "%s\n", sec);
        if (write_key_file(key_path, text, 0600, force) != 0)
                goto out;
        snprintf(text, sizeof text, "%s\n", pub);
        if (write_key_file(pub_path, text, 0644, force) != 0) {
                if (!force)
                        unlink(key_path); /* no secret without its public half */
                goto out;
        }
        if (c->json) {
                json_t *o = json_pack("{s:s, s:s, s:s}", "public_key", pub, "secret_key_file",
                                      key_path, "public_key_file", pub_path);
                print_json_line(o);
                json_decref(o);
        } else {
                printf("%s\n", pub);
        }
        r = EXIT_OK;
out:
        explicit_bzero(sec, sizeof sec);
        explicit_bzero(text, sizeof text);
        free(key_path);
        free(pub_path);
        return r;
}

/* ------------------------------------------------------------------ */
/* Explaining a decision in plain words (rules test, explain)
 *
 * Both commands print from the same JSON: the trace of rd_route_decide
 * (as the daemon stores it) and the decision fields of a reply (status,
 * rule, team, connector, start_by, expected_start, offer_expires,
 * forward_to, reason). RULES, when known (rules test), adds names. */

static const char *failed_key_words(const char *key)
{
        static const struct {
                const char *key, *words;
        } words[] = {
                {"kind", "the kind of help asked for is not one this rule takes"},
                {"urgency", "the urgency is not one this rule takes"},
                {"partner", "the referring partner is not in the rule's list"},
                {"postcode", "the postcode is not in the rule's postcodes"},
                {"age", "no child's age is in the rule's age range"},
                {"language", "the family's language is not in the rule's list"},
                {"concerns", "the concerns do not fit the rule's concerns"},
        };

        for (size_t i = 0; key && i < sizeof words / sizeof words[0]; i++)
                if (!strcmp(key, words[i].key))
                        return words[i].words;
        return "a condition of the rule does not fit";
}

static const char *ms_text(const json_t *v, char buf[RD_TIME_STR])
{
        if (!json_is_integer(v))
                return NULL;
        return rd_time_format((int64_t)json_integer_value(v), buf);
}

static const char *target_name(const struct rd_rules *rules, const char *id)
{
        ssize_t i = rules && id ? rd_rules_target_index(rules, id) : -1;

        return i >= 0 ? rules->targets[i].name : NULL;
}

/* "Decision: assigned to kelly of team genk, ..." from TRACE; the times
 * and the reason come from DEC (decision fields) when its status is the
 * trace's decision. */
static void print_decision_words(const json_t *trace, const json_t *dec,
                                 const struct rd_rules *rules, const char *lead)
{
        const char *decision = jstr(trace, "decision");
        const char *dstatus = jstr(dec, "status");
        const json_t *times = decision && dstatus && !strcmp(decision, dstatus) ? dec : NULL;
        const char *start_by = jstr(times, "start_by");
        const char *expires = jstr(times, "offer_expires");
        const char *expected = jstr(times, "expected_start");
        const char *reason = jstr(times, "reason");
        const char *to = jstr(trace, "forward_to");
        const char *name = target_name(rules, to);

        if (!decision) {
                printf("%s: unknown\n", lead);
        } else if (!strcmp(decision, "assigned")) {
                printf("%s: assigned to %s of team %s", lead,
                       jstr(trace, "connector") ? jstr(trace, "connector") : "?",
                       jstr(trace, "team") ? jstr(trace, "team") : "?");
                if (start_by)
                        printf(", start by %s", start_by);
                if (expires)
                        printf(" (the offer expires %s)", expires);
                printf(".\n");
        } else if (!strcmp(decision, "waitlisted")) {
                printf("%s: waitlisted", lead);
                if (start_by)
                        printf(", start by %s", start_by);
                if (expected)
                        printf(", expected start %s", expected);
                else if (times)
                        printf(", no expected start");
                printf(".\n");
        } else if (!strcmp(decision, "forwarded")) {
                printf("%s: forwarded to %s", lead, to ? to : "?");
                if (name)
                        printf(" (%s)", name);
                if (reason && *reason)
                        printf(", reason: %s", reason);
                printf(".\n");
        } else {
                printf("%s: %s.\n", lead, decision);
        }
}

static void print_candidate_words(const json_t *cand, bool someone_chosen, const char *pick)
{
        const char *id = jstr(cand, "connector"), *team = jstr(cand, "team");
        const char *why = jstr(cand, "passed_over");
        json_int_t load = 0, cap = 0;
        bool has_room;

        jint(cand, "load", &load);
        jint(cand, "capacity", &cap);
        has_room = load < cap;
        printf("  %s (team %s, load %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT "): ",
               id ? id : "?", team ? team : "?", load, cap);
        if (json_is_true(json_object_get(cand, "chosen"))) {
                printf("chosen\n");
                return;
        }
        printf("passed over: ");
        if (!why)
                printf("no reason given\n");
        else if (!strcmp(why, "full"))
                printf("full (no place free)\n");
        else if (!strcmp(why, "postcode"))
                printf("postcode (the team does not serve the family's postcode)\n");
        else if (!strcmp(why, "skill"))
                printf("wrong skill (does not have the skill the rule asks for)\n");
        else if (!strcmp(why, "language") && has_room && someone_chosen)
                printf("language (does not speak the family's language; someone who does "
                       "was free)\n");
        else if (!strcmp(why, "language"))
                printf("language (does not speak the family's language)\n");
        else if (!strcmp(why, "declined"))
                printf("declined (declined this referral or let its offer expire)\n");
        else if (!strcmp(why, "not_picked") && pick && !strcmp(pick, "round_robin"))
                printf("not picked (free, but it was another connector's turn)\n");
        else if (!strcmp(why, "not_picked"))
                printf("not picked (free, but another was less loaded, or as loaded with "
                       "fewer offers so far)\n");
        else
                printf("%s\n", why);
}

/* The whole explanation of TRACE for a person. */
static void print_trace_words(const json_t *trace, const json_t *dec, const struct rd_rules *rules)
{
        const json_t *tried = json_object_get(trace, "rules_tried");
        const json_t *cands = json_object_get(trace, "candidates");
        const json_t *fc = json_object_get(trace, "forecast");
        const char *rule = jstr(trace, "rule"), *action = jstr(trace, "action");
        const char *pick = jstr(trace, "pick"), *otherwise = jstr(trace, "otherwise");
        const json_t *v;
        bool chosen = false;
        size_t i, n = 0;

        if (json_is_true(json_object_get(trace, "redecided_by_rule"))) {
                printf("Decided again by rule %s (after a decline, an expired offer or a place "
                       "coming free; its conditions were not tried again).\n",
                       rule ? rule : "?");
        } else {
                printf("Rules tried, top to bottom:\n");
                json_array_foreach(tried, i, v)
                {
                        printf("  %zu. %s: does not apply: %s (%s)\n", ++n,
                               jstr(v, "rule") ? jstr(v, "rule") : "?",
                               jstr(v, "failed") ? jstr(v, "failed") : "?",
                               failed_key_words(jstr(v, "failed")));
                }
                printf("  %zu. %s: applies and decides\n", ++n, rule ? rule : "?");
        }
        if (action && !strcmp(action, "forward")) {
                printf("Rule %s forwards every referral it takes.\n", rule ? rule : "?");
        } else if (action) {
                printf("Rule %s assigns (pick: %s). Candidates, in file order:\n",
                       rule ? rule : "?",
                       pick && !strcmp(pick, "round_robin") ? "round robin" : "least loaded");
                json_array_foreach(cands, i, v) chosen |=
                        json_is_true(json_object_get(v, "chosen"));
                json_array_foreach(cands, i, v) print_candidate_words(v, chosen, pick);
                if (!json_array_size(cands))
                        printf("  (none: the rule's teams have no connectors)\n");
        }
        if (json_is_object(fc)) {
                json_int_t nc = 0, slots = 0, ahead = 0;
                char b1[RD_TIME_STR], b2[RD_TIME_STR];
                const char *exp = ms_text(json_object_get(fc, "expected_start"), b1);
                const char *by = ms_text(json_object_get(fc, "start_by"), b2);
                bool within = json_is_true(json_object_get(fc, "within_window"));

                jint(fc, "candidates", &nc);
                jint(fc, "slots", &slots);
                jint(fc, "waiting_ahead", &ahead);
                if (nc == 0) {
                        printf("Nobody could take it: every candidate was passed over, so "
                               "there is no forecast.\n");
                } else {
                        printf("Nobody was free. Forecast: %" JSON_INTEGER_FORMAT
                               " candidate(s), %" JSON_INTEGER_FORMAT
                               " place(s) coming free, %" JSON_INTEGER_FORMAT
                               " family(ies) waiting ahead; ",
                               nc, slots, ahead);
                        if (exp)
                                printf("the next place for this family comes free %s, %s the "
                                       "start-by date %s: %s.\n",
                                       exp, within ? "before" : "not before", by ? by : "?",
                                       within ? "within the window" : "not within the window");
                        else
                                printf("no place is expected to come free for this family "
                                       "(start by %s): not within the window.\n",
                                       by ? by : "?");
                }
        }
        if (otherwise)
                printf("So the rule's otherwise applies: %s.\n",
                       !strcmp(otherwise, "forward") ? "forward"
                                                     : "waitlist (the family waits anyway)");
        print_decision_words(trace, dec, rules, "Decision");
}

/* ------------------------------------------------------------------ */
/* rules check, rules test: offline, on files; no daemon */

static void print_diag(const struct rd_diag *diag)
{
        for (size_t i = 0; i < diag->n; i++)
                fprintf(stderr, "%s\n", diag->items[i].text);
}

/* Load PATH, printing every diagnostic. 0, or the exit code. */
static int load_rules_report(const char *path, struct rd_rules **rules)
{
        struct rd_diag diag = {0};
        int r = rd_rules_load_file(path, rules, &diag);

        print_diag(&diag);
        if (r < 0 && !diag.n)
                fault("%s: %s", path, strerror(-r));
        rd_diag_clear(&diag);
        if (r < 0)
                return r == -ENOMEM ? EXIT_FAULT : EXIT_CONFIG;
        return 0;
}

static int rules_check(const char *path)
{
        struct rd_diag diag = {0};
        struct rd_rules *rules = NULL;
        size_t warnings;
        int r = rd_rules_load_file(path, &rules, &diag);

        print_diag(&diag);
        warnings = diag.n_warnings;
        if (r < 0) {
                if (!diag.n)
                        fault("%s: %s", path, strerror(-r));
                else
                        fprintf(stderr, "%s: invalid: %zu error(s), %zu warning(s)\n", path,
                                diag.n_errors, diag.n_warnings);
                rd_diag_clear(&diag);
                return r == -ENOMEM ? EXIT_FAULT : EXIT_CONFIG;
        }
        rd_diag_clear(&diag);
        printf("%s: valid: %zu rules, %zu teams, %zu connectors, %zu forward targets, "
               "%zu warning(s); digest %s\n",
               path, rules->n_rules, rules->n_teams, rules->n_connectors, rules->n_targets,
               warnings, rules->digest);
        rd_rules_free(rules);
        return EXIT_OK;
}

/* The connectors' state for a test against a database copy: the daemon's
 * own lib/hub reads it from the store exactly as the daemon does at start
 * (loads and expected ends of the open referrals, offers ever made, the
 * round-robin position of each rule, the waitlist, all of it ahead of a new
 * referral). The hub owns the rules from then on. */
struct test_state {
        struct rd_store *store;
        struct rd_hub *hub;
        struct rd_route_state st;
};

static void test_state_free(struct test_state *ts)
{
        rd_hub_free(ts->hub); /* and the rules */
        rd_store_close(ts->store);
        memset(ts, 0, sizeof *ts);
}

/* Fill TS from the database at PATH (a copy: rd_store_open may migrate
 * it), handing RULES to it. 0 or an exit code (printed); RULES is freed on
 * failure. */
static int test_state_load_db(struct test_state *ts, const char *path, struct rd_rules *rules)
{
        char errbuf[256];
        int r;

        memset(ts, 0, sizeof *ts);
        /* rd_store_open creates a missing file: a typo must not test
         * against an empty database. */
        if (access(path, R_OK | W_OK) != 0) {
                fault("%s: %s", path, strerror(errno));
                rd_rules_free(rules);
                return EXIT_FAULT;
        }
        r = rd_store_open(path, false, &ts->store, errbuf, sizeof errbuf);
        if (r < 0) {
                fault("%s: %s", path, errbuf[0] ? errbuf : strerror(-r));
                rd_rules_free(rules);
                return EXIT_FAULT;
        }
        r = rd_hub_new(ts->store, rules, &ts->hub); /* takes RULES */
        if (r < 0) {
                fault("%s: cannot read the loads: %s (%s)", path, strerror(-r),
                      rd_store_errmsg(ts->store));
                test_state_free(ts);
                return EXIT_FAULT;
        }
        r = rd_hub_route_state(ts->hub, &ts->st);
        if (r < 0) {
                fault("%s: cannot read the waitlist: %s (%s)", path, strerror(-r),
                      rd_store_errmsg(ts->store));
                test_state_free(ts);
                return EXIT_FAULT;
        }
        return 0;
}

static void set_time_field(json_t *o, const char *key, int64_t ms)
{
        char buf[RD_TIME_STR];

        if (ms)
                json_object_set_new(o, key, json_string(rd_time_format(ms, buf)));
}

/* The decision fields as the daemon's replies carry them, plus "trace"
 * (stolen). NULL when out of memory. */
static json_t *decision_json(const struct rd_rules *rules, const struct rd_decision *d,
                             json_t *trace)
{
        json_t *o = json_object();

        if (!o) {
                json_decref(trace);
                return NULL;
        }
        json_object_set_new(o, "status", json_string(rd_status_name(d->status)));
        json_object_set_new(o, "rule", json_string(rules->rules[d->rule].name));
        if (d->status == RD_STATUS_ASSIGNED) {
                json_object_set_new(o, "team", json_string(rules->teams[d->team].id));
                json_object_set_new(o, "connector",
                                    json_string(rules->connectors[d->connector].id));
        }
        if (d->status != RD_STATUS_FORWARDED)
                set_time_field(o, "start_by", d->start_by_ms);
        if (d->status == RD_STATUS_WAITLISTED)
                set_time_field(o, "expected_start", d->expected_start_ms);
        if (d->status == RD_STATUS_ASSIGNED)
                set_time_field(o, "offer_expires", d->offer_expires_ms);
        if (d->status == RD_STATUS_FORWARDED) {
                json_object_set_new(o, "forward_to", json_string(rules->targets[d->forward_to].id));
                json_object_set_new(o, "reason", json_string(d->reason ? d->reason : ""));
        }
        json_object_set_new(o, "trace", trace ? trace : json_null());
        return o;
}

/* Decide for R; a new decision_json() in *OUT. 0 or an exit code. */
static int run_decision(const struct rd_rules *rules, const struct rd_route_state *st,
                        const struct rd_referral *r, int64_t at, json_t **out)
{
        struct rd_decision d;
        json_t *trace = NULL;
        int rc = rd_route_decide(r, rules, st, at, &d, &trace);

        if (rc < 0) {
                fault("the routing engine failed: %s", strerror(-rc));
                return EXIT_FAULT;
        }
        *out = decision_json(rules, &d, trace);
        if (!*out) {
                fault("out of memory");
                return EXIT_FAULT;
        }
        return 0;
}

/* What a test referral may leave out: ref (a test name) and consent. */
static void referral_test_defaults(json_t *obj, const char *ref)
{
        if (!json_object_get(obj, "ref"))
                json_object_set_new(obj, "ref", json_string(ref));
        if (!json_object_get(obj, "consent"))
                json_object_set_new(obj, "consent", json_true());
}

/* ---- the cases file ---------------------------------------------------- */

#define CASE_YAML_DEPTH_MAX 32

struct cases_file {
        const char *path;
        yaml_document_t doc;
        size_t n_errors;
};

static void case_error(struct cases_file *cf, const yaml_node_t *node, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void case_error(struct cases_file *cf, const yaml_node_t *node, const char *fmt, ...)
{
        va_list ap;

        if (node)
                fprintf(stderr, "%s:%zu:%zu: ", cf->path, node->start_mark.line + 1,
                        node->start_mark.column + 1);
        else
                fprintf(stderr, "%s: ", cf->path);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        cf->n_errors++;
}

static yaml_node_t *ynode(struct cases_file *cf, int id)
{
        return yaml_document_get_node(&cf->doc, id);
}

static const char *yscalar(const yaml_node_t *n)
{
        return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A YAML node as JSON: plain scalars true/false/null/~ and integers keep
 * their YAML meaning, every other scalar is a string. NULL after an error
 * (printed). */
static json_t *yaml_to_json(struct cases_file *cf, yaml_node_t *n, int depth)
{
        json_t *o;

        if (depth > CASE_YAML_DEPTH_MAX) {
                case_error(cf, n, "nested too deeply");
                return NULL;
        }
        if (n->type == YAML_SCALAR_NODE) {
                const char *s = (const char *)n->data.scalar.value;
                size_t len = n->data.scalar.length;
                char *end;
                long long v;

                if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                        return json_stringn(s, len);
                if (!strcmp(s, "true"))
                        return json_true();
                if (!strcmp(s, "false"))
                        return json_false();
                if (!strcmp(s, "null") || !strcmp(s, "~") || !len)
                        return json_null();
                errno = 0;
                v = strtoll(s, &end, 10);
                if (!errno && *end == '\0' && (isdigit((unsigned char)s[0]) || s[0] == '-'))
                        return json_integer(v);
                return json_stringn(s, len);
        }
        if (n->type == YAML_SEQUENCE_NODE) {
                o = json_array();
                for (yaml_node_item_t *it = n->data.sequence.items.start;
                     o && it < n->data.sequence.items.top; it++) {
                        json_t *v = yaml_to_json(cf, ynode(cf, *it), depth + 1);

                        if (!v || json_array_append_new(o, v) < 0) {
                                json_decref(o);
                                return NULL;
                        }
                }
                return o;
        }
        o = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; o && p < n->data.mapping.pairs.top;
             p++) {
                yaml_node_t *k = ynode(cf, p->key);
                const char *key = yscalar(k);
                json_t *v;

                if (!key) {
                        case_error(cf, k, "a key must be a plain text");
                        json_decref(o);
                        return NULL;
                }
                if (json_object_get(o, key)) {
                        case_error(cf, k, "duplicate key '%s'", key);
                        json_decref(o);
                        return NULL;
                }
                v = yaml_to_json(cf, ynode(cf, p->value), depth + 1);
                if (!v || json_object_set_new(o, key, v) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

/* The node of REFERRAL (a mapping) that FIELD ("referral.children[0].age")
 * names at its top level, else REFERRAL itself: where to point an error. */
static yaml_node_t *referral_field_node(struct cases_file *cf, yaml_node_t *referral,
                                        const char *field)
{
        const char *key = strncmp(field, "referral.", 9) ? NULL : field + 9;
        size_t len = key ? strcspn(key, ".[") : 0;

        for (yaml_node_pair_t *p = referral->data.mapping.pairs.start;
             len && p < referral->data.mapping.pairs.top; p++) {
                const char *k = yscalar(ynode(cf, p->key));

                if (k && strlen(k) == len && !strncmp(k, key, len))
                        return ynode(cf, p->value);
        }
        return referral;
}

struct test_case {
        const char *name;
        yaml_node_t *node;
        struct rd_referral ref;
        bool has_ref;
        bool has_at;
        int64_t at;
        int64_t *loads; /* per connector; -1: not given */
        const char **declined;
        size_t n_declined;
        const char *expect[5]; /* indexed like expect_keys */
};

static const char *const expect_keys[5] = {"status", "connector", "team", "rule", "forward_to"};

static void test_case_clear(struct test_case *tc)
{
        rd_referral_clear(&tc->ref);
        free(tc->loads);
        free(tc->declined);
        memset(tc, 0, sizeof *tc);
}

/* Read one case from the mapping N (the INDEXth, from 0) into TC; errors
 * are printed and counted in CF. */
static void read_case(struct cases_file *cf, const struct rd_rules *rules, yaml_node_t *n,
                      size_t index, struct test_case *tc)
{
        yaml_node_t *referral = NULL, *expect = NULL;

        tc->node = n;
        if (n->type != YAML_MAPPING_NODE) {
                case_error(cf, n,
                           "a case is a mapping: {name: ..., referral: {...}, "
                           "expect: {...}}");
                return;
        }
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
                yaml_node_t *k = ynode(cf, p->key), *v = ynode(cf, p->value);
                const char *key = yscalar(k);

                if (!key) {
                        case_error(cf, k, "a key must be a plain text");
                } else if (!strcmp(key, "name")) {
                        tc->name = yscalar(v);
                        if (!tc->name || !*tc->name)
                                case_error(cf, v, "name must be a text");
                } else if (!strcmp(key, "referral")) {
                        referral = v;
                } else if (!strcmp(key, "expect")) {
                        expect = v;
                } else if (!strcmp(key, "at")) {
                        if (!yscalar(v) || rd_time_parse(yscalar(v), &tc->at) != 0)
                                case_error(cf, v,
                                           "at must be an RFC 3339 time such as "
                                           "2027-01-04T09:00:00Z");
                        tc->has_at = true;
                } else if (!strcmp(key, "loads")) {
                        if (v->type != YAML_MAPPING_NODE) {
                                case_error(cf, v, "loads is a mapping {connector: load}");
                                continue;
                        }
                        free(tc->loads);
                        tc->loads = malloc((rules->n_connectors + 1) * sizeof *tc->loads);
                        if (!tc->loads) {
                                case_error(cf, v, "out of memory");
                                continue;
                        }
                        for (size_t i = 0; i < rules->n_connectors; i++)
                                tc->loads[i] = -1;
                        for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
                             q < v->data.mapping.pairs.top; q++) {
                                yaml_node_t *ck = ynode(cf, q->key), *cv = ynode(cf, q->value);
                                ssize_t ci = yscalar(ck)
                                                     ? rd_rules_connector_index(rules, yscalar(ck))
                                                     : -1;
                                long long load;

                                if (ci < 0)
                                        case_error(cf, ck,
                                                   "no connector '%s' in the routing "
                                                   "file",
                                                   yscalar(ck) ? yscalar(ck) : "?");
                                else if (!parse_count(yscalar(cv), 100000, &load))
                                        case_error(cf, cv, "a load is a whole number 0 or more");
                                else
                                        tc->loads[ci] = load;
                        }
                } else if (!strcmp(key, "declined")) {
                        size_t cap = v->type == YAML_SEQUENCE_NODE
                                             ? (size_t)(v->data.sequence.items.top -
                                                        v->data.sequence.items.start)
                                             : 1;

                        free(tc->declined);
                        tc->n_declined = 0;
                        tc->declined = calloc(cap + 1, sizeof *tc->declined);
                        if (!tc->declined) {
                                case_error(cf, v, "out of memory");
                                continue;
                        }
                        if (v->type == YAML_SCALAR_NODE) {
                                tc->declined[tc->n_declined++] = yscalar(v);
                                continue;
                        }
                        if (v->type != YAML_SEQUENCE_NODE) {
                                case_error(cf, v, "declined is a list of connector ids");
                                continue;
                        }
                        for (yaml_node_item_t *it = v->data.sequence.items.start;
                             it < v->data.sequence.items.top; it++) {
                                const char *id = yscalar(ynode(cf, *it));

                                if (!id)
                                        case_error(cf, ynode(cf, *it),
                                                   "declined is a list of connector ids");
                                else
                                        tc->declined[tc->n_declined++] = id;
                        }
                } else {
                        case_error(cf, k,
                                   "unknown key '%s' in a case (name, referral, expect, at, "
                                   "loads, declined)",
                                   key);
                }
        }
        if (!tc->name) {
                case_error(cf, n, "case %zu has no name", index + 1);
                tc->name = "?";
        }
        if (!referral) {
                case_error(cf, n, "case '%s' has no referral", tc->name);
        } else if (referral->type != YAML_MAPPING_NODE) {
                case_error(cf, referral,
                           "case '%s': referral is a mapping (the inner referral "
                           "object of a submit)",
                           tc->name);
        } else {
                json_t *obj = yaml_to_json(cf, referral, 0);
                json_t *pc = json_object_get(obj, "postcode");
                struct rd_error err;
                char ref[32];

                if (obj) {
                        /* an unquoted postcode, as routing.yaml allows */
                        if (json_is_integer(pc))
                                json_object_set_new(obj, "postcode",
                                                    json_sprintf("%" JSON_INTEGER_FORMAT,
                                                                 json_integer_value(pc)));
                        snprintf(ref, sizeof ref, "case-%zu", index + 1);
                        referral_test_defaults(obj, ref);
                        if (rd_referral_from_json(obj, &tc->ref, &err) < 0)
                                case_error(cf, referral_field_node(cf, referral, err.field),
                                           "case '%s': %s%s%s", tc->name,
                                           strstr(err.message, err.field) ? "" : err.field,
                                           strstr(err.message, err.field) || !err.field[0] ? ""
                                                                                           : ": ",
                                           err.message);
                        else
                                tc->has_ref = true;
                        json_decref(obj);
                }
        }
        if (!expect) {
                case_error(cf, n, "case '%s' has no expect", tc->name);
                return;
        }
        if (expect->type != YAML_MAPPING_NODE) {
                case_error(cf, expect, "case '%s': expect is a mapping {status: ..., ...}",
                           tc->name);
                return;
        }
        for (yaml_node_pair_t *p = expect->data.mapping.pairs.start;
             p < expect->data.mapping.pairs.top; p++) {
                yaml_node_t *k = ynode(cf, p->key), *v = ynode(cf, p->value);
                const char *key = yscalar(k);
                size_t i;

                for (i = 0; key && i < 5 && strcmp(key, expect_keys[i]); i++)
                        ;
                if (!key || i == 5) {
                        case_error(cf, k,
                                   "case '%s': unknown key '%s' in expect (status, connector, "
                                   "team, rule, forward_to)",
                                   tc->name, key ? key : "?");
                        continue;
                }
                if (!yscalar(v) || !*yscalar(v)) {
                        case_error(cf, v, "case '%s': expect.%s must be a text", tc->name, key);
                        continue;
                }
                tc->expect[i] = yscalar(v);
        }
        if (!tc->expect[0])
                case_error(cf, expect, "case '%s': expect needs a status", tc->name);
        else if (strcmp(tc->expect[0], "assigned") && strcmp(tc->expect[0], "waitlisted") &&
                 strcmp(tc->expect[0], "forwarded"))
                case_error(cf, expect,
                           "case '%s': expect.status is assigned, waitlisted or forwarded, "
                           "not '%s'",
                           tc->name, tc->expect[0]);
}

/* The state of one case: the base state (BASE, may be NULL) with the
 * case's loads and declines. Overridden loads are taken as referrals
 * offered at AT, each ending after `trajectory`. */
struct case_state {
        struct rd_route_state st;
        uint32_t *load;
        const int64_t **ends;
        size_t *n_ends;
        int64_t *synth;
};

static void case_state_free(struct case_state *cs)
{
        free(cs->load);
        free(cs->ends);
        free(cs->n_ends);
        free(cs->synth);
        memset(cs, 0, sizeof *cs);
}

static int case_state_build(struct case_state *cs, const struct rd_rules *rules,
                            const struct test_state *base, const struct test_case *tc, int64_t at)
{
        size_t nc = rules->n_connectors, total = 0, k = 0;

        memset(cs, 0, sizeof *cs);
        if (base) {
                cs->st = base->st;
        }
        cs->st.excluded = tc->declined;
        cs->st.n_excluded = tc->n_declined;
        if (!tc->loads)
                return 0;
        for (size_t i = 0; i < nc; i++)
                if (tc->loads[i] > 0)
                        total += (size_t)tc->loads[i];
        cs->load = calloc(nc + 1, sizeof *cs->load);
        cs->ends = calloc(nc + 1, sizeof *cs->ends);
        cs->n_ends = calloc(nc + 1, sizeof *cs->n_ends);
        cs->synth = calloc(total + 1, sizeof *cs->synth);
        if (!cs->load || !cs->ends || !cs->n_ends || !cs->synth) {
                case_state_free(cs);
                return -ENOMEM;
        }
        for (size_t i = 0; i < nc; i++) {
                if (tc->loads[i] < 0) {
                        cs->load[i] = base ? base->st.load[i] : 0;
                        cs->ends[i] = base ? base->st.ends[i] : NULL;
                        cs->n_ends[i] = base ? base->st.n_ends[i] : 0;
                        continue;
                }
                cs->load[i] = (uint32_t)tc->loads[i];
                cs->ends[i] = cs->synth + k;
                cs->n_ends[i] = (size_t)tc->loads[i];
                for (long long j = 0; j < tc->loads[i]; j++)
                        cs->synth[k++] = at + rules->trajectory_s * 1000;
        }
        cs->st.load = cs->load;
        cs->st.ends = cs->ends;
        cs->st.n_ends = cs->n_ends;
        return 0;
}

/* Compare a case's expect with the decision DEC; print the mismatches
 * (after "FAIL NAME: ") and return how many there are. */
static int case_compare(const struct test_case *tc, const json_t *dec, bool print)
{
        int bad = 0;

        for (size_t i = 0; i < 5; i++) {
                const char *got = jstr(dec, expect_keys[i]);

                if (!tc->expect[i] || (got && !strcmp(got, tc->expect[i])))
                        continue;
                if (print)
                        printf("%s%s: expected %s, got %s", bad ? "; " : "", expect_keys[i],
                               tc->expect[i], got ? got : "none");
                bad++;
        }
        return bad;
}

static int run_cases(const struct ctl *c, const char *path, const struct rd_rules *rules,
                     const struct test_state *base, int64_t at)
{
        struct cases_file cf = {.path = path};
        yaml_parser_t parser;
        yaml_node_t *root;
        struct test_case *cases = NULL;
        size_t n = 0, failed = 0;
        FILE *f;
        int r = EXIT_FAULT;

        f = fopen(path, "rb");
        if (!f) {
                fault("%s: %s", path, strerror(errno));
                return EXIT_FAULT;
        }
        yaml_parser_initialize(&parser);
        yaml_parser_set_input_file(&parser, f);
        if (!yaml_parser_load(&parser, &cf.doc)) {
                fprintf(stderr, "%s:%zu:%zu: syntax error: %s\n", path,
                        parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                        parser.problem ? parser.problem : "not valid YAML");
                yaml_parser_delete(&parser);
                fclose(f);
                return EXIT_FAULT;
        }
        yaml_parser_delete(&parser);
        fclose(f);
        root = yaml_document_get_root_node(&cf.doc);
        if (!root || root->type != YAML_SEQUENCE_NODE) {
                case_error(&cf, root,
                           "a cases file is a list of cases "
                           "(- {name: ..., referral: {...}, expect: {...}})");
                goto out;
        }
        n = (size_t)(root->data.sequence.items.top - root->data.sequence.items.start);
        cases = calloc(n + 1, sizeof *cases);
        if (!cases) {
                fault("out of memory");
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                read_case(&cf, rules, ynode(&cf, root->data.sequence.items.start[i]), i, &cases[i]);
                for (size_t j = 0; j < i && cases[i].name; j++)
                        if (cases[j].name && !strcmp(cases[j].name, cases[i].name) &&
                            strcmp(cases[i].name, "?"))
                                case_error(&cf, cases[i].node, "duplicate case name '%s'",
                                           cases[i].name);
        }
        if (!n)
                case_error(&cf, root, "no cases in the list");
        if (cf.n_errors) {
                fprintf(stderr, "%s: %zu error(s) in the cases file; nothing was tested\n", path,
                        cf.n_errors);
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                struct test_case *tc = &cases[i];
                int64_t when = tc->has_at ? tc->at : at;
                struct case_state cs;
                json_t *dec = NULL;
                int bad;

                if (case_state_build(&cs, rules, base, tc, when) < 0) {
                        fault("out of memory");
                        goto out;
                }
                r = run_decision(rules, &cs.st, &tc->ref, when, &dec);
                case_state_free(&cs);
                if (r)
                        goto out;
                r = EXIT_FAULT;
                bad = case_compare(tc, dec, false);
                failed += bad > 0;
                if (c->json) {
                        json_t *o = json_object(), *exp = json_object();

                        for (size_t k = 0; k < 5; k++)
                                if (tc->expect[k])
                                        json_object_set_new(exp, expect_keys[k],
                                                            json_string(tc->expect[k]));
                        json_object_set_new(o, "name", json_string(tc->name));
                        json_object_set_new(o, "ok", json_boolean(!bad));
                        json_object_set_new(o, "expect", exp);
                        json_object_set(o, "got", dec);
                        print_json_line(o);
                        json_decref(o);
                } else if (!bad) {
                        printf("ok   %s\n", tc->name);
                } else {
                        printf("FAIL %s: ", tc->name);
                        case_compare(tc, dec, true);
                        printf("\n");
                        print_trace_words(json_object_get(dec, "trace"), dec, rules);
                        printf("\n");
                }
                json_decref(dec);
        }
        if (!c->json)
                printf("%zu case(s): %zu passed, %zu failed\n", n, n - failed, failed);
        r = failed ? EXIT_FAULT : EXIT_OK;
out:
        for (size_t i = 0; cases && i < n; i++)
                test_case_clear(&cases[i]);
        free(cases);
        yaml_document_delete(&cf.doc);
        return r;
}

/* ---- one referral ------------------------------------------------------ */

static int run_one(const struct ctl *c, const char *path, const struct rd_rules *rules,
                   const struct test_state *base, int64_t at)
{
        struct rd_route_state st = {0};
        struct rd_referral ref = {0};
        struct rd_error err;
        json_error_t jerr;
        json_t *obj, *dec = NULL;
        char tbuf[RD_TIME_STR];
        int r;

        obj = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!obj) {
                if (jerr.line > 0)
                        fault("%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
                else
                        fault("%s: %s", path, jerr.text);
                return EXIT_FAULT;
        }
        if (!json_is_object(obj)) {
                fault("%s: the referral must be a JSON object (the inner referral of a submit)",
                      path);
                json_decref(obj);
                return EXIT_FAULT;
        }
        referral_test_defaults(obj, "test");
        r = rd_referral_from_json(obj, &ref, &err);
        json_decref(obj);
        if (r < 0) {
                fault("%s: not a valid referral: %s%s%s", path, err.field, err.field[0] ? ": " : "",
                      err.message);
                return EXIT_FAULT;
        }
        if (base) {
                st = base->st;
        }
        r = run_decision(rules, base ? &st : NULL, &ref, at, &dec);
        rd_referral_clear(&ref);
        if (r)
                return r;
        if (c->json) {
                print_json_line(dec);
        } else {
                printf("Referral %s, at %s, against %s, rules %s (digest %.12s)\n", path,
                       rd_time_format(at, tbuf), base ? "the loads of the database" : "empty loads",
                       rules->source, rules->digest);
                print_trace_words(json_object_get(dec, "trace"), dec, rules);
        }
        json_decref(dec);
        return EXIT_OK;
}

/* Is PATH a cases file (a YAML list) rather than one JSON referral? By
 * content: a list starts with '-' or '['; an object with '{'. Else by
 * extension. */
static bool is_cases_file(const char *path)
{
        const char *dot = strrchr(path, '.');
        FILE *f = fopen(path, "rb");
        bool comment = false;
        int ch;

        while (f && (ch = fgetc(f)) != EOF) {
                if (comment) {
                        comment = ch != '\n';
                        continue;
                }
                if (ch == '#') {
                        comment = true;
                        continue;
                }
                if (isspace(ch))
                        continue;
                fclose(f);
                if (ch == '-' || ch == '[')
                        return true;
                if (ch == '{')
                        return false;
                f = NULL;
                break;
        }
        if (f)
                fclose(f);
        return dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml"));
}

enum { OPT_AT = 300, OPT_STATE };

static int cmd_rules(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"at", required_argument, NULL, OPT_AT},
                                             {"state", required_argument, NULL, OPT_STATE},
                                             {0}};
        const char *at_s = NULL, *state_path = NULL, *sub;
        struct rd_rules *rules = NULL;
        struct test_state ts = {0};
        struct timespec now;
        int64_t at;
        int opt, r;

        getopt_reset();
        while ((opt = getopt_long(argc, argv, GLOBAL_SHORT, opts, NULL)) != -1) {
                r = common_option(c, argv[0], opt, argv);
                if (r < 0)
                        return option_exit(r);
                if (r == 0 && opt == OPT_AT)
                        at_s = optarg;
                else if (r == 0 && opt == OPT_STATE)
                        state_path = optarg;
        }
        sub = optind < argc ? argv[optind] : NULL;
        if (sub && !strcmp(sub, "check")) {
                if (argc - optind != 2) {
                        usage_error(argv[0], "'rules check' needs exactly one FILE");
                        return EXIT_USAGE;
                }
                if (at_s || state_path) {
                        usage_error(argv[0], "--at and --state are for 'rules test'");
                        return EXIT_USAGE;
                }
                return rules_check(argv[optind + 1]);
        }
        if (!sub || strcmp(sub, "test")) {
                usage_error(argv[0],
                            sub ? "unknown subcommand '%s' (check or test)"
                                : "needs a subcommand: check or test%s",
                            sub ? sub : "");
                return EXIT_USAGE;
        }
        if (argc - optind != 3) {
                usage_error(argv[0], "'rules test' needs FILE and REFERRAL.json (or CASES.yaml)");
                return EXIT_USAGE;
        }
        if (at_s) {
                if (rd_time_parse(at_s, &at) != 0) {
                        usage_error(argv[0],
                                    "--at needs an RFC 3339 time such as 2027-01-04T09:00:00Z, "
                                    "not '%s'",
                                    at_s);
                        return EXIT_USAGE;
                }
        } else {
                clock_gettime(CLOCK_REALTIME, &now);
                at = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        }
        r = load_rules_report(argv[optind + 1], &rules);
        if (r)
                return r;
        if (state_path) {
                r = test_state_load_db(&ts, state_path, rules); /* takes RULES */
                if (r)
                        return r;
                rules = (struct rd_rules *)rd_hub_rules(ts.hub);
        }
        if (r == 0) {
                const char *input = argv[optind + 2];

                if (is_cases_file(input))
                        r = run_cases(c, input, rules, state_path ? &ts : NULL, at);
                else
                        r = run_one(c, input, rules, state_path ? &ts : NULL, at);
        }
        if (state_path)
                test_state_free(&ts); /* the hub frees the rules */
        else
                rd_rules_free(rules);
        return r;
}

/* ------------------------------------------------------------------ */
/* explain */

static int cmd_explain(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"partner", required_argument, NULL, OPT_PARTNER},
                                             {"ref", required_argument, NULL, OPT_REF},
                                             {0}};
        const char *partner = NULL, *ref = NULL, *digest;
        const json_t *trace, *history, *ev;
        json_t *req, *reply;
        size_t i;
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
        trace = json_object_get(reply, "trace");
        digest = jstr(reply, "rules_digest");
        if (c->json) {
                json_t *o = json_object();

                json_object_set(o, "id", json_object_get(reply, "id"));
                json_object_set(o, "status", json_object_get(reply, "status"));
                json_object_set_new(o, "trace", trace ? json_deep_copy(trace) : json_null());
                json_object_set_new(o, "rules_digest", digest ? json_string(digest) : json_null());
                print_json_line(o);
                json_decref(o);
                json_decref(reply);
                return EXIT_OK;
        }
        printf("Now: ");
        print_decision(reply);
        putchar('\n');
        if (json_is_object(trace)) {
                print_trace_words(trace, reply, NULL);
                printf("Decided under the routing file with digest %s.\n", digest ? digest : "?");
        } else {
                printf("No decision trace is kept for this referral.\n");
        }
        history = json_object_get(reply, "history");
        if (json_array_size(history))
                printf("History:\n");
        json_array_foreach(history, i, ev)
        {
                json_int_t seq = 0;
                const char *conn = jstr(ev, "connector");

                jint(ev, "seq", &seq);
                printf("  %" JSON_INTEGER_FORMAT " %s %s", seq,
                       jstr(ev, "at") ? jstr(ev, "at") : "-",
                       jstr(ev, "type") ? jstr(ev, "type") : "?");
                if (conn)
                        printf(" connector %s", conn);
                putchar('\n');
        }
        json_decref(reply);
        return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* The command table */

static int cmd_backup(struct ctl *c, int argc, char **argv)
{
        char errbuf[512];
        int r;

        (void)c;
        if (argc != 3) {
                usage_error(argv[0], "needs the database and the file to write: backup DB OUT");
                return EXIT_USAGE;
        }
        r = rd_store_backup(argv[1], argv[2], errbuf, sizeof errbuf);
        if (r < 0) {
                fprintf(stderr, "referralctl: backup: %s\n", errbuf);
                return EXIT_FAULT;
        }
        printf("%s: a consistent copy of %s (mode 0600; it holds personal data)\n", argv[2],
               argv[1]);
        return EXIT_OK;
}

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
         "copy a live database into a new file OUT (offline: reads the file; SQLite's online "
         "backup API)"},
        {"rules", cmd_rules,
         "rules check FILE | rules test FILE REFERRAL.json|CASES.yaml [--at TIME] [--state DB]",
         "check a routing file; show what it would decide for a referral and why, or run a "
         "cases file (offline; --state: the loads of a copy of the database)"},
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
                "      --server-key KEY|@FILE\n"
                "                           CURVE: the daemon's public key, Z85 or a file "
                "holding it\n"
                "                           (default $REFERRALD_SERVER_KEY)\n"
                "      --key FILE           CURVE: this client's secret key file (from "
                "keygen;\n"
                "                           default $REFERRALD_KEY); both or neither\n"
                "  -h, --help               show this help\n"
                "      --version            show the version\n"
                "\nExit status: 0 done, 1 a fault, an error reply from the daemon or a failed "
                "test case,\n2 a usage error (also bad keys), 78 an invalid routing file.\n",
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
        if (c.curve_state == -2)
                r = EXIT_USAGE; /* bad keys, printed */
        close_dealer(&c);
        explicit_bzero(c.secret_key, sizeof c.secret_key);
        zmq_ctx_term(c.zctx);
        fflush(stdout);
        if (ferror(stdout) && r == EXIT_OK) {
                fault("cannot write the output");
                r = EXIT_FAULT;
        }
        return r;
}
