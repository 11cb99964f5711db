/* test_rules.c: lib/rules against routing.md (the language, "Checking and
 * reloading").
 *
 * Loader errors and warnings are tested table-driven: a small valid file
 * (BASE) and, per case, a file that breaks one thing, with the exact
 * diagnostic it must produce (position and text). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "rules_show.h"

/* Lines 1..11; every case below is this file with one change. */
#define L1 "version: 1\n"
#define L2 "teams:\n"
#define L3 "  - id: genk\n"
#define L4 "    postcodes: [\"3600\", \"3660-3668\"]\n"
#define L5 "    connectors:\n"
#define L6 "      - {id: kelly, capacity: 6, skills: [family_support, first_line_psychology]}\n"
#define L7 "forward_targets:\n"
#define L8 "  - {id: caw, name: CAW}\n"
#define L9 "rules:\n"
#define L10 "  - name: all\n"
#define L11 "    assign: {teams: [genk]}\n"
#define HEAD L1 L2 L3 L4 L5 L6 L7 L8 L9
#define BASE HEAD L10 L11
/* A last rule that forwards to caw; and the same after an assign rule. */
#define REST "  - name: rest\n    forward: {to: caw, reason: x}\n"
#define OTHERWISE_CAW "    otherwise: {forward: {to: caw, reason: x}}\n"
/* (rev 2) BASE's one warning: no rule of it forwards to caw, which is in
 * the file for the cases that do. */
#define CAW_UNUSED                                                                                 \
        "t.yaml:8:10: warning: forward target 'caw' can never be forwarded to: no rule forwards "  \
        "to it"

/* HEAD with the team lines T after genk's (lines 7..). */
#define HEAD_WITH(t) L1 L2 L3 L4 L5 L6 t L7 L8 L9

/* A second team (lines 5..7 after L4) for cases about two teams. */
#define TEAM2(id, pc, conn)                                                                        \
        "  - id: " id "\n"                                                                         \
        "    postcodes: [" pc "]\n"                                                                \
        "    connectors: [{id: " conn ", capacity: 2, skills: [family_support]}]\n"

/* Forward reasons of 120 characters (RD_FORWARD_REASON_MAX), the most
 * allowed, and of 121. */
#define TEN_CHARS "ten chars."
#define REASON_120                                                                                 \
        TEN_CHARS TEN_CHARS TEN_CHARS TEN_CHARS TEN_CHARS TEN_CHARS TEN_CHARS TEN_CHARS TEN_CHARS  \
                TEN_CHARS TEN_CHARS TEN_CHARS
#define REASON_121 REASON_120 "!"

static int load(const char *yaml, struct rd_rules **out, struct rd_diag *diag)
{
        return rd_rules_load_buffer("t.yaml", yaml, strlen(yaml), out, diag);
}

static void print_diag(const struct rd_diag *d)
{
        for (size_t i = 0; i < d->n; i++)
                print_message("  got: %s\n", d->items[i].text);
}

static bool diag_has(const struct rd_diag *d, const char *text)
{
        for (size_t i = 0; i < d->n; i++)
                if (!strcmp(d->items[i].text, text))
                        return true;
        return false;
}

/* YAML, which must load without any error or warning: its rules (the
 * caller frees them). */
static struct rd_rules *load_clean(const char *yaml)
{
        struct rd_rules *r = NULL;
        struct rd_diag d = {0};

        assert_int_equal(load(yaml, &r, &d), 0);
        print_diag(&d);
        assert_int_equal(d.n, 0);
        rd_diag_clear(&d);
        return r;
}

/* ---- the example file and the base ------------------------------------ */

static void test_config_routing_yaml_loads_without_errors_or_warnings(void **st)
{
        struct rd_rules *r = NULL;
        struct rd_diag d = {0};
        int rc;

        (void)st;
        rc = rd_rules_load_file(RD_SOURCE_DIR "/config/routing.yaml", &r, &d);
        print_diag(&d);
        assert_int_equal(rc, 0);
        assert_int_equal(d.n, 0);
        assert_non_null(r);
        assert_true(r->n_rules >= 4);
        assert_true(r->rules[r->n_rules - 1].catch_all);
        assert_true(rd_rules_team_index(r, "genk") >= 0);
        assert_true(rd_rules_team_index(r, "maasmechelen") >= 0);
        rd_rules_free(r);
        rd_diag_clear(&d);
}

static void test_base_loads_clean_with_defaults(void **st)
{
        struct rd_rules *r = NULL;
        struct rd_diag d = {0};

        (void)st;
        assert_int_equal(load(BASE, &r, &d), 0);
        print_diag(&d);
        assert_int_equal(d.n, 1);
        assert_string_equal(d.items[0].text, CAW_UNUSED);
        assert_int_equal(r->version, 1);
        assert_int_equal(r->window_s, 30 * 86400);
        assert_int_equal(r->accept_within_s, 2 * 86400);
        assert_int_equal(r->at_risk_s, 7 * 86400);
        assert_int_equal(r->trajectory_s, 120 * 86400);
        assert_int_equal(r->n_teams, 1);
        assert_int_equal(r->n_connectors, 1);
        assert_int_equal(r->teams[0].n_postcodes, 2);
        assert_int_equal(r->teams[0].postcodes[1].lo, 3660);
        assert_int_equal(r->teams[0].postcodes[1].hi, 3668);
        assert_int_equal(r->connectors[0].capacity, 6);
        assert_int_equal(r->rules[0].window_s, 30 * 86400);
        assert_int_equal(r->rules[0].line, 10);
        assert_int_equal(r->rules[0].column, 5);
        assert_true(r->rules[0].catch_all);
        assert_int_equal(r->rules[0].language, RD_LANG_PREFER);
        assert_int_equal(r->rules[0].pick, RD_PICK_LEAST_LOADED);
        assert_int_equal(r->rules[0].otherwise, RD_OTHERWISE_WAITLIST);
        assert_string_equal(r->source, "t.yaml");
        rd_rules_free(r);
        rd_diag_clear(&d);
}

