/* store_pg.h: inside the PostgreSQL driver of the store (store.h). Shared
 * by its files only: store_pg_sql.c (the schema and every statement),
 * store_pg_conn.c (the connection and its pipeline), store_pg.c (open,
 * migrations, transactions, the table of operations) and store_pg_read.c /
 * store_pg_write.c (the operations).
 *
 * One connection, in libpq's pipeline mode, nonblocking. A write is queued
 * and not waited for: its result is read with the next read, or at the
 * commit, whichever comes first, so that a batch of N submits costs N + 1
 * round trips (each submit's look-up, then the commit) however many
 * statements it sends. A read sends what is queued, then itself, and waits.
 *
 * A failed request is undone without a savepoint: the driver keeps the
 * writes of the open transaction in a log, marked at each request's begin;
 * a request that ends without being kept while it wrote anything rolls the
 * transaction back and sends the log up to its mark again (no request of
 * the batch had seen it: it was the last). A statement that the server
 * refuses dooms the whole transaction (its result may come after later
 * requests were answered): every later call fails and the commit too. */
#ifndef RD_STORE_PG_H
#define RD_STORE_PG_H

#include <libpq-fe.h>

#include "store.h"

/* How long the driver waits for the server at most before it cancels the
 * statement it waits for (a COMMIT that waits for a synchronous standby
 * that is gone, a lock), and as long again for the cancel to take effect
 * before it drops the connection. libpq has no such bound of its own. */
#define PG_WAIT_MS 5000
/* Seconds libpq gives each host to connect (conninfo may say otherwise). */
#define PG_CONNECT_TIMEOUT "5"
/* The session advisory lock key that migrations hold (pg_advisory_xact_lock),
 * so that two daemons starting at once migrate one after the other. */
#define PG_LOCK_MIGRATE 0x7266647363686d61LL /* "rfdschma" */
/* The high half of the session advisory lock the daemon that leads holds
 * (store_pg_lead.c; its low half is the oid of the schema's rd_counter). */
#define PG_LOCK_LEAD 0x72666c64LL /* "rfld" */

/* Every statement, prepared once on each connection (store_pg_sql.c). */
enum pg_stmt {
        P_BEGIN,
        P_COMMIT,
        P_ROLLBACK,
        P_COUNTERS,
        P_LEAD,
        P_BEGIN_SNAPSHOT,
        P_COPY_REFERRALS,
        P_COPY_EVENTS,
        P_COPY_OFFERED,
        P_COPY_DECLINES,
        P_COPY_OFFER_COUNTS,
        P_COPY_ROUND_ROBIN,
        P_COPY_META,
        P_COPY_AUDIT,
        P_COPY_REASONS,
        P_COPY_ROUTING_FILES,
        P_COPY_ROUTING_IN_FORCE,
        P_FENCE,
        P_FOLD,
        P_ADVANCE,
        P_FIND,
        P_GET,
        P_CONTENT,
        P_INSERT,
        P_INSERT2,
        P_UPDATE,
        P_TRACE,
        P_EVENT,
        P_LAST_SEQ_OF,
        P_EVENTS,
        P_HISTORY,
        P_HISTORY_COUNT,
        P_LIST_SEQ,
        P_LIST_OFFERED,
        P_LIST_ATTENTION,
        P_LIST_CONNECTOR,
        P_LIST_TEAM,
        P_LIST_STATUS,
        P_EVENTS_PARTNER,
        P_EVENTS_CONNECTOR,
        P_OFFERED_ADD,
        P_OFFERED_HAS,
        P_AUDIT_ADD,
        P_AUDIT_LIST,
        P_AUDIT_PURGE,
        P_COUNTS,
        P_WINDOW,
        P_OPEN,
        P_OFFER,
        P_OFFERS,
        P_RR_SET,
        P_RR_ALL,
        P_DECLINE_ADD,
        P_DECLINES,
        P_CANDIDATES_SET,
        P_REASON_ADD,
        P_REASONS,
        P_REASONS_ERASE,
        P_REASON_COUNTS,
        P_WAITING_HEAD,
        P_WAITING_SAME,
        P_WAITING_LOWER,
        P_WAITING_SETS,
        P_WAITING_BEFORE,
        P_META_GET,
        P_META_SET,
        P_DUE_OFFER,
        P_DUE_AT_RISK,
        P_DUE_MISSED,
        P_DUE_ERASE,
        P_NEXT,
        P_OFFERS_OPEN,
        P_DURATIONS,
        P_FORWARDS,
        P_WAIT_OLDEST,
        P_ERASE,
        P_ROUTING_IN_FORCE,
        P_ROUTING_END,
        P_ROUTING_KEEP,
        P_ROUTING_BEGIN,
        P_ROUTING_HISTORY,
        P_ROUTING_TEXT,
        P__MAX
};

