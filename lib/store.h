/* store.h: the durable store, as an interface.
 *
 * The store keeps referrals, their events with a gap-free seq, the facts the
 * hub routes by, and the audit trail. It is a table of operations on
 * referrald's own terms (struct rd_store_ops) with one driver per database:
 * SQLite (lib/store_sqlite*.c, opened by rd_store_open) and PostgreSQL
 * (lib/store_pg*.c, rd_store_open_pg); rd_store_open_target opens either,
 * as the daemon's config or a tool's --db says. Each driver
 * holds its own SQL; the hub and the daemon talk to the rd_store_*
 * functions below only, which are the interface's entry points.
 *
 * Writes are coarse: a new referral with its decision, its events, its offer
 * and its round-robin position is one call (rd_store_insert), and so is every
 * later change of one referral (rd_store_change), so that a driver can send
 * each in one round trip.
 *
 * The caller (the daemon's loop) brackets a batch of requests in
 * rd_store_begin/rd_store_commit and each request in rd_store_request_begin
 * and _end, so that a failed request changes nothing and the rest of the
 * batch still commits. Events are appended in the same transaction as the
 * change they describe. No sockets, no clock, no logs: errors are returned
 * as negative errnos, and rd_store_errmsg() says more. */
#ifndef RD_STORE_H
#define RD_STORE_H

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "referral.h"

/* ---- what the store holds -------------------------------------------------- */

/* A referral's stored state: its public columns and its decision. */
struct rd_stored {
        int64_t rowid;
        char id[RD_RID_MAX]; /* rd_store_format_id(rowid) */
        char partner[RD_ID_MAX + 1];
        char ref[RD_REF_MAX + 1];
        char digest[65]; /* SHA-256 of the submitted content */
        int64_t received_ms;
        enum rd_status status;
        char rule[RD_ID_MAX + 1];
        char team[RD_ID_MAX + 1];
        char connector[RD_ID_MAX + 1];
        int64_t start_by_ms;       /* 0: none */
        int64_t expected_start_ms; /* 0: none */
        int64_t offered_ms;        /* when the current offer was made; 0: none */
        int64_t offer_expires_ms;  /* 0: none */
        int64_t started_ms;        /* 0: not started */
        int64_t expected_end_ms;   /* 0: none given */
        char forward_to[RD_ID_MAX + 1];
        char reason[RD_REASON_MAX];
        int64_t last_seq; /* seq of its newest event */
        enum rd_urgency urgency;
        int64_t first_offered_ms; /* the first offer ever; 0: none (figures) */
        int at_risk_fired;        /* referral.window_at_risk was emitted */
        int missed_fired;         /* referral.window_missed was emitted */
        int64_t final_ms;         /* when it reached a final status; 0: open */
        int64_t erased_ms;        /* when its personal data was erased; 0: not */
        /* (rev 2) waitlisted and no connector can take it under its rule in
         * the file in force: why (protocol.md, referral.needs_attention);
         * RD_ATTENTION_NONE in every other status */
        enum rd_attention attention;
};

/* (rev 2) A client's reason for a change (protocol.md, "update"): its code
 * and free text, kept with the referral as personal data (never in an
 * event), listed by rd_store_reasons and counted by rd_store_figures. */
struct rd_store_reason {
        int64_t at_ms;
        const char *change;    /* the status asked for: "declined", "withdrawn", "closed" */
        const char *connector; /* the connector of the offer it concerns; "" none */
        const char *code;      /* reason_code, or NULL: none given */
        const char *text;      /* reason, or NULL: none given */
};

/* One write about one referral (or, for rd_store_change with ST NULL, about
 * none: config events). Every part is optional but ST. The driver writes the
 * parts in one go, inside the caller's transaction, and only then appends
 * EVENTS in order. */
struct rd_store_change {
        struct rd_stored *st; /* the referral (see rd_store_insert, rd_store_change) */
        bool row;             /* rd_store_change: write ST's status and decision columns */
        /* rd_store_insert: its canonical JSON text (rd_referral_canonical) */
        const char *content;
        /* the decision trace as text (NULL: none) and the digest of the
         * routing file that decided; rd_store_insert always writes them,
         * rd_store_change when TRACE_SET. The text is kept as it is given
         * and read back as it was kept (rd_store_content): compact ASCII
         * letters and digits (trace_store.h), or JSON text in rows kept
         * before; never a NUL. A driver keeps it in a text column. */
        bool trace_set;
        const char *trace;
        const char *rules_digest;
        /* waitlisted: who may take it, connector ids space separated (rev 2:
         * the overflow candidates after a "/" word); NULL: unchanged. The
         * store keeps the text as it is and counts the waitlist by it. */
        const char *candidates;
        /* with CANDIDATES: the teams of its first-rank candidates, space
         * separated (list by team), and ST's attention is written too */
        const char *teams;
        const char *offered;  /* an offer to this connector: counted, and it may read the
                                 referral from then on; NULL: none */
        const char *rr_rule;  /* with OFFERED: this rule's round robin offered to OFFERED last */
        const char *declined; /* this connector declined it or let its offer lapse */
        const struct rd_store_reason *reason; /* (rev 2) keep this reason; NULL: none */
        /* Appended after the writes: each gets the next seq and the
         * referral's id, and the referral's last_seq becomes the seq of the
         * last one. With TEXTS not NULL, TEXTS[i] receives event i's JSON
         * text as stored (the caller frees it), to publish without
         * serialising it again; on failure no text is left there to free. */
        struct rd_event *events;
        size_t n_events;
        char **texts;
};

/* Who is looking (protocol.md, Security): everything, a partner (the
 * referrals it submitted or that were forwarded to it), or a connector (the
 * referrals ever offered to it). ID is the client's id. */
struct rd_viewer {
        enum { RD_VIEW_ALL, RD_VIEW_PARTNER, RD_VIEW_CONNECTOR } kind;
        const char *id;
};

/* (rev 2) What `list` asks for (protocol.md, "get and list"); every given
 * filter must hold. */
