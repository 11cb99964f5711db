/* cases.c: the cases file of `referralctl rules test` (cases.h). */
#include "cases.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "macro.h"
#include "timefmt.h"
#include "yaml_reader.h"

#define LOAD_MAX 100000 /* families of one connector in a case */

static const char *const expect_keys[] = {
        [RD_CASE_STATUS] = "status", [RD_CASE_CONNECTOR] = "connector",   [RD_CASE_TEAM] = "team",
        [RD_CASE_RULE] = "rule",     [RD_CASE_FORWARD_TO] = "forward_to",
};
RD_TABLE_COVERS(expect_keys, RD_CASE_EXPECT__MAX);

enum case_key { K_NAME, K_REFERRAL, K_EXPECT, K_AT, K_LOADS, K_DECLINED, K__MAX };
static const char *const case_keys[] = {
        [K_NAME] = "name", [K_REFERRAL] = "referral", [K_EXPECT] = "expect",
        [K_AT] = "at",     [K_LOADS] = "loads",       [K_DECLINED] = "declined",
};
RD_TABLE_COVERS(case_keys, K__MAX);

const char *rd_case_expect_name(enum rd_case_expect e)
{
        return (unsigned)e < RD_CASE_EXPECT__MAX ? expect_keys[e] : "?";
}

void rd_case_referral_defaults(json_t *obj, const char *ref)
{
        if (!json_object_get(obj, "ref"))
                json_object_set_new(obj, "ref", json_string(ref));
        if (!json_object_get(obj, "consent"))
                json_object_set_new(obj, "consent", json_true());
}

/* One load. */
struct ctx {
        struct rd_yaml *y;
        const struct rd_rules *rules;
};

/* A copy of S into *OUT (freed first); false when out of memory (noted). */
static bool copy(struct ctx *c, const char *s, char **out)
{
        char *d = strdup(s);

        if (!d) {
                rd_yaml_nomem(c->y);
                return false;
        }
        free(*out);
        *out = d;
        return true;
}

/* ---- the referral -------------------------------------------------------- */

/* A single value as JSON: plain true/false/null/~ and integers keep their
 * YAML meaning, every other value is a string. */
static json_t *scalar_json(const yaml_node_t *n)
{
        const char *s = (const char *)n->data.scalar.value;
        size_t len = n->data.scalar.length;
        char *end;
        long long v;

        if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return json_stringn(s, len);
        if (!strcmp(s, "true"))
                return json_true();
        if (!strcmp(s, "false"))
                return json_false();
        if (rd_yaml_is_null(n))
                return json_null();
        errno = 0;
        v = strtoll(s, &end, 10);
        if (!errno && *end == '\0' && ((s[0] >= '0' && s[0] <= '9') || s[0] == '-'))
                return json_integer(v);
        return json_stringn(s, len);
}

/* Node N as JSON, or NULL after an error (reported, or out of memory). */
static json_t *yaml_json(struct ctx *c, yaml_node_t *n, int depth)
{
        json_t *o;
        size_t np = 0;
        struct rd_yaml_pair *p;

        if (depth > RD_JSON_DEPTH_MAX) { /* an alias can nest a list in itself */
                rd_yaml_error(c->y, n, "the referral is nested deeper than %d levels",
                              RD_JSON_DEPTH_MAX);
                return NULL;
        }
        if (n->type == YAML_SCALAR_NODE)
                return scalar_json(n);
        if (n->type == YAML_SEQUENCE_NODE) {
                o = json_array();
                for (size_t i = 0; o && i < rd_yaml_count(n); i++) {
                        yaml_node_t *x = rd_yaml_item(c->y, n, i);
                        json_t *v = x ? yaml_json(c, x, depth + 1) : NULL;

                        if (!v || json_array_append_new(o, v) < 0) {
                                json_decref(o);
                                return NULL;
                        }
                }
                return o;
        }
        o = json_object();
        p = o ? rd_yaml_pairs(c->y, n, &np) : NULL;
        for (size_t i = 0; o && i < np; i++) {
                json_t *v = yaml_json(c, p[i].v, depth + 1);

                if (!v || json_object_set_new(o, p[i].key, v) < 0) {
                        json_decref(o);
                        o = NULL;
                }
        }
        free(p);
        return o;
}

