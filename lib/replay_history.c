/* replay_history.c: a history read from a database for the replay
 * (replay_internal.h). Read once, through the store interface: every
 * referral event, the coordinators' manual changes in the audit trail,
 * each referral's row, the routing file in force at the start. Worked out
 * from them: each recorded offer and what its connector did with it
 * (drawable by connector, team or everyone), the moments the daemon
 * handled deadlines, the people's changes a run makes again, the recorded
 * course of the erased referrals, and a referral's state at the start.
 *
 * Equal times are ordered by the recorded seq: an action made again gets
 * the order 2 * seq of its event, so that a run does at one moment what
 * the daemon did then in the order it did it. */
#include "replay_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routing_files.h"
#include "store.h"
#include "timefmt.h"

#define PAGE 10000

/* ---- names ------------------------------------------------------------------------- */

const char *hist_name(const struct replay_history *h, uint32_t n)
{
        return n == HIST_NONE ? "" : h->names[n];
}

uint32_t hist_name_find(const struct replay_history *h, const char *s)
{
        for (size_t i = 0; s[0] && i < h->n_names; i++)
                if (!strcmp(h->names[i], s))
                        return (uint32_t)i;
        return HIST_NONE;
}

/* The number of name S, added when new ("" is HIST_NONE). */
static int name_of(struct replay_history *h, const char *s, uint32_t *out)
{
        uint32_t n = hist_name_find(h, s);

        if (n == HIST_NONE && s[0]) {
                if (replay_grow(&h->names, &h->cap_names, h->n_names + 1, sizeof *h->names) < 0 ||
                    !(h->names[h->n_names] = strdup(s)))
                        return -ENOMEM;
                n = (uint32_t)h->n_names++;
        }
        *out = n;
        return 0;
}

/* ---- the manual changes of the audit trail ------------------------------------------ */

/* A coordinator's update:assigned or update:forwarded of row ROWID at AT. */
struct manual {
        int64_t rowid, at;
        bool forward;
};

struct manuals {
        struct manual *v;
        size_t n, cap;
};

static int manual_cmp(const void *a, const void *b)
{
        const struct manual *x = a, *y = b;

        if (x->rowid != y->rowid)
                return x->rowid < y->rowid ? -1 : 1;
        if (x->at != y->at)
                return x->at < y->at ? -1 : 1;
        return (int)x->forward - (int)y->forward;
}

/* Entry E of the audit trail into M when it is a manual change. */
static int keep_manual(struct manuals *m, const json_t *e)
{
        const char *action = json_string_value(json_object_get(e, "action"));
        const char *at = json_string_value(json_object_get(e, "at"));
        struct manual x = {0};

        if (!action || (strcmp(action, "update:assigned") && strcmp(action, "update:forwarded")))
                return 0;
        if (!at || rd_time_parse(at, &x.at) < 0 ||
            rd_store_parse_id(json_string_value(json_object_get(e, "id")), &x.rowid) < 0)
                return 0; /* not one of a referral */
        x.forward = action[7] == 'f';
        if (replay_grow(&m->v, &m->cap, m->n + 1, sizeof *m->v) < 0)
                return -ENOMEM;
        m->v[m->n++] = x;
        return 0;
}

/* Every manual change the audit trail still holds (it is purged after
 * audit_retention), sorted. */
static int read_manuals(struct rd_store *store, struct manuals *m)
{
        int64_t since = 0, last = 0;

        for (;;) {
                json_t *page = json_array(), *e;
                size_t i, n;
                int r = page ? rd_store_audit_list(store, since, PAGE, NULL, page, &last) : -ENOMEM;

                n = json_array_size(page);
                json_array_foreach(page, i, e)
                {
                        if (r == 0)
                                r = keep_manual(m, e);
                }
                json_decref(page);
                if (r < 0)
                        return r;
                if (n < PAGE || last <= since)
                        break;
                since = last;
        }
        if (m->n)
                qsort(m->v, m->n, sizeof *m->v, manual_cmp);
        return 0;
}

