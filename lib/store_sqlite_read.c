/* store_sqlite_read.c: the SQLite driver's reads (store.h). */
#include "macro.h"
#include "store_sqlite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- one referral ------------------------------------------------------------------------ */

static int fetch_one(sqlite3_stmt *st, struct rd_stored *out)
{
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                sq_read_row(st, out);
                sqlite3_reset(st);
                return 0;
        }
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? -ENOENT : sq_err(rc);
}

int sq_find(struct rd_store *s, const char *partner, const char *ref, struct rd_stored *out)
{
        sqlite3_stmt *st = sq_prep(sq(s), S_FIND);
        sqlite3_bind_text(st, 1, partner, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ref, -1, SQLITE_STATIC);
        return fetch_one(st, out);
}

int sq_get(struct rd_store *s, int64_t rowid, struct rd_stored *out)
{
        sqlite3_stmt *st = sq_prep(sq(s), S_GET);
        sqlite3_bind_int64(st, 1, rowid);
        return fetch_one(st, out);
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
        const char *v = (const char *)sqlite3_column_text(st, i);
        return v ? json_loads(v, 0, NULL) : NULL;
}

/* A copy of text column I (malloc'ed), NULL when it is NULL; *OOM when
 * the copy could not be made. */
static char *col_dup(sqlite3_stmt *st, int i, bool *oom)
{
        const char *v = (const char *)sqlite3_column_text(st, i);
        char *d = v ? strdup(v) : NULL;

        *oom = *oom || (v && !d);
        return d;
}

int sq_content(struct rd_store *s, int64_t rowid, json_t **content, char **trace,
               char rules_digest[65])
{
        sqlite3_stmt *st = sq_prep(sq(s), S_CONTENT);
        char *t = NULL;
        bool oom = false;
        int rc;

        sqlite3_bind_int64(st, 1, rowid);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
                sqlite3_reset(st);
                return rc == SQLITE_DONE ? -ENOENT : sq_err(rc);
        }
        if (trace) /* as it was kept: compact, or JSON text from before */
                t = col_dup(st, 1, &oom);
        if (oom) {
                sqlite3_reset(st);
                return -ENOMEM;
        }
        if (content)
                *content = col_json(st, 0);
        if (trace)
                *trace = t;
        if (rules_digest)
                sq_col_text(st, 2, rules_digest, 65);
        sqlite3_reset(st);
        return 0;
}

/* ---- what the hub keeps in memory ------------------------------------------------------------ */

/* Call FN for each referral row of ST; stop at FN's non-zero value and
 * return it. */
static int each_row(sqlite3_stmt *st, int (*fn)(void *ctx, const struct rd_stored *st), void *ctx)
{
        struct rd_stored o;
        int rc, r = 0;

        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                sq_read_row(st, &o);
                r = fn(ctx, &o);
        }
        return sq_finish(st, rc, r);
}

/* Call FN with the text of column 0 (an empty string for NULL) and the
 * integer of column 1 of each row of ST. 0, FN's non-zero value, or errno. */
static int each_text_count(sqlite3_stmt *st, int (*fn)(void *ctx, const char *text, int64_t count),
                           void *ctx)
{
        int rc, r = 0;

        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                const unsigned char *t = sqlite3_column_text(st, 0);
                r = fn(ctx, t ? (const char *)t : "", sqlite3_column_int64(st, 1));
        }
        return sq_finish(st, rc, r);
}

static int each_rr(sqlite3_stmt *st, int (*fn)(void *ctx, const char *rule, const char *connector),
                   void *ctx)
{
        int rc, r = 0;

        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
                r = fn(ctx, (const char *)sqlite3_column_text(st, 0),
                       (const char *)sqlite3_column_text(st, 1));
        return sq_finish(st, rc, r);
}

