#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "bounds.h"
#include "embedded.h"
#include "event.h"
#include "hub.h"
#include "log.h"
#include "ops.h"
#include "timefmt.h"

#define TICK_MAX 256 /* deadlines handled per transaction */
#define STOP_DRAIN_MS 200

struct request {
        zmq_msg_t envelope[2]; /* routing id, and REQ's empty delimiter */
        int n_envelope;
        json_t *reply;
};

struct rd_server {
        const struct rd_config *config;
        struct rd_store *store;
        struct rd_hub *hub;
        struct rd_ops ops;
        struct rd_auth *auth; /* NULL without security */
        void *zctx;
        void *intake;
        void *pub;
        int sigfd;
        /* the batch in hand */
        struct request batch[RD_BATCH_MAX];
        int n_batch;
        int64_t dropped_replies;
        int64_t dropped_logged_ms;
        int64_t dropped_reported; /* dropped_replies when last logged */
        /* systemd */
        int64_t watchdog_ms; /* half of WATCHDOG_USEC; 0: no watchdog */
        int64_t watchdog_last;
        int64_t status_last;
        int64_t served; /* requests answered */
        char last_reload[160];
        int64_t audit_purged; /* monotonic ms of the last audit purge; 0: never */
};

static int open_pub(struct rd_server *srv);

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- publishing ------------------------------------------------------------ */

/* Send one committed event (its stored JSON TEXT) to subscribers and to the
 * journal. */
static void publish(struct rd_server *srv, const struct rd_event *ev, const char *text)
{
        const char *topic = rd_event_type_name(ev->type);
        enum rd_journal_events je = srv->config->journal_events;

        if (text) {
                /* PUB never blocks: a slow subscriber loses messages at its
                 * high-water mark and catches up with `events`. */
                zmq_send(srv->pub, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT);
                zmq_send(srv->pub, text, strlen(text), ZMQ_DONTWAIT);
        }
        if (je == RD_JOURNAL_ALL || (je == RD_JOURNAL_DECISIONS && rd_event_is_decision(ev->type)))
                rd_log_event(ev);
}

/* Publish what the committed transaction holds, then forget it. */
static void publish_committed(struct rd_server *srv)
{
        size_t n;
        const struct rd_event *evs = rd_hub_events(srv->hub, &n);
        for (size_t i = 0; i < n; i++)
                publish(srv, &evs[i], rd_hub_event_text(srv->hub, i));
        rd_hub_events_clear(srv->hub);
        rd_log_flush();
}

/* Commit the open transaction; on failure roll back and tell the hub.
 * Returns 1 when committed. */
static int commit(struct rd_server *srv, const char *what)
{
        if (rd_store_commit(srv->store) == 0) {
                /* erased bytes must leave the write-ahead log too */
                if (rd_hub_erased(srv->hub) && rd_store_checkpoint(srv->store) < 0)
                        rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR,
                               "cannot checkpoint the write-ahead log after an erase: %s",
                               rd_store_errmsg(srv->store));
                return 1;
        }
        rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "commit failed while %s: %s", what,
               rd_store_errmsg(srv->store));
        rd_store_rollback(srv->store);
        rd_hub_rolled_back(srv->hub);
        return 0;
}

/* ---- the batch ----------------------------------------------------------------- */

/* Receive one whole message into REQ's envelope and BODY. Returns 1 when a
 * message was read, 0 when none is ready, negative on a socket fault. A
 * message whose shape is wrong gets its reply set here. */
static int recv_request(struct rd_server *srv, struct request *rq, zmq_msg_t *body, int *n_body)
{
        zmq_msg_t part;
        int more, first = 1;

        rq->n_envelope = 0;
        rq->reply = NULL;
        *n_body = 0;
        do {
                zmq_msg_init(&part);
                if (zmq_msg_recv(&part, srv->intake, first ? ZMQ_DONTWAIT : 0) < 0) {
                        int e = errno;
                        zmq_msg_close(&part);
                        if (first && e == EAGAIN)
                                return 0;
                        return -e;
                }
                more = zmq_msg_more(&part);
                if (first) {
                        zmq_msg_init(&rq->envelope[0]);
                        zmq_msg_move(&rq->envelope[0], &part);
                        rq->n_envelope = 1;
                        first = 0;
                } else if (rq->n_envelope == 1 && *n_body == 0 && zmq_msg_size(&part) == 0 &&
                           more) {
                        /* a REQ client's empty delimiter */
                        zmq_msg_init(&rq->envelope[1]);
                        zmq_msg_move(&rq->envelope[1], &part);
                        rq->n_envelope = 2;
                } else if (*n_body == 0) {
                        zmq_msg_move(body, &part);
                        *n_body = 1;
                } else {
                        (*n_body)++; /* extra body frames: counted, dropped */
                }
                zmq_msg_close(&part);
        } while (more);
        return 1;
}

