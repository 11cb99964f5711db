/* Unit tests of lib/hub: referral.needs_attention (protocol.md rev 2). A
 * waiting referral that no connector can ever take under its rule asks for
 * a coordinator once, each time it gets there: by a decision (no team for
 * its postcode, every candidate declined or let the offer lapse) or by a
 * reload that takes its last candidate away; it stops with an offer, a
 * forward, a withdrawal or a reload that gives it a candidate again; and it
 * stays quiet while it stays there, across reloads and restarts. */
#include "hub_fixture.h"

#include <sqlite3.h>

/* A family of 3700: the family rule takes it, and only hasselt (when the
 * file has it) serves that postcode (hub_fixture.c). */
#define HASSELT_FAMILY(ref) REFERRAL(ref, "family_support", "3700", "")

#define RELOADED                                                                                   \
        {                                                                                          \
                RD_EV_CONFIG_RELOADED, NULL, 0, NULL                                               \
        }

/* The attention of the last event F emitted of TYPE. */
static enum rd_attention attention_of(const struct fx *f, enum rd_event_type type)
{
        for (size_t i = f->n_ev; i > 0; i--)
                if (f->ev[i - 1].type == type)
                        return f->ev[i - 1].attention;
        fail_msg("no %s event", rd_event_type_name(type));
        return RD_ATTENTION_NONE;
}

/* The ids `list` with attention gives, space separated, into BUF. */
static const char *listed_for_attention(struct fx *f, char *buf, size_t size)
{
        struct rd_list_query q = {.limit = 100, .attention = true};
        json_t *arr = json_array(), *it;
        size_t i, len = 0;

        assert_int_equal(rd_store_list(f->store, &q, arr), 0);
        buf[0] = '\0';
        json_array_foreach(arr, i, it)
        {
                const char *a = json_string_value(json_object_get(it, "attention"));
                assert_non_null(a);
                len += (size_t)snprintf(buf + len, size - len, "%s%s:%s", len ? " " : "",
                                        json_string_value(json_object_get(it, "id")), a);
        }
        json_decref(arr);
        return buf;
}

/* The hub is made anew over the same store with RULES, as at a restart,
 * and serves the waitlist as the daemon does at start. */
static void restart(struct fx *f, struct rd_rules *rules, int64_t now)
{
        int r;

        rd_hub_free(f->hub);
        f->hub = NULL;
        assert_int_equal(rd_hub_new(f->store, rules, &f->hub), 0);
        begin(f);
        r = rd_hub_serve_waitlist(f->hub, now);
        end(f, r);
        assert_int_equal(r, 0);
}

/* A declined by kelly and sophie: nobody is left who may take it. */
static struct rd_stored all_declined(struct fx *f)
{
        struct rd_stored a = sub(f, FAMILY("A"), T0);

        ok(f, a.id, "declined", "kelly", T0 + 1);
        EXPECT(f, DECLINED(a.id, "kelly"), ASSIGNED(a.id, "sophie"));
        ok(f, a.id, "declined", "sophie", T0 + 2);
        return a;
}

/* ---- ways in ------------------------------------------------------------------------ */

static void a_referral_no_team_serves_asks_for_a_coordinator_when_it_arrives(void **state)
{
        struct fx *f = *state;
        struct rd_stored st;
        char buf[256];

        st = sub(f, HASSELT_FAMILY("H"), T0 + 1);
        assert_int_equal(st.status, RD_STATUS_WAITLISTED);
        EXPECT(f, RECEIVED(st.id), WAITLISTED(st.id), NEEDS_ATTENTION(st.id));
        assert_int_equal(attention_of(f, RD_EV_NEEDS_ATTENTION), RD_ATTENTION_NO_CANDIDATE);
        assert_int_equal(attention_of(f, RD_EV_WAITLISTED), RD_ATTENTION_NONE);
        assert_string_equal(f->ev[2].rule, "family");
        assert_int_equal(f->ev[2].start_by_ms, T0 + 1 + 30 * DAY);
        st = get(f, st.id);
        assert_int_equal(st.attention, RD_ATTENTION_NO_CANDIDATE);
        assert_int_equal(st.expected_start_ms, 0);
        assert_true(strstr(listed_for_attention(f, buf, sizeof buf), ":no_candidate") != NULL);
}

