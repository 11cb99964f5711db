/* html_sample.c: write a sample page with every element lib/html and
 * lib/svgchart make (the weekly report's and the replay's kinds of
 * figures, made-up and deterministic) to the file given, for
 * tests/integration/test_html_render.py and for a person to look at:
 *
 *     html_sample OUT.html
 *
 * Exit 0, or 1 with a message on stderr. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "macro.h"
#include "svgchart.h"

#define DAY INT64_C(86400000)
#define JAN1 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define DAYS 365
#define NCONN 8

static const char *const CONNECTORS[NCONN] = {"c-anna", "c-bert", "c-cleo",   "c-dirk",
                                              "c-els",  "c-fien", "psy-gert", "psy-hanne"};
static const char *const TEAMS[NCONN] = {"genk",         "genk",         "genk", "genk",
                                         "maasmechelen", "maasmechelen", "psy",  "psy"};
static const double CAPACITY[NCONN] = {12, 12, 10, 10, 8, 8, 6, 6};

/* A fixed pseudo-random sequence in [0, 1): the same page every run. */
static double draw(void)
{
        static uint64_t x = 20261130;
        x = x * 6364136223846793005u + 1442695040888963407u;
        return (double)(x >> 11) / 9007199254740992.0;
}

/* A walk from START that stays in [0, MAX], one step a day. */
static void walk(double *y, size_t n, double start, double max)
{
        double v = start;
        for (size_t j = 0; j < n; j++) {
                double u = draw();
                v += u < 0.3 ? -1 : u > 0.7 ? 1 : 0;
                v = v < 0 ? 0 : v > max ? max : v;
                y[j] = v;
        }
}

static void week(struct rd_html *h)
{
        static const char *const reasons[] = {"reason", "declines", "closes"};
        static const char *const targets[] = {"cawb-limburg-crisis-team",
                                              "vertrouwenscentrum-kindermishandeling",
                                              "kind-en-gezin-genk", "crisis-meldpunt-24-7"};
        static const double forwards[] = {3, 1, 2, 4};
        const struct rd_chart_series fs[] = {{"referrals", forwards}};
        const struct rd_chart fc = {"Where forwards went", "forwarded to", "referrals", 0};
        char d[RD_HTML_NUM], p50[RD_HTML_NUM], p90[RD_HTML_NUM];

        rd_html_section(h, "The week");
        rd_html_paraf(h, "Referrals received from %s to %s (UTC).", "2026-12-21", "2026-12-28");
        rd_html_dl_begin(h);
        rd_html_dl_item(h, "received", "31");
        rd_html_dl_item(h, "by decision", "assigned 22, waitlisted 5, forwarded 4");
        rd_html_dl_itemf(h, "waiting now", "7, the oldest since %s",
                         rd_html_fmt_date(JAN1 + 340 * DAY, false, d));
        rd_html_dl_itemf(h, "time to offer", "p50 %s, p90 %s", rd_html_fmt_duration(2700, p50),
                         rd_html_fmt_duration(5 * 3600 + 1200, p90));
        rd_html_dl_itemf(h, "time to start", "p50 %s, p90 %s",
                         rd_html_fmt_duration(6.5 * 86400, p50),
                         rd_html_fmt_duration(24 * 86400 + 7200, p90));
        rd_html_dl_item(h, "window", "started 18, in time 15, late 2, missed 1");
        rd_html_dl_item(h, "attention", "2");
        rd_html_dl_end(h);
        rd_html_table_begin(h, "Declines and closes by reason code", "lrr", reasons);
        for (size_t i = 0; i < 4; i++) {
                static const char *const codes[] = {"no_capacity", "goals_reached", "moved",
                                                    "none"};
                rd_html_row(h);
                rd_html_cell(h, codes[i]);
                rd_html_cell_num(h, (double)(3 - i), 0);
                rd_html_cell_num(h, (double)(i * 2), 0);
        }
        rd_html_table_end(h);
        rd_chart_bars(h, &fc, targets, RD_ELEMENTSOF(targets), fs, 1);
}

static void connectors(struct rd_html *h)
{
        static const char *const heads[] = {"connector", "team", "load", "capacity"};
        double load[NCONN];
        const struct rd_chart_series s[] = {{"load", load}, {"capacity", CAPACITY}};
        const struct rd_chart c = {"Load and capacity per connector", "connector", "open referrals",
                                   0};

        rd_html_section(h, "Connectors");
        rd_html_table_begin(h, "Load and capacity at the end of the week", "llrr", heads);
        for (size_t i = 0; i < NCONN; i++) {
                load[i] = floor(CAPACITY[i] * (0.5 + draw() / 2));
                rd_html_row(h);
                rd_html_cell(h, CONNECTORS[i]);
                rd_html_cell(h, TEAMS[i]);
                rd_html_cell_num(h, load[i], 0);
                rd_html_cell_num(h, CAPACITY[i], 0);
        }
        rd_html_table_end(h);
        rd_chart_bars(h, &c, CONNECTORS, NCONN, s, 2);
        /* A team name with markup in it: shown as text, never as markup. */
        rd_html_para(h, "Teams are named as in the routing file, e.g. \"r&d <pilot>\".");
}