/* The SQL of each statement, and the schema migrations: PG_MIGRATIONS[i]
 * takes the version in rd_schema from i to i + 1. */
extern const char *const pg_stmt_sql[P__MAX];
extern const char *const pg_migrations[];
extern const size_t pg_n_migrations;

/* The figures of `stats` in the table tallies (store_pg_sql.c, migration
 * 1 -> 2), by figure and key; the keys of the durations are their buckets
 * in ms (rd_store_duration_bucket). */
enum pg_figure {
        PG_FIG_STATUS = 1, /* KEY: the status */
        PG_FIG_TO_OFFER,   /* KEY: the bucket of receipt to first offer */
        PG_FIG_TO_START,   /* the same, receipt to start */
        PG_FIG_IN_TIME,    /* KEY 0 */
        PG_FIG_MISSED,     /* KEY 0 */
        PG_FIG_ATTENTION,  /* KEY 0 */
};

/* The columns of a referral row as pg_read_row reads them (COLS, then, in
 * the waitlist statements, candidates at PG_COL_CANDIDATES). */
#define PG_COL_CANDIDATES 25

/* A statement's parameters as text (NULL: SQL NULL). */
#define PG_ARGS_MAX 32
struct pg_args {
        int n;
        const char *v[PG_ARGS_MAX];
        char num[PG_ARGS_MAX][24];
};

void pa_text(struct pg_args *a, const char *text);
void pa_int(struct pg_args *a, int64_t v);

/* The writes of the open transaction, for a rerun without its last
 * request: records of (statement, parameter count, each parameter's length
 * or PG_LOG_NULL, the bytes). */
struct pg_log {
        char *buf;
        size_t len, cap;
};

/* What was sent and whose result is still to be read, in order. */
struct pg_pending {
        int *stmt; /* an enum pg_stmt, or PG_SYNC for a sync point */
        size_t head, n, cap;
};
#define PG_SYNC (-1)

struct pg_found;

/* The hosts of the conninfo as libpq took them at the first connection
 * (its PQconninfo: host, hostaddr and port, comma-separated lists, NULL
 * when not set; N hosts, libpq's count) and connect_timeout in seconds (0:
 * none). A connection made without blocking tries one host at a time; an
 * empty port entry is filled with libpq's default, and an empty host or
 * hostaddr entry makes all of them one (N 1, the lists NULL, the timeout
 * N times as long). */
struct pg_hosts {
        char *host, *hostaddr, *port;
        size_t n;
        int timeout_s;
};

