/* store_pg_read.c: the PostgreSQL driver's reads (store.h). Each sends what
 * is queued, then itself, and waits for its rows (store_pg_conn.c); the
 * rows are in memory before a callback runs, so a callback may use the
 * store. */
#include "macro.h"
#include "store_pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- one referral ---------------------------------------------------------------------------- */

/* Run ID with A; the first row into *OUT, -ENOENT without one. */
static int fetch_one(struct pg_store *s, enum pg_stmt id, const struct pg_args *a,
                     struct rd_stored *out)
{
        PGresult *res;
        int r = pg_read(s, id, a, &res);

        if (r < 0)
                return r;
        if (PQntuples(res) > 0)
                pg_read_row(res, 0, out);
        else
                r = -ENOENT;
        PQclear(res);
        return r;
}

int pg_find(struct rd_store *s, const char *partner, const char *ref, struct rd_stored *out)
{
        struct pg_args a = {0};
        int r = pg_found_lookup(pgs(s), partner, ref, out);

        if (r <= 0)
                return r;
        pa_text(&a, partner);
        pa_text(&a, ref);
        return fetch_one(pgs(s), P_FIND, &a, out);
}

int pg_get(struct rd_store *s, int64_t rowid, struct rd_stored *out)
{
        struct pg_args a = {0};

        pa_int(&a, rowid);
        return fetch_one(pgs(s), P_GET, &a, out);
}

static json_t *col_json(const PGresult *res, int i)
{
        return PQgetisnull(res, 0, i) ? NULL : json_loads(PQgetvalue(res, 0, i), 0, NULL);
}

int pg_content(struct rd_store *s, int64_t rowid, json_t **content, char **trace,
               char rules_digest[65])
{
        struct pg_args a = {0};
        PGresult *res;
        char *t = NULL;
        int r;

        pa_int(&a, rowid);
        r = pg_read(pgs(s), P_CONTENT, &a, &res);
        if (r < 0)
                return r;
        if (PQntuples(res) == 0) {
                PQclear(res);
                return -ENOENT;
        }
        /* the trace as it was kept: compact, or JSON text from before */
        if (trace && !PQgetisnull(res, 0, 1) && !(t = strdup(PQgetvalue(res, 0, 1)))) {
                PQclear(res);
                return -ENOMEM;
        }
        if (content)
                *content = col_json(res, 0);
        if (trace)
                *trace = t;
        if (rules_digest)
                pg_text(res, 0, 2, rules_digest, 65);
        PQclear(res);
        return 0;
}

/* ---- what the hub keeps in memory -------------------------------------------------------------
 */

/* Call FN for each referral row of ID run with A; stop at FN's non-zero
 * value and return it. */
static int each_row(struct pg_store *s, enum pg_stmt id, const struct pg_args *a,
                    int (*fn)(void *ctx, const struct rd_stored *st), void *ctx)
{
        struct rd_stored o;
        PGresult *res;
        int r = pg_read(s, id, a, &res);

        for (int i = 0; r == 0 && i < PQntuples(res); i++) {
                pg_read_row(res, i, &o);
                r = fn(ctx, &o);
        }
        PQclear(res);
        return r;
}

/* Call FN with the text of column 0 of each row of ID run with A. */
static int each_text(struct pg_store *s, enum pg_stmt id, const struct pg_args *a,
                     int (*fn)(void *ctx, const char *text), void *ctx)
{
        PGresult *res;
        int r = pg_read(s, id, a, &res);

        for (int i = 0; r == 0 && i < PQntuples(res); i++)
                r = fn(ctx, PQgetisnull(res, i, 0) ? "" : PQgetvalue(res, i, 0));
        PQclear(res);
        return r;
}

/* Call FN with the text of column 0 and the integer of column 1 of each
 * row of ID (no parameters). */
static int each_text_count(struct pg_store *s, enum pg_stmt id,
                           int (*fn)(void *ctx, const char *text, int64_t count), void *ctx)
{
        PGresult *res;
        int r = pg_read(s, id, &(struct pg_args){0}, &res);

        for (int i = 0; r == 0 && i < PQntuples(res); i++)
                r = fn(ctx, PQgetisnull(res, i, 0) ? "" : PQgetvalue(res, i, 0), pg_int(res, i, 1));
        PQclear(res);
        return r;
}

