/* reload.c: SIGHUP (routing.md "Checking and reloading", daemon.md
 * "Signals and lifecycle"), in three steps:
 *
 *   load    read the daemon config (for its security.clients) and the
 *           routing file, aside; nothing in force changes
 *   apply   put both in force in one transaction: the hub's rules, the
 *           record of the routing file in force, the client list, a new
 *           events socket when a subscriber lost its right;
 *           config.reloaded; or, when that fails, none of it
 *   refuse  when either file is wrong: log every diagnostic, emit
 *           config.rejected, keep the rules in force
 *
 * Other keys of the daemon config take effect on restart only; the reload
 * says so in the journal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "auth.h"
#include "clock.h"
#include "embedded.h"
#include "log.h"
#include "routing_files.h"
#include "server_priv.h"
#include "timefmt.h"

/* What a reload read, aside from what is in force. */
struct reload {
        struct rd_config *config; /* the daemon config read again; NULL without a file */
        struct rd_rules *rules;   /* the routing file read again; NULL when it was not */
        char *text;               /* the bytes it was read from, to record them */
        size_t len;
        struct rd_diag diag; /* errors and warnings of both */
        char old_digest[65]; /* of the rules in force before */
        int64_t now;
};

/* The compiled-in example's bytes into *TEXT (a copy) and *LEN. */
static int embedded_text(char **text, size_t *len)
{
        char *copy = malloc(rd_embedded_routing_len + 1);

        if (!copy)
                return -ENOMEM;
        memcpy(copy, rd_embedded_routing, rd_embedded_routing_len);
        copy[rd_embedded_routing_len] = '\0';
        *text = copy;
        *len = rd_embedded_routing_len;
        return 0;
}

int rd_server_load_rules(const struct rd_config *config, struct rd_rules **out, char **text,
                         size_t *len, struct rd_diag *diag)
{
        struct rd_rules *rules = NULL;
        int r;

        if (config->routing && text)
                return rd_routing_load_file(config->routing, out, text, len, diag);
        if (config->routing)
                return rd_rules_load_file(config->routing, out, diag);
        r = rd_rules_load_buffer(RD_EMBEDDED_ROUTING_NAME, rd_embedded_routing,
                                 rd_embedded_routing_len, &rules, diag);
        if (r == 0 && text)
                r = embedded_text(text, len);
        if (r < 0) {
                rd_rules_free(rules);
                return r;
        }
        *out = rules;
        return 0;
}

/* ---- load ------------------------------------------------------------------- */

/* Read the daemon config, when the daemon has a file, then the routing file
 * (the one named at start: a new `routing` takes effect on restart) into
 * RL. 0, or a negative errno with the reasons in RL->diag. */
static int reload_load(const struct rd_server *srv, struct reload *rl)
{
        int r = 0;

        if (srv->config->source)
                r = rd_config_load(srv->config->source, &rl->config, &rl->diag);
        if (r == 0)
                r = rd_server_load_rules(srv->config, &rl->rules, &rl->text, &rl->len, &rl->diag);
        return r;
}

/* ---- apply ------------------------------------------------------------------ */

/* Put the client list of FRESH in force (when both it and security are
 * there); make the events socket anew when someone lost the right to
 * subscribe. 0 or a negative errno. */
static void apply_clients(struct rd_server *srv, const struct rd_config *fresh,
                          struct rd_client *copy)
{
        int drop;

        if (!copy)
                return;
        drop = rd_auth_loses_subscriber(srv->auth, fresh->clients, fresh->n_clients);
        rd_auth_swap_clients(srv->auth, copy, fresh->n_clients);
        if (!drop)
                return;
        if (rd_server_open_events(srv) == 0)
                rd_log(LOG_NOTICE, RD_MSG_RELOADED,
                       "a subscriber lost its right to the events socket: the socket was made "
                       "anew and every subscriber reconnects through the key check");
        else
                rd_log(LOG_ERR, RD_MSG_RELOADED,
                       "a subscriber lost its right to the events socket, and the socket could "
                       "not be made anew: nobody can subscribe until a restart");
}

/* Say in the journal which keys of the daemon config changed but only take
 * effect on restart. */
