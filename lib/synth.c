/* synth.c: the synthetic model of a replay (synth.h): the numbers, the
 * file, the arrivals and the answers. */
#include "synth.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "rules_impl.h" /* routing.md's readers of postcodes, ages and language codes */
#include "yaml_reader.h"

/* ---- the numbers ------------------------------------------------------------ */

#define SPLITMIX_GAMMA UINT64_C(0x9E3779B97F4A7C15)
#define LN2_Q64 UINT64_C(0xB17217F7D1CF79AB) /* floor(ln 2 * 2^64) */

uint64_t rd_rng_mix(uint64_t x)
{
        uint64_t z = x + SPLITMIX_GAMMA;

        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        return z ^ (z >> 31);
}

void rd_rng_seed(struct rd_rng *g, uint64_t seed)
{
        for (size_t i = 0; i < 4; i++, seed += SPLITMIX_GAMMA)
                g->s[i] = rd_rng_mix(seed);
}

void rd_rng_seed_key(struct rd_rng *g, uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
        rd_rng_seed(g, rd_rng_mix(rd_rng_mix(rd_rng_mix(seed ^ a) ^ b) ^ c));
}

static uint64_t rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

uint64_t rd_rng_next(struct rd_rng *g)
{
        uint64_t *s = g->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
}

uint64_t rd_rng_below(struct rd_rng *g, uint64_t n)
{
        uint64_t floor_ = n ? -n % n : 0, r; /* 2^64 mod n: the values below it are refused */

        if (n == 0)
                return 0;
        do
                r = rd_rng_next(g);
        while (r < floor_);
        return r % n;
}

/* (A * B + 2^(S-1) when ROUND) >> S, for 0 < S < 64 or S = 64, when the
 * result fits in 64 bits: the 128-bit product from 32-bit halves. */
static uint64_t mul_shift(uint64_t a, uint64_t b, unsigned s, bool round)
{
        uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
        uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
        uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
        uint64_t lo = (mid << 32) | (p00 & 0xffffffffu);
        uint64_t hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);

        if (round) {
                uint64_t half = UINT64_C(1) << (s - 1);

                lo += half;
                hi += lo < half;
        }
        return s == 64 ? hi : (hi << (64 - s)) | (lo >> s);
}

#define FRAC 48 /* fractional bits of a logarithm */

/* log2(K) for 1 <= K <= 2^53 in fixed point with FRAC fractional bits: the
 * whole part from the highest bit, each fractional bit by squaring the
 * mantissa (in [1, 2) with 62 fractional bits) and seeing whether it
 * reached 2. Off by less than 2^-(FRAC-1). */
static uint64_t log2_fixed(uint64_t k)
{
        unsigned e = 63 - (unsigned)__builtin_clzll(k);
        uint64_t m = e > 62 ? k >> (e - 62) : k << (62 - e);
        uint64_t r = (uint64_t)e << FRAC;

        for (int bit = FRAC - 1; bit >= 0; bit--) {
                m = mul_shift(m, m, 62, false);
                if (m >> 63) {
                        m >>= 1;
                        r |= UINT64_C(1) << bit;
                }
        }
        return r;
}

uint64_t rd_rng_exp(struct rd_rng *g, uint64_t mean)
{
        uint64_t k = (rd_rng_next(g) >> 11) + 1;                /* U = k / 2^53 in (0, 1] */
        uint64_t bits = (UINT64_C(53) << FRAC) - log2_fixed(k); /* -log2(U) */
        uint64_t nats = mul_shift(bits, LN2_Q64, 64, false);    /* -ln(U) */

        return mul_shift(mean, nats, FRAC, true);
}

/* ---- reading the file ------------------------------------------------------- */

