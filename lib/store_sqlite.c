/* store_sqlite.c: the SQLite driver of the store: open, migrations,
 * transactions, the write-ahead log, backup, and the table of operations.
 * One connection, one writer (the daemon's loop). */
#include "store_sqlite.h"
#include "sqlite_pragmas.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- open ------------------------------------------------------------------------------ */

static int make_parent(const char *path)
{
        char *copy = strdup(path);
        char *dir;
        struct stat sb;
        int r = 0;

        if (!copy)
                return -ENOMEM;
        dir = dirname(copy);
        if (stat(dir, &sb) < 0) {
                if (errno != ENOENT)
                        r = -errno;
                else if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                        r = -errno;
                else if (chmod(dir, 0700) < 0) /* whatever the umask */
                        r = -errno;
        }
        free(copy);
        return r;
}

/* Create PATH if needed, 0600 whatever the umask. */
static int make_file(const char *path, char *errbuf, size_t errsize)
{
        int fd, r = make_parent(path);

        if (r < 0) {
                snprintf(errbuf, errsize, "cannot create the folder of the database: %s",
                         strerror(-r));
                return r;
        }
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
                r = -errno;
                snprintf(errbuf, errsize, "cannot open the database file: %s", strerror(errno));
                return r;
        }
        if (fchmod(fd, 0600) < 0) {
                r = -errno;
                snprintf(errbuf, errsize, "cannot make the database file 0600: %s", strerror(-r));
        }
        close(fd);
        return r;
}

static int exec_sql(sqlite3 *db, const char *sql, char *errbuf, size_t errsize)
{
        char *msg = NULL;
        int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
                snprintf(errbuf, errsize, "%s", msg ? msg : sqlite3_errstr(rc));
                sqlite3_free(msg);
                return sq_err(rc);
        }
        return 0;
}

static int schema_version(sqlite3 *db, int *version, char *errbuf, size_t errsize)
{
        sqlite3_stmt *st = NULL;

        if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW) {
                snprintf(errbuf, errsize, "cannot read the schema version: %s", sqlite3_errmsg(db));
                sqlite3_finalize(st);
                return -EIO;
        }
        *version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        return 0;
}

/* Each migration step in its own transaction; a newer schema is refused. */
static int migrate(sqlite3 *db, char *errbuf, size_t errsize)
{
        int version, n = (int)sq_n_migrations, r = schema_version(db, &version, errbuf, errsize);

        if (r < 0)
                return r;
        if (version > n) {
                snprintf(errbuf, errsize,
                         "the database has schema version %d, newer than this referrald "
                         "(%d): use a newer referrald",
                         version, n);
                return -EPROTO;
        }
        for (; version < n; version++) {
                char pragma[64];
                r = exec_sql(db, "BEGIN IMMEDIATE", errbuf, errsize);
                if (r < 0)
                        return r;
                snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version + 1);
                r = exec_sql(db, sq_migrations[version], errbuf, errsize);
                if (r == 0)
                        r = exec_sql(db, pragma, errbuf, errsize);
                if (r == 0)
                        r = exec_sql(db, "COMMIT", errbuf, errsize);
                if (r < 0) {
                        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
                        return r;
                }
        }
        return 0;
}

static int prepare_all(struct sq_store *s, char *errbuf, size_t errsize)
{
        for (int i = 0; i < S__MAX; i++) {
                int rc = sqlite3_prepare_v3(s->db, sq_stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                            &s->stmt[i], NULL);
                if (rc != SQLITE_OK) {
                        snprintf(errbuf, errsize, "cannot prepare a statement: %s",
                                 sqlite3_errmsg(s->db));
                        return sq_err(rc);
                }
        }
        return 0;
}

static int read_last_seq(struct sq_store *s, char *errbuf, size_t errsize)
{
        sqlite3_stmt *st = sq_prep(s, S_MAX_SEQ);

        if (sqlite3_step(st) != SQLITE_ROW) {
                snprintf(errbuf, errsize, "cannot read the last event: %s", sqlite3_errmsg(s->db));
                sqlite3_reset(st);
                return -EIO;
        }
        s->last_seq = s->committed_seq = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return 0;
}

static const struct rd_store_ops sqlite_ops;

