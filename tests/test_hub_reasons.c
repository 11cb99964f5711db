/* Unit tests of lib/hub: why connectors decline, why families withdraw and
 * how trajectories end (protocol.md rev 2, "update"). The code is checked
 * against its status's list and goes into the event and the figures; the
 * free text is personal data: kept with the referral, listed for `get`,
 * erased with the rest, and never in an event. */
#include "hub_fixture.h"

#include "macro.h"

#define MARKER "MARKER-7f3a family told us about the divorce"

/* Update ID to STATUS as CONNECTOR with CODE and TEXT (either may be NULL). */
static int upd_why(struct fx *f, const char *id, const char *status, const char *connector,
                   const char *code, const char *text, int64_t now, struct rd_error *err)
{
        struct rd_update u = {
                .id = id, .connector = connector, .reason_code = code, .reason = text};
        struct rd_stored st;
        bool changed;

        if (!strcmp(status, "declined"))
                u.declined = true;
        else
                assert_int_equal(rd_status_parse(status, &u.status), 0);
        return update(f, &u, now, &st, &changed, err);
}

static void ok_why(struct fx *f, const char *id, const char *status, const char *connector,
                   const char *code, const char *text, int64_t now)
{
        struct rd_error err;

        if (upd_why(f, id, status, connector, code, text, now, &err) < 0)
                fail_msg("update %s to %s with %s failed: %s (%s)", id, status, code ? code : "-",
                         err.message, err.field);
}

/* The `reasons` of referral ID as get gives them. */
static json_t *reasons(struct fx *f, const char *id)
{
        json_t *arr = json_array();

        assert_int_equal(rd_store_reasons(f->store, get(f, id).rowid, arr), 0);
        return arr;
}

static const char *field(const json_t *arr, size_t i, const char *key)
{
        return json_string_value(json_object_get(json_array_get(arr, i), key));
}

/* Every event the store holds, as JSON text. */
static char *all_events(struct fx *f)
{
        json_t *arr = json_array();
        char *text;

        assert_int_equal(rd_store_events(f->store, 0, 10000, NULL, arr), 0);
        text = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        assert_non_null(text);
        return text;
}

/* ---- the codes ------------------------------------------------------------------------- */

static void a_decline_keeps_its_code_and_text_and_its_event_only_the_code(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, FAMILY("A"), T0);
        json_t *why;
        char *events;

        ok_why(f, a.id, "declined", "kelly", "language", MARKER, T0 + HOUR);
        EXPECT(f, DECLINED(a.id, "kelly"), ASSIGNED(a.id, "sophie"));
        assert_string_equal(f->ev[0].reason_code, "language");
        for (size_t i = 0; i < f->n_ev; i++)
                assert_string_equal(f->ev[i].reason, "");
        assert_string_equal(f->ev[1].reason_code, "");

        why = reasons(f, a.id);
        assert_int_equal(json_array_size(why), 1);
        assert_string_equal(field(why, 0, "status"), "declined");
        assert_string_equal(field(why, 0, "connector"), "kelly");
        assert_string_equal(field(why, 0, "reason_code"), "language");
        assert_string_equal(field(why, 0, "reason"), MARKER);
        assert_non_null(field(why, 0, "at"));
        json_decref(why);
        events = all_events(f);
        assert_null(strstr(events, "MARKER"));
        assert_non_null(strstr(events, "\"reason_code\":\"language\""));
        free(events);
}

static void withdrawals_and_closes_keep_theirs_oldest_first(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, FAMILY("A"), T0), b = sub(f, FAMILY("B"), T0 + 1);
        json_t *why;

        ok_why(f, a.id, "declined", "kelly", "no_capacity", NULL, T0 + 2);
        ok(f, a.id, "started", "sophie", T0 + 3);
        ok_why(f, a.id, "closed", "sophie", "goals_reached", "they are doing well", T0 + 4);
        EXPECT(f, {RD_EV_CLOSED, a.id, RD_STATUS_CLOSED, "sophie"});
        assert_string_equal(f->ev[0].reason_code, "goals_reached");
        ok_why(f, b.id, "withdrawn", NULL, "moved", NULL, T0 + 5);
        assert_string_equal(f->ev[0].reason_code, "moved");

        why = reasons(f, a.id);
        assert_int_equal(json_array_size(why), 2);
        assert_string_equal(field(why, 0, "reason_code"), "no_capacity");
        assert_null(field(why, 0, "reason"));
        assert_string_equal(field(why, 1, "status"), "closed");
        assert_string_equal(field(why, 1, "reason"), "they are doing well");
        json_decref(why);
        why = reasons(f, b.id);
        assert_int_equal(json_array_size(why), 1);
        assert_string_equal(field(why, 0, "status"), "withdrawn");
        json_decref(why);
}

