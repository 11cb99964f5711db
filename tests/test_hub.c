/* test_hub.c: lib/hub against protocol.md ("submit", "update"): what a
 * submit decides, the update state machine, declines, manual reassignment
 * and forward. The fixture: hub_fixture.h. */
#include "hub_fixture.h"

/* ---- submit --------------------------------------------------------------------- */

static void submit_offers_to_the_least_loaded_then_fewest_offers_then_id(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, b, c, d, got;

        a = sub(f, FAMILY("A"), T0);
        EXPECT(f, RECEIVED(a.id), ASSIGNED(a.id, "kelly"));
        assert_int_equal(a.status, RD_STATUS_ASSIGNED);
        assert_string_equal(a.rule, "family");
        assert_string_equal(a.team, "genk");
        assert_string_equal(a.connector, "kelly");
        assert_int_equal(a.received_ms, T0);
        assert_int_equal(a.start_by_ms, T0 + 30 * DAY);
        assert_int_equal(a.offered_ms, T0);
        assert_int_equal(a.offer_expires_ms, T0 + 2 * DAY);
        /* the assigned event carries the decision, no personal data */
        assert_string_equal(f->ev[1].rule, "family");
        assert_string_equal(f->ev[1].team, "genk");
        assert_int_equal(f->ev[1].start_by_ms, T0 + 30 * DAY);
        assert_string_equal(f->ev[0].ref, "A");
        got = get(f, a.id);
        assert_int_equal(got.status, RD_STATUS_ASSIGNED);
        assert_string_equal(got.connector, "kelly");
        assert_int_equal(got.start_by_ms, a.start_by_ms);
        assert_int_equal(got.offer_expires_ms, a.offer_expires_ms);
        assert_int_equal(got.last_seq, f->ev[1].seq);

        b = sub(f, FAMILY("B"), T0 + 1); /* kelly 1/2, sophie 0/2 */
        EXPECT(f, RECEIVED(b.id), ASSIGNED(b.id, "sophie"));
        c = sub(f, FAMILY("C"), T0 + 2); /* 1/2 each, one offer each: by id */
        EXPECT(f, RECEIVED(c.id), ASSIGNED(c.id, "kelly"));
        d = sub(f, FAMILY("D"), T0 + 3);
        EXPECT(f, RECEIVED(d.id), ASSIGNED(d.id, "sophie"));
        assert_int_equal(load(f, "kelly"), 2);
        assert_int_equal(load(f, "sophie"), 2);
        assert_int_equal(load(f, "psy-1"), 0);

        /* psychology: its own rule, its own accept_within (1d) */
        a = sub(f, PSY("P"), T0 + 4);
        EXPECT(f, RECEIVED(a.id), ASSIGNED(a.id, "psy-1"));
        assert_string_equal(a.rule, "psychology");
        assert_string_equal(a.team, "psy-oost");
        assert_int_equal(a.offer_expires_ms, T0 + 4 + DAY);
}

static void submit_forwards_by_rule_and_by_otherwise(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, b, p, q;

        a = sub(f, CRISIS("A"), T0);
        EXPECT(f, RECEIVED(a.id), FORWARDED(a.id));
        assert_int_equal(a.status, RD_STATUS_FORWARDED);
        assert_string_equal(a.rule, "crisis");
        assert_string_equal(a.forward_to, "cgg-limburg");
        assert_string_equal(a.reason, "acute crisis");
        assert_string_equal(a.connector, "");
        assert_int_equal(a.start_by_ms, 0); /* a forwarded referral has no window */
        assert_int_equal(a.final_ms, T0);
        assert_string_equal(f->ev[1].forward_to, "cgg-limburg");
        assert_string_equal(f->ev[1].reason, "acute crisis");
        assert_int_equal(f->ev[1].start_by_ms, 0);

        b = sub(f, ELSEWHERE("B"), T0 + 1); /* no family rule for 2000: the catch-all */
        EXPECT(f, RECEIVED(b.id), FORWARDED(b.id));
        assert_string_equal(b.rule, "everything-else");
        assert_string_equal(b.forward_to, "caw-limburg");
        assert_string_equal(get(f, b.id).forward_to, "caw-limburg");

        /* the psychologist is full: the forecast is past the window, so the
         * rule's otherwise forwards */
        p = sub(f, PSY("P"), T0 + 2);
        EXPECT(f, RECEIVED(p.id), ASSIGNED(p.id, "psy-1"));
        q = sub(f, PSY("Q"), T0 + 3);
        EXPECT(f, RECEIVED(q.id), FORWARDED(q.id));
        assert_string_equal(q.rule, "psychology");
        assert_string_equal(q.forward_to, "cgg-limburg");
        assert_string_equal(q.reason, "no psychologist in time");
        assert_int_equal(load(f, "kelly") + load(f, "sophie"), 0);
        assert_int_equal(load(f, "psy-1"), 1);
}

