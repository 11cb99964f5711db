#include "store.h"
#include "sqlite_pragmas.h"
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Schema migrations: MIGRATIONS[i] takes user_version i to i + 1. Never
 * edit a released step; append a new one. */
static const char *const migrations[] = {
        /* 0 -> 1 */
        "CREATE TABLE referrals ("
        "  rowid INTEGER PRIMARY KEY,"
        "  partner TEXT NOT NULL,"
        "  ref TEXT NOT NULL,"
        "  digest TEXT NOT NULL,"
        "  received_ms INTEGER NOT NULL,"
        "  content TEXT," /* the referral as JSON, personal data included */
        "  status INTEGER NOT NULL,"
        "  rule TEXT NOT NULL DEFAULT '',"
        "  team TEXT NOT NULL DEFAULT '',"
        "  connector TEXT NOT NULL DEFAULT '',"
        "  start_by_ms INTEGER NOT NULL DEFAULT 0,"
        "  expected_start_ms INTEGER NOT NULL DEFAULT 0,"
        "  offered_ms INTEGER NOT NULL DEFAULT 0,"
        "  offer_expires_ms INTEGER NOT NULL DEFAULT 0,"
        "  started_ms INTEGER NOT NULL DEFAULT 0,"
        "  expected_end_ms INTEGER NOT NULL DEFAULT 0,"
        "  forward_to TEXT NOT NULL DEFAULT '',"
        "  reason TEXT NOT NULL DEFAULT '',"
        "  trace TEXT,"
        "  rules_digest TEXT NOT NULL DEFAULT '',"
        "  last_seq INTEGER NOT NULL DEFAULT 0,"
        "  urgency INTEGER NOT NULL DEFAULT 0,"
        "  first_offered_ms INTEGER NOT NULL DEFAULT 0,"
        "  at_risk_fired INTEGER NOT NULL DEFAULT 0,"
        "  missed_fired INTEGER NOT NULL DEFAULT 0,"
        "  candidates TEXT NOT NULL DEFAULT ''," /* waitlisted: who may take it */
        "  final_ms INTEGER NOT NULL DEFAULT 0," /* when it reached a final status */
        "  erased_ms INTEGER NOT NULL DEFAULT 0,"
        "  UNIQUE (partner, ref));"
        "CREATE INDEX referrals_last_seq ON referrals (last_seq);"
        "CREATE INDEX referrals_open ON referrals (status) WHERE status IN (1, 2, 4, 5);"
        /* deadlines: the loop asks for the earliest of each kind */
        "CREATE INDEX referrals_offer_due ON referrals (offer_expires_ms)"
        "  WHERE status = 1 AND offer_expires_ms > 0;"
        "CREATE INDEX referrals_at_risk_due ON referrals (start_by_ms)"
        "  WHERE status IN (1, 2, 4) AND at_risk_fired = 0 AND start_by_ms > 0;"
        "CREATE INDEX referrals_missed_due ON referrals (start_by_ms)"
        "  WHERE status IN (1, 2, 4) AND missed_fired = 0 AND start_by_ms > 0;"
        "CREATE INDEX referrals_erase_due ON referrals (final_ms)"
        "  WHERE erased_ms = 0 AND final_ms > 0;"
        "CREATE TABLE offered (" /* every connector ever offered a referral */
        "  connector TEXT NOT NULL,"
        "  referral INTEGER NOT NULL,"
        "  PRIMARY KEY (connector, referral)) WITHOUT ROWID;"
        "CREATE TABLE audit (" /* who read personal data or changed what; never the data */
        "  n INTEGER PRIMARY KEY,"
        "  at_ms INTEGER NOT NULL,"
        "  client TEXT NOT NULL,"
        "  role TEXT NOT NULL,"
        "  action TEXT NOT NULL,"
        "  referral TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX audit_at ON audit (at_ms);"
        "CREATE TABLE declines (" /* who declined or let an offer lapse */
        "  referral INTEGER NOT NULL,"
        "  connector TEXT NOT NULL,"
        "  PRIMARY KEY (referral, connector)) WITHOUT ROWID;"
        "CREATE TABLE events ("
        "  seq INTEGER PRIMARY KEY,"
        "  referral INTEGER,"
        "  body TEXT NOT NULL);"
        "CREATE INDEX events_referral ON events (referral) WHERE referral IS NOT NULL;"
        "CREATE TABLE offer_counts (connector TEXT PRIMARY KEY, count INTEGER NOT NULL)"
        "  WITHOUT ROWID;"
        "CREATE TABLE round_robin (rule TEXT PRIMARY KEY, connector TEXT NOT NULL)"
        "  WITHOUT ROWID;",
        /* 1 -> 2: the waitlist stays on disk. An index in waitlist order
         * (the hub reads its head from it), and how many referrals wait for
         * each set of candidates (the forecast counts those ahead without
         * reading them), kept by triggers so that it cannot drift. */
        "CREATE INDEX referrals_waiting ON referrals (urgency DESC, start_by_ms, rowid)"
        "  WHERE status = 2;"
        "CREATE TABLE waiting_sets (candidates TEXT PRIMARY KEY, count INTEGER NOT NULL)"
        "  WITHOUT ROWID;"
        "INSERT INTO waiting_sets SELECT candidates, count(*) FROM referrals WHERE status = 2"
        "  GROUP BY candidates;"
        "CREATE TRIGGER waiting_in AFTER INSERT ON referrals WHEN new.status = 2 BEGIN"
        "  INSERT INTO waiting_sets VALUES (new.candidates, 1)"
        "    ON CONFLICT (candidates) DO UPDATE SET count = count + 1;"
        "END;"
        "CREATE TRIGGER waiting_change AFTER UPDATE OF status, candidates ON referrals"
        "  WHEN old.status = 2 OR new.status = 2 BEGIN"
        "  UPDATE waiting_sets SET count = count - 1"
        "    WHERE old.status = 2 AND candidates = old.candidates;"
        "  DELETE FROM waiting_sets WHERE candidates = old.candidates AND count <= 0;"
        "  INSERT INTO waiting_sets SELECT new.candidates, 1 WHERE new.status = 2"
        "    ON CONFLICT (candidates) DO UPDATE SET count = count + 1;"
        "END;"
        "CREATE TRIGGER waiting_out AFTER DELETE ON referrals WHEN old.status = 2 BEGIN"
        "  UPDATE waiting_sets SET count = count - 1 WHERE candidates = old.candidates;"
        "  DELETE FROM waiting_sets WHERE candidates = old.candidates AND count <= 0;"
        "END;"
        /* facts about the whole database, such as the routing file every
         * waiting referral's candidates were worked out with */
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
        /* the columns `stats` counts, so that its scans read this index and
         * not the rows with their content and trace (2.4 KB each) */
        "CREATE INDEX referrals_figures ON referrals (status, forward_to, received_ms,"
        "  first_offered_ms, started_ms, start_by_ms);",
};
#define N_MIGRATIONS (sizeof migrations / sizeof migrations[0])

