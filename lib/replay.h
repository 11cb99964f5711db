/* replay.h: the what-if replay of `referralctl replay` (tools.md, "What-if
 * replay"): referrals replayed in simulated time with the daemon's own
 * engine (lib/hub over lib/route, its offers, expiries, declines,
 * waitlist and window timers), under a baseline and a candidate routing
 * file, and the figures of both (lib/figures).
 *
 * A run drives a hub over a scratch store of its own (an empty SQLite
 * database in a private folder, removed when the run ends; never the
 * daemon's database) in simulated time: an event queue holds the next
 * arrival and what connectors do next (accept, decline, start, close at
 * the times drawn for them), the hub's next deadline comes from the hub
 * (rd_hub_next_deadline); the run advances to the earliest, acts in one
 * transaction, commits, and feeds what the hub emitted to the figures.
 * Baseline and candidate are two runs over the same arrivals with the
 * same answers (an answer is keyed by the referral and the number of the
 * offer, not by who made it).
 *
 * Where things are:
 *   replay.c           the two runs, their comparison and the JSON of tools.md
 *   replay_run.c       one run: the loop in simulated time, one transaction per step
 *   replay_feed.c      what a run emitted, fed to the figures accumulator
 *   replay_queue.c     the event queue (a binary heap)
 *   replay_synth.c     the synthetic source: arrivals and answers of lib/synth
 *   replay_internal.h  what these files share
 *
 * No clock, no logging, no sockets: time is simulated, errors come back
 * as a negative errno with a sentence (no personal data) in ERRBUF. */
#ifndef RD_REPLAY_H
#define RD_REPLAY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "figures.h"
#include "rules.h"
#include "synth.h"

/* When a synthetic span starts: 2027-01-01T00:00:00Z (the model has no
 * calendar; a fixed start keeps a seed's result the same). */
#define RD_REPLAY_SYNTH_START_MS INT64_C(1798761600000)

struct rd_replay_options {
        uint64_t seed; /* the draws (tools.md: --seed) */
        /* the folder in which each run makes a private folder for its
         * scratch store (e.g. "/tmp"), removed when the run ends */
        const char *scratch_dir;
};

/* One side of a replay, as the output names it. */
struct rd_replay_side {
        char digest[65];                /* of its routing file; "" for the history as recorded */
        char source[256];               /* the file's name as it was loaded */
        struct rd_figures_acc *figures; /* finished */
};

/* The result of a replay (tools.md): both sides, the referrals whose first
 * decision differs, and what was skipped. */
struct rd_replay_result {
        struct rd_replay_side baseline, candidate;
        json_t *changes; /* tools.md's `changes`, in receipt order (owned) */
        size_t changed;
        uint64_t skipped_erased;
        uint64_t seed;
        int64_t start_ms, end_ms; /* the simulated span */
};

/* Replay the synthetic model M (borrowed) under BASELINE and under
 * CANDIDATE (both taken over: freed here, also on failure) with OPTS. On
 * success returns 0 and a new result in *OUT (rd_replay_result_free).
 * Otherwise a negative errno with a sentence in ERRBUF (ERRSIZE bytes):
 * -ENOMEM, a store's errno (the scratch store), or -EPROTO when the engine
 * and the figures disagree (a bug, said so). Nothing is written outside
 * OPTS->scratch_dir; the same arguments give the same result. */
int rd_replay_synthetic(const struct rd_synth_model *m, struct rd_rules *baseline,
                        struct rd_rules *candidate, const struct rd_replay_options *opts,
                        struct rd_replay_result **out, char *errbuf, size_t errsize);

/* The result as tools.md's JSON: {"baseline": FIGURES, "candidate":
 * FIGURES, "changed", "changes", "skipped_erased", "seed"}. A new
 * reference, or NULL when out of memory. */
json_t *rd_replay_json(const struct rd_replay_result *r);

/* Free R. R may be NULL. */
void rd_replay_result_free(struct rd_replay_result *r);

#endif
