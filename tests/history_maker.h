/* history_maker.h: a history made as the daemon makes one, for the tests
 * and measurements of the replay from history (test_replay_history.c,
 * make_history.c, test_replay_cli.py, docs/performance.md).
 *
 * The hub over a real store file, driven by a simulated clock the way the
 * daemon's loop drives it: each referral submitted in a transaction of its
 * own, each connector's answer, each withdrawal and manual assignment as
 * an update request in a savepoint, with the audit trail written as the
 * daemon writes it; the deadlines handled a few ms after they are due;
 * the routing file recorded at the start and at a reload. Arrivals and
 * the connectors' answers come from a synthetic model (lib/synth), keyed
 * by a seed. */
#ifndef RD_TEST_HISTORY_MAKER_H
#define RD_TEST_HISTORY_MAKER_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

struct hm_options {
        const char *path;    /* the database file to make (must not exist) */
        const char *routing; /* the text of the routing file in force from the start */
        const char *model;   /* the text of a synthetic model: arrivals and answers */
        uint64_t seed;
        unsigned withdraw_pct; /* of referrals, withdrawn by their partner at a drawn time */
        unsigned expected_pct; /* of starts, with an expected_end */
        unsigned manual;       /* waiting referrals assigned by a coordinator, at most */
        unsigned erase;        /* final referrals erased at the end */
        int64_t late_ms;       /* deadlines are handled 1 to LATE_MS ms after due */
        const char *reload;    /* NULL, or a routing file put in force at RELOAD_AT */
        int64_t reload_at;
        int64_t start_ms; /* the first day; 0: RD_REPLAY_SYNTH_START_MS */
};

/* What the history holds. */
struct hm_counts {
        size_t by_type[RD_EV__MAX]; /* events */
        size_t manual;              /* manual assignments */
        size_t erased;
        int64_t start_ms, end_ms; /* the first arrival, the last event */
};

/* Make the history O says. 0 and *COUNTS, or a negative errno with a
 * sentence in ERRBUF. */
int hm_make(const struct hm_options *o, struct hm_counts *counts, char *errbuf, size_t errsize);

#endif
