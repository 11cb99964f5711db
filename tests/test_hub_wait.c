/* test_hub_wait.c: lib/hub against protocol.md ("The waitlist") and
 * routing.md (capacity, forecast, reload): who is served when capacity
 * frees, a reload, and a waitlist longer than memory. The fixture:
 * hub_fixture.h. */
#include "hub_fixture.h"

/* ---- the waitlist ------------------------------------------------------------------- */

static void waitlist_serves_highest_urgency_then_earliest_start_by(void **state)
{
        struct fx *f = *state;
        struct waiting3 w;
        struct rd_stored st;
        int64_t now = T0 + DAY;

        three_waiting(f, &w);
        ok(f, w.r[0], "withdrawn", NULL, now); /* kelly frees */
        EXPECT(f, WITHDRAWN(w.r[0]), ASSIGNED(w.h, "kelly"));
        st = get(f, w.h);
        assert_int_equal(st.start_by_ms, T0 + 2 * HOUR + 30 * DAY); /* kept */
        assert_int_equal(st.offered_ms, now);
        assert_int_equal(st.offer_expires_ms, now + 2 * DAY);
        assert_int_equal(st.expected_start_ms, 0);
        assert_int_equal(load(f, "kelly"), 2);

        ok(f, w.r[1], "withdrawn", NULL, now + 1); /* sophie frees */
        EXPECT(f, WITHDRAWN(w.r[1]), ASSIGNED(w.s, "sophie"));
        st = get(f, w.s);
        assert_int_equal(st.start_by_ms, T0 + 3 * HOUR + 10 * DAY);
        assert_string_equal(st.rule, "family-safety");

        ok(f, w.r[2], "withdrawn", NULL, now + 2);
        EXPECT(f, WITHDRAWN(w.r[2]), ASSIGNED(w.n, "kelly"));
        assert_int_equal(get(f, w.n).start_by_ms, T0 + HOUR + 30 * DAY);
        assert_int_equal(load(f, "kelly"), 2);
        assert_int_equal(load(f, "sophie"), 2);
}

static void waitlist_served_when_a_trajectory_closes(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];

        one_waiting(f, r, w);
        ok(f, r[0], "started", "kelly", T0 + DAY);
        EXPECT(f, {RD_EV_STARTED, r[0], RD_STATUS_STARTED, "kelly"});
        ok(f, r[0], "closed", "kelly", T0 + 20 * DAY);
        EXPECT(f, {RD_EV_CLOSED, r[0], RD_STATUS_CLOSED, "kelly"}, ASSIGNED(w, "kelly"));
        assert_int_equal(get(f, w).start_by_ms, T0 + HOUR + 30 * DAY);
        assert_int_equal(load(f, "kelly"), 2);
}

static void waitlist_served_when_an_offer_is_declined(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];

        one_waiting(f, r, w);
        /* kelly declines F-1: sophie is full, so F-1 waits (ahead of W: an
         * earlier start_by) but kelly may not take it; W gets kelly */
        ok(f, r[0], "declined", "kelly", T0 + DAY);
        EXPECT(f, DECLINED(r[0], "kelly"), WAITLISTED(r[0]), ASSIGNED(w, "kelly"));
        assert_int_equal(get(f, r[0]).status, RD_STATUS_WAITLISTED);
        assert_int_equal(load(f, "kelly"), 2);
        /* sophie frees: F-1 (first in line, she may take it) */
        ok(f, r[1], "withdrawn", NULL, T0 + DAY + 1);
        EXPECT(f, WITHDRAWN(r[1]), ASSIGNED(r[0], "sophie"));
}

static void waitlist_served_when_an_offer_expires(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];

        one_waiting(f, r, w);
        ok(f, r[1], "accepted", "sophie", T0 + 1);
        ok(f, r[2], "accepted", "kelly", T0 + 1);
        ok(f, r[3], "accepted", "sophie", T0 + 1);
        assert_int_equal(deadline(f), T0 + 2 * DAY);
        assert_int_equal(tick(f, T0 + 2 * DAY), 1);
        EXPECT(f, EXPIRED(r[0], "kelly"), WAITLISTED(r[0]), ASSIGNED(w, "kelly"));
        assert_int_equal(get(f, w).offer_expires_ms, T0 + 4 * DAY);
}

static void waitlist_served_when_reassigned_away(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];

        one_waiting(f, r, w);
        ok(f, r[0], "assigned", "psy-1", T0 + DAY);
        EXPECT(f, ASSIGNED(r[0], "psy-1"), ASSIGNED(w, "kelly"));
        assert_int_equal(load(f, "psy-1"), 1);
        assert_int_equal(load(f, "kelly"), 2);
        /* reassigned to another full connector: sophie over capacity, kelly
         * frees, nobody waits any more */
        ok(f, r[2], "assigned", "sophie", T0 + DAY + 1);
        EXPECT(f, ASSIGNED(r[2], "sophie"));
        assert_int_equal(load(f, "kelly"), 1);
        assert_int_equal(load(f, "sophie"), 3);
}

static void waitlist_served_when_forwarded_by_hand(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];

        one_waiting(f, r, w);
        forward(f, r[1], "caw-limburg", T0 + DAY);
        EXPECT(f, FORWARDED(r[1]), ASSIGNED(w, "sophie"));
        assert_int_equal(load(f, "sophie"), 2);
}

