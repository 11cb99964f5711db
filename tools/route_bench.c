/* referral-route-bench: how fast is one routing decision?
 *
 * Generates a routing file in memory (50 rules with varied `when` keys:
 * kinds, urgencies, partners, postcode ranges, ages, languages, concerns;
 * assign rules over several teams with every assign option; a catch-all)
 * with 100 connectors in 10 teams, loads it with rd_rules_load_buffer,
 * builds a state with random loads, offers, expected ends, round-robin
 * positions and a waitlist, and times rd_route_decide over a pool of
 * random referrals: with a trace (as the daemon decides), with a trace that
 * is also serialised (as the daemon stores it), and without (trace NULL).
 *
 * No daemon, no database, no sockets: only lib/rules and lib/route. */
#include "referral.h"
#include "rng.h"
#include "route.h"
#include "rules.h"
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "referral-route-bench"
#define N_TEAMS 10
#define PER_TEAM 10
#define N_CONNECTORS (N_TEAMS * PER_TEAM)
#define N_RULES 50
#define N_POOL 4096
#define N_WAITING 100
#define NOW_MS INT64_C(1798000000000) /* a fixed "now": 2026-12-23 */
#define DAY_MS INT64_C(86400000)

static const char *const languages[] = {"nl", "fr", "en", "tr", "ar", "it", "pl", "ro"};
static const char *const partners[] = {"ocmw-genk",  "ocmw-hasselt", "clb-genk", "clb-maasland",
                                       "kind-gezin", "huisarts",     "school-x", "politie"};
static const char *const tags[] = {"teen_conflict", "parental_conflict", "school_dropout",
                                   "debt",          "housing",           "addiction",
                                   "violence",      "anxiety",           "grief",
                                   "disability",    "newcomer",          "sleep"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- random ------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
        return tool_rng_next(&rng_state);
}

/* A number in 0..n-1. */
static unsigned below(unsigned n)
{
        return (unsigned)(rnd() % n);
}

static bool chance(unsigned percent)
{
        return below(100) < percent;
}

/* ---- the routing file ---------------------------------------------------- */

struct buf {
        char *s;
        size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        for (;;) {
                va_start(ap, fmt);
                n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
                va_end(ap);
                if (n < 0) {
                        tool_msg(PROG, "formatting failed");
                        exit(1);
                }
                if ((size_t)n < b->cap - b->len)
                        break;
                b->cap = (b->cap + (size_t)n + 1) * 2;
                b->s = realloc(b->s, b->cap);
                if (!b->s) {
                        tool_msg(PROG, "out of memory");
                        exit(1);
                }
        }
        b->len += (size_t)n;
}

/* Teams 0..7 do family support in postcodes 3000+100*i..+99 (some also
 * first-line psychology); teams 8 and 9 are psychologists for the whole
 * region (no postcodes). */
static void gen_teams(struct buf *b)
{
        put(b, "teams:\n");
        for (unsigned t = 0; t < N_TEAMS; t++) {
                bool psy = t >= 8;

                put(b, "  - id: team-%u\n", t);
                if (!psy)
                        put(b, "    postcodes: [\"%u-%u\"]\n", 3000 + 100 * t, 3099 + 100 * t);
                put(b, "    connectors:\n");
                for (unsigned c = 0; c < PER_TEAM; c++) {
                        unsigned l1 = 1 + below(COUNT(languages) - 1);
                        unsigned l2 = 1 + below(COUNT(languages) - 1);

                        put(b,
                            "      - {id: c%02u, capacity: %u, skills: [%s%s], languages: [nl, %s",
                            t * PER_TEAM + c, 3 + below(8),
                            psy ? "first_line_psychology" : "family_support",
                            !psy && chance(20) ? ", first_line_psychology" : "", languages[l1]);
                        if (l2 != l1 && chance(40))
                                put(b, ", %s", languages[l2]);
                        put(b, "]}\n");
                }
        }
}

