/* Unit tests of lib/event: the public record of a change. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"

static struct rd_event assigned(void)
{
        struct rd_event ev;
        memset(&ev, 0, sizeof ev);
        ev.seq = 42;
        ev.at_ms = 1795428000123; /* 2026-11-23T10:00:00.123Z */
        ev.type = RD_EV_ASSIGNED;
        snprintf(ev.id, sizeof ev.id, "R000007");
        snprintf(ev.partner, sizeof ev.partner, "ocmw-genk");
        snprintf(ev.ref, sizeof ev.ref, "OCMW-GENK-2026-0042");
        ev.status = RD_STATUS_ASSIGNED;
        snprintf(ev.rule, sizeof ev.rule, "family-by-region");
        snprintf(ev.team, sizeof ev.team, "genk");
        snprintf(ev.connector, sizeof ev.connector, "kelly");
        ev.start_by_ms = 1797933600000; /* 2026-12-22T10:00:00Z */
        return ev;
}

static void every_type_has_its_wire_name_and_parses_back(void **state)
{
        (void)state;
        for (int t = 0; t < RD_EV__MAX; t++) {
                enum rd_event_type back;
                const char *name = rd_event_type_name((enum rd_event_type)t);
                assert_true(strncmp(name, "referral.", 9) == 0 || strncmp(name, "config.", 7) == 0);
                assert_int_equal(rd_event_type_parse(name, &back), 0);
                assert_int_equal(back, t);
        }
        assert_string_equal(rd_event_type_name(RD_EV_OFFER_EXPIRED), "referral.offer_expired");
        assert_string_equal(rd_event_type_name(RD_EV_WINDOW_AT_RISK), "referral.window_at_risk");
}

static void assigned_event_json_has_the_protocol_fields(void **state)
{
        struct rd_event ev = assigned();
        json_t *o = rd_event_to_json(&ev);
        (void)state;
        assert_non_null(o);
        assert_int_equal(json_integer_value(json_object_get(o, "seq")), 42);
        assert_string_equal(json_string_value(json_object_get(o, "at")),
                            "2026-11-23T10:00:00.123Z");
        assert_string_equal(json_string_value(json_object_get(o, "type")), "referral.assigned");
        assert_string_equal(json_string_value(json_object_get(o, "status")), "assigned");
        assert_string_equal(json_string_value(json_object_get(o, "connector")), "kelly");
        assert_string_equal(json_string_value(json_object_get(o, "start_by")),
                            "2026-12-22T10:00:00.000Z");
        assert_null(json_object_get(o, "forward_to")); /* fields that do not apply are absent */
        assert_null(json_object_get(o, "expected_start"));
        json_decref(o);
}

static void events_have_no_key_for_personal_data(void **state)
{
        static const char *const personal[] = {"family", "note", "children", "postcode", "age"};
        struct rd_event ev = assigned();
        (void)state;
        for (int t = 0; t < RD_EV__MAX; t++) {
                json_t *o;
                ev.type = (enum rd_event_type)t;
                o = rd_event_to_json(&ev);
                for (size_t i = 0; i < sizeof personal / sizeof personal[0]; i++)
                        assert_null(json_object_get(o, personal[i]));
                json_decref(o);
        }
}

static void config_events_carry_digest_or_error(void **state)
{
        struct rd_event ev;
        json_t *o;
        (void)state;
        memset(&ev, 0, sizeof ev);
        ev.seq = 3;
        ev.type = RD_EV_CONFIG_RELOADED;
        snprintf(ev.digest, sizeof ev.digest, "%064d", 0);
        ev.rules = 4;
        o = rd_event_to_json(&ev);
        assert_int_equal(json_integer_value(json_object_get(o, "rules")), 4);
        assert_int_equal(strlen(json_string_value(json_object_get(o, "digest"))), 64);
        assert_null(json_object_get(o, "status"));
        json_decref(o);

        memset(&ev, 0, sizeof ev);
        ev.type = RD_EV_CONFIG_REJECTED;
        snprintf(ev.error, sizeof ev.error, "routing.yaml:3:5: unknown key 'tems'");
        ev.errors = 2;
        o = rd_event_to_json(&ev);
        assert_string_equal(json_string_value(json_object_get(o, "error")),
                            "routing.yaml:3:5: unknown key 'tems'");
        assert_int_equal(json_integer_value(json_object_get(o, "errors")), 2);
        json_decref(o);
}