int sq_each_state(struct rd_store *base, const struct rd_store_state_fns *fns, void *ctx)
{
        struct sq_store *s = sq(base);
        int r = 0;

        if (fns->open)
                r = each_row(sq_prep(s, S_OPEN), fns->open, ctx);
        if (r == 0 && fns->offer_count)
                r = each_text_count(sq_prep(s, S_OFFERS), fns->offer_count, ctx);
        if (r == 0 && fns->round_robin)
                r = each_rr(sq_prep(s, S_RR_ALL), fns->round_robin, ctx);
        if (r == 0 && fns->waiting)
                r = sq_each_waiting(base, NULL, fns->wait_limit, fns->waiting, ctx, NULL);
        return r;
}

int sq_each_decline(struct rd_store *s, int64_t rowid, int (*fn)(void *ctx, const char *connector),
                    void *ctx)
{
        sqlite3_stmt *st = sq_prep(sq(s), S_DECLINES);
        sqlite3_bind_int64(st, 1, rowid);
        return sq_each_text(st, fn, ctx);
}

/* ---- the waitlist -------------------------------------------------------------------------- */

/* Run ST (LIMIT bound to ?1 already) through FN, counting rows in *N. */
static int each_waiting_stmt(sqlite3_stmt *st,
                             int (*fn)(void *ctx, const struct rd_stored *st,
                                       const char *candidates),
                             void *ctx, size_t *n)
{
        struct rd_stored o;
        int rc, r = 0;

        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                const unsigned char *c = sqlite3_column_text(st, SQ_COL_CANDIDATES);
                sq_read_row(st, &o);
                (*n)++;
                r = fn(ctx, &o, c ? (const char *)c : "");
        }
        return sq_finish(st, rc, r);
}

int sq_each_waiting(struct rd_store *base, const struct rd_wait_key *after, size_t limit,
                    int (*fn)(void *ctx, const struct rd_stored *st, const char *candidates),
                    void *ctx, size_t *count)
{
        struct sq_store *s = sq(base);
        sqlite3_stmt *st;
        size_t n = 0;
        int r;

        if (limit > INT64_MAX)
                limit = INT64_MAX;
        if (!after) {
                st = sq_prep(s, S_WAITING_HEAD);
                sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
                r = each_waiting_stmt(st, fn, ctx, &n);
        } else {
                st = sq_prep(s, S_WAITING_SAME);
                sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
                sqlite3_bind_int(st, 2, (int)after->urgency);
                sqlite3_bind_int64(st, 3, after->start_by_ms);
                sqlite3_bind_int64(st, 4, after->rowid);
                r = each_waiting_stmt(st, fn, ctx, &n);
                if (r == 0 && n < limit) {
                        st = sq_prep(s, S_WAITING_LOWER);
                        sqlite3_bind_int64(st, 1, (sqlite3_int64)(limit - n));
                        sqlite3_bind_int(st, 2, (int)after->urgency);
                        r = each_waiting_stmt(st, fn, ctx, &n);
                }
        }
        if (r == 0 && count)
                *count = n;
        return r;
}

int sq_each_waiting_set(struct rd_store *s, int (*fn)(void *ctx, const struct rd_waiting_set *set),
                        void *ctx)
{
        sqlite3_stmt *st = sq_prep(sq(s), S_WAITING_SETS);
        int rc, r = 0;

        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                const unsigned char *t = sqlite3_column_text(st, 0);
                const struct rd_waiting_set set = {
                        .candidates = t ? (const char *)t : "",
                        .urgency = (enum rd_urgency)sqlite3_column_int(st, 1),
                        .count = sqlite3_column_int64(st, 2),
                        .latest_start_by = sqlite3_column_int64(st, 3),
                };
                r = fn(ctx, &set);
        }
        return sq_finish(st, rc, r);
}

int sq_count_waiting_before(struct rd_store *s, const char *candidates,
                            const struct rd_wait_key *before, int64_t limit, int64_t *count)
{
        sqlite3_stmt *st = sq_prep(sq(s), S_WAITING_BEFORE);
        int rc;

        sqlite3_bind_text(st, 1, candidates, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, (int)before->urgency);
        sqlite3_bind_int64(st, 3, before->start_by_ms);
        sqlite3_bind_int64(st, 4, before->rowid);
        sqlite3_bind_int64(st, 5, limit);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *count = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return rc == SQLITE_ROW ? 0 : sq_err(rc);
}

