/* hub_serve.c: deciding again (after a decline or a lapsed offer, and
 * for waiting referrals when capacity frees) and serving the waitlist. */
#include "hub_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route_trace.h"

/* ---- a decision ---------------------------------------------------------------- */

void hub_fill_decision(const struct rd_rules *rules, struct rd_stored *st,
                       const struct rd_decision *d, int64_t now)
{
        hub_copy_field(st->rule, sizeof st->rule, rules->rules[d->rule].name);
        st->team[0] = st->connector[0] = st->forward_to[0] = st->reason[0] = '\0';
        st->offered_ms = st->offer_expires_ms = st->expected_start_ms = 0;
        st->attention = RD_ATTENTION_NONE; /* a waiting one's: from its record (hub_wait_facts) */
        if (st->status == RD_STATUS_RECEIVED)
                st->start_by_ms = d->start_by_ms; /* a new referral's window */
        st->status = d->status;
        switch (d->status) {
        case RD_STATUS_ASSIGNED:
                hub_copy_field(st->team, sizeof st->team, rules->teams[d->team].id);
                hub_copy_field(st->connector, sizeof st->connector,
                               rules->connectors[d->connector].id);
                st->offered_ms = now;
                st->offer_expires_ms = d->offer_expires_ms;
                break;
        case RD_STATUS_WAITLISTED: st->expected_start_ms = d->expected_start_ms; break;
        default:
                hub_copy_field(st->forward_to, sizeof st->forward_to,
                               rules->targets[d->forward_to].id);
                hub_copy_field(st->reason, sizeof st->reason, d->reason ? d->reason : "");
                st->start_by_ms = 0; /* a forwarded referral has no window */
                st->final_ms = now;
                break;
        }
}

enum rd_event_type hub_decision_event(enum rd_status status)
{
        return status == RD_STATUS_ASSIGNED     ? RD_EV_ASSIGNED
               : status == RD_STATUS_WAITLISTED ? RD_EV_WAITLISTED
                                                : RD_EV_FORWARDED;
}

bool hub_append_word(char *buf, size_t size, size_t *len, const char *word)
{
        int n = snprintf(buf + *len, size - *len, "%s%s", *len ? " " : "", word);

        if (n < 0 || (size_t)n >= size - *len) {
                buf[*len] = '\0';
                return false;
        }
        *len += (size_t)n;
        return true;
}

/* Space-separated ids of the N connectors IDS (indexes into RULES), the
 * last N_OVERFLOW of them after WAIT_OVERFLOW_MARK, into BUF. */
static void candidates_text(const struct rd_rules *rules, const size_t *ids, size_t n,
                            size_t n_overflow, char *buf, size_t size)
{
        size_t len = 0;

        buf[0] = '\0';
        for (size_t k = 0; k < n; k++) {
                if (k == n - n_overflow && !hub_append_word(buf, size, &len, WAIT_OVERFLOW_MARK))
                        return;
                if (!hub_append_word(buf, size, &len, rules->connectors[ids[k]].id))
                        return;
        }
}

char *hub_waiting_candidates(const struct rd_rules *rules, const struct rd_route_record *rec)
{
        size_t size = rules->n_connectors * (RD_ID_MAX + 1) + sizeof " " WAIT_OVERFLOW_MARK;
        size_t n = rd_route_eligible(rec, NULL, 0);
        size_t *ids = malloc((n ? n : 1) * sizeof *ids);
        char *cands = ids ? malloc(size) : NULL;

        if (cands) {
                rd_route_eligible(rec, ids, n);
                candidates_text(rules, ids, n, rd_route_eligible_overflow(rec), cands, size);
        }
        free(ids);
        return cands;
}

int hub_remember(struct rd_hub *h, const struct rd_stored *st, const struct rd_decision *d,
                 bool was_waiting, const char *cands, int64_t now)
{
        struct hub_conns *cs = &h->conns;

        if (was_waiting && d->status != RD_STATUS_WAITLISTED)
                wait_remove(h, st->rowid);
        if (d->status == RD_STATUS_ASSIGNED) {
                snprintf(cs->rr_last[d->rule], RD_ID_MAX + 1, "%s", st->connector);
                cs->rr_ptr[d->rule] = cs->rr_last[d->rule];
                return hub_offer_taken(h, d->connector, now + h->rules->trajectory_s * 1000);
        }
        if (d->status == RD_STATUS_WAITLISTED && !was_waiting)
                return wait_joined(h, st, cands ? cands : "");
        return 0;
}