struct rd_list_query {
        int64_t since, limit; /* latest event seq > SINCE, at most LIMIT */
        unsigned statuses;    /* 1u << status for each status wanted; 0: any */
        /* the connector, and the team, of the referral's current or last
         * offer (the driver keeps them: the last non-empty connector and
         * team a row was written with); for a waitlisted referral TEAM
         * matches any of the TEAMS its candidates were last written with
         * instead. NULL: any */
        const char *connector;
        const char *team;
        bool attention;                 /* only referrals with an attention */
        const struct rd_viewer *viewer; /* NULL: all */
};

/* What the hub keeps in memory, read in one pass (rd_store_each_state):
 * each callback may be NULL; a non-zero value stops the pass. */
struct rd_store_state_fns {
        /* each open referral offered to, accepted or started by a connector */
        int (*open)(void *ctx, const struct rd_stored *st);
        /* offers ever made per connector */
        int (*offer_count)(void *ctx, const char *connector, int64_t count);
        /* per rule, the connector its round robin offered to last */
        int (*round_robin)(void *ctx, const char *rule, const char *connector);
        /* the first WAIT_LIMIT waitlisted referrals in waitlist order, with
         * the connectors that may take them (space separated) */
        int (*waiting)(void *ctx, const struct rd_stored *st, const char *candidates);
        size_t wait_limit;
};

/* One set of waitlisted referrals (rd_store_each_waiting_set): COUNT (> 0)
 * of them have exactly CANDIDATES and URGENCY. None of them has a start_by
 * after LATEST_START_BY: the latest start_by of the set, or any later
 * value (the SQLite driver keeps the largest the set has had since it was
 * last empty; INT64_MAX would be correct, and only slower: the forecast
 * counts those of the set before a place in the list
 * (rd_store_count_waiting_before) only when some may come after it). */
struct rd_waiting_set {
        const char *candidates;
        enum rd_urgency urgency;
        int64_t count;
        int64_t latest_start_by;
};

/* A place in the waitlist: highest urgency first, then earliest
 * start_by, then first stored. */
struct rd_wait_key {
        enum rd_urgency urgency;
        int64_t start_by_ms;
        int64_t rowid;
};

/* The earliest moment of each kind of deadline; each 0 when there is none. */
struct rd_deadlines {
        int64_t offer_expires; /* the earliest offer expiry */
        /* the earliest start_by of an open referral not started (assigned,
         * waitlisted, accepted) whose at-risk event has not fired, nor its
         * missed event */
        int64_t at_risk_start_by;
        int64_t missed_start_by; /* the same whose missed event has not fired */
        int64_t erase_final;     /* the earliest final_ms of a referral not yet erased */
};

enum rd_deadline { RD_DUE_OFFER, RD_DUE_AT_RISK, RD_DUE_MISSED, RD_DUE_ERASE, RD_DUE__MAX };

/* One entry of the audit trail, as a driver reads it. */
struct rd_audit_entry {
        int64_t n;
        int64_t at_ms;
        const char *client, *role, *action, *referral_id;
};

/* Figures for coordinators (protocol.md stats, and more). A driver keeps
 * them as counts that every change of a referral updates in its own
 * transaction, so that reading them costs the same with a million
 * referrals as with ten (rd_store_figures). */
/* Durations from receipt, in ms: how many, and the nearest-rank 50th and
 * 90th percentiles of their buckets (rd_store_duration_bucket): the
 * bucket of the duration at rank ceil(COUNT * P / 100) in ascending order.
 * So each is never above the exact nearest-rank percentile and less than
 * 1% below it (exact when that duration has at most three significant
 * digits in ms); 0 when COUNT is 0. */
struct rd_durations {
        int64_t count;
        int64_t p50_ms, p90_ms;
};
#define RD_FIGURES_FORWARDS_MAX 32
#define RD_FIGURES_REASONS_MAX 32
struct rd_figures {
        struct rd_durations to_offer; /* receipt to first offer */
        struct rd_durations to_start; /* receipt to start */
        struct {
                char to[RD_ID_MAX + 1];
                int64_t count;
        } forwards[RD_FIGURES_FORWARDS_MAX];
        size_t n_forwards;
        int64_t waiting;
        int64_t oldest_waiting_received_ms; /* 0: none waiting */
        int64_t attention;                  /* (rev 2) waiting referrals with an attention */
        /* (rev 2) the reasons kept (struct rd_store_reason) of each change
         * declined, withdrawn and closed, by code ("": none given) */
        struct {
                char change[16];
                char code[RD_REASON_CODE_MAX];
                int64_t count;
        } reasons[RD_FIGURES_REASONS_MAX];
        size_t n_reasons;
};

/* A routing file put in force (rd_store_routing_record), all borrowed:
 * its digest (SHA-256 of its bytes, lowercase hex, as struct rd_rules has
 * it), the name it was loaded under (its path, or the compiled-in
 * example's name) and the LEN bytes it was loaded from. */
struct rd_routing_file {
        const char *digest;
        const char *source;
        const char *text;
        size_t len;
};

/* A period in which one routing file was in force (rd_store_each_routing);
 * the strings are borrowed for the callback. */
struct rd_routing_period {
        int64_t n; /* rises with each period */
        const char *digest;
        const char *source;
        int64_t from_ms;  /* when it came into force */
        int64_t until_ms; /* when another came into force; 0: it is in force */
};

/* A referral's key: the partner that submitted it and its ref. */
struct rd_store_key {
        const char *partner;
        const char *ref;
};

/* ---- the interface ----------------------------------------------------------- */

