/* synth.h: the synthetic model of `referralctl replay --synthetic`
 * (tools.md, "What-if replay", "Synthetic"): a region described by a few
 * numbers instead of a history, and the seeded draws a replay makes from it.
 *
 * Loading: the `synthetic:` file read with lib/yaml_reader (its limits,
 * positions and wording), every problem as "FILE:LINE:COLUMN: message";
 * postcodes and ages are read as routing.md writes them (lib/rules' own
 * readers). Every key but `days` and `referrals_per_year` may be left out;
 * tools.md's defaults then apply.
 *
 * Drawing: integers only, so that one seed gives the same referrals and
 * answers on every machine and with every compiler (no libm, no floating
 * point at all):
 *   - the generator is xoshiro256** (Blackman and Vigna, 2018), its state
 *     filled from splitmix64 (Steele, Lea and Flood, 2014);
 *   - a whole number below N by rejection (unbiased);
 *   - an exponential draw with mean M as round(M * -ln(U)), U = k / 2^53
 *     for k uniform in 1..2^53, -ln(U) computed in fixed point: log2(k)
 *     to 48 fractional bits by repeated squaring (64-by-64-bit products,
 *     truncated), times ln 2 (64 bits), then rounded half up to a whole
 *     unit of M. Before rounding it is off by less than M * 2^-46 (a
 *     microsecond on a mean of two years): the draw is M * -ln(U) rounded
 *     to the nearest unit, except within that distance of a half.
 *   - a share is a whole number of billionths (RD_SYNTH_SHARE_ONE is 1);
 *     a choice by shares draws below their sum and walks them in order.
 * Each referral draws from its own stream, keyed by (seed, its number), and
 * each offer's answer from (seed, referral number, offer number): a replay
 * under two routing files asks the same questions and gets the same
 * answers, whatever else differs. No clock, no logging, no I/O besides
 * reading the file. */
#ifndef RD_SYNTH_H
#define RD_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "referral.h"

/* ---- the pseudo-random numbers ------------------------------------------- */

struct rd_rng {
        uint64_t s[4]; /* xoshiro256** state, never all zero */
};

/* splitmix64's output function: a well-mixed value from X (what splitmix64
 * returns after its state became X + 0x9E3779B97F4A7C15). */
uint64_t rd_rng_mix(uint64_t x);

/* Fill G from SEED: four successive splitmix64 outputs starting at SEED. */
void rd_rng_seed(struct rd_rng *g, uint64_t seed);

/* Fill G from a key: SEED and the numbers A, B and C, each mixed in after
 * the other (x = rd_rng_mix(x ^ next)), then as rd_rng_seed. One stream
 * per (seed, a, b, c). */
void rd_rng_seed_key(struct rd_rng *g, uint64_t seed, uint64_t a, uint64_t b, uint64_t c);

/* The next 64 bits of G (xoshiro256**). */
uint64_t rd_rng_next(struct rd_rng *g);

/* A whole number uniform in 0..N-1 (N > 0; 0 when N is 0). */
uint64_t rd_rng_below(struct rd_rng *g, uint64_t n);

/* An exponential draw with mean MEAN (any unit, MEAN < 2^45), rounded to a
 * whole unit as described above: 0 or more, about 37 * MEAN at most. */
uint64_t rd_rng_exp(struct rd_rng *g, uint64_t mean);

/* ---- the model ----------------------------------------------------------- */

#define RD_SYNTH_SHARE_ONE 1000000000u    /* a share of 1, in billionths */
#define RD_SYNTH_SHARE_TOLERANCE 1000000u /* shares add up to 1 +- 0.001 */
#define RD_SYNTH_SHARE_DECIMALS 9         /* digits after the point */
#define RD_SYNTH_DAYS_MAX 3660            /* ten years */
#define RD_SYNTH_PER_YEAR_MAX 100000      /* referrals a year */
#define RD_SYNTH_YEAR_DAYS 365            /* referrals_per_year is per 365 days */
#define RD_SYNTH_CHILDREN_MAX 3           /* one to three children each */
#define RD_SYNTH_PARTNER "synthetic"      /* the partner of every referral */