static void gen_list(struct buf *b, const char *const *v, size_t n, unsigned k)
{
        unsigned first = below((unsigned)n);

        put(b, "[");
        for (unsigned i = 0; i < k && i < n; i++)
                put(b, "%s%s", i ? ", " : "", v[(first + i * 3) % n]);
        put(b, "]");
}

/* A specific rule: a kind and 1 to 3 more keys, assigning to teams that
 * have the skill (or, now and then, forwarding). PSY: first-line
 * psychology (teams 8, 9), else family support (teams 0..7). */
static void gen_specific_rule(struct buf *b, unsigned r)
{
        static const char *const lang[] = {"prefer", "require", "ignore"};
        bool psy = chance(25);
        unsigned keys = 0, region = below(8), n_teams = 1 + below(3);
        bool has_postcode = false;

        put(b, "  - name: rule-%02u\n", r);
        put(b, "    when: {kind: %s", psy ? "first_line_psychology" : "family_support");
        while (keys == 0) {
                if (chance(25)) {
                        put(b, ", urgency: high");
                        keys++;
                }
                if (chance(20)) {
                        put(b, ", partner: ");
                        gen_list(b, partners, COUNT(partners), 1 + below(3));
                        keys++;
                }
                if (chance(35)) {
                        unsigned lo = 3000 + 100 * region;

                        put(b, ", postcode: [\"%u-%u\", \"%u\"]", lo, lo + 99 + 100 * below(2),
                            3000 + below(1000));
                        has_postcode = true;
                        keys++;
                }
                if (chance(30)) {
                        unsigned lo = below(18);

                        put(b, ", age: \"%u-%u\"", lo, lo + below(8));
                        keys++;
                }
                if (chance(25)) {
                        put(b, ", language: ");
                        gen_list(b, languages + 1, COUNT(languages) - 1, 1 + below(2));
                        keys++;
                }
                if (chance(35)) {
                        put(b, ", concerns: ");
                        if (chance(50)) {
                                gen_list(b, tags, COUNT(tags), 1 + below(3));
                        } else {
                                put(b, "{any: ");
                                gen_list(b, tags, COUNT(tags), 2);
                                put(b, ", none: [%s]}", tags[below(COUNT(tags))]);
                        }
                        keys++;
                }
        }
        put(b, "}\n");
        if (chance(12)) {
                put(b, "    forward: {to: fwd-%u, reason: \"a service elsewhere fits better\"}\n",
                    below(3));
                return;
        }
        put(b, "    assign: {teams: [");
        for (unsigned i = 0; i < n_teams; i++)
                put(b, "%steam-%u", i ? ", " : "", psy ? 8 + (region + i) % 2 : (region + i) % 8);
        put(b, "]");
        if (!psy && has_postcode)
                put(b, ", by_postcode: true");
        put(b, ", language: %s", lang[below(3)]);
        if (chance(30))
                put(b, ", pick: round_robin");
        if (chance(20))
                put(b, ", window: %ud", 20 + below(40));
        put(b, "}\n");
        if (chance(50))
                put(b, "    otherwise: {forward: {to: fwd-%u, reason: \"no room in time\"}}\n",
                    below(3));
        else if (chance(50))
                put(b, "    otherwise: waitlist\n");
}

/* crisis; 39 specific rules; 8 regional family rules (two teams each, by
 * postcode); psychology for the region; family support anywhere else in
 * the teams' area; a catch-all forward. 50 rules. */