static void send_reply(struct rd_server *srv, struct request *rq)
{
        char *text = json_dumps(rq->reply, JSON_COMPACT);
        int ok = text != NULL;

        /* ZMQ_ROUTER_MANDATORY: a reply that cannot be queued fails here
         * (EHOSTUNREACH: the peer is gone; EAGAIN: its queue is full) instead
         * of vanishing. The loop never waits for one slow client. */
        for (int i = 0; ok && i < rq->n_envelope; i++)
                ok = zmq_msg_send(&rq->envelope[i], srv->intake, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0;
        if (ok)
                ok = zmq_send(srv->intake, text, strlen(text), ZMQ_DONTWAIT) >= 0;
        if (!ok) {
                int64_t t = mono_ms();
                int e = text ? errno : ENOMEM;
                srv->dropped_replies++;
                /* at most one line a second, with the count; keepalive()
                 * reports the rest */
                if (t - srv->dropped_logged_ms >= 1000) {
                        srv->dropped_reported = srv->dropped_replies;
                        rd_log(LOG_WARNING, RD_MSG_REPLY_DROPPED,
                               "a reply could not be delivered (%s); %lld undelivered so far; "
                               "what was committed stays, and a client that retries gets the "
                               "same answer",
                               e == EHOSTUNREACH ? "the client is gone"
                               : e == EAGAIN     ? "the client's queue is full"
                                                 : strerror(e),
                               (long long)srv->dropped_replies);
                        srv->dropped_logged_ms = t;
                }
        }
        free(text);
        srv->served++;
        for (int i = 0; i < rq->n_envelope; i++)
                zmq_msg_close(&rq->envelope[i]);
        json_decref(rq->reply);
        rq->reply = NULL;
}

/* Take every request that is ready (at most RD_BATCH_MAX), answer them in one
 * transaction, commit, reply, publish. */
static int serve_batch(struct rd_server *srv)
{
        int64_t now = now_ms();
        int r, began, committed = 0; /* began: 1 not yet, 0 open, < 0 failed */

        srv->n_batch = 0;
        began = 1; /* the transaction begins with the first request */
        while (srv->n_batch < RD_BATCH_MAX) {
                struct request *rq = &srv->batch[srv->n_batch];
                zmq_msg_t body;
                int n_body;

                zmq_msg_init(&body);
                r = recv_request(srv, rq, &body, &n_body);
                if (r <= 0) {
                        zmq_msg_close(&body);
                        if (r < 0 && r != -EINTR)
                                rd_log(LOG_ERR, RD_MSG_GENERIC, "receiving a request: %s",
                                       strerror(-r));
                        break;
                }
                if (began == 1) {
                        began = rd_store_begin(srv->store);
                        if (began < 0)
                                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR,
                                       "cannot begin a transaction: %s",
                                       rd_store_errmsg(srv->store));
                }
                if (n_body != 1)
                        rq->reply = rd_ops_error(NULL, RD_MALFORMED, NULL,
                                                 n_body == 0 ? "the request has no body frame"
                                                             : "a request is one frame holding "
                                                               "one JSON object; this one had "
                                                               "several");
                else if (began < 0)
                        rq->reply = rd_ops_error(NULL, RD_UNAVAILABLE, NULL,
                                                 "the database is not available; nothing was "
                                                 "stored; retry later");
                else
                        rq->reply = rd_ops_handle(
                                &srv->ops, zmq_msg_data(&body), zmq_msg_size(&body),
                                srv->auth ? zmq_msg_gets(&body, "User-Id") : NULL, now);
                zmq_msg_close(&body);
                srv->n_batch++;
        }
        if (began == 0) {
                committed = commit(srv, "answering requests");
                if (!committed) {
                        /* nothing of the batch is stored: no `ok` may go out */
                        for (int i = 0; i < srv->n_batch; i++) {
                                json_t *old = srv->batch[i].reply;
                                const char *corr = json_string_value(json_object_get(old, "corr"));
                                if (json_is_true(json_object_get(old, "ok"))) {
                                        srv->batch[i].reply = rd_ops_error(
                                                corr, RD_INTERNAL, NULL,
                                                "the database could not commit; nothing was "
                                                "stored; retry later");
                                        json_decref(old);
                                }
                        }
                }
        }
        for (int i = 0; i < srv->n_batch; i++)
                send_reply(srv, &srv->batch[i]);
        if (committed)
                publish_committed(srv);
        return srv->n_batch;
}

