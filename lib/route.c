/* route.c: the routing decision (routing.md, "Rules").
 *
 * The first rule whose `when` matches decides. A forward rule forwards. An
 * assign rule looks at every connector of its teams in file order: passed
 * over for postcode (by_postcode and the team does not hold the postcode),
 * skill, language (require), declined (in state->excluded), else an
 * eligible candidate; a candidate is free when load < capacity. A free
 * candidate gets the offer; when none is free, the forecast decides
 * between waitlisted and the rule's `otherwise`.
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
 * The trace names rules, keys, connectors, teams and targets: ids from the
 * routing file, never a value of the referral. */
#include "route.h"

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
 * match R, or NULL when every key matches. */
static const char *when_fails(const struct rd_when *w, const struct rd_referral *r)
{
        if (w->has_kind && !(w->kinds & (1u << r->kind)))
                return "kind";
        if (w->has_urgency && !(w->urgencies & (1u << r->urgency)))
                return "urgency";
        if (w->has_partner && (!r->partner[0] || !list_has(&w->partners, r->partner)))
                return "partner";
        if (w->has_postcode) {
                unsigned pc = referral_postcode(r);
                if (!pc || !postcode_in(w->postcodes, w->n_postcodes, pc))
                        return "postcode";
        }
        if (w->has_age) {
                unsigned n = r->n_children > RD_CHILDREN_MAX ? RD_CHILDREN_MAX : r->n_children;
                bool any = false;

                for (unsigned i = 0; i < n && !any; i++)
                        any = r->ages[i] >= w->age_lo && r->ages[i] <= w->age_hi;
                if (!any)
                        return "age";
        }
        if (w->has_language && (!r->language[0] || !list_has(&w->languages, r->language)))
                return "language";
        if (w->has_concerns) {
                bool any = w->concerns_any.n == 0;

                for (size_t i = 0; i < w->concerns_any.n && !any; i++)
                        any = referral_has_concern(r, w->concerns_any.v[i]);
                if (!any)
                        return "concerns";
                for (size_t i = 0; i < w->concerns_all.n; i++)
                        if (!referral_has_concern(r, w->concerns_all.v[i]))
                                return "concerns";
                for (size_t i = 0; i < w->concerns_none.n; i++)
                        if (referral_has_concern(r, w->concerns_none.v[i]))
                                return "concerns";
        }
        return NULL;
}

/* ---- candidates ------------------------------------------------------- */

struct cand {
        size_t ci;           /* index into rules->connectors */
        const char *skipped; /* why passed over before load counts, or NULL */
        bool speaks;         /* speaks the referral's language */
        bool free;
        uint32_t load;
        uint64_t offers;
};

static bool excluded(const struct rd_route_state *st, const char *id)
{
        if (!st || !st->excluded)
                return false;
        for (size_t i = 0; i < st->n_excluded; i++)
                if (st->excluded[i] && !strcmp(st->excluded[i], id))
                        return true;
        return false;
}

/* Is A a better least_loaded pick than B? Lowest load/capacity (as
 * fractions, cross-multiplied), then fewest offers, then id. */
static bool less_loaded(const struct rd_rules *rules, const struct cand *a, const struct cand *b)
{
        uint64_t ca = rules->connectors[a->ci].capacity, cb = rules->connectors[b->ci].capacity;
        uint64_t l = (uint64_t)a->load * cb, m = (uint64_t)b->load * ca;

        if (l != m)
                return l < m;
        if (a->offers != b->offers)
                return a->offers < b->offers;
        return strcmp(rules->connectors[a->ci].id, rules->connectors[b->ci].id) < 0;
}

/* Pick among the free candidates of CS (N of them) those in POOL (free, and
 * speaking the language when SPEAKERS_ONLY). Returns the index into CS or
 * SIZE_MAX when the pool is empty. */
static size_t pick(const struct rd_rules *rules, const struct rd_rule *rule, size_t ri,
                   const struct rd_route_state *st, const struct cand *cs, size_t n,
                   bool speakers_only)
{
        size_t best = SIZE_MAX;

        if (rule->pick == RD_PICK_ROUND_ROBIN) {
                ssize_t last = -1;
                size_t first = SIZE_MAX;

                if (st && st->rr_last && st->rr_last[ri])
                        last = rd_rules_connector_index(rules, st->rr_last[ri]);
                for (size_t i = 0; i < n; i++) {
                        if (cs[i].skipped || !cs[i].free || (speakers_only && !cs[i].speaks))
                                continue;
                        if (first == SIZE_MAX)
                                first = i;
                        if ((ssize_t)cs[i].ci > last) {
                                best = i;
                                break;
                        }
                }
                return best != SIZE_MAX ? best : first;
        }
        for (size_t i = 0; i < n; i++) {
                if (cs[i].skipped || !cs[i].free || (speakers_only && !cs[i].speaks))
                        continue;
                if (best == SIZE_MAX || less_loaded(rules, &cs[i], &cs[best]))
                        best = i;
        }
        return best;
}

