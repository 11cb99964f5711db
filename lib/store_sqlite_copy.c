/* store_sqlite_copy.c: the stores the coordinators' tools work on, in
 * memory. A scratch copy of a database (store.h, rd_store_open_copy): the
 * file opened to read only (immutable when nobody has it open, so that not
 * even an empty -wal or -shm appears beside it), its schema version
 * checked, copied into memory with SQLite's backup API inside one read
 * transaction, and closed again. And an empty store in memory
 * (rd_store_open_memory) for the replay's runs. */
#include "sqlite_pragmas.h"
#include "store_sqlite.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Run SQL on DB: 0, or a negative errno with SQLite's message in ERRBUF
 * after WHAT. */
static int run(sqlite3 *db, const char *sql, const char *what, char *errbuf, size_t errsize)
{
        int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

        if (rc == SQLITE_OK)
                return 0;
        snprintf(errbuf, errsize, "%s: %s", what, sqlite3_errmsg(db));
        return sq_err(rc);
}

/* The integer the one-row statement SQL yields on DB into *OUT. */
static int read_int(sqlite3 *db, const char *sql, int *out, char *errbuf, size_t errsize)
{
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *out = sqlite3_column_int(st, 0);
        else
                snprintf(errbuf, errsize, "cannot read the database: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return rc == SQLITE_ROW ? 0 : sq_err(rc);
}

/* PATH as a URI that opens it immutable (SQLite's "file:" form, every byte
 * but a few percent-encoded), into a new string; NULL when out of memory. */
static char *immutable_uri(const char *path)
{
        static const char tail[] = "?immutable=1";
        size_t n = strlen(path), k = 0;
        char *uri = malloc(5 + 3 * n + sizeof tail);

        if (!uri)
                return NULL;
        memcpy(uri, "file:", 5);
        k = 5;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)path[i];
                bool plain = isalnum(ch) || strchr("._~-", ch) || (ch == '/' && i != 1);
                if (plain)
                        uri[k++] = (char)ch;
                else
                        k += (size_t)sprintf(uri + k, "%%%02X", ch);
        }
        memcpy(uri + k, tail, sizeof tail);
        return uri;
}

/* PATH opened to read only, never created, into *DB; with QUIET (nobody
 * has it open) as immutable, so that SQLite creates nothing beside it. */