/* ---- deadlines -------------------------------------------------------------------- */

/* Drop audit entries past audit_retention, at start and then hourly. */
static void purge_audit(struct rd_server *srv)
{
        int64_t t = mono_ms();
        int r;

        if (srv->audit_purged && t - srv->audit_purged < 3600 * 1000)
                return;
        srv->audit_purged = t;
        if (rd_store_begin(srv->store) < 0)
                return;
        r = rd_store_audit_purge(srv->store, now_ms() - srv->config->audit_retention_s * 1000);
        if (r < 0) {
                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "cannot purge the audit trail: %s",
                       rd_store_errmsg(srv->store));
                rd_store_rollback(srv->store);
                return;
        }
        if (commit(srv, "purging the audit trail") && r > 0)
                rd_log(LOG_INFO, RD_MSG_GENERIC,
                       "%d audit entries older than the audit retention were deleted", r);
}

/* Handle what is due (a transaction per TICK_MAX referrals) and return how
 * long the loop may sleep: until the next deadline, or -1 when none (at
 * most an hour: the audit trail is purged hourly). */
static long serve_deadlines(struct rd_server *srv)
{
        purge_audit(srv);
        for (int round = 0;; round++) {
                int64_t next = 0, now = now_ms();
                size_t done = 0;
                int r;

                if (rd_hub_next_deadline(srv->hub, &next) < 0) {
                        rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "cannot read deadlines: %s",
                               rd_store_errmsg(srv->store));
                        return 1000;
                }
                if (!next)
                        return 3600 * 1000;
                if (next > now) /* at most a minute: the wall clock may be set */
                        return next - now > 60000 ? 60000 : (long)(next - now);
                if (round == 64)
                        return 0; /* much is due: let requests in between */
                if (rd_store_begin(srv->store) < 0) {
                        rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "cannot begin a transaction: %s",
                               rd_store_errmsg(srv->store));
                        return 1000;
                }
                r = rd_hub_tick(srv->hub, now, TICK_MAX, &done);
                if (r < 0) {
                        rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR,
                               "handling deadlines failed: %s (%s); retrying in a second",
                               strerror(-r), rd_store_errmsg(srv->store));
                        rd_store_rollback(srv->store);
                        rd_hub_rolled_back(srv->hub);
                        return 1000;
                }
                if (!commit(srv, "handling deadlines"))
                        return 1000;
                publish_committed(srv);
                if (done == 0) {
                        /* due but nothing to do: cannot happen; never spin */
                        rd_log(LOG_ERR, RD_MSG_GENERIC, "a deadline was due but nothing fired");
                        return 1000;
                }
        }
}

/* ---- reload ---------------------------------------------------------------------- */

int rd_server_load_rules(const struct rd_config *config, struct rd_rules **out,
                         struct rd_diag *diag)
{
        if (config->routing)
                return rd_rules_load_file(config->routing, out, diag);
        return rd_rules_load_buffer(RD_EMBEDDED_ROUTING_NAME, rd_embedded_routing,
                                    rd_embedded_routing_len, out, diag);
}

/* Say in the journal which keys of the daemon config changed but only take
 * effect on restart. */