/* The node of REFERRAL (a mapping) that FIELD ("referral.children[0].age")
 * names at its top level, else REFERRAL itself: where to point an error. */
static yaml_node_t *field_node(struct ctx *c, yaml_node_t *referral, const char *field)
{
        const char *key = strncmp(field, "referral.", 9) ? NULL : field + 9;
        size_t len = key ? strcspn(key, ".[") : 0;
        const yaml_node_pair_t *p = referral->data.mapping.pairs.start;

        for (; len && p < referral->data.mapping.pairs.top; p++) {
                const char *k = rd_yaml_str(rd_yaml_node(c->y, p->key));

                if (k && strlen(k) == len && !strncmp(k, key, len))
                        return rd_yaml_node(c->y, p->value);
        }
        return referral;
}

/* The referral of case TC (the INDEXth, from 0) at N, a mapping. */
static void read_referral(struct ctx *c, yaml_node_t *n, size_t index, struct rd_case *tc)
{
        size_t before = rd_yaml_errors(c->y);
        json_t *obj = yaml_json(c, n, 0);
        json_t *pc = json_object_get(obj, "postcode");
        struct rd_error err;
        char ref[32];

        if (!obj) {
                if (rd_yaml_errors(c->y) == before)
                        rd_yaml_nomem(c->y);
                return;
        }
        if (rd_yaml_errors(c->y) != before) { /* a repeated key: no second opinion */
                json_decref(obj);
                return;
        }
        if (json_is_integer(pc)) /* an unquoted postcode, as routing.yaml allows */
                json_object_set_new(obj, "postcode",
                                    json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(pc)));
        snprintf(ref, sizeof ref, "case-%zu", index + 1);
        rd_case_referral_defaults(obj, ref);
        if (rd_referral_from_json(obj, &tc->ref, &err) < 0)
                rd_yaml_error(c->y, field_node(c, n, err.field), "case '%s': %s%s%s", tc->name,
                              strstr(err.message, err.field) ? "" : err.field,
                              strstr(err.message, err.field) || !err.field[0] ? "" : ": ",
                              err.message);
        json_decref(obj);
}

/* ---- the other keys of a case -------------------------------------------- */

/* A load: a whole number from 0 to LOAD_MAX. */
static bool parse_load(const char *s, int64_t *out)
{
        char *end;
        long long v;

        if (!s || *s < '0' || *s > '9')
                return false;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || *end || v > LOAD_MAX)
                return false;
        *out = v;
        return true;
}

static void read_loads(struct ctx *c, yaml_node_t *n, struct rd_case *tc)
{
        const struct rd_rules *rules = c->rules;
        struct rd_yaml_pair *p;
        size_t np;

        if (n->type != YAML_MAPPING_NODE) {
                rd_yaml_expected(c->y, n, "loads", "a mapping {connector: load}");
                return;
        }
        tc->loads = malloc((rules->n_connectors + 1) * sizeof *tc->loads);
        if (!tc->loads) {
                rd_yaml_nomem(c->y);
                return;
        }
        for (size_t i = 0; i < rules->n_connectors; i++)
                tc->loads[i] = -1;
        p = rd_yaml_pairs(c->y, n, &np);
        for (size_t i = 0; i < np; i++) {
                ssize_t ci = rd_rules_connector_index(rules, p[i].key);
                struct rd_suggest sg = {NULL, 0};

                if (ci >= 0) {
                        if (!parse_load(rd_yaml_str(p[i].v), &tc->loads[ci]))
                                rd_yaml_error(c->y, p[i].v, "a load is a whole number from 0 to %d",
                                              LOAD_MAX);
                        continue;
                }
                for (size_t j = 0; j < rules->n_connectors; j++)
                        rd_suggest_try(&sg, p[i].key, rules->connectors[j].id);
                if (sg.best)
                        rd_yaml_error(c->y, p[i].k,
                                      "no connector '%s' in the routing file; did you mean '%s'?",
                                      p[i].key, sg.best);
                else
                        rd_yaml_error(c->y, p[i].k, "no connector '%s' in the routing file",
                                      p[i].key);
        }
        free(p);
}