/* The driver's store. */
struct pg_store {
        struct rd_store base;
        PGconn *conn;
        char *conninfo;
        char *password; /* wiped and freed at close */
        bool read_only;
        struct pg_pending pending;
        bool in_txn;         /* BEGIN was sent */
        int fault;           /* the open transaction's first fault (a negative errno), or 0 */
        bool refused;        /* the server refused a statement of the open transaction,
                                or ended the session before it ran the rest */
        bool reread;         /* the counters must be read again before the next BEGIN */
        unsigned warnings;   /* WARNING notices received on this connection */
        struct pg_log log;   /* the open transaction's writes */
        size_t request_mark; /* the log's length when the open request began */
        bool request_wrote;  /* the open request queued a write */
        int64_t last_seq;    /* newest seq, including the open transaction */
        int64_t committed_seq;
        int64_t request_seq; /* last_seq when the open request began */
        int64_t last_rowid;  /* newest referral row id, including the open transaction */
        int64_t committed_rowid;
        int64_t request_rowid;
        int64_t changes;        /* rows the last statement read back changed */
        struct pg_found *found; /* look-ups answered ahead (store_pg_found.c) */
        size_t found_cap, found_n;
        int commit_result; /* the COMMIT's result: 0 not read (yet), 1 ok, -1 failed */
        /* leadership (store_pg_lead.c) */
        bool lead_mode; /* asked to lead once: no transaction begins unless it leads */
        bool leading;   /* this session holds the lead in EPOCH */
        int64_t epoch;  /* the epoch it leads in, or (never asked to lead) the one read */
        /* a connection being made without blocking (store_pg_conn.c) */
        struct pg_hosts hosts;
        PGconn *connecting;              /* NULL: none in flight (CONN is NULL then) */
        PostgresPollingStatusType wants; /* what it waits for: READING or WRITING */
        size_t connect_host;             /* the host it tries, of HOSTS */
        int64_t connect_deadline;        /* monotonic ms when that host is given up */
        char connect_err[512];           /* the reasons of the hosts that failed so far */
        char errmsg[512];
};

static inline struct pg_store *pgs(struct rd_store *s)
{
        return (struct pg_store *)s;
}

/* ---- store_pg.c ----------------------------------------------------------------------------- */

/* rd_store_open_pg, or with READ_ONLY a session that never writes and
 * refuses a schema of any other version than this driver's (never
 * migrating it): the tools' copy reads through one. */
int pg_open(const char *conninfo, const char *password, bool read_only, struct rd_store **out,
            char *errbuf, size_t errsize);

/* ---- store_pg_conn.c: the connection ----------------------------------------------------- */

/* Connect (again) with the store's conninfo and password, check the
 * server, create or migrate the schema (not when read-only), enter
 * pipeline mode, prepare every statement and read the counters. 0, or a
 * negative errno with the reason in S->ERRMSG (the connection then closed). */
int pg_connect(struct pg_store *s);

/* Make the connection without blocking (rd_store_lead; outside a
 * transaction, not connected): start it at the first host, or carry the
 * one in flight on as far as its socket allows (a poll that does not
 * wait), the next host when one fails or lets its connect_timeout pass by
 * NOW_MS (monotonic ms). Once made, the connection is set up as
 * pg_connect's is (blocking, on a server that answers). 0 when connected,
 * RD_STORE_CONNECTING while in flight, or a negative errno with every
 * host's reason in S->ERRMSG. */
int pg_connect_step(struct pg_store *s, int64_t now_ms);

/* The connect_fd op (store.h). */
int pg_connect_fd(const struct rd_store *s, short *events, int64_t *deadline_ms);

/* Forget the conninfo's hosts (at close). */
void pg_hosts_free(struct pg_hosts *h);

/* Connected, or connect now (outside a transaction only): 0 or a
 * negative errno. A store asked to lead never connects here (-ENOTCONN,
 * S->ERRMSG kept: the reason it is not connected): only rd_store_lead
 * does, without blocking. */
int pg_ensure_conn(struct pg_store *s);

/* Before a transaction: connect again when the connection is gone, read
 * the counters again when a commit's outcome left them unknown. 0 or a
 * negative errno. */
int pg_ready(struct pg_store *s);

/* The counters as committed (seq and last row id, in the columns COL and
 * COL + 1 of RES's one row, borrowed) into the store's memory: 0, or
 * -EPROTO when RES has not one row. */
int pg_counters_set(struct pg_store *s, const PGresult *res, int col);

/* ---- store_pg_pipe.c: the pipeline --------------------------------------------------------- */

/* Close the connection (NULL after), and one being made; what was
 * pending is forgotten. */
void pg_disconnect(struct pg_store *s);

/* The connection is gone, or given up (while doing WHY, or NULL): record
 * the fault with libpq's reason, disconnect; returns -ENOTCONN. */
int pg_lost(struct pg_store *s, const char *why);

