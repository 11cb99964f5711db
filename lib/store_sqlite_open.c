/* store_sqlite_open.c: the SQLite driver's files: opening a database,
 * creating a new one so that no empty file is ever left at its path,
 * migrations, a store over a connection made elsewhere (the tools' copy,
 * store_sqlite_copy.c), and the online backup. */
#include "sqlite_mem.h"
#include "sqlite_pragmas.h"
#include "store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- SQLite itself ---------------------------------------------------------------------- */

/* SQLite's memory statistics off. With them on (SQLite's default), every
 * allocation of SQLite's takes a global mutex to count itself, about
 * 18,000 instructions per submit, although each connection is opened
 * NOMUTEX and nothing here reads them. The setting can change only before
 * SQLite initializes, which its first call of any kind does (opening a
 * connection, registering a VFS): so a constructor, which every program
 * that can open a store runs before its main, the daemon, the tools and
 * the tests alike. */
__attribute__((constructor)) static void sqlite_memstatus_off(void)
{
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* ---- the files -------------------------------------------------------------------------- */

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

/* fsync the file or folder PATH. 0 or a negative errno. */
static int sync_path(const char *path)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}

/* Remove the database PATH and the files SQLite keeps beside it. */
static void remove_files(const char *path)
{
        static const char *const suffix[] = {"", "-journal", "-wal", "-shm"};
        char name[PATH_MAX + 16];

        for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
                snprintf(name, sizeof name, "%s%s", path, suffix[i]);
                unlink(name);
        }
}

/* Put the finished file TMP at PATH, never over a file there: -EEXIST
 * when one is (made by another process meanwhile). */
static int put_in_place(const char *tmp, const char *path)
{
        char *copy;
        int r = 0;

        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
                if (errno != EINVAL && errno != ENOSYS)
                        return -errno;
                /* a file system without RENAME_NOREPLACE: link, then unlink */
                if (link(tmp, path) < 0)
                        return -errno;
                unlink(tmp);
        }
        copy = strdup(path); /* the rename itself must survive a power cut */
        if (!copy)
                return -ENOMEM;
        r = sync_path(dirname(copy));
        free(copy);
        return r;
}

/* The database file at PATH before SQLite opens it: 1 when it exists (made
 * 0600), 0 when there is none, or a negative errno with the reason in
 * ERRBUF. An empty file is no database (daemon.md rev 2): -ENODATA, and it
 * is left as it is. */
static int check_file(const char *path, char *errbuf, size_t errsize)
{
        struct stat sb;
        int r;

        if (stat(path, &sb) < 0) {
                if (errno == ENOENT)
                        return 0;
                r = -errno;
                snprintf(errbuf, errsize, "cannot read the database file: %s", strerror(-r));
                return r;
        }
        if (!S_ISREG(sb.st_mode)) {
                snprintf(errbuf, errsize, "the database path is not a regular file");
                return -EINVAL;
        }
        if (sb.st_size == 0) {
                snprintf(errbuf, errsize,
                         "the database file exists but is empty (0 bytes): it is not a "
                         "referrald database, and it is left as it is; restore the database "
                         "from a backup, or remove the empty file to start with a new one");
                return -ENODATA;
        }
        if (chmod(path, 0600) < 0) {
                r = -errno;
                snprintf(errbuf, errsize, "cannot make the database file 0600: %s", strerror(-r));
                return r;
        }
        return 1;
}

/* ---- the schema ------------------------------------------------------------------------- */

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

        if (r == 0 && version > n) {
                snprintf(errbuf, errsize,
                         "the database has schema version %d, newer than this referrald "
                         "(%d): use a newer referrald",
                         version, n);
                return -EPROTO;
        }
        for (; r == 0 && version < n; version++) {
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
                if (r < 0)
                        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        }
        return r;
}

/* Set up the writing connection DB as OPT says and bring its schema up to
 * date. */
