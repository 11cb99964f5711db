/* rules_check.c: the checks across the parts of a routing file
 * (rules_impl.h): the catch-all, rules that can never apply, teams without
 * connectors, postcodes in two teams. What nothing can ever reach is
 * rules_reach.c. */
#include "rules_impl.h"

#include <stdint.h>
#include <string.h>

bool rules_pc_in(const struct rd_postcode_range *r, size_t n, unsigned code)
{
        for (size_t i = 0; i < n; i++)
                if (code >= r[i].lo && code <= r[i].hi)
                        return true;
        return false;
}

static bool strlist_subset(const struct rd_strlist *a, const struct rd_strlist *b)
{
        for (size_t i = 0; i < a->n; i++)
                if (!rules_strlist_has(b, a->v[i]))
                        return false;
        return true;
}

static bool pc_covers(const struct rd_postcode_range *e, size_t ne,
                      const struct rd_postcode_range *l, size_t nl)
{
        for (size_t i = 0; i < nl; i++)
                for (unsigned code = l[i].lo; code <= l[i].hi; code++)
                        if (!rules_pc_in(e, ne, code))
                                return false;
        return true;
}

static bool lists_meet(const struct rd_strlist *a, const struct rd_strlist *b)
{
        for (size_t i = 0; i < a->n; i++)
                if (rules_strlist_has(b, a->v[i]))
                        return true;
        return false;
}

/* Each key of E must hold for every referral L lets through. */
bool rules_when_covers(const struct rd_when *e, const struct rd_when *l)
{
        const unsigned all_kinds = (1u << RD_KIND__MAX) - 1;
        const unsigned all_urgencies = (1u << RD_URGENCY__MAX) - 1;
        static const struct rd_postcode_range every = {1000, 9999};

        if (e->has_kind && (e->kinds & (l->has_kind ? l->kinds : all_kinds)) !=
                                   (l->has_kind ? l->kinds : all_kinds))
                return false;
        if (e->has_urgency && (e->urgencies & (l->has_urgency ? l->urgencies : all_urgencies)) !=
                                      (l->has_urgency ? l->urgencies : all_urgencies))
                return false;
        if (e->has_partner && (!l->has_partner || !strlist_subset(&l->partners, &e->partners)))
                return false;
        if (e->has_postcode) {
                if (l->has_postcode
                            ? !pc_covers(e->postcodes, e->n_postcodes, l->postcodes, l->n_postcodes)
                            : !pc_covers(e->postcodes, e->n_postcodes, &every, 1))
                        return false;
        }
        if (e->has_age) {
                /* a referral has at least one child, aged 0..RD_AGE_MAX */
                unsigned llo = l->has_age ? l->age_lo : 0,
                         lhi = l->has_age ? l->age_hi : RD_AGE_MAX;
                if (!(e->age_lo <= llo && lhi <= e->age_hi))
                        return false;
        }
        if (e->has_language && (!l->has_language || !strlist_subset(&l->languages, &e->languages)))
                return false;
        if (e->has_concerns) {
                /* L without concerns: all its lists are empty */
                if (!strlist_subset(&e->concerns_all, &l->concerns_all))
                        return false;
                if (!strlist_subset(&e->concerns_none, &l->concerns_none))
                        return false;
                if (e->concerns_any.n && !lists_meet(&l->concerns_all, &e->concerns_any) &&
                    !(l->concerns_any.n && strlist_subset(&l->concerns_any, &e->concerns_any)))
                        return false;
        }
        return true;
}

/* The last rule is the catch-all, and no rule follows one. Returns the
 * index of the first catch-all, or SIZE_MAX. */
