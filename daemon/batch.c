/* batch.c: group commit. Every request that is ready (at most
 * RD_BATCH_MAX) is received, the store is handed the look-ups of its
 * submits at once (prefetch.h: on PostgreSQL one round trip for the
 * batch), and they are answered in order in one transaction (txn.c) until
 * their replies hold RD_BATCH_REPLY_BYTES; the rest wait, in order, for
 * the next batch, which answers them first. The replies go out only after
 * the transaction ended, and if it did not commit, no `ok` goes out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "prefetch.h"
#include "server_priv.h"

/* Receive one whole message into REQ's envelope and BODY. Returns 1 when a
 * message was read, 0 when none is ready, negative on a socket fault. A
 * message whose shape is wrong gets its reply set here. */
static int recv_request(struct rd_server *srv, struct request *rq, zmq_msg_t *body, int *n_body)
{
        zmq_msg_t part;
        int more, first = 1;

        rq->n_envelope = 0;
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

/* Who sent BODY, as rd_auth_user judges the connection's User-Id and key
 * by the client list in force; NULL without security. */
static const char *user_of(const struct rd_server *srv, zmq_msg_t *body)
{
        if (!srv->auth)
                return NULL;
        return rd_auth_user(srv->auth, zmq_msg_gets(body, "User-Id"),
                            zmq_msg_gets(body, RD_ZAP_KEY));
}

/* The reply to a request of N_BODY frames, BODY the first, in the
 * batch's transaction, into *OUT. */
static void answer(struct rd_server *srv, zmq_msg_t *body, int n_body, int64_t now,
                   struct rd_reply *out)
{
        const char *buf = n_body ? zmq_msg_data(body) : NULL;
        size_t len = n_body ? zmq_msg_size(body) : 0;

        if (n_body != 1)
                rd_ops_refuse(buf, len, RD_MALFORMED,
                              n_body == 0 ? "the request has no body frame"
                                          : "a request is one frame holding one JSON object; "
                                            "this one had several",
                              out);
        else
                rd_txn_answer(&srv->txn, buf, len, user_of(srv, body), now, out);
}

/* Count a reply that could not be queued (errno E) and log it, at most one
 * line a second with the count; rd_server_report_dropped reports the rest. */
static void reply_dropped(struct rd_server *srv, int e)
{
        int64_t t = rd_mono_ms();
        char why[128];

        srv->dropped_replies++;
        if (t - srv->dropped_logged_ms < 1000)
                return;
        srv->dropped_reported = srv->dropped_replies;
        if (e == ENOBUFS)
                snprintf(why, sizeof why,
                         "the client does not read its replies: up to %d MiB of them are held "
                         "for it",
                         RD_CLIENT_REPLY_BYTES >> 20);
        else
                snprintf(why, sizeof why, "%s",
                         e == EHOSTUNREACH ? "the client is gone"
                         : e == EAGAIN     ? "the client's queue is full"
                                           : strerror(e));
        rd_log(LOG_WARNING, RD_MSG_REPLY_DROPPED,
               "a reply could not be delivered (%s); %lld undelivered so far; what was committed "
               "stays, and a client that retries gets the same answer",
               why, (long long)srv->dropped_replies);
        srv->dropped_logged_ms = t;
}

/* Make REPLY (its parts taken) RQ's reply, charged to its connection;
 * dropped (and counted) when the connection holds its budget already. */
static void set_reply(struct rd_server *srv, struct request *rq, struct rd_reply *reply)
{
        int r;

        rq->ok = reply->ok;
        rq->corr = reply->corr;
        rq->unwiped = reply->unwiped;
        r = reply->text ? rd_outbox_msg(rq->conn, reply->text, reply->len, &rq->reply) : -ENOMEM;
        rq->has_reply = r == 0;
        if (r < 0)
                reply_dropped(srv, -r);
        srv->batch_bytes += reply->len; /* the work of the batch, sent or not */
}

/* Receive the next ready request into RQ (its envelope and body). Returns
 * 1 when a request was received, 0 when none was ready (or the socket
 * failed: logged). */
static int receive_request(struct rd_server *srv, struct request *rq)
{
        int r;

        zmq_msg_init(&rq->body);
        r = recv_request(srv, rq, &rq->body, &rq->n_body);
        if (r <= 0) {
                zmq_msg_close(&rq->body);
                if (r < 0 && r != -EINTR)
                        rd_log(LOG_ERR, RD_MSG_GENERIC, "receiving a request: %s", strerror(-r));
                return 0;
        }
        return 1;
}

/* Begin the batch's transaction and hand the store the look-ups of the
 * first N requests of the batch (prefetch.h). Neither on a standby nor
 * when the transaction could not begin (its requests are refused); a
 * prefetch that fails leaves each look-up to ask the database. */
static void prefetch(struct rd_server *srv, int n)
{
        struct rd_frame frames[RD_BATCH_MAX];
        size_t nf = 0;

        if (n == 0 || rd_txn_batch_begin(&srv->txn) < 0)
                return;
        for (int i = 0; i < n; i++) {
                zmq_msg_t *body = &srv->batch[i].body;
                if (srv->batch[i].n_body == 1)
                        frames[nf++] = (struct rd_frame){zmq_msg_data(body), zmq_msg_size(body),
                                                         user_of(srv, body)};
        }
        rd_prefetch_batch(srv->store, srv->auth, frames, nf);
}

/* Answer the received request RQ at NOW, and free its body. A request of a
 * connection that holds its whole budget of unread replies is not run:
 * its reply would be dropped. */
static void take_request(struct rd_server *srv, struct request *rq, int64_t now)
{
        struct rd_reply reply;

        rq->has_reply = rq->ok = false;
        rq->corr = rq->unwiped = NULL;
        rq->conn = rd_outbox_conn(srv->outbox, zmq_msg_data(&rq->envelope[0]),
                                  zmq_msg_size(&rq->envelope[0]));
        if (!rq->conn || rd_outbox_full(rq->conn)) {
                reply_dropped(srv, rq->conn ? ENOBUFS : ENOMEM);
        } else {
                answer(srv, &rq->body, rq->n_body, now, &reply);
                set_reply(srv, rq, &reply);
        }
        zmq_msg_close(&rq->body);
}

/* Move the received request FROM (its envelope and body) into TO. */
static void move_request(struct request *to, struct request *from)
{
        for (int i = 0; i < from->n_envelope; i++) {
                zmq_msg_init(&to->envelope[i]);
                zmq_msg_move(&to->envelope[i], &from->envelope[i]);
        }
        to->n_envelope = from->n_envelope;
        zmq_msg_init(&to->body);
        zmq_msg_move(&to->body, &from->body);
        to->n_body = from->n_body;
}

/* Replace RQ's reply by the tree REPLY (taken). */
static void reset_reply(struct rd_server *srv, struct request *rq, json_t *reply)
{
        json_t *corr = rq->corr, *unwiped = rq->unwiped;
        struct rd_reply r;

        zmq_msg_close(&rq->reply); /* gives its bytes back */
        rd_ops_reply_of_tree(reply, &r);
        set_reply(srv, rq, &r);
        json_decref(corr);
        json_decref(unwiped);
}

/* A copy of the erase reply UNWIPED that says "wiped": true. */
static json_t *wiped_reply(const json_t *unwiped)
{
        json_t *reply = json_copy((json_t *)unwiped);
        json_object_set_new(reply, "wiped", json_true());
        return reply;
}

/* The batch ended as END: unless it committed, nothing of it is stored,
 * and every `ok` reply is taken back (rd_txn_retracted), with its corr;
 * when it did, and the log is wiped, every erase says so. */
static void settle_replies(struct rd_server *srv, enum rd_txn_end end)
{
        bool wiped = rd_txn_wiped(&srv->txn);

        for (int i = 0; i < srv->n_batch; i++) {
                struct request *rq = &srv->batch[i];
                if (!rq->ok || !rq->has_reply)
                        continue;
                if (end != RD_TXN_COMMITTED)
                        reset_reply(srv, rq, rd_txn_retracted(end, rq->corr));
                else if (wiped && rq->unwiped)
                        reset_reply(srv, rq, wiped_reply(rq->unwiped));
        }
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

/* Send RQ's reply behind its envelope, then free both. */
static void send_reply(struct rd_server *srv, struct request *rq)
{
        int ok = rq->has_reply;

        /* ZMQ_ROUTER_MANDATORY: a reply that cannot be queued fails here
         * (EHOSTUNREACH: the peer is gone; EAGAIN: its queue is full) instead
         * of vanishing. The loop never waits for one slow client. */
        for (int i = 0; ok && i < rq->n_envelope; i++)
                ok = zmq_msg_send(&rq->envelope[i], srv->intake, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0;
        if (ok)
                ok = zmq_msg_send(&rq->reply, srv->intake, ZMQ_DONTWAIT) >= 0;
        if (!ok && rq->has_reply) {
                reply_dropped(srv, errno);
                zmq_msg_close(&rq->reply); /* gives its bytes back */
        }
        srv->served++;
        for (int i = 0; i < rq->n_envelope; i++)
                zmq_msg_close(&rq->envelope[i]);
        json_decref(rq->corr);
        json_decref(rq->unwiped);
        rq->corr = rq->unwiped = NULL;
        rq->has_reply = false;
}

int rd_server_serve_batch(struct rd_server *srv)
{
        int64_t now = rd_now_ms();
        int n = srv->n_waiting;
        enum rd_txn_end end;

        while (n < RD_BATCH_MAX && receive_request(srv, &srv->batch[n]))
                n++;
        srv->n_batch = 0;
        srv->batch_bytes = 0;
        rd_txn_batch_start(&srv->txn);
        prefetch(srv, n);
        while (srv->n_batch < n && srv->batch_bytes < RD_BATCH_REPLY_BYTES)
                take_request(srv, &srv->batch[srv->n_batch++], now);
        end = rd_txn_batch_end(&srv->txn);
        settle_replies(srv, end);
        for (int i = 0; i < srv->n_batch; i++)
                send_reply(srv, &srv->batch[i]);
        for (int i = srv->n_batch; i < n; i++)
                move_request(&srv->batch[i - srv->n_batch], &srv->batch[i]);
        srv->n_waiting = n - srv->n_batch;
        if (end == RD_TXN_COMMITTED)
                rd_server_publish(srv);
        return srv->n_batch;
}

void rd_server_drop_waiting(struct rd_server *srv)
{
        for (int i = 0; i < srv->n_waiting; i++) {
                struct request *rq = &srv->batch[i];
                for (int j = 0; j < rq->n_envelope; j++)
                        zmq_msg_close(&rq->envelope[j]);
                zmq_msg_close(&rq->body);
        }
        srv->n_waiting = 0;
}
