/* test_report.c: the weekly report (lib/report): each figure of tools.md by
 * its definition (report.h), on a store built with known events, and on
 * events fed as the store keeps them (for what this build's events cannot
 * carry yet: reason codes, needs_attention); and a DATE of the tools. */
#include "hub_fixture.h"

#include "report.h"
#include "report_html.h"
#include "routing_files.h"
#include "timefmt.h"

#define P0 T0 /* the period: [P0, P1) */
#define P1 (T0 + 7 * DAY)

/* ---- a store with known events ------------------------------------------------------- */

static const char routing_6[] = "version: 1\n"
                                "teams:\n"
                                "  - id: genk\n"
                                "    connectors:\n"
                                "      - {id: kelly, capacity: 6, skills: [family_support]}\n"
                                "      - {id: sophie, capacity: 6, skills: [family_support]}\n"
                                "forward_targets: [{id: cgg-limburg, name: CGG}, "
                                "{id: caw-limburg, name: CAW}]\n"
                                "rules:\n"
                                "  - name: family\n"
                                "    assign: {teams: [genk]}\n";

static void in_force(struct fx *f, const char *text, int64_t at)
{
        struct rd_rules *r = NULL;
        struct rd_diag diag = {0};

        assert_int_equal(rd_rules_load_buffer("routing.yaml", text, strlen(text), &r, &diag), 0);
        rd_diag_clear(&diag); /* warnings */
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(rd_routing_record(f->store, r, text, strlen(text), at), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        rd_rules_free(r);
}

/* The event TYPE about ST at AT, as the hub makes it (its public fields). */
static struct rd_event event_of(enum rd_event_type type, const struct rd_stored *st, int64_t at)
{
        struct rd_event ev;

        memset(&ev, 0, sizeof ev);
        ev.type = type;
        ev.at_ms = at;
        ev.status = st->status;
        snprintf(ev.partner, sizeof ev.partner, "%s", st->partner);
        snprintf(ev.ref, sizeof ev.ref, "%s", st->ref);
        snprintf(ev.connector, sizeof ev.connector, "%s", st->connector);
        snprintf(ev.forward_to, sizeof ev.forward_to, "%s", st->forward_to);
        ev.start_by_ms = st->start_by_ms;
        return ev;
}

/* A referral REF received at AT (its referral.received stored). */
static struct rd_stored received(struct fx *f, const char *ref, int64_t at)
{
        struct rd_stored st = {.received_ms = at, .status = RD_STATUS_RECEIVED};
        struct rd_event ev;
        struct rd_store_change ch = {.st = &st, .content = "{}", .events = &ev, .n_events = 1};

        snprintf(st.partner, sizeof st.partner, "ocmw-genk");
        snprintf(st.ref, sizeof st.ref, "%s", ref);
        snprintf(st.digest, sizeof st.digest, "d");
        ev = event_of(RD_EV_RECEIVED, &st, at);
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(rd_store_insert(f->store, &ch), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
        return st;
}

/* Event TYPE about ST at AT: ST's status becomes STATUS (with CONNECTOR,
 * START_BY, FORWARD_TO where given), as the hub writes it. */
static void happen(struct fx *f, struct rd_stored *st, enum rd_event_type type,
                   enum rd_status status, const char *connector, int64_t at)
{
        struct rd_event ev;
        struct rd_store_change ch = {.st = st, .events = &ev, .n_events = 1};

        st->status = status;
        if (connector)
                snprintf(st->connector, sizeof st->connector, "%s", connector);
        ev = event_of(type, st, at);
        assert_int_equal(rd_store_begin(f->store), 0);
        assert_int_equal(rd_store_change(f->store, &ch), 0);
        assert_int_equal(rd_store_commit(f->store), 0);
}

static void offer(struct fx *f, struct rd_stored *st, const char *connector, int64_t at)
{
        if (!st->start_by_ms)
                st->start_by_ms = st->received_ms + 30 * DAY;
        happen(f, st, RD_EV_ASSIGNED, RD_STATUS_ASSIGNED, connector, at);
}

static void start(struct fx *f, struct rd_stored *st, int64_t at)
{
        happen(f, st, RD_EV_STARTED, RD_STATUS_STARTED, NULL, at);
}

static void missed(struct fx *f, struct rd_stored *st)
{
        happen(f, st, RD_EV_WINDOW_MISSED, st->status, NULL, st->start_by_ms);
}

static void forward_to(struct fx *f, struct rd_stored *st, const char *to, int64_t at)
{
        snprintf(st->forward_to, sizeof st->forward_to, "%s", to);
        st->start_by_ms = 0;
        st->connector[0] = '\0';
        happen(f, st, RD_EV_FORWARDED, RD_STATUS_FORWARDED, NULL, at);
}

static void wait_list(struct fx *f, struct rd_stored *st, int64_t at)
{
        st->start_by_ms = st->received_ms + 30 * DAY;
        happen(f, st, RD_EV_WAITLISTED, RD_STATUS_WAITLISTED, NULL, at);
}

/* Windows ending in the period (start_by P0 + 5d): in time, late, missed,
 * and started only after the period. */
static void windows(struct fx *f)
{
        const char *who[4] = {"kelly", "sophie", "kelly", "sophie"};
        const char *refs[4] = {"WA", "WB", "WC", "WD"};
        struct rd_stored w[4];

        for (int i = 0; i < 4; i++) {
                w[i] = received(f, refs[i], P0 - 25 * DAY + i);
                offer(f, &w[i], who[i], P0 - 25 * DAY + i);
        }
        start(f, &w[0], P0 + 4 * DAY);
        for (int i = 1; i < 4; i++)
                missed(f, &w[i]);
        start(f, &w[1], P0 + 6 * DAY);
        start(f, &w[3], P1 + HOUR);
}

/* Ten referrals received in the period, offered 1h .. 10h after receipt;
 * the first four started 1d .. 4d after; one declined, one closed. */
static void ten(struct fx *f)
{
        for (int i = 0; i < 10; i++) {
                char ref[8];
                struct rd_stored r;
                int64_t at = P0 + i * 10 * HOUR;

                snprintf(ref, sizeof ref, "R%d", i);
                r = received(f, ref, at);
                offer(f, &r, i % 2 ? "sophie" : "kelly", at + (i + 1) * HOUR);
                if (i == 0) {
                        happen(f, &r, RD_EV_DECLINED, RD_STATUS_ASSIGNED, NULL, at + 2 * HOUR);
                        offer(f, &r, "sophie", at + 2 * HOUR);
                }
                if (i < 4)
                        start(f, &r, at + (i + 1) * DAY);
                if (i == 1)
                        happen(f, &r, RD_EV_CLOSED, RD_STATUS_CLOSED, NULL, at + 2 * DAY + HOUR);
        }
}

/* The rest: waiting before and in the period, forwarded at once and by
 * hand, and referrals received at and after the end. */
static void the_rest(struct fx *f)
{
        struct rd_stored old = received(f, "WOLD", P0 - 2 * DAY);
        struct rd_stored w1 = received(f, "W1", P0 + 100 * HOUR);
        struct rd_stored f1 = received(f, "F1", P0 + 102 * HOUR);
        struct rd_stored f2 = received(f, "F2", P0 + 103 * HOUR);
        struct rd_stored x, y;

        wait_list(f, &old, P0 - 2 * DAY);
        wait_list(f, &w1, P0 + 100 * HOUR);
        offer(f, &w1, "kelly", P1 + HOUR); /* after the period: still waiting at its end */
        forward_to(f, &f1, "cgg-limburg", P0 + 102 * HOUR);
        offer(f, &f2, "sophie", P0 + 103 * HOUR);
        forward_to(f, &f2, "caw-limburg", P0 + 110 * HOUR);
        x = received(f, "X", P1 + HOUR);
        offer(f, &x, "kelly", P1 + HOUR);
        y = received(f, "Y", P1);
        offer(f, &y, "kelly", P1);
}

static json_t *report_of(struct fx *f)
{
        json_t *rep = NULL;

        in_force(f, routing_6, P0 - 40 * DAY);
        windows(f);
        ten(f);
        the_rest(f);
        in_force(f,
                 "version: 1\nteams: [{id: genk, connectors: [{id: kelly, capacity: 9, "
                 "skills: [family_support]}]}]\nrules: [{name: all, assign: {teams: [genk]}}]\n",
                 P1 + DAY);
        assert_int_equal(rd_report_from_store(f->store, P0, P1, &rep), 0);
        return rep;
}

static json_int_t n_at(const json_t *rep, const char *a, const char *b)
{
        const json_t *o = json_object_get(rep, a);
        if (b)
                o = json_object_get(o, b);
        if (!json_is_integer(o))
                fail_msg("%s.%s is not a number", a, b ? b : "");
        return json_integer_value(o);
}

static void received_counts_the_referrals_received_in_the_period(void **state)
{
        json_t *rep = report_of(*state);

        /* R0..R9, W1, F1, F2; not WOLD or the windows (before), X (after),
         * Y (at the end: the period ends before it) */
        assert_int_equal(n_at(rep, "received", NULL), 13);
        assert_int_equal(n_at(rep, "by_decision", "assigned"), 11);
        assert_int_equal(n_at(rep, "by_decision", "waitlisted"), 1);
        assert_int_equal(n_at(rep, "by_decision", "forwarded"), 1);
        json_decref(rep);
}

static void times_are_nearest_rank_percentiles_in_seconds(void **state)
{
        json_t *rep = report_of(*state);

        /* to offer: F2 at once, R0..R9 after 1h..10h (R0's decline and
         * second offer do not count): 11 values */
        assert_int_equal(n_at(rep, "time_to_offer_s", "p50"), 5 * 3600);
        assert_int_equal(n_at(rep, "time_to_offer_s", "p75"), 8 * 3600);
        assert_int_equal(n_at(rep, "time_to_offer_s", "p90"), 9 * 3600);
        /* to start: R0..R3 after 1d..4d */
        assert_int_equal(n_at(rep, "time_to_start_s", "p50"), 2 * 86400);
        assert_int_equal(n_at(rep, "time_to_start_s", "p75"), 3 * 86400);
        assert_int_equal(n_at(rep, "time_to_start_s", "p90"), 4 * 86400);
        json_decref(rep);
}

static void the_window_concerns_referrals_whose_start_by_falls_in_the_period(void **state)
{
        json_t *rep = report_of(*state);

        /* WA in time; WB late (and missed); WC missed; WD missed, started
         * only after the period */
        assert_int_equal(n_at(rep, "window", "in_time"), 1);
        assert_int_equal(n_at(rep, "window", "late"), 1);
        assert_int_equal(n_at(rep, "window", "started"), 2);
        assert_int_equal(n_at(rep, "window", "missed"), 3);
        json_decref(rep);
}

static void declines_closes_and_forwards_of_the_period_by_code_and_target(void **state)
{
        json_t *rep = report_of(*state);
        const json_t *fw = json_object_get(rep, "forwarded");

        assert_int_equal(n_at(rep, "declines", "none"), 1);
        assert_int_equal(n_at(rep, "declines", "no_capacity"), 0);
        assert_int_equal(n_at(rep, "closes", "none"), 1);
        assert_int_equal(n_at(rep, "closes", "goals_reached"), 0);
        assert_int_equal(json_array_size(fw), 2);
        /* as many to each: by name */
        assert_string_equal(json_string_value(json_object_get(json_array_get(fw, 0), "to")),
                            "caw-limburg");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(fw, 0), "count")), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(fw, 1), "to")),
                            "cgg-limburg");
        json_decref(rep);
}

