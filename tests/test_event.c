/* Unit tests of lib/event: the public record of a change. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"
#include "json_write.h"
#include "timefmt.h"

/* The event's text (rd_event_text), parsed. */
static json_t *parsed(const struct rd_event *ev)
{
        char *text = rd_event_text(ev);
        json_t *o;

        assert_non_null(text);
        o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        free(text);
        assert_non_null(o);
        return o;
}

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
        json_t *o = parsed(&ev);
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
                o = parsed(&ev);
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
        o = parsed(&ev);
        assert_int_equal(json_integer_value(json_object_get(o, "rules")), 4);
        assert_int_equal(strlen(json_string_value(json_object_get(o, "digest"))), 64);
        assert_null(json_object_get(o, "status"));
        json_decref(o);

        memset(&ev, 0, sizeof ev);
        ev.type = RD_EV_CONFIG_REJECTED;
        snprintf(ev.error, sizeof ev.error, "routing.yaml:3:5: unknown key 'tems'");
        ev.errors = 2;
        o = parsed(&ev);
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
        o = parsed(&ev);
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

        o = parsed(&ev);
        assert_null(json_object_get(o, "reason_code"));
        assert_null(json_object_get(o, "attention"));
        json_decref(o);

        ev.type = RD_EV_DECLINED;
        snprintf(ev.reason_code, sizeof ev.reason_code, "no_capacity");
        o = parsed(&ev);
        assert_string_equal(json_string_value(json_object_get(o, "reason_code")), "no_capacity");
        assert_int_equal(rd_event_from_json(o, &back), 0);
        assert_string_equal(back.reason_code, "no_capacity");
        json_decref(o);

        ev = assigned();
        ev.type = RD_EV_NEEDS_ATTENTION;
        ev.status = RD_STATUS_WAITLISTED;
        ev.attention = RD_ATTENTION_ALL_DECLINED;
        o = parsed(&ev);
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

/* ---- the text, as jansson's tree made it ---------------------------------- */

static int old_set_str(json_t *o, const char *key, const char *v)
{
        if (!v[0])
                return 0;
        return json_object_set_new(o, key, json_string(v));
}

static int old_set_time(json_t *o, const char *key, int64_t ms)
{
        char buf[RD_TIME_STR];
        if (!ms)
                return 0;
        return json_object_set_new(o, key, json_string(rd_time_format(ms, buf)));
}

/* rd_event_to_json as it was until issue 16: the reference of the twin
 * test. */
static json_t *old_event_to_json(const struct rd_event *ev)
{
        char at[RD_TIME_STR];
        json_t *o = json_object();
        int r = 0;

        assert_non_null(o);
        r |= json_object_set_new(o, "seq", json_integer(ev->seq));
        r |= json_object_set_new(o, "at", json_string(rd_time_format(ev->at_ms, at)));
        r |= json_object_set_new(o, "type", json_string(rd_event_type_name(ev->type)));
        if (ev->type == RD_EV_CONFIG_RELOADED || ev->type == RD_EV_CONFIG_REJECTED) {
                if (ev->type == RD_EV_CONFIG_RELOADED) {
                        r |= old_set_str(o, "digest", ev->digest);
                        r |= json_object_set_new(o, "rules", json_integer(ev->rules));
                } else {
                        r |= old_set_str(o, "error", ev->error);
                        r |= json_object_set_new(o, "errors", json_integer(ev->errors));
                }
        } else {
                r |= old_set_str(o, "id", ev->id);
                r |= old_set_str(o, "partner", ev->partner);
                r |= old_set_str(o, "ref", ev->ref);
                r |= json_object_set_new(o, "status", json_string(rd_status_name(ev->status)));
                r |= old_set_str(o, "rule", ev->rule);
                r |= old_set_str(o, "team", ev->team);
                r |= old_set_str(o, "connector", ev->connector);
                r |= old_set_time(o, "start_by", ev->start_by_ms);
                r |= old_set_time(o, "expected_start", ev->expected_start_ms);
                r |= old_set_str(o, "forward_to", ev->forward_to);
                r |= old_set_str(o, "reason", ev->reason);
                r |= old_set_str(o, "reason_code", ev->reason_code);
                r |= old_set_str(o, "attention", rd_attention_name(ev->attention));
        }
        assert_int_equal(r, 0);
        return o;
}

