/* svgchart.c: charts over time, one plot or a panel per series
 * (svgchart.h); the frame is svgchart_frame.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "svgchart_impl.h"

#define DAY_MS INT64_C(86400000)
#define DATE_ROOM 90.0 /* the least distance between two date labels */
#define PANEL_W 352.0
#define PANEL_PLOT_H 110.0
/* Times beyond this many ms (about 285,000 years) are refused: no overflow
 * in the day arithmetic. */
#define T_LIMIT (INT64_C(1) << 53)
#define PANEL_HEAD 192 /* bytes of a table head "NAME (LIMIT_NAME LIMIT)" */

/* MS rounded down to its UTC day's midnight. */
static int64_t day_floor(int64_t ms)
{
        int64_t d = ms / DAY_MS;
        return (d - (ms % DAY_MS < 0)) * DAY_MS;
}

/* The first day of month M (months since year 0) in ms. */
static int64_t month_start(int64_t m)
{
        struct tm tm = {.tm_year = (int)(m / 12) - 1900, .tm_mon = (int)(m % 12), .tm_mday = 1};
        return (int64_t)timegm(&tm) * 1000;
}

/* Ticks every STEP days from x0 (a midnight) to x1, on Mondays for weeks,
 * or every STEP months on their first day (quarters on January, April,
 * ...). At most MAX into AT; returns how many. */
static size_t ticks_at(int64_t x0, int64_t x1, bool months, int step, int64_t *at, size_t max)
{
        time_t secs = (time_t)(x0 / 1000);
        struct tm tm;
        size_t n = 0;
        int64_t m;

        if (!months) {
                int64_t d = x0 / DAY_MS;
                while ((d + 3) % step) /* 1970-01-01 was a Thursday: d + 3 counts from a Monday */
                        d++;
                for (; n < max && d * DAY_MS <= x1; d += step)
                        at[n++] = d * DAY_MS;
                return n;
        }
        if (!gmtime_r(&secs, &tm))
                return 0;
        m = (int64_t)(tm.tm_year + 1900) * 12 + tm.tm_mon;
        if (month_start(m) < x0)
                m++;
        while (m % step)
                m++;
        for (; n < max && month_start(m) <= x1; m += step)
                at[n++] = month_start(m);
        return n;
}

/* The ticks of a time axis: the finest step whose labels do not crowd. */
static size_t time_ticks(const struct frame *f, int64_t *at, size_t max)
{
        static const struct {
                bool months;
                int step;
        } steps[] = {{false, 1}, {false, 2}, {false, 7}, {false, 14}, {true, 1},  {true, 2},
                     {true, 3},  {true, 6},  {true, 12}, {true, 24},  {true, 60}, {true, 120}};
        double day_px = chart_plot_w(f) * (double)DAY_MS / (f->x1 - f->x0);
        size_t k = 0;

        while (k + 1 < RD_ELEMENTSOF(steps) &&
               (steps[k].months ? 28 : 1) * steps[k].step * day_px < DATE_ROOM)
                k++;
        return ticks_at((int64_t)f->x0, (int64_t)f->x1, steps[k].months, steps[k].step, at, max);
}

static void time_axis(struct rd_html *h, const struct frame *f)
{
        int64_t at[64];
        size_t nt = time_ticks(f, at, RD_ELEMENTSOF(at));
        double y = chart_bottom(f);
        char date[RD_HTML_NUM];

        for (size_t k = 0; k < nt; k++) {
                double x = chart_px(f, (double)at[k]);
                if (at[k] > f->x0)
                        chart_line(h, "grid", x, f->top, x, y);
                chart_line(h, "axis", x, y, x, y + 4);
                chart_label(h, x, y + 19, "middle", "", rd_html_fmt_date(at[k], false, date));
        }
}

/* Series I as one path: lines or steps, broken where a value is none;
 * drawn in the style of series STYLE. */
static void series_path(struct rd_html *h, const struct frame *f, enum rd_chart_shape shape,
                        const int64_t *t, size_t n, const double *y, size_t style)
{
        char a[RD_HTML_NUM], b[RD_HTML_NUM];
        bool pen = false;

        rd_html_raw(h, "<path class=\"series\" d=\"");
        for (size_t j = 0; j < n; j++) {
                chart_co(chart_px(f, (double)t[j]), a);
                if (!isfinite(y[j])) {
                        if (pen && shape == RD_CHART_STEP)
                                rd_html_rawf(h, "H%s", a);
                        pen = false;
                        continue;
                }
                chart_co(chart_py(f, y[j]), b);
                if (!pen)
                        rd_html_rawf(h, "M%s %s", a, b);
                else if (shape == RD_CHART_STEP)
                        rd_html_rawf(h, "H%sV%s", a, b);
                else
                        rd_html_rawf(h, "L%s %s", a, b);
                pen = true;
        }
        rd_html_raw(h, "\"");
        chart_line_attrs(h, style);
        rd_html_raw(h, "/>\n");
}

