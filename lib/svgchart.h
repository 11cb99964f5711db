/* svgchart.h: charts drawn as inline SVG into a page of html.h, each
 * followed by a table of the same figures (tools.md, "HTML output":
 * "charts ... with their figures also in a table"). No script, no chart
 * library: the program writes every element.
 *
 * Each chart is a <figure class="chart"> holding an <svg role="img"> (or,
 * for panels, one per series) with a <title> and a <desc> (its accessible
 * name and description), a visible title, axes with ticks and labels, the
 * data, a legend when there is more than one series, then the table: its
 * caption the chart's title, a row per point; beyond 31 rows it is folded
 * in a <details> (opened with a click; printed folded). Series differ by
 * colour and also by dash pattern and marker (lines) or fill pattern
 * (bars), so that they stay apart when printed in black and white. Dates
 * are UTC, "YYYY-MM-DD". Labels are placed from estimated text widths so
 * that they neither overlap nor leave the chart (tests/integration/
 * test_html_render.py measures them in Chromium); the same input gives the
 * same text, byte for byte.
 *
 * Errors are those of the page (html.h): sticky, and returned. */
#ifndef RD_SVGCHART_H
#define RD_SVGCHART_H

#include <stddef.h>
#include <stdint.h>

#include "html.h"

/* The most series one chart draws (the table has one column more). */
#define RD_CHART_SERIES_MAX (RD_HTML_COLS_MAX - 1)
#define RD_CHART_BUCKETS_MAX 60 /* buckets of a histogram */

/* What every chart is told. Strings are borrowed for the call. */
struct rd_chart {
        const char *title;   /* above the chart, its <title>, the table's caption */
        const char *x_label; /* under the x axis, the table's first head; NULL: none
                                (the head is then "date (UTC)" or "category") */
        const char *y_label; /* the values' unit, above the y axis; NULL: none */
        int decimals;        /* of the values in the table, and the finest y tick (0: whole) */
};

/* One series: NAME in the legend and the table, a value per point (a
 * value that is not finite is none: a gap). */
struct rd_chart_series {
        const char *name;
        const double *y;
};

enum rd_chart_shape {
        RD_CHART_LINE, /* straight lines from point to point */
        RD_CHART_STEP, /* each value holds until the next point: waitlist, load */
};

/* A chart of NS series (1 to RD_CHART_SERIES_MAX) over time: N points at
 * T_MS (ms since the epoch, ascending), the same for every series. The x
 * axis spans whole UTC days; the table has a row per point (a date, or a
 * date and time when a point is not at midnight). With N or NS 0, or no
 * finite value, a paragraph says there are no figures. Returns 0 or the
 * page's error (-EINVAL: too many series, T_MS not ascending or beyond
 * 2^53 ms). */
int rd_chart_time(struct rd_html *h, const struct rd_chart *c, enum rd_chart_shape shape,
                  const int64_t *t_ms, size_t n, const struct rd_chart_series *s, size_t ns);

/* Small multiples: the chart of rd_chart_time with a panel per series (its
 * NAME the panel's title, drawn alike), all on the same scales, side by
 * side as the page's width allows (two on paper), then one table. For many series that would tangle
 * in one plot: load per connector. LIMITS (NULL: none) gives each series a level (NAN: none) drawn
 * as a dashed line named LIMIT_NAME ("capacity"; NULL: "limit") and also given in the table's
 * heads. Same errors as rd_chart_time. */
int rd_chart_time_panels(struct rd_html *h, const struct rd_chart *c, enum rd_chart_shape shape,
                         const int64_t *t_ms, size_t n, const struct rd_chart_series *s, size_t ns,
                         const double *limits, const char *limit_name);

/* A bar chart: N categories named by LABELS, in each a bar per series side
 * by side (baseline beside candidate; p50, p75, p90). Values below zero are
 * drawn down from zero. Same table and errors as rd_chart_time, a row per
 * category. */
int rd_chart_bars(struct rd_html *h, const struct rd_chart *c, const char *const *labels, size_t n,
                  const struct rd_chart_series *s, size_t ns);

/* A sample for a histogram: N values (not finite: left out). */
struct rd_chart_sample {
        const char *name;
        const double *v;
        size_t n;
};

/* A histogram of NS samples side by side: NBUCKETS (1 to
 * RD_CHART_BUCKETS_MAX) buckets of WIDTH (> 0, in the values' unit, named
 * by c->x_label), [0, WIDTH), [WIDTH, 2 WIDTH), ..., the last open-ended
 * ("70+"); values below 0 count in the first. Counts are drawn with
 * rd_chart_bars. */
int rd_chart_histogram(struct rd_html *h, const struct rd_chart *c, double width, size_t nbuckets,
                       const struct rd_chart_sample *s, size_t ns);

#endif