enum synth_key {
        K_DAYS,
        K_PER_YEAR,
        K_MIX,
        K_POSTCODES,
        K_AGES,
        K_LANGUAGES,
        K_URGENCY,
        K_ACCEPT_AFTER,
        K_START_AFTER,
        K_TRAJECTORY,
        K_DECLINE_SHARE,
        K__MAX
};
static const char *const synth_keys[] = {
        [K_DAYS] = "days",
        [K_PER_YEAR] = "referrals_per_year",
        [K_MIX] = "mix",
        [K_POSTCODES] = "postcodes",
        [K_AGES] = "ages",
        [K_LANGUAGES] = "languages",
        [K_URGENCY] = "urgency",
        [K_ACCEPT_AFTER] = "accept_after",
        [K_START_AFTER] = "start_after",
        [K_TRAJECTORY] = "trajectory",
        [K_DECLINE_SHARE] = "decline_share",
};
RD_TABLE_COVERS(synth_keys, K__MAX);

#define HELP "'synthetic:' with at least 'days' and 'referrals_per_year'"

/* S as a decimal number ("375", "0.72") with at most FRAC digits after the
 * point, times 10^FRAC: true and *OUT, or false (not such a number, or
 * above MAX). */
static bool decimal(const char *s, unsigned frac, uint64_t max, uint64_t *out)
{
        uint64_t v = 0;
        unsigned whole = 0, part = 0;
        bool point = false;

        for (; s && *s; s++) {
                if (*s == '.' && !point && whole) {
                        point = true;
                        continue;
                }
                if (*s < '0' || *s > '9' || (point ? ++part > frac : ++whole > 18 - frac))
                        return false;
                v = v * 10 + (uint64_t)(*s - '0');
        }
        if (!whole || (point && !part))
                return false;
        for (; part < frac; part++)
                v *= 10;
        if (v > max)
                return false;
        *out = v;
        return true;
}

/* A whole number from 1 to MAX at N. */
static bool whole(struct rd_yaml *y, yaml_node_t *n, const char *what, uint64_t max, uint32_t *out)
{
        const char *s = rd_yaml_text(y, n, what);
        uint64_t v;

        if (!s)
                return false;
        if (!decimal(s, 0, max, &v) || v == 0) {
                rd_yaml_error(y, n, "%s: expected a whole number from 1 to %" PRIu64 ", not '%s'",
                              what, max, s);
                return false;
        }
        *out = (uint32_t)v;
        return true;
}

/* A share, from 0 to 1, at N. */
static bool share(struct rd_yaml *y, yaml_node_t *n, const char *what, uint32_t *out)
{
        const char *s = rd_yaml_text(y, n, what);
        uint64_t v;

        if (!s)
                return false;
        if (!decimal(s, RD_SYNTH_SHARE_DECIMALS, RD_SYNTH_SHARE_ONE, &v)) {
                rd_yaml_error(y, n,
                              "%s: expected a share from 0 to 1 with at most %d decimals, like "
                              "0.72, not '%s'",
                              what, RD_SYNTH_SHARE_DECIMALS, s);
                return false;
        }
        *out = (uint32_t)v;
        return true;
}

/* A duration ("2d") at N, in ms. */
static void duration(struct rd_yaml *y, yaml_node_t *n, const char *what, int64_t *ms)
{
        int64_t s;

        if (rd_yaml_duration(y, n, what, &s))
                *ms = s * 1000;
}

/* Do the N shares at V add up to 1 (within the tolerance)? Else reported
 * at the mapping MAP. */
static bool adds_up(struct rd_yaml *y, yaml_node_t *map, const char *what, const uint32_t *v,
                    size_t n)
{
        uint64_t sum = 0;
        char text[32];
        int len;

        for (size_t i = 0; i < n; i++)
                sum += v[i];
        if (sum + RD_SYNTH_SHARE_TOLERANCE >= RD_SYNTH_SHARE_ONE &&
            sum <= RD_SYNTH_SHARE_ONE + RD_SYNTH_SHARE_TOLERANCE)
                return true;
        len = snprintf(text, sizeof text, "%" PRIu64 ".%09" PRIu64, sum / RD_SYNTH_SHARE_ONE,
                       sum % RD_SYNTH_SHARE_ONE);
        while (text[len - 1] == '0') /* "0.900000000" is written 0.9 */
                text[--len] = '\0';
        if (text[len - 1] == '.')
                text[--len] = '\0';
        rd_yaml_error(y, map, "%s: the shares add up to %s; they must add up to 1 (within 0.001)",
                      what, text);
        return false;
}

