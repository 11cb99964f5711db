/* test_cases.c: lib/cases against docs/routing.md ("A cases file: many
 * referrals and what you expect"): what a case holds once loaded, and the
 * message and position of each mistake in a cases file. What running the
 * cases prints is tests/integration/test_rules_cli.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"
#include "rules.h"
#include "timefmt.h"

#define NAME "c.yaml"

static int setup(void **state)
{
        struct rd_rules *rules = NULL;
        struct rd_diag d = {0};

        if (rd_rules_load_file(RD_TEST_DATA "/rules_cli_valid.yaml", &rules, &d) != 0)
                return -1;
        rd_diag_clear(&d);
        *state = rules;
        return 0;
}

static int teardown(void **state)
{
        rd_rules_free(*state);
        return 0;
}

static void print_diag(const struct rd_diag *d)
{
        for (size_t i = 0; i < d->n; i++)
                print_message("  got: %s\n", d->items[i].text);
}

static struct rd_cases *load_ok(const struct rd_rules *rules, const char *text)
{
        struct rd_cases *cases = NULL;
        struct rd_diag d = {0};
        int rc = rd_cases_load_buffer(NAME, text, strlen(text), rules, &cases, &d);

        print_diag(&d);
        assert_int_equal(rc, 0);
        assert_int_equal(d.n, 0);
        assert_non_null(cases);
        rd_diag_clear(&d);
        return cases;
}

static void test_the_example_cases_file_loads(void **state)
{
        const struct rd_rules *rules = *state;
        struct rd_cases *cases = NULL;
        struct rd_diag d = {0};
        const struct rd_case *c;

        assert_int_equal(
                rd_cases_load_file(RD_TEST_DATA "/cases_rules_cli_ok.yaml", rules, &cases, &d), 0);
        print_diag(&d);
        assert_int_equal(d.n, 0);
        assert_int_equal(cases->n, 7);
        c = &cases->v[0];
        assert_string_equal(c->name, "french family in Genk goes to Sophie");
        assert_int_equal(c->line, 2);
        assert_string_equal(c->ref.postcode, "3600"); /* unquoted in the file */
        assert_string_equal(c->ref.ref, "case-1");
        assert_string_equal(c->ref.language, "fr");
        assert_string_equal(c->expect[RD_CASE_STATUS], "assigned");
        assert_string_equal(c->expect[RD_CASE_CONNECTOR], "sophie");
        assert_string_equal(c->expect[RD_CASE_TEAM], "genk");
        assert_string_equal(c->expect[RD_CASE_RULE], "family-by-region");
        assert_null(c->expect[RD_CASE_FORWARD_TO]);
        assert_null(c->loads);
        assert_false(c->has_at);
        assert_int_equal(c->n_declined, 0);
        c = &cases->v[5];
        assert_true(c->has_at);
        assert_non_null(c->loads);
        for (size_t i = 0; i < rules->n_connectors; i++)
                assert_int_equal(c->loads[i],
                                 i == (size_t)rd_rules_connector_index(rules, "psy-1") ? 1 : -1);
        c = &cases->v[6];
        assert_int_equal(c->n_declined, 1);
        assert_string_equal(c->declined[0], "kelly");
        assert_string_equal(c->ref.ref, "case-7");
        rd_cases_free(cases);
        rd_cases_free(NULL);
        rd_diag_clear(&d);
}

static void test_a_case_keeps_its_time_loads_declines_and_referral(void **state)
{
        struct rd_cases *cases =
                load_ok(*state, "- name: one\n"
                                "  at: 2027-01-04T09:00:00Z\n"
                                "  loads: {kelly: 0, lien: 1}\n"
                                "  declined: sophie\n"
                                "  referral: {ref: R-7, consent: true, kind: family_support,\n"
                                "             postcode: \"3630\", children: [{age: 3}, {age: 5}]}\n"
                                "  expect: {status: waitlisted}\n");
        const struct rd_case *c = &cases->v[0];
        int64_t at;

        assert_int_equal(rd_time_parse("2027-01-04T09:00:00Z", &at), 0);
        assert_true(c->has_at);
        assert_int_equal(c->at, at);
        assert_int_equal(c->loads[rd_rules_connector_index(*state, "kelly")], 0);
        assert_int_equal(c->loads[rd_rules_connector_index(*state, "lien")], 1);
        assert_int_equal(c->loads[rd_rules_connector_index(*state, "sophie")], -1);
        assert_int_equal(c->n_declined, 1);
        assert_string_equal(c->declined[0], "sophie");
        assert_string_equal(c->ref.ref, "R-7");
        assert_int_equal(c->ref.n_children, 2);
        assert_int_equal(c->ref.ages[1], 5);
        rd_cases_free(cases);
}

static void test_expect_names_are_the_decision_fields(void **state)
{
        (void)state;
        assert_string_equal(rd_case_expect_name(RD_CASE_STATUS), "status");
        assert_string_equal(rd_case_expect_name(RD_CASE_CONNECTOR), "connector");
        assert_string_equal(rd_case_expect_name(RD_CASE_TEAM), "team");
        assert_string_equal(rd_case_expect_name(RD_CASE_RULE), "rule");
        assert_string_equal(rd_case_expect_name(RD_CASE_FORWARD_TO), "forward_to");
}

/* ---- mistakes ------------------------------------------------------------- */