static bool manual_at(const struct manuals *m, int64_t rowid, int64_t at, bool forward)
{
        struct manual key = {rowid, at, forward};

        return m->n && bsearch(&key, m->v, m->n, sizeof *m->v, manual_cmp) != NULL;
}

/* ---- the events ------------------------------------------------------------------------ */

uint32_t hist_ref_by_row(const struct replay_history *h, int64_t rowid)
{
        size_t lo = 0, hi = h->n_refs;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (h->refs[mid].rowid < rowid)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < h->n_refs && h->refs[lo].rowid == rowid ? (uint32_t)lo : HIST_NONE;
}

/* A new referral of EV (referral.received). */
static int add_ref(struct replay_history *h, const struct rd_event *ev, int64_t rowid)
{
        struct hist_ref *f;

        if (h->n_refs && h->refs[h->n_refs - 1].rowid >= rowid)
                return -EPROTO; /* rows are numbered in receipt order */
        if (replay_grow(&h->refs, &h->cap_refs, h->n_refs + 1, sizeof *h->refs) < 0)
                return -ENOMEM;
        f = &h->refs[h->n_refs++];
        *f = (struct hist_ref){.rowid = rowid, .received_ms = ev->at_ms};
        snprintf(f->id, sizeof f->id, "%s", ev->id);
        return 0;
}

/* Keep EV, an event of a referral. */
static int add_event(struct replay_history *h, const struct rd_event *ev)
{
        struct hist_ev *e;
        int64_t rowid;
        uint32_t ref;
        int r;

        if (ev->type == RD_EV_ERASED || rd_store_parse_id(ev->id, &rowid) < 0)
                return 0;
        if (ev->type == RD_EV_RECEIVED && (r = add_ref(h, ev, rowid)) < 0)
                return r;
        if ((ref = hist_ref_by_row(h, rowid)) == HIST_NONE)
                return 0; /* never received: nothing to replay */
        if (replay_grow(&h->evs, &h->cap_evs, h->n_evs + 1, sizeof *h->evs) < 0)
                return -ENOMEM;
        e = &h->evs[h->n_evs];
        *e = (struct hist_ev){.seq = ev->seq,
                              .at = ev->at_ms,
                              .start_by = ev->start_by_ms,
                              .expected_start = ev->expected_start_ms,
                              .ref = ref,
                              .type = (uint8_t)ev->type,
                              .status = (uint8_t)ev->status};
        if ((r = name_of(h, ev->rule, &e->rule)) < 0 || (r = name_of(h, ev->team, &e->team)) < 0 ||
            (r = name_of(h, ev->connector, &e->connector)) < 0 ||
            (r = name_of(h, ev->forward_to, &e->forward_to)) < 0 ||
            (r = name_of(h, ev->reason, &e->reason)) < 0)
                return r;
        h->n_evs++;
        return 0;
}

/* Event O of a page (protocol.md's form) into H; *LAST_AT follows the
 * latest time of any event. */
static int read_event(struct replay_history *h, const json_t *o, int64_t *last_at)
{
        struct rd_event ev;
        enum rd_event_type t;

        if (rd_event_from_json(o, &ev) < 0) {
                const char *type = json_string_value(json_object_get(o, "type"));
                /* a type of a later build (its event is not this build's to replay) */
                return type && rd_event_type_parse(type, &t) < 0 ? 0 : -EPROTO;
        }
        if (ev.at_ms > *last_at)
                *last_at = ev.at_ms;
        return ev.id[0] && ev.type < RD_EV_CONFIG_RELOADED ? add_event(h, &ev) : 0;
}

