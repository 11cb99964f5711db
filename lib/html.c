/* html.c: one self-contained HTML page built in memory (html.h). */
#include "html.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

/* The style sheet: legible on screen; on paper black on white, a page per
 * section, no chart cut in two, table headers repeated. The .chart rules
 * are lib/svgchart's (its text widths assume these font sizes). */
static const char STYLE[] =
        "body{font:15px/1.45 sans-serif;color:#111;background:#fff;margin:0 auto;"
        "max-width:60rem;padding:1rem 1.5rem}\n"
        "h1{font-size:1.6rem;margin:.2rem 0 .6rem}\n"
        "h2{font-size:1.3rem;border-bottom:1px solid #888;margin:2rem 0 .6rem}\n"
        "h3{font-size:1.1rem;margin:1.2rem 0 .4rem}\n"
        "h4{font-size:1rem;margin:1rem 0 .3rem}\n"
        "dl{display:grid;grid-template-columns:max-content auto;gap:.15rem 1.2rem}\n"
        "dt{font-weight:bold}dd{margin:0;font-variant-numeric:tabular-nums}\n"
        "table{border-collapse:collapse;margin:.6rem 0 1.2rem}\n"
        "caption{text-align:left;font-weight:bold;padding:.2rem 0;white-space:nowrap}\n"
        "th,td{border:1px solid #999;padding:.15rem .5rem;text-align:left;vertical-align:top}\n"
        "th{background:#eee}\n"
        ".num{text-align:right;font-variant-numeric:tabular-nums}\n"
        "summary{cursor:pointer;color:#333;margin:.3rem 0}\n"
        "figure{margin:1.2rem 0}\n"
        "figcaption{font-weight:bold;margin:.3rem 0}\n"
        ".chart svg{display:block;width:100%;max-width:720px;height:auto}\n"
        ".chart text{font-family:sans-serif;font-size:12px;fill:#111}\n"
        ".chart text.title{font-size:14px;font-weight:bold}\n"
        ".chart .grid{stroke:#ddd;stroke-width:1}\n"
        ".chart .axis{stroke:#111;stroke-width:1}\n"
        ".chart .limit{stroke:#111;stroke-width:1.5;stroke-dasharray:5 3}\n"
        ".chart text.halo{paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}\n"
        ".chart table{font-size:.9rem}\n"
        ".panels{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));"
        "gap:.4rem 1rem}\n"
        ".panels svg{max-width:360px}\n"
        "@media print{\n"
        "@page{margin:15mm}\n"
        "body{font-size:10.5pt;color:#000;background:#fff;max-width:none;padding:0}\n"
        "h2{border-color:#000;break-after:avoid}\n"
        "h3,h4,caption,figcaption{break-after:avoid}\n"
        "section+section{break-before:page}\n"
        "th{background:none}th,td{border-color:#000}\n"
        "thead{display:table-header-group}tr{break-inside:avoid}\n"
        "summary{color:#000}\n"
        ".chart svg{break-inside:avoid;max-width:100%}\n"
        ".chart text{fill:#000}.chart .grid{stroke:#bbb}.chart .axis{stroke:#000}\n"
        ".panels{grid-template-columns:1fr 1fr}\n"
        "}\n";

/* ---- the buffer ----------------------------------------------------------- */

int rd_html_fail(struct rd_html *h, int err)
{
        if (!h->err)
                h->err = err;
        return h->err;
}

/* Room for N more bytes and the NUL. */
static int reserve(struct rd_html *h, size_t n)
{
        size_t cap = h->cap ? h->cap : 4096;
        char *b;

        if (h->err)
                return h->err;
        if (n > SIZE_MAX / 2 - h->len - 1)
                return rd_html_fail(h, -ENOMEM);
        if (h->len + n + 1 <= h->cap)
                return 0;
        while (cap < h->len + n + 1)
                cap *= 2;
        b = realloc(h->buf, cap);
        if (!b)
                return rd_html_fail(h, -ENOMEM);
        h->buf = b;
        h->cap = cap;
        return 0;
}

static int put(struct rd_html *h, const char *s, size_t n)
{
        if (reserve(h, n))
                return h->err;
        memcpy(h->buf + h->len, s, n);
        h->len += n;
        h->buf[h->len] = '\0';
        return 0;
}

static int vputf(struct rd_html *h, bool escape, const char *fmt, va_list ap)
{
        char *s = NULL;
        int n;

        if (h->err)
                return h->err;
        n = vasprintf(&s, fmt, ap);
        if (n < 0)
                return rd_html_fail(h, -ENOMEM);
        if (escape)
                rd_html_text(h, s);
        else
                put(h, s, (size_t)n);
        free(s);
        return h->err;
}

/* ---- the page -------------------------------------------------------------- */

int rd_html_begin(struct rd_html *h, const char *title)
{
        memset(h, 0, sizeof *h);
        rd_html_raw(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                       "<meta http-equiv=\"Content-Security-Policy\" content=\"" RD_HTML_CSP "\">\n"
                       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                       "<title>");
        rd_html_text(h, title);
        rd_html_raw(h, "</title>\n<style>\n");
        rd_html_raw(h, STYLE);
        rd_html_raw(h, "</style>\n</head>\n<body>\n<h1>");
        rd_html_text(h, title);
        return rd_html_raw(h, "</h1>\n");
}