static void replay_figures(struct rd_html *h)
{
        static const char *const heads[] = {"figure", "baseline", "candidate"};
        static const char *const names[] = {"referrals",    "assigned",      "waitlisted",
                                            "forwarded",    "window missed", "forwarded share",
                                            "waitlist peak"};
        static const double base[] = {375, 301, 52, 22, 14, 0.0587, 19};
        static const double cand[] = {375, 318, 36, 21, 6, 0.056, 11};
        static const char *const change_heads[] = {"referral", "baseline", "candidate"};

        rd_html_section(h, "Replay: baseline and candidate");
        rd_html_para(h, "A year of history replayed under routing-2027.yaml beside the file in "
                        "force; 41 referrals decided otherwise.");
        rd_html_table_begin(h, "Figures", "lrr", heads);
        for (size_t i = 0; i < RD_ELEMENTSOF(names); i++) {
                int dec = base[i] < 1 ? 3 : 0;
                rd_html_row(h);
                rd_html_cell(h, names[i]);
                rd_html_cell_num(h, base[i], dec);
                rd_html_cell_num(h, cand[i], dec);
        }
        rd_html_table_end(h);
        rd_html_table_begin(h, "Decisions that changed (first 3 of 41)", "lll", change_heads);
        for (int i = 0; i < 3; i++) {
                rd_html_row(h);
                rd_html_cellf(h, "R%06d", 1043 + 17 * i);
                rd_html_cell(h, "waitlisted (genk)");
                rd_html_cellf(h, "assigned to %s", CONNECTORS[4 + i]);
        }
        rd_html_table_end(h);
}

static void replay_charts(struct rd_html *h)
{
        static int64_t t[DAYS], weeks[52];
        static double load[NCONN][DAYS], wait[2][DAYS], received[2][52];
        static double tts[2][375];
        struct rd_chart_series ls[NCONN],
                ws[] = {{"baseline", wait[0]}, {"candidate", wait[1]}},
                rs[] = {{"baseline", received[0]}, {"candidate", received[1]}};
        static const char *const pct[] = {"p50", "p75", "p90"};
        static const double pb[] = {9.5, 17, 31.5}, pc[] = {7, 12.5, 24};
        const struct rd_chart_series ps[] = {{"baseline", pb}, {"candidate", pc}};
        const struct rd_chart_sample hs[] = {{"baseline", tts[0], 375}, {"candidate", tts[1], 375}};
        const struct rd_chart lc = {"Load per connector over time", "date (UTC)", "open referrals",
                                    0},
                              wc = {"Waitlist over time", "date (UTC)", "waiting referrals", 0},
                              rc = {"Trajectories started per week", "week from (UTC)",
                                    "trajectories", 0},
                              pcc = {"Time to start: percentiles", "percentile", "days", 1},
                              hc = {"Time to start", "days from receipt to start", "referrals", 0};

        for (size_t j = 0; j < DAYS; j++)
                t[j] = JAN1 + (int64_t)j * DAY;
        for (size_t i = 0; i < NCONN; i++) {
                walk(load[i], DAYS, CAPACITY[i] / 2, CAPACITY[i]);
                ls[i] = (struct rd_chart_series){CONNECTORS[i], load[i]};
        }
        walk(wait[0], DAYS, 8, 19);
        walk(wait[1], DAYS, 5, 11);
        for (size_t j = 0; j < 52; j++) {
                weeks[j] = JAN1 + (int64_t)j * 7 * DAY;
                received[0][j] = j == 30 ? NAN : floor(4 + 6 * draw());
                received[1][j] = j == 30 ? NAN : received[0][j] + (j % 9 == 4 ? 2 : 0);
        }
        for (size_t k = 0; k < 375; k++) {
                tts[0][k] = -12 * log(1 - draw());
                tts[1][k] = k % 50 == 0 ? NAN : -9 * log(1 - draw());
        }
        rd_html_section(h, "Replay: charts");
        rd_chart_time_panels(h, &lc, RD_CHART_STEP, t, DAYS, ls, NCONN, CAPACITY, "capacity");
        rd_chart_time(h, &wc, RD_CHART_STEP, t, DAYS, ws, 2);
        rd_html_heading(h, 3, "Starts and time to start");
        rd_html_para(h, "Week 31 has no history: the lines break there.");
        rd_chart_time(h, &rc, RD_CHART_LINE, weeks, 52, rs, 2);
        rd_chart_bars(h, &pcc, pct, 3, ps, 2);
        rd_chart_histogram(h, &hc, 7, 8, hs, 2);
}

int main(int argc, char **argv)
{
        struct rd_html h;
        char *text = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: html_sample OUT.html\n");
                return 2;
        }
        rd_html_begin(&h, "Sample: every element of the coordinators' pages");
        rd_html_para(&h, "Made-up figures: lib/html and lib/svgchart at work.");
        week(&h);
        connectors(&h);
        replay_figures(&h);
        replay_charts(&h);
        r = rd_html_finish(&h, &text, &len);
        if (r < 0) {
                fprintf(stderr, "html_sample: %s\n", strerror(-r));
                return 1;
        }
        f = fopen(argv[1], "w");
        r = f && fwrite(text, 1, len, f) == len ? 0 : -1;
        if (f && fclose(f) != 0)
                r = -1;
        if (r < 0)
                fprintf(stderr, "html_sample: %s: %s\n", argv[1], strerror(errno));
        free(text);
        return r < 0;
}
