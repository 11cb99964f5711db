/* replay_run.c: one run of a replay (replay_internal.h): the daemon's hub
 * over a scratch store in memory, driven in simulated time. Each step is
 * what the daemon does in one transaction: a referral received, a
 * connector's answer, a person's change, or the deadlines due
 * (rd_hub_tick); then what the hub emitted goes to the figures, and each
 * new offer gets its plan from the source. A source may also write the
 * store itself (run_force_*): the engine then reads its memory again from
 * the store, as it does after a rollback, and serves the waitlist. */
#include "replay_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MAX 256           /* deadlines per transaction, as the daemon */
#define ORDER_RUN (1ull << 63) /* the orders the run gives, after the source's */
#define STEPS_PER_COMMIT 512
#define WAIT_CACHE (1u << 22) /* waiting referrals the hub keeps in memory */

int replay_fail(char *errbuf, size_t errsize, int err, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(errbuf, errsize, fmt, ap);
        va_end(ap);
        return err;
}

/* ---- setting up ------------------------------------------------------------------- */

int run_init(struct replay_run *r, struct rd_rules *rules, const struct replay_source *src,
             int64_t start_ms, int64_t end_ms, char *errbuf, size_t errsize)
{
        char why[256];
        int rc;

        memset(r, 0, sizeof *r);
        r->src = *src;
        r->start_ms = r->now = start_ms;
        r->end_ms = end_ms;
        r->order = ORDER_RUN;
        r->errbuf = errbuf;
        r->errsize = errsize;
        rc = rd_store_open_memory(&r->store, why, sizeof why);
        if (rc < 0)
                replay_fail(errbuf, errsize, rc, "cannot make the scratch store: %s", why);
        if (rc == 0 && (rc = rd_hub_new(r->store, rules, &r->hub)) < 0)
                replay_fail(errbuf, errsize, rc, "cannot start the engine on the scratch store");
        else if (rc < 0)
                rd_rules_free(rules);
        rules = NULL; /* the hub's, or freed */
        if (rc == 0)  /* the whole waitlist in memory: decisions are the same, reads fewer */
                rd_hub_set_wait_cache(r->hub, WAIT_CACHE);
        if (rc == 0 && (rc = feed_init(&r->feed, start_ms)) < 0)
                replay_fail(errbuf, errsize, rc, "out of memory");
        for (size_t i = 0; rc == 0 && i < rd_hub_rules(r->hub)->n_connectors; i++) {
                const struct rd_rules *ru = rd_hub_rules(r->hub);
                const struct rd_connector *c = &ru->connectors[i];
                rc = feed_connector(&r->feed, c->id, ru->teams[c->team].id, c->capacity);
                if (rc < 0)
                        replay_fail(errbuf, errsize, rc, "out of memory");
        }
        if (rc < 0) {
                run_free(r);
                return rc;
        }
        return 0;
}

struct rd_figures_acc *run_take_figures(struct replay_run *r)
{
        struct rd_figures_acc *f = r->feed.fig;
        r->feed.fig = NULL;
        return f;
}

void run_free(struct replay_run *r)
{
        rd_hub_free(r->hub);
        rd_store_close(r->store);
        feed_free(&r->feed);
        queue_free(&r->q);
        free(r->refs);
        free(r->by_row);
        memset(r, 0, sizeof *r);
}

int run_push(struct replay_run *r, struct replay_action *a)
{
        if (!a->order)
                a->order = r->order++;
        return queue_push(&r->q, a);
}

/* Room for referral I of the source. */
static int ref_room(struct replay_run *r, size_t i)
{
        if (i < r->n_refs)
                return 0;
        if (replay_grow(&r->refs, &r->cap_refs, i + 1, sizeof *r->refs) < 0)
                return -ENOMEM;
        memset(&r->refs[r->n_refs], 0, (i + 1 - r->n_refs) * sizeof *r->refs);
        r->n_refs = i + 1;
        return 0;
}

/* Referral I of the source is row ROWID of the store. */
static int map_row(struct replay_run *r, size_t i, int64_t rowid)
{
        size_t row = (size_t)(rowid - 1);

        if (rowid < 1)
                return -EPROTO;
        if (replay_grow(&r->by_row, &r->cap_rows, row + 1, sizeof *r->by_row) < 0)
                return -ENOMEM;
        for (; r->n_rows <= row; r->n_rows++)
                r->by_row[r->n_rows] = REPLAY_NONE;
        r->by_row[row] = i;
        r->refs[i].rowid = rowid;
        return 0;
}