static int read_events(struct replay_history *h, int64_t *last_at)
{
        int64_t since = 0;

        for (;;) {
                json_t *page = json_array(), *o;
                size_t i, n;
                int r = page ? rd_store_events(h->store, since, PAGE, NULL, page) : -ENOMEM;

                n = json_array_size(page);
                json_array_foreach(page, i, o)
                {
                        if (r == 0)
                                r = read_event(h, o, last_at);
                        since = json_integer_value(json_object_get(o, "seq"));
                }
                json_decref(page);
                if (r < 0 || n < PAGE)
                        return r;
        }
}

/* Each referral's row: erased or not, the expected end of its last start. */
static int read_rows(struct replay_history *h)
{
        for (size_t i = 0; i < h->n_refs; i++) {
                struct hist_ref *f = &h->refs[i];
                struct rd_stored st;
                int r = rd_store_get_row(h->store, f->rowid, &st);

                if (r < 0)
                        return r == -ENOENT ? -EPROTO : r;
                f->erased = st.erased_ms != 0;
                f->started_ms = st.started_ms;
                f->expected_end_ms = st.expected_end_ms;
        }
        return 0;
}

/* EV_OF: the events grouped by referral, each group in seq order. */
static int group_events(struct replay_history *h)
{
        uint32_t *next;

        h->ev_of = malloc((h->n_evs ? h->n_evs : 1) * sizeof *h->ev_of);
        next = calloc(h->n_refs ? h->n_refs : 1, sizeof *next);
        if (!h->ev_of || !next) {
                free(next);
                return -ENOMEM;
        }
        for (size_t e = 0; e < h->n_evs; e++)
                h->refs[h->evs[e].ref].n_ev++;
        for (size_t i = 0, at = 0; i < h->n_refs; at += h->refs[i].n_ev, i++)
                h->refs[i].first_ev = next[i] = (uint32_t)at;
        for (size_t e = 0; e < h->n_evs; e++)
                h->ev_of[next[h->evs[e].ref]++] = (uint32_t)e;
        free(next);
        return 0;
}

const struct hist_ev *hist_ev_of(const struct replay_history *h, const struct hist_ref *f,
                                 uint32_t k)
{
        return &h->evs[h->ev_of[f->first_ev + k]];
}

/* ---- a referral's course ----------------------------------------------------------- */

/* Is TYPE a decision or a change of status (not a window event)? */
static bool is_change(uint8_t type)
{
        return type <= RD_EV_FORWARDED;
}

/* After PREV, the engine decides (a new referral, a decline, a lapse). */
static bool engine_decides_after(uint8_t prev)
{
        return prev == RD_EV_RECEIVED || prev == RD_EV_DECLINED || prev == RD_EV_OFFER_EXPIRED;
}

/* What a walk through one referral's events knows. */
struct walk {
        uint8_t prev;   /* the last change's type */
        uint8_t status; /* the status before the event at hand */
        uint32_t offer; /* the offer whose course is going on, or HIST_NONE */
        bool known;     /* its answer is known */
};

/* The course of offer W->offer ends: by its connector (DONE) or by
 * somebody else (a withdrawal, a manual change: a sample only when the
 * connector had finished), or with the history. */
static void offer_end(struct replay_history *h, struct walk *w, bool done)
{
        if (w->offer == HIST_NONE)
                return;
        h->offers[w->offer].sample = w->known && done;
        w->offer = HIST_NONE;
}

static int offer_new(struct replay_history *h, const struct hist_ev *e, struct walk *w)
{
        struct hist_offer *o;

        if (replay_grow(&h->offers, &h->cap_offers, h->n_offers + 1, sizeof *h->offers) < 0)
                return -ENOMEM;
        o = &h->offers[h->n_offers];
        *o = (struct hist_offer){.ref = e->ref,
                                 .connector = e->connector,
                                 .team = e->team,
                                 .at = e->at,
                                 .answer = PLAN_EXPIRE};
        h->refs[e->ref].n_offers++;
        w->offer = (uint32_t)h->n_offers++;
        w->known = false;
        return 0;
}

