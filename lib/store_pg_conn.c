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

/* ---- connecting ------------------------------------------------------------------------------ */

/* A copy of option KEY's value in OPTS (NULL when not set): 0 or -ENOMEM. */
static int option_copy(const PQconninfoOption *opts, const char *key, char **dst)
{
        for (const PQconninfoOption *o = opts; o->keyword; o++) {
                if (strcmp(o->keyword, key) != 0 || !o->val || !o->val[0])
                        continue;
                *dst = strdup(o->val);
                return *dst ? 0 : -ENOMEM;
        }
        *dst = NULL;
        return 0;
}

/* How many entries the comma-separated LIST holds (0: NULL). */
static size_t entries(const char *list)
{
        size_t n = list ? 1 : 0;

        for (; list && *list; list++)
                n += *list == ',';
        return n;
}

/* Whether LIST, comma-separated, has an empty entry ("db1," or the ","
 * that libpq's URI parser makes of the ports of postgresql://db1,db2/x). */
static bool has_empty_entry(const char *list)
{
        if (!list || !strchr(list, ','))
                return false;
        for (const char *e = list;; e++) {
                if ((*e == ',' || !*e) && (e == list || e[-1] == ','))
                        return true;
                if (!*e)
                        return false;
        }
}

/* LIST with each empty entry replaced by DFLT: a new string (NULL: out of
 * memory). */
static char *entries_filled(const char *list, const char *dflt)
{
        size_t n = entries(list), len = strlen(list) + n * strlen(dflt) + 1;
        char *out = malloc(len), *o = out;

        for (const char *e = list; out; e++) {
                if ((*e == ',' || !*e) && (e == list || e[-1] == ','))
                        o += snprintf(o, len - (size_t)(o - out), "%s", dflt);
                if (!*e)
                        break;
                *o++ = *e;
        }
        if (out)
                *o = '\0';
        return out;
}

/* libpq's port for an entry left empty (its compiled default, 5432). */
static void compiled_port(char *dst, size_t size)
{
        PQconninfoOption *opts = PQconndefaults();

        snprintf(dst, size, "%s", "5432");
        for (PQconninfoOption *o = opts; o && o->keyword; o++)
                if (strcmp(o->keyword, "port") == 0 && o->compiled)
                        snprintf(dst, size, "%s", o->compiled);
        PQconninfoFree(opts);
}

/* Make the lists of H name one host per entry, as attempt_start passes
 * them one entry at a time (libpq ignores an empty value there, which
 * would leave the whole list against one host): an empty port becomes
 * libpq's default for it; an empty host or hostaddr, which no value can
 * stand for, makes the hosts one attempt that libpq walks itself, given
 * connect_timeout for each. 0, or -ENOMEM. */
static int hosts_one_by_one(struct pg_hosts *h)
{
        char port[16];
        char *filled;

        if (h->n < 2)
                return 0;
        if (has_empty_entry(h->host) || has_empty_entry(h->hostaddr)) {
                h->timeout_s *= (int)h->n;
                free(h->host);
                free(h->hostaddr);
                free(h->port);
                h->host = h->hostaddr = h->port = NULL;
                h->n = 1;
                return 0;
        }
        if (!has_empty_entry(h->port))
                return 0;
        compiled_port(port, sizeof port);
        if (!(filled = entries_filled(h->port, port)))
                return -ENOMEM;
        free(h->port);
        h->port = filled;
        return 0;
}

void pg_hosts_free(struct pg_hosts *h)
{
        free(h->host);
        free(h->hostaddr);
        free(h->port);
        *h = (struct pg_hosts){0};
}

/* The hosts and connect_timeout of the connection just made, as libpq
 * read them from the conninfo, its environment and the driver's defaults
 * (libpq's rules: as many hosts as hostaddr has entries, else host; a
 * timeout below 2 s is 2 s). 0 or -ENOMEM. */