static void test_scalars_stand_for_lists_and_numbers_for_postcodes(void **st)
{
        static const char yaml[] =
                "version: 1\n"
                "defaults: {window: 10d, trajectory: 36h}\n"
                "teams:\n"
                "  - id: genk\n"
                "    postcodes: [3600, 3660-3668, \"3500\"]\n"
                "    connectors:\n"
                "      - {id: kelly, capacity: 2, skills: family_support, languages: nl}\n"
                "rules:\n"
                "  - name: nl-speakers\n"
                "    when: {kind: family_support, urgency: high, language: nl, partner: p1,\n"
                "           postcode: 3600, age: \"7\", concerns: teen_conflict}\n"
                "    assign: {teams: genk, window: 5d, accept_within: 90m, pick: round_robin,\n"
                "             language: require, skill: family_support, by_postcode: true}\n"
                "  - name: all\n"
                "    assign: {teams: [genk]}\n";
        struct rd_rules *r = NULL;
        struct rd_diag d = {0};

        (void)st;
        assert_int_equal(load(yaml, &r, &d), 0);
        print_diag(&d);
        assert_int_equal(d.n, 0);
        assert_int_equal(r->window_s, 10 * 86400);
        assert_int_equal(r->trajectory_s, 36 * 3600);
        assert_int_equal(r->accept_within_s, 2 * 86400);
        assert_int_equal(r->teams[0].n_postcodes, 3);
        assert_int_equal(r->teams[0].postcodes[0].lo, 3600);
        assert_int_equal(r->teams[0].postcodes[1].hi, 3668);
        assert_int_equal(r->connectors[0].skills.n, 1);
        assert_string_equal(r->connectors[0].skills.v[0], "family_support");
        assert_string_equal(r->connectors[0].languages.v[0], "nl");
        const struct rd_rule *a = &r->rules[0];
        assert_true(a->when.has_kind && a->when.kinds == 1u << RD_KIND_FAMILY_SUPPORT);
        assert_true(a->when.has_urgency && a->when.urgencies == 1u << RD_URGENCY_HIGH);
        assert_int_equal(a->when.age_lo, 7);
        assert_int_equal(a->when.age_hi, 7);
        assert_int_equal(a->when.concerns_any.n, 1);
        assert_int_equal(a->n_teams, 1);
        assert_int_equal(a->window_s, 5 * 86400);
        assert_int_equal(a->accept_within_s, 90 * 60);
        assert_int_equal(a->pick, RD_PICK_ROUND_ROBIN);
        assert_int_equal(a->language, RD_LANG_REQUIRE);
        assert_string_equal(a->skill, "family_support");
        assert_true(a->by_postcode);
        assert_int_equal(r->rules[1].window_s, 10 * 86400);
        rd_rules_free(r);
        rd_diag_clear(&d);
}

static void test_index_lookups_find_ids_or_minus_one(void **st)
{
        struct rd_rules *r = NULL;
        struct rd_diag d = {0};

        (void)st;
        assert_int_equal(load(BASE, &r, &d), 0);
        assert_int_equal(rd_rules_team_index(r, "genk"), 0);
        assert_int_equal(rd_rules_connector_index(r, "kelly"), 0);
        assert_int_equal(rd_rules_target_index(r, "caw"), 0);
        assert_int_equal(rd_rules_rule_index(r, "all"), 0);
        assert_int_equal(rd_rules_team_index(r, "nope"), -1);
        assert_int_equal(rd_rules_connector_index(r, "nope"), -1);
        assert_int_equal(rd_rules_target_index(r, "nope"), -1);
        assert_int_equal(rd_rules_rule_index(r, "nope"), -1);
        assert_int_equal(rd_rules_rule_index(NULL, "all"), -1);
        rd_rules_free(r);
        rd_rules_free(NULL);
        rd_diag_clear(&d);
        rd_diag_clear(NULL);
}

static void test_digest_is_sha256_of_the_bytes(void **st)
{
        struct rd_rules *r = NULL;
        struct rd_diag d = {0};
        unsigned char md[32];
        unsigned int n = 0;
        char hex[65];

        (void)st;
        assert_int_equal(load(BASE, &r, &d), 0);
        assert_int_equal(EVP_Digest(BASE, strlen(BASE), md, &n, EVP_sha256(), NULL), 1);
        for (unsigned i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        assert_string_equal(r->digest, hex);
        rd_rules_free(r);
        rd_diag_clear(&d);
}

/* ---- durations ---------------------------------------------------------- */

static void test_duration_parse_accepts_units_and_rejects_the_rest(void **st)
{
        static const struct {
                const char *s;
                int64_t v; /* -1: rejected */
        } cases[] = {
                {"90s", 90},   {"15m", 900}, {"36h", 129600}, {"30d", 2592000},
                {"1d", 86400}, {"0d", -1},   {"d", -1},       {"30", -1},
                {"30x", -1},   {"-1d", -1},  {" 1d", -1},     {"1d ", -1},
                {"1.5d", -1},  {"", -1},     {"1dd", -1},     {"99999999999999d", -1},
                {"+1d", -1},
        };

        (void)st;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                int64_t v = -7;
                int rc = rd_duration_parse(cases[i].s, &v);

                print_message("%s\n", cases[i].s);
                if (cases[i].v < 0) {
                        assert_int_equal(rc, -EINVAL);
                        assert_int_equal(v, -7);
                } else {
                        assert_int_equal(rc, 0);
                        assert_int_equal(v, cases[i].v);
                }
        }
}

static void test_duration_format_writes_the_largest_whole_unit_and_reads_back(void **st)
{
        static const struct {
                int64_t s;
                const char *text;
        } cases[] = {
                {30 * 86400, "30d"}, {36 * 3600, "36h"}, {90 * 60, "90m"},
                {45, "45s"},         {86401, "86401s"},  {0, "0s"},
        };
        char buf[RD_DURATION_STR];

        (void)st;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                int64_t back = 0;

                assert_string_equal(rd_duration_format(cases[i].s, buf), cases[i].text);
                if (cases[i].s > 0) {
                        assert_int_equal(rd_duration_parse(buf, &back), 0);
                        assert_int_equal(back, cases[i].s);
                }
        }
        assert_string_equal(rd_duration_format(-5, buf), "0s");
}

/* ---- reading the file (lib/yaml_reader: tests/test_yaml.c) ---------------- */

static void test_unreadable_file_is_an_error_in_diag(void **st)
{
        struct rd_rules *r = NULL;
        struct rd_diag d = {0};

        (void)st;
        assert_int_equal(rd_rules_load_file("/nonexistent/routing.yaml", &r, &d), -ENOENT);
        assert_null(r);
        assert_int_equal(d.n_errors, 1);
        assert_string_equal(
                rd_diag_first_error(&d),
                "/nonexistent/routing.yaml:1:1: cannot read: No such file or directory");
        rd_diag_clear(&d);
}

/* ---- one error each ---------------------------------------------------- */

struct diag_case {
        const char *name;
        const char *yaml;
        const char *expect; /* the one diagnostic */
};

