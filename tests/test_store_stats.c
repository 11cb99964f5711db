/* Unit tests of the figures of `stats` (store.h: rd_store_count_by_status,
 * rd_store_window_counts, rd_store_figures) over the SQLite driver, which
 * keeps them as tallies by triggers: they must equal the figures counted
 * from the rows as `stats` counted them before (a pass over every
 * referral: exact counts, exact nearest-rank percentiles), the counts
 * exactly and the percentiles within the error store.h states, after
 * every kind of change, inside the transaction that made it and after it
 * was rolled back. tests/integration/test_pg_store.py runs them on the
 * PostgreSQL driver too (hub_fixture.h), whose triggers keep the same
 * counts: there the rows are counted on a session of their own, which
 * sees what is committed only, so the figures are compared with them
 * outside a transaction. */
#include "hub_fixture.h"

#include <libpq-fe.h>
#include <sqlite3.h>

#include "store_sqlite.h" /* the driver's connection, to count the rows */
#include "store_versions.h"

/* ---- the figures counted from the rows ------------------------------------------- */

struct exact {
        int64_t counts[RD_STATUS__MAX];
        int64_t started, in_time, missed;
        int64_t offer_n, offer_p50, offer_p90, start_n, start_p50, start_p90;
        char forwards[512];
        int64_t waiting, oldest, attention;
        char reasons[512];
};

/* A session of the test's own on F's PostgreSQL schema (one at a time,
 * kept for the next call of the same test). */
static PGconn *pg_session(struct fx *f)
{
        static PGconn *conn;
        static char conninfo[sizeof f->conninfo];

        if (conn && strcmp(conninfo, f->conninfo) == 0)
                return conn;
        PQfinish(conn);
        conn = PQconnectdb(f->conninfo);
        if (PQstatus(conn) != CONNECTION_OK)
                fail_msg("cannot connect: %s", PQerrorMessage(conn));
        snprintf(conninfo, sizeof conninfo, "%s", f->conninfo);
        return conn;
}

/* Call FN with each row of SQL on F's PostgreSQL schema (pg_session). */
static void each_row_pg(struct fx *f, const char *sql,
                        void (*fn)(void *ctx, const char *const *v, int n), void *ctx)
{
        PGresult *res = PQexec(pg_session(f), sql);
        const char *v[8];

        if (PQresultStatus(res) != PGRES_TUPLES_OK)
                fail_msg("%s: %s", sql, PQresultErrorMessage(res));
        for (int row = 0; row < PQntuples(res); row++) {
                for (int i = 0; i < PQnfields(res) && i < 8; i++)
                        v[i] = PQgetisnull(res, row, i) ? NULL : PQgetvalue(res, row, i);
                fn(ctx, v, PQnfields(res));
        }
        PQclear(res);
}

/* Call FN with each row of SQL on F's database, its N columns as text
 * (NULL: SQL NULL). SQLite: on the store's own connection, so that what
 * its open transaction wrote counts too; PostgreSQL: each_row_pg. */
