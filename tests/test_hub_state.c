/* test_hub_state.c: the hub's memory against the store: what a rolled
 * back request or batch leaves, a restart, and a store that cannot be read
 * (the hub rebuilds or refuses). The fixture: hub_fixture.h. */
#include "hub_fixture.h"

/* ---- memory against the store ---------------------------------------------------------- */

/* Change ID to STATUS as CONNECTOR (or NULL) at NOW inside the open
 * transaction and whatever request the test began: it must work. */
static void change(struct fx *f, const char *id, enum rd_status status, const char *connector,
                   int64_t now)
{
        struct rd_update u = {.id = id, .status = status, .connector = connector};
        struct rd_stored st;
        struct rd_error err;
        bool changed;

        assert_int_equal(rd_hub_update(f->hub, &u, now, &st, &changed, &err), 0);
}

static void rolled_back_state_equals_state_rebuilt_from_the_store(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];
        size_t n;

        one_waiting(f, r, w);
        ok(f, r[1], "accepted", "sophie", T0 + 1);
        assert_hub_matches_store(f);

        /* a batch that changes memory, then fails to commit */
        begin(f);
        change(f, r[0], RD_STATUS_WITHDRAWN, NULL, T0 + DAY);
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
        size_t n;

        one_waiting(f, r, w);
        /* a request that worked, then undone by its savepoint */
        begin(f);
        assert_int_equal(rd_hub_request_begin(f->hub), 0);
        change(f, r[0], RD_STATUS_WITHDRAWN, NULL, T0 + DAY);
        assert_int_equal(rd_hub_request_end(f->hub, false), 0);
        rd_hub_events(f->hub, &n);
        assert_int_equal(n, 0);
        /* a second request in the same batch is kept */
        assert_int_equal(rd_hub_request_begin(f->hub), 0);
        change(f, r[1], RD_STATUS_ACCEPTED, "sophie", T0 + DAY);
        assert_int_equal(rd_hub_request_end(f->hub, true), 0);
        end(f, 0);
        EXPECT(f, {RD_EV_ACCEPTED, r[1], RD_STATUS_ACCEPTED, "sophie"});
        assert_int_equal(get(f, r[0]).status, RD_STATUS_ASSIGNED);
        assert_int_equal(get(f, w).status, RD_STATUS_WAITLISTED);
        assert_int_equal(load(f, "kelly"), 2);
        assert_hub_matches_store(f);
}

/* A request begun without a savepoint (submit's way, ops.c WHOLE): undone
 * after it wrote, it takes its whole transaction with it, the requests
 * kept before it too, and memory follows the store; refused before it
 * wrote, it leaves the transaction as it was. (A store without savepoints,
 * PostgreSQL, undoes it alone, as any request.) */
