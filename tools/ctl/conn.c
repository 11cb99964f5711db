/* conn.c: see conn.h. */
#include "conn.h"

#include "curve.h"
#include "print.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

static int64_t now_ms(void)
{
        return tool_mono_ns() / NS_PER_MS;
}

long left_ms(int64_t deadline)
{
        int64_t left;

        if (deadline < 0)
                return -1;
        left = deadline - now_ms();
        return left < 0 ? 0 : (long)left;
}

int64_t deadline_after(int timeout_ms)
{
        return timeout_ms > 0 ? now_ms() + timeout_ms : -1;
}

void *watch_socket(struct ctl *c, void *sock, int mask)
{
        char addr[96];
        void *mon;
        int linger = 0;

        snprintf(addr, sizeof addr, "inproc://referralctl-monitor-%ld-%lu", (long)getpid(),
                 ++c->mon_seq);
        if (zmq_socket_monitor(sock, addr, mask) != 0)
                return NULL;
        mon = zmq_socket(c->zctx, ZMQ_PAIR);
        if (!mon)
                return NULL;
        zmq_setsockopt(mon, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_connect(mon, addr) != 0) {
                zmq_close(mon);
                return NULL;
        }
        return mon;
}

void unwatch_socket(void *sock, void **mon)
{
        if (*mon) {
                zmq_socket_monitor(sock, NULL, 0);
                zmq_close(*mon);
                *mon = NULL;
        }
}

bool read_monitor_event(void *mon, uint16_t *event, uint32_t *value, char *addr, size_t cap)
{
        zmq_msg_t msg;
        int more = 0;
        size_t moresz = sizeof more;
        bool got = false;

        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, mon, ZMQ_DONTWAIT) >= 6) {
                memcpy(event, zmq_msg_data(&msg), 2);
                memcpy(value, (char *)zmq_msg_data(&msg) + 2, 4);
                got = true;
        }
        zmq_getsockopt(mon, ZMQ_RCVMORE, &more, &moresz);
        zmq_msg_close(&msg);
        if (addr)
                snprintf(addr, cap, "?");
        while (more) { /* the endpoint frame */
                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, mon, 0) >= 0 && addr)
                        snprintf(addr, cap, "%.*s", (int)zmq_msg_size(&msg),
                                 (const char *)zmq_msg_data(&msg));
                zmq_getsockopt(mon, ZMQ_RCVMORE, &more, &moresz);
                zmq_msg_close(&msg);
        }
        return got;
}

/* Close the DEALER of peer P (and its monitor), if open. */
static void close_peer(struct peer *p)
{
        if (p->dealer) {
                unwatch_socket(p->dealer, &p->mon);
                zmq_close(p->dealer);
                p->dealer = NULL;
        }
}

void close_dealers(struct ctl *c)
{
        for (size_t i = 0; i < c->endpoints.n; i++)
                close_peer(&c->peers[i]);
}

/* With several endpoints, the monitor also says when a connection cannot
 * be made or was lost: the request goes to the next endpoint at once. */
#define PEER_DOWN (ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED)

static bool several(const struct ctl *c)
{
        return c->endpoints.n > 1;
}

/* Open the DEALER of endpoint I, if not open yet. 0, or -1 (printed). */
static int open_peer(struct ctl *c, size_t i)
{
        struct peer *p = &c->peers[i];
        int linger = 0;

        if (p->dealer)
                return 0;
        p->dealer = zmq_socket(c->zctx, ZMQ_DEALER);
        if (!p->dealer) {
                fault("cannot create a socket: %s", zmq_strerror(zmq_errno()));
                return -1;
        }
        zmq_setsockopt(p->dealer, ZMQ_LINGER, &linger, sizeof linger);
        if (curve_apply(c, p->dealer, i, &c->endpoints, "--endpoint") != 0) {
                close_peer(p);
                return -1;
        }
        c->refusal[0] = '\0';
        p->mon = watch_socket(c, p->dealer, HANDSHAKE_FAILURES | (several(c) ? PEER_DOWN : 0));
        if (zmq_connect(p->dealer, c->endpoints.v[i]) != 0) {
                fault("cannot connect to %s: %s", c->endpoints.v[i], zmq_strerror(zmq_errno()));
                close_peer(p);
                return -1;
        }
        return 0;
}

json_t *recv_reply(void *sock, bool *bad)
{
        json_t *out = NULL;
        int more = 1;

        *bad = false;
        while (more) {
                zmq_msg_t msg;
                size_t moresz = sizeof more;

                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, sock, 0) < 0) {
                        zmq_msg_close(&msg);
                        *bad = true;
                        json_decref(out);
                        return NULL;
                }
                if (zmq_msg_size(&msg) > 0) {
                        json_error_t jerr;

                        json_decref(out);
                        out = json_loadb(zmq_msg_data(&msg), zmq_msg_size(&msg), 0, &jerr);
                }
                zmq_msg_close(&msg);
                zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &moresz);
        }
        if (!json_is_object(out)) {
                json_decref(out);
                *bad = true;
                return NULL;
        }
        return out;
}

