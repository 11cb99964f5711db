/* test_figures.c: lib/figures against tools.md's FIGURES ("What-if
 * replay"): a run worked out by hand, the series the charts draw, the
 * nearest-rank percentiles, Little's law on random runs (and that its check
 * catches broken bookkeeping), what does not add up refused, and the
 * `changes` between two runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figures.h"
#include "synth.h" /* the random numbers of the random runs */

#define DAY 86400000LL
#define S 1798761600000LL /* the start: 2027-01-01T00:00:00Z */
#define D(x) (S + (int64_t)((x)*DAY))

static struct rd_figures_acc *new_acc(void)
{
        struct rd_figures_acc *f = NULL;

        assert_int_equal(rd_figures_new(S, &f), 0);
        return f;
}

static size_t connector(struct rd_figures_acc *f, const char *id, const char *team,
                        uint32_t capacity)
{
        size_t i = 99;

        assert_int_equal(rd_figures_connector(f, id, team, capacity, &i), 0);
        return i;
}

static size_t received(struct rd_figures_acc *f, int64_t at, const char *id)
{
        size_t h = 99;

        assert_int_equal(rd_figures_received(f, at, id, &h), 0);
        return h;
}

static void assign(struct rd_figures_acc *f, size_t h, int64_t at, size_t conn, int64_t start_by)
{
        struct rd_figures_decision d = {RD_STATUS_ASSIGNED, conn, NULL, start_by};

        assert_int_equal(rd_figures_decided(f, h, at, &d), 0);
}

static void waitlist_(struct rd_figures_acc *f, size_t h, int64_t at, int64_t start_by)
{
        struct rd_figures_decision d = {RD_STATUS_WAITLISTED, 0, NULL, start_by};

        assert_int_equal(rd_figures_decided(f, h, at, &d), 0);
}

static void forward(struct rd_figures_acc *f, size_t h, int64_t at, const char *to)
{
        struct rd_figures_decision d = {RD_STATUS_FORWARDED, 0, to, 0};

        assert_int_equal(rd_figures_decided(f, h, at, &d), 0);
}

static void update(struct rd_figures_acc *f, size_t h, int64_t at, enum rd_status st)
{
        assert_int_equal(rd_figures_update(f, h, at, st), 0);
}

static void load(struct rd_figures_acc *f, int64_t at, size_t conn, uint64_t n)
{
        assert_int_equal(rd_figures_load(f, at, conn, n), 0);
}

static void waiting(struct rd_figures_acc *f, int64_t at, uint64_t n)
{
        assert_int_equal(rd_figures_waitlist(f, at, n), 0);
}

static void assert_json(json_t *got, const char *want_text)
{
        json_error_t e;
        json_t *want = json_loads(want_text, 0, &e);

        assert_non_null(want);
        if (!got || !json_equal(got, want)) {
                char *g = got ? json_dumps(got, JSON_INDENT(1)) : NULL;
                char *w = json_dumps(want, JSON_INDENT(1));

                print_message("got:\n%s\nwant:\n%s\n", g ? g : "NULL", w);
                free(g);
                free(w);
                fail();
        }
        json_decref(want);
        json_decref(got);
}

/* ---- a run worked out by hand ------------------------------------------------ */

/* Ten days, two connectors, five referrals:
 *   d0   R1 assigned to kelly (window to d30)       kelly 1
 *   d1   R2 forwarded to cgg-limburg
 *   d2   R3 assigned to lien (window to d32)        lien 1;  R1 starts
 *   d3   R4 waits (a window of 2.5 days, to d5.5)   waitlist 1
 *   d4   R3 starts
 *   d5   R1 closes (3 days), R4 is offered to kelly at once: kelly 0 then 1
 *        at the same instant; waitlist 0
 *   d5.5 R4 misses its window
 *   d6   R4 starts, late
 *   d8   R3 is withdrawn after 4 days                lien 0
 *   d9   R5 assigned to kelly                        kelly 2
 *   d10  the end; R4 open for 4 days
 * Trajectories open: 1 on [2,4), 2 on [4,5), 1 on [5,6), 2 on [6,8), 1 on
 * [8,10): 11 days over 10, a mean of 1.1; three started, lengths 3, 4 and
 * 4 days: 11/3 days each; Little: 3 / 10 * 11/3 = 1.1. */