static void each_row(struct fx *f, const char *sql,
                     void (*fn)(void *ctx, const char *const *v, int n), void *ctx)
{
        const char *v[8];
        sqlite3_stmt *st;

        if (f->conninfo[0]) {
                each_row_pg(f, sql, fn, ctx);
                return;
        }
        assert_int_equal(sqlite3_prepare_v2(sq(f->store)->db, sql, -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
                for (int i = 0; i < sqlite3_column_count(st) && i < 8; i++)
                        v[i] = (const char *)sqlite3_column_text(st, i);
                fn(ctx, v, sqlite3_column_count(st));
        }
        sqlite3_finalize(st);
}

static int64_t int_of(const char *v)
{
        return v ? strtoll(v, NULL, 10) : 0;
}

struct ints {
        int64_t *const *out;
        int n, rows;
};

static void one_row_fn(void *ctx, const char *const *v, int n)
{
        struct ints *c = ctx;

        assert_true(n >= c->n);
        for (int i = 0; i < c->n; i++)
                *c->out[i] = int_of(v[i]);
        c->rows++;
}

/* The one row of SQL on F's database: its integer columns into *OUT[0 .. N). */
static void one_row(struct fx *f, const char *sql, int64_t *const *out, int n)
{
        struct ints c = {out, n, 0};

        each_row(f, sql, one_row_fn, &c);
        assert_int_equal(c.rows, 1);
}

struct text {
        char *buf;
        size_t size, len;
};

static void rows_text_fn(void *ctx, const char *const *v, int n)
{
        struct text *t = ctx;

        assert_true(n >= 2);
        if (t->len < t->size)
                t->len += (size_t)snprintf(t->buf + t->len, t->size - t->len, "%s:%s;", v[0], v[1]);
}

/* Each row of SQL on F's database as "a:b;" (its two columns) into BUF. */
static void rows_text(struct fx *f, const char *sql, char *buf, size_t size)
{
        struct text t = {buf, size, 0};

        buf[0] = '\0';
        each_row(f, sql, rows_text_fn, &t);
}

struct values {
        int64_t *v;
        size_t n;
};

static void values_fn(void *ctx, const char *const *v, int n)
{
        struct values *c = ctx;

        (void)n;
        c->v = realloc(c->v, (c->n + 1) * sizeof *c->v);
        assert_non_null(c->v);
        c->v[c->n++] = int_of(v[0]);
}

/* How many durations SQL yields (ascending) and their exact nearest-rank
 * 50th and 90th percentiles. */
static void exact_percentiles(struct fx *f, const char *sql, int64_t *n, int64_t *p50, int64_t *p90)
{
        struct values c = {NULL, 0};
        size_t k;

        each_row(f, sql, values_fn, &c);
        k = c.n;
        *n = (int64_t)k;
        *p50 = k ? c.v[(k * 50 + 99) / 100 - 1] : 0;
        *p90 = k ? c.v[(k * 90 + 99) / 100 - 1] : 0;
        free(c.v);
}

static void status_fn(void *ctx, const char *const *v, int n)
{
        struct exact *e = ctx;

        assert_true(n >= 2);
        e->counts[int_of(v[0])] = int_of(v[1]);
}

/* The figures of F's store counted from its rows (each_row: on SQLite,
 * what its open transaction wrote counts too). */
static void count_rows(struct fx *f, struct exact *e)
{
        memset(e, 0, sizeof *e);
        each_row(f, "SELECT status, count(*) FROM referrals GROUP BY status", status_fn, e);
        one_row(f,
                "SELECT count(*),"
                " coalesce(sum(CASE WHEN started_ms <= start_by_ms THEN 1 ELSE 0 END), 0),"
                " (SELECT count(*) FROM referrals WHERE missed_fired = 1)"
                " FROM referrals WHERE started_ms > 0",
                (int64_t *const[]){&e->started, &e->in_time, &e->missed}, 3);
        exact_percentiles(f,
                          "SELECT first_offered_ms - received_ms FROM referrals"
                          " WHERE first_offered_ms > 0 ORDER BY 1",
                          &e->offer_n, &e->offer_p50, &e->offer_p90);
        exact_percentiles(f,
                          "SELECT started_ms - received_ms FROM referrals"
                          " WHERE started_ms > 0 ORDER BY 1",
                          &e->start_n, &e->start_p50, &e->start_p90);
        rows_text(f,
                  "SELECT forward_to, count(*) FROM referrals WHERE status = 3"
                  " GROUP BY forward_to ORDER BY 2 DESC, 1",
                  e->forwards, sizeof e->forwards);
        one_row(f,
                "SELECT count(*), coalesce(min(received_ms), 0),"
                " (SELECT count(*) FROM referrals WHERE attention > 0)"
                " FROM referrals WHERE status = 2",
                (int64_t *const[]){&e->waiting, &e->oldest, &e->attention}, 3);
        rows_text(f,
                  "SELECT change || ' ' || coalesce(reason_code, ''), count(*) FROM reasons"
                  " GROUP BY 1 ORDER BY 1",
                  e->reasons, sizeof e->reasons);
}

/* A percentile P of the store against the EXACT one: its bucket, never
 * above it, less than 1% below. */
static void assert_within_error(int64_t p, int64_t exact)
{
        if (p != rd_store_duration_bucket(exact) || p > exact || (exact - p) * 100 >= exact + 99)
                fail_msg("percentile %lld, exact %lld", (long long)p, (long long)exact);
}

/* The figures of F's store equal those counted from its rows. */
static void assert_figures_exact(struct fx *f)
{
        struct exact e;
        struct rd_figures fig;
        int64_t counts[RD_STATUS__MAX], started, in_time, missed;
        char buf[512];
        size_t len = 0;

        if (f->conninfo[0] && rd_store_in_transaction(f->store))
                return; /* its rows are its own session's (above) */
        count_rows(f, &e);
        assert_int_equal(rd_store_count_by_status(f->store, counts), 0);
        for (int i = 0; i < RD_STATUS__MAX; i++)
                assert_int_equal(counts[i], e.counts[i]);
        assert_int_equal(rd_store_window_counts(f->store, &started, &in_time, &missed), 0);
        assert_int_equal(started, e.started);
        assert_int_equal(in_time, e.in_time);
        assert_int_equal(missed, e.missed);
        assert_int_equal(rd_store_figures(f->store, &fig), 0);
        assert_int_equal(fig.to_offer.count, e.offer_n);
        assert_within_error(fig.to_offer.p50_ms, e.offer_p50);
        assert_within_error(fig.to_offer.p90_ms, e.offer_p90);
        assert_int_equal(fig.to_start.count, e.start_n);
        assert_within_error(fig.to_start.p50_ms, e.start_p50);
        assert_within_error(fig.to_start.p90_ms, e.start_p90);
        buf[0] = '\0';
        for (size_t i = 0; i < fig.n_forwards; i++)
                len += (size_t)snprintf(buf + len, sizeof buf - len, "%s:%lld;", fig.forwards[i].to,
                                        (long long)fig.forwards[i].count);
        assert_string_equal(buf, e.forwards);
        assert_int_equal(fig.waiting, e.waiting);
        assert_int_equal(fig.oldest_waiting_received_ms, e.oldest);
        assert_int_equal(fig.attention, e.attention);
        len = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < fig.n_reasons; i++)
                len += (size_t)snprintf(buf + len, sizeof buf - len, "%s %s:%lld;",
                                        fig.reasons[i].change, fig.reasons[i].code,
                                        (long long)fig.reasons[i].count);
        assert_string_equal(buf, e.reasons);
}

