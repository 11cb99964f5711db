/* server_priv.h: the server's state and the steps its files share (not for
 * the rest of the daemon).
 *
 *   server.c     setup, the sockets, signals, the loop, watchdog and status
 *   batch.c      a batch of requests: receive, answer in one transaction,
 *                commit, reply
 *   commit.c     ending a transaction (txn.c, free of sockets), the database
 *                file it commits into, publishing what was committed
 *   deadlines.c  work nobody asked for: deadlines, the audit purge, the
 *                waitlist at start
 *   reload.c     SIGHUP: load, apply or refuse
 *   leader.c     active or standby on a store several daemons share
 *
 * Everything runs on the loop's one thread. */
#ifndef RD_SERVER_PRIV_H
#define RD_SERVER_PRIV_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "bounds.h"
#include "hub.h"
#include "monitor.h"
#include "ops.h"
#include "outbox.h"
#include "server.h"
#include "txn.h"

/* One request of the batch in hand, from its receipt to its reply. */
struct request {
        zmq_msg_t envelope[2]; /* routing id, and REQ's empty delimiter */
        int n_envelope;
        zmq_msg_t body;              /* its first body frame, until it is answered */
        int n_body;                  /* body frames received */
        struct rd_outbox_conn *conn; /* its connection's bytes (borrowed) */
        zmq_msg_t reply;             /* the reply, charged to CONN */
        bool has_reply;              /* false: dropped (the connection does not read) */
        bool ok;                     /* the reply says ok (a failed commit retracts it) */
        json_t *corr;                /* the reply's corr, to retract it with */
        json_t *unwiped;             /* an erase's reply saying "wiped": false, until the commit */
};

/* A bound server socket (the intake, the events socket), watched for
 * accepts that fail: at the limit of open files its endpoint is closed
 * for a while (server.c). */
struct listener {
        const char *name;        /* "intake", "events" */
        struct rd_monitor *mon;  /* its socket's monitor */
        char endpoint[512];      /* as bound (ZMQ_LAST_ENDPOINT), to bind again */
        int64_t closed_until;    /* monotonic ms; 0: bound */
        long pause_ms;           /* how long the next closing lasts */
        int64_t last_failure;    /* monotonic ms */
        int64_t failures;        /* failed accepts, so far */
        int64_t failures_logged; /* FAILURES when the last line was written */
        int64_t logged_ms;
        bool said_closed; /* a line said it is closed: say when it is bound again */
};

enum { LISTEN_INTAKE, LISTEN_EVENTS, LISTEN_MAX };

struct rd_server {
        const struct rd_config *config;
        struct rd_store *store;
        struct rd_hub *hub;
        struct rd_ops ops;
        struct rd_txn txn;    /* the transactions of the loop (txn.c) */
        struct rd_auth *auth; /* NULL without security */
        void *zctx;
        void *intake;
        void *pub;
        struct listener listen[LISTEN_MAX];
        int sigfd;
        /* batch.c: the batch in hand, and replies that could not be sent */
        struct rd_outbox *outbox; /* bytes of replies held per connection */
        struct request batch[RD_BATCH_MAX];
        int n_batch;        /* answered in the batch in hand */
        int n_waiting;      /* received, not yet answered: first in the next batch */
        size_t batch_bytes; /* of the batch's replies */
        int64_t served;     /* requests answered */
        int64_t dropped_replies;
        int64_t dropped_logged_ms;
        int64_t dropped_reported; /* dropped_replies when last logged */
        /* server.c: systemd */
        int64_t watchdog_ms; /* half of WATCHDOG_USEC; 0: no watchdog */
        int64_t watchdog_last;
        int64_t status_last;
        int64_t swept; /* monotonic ms of the last rd_outbox_sweep */
        /* reload.c: the outcome of the last reload, for STATUS= */
        char last_reload[160];
        /* the bytes of the routing file this daemon runs (or, a standby
         * after a reload, will put in force when it takes the lead) */
        char *routing_text;
        size_t routing_len;
        /* leader.c: the next attempt to take the lead, or check it, and the
         * last line saying that an attempt failed (monotonic ms; 0: none
         * since the last success) */
        int64_t lead_next;
        int64_t lead_fault_logged;
        /* deadlines.c */
        int64_t audit_purged; /* monotonic ms of the last audit purge; 0: never */
        /* commit.c: the database file (NULL: not watched) */
        struct rd_dbfile *dbfile;
        int64_t db_checked;     /* monotonic ms of the last look */
        int64_t db_gone_logged; /* monotonic ms of the last line saying it is gone */
        char db_gone_why[160];
        bool db_kept; /* the log checkpointed into the file held open */
};

