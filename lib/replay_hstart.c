/* replay_hstart.c: a history at a moment (replay_internal.h): what a
 * recorded event makes of a referral's row, the state of a referral at the
 * start of the span, whom the waiting referrals waited for then, and what
 * a recorded offer's connector did as a run's plan. */
#include "replay_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* ---- what a run reads of it ------------------------------------------------------------------ */

void hist_event(const struct replay_history *h, const struct hist_ev *ev, struct rd_event *out)
{
        memset(out, 0, sizeof *out);
        out->at_ms = ev->at;
        out->type = (enum rd_event_type)ev->type;
        out->status = (enum rd_status)ev->status;
        snprintf(out->rule, sizeof out->rule, "%s", hist_name(h, ev->rule));
        snprintf(out->team, sizeof out->team, "%s", hist_name(h, ev->team));
        snprintf(out->connector, sizeof out->connector, "%s", hist_name(h, ev->connector));
        snprintf(out->forward_to, sizeof out->forward_to, "%s", hist_name(h, ev->forward_to));
        snprintf(out->reason, sizeof out->reason, "%s", hist_name(h, ev->reason));
        out->start_by_ms = ev->start_by;
        out->expected_start_ms = ev->expected_start;
}

void hist_apply(const struct replay_history *h, const struct hist_ref *f, const struct hist_ev *ev,
                struct rd_stored *st)
{
        struct rd_event e;

        switch (ev->type) {
        case RD_EV_RECEIVED: st->received_ms = ev->at; return;
        case RD_EV_DECLINED:
        case RD_EV_OFFER_EXPIRED: return; /* the decision that follows says the rest */
        case RD_EV_WINDOW_AT_RISK: st->at_risk_fired = 1; return;
        case RD_EV_WINDOW_MISSED: st->missed_fired = 1; return;
        default: break;
        }
        /* the public columns, as the event carries them */
        hist_event(h, ev, &e);
        _Static_assert(sizeof e.rule == sizeof st->rule && sizeof e.reason == sizeof st->reason,
                       "an event's columns are a row's");
        st->status = e.status;
        memcpy(st->rule, e.rule, sizeof st->rule);
        memcpy(st->team, e.team, sizeof st->team);
        memcpy(st->connector, e.connector, sizeof st->connector);
        memcpy(st->forward_to, e.forward_to, sizeof st->forward_to);
        memcpy(st->reason, e.reason, sizeof st->reason);
        st->start_by_ms = e.start_by_ms;
        st->expected_start_ms = e.expected_start_ms;
        if (ev->type != RD_EV_CLOSED)
                st->offer_expires_ms = 0;
        if (ev->type == RD_EV_ASSIGNED) {
                st->offered_ms = ev->at;
                st->started_ms = st->expected_end_ms = 0;
        } else if (ev->type == RD_EV_WAITLISTED || ev->type == RD_EV_FORWARDED) {
                st->offered_ms = 0;
        } else if (ev->type == RD_EV_STARTED) {
                st->started_ms = ev->at;
                st->expected_end_ms = f->started_ms == ev->at ? f->expected_end_ms : 0;
        }
        if (ev->type == RD_EV_FORWARDED || ev->type == RD_EV_CLOSED || ev->type == RD_EV_WITHDRAWN)
                st->final_ms = ev->at;
}

void hist_state_at_start(const struct replay_history *h, const struct hist_ref *f,
                         struct rd_stored *st, uint32_t *offer)
{
        uint32_t k_offer = 0;

        memset(st, 0, sizeof *st);
        *offer = HIST_NONE;
        for (uint32_t k = 0; k < f->n_ev; k++) {
                const struct hist_ev *e = hist_ev_of(h, f, k);
                if (e->at >= h->from_ms)
                        break;
                hist_apply(h, f, e, st);
                if (e->type == RD_EV_ASSIGNED)
                        *offer = f->first_offer + k_offer++;
        }
        if (st->status != RD_STATUS_ASSIGNED && st->status != RD_STATUS_ACCEPTED &&
            st->status != RD_STATUS_STARTED)
                *offer = HIST_NONE;
}

void hist_plan(const struct hist_offer *o, bool orders, struct replay_plan *out)
{
        int64_t started = o->answer == PLAN_START ? o->answer_at : o->start_at;

        *out = (struct replay_plan){.answer = o->answer,
                                    .answer_ms = o->answer_at ? o->answer_at - o->at : -1,
                                    .start_ms = -1,
                                    .close_ms = -1,
                                    .end_ms = o->end_ms};
        if (o->answer == PLAN_ACCEPT && o->start_at)
                out->start_ms = o->start_at - o->answer_at;
        if (started && o->close_at)
                out->close_ms = o->close_at - started;
        if (orders) {
                out->answer_order = o->answer_seq ? HIST_ORDER(o->answer_seq) : 0;
                out->start_order = o->start_seq ? HIST_ORDER(o->start_seq) : 0;
                out->close_order = o->close_seq ? HIST_ORDER(o->close_seq) : 0;
        }
}

/* ---- who the waiting referrals at the start wait for ------------------------------------------
 */

/* Is connector ID in the space-separated list WORDS, at RANK (0: before
 * the overflow mark "/", 1: after it)? */
static bool has_word(const char *words, const char *id, int rank)
{
        size_t n = strlen(id);
        int at = 0;

        for (const char *p = words; *p; p += strcspn(p, " "), p += *p == ' ') {
                if (p[0] == '/' && (p[1] == ' ' || !p[1]))
                        at = 1;
                else if (at == rank && !strncmp(p, id, n) && (p[n] == ' ' || !p[n]))
                        return true;
        }
        return false;
}