static void submit_waitlists_when_every_candidate_is_full(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX];
        struct rd_stored w, x;

        fill_family(f, r);
        w = sub(f, FAMILY("W"), T0 + HOUR);
        EXPECT(f, RECEIVED(w.id), WAITLISTED(w.id));
        assert_int_equal(w.status, RD_STATUS_WAITLISTED);
        assert_string_equal(w.rule, "family");
        assert_string_equal(w.connector, "");
        assert_int_equal(w.start_by_ms, T0 + HOUR + 30 * DAY);
        assert_int_equal(w.offer_expires_ms, 0);
        /* forecast: the earliest end (kelly's first offer + trajectory) */
        assert_int_equal(w.expected_start_ms, T0 + 120 * DAY);
        assert_int_equal(f->ev[1].expected_start_ms, T0 + 120 * DAY);
        /* the next one waits behind it: the second slot */
        x = sub(f, FAMILY("X"), T0 + 2 * HOUR);
        EXPECT(f, RECEIVED(x.id), WAITLISTED(x.id));
        assert_int_equal(x.expected_start_ms, T0 + 1 + 120 * DAY);
        assert_int_equal(get(f, x.id).status, RD_STATUS_WAITLISTED);
        assert_int_equal(load(f, "kelly"), 2);
        assert_int_equal(load(f, "sophie"), 2);
}

static void submit_same_content_is_a_duplicate_without_event(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, again;
        struct rd_error err;
        bool dup = false;

        a = sub(f, FAMILY("A"), T0);
        assert_int_equal(submit(f, FAMILY("A"), T0 + HOUR, &again, &dup, &err), 0);
        assert_true(dup);
        EXPECT_NONE(f);
        assert_string_equal(again.id, a.id);
        assert_int_equal(again.status, RD_STATUS_ASSIGNED);
        assert_string_equal(again.connector, "kelly");
        assert_int_equal(again.received_ms, T0);
        /* defaults filled in: an explicit "normal" is the same content */
        dup = false;
        assert_int_equal(
                submit(f, REFERRAL("A", "family_support", "3600", ", \"urgency\": \"normal\""),
                       T0 + HOUR, &again, &dup, &err),
                0);
        assert_true(dup);
        EXPECT_NONE(f);
        /* the current state, not the state at submit */
        ok(f, a.id, "accepted", "kelly", T0 + HOUR);
        dup = false;
        assert_int_equal(submit(f, FAMILY("A"), T0 + 2 * HOUR, &again, &dup, &err), 0);
        assert_true(dup);
        EXPECT_NONE(f);
        assert_int_equal(again.status, RD_STATUS_ACCEPTED);
        assert_int_equal(load(f, "kelly"), 1);
        assert_int_equal(load(f, "sophie"), 0);
}

static void submit_same_ref_other_content_is_a_conflict(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, out, after;
        struct rd_error err;
        bool dup = false;

        a = sub(f, FAMILY("A"), T0);
        assert_int_equal(submit(f, FAMILY_HIGH("A"), T0 + 1, &out, &dup, &err), -EEXIST);
        assert_int_equal(err.code, RD_CONFLICT);
        assert_string_equal(err.field, "referral.ref");
        EXPECT_NONE(f);
        after = get(f, a.id);
        assert_int_equal(after.urgency, RD_URGENCY_NORMAL);
        assert_int_equal(after.status, RD_STATUS_ASSIGNED);
        assert_int_equal(load(f, "kelly"), 1);
        assert_int_equal(load(f, "sophie"), 0);
        /* another ref is another referral */
        out = sub(f, FAMILY_HIGH("B"), T0 + 2);
        assert_string_not_equal(out.id, a.id);
}

/* ---- update: the table ---------------------------------------------------------- */

