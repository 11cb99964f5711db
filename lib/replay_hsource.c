/* replay_hsource.c: the history source of a run (replay_internal.h): a
 * history (replay_history.c) played into a run under another routing
 * file.
 *
 * At the start of the span the scratch store is made what the database
 * was then, with the store's own writes: every referral received before
 * it, in row order, with its state, its offers (counted per connector, the
 * last of each rule's round robin), its declines and its content; the
 * engine then serves the waitlist as the daemon does with a routing file
 * put in force. Then the referrals received in the span arrive at their
 * receipt with their recorded content; the answers of an offer the
 * history made too (same referral, same connector) are the recorded ones,
 * other offers draw a recorded course of that connector (else its team,
 * else everyone's); withdrawals and manual assignments and forwards are
 * made again where they apply; an erased referral's course is written as
 * it was recorded; a deadline fires when the daemon handled it. */
#include "replay_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "synth.h"

/* The draws of offers the history did not make: one stream per (seed,
 * referral, offer number), as the synthetic source keys them. */
#define DRAW_KEY UINT64_C(0x68697374) /* "hist" */

/* ---- the store at the start ----------------------------------------------------------- */

/* accept_within of RULE in RULES, in ms (the rule's own when it assigns,
 * else the file's), as the daemon gives an offer its expiry. */
static int64_t accept_within_ms(const struct rd_rules *rules, const char *rule)
{
        ssize_t ri = rd_rules_rule_index(rules, rule);

        if (ri >= 0 && rules->rules[ri].action == RD_ACTION_ASSIGN)
                return rules->rules[ri].accept_within_s * 1000;
        return rules->accept_within_s * 1000;
}

/* The recorded content of row ROWID as JSON text (malloc'ed), or NULL:
 * what routing reads, without the family's data and the note (a run has
 * no use for them). */
static char *content_text(struct rd_store *store, int64_t rowid)
{
        json_t *content = NULL;
        char *text = NULL;

        if (rd_store_content(store, rowid, &content, NULL, NULL) == 0 && content) {
                json_object_del(content, "family");
                json_object_del(content, "note");
                text = json_dumps(content, JSON_COMPACT | JSON_PRESERVE_ORDER);
        }
        json_decref(content);
        return text;
}

/* A new row for referral F: its public columns as recorded into *ST. */
static int row_basics(const struct replay_history *h, const struct hist_ref *f,
                      struct rd_stored *st, struct replay_run *run)
{
        struct rd_stored rec;
        int r = rd_store_get_row(h->store, f->rowid, &rec);

        if (r < 0)
                return replay_fail(run->errbuf, run->errsize, r, "cannot read the history: %s",
                                   rd_store_errmsg(h->store));
        memcpy(st->partner, rec.partner, sizeof st->partner);
        memcpy(st->ref, rec.ref, sizeof st->ref);
        memcpy(st->digest, rec.digest, sizeof st->digest);
        st->urgency = rec.urgency;
        st->received_ms = f->received_ms;
        return 0;
}

/* Insert referral I as ST with its content (the history's), events EVS;
 * waiting, it waits for whom the daemon had it wait (if it does). */
static int insert_ref(struct hist_source *s, struct replay_run *run, uint32_t i,
                      struct rd_stored *st, struct rd_event *evs, size_t n, const char *offered,
                      const char *rr_rule)
{
        const struct hist_ref *f = &s->h->refs[i];
        char *text = content_text(s->h->store, f->rowid);
        bool waits = st->status == RD_STATUS_WAITLISTED && f->candidates;
        struct rd_store_change ch = {.st = st,
                                     .content = text ? text : "{}",
                                     .rules_digest = "",
                                     .candidates = waits ? f->candidates : "",
                                     .offered = offered,
                                     .rr_rule = rr_rule,
                                     .events = evs,
                                     .n_events = n};
        int r = run_force_write(run, i, &ch, true, f->id);

        free(text);
        return r;
}

/* The offers and declines of referral I before the span, counted as the
 * daemon counted them (its row ST is in the store). */