/* What a driver can do beyond the common contract (rd_store_caps). */
enum rd_store_cap {
        /* erased bytes can be wiped from the files that held them
         * (rd_store_checkpoint after the commit) */
        RD_STORE_CAN_WIPE = 1u << 0,
        /* a request is undone alone by a savepoint of its own, at the cost of
         * a statement (rd_store_request_begin/_end); without it a driver
         * keeps the same contract by other means */
        RD_STORE_SAVEPOINTS = 1u << 1,
        /* a database can be opened to read only (offline tools; no opener
         * asks for it yet) */
        RD_STORE_READ_ONLY = 1u << 2,
        /* (rev 2) several daemons may share the database, and exactly one
         * leads (rd_store_lead); without it the store always leads (SQLite:
         * its lock file keeps one daemon per file) */
        RD_STORE_LEADERSHIP = 1u << 3,
        /* a read costs a round trip, and a batch's look-ups handed over ahead
         * (rd_store_prefetch) save them; without it the hint is not worth
         * making */
        RD_STORE_PREFETCH = 1u << 4,
};

struct rd_store;

/* The operations every driver implements; the entry point rd_store_NAME
 * below documents each, or the one named beside it. Every pointer is set,
 * except checkpoint (NULL without RD_STORE_CAN_WIPE), prefetch (NULL
 * where a read costs no round trip) and lead, leading and connect_fd (NULL
 * without RD_STORE_LEADERSHIP). A driver's rows carry their id
 * (rd_store_format_id). */
struct rd_store_ops {
        const char *name; /* "sqlite", "postgresql" */
        void (*close)(struct rd_store *s);
        const char *(*errmsg)(struct rd_store *s);
        /* transactions; in_transaction: whether the database still has the
         * transaction begin opened (a fault may have made it end it) */
        int (*begin)(struct rd_store *s);
        int (*commit)(struct rd_store *s);
        void (*rollback)(struct rd_store *s);
        int (*request_begin)(struct rd_store *s);
        int (*request_end)(struct rd_store *s, bool keep);
        bool (*in_transaction)(struct rd_store *s);
        int64_t (*last_seq)(const struct rd_store *s);
        /* the hub's writes: insert sets CH->ST's rowid and last_seq (rd_store_insert
         * derives id and first_offered_ms); change gets only what rd_store_change
         * accepts */
        int (*insert)(struct rd_store *s, struct rd_store_change *ch);
        int (*change)(struct rd_store *s, struct rd_store_change *ch);
        int (*erase)(struct rd_store *s, int64_t rowid, const json_t *content, const char *trace,
                     int64_t now_ms);
        int (*meta_set)(struct rd_store *s, const char *key, const char *value);
        /* the hub's reads */
        int (*find)(struct rd_store *s, const char *partner, const char *ref,
                    struct rd_stored *out);
        /* may be NULL: rd_store_prefetch then does nothing */
        int (*prefetch)(struct rd_store *s, const struct rd_store_key *keys, size_t n);
        int (*get)(struct rd_store *s, int64_t rowid, struct rd_stored *out); /* _get_row */
        int (*content)(struct rd_store *s, int64_t rowid, json_t **content, char **trace,
                       char rules_digest[65]);
        int (*each_state)(struct rd_store *s, const struct rd_store_state_fns *fns, void *ctx);
        int (*each_decline)(struct rd_store *s, int64_t rowid,
                            int (*fn)(void *ctx, const char *connector), void *ctx);
        int (*each_waiting)(struct rd_store *s, const struct rd_wait_key *after, size_t limit,
                            int (*fn)(void *ctx, const struct rd_stored *st,
                                      const char *candidates),
                            void *ctx, size_t *count);
        int (*each_waiting_set)(struct rd_store *s,
                                int (*fn)(void *ctx, const struct rd_waiting_set *set), void *ctx);
        int (*count_waiting_before)(struct rd_store *s, const char *candidates,
                                    const struct rd_wait_key *before, int64_t limit,
                                    int64_t *count);
        int (*each_offer)(struct rd_store *s, int (*fn)(void *ctx, const struct rd_stored *st),
                          void *ctx);
        int (*meta_get)(struct rd_store *s, const char *key, char *buf, size_t size);
        int (*next_deadlines)(struct rd_store *s, struct rd_deadlines *out);
        int (*due)(struct rd_store *s, enum rd_deadline kind, int64_t threshold, int64_t limit,
                   struct rd_stored *rows, size_t *n);
        /* the daemon's reads: was_offered: 1 when CONNECTOR was ever
         * offered ROWID, 0 when not (rd_store_visible); each_event,
         * each_history, each_listed: the rows of rd_store_events, _history,
         * _list, each through FN (the JSON is made once, in store.c) */
        int (*was_offered)(struct rd_store *s, int64_t rowid, const char *connector);
        int (*each_event)(struct rd_store *s, int64_t since, int64_t limit,
                          const struct rd_viewer *viewer, int (*fn)(void *ctx, const char *body),
                          void *ctx);
        /* each_history: the newest LIMIT events of ROWID, oldest first;
         * count_history: how many events ROWID has */
        int (*each_history)(struct rd_store *s, int64_t rowid, int64_t limit,
                            int (*fn)(void *ctx, const char *body), void *ctx);
        int (*count_history)(struct rd_store *s, int64_t rowid, int64_t *n);
        int (*each_listed)(struct rd_store *s, const struct rd_list_query *q,
                           int (*fn)(void *ctx, const struct rd_stored *st), void *ctx);
        /* each_reason: the reasons of referral ROWID with a code or a text,
         * oldest first (rd_store_reasons) */
        int (*each_reason)(struct rd_store *s, int64_t rowid,
                           int (*fn)(void *ctx, const struct rd_store_reason *why), void *ctx);
        int (*count_by_status)(struct rd_store *s, int64_t counts[RD_STATUS__MAX]);
        int (*window_counts)(struct rd_store *s, int64_t *started, int64_t *in_time,
                             int64_t *missed);
        int (*figures)(struct rd_store *s, struct rd_figures *out);
        /* the audit trail */
        int (*audit)(struct rd_store *s, int64_t at_ms, const char *client, const char *role,
                     const char *action, const char *referral_id);
        /* the rows of rd_store_audit_list (REFERRAL_ID "": all) */
        int (*each_audit)(struct rd_store *s, int64_t since, int64_t limit, const char *referral_id,
                          int (*fn)(void *ctx, const struct rd_audit_entry *e), void *ctx);
        int (*audit_purge)(struct rd_store *s, int64_t before_ms);
        /* the routing files that have been in force */
        int (*routing_record)(struct rd_store *s, const struct rd_routing_file *f, int64_t now_ms);
        int (*each_routing)(struct rd_store *s,
                            int (*fn)(void *ctx, const struct rd_routing_period *p), void *ctx);
        int (*routing_text)(struct rd_store *s, const char *digest, char **text, size_t *len);
        /* wiping (RD_STORE_CAN_WIPE) */
        int (*checkpoint)(struct rd_store *s);
        /* leadership (RD_STORE_LEADERSHIP; all three NULL without it) */
        int (*lead)(struct rd_store *s, int64_t now_ms);
        bool (*leading)(const struct rd_store *s);
        int (*connect_fd)(const struct rd_store *s, short *events, int64_t *deadline_ms);
};

