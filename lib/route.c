/* route.c: the routing decision (routing.md, "Rules").
 *
 * The first rule whose `when` matches decides. A forward rule forwards. An
 * assign rule looks at every connector of its teams in file order, then
 * (rev 2) at every connector of its overflow teams: passed over for
 * postcode (by_postcode and the team does not hold the postcode; never an
 * overflow team), skill, language (require), declined (in state->excluded),
 * else an eligible candidate; a candidate is free when load < capacity. A
 * free first-rank candidate gets the offer; else a free overflow one; when
 * none is free, the forecast over both ranks decides between waitlisted and
 * the rule's `otherwise`.
 *
 * Choices where routing.md is silent:
 * - language require/prefer with a referral that gives no language: no
 *   language filter and no preference.
 * - a forecast slot that lies in the past (an overdue trajectory) counts as
 *   now.
 * - `otherwise: waitlist` (also the default) when the forecast slot is not
 *   before start_by: waitlisted with that late slot as expected_start (the
 *   best estimate there is); 0 when there is no slot at all (no candidates,
 *   or more referrals waiting than known ends).
 * - round_robin: when the connector this rule offered to last is no longer
 *   in the file, the turn starts at the first candidate in file order.
 *
 * What the decision finds goes into a struct rd_route_record, as it is
 * found: the key each rule tried failed on, each candidate's reason code,
 * the forecast. The trace is built from that record afterwards
 * (route_trace.c). */
#include "route.h"
#include "route_trace.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- when ------------------------------------------------------------- */

static bool list_has(const struct rd_strlist *l, const char *s)
{
        for (size_t i = 0; i < l->n; i++)
                if (!strcmp(l->v[i], s))
                        return true;
        return false;
}

static bool referral_has_concern(const struct rd_referral *r, const char *tag)
{
        unsigned n = r->n_concerns > RD_CONCERNS_MAX ? RD_CONCERNS_MAX : r->n_concerns;

        for (unsigned i = 0; i < n; i++)
                if (!strcmp(r->concerns[i], tag))
                        return true;
        return false;
}

/* The referral's postcode as a number, or 0 when there is none (erased). */
static unsigned referral_postcode(const struct rd_referral *r)
{
        unsigned v = 0;

        for (size_t i = 0; i < 4; i++) {
                if (r->postcode[i] < '0' || r->postcode[i] > '9')
                        return 0;
                v = v * 10 + (unsigned)(r->postcode[i] - '0');
        }
        return r->postcode[4] == '\0' ? v : 0;
}

static bool postcode_in(const struct rd_postcode_range *p, size_t n, unsigned code)
{
        for (size_t i = 0; i < n; i++)
                if (code >= p[i].lo && code <= p[i].hi)
                        return true;
        return false;
}

/* The first `when` key (in the order of routing.md's table) that does not
 * match R, or RD_WHEN__MAX when every key matches. */
static enum rd_when_key when_fails(const struct rd_when *w, const struct rd_referral *r)
{
        if (w->has_kind && !(w->kinds & (1u << r->kind)))
                return RD_WHEN_KIND;
        if (w->has_urgency && !(w->urgencies & (1u << r->urgency)))
                return RD_WHEN_URGENCY;
        if (w->has_partner && (!r->partner[0] || !list_has(&w->partners, r->partner)))
                return RD_WHEN_PARTNER;
        if (w->has_postcode) {
                unsigned pc = referral_postcode(r);
                if (!pc || !postcode_in(w->postcodes, w->n_postcodes, pc))
                        return RD_WHEN_POSTCODE;
        }
        if (w->has_age) {
                unsigned n = r->n_children > RD_CHILDREN_MAX ? RD_CHILDREN_MAX : r->n_children;
                bool any = false;

                for (unsigned i = 0; i < n && !any; i++)
                        any = r->ages[i] >= w->age_lo && r->ages[i] <= w->age_hi;
                if (!any)
                        return RD_WHEN_AGE;
        }
        if (w->has_language && (!r->language[0] || !list_has(&w->languages, r->language)))
                return RD_WHEN_LANGUAGE;
        if (w->has_concerns) {
                bool any = w->concerns_any.n == 0;

                for (size_t i = 0; i < w->concerns_any.n && !any; i++)
                        any = referral_has_concern(r, w->concerns_any.v[i]);
                if (!any)
                        return RD_WHEN_CONCERNS;
                for (size_t i = 0; i < w->concerns_all.n; i++)
                        if (!referral_has_concern(r, w->concerns_all.v[i]))
                                return RD_WHEN_CONCERNS;
                for (size_t i = 0; i < w->concerns_none.n; i++)
                        if (referral_has_concern(r, w->concerns_none.v[i]))
                                return RD_WHEN_CONCERNS;
        }
        return RD_WHEN__MAX;
}