static void waitlist_served_when_a_reload_adds_a_connector(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];

        one_waiting(f, r, w);
        reload(f,
               load_rules("      - {id: nora, capacity: 1, skills: [family_support], "
                          "languages: [nl]}\n"),
               T0 + DAY);
        EXPECT(f, ASSIGNED(w, "nora"), {RD_EV_CONFIG_RELOADED, NULL, 0, NULL});
        assert_int_equal(get(f, w).start_by_ms, T0 + HOUR + 30 * DAY);
        assert_int_equal(load(f, "nora"), 1);
        assert_int_equal(load(f, "kelly"), 2);
}

static void a_connector_added_on_reload_keeps_serving_the_waitlist(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];
        struct rd_stored x;

        one_waiting(f, r, w);
        x = sub(f, FAMILY("X"), T0 + 2 * HOUR);
        assert_int_equal(x.status, RD_STATUS_WAITLISTED);
        reload(f,
               load_rules("      - {id: nora, capacity: 1, skills: [family_support], "
                          "languages: [nl]}\n"),
               T0 + DAY);
        EXPECT(f, ASSIGNED(w, "nora"), {RD_EV_CONFIG_RELOADED, NULL, 0, NULL});
        assert_int_equal(get(f, x.id).status, RD_STATUS_WAITLISTED);
        /* nora frees: X, waitlisted before she existed, is hers to take; also
         * after a restart */
        rd_hub_free(f->hub);
        assert_int_equal(rd_hub_new(f->store,
                                    load_rules("      - {id: nora, capacity: 1, skills: "
                                               "[family_support], languages: [nl]}\n"),
                                    &f->hub),
                         0);
        ok(f, w, "withdrawn", NULL, T0 + 2 * DAY);
        EXPECT(f, WITHDRAWN(w), ASSIGNED(x.id, "nora"));
        assert_int_equal(get(f, x.id).start_by_ms, T0 + 2 * HOUR + 30 * DAY);
}

static void waitlist_served_when_a_reload_raises_capacity(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];
        static const char more[] = "version: 1\n"
                                   "teams:\n"
                                   "  - id: genk\n"
                                   "    postcodes: [\"3600\"]\n"
                                   "    connectors:\n"
                                   "      - {id: kelly, capacity: 3, skills: [family_support]}\n"
                                   "      - {id: sophie, capacity: 2, skills: [family_support]}\n"
                                   "forward_targets:\n"
                                   "  - {id: caw-limburg, name: \"CAW Limburg\"}\n"
                                   "rules:\n"
                                   "  - name: family-renamed\n"
                                   "    when: {kind: family_support}\n"
                                   "    assign: {teams: [genk]}\n"
                                   "  - name: everything-else\n"
                                   "    forward: {to: caw-limburg, reason: \"outside\"}\n";
        struct rd_rules *fresh = NULL;
        struct rd_diag diag = {0};
        struct rd_stored st;

        one_waiting(f, r, w);
        assert_int_equal(rd_rules_load_buffer("more.yaml", more, strlen(more), &fresh, &diag), 0);
        rd_diag_clear(&diag);
        /* W's rule is gone: decided again from the top */
        reload(f, fresh, T0 + DAY);
        EXPECT(f, ASSIGNED(w, "kelly"), {RD_EV_CONFIG_RELOADED, NULL, 0, NULL});
        st = get(f, w);
        assert_string_equal(st.rule, "family-renamed");
        assert_int_equal(st.start_by_ms, T0 + HOUR + 30 * DAY);
        assert_int_equal(st.offer_expires_ms, T0 + DAY + 2 * DAY);
        assert_int_equal(load(f, "kelly"), 3);
}

static void waitlist_not_served_while_nobody_has_room(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];

        one_waiting(f, r, w);
        /* a waiting referral leaving frees nobody */
        ok(f, sub(f, FAMILY("W2"), T0 + 2 * HOUR).id, "withdrawn", NULL, T0 + DAY);
        assert_int_equal(f->n_ev, 1);
        /* a reload with no room anywhere */
        reload(f, load_rules(NULL), T0 + DAY);
        EXPECT(f, {RD_EV_CONFIG_RELOADED, NULL, 0, NULL});
        /* psy-1 freeing serves no family referral */
        ok(f, sub(f, PSY("P"), T0 + DAY).id, "withdrawn", NULL, T0 + DAY + 1);
        assert_int_equal(f->n_ev, 1);
        assert_int_equal(get(f, w).status, RD_STATUS_WAITLISTED);
}

static void forecast_counts_the_expected_end_of_started_trajectories(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX];
        struct rd_update u;
        struct rd_stored st, w, x;
        struct rd_error err;
        bool changed;

        fill_family(f, r);
        u = (struct rd_update){.id = r[0],
                               .status = RD_STATUS_STARTED,
                               .connector = "kelly",
                               .expected_end_ms = T0 + 20 * DAY};
        assert_int_equal(update(f, &u, T0 + HOUR, &st, &changed, &err), 0);
        /* kelly's first slot frees on day 20: within W's window */
        w = sub(f, FAMILY("W"), T0 + 2 * HOUR);
        EXPECT(f, RECEIVED(w.id), WAITLISTED(w.id));
        assert_int_equal(w.expected_start_ms, T0 + 20 * DAY);
        /* the next one gets the next slot: an offer's start + trajectory */
        x = sub(f, FAMILY("X"), T0 + 3 * HOUR);
        assert_int_equal(x.expected_start_ms, T0 + 1 + 120 * DAY);
        /* the trajectory moves to sophie: her slots, not kelly's */
        ok(f, r[0], "assigned", "sophie", T0 + DAY);
        EXPECT(f, ASSIGNED(r[0], "sophie"), ASSIGNED(w.id, "kelly"));
        assert_hub_matches_store(f);
}