enum stmt_id {
        S_BEGIN,
        S_COMMIT,
        S_ROLLBACK,
        S_SAVEPOINT,
        S_RELEASE,
        S_ROLLBACK_TO,
        S_FIND,
        S_GET,
        S_CONTENT,
        S_INSERT,
        S_UPDATE,
        S_TRACE,
        S_EVENT,
        S_LAST_SEQ_OF,
        S_EVENTS,
        S_HISTORY,
        S_LIST_ALL,
        S_LIST_PARTNER,
        S_LIST_CONNECTOR,
        S_EVENTS_PARTNER,
        S_EVENTS_CONNECTOR,
        S_OFFERED_ADD,
        S_OFFERED_HAS,
        S_AUDIT_ADD,
        S_AUDIT_LIST,
        S_AUDIT_PURGE,
        S_COUNTS,
        S_WINDOW,
        S_OPEN,
        S_OFFER,
        S_OFFERS,
        S_RR_SET,
        S_RR_ALL,
        S_MAX_SEQ,
        S_DECLINE_ADD,
        S_DECLINES,
        S_CANDIDATES_SET,
        S_WAITING_HEAD,
        S_WAITING_SAME,
        S_WAITING_LOWER,
        S_WAITING_SETS,
        S_META_GET,
        S_META_SET,
        S_DUE_OFFER,
        S_DUE_AT_RISK,
        S_DUE_MISSED,
        S_NEXT,
        S_OFFERS_OPEN,
        S_DURATIONS_OFFER,
        S_DURATIONS_START,
        S_FORWARDS,
        S_WAIT_OLDEST,
        S_ERASE,
        S_DUE_ERASE,
        S_NEXT_ERASE,
        S_COUNT
};

#define COLS                                                                                       \
        "rowid, partner, ref, digest, received_ms, status, rule, team, connector, start_by_ms, "   \
        "expected_start_ms, offered_ms, offer_expires_ms, started_ms, expected_end_ms, "           \
        "forward_to, reason, last_seq, urgency, first_offered_ms, at_risk_fired, missed_fired, "   \
        "final_ms, erased_ms"

/* The deadline and waitlist statements name their partial index: the
 * planner, without statistics, would otherwise take referrals_figures
 * (status first) and scan every referral of that status. */