static void waiting_and_loads_are_the_state_at_the_end_of_the_period(void **state)
{
        json_t *rep = report_of(*state);
        const json_t *c = json_object_get(rep, "connectors");
        char t[RD_TIME_STR];

        /* WOLD and W1 (offered only after the end) */
        assert_int_equal(n_at(rep, "waiting", "now"), 2);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(rep, "waiting"), "oldest")),
                rd_time_format(P0 - 2 * DAY, t));
        assert_int_equal(n_at(rep, "attention", NULL), 0);
        /* the file in force at the end, not the one after it */
        assert_int_equal(json_array_size(c), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "id")),
                            "kelly");
        assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "team")),
                            "genk");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(c, 0), "capacity")), 6);
        /* kelly: WA, WC, R2, R4, R6, R8; sophie: WB, WD, R0, R3, R5, R7, R9 */
        assert_int_equal(json_integer_value(json_object_get(json_array_get(c, 0), "load")), 6);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(c, 1), "load")), 7);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(rep, "routing"), "source")),
                "routing.yaml");
        json_decref(rep);
}

static void the_series_sample_the_state_each_day_and_end_at_the_end(void **state)
{
        json_t *rep = report_of(*state);
        const json_t *series = json_object_get(rep, "series");
        const json_t *at = json_object_get(series, "at"), *w = json_object_get(series, "waiting");
        const json_t *kelly = json_object_get(json_object_get(series, "load"), "kelly");
        const json_t *hist = json_object_get(json_object_get(rep, "time_to_start_days"), "counts");
        static const int waiting[8] = {1, 1, 1, 1, 1, 2, 2, 2};
        char t[RD_TIME_STR];

        /* P0, a day later each, P1 */
        assert_int_equal(json_array_size(at), 8);
        assert_string_equal(json_string_value(json_array_get(at, 0)), rd_time_format(P0, t));
        assert_string_equal(json_string_value(json_array_get(at, 1)), rd_time_format(P0 + DAY, t));
        assert_string_equal(json_string_value(json_array_get(at, 7)), rd_time_format(P1, t));
        /* WOLD waits all along; W1 from P0 + 100h on */
        for (int i = 0; i < 8; i++)
                assert_int_equal(json_integer_value(json_array_get(w, i)), waiting[i]);
        /* kelly: WA and WC at the start, as `connectors` says at the end */
        assert_int_equal(json_integer_value(json_array_get(kelly, 0)), 2);
        assert_int_equal(json_integer_value(json_array_get(kelly, 7)), 6);
        assert_non_null(json_object_get(json_object_get(series, "load"), "sophie"));
        /* R0..R3 started within 1 to 4 days: all in the first bucket */
        assert_int_equal(json_array_size(hist), 7);
        assert_int_equal(json_integer_value(json_array_get(hist, 0)), 4);
        for (int i = 1; i < 7; i++)
                assert_int_equal(json_integer_value(json_array_get(hist, i)), 0);
        json_decref(rep);
}