static void every_candidate_declining_asks_for_a_coordinator(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = all_declined(f);
        char buf[256], want[64];

        EXPECT(f, DECLINED(a.id, "sophie"), WAITLISTED(a.id), NEEDS_ATTENTION(a.id));
        assert_int_equal(attention_of(f, RD_EV_NEEDS_ATTENTION), RD_ATTENTION_ALL_DECLINED);
        assert_int_equal(get(f, a.id).attention, RD_ATTENTION_ALL_DECLINED);
        snprintf(want, sizeof want, "%s:all_declined", a.id);
        assert_string_equal(listed_for_attention(f, buf, sizeof buf), want);
}

static void offers_that_lapse_with_everyone_ask_for_a_coordinator(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, FAMILY("A"), T0);

        tick(f, T0 + 2 * DAY);
        EXPECT(f, EXPIRED(a.id, "kelly"), ASSIGNED(a.id, "sophie"));
        tick(f, T0 + 4 * DAY);
        EXPECT(f, EXPIRED(a.id, "sophie"), WAITLISTED(a.id), NEEDS_ATTENTION(a.id));
        assert_int_equal(attention_of(f, RD_EV_NEEDS_ATTENTION), RD_ATTENTION_ALL_DECLINED);
}

static void a_reload_that_takes_the_last_candidate_away_asks_for_a_coordinator(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];

        one_waiting(f, r, w); /* kelly and sophie full; psy-1 has room */
        reload(f, rules_with("\"3660-3668\"", NULL, false), T0 + 2 * HOUR);
        EXPECT(f, NEEDS_ATTENTION(w), RELOADED);
        assert_int_equal(attention_of(f, RD_EV_NEEDS_ATTENTION), RD_ATTENTION_NO_CANDIDATE);
        assert_int_equal(get(f, w).attention, RD_ATTENTION_NO_CANDIDATE);
        assert_int_equal(get(f, w).status, RD_STATUS_WAITLISTED);
}

static void with_nobody_free_a_reload_works_the_waitlist_through_a_page_a_tick(void **state)
{
        struct fx *f = *state;
        struct waiting3 w;

        three_waiting(f, &w);
        sub(f, PSY("P"), T0 + 4 * HOUR); /* psy-1 full too: nobody has room */
        rd_hub_set_wait_cache(f->hub, 1);
        reload(f, rules_with("\"3660-3668\"", NULL, false), T0 + 5 * HOUR);
        /* the first at once (as many as the head holds), in waitlist order */
        EXPECT(f, NEEDS_ATTENTION(w.h), RELOADED);
        assert_int_equal(deadline(f), 1);                /* the rest: at once, between requests */
        assert_int_equal(tick(f, T0 + 5 * HOUR + 1), 3); /* two, and the end */
        EXPECT(f, NEEDS_ATTENTION(w.s), NEEDS_ATTENTION(w.n));
        assert_true(deadline(f) > 1);
        assert_int_equal(get(f, w.n).attention, RD_ATTENTION_NO_CANDIDATE);
        /* the routing file is remembered: a restart does it all again for nobody */
        restart(f, rules_with("\"3660-3668\"", NULL, false), T0 + 6 * HOUR);
        EXPECT_NONE(f);
        assert_true(deadline(f) > 1);
}

static void a_rule_that_forwards_otherwise_forwards_and_asks_nobody(void **state)
{
        struct fx *f = *state;
        struct rd_stored p = sub(f, PSY("P"), T0);

        ok(f, p.id, "declined", "psy-1", T0 + 1);
        EXPECT(f, DECLINED(p.id, "psy-1"), FORWARDED(p.id));
        assert_int_equal(get(f, p.id).attention, RD_ATTENTION_NONE);
}

