/* hist.h: a log-linear latency histogram: 128 sub-buckets per power of
 * two (< 0.8% error), 1 ns to ~69 s, no allocation per value. */
#ifndef RD_BENCH_HIST_H
#define RD_BENCH_HIST_H

#include <stdint.h>

/* Values (ns) below 2^(SUB_BITS+1) have their own bucket; above, each power
 * of two [2^e, 2^(e+1)) is cut into 2^SUB_BITS equal buckets. */
#define SUB_BITS 7
#define SUB_COUNT (1 << SUB_BITS)
#define LINEAR_MAX (2 * SUB_COUNT)
#define TOP_EXP 36 /* 2^36 ns = 68.7 s: covers 60 s */
#define HIST_BUCKETS (LINEAR_MAX + (TOP_EXP - SUB_BITS) * SUB_COUNT)

struct hist {
        uint64_t count[HIST_BUCKETS];
        uint64_t n;
        int64_t min, max;
        double sum;
};

/* An empty histogram. */
void hist_init(struct hist *h);

/* Count V (ns; below 0 counts as 0). */
void hist_record(struct hist *h, int64_t v);

/* Add FROM's counts to INTO. */
void hist_merge(struct hist *into, const struct hist *from);

/* The value at percentile P (0-100]: the top of the bucket that holds the
 * ceil(P% * n)-th value, never above the largest value recorded; 0 when
 * empty. */
int64_t hist_percentile(const struct hist *h, double p);

#endif
