/* Unit tests of lib/store through its interface (store.h), over the
 * SQLite driver: durability rules the daemon builds on. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "store_history.h"
#include "store_sqlite.h" /* the driver's statements, for their query plans */
#include "store_versions.h"
#include "timefmt.h"

struct fixture {
        char dir[256];
        char path[300];
        struct rd_store *store;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof *f);
        char errbuf[256];
        snprintf(f->dir, sizeof f->dir, "/tmp/rd-test-store-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof f->path, "%s/sub/referrald.db", f->dir);
        assert_int_equal(rd_store_open(f->path, false, &f->store, errbuf, sizeof errbuf), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[400];
        rd_store_close(f->store);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

/* ---- the coarse writes, one part at a time -------------------------------- */

static int update(struct fixture *f, struct rd_stored *st)
{
        struct rd_store_change ch = {.st = st, .row = true};
        return rd_store_change(f->store, &ch);
}

/* Append EV about ST (ST's last_seq follows). */
static int append(struct fixture *f, struct rd_event *ev, struct rd_stored *st)
{
        struct rd_store_change ch = {.st = st, .events = ev, .n_events = 1};
        return rd_store_change(f->store, &ch);
}

/* An offer of ST to CONNECTOR; with RR_RULE, that rule's round robin. */
static int offer(struct fixture *f, struct rd_stored *st, const char *connector,
                 const char *rr_rule)
{
        struct rd_store_change ch = {.st = st, .offered = connector, .rr_rule = rr_rule};
        return rd_store_change(f->store, &ch);
}

static int set_candidates(struct fixture *f, struct rd_stored *st, const char *candidates)
{
        struct rd_store_change ch = {.st = st, .candidates = candidates};
        return rd_store_change(f->store, &ch);
}

static int set_trace(struct fixture *f, struct rd_stored *st, const json_t *trace,
                     const char *rules_digest)
{
        char *text = json_dumps(trace, JSON_COMPACT);
        struct rd_store_change ch = {
                .st = st, .trace_set = true, .trace = text, .rules_digest = rules_digest};
        int r = text ? rd_store_change(f->store, &ch) : -ENOMEM;
        free(text);
        return r;
}

static void make_referral(struct rd_referral *r, const char *partner, const char *ref)
{
        memset(r, 0, sizeof *r);
        snprintf(r->ref, sizeof r->ref, "%s", ref);
        snprintf(r->partner, sizeof r->partner, "%s", partner);
        r->kind = RD_KIND_FAMILY_SUPPORT;
        snprintf(r->postcode, sizeof r->postcode, "3600");
        r->n_children = 1;
        r->ages[0] = 9;
        r->urgency = RD_URGENCY_NORMAL;
}

/* A received row for REF of PARTNER with DIGEST, as rd_hub_submit makes it. */
static int insert_as(struct fixture *f, const char *partner, const char *ref, const char *digest,
                     struct rd_stored *st)
{
        struct rd_referral r;
        char *content = NULL, hex[65];
        int rc;

        make_referral(&r, partner, ref);
        assert_int_equal(rd_referral_canonical(&r, &content, hex), 0);
        memset(st, 0, sizeof *st);
        snprintf(st->partner, sizeof st->partner, "%s", partner);
        snprintf(st->ref, sizeof st->ref, "%s", ref);
        snprintf(st->digest, sizeof st->digest, "%s", digest);
        st->received_ms = 1000;
        st->status = RD_STATUS_RECEIVED;
        rc = rd_store_insert(f->store, &(struct rd_store_change){
                                               .st = st, .content = content, .rules_digest = ""});
        free(content);
        return rc;
}

static void insert(struct fixture *f, const char *ref, struct rd_stored *st)
{
        assert_int_equal(insert_as(f, "ocmw-genk", ref, "d1", st), 0);
}

static struct rd_event received(const struct rd_stored *st)
{
        struct rd_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = RD_EV_RECEIVED;
        ev.at_ms = 1000;
        ev.status = RD_STATUS_RECEIVED;
        snprintf(ev.id, sizeof ev.id, "%s", st->id);
        snprintf(ev.partner, sizeof ev.partner, "%s", st->partner);
        snprintf(ev.ref, sizeof ev.ref, "%s", st->ref);
        return ev;
}

static void database_file_is_0600_and_new_folder_0700_whatever_the_umask(void **state)
{
        struct fixture *f = *state;
        struct rd_store *s;
        struct stat sb;
        char path[400], errbuf[256];
        mode_t old = umask(0);

        snprintf(path, sizeof path, "%s/open/x.db", f->dir);
        assert_int_equal(rd_store_open(path, true, &s, errbuf, sizeof errbuf), 0);
        umask(old);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
        snprintf(path, sizeof path, "%s/open", f->dir);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0700);
        rd_store_close(s);
}

static void schema_version_is_set_and_a_newer_one_is_refused(void **state)
{
        struct fixture *f = *state;
        struct rd_store *s = NULL;
        sqlite3 *db;
        char path[400], errbuf[256];

        snprintf(path, sizeof path, "%s/newer.db", f->dir);
        assert_int_equal(rd_store_open(path, false, &s, errbuf, sizeof errbuf), 0);
        rd_store_close(s);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), 0);
        sqlite3_close(db);
        s = NULL;
        assert_true(rd_store_open(path, false, &s, errbuf, sizeof errbuf) < 0);
        assert_null(s);
        assert_non_null(strstr(errbuf, "newer"));
}

static void insert_then_find_by_ref_and_by_id(void **state)
{
        struct fixture *f = *state;
        struct rd_stored st, got;

        assert_int_equal(rd_store_begin(f->store), 0);
        insert(f, "A-1", &st);
        assert_int_equal(st.status, RD_STATUS_RECEIVED);
        assert_int_equal(rd_store_find(f->store, "ocmw-genk", "A-1", &got), 0);
        assert_string_equal(got.id, st.id);
        assert_string_equal(got.digest, "d1");
        assert_int_equal(rd_store_get(f->store, st.id, &got), 0);
        assert_string_equal(got.ref, "A-1");
        assert_int_equal(rd_store_find(f->store, "other", "A-1", &got), -ENOENT);
        assert_int_equal(rd_store_get(f->store, "R1", &got), -ENOENT); /* not the same id */
        assert_int_equal(rd_store_get(f->store, "nonsense", &got), -ENOENT);
        assert_int_equal(rd_store_get(f->store, "R999999", &got), -ENOENT);
        assert_int_equal(rd_store_commit(f->store), 0);
}

static void same_partner_and_ref_twice_is_eexist(void **state)
{
        struct fixture *f = *state;
        struct rd_stored st;

        assert_int_equal(rd_store_begin(f->store), 0);
        insert(f, "A-1", &st);
        assert_int_equal(insert_as(f, "ocmw-genk", "A-1", "d2", &st), -EEXIST);
        /* unique per partner only */
        assert_int_equal(insert_as(f, "caw-limburg", "A-1", "d2", &st), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
}

static void seq_is_gap_free_across_rolled_back_requests_and_reopen(void **state)
{
        struct fixture *f = *state;
        struct rd_stored a, b;
        struct rd_event ev;
        json_t *arr;
        char errbuf[256];

        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(rd_store_request_begin(f->store), 0);
        insert(f, "A-1", &a);
        ev = received(&a);
        assert_int_equal(append(f, &ev, &a), 0);
        assert_int_equal(ev.seq, 1);
        assert_int_equal(rd_store_request_end(f->store, true), 0);

        /* a request that fails is undone, its seq too */
        assert_int_equal(rd_store_request_begin(f->store), 0);
        insert(f, "A-2", &b);
        ev = received(&b);
        assert_int_equal(append(f, &ev, &b), 0);
        assert_int_equal(ev.seq, 2);
        assert_int_equal(rd_store_request_end(f->store, false), 0);
        assert_int_equal(rd_store_last_seq(f->store), 1);
        assert_int_equal(rd_store_find(f->store, "ocmw-genk", "A-2", &b), -ENOENT);

        assert_int_equal(rd_store_request_begin(f->store), 0);
        insert(f, "A-3", &b);
        ev = received(&b);
        assert_int_equal(append(f, &ev, &b), 0);
        assert_int_equal(ev.seq, 2);
        assert_int_equal(rd_store_request_end(f->store, true), 0);
        assert_int_equal(rd_store_commit(f->store), 0);

        /* a whole transaction rolled back gives its seqs back */
        assert_int_equal(rd_store_begin(f->store), 0);
        ev = received(&b);
        assert_int_equal(append(f, &ev, &b), 0);
        assert_int_equal(ev.seq, 3);
        rd_store_rollback(f->store);
        assert_int_equal(rd_store_last_seq(f->store), 2);

        rd_store_close(f->store);
        assert_int_equal(rd_store_open(f->path, false, &f->store, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_store_last_seq(f->store), 2);
        arr = json_array();
        assert_int_equal(rd_store_events(f->store, 0, 100, NULL, arr), 0);
        assert_int_equal(json_array_size(arr), 2);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "seq")), 1);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "seq")), 2);
        json_decref(arr);
}

