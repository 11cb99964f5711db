/* options.c: see options.h. */
#include "options.h"

#include "commands.h"
#include "print.h"
#include "timefmt.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append VALUE (of option NAME) to LIST. false after a usage error
 * (printed) when LIST is full. */
static bool list_append(const char *cmd, const char *name, struct opt_list *list, const char *value)
{
        if (list->n == OPT_LIST_MAX) {
                usage_error(cmd, "option '%s' given more than %d times", name, OPT_LIST_MAX);
                return false;
        }
        list->v[list->n++] = value;
        return true;
}

int env_list(struct ctl *c, const char *var, enum env_slot slot, struct opt_list *out)
{
        const char *env = getenv(var);
        char *copy, *item, *save = NULL;

        out->n = 0;
        if (!env || !*env)
                return 0;
        free(c->env_lists[slot]);
        copy = c->env_lists[slot] = strdup(env);
        if (!copy) {
                fault("out of memory");
                return EXIT_FAULT;
        }
        for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                if (out->n == OPT_LIST_MAX) {
                        usage_error(NULL, "$%s names more than %d values", var, OPT_LIST_MAX);
                        return EXIT_USAGE;
                }
                out->v[out->n++] = item;
        }
        return 0;
}

int options_defaults(struct ctl *c)
{
        int r;

        c->timeout_ms = DEFAULT_TIMEOUT_MS;
        if ((r = env_list(c, "REFERRALD_ENDPOINT", ENV_ENDPOINT, &c->endpoints)) ||
            (r = env_list(c, "REFERRALD_EVENTS", ENV_EVENTS, &c->events_endpoints)))
                return r;
        if (!c->endpoints.n)
                c->endpoints.v[c->endpoints.n++] = DEFAULT_ENDPOINT;
        if (!c->events_endpoints.n)
                c->events_endpoints.v[c->events_endpoints.n++] = DEFAULT_EVENTS;
        return 0;
}

void options_free(struct ctl *c)
{
        for (size_t i = 0; i < sizeof c->env_lists / sizeof c->env_lists[0]; i++) {
                free(c->env_lists[i]);
                c->env_lists[i] = NULL;
        }
}

/* -e or --events-endpoint (NAME; as given: ARGV0) VALUE: the first on the
 * command line
 * replaces the defaults (*GIVEN), each one more appends to LIST. One
 * endpoint each: a comma is the environment's separator, not the
 * option's. false after a usage error (printed). */
static bool endpoint_option(const char *cmd, const char *name, struct opt_list *list, bool *given,
                            const char *value)
{
        if (strchr(value, ',')) {
                usage_error(cmd, "%s takes one endpoint; give it once per daemon: %s A %s B", name,
                            name, name);
                return false;
        }
        if (!*given)
                list->n = 0;
        *given = true;
        return list_append(cmd, name, list, value);
}

void usage_error(const char *cmd, const char *fmt, ...)
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

bool parse_count(const char *s, long long max, long long *out)
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

int common_option(struct ctl *c, const char *cmd, int opt, char **argv)
{
        long long v;

        switch (opt) {
        case 'e':
                return endpoint_option(cmd, "-e", &c->endpoints, &c->endpoints_given, optarg) ? 1
                                                                                              : -1;
        case OPT_EVENTS_ENDPOINT:
                return endpoint_option(cmd, "--events-endpoint", &c->events_endpoints,
                                       &c->events_given, optarg)
                               ? 1
                               : -1;
        case OPT_JSON: c->json = true; return 1;
        case 'v': c->verbose = true; return 1;
        case OPT_SERVER_KEY:
                return list_append(cmd, "--server-key", &c->server_key_args, optarg) ? 1 : -1;
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

/* Put OPT's value (optarg) where VALUES says. false after a usage error
 * (printed). */
static bool take_value(const char *cmd, int opt, const struct opt_value *values, char **argv)
{
        const struct opt_value *v = values;

        while (v && v->opt && v->opt != opt)
                v++;
        if (!v || !v->opt)
                return true; /* in OPTS, not in VALUES: ignored */
        if (v->text)
                *v->text = optarg;
        if (v->flag)
                *v->flag = true;
        if (v->count && (!parse_count(optarg, INT64_MAX, v->count) || *v->count < v->min)) {
                usage_error(cmd, v->bad, optarg);
                return false;
        }
        if (v->list)
                return list_append(cmd, argv[optind - 1], v->list, optarg);
        return true;
}

bool parse_options(struct ctl *c, int argc, char **argv, const char *shortopts,
                   const struct option *opts, const struct opt_value *values, int *status)
{
        int opt, r;

        optind = 0; /* GNU: re-initialise, scanning starts at argv[1] */
        opterr = 0;
        *status = EXIT_USAGE;
        while ((opt = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
                r = common_option(c, argv[0], opt, argv);
                if (r == -2)
                        *status = EXIT_OK;
                if (r < 0 || (r == 0 && !take_value(argv[0], opt, values, argv)))
                        return false;
        }
        return true;
}

bool parse_options_only(struct ctl *c, int argc, char **argv, const char *shortopts,
                        const struct option *opts, const struct opt_value *values, int *status)
{
        if (!parse_options(c, argc, argv, shortopts, opts, values, status))
                return false;
        if (optind == argc)
                return true;
        usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
        *status = EXIT_USAGE;
        return false;
}

bool only_common_options(struct ctl *c, int argc, char **argv, int n, const char *wrong_count,
                         int *status)
{
        static const struct option opts[] = {GLOBAL_LONG, {0}};

        if (!wrong_count)
                return parse_options_only(c, argc, argv, GLOBAL_SHORT, opts, NULL, status);
        if (!parse_options(c, argc, argv, GLOBAL_SHORT, opts, NULL, status))
                return false;
        if (argc - optind != n) {
                usage_error(argv[0], "%s", wrong_count);
                return false;
        }
        return true;
}

int date_option(const char *cmd, const char *name, const char *s, int64_t *ms)
{
        int r = rd_date_parse(s, ms);

        if (r == 0)
                return 0;
        if (r == -ENOENT) {
                fault("the time zone %s is not installed (tzdata): give %s as an RFC 3339 time",
                      RD_DATE_ZONE, name);
                return EXIT_FAULT;
        }
        usage_error(cmd,
                    "%s needs a date YYYY-MM-DD (midnight in %s) or an RFC 3339 time, not '%s'",
                    name, RD_DATE_ZONE, s);
        return EXIT_USAGE;
}