/* The pairs of the mapping of shares N, each share read: a new array of
 * *NP pairs and their shares in a new array *SHARES_OUT (free both), or
 * NULL (outputs untouched) after reporting: not a mapping, empty, a bad
 * share, shares that do not add up to 1. */
static struct rd_yaml_pair *shares(struct rd_yaml *y, yaml_node_t *n, const char *what,
                                   uint32_t **shares_out, size_t *np)
{
        struct rd_yaml_pair *p;
        uint32_t *v;
        size_t count;
        bool ok = true;

        if (n->type != YAML_MAPPING_NODE) {
                rd_yaml_expected(y, n, what, "a mapping of shares {name: share}");
                return NULL;
        }
        p = rd_yaml_pairs(y, n, &count);
        if (!p) { /* empty, or every key reported, or out of memory (noted) */
                if (n->data.mapping.pairs.top == n->data.mapping.pairs.start)
                        rd_yaml_error(y, n, "%s: give at least one share", what);
                return NULL;
        }
        v = calloc(count, sizeof *v);
        if (!v)
                rd_yaml_nomem(y);
        for (size_t i = 0; v && i < count; i++) {
                char w[96];

                snprintf(w, sizeof w, "%s.%s", what, p[i].key);
                ok = share(y, p[i].v, w, &v[i]) && ok;
        }
        if (!v || !ok || !adds_up(y, n, what, v, count)) {
                free(p);
                free(v);
                return NULL;
        }
        *shares_out = v;
        *np = count;
        return p;
}

/* Shares by the names of an enum (kinds, urgencies) into OUT[N_NAMES]. */
#define ENUM_SHARES_MAX 8
_Static_assert((int)RD_KIND__MAX <= ENUM_SHARES_MAX && (int)RD_URGENCY__MAX <= ENUM_SHARES_MAX,
               "room for the shares of every kind and urgency");
static void enum_shares(struct rd_yaml *y, yaml_node_t *n, const char *what,
                        const char *const *names, size_t n_names, uint32_t *out)
{
        size_t np = 0;
        uint32_t *v = NULL;
        struct rd_yaml_pair *p = shares(y, n, what, &v, &np);
        size_t before = rd_yaml_errors(y);
        uint32_t got[ENUM_SHARES_MAX] = {0};

        for (size_t i = 0; i < np; i++) {
                int idx;

                if (rd_yaml_enum(y, p[i].k, what, names, n_names, &idx))
                        got[idx] = v[i];
        }
        if (p && rd_yaml_errors(y) == before)
                memcpy(out, got, n_names * sizeof *out);
        free(p);
        free(v);
}

/* Shares by language code (checked as routing.md checks one). */
static void language_shares(struct rules_ctx *c, yaml_node_t *n, struct rd_synth_model *m)
{
        size_t np = 0, before = rd_yaml_errors(c->y);
        uint32_t *v = NULL;
        struct rd_yaml_pair *p = shares(c->y, n, "languages", &v, &np);
        char(*codes)[4] = p ? calloc(np, sizeof *codes) : NULL;

        if (p && !codes)
                c->oom = true;
        for (size_t i = 0; codes && i < np; i++) {
                struct rd_strlist code = {0};

                if (rules_strlist(c, p[i].k, "languages", RULES_WORD_LANGUAGE, false, &code))
                        snprintf(codes[i], sizeof codes[i], "%s", code.v[0]);
                rules_strlist_free(&code);
        }
        if (codes && rd_yaml_errors(c->y) == before) {
                free(m->languages);
                free(m->language_shares);
                m->languages = codes;
                m->language_shares = v;
                m->n_languages = np;
                v = NULL;
        } else {
                free(codes);
        }
        free(p);
        free(v);
}