/* The markers of series I of NS (drawn in the style of series STYLE): on
 * every point when there are few, else on about ten, shifted per series
 * so that they do not sit on each other; always on a point that stands
 * alone. One path, or none. */
static void series_marks(struct rd_html *h, const struct frame *f, const int64_t *t, size_t n,
                         const double *y, size_t i, size_t ns, size_t style)
{
        size_t every = n <= 20 ? 1 : (n + 9) / 10, shift = i * every / ns;
        char a[RD_HTML_NUM], b[RD_HTML_NUM];
        bool open = false;

        for (size_t j = 0; j < n; j++) {
                bool alone = (j == 0 || !isfinite(y[j - 1])) && (j + 1 == n || !isfinite(y[j + 1]));
                if (!isfinite(y[j]) || (j % every != shift && !alone))
                        continue;
                if (!open)
                        rd_html_raw(h, "<path class=\"marks\" d=\"");
                open = true;
                rd_html_rawf(h, "M%s %s%s", chart_co(chart_px(f, (double)t[j]), a),
                             chart_co(chart_py(f, y[j]), b), chart_mark(style));
        }
        if (!open)
                return;
        rd_html_raw(h, "\"");
        chart_mark_attrs(h, style);
        rd_html_raw(h, "/>\n");
}

/* Check N times T: ascending, within T_LIMIT; *WITH_TIME: one is not at
 * midnight. 0 or the page's error. */
static int check_times(struct rd_html *h, const int64_t *t, size_t n, bool *with_time)
{
        *with_time = false;
        for (size_t j = 0; j < n; j++) {
                if (t[j] < -T_LIMIT || t[j] > T_LIMIT || (j > 0 && t[j] < t[j - 1]))
                        return rd_html_fail(h, -EINVAL);
                *with_time = *with_time || t[j] % DAY_MS != 0;
        }
        return h->err;
}

/* A frame W wide with a plot PLOT_H high over whole UTC days from T[0] to
 * T[N - 1], the y scale from VMIN to VMAX. */
static void time_frame(struct frame *f, double w, double plot_h, const struct rd_chart *c,
                       const int64_t *t, size_t n, double vmin, double vmax)
{
        f->w = w;
        f->plot_h = plot_h;
        chart_y_scale(f, vmin, vmax, c->decimals, 46);
        f->right = 46; /* half a date label */
        f->top = c->y_label ? 58 : 36;
        f->x0 = (double)day_floor(t[0]);
        f->x1 = (double)day_floor(t[n - 1] + DAY_MS - 1);
        if (f->x1 <= f->x0)
                f->x1 = f->x0 + (double)DAY_MS;
}

/* "from DATE to DATE" of the N times T into BUF. */
static char *time_about(const int64_t *t, size_t n, bool with_time, char buf[3 * RD_HTML_NUM])
{
        char d0[RD_HTML_NUM], d1[RD_HTML_NUM];
        snprintf(buf, 3 * RD_HTML_NUM, "from %s to %s", rd_html_fmt_date(t[0], with_time, d0),
                 rd_html_fmt_date(t[n - 1], with_time, d1));
        return buf;
}

/* Check the arguments of a chart over time and find its values' range
 * (*VMIN, *VMAX) and whether a time is not at midnight (*WITH_TIME).
 * Returns 1 when there is something to draw; 0 when there is not (the
 * sentence that says so is written); or the page's error. */
static int time_args(struct rd_html *h, const struct rd_chart *c, const int64_t *t, size_t n,
                     const struct rd_chart_series *s, size_t ns, bool *with_time, double *vmin,
                     double *vmax)
{
        if (ns > RD_CHART_SERIES_MAX)
                return rd_html_fail(h, -EINVAL);
        if (check_times(h, t, n, with_time))
                return h->err;
        if (!n || !ns || !chart_value_range(s, ns, n, vmin, vmax))
                return chart_no_figures(h, c);
        return 1;
}

int rd_chart_time(struct rd_html *h, const struct rd_chart *c, enum rd_chart_shape shape,
                  const int64_t *t, size_t n, const struct rd_chart_series *s, size_t ns)
{
        struct frame f = {0};
        double vmin = 0, vmax = 0;
        char about[3 * RD_HTML_NUM];
        bool with_time;
        int r = time_args(h, c, t, n, s, ns, &with_time, &vmin, &vmax);

        if (r <= 0)
                return r;
        time_frame(&f, CHART_W, CHART_PLOT_H, c, t, n, vmin, vmax);
        f.id = rd_html_new_id(h);
        chart_frame_under(&f, c->x_label, s, ns, CHART_ROW + 4);
        rd_html_raw(h, "<figure class=\"chart\">\n");
        chart_svg_open(h, &f, c->title, NULL, c->y_label, shape == RD_CHART_STEP ? "Step" : "Line",
                       s, ns, time_about(t, n, with_time, about), false);
        chart_y_axis(h, &f);
        time_axis(h, &f);
        for (size_t i = 0; i < ns; i++) {
                series_path(h, &f, shape, t, n, s[i].y, i);
                series_marks(h, &f, t, n, s[i].y, i, ns, i);
        }
        chart_svg_close(h, &f, c->x_label, s, ns, false);
        chart_table(h, c, with_time ? "time (UTC)" : "date (UTC)", NULL, NULL, t, with_time, n, s,
                    ns);
        return rd_html_raw(h, "</figure>\n");
}

