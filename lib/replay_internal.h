/* replay_internal.h: inside the replay (replay.h), shared by its files only:
 *
 *   replay_queue.c  the event queue: what happens next, earliest first
 *   replay_feed.c   events, as the hub emits them, into the figures
 *   replay_run.c    one run in simulated time over a scratch store
 *   replay_synth.c  the synthetic source (lib/synth)
 *   replay.c        two runs, compared
 *
 * A run knows nothing of where its referrals come from: a source (struct
 * replay_source) hands it the referrals that arrive and says what the
 * connector of each offer does (a plan). */
#ifndef RD_REPLAY_INTERNAL_H
#define RD_REPLAY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "figures.h"
#include "hub.h"
#include "replay.h"

#define REPLAY_NONE SIZE_MAX

/* ---- replay_queue.c ------------------------------------------------------------ */

/* Room for N elements of SIZE bytes in the array *P (a void **, with room
 * for *CAP now): doubled from 64 as needed. 0, or -ENOMEM with *P and *CAP
 * untouched. */
int replay_grow(void *p, size_t *cap, size_t n, size_t size);

/* What a step of a run does. */
enum replay_kind {
        RA_ARRIVAL, /* referral REF is received */
        RA_ACCEPT,  /* the connector of REF's offer GEN accepts it */
        RA_DECLINE, /* ... declines it */
        RA_START,   /* ... starts (after an accept, or straight from the offer) */
        RA_CLOSE,   /* ... closes the trajectory */
        RA__MAX
};

/* One thing that happens at AT. Two at the same AT happen in ORDER. */
struct replay_action {
        int64_t at;
        uint64_t order;
        enum replay_kind kind;
        size_t ref;   /* the source's index of the referral */
        uint32_t gen; /* answers: the decision of REF they answer (stale once it changed) */
};

struct replay_queue {
        struct replay_action *v;
        size_t n, cap;
};

/* Add A. 0 or -ENOMEM. */
int queue_push(struct replay_queue *q, const struct replay_action *a);

/* The earliest action (by at, then order), or NULL when there is none. */
const struct replay_action *queue_top(const struct replay_queue *q);

/* Take the earliest action into *OUT: true, or false when there is none. */
bool queue_pop(struct replay_queue *q, struct replay_action *out);

void queue_free(struct replay_queue *q);

/* ---- replay_feed.c ------------------------------------------------------------- */

/* What a run's events mean for the figures: each referral's status and
 * the connector it holds, the loads per connector and the waitlist's
 * length, kept from the events alone and fed to a figures accumulator. */
struct feed_ref {
        size_t handle; /* in the figures; REPLAY_NONE: not received in this run */
        enum rd_status status;
        size_t holds; /* the feed's connector whose load it counts in, or REPLAY_NONE */
};

struct feed_conn {
        char id[RD_ID_MAX + 1];
        size_t figures; /* its index in the figures, or REPLAY_NONE */
        uint64_t load;
        bool dirty; /* the load changed since the last feed_flush */
};

struct replay_feed {
        struct rd_figures_acc *fig;
        struct feed_ref *refs; /* by row id - 1 of the store that numbered them */
        size_t n_refs, cap_refs;
        struct feed_conn *conns;
        size_t n_conns, cap_conns;
        uint64_t waiting;
        bool waiting_dirty;
};

/* A feed for a span starting at START_MS: 0 or -ENOMEM. */
int feed_init(struct replay_feed *f, int64_t start_ms);

void feed_free(struct replay_feed *f);

/* Connector ID of TEAM with CAPACITY, in the figures (in the order of the
 * calls). 0, -ENOMEM or -EINVAL. */
int feed_connector(struct replay_feed *f, const char *id, const char *team, uint32_t capacity);

/* Event EV, committed, in seq order. NAME: for referral.received, the id
 * the figures name the referral by (changes). 0, -ENOMEM, or -EPROTO for
 * an event the figures refuse (their bookkeeping does not add up). */
int feed_event(struct replay_feed *f, const struct rd_event *ev, const char *name);

/* After a transaction that ended at NOW_MS: the loads and the waitlist
 * that changed, into the figures. 0 or a negative errno. */
int feed_flush(struct replay_feed *f, int64_t now_ms);

/* The load of connector ID as the events have it (0 for one never seen). */
uint64_t feed_load(const struct replay_feed *f, const char *id);

/* ---- the source of a run ------------------------------------------------------- */

