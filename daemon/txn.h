/* txn.h: the transactions of the daemon's loop, free of sockets.
 *
 * A batch of requests already received is answered in one transaction
 * (group commit): each request in a savepoint of its own through the table
 * of operations (ops.h), then one commit; when that fails, no `ok` reply
 * stays. Work nobody asked for (deadlines) ends the same way. batch.c
 * feeds it from the intake socket and commit.c, deadlines.c use its
 * ending; tests/test_faults.c drives it with faults injected under it.
 *
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
};

/* The loop's transactions over one store, hub and table of operations. */
struct rd_txn {
        struct rd_store *store;
        struct rd_hub *hub;
        struct rd_ops *ops;
        int began; /* the batch in hand: 1 not begun yet, 0 open, < 0 could not begin */
};

/* Set T up over STORE, HUB and OPS (all borrowed: they outlive T). */
void rd_txn_init(struct rd_txn *t, struct rd_store *store, struct rd_hub *hub, struct rd_ops *ops);

/* ---- a batch of requests ---- */

/* A new batch: its transaction begins with its first request. */
void rd_txn_batch_start(struct rd_txn *t);

/* Answer the request frame BUF[LEN] (from the client whose ZAP User-Id is
 * USER_ID, NULL without security) at NOW inside the batch's transaction.
 * Returns a new reply (caller owns), `unavailable` when the transaction
 * could not begin. The reply may still change: see rd_txn_batch_end. */
json_t *rd_txn_answer(struct rd_txn *t, const char *buf, size_t len, const char *user_id,
                      int64_t now);

/* Commit the batch whose N replies (rd_txn_answer's, or any other the
 * caller made) are REPLIES[0..N). When it did not commit, each `ok` reply
 * there is replaced (freed) by `internal`, with its corr. Returns how it
 * ended; RD_TXN_COMMITTED also when no request needed the transaction. */
enum rd_txn_end rd_txn_batch_end(struct rd_txn *t, json_t **replies, size_t n);

/* ---- any other transaction ---- */

/* Begin a transaction for WHAT (a phrase for the log, "handling
 * deadlines"). 0, or a negative errno (logged). */
int rd_txn_begin(struct rd_txn *t, const char *what);

/* Commit the open transaction; when that fails, log it as having
 * happened while doing WHAT, roll back and read the hub's memory again. */
enum rd_txn_end rd_txn_commit(struct rd_txn *t, const char *what);

/* Roll the open transaction back and read the hub's memory again. */
void rd_txn_rollback(struct rd_txn *t);

/* Handle what is due at NOW (rd_hub_tick with LIMIT) in a transaction of
 * its own: *DONE says how many referrals it handled (0 when it failed). */
enum rd_txn_end rd_txn_tick(struct rd_txn *t, int64_t now, size_t limit, size_t *done);

#endif