/* ---- a panel per series ------------------------------------------------------ */

/* The dashed line at LIMIT across the panel, named NAME at its right end. */
static void limit_line(struct rd_html *h, const struct frame *f, double limit, const char *name)
{
        char num[RD_HTML_NUM], text[PANEL_HEAD];
        double y = chart_py(f, limit);

        if (!isfinite(limit))
                return;
        chart_line(h, "limit", f->left, y, f->w - f->right, y);
        snprintf(text, sizeof text, "%s %s", name, rd_html_fmt_num(limit, f->dec, num));
        chart_label(h, f->w - f->right, y - 5, "end", " class=\"halo\"", text);
}

/* One panel: series I alone in frame F (its id still to be given). */
static void panel(struct rd_html *h, struct frame *f, const struct rd_chart *c,
                  enum rd_chart_shape shape, const int64_t *t, size_t n,
                  const struct rd_chart_series *s, const double *limits, const char *limit_name,
                  const char *about)
{
        f->id = rd_html_new_id(h);
        chart_svg_open(h, f, c->title, s->name, NULL, shape == RD_CHART_STEP ? "Step" : "Line", s,
                       1, about, false);
        chart_y_axis(h, f);
        time_axis(h, f);
        if (limits)
                limit_line(h, f, *limits, limit_name);
        series_path(h, f, shape, t, n, s->y, 0);
        series_marks(h, f, t, n, s->y, 0, 1, 0);
        chart_svg_close(h, f, NULL, s, 1, false);
}

/* The table's heads of panels: "NAME (LIMIT_NAME LIMIT)". */
static void panel_heads(const struct rd_chart_series *s, size_t ns, const double *limits,
                        const char *limit_name, int decimals, char (*buf)[PANEL_HEAD],
                        const char **heads)
{
        char num[RD_HTML_NUM];
        for (size_t i = 0; i < ns; i++) {
                heads[i] = s[i].name;
                if (!limits || !isfinite(limits[i]))
                        continue;
                snprintf(buf[i], PANEL_HEAD, "%s (%s %s)", s[i].name, limit_name,
                         rd_html_fmt_num(limits[i], decimals, num));
                heads[i] = buf[i];
        }
}

int rd_chart_time_panels(struct rd_html *h, const struct rd_chart *c, enum rd_chart_shape shape,
                         const int64_t *t, size_t n, const struct rd_chart_series *s, size_t ns,
                         const double *limits, const char *limit_name)
{
        struct frame f = {0};
        struct rd_chart_series ls = {"", limits};
        double vmin = 0, vmax = 0, lmin = 0, lmax = 0;
        char about[3 * RD_HTML_NUM], hbuf[RD_CHART_SERIES_MAX][PANEL_HEAD];
        const char *heads[RD_CHART_SERIES_MAX];
        bool with_time;
        int r = time_args(h, c, t, n, s, ns, &with_time, &vmin, &vmax);

        if (r <= 0)
                return r;
        if (limits && chart_value_range(&ls, 1, ns, &lmin, &lmax)) {
                vmin = fmin(vmin, lmin);
                vmax = fmax(vmax, lmax);
        }
        time_frame(&f, PANEL_W, PANEL_PLOT_H, c, t, n, vmin, vmax);
        f.top = 40;
        chart_frame_under(&f, false, s, 1, CHART_ROW + 4);
        time_about(t, n, with_time, about);
        rd_html_raw(h, "<figure class=\"chart\">\n<figcaption>");
        rd_html_text(h, c->title);
        if (c->y_label)
                rd_html_textf(h, " (%s)", c->y_label);
        rd_html_raw(h, "</figcaption>\n<div class=\"panels\">\n");
        for (size_t i = 0; i < ns; i++)
                panel(h, &f, c, shape, t, n, &s[i], limits ? &limits[i] : NULL,
                      limit_name ? limit_name : "limit", about);
        rd_html_raw(h, "</div>\n");
        panel_heads(s, ns, limits, limit_name ? limit_name : "limit", c->decimals, hbuf, heads);
        chart_table(h, c, with_time ? "time (UTC)" : "date (UTC)", heads, NULL, t, with_time, n, s,
                    ns);
        return rd_html_raw(h, "</figure>\n");
}
