/* txn.h: the transactions of the daemon's loop, free of sockets.
 *
 * A batch of requests already received is answered in one transaction
 * (group commit): each request in a savepoint of its own through the table
 * of operations (ops.h), then one commit. When the store fails (protocol.md
 * "Durability", daemon.md "Faults of the store"), no reply says more than
 * is stored: a fault that ends the transaction in the middle of the batch
 * refuses the rest of it, and when the transaction does not commit every
 * `ok` becomes `internal`, with "outcome": "unknown" where the commit may
 * have taken effect after all. Memory is then read again from the store.
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
};

/* The loop's transactions over one store, hub and table of operations. */
struct rd_txn {
        struct rd_store *store;
        struct rd_hub *hub;
        struct rd_ops *ops;
        int began; /* the batch in hand: 1 not begun yet, 0 open, < 0 could not begin */
        /* the wipe of the log after an erase (monotonic ms) */
        bool wipe_pending;
        int64_t wipe_next;   /* the next attempt; 0: at once */
        int64_t wipe_since;  /* the first attempt that failed; 0: none failed */
        int64_t wipe_logged; /* the last line about the wait */
};

/* Set T up over STORE, HUB and OPS (all borrowed: they outlive T). The log
 * is wiped at the first rd_txn_wipe: a previous run may have left erased
 * bytes in it. */
void rd_txn_init(struct rd_txn *t, struct rd_store *store, struct rd_hub *hub, struct rd_ops *ops);

/* ---- a batch of requests ---- */

/* A new batch: its transaction begins with its first request. */
void rd_txn_batch_start(struct rd_txn *t);

/* Answer the request frame BUF[LEN] (from the client whose ZAP User-Id is
 * USER_ID, NULL without security) at NOW inside the batch's transaction.
 * Returns a new reply (caller owns); `unavailable` when the transaction
 * could not begin, or a fault ended it before this request. The reply may
 * still change: see rd_txn_batch_end. */
json_t *rd_txn_answer(struct rd_txn *t, const char *buf, size_t len, const char *user_id,
                      int64_t now);

/* End the batch whose N replies (rd_txn_answer's, or any other the caller
 * made) are REPLIES[0..N): commit it, and when it did not commit, replace
 * (free) each `ok` reply there by `internal` with its corr, whose error
 * carries "outcome": "unknown" when the end is RD_TXN_UNKNOWN. After a
 * commit that wiped the log, each `ok` reply with "wiped" says true.
 * Returns how it ended: RD_TXN_COMMITTED also when no request needed the
 * transaction, RD_TXN_FAILED when it could not begin. */
enum rd_txn_end rd_txn_batch_end(struct rd_txn *t, json_t **replies, size_t n);

/* ---- any other transaction ---- */

/* Begin a transaction for WHAT (a phrase for the log, "handling
 * deadlines"). 0, or a negative errno (logged). */
int rd_txn_begin(struct rd_txn *t, const char *what);

/* Commit the open transaction (then, after an erase, try to wipe the log).
 * When that fails, log it as having happened while doing WHAT, roll back
 * and read the hub's memory again. */
enum rd_txn_end rd_txn_commit(struct rd_txn *t, const char *what);

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