static int write_offers(struct hist_source *s, struct replay_run *run, uint32_t i,
                        struct rd_stored *st)
{
        const struct replay_history *h = s->h;
        const struct hist_ref *f = &h->refs[i];
        int r = 0;

        for (uint32_t k = 0; r == 0 && k < f->n_ev; k++) {
                const struct hist_ev *e = hist_ev_of(h, f, k);
                struct rd_store_change ch = {.st = st};
                if (e->at >= h->from_ms)
                        break;
                if (e->type == RD_EV_ASSIGNED) {
                        ch.offered = hist_name(h, e->connector);
                        ch.rr_rule = e->rr ? hist_name(h, e->rule) : NULL;
                } else if (e->type == RD_EV_DECLINED || e->type == RD_EV_OFFER_EXPIRED) {
                        ch.declined = hist_name(h, e->connector);
                } else {
                        continue;
                }
                r = run_force_write(run, i, &ch, false, NULL);
        }
        return r;
}

/* Referral I, open at the start with offer O, goes on as its connector
 * did: the answer, the start or the close still to come. */
static int resume(struct hist_source *s, struct replay_run *run, uint32_t i,
                  const struct rd_stored *st, uint32_t o)
{
        const struct hist_offer *x = &s->h->offers[o];
        struct replay_plan p;
        enum replay_kind next = RA__MAX;
        int64_t at = 0;
        uint64_t order = 0;

        s->used[o] = 1;
        hist_plan(x, true, &p);
        if (st->status == RD_STATUS_ASSIGNED && p.answer != PLAN_EXPIRE &&
            x->answer_at < st->offer_expires_ms) {
                next = p.answer == PLAN_DECLINE  ? RA_DECLINE
                       : p.answer == PLAN_ACCEPT ? RA_ACCEPT
                                                 : RA_START;
                at = x->answer_at, order = p.answer_order;
        } else if (st->status == RD_STATUS_ACCEPTED && x->start_at) {
                next = RA_START, at = x->start_at, order = p.start_order;
        } else if (st->status == RD_STATUS_STARTED && x->close_at) {
                next = RA_CLOSE, at = x->close_at, order = p.close_order;
        }
        return next == RA__MAX ? 0 : run_resume(run, i, &p, next, at, order);
}

/* Referral I received before the span, into the store as it was at the
 * start; *PARKED: an erased one waiting, put in as closed for now (the
 * engine cannot decide it again; it waits once the waitlist was served). */
static int write_existing(struct hist_source *s, struct replay_run *run, uint32_t i, bool *parked)
{
        const struct replay_history *h = s->h;
        const struct hist_ref *f = &h->refs[i];
        const struct rd_rules *rules = h->at_from ? h->at_from : s->rules;
        struct rd_stored st, in;
        uint32_t o;
        bool open;
        int r;

        hist_state_at_start(h, f, &st, &o);
        open = rd_status_is_open(st.status);
        *parked = f->erased && st.status == RD_STATUS_WAITLISTED;
        if (f->erased) /* kept as recorded: nothing of the engine's fires on it */
                st.at_risk_fired = st.missed_fired = 1;
        else if (st.status == RD_STATUS_ASSIGNED)
                st.offer_expires_ms = st.offered_ms + accept_within_ms(rules, st.rule);
        r = row_basics(h, f, &st, run);
        in = st;
        if (*parked)
                in.status = RD_STATUS_CLOSED;
        if (r == 0)
                r = insert_ref(s, run, i, &in, NULL, 0, NULL, NULL);
        if (r == 0)
                r = write_offers(s, run, i, &in);
        if (r == 0)
                r = run_force_write(run, i, &(struct rd_store_change){.st = &in, .row = true},
                                    false, NULL);
        st.rowid = in.rowid;
        if (r == 0 && open)
                r = run_existing(run, f->id, &st);
        if (r == 0 && open && !f->erased && o != HIST_NONE)
                r = resume(s, run, i, &st, o);
        return r;
}

