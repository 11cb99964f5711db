/* store_sqlite.h: inside the SQLite driver of the store (store.h). Shared
 * by its files only: store_sqlite_sql.c (the schema and every statement),
 * store_sqlite_open.c (open, creation, migrations, backup), store_sqlite.c
 * (transactions, faults, the log, the table of operations),
 * store_sqlite_read.c / store_sqlite_write.c (the operations) and
 * store_sqlite_tally.c (the tallies of new referrals, kept in C until the
 * commit). */
#ifndef RD_STORE_SQLITE_H
#define RD_STORE_SQLITE_H

#include <sqlite3.h>

#include "json_write.h"
#include "store.h"

/* Every statement, prepared once at open (store_sqlite_sql.c holds the SQL). */
enum sq_stmt {
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
        S_HISTORY_COUNT,
        S_LIST_SEQ,
        S_LIST_OFFERED,
        S_LIST_ATTENTION,
        S_LIST_CONNECTOR,
        S_LIST_TEAM,
        S_LIST_STATUS,
        S_EVENTS_PARTNER,
        S_EVENTS_CONNECTOR,
        S_OFFERED_ADD,
        S_OFFERED_HAS,
        S_AUDIT_ADD,
        S_AUDIT_LIST,
        S_AUDIT_PURGE,
        S_TALLIES,
        S_TALLY_SUM,
        S_TALLY_ADD,
        S_TALLY_NUMBER,
        S_TALLIES_FILL,
        S_OPEN,
        S_OFFER,
        S_OFFER_BUMP,
        S_OFFERS,
        S_RR_SET,
        S_RR_MOVE,
        S_RR_ALL,
        S_MAX_SEQ,
        S_DECLINE_ADD,
        S_DECLINES,
        S_CANDIDATES_SET,
        S_REASON_ADD,
        S_REASONS,
        S_REASONS_ERASE,
        S_WAITING_HEAD,
        S_WAITING_SAME,
        S_WAITING_LOWER,
        S_WAITING_SETS,
        S_WAITING_BEFORE,
        S_META_GET,
        S_META_SET,
        S_DUE_OFFER,
        S_DUE_AT_RISK,
        S_DUE_MISSED,
        S_NEXT,
        S_OFFERS_OPEN,
        S_FORWARDS,
        S_REASON_COUNTS,
        S_WAIT_OLDEST,
        S_ERASE,
        S_DUE_ERASE,
        S_ROUTING_IN_FORCE,
        S_ROUTING_END,
        S_ROUTING_KEEP,
        S_ROUTING_BEGIN,
        S_ROUTING_HISTORY,
        S_ROUTING_TEXT,
        S__MAX
};

/* The SQL of each statement, and the schema migrations: SQ_MIGRATIONS[i]
 * takes user_version i to i + 1. */
extern const char *const sq_stmt_sql[S__MAX];
extern const char *const sq_migrations[];
extern const size_t sq_n_migrations;

/* The figures of `stats` in the table tallies (store_sqlite_sql.c,
 * migration 6 -> 7): the count of KEY of figure F is the row F *
 * SQ_FIGURE_SPAN + KEY; the keys of the durations are bucket numbers
 * (1000 * E + M for the bucket of M * 10^E ms). Triggers keep them for
 * deletes and updates; a new referral's tallies are counted in C
 * (store_sqlite_tally.c, migration 10 -> 11) into struct sq_deltas and
 * folded into the table just before COMMIT; the readers add what is not
 * folded yet. */
#define SQ_FIGURE_SPAN 1000000
enum sq_figure {
        SQ_FIG_STATUS = 1, /* KEY: the status */
        SQ_FIG_TO_OFFER,   /* KEY: the bucket number of receipt to first offer */
        SQ_FIG_TO_START,   /* the same, receipt to start */
        SQ_FIG_IN_TIME,    /* KEY 0 */
        SQ_FIG_MISSED,     /* KEY 0 */
        SQ_FIG_ATTENTION,  /* KEY 0 */
};

/* The columns of a referral row as sq_read_row reads them (COLS, then, in
 * the waitlist statements, candidates at SQ_COL_CANDIDATES). */
#define SQ_COL_CANDIDATES 25

/* Tallies not yet in the table: a delta per row N of tallies, each N
 * once. A transaction's new referrals fall into few rows (their statuses,
 * the buckets of their first offer, attention); a set that is full is
 * written into the table at once. */
#define SQ_DELTAS_MAX 16
struct sq_delta {
        int64_t n, d;
};
struct sq_deltas {
        size_t len;
        struct sq_delta v[SQ_DELTAS_MAX];
};

