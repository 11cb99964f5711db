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

bool read_monitor_event(void *mon, uint16_t *event, uint32_t *value)
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
        while (more) { /* the endpoint frame */
                zmq_msg_init(&msg);
                zmq_msg_recv(&msg, mon, 0);
                zmq_getsockopt(mon, ZMQ_RCVMORE, &more, &moresz);
                zmq_msg_close(&msg);
        }
        return got;
}

void close_dealer(struct ctl *c)
{
        if (c->dealer) {
                unwatch_socket(c->dealer, &c->dealer_mon);
                zmq_close(c->dealer);
                c->dealer = NULL;
        }
}

static int open_dealer(struct ctl *c)
{
        int linger = 0;

        if (c->dealer)
                return 0;
        c->dealer = zmq_socket(c->zctx, ZMQ_DEALER);
        if (!c->dealer) {
                fault("cannot create a socket: %s", zmq_strerror(zmq_errno()));
                return -1;
        }
        zmq_setsockopt(c->dealer, ZMQ_LINGER, &linger, sizeof linger);
        if (curve_apply(c, c->dealer) != 0) {
                close_dealer(c);
                return -1;
        }
        c->refusal[0] = '\0';
        c->dealer_mon = watch_socket(c, c->dealer, HANDSHAKE_FAILURES);
        if (zmq_connect(c->dealer, c->endpoint) != 0) {
                fault("cannot connect to %s: %s", c->endpoint, zmq_strerror(zmq_errno()));
                close_dealer(c);
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

/* Wait until DEADLINE for the reply to CORR on the DEALER, reading the
 * monitor on the way: see request(). */
static enum req_result await_reply(struct ctl *c, const char *corr, int64_t deadline,
                                   json_t **reply)
{
        int rc;

        for (;;) {
                zmq_pollitem_t items[2] = {{.socket = c->dealer, .events = ZMQ_POLLIN},
                                           {.socket = c->dealer_mon, .events = ZMQ_POLLIN}};
                json_t *r;
                bool bad;
                const char *rcorr;

                rc = zmq_poll(items, c->dealer_mon ? 2 : 1, left_ms(deadline));
                if (rc < 0) {
                        if (zmq_errno() == EINTR && !tool_interrupted)
                                continue;
                        if (zmq_errno() == EINTR)
                                return REQ_FAULT; /* interrupted: quiet exit */
                        fault("poll: %s", zmq_strerror(zmq_errno()));
                        return REQ_FAULT;
                }
                if (rc == 0) {
                        close_dealer(c);
                        return REQ_TIMEOUT;
                }
                if (c->dealer_mon && (items[1].revents & ZMQ_POLLIN)) {
                        uint16_t event = 0;
                        uint32_t value = 0;

                        if (read_monitor_event(c->dealer_mon, &event, &value) &&
                            explain_handshake_failure(c, c->endpoint, event, value, false)) {
                                close_dealer(c);
                                return REQ_REFUSED;
                        }
                        if (!(items[0].revents & ZMQ_POLLIN))
                                continue;
                }
                r = recv_reply(c->dealer, &bad);
                if (bad) {
                        fault("the daemon at %s sent a reply that is not a JSON object",
                              c->endpoint);
                        return REQ_FAULT;
                }
                rcorr = jstr(r, "corr");
                if (!rcorr || strcmp(rcorr, corr) != 0) {
                        json_decref(r); /* a stale reply to an earlier request */
                        continue;
                }
                *reply = r;
                return json_is_true(json_object_get(r, "ok")) ? REQ_OK : REQ_ERROR_REPLY;
        }
}

enum req_result request(struct ctl *c, json_t *req, json_t **reply)
{
        char corr[128];
        char *text;
        int64_t deadline;
        int rc;

        *reply = NULL;
        if (open_dealer(c) != 0)
                return REQ_FAULT;
        snprintf(corr, sizeof corr, "%s-%lu", c->corr_prefix, ++c->corr_seq);
        json_object_set_new(req, "corr", json_string(corr));
        text = json_dumps(req, JSON_COMPACT);
        if (!text) {
                fault("cannot encode the request");
                return REQ_FAULT;
        }
        deadline = deadline_after(c->timeout_ms);
        /* A DEALER queues the frame while it is not connected yet, so this
         * does not block: the wait is in await_reply(). */
        rc = zmq_send(c->dealer, text, strlen(text), ZMQ_DONTWAIT);
        free(text);
        if (rc < 0) {
                if (zmq_errno() == EAGAIN) {
                        close_dealer(c);
                        return REQ_TIMEOUT;
                }
                fault("cannot send to %s: %s", c->endpoint, zmq_strerror(zmq_errno()));
                return REQ_FAULT;
        }
        return await_reply(c, corr, deadline, reply);
}

static void print_timeout(const struct ctl *c)
{
        if (c->curve_state == 1)
                fault("no reply from %s within %d ms (is referrald running there? see "
                      "--endpoint, --timeout). CURVE is on: a daemon that does not accept this "
                      "client answers nothing, so check the keys: --server-key must be the "
                      "daemon's public key, and this client's public key %s (from --key) must "
                      "be listed in its security.clients%s%s",
                      c->endpoint, c->timeout_ms, c->public_key, c->refusal[0] ? "; " : "",
                      c->refusal);
        else
                fault("no reply from %s within %d ms (is referrald running there? see "
                      "--endpoint, --timeout; if the daemon has security on, give --server-key "
                      "and --key)",
                      c->endpoint, c->timeout_ms);
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
