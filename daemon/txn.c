/* txn.c: the transactions of the daemon's loop (txn.h). */
#include "txn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define WIPE_RETRY_MS 200 /* another attempt while a reader keeps the log */
#define WIPE_LOG_MS 60000 /* a line about the wait at most this often */
#define FAULT_LOG_MS 1000 /* a line about a store fault at most this often */
#define FAULT_LINE_MAX 512

void rd_txn_init(struct rd_txn *t, struct rd_store *store, struct rd_hub *hub, struct rd_ops *ops,
                 bool (*file_gone)(void *ctx), void *file_ctx)
{
        memset(t, 0, sizeof *t);
        t->store = store;
        t->hub = hub;
        t->ops = ops;
        t->file_gone = file_gone;
        t->file_ctx = file_ctx;
        t->began = 1;
        t->wipe_pending = true;
}

/* ---- the log ---------------------------------------------------------------------------- */

static struct {
        bool logged;
        int64_t last; /* monotonic ms of the last line */
        long unlogged;
} fault_log;

void rd_txn_log_fault(const char *fmt, ...)
{
        int64_t t = rd_mono_ms();
        char line[FAULT_LINE_MAX];
        va_list ap;

        if (fault_log.logged && t - fault_log.last < FAULT_LOG_MS) {
                fault_log.unlogged++;
                return;
        }
        va_start(ap, fmt);
        vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        if (fault_log.unlogged)
                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR,
                       "%s (%ld more store faults since the last such line were not logged)", line,
                       fault_log.unlogged);
        else
                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "%s", line);
        fault_log.logged = true;
        fault_log.last = t;
        fault_log.unlogged = 0;
}

/* ---- the wipe ------------------------------------------------------------------------------ */

/* The attempt at MONO failed with R: say so when the wait begins, then once
 * a minute. */
static void wipe_waits(struct rd_txn *t, int r, int64_t mono)
{
        if (!t->wipe_since)
                t->wipe_since = mono;
        if (t->wipe_logged && mono - t->wipe_logged < WIPE_LOG_MS)
                return;
        t->wipe_logged = mono;
        if (r == -EBUSY)
                rd_log(LOG_WARNING, RD_MSG_DATABASE_ERROR,
                       "erased personal data is still in the write-ahead log (waiting %lld s): "
                       "another process holds a read transaction on the database (a backup, a "
                       "query, a report); the daemon tries again every %d ms and wipes it once "
                       "that reader ends",
                       (long long)((mono - t->wipe_since) / 1000), WIPE_RETRY_MS);
        else
                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR,
                       "erased personal data is still in the write-ahead log (waiting %lld s): "
                       "the wipe failed: %s; the daemon tries again every %d ms",
                       (long long)((mono - t->wipe_since) / 1000), rd_store_errmsg(t->store),
                       WIPE_RETRY_MS);
}

long rd_txn_wipe(struct rd_txn *t, int64_t mono)
{
        int r;

        if (!t->wipe_pending)
                return -1;
        if (mono < t->wipe_next)
                return (long)(t->wipe_next - mono);
        r = rd_store_checkpoint(t->store);
        if (r < 0 && r != -EOPNOTSUPP) {
                wipe_waits(t, r, mono);
                t->wipe_next = mono + WIPE_RETRY_MS;
                return WIPE_RETRY_MS;
        }
        if (t->wipe_since && r == 0)
                rd_log(LOG_NOTICE, RD_MSG_DATABASE_ERROR,
                       "the write-ahead log is wiped: erased personal data is gone from the "
                       "database files, %lld ms after the first attempt",
                       (long long)(mono - t->wipe_since));
        t->wipe_pending = false;
        t->wipe_since = t->wipe_logged = t->wipe_next = 0;
        return -1;
}

/* ---- ending a transaction ---------------------------------------------------------- */

int rd_txn_begin(struct rd_txn *t, const char *what)
{
        int r = rd_store_begin(t->store);
        if (r < 0)
                rd_txn_log_fault("cannot begin a transaction for %s: %s", what,
                                 rd_store_errmsg(t->store));
        return r;
}

void rd_txn_rollback(struct rd_txn *t)
{
        rd_store_rollback(t->store);
        rd_hub_rolled_back(t->hub);
}

enum rd_txn_end rd_txn_commit(struct rd_txn *t, const char *what, bool wrote)
{
        bool lost = !rd_store_in_transaction(t->store);
        bool gone = !lost && wrote && t->file_gone && t->file_gone(t->file_ctx);
        int r = lost ? RD_STORE_ABORTED : gone ? -ENOENT : rd_store_commit(t->store);

