/* server.c: setting the server up (the sockets, CURVE, the signalfd), the
 * loop that polls them, the watchdog and STATUS= lines, and the stop.
 * What the loop does with what it reads is in batch.c (requests),
 * deadlines.c (timers) and reload.c (SIGHUP). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "log.h"
#include "server_priv.h"

#define STOP_DRAIN_MS 200
#define STATUS_EVERY_MS 5000

/* The slots of the loop's poll array. Without security only the first two
 * are polled. */
enum {
        PFD_INTAKE,     /* the intake ROUTER: requests */
        PFD_SIGNAL,     /* the signalfd: SIGTERM, SIGINT, SIGHUP */
        PFD_ZAP,        /* the ZAP handler: who may connect */
        PFD_MON_INTAKE, /* failed handshakes on the intake socket (monitor 0) */
        PFD_MON_EVENTS, /* failed handshakes on the events socket (monitor 1) */
        PFD_MAX
};

/* ---- sockets ------------------------------------------------------------------- */

/* Bind SOCK to ENDPOINT. libzmq binds to addresses and interface names,
 * not host names: daemon.md allows "localhost", which is the IPv4 loopback
 * here; and without ZMQ_IPV6 libzmq cannot bind [::1]. With RETRY, an
 * address still in use is tried again for up to a second (a socket just
 * closed lets go of its port in libzmq's I/O thread). */
static int bind_socket(void *sock, const char *endpoint, const char *what, int retry)
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

/* Make SOCK a CURVE server in DOMAIN behind the ZAP handler, its failed
 * handshakes watched by monitor I, when the daemon has security. */
static int secure_socket(struct rd_server *srv, void *sock, const char *domain, const char *name,
                         int i)
{
        int r;

        if (!srv->auth)
                return 0;
        r = rd_auth_server_socket(srv->auth, sock, domain);
        if (r == 0)
                r = rd_auth_watch(srv->auth, srv->zctx, sock, name, i);
        return r;
}

/* Used at start, and on a reload that takes the right to subscribe from
 * someone. */