/* ---- one request, round the endpoints ----------------------------------- */

/* What one attempt at one endpoint came to. */
enum attempt { ATT_ANSWER, ATT_UNAVAILABLE, ATT_TIMEOUT, ATT_DOWN, ATT_REFUSED, ATT_FAULT };

/* One request on its way round the endpoints: the same text (and corr)
 * to each. Every endpoint that has a copy may still answer it. */
struct pending {
        const char *text, *corr;
        int64_t deadline;        /* the command's timeout: -1 none */
        bool sent[OPT_LIST_MAX]; /* which endpoints have a copy */
        json_t *unavailable;     /* the last `unavailable` answer (owned) */
        bool refused;            /* a handshake was refused (c->refusal says why) */
        json_t *answer;          /* the answer (owned until handed over) */
        size_t from;             /* the endpoint of the answer */
};

bool is_unavailable(const json_t *reply)
{
        const char *code = jstr(json_object_get(reply, "error"), "code");

        return json_is_false(json_object_get(reply, "ok")) && code && !strcmp(code, "unavailable");
}

/* Read the monitor of endpoint I: ATT_REFUSED for a refused handshake,
 * ATT_DOWN for a connection that cannot be made or was lost (several
 * endpoints only), else -1 (nothing that ends the attempt). */
static int peer_event(struct ctl *c, size_t i)
{
        uint16_t event = 0;
        uint32_t value = 0;

        if (!read_monitor_event(c->peers[i].mon, &event, &value, NULL, 0))
                return -1;
        if (event & PEER_DOWN)
                return ATT_DOWN;
        if (explain_handshake_failure(c, c->endpoints.v[i], event, value, false))
                return ATT_REFUSED;
        return -1;
}

/* Forget what the monitor of endpoint I said before this attempt: the
 * connection may be back. */
static void drain_peer_events(struct ctl *c, size_t i)
{
        zmq_pollitem_t item = {.socket = c->peers[i].mon, .events = ZMQ_POLLIN};
        uint16_t event;
        uint32_t value;

        while (c->peers[i].mon && zmq_poll(&item, 1, 0) > 0 &&
               read_monitor_event(c->peers[i].mon, &event, &value, NULL, 0))
                ;
}

/* Take the reply waiting on endpoint J's DEALER. ATT_ANSWER when it
 * answers P (in p->answer), ATT_UNAVAILABLE for an `unavailable` with
 * several endpoints (kept in p->unavailable), -1 for a stale reply to an
 * earlier request, ATT_FAULT (printed). */
static int take_reply(struct ctl *c, struct pending *p, size_t j)
{
        bool bad;
        json_t *r = recv_reply(c->peers[j].dealer, &bad);
        const char *rcorr;

        if (bad) {
                fault("the daemon at %s sent a reply that is not a JSON object", c->endpoints.v[j]);
                return ATT_FAULT;
        }
        rcorr = jstr(r, "corr");
        if (!rcorr || strcmp(rcorr, p->corr) != 0) {
                json_decref(r); /* a stale reply to an earlier request */
                return -1;
        }
        if (several(c) && is_unavailable(r)) {
                json_decref(p->unavailable);
                p->unavailable = r;
                return ATT_UNAVAILABLE;
        }
        p->answer = r;
        p->from = j;
        return ATT_ANSWER;
}

/* Wait until UNTIL for the answer to P from any endpoint that has a copy,
 * and for what ends the attempt at endpoint I (none: SIZE_MAX, a pause):
 * its `unavailable`, a lost connection, a refused handshake. An
 * `unavailable` from another endpoint is noted and the wait goes on. */