static void events_since_and_limit(void **state)
{
        struct fixture *f = *state;
        struct rd_stored a;
        struct rd_event ev;
        json_t *arr = json_array();
        int64_t omitted = -1;

        assert_int_equal(rd_store_begin(f->store), 0);
        insert(f, "A-1", &a);
        for (int i = 0; i < 5; i++) {
                ev = received(&a);
                assert_int_equal(append(f, &ev, &a), 0);
        }
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_int_equal(rd_store_events(f->store, 2, 2, NULL, arr), 0);
        assert_int_equal(json_array_size(arr), 2);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "seq")), 3);
        json_array_clear(arr);
        assert_int_equal(rd_store_events(f->store, 5, 10, NULL, arr), 0);
        assert_int_equal(json_array_size(arr), 0);
        json_array_clear(arr);
        assert_int_equal(rd_store_history(f->store, a.rowid, RD_HISTORY_MAX, arr, &omitted), 0);
        assert_int_equal(json_array_size(arr), 5);
        assert_int_equal(omitted, 0);
        json_decref(arr);
}

/* A get reads at most RD_HISTORY_MAX events of a referral: the newest,
 * oldest first, and how many older ones it left out. */
static void a_history_longer_than_its_limit_gives_the_newest_and_counts_the_rest(void **state)
{
        struct fixture *f = *state;
        struct rd_stored a, b;
        struct rd_event ev;

        assert_int_equal(rd_store_begin(f->store), 0);
        insert(f, "A-1", &a);
        insert(f, "B-1", &b);
        for (int i = 0; i < 6; i++) { /* seq 1 is B's, 2 to 6 are A's */
                ev = received(i ? &a : &b);
                assert_int_equal(append(f, &ev, i ? &a : &b), 0);
        }
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_history_limits(f->store, a.rowid);
}

static void decision_columns_round_trip_and_count(void **state)
{
        struct fixture *f = *state;
        struct rd_stored a, b, got;
        int64_t counts[RD_STATUS__MAX], started, in_time, missed;

        assert_int_equal(rd_store_begin(f->store), 0);
        insert(f, "A-1", &a);
        insert(f, "A-2", &b);
        a.status = RD_STATUS_ASSIGNED;
        snprintf(a.rule, sizeof a.rule, "family");
        snprintf(a.team, sizeof a.team, "genk");
        snprintf(a.connector, sizeof a.connector, "kelly");
        a.start_by_ms = 5000;
        a.offered_ms = 1000;
        a.offer_expires_ms = 3000;
        assert_int_equal(update(f, &a), 0);
        b.status = RD_STATUS_FORWARDED;
        snprintf(b.forward_to, sizeof b.forward_to, "caw");
        snprintf(b.reason, sizeof b.reason, "outside the target group");
        assert_int_equal(update(f, &b), 0);
        assert_int_equal(rd_store_commit(f->store), 0);

        assert_int_equal(rd_store_get(f->store, a.id, &got), 0);
        assert_int_equal(got.status, RD_STATUS_ASSIGNED);
        assert_string_equal(got.connector, "kelly");
        assert_int_equal(got.start_by_ms, 5000);
        assert_int_equal(got.offer_expires_ms, 3000);
        assert_int_equal(rd_store_get(f->store, b.id, &got), 0);
        assert_string_equal(got.reason, "outside the target group");

        assert_int_equal(rd_store_count_by_status(f->store, counts), 0);
        assert_int_equal(counts[RD_STATUS_ASSIGNED], 1);
        assert_int_equal(counts[RD_STATUS_FORWARDED], 1);
        assert_int_equal(counts[RD_STATUS_WAITLISTED], 0);
        assert_int_equal(rd_store_window_counts(f->store, &started, &in_time, &missed), 0);
        assert_int_equal(started, 0);
        assert_int_equal(missed, 0);
}

static int count_open(void *ctx, const struct rd_stored *st)
{
        (void)st;
        (*(int *)ctx)++;
        return 0;
}

static int sum_offers(void *ctx, const char *connector, int64_t count)
{
        if (strcmp(connector, "kelly") == 0)
                *(int64_t *)ctx = count;
        return 0;
}

static int read_rr(void *ctx, const char *rule, const char *connector)
{
        if (strcmp(rule, "family") == 0)
                snprintf(ctx, 65, "%s", connector);
        return 0;
}

static void open_referrals_offer_counts_and_round_robin_survive_reopen(void **state)
{
        struct fixture *f = *state;
        struct rd_stored a;
        int n_open = 0;
        int64_t offers = 0;
        char rr[65] = "";
        char errbuf[256];

        assert_int_equal(rd_store_begin(f->store), 0);
        insert(f, "A-1", &a);
        a.status = RD_STATUS_STARTED;
        snprintf(a.connector, sizeof a.connector, "kelly");
        assert_int_equal(update(f, &a), 0);
        assert_int_equal(offer(f, &a, "kelly", NULL), 0);
        assert_int_equal(offer(f, &a, "sophie", "family"), 0); /* the last one counts */
        assert_int_equal(offer(f, &a, "kelly", "family"), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        rd_store_close(f->store);
        assert_int_equal(rd_store_open(f->path, false, &f->store, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_store_each_state(f->store,
                                             &(struct rd_store_state_fns){.open = count_open},
                                             &n_open),
                         0);
        assert_int_equal(n_open, 1);
        assert_int_equal(
                rd_store_each_state(
                        f->store, &(struct rd_store_state_fns){.offer_count = sum_offers}, &offers),
                0);
        assert_int_equal(offers, 2);
        assert_int_equal(rd_store_each_state(f->store,
                                             &(struct rd_store_state_fns){.round_robin = read_rr},
                                             rr),
                         0);
        assert_string_equal(rr, "kelly");
}

/* rd_store_list of STATUS (-1: any) after SINCE, at most LIMIT, into ARR. */
static int list(struct fixture *f, int status, int64_t since, int64_t limit, json_t *arr)
{
        struct rd_list_query q = {
                .since = since, .limit = limit, .statuses = status < 0 ? 0 : 1u << status};
        return rd_store_list(f->store, &q, arr);
}

static void list_orders_by_latest_event_and_filters_status(void **state)
{
        struct fixture *f = *state;
        struct rd_stored a, b;
        struct rd_event ev;
        json_t *arr = json_array();

        assert_int_equal(rd_store_begin(f->store), 0);
        insert(f, "A-1", &a);
        insert(f, "A-2", &b);
        ev = received(&a);
        assert_int_equal(append(f, &ev, &a), 0); /* 1 */
        ev = received(&b);
        assert_int_equal(append(f, &ev, &b), 0); /* 2 */
        ev = received(&a);
        assert_int_equal(append(f, &ev, &a), 0); /* 3 */
        b.status = RD_STATUS_WAITLISTED;
        assert_int_equal(update(f, &b), 0);
        assert_int_equal(rd_store_commit(f->store), 0);

        assert_int_equal(list(f, -1, 0, 10, arr), 0);
        assert_int_equal(json_array_size(arr), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "ref")),
                            "A-2");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "seq")), 3);
        json_array_clear(arr);
        assert_int_equal(list(f, RD_STATUS_WAITLISTED, 0, 10, arr), 0);
        assert_int_equal(json_array_size(arr), 1);
        json_array_clear(arr);
        assert_int_equal(list(f, -1, 2, 10, arr), 0);
        assert_int_equal(json_array_size(arr), 1);
        json_array_clear(arr);
        assert_int_equal(list(f, -1, 0, 1, arr), 0);
        assert_int_equal(json_array_size(arr), 1);
        json_decref(arr);
}

