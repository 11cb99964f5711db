/* test_hub_time.c: lib/hub against protocol.md ("Declines and expiry",
 * "erase", "Events") and daemon.md (retention): offers that lapse, windows
 * at risk and missed, erasure on request and after retention. The fixture:
 * hub_fixture.h. */
#include "hub_fixture.h"

/* ---- offer expiry ------------------------------------------------------------------- */

static void offer_expires_at_offered_plus_accept_within(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, st;

        a = sub(f, FAMILY("A"), T0);
        assert_int_equal(deadline(f), T0 + 2 * DAY);
        assert_int_equal(tick(f, T0 + 2 * DAY - 1), 0);
        EXPECT_NONE(f);
        assert_string_equal(get(f, a.id).connector, "kelly");

        assert_int_equal(tick(f, T0 + 2 * DAY), 1);
        EXPECT(f, EXPIRED(a.id, "kelly"), ASSIGNED(a.id, "sophie"));
        st = get(f, a.id);
        assert_string_equal(st.connector, "sophie");
        assert_int_equal(st.offered_ms, T0 + 2 * DAY);
        assert_int_equal(st.offer_expires_ms, T0 + 4 * DAY);
        assert_int_equal(st.start_by_ms, T0 + 30 * DAY);
        assert_int_equal(load(f, "kelly"), 0);
        assert_int_equal(load(f, "sophie"), 1);
        assert_int_equal(deadline(f), T0 + 4 * DAY);

        /* sophie lets it lapse too: kelly is free but let it lapse */
        assert_int_equal(tick(f, T0 + 4 * DAY), 1);
        EXPECT(f, EXPIRED(a.id, "sophie"), WAITLISTED(a.id), NEEDS_ATTENTION(a.id));
        assert_int_equal(load(f, "sophie"), 0);
        /* the next deadline is the window's */
        assert_int_equal(deadline(f), T0 + 23 * DAY);
        /* an expiry can be repeated as a decline: a repeat */
        same(f, a.id, "declined", "kelly", T0 + 5 * DAY);
}

static void offer_expiry_uses_the_rules_accept_within(void **state)
{
        struct fx *f = *state;
        struct rd_stored p;

        p = sub(f, PSY("P"), T0);
        assert_int_equal(deadline(f), T0 + DAY);
        assert_int_equal(tick(f, T0 + DAY), 1);
        EXPECT(f, EXPIRED(p.id, "psy-1"), FORWARDED(p.id));
        assert_int_equal(deadline(f), 0);
}

static void accepted_offers_do_not_expire(void **state)
{
        struct fx *f = *state;
        struct rd_stored a;

        a = sub(f, FAMILY("A"), T0);
        ok(f, a.id, "accepted", "kelly", T0 + HOUR);
        assert_int_equal(deadline(f), T0 + 23 * DAY); /* only the window */
        assert_int_equal(tick(f, T0 + 3 * DAY), 0);
        EXPECT_NONE(f);
        assert_int_equal(get(f, a.id).status, RD_STATUS_ACCEPTED);
        assert_string_equal(get(f, a.id).connector, "kelly");
        assert_int_equal(load(f, "kelly"), 1);
}

/* ---- windows ------------------------------------------------------------------------- */

static void window_at_risk_and_missed_fire_once_each_at_their_moment(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, st;

        a = sub(f, FAMILY("A"), T0);
        ok(f, a.id, "accepted", "kelly", T0 + HOUR);
        assert_int_equal(deadline(f), T0 + 23 * DAY);
        assert_int_equal(tick(f, T0 + 23 * DAY - 1), 0);
        EXPECT_NONE(f);
        assert_int_equal(tick(f, T0 + 23 * DAY), 1);
        EXPECT(f, {RD_EV_WINDOW_AT_RISK, a.id, RD_STATUS_ACCEPTED, "kelly"});
        assert_int_equal(f->ev[0].start_by_ms, T0 + 30 * DAY);
        assert_int_equal(get(f, a.id).at_risk_fired, 1);
        assert_int_equal(tick(f, T0 + 23 * DAY + HOUR), 0);
        EXPECT_NONE(f);

        assert_int_equal(deadline(f), T0 + 30 * DAY);
        assert_int_equal(tick(f, T0 + 30 * DAY - 1), 0);
        EXPECT_NONE(f);
        assert_int_equal(tick(f, T0 + 30 * DAY), 1);
        EXPECT(f, {RD_EV_WINDOW_MISSED, a.id, RD_STATUS_ACCEPTED, "kelly"});
        st = get(f, a.id);
        assert_int_equal(st.missed_fired, 1);
        assert_int_equal(st.status, RD_STATUS_ACCEPTED);
        assert_int_equal(tick(f, T0 + 60 * DAY), 0);
        EXPECT_NONE(f);
        assert_int_equal(deadline(f), 0);
}

