/* test_faults.c: the store's promises under I/O faults (protocol.md
 * "Durability", daemon.md "Faults of the store"), tested the way SQLite
 * tests itself: a VFS under the store (fault_vfs.h) fails the Nth read,
 * write, sync or truncate, for every N up to the number of such calls a
 * round makes, and after each N the test checks what a client could see.
 *
 * A round is what the daemon's loop does: a mixed batch of requests (large
 * and small submits, a duplicate, a conflict, updates, an erase, a read, a
 * malformed frame) answered through the table of operations and the real
 * group commit (daemon/txn.c, compiled in with the operations), then the
 * deadlines that fell due meanwhile (offers that lapse, windows at risk) in
 * a transaction of their own. Every case starts from the same database (a
 * template copied), with a page cache so small that the batch spills pages
 * into the write-ahead log long before its commit, as a large batch does.
 *
 * After each fault: every reply agrees with the store (an `ok` is there,
 * an `internal` or `unavailable` left nothing); the events on disk are
 * exactly those published, and seq has no gap; the hub's memory equals a
 * hub read afresh from the store; and, once the fault is lifted, the next
 * round succeeds whole. A failed sync may have left a commit in the log
 * that a recovery finds: its requests must say "outcome": "unknown", and a
 * copy of the files opened afresh (what a restart after kill -9 sees) must
 * hold every other request exactly as answered, and those all or none.
 *
 * CI runs every N with a small batch (3 large referrals among the rest);
 * RD_FAULTS_FULL=1 runs every N with a large one (150 large referrals:
 * some 1,400 writes and 1,000 reads a round, each failed in turn; about 3
 * minutes). */
#include "faults_fixture.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault_vfs.h"
#include "log.h"

/* ---- round 1's batch, each request with what it changes ------------------------------------- */

static struct req *add(struct fx *f, enum probe probe, const char *fmt, ...)
{
        struct req *r = &f->reqs[f->n_reqs++];
        char buf[8192];
        va_list ap;

        assert_true(f->n_reqs <= MAX_REQS);
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        memset(r, 0, sizeof *r);
        r->text = strdup(buf);
        r->probe = probe;
        return r;
}

static void add_submit(struct fx *f, const char *ref, bool big, bool forward)
{
        struct req *r = add(f, P_NEW, "{\"op\": \"submit\", \"corr\": \"%s\", \"referral\": %s}",
                            ref, referral_json(ref, big, forward, NULL));
        snprintf(r->ref, sizeof r->ref, "%s", ref);
}

static void add_update(struct fx *f, const char *id, const char *status, const char *connector)
{
        struct req *r = add(f, P_STATUS,
                            "{\"op\": \"update\", \"id\": \"%s\", \"status\": \"%s\", "
                            "\"connector\": \"%s\"}",
                            id, status, connector);
        snprintf(r->id, sizeof r->id, "%s", id);
        snprintf(r->connector, sizeof r->connector, "%s", connector);
        if (strcmp(status, "declined") == 0)
                r->probe = P_DECLINED;
        else
                assert_int_equal(rd_status_parse(status, &r->status), 0);
}

/* Round 1's batch: BIG large submits among everything else a batch holds. */
static void make_batch(struct fx *f)
{
        char ref[32];
        struct req *r;

        f->n_reqs = 0;
        add_submit(f, "NEW-0", true, false);
        add_update(f, f->base[1], "closed", f->base_conn[1]); /* frees a place: served */
        add_submit(f, "NEW-FWD", false, true);
        add_update(f, f->base[2], "declined", f->base_conn[2]);
        add(f, P_NONE, "{\"op\": \"submit\", \"referral\": %s}", /* a duplicate */
            base_json(0, NULL));
        add(f, P_NONE, "{\"op\": \"submit\", \"referral\": %s}", /* a conflict */
            base_json(0, "other content"));
        r = add(f, P_ERASED, "{\"op\": \"erase\", \"id\": \"%s\"}", f->base[3]);
        snprintf(r->id, sizeof r->id, "%s", f->base[3]);
        r = add(f, P_AUDITED, "{\"op\": \"get\", \"id\": \"%s\"}", f->base[0]);
        snprintf(r->id, sizeof r->id, "%s", f->base[0]);
        add(f, P_NONE, "{\"op\": \"ping\"}");
        add(f, P_NONE, "{\"op\": \"submit\", "); /* malformed */
        add_update(f, f->base[4], "accepted", f->base_conn[4]);
        for (size_t i = 1; i < f->big; i++) {
                snprintf(ref, sizeof ref, "NEW-%zu", i);
                add_submit(f, ref, true, false);
        }
        add_submit(f, "NEW-SMALL", false, false);
}

