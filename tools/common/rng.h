/* rng.h: the pseudo-random numbers of the benchmarks (referral-bench's
 * referrals, referral-route-bench's routing file and state): fast,
 * reproducible from a seed, not for anything secret. */
#ifndef RD_TOOL_RNG_H
#define RD_TOOL_RNG_H

#include <stdint.h>

/* xorshift64*: the next number from *STATE (never 0). */
static inline uint64_t tool_rng_next(uint64_t *state)
{
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        return *state * UINT64_C(2685821657736338717);
}

/* splitmix64: a well-mixed value (a seed) from a counter X. */
static inline uint64_t tool_rng_mix(uint64_t x)
{
        x += UINT64_C(0x9E3779B97F4A7C15);
        x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
        return x ^ (x >> 31);
}

#endif
