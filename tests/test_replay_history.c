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
#include "hub.h"
#include "replay.h"
#include "routing_files.h"
#include "store.h"

#define DAY_MS INT64_C(86400000)

/* A region under strain: two family teams by postcode, psychologists by
 * round robin whose rule (with OTHERWISE_FORWARD) forwards what cannot
 * start in time, crisis forwarded. %s: more psychologists; %s: the
 * psychology rule's otherwise. */
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
        "%s"
        "  - name: family\n"
        "    when: {kind: family_support}\n"
        "    assign: {teams: [west, east], by_postcode: true}\n"
        "  - name: rest\n"
        "    forward: {to: cgg, reason: \"other\"}\n";

#define PSY_3 "      - {id: psy-3, capacity: 3, skills: [first_line_psychology]}\n"
#define OTHERWISE_FORWARD                                                                          \
        "    otherwise: {forward: {to: cgg, reason: \"no psychologist in time\"}}\n"

static const char model[] = "synthetic:\n"
                            "  days: 365\n"
                            "  referrals_per_year: 375\n"
                            "  accept_after: 2d\n"
                            "  start_after: 4d\n"
                            "  trajectory: 60d\n"
                            "  decline_share: 0.1\n";

static char *routing_text(const char *more, const char *otherwise)
{
        size_t n = sizeof routing + strlen(more) + strlen(otherwise);
        char *t = malloc(n);

        assert_non_null(t);
        snprintf(t, n, routing, more, otherwise);
        return t;
}

static struct rd_rules *rules_of_text(const char *text)
{
        struct rd_rules *r = NULL;
        struct rd_diag diag = {0};

        if (rd_rules_load_buffer("routing.yaml", text, strlen(text), &r, &diag) < 0)
                fail_msg("routing file refused: %s", rd_diag_first_error(&diag));
        rd_diag_clear(&diag);
        return r;
}

static struct rd_rules *rules(const char *more, const char *otherwise)
{
        struct rd_rules *r = NULL;
        struct rd_diag diag = {0};
        char *text = routing_text(more, otherwise);

        if (rd_rules_load_buffer("routing.yaml", text, strlen(text), &r, &diag) < 0)
                fail_msg("routing file refused: %s", rd_diag_first_error(&diag));
        rd_diag_clear(&diag);
        free(text);
        return r;
}

/* A history in a folder of its own, made with the routing file whose
 * psychology rule has OTHERWISE. */
struct hist {
        char dir[64], path[96];
        const char *otherwise;
        struct hm_counts counts;
};

struct make_options {
        const char *otherwise;
        unsigned erase, manual;
        const char *reload; /* more psychologists from half way, or NULL */
};

