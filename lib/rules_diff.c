/* rules_diff.c: see rules_diff.h. Each part of a routing file becomes a
 * JSON object of its settings (one function per kind of part); the diff
 * compares those objects key by key. */
#include "rules_diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- settings as values ---------------------------------------------------------- */

/* SECONDS as routing.md writes a duration, in the largest unit that holds
 * it whole ("30d", "36h", "90s"). */
static json_t *duration(int64_t seconds)
{
        static const struct {
                int64_t s;
                char unit;
        } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
        char buf[32];

        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
                if (seconds > 0 && seconds % units[i].s == 0) {
                        snprintf(buf, sizeof buf, "%lld%c", (long long)(seconds / units[i].s),
                                 units[i].unit);
                        return json_string(buf);
                }
        return json_string("0s");
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The N strings at V as a JSON array, sorted when SORTED (a set). */
static json_t *strings(const char *const *v, size_t n, bool sorted)
{
        const char **copy = calloc(n + 1, sizeof *copy);
        json_t *a = json_array();

        if (!copy || !a) {
                free(copy);
                json_decref(a);
                return NULL;
        }
        if (n)
                memcpy(copy, v, n * sizeof *copy);
        if (sorted && n > 1)
                qsort(copy, n, sizeof *copy, cmp_str);
        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_string(copy[i]));
        free(copy);
        return a;
}

static json_t *strlist(const struct rd_strlist *l, bool sorted)
{
        return strings((const char *const *)l->v, l->n, sorted);
}

static json_t *postcodes(const struct rd_postcode_range *p, size_t n)
{
        json_t *a = json_array();
        char buf[16];

        for (size_t i = 0; a && i < n; i++) {
                if (p[i].lo == p[i].hi)
                        snprintf(buf, sizeof buf, "%u", p[i].lo);
                else
                        snprintf(buf, sizeof buf, "%u-%u", p[i].lo, p[i].hi);
                json_array_append_new(a, json_string(buf));
        }
        return a;
}

/* The names of the bits set in BITS, NAME(i) for bit i < MAX. */
static json_t *bit_names(unsigned bits, unsigned max, const char *(*name)(unsigned))
{
        json_t *a = json_array();

        for (unsigned i = 0; a && i < max; i++)
                if (bits & (1u << i))
                        json_array_append_new(a, json_string(name(i)));
        return a;
}

static const char *kind_name(unsigned i)
{
        return rd_kind_name((enum rd_kind)i);
}

static const char *urgency_name(unsigned i)
{
        return rd_urgency_name((enum rd_urgency)i);
}

/* The ids of the N teams of RULES at IDX, sorted (a set). */
static json_t *team_ids(const struct rd_rules *rules, const size_t *idx, size_t n)
{
        const char **ids = calloc(n + 1, sizeof *ids);
        json_t *a;

        if (!ids)
                return NULL;
        for (size_t i = 0; i < n; i++)
                ids[i] = rules->teams[idx[i]].id;
        a = strings(ids, n, true);
        free(ids);
        return a;
}

/* ---- one object per part ---------------------------------------------------------- */

static json_t *defaults_json(const struct rd_rules *r)
{
        return json_pack("{s:o, s:o, s:o, s:o}", "window", duration(r->window_s), "accept_within",
                         duration(r->accept_within_s), "at_risk", duration(r->at_risk_s),
                         "trajectory", duration(r->trajectory_s));
}

static json_t *team_json(const struct rd_rules *r, size_t t)
{
        const struct rd_team *team = &r->teams[t];
        const char **ids = calloc(team->n_connectors + 1, sizeof *ids);
        json_t *o;

        if (!ids)
                return NULL;
        for (size_t i = 0; i < team->n_connectors; i++)
                ids[i] = r->connectors[team->connectors[i]].id;
        /* file order: round robin follows it */
        o = json_pack("{s:o, s:o}", "postcodes",
                      team->has_postcodes ? postcodes(team->postcodes, team->n_postcodes)
                                          : json_null(),
                      "connectors", strings(ids, team->n_connectors, false));
        free(ids);
        return o;
}

static json_t *connector_json(const struct rd_rules *r, size_t c)
{
        const struct rd_connector *cn = &r->connectors[c];
        return json_pack("{s:s, s:I, s:o, s:o}", "team", r->teams[cn->team].id, "capacity",
                         (json_int_t)cn->capacity, "skills", strlist(&cn->skills, true),
                         "languages", strlist(&cn->languages, true));
}

static json_t *target_json(const struct rd_rules *r, size_t t)
{
        return json_pack("{s:s?}", "name", r->targets[t].name);
}

