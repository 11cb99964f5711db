/* replay_html.c: a replay's result as one self-contained HTML page
 * (replay.h, rd_replay_html; tools.md, "HTML output"), with lib/html and
 * lib/svgchart: the figures side by side, the connectors, the decisions
 * that changed, and the charts (load per connector and the waitlist over
 * time, time to start), each with its figures in a table. Ids, teams,
 * connectors, rules and figures only: no personal data reaches a run. */
#include "replay.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "html.h"
#include "macro.h"
#include "svgchart.h"

#define DAY_MS INT64_C(86400000)
#define CHANGES_MAX 500  /* decisions that changed listed on the page */
#define POINTS_MAX 366   /* points of a chart over time: a bucket is whole days */
#define WEEK_DAYS 7      /* the buckets of the time to start are whole weeks, */
#define BUCKETS_ABOUT 12 /* about this many up to the p90 */

/* ---- the text ---------------------------------------------------------------------- */

static void intro(struct rd_html *h, const struct rd_replay_result *r, const char *what)
{
        char from[RD_HTML_NUM], to[RD_HTML_NUM];

        rd_html_paraf(h,
                      "Replayed: %s, in simulated time with the daemon's own routing engine, "
                      "from %s to %s (UTC), seed %llu.",
                      what, rd_html_fmt_date(r->start_ms, false, from),
                      rd_html_fmt_date(r->end_ms, false, to), (unsigned long long)r->seed);
        rd_html_dl_begin(h);
        if (r->baseline.digest[0])
                rd_html_dl_itemf(h, "baseline", "%s (digest %.12s)", r->baseline.source,
                                 r->baseline.digest);
        else
                rd_html_dl_item(h, "baseline", "the history as recorded");
        rd_html_dl_itemf(h, "candidate", "%s (digest %.12s)", r->candidate.source,
                         r->candidate.digest);
        rd_html_dl_itemf(h, "first decisions that changed", "%zu", r->changed);
        if (r->skipped_erased)
                rd_html_dl_itemf(h, "erased referrals kept as recorded", "%llu",
                                 (unsigned long long)r->skipped_erased);
        rd_html_dl_end(h);
}

static void figures(struct rd_html *h, const struct rd_replay_result *r)
{
        static const char *const heads[] = {"figure", "baseline", "candidate"};
        struct rd_replay_row rows[RD_REPLAY_ROWS];
        size_t n = rd_replay_rows(r, rows, RD_REPLAY_ROWS);

        rd_html_section(h, "Figures");
        rd_html_table_begin(h, "Baseline and candidate", "lrr", heads);
        for (size_t i = 0; i < n && i < RD_REPLAY_ROWS; i++) {
                rd_html_row(h);
                rd_html_cell(h, rows[i].label);
                rd_html_cell(h, rows[i].baseline);
                rd_html_cell(h, rows[i].candidate);
        }
        rd_html_table_end(h);
}

/* The peak and mean load of V, or dashes when the side has no such connector. */
static void load_cells(struct rd_html *h, bool in, const struct rd_figures_connector_view *v)
{
        if (!in) {
                rd_html_cell_num(h, NAN, 0);
                rd_html_cell_num(h, NAN, 0);
                return;
        }
        rd_html_cell_num(h, (double)v->peak_load, 0);
        rd_html_cell_num(h, v->mean_load, 2);
}

/* The connectors of either side, or NULL (-ENOMEM recorded in H). */
static struct rd_replay_connector *connectors_of(struct rd_html *h,
                                                 const struct rd_replay_result *r, size_t *n)
{
        size_t max = rd_figures_n_connectors(r->baseline.figures) +
                     rd_figures_n_connectors(r->candidate.figures);
        struct rd_replay_connector *rows = calloc(max ? max : 1, sizeof *rows);

        if (!rows)
                rd_html_fail(h, -ENOMEM);
        else
                *n = rd_replay_connectors(r, rows, max);
        return rows;
}

static void connectors(struct rd_html *h, const struct rd_replay_result *r)
{
        static const char *const heads[] = {"connector",
                                            "team",
                                            "capacity",
                                            "peak load (baseline)",
                                            "mean load (baseline)",
                                            "peak load (candidate)",
                                            "mean load (candidate)"};
        size_t n = 0;
        struct rd_replay_connector *rows = connectors_of(h, r, &n);
        char cap[RD_REPLAY_TEXT];

        if (!rows)
                return;
        rd_html_section(h, "Connectors");
        rd_html_para(h, "Load: the referrals offered to, accepted or started by a connector and "
                        "not yet ended; the mean is over the whole span.");
        rd_html_table_begin(h, "Loads per connector", "llrrrrr", heads);
        for (size_t i = 0; i < n; i++) {
                rd_html_row(h);
                rd_html_cell(h, rows[i].id);
                rd_html_cell(h, rows[i].team);
                rd_html_cell(h, rd_replay_capacity_text(&rows[i], cap));
                load_cells(h, rows[i].in_baseline, &rows[i].baseline);
                load_cells(h, rows[i].in_candidate, &rows[i].candidate);
        }
        rd_html_table_end(h);
        free(rows);
}