static const char *const stmt_sql[S_COUNT] = {
        [S_BEGIN] = "BEGIN IMMEDIATE",
        [S_COMMIT] = "COMMIT",
        [S_ROLLBACK] = "ROLLBACK",
        [S_SAVEPOINT] = "SAVEPOINT req",
        [S_RELEASE] = "RELEASE req",
        [S_ROLLBACK_TO] = "ROLLBACK TO req",
        [S_FIND] = "SELECT " COLS " FROM referrals WHERE partner = ?1 AND ref = ?2",
        [S_GET] = "SELECT " COLS " FROM referrals WHERE rowid = ?1",
        [S_CONTENT] = "SELECT content, trace, rules_digest FROM referrals WHERE rowid = ?1",
        [S_INSERT] = "INSERT INTO referrals (partner, ref, digest, received_ms, content, status,"
                     " urgency, rule, team, connector, start_by_ms, expected_start_ms,"
                     " offered_ms, offer_expires_ms, first_offered_ms, forward_to, reason,"
                     " final_ms, trace, rules_digest, candidates, last_seq)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?13,"
                     " ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
        [S_UPDATE] = "UPDATE referrals SET status = ?2, rule = ?3, team = ?4, connector = ?5,"
                     " start_by_ms = ?6, expected_start_ms = ?7, offered_ms = ?8,"
                     " offer_expires_ms = ?9, started_ms = ?10, expected_end_ms = ?11,"
                     " forward_to = ?12, reason = ?13,"
                     " first_offered_ms = CASE WHEN first_offered_ms = 0 THEN ?8"
                     "   ELSE first_offered_ms END,"
                     " at_risk_fired = ?14, missed_fired = ?15, final_ms = ?16 WHERE rowid = ?1",
        [S_TRACE] = "UPDATE referrals SET trace = ?2, rules_digest = ?3 WHERE rowid = ?1",
        [S_EVENT] = "INSERT INTO events (seq, referral, body) VALUES (?1, ?2, ?3)",
        [S_LAST_SEQ_OF] = "UPDATE referrals SET last_seq = ?2 WHERE rowid = ?1",
        [S_EVENTS] = "SELECT body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        [S_HISTORY] = "SELECT body FROM events WHERE referral = ?1 ORDER BY seq",
        [S_LIST_ALL] = "SELECT " COLS " FROM referrals WHERE last_seq > ?1"
                       " AND (?3 < 0 OR status = ?3) ORDER BY last_seq LIMIT ?2",
        [S_LIST_PARTNER] = "SELECT " COLS " FROM referrals WHERE last_seq > ?1"
                           " AND (?3 < 0 OR status = ?3) AND (partner = ?4 OR forward_to = ?4)"
                           " ORDER BY last_seq LIMIT ?2",
        [S_LIST_CONNECTOR] = "SELECT " COLS " FROM referrals WHERE last_seq > ?1"
                             " AND (?3 < 0 OR status = ?3)"
                             " AND rowid IN (SELECT referral FROM offered WHERE connector = ?4)"
                             " ORDER BY last_seq LIMIT ?2",
        [S_EVENTS_PARTNER] = "SELECT e.body FROM events e JOIN referrals r ON r.rowid = e.referral"
                             " WHERE e.seq > ?1 AND (r.partner = ?3 OR r.forward_to = ?3)"
                             " ORDER BY e.seq LIMIT ?2",
        [S_EVENTS_CONNECTOR] = "SELECT body FROM events WHERE seq > ?1 AND referral IN"
                               " (SELECT referral FROM offered WHERE connector = ?3)"
                               " ORDER BY seq LIMIT ?2",
        [S_OFFERED_ADD] = "INSERT OR IGNORE INTO offered (connector, referral) VALUES (?1, ?2)",
        [S_OFFERED_HAS] = "SELECT 1 FROM offered WHERE connector = ?1 AND referral = ?2",
        [S_AUDIT_ADD] = "INSERT INTO audit (at_ms, client, role, action, referral)"
                        " VALUES (?1, ?2, ?3, ?4, ?5)",
        [S_AUDIT_LIST] = "SELECT n, at_ms, client, role, action, referral FROM audit"
                         " WHERE n > ?1 AND (?3 = '' OR referral = ?3) ORDER BY n LIMIT ?2",
        [S_AUDIT_PURGE] = "DELETE FROM audit WHERE at_ms < ?1",
        [S_COUNTS] = "SELECT status, count(*) FROM referrals GROUP BY status",
        [S_WINDOW] = "SELECT count(*), coalesce(sum(started_ms <= start_by_ms), 0)"
                     " FROM referrals WHERE started_ms > 0",
        [S_OPEN] = "SELECT " COLS " FROM referrals WHERE status IN (1, 4, 5)",
        [S_OFFER] = "INSERT INTO offer_counts (connector, count) VALUES (?1, 1)"
                    " ON CONFLICT (connector) DO UPDATE SET count = count + 1",
        [S_OFFERS] = "SELECT connector, count FROM offer_counts",
        [S_RR_SET] = "INSERT INTO round_robin (rule, connector) VALUES (?1, ?2)"
                     " ON CONFLICT (rule) DO UPDATE SET connector = excluded.connector",
        [S_RR_ALL] = "SELECT rule, connector FROM round_robin",
        [S_MAX_SEQ] = "SELECT coalesce(max(seq), 0) FROM events",
        [S_DECLINE_ADD] = "INSERT OR IGNORE INTO declines (referral, connector) VALUES (?1, ?2)",
        [S_DECLINES] = "SELECT connector FROM declines WHERE referral = ?1",
        [S_CANDIDATES_SET] = "UPDATE referrals SET candidates = ?2 WHERE rowid = ?1",
        /* the waitlist in its order, from the head or after a place in it
         * (two statements, so that each is one range of referrals_waiting) */
        [S_WAITING_HEAD] = "SELECT " COLS ", candidates FROM referrals INDEXED BY referrals_waiting"
                           " WHERE status = 2"
                           " ORDER BY urgency DESC, start_by_ms, rowid LIMIT ?1",
        [S_WAITING_SAME] = "SELECT " COLS ", candidates FROM referrals INDEXED BY referrals_waiting"
                           " WHERE status = 2"
                           " AND urgency = ?2 AND (start_by_ms, rowid) > (?3, ?4)"
                           " ORDER BY urgency DESC, start_by_ms, rowid LIMIT ?1",
        [S_WAITING_LOWER] =
                "SELECT " COLS ", candidates FROM referrals INDEXED BY referrals_waiting"
                " WHERE status = 2"
                " AND urgency < ?2 ORDER BY urgency DESC, start_by_ms, rowid LIMIT ?1",
        [S_WAITING_SETS] = "SELECT candidates, count FROM waiting_sets WHERE count > 0",
        [S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
        [S_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [S_DUE_OFFER] = "SELECT " COLS " FROM referrals INDEXED BY referrals_offer_due WHERE "
                        "status = 1 AND offer_expires_ms > 0"
                        " AND offer_expires_ms <= ?1 ORDER BY offer_expires_ms LIMIT ?2",
        [S_DUE_AT_RISK] =
                "SELECT " COLS
                " FROM referrals INDEXED BY referrals_at_risk_due WHERE status IN (1, 2, 4)"
                " AND at_risk_fired = 0 AND start_by_ms > 0 AND start_by_ms <= ?1"
                " ORDER BY start_by_ms LIMIT ?2",
        [S_DUE_MISSED] = "SELECT " COLS
                         " FROM referrals INDEXED BY referrals_missed_due WHERE status IN (1, 2, 4)"
                         " AND missed_fired = 0 AND start_by_ms > 0 AND start_by_ms <= ?1"
                         " ORDER BY start_by_ms LIMIT ?2",
        [S_NEXT] = "SELECT"
                   " (SELECT min(offer_expires_ms) FROM referrals INDEXED BY referrals_offer_due"
                   "   WHERE status = 1 AND offer_expires_ms > 0),"
                   " (SELECT min(start_by_ms) FROM referrals INDEXED BY referrals_at_risk_due"
                   "   WHERE status IN (1, 2, 4) AND at_risk_fired = 0 AND start_by_ms > 0),"
                   " (SELECT min(start_by_ms) FROM referrals INDEXED BY referrals_missed_due"
                   "   WHERE status IN (1, 2, 4) AND missed_fired = 0 AND start_by_ms > 0)",
        [S_OFFERS_OPEN] = "SELECT " COLS " FROM referrals WHERE status = 1",
        [S_DURATIONS_OFFER] = "SELECT first_offered_ms - received_ms FROM referrals"
                              " WHERE first_offered_ms > 0 ORDER BY 1",
        [S_DURATIONS_START] = "SELECT started_ms - received_ms FROM referrals"
                              " WHERE started_ms > 0 ORDER BY 1",
        [S_FORWARDS] = "SELECT forward_to, count(*) FROM referrals WHERE status = 3"
                       " GROUP BY forward_to ORDER BY 2 DESC, 1",
        [S_ERASE] = "UPDATE referrals SET content = ?2, trace = ?3, erased_ms = ?4"
                    " WHERE rowid = ?1",
        [S_DUE_ERASE] = "SELECT " COLS " FROM referrals INDEXED BY referrals_erase_due WHERE "
                        "erased_ms = 0 AND final_ms > 0"
                        " AND final_ms <= ?1 ORDER BY final_ms LIMIT ?2",
        [S_NEXT_ERASE] = "SELECT min(final_ms) FROM referrals INDEXED BY referrals_erase_due WHERE "
                         "erased_ms = 0 AND final_ms > 0",
        [S_WAIT_OLDEST] = "SELECT count(*), coalesce(min(received_ms), 0) FROM referrals"
                          " WHERE status = 2",
};

struct rd_store {
        sqlite3 *db;
        sqlite3_stmt *stmt[S_COUNT];
        int64_t last_seq;      /* newest seq, including the open transaction */
        int64_t committed_seq; /* newest committed seq */
        int64_t savepoint_seq; /* last_seq when the request savepoint began */
};

/* status values on disk are the enum's numbers; the partial index and
 * S_OPEN rely on assigned=1, waitlisted=2, accepted=4, started=5. */
_Static_assert(RD_STATUS_ASSIGNED == 1 && RD_STATUS_WAITLISTED == 2 && RD_STATUS_ACCEPTED == 4 &&
                       RD_STATUS_STARTED == 5,
               "status numbers are stored on disk");

const char *rd_store_errmsg(struct rd_store *store)
{
        return store && store->db ? sqlite3_errmsg(store->db) : "no database";
}

static int sql_err(int rc)
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

static sqlite3_stmt *prep(struct rd_store *s, enum stmt_id id)
{
        sqlite3_stmt *st = s->stmt[id];
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return st;
}

/* Run a statement without rows. */
static int run(struct rd_store *s, enum stmt_id id)
{
        sqlite3_stmt *st = prep(s, id);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : sql_err(rc);
}

static int step_done(sqlite3_stmt *st)
{
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : sql_err(rc);
}

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

static int exec_sql(sqlite3 *db, const char *sql, char *errbuf, size_t errsize)
{
        char *msg = NULL;
        int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
                snprintf(errbuf, errsize, "%s", msg ? msg : sqlite3_errstr(rc));
                sqlite3_free(msg);
                return sql_err(rc);
        }
        return 0;
}

static int migrate(sqlite3 *db, char *errbuf, size_t errsize)
{
        sqlite3_stmt *st = NULL;
        int version, r;

        if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW) {
                snprintf(errbuf, errsize, "cannot read the schema version: %s", sqlite3_errmsg(db));
                sqlite3_finalize(st);
                return -EIO;
        }
        version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (version > (int)N_MIGRATIONS) {
                snprintf(errbuf, errsize,
                         "the database has schema version %d, newer than this referrald "
                         "(%d): use a newer referrald",
                         version, (int)N_MIGRATIONS);
                return -EPROTO;
        }
        for (; version < (int)N_MIGRATIONS; version++) {
                char pragma[64];
                r = exec_sql(db, "BEGIN IMMEDIATE", errbuf, errsize);
                if (r < 0)
                        return r;
                snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version + 1);
                r = exec_sql(db, migrations[version], errbuf, errsize);
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

int rd_store_open(const char *path, bool synchronous_full, struct rd_store **out, char *errbuf,
                  size_t errsize)
{
        struct rd_store *s = calloc(1, sizeof *s);
        sqlite3_stmt *st;
        int fd, r, rc;

        errbuf[0] = '\0';
        if (!s)
                return -ENOMEM;
        r = make_parent(path);
        if (r < 0) {
                snprintf(errbuf, errsize, "cannot create the folder of the database: %s",
                         strerror(-r));
                goto fail;
        }
        /* Create the file ourselves so that it is 0600 whatever the umask. */
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
                r = -errno;
                snprintf(errbuf, errsize, "cannot open the database file: %s", strerror(errno));
                goto fail;
        }
        if (fchmod(fd, 0600) < 0) {
                r = -errno;
                close(fd);
                snprintf(errbuf, errsize, "cannot make the database file 0600: %s", strerror(-r));
                goto fail;
        }
        close(fd);
        rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
        if (rc != SQLITE_OK) {
                r = sql_err(rc);
                snprintf(errbuf, errsize, "cannot open the database: %s",
                         s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
                goto fail;
        }
        sqlite3_extended_result_codes(s->db, 0);
        sqlite3_busy_timeout(s->db, RD_SQLITE_BUSY_TIMEOUT_MS);
        r = exec_sql(s->db, synchronous_full ? RD_SQLITE_PRAGMAS_FULL : RD_SQLITE_PRAGMAS_NORMAL,
                     errbuf, errsize);
        if (r < 0)
                goto fail;
        r = migrate(s->db, errbuf, errsize);
        if (r < 0)
                goto fail;
        for (int i = 0; i < S_COUNT; i++) {
                rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                        &s->stmt[i], NULL);
                if (rc != SQLITE_OK) {
                        r = sql_err(rc);
                        snprintf(errbuf, errsize, "cannot prepare a statement: %s",
                                 sqlite3_errmsg(s->db));
                        goto fail;
                }
        }
        st = prep(s, S_MAX_SEQ);
        if (sqlite3_step(st) != SQLITE_ROW) {
                r = -EIO;
                snprintf(errbuf, errsize, "cannot read the last event: %s", sqlite3_errmsg(s->db));
                goto fail;
        }
        s->last_seq = s->committed_seq = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        *out = s;
        return 0;
fail:
        rd_store_close(s);
        return r;
}