/* ---- the forecast in serving order -------------------------------------------------------- */

/* genk's slots in the fixture once full (fill_family): each offer's start
 * + 120d, F-1 to F-4 made at T0 .. T0 + 3 ms. */
#define SLOT(i) (T0 + (i) + 120 * DAY)

static void a_high_referral_is_forecast_ahead_of_waiting_normal_ones(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX];
        struct rd_stored n1, n2, h;

        fill_family(f, r);
        n1 = sub(f, FAMILY("N-1"), T0 + HOUR);
        n2 = sub(f, FAMILY("N-2"), T0 + 2 * HOUR);
        assert_int_equal(n1.expected_start_ms, SLOT(0));
        assert_int_equal(n2.expected_start_ms, SLOT(1));
        /* served first when genk frees: so its forecast is the first slot */
        h = sub(f, FAMILY_HIGH("H"), T0 + 3 * HOUR);
        EXPECT(f, RECEIVED(h.id), WAITLISTED(h.id));
        assert_int_equal(f->ev[1].expected_start_ms, SLOT(0));
        assert_int_equal(get(f, h.id).expected_start_ms, SLOT(0));
        /* and it is: kelly frees */
        ok(f, r[0], "withdrawn", NULL, T0 + DAY);
        EXPECT(f, WITHDRAWN(r[0]), ASSIGNED(h.id, "kelly"));
}

static void a_normal_referral_is_forecast_behind_waiting_high_ones(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX];
        struct rd_stored h1, n, h2;

        fill_family(f, r);
        h1 = sub(f, FAMILY_HIGH("H-1"), T0 + HOUR);
        n = sub(f, FAMILY("N"), T0 + 2 * HOUR);
        assert_int_equal(h1.expected_start_ms, SLOT(0));
        assert_int_equal(n.expected_start_ms, SLOT(1)); /* behind H-1 */
        /* a second high one: behind H-1, ahead of N */
        h2 = sub(f, FAMILY_HIGH("H-2"), T0 + 3 * HOUR);
        assert_int_equal(h2.expected_start_ms, SLOT(1));
        /* a second normal one: behind all three */
        assert_int_equal(sub(f, FAMILY("N-2"), T0 + 4 * HOUR).expected_start_ms, SLOT(3));
        /* served in that order */
        ok(f, r[0], "withdrawn", NULL, T0 + DAY);
        EXPECT(f, WITHDRAWN(r[0]), ASSIGNED(h1.id, "kelly"));
        ok(f, r[1], "withdrawn", NULL, T0 + DAY + 1);
        EXPECT(f, WITHDRAWN(r[1]), ASSIGNED(h2.id, "sophie"));
        ok(f, r[2], "withdrawn", NULL, T0 + DAY + 2);
        EXPECT(f, WITHDRAWN(r[2]), ASSIGNED(n.id, "kelly"));
}

static void of_one_urgency_an_earlier_start_by_is_forecast_first(void **state)
{
        struct fx *f = *state;
        struct waiting3 w;
        struct rd_stored s2;

        /* N (normal, start_by +30d), H (high), S (normal, safety: +10d):
         * served H, S, N, and forecast so */
        three_waiting(f, &w);
        assert_int_equal(get(f, w.n).expected_start_ms, SLOT(0));
        assert_int_equal(get(f, w.h).expected_start_ms, SLOT(0)); /* ahead of N */
        assert_int_equal(get(f, w.s).expected_start_ms, SLOT(1)); /* behind H, ahead of N */
        /* another safety referral: its start_by is after S's, before N's */
        s2 = sub(f, FAMILY_SAFETY("S-2"), T0 + 4 * HOUR);
        assert_int_equal(s2.start_by_ms, T0 + 4 * HOUR + 10 * DAY);
        assert_int_equal(s2.expected_start_ms, SLOT(2));
        /* a normal family referral now: behind every one of them */
        assert_int_equal(sub(f, FAMILY("N-2"), T0 + 5 * HOUR).expected_start_ms, 0);
        ok(f, w.r[0], "withdrawn", NULL, T0 + DAY);
        EXPECT(f, WITHDRAWN(w.r[0]), ASSIGNED(w.h, "kelly"));
        ok(f, w.r[2], "withdrawn", NULL, T0 + DAY + 1);
        EXPECT(f, WITHDRAWN(w.r[2]), ASSIGNED(w.s, "kelly"));
        ok(f, w.r[1], "withdrawn", NULL, T0 + DAY + 2);
        EXPECT(f, WITHDRAWN(w.r[1]), ASSIGNED(s2.id, "sophie"));
}

/* ---- reload --------------------------------------------------------------------------- */