static void update_assigned_accepted_started_closed(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, st;
        struct rd_update u;
        struct rd_error err;
        bool changed;

        a = sub(f, FAMILY("A"), T0);
        st = ok(f, a.id, "accepted", "kelly", T0 + HOUR);
        EXPECT(f, {RD_EV_ACCEPTED, a.id, RD_STATUS_ACCEPTED, "kelly"});
        assert_int_equal(st.status, RD_STATUS_ACCEPTED);
        assert_int_equal(st.offer_expires_ms, 0);
        assert_int_equal(get(f, a.id).status, RD_STATUS_ACCEPTED);
        assert_int_equal(load(f, "kelly"), 1);

        /* expected_end must lie in the future */
        u = (struct rd_update){.id = a.id,
                               .status = RD_STATUS_STARTED,
                               .connector = "kelly",
                               .expected_end_ms = T0 + 2 * HOUR};
        refused(f, &u, T0 + 2 * HOUR, RD_INVALID, "expected_end");
        u.expected_end_ms = T0 + 90 * DAY;
        assert_int_equal(update(f, &u, T0 + 2 * HOUR, &st, &changed, &err), 0);
        assert_true(changed);
        EXPECT(f, {RD_EV_STARTED, a.id, RD_STATUS_STARTED, "kelly"});
        st = get(f, a.id);
        assert_int_equal(st.status, RD_STATUS_STARTED);
        assert_int_equal(st.started_ms, T0 + 2 * HOUR);
        assert_int_equal(st.expected_end_ms, T0 + 90 * DAY);
        assert_int_equal(load(f, "kelly"), 1);

        st = ok(f, a.id, "closed", "kelly", T0 + 80 * DAY);
        EXPECT(f, {RD_EV_CLOSED, a.id, RD_STATUS_CLOSED, "kelly"});
        assert_int_equal(st.status, RD_STATUS_CLOSED);
        assert_int_equal(get(f, a.id).final_ms, T0 + 80 * DAY);
        assert_int_equal(load(f, "kelly"), 0);
}

static void update_assigned_to_started_at_once(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, st;

        a = sub(f, FAMILY("A"), T0);
        st = ok(f, a.id, "started", "kelly", T0 + HOUR);
        EXPECT(f, {RD_EV_STARTED, a.id, RD_STATUS_STARTED, "kelly"});
        assert_int_equal(st.offer_expires_ms, 0);
        assert_int_equal(st.started_ms, T0 + HOUR);
        assert_int_equal(get(f, a.id).status, RD_STATUS_STARTED);
        assert_int_equal(load(f, "kelly"), 1);
        assert_int_equal(deadline(f), 0); /* no offer, no window to watch */
}

/* One referral in each open status: waitlisted (W), assigned (A, kelly),
 * accepted (B, sophie), started (C, kelly); sophie holds F-2 too. */
struct open4 {
        char w[RD_RID_MAX], a[RD_RID_MAX], b[RD_RID_MAX], c[RD_RID_MAX];
        const char *ids[4]; /* w, a, b, c */
};

static void open_in_every_status(struct fx *f, struct open4 *o)
{
        char r[4][RD_RID_MAX];

        fill_family(f, r);
        snprintf(o->a, sizeof o->a, "%s", r[0]);
        snprintf(o->b, sizeof o->b, "%s", r[1]);
        snprintf(o->c, sizeof o->c, "%s", r[2]);
        ok(f, o->b, "accepted", "sophie", T0 + HOUR);
        ok(f, o->c, "started", "kelly", T0 + HOUR);
        snprintf(o->w, sizeof o->w, "%s", sub(f, FAMILY("W"), T0 + HOUR).id);
        o->ids[0] = o->w;
        o->ids[1] = o->a;
        o->ids[2] = o->b;
        o->ids[3] = o->c;
        assert_int_equal(get(f, o->w).status, RD_STATUS_WAITLISTED);
}

static void update_withdrawn_from_every_open_status(void **state)
{
        struct fx *f = *state;
        struct open4 o;
        struct rd_stored st;

        open_in_every_status(f, &o);
        st = ok(f, o.w, "withdrawn", NULL, T0 + 2 * HOUR);
        EXPECT(f, WITHDRAWN(o.w));
        assert_int_equal(st.status, RD_STATUS_WITHDRAWN);
        assert_int_equal(get(f, o.w).final_ms, T0 + 2 * HOUR);
        assert_int_equal(load(f, "kelly"), 2);

        ok(f, o.a, "withdrawn", NULL, T0 + 2 * HOUR);
        EXPECT(f, {RD_EV_WITHDRAWN, o.a, RD_STATUS_WITHDRAWN, "kelly"});
        assert_int_equal(get(f, o.a).offer_expires_ms, 0);
        assert_int_equal(load(f, "kelly"), 1);
        ok(f, o.b, "withdrawn", NULL, T0 + 2 * HOUR);
        EXPECT(f, {RD_EV_WITHDRAWN, o.b, RD_STATUS_WITHDRAWN, "sophie"});
        assert_int_equal(load(f, "sophie"), 1);
        ok(f, o.c, "withdrawn", NULL, T0 + 2 * HOUR);
        EXPECT(f, {RD_EV_WITHDRAWN, o.c, RD_STATUS_WITHDRAWN, "kelly"});
        assert_int_equal(load(f, "kelly"), 0);
        assert_int_equal(get(f, o.c).status, RD_STATUS_WITHDRAWN);
}