/* ---- candidates ------------------------------------------------------- */

bool rd_route_why_eligible(enum rd_route_why why)
{
        return why == RD_WHY_CHOSEN || (why >= RD_WHY_FULL && why < RD_WHY__MAX);
}

static bool excluded(const struct rd_route_state *st, const char *id)
{
        if (!st || !st->excluded)
                return false;
        for (size_t i = 0; i < st->n_excluded; i++)
                if (st->excluded[i] && !strcmp(st->excluded[i], id))
                        return true;
        return false;
}

/* What an assign rule asks of its candidates for one referral. */
struct ask {
        const struct rd_rule *rule;
        size_t ri;         /* its index into rules->rules */
        const char *skill; /* the rule's, or the referral's kind */
        const char *lang;  /* the referral's language, "" when none */
        unsigned postcode; /* the referral's, 0 when none */
        bool prefer;       /* language: prefer, and the referral gives one */
};

/* Why candidate C (connector, rank, load and capacity filled in) is passed
 * over before a pick: a filter, or full; if free, NOT_PICKED until a pick
 * takes it, or NOT_SPEAKER when A prefers speakers and it is none. */
static enum rd_route_why first_why(const struct rd_rules *rules, const struct ask *a,
                                   const struct rd_route_state *st, const struct rd_route_cand *c)
{
        const struct rd_connector *cn = &rules->connectors[c->connector];
        const struct rd_team *team = &rules->teams[cn->team];
        bool speaks = a->lang[0] && list_has(&cn->languages, a->lang);

        if (a->rule->by_postcode && !c->overflow &&
            (!team->has_postcodes || !a->postcode ||
             !postcode_in(team->postcodes, team->n_postcodes, a->postcode)))
                return RD_WHY_POSTCODE;
        if (!list_has(&cn->skills, a->skill))
                return RD_WHY_SKILL;
        if (a->rule->language == RD_LANG_REQUIRE && a->lang[0] && !speaks)
                return RD_WHY_LANGUAGE;
        if (excluded(st, cn->id))
                return RD_WHY_DECLINED;
        if (c->load >= c->capacity)
                return RD_WHY_FULL;
        return a->prefer && !speaks ? RD_WHY_NOT_SPEAKER : RD_WHY_NOT_PICKED;
}

static bool team_in(const size_t *teams, size_t n, size_t team)
{
        for (size_t j = 0; j < n; j++)
                if (teams[j] == team)
                        return true;
        return false;
}

/* Every connector of A's teams, in file order, then every connector of its
 * overflow teams, in file order, into REC->cands (room for CAP) with its
 * reason before a pick. Returns 0, or -EINVAL when the teams hold more
 * connectors than they count (a rule set not from the loader). */
static int gather(const struct rd_rules *rules, const struct ask *a,
                  const struct rd_route_state *st, size_t cap, struct rd_route_record *rec)
{
        for (int overflow = 0; overflow < 2; overflow++) {
                const size_t *teams = overflow ? a->rule->overflow : a->rule->teams;
                size_t n = overflow ? a->rule->n_overflow : a->rule->n_teams;

                for (size_t ci = 0; ci < rules->n_connectors; ci++) {
                        struct rd_route_cand *c;

                        if (!team_in(teams, n, rules->connectors[ci].team))
                                continue;
                        if (rec->n_cands == cap)
                                return -EINVAL;
                        c = &rec->cands[rec->n_cands++];
                        c->connector = ci;
                        c->overflow = overflow;
                        c->load = st && st->load ? st->load[ci] : 0;
                        c->capacity = rules->connectors[ci].capacity;
                        c->why = first_why(rules, a, st, c);
                }
        }
        return 0;
}