static int each_rr(struct pg_store *s,
                   int (*fn)(void *ctx, const char *rule, const char *connector), void *ctx)
{
        PGresult *res;
        int r = pg_read(s, P_RR_ALL, &(struct pg_args){0}, &res);

        for (int i = 0; r == 0 && i < PQntuples(res); i++)
                r = fn(ctx, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
        PQclear(res);
        return r;
}

int pg_each_state(struct rd_store *base, const struct rd_store_state_fns *fns, void *ctx)
{
        struct pg_store *s = pgs(base);
        int r = 0;

        if (fns->open)
                r = each_row(s, P_OPEN, &(struct pg_args){0}, fns->open, ctx);
        if (r == 0 && fns->offer_count)
                r = each_text_count(s, P_OFFERS, fns->offer_count, ctx);
        if (r == 0 && fns->round_robin)
                r = each_rr(s, fns->round_robin, ctx);
        if (r == 0 && fns->waiting)
                r = pg_each_waiting(base, NULL, fns->wait_limit, fns->waiting, ctx, NULL);
        return r;
}

int pg_each_decline(struct rd_store *s, int64_t rowid, int (*fn)(void *ctx, const char *connector),
                    void *ctx)
{
        struct pg_args a = {0};

        pa_int(&a, rowid);
        return each_text(pgs(s), P_DECLINES, &a, fn, ctx);
}

/* ---- the waitlist ------------------------------------------------------------------------------
 */

/* Run ID with A through FN, counting rows in *N. */
static int each_waiting_stmt(struct pg_store *s, enum pg_stmt id, const struct pg_args *a,
                             int (*fn)(void *ctx, const struct rd_stored *st,
                                       const char *candidates),
                             void *ctx, size_t *n)
{
        struct rd_stored o;
        PGresult *res;
        int r = pg_read(s, id, a, &res);

        for (int i = 0; r == 0 && i < PQntuples(res); i++) {
                pg_read_row(res, i, &o);
                (*n)++;
                r = fn(ctx, &o, PQgetvalue(res, i, PG_COL_CANDIDATES));
        }
        PQclear(res);
        return r;
}

int pg_each_waiting(struct rd_store *base, const struct rd_wait_key *after, size_t limit,
                    int (*fn)(void *ctx, const struct rd_stored *st, const char *candidates),
                    void *ctx, size_t *count)
{
        struct pg_store *s = pgs(base);
        struct pg_args a = {0};
        size_t n = 0;
        int r;

        if (limit > INT64_MAX)
                limit = INT64_MAX;
        pa_int(&a, (int64_t)limit);
        if (!after) {
                r = each_waiting_stmt(s, P_WAITING_HEAD, &a, fn, ctx, &n);
        } else {
                pa_int(&a, (int64_t)after->urgency);
                pa_int(&a, after->start_by_ms);
                pa_int(&a, after->rowid);
                r = each_waiting_stmt(s, P_WAITING_SAME, &a, fn, ctx, &n);
                if (r == 0 && n < limit) {
                        a.n = 0;
                        pa_int(&a, (int64_t)(limit - n));
                        pa_int(&a, (int64_t)after->urgency);
                        r = each_waiting_stmt(s, P_WAITING_LOWER, &a, fn, ctx, &n);
                }
        }
        if (r == 0 && count)
                *count = n;
        return r;
}

int pg_each_waiting_set(struct rd_store *s, int (*fn)(void *ctx, const struct rd_waiting_set *set),
                        void *ctx)
{
        PGresult *res;
        int r = pg_read(pgs(s), P_WAITING_SETS, &(struct pg_args){0}, &res);

        for (int i = 0; r == 0 && i < PQntuples(res); i++) {
                struct rd_waiting_set set = {
                        .candidates = PQgetvalue(res, i, 0),
                        .urgency = (enum rd_urgency)pg_int(res, i, 1),
                        .count = pg_int(res, i, 2),
                        .latest_start_by = pg_int(res, i, 3),
                };
                r = fn(ctx, &set);
        }
        PQclear(res);
        return r;
}

int pg_count_waiting_before(struct rd_store *s, const char *candidates,
                            const struct rd_wait_key *before, int64_t limit, int64_t *count)
{
        struct pg_args a = {0};
        PGresult *res;
        int r;

        pa_text(&a, candidates);
        pa_int(&a, (int64_t)before->urgency);
        pa_int(&a, before->start_by_ms);
        pa_int(&a, before->rowid);
        pa_int(&a, limit);
        r = pg_read(pgs(s), P_WAITING_BEFORE, &a, &res);
        if (r == 0)
                *count = pg_int(res, 0, 0);
        PQclear(res);
        return r;
}

int pg_each_offer(struct rd_store *s, int (*fn)(void *ctx, const struct rd_stored *st), void *ctx)
{
        return each_row(pgs(s), P_OFFERS_OPEN, &(struct pg_args){0}, fn, ctx);
}

int pg_meta_get(struct rd_store *s, const char *key, char *buf, size_t size)
{
        struct pg_args a = {0};
        PGresult *res;
        int r;

        pa_text(&a, key);
        r = pg_read(pgs(s), P_META_GET, &a, &res);
        if (r < 0)
                return r;
        if (PQntuples(res) > 0)
                pg_text(res, 0, 0, buf, size);
        else
                r = -ENOENT;
        PQclear(res);
        return r;
}

/* ---- deadlines ----------------------------------------------------------------------------------
 */

int pg_next_deadlines(struct rd_store *s, struct rd_deadlines *out)
{
        PGresult *res;
        int r = pg_read(pgs(s), P_NEXT, &(struct pg_args){0}, &res);

        if (r < 0)
                return r;
        out->offer_expires = pg_int(res, 0, 0);
        out->at_risk_start_by = pg_int(res, 0, 1);
        out->missed_start_by = pg_int(res, 0, 2);
        out->erase_final = pg_int(res, 0, 3);
        PQclear(res);
        return 0;
}

int pg_due(struct rd_store *s, enum rd_deadline kind, int64_t threshold, int64_t limit,
           struct rd_stored *rows, size_t *n)
{
        static const enum pg_stmt ids[] = {[RD_DUE_OFFER] = P_DUE_OFFER,
                                           [RD_DUE_AT_RISK] = P_DUE_AT_RISK,
                                           [RD_DUE_MISSED] = P_DUE_MISSED,
                                           [RD_DUE_ERASE] = P_DUE_ERASE};
        struct pg_args a = {0};
        PGresult *res;
        size_t k = 0;
        int r;

        RD_TABLE_COVERS(ids, RD_DUE__MAX);
        pa_int(&a, threshold);
        pa_int(&a, limit);
        r = pg_read(pgs(s), ids[kind], &a, &res);
        if (r < 0)
                return r;
        for (int i = 0; i < PQntuples(res) && k < (size_t)limit; i++)
                pg_read_row(res, i, &rows[k++]);
        PQclear(res);
        *n = k;
        return 0;
}

/* ---- the daemon's reads
 * ---------------------------------------------------------------------------- */

int pg_was_offered(struct rd_store *s, int64_t rowid, const char *connector)
{
        struct pg_args a = {0};
        PGresult *res;
        int r;

        pa_text(&a, connector);
        pa_int(&a, rowid);
        r = pg_read(pgs(s), P_OFFERED_HAS, &a, &res);
        if (r < 0)
                return r;
        r = PQntuples(res) > 0;
        PQclear(res);
        return r;
}

/* Statement ALL, PARTNER or CONNECTOR, by who VIEWER (NULL: all) is. */
static enum pg_stmt for_viewer(const struct rd_viewer *viewer, enum pg_stmt all,
                               enum pg_stmt partner, enum pg_stmt connector)
{
        if (!viewer || viewer->kind == RD_VIEW_ALL)
                return all;
        return viewer->kind == RD_VIEW_PARTNER ? partner : connector;
}

int pg_each_event(struct rd_store *s, int64_t since, int64_t limit, const struct rd_viewer *viewer,
                  int (*fn)(void *ctx, const char *body), void *ctx)
{
        enum pg_stmt id = for_viewer(viewer, P_EVENTS, P_EVENTS_PARTNER, P_EVENTS_CONNECTOR);
        struct pg_args a = {0};

        pa_int(&a, since);
        pa_int(&a, limit);
        if (id != P_EVENTS)
                pa_text(&a, viewer->id);
        return each_text(pgs(s), id, &a, fn, ctx);
}

int pg_each_history(struct rd_store *s, int64_t rowid, int64_t limit,
                    int (*fn)(void *ctx, const char *body), void *ctx)
{
        struct pg_args a = {0};

        pa_int(&a, rowid);
        pa_int(&a, limit);
        return each_text(pgs(s), P_HISTORY, &a, fn, ctx);
}

int pg_count_history(struct rd_store *s, int64_t rowid, int64_t *n)
{
        struct pg_args a = {0};
        PGresult *res;
        int r;

        pa_int(&a, rowid);
        r = pg_read(pgs(s), P_HISTORY_COUNT, &a, &res);
        if (r == 0)
                *n = pg_int(res, 0, 0);
        PQclear(res);
        return r;
}

/* The statement of query Q: the one led by the index of its most
 * selective filter (store_pg_sql.c, LIST_FILTERS). */
static enum pg_stmt list_stmt(const struct rd_list_query *q)
{
        if (q->attention)
                return P_LIST_ATTENTION;
        if (q->connector)
                return P_LIST_CONNECTOR;
        if (q->team)
                return P_LIST_TEAM;
        if (q->statuses)
                return P_LIST_STATUS;
        if (q->viewer && q->viewer->kind == RD_VIEW_CONNECTOR)
                return P_LIST_OFFERED;
        return P_LIST_SEQ;
}

int pg_each_listed(struct rd_store *s, const struct rd_list_query *q,
                   int (*fn)(void *ctx, const struct rd_stored *st), void *ctx)
{
        enum pg_stmt id = list_stmt(q);
        int kind = q->viewer ? (int)q->viewer->kind : RD_VIEW_ALL;
        struct pg_args a = {0};

        _Static_assert(RD_VIEW_ALL == 0 && RD_VIEW_PARTNER == 1 && RD_VIEW_CONNECTOR == 2,
                       "LIST_FILTERS numbers the viewers");
        pa_int(&a, q->since);
        pa_int(&a, q->limit);
        pa_int(&a, (int64_t)q->statuses);
        pa_text(&a, q->connector);
        pa_text(&a, q->team);
        pa_int(&a, q->attention);
        pa_int(&a, kind);
        pa_text(&a, kind != RD_VIEW_ALL ? q->viewer->id : NULL);
        for (int i = 0; id == P_LIST_STATUS && i < RD_STATUS__MAX; i++)
                if (q->statuses & (1u << i) && a.n < 15)
                        pa_int(&a, i);
        while (id == P_LIST_STATUS && a.n < 15)
                pa_int(&a, -1); /* no rows */
        return each_row(pgs(s), id, &a, fn, ctx);
}

int pg_each_reason(struct rd_store *s, int64_t rowid,
                   int (*fn)(void *ctx, const struct rd_store_reason *why), void *ctx)
{
        struct pg_args a = {0};
        PGresult *res;
        int r;

        pa_int(&a, rowid);
        r = pg_read(pgs(s), P_REASONS, &a, &res);
        for (int i = 0; r == 0 && i < PQntuples(res); i++) {
                struct rd_store_reason why = {
                        .at_ms = pg_int(res, i, 0),
                        .change = PQgetvalue(res, i, 1),
                        .connector = PQgetvalue(res, i, 2),
                        .code = PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3),
                        .text = PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4),
                };
                r = fn(ctx, &why);
        }
        PQclear(res);
        return r;
}

