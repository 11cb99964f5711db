/* txn.c: the transactions of the daemon's loop (txn.h). */
#include "txn.h"

#include <string.h>

#include "log.h"

void rd_txn_init(struct rd_txn *t, struct rd_store *store, struct rd_hub *hub, struct rd_ops *ops)
{
        memset(t, 0, sizeof *t);
        t->store = store;
        t->hub = hub;
        t->ops = ops;
        t->began = 1;
}

/* ---- ending a transaction ---------------------------------------------------------- */

int rd_txn_begin(struct rd_txn *t, const char *what)
{
        int r = rd_store_begin(t->store);
        if (r < 0)
                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "cannot begin a transaction for %s: %s",
                       what, rd_store_errmsg(t->store));
        return r;
}

void rd_txn_rollback(struct rd_txn *t)
{
        rd_store_rollback(t->store);
        rd_hub_rolled_back(t->hub);
}

enum rd_txn_end rd_txn_commit(struct rd_txn *t, const char *what)
{
        if (rd_store_commit(t->store) == 0) {
                /* erased bytes must leave the write-ahead log too */
                if (rd_hub_erased(t->hub) && rd_store_checkpoint(t->store) < 0)
                        rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR,
                               "cannot checkpoint the write-ahead log after an erase: %s",
                               rd_store_errmsg(t->store));
                return RD_TXN_COMMITTED;
        }
        rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "commit failed while %s: %s", what,
               rd_store_errmsg(t->store));
        rd_txn_rollback(t);
        return RD_TXN_FAILED;
}

/* ---- a batch of requests -------------------------------------------------------------- */

void rd_txn_batch_start(struct rd_txn *t)
{
        t->began = 1;
}

json_t *rd_txn_answer(struct rd_txn *t, const char *buf, size_t len, const char *user_id,
                      int64_t now)
{
        if (t->began == 1)
                t->began = rd_txn_begin(t, "answering requests");
        if (t->began < 0)
                return rd_ops_error(NULL, RD_UNAVAILABLE, NULL,
                                    "the database is not available; nothing was stored; retry "
                                    "later");
        return rd_ops_handle(t->ops, buf, len, user_id, now);
}

/* The batch did not commit: nothing of it is stored, so every `ok` reply
 * of REPLIES[0..N) becomes `internal`, with its corr. */
static void retract_oks(json_t **replies, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                json_t *old = replies[i];
                if (!json_is_true(json_object_get(old, "ok")))
                        continue;
                replies[i] = rd_ops_error(json_object_get(old, "corr"), RD_INTERNAL, NULL,
                                          "the database could not commit; nothing was stored; "
                                          "retry later");
                json_decref(old);
        }
}

enum rd_txn_end rd_txn_batch_end(struct rd_txn *t, json_t **replies, size_t n)
{
        enum rd_txn_end end = RD_TXN_COMMITTED;

        if (t->began == 0) {
                end = rd_txn_commit(t, "answering requests");
                if (end != RD_TXN_COMMITTED)
                        retract_oks(replies, n);
        }
        t->began = 1;
        return end;
}

/* ---- deadlines ------------------------------------------------------------------------------ */

enum rd_txn_end rd_txn_tick(struct rd_txn *t, int64_t now, size_t limit, size_t *done)
{
        int r;

        *done = 0;
        if (rd_txn_begin(t, "handling deadlines") < 0)
                return RD_TXN_FAILED;
        r = rd_hub_tick(t->hub, now, limit, done);
        if (r < 0) {
                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR,
                       "handling deadlines failed: %s (%s); retrying in a second", strerror(-r),
                       rd_store_errmsg(t->store));
                rd_txn_rollback(t);
                *done = 0;
                return RD_TXN_FAILED;
        }
        return rd_txn_commit(t, "handling deadlines");
}
