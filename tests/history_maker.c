/* history_maker.c: a history made as the daemon makes one (history_maker.h). */
#include "history_maker.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "replay_internal.h" /* the event queue */
#include "routing_files.h"
#include "store.h"
#include "synth.h"

#define DAY_MS INT64_C(86400000)
#define TICK_MAX 256
#define WITHDRAW_WITHIN_MS (60 * DAY_MS)
#define MANUAL_AFTER_MS (3 * DAY_MS)

enum hm_kind {
        HM_ARRIVAL,
        HM_ACCEPT,
        HM_DECLINE,
        HM_START,
        HM_CLOSE,
        HM_WITHDRAW,
        HM_MANUAL,
        HM_RELOAD
};

struct hm_ref {
        int64_t rowid;
        uint32_t gen, offers;
        struct rd_synth_answer answer; /* of its current offer */
};

struct maker {
        const struct hm_options *o;
        struct hm_counts *counts;
        struct rd_synth_model *model;
        struct rd_synth_gen gen;
        struct rd_synth_arrival next;
        struct rd_rng rng;
        struct rd_store *store;
        struct rd_hub *hub;
        struct replay_queue q;
        uint64_t order;
        struct hm_ref *refs; /* by number - 1 */
        size_t n_refs, cap_refs;
        size_t *by_row; /* row id - 1 -> number - 1 */
        size_t n_rows, cap_rows;
        int64_t now, end;
        char *errbuf;
        size_t errsize;
};

static int fail(struct maker *m, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct maker *m, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(m->errbuf, m->errsize, fmt, ap);
        va_end(ap);
        return r;
}

static int push(struct maker *m, int64_t at, enum hm_kind kind, size_t ref, uint32_t gen)
{
        struct replay_action a = {.at = at,
                                  .order = ++m->order,
                                  .kind = RA_SOURCE,
                                  .ref = ref,
                                  .gen = gen,
                                  .item = kind};
        return queue_push(&m->q, &a);
}

/* ---- the daemon's wrapping --------------------------------------------------------- */

static int begin(struct maker *m)
{
        int r = rd_store_begin(m->store);
        return r < 0 ? fail(m, r, "begin: %s", rd_store_errmsg(m->store)) : 0;
}

/* A request that worked or failed with R, its audit entry ACTION of ID
 * by ROLE; then the commit. */
static int commit(struct maker *m, int r, const char *role, const char *action, const char *id)
{
        if (r == 0 && action)
                r = rd_store_audit(m->store, m->now, "maker", role, action, id);
        if (rd_hub_request_end(m->hub, r == 0) < 0 || rd_store_commit(m->store) < 0)
                return fail(m, -EIO, "commit: %s", rd_store_errmsg(m->store));
        return 0;
}

/* After a commit: the events, the answers to schedule. */
static int after(struct maker *m)
{
        size_t n;
        const struct rd_event *ev = rd_hub_events(m->hub, &n);
        int r = 0;

        for (size_t e = 0; r == 0 && e < n; e++) {
                int64_t rowid;
                struct hm_ref *f;
                size_t i;
                m->counts->by_type[ev[e].type]++;
                if (m->counts->end_ms < ev[e].at_ms)
                        m->counts->end_ms = ev[e].at_ms;
                if (!ev[e].id[0] || rd_store_parse_id(ev[e].id, &rowid) < 0 ||
                    (size_t)rowid > m->n_rows)
                        continue;
                i = m->by_row[rowid - 1];
                f = &m->refs[i];
                if (ev[e].type != RD_EV_ASSIGNED && ev[e].type != RD_EV_WAITLISTED &&
                    ev[e].type != RD_EV_FORWARDED)
                        continue;
                f->gen++;
                if (ev[e].type == RD_EV_WAITLISTED && m->counts->manual < m->o->manual &&
                    rd_rng_below(&m->rng, 8) == 0) {
                        m->counts->manual++; /* counted once done */
                        r = push(m, ev[e].at_ms + MANUAL_AFTER_MS, HM_MANUAL, i, f->gen);
                }
                if (ev[e].type != RD_EV_ASSIGNED)
                        continue;
                rd_synth_answer(m->model, m->o->seed, i + 1, f->offers++, &f->answer);
                {
                        struct rd_stored st;
                        r = rd_store_get_row(m->store, f->rowid, &st);
                        if (r == 0 && st.status == RD_STATUS_ASSIGNED &&
                            f->answer.answer_ms < st.offer_expires_ms - st.offered_ms)
                                r = push(m, st.offered_ms + f->answer.answer_ms,
                                         f->answer.decline ? HM_DECLINE : HM_ACCEPT, i, f->gen);
                }
        }
        rd_hub_events_clear(m->hub);
        return r;
}

/* ---- the steps ---------------------------------------------------------------------- */

