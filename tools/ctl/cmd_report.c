/* cmd_report.c: `referralctl report --db DB [--from DATE] [--to DATE]
 * [--json] [--html OUT.html]` (tools.md, "The weekly report"): the figures
 * of the one-month promise for a period, from a scratch copy of the
 * database (state.c: a SQLite file or a PostgreSQL conninfo), worked out by lib/report (report.h
 * has every definition); with --html also as one self-contained page (lib/report_html). Default
 * period: the 7 days before now. */
#include "commands.h"
#include "options.h"
#include "print.h"
#include "report.h"
#include "report_html.h"
#include "state.h"
#include "timefmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEEK_MS (7 * 86400 * INT64_C(1000))

/* ---- text ---------------------------------------------------------------------------- */

/* S seconds for a person: "3d 4h", "5h 20m", "12m", "40s". */
static void print_span(const json_t *s)
{
        json_int_t v = json_integer_value(s);

        if (!json_is_integer(s))
                printf("-");
        else if (v >= 86400)
                printf("%lldd %lldh", (long long)(v / 86400), (long long)(v % 86400 / 3600));
        else if (v >= 3600)
                printf("%lldh %lldm", (long long)(v / 3600), (long long)(v % 3600 / 60));
        else if (v >= 60)
                printf("%lldm", (long long)(v / 60));
        else
                printf("%llds", (long long)v);
}

static void print_times(const char *what, const json_t *t)
{
        printf("%-22s p50 ", what);
        print_span(json_object_get(t, "p50"));
        printf(", p75 ");
        print_span(json_object_get(t, "p75"));
        printf(", p90 ");
        print_span(json_object_get(t, "p90"));
        printf("\n");
}

static json_int_t n_of(const json_t *o, const char *key)
{
        return json_integer_value(json_object_get(o, key));
}

/* "code n, code n" of the counts C, or "none". */
static void print_counts(const char *what, const json_t *c)
{
        const char *key;
        json_t *v;
        int n = 0;

        printf("%-22s", what);
        json_object_foreach((json_t *)c, key, v)
        {
                printf("%s %s %lld", n++ ? "," : "", key, (long long)json_integer_value(v));
        }
        printf("%s\n", n ? "" : " -");
}

static void print_head(const json_t *rep)
{
        const json_t *routing = json_object_get(rep, "routing");
        const json_t *d = json_object_get(rep, "by_decision");

        printf("Report from %s to %s\n", jstr(rep, "from"), jstr(rep, "to"));
        if (json_is_object(routing))
                printf("Routing file at the end: %s (digest %.12s), in force since %s\n",
                       jstr(routing, "source"), jstr(routing, "digest"), jstr(routing, "since"));
        printf("\nReceived in the period:\n");
        printf("%-22s %lld: assigned %lld, waitlisted %lld, forwarded %lld\n", "  referrals",
               (long long)n_of(rep, "received"), (long long)n_of(d, "assigned"),
               (long long)n_of(d, "waitlisted"), (long long)n_of(d, "forwarded"));
        print_times("  time to offer", json_object_get(rep, "time_to_offer_s"));
        print_times("  time to start", json_object_get(rep, "time_to_start_s"));
        print_counts("  declines by reason", json_object_get(rep, "declines"));
        print_counts("  closes by reason", json_object_get(rep, "closes"));
}

