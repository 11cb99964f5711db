/* store_pg_conn.c: the PostgreSQL driver's connection (store_pg.h): connect,
 * check the server, create or migrate the schema, prepare the statements;
 * then the pipeline: what was sent, in order, and its results read back,
 * each wait bounded. */
#include "store_pg.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- parameters and messages ------------------------------------------------------------ */

void pa_text(struct pg_args *a, const char *text)
{
        a->v[a->n++] = text;
}

void pa_int(struct pg_args *a, int64_t v)
{
        snprintf(a->num[a->n], sizeof a->num[a->n], "%lld", (long long)v);
        a->v[a->n] = a->num[a->n];
        a->n++;
}

/* libpq's message MSG on one line (it ends in a newline and may have
 * several), into DST. */
static void one_line(char *dst, size_t size, const char *msg)
{
        size_t n = 0;

        for (const char *p = msg ? msg : ""; *p && n + 3 < size; p++) {
                if (*p == '\n' || *p == '\t') {
                        if (p[1] && n > 0 && dst[n - 1] != ' ')
                                dst[n++] = *p == '\n' ? ';' : ' ', dst[n++] = ' ';
                        continue;
                }
                dst[n++] = *p;
        }
        while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == ';'))
                n--;
        dst[n] = '\0';
}

int pg_fail(struct pg_store *s, int fault, const char *fmt, ...)
{
        va_list ap;

        if (s->in_txn && s->fault) /* the first fault of a transaction is the one to tell */
                return fault;
        va_start(ap, fmt);
        vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
        va_end(ap);
        if (s->in_txn)
                s->fault = fault;
        return fault;
}

/* A SQLSTATE as a negative errno. */
static int state_errno(const char *st)
{
        static const struct {
                const char *state; /* a full SQLSTATE, or a class of two characters */
                int err;
        } map[] = {
                {"23505", -EEXIST},    {"53100", -ENOSPC},   {"53200", -ENOMEM},
                {"57014", -ETIMEDOUT}, {"57P01", -ENOTCONN}, {"57P02", -ENOTCONN},
                {"57P03", -ENOTCONN},  {"25006", -EROFS},    {"42501", -EACCES},
                {"40001", -EAGAIN},    {"40P01", -EAGAIN},   {"55P03", -EAGAIN},
                {"08", -ENOTCONN},     {"53", -EAGAIN},
        };

        for (size_t i = 0; st && i < sizeof map / sizeof map[0]; i++)
                if (strncmp(st, map[i].state, strlen(map[i].state)) == 0)
                        return map[i].err;
        return -EIO;
}

/* ---- the connection ------------------------------------------------------------------------ */

void pg_disconnect(struct pg_store *s)
{
        PQfinish(s->conn);
        s->conn = NULL;
        s->pending.head = s->pending.n = 0;
        s->reread = true; /* what was committed meanwhile is read again */
}

/* The connection is gone (or given up, WHY): record it, drop it. */
static int lost(struct pg_store *s, const char *why)
{
        char msg[300];
        int r;

        one_line(msg, sizeof msg, s->conn ? PQerrorMessage(s->conn) : "");
        r = pg_fail(s, -ENOTCONN, "the connection to PostgreSQL was lost%s%s: %s",
                    why ? " while " : "", why ? why : "", msg[0] ? msg : "no reason given");
        pg_disconnect(s);
        return r;
}

/* A WARNING from the server (PostgreSQL's notice that it stopped waiting for
 * a synchronous standby, among others) is counted: a commit whose result
 * comes after one is not known to be replicated. Notices never go to
 * stderr. */
static void on_notice(void *arg, const PGresult *res)
{
        struct pg_store *s = arg;
        const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);

        if (sev && strcmp(sev, "WARNING") == 0)
                s->warnings++;
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
        one_line(msg, sizeof msg, res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn));
        snprintf(s->errmsg, sizeof s->errmsg, "%s: %s", what, msg);
        r = state_errno(res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL);
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

/* What the session needs whatever the server's defaults: an ack is a
 * commit that waited for the disk (and, where the server has synchronous
 * standbys, for them), so a weaker synchronous_commit is raised to `on`;
 * the tools never write. */
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
        if (r == 0 && s->read_only)
                r = exec_plain(s, "SET default_transaction_read_only = on",
                               "cannot make the session read-only", NULL);
        return r;
}

static void stmt_name(enum pg_stmt id, char name[16])
{
        snprintf(name, 16, "rd%d", (int)id);
}

/* The pending list: one more entry. */
static int pending_push(struct pg_store *s, int what)
{
        struct pg_pending *p = &s->pending;

        if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 256;
                int *v = realloc(p->stmt, cap * sizeof *v);
                if (!v)
                        return pg_fail(s, -ENOMEM, "out of memory");
                p->stmt = v;
                p->cap = cap;
        }
        p->stmt[p->n++] = what;
        return 0;
}