static int open_source(const char *path, bool quiet, sqlite3 **db, char *errbuf, size_t errsize)
{
        char *uri = quiet ? immutable_uri(path) : NULL;
        int rc;

        if (quiet && !uri)
                return -ENOMEM;
        rc = sqlite3_open_v2(
                quiet ? uri : path, db,
                SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | (quiet ? SQLITE_OPEN_URI : 0), NULL);
        free(uri);
        if (rc != SQLITE_OK) {
                snprintf(errbuf, errsize, "cannot open the database: %s",
                         *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
                return sq_err(rc);
        }
        sqlite3_busy_timeout(*db, RD_SQLITE_BUSY_TIMEOUT_MS);
        return run(*db, "PRAGMA query_only = ON", "cannot open the database", errbuf, errsize);
}

/* How PATH was before the copy. A database that no connection has open has
 * no write-ahead log (SQLite removes it with the last connection): it is
 * QUIET, read as immutable, and the copy is kept only when it still is
 * quiet and unchanged after (no daemon opened it meanwhile). */
struct mark {
        struct stat db;
        bool quiet;
};

static int mark_source(const char *path, struct mark *m, char *errbuf, size_t errsize)
{
        char wal[PATH_MAX];
        struct stat sb;

        if (stat(path, &m->db) < 0) {
                int r = -errno;
                snprintf(errbuf, errsize, "cannot open the database: %s", strerror(-r));
                return r;
        }
        if (!S_ISREG(m->db.st_mode)) {
                snprintf(errbuf, errsize, "cannot open the database: not a regular file");
                return -EINVAL;
        }
        m->quiet = (size_t)snprintf(wal, sizeof wal, "%s-wal", path) < sizeof wal &&
                   stat(wal, &sb) < 0 && errno == ENOENT;
        return 0;
}

/* Was PATH, QUIET as M says, left alone since? */
static bool still_quiet(const char *path, const struct mark *m)
{
        struct mark now;
        char errbuf[8];

        return mark_source(path, &now, errbuf, sizeof errbuf) == 0 && now.quiet &&
               now.db.st_ino == m->db.st_ino && now.db.st_size == m->db.st_size &&
               now.db.st_mtim.tv_sec == m->db.st_mtim.tv_sec &&
               now.db.st_mtim.tv_nsec == m->db.st_mtim.tv_nsec;
}

/* Refuse SRC unless its schema is this build's (inside the read
 * transaction: the version read is the one copied). */
static int check_version(sqlite3 *src, char *errbuf, size_t errsize)
{
        int version, n = (int)sq_n_migrations;
        int r = read_int(src, "PRAGMA user_version", &version, errbuf, errsize);

        if (r < 0 || version == n)
                return r;
        if (version == 0)
                snprintf(errbuf, errsize, "not a referrald database (no schema)");
        else if (version < n)
                snprintf(errbuf, errsize,
                         "the database has schema version %d, older than this build's (%d): "
                         "start the referrald of this build on it once (it migrates the "
                         "database), or use the referralctl of the daemon that wrote it",
                         version, n);
        else
                snprintf(errbuf, errsize,
                         "the database has schema version %d, newer than this build's (%d): "
                         "use the referralctl of the daemon that wrote it",
                         version, n);
        return -EPROTO;
}

/* Copy SRC into the empty DST in one read transaction of SRC, which ends
 * here whatever happens. */
static int copy_snapshot(sqlite3 *src, sqlite3 *dst, char *errbuf, size_t errsize)
{
        sqlite3_backup *b;
        char pragma[64];
        int page, rc, r = run(src, "BEGIN", "cannot read the database", errbuf, errsize);

        if (r == 0)
                r = check_version(src, errbuf, errsize);
        if (r == 0)
                r = read_int(src, "PRAGMA page_size", &page, errbuf, errsize);
        if (r == 0) { /* an in-memory copy keeps the page size it starts with */
                snprintf(pragma, sizeof pragma, "PRAGMA page_size = %d", page);
                r = run(dst, pragma, "cannot make the copy", errbuf, errsize);
        }
        if (r == 0) {
                b = sqlite3_backup_init(dst, "main", src, "main");
                rc = b ? sqlite3_backup_step(b, -1) : sqlite3_errcode(dst);
                sqlite3_backup_finish(b);
                if (rc != SQLITE_DONE) {
                        snprintf(errbuf, errsize, "cannot copy the database: %s",
                                 sqlite3_errstr(rc));
                        r = sq_err(rc);
                }
        }
        if (!sqlite3_get_autocommit(src))
                sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
        return r;
}

/* Copy PATH (read as M says) into a new in-memory database *DST. */
static int copy_once(const char *path, const struct mark *m, sqlite3 **dst, char *errbuf,
                     size_t errsize)
{
        sqlite3 *src = NULL;
        int rc, r = open_source(path, m->quiet, &src, errbuf, errsize);

        if (r == 0) {
                rc = sqlite3_open_v2(":memory:", dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                                     NULL);
                if (rc != SQLITE_OK) {
                        snprintf(errbuf, errsize, "cannot make the copy: %s", sqlite3_errstr(rc));
                        r = sq_err(rc);
                }
        }
        if (r == 0)
                r = copy_snapshot(src, *dst, errbuf, errsize);
        sqlite3_close(src); /* the file is left alone from here on */
        if (r < 0) {
                sqlite3_close(*dst);
                *dst = NULL;
        }
        return r;
}

int rd_store_open_copy(const char *path, struct rd_store **out, char *errbuf, size_t errsize)
{
        sqlite3 *dst = NULL;
        struct mark m;
        int r;

        errbuf[0] = '\0';
        r = mark_source(path, &m, errbuf, errsize);
        if (r == 0)
                r = copy_once(path, &m, &dst, errbuf, errsize);
        if (r == 0 && m.quiet && !still_quiet(path, &m)) {
                /* a daemon opened it meanwhile: read it again as one does a live one */
                sqlite3_close(dst);
                dst = NULL;
                m.quiet = false;
                r = copy_once(path, &m, &dst, errbuf, errsize);
        }
        if (r < 0)
                return r;
        return sq_store_adopt(dst, out, errbuf, errsize); /* takes DST */
}

int rd_store_open_memory(struct rd_store **out, char *errbuf, size_t errsize)
{
        sqlite3 *db = NULL;
        char pragma[64];
        int r = 0, rc = sqlite3_open_v2(":memory:", &db,
                                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);

        errbuf[0] = '\0';
        if (rc != SQLITE_OK) {
                snprintf(errbuf, errsize, "cannot make a store in memory: %s",
                         db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
                sqlite3_close(db);
                return sq_err(rc);
        }
        /* the schema as the migrations make it, at once: nothing to keep */
        for (size_t i = 0; r == 0 && i < sq_n_migrations; i++)
                r = run(db, sq_migrations[i], "cannot make a store in memory", errbuf, errsize);
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %zu", sq_n_migrations);
        if (r == 0)
                r = run(db, pragma, "cannot make a store in memory", errbuf, errsize);
        if (r < 0) {
                sqlite3_close(db);
                return r;
        }
        return sq_store_adopt(db, out, errbuf, errsize); /* takes DB */
}
