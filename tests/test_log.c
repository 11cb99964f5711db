/* test_log: daemon/log's event lines on standard error, as people and
 * their scripts read them (test_log_target.py reads them from the daemon). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "timefmt.h"

/* The line as printf wrote it until issue 16 (docs/performance.md). */
static void line_by_printf(const struct rd_event *ev, char *out, size_t size)
{
        char buf[768], t[RD_TIME_STR];
        size_t n = sizeof buf;

        switch (ev->type) {
        case RD_EV_RECEIVED:
                snprintf(buf, n, "Referral %s received from %s.", ev->id, ev->partner);
                break;
        case RD_EV_ASSIGNED:
                snprintf(buf, n, "Referral %s offered to %s of team %s by rule %s; start by %s.",
                         ev->id, ev->connector, ev->team, ev->rule,
                         rd_time_format(ev->start_by_ms, t));
                break;
        case RD_EV_WAITLISTED:
                snprintf(buf, n, "Referral %s waitlisted by rule %s; start by %s.", ev->id,
                         ev->rule, rd_time_format(ev->start_by_ms, t));
                break;
        case RD_EV_FORWARDED:
                snprintf(buf, n, "Referral %s forwarded to %s by rule %s.", ev->id, ev->forward_to,
                         ev->rule[0] ? ev->rule : "(manual)");
                break;
        case RD_EV_CONFIG_RELOADED:
                snprintf(buf, n, "Routing rules reloaded: %lld rules, digest %s.",
                         (long long)ev->rules, ev->digest);
                break;
        case RD_EV_CONFIG_REJECTED:
                snprintf(buf, n, "Routing rules refused (%lld errors), the old rules stay: %s",
                         (long long)ev->errors, ev->error);
                break;
        case RD_EV_NEEDS_ATTENTION:
                snprintf(buf, n,
                         "Referral %s waits by rule %s but no connector can take it (%s): a "
                         "coordinator must act before %s.",
                         ev->id, ev->rule, rd_attention_name(ev->attention),
                         rd_time_format(ev->start_by_ms, t));
                break;
        default:
                snprintf(buf, n, "Referral %s: %s, now %s%s%s%s.", ev->id,
                         rd_event_type_name(ev->type), rd_status_name(ev->status),
                         ev->reason_code[0] ? " (reason code " : "", ev->reason_code,
                         ev->reason_code[0] ? ")" : "");
                break;
        }
        snprintf(out, size, "referrald: event %lld %s: %s\n", (long long)ev->seq,
                 rd_event_type_name(ev->type), buf);
}

/* The line rd_log_event writes for EV, read back from standard error. */
static void line_logged(const struct rd_event *ev, char *out, size_t size)
{
        FILE *f = tmpfile();
        int saved = dup(STDERR_FILENO);
        size_t n;

        assert_non_null(f);
        assert_true(saved >= 0);
        fflush(stderr);
        assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
        rd_log_event(ev);
        rd_log_flush();
        assert_true(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        rewind(f);
        n = fread(out, 1, size - 1, f);
        out[n] = '\0';
        fclose(f);
}

static void event_of(enum rd_event_type type, int variant, struct rd_event *ev)
{
        memset(ev, 0, sizeof *ev);
        ev->type = type;
        ev->seq = variant ? INT64_MAX : 42;
        ev->at_ms = 1796000000000;
        snprintf(ev->id, sizeof ev->id, "R000042");
        snprintf(ev->partner, sizeof ev->partner, "ocmw-genk");
        snprintf(ev->ref, sizeof ev->ref, "ref-1");
        ev->status = RD_STATUS_ASSIGNED;
        if (!variant) {
                snprintf(ev->rule, sizeof ev->rule, "crisis");
                snprintf(ev->reason_code, sizeof ev->reason_code, "no_capacity");
        }
        snprintf(ev->team, sizeof ev->team, "team-genk");
        snprintf(ev->connector, sizeof ev->connector, "an");
        snprintf(ev->forward_to, sizeof ev->forward_to, "cawl");
        ev->start_by_ms = variant ? -62198755200000 : 1796600000000;
        ev->attention = RD_ATTENTION_NO_CANDIDATE;
        snprintf(ev->digest, sizeof ev->digest, "%064d", 7);
        ev->rules = variant ? 0 : 12;
        ev->errors = variant ? 1 : 3;
        /* the longest error: the sentence is cut where printf cut it */
        memset(ev->error, variant ? 'e' : 'x', variant ? sizeof ev->error - 1 : 20);
}

static void every_event_line_is_the_one_printf_wrote(void **state)
{
        (void)state;
        rd_log_init(RD_LOG_CONSOLE);
        for (int type = 0; type < RD_EV__MAX; type++)
                for (int variant = 0; variant < 2; variant++) {
                        struct rd_event ev;
                        char want[2048], got[2048];

                        event_of((enum rd_event_type)type, variant, &ev);
                        line_by_printf(&ev, want, sizeof want);
                        line_logged(&ev, got, sizeof got);
                        assert_string_equal(got, want);
                }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(every_event_line_is_the_one_printf_wrote),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