/* ---- ways out ------------------------------------------------------------------------- */

static void an_offer_by_a_coordinator_ends_it(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = all_declined(f);
        char buf[256];

        ok(f, a.id, "assigned", "kelly", T0 + 3);
        EXPECT(f, ASSIGNED(a.id, "kelly"));
        assert_int_equal(get(f, a.id).attention, RD_ATTENTION_NONE);
        assert_string_equal(listed_for_attention(f, buf, sizeof buf), "");
}

static void a_forward_ends_it(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = all_declined(f);

        forward(f, a.id, "cgg-limburg", T0 + 3);
        EXPECT(f, FORWARDED(a.id));
        assert_int_equal(get(f, a.id).attention, RD_ATTENTION_NONE);
}

static void a_withdrawal_ends_it(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = all_declined(f);
        char buf[256];

        ok(f, a.id, "withdrawn", NULL, T0 + 3);
        EXPECT(f, WITHDRAWN(a.id));
        assert_int_equal(get(f, a.id).attention, RD_ATTENTION_NONE);
        assert_string_equal(listed_for_attention(f, buf, sizeof buf), "");
}

static void a_reload_with_a_free_candidate_serves_it(void **state)
{
        struct fx *f = *state;
        struct rd_stored h;

        h = sub(f, HASSELT_FAMILY("H"), T0 + 1);
        reload(f, rules_with(GENK_POSTCODES, NULL, true), T0 + 2);
        EXPECT(f, ASSIGNED(h.id, "lien"), RELOADED);
        assert_int_equal(get(f, h.id).attention, RD_ATTENTION_NONE);
}

static void a_reload_with_a_full_candidate_says_it_waits_again(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];
        struct rd_stored st;

        one_waiting(f, r, w);
        reload(f, rules_with("\"3660-3668\"", NULL, false), T0 + 2 * HOUR);
        EXPECT(f, NEEDS_ATTENTION(w), RELOADED);
        reload(f, rules_with(GENK_POSTCODES, NULL, false), T0 + 3 * HOUR);
        EXPECT(f, WAITLISTED(w), RELOADED);
        assert_int_equal(attention_of(f, RD_EV_WAITLISTED), RD_ATTENTION_NONE);
        st = get(f, w);
        assert_int_equal(st.attention, RD_ATTENTION_NONE);
        /* and it is served when kelly has room */
        ok(f, r[0], "withdrawn", NULL, T0 + 4 * HOUR);
        EXPECT(f, WITHDRAWN(r[0]), ASSIGNED(w, "kelly"));
}

/* ---- exactly once ---------------------------------------------------------------------- */

static void staying_without_a_candidate_across_reloads_and_ticks_emits_nothing(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];

        one_waiting(f, r, w);
        reload(f, rules_with("\"3660-3668\"", NULL, false), T0 + 2 * HOUR);
        EXPECT(f, NEEDS_ATTENTION(w), RELOADED);
        /* another file, still nobody for 3600 */
        reload(f, rules_with("\"3660-3667\"", NULL, false), T0 + 3 * HOUR);
        EXPECT(f, RELOADED);
        /* nor do the offers of the others lapsing (each of them now asks) */
        tick(f, T0 + 2 * DAY + 10);
        for (size_t i = 0; i < f->n_ev; i++)
                assert_false(f->ev[i].type == RD_EV_NEEDS_ATTENTION && !strcmp(f->ev[i].id, w));
        assert_int_equal(get(f, w).attention, RD_ATTENTION_NO_CANDIDATE);
}