static int arrival(struct maker *m)
{
        struct rd_stored st;
        struct rd_error err = {0};
        bool dup = false;
        size_t i = (size_t)(m->next.number - 1);
        int r = begin(m);

        if (r == 0 && (r = rd_hub_request_begin(m->hub)) == 0)
                r = rd_hub_submit(m->hub, &m->next.referral, m->now, &st, &dup, &err);
        if (r < 0)
                return fail(m, r, "submit: %s", err.message);
        if (replay_grow(&m->refs, &m->cap_refs, i + 1, sizeof *m->refs) < 0 ||
            replay_grow(&m->by_row, &m->cap_rows, (size_t)st.rowid, sizeof *m->by_row) < 0)
                return -ENOMEM;
        m->n_refs = i + 1;
        m->refs[i] = (struct hm_ref){.rowid = st.rowid};
        m->n_rows = (size_t)st.rowid;
        m->by_row[st.rowid - 1] = i;
        r = commit(m, 0, "partner", "submit", st.id);
        if (r == 0 && rd_rng_below(&m->rng, 100) < m->o->withdraw_pct)
                r = push(m, m->now + 1 + (int64_t)rd_rng_below(&m->rng, WITHDRAW_WITHIN_MS),
                         HM_WITHDRAW, i, 0);
        if (r == 0 && rd_synth_next(&m->gen, &m->next) == 1)
                r = push(m, m->next.at_ms, HM_ARRIVAL, 0, 0);
        return r == 0 ? after(m) : r;
}

/* An update of referral I by ROLE: U at now, audited as ACTION. */
static int update(struct maker *m, size_t i, struct rd_update *u, const char *role,
                  const char *action)
{
        struct rd_stored st, out;
        struct rd_error err = {0};
        bool changed;
        int r = rd_store_get_row(m->store, m->refs[i].rowid, &st);

        if (r < 0 || !rd_status_is_open(st.status))
                return r;
        u->id = st.id;
        if (!u->connector)
                u->connector = st.connector;
        if ((r = begin(m)) == 0 && (r = rd_hub_request_begin(m->hub)) == 0)
                r = rd_hub_update(m->hub, u, m->now, &out, &changed, &err);
        if (r < 0 && err.code != RD_CONFLICT && err.code != RD_INVALID)
                return fail(m, r, "update: %s", err.message);
        r = commit(m, r, role, action, st.id);
        return r == 0 ? after(m) : r;
}

/* The connector of referral I's offer does KIND. */
static int answer(struct maker *m, const struct replay_action *a)
{
        static const char *const action[] = {
                [HM_ACCEPT] = "update:accepted",
                [HM_DECLINE] = "update:declined",
                [HM_START] = "update:started",
                [HM_CLOSE] = "update:closed",
        };
        struct hm_ref *f = &m->refs[a->ref];
        struct rd_update u = {.declined = a->item == HM_DECLINE};
        int r;

        if (a->gen != f->gen)
                return 0;
        u.status = a->item == HM_ACCEPT  ? RD_STATUS_ACCEPTED
                   : a->item == HM_START ? RD_STATUS_STARTED
                                         : RD_STATUS_CLOSED;
        if (a->item == HM_START && rd_rng_below(&m->rng, 100) < m->o->expected_pct)
                u.expected_end_ms = m->now + 1 + f->answer.trajectory_ms;
        r = update(m, a->ref, &u, "connector", action[a->item]);
        if (r == 0 && a->item == HM_ACCEPT)
                r = push(m, m->now + f->answer.start_ms, HM_START, a->ref, f->gen);
        else if (r == 0 && a->item == HM_START)
                r = push(m, m->now + f->answer.trajectory_ms, HM_CLOSE, a->ref, f->gen);
        return r;
}

static int manual(struct maker *m, const struct replay_action *a)
{
        const struct rd_rules *rules = rd_hub_rules(m->hub);
        struct rd_update u = {.status = RD_STATUS_ASSIGNED, .connector = rules->connectors[0].id};
        struct rd_stored st;
        int r = rd_store_get_row(m->store, m->refs[a->ref].rowid, &st);

        if (r < 0 || st.status != RD_STATUS_WAITLISTED) {
                m->counts->manual--;
                return r;
        }
        return update(m, a->ref, &u, "coordinator", "update:assigned");
}

static int withdraw(struct maker *m, const struct replay_action *a)
{
        struct rd_update u = {.status = RD_STATUS_WITHDRAWN};
        return update(m, a->ref, &u, "partner", "update:withdrawn");
}

/* Put the routing file TEXT in force now, as start and reload do. */
static int put_in_force(struct maker *m, const char *text)
{
        struct rd_rules *rules = NULL, *old = NULL;
        struct rd_diag diag = {0};
        int r = rd_rules_load_buffer("routing.yaml", text, strlen(text), &rules, &diag);

        rd_diag_clear(&diag);
        if (r < 0)
                return fail(m, r, "the routing file is refused");
        if (!m->hub) {
                r = rd_hub_new(m->store, rules, &m->hub);
                if (r == 0 && (r = begin(m)) == 0) {
                        r = rd_routing_record(m->store, rd_hub_rules(m->hub), text, strlen(text),
                                              m->now);
                        if (r == 0)
                                r = rd_store_commit(m->store);
                }
                return r;
        }
        if ((r = begin(m)) < 0)
                return r;
        r = rd_hub_set_rules(m->hub, rules, m->now, &old);
        if (r == 0)
                r = rd_routing_record(m->store, rd_hub_rules(m->hub), text, strlen(text), m->now);
        if (r == 0)
                r = rd_store_commit(m->store);
        rd_rules_free(old);
        return r == 0 ? after(m) : fail(m, r, "reload: %s", rd_store_errmsg(m->store));
}