static const struct diag_case error_cases[] = {
        {"yaml syntax error at libyaml's problem mark", L1 "rules: {a: 1\n",
         "t.yaml:3:1: syntax error: did not find expected ',' or '}' while parsing a flow "
         "mapping"},
        {"tab is a syntax error", L1 "rules:\n\t- name: x\n",
         "t.yaml:3:1: syntax error: found character that cannot start any token while scanning "
         "for the next token"},
        {"empty file", "",
         "t.yaml:1:1: the file is empty: it needs 'version: 1', 'rules' and "
         "what they name"},
        {"top level not a mapping", "- a\n",
         "t.yaml:1:1: the file: expected a mapping (version, defaults, teams, forward_targets, "
         "rules), "
         "not a list"},
        {"second document", BASE "---\nversion: 1\n",
         "t.yaml:12:1: a second YAML document: the file must hold one document only"},
        {"version must be 1", "version: 2\n" L2 L3 L4 L5 L6 L7 L8 L9 L10 L11,
         "t.yaml:1:10: version: must be 1, not '2'"},
        {"version missing", L2 L3 L4 L5 L6 L7 L8 L9 L10 L11,
         "t.yaml:1:1: missing key 'version': write 'version: 1' at the top"},
        {"unknown top-level key", BASE "colour: red\n",
         "t.yaml:12:1: unknown key 'colour'; the known keys are version, defaults, teams, "
         "forward_targets, rules"},
        {"unknown key suggests a near one", BASE "rulez: []\n",
         "t.yaml:12:1: unknown key 'rulez'; did you mean 'rules'?"},
        {"unknown connector key suggests",
         L1 L2 L3 L4 L5 L6
         "      - {id: sophie, capacity: 6, skils: [family_support]}\n" L7 L8 L9 L10 L11,
         "t.yaml:7:35: unknown key 'skils'; did you mean 'skills'?"},
        {"duplicate key", BASE "version: 1\n",
         "t.yaml:12:1: duplicate key 'version' (first at line 1)"},
        {"unknown defaults key", BASE "defaults: {windw: 30d}\n",
         "t.yaml:12:12: unknown key 'windw'; did you mean 'window'?"},
        {"bad duration", BASE "defaults: {window: 30x}\n",
         "t.yaml:12:20: window: bad duration '30x': use a whole number above 0 and a unit s, m, "
         "h or d, like 30d"},
        {"zero duration", BASE "defaults: {at_risk: 0d}\n",
         "t.yaml:12:21: at_risk: bad duration '0d': use a whole number above 0 and a unit s, m, "
         "h or d, like 30d"},
        {"teams not a list",
         L1 "teams: 5\n" L7 L8 L9 "  - name: all\n    forward: {to: caw, "
            "reason: x}\n",
         "t.yaml:2:8: teams: expected a list, not a single value"},
        {"capacity zero", L1 L2 L3 L4 L5 "      - {id: kelly, capacity: 0}\n" L7 L8 L9 L10 L11,
         "t.yaml:6:31: capacity: expected a whole number from 1 to 100000, got '0'"},
        {"capacity not a number",
         L1 L2 L3 L4 L5 "      - {id: kelly, capacity: six}\n" L7 L8 L9 L10 L11,
         "t.yaml:6:31: capacity: expected a whole number from 1 to 100000, got 'six'"},
        {"capacity missing",
         L1 L2 L3 L4 L5 "      - {id: kelly, skills: [family_support]}\n" L7 L8 L9 L10 L11,
         "t.yaml:6:9: a connector needs a 'capacity': how many families at once"},
        {"postcode range lo > hi",
         L1 L2 L3 "    postcodes: [\"3600\", \"3668-3660\"]\n" L5 L6 L7 L8 L9 L10 L11,
         "t.yaml:4:25: postcodes: bad postcode range '3668-3660': the first postcode is greater "
         "than the last"},
        {"postcode below 1000", L1 L2 L3 "    postcodes: [999]\n" L5 L6 L7 L8 L9 L10 L11,
         "t.yaml:4:17: postcodes: bad postcode '999': a postcode is 4 digits from 1000 to 9999"},
        {"postcode range above 9999",
         L1 L2 L3 "    postcodes: [\"9990-10000\"]\n" L5 L6 L7 L8 L9 L10 L11,
         "t.yaml:4:17: postcodes: bad postcode range '9990-10000': write \"lo-hi\" with two "
         "postcodes of 4 digits from 1000 to 9999, like \"3660-3668\""},
        {"bad team id",
         L1 L2 "  - id: Genk\n" L4 L5 L6 L7 L8 L9 L10 "    assign: {teams: "
               "[Genk]}\n",
         "t.yaml:3:9: id: 'Genk' is not a valid id: use lowercase letters, digits, '-' and '_', "
         "starting with a letter or digit, at most 64 characters"},
        {"team without id",
         L1 L2 "  - postcodes: [\"3600\"]\n" L7 L8 L9
               "  - name: all\n    forward: {to: caw, reason: x}\n",
         "t.yaml:3:5: a team needs an 'id'"},
        {"duplicate team id", L1 L2 L3 L4 L5 L6 TEAM2("genk", "\"3500\"", "lien") L7 L8 L9 L10 L11,
         "t.yaml:7:9: duplicate team id 'genk' (first at 3:9)"},
        {"duplicate connector id across teams",
         L1 L2 L3 L4 L5 L6 TEAM2("maas", "\"3630\"", "kelly") L7 L8 L9 L10
         "    assign: {teams: [genk, maas]}\n",
         "t.yaml:9:23: duplicate connector id 'kelly' (first at 6:14, team 'genk')"},
        {"duplicate target id", L1 L2 L3 L4 L5 L6 L7 L8 "  - {id: caw, name: CAW 2}\n" L9 L10 L11,
         "t.yaml:9:10: duplicate forward target id 'caw' (first at 8:10)"},
        {"duplicate rule name",
         HEAD "  - name: all\n    when: {urgency: high}\n"
              "    assign: {teams: [genk]}\n" L10 L11,
         "t.yaml:13:11: duplicate rule name 'all' (first at 10:5)"},
        {"unknown team reference suggests", HEAD L10 "    assign: {teams: [gnk]}\n",
         "t.yaml:11:22: unknown team 'gnk'; did you mean 'genk'?"},
        {"unknown target reference", HEAD L10 "    forward: {to: vk-limburg, reason: x}\n",
         "t.yaml:11:19: unknown forward target 'vk-limburg'"},
        {"both forward and assign", HEAD L10 L11 "    forward: {to: caw, reason: x}\n",
         "t.yaml:12:5: rule 'all' has both 'forward' and 'assign': a rule does one of them"},
        {"neither forward nor assign", HEAD L10,
         "t.yaml:10:5: rule 'all' needs 'forward' or 'assign'"},
        {"otherwise on a forward rule",
         HEAD L10 "    forward: {to: caw, reason: x}\n"
                  "    otherwise: waitlist\n",
         "t.yaml:12:5: 'otherwise' only applies to a rule with 'assign'; a 'forward' rule always "
         "forwards"},
        {"bad otherwise", BASE "    otherwise: waitlst\n",
         "t.yaml:12:16: otherwise: expected 'waitlist' or {forward: {to: TARGET, reason: TEXT}}, "
         "not 'waitlst'; did you mean 'waitlist'?"},
        {"otherwise forward to unknown target",
         BASE "    otherwise: {forward: {to: cwa, reason: x}}\n",
         "t.yaml:12:31: unknown forward target 'cwa'; did you mean 'caw'?"},
        {"missing catch-all at the last rule", HEAD L10 "    when: {kind: family_support}\n" L11,
         "t.yaml:10:5: missing catch-all: the last rule 'all' must have no 'when', so that every "
         "referral gets a decision"},
        {"rule after the catch-all", BASE "  - name: late\n    assign: {teams: [genk]}\n",
         "t.yaml:12:5: rule 'late' comes after the catch-all rule 'all' (no 'when') and can never "
         "match: move it up or remove it"},
        {"no rules", HEAD,
         "t.yaml:9:1: rules: at least one rule is needed, the last one without "
         "'when'"},
        {"unknown kind", HEAD "  - name: a\n    when: {kind: family}\n" L11 L10 L11,
         "t.yaml:11:18: kind: unknown value 'family': use 'family_support' or "
         "'first_line_psychology'"},
        {"unknown urgency suggests", HEAD "  - name: a\n    when: {urgency: crisiss}\n" L11 L10 L11,
         "t.yaml:11:21: urgency: unknown value 'crisiss'; did you mean 'crisis'?"},
        {"unknown when key suggests", HEAD "  - name: a\n    when: {postcodes: 3600}\n" L11 L10 L11,
         "t.yaml:11:12: unknown key 'postcodes'; did you mean 'postcode'?"},
        {"age range reversed", HEAD "  - name: a\n    when: {age: \"9-3\"}\n" L11 L10 L11,
         "t.yaml:11:17: age: '9-3': the first age is greater than the last"},
        {"age not a range", HEAD "  - name: a\n    when: {age: young}\n" L11 L10 L11,
         "t.yaml:11:17: age: expected \"a-b\" with ages from 0 to 25, like \"0-25\""},
        {"age above 25", HEAD "  - name: a\n    when: {age: \"0-30\"}\n" L11 L10 L11,
         "t.yaml:11:17: age: '0-30': ages run from 0 to 25"},
        {"bad language code", HEAD "  - name: a\n    when: {language: [nl, Dutch]}\n" L11 L10 L11,
         "t.yaml:11:27: language: 'Dutch' is not a language code: use 2 or 3 lowercase letters, "
         "like nl"},
        {"empty when list", HEAD "  - name: a\n    when: {partner: []}\n" L11 L10 L11,
         "t.yaml:11:21: partner: give at least one value"},
        {"unknown concerns key suggests",
         HEAD "  - name: a\n    when: {concerns: {nome: [x]}}\n" L11 L10 L11,
         "t.yaml:11:23: unknown key 'nome'; did you mean 'none'?"},
        {"bad concern tag", HEAD "  - name: a\n    when: {concerns: [Teen-Conflict]}\n" L11 L10 L11,
         "t.yaml:11:23: concerns: 'Teen-Conflict' is not a concern tag: use lowercase letters, "
         "digits and '_', at most 64 characters"},
        {"bad language mode suggests",
         HEAD L10 "    assign: {teams: [genk], language: "
                  "prefered}\n",
         "t.yaml:11:39: language: unknown value 'prefered'; did you mean 'prefer'?"},
        {"bad pick", HEAD L10 "    assign: {teams: [genk], pick: random}\n",
         "t.yaml:11:35: pick: unknown value 'random': use 'least_loaded' or 'round_robin'"},
        {"bad by_postcode", HEAD L10 "    assign: {teams: [genk], by_postcode: yes please}\n",
         "t.yaml:11:42: by_postcode: expected true or false"},
        {"assign without teams", HEAD L10 "    assign: {pick: round_robin}\n",
         "t.yaml:11:13: assign needs 'teams': the teams whose connectors may get the offer"},
        {"forward without reason", HEAD L10 "    forward: {to: caw}\n",
         "t.yaml:11:14: forward needs a 'reason': a sentence for the referring partner"},
        {"forward reason too long", HEAD L10 "    forward: {to: caw, reason: \"" REASON_121 "\"}\n",
         "t.yaml:11:32: reason: at most 120 characters, this one has 121: the events give the "
         "referring partner the reason whole"},
        {"otherwise's forward reason too long",
         BASE "    otherwise: {forward: {to: caw, reason: " REASON_121 "}}\n",
         "t.yaml:12:44: reason: at most 120 characters, this one has 121: the events give the "
         "referring partner the reason whole"},
        {"rule window bad duration", HEAD L10 "    assign: {teams: [genk], window: 4w}\n",
         "t.yaml:11:37: window: bad duration '4w': use a whole number above 0 and a unit s, m, h "
         "or d, like 30d"},
        {"(rev 2) unknown overflow team suggests",
         HEAD L10 "    assign: {teams: [genk], overflow: [gnek]}\n",
         "t.yaml:11:40: unknown team 'gnek'; did you mean 'genk'?"},
        {"(rev 2) a team in both teams and overflow",
         L1 L2 L3 L4 L5 L6 TEAM2("maas", "\"3630\"", "lien") L7 L8 L9 L10
         "    assign: {teams: [genk, maas], overflow: [maas]}\n",
         "t.yaml:14:46: team 'maas' is in both 'teams' and 'overflow' of rule 'all': its "
         "connectors are first-rank or overflow candidates, not both"},
        {"(rev 2) overflow not a list of teams",
         HEAD L10 "    assign: {teams: [genk], overflow: {a: b}}\n",
         "t.yaml:11:39: overflow: expected a value or a list of values, not a mapping"},
};