/* libpq's message MSG on one line, into DST. */
void pg_one_line(char *dst, size_t size, const char *msg);

/* A SQLSTATE (NULL: none) as a negative errno. */
int pg_state_errno(const char *sqlstate);

/* The name statement ID is prepared under. */
void pg_stmt_name(enum pg_stmt id, char name[16]);

/* Note that WHAT (an enum pg_stmt or PG_SYNC) is about to be sent: its
 * result is read back in order. 0 or -ENOMEM (the transaction's fault). */
int pg_pending_push(struct pg_store *s, int what);

/* Queue statement ID with ARGS as it is: not logged, not checked against
 * the transaction's fault (BEGIN, the fence, COMMIT, ROLLBACK). 0, or
 * -ENOTCONN when the connection broke. */
int pg_send(struct pg_store *s, enum pg_stmt id, const struct pg_args *args);

/* Queue statement ID with ARGS. Inside a transaction its result is read
 * later (and the statement logged for a rerun, when LOG); outside, it is
 * its own transaction, sent and waited for. 0 or a negative errno (the
 * transaction's fault, once it has one). */
int pg_write(struct pg_store *s, enum pg_stmt id, const struct pg_args *args, bool log);

/* As pg_write (logged), then wait for its result: 0 and how many rows it
 * changed in *CHANGES, or a negative errno. */
int pg_write_wait(struct pg_store *s, enum pg_stmt id, const struct pg_args *args,
                  int64_t *changes);

/* Send what is queued and statement ID with ARGS, and wait for its rows:
 * 0 and *RES (the caller PQclear's it), or a negative errno. */
int pg_read(struct pg_store *s, enum pg_stmt id, const struct pg_args *args, PGresult **res);

/* Send what is queued and statement ID N times, with ARGS[i] the i-th
 * time, and wait for all of it in one round trip (outside a transaction:
 * a transaction of its own): 0 and RES[i] for each (the caller PQclear's
 * them), or a negative errno (none left to clear). */
int pg_read_many(struct pg_store *s, enum pg_stmt id, const struct pg_args *args, size_t n,
                 PGresult **res);

/* Send a sync point and read every result up to it. 0, or the fault of
 * the statements read (a negative errno). */
int pg_sync(struct pg_store *s);

/* Send what is queued without waiting (it runs while the caller goes on). */
void pg_push(struct pg_store *s);

/* Record FAULT (a negative errno) with the message FMT as the open
 * transaction's first fault, and return it. */
