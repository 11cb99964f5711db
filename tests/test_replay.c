/* test_replay.c: lib/replay's synthetic replay (tools.md, "What-if
 * replay"): Little's law and the model's own rates over years of simulated
 * time, the same seed giving the same JSON, a connector added showing in
 * the changes, and a failure that frees what the replay was given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

#define DAY_S 86400.0

/* One region: two family connectors by postcode (the model's default
 * postcodes), psychologists for the whole region, crisis forwarded.
 * %u: the family connectors' capacity, %u: the psychologists', %s: more
 * psychologists. */
static const char routing[] =
        "version: 1\n"
        "teams:\n"
        "  - id: west\n"
        "    postcodes: [\"8500\", \"8510\", \"8930\"]\n"
        "    connectors:\n"
        "      - {id: anna, capacity: %u, skills: [family_support], languages: [nl, fr]}\n"
        "      - {id: bert, capacity: %u, skills: [family_support], languages: [nl]}\n"
        "  - id: psy\n"
        "    connectors:\n"
        "      - {id: psy-1, capacity: %u, skills: [first_line_psychology]}\n"
        "%s"
        "forward_targets:\n"
        "  - {id: cgg, name: \"CGG\"}\n"
        "rules:\n"
        "  - name: crisis\n"
        "    when: {urgency: crisis}\n"
        "    forward: {to: cgg, reason: \"acute crisis\"}\n"
        "  - name: psychology\n"
        "    when: {kind: first_line_psychology}\n"
        "    assign: {teams: [psy]}\n"
        "  - name: family\n"
        "    when: {kind: family_support}\n"
        "    assign: {teams: [west], by_postcode: true}\n"
        "  - name: rest\n"
        "    forward: {to: cgg, reason: \"other\"}\n";

#define PSY_2 "      - {id: psy-2, capacity: 2, skills: [first_line_psychology]}\n"

static struct rd_rules *rules(unsigned family, unsigned psy, const char *more)
{
        struct rd_rules *r = NULL;
        struct rd_diag diag = {0};
        char buf[4096];
        int n = snprintf(buf, sizeof buf, routing, family, family, psy, more);

        assert_true(n > 0 && (size_t)n < sizeof buf);
        if (rd_rules_load_buffer("routing.yaml", buf, (size_t)n, &r, &diag) < 0)
                fail_msg("routing file refused: %s", rd_diag_first_error(&diag));
        rd_diag_clear(&diag);
        return r;
}

static struct rd_synth_model *model(const char *text)
{
        struct rd_synth_model *m = NULL;
        struct rd_diag diag = {0};

        if (rd_synth_load_buffer("model.yaml", text, strlen(text), &m, &diag) < 0)
                fail_msg("model refused: %s", rd_diag_first_error(&diag));
        rd_diag_clear(&diag);
        return m;
}

static struct rd_replay_result *replay(const struct rd_synth_model *m, struct rd_rules *base,
                                       struct rd_rules *cand, uint64_t seed)
{
        struct rd_replay_options o = {.seed = seed};
        struct rd_replay_result *res = NULL;
        char errbuf[512] = "";

        if (rd_replay_synthetic(m, base, cand, &o, &res, errbuf, sizeof errbuf) < 0)
                fail_msg("replay failed: %s", errbuf);
        return res;
}

static char *result_text(const struct rd_replay_result *res)
{
        json_t *o = rd_replay_json(res);
        char *text;

        assert_non_null(o);
        text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        assert_non_null(text);
        return text;
}

static struct rd_figures_summary summary(const struct rd_figures_acc *f)
{
        struct rd_figures_summary s;

        assert_int_equal(rd_figures_summary(f, &s), 0);
        return s;
}

/* ---- the tests ------------------------------------------------------------------------ */

