/* cases.c: `referralctl rules test FILE CASES.yaml`: decide each case of a
 * cases file (read by lib/cases: a YAML list of {name, referral, expect,
 * at, loads, declined}) as the daemon would (decide.h), and compare with
 * what it expects. */
#include "run_cases.h"

#include "cases.h"
#include "decide.h"
#include "options.h"
#include "print.h"
#include "words.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the cases file ---------------------------------------------------- */

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
                            const struct test_state *base, const struct rd_case *tc, int64_t at)
{
        size_t nc = rules->n_connectors, total = 0, k = 0;

        memset(cs, 0, sizeof *cs);
        if (base) {
                cs->st = base->st;
        }
        cs->st.excluded = (const char *const *)tc->declined;
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
                for (int64_t j = 0; j < tc->loads[i]; j++)
                        cs->synth[k++] = at + rules->trajectory_s * 1000;
        }
        cs->st.load = cs->load;
        cs->st.ends = cs->ends;
        cs->st.n_ends = cs->n_ends;
        return 0;
}

/* Compare a case's expect with the decision DEC; print the mismatches
 * (after "FAIL NAME: ") and return how many there are. */
static int case_compare(const struct rd_case *tc, const json_t *dec, bool print)
{
        int bad = 0;

        for (size_t i = 0; i < RD_CASE_EXPECT__MAX; i++) {
                const char *key = rd_case_expect_name((enum rd_case_expect)i);
                const char *got = jstr(dec, key);

                if (!tc->expect[i] || (got && !strcmp(got, tc->expect[i])))
                        continue;
                if (print)
                        printf("%s%s: expected %s, got %s", bad ? "; " : "", key, tc->expect[i],
                               got ? got : "none");
                bad++;
        }
        return bad;
}

/* Print the result of case TC, decided DEC, with BAD mismatches. */
static void case_print(const struct ctl *c, const struct rd_rules *rules, const struct rd_case *tc,
                       json_t *dec, int bad)
{
        if (c->json) {
                json_t *o = json_object(), *exp = json_object();

                for (size_t k = 0; k < RD_CASE_EXPECT__MAX; k++)
                        if (tc->expect[k])
                                json_object_set_new(exp,
                                                    rd_case_expect_name((enum rd_case_expect)k),
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
}

int run_cases(const struct ctl *c, const char *path, const struct rd_rules *rules,
              const struct test_state *base, int64_t at)
{
        struct rd_diag diag = {0};
        struct rd_cases *cases = NULL;
        size_t failed = 0;
        int r = rd_cases_load_file(path, rules, &cases, &diag);

        print_diag(&diag);
        if (r < 0 && diag.n_errors == 0)
                fault("%s: %s", path, strerror(-r));
        else if (r < 0)
                fprintf(stderr, "%s: %zu error(s) in the cases file; nothing was tested\n", path,
                        diag.n_errors);
        rd_diag_clear(&diag);
        if (r < 0)
                return EXIT_FAULT;
        for (size_t i = 0; i < cases->n; i++) {
                const struct rd_case *tc = &cases->v[i];
                int64_t when = tc->has_at ? tc->at : at;
                struct case_state cs;
                json_t *dec = NULL;
                int bad;

                if (case_state_build(&cs, rules, base, tc, when) < 0) {
                        fault("out of memory");
                        rd_cases_free(cases);
                        return EXIT_FAULT;
                }
                r = run_decision(rules, &cs.st, &tc->ref, when, &dec);
                case_state_free(&cs);
                if (r) {
                        rd_cases_free(cases);
                        return r;
                }
                bad = case_compare(tc, dec, false);
                failed += bad > 0;
                case_print(c, rules, tc, dec, bad);
                json_decref(dec);
        }
        if (!c->json)
                printf("%zu case(s): %zu passed, %zu failed\n", cases->n, cases->n - failed,
                       failed);
        rd_cases_free(cases);
        return failed ? EXIT_FAULT : EXIT_OK;
}
