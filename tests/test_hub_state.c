/* test_hub_state.c: the hub's memory against the store: what a rolled
 * back request or batch leaves, a restart, and a store that cannot be read
 * (the hub rebuilds or refuses). The fixture: hub_fixture.h. */
#include "hub_fixture.h"

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

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(rolled_back_state_equals_state_rebuilt_from_the_store),
                T(a_refused_request_changes_nothing_in_memory_or_store),
                T(a_restarted_hub_rebuilds_the_waitlist_in_order),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