static int act(struct maker *m, const struct replay_action *a)
{
        switch (a->item) {
        case HM_ARRIVAL: return arrival(m);
        case HM_WITHDRAW: return withdraw(m, a);
        case HM_MANUAL: return manual(m, a);
        case HM_RELOAD: return put_in_force(m, m->o->reload);
        default: return answer(m, a);
        }
}

/* Deadlines due by now, as the daemon's loop handles them. */
static int tick(struct maker *m)
{
        size_t done = TICK_MAX;
        int r = 0;

        while (r == 0 && done == TICK_MAX) {
                r = begin(m);
                if (r == 0)
                        r = rd_hub_tick(m->hub, m->now, TICK_MAX, &done);
                if (r == 0)
                        r = rd_store_commit(m->store);
                if (r == 0)
                        r = after(m);
        }
        return r < 0 ? fail(m, r, "tick: %s", rd_store_errmsg(m->store)) : 0;
}

/* The first ERASE final referrals erased at the end. */
static int erase_some(struct maker *m)
{
        int r = 0;

        for (size_t row = 1; r == 0 && row <= m->n_rows && m->counts->erased < m->o->erase; row++) {
                struct rd_stored st, out;
                struct rd_error err = {0};
                bool changed;
                r = rd_store_get_row(m->store, (int64_t)row, &st);
                if (r < 0 || rd_status_is_open(st.status))
                        continue;
                if ((r = begin(m)) == 0 && (r = rd_hub_request_begin(m->hub)) == 0)
                        r = rd_hub_erase(m->hub, st.id, m->now, &out, &changed, &err);
                if (r == 0)
                        r = commit(m, 0, "coordinator", "erase", st.id);
                if (r == 0)
                        r = after(m);
                m->counts->erased++;
        }
        return r;
}

/* ---- the loop -------------------------------------------------------------------------- */

static int run(struct maker *m)
{
        int64_t due_seen = 0, fire = 0;
        int r = 0;

        while (r == 0) {
                const struct replay_action *top = queue_top(&m->q);
                struct replay_action a;
                int64_t due = 0;
                if ((r = rd_hub_next_deadline(m->hub, &due)) < 0)
                        break;
                if (due && due != due_seen) { /* the daemon wakes a little late */
                        due_seen = due;
                        fire = due + 1 + (int64_t)rd_rng_below(&m->rng, (uint64_t)m->o->late_ms);
                }
                if (due && fire < m->end && (!top || fire < top->at)) {
                        m->now = fire > m->now ? fire : m->now;
                        r = tick(m);
                        continue;
                }
                if (!top || top->at >= m->end)
                        break;
                queue_pop(&m->q, &a);
                m->now = a.at > m->now ? a.at : m->now;
                r = act(m, &a);
        }
        if (r == 0)
                r = erase_some(m);
        return r;
}

int hm_make(const struct hm_options *o, struct hm_counts *counts, char *errbuf, size_t errsize)
{
        struct maker m = {.o = o, .counts = counts, .errbuf = errbuf, .errsize = errsize};
        struct rd_diag diag = {0};
        int r;

        memset(counts, 0, sizeof *counts);
        errbuf[0] = '\0';
        r = rd_synth_load_buffer("model.yaml", o->model, strlen(o->model), &m.model, &diag);
        rd_diag_clear(&diag);
        if (r < 0)
                return fail(&m, r, "the model is refused");
        rd_rng_seed(&m.rng, o->seed ^ UINT64_C(0x6d616b6572));
        m.now = o->start_ms ? o->start_ms : RD_REPLAY_SYNTH_START_MS;
        m.end = m.now + (int64_t)m.model->days * DAY_MS;
        rd_synth_gen_init(&m.gen, m.model, o->seed, m.now);
        r = rd_store_open(o->path, false, &m.store, errbuf, errsize);
        if (r == 0)
                r = put_in_force(&m, o->routing);
        if (r == 0 && rd_synth_next(&m.gen, &m.next) == 1) {
                counts->start_ms = m.next.at_ms;
                r = push(&m, m.next.at_ms, HM_ARRIVAL, 0, 0);
        }
        if (r == 0 && o->reload)
                r = push(&m, o->reload_at, HM_RELOAD, 0, 0);
        if (r == 0)
                r = run(&m);
        if (r < 0 && !errbuf[0])
                fail(&m, r, "%s", rd_store_errmsg(m.store));
        rd_hub_free(m.hub);
        rd_store_close(m.store);
        queue_free(&m.q);
        free(m.refs);
        free(m.by_row);
        rd_synth_free(m.model);
        return r;
}
