/* commands.h: referralctl's commands.
 *
 * A new command: write `int cmd_NAME(struct ctl *c, int argc, char **argv)`
 * (a command_fn) in the cmd_*.c file of its group (or a new one, listed in CMakeLists.txt),
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct rd_rules;

/* A command's handler. */
typedef int command_fn(struct ctl *c, int argc, char **argv);

struct command {
        const char *name;
        command_fn *run;
        const char *synopsis;
        const char *summary;
};

/* The command named NAME in the table, or NULL. */
const struct command *find_command(const char *name);

/* referralctl --help: the commands and the common options, on F. */
void print_help(FILE *f);

/* cmd_referrals.c: one referral at a time */
command_fn cmd_submit, cmd_get, cmd_list, cmd_update, cmd_erase, cmd_explain;

/* cmd_events.c: the event stream, replayed and followed */
command_fn cmd_events;

/* cmd_daemon.c: what the daemon says of itself: stats, ping, audit trail */
command_fn cmd_stats, cmd_ping, cmd_audit;

/* cmd_keygen.c: CURVE key pairs */
command_fn cmd_keygen;

/* cmd_backup.c: a consistent copy of a live database (offline) */
command_fn cmd_backup;

/* cmd_report.c: the weekly report (offline: reads a database) */
command_fn cmd_report;

/* cmd_rules.c: rules check, rules test, rules diff (offline) */
command_fn cmd_rules;

/* Load the routing file at PATH into *RULES (the caller's), printing every
 * diagnostic and, with SUMMARY, a count of them when the file is invalid;
 * *WARNINGS gets the number of warnings. 0, or the exit code (also for
 * cmd_replay.c). */
int load_rules_report(const char *path, bool summary, struct rd_rules **rules, size_t *warnings);

/* cmd_replay.c: the what-if replay (offline) */
command_fn cmd_replay;

struct test_state;

/* cmd_rules_diff.c: `rules diff`: what a reload with RULES (taken over)
 * at AT would do to the database at STATE_PATH, printed. The exit
 * status. */
int rules_diff(const struct ctl *c, struct rd_rules *rules, const char *state_path, int64_t at);

/* The line `rules test --state` prints about the reload that came first. */
void print_reload_summary(const struct test_state *ts);

#endif
