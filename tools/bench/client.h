/* client.h: what one client of referral-bench keeps (load.c runs it, one
 * thread each): its window of slots, its endpoints (peers.h), the copies
 * of answered requests still out (retry.h), what became of each request
 * (--requests), its counts. */
#ifndef RD_BENCH_CLIENT_H
#define RD_BENCH_CLIENT_H

#include "bench.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

enum slot_state {
        SLOT_FREE,
        SLOT_INFLIGHT, /* a copy of its request is out at slot.endpoint */
        SLOT_WAITING,  /* a round of the endpoints without an answer: sent again at retry_at */
        SLOT_TIMEDOUT, /* no answer within --timeout: retired, not reused */
};

/* One request in flight, numbered SEQ in its client. */
struct slot {
        enum slot_state state;
        uint64_t seq;
        int64_t sent_ns, due_ns; /* its first send; with --rate, when that was due */
        int64_t attempt_ns;      /* the send of the attempt in flight */
        int64_t retry_at_ns;     /* SLOT_WAITING: when it goes round again */
        int endpoint;            /* where its last copy went */
        uint32_t attempts;       /* copies sent */
        uint32_t replies;        /* replies to them that did not answer it (unavailable) */
};

/* A client's endpoints, by the index of options.endpoints: a DEALER each
 * and, with several, the PAIR on its socket monitor (lost connections). */
struct peers {
        int n;
        void *sock[MAX_ENDPOINTS], *mon[MAX_ENDPOINTS];
        int fd[MAX_ENDPOINTS], mon_fd[MAX_ENDPOINTS]; /* their ZMQ_FD; -1: none */
};

/* The requests answered while copies of them were still out, by seq: how
 * many of those may still come back (late copies, not a bug). An
 * open-addressing table; a seq is never 0 here (stored as seq + 1). */
struct stale {
        uint64_t *key;    /* seq + 1; 0: empty */
        uint32_t *left;   /* copies that may still come back; 0: gone */
        size_t cap, used; /* cap: a power of two, or 0 */
};

/* What became of one request (--requests). */
enum req_outcome { REQ_NOT_SENT, REQ_ANSWERED_OK, REQ_ANSWERED_ERROR, REQ_TIMED_OUT };
struct req_record {
        uint32_t attempts;
        int8_t endpoint; /* the one that answered; -1: none */
        uint8_t outcome; /* enum req_outcome */
        uint8_t code;    /* REQ_ANSWERED_OK: index of statuses[]; else of error_codes[] */
        bool duplicate;
        char id[22]; /* the daemon's id, cut at 21 characters */
};

struct client {
        int index;
        const struct options *opt;
        void *zctx;
        pthread_t thread;
        pthread_barrier_t *barrier;
        uint64_t quota; /* requests this client submits */
        struct slot *slots;
        int *free_slots; /* a stack of free slot numbers */
        int n_free;
        uint64_t prefix_hash; /* of the ref prefix: the seed of the referrals */
        int fault;            /* a setup or socket fault: errno */
        struct peers peers;
        int current;                /* the endpoint new requests go to */
        char *req;                  /* the request being built: REQUEST_MAX bytes */
        struct stale stale;         /* several endpoints only */
        struct req_record *records; /* --requests: by seq; NULL: not asked for */
        struct stats st;
};

/* Put slot S of C back on the stack of free slots. */
void release_slot(struct client *c, struct slot *s);

/* Stop the sending of every client (a timeout); run_aborted() says so,
 * also after SIGINT or SIGTERM (tool_interrupted). */
void run_abort(void);
bool run_aborted(void);

#endif
