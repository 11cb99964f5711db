/* replay_internal.h: inside the replay (replay.h), shared by its files only:
 *
 *   replay_queue.c     the event queue: what happens next, earliest first
 *   replay_feed.c      events, as the hub emits them, into the figures
 *   replay_run.c       one run in simulated time over a scratch store
 *   replay_synth.c     the synthetic source (lib/synth)
 *   replay_history.c   a history read from a database (the model)
 *   replay_hstart.c    a history at a moment: a row after an event, the
 *                      state at the start, a recorded offer as a plan
 *   replay_hsource.c   the history source: a history played into a run
 *   replay_recorded.c  the figures of the history as recorded
 *   replay.c           two runs (or a run and the record), compared
 *
 * A run knows nothing of where its referrals come from: a source (struct
 * replay_source) hands it the referrals that arrive, says what the
 * connector of each offer does (a plan) and when a deadline fires, and
 * may schedule steps of its own (people's changes, the recorded course of
 * an erased referral), which it carries out with the run's primitives. */
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
        RA_SOURCE,  /* the source's own step ITEM (its ops->act carries it out) */
        RA__MAX
};

/* One thing that happens at AT. Two at the same AT happen in ORDER. */
struct replay_action {
        int64_t at;
        uint64_t order;
        enum replay_kind kind;
        size_t ref;   /* the source's index of the referral */
        uint32_t gen; /* answers: the decision of REF they answer (stale once it changed) */
        size_t item;  /* RA_SOURCE: which of the source's steps */
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

/* The referral of store row ROWID, named NAME in the figures, was received
 * before the start and is in STATUS at it (an open one: waiting, or
 * holding CONNECTOR's load), STARTED or not. Before any event is fed. 0,
 * -ENOMEM, or -EPROTO when the figures refuse it. */
int feed_existing(struct replay_feed *f, int64_t rowid, const char *name, enum rd_status status,
                  const char *connector, bool started);

/* After a transaction that ended at NOW_MS: the loads and the waitlist
 * that changed, into the figures. 0 or a negative errno. */
int feed_flush(struct replay_feed *f, int64_t now_ms);

/* The load of connector ID as the events have it (0 for one never seen). */
uint64_t feed_load(const struct replay_feed *f, const char *id);

/* ---- the source of a run ------------------------------------------------------- */

/* An offer a run made: referral REF's offer number K (0 the first) to
 * CONNECTOR of TEAM, made at OFFERED_MS, which expires at EXPIRES_MS. */
struct replay_offer {
        size_t ref;
        uint32_t k;
        const char *connector, *team;
        int64_t offered_ms, expires_ms;
};

/* What the connector of an offer does: nothing (the offer expires), or at
 * ANSWER_MS after the offer declines, accepts or starts; after an accept
 * it starts START_MS later; once started it closes CLOSE_MS later. A delay
 * below 0 means never (the run ends first). A start gives an expected end
 * END_MS after it (0: none). Each step happens in the ORDER given among
 * those at the same moment (0: after the source's own). */
enum replay_answer { PLAN_EXPIRE, PLAN_DECLINE, PLAN_ACCEPT, PLAN_START };

struct replay_plan {
        enum replay_answer answer;
        int64_t answer_ms, start_ms, close_ms;
        int64_t end_ms;
        uint64_t answer_order, start_order, close_order;
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
        /* Carry out the source's own step A (RA_SOURCE) at RUN->now with
         * the run's primitives below. NULL for a source without steps. 0
         * or a negative errno (ERRBUF said why). */
        int (*act)(void *ctx, struct replay_run *run, const struct replay_action *a);
        /* The hub's next deadline is DUE: when it fires, into *AT (DUE or
         * a little later) and its ORDER among the actions at *AT. NULL: at
         * DUE, before every action at that moment. */
        void (*tick_at)(void *ctx, int64_t due, int64_t *at, uint64_t *order);
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
        struct rd_store *store; /* in memory */
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
        char *errbuf;
        size_t errsize;
};

/* Make run R of RULES (taken over; freed on failure too) from SRC over
 * [START_MS, END_MS), its store a new one in memory. ERRBUF receives the
 * sentence of any failure of this run. 0 or a negative errno (R then
 * holds nothing: run_free is not needed). */
int run_init(struct replay_run *r, struct rd_rules *rules, const struct replay_source *src,
             int64_t start_ms, int64_t end_ms, char *errbuf, size_t errsize);

/* Schedule action A; an ORDER of 0 is given the next of the run's own
 * (after every order a source gives below 2^63). 0 or -ENOMEM. */
int run_push(struct replay_run *r, struct replay_action *a);

/* Run to the end of the span and close the figures. 0 or a negative
 * errno (ERRBUF says why). */
int run_go(struct replay_run *r);

/* The figures of R, handed over (NULL after the first call). */
struct rd_figures_acc *run_take_figures(struct replay_run *r);

/* Free what R holds. */
void run_free(struct replay_run *r);

/* ---- the run's primitives, for a source's steps (replay_run.c) --------------------- */

/* At R->now, a person changes referral I of the source as U says (its id
 * filled in here), through the engine as the daemon's update does it.
 * When the change no longer applies (the referral is not open, or the
 * routing file has no such connector or forward target) nothing happens
 * and *DONE is false. 0 or a negative errno. */
int run_person(struct replay_run *r, size_t i, struct rd_update *u, bool *done);

/* A step of the store's own writes at R->now, bypassing the engine (a
 * referral's state at the start, or the recorded course of an erased
 * one): run_force_begin, any number of run_force_write, run_force_end. */
int run_force_begin(struct replay_run *r);

/* Write CH: with INSERT, referral I of the source is new (CH->st its row;
 * its row id is filled in), else CH->st is its row as it is to be. CH's
 * events (about it) are fed to the figures, NAME naming it in
 * referral.received. 0 or a negative errno. */
int run_force_write(struct replay_run *r, size_t i, struct rd_store_change *ch, bool insert,
                    const char *name);

/* Before writing referral I's recorded course at a step that gives up the
 * place it holds: the engine gives the place back and serves the waitlist
 * with it, as the daemon does after a close (it is told the referral was
 * withdrawn; that change is not fed to the figures, and the row is then
 * written as recorded). Nothing when I holds no place. 0 or errno. */
int run_release(struct replay_run *r, size_t i);

/* End the step: the engine reads what the store holds now; with SERVE it
 * then serves the waitlist as the daemon does when it puts a routing file
 * in force (at the start of a span). 0 or a negative errno. */
int run_force_end(struct replay_run *r, bool serve);

/* The referral of row ST (in the store already; NAME in the figures) was
 * received before the start and is open at it: into the figures as
 * feed_existing says. 0 or a negative errno. */
int run_existing(struct replay_run *r, const char *name, const struct rd_stored *st);

/* Referral I of the source, open at the start, goes on as PLAN says from
 * NEXT (an answer, a start or a close) at AT in ORDER. 0 or -ENOMEM. */
int run_resume(struct replay_run *r, size_t i, const struct replay_plan *plan,
               enum replay_kind next, int64_t at, uint64_t order);

/* The store row of referral I into *ST. 0 or a negative errno. */
int run_row(struct replay_run *r, size_t i, struct rd_stored *st);

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

/* ---- replay_history.c: a history read from a database ------------------------- */

#define HIST_NONE UINT32_MAX
/* The order, among the actions at one moment, of what the history did
 * with event SEQ: things recorded at the same millisecond happen in the
 * order the daemon did them, and an odd order (2 * seq - 1) just before. */
#define HIST_ORDER(seq) (2 * (uint64_t)(seq))
/* The daemon fires a deadline a little after it is due (its loop wakes up,
 * a batch may be in the way): a deadline tick recorded at most this long
 * after the moment the replay's engine says is due is taken to be it. */
#define HIST_GRACE_MS 2000

/* One recorded event of a referral, compact: its strings are numbers into
 * the history's names (HIST_NONE: none). Only referral events are kept
 * (and of those not referral.erased nor a type this build does not know). */
struct hist_ev {
        int64_t seq, at;
        int64_t start_by, expected_start;
        uint32_t ref; /* its referral, an index into refs */
        uint32_t rule, team, connector, forward_to, reason;
        uint8_t type;   /* enum rd_event_type */
        uint8_t status; /* enum rd_status: as the event has it */
        bool manual;    /* assigned or forwarded by a coordinator, not by the engine */
        bool rr;        /* the last offer of its rule's round robin before the span */
};

/* A recorded referral, by its row. */
struct hist_ref {
        int64_t rowid;
        char id[RD_RID_MAX];
        int64_t received_ms;
        int64_t started_ms, expected_end_ms; /* the row's: the expected end of its last start */
        bool erased;
        char *candidates;        /* waiting at the start: who the daemon had it wait for */
        uint32_t first_ev, n_ev; /* its events, in seq order: evs[ev_of[first_ev + k]] */
        uint32_t first_offer, n_offers;
};

/* A recorded offer: what its connector did with it, when (0: never). */
struct hist_offer {
        uint32_t ref, connector, team;
        int64_t at;
        enum replay_answer answer; /* PLAN_EXPIRE: let it lapse, or nothing known */
        bool sample; /* the answer is known and nobody else ended the course: drawable */
        int64_t answer_at, start_at, close_at;
        int64_t answer_seq, start_seq, close_seq;
        int64_t end_ms; /* the expected end given with the start, after it; 0: none */
};

struct hist_pool {
        uint32_t *v; /* offers */
        size_t n, cap;
};

/* What the history does in a run besides arrivals and answers: a person's
 * change that the engine carries out (one event), or one step of an erased
 * referral's recorded course, written as it was (FORCED: its events
 * FIRST.. FIRST + N - 1 of the referral's, all at AT). */
struct hist_step {
        uint32_t ref, first, n;
        int64_t at;
        uint64_t order;
        bool forced;
};

struct hist_tick {
        int64_t at, seq;
};

struct replay_history {
        struct rd_store *store; /* borrowed: the contents are read from it */
        int64_t from_ms, to_ms; /* the span */
        char **names;
        size_t n_names, cap_names;
        struct hist_ref *refs; /* in row order */
        size_t n_refs, cap_refs;
        struct hist_ev *evs; /* in seq order */
        size_t n_evs, cap_evs;
        uint32_t *ev_of; /* evs by referral */
        struct hist_offer *offers;
        size_t n_offers, cap_offers;
        struct hist_pool *by_connector, *by_team; /* per name: the drawable offers */
        struct hist_pool everyone;
        struct hist_tick *ticks; /* deadline ticks, by time */
        size_t n_ticks, cap_ticks;
        struct hist_step *steps;
        size_t n_steps, cap_steps;
        uint32_t *arrivals; /* referrals received in the span and not erased, in receipt order */
        size_t n_arrivals, cap_arrivals;
        uint32_t *existing; /* referrals received before the span, in row order */
        size_t n_existing, cap_existing;
        uint64_t skipped_erased;  /* erased and received in the span */
        struct rd_rules *at_from; /* the routing file in force at the start; NULL: none known */
};

/* Read the history of STORE (borrowed; it must outlive H) for the span
 * [FROM_MS, TO_MS) (INT64_MIN: from the first event; INT64_MAX: to the end
 * of the history, just after its last event) into H. 0, or a negative
 * errno with a sentence in ERRBUF: -ENOENT when there is no history,
 * -EINVAL for an empty span, -EPROTO for a history this build cannot
 * read, or the store's. */
int hist_read(struct replay_history *h, struct rd_store *store, int64_t from_ms, int64_t to_ms,
              char *errbuf, size_t errsize);

void hist_free(struct replay_history *h);

/* The referral of row ROWID, or HIST_NONE. */
uint32_t hist_ref_by_row(const struct replay_history *h, int64_t rowid);

/* Name N (HIST_NONE: ""). */
const char *hist_name(const struct replay_history *h, uint32_t n);

/* The number of name S, or HIST_NONE when the history never names it. */
uint32_t hist_name_find(const struct replay_history *h, const char *s);

/* Event K of referral F. */
const struct hist_ev *hist_ev_of(const struct replay_history *h, const struct hist_ref *f,
                                 uint32_t k);

/* ---- replay_hstart.c: a history at a moment -------------------------------------- */

/* Who each referral waiting at the start of H's span (not erased) waited
 * for then, into its CANDIDATES. 0 or a negative errno. */
int hist_read_candidates(struct replay_history *h);

/* EV as the event it was (no id, no seq: the store gives them). */
void hist_event(const struct replay_history *h, const struct hist_ev *ev, struct rd_event *out);

/* Row ST as event EV of its referral leaves it (the public columns the
 * event carries, and the times it sets). */
void hist_apply(const struct replay_history *h, const struct hist_ref *f, const struct hist_ev *ev,
                struct rd_stored *st);

/* The state of referral F at the start of the span (its events before it
 * applied to a row without decision) into *ST, and the offer it holds then
 * into *OFFER (HIST_NONE: none). */
void hist_state_at_start(const struct replay_history *h, const struct hist_ref *f,
                         struct rd_stored *st, uint32_t *offer);

/* What offer O's connector did, as a plan; with ORDERS the order of each
 * step (that of its recorded event), else 0. */
void hist_plan(const struct hist_offer *o, bool orders, struct replay_plan *out);

/* ---- replay_hsource.c: a history played into a run ------------------------------ */

struct hist_source {
        const struct replay_history *h;
        uint64_t seed;
        const struct rd_rules *rules; /* the run's */
        uint8_t *used;                /* per recorded offer: made again in this run */
        struct rd_referral current;   /* the arrival being received */
};

extern const struct replay_source_ops hist_source_ops;

/* Start S on H (borrowed) with SEED for RUN (its rules: RULES): the store
 * as it was at the start of the span, then the arrivals and the steps
 * pushed. 0 or a negative errno (RUN's ERRBUF says why). */
int hist_source_start(struct hist_source *s, const struct replay_history *h, uint64_t seed,
                      const struct rd_rules *rules, struct replay_run *run);

void hist_source_free(struct hist_source *s);

/* ---- replay_recorded.c: the history as recorded ---------------------------------- */

/* The figures of H's span as the events recorded them, into *OUT (the
 * connectors of every routing file in force in the span, in their order).
 * 0 or a negative errno with a sentence in ERRBUF. */
int recorded_figures(const struct replay_history *h, struct rd_figures_acc **out, char *errbuf,
                     size_t errsize);

#endif
