/* hist.c: see hist.h. */
#include "hist.h"

#include <string.h>

static int hist_index(int64_t v)
{
        int e, idx;

        if (v < 0)
                v = 0;
        if (v < LINEAR_MAX)
                return (int)v;
        e = 63 - __builtin_clzll((unsigned long long)v);
        if (e > TOP_EXP)
                return HIST_BUCKETS - 1;
        idx = LINEAR_MAX + (e - SUB_BITS - 1) * SUB_COUNT +
              (int)((v >> (e - SUB_BITS)) - SUB_COUNT);
        return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* The highest value that falls into bucket IDX. */
static int64_t hist_bucket_high(int idx)
{
        int e, sub;

        if (idx < LINEAR_MAX)
                return idx;
        e = (idx - LINEAR_MAX) / SUB_COUNT + SUB_BITS + 1;
        sub = (idx - LINEAR_MAX) % SUB_COUNT;
        return (((int64_t)SUB_COUNT + sub + 1) << (e - SUB_BITS)) - 1;
}

void hist_init(struct hist *h)
{
        memset(h, 0, sizeof *h);
        h->min = INT64_MAX;
}

void hist_record(struct hist *h, int64_t v)
{
        if (v < 0)
                v = 0;
        h->count[hist_index(v)]++;
        h->n++;
        h->sum += (double)v;
        if (v < h->min)
                h->min = v;
        if (v > h->max)
                h->max = v;
}

void hist_merge(struct hist *into, const struct hist *from)
{
        for (int i = 0; i < HIST_BUCKETS; i++)
                into->count[i] += from->count[i];
        into->n += from->n;
        into->sum += from->sum;
        if (from->min < into->min)
                into->min = from->min;
        if (from->max > into->max)
                into->max = from->max;
}

int64_t hist_percentile(const struct hist *h, double p)
{
        uint64_t want, seen = 0;

        if (h->n == 0)
                return 0;
        want = (uint64_t)((p / 100.0) * (double)h->n + 0.999999);
        if (want < 1)
                want = 1;
        if (want > h->n)
                want = h->n;
        for (int i = 0; i < HIST_BUCKETS; i++) {
                seen += h->count[i];
                if (seen >= want) {
                        int64_t v = hist_bucket_high(i);
                        return v < h->max ? v : h->max;
                }
        }
        return h->max;
}
