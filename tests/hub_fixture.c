/* hub_fixture.c: the hub's tests' fixture (hub_fixture.h). */
#include "hub_fixture.h"

#include <libpq-fe.h>

/* Two family connectors (capacity 2) in genk, one psychologist (capacity
 * 1); a shorter window for safety concerns so that start_by and arrival
 * order differ; crisis and what no rule assigns are forwarded. The family
 * rule also takes 3700, which only the team hasselt serves, when there is
 * one (rules_with). */
#define FIXTURE_HEAD_AND_GENK_ANYWHERE FIXTURE_HEAD_AND_GENK_AT("%s") /* genk's postcodes */
static const char routing[] = FIXTURE_HEAD_AND_GENK_ANYWHERE
        "%s" /* a connector added on reload */
        "%s" /* the team hasselt */
        FIXTURE_PSY_AND_FIRST_RULES "  - name: family-safety\n"
        "    when: {kind: family_support, postcode: [\"3600\"], concerns: [safety]}\n"
        "    assign: {teams: [genk], by_postcode: true, window: 10d}\n"
        "  - name: family\n"
        "    when: {kind: family_support, postcode: [\"3600\", \"3660-3668\", \"3700\"]}\n"
        "    assign: {teams: [genk%s], by_postcode: true}\n"
        "  - name: everything-else\n"
        "    forward: {to: caw-limburg, reason: \"outside the target group\"}\n";

/* ---- fixture ------------------------------------------------------------------ */

struct rd_rules *load_rules(const char *extra_connector)
{
        return rules_with(GENK_POSTCODES, extra_connector, false);
}

/* The text of the file of rules_with into BUF (of ROUTING_TEXT_MAX); its
 * length. */
#define ROUTING_TEXT_MAX 4096
static size_t routing_text(char *buf, const char *genk_postcodes, const char *extra_connector,
                           bool hasselt)
{
        static const char lien[] = "  - id: hasselt\n"
                                   "    postcodes: [\"3700\"]\n"
                                   "    connectors:\n"
                                   "      - {id: lien, capacity: 1, skills: [family_support]}\n";
        int n = snprintf(buf, ROUTING_TEXT_MAX, routing, genk_postcodes,
                         extra_connector ? extra_connector : "", hasselt ? lien : "",
                         hasselt ? ", hasselt" : "");

        assert_true(n > 0 && n < ROUTING_TEXT_MAX);
        return (size_t)n;
}

struct rd_rules *rules_with(const char *genk_postcodes, const char *extra_connector, bool hasselt)
{
        struct rd_rules *rules = NULL;
        struct rd_diag diag = {0};
        char buf[ROUTING_TEXT_MAX];
        size_t n = routing_text(buf, genk_postcodes, extra_connector, hasselt);

        if (rd_rules_load_buffer("routing.yaml", buf, n, &rules, &diag) < 0)
                fail_msg("routing file refused: %s", rd_diag_first_error(&diag));
        rd_diag_clear(&diag);
        return rules;
}

/* The store of a test: SQLite in F->DIR; or, with RD_TEST_PG_CONNINFO set
 * (tests/integration/test_pg_store.py runs these tests so), PostgreSQL in a
 * schema of its own on that server. */