/* The driver's store. */
struct sq_store {
        struct rd_store base;
        sqlite3 *db;
        sqlite3_stmt *stmt[S__MAX];
        int64_t last_seq;      /* newest seq, including the open transaction */
        int64_t committed_seq; /* newest committed seq */
        int64_t savepoint_seq; /* last_seq when the request savepoint began */
        /* the log is padded after a commit record (no powersafe overwrite):
         * then even a failed write may follow a commit record (sq_commit) */
        bool padded_wal;
        /* the text of the event being appended, the writer and its buffer
         * reused from one event to the next (set up at the first) */
        struct rd_jw event_w;
        /* the tallies of the referrals inserted and not folded yet: those
         * of the transaction's kept requests (and of writes outside a
         * request), and those of the request whose savepoint is open */
        struct sq_deltas txn_deltas, req_deltas;
        bool in_request;     /* a request's savepoint is open */
        bool request_is_txn; /* and it began the transaction (no BEGIN before it) */
};

/* The table of operations (store_sqlite.c). */
extern const struct rd_store_ops sq_ops;

/* The newest seq in the database, as this connection sees it, into
 * last_seq and committed_seq. 0 or a negative errno. */
int sq_load_seq(struct sq_store *s);

/* Whether SQLite pads the write-ahead log of DB after a commit record:
 * only without powersafe overwrite (the unix VFS has it by default). */
bool sq_pads_wal(sqlite3 *db);

static inline struct sq_store *sq(struct rd_store *s)
{
        return (struct sq_store *)s;
}

/* SQLite result code RC as a negative errno. */
int sq_err(int rc);

/* Statement ID, reset, its bindings cleared. */
sqlite3_stmt *sq_prep(struct sq_store *s, enum sq_stmt id);

/* Step ST once to its end (no rows) and reset it: 0 or a negative errno. */
int sq_step_done(sqlite3_stmt *st);

/* Run statement ID without bindings or rows. */
int sq_run(struct sq_store *s, enum sq_stmt id);

/* Column I of ST as text into DST (SIZE bytes; "" for NULL). */
void sq_col_text(sqlite3_stmt *st, int i, char *dst, size_t size);

/* The referral row ST is on (COLS) into *O. */
void sq_read_row(sqlite3_stmt *st, struct rd_stored *o);

/* Reset ST after a loop over its rows that ended with the step result RC
 * and the callback's value R: R when non-zero, else 0 or RC's errno. */
int sq_finish(sqlite3_stmt *st, int rc, int r);

/* Call FN with the text of column 0 of each row of ST ("" for NULL), then
 * reset ST: 0, FN's non-zero value, or a negative errno. */
int sq_each_text(sqlite3_stmt *st, int (*fn)(void *ctx, const char *text), void *ctx);

/* store_sqlite_tally.c: the tallies of new referrals (schema version 11). */

/* The number of the bucket (struct sq_figure) of a duration of MS ms, as
 * SQLite's M7_NUMBER computes it: 1000 * E + M for the bucket M * 10^E
 * (store.h, rd_store_duration_bucket); 0 below 0. */
int64_t sq_duration_number(int64_t ms);

/* The bucket, in ms, of bucket number N (the inverse of the above). */
int64_t sq_number_ms(int64_t n);

/* The tallies of the row S_INSERT just made of O (sq_insert) counted into
 * the pending deltas: those of the open request, else of the
 * transaction's; without a transaction, written into the table at once.
 * A set that is full is written into the table first (the request's
 * inside its savepoint). 0 or a negative errno (the caller undoes the
 * insert; no delta is lost or counted twice). */
int sq_tally_insert(struct sq_store *s, const struct rd_stored *o);

/* Before the request's savepoint is released (kept): when the request's
 * deltas would not fit beside the transaction's, or the savepoint began
 * the transaction (RELEASE commits), write them into the table now,
 * inside the savepoint. 0 or a negative errno (the request is then
 * undone). */
int sq_tally_keep_begin(struct sq_store *s);

/* The savepoint was released: the request's deltas join the
 * transaction's (sq_tally_keep_begin made room). */
void sq_tally_keep_end(struct sq_store *s);

/* Forget the request's deltas (it was undone); with ALL, the
 * transaction's too (it was rolled back, or did not commit). */
void sq_tally_drop(struct sq_store *s, bool all);

/* Before COMMIT: every pending delta added to its row of tallies, one
 * upsert per row (S_TALLY_ADD). 0 or a negative errno: the commit failed
 * (the caller rolls back; the deltas are dropped either way). */
int sq_tally_fold(struct sq_store *s);

/* What is pending for figure FIGURE: the sum of its deltas, and its
 * deltas by key (N % SQ_FIGURE_SPAN) in ascending order, each key once,
 * into OUT (room for 2 * SQ_DELTAS_MAX); returns their number. */
int64_t sq_tally_pending_sum(const struct sq_store *s, enum sq_figure figure);
size_t sq_tally_pending(const struct sq_store *s, enum sq_figure figure, struct sq_delta *out);

/* store_sqlite_events.c: the events as columns (schema version 10). */