static struct rd_figures_acc *hand_made_run(void)
{
        struct rd_figures_acc *f = new_acc();
        size_t kelly = connector(f, "kelly", "genk", 2), lien = connector(f, "lien", "maas", 1);
        size_t r1, r2, r3, r4, r5;

        r1 = received(f, D(0), "R000001");
        assign(f, r1, D(0), kelly, D(30));
        load(f, D(0), kelly, 1);
        r2 = received(f, D(1), "R000002");
        forward(f, r2, D(1), "cgg-limburg");
        r3 = received(f, D(2), "R000003");
        assign(f, r3, D(2), lien, D(32));
        load(f, D(2), lien, 1);
        update(f, r1, D(2), RD_STATUS_ACCEPTED);
        update(f, r1, D(2), RD_STATUS_STARTED);
        r4 = received(f, D(3), "R000004");
        waitlist_(f, r4, D(3), D(5.5));
        waiting(f, D(3), 1);
        update(f, r3, D(4), RD_STATUS_STARTED);
        update(f, r1, D(5), RD_STATUS_CLOSED);
        load(f, D(5), kelly, 0);
        assign(f, r4, D(5), kelly, D(5.5));
        load(f, D(5), kelly, 1);
        waiting(f, D(5), 0);
        assert_int_equal(rd_figures_missed(f, r4, D(5.5)), 0);
        update(f, r4, D(6), RD_STATUS_STARTED);
        update(f, r3, D(8), RD_STATUS_WITHDRAWN);
        load(f, D(8), lien, 0);
        r5 = received(f, D(9), "R000005");
        assign(f, r5, D(9), kelly, D(39));
        load(f, D(9), kelly, 2);
        assert_int_equal(rd_figures_finish(f, D(10)), 0);
        return f;
}

static void test_a_small_run_gives_the_figures_worked_out_by_hand(void **state)
{
        struct rd_figures_acc *f = hand_made_run();
        struct rd_figures_summary s;

        (void)state;
        assert_json(rd_figures_json(f),
                    "{\"referrals\": 5, \"days\": 10.0,"
                    " \"by_decision\": {\"assigned\": 3, \"waitlisted\": 1, \"forwarded\": 1},"
                    " \"window\": {\"started\": 3, \"in_time\": 2, \"missed\": 1},"
                    " \"time_to_start_s\": {\"p50\": 172800, \"p75\": 259200, \"p90\": 259200},"
                    " \"forwarded_share\": 0.2,"
                    " \"trajectories\": {\"started\": 3, \"closed\": 1, \"mean_open\": 1.1,"
                    "                    \"mean_length_s\": 316800.0},"
                    " \"waitlist\": {\"peak\": 1, \"mean\": 0.2},"
                    " \"connectors\": ["
                    "  {\"id\": \"kelly\", \"team\": \"genk\", \"capacity\": 2, \"peak_load\": 2,"
                    "   \"mean_load\": 1.1},"
                    "  {\"id\": \"lien\", \"team\": \"maas\", \"capacity\": 1, \"peak_load\": 1,"
                    "   \"mean_load\": 0.6}]}");
        assert_int_equal(rd_figures_summary(f, &s), 0);
        assert_int_equal(s.forwarded_any, 1);
        assert_true(fabs(s.mean_open - s.trajectories_started / s.days * s.mean_length_s / 86400) <
                    1e-12);
        rd_figures_free(f);
}

static void test_figures_keep_the_key_order_of_tools_md(void **state)
{
        static const char *const keys[] = {
                "referrals",       "days",         "by_decision", "window",    "time_to_start_s",
                "forwarded_share", "trajectories", "waitlist",    "connectors"};
        struct rd_figures_acc *f = hand_made_run();
        json_t *j = rd_figures_json(f);
        const char *key;
        json_t *v;
        size_t i = 0;

        (void)state;
        json_object_foreach(j, key, v) assert_string_equal(key, keys[i++]);
        assert_int_equal(i, sizeof keys / sizeof keys[0]);
        json_decref(j);
        rd_figures_free(f);
}