/* ---- the pick --------------------------------------------------------- */

static uint64_t offers_made(const struct rd_route_state *st, size_t ci)
{
        return st && st->offers ? st->offers[ci] : 0;
}

/* Is A a better least_loaded pick than B? Lowest load/capacity (as
 * fractions, cross-multiplied), then fewest offers, then id. */
static bool less_loaded(const struct rd_rules *rules, const struct rd_route_state *st,
                        const struct rd_route_cand *a, const struct rd_route_cand *b)
{
        uint64_t l = (uint64_t)a->load * b->capacity, m = (uint64_t)b->load * a->capacity;
        uint64_t oa = offers_made(st, a->connector), ob = offers_made(st, b->connector);

        if (l != m)
                return l < m;
        if (oa != ob)
                return oa < ob;
        return strcmp(rules->connectors[a->connector].id, rules->connectors[b->connector].id) < 0;
}

/* Which candidates a pick chooses among: one rank, all of them or only
 * speakers of the family's language. */
struct pool {
        bool overflow;
        bool speakers_only;
};

/* May a pick from pool P take C: of its rank, free, and a speaker when
 * only speakers may? */
static bool in_pool(const struct rd_route_cand *c, struct pool p)
{
        return c->overflow == p.overflow &&
               (c->why == RD_WHY_NOT_PICKED || (!p.speakers_only && c->why == RD_WHY_NOT_SPEAKER));
}

/* round_robin: the first in the pool after the connector rule A->ri
 * offered to last, in file order, else the first in the pool. */
static size_t next_in_turn(const struct rd_rules *rules, const struct ask *a,
                           const struct rd_route_state *st, const struct rd_route_record *rec,
                           struct pool p)
{
        ssize_t last = -1;
        size_t first = SIZE_MAX;

        if (st && st->rr_last && st->rr_last[a->ri])
                last = rd_rules_connector_index(rules, st->rr_last[a->ri]);
        for (size_t i = 0; i < rec->n_cands; i++) {
                if (!in_pool(&rec->cands[i], p))
                        continue;
                if (first == SIZE_MAX)
                        first = i;
                if ((ssize_t)rec->cands[i].connector > last)
                        return i;
        }
        return first;
}

/* The pick among pool P of REC's candidates by A's rule: the index into
 * rec->cands, or SIZE_MAX when the pool is empty. */
static size_t pick(const struct rd_rules *rules, const struct ask *a,
                   const struct rd_route_state *st, const struct rd_route_record *rec,
                   struct pool p)
{
        size_t best = SIZE_MAX;

        if (a->rule->pick == RD_PICK_ROUND_ROBIN)
                return next_in_turn(rules, a, st, rec, p);
        for (size_t i = 0; i < rec->n_cands; i++) {
                if (!in_pool(&rec->cands[i], p))
                        continue;
                if (best == SIZE_MAX || less_loaded(rules, st, &rec->cands[i], &rec->cands[best]))
                        best = i;
        }
        return best;
}

/* Pick a free candidate of REC of one rank (OVERFLOW or not), speakers
 * first when A prefers them. When no speaker of the rank was free, the
 * others were passed over for the pick, not for their language. Returns the
 * index into rec->cands, or SIZE_MAX when nobody of the rank is free. */
static size_t choose_in_rank(const struct rd_rules *rules, const struct ask *a,
                             const struct rd_route_state *st, struct rd_route_record *rec,
                             bool overflow)
{
        size_t chosen =
                a->prefer ? pick(rules, a, st, rec, (struct pool){overflow, true}) : SIZE_MAX;

        if (chosen == SIZE_MAX && a->prefer)
                for (size_t i = 0; i < rec->n_cands; i++)
                        if (rec->cands[i].overflow == overflow &&
                            rec->cands[i].why == RD_WHY_NOT_SPEAKER)
                                rec->cands[i].why = RD_WHY_NOT_PICKED;
        if (chosen == SIZE_MAX)
                chosen = pick(rules, a, st, rec, (struct pool){overflow, false});
        return chosen;
}

