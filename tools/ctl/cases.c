/* cases.c: `referralctl rules test FILE CASES.yaml`: read a cases file (a
 * YAML list of {name, referral, expect, at, loads, declined}), decide each
 * case as the daemon would (decide.h) and compare with what it expects.
 *
 * The block below is referralctl.c's section "the cases file" as it was,
 * moved in one piece (only run_cases is no longer static), so that it can
 * be swapped for lib/cases whole. */
#include "run_cases.h"

#include "decide.h"
#include "options.h"
#include "print.h"
#include "timefmt.h"
#include "words.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ---- the cases file ---------------------------------------------------- */

#define CASE_YAML_DEPTH_MAX 32

struct cases_file {
        const char *path;
        yaml_document_t doc;
        size_t n_errors;
};

static void case_error(struct cases_file *cf, const yaml_node_t *node, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void case_error(struct cases_file *cf, const yaml_node_t *node, const char *fmt, ...)
{
        va_list ap;

        if (node)
                fprintf(stderr, "%s:%zu:%zu: ", cf->path, node->start_mark.line + 1,
                        node->start_mark.column + 1);
        else
                fprintf(stderr, "%s: ", cf->path);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        cf->n_errors++;
}

static yaml_node_t *ynode(struct cases_file *cf, int id)
{
        return yaml_document_get_node(&cf->doc, id);
}

static const char *yscalar(const yaml_node_t *n)
{
        return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A YAML node as JSON: plain scalars true/false/null/~ and integers keep
 * their YAML meaning, every other scalar is a string. NULL after an error
 * (printed). */
static json_t *yaml_to_json(struct cases_file *cf, yaml_node_t *n, int depth)
{
        json_t *o;

        if (depth > CASE_YAML_DEPTH_MAX) {
                case_error(cf, n, "nested too deeply");
                return NULL;
        }
        if (n->type == YAML_SCALAR_NODE) {
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
                if (!strcmp(s, "null") || !strcmp(s, "~") || !len)
                        return json_null();
                errno = 0;
                v = strtoll(s, &end, 10);
                if (!errno && *end == '\0' && (isdigit((unsigned char)s[0]) || s[0] == '-'))
                        return json_integer(v);
                return json_stringn(s, len);
        }
        if (n->type == YAML_SEQUENCE_NODE) {
                o = json_array();
                for (yaml_node_item_t *it = n->data.sequence.items.start;
                     o && it < n->data.sequence.items.top; it++) {
                        json_t *v = yaml_to_json(cf, ynode(cf, *it), depth + 1);

                        if (!v || json_array_append_new(o, v) < 0) {
                                json_decref(o);
                                return NULL;
                        }
                }
                return o;
        }
        o = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; o && p < n->data.mapping.pairs.top;
             p++) {
                yaml_node_t *k = ynode(cf, p->key);
                const char *key = yscalar(k);
                json_t *v;

                if (!key) {
                        case_error(cf, k, "a key must be a plain text");
                        json_decref(o);
                        return NULL;
                }
                if (json_object_get(o, key)) {
                        case_error(cf, k, "duplicate key '%s'", key);
                        json_decref(o);
                        return NULL;
                }
                v = yaml_to_json(cf, ynode(cf, p->value), depth + 1);
                if (!v || json_object_set_new(o, key, v) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

/* The node of REFERRAL (a mapping) that FIELD ("referral.children[0].age")
 * names at its top level, else REFERRAL itself: where to point an error. */
static yaml_node_t *referral_field_node(struct cases_file *cf, yaml_node_t *referral,
                                        const char *field)
{
        const char *key = strncmp(field, "referral.", 9) ? NULL : field + 9;
        size_t len = key ? strcspn(key, ".[") : 0;

        for (yaml_node_pair_t *p = referral->data.mapping.pairs.start;
             len && p < referral->data.mapping.pairs.top; p++) {
                const char *k = yscalar(ynode(cf, p->key));

                if (k && strlen(k) == len && !strncmp(k, key, len))
                        return ynode(cf, p->value);
        }
        return referral;
}

struct test_case {
        const char *name;
        yaml_node_t *node;
        struct rd_referral ref;
        bool has_ref;
        bool has_at;
        int64_t at;
        int64_t *loads; /* per connector; -1: not given */
        const char **declined;
        size_t n_declined;
        const char *expect[5]; /* indexed like expect_keys */
};

static const char *const expect_keys[5] = {"status", "connector", "team", "rule", "forward_to"};

static void test_case_clear(struct test_case *tc)
{
        rd_referral_clear(&tc->ref);
        free(tc->loads);
        free(tc->declined);
        memset(tc, 0, sizeof *tc);
}

/* Read one case from the mapping N (the INDEXth, from 0) into TC; errors
 * are printed and counted in CF. */
static void read_case(struct cases_file *cf, const struct rd_rules *rules, yaml_node_t *n,
                      size_t index, struct test_case *tc)
{
        yaml_node_t *referral = NULL, *expect = NULL;

        tc->node = n;
        if (n->type != YAML_MAPPING_NODE) {
                case_error(cf, n,
                           "a case is a mapping: {name: ..., referral: {...}, "
                           "expect: {...}}");
                return;
        }
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
                yaml_node_t *k = ynode(cf, p->key), *v = ynode(cf, p->value);
                const char *key = yscalar(k);

                if (!key) {
                        case_error(cf, k, "a key must be a plain text");
                } else if (!strcmp(key, "name")) {
                        tc->name = yscalar(v);
                        if (!tc->name || !*tc->name)
                                case_error(cf, v, "name must be a text");
                } else if (!strcmp(key, "referral")) {
                        referral = v;
                } else if (!strcmp(key, "expect")) {
                        expect = v;
                } else if (!strcmp(key, "at")) {
                        if (!yscalar(v) || rd_time_parse(yscalar(v), &tc->at) != 0)
                                case_error(cf, v,
                                           "at must be an RFC 3339 time such as "
                                           "2027-01-04T09:00:00Z");
                        tc->has_at = true;
                } else if (!strcmp(key, "loads")) {
                        if (v->type != YAML_MAPPING_NODE) {
                                case_error(cf, v, "loads is a mapping {connector: load}");
                                continue;
                        }
                        free(tc->loads);
                        tc->loads = malloc((rules->n_connectors + 1) * sizeof *tc->loads);
                        if (!tc->loads) {
                                case_error(cf, v, "out of memory");
                                continue;
                        }
                        for (size_t i = 0; i < rules->n_connectors; i++)
                                tc->loads[i] = -1;
                        for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
                             q < v->data.mapping.pairs.top; q++) {
                                yaml_node_t *ck = ynode(cf, q->key), *cv = ynode(cf, q->value);
                                ssize_t ci = yscalar(ck)
                                                     ? rd_rules_connector_index(rules, yscalar(ck))
                                                     : -1;
                                long long load;

                                if (ci < 0)
                                        case_error(cf, ck,
                                                   "no connector '%s' in the routing "
                                                   "file",
                                                   yscalar(ck) ? yscalar(ck) : "?");
                                else if (!parse_count(yscalar(cv), 100000, &load))
                                        case_error(cf, cv, "a load is a whole number 0 or more");
                                else
                                        tc->loads[ci] = load;
                        }
                } else if (!strcmp(key, "declined")) {
                        size_t cap = v->type == YAML_SEQUENCE_NODE
                                             ? (size_t)(v->data.sequence.items.top -
                                                        v->data.sequence.items.start)
                                             : 1;

                        free(tc->declined);
                        tc->n_declined = 0;
                        tc->declined = calloc(cap + 1, sizeof *tc->declined);
                        if (!tc->declined) {
                                case_error(cf, v, "out of memory");
                                continue;
                        }
                        if (v->type == YAML_SCALAR_NODE) {
                                tc->declined[tc->n_declined++] = yscalar(v);
                                continue;
                        }
                        if (v->type != YAML_SEQUENCE_NODE) {
                                case_error(cf, v, "declined is a list of connector ids");
                                continue;
                        }
                        for (yaml_node_item_t *it = v->data.sequence.items.start;
                             it < v->data.sequence.items.top; it++) {
                                const char *id = yscalar(ynode(cf, *it));

                                if (!id)
                                        case_error(cf, ynode(cf, *it),
                                                   "declined is a list of connector ids");
                                else
                                        tc->declined[tc->n_declined++] = id;
                        }
                } else {
                        case_error(cf, k,
                                   "unknown key '%s' in a case (name, referral, expect, at, "
                                   "loads, declined)",
                                   key);
                }
        }
        if (!tc->name) {
                case_error(cf, n, "case %zu has no name", index + 1);
                tc->name = "?";
        }
        if (!referral) {
                case_error(cf, n, "case '%s' has no referral", tc->name);
        } else if (referral->type != YAML_MAPPING_NODE) {
                case_error(cf, referral,
                           "case '%s': referral is a mapping (the inner referral "
                           "object of a submit)",
                           tc->name);
        } else {
                json_t *obj = yaml_to_json(cf, referral, 0);
                json_t *pc = json_object_get(obj, "postcode");
                struct rd_error err;
                char ref[32];

                if (obj) {
                        /* an unquoted postcode, as routing.yaml allows */
                        if (json_is_integer(pc))
                                json_object_set_new(obj, "postcode",
                                                    json_sprintf("%" JSON_INTEGER_FORMAT,
                                                                 json_integer_value(pc)));
                        snprintf(ref, sizeof ref, "case-%zu", index + 1);
                        referral_test_defaults(obj, ref);
                        if (rd_referral_from_json(obj, &tc->ref, &err) < 0)
                                case_error(cf, referral_field_node(cf, referral, err.field),
                                           "case '%s': %s%s%s", tc->name,
                                           strstr(err.message, err.field) ? "" : err.field,
                                           strstr(err.message, err.field) || !err.field[0] ? ""
                                                                                           : ": ",
                                           err.message);
                        else
                                tc->has_ref = true;
                        json_decref(obj);
                }
        }
        if (!expect) {
                case_error(cf, n, "case '%s' has no expect", tc->name);
                return;
        }
        if (expect->type != YAML_MAPPING_NODE) {
                case_error(cf, expect, "case '%s': expect is a mapping {status: ..., ...}",
                           tc->name);
                return;
        }
        for (yaml_node_pair_t *p = expect->data.mapping.pairs.start;
             p < expect->data.mapping.pairs.top; p++) {
                yaml_node_t *k = ynode(cf, p->key), *v = ynode(cf, p->value);
                const char *key = yscalar(k);
                size_t i;

                for (i = 0; key && i < 5 && strcmp(key, expect_keys[i]); i++)
                        ;
                if (!key || i == 5) {
                        case_error(cf, k,
                                   "case '%s': unknown key '%s' in expect (status, connector, "
                                   "team, rule, forward_to)",
                                   tc->name, key ? key : "?");
                        continue;
                }
                if (!yscalar(v) || !*yscalar(v)) {
                        case_error(cf, v, "case '%s': expect.%s must be a text", tc->name, key);
                        continue;
                }
                tc->expect[i] = yscalar(v);
        }
        if (!tc->expect[0])
                case_error(cf, expect, "case '%s': expect needs a status", tc->name);
        else if (strcmp(tc->expect[0], "assigned") && strcmp(tc->expect[0], "waitlisted") &&
                 strcmp(tc->expect[0], "forwarded"))
                case_error(cf, expect,
                           "case '%s': expect.status is assigned, waitlisted or forwarded, "
                           "not '%s'",
                           tc->name, tc->expect[0]);
}

/* The state of one case: the base state (BASE, may be NULL) with the
 * case's loads and declines. Overridden loads are taken as referrals
 * offered at AT, each ending after `trajectory`. */
struct case_state {
        struct rd_route_state st;
        uint32_t *load;
        const int64_t **ends;
        size_t *n_ends;
        int64_t *synth;
};

static void case_state_free(struct case_state *cs)
{
        free(cs->load);
        free(cs->ends);
        free(cs->n_ends);
        free(cs->synth);
        memset(cs, 0, sizeof *cs);
}

static int case_state_build(struct case_state *cs, const struct rd_rules *rules,
                            const struct test_state *base, const struct test_case *tc, int64_t at)
{
        size_t nc = rules->n_connectors, total = 0, k = 0;

        memset(cs, 0, sizeof *cs);
        if (base) {
                cs->st = base->st;
        }
        cs->st.excluded = tc->declined;
        cs->st.n_excluded = tc->n_declined;
        if (!tc->loads)
                return 0;
        for (size_t i = 0; i < nc; i++)
                if (tc->loads[i] > 0)
                        total += (size_t)tc->loads[i];
        cs->load = calloc(nc + 1, sizeof *cs->load);
        cs->ends = calloc(nc + 1, sizeof *cs->ends);
        cs->n_ends = calloc(nc + 1, sizeof *cs->n_ends);
        cs->synth = calloc(total + 1, sizeof *cs->synth);
        if (!cs->load || !cs->ends || !cs->n_ends || !cs->synth) {
                case_state_free(cs);
                return -ENOMEM;
        }
        for (size_t i = 0; i < nc; i++) {
                if (tc->loads[i] < 0) {
                        cs->load[i] = base ? base->st.load[i] : 0;
                        cs->ends[i] = base ? base->st.ends[i] : NULL;
                        cs->n_ends[i] = base ? base->st.n_ends[i] : 0;
                        continue;
                }
                cs->load[i] = (uint32_t)tc->loads[i];
                cs->ends[i] = cs->synth + k;
                cs->n_ends[i] = (size_t)tc->loads[i];
                for (long long j = 0; j < tc->loads[i]; j++)
                        cs->synth[k++] = at + rules->trajectory_s * 1000;
        }
        cs->st.load = cs->load;
        cs->st.ends = cs->ends;
        cs->st.n_ends = cs->n_ends;
        return 0;
}

/* Compare a case's expect with the decision DEC; print the mismatches
 * (after "FAIL NAME: ") and return how many there are. */
static int case_compare(const struct test_case *tc, const json_t *dec, bool print)
{
        int bad = 0;

        for (size_t i = 0; i < 5; i++) {
                const char *got = jstr(dec, expect_keys[i]);

                if (!tc->expect[i] || (got && !strcmp(got, tc->expect[i])))
                        continue;
                if (print)
                        printf("%s%s: expected %s, got %s", bad ? "; " : "", expect_keys[i],
                               tc->expect[i], got ? got : "none");
                bad++;
        }
        return bad;
}

int run_cases(const struct ctl *c, const char *path, const struct rd_rules *rules,
              const struct test_state *base, int64_t at)
{
        struct cases_file cf = {.path = path};
        yaml_parser_t parser;
        yaml_node_t *root;
        struct test_case *cases = NULL;
        size_t n = 0, failed = 0;
        FILE *f;
        int r = EXIT_FAULT;

        f = fopen(path, "rb");
        if (!f) {
                fault("%s: %s", path, strerror(errno));
                return EXIT_FAULT;
        }
        yaml_parser_initialize(&parser);
        yaml_parser_set_input_file(&parser, f);
        if (!yaml_parser_load(&parser, &cf.doc)) {
                fprintf(stderr, "%s:%zu:%zu: syntax error: %s\n", path,
                        parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                        parser.problem ? parser.problem : "not valid YAML");
                yaml_parser_delete(&parser);
                fclose(f);
                return EXIT_FAULT;
        }
        yaml_parser_delete(&parser);
        fclose(f);
        root = yaml_document_get_root_node(&cf.doc);
        if (!root || root->type != YAML_SEQUENCE_NODE) {
                case_error(&cf, root,
                           "a cases file is a list of cases "
                           "(- {name: ..., referral: {...}, expect: {...}})");
                goto out;
        }
        n = (size_t)(root->data.sequence.items.top - root->data.sequence.items.start);
        cases = calloc(n + 1, sizeof *cases);
        if (!cases) {
                fault("out of memory");
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                read_case(&cf, rules, ynode(&cf, root->data.sequence.items.start[i]), i, &cases[i]);
                for (size_t j = 0; j < i && cases[i].name; j++)
                        if (cases[j].name && !strcmp(cases[j].name, cases[i].name) &&
                            strcmp(cases[i].name, "?"))
                                case_error(&cf, cases[i].node, "duplicate case name '%s'",
                                           cases[i].name);
        }
        if (!n)
                case_error(&cf, root, "no cases in the list");
        if (cf.n_errors) {
                fprintf(stderr, "%s: %zu error(s) in the cases file; nothing was tested\n", path,
                        cf.n_errors);
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                struct test_case *tc = &cases[i];
                int64_t when = tc->has_at ? tc->at : at;
                struct case_state cs;
                json_t *dec = NULL;
                int bad;

                if (case_state_build(&cs, rules, base, tc, when) < 0) {
                        fault("out of memory");
                        goto out;
                }
                r = run_decision(rules, &cs.st, &tc->ref, when, &dec);
                case_state_free(&cs);
                if (r)
                        goto out;
                r = EXIT_FAULT;
                bad = case_compare(tc, dec, false);
                failed += bad > 0;
                if (c->json) {
                        json_t *o = json_object(), *exp = json_object();

                        for (size_t k = 0; k < 5; k++)
                                if (tc->expect[k])
                                        json_object_set_new(exp, expect_keys[k],
                                                            json_string(tc->expect[k]));
                        json_object_set_new(o, "name", json_string(tc->name));
                        json_object_set_new(o, "ok", json_boolean(!bad));
                        json_object_set_new(o, "expect", exp);
                        json_object_set(o, "got", dec);
                        print_json_line(o);
                        json_decref(o);
                } else if (!bad) {
                        printf("ok   %s\n", tc->name);
                } else {
                        printf("FAIL %s: ", tc->name);
                        case_compare(tc, dec, true);
                        printf("\n");
                        print_trace_words(json_object_get(dec, "trace"), dec, rules);
                        printf("\n");
                }
                json_decref(dec);
        }
        if (!c->json)
                printf("%zu case(s): %zu passed, %zu failed\n", n, n - failed, failed);
        r = failed ? EXIT_FAULT : EXIT_OK;
out:
        for (size_t i = 0; cases && i < n; i++)
                test_case_clear(&cases[i]);
        free(cases);
        yaml_document_delete(&cf.doc);
        return r;
}