/* Every status with a code list, and each code of the others. */
static const struct {
        const char *status;
        const char *codes[7];
} lists[] = {
        {"declined",
         {"no_capacity", "language", "distance", "conflict_of_interest", "not_suitable", "other"}},
        {"withdrawn", {"family_declined", "family_unreachable", "need_resolved", "moved", "other"}},
        {"closed", {"goals_reached", "partly_reached", "family_stopped", "referred_on", "other"}},
};

static bool in_list(size_t k, const char *code)
{
        for (size_t i = 0; lists[k].codes[i]; i++)
                if (!strcmp(lists[k].codes[i], code))
                        return true;
        return false;
}

/* A started referral for CLOSED, an assigned one for the others. */
static struct rd_stored ready_for(struct fx *f, const char *status, const char *ref, int64_t now)
{
        char json[1024];
        struct rd_stored st;

        snprintf(json, sizeof json, FAMILY("%s"), ref);
        st = sub(f, json, now);
        if (!strcmp(status, "closed"))
                st = ok(f, st.id, "started", st.connector, now);
        return st;
}

static void each_status_takes_its_own_codes_and_no_other(void **state)
{
        struct fx *f = *state;
        int64_t now = T0;
        int n = 0;

        for (size_t k = 0; k < RD_ELEMENTSOF(lists); k++) {
                for (size_t j = 0; j < RD_ELEMENTSOF(lists); j++) {
                        for (size_t i = 0; lists[j].codes[i]; i++) {
                                const char *code = lists[j].codes[i];
                                struct rd_stored st;
                                struct rd_update u;
                                char ref[32];

                                snprintf(ref, sizeof ref, "C-%d", n++);
                                st = ready_for(f, lists[k].status, ref, now++);
                                if (in_list(k, code)) {
                                        ok_why(f, st.id, lists[k].status, st.connector, code, NULL,
                                               now++);
                                        assert_string_equal(f->ev[0].reason_code, code);
                                        continue;
                                }
                                u = (struct rd_update){
                                        .id = st.id,
                                        .connector = st.connector,
                                        .reason_code = code,
                                        .declined = !strcmp(lists[k].status, "declined")};
                                rd_status_parse(lists[k].status, &u.status);
                                refused(f, &u, now++, RD_INVALID, "reason_code");
                                /* whatever is wrong ends it: a later change goes on */
                                ok(f, st.id, "withdrawn", NULL, now++);
                        }
                }
        }
}

static void a_code_on_another_change_is_invalid(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, FAMILY("A"), T0);
        struct rd_update u = {.id = a.id, .connector = "kelly", .reason_code = "other"};
        const char *msg;

        u.status = RD_STATUS_ACCEPTED;
        msg = refused(f, &u, T0 + 1, RD_INVALID, "reason_code");
        assert_non_null(strstr(msg, "declined, withdrawn and closed"));
        u.status = RD_STATUS_STARTED;
        refused(f, &u, T0 + 1, RD_INVALID, "reason_code");
        u = (struct rd_update){.id = a.id,
                               .status = RD_STATUS_FORWARDED,
                               .forward_to = "cgg-limburg",
                               .reason = "no place in time",
                               .reason_code = "other"};
        refused(f, &u, T0 + 1, RD_INVALID, "reason_code");
        u = (struct rd_update){.id = a.id,
                               .status = RD_STATUS_ASSIGNED,
                               .connector = "sophie",
                               .reason_code = "other"};
        refused(f, &u, T0 + 1, RD_INVALID, "reason_code");
        /* an unknown code names the list */
        u = (struct rd_update){
                .id = a.id, .declined = true, .connector = "kelly", .reason_code = "x"};
        msg = refused(f, &u, T0 + 1, RD_INVALID, "reason_code");
        assert_non_null(strstr(msg, "no_capacity, language, distance"));
}

/* forward_to and expected_end belong to one change each: on another they
 * are invalid and change nothing, as a reason_code is. */