static void update_manual_assignment_from_every_open_status(void **state)
{
        struct fx *f = *state;
        struct open4 o;
        struct rd_stored st;
        int64_t now = T0 + DAY;

        open_in_every_status(f, &o);
        /* waitlisted -> psy-1: any connector of the file, whatever its skill */
        st = ok(f, o.w, "assigned", "psy-1", now);
        EXPECT(f, ASSIGNED(o.w, "psy-1"));
        assert_string_equal(st.connector, "psy-1");
        assert_string_equal(st.team, "psy-oost");
        assert_int_equal(st.offered_ms, now);
        assert_int_equal(st.offer_expires_ms, now + 2 * DAY); /* its rule's accept_within */
        assert_int_equal(st.start_by_ms, T0 + HOUR + 30 * DAY);
        assert_int_equal(load(f, "psy-1"), 1);
        /* assigned (kelly) -> sophie, who is full */
        st = ok(f, o.a, "assigned", "sophie", now);
        EXPECT(f, ASSIGNED(o.a, "sophie"));
        assert_int_equal(st.offer_expires_ms, now + 2 * DAY);
        assert_int_equal(load(f, "kelly"), 1);
        assert_int_equal(load(f, "sophie"), 3);
        /* accepted (sophie) -> kelly: a new offer, to be accepted again */
        st = ok(f, o.b, "assigned", "kelly", now);
        EXPECT(f, ASSIGNED(o.b, "kelly"));
        assert_int_equal(st.status, RD_STATUS_ASSIGNED);
        assert_int_equal(load(f, "kelly"), 2);
        assert_int_equal(load(f, "sophie"), 2);
        /* started (kelly) -> sophie: no longer started */
        st = ok(f, o.c, "assigned", "sophie", now);
        EXPECT(f, ASSIGNED(o.c, "sophie"));
        assert_int_equal(st.started_ms, 0);
        assert_int_equal(st.expected_end_ms, 0);
        assert_int_equal(get(f, o.c).status, RD_STATUS_ASSIGNED);
        assert_int_equal(load(f, "kelly"), 1);
        assert_int_equal(load(f, "sophie"), 3);
}

static void update_manual_forward_from_every_open_status(void **state)
{
        struct fx *f = *state;
        struct open4 o;
        struct rd_stored st;

        open_in_every_status(f, &o);
        for (int i = 0; i < 4; i++) {
                st = forward(f, o.ids[i], "caw-limburg", T0 + DAY);
                EXPECT(f, FORWARDED(o.ids[i]));
                assert_string_equal(f->ev[0].forward_to, "caw-limburg");
                assert_string_equal(f->ev[0].reason, "family moved to Hasselt");
                st = get(f, o.ids[i]);
                assert_int_equal(st.status, RD_STATUS_FORWARDED);
                assert_string_equal(st.forward_to, "caw-limburg");
                assert_string_equal(st.connector, "");
                assert_int_equal(st.start_by_ms, 0);
                assert_int_equal(st.final_ms, T0 + DAY);
        }
        assert_int_equal(load(f, "kelly"), 0);
        assert_int_equal(load(f, "sophie"), 1); /* F-4 */
}

static void update_manual_forward_needs_a_known_target_and_a_reason(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, FAMILY("A"), T0);
        struct rd_update u = {.id = a.id, .status = RD_STATUS_FORWARDED};

        refused(f, &u, T0 + 1, RD_INVALID, "forward_to");
        u.forward_to = "nowhere";
        u.reason = "x";
        refused(f, &u, T0 + 1, RD_INVALID, "forward_to");
        u.forward_to = "cgg-limburg";
        u.reason = NULL;
        refused(f, &u, T0 + 1, RD_INVALID, "reason");
        u.reason = "";
        refused(f, &u, T0 + 1, RD_INVALID, "reason");
        assert_int_equal(load(f, "kelly"), 1);
}

