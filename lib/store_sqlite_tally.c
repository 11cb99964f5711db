/* store_sqlite_tally.c: the tallies of new referrals (store_sqlite.h,
 * struct sq_deltas). Since schema version 11 no trigger counts an inserted
 * row: sq_insert counts its tallies here, exactly as the trigger
 * tallies_in of the step 6 -> 7 did, into deltas kept in memory, and the
 * commit adds them to the table once per distinct row (a batch of
 * submits touches a few). The savepoints of requests hold as they did:
 * the open request's deltas are kept apart, join the transaction's when
 * it is kept and are dropped when it is undone; a rollback or a commit
 * that fails drops them all. A set that fills up is written into the
 * table at once, inside the request's savepoint for the request's. */
#include "store_sqlite.h"

#include <string.h>

int64_t sq_duration_number(int64_t ms)
{
        int64_t e = 0;

        if (ms < 0)
                return 0;
        for (; ms >= 1000; ms /= 10) /* M: the three most significant digits */
                e++;
        return 1000 * e + ms;
}

int64_t sq_number_ms(int64_t n)
{
        int64_t ms = n % 1000;

        for (int64_t e = n / 1000; e > 0; e--)
                ms *= 10;
        return ms;
}

/* The bucket number of the duration TO - FROM into *OUT: in C, or where
 * the difference overflows, by SQLite, whose triggers count on from there
 * in floating point (S_TALLY_NUMBER). */
static int number_of(struct sq_store *s, int64_t to, int64_t from, int64_t *out)
{
        sqlite3_stmt *st;
        int64_t d;
        int rc;

        if (!__builtin_sub_overflow(to, from, &d)) {
                *out = sq_duration_number(d);
                return 0;
        }
        st = sq_prep(s, S_TALLY_NUMBER);
        sqlite3_bind_int64(st, 1, to);
        sqlite3_bind_int64(st, 2, from);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *out = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return rc == SQLITE_ROW ? 0 : sq_err(rc);
}

/* The rows of tallies that the row S_INSERT makes of O counts in (the
 * arms of M7_ROW and M7_FLAGS of the step 6 -> 7 that trigger tallies_in
 * ran) into N[0 .. *LEN). The INSERT stores O's offer as its first and
 * leaves started_ms and missed_fired at their defaults, 0: such a row is
 * neither started (to_start, in_time) nor missed. 0 or a negative errno. */
static int tallies_of(struct sq_store *s, const struct rd_stored *o, int64_t n[3], size_t *len)
{
        const int64_t span = SQ_FIGURE_SPAN;
        int64_t key = 0;
        size_t k = 0;

        n[k++] = SQ_FIG_STATUS * span + (int64_t)o->status;
        if (o->offered_ms > 0) {
                int r = number_of(s, o->offered_ms, o->received_ms, &key);
                if (r < 0)
                        return r;
                n[k++] = SQ_FIG_TO_OFFER * span + key;
        }
        if (o->attention > 0)
                n[k++] = SQ_FIG_ATTENTION * span;
        *len = k;
        return 0;
}

/* Add D to row N of tallies in the table. */
static int write_one(struct sq_store *s, int64_t n, int64_t d)
{
        sqlite3_stmt *st = sq_prep(s, S_TALLY_ADD);
        sqlite3_bind_int64(st, 1, n);
        sqlite3_bind_int64(st, 2, d);
        return sq_step_done(st);
}

/* Write the deltas of SET into the table, each taken out of SET once it
 * is written: a failure leaves in SET those that are not. */
static int write_all(struct sq_store *s, struct sq_deltas *set)
{
        while (set->len > 0) {
                const struct sq_delta *dl = &set->v[set->len - 1];
                int r = dl->d ? write_one(s, dl->n, dl->d) : 0;
                if (r < 0)
                        return r;
                set->len--;
        }
        return 0;
}

/* The place of row N in SET, or SET->len when it has none. */
static size_t find(const struct sq_deltas *set, int64_t n)
{
        size_t i = 0;

        while (i < set->len && set->v[i].n != n)
                i++;
        return i;
}