static void read_declined(struct ctx *c, yaml_node_t *n, struct rd_case *tc)
{
        bool one = n->type == YAML_SCALAR_NODE;
        size_t count = one ? 1 : rd_yaml_count(n);

        if (!one && n->type != YAML_SEQUENCE_NODE) {
                rd_yaml_expected(c->y, n, "declined", "a list of connector ids");
                return;
        }
        tc->declined = calloc(count + 1, sizeof *tc->declined);
        if (!tc->declined) {
                rd_yaml_nomem(c->y);
                return;
        }
        for (size_t i = 0; i < count; i++) {
                const char *id = rd_yaml_text(c->y, one ? n : rd_yaml_item(c->y, n, i), "declined");

                if (id && copy(c, id, &tc->declined[tc->n_declined]))
                        tc->n_declined++;
        }
}

static void read_expect(struct ctx *c, yaml_node_t *n, struct rd_case *tc)
{
        yaml_node_t *v[RD_CASE_EXPECT__MAX];
        const char *status;

        if (!rd_yaml_fields(c->y, n, "expect", expect_keys, RD_CASE_EXPECT__MAX, NULL, v))
                return;
        for (size_t i = 0; i < RD_CASE_EXPECT__MAX; i++) {
                char what[32];
                const char *s;

                snprintf(what, sizeof what, "expect.%s", expect_keys[i]);
                if (v[i] && (s = rd_yaml_text(c->y, v[i], what)))
                        copy(c, s, &tc->expect[i]);
        }
        status = tc->expect[RD_CASE_STATUS];
        if (!v[RD_CASE_STATUS])
                rd_yaml_error(c->y, n, "case '%s': expect needs a status", tc->name);
        else if (status && strcmp(status, "assigned") && strcmp(status, "waitlisted") &&
                 strcmp(status, "forwarded"))
                rd_yaml_error(c->y, n,
                              "case '%s': expect.status is assigned, waitlisted or forwarded, "
                              "not '%s'",
                              tc->name, status);
}

/* ---- a case ---------------------------------------------------------------- */

/* Case TC, the INDEXth (from 0), from the mapping N. */
static void read_case(struct ctx *c, yaml_node_t *n, size_t index, struct rd_case *tc)
{
        yaml_node_t *v[K__MAX];
        const char *s;

        tc->line = rd_yaml_pos(n).line;
        if (!rd_yaml_fields(c->y, n, "a case", case_keys, K__MAX, NULL, v) ||
            !copy(c, "?", &tc->name))
                return;
        if (!v[K_NAME])
                rd_yaml_error(c->y, n, "case %zu has no name", index + 1);
        else if ((s = rd_yaml_text(c->y, v[K_NAME], "name")))
                copy(c, s, &tc->name);
        if (v[K_AT]) {
                tc->has_at = true;
                s = rd_yaml_str(v[K_AT]);
                if (!s || rd_time_parse(s, &tc->at) != 0)
                        rd_yaml_error(c->y, v[K_AT],
                                      "at: expected an RFC 3339 time such as "
                                      "2027-01-04T09:00:00Z");
        }
        if (v[K_LOADS])
                read_loads(c, v[K_LOADS], tc);
        if (v[K_DECLINED])
                read_declined(c, v[K_DECLINED], tc);
        if (!v[K_REFERRAL])
                rd_yaml_error(c->y, n, "case '%s' has no referral", tc->name);
        else if (v[K_REFERRAL]->type != YAML_MAPPING_NODE)
                rd_yaml_expected(c->y, v[K_REFERRAL], "referral",
                                 "a mapping (the inner referral object of a submit)");
        else
                read_referral(c, v[K_REFERRAL], index, tc);
        if (!v[K_EXPECT])
                rd_yaml_error(c->y, n, "case '%s' has no expect", tc->name);
        else
                read_expect(c, v[K_EXPECT], tc);
}

