/* rules_reach.c: (rev 2) the warnings of `rules check` about what can never
 * happen (routing.md, "Checking and reloading"), worked out in a file
 * without errors (rules_impl.h).
 *
 * "Can ever" means: for some referral a partner may submit, arriving with
 * every connector free and nobody having declined. It is worked out from
 * the `when` keys, rule by rule and kind by kind:
 * - A referral of kind K reaches rule R when R's `when` allows K and no
 *   single earlier rule matches every referral of kind K that R matches
 *   (judged as the shadowed-rule warning judges: sound, not complete, so
 *   that a warning is given only when it is sure). A rule no kind reaches
 *   never applies.
 * - The skill rule R asks for is its `skill`, else the kind of the
 *   referral: any kind that reaches R.
 * - Connector C can get an offer from R when a kind reaches R, C's team is
 *   in R's `teams` (with by_postcode: a team with postcodes, and when R's
 *   `when` names postcodes, at least one of them) or in its `overflow`, C
 *   has the skill R asks for, and, with `language: require` and a
 *   `when.language`, C speaks one of those languages. Without
 *   `when.language` a family may give no language, and then `require`
 *   filters nobody.
 * - `partner`, `urgency`, `age` and `concerns` choose no candidate: they
 *   only decide whether a rule applies. Loads, declines and `pick` play no
 *   part: any candidate may be the only one free.
 * - A team can get an offer when one of its connectors can (a team without
 *   connectors has its own warning, rules_check.c). A forward target can
 *   be forwarded to by a forward rule that applies, or by the `otherwise`
 *   of an assign rule that applies (nobody free and no place within the
 *   window can always happen). */
#include "rules_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define ALL_KINDS ((1u << RD_KIND__MAX) - 1)
#define REASONS_SHOWN 3 /* rules named in one warning, then "and N more" */

/* Why a rule can never offer to a connector, in the order it is checked:
 * the larger, the nearer the connector came. */
enum miss { MISS_NONE = 0, MISS_NEVER_APPLIES, MISS_POSTCODE, MISS_SKILL, MISS_LANGUAGE };

/* ---- a message built in parts -------------------------------------------- */

struct text {
        char s[1024];
        size_t n;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
        va_list ap;
        int k;

        if (t->n >= sizeof t->s - 1)
                return;
        va_start(ap, fmt);
        k = vsnprintf(t->s + t->n, sizeof t->s - t->n, fmt, ap);
        va_end(ap);
        if (k > 0)
                t->n += (size_t)k < sizeof t->s - t->n ? (size_t)k : sizeof t->s - 1 - t->n;
}

/* The words of L as "'a'", "'a' or 'b'", "'a', 'b' or 'c'". */
static void text_words(struct text *t, const char *const *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                text_add(t, "%s'%s'", i == 0 ? "" : i + 1 == n ? " or " : ", ", v[i]);
}

/* The skill rule RULE asks for when KINDS reach it. */
static void text_skill(struct text *t, const struct rd_rule *rule, unsigned kinds)
{
        const char *v[RD_KIND__MAX];
        size_t n = 0;

        if (rule->skill) {
                text_words(t, (const char *const *)&rule->skill, 1);
                return;
        }
        for (int k = 0; k < RD_KIND__MAX; k++)
                if (kinds & (1u << k))
                        v[n++] = rd_kind_name((enum rd_kind)k);
        text_words(t, v, n);
}

/* ---- what reaches a rule ---------------------------------------------------- */

/* Does a rule before RI match every referral L matches? */
static bool taken_earlier(const struct rd_rules *r, size_t ri, const struct rd_when *l)
{
        for (size_t e = 0; e < ri; e++)
                if (rules_when_covers(&r->rules[e].when, l))
                        return true;
        return false;
}

/* The kinds of referral that reach rule RI with the `when` W (the rule's,
 * or a part of it), as bits (1u << enum rd_kind). */
