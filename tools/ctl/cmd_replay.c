/* cmd_replay.c: `replay` (tools.md, "What-if replay"): referrals replayed
 * in simulated time under a candidate routing file beside a baseline, with
 * the daemon's own engine (lib/replay); offline, on files. Prints the
 * figures of both for a person, or tools.md's object with --json. */
#include "commands.h"
#include "options.h"
#include "print.h"
#include "state.h"

#include "replay.h"
#include "routing_files.h"
#include "timefmt.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHANGES_SHOWN 50 /* changed decisions listed in text; --json has all */
/* The runs' stores are in memory: SQLite takes and gives back pages all
 * the time, and with glibc's default the heap is grown and trimmed by a
 * system call at nearly each of them (half the time of a replay of
 * 10,000 referrals went to brk). Growing it by this much at a time, and
 * keeping as much when trimming, makes that cost vanish (performance.md). */
#define HEAP_PAD (16 << 20)

enum { OPT_SYNTHETIC = 300, OPT_RULES, OPT_AGAINST, OPT_SEED, OPT_HTML, OPT_DB, OPT_FROM, OPT_TO };

struct replay_args {
        const char *synthetic, *rules, *against, *html, *db, *from, *to;
        long long seed;
};

/* ---- the text for a person ------------------------------------------------------------- */

#define COLUMNS "  %-36s %16s %16s\n"

static void print_figures(const struct rd_replay_result *res)
{
        struct rd_replay_row rows[RD_REPLAY_ROWS];
        size_t n = rd_replay_rows(res, rows, RD_REPLAY_ROWS);

        printf(COLUMNS, "", "baseline", "candidate");
        for (size_t i = 0; i < n && i < RD_REPLAY_ROWS; i++)
                printf(COLUMNS, rows[i].label, rows[i].baseline, rows[i].candidate);
}

/* Peak and mean load of V into BUF, "-" when the side has no such connector. */
static const char *load_text(bool in, const struct rd_figures_connector_view *v, char *buf,
                             size_t size)
{
        if (in)
                snprintf(buf, size, "%" PRIu64 " / %.2f", v->peak_load, v->mean_load);
        else
                snprintf(buf, size, "-");
        return buf;
}

static int print_connectors(const struct rd_replay_result *res)
{
        size_t max = rd_figures_n_connectors(res->baseline.figures) +
                     rd_figures_n_connectors(res->candidate.figures);
        struct rd_replay_connector *rows = calloc(max ? max : 1, sizeof *rows);
        size_t n = rows ? rd_replay_connectors(res, rows, max) : 0;

        if (!rows) {
                fault("out of memory");
                return EXIT_FAULT;
        }
        printf("\nLoad per connector (peak / mean)\n");
        for (size_t i = 0; i < n; i++) {
                char label[160], b[48], c[48], cap[RD_REPLAY_TEXT];
                int pad;
                snprintf(label, sizeof label, "%s (%s, capacity %s)", rows[i].id, rows[i].team,
                         rd_replay_capacity_text(&rows[i], cap));
                /* padded by characters, not bytes: the label may hold an arrow */
                pad = 36 - (int)rd_utf8_length(label);
                printf("  %s%*s %16s %16s\n", label, pad > 0 ? pad : 0, "",
                       load_text(rows[i].in_baseline, &rows[i].baseline, b, sizeof b),
                       load_text(rows[i].in_candidate, &rows[i].candidate, c, sizeof c));
        }
        free(rows);
        return EXIT_OK;
}

static void print_changes(const struct rd_replay_result *res)
{
        size_t i;
        json_t *ch;

        printf("\nFirst decisions that changed: %zu\n", res->changed);
        json_array_foreach(res->changes, i, ch)
        {
                char b[RD_REPLAY_DECISION], c[RD_REPLAY_DECISION];
                if (i == CHANGES_SHOWN) {
                        printf("  ... and %zu more (--json lists them all)\n", res->changed - i);
                        break;
                }
                rd_replay_decision_text(json_object_get(ch, "baseline"), b);
                rd_replay_decision_text(json_object_get(ch, "candidate"), c);
                printf("  %-10s %s -> %s\n", jstr(ch, "id"), b, c);
        }
}

static void print_side(const char *label, const struct rd_replay_side *s)
{
        if (s->digest[0])
                printf("  %-10s %s (digest %.12s)\n", label, s->source, s->digest);
        else
                printf("  %-10s the history as recorded\n", label);
}