/* The source's index of the referral of event EV, or REPLAY_NONE. */
static size_t ref_of_event(const struct replay_run *r, const struct rd_event *ev)
{
        int64_t rowid;

        if (!ev->id[0] || rd_store_parse_id(ev->id, &rowid) < 0 || rowid < 1 ||
            (size_t)(rowid - 1) >= r->n_rows)
                return REPLAY_NONE;
        return r->by_row[rowid - 1];
}

/* ---- after a transaction ------------------------------------------------------------ */

/* Referral I got an offer: schedule what its plan says. */
static int plan_offer(struct replay_run *r, size_t i)
{
        struct run_ref *ref = &r->refs[i];
        struct rd_stored st;
        struct replay_offer o;
        enum replay_kind kind;
        int rc = rd_store_get_row(r->store, ref->rowid, &st);

        if (rc < 0)
                return replay_fail(r->errbuf, r->errsize, rc, "cannot read the scratch store: %s",
                                   rd_store_errmsg(r->store));
        if (st.status != RD_STATUS_ASSIGNED)
                return 0;
        o = (struct replay_offer){i,       ref->offers - 1, st.connector,
                                  st.team, st.offered_ms,   st.offer_expires_ms};
        rc = r->src.ops->plan(r->src.ctx, &o, &ref->plan);
        if (rc < 0)
                return replay_fail(r->errbuf, r->errsize, rc, "cannot plan an answer");
        if (ref->plan.answer == PLAN_EXPIRE || ref->plan.answer_ms < 0)
                return 0; /* the hub's deadline fires */
        kind = ref->plan.answer == PLAN_DECLINE  ? RA_DECLINE
               : ref->plan.answer == PLAN_ACCEPT ? RA_ACCEPT
                                                 : RA_START;
        return run_push(r, &(struct replay_action){.at = st.offered_ms + ref->plan.answer_ms,
                                                   .order = ref->plan.answer_order,
                                                   .kind = kind,
                                                   .ref = i,
                                                   .gen = ref->gen});
}

/* Event EV of referral I (REPLAY_NONE: none): its decisions. *OFFERED:
 * whether its last decision so far is an offer. */
static void count_decision(struct replay_run *r, size_t i, const struct rd_event *ev, bool *offered)
{
        if (i == REPLAY_NONE || (ev->type != RD_EV_ASSIGNED && ev->type != RD_EV_WAITLISTED &&
                                 ev->type != RD_EV_FORWARDED))
                return;
        r->refs[i].gen++;
        *offered = ev->type == RD_EV_ASSIGNED;
        if (*offered)
                r->refs[i].offers++;
}

/* The loads the events gave are the hub's: else the engine and the
 * figures disagree. */
static int check_loads(struct replay_run *r)
{
        const struct rd_rules *rules = rd_hub_rules(r->hub);

        for (size_t c = 0; c < rules->n_connectors; c++)
                if (r->feed.conns[c].load != rd_hub_load(r->hub, c))
                        return replay_fail(r->errbuf, r->errsize, -EPROTO,
                                           "the load of %s counted from the events (%llu) is "
                                           "not the engine's (%u)",
                                           rules->connectors[c].id,
                                           (unsigned long long)r->feed.conns[c].load,
                                           rd_hub_load(r->hub, c));
        return 0;
}

/* What the hub emitted in the step, in seq order: to the figures (NAME
 * names the referral received, if one was; the events of row SKIP, if
 * not 0, are left out), then a plan for each referral whose last decision
 * is a new offer. The outbox is emptied. */
static int feed_outbox(struct replay_run *r, const char *name, int64_t skip)
{
        size_t n, n_offered = 0;
        const struct rd_event *ev = rd_hub_events(r->hub, &n);
        size_t *offered = n ? calloc(n, sizeof *offered) : NULL;
        int rc = n && !offered ? -ENOMEM : 0;

        for (size_t e = 0; rc == 0 && e < n; e++) {
                size_t i = ref_of_event(r, &ev[e]);
                bool offer = false;
                if (skip && i != REPLAY_NONE && r->refs[i].rowid == skip)
                        continue;
                rc = feed_event(&r->feed, &ev[e], ev[e].type == RD_EV_RECEIVED ? name : NULL);
                if (rc < 0)
                        replay_fail(
                                r->errbuf, r->errsize, rc, "the figures refused %s of %s at %lld",
                                rd_event_type_name(ev[e].type), ev[e].id, (long long)ev[e].at_ms);
                count_decision(r, i, &ev[e], &offer);
                if (offer)
                        offered[n_offered++] = i;
        }
        rd_hub_events_clear(r->hub);
        /* a referral offered twice in one step (decided again at once) has
         * one plan: for its last offer, if that one still stands */
        for (size_t k = 0; rc == 0 && k < n_offered; k++) {
                bool last = true;
                for (size_t j = k + 1; j < n_offered; j++)
                        last = last && offered[j] != offered[k];
                if (last)
                        rc = plan_offer(r, offered[k]);
        }
        free(offered);
        return rc;
}