int pg_count_by_status(struct rd_store *s, int64_t counts[RD_STATUS__MAX])
{
        PGresult *res;
        int r = pg_read(pgs(s), P_COUNTS, &(struct pg_args){0}, &res);

        if (r < 0)
                return r;
        for (int i = 0; i < RD_STATUS__MAX; i++)
                counts[i] = 0;
        for (int i = 0; i < PQntuples(res); i++) {
                int64_t status = pg_int(res, i, 0);
                if (status >= 0 && status < RD_STATUS__MAX)
                        counts[status] = pg_int(res, i, 1);
        }
        PQclear(res);
        return 0;
}

/* The first row of ID (no parameters): its first N integers into V. */
static int read_ints(struct pg_store *s, enum pg_stmt id, int64_t *v, int n)
{
        PGresult *res;
        int r = pg_read(s, id, &(struct pg_args){0}, &res);

        if (r < 0)
                return r;
        for (int i = 0; i < n; i++)
                v[i] = pg_int(res, 0, i);
        PQclear(res);
        return 0;
}

int pg_window_counts(struct rd_store *s, int64_t *started, int64_t *in_time, int64_t *missed)
{
        int64_t v[3];
        int r = read_ints(pgs(s), P_WINDOW, v, 3);

        if (r == 0) {
                *started = v[0];
                *in_time = v[1];
                *missed = v[2];
        }
        return r;
}

