/* test_timefmt.c: lib/timefmt, RFC 3339 UTC times as int64 milliseconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"

#define T_2026_12_23_10 INT64_C(1798020000000) /* 2026-12-23T10:00:00Z */

static void test_format_epoch(void **state)
{
        char buf[RD_TIME_STR];
        (void)state;
        assert_string_equal(rd_time_format(0, buf), "1970-01-01T00:00:00.000Z");
}

static void test_format_known_instant_with_millis(void **state)
{
        char buf[RD_TIME_STR];
        (void)state;
        assert_string_equal(rd_time_format(T_2026_12_23_10, buf), "2026-12-23T10:00:00.000Z");
        assert_string_equal(rd_time_format(T_2026_12_23_10 + 123, buf), "2026-12-23T10:00:00.123Z");
        assert_string_equal(rd_time_format(951782400000, buf), "2000-02-29T00:00:00.000Z");
}

static void test_format_before_epoch_borrows_a_second(void **state)
{
        char buf[RD_TIME_STR];
        (void)state;
        assert_string_equal(rd_time_format(-1, buf), "1969-12-31T23:59:59.999Z");
        assert_string_equal(rd_time_format(-1000, buf), "1969-12-31T23:59:59.000Z");
}

static void test_format_out_of_range_still_writes_a_time(void **state)
{
        char buf[RD_TIME_STR];
        (void)state;
        memset(buf, 'x', sizeof buf);
        rd_time_format(INT64_MAX, buf);
        assert_non_null(memchr(buf, '\0', sizeof buf));
        assert_int_equal(buf[strlen(buf) - 1], 'Z');
}

/* rd_time_format as it was until issue 16 (gmtime_r and snprintf): the
 * reference the one without snprintf is held to. */
static char *format_with_printf(int64_t ms, char buf[RD_TIME_STR])
{
        time_t secs = (time_t)(ms / 1000);
        int frac = (int)(ms % 1000);
        struct tm tm;

        if (frac < 0) {
                frac += 1000;
                secs -= 1;
        }
        if (!gmtime_r(&secs, &tm)) {
                snprintf(buf, RD_TIME_STR, "%s",
                         ms < 0 ? "0000-01-01T00:00:00.000Z" : "9999-12-31T23:59:59.999Z");
                return buf;
        }
        snprintf(buf, RD_TIME_STR, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
        return buf;
}

static void expect_as_printf(int64_t ms)
{
        char got[RD_TIME_STR], want[RD_TIME_STR];

        rd_time_format(ms, got);
        format_with_printf(ms, want);
        if (strcmp(got, want) != 0)
                fail_msg("%lld: %s, printf wrote %s", (long long)ms, got, want);
}

static void test_format_writes_what_printf_wrote_for_any_time(void **state)
{
        static const int64_t edges[] = {INT64_MIN,
                                        INT64_MIN + 1,
                                        INT64_MAX,
                                        INT64_MAX - 999,
                                        0,
                                        -1,
                                        -999,
                                        -1000,
                                        -1001,
                                        INT64_C(-62167219200000), /* 0000-01-01 */
                                        INT64_C(-62167219200001), /* the year -1 */
                                        INT64_C(-62135596800000), /* 0001-01-01 */
                                        INT64_C(253402300799999), /* 9999-12-31T23:59:59.999 */
                                        INT64_C(253402300800000), /* 10000-01-01 */
                                        INT64_C(951782400000),    /* 2000-02-29 */
                                        INT64_C(4107542400000),   /* 2100-03-01 */
                                        T_2026_12_23_10};
        uint64_t x = 0x9E3779B97F4A7C15u;
        (void)state;

        for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
                expect_as_printf(edges[i]);
        /* every day from 1600 to 2400, at its first and last millisecond */
        for (int64_t day = -135140; day < 157067; day++) {
                expect_as_printf(day * 86400000);
                expect_as_printf(day * 86400000 + 86399999);
        }
        for (int i = 0; i < 200000; i++) { /* any int64, and the years around now */
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                expect_as_printf((int64_t)x);
                expect_as_printf((int64_t)(x % INT64_C(8000000000000)) - INT64_C(2000000000000));
        }
}

struct parse_ok_case {
        const char *text;
        int64_t ms;
};

static const struct parse_ok_case parse_ok[] = {
        {"2026-12-23T10:00:00Z", T_2026_12_23_10},
        {"2026-12-23T10:00:00.000Z", T_2026_12_23_10},
        {"2026-12-23T10:00:00.123Z", T_2026_12_23_10 + 123},
        {"2026-12-23T10:00:00.1Z", T_2026_12_23_10 + 100},
        {"2026-12-23T10:00:00.123999Z", T_2026_12_23_10 + 123}, /* truncated */
        {"2026-12-23T11:00:00+01:00", T_2026_12_23_10},
        {"2026-12-23T04:30:00-05:30", T_2026_12_23_10},
        {"2026-12-23T10:00:00.5+00:00", T_2026_12_23_10 + 500},
        {"2026-12-23T10:00:00-00:00", T_2026_12_23_10},
        {"2026-12-23t10:00:00z", T_2026_12_23_10}, /* RFC 3339 5.6: case-insensitive */
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59.999Z", -1},
        {"2024-02-29T00:00:00Z", INT64_C(1709164800000)}, /* leap year */
        {"2000-02-29T00:00:00Z", INT64_C(951782400000)},  /* 400-year leap */
        {"2016-12-31T23:59:60Z", INT64_C(1483228800000)}, /* leap second folds forward */
        {"2027-01-01T00:59:59+01:00", INT64_C(1798761599000)},
};

static void test_a_time_formatted_again_is_the_same_text_whatever_came_between(void **state)
{
        static const int64_t seq[] = {T_2026_12_23_10,
                                      T_2026_12_23_10,
                                      T_2026_12_23_10 + 1,
                                      T_2026_12_23_10,
                                      INT64_C(253402300800000), /* 10000-01-01 */
                                      INT64_C(253402300800000),
                                      T_2026_12_23_10,
                                      0,
                                      0,
                                      -1};
        (void)state;
        for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++)
                expect_as_printf(seq[i]);
}