/* Commit the open transaction, if there is one. */
static int commit(struct replay_run *r)
{
        int rc;

        if (!r->in_tx)
                return 0;
        r->in_tx = false;
        r->steps = 0;
        rc = rd_store_commit(r->store);
        if (rc < 0) {
                rd_store_rollback(r->store);
                rd_hub_rolled_back(r->hub);
                return replay_fail(r->errbuf, r->errsize, rc,
                                   "cannot commit to the scratch store: %s",
                                   rd_store_errmsg(r->store));
        }
        return 0;
}

/* End the step begun at R->now: feed what it emitted; commit every
 * STEPS_PER_COMMIT steps (the hub reads its own writes, and nothing is
 * published: fewer commits change nothing but the time a replay takes). */
static int step_end(struct replay_run *r, const char *name)
{
        int rc = feed_outbox(r, name, 0);

        if (rc == 0 && (rc = feed_flush(&r->feed, r->now)) < 0)
                replay_fail(r->errbuf, r->errsize, rc, "the figures refused the loads");
        if (rc == 0)
                rc = check_loads(r);
        if (rc == 0 && ++r->steps == STEPS_PER_COMMIT)
                rc = commit(r);
        return rc;
}

static int step_begin(struct replay_run *r)
{
        int rc;

        if (r->in_tx)
                return 0;
        rc = rd_store_begin(r->store);
        if (rc < 0)
                return replay_fail(r->errbuf, r->errsize, rc,
                                   "cannot begin a transaction on the scratch store: %s",
                                   rd_store_errmsg(r->store));
        r->in_tx = true;
        return 0;
}

/* A hub call that failed with RC and ERR: undo the step, say why. */
static int step_failed(struct replay_run *r, int rc, const struct rd_error *err, const char *what)
{
        r->in_tx = false;
        rd_store_rollback(r->store);
        rd_hub_rolled_back(r->hub);
        return replay_fail(r->errbuf, r->errsize, rc, "the engine refused %s: %s", what,
                           err->message[0] ? err->message : strerror(-rc));
}

/* ---- the steps ------------------------------------------------------------------------ */

static int do_arrival(struct replay_run *r, const struct replay_action *a)
{
        const struct rd_referral *ref = NULL;
        const char *name = NULL;
        struct rd_stored st;
        struct rd_error err = {0};
        bool dup = false;
        int rc = r->src.ops->arrival(r->src.ctx, r, a, &ref, &name);

        if (rc < 0)
                return replay_fail(r->errbuf, r->errsize, rc, "cannot read the next referral");
        if ((rc = ref_room(r, a->ref)) < 0 || (rc = step_begin(r)) < 0)
                return rc;
        rc = rd_hub_submit(r->hub, ref, a->at, &st, &dup, &err);
        if (rc == 0 && dup)
                rc = -EPROTO, snprintf(err.message, sizeof err.message, "a referral came twice");
        if (rc == 0)
                rc = map_row(r, a->ref, st.rowid);
        if (rc < 0)
                return step_failed(r, rc, &err, "a referral");
        return step_end(r, name);
}

/* The next step of referral I's plan after ANSWER, done at R->now. */
static int plan_next(struct replay_run *r, size_t i, enum replay_kind done)
{
        const struct replay_plan *p = &r->refs[i].plan;
        struct replay_action next = {.ref = i, .gen = r->refs[i].gen};

        if (done == RA_ACCEPT && p->start_ms >= 0)
                next.kind = RA_START, next.at = r->now + p->start_ms, next.order = p->start_order;
        else if (done == RA_START && p->close_ms >= 0)
                next.kind = RA_CLOSE, next.at = r->now + p->close_ms, next.order = p->close_order;
        else
                return 0;
        return run_push(r, &next);
}

