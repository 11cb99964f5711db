/* batch.c: group commit. Every request that is ready (at most
 * RD_BATCH_MAX) is received and answered in one transaction (txn.c); the
 * replies go out only after it ended, and if it did not commit, no `ok`
 * goes out. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "server_priv.h"

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
                        for (int i = 0; i < rq->n_envelope; i++)
                                zmq_msg_close(&rq->envelope[i]);
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

/* The reply to a request of N_BODY frames, BODY the first, in the
 * batch's transaction. */
static json_t *answer(struct rd_server *srv, zmq_msg_t *body, int n_body, int64_t now)
{
        if (n_body != 1)
                return rd_ops_error(NULL, RD_MALFORMED, NULL,
                                    n_body == 0 ? "the request has no body frame"
                                                : "a request is one frame holding one JSON "
                                                  "object; this one had several");
        return rd_txn_answer(&srv->txn, zmq_msg_data(body), zmq_msg_size(body),
                             srv->auth ? zmq_msg_gets(body, "User-Id") : NULL, now);
}

/* Receive the next ready request into RQ and answer it at NOW. Returns 1
 * when a request was taken, 0 when none was ready (or the socket failed:
 * logged). */
static int take_request(struct rd_server *srv, struct request *rq, int64_t now)
{
        zmq_msg_t body;
        int n_body, r;

        zmq_msg_init(&body);
        r = recv_request(srv, rq, &body, &n_body);
        if (r <= 0) {
                zmq_msg_close(&body);
                if (r < 0 && r != -EINTR)
                        rd_log(LOG_ERR, RD_MSG_GENERIC, "receiving a request: %s", strerror(-r));
                return 0;
        }
        rq->reply = answer(srv, &body, n_body, now);
        zmq_msg_close(&body);
        return 1;
}

void rd_server_report_dropped(struct rd_server *srv, int64_t t)
{
        if (srv->dropped_replies == srv->dropped_reported || t - srv->dropped_logged_ms < 1000)
                return;
        rd_log(LOG_WARNING, RD_MSG_REPLY_DROPPED,
               "%lld more replies could not be delivered (%lld in all); what was committed "
               "stays, and a client that retries gets the same answer",
               (long long)(srv->dropped_replies - srv->dropped_reported),
               (long long)srv->dropped_replies);
        srv->dropped_reported = srv->dropped_replies;
        srv->dropped_logged_ms = t;
}

/* Count a reply that could not be queued (errno E) and log it, at most one
 * line a second with the count; rd_server_report_dropped reports the rest. */
static void reply_dropped(struct rd_server *srv, int e)
{
        int64_t t = rd_mono_ms();

        srv->dropped_replies++;
        if (t - srv->dropped_logged_ms < 1000)
                return;
        srv->dropped_reported = srv->dropped_replies;
        rd_log(LOG_WARNING, RD_MSG_REPLY_DROPPED,
               "a reply could not be delivered (%s); %lld undelivered so far; what was committed "
               "stays, and a client that retries gets the same answer",
               e == EHOSTUNREACH ? "the client is gone"
               : e == EAGAIN     ? "the client's queue is full"
                                 : strerror(e),
               (long long)srv->dropped_replies);
        srv->dropped_logged_ms = t;
}

/* Send RQ's reply behind its envelope, then free both. */
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
        if (!ok)
                reply_dropped(srv, text ? errno : ENOMEM);
        free(text);
        srv->served++;
        for (int i = 0; i < rq->n_envelope; i++)
                zmq_msg_close(&rq->envelope[i]);
        json_decref(rq->reply);
        rq->reply = NULL;
}

/* Commit the batch in hand (txn.c): when it did not commit, no `ok`
 * reply stays. True when its events may be published. */
static bool end_batch(struct rd_server *srv)
{
        json_t *replies[RD_BATCH_MAX];
        enum rd_txn_end end;

        for (int i = 0; i < srv->n_batch; i++)
                replies[i] = srv->batch[i].reply;
        end = rd_txn_batch_end(&srv->txn, replies, (size_t)srv->n_batch);
        for (int i = 0; i < srv->n_batch; i++)
                srv->batch[i].reply = replies[i];
        return end == RD_TXN_COMMITTED;
}

int rd_server_serve_batch(struct rd_server *srv)
{
        int64_t now = rd_now_ms();
        bool committed;

        srv->n_batch = 0;
        rd_txn_batch_start(&srv->txn);
        while (srv->n_batch < RD_BATCH_MAX && take_request(srv, &srv->batch[srv->n_batch], now))
                srv->n_batch++;
        committed = end_batch(srv);
        for (int i = 0; i < srv->n_batch; i++)
                send_reply(srv, &srv->batch[i]);
        if (committed)
                rd_server_publish(srv);
        return srv->n_batch;
}