/* Every driver's store begins with this; the driver's opener fills OPS
 * and CAPS and leaves the rest zero: store.c keeps it. */
struct rd_store {
        const struct rd_store_ops *ops;
        unsigned caps; /* enum rd_store_cap */
        /* the caller's transaction: none, open, or ended by a fault (every
         * call inside it then fails with RD_STORE_ABORTED until rollback) */
        enum { RD_STORE_TXN_NONE, RD_STORE_TXN_OPEN, RD_STORE_TXN_LOST } txn;
        int64_t wiped_seq; /* rd_store_wiped_seq */
        /* write operations asked of the store so far (insert, change, erase,
         * meta_set, routing_record, audit, audit_purge), kept by store.c:
         * whoever keeps state derived from the store (the hub) knows by
         * comparing it whether an undone request had written anything that
         * memory may follow */
        uint64_t writes;
        /* the request begun by rd_store_request_begin_whole, if one is
         * open, and the writes before it */
        bool whole;
        uint64_t whole_writes;
};

/* ---- the SQLite driver ---------------------------------------------------------- */

/* Open the SQLite database at PATH, creating it where no file is (daemon.md
 * rev 2): a new database is made under PATH.new (what an interrupted start
 * left there is removed first), its schema committed and synced, then
 * renamed into place, so that no empty or half-made file is ever at PATH;
 * the file is 0600 and a missing parent folder 0700, whatever the umask. A
 * file at PATH that is empty (0 bytes) is refused with -ENODATA and left as
 * it is. WAL, synchronous=FULL (with SYNCHRONOUS_FULL false: NORMAL, for
 * tests and benchmarks only), secure_delete; the schema is versioned with
 * PRAGMA user_version and migrated forward; every statement is prepared
 * once. The connection never waits for another process's lock: a writer
 * elsewhere makes rd_store_begin fail with -EBUSY at once, a reader makes
 * rd_store_checkpoint do so. Returns 0 and a new store in *OUT, or a
 * negative errno with a reason (no personal data) in ERRBUF. The same as
 * rd_store_open_sqlite with only SYNCHRONOUS_FULL set. */
int rd_store_open(const char *path, bool synchronous_full, struct rd_store **out, char *errbuf,
                  size_t errsize);

/* How rd_store_open_sqlite opens a database. All zero is a test's store
 * (synchronous=NORMAL); the daemon sets SYNCHRONOUS_FULL. */
struct rd_sqlite_options {
        bool synchronous_full;
        /* tests only: the name of a SQLite VFS the test registered (NULL:
         * SQLite's default), and the page cache in pages (0: SQLite's
         * default), so that a small batch spills pages before its commit */
        const char *vfs;
        int cache_pages;
};

/* rd_store_open with OPTIONS (NULL: all zero). */
int rd_store_open_sqlite(const char *path, const struct rd_sqlite_options *options,
                         struct rd_store **out, char *errbuf, size_t errsize);

/* Copy the SQLite database at SRC_PATH, also while the daemon writes to it,
 * into a new file DST_PATH (created 0600; an existing file is never
 * overwritten), with SQLite's online backup API in one read transaction:
 * one snapshot, held only as long as the copy takes. An offline tool's
 * call (referralctl backup). 0, or a negative errno with a sentence in
 * ERRBUF. */
int rd_store_backup(const char *src_path, const char *dst_path, char *errbuf, size_t errsize);

/* The coordinators' tools read a database through this (tools.md): a
 * scratch copy of the SQLite database at PATH. PATH is opened to read only
 * (never created, never migrated: a database of another schema version
 * than this build's is refused with a message), copied with SQLite's
 * backup API inside one read transaction, which has ended when this
 * returns, and closed. The store in *OUT holds the copy in memory: every
 * operation works on it, writes too (the hub runs on it as it runs on the
 * daemon's), and nothing of it ever reaches PATH. Returns 0, or a negative
 * errno with a sentence (no personal data) in ERRBUF: -ENOENT for a
 * missing file, -EPROTO for another schema version. */
int rd_store_open_copy(const char *path, struct rd_store **out, char *errbuf, size_t errsize);

/* A new empty store in memory, with this build's schema (the replay's
 * scratch store: what it holds never reaches a file, and it is gone when
 * closed). Every operation works on it as on a database file. Returns 0,
 * or a negative errno with a sentence in ERRBUF. */
int rd_store_open_memory(struct rd_store **out, char *errbuf, size_t errsize);

/* ---- the PostgreSQL driver ------------------------------------------------------------ */

/* Connect to the PostgreSQL database CONNINFO (libpq's connection string:
 * key=value pairs or a postgresql:// URI) with PASSWORD (NULL: as the
 * conninfo, PGPASSWORD or ~/.pgpass say); the server must be 15 or newer
 * with a UTF8 database. The schema is created or migrated (its version in
 * the table rd_schema; a newer one is refused). One connection in
 * libpq's pipeline mode: writes are sent without waiting (lib/store_pg.h
 * says how a failed request is undone). Capabilities: RD_STORE_LEADERSHIP
 * only (no file to wipe, no savepoints): the connection's session holds
 * the lead (rd_store_lead). Returns 0 and a new store in *OUT, or
 * a negative errno with a reason in ERRBUF (libpq's words; never the
 * password). */