/* Pick a free first-rank candidate of REC, else a free overflow one, and
 * mark it CHOSEN; when a first-rank one is chosen, the free overflow ones
 * were passed over for it. Returns the index into rec->cands, or SIZE_MAX
 * when nobody is free. */
static size_t choose(const struct rd_rules *rules, const struct ask *a,
                     const struct rd_route_state *st, struct rd_route_record *rec)
{
        size_t chosen = choose_in_rank(rules, a, st, rec, false);

        if (chosen == SIZE_MAX)
                chosen = choose_in_rank(rules, a, st, rec, true);
        else
                for (size_t i = 0; i < rec->n_cands; i++)
                        if (rec->cands[i].overflow && (rec->cands[i].why == RD_WHY_NOT_PICKED ||
                                                       rec->cands[i].why == RD_WHY_NOT_SPEAKER))
                                rec->cands[i].why = RD_WHY_FIRST_RANK_FREE;
        if (chosen != SIZE_MAX)
                rec->cands[chosen].why = RD_WHY_CHOSEN;
        return chosen;
}

/* ---- forecast --------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return x < y ? -1 : x > y;
}

/* The rank of a connector among the eligible candidates of the referral
 * being decided. */
enum { RANK_NONE = 0, RANK_FIRST, RANK_OVERFLOW };

/* The waiting referrals ahead, counted by the ranks whose slots they may
 * take: [AHEAD_FIRST] first-rank slots only, [AHEAD_OVERFLOW] overflow
 * slots only, [AHEAD_BOTH] either; each counted up to the slots there are. */
enum { AHEAD_NONE = 0, AHEAD_FIRST, AHEAD_OVERFLOW, AHEAD_BOTH, AHEAD__MAX };

/* Which slots waiting referral W may take ahead of this one (AHEAD_
 * values), given the RANK of each connector for this one: a slot of a
 * connector that serves W first (routing.md rev 2, struct rd_waiting), into
 * *BEFORE when W comes before this one in waitlist order, into *AFTER when
 * it comes after (then only where W is first-rank and this one overflow; a
 * subset of *BEFORE). A candidate index out of range is skipped. */
static void takes(const struct rd_rules *rules, const struct rd_waiting *w,
                  const unsigned char *rank, unsigned *before, unsigned *after)
{
        size_t n = w->candidates ? w->n_candidates : 0;
        size_t n_first = n - (w->n_overflow < n ? w->n_overflow : n);

        *before = *after = AHEAD_NONE;
        for (size_t j = 0; j < n; j++) {
                size_t c = w->candidates[j];
                bool w_first = j < n_first;

                if (c >= rules->n_connectors)
                        continue;
                if (rank[c] == RANK_FIRST && w_first)
                        *before |= AHEAD_FIRST;
                if (rank[c] == RANK_OVERFLOW) {
                        *before |= AHEAD_OVERFLOW;
                        if (w_first)
                                *after |= AHEAD_OVERFLOW;
                }
        }
}

/* Add K referrals to *X, counted up to CAP (*X <= CAP). */
static void count_up_to(uint64_t *x, uint64_t k, uint64_t cap)
{
        *x = k >= cap - *x ? cap : *x + k;
}

/* Once the referrals ahead can take every slot, more change nothing. */
static bool every_slot_taken(const uint64_t *ahead, const struct rd_route_forecast *fc)
{
        return ahead[AHEAD_FIRST] + ahead[AHEAD_BOTH] >= fc->first.slots &&
               ahead[AHEAD_OVERFLOW] + ahead[AHEAD_BOTH] >= fc->overflow.slots &&
               ahead[AHEAD_FIRST] + ahead[AHEAD_OVERFLOW] + ahead[AHEAD_BOTH] >= fc->slots;
}

/* The referral being decided, where it would stand in the waitlist. */
struct place {
        enum rd_urgency urgency;
        int64_t start_by;
};