static void changes(struct rd_html *h, const struct rd_replay_result *r)
{
        static const char *const heads[] = {"referral", "baseline", "candidate"};
        char b[RD_REPLAY_DECISION], c[RD_REPLAY_DECISION];
        json_t *ch;
        size_t i;

        rd_html_section(h, "Decisions that changed");
        if (!r->changed) {
                rd_html_para(h, "Every referral got the same first decision on both sides.");
                return;
        }
        rd_html_paraf(h, "%zu referrals got another first decision under the candidate%s.",
                      r->changed, r->changed > CHANGES_MAX ? " (the first 500 are listed)" : "");
        rd_html_table_begin(h, "First decisions that changed", "lll", heads);
        json_array_foreach(r->changes, i, ch)
        {
                if (i == CHANGES_MAX)
                        break;
                rd_replay_decision_text(json_object_get(ch, "baseline"), b);
                rd_replay_decision_text(json_object_get(ch, "candidate"), c);
                rd_html_row(h);
                rd_html_cell(h, json_string_value(json_object_get(ch, "id")));
                rd_html_cell(h, b);
                rd_html_cell(h, c);
        }
        rd_html_table_end(h);
}

/* ---- the charts ---------------------------------------------------------------------- */

/* The times of the points of a chart over [START, END): whole days, at
 * most POINTS_MAX. */
struct grid {
        int64_t t[POINTS_MAX];
        size_t n;
        int64_t end;
};

static void grid_make(struct grid *g, int64_t start, int64_t end)
{
        int64_t days = (end - start + DAY_MS - 1) / DAY_MS;
        int64_t width = DAY_MS * ((days + POINTS_MAX - 1) / POINTS_MAX);

        g->n = 0;
        g->end = end;
        for (int64_t t = start; t < end && g->n < POINTS_MAX && width > 0; t += width)
                g->t[g->n++] = t;
}

/* The time-average of the step function S over each interval of G into Y. */
static void bucket_means(const struct rd_figures_series *s, const struct grid *g, double *y)
{
        size_t k = 0;

        for (size_t j = 0; j < g->n; j++) {
                int64_t a = g->t[j], b = j + 1 < g->n ? g->t[j + 1] : g->end, at = a;
                double sum = 0;

                while (k + 1 < s->n && s->v[k + 1].at_ms <= a)
                        k++;
                while (at < b) {
                        int64_t next =
                                k + 1 < s->n && s->v[k + 1].at_ms < b ? s->v[k + 1].at_ms : b;
                        sum += (double)s->v[k].value * (double)(next - at);
                        at = next;
                        if (at < b)
                                k++;
                }
                y[j] = b > a ? sum / (double)(b - a) : NAN;
        }
}

/* Load per connector over G: a panel per connector and side, baseline
 * beside candidate on the same scale (a side without the connector: a
 * panel with no line), as many charts as it takes. */
static void load_charts(struct rd_html *h, const struct rd_replay_result *r, const struct grid *g)
{
        size_t n = 0;
        struct rd_replay_connector *rows = connectors_of(h, r, &n);
        double *y = calloc(2 * n * g->n + 1, sizeof *y), *cap = calloc(2 * n + 1, sizeof *cap);
        struct rd_chart_series *s = calloc(2 * n + 1, sizeof *s);
        char(*names)[2 * RD_ID_MAX] = calloc(2 * n + 1, sizeof *names), title[128];
        const size_t per_chart = RD_CHART_SERIES_MAX / 2 * 2; /* whole pairs */

        if (!rows || !y || !cap || !s || !names) {
                rd_html_fail(h, -ENOMEM);
                n = 0;
        }
        for (size_t i = 0; i < 2 * n; i++) {
                const struct rd_replay_connector *c = &rows[i / 2];
                bool base = i % 2 == 0, in = base ? c->in_baseline : c->in_candidate;
                const struct rd_figures_connector_view *v = base ? &c->baseline : &c->candidate;
                for (size_t j = 0; !in && j < g->n; j++)
                        y[i * g->n + j] = NAN;
                if (in)
                        bucket_means(&v->load, g, &y[i * g->n]);
                snprintf(names[i], sizeof names[i], "%s: %s", c->id,
                         base ? "baseline" : "candidate");
                s[i] = (struct rd_chart_series){names[i], &y[i * g->n]};
                cap[i] = in ? v->capacity : NAN;
        }
        for (size_t from = 0; from < 2 * n; from += per_chart) {
                size_t k = 2 * n - from < per_chart ? 2 * n - from : per_chart;
                struct rd_chart c = {title, "date (UTC)", "open referrals (mean)", 1};
                snprintf(title, sizeof title, "Load per connector over time%s",
                         from ? " (continued)" : "");
                rd_chart_time_panels(h, &c, RD_CHART_STEP, g->t, g->n, &s[from], k, &cap[from],
                                     "capacity");
        }
        free(rows);
        free(y);
        free(cap);
        free(s);
        free(names);
}