/* ---- the bucket ------------------------------------------------------------------ */

static void a_duration_counts_with_its_three_most_significant_digits(void **state)
{
        (void)state;
        assert_int_equal(rd_store_duration_bucket(-5), 0);
        assert_int_equal(rd_store_duration_bucket(0), 0);
        assert_int_equal(rd_store_duration_bucket(999), 999);
        assert_int_equal(rd_store_duration_bucket(1000), 1000);
        assert_int_equal(rd_store_duration_bucket(1234), 1230);
        assert_int_equal(rd_store_duration_bucket(99999), 99900);
        assert_int_equal(rd_store_duration_bucket(123456789), 123000000);
        assert_int_equal(rd_store_duration_bucket(INT64_MAX), 9220000000000000000LL);
        for (int64_t ms = 1; ms < INT64_MAX / 3; ms = ms * 3 + 7) {
                int64_t b = rd_store_duration_bucket(ms);
                assert_true(b <= ms && (ms - b) * 100 < ms);
        }
}

/* ---- a script of every kind of change ---------------------------------------- */

struct script {
        struct fx *f;
        unsigned seed, first_seed;
        int64_t now;
        int n_refs;
};

static unsigned roll(struct script *s, unsigned n)
{
        s->seed = s->seed * 1103515245u + 12345u;
        return (s->seed >> 16) % n;
}

static const char *const forms[] = {FAMILY("%s"), FAMILY_HIGH("%s"), FAMILY_SAFETY("%s"),
                                    PSY("%s"),    CRISIS("%s"),      ELSEWHERE("%s")};

static void script_submit(struct script *s)
{
        char ref[32], json[1024];
        struct rd_stored st;
        struct rd_error err;
        bool dup;

        snprintf(ref, sizeof ref, "s%u-%d", s->first_seed, ++s->n_refs);
        snprintf(json, sizeof json, forms[roll(s, sizeof forms / sizeof forms[0])], ref);
        assert_int_equal(submit(s->f, json, s->now, &st, &dup, &err), 0);
}