static char *gen_routing(size_t *len)
{
        struct buf b = {0};
        unsigned r = 1;

        put(&b, "version: 1\n"
                "defaults: {window: 30d, accept_within: 2d, at_risk: 7d, trajectory: 120d}\n");
        gen_teams(&b);
        put(&b, "forward_targets:\n");
        for (unsigned i = 0; i < 3; i++)
                put(&b, "  - {id: fwd-%u, name: \"Forward target %u\"}\n", i, i);
        put(&b, "rules:\n"
                "  - name: crisis\n"
                "    when: {urgency: crisis}\n"
                "    forward: {to: fwd-0, reason: \"acute crisis\"}\n");
        for (; r < 40; r++)
                gen_specific_rule(&b, r);
        for (unsigned t = 0; t < 8; t++, r++)
                put(&b,
                    "  - name: region-%u\n"
                    "    when: {kind: family_support, postcode: [\"%u-%u\"]}\n"
                    "    assign: {teams: [team-%u, team-%u], by_postcode: true, language: %s}\n"
                    "    otherwise: %s\n",
                    t, 3000 + 100 * t, 3099 + 100 * t, t, (t + 1) % 8,
                    chance(50) ? "prefer" : "ignore",
                    chance(50) ? "waitlist"
                               : "{forward: {to: fwd-1, reason: \"no family support in time\"}}");
        put(&b, "  - name: psychology\n"
                "    when: {kind: first_line_psychology, age: \"0-25\"}\n"
                "    assign: {teams: [team-8, team-9]}\n"
                "    otherwise: {forward: {to: fwd-0, reason: \"no psychologist in time\"}}\n");
        put(&b, "  - name: everything-else\n"
                "    forward: {to: fwd-2, reason: \"outside the target group\"}\n");
        *len = b.len;
        return b.s;
}

/* ---- referrals and state ---------------------------------------------------- */

static void gen_referral(struct rd_referral *r, unsigned i)
{
        unsigned pc;

        memset(r, 0, sizeof *r);
        snprintf(r->ref, sizeof r->ref, "BENCH-%u", i);
        snprintf(r->partner, sizeof r->partner, "%s", partners[below(COUNT(partners))]);
        r->kind = chance(80) ? RD_KIND_FAMILY_SUPPORT : RD_KIND_FIRST_LINE_PSYCHOLOGY;
        r->urgency = chance(5)    ? RD_URGENCY_CRISIS
                     : chance(20) ? RD_URGENCY_HIGH
                                  : RD_URGENCY_NORMAL;
        pc = chance(90) ? 3000 + below(1000) : 1000 + below(9000);
        snprintf(r->postcode, sizeof r->postcode, "%u", pc);
        r->n_children = 1 + below(4);
        for (unsigned c = 0; c < r->n_children; c++)
                r->ages[c] = (uint8_t)below(RD_AGE_MAX + 1);
        if (chance(70))
                snprintf(r->language, sizeof r->language, "%s", languages[below(COUNT(languages))]);
        r->n_concerns = below(4);
        for (unsigned c = 0; c < r->n_concerns; c++)
                snprintf(r->concerns[c], sizeof r->concerns[c], "%s", tags[below(COUNT(tags))]);
}

struct bench_state {
        uint32_t load[N_CONNECTORS];
        uint64_t offers[N_CONNECTORS];
        int64_t *ends[N_CONNECTORS];
        size_t n_ends[N_CONNECTORS];
        const char *rr_last[N_RULES];
        size_t wcands[N_WAITING][8];
        struct rd_waiting waiting[N_WAITING];
        struct rd_route_state st;
};

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return x < y ? -1 : x > y;
}

/* Random loads (busier teams further down the file), offers, expected
 * ends between 10 days ago and 150 days ahead, round-robin positions, and
 * a waitlist of N_WAITING referrals with 1 to 8 candidates each. */