static int set_up(sqlite3 *db, const struct rd_sqlite_options *opt, char *errbuf, size_t errsize)
{
        int r = exec_sql(db,
                         opt->synchronous_full ? RD_SQLITE_PRAGMAS_FULL : RD_SQLITE_PRAGMAS_NORMAL,
                         errbuf, errsize);

        if (r == 0 && opt->cache_pages) {
                char pragma[64];
                snprintf(pragma, sizeof pragma, "PRAGMA cache_size = %d", opt->cache_pages);
                r = exec_sql(db, pragma, errbuf, errsize);
        }
        return r == 0 ? migrate(db, errbuf, errsize) : r;
}

/* ---- a new database --------------------------------------------------------------------- */

/* Make a database at TMP (already created, empty) with the whole schema
 * committed, then close it with its log emptied into it: the one file TMP
 * is the database. */
static int make_schema(const char *tmp, const struct rd_sqlite_options *opt, char *errbuf,
                       size_t errsize)
{
        sqlite3 *db = NULL;
        int r, rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                                    opt->vfs);
        struct stat sb;
        char wal[PATH_MAX + 8];

        if (rc != SQLITE_OK) {
                snprintf(errbuf, errsize, "cannot create the database: %s",
                         db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
                sqlite3_close(db);
                return sq_err(rc);
        }
        r = set_up(db, opt, errbuf, errsize);
        if (r == 0 &&
            (rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL))) {
                snprintf(errbuf, errsize, "cannot create the database: %s", sqlite3_errmsg(db));
                r = sq_err(rc);
        }
        if (sqlite3_close(db) != SQLITE_OK && r == 0)
                r = -EIO;
        snprintf(wal, sizeof wal, "%s-wal", tmp);
        if (r == 0 && stat(wal, &sb) == 0 && sb.st_size > 0) {
                snprintf(errbuf, errsize, "cannot create the database: its log was not emptied");
                r = -EIO;
        }
        return r;
}

/* Create a new database at PATH, where there is none: under PATH.new,
 * renamed into place once its schema is committed and synced, so that an
 * interrupted first start leaves no file at PATH (daemon.md rev 2). What
 * such a start left at PATH.new is removed first. 0 also when another
 * process put a database at PATH meanwhile. */
static int create_database(const char *path, const struct rd_sqlite_options *opt, char *errbuf,
                           size_t errsize)
{
        char tmp[PATH_MAX];
        int fd, r = make_parent(path);

        if (r < 0) {
                snprintf(errbuf, errsize, "cannot create the folder of the database: %s",
                         strerror(-r));
                return r;
        }
        if ((size_t)snprintf(tmp, sizeof tmp, "%s.new", path) >= sizeof tmp)
                return -ENAMETOOLONG;
        remove_files(tmp);
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || fchmod(fd, 0600) < 0) { /* 0600 whatever the umask */
                r = -errno;
                snprintf(errbuf, errsize, "cannot create the database file: %s", strerror(-r));
                if (fd >= 0)
                        close(fd);
                remove_files(tmp);
                return r;
        }
        close(fd);
        r = make_schema(tmp, opt, errbuf, errsize);
        if (r == 0 && (r = sync_path(tmp)) < 0)
                snprintf(errbuf, errsize, "cannot sync the new database: %s", strerror(-r));
        if (r == 0 && (r = put_in_place(tmp, path)) < 0 && r != -EEXIST)
                snprintf(errbuf, errsize, "cannot put the new database in place: %s", strerror(-r));
        remove_files(tmp); /* after a failure, or a database of another process at PATH */
        return r == -EEXIST ? 0 : r;
}

/* ---- open ------------------------------------------------------------------------------ */

