/* test_synth.c: lib/synth against tools.md ("What-if replay", "Synthetic"):
 * the model file with its defaults and the message and position of each
 * mistake; the numbers, the same on every machine; the referrals and
 * answers a seed gives, and that over years they follow the model. */
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

#include "synth.h"

#define NAME "m.yaml"
#define DAY_MS 86400000LL
#define START_MS 1798761600000LL /* 2027-01-01T00:00:00Z */
#define SIGMAS 4.0               /* "within sampling error": 4 standard errors */

static void print_diag(const struct rd_diag *d)
{
        for (size_t i = 0; i < d->n; i++)
                print_message("  got: %s\n", d->items[i].text);
}

static struct rd_synth_model *load_ok(const char *text)
{
        struct rd_synth_model *m = NULL;
        struct rd_diag d = {0};
        int rc = rd_synth_load_buffer(NAME, text, strlen(text), &m, &d);

        print_diag(&d);
        assert_int_equal(rc, 0);
        assert_int_equal(d.n, 0);
        assert_non_null(m);
        rd_diag_clear(&d);
        return m;
}

/* ---- the file -------------------------------------------------------------- */

static void assert_models_equal(const struct rd_synth_model *a, const struct rd_synth_model *b)
{
        assert_int_equal(a->days, b->days);
        assert_int_equal(a->referrals_per_year, b->referrals_per_year);
        assert_memory_equal(a->mix, b->mix, sizeof a->mix);
        assert_int_equal(a->n_postcodes, b->n_postcodes);
        assert_memory_equal(a->postcodes, b->postcodes, a->n_postcodes * sizeof *a->postcodes);
        assert_int_equal(a->age_lo, b->age_lo);
        assert_int_equal(a->age_hi, b->age_hi);
        assert_int_equal(a->n_languages, b->n_languages);
        for (size_t i = 0; i < a->n_languages; i++) {
                assert_string_equal(a->languages[i], b->languages[i]);
                assert_int_equal(a->language_shares[i], b->language_shares[i]);
        }
        assert_memory_equal(a->urgency, b->urgency, sizeof a->urgency);
        assert_int_equal(a->accept_after_ms, b->accept_after_ms);
        assert_int_equal(a->start_after_ms, b->start_after_ms);
        assert_int_equal(a->trajectory_ms, b->trajectory_ms);
        assert_int_equal(a->decline_share, b->decline_share);
}

static void test_the_example_of_tools_md_loads_with_its_values(void **state)
{
        struct rd_synth_model *m = NULL;
        struct rd_diag d = {0};

        (void)state;
        assert_int_equal(rd_synth_load_file(RD_TEST_DATA "/synthetic_example.yaml", &m, &d), 0);
        print_diag(&d);
        assert_int_equal(d.n, 0);
        assert_int_equal(m->days, 365);
        assert_int_equal(m->referrals_per_year, 375);
        assert_int_equal(m->mix[RD_KIND_FAMILY_SUPPORT], 720000000);
        assert_int_equal(m->mix[RD_KIND_FIRST_LINE_PSYCHOLOGY], 280000000);
        assert_int_equal(m->n_postcodes, 3);
        assert_int_equal(m->postcodes[0], 8500);
        assert_int_equal(m->postcodes[1], 8510);
        assert_int_equal(m->postcodes[2], 8930);
        assert_int_equal(m->age_lo, 0);
        assert_int_equal(m->age_hi, 17);
        assert_int_equal(m->n_languages, 2);
        assert_string_equal(m->languages[0], "nl");
        assert_int_equal(m->language_shares[0], 900000000);
        assert_string_equal(m->languages[1], "fr");
        assert_int_equal(m->language_shares[1], 100000000);
        assert_int_equal(m->urgency[RD_URGENCY_NORMAL], 900000000);
        assert_int_equal(m->urgency[RD_URGENCY_HIGH], 80000000);
        assert_int_equal(m->urgency[RD_URGENCY_CRISIS], 20000000);
        assert_int_equal(m->accept_after_ms, 2 * DAY_MS);
        assert_int_equal(m->start_after_ms, 5 * DAY_MS);
        assert_int_equal(m->trajectory_ms, 120 * DAY_MS);
        assert_int_equal(m->decline_share, 50000000);
        rd_synth_free(m);
}