/* The next change of a random referral, with a reason code now and then. */
static void script_update(struct script *s)
{
        static const char *const codes[][3] = {
                {"no_capacity", "language", NULL},
                {"moved", "need_resolved", NULL},
                {"goals_reached", "other", NULL},
        };
        struct rd_update u = {0};
        struct rd_stored st, out;
        struct rd_error err;
        char id[RD_RID_MAX];
        bool changed;
        int kind = -1;

        if (!s->n_refs)
                return;
        for (int tries = 0; tries < 8; tries++) { /* an open one, most often */
                rd_store_format_id(1 + (int64_t)roll(s, (unsigned)s->n_refs), id);
                assert_int_equal(rd_store_get(s->f->store, id, &st), 0);
                if (rd_status_is_open(st.status))
                        break;
        }
        u.id = id;
        u.connector = st.connector[0] ? st.connector : NULL;
        switch (st.status) {
        case RD_STATUS_ASSIGNED:
                u.declined = roll(s, 3) == 0;
                u.status = roll(s, 2) ? RD_STATUS_ACCEPTED : RD_STATUS_STARTED;
                kind = u.declined ? 0 : -1;
                break;
        case RD_STATUS_ACCEPTED: u.status = RD_STATUS_STARTED; break;
        case RD_STATUS_STARTED:
                u.status = RD_STATUS_CLOSED;
                kind = 2;
                break;
        case RD_STATUS_WAITLISTED:
                if (roll(s, 3)) {
                        u.status = RD_STATUS_WITHDRAWN;
                        kind = 1;
                        break;
                }
                u.status = RD_STATUS_FORWARDED;
                u.forward_to = roll(s, 2) ? "caw-limburg" : "cgg-limburg";
                u.reason = "another service";
                break;
        default: return;
        }
        if (kind >= 0)
                u.reason_code = codes[kind][roll(s, 3)];
        assert_int_equal(update(s->f, &u, s->now, &out, &changed, &err), 0);
}

static void script_erase(struct script *s)
{
        char id[RD_RID_MAX];
        struct rd_stored out;
        struct rd_error err;
        bool changed;
        int r;

        if (!s->n_refs)
                return;
        rd_store_format_id(1 + (int64_t)roll(s, (unsigned)s->n_refs), id);
        request_begin(s->f);
        r = rd_hub_erase(s->f->hub, id, s->now, &out, &changed, &err);
        request_end(s->f, r);
        assert_int_equal(r, 0);
}

/* A routing file in which genk serves fewer postcodes (waiting referrals
 * need attention) or has a third connector (the waitlist is served). */
static void script_reload(struct script *s)
{
        switch (roll(s, 4)) {
        case 0: reload(s->f, rules_with("\"3660-3668\"", NULL, false), s->now); break;
        case 1:
                reload(s->f,
                       load_rules("      - {id: murat, capacity: 3, skills: [family_support]}\n"),
                       s->now);
                break;
        default: reload(s->f, load_rules(NULL), s->now); break;
        }
}

/* A submit undone with its request, then a tick undone with its whole
 * transaction: the figures inside each, and after. */
static void script_rollbacks(struct script *s)
{
        char ref[32], json[1024];
        struct rd_referral r;
        struct rd_stored st;
        struct rd_error err;
        json_t *obj;
        size_t done;
        bool dup;

        snprintf(ref, sizeof ref, "undone-%d", s->n_refs);
        snprintf(json, sizeof json, FAMILY("%s"), ref);
        obj = json_loads(json, 0, NULL);
        assert_int_equal(rd_referral_from_json(obj, &r, &err), 0);
        json_decref(obj);
        request_begin(s->f);
        assert_int_equal(rd_hub_submit(s->f->hub, &r, s->now, &st, &dup, &err), 0);
        assert_figures_exact(s->f);
        request_end(s->f, -1);
        rd_referral_clear(&r);
        assert_figures_exact(s->f);

        begin(s->f);
        assert_int_equal(rd_hub_tick(s->f->hub, s->now + 40 * DAY, 100, &done), 0);
        assert_figures_exact(s->f);
        end(s->f, -1);
        assert_figures_exact(s->f);
}

