/* Unit tests of lib/hub: the decision trace as the store keeps it and as
 * `get` and `referralctl explain` show it (protocol.md, "The decision
 * trace"; lib/trace_store). A trace is kept compact, refers to the routing
 * file that made it, and is shown as that decision built it, whatever file
 * is in force since; a trace kept as JSON before is shown as it was; erase
 * keeps of either only what is not derived from the family's data. */
#include "hub_fixture.h"

#include "trace_store.h"

/* The trace of referral ID as it is stored (malloc'ed) and its routing
 * file's digest. */
static char *stored_trace(struct fx *f, const char *id, char digest[65])
{
        struct rd_stored st = get(f, id);
        char *text = NULL;

        assert_int_equal(rd_store_content(f->store, st.rowid, NULL, &text, digest), 0);
        assert_non_null(text);
        return text;
}

/* The trace of referral ID as `get` shows it, as compact JSON text
 * (malloc'ed). */
static char *shown_trace(struct fx *f, const char *id)
{
        char digest[65], *text = stored_trace(f, id, digest), *shown;
        json_t *t = NULL;

        assert_int_equal(rd_hub_trace_json(f->hub, text, digest, &t), 0);
        shown = json_dumps(t, JSON_COMPACT);
        assert_non_null(shown);
        json_decref(t);
        free(text);
        return shown;
}

/* Keep TEXT as the trace of referral ID, as a daemon before the compact
 * form did. */
static void keep_trace(struct fx *f, const char *id, const char *text)
{
        struct rd_stored st = get(f, id);
        char digest[65], *old = stored_trace(f, id, digest);
        struct rd_store_change ch = {
                .st = &st, .trace_set = true, .trace = text, .rules_digest = digest};

        begin(f);
        assert_int_equal(rd_store_change(f->store, &ch), 0);
        end(f, 0);
        free(old);
}

static void erase_now(struct fx *f, const char *id, int64_t now)
{
        struct rd_stored st;
        struct rd_error err;
        bool changed = false;
        int r;

        request_begin(f);
        r = rd_hub_erase(f->hub, id, now, &st, &changed, &err);
        request_end(f, r);
        assert_int_equal(r, 0);
        assert_true(changed);
}

#define TRIED_FAMILY                                                                               \
        "\"rules_tried\":[{\"rule\":\"crisis\",\"failed\":\"urgency\"},"                           \
        "{\"rule\":\"psychology\",\"failed\":\"kind\"},"                                           \
        "{\"rule\":\"family-safety\",\"failed\":\"concerns\"}]"

static void a_submit_keeps_its_trace_compact_and_shows_it_as_the_decision_built_it(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, FAMILY("A"), T0);
        char digest[65], *text = stored_trace(f, a.id, digest), *shown = shown_trace(f, a.id);

        assert_true(rd_trace_is_compact(text));
        assert_true(strlen(text) < 40); /* the JSON below is 422 bytes */
        assert_string_equal(digest, rd_hub_rules(f->hub)->digest);
        assert_string_equal(shown,
                            "{" TRIED_FAMILY ",\"rule\":\"family\",\"action\":\"assign\","
                            "\"pick\":\"least_loaded\",\"candidates\":["
                            "{\"connector\":\"kelly\",\"team\":\"genk\",\"chosen\":true,"
                            "\"load\":0,\"capacity\":2},"
                            "{\"connector\":\"sophie\",\"team\":\"genk\","
                            "\"passed_over\":\"not_picked\",\"load\":0,\"capacity\":2}],"
                            "\"connector\":\"kelly\",\"team\":\"genk\",\"decision\":\"assigned\"}");
        free(text);
        free(shown);
}

static void a_trace_is_shown_under_the_routing_file_that_made_it(void **state)
{
        struct fx *f = *state;
        struct rd_stored p;
        char digest[65], *text, *before, *after;
        json_t *t = NULL;

        record_rules(f, NULL, false, T0); /* the daemon records each file it puts in force */
        p = sub(f, PSY("P"), T0 + 1);
        before = shown_trace(f, p.id);
        /* hasselt's lien comes before psy-1 in the next file: indexes move */
        reload(f, rules_with(GENK_POSTCODES, NULL, true), T0 + 2);
        record_rules(f, NULL, true, T0 + 2);
        text = stored_trace(f, p.id, digest);
        assert_string_not_equal(digest, rd_hub_rules(f->hub)->digest);
        after = shown_trace(f, p.id);
        assert_string_equal(after, before);
        assert_non_null(strstr(after, "\"connector\":\"psy-1\",\"team\":\"psy-oost\""));
        assert_null(strstr(after, "lien"));
        /* a file the store does not keep cannot show it */
        assert_int_equal(rd_hub_trace_json(f->hub, text,
                                           "0000000000000000000000000000000000000000000000000000"
                                           "000000000000",
                                           &t),
                         -ENOENT);
        assert_null(t);
        free(text);
        free(before);
        free(after);
}

static void a_trace_kept_as_json_before_is_shown_as_it_was(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, FAMILY("A"), T0);
        /* as kept before: jansson's compact text (here with a key order the
         * renderer would not make, to tell them apart) */
        const char *old = "{\"rule\":\"family\",\"action\":\"assign\",\"rules_tried\":[],"
                          "\"connector\":\"kelly\",\"team\":\"genk\",\"decision\":\"assigned\"}";
        char *shown;

        keep_trace(f, a.id, old);
        shown = shown_trace(f, a.id);
        assert_string_equal(shown, old);
        free(shown);
}

static void erase_keeps_of_a_compact_trace_what_it_keeps_of_a_json_one(void **state)
{
        struct fx *f = *state;
        struct rd_stored a = sub(f, FAMILY("A"), T0), b = sub(f, FAMILY("B"), T0 + 1);
        struct rd_stored e = sub(f, ELSEWHERE("E"), T0 + 2);
        char digest[65], *json_b = shown_trace(f, b.id), *text, *shown;

        keep_trace(f, b.id, json_b); /* B's trace as a daemon before kept it */
        erase_now(f, a.id, T0 + DAY);
        erase_now(f, b.id, T0 + DAY);
        erase_now(f, e.id, T0 + DAY);

        text = stored_trace(f, a.id, digest);
        assert_true(rd_trace_is_compact(text));
        free(text);
        shown = shown_trace(f, a.id);
        assert_string_equal(shown, "{\"rule\":\"family\",\"action\":\"assign\","
                                   "\"decision\":\"assigned\",\"connector\":\"kelly\","
                                   "\"team\":\"genk\",\"erased\":true}");
        free(shown);
        text = stored_trace(f, b.id, digest);
        assert_false(rd_trace_is_compact(text)); /* JSON stays JSON */
        assert_string_equal(text, "{\"rule\":\"family\",\"action\":\"assign\","
                                  "\"decision\":\"assigned\",\"connector\":\"sophie\","
                                  "\"team\":\"genk\",\"erased\":true}");
        free(text);
        shown = shown_trace(f, e.id);
        assert_string_equal(shown, "{\"rule\":\"everything-else\",\"action\":\"forward\","
                                   "\"decision\":\"forwarded\",\"forward_to\":\"caw-limburg\","
                                   "\"erased\":true}");
        free(shown);
        free(json_b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(a_submit_keeps_its_trace_compact_and_shows_it_as_the_decision_built_it),
                T(a_trace_is_shown_under_the_routing_file_that_made_it),
                T(a_trace_kept_as_json_before_is_shown_as_it_was),
                T(erase_keeps_of_a_compact_trace_what_it_keeps_of_a_json_one),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