static int drain(struct pg_store *s, size_t upto, PGresult **keep);

/* Prepare every statement, in one round trip. */
static int prepare_all(struct pg_store *s)
{
        char name[16];
        int r = 0;

        for (int i = 0; r == 0 && i < P__MAX; i++) {
                stmt_name((enum pg_stmt)i, name);
                r = pending_push(s, i);
                if (r == 0 && !PQsendPrepare(s->conn, name, pg_stmt_sql[i], 0, NULL))
                        return lost(s, "preparing the statements");
        }
        if (r == 0)
                r = pg_sync(s);
        if (r < 0)
                snprintf(s->errmsg + strlen(s->errmsg), sizeof s->errmsg - strlen(s->errmsg),
                         " (preparing the statements)");
        return r;
}

/* The counters as committed, into the store's memory. */
static int read_counters(struct pg_store *s)
{
        PGresult *res;
        int r = pg_read(s, P_COUNTERS, &(struct pg_args){0}, &res);

        if (r < 0)
                return r;
        if (PQntuples(res) != 1) {
                PQclear(res);
                return pg_fail(s, -EPROTO, "rd_counter does not hold one row");
        }
        s->last_seq = s->committed_seq = pg_int(res, 0, 0);
        s->last_rowid = s->committed_rowid = pg_int(res, 0, 1);
        s->reread = false;
        PQclear(res);
        return 0;
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
 * dbname) may set them otherwise; the password of password_file last. */