struct bad {
        const char *name;
        const char *text;
        const char *want[4]; /* every diagnostic, in order */
};

#define REF "referral: {kind: family_support, postcode: \"3600\", children: [{age: 4}]}"

static const struct bad bad_files[] = {
        {"each problem where it is",
         "- name: a\n"
         "  referral: {kind: family_suport, postcode: \"3600\", children: [{age: 4}]}\n"
         "  expect: {status: asigned}\n"
         "- name: b\n"
         "  loads: {kely: 2}\n"
         "  " REF "\n"
         "  expect: {status: assigned, colour: red}\n",
         {NAME ":2:20: case 'a': referral.kind must be \"family_support\" or "
               "\"first_line_psychology\"",
          NAME ":3:11: case 'a': expect.status is assigned, waitlisted or forwarded, not "
               "'asigned'",
          NAME ":5:11: no connector 'kely' in the routing file; did you mean 'kelly'?",
          NAME ":7:30: unknown key 'colour'; the known keys are status, connector, team, rule, "
               "forward_to"}},
        {"a repeated key in a case",
         "- name: a\n  name: b\n  " REF "\n  expect: {status: assigned}\n",
         {NAME ":2:3: duplicate key 'name' (first at line 1)"}},
        {"a repeated key in a referral",
         "- name: a\n  referral: {kind: family_support, kind: x, postcode: \"3600\", children: "
         "[{age: 4}]}\n  expect: {status: assigned}\n",
         {NAME ":2:36: duplicate key 'kind' (first at line 2)"}},
        {"a repeated case name",
         "- {name: a, " REF ", expect: {status: assigned}}\n"
         "- {name: a, " REF ", expect: {status: assigned}}\n",
         {NAME ":2:3: duplicate case name 'a' (first at line 1)"}},
        {"a case without name, referral or expect",
         "- {at: 2027-01-04T09:00:00Z}\n",
         {NAME ":1:3: case 1 has no name", NAME ":1:3: case '?' has no referral",
          NAME ":1:3: case '?' has no expect"}},
        {"a bad time, load and declines",
         "- name: a\n  at: tomorrow\n  loads: {kelly: -1}\n  declined: [[kelly]]\n  " REF
         "\n  expect: {status: assigned}\n",
         {NAME ":2:7: at: expected an RFC 3339 time such as 2027-01-04T09:00:00Z",
          NAME ":3:18: a load is a whole number from 0 to 100000",
          NAME ":4:14: declined: expected a single value, not a list"}},
        {"expect without a status",
         "- name: a\n  " REF "\n  expect: {connector: kelly}\n",
         {NAME ":3:11: case 'a': expect needs a status"}},
        {"a referral that is not a mapping",
         "- name: a\n  referral: [x]\n  expect: {status: assigned}\n",
         {NAME ":2:13: referral: expected a mapping (the inner referral object of a submit), not "
               "a list"}},
        {"a case that is not a mapping",
         "- just a name\n",
         {NAME ":1:3: a case: expected a mapping (name, referral, expect, at, loads, declined), "
               "not a single value"}},
        {"not a list",
         "name: a\n",
         {NAME ":1:1: the file: expected a list of cases (- {name: ..., referral: {...}, "
               "expect: {...}}), not a mapping"}},
        {"an empty list", "[]\n", {NAME ":1:1: no cases in the list"}},
        {"an empty file",
         "# nothing yet\n",
         {NAME ":1:1: the file is empty: it needs a list of cases (- {name: ..., referral: {...}, "
               "expect: {...}})"}},
};

static void test_each_mistake_is_reported_where_it_is(void **state)
{
        size_t failed = 0;

        for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
                const struct bad *b = &bad_files[i];
                struct rd_cases *cases = (struct rd_cases *)0x1;
                struct rd_diag d = {0};
                size_t n = 0;
                int rc = rd_cases_load_buffer(NAME, b->text, strlen(b->text), *state, &cases, &d);
                bool ok = rc == -EINVAL && cases == (struct rd_cases *)0x1;

                while (n < 4 && b->want[n])
                        n++;
                ok = ok && d.n == n;
                for (size_t j = 0; ok && j < n; j++)
                        ok = !strcmp(d.items[j].text, b->want[j]);
                if (!ok) {
                        print_message("case '%s' (rc %d):\n", b->name, rc);
                        for (size_t j = 0; j < n; j++)
                                print_message("  want: %s\n", b->want[j]);
                        print_diag(&d);
                        failed++;
                }
                rd_diag_clear(&d);
        }
        assert_int_equal(failed, 0);
}

static void test_a_missing_cases_file_cannot_be_read(void **state)
{
        struct rd_cases *cases = NULL;
        struct rd_diag d = {0};

        assert_int_equal(rd_cases_load_file("/nonexistent/cases.yaml", *state, &cases, &d),
                         -ENOENT);
        assert_null(cases);
        assert_int_equal(d.n, 1);
        assert_string_equal(d.items[0].text,
                            "/nonexistent/cases.yaml:1:1: cannot read: No such file or directory");
        rd_diag_clear(&d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_the_example_cases_file_loads),
                cmocka_unit_test(test_a_case_keeps_its_time_loads_declines_and_referral),
                cmocka_unit_test(test_expect_names_are_the_decision_fields),
                cmocka_unit_test(test_each_mistake_is_reported_where_it_is),
                cmocka_unit_test(test_a_missing_cases_file_cannot_be_read),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
