/* txn.h: the transactions of the daemon's loop, free of sockets.
 *
 * A batch of requests already received is answered in one transaction
 * (group commit): each request in a savepoint of its own through the table
 * of operations (ops.h), then one commit. When the store fails (protocol.md
 * "Durability", daemon.md "Faults of the store"), no reply says more than
 * is stored: a fault that ends the transaction in the middle of the batch
 * refuses the rest of it, and when the transaction does not commit every
 * `ok` becomes `internal`, or `unavailable` with "outcome": "unknown" where
 * the commit may have taken effect after all. Memory is then read again from the store.
 * Nothing is committed into a database file that was removed or replaced
 * (the server's check, FILE_GONE).
 * Work nobody asked for (deadlines) ends the same way.
 *
 * After a commit that erased personal data the write-ahead log is wiped in
 * one attempt that never waits; while another process's read transaction
 * keeps the log, the loop tries again (rd_txn_wipe) until it is gone.
 *
 * batch.c feeds it from the intake socket and commit.c, deadlines.c use its
 * ending; tests/test_faults.c drives it with faults injected under it.
 * Everything runs on the loop's one thread. */
#ifndef RD_TXN_H
#define RD_TXN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub.h"
#include "ops.h"
#include "store.h"

/* How a transaction ended. */
enum rd_txn_end {
        RD_TXN_COMMITTED, /* all of it is stored: publish the hub's events */
        RD_TXN_FAILED,    /* nothing of it is stored; memory is read again from the store */
        RD_TXN_UNKNOWN,   /* the commit may or may not have taken effect (RD_STORE_UNKNOWN);
                             the store's view is that it did not; nothing is published */
        RD_TXN_REFUSED,   /* not committed: the database file is gone (FILE_GONE) */
};

/* The loop's transactions over one store, hub and table of operations. */
struct rd_txn {
        struct rd_store *store;
        struct rd_hub *hub;
        struct rd_ops *ops;
        /* asked before a commit that wrote: true when the database file is
         * no longer the database (the transaction is then rolled back) */
        bool (*file_gone)(void *ctx);
        void *file_ctx;
        int began;            /* the batch in hand: 1 not begun yet, 0 open, < 0 could not begin */
        int64_t batch_writes; /* ops->writes_run when the batch began */
        /* the wipe of the log after an erase (monotonic ms) */
        bool wipe_pending;
        int64_t wipe_next;   /* the next attempt; 0: at once */
        int64_t wipe_since;  /* the first attempt that failed; 0: none failed */
        int64_t wipe_logged; /* the last line about the wait */
};

/* Set T up over STORE, HUB and OPS (all borrowed: they outlive T), with
 * FILE_GONE(FILE_CTX) asked before each commit that wrote (NULL: never).
 * The log is wiped at the first rd_txn_wipe: a previous run may have left
 * erased bytes in it. */
void rd_txn_init(struct rd_txn *t, struct rd_store *store, struct rd_hub *hub, struct rd_ops *ops,
                 bool (*file_gone)(void *ctx), void *file_ctx);

/* ---- a batch of requests ---- */

/* A new batch: its transaction begins with its first request. */
void rd_txn_batch_start(struct rd_txn *t);

/* Begin the batch's transaction now, ahead of its first request (else
 * rd_txn_answer begins it there), so that the store can be handed the
 * batch's look-ups inside it (rd_store_prefetch). 0 when it is open; a
 * negative errno when it could not begin (logged; rd_txn_answer then
 * refuses the requests), -EPERM on a standby, which begins none. */
int rd_txn_batch_begin(struct rd_txn *t);

/* Answer the request frame BUF[LEN] (from the client whose ZAP User-Id is
 * USER_ID, NULL without security) at NOW inside the batch's transaction.
 * The reply into *OUT (caller owns); `unavailable`, nothing run, when the
 * transaction could not begin or a fault ended it before this request. A
 * standby (ops.standby) answers without a transaction.
 * An `ok` stands only once the batch committed (rd_txn_batch_end). */
void rd_txn_answer(struct rd_txn *t, const char *buf, size_t len, const char *user_id, int64_t now,
                   struct rd_reply *out);

/* End the batch: commit it (asking FILE_GONE first when a request of it
 * wrote). Returns how it ended: RD_TXN_COMMITTED also when no request
 * needed the transaction, RD_TXN_FAILED when it could not begin. Unless
 * it committed, the caller replaces each `ok` reply of the batch by
 * rd_txn_retracted; when it did, and rd_txn_wiped, each erase reply says
 * "wiped": true. */
enum rd_txn_end rd_txn_batch_end(struct rd_txn *t);

/* The reply (new) that replaces an `ok` of a transaction that ended as END
 * (not committed), with CORR (borrowed, may be NULL): `internal`, whose
 * error carries "outcome": "unknown" after RD_TXN_UNKNOWN; `unavailable`
 * after RD_TXN_REFUSED. */
json_t *rd_txn_retracted(enum rd_txn_end end, const json_t *corr);

/* Whether nothing erased waits in the log (after a commit: what it erased
 * is gone from the files). Never on a store without RD_STORE_CAN_WIPE
 * (PostgreSQL keeps old bytes until vacuum: protocol.md, "wiped"). */
bool rd_txn_wiped(const struct rd_txn *t);

/* ---- any other transaction ---- */

/* Begin a transaction for WHAT (a phrase for the log, "handling
 * deadlines"). 0, or a negative errno (logged). */
int rd_txn_begin(struct rd_txn *t, const char *what);

/* Commit the open transaction (then, after an erase, try to wipe the log);
 * WROTE: it may have written, so FILE_GONE is asked first. When it does
 * not commit, log it as having happened while doing WHAT, roll back and
 * read the hub's memory again. */
enum rd_txn_end rd_txn_commit(struct rd_txn *t, const char *what, bool wrote);

/* Roll the open transaction back and read the hub's memory again. */
void rd_txn_rollback(struct rd_txn *t);

/* Handle what is due at NOW (rd_hub_tick with LIMIT) in a transaction of
 * its own: *DONE says how many referrals it handled (0 when it failed). */
enum rd_txn_end rd_txn_tick(struct rd_txn *t, int64_t now, size_t limit, size_t *done);

/* ---- the wipe ---- */

/* When a wipe of the log is pending and due at MONO (monotonic ms), try it
 * once, without waiting; log the wait (when it starts, then once a
 * minute) and its end. Returns in how many ms to call again, or -1 when
 * nothing is pending. */
long rd_txn_wipe(struct rd_txn *t, int64_t mono);

/* ---- the log ---- */

/* Log a store fault (LOG_ERR, no personal data): at most one line a
 * second, the lines left out counted into the next one. */
void rd_txn_log_fault(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