static void test_each_error_is_reported_at_its_line_and_column(void **st)
{
        size_t failed = 0;

        (void)st;
        for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
                const struct diag_case *c = &error_cases[i];
                struct rd_rules *r = NULL;
                struct rd_diag d = {0};
                int rc = load(c->yaml, &r, &d);

                print_message("case: %s\n", c->name);
                if (!diag_has(&d, c->expect) || d.n_errors != 1 || rc != -EINVAL) {
                        print_message("  want: %s\n", c->expect);
                        print_diag(&d);
                }
                if (rc != -EINVAL || r || d.n_errors != 1 ||
                    strcmp(rd_diag_first_error(&d), c->expect))
                        failed++;
                rd_rules_free(r);
                rd_diag_clear(&d);
        }
        assert_int_equal(failed, 0);
}

static const struct diag_case warning_cases[] = {
        {"shadowed rule",
         HEAD "  - name: family\n    when: {kind: family_support}\n" L11 "  - name: family-high\n"
              "    when: {kind: family_support, urgency: high}\n" L11 REST,
         "t.yaml:13:5: warning: rule 'family-high' never applies: the earlier rule 'family' "
         "matches every referral it matches"},
        {"shadowed by a wider postcode list and age range",
         HEAD "  - name: wide\n    when: {postcode: [\"3000-3999\"], age: \"0-18\"}\n" L11
              "  - name: narrow\n    when: {postcode: [3600, \"3660-3668\"], age: \"12-16\", "
              "language: nl}\n" L11 REST,
         "t.yaml:13:5: warning: rule 'narrow' never applies: the earlier rule 'wide' matches "
         "every referral it matches"},
        {"shadowed by concerns any",
         HEAD "  - name: any\n    when: {concerns: [a, b]}\n" L11
              "  - name: all\n    when: {concerns: {all: [b, c]}}\n" L11
              "  - name: rest\n    forward: {to: caw, reason: "
              "x}\n",
         "t.yaml:13:5: warning: rule 'all' never applies: the earlier rule 'any' matches every "
         "referral it matches"},
        {"connector no rule can reach",
         L1 L2 L3 L4 L5 L6
         "      - {id: psy, capacity: 6, skills: [first_line_psychology]}\n" L7 L8 L9
         "  - name: all\n    assign: {teams: [genk], skill: family_support}\n" OTHERWISE_CAW,
         "t.yaml:7:14: warning: connector 'psy' can never get an offer: no rule assigns to team "
         "'genk' with a skill the connector has"},
        {"postcode in two teams",
         L1 L2 L3 L4 L5 L6 TEAM2("maas", "\"3630\", \"3665-3670\"", "lien") L7 L8 L9 L10
         "    assign: {teams: [genk, maas]}\n" OTHERWISE_CAW,
         "t.yaml:8:25: warning: postcodes 3665-3668 are also in the list of team 'genk'"},
        {"team without connectors",
         L1 L2 L3 L4 L5 L6 "  - id: empty\n" L7 L8 L9 L10 L11 OTHERWISE_CAW,
         "t.yaml:7:9: warning: team 'empty' has no connectors"},
};

