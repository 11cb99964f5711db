/* store_pg_conn.c: the PostgreSQL driver's connection (store_pg.h): connect,
 * check the server, create or migrate the schema, set the session up,
 * enter pipeline mode, prepare the statements, read the counters. */
#include "store_pg.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the connection ------------------------------------------------------------------------ */

/* A WARNING from the server (PostgreSQL's notice that it stopped waiting for
 * a synchronous standby, among others) is counted: a commit whose result
 * comes after one is not known to be replicated. A FATAL one is the server
 * ending an idle session (pg_terminate_backend, a fast shutdown): what was
 * sent and not yet answered was never run. Notices never go to stderr. */
static void on_notice(void *arg, const PGresult *res)
{
        struct pg_store *s = arg;
        const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);

        if (sev && strcmp(sev, "WARNING") == 0)
                s->warnings++;
        else if (sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
                s->refused = true;
}

/* Run SQL with PQexec (before pipeline mode): 0 and, when KEEP, its result
 * (the caller's), or a negative errno with WHAT in the message. */
static int exec_plain(struct pg_store *s, const char *sql, const char *what, PGresult **keep)
{
        PGresult *res = PQexec(s->conn, sql);
        ExecStatusType st = PQresultStatus(res);
        char msg[300];
        int r;

        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
                if (keep)
                        *keep = res;
                else
                        PQclear(res);
                return 0;
        }
        pg_one_line(msg, sizeof msg, res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn));
        snprintf(s->errmsg, sizeof s->errmsg, "%s: %s", what, msg);
        r = pg_state_errno(res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL);
        PQclear(res);
        return r;
}

/* The schema version in the database (0: none yet) into *VERSION. */
static int schema_version(struct pg_store *s, int *version)
{
        PGresult *res = NULL;
        int r = exec_plain(s, "SELECT to_regclass('rd_schema') IS NOT NULL",
                           "cannot read the schema version", &res);

        if (r == 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
                PQclear(res);
                res = NULL;
                r = exec_plain(s, "SELECT version FROM rd_schema", "cannot read the schema version",
                               &res);
                *version = r == 0 && PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : -1;
        } else if (r == 0) {
                *version = 0;
        }
        PQclear(res);
        if (r == 0 && *version < 0) {
                snprintf(s->errmsg, sizeof s->errmsg, "rd_schema does not hold one version");
                return -EPROTO;
        }
        return r;
}

static int newer_schema(struct pg_store *s, int version)
{
        snprintf(s->errmsg, sizeof s->errmsg,
                 "the database has schema version %d, newer than this referrald (%d): use a "
                 "newer referrald",
                 version, (int)pg_n_migrations);
        return -EPROTO;
}

/* One step: in a transaction that holds the migration lock, read the
 * version and take it one step on. *DONE when it is current. */
static int migrate_step(struct pg_store *s, bool *done)
{
        char sql[96];
        int version = 0, r = exec_plain(s, "BEGIN", "cannot begin a migration", NULL);

        snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", (long long)PG_LOCK_MIGRATE);
        if (r == 0)
                r = exec_plain(s, sql, "cannot take the migration lock", NULL);
        if (r == 0)
                r = schema_version(s, &version);
        if (r == 0 && version > (int)pg_n_migrations)
                r = newer_schema(s, version);
        *done = r == 0 && version == (int)pg_n_migrations;
        if (r == 0 && !*done) {
                r = exec_plain(s, pg_migrations[version], "cannot migrate the schema", NULL);
                snprintf(sql, sizeof sql, "UPDATE rd_schema SET version = %d", version + 1);
                if (r == 0)
                        r = exec_plain(s, sql, "cannot migrate the schema", NULL);
        }
        if (r == 0)
                r = exec_plain(s, "COMMIT", "cannot commit a migration", NULL);
        if (r < 0)
                PQclear(PQexec(s->conn, "ROLLBACK"));
        return r;
}

/* Create or migrate the schema (one step per transaction); or, read-only,
 * refuse any version but this driver's. */