static void a_request_without_a_savepoint_undone_after_it_wrote_takes_its_transaction(void **state)
{
        struct fx *f = *state;
        bool whole = rd_store_caps(f->store) & RD_STORE_SAVEPOINTS;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];
        size_t n;

        one_waiting(f, r, w);
        begin(f);
        /* kept: in the same transaction */
        assert_int_equal(rd_hub_request_begin_whole(f->hub), 0);
        change(f, r[1], RD_STATUS_ACCEPTED, "sophie", T0 + DAY);
        assert_int_equal(rd_hub_request_end(f->hub, true), 0);
        /* refused before it wrote: nothing to undo, the transaction goes on */
        assert_int_equal(rd_hub_request_begin_whole(f->hub), 0);
        assert_int_equal(rd_hub_request_end(f->hub, false), 0);
        assert_true(rd_store_in_transaction(f->store));
        /* undone after it wrote: the transaction is lost, every call after it says so */
        assert_int_equal(rd_hub_request_begin_whole(f->hub), 0);
        change(f, r[0], RD_STATUS_WITHDRAWN, NULL, T0 + DAY);
        if (!whole) { /* undone alone: the one kept before it stands */
                assert_int_equal(rd_hub_request_end(f->hub, false), 0);
                end(f, 0);
                assert_int_equal(get(f, r[1]).status, RD_STATUS_ACCEPTED);
                assert_int_equal(get(f, r[0]).status, RD_STATUS_ASSIGNED);
                assert_hub_matches_store(f);
                return;
        }
        assert_int_equal(rd_hub_request_end(f->hub, false), RD_STORE_ABORTED);
        assert_false(rd_store_in_transaction(f->store));
        assert_int_equal(rd_hub_request_begin_whole(f->hub), RD_STORE_ABORTED);
        assert_int_equal(rd_store_commit(f->store), RD_STORE_ABORTED);
        end(f, -1);
        rd_hub_events(f->hub, &n);
        assert_int_equal(n, 0);
        /* neither the undone request nor the one kept before it is stored */
        assert_int_equal(get(f, r[1]).status, RD_STATUS_ASSIGNED);
        assert_int_equal(get(f, r[0]).status, RD_STATUS_ASSIGNED);
        assert_int_equal(get(f, w).status, RD_STATUS_WAITLISTED);
        assert_int_equal(load(f, "kelly"), 2);
        assert_hub_matches_store(f);
        /* and the next transaction serves again */
        ok(f, r[0], "withdrawn", NULL, T0 + DAY);
        EXPECT(f, WITHDRAWN(r[0]), ASSIGNED(w, "kelly"));
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

/* ---- a store that cannot be read ------------------------------------------------ */

/* A store driver that wraps the SQLite driver: its own table of operations
 * with each_state replaced. While ARMED, the hub's state read breaks after
 * FAIL_AFTER rows (open referrals, offer counts, round robin, waiting), as
 * a store fault half way through would break it. */
static struct {
        struct rd_store_ops ops;
        const struct rd_store_ops *sqlite;
        const struct rd_store_state_fns *fns; /* the hub's, during a read */
        bool armed;
        int fail_after, rows, failures;
} faulty;

static int faulty_row(void)
{
        if (faulty.rows++ < faulty.fail_after)
                return 0;
        faulty.failures++;
        return -EIO;
}

static int faulty_open(void *ctx, const struct rd_stored *st)
{
        int r = faulty_row();
        return r < 0 ? r : faulty.fns->open(ctx, st);
}

static int faulty_offer_count(void *ctx, const char *connector, int64_t count)
{
        int r = faulty_row();
        return r < 0 ? r : faulty.fns->offer_count(ctx, connector, count);
}

static int faulty_round_robin(void *ctx, const char *rule, const char *connector)
{
        int r = faulty_row();
        return r < 0 ? r : faulty.fns->round_robin(ctx, rule, connector);
}

static int faulty_waiting(void *ctx, const struct rd_stored *st, const char *candidates)
{
        int r = faulty_row();
        return r < 0 ? r : faulty.fns->waiting(ctx, st, candidates);
}

static int faulty_each_state(struct rd_store *s, const struct rd_store_state_fns *fns, void *ctx)
{
        struct rd_store_state_fns mine = *fns;

        if (!faulty.armed)
                return faulty.sqlite->each_state(s, fns, ctx);
        faulty.fns = fns;
        faulty.rows = 0;
        mine.open = fns->open ? faulty_open : NULL;
        mine.offer_count = fns->offer_count ? faulty_offer_count : NULL;
        mine.round_robin = fns->round_robin ? faulty_round_robin : NULL;
        mine.waiting = fns->waiting ? faulty_waiting : NULL;
        return faulty.sqlite->each_state(s, &mine, ctx);
}

/* F's store goes through the faulty driver, armed to fail after FAIL_AFTER
 * rows of each state read. */