static void test_each_warning_is_reported_and_does_not_fail(void **st)
{
        (void)st;
        for (size_t i = 0; i < sizeof warning_cases / sizeof warning_cases[0]; i++) {
                const struct diag_case *c = &warning_cases[i];
                struct rd_rules *r = NULL;
                struct rd_diag d = {0};
                int rc = load(c->yaml, &r, &d);

                print_message("case: %s\n", c->name);
                if (!diag_has(&d, c->expect) || d.n != 1 || rc != 0) {
                        print_message("  want: %s\n", c->expect);
                        print_diag(&d);
                }
                assert_int_equal(rc, 0);
                assert_non_null(r);
                assert_int_equal(d.n_errors, 0);
                assert_int_equal(d.n_warnings, 1);
                assert_string_equal(d.items[0].text, c->expect);
                rd_rules_free(r);
                rd_diag_clear(&d);
        }
}

static void test_rules_that_are_not_shadowed_give_no_warning(void **st)
{
        /* each later rule lets through a referral the earlier ones do not */
        static const char yaml[] =
                HEAD "  - name: a\n    when: {kind: family_support, urgency: high}\n" L11
                     "  - name: b\n    when: {kind: family_support}\n" L11
                     "  - name: c\n    when: {postcode: [\"3600\"]}\n" L11
                     "  - name: d\n    when: {postcode: [\"3600-3601\"]}\n" L11
                     "  - name: e\n    when: {age: \"0-10\"}\n" L11
                     "  - name: f\n    when: {age: \"5-12\"}\n" L11
                     "  - name: g\n    when: {concerns: {all: [x], none: [y]}}\n" L11
                     "  - name: h\n    when: {concerns: {all: [x]}}\n" L11
                     "  - name: i\n    when: {language: nl}\n" L11
                     "  - name: j\n    when: {language: [nl, fr]}\n" L11 REST;
        struct rd_rules *r = NULL;
        struct rd_diag d = {0};

        (void)st;
        assert_int_equal(load(yaml, &r, &d), 0);
        print_diag(&d);
        assert_int_equal(d.n, 0);
        rd_rules_free(r);
        rd_diag_clear(&d);
}

/* ---- overflow (rev 2) ----------------------------------------------------- */

/* 120 characters that take two bytes each (240 bytes) */
#define E10 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
#define E120 E10 E10 E10 E10 E10 E10 E10 E10 E10 E10 E10 E10

static void test_a_forward_reason_of_120_characters_loads_whole(void **st)
{
        static const char ascii[] =
                HEAD "  - name: family\n    when: {kind: family_support}\n" L11
                     "  - name: rest\n    forward: {to: caw, reason: \"" REASON_120 "\"}\n";
        static const char accents[] =
                BASE "    otherwise: {forward: {to: caw, reason: " E120 "}}\n";
        struct rd_rules *r;

        (void)st;
        r = load_clean(ascii);
        assert_string_equal(r->rules[1].forward_reason, REASON_120);
        rd_rules_free(r);
        /* characters, not bytes: 240 bytes of 120 characters */
        r = load_clean(accents);
        assert_string_equal(r->rules[0].otherwise_reason, E120);
        assert_int_equal(strlen(r->rules[0].otherwise_reason), 240);
        rd_rules_free(r);
}

static void test_overflow_lists_second_rank_teams_once(void **st)
{
        static const char yaml[] =
                L1 L2 L3 L4 L5 L6 TEAM2("maas", "\"3630\"", "lien") TEAM2("as", "\"3500\"", "an")
                        L7 L8 L9 "  - name: family\n    when: {kind: family_support}\n"
                                 "    assign: {teams: genk, overflow: [maas, as, maas]}\n"
                                 "  - name: single\n    when: {urgency: high}\n"
                                 "    assign: {teams: [as], overflow: genk}\n"
                                 "  - name: none\n    when: {urgency: crisis}\n"
                                 "    assign: {teams: [genk], overflow: []}\n" REST;
        struct rd_rules *r = load_clean(yaml);

        (void)st;
        assert_int_equal(r->rules[0].n_teams, 1);
        assert_int_equal(r->rules[0].n_overflow, 2);
        assert_int_equal(r->rules[0].overflow[0], rd_rules_team_index(r, "maas"));
        assert_int_equal(r->rules[0].overflow[1], rd_rules_team_index(r, "as"));
        assert_int_equal(r->rules[1].n_overflow, 1);
        assert_int_equal(r->rules[1].overflow[0], rd_rules_team_index(r, "genk"));
        assert_int_equal(r->rules[2].n_overflow, 0); /* an empty list: none */
        assert_null(r->rules[2].overflow);
        assert_int_equal(r->rules[3].n_overflow, 0);
        rd_rules_free(r);
}

/* ---- what can never happen (rev 2) ------------------------------------------ */

struct warnings_case {
        const char *name;
        const char *yaml;
        const char *expect[4]; /* every diagnostic, in order; NULL-terminated */
};

/* Team lines 5..7 for a team without postcodes. */
#define TEAM_NOPC(id, conn, skill)                                                                 \
        "  - id: " id "\n"                                                                         \
        "    connectors:\n"                                                                        \
        "      - {id: " conn ", capacity: 2, skills: [" skill "], languages: [nl]}\n"

