#include "monitor.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"

#define FAIL_LOG_INTERVAL_MS 1000

struct rd_monitor {
        void *pair; /* receives the events */
        char name[16];
        int64_t failed;          /* handshakes failed before the ZAP handler, so far */
        int64_t failed_reported; /* FAILED when the last line was written */
        int64_t logged_ms;
};

int rd_monitor_new(void *zctx, void *sock, const char *name, bool handshakes,
                   struct rd_monitor **out)
{
        static unsigned generation; /* a socket made anew gets a new monitor */
        struct rd_monitor *m = calloc(1, sizeof *m);
        int events = ZMQ_EVENT_ACCEPT_FAILED, zero = 0, r = 0;
        char ep[64];

        if (!m)
                return -ENOMEM;
        if (handshakes)
                events |= ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                          ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
        snprintf(m->name, sizeof m->name, "%s", name);
        snprintf(ep, sizeof ep, "inproc://referrald-monitor-%s-%u", name, generation++);
        if (zmq_socket_monitor(sock, ep, events) < 0 || !(m->pair = zmq_socket(zctx, ZMQ_PAIR)))
                r = -errno;
        else if (zmq_setsockopt(m->pair, ZMQ_LINGER, &zero, sizeof zero) < 0 ||
                 zmq_connect(m->pair, ep) < 0)
                r = -errno;
        if (r < 0) {
                rd_monitor_free(m);
                return r;
        }
        *out = m;
        return 0;
}

void rd_monitor_free(struct rd_monitor *m)
{
        if (!m)
                return;
        if (m->pair)
                zmq_close(m->pair);
        free(m);
}

void *rd_monitor_socket(struct rd_monitor *m)
{
        return m->pair;
}

/* A handshake failed before the ZAP handler was asked: count it, and say
 * so at most once a second with the counts. */
static void handshake_failed(struct rd_monitor *m, uint16_t event)
{
        int64_t t = rd_mono_ms();

        m->failed++;
        if (m->logged_ms && t - m->logged_ms < FAIL_LOG_INTERVAL_MS)
                return;
        m->logged_ms = t;
        rd_log(LOG_WARNING, RD_MSG_AUTH_REFUSED,
               "%lld CURVE handshakes on the %s socket failed since the last line (%lld so far): "
               "%s; libzmq does not tell from which address",
               (long long)(m->failed - m->failed_reported), m->name, (long long)m->failed,
               event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                       ? "protocol or key mismatch; is the client using the server's public key "
                         "and CURVE?"
                       : "no detail");
        m->failed_reported = m->failed;
}

enum rd_monitor_event rd_monitor_read(struct rd_monitor *m, int *err)
{
        enum rd_monitor_event got = RD_MON_NONE;
        zmq_msg_t ev, addr;
        uint16_t event = 0;
        uint32_t value = 0;

        zmq_msg_init(&ev);
        zmq_msg_init(&addr);
        if (zmq_msg_recv(&ev, m->pair, ZMQ_DONTWAIT) < 0)
                goto out;
        got = RD_MON_OTHER;
        if (zmq_msg_more(&ev))
                zmq_msg_recv(&addr, m->pair, 0); /* the endpoint: the daemon's own */
        if (zmq_msg_size(&ev) >= 6) {
                memcpy(&event, zmq_msg_data(&ev), 2);
                memcpy(&value, (char *)zmq_msg_data(&ev) + 2, 4);
        }
        if (event == ZMQ_EVENT_ACCEPT_FAILED) {
                *err = (int)value;
                got = RD_MON_ACCEPT_FAILED;
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
                   event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
                handshake_failed(m, event);
        } /* ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: the ZAP handler logged it, with the peer */
out:
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
        return got;
}