static void open_store(struct fx *f)
{
        static int n;
        const char *pg = getenv("RD_TEST_PG_CONNINFO");
        char errbuf[512], sql[96];
        PGconn *c;
        PGresult *res;

        if (!pg) {
                assert_int_equal(rd_store_open(f->path, false, &f->store, errbuf, sizeof errbuf),
                                 0);
                return;
        }
        c = PQconnectdb(pg);
        snprintf(sql, sizeof sql, "CREATE SCHEMA hub_%d_%d", (int)getpid(), ++n);
        res = PQexec(c, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
                fail_msg("%s: %s", sql, PQerrorMessage(c));
        PQclear(res);
        PQfinish(c);
        snprintf(f->conninfo, sizeof f->conninfo, "%s options=-csearch_path=hub_%d_%d", pg,
                 (int)getpid(), n);
        if (rd_store_open_pg(f->conninfo, NULL, &f->store, errbuf, sizeof errbuf) < 0)
                fail_msg("cannot open the PostgreSQL store: %s", errbuf);
}

void record_rules(struct fx *f, const char *extra_connector, bool hasselt, int64_t now)
{
        char buf[ROUTING_TEXT_MAX];
        size_t n = routing_text(buf, GENK_POSTCODES, extra_connector, hasselt);
        struct rd_rules *rules = rules_with(GENK_POSTCODES, extra_connector, hasselt);

        begin(f);
        assert_int_equal(rd_routing_record(f->store, rules, buf, n, now), 0);
        end(f, 0);
        rd_rules_free(rules);
}

int setup(void **state)
{
        struct fx *f = calloc(1, sizeof *f);

        assert_non_null(f);
        snprintf(f->dir, sizeof f->dir, "/tmp/rd-test-hub-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof f->path, "%s/referrald.db", f->dir);
        open_store(f);
        assert_int_equal(rd_hub_new(f->store, load_rules(NULL), &f->hub), 0);
        *state = f;
        return 0;
}

int teardown(void **state)
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

void begin(struct fx *f)
{
        rd_hub_events_clear(f->hub);
        f->n_ev = 0;
        assert_int_equal(rd_store_begin(f->store), 0);
}

/* Commit (R == 0) or roll back, then keep what the outbox holds. */
void end(struct fx *f, int r)
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
        if (n) /* a hub that never emitted has no outbox yet */
                memcpy(f->ev, evs, n * sizeof *evs);
        f->n_ev = n;
        rd_hub_events_clear(f->hub);
}

/* A client request: in a savepoint inside the batch, kept when it worked. */
void request_begin(struct fx *f)
{
        begin(f);
        assert_int_equal(rd_hub_request_begin(f->hub), 0);
}

void request_end(struct fx *f, int r)
{
        assert_int_equal(rd_hub_request_end(f->hub, r == 0), 0);
        end(f, 0);
}

int submit(struct fx *f, const char *json, int64_t now, struct rd_stored *out, bool *dup,
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
struct rd_stored sub(struct fx *f, const char *json, int64_t now)
{
        struct rd_stored st;
        struct rd_error err;
        bool dup = true;

        if (submit(f, json, now, &st, &dup, &err) < 0)
                fail_msg("submit failed: %s", err.message);
        assert_false(dup);
        return st;
}

int update(struct fx *f, const struct rd_update *u, int64_t now, struct rd_stored *out,
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
int upd(struct fx *f, const char *id, const char *status, const char *connector, int64_t now,
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
struct rd_stored ok(struct fx *f, const char *id, const char *status, const char *connector,
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
void assert_same_state(const struct rd_stored *a, const struct rd_stored *b)
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
void same(struct fx *f, const char *id, const char *status, const char *connector, int64_t now)
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
const char *refused(struct fx *f, const struct rd_update *u, int64_t now, enum rd_code code,
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

const char *refused_upd(struct fx *f, const char *id, const char *status, const char *connector,
                        int64_t now, enum rd_code code, const char *field)
{
        struct rd_update u = {.id = id, .connector = connector};

        if (!strcmp(status, "declined"))
                u.declined = true;
        else
                assert_int_equal(rd_status_parse(status, &u.status), 0);
        return refused(f, &u, now, code, field);
}

struct rd_stored forward(struct fx *f, const char *id, const char *to, int64_t now)
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

size_t tick(struct fx *f, int64_t now)
{
        size_t done = 0;
        int r;

        begin(f);
        r = rd_hub_tick(f->hub, now, 100, &done);
        end(f, r);
        assert_int_equal(r, 0);
        return done;
}

int64_t deadline(struct fx *f)
{
        int64_t when = -1;

        assert_int_equal(rd_hub_next_deadline(f->hub, &when), 0);
        return when;
}

void reload(struct fx *f, struct rd_rules *rules, int64_t now)
{
        struct rd_rules *old = NULL;
        int r;

        begin(f);
        r = rd_hub_set_rules(f->hub, rules, now, &old);
        end(f, r);
        assert_int_equal(r, 0);
        rd_rules_free(old); /* after the commit, as the daemon does */
}

struct rd_stored get(struct fx *f, const char *id)
{
        struct rd_stored st;

        assert_int_equal(rd_store_get(f->store, id, &st), 0);
        return st;
}

uint32_t load(struct fx *f, const char *connector)
{
        ssize_t c = rd_rules_connector_index(rd_hub_rules(f->hub), connector);

        assert_true(c >= 0);
        return rd_hub_load(f->hub, (size_t)c);
}

void assert_hub_matches_store(struct fx *f)
{
        assert_hub_matches_store_under(f, load_rules(NULL));
}

void assert_hub_matches_store_under(struct fx *f, struct rd_rules *fresh_rules)
{
        struct rd_hub *fresh = NULL;
        const struct rd_rules *rules = rd_hub_rules(f->hub);
        int64_t a = 0, b = 0;

        assert_int_equal(rd_hub_new(f->store, fresh_rules, &fresh), 0);
        for (size_t c = 0; c < rules->n_connectors; c++)
                assert_int_equal(rd_hub_load(f->hub, c), rd_hub_load(fresh, c));
        assert_int_equal(rd_hub_next_deadline(f->hub, &a), 0);
        assert_int_equal(rd_hub_next_deadline(fresh, &b), 0);
        assert_int_equal(a, b);
        rd_hub_free(fresh);
}

/* ---- the events ----------------------------------------------------------------- */

void dump_events(const struct fx *f)
{
        for (size_t i = 0; i < f->n_ev; i++)
                print_message("  event %zu: %s %s status=%s connector=%s\n", i,
                              rd_event_type_name(f->ev[i].type), f->ev[i].id,
                              rd_status_name(f->ev[i].status), f->ev[i].connector);
}

void check_events(const struct fx *f, const struct ev_exp *e, size_t n)
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

/* Fill kelly and sophie (two each), submitted at T0 .. T0 + 3 ms; ids in
 * R[0..3]: R[0], R[2] to kelly, R[1], R[3] to sophie. */
void fill_family(struct fx *f, char r[4][RD_RID_MAX])
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

void three_waiting(struct fx *f, struct waiting3 *w)
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

/* Full genk, one waiting: W. */
void one_waiting(struct fx *f, char r[4][RD_RID_MAX], char w[RD_RID_MAX])
{
        struct rd_stored st;

        fill_family(f, r);
        st = sub(f, FAMILY("W"), T0 + HOUR);
        assert_int_equal(st.status, RD_STATUS_WAITLISTED);
        snprintf(w, RD_RID_MAX, "%s", st.id);
}