static const struct warnings_case reach_cases[] = {
        {"by_postcode and a postcode no team serves",
         HEAD "  - name: family\n    when: {kind: family_support, postcode: [\"3600\", \"3500\"]}\n"
              "    assign: {teams: [genk], by_postcode: true}\n" REST,
         {"t.yaml:11:53: warning: rule 'family' takes postcode 3500, which no team of the rule "
          "serves (by_postcode: true): such referrals would wait with no candidate"}},
        {"by_postcode and a range partly served",
         HEAD "  - name: family\n    when: {kind: family_support, postcode: [\"3600-3670\"]}\n"
              "    assign: {teams: [genk], by_postcode: true}\n" REST,
         {"t.yaml:11:45: warning: rule 'family' takes postcodes 3601-3659 (and 2 more in this "
          "range), which no team of the rule serves (by_postcode: true): such referrals would "
          "wait with no candidate"}},
        {"by_postcode with overflow: only the overflow teams can take them",
         L1 L2 L3 L4 L5 L6 TEAM2("maas", "\"3630\"", "lien") L7 L8 L9
         "  - name: family\n    when: {kind: family_support, postcode: [\"3600\", \"3630\"]}\n"
         "    assign: {teams: [genk], overflow: [maas], by_postcode: true}\n" REST,
         {"t.yaml:14:53: warning: rule 'family' takes postcode 3630, which no team of the rule "
          "serves (by_postcode: true): such referrals can only be offered to its overflow "
          "teams"}},
        {"a team no rule names",
         L1 L2 L3 L4 L5 L6 TEAM2("maas", "\"3630\"", "lien") L7 L8 L9
         "  - name: family\n    when: {kind: family_support}\n" L11 REST,
         {"t.yaml:7:9: warning: team 'maas' can never get an offer: no rule names it in 'teams' "
          "or 'overflow'"}},
        {"a team whose connectors lack the skill, and its rule",
         L1 L2 L3 L4 L5 L6 TEAM2("maas", "\"3630\"", "lien") L7 L8 L9
         "  - name: psy\n    when: {kind: first_line_psychology}\n"
         "    assign: {teams: [maas]}\n" L10 L11 OTHERWISE_CAW,
         {"t.yaml:7:9: warning: team 'maas' can never get an offer: rule 'psy' asks for the "
          "skill 'first_line_psychology', which no connector of team 'maas' has",
          "t.yaml:15:21: warning: rule 'psy' can never make an offer: no connector of its teams "
          "has the skill 'first_line_psychology'"}},
        {"a team without postcodes under by_postcode",
         HEAD_WITH(TEAM_NOPC(
                 "psy", "lien",
                 "family_support")) "  - name: family\n    when: {kind: family_support}\n"
                                    "    assign: {teams: [genk, psy], by_postcode: true}\n" L10 L11
                                            OTHERWISE_CAW,
         {"t.yaml:7:9: warning: team 'psy' can never get an offer: rule 'family' picks by "
          "postcode and team 'psy' has no postcodes"}},
        {"a connector who does not speak what the rule requires",
         L1 L2 L3 L4 L5 "      - {id: kelly, capacity: 6, skills: [family_support], "
                        "languages: [nl]}\n"
                        "      - {id: amal, capacity: 6, skills: [family_support], "
                        "languages: [ar, nl]}\n" L7 L8 L9
                        "  - name: arabic\n    when: {kind: family_support, language: ar}\n"
                        "    assign: {teams: [genk], language: require}\n" REST,
         {"t.yaml:6:14: warning: connector 'kelly' can never get an offer: rule 'arabic' "
          "requires one of the languages 'ar', which the connector does not speak"}},
        {"a rule that requires a language nobody speaks",
         HEAD "  - name: arabic\n    when: {kind: family_support, language: [ar, fa]}\n"
              "    assign: {teams: [genk], language: require}\n" L10 L11 OTHERWISE_CAW,
         {"t.yaml:12:39: warning: rule 'arabic' can never make an offer: language: require, "
          "and no connector of its teams with the skill 'family_support' speaks 'ar' or 'fa'"}},
        {"a rule skill nobody has points at the skill",
         HEAD "  - name: school\n    when: {concerns: [school]}\n"
              "    assign: {teams: [genk], skill: school_support}\n" L10 L11 OTHERWISE_CAW,
         {"t.yaml:12:36: warning: rule 'school' can never make an offer: no connector of its "
          "teams has the skill 'school_support'"}},
        {"kind by kind: only the kind no earlier rule takes reaches a rule",
         L1 L2 L3 L4 L5 "      - {id: kelly, capacity: 6, skills: [family_support]}\n" L7 L8 L9
                        "  - name: family\n    when: {kind: family_support}\n" L11
                        "  - name: all\n    assign: {teams: [genk]}\n" OTHERWISE_CAW,
         {"t.yaml:14:21: warning: rule 'all' can never make an offer: no connector of its teams "
          "has the skill 'first_line_psychology'"}},
        {"a target no rule forwards to", BASE, {CAW_UNUSED}},
        {"a target only a rule that never applies forwards to",
         HEAD "  - name: family\n    when: {kind: family_support}\n" L11
              "  - name: family-high\n    when: {kind: family_support, urgency: high}\n"
              "    forward: {to: caw, reason: x}\n" L10 L11,
         {"t.yaml:8:10: warning: forward target 'caw' can never be forwarded to: the rules that "
          "forward to it never apply ('family-high')",
          "t.yaml:13:5: warning: rule 'family-high' never applies: the earlier rule 'family' "
          "matches every referral it matches"}},
};

static void test_what_nothing_can_reach_is_a_warning_at_its_key(void **st)
{
        size_t failed = 0;

        (void)st;
        for (size_t i = 0; i < sizeof reach_cases / sizeof reach_cases[0]; i++) {
                const struct warnings_case *c = &reach_cases[i];
                struct rd_rules *r = NULL;
                struct rd_diag d = {0};
                int rc = load(c->yaml, &r, &d);
                size_t n = 0;
                bool same;

                while (n < 4 && c->expect[n])
                        n++;
                same = rc == 0 && r && d.n_errors == 0 && d.n == n;
                for (size_t k = 0; same && k < n; k++)
                        same = !strcmp(d.items[k].text, c->expect[k]);
                if (!same) {
                        print_message("case: %s\n", c->name);
                        for (size_t k = 0; k < n; k++)
                                print_message("  want: %s\n", c->expect[k]);
                        print_diag(&d);
                        failed++;
                }
                rd_rules_free(r);
                rd_diag_clear(&d);
        }
        assert_int_equal(failed, 0);
}

static void test_what_can_be_reached_gives_no_warning(void **st)
{
        /* an earlier rule takes the postcode no team serves, kind by kind;
         * an overflow team needs no postcodes; a target forwarded to by an
         * `otherwise` only; a connector reached by require without
         * when.language (a family without a language is not filtered) */
        static const char yaml[] = L1 L2 L3 L4 L5 L6 TEAM_NOPC("psy", "lien", "family_support")
                L7 L8 "  - {id: cgg, name: CGG}\n" L9 "  - name: hasselt-psy\n"
                      "    when: {kind: first_line_psychology, postcode: 3500}\n"
                      "    forward: {to: caw, reason: x}\n"
                      "  - name: hasselt-family\n"
                      "    when: {kind: family_support, postcode: [3500]}\n"
                      "    forward: {to: caw, reason: x}\n"
                      "  - name: family\n"
                      "    when: {postcode: [\"3600\", \"3500\"]}\n"
                      "    assign: {teams: [genk], overflow: [psy], by_postcode: true,\n"
                      "             language: require}\n"
                      "    otherwise: {forward: {to: cgg, reason: x}}\n" REST;

        (void)st;
        rd_rules_free(load_clean(yaml));
}

/* ---- rules show (rev 2) ------------------------------------------------------ */