static unsigned kinds_reaching(const struct rd_rules *r, size_t ri, const struct rd_when *w)
{
        unsigned out = 0;

        for (int k = 0; k < RD_KIND__MAX; k++) {
                struct rd_when l = *w;

                if (w->has_kind && !(w->kinds & (1u << k)))
                        continue;
                l.has_kind = true;
                l.kinds = 1u << k;
                if (!taken_earlier(r, ri, &l))
                        out |= 1u << k;
        }
        return out;
}

static bool has_skill(const struct rd_connector *cn, const struct rd_rule *rule, unsigned kinds)
{
        if (rule->skill)
                return rules_strlist_has(&cn->skills, rule->skill);
        for (int k = 0; k < RD_KIND__MAX; k++)
                if ((kinds & (1u << k)) &&
                    rules_strlist_has(&cn->skills, rd_kind_name((enum rd_kind)k)))
                        return true;
        return false;
}

static bool speaks(const struct rd_connector *cn, const struct rd_rule *rule)
{
        if (rule->language != RD_LANG_REQUIRE || !rule->when.has_language)
                return true;
        for (size_t i = 0; i < rule->when.languages.n; i++)
                if (rules_strlist_has(&cn->languages, rule->when.languages.v[i]))
                        return true;
        return false;
}

/* by_postcode: may team T be a first-rank candidate of RULE at all? */
static bool serves_some(const struct rd_rule *rule, const struct rd_team *t)
{
        const struct rd_when *w = &rule->when;

        if (!rule->by_postcode)
                return true;
        if (!t->has_postcodes)
                return false;
        if (!w->has_postcode)
                return true;
        for (size_t i = 0; i < w->n_postcodes; i++)
                for (size_t j = 0; j < t->n_postcodes; j++)
                        if (w->postcodes[i].lo <= t->postcodes[j].hi &&
                            t->postcodes[j].lo <= w->postcodes[i].hi)
                                return true;
        return false;
}

/* 1: team T is in RULE's teams, 2: in its overflow, 0: neither. */
static int rank_of(const struct rd_rule *rule, size_t t)
{
        if (rule->action != RD_ACTION_ASSIGN)
                return 0;
        for (size_t j = 0; j < rule->n_teams; j++)
                if (rule->teams[j] == t)
                        return 1;
        for (size_t j = 0; j < rule->n_overflow; j++)
                if (rule->overflow[j] == t)
                        return 2;
        return 0;
}

/* Why rule RI (reached by KINDS) can never offer to connector CI of one of
 * its teams, or MISS_NONE. */
static enum miss connector_miss(const struct rd_rules *r, size_t ri, unsigned kinds, size_t ci)
{
        const struct rd_rule *rule = &r->rules[ri];
        const struct rd_connector *cn = &r->connectors[ci];

        if (!kinds)
                return MISS_NEVER_APPLIES;
        if (rank_of(rule, cn->team) == 1 && !serves_some(rule, &r->teams[cn->team]))
                return MISS_POSTCODE;
        if (!has_skill(cn, rule, kinds))
                return MISS_SKILL;
        if (!speaks(cn, rule))
                return MISS_LANGUAGE;
        return MISS_NONE;
}

/* ---- a team or a connector nothing can offer to ---------------------------- */

/* Why rule RULE (reached by KINDS) cannot offer to team TEAM (WHOLE_TEAM:
 * to any of its connectors) or to one connector of it, for MISS. */