        /* erased bytes must leave the log too: also when the outcome is
         * unknown, the next wipe is harmless */
        if (rd_hub_erased(t->hub) && (r == 0 || r == RD_STORE_UNKNOWN))
                t->wipe_pending = true;
        if (r == 0) {
                if (t->wipe_pending)
                        rd_txn_wipe(t, rd_mono_ms());
                return RD_TXN_COMMITTED;
        }
        if (r == RD_STORE_UNKNOWN)
                rd_txn_log_fault("the commit failed while %s: %s; it may have taken effect (the "
                                 "write-ahead log was written, then the sync or the index failed): "
                                 "its requests were answered unavailable with outcome unknown",
                                 what, rd_store_errmsg(t->store));
        else if (!gone) /* the server said so */
                rd_txn_log_fault("%s while %s: %s; nothing of it was stored",
                                 lost ? "a store fault ended the transaction" : "the commit failed",
                                 what, rd_store_errmsg(t->store));
        rd_txn_rollback(t);
        return r == RD_STORE_UNKNOWN ? RD_TXN_UNKNOWN : gone ? RD_TXN_REFUSED : RD_TXN_FAILED;
}

/* ---- a batch of requests -------------------------------------------------------------- */

void rd_txn_batch_start(struct rd_txn *t)
{
        t->began = 1;
        t->batch_writes = t->ops->writes_run;
}

int rd_txn_batch_begin(struct rd_txn *t)
{
        if (t->ops->standby)
                return -EPERM;
        if (t->began == 1)
                t->began = rd_txn_begin(t, "answering requests");
        return t->began;
}

void rd_txn_answer(struct rd_txn *t, const char *buf, size_t len, const char *user_id, int64_t now,
                   struct rd_reply *out)
{
        /* a standby answers ping and refusals only: it never begins one */
        if (t->ops->standby) {
                rd_ops_handle(t->ops, buf, len, user_id, now, out);
                return;
        }
        /* no transaction to run it in: refused with its corr */
        if (rd_txn_batch_begin(t) < 0)
                rd_ops_refuse(buf, len, RD_UNAVAILABLE,
                              "the database is not available; nothing was stored; retry later",
                              out);
        else if (!rd_store_in_transaction(t->store))
                rd_ops_refuse(buf, len, RD_UNAVAILABLE,
                              "a fault of the database ended this batch before this request; "
                              "nothing was stored; retry later",
                              out);
        else
                rd_ops_handle(t->ops, buf, len, user_id, now, out);
}

json_t *rd_txn_retracted(enum rd_txn_end end, const json_t *corr)
{
        json_t *reply;

        if (end == RD_TXN_REFUSED)
                return rd_ops_error(corr, RD_UNAVAILABLE, NULL, RD_OPS_DB_GONE);
        if (end != RD_TXN_UNKNOWN)
                return rd_ops_error(corr, RD_INTERNAL, NULL,
                                    "the database could not commit; nothing was stored; retry "
                                    "later");
        /* daemon.md, "Several machines": never ok, but unavailable */
        reply = rd_ops_error(corr, RD_UNAVAILABLE, NULL,
                             "the database could not confirm that this was stored: it may or "
                             "may not be; repeat the same request to find out");
        json_object_set_new(json_object_get(reply, "error"), "outcome", json_string("unknown"));
        return reply;
}

bool rd_txn_wiped(const struct rd_txn *t)
{
        /* a store with no file to wipe (PostgreSQL) never says so */
        return !t->wipe_pending && (rd_store_caps(t->store) & RD_STORE_CAN_WIPE);
}

enum rd_txn_end rd_txn_batch_end(struct rd_txn *t)
{
        enum rd_txn_end end = t->began < 0 ? RD_TXN_FAILED : RD_TXN_COMMITTED;

        /* a batch that only read commits without looking at the file */
        if (t->began == 0)
                end = rd_txn_commit(t, "answering requests", t->ops->writes_run != t->batch_writes);
        t->began = 1;
        return end;
}

/* ---- deadlines ------------------------------------------------------------------------------ */

enum rd_txn_end rd_txn_tick(struct rd_txn *t, int64_t now, size_t limit, size_t *done)
{
        enum rd_txn_end end;
        int r;

        *done = 0;
        if (rd_txn_begin(t, "handling deadlines") < 0)
                return RD_TXN_FAILED;
        r = rd_hub_tick(t->hub, now, limit, done);
        if (r < 0) {
                rd_txn_log_fault("handling deadlines failed: %s (%s); nothing of it was stored; "
                                 "retrying in a second",
                                 strerror(-r), rd_store_errmsg(t->store));
                rd_hub_erased(t->hub); /* nothing of it is stored */
                rd_txn_rollback(t);
                *done = 0;
                return RD_TXN_FAILED;
        }
        end = rd_txn_commit(t, "handling deadlines", true);
        if (end != RD_TXN_COMMITTED)
                *done = 0;
        return end;
}