/* The erased referrals waiting at the start take their place. */
static int unpark(struct replay_run *run, const uint32_t *parked, size_t n)
{
        int r = n ? run_force_begin(run) : 0;

        for (size_t k = 0; r == 0 && k < n; k++) {
                struct rd_stored st;
                r = run_row(run, parked[k], &st);
                st.status = RD_STATUS_WAITLISTED;
                if (r == 0)
                        r = run_force_write(run, parked[k],
                                            &(struct rd_store_change){.st = &st, .row = true},
                                            false, NULL);
        }
        return r == 0 && n ? run_force_end(run, false) : r;
}

/* The store at the start of the span, served as the daemon serves a
 * waitlist under a routing file put in force. */
static int start_state(struct hist_source *s, struct replay_run *run)
{
        const struct replay_history *h = s->h;
        uint32_t *parked = calloc(h->n_existing ? h->n_existing : 1, sizeof *parked);
        size_t n_parked = 0;
        int r = parked ? run_force_begin(run) : -ENOMEM;

        for (size_t k = 0; r == 0 && k < h->n_existing; k++) {
                bool p = false;
                r = write_existing(s, run, h->existing[k], &p);
                if (p)
                        parked[n_parked++] = h->existing[k];
        }
        if (r == 0)
                r = run_force_end(run, true);
        if (r == 0)
                r = unpark(run, parked, n_parked);
        free(parked);
        return r == -ENOMEM ? replay_fail(run->errbuf, run->errsize, r, "out of memory") : r;
}

/* ---- the arrivals and the steps ----------------------------------------------------------- */

static int push_all(struct hist_source *s, struct replay_run *run)
{
        const struct replay_history *h = s->h;
        int r = 0;

        for (size_t k = 0; r == 0 && k < h->n_arrivals; k++) {
                const struct hist_ref *f = &h->refs[h->arrivals[k]];
                r = run_push(run,
                             &(struct replay_action){.at = f->received_ms,
                                                     .order = HIST_ORDER(hist_ev_of(h, f, 0)->seq),
                                                     .kind = RA_ARRIVAL,
                                                     .ref = h->arrivals[k]});
        }
        for (size_t k = 0; r == 0 && k < h->n_steps; k++)
                r = run_push(run, &(struct replay_action){.at = h->steps[k].at,
                                                          .order = h->steps[k].order,
                                                          .kind = RA_SOURCE,
                                                          .ref = h->steps[k].ref,
                                                          .item = k});
        return r < 0 ? replay_fail(run->errbuf, run->errsize, r, "out of memory") : 0;
}

int hist_source_start(struct hist_source *s, const struct replay_history *h, uint64_t seed,
                      const struct rd_rules *rules, struct replay_run *run)
{
        int r;

        *s = (struct hist_source){.h = h, .seed = seed, .rules = rules};
        s->used = calloc(h->n_offers ? h->n_offers : 1, 1);
        if (!s->used)
                return replay_fail(run->errbuf, run->errsize, -ENOMEM, "out of memory");
        r = start_state(s, run);
        return r == 0 ? push_all(s, run) : r;
}

void hist_source_free(struct hist_source *s)
{
        free(s->used);
        rd_referral_clear(&s->current);
}

static int hist_arrival(void *ctx, struct replay_run *run, const struct replay_action *a,
                        const struct rd_referral **r, const char **name)
{
        struct hist_source *s = ctx;
        const struct hist_ref *f = &s->h->refs[a->ref];
        json_t *content = NULL;
        struct rd_error err;
        int rc = rd_store_content(s->h->store, f->rowid, &content, NULL, NULL);

        (void)run;
        rd_referral_clear(&s->current);
        if (rc == 0 && (!content || rd_referral_from_json(content, &s->current, &err) < 0))
                rc = -EPROTO; /* its content no longer reads as a referral */
        json_decref(content);
        if (rc < 0)
                return rc;
        for (size_t i = 0; i < RD_FAMILY__MAX; i++) { /* routing never reads them */
                free(s->current.family[i]);
                s->current.family[i] = NULL;
        }
        free(s->current.note);
        s->current.note = NULL;
        if (!s->current.partner[0]) {
                struct rd_stored rec;
                if ((rc = rd_store_get_row(s->h->store, f->rowid, &rec)) < 0)
                        return rc;
                memcpy(s->current.partner, rec.partner, sizeof s->current.partner);
        }
        *r = &s->current;
        *name = f->id;
        return 0;
}

