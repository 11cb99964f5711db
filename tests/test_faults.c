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
 * CI runs every N with a small batch; RD_FAULTS_FULL=1 runs the large one
 * (tens of large referrals). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "fault_vfs.h"
#include "log.h"
#include "txn.h"

#define T0 1800000000000LL /* ms, 2027-01-15 */
#define HOUR 3600000LL
#define DAY 86400000LL

/* Two connectors of capacity 3: six offers fill them, so that the batch
 * meets a waitlist, a freed place and a decline. */
static const char routing[] =
        "version: 1\n"
        "defaults: {window: 30d, accept_within: 2d, at_risk: 7d, trajectory: 120d}\n"
        "teams:\n"
        "  - id: genk\n"
        "    postcodes: [\"3600\"]\n"
        "    connectors:\n"
        "      - {id: kelly, capacity: 3, skills: [family_support], languages: [nl]}\n"
        "      - {id: sophie, capacity: 3, skills: [family_support], languages: [nl]}\n"
        "forward_targets:\n"
        "  - {id: caw-limburg, name: \"CAW Limburg\"}\n"
        "rules:\n"
        "  - name: family\n"
        "    when: {kind: family_support, postcode: [\"3600\"]}\n"
        "    assign: {teams: [genk]}\n"
        "  - name: everything-else\n"
        "    forward: {to: caw-limburg, reason: \"outside the target group\"}\n";

#define N_BASE 6 /* offers in the template: both connectors full */

/* ---- what a request changes, to look for in the store ------------------------------- */

enum probe {
        P_NONE,     /* nothing to look for (a read, a refusal, a duplicate) */
        P_NEW,      /* a referral with REF exists */
        P_STATUS,   /* referral ID has STATUS */
        P_DECLINED, /* CONNECTOR declined referral ID */
        P_ERASED,   /* referral ID is erased */
        P_AUDITED,  /* the audit trail has a "get" of referral ID */
};

struct req {
        char *text; /* the request frame */
        enum probe probe;
        char ref[64];
        char id[RD_RID_MAX];
        enum rd_status status;
        char connector[RD_ID_MAX + 1];
};

#define MAX_REQS 160

struct fx {
        char dir[128];
        char template[200], path[200], copy[200];
        struct rd_store *store;
        struct rd_hub *hub;
        struct rd_ops ops;
        struct rd_txn txn;
        /* the template's referrals: id and connector of each offer, the two waiting */
        char base[N_BASE][RD_RID_MAX], base_conn[N_BASE][RD_ID_MAX + 1];
        char waiting[2][RD_RID_MAX];
        int64_t base_seq;
        /* published: the seqs of the events handed out after a commit, in order */
        int64_t *published;
        size_t n_published, cap_published;
        /* the batch of round 1 and its replies */
        struct req reqs[MAX_REQS];
        json_t *replies[MAX_REQS];
        size_t n_reqs;
        size_t big; /* large submits in round 1 */
        /* what the sweep met: cases whose batch was cut short by a lost
         * transaction, answered "outcome": "unknown", and whose unknown
         * commit a restart found */
        long cut_short, unknown, found_after_kill;
};

static struct rd_rules *rules(void)
{
        struct rd_rules *r = NULL;
        struct rd_diag diag = {0};

        if (rd_rules_load_buffer("routing.yaml", routing, sizeof routing - 1, &r, &diag) < 0)
                fail_msg("routing file refused: %s", rd_diag_first_error(&diag));
        rd_diag_clear(&diag);
        return r;
}

static void open_at(struct fx *f, const char *path, const char *vfs)
{
        const struct rd_sqlite_options opt = {
                .synchronous_full = true, .vfs = vfs, .cache_pages = 20};
        char errbuf[256];

        if (rd_store_open_sqlite(path, &opt, &f->store, errbuf, sizeof errbuf) < 0)
                fail_msg("cannot open %s: %s", path, errbuf);
        assert_int_equal(rd_hub_new(f->store, rules(), &f->hub), 0);
        memset(&f->ops, 0, sizeof f->ops);
        f->ops.hub = f->hub;
        f->ops.store = f->store;
        f->ops.started_ms = T0;
        rd_txn_init(&f->txn, f->store, f->hub, &f->ops);
}