/* The distinct postcodes of the list at N, ascending. */
static void postcodes(struct rules_ctx *c, yaml_node_t *n, struct rd_synth_model *m)
{
        struct rd_postcode_range *r = NULL;
        size_t nr = 0, count = 0;
        bool seen[10000] = {false};
        uint16_t *pc;

        if (!rules_postcodes(c, n, "postcodes", false, &r, &nr, NULL) || !nr) {
                free(r);
                return;
        }
        for (size_t i = 0; i < nr; i++)
                for (unsigned code = r[i].lo; code <= r[i].hi; code++)
                        seen[code] = true;
        for (unsigned code = 1000; code < 10000; code++)
                count += seen[code];
        free(r);
        pc = calloc(count, sizeof *pc);
        if (!pc) {
                c->oom = true;
                return;
        }
        count = 0;
        for (unsigned code = 1000; code < 10000; code++)
                if (seen[code])
                        pc[count++] = (uint16_t)code;
        free(m->postcodes);
        m->postcodes = pc;
        m->n_postcodes = count;
}

static void ages(struct rules_ctx *c, yaml_node_t *n, struct rd_synth_model *m)
{
        struct rd_when w = {0};

        if (rules_age(c, n, &w)) {
                m->age_lo = w.age_lo;
                m->age_hi = w.age_hi;
        }
}

/* The mapping under `synthetic:` into M. */
static void read_model(struct rules_ctx *c, yaml_node_t *n, struct rd_synth_model *m)
{
        const char *kinds[RD_KIND__MAX], *urgencies[RD_URGENCY__MAX];
        struct rd_yaml *y = c->y;
        yaml_node_t *v[K__MAX];

        for (size_t i = 0; i < RD_KIND__MAX; i++)
                kinds[i] = rd_kind_name((enum rd_kind)i);
        for (size_t i = 0; i < RD_URGENCY__MAX; i++)
                urgencies[i] = rd_urgency_name((enum rd_urgency)i);
        if (!rd_yaml_fields(y, n, "synthetic", synth_keys, K__MAX, NULL, v))
                return;
        for (size_t k = K_DAYS; k <= K_PER_YEAR; k++)
                if (!v[k])
                        rd_yaml_error(y, n, "synthetic: missing key '%s'%s", synth_keys[k],
                                      k == K_DAYS ? " (how many days to simulate)"
                                                  : " (arrivals a year)");
        if (v[K_DAYS])
                whole(y, v[K_DAYS], "days", RD_SYNTH_DAYS_MAX, &m->days);
        if (v[K_PER_YEAR])
                whole(y, v[K_PER_YEAR], "referrals_per_year", RD_SYNTH_PER_YEAR_MAX,
                      &m->referrals_per_year);
        if (v[K_MIX])
                enum_shares(y, v[K_MIX], "mix", kinds, RD_KIND__MAX, m->mix);
        if (v[K_POSTCODES])
                postcodes(c, v[K_POSTCODES], m);
        if (v[K_AGES])
                ages(c, v[K_AGES], m);
        if (v[K_LANGUAGES])
                language_shares(c, v[K_LANGUAGES], m);
        if (v[K_URGENCY])
                enum_shares(y, v[K_URGENCY], "urgency", urgencies, RD_URGENCY__MAX, m->urgency);
        if (v[K_ACCEPT_AFTER])
                duration(y, v[K_ACCEPT_AFTER], "accept_after", &m->accept_after_ms);
        if (v[K_START_AFTER])
                duration(y, v[K_START_AFTER], "start_after", &m->start_after_ms);
        if (v[K_TRAJECTORY])
                duration(y, v[K_TRAJECTORY], "trajectory", &m->trajectory_ms);
        if (v[K_DECLINE_SHARE])
                share(y, v[K_DECLINE_SHARE], "decline_share", &m->decline_share);
}

