/* ctl.h: what every part of referralctl shares: its name, its defaults,
 * its exit statuses and the state of one run (struct ctl).
 *
 * referralctl talks the wire protocol of protocol.md and nothing else: a
 * DEALER socket for requests on each intake endpoint it sends to (conn.c:
 * several endpoints for several daemons, daemon.md "Several machines": the
 * same request goes to the next one on `unavailable` or a timeout) and,
 * for `events --follow`, one SUB socket on every events endpoint
 * (cmd_events.c); with keys, both are CURVE clients (curve.c). `rules`, `report` and `backup` work
 * offline on files (a database through a scratch copy: store.h, rd_store_open_copy;
 * a PostgreSQL database named by a conninfo likewise: state.c).
 *
 * Where things are:
 *   main.c           the table of commands, --help, main()
 *   options.c        the options every command takes, the environment, usage errors
 *   conn.c, curve.c  the connection: one request and its reply; the keys
 *   print.c          the text forms of replies and events; json.c: JSON helpers
 *   openmetrics.c    a stats reply in the OpenMetrics text format (stats --openmetrics)
 *   words.c          a decision trace in plain words (rules test, explain)
 *   decide.c         one decision offline, from a routing file and a database after a
 *                    reload with it (also what `rules diff` shows: cmd_rules_diff.c)
 *   state.c          the database an offline command reads (--state, --db): a
 *                    scratch copy of a SQLite file or of a PostgreSQL database
 *   cases.c          `rules test` on a cases file
 *   cmd_*.c          the commands, one file per group (commands.h lists them)
 *
 * Exit codes: 0 done, 1 a runtime fault or an error reply from the daemon
 * (any `ok: false`) or a failed test case, 2 a usage error (also bad keys),
 * 78 (EX_CONFIG) an invalid routing file. */
#ifndef RD_CTL_H
#define RD_CTL_H

#include "tool.h"

#include <stdbool.h>

#define PROG "referralctl"
#define DEFAULT_ENDPOINT "tcp://127.0.0.1:5570"
#define DEFAULT_EVENTS "tcp://127.0.0.1:5571"
#define DEFAULT_TIMEOUT_MS 5000

/* EXIT_OK, EXIT_FAULT and EXIT_USAGE are every tool's (tool.h). */
enum { EXIT_CONFIG = 78 };

/* The values of an option that may be given more than once, in order
 * (borrowed from argv or the environment). */
#define OPT_LIST_MAX 16
struct opt_list {
        const char *v[OPT_LIST_MAX];
        size_t n;
};

/* One daemon's intake as this run talks to it (conn.c). */
struct peer {
        void *dealer; /* opened on the first request sent there; closed after a timeout */
        void *mon;    /* PAIR on the DEALER's socket monitor (handshakes, lost connections) */
};

struct ctl {
        /* at least one each: the options, else the environment, else the default */
        struct opt_list endpoints;
        struct opt_list events_endpoints;
        bool endpoints_given, events_given; /* an option replaced the defaults */
        char *env_lists[3];                 /* owned: split copies of the environment's lists */
        bool json;
        bool verbose;   /* -v: say on stderr which endpoint answered, and every failover */
        int timeout_ms; /* 0: wait without limit */
        void *zctx;
        struct peer peers[OPT_LIST_MAX]; /* by the index of endpoints */
        size_t current;                  /* the endpoint a request goes to first */
        unsigned long mon_seq;
        unsigned long corr_seq;
        char corr_prefix[64];
        /* CURVE: the arguments (or environment), then the keys once loaded */
        struct opt_list server_key_args; /* Z85 or @FILE: one for all, or one per endpoint */
        const char *key_file;            /* the client's secret key file */
        int curve_state;                 /* 0 not looked at, 1 on, -1 off, -2 bad keys */
        size_t n_server_keys;
        char server_keys[OPT_LIST_MAX][41], public_key[41], secret_key[41];
        char refusal[512]; /* why the daemon refused the handshake, when known */
};

#endif