/* Every case of the list ROOT into CS. */
static void read_cases(struct ctx *c, yaml_node_t *root, struct rd_cases *cs)
{
        size_t n = rd_yaml_count(root);

        if (n == 0) {
                rd_yaml_error(c->y, root, "no cases in the list");
                return;
        }
        cs->v = calloc(n, sizeof *cs->v);
        if (!cs->v) {
                rd_yaml_nomem(c->y);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                struct rd_case *tc = &cs->v[cs->n++];
                yaml_node_t *x = rd_yaml_item(c->y, root, i);

                if (!x)
                        continue;
                read_case(c, x, i, tc);
                for (size_t j = 0; j < i && tc->name && strcmp(tc->name, "?"); j++)
                        if (cs->v[j].name && !strcmp(cs->v[j].name, tc->name)) {
                                rd_yaml_error(c->y, x,
                                              "duplicate case name '%s' (first at line %zu)",
                                              tc->name, cs->v[j].line);
                                break;
                        }
        }
}

#define CASES_HELP "a list of cases (- {name: ..., referral: {...}, expect: {...}})"

/* Walk Y into new cases; Y's messages go to DIAG and Y is freed. */
static int load(struct rd_yaml *y, const struct rd_rules *rules, struct rd_cases **out,
                struct rd_diag *diag)
{
        struct ctx c = {y, rules};
        struct rd_cases *cs = calloc(1, sizeof *cs);
        yaml_node_t *root = rd_yaml_root(y);
        int rc;

        if (!cs)
                rd_yaml_nomem(y);
        else if (rd_yaml_loaded(y) && !root)
                rd_yaml_report(y, RD_DIAG_ERROR, (struct rd_yaml_pos){1, 1},
                               "the file is empty: it needs " CASES_HELP);
        else if (root && root->type != YAML_SEQUENCE_NODE)
                rd_yaml_expected(y, root, "the file", CASES_HELP);
        else if (root)
                read_cases(&c, root, cs);
        rc = rd_yaml_finish(y, diag);
        if (rc == 0)
                *out = cs;
        else
                rd_cases_free(cs);
        return rc;
}

int rd_cases_load_file(const char *path, const struct rd_rules *rules, struct rd_cases **out,
                       struct rd_diag *diag)
{
        struct rd_yaml *y;
        int rc;

        if (!rules || !out)
                return -EINVAL;
        rc = rd_yaml_open_file(path, &y);
        return rc < 0 ? rc : load(y, rules, out, diag);
}

int rd_cases_load_buffer(const char *name, const char *buf, size_t len,
                         const struct rd_rules *rules, struct rd_cases **out, struct rd_diag *diag)
{
        struct rd_yaml *y;
        int rc;

        if (!rules || !out)
                return -EINVAL;
        rc = rd_yaml_open_buffer(name, buf, len, &y);
        return rc < 0 ? rc : load(y, rules, out, diag);
}

void rd_cases_free(struct rd_cases *cases)
{
        if (!cases)
                return;
        for (size_t i = 0; i < cases->n; i++) {
                struct rd_case *tc = &cases->v[i];

                free(tc->name);
                rd_referral_clear(&tc->ref);
                free(tc->loads);
                for (size_t j = 0; j < tc->n_declined; j++)
                        free(tc->declined[j]);
                free(tc->declined);
                for (size_t j = 0; j < RD_CASE_EXPECT__MAX; j++)
                        free(tc->expect[j]);
        }
        free(cases->v);
        free(cases);
}