int rd_store_open_pg(const char *conninfo, const char *password, struct rd_store **out,
                     char *errbuf, size_t errsize);

/* rd_store_open_copy for a PostgreSQL database: CONNINFO (and PASSWORD, as
 * rd_store_open_pg) read in one read-only, repeatable-read transaction, a
 * database of another schema version refused (never migrated), every row
 * copied into a new SQLite store in memory, the connection closed. Returns
 * as rd_store_open_copy. */
int rd_store_open_copy_pg(const char *conninfo, const char *password, struct rd_store **out,
                          char *errbuf, size_t errsize);

/* 0 when libpq can parse CONNINFO, else -EINVAL with libpq's reason in
 * ERRBUF (or -ENOMEM). Connects to nothing. */
int rd_store_pg_check_conninfo(const char *conninfo, char *errbuf, size_t errsize);

/* ---- which driver --------------------------------------------------------------------- */

enum rd_store_kind { RD_STORE_SQLITE, RD_STORE_POSTGRESQL };

/* true when WHERE (a tool's --db or --state) names a PostgreSQL database:
 * it is not the path of an existing file and it looks like a conninfo
 * ("postgresql://...", "postgres://..." or "key=value ..."). */
bool rd_store_is_conninfo(const char *where);

/* Where a store is and how to open it. */
struct rd_store_target {
        enum rd_store_kind kind;
        const char *path;      /* SQLite: the database file */
        bool synchronous_full; /* SQLite: see rd_store_open */
        const char *conninfo;  /* PostgreSQL: see rd_store_open_pg */
        const char *password;  /* PostgreSQL: or NULL */
        bool copy;             /* the tools' scratch copy (rd_store_open_copy, _copy_pg) */
};

/* Open the store T names with its driver: rd_store_open, rd_store_open_pg,
 * or with COPY rd_store_open_copy, rd_store_open_copy_pg. Returns as they
 * do. */
int rd_store_open_target(const struct rd_store_target *t, struct rd_store **out, char *errbuf,
                         size_t errsize);

/* ---- ids ------------------------------------------------------------------------- */

/* The public id of the referral stored as ROWID: "R" + the row id, zero
 * padded to six digits ("R000042"). The one place the format lives. */
void rd_store_format_id(int64_t rowid, char id[RD_RID_MAX]);

/* The row id of the public ID: 0 and *ROWID, or -ENOENT when ID is not one
 * rd_store_format_id makes ("R1" is not "R000001"). */
int rd_store_parse_id(const char *id, int64_t *rowid);

/* ---- the entry points -------------------------------------------------------------- */

/* Close STORE (may be NULL). */
void rd_store_close(struct rd_store *store);

/* What the driver of STORE can do (enum rd_store_cap). */
unsigned rd_store_caps(const struct rd_store *store);

/* The driver's last error text (static until the next call). */
const char *rd_store_errmsg(struct rd_store *store);

/* Transactions. rd_store_begin opens a writing transaction (on a store
 * opened read-only: a reading one, one snapshot until it ends), and takes
 * the newest seq from the database, whatever happened before. A request
 * inside it runs in a savepoint: rd_store_request_begin, then
 * _end(keep=true) to keep it or _end(keep=false) to undo just that request;
 * when _end(keep=true) fails, the request is undone too (or, when even that
 * fails, the whole transaction, RD_STORE_ABORTED). All return 0 or a
 * negative errno. After a failed commit the caller must rd_store_rollback.
 *
 * Faults (store.h's two results of its own, beside plain errnos):
 * RD_STORE_ABORTED from any call inside the transaction: a fault made the
 * database end it (SQLite does so for some SQLITE_FULL and SQLITE_IOERR);
 * everything written since rd_store_begin is gone, and every later call
 * inside it fails the same way, so that nothing runs outside a
 * transaction by accident, until rd_store_rollback. RD_STORE_UNKNOWN from
 * rd_store_commit: the commit may or may not have taken effect (SQLite: the
 * write-ahead log, commit record included, was written but not synced, so
 * a recovery may find it; PostgreSQL: the connection was lost during
 * COMMIT, or PostgreSQL warned that it stopped waiting for a synchronous
 * standby and reported the COMMIT done); the store's own view after the
 * rollback is that it did not, and the next rd_store_begin takes the seq
 * from the database again (PostgreSQL: reads it again, and its first
 * statement fails the transaction should the seq have moved meanwhile,
 * lib/store_pg.h). A driver that sends writes without waiting (PostgreSQL)
 * learns of a refused one late: the transaction is then lost as above, at
 * the next call that waits, the commit at the latest. */
#define RD_STORE_ABORTED (-ECANCELED)
#define RD_STORE_UNKNOWN (-EINPROGRESS)
int rd_store_begin(struct rd_store *store);
int rd_store_commit(struct rd_store *store);
void rd_store_rollback(struct rd_store *store);
int rd_store_request_begin(struct rd_store *store);
int rd_store_request_end(struct rd_store *store, bool keep);

/* A request begun without a savepoint, for the one on the hot path
 * (submit), on a driver with RD_STORE_SAVEPOINTS (on the others it is
 * rd_store_request_begin: they undo a request alone by other means): a
 * savepoint makes SQLite copy every page the request changes before it
 * changes it (about 11,000 instructions of a submit's 250,000,
 * docs/performance.md). Its rd_store_request_end(keep=true) does nothing,
 * and so does keep=false when the request wrote nothing (a refusal checked
 * before any write). keep=false after it wrote (a fault, or a failure
 * between two of its writes) rolls the whole transaction back and loses
 * it: that _end and every later call inside it return RD_STORE_ABORTED, as
 * after a fault that ended the transaction; daemon.md allows it (a store
 * fault is answered for every request of the transaction in which it
 * happened). 0, or RD_STORE_ABORTED / -EINVAL when there is no transaction
 * to run it in. */