static void reload_keeps_decisions_and_reexpires_open_offers(void **state)
{
        struct fx *f = *state;
        struct rd_rules *fresh;
        struct rd_stored a, b, p, st;
        char digest[65];
        size_t n_rules;
        static const char longer[] =
                "version: 1\n"
                "defaults: {window: 60d, accept_within: 5d, at_risk: 3d, trajectory: 90d}\n"
                "teams:\n"
                "  - id: genk\n"
                "    postcodes: [\"3600\"]\n"
                "    connectors:\n"
                "      - {id: kelly, capacity: 1, skills: [family_support]}\n"
                "      - {id: sophie, capacity: 2, skills: [family_support]}\n"
                "forward_targets:\n"
                "  - {id: caw-limburg, name: \"CAW Limburg\"}\n"
                "rules:\n"
                "  - name: family\n"
                "    when: {kind: family_support}\n"
                "    assign: {teams: [genk]}\n"
                "  - name: everything-else\n"
                "    forward: {to: caw-limburg, reason: \"outside\"}\n";
        struct rd_diag diag = {0};

        a = sub(f, FAMILY("A"), T0);     /* kelly, expires T0 + 2d */
        b = sub(f, FAMILY("B"), T0 + 1); /* sophie */
        ok(f, b.id, "accepted", "sophie", T0 + 2);
        p = sub(f, PSY("P"), T0 + 3); /* psy-1; psy-1 and its rule go away */

        assert_int_equal(rd_rules_load_buffer("new.yaml", longer, strlen(longer), &fresh, &diag),
                         0);
        rd_diag_clear(&diag);
        snprintf(digest, sizeof digest, "%s", fresh->digest);
        n_rules = fresh->n_rules;
        reload(f, fresh, T0 + HOUR);
        EXPECT(f, {RD_EV_CONFIG_RELOADED, NULL, 0, NULL});
        assert_string_equal(f->ev[0].digest, digest);
        assert_int_equal(f->ev[0].rules, (int64_t)n_rules);
        assert_int_equal(f->ev[0].at_ms, T0 + HOUR);
        assert_string_equal(rd_hub_rules(f->hub)->digest, digest);

        st = get(f, a.id);
        assert_int_equal(st.status, RD_STATUS_ASSIGNED);
        assert_string_equal(st.connector, "kelly");
        assert_int_equal(st.start_by_ms, T0 + 30 * DAY);     /* decided: kept */
        assert_int_equal(st.offer_expires_ms, T0 + 5 * DAY); /* offered + the new 5d */
        st = get(f, b.id);
        assert_int_equal(st.status, RD_STATUS_ACCEPTED);
        assert_int_equal(st.offer_expires_ms, 0);
        st = get(f, p.id);
        assert_int_equal(st.status, RD_STATUS_ASSIGNED);
        assert_string_equal(st.connector, "psy-1");              /* removed connector keeps it */
        assert_int_equal(st.offer_expires_ms, T0 + 3 + 5 * DAY); /* its rule gone: defaults */
        assert_int_equal(load(f, "kelly"), 1);
        assert_int_equal(load(f, "sophie"), 1);

        assert_int_equal(deadline(f), T0 + 5 * DAY);
        assert_int_equal(tick(f, T0 + 2 * DAY), 0);
        EXPECT_NONE(f);
        /* kelly is full at capacity 1 now: a new one goes to sophie */
        st = sub(f, FAMILY("C"), T0 + 2 * DAY);
        assert_string_equal(st.connector, "sophie");
        assert_int_equal(st.start_by_ms, T0 + 2 * DAY + 60 * DAY);
        /* the offers lapse at the new moments: A's, then P's (decided again
         * from the top: its rule is gone) */
        assert_int_equal(tick(f, T0 + 5 * DAY - 1), 0);
        assert_int_equal(tick(f, T0 + 5 * DAY + 3), 2);
        EXPECT(f, EXPIRED(a.id, "kelly"), WAITLISTED(a.id), EXPIRED(p.id, "psy-1"),
               {RD_EV_FORWARDED, p.id, RD_STATUS_FORWARDED, NULL});
}

static void a_refused_reload_is_recorded_and_changes_nothing(void **state)
{
        struct fx *f = *state;
        char digest[65];
        int r;

        snprintf(digest, sizeof digest, "%s", rd_hub_rules(f->hub)->digest);
        sub(f, FAMILY("A"), T0);
        begin(f);
        r = rd_hub_reject_rules(f->hub, "routing.yaml:3:5: unknown key 'teamz'", 2, T0 + HOUR);
        end(f, r);
        assert_int_equal(r, 0);
        EXPECT(f, {RD_EV_CONFIG_REJECTED, NULL, 0, NULL});
        assert_string_equal(f->ev[0].error, "routing.yaml:3:5: unknown key 'teamz'");
        assert_int_equal(f->ev[0].errors, 2);
        assert_string_equal(rd_hub_rules(f->hub)->digest, digest);
        assert_int_equal(load(f, "kelly"), 1);
        assert_int_equal(deadline(f), T0 + 2 * DAY);
}

/* ---- overflow (rev 2) ------------------------------------------------------------------ */

/* The fixture's region with a small team, maas (lien, capacity 1), that
 * overflows into genk, and genk overflowing into maas. */
static const char overflow_routing[] = FIXTURE_HEAD_AND_GENK
        "  - id: maas\n"
        "    postcodes: [\"3630\"]\n"
        "    connectors:\n"
        "      - {id: lien, capacity: 1, skills: [family_support], languages: [nl, "
        "tr]}\n" FIXTURE_PSY_AND_FIRST_RULES "  - name: family-maas\n"
        "    when: {kind: family_support, postcode: [\"3630\"]}\n"
        "    assign: {teams: [maas], overflow: [genk], by_postcode: true}\n"
        "  - name: family\n"
        "    when: {kind: family_support, postcode: [\"3600\", \"3660-3668\"]}\n"
        "    assign: {teams: [genk], overflow: [maas], by_postcode: true, window: 20d}\n"
        "  - name: everything-else\n"
        "    forward: {to: caw-limburg, reason: \"outside the target group\"}\n";

#define MAAS(ref) REFERRAL(ref, "family_support", "3630", "")
#define MAAS_HIGH(ref) REFERRAL(ref, "family_support", "3630", ", \"urgency\": \"high\"")

static struct rd_rules *overflow_rules(void)
{
        struct rd_rules *rules = NULL;
        struct rd_diag diag = {0};