static void make(struct hist *h, const struct make_options *m)
{
        char *text = routing_text("", m->otherwise);
        char *reload = m->reload ? routing_text(m->reload, m->otherwise) : NULL;
        struct hm_options o = {.path = h->path,
                               .routing = text,
                               .model = model,
                               .seed = 11,
                               .withdraw_pct = 6,
                               .expected_pct = 50,
                               .manual = m->manual,
                               .erase = m->erase,
                               .late_ms = 8,
                               .reload = reload,
                               .reload_at = RD_REPLAY_SYNTH_START_MS + 182 * DAY_MS};
        char errbuf[512];

        h->otherwise = m->otherwise;
        snprintf(h->dir, sizeof h->dir, "/tmp/rd-test-replay-history-XXXXXX");
        assert_non_null(mkdtemp(h->dir));
        snprintf(h->path, sizeof h->path, "%s/referrald.db", h->dir);
        if (hm_make(&o, &h->counts, errbuf, sizeof errbuf) < 0)
                fail_msg("making the history failed: %s", errbuf);
        free(text);
        free(reload);
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
        make(&h, &(struct make_options){.otherwise = OTHERWISE_FORWARD, .manual = 4});
        n = h.counts.by_type;
        /* the history holds every kind of thing people and deadlines do */
        assert_true(n[RD_EV_RECEIVED] > 300);
        assert_true(n[RD_EV_ACCEPTED] > 100 && n[RD_EV_STARTED] > 100 && n[RD_EV_CLOSED] > 50);
        assert_true(n[RD_EV_DECLINED] > 10 && n[RD_EV_OFFER_EXPIRED] > 10);
        assert_true(n[RD_EV_WITHDRAWN] > 5 && n[RD_EV_WAITLISTED] > 20);
        assert_true(n[RD_EV_FORWARDED] > 5 && n[RD_EV_WINDOW_MISSED] > 0);
        assert_true(h.counts.manual >= 1);
        res = replay(&h, rules("", h.otherwise), NULL, INT64_MIN, INT64_MAX, 1);
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

/* The first decision of referral ID on side F. */
static struct rd_figures_first first_of(const struct rd_figures_acc *f, const char *id)
{
        struct rd_figures_first x;

        for (size_t i = 0; rd_figures_first(f, i, &x) == 0; i++)
                if (!strcmp(x.id, id))
                        return x;
        fail_msg("%s is not in the figures", id);
        return x;
}

static bool same_first(const struct rd_figures_first *a, const struct rd_figures_first *b)
{
        return a->status == b->status &&
               !strcmp(a->connector ? a->connector : "", b->connector ? b->connector : "");
}

static void test_an_erased_referral_keeps_its_recorded_course_and_its_load(void **state)
{
        struct hist h;
        struct rd_replay_result *same, *more;
        struct rd_store *store = NULL;
        char errbuf[256];
        size_t erased = 0, moved = 0;

        (void)state;
        /* without a forward that hangs on the forecast (see tools.md) */
        make(&h, &(struct make_options){.otherwise = "", .erase = 40});
        assert_int_equal(h.counts.erased, 40);
        /* under the same file: all of it again, the erased referrals'
         * loads included */
        same = replay(&h, rules("", ""), NULL, INT64_MIN, INT64_MAX, 1);
        assert_int_equal(same->skipped_erased, 40);
        assert_int_equal(same->changed, 0);
        assert_same_figures(same);
        /* under a file with one more psychologist: the erased referrals
         * keep their decisions, others move */
        more = replay(&h, rules(PSY_3, ""), NULL, INT64_MIN, INT64_MAX, 1);
        assert_int_equal(more->skipped_erased, 40);
        assert_int_equal(rd_store_open_copy(h.path, &store, errbuf, sizeof errbuf), 0);
        for (int64_t row = 1; erased < 40; row++) {
                struct rd_stored st;
                struct rd_figures_first b, c;
                assert_int_equal(rd_store_get_row(store, row, &st), 0);
                b = first_of(more->baseline.figures, st.id);
                c = first_of(more->candidate.figures, st.id);
                if (!st.erased_ms) {
                        moved += !same_first(&b, &c);
                        continue;
                }
                erased++;
                assert_true(same_first(&b, &c));
        }
        assert_true(moved > 0);
        rd_store_close(store);
        rd_replay_result_free(same);
        rd_replay_result_free(more);
        done(&h);
}

static void test_a_replay_from_the_middle_starts_from_the_state_recorded_then(void **state)
{
        struct hist h;
        struct rd_replay_result *res;
        struct rd_figures_series w;
        struct rd_figures_summary s;
        int64_t from = RD_REPLAY_SYNTH_START_MS + 200 * DAY_MS;

        (void)state;
        make(&h, &(struct make_options){.otherwise = OTHERWISE_FORWARD, .manual = 4});
        res = replay(&h, rules("", h.otherwise), NULL, from, INT64_MAX, 1);
        if (res->changed)
                print_changes(res, 10);
        assert_int_equal(res->changed, 0);
        assert_same_figures(res);
        assert_true(res->start_ms == from);
        s = summary(res->candidate.figures);
        assert_true(s.referrals > 100 && s.referrals < h.counts.by_type[RD_EV_RECEIVED] - 100);
        assert_true(s.days > 164 && s.days < 166);
        /* it starts with the families waiting then, and the trajectories open */
        assert_int_equal(rd_figures_waitlist_series(res->candidate.figures, &w), 0);
        assert_true(w.v[0].at_ms == from && w.v[0].value > 10);
        assert_true(s.mean_open > 5);
        rd_replay_result_free(res);
        done(&h);
}

/* Decision D of `changes` is a psychologist's, a wait or a forward. */
static bool psychology_or_none(const json_t *d)
{
        const char *team = json_string_value(json_object_get(d, "team"));
        return !team || !strcmp(team, "psy");
}

static void
test_a_candidate_with_one_more_psychologist_changes_what_the_history_explains(void **state)
{
        struct hist h;
        struct rd_replay_result *res;
        struct rd_figures_summary b, c;
        size_t i, to_psy_3 = 0, now_offered = 0;
        json_t *ch;

        (void)state;
        make(&h, &(struct make_options){.otherwise = OTHERWISE_FORWARD, .manual = 4});
        res = replay(&h, rules(PSY_3, h.otherwise), NULL, INT64_MIN, INT64_MAX, 1);
        b = summary(res->baseline.figures);
        c = summary(res->candidate.figures);
        assert_true(res->changed > 0);
        assert_int_equal(json_array_size(res->changes), res->changed);
        json_array_foreach(res->changes, i, ch)
        {
                const json_t *x = json_object_get(ch, "baseline");
                const json_t *y = json_object_get(ch, "candidate");
                const char *cc = json_string_value(json_object_get(y, "connector"));
                const char *bs = json_string_value(json_object_get(x, "status"));
                /* only the psychologists' referrals change: the round robin
                 * takes psy-3 in turn, and those that waited or were
                 * forwarded for want of a psychologist are offered */
                assert_true(psychology_or_none(x) && psychology_or_none(y));
                to_psy_3 += cc && !strcmp(cc, "psy-3");
                now_offered += cc && strcmp(bs, "assigned") != 0;
        }
        assert_true(to_psy_3 > 0 && now_offered > 0);
        assert_true(c.forwarded + c.waitlisted < b.forwarded + b.waitlisted);
        assert_true(c.window_in_time > b.window_in_time);
        assert_int_equal(c.referrals, b.referrals);
        rd_replay_result_free(res);
        done(&h);
}

static char *result_text(const struct rd_replay_result *res)
{
        json_t *o = rd_replay_json(res);
        char *t = json_dumps(o, JSON_COMPACT);

        json_decref(o);
        assert_non_null(t);
        return t;
}

static void test_the_answers_the_history_lacks_are_drawn_with_the_seed(void **state)
{
        struct hist h;
        struct rd_replay_result *a, *b, *c;
        char *ta, *tb, *tc;

        (void)state;
        make(&h, &(struct make_options){.otherwise = OTHERWISE_FORWARD});
        /* psy-3's offers were never made: drawn from what psy did */
        a = replay(&h, rules(PSY_3, h.otherwise), NULL, INT64_MIN, INT64_MAX, 5);
        b = replay(&h, rules(PSY_3, h.otherwise), NULL, INT64_MIN, INT64_MAX, 5);
        c = replay(&h, rules(PSY_3, h.otherwise), NULL, INT64_MIN, INT64_MAX, 6);
        ta = result_text(a), tb = result_text(b), tc = result_text(c);
        assert_string_equal(ta, tb);
        assert_string_not_equal(ta, tc);
        free(ta);
        free(tb);
        free(tc);
        rd_replay_result_free(a);
        rd_replay_result_free(b);
        rd_replay_result_free(c);
        done(&h);
}

static void test_against_a_baseline_file_both_sides_are_replays(void **state)
{
        struct hist h;
        struct rd_replay_result *res;

        (void)state;
        make(&h, &(struct make_options){.otherwise = OTHERWISE_FORWARD, .manual = 4});
        res = replay(&h, rules("", h.otherwise), rules("", h.otherwise), INT64_MIN, INT64_MAX, 1);
        assert_int_equal(res->changed, 0);
        assert_same_figures(res);
        assert_string_equal(res->baseline.digest, res->candidate.digest);
        rd_replay_result_free(res);
        done(&h);
}

static void test_a_reload_in_the_history_is_in_the_baseline_and_not_in_the_candidate(void **state)
{
        struct hist h;
        struct rd_replay_result *res;
        struct rd_figures_connector_view v;
        size_t nb, nc;

        (void)state;
        make(&h, &(struct make_options){.otherwise = OTHERWISE_FORWARD, .reload = PSY_3});
        assert_int_equal(h.counts.by_type[RD_EV_CONFIG_RELOADED], 1);
        res = replay(&h, rules("", h.otherwise), NULL, INT64_MIN, INT64_MAX, 1);
        nb = rd_figures_n_connectors(res->baseline.figures);
        nc = rd_figures_n_connectors(res->candidate.figures);
        /* the history had psy-3 from half way; the candidate never has it */
        assert_int_equal(nb, nc + 1);
        assert_int_equal(rd_figures_connector_view(res->baseline.figures, nb - 1, &v), 0);
        assert_string_equal(v.id, "psy-3");
        assert_true(v.peak_load > 0);
        assert_true(res->changed > 0);
        rd_replay_result_free(res);
        done(&h);
}

static void test_without_the_audit_trail_a_manual_assignment_is_a_waitlist_serve(void **state)
{
        struct hist h;
        struct rd_replay_result *with, *without;
        struct rd_store *store = NULL;
        struct rd_replay_options o = {.seed = 1};
        char errbuf[256];

        (void)state;
        make(&h, &(struct make_options){.otherwise = OTHERWISE_FORWARD, .manual = 4});
        assert_true(h.counts.manual >= 1);
        with = replay(&h, rules("", h.otherwise), NULL, INT64_MIN, INT64_MAX, 1);
        assert_int_equal(rd_store_open_copy(h.path, &store, errbuf, sizeof errbuf), 0);
        /* the trail purged (audit_retention): the copy, not the file */
        assert_true(rd_store_audit_purge(store, INT64_MAX) > 0);
        assert_int_equal(rd_replay_history(store, rules("", h.otherwise), NULL, INT64_MIN,
                                           INT64_MAX, &o, &without, errbuf, sizeof errbuf),
                         0);
        /* the coordinators' assignments to anna, beyond her capacity, are
         * not made again: the engine serves the waitlist its own way */
        assert_same_figures(with);
        {
                char *a = figures_text(with->candidate.figures);
                char *b = figures_text(without->candidate.figures);
                assert_string_not_equal(a, b);
                free(a);
                free(b);
        }
        rd_store_close(store);
        rd_replay_result_free(with);
        rd_replay_result_free(without);
        done(&h);
}

/* ---- a history made by hand ------------------------------------------------------------ */

static const char one_place[] =
        "version: 1\n"
        "defaults: {window: 30d, accept_within: 2d}\n"
        "teams:\n"
        "  - id: west\n"
        "    connectors: [{id: anna, capacity: 1, skills: [family_support]}]\n"
        "forward_targets: [{id: cgg, name: CGG}]\n"
        "rules:\n"
        "  - name: family\n"
        "    assign: {teams: [west]}\n";

/* Referral REF submitted to HUB over STORE at NOW, committed. */
static void hand_submit(struct rd_store *store, struct rd_hub *hub, const char *ref, int64_t now)
{
        char text[512];
        json_t *o;
        struct rd_referral r;
        struct rd_stored st;
        struct rd_error err;
        bool dup;

        snprintf(text, sizeof text,
                 "{\"ref\": \"%s\", \"partner\": \"p\", \"kind\": \"family_support\", "
                 "\"postcode\": \"8500\", \"children\": [{\"age\": 9}], \"consent\": true}",
                 ref);
        o = json_loads(text, 0, NULL);
        assert_int_equal(rd_referral_from_json(o, &r, &err), 0);
        json_decref(o);
        assert_int_equal(rd_store_begin(store), 0);
        assert_int_equal(rd_hub_submit(hub, &r, now, &st, &dup, &err), 0);
        assert_int_equal(rd_store_commit(store), 0);
        rd_hub_events_clear(hub);
        rd_referral_clear(&r);
}

static void test_a_deadline_is_handled_when_the_daemon_handled_it(void **state)
{
        struct hist h = {0};
        struct rd_store *store = NULL;
        struct rd_hub *hub = NULL;
        struct rd_replay_result *res;
        struct rd_rules *r = NULL;
        struct rd_figures_first b;
        int64_t t0 = RD_REPLAY_SYNTH_START_MS, due;
        char errbuf[256];
        size_t ticked = 0;

        (void)state;
        snprintf(h.dir, sizeof h.dir, "/tmp/rd-test-replay-history-XXXXXX");
        assert_non_null(mkdtemp(h.dir));
        snprintf(h.path, sizeof h.path, "%s/referrald.db", h.dir);
        assert_int_equal(rd_store_open(h.path, false, &store, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_rules_load_buffer("one.yaml", one_place, strlen(one_place), &r, NULL),
                         0);
        assert_int_equal(rd_store_begin(store), 0);
        assert_int_equal(rd_routing_record(store, r, one_place, strlen(one_place), t0), 0);
        assert_int_equal(rd_store_commit(store), 0);
        assert_int_equal(rd_hub_new(store, r, &hub), 0);
        /* A takes anna's place; its offer lapses at DUE, which the daemon
         * handles 5 ms late; B arrives in between and waits */
        hand_submit(store, hub, "A", t0);
        assert_int_equal(rd_hub_next_deadline(hub, &due), 0);
        hand_submit(store, hub, "B", due + 2);
        assert_int_equal(rd_store_begin(store), 0);
        assert_int_equal(rd_hub_tick(hub, due + 5, 256, &ticked), 0);
        assert_int_equal(rd_store_commit(store), 0);
        rd_hub_free(hub);
        rd_store_close(store);

        res = replay(&h, rules_of_text(one_place), NULL, INT64_MIN, INT64_MAX, 1);
        b = first_of(res->baseline.figures, "R000002");
        assert_int_equal(b.status, RD_STATUS_WAITLISTED);
        /* the lapse at DUE + 5, not at DUE: B waits, as it did */
        assert_int_equal(res->changed, 0);
        assert_same_figures(res);
        rd_replay_result_free(res);
        done(&h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(
                        test_a_history_replayed_under_the_file_that_decided_it_is_reproduced),
                cmocka_unit_test(test_an_erased_referral_keeps_its_recorded_course_and_its_load),
                cmocka_unit_test(test_a_replay_from_the_middle_starts_from_the_state_recorded_then),
                cmocka_unit_test(
                        test_a_candidate_with_one_more_psychologist_changes_what_the_history_explains),
                cmocka_unit_test(test_the_answers_the_history_lacks_are_drawn_with_the_seed),
                cmocka_unit_test(test_against_a_baseline_file_both_sides_are_replays),
                cmocka_unit_test(
                        test_a_reload_in_the_history_is_in_the_baseline_and_not_in_the_candidate),
                cmocka_unit_test(
                        test_without_the_audit_trail_a_manual_assignment_is_a_waitlist_serve),
                cmocka_unit_test(test_a_deadline_is_handled_when_the_daemon_handled_it),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