void rd_store_close(struct rd_store *s)
{
        if (!s)
                return;
        for (int i = 0; i < S_COUNT; i++)
                sqlite3_finalize(s->stmt[i]);
        sqlite3_close(s->db);
        free(s);
}

int rd_store_begin(struct rd_store *s)
{
        return run(s, S_BEGIN);
}

int rd_store_commit(struct rd_store *s)
{
        int r = run(s, S_COMMIT);
        if (r == 0)
                s->committed_seq = s->last_seq;
        return r;
}

void rd_store_rollback(struct rd_store *s)
{
        if (!sqlite3_get_autocommit(s->db))
                run(s, S_ROLLBACK);
        s->last_seq = s->committed_seq;
}

int rd_store_request_begin(struct rd_store *s)
{
        s->savepoint_seq = s->last_seq;
        return run(s, S_SAVEPOINT);
}

int rd_store_request_end(struct rd_store *s, bool keep)
{
        int r;
        if (keep)
                return run(s, S_RELEASE);
        r = run(s, S_ROLLBACK_TO);
        s->last_seq = s->savepoint_seq;
        if (r == 0)
                r = run(s, S_RELEASE);
        return r;
}

static void col_text(sqlite3_stmt *st, int i, char *dst, size_t size)
{
        const unsigned char *v = sqlite3_column_text(st, i);
        snprintf(dst, size, "%s", v ? (const char *)v : "");
}

static void make_id(int64_t rowid, char id[RD_RID_MAX])
{
        snprintf(id, RD_RID_MAX, "R%06lld", (long long)rowid);
}

static void read_row(sqlite3_stmt *st, struct rd_stored *o)
{
        memset(o, 0, sizeof *o);
        o->rowid = sqlite3_column_int64(st, 0);
        make_id(o->rowid, o->id);
        col_text(st, 1, o->partner, sizeof o->partner);
        col_text(st, 2, o->ref, sizeof o->ref);
        col_text(st, 3, o->digest, sizeof o->digest);
        o->received_ms = sqlite3_column_int64(st, 4);
        o->status = (enum rd_status)sqlite3_column_int(st, 5);
        col_text(st, 6, o->rule, sizeof o->rule);
        col_text(st, 7, o->team, sizeof o->team);
        col_text(st, 8, o->connector, sizeof o->connector);
        o->start_by_ms = sqlite3_column_int64(st, 9);
        o->expected_start_ms = sqlite3_column_int64(st, 10);
        o->offered_ms = sqlite3_column_int64(st, 11);
        o->offer_expires_ms = sqlite3_column_int64(st, 12);
        o->started_ms = sqlite3_column_int64(st, 13);
        o->expected_end_ms = sqlite3_column_int64(st, 14);
        col_text(st, 15, o->forward_to, sizeof o->forward_to);
        col_text(st, 16, o->reason, sizeof o->reason);
        o->last_seq = sqlite3_column_int64(st, 17);
        o->urgency = (enum rd_urgency)sqlite3_column_int(st, 18);
        o->first_offered_ms = sqlite3_column_int64(st, 19);
        o->at_risk_fired = sqlite3_column_int(st, 20);
        o->missed_fired = sqlite3_column_int(st, 21);
        o->final_ms = sqlite3_column_int64(st, 22);
        o->erased_ms = sqlite3_column_int64(st, 23);
}