/* ---- the answers ----------------------------------------------------------------------------- */

/* The recorded offer of referral REF to CONNECTOR not made yet in this
 * run, or HIST_NONE. */
static uint32_t same_offer(const struct hist_source *s, size_t ref, const char *connector)
{
        const struct hist_ref *f = &s->h->refs[ref];
        uint32_t c = hist_name_find(s->h, connector);

        for (uint32_t o = f->first_offer; c != HIST_NONE && o < f->first_offer + f->n_offers; o++)
                if (s->h->offers[o].connector == c && !s->used[o])
                        return o;
        return HIST_NONE;
}

/* A recorded course drawn for offer O: of its connector, else its team,
 * else everyone's; HIST_NONE when the history has none. */
static uint32_t drawn_offer(const struct hist_source *s, const struct replay_offer *o)
{
        const struct replay_history *h = s->h;
        uint32_t c = hist_name_find(h, o->connector), t = hist_name_find(h, o->team);
        const struct hist_pool *p = &h->everyone;
        struct rd_rng g;

        if (c != HIST_NONE && h->by_connector[c].n)
                p = &h->by_connector[c];
        else if (t != HIST_NONE && h->by_team[t].n)
                p = &h->by_team[t];
        if (!p->n)
                return HIST_NONE;
        rd_rng_seed_key(&g, s->seed, (uint64_t)h->refs[o->ref].rowid, o->k, DRAW_KEY);
        return p->v[rd_rng_below(&g, p->n)];
}

static int hist_answer(void *ctx, const struct replay_offer *o, struct replay_plan *out)
{
        struct hist_source *s = ctx;
        uint32_t x = same_offer(s, o->ref, o->connector);
        bool same = x != HIST_NONE;

        if (same)
                s->used[x] = 1;
        else
                x = drawn_offer(s, o);
        if (x == HIST_NONE) {
                *out = (struct replay_plan){.answer = PLAN_EXPIRE, .answer_ms = -1};
                return 0;
        }
        hist_plan(&s->h->offers[x], same, out);
        /* an answer at or after the expiry comes too late: the offer expires */
        if (out->answer_ms < 0 || o->offered_ms + out->answer_ms >= o->expires_ms)
                out->answer = PLAN_EXPIRE;
        return 0;
}

/* ---- the steps ------------------------------------------------------------------------------ */

/* A person's change, step T, made again where it applies. */
static int person(struct hist_source *s, struct replay_run *run, const struct hist_step *t)
{
        const struct replay_history *h = s->h;
        const struct hist_ev *e = hist_ev_of(h, &h->refs[t->ref], t->first);
        struct rd_update u = {.status = (enum rd_status)e->status};
        bool done;

        if (e->type == RD_EV_ASSIGNED) {
                u.connector = hist_name(h, e->connector);
        } else if (e->type == RD_EV_FORWARDED) {
                u.forward_to = hist_name(h, e->forward_to);
                u.reason = hist_name(h, e->reason);
        }
        return run_person(run, t->ref, &u, &done);
}

/* Event E of erased referral I as recorded: its row ST follows it. With
 * NEXT (the decision right after a referral.received) both at once. */
