/* store.h: the durable store (SQLite, one writer).
 *
 * WAL mode, synchronous=FULL, schema versioned with PRAGMA user_version and
 * migrated forward on open. Every statement is prepared once at open.
 * Events are appended in the same transaction as the change they describe,
 * with a gap-free seq. The caller (the daemon's loop) brackets a batch of
 * requests in rd_store_begin/rd_store_commit and each request in a
 * savepoint, so that a failed request changes nothing and the rest of the
 * batch still commits. No sockets, no JSON on the wire, no clock, no logs:
 * errors are returned as negative errnos, and rd_store_errmsg() says more. */
#ifndef RD_STORE_H
#define RD_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "event.h"
#include "referral.h"

struct rd_store;

/* A referral's stored state: its public columns and its decision. */
struct rd_stored {
        int64_t rowid;
        char id[RD_RID_MAX]; /* "R" + rowid, zero padded */
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
};

/* Open (creating if needed) the database at PATH: the file is made 0600 and
 * a missing parent folder 0700, whatever the umask. Applies the pragmas,
 * migrates the schema, prepares the statements. With SYNCHRONOUS_FULL false
 * uses synchronous=NORMAL (tests and benchmarks only). Returns 0 and a new
 * store in *OUT, or a negative errno with a reason (no personal data) in
 * ERRBUF. */
int rd_store_open(const char *path, bool synchronous_full, struct rd_store **out, char *errbuf,
                  size_t errsize);

/* Finalize statements and close. STORE may be NULL. */
void rd_store_close(struct rd_store *store);

/* The last SQLite error text of STORE (static until the next call). */
const char *rd_store_errmsg(struct rd_store *store);

/* Transactions. begin = BEGIN IMMEDIATE. A request inside a batch runs in
 * a savepoint: rd_store_request_begin, then _end(keep=true) to keep it or
 * _end(keep=false) to undo just that request. All return 0 or -EIO. After
 * a failed commit the caller must rd_store_rollback. */
int rd_store_begin(struct rd_store *store);
int rd_store_commit(struct rd_store *store);
void rd_store_rollback(struct rd_store *store);
int rd_store_request_begin(struct rd_store *store);
int rd_store_request_end(struct rd_store *store, bool keep);

/* Look a referral up by PARTNER + REF, or by its ID. Return 0 and fill
 * *OUT, -ENOENT when there is none, -EIO on a database fault. */
int rd_store_find(struct rd_store *store, const char *partner, const char *ref,
                  struct rd_stored *out);
int rd_store_get(struct rd_store *store, const char *id, struct rd_stored *out);

/* The stored content of the referral ROWID (rd_referral_to_json with
 * personal data) and its decision trace. Each out-pointer may be NULL; on
 * success each non-NULL one receives a new reference (or NULL when there is
 * no trace). Returns 0, -ENOENT or -EIO. */
int rd_store_content(struct rd_store *store, int64_t rowid, json_t **content, json_t **trace,
                     char rules_digest[65]);

/* Insert a new referral, already decided: ST holds partner, ref, digest,
 * received_ms, urgency, status and the decision columns, and last_seq (the
 * seq its newest event will have); CONTENT is its canonical JSON text
 * (rd_referral_canonical), TRACE the decision trace as JSON text (or NULL),
 * RULES_DIGEST the routing file that decided, CANDIDATES (waitlisted) the
 * space-separated connectors that may take it. One row write. Returns 0 and
 * sets ST->rowid and ST->id, -EEXIST when partner+ref exists, or -EIO. */
int rd_store_insert(struct rd_store *store, struct rd_stored *st, const char *content,
                    const char *trace, const char *rules_digest, const char *candidates);

/* Write the status and decision columns of ST (by ST->rowid). 0 or -EIO. */
int rd_store_update(struct rd_store *store, const struct rd_stored *st);

/* Keep the decision TRACE (not consumed) and the digest of the rule file
 * that decided. 0 or -EIO. */
int rd_store_set_trace(struct rd_store *store, int64_t rowid, const json_t *trace,
                       const char *rules_digest);

/* Append EV (for referral ROWID, 0 for none), assigning EV->seq. Unless
 * FLAGS has RD_EVENT_KEEP_LAST_SEQ (the caller writes the referral's
 * last_seq itself), the referral's last_seq becomes EV->seq. With TEXT not
 * NULL, *TEXT receives the event's JSON text as stored (caller frees), to
 * publish without serialising it again. 0, -ENOMEM or -EIO. */