static void a_forward_target_or_an_expected_end_on_another_change_is_invalid(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, FAMILY("A"), T0);
        struct rd_update u = {
                .id = a.id, .status = RD_STATUS_WITHDRAWN, .forward_to = "cgg-limburg"};
        struct rd_stored st;
        struct rd_error err;
        bool changed;
        const char *msg;

        msg = refused(f, &u, T0 + 1, RD_INVALID, "forward_to");
        assert_non_null(strstr(msg, "forwarded"));
        u = (struct rd_update){.id = a.id,
                               .status = RD_STATUS_ACCEPTED,
                               .connector = "kelly",
                               .forward_to = "cgg-limburg"};
        refused(f, &u, T0 + 1, RD_INVALID, "forward_to");
        u = (struct rd_update){.id = a.id,
                               .status = RD_STATUS_ACCEPTED,
                               .connector = "kelly",
                               .expected_end_ms = T0 + 90 * DAY};
        msg = refused(f, &u, T0 + 1, RD_INVALID, "expected_end");
        assert_non_null(strstr(msg, "started"));
        u = (struct rd_update){.id = a.id,
                               .status = RD_STATUS_FORWARDED,
                               .forward_to = "cgg-limburg",
                               .reason = "no place in time",
                               .expected_end_ms = T0 + 90 * DAY};
        refused(f, &u, T0 + 1, RD_INVALID, "expected_end");
        assert_int_equal(get(f, a.id).status, RD_STATUS_ASSIGNED);
        /* each on its own change is taken */
        u = (struct rd_update){.id = a.id,
                               .status = RD_STATUS_STARTED,
                               .connector = "kelly",
                               .expected_end_ms = T0 + 90 * DAY};
        assert_int_equal(update(f, &u, T0 + 2, &st, &changed, &err), 0);
        assert_true(changed);
        assert_int_equal(get(f, a.id).expected_end_ms, T0 + 90 * DAY);
}

static void the_state_machine_is_checked_before_the_code(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];
        struct rd_update u;

        one_waiting(f, r, w);
        u = (struct rd_update){
                .id = w, .status = RD_STATUS_CLOSED, .connector = "kelly", .reason_code = "banana"};
        refused(f, &u, T0 + 2 * HOUR, RD_CONFLICT, "status");
}

static void a_repeat_with_another_code_or_text_changes_nothing(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, FAMILY("A"), T0), before;
        struct rd_error err;
        json_t *why;

        ok_why(f, a.id, "withdrawn", NULL, "moved", "to Antwerp", T0 + 1);
        before = get(f, a.id);
        assert_int_equal(upd_why(f, a.id, "withdrawn", NULL, "family_declined", "changed mind",
                                 T0 + 2, &err),
                         0);
        EXPECT_NONE(f);
        {
                struct rd_stored after = get(f, a.id);
                assert_same_state(&before, &after);
        }
        why = reasons(f, a.id);
        assert_int_equal(json_array_size(why), 1);
        assert_string_equal(field(why, 0, "reason_code"), "moved");
        assert_string_equal(field(why, 0, "reason"), "to Antwerp");
        json_decref(why);
        /* a repeated decline too */
        a = sub(f, FAMILY("B"), T0 + 3);
        ok_why(f, a.id, "declined", a.connector, "distance", NULL, T0 + 4);
        assert_int_equal(upd_why(f, a.id, "declined", a.connector, "other", MARKER, T0 + 5, &err),
                         0);
        EXPECT_NONE(f);
        why = reasons(f, a.id);
        assert_int_equal(json_array_size(why), 1);
        json_decref(why);
}

/* ---- the free text ------------------------------------------------------------------------ */

/* true when the bytes of FILE hold NEEDLE. */
static bool file_holds(const char *path, const char *needle)
{
        FILE *fp = fopen(path, "rb");
        size_t n = strlen(needle), have = 0;
        char buf[65536 + 256];
        bool found = false;

        if (!fp)
                return false;
        while (!found) {
                size_t got = fread(buf + have, 1, sizeof buf - have - 1, fp);
                if (!got)
                        break;
                have += got;
                buf[have] = '\0';
                found = memmem(buf, have, needle, n) != NULL;
                if (have > n) { /* keep the tail: a match across two reads */
                        memmove(buf, buf + have - n, n);
                        have = n;
                }
        }
        fclose(fp);
        return found;
}