static int migrate(struct pg_store *s)
{
        bool done = false;
        int version, r;

        if (s->read_only) {
                r = schema_version(s, &version);
                if (r == 0 && version != (int)pg_n_migrations) {
                        snprintf(s->errmsg, sizeof s->errmsg,
                                 "the database has schema version %d, this program reads "
                                 "version %d only (and never migrates one)",
                                 version, (int)pg_n_migrations);
                        r = -EPROTO;
                }
                return r;
        }
        for (r = 0; r == 0 && !done;)
                r = migrate_step(s, &done);
        return r;
}

/* The server's side of the session's TCP connection, where neither the
 * server's configuration nor the conninfo (options=-c...) set it: a
 * daemon whose machine vanished loses its session, and with it the lead,
 * after about 5 + 2 * 3 s of silence (keepalives), or 9 s after data it
 * sent went unacknowledged (docs/operations.md, "Two machines"). Ignored
 * on a unix socket. */
#define SERVER_KEEPALIVES                                                                          \
        "SELECT set_config(name, v, false) FROM (VALUES ('tcp_keepalives_idle', '5'),"             \
        " ('tcp_keepalives_interval', '2'), ('tcp_keepalives_count', '3'),"                        \
        " ('tcp_user_timeout', '9000')) AS d (name, v) JOIN pg_settings USING (name)"              \
        " WHERE source = 'default'"

/* What the session needs whatever the server's defaults: an ack is a
 * commit that waited for the disk (and, where the server has synchronous
 * standbys, for them), so a weaker synchronous_commit is raised to `on`;
 * the server's keepalives (SERVER_KEEPALIVES); the tools never write. */
static int session(struct pg_store *s)
{
        PGresult *res = NULL;
        const char *v;
        int r = exec_plain(s, "SELECT current_setting('synchronous_commit')",
                           "cannot read synchronous_commit", &res);

        if (r < 0)
                return r;
        v = PQgetvalue(res, 0, 0);
        if (strcmp(v, "on") != 0 && strcmp(v, "remote_apply") != 0)
                r = exec_plain(s, "SET synchronous_commit = on", "cannot set synchronous_commit",
                               NULL);
        PQclear(res);
        if (r == 0)
                r = exec_plain(s, SERVER_KEEPALIVES, "cannot set the session's keepalives", NULL);
        if (r == 0 && s->read_only)
                r = exec_plain(s, "SET default_transaction_read_only = on",
                               "cannot make the session read-only", NULL);
        return r;
}

/* Prepare every statement, in one round trip. */
static int prepare_all(struct pg_store *s)
{
        char name[16];
        int r = 0;

        for (int i = 0; r == 0 && i < P__MAX; i++) {
                pg_stmt_name((enum pg_stmt)i, name);
                r = pg_pending_push(s, i);
                if (r == 0 && !PQsendPrepare(s->conn, name, pg_stmt_sql[i], 0, NULL))
                        return pg_lost(s, "preparing the statements");
        }
        if (r == 0)
                r = pg_sync(s);
        if (r < 0)
                snprintf(s->errmsg + strlen(s->errmsg), sizeof s->errmsg - strlen(s->errmsg),
                         " (preparing the statements)");
        return r;
}

int pg_counters_set(struct pg_store *s, const PGresult *res, int col)
{
        if (PQntuples(res) != 1)
                return pg_fail(s, -EPROTO, "rd_counter does not hold one row");
        s->last_seq = s->committed_seq = pg_int(res, 0, col);
        s->last_rowid = s->committed_rowid = pg_int(res, 0, col + 1);
        s->reread = false;
        return 0;
}

/* The counters as committed, into the store's memory. */
static int read_counters(struct pg_store *s)
{
        PGresult *res;
        int r = pg_read(s, P_COUNTERS, &(struct pg_args){0}, &res);

        if (r == 0)
                r = pg_counters_set(s, res, 0);
        if (r == 0)
                pg_lead_epoch_read(s, pg_int(res, 0, 2));
        PQclear(res);
        return r;
}