int rd_store_request_begin_whole(struct rd_store *store);

/* True between a successful rd_store_begin and its commit or rollback,
 * unless a fault ended the transaction (RD_STORE_ABORTED). */
bool rd_store_in_transaction(const struct rd_store *store);

/* (rev 2) Leadership, for a store that several daemons share
 * (RD_STORE_LEADERSHIP; daemon.md, "Several daemons"): exactly one of them
 * leads and writes, the others wait to take over.
 *
 * rd_store_lead: outside a transaction, take the lead, or, while this
 * store leads, check that it still does; one round trip. When the
 * connection is gone it is made again without blocking: the first call
 * starts it and returns RD_STORE_CONNECTING, and so does every later call
 * until the connection is made (then the round trip follows in the same
 * call) or every host of the conninfo failed or let its connect_timeout
 * pass (a negative errno); call it again when rd_store_connect_fd's socket
 * is ready or its deadline has come. NOW_MS: the monotonic clock in ms,
 * which times the hosts out (the driver reads no clock for it). Taking the
 * lead advances the database's epoch, which the first statement of every
 * writing transaction checks: a store that lost the lead can never commit
 * again, whatever it had sent. Returns 1 when this store leads, 0 when
 * another does (or the database takes no writes: a standby server),
 * RD_STORE_CONNECTING, or a negative errno (the reason in rd_store_errmsg):
 * the database cannot be reached, and this store does not lead. Once a
 * store was asked to lead, rd_store_begin fails with -EAGAIN whenever it
 * does not, and a read outside a transaction fails with -ENOTCONN while
 * the connection is gone (only rd_store_lead connects again, never
 * blocking on a silent server). Without RD_STORE_LEADERSHIP: 1, always.
 *
 * rd_store_leading: whether this store leads, from memory (no round trip):
 * false from the moment the driver learnt that it lost the lead (its
 * session ended, the epoch moved), and before the first rd_store_lead
 * that returned 1. Without RD_STORE_LEADERSHIP: true, always.
 *
 * rd_store_connect_fd: while rd_store_lead makes a connection
 * (RD_STORE_CONNECTING), its socket (borrowed: it may change from one
 * call of rd_store_lead to the next), with POLLIN or POLLOUT (<poll.h>)
 * in *EVENTS for what it waits for and in *DEADLINE_MS when the host in
 * hand is given up (the clock of NOW_MS; INT64_MAX: never, connect_timeout
 * 0); else -1 (always without RD_STORE_LEADERSHIP). */
#define RD_STORE_CONNECTING 2
int rd_store_lead(struct rd_store *store, int64_t now_ms);
bool rd_store_leading(const struct rd_store *store);
int rd_store_connect_fd(const struct rd_store *store, short *events, int64_t *deadline_ms);

/* Newest seq committed or appended in the open transaction; 0 when none.
 * A request or transaction rolled back gives its seqs back. */
int64_t rd_store_last_seq(const struct rd_store *store);

/* Store a new referral, already decided, with what goes with it. CH->ST
 * holds partner, ref, digest, received_ms, urgency, status and the decision
 * columns; CH->CONTENT its canonical JSON text; the trace, rules digest,
 * candidates, offer and round robin of CH as rd_store_change; CH->EVENTS
 * (e.g. received, then the decision) about it. One call, however the driver
 * sends it. Returns 0 and sets CH->ST's rowid, id, first_offered_ms and
 * last_seq (that of its last event; unchanged without events), -EEXIST when
 * partner+ref exists, or a negative errno. */
int rd_store_insert(struct rd_store *store, struct rd_store_change *ch);

/* Change the referral CH->ST (by its rowid): its status and decision
 * columns when CH->ROW (first_offered_ms is kept once set; so are the
 * connector and team of its last offer, for `list`), its trace,
 * candidates (with teams and attention), offer, round robin, declines and
 * reason, then its events (CH->ST's last_seq follows them). With CH->ST NULL only events about no
 * referral (config.*); -EINVAL with any other part. 0 or a negative errno. */
int rd_store_change(struct rd_store *store, struct rd_store_change *ch);

/* Replace the content of referral ROWID by CONTENT (its personal data
 * taken out) and its trace by the text TRACE (rd_trace_erased; NULL: no
 * trace), marked erased at NOW_MS; the free text of its reasons goes too
 * (their codes stay). With RD_STORE_CAN_WIPE, rd_store_checkpoint after
 * the commit wipes the old bytes from the files. 0 or a negative errno. */
int rd_store_erase(struct rd_store *store, int64_t rowid, const json_t *content, const char *trace,
                   int64_t now_ms);

/* Look a referral up by PARTNER + REF, by its row id, or by its public ID.
 * Return 0 and fill *OUT, -ENOENT when there is none, or a negative errno on
 * a fault. */
int rd_store_find(struct rd_store *store, const char *partner, const char *ref,
                  struct rd_stored *out);
int rd_store_get_row(struct rd_store *store, int64_t rowid, struct rd_stored *out);

int rd_store_get(struct rd_store *store, const char *id, struct rd_stored *out);

/* Interface addition (the PostgreSQL store): a hint ahead of a batch's
 * requests, the KEYS[N] they will look up with rd_store_find. A driver that
 * pays a round trip for each read reads them all in one and answers those
 * look-ups from memory, as the database would (its own writes meanwhile
 * taken into account), and says so with RD_STORE_PREFETCH; a driver
 * without that cost (SQLite) does nothing.
 * Call before the requests, inside their
 * transaction or just before it begins: what is kept holds until that
 * transaction ends. 0, or a negative errno: then nothing is kept, and each
 * look-up asks the database. Never a reason to fail a request. */
int rd_store_prefetch(struct rd_store *store, const struct rd_store_key *keys, size_t n);