        if (rd_rules_load_buffer("overflow.yaml", overflow_routing, sizeof overflow_routing - 1,
                                 &rules, &diag) < 0)
                fail_msg("routing file refused: %s", rd_diag_first_error(&diag));
        rd_diag_clear(&diag);
        return rules;
}

static struct rd_rules *fixture_rules(void)
{
        return load_rules(NULL);
}

/* F's hub, made again over its (empty) store with the overflow file. */
static void use_overflow(struct fx *f)
{
        rd_hub_free(f->hub);
        assert_int_equal(rd_hub_new(f->store, overflow_rules(), &f->hub), 0);
}

struct sets_seen {
        char text[8][64];
        enum rd_urgency urgency[8];
        int64_t count[8];
        size_t n;
};

static int see_set(void *ctx, const struct rd_waiting_set *set)
{
        struct sets_seen *s = ctx;

        assert_true(s->n < 8);
        snprintf(s->text[s->n], sizeof s->text[s->n], "%s", set->candidates);
        s->urgency[s->n] = set->urgency;
        s->count[s->n++] = set->count;
        return 0;
}

/* How many waiting referrals the store counts for CANDIDATES, whatever
 * their urgency. */
static int64_t waiting_with(struct fx *f, const char *candidates)
{
        struct sets_seen s = {.n = 0};
        int64_t n = 0;

        assert_int_equal(rd_store_each_waiting_set(f->store, see_set, &s), 0);
        for (size_t i = 0; i < s.n; i++)
                if (!strcmp(s.text[i], candidates))
                        n += s.count[i];
        return n;
}

/* Maas: M1 to lien, M2 overflowing to kelly; genk: G1 to sophie, G2 to
 * kelly, G3 to sophie. Everyone full. */
struct region_full {
        struct rd_stored m1, m2, g1, g2, g3;
};

static void region_full(struct fx *f, struct region_full *r)
{
        r->m1 = sub(f, MAAS("M1"), T0);
        EXPECT(f, RECEIVED(r->m1.id), ASSIGNED(r->m1.id, "lien"));
        r->m2 = sub(f, MAAS("M2"), T0 + 1);
        EXPECT(f, RECEIVED(r->m2.id), ASSIGNED(r->m2.id, "kelly"));
        assert_string_equal(r->m2.team, "genk");
        assert_string_equal(r->m2.rule, "family-maas");
        r->g1 = sub(f, FAMILY("G1"), T0 + 2);
        EXPECT(f, RECEIVED(r->g1.id), ASSIGNED(r->g1.id, "sophie"));
        r->g2 = sub(f, FAMILY("G2"), T0 + 3);
        EXPECT(f, RECEIVED(r->g2.id), ASSIGNED(r->g2.id, "kelly"));
        r->g3 = sub(f, FAMILY("G3"), T0 + 4);
        EXPECT(f, RECEIVED(r->g3.id), ASSIGNED(r->g3.id, "sophie"));
}

static void a_small_team_overflows_into_a_large_one_and_waits_with_both_ranks(void **state)
{
        struct fx *f = *state;
        struct region_full r;
        struct rd_stored m3, g4;

        use_overflow(f);
        region_full(f, &r);
        m3 = sub(f, MAAS("M3"), T0 + HOUR);
        EXPECT(f, RECEIVED(m3.id), WAITLISTED(m3.id));
        g4 = sub(f, FAMILY("G4"), T0 + 2 * HOUR);
        EXPECT(f, RECEIVED(g4.id), WAITLISTED(g4.id));
        /* the store counts each with its ranks */
        assert_int_equal(waiting_with(f, "lien / kelly sophie"), 1);
        assert_int_equal(waiting_with(f, "kelly sophie / lien"), 1);
        /* a restarted hub reads the same */
        assert_hub_matches_store_under(f, overflow_rules());
}

/* The refs `list` gives for TEAM, space separated, into BUF. */
static const char *listed_for_team(struct fx *f, const char *team, char *buf, size_t size)
{
        struct rd_list_query q = {.limit = 100, .team = team};
        json_t *arr = json_array(), *it;
        size_t i, len = 0;

        assert_int_equal(rd_store_list(f->store, &q, arr), 0);
        buf[0] = '\0';
        json_array_foreach(arr, i, it) len +=
                (size_t)snprintf(buf + len, size - len, "%s%s", len ? " " : "",
                                 json_string_value(json_object_get(it, "ref")));
        json_decref(arr);
        return buf;
}

static void a_waiting_referral_is_listed_under_its_first_rank_teams_only(void **state)
{
        struct fx *f = *state;
        struct region_full r;
        char buf[256];

        use_overflow(f);
        region_full(f, &r);
        sub(f, MAAS("M3"), T0 + HOUR);       /* waits: lien, then kelly and sophie */
        sub(f, FAMILY("G4"), T0 + 2 * HOUR); /* waits: kelly and sophie, then lien */
        /* (rev 2) list by team: the team of an offer; a waiting referral's
         * first-rank candidates' teams, not its overflow */
        assert_string_equal(listed_for_team(f, "maas", buf, sizeof buf), "M1 M3");
        assert_string_equal(listed_for_team(f, "genk", buf, sizeof buf), "M2 G1 G2 G3 G4");
}