int64_t hub_accept_within_ms(const struct rd_rules *rules, const char *rule)
{
        ssize_t ri = rd_rules_rule_index(rules, rule);
        if (ri >= 0 && rules->rules[ri].action == RD_ACTION_ASSIGN)
                return rules->rules[ri].accept_within_s * 1000;
        return rules->accept_within_s * 1000;
}

/* Store decision D of ST (filled in, its waiting facts F) at NOW with its
 * TRACE text: the row, the decision's event, and referral.needs_attention
 * when it starts to wait for a coordinator (BEFORE: its attention until
 * now). */
static int store_decision(struct rd_hub *h, struct rd_stored *st, const struct rd_decision *d,
                          const char *text, const struct wait_facts *f, enum rd_attention before,
                          int64_t now)
{
        bool offer = d->status == RD_STATUS_ASSIGNED;
        struct rd_event ev[2];
        struct rd_store_change ch = {.st = st,
                                     .row = true,
                                     .trace_set = true,
                                     .trace = text,
                                     .rules_digest = h->rules->digest,
                                     .candidates = f->cands,
                                     .teams = f->teams,
                                     .offered = offer ? st->connector : NULL,
                                     .rr_rule = offer ? st->rule : NULL,
                                     .events = ev,
                                     .n_events = 1};

        hub_event(&ev[0], hub_decision_event(d->status), st, now, NULL);
        if (st->attention && !before)
                hub_attention_event(&ev[ch.n_events++], st, now);
        return hub_write(h, &ch, false);
}

int hub_apply(struct rd_hub *h, struct rd_stored *st, const struct rd_route_record *rec,
              int64_t now)
{
        const struct rd_decision *d = &rec->decision;
        bool was_waiting = st->status == RD_STATUS_WAITLISTED;
        enum rd_attention before = st->attention;
        const char *text = hub_trace_text(h, rec);
        struct wait_facts f = {0};
        int r = text ? 0 : -ENOMEM;

        hub_fill_decision(h->rules, st, d, now);
        if (r == 0 && d->status == RD_STATUS_WAITLISTED) {
                r = hub_wait_facts(h->rules, rec, &f);
                st->attention = f.attention;
        }
        if (r == 0)
                r = store_decision(h, st, d, text, &f, before, now);
        if (r == 0)
                r = hub_remember(h, st, d, was_waiting, f.cands, now);
        hub_wait_facts_free(&f);
        return r;
}

/* ---- deciding again ------------------------------------------------------------- */

struct declines {
        const char *ids[MAX_DECLINES];
        char buf[MAX_DECLINES][RD_ID_MAX + 1];
        size_t n;
};

static int add_decline(void *ctx, const char *connector)
{
        struct declines *d = ctx;
        if (d->n < MAX_DECLINES) {
                snprintf(d->buf[d->n], sizeof d->buf[d->n], "%s", connector);
                d->ids[d->n] = d->buf[d->n];
                d->n++;
        }
        return 0;
}

int hub_decide_again(struct rd_hub *h, const struct rd_stored *st, size_t ahead, int64_t now,
                     struct rd_route_record *rec)
{
        struct declines *dec = calloc(1, sizeof *dec);
        struct rd_referral ref;
        struct rd_route_state rs;
        struct rd_error err;
        json_t *content = NULL;
        ssize_t ri = rd_rules_rule_index(h->rules, st->rule);
        size_t rule =
                ri >= 0 && h->rules->rules[ri].action == RD_ACTION_ASSIGN ? (size_t)ri : SIZE_MAX;
        int r = dec ? 0 : -ENOMEM;

        if (r == 0)
                r = rd_store_each_decline(h->store, st->rowid, add_decline, dec);
        if (r == 0)
                r = rd_store_content(h->store, st->rowid, &content, NULL, NULL);
        if (r == 0 && (!content || rd_referral_from_json(content, &ref, &err) < 0))
                r = -EINVAL; /* erased content: an open referral is withdrawn first */
        if (r == 0) {
                r = hub_route_state(h, st->rowid, dec->ids, dec->n, ahead, &rs);
                if (r == 0)
                        r = rd_route_decide_record(&ref, h->rules, &rs, rule, st->received_ms, now,
                                                   rec);
                rd_referral_clear(&ref);
        }
        json_decref(content);
        free(dec);
        return r;
}

/* What a decision taken again may change. */
enum redecide_mode {
        REDECIDE_ANY,        /* whatever it decides */
        REDECIDE_OFFER,      /* only an offer; else at most a waiting one's candidates */
        REDECIDE_FIRST_RANK, /* as REDECIDE_OFFER, and only an offer to a first-rank one */
};

/* Decide again for ST at NOW (see hub_decide_again) and record what MODE
 * lets it change (a waiting referral's candidates, and so its attention,
 * follow in every mode). *ASSIGNED (may be NULL): it got an offer. */