/* A random script over F: submits, updates with reasons, erasures,
 * deadlines and retention (ticks), reloads, rollbacks; time moves by a
 * millisecond to a few days at each step, so that durations have from one
 * to ten digits. The figures are checked after every step. */
static void run_script(struct fx *f, unsigned seed, int steps)
{
        struct script s = {.f = f, .seed = seed, .first_seed = seed, .now = T0};
        static const int64_t moves[] = {1, 997, 61003, HOUR + 7, 9 * HOUR + 1, 2 * DAY + 13};

        rd_hub_set_retention(f->hub, 20 * 86400);
        for (int step = 0; step < steps; step++) {
                unsigned what = roll(&s, 40);

                s.now += (int64_t)roll(&s, 101) * moves[roll(&s, 6)] / 100;
                if (what < 16)
                        script_submit(&s);
                else if (what < 32)
                        script_update(&s);
                else if (what < 34)
                        script_erase(&s);
                else if (what < 37)
                        tick(f, s.now);
                else if (what < 38)
                        script_reload(&s);
                else
                        script_rollbacks(&s);
                assert_figures_exact(f);
        }
}

static void the_figures_equal_those_counted_from_the_rows_after_every_kind_of_change(void **state)
{
        struct fx *f = *state;
        struct rd_figures fig;
        int64_t started, in_time, missed;

        run_script(f, 5, 700);
        /* the script reached every figure */
        assert_int_equal(rd_store_figures(f->store, &fig), 0);
        assert_int_equal(rd_store_window_counts(f->store, &started, &in_time, &missed), 0);
        print_message("offered %lld, started %lld, forwards %zu, reasons %zu, in time %lld, "
                      "missed %lld, waiting %lld, attention %lld\n",
                      (long long)fig.to_offer.count, (long long)fig.to_start.count, fig.n_forwards,
                      fig.n_reasons, (long long)in_time, (long long)missed, (long long)fig.waiting,
                      (long long)fig.attention);
        assert_true(fig.to_offer.count > 10 && fig.to_start.count > 10 && fig.n_forwards >= 2);
        assert_true(fig.n_reasons >= 4 && started > in_time && missed > 0);
}

/* Take the closed database of F back to the schema before the tallies:
 * SQLite's version 6, PostgreSQL's version 1. */
static void back_to_before_the_tallies(struct fx *f)
{
        PGresult *res;

        if (!f->conninfo[0]) {
                back_to(f->path, BACK_TO_VERSION_6 "PRAGMA user_version = 6");
                return;
        }
        res = PQexec(pg_session(f), "SET client_min_messages = warning;" BACK_TO_PG_VERSION_1
                                    "UPDATE rd_schema SET version = 1");
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
                fail_msg("back to version 1: %s", PQresultErrorMessage(res));
        PQclear(res);
}

/* A database of the schema before the tallies gets them from its rows (on
 * PostgreSQL, a database of its schema version 1). */
