/* report_html.c: see report_html.h. One function per part of the page. */
#include "report_html.h"

#include "html.h"
#include "svgchart.h"
#include "timefmt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(const json_t *o, const char *key)
{
        const char *s = json_string_value(json_object_get(o, key));
        return s ? s : "";
}

static json_int_t num(const json_t *o, const char *key)
{
        return json_integer_value(json_object_get(o, key));
}

/* RFC 3339 text T as "YYYY-MM-DD HH:MM" (UTC). */
static char *when(const char *t, char buf[RD_HTML_NUM])
{
        int64_t ms;

        if (rd_time_parse(t, &ms) < 0) {
                snprintf(buf, RD_HTML_NUM, "-");
                return buf;
        }
        return rd_html_fmt_date(ms, true, buf);
}

/* "p50 .., p75 .., p90 .." of the seconds in T, "-" for none. */
static void percentiles_item(struct rd_html *h, const char *term, const json_t *t)
{
        char v[3][RD_HTML_NUM];
        static const char *const keys[] = {"p50", "p75", "p90"};

        for (int i = 0; i < 3; i++) {
                const json_t *x = json_object_get(t, keys[i]);
                if (json_is_integer(x))
                        rd_html_fmt_duration((double)json_integer_value(x), v[i]);
                else
                        snprintf(v[i], RD_HTML_NUM, "-");
        }
        rd_html_dl_itemf(h, term, "median %s, p75 %s, p90 %s", v[0], v[1], v[2]);
}

/* ---- the parts of the page ------------------------------------------------------------ */

static void head(struct rd_html *h, const json_t *rep)
{
        const json_t *routing = json_object_get(rep, "routing");
        char from[RD_HTML_NUM], to[RD_HTML_NUM], since[RD_HTML_NUM];

        rd_html_paraf(h, "From %s to %s (UTC).", when(str(rep, "from"), from),
                      when(str(rep, "to"), to));
        if (json_is_object(routing))
                rd_html_paraf(h,
                              "Routing file at the end of the period: %s (digest %.12s), in "
                              "force since %s.",
                              str(routing, "source"), str(routing, "digest"),
                              when(str(routing, "since"), since));
}

/* A table of the counts C ({key: n}) with heads KEY_HEAD and "count". */
static void counts_table(struct rd_html *h, const char *caption, const char *key_head,
                         const json_t *c)
{
        const char *heads[] = {key_head, "count"};
        const char *key;
        json_t *v;

        if (!json_object_size(c)) {
                rd_html_paraf(h, "%s: none.", caption);
                return;
        }
        rd_html_table_begin(h, caption, "lr", heads);
        json_object_foreach((json_t *)c, key, v)
        {
                rd_html_row(h);
                rd_html_cell(h, key);
                rd_html_cellf(h, "%lld", (long long)json_integer_value(v));
        }
        rd_html_table_end(h);
}

static void forwarded_table(struct rd_html *h, const json_t *fw)
{
        static const char *const heads[] = {"forwarded to", "count"};
        const json_t *it;
        size_t i;

        if (!json_array_size(fw)) {
                rd_html_para(h, "Forwarded: none.");
                return;
        }
        rd_html_table_begin(h, "Forwarded, by target", "lr", heads);
        json_array_foreach(fw, i, it)
        {
                rd_html_row(h);
                rd_html_cell(h, str(it, "to"));
                rd_html_cellf(h, "%lld", (long long)num(it, "count"));
        }
        rd_html_table_end(h);
}

/* The starts by the days they took, as bars. */
static void start_chart(struct rd_html *h, const json_t *hist)
{
        const json_t *counts = json_object_get(hist, "counts");
        size_t n = json_array_size(counts);
        json_int_t w = num(hist, "days");
        char labels[RD_CHART_BUCKETS_MAX][24];
        const char *names[RD_CHART_BUCKETS_MAX];
        double y[RD_CHART_BUCKETS_MAX];
        const struct rd_chart_series s[] = {{"referrals", y}};
        const struct rd_chart c = {"Time to start", "days from receipt to start", "referrals", 0};

        if (n == 0 || n > RD_CHART_BUCKETS_MAX || w <= 0) {
                rd_html_fail(h, -EINVAL);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                if (i + 1 < n)
                        snprintf(labels[i], sizeof labels[i], "%lld-%lld", (long long)(w * i),
                                 (long long)(w * (i + 1) - 1));
                else
                        snprintf(labels[i], sizeof labels[i], "%lld+", (long long)(w * i));
                names[i] = labels[i];
                y[i] = (double)json_integer_value(json_array_get(counts, i));
        }
        rd_chart_bars(h, &c, names, n, s, 1);
}

static void received(struct rd_html *h, const json_t *rep)
{
        const json_t *d = json_object_get(rep, "by_decision");

        rd_html_section(h, "Referrals received in the period");
        rd_html_dl_begin(h);
        rd_html_dl_itemf(h, "received", "%lld", (long long)num(rep, "received"));
        rd_html_dl_itemf(h, "first decision", "assigned %lld, waitlisted %lld, forwarded %lld",
                         (long long)num(d, "assigned"), (long long)num(d, "waitlisted"),
                         (long long)num(d, "forwarded"));
        percentiles_item(h, "time to the first offer", json_object_get(rep, "time_to_offer_s"));
        percentiles_item(h, "time to start", json_object_get(rep, "time_to_start_s"));
        rd_html_dl_end(h);
        start_chart(h, json_object_get(rep, "time_to_start_days"));
        counts_table(h, "Declines, by reason code", "reason code",
                     json_object_get(rep, "declines"));
        counts_table(h, "Closes, by reason code", "reason code", json_object_get(rep, "closes"));
        forwarded_table(h, json_object_get(rep, "forwarded"));
}

