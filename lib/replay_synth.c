/* replay_synth.c: the synthetic source of a run (replay_internal.h): the
 * arrivals of lib/synth's generator, one pushed at a time, and each
 * offer's answer from rd_synth_answer, keyed by the referral's number and
 * the offer's number (its k-th offer), so that two runs get the same
 * answers to the same questions whoever is asked. */
#include "replay_internal.h"

#include <errno.h>
#include <stdio.h>

#define DAY_MS INT64_C(86400000)

int64_t synth_source_end(const struct rd_synth_model *m)
{
        return RD_REPLAY_SYNTH_START_MS + (int64_t)m->days * DAY_MS;
}

/* Draw the next arrival and push it into RUN. */
static int push_next(struct synth_source *s, struct replay_run *run)
{
        struct replay_action a = {.kind = RA_ARRIVAL};

        s->has_next = rd_synth_next(&s->gen, &s->next) == 1;
        if (!s->has_next)
                return 0;
        a.at = s->next.at_ms;
        a.ref = (size_t)(s->next.number - 1);
        return run_push(run, &a);
}

int synth_source_start(struct synth_source *s, const struct rd_synth_model *m, uint64_t seed,
                       struct replay_run *run)
{
        *s = (struct synth_source){.m = m, .seed = seed};
        rd_synth_gen_init(&s->gen, m, seed, RD_REPLAY_SYNTH_START_MS);
        return push_next(s, run);
}

static int synth_arrival(void *ctx, struct replay_run *run, const struct replay_action *a,
                         const struct rd_referral **r, const char **name)
{
        struct synth_source *s = ctx;

        if (!s->has_next || a->ref != (size_t)(s->next.number - 1))
                return -EPROTO; /* arrivals come one at a time, in order */
        s->current = s->next;
        *r = &s->current.referral;
        *name = s->current.referral.ref; /* "S" and its number */
        return push_next(s, run);
}

static int synth_plan(void *ctx, const struct replay_offer *o, struct replay_plan *out)
{
        const struct synth_source *s = ctx;
        struct rd_synth_answer a;

        rd_synth_answer(s->m, s->seed, (uint64_t)o->ref + 1, o->k, &a);
        *out = (struct replay_plan){.answer = a.decline ? PLAN_DECLINE : PLAN_ACCEPT,
                                    .answer_ms = a.answer_ms,
                                    .start_ms = a.start_ms,
                                    .close_ms = a.trajectory_ms};
        /* an answer at or after the expiry comes too late: the offer expires */
        if (o->offered_ms + a.answer_ms >= o->expires_ms)
                out->answer = PLAN_EXPIRE;
        return 0;
}

const struct replay_source_ops synth_source_ops = {.arrival = synth_arrival, .plan = synth_plan};
