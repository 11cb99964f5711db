/* deadlines.c: the work nobody asks for: offers that expire, windows at
 * risk or missed, retention, the hourly purge of the audit trail, the
 * waitlist at start, and wiping the write-ahead log after an erase while
 * another reader keeps it. Each in transactions of its own (txn.c),
 * between batches. */
#include <string.h>

#include "clock.h"
#include "log.h"
#include "server_priv.h"

#define TICK_MAX 256   /* deadlines handled per transaction */
#define TICK_ROUNDS 64 /* transactions before requests are let in between */
#define HOUR_MS (3600 * 1000)

void rd_server_serve_waitlist(struct rd_server *srv)
{
        if (rd_txn_begin(&srv->txn, "serving the waitlist at start") < 0)
                return;
        if (rd_hub_serve_waitlist(srv->hub, rd_now_ms()) < 0)
                rd_server_rollback(srv);
        else if (rd_server_commit(srv, "serving the waitlist at start", true))
                rd_server_publish(srv);
}

/* Drop audit entries past audit_retention, at start and then hourly. */
static void purge_audit(struct rd_server *srv)
{
        int64_t t = rd_mono_ms();
        int r;

        if (srv->audit_purged && t - srv->audit_purged < HOUR_MS)
                return;
        srv->audit_purged = t;
        if (rd_txn_begin(&srv->txn, "purging the audit trail") < 0)
                return;
        r = rd_store_audit_purge(srv->store, rd_now_ms() - srv->config->audit_retention_s * 1000);
        if (r < 0) {
                rd_txn_log_fault("cannot purge the audit trail: %s", rd_store_errmsg(srv->store));
                rd_store_rollback(srv->store); /* the hub's memory is untouched */
                return;
        }
        if (rd_server_commit(srv, "purging the audit trail", true) && r > 0)
                rd_log(LOG_INFO, RD_MSG_GENERIC,
                       "%d audit entries older than the audit retention were deleted", r);
}

/* Handle what is due at NOW in one transaction, commit, publish. 0, or -1
 * when the loop should try again in a second (logged). */
static int tick(struct rd_server *srv, int64_t now)
{
        size_t done = 0;

        if (rd_txn_tick(&srv->txn, now, TICK_MAX, &done) != RD_TXN_COMMITTED)
                return -1;
        rd_server_publish(srv);
        if (done == 0) {
                /* due but nothing to do: cannot happen; never spin */
                rd_log(LOG_ERR, RD_MSG_GENERIC, "a deadline was due but nothing fired");
                return -1;
        }
        return 0;
}

/* Handle what is due; how long the loop may sleep (see
 * rd_server_serve_deadlines). */
static long serve_due(struct rd_server *srv)
{
        if (srv->ops.db_lost)
                return 60000; /* nothing can be stored: no deadline fires */
        if (srv->ops.standby)
                return 60000; /* the active daemon's work; taking the lead wakes the loop */
        purge_audit(srv);
        for (int round = 0;; round++) {
                int64_t next = 0, now = rd_now_ms();

                if (rd_hub_next_deadline(srv->hub, &next) < 0) {
                        rd_txn_log_fault("cannot read deadlines: %s", rd_store_errmsg(srv->store));
                        return 1000;
                }
                if (!next)
                        return HOUR_MS; /* the audit trail is purged hourly */
                if (next > now)         /* at most a minute: the wall clock may be set */
                        return next - now > 60000 ? 60000 : (long)(next - now);
                if (round == TICK_ROUNDS)
                        return 0; /* much is due: let requests in between */
                if (tick(srv, now) < 0)
                        return 1000;
        }
}

long rd_server_serve_deadlines(struct rd_server *srv)
{
        long timeout = serve_due(srv);
        long wipe = rd_txn_wipe(&srv->txn, rd_mono_ms()); /* never waits */

        return wipe >= 0 && wipe < timeout ? wipe : timeout;
}
