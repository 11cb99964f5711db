/* leader.c: active and standby (daemon.md, "Several daemons"). On a store
 * that several daemons share (RD_STORE_LEADERSHIP: PostgreSQL) exactly one
 * daemon is active; the others are standbys: they answer ping and refuse
 * the rest (ops.c), publish nothing, do no deadline work, and try to take
 * the lead every second. The active daemon checks every second that it
 * still leads, and after every batch whether its store learnt otherwise;
 * when it lost the lead it becomes a standby at once (the store's epoch
 * already keeps it from committing). Taking over does what a start does:
 * the hub's memory read again, the routing file put in force (with
 * config.reloaded when another was in force), the waitlist served;
 * deadlines then fire from the loop. On a store without the capability
 * (SQLite: its lock file keeps one daemon per file) the daemon is active
 * from the start and none of this runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "clock.h"
#include "log.h"
#include "routing_files.h"
#include "server_priv.h"

#define LEAD_EVERY_MS 1000      /* a standby tries to take the lead; the active checks it */
#define LEAD_AFTER_LOSS_MS 3000 /* the first try after losing it: the others go first */
#define LEAD_LOG_MS 60000       /* a line about failed attempts at most this often */

/* The digest of the routing file in force in the database ("": none). */
static int find_in_force(void *ctx, const struct rd_routing_period *p)
{
        if (p->until_ms == 0)
                snprintf(ctx, 65, "%s", p->digest);
        return 0;
}

/* In the open transaction: the routing file this daemon was started (or
 * last reloaded) with goes in force. When the database had another in
 * force, or the hub runs other rules (a reload while a standby), the hub
 * takes it as a reload does (config.reloaded; *PREVIOUS the rules it had:
 * free them after the commit, or give them back after a rollback). 0 or a
 * negative errno (logged). */
static int routing_in_force(struct rd_server *srv, int64_t now, struct rd_rules **previous)
{
        const struct rd_rules *in = rd_hub_rules(srv->hub);
        struct rd_rules *fresh = NULL;
        struct rd_diag diag = {0};
        char db_digest[65] = "";
        int r = rd_store_each_routing(srv->store, find_in_force, db_digest);

        if (r == 0)
                r = rd_rules_load_buffer(in->source, srv->routing_text, srv->routing_len, &fresh,
                                         &diag);
        rd_diag_clear(&diag); /* checked when it was read */
        if (r == 0 && ((db_digest[0] && strcmp(db_digest, fresh->digest) != 0) ||
                       strcmp(in->digest, fresh->digest) != 0)) {
                r = rd_hub_set_rules(srv->hub, fresh, now, previous); /* takes FRESH */
                fresh = NULL;
        }
        rd_rules_free(fresh);
        if (r == 0)
                r = rd_routing_record(srv->store, rd_hub_rules(srv->hub), srv->routing_text,
                                      srv->routing_len, now);
        if (r == 0)
                r = rd_hub_serve_waitlist(srv->hub, now);
        if (r < 0)
                rd_txn_log_fault("cannot put the routing file in force on taking the lead: %s (%s)",
                                 strerror(-r), rd_store_errmsg(srv->store));
        return r;
}

const char *rd_server_role_status(const struct rd_server *srv)
{
        return srv->ops.standby ? "Standby (another daemon is active)" : "Serving (active)";
}

static void set_status(struct rd_server *srv)
{
        sd_notifyf(0, "STATUS=%s", rd_server_role_status(srv));
        srv->status_last = rd_mono_ms();
}

/* The store leads now: do what an active daemon does at start, in one
 * transaction. On failure the daemon stays a standby and tries again. */
