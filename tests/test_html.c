/* test_html.c: lib/html (the page: skeleton, CSP, escaping, structure,
 * figures as text) and lib/svgchart (charts as inline SVG with their
 * figures in a table), against tools.md "HTML output".
 *
 * The pages are compared as text: counts of elements, labels, and one
 * small page byte for byte with tests/data/html_small.html
 * (RD_HTML_RECORD=FILE writes it anew instead). That the pages render in
 * Chromium without an error or a request is tests/integration/
 * test_html_render.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "macro.h"
#include "svgchart.h"

#define GOLDEN_FILE RD_TEST_DATA "/html_small.html"
#define DAY INT64_C(86400000)
#define JAN1 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

#define PAGE_START "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"

/* A string with every character the escaper must catch. */
#define NASTY "<b>\"Tom\" & 'Jerry'</b>"
#define NASTY_ESCAPED "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"

static size_t count(const char *text, const char *what)
{
        size_t n = 0;
        for (const char *p = strstr(text, what); p; p = strstr(p + 1, what))
                n++;
        return n;
}

/* The page H finished: its text (the test frees it). */
static char *finished(struct rd_html *h)
{
        char *text = NULL;
        size_t len = 0;
        assert_int_equal(rd_html_finish(h, &text, &len), 0);
        assert_non_null(text);
        assert_int_equal(strlen(text), len);
        return text;
}

/* ---- the page ----------------------------------------------------------------- */

static void test_the_page_has_charset_csp_style_title_and_closes(void **state)
{
        struct rd_html h;
        char *text, *body;
        (void)state;

        assert_int_equal(rd_html_begin(&h, "Weekly report"), 0);
        text = finished(&h);
        assert_true(strncmp(text, PAGE_START, strlen(PAGE_START)) == 0);
        assert_non_null(strstr(
                text, "<meta http-equiv=\"Content-Security-Policy\" content=\"" RD_HTML_CSP "\">"));
        assert_non_null(strstr(text, "<title>Weekly report</title>"));
        assert_non_null(strstr(text, "<h1>Weekly report</h1>"));
        body = strstr(text, "<body>");
        assert_non_null(body);
        assert_true(strstr(text, "Content-Security-Policy") < body);
        assert_true(strstr(text, "<style>") < body);
        assert_non_null(strstr(text, "@media print{"));
        assert_int_equal(strcmp(text + strlen(text) - 16, "</body>\n</html>\n"), 0);
        free(text);
}

static void test_the_csp_forbids_the_network_and_allows_only_inline_style(void **state)
{
        (void)state;
        assert_non_null(strstr(RD_HTML_CSP, "default-src 'none'"));
        assert_non_null(strstr(RD_HTML_CSP, "style-src 'unsafe-inline'"));
        assert_null(strstr(RD_HTML_CSP, "script"));
        assert_null(strstr(RD_HTML_CSP, "http"));
        assert_null(strstr(RD_HTML_CSP, "'self'"));
        assert_null(strstr(RD_HTML_CSP, "*"));
}

/* ---- escaping ---------------------------------------------------------------- */

static void test_text_is_escaped_and_control_characters_replaced(void **state)
{
        struct rd_html h = {0};
        char *text;
        (void)state;

        rd_html_text(&h, NASTY);
        rd_html_text(&h, "|a\tb\nc\x01\x1b[31m\x7f|");
        rd_html_text(&h, "|caf\xc3\xa9 \xe2\x80\x94|");
        rd_html_text(&h, NULL);
        rd_html_textf(&h, "|%s %d|", "<i>", 42);
        assert_int_equal(h.err, 0);
        text = h.buf;
        assert_string_equal(text, NASTY_ESCAPED "|a\tb\nc??[31m?|"
                                                "|caf\xc3\xa9 \xe2\x80\x94|"
                                                "|&lt;i&gt; 42|");
        rd_html_free(&h);
        rd_html_free(NULL);
}

/* Every string the caller gives reaches the page escaped: the title,
 * headings, paragraphs, terms and values, captions, heads, cells, and in
 * charts titles, labels, series names and categories. */