int rd_server_open_events(struct rd_server *srv)
{
        int zero = 0, r, rebind = srv->pub != NULL;
        int64_t maxmsg = RD_SOCKET_MSG_MAX;

        if (srv->pub)
                zmq_close(srv->pub);
        srv->pub = zmq_socket(srv->zctx, ZMQ_PUB);
        if (!srv->pub)
                return -errno;
        zmq_setsockopt(srv->pub, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(srv->pub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        r = secure_socket(srv, srv->pub, RD_ZAP_DOMAIN_EVENTS, "events", 1);
        if (r < 0)
                return r;
        return bind_socket(srv->pub, srv->config->events, "events", rebind);
}

/* Make the intake ROUTER (a CURVE server with security) and bind it. */
static int open_intake(struct rd_server *srv)
{
        int one = 1, linger = RD_LINGER_MS, hwm = RD_REPLY_HWM, r;
        int64_t maxmsg = RD_SOCKET_MSG_MAX;

        srv->intake = zmq_socket(srv->zctx, ZMQ_ROUTER);
        if (!srv->intake)
                return -ENOMEM;
        r = secure_socket(srv, srv->intake, RD_ZAP_DOMAIN_INTAKE, "intake", 0);
        if (r < 0) {
                rd_log(LOG_ERR, RD_MSG_CONFIG_ERROR, "cannot set up CURVE: %s", zmq_strerror(-r));
                return r;
        }
        zmq_setsockopt(srv->intake, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        zmq_setsockopt(srv->intake, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(srv->intake, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        zmq_setsockopt(srv->intake, ZMQ_LINGER, &linger, sizeof linger);
        return bind_socket(srv->intake, srv->config->intake, "intake", 0);
}

/* The ZeroMQ context, the ZAP handler when the daemon has security (bound
 * first: a CURVE server without one lets everybody in), then both sockets. */
static int open_sockets(struct rd_server *srv)
{
        char errbuf[256];
        int r;

        srv->zctx = zmq_ctx_new();
        if (!srv->zctx)
                return -ENOMEM;
        if (srv->config->has_security) {
                r = rd_auth_new(srv->zctx, srv->config, &srv->auth, errbuf, sizeof errbuf);
                if (r < 0) {
                        rd_log(LOG_ERR, RD_MSG_CONFIG_ERROR, "%s", errbuf);
                        return r;
                }
                srv->ops.auth = srv->auth;
        }
        r = open_intake(srv);
        if (r == 0)
                r = rd_server_open_events(srv);
        return r;
}

/* ---- setup ---------------------------------------------------------------------- */

/* A non-blocking signalfd for the signals the caller blocked. */
static int open_signals(struct rd_server *srv)
{
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        srv->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        return srv->sigfd < 0 ? -errno : 0;
}

int rd_server_new(const struct rd_config *config, struct rd_rules *rules, struct rd_store *store,
                  struct rd_server **out)
{
        struct rd_server *srv = calloc(1, sizeof *srv);
        int r;

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
        srv->ops.started_ms = rd_now_ms();
        rd_txn_init(&srv->txn, store, srv->hub, &srv->ops);
        r = open_signals(srv);
        if (r == 0)
                r = open_sockets(srv);
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

/* ---- watchdog and status ----------------------------------------------------------- */

/* READY=1, the first WATCHDOG=1 when systemd watches, and the start in the
 * journal. */
static void announce_start(struct rd_server *srv)
{
        const struct rd_rules *rules = rd_hub_rules(srv->hub);
        uint64_t wd_usec = 0;

        if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec >= 2000)
                srv->watchdog_ms = (int64_t)(wd_usec / 2000);
        sd_notify(0, "READY=1\nSTATUS=Serving");
        srv->status_last = srv->watchdog_last = rd_mono_ms();
        if (srv->watchdog_ms)
                sd_notify(0, "WATCHDOG=1");
        rd_log(LOG_INFO, RD_MSG_STARTED,
               "referrald %s serving: intake %s, events %s, %zu routing rules (digest %s)",
               RD_VERSION, srv->config->intake, srv->config->events, rules->n_rules, rules->digest);
}

/* WATCHDOG=1 at half of WATCHDOG_USEC, and a STATUS= line at most every
 * few seconds, from the loop that serves requests: a stuck loop stops the
 * pings and systemd restarts it. Returns the longest the loop may sleep
 * before it must come back here (-1: no limit). */
static long keepalive(struct rd_server *srv)
{
        int64_t t = rd_mono_ms();
        long wait = -1;

        if (srv->watchdog_ms) {
                if (t - srv->watchdog_last >= srv->watchdog_ms) {
                        sd_notify(0, "WATCHDOG=1");
                        srv->watchdog_last = t;
                }
                wait = (long)(srv->watchdog_last + srv->watchdog_ms - t);
        }
        rd_server_report_dropped(srv, t);
        if (t - srv->status_last >= STATUS_EVERY_MS) {
                sd_notifyf(0, "STATUS=Serving: %lld requests answered, last event %lld%s%s",
                           (long long)srv->served, (long long)rd_store_last_seq(srv->store),
                           srv->last_reload[0] ? "; " : "", srv->last_reload);
                srv->status_last = t;
        }
        return wait;
}

/* ---- the loop ---------------------------------------------------------------------- */

/* Read every pending signal: SIGHUP sets *HUP, SIGTERM and SIGINT make the
 * server stop. */
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

/* Fill the poll array ITEMS; returns how many slots are polled. */
static int poll_slots(struct rd_server *srv, zmq_pollitem_t items[PFD_MAX])
{
        items[PFD_INTAKE] = (zmq_pollitem_t){.socket = srv->intake, .events = ZMQ_POLLIN};
        items[PFD_SIGNAL] = (zmq_pollitem_t){.fd = srv->sigfd, .events = ZMQ_POLLIN};
        if (!srv->auth)
                return PFD_SIGNAL + 1;
        items[PFD_ZAP] =
                (zmq_pollitem_t){.socket = rd_auth_zap_socket(srv->auth), .events = ZMQ_POLLIN};
        items[PFD_MON_INTAKE] = (zmq_pollitem_t){.socket = rd_auth_monitor_socket(srv->auth, 0),
                                                 .events = ZMQ_POLLIN};
        /* a reload may make the events socket, and so its monitor, anew */
        items[PFD_MON_EVENTS] = (zmq_pollitem_t){.socket = rd_auth_monitor_socket(srv->auth, 1),
                                                 .events = ZMQ_POLLIN};
        return PFD_MAX;
}

static long min_timeout(long a, long b)
{
        if (a < 0)
                return b;
        if (b < 0)
                return a;
        return a < b ? a : b;
}

/* After a poll: serve what is ready. ZMQ_POLLIN is edge-like: drain while
 * anything is ready, but look at signals and deadlines between batches, so
 * that a stream of requests delays neither a stop, a reload nor a deadline
 * by more than one batch. Returns how long the loop may sleep for the
 * deadlines. */
static long serve_ready(struct rd_server *srv, long timeout)
{
        for (;;) {
                int hup = 0, n;
                read_signals(srv, &hup);
                if (srv->ops.stopping)
                        return timeout;
                if (hup)
                        rd_server_reload(srv);
                n = rd_server_serve_batch(srv);
                timeout = rd_server_serve_deadlines(srv);
                keepalive(srv);
                serve_auth(srv); /* new connections wait for their ZAP answer */
                if (n == 0)
                        return timeout;
        }
}

/* STOPPING=1, then answer what is already queued with `unavailable`,
 * briefly, and say in the journal that the daemon stopped. */
static void stop(struct rd_server *srv)
{
        int64_t deadline = rd_mono_ms() + STOP_DRAIN_MS;

        sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
        while (rd_mono_ms() < deadline) {
                if (rd_server_serve_batch(srv) == 0) {
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
}

int rd_server_run(struct rd_server *srv)
{
        zmq_pollitem_t items[PFD_MAX];
        long timeout;

        announce_start(srv);
        rd_server_serve_waitlist(srv);
        /* deadlines that passed while the daemon was down fire at once */
        timeout = rd_server_serve_deadlines(srv);
        while (!srv->ops.stopping) {
                int n_items = poll_slots(srv, items);
                if (zmq_poll(items, n_items, min_timeout(timeout, keepalive(srv))) < 0 &&
                    errno != EINTR) {
                        rd_log(LOG_ERR, RD_MSG_GENERIC, "poll failed: %s", zmq_strerror(errno));
                        return -errno;
                }
                serve_auth(srv);
                timeout = serve_ready(srv, timeout);
        }
        stop(srv);
        return 0;
}