static void test_a_model_of_days_and_rate_only_gets_the_values_of_tools_md(void **state)
{
        struct rd_synth_model *example = NULL, *m;
        struct rd_diag d = {0};

        (void)state;
        assert_int_equal(rd_synth_load_file(RD_TEST_DATA "/synthetic_example.yaml", &example, &d),
                         0);
        m = load_ok("synthetic:\n  days: 365\n  referrals_per_year: 375\n");
        assert_models_equal(m, example);
        rd_synth_free(m);
        rd_synth_free(example);
}

static void test_a_value_given_replaces_its_default_whole(void **state)
{
        struct rd_synth_model *m = load_ok("synthetic:\n"
                                           "  days: 30\n"
                                           "  referrals_per_year: 1000\n"
                                           "  mix: {first_line_psychology: 1}\n"
                                           "  postcodes: [3600, \"3660-3668\", \"3662\"]\n"
                                           "  ages: \"7\"\n"
                                           "  languages: {tr: 0.333, ar: 0.333, nl: 0.333}\n"
                                           "  urgency: {crisis: 1.000}\n"
                                           "  accept_after: 36h\n"
                                           "  start_after: 90m\n"
                                           "  trajectory: 45s\n"
                                           "  decline_share: 0\n");

        (void)state;
        assert_int_equal(m->mix[RD_KIND_FAMILY_SUPPORT], 0);
        assert_int_equal(m->mix[RD_KIND_FIRST_LINE_PSYCHOLOGY], RD_SYNTH_SHARE_ONE);
        /* routing.md's postcodes: unquoted, ranges, each postcode once */
        assert_int_equal(m->n_postcodes, 10);
        assert_int_equal(m->postcodes[0], 3600);
        assert_int_equal(m->postcodes[1], 3660);
        assert_int_equal(m->postcodes[9], 3668);
        assert_int_equal(m->age_lo, 7);
        assert_int_equal(m->age_hi, 7);
        assert_int_equal(m->n_languages, 3);
        assert_string_equal(m->languages[1], "ar");
        assert_int_equal(m->language_shares[1], 333000000);
        assert_int_equal(m->urgency[RD_URGENCY_NORMAL], 0);
        assert_int_equal(m->urgency[RD_URGENCY_CRISIS], RD_SYNTH_SHARE_ONE);
        assert_int_equal(m->accept_after_ms, 36 * 3600000LL);
        assert_int_equal(m->start_after_ms, 90 * 60000LL);
        assert_int_equal(m->trajectory_ms, 45000);
        assert_int_equal(m->decline_share, 0);
        rd_synth_free(m);
}

struct bad {
        const char *name;
        const char *text;
        const char *want[4]; /* every diagnostic, in order */
};

#define BASE "synthetic:\n  days: 365\n  referrals_per_year: 375\n"