static enum attempt await_answer(struct ctl *c, struct pending *p, size_t i, int64_t until)
{
        for (;;) {
                zmq_pollitem_t items[OPT_LIST_MAX + 1];
                size_t who[OPT_LIST_MAX], n = 0;
                int rc;

                for (size_t j = 0; j < c->endpoints.n; j++)
                        if (p->sent[j] && c->peers[j].dealer) {
                                items[n] = (zmq_pollitem_t){.socket = c->peers[j].dealer,
                                                            .events = ZMQ_POLLIN};
                                who[n++] = j;
                        }
                if (i != SIZE_MAX && c->peers[i].mon)
                        items[n] =
                                (zmq_pollitem_t){.socket = c->peers[i].mon, .events = ZMQ_POLLIN};
                rc = zmq_poll(items, (int)n + (i != SIZE_MAX && c->peers[i].mon), left_ms(until));
                if (rc < 0) {
                        if (zmq_errno() == EINTR && !tool_interrupted)
                                continue;
                        if (zmq_errno() != EINTR) /* else interrupted: a quiet exit */
                                fault("poll: %s", zmq_strerror(zmq_errno()));
                        return ATT_FAULT;
                }
                if (rc == 0)
                        return ATT_TIMEOUT;
                for (size_t k = 0; k < n; k++) {
                        int r;

                        if (!(items[k].revents & ZMQ_POLLIN))
                                continue;
                        r = take_reply(c, p, who[k]);
                        if (r == ATT_ANSWER || r == ATT_FAULT || (r >= 0 && who[k] == i))
                                return (enum attempt)r;
                }
                if (i != SIZE_MAX && c->peers[i].mon && (items[n].revents & ZMQ_POLLIN)) {
                        int r = peer_event(c, i);

                        if (r == ATT_REFUSED)
                                p->refused = true;
                        if (r >= 0)
                                return (enum attempt)r;
                }
        }
}

/* Milliseconds one attempt may wait: the command's timeout shared among
 * the endpoints, so that each gets its turn (without a timeout: the
 * default's share). */
static int attempt_ms(const struct ctl *c)
{
        int total = c->timeout_ms > 0 ? c->timeout_ms : DEFAULT_TIMEOUT_MS;
        int ms = total / (int)c->endpoints.n;

        return ms > 0 ? ms : 1;
}

/* Send P to endpoint I and wait for what that attempt comes to. */
static enum attempt attempt(struct ctl *c, struct pending *p, size_t i)
{
        int64_t until = deadline_after(attempt_ms(c));
        int rc;

        if (open_peer(c, i) != 0)
                return ATT_FAULT;
        if (several(c))
                drain_peer_events(c, i);
        else
                until = p->deadline; /* one endpoint: the whole timeout */
        if (p->deadline >= 0 && (until < 0 || until > p->deadline))
                until = p->deadline;
        /* A DEALER queues the frame while it is not connected yet, so this
         * does not block: the wait is in await_answer(). */
        rc = zmq_send(c->peers[i].dealer, p->text, strlen(p->text), ZMQ_DONTWAIT);
        if (rc < 0 && zmq_errno() == EAGAIN)
                return several(c) ? ATT_DOWN : ATT_TIMEOUT;
        if (rc < 0) {
                fault("cannot send to %s: %s", c->endpoints.v[i], zmq_strerror(zmq_errno()));
                return ATT_FAULT;
        }
        p->sent[i] = true;
        return await_answer(c, p, i, until);
}

/* -v: what attempt RES at endpoint I came to, and where the request goes
 * next (NEXT; SIZE_MAX: nowhere, the time is up). */
static void say_attempt(const struct ctl *c, const struct pending *p, size_t i, enum attempt res,
                        size_t next)
{
        char why[640];

        if (!c->verbose)
                return;
        switch (res) {
        case ATT_UNAVAILABLE: {
                const char *msg = jstr(json_object_get(p->unavailable, "error"), "message");

                snprintf(why, sizeof why, "unavailable: %s", msg ? msg : "(no message)");
                break;
        }
        case ATT_TIMEOUT: snprintf(why, sizeof why, "no reply within %d ms", attempt_ms(c)); break;
        case ATT_DOWN: snprintf(why, sizeof why, "no connection"); break;
        case ATT_REFUSED: snprintf(why, sizeof why, "%s", c->refusal); break;
        default: return;
        }
        if (next == SIZE_MAX)
                fprintf(stderr, "%s: %s: %s\n", PROG, c->endpoints.v[i], why);
        else
                fprintf(stderr, "%s: %s: %s; the same request to %s\n", PROG, c->endpoints.v[i],
                        why, c->endpoints.v[next]);
}

/* Wait before the next round: 100 ms, doubling to 1 s, never past the
 * deadline; an answer that comes meanwhile is taken. */
static enum attempt pause_round(struct ctl *c, struct pending *p, int *pause_ms)
{
        int64_t until = deadline_after(*pause_ms);
        enum attempt r;

        if (p->deadline >= 0 && until > p->deadline)
                until = p->deadline;
        r = await_answer(c, p, SIZE_MAX, until);
        *pause_ms = *pause_ms * 2 > 1000 ? 1000 : *pause_ms * 2;
        return r;
}

static bool time_is_up(const struct pending *p)
{
        return p->deadline >= 0 && left_ms(p->deadline) == 0;
}

/* Send P round the endpoints, from c->current: to the next on
 * `unavailable`, a timeout or no connection, until an answer or the
 * deadline. One endpoint: one attempt with the whole timeout. */