static int do_answer(struct replay_run *r, const struct replay_action *a)
{
        static const enum rd_status to[RA__MAX] = {
                [RA_ACCEPT] = RD_STATUS_ACCEPTED,
                [RA_START] = RD_STATUS_STARTED,
                [RA_CLOSE] = RD_STATUS_CLOSED,
        };
        struct run_ref *ref = &r->refs[a->ref];
        struct rd_stored st, after; /* U names ST's id and connector */
        struct rd_update u = {.declined = a->kind == RA_DECLINE, .status = to[a->kind]};
        struct rd_error err = {0};
        bool changed;
        int rc;

        if (a->gen != ref->gen)
                return 0; /* decided again since: the answer is to an offer that is gone */
        rc = rd_store_get_row(r->store, ref->rowid, &st);
        if (rc < 0)
                return replay_fail(r->errbuf, r->errsize, rc, "cannot read the scratch store: %s",
                                   rd_store_errmsg(r->store));
        if (!rd_status_is_open(st.status))
                return 0; /* withdrawn or forwarded meanwhile */
        u.id = st.id;
        u.connector = st.connector;
        if (a->kind == RA_START && ref->plan.end_ms > 0)
                u.expected_end_ms = r->now + ref->plan.end_ms;
        if ((rc = step_begin(r)) < 0)
                return rc;
        rc = rd_hub_update(r->hub, &u, r->now, &after, &changed, &err);
        if (rc < 0)
                return step_failed(r, rc, &err, "a connector's answer");
        rc = step_end(r, NULL);
        return rc == 0 ? plan_next(r, a->ref, a->kind) : rc;
}

/* Everything due at R->now, as the daemon handles it. */
static int do_tick(struct replay_run *r)
{
        size_t done = 0;
        int rc = step_begin(r);

        if (rc == 0 && (rc = rd_hub_tick(r->hub, r->now, TICK_MAX, &done)) < 0) {
                r->in_tx = false;
                rd_store_rollback(r->store);
                rd_hub_rolled_back(r->hub);
                return replay_fail(r->errbuf, r->errsize, rc, "handling deadlines failed: %s",
                                   rd_store_errmsg(r->store));
        }
        if (rc == 0 && done == 0) {
                r->in_tx = false;
                rd_store_rollback(r->store);
                return replay_fail(r->errbuf, r->errsize, -EPROTO,
                                   "a deadline was due but nothing fired");
        }
        return rc == 0 ? step_end(r, NULL) : rc;
}

/* ---- the primitives of a source's steps ------------------------------------------------- */

int run_row(struct replay_run *r, size_t i, struct rd_stored *st)
{
        int rc = i < r->n_refs && r->refs[i].rowid
                         ? rd_store_get_row(r->store, r->refs[i].rowid, st)
                         : -ENOENT;

        if (rc < 0)
                return replay_fail(r->errbuf, r->errsize, rc, "cannot read the scratch store: %s",
                                   rd_store_errmsg(r->store));
        return 0;
}

int run_person(struct replay_run *r, size_t i, struct rd_update *u, bool *done)
{
        struct rd_stored st, after;
        struct rd_error err = {0};
        bool changed = false;
        int rc = run_row(r, i, &st);

        *done = false;
        if (rc < 0 || !rd_status_is_open(st.status))
                return rc;
        u->id = st.id;
        if ((rc = step_begin(r)) < 0)
                return rc;
        rc = rd_hub_update(r->hub, u, r->now, &after, &changed, &err);
        /* refused before anything changed: it does not apply any more */
        if (rc < 0 && (err.code == RD_INVALID || err.code == RD_CONFLICT))
                return 0;
        if (rc < 0)
                return step_failed(r, rc, &err, "a person's change");
        *done = changed;
        return step_end(r, NULL);
}

int run_force_begin(struct replay_run *r)
{
        return step_begin(r);
}

int run_force_write(struct replay_run *r, size_t i, struct rd_store_change *ch, bool insert,
                    const char *name)
{
        struct rd_error err = {0};
        bool offer = false;
        int rc = ref_room(r, i);

        if (rc == 0)
                rc = insert ? rd_store_insert(r->store, ch) : rd_store_change(r->store, ch);
        if (rc == 0 && insert)
                rc = map_row(r, i, ch->st->rowid);
        if (rc < 0) {
                snprintf(err.message, sizeof err.message, "%s", rd_store_errmsg(r->store));
                return step_failed(r, rc, &err, "a recorded change");
        }
        for (size_t e = 0; rc == 0 && e < ch->n_events; e++) {
                const struct rd_event *ev = &ch->events[e];
                rc = feed_event(&r->feed, ev, ev->type == RD_EV_RECEIVED ? name : NULL);
                if (rc < 0)
                        replay_fail(r->errbuf, r->errsize, rc,
                                    "the figures refused %s of %s at %lld as recorded",
                                    rd_event_type_name(ev->type), ev->id, (long long)ev->at_ms);
                count_decision(r, i, ev, &offer);
        }
        return rc;
}

