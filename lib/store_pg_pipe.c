/* store_pg_pipe.c: the PostgreSQL driver's pipeline (store_pg.h): what was
 * sent, in order, and its results read back, each wait bounded; the log of
 * the open transaction's writes; the rows of results. */
#include "store_pg.h"

#include <errno.h>
#include <poll.h>
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
void pg_one_line(char *dst, size_t size, const char *msg)
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
int pg_state_errno(const char *st)
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

/* ---- the connection's end ----------------------------------------------------------------- */

void pg_disconnect(struct pg_store *s)
{
        PQfinish(s->conn);
        s->conn = NULL;
        PQfinish(s->connecting);
        s->connecting = NULL;
        s->pending.head = s->pending.n = 0;
        s->reread = true;   /* what was committed meanwhile is read again */
        s->leading = false; /* the session that held the lead is gone */
}

/* The connection is gone (or given up, WHY): record it, drop it. */
int pg_lost(struct pg_store *s, const char *why)
{
        char msg[300];
        int r;

        pg_one_line(msg, sizeof msg, s->conn ? PQerrorMessage(s->conn) : "");
        r = pg_fail(s, -ENOTCONN, "the connection to PostgreSQL was lost%s%s: %s",
                    why ? " while " : "", why ? why : "", msg[0] ? msg : "no reason given");
        pg_disconnect(s);
        return r;
}

/* The pending list: one more entry. */
int pg_pending_push(struct pg_store *s, int what)
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
                        return pg_lost(s, "sending");
                if (!PQconsumeInput(s->conn) || !PQisBusy(s->conn))
                        return 0;
                left = deadline - mono_ms();
                if (left <= 0 && cancelled)
                        return pg_lost(s, "no answer within twice the wait, cancel included");
                if (left <= 0) {
                        cancel(s);
                        cancelled = true;
                        deadline = mono_ms() + PG_WAIT_MS;
                        continue;
                }
                if (flushed == 1)
                        p.events |= POLLOUT;
                if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
                        return pg_lost(s, "waiting");
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
        pg_one_line(msg, sizeof msg, PQresultErrorMessage(res));
        return pg_fail(s, pg_state_errno(state), "%s", msg);
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
                        return pg_lost(s, NULL);
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
                                return pg_lost(s, "a statement had more than one result");
                        }
                }
                if (f < 0 && r == 0)
                        r = f;
        }
        if (s->pending.head == s->pending.n)
                s->pending.head = s->pending.n = 0;
        return r;
}

void pg_stmt_name(enum pg_stmt id, char name[16])
{
        snprintf(name, 16, "rd%d", (int)id);
}

int pg_send(struct pg_store *s, enum pg_stmt id, const struct pg_args *a)
{
        char name[16];

        int r = pg_pending_push(s, id);

        pg_stmt_name(id, name);
        if (r == 0 && !PQsendQueryPrepared(s->conn, name, a->n, a->v, NULL, NULL, 0))
                return pg_lost(s, "sending");
        return r;
}

int pg_sync(struct pg_store *s)
{
        int r;

        if (!s->conn)
                return s->fault ? s->fault : -ENOTCONN;
        r = pg_pending_push(s, PG_SYNC);
        if (r == 0 && !PQpipelineSync(s->conn))
                return pg_lost(s, "sending");
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
        int r = pg_ensure_conn(s), r2;

        if (r == 0 && s->in_txn && s->fault)
                r = s->fault;
        if (r == 0)
                r = pg_send(s, id, a);
        if (r < 0)
                return r;
        at = s->pending.n - 1;
        if (s->in_txn) {
                if (!PQsendFlushRequest(s->conn))
                        return pg_lost(s, "sending");
                return drain(s, at, res);
        }
        r = pg_pending_push(s, PG_SYNC);
        if (r == 0 && !PQpipelineSync(s->conn))
                return pg_lost(s, "sending");
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

int pg_read_many(struct pg_store *s, enum pg_stmt id, const struct pg_args *a, size_t n,
                 PGresult **res)
{
        size_t at;
        int r = pg_ensure_conn(s), r2;

        for (size_t i = 0; i < n; i++)
                res[i] = NULL;
        if (r == 0 && s->in_txn && s->fault)
                r = s->fault;
        at = s->pending.n;
        for (size_t i = 0; r == 0 && i < n; i++)
                r = pg_send(s, id, &a[i]);
        if (r == 0 && s->in_txn && !PQsendFlushRequest(s->conn))
                r = pg_lost(s, "sending");
        if (r == 0 && !s->in_txn) /* a transaction of its own: a sync point ends it */
                r = pg_pending_push(s, PG_SYNC);
        if (r == 0 && !s->in_txn && !PQpipelineSync(s->conn))
                r = pg_lost(s, "sending");
        for (size_t i = 0; r == 0 && i < n; i++)
                r = drain(s, at + i, &res[i]);
        if (!s->in_txn && s->conn) {
                r2 = drain(s, SIZE_MAX, NULL);
                r = r ? r : r2;
        }
        if (r < 0)
                for (size_t i = 0; i < n; i++) {
                        PQclear(res[i]);
                        res[i] = NULL;
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
        o->attention = (enum rd_attention)pg_int(res, row, 24);
}