int rd_html_finish(struct rd_html *h, char **out, size_t *len)
{
        int r;

        if (h->in_dl || h->in_table)
                rd_html_fail(h, -EINVAL);
        if (h->in_section)
                rd_html_raw(h, "</section>\n");
        rd_html_raw(h, "</body>\n</html>\n");
        r = h->err;
        if (r) {
                rd_html_free(h);
                return r;
        }
        *out = h->buf;
        if (len)
                *len = h->len;
        memset(h, 0, sizeof *h);
        return 0;
}

void rd_html_free(struct rd_html *h)
{
        if (!h)
                return;
        free(h->buf);
        memset(h, 0, sizeof *h);
}

unsigned rd_html_new_id(struct rd_html *h)
{
        return ++h->ids;
}

/* ---- text ------------------------------------------------------------------ */

int rd_html_text(struct rd_html *h, const char *text)
{
        const char *run = text;

        if (h->err || !text)
                return h->err;
        for (const char *p = text;; p++) {
                const char *ref = NULL;
                unsigned char c = (unsigned char)*p;

                switch (c) {
                case '&': ref = "&amp;"; break;
                case '<': ref = "&lt;"; break;
                case '>': ref = "&gt;"; break;
                case '"': ref = "&quot;"; break;
                case '\'': ref = "&#39;"; break;
                default:
                        if (c && (c >= 0x20 || c == '\t' || c == '\n') && c != 0x7f)
                                continue;
                        if (c)
                                ref = "?";
                }
                put(h, run, (size_t)(p - run));
                if (!ref)
                        break;
                put(h, ref, strlen(ref));
                run = p + 1;
        }
        return h->err;
}

int rd_html_textf(struct rd_html *h, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vputf(h, true, fmt, ap);
        va_end(ap);
        return h->err;
}

int rd_html_raw(struct rd_html *h, const char *markup)
{
        return put(h, markup, strlen(markup));
}

int rd_html_rawf(struct rd_html *h, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vputf(h, false, fmt, ap);
        va_end(ap);
        return h->err;
}

/* ---- structure ------------------------------------------------------------- */

int rd_html_section(struct rd_html *h, const char *title)
{
        if (h->in_dl || h->in_table)
                return rd_html_fail(h, -EINVAL);
        if (h->in_section)
                rd_html_raw(h, "</section>\n");
        h->in_section = true;
        rd_html_raw(h, "<section>\n");
        return rd_html_heading(h, 2, title);
}

int rd_html_heading(struct rd_html *h, int level, const char *text)
{
        if (level < 2 || level > 4)
                return rd_html_fail(h, -EINVAL);
        rd_html_rawf(h, "<h%d>", level);
        rd_html_text(h, text);
        return rd_html_rawf(h, "</h%d>\n", level);
}

int rd_html_para(struct rd_html *h, const char *text)
{
        rd_html_raw(h, "<p>");
        rd_html_text(h, text);
        return rd_html_raw(h, "</p>\n");
}

int rd_html_paraf(struct rd_html *h, const char *fmt, ...)
{
        va_list ap;
        rd_html_raw(h, "<p>");
        va_start(ap, fmt);
        vputf(h, true, fmt, ap);
        va_end(ap);
        return rd_html_raw(h, "</p>\n");
}

int rd_html_dl_begin(struct rd_html *h)
{
        if (h->in_dl || h->in_table)
                return rd_html_fail(h, -EINVAL);
        h->in_dl = true;
        return rd_html_raw(h, "<dl>\n");
}

/* <dt>TERM</dt><dd>: the item up to its value. */
static int dl_term(struct rd_html *h, const char *term)
{
        if (!h->in_dl)
                return rd_html_fail(h, -EINVAL);
        rd_html_raw(h, "<dt>");
        rd_html_text(h, term);
        return rd_html_raw(h, "</dt><dd>");
}

int rd_html_dl_item(struct rd_html *h, const char *term, const char *value)
{
        dl_term(h, term);
        rd_html_text(h, value);
        return rd_html_raw(h, "</dd>\n");
}

int rd_html_dl_itemf(struct rd_html *h, const char *term, const char *fmt, ...)
{
        va_list ap;
        dl_term(h, term);
        va_start(ap, fmt);
        vputf(h, true, fmt, ap);
        va_end(ap);
        return rd_html_raw(h, "</dd>\n");
}

int rd_html_dl_end(struct rd_html *h)
{
        if (!h->in_dl)
                return rd_html_fail(h, -EINVAL);
        h->in_dl = false;
        return rd_html_raw(h, "</dl>\n");
}

/* ---- tables ---------------------------------------------------------------- */

static const char *align_class(char a)
{
        return a == 'r' ? " class=\"num\"" : "";
}

