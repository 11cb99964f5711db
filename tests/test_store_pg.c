/* Unit tests of lib/store's PostgreSQL driver (lib/store_pg*), on a real
 * server: what it does that the SQLite driver does otherwise (writes read
 * back later, a request undone by a rerun, the counter row that fences
 * other writers, look-ups answered ahead, a lost connection, a commit of
 * unknown outcome). tests/integration/test_pg_store.py starts the server
 * and runs this with RD_TEST_PG_CONNINFO (the role referrald) and
 * RD_TEST_PG_ADMIN (the superuser); without them every test is skipped.
 * Each test has a schema of its own. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "store.h"
#include "store_history.h"

struct fixture {
        char schema[64];
        char conninfo[1024];
        struct rd_store *store;
};

static const char *env_conninfo(void)
{
        return getenv("RD_TEST_PG_CONNINFO");
}

/* Run SQL on CONNINFO (its own connection); the first value of its result
 * into VALUE when not NULL. */
static void run_sql(const char *conninfo, const char *sql, char *value, size_t size)
{
        PGconn *c = PQconnectdb(conninfo);
        PGresult *res;

        if (PQstatus(c) != CONNECTION_OK)
                fail_msg("cannot connect: %s", PQerrorMessage(c));
        res = PQexec(c, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
                fail_msg("%s: %s", sql, PQresultErrorMessage(res));
        if (value)
                snprintf(value, size, "%s",
                         PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0)
                                                                       : "");
        PQclear(res);
        PQfinish(c);
}

/* SQL in F's schema, as the role referrald. */
static void sql_in(struct fixture *f, const char *sql, char *value, size_t size)
{
        run_sql(f->conninfo, sql, value, size);
}

static int open_store(struct fixture *f, struct rd_store **out)
{
        char errbuf[512];
        int r = rd_store_open_pg(f->conninfo, NULL, out, errbuf, sizeof errbuf);

        if (r < 0)
                print_message("open: %s\n", errbuf);
        return r;
}