/* A model with tools.md's defaults, or NULL when out of memory. */
static struct rd_synth_model *model_new(void)
{
        static const uint16_t pcs[] = {8500, 8510, 8930};
        struct rd_synth_model *m = calloc(1, sizeof *m);

        if (!m)
                return NULL;
        m->postcodes = malloc(sizeof pcs);
        m->languages = calloc(2, sizeof *m->languages);
        m->language_shares = calloc(2, sizeof *m->language_shares);
        if (!m->postcodes || !m->languages || !m->language_shares) {
                rd_synth_free(m);
                return NULL;
        }
        memcpy(m->postcodes, pcs, sizeof pcs);
        m->n_postcodes = RD_ELEMENTSOF(pcs);
        m->mix[RD_KIND_FAMILY_SUPPORT] = 720000000;
        m->mix[RD_KIND_FIRST_LINE_PSYCHOLOGY] = 280000000;
        m->age_lo = 0;
        m->age_hi = 17;
        memcpy(m->languages[0], "nl", 3);
        memcpy(m->languages[1], "fr", 3);
        m->language_shares[0] = 900000000;
        m->language_shares[1] = 100000000;
        m->n_languages = 2;
        m->urgency[RD_URGENCY_NORMAL] = 900000000;
        m->urgency[RD_URGENCY_HIGH] = 80000000;
        m->urgency[RD_URGENCY_CRISIS] = 20000000;
        m->accept_after_ms = 2 * 86400000LL;
        m->start_after_ms = 5 * 86400000LL;
        m->trajectory_ms = 120 * 86400000LL;
        m->decline_share = 50000000;
        return m;
}

/* Walk Y into a new model; Y's messages go to DIAG and Y is freed. */
static int load(struct rd_yaml *y, struct rd_synth_model **out, struct rd_diag *diag)
{
        static const char *const top[] = {"synthetic"};
        struct rules_ctx c = {.y = y};
        struct rd_synth_model *m = model_new();
        yaml_node_t *root = rd_yaml_root(y), *v[1];
        int rc;

        if (!m)
                rd_yaml_nomem(y);
        else if (rd_yaml_loaded(y) && !root)
                rd_yaml_report(y, RD_DIAG_ERROR, (struct rd_yaml_pos){1, 1},
                               "the file is empty: it needs " HELP);
        else if (root && rd_yaml_fields(y, root, "the file", top, 1, NULL, v) && !v[0])
                rd_yaml_error(y, root, "missing key 'synthetic': the file needs " HELP);
        else if (root && v[0])
                read_model(&c, v[0], m);
        if (c.oom)
                rd_yaml_nomem(y);
        rc = rd_yaml_finish(y, diag);
        if (rc == 0)
                *out = m;
        else
                rd_synth_free(m);
        return rc;
}

int rd_synth_load_file(const char *path, struct rd_synth_model **out, struct rd_diag *diag)
{
        struct rd_yaml *y;
        int rc;

        if (!out)
                return -EINVAL;
        rc = rd_yaml_open_file(path, &y);
        return rc < 0 ? rc : load(y, out, diag);
}

int rd_synth_load_buffer(const char *name, const char *buf, size_t len, struct rd_synth_model **out,
                         struct rd_diag *diag)
{
        struct rd_yaml *y;
        int rc;

        if (!out)
                return -EINVAL;
        rc = rd_yaml_open_buffer(name, buf, len, &y);
        return rc < 0 ? rc : load(y, out, diag);
}

void rd_synth_free(struct rd_synth_model *m)
{
        if (!m)
                return;
        free(m->postcodes);
        free(m->languages);
        free(m->language_shares);
        free(m);
}

/* ---- arrivals ------------------------------------------------------------------ */

/* The streams of one seed: one for the arrival times, one per referral,
 * one per offer. */
enum stream { STREAM_ARRIVALS = 1, STREAM_REFERRAL = 2, STREAM_OFFER = 3 };