static void a_long_period_has_at_most_93_points(void **state)
{
        struct rd_report *rep = NULL;
        json_t *o = NULL;
        const json_t *at;

        (void)state;
        assert_int_equal(rd_report_new(P0, P0 + 365 * DAY, &rep), 0);
        assert_int_equal(rd_report_finish(rep, NULL, &o), 0);
        at = json_object_get(json_object_get(o, "series"), "at");
        assert_true(json_array_size(at) <= 93 && json_array_size(at) >= 60);
        json_decref(o);
        rd_report_free(rep);
}

static void the_page_holds_the_figures_and_three_charts(void **state)
{
        json_t *rep = report_of(*state), *bad = json_object();
        char *page = NULL;
        size_t len = 0;
        const char *p;
        int charts = 0;

        assert_int_equal(rd_report_html(rep, &page, &len), 0);
        assert_int_equal(strlen(page), len);
        assert_non_null(strstr(page, "Content-Security-Policy"));
        assert_non_null(strstr(page, "<dt>received</dt><dd>13</dd>"));
        assert_non_null(strstr(page, "assigned 11, waitlisted 1, forwarded 1"));
        assert_non_null(strstr(page, "caw-limburg"));
        for (p = page; (p = strstr(p, "<figure class=\"chart\">")); p++)
                charts++;
        assert_int_equal(charts, 3); /* time to start, waiting, load per connector */
        free(page);
        page = NULL;
        assert_int_equal(rd_report_html(bad, &page, &len), -EINVAL);
        assert_null(page);
        json_decref(bad);
        json_decref(rep);
}

