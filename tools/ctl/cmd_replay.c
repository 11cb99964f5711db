/* cmd_replay.c: `replay` (tools.md, "What-if replay"): referrals replayed
 * in simulated time under a candidate routing file beside a baseline, with
 * the daemon's own engine (lib/replay); offline, on files. Prints the
 * figures of both for a person, or tools.md's object with --json. */
#include "commands.h"
#include "options.h"
#include "print.h"

#include "replay.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHANGES_SHOWN 50 /* changed decisions listed in text; --json has all */

enum { OPT_SYNTHETIC = 300, OPT_RULES, OPT_AGAINST, OPT_SEED, OPT_HTML, OPT_DB, OPT_FROM, OPT_TO };

struct replay_args {
        const char *synthetic, *rules, *against, *html, *db, *from, *to;
        long long seed;
};

/* ---- the text for a person ------------------------------------------------------------- */

/* A duration of S seconds in days (or hours below a day), into BUF. */
static const char *days_text(int64_t s, bool defined, char *buf, size_t size)
{
        if (!defined)
                snprintf(buf, size, "-");
        else if (s >= 86400)
                snprintf(buf, size, "%.1f d", (double)s / 86400.0);
        else
                snprintf(buf, size, "%.1f h", (double)s / 3600.0);
        return buf;
}

static void row_count(const char *label, uint64_t b, uint64_t c)
{
        printf("  %-30s %12" PRIu64 " %12" PRIu64 "\n", label, b, c);
}

static void row_text(const char *label, const char *b, const char *c)
{
        printf("  %-30s %12s %12s\n", label, b, c);
}

static void row_real(const char *label, double b, double c, int decimals)
{
        printf("  %-30s %12.*f %12.*f\n", label, decimals, b, decimals, c);
}

static void row_duration(const char *label, int64_t b, bool bd, int64_t c, bool cd)
{
        char x[32], y[32];
        row_text(label, days_text(b, bd, x, sizeof x), days_text(c, cd, y, sizeof y));
}

/* The figures of both sides, row by row. */
static void print_figures(const struct rd_figures_summary *b, const struct rd_figures_summary *c)
{
        char x[32], y[32];

        printf("  %-30s %12s %12s\n", "", "baseline", "candidate");
        row_count("referrals", b->referrals, c->referrals);
        row_count("first decision: assigned", b->assigned, c->assigned);
        row_count("                waitlisted", b->waitlisted, c->waitlisted);
        row_count("                forwarded", b->forwarded, c->forwarded);
        row_count("window: started", b->window_started, c->window_started);
        row_count("        in time", b->window_in_time, c->window_in_time);
        row_count("        missed", b->window_missed, c->window_missed);
        row_duration("time to start: p50", b->p50_s, b->window_started, c->p50_s,
                     c->window_started);
        row_duration("               p75", b->p75_s, b->window_started, c->p75_s,
                     c->window_started);
        row_duration("               p90", b->p90_s, b->window_started, c->p90_s,
                     c->window_started);
        snprintf(x, sizeof x, b->referrals ? "%.1f %%" : "-", 100.0 * b->forwarded_share);
        snprintf(y, sizeof y, c->referrals ? "%.1f %%" : "-", 100.0 * c->forwarded_share);
        row_text("forwarded (any decision)", x, y);
        row_count("trajectories: started", b->trajectories_started, c->trajectories_started);
        row_count("              closed", b->trajectories_closed, c->trajectories_closed);
        row_real("              mean open", b->mean_open, c->mean_open, 1);
        row_duration("              mean length", (int64_t)b->mean_length_s,
                     b->trajectories_started, (int64_t)c->mean_length_s, c->trajectories_started);
        row_count("waitlist: peak", b->waitlist_peak, c->waitlist_peak);
        row_real("          mean", b->waitlist_mean, c->waitlist_mean, 1);
}

/* Connector I of F, or NULL when F has none of that id. */
static bool find_connector(const struct rd_figures_acc *f, const char *id,
                           struct rd_figures_connector_view *out)
{
        for (size_t i = 0; i < rd_figures_n_connectors(f); i++)
                if (rd_figures_connector_view(f, i, out) == 0 && !strcmp(out->id, id))
                        return true;
        return false;
}

/* One connector's row: peak and mean load on each side ("-": not in it). */
static void print_connector(const struct rd_replay_result *res, const char *id)
{
        struct rd_figures_connector_view b, c;
        bool in_b = find_connector(res->baseline.figures, id, &b);
        bool in_c = find_connector(res->candidate.figures, id, &c);
        const struct rd_figures_connector_view *v = in_c ? &c : &b;
        char label[160], x[48], y[48];

        snprintf(label, sizeof label, "%s (%s, capacity %u)", id, v->team, v->capacity);
        snprintf(x, sizeof x, in_b ? "%" PRIu64 " / %.2f" : "-", in_b ? b.peak_load : 0,
                 in_b ? b.mean_load : 0.0);
        snprintf(y, sizeof y, in_c ? "%" PRIu64 " / %.2f" : "-", in_c ? c.peak_load : 0,
                 in_c ? c.mean_load : 0.0);
        printf("  %-30s %12s %12s\n", label, x, y);
}

