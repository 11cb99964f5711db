/* svgchart_impl.h: what the parts of lib/svgchart share, not for other
 * modules.
 *
 *   svgchart_frame.c  the frame of every chart: coordinates, text, series
 *                     styles, the y scale and axis, the svg's head (title,
 *                     description, patterns) and foot (x label, legend),
 *                     the table of figures
 *   svgchart.c        charts over time: one plot, or a panel per series
 *   svgchart_bars.c   bar charts and histograms
 *
 * A chart is laid out in a viewBox w wide: the title, the y label, the plot
 * area (margins computed from the labels' estimated widths), the x tick
 * labels, the x label and the legend under it. Text widths are estimated
 * at CHART_CH per character of 12px text (the page's CSS, lib/html.c), a
 * little more than DejaVu Sans needs, so that estimated room is real room. */
#ifndef RD_SVGCHART_IMPL_H
#define RD_SVGCHART_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "html.h"
#include "svgchart.h"

#define CHART_W 720.0       /* the viewBox's width of a chart */
#define CHART_PLOT_H 200.0  /* the plot area's height */
#define CHART_CH 7.5        /* the width of a character of 12px text, estimated high */
#define CHART_ROW 19.0      /* a line of labels, of the legend */
#define CHART_TABLE_OPEN 31 /* a table of more rows is folded (<details>) */

/* Where a chart's parts go. x0, x1: the x domain (time: ms; bars: 0 to
 * the number of categories). */
struct frame {
        unsigned id;
        double w, plot_h;
        double left, right, top; /* margins of the plot area */
        double x0, x1;
        double lo, hi, step; /* the y scale */
        int dec;             /* decimals of its tick labels */
        double under;        /* the height under the plot area */
        double xlabel_y;     /* the x label's baseline */
        double legend_y;     /* the middle of the legend's first line */
        int tilt_every;      /* bar charts: 0, labels level; else tilted, every Nth shown */
        int legend_rows;     /* 0: no legend */
        double legend_x[RD_CHART_SERIES_MAX];
        int legend_row[RD_CHART_SERIES_MAX];
};

/* ---- coordinates and text ---- */
double chart_plot_w(const struct frame *f);
double chart_bottom(const struct frame *f); /* the y of the x axis's line */
double chart_px(const struct frame *f, double x);
double chart_py(const struct frame *f, double y);
/* V as a coordinate: one decimal, none when it is ".0". Returns BUF. */
char *chart_co(double v, char buf[RD_HTML_NUM]);
/* The estimated width of TEXT (code points times CHART_CH). */
double chart_text_w(const char *text);
/* <text> at X, Y with ANCHOR ("start", "middle", "end") and ATTRS (the
 * program's own markup, may be "") holding TEXT, escaped. */
void chart_label(struct rd_html *h, double x, double y, const char *anchor, const char *attrs,
                 const char *text);
/* <line class="CLS"> from (X1, Y1) to (X2, Y2). */
void chart_line(struct rd_html *h, const char *cls, double x1, double y1, double x2, double y2);

/* ---- series styles: colour, dash and marker of lines; fill of bars ---- */
void chart_line_attrs(struct rd_html *h, size_t i);
const char *chart_mark(size_t i); /* the marker's path, relative to its point */
void chart_mark_attrs(struct rd_html *h, size_t i);
void chart_bar_attrs(struct rd_html *h, unsigned id, size_t i);

/* ---- the y scale ---- */
/* The least and greatest finite value of N points of NS series into *MIN
 * and *MAX (left alone when there is none); false when there is none. */
bool chart_value_range(const struct rd_chart_series *s, size_t ns, size_t n, double *min,
                       double *max);
/* A y scale from 0 (or below) to at least VMAX in steps of 1, 2 or 5 times
 * a power of ten, about one per 40 px of f->plot_h (at least two), none
 * finer than 10^-DECIMALS; f->left from its widest tick label, at least
 * LEAST. */
void chart_y_scale(struct frame *f, double vmin, double vmax, int decimals, double least);
/* Grid lines and labels at the y ticks, the axes. */
void chart_y_axis(struct rd_html *h, const struct frame *f);

/* ---- around the plot ---- */
/* Lay out the legend of NS series (none for one), then the space under
 * the plot: LABELS_H for the tick labels, the x label when WITH_XLABEL,
 * the legend. */
void chart_frame_under(struct frame *f, bool with_xlabel, const struct rd_chart_series *s,
                       size_t ns, double labels_h);
/* Open the svg: accessible name TITLE (or "TITLE: SUB"), description
 * "KIND chart of NAMES ABOUT; ...", fill patterns when BARS, the visible
 * title (SUB when given, else TITLE) and Y_LABEL (NULL: none). */
void chart_svg_open(struct rd_html *h, const struct frame *f, const char *title, const char *sub,
                    const char *y_label, const char *kind, const struct rd_chart_series *s,
                    size_t ns, const char *about, bool bars);
/* The x label (NULL: none), the legend (line samples or, when BARS, bar
 * swatches), the end of the svg. */
void chart_svg_close(struct rd_html *h, const struct frame *f, const char *x_label,
                     const struct rd_chart_series *s, size_t ns, bool bars);

/* ---- the figures ---- */
/* A chart without a finite value: a sentence instead. */
int chart_no_figures(struct rd_html *h, const struct rd_chart *c);
/* The table of a chart, folded in a <details> beyond CHART_TABLE_OPEN
 * rows: heads FIRST (c->x_label when given) and HEADS[ns] (NULL: the series'
 * names); a row per point, its first cell LABELS[j] or, when LABELS is
 * NULL, the time T[j] (a date; a date and time when WITH_TIME). */
void chart_table(struct rd_html *h, const struct rd_chart *c, const char *first,
                 const char *const *heads, const char *const *labels, const int64_t *t,
                 bool with_time, size_t n, const struct rd_chart_series *s, size_t ns);

#endif