static const struct bad bad_files[] = {
        {"a misspelt key, and so a missing one",
         "synthetic:\n  days: 365\n  referals_per_year: 375\n",
         {NAME ":2:3: synthetic: missing key 'referrals_per_year' (arrivals a year)",
          NAME ":3:3: unknown key 'referals_per_year'; did you mean 'referrals_per_year'?"}},
        {"a repeated key",
         BASE "  days: 30\n",
         {NAME ":4:3: duplicate key 'days' (first at line 2)"}},
        {"neither days nor a rate",
         "synthetic: {trajectory: 90d}\n",
         {NAME ":1:12: synthetic: missing key 'days' (how many days to simulate)",
          NAME ":1:12: synthetic: missing key 'referrals_per_year' (arrivals a year)"}},
        {"days and a rate out of range",
         "synthetic:\n  days: 0\n  referrals_per_year: 37.5\n",
         {NAME ":2:9: days: expected a whole number from 1 to 3660, not '0'",
          NAME ":3:23: referrals_per_year: expected a whole number from 1 to 100000, not '37.5'"}},
        {"too many days",
         "synthetic: {days: 3661, referrals_per_year: 100001}\n",
         {NAME ":1:19: days: expected a whole number from 1 to 3660, not '3661'",
          NAME ":1:45: referrals_per_year: expected a whole number from 1 to 100000, not "
               "'100001'"}},
        {"shares that do not add up",
         BASE "  mix: {family_support: 0.7, first_line_psychology: 0.2}\n",
         {NAME ":4:8: mix: the shares add up to 0.9; they must add up to 1 (within 0.001)"}},
        {"shares a little too high",
         BASE "  urgency: {normal: 0.9, high: 0.08, crisis: 0.0211}\n",
         {NAME ":4:12: urgency: the shares add up to 1.0011; they must add up to 1 (within "
               "0.001)"}},
        {"shares that are not shares",
         BASE "  languages: {nl: 1.5, fr: abc, de: 0.1234567891, en: [1]}\n",
         {NAME ":4:19: languages.nl: expected a share from 0 to 1 with at most 9 decimals, like "
               "0.72, not '1.5'",
          NAME ":4:28: languages.fr: expected a share from 0 to 1 with at most 9 decimals, like "
               "0.72, not 'abc'",
          NAME ":4:37: languages.de: expected a share from 0 to 1 with at most 9 decimals, like "
               "0.72, not '0.1234567891'",
          NAME ":4:55: languages.en: expected a single value, not a list"}},
        {"an unknown kind and urgency",
         BASE "  mix: {family_suport: 1}\n  urgency: {normal: 0.5, urgent: 0.5}\n",
         {NAME ":4:9: mix: unknown value 'family_suport'; did you mean 'family_support'?",
          NAME ":5:26: urgency: unknown value 'urgent': use 'normal', 'high' or 'crisis'"}},
        {"a language that is no language code",
         BASE "  languages: {NL: 1}\n",
         {NAME ":4:15: languages: 'NL' is not a language code: use 2 or 3 lowercase letters, "
               "like nl"}},
        {"bad postcodes",
         BASE "  postcodes: [\"850\", \"9000-8000\"]\n",
         {NAME ":4:15: postcodes: bad postcode '850': a postcode is 4 digits from 1000 to 9999",
          NAME ":4:22: postcodes: bad postcode range '9000-8000': the first postcode is greater "
               "than the last"}},
        {"no postcodes",
         BASE "  postcodes: []\n",
         {NAME ":4:14: postcodes: give at least one value"}},
        {"ages out of range",
         BASE "  ages: \"0-30\"\n",
         {NAME ":4:9: age: '0-30': ages run from 0 to 25"}},
        {"bad durations and decline share",
         BASE "  accept_after: 2 days\n  trajectory: 0d\n  decline_share: 2\n",
         {NAME ":4:17: accept_after: bad duration '2 days': use a whole number above 0 and a unit "
               "s, m, h or d, like 30d",
          NAME ":5:15: trajectory: bad duration '0d': use a whole number above 0 and a unit s, m, "
               "h or d, like 30d",
          NAME ":6:18: decline_share: expected a share from 0 to 1 with at most 9 decimals, like "
               "0.72, not '2'"}},
        {"shares that are not a mapping, and none",
         BASE "  mix: [family_support]\n  languages: {}\n",
         {NAME ":4:8: mix: expected a mapping of shares {name: share}, not a list",
          NAME ":5:14: languages: give at least one share"}},
        {"the model is not a mapping",
         "synthetic: [365]\n",
         {NAME ":1:12: synthetic: expected a mapping (days, referrals_per_year, mix, postcodes, "
               "ages, languages, urgency, accept_after, start_after, trajectory, decline_share), "
               "not a list"}},
        {"no synthetic key",
         "days: 365\n",
         {NAME ":1:1: unknown key 'days'; the known keys are synthetic",
          NAME ":1:1: missing key 'synthetic': the file needs 'synthetic:' with at least 'days' "
               "and 'referrals_per_year'"}},
        {"a list", "- 365\n", {NAME ":1:1: the file: expected a mapping (synthetic), not a list"}},
        {"an empty file",
         "# to do\n",
         {NAME ":1:1: the file is empty: it needs 'synthetic:' with at least 'days' and "
               "'referrals_per_year'"}},
};