static enum attempt send_round(struct ctl *c, struct pending *p)
{
        size_t n = c->endpoints.n, i = c->current % n;
        int pause_ms = 100;
        bool waited = false; /* this round had a timeout: no pause after it */

        for (size_t k = 0;; k++) {
                enum attempt r;
                size_t next = (i + 1) % n;

                if (k > 0 && k % n == 0) {
                        if (!waited && (r = pause_round(c, p, &pause_ms)) != ATT_TIMEOUT)
                                return r;
                        waited = false;
                }
                r = attempt(c, p, i);
                if (r == ATT_ANSWER || r == ATT_FAULT || n == 1)
                        return r;
                waited |= r == ATT_TIMEOUT;
                say_attempt(c, p, i, r, time_is_up(p) ? SIZE_MAX : next);
                if (time_is_up(p))
                        return r;
                i = next;
        }
}

enum req_result request(struct ctl *c, json_t *req, json_t **reply)
{
        char corr[128];
        char *text;
        struct pending p = {.corr = corr};
        enum attempt r;

        *reply = NULL;
        snprintf(corr, sizeof corr, "%s-%lu", c->corr_prefix, ++c->corr_seq);
        json_object_set_new(req, "corr", json_string(corr));
        text = json_dumps(req, JSON_COMPACT);
        if (!text) {
                fault("cannot encode the request");
                return REQ_FAULT;
        }
        p.text = text;
        p.deadline = deadline_after(c->timeout_ms);
        r = send_round(c, &p);
        free(text);
        if (r == ATT_ANSWER) {
                c->current = p.from;
                if (c->verbose && several(c))
                        fprintf(stderr, "%s: answered by %s\n", PROG, c->endpoints.v[p.from]);
                json_decref(p.unavailable);
                *reply = p.answer;
                return json_is_true(json_object_get(p.answer, "ok")) ? REQ_OK : REQ_ERROR_REPLY;
        }
        if (r == ATT_FAULT) {
                json_decref(p.unavailable);
                return REQ_FAULT;
        }
        /* The time is up. A late reply must never be taken for the answer
         * to a later request: the next one opens new sockets. */
        close_dealers(c);
        if (p.unavailable) {
                *reply = p.unavailable;
                return REQ_ERROR_REPLY;
        }
        return p.refused ? REQ_REFUSED : REQ_TIMEOUT;
}

void endpoints_text(const struct opt_list *l, char *buf, size_t cap)
{
        size_t used = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < l->n && used < cap; i++) {
                int w = snprintf(buf + used, cap - used, "%s%s",
                                 i == 0          ? ""
                                 : i + 1 == l->n ? " or "
                                                 : ", ",
                                 l->v[i]);
                if (w < 0)
                        break;
                used += (size_t)w;
        }
}

static void print_timeout(const struct ctl *c)
{
        char where[1024];

        endpoints_text(&c->endpoints, where, sizeof where);
        if (c->curve_state == 1)
                fault("no reply from %s within %d ms (is referrald running there? see "
                      "--endpoint, --timeout). CURVE is on: a daemon that does not accept this "
                      "client answers nothing, so check the keys: --server-key must be the "
                      "daemon's public key, and this client's public key %s (from --key) must "
                      "be listed in its security.clients%s%s",
                      where, c->timeout_ms, c->public_key, c->refusal[0] ? "; " : "", c->refusal);
        else
                fault("no reply from %s within %d ms (is referrald running there? see "
                      "--endpoint, --timeout; if the daemon has security on, give --server-key "
                      "and --key)",
                      where, c->timeout_ms);
}

static void print_refused(const struct ctl *c)
{
        fault("%s", c->refusal);
}

int request_failed(const struct ctl *c, enum req_result res, json_t *reply)
{
        switch (res) {
        case REQ_OK: return EXIT_OK;
        case REQ_ERROR_REPLY:
                if (c->json)
                        print_json_line(reply);
                print_error_reply(reply);
                break;
        case REQ_TIMEOUT: print_timeout(c); break;
        case REQ_REFUSED: print_refused(c); break;
        case REQ_FAULT: break;
        }
        json_decref(reply);
        return EXIT_FAULT;
}

int call(struct ctl *c, json_t *req, json_t **reply)
{
        enum req_result res = request(c, req, reply);

        json_decref(req);
        if (res == REQ_OK)
                return EXIT_OK;
        request_failed(c, res, *reply);
        *reply = NULL;
        return EXIT_FAULT;
}

int call_and_print(struct ctl *c, json_t *req, void (*human)(const json_t *reply))
{
        json_t *reply;
        int r = call(c, req, &reply);

        if (r)
                return r;
        if (c->json)
                print_json_line(reply);
        else
                human(reply);
        json_decref(reply);
        return EXIT_OK;
}
