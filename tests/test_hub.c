/* test_hub.c: lib/hub against protocol.md ("submit", "update", "erase",
 * "Events") and routing.md (capacity, forecast, reload).
 *
 * Each test opens a store in a temporary folder, loads a small routing
 * file and makes a hub over them. Every call is wrapped the way the daemon
 * wraps it (rd_store_begin, a request savepoint for client requests,
 * rd_store_commit), and the events it emitted are read back from the
 * hub's outbox after the commit. Time is a parameter: nothing waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub.h"

#define T0 1800000000000LL /* ms, 2027-01-15 */
#define HOUR 3600000LL
#define DAY 86400000LL

/* Two family connectors (capacity 2) in genk, one psychologist (capacity
 * 1); a shorter window for safety concerns so that start_by and arrival
 * order differ; crisis and what no rule assigns are forwarded. */
static const char routing[] =
        "version: 1\n"
        "defaults: {window: 30d, accept_within: 2d, at_risk: 7d, trajectory: 120d}\n"
        "teams:\n"
        "  - id: genk\n"
        "    postcodes: [\"3600\", \"3660-3668\"]\n"
        "    connectors:\n"
        "      - {id: kelly, capacity: 2, skills: [family_support], languages: [nl, en]}\n"
        "      - {id: sophie, capacity: 2, skills: [family_support], languages: [nl, fr]}\n"
        "%s" /* a connector added on reload */
        "  - id: psy-oost\n"
        "    connectors:\n"
        "      - {id: psy-1, capacity: 1, skills: [first_line_psychology]}\n"
        "forward_targets:\n"
        "  - {id: cgg-limburg, name: \"CGG Limburg\"}\n"
        "  - {id: caw-limburg, name: \"CAW Limburg\"}\n"
        "rules:\n"
        "  - name: crisis\n"
        "    when: {urgency: crisis}\n"
        "    forward: {to: cgg-limburg, reason: \"acute crisis\"}\n"
        "  - name: psychology\n"
        "    when: {kind: first_line_psychology}\n"
        "    assign: {teams: [psy-oost], accept_within: 1d}\n"
        "    otherwise: {forward: {to: cgg-limburg, reason: \"no psychologist in time\"}}\n"
        "  - name: family-safety\n"
        "    when: {kind: family_support, postcode: [\"3600\"], concerns: [safety]}\n"
        "    assign: {teams: [genk], by_postcode: true, window: 10d}\n"
        "  - name: family\n"
        "    when: {kind: family_support, postcode: [\"3600\", \"3660-3668\"]}\n"
        "    assign: {teams: [genk], by_postcode: true}\n"
        "  - name: everything-else\n"
        "    forward: {to: caw-limburg, reason: \"outside the target group\"}\n";

/* The inner referral object of a submit, as a partner sends it. */
#define REFERRAL(ref, kind, postcode, extra)                                                       \
        "{\"ref\": \"" ref "\", \"partner\": \"ocmw-genk\", \"kind\": \"" kind "\", "              \
        "\"postcode\": \"" postcode "\", \"children\": [{\"age\": 9}, {\"age\": 14}], "            \
        "\"language\": \"nl\", \"consent\": true, "                                                \
        "\"family\": {\"name\": \"Jan Peeters\", \"phone\": \"011 22 33 44\"}, "                   \
        "\"note\": \"private note\"" extra "}"
#define FAMILY(ref) REFERRAL(ref, "family_support", "3600", "")
#define FAMILY_HIGH(ref) REFERRAL(ref, "family_support", "3600", ", \"urgency\": \"high\"")
#define FAMILY_SAFETY(ref) REFERRAL(ref, "family_support", "3600", ", \"concerns\": [\"safety\"]")
#define CRISIS(ref) REFERRAL(ref, "family_support", "3600", ", \"urgency\": \"crisis\"")
#define PSY(ref) REFERRAL(ref, "first_line_psychology", "3600", "")
#define ELSEWHERE(ref) REFERRAL(ref, "family_support", "2000", "")

#define MAX_EVENTS 64

struct fx {
        char dir[256];
        char path[300];
        struct rd_store *store;
        struct rd_hub *hub;
        struct rd_event ev[MAX_EVENTS]; /* what the last call emitted */
        size_t n_ev;
};

/* ---- fixture ------------------------------------------------------------------ */