/* Append ID to BUF (SIZE bytes, *LEN used), space separated. */
static void add_word(char *buf, size_t size, size_t *len, const char *id)
{
        int n = snprintf(buf + *len, size - *len, "%s%s", *len ? " " : "", id);

        if (n > 0 && (size_t)n < size - *len)
                *len += (size_t)n;
}

/* The rank (0, 1) connector C has in rule R of RULES, or -1. */
static int rank_in(const struct rd_rules *rules, const struct rd_rule *r, size_t c)
{
        for (size_t t = 0; t < r->n_teams; t++)
                if (r->teams[t] == rules->connectors[c].team)
                        return 0;
        for (size_t t = 0; t < r->n_overflow; t++)
                if (r->overflow[t] == rules->connectors[c].team)
                        return 1;
        return -1;
}

/* Did a connector of rank RANK in R decline referral F or let its offer
 * lapse in the span (so that its later candidates leave it out)? */
static bool declined_later(const struct replay_history *h, const struct hist_ref *f, const char *id)
{
        for (uint32_t k = 0; k < f->n_ev; k++) {
                const struct hist_ev *e = hist_ev_of(h, f, k);
                if (e->at >= h->from_ms &&
                    (e->type == RD_EV_DECLINED || e->type == RD_EV_OFFER_EXPIRED) &&
                    !strcmp(hist_name(h, e->connector), id))
                        return true;
        }
        return false;
}

/* Who waiting referral F waited for at the start, from what the store
 * kept (COLUMN: from its last time on the waitlist, which leaves out whom
 * it declined since) and the file in force then: the connectors of its
 * rule in COLUMN or that declined it in the span, first-rank ones then
 * "/" and the overflow ones, in the order a decision's trace lists them. */
static char *start_candidates(const struct replay_history *h, const struct hist_ref *f,
                              const char *rule, const char *column)
{
        const struct rd_rules *rules = h->at_from;
        ssize_t ri = rules ? rd_rules_rule_index(rules, rule) : -1;
        size_t size = strlen(column) + 2 + (rules ? rules->n_connectors * (RD_ID_MAX + 2) : 0);
        char *buf = ri >= 0 ? calloc(1, size) : NULL;
        size_t len = 0;

        if (ri < 0)
                return strdup(column);
        for (int rank = 0; buf && rank < 2; rank++) {
                bool marked = false;
                for (size_t c = 0; c < rules->n_connectors; c++) {
                        const char *id = rules->connectors[c].id;
                        if (rank_in(rules, &rules->rules[ri], c) != rank ||
                            !(has_word(column, id, rank) || declined_later(h, f, id)))
                                continue;
                        if (rank && !marked)
                                add_word(buf, size, &len, "/");
                        marked = true;
                        add_word(buf, size, &len, id);
                }
        }
        return buf;
}

struct waiting_at_start {
        struct replay_history *h;
        uint8_t *wanted;             /* by referral */
        char (*rule)[RD_ID_MAX + 1]; /* its rule at the start, by referral */
};

static int keep_candidates(void *ctx, const struct rd_stored *st, const char *candidates)
{
        struct waiting_at_start *w = ctx;
        uint32_t i = hist_ref_by_row(w->h, st->rowid);

        if (i == HIST_NONE || !w->wanted[i])
                return 0;
        free(w->h->refs[i].candidates);
        w->h->refs[i].candidates = start_candidates(w->h, &w->h->refs[i], w->rule[i], candidates);
        return w->h->refs[i].candidates ? 0 : -ENOMEM;
}

/* The candidates the daemon kept with each referral waiting at the start
 * of the span (not erased): the store keeps them with the referral, from
 * its last time on the waitlist, and reads them out only for a waiting
 * one; so those rows are made waiting again in the copy for one read, and
 * rolled back. */
int hist_read_candidates(struct replay_history *h)
{
        struct waiting_at_start w = {h, calloc(h->n_refs ? h->n_refs : 1, 1),
                                     calloc(h->n_refs ? h->n_refs : 1, sizeof *w.rule)};
        size_t n = 0;
        int r = w.wanted && w.rule ? 0 : -ENOMEM;

        for (size_t k = 0; r == 0 && k < h->n_existing; k++) {
                uint32_t i = h->existing[k], o;
                struct rd_stored st;
                hist_state_at_start(h, &h->refs[i], &st, &o);
                if (st.status != RD_STATUS_WAITLISTED || h->refs[i].erased)
                        continue;
                w.wanted[i] = 1;
                memcpy(w.rule[i], st.rule, sizeof w.rule[i]);
                n++;
        }
        if (r == 0 && n)
                r = rd_store_begin(h->store);
        for (size_t i = 0; r == 0 && n && i < h->n_refs; i++) {
                struct rd_stored st;
                if (!w.wanted[i] || (r = rd_store_get_row(h->store, h->refs[i].rowid, &st)) < 0)
                        continue;
                st.status = RD_STATUS_WAITLISTED;
                r = rd_store_change(h->store, &(struct rd_store_change){.st = &st, .row = true});
        }
        if (r == 0 && n)
                r = rd_store_each_waiting(h->store, NULL, SIZE_MAX, keep_candidates, &w, NULL);
        if (n)
                rd_store_rollback(h->store);
        free(w.wanted);
        free(w.rule);
        return r;
}