static void test_each_mistake_is_reported_where_it_is(void **state)
{
        size_t failed = 0;

        (void)state;
        for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
                const struct bad *b = &bad_files[i];
                struct rd_synth_model *m = (struct rd_synth_model *)0x1;
                struct rd_diag d = {0};
                size_t n = 0;
                int rc = rd_synth_load_buffer(NAME, b->text, strlen(b->text), &m, &d);
                bool ok = rc == -EINVAL && m == (struct rd_synth_model *)0x1;

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

static void test_shares_may_miss_1_by_a_thousandth_at_most(void **state)
{
        struct rd_synth_model *m;
        struct rd_diag d = {0};
        const char *off = BASE "  languages: {nl: 0.333, fr: 0.333, de: 0.3329}\n";

        (void)state;
        m = load_ok(BASE "  languages: {nl: 0.333, fr: 0.333, de: 0.333}\n"); /* 0.999 */
        rd_synth_free(m);
        m = load_ok(BASE "  languages: {nl: 0.5, fr: 0.501}\n"); /* 1.001 */
        rd_synth_free(m);
        m = NULL;
        assert_int_equal(rd_synth_load_buffer(NAME, off, strlen(off), &m, &d), -EINVAL);
        assert_null(m);
        assert_string_equal(rd_diag_first_error(&d),
                            NAME ":4:14: languages: the shares add up to 0.9989; they must add up "
                                 "to 1 (within 0.001)");
        rd_diag_clear(&d);
}

static void test_a_missing_model_file_cannot_be_read(void **state)
{
        struct rd_synth_model *m = NULL;
        struct rd_diag d = {0};

        (void)state;
        assert_int_equal(rd_synth_load_file("/nonexistent/model.yaml", &m, &d), -ENOENT);
        assert_null(m);
        assert_int_equal(d.n, 1);
        assert_string_equal(d.items[0].text,
                            "/nonexistent/model.yaml:1:1: cannot read: No such file or directory");
        rd_diag_clear(&d);
}

/* ---- the numbers --------------------------------------------------------------- */

static void test_the_numbers_are_xoshiro256starstar_seeded_by_splitmix64(void **state)
{
        /* the reference outputs of both algorithms (their authors' C code) */
        struct rd_rng g = {{1, 2, 3, 4}};

        (void)state;
        assert_int_equal(rd_rng_next(&g), 11520);
        assert_int_equal(rd_rng_next(&g), 0);
        assert_int_equal(rd_rng_next(&g), 1509978240);
        assert_int_equal(rd_rng_next(&g), UINT64_C(1215971899390074240));
        rd_rng_seed(&g, 0);
        assert_int_equal(g.s[0], UINT64_C(0xe220a8397b1dcdaf));
        assert_int_equal(g.s[1], UINT64_C(0x6e789e6aa1b965f4));
        assert_int_equal(g.s[2], UINT64_C(0x06c45d188009454f));
}

static void test_a_whole_number_below_n_is_below_n_and_takes_every_value(void **state)
{
        struct rd_rng g;
        unsigned seen[7] = {0};

        (void)state;
        rd_rng_seed(&g, 7);
        for (int i = 0; i < 7000; i++) {
                uint64_t v = rd_rng_below(&g, 7);

                assert_true(v < 7);
                seen[v]++;
        }
        for (int i = 0; i < 7; i++) /* 1000 expected, sd 30 */
                assert_in_range(seen[i], 1000 - 4 * 30, 1000 + 4 * 30);
        assert_int_equal(rd_rng_below(&g, 1), 0);
        assert_int_equal(rd_rng_below(&g, 0), 0);
}

static void test_an_exponential_draw_is_mean_times_minus_ln_u_rounded(void **state)
{
        /* libm here only checks the fixed point: the draws never use it */
        static const uint64_t means[] = {1, 1000, 172800000, UINT64_C(3153600000000),
                                         (UINT64_C(1) << 45) - 1};
        struct rd_rng g;

        (void)state;
        rd_rng_seed(&g, 2027);
        for (size_t m = 0; m < sizeof means / sizeof means[0]; m++)
                for (int i = 0; i < 20000; i++) {
                        struct rd_rng copy = g;
                        uint64_t k = (rd_rng_next(&copy) >> 11) + 1;
                        double want = -log((double)k / 9007199254740992.0) * (double)means[m];
                        double got = (double)rd_rng_exp(&g, means[m]);

                        /* 2^-46 of the mean (synth.h), 1e-12 for libm */
                        if (fabs(got - want) > 0.5 + ldexp((double)means[m], -46) + 1e-12 * want)
                                fail_msg("mean %llu, k %llu: got %.0f, want %.3f",
                                         (unsigned long long)means[m], (unsigned long long)k, got,
                                         want);
                }
}

static void test_exponential_draws_are_the_same_on_every_machine(void **state)
{
        /* round(120d * -ln(k / 2^53)) for the first eight k of seed 375,
         * worked out apart with 50-digit decimals (Python's decimal): a
         * machine where these differed would replay another region from
         * the same seed */
        static const uint64_t want[] = {
                9370916580,  19149908557, 1697405386,  39923772386,
                18728371245, 2274220738,  29240719846, 21594985042,
        };
        struct rd_rng g;

        (void)state;
        rd_rng_seed(&g, 375);
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
                assert_int_equal(rd_rng_exp(&g, 120 * DAY_MS), want[i]);
}

/* ---- referrals and answers -------------------------------------------------------- */

static bool same_referral(const struct rd_synth_arrival *a, const struct rd_synth_arrival *b)
{
        const struct rd_referral *x = &a->referral, *y = &b->referral;

        return a->at_ms == b->at_ms && a->number == b->number && !strcmp(x->ref, y->ref) &&
               x->kind == y->kind && !strcmp(x->postcode, y->postcode) &&
               x->n_children == y->n_children &&
               !memcmp(x->ages, y->ages, x->n_children * sizeof x->ages[0]) &&
               !strcmp(x->language, y->language) && x->urgency == y->urgency;
}

/* How many referrals the streams of seeds A and B share in a row, from the
 * first, and the number of A's referrals in *N. */
static size_t common_prefix(const struct rd_synth_model *m, uint64_t a, uint64_t b, size_t *n)
{
        struct rd_synth_gen ga, gb;
        struct rd_synth_arrival x, y;
        size_t same = 0;
        bool differ = false;

        rd_synth_gen_init(&ga, m, a, START_MS);
        rd_synth_gen_init(&gb, m, b, START_MS);
        *n = 0;
        while (rd_synth_next(&ga, &x)) {
                bool more = rd_synth_next(&gb, &y);

                differ = differ || !more || !same_referral(&x, &y);
                same += !differ;
                (*n)++;
        }
        return same;
}

static void test_the_same_seed_gives_the_same_referrals_and_another_seed_others(void **state)
{
        struct rd_synth_model *m = load_ok(BASE);
        size_t n, same;

        (void)state;
        same = common_prefix(m, 42, 42, &n);
        assert_int_equal(same, n);
        assert_in_range(n, 300, 450);
        assert_int_equal(common_prefix(m, 42, 43, &n), 0);
        rd_synth_free(m);
}

static void test_the_first_referrals_of_a_seed_are_fixed(void **state)
{
        /* as drawn here once: the same on every machine */
        static const struct {
                int64_t at_ms;
                const char *ref, *postcode, *language;
                enum rd_kind kind;
                unsigned n_children;
                uint8_t age0;
                enum rd_urgency urgency;
        } want[] = {
                {1798813484492, "S000001", "8510", "nl", RD_KIND_FIRST_LINE_PSYCHOLOGY, 1, 8,
                 RD_URGENCY_NORMAL},
                {1798854969716, "S000002", "8500", "fr", RD_KIND_FAMILY_SUPPORT, 2, 11,
                 RD_URGENCY_NORMAL},
                {1798877659846, "S000003", "8930", "nl", RD_KIND_FAMILY_SUPPORT, 1, 12,
                 RD_URGENCY_NORMAL},
        };
        struct rd_synth_model *m = load_ok(BASE);
        struct rd_synth_gen g;
        struct rd_synth_arrival a;

        (void)state;
        rd_synth_gen_init(&g, m, 1, START_MS);
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
                assert_int_equal(rd_synth_next(&g, &a), 1);
                assert_int_equal(a.at_ms, want[i].at_ms);
                assert_int_equal(a.number, i + 1);
                assert_string_equal(a.referral.ref, want[i].ref);
                assert_int_equal(a.referral.kind, want[i].kind);
                assert_string_equal(a.referral.postcode, want[i].postcode);
                assert_int_equal(a.referral.n_children, want[i].n_children);
                assert_int_equal(a.referral.ages[0], want[i].age0);
                assert_string_equal(a.referral.language, want[i].language);
                assert_int_equal(a.referral.urgency, want[i].urgency);
        }
        rd_synth_free(m);
}