static void close_store(struct fx *f)
{
        rd_hub_free(f->hub);
        rd_store_close(f->store);
        f->hub = NULL;
        f->store = NULL;
}

/* Copy the file SRC to DST (replaced); a missing SRC removes DST. */
static void copy_file(const char *src, const char *dst)
{
        char buf[65536];
        FILE *in = fopen(src, "rb"), *out;
        size_t n;

        unlink(dst);
        if (!in) {
                assert_int_equal(errno, ENOENT);
                return;
        }
        out = fopen(dst, "wb");
        assert_non_null(out);
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
                assert_int_equal(fwrite(buf, 1, n, out), n);
        assert_false(ferror(in));
        fclose(in);
        assert_int_equal(fclose(out), 0);
}

/* Copy the database PATH with its write-ahead log (when there is one) to
 * DST, as the files are now: what a start after kill -9 would find. */
static void copy_files(const char *path, const char *dst)
{
        char src[300], to[300];

        copy_file(path, dst);
        snprintf(src, sizeof src, "%s-wal", path);
        snprintf(to, sizeof to, "%s-wal", dst);
        copy_file(src, to);
        snprintf(to, sizeof to, "%s-shm", dst);
        unlink(to);
}

/* ---- the loop's steps, as batch.c and deadlines.c take them -------------------------- */

/* Hand out what the hub holds after a commit (batch.c: rd_server_publish). */
static void publish(struct fx *f)
{
        size_t n;
        const struct rd_event *evs = rd_hub_events(f->hub, &n);

        for (size_t i = 0; i < n; i++) {
                if (f->n_published == f->cap_published) {
                        f->cap_published = f->cap_published ? 2 * f->cap_published : 256;
                        f->published =
                                realloc(f->published, f->cap_published * sizeof *f->published);
                        assert_non_null(f->published);
                }
                f->published[f->n_published++] = evs[i].seq;
        }
        rd_hub_events_clear(f->hub);
}

/* Answer the N requests REQS in one batch at NOW; replies into REPLIES. */
static enum rd_txn_end batch(struct fx *f, struct req *reqs, json_t **replies, size_t n,
                             int64_t now)
{
        enum rd_txn_end end;

        rd_txn_batch_start(&f->txn);
        for (size_t i = 0; i < n; i++) {
                const char *t = reqs[i].text;
                replies[i] = rd_txn_answer(&f->txn, t, strlen(t), NULL, now);
        }
        end = rd_txn_batch_end(&f->txn, replies, n);
        if (end == RD_TXN_COMMITTED)
                publish(f);
        return end;
}

/* One request in a batch of its own that must commit; its reply (caller
 * frees). */
static json_t *call(struct fx *f, int64_t now, const char *fmt, ...)
{
        struct req r = {0};
        json_t *reply;
        char buf[8192];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        r.text = buf;
        assert_int_equal(batch(f, &r, &reply, 1, now), RD_TXN_COMMITTED);
        return reply;
}

static enum rd_txn_end tick(struct fx *f, int64_t now)
{
        size_t done;
        enum rd_txn_end end = rd_txn_tick(&f->txn, now, 256, &done);

        if (end == RD_TXN_COMMITTED)
                publish(f);
        return end;
}

/* ---- requests ------------------------------------------------------------------------------ */

/* A referral's JSON: family support in 3600 (FORWARD: in 2000, which no
 * team serves), with BIG: a note and family data at their limits. */
static char *referral_json(const char *ref, bool big, bool forward, const char *note)
{
        static char text[4096];
        char fill[2001];

        memset(fill, 'x', sizeof fill - 1);
        fill[sizeof fill - 1] = '\0';
        if (!note)
                note = big ? fill : "kort";
        snprintf(text, sizeof text,
                 "{\"ref\": \"%s\", \"partner\": \"ocmw-genk\", \"kind\": \"family_support\", "
                 "\"postcode\": \"%s\", \"children\": [{\"age\": 9}], \"language\": \"nl\", "
                 "\"consent\": true, \"family\": {\"name\": \"%.*s\", \"address\": \"%.*s\"}, "
                 "\"note\": \"%s\"}",
                 ref, forward ? "2000" : "3600", big ? 256 : 6, fill, big ? 256 : 6, fill, note);
        return text;
}

/* Base referral I of the template, its note unique to it (to look for in
 * the files); with NOTE another note (a conflict). */