int rd_store_open(const char *path, bool synchronous_full, struct rd_store **out, char *errbuf,
                  size_t errsize)
{
        struct sq_store *s = calloc(1, sizeof *s);
        int r, rc;

        errbuf[0] = '\0';
        if (!s)
                return -ENOMEM;
        s->base.ops = &sqlite_ops;
        s->base.caps = RD_STORE_CAN_WIPE | RD_STORE_SAVEPOINTS | RD_STORE_READ_ONLY;
        r = make_file(path, errbuf, errsize);
        if (r < 0)
                goto fail;
        rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
        if (rc != SQLITE_OK) {
                r = sq_err(rc);
                snprintf(errbuf, errsize, "cannot open the database: %s",
                         s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
                goto fail;
        }
        sqlite3_extended_result_codes(s->db, 0);
        sqlite3_busy_timeout(s->db, RD_SQLITE_BUSY_TIMEOUT_MS);
        r = exec_sql(s->db, synchronous_full ? RD_SQLITE_PRAGMAS_FULL : RD_SQLITE_PRAGMAS_NORMAL,
                     errbuf, errsize);
        if (r == 0)
                r = migrate(s->db, errbuf, errsize);
        if (r == 0)
                r = prepare_all(s, errbuf, errsize);
        if (r == 0)
                r = read_last_seq(s, errbuf, errsize);
        if (r < 0)
                goto fail;
        *out = &s->base;
        return 0;
fail:
        rd_store_close(&s->base);
        return r;
}

static void sq_close(struct rd_store *base)
{
        struct sq_store *s = sq(base);
        for (int i = 0; i < S__MAX; i++)
                sqlite3_finalize(s->stmt[i]);
        sqlite3_close(s->db);
        free(s);
}

static const char *sq_errmsg(struct rd_store *base)
{
        struct sq_store *s = sq(base);
        return s->db ? sqlite3_errmsg(s->db) : "no database";
}

/* ---- transactions ------------------------------------------------------------------------ */

static int sq_begin(struct rd_store *s)
{
        return sq_run(sq(s), S_BEGIN);
}

static int sq_commit(struct rd_store *base)
{
        struct sq_store *s = sq(base);
        int r = sq_run(s, S_COMMIT);
        if (r == 0)
                s->committed_seq = s->last_seq;
        return r;
}

static void sq_rollback(struct rd_store *base)
{
        struct sq_store *s = sq(base);
        if (!sqlite3_get_autocommit(s->db))
                sq_run(s, S_ROLLBACK);
        s->last_seq = s->committed_seq;
}

static int sq_request_begin(struct rd_store *base)
{
        struct sq_store *s = sq(base);
        s->savepoint_seq = s->last_seq;
        return sq_run(s, S_SAVEPOINT);
}

static int sq_request_end(struct rd_store *base, bool keep)
{
        struct sq_store *s = sq(base);
        int r;
        if (keep)
                return sq_run(s, S_RELEASE);
        r = sq_run(s, S_ROLLBACK_TO);
        s->last_seq = s->savepoint_seq;
        if (r == 0)
                r = sq_run(s, S_RELEASE);
        return r;
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

/* Create DST_PATH, 0600, never over an existing file. */
static int make_copy_file(const char *dst_path, char *errbuf, size_t errsize)
{
        int fd = open(dst_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), r = -errno;
        if (fd < 0) {
                snprintf(errbuf, errsize, "cannot create %s: %s", dst_path, strerror(-r));
                return r;
        }
        fchmod(fd, 0600);
        close(fd);
        return 0;
}

/* Page by page, so that the daemon's writer is never held up long; a page
 * the daemon changes meanwhile makes SQLite start over. */
static int copy_pages(sqlite3 *src, sqlite3 *dst, char *errbuf, size_t errsize)
{
        sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
        int rc;

        if (!b) {
                snprintf(errbuf, errsize, "cannot start the backup: %s", sqlite3_errmsg(dst));
                return -EIO;
        }
        do {
                rc = sqlite3_backup_step(b, 256);
                if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
                        sqlite3_sleep(10);
        } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
        sqlite3_backup_finish(b);
        if (rc != SQLITE_DONE) {
                snprintf(errbuf, errsize, "the backup failed: %s", sqlite3_errstr(rc));
                return sq_err(rc);
        }
        return 0;
}

int rd_store_backup(const char *src_path, const char *dst_path, char *errbuf, size_t errsize)
{
        sqlite3 *src = NULL, *dst = NULL;
        int rc, r;

        errbuf[0] = '\0';
        rc = sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL);
        if (rc != SQLITE_OK) {
                snprintf(errbuf, errsize, "cannot open %s: %s", src_path,
                         src ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
                r = sq_err(rc);
                goto out;
        }
        /* the copy holds the same personal data */
        r = make_copy_file(dst_path, errbuf, errsize);
        if (r < 0)
                goto out;
        rc = sqlite3_open_v2(dst_path, &dst, SQLITE_OPEN_READWRITE, NULL);
        if (rc != SQLITE_OK) {
                snprintf(errbuf, errsize, "cannot open %s: %s", dst_path, sqlite3_errstr(rc));
                r = sq_err(rc);
                goto out;
        }
        sqlite3_busy_timeout(src, RD_SQLITE_BUSY_TIMEOUT_MS);
        r = copy_pages(src, dst, errbuf, errsize);
out:
        sqlite3_close(dst);
        sqlite3_close(src);
        if (r < 0 && dst)
                unlink(dst_path);
        return r;
}

int sq_store_adopt(sqlite3 *db, struct rd_store **out, char *errbuf, size_t errsize)
{
        struct sq_store *s = calloc(1, sizeof *s);
        int r;

        if (!s) {
                sqlite3_close(db);
                return -ENOMEM;
        }
        s->base.ops = &sqlite_ops;
        s->base.caps = RD_STORE_SAVEPOINTS;
        s->db = db;
        sqlite3_extended_result_codes(s->db, 0);
        r = prepare_all(s, errbuf, errsize);
        if (r == 0)
                r = read_last_seq(s, errbuf, errsize);
        if (r < 0) {
                rd_store_close(&s->base);
                return r;
        }
        *out = &s->base;
        return 0;
}

/* ---- the table --------------------------------------------------------------------------- */

static const struct rd_store_ops sqlite_ops = {
        .name = "sqlite",
        .close = sq_close,
        .errmsg = sq_errmsg,
        .begin = sq_begin,
        .commit = sq_commit,
        .rollback = sq_rollback,
        .request_begin = sq_request_begin,
        .request_end = sq_request_end,
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
        .each_offer = sq_each_offer,
        .meta_get = sq_meta_get,
        .next_deadlines = sq_next_deadlines,
        .due = sq_due,
        .was_offered = sq_was_offered,
        .each_event = sq_each_event,
        .each_history = sq_each_history,
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