int sq_each_offer(struct rd_store *s, int (*fn)(void *ctx, const struct rd_stored *st), void *ctx)
{
        return each_row(sq_prep(sq(s), S_OFFERS_OPEN), fn, ctx);
}

int sq_meta_get(struct rd_store *s, const char *key, char *buf, size_t size)
{
        sqlite3_stmt *st = sq_prep(sq(s), S_META_GET);
        int rc;

        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                sq_col_text(st, 0, buf, size);
                sqlite3_reset(st);
                return 0;
        }
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? -ENOENT : sq_err(rc);
}

/* ---- deadlines ------------------------------------------------------------------------------ */

int sq_next_deadlines(struct rd_store *s, struct rd_deadlines *out)
{
        sqlite3_stmt *st = sq_prep(sq(s), S_NEXT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                out->offer_expires = sqlite3_column_int64(st, 0);
                out->at_risk_start_by = sqlite3_column_int64(st, 1);
                out->missed_start_by = sqlite3_column_int64(st, 2);
                out->erase_final = sqlite3_column_int64(st, 3);
        }
        sqlite3_reset(st);
        return rc == SQLITE_ROW ? 0 : sq_err(rc);
}

int sq_due(struct rd_store *s, enum rd_deadline kind, int64_t threshold, int64_t limit,
           struct rd_stored *rows, size_t *n)
{
        static const enum sq_stmt ids[] = {[RD_DUE_OFFER] = S_DUE_OFFER,
                                           [RD_DUE_AT_RISK] = S_DUE_AT_RISK,
                                           [RD_DUE_MISSED] = S_DUE_MISSED,
                                           [RD_DUE_ERASE] = S_DUE_ERASE};
        sqlite3_stmt *st = sq_prep(sq(s), ids[kind]);
        size_t k = 0;
        int rc;

        RD_TABLE_COVERS(ids, RD_DUE__MAX);
        sqlite3_bind_int64(st, 1, threshold);
        sqlite3_bind_int64(st, 2, limit);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < (size_t)limit)
                sq_read_row(st, &rows[k++]);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
                return sq_err(rc);
        *n = k;
        return 0;
}

/* ---- the daemon's reads -----------------------------------------------------------------------
 */

int sq_was_offered(struct rd_store *s, int64_t rowid, const char *connector)
{
        sqlite3_stmt *st = sq_prep(sq(s), S_OFFERED_HAS);
        int rc;

        sqlite3_bind_text(st, 1, connector, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, rowid);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW)
                return 1;
        return rc == SQLITE_DONE ? 0 : sq_err(rc);
}

/* ---- list ----------------------------------------------------------------------------------- */

/* The statement of Q: the one that reads the index of its most selective
 * filter (store_sqlite_sql.c, LIST_FILTERS). */
static enum sq_stmt list_stmt(const struct rd_list_query *q)
{
        if (q->attention)
                return S_LIST_ATTENTION;
        if (q->connector)
                return S_LIST_CONNECTOR;
        if (q->team)
                return S_LIST_TEAM;
        if (q->statuses)
                return S_LIST_STATUS;
        if (q->viewer && q->viewer->kind == RD_VIEW_CONNECTOR)
                return S_LIST_OFFERED;
        return S_LIST_SEQ;
}