static void update_forbidden_changes_are_conflicts_naming_the_allowed_ones(void **state)
{
        struct fx *f = *state;
        struct open4 o;
        struct rd_stored x, y, z;
        const char *m;
        static const char *const from_waiting =
                "allowed: withdrawn, assigned (with connector), forwarded";
        static const char *const from_assigned =
                "allowed: accepted, started, declined, withdrawn, assigned (with connector), "
                "forwarded";
        static const char *const from_accepted =
                "allowed: started, withdrawn, assigned (with connector), forwarded";
        static const char *const from_started =
                "allowed: closed, withdrawn, assigned (with connector), forwarded";

        open_in_every_status(f, &o);
        /* waitlisted */
        m = refused_upd(f, o.w, "accepted", "kelly", T0 + DAY, RD_CONFLICT, "status");
        assert_non_null(strstr(m, from_waiting));
        assert_non_null(strstr(m, "waitlisted cannot become accepted"));
        m = refused_upd(f, o.w, "started", "kelly", T0 + DAY, RD_CONFLICT, "status");
        assert_non_null(strstr(m, from_waiting));
        m = refused_upd(f, o.w, "declined", "kelly", T0 + DAY, RD_CONFLICT, "status");
        assert_non_null(strstr(m, "cannot become declined"));
        assert_non_null(strstr(m, from_waiting));
        m = refused_upd(f, o.w, "closed", "kelly", T0 + DAY, RD_CONFLICT, "status");
        assert_non_null(strstr(m, from_waiting));
        m = refused_upd(f, o.w, "waitlisted", NULL, T0 + DAY, RD_CONFLICT, "status");
        assert_non_null(strstr(m, from_waiting));
        /* assigned */
        m = refused_upd(f, o.a, "closed", "kelly", T0 + DAY, RD_CONFLICT, "status");
        assert_non_null(strstr(m, from_assigned));
        m = refused_upd(f, o.a, "received", NULL, T0 + DAY, RD_CONFLICT, "status");
        assert_non_null(strstr(m, from_assigned));
        m = refused_upd(f, o.a, "waitlisted", NULL, T0 + DAY, RD_CONFLICT, "status");
        assert_non_null(strstr(m, from_assigned));
        /* accepted */
        m = refused_upd(f, o.b, "declined", "sophie", T0 + DAY, RD_CONFLICT, "status");
        assert_non_null(strstr(m, from_accepted));
        m = refused_upd(f, o.b, "closed", "sophie", T0 + DAY, RD_CONFLICT, "status");
        assert_non_null(strstr(m, from_accepted));
        m = refused_upd(f, o.b, "accepted", "kelly", T0 + DAY, RD_CONFLICT, "status");
        assert_non_null(strstr(m, from_accepted));
        /* started */
        m = refused_upd(f, o.c, "accepted", "kelly", T0 + DAY, RD_CONFLICT, "status");
        assert_non_null(strstr(m, from_started));
        m = refused_upd(f, o.c, "declined", "kelly", T0 + DAY, RD_CONFLICT, "status");
        assert_non_null(strstr(m, from_started));
        m = refused_upd(f, o.c, "waitlisted", NULL, T0 + DAY, RD_CONFLICT, "status");
        assert_non_null(strstr(m, from_started));

        /* final statuses allow nothing */
        x = forward(f, o.a, "cgg-limburg", T0 + DAY);
        y = ok(f, o.b, "withdrawn", NULL, T0 + DAY);
        z = ok(f, o.c, "closed", "kelly", T0 + DAY);
        const char *finals[3] = {x.id, y.id, z.id};
        const char *names[3] = {"forwarded", "withdrawn", "closed"};
        static const char *const changes[] = {"accepted",  "started",  "declined", "closed",
                                              "withdrawn", "assigned", "forwarded"};
        for (int i = 0; i < 3; i++) {
                for (size_t k = 0; k < sizeof changes / sizeof changes[0]; k++) {
                        struct rd_update u = {.id = finals[i],
                                              .connector = "sophie",
                                              .forward_to = "caw-limburg",
                                              .reason = "r"};
                        if (!strcmp(changes[k], names[i]))
                                continue; /* a repeat: see the repeat test */
                        if (!strcmp(changes[k], "declined"))
                                u.declined = true;
                        else
                                assert_int_equal(rd_status_parse(changes[k], &u.status), 0);
                        m = refused(f, &u, T0 + 2 * DAY, RD_CONFLICT, "status");
                        assert_non_null(strstr(m, names[i]));
                        assert_non_null(strstr(m, "final status"));
                }
        }
}

/* protocol.md's table, written out again: from each open status, the
 * changes allowed. Every other change is a conflict; an allowed one gets
 * past the state machine to what it needs. */