static int hosts_read(struct pg_store *s)
{
        PQconninfoOption *opts = PQconninfo(s->conn);
        char *timeout = NULL;
        int r = opts ? 0 : -ENOMEM;

        if (r == 0)
                r = option_copy(opts, "host", &s->hosts.host);
        if (r == 0)
                r = option_copy(opts, "hostaddr", &s->hosts.hostaddr);
        if (r == 0)
                r = option_copy(opts, "port", &s->hosts.port);
        if (r == 0)
                r = option_copy(opts, "connect_timeout", &timeout);
        for (PQconninfoOption *o = opts; o && o->keyword; o++)
                if (strcmp(o->keyword, "password") == 0 && o->val)
                        explicit_bzero(o->val, strlen(o->val));
        PQconninfoFree(opts);
        s->hosts.timeout_s = timeout ? atoi(timeout) : 0;
        if (s->hosts.timeout_s == 1)
                s->hosts.timeout_s = 2;
        s->hosts.timeout_s = s->hosts.timeout_s < 0 ? 0 : s->hosts.timeout_s;
        free(timeout);
        s->hosts.n = s->hosts.hostaddr ? entries(s->hosts.hostaddr) : entries(s->hosts.host);
        s->hosts.n = s->hosts.n ? s->hosts.n : 1;
        if (r == 0)
                r = hosts_one_by_one(&s->hosts);
        if (r < 0) {
                pg_hosts_free(&s->hosts);
                snprintf(s->errmsg, sizeof s->errmsg, "out of memory");
        }
        return r;
}

/* The keywords and values of a connection, NULL-terminated. */
#define PG_PARAMS_MAX 16
struct conn_params {
        const char *keys[PG_PARAMS_MAX], *values[PG_PARAMS_MAX];
        int n;
};

static void param(struct conn_params *p, const char *key, const char *value)
{
        p->keys[p->n] = key;
        p->values[p->n++] = value;
        p->keys[p->n] = p->values[p->n] = NULL;
}

/* libpq's own settings come first, so that the conninfo (expanded from
 * dbname) may set them otherwise; the password of password_file after it
 * (and what the caller adds, after that). Keepalives notice a server that
 * vanished while the connection idles; tcp_user_timeout bounds what is
 * sent and not acknowledged (a COMMIT on its way), and the connect of
 * libpq 15's blocking PQcancel, so that no wait of the driver outlasts the
 * daemon's watchdog (30 s). */
static void conn_params(const struct pg_store *s, struct conn_params *p)
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

        p->n = 0;
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
                param(p, defaults[i].key, defaults[i].value);
        param(p, "dbname", s->conninfo);
        param(p, "password", s->password);
}

/* After the connect: check the server, create or migrate the schema (not
 * when read-only), enter pipeline mode, prepare every statement and read
 * the counters; the connection closed on failure. */