static void window_events_fire_for_waiting_referrals_too(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX];
        struct rd_stored w;

        fill_family(f, r);
        for (int i = 0; i < 4; i++)
                ok(f, r[i], "accepted", i % 2 ? "sophie" : "kelly", T0 + HOUR);
        w = sub(f, FAMILY("W"), T0 + HOUR);
        assert_int_equal(deadline(f), T0 + 23 * DAY);
        assert_int_equal(tick(f, T0 + 23 * DAY + 3), 4); /* F-1..4; W's is an hour later */
        EXPECT(f, {RD_EV_WINDOW_AT_RISK, r[0], RD_STATUS_ACCEPTED, "kelly"},
               {RD_EV_WINDOW_AT_RISK, r[1], RD_STATUS_ACCEPTED, "sophie"},
               {RD_EV_WINDOW_AT_RISK, r[2], RD_STATUS_ACCEPTED, "kelly"},
               {RD_EV_WINDOW_AT_RISK, r[3], RD_STATUS_ACCEPTED, "sophie"});
        assert_int_equal(deadline(f), T0 + HOUR + 23 * DAY);
        assert_int_equal(tick(f, T0 + HOUR + 23 * DAY - 1), 0);
        EXPECT_NONE(f);
        assert_int_equal(tick(f, T0 + HOUR + 23 * DAY), 1);
        EXPECT(f, {RD_EV_WINDOW_AT_RISK, w.id, RD_STATUS_WAITLISTED, ""});
        assert_int_equal(f->ev[0].start_by_ms, T0 + HOUR + 30 * DAY);
        assert_int_equal(tick(f, T0 + 30 * DAY + 3), 4);
        assert_int_equal(tick(f, T0 + HOUR + 30 * DAY), 1);
        EXPECT(f, {RD_EV_WINDOW_MISSED, w.id, RD_STATUS_WAITLISTED, ""});
        assert_int_equal(deadline(f), 0);
}

static void no_window_event_for_started_forwarded_withdrawn_or_closed(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, b, c, d, e, g;

        a = sub(f, FAMILY("A"), T0);
        ok(f, a.id, "started", "kelly", T0 + DAY);
        b = sub(f, FAMILY("B"), T0);
        forward(f, b.id, "caw-limburg", T0 + DAY);
        c = sub(f, FAMILY("C"), T0);
        ok(f, c.id, "withdrawn", NULL, T0 + DAY);
        d = sub(f, FAMILY("D"), T0);
        ok(f, d.id, "started", d.connector, T0 + DAY);
        ok(f, d.id, "closed", d.connector, T0 + 2 * DAY);
        e = sub(f, CRISIS("E"), T0);
        assert_int_equal(deadline(f), 0);
        assert_int_equal(tick(f, T0 + 40 * DAY), 0);
        EXPECT_NONE(f);

        /* at risk, then started in time: never missed */
        g = sub(f, FAMILY("G"), T0 + 50 * DAY);
        ok(f, g.id, "accepted", g.connector, T0 + 50 * DAY);
        assert_int_equal(tick(f, T0 + 73 * DAY), 1);
        EXPECT(f, {RD_EV_WINDOW_AT_RISK, g.id, RD_STATUS_ACCEPTED, NULL});
        ok(f, g.id, "started", g.connector, T0 + 74 * DAY);
        assert_int_equal(deadline(f), 0);
        assert_int_equal(tick(f, T0 + 90 * DAY), 0);
        EXPECT_NONE(f);
        assert_int_equal(get(f, g.id).missed_fired, 0);
        (void)e;
}