/* ---- server.c ---- */

/* Make the events socket anew (closing the one there is: every
 * subscription drops, and each subscriber's reconnect is judged by the
 * client list now in force) and bind it. 0, or a negative errno (logged). */
int rd_server_open_events(struct rd_server *srv);

/* ---- batch.c ---- */

/* Take every request that is ready (at most RD_BATCH_MAX with those that
 * wait from the last batch), hand the store their look-ups, answer them in
 * order in one transaction until their replies hold RD_BATCH_REPLY_BYTES,
 * commit, reply, publish. Those not answered wait, in order, for the next
 * batch. Returns how many were answered. */
int rd_server_serve_batch(struct rd_server *srv);

/* Free the requests that wait for the next batch, unanswered (at exit). */
void rd_server_drop_waiting(struct rd_server *srv);

/* Log how many replies could not be delivered since the last line, at most
 * once a second (T: monotonic ms now). */
void rd_server_report_dropped(struct rd_server *srv, int64_t t);

/* ---- commit.c ---- */

/* Commit the open transaction (rd_txn_commit: after an erase, one attempt
 * to wipe the write-ahead log). WROTE: the transaction may have written,
 * so the database file is looked at first (a transaction that only read
 * commits also when the file is gone). On failure log it as having
 * happened while doing WHAT, roll back and rebuild the hub's memory.
 * Returns 1 when committed, else 0 (and ops.db_lost is set when the file
 * is gone). */
int rd_server_commit(struct rd_server *srv, const char *what, bool wrote);

/* rd_server_db_gone(SRV, true) as txn.c asks it before a commit that
 * wrote (struct rd_txn's file_gone). */
bool rd_server_file_gone(void *srv);

/* 1 when the database file was removed or replaced (daemon.md), now or
 * before: ops.db_lost is then set for good, and it is logged at priority
 * crit at most once a minute. Looks at the file at most once a second,
 * or at once with NOW. 0 while the file is the database. */
int rd_server_db_gone(struct rd_server *srv, bool now);

/* Once the database file is gone: checkpoint the write-ahead log into the
 * file still held open, once. Outside a transaction. */
void rd_server_db_keep(struct rd_server *srv);

/* Roll back the open transaction and rebuild the hub's memory. */
void rd_server_rollback(struct rd_server *srv);

/* Send the events of the committed transaction to subscribers and to the
 * journal, then forget them. */
void rd_server_publish(struct rd_server *srv);

/* ---- deadlines.c ---- */

/* Offer waiting referrals to connectors with room, in a transaction of its
 * own (at start: the routing file may have changed while the daemon was
 * down). */
void rd_server_serve_waitlist(struct rd_server *srv);

/* Handle what is due (a transaction per batch of referrals, the audit
 * purge hourly, an attempt to wipe the log while one is pending) and
 * return how long the loop may sleep in ms: until the next deadline or
 * wipe attempt, at most a minute, an hour when nothing is due, 0 when more
 * is due at once. */
long rd_server_serve_deadlines(struct rd_server *srv);

/* ---- leader.c ---- */

/* The role at start: a standby on a store that several daemons share
 * (RD_STORE_LEADERSHIP), until rd_server_lead takes the lead; else
 * active. */
void rd_server_lead_init(struct rd_server *srv);

/* Between batches: a standby tries to take the lead (and, when it gets it,
 * does an active daemon's start-up work: the hub's memory read again, its
 * routing file put in force, config.reloaded when another was, the
 * waitlist served); the active daemon checks that it still leads, and
 * becomes a standby at once when its store learnt that it does not.
 * Returns how long the loop may sleep before the next call is due (-1: a
 * store without leadership, never). */
long rd_server_lead(struct rd_server *srv);

/* What the daemon does, for STATUS=: "Serving (active)", or (rev 2)
 * "Standby (another daemon is active)". */
const char *rd_server_role_status(const struct rd_server *srv);

/* ---- reload.c ---- */

/* Reload the daemon config's client list and the routing file (SIGHUP):
 * all in force in one transaction with config.reloaded, or none of it,
 * with every diagnostic logged and config.rejected. Tells systemd
 * RELOADING=1, then READY=1. */
void rd_server_reload(struct rd_server *srv);

#endif