static int setup(void **state)
{
        static int n;
        struct fixture *f = calloc(1, sizeof *f);
        char sql[128];

        if (!env_conninfo())
                skip();
        assert_non_null(f);
        snprintf(f->schema, sizeof f->schema, "t_%d_%d", (int)getpid(), ++n);
        snprintf(sql, sizeof sql, "CREATE SCHEMA %s", f->schema);
        run_sql(env_conninfo(), sql, NULL, 0);
        snprintf(f->conninfo, sizeof f->conninfo, "%s options=-csearch_path=%s", env_conninfo(),
                 f->schema);
        assert_int_equal(open_store(f, &f->store), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        rd_store_close(f->store);
        free(f);
        return 0;
}

/* ---- writing ---------------------------------------------------------------------------- */

/* Store a new referral REF of PARTNER (a forwarded one: no offer), with
 * one event when WITH_EVENT; its state into *ST. */
static int add(struct rd_store *s, const char *partner, const char *ref, bool with_event,
               struct rd_stored *st)
{
        struct rd_event ev = {.type = RD_EV_RECEIVED, .at_ms = 1000, .status = RD_STATUS_RECEIVED};
        struct rd_store_change ch = {.st = st,
                                     .content = "{\"kind\": \"family_support\"}",
                                     .rules_digest = "d",
                                     .events = &ev,
                                     .n_events = with_event ? 1 : 0};

        memset(st, 0, sizeof *st);
        snprintf(st->partner, sizeof st->partner, "%s", partner);
        snprintf(st->ref, sizeof st->ref, "%s", ref);
        snprintf(st->digest, sizeof st->digest, "digest-of-%s", ref);
        snprintf(ev.partner, sizeof ev.partner, "%s", partner);
        snprintf(ev.ref, sizeof ev.ref, "%s", ref);
        st->received_ms = 1000;
        st->status = RD_STATUS_FORWARDED;
        snprintf(st->forward_to, sizeof st->forward_to, "caw");
        return rd_store_insert(s, &ch);
}

/* The seqs of every event, in order, as "1 2 3". */
static void seqs(struct rd_store *s, char *out, size_t size)
{
        json_t *arr = json_array();

        assert_int_equal(rd_store_events(s, 0, 1000, NULL, arr), 0);
        seqs_of(arr, out, size);
        json_decref(arr);
}

static void a_new_database_gets_the_schema_and_a_newer_one_is_refused(void **state)
{
        struct fixture *f = *state;
        struct rd_store *s = NULL;
        char v[64], errbuf[512];

        sql_in(f, "SELECT version FROM rd_schema", v, sizeof v);
        assert_string_equal(v, "2");
        rd_store_close(f->store);
        f->store = NULL;
        assert_int_equal(open_store(f, &f->store), 0); /* again: nothing to do */
        rd_store_close(f->store);
        f->store = NULL;
        sql_in(f, "UPDATE rd_schema SET version = 99", NULL, 0);
        assert_int_equal(rd_store_open_pg(f->conninfo, NULL, &s, errbuf, sizeof errbuf), -EPROTO);
        assert_null(s);
        assert_non_null(strstr(errbuf, "newer"));
        assert_int_equal(rd_store_open_copy_pg(f->conninfo, NULL, &s, errbuf, sizeof errbuf),
                         -EPROTO);
        assert_non_null(strstr(errbuf, "never migrates"));
        sql_in(f, "SELECT version FROM rd_schema", v, sizeof v);
        assert_string_equal(v, "99"); /* untouched */
}

/* The count of rows of TABLE in F's schema, as text. */
static void count_rows(struct fixture *f, const char *table, char *v, size_t size)
{
        char sql[96];

        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
        sql_in(f, sql, v, size);
}

static void the_tools_copy_holds_everything_and_writes_nothing_back(void **state)
{
        struct fixture *f = *state;
        const struct rd_store_reason why = {.at_ms = 1500, .change = "closed", .code = "moved"};
        const struct rd_routing_file file = {"d1g3st", "routing.yaml", "version: 1\n", 11};
        struct rd_store *copy = NULL;
        struct rd_stored st, got, w;
        char errbuf[512], v[64], *text;
        json_t *mine = json_array(), *theirs = json_array();
        int64_t by[2][RD_STATUS__MAX];
        struct rd_figures fig[2];
        size_t len;

        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-1", true, &st), 0);
        assert_int_equal(add(f->store, "p", "A-2", false, &w), 0);
        w.status = RD_STATUS_WAITLISTED;
        assert_int_equal(rd_store_change(f->store, &(struct rd_store_change){.st = &w,
                                                                             .row = true,
                                                                             .candidates = "x y",
                                                                             .teams = "genk"}),
                         0);
        st.status = RD_STATUS_CLOSED;
        assert_int_equal(
                rd_store_change(f->store,
                                &(struct rd_store_change){.st = &st, .row = true, .reason = &why}),
                0);
        assert_int_equal(rd_store_audit(f->store, 1000, "c", "coordinator", "get", st.id), 0);
        assert_int_equal(rd_store_routing_record(f->store, &file, 1000), 0);
        assert_int_equal(rd_store_commit(f->store), 0);

        assert_int_equal(rd_store_open_copy_pg(f->conninfo, NULL, &copy, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_store_last_seq(copy), rd_store_last_seq(f->store));
        assert_int_equal(rd_store_events(f->store, 0, 100, NULL, mine), 0);
        assert_int_equal(rd_store_events(copy, 0, 100, NULL, theirs), 0);
        assert_true(json_equal(mine, theirs));
        assert_int_equal(rd_store_find(copy, "p", "A-2", &got), 0);
        assert_int_equal(got.status, RD_STATUS_WAITLISTED);
        assert_int_equal(rd_store_routing_text(copy, "d1g3st", &text, &len), 0);
        assert_string_equal(text, "version: 1\n");
        free(text);
        /* the figures of `stats` are the database's (the copy counts its
         * rows' tallies itself: no trigger does at insert, schema 11) */
        assert_int_equal(rd_store_count_by_status(f->store, by[0]), 0);
        assert_int_equal(rd_store_count_by_status(copy, by[1]), 0);
        assert_memory_equal(by[0], by[1], sizeof by[0]);
        assert_int_equal(by[1][RD_STATUS_CLOSED], 1);
        assert_int_equal(by[1][RD_STATUS_WAITLISTED], 1);
        assert_int_equal(rd_store_figures(f->store, &fig[0]), 0);
        assert_int_equal(rd_store_figures(copy, &fig[1]), 0);
        assert_int_equal(fig[1].to_offer.count, fig[0].to_offer.count);
        assert_int_equal(fig[1].to_offer.p50_ms, fig[0].to_offer.p50_ms);
        assert_int_equal(fig[1].waiting, fig[0].waiting);
        /* the copy takes writes; the database never sees them */
        assert_int_equal(rd_store_begin(copy), 0);
        assert_int_equal(add(copy, "p", "A-3", true, &got), 0);
        assert_int_equal(rd_store_commit(copy), 0);
        rd_store_close(copy);
        assert_int_equal(rd_store_find(f->store, "p", "A-3", &got), -ENOENT);
        count_rows(f, "reasons", v, sizeof v);
        assert_string_equal(v, "1");
        json_decref(mine);
        json_decref(theirs);
}

static void writes_are_read_back_by_the_next_read_of_the_transaction(void **state)
{
        struct fixture *f = *state;
        struct rd_stored st, got;
        char v[256];

        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-1", true, &st), 0);
        assert_string_equal(st.id, "R000001");
        assert_int_equal(st.last_seq, 1);
        assert_int_equal(rd_store_find(f->store, "p", "A-1", &got), 0);
        assert_int_equal(got.rowid, st.rowid);
        assert_int_equal(got.last_seq, 1);
        assert_int_equal(rd_store_commit(f->store), 0);
        /* the counter row is what the transaction left */
        sql_in(f, "SELECT seq || ' ' || last_rowid FROM rd_counter", v, sizeof v);
        assert_string_equal(v, "1 1");
        rd_store_close(f->store);
        assert_int_equal(open_store(f, &f->store), 0);
        assert_int_equal(rd_store_last_seq(f->store), 1);
        seqs(f->store, v, sizeof v);
        assert_string_equal(v, "1");
}

static void a_request_undone_alone_keeps_the_rest_of_its_batch(void **state)
{
        struct fixture *f = *state;
        struct rd_stored a, b, c, got;
        char v[64];

        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(rd_store_request_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-1", true, &a), 0);
        assert_int_equal(rd_store_request_end(f->store, true), 0);
        assert_int_equal(rd_store_request_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-2", true, &b), 0);
        assert_int_equal(rd_store_audit(f->store, 1000, "c", "coordinator", "submit", b.id), 0);
        assert_int_equal(rd_store_request_end(f->store, false), 0);
        assert_int_equal(rd_store_last_seq(f->store), 1);
        assert_int_equal(rd_store_find(f->store, "p", "A-2", &got), -ENOENT);
        assert_int_equal(rd_store_find(f->store, "p", "A-1", &got), 0);
        /* a request that wrote nothing is undone without a rerun */
        assert_int_equal(rd_store_request_begin(f->store), 0);
        assert_int_equal(rd_store_request_end(f->store, false), 0);
        assert_int_equal(rd_store_request_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-3", true, &c), 0);
        assert_string_equal(c.id, "R000002"); /* A-2's row id was given back */
        assert_int_equal(rd_store_request_end(f->store, true), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_int_equal(rd_store_find(f->store, "p", "A-2", &got), -ENOENT);
        assert_int_equal(rd_store_find(f->store, "p", "A-3", &got), 0);
        seqs(f->store, v, sizeof v);
        assert_string_equal(v, "1 2");
        sql_in(f, "SELECT count(*) FROM audit", v, sizeof v);
        assert_string_equal(v, "0");
}

static void a_refused_statement_fails_the_whole_transaction(void **state)
{
        struct fixture *f = *state;
        struct rd_stored st, got;
        char v[64];

        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-1", true, &st), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-2", true, &st), 0);
        /* queued: the server refuses it (partner + ref exists) later, and
         * the transaction is lost from the next call that waits on */
        assert_int_equal(add(f->store, "p", "A-1", true, &st), 0);
        assert_int_equal(rd_store_find(f->store, "p", "A-2", &got), RD_STORE_ABORTED);
        assert_false(rd_store_in_transaction(f->store));
        assert_int_equal(add(f->store, "p", "A-3", true, &st), RD_STORE_ABORTED);
        assert_int_equal(rd_store_commit(f->store), RD_STORE_ABORTED);
        assert_non_null(strstr(rd_store_errmsg(f->store), "duplicate key"));
        rd_store_rollback(f->store);
        assert_int_equal(rd_store_last_seq(f->store), 1);
        assert_int_equal(rd_store_find(f->store, "p", "A-2", &got), -ENOENT);
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-4", true, &st), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        seqs(f->store, v, sizeof v);
        assert_string_equal(v, "1 2");
}

static void two_writers_never_commit_the_same_seq(void **state)
{
        struct fixture *f = *state;
        struct rd_store *other = NULL;
        struct rd_stored a, b, got;
        char v[64];

        assert_int_equal(open_store(f, &other), 0);
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-1", true, &a), 0);
        assert_int_equal(rd_store_find(f->store, "p", "A-1", &got), 0); /* the row is locked */
        /* the other's BEGIN waits on the counter row, then finds it moved */
        assert_int_equal(rd_store_begin(other), 0);
        assert_int_equal(add(other, "p", "B-1", true, &b), 0);
        assert_int_equal(b.last_seq, 1);
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_true(rd_store_commit(other) < 0);
        rd_store_rollback(other);
        /* its next transaction starts from what was committed */
        assert_int_equal(rd_store_begin(other), 0);
        assert_int_equal(add(other, "p", "B-1", true, &b), 0);
        assert_int_equal(b.last_seq, 2);
        assert_string_equal(b.id, "R000002");
        assert_int_equal(rd_store_commit(other), 0);
        rd_store_close(other);
        /* and this one's fails in turn, once */
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-2", true, &a), 0);
        assert_true(rd_store_commit(f->store) < 0);
        rd_store_rollback(f->store);
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-2", true, &a), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_int_equal(rd_store_find(f->store, "p", "B-1", &got), 0);
        seqs(f->store, v, sizeof v);
        assert_string_equal(v, "1 2 3");
}

static void prefetched_lookups_follow_the_transactions_own_writes(void **state)
{
        struct fixture *f = *state;
        const struct rd_store_key keys[] = {{"p", "A-1"}, {"p", "A-2"}, {"p", "A-1"}};
        struct rd_stored a, b, got;

        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-1", true, &a), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(rd_store_prefetch(f->store, keys, 3), 0);
        assert_int_equal(rd_store_find(f->store, "p", "A-1", &got), 0);
        assert_string_equal(got.id, a.id);
        assert_int_equal(rd_store_find(f->store, "p", "A-2", &got), -ENOENT);
        assert_int_equal(add(f->store, "p", "A-2", true, &b), 0);
        assert_int_equal(rd_store_find(f->store, "p", "A-2", &got), 0);
        assert_string_equal(got.id, b.id);
        a.status = RD_STATUS_CLOSED;
        assert_int_equal(
                rd_store_change(f->store, &(struct rd_store_change){.st = &a, .row = true}), 0);
        assert_int_equal(rd_store_find(f->store, "p", "A-1", &got), 0);
        assert_int_equal(got.status, RD_STATUS_CLOSED);
        rd_store_rollback(f->store);
        /* nothing is kept past the transaction */
        assert_int_equal(rd_store_find(f->store, "p", "A-2", &got), -ENOENT);
        assert_int_equal(rd_store_find(f->store, "p", "A-1", &got), 0);
        assert_int_equal(got.status, RD_STATUS_FORWARDED);
        /* just before a transaction, it holds for that transaction */
        assert_int_equal(rd_store_prefetch(f->store, keys, 2), 0);
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(rd_store_find(f->store, "p", "A-2", &got), -ENOENT);
        assert_int_equal(add(f->store, "p", "A-2", true, &b), 0);
        assert_int_equal(rd_store_find(f->store, "p", "A-2", &got), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_int_equal(rd_store_find(f->store, "p", "A-2", &got), 0);
}

static void waiting_sets_follow_status_and_candidates(void **state)
{
        struct fixture *f = *state;
        struct rd_stored a, b;
        char v[64];

        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-1", false, &a), 0);
        assert_int_equal(add(f->store, "p", "A-2", false, &b), 0);
        a.status = b.status = RD_STATUS_WAITLISTED;
        assert_int_equal(rd_store_change(f->store, &(struct rd_store_change){.st = &a,
                                                                             .row = true,
                                                                             .candidates = "x y"}),
                         0);
        assert_int_equal(rd_store_change(f->store, &(struct rd_store_change){.st = &b,
                                                                             .row = true,
                                                                             .candidates = "x y"}),
                         0);
        b.status = RD_STATUS_ASSIGNED;
        assert_int_equal(
                rd_store_change(f->store, &(struct rd_store_change){.st = &b, .row = true}), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        sql_in(f, "SELECT string_agg(candidates || '=' || count, ',') FROM waiting_sets", v,
               sizeof v);
        assert_string_equal(v, "x y=1");
}

static void the_audit_purge_says_how_many_went(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(rd_store_begin(f->store), 0);
        for (int i = 1; i <= 3; i++)
                assert_int_equal(
                        rd_store_audit(f->store, i * 1000, "c", "coordinator", "get", "R1"), 0);
        assert_int_equal(rd_store_audit_purge(f->store, 2500), 2);
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_int_equal(rd_store_audit_purge(f->store, 2500), 0); /* outside: its own */
}

/* A get reads at most RD_HISTORY_MAX events of a referral: the newest,
 * oldest first, and how many older ones it left out (test_store.c, on
 * SQLite). */
static void a_history_longer_than_its_limit_gives_the_newest_and_counts_the_rest(void **state)
{
        struct fixture *f = *state;
        struct rd_event ev = {.type = RD_EV_RECEIVED, .at_ms = 1000, .status = RD_STATUS_RECEIVED};
        struct rd_stored a, b;

        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "B-1", true, &b), 0); /* seq 1 */
        assert_int_equal(add(f->store, "p", "A-1", true, &a), 0); /* seq 2, then 3 to 6 */
        for (int i = 0; i < 4; i++)
                assert_int_equal(rd_store_change(f->store,
                                                 &(struct rd_store_change){
                                                         .st = &a, .events = &ev, .n_events = 1}),
                                 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_history_limits(f->store, a.rowid);
}

/* The trail is appended in time order and purged by its number (store.h,
 * rd_store_audit_purge): after a step back of the clock, an entry older
 * than the retention that follows a newer one stays until those before it
 * go. */
static void the_audit_purge_stops_at_the_first_entry_inside_the_retention(void **state)
{
        struct fixture *f = *state;
        static const int64_t at[] = {1000, 3000, 2000, 4000};
        char v[64];

        assert_int_equal(rd_store_begin(f->store), 0);
        for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
                assert_int_equal(rd_store_audit(f->store, at[i], "c", "coordinator", "get", "R1"),
                                 0);
        assert_int_equal(rd_store_audit_purge(f->store, 2500), 1); /* 1000; 2000 stays */
        assert_int_equal(rd_store_commit(f->store), 0);
        sql_in(f, "SELECT string_agg(at_ms::text, ',' ORDER BY n) FROM audit", v, sizeof v);
        assert_string_equal(v, "3000,2000,4000");
        assert_int_equal(rd_store_audit_purge(f->store, 3500), 2);
        assert_int_equal(rd_store_audit_purge(f->store, 99999), 1); /* all of them */
        assert_int_equal(rd_store_audit_purge(f->store, 99999), 0);
}

/* ---- deadlines and figures ----------------------------------------------------------------- */

/* Write the row of ST as it is now, in a transaction of its own. */
static void commit_row(struct rd_store *s, struct rd_stored *st)
{
        assert_int_equal(rd_store_begin(s), 0);
        assert_int_equal(rd_store_change(s, &(struct rd_store_change){.st = st, .row = true}), 0);
        assert_int_equal(rd_store_commit(s), 0);
}

/* The windows S watches: the next deadlines of each (AT_RISK, MISSED) and
 * how many are due of each at 9000 (N_AT_RISK, N_MISSED). */
static void assert_windows(struct rd_store *s, int64_t at_risk, int64_t missed, size_t n_at_risk,
                           size_t n_missed)
{
        struct rd_stored due[4];
        struct rd_deadlines next;
        size_t n;

        assert_int_equal(rd_store_next_deadlines(s, &next), 0);
        assert_int_equal(next.at_risk_start_by, at_risk);
        assert_int_equal(next.missed_start_by, missed);
        assert_int_equal(rd_store_due(s, RD_DUE_AT_RISK, 9000, 4, due, &n), 0);
        assert_int_equal(n, n_at_risk);
        assert_int_equal(rd_store_due(s, RD_DUE_MISSED, 9000, 4, due, &n), 0);
        assert_int_equal(n, n_missed);
}

/* A referral whose missed event fired is watched no more: neither due at
 * risk nor missed, and no deadline of either (store.h, struct
 * rd_deadlines). */
static void a_window_whose_missed_event_fired_is_no_longer_at_risk(void **state)
{
        struct fixture *f = *state;
        struct rd_stored st;

        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-1", true, &st), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        st.status = RD_STATUS_ACCEPTED;
        st.start_by_ms = 5000;
        commit_row(f->store, &st);
        assert_windows(f->store, 5000, 5000, 1, 1);
        st.missed_fired = 1; /* the missed event fired first */
        commit_row(f->store, &st);
        assert_windows(f->store, 0, 0, 0, 0);
}

/* A change's counts are appended to tally_deltas and folded into tallies
 * before its commit (migration 1 -> 2): the figures count them inside the
 * transaction, and nothing is left unfolded after it. */
static void the_counts_of_a_transaction_are_folded_at_its_commit(void **state)
{
        struct fixture *f = *state;
        int64_t counts[RD_STATUS__MAX];
        struct rd_stored st;
        char v[64];

        for (int keep = 0; keep < 2; keep++) {
                assert_int_equal(rd_store_begin(f->store), 0);
                assert_int_equal(add(f->store, "p", "A-1", false, &st), 0);
                assert_int_equal(add(f->store, "p", "A-2", false, &st), 0);
                assert_int_equal(rd_store_count_by_status(f->store, counts), 0);
                assert_int_equal(counts[RD_STATUS_FORWARDED], 2);
                if (keep) {
                        assert_int_equal(rd_store_commit(f->store), 0);
                } else {
                        rd_store_rollback(f->store);
                }
                assert_int_equal(rd_store_count_by_status(f->store, counts), 0);
                assert_int_equal(counts[RD_STATUS_FORWARDED], keep ? 2 : 0);
        }
        count_rows(f, "tally_deltas", v, sizeof v);
        assert_string_equal(v, "0");
        sql_in(f, "SELECT count FROM tallies WHERE figure = 1 AND key = 3", v, sizeof v);
        assert_string_equal(v, "2");
}

/* The server buckets a duration (rd_duration_bucket, migration 1 -> 2) as
 * the driver's figures say (rd_store_duration_bucket): both drivers give
 * the same p50_s and p90_s. */
static void the_server_buckets_a_duration_as_the_store_does(void **state)
{
        struct fixture *f = *state;
        char sql[96], v[32], want[32];

        for (int64_t ms = -5; ms < INT64_MAX / 3; ms = ms < 1 ? ms + 1 : ms * 3 + 7) {
                snprintf(sql, sizeof sql, "SELECT rd_duration_bucket(%lld)", (long long)ms);
                sql_in(f, sql, v, sizeof v);
                snprintf(want, sizeof want, "%lld", (long long)rd_store_duration_bucket(ms));
                assert_string_equal(v, want);
        }
        sql_in(f, "SELECT rd_duration_bucket(9223372036854775807)", v, sizeof v);
        assert_string_equal(v, "9220000000000000000");
}

/* ---- the connection ------------------------------------------------------------------------- */

/* Wait (10 s at most) until the first value of SQL, run as the superuser in
 * a new session each time, is WANT ("": no rows). */
static void await_value(const char *sql, const char *want)
{
        char v[128];

        for (int i = 0; i < 1000; i++) {
                run_sql(getenv("RD_TEST_PG_ADMIN"), sql, v, sizeof v);
                if (strcmp(v, want) == 0)
                        return;
                usleep(10 * 1000);
        }
        fail_msg("waited 10 s for '%s' from %s; last: '%s'", want, sql, v);
}

/* The pid of the store's backend: the newest session named referrald. */
static int backend_pid(void)
{
        char v[32];

        run_sql(getenv("RD_TEST_PG_ADMIN"),
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'referrald'"
                " ORDER BY backend_start DESC LIMIT 1",
                v, sizeof v);
        assert_true(v[0] != '\0');
        return atoi(v);
}

/* Set synchronous_standby_names server-wide, and wait until a new session
 * has it: the postmaster has then told every session, which read it again
 * before their next command. */
static void sync_standbys(const char *names)
{
        const char *admin = getenv("RD_TEST_PG_ADMIN");
        char sql[128];

        snprintf(sql, sizeof sql, "ALTER SYSTEM SET synchronous_standby_names = '%s'", names);
        run_sql(admin, sql, NULL, 0);
        run_sql(admin, "SELECT pg_reload_conf()", NULL, 0);
        await_value("SHOW synchronous_standby_names", names);
}

static void a_lost_connection_fails_the_transaction_and_the_next_reconnects(void **state)
{
        struct fixture *f = *state;
        struct rd_stored st, got;
        char sql[96], v[64];
        int r;

        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-1", true, &st), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-2", true, &st), 0);
        snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", backend_pid());
        run_sql(getenv("RD_TEST_PG_ADMIN"), sql, NULL, 0);
        r = rd_store_commit(f->store);
        assert_true(r < 0 && r != RD_STORE_UNKNOWN); /* it never got to COMMIT */
        rd_store_rollback(f->store);
        assert_int_equal(rd_store_begin(f->store), 0); /* connects again */
        assert_int_equal(add(f->store, "p", "A-3", true, &st), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_int_equal(rd_store_find(f->store, "p", "A-2", &got), -ENOENT);
        seqs(f->store, v, sizeof v);
        assert_string_equal(v, "1 2");
}

/* A TCP socket on 127.0.0.1, on a port of its own (into *PORT), bound and
 * not listening: a connect there is refused until listen(2), and after it
 * taken by the kernel and never answered. */
static int silent_socket(int *port)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        *port = ntohs(a.sin_port);
        return fd;
}

/* The port of the test's server (RD_TEST_PG_CONNINFO) into PORT. */
static void server_port(char *port, size_t size)
{
        PQconninfoOption *opts = PQconninfoParse(env_conninfo(), NULL);

        assert_non_null(opts);
        snprintf(port, size, "5432");
        for (PQconninfoOption *o = opts; o->keyword; o++)
                if (strcmp(o->keyword, "port") == 0 && o->val)
                        snprintf(port, size, "%s", o->val);
        PQconninfoFree(opts);
}

static int no_period(void *ctx, const struct rd_routing_period *p)
{
        (void)ctx;
        (void)p;
        return 0;
}

/* The clock is the caller's: the silent host is given up when NOW reaches
 * its deadline, without waiting for it; only the second host's connect is
 * awaited, on the socket the store names. */
static void a_store_asked_to_lead_connects_again_past_a_silent_host_without_blocking(void **state)
{
        struct fixture *f = *state;
        struct rd_store *s = NULL;
        char conninfo[1200], port[16], sql[96], errbuf[512];
        int silent_port, fd = silent_socket(&silent_port), r;
        int64_t deadline = 0;
        short events = 0;

        server_port(port, sizeof port);
        snprintf(conninfo, sizeof conninfo, "%s host=127.0.0.1,127.0.0.1 port=%d,%s", f->conninfo,
                 silent_port, port);
        /* nothing listens on the first host yet: the store opens on the second */
        assert_int_equal(rd_store_open_pg(conninfo, NULL, &s, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_store_lead(s, 0), 1);
        assert_int_equal(rd_store_connect_fd(s, &events, &deadline), -1);
        assert_int_equal(listen(fd, 8), 0); /* now it takes connections, and never answers */
        snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d, 5000)", backend_pid());
        run_sql(getenv("RD_TEST_PG_ADMIN"), sql, NULL, 0);
        assert_true(rd_store_lead(s, 1000) < 0); /* the session went, and the lead with it */
        assert_false(rd_store_leading(s));
        assert_int_equal(rd_store_lead(s, 2000), RD_STORE_CONNECTING);
        assert_true(rd_store_connect_fd(s, &events, &deadline) >= 0);
        assert_int_equal(deadline, 2000 + 5000); /* connect_timeout, 5 s */
        assert_int_equal(rd_store_each_routing(s, no_period, NULL), -ENOTCONN); /* never connects */
        assert_int_equal(rd_store_lead(s, 6999), RD_STORE_CONNECTING);
        r = rd_store_lead(s, 7000); /* the first host given up, the second tried */
        for (int i = 0; r == RD_STORE_CONNECTING && i < 100; i++) {
                struct pollfd p = {.fd = rd_store_connect_fd(s, &events, &deadline)};
                p.events = events;
                assert_int_equal(deadline, 7000 + 5000);
                assert_int_equal(poll(&p, 1, 10000), 1);
                r = rd_store_lead(s, 7000);
        }
        assert_int_equal(r, 1);
        assert_int_equal(rd_store_connect_fd(s, &events, &deadline), -1);
        assert_int_equal(rd_store_each_routing(s, no_period, NULL), 0);
        rd_store_close(s);
        close(fd);
}

/* End the session of S on the server: S, asked to lead, finds it gone. */
static void session_ends(struct rd_store *s, int64_t now)
{
        char sql[96];

        snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d, 5000)", backend_pid());
        run_sql(getenv("RD_TEST_PG_ADMIN"), sql, NULL, 0);
        assert_true(rd_store_lead(s, now) < 0);
}

/* Carry on S's connection, the clock at NOW, awaiting the socket it names
 * each time: what rd_store_lead answers in the end (with S's reason when
 * it is not 1). */
static int lead_when_connected(struct rd_store *s, int64_t now)
{
        int64_t deadline;
        short events;
        int r = rd_store_lead(s, now);

        for (int i = 0; r == RD_STORE_CONNECTING && i < 1000; i++) {
                struct pollfd p = {.fd = rd_store_connect_fd(s, &events, &deadline)};
                p.events = events;
                assert_int_equal(poll(&p, 1, 10000), 1);
                r = rd_store_lead(s, now);
        }
        if (r != 1)
                print_message("rd_store_lead: %d, %s\n", r, rd_store_errmsg(s));
        return r;
}

/* A conninfo's lists may leave an entry empty: libpq's URI form
 * postgresql://db1,db2/x gives the ports as ",", and an empty hostaddr
 * means "look the host name up". A store asked to lead connects again
 * through such lists as libpq connects at start: here the host whose
 * hostaddr is empty is the one that answers. */
static void a_store_connects_again_through_a_host_whose_hostaddr_is_empty(void **state)
{
        struct fixture *f = *state;
        char port[16], conninfo[1200], errbuf[512];
        int closed_port, fd = silent_socket(&closed_port); /* bound, not listening: refused */
        struct rd_store *s = NULL;

        server_port(port, sizeof port);
        snprintf(conninfo, sizeof conninfo,
                 "%s host=127.0.0.1,localhost hostaddr=127.0.0.1, port=%d,%s", f->conninfo,
                 closed_port, port);
        assert_int_equal(rd_store_open_pg(conninfo, NULL, &s, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_store_lead(s, 0), 1);
        session_ends(s, 1000);
        assert_int_equal(lead_when_connected(s, 2000), 1);
        assert_int_equal(rd_store_each_routing(s, no_period, NULL), 0);
        rd_store_close(s);
        close(fd);
}

/* An empty port is libpq's default, 5432: the store tries it (a silent
 * server there in the test, when the port is free; else the machine's own
 * server, which does not know the test's database) before the next host. */
static void a_store_tries_an_empty_port_as_5432(void **state)
{
        struct fixture *f = *state;
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons(5432),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        char port[16], conninfo[1200], errbuf[512];
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct rd_store *s = NULL;
        struct pollfd accepting = {.fd = fd, .events = POLLIN};
        int64_t deadline;
        short events;
        bool free_5432;

        assert_true(fd >= 0);
        free_5432 = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        server_port(port, sizeof port);
        snprintf(conninfo, sizeof conninfo, "%s host=127.0.0.1,127.0.0.1 port=,%s", f->conninfo,
                 port);
        /* 5432 refuses at first: the store opens on the second host */
        assert_int_equal(rd_store_open_pg(conninfo, NULL, &s, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_store_lead(s, 0), 1);
        if (!free_5432) { /* a server of the machine's own: it refuses the test's database */
                print_message("5432 is taken: only that the store leads again is checked\n");
                session_ends(s, 1000);
                assert_int_equal(lead_when_connected(s, 2000), 1);
                goto out;
        }
        assert_int_equal(listen(fd, 8), 0); /* now it takes connections, and never answers */
        session_ends(s, 1000);
        assert_int_equal(rd_store_lead(s, 2000), RD_STORE_CONNECTING);
        assert_int_equal(poll(&accepting, 1, 10000), 1); /* 5432 was asked */
        assert_true(rd_store_connect_fd(s, &events, &deadline) >= 0);
        assert_int_equal(deadline, 2000 + 5000);
        assert_int_equal(lead_when_connected(s, 7000), 1); /* given up: the second host */
out:
        rd_store_close(s);
        close(fd);
}

static void a_commit_whose_answer_never_comes_is_unknown_and_read_again(void **state)
{
        struct fixture *f = *state;
        struct rd_stored st, got;
        char v[64], sql[96];
        int pid;

        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-1", true, &st), 0);
        pid = backend_pid();
        assert_int_equal(kill(pid, SIGSTOP), 0); /* the server hangs; the cancel too */
        assert_int_equal(rd_store_commit(f->store), RD_STORE_UNKNOWN);
        assert_int_equal(kill(pid, SIGCONT), 0); /* ... and then commits after all */
        snprintf(sql, sizeof sql, "SELECT pid FROM pg_stat_activity WHERE pid = %d", pid);
        await_value(sql, "");
        rd_store_rollback(f->store);
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-2", true, &st), 0);
        assert_int_equal(st.last_seq, 2); /* the seq that did commit is not used again */
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_int_equal(rd_store_find(f->store, "p", "A-1", &got), 0);
        seqs(f->store, v, sizeof v);
        assert_string_equal(v, "1 2");
}

static void a_commit_postgresql_warns_about_is_unknown(void **state)
{
        struct fixture *f = *state;
        struct rd_stored st, got;
        char msg[512];
        int r;

        /* a synchronous standby that never comes: COMMIT waits until the
         * driver cancels the wait, and PostgreSQL warns (committed here) */
        sync_standbys("nobody");
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-1", true, &st), 0);
        r = rd_store_commit(f->store);
        snprintf(msg, sizeof msg, "%s", rd_store_errmsg(f->store));
        sync_standbys("");
        assert_int_equal(r, RD_STORE_UNKNOWN);
        assert_non_null(strstr(msg, "synchronous standby"));
        rd_store_rollback(f->store);
        assert_int_equal(rd_store_find(f->store, "p", "A-1", &got), 0);
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(add(f->store, "p", "A-2", true, &st), 0);
        assert_int_equal(st.last_seq, 2);
        assert_int_equal(rd_store_commit(f->store), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
                T(a_new_database_gets_the_schema_and_a_newer_one_is_refused),
                T(the_tools_copy_holds_everything_and_writes_nothing_back),
                T(writes_are_read_back_by_the_next_read_of_the_transaction),
                T(a_request_undone_alone_keeps_the_rest_of_its_batch),
                T(a_refused_statement_fails_the_whole_transaction),
                T(two_writers_never_commit_the_same_seq),
                T(prefetched_lookups_follow_the_transactions_own_writes),
                T(waiting_sets_follow_status_and_candidates),
                T(the_audit_purge_says_how_many_went),
                T(the_audit_purge_stops_at_the_first_entry_inside_the_retention),
                T(a_history_longer_than_its_limit_gives_the_newest_and_counts_the_rest),
                T(a_window_whose_missed_event_fired_is_no_longer_at_risk),
                T(the_counts_of_a_transaction_are_folded_at_its_commit),
                T(the_server_buckets_a_duration_as_the_store_does),
                T(a_lost_connection_fails_the_transaction_and_the_next_reconnects),
                T(a_store_asked_to_lead_connects_again_past_a_silent_host_without_blocking),
                T(a_store_connects_again_through_a_host_whose_hostaddr_is_empty),
                T(a_store_tries_an_empty_port_as_5432),
                T(a_commit_whose_answer_never_comes_is_unknown_and_read_again),
                T(a_commit_postgresql_warns_about_is_unknown),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