static void content_and_trace_are_kept(void **state)
{
        struct fixture *f = *state;
        struct rd_stored a;
        json_t *content = NULL, *t = json_pack("{s:s}", "rule", "family");
        struct rd_store_change compact = {
                .st = &a, .trace_set = true, .trace = "1011B0", .rules_digest = "def"};
        char digest[65], *trace = NULL;

        assert_int_equal(rd_store_begin(f->store), 0);
        insert(f, "A-1", &a);
        assert_int_equal(set_trace(f, &a, t, "abc"), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_int_equal(rd_store_content(f->store, a.rowid, &content, &trace, digest), 0);
        assert_string_equal(json_string_value(json_object_get(content, "ref")), "A-1");
        assert_string_equal(json_string_value(json_object_get(content, "postcode")), "3600");
        assert_string_equal(trace, "{\"rule\":\"family\"}"); /* the text as it was kept */
        assert_string_equal(digest, "abc");
        free(trace);
        /* a compact trace is kept as it is too */
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(rd_store_change(f->store, &compact), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_int_equal(rd_store_content(f->store, a.rowid, NULL, &trace, digest), 0);
        assert_string_equal(trace, "1011B0");
        assert_string_equal(digest, "def");
        free(trace);
        json_decref(content);
        json_decref(t);
}

/* The row of referral ROWID as SQLite holds it: typeof(digest) and its
 * length, rules_digest in brackets and rules_file (-1 for NULL) into BUF. */
static const char *stored_digests(struct fixture *f, int64_t rowid, char *buf, size_t size)
{
        sqlite3_stmt *st;
        char sql[256];

        snprintf(sql, sizeof sql,
                 "SELECT typeof(digest) || ' ' || length(CAST(digest AS BLOB)) || ' ['"
                 " || rules_digest || '] ' || coalesce(rules_file, -1) FROM referrals"
                 " WHERE rowid = %lld",
                 (long long)rowid);
        assert_int_equal(sqlite3_prepare_v2(sq(f->store)->db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return buf;
}

/* Narrower rows (schema version 8): the content's SHA-256 as its 32 bytes,
 * the routing file that decided by the number of its period in force;
 * both read back as the hex they were given. */
static void digests_are_stored_narrow_and_read_back_as_given(void **state)
{
        static const char routing[] = "version: 1\n";
        struct fixture *f = *state;
        struct rd_routing_file one = {.source = "one.yaml", .text = routing, .len = 11},
                               two = {.source = "two.yaml", .text = routing, .len = 11};
        struct rd_stored a, b, c, got;
        json_t *t = json_pack("{s:s}", "rule", "family");
        char digest[65], buf[256];

        one.digest = "1111111111111111111111111111111111111111111111111111111111111111";
        two.digest = "2222222222222222222222222222222222222222222222222222222222222222";
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(rd_store_routing_record(f->store, &one, 1000), 0);
        assert_int_equal(insert_as(f, "ocmw-genk", "A",
                                   "0123456789abcdef0123456789abcdef"
                                   "0123456789abcdef0123456789abcdef",
                                   &a),
                         0);
        assert_int_equal(set_trace(f, &a, t, one.digest), 0);
        /* a digest that is not a SHA-256 in lowercase hex stays text, and
         * so does a routing file never put in force (a replay's) */
        assert_int_equal(insert_as(f, "ocmw-genk", "B",
                                   "0123456789ABCDEF0123456789ABCDEF"
                                   "0123456789ABCDEF0123456789ABCDEF",
                                   &b),
                         0);
        assert_int_equal(set_trace(f, &b, t, two.digest), 0);
        assert_int_equal(rd_store_routing_record(f->store, &two, 2000), 0);
        insert(f, "C", &c);
        assert_int_equal(set_trace(f, &c, t, two.digest), 0);
        assert_int_equal(rd_store_commit(f->store), 0);

        assert_string_equal(stored_digests(f, a.rowid, buf, sizeof buf), "blob 32 [] 1");
        assert_string_equal(
                stored_digests(f, b.rowid, buf, sizeof buf),
                "text 64 [] 2222222222222222222222222222222222222222222222222222222222222222");
        assert_string_equal(stored_digests(f, c.rowid, buf, sizeof buf), "text 2 [] 2");
        assert_int_equal(rd_store_find(f->store, "ocmw-genk", "A", &got), 0);
        assert_string_equal(got.digest,
                            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        assert_int_equal(rd_store_get_row(f->store, b.rowid, &got), 0);
        assert_string_equal(got.digest,
                            "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF");
        /* each names the file that decided, after another came into force */
        assert_int_equal(rd_store_content(f->store, a.rowid, NULL, NULL, digest), 0);
        assert_string_equal(digest, one.digest);
        assert_int_equal(rd_store_content(f->store, b.rowid, NULL, NULL, digest), 0);
        assert_string_equal(digest, two.digest);
        assert_int_equal(rd_store_content(f->store, c.rowid, NULL, NULL, digest), 0);
        assert_string_equal(digest, two.digest);
        json_decref(t);
}

/* ---- the waitlist on disk -------------------------------------------------- */

struct sets_seen {
        char text[8][256];
        enum rd_urgency urgency[8];
        int64_t count[8], latest[8];
        int n;
};

static int read_set(void *ctx, const struct rd_waiting_set *set)
{
        struct sets_seen *ss = ctx;
        assert_true(ss->n < 8);
        snprintf(ss->text[ss->n], sizeof ss->text[0], "%s", set->candidates);
        ss->urgency[ss->n] = set->urgency;
        ss->latest[ss->n] = set->latest_start_by;
        ss->count[ss->n++] = set->count;
        return 0;
}

/* The latest start_by the store gives for CANDIDATES and URGENCY. */
static int64_t latest_of(struct fixture *f, const char *candidates, enum rd_urgency urgency)
{
        struct sets_seen ss = {.n = 0};

        assert_int_equal(rd_store_each_waiting_set(f->store, read_set, &ss), 0);
        for (int i = 0; i < ss.n; i++)
                if (!strcmp(ss.text[i], candidates) && ss.urgency[i] == urgency)
                        return ss.latest[i];
        fail_msg("no set %s of urgency %d", candidates, (int)urgency);
        return 0;
}

/* How many waiting referrals of URGENCY (RD_URGENCY__MAX: any) have
 * CANDIDATES, by rd_store_each_waiting_set, which names each pair once. */
static int64_t waiting_with_urgency(struct fixture *f, const char *candidates,
                                    enum rd_urgency urgency)
{
        struct sets_seen ss = {.n = 0};
        int64_t n = 0;
        int pairs = 0;

        assert_int_equal(rd_store_each_waiting_set(f->store, read_set, &ss), 0);
        for (int i = 0; i < ss.n; i++)
                if (!strcmp(ss.text[i], candidates) &&
                    (urgency == RD_URGENCY__MAX || ss.urgency[i] == urgency)) {
                        assert_true(ss.count[i] > 0);
                        n += ss.count[i];
                        pairs++;
                }
        assert_true(urgency == RD_URGENCY__MAX || pairs <= 1);
        return n;
}

/* How many waiting referrals have CANDIDATES, whatever their urgency. */
static int64_t waiting_for(struct fixture *f, const char *candidates)
{
        return waiting_with_urgency(f, candidates, RD_URGENCY__MAX);
}

/* A waitlisted row for REF, URGENCY, START_BY, waiting for CANDIDATES. */
static void insert_waiting(struct fixture *f, const char *ref, enum rd_urgency urgency,
                           int64_t start_by, const char *candidates, struct rd_stored *st)
{
        struct rd_referral r;
        char *content = NULL, hex[65];

        make_referral(&r, "ocmw-genk", ref);
        assert_int_equal(rd_referral_canonical(&r, &content, hex), 0);
        memset(st, 0, sizeof *st);
        snprintf(st->partner, sizeof st->partner, "ocmw-genk");
        snprintf(st->ref, sizeof st->ref, "%s", ref);
        snprintf(st->digest, sizeof st->digest, "%s", hex);
        st->received_ms = 1000;
        st->status = RD_STATUS_WAITLISTED;
        st->urgency = urgency;
        st->start_by_ms = start_by;
        snprintf(st->rule, sizeof st->rule, "family");
        assert_int_equal(
                rd_store_insert(f->store, &(struct rd_store_change){.st = st,
                                                                    .content = content,
                                                                    .rules_digest = "",
                                                                    .candidates = candidates}),
                0);
        free(content);
}

static void waiting_counts_by_candidates_follow_every_change_and_rollback(void **state)
{
        struct fixture *f = *state;
        struct rd_stored a, b, c;

        assert_int_equal(rd_store_begin(f->store), 0);
        insert_waiting(f, "W-1", RD_URGENCY_NORMAL, 5000, "kelly sophie", &a);
        insert_waiting(f, "W-2", RD_URGENCY_NORMAL, 6000, "kelly sophie", &b);
        insert_waiting(f, "W-3", RD_URGENCY_NORMAL, 7000, "psy-1", &c);
        assert_int_equal(waiting_for(f, "kelly sophie"), 2);
        assert_int_equal(waiting_for(f, "psy-1"), 1);
        /* offered: it leaves the list */
        a.status = RD_STATUS_ASSIGNED;
        assert_int_equal(update(f, &a), 0);
        assert_int_equal(waiting_for(f, "kelly sophie"), 1);
        /* new candidates for one waiting */
        assert_int_equal(set_candidates(f, &b, "kelly"), 0);
        assert_int_equal(waiting_for(f, "kelly sophie"), 0);
        assert_int_equal(waiting_for(f, "kelly"), 1);
        assert_int_equal(rd_store_commit(f->store), 0);
        /* a rolled-back request leaves the counts as they were */
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(rd_store_request_begin(f->store), 0);
        c.status = RD_STATUS_WITHDRAWN;
        assert_int_equal(update(f, &c), 0);
        assert_int_equal(waiting_for(f, "psy-1"), 0);
        assert_int_equal(rd_store_request_end(f->store, false), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_int_equal(waiting_for(f, "psy-1"), 1);
        assert_int_equal(waiting_for(f, "kelly"), 1);
}

/* How many waiting referrals of CANDIDATES and URGENCY come before
 * (START_BY, ROWID), counted up to LIMIT. */
static int64_t before(struct fixture *f, const char *candidates, enum rd_urgency urgency,
                      int64_t start_by, int64_t rowid, int64_t limit)
{
        const struct rd_wait_key place = {urgency, start_by, rowid};
        int64_t n = -1;

        assert_int_equal(rd_store_count_waiting_before(f->store, candidates, &place, limit, &n), 0);
        return n;
}

static void waiting_counts_know_the_urgency_and_count_those_before_a_place(void **state)
{
        struct fixture *f = *state;
        struct rd_stored w[6];

        assert_int_equal(rd_store_begin(f->store), 0);
        insert_waiting(f, "N-1", RD_URGENCY_NORMAL, 5000, "kelly sophie", &w[0]);
        insert_waiting(f, "N-2", RD_URGENCY_NORMAL, 9000, "kelly sophie", &w[1]);
        insert_waiting(f, "N-3", RD_URGENCY_NORMAL, 9000, "kelly sophie", &w[2]);
        insert_waiting(f, "H-1", RD_URGENCY_HIGH, 8000, "kelly sophie", &w[3]);
        insert_waiting(f, "H-2", RD_URGENCY_HIGH, 4000, "kelly", &w[4]);
        insert_waiting(f, "C-1", RD_URGENCY_CRISIS, 1000, "kelly sophie", &w[5]);
        assert_int_equal(rd_store_commit(f->store), 0);
        /* one count per candidates and urgency */
        assert_int_equal(waiting_with_urgency(f, "kelly sophie", RD_URGENCY_NORMAL), 3);
        assert_int_equal(waiting_with_urgency(f, "kelly sophie", RD_URGENCY_HIGH), 1);
        assert_int_equal(waiting_with_urgency(f, "kelly sophie", RD_URGENCY_CRISIS), 1);
        assert_int_equal(waiting_with_urgency(f, "kelly", RD_URGENCY_HIGH), 1);
        assert_int_equal(waiting_for(f, "kelly sophie"), 5);
        /* none of a set has a later start_by than its latest */
        assert_int_equal(latest_of(f, "kelly sophie", RD_URGENCY_NORMAL), 9000);
        assert_int_equal(latest_of(f, "kelly sophie", RD_URGENCY_HIGH), 8000);

        /* before a new referral (received after all) with start_by 9000:
         * every normal one of the set, the same start_by included */
        assert_int_equal(before(f, "kelly sophie", RD_URGENCY_NORMAL, 9000, INT64_MAX, 100), 3);
        /* with start_by 8999: only the first */
        assert_int_equal(before(f, "kelly sophie", RD_URGENCY_NORMAL, 8999, INT64_MAX, 100), 1);
        /* a stored one at 9000 comes after those of that start_by stored earlier */
        assert_int_equal(before(f, "kelly sophie", RD_URGENCY_NORMAL, 9000, w[2].rowid, 100), 2);
        /* counting stops at the limit */
        assert_int_equal(before(f, "kelly sophie", RD_URGENCY_NORMAL, 9000, INT64_MAX, 2), 2);
        /* another urgency or other candidates are not counted */
        assert_int_equal(before(f, "kelly sophie", RD_URGENCY_HIGH, 9000, INT64_MAX, 100), 1);
        assert_int_equal(before(f, "kelly", RD_URGENCY_NORMAL, 9000, INT64_MAX, 100), 0);
        /* one that leaves the list is no longer counted, by either */
        w[0].status = RD_STATUS_ASSIGNED;
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(update(f, &w[0]), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_int_equal(waiting_with_urgency(f, "kelly sophie", RD_URGENCY_NORMAL), 2);
        assert_int_equal(before(f, "kelly sophie", RD_URGENCY_NORMAL, 9000, INT64_MAX, 100), 2);
}

/* The plan of the count of those before a place: a range of its index,
 * no scan of the referrals, no sort. */
static void the_count_before_a_place_reads_a_range_of_its_index(void **state)
{
        struct fixture *f = *state;
        char sql[1024], plan[2048] = "";
        sqlite3_stmt *st;
        sqlite3 *db;
        size_t len = 0;

        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", sq_stmt_sql[S_WAITING_BEFORE]);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW)
                len += (size_t)snprintf(plan + len, sizeof plan - len, "%s\n",
                                        (const char *)sqlite3_column_text(st, 3));
        sqlite3_finalize(st);
        sqlite3_close(db);
        if (!strstr(plan, "referrals_waiting_sets (candidates=? AND urgency=? AND") ||
            strstr(plan, "SCAN referrals") || strstr(plan, "TEMP B-TREE"))
                fail_msg("the count before a place does not read its index:\n%s", plan);
}

struct order_seen {
        char refs[16][RD_REF_MAX + 1];
        int n;
};

static int read_order(void *ctx, const struct rd_stored *st, const char *candidates)
{
        struct order_seen *o = ctx;
        (void)candidates;
        assert_true(o->n < 16);
        snprintf(o->refs[o->n++], sizeof o->refs[0], "%s", st->ref);
        return 0;
}

static void waitlist_is_read_in_order_a_page_at_a_time(void **state)
{
        struct fixture *f = *state;
        struct rd_stored w[5];
        struct order_seen o = {.n = 0};
        struct rd_wait_key key;
        size_t n = 0;

        assert_int_equal(rd_store_begin(f->store), 0);
        insert_waiting(f, "late", RD_URGENCY_NORMAL, 9000, "kelly", &w[0]);
        insert_waiting(f, "early", RD_URGENCY_NORMAL, 3000, "kelly", &w[1]);
        insert_waiting(f, "high", RD_URGENCY_HIGH, 9500, "kelly", &w[2]);
        insert_waiting(f, "late-too", RD_URGENCY_NORMAL, 9000, "kelly", &w[3]);
        insert_waiting(f, "offered", RD_URGENCY_HIGH, 1000, "kelly", &w[4]);
        w[4].status = RD_STATUS_ASSIGNED;
        assert_int_equal(update(f, &w[4]), 0);
        assert_int_equal(rd_store_commit(f->store), 0);

        assert_int_equal(rd_store_each_waiting(f->store, NULL, 2, read_order, &o, &n), 0);
        assert_int_equal(n, 2);
        /* the next page starts after the last one read: across urgencies,
         * and between two of the same start_by by their order of arrival */
        key = (struct rd_wait_key){RD_URGENCY_NORMAL, 3000, w[1].rowid};
        assert_int_equal(rd_store_each_waiting(f->store, &key, 10, read_order, &o, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(o.n, 4);
        assert_string_equal(o.refs[0], "high");
        assert_string_equal(o.refs[1], "early");
        assert_string_equal(o.refs[2], "late");
        assert_string_equal(o.refs[3], "late-too");
        key = (struct rd_wait_key){RD_URGENCY_HIGH, 9500, w[2].rowid};
        o.n = 0;
        assert_int_equal(rd_store_each_waiting(f->store, &key, 10, read_order, &o, &n), 0);
        assert_int_equal(n, 3);
        assert_string_equal(o.refs[0], "early");
}

/* What schema version 5 added, taken away again (its waiting_sets and
 * triggers stay: the step to version 5 makes them anew; and what came
 * after). */
#define BACK_TO_VERSION_4 BACK_TO_VERSION_5 "DROP INDEX referrals_waiting_sets;"

/* What schema version 4 added, taken away again. */
#define BACK_TO_VERSION_3                                                                          \
        BACK_TO_VERSION_4                                                                          \
        "DROP INDEX referrals_status_seq; DROP INDEX referrals_connector_seq;"                     \
        "DROP INDEX referrals_team_seq; DROP INDEX referrals_attention;"                           \
        "DROP INDEX referrals_missed; DROP TABLE reasons;"                                         \
        "ALTER TABLE referrals DROP COLUMN attention; ALTER TABLE referrals DROP COLUMN "          \
        "wait_teams;"                                                                              \
        "ALTER TABLE referrals DROP COLUMN last_connector;"                                        \
        "ALTER TABLE referrals DROP COLUMN last_team;"

static void version_1_database_gets_its_waiting_counts_on_upgrade(void **state)
{
        struct fixture *f = *state;
        struct rd_stored st;
        char errbuf[256];

        assert_int_equal(rd_store_begin(f->store), 0);
        insert_waiting(f, "W-1", RD_URGENCY_NORMAL, 5000, "kelly sophie", &st);
        insert_waiting(f, "W-2", RD_URGENCY_NORMAL, 6000, "kelly sophie", &st);
        insert_waiting(f, "W-3", RD_URGENCY_HIGH, 7000, "kelly sophie", &st);
        assert_int_equal(rd_store_commit(f->store), 0);
        rd_store_close(f->store);
        f->store = NULL;
        /* back to the schema of version 1: no index, counts, triggers, meta
         * (nor what later versions add) */
        back_to(f->path, BACK_TO_VERSION_3 "DROP TABLE routing_in_force; DROP TABLE routing_files;"
                                           "DROP TRIGGER waiting_in; DROP TRIGGER waiting_change;"
                                           "DROP TRIGGER waiting_out; DROP TABLE waiting_sets;"
                                           "DROP INDEX referrals_waiting; DROP TABLE meta;"
                                           "DROP INDEX referrals_figures;"
                                           "PRAGMA user_version = 1");
        assert_int_equal(rd_store_open(f->path, false, &f->store, errbuf, sizeof errbuf), 0);
        /* counted by candidates (version 2), then by urgency too (version 5) */
        assert_int_equal(waiting_with_urgency(f, "kelly sophie", RD_URGENCY_NORMAL), 2);
        assert_int_equal(waiting_with_urgency(f, "kelly sophie", RD_URGENCY_HIGH), 1);
        assert_int_equal(latest_of(f, "kelly sophie", RD_URGENCY_NORMAL), 6000);
        assert_int_equal(before(f, "kelly sophie", RD_URGENCY_NORMAL, 5500, INT64_MAX, 10), 1);
}

/* ---- the file (daemon.md rev 2) ----------------------------------------------- */

/* Whether PATH followed by SUFFIX exists. */
static bool exists(const char *path, const char *suffix)
{
        char name[512];
        snprintf(name, sizeof name, "%s%s", path, suffix);
        return access(name, F_OK) == 0;
}

/* A file PATH holding TEXT. */
static void write_file(const char *path, const char *text)
{
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(text, fp);
        assert_int_equal(fclose(fp), 0);
}

static void an_empty_database_file_is_refused_and_left_as_it_is(void **state)
{
        struct fixture *f = *state;
        struct rd_store *s = NULL;
        struct stat sb;
        char path[400], errbuf[256];

        snprintf(path, sizeof path, "%s/empty.db", f->dir);
        write_file(path, "");
        assert_int_equal(rd_store_open(path, true, &s, errbuf, sizeof errbuf), -ENODATA);
        assert_null(s);
        assert_non_null(strstr(errbuf, "empty (0 bytes)"));
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_size, 0);
        assert_false(exists(path, "-wal"));
        assert_false(exists(path, ".new"));
}

static void a_new_database_is_made_aside_and_renamed_into_place(void **state)
{
        struct fixture *f = *state;
        struct rd_store *s = NULL;
        struct stat sb;
        char path[400], tmp[420], errbuf[256];

        snprintf(path, sizeof path, "%s/fresh.db", f->dir);
        snprintf(tmp, sizeof tmp, "%s.new", path);
        write_file(tmp, "half made"); /* what an interrupted first start left aside */
        assert_int_equal(rd_store_open(path, true, &s, errbuf, sizeof errbuf), 0);
        assert_false(exists(path, ".new"));
        assert_int_equal(stat(path, &sb), 0);
        assert_true(sb.st_size > 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
        assert_int_equal(rd_store_last_seq(s), 0);
        rd_store_close(s);
        /* and opened again as it is */
        assert_int_equal(rd_store_open(path, true, &s, errbuf, sizeof errbuf), 0);
        rd_store_close(s);
}

/* ---- list filters, schema version 4 ------------------------------------------- */

/* The referrals of `list` with Q's filters (since 0, at most 100), their
 * refs space separated, in BUF. */
static const char *listed_refs(struct fixture *f, struct rd_list_query q, char *buf, size_t size)
{
        json_t *arr = json_array(), *it;
        size_t i, len = 0;

        q.limit = 100;
        assert_int_equal(rd_store_list(f->store, &q, arr), 0);
        buf[0] = '\0';
        json_array_foreach(arr, i, it) len +=
                (size_t)snprintf(buf + len, size - len, "%s%s", len ? " " : "",
                                 json_string_value(json_object_get(it, "ref")));
        json_decref(arr);
        return buf;
}

static void
version_3_database_keeps_the_connector_and_team_of_its_last_offers_on_upgrade(void **state)
{
        struct fixture *f = *state;
        struct rd_stored a, b;
        struct rd_event ev;
        char errbuf[256], buf[256];

        assert_int_equal(rd_store_begin(f->store), 0);
        insert(f, "A", &a); /* offered to kelly, and still hers */
        a.status = RD_STATUS_ASSIGNED;
        snprintf(a.connector, sizeof a.connector, "kelly");
        snprintf(a.team, sizeof a.team, "genk");
        a.offered_ms = 2000;
        assert_int_equal(update(f, &a), 0);
        ev = received(&a); /* listed after its latest event */
        assert_int_equal(append(f, &ev, &a), 0);
        /* sophie declined B: it waits for kelly */
        insert_waiting(f, "B", RD_URGENCY_NORMAL, 5000, "kelly", &b);
        ev = received(&b);
        ev.type = RD_EV_ASSIGNED;
        ev.status = RD_STATUS_ASSIGNED;
        snprintf(ev.connector, sizeof ev.connector, "sophie");
        snprintf(ev.team, sizeof ev.team, "genk");
        assert_int_equal(append(f, &ev, &b), 0);
        b.first_offered_ms = 2000;
        b.offered_ms = 2000;
        assert_int_equal(update(f, &b), 0);
        b.offered_ms = 0;
        assert_int_equal(update(f, &b), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        rd_store_close(f->store);
        f->store = NULL;
        back_to(f->path, BACK_TO_VERSION_3 "PRAGMA user_version = 3");

        assert_int_equal(rd_store_open(f->path, false, &f->store, errbuf, sizeof errbuf), 0);
        assert_string_equal(
                listed_refs(f, (struct rd_list_query){.connector = "kelly"}, buf, sizeof buf), "A");
        assert_string_equal(
                listed_refs(f, (struct rd_list_query){.connector = "sophie"}, buf, sizeof buf),
                "B");
        /* a waiting referral's teams come from its candidates: at the next
         * start, the hub works every one through again (hub_attention.c) */
        assert_string_equal(listed_refs(f, (struct rd_list_query){.team = "genk"}, buf, sizeof buf),
                            "A");
}

/* What SQLite says of the driver's statement ID on DB: with HOW "EXPLAIN
 * QUERY PLAN" the plan's lines (column 3), with "EXPLAIN" the program's
 * opcodes (column 1), one a line, into BUF. */
static const char *explain(sqlite3 *db, const char *how, enum sq_stmt id, char *buf, size_t size)
{
        char sql[16384];
        sqlite3_stmt *st;
        size_t len = 0;
        int col = strcmp(how, "EXPLAIN") ? 3 : 1;

        snprintf(sql, sizeof sql, "%s %s", how, sq_stmt_sql[id]);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
                fail_msg("statement %d: %s", (int)id, sqlite3_errmsg(db));
        buf[0] = '\0';
        while (sqlite3_step(st) == SQLITE_ROW && len < size)
                len += (size_t)snprintf(buf + len, size - len, "%s\n",
                                        (const char *)sqlite3_column_text(st, col));
        sqlite3_finalize(st);
        return buf;
}

/* A referral's row is written without a temporary table: the partial
 * indexes' conditions are equalities, which SQLite checks in place (an
 * IN list in an index's WHERE made it build a temporary b-tree at every
 * insert and update). */
static void writing_a_referral_builds_no_temporary_table(void **state)
{
        static const enum sq_stmt writes[] = {S_INSERT, S_UPDATE,      S_TRACE, S_CANDIDATES_SET,
                                              S_ERASE,  S_LAST_SEQ_OF, S_EVENT, S_AUDIT_ADD};
        struct fixture *f = *state;
        char program[65536];
        sqlite3 *db;

        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++)
                if (strstr(explain(db, "EXPLAIN", writes[i], program, sizeof program),
                           "OpenEphemeral"))
                        fail_msg("statement %d builds a temporary table:\n%s", (int)writes[i],
                                 program);
        sqlite3_close(db);
}

/* Whether a line of PLAN reads a whole table: "SCAN T" without an index,
 * other than the tables of one row per forward target or reason code (a
 * subquery's rows are no table). */
static bool scans_a_table(const char *plan)
{
        for (const char *l = plan; (l = strstr(l, "SCAN ")); l++) {
                const char *end = strchr(l, '\n');
                size_t len = end ? (size_t)(end - l) : strlen(l);
                if (!memmem(l, len, " USING ", 7) && strncmp(l, "SCAN forward_counts", 19) &&
                    strncmp(l, "SCAN reason_counts", 18) && strncmp(l, "SCAN CONSTANT ROW", 17) &&
                    strncmp(l, "SCAN (subquery-", 15))
                        return true;
        }
        return false;
}

/* Statement ID's plan on DB names INDEX, reads no whole table
 * (scans_a_table) and sorts nothing unless MAY_SORT; PLAN (SIZE bytes)
 * receives it. */
static void assert_reads_index(sqlite3 *db, enum sq_stmt id, const char *index, bool may_sort,
                               char *plan, size_t size)
{
        explain(db, "EXPLAIN QUERY PLAN", id, plan, size);
        if (!strstr(plan, index) || scans_a_table(plan) ||
            (!may_sort && strstr(plan, "TEMP B-TREE")))
                fail_msg("statement %d does not read %s:\n%s", (int)id, index, plan);
}

/* Every statement of the serving path (a submit, an update, a `get`, the
 * deadlines, the waitlist, the start) and of `stats` names an index, or
 * a row by its rowid: none reads a whole table, none sorts but the forward
 * targets. (The audit purge reads the entries it deletes, in order of n,
 * and one more: a_purge_of_the_audit_trail_removes_the_entries_before_the_retention.) */
static void every_statement_of_serving_and_stats_reads_an_index(void **state)
{
        static const struct {
                enum sq_stmt id;
                const char *index;
        } plans[] = {
                {S_FIND, "sqlite_autoindex_referrals_1 (partner=? AND ref=?)"},
                {S_GET, "INTEGER PRIMARY KEY (rowid=?)"},
                {S_CONTENT, "INTEGER PRIMARY KEY (rowid=?)"},
                {S_UPDATE, "INTEGER PRIMARY KEY (rowid=?)"},
                {S_TRACE, "INTEGER PRIMARY KEY (rowid=?)"},
                {S_LAST_SEQ_OF, "INTEGER PRIMARY KEY (rowid=?)"},
                {S_CANDIDATES_SET, "INTEGER PRIMARY KEY (rowid=?)"},
                {S_ERASE, "INTEGER PRIMARY KEY (rowid=?)"},
                {S_EVENTS, "SEARCH e USING INTEGER PRIMARY KEY (rowid>?)"}, /* e: events */
                {S_HISTORY, "events_referral (referral=?)"},
                {S_HISTORY_COUNT, "events_referral (referral=?)"},
                {S_OFFERED_HAS, "offered USING PRIMARY KEY (connector=? AND referral=?)"},
                {S_OFFER_BUMP, "offer_counts USING PRIMARY KEY (connector=?)"},
                {S_RR_MOVE, "round_robin USING PRIMARY KEY (rule=?)"},
                {S_DECLINES, "declines USING PRIMARY KEY (referral=?)"},
                {S_REASONS, "reasons_referral (referral=?)"},
                {S_REASONS_ERASE, "reasons_referral (referral=?)"},
                {S_AUDIT_LIST, "audit USING INTEGER PRIMARY KEY (rowid>?)"},
                {S_META_GET, "meta USING PRIMARY KEY (key=?)"},
                {S_OPEN, "referrals_status_seq (status=?)"},
                {S_OFFERS_OPEN, "referrals_status_seq (status=?)"},
                {S_WAITING_HEAD, "referrals_waiting"},
                {S_WAITING_SAME, "referrals_waiting (urgency=? AND start_by_ms>?)"},
                {S_WAITING_LOWER, "referrals_waiting (urgency<?)"},
                {S_WAITING_BEFORE,
                 "referrals_waiting_sets (candidates=? AND urgency=? AND start_by_ms<?)"},
                {S_DUE_OFFER, "referrals_offer_due (offer_expires_ms>? AND offer_expires_ms<?)"},
                {S_DUE_AT_RISK, "referrals_window_due (at_risk_fired=? AND start_by_ms>?"},
                {S_DUE_MISSED, "referrals_window_due (at_risk_fired=? AND start_by_ms>?"},
                {S_DUE_ERASE, "referrals_erase_due (final_ms>? AND final_ms<?)"},
                {S_NEXT, "referrals_window_due (at_risk_fired=? AND start_by_ms>?)"},
                {S_TALLIES, "tallies USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"},
                {S_TALLY_SUM, "tallies USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"},
                {S_WAIT_OLDEST, "referrals_waiting_since"},
                {S_FORWARDS, "forward_counts"},
                {S_REASON_COUNTS, "reason_counts"},
        };
        struct fixture *f = *state;
        sqlite3 *db;

        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++) {
                char plan[8192];
                assert_reads_index(db, plans[i].id, plans[i].index, plans[i].id == S_FORWARDS, plan,
                                   sizeof plan);
        }
        sqlite3_close(db);
}

static int64_t audit_entries(struct fixture *f)
{
        json_t *arr = json_array();
        int64_t last, n;

        assert_int_equal(rd_store_audit_list(f->store, 0, 1000, NULL, arr, &last), 0);
        n = (int64_t)json_array_size(arr);
        json_decref(arr);
        return n;
}

/* The trail is appended in time order and purged by its number: the
 * entries before the first one inside the retention go. */
static void a_purge_of_the_audit_trail_removes_the_entries_before_the_retention(void **state)
{
        struct fixture *f = *state;
        json_t *arr = json_array();
        int64_t last;

        assert_int_equal(rd_store_begin(f->store), 0);
        for (int i = 0; i < 10; i++)
                assert_int_equal(rd_store_audit(f->store, 1000 + i * 100, "c", "coordinator", "get",
                                                "R000001"),
                                 0);
        assert_int_equal(rd_store_audit_purge(f->store, 1000), 0);
        assert_int_equal(rd_store_audit_purge(f->store, 1350), 4); /* 1000 .. 1300 */
        assert_int_equal(audit_entries(f), 6);
        assert_int_equal(rd_store_audit_list(f->store, 0, 1, NULL, arr, &last), 0);
        /* the first kept is the fifth entry, of 1400 */
        assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "n")), 5);
        assert_int_equal(last, 5);
        assert_int_equal(rd_store_audit_purge(f->store, 1900), 5);
        assert_int_equal(rd_store_audit_purge(f->store, 99999), 1); /* all of them */
        assert_int_equal(audit_entries(f), 0);
        assert_int_equal(rd_store_audit_purge(f->store, 99999), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        json_decref(arr);
}

/* Every `list` statement reads the index of its filter in the order of
 * the latest event: no scan of the referrals, no sort (but for a
 * connector's own referrals, which its offers give). */
static void every_list_filter_reads_its_index(void **state)
{
        static const struct {
                enum sq_stmt id;
                const char *index;
        } plans[] = {
                {S_LIST_SEQ, "referrals_last_seq (last_seq>?)"},
                {S_LIST_ATTENTION, "referrals_attention (last_seq>?)"},
                {S_LIST_CONNECTOR, "referrals_connector_seq (last_connector=? AND last_seq>?)"},
                {S_LIST_TEAM, "referrals_team_seq (last_team=? AND last_seq>?)"},
                {S_LIST_STATUS, "referrals_status_seq (status=? AND last_seq>?)"},
                {S_LIST_OFFERED, "offered USING PRIMARY KEY (connector=?)"},
        };
        struct fixture *f = *state;
        sqlite3 *db;

        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++) {
                char plan[8192];

                assert_reads_index(db, plans[i].id, plans[i].index, plans[i].id == S_LIST_OFFERED,
                                   plan, sizeof plan);
                if (plans[i].id == S_LIST_TEAM)
                        assert_non_null(strstr(plan, "referrals_status_seq (status=? AND"));
        }
        sqlite3_close(db);
}

/* ---- the events as columns (schema version 10) ------------------------------ */

/* The texts a reading gives, one after the other (raw: the driver's). */
struct texts {
        char *t[4 * RD_EV__MAX + 8];
        size_t n;
};

static int collect_text(void *ctx, const char *text)
{
        struct texts *x = ctx;

        assert_true(x->n < sizeof x->t / sizeof x->t[0]);
        x->t[x->n] = strdup(text);
        assert_non_null(x->t[x->n]);
        x->n++;
        return 0;
}

static void texts_clear(struct texts *x)
{
        for (size_t i = 0; i < x->n; i++)
                free(x->t[i]);
        x->n = 0;
}

/* An event of TYPE about ST (NULL: none) with every field set (FULL, the
 * longest texts, escapes and non-ASCII among them), or few and the
 * partner and ref not ST's. */
static struct rd_event event_of(enum rd_event_type type, const struct rd_stored *st, bool full)
{
        struct rd_event ev;

        memset(&ev, 0, sizeof ev);
        ev.type = type;
        ev.at_ms = full ? 1796000000123 : -1000;
        ev.status = full ? RD_STATUS_WAITLISTED : RD_STATUS_RECEIVED;
        if (st && full) {
                snprintf(ev.partner, sizeof ev.partner, "%s", st->partner);
                snprintf(ev.ref, sizeof ev.ref, "%s", st->ref);
        } else if (full) {
                snprintf(ev.id, sizeof ev.id, "R999999");
                snprintf(ev.partner, sizeof ev.partner, "ocmw-hasselt");
        } else {
                snprintf(ev.ref, sizeof ev.ref, "other-ref");
        }
        if (!full)
                return ev;
        memset(ev.rule, 'r', sizeof ev.rule - 1);
        memset(ev.team, 't', sizeof ev.team - 1);
        memset(ev.connector, 'c', sizeof ev.connector - 1);
        ev.start_by_ms = 1796600000000;
        ev.expected_start_ms = 1796500000999;
        snprintf(ev.forward_to, sizeof ev.forward_to, "cawl");
        snprintf(ev.reason, sizeof ev.reason, "\"quoted\" \\ caf\xc3\xa9 \x01 / \xe2\x80\xa8 end");
        snprintf(ev.reason_code, sizeof ev.reason_code, "no_capacity");
        ev.attention = RD_ATTENTION_NO_CANDIDATE;
        snprintf(ev.digest, sizeof ev.digest, "%064d", 7);
        ev.rules = 12;
        memset(ev.error, 'e', sizeof ev.error - 1);
        ev.errors = 3;
        return ev;
}

/* Every event type, with and without a referral, full and sparse, reads
 * back (events, a referral's history) as the text it was published with,
 * byte for byte; a row kept as JSON before reads as it is. */
static void every_event_reads_back_as_the_text_it_was_published_with(void **state)
{
        struct fixture *f = *state;
        struct texts published = {.n = 0}, read = {.n = 0}, history = {.n = 0};
        size_t of_a = 0;
        struct rd_stored a;
        sqlite3 *db;
        char errbuf[256], *sql;
        static const char old[] = "{\"seq\":999,\"at\":\"2026-01-01T00:00:00.000Z\",\"type\":"
                                  "\"config.reloaded\",\"digest\":\"abc\",\"rules\":2}";

        assert_int_equal(rd_store_begin(f->store), 0);
        insert(f, "A-1", &a);
        for (int t = 0; t < RD_EV__MAX; t++)
                for (int v = 0; v < 4; v++) {
                        const struct rd_stored *st = v < 2 ? &a : NULL;
                        struct rd_event ev = event_of((enum rd_event_type)t, st, v % 2 == 0);
                        char *text = NULL;
                        struct rd_store_change ch = {.st = (struct rd_stored *)st,
                                                     .events = &ev,
                                                     .n_events = 1,
                                                     .texts = &text};

                        assert_int_equal(rd_store_change(f->store, &ch), 0);
                        assert_non_null(text);
                        published.t[published.n++] = text;
                        of_a += st != NULL;
                }
        assert_int_equal(rd_store_commit(f->store), 0);
        rd_store_close(f->store);
        f->store = NULL;
        /* a row of an older version: its JSON text in body, no columns */
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        sql = sqlite3_mprintf("INSERT INTO events (seq, body) VALUES (999, %Q)", old);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_free(sql);
        sqlite3_close(db);
        assert_int_equal(rd_store_open(f->path, false, &f->store, errbuf, sizeof errbuf), 0);

        assert_int_equal(f->store->ops->each_event(f->store, 0, 1000, NULL, collect_text, &read),
                         0);
        assert_int_equal(read.n, published.n + 1);
        for (size_t i = 0; i < published.n; i++)
                assert_string_equal(read.t[i], published.t[i]);
        assert_string_equal(read.t[published.n], old);
        assert_int_equal(
                f->store->ops->each_history(f->store, a.rowid, 1000, collect_text, &history), 0);
        assert_int_equal(history.n, of_a);
        for (size_t i = 0, k = 0; i < published.n; i++)
                if (i % 4 < 2)
                        assert_string_equal(history.t[k++], published.t[i]);
        texts_clear(&published);
        texts_clear(&read);
        texts_clear(&history);
}

/* ---- the interface ----------------------------------------------------------- */

static void ids_are_made_and_read_in_one_place(void **state)
{
        char id[RD_RID_MAX];
        int64_t rowid = 0;

        (void)state;
        rd_store_format_id(42, id);
        assert_string_equal(id, "R000042");
        assert_int_equal(rd_store_parse_id("R000042", &rowid), 0);
        assert_int_equal(rowid, 42);
        rd_store_format_id(1234567, id);
        assert_string_equal(id, "R1234567");
        assert_int_equal(rd_store_parse_id(id, &rowid), 0);
        assert_int_equal(rowid, 1234567);
        /* written as printf's "R%06lld" wrote it, up to the largest rowid */
        {
                static const int64_t rowids[] = {1, 9, 10, 99999, 999999, 1000000, INT64_MAX};
                for (size_t i = 0; i < sizeof rowids / sizeof rowids[0]; i++) {
                        char want[RD_RID_MAX];
                        snprintf(want, sizeof want, "R%06lld", (long long)rowids[i]);
                        rd_store_format_id(rowids[i], id);
                        assert_string_equal(id, want);
                }
        }
        /* only what rd_store_format_id makes */
        assert_int_equal(rd_store_parse_id("R42", &rowid), -ENOENT);
        assert_int_equal(rd_store_parse_id("R0000042", &rowid), -ENOENT);
        assert_int_equal(rd_store_parse_id("X000042", &rowid), -ENOENT);
        assert_int_equal(rd_store_parse_id("R000000", &rowid), -ENOENT);
        assert_int_equal(rd_store_parse_id("R-00042", &rowid), -ENOENT);
        assert_int_equal(rd_store_parse_id("R000042 ", &rowid), -ENOENT);
        assert_int_equal(rd_store_parse_id(NULL, &rowid), -ENOENT);
        assert_int_equal(rowid, 1234567);
}

/* SQLite keeps no memory statistics in a program that opens stores (they
 * would cost a global mutex per allocation): it counts nothing. */
static void sqlite_counts_no_memory_where_stores_are_opened(void **state)
{
        struct fixture *f = *state;
        struct rd_stored st;

        assert_int_equal(rd_store_begin(f->store), 0);
        insert(f, "A-1", &st);
        assert_int_equal(rd_store_commit(f->store), 0);
        assert_int_equal(sqlite3_memory_used(), 0);
        assert_int_equal(sqlite3_memory_highwater(0), 0);
}

static void the_sqlite_driver_says_what_it_can_do(void **state)
{
        struct fixture *f = *state;

        assert_string_equal(f->store->ops->name, "sqlite");
        assert_int_equal(rd_store_caps(f->store),
                         RD_STORE_CAN_WIPE | RD_STORE_SAVEPOINTS | RD_STORE_READ_ONLY);
        assert_int_equal(rd_store_checkpoint(f->store), 0);
}

static int offers_of(void *ctx, const char *connector, int64_t count)
{
        if (strcmp(connector, "kelly") == 0)
                *(int64_t *)ctx = count;
        return 0;
}

static void a_new_referral_is_stored_with_its_events_offer_and_round_robin_at_once(void **state)
{
        struct fixture *f = *state;
        struct rd_referral r;
        struct rd_stored st, got;
        struct rd_event ev[2];
        char *content = NULL, *texts[2] = {NULL, NULL}, hex[65], rr[65] = "";
        int64_t offers = 0, omitted = -1;
        json_t *arr = json_array();
        struct rd_viewer kelly = {RD_VIEW_CONNECTOR, "kelly"},
                         sophie = {RD_VIEW_CONNECTOR, "sophie"};

        make_referral(&r, "ocmw-genk", "A-1");
        assert_int_equal(rd_referral_canonical(&r, &content, hex), 0);
        memset(&st, 0, sizeof st);
        snprintf(st.partner, sizeof st.partner, "ocmw-genk");
        snprintf(st.ref, sizeof st.ref, "A-1");
        snprintf(st.digest, sizeof st.digest, "%s", hex);
        st.received_ms = 1000;
        st.status = RD_STATUS_ASSIGNED;
        snprintf(st.rule, sizeof st.rule, "family");
        snprintf(st.connector, sizeof st.connector, "kelly");
        st.offered_ms = 1000;
        ev[0] = received(&st);
        ev[1] = received(&st);
        ev[1].type = RD_EV_ASSIGNED;
        ev[1].status = RD_STATUS_ASSIGNED;
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(rd_store_insert(f->store, &(struct rd_store_change){.st = &st,
                                                                             .content = content,
                                                                             .rules_digest = "",
                                                                             .offered = "kelly",
                                                                             .rr_rule = "family",
                                                                             .events = ev,
                                                                             .n_events = 2,
                                                                             .texts = texts}),
                         0);
        assert_int_equal(rd_store_commit(f->store), 0);
        free(content);
        /* the referral got its id, and its events that id and their seqs */
        assert_string_equal(st.id, "R000001");
        assert_int_equal(st.last_seq, 2);
        assert_int_equal(st.first_offered_ms, 1000);
        assert_int_equal(ev[0].seq, 1);
        assert_int_equal(ev[1].seq, 2);
        assert_string_equal(ev[0].id, st.id);
        assert_string_equal(ev[1].id, st.id);
        assert_non_null(strstr(texts[1], "\"R000001\""));
        free(texts[0]);
        free(texts[1]);
        assert_int_equal(rd_store_get(f->store, st.id, &got), 0);
        assert_int_equal(got.last_seq, 2);
        assert_int_equal(rd_store_history(f->store, got.rowid, RD_HISTORY_MAX, arr, &omitted), 0);
        assert_int_equal(json_array_size(arr), 2);
        assert_int_equal(omitted, 0);
        json_decref(arr);
        /* the offer: counted, and kelly may see it from now on */
        assert_int_equal(rd_store_visible(f->store, &got, &kelly), 1);
        assert_int_equal(rd_store_visible(f->store, &got, &sophie), 0);
        assert_int_equal(rd_store_each_state(f->store,
                                             &(struct rd_store_state_fns){.offer_count = offers_of},
                                             &offers),
                         0);
        assert_int_equal(offers, 1);
        assert_int_equal(rd_store_each_state(f->store,
                                             &(struct rd_store_state_fns){.round_robin = read_rr},
                                             rr),
                         0);
        assert_string_equal(rr, "kelly");
}

int main(void)
{
        const struct CMUnitTest tests[] = {

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(database_file_is_0600_and_new_folder_0700_whatever_the_umask),
                T(schema_version_is_set_and_a_newer_one_is_refused),
                T(insert_then_find_by_ref_and_by_id),
                T(same_partner_and_ref_twice_is_eexist),
                T(seq_is_gap_free_across_rolled_back_requests_and_reopen),
                T(events_since_and_limit),
                T(a_history_longer_than_its_limit_gives_the_newest_and_counts_the_rest),
                T(decision_columns_round_trip_and_count),
                T(open_referrals_offer_counts_and_round_robin_survive_reopen),
                T(list_orders_by_latest_event_and_filters_status),
                T(content_and_trace_are_kept),
                T(digests_are_stored_narrow_and_read_back_as_given),
                T(waiting_counts_by_candidates_follow_every_change_and_rollback),
                T(waiting_counts_know_the_urgency_and_count_those_before_a_place),
                T(the_count_before_a_place_reads_a_range_of_its_index),
                T(waitlist_is_read_in_order_a_page_at_a_time),
                T(version_1_database_gets_its_waiting_counts_on_upgrade),
                T(an_empty_database_file_is_refused_and_left_as_it_is),
                T(a_new_database_is_made_aside_and_renamed_into_place),
                T(version_3_database_keeps_the_connector_and_team_of_its_last_offers_on_upgrade),
                T(every_list_filter_reads_its_index),
                T(writing_a_referral_builds_no_temporary_table),
                T(every_statement_of_serving_and_stats_reads_an_index),
                T(a_purge_of_the_audit_trail_removes_the_entries_before_the_retention),
                T(every_event_reads_back_as_the_text_it_was_published_with),
                T(ids_are_made_and_read_in_one_place),
                T(the_sqlite_driver_says_what_it_can_do),
                T(sqlite_counts_no_memory_where_stores_are_opened),
                T(a_new_referral_is_stored_with_its_events_offer_and_round_robin_at_once),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