static void test_every_string_given_reaches_the_page_escaped(void **state)
{
        const char *heads[] = {NASTY, NASTY};
        const char *cats[] = {NASTY, "b"};
        const double y[] = {1, 2};
        const int64_t t[] = {JAN1, JAN1 + DAY};
        const struct rd_chart_series s[] = {{NASTY, y}, {NASTY, y}};
        const struct rd_chart c = {NASTY, NASTY, NASTY, 0};
        struct rd_html h;
        char *text;
        (void)state;

        rd_html_begin(&h, NASTY);
        rd_html_section(&h, NASTY);
        rd_html_heading(&h, 3, NASTY);
        rd_html_para(&h, NASTY);
        rd_html_paraf(&h, "%s", NASTY);
        rd_html_dl_begin(&h);
        rd_html_dl_item(&h, NASTY, NASTY);
        rd_html_dl_itemf(&h, NASTY, "%s", NASTY);
        rd_html_dl_end(&h);
        rd_html_table_begin(&h, NASTY, "lr", heads);
        rd_html_row(&h);
        rd_html_cell(&h, NASTY);
        rd_html_cellf(&h, "%s", NASTY);
        rd_html_table_end(&h);
        rd_chart_time(&h, &c, RD_CHART_LINE, t, 2, s, 2);
        rd_chart_bars(&h, &c, cats, 2, s, 2);
        text = finished(&h);
        assert_null(strstr(text, "<b>"));
        assert_null(strstr(text, "Tom\""));
        assert_null(strstr(text, "'Jerry"));
        /* title twice; section, h3, 2 paragraphs, 4 in the list, caption,
         * 2 heads, 2 cells; per chart: <title>, <desc> (2 names), visible
         * title, y label, x label, 2 legend names, caption, 3 heads; one
         * category label and its cell */
        assert_int_equal(count(text, NASTY_ESCAPED),
                         2 + 1 + 1 + 2 + 4 + 1 + 2 + 2 + 2 * (1 + 2 + 1 + 1 + 1 + 2 + 1 + 3) + 2);
        free(text);
}

/* ---- structure ---------------------------------------------------------------- */

static void test_sections_close_each_other_and_the_page_closes_the_last(void **state)
{
        struct rd_html h;
        char *text;
        (void)state;

        rd_html_begin(&h, "r");
        rd_html_section(&h, "One");
        rd_html_para(&h, "a");
        rd_html_section(&h, "Two");
        rd_html_heading(&h, 3, "Two and a half");
        text = finished(&h);
        assert_int_equal(count(text, "<section>"), 2);
        assert_int_equal(count(text, "</section>"), 2);
        assert_non_null(strstr(text, "<section>\n<h2>One</h2>\n<p>a</p>\n</section>\n"
                                     "<section>\n<h2>Two</h2>\n<h3>Two and a half</h3>\n"
                                     "</section>\n</body>"));
        free(text);
}

static void test_a_table_has_a_header_row_and_numbers_right_aligned(void **state)
{
        const char *heads[] = {"connector", "load", "capacity"};
        struct rd_html h;
        char *text;
        (void)state;

        rd_html_begin(&h, "r");
        rd_html_table_begin(&h, "Load", "lrr", heads);
        rd_html_row(&h);
        rd_html_cell(&h, "c-anna");
        rd_html_cell_num(&h, 3, 0);
        rd_html_cellf(&h, "%d", 4);
        rd_html_row(&h);
        rd_html_cell(&h, "c-bert");
        rd_html_cell_num(&h, NAN, 0);
        rd_html_cell_num(&h, 2.25, 1);
        rd_html_table_end(&h);
        text = finished(&h);
        assert_non_null(strstr(
                text, "<table>\n<caption>Load</caption>\n"
                      "<thead><tr><th scope=\"col\">connector</th><th scope=\"col\" "
                      "class=\"num\">load</th><th scope=\"col\" class=\"num\">capacity</th>"
                      "</tr></thead>\n<tbody>\n"
                      "<tr><td>c-anna</td><td class=\"num\">3</td><td class=\"num\">4</td></tr>\n"
                      "<tr><td>c-bert</td><td class=\"num\">\xe2\x80\x94</td>"
                      "<td class=\"num\">2.3</td></tr>\n</tbody>\n</table>\n"));
        free(text);
}

static void test_a_definition_list_holds_terms_and_figures(void **state)
{
        struct rd_html h;
        char *text;
        (void)state;

        rd_html_begin(&h, "r");
        rd_html_dl_begin(&h);
        rd_html_dl_item(&h, "received", "12");
        rd_html_dl_itemf(&h, "waiting", "%d, the oldest since %s", 3, "2026-01-02");
        rd_html_dl_end(&h);
        text = finished(&h);
        assert_non_null(strstr(text, "<dl>\n<dt>received</dt><dd>12</dd>\n"
                                     "<dt>waiting</dt><dd>3, the oldest since 2026-01-02</dd>\n"
                                     "</dl>\n"));
        free(text);
}