#define YEAR_US ((uint64_t)RD_SYNTH_YEAR_DAYS * 86400 * 1000000)

void rd_synth_gen_init(struct rd_synth_gen *g, const struct rd_synth_model *m, uint64_t seed,
                       int64_t start_ms)
{
        *g = (struct rd_synth_gen){.model = m, .seed = seed, .start_ms = start_ms};
        rd_rng_seed_key(&g->arrivals, seed, STREAM_ARRIVALS, 0, 0);
        g->end_us = (uint64_t)m->days * 86400 * 1000000;
        /* rounded to a whole microsecond: the rate bends by 2e-9 at most */
        g->mean_us = (YEAR_US + m->referrals_per_year / 2) / m->referrals_per_year;
}

/* An index into the N shares at V (not all 0), drawn by their size. */
static size_t pick(struct rd_rng *g, const uint32_t *v, size_t n)
{
        uint64_t sum = 0, r;
        size_t i;

        for (i = 0; i < n; i++)
                sum += v[i];
        r = rd_rng_below(g, sum);
        for (i = 0; i + 1 < n && r >= v[i]; i++)
                r -= v[i];
        return i;
}

/* The content of referral NUMBER, drawn from its own stream. */
static void draw_referral(const struct rd_synth_gen *g, uint64_t number, struct rd_referral *r)
{
        const struct rd_synth_model *m = g->model;
        struct rd_rng rng;
        unsigned span = (unsigned)(m->age_hi - m->age_lo) + 1;

        rd_rng_seed_key(&rng, g->seed, STREAM_REFERRAL, number, 0);
        memset(r, 0, sizeof *r);
        snprintf(r->ref, sizeof r->ref, "S%06" PRIu64, number);
        snprintf(r->partner, sizeof r->partner, "%s", RD_SYNTH_PARTNER);
        r->kind = (enum rd_kind)pick(&rng, m->mix, RD_KIND__MAX);
        snprintf(r->postcode, sizeof r->postcode, "%04u",
                 (unsigned)m->postcodes[rd_rng_below(&rng, m->n_postcodes)] % 10000);
        r->n_children = 1 + (unsigned)rd_rng_below(&rng, RD_SYNTH_CHILDREN_MAX);
        for (unsigned i = 0; i < r->n_children; i++)
                r->ages[i] = (uint8_t)(m->age_lo + rd_rng_below(&rng, span));
        memcpy(r->language, m->languages[pick(&rng, m->language_shares, m->n_languages)],
               sizeof r->language);
        r->urgency = (enum rd_urgency)pick(&rng, m->urgency, RD_URGENCY__MAX);
}

int rd_synth_next(struct rd_synth_gen *g, struct rd_synth_arrival *out)
{
        uint64_t t = g->t_us + rd_rng_exp(&g->arrivals, g->mean_us);

        if (g->t_us >= g->end_us || t >= g->end_us) {
                g->t_us = g->end_us; /* over for good */
                return 0;
        }
        g->t_us = t;
        out->number = ++g->n;
        out->at_ms = g->start_ms + (int64_t)(t / 1000);
        draw_referral(g, out->number, &out->referral);
        return 1;
}

/* ---- answers ------------------------------------------------------------------------- */

void rd_synth_answer(const struct rd_synth_model *m, uint64_t seed, uint64_t number, uint32_t offer,
                     struct rd_synth_answer *out)
{
        struct rd_rng rng;

        rd_rng_seed_key(&rng, seed, STREAM_OFFER, number, offer);
        out->decline = rd_rng_below(&rng, RD_SYNTH_SHARE_ONE) < m->decline_share;
        out->answer_ms = (int64_t)rd_rng_exp(&rng, (uint64_t)m->accept_after_ms);
        out->start_ms = (int64_t)rd_rng_exp(&rng, (uint64_t)m->start_after_ms);
        out->trajectory_ms = (int64_t)rd_rng_exp(&rng, (uint64_t)m->trajectory_ms);
}