static void other_keys_changed(const struct rd_config *old, const struct rd_config *fresh)
{
        const char *changed[8];
        size_t n = 0;
#define DIFF(field, name)                                                                          \
        do {                                                                                       \
                if ((old->field || fresh->field) &&                                                \
                    (!old->field || !fresh->field || strcmp(old->field, fresh->field) != 0))       \
                        changed[n++] = name;                                                       \
        } while (0)
        DIFF(intake, "intake");
        DIFF(events, "events");
        DIFF(database, "database");
        DIFF(routing, "routing");
        DIFF(secret_key_file, "security.secret_key_file");
#undef DIFF
        if (old->retention_s != fresh->retention_s)
                changed[n++] = "retention";
        if (old->audit_retention_s != fresh->audit_retention_s)
                changed[n++] = "audit_retention";
        if (old->journal_events != fresh->journal_events ||
            old->has_security != fresh->has_security)
                changed[n++] = old->journal_events != fresh->journal_events ? "journal_events"
                                                                            : "security";
        for (size_t i = 0; i < n; i++)
                rd_log(LOG_NOTICE, RD_MSG_RELOADED,
                       "the daemon config's %s changed: that takes effect on restart only",
                       changed[i]);
}

static void reload(struct rd_server *srv)
{
        struct rd_diag diag = {0};
        struct rd_config *fresh_config = NULL;
        struct rd_rules *fresh = NULL;
        int64_t now = now_ms();
        const char *old_digest;
        char old[65];
        int r;

        sd_notify(0, "RELOADING=1\nSTATUS=Reloading the routing rules");
        old_digest = rd_hub_rules(srv->hub)->digest;
        snprintf(old, sizeof old, "%s", old_digest);
        /* the daemon config first: its security.clients reload too */
        if (srv->config->source) {
                r = rd_config_load(srv->config->source, &fresh_config, &diag);
                if (r < 0)
                        goto refused;
        }
        r = rd_server_load_rules(srv->config, &fresh, &diag);
refused:
        if (rd_store_begin(srv->store) < 0) {
                rd_log(LOG_ERR, RD_MSG_RELOAD_REFUSED,
                       "reload refused: the database is not available: %s",
                       rd_store_errmsg(srv->store));
                rd_rules_free(fresh);
                goto out;
        }
        if (r == 0) {
                size_t n_rules = fresh->n_rules;
                struct rd_rules *previous = NULL;
                r = rd_hub_set_rules(srv->hub, fresh, now, &previous); /* takes FRESH */
                if (r == 0 && fresh_config && srv->auth) {
                        int drop = rd_auth_loses_subscriber(srv->auth, fresh_config->clients,
                                                            fresh_config->n_clients);
                        r = rd_auth_set_clients(srv->auth, fresh_config->clients,
                                                fresh_config->n_clients);
                        if (r == 0 && drop) {
                                r = open_pub(srv);
                                if (r == 0)
                                        rd_log(LOG_NOTICE, RD_MSG_RELOADED,
                                               "a subscriber lost its right to the events "
                                               "socket: the socket was made anew and every "
                                               "subscriber reconnects through the key check");
                        }
                }
                if (r == 0 && rd_store_commit(srv->store) == 0) {
                        const struct rd_rules *in = rd_hub_rules(srv->hub);
                        char at[RD_TIME_STR];
                        rd_rules_free(previous);
                        if (fresh_config)
                                other_keys_changed(srv->config, fresh_config);
                        snprintf(srv->last_reload, sizeof srv->last_reload,
                                 "rules reloaded %s (%zu rules)", rd_time_format(now, at), n_rules);
                        rd_log(LOG_NOTICE, RD_MSG_RELOADED,
                               "routing rules reloaded from %s: %zu rules, digest %s (was %s); "
                               "changes to other keys of the daemon config take effect on "
                               "restart",
                               in->source, n_rules, in->digest, old);
                        publish_committed(srv);
                } else {
                        rd_store_rollback(srv->store);
                        if (previous)
                                rd_hub_restore_rules(srv->hub, previous);
                        else
                                rd_hub_rolled_back(srv->hub);
                        rd_log(LOG_ERR, RD_MSG_RELOAD_REFUSED,
                               "reload refused: the new rules could not be put in force (%s); "
                               "the rules in force stay (digest %s)",
                               r < 0 ? strerror(-r) : rd_store_errmsg(srv->store), old);
                }
                goto out;
        }
        for (size_t i = 0; i < diag.n; i++)
                rd_log(diag.items[i].severity == RD_DIAG_ERROR ? LOG_WARNING : LOG_NOTICE,
                       RD_MSG_RELOAD_REFUSED, "%s", diag.items[i].text);
        rd_log(LOG_WARNING, RD_MSG_RELOAD_REFUSED,
               "reload refused: %zu errors; the rules in force stay (digest %s)",
               diag.n_errors ? diag.n_errors : 1, old);
        {
                char at[RD_TIME_STR];
                snprintf(srv->last_reload, sizeof srv->last_reload,
                         "reload REFUSED %s, old rules in force", rd_time_format(now, at));
        }
        r = rd_hub_reject_rules(srv->hub,
                                rd_diag_first_error(&diag) ? rd_diag_first_error(&diag)
                                                           : "the routing file cannot be read",
                                diag.n_errors ? diag.n_errors : 1, now);
        if (r == 0 && commit(srv, "recording a refused reload"))
                publish_committed(srv);
        else if (r < 0) {
                rd_store_rollback(srv->store);
                rd_hub_rolled_back(srv->hub);
        }
out:
        rd_config_free(fresh_config);
        rd_diag_clear(&diag);
        sd_notifyf(0, "READY=1\nSTATUS=Serving; %s", srv->last_reload);
}