/* Build a page with one misuse; finish must refuse it. */
static void misuse(int which)
{
        const char *heads[RD_HTML_COLS_MAX + 1] = {"a", "b"};
        char wide[RD_HTML_COLS_MAX + 2];
        struct rd_html h;
        char *text = (char *)"untouched";

        memset(wide, 'r', sizeof wide - 1);
        wide[sizeof wide - 1] = '\0';
        rd_html_begin(&h, "r");
        if (which == 0) { /* a cell outside a row */
                rd_html_table_begin(&h, NULL, "ll", heads);
                rd_html_cell(&h, "x");
        } else if (which == 1) { /* a row one cell short */
                rd_html_table_begin(&h, NULL, "ll", heads);
                rd_html_row(&h);
                rd_html_cell(&h, "x");
                rd_html_table_end(&h);
        } else if (which == 2) { /* a cell too many */
                rd_html_table_begin(&h, NULL, "l", heads);
                rd_html_row(&h);
                rd_html_cell(&h, "x");
                rd_html_cell(&h, "y");
        } else if (which == 3) { /* a table left open */
                rd_html_table_begin(&h, NULL, "l", heads);
        } else if (which == 4) { /* an item outside a list */
                rd_html_dl_item(&h, "a", "b");
        } else if (which == 5) { /* a section inside a list */
                rd_html_dl_begin(&h);
                rd_html_section(&h, "s");
        } else if (which == 6) {
                rd_html_heading(&h, 5, "too deep");
        } else if (which == 7) { /* too many columns, or a letter that is no alignment */
                rd_html_table_begin(&h, NULL, wide, heads);
        } else {
                rd_html_table_begin(&h, NULL, "lc", heads);
        }
        assert_int_equal(rd_html_finish(&h, &text, NULL), -EINVAL);
        assert_string_equal(text, "untouched");
        assert_null(h.buf);
}

static void test_a_misuse_is_an_error_that_finish_reports(void **state)
{
        (void)state;
        for (int i = 0; i < 9; i++)
                misuse(i);
}

static void test_errors_are_sticky_and_later_calls_write_nothing(void **state)
{
        struct rd_html h;
        size_t len;
        (void)state;

        rd_html_begin(&h, "r");
        assert_int_equal(rd_html_dl_end(&h), -EINVAL);
        len = h.len;
        assert_int_equal(rd_html_para(&h, "more"), -EINVAL);
        assert_int_equal(rd_html_rawf(&h, "<p>%d</p>", 1), -EINVAL);
        assert_int_equal(rd_html_fail(&h, -ENOMEM), -EINVAL);
        assert_int_equal(h.len, len);
        rd_html_free(&h);
}

/* ---- figures as text ---------------------------------------------------------- */

static void test_numbers_are_written_with_a_point_and_none_as_a_dash(void **state)
{
        char b[RD_HTML_NUM];
        (void)state;
        assert_string_equal(rd_html_fmt_num(12, 0, b), "12");
        assert_string_equal(rd_html_fmt_num(2.25, 1, b), "2.3");
        assert_string_equal(rd_html_fmt_num(0.05, 2, b), "0.05");
        assert_string_equal(rd_html_fmt_num(-1.5, 1, b), "-1.5");
        assert_string_equal(rd_html_fmt_num(-0.04, 1, b), "0.0");
        assert_string_equal(rd_html_fmt_num(3.14159, 9, b), "3.141590");
        assert_string_equal(rd_html_fmt_num(NAN, 1, b), "\xe2\x80\x94");
        assert_string_equal(rd_html_fmt_num(INFINITY, 0, b), "\xe2\x80\x94");
        assert_string_equal(rd_html_fmt_num(1e19, 0, b), "\xe2\x80\x94");
}

static void test_durations_are_written_for_a_person(void **state)
{
        char b[RD_HTML_NUM];
        (void)state;
        assert_string_equal(rd_html_fmt_duration(40, b), "40 s");
        assert_string_equal(rd_html_fmt_duration(12 * 60 + 10, b), "12 min");
        assert_string_equal(rd_html_fmt_duration(3599, b), "1 h 0 min");
        assert_string_equal(rd_html_fmt_duration(5 * 3600 + 20 * 60, b), "5 h 20 min");
        assert_string_equal(rd_html_fmt_duration(3 * 86400 + 4 * 3600 + 100, b), "3 d 4 h");
        assert_string_equal(rd_html_fmt_duration(86400 - 10, b), "1 d 0 h");
        assert_string_equal(rd_html_fmt_duration(-1, b), "\xe2\x80\x94");
        assert_string_equal(rd_html_fmt_duration(NAN, b), "\xe2\x80\x94");
}