/* Check what the server is: 15 or newer, UTF-8. */
static int check_server(struct pg_store *s)
{
        const char *enc = PQparameterStatus(s->conn, "server_encoding");

        if (PQserverVersion(s->conn) < 150000) {
                snprintf(s->errmsg, sizeof s->errmsg,
                         "the server is PostgreSQL %d.%d; referrald needs 15 or newer",
                         PQserverVersion(s->conn) / 10000, PQserverVersion(s->conn) % 10000);
                return -EPROTO;
        }
        if (!enc || strcmp(enc, "UTF8") != 0) {
                snprintf(s->errmsg, sizeof s->errmsg,
                         "the database's encoding is %s; referrald needs UTF8 (createdb -E UTF8)",
                         enc ? enc : "unknown");
                return -EPROTO;
        }
        return 0;
}

/* libpq's own settings come first, so that the conninfo (expanded from
 * dbname) may set them otherwise; the password of password_file last.
 * Keepalives notice a server that vanished while the connection idles;
 * tcp_user_timeout bounds what is sent and not acknowledged (a COMMIT on
 * its way), and the connect of libpq 15's blocking PQcancel, so that no
 * wait of the driver outlasts the daemon's watchdog (30 s). */
static PGconn *open_conn(const struct pg_store *s)
{
        static const struct {
                const char *key, *value;
        } defaults[] = {
                {"connect_timeout", PG_CONNECT_TIMEOUT},
                {"tcp_user_timeout", "10000"}, /* ms */
                {"keepalives_idle", "10"},     /* s */
                {"keepalives_interval", "3"},
                {"keepalives_count", "3"},
                {"client_encoding", "UTF8"},
                {"fallback_application_name", "referrald"},
        };
        enum { N = sizeof defaults / sizeof defaults[0] };
        const char *keys[N + 3], *values[N + 3];

        for (size_t i = 0; i < N; i++) {
                keys[i] = defaults[i].key;
                values[i] = defaults[i].value;
        }
        keys[N] = "dbname";
        values[N] = s->conninfo;
        keys[N + 1] = "password";
        values[N + 1] = s->password;
        keys[N + 2] = values[N + 2] = NULL;
        return PQconnectdbParams(keys, values, 1);
}

int pg_connect(struct pg_store *s)
{
        char msg[400];
        int r;

        pg_disconnect(s);
        s->conn = open_conn(s);
        if (!s->conn) {
                snprintf(s->errmsg, sizeof s->errmsg, "out of memory");
                return -ENOMEM;
        }
        if (PQstatus(s->conn) != CONNECTION_OK) {
                pg_one_line(msg, sizeof msg, PQerrorMessage(s->conn));
                snprintf(s->errmsg, sizeof s->errmsg, "cannot connect: %s", msg);
                pg_disconnect(s);
                return -ENOTCONN;
        }
        PQsetNoticeReceiver(s->conn, on_notice, s);
        r = check_server(s);
        if (r == 0)
                r = migrate(s);
        if (r == 0)
                r = session(s);
        if (r == 0 && (!PQenterPipelineMode(s->conn) || PQsetnonblocking(s->conn, 1) != 0)) {
                pg_one_line(msg, sizeof msg, PQerrorMessage(s->conn));
                snprintf(s->errmsg, sizeof s->errmsg, "cannot enter pipeline mode: %s", msg);
                r = -EIO;
        }
        if (r == 0)
                r = prepare_all(s);
        if (r == 0)
                r = read_counters(s);
        if (r < 0)
                pg_disconnect(s);
        return r;
}

/* Connected, or connect now (outside a transaction only). */
int pg_ensure_conn(struct pg_store *s)
{
        if (s->conn)
                return 0;
        if (s->in_txn)
                return s->fault ? s->fault : pg_fail(s, -ENOTCONN, "not connected");
        return pg_connect(s);
}

int pg_ready(struct pg_store *s)
{
        if (!s->conn)
                return pg_connect(s); /* it reads the counters */
        return s->reread ? read_counters(s) : 0;
}