static void text_miss(struct text *t, const struct rd_rule *rule, unsigned kinds, enum miss miss,
                      const struct rd_team *team, bool whole_team)
{
        text_add(t, "rule '%s' ", rule->name);
        switch (miss) {
        case MISS_NONE:
        case MISS_NEVER_APPLIES: text_add(t, "never applies"); break;
        case MISS_POSTCODE:
                text_add(t, "picks by postcode and team '%s' %s", team->id,
                         team->has_postcodes ? "serves none of its postcodes" : "has no postcodes");
                break;
        case MISS_SKILL:
                text_add(t, "asks for the skill ");
                text_skill(t, rule, kinds);
                if (whole_team)
                        text_add(t, ", which no connector of team '%s' has", team->id);
                else
                        text_add(t, ", which the connector lacks");
                break;
        case MISS_LANGUAGE:
                text_add(t, "requires one of the languages ");
                text_words(t, (const char *const *)rule->when.languages.v, rule->when.languages.n);
                if (whole_team)
                        text_add(t, ", which no connector of team '%s' with the skill speaks",
                                 team->id);
                else
                        text_add(t, ", which the connector does not speak");
                break;
        }
}

/* Per rule, the kinds that reach it. */
struct reach {
        const struct rd_rules *r;
        unsigned *kinds;
};

/* Why each rule naming team T cannot offer to connector CI (or, with CI
 * == SIZE_MAX, to any connector of T) into TEXT. Returns how many naming
 * rules there are and, in *ALL_SKILL, whether every one misses on skill. */
static size_t text_misses(struct text *t, const struct reach *rc, size_t team, size_t ci,
                          bool *all_skill)
{
        const struct rd_rules *r = rc->r;
        const struct rd_team *tm = &r->teams[team];
        size_t named = 0;

        *all_skill = true;
        for (size_t ri = 0; ri < r->n_rules; ri++) {
                enum miss miss = MISS_NONE;

                if (!rank_of(&r->rules[ri], team))
                        continue;
                if (ci != SIZE_MAX)
                        miss = connector_miss(r, ri, rc->kinds[ri], ci);
                for (size_t k = 0; ci == SIZE_MAX && k < tm->n_connectors; k++) {
                        enum miss m = connector_miss(r, ri, rc->kinds[ri], tm->connectors[k]);
                        miss = m > miss ? m : miss;
                }
                *all_skill &= miss == MISS_SKILL;
                if (named < REASONS_SHOWN) {
                        text_add(t, "%s", named ? "; " : "");
                        text_miss(t, &r->rules[ri], rc->kinds[ri], miss, tm, ci == SIZE_MAX);
                }
                named++;
        }
        if (named > REASONS_SHOWN)
                text_add(t, "; and %zu more rules", named - REASONS_SHOWN);
        return named;
}

static bool connector_reachable(const struct reach *rc, size_t ci)
{
        const struct rd_rules *r = rc->r;

        for (size_t ri = 0; ri < r->n_rules; ri++)
                if (rank_of(&r->rules[ri], r->connectors[ci].team) &&
                    connector_miss(r, ri, rc->kinds[ri], ci) == MISS_NONE)
                        return true;
        return false;
}

/* Team T none of whose connectors can get an offer: one warning, at the
 * team, in place of one per connector. */
static void warn_team(struct rules_ctx *c, const struct reach *rc, size_t t)
{
        struct text tx = {.n = 0};
        bool all_skill;

        if (!text_misses(&tx, rc, t, SIZE_MAX, &all_skill))
                text_add(&tx, "no rule names it in 'teams' or 'overflow'");
        rd_yaml_report(c->y, RD_DIAG_WARNING, c->teams[t].id,
                       "team '%s' can never get an offer: %s", c->rules->teams[t].id, tx.s);
}

static void warn_connector(struct rules_ctx *c, const struct reach *rc, size_t ci)
{
        const struct rd_connector *cn = &c->rules->connectors[ci];
        struct text tx = {.n = 0};
        bool all_skill;

        text_misses(&tx, rc, cn->team, ci, &all_skill);
        if (all_skill)
                rd_yaml_report(c->y, RD_DIAG_WARNING, c->conn_ids[ci],
                               "connector '%s' can never get an offer: no rule assigns to team "
                               "'%s' with a skill the connector has",
                               cn->id, c->rules->teams[cn->team].id);
        else
                rd_yaml_report(c->y, RD_DIAG_WARNING, c->conn_ids[ci],
                               "connector '%s' can never get an offer: %s", cn->id, tx.s);
}