static void faulty_install(struct fx *f, int fail_after)
{
        faulty.sqlite = f->store->ops;
        faulty.ops = *f->store->ops;
        faulty.ops.each_state = faulty_each_state;
        f->store->ops = &faulty.ops;
        faulty.armed = true;
        faulty.fail_after = fail_after;
        faulty.failures = 0;
}

/* How often the state was read from the store (the faulty driver, not armed). */
static int state_reads;

static int counting_each_state(struct rd_store *s, const struct rd_store_state_fns *fns, void *ctx)
{
        state_reads++;
        return faulty.sqlite->each_state(s, fns, ctx);
}

static void a_request_refused_before_it_wrote_does_not_read_the_state_again(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX];
        struct rd_stored st;
        struct rd_error err;
        bool dup;

        fill_family(f, r);
        faulty_install(f, 0);
        faulty.armed = false;
        faulty.ops.each_state = counting_each_state;
        state_reads = 0;
        /* a conflict, an unknown id, a referral with other content under the
         * same ref: each refused before anything was written */
        assert_non_null(refused(f, &(struct rd_update){.id = r[0], .status = RD_STATUS_CLOSED},
                                T0 + HOUR, RD_CONFLICT, "status"));
        assert_non_null(refused(f,
                                &(struct rd_update){.id = "R999999", .status = RD_STATUS_WITHDRAWN},
                                T0 + HOUR, RD_NOT_FOUND, "id"));
        assert_int_equal(submit(f, FAMILY_HIGH("F-1"), T0 + HOUR, &st, &dup, &err), -EEXIST);
        assert_int_equal(err.code, RD_CONFLICT);
        assert_int_equal(state_reads, 0);
        /* a request that wrote and is undone reads it again, once */
        request_begin(f);
        change(f, r[0], RD_STATUS_WITHDRAWN, NULL, T0 + HOUR);
        request_end(f, -EIO);
        assert_int_equal(state_reads, 1);
        assert_hub_matches_store(f);
}

static void a_store_that_cannot_be_read_refuses_rather_than_routing_on_half_a_state(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX];
        struct rd_stored st;
        struct rd_error err;
        const char *m;
        size_t done = 0;
        bool dup;
        int64_t seq;

        fill_family(f, r); /* kelly and sophie full */
        faulty_install(f, 1);
        /* a request that wrote, undone: memory is read again, and the read
         * breaks after one of the four open referrals */
        request_begin(f);
        {
                change(f, r[0], RD_STATUS_WITHDRAWN, NULL, T0 + HOUR);
        }
        request_end(f, -EIO);
        assert_true(faulty.failures > 0);
        seq = rd_store_last_seq(f->store);

        /* a new referral is refused, not offered to a connector that looks
         * free on half a state; nothing of it is stored */
        assert_int_equal(submit(f, FAMILY("F-5"), T0 + HOUR, &st, &dup, &err), -EAGAIN);
        assert_int_equal(err.code, RD_UNAVAILABLE);
        assert_non_null(strstr(err.message, "nothing was stored"));
        EXPECT_NONE(f);
        assert_int_equal(rd_store_find(f->store, "ocmw-genk", "F-5", &st), -ENOENT);
        assert_int_equal(rd_store_last_seq(f->store), seq);
        /* so are an update and a tick, which change nothing either */
        m = refused(f, &(struct rd_update){.id = r[0], .status = RD_STATUS_WITHDRAWN}, T0 + HOUR,
                    RD_UNAVAILABLE, "");
        assert_non_null(strstr(m, "retry"));
        begin(f);
        assert_int_equal(rd_hub_tick(f->hub, T0 + 3 * DAY, 100, &done), -EAGAIN);
        end(f, -EAGAIN);
        EXPECT_NONE(f);
        assert_int_equal(get(f, r[0]).status, RD_STATUS_ASSIGNED);
        assert_int_equal(load(f, "kelly"), 0); /* stale: no load is claimed */
        /* and a caller that shows loads (stats) is told they are unknown */
        assert_int_equal(rd_hub_ready(f->hub, &err), -EAGAIN);
        assert_int_equal(err.code, RD_UNAVAILABLE);

        /* the fault lifted, the next request reads the whole state first:
         * nobody has room, so the new referral waits */
        faulty.armed = false;
        assert_int_equal(rd_hub_ready(f->hub, &err), 0);
        st = sub(f, FAMILY("F-5"), T0 + HOUR);
        EXPECT(f, RECEIVED(st.id), WAITLISTED(st.id));
        assert_int_equal(load(f, "kelly"), 2);
        assert_int_equal(load(f, "sophie"), 2);
        assert_int_equal(tick(f, T0 + 3 * DAY), 4); /* the offers lapse now */
        assert_hub_matches_store(f);
}