/* ---- forecast --------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return x < y ? -1 : x > y;
}

struct forecast {
        size_t n_slots;
        size_t waiting_ahead;
        bool found;
        int64_t slot; /* when found: not before now */
};

/* The slots of the eligible candidates in CS and the referrals waiting
 * ahead (routing.md). Returns 0 or -ENOMEM. */
static int forecast(const struct rd_rules *rules, const struct rd_route_state *st,
                    const struct cand *cs, size_t n, int64_t now_ms, struct forecast *fc)
{
        size_t total = 0, k = 0;
        int64_t *slots = NULL;
        bool *is_cand = NULL;
        int rc = -ENOMEM;

        memset(fc, 0, sizeof *fc);
        is_cand = calloc(rules->n_connectors ? rules->n_connectors : 1, sizeof *is_cand);
        if (!is_cand)
                goto out;
        for (size_t i = 0; i < n; i++) {
                if (cs[i].skipped)
                        continue;
                is_cand[cs[i].ci] = true;
                if (st && st->ends && st->n_ends && st->ends[cs[i].ci])
                        total += st->n_ends[cs[i].ci];
        }
        if (total) {
                slots = malloc(total * sizeof *slots);
                if (!slots)
                        goto out;
        }
        for (size_t i = 0; i < n && total; i++) {
                if (cs[i].skipped || !st->ends[cs[i].ci])
                        continue;
                memcpy(slots + k, st->ends[cs[i].ci], st->n_ends[cs[i].ci] * sizeof *slots);
                k += st->n_ends[cs[i].ci];
        }
        if (total)
                qsort(slots, total, sizeof *slots, cmp_i64);
        fc->n_slots = total;
        /* Only the first TOTAL sharing referrals matter: once that many wait
         * ahead there is no slot, so a long waitlist costs no more than that
         * (waiting_ahead is then "at least TOTAL"). */
        for (size_t w = 0; st && st->waiting && w < st->n_waiting && fc->waiting_ahead < total;
             w++) {
                const struct rd_waiting *wt = &st->waiting[w];
                bool shares = false;

                for (size_t j = 0; wt->candidates && j < wt->n_candidates && !shares; j++)
                        shares = wt->candidates[j] < rules->n_connectors &&
                                 is_cand[wt->candidates[j]];
                fc->waiting_ahead += shares;
        }
        for (size_t ks = 0;
             st && st->waiting_sets && ks < st->n_waiting_sets && fc->waiting_ahead < total; ks++) {
                const struct rd_waiting *ws = &st->waiting_sets[ks];
                bool shares = false;

                for (size_t j = 0; ws->candidates && j < ws->n_candidates && !shares; j++)
                        shares = ws->candidates[j] < rules->n_connectors &&
                                 is_cand[ws->candidates[j]];
                if (shares)
                        fc->waiting_ahead =
                                st->waiting_set_counts[ks] >= total - fc->waiting_ahead
                                        ? total
                                        : fc->waiting_ahead + (size_t)st->waiting_set_counts[ks];
        }
        if (fc->waiting_ahead < total) {
                fc->found = true;
                fc->slot = slots[fc->waiting_ahead];
                if (fc->slot < now_ms)
                        fc->slot = now_ms;
        }
        rc = 0;
out:
        free(slots);
        free(is_cand);
        return rc;
}

/* ---- the trace -------------------------------------------------------- */

/* json_object_set_new that remembers a failure in *OOM (and frees V). */
static void jset(bool *oom, json_t *o, const char *key, json_t *v)
{
        if (!o) {
                json_decref(v);
                return;
        }
        if (!v || json_object_set_new(o, key, v) < 0)
                *oom = true;
}

static void jpush(bool *oom, json_t *a, json_t *v)
{
        if (!a) {
                json_decref(v);
                return;
        }
        if (!v || json_array_append_new(a, v) < 0)
                *oom = true;
}

static json_t *cand_json(const struct rd_rules *rules, const struct cand *c, const char *why,
                         bool chosen, bool *oom)
{
        const struct rd_connector *cn = &rules->connectors[c->ci];
        json_t *o = json_object();

        if (!o) {
                *oom = true;
                return NULL;
        }
        jset(oom, o, "connector", json_string(cn->id));
        jset(oom, o, "team", json_string(rules->teams[cn->team].id));
        if (chosen)
                jset(oom, o, "chosen", json_true());
        else
                jset(oom, o, "passed_over", json_string(why));
        jset(oom, o, "load", json_integer(c->load));
        jset(oom, o, "capacity", json_integer(cn->capacity));
        return o;
}