static void gen_state(struct bench_state *bs, const struct rd_rules *rules)
{
        memset(bs, 0, sizeof *bs);
        for (size_t i = 0; i < rules->n_connectors && i < N_CONNECTORS; i++) {
                uint32_t cap = rules->connectors[i].capacity;

                /* team t has a connector full with a chance of 10 + 10 t % */
                bs->load[i] =
                        chance(10 + 10 * (unsigned)rules->connectors[i].team) ? cap : below(cap);
                bs->offers[i] = below(200);
                bs->n_ends[i] = bs->load[i];
                bs->ends[i] = calloc(bs->load[i] + 1, sizeof *bs->ends[i]);
                if (!bs->ends[i]) {
                        tool_msg(PROG, "out of memory");
                        exit(1);
                }
                for (size_t k = 0; k < bs->load[i]; k++)
                        bs->ends[i][k] = NOW_MS - 10 * DAY_MS + (int64_t)below(160) * DAY_MS +
                                         (int64_t)below(86400) * 1000;
                qsort(bs->ends[i], bs->load[i], sizeof *bs->ends[i], cmp_i64);
        }
        for (size_t r = 0; r < rules->n_rules && r < N_RULES; r++)
                if (chance(50))
                        bs->rr_last[r] = rules->connectors[below((unsigned)rules->n_connectors)].id;
        for (size_t w = 0; w < N_WAITING; w++) {
                size_t n = 1 + below(8);

                for (size_t k = 0; k < n; k++)
                        bs->wcands[w][k] = below((unsigned)rules->n_connectors);
                bs->waiting[w].candidates = bs->wcands[w];
                bs->waiting[w].n_candidates = n;
        }
        bs->st.load = bs->load;
        bs->st.offers = bs->offers;
        bs->st.ends = (const int64_t *const *)bs->ends;
        bs->st.n_ends = bs->n_ends;
        bs->st.rr_last = bs->rr_last;
        bs->st.waiting = bs->waiting;
        bs->st.n_waiting = N_WAITING;
}

/* ---- timing ------------------------------------------------------------------ */

static double now_s(void)
{
        return (double)tool_mono_ns() / 1e9;
}

enum mode { MODE_NO_TRACE, MODE_TRACE, MODE_TRACE_DUMP };

struct result {
        double seconds;
        uint64_t by_status[RD_STATUS__MAX];
        size_t trace_bytes;
};

static void run(enum mode mode, const struct rd_rules *rules, const struct rd_route_state *st,
                const struct rd_referral *pool, uint64_t n, struct result *res)
{
        double t0;

        memset(res, 0, sizeof *res);
        t0 = now_s();
        for (uint64_t i = 0; i < n; i++) {
                struct rd_decision d;
                json_t *trace = NULL;
                int r = rd_route_decide(&pool[i % N_POOL], rules, st, NOW_MS, &d,
                                        mode == MODE_NO_TRACE ? NULL : &trace);

                if (r < 0) {
                        tool_msg(PROG, "rd_route_decide: %s", strerror(-r));
                        exit(1);
                }
                res->by_status[d.status]++;
                if (mode == MODE_TRACE_DUMP) {
                        char *s = json_dumps(trace, JSON_COMPACT);

                        res->trace_bytes += s ? strlen(s) : 0;
                        free(s);
                }
                json_decref(trace);
        }
        res->seconds = now_s() - t0;
}

static void report(const char *what, uint64_t n, const struct result *res)
{
        double per_s = res->seconds > 0 ? (double)n / res->seconds : 0;

        printf("%-28s %10" PRIu64 " decisions in %7.3f s: %11.0f decisions/s, %8.1f ns/decision",
               what, n, res->seconds, per_s, res->seconds * 1e9 / (double)n);
        if (res->trace_bytes)
                printf(", trace %.0f bytes on average", (double)res->trace_bytes / (double)n);
        putchar('\n');
}

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: referral-route-bench [-n ITERATIONS] [--seed N]\n"
                "\n"
                "Times rd_route_decide on a generated routing file (%d rules, %d connectors in\n"
                "%d teams) with random loads and a waitlist of %d, over a pool of %d random\n"
                "referrals: with the trace (as the daemon decides), with the trace serialised\n"
                "(as the daemon stores it) and without a trace.\n"
                "\n"
                "  -n, --iterations N   decisions per measurement (default 200000)\n"
                "  -s, --seed N         random seed (default 1): the same seed, the same file\n"
                "  -h, --help           this help\n",
                N_RULES, N_CONNECTORS, N_TEAMS, N_WAITING, N_POOL);
}