#define RD_EVENT_KEEP_LAST_SEQ 1u
int rd_store_append_event(struct rd_store *store, struct rd_event *ev, int64_t rowid,
                          unsigned flags, char **text);

/* Newest seq committed or appended in the open transaction; 0 when none. */
int64_t rd_store_last_seq(const struct rd_store *store);

/* Who is looking (protocol.md, Security): everything, a partner (the
 * referrals it submitted or that were forwarded to it), or a connector (the
 * referrals ever offered to it). ID is the client's id. */
struct rd_viewer {
        enum { RD_VIEW_ALL, RD_VIEW_PARTNER, RD_VIEW_CONNECTOR } kind;
        const char *id;
};

/* 1 if VIEWER (NULL: everything) may see referral O, 0 if not, or -EIO. */
int rd_store_visible(struct rd_store *store, const struct rd_stored *o,
                     const struct rd_viewer *viewer);

/* Events with seq > SINCE that VIEWER may see (NULL: all; config events
 * only for all), oldest first, at most LIMIT, appended to the JSON array
 * ARR. 0 or -EIO. */
int rd_store_events(struct rd_store *store, int64_t since, int64_t limit,
                    const struct rd_viewer *viewer, json_t *arr);

/* The events of referral ROWID, oldest first, appended to ARR. 0 or -EIO. */
int rd_store_history(struct rd_store *store, int64_t rowid, json_t *arr);

/* Referrals VIEWER may see (NULL: all) whose latest event seq > SINCE, of
 * STATUS (or any when STATUS < 0), ordered by that seq, at most LIMIT, each
 * appended to ARR as {id, partner, ref, status, team, connector, start_by,
 * seq}. 0 or -EIO. */
int rd_store_list(struct rd_store *store, int status, int64_t since, int64_t limit,
                  const struct rd_viewer *viewer, json_t *arr);

/* Counts per status into COUNTS[RD_STATUS__MAX]. 0 or -EIO. */
int rd_store_count_by_status(struct rd_store *store, int64_t counts[RD_STATUS__MAX]);

/* Referrals that ever started, and how many of them by their start_by. */
int rd_store_window_counts(struct rd_store *store, int64_t *started, int64_t *in_time);

/* Call FN for each open referral offered to, accepted or started by a
 * connector (status assigned, accepted, started), with the stored row.
 * Stops and returns FN's value when it is non-zero. 0 or -EIO. */
int rd_store_each_open(struct rd_store *store, int (*fn)(void *ctx, const struct rd_stored *st),
                       void *ctx);

/* An offer of referral ROWID to CONNECTOR: counts it per connector
 * (survives restarts and reloads) and remembers that CONNECTOR was offered
 * ROWID (it may read it from then on). 0 or -EIO. */
int rd_store_offer_made(struct rd_store *store, int64_t rowid, const char *connector);
int rd_store_each_offer_count(struct rd_store *store,
                              int (*fn)(void *ctx, const char *connector, int64_t count),
                              void *ctx);

/* Round-robin position per rule: the connector it offered to last. */
int rd_store_set_rr(struct rd_store *store, const char *rule, const char *connector);
int rd_store_each_rr(struct rd_store *store,
                     int (*fn)(void *ctx, const char *rule, const char *connector), void *ctx);

/* Connectors that declined REFERRAL or let its offer lapse: add one (no
 * error when already there), or call FN for each. 0 or -EIO. */
int rd_store_add_decline(struct rd_store *store, int64_t rowid, const char *connector);
int rd_store_each_decline(struct rd_store *store, int64_t rowid,
                          int (*fn)(void *ctx, const char *connector), void *ctx);

/* The connectors a waitlisted referral may be offered to, space separated. */
int rd_store_set_candidates(struct rd_store *store, int64_t rowid, const char *candidates);

/* A place in the waitlist: highest urgency first, then earliest
 * start_by, then first stored. */
struct rd_wait_key {
        enum rd_urgency urgency;
        int64_t start_by_ms;
        int64_t rowid;
};

/* Call FN for at most LIMIT waitlisted referrals in waitlist order, with
 * their candidates: from the head of the list when AFTER is NULL, else
 * from the first referral after AFTER. Reads one range of an index: the
 * cost is in the rows read, not in the length of the list. Returns 0 and,
 * when COUNT is not NULL, how many FN was called for in *COUNT; FN's
 * non-zero value; or -EIO. */
int rd_store_each_waiting(struct rd_store *store, const struct rd_wait_key *after, size_t limit,
                          int (*fn)(void *ctx, const struct rd_stored *st, const char *candidates),
                          void *ctx, size_t *count);