static void json_round_trip_keeps_every_field(void **state)
{
        struct rd_event ev = assigned(), back;
        json_t *o;
        (void)state;
        ev.type = RD_EV_FORWARDED;
        ev.status = RD_STATUS_FORWARDED;
        snprintf(ev.forward_to, sizeof ev.forward_to, "caw-limburg");
        snprintf(ev.reason, sizeof ev.reason, "outside the target group");
        o = rd_event_to_json(&ev);
        assert_int_equal(rd_event_from_json(o, &back), 0);
        assert_int_equal(back.seq, ev.seq);
        assert_int_equal(back.at_ms, ev.at_ms);
        assert_int_equal(back.type, ev.type);
        assert_int_equal(back.status, ev.status);
        assert_string_equal(back.forward_to, "caw-limburg");
        assert_string_equal(back.reason, "outside the target group");
        assert_int_equal(back.start_by_ms, ev.start_by_ms);
        json_decref(o);
        o = json_pack("{s:s}", "type", "referral.nonsense");
        assert_int_equal(rd_event_from_json(o, &back), -22);
        json_decref(o);
}

static void reason_code_and_attention_are_fields_when_they_apply(void **state)
{
        struct rd_event ev = assigned(), back;
        json_t *o;
        (void)state;

        o = rd_event_to_json(&ev);
        assert_null(json_object_get(o, "reason_code"));
        assert_null(json_object_get(o, "attention"));
        json_decref(o);

        ev.type = RD_EV_DECLINED;
        snprintf(ev.reason_code, sizeof ev.reason_code, "no_capacity");
        o = rd_event_to_json(&ev);
        assert_string_equal(json_string_value(json_object_get(o, "reason_code")), "no_capacity");
        assert_int_equal(rd_event_from_json(o, &back), 0);
        assert_string_equal(back.reason_code, "no_capacity");
        json_decref(o);

        ev = assigned();
        ev.type = RD_EV_NEEDS_ATTENTION;
        ev.status = RD_STATUS_WAITLISTED;
        ev.attention = RD_ATTENTION_ALL_DECLINED;
        o = rd_event_to_json(&ev);
        assert_string_equal(json_string_value(json_object_get(o, "type")),
                            "referral.needs_attention");
        assert_string_equal(json_string_value(json_object_get(o, "attention")), "all_declined");
        assert_int_equal(rd_event_from_json(o, &back), 0);
        assert_int_equal(back.attention, RD_ATTENTION_ALL_DECLINED);
        json_object_set_new(o, "attention", json_string("bored"));
        assert_int_equal(rd_event_from_json(o, &back), -EINVAL);
        json_decref(o);
        assert_string_equal(rd_attention_name(RD_ATTENTION_NO_CANDIDATE), "no_candidate");
        assert_string_equal(rd_attention_name(RD_ATTENTION_NONE), "");
}

static void decisions_exclude_received_and_window_events(void **state)
{
        (void)state;
        assert_false(rd_event_is_decision(RD_EV_RECEIVED));
        assert_false(rd_event_is_decision(RD_EV_WINDOW_AT_RISK));
        assert_false(rd_event_is_decision(RD_EV_WINDOW_MISSED));
        assert_true(rd_event_is_decision(RD_EV_ASSIGNED));
        assert_true(rd_event_is_decision(RD_EV_FORWARDED));
        assert_true(rd_event_is_decision(RD_EV_CONFIG_REJECTED));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(every_type_has_its_wire_name_and_parses_back),
                cmocka_unit_test(assigned_event_json_has_the_protocol_fields),
                cmocka_unit_test(events_have_no_key_for_personal_data),
                cmocka_unit_test(config_events_carry_digest_or_error),
                cmocka_unit_test(json_round_trip_keeps_every_field),
                cmocka_unit_test(reason_code_and_attention_are_fields_when_they_apply),
                cmocka_unit_test(decisions_exclude_received_and_window_events),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
