/* ctl.h: what every part of referralctl shares: its name, its defaults,
 * its exit statuses and the state of one run (struct ctl).
 *
 * referralctl talks the wire protocol of protocol.md and nothing else: one
 * DEALER socket for requests (conn.c) and, for `events --follow`, a SUB
 * socket on the PUB endpoint (cmd_events.c); with keys, both are CURVE
 * clients (curve.c). `rules`, `report` and `backup` work offline on
 * files (a database through a scratch copy: store.h, rd_store_open_copy).
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

struct ctl {
        const char *endpoint;
        const char *events_endpoint;
        bool json;
        int timeout_ms; /* 0: wait without limit */
        void *zctx;
        void *dealer;     /* opened on first request, reopened after a timeout */
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

#endif