static void check_teams_and_connectors(struct rules_ctx *c, const struct reach *rc)
{
        const struct rd_rules *r = c->rules;
        bool *ok = calloc(r->n_connectors + 1, sizeof *ok);

        if (!ok) {
                c->oom = true;
                return;
        }
        for (size_t ci = 0; ci < r->n_connectors; ci++)
                ok[ci] = connector_reachable(rc, ci);
        for (size_t t = 0; t < r->n_teams; t++) {
                const struct rd_team *tm = &r->teams[t];
                bool any = false;

                for (size_t k = 0; k < tm->n_connectors; k++)
                        any |= ok[tm->connectors[k]];
                if (!any && tm->n_connectors)
                        warn_team(c, rc, t);
                for (size_t k = 0; any && k < tm->n_connectors; k++)
                        if (!ok[tm->connectors[k]])
                                warn_connector(c, rc, tm->connectors[k]);
        }
        free(ok);
}

/* ---- a forward target nothing forwards to ---------------------------------- */

static void check_targets(struct rules_ctx *c, const struct reach *rc)
{
        const struct rd_rules *r = c->rules;

        for (size_t t = 0; t < r->n_targets; t++) {
                struct text tx = {.n = 0};
                size_t named = 0;
                bool reached = false;

                for (size_t ri = 0; ri < r->n_rules && !reached; ri++) {
                        const struct rd_rule *rule = &r->rules[ri];
                        bool names = rule->action == RD_ACTION_FORWARD
                                             ? rule->forward_to == t
                                             : rule->otherwise == RD_OTHERWISE_FORWARD &&
                                                       rule->otherwise_to == t;

                        if (!names)
                                continue;
                        reached = rc->kinds[ri] != 0;
                        if (named++ < REASONS_SHOWN)
                                text_add(&tx, "%s'%s'", named > 1 ? ", " : "", rule->name);
                }
                if (reached)
                        continue;
                if (named > REASONS_SHOWN)
                        text_add(&tx, " and %zu more", named - REASONS_SHOWN);
                if (!named)
                        rd_yaml_report(c->y, RD_DIAG_WARNING, c->target_ids[t],
                                       "forward target '%s' can never be forwarded to: no rule "
                                       "forwards to it",
                                       r->targets[t].id);
                else
                        rd_yaml_report(c->y, RD_DIAG_WARNING, c->target_ids[t],
                                       "forward target '%s' can never be forwarded to: the "
                                       "rules that forward to it never apply (%s)",
                                       r->targets[t].id, tx.s);
        }
}

/* ---- a rule that can offer to nobody ------------------------------------------ */

/* Rule RI that applies, with candidates, none of whom has the skill it
 * asks for, or (language: require) none with it speaks a language its
 * `when` allows. */
static void check_rule_skill(struct rules_ctx *c, const struct reach *rc, size_t ri)
{
        const struct rd_rules *r = c->rules;
        const struct rd_rule *rule = &r->rules[ri];
        const struct rule_side *side = &c->rule_pos[ri];
        size_t cands = 0, skilled = 0, speaking = 0;
        struct text tx = {.n = 0};

        for (size_t ci = 0; ci < r->n_connectors; ci++) {
                const struct rd_connector *cn = &r->connectors[ci];

                if (!rank_of(rule, cn->team))
                        continue;
                cands++;
                if (has_skill(cn, rule, rc->kinds[ri])) {
                        skilled++;
                        speaking += speaks(cn, rule);
                }
        }
        if (!cands || speaking)
                return;
        text_skill(&tx, rule, rc->kinds[ri]);
        if (!skilled) {
                rd_yaml_report(c->y, RD_DIAG_WARNING, rule->skill ? side->skill : side->teams,
                               "rule '%s' can never make an offer: no connector of its teams%s "
                               "has the skill %s",
                               rule->name, rule->n_overflow ? " or overflow teams" : "", tx.s);
                return;
        }
        text_add(&tx, " speaks ");
        text_words(&tx, (const char *const *)rule->when.languages.v, rule->when.languages.n);
        rd_yaml_report(c->y, RD_DIAG_WARNING, side->language,
                       "rule '%s' can never make an offer: language: require, and no connector "
                       "of its teams%s with the skill %s",
                       rule->name, rule->n_overflow ? " or overflow teams" : "", tx.s);
}

