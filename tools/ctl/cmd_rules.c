/* cmd_rules.c: `rules check FILE`, `rules show FILE`, `rules test FILE
 * REFERRAL.json|CASES.yaml [--at TIME] [--state DB]` and `rules diff FILE
 * --state DB [--at TIME]`:
 * offline, on files (routing.md, tools.md); no daemon. With --state, the
 * database is read through a scratch copy, and FILE put in force in it as
 * a reload would (decide.h): `rules test` decides after that reload, and
 * `rules diff` (cmd_rules_diff.c) shows what it did. */
#include "cases.h"
#include "commands.h"
#include "decide.h"
#include "json.h"
#include "options.h"
#include "print.h"
#include "rules_show.h"
#include "run_cases.h"
#include "timefmt.h"
#include "words.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int load_rules_report(const char *path, bool summary, struct rd_rules **rules, size_t *warnings)
{
        struct rd_diag diag = {0};
        int r = rd_rules_load_file(path, rules, &diag);

        print_diag(&diag);
        if (r < 0 && !diag.n)
                fault("%s: %s", path, strerror(-r));
        else if (r < 0 && summary)
                fprintf(stderr, "%s: invalid: %zu error(s), %zu warning(s)\n", path, diag.n_errors,
                        diag.n_warnings);
        *warnings = diag.n_warnings;
        rd_diag_clear(&diag);
        if (r < 0)
                return r == -ENOMEM ? EXIT_FAULT : EXIT_CONFIG;
        return 0;
}

static int rules_check(const char *path)
{
        struct rd_rules *rules = NULL;
        size_t warnings;
        int r = load_rules_report(path, true, &rules, &warnings);

        if (r)
                return r;
        printf("%s: valid: %zu rules, %zu teams, %zu connectors, %zu forward targets, "
               "%zu warning(s); digest %s\n",
               path, rules->n_rules, rules->n_teams, rules->n_connectors, rules->n_targets,
               warnings, rules->digest);
        rd_rules_free(rules);
        return EXIT_OK;
}

/* rules show FILE [--json]: the routing file PATH as a coordinator reads
 * it, rule by rule (lib/rules_show). Its errors and warnings are printed
 * as by `rules check`. 0, EXIT_CONFIG for a file with errors, EXIT_FAULT
 * when out of memory or stdout cannot be written. */
static int rules_show(const struct ctl *c, const char *path)
{
        struct rd_rules *rules = NULL;
        size_t warnings;
        int r = load_rules_report(path, true, &rules, &warnings);

        if (r)
                return r;
        if (c->json) {
                json_t *j = rd_rules_show_json(rules);

                if (!j) {
                        fault("out of memory");
                        rd_rules_free(rules);
                        return EXIT_FAULT;
                }
                print_json_line(j);
                json_decref(j);
        } else {
                rd_rules_show_text(rules, stdout); /* a failure shows in ferror */
        }
        rd_rules_free(rules);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fault("%s: cannot write the rules to stdout", path);
                return EXIT_FAULT;
        }
        return EXIT_OK;
}

/* Decide the referral in the JSON file at PATH and explain the decision. */
static int run_one(const struct ctl *c, const char *path, const struct rd_rules *rules,
                   const struct test_state *base, int64_t at)
{
        struct rd_route_state st = {0};
        struct rd_referral ref = {0};
        struct rd_error err;
        json_t *obj, *dec = NULL;
        char tbuf[RD_TIME_STR];
        int r;

        obj = read_json_object(path, false,
                               "the referral must be a JSON object (the inner referral of a "
                               "submit)");
        if (!obj)
                return EXIT_FAULT;
        rd_case_referral_defaults(obj, "test");
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
                       rd_time_format(at, tbuf),
                       base ? "the loads of the database after a reload with this file"
                            : "empty loads",
                       rules->source, rules->digest);
                if (base)
                        print_reload_summary(base);
                print_trace_words(json_object_get(dec, "trace"), dec, rules);
        }
        json_decref(dec);
        return EXIT_OK;
}

/* Is PATH a cases file (a YAML list) rather than one JSON referral? By
 * content: a list starts with '-' or '['; an object with '{'. Else by
 * extension. A path that is not a regular file is opened without blocking
 * and left to the cases reader, which refuses it. */
static bool is_cases_file(const char *path)
{
        const char *dot = strrchr(path, '.');
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct stat st;
        bool comment = false;
        FILE *f = NULL;
        int ch;

        if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
                close(fd);
                return true;
        }
        if (fd >= 0 && !(f = fdopen(fd, "rb")))
                close(fd);
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

