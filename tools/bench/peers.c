/* peers.c: see peers.h. */
#include "peers.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define WARM_PREFIX "warm-"
#define LOST_EVENTS (ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED)

static int64_t min64(int64_t a, int64_t b)
{
        return a < b ? a : b;
}

/* A DEALER on ENDPOINT with HWM and, when WATCH, the PAIR on its monitor
 * (*MON). NULL with errno set. */
static void *open_dealer(void *zctx, const char *endpoint, int hwm, bool watch, int client, int j,
                         void **mon)
{
        int zero = 0, e;
        void *sock = zmq_socket(zctx, ZMQ_DEALER);
        char addr[64];

        if (!sock)
                return NULL;
        zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
        if (watch) {
                snprintf(addr, sizeof addr, "inproc://bench-monitor-%d-%d", client, j);
                if (zmq_socket_monitor(sock, addr, LOST_EVENTS) < 0 ||
                    !(*mon = zmq_socket(zctx, ZMQ_PAIR)))
                        goto fail;
                zmq_setsockopt(*mon, ZMQ_LINGER, &zero, sizeof zero);
                if (zmq_connect(*mon, addr) < 0)
                        goto fail;
        }
        if (zmq_connect(sock, endpoint) < 0)
                goto fail;
        return sock;
fail:
        e = errno;
        zmq_close(sock);
        errno = e;
        return NULL;
}

int peers_open(struct client *c)
{
        const struct options *opt = c->opt;
        struct peers *p = &c->peers;
        int hwm = opt->window * 2 + 1000;
        size_t len = sizeof(int);

        memset(p, 0, sizeof *p);
        for (int j = 0; j < opt->n_endpoints; j++) {
                p->fd[j] = p->mon_fd[j] = -1;
                p->sock[j] = open_dealer(c->zctx, opt->endpoints[j], hwm, opt->n_endpoints > 1,
                                         c->index, j, &p->mon[j]);
                p->n = j + 1;
                if (!p->sock[j] || zmq_getsockopt(p->sock[j], ZMQ_FD, &p->fd[j], &len) < 0)
                        return -(errno ? errno : EIO);
                if (p->mon[j] && zmq_getsockopt(p->mon[j], ZMQ_FD, &p->mon_fd[j], &len) < 0)
                        return -(errno ? errno : EIO);
        }
        return 0;
}

void peers_close(struct peers *p)
{
        for (int j = 0; j < p->n; j++) {
                if (p->sock[j]) {
                        if (p->mon[j])
                                zmq_socket_monitor(p->sock[j], NULL, 0);
                        zmq_close(p->sock[j]);
                }
                if (p->mon[j])
                        zmq_close(p->mon[j]);
                p->sock[j] = p->mon[j] = NULL;
        }
        p->n = 0;
}

/* Whether SOCK has input now (ZMQ_FD is edge-triggered: ask ZMQ_EVENTS
 * before sleeping on it). 1, 0, or -errno. */
static int has_input(void *sock)
{
        int events = 0;
        size_t len = sizeof events;

        if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len) < 0)
                return -errno;
        return (events & ZMQ_POLLIN) != 0;
}

int peers_wait(const struct peers *p, int64_t deadline)
{
        struct pollfd pfd[2 * MAX_ENDPOINTS];
        int64_t now = tool_mono_ns();
        struct timespec ts;
        int n = 0, r;

        for (int j = 0; j < p->n; j++) {
                if ((r = has_input(p->sock[j])) != 0 || (p->mon[j] && (r = has_input(p->mon[j]))))
                        return r;
                pfd[n++] = (struct pollfd){.fd = p->fd[j], .events = POLLIN};
                if (p->mon[j])
                        pfd[n++] = (struct pollfd){.fd = p->mon_fd[j], .events = POLLIN};
        }
        if (deadline <= now)
                return 0;
        ts.tv_sec = (deadline - now) / NS_PER_S;
        ts.tv_nsec = (deadline - now) % NS_PER_S;
        if (ppoll(pfd, (nfds_t)n, &ts, NULL) < 0 && errno != EINTR)
                return -errno;
        return 0;
}