static void test_dates_are_utc_days(void **state)
{
        char b[RD_HTML_NUM];
        (void)state;
        assert_string_equal(rd_html_fmt_date(JAN1, false, b), "2026-01-01");
        assert_string_equal(rd_html_fmt_date(JAN1 - 1, false, b), "2025-12-31");
        assert_string_equal(rd_html_fmt_date(JAN1 + 90 * 60000, true, b), "2026-01-01 01:30");
}

/* ---- charts ----------------------------------------------------------------------- */

/* The x of each <text> that holds a date, in order, into XS; returns how
 * many. */
static size_t date_label_xs(const char *svg, double *xs, size_t max)
{
        size_t n = 0;
        for (const char *p = strstr(svg, "<text x=\""); p && n < max;
             p = strstr(p + 1, "<text x=\"")) {
                const char *gt = strchr(p, '>');
                int y, m, d;
                if (sscanf(gt + 1, "%4d-%2d-%2d<", &y, &m, &d) == 3)
                        xs[n++] = strtod(p + 9, NULL);
        }
        return n;
}

/* A page with one chart over time: N daily points of NS series, value
 * (i + 1) * j. */
static char *time_page(enum rd_chart_shape shape, size_t n, size_t ns, int64_t step)
{
        static int64_t t[400];
        static double y[4][400];
        struct rd_chart_series s[4] = {
                {"c-anna", y[0]}, {"c-bert", y[1]}, {"c-cleo", y[2]}, {"c-dirk", y[3]}};
        const struct rd_chart c = {"Load per connector", "date (UTC)", "open referrals", 0};
        struct rd_html h;

        for (size_t j = 0; j < n; j++) {
                t[j] = JAN1 + (int64_t)j * step;
                for (size_t i = 0; i < ns; i++)
                        y[i][j] = (double)((i + 1) * j);
        }
        rd_html_begin(&h, "r");
        assert_int_equal(rd_chart_time(&h, &c, shape, t, n, s, ns), 0);
        return finished(&h);
}

static void test_a_line_chart_has_its_series_markers_legend_and_table(void **state)
{
        char *text = time_page(RD_CHART_LINE, 5, 2, DAY);
        (void)state;

        assert_int_equal(count(text, "<figure class=\"chart\">"), 1);
        assert_int_equal(count(text, "<svg "), 1);
        assert_non_null(strstr(text, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" "));
        assert_non_null(strstr(text, "role=\"img\" aria-labelledby=\"c1-t\" "
                                     "aria-describedby=\"c1-d\">\n<title id=\"c1-t\">Load per "
                                     "connector</title>\n<desc id=\"c1-d\">Line chart of c-anna, "
                                     "c-bert from 2026-01-01 to 2026-01-05; "));
        assert_int_equal(count(text, "<path class=\"series\""), 2);
        assert_int_equal(count(text, "<path class=\"marks\""), 2);
        assert_int_equal(count(text, "<g class=\"legend\""), 2);
        assert_non_null(strstr(text, ">c-anna</text>"));
        assert_non_null(strstr(text, ">open referrals</text>"));
        assert_non_null(strstr(text, ">date (UTC)</text>"));
        /* the two series differ by colour and by dash */
        assert_non_null(strstr(text, "stroke=\"#0072b2\" stroke-width=\"2\"/>"));
        assert_non_null(strstr(text, "stroke=\"#d55e00\" stroke-width=\"2\" stroke-dasharray="));
        /* the table: a header row, a row per point, a column per series */
        assert_int_equal(count(text, "<tr>"), 1 + 5);
        assert_non_null(strstr(text, "<tr><td>2026-01-05</td><td class=\"num\">4</td>"
                                     "<td class=\"num\">8</td></tr>"));
        assert_non_null(strstr(text, "<caption>Load per connector</caption>"));
        /* a tick a day, and the table's five rows */
        assert_int_equal(count(text, ">2026-01-0"), 5 + 5);
        free(text);
}

static void test_a_step_chart_holds_each_value_until_the_next_point(void **state)
{
        char *text = time_page(RD_CHART_STEP, 3, 1, DAY);
        const char *d = strstr(text, "<path class=\"series\" d=\"");
        (void)state;

        assert_non_null(d);
        d += strlen("<path class=\"series\" d=\"");
        /* M x0 y0, then H to the next point's x and V to its value, twice */
        assert_int_equal(*d, 'M');
        assert_non_null(strchr(d, 'H'));
        assert_true(strchr(d, 'H') < strchr(d, 'V'));
        assert_null(memchr(d, 'L', (size_t)(strchr(d, '"') - d)));
        assert_int_equal(count(text, "Step chart of c-anna from"), 1);
        /* one series: no legend */
        assert_int_equal(count(text, "class=\"legend\""), 0);
        free(text);
}