static int fetch_one(sqlite3_stmt *st, struct rd_stored *out)
{
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                read_row(st, out);
                sqlite3_reset(st);
                return 0;
        }
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? -ENOENT : sql_err(rc);
}

int rd_store_find(struct rd_store *s, const char *partner, const char *ref, struct rd_stored *out)
{
        sqlite3_stmt *st = prep(s, S_FIND);
        sqlite3_bind_text(st, 1, partner, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ref, -1, SQLITE_STATIC);
        return fetch_one(st, out);
}

/* Parse "R" + decimal digits. */
static int parse_id(const char *id, int64_t *rowid)
{
        char *end;
        long long v;
        if (!id || id[0] != 'R' || id[1] < '0' || id[1] > '9' || strlen(id) > 19)
                return -ENOENT;
        errno = 0;
        v = strtoll(id + 1, &end, 10);
        if (errno || *end || v <= 0)
                return -ENOENT;
        *rowid = v;
        return 0;
}

int rd_store_get(struct rd_store *s, const char *id, struct rd_stored *out)
{
        int64_t rowid;
        sqlite3_stmt *st;
        struct rd_stored tmp;
        int r = parse_id(id, &rowid);
        if (r < 0)
                return r;
        st = prep(s, S_GET);
        sqlite3_bind_int64(st, 1, rowid);
        r = fetch_one(st, &tmp);
        if (r < 0)
                return r;
        if (strcmp(tmp.id, id) != 0) /* "R1" and "R000001" are not the same id */
                return -ENOENT;
        *out = tmp;
        return 0;
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
        const char *v = (const char *)sqlite3_column_text(st, i);
        return v ? json_loads(v, 0, NULL) : NULL;
}

int rd_store_content(struct rd_store *s, int64_t rowid, json_t **content, json_t **trace,
                     char rules_digest[65])
{
        sqlite3_stmt *st = prep(s, S_CONTENT);
        int rc;

        sqlite3_bind_int64(st, 1, rowid);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
                sqlite3_reset(st);
                return rc == SQLITE_DONE ? -ENOENT : sql_err(rc);
        }
        if (content)
                *content = col_json(st, 0);
        if (trace)
                *trace = col_json(st, 1);
        if (rules_digest)
                col_text(st, 2, rules_digest, 65);
        sqlite3_reset(st);
        return 0;
}

int rd_store_insert(struct rd_store *s, struct rd_stored *st, const char *content,
                    const char *trace, const char *rules_digest, const char *candidates)
{
        sqlite3_stmt *stmt = prep(s, S_INSERT);
        int rc;

        sqlite3_bind_text(stmt, 1, st->partner, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, st->ref, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, st->digest, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, st->received_ms);
        sqlite3_bind_text(stmt, 5, content, -1, SQLITE_STATIC);
        sqlite3_bind_int(stmt, 6, (int)st->status);
        sqlite3_bind_int(stmt, 7, (int)st->urgency);
        sqlite3_bind_text(stmt, 8, st->rule, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 9, st->team, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 10, st->connector, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 11, st->start_by_ms);
        sqlite3_bind_int64(stmt, 12, st->expected_start_ms);
        sqlite3_bind_int64(stmt, 13, st->offered_ms);
        sqlite3_bind_int64(stmt, 14, st->offer_expires_ms);
        sqlite3_bind_text(stmt, 15, st->forward_to, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 16, st->reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 17, st->final_ms);
        if (trace)
                sqlite3_bind_text(stmt, 18, trace, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 19, rules_digest ? rules_digest : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 20, candidates ? candidates : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 21, st->last_seq);
        rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        if (rc == SQLITE_CONSTRAINT)
                return -EEXIST;
        if (rc != SQLITE_DONE)
                return sql_err(rc);
        st->rowid = sqlite3_last_insert_rowid(s->db);
        make_id(st->rowid, st->id);
        st->first_offered_ms = st->offered_ms;
        return 0;
}

int rd_store_update(struct rd_store *s, const struct rd_stored *o)
{
        sqlite3_stmt *st = prep(s, S_UPDATE);
        sqlite3_bind_int64(st, 1, o->rowid);
        sqlite3_bind_int(st, 2, (int)o->status);
        sqlite3_bind_text(st, 3, o->rule, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, o->team, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, o->connector, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, o->start_by_ms);
        sqlite3_bind_int64(st, 7, o->expected_start_ms);
        sqlite3_bind_int64(st, 8, o->offered_ms);
        sqlite3_bind_int64(st, 9, o->offer_expires_ms);
        sqlite3_bind_int64(st, 10, o->started_ms);
        sqlite3_bind_int64(st, 11, o->expected_end_ms);
        sqlite3_bind_text(st, 12, o->forward_to, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 13, o->reason, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 14, o->at_risk_fired);
        sqlite3_bind_int(st, 15, o->missed_fired);
        sqlite3_bind_int64(st, 16, o->final_ms);
        return step_done(st);
}

int rd_store_set_trace(struct rd_store *s, int64_t rowid, const json_t *trace,
                       const char *rules_digest)
{
        char *text = trace ? json_dumps(trace, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        sqlite3_stmt *st;
        int r;

        if (trace && !text)
                return -ENOMEM;
        st = prep(s, S_TRACE);
        sqlite3_bind_int64(st, 1, rowid);
        if (text)
                sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, rules_digest ? rules_digest : "", -1, SQLITE_STATIC);
        r = step_done(st);
        sqlite3_clear_bindings(st);
        free(text);
        return r;
}

int rd_store_append_event(struct rd_store *s, struct rd_event *ev, int64_t rowid, unsigned flags,
                          char **text_out)
{
        json_t *body;
        char *text;
        sqlite3_stmt *st;
        int r;

        ev->seq = s->last_seq + 1;
        body = rd_event_to_json(ev);
        text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(body);
        if (!text)
                return -ENOMEM;
        st = prep(s, S_EVENT);
        sqlite3_bind_int64(st, 1, ev->seq);
        if (rowid > 0)
                sqlite3_bind_int64(st, 2, rowid);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
        r = step_done(st);
        sqlite3_clear_bindings(st);
        if (r == 0 && rowid > 0 && !(flags & RD_EVENT_KEEP_LAST_SEQ)) {
                st = prep(s, S_LAST_SEQ_OF);
                sqlite3_bind_int64(st, 1, rowid);
                sqlite3_bind_int64(st, 2, ev->seq);
                r = step_done(st);
        }
        if (r == 0) {
                s->last_seq = ev->seq;
                if (text_out) {
                        *text_out = text;
                        text = NULL;
                }
        }
        free(text);
        return r;
}