/* Insert event EV of referral ROWID (0: none; ROW its row, or NULL: the
 * partner and ref it names are kept only where they are not ROW's) in its
 * compact form: 0 or a negative errno. */
int sq_event_insert(struct sq_store *s, const struct rd_event *ev, int64_t rowid,
                    const struct rd_stored *row);

/* Call FN with the JSON text of each event ST reads (EVENT_READ: a row of
 * the compact form written as it was published, a row kept before as its text),
 * then reset ST: 0, FN's non-zero value, or a negative errno (-EIO: a row
 * that holds no event). The text is borrowed for the call. */
int sq_each_event_text(sqlite3_stmt *st, int (*fn)(void *ctx, const char *text), void *ctx);

/* A store over the open connection DB (taken over: closed on failure too),
 * whose schema is this driver's: every statement prepared, the last seq
 * read; no pragma set, no migration (store_sqlite_copy.c). 0 or a negative
 * errno with a reason in ERRBUF. */
int sq_store_adopt(sqlite3 *db, struct rd_store **out, char *errbuf, size_t errsize);

/* The operations (store.h), by file. */
/* store_sqlite_read.c */
int sq_find(struct rd_store *s, const char *partner, const char *ref, struct rd_stored *out);
int sq_get(struct rd_store *s, int64_t rowid, struct rd_stored *out);
int sq_content(struct rd_store *s, int64_t rowid, json_t **content, char **trace,
               char rules_digest[65]);
int sq_each_state(struct rd_store *s, const struct rd_store_state_fns *fns, void *ctx);
int sq_each_decline(struct rd_store *s, int64_t rowid, int (*fn)(void *ctx, const char *connector),
                    void *ctx);
int sq_each_waiting(struct rd_store *s, const struct rd_wait_key *after, size_t limit,
                    int (*fn)(void *ctx, const struct rd_stored *st, const char *candidates),
                    void *ctx, size_t *count);
int sq_each_waiting_set(struct rd_store *s, int (*fn)(void *ctx, const struct rd_waiting_set *set),
                        void *ctx);
int sq_count_waiting_before(struct rd_store *s, const char *candidates,
                            const struct rd_wait_key *before, int64_t limit, int64_t *count);
int sq_each_offer(struct rd_store *s, int (*fn)(void *ctx, const struct rd_stored *st), void *ctx);
int sq_meta_get(struct rd_store *s, const char *key, char *buf, size_t size);
int sq_next_deadlines(struct rd_store *s, struct rd_deadlines *out);
int sq_due(struct rd_store *s, enum rd_deadline kind, int64_t threshold, int64_t limit,
           struct rd_stored *rows, size_t *n);
int sq_was_offered(struct rd_store *s, int64_t rowid, const char *connector);
int sq_each_event(struct rd_store *s, int64_t since, int64_t limit, const struct rd_viewer *viewer,
                  int (*fn)(void *ctx, const char *body), void *ctx);
int sq_count_history(struct rd_store *s, int64_t rowid, int64_t *n);
int sq_each_history(struct rd_store *s, int64_t rowid, int64_t limit,
                    int (*fn)(void *ctx, const char *body), void *ctx);
int sq_each_listed(struct rd_store *s, const struct rd_list_query *q,
                   int (*fn)(void *ctx, const struct rd_stored *st), void *ctx);
int sq_each_reason(struct rd_store *s, int64_t rowid,
                   int (*fn)(void *ctx, const struct rd_store_reason *why), void *ctx);
int sq_count_by_status(struct rd_store *s, int64_t counts[RD_STATUS__MAX]);
int sq_window_counts(struct rd_store *s, int64_t *started, int64_t *in_time, int64_t *missed);
int sq_figures(struct rd_store *s, struct rd_figures *out);
int sq_each_audit(struct rd_store *s, int64_t since, int64_t limit, const char *referral_id,
                  int (*fn)(void *ctx, const struct rd_audit_entry *e), void *ctx);
/* store_sqlite_write.c */
int sq_insert(struct rd_store *s, struct rd_store_change *ch);
int sq_change(struct rd_store *s, struct rd_store_change *ch);
int sq_erase(struct rd_store *s, int64_t rowid, const json_t *content, const char *trace,
             int64_t now_ms);
int sq_meta_set(struct rd_store *s, const char *key, const char *value);
int sq_audit(struct rd_store *s, int64_t at_ms, const char *client, const char *role,
             const char *action, const char *referral_id);
int sq_audit_purge(struct rd_store *s, int64_t before_ms);
/* store_sqlite_routing.c */
int sq_routing_record(struct rd_store *s, const struct rd_routing_file *f, int64_t now_ms);
int sq_each_routing(struct rd_store *s, int (*fn)(void *ctx, const struct rd_routing_period *p),
                    void *ctx);
int sq_routing_text(struct rd_store *s, const char *digest, char **text, size_t *len);

#endif
