/* faults_fixture.h: what test_faults.c and test_readers.c share: a
 * database made once per test (the template: six offers that fill both
 * connectors, two waiting), copied for each case and opened with the
 * daemon's own layers over it: the store (through the fault VFS when a
 * test asks), the hub, the table of operations and the real group commit
 * (daemon/txn.c). Time is a parameter; nothing waits. */
#ifndef RD_TEST_FAULTS_FIXTURE_H
#define RD_TEST_FAULTS_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>

#include "txn.h"

#define T0 1800000000000LL /* ms, 2027-01-15 */
#define HOUR 3600000LL
#define DAY 86400000LL

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

#define MAX_REQS 200

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
         * transaction, answered "outcome": "unknown", whose deadlines
         * transaction ended of unknown outcome (nobody is answered for
         * it), and whose unknown commit (of either) a restart found */
        long cut_short, unknown, unknown_deadlines, found_after_kill;
};

/* The routing file of every test (two connectors of capacity 3), loaded. */
struct rd_rules *fx_rules(void);

/* Open PATH (through the VFS named VFS, NULL: the default) with a tiny
 * page cache, and the hub, operations and transactions over it into F. */
void open_at(struct fx *f, const char *path, const char *vfs);
void close_store(struct fx *f);

/* Copy the file SRC to DST (replaced); a missing SRC removes DST. */
void copy_file(const char *src, const char *dst);

/* Copy the database PATH with its write-ahead log (when there is one) to
 * DST, as the files are now: what a start after kill -9 would find. */
void copy_files(const char *path, const char *dst);

/* Answer the N requests REQS in one batch at NOW (batch.c's steps: each
 * `ok` taken back with rd_txn_retracted unless the batch committed, erases
 * "wiped" once rd_txn_wiped); the replies into REPLIES; the events of a
 * commit are published (F's list). */
enum rd_txn_end batch(struct fx *f, struct req *reqs, json_t **replies, size_t n, int64_t now);

/* One request (FMT, printf-style) in a batch of its own that must commit;
 * its reply (caller frees). */
json_t *call(struct fx *f, int64_t now, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The deadlines due at NOW in a transaction of their own (deadlines.c). */
enum rd_txn_end tick(struct fx *f, int64_t now);

/* A referral's JSON (static: valid until the next call): family support in
 * 3600 (FORWARD: in 2000, which no team serves), with BIG a note and family
 * data at their limits, NOTE (when not NULL) its note. */
char *referral_json(const char *ref, bool big, bool forward, const char *note);

/* Base referral I of the template, its note "private-note-of-base-I" (to
 * look for in the files); with NOTE another note (a conflict). */
char *base_json(int i, const char *note);

/* Whether NEEDLE is in the database file PATH or in its write-ahead log. */
bool in_files(const char *path, const char *needle);

/* A fixture with the template made; BIG large submits in round 1 (the
 * environment's RD_FAULTS_FULL). */
int setup(void **state);
int teardown(void **state);

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

#endif