static void take_over(struct rd_server *srv)
{
        struct rd_rules *previous = NULL;
        int64_t now = rd_now_ms();

        rd_hub_rolled_back(srv->hub); /* what the former leader did, read again */
        if (rd_txn_begin(&srv->txn, "taking the lead") < 0)
                return;
        if (routing_in_force(srv, now, &previous) < 0) {
                rd_txn_rollback(&srv->txn);
                if (previous)
                        rd_hub_restore_rules(srv->hub, previous);
                return;
        }
        if (!rd_server_commit(srv, "taking the lead", true)) {
                if (previous)
                        rd_hub_restore_rules(srv->hub, previous);
                return;
        }
        rd_rules_free(previous);
        srv->ops.standby = false;
        rd_log(LOG_NOTICE, RD_MSG_LEAD_TAKEN,
               "this daemon took the lead and is active: it serves requests (last event seq %lld, "
               "routing digest %s)",
               (long long)rd_store_last_seq(srv->store), rd_hub_rules(srv->hub)->digest);
        set_status(srv);
        rd_server_publish(srv);
}

/* The store no longer leads (WHY: the store's words): a standby from now. */
static void step_down(struct rd_server *srv, const char *why)
{
        srv->ops.standby = true;
        srv->lead_next = rd_mono_ms() + LEAD_AFTER_LOSS_MS;
        rd_log(LOG_WARNING, RD_MSG_LEAD_LOST,
               "this daemon lost the lead and is a standby now: it acknowledges nothing and "
               "tries to take the lead again from %d s on (%s)",
               LEAD_AFTER_LOSS_MS / 1000, why);
        set_status(srv);
}

/* An attempt to lead or to check the lead failed (R < 0) or got an answer:
 * say so when the failures begin, then once a minute, and when they end. */
static void attempt_logged(struct rd_server *srv, int r, int64_t t)
{
        if (r >= 0) {
                if (srv->lead_fault_logged)
                        rd_log(LOG_NOTICE, RD_MSG_DATABASE_ERROR,
                               "the database answers again: this daemon is %s",
                               r == 1 ? "active" : "a standby");
                srv->lead_fault_logged = 0;
                return;
        }
        if (srv->lead_fault_logged && t - srv->lead_fault_logged < LEAD_LOG_MS)
                return;
        srv->lead_fault_logged = t;
        rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR,
               "cannot reach a database that takes writes, so this daemon cannot lead: %s; it "
               "tries again every second (said again once a minute)",
               rd_store_errmsg(srv->store));
}

/* While the store makes its connection: how long the loop may sleep
 * before the host in hand is given up (the loop also wakes when the
 * connection's socket is ready: poll_slots), at most LEAD_EVERY_MS. */
static long connect_wait(struct rd_server *srv, int64_t t)
{
        int64_t deadline = 0;
        short events;

        rd_store_connect_fd(srv->store, &events, &deadline);
        if (deadline - t > LEAD_EVERY_MS)
                return LEAD_EVERY_MS;
        return deadline > t ? (long)(deadline - t) : 0;
}

long rd_server_lead(struct rd_server *srv)
{
        int64_t t = rd_mono_ms(), deadline;
        short events;
        bool connecting;
        int r;

        if (!(rd_store_caps(srv->store) & RD_STORE_LEADERSHIP))
                return -1;
        if (!srv->ops.standby && !rd_store_leading(srv->store)) {
                step_down(srv, rd_store_errmsg(srv->store));
                return LEAD_AFTER_LOSS_MS;
        }
        /* a connection in flight goes on whenever the loop comes by */
        connecting = rd_store_connect_fd(srv->store, &events, &deadline) >= 0;
        if (!connecting && t < srv->lead_next)
                return (long)(srv->lead_next - t);
        r = rd_store_lead(srv->store, t);
        if (r == RD_STORE_CONNECTING)
                return connect_wait(srv, t);
        srv->lead_next = t + LEAD_EVERY_MS; /* from the answer: a connect may have taken seconds */
        attempt_logged(srv, r, t);
        if (srv->ops.standby && r == 1)
                take_over(srv);
        else if (!srv->ops.standby && r != 1)
                step_down(srv, r < 0 ? rd_store_errmsg(srv->store) : "another daemon leads");
        return LEAD_EVERY_MS;
}

void rd_server_lead_init(struct rd_server *srv)
{
        srv->ops.standby = (rd_store_caps(srv->store) & RD_STORE_LEADERSHIP) != 0;
}