/* ---- setup and loop ------------------------------------------------------------- */

/* Bind SOCK to ENDPOINT. libzmq binds to addresses and interface names,
 * not host names: daemon.md allows "localhost", which is the IPv4 loopback
 * here; and without ZMQ_IPV6 libzmq cannot bind [::1]. With RETRY, an
 * address still in use is tried again for up to a second (a socket just
 * closed lets go of its port in libzmq's I/O thread). */
static int bind_socket_retry(void *sock, const char *endpoint, const char *what, int retry)
{
        static const char local[] = "tcp://localhost:";
        char buf[512];
        const char *ep = endpoint;
        int one = 1;

        if (strncmp(endpoint, local, sizeof local - 1) == 0) {
                snprintf(buf, sizeof buf, "tcp://127.0.0.1:%s", endpoint + sizeof local - 1);
                ep = buf;
        }
        zmq_setsockopt(sock, ZMQ_IPV6, &one, sizeof one);
        for (int tries = 0; zmq_bind(sock, ep) < 0; tries++) {
                int e = errno;
                if (!retry || e != EADDRINUSE || tries == 200) {
                        rd_log(LOG_ERR, RD_MSG_GENERIC, "cannot bind the %s socket to %s: %s", what,
                               endpoint, zmq_strerror(e));
                        return -e;
                }
                usleep(5000);
        }
        return 0;
}

static int bind_socket(void *sock, const char *endpoint, const char *what)
{
        return bind_socket_retry(sock, endpoint, what, 0);
}

/* Make the events socket (a CURVE server behind ZAP with security) and
 * bind it. Used at start, and on a reload that takes the right to subscribe
 * from someone: closing the old socket drops every subscription, and each
 * subscriber's reconnect is judged by the list now in force. */