int rd_html_table_begin(struct rd_html *h, const char *caption, const char *align,
                        const char *const *heads)
{
        size_t n = strlen(align);

        if (h->in_dl || h->in_table || n == 0 || n > RD_HTML_COLS_MAX || strspn(align, "lr") != n)
                return rd_html_fail(h, -EINVAL);
        h->in_table = true;
        h->in_row = false;
        h->ncols = n;
        memcpy(h->align, align, n + 1);
        rd_html_raw(h, "<table>\n");
        if (caption) {
                rd_html_raw(h, "<caption>");
                rd_html_text(h, caption);
                rd_html_raw(h, "</caption>\n");
        }
        rd_html_raw(h, "<thead><tr>");
        for (size_t i = 0; i < n; i++) {
                rd_html_rawf(h, "<th scope=\"col\"%s>", align_class(align[i]));
                rd_html_text(h, heads[i]);
                rd_html_raw(h, "</th>");
        }
        return rd_html_raw(h, "</tr></thead>\n<tbody>\n");
}

/* Close the open row; -EINVAL unless it has one cell per column. */
static int row_end(struct rd_html *h)
{
        if (!h->in_row)
                return h->err;
        if (h->col != h->ncols)
                return rd_html_fail(h, -EINVAL);
        h->in_row = false;
        return rd_html_raw(h, "</tr>\n");
}

int rd_html_row(struct rd_html *h)
{
        if (!h->in_table)
                return rd_html_fail(h, -EINVAL);
        row_end(h);
        h->in_row = true;
        h->col = 0;
        return rd_html_raw(h, "<tr>");
}

/* <td> of the next column. */
static int cell_open(struct rd_html *h)
{
        if (!h->in_row || h->col >= h->ncols)
                return rd_html_fail(h, -EINVAL);
        return rd_html_rawf(h, "<td%s>", align_class(h->align[h->col++]));
}

int rd_html_cell(struct rd_html *h, const char *text)
{
        cell_open(h);
        rd_html_text(h, text);
        return rd_html_raw(h, "</td>");
}

int rd_html_cellf(struct rd_html *h, const char *fmt, ...)
{
        va_list ap;
        cell_open(h);
        va_start(ap, fmt);
        vputf(h, true, fmt, ap);
        va_end(ap);
        return rd_html_raw(h, "</td>");
}

int rd_html_cell_num(struct rd_html *h, double v, int decimals)
{
        char num[RD_HTML_NUM];
        return rd_html_cell(h, rd_html_fmt_num(v, decimals, num));
}

int rd_html_table_end(struct rd_html *h)
{
        if (!h->in_table)
                return rd_html_fail(h, -EINVAL);
        row_end(h);
        h->in_table = false;
        return rd_html_raw(h, "</tbody>\n</table>\n");
}

/* ---- figures as text --------------------------------------------------------- */

static const char NONE[] = "\xe2\x80\x94"; /* an em dash: no figure */

char *rd_html_fmt_num(double v, int decimals, char buf[RD_HTML_NUM])
{
        long long scale = 1, q;

        decimals = decimals < 0 ? 0 : decimals > 6 ? 6 : decimals;
        for (int i = 0; i < decimals; i++)
                scale *= 10;
        if (!isfinite(v) || fabs(v) * (double)scale >= 1e18) {
                snprintf(buf, RD_HTML_NUM, "%s", NONE);
                return buf;
        }
        q = llround(fabs(v) * (double)scale);
        if (decimals == 0)
                snprintf(buf, RD_HTML_NUM, "%s%lld", v < 0 && q ? "-" : "", q);
        else
                snprintf(buf, RD_HTML_NUM, "%s%lld.%0*lld", v < 0 && q ? "-" : "", q / scale,
                         decimals, q % scale);
        return buf;
}

char *rd_html_fmt_duration(double seconds, char buf[RD_HTML_NUM])
{
        long long s, m;

        if (!isfinite(seconds) || seconds < 0 || seconds > 1e15) {
                snprintf(buf, RD_HTML_NUM, "%s", NONE);
                return buf;
        }
        s = llround(seconds);
        m = (s + 30) / 60;
        if (s < 60)
                snprintf(buf, RD_HTML_NUM, "%lld s", s);
        else if (m < 60)
                snprintf(buf, RD_HTML_NUM, "%lld min", m);
        else if (m < 24 * 60)
                snprintf(buf, RD_HTML_NUM, "%lld h %lld min", m / 60, m % 60);
        else
                snprintf(buf, RD_HTML_NUM, "%lld d %lld h", (s + 1800) / 3600 / 24,
                         (s + 1800) / 3600 % 24);
        return buf;
}

char *rd_html_fmt_date(int64_t ms, bool time, char buf[RD_HTML_NUM])
{
        char t[RD_TIME_STR];

        rd_time_format(ms, t); /* YYYY-MM-DDTHH:MM:SS.mmmZ */
        if (time)
                snprintf(buf, RD_HTML_NUM, "%.10s %.5s", t, t + 11);
        else
                snprintf(buf, RD_HTML_NUM, "%.10s", t);
        return buf;
}