/* The stored content of the referral ROWID (rd_referral_to_json with
 * personal data), its decision trace and the digest of the routing file
 * that made it. Each out-pointer may be NULL; on success *CONTENT receives
 * a new reference, *TRACE the trace's text exactly as it was stored
 * (malloc'ed, the caller frees; compact or JSON: rd_trace_json reads
 * either), and either NULL when there is none. Returns 0, -ENOENT or a
 * negative errno (-ENOMEM). */
int rd_store_content(struct rd_store *store, int64_t rowid, json_t **content, char **trace,
                     char rules_digest[65]);

/* Read what the hub keeps in memory, in one pass: FNS (struct
 * rd_store_state_fns) with CTX. 0, the first non-zero value of a callback,
 * or a negative errno. */
int rd_store_each_state(struct rd_store *store, const struct rd_store_state_fns *fns, void *ctx);

/* Call FN for each connector that declined referral ROWID or let its offer
 * lapse. 0, FN's non-zero value, or a negative errno. */
int rd_store_each_decline(struct rd_store *store, int64_t rowid,
                          int (*fn)(void *ctx, const char *connector), void *ctx);

/* Call FN for at most LIMIT waitlisted referrals in waitlist order, with
 * their candidates: from the head of the list when AFTER is NULL, else
 * from the first referral after AFTER. The cost is in the rows read, not in
 * the length of the list. Returns 0 and, when COUNT is not NULL, how many FN
 * was called for in *COUNT; FN's non-zero value; or a negative errno. */
int rd_store_each_waiting(struct rd_store *store, const struct rd_wait_key *after, size_t limit,
                          int (*fn)(void *ctx, const struct rd_stored *st, const char *candidates),
                          void *ctx, size_t *count);

/* Call FN once for each set of waitlisted referrals of the same
 * candidates (the text as rd_store_change keeps it, compared byte for
 * byte) and urgency (struct rd_waiting_set; a set nobody waits in is left
 * out; the order of the calls is not defined). The forecast of a new
 * referral counts the waiting referrals ahead of it by these sets
 * (lib/route.h, struct rd_route_state), so they must be exact after every
 * change of a referral's status or candidates: the store keeps them in the
 * same transaction (the SQLite driver: table waiting_sets, kept by
 * triggers). The urgency is the referral's, which never changes. 0, FN's
 * non-zero value, or a negative errno. */
int rd_store_each_waiting_set(struct rd_store *store,
                              int (*fn)(void *ctx, const struct rd_waiting_set *set), void *ctx);

/* How many waitlisted referrals with exactly CANDIDATES (as in
 * rd_store_each_waiting_set) and BEFORE->urgency come before BEFORE in
 * waitlist order: a start_by_ms below BEFORE->start_by_ms, or the same and
 * a rowid below BEFORE->rowid (INT64_MAX: a referral not stored yet, after
 * every stored one). Counting stops at LIMIT: *COUNT is the number, or
 * LIMIT when at least LIMIT come before. The cost is in the referrals
 * counted, at most LIMIT, not in the length of the waitlist nor of the
 * set (the SQLite driver: the partial index referrals_waiting_sets on
 * (candidates, urgency, start_by_ms) of the waitlisted rows). Returns 0 or
 * a negative errno. */
int rd_store_count_waiting_before(struct rd_store *store, const char *candidates,
                                  const struct rd_wait_key *before, int64_t limit, int64_t *count);

/* Call FN for each open offer (status assigned). 0, FN's value, or errno. */
int rd_store_each_offer(struct rd_store *store, int (*fn)(void *ctx, const struct rd_stored *st),
                        void *ctx);

/* The value of KEY in the database's own facts: 0 and the value in BUF
 * (cut to SIZE), -ENOENT when not set, or a negative errno. */
int rd_store_meta_get(struct rd_store *store, const char *key, char *buf, size_t size);

/* Set KEY to VALUE (inside the caller's transaction). 0 or a negative errno. */
int rd_store_meta_set(struct rd_store *store, const char *key, const char *value);

/* The earliest deadline of each kind into *OUT, by index look-ups, no
 * scan. 0 or a negative errno. */
int rd_store_next_deadlines(struct rd_store *store, struct rd_deadlines *out);

/* Up to LIMIT referrals whose deadline of KIND is due: offer_expires <=
 * THRESHOLD, or start_by <= THRESHOLD (at risk: the caller passes now +
 * at_risk; the referrals of struct rd_deadlines: a window whose missed
 * event fired is no longer at risk), or (erase) final_ms <= THRESHOLD and
 * not erased, earliest first (the same start_by: first stored first), into
 * ROWS (room for LIMIT); *N says how many. 0 or errno. */
int rd_store_due(struct rd_store *store, enum rd_deadline kind, int64_t threshold, int64_t limit,
                 struct rd_stored *rows, size_t *n);

/* 1 if VIEWER (NULL: everything) may see referral O, 0 if not, or a
 * negative errno. */
int rd_store_visible(struct rd_store *store, const struct rd_stored *o,
                     const struct rd_viewer *viewer);

/* Events with seq > SINCE that VIEWER may see (NULL: all; config events
 * only for all), oldest first, at most LIMIT, appended to the JSON array
 * ARR. 0 or a negative errno. */
int rd_store_events(struct rd_store *store, int64_t since, int64_t limit,
                    const struct rd_viewer *viewer, json_t *arr);

/* The newest LIMIT (at least 1) events of referral ROWID, oldest first,
 * appended to ARR; *OMITTED: how many older events were left out (0: the
 * whole history). The older ones are not read: counted only. 0, or a
 * negative errno (*OMITTED untouched; ARR may hold some events). */
int rd_store_history(struct rd_store *store, int64_t rowid, int64_t limit, json_t *arr,
                     int64_t *omitted);