static void free_batch(struct fx *f)
{
        for (size_t i = 0; i < f->n_reqs; i++) {
                free(f->reqs[i].text);
                json_decref(f->replies[i]);
                f->replies[i] = NULL;
        }
        f->n_reqs = 0;
}

/* ---- what the store holds -------------------------------------------------------------------- */

static int has_connector(void *ctx, const char *connector)
{
        return strcmp(ctx, connector) == 0;
}

/* Whether what R would change is in STORE. */
static bool present(struct rd_store *store, const struct req *r)
{
        struct rd_stored st;
        json_t *arr;
        int64_t last;
        bool found = false;

        switch (r->probe) {
        case P_NEW:
                found = rd_store_find(store, "ocmw-genk", r->ref, &st) == 0;
                if (!found)
                        assert_int_equal(rd_store_find(store, "ocmw-genk", r->ref, &st), -ENOENT);
                return found;
        case P_STATUS:
                assert_int_equal(rd_store_get(store, r->id, &st), 0);
                return st.status == r->status;
        case P_DECLINED:
                assert_int_equal(rd_store_get(store, r->id, &st), 0);
                return rd_store_each_decline(store, st.rowid, has_connector,
                                             (void *)r->connector) == 1;
        case P_ERASED:
                assert_int_equal(rd_store_get(store, r->id, &st), 0);
                return st.erased_ms != 0;
        case P_AUDITED:
                arr = json_array();
                assert_int_equal(rd_store_audit_list(store, 0, 1000, r->id, arr, &last), 0);
                for (size_t i = 0; i < json_array_size(arr); i++)
                        found |= strcmp(json_string_value(
                                                json_object_get(json_array_get(arr, i), "action")),
                                        "get") == 0;
                json_decref(arr);
                return found;
        case P_NONE: break;
        }
        return false;
}

static bool outcome_unknown(const json_t *reply)
{
        const json_t *err = json_object_get(reply, "error");
        return json_is_string(json_object_get(err, "outcome")) &&
               strcmp(json_string_value(json_object_get(err, "outcome")), "unknown") == 0;
}

/* Every reply of round 1 agrees with STORE: an `ok` is there, a failure
 * left nothing; those whose outcome is unknown are all there or none. */
static void replies_agree(struct fx *f, struct rd_store *store, const char *which)
{
        int unknown_there = -1;

        for (size_t i = 0; i < f->n_reqs; i++) {
                const struct req *r = &f->reqs[i];
                const json_t *rep = f->replies[i];
                bool ok = json_is_true(json_object_get(rep, "ok")), there;

                assert_non_null(rep);
                if (r->probe == P_NONE)
                        continue;
                there = present(store, r);
                if (outcome_unknown(rep)) {
                        /* daemon.md: such a commit "is unavailable" */
                        assert_string_equal(json_string_value(json_object_get(
                                                    json_object_get(rep, "error"), "code")),
                                            "unavailable");
                        if (unknown_there < 0)
                                unknown_there = there;
                        else if (unknown_there != there)
                                fail_msg("%s: request %zu (outcome unknown) is %s, an earlier "
                                         "one of its transaction is not",
                                         which, i, there ? "there" : "not there");
                        continue;
                }
                if (ok != there)
                        fail_msg("%s: request %zu was answered %s but is %sin the store: %s", which,
                                 i, ok ? "ok" : json_dumps(rep, JSON_COMPACT), there ? "" : "not ",
                                 r->text);
        }
}

/* Seq runs 1..last without a gap in STORE; the seqs in order into *SEQS
 * (caller frees) and how many into *N. */
