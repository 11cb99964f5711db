/* test_replay_history.c: the replay from history (tools.md, "What-if
 * replay", "From history", "Fidelity"). A year of a region is made as the
 * daemon makes it (history_maker.c: the hub over a real store file, a
 * driven clock, deadlines handled a few ms late, the audit trail), with
 * accepts, declines, starts and closes, offers that lapse, withdrawals,
 * manual assignments and erasures; then replayed from a scratch copy of
 * the file. */
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
#include <unistd.h>

#include "history_maker.h"
#include "replay.h"
#include "store.h"

#define DAY_MS INT64_C(86400000)

/* A region under strain: two family teams by postcode, psychologists by
 * round robin whose rule forwards what cannot start in time, crisis
 * forwarded. %s: more psychologists. */
static const char routing[] =
        "version: 1\n"
        "defaults: {window: 30d, accept_within: 3d, at_risk: 7d, trajectory: 60d}\n"
        "teams:\n"
        "  - id: west\n"
        "    postcodes: [\"8500\", \"8510\"]\n"
        "    connectors:\n"
        "      - {id: anna, capacity: 6, skills: [family_support], languages: [nl, fr]}\n"
        "      - {id: bert, capacity: 5, skills: [family_support], languages: [nl]}\n"
        "  - id: east\n"
        "    postcodes: [\"8930\"]\n"
        "    connectors:\n"
        "      - {id: cis, capacity: 6, skills: [family_support], languages: [nl, fr]}\n"
        "  - id: psy\n"
        "    connectors:\n"
        "      - {id: psy-1, capacity: 3, skills: [first_line_psychology]}\n"
        "      - {id: psy-2, capacity: 3, skills: [first_line_psychology]}\n"
        "%s"
        "forward_targets:\n"
        "  - {id: cgg, name: \"CGG\"}\n"
        "rules:\n"
        "  - name: crisis\n"
        "    when: {urgency: crisis}\n"
        "    forward: {to: cgg, reason: \"acute crisis\"}\n"
        "  - name: psychology\n"
        "    when: {kind: first_line_psychology}\n"
        "    assign: {teams: [psy], pick: round_robin, window: 45d}\n"
        "    otherwise: {forward: {to: cgg, reason: \"no psychologist in time\"}}\n"
        "  - name: family\n"
        "    when: {kind: family_support}\n"
        "    assign: {teams: [west, east], by_postcode: true}\n"
        "  - name: rest\n"
        "    forward: {to: cgg, reason: \"other\"}\n";

#define PSY_3 "      - {id: psy-3, capacity: 3, skills: [first_line_psychology]}\n"

static const char model[] = "synthetic:\n"
                            "  days: 365\n"
                            "  referrals_per_year: 375\n"
                            "  accept_after: 2d\n"
                            "  start_after: 4d\n"
                            "  trajectory: 60d\n"
                            "  decline_share: 0.1\n";

static char *routing_text(const char *more)
{
        size_t n = sizeof routing + strlen(more);
        char *t = malloc(n);

        assert_non_null(t);
        snprintf(t, n, routing, more);
        return t;
}

static struct rd_rules *rules(const char *more)
{
        struct rd_rules *r = NULL;
        struct rd_diag diag = {0};
        char *text = routing_text(more);

        if (rd_rules_load_buffer("routing.yaml", text, strlen(text), &r, &diag) < 0)
                fail_msg("routing file refused: %s", rd_diag_first_error(&diag));
        rd_diag_clear(&diag);
        free(text);
        return r;
}

/* A history in a folder of its own. */
struct hist {
        char dir[64], path[96];
        struct hm_counts counts;
};

static void make(struct hist *h, unsigned erase, unsigned manual)
{
        char *text = routing_text("");
        struct hm_options o = {.path = h->path,
                               .routing = text,
                               .model = model,
                               .seed = 11,
                               .withdraw_pct = 6,
                               .expected_pct = 50,
                               .manual = manual,
                               .erase = erase,
                               .late_ms = 8};
        char errbuf[512];

        snprintf(h->dir, sizeof h->dir, "/tmp/rd-test-replay-history-XXXXXX");
        assert_non_null(mkdtemp(h->dir));
        snprintf(h->path, sizeof h->path, "%s/referrald.db", h->dir);
        if (hm_make(&o, &h->counts, errbuf, sizeof errbuf) < 0)
                fail_msg("making the history failed: %s", errbuf);
        free(text);
}