/* The count and percentiles of the durations of FIGURE (P_DURATIONS). */
static int durations(struct pg_store *s, enum pg_figure figure, struct rd_durations *out)
{
        struct pg_args a = {0};
        PGresult *res;
        int r;

        pa_int(&a, (int64_t)figure);
        r = pg_read(s, P_DURATIONS, &a, &res);
        if (r == 0) {
                out->count = pg_int(res, 0, 0);
                out->p50_ms = pg_int(res, 0, 1);
                out->p90_ms = pg_int(res, 0, 2);
        }
        PQclear(res);
        return r;
}

static int forwards(struct pg_store *s, struct rd_figures *f)
{
        struct pg_args a = {0};
        PGresult *res;
        int r;

        pa_int(&a, RD_FIGURES_FORWARDS_MAX);
        r = pg_read(s, P_FORWARDS, &a, &res);
        if (r < 0)
                return r;
        for (int i = 0; i < PQntuples(res) && f->n_forwards < RD_FIGURES_FORWARDS_MAX; i++) {
                pg_text(res, i, 0, f->forwards[f->n_forwards].to,
                        sizeof f->forwards[f->n_forwards].to);
                f->forwards[f->n_forwards++].count = pg_int(res, i, 1);
        }
        PQclear(res);
        return 0;
}

