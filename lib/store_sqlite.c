/* store_sqlite.c: the SQLite driver of the store: what its files share,
 * transactions and what a fault does to them, wiping the write-ahead log,
 * and the table of operations. One connection, one writer (the daemon's
 * loop); store_sqlite_open.c opens it. */
#include "store_sqlite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- what every file of the driver uses ----------------------------------------------- */

int sq_err(int rc)
{
        switch (rc) {
        case SQLITE_NOMEM: return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED: return -EBUSY;
        case SQLITE_FULL: return -ENOSPC;
        case SQLITE_READONLY:
        case SQLITE_PERM:
        case SQLITE_AUTH: return -EACCES;
        case SQLITE_CANTOPEN: return -ENOENT;
        default: return -EIO;
        }
}

sqlite3_stmt *sq_prep(struct sq_store *s, enum sq_stmt id)
{
        sqlite3_stmt *st = s->stmt[id];
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return st;
}

int sq_step_done(sqlite3_stmt *st)
{
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : sq_err(rc);
}

int sq_run(struct sq_store *s, enum sq_stmt id)
{
        return sq_step_done(sq_prep(s, id));
}

void sq_col_text(sqlite3_stmt *st, int i, char *dst, size_t size)
{
        const unsigned char *v = sqlite3_column_text(st, i);
        snprintf(dst, size, "%s", v ? (const char *)v : "");
}

void sq_read_row(sqlite3_stmt *st, struct rd_stored *o)
{
        memset(o, 0, sizeof *o);
        o->rowid = sqlite3_column_int64(st, 0);
        rd_store_format_id(o->rowid, o->id);
        sq_col_text(st, 1, o->partner, sizeof o->partner);
        sq_col_text(st, 2, o->ref, sizeof o->ref);
        sq_col_text(st, 3, o->digest, sizeof o->digest);
        o->received_ms = sqlite3_column_int64(st, 4);
        o->status = (enum rd_status)sqlite3_column_int(st, 5);
        sq_col_text(st, 6, o->rule, sizeof o->rule);
        sq_col_text(st, 7, o->team, sizeof o->team);
        sq_col_text(st, 8, o->connector, sizeof o->connector);
        o->start_by_ms = sqlite3_column_int64(st, 9);
        o->expected_start_ms = sqlite3_column_int64(st, 10);
        o->offered_ms = sqlite3_column_int64(st, 11);
        o->offer_expires_ms = sqlite3_column_int64(st, 12);
        o->started_ms = sqlite3_column_int64(st, 13);
        o->expected_end_ms = sqlite3_column_int64(st, 14);
        sq_col_text(st, 15, o->forward_to, sizeof o->forward_to);
        sq_col_text(st, 16, o->reason, sizeof o->reason);
        o->last_seq = sqlite3_column_int64(st, 17);
        o->urgency = (enum rd_urgency)sqlite3_column_int(st, 18);
        o->first_offered_ms = sqlite3_column_int64(st, 19);
        o->at_risk_fired = sqlite3_column_int(st, 20);
        o->missed_fired = sqlite3_column_int(st, 21);
        o->final_ms = sqlite3_column_int64(st, 22);
        o->erased_ms = sqlite3_column_int64(st, 23);
        o->attention = (enum rd_attention)sqlite3_column_int(st, 24);
}

int sq_finish(sqlite3_stmt *st, int rc, int r)
{
        sqlite3_reset(st);
        if (r)
                return r;
        return rc == SQLITE_DONE ? 0 : sq_err(rc);
}

int sq_each_text(sqlite3_stmt *st, int (*fn)(void *ctx, const char *text), void *ctx)
{
        int rc, r = 0;

        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                const unsigned char *t = sqlite3_column_text(st, 0);
                r = fn(ctx, t ? (const char *)t : "");
        }
        return sq_finish(st, rc, r);
}

/* ---- the connection -------------------------------------------------------------------- */

int sq_load_seq(struct sq_store *s)
{
        sqlite3_stmt *st = sq_prep(s, S_MAX_SEQ);
        int rc = sqlite3_step(st);

        if (rc == SQLITE_ROW)
                s->last_seq = s->committed_seq = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return rc == SQLITE_ROW ? 0 : sq_err(rc);
}

bool sq_pads_wal(sqlite3 *db)
{
        int psow = -1;
        return sqlite3_file_control(db, "main", SQLITE_FCNTL_POWERSAFE_OVERWRITE, &psow) ==
                       SQLITE_OK &&
               psow == 0;
}

static void sq_close(struct rd_store *base)
{
        struct sq_store *s = sq(base);
        for (int i = 0; i < S__MAX; i++)
                sqlite3_finalize(s->stmt[i]);
        sqlite3_close(s->db);
        rd_jw_free(&s->event_w);
        free(s);
}

static const char *sq_errmsg(struct rd_store *base)
{
        struct sq_store *s = sq(base);
        return s->db ? sqlite3_errmsg(s->db) : "no database";
}

/* ---- transactions ------------------------------------------------------------------------ */

static int sq_begin(struct rd_store *base)
{
        struct sq_store *s = sq(base);
        int r = sq_run(s, S_BEGIN);

        sq_tally_drop(s, true);
        /* the seq as the database has it, whatever failed before */
        if (r == 0 && (r = sq_load_seq(s)) < 0 && !sqlite3_get_autocommit(s->db))
                sq_run(s, S_ROLLBACK);
        return r;
}