static void test_loads_and_the_waitlist_are_step_functions_with_a_point_per_change(void **state)
{
        struct rd_figures_acc *f = hand_made_run();
        struct rd_figures_connector_view k, l;
        struct rd_figures_series w;
        const int64_t *tts;
        size_t n;

        (void)state;
        assert_int_equal(rd_figures_connector_view(f, 0, &k), 0);
        assert_int_equal(rd_figures_connector_view(f, 1, &l), 0);
        assert_int_equal(rd_figures_connector_view(f, 2, &l), -EINVAL);
        assert_int_equal(rd_figures_connector_view(f, 1, &l), 0);
        /* kelly: 1 from the start (set at it), 0 and 1 again at d5 (no
         * step: it never stood), 2 from d9 */
        assert_int_equal(k.load.n, 2);
        assert_int_equal(k.load.v[0].at_ms, S);
        assert_int_equal(k.load.v[0].value, 1);
        assert_int_equal(k.load.v[1].at_ms, D(9));
        assert_int_equal(k.load.v[1].value, 2);
        assert_int_equal(l.load.n, 3);
        assert_int_equal(l.load.v[1].at_ms, D(2));
        assert_int_equal(l.load.v[2].at_ms, D(8));
        assert_int_equal(l.load.v[2].value, 0);
        assert_int_equal(rd_figures_waitlist_series(f, &w), 0);
        assert_int_equal(w.n, 3);
        assert_int_equal(rd_figures_times_to_start(f, &tts, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(tts[0], 2 * DAY);
        assert_int_equal(tts[2], 3 * DAY);
        assert_json(rd_figures_series_json(f),
                    "{\"start\": \"2027-01-01T00:00:00.000Z\", \"end\": "
                    "\"2027-01-11T00:00:00.000Z\","
                    " \"waitlist\": [[0, 0], [259200, 1], [432000, 0]],"
                    " \"connectors\": ["
                    "  {\"id\": \"kelly\", \"team\": \"genk\", \"capacity\": 2,"
                    "   \"load\": [[0, 1], [777600, 2]]},"
                    "  {\"id\": \"lien\", \"team\": \"maas\", \"capacity\": 1,"
                    "   \"load\": [[0, 0], [172800, 1], [691200, 0]]}],"
                    " \"time_to_start_s\": [172800, 172800, 259200]}");
        rd_figures_free(f);
}

static void test_a_peak_counts_only_a_value_that_stood(void **state)
{
        struct rd_figures_acc *f = new_acc();
        size_t c = connector(f, "kelly", "genk", 6);
        struct rd_figures_connector_view v;
        struct rd_figures_summary s;

        (void)state;
        load(f, D(1), c, 5);
        load(f, D(2), c, 9); /* replaced at once */
        load(f, D(2), c, 4);
        waiting(f, D(3), 7);
        assert_int_equal(rd_figures_finish(f, D(3)), 0); /* 7 stands at the end */
        assert_int_equal(rd_figures_connector_view(f, c, &v), 0);
        assert_int_equal(v.peak_load, 5);
        assert_true(fabs(v.mean_load - (5.0 + 4.0) / 3) < 1e-12);
        assert_int_equal(rd_figures_summary(f, &s), 0);
        assert_int_equal(s.waitlist_peak, 7);
        assert_true(s.waitlist_mean == 0);
        rd_figures_free(f);
}

static void test_times_to_start_take_the_nearest_rank(void **state)
{
        /* n sorted values, rank ceil(p/100 * n): for 1..10 s, p50 is the
         * 5th, p75 the 8th, p90 the 9th; for one value, that value */
        static const struct {
                size_t n;
                int64_t p50, p75, p90;
        } cases[] = {{10, 5, 8, 9}, {1, 1, 1, 1}, {4, 2, 3, 4}, {100, 50, 75, 90}, {3, 2, 3, 3}};

        (void)state;
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
                struct rd_figures_acc *f = new_acc();
                struct rd_figures_summary s;
                size_t h[100];
                char id[32];

                for (size_t i = 0; i < cases[c].n; i++) {
                        snprintf(id, sizeof id, "R%zu", i);
                        h[i] = received(f, S, id);
                        waitlist_(f, h[i], S, D(30));
                }
                /* the last received starts first: sorted all the same; each
                 * 999 ms past a whole second, which the figures drop */
                for (size_t i = cases[c].n; i-- > 0;)
                        update(f, h[i], S + (int64_t)(cases[c].n - i) * 1000 + 999,
                               RD_STATUS_STARTED);
                assert_int_equal(rd_figures_finish(f, D(1)), 0);
                assert_int_equal(rd_figures_summary(f, &s), 0);
                assert_int_equal(s.p50_s, cases[c].p50);
                assert_int_equal(s.p75_s, cases[c].p75);
                assert_int_equal(s.p90_s, cases[c].p90);
                rd_figures_free(f);
        }
}

static void test_an_empty_run_has_null_where_a_figure_is_undefined(void **state)
{
        struct rd_figures_acc *f = new_acc();

        (void)state;
        assert_null(rd_figures_json(f)); /* not before the end */
        assert_int_equal(rd_figures_finish(f, D(7)), 0);
        assert_json(rd_figures_json(f),
                    "{\"referrals\": 0, \"days\": 7.0,"
                    " \"by_decision\": {\"assigned\": 0, \"waitlisted\": 0, \"forwarded\": 0},"
                    " \"window\": {\"started\": 0, \"in_time\": 0, \"missed\": 0},"
                    " \"time_to_start_s\": {\"p50\": null, \"p75\": null, \"p90\": null},"
                    " \"forwarded_share\": null,"
                    " \"trajectories\": {\"started\": 0, \"closed\": 0, \"mean_open\": 0.0,"
                    "                    \"mean_length_s\": null},"
                    " \"waitlist\": {\"peak\": 0, \"mean\": 0.0}, \"connectors\": []}");
        rd_figures_free(f);
}

/* ---- Little's law ----------------------------------------------------------------- */

/* How far a run's figures are from Little's law, relative. */
static double little_gap(const struct rd_figures_summary *s)
{
        double little = (double)s->trajectories_started / s->days * s->mean_length_s / 86400;

        return fabs(s->mean_open - little) / (s->mean_open > 1 ? s->mean_open : 1);
}

#define LITTLE_TOLERANCE 1e-9 /* "up to rounding": doubles of whole ms sums */

/* What a random run did, worked out apart from the accumulator. */
struct truth {
        uint64_t lengths;       /* ms, every trajectory, open ones to the end */
        uint64_t lengths_ended; /* ms, only those that ended (a wrong definition) */
        uint64_t reassigned;    /* ms, from a reassignment to the next close or withdrawal */
        uint64_t started, open_at_end, reassignments;
};

struct rref {
        size_t h;
        bool open, final;
        int64_t since;
        int64_t reassigned_at; /* -1: not reassigned while started */
};

/* A random run under way: the referrals so far and what they did. */
struct run {
        struct rd_figures_acc *f;
        struct rd_rng g;
        struct rref *r;
        size_t nr;
        int64_t at;
        struct truth *t;
};

#define CONNS 3

/* A new referral, forwarded or assigned. */
static void random_arrival(struct run *u)
{
        struct rref *x = &u->r[u->nr];
        char id[32];

        snprintf(id, sizeof id, "R%06zu", ++u->nr);
        *x = (struct rref){.h = received(u->f, u->at, id), .reassigned_at = -1};
        if (rd_rng_below(&u->g, 10) == 0) {
                forward(u->f, x->h, u->at, "elsewhere");
                x->final = true;
        } else {
                assign(u->f, x->h, u->at, rd_rng_below(&u->g, CONNS), u->at + 30 * DAY);
        }
}

/* Trajectory of X ends now (a close, withdrawal or reassignment). */
static void random_end(struct run *u, struct rref *x)
{
        u->t->lengths += (uint64_t)(u->at - x->since);
        u->t->lengths_ended += (uint64_t)(u->at - x->since);
        x->open = false;
}

/* WHAT (1..7) happens to X, if it can: a start, close, withdrawal or
 * reassignment; then loads and the waitlist change at random. */
static void random_event(struct run *u, struct rref *x, uint64_t what)
{
        if (!x->open && what <= 4) {
                update(u->f, x->h, u->at, RD_STATUS_STARTED);
                x->open = true;
                x->since = u->at;
                u->t->started++;
        } else if (x->open && what <= 5) {
                update(u->f, x->h, u->at, what == 5 ? RD_STATUS_WITHDRAWN : RD_STATUS_CLOSED);
                random_end(u, x);
                x->final = true;
        } else if (x->open && what == 6) { /* a coordinator reassigns it */
                assign(u->f, x->h, u->at, rd_rng_below(&u->g, CONNS), u->at + 30 * DAY);
                random_end(u, x);
                u->t->reassignments++;
                x->reassigned_at = u->at;
        } else if (!x->open && what == 7) {
                update(u->f, x->h, u->at, RD_STATUS_WITHDRAWN);
                x->final = true;
        }
        if (x->final && x->reassigned_at >= 0)
                u->t->reassigned += (uint64_t)(u->at - x->reassigned_at);
        load(u->f, u->at, rd_rng_below(&u->g, CONNS), rd_rng_below(&u->g, 4));
        waiting(u->f, u->at, rd_rng_below(&u->g, 5));
}

/* A random run of N events over three connectors, ended at *END; what it
 * did in *T. */
static struct rd_figures_acc *random_run(uint64_t seed, size_t n, int64_t *end, struct truth *t)
{
        struct run u = {.f = new_acc(), .r = calloc(n, sizeof *u.r), .at = S, .t = t};

        rd_rng_seed(&u.g, seed);
        memset(t, 0, sizeof *t);
        connector(u.f, "a", "t1", 3);
        connector(u.f, "b", "t1", 3);
        connector(u.f, "c", "t2", 3);
        for (size_t i = 0; i < n; i++) {
                struct rref *x = u.nr ? &u.r[rd_rng_below(&u.g, u.nr)] : NULL;
                uint64_t what = rd_rng_below(&u.g, 8);

                if (rd_rng_below(&u.g, 4)) /* else at the same instant */
                        u.at += (int64_t)rd_rng_exp(&u.g, 3600000);
                if (!x || what == 0)
                        random_arrival(&u);
                else if (!x->final)
                        random_event(&u, x, what);
        }
        *end = u.at + (int64_t)rd_rng_exp(&u.g, DAY);
        for (size_t i = 0; i < u.nr; i++) {
                if (u.r[i].open) {
                        t->lengths += (uint64_t)(*end - u.r[i].since);
                        t->open_at_end++;
                }
                if (!u.r[i].final && u.r[i].reassigned_at >= 0)
                        t->reassigned += (uint64_t)(*end - u.r[i].reassigned_at);
        }
        free(u.r);
        assert_int_equal(rd_figures_finish(u.f, *end), 0);
        return u.f;
}

static void test_littles_law_holds_on_random_runs_that_start_empty(void **state)
{
        (void)state;
        for (uint64_t seed = 1; seed <= 200; seed++) {
                struct truth t;
                int64_t end;
                struct rd_figures_acc *f = random_run(seed, 40 + seed * 10, &end, &t);
                struct rd_figures_summary s;
                double span = (double)(end - S);
                json_t *j = rd_figures_json(f);

                assert_non_null(j);
                json_decref(j);
                assert_int_equal(rd_figures_summary(f, &s), 0);
                assert_int_equal(s.trajectories_started, t.started);
                /* the figures as defined, worked out apart */
                assert_true(fabs(s.mean_open - (double)t.lengths / span) <=
                            1e-12 * (1 + s.mean_open));
                if (t.started)
                        assert_true(fabs(s.mean_length_s -
                                         (double)t.lengths / (double)t.started / 1000) <=
                                    1e-12 * s.mean_length_s);
                if (little_gap(&s) > LITTLE_TOLERANCE)
                        fail_msg("seed %llu: mean_open %.15g, Little %.15g",
                                 (unsigned long long)seed, s.mean_open,
                                 (double)s.trajectories_started / s.days * s.mean_length_s / 86400);
                rd_figures_free(f);
        }
}

static void test_littles_law_fails_when_the_bookkeeping_is_broken(void **state)
{
        /* the check is not vacuous: each way of getting the bookkeeping
         * wrong that a replay could fall into breaks it */
        size_t broken_lengths = 0, open_at_end = 0, broken_reassign = 0, reassigned = 0;

        (void)state;
        for (uint64_t seed = 1; seed <= 50; seed++) {
                struct truth t;
                int64_t end;
                struct rd_figures_acc *f = random_run(seed, 400, &end, &t);
                struct rd_figures_summary s, wrong;

                assert_int_equal(rd_figures_summary(f, &s), 0);
                assert_true(little_gap(&s) <= LITTLE_TOLERANCE);
                if (t.open_at_end) { /* lengths of open trajectories left out */
                        wrong = s;
                        wrong.mean_length_s = (double)t.lengths_ended / (double)t.started / 1000;
                        broken_lengths += little_gap(&wrong) > LITTLE_TOLERANCE;
                        open_at_end++;
                }
                if (t.reassignments) { /* a reassignment that does not end the trajectory */
                        wrong = s;
                        wrong.mean_open += (double)t.reassigned / (double)(end - S);
                        broken_reassign += little_gap(&wrong) > LITTLE_TOLERANCE;
                        reassigned++;
                }
                rd_figures_free(f);
        }
        assert_in_range(open_at_end, 25, 50); /* the runs tried both */
        assert_in_range(reassigned, 25, 50);
        assert_int_equal(broken_lengths, open_at_end);
        assert_int_equal(broken_reassign, reassigned);
}

static void
test_a_run_that_does_not_start_empty_counts_its_open_trajectories_in_mean_open_only(void **state)
{
        struct rd_figures_acc *f = new_acc();
        struct rd_figures_summary s;
        size_t old, older, h;

        (void)state;
        assert_int_equal(rd_figures_existing(f, "R000001", true, &old), 0);
        assert_int_equal(rd_figures_existing(f, "R000002", false, &older), 0);
        h = received(f, D(0), "R000003");
        assert_int_equal(rd_figures_existing(f, "R000004", true, &h), 0); /* still at the start */
        h = received(f, D(1), "R000005");
        assign(f, h, D(1), connector(f, "kelly", "genk", 6), D(31));
        assert_int_equal(rd_figures_existing(f, "R000006", true, &h), -EINVAL); /* too late */
        update(f, h, D(2), RD_STATUS_STARTED);
        update(f, old, D(4), RD_STATUS_CLOSED);
        update(f, older, D(5), RD_STATUS_STARTED); /* a trajectory of the span */
        assert_int_equal(rd_figures_finish(f, D(10)), 0);
        assert_int_equal(rd_figures_summary(f, &s), 0);
        assert_int_equal(s.referrals, 2);
        assert_int_equal(s.window_started, 1); /* R000005 only */
        assert_int_equal(s.trajectories_started, 2);
        assert_int_equal(s.trajectories_closed, 0); /* R000001's began before */
        /* open: R1 on [0,4), R4 on [0,10), R5 on [2,10), R2 on [5,10) */
        assert_true(fabs(s.mean_open - 2.7) < 1e-12);
        assert_true(fabs(s.mean_length_s - 6.5 * 86400) < 1e-6);
        assert_true(little_gap(&s) > 0.5); /* the law is for runs that start empty */
        rd_figures_free(f);
}

/* ---- bookkeeping that does not add up ----------------------------------------------- */

static void test_what_does_not_add_up_is_refused_and_changes_nothing(void **state)
{
        struct rd_figures_acc *f = new_acc();
        size_t c = connector(f, "kelly", "genk", 6), h, done, fw, x;
        struct rd_figures_decision bad_conn = {RD_STATUS_ASSIGNED, 7, NULL, D(30)};
        struct rd_figures_decision bad_status = {RD_STATUS_STARTED, c, NULL, D(30)};
        struct rd_figures_decision no_target = {RD_STATUS_FORWARDED, c, "", 0};
        struct rd_figures_summary s;

        (void)state;
        assert_int_equal(rd_figures_received(f, S - 1, "R0", &x), -EINVAL); /* before the start */
        assert_int_equal(rd_figures_received(f, S, "", &x), -EINVAL);
        h = received(f, D(1), "R1");
        assert_int_equal(rd_figures_received(f, D(0.5), "R2", &x), -EINVAL); /* time goes back */
        assert_int_equal(rd_figures_decided(f, h, D(1), &bad_conn), -EINVAL);
        assert_int_equal(rd_figures_decided(f, h, D(1), &bad_status), -EINVAL);
        assert_int_equal(rd_figures_decided(f, h, D(1), &no_target), -EINVAL);
        assert_int_equal(rd_figures_decided(f, 5, D(1), &bad_conn), -EINVAL); /* no handle 5 */
        assign(f, h, D(1), c, D(31));
        assert_int_equal(rd_figures_update(f, h, D(2), RD_STATUS_CLOSED),
                         -EINVAL); /* not started */
        assert_int_equal(rd_figures_update(f, h, D(2), RD_STATUS_ASSIGNED), -EINVAL);
        update(f, h, D(2), RD_STATUS_STARTED);
        assert_int_equal(rd_figures_update(f, h, D(2), RD_STATUS_STARTED), -EINVAL); /* twice */
        assert_int_equal(rd_figures_load(f, D(2), 1, 3), -EINVAL); /* no connector 1 */
        done = received(f, D(3), "R3");
        assign(f, done, D(3), c, D(33));
        update(f, done, D(3), RD_STATUS_WITHDRAWN);
        assert_int_equal(rd_figures_update(f, done, D(4), RD_STATUS_STARTED), -EINVAL); /* final */
        assert_int_equal(rd_figures_missed(f, done, D(4)), -EINVAL);
        fw = received(f, D(3), "R4");
        forward(f, fw, D(3), "caw");
        assert_int_equal(rd_figures_decided(f, fw, D(4),
                                            &(struct rd_figures_decision){RD_STATUS_WAITLISTED, 0,
                                                                          NULL, D(34)}),
                         -EINVAL);
        assert_int_equal(rd_figures_existing(f, "R5", true, &x), -EINVAL); /* after the start */
        assert_int_equal(rd_figures_finish(f, D(2)), -EINVAL);             /* before the last */
        assert_int_equal(rd_figures_summary(f, &s), -EINVAL);              /* not yet */
        assert_int_equal(rd_figures_finish(f, D(4)), 0);
        assert_int_equal(rd_figures_finish(f, D(5)), -EINVAL); /* twice */
        assert_int_equal(rd_figures_waitlist(f, D(5), 1), -EINVAL);
        assert_int_equal(rd_figures_connector(f, "new", "genk", 1, &x), -EINVAL);
        /* what was refused left no trace */
        assert_int_equal(rd_figures_summary(f, &s), 0);
        assert_int_equal(s.referrals, 3);
        assert_int_equal(s.assigned, 2);
        assert_int_equal(s.waitlisted, 0);
        assert_int_equal(s.forwarded, 1);
        assert_int_equal(s.trajectories_started, 1);
        assert_int_equal(s.trajectories_closed, 0);
        assert_true(fabs(s.mean_open - 0.5) < 1e-12); /* R1 on [2,4) of 4 days */
        rd_figures_free(f);
}

/* ---- changes ---------------------------------------------------------------------------- */

/* Two runs of the same referrals: the baseline *B, the candidate *C.
 * R1 was open at the start; R2 goes to kelly in both; R3 to kelly, then to
 * lien; R4 waits, then is forwarded; R5 is forwarded to two places; R6
 * waits in both and is served by others later (not a change of its first
 * decision). The connectors are the same, added in another order. */
static void two_runs(struct rd_figures_acc **b, struct rd_figures_acc **c)
{
        size_t h;

        *b = new_acc();
        *c = new_acc();
        connector(*b, "kelly", "genk", 6);
        connector(*b, "lien", "maas", 6);
        connector(*c, "lien", "maas", 6);
        connector(*c, "kelly", "genk", 6);
        for (int run = 0; run < 2; run++) {
                struct rd_figures_acc *f = run ? *c : *b;

                assert_int_equal(rd_figures_existing(f, "R000001", true, &h), 0);
                h = received(f, D(1), "R000002");
                assign(f, h, D(1), run ? 1 : 0, D(31));
                h = received(f, D(2), "R000003");
                assign(f, h, D(2), 0, D(32));
                h = received(f, D(3), "R000004");
                if (run)
                        forward(f, h, D(3), "cgg-limburg");
                else
                        waitlist_(f, h, D(3), D(33));
                h = received(f, D(4), "R000005");
                forward(f, h, D(4), run ? "caw-limburg" : "cgg-limburg");
                h = received(f, D(5), "R000006");
                waitlist_(f, h, D(5), D(35));
                assign(f, h, D(6), 0, D(35));
        }
}

static void test_changes_list_the_referrals_whose_first_decision_differs(void **state)
{
        struct rd_figures_acc *b, *c;
        json_t *changes = NULL;
        size_t n = 99;
        struct rd_figures_first first;

        (void)state;
        two_runs(&b, &c);
        assert_int_equal(rd_figures_first(c, 2, &first), 0);
        assert_string_equal(first.id, "R000003");
        assert_int_equal(first.status, RD_STATUS_ASSIGNED);
        assert_string_equal(first.connector, "lien");
        assert_string_equal(first.team, "maas");
        assert_null(first.forward_to);
        assert_int_equal(rd_figures_changes(b, c, &changes, &n), 0); /* also before the end */
        assert_int_equal(n, 3);
        assert_json(changes,
                    "[{\"id\": \"R000003\","
                    "  \"baseline\": {\"status\": \"assigned\", \"team\": \"genk\","
                    "                \"connector\": \"kelly\", \"forward_to\": null},"
                    "  \"candidate\": {\"status\": \"assigned\", \"team\": \"maas\","
                    "                 \"connector\": \"lien\", \"forward_to\": null}},"
                    " {\"id\": \"R000004\","
                    "  \"baseline\": {\"status\": \"waitlisted\", \"team\": null,"
                    "                \"connector\": null, \"forward_to\": null},"
                    "  \"candidate\": {\"status\": \"forwarded\", \"team\": null,"
                    "                 \"connector\": null, \"forward_to\": \"cgg-limburg\"}},"
                    " {\"id\": \"R000005\","
                    "  \"baseline\": {\"status\": \"forwarded\", \"team\": null,"
                    "                \"connector\": null, \"forward_to\": \"cgg-limburg\"},"
                    "  \"candidate\": {\"status\": \"forwarded\", \"team\": null,"
                    "                 \"connector\": null, \"forward_to\": \"caw-limburg\"}}]");
        rd_figures_free(b);
        rd_figures_free(c);
}

static void test_changes_refuse_runs_of_other_referrals(void **state)
{
        struct rd_figures_acc *b = new_acc(), *c = new_acc();
        json_t *changes = NULL;
        size_t n = 99;

        (void)state;
        received(b, D(1), "R000001");
        assert_int_equal(rd_figures_changes(b, c, &changes, &n), -EINVAL);
        received(c, D(1), "R000002");
        assert_int_equal(rd_figures_changes(b, c, &changes, &n), -EINVAL);
        assert_null(changes);
        assert_int_equal(n, 99);
        rd_figures_free(b);
        rd_figures_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_a_small_run_gives_the_figures_worked_out_by_hand),
                cmocka_unit_test(test_figures_keep_the_key_order_of_tools_md),
                cmocka_unit_test(
                        test_loads_and_the_waitlist_are_step_functions_with_a_point_per_change),
                cmocka_unit_test(test_a_peak_counts_only_a_value_that_stood),
                cmocka_unit_test(test_times_to_start_take_the_nearest_rank),
                cmocka_unit_test(test_an_empty_run_has_null_where_a_figure_is_undefined),
                cmocka_unit_test(test_littles_law_holds_on_random_runs_that_start_empty),
                cmocka_unit_test(test_littles_law_fails_when_the_bookkeeping_is_broken),
                cmocka_unit_test(
                        test_a_run_that_does_not_start_empty_counts_its_open_trajectories_in_mean_open_only),
                cmocka_unit_test(test_what_does_not_add_up_is_refused_and_changes_nothing),
                cmocka_unit_test(test_changes_list_the_referrals_whose_first_decision_differs),
                cmocka_unit_test(test_changes_refuse_runs_of_other_referrals),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