static PGconn *open_conn(const struct pg_store *s)
{
        const char *const keys[] = {"connect_timeout", "fallback_application_name",
                                    "client_encoding", "dbname",
                                    "password",        NULL};
        const char *const values[] = {PG_CONNECT_TIMEOUT, "referrald", "UTF8",
                                      s->conninfo,        s->password, NULL};

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
                one_line(msg, sizeof msg, PQerrorMessage(s->conn));
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
                one_line(msg, sizeof msg, PQerrorMessage(s->conn));
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
static int ensure_conn(struct pg_store *s)
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

/* ---- the pipeline ------------------------------------------------------------------------------
 */

/* The monotonic clock in ms: the bound of a wait (like SQLite's busy
 * timeout, a driver's own; never a time that the hub sees). */
static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ask the server to cancel what it runs (libpq 15's PQcancel opens a
 * connection of its own and waits for it). */
static void cancel(struct pg_store *s)
{
        PGcancel *c = PQgetCancel(s->conn);
        char err[256];

        if (c) {
                PQcancel(c, err, sizeof err);
                PQfreeCancel(c);
        }
}

/* Wait until PQgetResult can return without blocking, sending what is
 * queued meanwhile and reading what comes (so that neither side blocks
 * writing to the other). After PG_WAIT_MS the statement is cancelled;
 * after as long again the connection is given up. 0, or -ENOTCONN when
 * the connection was dropped. A connection that broke is left for
 * PQgetResult to tell (its last results may still be buffered). */
static int await(struct pg_store *s)
{
        int64_t deadline = mono_ms() + PG_WAIT_MS;
        bool cancelled = false;

        for (;;) {
                struct pollfd p = {.fd = PQsocket(s->conn), .events = POLLIN};
                int flushed = PQflush(s->conn);
                int64_t left;

                if (PQstatus(s->conn) == CONNECTION_BAD)
                        return 0;
                if (flushed < 0)
                        return lost(s, "sending");
                if (!PQconsumeInput(s->conn) || !PQisBusy(s->conn))
                        return 0;
                left = deadline - mono_ms();
                if (left <= 0 && cancelled)
                        return lost(s, "no answer within twice the wait, cancel included");
                if (left <= 0) {
                        cancel(s);
                        cancelled = true;
                        deadline = mono_ms() + PG_WAIT_MS;
                        continue;
                }
                if (flushed == 1)
                        p.events |= POLLOUT;
                if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
                        return lost(s, "waiting");
        }
}

/* The fault that RES, the result of a statement, stands for, or 0. */
static int result_fault(struct pg_store *s, const PGresult *res)
{
        ExecStatusType st = PQresultStatus(res);
        const char *state;
        char msg[300];

        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
                return 0;
        if (st == PGRES_PIPELINE_ABORTED)
                return s->fault ? s->fault
                                : pg_fail(s, -EIO, "a statement was skipped after one that failed");
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (!state && PQstatus(s->conn) == CONNECTION_BAD)
                return -ENOTCONN; /* told by the caller */
        if (state)
                s->refused = true;
        one_line(msg, sizeof msg, PQresultErrorMessage(res));
        return pg_fail(s, state_errno(state), "%s", msg);
}

/* Read the results of what was sent, in order, up to and including the
 * pending entry UPTO (SIZE_MAX: all). The result of UPTO, a statement,
 * goes to *KEEP when KEEP is not NULL and it succeeded. Returns 0 or the
 * first fault among them. A PG_SYNC entry ends with PGRES_PIPELINE_SYNC; a
 * statement with its result, then NULL. */
static int drain(struct pg_store *s, size_t upto, PGresult **keep)
{
        int r = 0;

        while (s->conn && s->pending.head < s->pending.n &&
               (upto == SIZE_MAX || s->pending.head <= upto)) {
                size_t i = s->pending.head;
                int what = s->pending.stmt[i], f;
                PGresult *res;

                if (await(s) < 0)
                        return s->fault ? s->fault : -ENOTCONN;
                res = PQgetResult(s->conn);
                if (!res || (PQstatus(s->conn) == CONNECTION_BAD &&
                             !PQresultErrorField(res, PG_DIAG_SQLSTATE) &&
                             PQresultStatus(res) == PGRES_FATAL_ERROR)) {
                        PQclear(res);
                        return lost(s, NULL);
                }
                s->pending.head++;
                if (what == PG_SYNC) {
                        f = PQresultStatus(res) == PGRES_PIPELINE_SYNC
                                    ? 0
                                    : pg_fail(s, -EPROTO, "a sync point got another result");
                        PQclear(res);
                } else {
                        f = result_fault(s, res);
                        if (what == P_COMMIT)
                                s->commit_result = f ? -1 : 1;
                        if (f == 0 && PQresultStatus(res) == PGRES_COMMAND_OK)
                                s->changes = strtoll(PQcmdTuples(res), NULL, 10);
                        if (f == 0 && i == upto && keep)
                                *keep = res;
                        else
                                PQclear(res);
                        if (await(s) < 0)
                                return s->fault ? s->fault : -ENOTCONN;
                        res = PQgetResult(s->conn); /* the NULL that ends its results */
                        if (res) {
                                PQclear(res);
                                return lost(s, "a statement had more than one result");
                        }
                }
                if (f < 0 && r == 0)
                        r = f;
        }
        if (s->pending.head == s->pending.n)
                s->pending.head = s->pending.n = 0;
        return r;
}

int pg_send(struct pg_store *s, enum pg_stmt id, const struct pg_args *a)
{
        char name[16];

        int r = pending_push(s, id);

        stmt_name(id, name);
        if (r == 0 && !PQsendQueryPrepared(s->conn, name, a->n, a->v, NULL, NULL, 0))
                return lost(s, "sending");
        return r;
}

int pg_sync(struct pg_store *s)
{
        int r;

        if (!s->conn)
                return s->fault ? s->fault : -ENOTCONN;
        r = pending_push(s, PG_SYNC);
        if (r == 0 && !PQpipelineSync(s->conn))
                return lost(s, "sending");
        return r < 0 ? r : drain(s, SIZE_MAX, NULL);
}

void pg_push(struct pg_store *s)
{
        if (s->conn && PQflush(s->conn) >= 0)
                PQconsumeInput(s->conn); /* results the server sent meanwhile, kept for later */
}

/* Send statement ID with A and wait for its result: inside a transaction
 * behind what is queued (a flush request), outside it as a transaction of
 * its own (a sync point). 0 and *RES (when RES), or a negative errno. */
static int exec_wait(struct pg_store *s, enum pg_stmt id, const struct pg_args *a, PGresult **res)
{
        size_t at;
        int r = ensure_conn(s), r2;

        if (r == 0 && s->in_txn && s->fault)
                r = s->fault;
        if (r == 0)
                r = pg_send(s, id, a);
        if (r < 0)
                return r;
        at = s->pending.n - 1;
        if (s->in_txn) {
                if (!PQsendFlushRequest(s->conn))
                        return lost(s, "sending");
                return drain(s, at, res);
        }
        r = pending_push(s, PG_SYNC);
        if (r == 0 && !PQpipelineSync(s->conn))
                return lost(s, "sending");
        if (r == 0)
                r = drain(s, at, res);
        r2 = drain(s, SIZE_MAX, NULL); /* the sync point: the transaction ends */
        if (r == 0)
                r = r2;
        if (r < 0 && res && *res) {
                PQclear(*res);
                *res = NULL;
        }
        return r;
}

int pg_read(struct pg_store *s, enum pg_stmt id, const struct pg_args *a, PGresult **res)
{
        *res = NULL;
        return exec_wait(s, id, a, res);
}

/* ---- the write log
 * ------------------------------------------------------------------------------- */

#define PG_LOG_NULL UINT32_MAX

static int log_put(struct pg_store *s, const void *p, size_t n)
{
        struct pg_log *l = &s->log;

        if (l->len + n > l->cap) {
                size_t cap = l->cap ? l->cap : 64 * 1024;
                char *b;
                while (cap < l->len + n)
                        cap *= 2;
                b = realloc(l->buf, cap);
                if (!b)
                        return pg_fail(s, -ENOMEM, "out of memory");
                l->buf = b;
                l->cap = cap;
        }
        memcpy(l->buf + l->len, p, n);
        l->len += n;
        return 0;
}

static int log_append(struct pg_store *s, enum pg_stmt id, const struct pg_args *a)
{
        uint32_t head[2] = {(uint32_t)id, (uint32_t)a->n};
        int r = log_put(s, head, sizeof head);

        for (int i = 0; r == 0 && i < a->n; i++) {
                uint32_t len = a->v[i] ? (uint32_t)strlen(a->v[i]) : PG_LOG_NULL;
                r = log_put(s, &len, sizeof len);
                if (r == 0 && a->v[i])
                        r = log_put(s, a->v[i], len + 1);
        }
        return r;
}

int pg_log_replay(struct pg_store *s, size_t from, size_t to)
{
        const char *p = s->log.buf + from, *end = s->log.buf + to;
        int r = 0;

        while (r == 0 && p < end) {
                struct pg_args a = {0};
                uint32_t head[2], len;

                memcpy(head, p, sizeof head);
                p += sizeof head;
                for (uint32_t i = 0; i < head[1]; i++) {
                        memcpy(&len, p, sizeof len);
                        p += sizeof len;
                        a.v[a.n++] = len == PG_LOG_NULL ? NULL : p;
                        if (len != PG_LOG_NULL)
                                p += len + 1;
                }
                r = pg_send(s, (enum pg_stmt)head[0], &a);
        }
        return r;
}

int pg_write(struct pg_store *s, enum pg_stmt id, const struct pg_args *a, bool log)
{
        int r;

        if (!s->in_txn)
                return exec_wait(s, id, a, NULL);
        if (s->fault)
                return s->fault;
        if (!s->conn)
                return pg_fail(s, -ENOTCONN, "not connected");
        if (log) {
                r = log_append(s, id, a);
                if (r < 0)
                        return r;
                s->request_wrote = true;
        }
        return pg_send(s, id, a);
}

int pg_write_wait(struct pg_store *s, enum pg_stmt id, const struct pg_args *a, int64_t *changes)
{
        int r = s->in_txn && s->conn && !s->fault ? log_append(s, id, a) : 0;

        if (r == 0)
                r = exec_wait(s, id, a, NULL);
        if (r == 0) {
                if (s->in_txn)
                        s->request_wrote = true;
                *changes = s->changes;
        }
        return r;
}

/* ---- rows
 * ------------------------------------------------------------------------------------------- */

int64_t pg_int(const PGresult *res, int row, int i)
{
        return PQgetisnull(res, row, i) ? 0 : strtoll(PQgetvalue(res, row, i), NULL, 10);
}

void pg_text(const PGresult *res, int row, int i, char *dst, size_t size)
{
        snprintf(dst, size, "%s", PQgetisnull(res, row, i) ? "" : PQgetvalue(res, row, i));
}

void pg_read_row(const PGresult *res, int row, struct rd_stored *o)
{
        memset(o, 0, sizeof *o);
        o->rowid = pg_int(res, row, 0);
        rd_store_format_id(o->rowid, o->id);
        pg_text(res, row, 1, o->partner, sizeof o->partner);
        pg_text(res, row, 2, o->ref, sizeof o->ref);
        pg_text(res, row, 3, o->digest, sizeof o->digest);
        o->received_ms = pg_int(res, row, 4);
        o->status = (enum rd_status)pg_int(res, row, 5);
        pg_text(res, row, 6, o->rule, sizeof o->rule);
        pg_text(res, row, 7, o->team, sizeof o->team);
        pg_text(res, row, 8, o->connector, sizeof o->connector);
        o->start_by_ms = pg_int(res, row, 9);
        o->expected_start_ms = pg_int(res, row, 10);
        o->offered_ms = pg_int(res, row, 11);
        o->offer_expires_ms = pg_int(res, row, 12);
        o->started_ms = pg_int(res, row, 13);
        o->expected_end_ms = pg_int(res, row, 14);
        pg_text(res, row, 15, o->forward_to, sizeof o->forward_to);
        pg_text(res, row, 16, o->reason, sizeof o->reason);
        o->last_seq = pg_int(res, row, 17);
        o->urgency = (enum rd_urgency)pg_int(res, row, 18);
        o->first_offered_ms = pg_int(res, row, 19);
        o->at_risk_fired = (int)pg_int(res, row, 20);
        o->missed_fired = (int)pg_int(res, row, 21);
        o->final_ms = pg_int(res, row, 22);
        o->erased_ms = pg_int(res, row, 23);
}