static void without_a_kept_file_the_loads_stand_alone(void **state)
{
        struct fx *f = *state;
        struct rd_stored r = received(f, "A", P0);
        json_t *rep = NULL, *c;

        offer(f, &r, "kelly", P0 + HOUR);
        assert_int_equal(rd_report_from_store(f->store, P0, P1, &rep), 0);
        c = json_array_get(json_object_get(rep, "connectors"), 0);
        assert_string_equal(json_string_value(json_object_get(c, "id")), "kelly");
        assert_true(json_is_null(json_object_get(c, "capacity")));
        assert_int_equal(json_integer_value(json_object_get(c, "load")), 1);
        assert_true(json_is_null(json_object_get(rep, "routing")));
        json_decref(rep);
}

/* ---- events fed as stored ---------------------------------------------------------------- */

/* Feed the event "TYPE ID at AT" with the JSON members MORE ("" or
 * ", \"k\": v"). */
static void feed(struct rd_report *rep, const char *type, int rowid, int64_t at, const char *more)
{
        char buf[512], t[RD_TIME_STR], id[RD_RID_MAX];
        json_error_t err;
        json_t *ev;

        rd_store_format_id(rowid, id);
        snprintf(buf, sizeof buf,
                 "{\"seq\": 1, \"at\": \"%s\", \"type\": \"%s\", \"id\": \"%s\"%s}",
                 rd_time_format(at, t), type, id, more);
        ev = json_loads(buf, 0, &err);
        if (!ev)
                fail_msg("%s: %s", buf, err.text);
        assert_int_equal(rd_report_event(rep, ev), 0);
        json_decref(ev);
}