static void update_follows_the_protocol_table_from_every_open_status(void **state)
{
        static const char *const table[][2] = {
                {"waitlisted", " withdrawn assigned forwarded "},
                {"assigned", " accepted started declined withdrawn assigned forwarded "},
                {"accepted", " started withdrawn assigned forwarded "},
                {"started", " closed withdrawn assigned forwarded "},
        };
        /* each change as an update that fails after the state machine */
        static const struct {
                const char *change;
                enum rd_code code; /* when allowed */
                const char *field;
        } changes[] = {
                {"accepted", RD_FORBIDDEN, "connector"}, {"started", RD_FORBIDDEN, "connector"},
                {"declined", RD_FORBIDDEN, "connector"}, {"closed", RD_FORBIDDEN, "connector"},
                {"assigned", RD_INVALID, "connector"},   {"forwarded", RD_INVALID, "forward_to"},
                {"received", RD_CONFLICT, "status"},     {"waitlisted", RD_CONFLICT, "status"},
        };
        struct fx *f = *state;
        struct open4 o;

        open_in_every_status(f, &o);
        for (size_t i = 0; i < 4; i++) {
                assert_string_equal(rd_status_name(get(f, o.ids[i]).status), table[i][0]);
                for (size_t k = 0; k < sizeof changes / sizeof changes[0]; k++) {
                        struct rd_update u = {.id = o.ids[i],
                                              .connector = "nobody",
                                              .forward_to = "nowhere",
                                              .reason = "r"};
                        char word[32];
                        bool allowed;
                        snprintf(word, sizeof word, " %s ", changes[k].change);
                        allowed = strstr(table[i][1], word) != NULL;
                        if (!strcmp(changes[k].change, "declined"))
                                u.declined = true;
                        else
                                assert_int_equal(rd_status_parse(changes[k].change, &u.status), 0);
                        refused(f, &u, T0 + DAY, allowed ? changes[k].code : RD_CONFLICT,
                                allowed ? changes[k].field : "status");
                }
        }
}

static void update_connector_missing_is_invalid_another_is_forbidden(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, b, s;
        struct rd_update u;

        a = sub(f, FAMILY("A"), T0); /* kelly */
        refused_upd(f, a.id, "accepted", NULL, T0 + 1, RD_INVALID, "connector");
        refused_upd(f, a.id, "accepted", "sophie", T0 + 1, RD_FORBIDDEN, "connector");
        refused_upd(f, a.id, "declined", NULL, T0 + 1, RD_INVALID, "connector");
        refused_upd(f, a.id, "declined", "sophie", T0 + 1, RD_FORBIDDEN, "connector");
        refused_upd(f, a.id, "started", NULL, T0 + 1, RD_INVALID, "connector");
        refused_upd(f, a.id, "started", "sophie", T0 + 1, RD_FORBIDDEN, "connector");
        /* the state machine first: closing an offer is a conflict, with or
         * without connector */
        refused_upd(f, a.id, "closed", NULL, T0 + 1, RD_CONFLICT, "status");
        refused_upd(f, a.id, "closed", "sophie", T0 + 1, RD_CONFLICT, "status");

        b = sub(f, FAMILY("B"), T0 + 2); /* sophie */
        ok(f, b.id, "started", "sophie", T0 + 3);
        refused_upd(f, b.id, "closed", NULL, T0 + 4, RD_INVALID, "connector");
        refused_upd(f, b.id, "closed", "kelly", T0 + 4, RD_FORBIDDEN, "connector");

        /* a manual assignment names a connector of the file */
        refused_upd(f, a.id, "assigned", NULL, T0 + 5, RD_INVALID, "connector");
        refused_upd(f, a.id, "assigned", "nobody", T0 + 5, RD_INVALID, "connector");
        /* an unknown referral */
        u = (struct rd_update){.id = "R999999", .status = RD_STATUS_WITHDRAWN};
        refused(f, &u, T0 + 5, RD_NOT_FOUND, "id");

        s = get(f, a.id);
        assert_int_equal(s.status, RD_STATUS_ASSIGNED);
        assert_string_equal(s.connector, "kelly");
        assert_int_equal(load(f, "kelly"), 1);
        assert_int_equal(load(f, "sophie"), 1);
}