static void other_keys_changed(const struct rd_config *old, const struct rd_config *fresh)
{
        const char *changed[16];
        size_t n = 0;
#define DIFF(field, name)                                                                          \
        do {                                                                                       \
                if ((old->field || fresh->field) &&                                                \
                    (!old->field || !fresh->field || strcmp(old->field, fresh->field) != 0))       \
                        changed[n++] = name;                                                       \
        } while (0)
        DIFF(intake, "intake");
        DIFF(events, "events");
        if (old->store != fresh->store)
                changed[n++] = "store";
        DIFF(database, "database");
        DIFF(pg_conninfo, "postgresql.conninfo");
        DIFF(pg_password_file, "postgresql.password_file");
        DIFF(routing, "routing");
        DIFF(secret_key_file, "security.secret_key_file");
#undef DIFF
        if (old->retention_s != fresh->retention_s)
                changed[n++] = "retention";
        if (old->audit_retention_s != fresh->audit_retention_s)
                changed[n++] = "audit_retention";
        if (old->journal_events != fresh->journal_events)
                changed[n++] = "journal_events";
        if (old->has_security != fresh->has_security)
                changed[n++] = "security";
        for (size_t i = 0; i < n; i++)
                rd_log(LOG_NOTICE, RD_MSG_RELOADED,
                       "the daemon config's %s changed: that takes effect on restart only",
                       changed[i]);
}

/* The reload of RL committed: say so (journal, STATUS=) and publish
 * config.reloaded and what serving the waitlist did. */
static void reloaded(struct rd_server *srv, const struct reload *rl)
{
        const struct rd_rules *in = rd_hub_rules(srv->hub);
        char at[RD_TIME_STR];

        if (rl->config)
                other_keys_changed(srv->config, rl->config);
        snprintf(srv->last_reload, sizeof srv->last_reload, "rules reloaded %s (%zu rules)",
                 rd_time_format(rl->now, at), in->n_rules);
        rd_log(LOG_NOTICE, RD_MSG_RELOADED,
               "routing rules reloaded from %s: %zu rules, digest %s (was %s); changes to other "
               "keys of the daemon config take effect on restart",
               in->source, in->n_rules, in->digest, rl->old_digest);
        rd_server_publish(srv);
}

/* RL's routing text is the one this daemon runs from now (taken). */
static void keep_text(struct rd_server *srv, struct reload *rl)
{
        char *old = srv->routing_text;

        srv->routing_text = rl->text;
        srv->routing_len = rl->len;
        rl->text = old; /* freed with RL */
}

/* A standby (leader.c) writes nothing: RL's client list is put in force,
 * and its routing file is the one it puts in force when it takes the lead. */
static void reload_standby(struct rd_server *srv, struct reload *rl)
{
        struct rd_client *clients = NULL;

        if (rl->config && srv->auth)
                clients = rd_auth_copy_clients(rl->config->clients, rl->config->n_clients);
        if (rl->config && srv->auth && !clients) {
                rd_log(LOG_ERR, RD_MSG_RELOAD_REFUSED, "reload refused: out of memory");
                return;
        }
        apply_clients(srv, rl->config, clients);
        keep_text(srv, rl);
        snprintf(srv->last_reload, sizeof srv->last_reload,
                 "a standby: rules read, in force on taking the lead");
        rd_log(LOG_NOTICE, RD_MSG_RELOADED,
               "routing file %s read (digest %s): this daemon is a standby and puts it in force "
               "when it takes the lead; the client list is in force",
               rl->rules->source, rl->rules->digest);
}

/* In the open transaction, put RL's rules in force with the record of the
 * routing file in force (daemon.md rev 2), and commit; only then the client
 * list (made aside first, so that nothing can fail after the commit): all
 * or nothing. On any failure roll back and keep the rules and the client
 * list in force (logged). */
