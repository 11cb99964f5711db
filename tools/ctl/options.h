/* options.h: the options every referralctl command takes (before or after
 * the command: `referralctl list --json` works as well as `referralctl
 * --json list`), the environment that gives their defaults, and the usage
 * errors. */
#ifndef RD_CTL_OPTIONS_H
#define RD_CTL_OPTIONS_H

#include "ctl.h"

#include <getopt.h>

/* Long options without a short form; a command's own options that only
 * it takes are numbered in its file, from 300 on. */
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

/* The common options: a command's option table starts with GLOBAL_LONG
 * and its short options with GLOBAL_SHORT. */
/* clang-format off */
#define GLOBAL_SHORT ":e:t:vh"
#define GLOBAL_LONG                                                     \
        {"endpoint", required_argument, NULL, 'e'},                     \
        {"events-endpoint", required_argument, NULL, OPT_EVENTS_ENDPOINT}, \
        {"json", no_argument, NULL, OPT_JSON},                          \
        {"verbose", no_argument, NULL, 'v'},                            \
        {"timeout", required_argument, NULL, 't'},                      \
        {"server-key", required_argument, NULL, OPT_SERVER_KEY},        \
        {"key", required_argument, NULL, OPT_KEY},                      \
        {"help", no_argument, NULL, 'h'}
/* clang-format on */

/* C's defaults: the endpoints from $REFERRALD_ENDPOINT and
 * $REFERRALD_EVENTS (each a list separated by commas; else the loopback
 * defaults), the default timeout. The keys' variables are read when a
 * socket needs them (curve.h). 0, or the exit status after a message
 * (printed): EXIT_USAGE for a list too long, EXIT_FAULT. */
int options_defaults(struct ctl *c);

/* Where the split copies of the environment's lists are kept. */
enum env_slot { ENV_ENDPOINT, ENV_EVENTS, ENV_SERVER_KEY };

/* The list in the environment variable VAR, split at commas (empty items
 * left out) into OUT (n = 0 when VAR is unset or empty), its items
 * pointing into a copy that C owns (in SLOT, freed by options_free).
 * 0, or the exit status after a message (printed): EXIT_USAGE for more
 * than OPT_LIST_MAX items, EXIT_FAULT out of memory. */
int env_list(struct ctl *c, const char *var, enum env_slot slot, struct opt_list *out);

/* Free what options_defaults() and env_list() keep in C. */
void options_free(struct ctl *c);

/* "referralctl: CMD: MESSAGE", the command's synopsis and a pointer to
 * --help on stderr. CMD may be NULL (before the command). */
void usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A count: digits only (no sign), at most MAX. true with *OUT set. */
bool parse_count(const char *s, long long max, long long *out);

/* The DATE S (tools.md: YYYY-MM-DD, midnight in Europe/Brussels, or an
 * RFC 3339 time) of option NAME of command CMD into *MS. 0, or the exit
 * code after a message (printed): EXIT_USAGE for another text, EXIT_FAULT
 * when the time zone's data is missing. */
int date_option(const char *cmd, const char *name, const char *s, int64_t *ms);

/* Handle an option that is common to all commands, or a getopt error.
 * Returns 1 when handled, 0 when OPT is not a common option, or -1 after
 * a usage error (printed) and -2 after --help (printed; exit 0). */
int common_option(struct ctl *c, const char *cmd, int opt, char **argv);

/* Where a command's own option puts its value, in a table that ends with
 * {0}: a text (*TEXT = optarg), a flag (*FLAG = true), a count (*COUNT:
 * digits only, at least MIN; else the usage error BAD, a format whose one
 * %s is the value given), or one more of a list (LIST: at most
 * OPT_LIST_MAX). */
struct opt_value {
        int opt;
        const char **text;
        bool *flag;
        long long *count;
        long long min;
        const char *bad;
        struct opt_list *list;
};

/* Parse the options of command ARGV[0] with getopt_long over SHORTOPTS and
 * OPTS (which start with GLOBAL_SHORT and GLOBAL_LONG): the common ones
 * into C, the command's own into VALUES (NULL: it has none). Returns true
 * to go on (the arguments start at ARGV[optind]), or false with the exit
 * status in *STATUS: EXIT_OK after --help, EXIT_USAGE after a usage error
 * (both printed). */
bool parse_options(struct ctl *c, int argc, char **argv, const char *shortopts,
                   const struct option *opts, const struct opt_value *values, int *status);

/* parse_options() for a command that takes no arguments besides its
 * options: another is a usage error ("unexpected argument"). */
bool parse_options_only(struct ctl *c, int argc, char **argv, const char *shortopts,
                        const struct option *opts, const struct opt_value *values, int *status);

/* Parse a command that takes the common options only and exactly N
 * arguments; they are at ARGV[optind]. WRONG_COUNT is the usage error for
 * another number of arguments (with N = 0 it may be NULL: "unexpected
 * argument"). Returns true to go on, or false with the exit status in
 * *STATUS (--help or a usage error, printed). */
bool only_common_options(struct ctl *c, int argc, char **argv, int n, const char *wrong_count,
                         int *status);

#endif