static void test_a_value_that_is_none_breaks_the_line_and_shows_a_dash(void **state)
{
        const int64_t t[] = {JAN1, JAN1 + DAY, JAN1 + 2 * DAY, JAN1 + 3 * DAY};
        const double y[] = {1, NAN, 2, 3};
        const struct rd_chart_series s[] = {{"waitlist", y}};
        const struct rd_chart c = {"Waitlist", NULL, NULL, 0};
        struct rd_html h;
        char *text;
        const char *d;
        (void)state;

        rd_html_begin(&h, "r");
        rd_chart_time(&h, &c, RD_CHART_LINE, t, 4, s, 1);
        text = finished(&h);
        d = strstr(text, "class=\"series\" d=\"");
        assert_non_null(d);
        /* two pieces: M (alone), then M L */
        assert_int_equal(count(d, "M"), 2 + 3); /* + a marker on each of 3 values */
        assert_non_null(strstr(text, "<tr><td>2026-01-02</td><td class=\"num\">\xe2\x80\x94</td>"));
        assert_non_null(strstr(text, ">date (UTC)</th>")); /* no x label: the default head */
        free(text);
}

static void test_a_long_series_has_about_ten_markers_shifted_per_series(void **state)
{
        char *text = time_page(RD_CHART_STEP, 365, 3, DAY);
        const char *marks = text;
        size_t first[3];
        (void)state;

        for (size_t i = 0; i < 3; i++) {
                marks = strstr(marks + 1, "<path class=\"marks\" d=\"");
                assert_non_null(marks);
                first[i] = strtoul(marks + strlen("<path class=\"marks\" d=\"M"), NULL, 10);
                assert_int_equal(count(marks, "M") - count(strchr(marks + 24, '"'), "M"), 10);
        }
        assert_true(first[0] < first[1] && first[1] < first[2]);
        free(text);
}

static void test_a_year_has_date_ticks_on_first_days_that_do_not_crowd(void **state)
{
        char *text = time_page(RD_CHART_LINE, 365, 1, DAY);
        double xs[64];
        size_t n = date_label_xs(text, xs, 64);
        (void)state;

        /* every other month: 2026-01-01 ... 2026-11-01 (the last point is
         * 2026-12-31) */
        assert_int_equal(n, 6);
        assert_non_null(strstr(text, ">2026-03-01</text>"));
        assert_null(strstr(text, ">2026-02-01</text>"));
        assert_non_null(strstr(text, ">2026-11-01</text>"));
        for (size_t k = 1; k < n; k++)
                assert_true(xs[k] - xs[k - 1] >= 84);
        assert_true(xs[0] - 35 >= 0);
        assert_true(xs[n - 1] + 35 <= 720);
        free(text);
}

static void test_weeks_of_ticks_fall_on_mondays(void **state)
{
        char *text = time_page(RD_CHART_LINE, 60, 1, DAY);
        double xs[64];
        size_t n = date_label_xs(text, xs, 64);
        (void)state;

        /* 60 days want a tick every 14 days: every other Monday */
        assert_non_null(strstr(text, ">2026-01-12</text>"));
        assert_non_null(strstr(text, ">2026-01-26</text>"));
        assert_null(strstr(text, ">2026-01-19</text>"));
        assert_null(strstr(text, ">2026-01-05</text>"));
        for (size_t k = 1; k < n; k++)
                assert_true(xs[k] - xs[k - 1] >= 84);
        free(text);
}

static void test_points_within_a_day_are_listed_with_their_time(void **state)
{
        char *text = time_page(RD_CHART_LINE, 4, 1, DAY / 4);
        (void)state;
        assert_non_null(strstr(text, "<tr><td>2026-01-01 06:00</td>"));
        assert_non_null(strstr(text, "from 2026-01-01 00:00 to 2026-01-01 18:00"));
        /* the axis spans the whole day: two date ticks */
        assert_int_equal(count(text, "text-anchor=\"middle\">2026-01-0"), 2);
        free(text);
}

static void test_a_chart_without_figures_is_a_sentence(void **state)
{
        const int64_t t[] = {JAN1};
        const double y[] = {NAN};
        const struct rd_chart_series s[] = {{"waitlist", y}};
        const struct rd_chart c = {"Waitlist over time", NULL, NULL, 0};
        struct rd_html h;
        char *text;
        (void)state;

        rd_html_begin(&h, "r");
        rd_chart_time(&h, &c, RD_CHART_STEP, t, 1, s, 1);
        rd_chart_time(&h, &c, RD_CHART_STEP, t, 0, s, 1);
        rd_chart_bars(&h, &c, NULL, 0, s, 1);
        text = finished(&h);
        assert_int_equal(count(text, "<p>Waitlist over time: no figures to draw.</p>"), 3);
        assert_null(strstr(text, "<svg"));
        free(text);
}