static int print_result(const struct rd_replay_result *res, const char *what)
{
        char from[RD_TIME_STR], to[RD_TIME_STR];
        int r;

        printf("Replay of %s from %.10s to %.10s, seed %" PRIu64 "\n", what,
               rd_time_format(res->start_ms, from), rd_time_format(res->end_ms, to), res->seed);
        print_side("baseline:", &res->baseline);
        print_side("candidate:", &res->candidate);
        printf("\n");
        print_figures(res);
        r = print_connectors(res);
        print_changes(res);
        if (res->skipped_erased)
                printf("\nErased referrals kept as recorded: %" PRIu64 "\n", res->skipped_erased);
        return r;
}

/* The page of RES into PATH. */
static int write_html(const struct rd_replay_result *res, const char *what, const char *path)
{
        char *text = NULL;
        size_t len = 0;
        FILE *f;
        int r = rd_replay_html(res, what, &text, &len);

        if (r < 0) {
                fault("cannot make the page: %s", strerror(-r));
                return EXIT_FAULT;
        }
        f = fopen(path, "w");
        r = f && fwrite(text, 1, len, f) == len ? 0 : -1;
        if (f && fclose(f) != 0)
                r = -1;
        free(text);
        if (r < 0) {
                fault("%s: %s", path, strerror(errno));
                return EXIT_FAULT;
        }
        return EXIT_OK;
}

/* ---- running it ---------------------------------------------------------------------------- */

static int output(const struct ctl *c, const struct rd_replay_result *res, const char *what,
                  const char *html)
{
        json_t *o;

        if (html && write_html(res, what, html) != EXIT_OK)
                return EXIT_FAULT;
        if (!c->json)
                return print_result(res, what);
        o = rd_replay_json(res);
        if (!o) {
                fault("out of memory");
                return EXIT_FAULT;
        }
        print_json_line(o);
        json_decref(o);
        return EXIT_OK;
}

static int load_model(const char *path, struct rd_synth_model **m)
{
        struct rd_diag diag = {0};
        int r = rd_synth_load_file(path, m, &diag);

        print_diag(&diag);
        if (r < 0 && !diag.n)
                fault("%s: %s", path, strerror(-r));
        rd_diag_clear(&diag);
        if (r < 0)
                return r == -ENOMEM ? EXIT_FAULT : EXIT_CONFIG;
        return 0;
}

/* DB's scratch copy (read only, one short read transaction; a SQLite file
 * or a PostgreSQL conninfo: state.c) into *STORE. 0 or an exit code
 * (printed). */
static int open_db(const char *db, struct rd_store **store)
{
        return state_open(db, store);
}

/* The routing file in force in DB into *RULES. 0 or an exit code
 * (printed). */
static int file_in_force(const char *db, struct rd_rules **rules)
{
        struct rd_routing_current cur = {0};
        struct rd_diag diag = {0};
        struct rd_store *store = NULL;
        int r = open_db(db, &store);

        if (r)
                return r;
        r = rd_routing_in_force(store, &cur, &diag);
        rd_store_close(store);
        print_diag(&diag);
        rd_diag_clear(&diag);
        if (r == -ENOENT)
                fault("%s: the database keeps no routing file in force (no daemon of this version "
                      "has run on it): give --against BASELINE.yaml",
                      state_name(db));
        else if (r < 0)
                fault("%s: cannot read the routing file in force: %s", state_name(db),
                      strerror(-r));
        if (r < 0) {
                rd_routing_current_clear(&cur);
                return EXIT_FAULT;
        }
        *rules = cur.rules;
        cur.rules = NULL;
        rd_routing_current_clear(&cur);
        return 0;
}

/* The rules of the replay: CANDIDATE, and BASELINE from --against, or
 * with IN_FORCE the file in force in --db; else none (the history as
 * recorded). 0 or an exit code (printed); nothing is left on failure. */
static int load_sides(const struct replay_args *a, bool in_force, struct rd_rules **cand,
                      struct rd_rules **base)
{
        size_t warnings;
        int r = load_rules_report(a->rules, false, cand, &warnings);

        *base = NULL;
        if (r == 0 && a->against)
                r = load_rules_report(a->against, false, base, &warnings);
        else if (r == 0 && in_force)
                r = file_in_force(a->db, base);
        if (r) {
                rd_rules_free(*cand);
                *cand = NULL;
        }
        return r;
}