static void test_an_answer_depends_on_its_seed_referral_and_offer_only(void **state)
{
        struct rd_synth_model *m = load_ok(BASE);
        struct rd_synth_answer a, b, c;

        (void)state;
        rd_synth_answer(m, 9, 17, 0, &a);
        rd_synth_answer(m, 9, 18, 0, &c);
        rd_synth_answer(m, 9, 17, 0, &b);
        assert_int_equal(a.decline, b.decline);
        assert_int_equal(a.answer_ms, b.answer_ms);
        assert_int_equal(a.start_ms, b.start_ms);
        assert_int_equal(a.trajectory_ms, b.trajectory_ms);
        assert_true(a.trajectory_ms != c.trajectory_ms);
        rd_synth_answer(m, 9, 17, 1, &c);
        assert_true(a.trajectory_ms != c.trajectory_ms);
        rd_synth_answer(m, 10, 17, 0, &c);
        assert_true(a.trajectory_ms != c.trajectory_ms);
        rd_synth_free(m);
}

static void test_every_referral_is_valid_and_holds_no_personal_data(void **state)
{
        struct rd_synth_model *m = load_ok("synthetic:\n  days: 3650\n  referrals_per_year: 375\n"
                                           "  postcodes: [\"3660-3662\", 8500]\n"
                                           "  ages: \"3-5\"\n");
        struct rd_synth_gen g;
        struct rd_synth_arrival a;
        int64_t last = START_MS;
        unsigned children[RD_SYNTH_CHILDREN_MAX + 1] = {0};

        (void)state;
        rd_synth_gen_init(&g, m, 5, START_MS);
        while (rd_synth_next(&g, &a)) {
                struct rd_referral back;
                struct rd_error err;
                json_t *o = rd_referral_to_json(&a.referral, true);
                char ref[16];

                assert_true(a.at_ms >= last && a.at_ms < START_MS + 3650 * DAY_MS);
                last = a.at_ms;
                snprintf(ref, sizeof ref, "S%06llu", (unsigned long long)a.number);
                assert_string_equal(a.referral.ref, ref);
                assert_string_equal(a.referral.partner, "synthetic");
                assert_false(rd_referral_has_family(&a.referral));
                assert_null(a.referral.note);
                assert_int_equal(a.referral.n_concerns, 0);
                assert_true(!strcmp(a.referral.postcode, "3660") ||
                            !strcmp(a.referral.postcode, "3661") ||
                            !strcmp(a.referral.postcode, "3662") ||
                            !strcmp(a.referral.postcode, "8500"));
                assert_in_range(a.referral.n_children, 1, RD_SYNTH_CHILDREN_MAX);
                children[a.referral.n_children]++;
                for (unsigned i = 0; i < a.referral.n_children; i++)
                        assert_in_range(a.referral.ages[i], 3, 5);
                /* what a partner could submit */
                json_object_set_new(o, "consent", json_true());
                if (rd_referral_from_json(o, &back, &err) != 0)
                        fail_msg("%s: %s: %s", ref, err.field, err.message);
                rd_referral_clear(&back);
                json_decref(o);
        }
        assert_int_equal(g.n, a.number);
        for (int k = 1; k <= RD_SYNTH_CHILDREN_MAX; k++) /* a third each: 1250, sd 31 */
                assert_in_range(children[k], 1250 - 4 * 31, 1250 + 4 * 31);
        assert_int_equal(rd_synth_next(&g, &a), 0); /* over for good */
        rd_synth_free(m);
}