/* What the connector of W's offer did: event E. */
static void offer_answer(struct replay_history *h, struct walk *w, const struct hist_ev *e)
{
        struct hist_offer *o = &h->offers[w->offer];
        const struct hist_ref *f = &h->refs[e->ref];

        if (!w->known && e->type != RD_EV_CLOSED) {
                w->known = true;
                o->answer = e->type == RD_EV_ACCEPTED   ? PLAN_ACCEPT
                            : e->type == RD_EV_STARTED  ? PLAN_START
                            : e->type == RD_EV_DECLINED ? PLAN_DECLINE
                                                        : PLAN_EXPIRE;
                o->answer_at = e->at;
                o->answer_seq = e->seq;
        } else if (e->type == RD_EV_STARTED) {
                o->start_at = e->at;
                o->start_seq = e->seq;
        } else if (e->type == RD_EV_CLOSED) {
                o->close_at = e->at;
                o->close_seq = e->seq;
        }
        if (e->type == RD_EV_STARTED && f->started_ms == e->at && f->expected_end_ms > e->at)
                o->end_ms = f->expected_end_ms - e->at;
        if (e->type == RD_EV_DECLINED || e->type == RD_EV_OFFER_EXPIRED || e->type == RD_EV_CLOSED)
                offer_end(h, w, true);
}

/* Event E in the walk W of its referral: the offers, and who decided. */
static int walk_event(struct replay_history *h, const struct manuals *m, struct walk *w,
                      struct hist_ev *e)
{
        int r = 0;

        switch (e->type) {
        case RD_EV_ASSIGNED:
        case RD_EV_FORWARDED:
                /* a waiting referral is served by the engine, unless the
                 * audit trail says a coordinator assigned or forwarded it */
                e->manual =
                        !engine_decides_after(w->prev) &&
                        (w->status != RD_STATUS_WAITLISTED ||
                         manual_at(m, h->refs[e->ref].rowid, e->at, e->type == RD_EV_FORWARDED));
                offer_end(h, w, false);
                if (e->type == RD_EV_ASSIGNED)
                        r = offer_new(h, e, w);
                break;
        case RD_EV_WAITLISTED:
        case RD_EV_WITHDRAWN: offer_end(h, w, false); break;
        case RD_EV_ACCEPTED:
        case RD_EV_STARTED:
        case RD_EV_CLOSED:
        case RD_EV_DECLINED:
        case RD_EV_OFFER_EXPIRED:
                if (w->offer != HIST_NONE)
                        offer_answer(h, w, e);
                break;
        default: break;
        }
        return r;
}

/* ---- what a run does again ----------------------------------------------------------------- */

static int add_step(struct replay_history *h, const struct hist_step *s)
{
        if (replay_grow(&h->steps, &h->cap_steps, h->n_steps + 1, sizeof *h->steps) < 0)
                return -ENOMEM;
        h->steps[h->n_steps++] = *s;
        return 0;
}

static bool in_span(const struct replay_history *h, int64_t at)
{
        return at >= h->from_ms && at < h->to_ms;
}

static bool is_deadline(uint8_t type)
{
        return type == RD_EV_OFFER_EXPIRED || type == RD_EV_WINDOW_AT_RISK ||
               type == RD_EV_WINDOW_MISSED;
}