int sq_each_listed(struct rd_store *s, const struct rd_list_query *q,
                   int (*fn)(void *ctx, const struct rd_stored *st), void *ctx)
{
        enum sq_stmt id = list_stmt(q);
        sqlite3_stmt *st = sq_prep(sq(s), id);
        int kind = q->viewer ? (int)q->viewer->kind : RD_VIEW_ALL, arm = 9;

        _Static_assert(RD_VIEW_ALL == 0 && RD_VIEW_PARTNER == 1 && RD_VIEW_CONNECTOR == 2,
                       "LIST_FILTERS numbers the viewers");
        sqlite3_bind_int64(st, 1, q->since);
        sqlite3_bind_int64(st, 2, q->limit);
        sqlite3_bind_int(st, 3, (int)q->statuses);
        if (q->connector)
                sqlite3_bind_text(st, 4, q->connector, -1, SQLITE_STATIC);
        if (q->team)
                sqlite3_bind_text(st, 5, q->team, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, q->attention);
        sqlite3_bind_int(st, 7, kind);
        if (kind != RD_VIEW_ALL)
                sqlite3_bind_text(st, 8, q->viewer->id, -1, SQLITE_STATIC);
        for (int i = 0; id == S_LIST_STATUS && i < RD_STATUS__MAX; i++)
                if (q->statuses & (1u << i) && arm <= 15)
                        sqlite3_bind_int(st, arm++, i);
        while (id == S_LIST_STATUS && arm <= 15)
                sqlite3_bind_int(st, arm++, -1); /* no rows */
        return each_row(st, fn, ctx);
}

int sq_each_reason(struct rd_store *s, int64_t rowid,
                   int (*fn)(void *ctx, const struct rd_store_reason *why), void *ctx)
{
        sqlite3_stmt *st = sq_prep(sq(s), S_REASONS);
        int rc, r = 0;

        sqlite3_bind_int64(st, 1, rowid);
        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct rd_store_reason why = {
                        .at_ms = sqlite3_column_int64(st, 0),
                        .change = (const char *)sqlite3_column_text(st, 1),
                        .connector = (const char *)sqlite3_column_text(st, 2),
                        .code = (const char *)sqlite3_column_text(st, 3),
                        .text = (const char *)sqlite3_column_text(st, 4),
                };
                r = fn(ctx, &why);
        }
        return sq_finish(st, rc, r);
}

/* Statement ALL, PARTNER or CONNECTOR, by who VIEWER (NULL: all) is. */
static enum sq_stmt for_viewer(const struct rd_viewer *viewer, enum sq_stmt all,
                               enum sq_stmt partner, enum sq_stmt connector)
{
        if (!viewer || viewer->kind == RD_VIEW_ALL)
                return all;
        return viewer->kind == RD_VIEW_PARTNER ? partner : connector;
}

int sq_each_event(struct rd_store *s, int64_t since, int64_t limit, const struct rd_viewer *viewer,
                  int (*fn)(void *ctx, const char *body), void *ctx)
{
        enum sq_stmt id = for_viewer(viewer, S_EVENTS, S_EVENTS_PARTNER, S_EVENTS_CONNECTOR);
        sqlite3_stmt *st = sq_prep(sq(s), id);
        sqlite3_bind_int64(st, 1, since);
        sqlite3_bind_int64(st, 2, limit);
        if (id != S_EVENTS)
                sqlite3_bind_text(st, 3, viewer->id, -1, SQLITE_STATIC);
        return sq_each_event_text(st, fn, ctx);
}

int sq_each_history(struct rd_store *s, int64_t rowid, int64_t limit,
                    int (*fn)(void *ctx, const char *body), void *ctx)
{
        sqlite3_stmt *st = sq_prep(sq(s), S_HISTORY);
        sqlite3_bind_int64(st, 1, rowid);
        sqlite3_bind_int64(st, 2, limit);
        return sq_each_event_text(st, fn, ctx);
}

int sq_count_history(struct rd_store *s, int64_t rowid, int64_t *n)
{
        sqlite3_stmt *st = sq_prep(sq(s), S_HISTORY_COUNT);
        int rc;

        sqlite3_bind_int64(st, 1, rowid);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *n = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return rc == SQLITE_ROW ? 0 : sq_err(rc);
}

/* ---- the figures ------------------------------------------------------------------------------
 */

/* The figures are counts that triggers keep with every change
 * (store_sqlite_sql.c, migration 6 -> 7) but an insert, whose counts
 * store_sqlite_tally.c keeps in memory until the commit: each read below
 * is one range of a primary key, whatever the number of referrals, plus
 * what is pending. The reads run inside the batch's transaction, between
 * its requests or inside one (daemon/batch.c, ops_read.c; a get, the
 * hub's requests): folding there would put the transaction's deltas under
 * a request's savepoint, which a ROLLBACK TO would take away with the
 * request, so they are added in C and nothing is written by a read. */