int run_release(struct replay_run *r, size_t i)
{
        struct rd_update u = {.status = RD_STATUS_WITHDRAWN};
        struct rd_stored st, after;
        struct rd_error err = {0};
        bool changed;
        int rc = run_row(r, i, &st);

        if (rc < 0 || (st.status != RD_STATUS_ASSIGNED && st.status != RD_STATUS_ACCEPTED &&
                       st.status != RD_STATUS_STARTED))
                return rc;
        u.id = st.id;
        rc = rd_hub_update(r->hub, &u, r->now, &after, &changed, &err);
        if (rc < 0)
                return step_failed(r, rc, &err, "a place given back");
        return feed_outbox(r, NULL, st.rowid);
}

int run_force_end(struct replay_run *r, bool serve)
{
        int rc = 0;

        rd_hub_rolled_back(r->hub); /* reads its memory again from the store */
        if (serve)
                rc = rd_hub_serve_waitlist(r->hub, r->now);
        if (rc < 0) {
                r->in_tx = false;
                rd_store_rollback(r->store);
                rd_hub_rolled_back(r->hub);
                return replay_fail(r->errbuf, r->errsize, rc, "serving the waitlist failed: %s",
                                   rd_store_errmsg(r->store));
        }
        return step_end(r, NULL);
}

int run_existing(struct replay_run *r, const char *name, const struct rd_stored *st)
{
        int rc = feed_existing(&r->feed, st->rowid, name, st->status, st->connector,
                               st->status == RD_STATUS_STARTED);

        if (rc < 0)
                return replay_fail(r->errbuf, r->errsize, rc,
                                   "the figures refused %s as it was at the start", name);
        return 0;
}

int run_resume(struct replay_run *r, size_t i, const struct replay_plan *plan,
               enum replay_kind next, int64_t at, uint64_t order)
{
        r->refs[i].plan = *plan;
        return run_push(
                r,
                &(struct replay_action){
                        .at = at, .order = order, .kind = next, .ref = i, .gen = r->refs[i].gen});
}

/* ---- the loop ---------------------------------------------------------------------------- */

/* Does the deadline firing at AT in ORDER come before action TOP (NULL:
 * none)? */
static bool tick_first(int64_t at, uint64_t order, const struct replay_action *top)
{
        return !top || at < top->at || (at == top->at && order <= top->order);
}

static int do_action(struct replay_run *r, const struct replay_action *a)
{
        switch (a->kind) {
        case RA_ARRIVAL: return do_arrival(r, a);
        case RA_SOURCE: return r->src.ops->act(r->src.ctx, r, a);
        default: return do_answer(r, a);
        }
}

int run_go(struct replay_run *r)
{
        int rc = 0;

        while (rc == 0) {
                const struct replay_action *top = queue_top(&r->q);
                struct replay_action a;
                int64_t due = 0, at;
                uint64_t order = 0;

                rc = rd_hub_next_deadline(r->hub, &due);
                if (rc < 0)
                        return replay_fail(r->errbuf, r->errsize, rc,
                                           "cannot read the deadlines: %s",
                                           rd_store_errmsg(r->store));
                at = due;
                if (due && r->src.ops->tick_at)
                        r->src.ops->tick_at(r->src.ctx, due, &at, &order);
                /* without a source's word, a deadline comes before an action
                 * at the same moment */
                if (due && tick_first(at, order, top)) {
                        if (at >= r->end_ms)
                                break;
                        r->now = at > r->now ? at : r->now;
                        rc = do_tick(r);
                        continue;
                }
                if (!top || top->at >= r->end_ms)
                        break;
                queue_pop(&r->q, &a);
                r->now = a.at > r->now ? a.at : r->now;
                rc = do_action(r, &a);
        }
        if (rc == 0)
                rc = commit(r);
        if (rc == 0 && (rc = rd_figures_finish(r->feed.fig, r->end_ms)) < 0)
                replay_fail(r->errbuf, r->errsize, -EPROTO, "the figures refused the end");
        return rc < 0 ? (rc == -EINVAL ? -EPROTO : rc) : 0;
}