/* Open S's connection to the existing database PATH as OPT says. */
static int open_connection(struct sq_store *s, const char *path,
                           const struct rd_sqlite_options *opt, char *errbuf, size_t errsize)
{
        int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                                 opt->vfs);

        if (rc != SQLITE_OK) {
                snprintf(errbuf, errsize, "cannot open the database: %s",
                         s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
                return sq_err(rc);
        }
        sqlite3_extended_result_codes(s->db, 0);
        s->padded_wal = sq_pads_wal(s->db);
        /* no busy handler: the loop never waits on another process's lock
         * (a writer elsewhere makes a batch `unavailable`, a reader makes
         * the wipe of the log wait for a later attempt) */
        return set_up(s->db, opt, errbuf, errsize);
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

/* Make S's connection a store: every statement prepared, the last seq
 * read. 0 and *OUT, or a negative errno with ERRBUF (S is closed). */
static int finish(struct sq_store *s, struct rd_store **out, char *errbuf, size_t errsize)
{
        int r = prepare_all(s, errbuf, errsize);

        if (r == 0 && (r = sq_load_seq(s)) < 0)
                snprintf(errbuf, errsize, "cannot read the last event: %s", sqlite3_errmsg(s->db));
        if (r < 0) {
                rd_store_close(&s->base);
                return r;
        }
        *out = &s->base;
        return 0;
}

int rd_store_open_sqlite(const char *path, const struct rd_sqlite_options *options,
                         struct rd_store **out, char *errbuf, size_t errsize)
{
        static const struct rd_sqlite_options none;
        const struct rd_sqlite_options *opt = options ? options : &none;
        struct sq_store *s = calloc(1, sizeof *s);
        int r;

        errbuf[0] = '\0';
        rd_sqlite_mem_install(); /* SQLite's memory (cut 12); -EBUSY: its own, as before */
        if (!s)
                return -ENOMEM;
        s->base.ops = &sq_ops;
        s->base.caps = RD_STORE_CAN_WIPE | RD_STORE_SAVEPOINTS | RD_STORE_READ_ONLY;
        r = check_file(path, errbuf, errsize);
        if (r == 0)
                r = create_database(path, opt, errbuf, errsize);
        if (r >= 0)
                r = open_connection(s, path, opt, errbuf, errsize);
        if (r < 0) {
                rd_store_close(&s->base);
                return r;
        }
        return finish(s, out, errbuf, errsize);
}

int sq_store_adopt(sqlite3 *db, struct rd_store **out, char *errbuf, size_t errsize)
{
        struct sq_store *s = calloc(1, sizeof *s);

        if (!s) {
                sqlite3_close(db);
                return -ENOMEM;
        }
        s->base.ops = &sq_ops;
        s->base.caps = RD_STORE_SAVEPOINTS;
        s->db = db;
        sqlite3_extended_result_codes(s->db, 0);
        return finish(s, out, errbuf, errsize);
}

int rd_store_open(const char *path, bool synchronous_full, struct rd_store **out, char *errbuf,
                  size_t errsize)
{
        const struct rd_sqlite_options opt = {.synchronous_full = synchronous_full};
        return rd_store_open_sqlite(path, &opt, out, errbuf, errsize);
}

/* ---- backup ----------------------------------------------------------------------------- */

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

/* Every page in one step: one read transaction, as short as the copy, that
 * sees one snapshot however the daemon writes meanwhile (a copy in many
 * steps starts over whenever the daemon writes, and may never end). */
static int copy_pages(sqlite3 *src, sqlite3 *dst, char *errbuf, size_t errsize)
{
        sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
        int rc;

        if (!b) {
                snprintf(errbuf, errsize, "cannot start the backup: %s", sqlite3_errmsg(dst));
                return -EIO;
        }
        rc = sqlite3_backup_step(b, -1);
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
        sqlite3_busy_timeout(src, RD_SQLITE_BUSY_TIMEOUT_MS); /* a tool's */
        r = copy_pages(src, dst, errbuf, errsize);
out:
        sqlite3_close(dst);
        sqlite3_close(src);
        if (r < 0 && dst)
                unlink(dst_path);
        return r;
}