static size_t check_catch_all(struct rules_ctx *c, yaml_node_t *rules_key, yaml_node_t *root)
{
        struct rd_rules *r = c->rules;
        size_t catch_all = SIZE_MAX;

        if (r->n_rules == 0) {
                if (rules_key)
                        rd_yaml_error(c->y, rules_key,
                                      "rules: at least one rule is needed, the last one without "
                                      "'when'");
                else
                        rd_yaml_error(c->y, root,
                                      "missing key 'rules': at least one rule is needed, the last "
                                      "one without 'when'");
                return SIZE_MAX;
        }
        for (size_t i = 0; i < r->n_rules && catch_all == SIZE_MAX; i++)
                if (r->rules[i].catch_all)
                        catch_all = i;
        if (catch_all == SIZE_MAX) {
                rd_yaml_report(c->y, RD_DIAG_ERROR, c->rule_pos[r->n_rules - 1].at,
                               "missing catch-all: the last rule '%s' must have no 'when', so "
                               "that every referral gets a decision",
                               r->rules[r->n_rules - 1].name);
                return SIZE_MAX;
        }
        for (size_t i = catch_all + 1; i < r->n_rules; i++)
                rd_yaml_report(c->y, RD_DIAG_ERROR, c->rule_pos[i].at,
                               "rule '%s' comes after the catch-all rule '%s' (no 'when') and can "
                               "never match: move it up or remove it",
                               r->rules[i].name, r->rules[catch_all].name);
        return catch_all;
}

/* Rules an earlier rule shadows, up to END (those after the catch-all are
 * errors already). */
static void check_shadowed(struct rules_ctx *c, size_t end)
{
        struct rd_rules *r = c->rules;

        for (size_t j = 1; j < end; j++)
                for (size_t i = 0; i < j && c->rule_pos[j].when_ok; i++)
                        if (c->rule_pos[i].when_ok &&
                            rules_when_covers(&r->rules[i].when, &r->rules[j].when)) {
                                rd_yaml_report(c->y, RD_DIAG_WARNING, c->rule_pos[j].at,
                                               "rule '%s' never applies: the earlier rule '%s' "
                                               "matches every referral it matches",
                                               r->rules[j].name, r->rules[i].name);
                                break;
                        }
}

/* Postcode range J of team T that an earlier team also lists: the first
 * overlap is reported. */
static void check_postcode_range(struct rules_ctx *c, size_t t, size_t j)
{
        const struct rd_postcode_range *pb = &c->rules->teams[t].postcodes[j];

        for (size_t a = 0; a < t; a++) {
                const struct rd_team *ta = &c->rules->teams[a];

                for (size_t k = 0; k < ta->n_postcodes; k++) {
                        unsigned lo = pb->lo > ta->postcodes[k].lo ? pb->lo : ta->postcodes[k].lo;
                        unsigned hi = pb->hi < ta->postcodes[k].hi ? pb->hi : ta->postcodes[k].hi;

                        if (lo > hi)
                                continue;
                        if (lo == hi)
                                rd_yaml_report(c->y, RD_DIAG_WARNING, c->teams[t].pc[j],
                                               "postcode %u is also in the list of team '%s'", lo,
                                               ta->id);
                        else
                                rd_yaml_report(c->y, RD_DIAG_WARNING, c->teams[t].pc[j],
                                               "postcodes %u-%u are also in the list of team '%s'",
                                               lo, hi, ta->id);
                        return;
                }
        }
}

/* Teams without connectors, postcodes in two teams. */
static void check_teams(struct rules_ctx *c)
{
        for (size_t t = 0; t < c->rules->n_teams; t++) {
                const struct rd_team *tb = &c->rules->teams[t];
                const struct team_side *ts = &c->teams[t];

                if (tb->n_connectors == 0)
                        rd_yaml_report(c->y, RD_DIAG_WARNING,
                                       ts->has_conn_key ? ts->conn_key : ts->id,
                                       "team '%s' has no connectors", tb->id);
                for (size_t j = 0; j < tb->n_postcodes; j++)
                        check_postcode_range(c, t, j);
        }
}

void rules_cross_checks(struct rules_ctx *c, yaml_node_t *rules_key, yaml_node_t *root)
{
        struct rd_rules *r = c->rules;
        size_t catch_all = check_catch_all(c, rules_key, root);

        check_shadowed(c, catch_all == SIZE_MAX ? r->n_rules : catch_all + 1);
        check_teams(c);
}
