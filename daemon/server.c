/* server.c: setting the server up (the sockets, CURVE, their monitors, the
 * signalfd), the loop that polls them, the endpoints closed for a while at
 * the limit of open files, the watchdog and STATUS= lines, and the stop.
 * What the loop does with what it reads is in batch.c (requests),
 * deadlines.c (timers) and reload.c (SIGHUP). */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "dbfile.h"
#include "log.h"
#include "server_priv.h"

#define STOP_DRAIN_MS 200
#define STATUS_EVERY_MS 5000
#define SWEEP_EVERY_MS 5000

/* The slots of the loop's poll array. Without security the ZAP handler
 * is not polled. */
enum {
        PFD_INTAKE,     /* the intake ROUTER: requests */
        PFD_SIGNAL,     /* the signalfd: SIGTERM, SIGINT, SIGHUP */
        PFD_MON_INTAKE, /* the intake socket's monitor (LISTEN_INTAKE) */
        PFD_MON_EVENTS, /* the events socket's monitor (LISTEN_EVENTS) */
        PFD_STORE,      /* the store's connection being made (rd_store_connect_fd; -1: none) */
        PFD_ZAP,        /* the ZAP handler: who may connect */
        PFD_MAX
};

#define PAUSE_MIN_MS 1000   /* an endpoint closed at the file limit, at first */
#define PAUSE_MAX_MS 60000  /* and at most, when the limit is hit again and again */
#define QUIET_MS 60000      /* no failed accept for this long: start again at the least */
#define ACCEPT_LOG_MS 60000 /* a line about failed accepts, at most */

/* ---- sockets ------------------------------------------------------------------- */

/* Bind SOCK to ENDPOINT, and note in L the endpoint as bound (to bind it
 * again after closing it). libzmq binds to addresses and interface names,
 * not host names: daemon.md allows "localhost", which is the IPv4 loopback
 * here; and without ZMQ_IPV6 libzmq cannot bind [::1]. With RETRY, an
 * address still in use is tried again for up to a second (a socket just
 * closed lets go of its port in libzmq's I/O thread). */
static int bind_socket(void *sock, const char *endpoint, struct listener *l, int retry)
{
        static const char local[] = "tcp://localhost:";
        char buf[512];
        const char *ep = endpoint;
        size_t len = sizeof l->endpoint;
        int one = 1;

        if (strncmp(endpoint, local, sizeof local - 1) == 0) {
                snprintf(buf, sizeof buf, "tcp://127.0.0.1:%s", endpoint + sizeof local - 1);
                ep = buf;
        }
        zmq_setsockopt(sock, ZMQ_IPV6, &one, sizeof one);
        for (int tries = 0; zmq_bind(sock, ep) < 0; tries++) {
                int e = errno;
                if (!retry || e != EADDRINUSE || tries == 200) {
                        rd_log(LOG_ERR, RD_MSG_GENERIC, "cannot bind the %s socket to %s: %s",
                               l->name, endpoint, zmq_strerror(e));
                        return -e;
                }
                usleep(5000);
        }
        if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, l->endpoint, &len) < 0)
                snprintf(l->endpoint, sizeof l->endpoint, "%s", ep);
        l->closed_until = 0;
        return 0;
}

/* Watch SOCK, the socket of listener I (its failed accepts, and with
 * security its failed handshakes), and make it a CURVE server in DOMAIN
 * behind the ZAP handler when the daemon has security. Before binding. */
static int watch_socket(struct rd_server *srv, void *sock, const char *domain, int i)
{
        struct listener *l = &srv->listen[i];
        int r = 0;

        rd_monitor_free(l->mon);
        l->mon = NULL;
        if (srv->auth)
                r = rd_auth_server_socket(srv->auth, sock, domain);
        if (r == 0)
                r = rd_monitor_new(srv->zctx, sock, l->name, srv->auth != NULL, &l->mon);
        return r;
}

/* The socket of listener I, and its endpoint as the config says it. */
static void *listener_socket(struct rd_server *srv, int i)
{
        return i == LISTEN_INTAKE ? srv->intake : srv->pub;
}