static void codes_are_counted_as_given_and_none_without(void **state)
{
        struct rd_report *rep = NULL;
        json_t *o = NULL;
        static const char *const codes[] = {", \"reason_code\": \"no_capacity\"",
                                            ", \"reason_code\": \"language\"",
                                            ", \"reason_code\": \"no_capacity\"", ""};

        (void)state;
        assert_int_equal(rd_report_new(P0, P1, &rep), 0);
        feed(rep, "referral.received", 1, P0 - DAY, ", \"status\": \"received\"");
        feed(rep, "referral.declined", 1, P0 + HOUR,
             ", \"reason_code\": \"distance\""); /* R1 is
                                         not of the period */
        for (int i = 0; i < 4; i++) {
                feed(rep, "referral.received", 2 + i, P0 + i, ", \"status\": \"received\"");
                feed(rep, "referral.declined", 2 + i, P0 + HOUR, codes[i]);
        }
        feed(rep, "referral.closed", 2, P0 + DAY, ", \"reason_code\": \"goals_reached\"");
        feed(rep, "referral.closed", 3, P1, ", \"reason_code\": \"other\""); /* after the end */
        assert_int_equal(rd_report_finish(rep, NULL, &o), 0);
        assert_int_equal(n_at(o, "declines", "no_capacity"), 2);
        assert_int_equal(n_at(o, "declines", "language"), 1);
        assert_int_equal(n_at(o, "declines", "none"), 1);
        assert_int_equal(n_at(o, "declines", "distance"), 0); /* R1's is not of the period */
        assert_int_equal(n_at(o, "closes", "goals_reached"), 1);
        assert_int_equal(n_at(o, "closes", "other"), 0); /* after the end */
        json_decref(o);
        rd_report_free(rep);
}