static void a_freed_connector_serves_its_first_rank_waiting_referrals_first(void **state)
{
        struct fx *f = *state;
        struct region_full r;
        struct rd_stored m3, g4, m4;

        use_overflow(f);
        region_full(f, &r);
        /* M3 (high urgency) is first in waitlist order, G4 second */
        m3 = sub(f, MAAS_HIGH("M3"), T0 + HOUR);
        g4 = sub(f, FAMILY("G4"), T0 + 2 * HOUR);
        EXPECT(f, RECEIVED(g4.id), WAITLISTED(g4.id));
        /* kelly frees: G4's first rank, M3's overflow: G4 first */
        ok(f, r.g2.id, "withdrawn", NULL, T0 + DAY);
        EXPECT(f, WITHDRAWN(r.g2.id), ASSIGNED(g4.id, "kelly"));
        assert_int_equal(get(f, m3.id).status, RD_STATUS_WAITLISTED);
        /* lien frees: M3's first rank */
        ok(f, r.m1.id, "withdrawn", NULL, T0 + DAY + 1);
        EXPECT(f, WITHDRAWN(r.m1.id), ASSIGNED(m3.id, "lien"));

        /* with no first-rank referral waiting for her, sophie serves the
         * overflow: M4 */
        m4 = sub(f, MAAS("M4"), T0 + DAY + 2);
        EXPECT(f, RECEIVED(m4.id), WAITLISTED(m4.id));
        ok(f, r.g1.id, "withdrawn", NULL, T0 + DAY + 3);
        EXPECT(f, WITHDRAWN(r.g1.id), ASSIGNED(m4.id, "sophie"));
        assert_string_equal(get(f, m4.id).team, "genk");
        assert_hub_matches_store_under(f, overflow_rules());
}

static void ranks_come_before_urgency_in_the_forecast(void **state)
{
        struct fx *f = *state;
        struct region_full r;
        struct rd_update u;
        struct rd_stored st, g4, g5, m3, g6;
        struct rd_error err;
        bool changed;

        use_overflow(f);
        region_full(f, &r);
        /* lien's family will take long: maas's own slot is late */
        u = (struct rd_update){.id = r.m1.id,
                               .status = RD_STATUS_STARTED,
                               .connector = "lien",
                               .expected_end_ms = T0 + 300 * DAY};
        assert_int_equal(update(f, &u, T0 + HOUR, &st, &changed, &err), 0);
        /* genk's slots: kelly T0 + 1 + 120d and T0 + 3 + 120d, sophie
         * T0 + 2 + 120d and T0 + 4 + 120d; two genk families wait for them,
         * first-rank (G4 also takes lien's overflow slot, the latest) */
        g4 = sub(f, FAMILY("G4"), T0 + 2 * HOUR);
        g5 = sub(f, FAMILY("G5"), T0 + 3 * HOUR);
        assert_int_equal(g4.expected_start_ms, SLOT(1));
        assert_int_equal(g5.expected_start_ms, SLOT(2));
        /* a maas family of high urgency: at genk it is overflow, so G4 and
         * G5 come first there whatever its urgency: the third genk slot */
        m3 = sub(f, MAAS_HIGH("M3"), T0 + 4 * HOUR);
        EXPECT(f, RECEIVED(m3.id), WAITLISTED(m3.id));
        assert_int_equal(m3.expected_start_ms, SLOT(3));
        /* a genk family of high urgency: first-rank, ahead of G4 and G5 */
        g6 = sub(f, FAMILY_HIGH("G6"), T0 + 5 * HOUR);
        assert_int_equal(g6.expected_start_ms, SLOT(1));
        /* served so: kelly frees, G6 (first-rank, high) first */
        ok(f, r.m2.id, "withdrawn", NULL, T0 + DAY);
        EXPECT(f, WITHDRAWN(r.m2.id), ASSIGNED(g6.id, "kelly"));
        ok(f, r.g1.id, "withdrawn", NULL, T0 + DAY + 1);
        EXPECT(f, WITHDRAWN(r.g1.id), ASSIGNED(g4.id, "sophie"));
        ok(f, r.g2.id, "withdrawn", NULL, T0 + DAY + 2);
        EXPECT(f, WITHDRAWN(r.g2.id), ASSIGNED(g5.id, "kelly"));
        ok(f, r.g3.id, "withdrawn", NULL, T0 + DAY + 3);
        EXPECT(f, WITHDRAWN(r.g3.id), ASSIGNED(m3.id, "sophie"));
}

/* ---- the waitlist beyond memory ------------------------------------------------ */

/* Two hubs, each over its own store, get the same requests: one keeps its
 * whole waitlist in memory (the default head is far longer than this
 * waitlist), the other only its first entry, reading the rest from the
 * store, and is restarted now and then. Every call must emit the same
 * events, with the same forecasts, and leave the same rows. */
struct twin {
        struct fx *a, *b;
        unsigned seed;
        int64_t now;
        int n_refs;
        const char *const *forms; /* the referrals submitted, "%s" for the ref */
        size_t n_forms;
        struct rd_rules *(*rules)(void); /* the routing file of both hubs */
        int forecasts;                   /* new referrals waitlisted */
};

static unsigned twin_rand(struct twin *t, unsigned n)
{
        t->seed = t->seed * 1103515245u + 12345u;
        return (t->seed >> 16) % n;
}

static void assert_same_events(const struct fx *a, const struct fx *b)
{
        assert_int_equal(a->n_ev, b->n_ev);
        for (size_t i = 0; i < a->n_ev; i++) {
                const struct rd_event *x = &a->ev[i], *y = &b->ev[i];
                assert_int_equal(x->seq, y->seq);
                assert_int_equal(x->type, y->type);
                assert_string_equal(x->id, y->id);
                assert_int_equal(x->status, y->status);
                assert_string_equal(x->rule, y->rule);
                assert_string_equal(x->connector, y->connector);
                assert_int_equal(x->start_by_ms, y->start_by_ms);
                assert_int_equal(x->expected_start_ms, y->expected_start_ms);
                assert_string_equal(x->forward_to, y->forward_to);
        }
}

