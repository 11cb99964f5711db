/* submit.h: the submit requests of referral-bench: valid referrals (one
 * to three children, concerns, a family, a note of about 200 bytes),
 * mostly for the postcodes the example teams serve. */
#ifndef RD_BENCH_SUBMIT_H
#define RD_BENCH_SUBMIT_H

#include "bench.h"

#include <stddef.h>
#include <stdint.h>

/* The largest request build_submit writes, with room to spare. */
#define REQUEST_MAX 4096

/* The seed of every referral's content for the ref prefix PREFIX. */
uint64_t submit_prefix_hash(const char *prefix);

/* Write the submit request of CLIENT for sequence number SEQ in slot SLOT
 * of its window into BUF (CAP bytes): corr "CLIENT.SLOT.SEQ", ref
 * "PREFIX-CLIENT-SEQ" (OPT's prefix, PREFIX_HASH its submit_prefix_hash),
 * partner OPT's. The content depends on the ref alone, so that a rerun
 * with the same prefix meets its referrals as duplicates. Returns the
 * length, or -1 if it does not fit. All the text pieces are plain ASCII
 * without '"' or '\\', so no escaping is needed; the ref prefix and
 * partner are checked at start. */
int build_submit(const struct options *opt, uint64_t prefix_hash, int client, int slot,
                 uint64_t seq, char *buf, size_t cap);

#endif