/* An offer a run made: referral REF's offer number K (0 the first) to
 * CONNECTOR, made at OFFERED_MS, which expires at EXPIRES_MS. */
struct replay_offer {
        size_t ref;
        uint32_t k;
        const char *connector;
        int64_t offered_ms, expires_ms;
};

/* What the connector of an offer does: nothing (the offer expires), or at
 * ANSWER_MS after the offer declines, accepts or starts; after an accept
 * it starts START_MS later; once started it closes CLOSE_MS later. A delay
 * below 0 means never (the run ends first). */
enum replay_answer { PLAN_EXPIRE, PLAN_DECLINE, PLAN_ACCEPT, PLAN_START };

struct replay_plan {
        enum replay_answer answer;
        int64_t answer_ms, start_ms, close_ms;
};

struct replay_run;

struct replay_source_ops {
        /* The referral of arrival A (referral A->ref), into *R and its name
         * in the figures into *NAME (both owned by the source, valid until
         * the next call); the source may push the next arrival (run_push).
         * 0 or a negative errno. */
        int (*arrival)(void *ctx, struct replay_run *run, const struct replay_action *a,
                       const struct rd_referral **r, const char **name);
        /* What the connector of offer O does, into *OUT. 0 or errno. */
        int (*plan)(void *ctx, const struct replay_offer *o, struct replay_plan *out);
};

struct replay_source {
        const struct replay_source_ops *ops;
        void *ctx;
};

/* ---- replay_run.c --------------------------------------------------------------- */

/* One referral of a run, by the source's index. */
struct run_ref {
        int64_t rowid;           /* in the run's store; 0 before it arrived */
        uint32_t offers;         /* offers made so far */
        uint32_t gen;            /* decisions so far: answers of an older one are stale */
        struct replay_plan plan; /* of its current offer */
};

struct replay_run {
        struct replay_source src;
        struct rd_store *store;
        struct rd_hub *hub;
        struct replay_feed feed;
        struct replay_queue q;
        struct run_ref *refs; /* by the source's index */
        size_t n_refs, cap_refs;
        size_t *by_row; /* row id - 1 -> the source's index */
        size_t n_rows, cap_rows;
        uint64_t order; /* the next order of an action the run schedules */
        bool in_tx;     /* a transaction is open */
        size_t steps;   /* steps in it */
        int64_t start_ms, end_ms, now;
        char dir[4096]; /* the scratch folder */
        char *errbuf;
        size_t errsize;
};

/* Make run R of RULES (taken over; freed on failure too) from SRC over
 * [START_MS, END_MS), its store a new one in a private folder under
 * SCRATCH_DIR. ERRBUF receives the sentence of any failure of this run.
 * 0 or a negative errno (R then holds nothing: run_free is not needed). */
int run_init(struct replay_run *r, struct rd_rules *rules, const struct replay_source *src,
             int64_t start_ms, int64_t end_ms, const char *scratch_dir, char *errbuf,
             size_t errsize);

/* Schedule action A; an ORDER of 0 is given the next of the run's own
 * (after every order a source gives below 2^63). 0 or -ENOMEM. */
int run_push(struct replay_run *r, struct replay_action *a);

/* Run to the end of the span and close the figures. 0 or a negative
 * errno (ERRBUF says why). */
int run_go(struct replay_run *r);

/* The figures of R, handed over (NULL after the first call). */
struct rd_figures_acc *run_take_figures(struct replay_run *r);

/* Free what R holds and remove its scratch folder. */
void run_free(struct replay_run *r);

/* The sentence of a failure into ERRBUF; returns ERR (a negative errno). */
int replay_fail(char *errbuf, size_t errsize, int err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* ---- replay_synth.c ----------------------------------------------------------- */

/* The synthetic source of model M (borrowed) with SEED: arrivals of
 * rd_synth_gen from RD_REPLAY_SYNTH_START_MS, answers of rd_synth_answer. */
struct synth_source {
        const struct rd_synth_model *m;
        uint64_t seed;
        struct rd_synth_gen gen;
        struct rd_synth_arrival current; /* the arrival being received */
        struct rd_synth_arrival next;    /* the arrival pushed and not yet taken */
        bool has_next;
};

extern const struct replay_source_ops synth_source_ops;

/* Start S and push its first arrival into RUN. 0 or -ENOMEM. */
int synth_source_start(struct synth_source *s, const struct rd_synth_model *m, uint64_t seed,
                       struct replay_run *run);

/* The end of the span of model M. */
int64_t synth_source_end(const struct rd_synth_model *m);

#endif