static void reload_apply(struct rd_server *srv, struct reload *rl)
{
        struct rd_rules *previous = NULL;
        struct rd_client *clients = NULL;
        int r = 0;

        if (rl->config && srv->auth) {
                clients = rd_auth_copy_clients(rl->config->clients, rl->config->n_clients);
                if (!clients)
                        r = -ENOMEM;
        }
        if (r == 0)
                r = rd_hub_set_rules(srv->hub, rl->rules, rl->now, &previous);
        else
                rd_rules_free(rl->rules);
        rl->rules = NULL; /* the hub took them */
        if (r == 0)
                r = rd_routing_record(srv->store, rd_hub_rules(srv->hub), rl->text, rl->len,
                                      rl->now);
        if (r == 0 && rd_store_commit(srv->store) == 0) {
                rd_rules_free(previous);
                keep_text(srv, rl);
                apply_clients(srv, rl->config, clients);
                reloaded(srv, rl);
                return;
        }
        free(clients);
        rd_store_rollback(srv->store);
        if (previous)
                rd_hub_restore_rules(srv->hub, previous);
        else
                rd_hub_rolled_back(srv->hub);
        rd_log(LOG_ERR, RD_MSG_RELOAD_REFUSED,
               "reload refused: the new rules could not be put in force (%s); the rules in force "
               "stay (digest %s)",
               r < 0 ? strerror(-r) : rd_store_errmsg(srv->store), rl->old_digest);
}

/* ---- refuse ----------------------------------------------------------------- */

/* Log every diagnostic of RL and that the rules in force stay. */
static void log_refusal(struct rd_server *srv, const struct reload *rl)
{
        size_t errors = rl->diag.n_errors ? rl->diag.n_errors : 1;
        char at[RD_TIME_STR];

        for (size_t i = 0; i < rl->diag.n; i++)
                rd_log(rl->diag.items[i].severity == RD_DIAG_ERROR ? LOG_WARNING : LOG_NOTICE,
                       RD_MSG_RELOAD_REFUSED, "%s", rl->diag.items[i].text);
        rd_log(LOG_WARNING, RD_MSG_RELOAD_REFUSED,
               "reload refused: %zu errors; the rules in force stay (digest %s)", errors,
               rl->old_digest);
        snprintf(srv->last_reload, sizeof srv->last_reload, "reload REFUSED %s, old rules in force",
                 rd_time_format(rl->now, at));
}

/* In the open transaction: log every diagnostic of RL, record
 * config.rejected with the first error, commit and publish it. A standby
 * only logs them (it writes and publishes nothing). */
static void reload_refuse(struct rd_server *srv, const struct reload *rl)
{
        size_t errors = rl->diag.n_errors ? rl->diag.n_errors : 1;
        const char *first = rd_diag_first_error(&rl->diag);

        log_refusal(srv, rl);
        if (srv->ops.standby)
                return;
        if (rd_hub_reject_rules(srv->hub, first ? first : "the routing file cannot be read", errors,
                                rl->now) < 0)
                rd_server_rollback(srv);
        else if (rd_server_commit(srv, "recording a refused reload", true))
                rd_server_publish(srv);
}

/* ---- the three steps ---------------------------------------------------------- */

void rd_server_reload(struct rd_server *srv)
{
        struct reload rl = {.now = rd_now_ms()};
        int r;

        sd_notify(0, "RELOADING=1\nSTATUS=Reloading the routing rules");
        snprintf(rl.old_digest, sizeof rl.old_digest, "%s", rd_hub_rules(srv->hub)->digest);
        r = reload_load(srv, &rl);
        if (srv->ops.standby && r == 0)
                reload_standby(srv, &rl);
        else if (srv->ops.standby)
                reload_refuse(srv, &rl);
        else if (rd_server_db_gone(srv, true))
                rd_log(LOG_ERR, RD_MSG_RELOAD_REFUSED,
                       "reload refused: the database file is gone (see the critical line "
                       "above); the rules in force stay until referrald is restarted");
        else if (rd_store_begin(srv->store) < 0)
                rd_log(LOG_ERR, RD_MSG_RELOAD_REFUSED,
                       "reload refused: the database is not available: %s",
                       rd_store_errmsg(srv->store));
        else if (r == 0)
                reload_apply(srv, &rl);
        else
                reload_refuse(srv, &rl);
        rd_rules_free(rl.rules);
        free(rl.text);
        rd_config_free(rl.config);
        rd_diag_clear(&rl.diag);
        sd_notifyf(0, "READY=1\nSTATUS=Serving; %s", srv->last_reload);
}