static uint64_t rnd(uint64_t *x)
{
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        return *x;
}

/* A random string of at most SIZE - 1 bytes into DST: "" a third of the
 * time, else ASCII with what JSON escapes ('"', '\\', control characters),
 * '/', and multibyte characters (U+00E9, U+2028, an emoji). */
static void random_str(uint64_t *x, char *dst, size_t size)
{
        static const char *const units[] = {"a",
                                            "Z",
                                            "-",
                                            "_",
                                            "0",
                                            " ",
                                            "\"",
                                            "\\",
                                            "/",
                                            "\x01",
                                            "\n",
                                            "\t",
                                            "\x1f",
                                            "\x7f",
                                            "\xc3\xa9",
                                            "\xe2\x80\xa8",
                                            "\xf0\x9f\x98\x80"};
        size_t n = rnd(x) % 3 == 0 ? 0 : rnd(x) % size, len = 0;

        for (size_t i = 0; i < n; i++) {
                const char *u = units[rnd(x) % (sizeof units / sizeof units[0])];
                size_t k = strlen(u);
                if (len + k >= size)
                        break;
                memcpy(dst + len, u, k);
                len += k;
        }
        dst[len] = '\0';
}

/* A time: 0 (not set) a third of the time, else any. */
static int64_t random_time(uint64_t *x)
{
        uint64_t k = rnd(x) % 3;
        return k == 0 ? 0 : k == 1 ? (int64_t)rnd(x) : (int64_t)(rnd(x) % INT64_C(4102444800000));
}

static void the_text_is_what_jansson_s_tree_made_for_every_type_and_field(void **state)
{
        uint64_t x = 0x853C49E6748FEA9Bu;
        (void)state;
        for (int i = 0; i < 20000; i++) {
                struct rd_event ev;
                json_t *o;
                char *want, *got;

                memset(&ev, 0, sizeof ev);
                ev.seq = rnd(&x) % 2 ? (int64_t)(rnd(&x) % 1000000) : (int64_t)rnd(&x);
                ev.at_ms = random_time(&x);
                ev.type = (enum rd_event_type)(i % RD_EV__MAX);
                random_str(&x, ev.id, sizeof ev.id);
                random_str(&x, ev.partner, sizeof ev.partner);
                random_str(&x, ev.ref, sizeof ev.ref);
                ev.status = (enum rd_status)(rnd(&x) % RD_STATUS__MAX);
                random_str(&x, ev.rule, sizeof ev.rule);
                random_str(&x, ev.team, sizeof ev.team);
                random_str(&x, ev.connector, sizeof ev.connector);
                ev.start_by_ms = random_time(&x);
                ev.expected_start_ms = random_time(&x);
                random_str(&x, ev.forward_to, sizeof ev.forward_to);
                random_str(&x, ev.reason, sizeof ev.reason);
                random_str(&x, ev.reason_code, sizeof ev.reason_code);
                ev.attention = (enum rd_attention)(rnd(&x) % RD_ATTENTION__MAX);
                random_str(&x, ev.digest, sizeof ev.digest);
                ev.rules = (int64_t)rnd(&x);
                random_str(&x, ev.error, sizeof ev.error);
                ev.errors = (int64_t)(rnd(&x) % 100);

                o = old_event_to_json(&ev);
                want = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
                got = rd_event_text(&ev);
                assert_non_null(want);
                assert_non_null(got);
                if (strcmp(got, want) != 0)
                        fail_msg("event %d (%s):\n  %s\n  %s", i, rd_event_type_name(ev.type), got,
                                 want);
                free(got);
                free(want);
                json_decref(o);
        }
}

static void the_text_is_written_into_a_reused_writer(void **state)
{
        struct rd_event ev = assigned();
        struct rd_jw w;
        char *text = rd_event_text(&ev);
        (void)state;

        assert_int_equal(rd_jw_init(&w), 0);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(rd_event_write(&ev, &w), 0);
                assert_string_equal(rd_jw_text(&w, NULL), text);
        }
        rd_jw_free(&w);
        free(text);
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
                cmocka_unit_test(the_text_is_what_jansson_s_tree_made_for_every_type_and_field),
                cmocka_unit_test(the_text_is_written_into_a_reused_writer),
                cmocka_unit_test(decisions_exclude_received_and_window_events),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