/* A model as loaded: every value given or defaulted. */
struct rd_synth_model {
        uint32_t days;                     /* 1..RD_SYNTH_DAYS_MAX */
        uint32_t referrals_per_year;       /* 1..RD_SYNTH_PER_YEAR_MAX */
        uint32_t mix[RD_KIND__MAX];        /* shares, by kind */
        uint16_t *postcodes;               /* the distinct postcodes of the list, ascending */
        size_t n_postcodes;                /* at least 1 */
        uint8_t age_lo, age_hi;            /* inclusive, 0..RD_AGE_MAX */
        char (*languages)[4];              /* [a-z]{2,3}, file order */
        uint32_t *language_shares;         /* one per language */
        size_t n_languages;                /* at least 1 */
        uint32_t urgency[RD_URGENCY__MAX]; /* shares, by urgency */
        int64_t accept_after_ms;           /* mean, offer to answer */
        int64_t start_after_ms;            /* mean, accept to start */
        int64_t trajectory_ms;             /* mean, start to close */
        uint32_t decline_share;            /* of offers, in billionths */
};

/* Load the model at PATH (named so in every message). Every problem goes to
 * DIAG (may be NULL), sorted by position. Returns 0 and a new model in *OUT
 * (free with rd_synth_free) when there is no error; else *OUT untouched and
 * -EINVAL for a file with an error, the errno of a file that cannot be read
 * (-ENOENT, -EACCES, -EFBIG, ...), or -ENOMEM. */
int rd_synth_load_file(const char *path, struct rd_synth_model **out, struct rd_diag *diag);

/* The same from LEN bytes at BUF (borrowed), named NAME in messages. */
int rd_synth_load_buffer(const char *name, const char *buf, size_t len, struct rd_synth_model **out,
                         struct rd_diag *diag);

/* Free M. M may be NULL. */
void rd_synth_free(struct rd_synth_model *m);

/* ---- arrivals -------------------------------------------------------------- */

/* The referrals of a model over [start, start + days): a Poisson process
 * of referrals_per_year per 365 days (exponential times between arrivals,
 * kept in microseconds so that rounding does not bend the rate). Fill with
 * rd_synth_gen_init; the fields are the generator's own. */
struct rd_synth_gen {
        const struct rd_synth_model *model; /* borrowed */
        uint64_t seed;
        struct rd_rng arrivals;
        int64_t start_ms;
        uint64_t t_us, end_us, mean_us; /* since start */
        uint64_t n;                     /* referrals handed out */
};

/* One arrival. */
struct rd_synth_arrival {
        int64_t at_ms;   /* receipt, ms since the epoch */
        uint64_t number; /* 1, 2, ... in receipt order; the key of its answers */
        /* valid as protocol.md's submit requires: ref "S" and the number
         * (6 digits at least), partner RD_SYNTH_PARTNER, kind, postcode,
         * one to three children, language and urgency drawn from the model,
         * no concerns, no family, no note: it owns nothing and holds no
         * personal data */
        struct rd_referral referral;
};

/* Start G on model M (borrowed: it must outlive G) with SEED, the span
 * starting at START_MS. */
void rd_synth_gen_init(struct rd_synth_gen *g, const struct rd_synth_model *m, uint64_t seed,
                       int64_t start_ms);

/* The next arrival into *OUT: 1, or 0 (OUT untouched) once the span is
 * over. Arrivals come in time order. */
int rd_synth_next(struct rd_synth_gen *g, struct rd_synth_arrival *out);

/* ---- answers ----------------------------------------------------------------- */

/* What a connector does with an offer. Every field is drawn, whatever
 * DECLINE says, so that the draws of one offer do not depend on each
 * other's outcome. The replay applies them: the answer comes ANSWER_MS
 * after the offer unless the offer expires first (accept_within), and is a
 * decline or an accept; a start follows an accept after START_MS, a close
 * follows the start after TRAJECTORY_MS. */
struct rd_synth_answer {
        bool decline;          /* with probability decline_share */
        int64_t answer_ms;     /* offer to accept or decline: mean accept_after */
        int64_t start_ms;      /* accept to start: mean start_after */
        int64_t trajectory_ms; /* start to close: mean trajectory */
};

/* The answer to offer OFFER (0 for the referral's first offer, 1 for the
 * next, ...) of the referral numbered NUMBER, under model M and SEED: the
 * same arguments always give the same answer, in any order of calls. */
void rd_synth_answer(const struct rd_synth_model *m, uint64_t seed, uint64_t number, uint32_t offer,
                     struct rd_synth_answer *out);

#endif