static struct rd_rules *load_rules(const char *extra_connector)
{
        struct rd_rules *rules = NULL;
        struct rd_diag diag = {0};
        char buf[4096];
        int n = snprintf(buf, sizeof buf, routing, extra_connector ? extra_connector : "");

        assert_true(n > 0 && (size_t)n < sizeof buf);
        if (rd_rules_load_buffer("routing.yaml", buf, (size_t)n, &rules, &diag) < 0)
                fail_msg("routing file refused: %s", rd_diag_first_error(&diag));
        rd_diag_clear(&diag);
        return rules;
}

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof *f);
        char errbuf[256];

        assert_non_null(f);
        snprintf(f->dir, sizeof f->dir, "/tmp/rd-test-hub-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof f->path, "%s/referrald.db", f->dir);
        assert_int_equal(rd_store_open(f->path, false, &f->store, errbuf, sizeof errbuf), 0);
        assert_int_equal(rd_hub_new(f->store, load_rules(NULL), &f->hub), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        char cmd[400];

        rd_hub_free(f->hub);
        rd_store_close(f->store);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

/* ---- the daemon's wrapping ------------------------------------------------------ */

static void begin(struct fx *f)
{
        rd_hub_events_clear(f->hub);
        f->n_ev = 0;
        assert_int_equal(rd_store_begin(f->store), 0);
}

/* Commit (R == 0) or roll back, then keep what the outbox holds. */
static void end(struct fx *f, int r)
{
        const struct rd_event *evs;
        size_t n;

        if (r == 0) {
                assert_int_equal(rd_store_commit(f->store), 0);
        } else {
                rd_store_rollback(f->store);
                rd_hub_rolled_back(f->hub);
        }
        evs = rd_hub_events(f->hub, &n);
        assert_true(n <= MAX_EVENTS);
        memcpy(f->ev, evs, n * sizeof *evs);
        f->n_ev = n;
        rd_hub_events_clear(f->hub);
}

/* A client request: in a savepoint inside the batch, kept when it worked. */
static void request_begin(struct fx *f)
{
        begin(f);
        assert_int_equal(rd_hub_request_begin(f->hub), 0);
}

static void request_end(struct fx *f, int r)
{
        assert_int_equal(rd_hub_request_end(f->hub, r == 0), 0);
        end(f, 0);
}

static int submit(struct fx *f, const char *json, int64_t now, struct rd_stored *out, bool *dup,
                  struct rd_error *err)
{
        struct rd_referral ref;
        json_error_t jerr;
        json_t *obj = json_loads(json, 0, &jerr);
        int r;

        if (!obj)
                fail_msg("bad JSON literal: %s", jerr.text);
        assert_int_equal(rd_referral_from_json(obj, &ref, err), 0);
        json_decref(obj);
        rd_error_clear(err);
        request_begin(f);
        r = rd_hub_submit(f->hub, &ref, now, out, dup, err);
        request_end(f, r);
        rd_referral_clear(&ref);
        return r;
}

/* Submit a new referral that must be accepted as new. */
static struct rd_stored sub(struct fx *f, const char *json, int64_t now)
{
        struct rd_stored st;
        struct rd_error err;
        bool dup = true;

        if (submit(f, json, now, &st, &dup, &err) < 0)
                fail_msg("submit failed: %s", err.message);
        assert_false(dup);
        return st;
}

static int update(struct fx *f, const struct rd_update *u, int64_t now, struct rd_stored *out,
                  bool *changed, struct rd_error *err)
{
        int r;

        rd_error_clear(err);
        request_begin(f);
        r = rd_hub_update(f->hub, u, now, out, changed, err);
        request_end(f, r);
        return r;
}

/* Update ID to STATUS ("declined" for a decline) as CONNECTOR (or NULL). */
static int upd(struct fx *f, const char *id, const char *status, const char *connector, int64_t now,
               struct rd_stored *out, bool *changed, struct rd_error *err)
{
        struct rd_update u = {.id = id, .connector = connector};

        if (!strcmp(status, "declined"))
                u.declined = true;
        else
                assert_int_equal(rd_status_parse(status, &u.status), 0);
        return update(f, &u, now, out, changed, err);
}

/* An update that must change the referral. */
static struct rd_stored ok(struct fx *f, const char *id, const char *status, const char *connector,
                           int64_t now)
{
        struct rd_stored st;
        struct rd_error err;
        bool changed = false;

        if (upd(f, id, status, connector, now, &st, &changed, &err) < 0)
                fail_msg("update %s to %s failed: %s (%s)", id, status, err.message, err.field);
        assert_true(changed);
        return st;
}

/* The stored state of two reads is the same (no change, no event). */
static void assert_same_state(const struct rd_stored *a, const struct rd_stored *b)
{
        assert_string_equal(a->id, b->id);
        assert_int_equal(a->status, b->status);
        assert_string_equal(a->rule, b->rule);
        assert_string_equal(a->team, b->team);
        assert_string_equal(a->connector, b->connector);
        assert_string_equal(a->forward_to, b->forward_to);
        assert_int_equal(a->start_by_ms, b->start_by_ms);
        assert_int_equal(a->expected_start_ms, b->expected_start_ms);
        assert_int_equal(a->offered_ms, b->offered_ms);
        assert_int_equal(a->offer_expires_ms, b->offer_expires_ms);
        assert_int_equal(a->started_ms, b->started_ms);
        assert_int_equal(a->expected_end_ms, b->expected_end_ms);
        assert_int_equal(a->final_ms, b->final_ms);
        assert_int_equal(a->erased_ms, b->erased_ms);
        assert_int_equal(a->last_seq, b->last_seq);
}

/* An update that must be answered ok and change nothing, emitting nothing. */
static void same(struct fx *f, const char *id, const char *status, const char *connector,
                 int64_t now)
{
        struct rd_stored st, before, after;
        struct rd_error err;
        bool changed = true;

        assert_int_equal(rd_store_get(f->store, id, &before), 0);
        if (upd(f, id, status, connector, now, &st, &changed, &err) < 0)
                fail_msg("repeat %s to %s failed: %s", id, status, err.message);
        assert_false(changed);
        assert_int_equal(f->n_ev, 0);
        assert_int_equal(rd_store_get(f->store, id, &after), 0);
        assert_same_state(&before, &after);
        assert_same_state(&st, &after);
}

/* An update that must fail with CODE on FIELD, changing and emitting nothing.
 * Returns the message. */
static const char *refused(struct fx *f, const struct rd_update *u, int64_t now, enum rd_code code,
                           const char *field)
{
        static struct rd_error err;
        struct rd_stored st, before, after;
        bool changed = false;
        int have = rd_store_get(f->store, u->id, &before) == 0;

        if (update(f, u, now, &st, &changed, &err) == 0)
                fail_msg("update of %s was accepted", u->id);
        if (err.code != code)
                fail_msg("update of %s: %s (%s), expected %s", u->id, rd_code_name(err.code),
                         err.message, rd_code_name(code));
        assert_string_equal(err.field, field);
        assert_int_equal(f->n_ev, 0);
        if (have) {
                assert_int_equal(rd_store_get(f->store, u->id, &after), 0);
                assert_same_state(&before, &after);
        }
        return err.message;
}

static const char *refused_upd(struct fx *f, const char *id, const char *status,
                               const char *connector, int64_t now, enum rd_code code,
                               const char *field)
{
        struct rd_update u = {.id = id, .connector = connector};

        if (!strcmp(status, "declined"))
                u.declined = true;
        else
                assert_int_equal(rd_status_parse(status, &u.status), 0);
        return refused(f, &u, now, code, field);
}

static struct rd_stored forward(struct fx *f, const char *id, const char *to, int64_t now)
{
        struct rd_update u = {.id = id,
                              .status = RD_STATUS_FORWARDED,
                              .forward_to = to,
                              .reason = "family moved to Hasselt"};
        struct rd_stored st;
        struct rd_error err;
        bool changed = false;

        if (update(f, &u, now, &st, &changed, &err) < 0)
                fail_msg("forward failed: %s", err.message);
        assert_true(changed);
        return st;
}

static size_t tick(struct fx *f, int64_t now)
{
        size_t done = 0;
        int r;

        begin(f);
        r = rd_hub_tick(f->hub, now, 100, &done);
        end(f, r);
        assert_int_equal(r, 0);
        return done;
}

static int64_t deadline(struct fx *f)
{
        int64_t when = -1;

        assert_int_equal(rd_hub_next_deadline(f->hub, &when), 0);
        return when;
}

static void reload(struct fx *f, struct rd_rules *rules, int64_t now)
{
        struct rd_rules *old = NULL;
        int r;

        begin(f);
        r = rd_hub_set_rules(f->hub, rules, now, &old);
        end(f, r);
        assert_int_equal(r, 0);
        rd_rules_free(old); /* after the commit, as the daemon does */
}

static struct rd_stored get(struct fx *f, const char *id)
{
        struct rd_stored st;

        assert_int_equal(rd_store_get(f->store, id, &st), 0);
        return st;
}

static uint32_t load(struct fx *f, const char *connector)
{
        ssize_t c = rd_rules_connector_index(rd_hub_rules(f->hub), connector);

        assert_true(c >= 0);
        return rd_hub_load(f->hub, (size_t)c);
}

/* Loads of a hub made fresh over the same store equal those of F's hub. */
static void assert_hub_matches_store(struct fx *f)
{
        struct rd_hub *fresh = NULL;
        const struct rd_rules *rules = rd_hub_rules(f->hub);
        int64_t a = 0, b = 0;

        assert_int_equal(rd_hub_new(f->store, load_rules(NULL), &fresh), 0);
        for (size_t c = 0; c < rules->n_connectors; c++)
                assert_int_equal(rd_hub_load(f->hub, c), rd_hub_load(fresh, c));
        assert_int_equal(rd_hub_next_deadline(f->hub, &a), 0);
        assert_int_equal(rd_hub_next_deadline(fresh, &b), 0);
        assert_int_equal(a, b);
        rd_hub_free(fresh);
}

/* ---- the events ----------------------------------------------------------------- */

struct ev_exp {
        enum rd_event_type type;
        const char *id; /* NULL: not a referral event */
        enum rd_status status;
        const char *connector; /* NULL: not checked */
};

static void dump_events(const struct fx *f)
{
        for (size_t i = 0; i < f->n_ev; i++)
                print_message("  event %zu: %s %s status=%s connector=%s\n", i,
                              rd_event_type_name(f->ev[i].type), f->ev[i].id,
                              rd_status_name(f->ev[i].status), f->ev[i].connector);
}

static void check_events(const struct fx *f, const struct ev_exp *e, size_t n)
{
        if (f->n_ev != n) {
                dump_events(f);
                fail_msg("%zu events, expected %zu", f->n_ev, n);
        }
        for (size_t i = 0; i < n; i++) {
                const struct rd_event *ev = &f->ev[i];

                if (ev->type != e[i].type) {
                        dump_events(f);
                        fail_msg("event %zu is %s, expected %s", i, rd_event_type_name(ev->type),
                                 rd_event_type_name(e[i].type));
                }
                if (i > 0)
                        assert_int_equal(ev->seq, f->ev[i - 1].seq + 1);
                if (!e[i].id)
                        continue;
                assert_string_equal(ev->id, e[i].id);
                assert_string_equal(ev->partner, "ocmw-genk");
                if (ev->status != e[i].status) {
                        dump_events(f);
                        fail_msg("event %zu (%s) has status %s, expected %s", i,
                                 rd_event_type_name(ev->type), rd_status_name(ev->status),
                                 rd_status_name(e[i].status));
                }
                if (e[i].connector)
                        assert_string_equal(ev->connector, e[i].connector);
        }
}

#define EXPECT(f, ...)                                                                             \
        do {                                                                                       \
                const struct ev_exp e_[] = {__VA_ARGS__};                                          \
                check_events((f), e_, sizeof e_ / sizeof e_[0]);                                   \
        } while (0)
#define EXPECT_NONE(f) check_events((f), NULL, 0)

#define RECEIVED(id)                                                                               \
        {                                                                                          \
                RD_EV_RECEIVED, (id), RD_STATUS_RECEIVED, ""                                       \
        }
#define ASSIGNED(id, c)                                                                            \
        {                                                                                          \
                RD_EV_ASSIGNED, (id), RD_STATUS_ASSIGNED, (c)                                      \
        }
#define WAITLISTED(id)                                                                             \
        {                                                                                          \
                RD_EV_WAITLISTED, (id), RD_STATUS_WAITLISTED, ""                                   \
        }
#define FORWARDED(id)                                                                              \
        {                                                                                          \
                RD_EV_FORWARDED, (id), RD_STATUS_FORWARDED, ""                                     \
        }
#define DECLINED(id, c)                                                                            \
        {                                                                                          \
                RD_EV_DECLINED, (id), RD_STATUS_ASSIGNED, (c)                                      \
        }
#define EXPIRED(id, c)                                                                             \
        {                                                                                          \
                RD_EV_OFFER_EXPIRED, (id), RD_STATUS_ASSIGNED, (c)                                 \
        }
#define WITHDRAWN(id)                                                                              \
        {                                                                                          \
                RD_EV_WITHDRAWN, (id), RD_STATUS_WITHDRAWN, NULL                                   \
        }

/* Fill kelly and sophie (two each), submitted at T0 .. T0 + 3 ms; ids in
 * R[0..3]: R[0], R[2] to kelly, R[1], R[3] to sophie. */
static void fill_family(struct fx *f, char r[4][RD_RID_MAX])
{
        static const char *const json[4] = {FAMILY("F-1"), FAMILY("F-2"), FAMILY("F-3"),
                                            FAMILY("F-4")};
        static const char *const who[4] = {"kelly", "sophie", "kelly", "sophie"};

        for (int i = 0; i < 4; i++) {
                struct rd_stored st = sub(f, json[i], T0 + i);
                assert_int_equal(st.status, RD_STATUS_ASSIGNED);
                assert_string_equal(st.connector, who[i]);
                snprintf(r[i], RD_RID_MAX, "%s", st.id);
        }
        assert_int_equal(load(f, "kelly"), 2);
        assert_int_equal(load(f, "sophie"), 2);
}

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
        const char *ids[4];

        open_in_every_status(f, &o);
        ids[0] = o.w;
        ids[1] = o.a;
        ids[2] = o.b;
        ids[3] = o.c;
        for (int i = 0; i < 4; i++) {
                st = forward(f, ids[i], "caw-limburg", T0 + DAY);
                EXPECT(f, FORWARDED(ids[i]));
                assert_string_equal(f->ev[0].forward_to, "caw-limburg");
                assert_string_equal(f->ev[0].reason, "family moved to Hasselt");
                st = get(f, ids[i]);
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
        EXPECT(f, DECLINED(a.id, "sophie"), WAITLISTED(a.id));
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
        EXPECT(f, DECLINED(a.id, "kelly"), WAITLISTED(a.id));
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
        EXPECT(f, EXPIRED(a.id, "sophie"), WAITLISTED(a.id));
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

/* ---- the waitlist ------------------------------------------------------------------- */

/* Full genk, then three waiting: N (normal, received first), H (high),
 * S (normal, safety: 10d window, so the earliest start_by). Order: H, S, N. */
struct waiting3 {
        char r[4][RD_RID_MAX];
        char n[RD_RID_MAX], h[RD_RID_MAX], s[RD_RID_MAX];
};

static void three_waiting(struct fx *f, struct waiting3 *w)
{
        struct rd_stored st;

        fill_family(f, w->r);
        st = sub(f, FAMILY("N"), T0 + HOUR);
        assert_int_equal(st.status, RD_STATUS_WAITLISTED);
        snprintf(w->n, sizeof w->n, "%s", st.id);
        st = sub(f, FAMILY_HIGH("H"), T0 + 2 * HOUR);
        assert_int_equal(st.status, RD_STATUS_WAITLISTED);
        snprintf(w->h, sizeof w->h, "%s", st.id);
        st = sub(f, FAMILY_SAFETY("S"), T0 + 3 * HOUR);
        assert_int_equal(st.status, RD_STATUS_WAITLISTED);
        assert_string_equal(st.rule, "family-safety");
        assert_int_equal(st.start_by_ms, T0 + 3 * HOUR + 10 * DAY);
        snprintf(w->s, sizeof w->s, "%s", st.id);
}

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

/* Full genk, one waiting: W. */
static void one_waiting(struct fx *f, char r[4][RD_RID_MAX], char w[RD_RID_MAX])
{
        struct rd_stored st;

        fill_family(f, r);
        st = sub(f, FAMILY("W"), T0 + HOUR);
        assert_int_equal(st.status, RD_STATUS_WAITLISTED);
        snprintf(w, RD_RID_MAX, "%s", st.id);
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

/* ---- erase and retention ------------------------------------------------------------ */

static void assert_erased_content(struct fx *f, const char *id)
{
        struct rd_stored st = get(f, id);
        json_t *content = NULL, *trace = NULL;

        assert_int_equal(rd_store_content(f->store, st.rowid, &content, &trace, NULL), 0);
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

/* ---- memory against the store ---------------------------------------------------------- */

static void rolled_back_state_equals_state_rebuilt_from_the_store(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];
        struct rd_stored st;
        struct rd_error err;
        bool changed;
        size_t n;

        one_waiting(f, r, w);
        ok(f, r[1], "accepted", "sophie", T0 + 1);
        assert_hub_matches_store(f);

        /* a batch that changes memory, then fails to commit */
        begin(f);
        assert_int_equal(
                rd_hub_update(f->hub,
                              &(struct rd_update){.id = r[0], .status = RD_STATUS_WITHDRAWN},
                              T0 + DAY, &st, &changed, &err),
                0);
        assert_int_equal(rd_hub_load(f->hub, 0), 2); /* W took kelly's place */
        rd_hub_events(f->hub, &n);
        assert_int_equal(n, 2);
        rd_store_rollback(f->store);
        rd_hub_rolled_back(f->hub);
        rd_hub_events(f->hub, &n);
        assert_int_equal(n, 0);
        assert_int_equal(get(f, r[0]).status, RD_STATUS_ASSIGNED);
        assert_int_equal(get(f, w).status, RD_STATUS_WAITLISTED);
        assert_int_equal(load(f, "kelly"), 2);
        assert_int_equal(load(f, "sophie"), 2);
        assert_hub_matches_store(f);

        /* the waitlist is back too: the same change serves W again */
        ok(f, r[0], "withdrawn", NULL, T0 + DAY);
        EXPECT(f, WITHDRAWN(r[0]), ASSIGNED(w, "kelly"));
        assert_hub_matches_store(f);

        /* and the same for a tick that is rolled back */
        begin(f);
        {
                size_t done = 0;
                assert_int_equal(rd_hub_tick(f->hub, T0 + DAY + 2 * DAY, 100, &done), 0);
                assert_true(done > 0);
        }
        rd_store_rollback(f->store);
        rd_hub_rolled_back(f->hub);
        assert_string_equal(get(f, w).connector, "kelly");
        assert_int_equal(load(f, "kelly"), 2);
        assert_hub_matches_store(f);
}

static void a_refused_request_changes_nothing_in_memory_or_store(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];
        struct rd_stored st;
        struct rd_error err;
        bool changed;
        size_t n;

        one_waiting(f, r, w);
        /* a request that worked, then undone by its savepoint */
        begin(f);
        assert_int_equal(rd_hub_request_begin(f->hub), 0);
        assert_int_equal(
                rd_hub_update(f->hub,
                              &(struct rd_update){.id = r[0], .status = RD_STATUS_WITHDRAWN},
                              T0 + DAY, &st, &changed, &err),
                0);
        assert_int_equal(rd_hub_request_end(f->hub, false), 0);
        rd_hub_events(f->hub, &n);
        assert_int_equal(n, 0);
        /* a second request in the same batch is kept */
        assert_int_equal(rd_hub_request_begin(f->hub), 0);
        assert_int_equal(rd_hub_update(f->hub,
                                       &(struct rd_update){.id = r[1],
                                                           .status = RD_STATUS_ACCEPTED,
                                                           .connector = "sophie"},
                                       T0 + DAY, &st, &changed, &err),
                         0);
        assert_int_equal(rd_hub_request_end(f->hub, true), 0);
        end(f, 0);
        EXPECT(f, {RD_EV_ACCEPTED, r[1], RD_STATUS_ACCEPTED, "sophie"});
        assert_int_equal(get(f, r[0]).status, RD_STATUS_ASSIGNED);
        assert_int_equal(get(f, w).status, RD_STATUS_WAITLISTED);
        assert_int_equal(load(f, "kelly"), 2);
        assert_hub_matches_store(f);
}

static void a_restarted_hub_rebuilds_the_waitlist_in_order(void **state)
{
        struct fx *f = *state;
        struct waiting3 w;

        three_waiting(f, &w);
        rd_hub_free(f->hub);
        assert_int_equal(rd_hub_new(f->store, load_rules(NULL), &f->hub), 0);
        assert_int_equal(load(f, "kelly"), 2);
        ok(f, w.r[0], "withdrawn", NULL, T0 + DAY);
        EXPECT(f, WITHDRAWN(w.r[0]), ASSIGNED(w.h, "kelly"));
        ok(f, w.r[1], "withdrawn", NULL, T0 + DAY);
        EXPECT(f, WITHDRAWN(w.r[1]), ASSIGNED(w.s, "sophie"));
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

static void twin_submit(struct twin *t)
{
        static const char *const forms[] = {FAMILY("%s"), FAMILY_HIGH("%s"), FAMILY_SAFETY("%s"),
                                            PSY("%s"),    FAMILY("%s"),      ELSEWHERE("%s")};
        const char *form = forms[twin_rand(t, sizeof forms / sizeof forms[0])];
        char ref[32], json[1024];
        struct rd_stored sa, sb;
        struct rd_error ea, eb;
        bool da, db;

        snprintf(ref, sizeof ref, "twin-%d", ++t->n_refs);
        snprintf(json, sizeof json, form, ref);
        assert_int_equal(submit(t->a, json, t->now, &sa, &da, &ea), 0);
        assert_int_equal(submit(t->b, json, t->now, &sb, &db, &eb), 0);
        assert_same_state(&sa, &sb);
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
        snprintf(id, sizeof id, "R%06d", 1 + (int)twin_rand(t, (unsigned)t->n_refs));
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

static void a_waitlist_read_from_the_store_decides_as_one_held_in_memory(void **state)
{
        struct fx *a = *state, *b = NULL;
        struct twin t = {.a = a, .seed = 7, .now = T0};
        int waiting_max = 0;

        assert_int_equal(setup((void **)&b), 0);
        t.b = b;
        rd_hub_set_wait_cache(b->hub, 1);
        for (int step = 0; step < 600; step++) {
                unsigned what = twin_rand(&t, 20);
                struct rd_figures fig;

                t.now += (int64_t)twin_rand(&t, 6 * 60) * 60000; /* up to 6 hours */
                if (what < 9) {
                        twin_submit(&t);
                } else if (what < 18) {
                        twin_update(&t);
                } else {
                        tick(a, t.now);
                        tick(b, t.now);
                }
                assert_same_events(a, b);
                if (step % 97 == 96) { /* a restart reads only the head again */
                        rd_hub_free(b->hub);
                        assert_int_equal(rd_hub_new(b->store, load_rules(NULL), &b->hub), 0);
                        rd_hub_set_wait_cache(b->hub, 1 + twin_rand(&t, 3));
                }
                assert_int_equal(rd_store_figures(a->store, &fig), 0);
                if (fig.waiting > waiting_max)
                        waiting_max = (int)fig.waiting;
        }
        /* the script did build a waitlist longer than B's head */
        assert_true(waiting_max > 10);
        for (int i = 1; i <= t.n_refs; i++) {
                char id[RD_RID_MAX];
                struct rd_stored sa, sb;
                snprintf(id, sizeof id, "R%06d", i);
                assert_int_equal(rd_store_get(a->store, id, &sa), 0);
                assert_int_equal(rd_store_get(b->store, id, &sb), 0);
                assert_same_state(&sa, &sb);
        }
        teardown((void **)&b);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

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
                T(update_connector_missing_is_invalid_another_is_forbidden),
                T(update_repeats_are_ok_without_change_or_event),
                T(decline_emits_declined_then_the_new_decision),
                T(decliners_are_never_offered_it_again),
                T(decline_with_nobody_left_takes_the_rules_otherwise),
                T(offer_expires_at_offered_plus_accept_within),
                T(offer_expiry_uses_the_rules_accept_within),
                T(accepted_offers_do_not_expire),
                T(window_at_risk_and_missed_fire_once_each_at_their_moment),
                T(window_events_fire_for_waiting_referrals_too),
                T(no_window_event_for_started_forwarded_withdrawn_or_closed),
                T(both_window_events_fire_in_order_after_a_long_outage),
                T(window_events_do_not_fire_again_after_a_new_offer),
                T(tick_handles_at_most_limit_per_kind),
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
                T(manual_reassignment_ignores_load_and_gets_its_own_accept_within),
                T(manual_forward_is_final_and_frees_capacity),
                T(reload_keeps_decisions_and_reexpires_open_offers),
                T(a_refused_reload_is_recorded_and_changes_nothing),
                T(erase_withdraws_an_open_referral_first_and_removes_personal_data),
                T(erase_of_a_final_referral_only_erases),
                T(erase_of_a_waiting_referral_serves_nobody_and_leaves_the_line),
                T(retention_erases_final_referrals_automatically),
                T(retention_zero_never_erases),
                T(rolled_back_state_equals_state_rebuilt_from_the_store),
                T(a_refused_request_changes_nothing_in_memory_or_store),
                T(a_restarted_hub_rebuilds_the_waitlist_in_order),
                T(a_waitlist_read_from_the_store_decides_as_one_held_in_memory),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