/* Add D to row N in SET, which has room or holds N already. */
static void add(struct sq_deltas *set, int64_t n, int64_t d)
{
        size_t i = find(set, n);

        if (i == set->len)
                set->v[set->len++] = (struct sq_delta){n, 0};
        set->v[i].d += d;
}

int sq_tally_insert(struct sq_store *s, const struct rd_stored *o)
{
        struct sq_deltas *set = s->in_request ? &s->req_deltas : &s->txn_deltas;
        int64_t n[3];
        size_t len;
        int r = tallies_of(s, o, n, &len);

        if (r < 0)
                return r;
        if (sqlite3_get_autocommit(s->db)) { /* no transaction: the insert stands alone */
                for (size_t i = 0; r == 0 && i < len; i++)
                        r = write_one(s, n[i], 1);
                return r;
        }
        for (size_t i = 0; i < len; i++) {
                if (find(set, n[i]) == set->len && set->len == SQ_DELTAS_MAX &&
                    (r = write_all(s, set)) < 0)
                        return r;
                add(set, n[i], 1);
        }
        return 0;
}

/* Whether every delta of FROM fits into INTO. */
static bool fits(const struct sq_deltas *from, const struct sq_deltas *into)
{
        size_t len = into->len;

        for (size_t i = 0; i < from->len; i++)
                if (find(into, from->v[i].n) == into->len)
                        len++;
        return len <= SQ_DELTAS_MAX;
}

int sq_tally_keep_begin(struct sq_store *s)
{
        if (s->request_is_txn || !fits(&s->req_deltas, &s->txn_deltas))
                return write_all(s, &s->req_deltas);
        return 0;
}

void sq_tally_keep_end(struct sq_store *s)
{
        for (size_t i = 0; i < s->req_deltas.len; i++)
                add(&s->txn_deltas, s->req_deltas.v[i].n, s->req_deltas.v[i].d);
        s->req_deltas.len = 0;
        s->in_request = false;
}

void sq_tally_drop(struct sq_store *s, bool all)
{
        s->req_deltas.len = 0;
        s->in_request = false;
        if (all)
                s->txn_deltas.len = 0;
}

int sq_tally_fold(struct sq_store *s)
{
        int r = write_all(s, &s->req_deltas);

        if (r == 0)
                r = write_all(s, &s->txn_deltas);
        sq_tally_drop(s, true);
        return r;
}

/* ---- what the readers add ------------------------------------------------------------- */

/* Whether row N is one of FIGURE's. */
static bool in_figure(int64_t n, enum sq_figure figure)
{
        return n / SQ_FIGURE_SPAN == (int64_t)figure;
}

size_t sq_tally_pending(const struct sq_store *s, enum sq_figure figure, struct sq_delta *out)
{
        const struct sq_deltas *sets[] = {&s->txn_deltas, &s->req_deltas};
        size_t len = 0;

        for (size_t k = 0; k < 2; k++) {
                for (size_t i = 0; i < sets[k]->len; i++) {
                        const struct sq_delta *dl = &sets[k]->v[i];
                        size_t j = 0;

                        if (!in_figure(dl->n, figure))
                                continue;
                        while (j < len && out[j].n < dl->n % SQ_FIGURE_SPAN)
                                j++;
                        if (j < len && out[j].n == dl->n % SQ_FIGURE_SPAN) {
                                out[j].d += dl->d;
                                continue;
                        }
                        memmove(&out[j + 1], &out[j], (len - j) * sizeof *out);
                        out[j] = (struct sq_delta){dl->n % SQ_FIGURE_SPAN, dl->d};
                        len++;
                }
        }
        return len;
}

int64_t sq_tally_pending_sum(const struct sq_store *s, enum sq_figure figure)
{
        struct sq_delta v[2 * SQ_DELTAS_MAX];
        size_t n = sq_tally_pending(s, figure, v);
        int64_t sum = 0;

        for (size_t i = 0; i < n; i++)
                sum += v[i].d;
        return sum;
}