int peers_lost(const struct peers *p, int j)
{
        int lost = 0;

        while (p->mon[j] && has_input(p->mon[j]) > 0) {
                zmq_msg_t msg;
                uint16_t event = 0;

                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, p->mon[j], ZMQ_DONTWAIT) < 0) {
                        zmq_msg_close(&msg);
                        break;
                }
                if (zmq_msg_size(&msg) >= 2)
                        memcpy(&event, zmq_msg_data(&msg), 2);
                lost += (event & LOST_EVENTS) != 0;
                while (zmq_msg_more(&msg)) { /* the endpoint frame */
                        zmq_msg_close(&msg);
                        zmq_msg_init(&msg);
                        if (zmq_msg_recv(&msg, p->mon[j], 0) < 0)
                                break;
                }
                zmq_msg_close(&msg);
        }
        return lost;
}

bool peers_warm_up_corr(const char *corr)
{
        return !strncmp(corr, WARM_PREFIX, strlen(WARM_PREFIX));
}

/* What the reply DATA, SIZE to the ping CORR says: 1 the daemon serves, 0
 * it is a standby (SEVERAL) or not the reply to CORR, -EPROTO an error. */
static int ping_answer(const void *data, size_t size, const char *corr, bool several)
{
        json_t *r = json_loadb(data, size, 0, NULL);
        const char *rcorr = json_string_value(json_object_get(r, "corr"));
        const char *role = json_string_value(json_object_get(r, "role"));
        int res = 0;

        if (rcorr && !strcmp(rcorr, corr)) {
                if (!json_is_true(json_object_get(r, "ok")))
                        res = -EPROTO;
                else
                        res = !(several && role && !strcmp(role, "standby"));
        }
        json_decref(r);
        return res;
}

/* Ping endpoint J of C (the Kth ping) and wait until UNTIL for its answer:
 * 1 it serves, 0 no (no answer in time, a standby), -EPROTO, -errno. */
static int ping(struct client *c, int j, unsigned k, int64_t until)
{
        char req[96], corr[48];
        struct peers one = {.n = 1, .sock = {c->peers.sock[j]}, .fd = {c->peers.fd[j]}};
        int n;

        snprintf(corr, sizeof corr, WARM_PREFIX "%d-%u", c->index, k);
        n = snprintf(req, sizeof req, "{\"op\":\"ping\",\"corr\":\"%s\"}", corr);
        if (zmq_send(c->peers.sock[j], req, (size_t)n, ZMQ_DONTWAIT) < 0)
                return errno == EAGAIN ? 0 : -errno;
        while (tool_mono_ns() < until && !tool_interrupted) {
                zmq_msg_t msg;
                int r = peers_wait(&one, until);

                if (r < 0)
                        return r;
                zmq_msg_init(&msg);
                while (zmq_msg_recv(&msg, c->peers.sock[j], ZMQ_DONTWAIT) >= 0) {
                        r = ping_answer(zmq_msg_data(&msg), zmq_msg_size(&msg), corr,
                                        c->peers.n > 1);
                        if (r != 0) {
                                zmq_msg_close(&msg);
                                return r;
                        }
                }
                zmq_msg_close(&msg);
        }
        return 0;
}

int peers_warm_up(struct client *c)
{
        const struct options *opt = c->opt;
        int n = c->peers.n;
        int64_t end = tool_mono_ns() + opt->timeout_ns;
        int64_t share = n > 1 ? opt->attempt_timeout_ns : opt->timeout_ns;

        for (unsigned k = 0; tool_mono_ns() < end && !tool_interrupted; k++) {
                int j = (int)(k % (unsigned)n);
                int r = ping(c, j, k, min64(tool_mono_ns() + share, end));

                if (r == 1) {
                        c->current = j;
                        return 0;
                }
                if (r < 0 && (n == 1 || r != -EPROTO))
                        return r;
                if (n > 1 && j == n - 1) { /* a round without one that serves: a pause */
                        struct timespec pause = {0, 100 * NS_PER_MS};
                        nanosleep(&pause, NULL);
                }
        }
        return -ETIMEDOUT;
}