static void erasing_takes_the_text_and_keeps_the_code(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, FAMILY("A"), T0);
        struct rd_stored st;
        struct rd_error err;
        char wal[400];
        bool changed;
        json_t *why;
        int r;

        SQLITE_ONLY();

        ok_why(f, a.id, "declined", "kelly", "not_suitable", MARKER, T0 + 1);
        assert_int_equal(rd_store_checkpoint(f->store), 0);
        assert_true(file_holds(f->path, "MARKER-7f3a"));

        request_begin(f);
        r = rd_hub_erase(f->hub, a.id, T0 + 2, &st, &changed, &err);
        request_end(f, r);
        assert_int_equal(r, 0);
        assert_int_equal(rd_store_checkpoint(f->store), 0);
        why = reasons(f, a.id);
        /* the decline, its code kept (the withdrawal that erase made has
         * neither code nor text: `reasons` leaves it out) */
        assert_int_equal(json_array_size(why), 1);
        assert_string_equal(field(why, 0, "reason_code"), "not_suitable");
        assert_null(field(why, 0, "reason"));
        json_decref(why);
        snprintf(wal, sizeof wal, "%s-wal", f->path);
        assert_false(file_holds(f->path, "MARKER-7f3a"));
        assert_false(file_holds(wal, "MARKER-7f3a"));
}

static void only_a_forward_carries_a_reason_in_its_event(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, FAMILY("A"), T0), b = sub(f, FAMILY("B"), T0 + 1);
        struct rd_stored st;
        struct rd_error err;
        bool changed;
        int r;

        forward(f, a.id, "cgg-limburg", T0 + 2);
        EXPECT(f, FORWARDED(a.id));
        assert_string_equal(f->ev[0].reason, "family moved to Hasselt");
        /* the referral keeps it, and a later event about it does not copy it */
        request_begin(f);
        r = rd_hub_erase(f->hub, a.id, T0 + 3, &st, &changed, &err);
        request_end(f, r);
        EXPECT(f, {RD_EV_ERASED, a.id, RD_STATUS_FORWARDED, NULL});
        assert_string_equal(f->ev[0].reason, "");
        /* a reason on a change that keeps none is ignored, as in version 1 */
        ok_why(f, b.id, "accepted", b.connector, NULL, MARKER, T0 + 4);
        assert_string_equal(f->ev[0].reason, "");
        st = get(f, b.id);
        assert_null(strstr(st.reason, "MARKER"));
        {
                json_t *why = reasons(f, b.id);
                assert_int_equal(json_array_size(why), 0);
                json_decref(why);
        }
}

static void the_figures_count_the_codes_and_the_changes_without_one(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, FAMILY("A"), T0), b = sub(f, FAMILY("B"), T0 + 1);
        struct rd_figures fig;
        int found = 0;

        ok_why(f, a.id, "declined", "kelly", "no_capacity", NULL, T0 + 2);
        ok_why(f, b.id, "declined", "sophie", NULL, NULL, T0 + 3);
        ok_why(f, a.id, "withdrawn", NULL, "moved", NULL, T0 + 4);
        assert_int_equal(rd_store_figures(f->store, &fig), 0);
        for (size_t i = 0; i < fig.n_reasons; i++) {
                const char *c = fig.reasons[i].change, *code = fig.reasons[i].code;
                if (!strcmp(c, "declined") && !strcmp(code, "no_capacity"))
                        found += fig.reasons[i].count == 1;
                else if (!strcmp(c, "declined") && !strcmp(code, ""))
                        found += fig.reasons[i].count == 1;
                else if (!strcmp(c, "withdrawn") && !strcmp(code, "moved"))
                        found += fig.reasons[i].count == 1;
                else
                        fail_msg("unexpected figure %s/%s", c, code);
        }
        assert_int_equal(found, 3);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(a_decline_keeps_its_code_and_text_and_its_event_only_the_code),
                T(withdrawals_and_closes_keep_theirs_oldest_first),
                T(each_status_takes_its_own_codes_and_no_other),
                T(a_code_on_another_change_is_invalid),
                T(a_forward_target_or_an_expected_end_on_another_change_is_invalid),
                T(the_state_machine_is_checked_before_the_code),
                T(a_repeat_with_another_code_or_text_changes_nothing),
                T(erasing_takes_the_text_and_keeps_the_code),
                T(only_a_forward_carries_a_reason_in_its_event),
                T(the_figures_count_the_codes_and_the_changes_without_one),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