static void both_window_events_fire_in_order_after_a_long_outage(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, b;

        a = sub(f, FAMILY("A"), T0);
        ok(f, a.id, "accepted", "kelly", T0 + HOUR);
        b = sub(f, FAMILY("B"), T0 + 1);
        ok(f, b.id, "accepted", "sophie", T0 + HOUR);
        /* the daemon was down from day 1 to day 40 */
        assert_int_equal(tick(f, T0 + 40 * DAY), 4);
        EXPECT(f, {RD_EV_WINDOW_AT_RISK, a.id, RD_STATUS_ACCEPTED, "kelly"},
               {RD_EV_WINDOW_AT_RISK, b.id, RD_STATUS_ACCEPTED, "sophie"},
               {RD_EV_WINDOW_MISSED, a.id, RD_STATUS_ACCEPTED, "kelly"},
               {RD_EV_WINDOW_MISSED, b.id, RD_STATUS_ACCEPTED, "sophie"});
        assert_int_equal(tick(f, T0 + 41 * DAY), 0);
        EXPECT_NONE(f);
        assert_int_equal(deadline(f), 0);
}

static void window_events_do_not_fire_again_after_a_new_offer(void **state)
{
        struct fx *f = *state;
        struct rd_stored a;

        a = sub(f, FAMILY("A"), T0);
        ok(f, a.id, "accepted", "kelly", T0 + 1);
        assert_int_equal(tick(f, T0 + 23 * DAY), 1);
        EXPECT(f, {RD_EV_WINDOW_AT_RISK, a.id, RD_STATUS_ACCEPTED, "kelly"});
        /* a new offer (by hand), declined, offered again: still the same window */
        ok(f, a.id, "assigned", "sophie", T0 + 24 * DAY);
        ok(f, a.id, "declined", "sophie", T0 + 24 * DAY + 1);
        EXPECT(f, DECLINED(a.id, "sophie"), ASSIGNED(a.id, "kelly"));
        assert_int_equal(tick(f, T0 + 25 * DAY), 0);
        EXPECT_NONE(f);
        assert_int_equal(deadline(f), T0 + 24 * DAY + 1 + 2 * DAY);
        ok(f, a.id, "accepted", "kelly", T0 + 25 * DAY);
        assert_int_equal(deadline(f), T0 + 30 * DAY);
        assert_int_equal(tick(f, T0 + 30 * DAY), 1);
        EXPECT(f, {RD_EV_WINDOW_MISSED, a.id, RD_STATUS_ACCEPTED, "kelly"});
}

/* The fixture's genk and family rule with the default at_risk AT_RISK
 * ("12d"), loaded, for a reload. */
static struct rd_rules *rules_at_risk(const char *at_risk)
{
        static const char text[] =
                "version: 1\n"
                "defaults: {window: 30d, accept_within: 2d, at_risk: %s, trajectory: 120d}\n"
                "teams:\n"
                "  - id: genk\n"
                "    postcodes: [\"3600\"]\n"
                "    connectors:\n"
                "      - {id: kelly, capacity: 2, skills: [family_support]}\n"
                "      - {id: sophie, capacity: 2, skills: [family_support]}\n"
                "forward_targets:\n"
                "  - {id: caw-limburg, name: \"CAW Limburg\"}\n"
                "rules:\n"
                "  - name: family\n"
                "    when: {kind: family_support}\n"
                "    assign: {teams: [genk]}\n"
                "  - name: everything-else\n"
                "    forward: {to: caw-limburg, reason: \"outside\"}\n";
        char buf[1024];
        struct rd_rules *rules = NULL;
        struct rd_diag diag = {0};
        int n = snprintf(buf, sizeof buf, text, at_risk);