static int set_up(struct pg_store *s)
{
        char msg[400];
        int r;

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

int pg_connect(struct pg_store *s)
{
        struct conn_params p;
        char msg[400];
        int r;

        pg_disconnect(s);
        conn_params(s, &p);
        s->conn = PQconnectdbParams(p.keys, p.values, 1);
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
        if (!s->hosts.n && (r = hosts_read(s)) < 0) {
                pg_disconnect(s);
                return r;
        }
        return set_up(s);
}

/* ---- a connection made without blocking (rd_store_lead) ------------------------------------- */

/* Entry I of LIST, a comma-separated list of more than one entry, into
 * DST: the value that makes host I of the conninfo the only one (libpq
 * splits these lists at every comma). NULL when LIST has one entry or
 * none: it stands for every host as it is. */
static const char *entry(const char *list, size_t i, char *dst, size_t size)
{
        const char *e;

        if (!list || !strchr(list, ','))
                return NULL;
        for (; i > 0 && list; i--)
                list = strchr(list, ',') ? strchr(list, ',') + 1 : NULL;
        if (!list)
                return NULL;
        e = strchr(list, ',');
        snprintf(dst, size, "%.*s", (int)(e ? (size_t)(e - list) : strlen(list)), list);
        return dst;
}

/* Start the attempt at host I of the conninfo (the first: a new attempt,
 * the reasons of the last forgotten). 0, or -ENOMEM. */
static int attempt_start(struct pg_store *s, size_t i, int64_t now_ms)
{
        struct conn_params p;
        char v[3][256];
        const char *host = entry(s->hosts.host, i, v[0], sizeof v[0]);
        const char *hostaddr = entry(s->hosts.hostaddr, i, v[1], sizeof v[1]);
        const char *port = entry(s->hosts.port, i, v[2], sizeof v[2]);

        if (i == 0) {
                pg_disconnect(s);
                s->connect_err[0] = '\0';
        }
        conn_params(s, &p);
        if (host)
                param(&p, "host", host);
        if (hostaddr)
                param(&p, "hostaddr", hostaddr);
        if (port)
                param(&p, "port", port);
        s->connecting = PQconnectStartParams(p.keys, p.values, 1);
        if (!s->connecting) {
                snprintf(s->errmsg, sizeof s->errmsg, "cannot connect: out of memory");
                return -ENOMEM;
        }
        s->connect_host = i;
        s->wants = PGRES_POLLING_WRITING; /* libpq's first wait */
        s->connect_deadline = s->hosts.timeout_s ? now_ms + s->hosts.timeout_s * 1000LL : INT64_MAX;
        return 0;
}

/* The host in hand failed (WHY: the driver's reason, NULL: libpq's): its
 * reason joins the attempt's, and its connection is closed. */
static void attempt_failed(struct pg_store *s, const char *why)
{
        size_t n = strlen(s->connect_err);
        char msg[300];

        if (why)
                snprintf(msg, sizeof msg, "connection to server at \"%s\", port %s failed: %s",
                         PQhost(s->connecting), PQport(s->connecting), why);
        else
                pg_one_line(msg, sizeof msg, PQerrorMessage(s->connecting));
        snprintf(s->connect_err + n, sizeof s->connect_err - n, "%s%s", n ? "; " : "", msg);
        PQfinish(s->connecting);
        s->connecting = NULL;
}

/* The host in hand, as far as its socket allows: 1 connected, 0 still in
 * flight, -1 failed or timed out (attempt_failed). PQconnectPoll is called
 * only when the socket is ready for what it waits for, as libpq asks. */
static int attempt_advance(struct pg_store *s, int64_t now_ms)
{
        struct pollfd p = {.fd = PQsocket(s->connecting),
                           .events = s->wants == PGRES_POLLING_READING ? POLLIN : POLLOUT};
        PostgresPollingStatusType st = s->wants;

        if (PQstatus(s->connecting) == CONNECTION_BAD)
                st = PGRES_POLLING_FAILED;
        else if (p.fd < 0 || poll(&p, 1, 0) > 0)
                st = PQconnectPoll(s->connecting);
        if (st == PGRES_POLLING_OK)
                return 1;
        if (st == PGRES_POLLING_FAILED) {
                attempt_failed(s, NULL);
                return -1;
        }
        s->wants = st;
        if (now_ms < s->connect_deadline)
                return 0;
        attempt_failed(s, "timeout expired");
        return -1;
}

int pg_connect_step(struct pg_store *s, int64_t now_ms)
{
        int r = s->connecting ? 0 : attempt_start(s, 0, now_ms);

        while (r == 0 && (r = attempt_advance(s, now_ms)) < 0) {
                if (s->connect_host + 1 >= s->hosts.n) {
                        snprintf(s->errmsg, sizeof s->errmsg, "cannot connect: %.480s",
                                 s->connect_err);
                        return -ENOTCONN;
                }
                r = attempt_start(s, s->connect_host + 1, now_ms);
        }
        if (r < 0)
                return r;
        if (r == 0)
                return RD_STORE_CONNECTING;
        s->conn = s->connecting;
        s->connecting = NULL;
        return set_up(s);
}

int pg_connect_fd(const struct rd_store *base, short *events, int64_t *deadline_ms)
{
        const struct pg_store *s = (const struct pg_store *)base;

        if (!s->connecting)
                return -1;
        *events = s->wants == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        *deadline_ms = s->connect_deadline;
        return PQsocket(s->connecting);
}

/* Connected, or connect now (outside a transaction only). */
int pg_ensure_conn(struct pg_store *s)
{
        if (s->conn)
                return 0;
        if (s->in_txn)
                return s->fault ? s->fault : pg_fail(s, -ENOTCONN, "not connected");
        if (s->lead_mode) /* rd_store_lead connects, without blocking */
                return -ENOTCONN;
        return pg_connect(s);
}

int pg_ready(struct pg_store *s)
{
        if (!s->conn)
                return pg_ensure_conn(s); /* pg_connect reads the counters */
        return s->reread ? read_counters(s) : 0;
}