static const char *listener_shown(struct rd_server *srv, int i)
{
        return i == LISTEN_INTAKE ? srv->config->intake : srv->config->events;
}

/* Used at start, and on a reload that takes the right to subscribe from
 * someone. */
int rd_server_open_events(struct rd_server *srv)
{
        int zero = 0, r, rebind = srv->pub != NULL;
        int64_t maxmsg = RD_SOCKET_MSG_MAX;

        rd_monitor_free(srv->listen[LISTEN_EVENTS].mon); /* before its socket */
        srv->listen[LISTEN_EVENTS].mon = NULL;
        if (srv->pub)
                zmq_close(srv->pub);
        srv->pub = zmq_socket(srv->zctx, ZMQ_PUB);
        if (!srv->pub)
                return -errno;
        zmq_setsockopt(srv->pub, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(srv->pub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        r = watch_socket(srv, srv->pub, RD_ZAP_DOMAIN_EVENTS, LISTEN_EVENTS);
        if (r < 0)
                return r;
        return bind_socket(srv->pub, srv->config->events, &srv->listen[LISTEN_EVENTS], rebind);
}

/* Make the intake ROUTER (a CURVE server with security) and bind it. Its
 * options bound what one connection can make the daemon hold (protocol.md,
 * "Transport"; the sum is in lib/bounds.h and docs/performance.md). */
static int open_intake(struct rd_server *srv)
{
        int one = 1, linger = RD_LINGER_MS, sndhwm = RD_REPLY_HWM, rcvhwm = RD_REQUEST_HWM, r;
        int64_t maxmsg = RD_SOCKET_MSG_MAX;

        srv->intake = zmq_socket(srv->zctx, ZMQ_ROUTER);
        if (!srv->intake)
                return -ENOMEM;
        r = watch_socket(srv, srv->intake, RD_ZAP_DOMAIN_INTAKE, LISTEN_INTAKE);
        if (r < 0) {
                rd_log(LOG_ERR, RD_MSG_CONFIG_ERROR, "cannot set up the intake socket: %s",
                       zmq_strerror(-r));
                return r;
        }
        zmq_setsockopt(srv->intake, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        zmq_setsockopt(srv->intake, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm);
        zmq_setsockopt(srv->intake, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
        zmq_setsockopt(srv->intake, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        zmq_setsockopt(srv->intake, ZMQ_LINGER, &linger, sizeof linger);
        return bind_socket(srv->intake, srv->config->intake, &srv->listen[LISTEN_INTAKE], 0);
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

/* ---- the limit of open files ------------------------------------------------------ */

/* An accept on listener I failed with errno E. At the limit of open files
 * (or of memory) libzmq's I/O thread would retry at once, for ever: close
 * the endpoint for a while instead, longer each time it happens again
 * within a minute. Closing it also drops the connections it accepted
 * (libzmq 4.3); their clients reconnect once it is bound again. Other
 * errors (a client gone before its accept) concern one client only. */
static void accept_failed(struct rd_server *srv, int i, int e)
{
        struct listener *l = &srv->listen[i];
        int64_t t = rd_mono_ms();
        struct rlimit lim = {0};

        if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM)
                return;
        l->failures++;
        if (l->closed_until)
                return;
        if (!l->last_failure || t - l->last_failure > QUIET_MS)
                l->pause_ms = PAUSE_MIN_MS;
        else if (l->pause_ms < PAUSE_MAX_MS)
                l->pause_ms = l->pause_ms * 2 > PAUSE_MAX_MS ? PAUSE_MAX_MS : l->pause_ms * 2;
        l->last_failure = t;
        zmq_unbind(listener_socket(srv, i), l->endpoint);
        l->closed_until = t + l->pause_ms;
        if (l->logged_ms && t - l->logged_ms < ACCEPT_LOG_MS)
                return;
        getrlimit(RLIMIT_NOFILE, &lim);
        rd_log(LOG_ERR, RD_MSG_ACCEPT_FAILED,
               "the %s socket (%s) cannot accept connections: %s; the limit of open files is %llu "
               "(LimitNOFILE=). Its endpoint is closed for %ld s, which also drops its "
               "connections (clients reconnect by themselves), then bound again; %lld accepts "
               "failed so far (%lld since the last line)",
               l->name, listener_shown(srv, i), strerror(e), (unsigned long long)lim.rlim_cur,
               l->pause_ms / 1000, (long long)l->failures,
               (long long)(l->failures - l->failures_logged));
        l->logged_ms = t;
        l->failures_logged = l->failures;
        l->said_closed = true;
}

/* Bind again every endpoint whose pause is over. Returns how long the loop
 * may sleep until the next one is due (-1: none is closed). */
static long reopen_listeners(struct rd_server *srv)
{
        int64_t t = rd_mono_ms();
        long wait = -1;

        for (int i = 0; i < LISTEN_MAX; i++) {
                struct listener *l = &srv->listen[i];
                if (!l->closed_until)
                        continue;
                if (t >= l->closed_until) {
                        if (zmq_bind(listener_socket(srv, i), l->endpoint) == 0) {
                                l->closed_until = 0;
                                if (l->said_closed)
                                        rd_log(LOG_NOTICE, RD_MSG_ACCEPT_FAILED,
                                               "the %s socket (%s) accepts connections again",
                                               l->name, listener_shown(srv, i));
                                l->said_closed = false;
                                continue;
                        }
                        l->closed_until = t + l->pause_ms; /* still at the limit */
                }
                if (wait < 0 || l->closed_until - t < wait)
                        wait = (long)(l->closed_until - t);
        }
        return wait;
}

/* Read what the sockets' monitors report. */
static void serve_monitors(struct rd_server *srv)
{
        for (int i = 0; i < LISTEN_MAX; i++) {
                enum rd_monitor_event ev;
                int e = 0;
                while (srv->listen[i].mon &&
                       (ev = rd_monitor_read(srv->listen[i].mon, &e)) != RD_MON_NONE)
                        if (ev == RD_MON_ACCEPT_FAILED)
                                accept_failed(srv, i, e);
        }
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

int rd_server_new(const struct rd_config *config, struct rd_rules *rules, char *text, size_t len,
                  struct rd_store *store, struct rd_dbfile *dbfile, struct rd_server **out)
{
        struct rd_server *srv = calloc(1, sizeof *srv);
        int r;

        if (!srv) {
                free(text);
                rd_rules_free(rules);
                rd_store_close(store);
                rd_dbfile_free(dbfile);
                return -ENOMEM;
        }
        srv->config = config;
        srv->store = store;
        srv->dbfile = dbfile;
        srv->routing_text = text;
        srv->routing_len = len;
        srv->sigfd = -1;
        srv->listen[LISTEN_INTAKE].name = "intake";
        srv->listen[LISTEN_EVENTS].name = "events";
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
        rd_server_lead_init(srv);
        rd_txn_init(&srv->txn, store, srv->hub, &srv->ops, rd_server_file_gone, srv);
        r = rd_outbox_new(RD_CLIENT_REPLY_BYTES, &srv->outbox);
        if (r == 0)
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
        for (int i = 0; i < LISTEN_MAX; i++)
                rd_monitor_free(srv->listen[i].mon); /* before the sockets they watch */
        rd_auth_free(srv->auth);
        rd_ops_free(&srv->ops);
        rd_server_drop_waiting(srv);
        if (srv->intake)
                zmq_close(srv->intake);
        if (srv->pub)
                zmq_close(srv->pub);
        if (srv->zctx)
                zmq_ctx_term(srv->zctx); /* every reply is freed by now */
        rd_outbox_free(srv->outbox);
        if (srv->sigfd >= 0)
                close(srv->sigfd);
        rd_hub_free(srv->hub);
        rd_store_close(srv->store);
        rd_dbfile_free(srv->dbfile); /* after the store: its descriptor holds SQLite's locks */
        free(srv->routing_text);
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
        sd_notifyf(0, "READY=1\nSTATUS=%s", rd_server_role_status(srv));
        srv->status_last = srv->watchdog_last = rd_mono_ms();
        if (srv->watchdog_ms)
                sd_notify(0, "WATCHDOG=1");
        rd_log(LOG_INFO, RD_MSG_STARTED,
               "referrald %s %s: intake %s, events %s, %zu routing rules (digest %s)", RD_VERSION,
               srv->ops.standby ? "started as a standby" : "serving", srv->config->intake,
               srv->config->events, rules->n_rules, rules->digest);
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
        if (t - srv->swept >= SWEEP_EVERY_MS) {
                rd_outbox_sweep(srv->outbox);
                /* give back to the system what a burst left free: the
                 * frames ZeroMQ buffered, a page of replies (glibc keeps
                 * freed memory in its arenas otherwise) */
                malloc_trim(0);
                srv->swept = t;
        }
        if (srv->dbfile) {
                /* outside any transaction: the file is looked at once a second */
                if (rd_server_db_gone(srv, false))
                        rd_server_db_keep(srv);
                wait = wait < 0 || wait > 1000 ? 1000 : wait;
        }
        if (t - srv->status_last >= STATUS_EVERY_MS) {
                sd_notifyf(0, "STATUS=%s: %lld requests answered, last event %lld%s%s",
                           rd_server_role_status(srv), (long long)srv->served,
                           (long long)rd_store_last_seq(srv->store),
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

/* Answer every ZAP request that is ready, read the sockets' monitors
 * (failed handshakes, failed accepts) and bind again what was closed. */
static void serve_auth(struct rd_server *srv)
{
        while (srv->auth && rd_auth_handle(srv->auth))
                ;
        serve_monitors(srv);
        reopen_listeners(srv);
}

/* Fill the poll array ITEMS; returns how many slots are polled. */
static int poll_slots(struct rd_server *srv, zmq_pollitem_t items[PFD_MAX])
{
        short events = 0;
        int64_t deadline;
        int fd = rd_store_connect_fd(srv->store, &events, &deadline);

        /* a negative fd is not polled; what the connection waits for
         * wakes the loop, which carries it on (rd_server_lead) */
        items[PFD_STORE] =
                (zmq_pollitem_t){.fd = fd, .events = (events & POLLOUT) ? ZMQ_POLLOUT : ZMQ_POLLIN};
        items[PFD_INTAKE] = (zmq_pollitem_t){.socket = srv->intake, .events = ZMQ_POLLIN};
        items[PFD_SIGNAL] = (zmq_pollitem_t){.fd = srv->sigfd, .events = ZMQ_POLLIN};
        items[PFD_MON_INTAKE] = (zmq_pollitem_t){
                .socket = rd_monitor_socket(srv->listen[LISTEN_INTAKE].mon), .events = ZMQ_POLLIN};
        /* a reload may make the events socket, and so its monitor, anew */
        items[PFD_MON_EVENTS] = (zmq_pollitem_t){
                .socket = rd_monitor_socket(srv->listen[LISTEN_EVENTS].mon), .events = ZMQ_POLLIN};
        if (!srv->auth)
                return PFD_ZAP;
        items[PFD_ZAP] =
                (zmq_pollitem_t){.socket = rd_auth_zap_socket(srv->auth), .events = ZMQ_POLLIN};
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
                rd_server_lead(srv); /* a lead lost in that batch: a standby at once */
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

        /* on a shared store: a daemon that leads at once is active (its
         * start-up work done) before it says READY=1 */
        long lead = rd_server_lead(srv);

        announce_start(srv);
        if (lead < 0)
                rd_server_serve_waitlist(srv); /* a store of its own: active from the start */
        /* deadlines that passed while the daemon was down fire at once */
        timeout = rd_server_serve_deadlines(srv);
        while (!srv->ops.stopping) {
                int n_items;
                long wait;

                lead = rd_server_lead(srv);       /* -1 on a store of its own */
                n_items = poll_slots(srv, items); /* the store's slot as the lead left it */
                wait = min_timeout(min_timeout(timeout, keepalive(srv)),
                                   min_timeout(reopen_listeners(srv), lead));
                if (zmq_poll(items, n_items, wait) < 0 && errno != EINTR) {
                        rd_log(LOG_ERR, RD_MSG_GENERIC, "poll failed: %s", zmq_strerror(errno));
                        return -errno;
                }
                serve_auth(srv);
                timeout = serve_ready(srv, timeout);
        }
        stop(srv);
        return 0;
}
