/* floor.h: what referral-floor's two files share: the loop and its
 * requests (tools/floor.c, which says what the floor is) and the writer
 * thread of --pipeline (tools/floor_pipeline.c). */
#ifndef RD_FLOOR_H
#define RD_FLOOR_H

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bounds.h"
#include "tool.h"

#define PROG "referral-floor"
#define CORR_FIELD_MAX (RD_CORR_MAX * 6 + 16) /* `"corr":"...",` escaped as \u00XX throughout */
#define REPLY_MAX (CORR_FIELD_MAX + 256)

struct request {
        zmq_msg_t envelope[2]; /* routing id, and REQ's empty delimiter */
        int n_envelope;
        bool submit_ok;            /* an ok reply that depends on the commit */
        char corr[CORR_FIELD_MAX]; /* `"corr":"...",` for the reply, or "" */
        char reply[REPLY_MAX];
        /* --pipeline: a parsed submit left to the writer: its tree (REF
         * points into it) and its frame */
        bool deferred;
        json_t *req;
        const char *ref;
        zmq_msg_t body;
};

/* --pipeline: the writer thread and the batch it has. */
enum writer_state { W_IDLE, W_WORK, W_DONE };
struct writer {
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cond;
        int efd; /* written when a batch is done: the loop's poll wakes */
        enum writer_state state;
        bool quit;
        struct request *batch;
        int n;
};

struct floor {
        void *zctx, *intake;
        int sigfd;
        sqlite3 *db;
        sqlite3_stmt *insert, *lookup, *begin, *commit, *rollback;
        struct request batch[RD_BATCH_MAX];
        struct request batch2[RD_BATCH_MAX]; /* --pipeline: the other of the two */
        int n_batch;
        long long dropped_replies;
        bool bare;            /* --bare: no parsing, the frame stored as it came */
        bool pipeline;        /* --pipeline: a writer thread (w) */
        struct request *next; /* --pipeline: the batch the loop fills (batch or batch2) */
        int n_next;
        struct writer w;
};

/* Store the submit RQ of ref REF, the frame DATA (SIZE bytes), and write
 * its reply, which waits for the commit. *BEGAN: 1 no transaction yet, 0
 * open, -1 BEGIN failed. */
void store_submit(struct floor *f, struct request *rq, const char *ref, const void *data,
                  size_t size, int *began);

/* Commit the N requests of BATCH when a transaction is open (BEGAN 0); if
 * that fails, their ok replies become errors. */
void commit_batch(struct floor *f, struct request *batch, int n, int began);

/* Receive one whole message into RQ's envelope and answer it (a submit
 * with --pipeline: parsed and left to the writer, rq->deferred). Returns 1
 * when a message was read, 0 when none is ready, -errno on a socket
 * fault. */
int take_request(struct floor *f, struct request *rq, int *began);

/* Send RQ's reply behind its envelope, then free both. */
void send_reply(struct floor *f, struct request *rq);

/* --pipeline (tools/floor_pipeline.c). Start the writer thread: 0, or -1
 * (said). */
int floor_writer_start(struct floor *f);

/* Add what is ready to the loop's batch, hand it to the writer when it is
 * free. The number of requests taken, or -errno on a socket fault. */
int floor_serve_pipelined(struct floor *f);

/* The writer's eventfd woke the loop: send the replies of the batch it
 * committed and hand it the next. */
void floor_writer_woken(struct floor *f);

/* Let the writer finish what it has and what the loop holds, send the
 * replies, stop the thread. */
void floor_writer_stop(struct floor *f);

#endif