static void a_version_6_database_gets_its_figures_on_upgrade(void **state)
{
        struct fx *f = *state;
        struct rd_store_target t = {.kind = f->conninfo[0] ? RD_STORE_POSTGRESQL : RD_STORE_SQLITE,
                                    .path = f->path,
                                    .conninfo = f->conninfo};
        struct rd_figures fig;
        char errbuf[512];

        run_script(f, 9, 300);
        rd_hub_free(f->hub);
        f->hub = NULL;
        rd_store_close(f->store);
        f->store = NULL;
        back_to_before_the_tallies(f);
        assert_int_equal(rd_store_open_target(&t, &f->store, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_hub_new(f->store, load_rules(NULL), &f->hub), 0);
        assert_int_equal(rd_store_figures(f->store, &fig), 0);
        assert_true(fig.to_offer.count > 0);
        assert_figures_exact(f);
        run_script(f, 10, 50); /* and kept from then on */
}

/* Durations of many digits, made by hand: the percentiles are the buckets
 * of the exact ones, within 1%. */
static void percentiles_of_long_durations_are_within_one_percent(void **state)
{
        struct fx *f = *state;
        char ref[32], json[1024];
        int64_t now = T0;

        /* the psychologist takes each at once, starts it after I * I * 98,765
         * ms and closes it before the next arrives */
        for (int i = 0; i < 60; i++) {
                struct rd_stored st;
                int64_t took = 1000 + (int64_t)i * i * 98765;
                snprintf(ref, sizeof ref, "long-%d", i);
                snprintf(json, sizeof json, PSY("%s"), ref);
                st = sub(f, json, now);
                assert_int_equal(st.status, RD_STATUS_ASSIGNED);
                ok(f, st.id, "started", st.connector, now + took);
                ok(f, st.id, "closed", st.connector, now + took + 1);
                now += took + 2;
                assert_figures_exact(f);
        }
}

/* ---- a new referral's tallies, kept in C until the commit (SQLite) ----------------- */

/* The bucket number SQLite's triggers compute for the duration TO - FROM
 * (S_TALLY_NUMBER) on F's store. */
static int64_t sqlite_number(struct fx *f, int64_t to, int64_t from)
{
        sqlite3_stmt *st = sq_prep(sq(f->store), S_TALLY_NUMBER);
        int64_t n;

        sqlite3_bind_int64(st, 1, to);
        sqlite3_bind_int64(st, 2, from);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        n = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return n;
}

static void a_duration_falls_in_the_same_bucket_in_c_as_in_the_triggers(void **state)
{
        static const int64_t edges[] = {0,      -1,        -5,        INT64_MIN, 1,        9,
                                        10,     99,        100,       998,       999,      1000,
                                        1001,   1009,      1010,      9999,      10000,    10001,
                                        123456, 999999999, 100000000, INT64_MAX, 1LL << 40};
        struct fx *f = *state;

        SQLITE_ONLY(); /* the SQLite driver's own */
        for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
                int64_t n = sq_duration_number(edges[i]);
                assert_int_equal(n, sqlite_number(f, edges[i], 0));
                assert_int_equal(sq_number_ms(n), rd_store_duration_bucket(edges[i]));
        }
        for (int64_t ms = 1; ms < INT64_MAX / 3; ms = ms * 3 + 7)
                assert_int_equal(sq_duration_number(ms), sqlite_number(f, ms, 0));
}

/* A request's savepoint in F's open transaction (the fixture's
 * request_begin makes a transaction of its own), and its end: kept
 * (KEEP) or undone. */
static void savepoint_begin(struct fx *f)
{
        assert_int_equal(rd_hub_request_begin(f->hub), 0);
}

static void savepoint_end(struct fx *f, bool keep)
{
        assert_int_equal(rd_hub_request_end(f->hub, keep), 0);
}

/* The number of referrals in STATUS that `stats` gives on F's store. */
static int64_t in_status(struct fx *f, enum rd_status status)
{
        int64_t counts[RD_STATUS__MAX];

        assert_int_equal(rd_store_count_by_status(f->store, counts), 0);
        return counts[status];
}

/* `stats` on F counts ASSIGNED referrals assigned, and its figures are
 * those counted from the rows. */
static void assert_assigned(struct fx *f, int64_t assigned)
{
        assert_int_equal(in_status(f, RD_STATUS_ASSIGNED), assigned);
        assert_figures_exact(f);
}

/* Submit the family-support referral REF at NOW in a request of F's open
 * transaction, kept (KEEP) or undone: returns it as stored. */
static struct rd_stored submit_in_request(struct fx *f, const char *ref, int64_t now, bool keep)
{
        char json[1024];
        struct rd_referral r;
        struct rd_stored st;
        struct rd_error err;
        json_t *obj;
        bool dup;

        snprintf(json, sizeof json, FAMILY("%s"), ref);
        obj = json_loads(json, 0, NULL);
        assert_int_equal(rd_referral_from_json(obj, &r, &err), 0);
        json_decref(obj);
        savepoint_begin(f);
        assert_int_equal(rd_hub_submit(f->hub, &r, now, &st, &dup, &err), 0);
        savepoint_end(f, keep);
        rd_referral_clear(&r);
        return st;
}

/* Begin a transaction on F and submit PREFIX-1 and PREFIX-2 in it, each
 * in a request kept: `stats` counts them there, ASSIGNED + 2. */