static int redecide(struct rd_hub *h, struct rd_stored *st, ssize_t pos, int64_t now,
                    enum redecide_mode mode, bool *assigned)
{
        struct rd_route_record rec;
        const struct rd_decision *d = &rec.decision;
        int r = 0;

        memset(&rec, 0, sizeof rec);
        if (assigned)
                *assigned = false;
        /* POS: where it waits, when the caller knows (else found here) */
        if (st->status == RD_STATUS_WAITLISTED &&
            (pos < 0 || (size_t)pos >= h->wait.n || h->wait.e[pos].rowid != st->rowid))
                pos = wait_find_extend(h, st->rowid, &r);
        else if (st->status != RD_STATUS_WAITLISTED)
                pos = -1;
        if (r == 0)
                r = hub_decide_again(h, st, pos < 0 ? SIZE_MAX : (size_t)pos, now, &rec);
        if (r == 0 && mode == REDECIDE_FIRST_RANK && d->status == RD_STATUS_ASSIGNED &&
            rd_route_chosen_overflow(&rec)) {
                /* its turn at an overflow candidate comes after the first-rank pass */
        } else if (r == 0 && mode != REDECIDE_ANY && d->status != RD_STATUS_ASSIGNED) {
                /* still waiting: who may take it under the rules in force
                 * (a reload may have added connectors to its rule, or taken
                 * the last one away; a rule that forwards now has none) */
                if (st->status == RD_STATUS_WAITLISTED)
                        r = hub_recandidate(h, pos, st, &rec, now);
        } else if (r == 0) {
                r = hub_apply(h, st, &rec, now);
                if (r == 0 && assigned)
                        *assigned = d->status == RD_STATUS_ASSIGNED;
        }
        rd_route_record_clear(&rec);
        return r;
}

int hub_offer_ended(struct rd_hub *h, struct rd_stored *st, enum rd_event_type type,
                    const struct rd_store_reason *why, int64_t now)
{
        char who[RD_ID_MAX + 1];
        struct rd_event ev;
        struct rd_store_change ch = {
                .st = st, .declined = who, .reason = why, .events = &ev, .n_events = 1};
        size_t freed;
        int r;

        snprintf(who, sizeof who, "%s", st->connector);
        hub_event(&ev, type, st, now, who); /* status: still the offer's (assigned) */
        if (why && why->code)
                snprintf(ev.reason_code, sizeof ev.reason_code, "%s", why->code);
        r = hub_write(h, &ch, false);
        if (r < 0)
                return r;
        freed = hub_release(h, st);
        r = redecide(h, st, -1, now, REDECIDE_ANY, NULL);
        if (r == 0 && freed != SIZE_MAX)
                r = hub_serve_freed(h, freed, now);
        return r;
}

/* ---- serving the waitlist ---------------------------------------------------------- */

static bool has_room(const struct rd_hub *h, size_t c)
{
        return h->conns.load[c] < h->rules->connectors[c].capacity;
}

static bool any_room(const struct rd_hub *h)
{
        for (size_t c = 0; c < h->rules->n_connectors; c++)
                if (has_room(h, c))
                        return true;
        return false;
}

/* A pass over the waitlist for connector FREED, or (SIZE_MAX) every one
 * with room, in waitlist order, for the waiting referrals of one rank: for
 * which one of those connectors is a first-rank candidate, or (OVERFLOW) an
 * overflow candidate (rev 2; protocol.md, "The waitlist"). With ALL every
 * waiting referral is tried, not only those that name one with room at
 * the rank (their candidates may be stale), and a first-rank pass takes
 * only offers to first-rank candidates. */
struct pass {
        size_t freed;
        bool all;
        bool overflow;
        int64_t now;
        bool *target;    /* the connectors the pass is for */
        uint64_t naming; /* waiting referrals naming a target, not yet passed */
};

/* Does waiting referral W name a target of pass P at its rank, and (ROOM)
 * one with room? */
static bool names_target(const struct rd_hub *h, const struct pass *p, const struct rd_waiting *w,
                         bool room)
{
        size_t n_first = w->n_candidates - w->n_overflow;

        for (size_t k = p->overflow ? n_first : 0; k < (p->overflow ? w->n_candidates : n_first);
             k++) {
                size_t c = w->candidates[k];
                if (p->target[c] && (!room || has_room(h, c)))
                        return true;
        }
        return false;
}

/* Which connectors pass P is for, and how many waiting referrals name one
 * of them at the pass's rank, from the counts by candidates. */
