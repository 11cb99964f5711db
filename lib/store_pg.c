/* store_pg.c: the PostgreSQL driver of the store: open, transactions, a
 * request undone without a savepoint, the commit and its outcome, and the
 * table of operations. One connection, one writer (the daemon's loop). */
#include "store_pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- transactions ------------------------------------------------------------------------------
 */

/* BEGIN, then the fence on the counters as this connection knows them
 * committed (store_pg_sql.c, P_FENCE). */
static int send_begin(struct pg_store *s)
{
        struct pg_args a = {0};
        int r = pg_send(s, P_BEGIN, &a);

        pa_int(&a, s->committed_seq);
        pa_int(&a, s->committed_rowid);
        pa_int(&a, s->epoch);
        return r < 0 ? r : pg_send(s, P_FENCE, &a);
}

static int pg_begin(struct rd_store *base)
{
        struct pg_store *s = pgs(base);
        int r;

        if (s->in_txn) {
                snprintf(s->errmsg, sizeof s->errmsg, "a transaction is already open");
                return -EINVAL;
        }
        if (s->lead_mode && !s->leading) {
                snprintf(s->errmsg, sizeof s->errmsg,
                         "this daemon does not hold the lead: another daemon is active");
                return -EAGAIN;
        }
        r = pg_ready(s);
        if (r < 0)
                return r;
        s->fault = 0;
        s->refused = false;
        s->commit_result = 0;
        s->log.len = 0;
        s->in_txn = true;
        r = send_begin(s);
        if (r < 0) {
                s->in_txn = false;
                return r;
        }
        pg_push(s);
        return 0;
}

/* The transaction is over, committed or not: memory follows. */
static void txn_over(struct pg_store *s, bool committed)
{
        if (committed) {
                s->committed_seq = s->last_seq;
                s->committed_rowid = s->last_rowid;
        } else {
                s->last_seq = s->committed_seq;
                s->last_rowid = s->committed_rowid;
        }
        s->in_txn = false;
        s->fault = 0;
        s->log.len = 0;
        pg_found_clear(s);
}

/* The commit's outcome, once everything up to its sync point was read
 * (store.h): known only when the COMMIT's own result was read, and known
 * replicated only when no WARNING came before it (PostgreSQL warns when
 * it stops waiting for a synchronous standby, and then reports the COMMIT
 * as done). A COMMIT sent whose result never came (a lost connection) is
 * unknown too, unless the server had already refused a statement of the
 * transaction. */
static int outcome(struct pg_store *s, int r, bool sent, unsigned warnings)
{
        if (s->commit_result == 1 && s->warnings == warnings) {
                txn_over(s, true);
                return 0;
        }
        if (s->commit_result == 1 || (sent && s->commit_result == 0 && !s->refused)) {
                if (s->commit_result == 1)
                        snprintf(s->errmsg, sizeof s->errmsg,
                                 "PostgreSQL committed but warned (it stopped waiting for its "
                                 "synchronous standby): the commit is not known to be "
                                 "replicated");
                else
                        snprintf(s->errmsg + strlen(s->errmsg),
                                 sizeof s->errmsg - strlen(s->errmsg),
                                 "; the commit's outcome is unknown");
                txn_over(s, s->commit_result == 1);
                s->reread = true; /* what did commit is read again at the next begin */
                return RD_STORE_UNKNOWN;
        }
        return r < 0 ? r : pg_fail(s, -EIO, "the commit failed");
}

static int pg_commit(struct rd_store *base)
{
        struct pg_store *s = pgs(base);
        unsigned warnings = s->warnings;
        struct pg_args a = {0};
        bool sent = false;
        int r = 0;

        if (!s->in_txn) {
                snprintf(s->errmsg, sizeof s->errmsg, "no transaction to commit");
                return -EINVAL;
        }
        if (s->fault)
                return s->fault;
        if (s->log.len > 0) /* it wrote: its tally_deltas, if any, into tallies */
                r = pg_send(s, P_FOLD, &(struct pg_args){0});
        if (r == 0 && (s->last_seq != s->committed_seq || s->last_rowid != s->committed_rowid)) {
                pa_int(&a, s->last_seq);
                pa_int(&a, s->last_rowid);
                r = pg_send(s, P_ADVANCE, &a);
        }
        if (r == 0)
                r = pg_send(s, P_COMMIT, &(struct pg_args){0});
        sent = r == 0;
        if (r == 0)
                r = pg_sync(s);
        return outcome(s, r, sent, warnings);
}

/* What another writer committed meanwhile (a fence that failed) is read
 * again before the next transaction: a rollback is rare, a read cheap. */
static void pg_rollback(struct rd_store *base)
{
        struct pg_store *s = pgs(base);

        if (s->in_txn)
                s->reread = true;

        /* the first fault stays the message (in_txn until the end) */
        if (s->conn && (s->in_txn || s->pending.n) && pg_sync(s) != -ENOTCONN && s->conn &&
            PQtransactionStatus(s->conn) != PQTRANS_IDLE &&
            pg_send(s, P_ROLLBACK, &(struct pg_args){0}) == 0)
                pg_sync(s);
        txn_over(s, false);
}

static int pg_request_begin(struct rd_store *base)
{
        struct pg_store *s = pgs(base);

        s->request_mark = s->log.len;
        s->request_wrote = false;
        s->request_seq = s->last_seq;
        s->request_rowid = s->last_rowid;
        return s->fault;
}

/* Undo the open request, which wrote: roll the transaction back and send
 * again what the requests before it wrote (the log up to its mark). Waits
 * for what is pending first: a fault among it dooms the transaction. */