static void begin_with_two_kept(struct fx *f, const char *prefix, int64_t assigned)
{
        char ref[32];

        begin(f);
        for (int i = 1; i <= 2; i++) {
                snprintf(ref, sizeof ref, "%s-%d", prefix, i);
                submit_in_request(f, ref, T0 + i, true);
        }
        assert_assigned(f, assigned + 2);
}

static void stats_inside_a_transaction_count_its_kept_submits_and_not_the_undone_one(void **state)
{
        struct fx *f = *state;
        int64_t assigned = in_status(f, RD_STATUS_ASSIGNED);

        begin_with_two_kept(f, "kept", assigned);
        submit_in_request(f, "undone", T0 + 3, false);
        assert_assigned(f, assigned + 2);
        end(f, 0);
        assert_assigned(f, assigned + 2);
}

/* A referral submitted and accepted in one transaction (a batch): `stats`
 * inside it counts it accepted, not assigned too. On SQLite the update's
 * trigger takes 1 from the row of assigned before the insert's delta is
 * folded into it: the row is -1 in the table and +1 pending. */
static void stats_inside_a_transaction_count_a_referral_submitted_and_accepted_in_it(void **state)
{
        struct fx *f = *state;
        struct rd_stored st, out;
        struct rd_error err;
        struct rd_update u = {0};
        bool changed;

        assert_int_equal(in_status(f, RD_STATUS_ASSIGNED), 0);
        begin(f);
        st = submit_in_request(f, "sub-acc", T0, true);
        assert_int_equal(st.status, RD_STATUS_ASSIGNED);
        u.id = st.id;
        u.connector = st.connector;
        u.status = RD_STATUS_ACCEPTED;
        savepoint_begin(f);
        assert_int_equal(rd_hub_update(f->hub, &u, T0 + 1, &out, &changed, &err), 0);
        savepoint_end(f, true);
        assert_int_equal(in_status(f, RD_STATUS_ACCEPTED), 1);
        assert_assigned(f, 0);
        end(f, 0);
        assert_assigned(f, 0);
}

static void a_rolled_back_transaction_leaves_the_figures_as_they_were(void **state)
{
        struct fx *f = *state;
        int64_t assigned = in_status(f, RD_STATUS_ASSIGNED);

        begin_with_two_kept(f, "gone", assigned);
        end(f, -1);
        assert_assigned(f, assigned);
        begin(f); /* and the next transaction counts from there */
        submit_in_request(f, "next", T0 + 3, true);
        end(f, 0);
        assert_assigned(f, assigned + 1);
}

/* Insert, straight into F's store, a referral REF received at RECEIVED
 * and offered at OFFERED (0: waitlisted, with an attention), without
 * events. */
static void insert_row(struct fx *f, const char *ref, int64_t received, int64_t offered)
{
        struct rd_stored st = {.received_ms = received,
                               .status = offered ? RD_STATUS_ASSIGNED : RD_STATUS_WAITLISTED,
                               .offered_ms = offered,
                               .attention =
                                       offered ? RD_ATTENTION_NONE : RD_ATTENTION_NO_CANDIDATE};

        snprintf(st.partner, sizeof st.partner, "ocmw-genk");
        snprintf(st.ref, sizeof st.ref, "%s", ref);
        snprintf(st.digest, sizeof st.digest, "d-%s", ref);
        assert_int_equal(rd_store_insert(f->store, &(struct rd_store_change){.st = &st,
                                                                             .content = "{}",
                                                                             .rules_digest = ""}),
                         0);
}

/* N referrals REF-0 .. in F's open transaction, each offered after a
 * duration of its own bucket (more rows of tallies than a set of pending
 * deltas holds), in one request kept (KEEP) or undone, or in none (NONE). */
static void insert_many(struct fx *f, const char *ref, int n, bool none, bool keep)
{
        char name[64];

        if (!none)
                savepoint_begin(f);
        for (int i = 0; i < n; i++) {
                snprintf(name, sizeof name, "%s-%d", ref, i);
                insert_row(f, name, T0 - 1000 * (int64_t)i * i - 1, i % 7 ? T0 : 0);
        }
        if (!none)
                savepoint_end(f, keep);
}