static const char show_yaml[] =
        "version: 1\n"
        "defaults: {window: 20d, trajectory: 36h}\n"
        "teams:\n"
        "  - id: menen\n"
        "    postcodes: [\"8930\", \"8940-8941\"]\n"
        "    connectors:\n"
        "      - {id: an, capacity: 2, skills: [family_support], languages: [nl, fr]}\n"
        "  - id: kortrijk\n"
        "    postcodes: [8500]\n"
        "    connectors:\n"
        "      - {id: bram, capacity: 24, skills: [family_support], languages: nl}\n"
        "  - id: psy\n"
        "    connectors:\n"
        "      - {id: psy-1, capacity: 10, skills: [first_line_psychology, school]}\n"
        "forward_targets:\n"
        "  - {id: cgg, name: \"CGG\"}\n"
        "  - {id: caw, name: \"CAW \\u001b[2K\"}\n"
        "rules:\n"
        "  - name: crisis\n"
        "    when: {urgency: [high, crisis], partner: [huisarts, cjg]}\n"
        "    forward: {to: cgg, reason: \"acute\\ncrisis\"}\n"
        "  - name: school\n"
        "    when: {concerns: {any: [school_refusal], all: [teen], none: [abuse]}, age: \"12\"}\n"
        "    assign: {teams: [psy], skill: school, pick: round_robin, language: ignore,\n"
        "             window: 10d, accept_within: 36h}\n"
        "    otherwise: {forward: {to: cgg, reason: \"no place\"}}\n"
        "  - name: west\n"
        "    when: {kind: family_support, postcode: [\"8930\", \"8940-8941\", \"8500\"],\n"
        "           language: [nl, fr]}\n"
        "    assign: {teams: [menen, kortrijk], by_postcode: true, overflow: [kortrijk],\n"
        "             language: require}\n"
        "  - name: rest\n"
        "    forward: {to: caw, reason: outside}\n";

/* SHOW_YAML without its one error (kortrijk in both teams and overflow). */
static struct rd_rules *show_rules(void)
{
        char yaml[sizeof show_yaml];
        struct rd_rules *r = NULL;
        struct rd_diag d = {0};

        memcpy(yaml, show_yaml, sizeof show_yaml);
        memcpy(strstr(yaml, "[menen, kortrijk]"), "[menen]          ", 17);
        assert_int_equal(rd_rules_load_buffer("s.yaml", yaml, strlen(yaml), &r, &d), 0);
        print_diag(&d);
        rd_diag_clear(&d);
        return r;
}

static void test_rules_show_text_reads_rule_by_rule(void **st)
{
        static const char want[] =
                "Routing file s.yaml (digest %s)\n"
                "Defaults: window 20d, accept_within 2d, at_risk 7d, trajectory 36h.\n"
                "The rules are tried from top to bottom; the first that matches decides.\n"
                "\n"
                "1. crisis (line 19)\n"
                "   Matches: urgency is high or crisis; partner is huisarts or cjg.\n"
                "   Always forwards to cgg (CGG), reason: \"acute?crisis\".\n"
                "\n"
                "2. school (line 22)\n"
                "   Matches: at least one child aged 12; concerns include any of "
                "school_refusal; concerns include all of teen; concerns include none of abuse.\n"
                "   Offers it to a free connector with the skill school, whatever their "
                "language (language: ignore), in turn (pick: round_robin); window 10d, offers "
                "expire after 36h.\n"
                "   Teams:\n"
                "     psy, no postcodes:\n"
                "       psy-1: capacity 10; skills first_line_psychology, school; no languages "
                "given\n"
                "   Otherwise (no place within the window): forwards to cgg (CGG), reason: \"no "
                "place\".\n"
                "\n"
                "3. west (line 27)\n"
                "   Matches: kind is family_support; postcode in 8930, 8940-8941, 8500; "
                "language is nl or fr.\n"
                "   Offers it to a free connector with the skill of the referral's kind, only "
                "speakers of the family's language (language: require), least loaded first "
                "(pick: least_loaded); window 20d, offers expire after 2d.\n"
                "   Teams, only the one whose postcodes hold the family's (by_postcode: true):\n"
                "     menen, postcodes 8930, 8940-8941:\n"
                "       an: capacity 2; skills family_support; languages nl, fr\n"
                "   Overflow teams, when no connector of the teams above is free:\n"
                "     kortrijk, postcodes 8500:\n"
                "       bram: capacity 24; skills family_support; languages nl\n"
                "   Otherwise (no place within the window): the family waits anyway "
                "(waitlist).\n"
                "\n"
                "4. rest (line 32)\n"
                "   Matches: every referral that reaches it.\n"
                "   Always forwards to caw (CAW ?[2K), reason: \"outside\".\n";
        struct rd_rules *r = NULL;
        struct rd_diag d = {0};
        char *buf = NULL, *expect = NULL;
        size_t len = 0;
        FILE *f;

        (void)st;
        /* the file has a team in both teams and overflow: fix that first */
        assert_int_equal(rd_rules_load_buffer("s.yaml", show_yaml, strlen(show_yaml), &r, &d),
                         -EINVAL);
        assert_string_equal(rd_diag_first_error(&d),
                            "s.yaml:30:70: team 'kortrijk' is in both 'teams' and 'overflow' of "
                            "rule 'west': its connectors are first-rank or overflow candidates, "
                            "not both");
        rd_diag_clear(&d);
        r = show_rules();
        f = open_memstream(&buf, &len);
        assert_non_null(f);
        assert_int_equal(rd_rules_show_text(r, f), 0);
        assert_int_equal(fclose(f), 0);
        assert_true(asprintf(&expect, want, r->digest) > 0);
        assert_string_equal(buf, expect);
        free(expect);
        free(buf);
        /* a stream that cannot be written: -EIO */
        f = fopen("/dev/null", "r");
        assert_non_null(f);
        assert_int_equal(rd_rules_show_text(r, f), -EIO);
        fclose(f);
        rd_rules_free(r);
}