int64_t rd_store_last_seq(const struct rd_store *s)
{
        return s->last_seq;
}

/* Append the JSON text of column 0 of each row of ST to ARR. */
static int rows_json(sqlite3_stmt *st, json_t *arr)
{
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_t *v = col_json(st, 0);
                if (!v || json_array_append_new(arr, v) < 0) {
                        sqlite3_reset(st);
                        return -ENOMEM;
                }
        }
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : sql_err(rc);
}

int rd_store_events(struct rd_store *s, int64_t since, int64_t limit,
                    const struct rd_viewer *viewer, json_t *arr)
{
        enum stmt_id id = !viewer || viewer->kind == RD_VIEW_ALL ? S_EVENTS
                          : viewer->kind == RD_VIEW_PARTNER      ? S_EVENTS_PARTNER
                                                                 : S_EVENTS_CONNECTOR;
        sqlite3_stmt *st = prep(s, id);
        sqlite3_bind_int64(st, 1, since);
        sqlite3_bind_int64(st, 2, limit);
        if (id != S_EVENTS)
                sqlite3_bind_text(st, 3, viewer->id, -1, SQLITE_STATIC);
        return rows_json(st, arr);
}

int rd_store_history(struct rd_store *s, int64_t rowid, json_t *arr)
{
        sqlite3_stmt *st = prep(s, S_HISTORY);
        sqlite3_bind_int64(st, 1, rowid);
        return rows_json(st, arr);
}

static int list_item(json_t *arr, const struct rd_stored *o)
{
        char buf[RD_TIME_STR];
        json_t *it = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:I}", "id", o->id,
                               "partner", o->partner, "ref", o->ref, "status",
                               rd_status_name(o->status), "team", o->team[0] ? o->team : NULL,
                               "connector", o->connector[0] ? o->connector : NULL, "start_by",
                               o->start_by_ms ? rd_time_format(o->start_by_ms, buf) : NULL, "seq",
                               (json_int_t)o->last_seq);
        if (!it)
                return -ENOMEM;
        return json_array_append_new(arr, it) < 0 ? -ENOMEM : 0;
}

int rd_store_list(struct rd_store *s, int status, int64_t since, int64_t limit,
                  const struct rd_viewer *viewer, json_t *arr)
{
        enum stmt_id id = !viewer || viewer->kind == RD_VIEW_ALL ? S_LIST_ALL
                          : viewer->kind == RD_VIEW_PARTNER      ? S_LIST_PARTNER
                                                                 : S_LIST_CONNECTOR;
        sqlite3_stmt *st = prep(s, id);
        struct rd_stored o;
        int rc, r = 0;

        sqlite3_bind_int64(st, 1, since);
        sqlite3_bind_int64(st, 2, limit);
        sqlite3_bind_int(st, 3, status);
        if (id != S_LIST_ALL)
                sqlite3_bind_text(st, 4, viewer->id, -1, SQLITE_STATIC);
        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                read_row(st, &o);
                r = list_item(arr, &o);
        }
        sqlite3_reset(st);
        if (r < 0)
                return r;
        return rc == SQLITE_DONE ? 0 : sql_err(rc);
}

int rd_store_visible(struct rd_store *s, const struct rd_stored *o, const struct rd_viewer *viewer)
{
        sqlite3_stmt *st;
        int rc;

        if (!viewer || viewer->kind == RD_VIEW_ALL)
                return 1;
        if (viewer->kind == RD_VIEW_PARTNER)
                return strcmp(o->partner, viewer->id) == 0 ||
                       strcmp(o->forward_to, viewer->id) == 0;
        st = prep(s, S_OFFERED_HAS);
        sqlite3_bind_text(st, 1, viewer->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, o->rowid);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW)
                return 1;
        return rc == SQLITE_DONE ? 0 : sql_err(rc);
}

int rd_store_audit(struct rd_store *s, int64_t at_ms, const char *client, const char *role,
                   const char *action, const char *referral_id)
{
        sqlite3_stmt *st = prep(s, S_AUDIT_ADD);
        sqlite3_bind_int64(st, 1, at_ms);
        sqlite3_bind_text(st, 2, client, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, action, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, referral_id ? referral_id : "", -1, SQLITE_STATIC);
        return step_done(st);
}

int rd_store_audit_list(struct rd_store *s, int64_t since, int64_t limit, const char *referral_id,
                        json_t *arr, int64_t *last)
{
        sqlite3_stmt *st = prep(s, S_AUDIT_LIST);
        char at[RD_TIME_STR];
        int rc;

        sqlite3_bind_int64(st, 1, since);
        sqlite3_bind_int64(st, 2, limit);
        sqlite3_bind_text(st, 3, referral_id ? referral_id : "", -1, SQLITE_STATIC);
        *last = since;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "n",
                                      (json_int_t)sqlite3_column_int64(st, 0), "at",
                                      rd_time_format(sqlite3_column_int64(st, 1), at), "client",
                                      (const char *)sqlite3_column_text(st, 2), "role",
                                      (const char *)sqlite3_column_text(st, 3), "action",
                                      (const char *)sqlite3_column_text(st, 4), "id",
                                      (const char *)sqlite3_column_text(st, 5));
                if (!o || json_array_append_new(arr, o) < 0) {
                        sqlite3_reset(st);
                        return -ENOMEM;
                }
                *last = sqlite3_column_int64(st, 0);
        }
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : sql_err(rc);
}

int rd_store_audit_purge(struct rd_store *s, int64_t before_ms)
{
        sqlite3_stmt *st = prep(s, S_AUDIT_PURGE);
        int r;
        sqlite3_bind_int64(st, 1, before_ms);
        r = step_done(st);
        return r < 0 ? r : sqlite3_changes(s->db);
}

int rd_store_count_by_status(struct rd_store *s, int64_t counts[RD_STATUS__MAX])
{
        sqlite3_stmt *st = prep(s, S_COUNTS);
        int rc;

        for (int i = 0; i < RD_STATUS__MAX; i++)
                counts[i] = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                int status = sqlite3_column_int(st, 0);
                if (status >= 0 && status < RD_STATUS__MAX)
                        counts[status] = sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : sql_err(rc);
}

int rd_store_window_counts(struct rd_store *s, int64_t *started, int64_t *in_time)
{
        sqlite3_stmt *st = prep(s, S_WINDOW);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                *started = sqlite3_column_int64(st, 0);
                *in_time = sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
        return rc == SQLITE_ROW ? 0 : sql_err(rc);
}