/* The referrals of Q (struct rd_list_query): those Q's viewer may see,
 * whose latest event seq > Q->SINCE and that pass every filter given,
 * ordered by that seq, at most Q->LIMIT, each appended to ARR as {id,
 * partner, ref, status, team, connector, start_by, seq} and attention when
 * it has one. Every filter is served by an index: the cost is in the rows
 * returned, not in the size of the store. 0 or a negative errno. */
int rd_store_list(struct rd_store *store, const struct rd_list_query *q, json_t *arr);

/* (rev 2) The reasons of referral ROWID that have a code or a text, oldest
 * first, appended to ARR as {at, status (the change), connector, reason_code,
 * reason} (those that apply). Personal data: for `get` only. 0 or errno. */
int rd_store_reasons(struct rd_store *store, int64_t rowid, json_t *arr);

/* The figures of `stats`. Each is read from counts the driver keeps with
 * every write of a referral (or of a reason), inside the same transaction:
 * they follow a rolled-back request or transaction as the rows do, and
 * reading them costs what a few look-ups do, not a pass over the
 * referrals (the percentiles: one pass over the buckets in use, at most
 * 900 per power of ten of milliseconds). A driver fills its counts from
 * the rows when it first meets a database without them.
 *
 * rd_store_count_by_status: referrals per status into
 * COUNTS[RD_STATUS__MAX], exact.
 *
 * rd_store_window_counts: referrals that ever started (started_ms > 0),
 * how many of them started no later than their start_by (started_ms <=
 * start_by_ms), and (rev 2) how many got referral.window_missed
 * (missed_fired), exact.
 *
 * rd_store_figures: the rest of struct rd_figures: the durations receipt
 * to first offer (of referrals with first_offered_ms > 0) and receipt to
 * start (started_ms > 0), as struct rd_durations says; forwards per
 * target of referrals now forwarded, most first, then by target; the
 * waiting referrals (exact), the receipt of the one received first, and
 * how many of them have an attention; the reasons kept by change and code.
 *
 * Each returns 0 or a negative errno. */
int rd_store_count_by_status(struct rd_store *store, int64_t counts[RD_STATUS__MAX]);
int rd_store_window_counts(struct rd_store *store, int64_t *started, int64_t *in_time,
                           int64_t *missed);
int rd_store_figures(struct rd_store *store, struct rd_figures *out);

/* The bucket of a duration of MS milliseconds in the figures' percentiles
 * (struct rd_durations): MS (below 0: 0) with every digit after its three
 * most significant ones set to 0: 999 -> 999, 1,234 -> 1,230, 123,456,789
 * -> 123,000,000. Never above MS, and less than 1% below it. Every driver
 * buckets durations so. */
int64_t rd_store_duration_bucket(int64_t ms);

/* The audit trail: who (client id and role) did ACTION ("get", "submit",
 * "update:accepted", "erase", ...) on which referral, when. Never the data
 * itself. 0 or a negative errno. */
int rd_store_audit(struct rd_store *store, int64_t at_ms, const char *client, const char *role,
                   const char *action, const char *referral_id);

/* Audit entries numbered above SINCE (of REFERRAL_ID, or all when NULL or
 * ""), oldest first, at most LIMIT, appended to ARR as {n, at, client,
 * role, action, id}; *LAST is the number of the last one (SINCE if none). */
int rd_store_audit_list(struct rd_store *store, int64_t since, int64_t limit,
                        const char *referral_id, json_t *arr, int64_t *last);

/* Delete the audit entries older than BEFORE_MS: those numbered below the
 * first entry of BEFORE_MS or later (all of them when there is none). The
 * trail is appended in time order, so that these are the entries older
 * than BEFORE_MS; after a step back of the clock, an entry older than
 * BEFORE_MS that follows a newer one stays until the entries before it
 * go. The cost is in the entries deleted. Returns how many, or errno. */
int rd_store_audit_purge(struct rd_store *store, int64_t before_ms);

/* The routing files that have been in force (daemon.md rev 2), so that the
 * tools can compare a new file with the one in force and replay history
 * under the files then in force.
 *
 * rd_store_routing_record: inside the caller's transaction, F is in force
 * from NOW_MS. When F's digest is that of the file in force already,
 * nothing changes (a reload of the same file, a restart). Otherwise the
 * period of the file in force ends at NOW_MS, F's bytes are kept under its
 * digest (once, however often the file comes back) and F's period begins.
 * The daemon calls it wherever it puts a file in force: at start (also for
 * the compiled-in example) and in the transaction of a reload. 0 or a
 * negative errno.
 *
 * rd_store_each_routing: FN for each period, oldest first (the last one is
 * in force when its until_ms is 0; none at all before the daemon first
 * recorded one). 0, FN's non-zero value, or a negative errno.
 *
 * rd_store_routing_text: the bytes of the file with DIGEST: 0 with *TEXT
 * (malloc'ed, the caller frees; a NUL follows the LEN bytes) and *LEN,
 * -ENOENT when no such file was kept, or a negative errno. */
int rd_store_routing_record(struct rd_store *store, const struct rd_routing_file *f,
                            int64_t now_ms);
int rd_store_each_routing(struct rd_store *store,
                          int (*fn)(void *ctx, const struct rd_routing_period *p), void *ctx);
int rd_store_routing_text(struct rd_store *store, const char *digest, char **text, size_t *len);

/* Wipe what erased referrals left in the files (SQLite: copy the WAL into
 * the database and truncate it to zero bytes), in one attempt that never
 * waits: another process's read transaction keeps the log, and then this
 * returns -EBUSY at once (try again later). Call outside a transaction. 0,
 * -EBUSY, -EOPNOTSUPP without RD_STORE_CAN_WIPE, or another negative
 * errno. */
int rd_store_checkpoint(struct rd_store *store);

/* The newest seq of which the erased bytes are known gone from the files:
 * the last one committed before the latest successful rd_store_checkpoint
 * (0: none yet, and always 0 without RD_STORE_CAN_WIPE). A referral erased
 * by the event of seq E is wiped once this is at least E. */
int64_t rd_store_wiped_seq(const struct rd_store *store);

#endif