static char *base_json(int i, const char *note)
{
        char ref[32], mine[48];

        snprintf(ref, sizeof ref, "BASE-%d", i);
        snprintf(mine, sizeof mine, "private-note-of-base-%d", i);
        return referral_json(ref, false, false, note ? note : mine);
}

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

/* ---- the template ------------------------------------------------------------------------- */

static void reply_id(json_t *reply, char *id, char *connector)
{
        assert_true(json_is_true(json_object_get(reply, "ok")));
        snprintf(id, RD_RID_MAX, "%s", json_string_value(json_object_get(reply, "id")));
        if (connector)
                snprintf(connector, RD_ID_MAX + 1, "%s",
                         json_string_value(json_object_get(reply, "connector")));
        json_decref(reply);
}

/* Six offers (both connectors full), two waiting, BASE[0] accepted and
 * BASE[1] started; committed at T0, then closed (no write-ahead log). */
static void make_template(struct fx *f)
{
        char ref[32];
        json_t *rep;

        open_at(f, f->template, NULL);
        for (int i = 0; i < N_BASE; i++) {
                rep = call(f, T0 + i, "{\"op\": \"submit\", \"referral\": %s}", base_json(i, NULL));
                reply_id(rep, f->base[i], f->base_conn[i]);
        }
        for (int i = 0; i < 2; i++) {
                snprintf(ref, sizeof ref, "WAIT-%d", i);
                rep = call(f, T0 + 10 + i, "{\"op\": \"submit\", \"referral\": %s}",
                           referral_json(ref, false, false, NULL));
                assert_string_equal(json_string_value(json_object_get(rep, "status")),
                                    "waitlisted");
                reply_id(rep, f->waiting[i], NULL);
        }
        json_decref(call(f, T0 + 20,
                         "{\"op\": \"update\", \"id\": \"%s\", \"status\": \"accepted\", "
                         "\"connector\": \"%s\"}",
                         f->base[0], f->base_conn[0]));
        json_decref(call(f, T0 + 21,
                         "{\"op\": \"update\", \"id\": \"%s\", \"status\": \"started\", "
                         "\"connector\": \"%s\"}",
                         f->base[1], f->base_conn[1]));
        f->base_seq = rd_store_last_seq(f->store);
        close_store(f);
}

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof *f);
        const char *full = getenv("RD_FAULTS_FULL");

        assert_non_null(f);
        assert_int_equal(fault_vfs_register(), SQLITE_OK);
        /* on tmpfs when there is one: thousands of syncs */
        snprintf(f->dir, sizeof f->dir, "%s/rd-test-faults-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->template, sizeof f->template, "%s/template.db", f->dir);
        snprintf(f->path, sizeof f->path, "%s/referrald.db", f->dir);
        snprintf(f->copy, sizeof f->copy, "%s/after-kill.db", f->dir);
        f->big = full && *full && strcmp(full, "0") != 0 ? 60 : 3;
        make_template(f);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        char cmd[300];

        fault_vfs_disarm();
        close_store(f);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f->published);
        free(f);
        return 0;
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
 * found by a recovery). */
static void events_match(struct fx *f, struct rd_store *store, bool extra)
{
        int64_t *seqs;
        size_t n, base = (size_t)f->base_seq;

        read_seqs(store, &seqs, &n);
        if (!extra || n < base + f->n_published)
                assert_int_equal(n, base + f->n_published);
        else if (n > base + f->n_published)
                f->found_after_kill++;
        for (size_t i = 0; i < f->n_published; i++)
                assert_int_equal(seqs[base + i], f->published[i]);
        free(seqs);
}