static int replay_synthetic(const struct ctl *c, const struct replay_args *a)
{
        struct rd_synth_model *m = NULL;
        struct rd_rules *base = NULL, *cand = NULL;
        struct rd_replay_options o = {.seed = (uint64_t)a->seed};
        struct rd_replay_result *res = NULL;
        char errbuf[512], what[4200];
        int r = load_model(a->synthetic, &m);

        if (r == 0)
                r = load_sides(a, true, &cand, &base);
        if (r == 0 && rd_replay_synthetic(m, base, cand, &o, &res, errbuf, sizeof errbuf) < 0) {
                fault("replay: %s", errbuf);
                r = EXIT_FAULT;
        }
        if (r == 0) {
                snprintf(what, sizeof what, "the synthetic model %s", a->synthetic);
                r = output(c, res, what, a->html);
        }
        rd_replay_result_free(res);
        rd_synth_free(m);
        return r;
}

/* --from and --to into *FROM and *TO (INT64_MIN and INT64_MAX when not
 * given: the whole history). 0 or an exit code (printed). */
static int span(const char *cmd, const struct replay_args *a, int64_t *from, int64_t *to)
{
        int r = 0;

        *from = INT64_MIN;
        *to = INT64_MAX;
        if (a->from)
                r = date_option(cmd, "--from", a->from, from);
        if (r == 0 && a->to)
                r = date_option(cmd, "--to", a->to, to);
        if (r == 0 && *from >= *to) {
                usage_error(cmd, "--from must come before --to");
                r = EXIT_USAGE;
        }
        return r;
}

static int replay_history(const struct ctl *c, const char *cmd, const struct replay_args *a)
{
        struct rd_rules *base = NULL, *cand = NULL;
        struct rd_replay_options o = {.seed = (uint64_t)a->seed};
        struct rd_replay_result *res = NULL;
        struct rd_store *store = NULL;
        char errbuf[512], what[4200];
        int64_t from, to;
        int r = span(cmd, a, &from, &to);

        if (r == 0)
                r = load_sides(a, false, &cand, &base);
        if (r == 0 && (r = open_db(a->db, &store)) != 0) {
                rd_rules_free(cand);
                rd_rules_free(base);
        }
        if (r == 0 &&
            rd_replay_history(store, cand, base, from, to, &o, &res, errbuf, sizeof errbuf) < 0) {
                fault("replay: %s: %s", state_name(a->db), errbuf);
                r = EXIT_FAULT;
        }
        rd_store_close(store);
        if (r == 0) {
                snprintf(what, sizeof what, "the history of %s", state_name(a->db));
                r = output(c, res, what, a->html);
        }
        rd_replay_result_free(res);
        return r;
}

/* The combinations tools.md allows. false after a usage error (printed). */
static bool check_args(const char *cmd, const struct replay_args *a)
{
        if (!a->rules) {
                usage_error(cmd, "needs --rules CANDIDATE.yaml");
                return false;
        }
        if (!a->synthetic && !a->db) {
                usage_error(cmd, "needs --db DB (replay the history) or --synthetic MODEL.yaml");
                return false;
        }
        if (a->synthetic && (a->from || a->to)) {
                usage_error(cmd, "--from and --to are for a replay of the history (--db)");
                return false;
        }
        if (a->synthetic && !a->against && !a->db) {
                usage_error(cmd, "--synthetic needs --against BASELINE.yaml, or --db DB to set the "
                                 "candidate beside the routing file in force there");
                return false;
        }
        return true;
}

int cmd_replay(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {GLOBAL_LONG,
                                             {"synthetic", required_argument, NULL, OPT_SYNTHETIC},
                                             {"rules", required_argument, NULL, OPT_RULES},
                                             {"against", required_argument, NULL, OPT_AGAINST},
                                             {"seed", required_argument, NULL, OPT_SEED},
                                             {"html", required_argument, NULL, OPT_HTML},
                                             {"db", required_argument, NULL, OPT_DB},
                                             {"from", required_argument, NULL, OPT_FROM},
                                             {"to", required_argument, NULL, OPT_TO},
                                             {0}};
        struct replay_args a = {.seed = 1};
        const struct opt_value values[] = {{OPT_SYNTHETIC, .text = &a.synthetic},
                                           {OPT_RULES, .text = &a.rules},
                                           {OPT_AGAINST, .text = &a.against},
                                           {OPT_SEED, .count = &a.seed, .min = 0,
                                            .bad = "--seed needs a whole number, not '%s'"},
                                           {OPT_HTML, .text = &a.html},
                                           {OPT_DB, .text = &a.db},
                                           {OPT_FROM, .text = &a.from},
                                           {OPT_TO, .text = &a.to},
                                           {0}};
        int r;

        if (!parse_options_only(c, argc, argv, GLOBAL_SHORT, opts, values, &r))
                return r;
        if (!check_args(argv[0], &a))
                return EXIT_USAGE;
        mallopt(M_TOP_PAD, HEAP_PAD);
        return a.synthetic ? replay_synthetic(c, &a) : replay_history(c, argv[0], &a);
}
