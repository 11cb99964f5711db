/* rules_diff.c: see rules_diff.h. Each part of a routing file becomes a
 * JSON object of its settings (one function per kind of part; a rule's
 * and the defaults' as `rules show` renders them, lib/rules_show); the diff
 * compares those objects key by key. */
#include "rules_diff.h"

#include "rules_show.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- settings as values ---------------------------------------------------------- */

/* Both files, each with its rules as `rules show` has them (rd_rules_show_json),
 * so that a rule's settings are read in one place for both commands. */
struct side {
        const struct rd_rules *r;
        json_t *shown;
};

static int cmp_json_str(const void *a, const void *b)
{
        return strcmp(json_string_value(*(json_t *const *)a),
                      json_string_value(*(json_t *const *)b));
}

/* V as a set: a list of words sorted (a new reference), an object of such
 * lists each sorted, anything else as it is. */
static json_t *as_set(json_t *v)
{
        size_t n = json_array_size(v), i;
        json_t **items, *out, *x;
        const char *key;

        if (json_is_object(v)) {
                out = json_object();
                json_object_foreach(v, key, x) json_object_set_new(out, key, as_set(x));
                return out;
        }
        if (!json_is_array(v) || n < 2 || !json_is_string(json_array_get(v, 0)))
                return json_incref(v);
        items = calloc(n, sizeof *items);
        if (!items)
                return NULL;
        for (i = 0; i < n; i++)
                items[i] = json_array_get(v, i);
        qsort(items, n, sizeof *items, cmp_json_str);
        out = json_array();
        for (i = 0; out && i < n; i++)
                json_array_append(out, items[i]);
        free(items);
        return out;
}

/* The ids of TEAMS ([{"id", ...}], rules show's), sorted: the order of a
 * rule's teams expresses no preference. */
static json_t *team_ids(const json_t *teams)
{
        json_t *ids = json_array(), *t, *sorted;
        size_t i;

        json_array_foreach(teams, i, t) json_array_append(ids, json_object_get(t, "id"));
        sorted = as_set(ids);
        json_decref(ids);
        return sorted;
}

/* A forward as a rule has it: where to and why (the target's name is the
 * target's own setting). */
static json_t *forward_of(const json_t *target)
{
        return json_pack("{s:O, s:O}", "to", json_object_get(target, "to"), "reason",
                         json_object_get(target, "reason"));
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

static json_t *strlist(const struct rd_strlist *l)
{
        json_t *a = json_array(), *sorted;

        for (size_t i = 0; a && i < l->n; i++)
                json_array_append_new(a, json_string(l->v[i]));
        sorted = as_set(a);
        json_decref(a);
        return sorted;
}

/* ---- one object per part ---------------------------------------------------------- */

static json_t *defaults_json(const struct side *s, size_t i)
{
        (void)i;
        return json_deep_copy(json_object_get(s->shown, "defaults"));
}

static json_t *team_json(const struct side *s, size_t t)
{
        const struct rd_team *team = &s->r->teams[t];
        json_t *ids = json_array();

        /* file order: round robin follows it */
        for (size_t i = 0; ids && i < team->n_connectors; i++)
                json_array_append_new(ids, json_string(s->r->connectors[team->connectors[i]].id));
        return json_pack("{s:o, s:o}", "postcodes",
                         team->has_postcodes ? postcodes(team->postcodes, team->n_postcodes)
                                             : json_null(),
                         "connectors", ids);
}

static json_t *connector_json(const struct side *s, size_t c)
{
        const struct rd_connector *cn = &s->r->connectors[c];
        return json_pack("{s:s, s:I, s:o, s:o}", "team", s->r->teams[cn->team].id, "capacity",
                         (json_int_t)cn->capacity, "skills", strlist(&cn->skills), "languages",
                         strlist(&cn->languages));
}

static json_t *target_json(const struct side *s, size_t t)
{
        return json_pack("{s:s?}", "name", s->r->targets[t].name);
}

/* The settings of rule I, flat: "when.KEY", "forward", "assign.KEY",
 * "window", "accept_within", "otherwise". */
static json_t *rule_json(const struct side *s, size_t i)
{
        const json_t *rule = json_array_get(json_object_get(s->shown, "rules"), i);
        json_t *o = json_object(), *v, *fw;
        const char *key;
        char name[64];

        json_object_foreach(json_object_get(rule, "when"), key, v)
        {
                snprintf(name, sizeof name, "when.%s", key);
                json_object_set_new(o, name, as_set(v));
        }
        if ((fw = json_object_get(rule, "forward")))
                json_object_set_new(o, "forward", forward_of(fw));
        json_object_foreach(json_object_get(rule, "assign"), key, v)
        {
                bool teams = !strcmp(key, "teams") || !strcmp(key, "overflow");
                bool own = !strcmp(key, "window") || !strcmp(key, "accept_within");
                snprintf(name, sizeof name, "%s%s", own ? "" : "assign.", key);
                json_object_set_new(o, name, teams ? team_ids(v) : json_incref(v));
        }
        v = json_object_get(rule, "otherwise");
        if (json_is_object(v))
                json_object_set_new(o, "otherwise", forward_of(json_object_get(v, "forward")));
        else if (v)
                json_object_set(o, "otherwise", v);
        return o;
}

/* ---- the diff ------------------------------------------------------------------------ */

/* A kind of part: how many a file has, the id and the settings of each. */
struct kind {
        const char *name;
        size_t (*count)(const struct rd_rules *r);
        const char *(*id)(const struct rd_rules *r, size_t i);
        json_t *(*settings)(const struct side *s, size_t i);
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
static const struct kind kinds[] = {
        {"defaults", n_one, defaults_id, defaults_json},
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
static int diff_one(json_t *out, const struct kind *k, const struct side *old,
                    const struct side *new_side, size_t new_i)
{
        const char *id = k->id(new_side->r, new_i);
        long old_i = find(k, old->r, id);
        json_t *before, *after, *what;
        int r;

        if (old_i < 0)
                return add_item(out, k->name, id, "added", NULL);
        before = k->settings(old, (size_t)old_i);
        after = k->settings(new_side, new_i);
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

static int diff_kind(json_t *out, const struct kind *k, const struct side *old,
                     const struct side *new_side)
{
        for (size_t i = 0; i < k->count(new_side->r); i++)
                if (diff_one(out, k, old, new_side, i) < 0)
                        return -1;
        for (size_t i = 0; i < k->count(old->r); i++)
                if (find(k, new_side->r, k->id(old->r, i)) < 0 &&
                    add_item(out, k->name, k->id(old->r, i), "removed", NULL) < 0)
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
        struct side a = {old, rd_rules_show_json(old)},
                    b = {new_rules, rd_rules_show_json(new_rules)};
        json_t *out = a.shown && b.shown ? json_array() : NULL;

        for (size_t k = 0; out && k < sizeof kinds / sizeof kinds[0]; k++)
                if (diff_kind(out, &kinds[k], &a, &b) < 0) {
                        json_decref(out);
                        out = NULL;
                }
        if (out && diff_order(out, old, new_rules) < 0) {
                json_decref(out);
                out = NULL;
        }
        json_decref(a.shown);
        json_decref(b.shown);
        return out;
}