#define FAMILY_SAFETY_HIGH(ref)                                                                    \
        REFERRAL(ref, "family_support", "3600",                                                    \
                 ", \"concerns\": [\"safety\"], \"urgency\": \"high\"")

/* Urgencies mixed, and of each urgency two windows (family, 30d;
 * family-safety, 10d): a new referral comes before some waiting referrals
 * of its urgency and after others. */
static const char *const fixture_forms[] = {
        FAMILY("%s"), FAMILY_HIGH("%s"), FAMILY_SAFETY("%s"),     PSY("%s"),
        FAMILY("%s"), ELSEWHERE("%s"),   FAMILY_SAFETY_HIGH("%s")};
/* Mostly maas, the small team, and little for genk of its own, so that
 * genk often has room to take maas's overflow (about one offer in five);
 * maas has a window of 30d, genk's family rule one of 20d. */
static const char *const overflow_forms[] = {MAAS("%s"),      MAAS("%s"),      MAAS_HIGH("%s"),
                                             PSY("%s"),       ELSEWHERE("%s"), FAMILY("%s"),
                                             ELSEWHERE("%s"), PSY("%s"),       FAMILY_HIGH("%s")};

/* The whole waitlist of a store as route.h entries, each before or after
 * a new referral of urgency U and start_by S (received after them all), as
 * its place in the list says: what the hub's counts must decide as. */
struct oracle {
        const struct rd_rules *rules;
        enum rd_urgency u;
        int64_t s;
        struct rd_waiting w[256];
        size_t cands[256][8];
        size_t n;
};

static int oracle_entry(void *ctx, const struct rd_stored *st, const char *candidates)
{
        struct oracle *o = ctx;
        struct rd_waiting *w = &o->w[o->n];
        char buf[256], *save = NULL;
        size_t first = SIZE_MAX;

        assert_true(o->n < sizeof o->w / sizeof o->w[0]);
        memset(w, 0, sizeof *w);
        w->candidates = o->cands[o->n];
        snprintf(buf, sizeof buf, "%s", candidates);
        for (char *id = strtok_r(buf, " ", &save); id; id = strtok_r(NULL, " ", &save)) {
                ssize_t c = rd_rules_connector_index(o->rules, id);

                if (!strcmp(id, "/"))
                        first = w->n_candidates;
                else if (c >= 0 && w->n_candidates < 8)
                        o->cands[o->n][w->n_candidates++] = (size_t)c;
        }
        w->n_overflow = first == SIZE_MAX ? 0 : w->n_candidates - first;
        w->behind = st->urgency < o->u || (st->urgency == o->u && st->start_by_ms > o->s);
        o->n++;
        return 0;
}

/* What F's hub must decide for the referral JSON at NOW, worked out from
 * its whole waitlist one by one, into *D. */
static void oracle_decide(struct fx *f, const char *json, int64_t now, struct rd_decision *d)
{
        struct oracle *o = calloc(1, sizeof *o);
        struct rd_route_state rs;
        struct rd_referral ref;
        struct rd_error err;
        json_t *obj = json_loads(json, 0, NULL);

        assert_non_null(o);
        assert_int_equal(rd_referral_from_json(obj, &ref, &err), 0);
        json_decref(obj);
        o->rules = rd_hub_rules(f->hub);
        o->u = ref.urgency;
        assert_int_equal(rd_route_decide(&ref, o->rules, NULL, now, d, NULL), 0);
        o->s = now + o->rules->rules[d->rule].window_s * 1000;
        assert_int_equal(rd_store_each_waiting(f->store, NULL, 256, oracle_entry, o, NULL), 0);
        assert_true(o->n < 256); /* the whole list */
        assert_int_equal(rd_hub_route_state(f->hub, &rs), 0);
        rs.waiting = o->w;
        rs.n_waiting = o->n;
        rs.waiting_sets = NULL;
        rs.waiting_set_counts = NULL;
        rs.n_waiting_sets = 0;
        rs.set_ahead = NULL;
        assert_int_equal(rd_route_decide(&ref, o->rules, &rs, now, d, NULL), 0);
        rd_referral_clear(&ref);
        free(o);
}

static void twin_submit(struct twin *t)
{
        const char *form = t->forms[twin_rand(t, (unsigned)t->n_forms)];
        char ref[32], json[1024];
        struct rd_stored sa, sb;
        struct rd_error ea, eb;
        struct rd_decision want;
        bool da, db;

        snprintf(ref, sizeof ref, "twin-%d", ++t->n_refs);
        snprintf(json, sizeof json, form, ref);
        oracle_decide(t->a, json, t->now, &want);
        assert_int_equal(submit(t->a, json, t->now, &sa, &da, &ea), 0);
        assert_int_equal(submit(t->b, json, t->now, &sb, &db, &eb), 0);
        assert_same_state(&sa, &sb);
        /* as the whole waitlist, one by one, in its order */
        assert_int_equal(sa.status, want.status);
        assert_int_equal(sa.expected_start_ms, want.expected_start_ms);
        t->forecasts += want.status == RD_STATUS_WAITLISTED;
}