static void update_repeats_are_ok_without_change_or_event(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, b, c, d, e;

        a = sub(f, FAMILY("A"), T0); /* kelly */
        ok(f, a.id, "accepted", "kelly", T0 + 1);
        same(f, a.id, "accepted", "kelly", T0 + 2);
        ok(f, a.id, "started", "kelly", T0 + 3);
        same(f, a.id, "started", "kelly", T0 + 4);
        ok(f, a.id, "closed", "kelly", T0 + 5);
        same(f, a.id, "closed", "kelly", T0 + 6);

        b = sub(f, FAMILY("B"), T0 + 10); /* both free: sophie had fewer offers */
        assert_string_equal(b.connector, "sophie");
        ok(f, b.id, "declined", "sophie", T0 + 11);
        EXPECT(f, DECLINED(b.id, "sophie"), ASSIGNED(b.id, "kelly"));
        same(f, b.id, "declined", "sophie", T0 + 12);
        assert_string_equal(get(f, b.id).connector, "kelly");
        ok(f, b.id, "withdrawn", NULL, T0 + 13);
        same(f, b.id, "withdrawn", NULL, T0 + 14);
        /* a decline repeated after the referral ended is still a repeat */
        same(f, b.id, "declined", "sophie", T0 + 15);

        c = sub(f, FAMILY("C"), T0 + 20);
        forward(f, c.id, "caw-limburg", T0 + 21);
        {
                struct rd_update u = {.id = c.id,
                                      .status = RD_STATUS_FORWARDED,
                                      .forward_to = "caw-limburg",
                                      .reason = "family moved to Hasselt"};
                struct rd_stored st;
                struct rd_error err;
                bool changed = true;
                assert_int_equal(update(f, &u, T0 + 22, &st, &changed, &err), 0);
                assert_false(changed);
                EXPECT_NONE(f);
        }
        d = sub(f, FAMILY("D"), T0 + 30);
        ok(f, d.id, "assigned", "sophie", T0 + 31);
        same(f, d.id, "assigned", "sophie", T0 + 32);
        assert_int_equal(get(f, d.id).offered_ms, T0 + 31);

        e = sub(f, FAMILY("E"), T0 + 40);
        ok(f, e.id, "withdrawn", NULL, T0 + 41);
        same(f, e.id, "withdrawn", NULL, T0 + 42);
}

/* ---- declines --------------------------------------------------------------------- */

static void decline_emits_declined_then_the_new_decision(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, st;

        a = sub(f, FAMILY("A"), T0);
        st = ok(f, a.id, "declined", "kelly", T0 + HOUR);
        EXPECT(f, DECLINED(a.id, "kelly"), ASSIGNED(a.id, "sophie"));
        assert_string_equal(f->ev[0].rule, "family");
        assert_int_equal(st.status, RD_STATUS_ASSIGNED);
        assert_string_equal(st.connector, "sophie");
        st = get(f, a.id);
        assert_string_equal(st.connector, "sophie");
        assert_int_equal(st.start_by_ms, T0 + 30 * DAY); /* the window stays */
        assert_int_equal(st.offered_ms, T0 + HOUR);
        assert_int_equal(st.offer_expires_ms, T0 + HOUR + 2 * DAY);
        assert_int_equal(load(f, "kelly"), 0);
        assert_int_equal(load(f, "sophie"), 1);
}

static void decliners_are_never_offered_it_again(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, b, st;

        a = sub(f, FAMILY("A"), T0);
        ok(f, a.id, "declined", "kelly", T0 + 1);
        EXPECT(f, DECLINED(a.id, "kelly"), ASSIGNED(a.id, "sophie"));
        /* sophie declines too: kelly is free, but declined it: nobody left,
         * and the family rule waits */
        ok(f, a.id, "declined", "sophie", T0 + 2);
        EXPECT(f, DECLINED(a.id, "sophie"), WAITLISTED(a.id), NEEDS_ATTENTION(a.id));
        st = get(f, a.id);
        assert_int_equal(st.status, RD_STATUS_WAITLISTED);
        assert_int_equal(st.start_by_ms, T0 + 30 * DAY);
        assert_int_equal(load(f, "kelly"), 0);
        assert_int_equal(load(f, "sophie"), 0);

        /* capacity frees at kelly: A is not offered to her */
        b = sub(f, FAMILY("B"), T0 + 3);
        EXPECT(f, RECEIVED(b.id), ASSIGNED(b.id, "kelly"));
        ok(f, b.id, "withdrawn", NULL, T0 + 4);
        EXPECT(f, WITHDRAWN(b.id));
        /* nor after a reload, which serves every waiting referral */
        reload(f, load_rules(NULL), T0 + 5);
        EXPECT(f, {RD_EV_CONFIG_RELOADED, NULL, 0, NULL});
        assert_int_equal(get(f, a.id).status, RD_STATUS_WAITLISTED);

        /* a coordinator may still give it to kelly, whatever her history */
        st = ok(f, a.id, "assigned", "kelly", T0 + 6);
        EXPECT(f, ASSIGNED(a.id, "kelly"));
        /* and when she declines again, she is not offered it again */
        ok(f, a.id, "declined", "kelly", T0 + 7);
        EXPECT(f, DECLINED(a.id, "kelly"), WAITLISTED(a.id), NEEDS_ATTENTION(a.id));
}