/* A figure's counts by key, in key order, those of the table (S_TALLIES)
 * and those pending merged; those not above 0 left out. */
struct tally_walk {
        sqlite3_stmt *st;
        int rc; /* the last step's (SQLITE_ROW: ST is on a row not taken yet) */
        struct sq_delta pending[2 * SQ_DELTAS_MAX];
        size_t n_pending, next;
};

static void walk_begin(struct sq_store *s, enum sq_figure figure, struct tally_walk *w)
{
        w->st = sq_prep(s, S_TALLIES);
        sqlite3_bind_int(w->st, 1, (int)figure);
        w->rc = sqlite3_step(w->st);
        w->n_pending = sq_tally_pending(s, figure, w->pending);
        w->next = 0;
}

/* The next key and count into *KEY, *COUNT: true, or false at the end
 * (or on an error, which walk_end returns). */
static bool walk_next(struct tally_walk *w, int64_t *key, int64_t *count)
{
        for (;;) {
                bool row = w->rc == SQLITE_ROW, more = w->next < w->n_pending;
                int64_t k = row ? sqlite3_column_int64(w->st, 0) : 0, c = 0;

                if (!row && !more)
                        return false;
                if (row && (!more || k <= w->pending[w->next].n)) {
                        c = sqlite3_column_int64(w->st, 1);
                        w->rc = sqlite3_step(w->st);
                }
                if (more && (!row || w->pending[w->next].n <= k)) {
                        k = w->pending[w->next].n;
                        c += w->pending[w->next++].d;
                }
                if (c > 0) {
                        *key = k;
                        *count = c;
                        return true;
                }
        }
}

static int walk_end(struct tally_walk *w)
{
        return sq_finish(w->st, w->rc == SQLITE_ROW ? SQLITE_DONE : w->rc, 0);
}

/* The sum of FIGURE's counts into *N. */
static int tally_sum(struct sq_store *s, enum sq_figure figure, int64_t *n)
{
        sqlite3_stmt *st = sq_prep(s, S_TALLY_SUM);
        int rc;

        sqlite3_bind_int(st, 1, (int)figure);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *n = sqlite3_column_int64(st, 0) + sq_tally_pending_sum(s, figure);
        sqlite3_reset(st);
        return rc == SQLITE_ROW ? 0 : sq_err(rc);
}

int sq_count_by_status(struct rd_store *s, int64_t counts[RD_STATUS__MAX])
{
        struct tally_walk w;
        int64_t status, n;

        for (int i = 0; i < RD_STATUS__MAX; i++)
                counts[i] = 0;
        walk_begin(sq(s), SQ_FIG_STATUS, &w);
        while (walk_next(&w, &status, &n))
                if (status >= 0 && status < RD_STATUS__MAX)
                        counts[status] = n;
        return walk_end(&w);
}

int sq_window_counts(struct rd_store *base, int64_t *started, int64_t *in_time, int64_t *missed)
{
        struct sq_store *s = sq(base);
        int64_t n[3];
        int r = tally_sum(s, SQ_FIG_TO_START, &n[0]);

        if (r == 0)
                r = tally_sum(s, SQ_FIG_IN_TIME, &n[1]);
        if (r == 0)
                r = tally_sum(s, SQ_FIG_MISSED, &n[2]);
        if (r < 0)
                return r;
        *started = n[0];
        *in_time = n[1];
        *missed = n[2];
        return 0;
}

/* The count, median and 90th percentile of the durations of FIGURE, from
 * its buckets (store.h, struct rd_durations): the nearest rank's bucket. */