        assert_true(n > 0 && (size_t)n < sizeof buf);
        if (rd_rules_load_buffer("at-risk.yaml", buf, (size_t)n, &rules, &diag) < 0)
                fail_msg("routing file refused: %s", rd_diag_first_error(&diag));
        rd_diag_clear(&diag);
        return rules;
}

static void an_offered_referral_is_at_risk_by_the_at_risk_of_a_reload(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, FAMILY("A"), T0); /* kelly; lapses at T0 + 2d */

        assert_int_equal(deadline(f), T0 + 2 * DAY);
        /* at_risk 29d: its window (to T0 + 30d) is at risk from T0 + 1d, before
         * the offer lapses */
        reload(f, rules_at_risk("29d"), T0 + HOUR);
        EXPECT(f, {RD_EV_CONFIG_RELOADED, NULL, 0, NULL});
        assert_int_equal(deadline(f), T0 + DAY);
        assert_int_equal(tick(f, T0 + DAY - 1), 0);
        EXPECT_NONE(f);
        assert_int_equal(tick(f, T0 + DAY), 1);
        EXPECT(f, {RD_EV_WINDOW_AT_RISK, a.id, RD_STATUS_ASSIGNED, "kelly"});
        assert_int_equal(deadline(f), T0 + 2 * DAY);
}

static void a_waiting_referral_is_at_risk_by_the_at_risk_of_each_reload(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, FAMILY("A"), T0);

        ok(f, a.id, "declined", "kelly", T0 + 1);
        ok(f, a.id, "declined", "sophie", T0 + 2); /* waits: nobody left */
        assert_int_equal(get(f, a.id).status, RD_STATUS_WAITLISTED);
        assert_int_equal(deadline(f), T0 + 23 * DAY);
        /* longer: sooner */
        reload(f, rules_at_risk("12d"), T0 + DAY);
        EXPECT(f, {RD_EV_CONFIG_RELOADED, NULL, 0, NULL});
        assert_int_equal(deadline(f), T0 + 18 * DAY);
        assert_int_equal(tick(f, T0 + 18 * DAY - 1), 0);
        EXPECT_NONE(f);
        /* shorter: later */
        reload(f, rules_at_risk("3d"), T0 + 2 * DAY);
        assert_int_equal(deadline(f), T0 + 27 * DAY);
        assert_int_equal(tick(f, T0 + 18 * DAY), 0);
        EXPECT_NONE(f);
        /* a moment already past: at once, and once */
        reload(f, rules_at_risk("25d"), T0 + 20 * DAY);
        assert_int_equal(deadline(f), T0 + 5 * DAY);
        assert_int_equal(tick(f, T0 + 20 * DAY), 1);
        EXPECT(f, {RD_EV_WINDOW_AT_RISK, a.id, RD_STATUS_WAITLISTED, ""});
        reload(f, rules_at_risk("7d"), T0 + 21 * DAY);
        assert_int_equal(deadline(f), T0 + 30 * DAY); /* only the missed window is left */
        assert_int_equal(tick(f, T0 + 23 * DAY), 0);
        EXPECT_NONE(f);
}

static void tick_handles_at_most_limit_per_kind(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, b, c;
        size_t done = 0;

        a = sub(f, FAMILY("A"), T0);
        b = sub(f, FAMILY("B"), T0 + 1);
        c = sub(f, FAMILY("C"), T0 + 2);
        begin(f);
        assert_int_equal(rd_hub_tick(f->hub, T0 + 2 * DAY + 2, 2, &done), 0);
        end(f, 0);
        assert_int_equal(done, 2);
        EXPECT(f, EXPIRED(a.id, "kelly"), ASSIGNED(a.id, "sophie"), EXPIRED(b.id, "sophie"),
               ASSIGNED(b.id, "kelly"));
        assert_int_equal(deadline(f), T0 + 2 * DAY + 2);
        begin(f);
        assert_int_equal(rd_hub_tick(f->hub, T0 + 2 * DAY + 2, 2, &done), 0);
        end(f, 0);
        assert_int_equal(done, 1);
        /* C was kelly's: sophie holds A (1/2), kelly B (1/2); by offers, sophie */
        EXPECT(f, EXPIRED(c.id, "kelly"), ASSIGNED(c.id, "sophie"));
        assert_int_equal(deadline(f), T0 + 4 * DAY + 2);
}