static void twin_update(struct twin *t)
{
        char id[RD_RID_MAX];
        struct rd_stored st, sa, sb;
        struct rd_error ea, eb;
        bool ca, cb;
        const char *to = NULL;
        int ra, rb;

        if (!t->n_refs)
                return;
        rd_store_format_id(1 + (int64_t)twin_rand(t, (unsigned)t->n_refs), id);
        assert_int_equal(rd_store_get(t->a->store, id, &st), 0);
        switch (st.status) {
        case RD_STATUS_ASSIGNED: {
                static const char *const next[] = {"accepted", "accepted", "declined", "started"};
                to = next[twin_rand(t, 4)];
                break;
        }
        case RD_STATUS_ACCEPTED: to = "started"; break;
        case RD_STATUS_STARTED: to = "closed"; break;
        case RD_STATUS_WAITLISTED: to = twin_rand(t, 8) == 0 ? "withdrawn" : NULL; break;
        default: break;
        }
        if (!to)
                return;
        ra = upd(t->a, id, to, st.connector[0] ? st.connector : NULL, t->now, &sa, &ca, &ea);
        rb = upd(t->b, id, to, st.connector[0] ? st.connector : NULL, t->now, &sb, &cb, &eb);
        assert_int_equal(ra, rb);
        if (ra == 0)
                assert_same_state(&sa, &sb);
}

/* The twin run of T over A and a second fixture. */
static void twin_run(struct fx *a, struct twin *t)
{
        struct fx *b = NULL;
        int waiting_max = 0;

        assert_int_equal(setup((void **)&b), 0);
        t->a = a;
        t->b = b;
        rd_hub_free(a->hub);
        assert_int_equal(rd_hub_new(a->store, t->rules(), &a->hub), 0);
        rd_hub_free(b->hub);
        assert_int_equal(rd_hub_new(b->store, t->rules(), &b->hub), 0);
        rd_hub_set_wait_cache(b->hub, 1);
        for (int step = 0; step < 600; step++) {
                unsigned what = twin_rand(t, 20);
                struct rd_figures fig;

                t->now += (int64_t)twin_rand(t, 6 * 60) * 60000; /* up to 6 hours */
                if (what < 9) {
                        twin_submit(t);
                } else if (what < 18) {
                        twin_update(t);
                } else {
                        tick(a, t->now);
                        tick(b, t->now);
                }
                assert_same_events(a, b);
                if (step % 97 == 96) { /* a restart reads only the head again */
                        rd_hub_free(b->hub);
                        assert_int_equal(rd_hub_new(b->store, t->rules(), &b->hub), 0);
                        rd_hub_set_wait_cache(b->hub, 1 + twin_rand(t, 3));
                }
                assert_int_equal(rd_store_figures(a->store, &fig), 0);
                if (fig.waiting > waiting_max)
                        waiting_max = (int)fig.waiting;
        }
        /* the script did build a waitlist longer than B's head */
        assert_true(waiting_max > 10);
        assert_true(t->forecasts > 50);
        for (int i = 1; i <= t->n_refs; i++) {
                char id[RD_RID_MAX];
                struct rd_stored sa, sb;
                rd_store_format_id(i, id);
                assert_int_equal(rd_store_get(a->store, id, &sa), 0);
                assert_int_equal(rd_store_get(b->store, id, &sb), 0);
                assert_same_state(&sa, &sb);
        }
        teardown((void **)&b);
}

/* The twin run over A, with SEED, submitting FORMS under RULES. */
static void twin_with(struct fx *a, unsigned seed, const char *const *forms, size_t n_forms,
                      struct rd_rules *(*rules)(void))
{
        struct twin t = {
                .seed = seed, .now = T0, .forms = forms, .n_forms = n_forms, .rules = rules};

        twin_run(a, &t);
}

static void a_waitlist_read_from_the_store_decides_as_one_held_in_memory(void **state)
{
        twin_with(*state, 7, fixture_forms, sizeof fixture_forms / sizeof fixture_forms[0],
                  fixture_rules);
}

static void with_overflow_a_waitlist_read_from_the_store_decides_as_one_held_in_memory(void **state)
{
        twin_with(*state, 11, overflow_forms, sizeof overflow_forms / sizeof overflow_forms[0],
                  overflow_rules);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(waitlist_serves_highest_urgency_then_earliest_start_by),
                T(waitlist_served_when_a_trajectory_closes),
                T(waitlist_served_when_an_offer_is_declined),
                T(waitlist_served_when_an_offer_expires),
                T(waitlist_served_when_reassigned_away),
                T(waitlist_served_when_forwarded_by_hand),
                T(waitlist_served_when_a_reload_adds_a_connector),
                T(a_connector_added_on_reload_keeps_serving_the_waitlist),
                T(waitlist_served_when_a_reload_raises_capacity),
                T(waitlist_not_served_while_nobody_has_room),
                T(forecast_counts_the_expected_end_of_started_trajectories),
                T(a_high_referral_is_forecast_ahead_of_waiting_normal_ones),
                T(a_normal_referral_is_forecast_behind_waiting_high_ones),
                T(of_one_urgency_an_earlier_start_by_is_forecast_first),
                T(reload_keeps_decisions_and_reexpires_open_offers),
                T(a_refused_reload_is_recorded_and_changes_nothing),
                T(a_small_team_overflows_into_a_large_one_and_waits_with_both_ranks),
                T(a_waiting_referral_is_listed_under_its_first_rank_teams_only),
                T(a_freed_connector_serves_its_first_rank_waiting_referrals_first),
                T(ranks_come_before_urgency_in_the_forecast),
                T(a_waitlist_read_from_the_store_decides_as_one_held_in_memory),
                T(with_overflow_a_waitlist_read_from_the_store_decides_as_one_held_in_memory),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