static void test_years_of_a_roomy_region_keep_littles_law_and_the_models_rates(void **state)
{
        /* ten years, a thousand referrals a year, trajectories of a month:
         * nobody is ever full */
        static const char text[] = "synthetic:\n"
                                   "  days: 3650\n"
                                   "  referrals_per_year: 1000\n"
                                   "  accept_after: 1h\n"
                                   "  trajectory: 30d\n";
        struct rd_synth_model *m = model(text);
        struct rd_replay_result *res = replay(m, rules(1000, 1000, ""), rules(1000, 1000, ""), 7);
        struct rd_figures_summary s = summary(res->candidate.figures);
        double expected_n = 1000.0 * 3650 / 365, mu = 30 * DAY_S, span = 3650 * DAY_S;
        double little = (double)s.trajectories_started / s.days * s.mean_length_s / DAY_S;
        /* a trajectory still open at the end counts up to the end: over a
         * span D the mean of exponential lengths of mean mu comes out near
         * mu (1 - mu / D) */
        double censored = mu * (1 - mu / span);

        (void)state;
        assert_true(fabs(s.days - 3650) < 1e-9);
        assert_int_equal(s.waitlisted, 0);
        assert_true(s.trajectories_started > 9000);
        assert_true(fabs(s.mean_open - little) <= 0.01 * little);
        /* arrivals: Poisson, within four standard deviations */
        assert_true(fabs((double)s.referrals - expected_n) <= 4 * sqrt(expected_n));
        /* lengths: the mean of n exponentials, within four standard errors */
        assert_true(fabs(s.mean_length_s - censored) <=
                    4 * mu / sqrt((double)s.trajectories_started));
        /* the same file on both sides decides the same */
        assert_int_equal(res->changed, 0);
        rd_replay_result_free(res);
        rd_synth_free(m);
}

static void test_the_same_seed_gives_the_same_json_and_another_seed_another(void **state)
{
        static const char text[] = "synthetic: {days: 365, referrals_per_year: 375}\n";
        struct rd_synth_model *m = model(text);
        struct rd_replay_result *a = replay(m, rules(6, 4, ""), rules(8, 6, ""), 42);
        struct rd_replay_result *b = replay(m, rules(6, 4, ""), rules(8, 6, ""), 42);
        struct rd_replay_result *c = replay(m, rules(6, 4, ""), rules(8, 6, ""), 43);
        char *ta = result_text(a), *tb = result_text(b), *tc = result_text(c);

        (void)state;
        assert_string_equal(ta, tb);
        assert_string_not_equal(ta, tc);
        assert_true(strstr(ta, "\"seed\":42") != NULL);
        free(ta);
        free(tb);
        free(tc);
        rd_replay_result_free(a);
        rd_replay_result_free(b);
        rd_replay_result_free(c);
        rd_synth_free(m);
}

static void test_a_candidate_with_one_more_connector_lists_the_decisions_it_changes(void **state)
{
        static const char text[] = "synthetic: {days: 365, referrals_per_year: 375}\n";
        struct rd_synth_model *m = model(text);
        struct rd_replay_result *res = replay(m, rules(6, 2, ""), rules(6, 2, PSY_2), 1);
        struct rd_figures_summary b = summary(res->baseline.figures);
        struct rd_figures_summary c = summary(res->candidate.figures);
        bool names_psy_2 = false;
        json_t *ch;
        size_t i;

        (void)state;
        assert_int_equal(b.referrals, c.referrals);
        assert_true(res->changed > 0);
        assert_int_equal(json_array_size(res->changes), res->changed);
        json_array_foreach(res->changes, i, ch)
        {
                json_t *x = json_object_get(ch, "baseline"), *y = json_object_get(ch, "candidate");
                const char *cc = json_string_value(json_object_get(y, "connector"));
                assert_int_equal(json_string_value(json_object_get(ch, "id"))[0], 'S');
                assert_false(json_equal(x, y));
                names_psy_2 = names_psy_2 || (cc && !strcmp(cc, "psy-2"));
        }
        assert_true(names_psy_2);
        /* more room for psychology: fewer referrals wait first */
        assert_true(c.waitlisted < b.waitlisted);
        rd_replay_result_free(res);
        rd_synth_free(m);
}

static void test_a_database_without_a_referral_is_said_and_frees_both_files(void **state)
{
        struct rd_replay_options o = {.seed = 1};
        struct rd_replay_result *res = NULL;
        struct rd_store *empty = NULL;
        char errbuf[512] = "";

        (void)state;
        assert_int_equal(rd_store_open_memory(&empty, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_replay_history(empty, rules(6, 2, ""), rules(6, 2, ""), INT64_MIN,
                                           INT64_MAX, &o, &res, errbuf, sizeof errbuf),
                         -ENOENT);
        assert_null(res);
        assert_non_null(strstr(errbuf, "no referral"));
        rd_store_close(empty);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(
                        test_years_of_a_roomy_region_keep_littles_law_and_the_models_rates),
                cmocka_unit_test(test_the_same_seed_gives_the_same_json_and_another_seed_another),
                cmocka_unit_test(
                        test_a_candidate_with_one_more_connector_lists_the_decisions_it_changes),
                cmocka_unit_test(test_a_database_without_a_referral_is_said_and_frees_both_files),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