/* Call FN for each referral row statement ID yields; stop at FN's
 * non-zero value and return it. */
static int each_row(struct rd_store *s, enum stmt_id id,
                    int (*fn)(void *ctx, const struct rd_stored *st), void *ctx)
{
        sqlite3_stmt *st = prep(s, id);
        struct rd_stored o;
        int rc, r = 0;

        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                read_row(st, &o);
                r = fn(ctx, &o);
        }
        sqlite3_reset(st);
        if (r)
                return r;
        return rc == SQLITE_DONE ? 0 : sql_err(rc);
}

int rd_store_each_open(struct rd_store *s, int (*fn)(void *ctx, const struct rd_stored *st),
                       void *ctx)
{
        return each_row(s, S_OPEN, fn, ctx);
}

int rd_store_offer_made(struct rd_store *s, int64_t rowid, const char *connector)
{
        sqlite3_stmt *st = prep(s, S_OFFER);
        int r;
        sqlite3_bind_text(st, 1, connector, -1, SQLITE_STATIC);
        r = step_done(st);
        if (r < 0)
                return r;
        st = prep(s, S_OFFERED_ADD);
        sqlite3_bind_text(st, 1, connector, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, rowid);
        return step_done(st);
}

/* Call FN with the text and the count of each row of statement ID (an
 * empty string for a NULL text). 0, FN's non-zero value, or -EIO. */
static int each_text_count(struct rd_store *s, enum stmt_id id,
                           int (*fn)(void *ctx, const char *text, int64_t count), void *ctx)
{
        sqlite3_stmt *st = prep(s, id);
        int rc, r = 0;

        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                const unsigned char *t = sqlite3_column_text(st, 0);
                r = fn(ctx, t ? (const char *)t : "", sqlite3_column_int64(st, 1));
        }
        sqlite3_reset(st);
        if (r)
                return r;
        return rc == SQLITE_DONE ? 0 : sql_err(rc);
}

int rd_store_each_offer_count(struct rd_store *s,
                              int (*fn)(void *ctx, const char *connector, int64_t count), void *ctx)
{
        return each_text_count(s, S_OFFERS, fn, ctx);
}

int rd_store_set_rr(struct rd_store *s, const char *rule, const char *connector)
{
        sqlite3_stmt *st = prep(s, S_RR_SET);
        sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, connector, -1, SQLITE_STATIC);
        return step_done(st);
}

int rd_store_each_rr(struct rd_store *s,
                     int (*fn)(void *ctx, const char *rule, const char *connector), void *ctx)
{
        sqlite3_stmt *st = prep(s, S_RR_ALL);
        int rc, r = 0;

        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
                r = fn(ctx, (const char *)sqlite3_column_text(st, 0),
                       (const char *)sqlite3_column_text(st, 1));
        sqlite3_reset(st);
        if (r)
                return r;
        return rc == SQLITE_DONE ? 0 : sql_err(rc);
}

int rd_store_add_decline(struct rd_store *s, int64_t rowid, const char *connector)
{
        sqlite3_stmt *st = prep(s, S_DECLINE_ADD);
        sqlite3_bind_int64(st, 1, rowid);
        sqlite3_bind_text(st, 2, connector, -1, SQLITE_STATIC);
        return step_done(st);
}

int rd_store_each_decline(struct rd_store *s, int64_t rowid,
                          int (*fn)(void *ctx, const char *connector), void *ctx)
{
        sqlite3_stmt *st = prep(s, S_DECLINES);
        int rc, r = 0;

        sqlite3_bind_int64(st, 1, rowid);
        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
                r = fn(ctx, (const char *)sqlite3_column_text(st, 0));
        sqlite3_reset(st);
        if (r)
                return r;
        return rc == SQLITE_DONE ? 0 : sql_err(rc);
}

int rd_store_set_candidates(struct rd_store *s, int64_t rowid, const char *candidates)
{
        sqlite3_stmt *st = prep(s, S_CANDIDATES_SET);
        sqlite3_bind_int64(st, 1, rowid);
        sqlite3_bind_text(st, 2, candidates, -1, SQLITE_STATIC);
        return step_done(st);
}

/* Run STMT (LIMIT bound to ?1 already) through FN, counting rows in *N. */
static int each_waiting_stmt(sqlite3_stmt *st,
                             int (*fn)(void *ctx, const struct rd_stored *st,
                                       const char *candidates),
                             void *ctx, size_t *n)
{
        struct rd_stored o;
        int rc, r = 0;

        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                const unsigned char *c = sqlite3_column_text(st, 24);
                read_row(st, &o);
                (*n)++;
                r = fn(ctx, &o, c ? (const char *)c : "");
        }
        sqlite3_reset(st);
        if (r)
                return r;
        return rc == SQLITE_DONE ? 0 : sql_err(rc);
}

int rd_store_each_waiting(struct rd_store *s, const struct rd_wait_key *after, size_t limit,
                          int (*fn)(void *ctx, const struct rd_stored *st, const char *candidates),
                          void *ctx, size_t *count)
{
        sqlite3_stmt *st;
        size_t n = 0;
        int r;

        if (limit > INT64_MAX)
                limit = INT64_MAX;
        if (!after) {
                st = prep(s, S_WAITING_HEAD);
                sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
                r = each_waiting_stmt(st, fn, ctx, &n);
        } else {
                st = prep(s, S_WAITING_SAME);
                sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
                sqlite3_bind_int(st, 2, (int)after->urgency);
                sqlite3_bind_int64(st, 3, after->start_by_ms);
                sqlite3_bind_int64(st, 4, after->rowid);
                r = each_waiting_stmt(st, fn, ctx, &n);
                if (r == 0 && n < limit) {
                        st = prep(s, S_WAITING_LOWER);
                        sqlite3_bind_int64(st, 1, (sqlite3_int64)(limit - n));
                        sqlite3_bind_int(st, 2, (int)after->urgency);
                        r = each_waiting_stmt(st, fn, ctx, &n);
                }
        }
        if (r == 0 && count)
                *count = n;
        return r;
}

int rd_store_meta_get(struct rd_store *s, const char *key, char *buf, size_t size)
{
        sqlite3_stmt *st = prep(s, S_META_GET);
        int rc;

        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                const unsigned char *v = sqlite3_column_text(st, 0);
                snprintf(buf, size, "%s", v ? (const char *)v : "");
                sqlite3_reset(st);
                return 0;
        }
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? -ENOENT : sql_err(rc);
}

int rd_store_meta_set(struct rd_store *s, const char *key, const char *value)
{
        sqlite3_stmt *st = prep(s, S_META_SET);
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        return step_done(st);
}