/* The seq of the first event of the deadline tick at AT, or 0. */
static int64_t tick_seq(const struct replay_history *h, int64_t at)
{
        for (size_t lo = 0, hi = h->n_ticks; lo < hi;) {
                size_t mid = lo + (hi - lo) / 2;
                if (h->ticks[mid].at == at)
                        return h->ticks[mid].seq;
                if (h->ticks[mid].at < at)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return 0;
}

/* The order of a waiting erased referral served by the engine with event
 * E: just before what freed the place at that moment (a close, a
 * withdrawal, a decline, a lapse: the whole tick of the daemon it was
 * in), so that its forced offer takes the place before the run's engine
 * gives it to another. */
static uint64_t served_order(const struct replay_history *h, const struct hist_ev *e)
{
        for (size_t p = (size_t)(e - h->evs); p-- > 0 && h->evs[p].at == e->at;) {
                const struct hist_ev *c = &h->evs[p];
                bool frees =
                        c->type == RD_EV_CLOSED || c->type == RD_EV_WITHDRAWN ||
                        c->type == RD_EV_DECLINED || c->type == RD_EV_OFFER_EXPIRED ||
                        ((c->type == RD_EV_ASSIGNED || c->type == RD_EV_FORWARDED) && c->manual);
                if (!frees)
                        continue;
                if (is_deadline(c->type) && tick_seq(h, c->at))
                        return HIST_ORDER(tick_seq(h, c->at)) - 1;
                return HIST_ORDER(c->seq) - 1;
        }
        return HIST_ORDER(e->seq) - 1;
}

/* The steps of erased referral F: its events in the span, those at one
 * moment together, each group in the order of its first event. */
static int forced_steps(struct replay_history *h, uint32_t ref)
{
        const struct hist_ref *f = &h->refs[ref];
        uint8_t status = RD_STATUS_RECEIVED;
        int r = 0;

        for (uint32_t k = 0; r == 0 && k < f->n_ev;) {
                const struct hist_ev *e = hist_ev_of(h, f, k);
                struct hist_step s = {.ref = ref, .first = k, .n = 1, .at = e->at, .forced = true};
                while (k + s.n < f->n_ev && hist_ev_of(h, f, k + s.n)->at == e->at)
                        s.n++;
                s.order = HIST_ORDER(e->seq);
                if ((e->type == RD_EV_ASSIGNED || e->type == RD_EV_FORWARDED) && !e->manual &&
                    status == RD_STATUS_WAITLISTED)
                        s.order = served_order(h, e);
                if (in_span(h, e->at))
                        r = add_step(h, &s);
                for (uint32_t j = 0; j < s.n; j++)
                        if (is_change(hist_ev_of(h, f, k + j)->type))
                                status = hist_ev_of(h, f, k + j)->status;
                k += s.n;
        }
        return r;
}

/* The people's changes of referral F in the span: withdrawals, manual
 * assignments and forwards. */
static int person_steps(struct replay_history *h, uint32_t ref)
{
        const struct hist_ref *f = &h->refs[ref];
        int r = 0;

        for (uint32_t k = 0; r == 0 && k < f->n_ev; k++) {
                const struct hist_ev *e = hist_ev_of(h, f, k);
                bool person =
                        e->type == RD_EV_WITHDRAWN ||
                        ((e->type == RD_EV_ASSIGNED || e->type == RD_EV_FORWARDED) && e->manual);
                if (person && in_span(h, e->at))
                        r = add_step(h, &(struct hist_step){.ref = ref,
                                                            .first = k,
                                                            .n = 1,
                                                            .at = e->at,
                                                            .order = HIST_ORDER(e->seq)});
        }
        return r;
}

/* Walk each referral: who decided, the offers. */
static int walk_all(struct replay_history *h, const struct manuals *m)
{
        int r = 0;

        for (uint32_t i = 0; r == 0 && i < h->n_refs; i++) {
                struct hist_ref *f = &h->refs[i];
                struct walk w = {
                        .prev = UINT8_MAX, .status = RD_STATUS_RECEIVED, .offer = HIST_NONE};
                f->first_offer = (uint32_t)h->n_offers;
                for (uint32_t k = 0; r == 0 && k < f->n_ev; k++) {
                        struct hist_ev *e = &h->evs[h->ev_of[f->first_ev + k]];
                        if (!is_change(e->type))
                                continue;
                        r = walk_event(h, m, &w, e);
                        w.prev = e->type;
                        w.status = e->status;
                }
                if (w.offer != HIST_NONE) /* still going at the end: what is known */
                        h->offers[w.offer].sample = w.known;
        }
        return r;
}

/* ---- the moments, the draws, the round robin ------------------------------------------------ */

static int tick_cmp(const void *a, const void *b)
{
        const struct hist_tick *x = a, *y = b;

        if (x->at != y->at)
                return x->at < y->at ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The moments the daemon handled deadlines: each with its first seq. */
static int find_ticks(struct replay_history *h)
{
        size_t n = 0;

        for (size_t e = 0; e < h->n_evs; e++) {
                if (!is_deadline(h->evs[e].type))
                        continue;
                if (replay_grow(&h->ticks, &h->cap_ticks, h->n_ticks + 1, sizeof *h->ticks) < 0)
                        return -ENOMEM;
                h->ticks[h->n_ticks++] = (struct hist_tick){h->evs[e].at, h->evs[e].seq};
        }
        if (h->n_ticks)
                qsort(h->ticks, h->n_ticks, sizeof *h->ticks, tick_cmp);
        for (size_t t = 0; t < h->n_ticks; t++)
                if (!n || h->ticks[n - 1].at != h->ticks[t].at)
                        h->ticks[n++] = h->ticks[t];
        h->n_ticks = n;
        return 0;
}

static int pool_add(struct hist_pool *p, uint32_t offer)
{
        if (replay_grow(&p->v, &p->cap, p->n + 1, sizeof *p->v) < 0)
                return -ENOMEM;
        p->v[p->n++] = offer;
        return 0;
}

/* The drawable offers by connector, by team and of everyone. */
static int make_pools(struct replay_history *h)
{
        int r = 0;

        h->by_connector = calloc(h->n_names ? h->n_names : 1, sizeof *h->by_connector);
        h->by_team = calloc(h->n_names ? h->n_names : 1, sizeof *h->by_team);
        if (!h->by_connector || !h->by_team)
                return -ENOMEM;
        for (uint32_t o = 0; r == 0 && o < h->n_offers; o++) {
                const struct hist_offer *x = &h->offers[o];
                if (!x->sample)
                        continue;
                r = pool_add(&h->everyone, o);
                if (r == 0 && x->connector != HIST_NONE)
                        r = pool_add(&h->by_connector[x->connector], o);
                if (r == 0 && x->team != HIST_NONE)
                        r = pool_add(&h->by_team[x->team], o);
        }
        return r;
}

/* The last offer each rule's round robin made before the span (the
 * engine's offers; a manual one leaves the round robin alone). */
static int mark_round_robin(struct replay_history *h)
{
        uint32_t *last = malloc((h->n_names ? h->n_names : 1) * sizeof *last);

        if (!last)
                return -ENOMEM;
        for (size_t n = 0; n < h->n_names; n++)
                last[n] = HIST_NONE;
        for (size_t e = 0; e < h->n_evs && h->evs[e].at < h->from_ms; e++)
                if (h->evs[e].type == RD_EV_ASSIGNED && !h->evs[e].manual &&
                    h->evs[e].rule != HIST_NONE)
                        last[h->evs[e].rule] = (uint32_t)e;
        for (size_t n = 0; n < h->n_names; n++)
                if (last[n] != HIST_NONE)
                        h->evs[last[n]].rr = true;
        free(last);
        return 0;
}

static int add_index(uint32_t **v, size_t *n, size_t *cap, uint32_t i)
{
        if (replay_grow(v, cap, *n + 1, sizeof **v) < 0)
                return -ENOMEM;
        (*v)[(*n)++] = i;
        return 0;
}

/* The referrals before the span, those received in it, and the steps. */
static int sort_referrals(struct replay_history *h)
{
        int r = 0;

        for (uint32_t i = 0; r == 0 && i < h->n_refs; i++) {
                const struct hist_ref *f = &h->refs[i];
                if (f->received_ms >= h->to_ms)
                        break;
                if (f->received_ms < h->from_ms)
                        r = add_index(&h->existing, &h->n_existing, &h->cap_existing, i);
                else if (!f->erased)
                        r = add_index(&h->arrivals, &h->n_arrivals, &h->cap_arrivals, i);
                else
                        h->skipped_erased++;
                if (r == 0)
                        r = f->erased ? forced_steps(h, i) : person_steps(h, i);
        }
        return r;
}

/* ---- reading it all ---------------------------------------------------------------------- */

/* The span asked for, the history's where not given. */
static int set_span(struct replay_history *h, int64_t from_ms, int64_t to_ms, int64_t last_at,
                    char *errbuf, size_t errsize)
{
        if (!h->n_refs)
                return replay_fail(errbuf, errsize, -ENOENT, "the database holds no referral");
        h->from_ms = from_ms == INT64_MIN ? h->evs[0].at : from_ms;
        h->to_ms = to_ms == INT64_MAX ? last_at + 1 : to_ms;
        if (h->from_ms >= h->to_ms)
                return replay_fail(errbuf, errsize, -EINVAL,
                                   "the span to replay is empty: --from must come before --to "
                                   "and before the end of the history");
        return 0;
}

/* The routing file in force at the start, if the database knows it. */
static int read_file_at_start(struct replay_history *h)
{
        struct rd_routing_current cur = {0};
        int r = rd_routing_at(h->store, h->from_ms, &cur, NULL);

        if (r == -ENOENT || r == -EBADMSG)
                return 0;
        if (r == 0) {
                h->at_from = cur.rules;
                cur.rules = NULL;
        }
        rd_routing_current_clear(&cur);
        return r;
}

int hist_read(struct replay_history *h, struct rd_store *store, int64_t from_ms, int64_t to_ms,
              char *errbuf, size_t errsize)
{
        struct manuals m = {0};
        int64_t last_at = INT64_MIN;
        int r;

        memset(h, 0, sizeof *h);
        h->store = store;
        r = read_manuals(store, &m);
        if (r == 0)
                r = read_events(h, &last_at);
        if (r == 0)
                r = read_rows(h);
        if (r == -EPROTO)
                return replay_fail(errbuf, errsize, r,
                                   "the history cannot be read: an event or a referral is not "
                                   "as this build records them");
        if (r == 0)
                r = set_span(h, from_ms, to_ms, last_at, errbuf, errsize);
        if (r == 0 && (r = group_events(h)) == 0 && (r = walk_all(h, &m)) == 0 &&
            (r = find_ticks(h)) == 0 && (r = make_pools(h)) == 0 &&
            (r = mark_round_robin(h)) == 0 && (r = sort_referrals(h)) == 0 &&
            (r = read_file_at_start(h)) == 0)
                r = hist_read_candidates(h);
        free(m.v);
        if (r < 0 && !errbuf[0])
                replay_fail(errbuf, errsize, r, "cannot read the history: %s",
                            r == -ENOMEM ? "out of memory" : rd_store_errmsg(store));
        return r;
}

void hist_free(struct replay_history *h)
{
        for (size_t i = 0; i < h->n_refs; i++)
                free(h->refs[i].candidates);
        for (size_t n = 0; n < h->n_names; n++) {
                free(h->names[n]);
                if (h->by_connector)
                        free(h->by_connector[n].v);
                if (h->by_team)
                        free(h->by_team[n].v);
        }
        free(h->names);
        free(h->by_connector);
        free(h->by_team);
        free(h->everyone.v);
        free(h->refs);
        free(h->evs);
        free(h->ev_of);
        free(h->offers);
        free(h->ticks);
        free(h->steps);
        free(h->arrivals);
        free(h->existing);
        rd_rules_free(h->at_from);
        memset(h, 0, sizeof *h);
}