int pg_fail(struct pg_store *s, int fault, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Send the log's records from byte FROM to TO again, not logged again. */
int pg_log_replay(struct pg_store *s, size_t from, size_t to);

/* ---- store_pg_found.c: look-ups answered ahead (rd_store_prefetch) ------------------------ */

/* The prefetch op (store.h). */
int pg_prefetch(struct rd_store *s, const struct rd_store_key *keys, size_t n);

/* A look-up of PARTNER + REF answered ahead: 0 and *OUT, -ENOENT (it was
 * not there), or 1 when nothing is known of it (ask the database). */
int pg_found_lookup(struct pg_store *s, const char *partner, const char *ref,
                    struct rd_stored *out);

/* Forget what is known of PARTNER + REF (inserted since), or of the
 * referral ROWID (changed since). */
void pg_found_forget_key(struct pg_store *s, const char *partner, const char *ref);
void pg_found_forget_row(struct pg_store *s, int64_t rowid);

/* Forget everything (the transaction ended). */
void pg_found_clear(struct pg_store *s);

/* ---- store_pg_lead.c: leadership (rd_store_lead) ------------------------------------------ */

/* The lead and leading ops (store.h). */
int pg_lead(struct rd_store *s, int64_t now_ms);
bool pg_leading(const struct rd_store *s);

/* The counters' EPOCH as just read from the database: a store that never
 * led takes it as its own; one that leads in another epoch lost the lead. */
void pg_lead_epoch_read(struct pg_store *s, int64_t epoch);

/* ---- rows ---------------------------------------------------------------------------------- */

/* Column I of row ROW as an integer (0 for NULL) or as text into DST. */
int64_t pg_int(const PGresult *res, int row, int i);
void pg_text(const PGresult *res, int row, int i, char *dst, size_t size);

/* The referral row ROW of RES (COLS) into *O. */
void pg_read_row(const PGresult *res, int row, struct rd_stored *o);

/* ---- the operations (store.h), by file ------------------------------------------------------ */
/* store_pg_read.c */
int pg_find(struct rd_store *s, const char *partner, const char *ref, struct rd_stored *out);
int pg_get(struct rd_store *s, int64_t rowid, struct rd_stored *out);
int pg_content(struct rd_store *s, int64_t rowid, json_t **content, char **trace,
               char rules_digest[65]);
int pg_each_state(struct rd_store *s, const struct rd_store_state_fns *fns, void *ctx);
int pg_each_decline(struct rd_store *s, int64_t rowid, int (*fn)(void *ctx, const char *connector),
                    void *ctx);
int pg_each_waiting(struct rd_store *s, const struct rd_wait_key *after, size_t limit,
                    int (*fn)(void *ctx, const struct rd_stored *st, const char *candidates),
                    void *ctx, size_t *count);
int pg_each_waiting_set(struct rd_store *s, int (*fn)(void *ctx, const struct rd_waiting_set *set),
                        void *ctx);
int pg_count_waiting_before(struct rd_store *s, const char *candidates,
                            const struct rd_wait_key *before, int64_t limit, int64_t *count);
int pg_each_offer(struct rd_store *s, int (*fn)(void *ctx, const struct rd_stored *st), void *ctx);
int pg_meta_get(struct rd_store *s, const char *key, char *buf, size_t size);
int pg_next_deadlines(struct rd_store *s, struct rd_deadlines *out);
int pg_due(struct rd_store *s, enum rd_deadline kind, int64_t threshold, int64_t limit,
           struct rd_stored *rows, size_t *n);
int pg_was_offered(struct rd_store *s, int64_t rowid, const char *connector);
int pg_each_event(struct rd_store *s, int64_t since, int64_t limit, const struct rd_viewer *viewer,
                  int (*fn)(void *ctx, const char *body), void *ctx);
int pg_each_history(struct rd_store *s, int64_t rowid, int64_t limit,
                    int (*fn)(void *ctx, const char *body), void *ctx);
int pg_count_history(struct rd_store *s, int64_t rowid, int64_t *n);
int pg_each_listed(struct rd_store *s, const struct rd_list_query *q,
                   int (*fn)(void *ctx, const struct rd_stored *st), void *ctx);
int pg_each_reason(struct rd_store *s, int64_t rowid,
                   int (*fn)(void *ctx, const struct rd_store_reason *why), void *ctx);
int pg_count_by_status(struct rd_store *s, int64_t counts[RD_STATUS__MAX]);
int pg_window_counts(struct rd_store *s, int64_t *started, int64_t *in_time, int64_t *missed);
int pg_figures(struct rd_store *s, struct rd_figures *out);
int pg_each_audit(struct rd_store *s, int64_t since, int64_t limit, const char *referral_id,
                  int (*fn)(void *ctx, const struct rd_audit_entry *e), void *ctx);
/* store_pg_write.c */
int pg_insert(struct rd_store *s, struct rd_store_change *ch);
int pg_change(struct rd_store *s, struct rd_store_change *ch);
int pg_erase(struct rd_store *s, int64_t rowid, const json_t *content, const char *trace,
             int64_t now_ms);
int pg_meta_set(struct rd_store *s, const char *key, const char *value);
int pg_audit(struct rd_store *s, int64_t at_ms, const char *client, const char *role,
             const char *action, const char *referral_id);
int pg_audit_purge(struct rd_store *s, int64_t before_ms);
/* store_pg_routing.c */
int pg_routing_record(struct rd_store *s, const struct rd_routing_file *f, int64_t now_ms);
int pg_each_routing(struct rd_store *s, int (*fn)(void *ctx, const struct rd_routing_period *p),
                    void *ctx);
int pg_routing_text(struct rd_store *s, const char *digest, char **text, size_t *len);

#endif