/* The reasons kept, by change and code, into F. */
static int reason_counts(struct pg_store *s, struct rd_figures *f)
{
        struct pg_args a = {0};
        PGresult *res;
        int r;

        pa_int(&a, RD_FIGURES_REASONS_MAX);
        r = pg_read(s, P_REASON_COUNTS, &a, &res);
        for (int i = 0; r == 0 && i < PQntuples(res) && f->n_reasons < RD_FIGURES_REASONS_MAX;
             i++) {
                pg_text(res, i, 0, f->reasons[f->n_reasons].change,
                        sizeof f->reasons[f->n_reasons].change);
                pg_text(res, i, 1, f->reasons[f->n_reasons].code,
                        sizeof f->reasons[f->n_reasons].code);
                f->reasons[f->n_reasons++].count = pg_int(res, i, 2);
        }
        PQclear(res);
        return r;
}

int pg_figures(struct rd_store *base, struct rd_figures *f)
{
        struct pg_store *s = pgs(base);
        int64_t v[3];
        int r;

        memset(f, 0, sizeof *f);
        r = durations(s, PG_FIG_TO_OFFER, &f->to_offer);
        if (r == 0)
                r = durations(s, PG_FIG_TO_START, &f->to_start);
        if (r == 0)
                r = forwards(s, f);
        if (r == 0)
                r = reason_counts(s, f);
        if (r == 0)
                r = read_ints(s, P_WAIT_OLDEST, v, 3);
        if (r == 0) {
                f->waiting = v[0];
                f->oldest_waiting_received_ms = v[1];
                f->attention = v[2];
        }
        return r;
}

/* ---- the audit trail ----------------------------------------------------------------------------
 */

int pg_each_audit(struct rd_store *s, int64_t since, int64_t limit, const char *referral_id,
                  int (*fn)(void *ctx, const struct rd_audit_entry *e), void *ctx)
{
        struct pg_args a = {0};
        PGresult *res;
        int r;

        pa_int(&a, since);
        pa_int(&a, limit);
        pa_text(&a, referral_id);
        r = pg_read(pgs(s), P_AUDIT_LIST, &a, &res);
        for (int i = 0; r == 0 && i < PQntuples(res); i++) {
                struct rd_audit_entry e = {
                        .n = pg_int(res, i, 0),
                        .at_ms = pg_int(res, i, 1),
                        .client = PQgetvalue(res, i, 2),
                        .role = PQgetvalue(res, i, 3),
                        .action = PQgetvalue(res, i, 4),
                        .referral_id = PQgetvalue(res, i, 5),
                };
                r = fn(ctx, &e);
        }
        PQclear(res);
        return r;
}