/* |X - WANT| within SIGMAS standard errors SE, printed either way. */
static void assert_near(const char *what, double x, double want, double se)
{
        print_message("  %-22s %12.4f, model %12.4f, %+.2f standard errors\n", what, x, want,
                      (x - want) / se);
        if (fabs(x - want) > SIGMAS * se)
                fail_msg("%s: %f is more than %.0f standard errors (%f) from %f", what, x, SIGMAS,
                         se, want);
}

/* A share observed as COUNT of N, against the model's share P. */
static void assert_share(const char *what, uint64_t count, uint64_t n, double p)
{
        assert_near(what, (double)count / (double)n, p, sqrt(p * (1 - p) / (double)n));
}

static void test_over_years_the_draws_follow_the_model_within_sampling_error(void **state)
{
        /* eight years at 375 a year: 3000 referrals expected, Poisson
         * (sd 55); each mean of n exponential draws has a standard error
         * of mean / sqrt(n), each share p of p(1-p)/n */
        struct rd_synth_model *m = load_ok("synthetic:\n  days: 2920\n  referrals_per_year: 375\n");
        const double lambda = 2920.0 * 375 / 365;

        (void)state;
        for (uint64_t seed = 1; seed <= 5; seed++) {
                struct rd_synth_gen g;
                struct rd_synth_arrival a;
                double sum[3] = {0};
                uint64_t n = 0, declined = 0, family = 0, crisis = 0, french = 0;

                print_message("seed %llu\n", (unsigned long long)seed);
                rd_synth_gen_init(&g, m, seed, START_MS);
                while (rd_synth_next(&g, &a)) {
                        struct rd_synth_answer ans;

                        rd_synth_answer(m, seed, a.number, 0, &ans);
                        n++;
                        declined += ans.decline;
                        sum[0] += (double)ans.answer_ms;
                        sum[1] += (double)ans.start_ms;
                        sum[2] += (double)ans.trajectory_ms;
                        family += a.referral.kind == RD_KIND_FAMILY_SUPPORT;
                        crisis += a.referral.urgency == RD_URGENCY_CRISIS;
                        french += !strcmp(a.referral.language, "fr");
                }
                assert_near("arrivals", (double)n, lambda, sqrt(lambda));
                assert_near("accept_after (days)", sum[0] / (double)n / DAY_MS, 2,
                            2 / sqrt((double)n));
                assert_near("start_after (days)", sum[1] / (double)n / DAY_MS, 5,
                            5 / sqrt((double)n));
                assert_near("trajectory (days)", sum[2] / (double)n / DAY_MS, 120,
                            120 / sqrt((double)n));
                assert_share("decline_share", declined, n, 0.05);
                assert_share("mix.family_support", family, n, 0.72);
                assert_share("urgency.crisis", crisis, n, 0.02);
                assert_share("languages.fr", french, n, 0.1);
        }
        rd_synth_free(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_the_example_of_tools_md_loads_with_its_values),
                cmocka_unit_test(test_a_model_of_days_and_rate_only_gets_the_values_of_tools_md),
                cmocka_unit_test(test_a_value_given_replaces_its_default_whole),
                cmocka_unit_test(test_each_mistake_is_reported_where_it_is),
                cmocka_unit_test(test_shares_may_miss_1_by_a_thousandth_at_most),
                cmocka_unit_test(test_a_missing_model_file_cannot_be_read),
                cmocka_unit_test(test_the_numbers_are_xoshiro256starstar_seeded_by_splitmix64),
                cmocka_unit_test(test_a_whole_number_below_n_is_below_n_and_takes_every_value),
                cmocka_unit_test(test_an_exponential_draw_is_mean_times_minus_ln_u_rounded),
                cmocka_unit_test(test_exponential_draws_are_the_same_on_every_machine),
                cmocka_unit_test(
                        test_the_same_seed_gives_the_same_referrals_and_another_seed_others),
                cmocka_unit_test(test_the_first_referrals_of_a_seed_are_fixed),
                cmocka_unit_test(test_an_answer_depends_on_its_seed_referral_and_offer_only),
                cmocka_unit_test(test_every_referral_is_valid_and_holds_no_personal_data),
                cmocka_unit_test(test_over_years_the_draws_follow_the_model_within_sampling_error),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