static void print_rest(const json_t *rep)
{
        const json_t *w = json_object_get(rep, "window"), *wait = json_object_get(rep, "waiting");
        const json_t *it;
        size_t i;

        printf("%-22s", "  forwarded to");
        json_array_foreach(json_object_get(rep, "forwarded"), i, it)
                printf("%s %s %lld", i ? "," : "", jstr(it, "to"), (long long)n_of(it, "count"));
        printf("%s\n", json_array_size(json_object_get(rep, "forwarded")) ? "" : " -");
        printf("\nWindows ending in the period (start_by):\n");
        printf("%-22s %lld: in time %lld, late %lld; missed %lld\n", "  started",
               (long long)n_of(w, "started"), (long long)n_of(w, "in_time"),
               (long long)n_of(w, "late"), (long long)n_of(w, "missed"));
        printf("\nAt the end of the period:\n");
        printf("%-22s %lld%s%s\n", "  waiting", (long long)n_of(wait, "now"),
               jstr(wait, "oldest") ? ", the oldest received " : "",
               jstr(wait, "oldest") ? jstr(wait, "oldest") : "");
        printf("%-22s %lld\n", "  needing attention", (long long)n_of(rep, "attention"));
        printf("  connectors (load of capacity):\n");
        json_array_foreach(json_object_get(rep, "connectors"), i, it)
        {
                if (json_is_integer(json_object_get(it, "capacity")))
                        printf("    %-20s team %-16s %3lld of %lld\n", jstr(it, "id"),
                               jstr(it, "team"), (long long)n_of(it, "load"),
                               (long long)n_of(it, "capacity"));
                else
                        printf("    %-20s %3lld (not in a routing file this database kept)\n",
                               jstr(it, "id"), (long long)n_of(it, "load"));
        }
}

/* ---- the command ---------------------------------------------------------------------- */

enum { OPT_DB = 300, OPT_FROM, OPT_TO, OPT_HTML };

/* The period of --from and --to (each may be NULL) into *FROM and *TO. 0,
 * or the exit code (printed). */
static int period(const char *cmd, const char *from_s, const char *to_s, int64_t *from, int64_t *to)
{
        int r = 0;

        *to = tool_wall_ms();
        if (to_s)
                r = date_option(cmd, "--to", to_s, to);
        *from = *to - WEEK_MS;
        if (r == 0 && from_s)
                r = date_option(cmd, "--from", from_s, from);
        if (r == 0 && *from >= *to) {
                usage_error(cmd, "--from must come before --to");
                r = EXIT_USAGE;
        }
        return r;
}

/* REP as a page in the file PATH (made or replaced). 0 or an exit code
 * (printed). */
static int write_html(const json_t *rep, const char *path)
{
        char *text = NULL;
        size_t len = 0;
        FILE *f;
        int r = rd_report_html(rep, &text, &len);

        if (r < 0) {
                fault("cannot make the page: %s", strerror(-r));
                return EXIT_FAULT;
        }
        f = fopen(path, "w");
        if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
                fault("%s: %s", path, strerror(errno));
                if (f)
                        fclose(f);
                free(text);
                return EXIT_FAULT;
        }
        free(text);
        return EXIT_OK;
}

static int report(const struct ctl *c, const char *db, int64_t from, int64_t to, const char *html)
{
        struct rd_store *store = NULL;
        json_t *rep = NULL;
        int r = state_open(db, &store);

        if (r)
                return r;
        r = rd_report_from_store(store, from, to, &rep);
        rd_store_close(store);
        if (r < 0) {
                fault("%s: cannot make the report: %s", state_name(db), strerror(-r));
                return EXIT_FAULT;
        }
        r = html ? write_html(rep, html) : EXIT_OK;
        if (r == EXIT_OK && c->json) {
                print_json_line(rep);
        } else if (r == EXIT_OK) {
                print_head(rep);
                print_rest(rep);
        }
        json_decref(rep);
        return r;
}

int cmd_report(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"db", required_argument, NULL, OPT_DB},
                                             {"from", required_argument, NULL, OPT_FROM},
                                             {"to", required_argument, NULL, OPT_TO},
                                             {"html", required_argument, NULL, OPT_HTML},
                                             {0}};
        const char *db = NULL, *from_s = NULL, *to_s = NULL, *html = NULL;
        const struct opt_value values[] = {{OPT_DB, .text = &db},
                                           {OPT_FROM, .text = &from_s},
                                           {OPT_TO, .text = &to_s},
                                           {OPT_HTML, .text = &html},
                                           {0}};
        int64_t from, to;
        int r;

        if (!parse_options_only(c, argc, argv, GLOBAL_SHORT, opts, values, &r))
                return r;
        if (!db) {
                usage_error(argv[0], "needs --db DB: the database (a live one, a copy or a "
                                     "backup)");
                return EXIT_USAGE;
        }
        r = period(argv[0], from_s, to_s, &from, &to);
        return r ? r : report(c, db, from, to, html);
}