/* The hub's memory equals that of a hub read afresh from the store. */
static void hub_matches_store(struct fx *f)
{
        struct rd_route_state a, b;
        struct rd_hub *fresh;
        uint64_t wa = 0, wb = 0;

        assert_int_equal(rd_hub_route_state(f->hub, &a), 0);
        assert_int_equal(rd_hub_new(f->store, rules(), &fresh), 0);
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
 * those with it all or none. */
static void after_kill_agrees(struct fx *f, bool unknown, bool replies)
{
        struct rd_store *s;
        char errbuf[256];

        copy_files(f->path, f->copy);
        if (rd_store_open(f->copy, false, &s, errbuf, sizeof errbuf) < 0)
                fail_msg("the files after the fault cannot be opened: %s", errbuf);
        if (replies)
                replies_agree(f, s, "after kill -9");
        events_match(f, s, unknown);
        rd_store_close(s);
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
        bool fired, unknown;

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
                after_kill_agrees(f, unknown, true);
        fault_vfs_hold(false);
        /* the deadlines change what the batch did (an offer that lapses
         * counts as declined): from here on the events tell */
        tick_end = tick(f, T0 + 24 * DAY);
        if (fault_vfs_fired())
                after_kill_agrees(f, unknown || tick_end == RD_TXN_UNKNOWN, false);
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
        print_message("%ld calls swept; batches cut short by a lost transaction: %ld; answered "
                      "outcome unknown: %ld, of which a restart found: %ld\n",
                      n - 1, f->cut_short, f->unknown, f->found_after_kill);
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
        /* a commit record synced in vain is real: a restart finds it */
        assert_true(f->unknown > 0);
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

/* ---- another process on the database ------------------------------------------------------ */

/* Whether NEEDLE is in the database file PATH or in its write-ahead log. */
static bool in_files(const char *path, const char *needle)
{
        static const char *const suffix[] = {"", "-wal"};
        bool found = false;

        for (size_t i = 0; i < 2 && !found; i++) {
                char name[300], *buf;
                FILE *fp;
                long size;

                snprintf(name, sizeof name, "%s%s", path, suffix[i]);
                fp = fopen(name, "rb");
                if (!fp)
                        continue;
                fseek(fp, 0, SEEK_END);
                size = ftell(fp);
                rewind(fp);
                buf = malloc((size_t)size + 1);
                assert_non_null(buf);
                assert_int_equal(fread(buf, 1, (size_t)size, fp), (size_t)size);
                fclose(fp);
                found = memmem(buf, (size_t)size, needle, strlen(needle)) != NULL;
                free(buf);
        }
        return found;
}

/* Another process's connection to PATH, holding a read transaction (a
 * backup, `sqlite3`, a report): BEGIN, then a read. */
static sqlite3 *other_reader(const char *path)
{
        sqlite3 *db;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(
                sqlite3_exec(db, "BEGIN; SELECT count(*) FROM referrals", NULL, NULL, NULL),
                SQLITE_OK);
        return db;
}

static void end_other(sqlite3 *db)
{
        assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* What the daemon logs meanwhile: stderr into a file, and back. */
struct captured {
        char path[300];
        int saved;
};

static void capture_log(struct fx *f, struct captured *c)
{
        int fd;

        snprintf(c->path, sizeof c->path, "%s/log", f->dir);
        fflush(stderr);
        c->saved = dup(2);
        fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        dup2(fd, 2);
        close(fd);
}

/* Stop capturing; whether the log holds TEXT. */
static bool log_has(struct captured *c, const char *text)
{
        fflush(stderr);
        dup2(c->saved, 2);
        close(c->saved);
        return in_files(c->path, text);
}

static bool wiped(const json_t *reply)
{
        assert_true(json_is_true(json_object_get(reply, "ok")));
        assert_true(json_is_boolean(json_object_get(reply, "wiped")));
        return json_is_true(json_object_get(reply, "wiped"));
}

static json_t *erase(struct fx *f, int64_t now, const char *id)
{
        int64_t t = rd_mono_ms();
        json_t *rep = call(f, now, "{\"op\": \"erase\", \"id\": \"%s\"}", id);

        /* the reply never waits on the database lock */
        assert_true(rd_mono_ms() - t < 1000);
        return rep;
}

static void
an_erase_while_another_process_reads_is_answered_at_once_and_wiped_when_it_ends(void **state)
{
        struct fx *f = *state;
        const char *note = "private-note-of-base-0";
        struct captured log;
        sqlite3 *other;
        json_t *rep;

        copy_files(f->template, f->path);
        open_at(f, f->path, NULL);
        assert_int_equal(rd_txn_wipe(&f->txn, rd_mono_ms()), -1); /* at start: nothing kept */
        rep = erase(f, T0 + HOUR, f->base[5]);
        assert_true(wiped(rep)); /* nobody else reads: gone at once */
        json_decref(rep);

        other = other_reader(f->path);
        capture_log(f, &log);
        rep = erase(f, T0 + HOUR, f->base[0]);
        assert_false(wiped(rep));
        json_decref(rep);
        assert_true(in_files(f->path, note));
        /* every other request is served as usual */
        rep = call(f, T0 + HOUR, "{\"op\": \"submit\", \"referral\": %s}",
                   referral_json("DURING", false, false, NULL));
        assert_true(json_is_true(json_object_get(rep, "ok")));
        json_decref(rep);
        /* erasing again answers the current state; an erase wiped before
         * says so */
        rep = erase(f, T0 + HOUR, f->base[0]);
        assert_false(wiped(rep));
        json_decref(rep);
        rep = erase(f, T0 + HOUR, f->base[5]);
        assert_true(wiped(rep));
        json_decref(rep);
        /* the loop tries again, never waiting, while the reader reads */
        assert_int_equal(rd_txn_wipe(&f->txn, rd_mono_ms() + 1000), 200);
        assert_true(in_files(f->path, note));
        end_other(other);
        assert_int_equal(rd_txn_wipe(&f->txn, rd_mono_ms() + 2000), -1);
        assert_true(log_has(&log, "another process holds a read transaction on the database"));
        assert_false(in_files(f->path, note));
        rep = erase(f, T0 + HOUR, f->base[0]);
        assert_true(wiped(rep));
        json_decref(rep);
}

static void retention_while_another_process_reads_wipes_when_it_ends(void **state)
{
        struct fx *f = *state;
        const char *note = "private-note-of-base-1";
        struct captured log;
        sqlite3 *other;

        copy_files(f->template, f->path);
        open_at(f, f->path, NULL);
        rd_hub_set_retention(f->hub, 24 * 3600);
        json_decref(call(f, T0 + HOUR,
                         "{\"op\": \"update\", \"id\": \"%s\", \"status\": \"closed\", "
                         "\"connector\": \"%s\"}",
                         f->base[1], f->base_conn[1]));
        assert_int_equal(rd_txn_wipe(&f->txn, rd_mono_ms()), -1);
        other = other_reader(f->path);
        capture_log(f, &log);
        assert_int_equal(tick(f, T0 + HOUR + 2 * DAY), RD_TXN_COMMITTED);
        assert_true(in_files(f->path, note));
        assert_int_equal(rd_txn_wipe(&f->txn, rd_mono_ms() + 1000), 200);
        end_other(other);
        assert_int_equal(rd_txn_wipe(&f->txn, rd_mono_ms() + 2000), -1);
        assert_true(log_has(&log, "another process holds a read transaction on the database"));
        assert_false(in_files(f->path, note));
}

static void a_writer_elsewhere_makes_a_batch_unavailable_at_once_and_then_it_serves(void **state)
{
        struct fx *f = *state;
        struct req r = {.text = "{\"op\": \"ping\"}"};
        json_t *rep;
        sqlite3 *other;
        int64_t t;

        copy_files(f->template, f->path);
        open_at(f, f->path, NULL);
        assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
        assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        t = rd_mono_ms();
        assert_int_equal(batch(f, &r, &rep, 1, T0 + HOUR), RD_TXN_FAILED);
        assert_true(rd_mono_ms() - t < 1000);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(rep, "error"), "code")),
                "unavailable");
        json_decref(rep);
        assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(other);
        json_decref(call(f, T0 + HOUR, "{\"op\": \"ping\"}"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(a_disk_full_at_any_write_of_a_round_leaves_replies_and_store_in_agreement),
                T(a_disk_that_stays_full_from_any_write_on_leaves_replies_and_store_in_agreement),
                T(a_failed_write_anywhere_in_a_round_leaves_replies_and_store_in_agreement),
                T(a_failed_sync_is_answered_outcome_unknown_and_a_restart_agrees),
                T(a_failed_truncate_anywhere_in_a_round_leaves_replies_and_store_in_agreement),
                T(a_failed_read_anywhere_in_a_round_leaves_replies_and_store_in_agreement),
                T(an_erase_while_another_process_reads_is_answered_at_once_and_wiped_when_it_ends),
                T(retention_while_another_process_reads_wipes_when_it_ends),
                T(a_writer_elsewhere_makes_a_batch_unavailable_at_once_and_then_it_serves),
#undef T
        };
        rd_log_init(1);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