static void read_seqs(struct rd_store *store, int64_t **seqs, size_t *n)
{
        json_t *arr = json_array();

        assert_int_equal(rd_store_events(store, 0, 1000000, NULL, arr), 0);
        *n = json_array_size(arr);
        *seqs = calloc(*n + 1, sizeof **seqs);
        for (size_t i = 0; i < *n; i++) {
                (*seqs)[i] = json_integer_value(json_object_get(json_array_get(arr, i), "seq"));
                if ((*seqs)[i] != (int64_t)i + 1)
                        fail_msg("seq has a gap: event %zu has seq %lld", i, (long long)(*seqs)[i]);
        }
        json_decref(arr);
}

/* The events in STORE after the template's are exactly those published;
 * with EXTRA, also events after those (a commit whose outcome is unknown,
 * found by a recovery). Returns whether there were such events. */
static bool events_match(struct fx *f, struct rd_store *store, bool extra)
{
        int64_t *seqs;
        size_t n, base = (size_t)f->base_seq;

        read_seqs(store, &seqs, &n);
        if (!extra || n < base + f->n_published)
                assert_int_equal(n, base + f->n_published);
        for (size_t i = 0; i < f->n_published; i++)
                assert_int_equal(seqs[base + i], f->published[i]);
        free(seqs);
        return n > base + f->n_published;
}

/* The hub's memory equals that of a hub read afresh from the store. */
static void hub_matches_store(struct fx *f)
{
        struct rd_route_state a, b;
        struct rd_hub *fresh;
        uint64_t wa = 0, wb = 0;

        assert_int_equal(rd_hub_route_state(f->hub, &a), 0);
        assert_int_equal(rd_hub_new(f->store, fx_rules(), &fresh), 0);
        assert_int_equal(rd_hub_route_state(fresh, &b), 0);
        for (size_t c = 0; c < rd_hub_rules(f->hub)->n_connectors; c++) {
                assert_int_equal(a.load[c], b.load[c]);
                assert_int_equal(a.offers[c], b.offers[c]);
        }
        for (size_t i = 0; i < a.n_waiting_sets; i++)
                wa += a.waiting_set_counts[i];
        for (size_t i = 0; i < b.n_waiting_sets; i++)
                wb += b.waiting_set_counts[i];
        assert_int_equal(wa, wb);
        assert_int_equal(rd_store_last_seq(f->store), f->base_seq + (int64_t)f->n_published);
        rd_hub_free(fresh);
}

/* What a start after kill -9 finds now: the events published with, at
 * most (UNKNOWN), an unknown commit's after them; with REPLIES, every
 * request of round 1 answered without "outcome": "unknown" as answered,
 * those with it all or none. Returns whether it found an unknown commit. */
static bool after_kill_agrees(struct fx *f, bool unknown, bool replies)
{
        bool found;
        struct rd_store *s;
        char errbuf[256];

        copy_files(f->path, f->copy);
        if (rd_store_open(f->copy, false, &s, errbuf, sizeof errbuf) < 0)
                fail_msg("the files after the fault cannot be opened: %s", errbuf);
        if (replies)
                replies_agree(f, s, "after kill -9");
        found = events_match(f, s, unknown);
        rd_store_close(s);
        return found;
}

/* ---- one case ---------------------------------------------------------------------------------
 */

/* Count what the replies of round 1 say; whether any says "outcome":
 * "unknown". */
static bool any_unknown(struct fx *f)
{
        bool unknown = false, cut = false;

        for (size_t i = 0; i < f->n_reqs; i++) {
                const char *msg = json_string_value(
                        json_object_get(json_object_get(f->replies[i], "error"), "message"));
                unknown |= outcome_unknown(f->replies[i]);
                cut |= msg && strstr(msg, "ended this batch before this request");
        }
        f->unknown += unknown;
        f->cut_short += cut;
        return unknown;
}

/* Round 2, the fault lifted: a batch and the deadlines after it succeed
 * whole. */