static int forced_event(struct hist_source *s, struct replay_run *run, uint32_t i,
                        const struct hist_ev *e, const struct hist_ev *next, struct rd_stored *st)
{
        const struct replay_history *h = s->h;
        const struct hist_ref *f = &h->refs[i];
        const struct hist_ev *d = next ? next : e;
        struct rd_event evs[2];
        struct rd_store_change ch = {.st = st, .row = true, .events = evs, .n_events = 1};

        for (size_t k = 0; k < (next ? 2u : 1u); k++) {
                const struct hist_ev *x = k ? next : e;
                hist_event(h, x, &evs[k]);
                memcpy(evs[k].partner, st->partner, sizeof evs[k].partner);
                memcpy(evs[k].ref, st->ref, sizeof evs[k].ref);
                hist_apply(h, f, x, st);
        }
        st->at_risk_fired = st->missed_fired = 1;
        if (d->type == RD_EV_ASSIGNED) {
                ch.offered = hist_name(h, d->connector);
                ch.rr_rule = d->manual ? NULL : hist_name(h, d->rule);
        } else if (d->type == RD_EV_DECLINED || d->type == RD_EV_OFFER_EXPIRED) {
                ch.declined = hist_name(h, d->connector);
        }
        if (next)
                return insert_ref(s, run, i, st, evs, 2, ch.offered, ch.rr_rule);
        return run_force_write(run, i, &ch, false, NULL);
}

static bool holds(const struct rd_stored *st)
{
        return st->status == RD_STATUS_ASSIGNED || st->status == RD_STATUS_ACCEPTED ||
               st->status == RD_STATUS_STARTED;
}

/* Does step T of referral F, in row ST now, give up the place it holds? */
static bool gives_up(const struct replay_history *h, const struct hist_ref *f,
                     const struct hist_step *t, const struct rd_stored *st)
{
        struct rd_stored after = *st;

        for (uint32_t k = t->first; k < t->first + t->n; k++)
                hist_apply(h, f, hist_ev_of(h, f, k), &after);
        return holds(st) && (!holds(&after) || strcmp(st->connector, after.connector) != 0);
}

/* Step T of an erased referral's recorded course: written as recorded,
 * after the engine gave back the place it leaves (and served the
 * waitlist with it, as the daemon did). */
static int forced(struct hist_source *s, struct replay_run *run, const struct hist_step *t)
{
        const struct replay_history *h = s->h;
        const struct hist_ref *f = &h->refs[t->ref];
        struct rd_stored st = {0};
        bool fresh = hist_ev_of(h, f, t->first)->type == RD_EV_RECEIVED;
        int r = run_force_begin(run);

        if (r == 0)
                r = fresh ? row_basics(h, f, &st, run) : run_row(run, t->ref, &st);
        if (r == 0 && !fresh && gives_up(h, f, t, &st))
                r = run_release(run, t->ref);
        for (uint32_t k = t->first; r == 0 && k < t->first + t->n; k++) {
                const struct hist_ev *e = hist_ev_of(h, f, k), *next = NULL;
                if (e->type == RD_EV_RECEIVED && k + 1 < t->first + t->n)
                        next = hist_ev_of(h, f, ++k);
                else if (e->type == RD_EV_RECEIVED)
                        return replay_fail(run->errbuf, run->errsize, -EPROTO,
                                           "%s has no decision at its receipt", f->id);
                r = forced_event(s, run, t->ref, e, next, &st);
        }
        return r == 0 ? run_force_end(run, false) : r;
}

static int hist_act(void *ctx, struct replay_run *run, const struct replay_action *a)
{
        struct hist_source *s = ctx;
        const struct hist_step *t = &s->h->steps[a->item];

        return t->forced ? forced(s, run, t) : person(s, run, t);
}

/* A deadline due at DUE fires when the daemon handled one, if it did
 * within HIST_GRACE_MS after, in the order of that tick's first event. */
static void hist_tick_at(void *ctx, int64_t due, int64_t *at, uint64_t *order)
{
        const struct hist_source *s = ctx;
        const struct hist_tick *t = s->h->ticks;
        size_t lo = 0, hi = s->h->n_ticks;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (t[mid].at < due)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo < s->h->n_ticks && t[lo].at - due <= HIST_GRACE_MS) {
                *at = t[lo].at;
                *order = HIST_ORDER(t[lo].seq);
        } else {
                *at = due;
                *order = 0;
        }
}

const struct replay_source_ops hist_source_ops = {
        .arrival = hist_arrival, .plan = hist_answer, .act = hist_act, .tick_at = hist_tick_at};