static void decline_with_nobody_left_takes_the_rules_otherwise(void **state)
{
        struct fx *f = *state;
        struct rd_stored p, st;

        p = sub(f, PSY("P"), T0);
        st = ok(f, p.id, "declined", "psy-1", T0 + HOUR);
        EXPECT(f, DECLINED(p.id, "psy-1"), FORWARDED(p.id));
        assert_int_equal(st.status, RD_STATUS_FORWARDED);
        st = get(f, p.id);
        assert_string_equal(st.forward_to, "cgg-limburg");
        assert_string_equal(st.reason, "no psychologist in time");
        assert_int_equal(st.start_by_ms, 0);
        assert_int_equal(st.final_ms, T0 + HOUR);
        assert_int_equal(load(f, "psy-1"), 0);
}

/* ---- manual reassignment and forward -------------------------------------------------- */

static void manual_reassignment_ignores_load_and_gets_its_own_accept_within(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX];
        struct rd_stored a, st;

        fill_family(f, r);
        a = sub(f, PSY("P"), T0); /* psy-1, accept_within 1d */
        st = ok(f, a.id, "assigned", "kelly", T0 + DAY / 2);
        EXPECT(f, ASSIGNED(a.id, "kelly"));
        assert_string_equal(st.team, "genk");
        assert_int_equal(st.offered_ms, T0 + DAY / 2);
        assert_int_equal(st.offer_expires_ms, T0 + DAY / 2 + DAY); /* psychology's 1d */
        assert_int_equal(load(f, "kelly"), 3);
        assert_int_equal(load(f, "psy-1"), 0);
        /* the old offer's expiry is gone: the new one counts */
        assert_int_equal(deadline(f), T0 + DAY / 2 + DAY);
        assert_int_equal(tick(f, T0 + DAY), 0);
        EXPECT_NONE(f);
        /* kelly lets it lapse: decided again by psychology, psy-1 is free */
        assert_int_equal(tick(f, T0 + DAY / 2 + DAY), 1);
        EXPECT(f, EXPIRED(a.id, "kelly"), ASSIGNED(a.id, "psy-1"));
        assert_int_equal(load(f, "kelly"), 2);
}

static void manual_forward_is_final_and_frees_capacity(void **state)
{
        struct fx *f = *state;
        struct rd_stored a, b, st;

        a = sub(f, FAMILY("A"), T0);
        ok(f, a.id, "started", "kelly", T0 + DAY);
        st = forward(f, a.id, "cgg-limburg", T0 + 2 * DAY);
        assert_int_equal(st.status, RD_STATUS_FORWARDED);
        assert_int_equal(load(f, "kelly"), 0);
        refused_upd(f, a.id, "assigned", "kelly", T0 + 3 * DAY, RD_CONFLICT, "status");
        b = sub(f, FAMILY("B"), T0 + 3 * DAY);
        assert_string_equal(b.connector, "sophie"); /* both free: fewer offers */
        assert_int_equal(deadline(f), T0 + 5 * DAY);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(submit_offers_to_the_least_loaded_then_fewest_offers_then_id),
                T(submit_forwards_by_rule_and_by_otherwise),
                T(submit_waitlists_when_every_candidate_is_full),
                T(submit_same_content_is_a_duplicate_without_event),
                T(submit_same_ref_other_content_is_a_conflict),
                T(update_assigned_accepted_started_closed),
                T(update_assigned_to_started_at_once),
                T(update_withdrawn_from_every_open_status),
                T(update_manual_assignment_from_every_open_status),
                T(update_manual_forward_from_every_open_status),
                T(update_manual_forward_needs_a_known_target_and_a_reason),
                T(update_forbidden_changes_are_conflicts_naming_the_allowed_ones),
                T(update_follows_the_protocol_table_from_every_open_status),
                T(update_connector_missing_is_invalid_another_is_forbidden),
                T(update_repeats_are_ok_without_change_or_event),
                T(decline_emits_declined_then_the_new_decision),
                T(decliners_are_never_offered_it_again),
                T(decline_with_nobody_left_takes_the_rules_otherwise),
                T(manual_reassignment_ignores_load_and_gets_its_own_accept_within),
                T(manual_forward_is_final_and_frees_capacity),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