/* ---- erase and retention ------------------------------------------------------------ */

static void assert_erased_content(struct fx *f, const char *id)
{
        struct rd_stored st = get(f, id);
        json_t *content = NULL, *trace = NULL;
        char digest[65], *text = NULL;

        assert_int_equal(rd_store_content(f->store, st.rowid, &content, &text, digest), 0);
        if (text)
                assert_int_equal(rd_hub_trace_json(f->hub, text, digest, &trace), 0);
        free(text);
        assert_non_null(content);
        assert_null(json_object_get(content, "family"));
        assert_null(json_object_get(content, "note"));
        assert_null(json_object_get(content, "children"));
        assert_null(json_object_get(content, "postcode"));
        assert_string_equal(json_string_value(json_object_get(content, "ref")), st.ref);
        assert_non_null(json_object_get(content, "kind"));
        if (trace) {
                assert_true(json_is_true(json_object_get(trace, "erased")));
                assert_null(json_object_get(trace, "candidates"));
                assert_null(json_object_get(trace, "rules_tried"));
        }
        json_decref(content);
        json_decref(trace);
        assert_true(st.erased_ms > 0);
}

static int erase(struct fx *f, const char *id, int64_t now, struct rd_stored *out, bool *changed,
                 struct rd_error *err)
{
        int r;

        rd_error_clear(err);
        request_begin(f);
        r = rd_hub_erase(f->hub, id, now, out, changed, err);
        request_end(f, r);
        return r;
}

static void erase_withdraws_an_open_referral_first_and_removes_personal_data(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, st, again;
        struct rd_error err;
        bool changed = false, dup = false;
        json_t *content = NULL;

        a = sub(f, FAMILY("A"), T0);
        assert_int_equal(rd_store_content(f->store, a.rowid, &content, NULL, NULL), 0);
        assert_non_null(json_object_get(content, "family"));
        json_decref(content);
        assert_false(rd_hub_erased(f->hub));

        assert_int_equal(erase(f, a.id, T0 + DAY, &st, &changed, &err), 0);
        assert_true(changed);
        EXPECT(f, {RD_EV_WITHDRAWN, a.id, RD_STATUS_WITHDRAWN, "kelly"},
               {RD_EV_ERASED, a.id, RD_STATUS_WITHDRAWN, NULL});
        assert_int_equal(st.status, RD_STATUS_WITHDRAWN);
        assert_int_equal(st.erased_ms, T0 + DAY);
        assert_true(rd_hub_erased(f->hub));
        assert_false(rd_hub_erased(f->hub)); /* once */
        assert_erased_content(f, a.id);
        assert_int_equal(load(f, "kelly"), 0);

        /* again: ok, nothing */
        changed = true;
        assert_int_equal(erase(f, a.id, T0 + 2 * DAY, &again, &changed, &err), 0);
        assert_false(changed);
        EXPECT_NONE(f);
        assert_int_equal(again.erased_ms, T0 + DAY);
        assert_false(rd_hub_erased(f->hub));
        /* the same submit is still a duplicate */
        assert_int_equal(submit(f, FAMILY("A"), T0 + 3 * DAY, &again, &dup, &err), 0);
        assert_true(dup);
        EXPECT_NONE(f);
        /* unknown */
        assert_int_equal(erase(f, "R999999", T0, &again, &changed, &err), -ENOENT);
        assert_int_equal(err.code, RD_NOT_FOUND);
        EXPECT_NONE(f);
}

static void erase_of_a_final_referral_only_erases(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, st;
        struct rd_error err;
        bool changed = false;

        a = sub(f, CRISIS("A"), T0);
        assert_int_equal(erase(f, a.id, T0 + DAY, &st, &changed, &err), 0);
        assert_true(changed);
        EXPECT(f, {RD_EV_ERASED, a.id, RD_STATUS_FORWARDED, ""});
        assert_erased_content(f, a.id);
        assert_int_equal(get(f, a.id).status, RD_STATUS_FORWARDED);
}

