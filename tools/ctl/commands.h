/* commands.h: referralctl's commands.
 *
 * A new command: write `int cmd_NAME(struct ctl *c, int argc, char **argv)`
 * in the cmd_*.c file of its group (or a new one, listed in CMakeLists.txt),
 * declare it below, add its row to the table in main.c (name, handler,
 * synopsis, summary: --help and usage errors print them) and its section to
 * man/referralctl.1.
 *
 * A handler gets ARGV[0] = its name and the rest of the command line; it
 * parses its options with options.h (the common ones too, so that they may
 * follow the command), talks to the daemon with conn.h, prints with
 * print.h, and returns the exit status. */
#ifndef RD_CTL_COMMANDS_H
#define RD_CTL_COMMANDS_H

#include "ctl.h"

#include <stdio.h>

struct command {
        const char *name;
        int (*run)(struct ctl *c, int argc, char **argv);
        const char *synopsis;
        const char *summary;
};

/* The command named NAME in the table, or NULL. */
const struct command *find_command(const char *name);

/* referralctl --help: the commands and the common options, on F. */
void print_help(FILE *f);

/* cmd_referrals.c: one referral at a time */
int cmd_submit(struct ctl *c, int argc, char **argv);
int cmd_get(struct ctl *c, int argc, char **argv);
int cmd_list(struct ctl *c, int argc, char **argv);
int cmd_update(struct ctl *c, int argc, char **argv);
int cmd_erase(struct ctl *c, int argc, char **argv);
int cmd_explain(struct ctl *c, int argc, char **argv);

/* cmd_events.c: the event stream, replayed and followed */
int cmd_events(struct ctl *c, int argc, char **argv);

/* cmd_daemon.c: what the daemon says of itself: stats, ping, audit trail */
int cmd_stats(struct ctl *c, int argc, char **argv);
int cmd_ping(struct ctl *c, int argc, char **argv);
int cmd_audit(struct ctl *c, int argc, char **argv);

/* cmd_keygen.c: CURVE key pairs */
int cmd_keygen(struct ctl *c, int argc, char **argv);

/* cmd_backup.c: a consistent copy of a live database (offline) */
int cmd_backup(struct ctl *c, int argc, char **argv);

/* cmd_rules.c: rules check, rules test (offline) */
int cmd_rules(struct ctl *c, int argc, char **argv);

#endif