/* The keys of the counts C in order, each with its count, as "key n, ...". */
static void assert_counts(const json_t *c, const char *want)
{
        char got[512];
        size_t len = 0;
        const char *key;
        json_t *v;

        got[0] = '\0';
        json_object_foreach((json_t *)c, key, v)
        {
                len += (size_t)snprintf(got + len, sizeof got - len, "%s%s %lld", len ? ", " : "",
                                        key, (long long)json_integer_value(v));
                assert_true(len < sizeof got);
        }
        assert_string_equal(got, want);
}

static void every_reason_code_is_listed_with_zero_when_none_occurred(void **state)
{
        struct rd_report *rep = NULL;
        json_t *o = NULL;
        char *page = NULL;
        size_t len = 0;

        (void)state;
        assert_int_equal(rd_report_new(P0, P1, &rep), 0);
        feed(rep, "referral.received", 1, P0, ", \"status\": \"received\"");
        feed(rep, "referral.declined", 1, P0 + HOUR, ", \"reason_code\": \"distance\"");
        assert_int_equal(rd_report_finish(rep, NULL, &o), 0);
        /* protocol.md's codes in its order, then a decline or close without one */
        assert_counts(json_object_get(o, "declines"),
                      "no_capacity 0, language 0, distance 1, conflict_of_interest 0, "
                      "not_suitable 0, other 0, none 0");
        assert_counts(json_object_get(o, "closes"), "goals_reached 0, partly_reached 0, "
                                                    "family_stopped 0, referred_on 0, other 0, "
                                                    "none 0");
        /* and the page shows them alike */
        assert_int_equal(rd_report_html(o, &page, &len), 0);
        assert_non_null(strstr(page, "<td>conflict_of_interest</td><td class=\"num\">0</td>"));
        assert_non_null(strstr(page, "<td>referred_on</td><td class=\"num\">0</td>"));
        free(page);
        json_decref(o);
        rd_report_free(rep);
}

static void attention_lasts_until_an_event_ends_it(void **state)
{
        struct rd_report *rep = NULL;
        json_t *o = NULL;

        (void)state;
        assert_int_equal(rd_report_new(P0, P1, &rep), 0);
        for (int i = 1; i <= 4; i++) {
                feed(rep, "referral.received", i, P0, ", \"status\": \"received\"");
                feed(rep, "referral.waitlisted", i, P0, ", \"status\": \"waitlisted\"");
                feed(rep, "referral.needs_attention", i, P0,
                     ", \"status\": \"waitlisted\", \"attention\": \"no_candidate\"");
        }
        /* 1 stays; 2: a reload gave it a candidate; 3: a window event keeps
         * it; 4: ended only after the period */
        feed(rep, "referral.waitlisted", 2, P0 + DAY, ", \"status\": \"waitlisted\"");
        feed(rep, "referral.window_at_risk", 3, P0 + DAY, ", \"status\": \"waitlisted\"");
        feed(rep, "referral.assigned", 4, P1 + DAY,
             ", \"status\": \"assigned\", \"connector\": \"kelly\"");
        assert_int_equal(rd_report_finish(rep, NULL, &o), 0);
        assert_int_equal(n_at(o, "attention", NULL), 3);
        assert_int_equal(n_at(o, "waiting", "now"), 4);
        json_decref(o);
        rd_report_free(rep);
}