static int percentiles(struct sq_store *s, enum sq_figure figure, struct rd_durations *out)
{
        int64_t n = 0, seen = 0, rank50, rank90, key, count;
        struct tally_walk w;
        int r = tally_sum(s, figure, &n);

        *out = (struct rd_durations){.count = n};
        if (r < 0 || n == 0)
                return r;
        rank50 = (n * 50 + 99) / 100;
        rank90 = (n * 90 + 99) / 100;
        walk_begin(s, figure, &w);
        while (seen < rank90 && walk_next(&w, &key, &count)) {
                int64_t bucket = sq_number_ms(key);
                if (seen < rank50 && seen + count >= rank50)
                        out->p50_ms = bucket;
                seen += count;
                if (seen >= rank90)
                        out->p90_ms = bucket;
        }
        return walk_end(&w);
}

static int forwards(sqlite3_stmt *st, struct rd_figures *f)
{
        int rc;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW && f->n_forwards < RD_FIGURES_FORWARDS_MAX) {
                sq_col_text(st, 0, f->forwards[f->n_forwards].to,
                            sizeof f->forwards[f->n_forwards].to);
                f->forwards[f->n_forwards++].count = sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
        return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sq_err(rc);
}

/* The reasons kept, by change and code. */
static int reason_counts(sqlite3_stmt *st, struct rd_figures *f)
{
        int rc;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW && f->n_reasons < RD_FIGURES_REASONS_MAX) {
                sq_col_text(st, 0, f->reasons[f->n_reasons].change,
                            sizeof f->reasons[f->n_reasons].change);
                sq_col_text(st, 1, f->reasons[f->n_reasons].code,
                            sizeof f->reasons[f->n_reasons].code);
                f->reasons[f->n_reasons++].count = sqlite3_column_int64(st, 2);
        }
        sqlite3_reset(st);
        return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sq_err(rc);
}

/* The oldest waiting referral's receipt into F (by referrals_waiting_since). */
static int oldest_waiting(struct sq_store *s, struct rd_figures *f)
{
        sqlite3_stmt *st = sq_prep(s, S_WAIT_OLDEST);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                f->oldest_waiting_received_ms = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return rc == SQLITE_ROW ? 0 : sq_err(rc);
}

int sq_figures(struct rd_store *base, struct rd_figures *f)
{
        struct sq_store *s = sq(base);
        int64_t counts[RD_STATUS__MAX];
        int r;

        memset(f, 0, sizeof *f);
        r = percentiles(s, SQ_FIG_TO_OFFER, &f->to_offer);
        if (r == 0)
                r = percentiles(s, SQ_FIG_TO_START, &f->to_start);
        if (r == 0)
                r = forwards(sq_prep(s, S_FORWARDS), f);
        if (r == 0)
                r = reason_counts(sq_prep(s, S_REASON_COUNTS), f);
        if (r == 0)
                r = sq_count_by_status(base, counts);
        if (r == 0)
                r = tally_sum(s, SQ_FIG_ATTENTION, &f->attention);
        if (r == 0)
                r = oldest_waiting(s, f);
        f->waiting = r == 0 ? counts[RD_STATUS_WAITLISTED] : 0;
        return r;
}

/* ---- the audit trail ---------------------------------------------------------------------------
 */

int sq_each_audit(struct rd_store *s, int64_t since, int64_t limit, const char *referral_id,
                  int (*fn)(void *ctx, const struct rd_audit_entry *e), void *ctx)
{
        sqlite3_stmt *st = sq_prep(sq(s), S_AUDIT_LIST);
        int rc, r = 0;

        sqlite3_bind_int64(st, 1, since);
        sqlite3_bind_int64(st, 2, limit);
        sqlite3_bind_text(st, 3, referral_id, -1, SQLITE_STATIC);
        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct rd_audit_entry e = {
                        .n = sqlite3_column_int64(st, 0),
                        .at_ms = sqlite3_column_int64(st, 1),
                        .client = (const char *)sqlite3_column_text(st, 2),
                        .role = (const char *)sqlite3_column_text(st, 3),
                        .action = (const char *)sqlite3_column_text(st, 4),
                        .referral_id = (const char *)sqlite3_column_text(st, 5),
                };
                r = fn(ctx, &e);
        }
        return sq_finish(st, rc, r);
}