/* The settings of a rule's `when` into O ("when.KEY"), those given only. */
static void when_json(const struct rd_when *w, json_t *o)
{
        if (w->has_kind)
                json_object_set_new(o, "when.kind", bit_names(w->kinds, RD_KIND__MAX, kind_name));
        if (w->has_urgency)
                json_object_set_new(o, "when.urgency",
                                    bit_names(w->urgencies, RD_URGENCY__MAX, urgency_name));
        if (w->has_partner)
                json_object_set_new(o, "when.partner", strlist(&w->partners, true));
        if (w->has_postcode)
                json_object_set_new(o, "when.postcode", postcodes(w->postcodes, w->n_postcodes));
        if (w->has_age)
                json_object_set_new(
                        o, "when.age",
                        json_sprintf("%u-%u", (unsigned)w->age_lo, (unsigned)w->age_hi));
        if (w->has_language)
                json_object_set_new(o, "when.language", strlist(&w->languages, true));
        if (w->has_concerns)
                json_object_set_new(o, "when.concerns",
                                    json_pack("{s:o, s:o, s:o}", "any",
                                              strlist(&w->concerns_any, true), "all",
                                              strlist(&w->concerns_all, true), "none",
                                              strlist(&w->concerns_none, true)));
}

/* A forward (to TARGET with REASON) as one value. */
static json_t *forward_json(const struct rd_rules *r, size_t target, const char *reason)
{
        return json_pack("{s:s, s:s}", "to", r->targets[target].id, "reason", reason ? reason : "");
}

static void assign_json(const struct rd_rules *r, const struct rd_rule *rule, json_t *o)
{
        static const char *const languages[] = {"prefer", "require", "ignore"};
        static const char *const picks[] = {"least_loaded", "round_robin"};

        json_object_set_new(o, "assign.teams", team_ids(r, rule->teams, rule->n_teams));
        json_object_set_new(o, "assign.by_postcode", json_boolean(rule->by_postcode));
        json_object_set_new(o, "assign.skill",
                            rule->skill ? json_string(rule->skill) : json_null()); /* its kind */
        json_object_set_new(o, "assign.language", json_string(languages[rule->language]));
        json_object_set_new(o, "assign.pick", json_string(picks[rule->pick]));
        json_object_set_new(o, "window", duration(rule->window_s));
        json_object_set_new(o, "accept_within", duration(rule->accept_within_s));
        json_object_set_new(o, "otherwise",
                            rule->otherwise == RD_OTHERWISE_FORWARD
                                    ? forward_json(r, rule->otherwise_to, rule->otherwise_reason)
                                    : json_string("waitlist"));
}

static json_t *rule_json(const struct rd_rules *r, size_t i)
{
        const struct rd_rule *rule = &r->rules[i];
        json_t *o = json_object();

        if (!o)
                return NULL;
        when_json(&rule->when, o);
        if (rule->action == RD_ACTION_FORWARD)
                json_object_set_new(o, "forward",
                                    forward_json(r, rule->forward_to, rule->forward_reason));
        else
                assign_json(r, rule, o);
        return o;
}

/* ---- the diff ------------------------------------------------------------------------ */

/* A kind of part: how many a file has, the id and the settings of each. */
struct kind {
        const char *name;
        size_t (*count)(const struct rd_rules *r);
        const char *(*id)(const struct rd_rules *r, size_t i);
        json_t *(*settings)(const struct rd_rules *r, size_t i);
};

static size_t n_teams(const struct rd_rules *r)
{
        return r->n_teams;
}
static size_t n_connectors(const struct rd_rules *r)
{
        return r->n_connectors;
}
static size_t n_targets(const struct rd_rules *r)
{
        return r->n_targets;
}
static size_t n_rules(const struct rd_rules *r)
{
        return r->n_rules;
}
static size_t n_one(const struct rd_rules *r)
{
        (void)r;
        return 1;
}
static const char *team_id(const struct rd_rules *r, size_t i)
{
        return r->teams[i].id;
}
static const char *connector_id(const struct rd_rules *r, size_t i)
{
        return r->connectors[i].id;
}
static const char *target_id(const struct rd_rules *r, size_t i)
{
        return r->targets[i].id;
}
static const char *rule_id(const struct rd_rules *r, size_t i)
{
        return r->rules[i].name;
}
static const char *defaults_id(const struct rd_rules *r, size_t i)
{
        (void)r;
        (void)i;
        return "defaults";
}
static json_t *defaults_settings(const struct rd_rules *r, size_t i)
{
        (void)i;
        return defaults_json(r);
}