static void a_report_needs_a_period_and_readable_events(void **state)
{
        struct rd_report *rep = NULL;
        json_t *ev = json_pack("{s:s, s:s}", "type", "referral.received", "id", "R000001");

        (void)state;
        assert_int_equal(rd_report_new(P1, P0, &rep), -EINVAL);
        assert_int_equal(rd_report_new(P0, P0, &rep), -EINVAL);
        assert_int_equal(rd_report_new(P0, P1, &rep), 0);
        assert_int_equal(rd_report_event(rep, ev), -EINVAL); /* no at */
        json_object_set_new(ev, "at", json_string("2027-01-15T08:00:00Z"));
        json_object_set_new(ev, "id", json_string("R1"));
        assert_int_equal(rd_report_event(rep, ev), -EINVAL);
        /* config events and types this build does not know count for nothing */
        json_object_set_new(ev, "type", json_string("config.reloaded"));
        assert_int_equal(rd_report_event(rep, ev), 0);
        json_object_set_new(ev, "type", json_string("referral.something_new"));
        json_object_set_new(ev, "id", json_string("R000001"));
        assert_int_equal(rd_report_event(rep, ev), 0);
        json_decref(ev);
        rd_report_free(rep);
}

/* ---- a DATE -------------------------------------------------------------------------------- */

static void assert_date(const char *date, const char *utc)
{
        int64_t ms = 0;
        char t[RD_TIME_STR];

        assert_int_equal(rd_date_parse(date, &ms), 0);
        assert_string_equal(rd_time_format(ms, t), utc);
}

static void a_date_is_midnight_in_brussels(void **state)
{
        int64_t ms = 0;

        (void)state;
        assert_date("2027-01-15", "2027-01-14T23:00:00.000Z");
        assert_date("2026-07-01", "2026-06-30T22:00:00.000Z");
        /* the days summer time begins and ends: midnight is before the change */
        assert_date("2026-03-29", "2026-03-28T23:00:00.000Z");
        assert_date("2026-03-30", "2026-03-29T22:00:00.000Z");
        assert_date("2026-10-25", "2026-10-24T22:00:00.000Z");
        assert_date("2026-10-26", "2026-10-25T23:00:00.000Z");
        assert_date("2026-12-01T10:00:00+01:00", "2026-12-01T09:00:00.000Z");
        assert_int_equal(rd_date_parse("2026-02-29", &ms), -EINVAL);
        assert_int_equal(rd_date_parse("2026-1-01", &ms), -EINVAL);
        assert_int_equal(rd_date_parse("2026-01-01 ", &ms), -EINVAL);
        assert_int_equal(rd_date_parse("", &ms), -EINVAL);
}

static void the_callers_time_zone_is_put_back(void **state)
{
        int64_t ms;

        (void)state;
        setenv("TZ", "America/New_York", 1);
        assert_int_equal(rd_date_parse("2027-01-15", &ms), 0);
        assert_string_equal(getenv("TZ"), "America/New_York");
        unsetenv("TZ");
        assert_int_equal(rd_date_parse("2027-01-15", &ms), 0);
        assert_null(getenv("TZ"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(received_counts_the_referrals_received_in_the_period),
                T(times_are_nearest_rank_percentiles_in_seconds),
                T(the_window_concerns_referrals_whose_start_by_falls_in_the_period),
                T(declines_closes_and_forwards_of_the_period_by_code_and_target),
                T(waiting_and_loads_are_the_state_at_the_end_of_the_period),
                T(the_series_sample_the_state_each_day_and_end_at_the_end),
                cmocka_unit_test(a_long_period_has_at_most_93_points),
                T(the_page_holds_the_figures_and_three_charts),
                T(without_a_kept_file_the_loads_stand_alone),
                cmocka_unit_test(codes_are_counted_as_given_and_none_without),
                cmocka_unit_test(every_reason_code_is_listed_with_zero_when_none_occurred),
                cmocka_unit_test(attention_lasts_until_an_event_ends_it),
                cmocka_unit_test(a_report_needs_a_period_and_readable_events),
                cmocka_unit_test(a_date_is_midnight_in_brussels),
                cmocka_unit_test(the_callers_time_zone_is_put_back),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