int rd_store_each_waiting_set(struct rd_store *s,
                              int (*fn)(void *ctx, const char *candidates, int64_t count),
                              void *ctx)
{
        return each_text_count(s, S_WAITING_SETS, fn, ctx);
}

int rd_store_each_offer(struct rd_store *s, int (*fn)(void *ctx, const struct rd_stored *st),
                        void *ctx)
{
        return each_row(s, S_OFFERS_OPEN, fn, ctx);
}

int rd_store_next_deadlines(struct rd_store *s, int64_t *offer_expires, int64_t *at_risk_start_by,
                            int64_t *missed_start_by)
{
        sqlite3_stmt *st = prep(s, S_NEXT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                *offer_expires = sqlite3_column_int64(st, 0);
                *at_risk_start_by = sqlite3_column_int64(st, 1);
                *missed_start_by = sqlite3_column_int64(st, 2);
        }
        sqlite3_reset(st);
        return rc == SQLITE_ROW ? 0 : sql_err(rc);
}

int rd_store_due(struct rd_store *s, enum rd_deadline kind, int64_t threshold, int64_t limit,
                 struct rd_stored *rows, size_t *n)
{
        static const enum stmt_id ids[] = {[RD_DUE_OFFER] = S_DUE_OFFER,
                                           [RD_DUE_AT_RISK] = S_DUE_AT_RISK,
                                           [RD_DUE_MISSED] = S_DUE_MISSED,
                                           [RD_DUE_ERASE] = S_DUE_ERASE};
        sqlite3_stmt *st = prep(s, ids[kind]);
        size_t k = 0;
        int rc;

        sqlite3_bind_int64(st, 1, threshold);
        sqlite3_bind_int64(st, 2, limit);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < (size_t)limit)
                read_row(st, &rows[k++]);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
                return sql_err(rc);
        *n = k;
        return 0;
}

/* Median and 90th percentile of the durations that ST yields, ascending. */
static int percentiles(sqlite3_stmt *st, struct rd_durations *out)
{
        int64_t *v = NULL;
        size_t n = 0, cap = 0;
        int rc;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 256;
                        int64_t *nv = realloc(v, ncap * sizeof *nv);
                        if (!nv) {
                                free(v);
                                sqlite3_reset(st);
                                return -ENOMEM;
                        }
                        v = nv;
                        cap = ncap;
                }
                v[n++] = sqlite3_column_int64(st, 0);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
                free(v);
                return sql_err(rc);
        }
        out->count = (int64_t)n;
        /* nearest rank */
        out->p50_ms = n ? v[(n * 50 + 99) / 100 - 1] : 0;
        out->p90_ms = n ? v[(n * 90 + 99) / 100 - 1] : 0;
        free(v);
        return 0;
}

int rd_store_figures(struct rd_store *s, struct rd_figures *f)
{
        sqlite3_stmt *st;
        int rc, r;

        memset(f, 0, sizeof *f);
        r = percentiles(prep(s, S_DURATIONS_OFFER), &f->to_offer);
        if (r == 0)
                r = percentiles(prep(s, S_DURATIONS_START), &f->to_start);
        if (r < 0)
                return r;
        st = prep(s, S_FORWARDS);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && f->n_forwards < RD_FIGURES_FORWARDS_MAX) {
                col_text(st, 0, f->forwards[f->n_forwards].to,
                         sizeof f->forwards[f->n_forwards].to);
                f->forwards[f->n_forwards++].count = sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
                return sql_err(rc);
        st = prep(s, S_WAIT_OLDEST);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                f->waiting = sqlite3_column_int64(st, 0);
                f->oldest_waiting_received_ms = sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
        return rc == SQLITE_ROW ? 0 : sql_err(rc);
}

int rd_store_erase(struct rd_store *s, int64_t rowid, const json_t *content, const json_t *trace,
                   int64_t now_ms)
{
        char *c = json_dumps(content, JSON_COMPACT | JSON_PRESERVE_ORDER);
        char *t = trace ? json_dumps(trace, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        sqlite3_stmt *st;
        int r = -ENOMEM;

        if (c && (t || !trace)) {
                st = prep(s, S_ERASE);
                sqlite3_bind_int64(st, 1, rowid);
                sqlite3_bind_text(st, 2, c, -1, SQLITE_STATIC);
                if (t)
                        sqlite3_bind_text(st, 3, t, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 4, now_ms);
                r = step_done(st);
                sqlite3_clear_bindings(st);
        }
        free(c);
        free(t);
        return r;
}

int rd_store_next_erase(struct rd_store *s, int64_t *final_ms)
{
        sqlite3_stmt *st = prep(s, S_NEXT_ERASE);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *final_ms = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return rc == SQLITE_ROW ? 0 : sql_err(rc);
}

int rd_store_checkpoint(struct rd_store *s)
{
        int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        return rc == SQLITE_OK ? 0 : sql_err(rc);
}

int rd_store_backup(const char *src_path, const char *dst_path, char *errbuf, size_t errsize)
{
        sqlite3 *src = NULL, *dst = NULL;
        sqlite3_backup *b;
        int fd, rc, r = 0;

        errbuf[0] = '\0';
        rc = sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL);
        if (rc != SQLITE_OK) {
                snprintf(errbuf, errsize, "cannot open %s: %s", src_path,
                         src ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
                r = sql_err(rc);
                goto out;
        }
        /* the copy holds the same personal data: 0600, and never over a file */
        fd = open(dst_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
                r = -errno;
                snprintf(errbuf, errsize, "cannot create %s: %s", dst_path, strerror(errno));
                goto out;
        }
        fchmod(fd, 0600);
        close(fd);
        rc = sqlite3_open_v2(dst_path, &dst, SQLITE_OPEN_READWRITE, NULL);
        if (rc != SQLITE_OK) {
                snprintf(errbuf, errsize, "cannot open %s: %s", dst_path, sqlite3_errstr(rc));
                r = sql_err(rc);
                goto out;
        }
        sqlite3_busy_timeout(src, 5000);
        b = sqlite3_backup_init(dst, "main", src, "main");
        if (!b) {
                snprintf(errbuf, errsize, "cannot start the backup: %s", sqlite3_errmsg(dst));
                r = -EIO;
                goto out;
        }
        /* page by page, so that the daemon's writer is never held up long;
         * a page the daemon changes meanwhile makes SQLite start over */
        do {
                rc = sqlite3_backup_step(b, 256);
                if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
                        sqlite3_sleep(10);
        } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
        sqlite3_backup_finish(b);
        if (rc != SQLITE_DONE) {
                snprintf(errbuf, errsize, "the backup failed: %s", sqlite3_errstr(rc));
                r = sql_err(rc);
        }
out:
        sqlite3_close(dst);
        sqlite3_close(src);
        if (r < 0 && dst)
                unlink(dst_path);
        return r;
}
