/* svgchart_frame.c: the frame of every chart (svgchart_impl.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "svgchart_impl.h"

/* Series styles: colour i % 8, dash i % 4, marker i % 5 (lines), fill
 * pattern i % 5 (bars). Okabe and Ito's colours, told apart by most
 * colour-blind readers; the dashes, markers and hatches tell them apart
 * in black and white. */
static const char *const COLOURS[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                      "#e69f00", "#56b4e9", "#000000", "#7f7f7f"};
static const char *const DASHES[] = {"", " stroke-dasharray=\"7 3\"", " stroke-dasharray=\"2 2\"",
                                     " stroke-dasharray=\"9 3 2 3\""};
/* Marker paths relative to the point; the last (a cross) is stroked. */
static const char *const MARKS[] = {
        "m-3.5 0a3.5 3.5 0 1 0 7 0a3.5 3.5 0 1 0 -7 0z", "m-3 -3h6v6h-6z", "m0 -4.2l4 7h-8z",
        "m0 -4.5l4.5 4.5l-4.5 4.5l-4.5 -4.5z", "m-3.5 -3.5l7 7m0 -7l-7 7"};
#define MARK_CROSS 4
/* Bar fills: solid, then patterns of lines (turn, path), one per marker. */
static const char *const HATCHES[][2] = {
        {NULL, NULL}, {"45", "M3 0V6"}, {"-45", "M3 0V6"}, {"0", "M3 0V6"}, {"45", "M3 0V6M0 3H6"}};
RD_TABLE_COVERS(HATCHES, RD_ELEMENTSOF(MARKS));

/* ---- coordinates and text ---------------------------------------------------- */

double chart_plot_w(const struct frame *f)
{
        return f->w - f->left - f->right;
}

double chart_bottom(const struct frame *f)
{
        return f->top + f->plot_h;
}

double chart_px(const struct frame *f, double x)
{
        return f->left + (x - f->x0) / (f->x1 - f->x0) * chart_plot_w(f);
}

double chart_py(const struct frame *f, double y)
{
        return chart_bottom(f) - (y - f->lo) / (f->hi - f->lo) * f->plot_h;
}

char *chart_co(double v, char buf[RD_HTML_NUM])
{
        size_t n = strlen(rd_html_fmt_num(v, 1, buf));
        if (n > 2 && strcmp(buf + n - 2, ".0") == 0)
                buf[n - 2] = '\0';
        return buf;
}

double chart_text_w(const char *text)
{
        size_t n = 0;
        for (const char *p = text ? text : ""; *p; p++)
                n += ((unsigned char)*p & 0xc0) != 0x80;
        return (double)n * CHART_CH;
}

void chart_label(struct rd_html *h, double x, double y, const char *anchor, const char *attrs,
                 const char *text)
{
        char a[RD_HTML_NUM], b[RD_HTML_NUM];
        rd_html_rawf(h, "<text x=\"%s\" y=\"%s\"", chart_co(x, a), chart_co(y, b));
        if (strcmp(anchor, "start") != 0)
                rd_html_rawf(h, " text-anchor=\"%s\"", anchor);
        rd_html_rawf(h, "%s>", attrs);
        rd_html_text(h, text);
        rd_html_raw(h, "</text>\n");
}

void chart_line(struct rd_html *h, const char *cls, double x1, double y1, double x2, double y2)
{
        char a[RD_HTML_NUM], b[RD_HTML_NUM], c[RD_HTML_NUM], d[RD_HTML_NUM];
        rd_html_rawf(h, "<line class=\"%s\" x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>\n", cls,
                     chart_co(x1, a), chart_co(y1, b), chart_co(x2, c), chart_co(y2, d));
}

/* ---- series styles ------------------------------------------------------------- */

static const char *colour(size_t i)
{
        return COLOURS[i % RD_ELEMENTSOF(COLOURS)];
}

void chart_line_attrs(struct rd_html *h, size_t i)
{
        rd_html_rawf(h, " fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s", colour(i),
                     DASHES[i % RD_ELEMENTSOF(DASHES)]);
}

const char *chart_mark(size_t i)
{
        return MARKS[i % RD_ELEMENTSOF(MARKS)];
}