/* ---- postcodes no team of a by_postcode rule serves ---------------------------- */

/* Is postcode CODE served by a team of RULE? */
static bool served(const struct rd_rules *r, const struct rd_rule *rule, unsigned code)
{
        for (size_t j = 0; j < rule->n_teams; j++) {
                const struct rd_team *t = &r->teams[rule->teams[j]];

                if (t->has_postcodes && rules_pc_in(t->postcodes, t->n_postcodes, code))
                        return true;
        }
        return false;
}

/* Does a referral with postcode CODE reach rule RI? */
static bool code_reaches(const struct rd_rules *r, size_t ri, unsigned code)
{
        struct rd_when l = r->rules[ri].when;
        struct rd_postcode_range one = {(uint16_t)code, (uint16_t)code};

        l.postcodes = &one;
        l.n_postcodes = 1;
        return kinds_reaching(r, ri, &l) != 0;
}

/* Range J of rule RI's when.postcode: the postcodes that reach the rule
 * but no team of it serves, with the first run of them named. */
static void check_when_range(struct rules_ctx *c, size_t ri, size_t j)
{
        const struct rd_rules *r = c->rules;
        const struct rd_rule *rule = &r->rules[ri];
        const struct rd_postcode_range *pr = &rule->when.postcodes[j];
        unsigned lo = 0, hi = 0, n = 0;
        bool run_ended = false;
        char run[32], more[48] = "";

        for (unsigned code = pr->lo; code <= pr->hi; code++) {
                if (served(r, rule, code) || !code_reaches(r, ri, code)) {
                        run_ended = n > 0;
                        continue;
                }
                if (n++ == 0)
                        lo = code;
                if (!run_ended)
                        hi = code;
        }
        if (!n)
                return;
        if (lo == hi)
                snprintf(run, sizeof run, "postcode %u", lo);
        else
                snprintf(run, sizeof run, "postcodes %u-%u", lo, hi);
        if (n > hi - lo + 1)
                snprintf(more, sizeof more, " (and %u more in this range)", n - (hi - lo + 1));
        rd_yaml_report(c->y, RD_DIAG_WARNING, c->rule_pos[ri].when_pc[j],
                       "rule '%s' takes %s%s, which no team of the rule serves (by_postcode: "
                       "true): %s",
                       rule->name, run, more,
                       rule->n_overflow ? "such referrals can only be offered to its overflow teams"
                                        : "such referrals would wait with no candidate");
}

/* ---- all of them ---------------------------------------------------------------- */

void rules_reach_checks(struct rules_ctx *c)
{
        const struct rd_rules *r = c->rules;
        struct reach rc = {.r = r, .kinds = calloc(r->n_rules + 1, sizeof *rc.kinds)};

        if (!rc.kinds) {
                c->oom = true;
                return;
        }
        for (size_t ri = 0; ri < r->n_rules; ri++)
                rc.kinds[ri] = kinds_reaching(r, ri, &r->rules[ri].when);
        for (size_t ri = 0; ri < r->n_rules; ri++) {
                const struct rd_rule *rule = &r->rules[ri];

                if (rule->action != RD_ACTION_ASSIGN || !rc.kinds[ri])
                        continue;
                if (rule->by_postcode && rule->when.has_postcode)
                        for (size_t j = 0; j < rule->when.n_postcodes; j++)
                                check_when_range(c, ri, j);
                check_rule_skill(c, &rc, ri);
        }
        check_teams_and_connectors(c, &rc);
        check_targets(c, &rc);
        free(rc.kinds);
}