static void waitlist_chart(struct rd_html *h, const struct rd_replay_result *r,
                           const struct grid *g)
{
        double y[2][POINTS_MAX];
        const struct rd_chart_series s[] = {{"baseline", y[0]}, {"candidate", y[1]}};
        const struct rd_chart c = {"Waitlist over time", "date (UTC)", "waiting referrals (mean)",
                                   1};
        struct rd_figures_series w;

        if (rd_figures_waitlist_series(r->baseline.figures, &w) == 0)
                bucket_means(&w, g, y[0]);
        if (rd_figures_waitlist_series(r->candidate.figures, &w) == 0)
                bucket_means(&w, g, y[1]);
        rd_chart_time(h, &c, RD_CHART_STEP, g->t, g->n, s, 2);
}

/* The times to start of F in days into a new array *OUT (NULL: none). */
static size_t start_days(const struct rd_figures_acc *f, double **out)
{
        const int64_t *v = NULL;
        size_t n = 0;

        *out = NULL;
        if (rd_figures_times_to_start(f, &v, &n) < 0 || !n || !(*out = malloc(n * sizeof **out)))
                return 0;
        for (size_t i = 0; i < n; i++)
                (*out)[i] = (double)v[i] / (double)DAY_MS;
        return n;
}

/* Percentile P (nearest rank) of the N ascending values V, NAN for none. */
static double percentile(const double *v, size_t n, unsigned p)
{
        return n ? v[(n * p + 99) / 100 - 1] : NAN;
}

static void start_charts(struct rd_html *h, const struct rd_replay_result *r)
{
        static const char *const pct[] = {"p50", "p75", "p90"};
        static const unsigned ps[] = {50, 75, 90};
        const struct rd_chart bc = {"Time to start: percentiles", "percentile",
                                    "days from receipt to start", 1},
                              hc = {"Time to start", "days from receipt to start", "referrals", 0};
        double *b = NULL, *c = NULL, pb[3], pc[3], top, width;
        size_t nb = start_days(r->baseline.figures, &b), nc = start_days(r->candidate.figures, &c);
        const struct rd_chart_series s[] = {{"baseline", pb}, {"candidate", pc}};
        const struct rd_chart_sample hs[] = {{"baseline", b, nb}, {"candidate", c, nc}};

        for (size_t i = 0; i < RD_ELEMENTSOF(ps); i++) {
                pb[i] = percentile(b, nb, ps[i]);
                pc[i] = percentile(c, nc, ps[i]);
        }
        /* whole weeks, about BUCKETS_ABOUT of them up to the larger p90; the
         * last bucket is open-ended */
        top = fmax(nb ? pb[2] : 0, nc ? pc[2] : 0);
        width = WEEK_DAYS * ceil(top / BUCKETS_ABOUT / WEEK_DAYS);
        width = width < WEEK_DAYS ? WEEK_DAYS : width;
        rd_chart_bars(h, &bc, pct, RD_ELEMENTSOF(pct), s, 2);
        rd_chart_histogram(h, &hc, width, (size_t)(top / width) + 2, hs, 2);
        free(b);
        free(c);
}

static void charts(struct rd_html *h, const struct rd_replay_result *r)
{
        struct grid *g = malloc(sizeof *g);

        if (!g) {
                rd_html_fail(h, -ENOMEM);
                return;
        }
        grid_make(g, r->start_ms, r->end_ms);
        rd_html_section(h, "Over time");
        rd_html_para(h, "Each point is the mean over the days up to the next one.");
        load_charts(h, r, g);
        waitlist_chart(h, r, g);
        rd_html_section(h, "Time to start");
        rd_html_para(h, "From receipt to the first start, of the referrals that started.");
        start_charts(h, r);
        free(g);
}

int rd_replay_html(const struct rd_replay_result *r, const char *what, char **out, size_t *len)
{
        struct rd_html h = {0};

        rd_html_begin(&h, "What-if replay");
        intro(&h, r, what);
        figures(&h, r);
        connectors(&h, r);
        changes(&h, r);
        charts(&h, r);
        return rd_html_finish(&h, out, len);
}