/* Every connector of either side: the baseline's, then the candidate's new ones. */
static void print_connectors(const struct rd_replay_result *res)
{
        struct rd_figures_connector_view v, other;

        printf("\nLoads (peak / mean)\n");
        for (size_t i = 0; i < rd_figures_n_connectors(res->baseline.figures); i++)
                if (rd_figures_connector_view(res->baseline.figures, i, &v) == 0)
                        print_connector(res, v.id);
        for (size_t i = 0; i < rd_figures_n_connectors(res->candidate.figures); i++)
                if (rd_figures_connector_view(res->candidate.figures, i, &v) == 0 &&
                    !find_connector(res->baseline.figures, v.id, &other))
                        print_connector(res, v.id);
}

/* A first decision as "assigned to kelly (genk)" and the like. */
static void decision_text(const json_t *d, char *buf, size_t size)
{
        const char *status = jstr(d, "status"), *conn = jstr(d, "connector");
        const char *team = jstr(d, "team"), *to = jstr(d, "forward_to");

        if (conn)
                snprintf(buf, size, "%s to %s (%s)", status, conn, team ? team : "-");
        else if (to)
                snprintf(buf, size, "%s to %s", status, to);
        else
                snprintf(buf, size, "%s", status ? status : "not decided");
}

static void print_changes(const struct rd_replay_result *res, uint64_t referrals)
{
        size_t i;
        json_t *ch;

        printf("\nFirst decisions that changed: %zu of %" PRIu64 "\n", res->changed, referrals);
        json_array_foreach(res->changes, i, ch)
        {
                char b[160], c[160];
                if (i == CHANGES_SHOWN) {
                        printf("  ... and %zu more (--json lists them all)\n", res->changed - i);
                        break;
                }
                decision_text(json_object_get(ch, "baseline"), b, sizeof b);
                decision_text(json_object_get(ch, "candidate"), c, sizeof c);
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

static void print_result(const struct rd_replay_result *res, const char *what)
{
        struct rd_figures_summary b, c;

        rd_figures_summary(res->baseline.figures, &b);
        rd_figures_summary(res->candidate.figures, &c);
        printf("Replay of %s: %.1f days, seed %" PRIu64 "\n", what, b.days, res->seed);
        print_side("baseline:", &res->baseline);
        print_side("candidate:", &res->candidate);
        printf("\n");
        print_figures(&b, &c);
        print_connectors(res);
        print_changes(res, b.referrals);
        if (res->skipped_erased)
                printf("\nErased referrals kept as recorded: %" PRIu64 "\n", res->skipped_erased);
}

/* ---- running it ---------------------------------------------------------------------------- */

static int output(const struct ctl *c, const struct rd_replay_result *res, const char *what)
{
        json_t *o;

        if (!c->json) {
                print_result(res, what);
                return EXIT_OK;
        }
        o = rd_replay_json(res);
        if (!o) {
                fault("out of memory");
                return EXIT_FAULT;
        }
        print_json_line(o);
        json_decref(o);
        return EXIT_OK;
}

/* Where the runs keep their scratch stores. */
static const char *scratch_dir(void)
{
        const char *t = getenv("TMPDIR");
        return t && *t ? t : "/tmp";
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

static int replay_synthetic(const struct ctl *c, const struct replay_args *a)
{
        struct rd_synth_model *m = NULL;
        struct rd_rules *base = NULL, *cand = NULL;
        struct rd_replay_options o = {.seed = (uint64_t)a->seed, .scratch_dir = scratch_dir()};
        struct rd_replay_result *res = NULL;
        char errbuf[512], what[4200];
        size_t warnings;
        int r = load_model(a->synthetic, &m);

        if (r == 0)
                r = load_rules_report(a->rules, false, &cand, &warnings);
        if (r == 0)
                r = load_rules_report(a->against, false, &base, &warnings);
        if (r == 0 && rd_replay_synthetic(m, base, cand, &o, &res, errbuf, sizeof errbuf) < 0) {
                fault("replay: %s", errbuf);
                r = EXIT_FAULT;
        } else if (r) {
                rd_rules_free(base);
                rd_rules_free(cand);
        }
        if (r == 0) {
                snprintf(what, sizeof what, "the synthetic model %s", a->synthetic);
                r = output(c, res, what);
        }
        rd_replay_result_free(res);
        rd_synth_free(m);
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
        if (a->synthetic && !a->against) {
                usage_error(cmd, "--synthetic needs --against BASELINE.yaml (the routing file in "
                                 "force in a database cannot be read yet)");
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
        if (a.html) {
                fault("--html is not available yet");
                return EXIT_FAULT;
        }
        if (!a.synthetic) {
                fault("replaying the history is not available yet");
                return EXIT_FAULT;
        }
        return replay_synthetic(c, &a);
}