/* The value of KEY in the database's own facts: 0 and the value in BUF
 * (cut to SIZE), -ENOENT when not set, or -EIO. */
int rd_store_meta_get(struct rd_store *store, const char *key, char *buf, size_t size);

/* Set KEY to VALUE (inside the caller's transaction). 0 or -EIO. */
int rd_store_meta_set(struct rd_store *store, const char *key, const char *value);

/* Call FN for each set of candidates (as rd_store_set_candidates keeps
 * them) that waitlisted referrals have, with how many have it. Triggers
 * keep these counts with every change of a referral's status or
 * candidates, in the same transaction. 0, FN's non-zero value, or -EIO. */
int rd_store_each_waiting_set(struct rd_store *store,
                              int (*fn)(void *ctx, const char *candidates, int64_t count),
                              void *ctx);

/* Call FN for each open offer (status assigned). */
int rd_store_each_offer(struct rd_store *store, int (*fn)(void *ctx, const struct rd_stored *st),
                        void *ctx);

/* Deadlines. The earliest offer expiry, and the earliest start_by of the
 * referrals whose at-risk resp. missed event has not fired (each 0 when
 * there is none). Three index look-ups, no scan. 0 or -EIO. */
int rd_store_next_deadlines(struct rd_store *store, int64_t *offer_expires,
                            int64_t *at_risk_start_by, int64_t *missed_start_by);

enum rd_deadline { RD_DUE_OFFER, RD_DUE_AT_RISK, RD_DUE_MISSED, RD_DUE_ERASE };

/* Up to LIMIT referrals whose deadline of KIND is due: offer_expires <=
 * THRESHOLD, or start_by <= THRESHOLD (at risk: the caller passes now +
 * at_risk), or (erase) final_ms <= THRESHOLD and not erased, earliest first, into ROWS (room for
 * LIMIT); *N says how many. 0 or -EIO. */
int rd_store_due(struct rd_store *store, enum rd_deadline kind, int64_t threshold, int64_t limit,
                 struct rd_stored *rows, size_t *n);

/* Replace the content of referral ROWID by CONTENT (its personal data
 * taken out) and its trace by TRACE, marked erased at NOW_MS. With
 * secure_delete on, the old bytes are overwritten in the database pages;
 * rd_store_checkpoint after the commit clears them from the WAL too. */
int rd_store_erase(struct rd_store *store, int64_t rowid, const json_t *content,
                   const json_t *trace, int64_t now_ms);

/* The earliest final_ms of a referral not yet erased; 0 when none. */
int rd_store_next_erase(struct rd_store *store, int64_t *final_ms);

/* Copy the WAL into the database file and truncate the WAL to zero bytes
 * (PRAGMA wal_checkpoint(TRUNCATE)). Call outside a transaction. */
int rd_store_checkpoint(struct rd_store *store);

/* The audit trail: who (client id and role) did ACTION ("get", "submit",
 * "update:accepted", "erase", ...) on which referral, when. Never the data
 * itself. 0 or -EIO. */
int rd_store_audit(struct rd_store *store, int64_t at_ms, const char *client, const char *role,
                   const char *action, const char *referral_id);

/* Audit entries numbered above SINCE (of REFERRAL_ID, or all when NULL or
 * ""), oldest first, at most LIMIT, appended to ARR as {n, at, client,
 * role, action, id}; *LAST is the number of the last one (SINCE if none). */
int rd_store_audit_list(struct rd_store *store, int64_t since, int64_t limit,
                        const char *referral_id, json_t *arr, int64_t *last);

/* Delete audit entries older than BEFORE_MS. Returns how many, or -EIO. */
int rd_store_audit_purge(struct rd_store *store, int64_t before_ms);

/* Copy the database at SRC_PATH, also while the daemon writes to it, into a
 * new file DST_PATH (created 0600; an existing file is never overwritten),
 * with SQLite's online backup API. An offline tool's call (referralctl
 * backup). 0, or a negative errno with a sentence in ERRBUF. */
int rd_store_backup(const char *src_path, const char *dst_path, char *errbuf, size_t errsize);

/* Figures for coordinators (protocol.md stats, and more). */
struct rd_durations {
        int64_t count;
        int64_t p50_ms, p90_ms; /* nearest rank */
};
#define RD_FIGURES_FORWARDS_MAX 32
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
};
int rd_store_figures(struct rd_store *store, struct rd_figures *out);

#endif