/* ---- the decision ----------------------------------------------------- */

static bool state_valid(const struct rd_rules *rules, const struct rd_route_state *st)
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
        (void)rules;
        return true;
}

static bool rule_valid(const struct rd_rules *rules, const struct rd_rule *rule)
{
        if (rule->action == RD_ACTION_FORWARD)
                return rule->forward_to < rules->n_targets;
        for (size_t j = 0; j < rule->n_teams; j++)
                if (rule->teams[j] >= rules->n_teams)
                        return false;
        return rule->otherwise != RD_OTHERWISE_FORWARD || rule->otherwise_to < rules->n_targets;
}

/* FORCED_RULE: a rule index, or SIZE_MAX to try the rules from the top. */
static int decide(const struct rd_referral *r, const struct rd_rules *rules,
                  const struct rd_route_state *state, size_t forced_rule, int64_t received_ms,
                  int64_t now_ms, struct rd_decision *out, json_t **trace)
{
        struct rd_decision d;
        const struct rd_rule *rule = NULL;
        struct cand *cs = NULL;
        size_t ri = 0, n = 0, chosen = SIZE_MAX;
        json_t *tr = NULL, *tried = NULL, *cands = NULL;
        bool oom = false;
        int rc = -EINVAL;

        if (!r || !rules || !out || (unsigned)r->kind >= RD_KIND__MAX ||
            (unsigned)r->urgency >= RD_URGENCY__MAX || !state_valid(rules, state))
                return -EINVAL;
        for (size_t i = 0; i < rules->n_connectors; i++)
                if (rules->connectors[i].team >= rules->n_teams)
                        return -EINVAL;
        memset(&d, 0, sizeof d);
        if (trace) {
                tr = json_object();
                tried = json_array();
                if (!tr || !tried) {
                        json_decref(tried);
                        rc = -ENOMEM;
                        goto out;
                }
                jset(&oom, tr, "rules_tried", tried);
        }

        if (forced_rule != SIZE_MAX) {
                if (forced_rule >= rules->n_rules)
                        goto out;
                ri = forced_rule;
                rule = &rules->rules[ri];
                jset(&oom, tr, "redecided_by_rule", json_true());
        }
        /* the first rule that matches */
        for (ri = rule ? ri : 0; !rule && ri < rules->n_rules; ri++) {
                const char *key = when_fails(&rules->rules[ri].when, r);

                if (!key) {
                        rule = &rules->rules[ri];
                        break;
                }
                if (tried) {
                        json_t *o = json_object();
                        jset(&oom, o, "rule", json_string(rules->rules[ri].name));
                        jset(&oom, o, "failed", json_string(key));
                        jpush(&oom, tried, o);
                }
        }
        if (!rule || !rule_valid(rules, rule)) {
                rc = -EINVAL; /* a loaded file always ends with a catch-all */
                goto out;
        }
        d.rule = ri;
        jset(&oom, tr, "rule", json_string(rule->name));

        if (rule->action == RD_ACTION_FORWARD) {
                d.status = RD_STATUS_FORWARDED;
                d.forward_to = rule->forward_to;
                d.reason = rule->forward_reason;
                jset(&oom, tr, "action", json_string("forward"));
                goto decided;
        }

        /* assign: every connector of the rule's teams, file order */
        const char *skill = rule->skill ? rule->skill : rd_kind_name(r->kind);
        const char *lang = r->language;
        unsigned pc = referral_postcode(r);
        bool prefer = rule->language == RD_LANG_PREFER && lang[0];

        d.start_by_ms = received_ms + rule->window_s * 1000;
        jset(&oom, tr, "action", json_string("assign"));
        jset(&oom, tr, "pick",
             json_string(rule->pick == RD_PICK_ROUND_ROBIN ? "round_robin" : "least_loaded"));
        cs = calloc(rules->n_connectors ? rules->n_connectors : 1, sizeof *cs);
        if (!cs) {
                rc = -ENOMEM;
                goto out;
        }
        for (size_t ci = 0; ci < rules->n_connectors; ci++) {
                const struct rd_connector *cn = &rules->connectors[ci];
                const struct rd_team *team = &rules->teams[cn->team];
                struct cand *c;
                bool in = false;

                for (size_t j = 0; j < rule->n_teams; j++)
                        in |= rule->teams[j] == cn->team;
                if (!in)
                        continue;
                c = &cs[n++];
                c->ci = ci;
                c->load = state && state->load ? state->load[ci] : 0;
                c->offers = state && state->offers ? state->offers[ci] : 0;
                c->speaks = lang[0] && list_has(&cn->languages, lang);
                if (rule->by_postcode && (!team->has_postcodes || !pc ||
                                          !postcode_in(team->postcodes, team->n_postcodes, pc)))
                        c->skipped = "postcode";
                else if (!list_has(&cn->skills, skill))
                        c->skipped = "skill";
                else if (rule->language == RD_LANG_REQUIRE && lang[0] && !c->speaks)
                        c->skipped = "language";
                else if (excluded(state, cn->id))
                        c->skipped = "declined";
                else
                        c->free = c->load < cn->capacity;
        }
        if (prefer)
                chosen = pick(rules, rule, ri, state, cs, n, true);
        if (chosen == SIZE_MAX)
                chosen = pick(rules, rule, ri, state, cs, n, false);

        if (tr) {
                cands = json_array();
                jset(&oom, tr, "candidates", cands);
        }
        for (size_t i = 0; cands && i < n; i++) {
                const char *why = cs[i].skipped;

                if (!why && !cs[i].free)
                        why = "full";
                else if (!why && prefer && chosen != SIZE_MAX && cs[chosen].speaks && !cs[i].speaks)
                        why = "language";
                else if (!why)
                        why = "not_picked";
                jpush(&oom, cands, cand_json(rules, &cs[i], why, i == chosen, &oom));
        }

        if (chosen != SIZE_MAX) {
                d.status = RD_STATUS_ASSIGNED;
                d.connector = cs[chosen].ci;
                d.team = rules->connectors[d.connector].team;
                d.offer_expires_ms = now_ms + rule->accept_within_s * 1000;
                goto decided;
        }

        /* none free: the forecast */
        struct forecast fc;
        size_t eligible = 0;

        for (size_t i = 0; i < n; i++)
                eligible += !cs[i].skipped;
        if (eligible) {
                rc = forecast(rules, state, cs, n, now_ms, &fc);
                if (rc < 0)
                        goto out;
        } else {
                memset(&fc, 0, sizeof fc);
        }
        bool in_window = fc.found && fc.slot < d.start_by_ms;
        if (tr) {
                json_t *f = json_object();

                jset(&oom, f, "candidates", json_integer((json_int_t)eligible));
                jset(&oom, f, "slots", json_integer((json_int_t)fc.n_slots));
                jset(&oom, f, "waiting_ahead", json_integer((json_int_t)fc.waiting_ahead));
                jset(&oom, f, "expected_start", fc.found ? json_integer(fc.slot) : json_null());
                jset(&oom, f, "start_by", json_integer(d.start_by_ms));
                jset(&oom, f, "within_window", json_boolean(in_window));
                jset(&oom, tr, "forecast", f);
        }
        if (in_window) {
                d.status = RD_STATUS_WAITLISTED;
                d.expected_start_ms = fc.slot;
                goto decided;
        }
        jset(&oom, tr, "otherwise",
             json_string(rule->otherwise == RD_OTHERWISE_FORWARD ? "forward" : "waitlist"));
        if (rule->otherwise == RD_OTHERWISE_FORWARD) {
                d.status = RD_STATUS_FORWARDED;
                d.start_by_ms = 0; /* a forwarded referral has no window */
                d.forward_to = rule->otherwise_to;
                d.reason = rule->otherwise_reason;
        } else {
                d.status = RD_STATUS_WAITLISTED;
                d.expected_start_ms = fc.found ? fc.slot : 0;
        }

decided:
        if (d.status == RD_STATUS_FORWARDED)
                jset(&oom, tr, "forward_to", json_string(rules->targets[d.forward_to].id));
        if (d.status == RD_STATUS_ASSIGNED) {
                jset(&oom, tr, "connector", json_string(rules->connectors[d.connector].id));
                jset(&oom, tr, "team", json_string(rules->teams[d.team].id));
        }
        jset(&oom, tr, "decision", json_string(rd_status_name(d.status)));
        if (oom) {
                rc = -ENOMEM;
                goto out;
        }
        *out = d;
        if (trace) {
                *trace = tr;
                tr = NULL;
        }
        rc = 0;
out:
        free(cs);
        json_decref(tr);
        return rc;
}

int rd_route_decide(const struct rd_referral *r, const struct rd_rules *rules,
                    const struct rd_route_state *state, int64_t now_ms, struct rd_decision *out,
                    json_t **trace)
{
        return decide(r, rules, state, SIZE_MAX, now_ms, now_ms, out, trace);
}

int rd_route_redecide(const struct rd_referral *r, const struct rd_rules *rules,
                      const struct rd_route_state *state, size_t rule, int64_t received_ms,
                      int64_t now_ms, struct rd_decision *out, json_t **trace)
{
        return decide(r, rules, state, rule, received_ms, now_ms, out, trace);
}