static void a_restart_does_not_ask_again(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = all_declined(f);

        EXPECT(f, DECLINED(a.id, "sophie"), WAITLISTED(a.id), NEEDS_ATTENTION(a.id));
        restart(f, load_rules(NULL), T0 + 3);
        EXPECT_NONE(f);
        assert_int_equal(get(f, a.id).attention, RD_ATTENTION_ALL_DECLINED);
        /* nor a restart under another routing file that changes nothing for it */
        restart(f, load_rules("      - {id: lien, capacity: 1, skills: [first_line_psychology]}\n"),
                T0 + 4);
        EXPECT_NONE(f);
        assert_int_equal(get(f, a.id).attention, RD_ATTENTION_ALL_DECLINED);
}

static void it_asks_again_each_time_it_gets_there_again(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = all_declined(f);

        ok(f, a.id, "assigned", "kelly", T0 + 3);
        ok(f, a.id, "declined", "kelly", T0 + 4);
        EXPECT(f, DECLINED(a.id, "kelly"), WAITLISTED(a.id), NEEDS_ATTENTION(a.id));
}

/* ---- list by team ------------------------------------------------------------------------ */

/* How many referrals `list` gives for TEAM. */
static size_t listed_for_team(struct fx *f, const char *team)
{
        struct rd_list_query q = {.limit = 100, .team = team};
        json_t *arr = json_array();
        size_t n;

        assert_int_equal(rd_store_list(f->store, &q, arr), 0);
        n = json_array_size(arr);
        json_decref(arr);
        return n;
}

static void a_waiting_referral_is_listed_under_the_teams_of_its_candidates(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];

        one_waiting(f, r, w);
        assert_int_equal(listed_for_team(f, "genk"), 5);
        assert_int_equal(listed_for_team(f, "psy-oost"), 0);
        /* with no candidate left it is under no team: list attention finds it */
        reload(f, rules_with("\"3660-3668\"", NULL, false), T0 + 2 * HOUR);
        assert_int_equal(listed_for_team(f, "genk"), 4);
}

static void a_database_from_before_attention_asks_for_the_families_stuck_in_it(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];
        struct rd_stored h = sub(f, HASSELT_FAMILY("H"), T0 + 2 * HOUR);
        sqlite3 *db;

        SQLITE_ONLY();

        one_waiting(f, r, w);
        /* as a database of schema version 2 has them after the upgrade */
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db,
                                      "UPDATE referrals SET attention = 0, wait_teams = '';"
                                      "DELETE FROM meta WHERE key = 'attention_rules'",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
        restart(f, load_rules(NULL), T0 + 3 * HOUR);
        EXPECT(f, NEEDS_ATTENTION(h.id));
        assert_int_equal(get(f, w).attention, RD_ATTENTION_NONE);
        assert_int_equal(listed_for_team(f, "genk"), 5);
        restart(f, load_rules(NULL), T0 + 4 * HOUR);
        EXPECT_NONE(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(a_referral_no_team_serves_asks_for_a_coordinator_when_it_arrives),
                T(every_candidate_declining_asks_for_a_coordinator),
                T(offers_that_lapse_with_everyone_ask_for_a_coordinator),
                T(a_reload_that_takes_the_last_candidate_away_asks_for_a_coordinator),
                T(with_nobody_free_a_reload_works_the_waitlist_through_a_page_a_tick),
                T(a_rule_that_forwards_otherwise_forwards_and_asks_nobody),
                T(an_offer_by_a_coordinator_ends_it),
                T(a_forward_ends_it),
                T(a_withdrawal_ends_it),
                T(a_reload_with_a_free_candidate_serves_it),
                T(a_reload_with_a_full_candidate_says_it_waits_again),
                T(staying_without_a_candidate_across_reloads_and_ticks_emits_nothing),
                T(a_restart_does_not_ask_again),
                T(it_asks_again_each_time_it_gets_there_again),
                T(a_waiting_referral_is_listed_under_the_teams_of_its_candidates),
                T(a_database_from_before_attention_asks_for_the_families_stuck_in_it),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
