/* svgchart_bars.c: bar charts and histograms (svgchart.h); the frame is
 * svgchart_frame.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "svgchart_impl.h"

#define LABEL_TILT 35.0 /* degrees of category labels too wide to stand level */

/* Lay out N category labels under the plot: level when the widest fits
 * its slot, else all tilted (only every Nth when even so they would
 * crowd), with the left margin widened so that each starts inside the
 * chart. Returns their height. */
static double category_layout(struct frame *f, const char *const *labels, size_t n)
{
        double widest = 0, rad = LABEL_TILT * M_PI / 180;

        for (size_t j = 0; j < n; j++)
                widest = fmax(widest, chart_text_w(labels[j]));
        if (widest <= chart_plot_w(f) / (double)n - 8)
                return CHART_ROW + 4;
        for (size_t j = 0; j < n; j++) {
                /* label j ends at left + (j + 1/2) slot + 3, slot = (w - right - left) / n,
                 * and must start at 6 or more */
                double a = ((double)j + 0.5) / (double)n;
                double need =
                        (chart_text_w(labels[j]) * cos(rad) + 3 - a * (f->w - f->right)) / (1 - a);
                f->left = fmax(f->left, need);
        }
        f->tilt_every = (int)ceil(15 / (chart_plot_w(f) / (double)n * sin(rad)));
        return widest * sin(rad) + 12 * cos(rad) + 12;
}

static void category_axis(struct rd_html *h, const struct frame *f, const char *const *labels,
                          size_t n)
{
        char attrs[4 * RD_HTML_NUM], a[RD_HTML_NUM], b[RD_HTML_NUM];
        double y = chart_bottom(f) + (f->tilt_every ? 12 : 19);

        for (size_t j = 0; j < n; j++) {
                double x = chart_px(f, (double)j + 0.5);
                if (!f->tilt_every) {
                        chart_label(h, x, y, "middle", "", labels[j]);
                } else if (j % (size_t)f->tilt_every == 0) {
                        snprintf(attrs, sizeof attrs, " transform=\"rotate(-%d %s %s)\"",
                                 (int)LABEL_TILT, chart_co(x + 3, a), chart_co(y, b));
                        chart_label(h, x + 3, y, "end", attrs, labels[j]);
                }
        }
}

/* The bars: in each category's slot a group of NS bars from 0. */
static void bars_draw(struct rd_html *h, const struct frame *f, size_t n,
                      const struct rd_chart_series *s, size_t ns)
{
        double slot = chart_plot_w(f) / (double)n, group = fmin(slot * 0.76, 60.0 * (double)ns);
        double bw = group / (double)ns, base = chart_py(f, 0);
        char a[RD_HTML_NUM], b[RD_HTML_NUM], c[RD_HTML_NUM], d[RD_HTML_NUM];

        for (size_t j = 0; j < n; j++)
                for (size_t i = 0; i < ns; i++) {
                        double v = s[i].y[j], x, y;
                        if (!isfinite(v))
                                continue;
                        x = f->left + (double)j * slot + (slot - group) / 2 + (double)i * bw;
                        y = chart_py(f, v);
                        rd_html_rawf(h,
                                     "<rect class=\"bar\" x=\"%s\" y=\"%s\" width=\"%s\" "
                                     "height=\"%s\"",
                                     chart_co(x, a), chart_co(fmin(y, base), b),
                                     chart_co(bw > 4 ? bw - 1 : bw, c),
                                     chart_co(fabs(base - y), d));
                        chart_bar_attrs(h, f->id, i);
                        rd_html_raw(h, "/>\n");
                }
}

int rd_chart_bars(struct rd_html *h, const struct rd_chart *c, const char *const *labels, size_t n,
                  const struct rd_chart_series *s, size_t ns)
{
        struct frame f = {.w = CHART_W, .plot_h = CHART_PLOT_H, .right = 16};
        double vmin = 0, vmax = 0;
        char about[RD_HTML_NUM];

        if (ns > RD_CHART_SERIES_MAX)
                return rd_html_fail(h, -EINVAL);
        if (h->err)
                return h->err;
        if (!n || !ns || !chart_value_range(s, ns, n, &vmin, &vmax))
                return chart_no_figures(h, c);
        f.id = rd_html_new_id(h);
        chart_y_scale(&f, vmin, vmax, c->decimals, 40);
        f.top = c->y_label ? 58 : 36;
        f.x1 = (double)n;
        chart_frame_under(&f, c->x_label, s, ns, category_layout(&f, labels, n));
        snprintf(about, sizeof about, "in %zu categories", n);
        rd_html_raw(h, "<figure class=\"chart\">\n");
        chart_svg_open(h, &f, c->title, NULL, c->y_label, "Bar", s, ns, about, true);
        chart_y_axis(h, &f);
        category_axis(h, &f, labels, n);
        bars_draw(h, &f, n, s, ns);
        chart_svg_close(h, &f, c->x_label, s, ns, true);
        chart_table(h, c, "category", NULL, labels, NULL, false, n, s, ns);
        return rd_html_raw(h, "</figure>\n");
}

/* ---- histograms ---------------------------------------------------------------- */

/* The labels of NB buckets of WIDTH: "0–7", "7–14", ..., "70+". */
static void bucket_labels(double width, size_t nb, char (*text)[2 * RD_HTML_NUM + 4],
                          const char **labels)
{
        char a[RD_HTML_NUM], b[RD_HTML_NUM];
        int dec = 0;

        while (dec < 3 && fabs(width * pow(10, dec) - round(width * pow(10, dec))) > 1e-9)
                dec++;
        for (size_t k = 0; k < nb; k++) {
                rd_html_fmt_num((double)k * width, dec, a);
                rd_html_fmt_num((double)(k + 1) * width, dec, b);
                if (k + 1 < nb)
                        snprintf(text[k], sizeof text[k], "%s\xe2\x80\x93%s", a, b); /* en dash */
                else
                        snprintf(text[k], sizeof text[k], "%s+", a);
                labels[k] = text[k];
        }
}

int rd_chart_histogram(struct rd_html *h, const struct rd_chart *c, double width, size_t nbuckets,
                       const struct rd_chart_sample *s, size_t ns)
{
        double counts[RD_CHART_SERIES_MAX][RD_CHART_BUCKETS_MAX] = {{0}};
        char text[RD_CHART_BUCKETS_MAX][2 * RD_HTML_NUM + 4];
        const char *labels[RD_CHART_BUCKETS_MAX];
        struct rd_chart_series series[RD_CHART_SERIES_MAX];
        struct rd_chart cc = *c;

        if (!isfinite(width) || width <= 0 || nbuckets == 0 || nbuckets > RD_CHART_BUCKETS_MAX ||
            ns > RD_CHART_SERIES_MAX)
                return rd_html_fail(h, -EINVAL);
        for (size_t i = 0; i < ns; i++) {
                for (size_t k = 0; k < s[i].n; k++) {
                        double q = floor(s[i].v[k] / width);
                        if (!isfinite(s[i].v[k]))
                                continue;
                        counts[i][q <= 0                        ? 0
                                  : q >= (double)(nbuckets - 1) ? nbuckets - 1
                                                                : (size_t)q]++;
                }
                series[i] = (struct rd_chart_series){s[i].name, counts[i]};
        }
        bucket_labels(width, nbuckets, text, labels);
        cc.decimals = 0;
        return rd_chart_bars(h, &cc, labels, nbuckets, series, ns);
}