static void windows(struct rd_html *h, const json_t *rep)
{
        const json_t *w = json_object_get(rep, "window");

        rd_html_section(h, "Windows that ended in the period");
        rd_html_para(h, "Referrals whose start-by date fell in the period.");
        rd_html_dl_begin(h);
        rd_html_dl_itemf(h, "started", "%lld", (long long)num(w, "started"));
        rd_html_dl_itemf(h, "in time", "%lld", (long long)num(w, "in_time"));
        rd_html_dl_itemf(h, "late", "%lld", (long long)num(w, "late"));
        rd_html_dl_itemf(h, "missed", "%lld", (long long)num(w, "missed"));
        rd_html_dl_end(h);
}

static void connectors_table(struct rd_html *h, const json_t *conns)
{
        static const char *const heads[] = {"connector", "team", "load", "capacity"};
        const json_t *c;
        size_t i;

        rd_html_table_begin(h, "Load and capacity at the end of the period", "llrr", heads);
        json_array_foreach(conns, i, c)
        {
                const json_t *cap = json_object_get(c, "capacity");
                rd_html_row(h);
                rd_html_cell(h, str(c, "id"));
                rd_html_cell(h, json_is_string(json_object_get(c, "team")) ? str(c, "team") : "-");
                rd_html_cellf(h, "%lld", (long long)num(c, "load"));
                if (json_is_integer(cap))
                        rd_html_cellf(h, "%lld", (long long)json_integer_value(cap));
                else
                        rd_html_cell(h, "-");
        }
        rd_html_table_end(h);
}

/* The moments of SERIES into T (N of them; the caller frees). */
static int moments(const json_t *series, int64_t **t, size_t *n)
{
        const json_t *at = json_object_get(series, "at"), *v;
        size_t i;

        *n = json_array_size(at);
        *t = calloc(*n + 1, sizeof **t);
        if (!*t)
                return -ENOMEM;
        json_array_foreach(at, i,
                           v) if (rd_time_parse(json_string_value(v), &(*t)[i]) < 0) return -EINVAL;
        return 0;
}

/* The values of the JSON array A (N of them) into a new array. */
static double *values(const json_t *a, size_t n)
{
        double *y = calloc(n + 1, sizeof *y);

        for (size_t i = 0; y && i < n; i++)
                y[i] = (double)json_integer_value(json_array_get(a, i));
        return y;
}

/* The load of each connector over the period, a panel each with its
 * capacity. */
static int load_panels(struct rd_html *h, const json_t *conns, const json_t *load, const int64_t *t,
                       size_t n)
{
        size_t nc = json_array_size(conns), k = 0;
        struct rd_chart_series s[RD_CHART_SERIES_MAX];
        double limits[RD_CHART_SERIES_MAX];
        const struct rd_chart c = {"Load per connector", NULL, "open referrals", 0};
        int r = 0;

        for (size_t i = 0; i < nc && r == 0; i += RD_CHART_SERIES_MAX) {
                for (k = 0; k < RD_CHART_SERIES_MAX && i + k < nc; k++) {
                        const json_t *cn = json_array_get(conns, i + k);
                        const json_t *cap = json_object_get(cn, "capacity");
                        s[k].name = str(cn, "id");
                        s[k].y = values(json_object_get(load, s[k].name), n);
                        limits[k] = json_is_integer(cap) ? (double)json_integer_value(cap) : NAN;
                        if (!s[k].y)
                                r = -ENOMEM;
                }
                if (r == 0)
                        r = rd_chart_time_panels(h, &c, RD_CHART_STEP, t, n, s, k, limits,
                                                 "capacity");
                for (size_t j = 0; j < k; j++)
                        free((double *)s[j].y);
        }
        return r;
}

static void at_the_end(struct rd_html *h, const json_t *rep)
{
        const json_t *w = json_object_get(rep, "waiting"), *series = json_object_get(rep, "series");
        const json_t *conns = json_object_get(rep, "connectors");
        const struct rd_chart wc = {"Families waiting", NULL, "waiting", 0};
        char oldest[RD_HTML_NUM];
        int64_t *t = NULL;
        double *y = NULL;
        size_t n = 0;
        int r;

        rd_html_section(h, "At the end of the period");
        rd_html_dl_begin(h);
        rd_html_dl_itemf(h, "waiting", "%lld", (long long)num(w, "now"));
        if (json_is_string(json_object_get(w, "oldest")))
                rd_html_dl_itemf(h, "waiting longest", "received %s",
                                 when(str(w, "oldest"), oldest));
        rd_html_dl_itemf(h, "needing a coordinator", "%lld", (long long)num(rep, "attention"));
        rd_html_dl_end(h);
        connectors_table(h, conns);
        r = moments(series, &t, &n);
        if (r == 0 && !(y = values(json_object_get(series, "waiting"), n)))
                r = -ENOMEM;
        if (r == 0) {
                const struct rd_chart_series ws[] = {{"waiting", y}};
                rd_html_heading(h, 3, "Over the period");
                r = rd_chart_time(h, &wc, RD_CHART_STEP, t, n, ws, 1);
        }
        if (r == 0 && json_array_size(conns))
                r = load_panels(h, conns, json_object_get(series, "load"), t, n);
        if (r < 0)
                rd_html_fail(h, r);
        free(y);
        free(t);
}

int rd_report_html(const json_t *rep, char **out, size_t *len)
{
        struct rd_html h = {0};

        if (!json_is_object(rep) || !json_is_object(json_object_get(rep, "series")))
                return -EINVAL;
        rd_html_begin(&h, "Report on the one-month promise");
        head(&h, rep);
        received(&h, rep);
        windows(&h, rep);
        at_the_end(&h, rep);
        return rd_html_finish(&h, out, len);
}