static const struct kind kinds[] = {
        {"defaults", n_one, defaults_id, defaults_settings},
        {"team", n_teams, team_id, team_json},
        {"connector", n_connectors, connector_id, connector_json},
        {"forward_target", n_targets, target_id, target_json},
        {"rule", n_rules, rule_id, rule_json},
};

/* The index of the part of kind K with ID in R, or -1. */
static long find(const struct kind *k, const struct rd_rules *r, const char *id)
{
        for (size_t i = 0; i < k->count(r); i++)
                if (!strcmp(k->id(r, i), id))
                        return (long)i;
        return -1;
}

/* {"key", "before", "after"} for every key whose value differs. */
static json_t *changed_keys(json_t *before, json_t *after)
{
        json_t *what = json_array(), *merged = json_deep_copy(after), *v;
        const char *key;

        /* in the order of NEW's settings, then those only OLD has */
        if (!what || !merged || json_object_update_missing(merged, before) < 0) {
                json_decref(what);
                json_decref(merged);
                return NULL;
        }
        json_object_foreach(merged, key, v)
        {
                json_t *b = json_object_get(before, key), *a = json_object_get(after, key);
                if (!json_equal(b ? b : json_null(), a ? a : json_null()))
                        json_array_append_new(what, json_pack("{s:s, s:O, s:O}", "key", key,
                                                              "before", b ? b : json_null(),
                                                              "after", a ? a : json_null()));
        }
        json_decref(merged);
        return what;
}

static int add_item(json_t *out, const char *kind, const char *id, const char *change, json_t *what)
{
        json_t *it = json_pack("{s:s, s:s, s:s}", "kind", kind, "id", id, "change", change);

        if (it && what)
                json_object_set_new(it, "what", what);
        else
                json_decref(what);
        return it ? json_array_append_new(out, it) : -1;
}

/* The part NEW_I of kind K in NEW against the same id in OLD. */
static int diff_one(json_t *out, const struct kind *k, const struct rd_rules *old,
                    const struct rd_rules *new_rules, size_t new_i)
{
        const char *id = k->id(new_rules, new_i);
        long old_i = find(k, old, id);
        json_t *before, *after, *what;
        int r;

        if (old_i < 0)
                return add_item(out, k->name, id, "added", NULL);
        before = k->settings(old, (size_t)old_i);
        after = k->settings(new_rules, new_i);
        what = before && after ? changed_keys(before, after) : NULL;
        json_decref(before);
        json_decref(after);
        if (!what)
                return -1;
        if (json_array_size(what) == 0) {
                json_decref(what);
                return 0;
        }
        r = add_item(out, k->name, id, "changed", what);
        return r;
}

static int diff_kind(json_t *out, const struct kind *k, const struct rd_rules *old,
                     const struct rd_rules *new_rules)
{
        for (size_t i = 0; i < k->count(new_rules); i++)
                if (diff_one(out, k, old, new_rules, i) < 0)
                        return -1;
        for (size_t i = 0; i < k->count(old); i++)
                if (find(k, new_rules, k->id(old, i)) < 0 &&
                    add_item(out, k->name, k->id(old, i), "removed", NULL) < 0)
                        return -1;
        return 0;
}

/* The names of the rules of A that B has too, in A's order. */
static json_t *common_rules(const struct rd_rules *a, const struct rd_rules *b)
{
        json_t *names = json_array();

        for (size_t i = 0; names && i < a->n_rules; i++)
                if (rd_rules_rule_index(b, a->rules[i].name) >= 0)
                        json_array_append_new(names, json_string(a->rules[i].name));
        return names;
}

static int diff_order(json_t *out, const struct rd_rules *old, const struct rd_rules *new_rules)
{
        json_t *before = common_rules(old, new_rules), *after = common_rules(new_rules, old);
        int r = before && after ? 0 : -1;

        if (r == 0 && !json_equal(before, after))
                r = add_item(out, "order", "rules", "changed",
                             json_pack("[{s:s, s:O, s:O}]", "key", "rules", "before", before,
                                       "after", after));
        json_decref(before);
        json_decref(after);
        return r;
}

json_t *rd_rules_diff(const struct rd_rules *old, const struct rd_rules *new_rules)
{
        json_t *out = json_array();

        for (size_t k = 0; out && k < sizeof kinds / sizeof kinds[0]; k++)
                if (diff_kind(out, &kinds[k], old, new_rules) < 0) {
                        json_decref(out);
                        return NULL;
                }
        if (out && diff_order(out, old, new_rules) < 0) {
                json_decref(out);
                return NULL;
        }
        return out;
}