static void test_rules_show_json_says_what_the_text_says(void **st)
{
        static const char want[] =
                "[{\"name\": \"crisis\", \"line\": 19,"
                "  \"when\": {\"urgency\": [\"high\", \"crisis\"], \"partner\": [\"huisarts\", "
                "\"cjg\"]},"
                "  \"forward\": {\"to\": \"cgg\", \"name\": \"CGG\", \"reason\": "
                "\"acute\\ncrisis\"}},"
                " {\"name\": \"school\", \"line\": 22,"
                "  \"when\": {\"age\": \"12-12\", \"concerns\": {\"any\": [\"school_refusal\"], "
                "\"all\": [\"teen\"], \"none\": [\"abuse\"]}},"
                "  \"assign\": {\"teams\": [{\"id\": \"psy\", \"postcodes\": null, \"connectors\": "
                "[{\"id\": \"psy-1\", \"capacity\": 10, \"skills\": [\"first_line_psychology\", "
                "\"school\"], \"languages\": []}]}], \"overflow\": [], \"by_postcode\": false, "
                "\"skill\": \"school\", \"language\": \"ignore\", \"pick\": \"round_robin\", "
                "\"window\": \"10d\", \"accept_within\": \"36h\"},"
                "  \"otherwise\": {\"forward\": {\"to\": \"cgg\", \"name\": \"CGG\", \"reason\": "
                "\"no place\"}}},"
                " {\"name\": \"west\", \"line\": 27,"
                "  \"when\": {\"kind\": [\"family_support\"], \"postcode\": [\"8930\", "
                "\"8940-8941\", \"8500\"], \"language\": [\"nl\", \"fr\"]},"
                "  \"assign\": {\"teams\": [{\"id\": \"menen\", \"postcodes\": [\"8930\", "
                "\"8940-8941\"], \"connectors\": [{\"id\": \"an\", \"capacity\": 2, \"skills\": "
                "[\"family_support\"], \"languages\": [\"nl\", \"fr\"]}]}],"
                "   \"overflow\": [{\"id\": \"kortrijk\", \"postcodes\": [\"8500\"], "
                "\"connectors\": "
                "[{\"id\": \"bram\", \"capacity\": 24, \"skills\": [\"family_support\"], "
                "\"languages\": [\"nl\"]}]}],"
                "   \"by_postcode\": true, \"skill\": null, \"language\": \"require\", \"pick\": "
                "\"least_loaded\", \"window\": \"20d\", \"accept_within\": \"2d\"},"
                "  \"otherwise\": \"waitlist\"},"
                " {\"name\": \"rest\", \"line\": 32, \"when\": {},"
                "  \"forward\": {\"to\": \"caw\", \"name\": \"CAW \\u001b[2K\", \"reason\": "
                "\"outside\"}}]";
        struct rd_rules *r = show_rules();
        json_t *j = rd_rules_show_json(r), *w = json_loads(want, 0, NULL);
        char *got;

        (void)st;
        assert_non_null(j);
        assert_non_null(w);
        assert_string_equal(json_string_value(json_object_get(j, "file")), "s.yaml");
        assert_string_equal(json_string_value(json_object_get(j, "digest")), r->digest);
        got = json_dumps(json_object_get(j, "defaults"), JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(got, "{\"accept_within\":\"2d\",\"at_risk\":\"7d\",\"trajectory\":"
                                 "\"36h\",\"window\":\"20d\"}");
        free(got);
        got = json_dumps(json_object_get(j, "rules"), JSON_COMPACT);
        if (!json_equal(json_object_get(j, "rules"), w))
                print_message("got: %s\n", got);
        assert_true(json_equal(json_object_get(j, "rules"), w));
        free(got);
        json_decref(w);
        json_decref(j);
        rd_rules_free(r);
}

static void test_all_errors_are_reported_in_one_pass_in_file_order(void **st)
{
        static const char yaml[] = "version: 1\n"
                                   "defaults: {window: 3 days}\n"
                                   "teams:\n"
                                   "  - id: genk\n"
                                   "    postcodes: [\"3600\", \"12\"]\n"
                                   "    connectors: [{id: kelly, capacity: -1}]\n"
                                   "rules:\n"
                                   "  - name: a\n"
                                   "    assign: {teams: [nope]}\n"
                                   "  - name: b\n"
                                   "    forward: {to: nowhere, reason: x}\n"
                                   "colour: red\n";
        static const char *const want[] = {
                "t.yaml:2:20: window: bad duration '3 days': use a whole number above 0 and a "
                "unit s, m, h or d, like 30d",
                "t.yaml:5:25: postcodes: bad postcode '12': a postcode is 4 digits from 1000 to "
                "9999",
                "t.yaml:6:40: capacity: expected a whole number from 1 to 100000, got '-1'",
                "t.yaml:9:22: unknown team 'nope'",
                "t.yaml:10:5: rule 'b' comes after the catch-all rule 'a' (no 'when') and can "
                "never match: move it up or remove it",
                "t.yaml:11:19: unknown forward target 'nowhere'",
                "t.yaml:12:1: unknown key 'colour'; the known keys are version, defaults, teams, "
                "forward_targets, rules",
        };
        struct rd_rules *r = NULL;
        struct rd_diag d = {0};

        (void)st;
        assert_int_equal(load(yaml, &r, &d), -EINVAL);
        print_diag(&d);
        assert_int_equal(d.n_errors, sizeof want / sizeof want[0]);
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
                assert_string_equal(d.items[i].text, want[i]);
        rd_diag_clear(&d);
}

static void test_an_empty_when_is_a_catch_all(void **st)
{
        static const char yaml[] = HEAD "  - name: a\n    when: {}\n" L11 OTHERWISE_CAW;
        static const char yaml2[] = HEAD "  - name: a\n    when:\n" L11 OTHERWISE_CAW;
        struct rd_rules *r = NULL;
        struct rd_diag d = {0};

        (void)st;
        assert_int_equal(load(yaml, &r, &d), 0);
        assert_true(r->rules[0].catch_all);
        rd_rules_free(r);
        r = NULL;
        assert_int_equal(load(yaml2, &r, &d), 0);
        assert_true(r->rules[0].catch_all);
        assert_int_equal(d.n, 0);
        rd_rules_free(r);
        rd_diag_clear(&d);
}

static void test_diagnostics_never_carry_control_characters(void **st)
{
        static const char yaml[] = "version: 1\nrules:\n  - name: \"a\\nb\\u001b[2K\"\n";
        struct rd_diag diag = {0};
        struct rd_rules *r = NULL;

        (void)st;
        assert_true(rd_rules_load_buffer("x.yaml", yaml, sizeof yaml - 1, &r, &diag) < 0);
        assert_true(diag.n > 0);
        for (size_t i = 0; i < diag.n; i++)
                for (const char *p = diag.items[i].text; *p; p++)
                        assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
        rd_diag_clear(&diag);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_diagnostics_never_carry_control_characters),
                cmocka_unit_test(test_config_routing_yaml_loads_without_errors_or_warnings),
                cmocka_unit_test(test_base_loads_clean_with_defaults),
                cmocka_unit_test(test_scalars_stand_for_lists_and_numbers_for_postcodes),
                cmocka_unit_test(test_index_lookups_find_ids_or_minus_one),
                cmocka_unit_test(test_digest_is_sha256_of_the_bytes),
                cmocka_unit_test(test_duration_parse_accepts_units_and_rejects_the_rest),
                cmocka_unit_test(test_duration_format_writes_the_largest_whole_unit_and_reads_back),
                cmocka_unit_test(test_unreadable_file_is_an_error_in_diag),
                cmocka_unit_test(test_each_error_is_reported_at_its_line_and_column),
                cmocka_unit_test(test_each_warning_is_reported_and_does_not_fail),
                cmocka_unit_test(test_rules_that_are_not_shadowed_give_no_warning),
                cmocka_unit_test(test_overflow_lists_second_rank_teams_once),
                cmocka_unit_test(test_what_nothing_can_reach_is_a_warning_at_its_key),
                cmocka_unit_test(test_what_can_be_reached_gives_no_warning),
                cmocka_unit_test(test_rules_show_text_reads_rule_by_rule),
                cmocka_unit_test(test_rules_show_json_says_what_the_text_says),
                cmocka_unit_test(test_all_errors_are_reported_in_one_pass_in_file_order),
                cmocka_unit_test(test_an_empty_when_is_a_catch_all),
                cmocka_unit_test(test_a_forward_reason_of_120_characters_loads_whole),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