static void test_digits_are_what_printf_wrote_with_zeros_in_front(void **state)
{
        uint64_t v[72];
        size_t n = 0;

        (void)state;
        for (uint64_t p = 1; n < 66; p *= 10) {
                v[n++] = p - 1;
                v[n++] = p;
                v[n++] = p + 7;
                if (p > UINT64_MAX / 10)
                        break;
        }
        v[n++] = INT64_MAX;
        v[n++] = (uint64_t)INT64_MAX + 1;
        v[n++] = UINT64_MAX;
        v[n++] = 123456;
        for (size_t i = 0; i < n; i++) {
                for (int width = 1; width <= 20; width++) {
                        char got[32], want[32];

                        *rd_put_digits(got, v[i], width) = '\0';
                        snprintf(want, sizeof want, "%0*llu", width, (unsigned long long)v[i]);
                        if (strcmp(got, want) != 0)
                                fail_msg("%llu width %d: %s, printf wrote %s",
                                         (unsigned long long)v[i], width, got, want);
                }
        }
}

static void test_an_integer_is_what_printf_wrote_with_its_sign(void **state)
{
        const int64_t v[] = {0,
                             1,
                             -1,
                             9,
                             -9,
                             10,
                             -10,
                             99,
                             -100,
                             123456,
                             -123456,
                             INT64_MAX,
                             INT64_MIN,
                             INT64_MIN + 1,
                             -9223372036854775807LL / 10};

        (void)state;
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
                char got[32], want[32];

                *rd_put_int(got, v[i]) = '\0';
                snprintf(want, sizeof want, "%lld", (long long)v[i]);
                assert_string_equal(got, want);
        }
}

static void test_parse_accepts_rfc3339(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof parse_ok / sizeof parse_ok[0]; i++) {
                int64_t ms = 42;
                int rc = rd_time_parse(parse_ok[i].text, &ms);
                if (rc != 0 || ms != parse_ok[i].ms)
                        fail_msg("'%s': rc %d, ms %lld, expected %lld", parse_ok[i].text, rc,
                                 (long long)ms, (long long)parse_ok[i].ms);
        }
}