static void erase_of_a_waiting_referral_serves_nobody_and_leaves_the_line(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];
        struct rd_stored st, x;
        struct rd_error err;
        bool changed;

        one_waiting(f, r, w);
        x = sub(f, FAMILY("X"), T0 + 2 * HOUR);
        assert_int_equal(erase(f, w, T0 + DAY, &st, &changed, &err), 0);
        EXPECT(f, WITHDRAWN(w), {RD_EV_ERASED, w, RD_STATUS_WITHDRAWN, NULL});
        /* X is next */
        ok(f, r[0], "withdrawn", NULL, T0 + DAY + 1);
        EXPECT(f, WITHDRAWN(r[0]), ASSIGNED(x.id, "kelly"));
}

static void retention_erases_final_referrals_automatically(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, b, c;

        rd_hub_set_retention(f->hub, 30 * 86400);
        a = sub(f, CRISIS("A"), T0); /* final at T0 */
        b = sub(f, FAMILY("B"), T0);
        ok(f, b.id, "started", "kelly", T0 + HOUR);
        c = sub(f, FAMILY("C"), T0);
        ok(f, c.id, "withdrawn", NULL, T0 + DAY); /* final at T0 + 1d */

        assert_int_equal(deadline(f), T0 + 30 * DAY);
        assert_int_equal(tick(f, T0 + 30 * DAY - 1), 0);
        EXPECT_NONE(f);
        assert_int_equal(tick(f, T0 + 30 * DAY), 1);
        EXPECT(f, {RD_EV_ERASED, a.id, RD_STATUS_FORWARDED, NULL});
        assert_erased_content(f, a.id);
        assert_true(rd_hub_erased(f->hub));
        assert_int_equal(deadline(f), T0 + 31 * DAY);
        assert_int_equal(tick(f, T0 + 31 * DAY), 1);
        EXPECT(f, {RD_EV_ERASED, c.id, RD_STATUS_WITHDRAWN, NULL});
        assert_erased_content(f, c.id);
        /* the open one keeps its data */
        assert_int_equal(get(f, b.id).erased_ms, 0);
        assert_int_equal(deadline(f), 0);
        assert_int_equal(tick(f, T0 + 400 * DAY), 0);
        /* closed now: erased 30 days later */
        ok(f, b.id, "closed", "kelly", T0 + 400 * DAY);
        assert_int_equal(deadline(f), T0 + 430 * DAY);
        assert_int_equal(tick(f, T0 + 430 * DAY), 1);
        EXPECT(f, {RD_EV_ERASED, b.id, RD_STATUS_CLOSED, "kelly"});
}

static void retention_zero_never_erases(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, CRISIS("A"), T0);

        assert_int_equal(deadline(f), 0);
        assert_int_equal(tick(f, T0 + 3650 * DAY), 0);
        assert_int_equal(get(f, a.id).erased_ms, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(offer_expires_at_offered_plus_accept_within),
                T(offer_expiry_uses_the_rules_accept_within),
                T(accepted_offers_do_not_expire),
                T(window_at_risk_and_missed_fire_once_each_at_their_moment),
                T(window_events_fire_for_waiting_referrals_too),
                T(no_window_event_for_started_forwarded_withdrawn_or_closed),
                T(both_window_events_fire_in_order_after_a_long_outage),
                T(window_events_do_not_fire_again_after_a_new_offer),
                T(an_offered_referral_is_at_risk_by_the_at_risk_of_a_reload),
                T(a_waiting_referral_is_at_risk_by_the_at_risk_of_each_reload),
                T(tick_handles_at_most_limit_per_kind),
                T(erase_withdraws_an_open_referral_first_and_removes_personal_data),
                T(erase_of_a_final_referral_only_erases),
                T(erase_of_a_waiting_referral_serves_nobody_and_leaves_the_line),
                T(retention_erases_final_referrals_automatically),
                T(retention_zero_never_erases),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