static void test_a_table_of_more_than_a_month_of_rows_is_folded(void **state)
{
        char *month = time_page(RD_CHART_LINE, 31, 1, DAY),
             *more = time_page(RD_CHART_LINE, 32, 1, DAY);
        (void)state;

        assert_null(strstr(month, "<details>"));
        assert_non_null(strstr(more, "</svg>\n<details><summary>The figures in a table (32 rows)"
                                     "</summary>\n<table>"));
        assert_non_null(strstr(more, "</table>\n</details>\n</figure>\n"));
        free(month);
        free(more);
}

static void test_panels_draw_each_series_alone_on_one_scale_with_its_limit(void **state)
{
        const int64_t t[] = {JAN1, JAN1 + DAY, JAN1 + 2 * DAY};
        const double a[] = {1, 2, 3}, b[] = {4, 5, 6}, c3[] = {0, 0, 1};
        const double caps[] = {4, 12, NAN};
        const struct rd_chart_series s[] = {{"c-anna", a}, {"c-bert", b}, {"c-cleo", c3}};
        const struct rd_chart c = {"Load per connector", "date (UTC)", "open referrals", 0};
        struct rd_html h;
        char *text;
        (void)state;

        rd_html_begin(&h, "r");
        rd_chart_time_panels(&h, &c, RD_CHART_STEP, t, 3, s, 3, caps, "capacity");
        text = finished(&h);
        assert_int_equal(count(text, "<figure class=\"chart\">"), 1);
        assert_non_null(strstr(text,
                               "<figcaption>Load per connector (open referrals)</figcaption>\n"
                               "<div class=\"panels\">\n<svg "));
        assert_int_equal(count(text, "<svg "), 3);
        assert_int_equal(count(text, "<path class=\"series\""), 3);
        assert_non_null(strstr(text, "<title id=\"c2-t\">Load per connector: c-bert</title>"));
        assert_non_null(strstr(text, "class=\"title\">c-cleo</text>"));
        /* every panel alike: one style, no legend */
        assert_int_equal(count(text, "stroke=\"#0072b2\" stroke-width=\"2\"/>"), 3);
        assert_int_equal(count(text, "class=\"legend\""), 0);
        /* the same scale in each panel: 0 to 20, over the greatest capacity (12) */
        assert_int_equal(count(text, "text-anchor=\"end\">20</text>"), 3);
        /* a limit where there is one */
        assert_int_equal(count(text, "<line class=\"limit\""), 2);
        assert_non_null(strstr(text, ">capacity 4</text>"));
        assert_non_null(strstr(text, "<th scope=\"col\" class=\"num\">c-anna (capacity 4)</th>"
                                     "<th scope=\"col\" class=\"num\">c-bert (capacity 12)</th>"
                                     "<th scope=\"col\" class=\"num\">c-cleo</th>"));
        free(text);
}

static void test_times_out_of_order_and_too_many_series_are_refused(void **state)
{
        const int64_t t[] = {JAN1 + DAY, JAN1};
        const double y[] = {1, 2};
        struct rd_chart_series s[RD_CHART_SERIES_MAX + 1];
        const struct rd_chart c = {"x", NULL, NULL, 0};
        const char *cats[] = {"a", "b"};
        const struct rd_chart_sample sample = {"a", y, 2};
        struct rd_html h;
        char *text = NULL;
        (void)state;

        for (size_t i = 0; i < RD_ELEMENTSOF(s); i++)
                s[i] = (struct rd_chart_series){"s", y};
        rd_html_begin(&h, "r");
        assert_int_equal(rd_chart_time(&h, &c, RD_CHART_LINE, t, 2, s, 1), -EINVAL);
        assert_int_equal(rd_html_finish(&h, &text, NULL), -EINVAL);
        rd_html_begin(&h, "r");
        assert_int_equal(rd_chart_bars(&h, &c, cats, 2, s, RD_ELEMENTSOF(s)), -EINVAL);
        rd_html_free(&h);
        rd_html_begin(&h, "r");
        assert_int_equal(rd_chart_time_panels(&h, &c, RD_CHART_STEP, t, 2, s, 1, NULL, NULL),
                         -EINVAL);
        rd_html_free(&h);
        rd_html_begin(&h, "r");
        assert_int_equal(rd_chart_histogram(&h, &c, 0, 3, &sample, 1), -EINVAL);
        rd_html_free(&h);
        rd_html_begin(&h, "r");
        assert_int_equal(rd_chart_histogram(&h, &c, 1, RD_CHART_BUCKETS_MAX + 1, &sample, 1),
                         -EINVAL);
        rd_html_free(&h);
        assert_null(text);
}