static void more_distinct_tallies_than_are_kept_in_memory_still_count_right(void **state)
{
        struct fx *f = *state;
        const int n = 3 * SQ_DELTAS_MAX;

        begin(f);
        insert_many(f, "kept", n, false, true);
        assert_figures_exact(f);
        insert_many(f, "undone", n, false, false);
        assert_figures_exact(f);
        insert_many(f, "loose", n, true, false);
        assert_figures_exact(f);
        for (int i = 0; i < n; i++) { /* one request each: the transaction's set fills */
                char name[64];
                snprintf(name, sizeof name, "one-%d", i);
                savepoint_begin(f);
                insert_row(f, name, T0 - 7000 * (int64_t)i * i - 3, T0);
                savepoint_end(f, true);
        }
        assert_figures_exact(f);
        end(f, 0);
        assert_figures_exact(f);
        begin(f);
        insert_many(f, "rolled-back", n, false, true);
        end(f, -1);
        assert_figures_exact(f);
}

static void a_referrals_tallies_at_insert_are_those_its_delete_takes_away(void **state)
{
        static const int64_t received[] = {INT64_MIN + 1, INT64_MIN / 2, -1,        0,  1,
                                           T0 - 999,      T0 - 1000,     T0 - 1001, T0, T0 + 5};
        struct fx *f = *state;
        char name[32], left[256];

        SQLITE_ONLY(); /* the SQLite driver's own */
        begin(f);
        for (size_t i = 0; i < sizeof received / sizeof received[0]; i++) {
                snprintf(name, sizeof name, "edge-%zu", i);
                insert_row(f, name, received[i], T0);
        }
        end(f, 0);
        begin(f);
        assert_int_equal(sqlite3_exec(sq(f->store)->db,
                                      "DELETE FROM referrals WHERE ref LIKE 'edge-%'", NULL, NULL,
                                      NULL),
                         SQLITE_OK);
        end(f, 0);
        rows_text(f,
                  "SELECT n, count FROM tallies WHERE count != 0 AND n >= 2000000 AND n < 3000000",
                  left, sizeof left);
        assert_string_equal(left, "");
        assert_figures_exact(f);
}

/* A database of schema version 10, whose trigger counted new referrals,
 * keeps its figures on upgrade and from then on. */
static void a_version_10_database_keeps_its_figures_on_upgrade(void **state)
{
        struct fx *f = *state;
        struct rd_store_target t = {.kind = RD_STORE_SQLITE, .path = f->path};
        char errbuf[512];
        sqlite3 *db;

        SQLITE_ONLY(); /* the SQLite driver's own */
        run_script(f, 11, 200);
        rd_hub_free(f->hub);
        f->hub = NULL;
        rd_store_close(f->store);
        f->store = NULL;
        back_to_version_10(f->path);
        /* rows that the trigger counts, as version 10 did */
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db,
                                      "CREATE TEMP TABLE c AS SELECT * FROM referrals"
                                      "  WHERE rowid <= 20;"
                                      "UPDATE c SET rowid = rowid + 100000, ref = ref || '-v10';"
                                      "INSERT INTO referrals SELECT * FROM c;",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(rd_store_open_target(&t, &f->store, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_hub_new(f->store, load_rules(NULL), &f->hub), 0);
        assert_figures_exact(f);
        run_script(f, 12, 100);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(a_duration_counts_with_its_three_most_significant_digits),
                T(the_figures_equal_those_counted_from_the_rows_after_every_kind_of_change),
                T(a_version_6_database_gets_its_figures_on_upgrade),
                T(stats_inside_a_transaction_count_a_referral_submitted_and_accepted_in_it),
                T(percentiles_of_long_durations_are_within_one_percent),
                T(a_duration_falls_in_the_same_bucket_in_c_as_in_the_triggers),
                T(stats_inside_a_transaction_count_its_kept_submits_and_not_the_undone_one),
                T(a_rolled_back_transaction_leaves_the_figures_as_they_were),
                T(more_distinct_tallies_than_are_kept_in_memory_still_count_right),
                T(a_referrals_tallies_at_insert_are_those_its_delete_takes_away),
                T(a_version_10_database_keeps_its_figures_on_upgrade),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