static int open_pub(struct rd_server *srv)
{
        int zero = 0, r = 0, rebind = srv->pub != NULL;
        int64_t maxmsg = RD_SOCKET_MSG_MAX;

        if (srv->pub)
                zmq_close(srv->pub);
        srv->pub = zmq_socket(srv->zctx, ZMQ_PUB);
        if (!srv->pub)
                return -errno;
        zmq_setsockopt(srv->pub, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(srv->pub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        if (srv->auth) {
                r = rd_auth_server_socket(srv->auth, srv->pub, RD_ZAP_DOMAIN_EVENTS);
                if (r == 0)
                        r = rd_auth_watch(srv->auth, srv->zctx, srv->pub, "events", 1);
                if (r < 0)
                        return r;
        }
        return bind_socket_retry(srv->pub, srv->config->events, "events", rebind);
}

int rd_server_new(const struct rd_config *config, struct rd_rules *rules, struct rd_store *store,
                  struct rd_server **out)
{
        struct rd_server *srv = calloc(1, sizeof *srv);
        int one = 1, linger = RD_LINGER_MS, hwm = RD_REPLY_HWM, r = -ENOMEM;
        int64_t maxmsg = RD_SOCKET_MSG_MAX;
        sigset_t mask;

        if (!srv) {
                rd_rules_free(rules);
                rd_store_close(store);
                return -ENOMEM;
        }
        srv->config = config;
        srv->store = store;
        srv->sigfd = -1;
        r = rd_hub_new(store, rules, &srv->hub); /* takes RULES */
        if (r < 0) {
                rd_log(LOG_ERR, RD_MSG_DATABASE_ERROR, "cannot read the connectors' state: %s",
                       rd_store_errmsg(store));
                goto fail;
        }
        rd_hub_set_retention(srv->hub, config->retention_s);
        srv->ops.hub = srv->hub;
        srv->ops.store = store;
        srv->ops.config = config;
        srv->ops.started_ms = now_ms();
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        srv->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (srv->sigfd < 0) {
                r = -errno;
                goto fail;
        }
        r = -ENOMEM;
        srv->zctx = zmq_ctx_new();
        if (!srv->zctx)
                goto fail;
        if (config->has_security) {
                char errbuf[256];
                /* the ZAP handler first: a CURVE server without one lets
                 * everybody in */
                r = rd_auth_new(srv->zctx, config, &srv->auth, errbuf, sizeof errbuf);
                if (r < 0) {
                        rd_log(LOG_ERR, RD_MSG_CONFIG_ERROR, "%s", errbuf);
                        goto fail;
                }
                srv->ops.auth = srv->auth;
        }
        srv->intake = zmq_socket(srv->zctx, ZMQ_ROUTER);
        if (!srv->intake)
                goto fail;
        if (srv->auth) {
                r = rd_auth_server_socket(srv->auth, srv->intake, RD_ZAP_DOMAIN_INTAKE);
                if (r == 0)
                        r = rd_auth_watch(srv->auth, srv->zctx, srv->intake, "intake", 0);
                if (r < 0) {
                        rd_log(LOG_ERR, RD_MSG_CONFIG_ERROR, "cannot set up CURVE: %s",
                               zmq_strerror(-r));
                        goto fail;
                }
        }
        zmq_setsockopt(srv->intake, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        zmq_setsockopt(srv->intake, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(srv->intake, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        zmq_setsockopt(srv->intake, ZMQ_LINGER, &linger, sizeof linger);
        r = bind_socket(srv->intake, config->intake, "intake");
        if (r == 0)
                r = open_pub(srv);
        if (r < 0)
                goto fail;
        *out = srv;
        return 0;
fail:
        rd_server_free(srv);
        return r;
}

void rd_server_free(struct rd_server *srv)
{
        if (!srv)
                return;
        rd_auth_free(srv->auth); /* its monitors before the sockets they watch */
        if (srv->intake)
                zmq_close(srv->intake);
        if (srv->pub)
                zmq_close(srv->pub);
        if (srv->zctx)
                zmq_ctx_term(srv->zctx);
        if (srv->sigfd >= 0)
                close(srv->sigfd);
        rd_hub_free(srv->hub);
        rd_store_close(srv->store);
        free(srv);
}

static void read_signals(struct rd_server *srv, int *hup)
{
        struct signalfd_siginfo si;
        while (read(srv->sigfd, &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGHUP)
                        *hup = 1;
                else
                        srv->ops.stopping = true;
        }
}

/* WATCHDOG=1 at half of WATCHDOG_USEC, and a STATUS= line at most every
 * few seconds, from the loop that serves requests: a stuck loop stops the
 * pings and systemd restarts it. Returns the longest the loop may sleep
 * before it must come back here (-1: no limit). */
static long keepalive(struct rd_server *srv)
{
        int64_t t = mono_ms();
        long wait = -1;

        if (srv->watchdog_ms) {
                if (t - srv->watchdog_last >= srv->watchdog_ms) {
                        sd_notify(0, "WATCHDOG=1");
                        srv->watchdog_last = t;
                }
                wait = (long)(srv->watchdog_last + srv->watchdog_ms - t);
        }
        if (srv->dropped_replies > srv->dropped_reported && t - srv->dropped_logged_ms >= 1000) {
                rd_log(LOG_WARNING, RD_MSG_REPLY_DROPPED,
                       "%lld more replies could not be delivered (%lld in all); what was "
                       "committed stays, and a client that retries gets the same answer",
                       (long long)(srv->dropped_replies - srv->dropped_reported),
                       (long long)srv->dropped_replies);
                srv->dropped_reported = srv->dropped_replies;
                srv->dropped_logged_ms = t;
        }
        if (t - srv->status_last >= 5000) {
                sd_notifyf(0, "STATUS=Serving: %lld requests answered, last event %lld%s%s",
                           (long long)srv->served, (long long)rd_store_last_seq(srv->store),
                           srv->last_reload[0] ? "; " : "", srv->last_reload);
                srv->status_last = t;
        }
        return wait;
}

/* Answer every ZAP request that is ready and log failed handshakes. */
static void serve_auth(struct rd_server *srv)
{
        if (!srv->auth)
                return;
        while (rd_auth_handle(srv->auth))
                ;
        for (int m = 0; m < 2; m++)
                while (rd_auth_handle_monitor(srv->auth, m))
                        ;
}

static long min_timeout(long a, long b)
{
        if (a < 0)
                return b;
        if (b < 0)
                return a;
        return a < b ? a : b;
}

int rd_server_run(struct rd_server *srv)
{
        uint64_t wd_usec = 0;
        zmq_pollitem_t items[5] = {
                {.socket = srv->intake, .events = ZMQ_POLLIN},
                {.fd = srv->sigfd, .events = ZMQ_POLLIN},
        };
        int n_items = 2;
        const struct rd_rules *rules = rd_hub_rules(srv->hub);
        int64_t deadline;
        long timeout;

        if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec >= 2000)
                srv->watchdog_ms = (int64_t)(wd_usec / 2000);
        sd_notify(0, "READY=1\nSTATUS=Serving");
        srv->status_last = srv->watchdog_last = mono_ms();
        if (srv->watchdog_ms)
                sd_notify(0, "WATCHDOG=1");
        rd_log(LOG_INFO, RD_MSG_STARTED,
               "referrald %s serving: intake %s, events %s, %zu routing rules (digest %s)",
               RD_VERSION, srv->config->intake, srv->config->events, rules->n_rules, rules->digest);
        if (srv->auth) {
                items[2] = (zmq_pollitem_t){.socket = rd_auth_zap_socket(srv->auth),
                                            .events = ZMQ_POLLIN};
                items[3] = (zmq_pollitem_t){.socket = rd_auth_monitor_socket(srv->auth, 0),
                                            .events = ZMQ_POLLIN};
                items[4] = (zmq_pollitem_t){.socket = rd_auth_monitor_socket(srv->auth, 1),
                                            .events = ZMQ_POLLIN};
                n_items = 5;
        }
        /* the routing file may have changed while the daemon was down */
        if (rd_store_begin(srv->store) == 0) {
                if (rd_hub_serve_waitlist(srv->hub, now_ms()) == 0) {
                        if (commit(srv, "serving the waitlist at start"))
                                publish_committed(srv);
                } else {
                        rd_store_rollback(srv->store);
                        rd_hub_rolled_back(srv->hub);
                }
        }
        /* deadlines that passed while the daemon was down fire at once */
        timeout = serve_deadlines(srv);
        while (!srv->ops.stopping) {
                if (srv->auth) /* a reload may have made the events socket anew */
                        items[4].socket = rd_auth_monitor_socket(srv->auth, 1);
                if (zmq_poll(items, n_items, min_timeout(timeout, keepalive(srv))) < 0 &&
                    errno != EINTR) {
                        rd_log(LOG_ERR, RD_MSG_GENERIC, "poll failed: %s", zmq_strerror(errno));
                        return -errno;
                }
                serve_auth(srv);
                /* ZMQ_POLLIN is edge-like: drain while anything is ready, but
                 * look at signals and deadlines between batches, so that a
                 * stream of requests delays neither a stop, a reload nor a
                 * deadline by more than one batch. */
                for (;;) {
                        int hup = 0, n;
                        read_signals(srv, &hup);
                        if (srv->ops.stopping)
                                break;
                        if (hup)
                                reload(srv);
                        n = serve_batch(srv);
                        timeout = serve_deadlines(srv);
                        keepalive(srv);
                        serve_auth(srv); /* new connections wait for their ZAP answer */
                        if (n == 0)
                                break;
                }
        }
        sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
        /* Answer what is already queued with `unavailable`, briefly. */
        deadline = mono_ms() + STOP_DRAIN_MS;
        while (mono_ms() < deadline) {
                if (serve_batch(srv) == 0) {
                        zmq_pollitem_t it = {.socket = srv->intake, .events = ZMQ_POLLIN};
                        if (zmq_poll(&it, 1, 20) <= 0)
                                break;
                }
        }
        rd_log(LOG_INFO, RD_MSG_STOPPED,
               "referrald stopped; last event seq %lld; %lld requests answered, %lld replies "
               "undeliverable",
               (long long)rd_store_last_seq(srv->store), (long long)srv->served,
               (long long)srv->dropped_replies);
        return 0;
}