void chart_mark_attrs(struct rd_html *h, size_t i)
{
        if (i % RD_ELEMENTSOF(MARKS) == MARK_CROSS)
                rd_html_rawf(h, " fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"", colour(i));
        else
                rd_html_rawf(h, " fill=\"%s\"", colour(i));
}

void chart_bar_attrs(struct rd_html *h, unsigned id, size_t i)
{
        if (i > 0 && HATCHES[i % RD_ELEMENTSOF(HATCHES)][0])
                rd_html_rawf(h, " fill=\"url(#c%u-p%zu)\"", id, i);
        else
                rd_html_rawf(h, " fill=\"%s\"", colour(i));
        rd_html_rawf(h, " stroke=\"%s\"", colour(i));
}

/* The fill patterns of NS series' bars in chart ID. */
static void bar_patterns(struct rd_html *h, unsigned id, size_t ns)
{
        for (size_t i = 1; i < ns; i++) {
                const char *const *p = HATCHES[i % RD_ELEMENTSOF(HATCHES)];
                if (p[0])
                        rd_html_rawf(h,
                                     "<defs><pattern id=\"c%u-p%zu\" width=\"6\" height=\"6\" "
                                     "patternUnits=\"userSpaceOnUse\" "
                                     "patternTransform=\"rotate(%s)\"><rect width=\"6\" "
                                     "height=\"6\" fill=\"#fff\"/><path d=\"%s\" stroke=\"%s\" "
                                     "stroke-width=\"2\"/></pattern></defs>\n",
                                     id, i, p[0], p[1], colour(i));
        }
}

/* ---- the y scale ---------------------------------------------------------------- */

bool chart_value_range(const struct rd_chart_series *s, size_t ns, size_t n, double *min,
                       double *max)
{
        bool any = false;
        for (size_t i = 0; i < ns; i++)
                for (size_t j = 0; j < n; j++) {
                        double v = s[i].y[j];
                        if (!isfinite(v))
                                continue;
                        *min = any ? fmin(*min, v) : v;
                        *max = any ? fmax(*max, v) : v;
                        any = true;
                }
        return any;
}

void chart_y_scale(struct frame *f, double vmin, double vmax, int decimals, double least)
{
        double raw, mag, fr, finest = pow(10, -(decimals < 0 ? 0 : decimals > 6 ? 6 : decimals));
        char num[RD_HTML_NUM];

        vmin = fmin(vmin, 0);
        vmax = fmax(vmax, 0);
        raw = (vmax - vmin > 0 ? vmax - vmin : 1) / fmax(2, floor(f->plot_h / 40));
        mag = pow(10, floor(log10(raw)));
        fr = raw / mag;
        f->step = fmax(finest, (fr <= 1 ? 1 : fr <= 2 ? 2 : fr <= 5 ? 5 : 10) * mag);
        f->lo = floor(vmin / f->step) * f->step;
        f->hi = ceil(vmax / f->step) * f->step;
        if (f->hi <= f->lo)
                f->hi = f->lo + f->step;
        f->dec = f->step >= 1 ? 0 : (int)ceil(-log10(f->step) - 1e-9);
        f->left = fmax(least, fmax(chart_text_w(rd_html_fmt_num(f->lo, f->dec, num)),
                                   chart_text_w(rd_html_fmt_num(f->hi, f->dec, num))) +
                                      14);
}

void chart_y_axis(struct rd_html *h, const struct frame *f)
{
        long nt = lround((f->hi - f->lo) / f->step);
        char num[RD_HTML_NUM];

        /* fewer labels where the plot is low: at least two lines apart */
        long every = (long)ceil(2 * CHART_ROW / (f->plot_h / (double)nt));
        for (long k = 0; k <= nt; k++) {
                double v = f->lo + (double)k * f->step, y = chart_py(f, v);
                if (k > 0)
                        chart_line(h, "grid", f->left, y, f->w - f->right, y);
                if (k % every == 0)
                        chart_label(h, f->left - 6, y + 4, "end", "",
                                    rd_html_fmt_num(v, f->dec, num));
        }
        chart_line(h, "axis", f->left, f->top, f->left, chart_bottom(f));
        chart_line(h, "axis", f->left, chart_py(f, 0), f->w - f->right, chart_py(f, 0));
}

/* ---- around the plot -------------------------------------------------------------- */

void chart_frame_under(struct frame *f, bool with_xlabel, const struct rd_chart_series *s,
                       size_t ns, double labels_h)
{
        double at = 0;
        int r = 0;

        for (size_t i = 0; i < ns; i++) {
                double w = 36 + chart_text_w(s[i].name) + 18;
                if (at > 0 && at + w > chart_plot_w(f)) {
                        r++;
                        at = 0;
                }
                f->legend_x[i] = at;
                f->legend_row[i] = r;
                at += w;
        }
        f->legend_rows = ns > 1 ? r + 1 : 0;
        f->xlabel_y = chart_bottom(f) + labels_h + 14;
        f->under = labels_h + (with_xlabel ? CHART_ROW : 0);
        f->legend_y = chart_bottom(f) + f->under + 14;
        f->under += f->legend_rows * CHART_ROW + (f->legend_rows ? 8 : 0) + 6;
}

void chart_svg_open(struct rd_html *h, const struct frame *f, const char *title, const char *sub,
                    const char *y_label, const char *kind, const struct rd_chart_series *s,
                    size_t ns, const char *about, bool bars)
{
        char a[RD_HTML_NUM], b[RD_HTML_NUM];
        unsigned id = f->id;

        chart_co(f->w, a);
        chart_co(chart_bottom(f) + f->under, b);
        rd_html_rawf(h,
                     "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%s\" height=\"%s\" "
                     "viewBox=\"0 0 %s %s\" role=\"img\" aria-labelledby=\"c%u-t\" "
                     "aria-describedby=\"c%u-d\">\n<title id=\"c%u-t\">",
                     a, b, a, b, id, id, id);
        rd_html_text(h, title);
        if (sub)
                rd_html_textf(h, ": %s", sub);
        rd_html_rawf(h, "</title>\n<desc id=\"c%u-d\">", id);
        rd_html_textf(h, "%s chart of ", kind);
        for (size_t i = 0; i < ns; i++)
                rd_html_textf(h, "%s%s", i ? ", " : "", s[i].name);
        rd_html_textf(h, " %s; the table after it holds its figures.", about);
        rd_html_raw(h, "</desc>\n");
        if (bars)
                bar_patterns(h, id, ns);
        chart_label(h, 8, 20, "start", " class=\"title\"", sub ? sub : title);
        if (y_label)
                chart_label(h, 8, f->top - 14, "start", "", y_label);
}

void chart_svg_close(struct rd_html *h, const struct frame *f, const char *x_label,
                     const struct rd_chart_series *s, size_t ns, bool bars)
{
        char a[RD_HTML_NUM], b[RD_HTML_NUM];

        if (x_label)
                chart_label(h, f->left + chart_plot_w(f) / 2, f->xlabel_y, "middle", "", x_label);
        for (size_t i = 0; f->legend_rows && i < ns; i++) {
                rd_html_rawf(h, "<g class=\"legend\" transform=\"translate(%s %s)\">",
                             chart_co(f->left + f->legend_x[i], a),
                             chart_co(f->legend_y + f->legend_row[i] * CHART_ROW, b));
                if (bars) {
                        rd_html_raw(h, "<rect x=\"7\" y=\"-6\" width=\"16\" height=\"12\"");
                        chart_bar_attrs(h, f->id, i);
                } else {
                        rd_html_raw(h, "<path d=\"M0 0H30\"");
                        chart_line_attrs(h, i);
                        rd_html_rawf(h, "/><path d=\"M15 0%s\"", chart_mark(i));
                        chart_mark_attrs(h, i);
                }
                rd_html_raw(h, "/>");
                chart_label(h, bars ? 30 : 36, 4, "start", "", s[i].name);
                rd_html_raw(h, "</g>\n");
        }
        rd_html_raw(h, "</svg>\n");
}

/* ---- the figures -------------------------------------------------------------------- */

int chart_no_figures(struct rd_html *h, const struct rd_chart *c)
{
        return rd_html_paraf(h, "%s: no figures to draw.", c->title);
}

void chart_table(struct rd_html *h, const struct rd_chart *c, const char *first,
                 const char *const *heads, const char *const *labels, const int64_t *t,
                 bool with_time, size_t n, const struct rd_chart_series *s, size_t ns)
{
        const char *hd[RD_HTML_COLS_MAX];
        char align[RD_HTML_COLS_MAX + 1], date[RD_HTML_NUM];

        hd[0] = c->x_label ? c->x_label : first;
        align[0] = 'l';
        for (size_t i = 0; i < ns; i++) {
                hd[i + 1] = heads ? heads[i] : s[i].name;
                align[i + 1] = 'r';
        }
        align[ns + 1] = '\0';
        if (n > CHART_TABLE_OPEN)
                rd_html_rawf(h, "<details><summary>The figures in a table (%zu rows)</summary>\n",
                             n);
        rd_html_table_begin(h, c->title, align, hd);
        for (size_t j = 0; j < n; j++) {
                rd_html_row(h);
                rd_html_cell(h, labels ? labels[j] : rd_html_fmt_date(t[j], with_time, date));
                for (size_t i = 0; i < ns; i++)
                        rd_html_cell_num(h, s[i].y[j], c->decimals);
        }
        rd_html_table_end(h);
        if (n > CHART_TABLE_OPEN)
                rd_html_raw(h, "</details>\n");
}