static void done(struct hist *h)
{
        char cmd[128];

        snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
        assert_int_equal(system(cmd), 0);
}

static struct rd_replay_result *replay(const struct hist *h, struct rd_rules *cand,
                                       struct rd_rules *base, int64_t from, int64_t to,
                                       uint64_t seed)
{
        struct rd_replay_options o = {.seed = seed};
        struct rd_replay_result *res = NULL;
        struct rd_store *store = NULL;
        char errbuf[512] = "";

        if (rd_store_open_copy(h->path, &store, errbuf, sizeof errbuf) < 0)
                fail_msg("cannot open the history: %s", errbuf);
        if (rd_replay_history(store, cand, base, from, to, &o, &res, errbuf, sizeof errbuf) < 0)
                fail_msg("replay failed: %s", errbuf);
        rd_store_close(store);
        return res;
}

static char *figures_text(const struct rd_figures_acc *f)
{
        json_t *o = rd_figures_json(f);
        char *t = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

        json_decref(o);
        assert_non_null(t);
        return t;
}

/* Both sides' figures are the same, to the last digit. */
static void assert_same_figures(const struct rd_replay_result *res)
{
        char *b = figures_text(res->baseline.figures), *c = figures_text(res->candidate.figures);

        if (strcmp(b, c)) {
                print_message("baseline:  %s\ncandidate: %s\n", b, c);
                fail_msg("the candidate's figures differ from the history's");
        }
        free(b);
        free(c);
}

static struct rd_figures_summary summary(const struct rd_figures_acc *f)
{
        struct rd_figures_summary s;

        assert_int_equal(rd_figures_summary(f, &s), 0);
        return s;
}

static void print_changes(const struct rd_replay_result *res, size_t max)
{
        size_t i;
        json_t *ch;

        json_array_foreach(res->changes, i, ch)
        {
                char *t;
                if (i == max)
                        break;
                t = json_dumps(ch, JSON_COMPACT);
                print_message("change: %s\n", t);
                free(t);
        }
}

/* ---- the tests ------------------------------------------------------------------------- */

static void test_a_history_replayed_under_the_file_that_decided_it_is_reproduced(void **state)
{
        struct hist h;
        struct rd_replay_result *res;
        struct rd_figures_summary s;
        const size_t *n;

        (void)state;
        make(&h, 0, 4);
        n = h.counts.by_type;
        /* the history holds every kind of thing people and deadlines do */
        assert_true(n[RD_EV_RECEIVED] > 300);
        assert_true(n[RD_EV_ACCEPTED] > 100 && n[RD_EV_STARTED] > 100 && n[RD_EV_CLOSED] > 50);
        assert_true(n[RD_EV_DECLINED] > 10 && n[RD_EV_OFFER_EXPIRED] > 10);
        assert_true(n[RD_EV_WITHDRAWN] > 5 && n[RD_EV_WAITLISTED] > 20);
        assert_true(n[RD_EV_FORWARDED] > 5 && n[RD_EV_WINDOW_MISSED] > 0);
        assert_true(h.counts.manual >= 1);
        res = replay(&h, rules(""), NULL, INT64_MIN, INT64_MAX, 1);
        if (res->changed)
                print_changes(res, 10);
        assert_int_equal(res->changed, 0);
        assert_same_figures(res);
        s = summary(res->candidate.figures);
        assert_int_equal(s.referrals, n[RD_EV_RECEIVED]);
        assert_int_equal(res->skipped_erased, 0);
        assert_string_equal(res->baseline.digest, "");
        rd_replay_result_free(res);
        done(&h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(
                        test_a_history_replayed_under_the_file_that_decided_it_is_reproduced),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