static const char *const parse_bad[] = {
        "",
        "garbage",
        "2026-12-23T10:00:00",        /* no zone */
        "2026-12-23T10:00:00Zjunk",   /* trailing text */
        "2026-12-23T10:00:00Z ",      /* trailing space */
        "2026-12-23T10:00:00+01:00x", /* trailing after offset */
        "2026-02-30T10:00:00Z",       /* no 30 February */
        "2026-02-29T10:00:00Z",       /* 2026 is no leap year */
        "1900-02-29T10:00:00Z",       /* 1900 neither */
        "2026-04-31T10:00:00Z",       /* April has 30 days */
        "2026-13-01T10:00:00Z",       /* month 13 */
        "2026-00-01T10:00:00Z",       /* month 0 */
        "2026-12-00T10:00:00Z",       /* day 0 */
        "2026-12-23T24:00:00Z",       /* hour 24 */
        "2026-12-23T10:60:00Z",       /* minute 60 */
        "2026-12-23T10:00:61Z",       /* second 61 */
        "2026-12-23 10:00:00Z",       /* space for T */
        "2026-12-23",                 /* date only */
        "2026-12-23T10:00Z",          /* no seconds */
        "2026-12-23T10:00:00.Z",      /* empty fraction */
        "2026-12-23T10:00:00+0100",   /* offset without colon */
        "2026-12-23T10:00:00+1:00",   /* one-digit hour */
        "2026-12-23T10:00:00+24:00",  /* offset hour 24 */
        "2026-12-23T10:00:00+01:60",  /* offset minute 60 */
        "26-12-23T10:00:00Z",         /* two-digit year */
        "+2026-12-23T10:00:00Z",      /* sign before year */
        "2026-1-23T10:00:00Z",        /* one-digit month */
        "2026-12-23T10:00:00.123",    /* fraction, no zone */
};

static void test_parse_rejects_bad_times_and_leaves_out_untouched(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof parse_bad / sizeof parse_bad[0]; i++) {
                int64_t ms = 42;
                int rc = rd_time_parse(parse_bad[i], &ms);
                if (rc != -EINVAL)
                        fail_msg("'%s' was accepted (rc %d, ms %lld)", parse_bad[i], rc,
                                 (long long)ms);
                assert_int_equal(ms, 42);
        }
}

static void test_parse_rejects_null(void **state)
{
        int64_t ms = 42;
        (void)state;
        assert_int_equal(rd_time_parse(NULL, &ms), -EINVAL);
        assert_int_equal(ms, 42);
}

static void test_format_then_parse_round_trips(void **state)
{
        static const int64_t samples[] = {0,
                                          1,
                                          999,
                                          1000,
                                          -1,
                                          T_2026_12_23_10 + 7,
                                          INT64_C(4102444799999),
                                          INT64_C(-86400000)};
        (void)state;
        for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
                char buf[RD_TIME_STR];
                int64_t back = 0;
                rd_time_format(samples[i], buf);
                assert_int_equal(rd_time_parse(buf, &back), 0);
                assert_int_equal(back, samples[i]);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format_epoch),
                cmocka_unit_test(test_format_known_instant_with_millis),
                cmocka_unit_test(test_format_before_epoch_borrows_a_second),
                cmocka_unit_test(test_format_out_of_range_still_writes_a_time),
                cmocka_unit_test(test_format_writes_what_printf_wrote_for_any_time),
                cmocka_unit_test(
                        test_a_time_formatted_again_is_the_same_text_whatever_came_between),
                cmocka_unit_test(test_digits_are_what_printf_wrote_with_zeros_in_front),
                cmocka_unit_test(test_an_integer_is_what_printf_wrote_with_its_sign),
                cmocka_unit_test(test_parse_accepts_rfc3339),
                cmocka_unit_test(test_parse_rejects_bad_times_and_leaves_out_untouched),
                cmocka_unit_test(test_parse_rejects_null),
                cmocka_unit_test(test_format_then_parse_round_trips),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