static void round_two(struct fx *f)
{
        struct req r[3] = {{0}};
        struct rd_stored st;
        json_t *rep[3];

        r[0].text = strdup("{\"op\": \"submit\", \"corr\": \"after\", \"referral\": "
                           "{\"ref\": \"AFTER-0\", \"partner\": \"ocmw-genk\", \"kind\": "
                           "\"family_support\", \"postcode\": \"3600\", \"children\": [{\"age\": "
                           "4}], \"consent\": true}}");
        r[1].text = strdup("{\"op\": \"submit\", \"referral\": {\"ref\": \"AFTER-1\", \"partner\": "
                           "\"ocmw-genk\", \"kind\": \"family_support\", \"postcode\": \"2000\", "
                           "\"children\": [{\"age\": 4}], \"consent\": true}}");
        r[2].text = strdup("{\"op\": \"ping\"}");
        assert_int_equal(batch(f, r, rep, 3, T0 + 24 * DAY + HOUR), RD_TXN_COMMITTED);
        for (int i = 0; i < 3; i++) {
                if (!json_is_true(json_object_get(rep[i], "ok")))
                        fail_msg("after the fault, request %d failed: %s", i,
                                 json_dumps(rep[i], JSON_COMPACT));
                json_decref(rep[i]);
                free(r[i].text);
        }
        assert_int_equal(rd_store_find(f->store, "ocmw-genk", "AFTER-0", &st), 0);
        assert_int_equal(tick(f, T0 + 31 * DAY), RD_TXN_COMMITTED);
}

/* Run round 1 with the Nth call of KINDS failing as MODE (STICKY: every
 * later one too, until lifted), then check everything. Returns whether the
 * fault fired. */
static bool run_case(struct fx *f, unsigned kinds, long n, enum fault_mode mode, bool sticky)
{
        enum rd_txn_end end, tick_end;
        bool fired, unknown, found = false;

        copy_files(f->template, f->path);
        open_at(f, f->path, FAULT_VFS_NAME);
        f->n_published = 0;
        make_batch(f);
        fault_vfs_arm(kinds, n, mode, sticky);
        end = batch(f, f->reqs, f->replies, f->n_reqs, T0 + HOUR);
        fault_vfs_hold(true); /* the test's reads count for nothing */
        replies_agree(f, f->store, "live");
        unknown = any_unknown(f);
        if (fault_vfs_fired())
                found = after_kill_agrees(f, unknown, true);
        fault_vfs_hold(false);
        /* the deadlines change what the batch did (an offer that lapses
         * counts as declined): from here on the events tell */
        tick_end = tick(f, T0 + 24 * DAY);
        if (fault_vfs_fired())
                found |= after_kill_agrees(f, unknown || tick_end == RD_TXN_UNKNOWN, false);
        f->unknown_deadlines += tick_end == RD_TXN_UNKNOWN;
        /* once per case, however many times a restart was tried in it */
        f->found_after_kill += found;
        fired = fault_vfs_fired() != 0;
        fault_vfs_disarm();
        fault_vfs_hold(false);
        if (!fired) {
                assert_int_equal(end, RD_TXN_COMMITTED);
                assert_int_equal(tick_end, RD_TXN_COMMITTED);
        }
        events_match(f, f->store, false);
        hub_matches_store(f);
        round_two(f);
        events_match(f, f->store, false);
        hub_matches_store(f);
        free_batch(f);
        close_store(f);
        return fired;
}

/* Every N from 1 until a round of KINDS no longer reaches the Nth call. */
static void sweep(struct fx *f, unsigned kinds, enum fault_mode mode, bool sticky)
{
        long n;

        for (n = 1; run_case(f, kinds, n, mode, sticky); n++)
                ;
        /* the sweep covered calls, not nothing */
        assert_true(n > 1);
        print_message("%ld calls swept; batches cut short by a lost transaction: %ld; cases with a "
                      "commit of unknown outcome: %ld (a batch's, answered \"outcome\": "
                      "\"unknown\") + %ld (the deadlines'), of which a restart found: %ld\n",
                      n - 1, f->cut_short, f->unknown, f->unknown_deadlines, f->found_after_kill);
        /* a restart finds only a commit whose outcome was unknown */
        assert_true(f->found_after_kill <= f->unknown + f->unknown_deadlines);
}

/* ---- the tests --------------------------------------------------------------------------------
 */

static void a_disk_full_at_any_write_of_a_round_leaves_replies_and_store_in_agreement(void **state)
{
        struct fx *f = *state;

        sweep(f, FAULT_WRITE, FAULT_FULL, false); /* and room again at once */
        /* SQLite ended the transaction in the middle of some batches */
        assert_true(f->cut_short > 0);
        assert_int_equal(f->unknown, 0);
}