static void a_failed_commit_that_cannot_be_read_back_recovers_on_the_next_request(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];

        one_waiting(f, r, w);
        faulty_install(f, 0);
        faulty.armed = false;
        /* a batch that changes memory, then fails to commit, and the state
         * cannot be read back after the rollback */
        begin(f);
        change(f, r[0], RD_STATUS_WITHDRAWN, NULL, T0 + DAY);
        assert_int_equal(load(f, "kelly"), 2); /* W took kelly's place */
        faulty.armed = true;
        end(f, -EIO);
        assert_true(faulty.failures > 0);
        EXPECT_NONE(f);
        assert_int_equal(get(f, r[0]).status, RD_STATUS_ASSIGNED);
        assert_int_equal(get(f, w).status, RD_STATUS_WAITLISTED);

        /* the fault lifted: the same change again serves W again */
        faulty.armed = false;
        ok(f, r[0], "withdrawn", NULL, T0 + DAY);
        EXPECT(f, WITHDRAWN(r[0]), ASSIGNED(w, "kelly"));
        assert_int_equal(load(f, "kelly"), 2);
        assert_hub_matches_store(f);
}

static void a_reload_whose_state_cannot_be_read_keeps_the_rules_in_force(void **state)
{
        struct fx *f = *state;
        char r[4][RD_RID_MAX], w[RD_RID_MAX];
        const struct rd_rules *before;
        struct rd_rules *old = NULL;
        int rc;

        one_waiting(f, r, w);
        before = rd_hub_rules(f->hub);
        faulty_install(f, 2);
        begin(f);
        rc = rd_hub_set_rules(f->hub,
                              load_rules("      - {id: nora, capacity: 1, skills: "
                                         "[family_support], languages: [nl]}\n"),
                              T0 + DAY, &old);
        assert_true(rc < 0);
        assert_null(old);
        faulty.armed = false;
        end(f, rc);
        EXPECT_NONE(f); /* no config.reloaded, W not offered to nora */
        assert_ptr_equal(rd_hub_rules(f->hub), before);
        assert_int_equal(rd_rules_connector_index(rd_hub_rules(f->hub), "nora"), -1);
        assert_int_equal(get(f, w).status, RD_STATUS_WAITLISTED);
        assert_int_equal(load(f, "kelly"), 2);
        /* and the hub routes on as before */
        ok(f, r[0], "withdrawn", NULL, T0 + DAY);
        EXPECT(f, WITHDRAWN(r[0]), ASSIGNED(w, "kelly"));
        assert_hub_matches_store(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(rolled_back_state_equals_state_rebuilt_from_the_store),
                T(a_refused_request_changes_nothing_in_memory_or_store),
                T(a_request_without_a_savepoint_undone_after_it_wrote_takes_its_transaction),
                T(a_restarted_hub_rebuilds_the_waitlist_in_order),
                T(a_request_refused_before_it_wrote_does_not_read_the_state_again),
                T(a_store_that_cannot_be_read_refuses_rather_than_routing_on_half_a_state),
                T(a_failed_commit_that_cannot_be_read_back_recovers_on_the_next_request),
                T(a_reload_whose_state_cannot_be_read_keeps_the_rules_in_force),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