static void test_bars_side_by_side_differ_by_fill_pattern(void **state)
{
        const char *cats[] = {"p50", "p75", "p90"};
        const double base[] = {10.5, 21, 40}, cand[] = {8, 17.25, 33};
        const struct rd_chart_series s[] = {{"baseline", base}, {"candidate", cand}};
        const struct rd_chart c = {"Time to start", "percentile", "days", 1};
        struct rd_html h;
        char *text;
        (void)state;

        rd_html_begin(&h, "r");
        rd_chart_bars(&h, &c, cats, 3, s, 2);
        text = finished(&h);
        assert_int_equal(count(text, "<rect class=\"bar\""), 6);
        assert_int_equal(count(text, "<pattern id=\"c1-p1\""), 1);
        assert_int_equal(count(text, "fill=\"url(#c1-p1)\""), 3 + 1); /* bars and legend */
        assert_int_equal(count(text, "fill=\"#0072b2\""), 3 + 1);
        assert_int_equal(count(text, "<g class=\"legend\""), 2);
        assert_non_null(strstr(text, "text-anchor=\"middle\">p75</text>"));
        assert_null(strstr(text, "rotate(-"));
        assert_non_null(strstr(text, "<tr><td>p75</td><td class=\"num\">21.0</td>"
                                     "<td class=\"num\">17.3</td></tr>"));
        assert_non_null(strstr(text, "Bar chart of baseline, candidate in 3 categories"));
        free(text);
}

static void test_long_category_labels_are_tilted_and_thinned_out(void **state)
{
        static char names[40][40];
        const char *cats[40];
        double v[40];
        const struct rd_chart_series s[] = {{"load", v}};
        const struct rd_chart c = {"Load", "connector", NULL, 0};
        struct rd_html h;
        char *text;
        (void)state;

        for (size_t j = 0; j < 40; j++) {
                snprintf(names[j], sizeof names[j], "connector-with-a-long-id-%02zu", j);
                cats[j] = names[j];
                v[j] = (double)j;
        }
        rd_html_begin(&h, "r");
        rd_chart_bars(&h, &c, cats, 40, s, 1);
        text = finished(&h);
        assert_int_equal(count(text, "<rect class=\"bar\""), 40);
        /* 40 slots of about 15 px: tilted labels need 13 px apart, every other one */
        assert_int_equal(count(text, "transform=\"rotate(-35 "), 20);
        assert_non_null(strstr(text, ">connector-with-a-long-id-00</text>"));
        assert_null(strstr(text, ">connector-with-a-long-id-01</text>"));
        assert_non_null(
                strstr(text, "<td>connector-with-a-long-id-01</td>")); /* all in the table */
        free(text);
}

static void test_a_histogram_counts_values_into_buckets_the_last_open(void **state)
{
        const double base[] = {0, 1, 6.9, -1, 7, 13, 100, NAN};
        const double cand[] = {2, 3};
        const struct rd_chart_sample s[] = {{"baseline", base, 8}, {"candidate", cand, 2}};
        const struct rd_chart c = {"Time to start", "days", "referrals", 1};
        struct rd_html h;
        char *text;
        (void)state;

        rd_html_begin(&h, "r");
        rd_chart_histogram(&h, &c, 7, 3, s, 2);
        text = finished(&h);
        assert_non_null(strstr(text,
                               "<tr><td>0\xe2\x80\x93"
                               "7</td><td class=\"num\">4</td><td class=\"num\">2</td></tr>"));
        assert_non_null(strstr(text,
                               "<tr><td>7\xe2\x80\x93"
                               "14</td><td class=\"num\">2</td><td class=\"num\">0</td></tr>"));
        assert_non_null(strstr(text, "<tr><td>14+</td><td class=\"num\">1</td>"
                                     "<td class=\"num\">0</td></tr>"));
        free(text);
}

static void test_the_same_input_gives_the_same_text(void **state)
{
        char *a = time_page(RD_CHART_STEP, 100, 4, DAY);
        char *b = time_page(RD_CHART_STEP, 100, 4, DAY);
        (void)state;
        assert_string_equal(a, b);
        free(a);
        free(b);
}

/* ---- one small page byte for byte ------------------------------------------------ */

