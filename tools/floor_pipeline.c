/* floor_pipeline.c: referral-floor --pipeline, a prototype (tools/floor.c
 * says what the floor is; docs/performance.md, "A second thread", what it
 * showed): a writer thread inserts and commits a batch while the loop
 * receives and parses the next one; the loop sends a batch's replies once
 * the writer says it committed (an eventfd wakes its poll). The writer
 * alone touches the database; the loop alone the socket. */
#include "floor.h"

#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Store the deferred submits of BATCH (N), commit. */
static void write_batch(struct floor *f, struct request *batch, int n)
{
        int began = 1;

        for (int i = 0; i < n; i++) {
                struct request *rq = &batch[i];
                if (!rq->deferred)
                        continue;
                store_submit(f, rq, rq->ref, zmq_msg_data(&rq->body), zmq_msg_size(&rq->body),
                             &began);
                json_decref(rq->req);
                zmq_msg_close(&rq->body);
                rq->deferred = false;
        }
        commit_batch(f, batch, n, began);
}

static void *writer_main(void *arg)
{
        struct floor *f = arg;
        struct writer *w = &f->w;
        uint64_t one = 1;

        pthread_mutex_lock(&w->mu);
        for (;;) {
                while (w->state != W_WORK && !w->quit)
                        pthread_cond_wait(&w->cond, &w->mu);
                if (w->state != W_WORK)
                        break;
                pthread_mutex_unlock(&w->mu);
                write_batch(f, w->batch, w->n);
                pthread_mutex_lock(&w->mu);
                w->state = W_DONE;
                pthread_cond_broadcast(&w->cond);
                if (write(w->efd, &one, sizeof one) < 0)
                        tool_msg(PROG, "eventfd: %s", strerror(errno));
        }
        pthread_mutex_unlock(&w->mu);
        return NULL;
}

/* Wait until the writer has no batch (WAIT: else only look), then send the
 * replies of the batch it finished, if any. Returns whether the writer is
 * idle: only the loop makes it busy again. */
static bool writer_collect(struct floor *f, bool wait)
{
        struct writer *w = &f->w;
        struct request *done = NULL;
        bool idle;
        int n = 0;

        pthread_mutex_lock(&w->mu);
        while (wait && w->state == W_WORK)
                pthread_cond_wait(&w->cond, &w->mu);
        if (w->state == W_DONE) {
                done = w->batch;
                n = w->n;
                w->state = W_IDLE;
        }
        idle = w->state == W_IDLE;
        pthread_mutex_unlock(&w->mu);
        for (int i = 0; i < n; i++)
                send_reply(f, &done[i]);
        return idle;
}

/* Hand the loop's batch (f->n_next requests) to the writer, which must be
 * idle, and go on with the other. */
static void writer_hand(struct floor *f)
{
        struct writer *w = &f->w;

        pthread_mutex_lock(&w->mu);
        w->batch = f->next;
        w->n = f->n_next;
        w->state = W_WORK;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->mu);
        f->next = f->next == f->batch ? f->batch2 : f->batch;
        f->n_next = 0;
}

/* Add the requests that are ready to the loop's batch (up to
 * RD_BATCH_MAX); whenever the writer is free (its last batch's replies
 * sent), hand the batch over; a full batch waits for it. Returns the
 * number taken, or -errno on a socket fault. */
int floor_serve_pipelined(struct floor *f)
{
        int n, began = 1, r = 0;

        n = f->n_next;
        while (f->n_next < RD_BATCH_MAX && (r = take_request(f, &f->next[f->n_next], &began)) > 0)
                f->n_next++;
        n = f->n_next - n;
        if (writer_collect(f, f->n_next == RD_BATCH_MAX) && f->n_next > 0)
                writer_hand(f);
        return r < 0 && r != -EINTR ? r : n;
}

int floor_writer_start(struct floor *f)
{
        struct writer *w = &f->w;

        w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->efd < 0 || pthread_mutex_init(&w->mu, NULL) != 0 ||
            pthread_cond_init(&w->cond, NULL) != 0 ||
            pthread_create(&w->thread, NULL, writer_main, f) != 0) {
                tool_msg(PROG, "cannot start the writer thread");
                return -1;
        }
        f->next = f->batch;
        return 0;
}

/* Let the writer finish, send its replies, and stop it. */
void floor_writer_stop(struct floor *f)
{
        struct writer *w = &f->w;

        writer_collect(f, true);
        if (f->n_next > 0) {
                writer_hand(f);
                writer_collect(f, true);
        }
        pthread_mutex_lock(&w->mu);
        w->quit = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
}

void floor_writer_woken(struct floor *f)
{
        uint64_t count;

        if (read(f->w.efd, &count, sizeof count) > 0 && writer_collect(f, false) && f->n_next > 0)
                writer_hand(f);
}