static void
a_disk_that_stays_full_from_any_write_on_leaves_replies_and_store_in_agreement(void **state)
{
        sweep(*state, FAULT_WRITE, FAULT_FULL, true); /* until the fault is lifted */
}

static void a_failed_write_anywhere_in_a_round_leaves_replies_and_store_in_agreement(void **state)
{
        sweep(*state, FAULT_WRITE, FAULT_IOERR, false);
}

static void a_failed_sync_is_answered_outcome_unknown_and_a_restart_agrees(void **state)
{
        struct fx *f = *state;

        sweep(f, FAULT_SYNC, FAULT_IOERR, false);
        /* a commit record synced in vain is real: a restart finds it, of
         * a batch and of the deadlines alike */
        assert_true(f->unknown > 0);
        assert_true(f->unknown_deadlines > 0);
        assert_true(f->found_after_kill > 0);
}

static void
a_failed_truncate_anywhere_in_a_round_leaves_replies_and_store_in_agreement(void **state)
{
        sweep(*state, FAULT_TRUNCATE, FAULT_IOERR, false);
}

static void a_failed_read_anywhere_in_a_round_leaves_replies_and_store_in_agreement(void **state)
{
        sweep(*state, FAULT_READ, FAULT_IOERR, false);
}

/* ---- a new database -------------------------------------------------------------------------- */

/* Open a new database at PATH with the Nth call of KIND failing: 0 when
 * no call failed (the sweep is over), else 1; either way there is no file
 * at PATH or a whole database, and nothing is left aside. */
static int create_with_fault(const char *path, unsigned kind, long n)
{
        const struct rd_sqlite_options opt = {.synchronous_full = true, .vfs = FAULT_VFS_NAME};
        struct rd_store *s = NULL;
        char errbuf[256], aside[320];
        int r;
        unsigned fired;

        fault_vfs_arm(kind, n, FAULT_IOERR, false);
        r = rd_store_open_sqlite(path, &opt, &s, errbuf, sizeof errbuf);
        fired = fault_vfs_fired();
        fault_vfs_disarm();
        rd_store_close(s);
        snprintf(aside, sizeof aside, "%s.new", path);
        assert_int_equal(access(aside, F_OK), -1);
        /* at PATH nothing (the next start makes it anew), or a whole
         * database: the tools' reader, which takes no other schema, reads it */
        if (r == 0 || access(path, F_OK) == 0) {
                assert_int_equal(rd_store_open_copy(path, &s, errbuf, sizeof errbuf), 0);
                assert_int_equal(rd_store_last_seq(s), 0);
                rd_store_close(s);
        }
        copy_file("/nonexistent", path); /* removes it */
        snprintf(aside, sizeof aside, "%s-wal", path);
        unlink(aside);
        snprintf(aside, sizeof aside, "%s-shm", path);
        unlink(aside);
        return fired != 0;
}

static void an_interrupted_creation_leaves_no_database_file_behind(void **state)
{
        static const unsigned kinds[] = {FAULT_WRITE, FAULT_SYNC, FAULT_TRUNCATE, FAULT_READ};
        struct fx *f = *state;
        char path[300];
        long swept = 0;

        snprintf(path, sizeof path, "%s/sub/new.db", f->dir);
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
                for (long n = 1; create_with_fault(path, kinds[k], n); n++)
                        swept++;
        assert_true(swept > 0);
        print_message("%ld calls of a creation swept\n", swept);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(a_disk_full_at_any_write_of_a_round_leaves_replies_and_store_in_agreement),
                T(a_disk_that_stays_full_from_any_write_on_leaves_replies_and_store_in_agreement),
                T(a_failed_write_anywhere_in_a_round_leaves_replies_and_store_in_agreement),
                T(a_failed_sync_is_answered_outcome_unknown_and_a_restart_agrees),
                T(a_failed_truncate_anywhere_in_a_round_leaves_replies_and_store_in_agreement),
                T(a_failed_read_anywhere_in_a_round_leaves_replies_and_store_in_agreement),
                T(an_interrupted_creation_leaves_no_database_file_behind),
        };
        rd_log_init(RD_LOG_CONSOLE);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