/* `rules test FILE INPUT` at AT, against the database at STATE_PATH
 * after a reload with FILE (NULL: empty loads). The exit status. */
static int rules_test(const struct ctl *c, const char *file, const char *input,
                      const char *state_path, int64_t at)
{
        struct rd_rules *rules = NULL;
        struct test_state ts = {0};
        size_t warnings;
        int r = load_rules_report(file, false, &rules, &warnings);

        if (r)
                return r;
        if (state_path) {
                r = test_state_load_db(&ts, state_path, rules, at); /* takes RULES */
                if (r)
                        return r;
                rules = (struct rd_rules *)rd_hub_rules(ts.hub);
        }
        if (is_cases_file(input))
                r = run_cases(c, input, rules, state_path ? &ts : NULL, at);
        else
                r = run_one(c, input, rules, state_path ? &ts : NULL, at);
        if (state_path)
                test_state_free(&ts); /* the hub frees the rules */
        else
                rd_rules_free(rules);
        return r;
}

/* --at AT_S, or else now, into *AT. false after a usage error (printed). */
static bool test_time(const char *cmd, const char *at_s, int64_t *at)
{
        if (!at_s) {
                *at = tool_wall_ms();
                return true;
        }
        if (rd_time_parse(at_s, at) == 0)
                return true;
        usage_error(cmd, "--at needs an RFC 3339 time such as 2027-01-04T09:00:00Z, not '%s'",
                    at_s);
        return false;
}

/* `rules diff FILE --state DB [--at TIME]`, its arguments at ARGV[optind]. */
static int rules_diff_args(struct ctl *c, int argc, char **argv, const char *at_s,
                           const char *state_path)
{
        struct rd_rules *rules = NULL;
        size_t warnings;
        int64_t at;
        int r;

        if (argc - optind != 2) {
                usage_error(argv[0], "'rules diff' needs exactly one FILE (and --state DB)");
                return EXIT_USAGE;
        }
        if (!state_path) {
                usage_error(argv[0], "'rules diff' needs --state DB: the database to compare "
                                     "with");
                return EXIT_USAGE;
        }
        if (!test_time(argv[0], at_s, &at))
                return EXIT_USAGE;
        r = load_rules_report(argv[optind + 1], true, &rules, &warnings);
        return r ? r : rules_diff(c, rules, state_path, at); /* takes RULES */
}

int cmd_rules(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"at", required_argument, NULL, OPT_AT},
                                             {"state", required_argument, NULL, OPT_STATE},
                                             {0}};
        const char *at_s = NULL, *state_path = NULL, *sub;
        const struct opt_value values[] = {
                {OPT_AT, .text = &at_s}, {OPT_STATE, .text = &state_path}, {0}};
        int64_t at;
        int r;

        if (!parse_options(c, argc, argv, GLOBAL_SHORT, opts, values, &r))
                return r;
        sub = optind < argc ? argv[optind] : NULL;
        if (sub && !strcmp(sub, "check")) {
                if (argc - optind != 2) {
                        usage_error(argv[0], "'rules check' needs exactly one FILE");
                        return EXIT_USAGE;
                }
                if (at_s || state_path) {
                        usage_error(argv[0], "--at and --state are for 'rules test' and "
                                             "'rules diff'");
                        return EXIT_USAGE;
                }
                return rules_check(argv[optind + 1]);
        }
        if (sub && !strcmp(sub, "show")) {
                if (argc - optind != 2) {
                        usage_error(argv[0], "'rules show' needs exactly one FILE");
                        return EXIT_USAGE;
                }
                if (at_s || state_path) {
                        usage_error(argv[0], "--at and --state are for 'rules test' and "
                                             "'rules diff'");
                        return EXIT_USAGE;
                }
                return rules_show(c, argv[optind + 1]);
        }
        if (sub && !strcmp(sub, "diff"))
                return rules_diff_args(c, argc, argv, at_s, state_path);
        if (!sub || strcmp(sub, "test")) {
                usage_error(argv[0],
                            sub ? "unknown subcommand '%s' (check, show, test or diff)"
                                : "needs a subcommand: check, show, test or diff%s",
                            sub ? sub : "");
                return EXIT_USAGE;
        }
        if (argc - optind != 3) {
                usage_error(argv[0], "'rules test' needs FILE and REFERRAL.json (or CASES.yaml)");
                return EXIT_USAGE;
        }
        if (!test_time(argv[0], at_s, &at))
                return EXIT_USAGE;
        return rules_test(c, argv[optind + 1], argv[optind + 2], state_path, at);
}