static int pass_targets(struct rd_hub *h, struct pass *p)
{
        int r = sets_fresh(h);

        if (r < 0)
                return r;
        for (size_t c = 0; c < h->rules->n_connectors; c++)
                p->target[c] = p->freed == SIZE_MAX ? has_room(h, c) : c == p->freed;
        p->naming = 0;
        for (size_t i = 0; i < h->sets.n; i++)
                if (names_target(h, p, &h->sets.view[i], false))
                        p->naming += h->sets.count[i];
        return 0;
}

/* Try waiting entry I of the head: decided again when one of its
 * candidates the pass is for has room at the pass's rank. *NEXT: the entry
 * to try next. */
static int pass_entry(struct rd_hub *h, struct pass *p, size_t i, size_t *next)
{
        const struct rd_waiting *w = &h->wait.view[i];
        int64_t rowid = h->wait.e[i].rowid;
        bool names = names_target(h, p, w, false), assigned = false;
        bool try = p->all || names_target(h, p, w, true);
        struct rd_stored st;
        int r;

        if (names && p->naming)
                p->naming--;
        *next = i + 1;
        if (!try)
                return 0;
        r = rd_store_get_row(h->store, rowid, &st);
        if (r == 0)
                r = redecide(h, &st, (ssize_t)i, p->now,
                             p->overflow ? REDECIDE_OFFER : REDECIDE_FIRST_RANK, &assigned);
        if (r == 0 && assigned)
                *next = i; /* it left the head: entry i is now the next one */
        return r;
}

/* Serve the waitlist in its order for pass P. The pass stops as soon as
 * nobody it is for has room, or no referral further down names one of
 * them: the rest of a long list is not read. Returns 0 and, in *WHOLE,
 * whether it went through the whole list. */
static int serve_pass(struct rd_hub *h, struct pass *p, bool *whole)
{
        size_t i = 0;
        int r;

        *whole = false;
        p->target = calloc(h->rules->n_connectors + 1, sizeof *p->target);
        if (!p->target)
                return -ENOMEM;
        r = pass_targets(h, p);
        while (r == 0) {
                if (p->freed == SIZE_MAX ? !any_room(h) : !has_room(h, p->freed))
                        break;
                if (!p->all && p->naming == 0)
                        break;
                if (i == h->wait.n) { /* the head is done: read on in the store */
                        r = wait_extend(h, WAIT_PAGE);
                        if (r < 0)
                                break;
                        if (i == h->wait.n) {
                                *whole = true;
                                break;
                        }
                }
                r = pass_entry(h, p, i, &i);
        }
        free(p->target);
        wait_trim(h);
        return r;
}

/* Does a rule in force have overflow teams? Without, every candidate is
 * first-rank and one pass serves all. */
static bool any_overflow(const struct rd_rules *rules)
{
        for (size_t i = 0; i < rules->n_rules; i++)
                if (rules->rules[i].n_overflow)
                        return true;
        return false;
}

/* The pass for the first rank and then, when the rules have overflow,
 * the one for the overflow candidates, as P says. *WHOLE: both went
 * through the whole list. */
static int serve_ranks(struct rd_hub *h, struct pass p, bool *whole)
{
        bool whole_first = false;
        int r;

        p.overflow = false;
        r = serve_pass(h, &p, &whole_first);
        *whole = whole_first;
        if (r == 0 && any_overflow(h->rules) &&
            (p.freed == SIZE_MAX ? any_room(h) : has_room(h, p.freed))) {
                p.overflow = true;
                r = serve_pass(h, &p, whole);
                *whole = *whole && whole_first;
        }
        return r;
}

int hub_serve_freed(struct rd_hub *h, size_t freed, int64_t now)
{
        struct pass p = {.freed = freed, .all = false, .now = now};
        bool whole;
        return serve_ranks(h, p, &whole);
}

/* When the routing file is not the one the waiting referrals' candidates
 * were worked out with, try each of them while anybody has room (and
 * remember the file once the passes have been through the whole list);
 * what they do not reach, hub_recheck works through. */
int hub_serve_everyone(struct rd_hub *h, int64_t now)
{
        bool current, whole = false;
        struct pass p = {.freed = SIZE_MAX, .now = now};
        int r = hub_rules_current(h, META_CANDIDATES, &current);

        if (r < 0)
                return r;
        p.all = !current;
        r = serve_ranks(h, p, &whole);
        if (r == 0 && !current)
                r = rd_store_meta_set(h->store, META_CANDIDATES, whole ? h->rules->digest : "");
        if (r == 0 && !current && whole) /* each one was decided again: attention too */
                r = rd_store_meta_set(h->store, META_ATTENTION, h->rules->digest);
        return r < 0 ? r : hub_recheck_begin(h, now);
}