static int rerun(struct pg_store *s)
{
        int r = pg_sync(s);

        if (r == 0)
                r = pg_send(s, P_ROLLBACK, &(struct pg_args){0});
        if (r == 0)
                r = send_begin(s);
        if (r == 0)
                r = pg_log_replay(s, 0, s->request_mark);
        s->log.len = s->request_mark;
        pg_push(s);
        return r;
}

static int pg_request_end(struct rd_store *base, bool keep)
{
        struct pg_store *s = pgs(base);

        if (keep) {
                pg_push(s); /* the server works on it while the loop goes on */
                return s->fault;
        }
        s->last_seq = s->request_seq;
        s->last_rowid = s->request_rowid;
        if (s->fault || !s->request_wrote)
                return s->fault;
        return rerun(s);
}

/* The transaction is the database's still: begun, and no statement of it
 * refused (PostgreSQL then only rolls it back) nor the connection lost. */
static bool pg_in_transaction(struct rd_store *base)
{
        struct pg_store *s = pgs(base);

        return s->in_txn && !s->fault;
}

static int64_t pg_last_seq(const struct rd_store *base)
{
        return ((const struct pg_store *)base)->last_seq;
}

/* ---- open and close ----------------------------------------------------------------------------
 */

static void pg_close(struct rd_store *base)
{
        struct pg_store *s = pgs(base);

        pg_disconnect(s);
        pg_hosts_free(&s->hosts);
        free(s->conninfo);
        if (s->password) {
                explicit_bzero(s->password, strlen(s->password));
                free(s->password);
        }
        free(s->pending.stmt);
        free(s->log.buf);
        free(s->found);
        free(s);
}

static const char *pg_errmsg(struct rd_store *base)
{
        return pgs(base)->errmsg;
}

static const struct rd_store_ops pg_ops;

int pg_open(const char *conninfo, const char *password, bool read_only, struct rd_store **out,
            char *errbuf, size_t errsize)
{
        struct pg_store *s = calloc(1, sizeof *s);
        int r = -ENOMEM;

        errbuf[0] = '\0';
        if (!s)
                return -ENOMEM;
        s->base.ops = &pg_ops;
        s->base.caps = RD_STORE_LEADERSHIP | RD_STORE_PREFETCH; /* no file to wipe, no savepoints */
        s->read_only = read_only;
        s->conninfo = strdup(conninfo);
        s->password = password ? strdup(password) : NULL;
        if (s->conninfo && (s->password || !password))
                r = pg_connect(s);
        if (r < 0) {
                snprintf(errbuf, errsize, "%s", s->errmsg[0] ? s->errmsg : strerror(-r));
                pg_close(&s->base);
                return r;
        }
        *out = &s->base;
        return 0;
}

int rd_store_open_pg(const char *conninfo, const char *password, struct rd_store **out,
                     char *errbuf, size_t errsize)
{
        return pg_open(conninfo, password, false, out, errbuf, errsize);
}

int rd_store_pg_check_conninfo(const char *conninfo, char *errbuf, size_t errsize)
{
        char *err = NULL;
        PQconninfoOption *opts = PQconninfoParse(conninfo, &err);

        if (!opts) {
                size_t n;
                snprintf(errbuf, errsize, "%s", err ? err : "out of memory");
                n = strlen(errbuf);
                while (n > 0 && (errbuf[n - 1] == '\n' || errbuf[n - 1] == ' '))
                        errbuf[--n] = '\0';
                PQfreemem(err);
                return err ? -EINVAL : -ENOMEM;
        }
        PQconninfoFree(opts);
        return 0;
}

/* ---- the table ---------------------------------------------------------------------------------
 */

static const struct rd_store_ops pg_ops = {
        .name = "postgresql",
        .close = pg_close,
        .errmsg = pg_errmsg,
        .begin = pg_begin,
        .commit = pg_commit,
        .rollback = pg_rollback,
        .request_begin = pg_request_begin,
        .request_end = pg_request_end,
        .in_transaction = pg_in_transaction,
        .last_seq = pg_last_seq,
        .insert = pg_insert,
        .change = pg_change,
        .erase = pg_erase,
        .meta_set = pg_meta_set,
        .find = pg_find,
        .prefetch = pg_prefetch,
        .get = pg_get,
        .content = pg_content,
        .each_state = pg_each_state,
        .each_decline = pg_each_decline,
        .each_waiting = pg_each_waiting,
        .each_waiting_set = pg_each_waiting_set,
        .count_waiting_before = pg_count_waiting_before,
        .each_offer = pg_each_offer,
        .meta_get = pg_meta_get,
        .next_deadlines = pg_next_deadlines,
        .due = pg_due,
        .was_offered = pg_was_offered,
        .each_event = pg_each_event,
        .each_history = pg_each_history,
        .count_history = pg_count_history,
        .each_listed = pg_each_listed,
        .each_reason = pg_each_reason,
        .count_by_status = pg_count_by_status,
        .window_counts = pg_window_counts,
        .figures = pg_figures,
        .audit = pg_audit,
        .each_audit = pg_each_audit,
        .audit_purge = pg_audit_purge,
        .routing_record = pg_routing_record,
        .each_routing = pg_each_routing,
        .routing_text = pg_routing_text,
        .checkpoint = NULL, /* nothing to wipe: PostgreSQL keeps old bytes until vacuum */
        .lead = pg_lead,
        .leading = pg_leading,
        .connect_fd = pg_connect_fd,
};