static char *small_page(void)
{
        const char *heads[] = {"connector", "team", "load", "capacity"};
        const int64_t t[] = {JAN1, JAN1 + DAY, JAN1 + 3 * DAY, JAN1 + 4 * DAY};
        const double wait_b[] = {2, 3, 1, 0}, wait_c[] = {2, 1, 1, 0};
        const struct rd_chart_series waits[] = {{"baseline", wait_b}, {"candidate", wait_c}};
        const char *pct[] = {"p50", "p90"};
        const double tb[] = {4.5, 12}, tc[] = {3, 9.5};
        const struct rd_chart_series times[] = {{"baseline", tb}, {"candidate", tc}};
        const struct rd_chart wc = {"Waitlist over time", "date (UTC)", "waiting referrals", 0};
        const struct rd_chart tcc = {"Time to start", NULL, "days", 1};
        struct rd_html h;

        rd_html_begin(&h, "Weekly report");
        rd_html_paraf(&h, "From %s to %s.", "2026-01-01", "2026-01-08");
        rd_html_section(&h, "Figures");
        rd_html_dl_begin(&h);
        rd_html_dl_item(&h, "received", "7");
        rd_html_dl_item(&h, "waiting now", "0");
        rd_html_dl_end(&h);
        rd_html_table_begin(&h, "Load per connector", "llrr", heads);
        rd_html_row(&h);
        rd_html_cell(&h, "c-anna");
        rd_html_cell(&h, "genk");
        rd_html_cell_num(&h, 2, 0);
        rd_html_cell_num(&h, 3, 0);
        rd_html_table_end(&h);
        rd_html_section(&h, "Charts");
        rd_chart_time(&h, &wc, RD_CHART_STEP, t, 4, waits, 2);
        rd_chart_bars(&h, &tcc, pct, 2, times, 2);
        return finished(&h);
}

static void test_a_small_page_is_the_golden_one(void **state)
{
        const char *record = getenv("RD_HTML_RECORD");
        char *got = small_page(), *want;
        FILE *f = fopen(record ? record : GOLDEN_FILE, record ? "w" : "r");
        long size;
        (void)state;

        assert_non_null(f);
        if (record) {
                fputs(got, f);
                fclose(f);
                free(got);
                return;
        }
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        size = ftell(f);
        rewind(f);
        want = calloc(1, (size_t)size + 1);
        assert_non_null(want);
        assert_int_equal(fread(want, 1, (size_t)size, f), (size_t)size);
        fclose(f);
        assert_string_equal(got, want);
        free(got);
        free(want);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_the_page_has_charset_csp_style_title_and_closes),
                cmocka_unit_test(test_the_csp_forbids_the_network_and_allows_only_inline_style),
                cmocka_unit_test(test_text_is_escaped_and_control_characters_replaced),
                cmocka_unit_test(test_every_string_given_reaches_the_page_escaped),
                cmocka_unit_test(test_sections_close_each_other_and_the_page_closes_the_last),
                cmocka_unit_test(test_a_table_has_a_header_row_and_numbers_right_aligned),
                cmocka_unit_test(test_a_definition_list_holds_terms_and_figures),
                cmocka_unit_test(test_a_misuse_is_an_error_that_finish_reports),
                cmocka_unit_test(test_errors_are_sticky_and_later_calls_write_nothing),
                cmocka_unit_test(test_numbers_are_written_with_a_point_and_none_as_a_dash),
                cmocka_unit_test(test_durations_are_written_for_a_person),
                cmocka_unit_test(test_dates_are_utc_days),
                cmocka_unit_test(test_a_line_chart_has_its_series_markers_legend_and_table),
                cmocka_unit_test(test_a_step_chart_holds_each_value_until_the_next_point),
                cmocka_unit_test(test_a_value_that_is_none_breaks_the_line_and_shows_a_dash),
                cmocka_unit_test(test_a_long_series_has_about_ten_markers_shifted_per_series),
                cmocka_unit_test(test_a_year_has_date_ticks_on_first_days_that_do_not_crowd),
                cmocka_unit_test(test_weeks_of_ticks_fall_on_mondays),
                cmocka_unit_test(test_points_within_a_day_are_listed_with_their_time),
                cmocka_unit_test(test_a_chart_without_figures_is_a_sentence),
                cmocka_unit_test(test_a_table_of_more_than_a_month_of_rows_is_folded),
                cmocka_unit_test(test_panels_draw_each_series_alone_on_one_scale_with_its_limit),
                cmocka_unit_test(test_times_out_of_order_and_too_many_series_are_refused),
                cmocka_unit_test(test_bars_side_by_side_differ_by_fill_pattern),
                cmocka_unit_test(test_long_category_labels_are_tilted_and_thinned_out),
                cmocka_unit_test(test_a_histogram_counts_values_into_buckets_the_last_open),
                cmocka_unit_test(test_the_same_input_gives_the_same_text),
                cmocka_unit_test(test_a_small_page_is_the_golden_one),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