/* Whether a COMMIT that failed with the extended result code EXT may still
 * have taken effect. In WAL mode SQLite appends the transaction's pages to
 * the log, the commit record last, then syncs the log, then updates the
 * shared index; a recovery (a restart after a crash) finds every commit
 * record in the log that is whole. So a failure up to the last write
 * (SQLITE_FULL, a failed read or write) left no commit record, and
 * anything after it (the sync, the index) may have left one. With a padded log SQLite
 * writes copies of the commit record after it, so a failed write may come
 * after one too. Errors that are not I/O (busy, constraints) happen before
 * anything is written. */
static bool commit_outcome_unknown(const struct sq_store *s, int ext)
{
        if (ext == SQLITE_FULL || ext == SQLITE_IOERR_WRITE)
                return s->padded_wal;
        return (ext & 0xff) == SQLITE_IOERR && ext != SQLITE_IOERR_NOMEM &&
               ext != SQLITE_IOERR_READ && ext != SQLITE_IOERR_SHORT_READ;
}

/* The new referrals' tallies are added to the table first (a failure
 * there fails the commit, nothing written yet), then COMMIT. With no
 * transaction open (SQLite ended it) the fold would commit each count on
 * its own, for rows that are gone: it fails instead. */
static int sq_commit(struct rd_store *base)
{
        struct sq_store *s = sq(base);
        sqlite3_stmt *st;
        int rc, ext, r;

        if (sqlite3_get_autocommit(s->db)) {
                sq_tally_drop(s, true); /* the message stays SQLite's last */
                return -EINVAL;
        }
        r = sq_tally_fold(s);
        if (r < 0)
                return r;
        st = sq_prep(s, S_COMMIT);
        rc = sqlite3_step(st);
        ext = sqlite3_extended_errcode(s->db);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
                s->committed_seq = s->last_seq;
                return 0;
        }
        return commit_outcome_unknown(s, ext) ? RD_STORE_UNKNOWN : sq_err(rc);
}

static void sq_rollback(struct rd_store *base)
{
        struct sq_store *s = sq(base);
        if (!sqlite3_get_autocommit(s->db))
                sq_run(s, S_ROLLBACK);
        s->last_seq = s->committed_seq;
        sq_tally_drop(s, true);
}

static int sq_request_begin(struct rd_store *base)
{
        struct sq_store *s = sq(base);
        bool alone = sqlite3_get_autocommit(s->db);
        int r;

        s->savepoint_seq = s->last_seq;
        sq_tally_drop(s, false);
        r = sq_run(s, S_SAVEPOINT);
        if (r == 0) {
                s->in_request = true;
                s->request_is_txn = alone;
        }
        return r;
}

/* Keep the request (RELEASE its savepoint) or undo it (ROLLBACK TO, then
 * RELEASE); a request that cannot be kept is undone, and one that cannot
 * be undone alone takes the whole transaction with it. */
static int sq_request_end(struct rd_store *base, bool keep)
{
        struct sq_store *s = sq(base);
        int r = 0, undo;

        if (keep && (r = sq_tally_keep_begin(s)) == 0 && (r = sq_run(s, S_RELEASE)) == 0) {
                sq_tally_keep_end(s);
                return 0;
        }
        undo = sq_run(s, S_ROLLBACK_TO);
        s->last_seq = s->savepoint_seq;
        sq_tally_drop(s, false);
        if (undo == 0)
                undo = sq_run(s, S_RELEASE);
        if (undo < 0 && !sqlite3_get_autocommit(s->db)) {
                sq_run(s, S_ROLLBACK);
                s->last_seq = s->committed_seq;
                sq_tally_drop(s, true);
        }
        return keep ? r : undo;
}

static bool sq_in_transaction(struct rd_store *base)
{
        return !sqlite3_get_autocommit(sq(base)->db);
}

static int64_t sq_last_seq(const struct rd_store *base)
{
        return ((const struct sq_store *)base)->last_seq;
}

/* ---- wiping and copying --------------------------------------------------------------------- */

static int sq_checkpoint(struct rd_store *base)
{
        int rc = sqlite3_wal_checkpoint_v2(sq(base)->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
                                           NULL);
        return rc == SQLITE_OK ? 0 : sq_err(rc);
}

/* ---- the table --------------------------------------------------------------------------- */

const struct rd_store_ops sq_ops = {
        .name = "sqlite",
        .close = sq_close,
        .errmsg = sq_errmsg,
        .begin = sq_begin,
        .commit = sq_commit,
        .rollback = sq_rollback,
        .request_begin = sq_request_begin,
        .request_end = sq_request_end,
        .in_transaction = sq_in_transaction,
        .last_seq = sq_last_seq,
        .insert = sq_insert,
        .change = sq_change,
        .erase = sq_erase,
        .meta_set = sq_meta_set,
        .find = sq_find,
        .get = sq_get,
        .content = sq_content,
        .each_state = sq_each_state,
        .each_decline = sq_each_decline,
        .each_waiting = sq_each_waiting,
        .each_waiting_set = sq_each_waiting_set,
        .count_waiting_before = sq_count_waiting_before,
        .each_offer = sq_each_offer,
        .meta_get = sq_meta_get,
        .next_deadlines = sq_next_deadlines,
        .due = sq_due,
        .was_offered = sq_was_offered,
        .each_event = sq_each_event,
        .each_history = sq_each_history,
        .count_history = sq_count_history,
        .each_listed = sq_each_listed,
        .each_reason = sq_each_reason,
        .count_by_status = sq_count_by_status,
        .window_counts = sq_window_counts,
        .figures = sq_figures,
        .audit = sq_audit,
        .each_audit = sq_each_audit,
        .audit_purge = sq_audit_purge,
        .routing_record = sq_routing_record,
        .each_routing = sq_each_routing,
        .routing_text = sq_routing_text,
        .checkpoint = sq_checkpoint,
};