/* Set K of ST into AHEAD: its referrals that come before ME (struct
 * rd_waiting) in the pools they take before it, the others in those they
 * take after it. Only when the two differ does it matter how many come
 * before, and only then, for a set of ME's urgency, is st->set_ahead
 * asked, up to the slots there are: beyond them more before or after
 * change nothing (the pools after are a part of those before). Returns 0
 * or set_ahead's errno. */
static int set_ahead(const struct rd_rules *rules, const struct rd_route_state *st, size_t k,
                     const unsigned char *rank, const struct place *me,
                     const struct rd_route_forecast *fc, uint64_t ahead[AHEAD__MAX])
{
        const struct rd_waiting *w = &st->waiting_sets[k];
        uint64_t n = st->waiting_set_counts[k], before = n;
        unsigned pool_before, pool_after;

        takes(rules, w, rank, &pool_before, &pool_after);
        if (pool_before != pool_after && w->urgency < me->urgency)
                before = 0;
        if (pool_before != pool_after && w->urgency == me->urgency && st->set_ahead) {
                int r = st->set_ahead(st->set_ahead_ctx, k, me->start_by, fc->slots, &before);

                if (r < 0)
                        return r;
                if (before > n)
                        before = n;
        }
        count_up_to(&ahead[pool_before], before, fc->slots);
        count_up_to(&ahead[pool_after], n - before, fc->slots);
        return 0;
}

/* The waiting referrals of ST that take a place ahead of ME, into AHEAD:
 * read only until they can take every slot, so that a long waitlist costs
 * no more than that. Returns 0 or st->set_ahead's errno. */