/* The command line into *N and *SEED; --help exits 0, a usage error 2. */
static void parse_args(int argc, char **argv, unsigned long long *n, unsigned long long *seed)
{
        static const struct option opts[] = {{"iterations", required_argument, NULL, 'n'},
                                             {"seed", required_argument, NULL, 's'},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
        char *end;
        int opt;

        while ((opt = getopt_long(argc, argv, "n:s:h", opts, NULL)) != -1) {
                switch (opt) {
                case 'n':
                        errno = 0;
                        *n = strtoull(optarg, &end, 10);
                        if (errno || *end || !*n || optarg[0] == '-') {
                                tool_msg(PROG, "-n needs a count above 0");
                                exit(EXIT_USAGE);
                        }
                        break;
                case 's':
                        errno = 0;
                        *seed = strtoull(optarg, &end, 10);
                        if (errno || *end || optarg[0] == '-') {
                                tool_msg(PROG, "--seed needs a number");
                                exit(EXIT_USAGE);
                        }
                        break;
                case 'h': usage(stdout); exit(EXIT_OK);
                default: usage(stderr); exit(EXIT_USAGE);
                }
        }
        if (optind != argc) {
                usage(stderr);
                exit(EXIT_USAGE);
        }
}

/* The generated routing file, loaded; its figures printed (with SEED).
 * Exits 1 when it is invalid (a bug of this program). */
static struct rd_rules *load_generated_rules(unsigned long long seed)
{
        struct rd_diag diag = {0};
        struct rd_rules *rules = NULL;
        size_t len;
        char *yaml = gen_routing(&len);
        int r = rd_rules_load_buffer("bench-routing.yaml", yaml, len, &rules, &diag);

        if (r < 0) {
                for (size_t i = 0; i < diag.n; i++)
                        fprintf(stderr, "%s\n", diag.items[i].text);
                tool_msg(PROG, "the generated routing file is invalid");
                exit(EXIT_FAULT);
        }
        printf("routing: %zu rules, %zu teams, %zu connectors, %zu bytes of YAML, %zu "
               "warning(s); seed %llu\n",
               rules->n_rules, rules->n_teams, rules->n_connectors, len, diag.n_warnings, seed);
        rd_diag_clear(&diag);
        free(yaml);
        return rules;
}

/* Time N decisions over POOL in each mode, after a warm-up that says what
 * the decisions were. */
static void measure(const struct rd_rules *rules, const struct rd_route_state *st,
                    const struct rd_referral *pool, uint64_t n)
{
        struct result res;

        /* warm the caches and the allocator */
        run(MODE_TRACE, rules, st, pool, n / 10 + 1, &res);
        printf("decisions: %.1f%% assigned, %.1f%% waitlisted, %.1f%% forwarded\n",
               100.0 * (double)res.by_status[RD_STATUS_ASSIGNED] / (double)(n / 10 + 1),
               100.0 * (double)res.by_status[RD_STATUS_WAITLISTED] / (double)(n / 10 + 1),
               100.0 * (double)res.by_status[RD_STATUS_FORWARDED] / (double)(n / 10 + 1));

        run(MODE_NO_TRACE, rules, st, pool, n, &res);
        report("without trace (NULL):", n, &res);
        run(MODE_TRACE, rules, st, pool, n, &res);
        report("with trace:", n, &res);
        run(MODE_TRACE_DUMP, rules, st, pool, n, &res);
        report("with trace, serialised:", n, &res);
}

int main(int argc, char **argv)
{
        unsigned long long n = 200000, seed = 1;
        struct rd_rules *rules;
        struct bench_state *bs;
        struct rd_referral *pool;

        parse_args(argc, argv, &n, &seed);
        rng_state = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
        rules = load_generated_rules(seed);
        bs = calloc(1, sizeof *bs);
        pool = calloc(N_POOL, sizeof *pool);
        if (!bs || !pool) {
                tool_msg(PROG, "out of memory");
                return EXIT_FAULT;
        }
        gen_state(bs, rules);
        for (unsigned i = 0; i < N_POOL; i++)
                gen_referral(&pool[i], i);
        measure(rules, &bs->st, pool, n);
        for (size_t i = 0; i < N_CONNECTORS; i++)
                free(bs->ends[i]);
        free(bs);
        free(pool);
        rd_rules_free(rules);
        return EXIT_OK;
}