static int waiting_ahead(const struct rd_rules *rules, const struct rd_route_state *st,
                         const unsigned char *rank, const struct place *me,
                         const struct rd_route_forecast *fc, uint64_t ahead[AHEAD__MAX])
{
        for (size_t w = 0; st && st->waiting && w < st->n_waiting; w++) {
                unsigned before, after;

                if (every_slot_taken(ahead, fc))
                        return 0;
                takes(rules, &st->waiting[w], rank, &before, &after);
                count_up_to(&ahead[st->waiting[w].behind ? after : before], 1, fc->slots);
        }
        for (size_t k = 0; st && st->waiting_sets && k < st->n_waiting_sets; k++) {
                int r;

                if (every_slot_taken(ahead, fc))
                        return 0;
                r = set_ahead(rules, st, k, rank, me, fc, ahead);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The known ends of the eligible candidates of REC of one rank (OVERFLOW or
 * not), earliest first, in a new array (NULL when there are none) of *N;
 * marks them in RANK. Returns 0 or -ENOMEM. */
static int slots_of(const struct rd_route_state *st, const struct rd_route_record *rec,
                    bool overflow, unsigned char *rank, int64_t **slots, size_t *total)
{
        size_t n = 0, k = 0;
        int64_t *v = NULL;

        for (size_t i = 0; i < rec->n_cands; i++) {
                size_t ci = rec->cands[i].connector;

                if (rec->cands[i].overflow != overflow || !rd_route_why_eligible(rec->cands[i].why))
                        continue;
                rank[ci] = overflow ? RANK_OVERFLOW : RANK_FIRST;
                if (st && st->ends && st->n_ends && st->ends[ci])
                        n += st->n_ends[ci];
        }
        if (n && !(v = malloc(n * sizeof *v)))
                return -ENOMEM;
        for (size_t i = 0; i < rec->n_cands && n; i++) {
                size_t ci = rec->cands[i].connector;

                if (rank[ci] != (overflow ? RANK_OVERFLOW : RANK_FIRST) || !st->ends[ci])
                        continue;
                memcpy(v + k, st->ends[ci], st->n_ends[ci] * sizeof *v);
                k += st->n_ends[ci];
        }
        if (n)
                qsort(v, n, sizeof *v, cmp_i64);
        *slots = v;
        *total = n;
        return 0;
}

/* The first slot of the two ranks' SLOTS together (earliest first) that the
 * referrals AHEAD cannot all take, into FC (struct rd_route_forecast). */
static void first_free_slot(int64_t *const slots[2], const uint64_t *ahead, int64_t now_ms,
                            struct rd_route_forecast *fc)
{
        size_t x = 0, y = 0, nx = fc->first.slots, ny = fc->overflow.slots;

        while (x < nx || y < ny) {
                bool first = y == ny || (x < nx && slots[0][x] <= slots[1][y]);
                int64_t at = first ? slots[0][x++] : slots[1][y++];

                if (x > ahead[AHEAD_FIRST] + ahead[AHEAD_BOTH] ||
                    y > ahead[AHEAD_OVERFLOW] + ahead[AHEAD_BOTH] ||
                    x + y > ahead[AHEAD_FIRST] + ahead[AHEAD_OVERFLOW] + ahead[AHEAD_BOTH]) {
                        fc->found = true;
                        fc->expected_start = at < now_ms ? now_ms : at;
                        fc->expected_overflow = !first;
                        return;
                }
        }
}

static size_t min_size(uint64_t a, size_t b)
{
        return a < b ? (size_t)a : b;
}

/* The slots of REC's eligible candidates and the referrals waiting ahead
 * of ME (routing.md) into FC. Returns 0, -ENOMEM or st->set_ahead's
 * errno. */
static int forecast(const struct rd_rules *rules, const struct rd_route_state *st,
                    const struct rd_route_record *rec, const struct place *me, int64_t now_ms,
                    struct rd_route_forecast *fc)
{
        unsigned char *rank = calloc(rules->n_connectors ? rules->n_connectors : 1, 1);
        int64_t *slots[2] = {NULL, NULL};
        uint64_t ahead[AHEAD__MAX] = {0};
        int rc = -ENOMEM;

        if (!rank)
                goto out;
        rc = slots_of(st, rec, false, rank, &slots[0], &fc->first.slots);
        if (rc == 0)
                rc = slots_of(st, rec, true, rank, &slots[1], &fc->overflow.slots);
        if (rc < 0)
                goto out;
        fc->slots = fc->first.slots + fc->overflow.slots;
        rc = waiting_ahead(rules, st, rank, me, fc, ahead);
        if (rc < 0)
                goto out;
        fc->waiting_ahead =
                min_size(ahead[AHEAD_FIRST] + ahead[AHEAD_OVERFLOW] + ahead[AHEAD_BOTH], fc->slots);
        fc->first.waiting_ahead = min_size(ahead[AHEAD_FIRST] + ahead[AHEAD_BOTH], fc->first.slots);
        fc->overflow.waiting_ahead =
                min_size(ahead[AHEAD_OVERFLOW] + ahead[AHEAD_BOTH], fc->overflow.slots);
        first_free_slot(slots, ahead, now_ms, fc);
out:
        free(slots[0]);
        free(slots[1]);
        free(rank);
        return rc;
}

/* ---- the decision ----------------------------------------------------- */

static bool state_valid(const struct rd_route_state *st)
{
        if (!st)
                return true;
        if (st->n_excluded && !st->excluded)
                return false;
        if (st->ends && !st->n_ends)
                return false;
        if (st->n_waiting && !st->waiting)
                return false;
        if (st->n_waiting_sets && (!st->waiting_sets || !st->waiting_set_counts))
                return false;
        /* The waiting list is not walked here: it can be long, and the
         * forecast reads only as much of it as it needs (and skips a
         * candidate index that is out of range). */
        return true;
}

static bool input_valid(const struct rd_referral *r, const struct rd_rules *rules,
                        const struct rd_route_state *st)
{
        if ((unsigned)r->kind >= RD_KIND__MAX || (unsigned)r->urgency >= RD_URGENCY__MAX ||
            !state_valid(st))
                return false;
        for (size_t i = 0; i < rules->n_connectors; i++)
                if (rules->connectors[i].team >= rules->n_teams)
                        return false;
        return true;
}

static bool rule_valid(const struct rd_rules *rules, const struct rd_rule *rule)
{
        if (rule->action == RD_ACTION_FORWARD)
                return rule->forward_to < rules->n_targets;
        for (size_t j = 0; j < rule->n_teams; j++)
                if (rule->teams[j] >= rules->n_teams)
                        return false;
        for (size_t j = 0; j < rule->n_overflow; j++)
                if (rule->overflow[j] >= rules->n_teams)
                        return false;
        return rule->otherwise != RD_OTHERWISE_FORWARD || rule->otherwise_to < rules->n_targets;
}

/* The first rule whose `when` matches R, or SIZE_MAX when none does (a
 * loaded file always ends with a catch-all). Each rule before it goes into
 * REC with the key it failed on. */
static size_t first_match(const struct rd_referral *r, const struct rd_rules *rules,
                          struct rd_route_record *rec)
{
        for (size_t ri = 0; ri < rules->n_rules; ri++) {
                enum rd_when_key key = when_fails(&rules->rules[ri].when, r);

                if (key == RD_WHEN__MAX)
                        return ri;
                rec->failed[rec->n_tried++] = key;
        }
        return SIZE_MAX;
}

/* Nobody free: the forecast of REC's candidates for a referral of
 * URGENCY decides between waitlisted and RULE's `otherwise`. Returns 0,
 * -ENOMEM or st->set_ahead's errno. */
static int decide_by_forecast(const struct rd_rules *rules, const struct rd_rule *rule,
                              const struct rd_route_state *st, enum rd_urgency urgency,
                              int64_t now_ms, struct rd_route_record *rec)
{
        struct rd_route_forecast *fc = &rec->forecast;
        struct rd_decision *d = &rec->decision;
        const struct place me = {urgency, d->start_by_ms};
        int rc;

        rec->has_forecast = true;
        fc->start_by = d->start_by_ms;
        for (size_t i = 0; i < rec->n_cands; i++) {
                struct rd_route_rank_forecast *rk =
                        rec->cands[i].overflow ? &fc->overflow : &fc->first;

                rk->candidates += rd_route_why_eligible(rec->cands[i].why);
        }
        fc->candidates = fc->first.candidates + fc->overflow.candidates;
        if (fc->candidates && (rc = forecast(rules, st, rec, &me, now_ms, fc)) < 0)
                return rc;
        fc->within_window = fc->found && fc->expected_start < fc->start_by;
        if (fc->within_window) {
                d->status = RD_STATUS_WAITLISTED;
                d->expected_start_ms = fc->expected_start;
                return 0;
        }
        rec->used_otherwise = true;
        if (rule->otherwise == RD_OTHERWISE_FORWARD) {
                d->status = RD_STATUS_FORWARDED;
                d->start_by_ms = 0; /* a forwarded referral has no window */
                d->forward_to = rule->otherwise_to;
                d->reason = rule->otherwise_reason;
        } else {
                d->status = RD_STATUS_WAITLISTED;
                d->expected_start_ms = fc->found ? fc->expected_start : 0;
        }
        return 0;
}

/* Assign rule RI decides for R: a free candidate gets the offer (first
 * rank first), else the forecast decides. Returns 0, -ENOMEM, -EINVAL
 * (inconsistent rules) or st->set_ahead's errno. */
static int decide_assign(const struct rd_referral *r, const struct rd_rules *rules,
                         const struct rd_route_state *st, size_t ri, int64_t received_ms,
                         int64_t now_ms, struct rd_route_record *rec)
{
        const struct rd_rule *rule = &rules->rules[ri];
        const struct ask a = {
                .rule = rule,
                .ri = ri,
                .skill = rule->skill ? rule->skill : rd_kind_name(r->kind),
                .lang = r->language,
                .postcode = referral_postcode(r),
                .prefer = rule->language == RD_LANG_PREFER && r->language[0],
        };
        struct rd_decision *d = &rec->decision;
        size_t chosen, cap = 0;
        int rc;

        for (size_t j = 0; j < rule->n_teams; j++)
                cap += rules->teams[rule->teams[j]].n_connectors;
        for (size_t j = 0; j < rule->n_overflow; j++)
                cap += rules->teams[rule->overflow[j]].n_connectors;
        rec->cands = malloc((cap ? cap : 1) * sizeof *rec->cands);
        if (!rec->cands)
                return -ENOMEM;
        d->start_by_ms = received_ms + rule->window_s * 1000;
        rec->pick = rule->pick;
        rec->has_overflow = rule->n_overflow > 0;
        rc = gather(rules, &a, st, cap, rec);
        if (rc < 0)
                return rc;
        chosen = choose(rules, &a, st, rec);
        if (chosen == SIZE_MAX)
                return decide_by_forecast(rules, rule, st, r->urgency, now_ms, rec);
        d->status = RD_STATUS_ASSIGNED;
        d->connector = rec->cands[chosen].connector;
        d->team = rules->connectors[d->connector].team;
        d->offer_expires_ms = now_ms + rule->accept_within_s * 1000;
        return 0;
}

int rd_route_decide_record(const struct rd_referral *r, const struct rd_rules *rules,
                           const struct rd_route_state *state, size_t rule, int64_t received_ms,
                           int64_t now_ms, struct rd_route_record *rec)
{
        struct rd_route_record x;
        size_t ri;
        int rc = -EINVAL;

        if (!r || !rules || !rec || !input_valid(r, rules, state) ||
            (rule != SIZE_MAX && rule >= rules->n_rules))
                return -EINVAL;
        memset(&x, 0, sizeof x);
        x.failed = malloc((rules->n_rules ? rules->n_rules : 1) * sizeof *x.failed);
        if (!x.failed)
                return -ENOMEM;
        x.redecided = rule != SIZE_MAX;
        ri = x.redecided ? rule : first_match(r, rules, &x);
        if (ri == SIZE_MAX || !rule_valid(rules, &rules->rules[ri]))
                goto fail;
        x.decision.rule = ri;
        x.action = rules->rules[ri].action;
        if (x.action == RD_ACTION_FORWARD) {
                x.decision.status = RD_STATUS_FORWARDED;
                x.decision.forward_to = rules->rules[ri].forward_to;
                x.decision.reason = rules->rules[ri].forward_reason;
        } else if ((rc = decide_assign(r, rules, state, ri, received_ms, now_ms, &x)) < 0) {
                goto fail;
        }
        *rec = x;
        return 0;
fail:
        rd_route_record_clear(&x);
        return rc;
}

void rd_route_record_clear(struct rd_route_record *rec)
{
        if (!rec)
                return;
        free(rec->failed);
        free(rec->cands);
        memset(rec, 0, sizeof *rec);
}

size_t rd_route_eligible(const struct rd_route_record *rec, size_t *out, size_t max)
{
        size_t n = 0;

        for (size_t i = 0; i < rec->n_cands; i++) {
                if (!rd_route_why_eligible(rec->cands[i].why))
                        continue;
                if (n < max)
                        out[n] = rec->cands[i].connector;
                n++;
        }
        return n;
}

size_t rd_route_eligible_overflow(const struct rd_route_record *rec)
{
        size_t n = 0;

        for (size_t i = 0; i < rec->n_cands; i++)
                n += rec->cands[i].overflow && rd_route_why_eligible(rec->cands[i].why);
        return n;
}

/* ---- the decision with its trace -------------------------------------- */

int rd_route_redecide(const struct rd_referral *r, const struct rd_rules *rules,
                      const struct rd_route_state *state, size_t rule, int64_t received_ms,
                      int64_t now_ms, struct rd_decision *out, json_t **trace)
{
        struct rd_route_record rec;
        json_t *t = NULL;
        int rc;

        if (!out)
                return -EINVAL;
        rc = rd_route_decide_record(r, rules, state, rule, received_ms, now_ms, &rec);
        if (rc < 0)
                return rc;
        if (trace && !(t = rd_route_trace_json(&rec, rules))) {
                rd_route_record_clear(&rec);
                return -ENOMEM;
        }
        *out = rec.decision;
        if (trace)
                *trace = t;
        rd_route_record_clear(&rec);
        return 0;
}

int rd_route_decide(const struct rd_referral *r, const struct rd_rules *rules,
                    const struct rd_route_state *state, int64_t now_ms, struct rd_decision *out,
                    json_t **trace)
{
        return rd_route_redecide(r, rules, state, SIZE_MAX, now_ms, now_ms, out, trace);
}
