/* replay.h: the what-if replay of `referralctl replay` (tools.md, "What-if
 * replay"): referrals replayed in simulated time with the daemon's own
 * engine (lib/hub over lib/route, its offers, expiries, declines,
 * waitlist and window timers), under a baseline and a candidate routing
 * file, and the figures of both (lib/figures).
 *
 * A run drives a hub over a scratch store of its own (an empty SQLite
 * store in memory, rd_store_open_memory; never the daemon's database) in
 * simulated time: an event queue holds the next arrival and what
 * connectors and people do next (accept, decline, start, close,
 * withdraw, ... at the times drawn or recorded for them), the hub's next
 * deadline comes from the hub (rd_hub_next_deadline); the run advances
 * to the earliest, acts in one transaction, and feeds what the hub
 * emitted to the figures. Baseline and candidate are two runs over the
 * same arrivals with the same answers; from history without --against
 * the baseline is the history as recorded, its figures worked out from
 * the recorded events.
 *
 * Where things are:
 *   replay.c           the two sides, their comparison and the JSON of tools.md
 *   replay_run.c       one run: the loop in simulated time, one transaction per step
 *   replay_feed.c      what a run emitted, fed to the figures accumulator
 *   replay_queue.c     the event queue (a binary heap)
 *   replay_synth.c     the synthetic source: arrivals and answers of lib/synth
 *   replay_history.c   a history read from a database
 *   replay_hstart.c    a history at a moment: the state at the start
 *   replay_hsource.c   the history source: the state at the start, arrivals,
 *                      answers recorded or drawn, people's changes, erased
 *                      referrals as recorded, deadlines when the daemon ticked
 *   replay_recorded.c  the figures of the history as recorded
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
#include "store.h"
#include "synth.h"

/* When a synthetic span starts: 2027-01-01T00:00:00Z (the model has no
 * calendar; a fixed start keeps a seed's result the same). */
#define RD_REPLAY_SYNTH_START_MS INT64_C(1798761600000)

struct rd_replay_options {
        uint64_t seed; /* the draws (tools.md: --seed) */
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
 * and the figures disagree (a bug, said so). Nothing is written anywhere;
 * the same arguments give the same result. */
int rd_replay_synthetic(const struct rd_synth_model *m, struct rd_rules *baseline,
                        struct rd_rules *candidate, const struct rd_replay_options *opts,
                        struct rd_replay_result **out, char *errbuf, size_t errsize);

/* Replay the history that STORE holds (borrowed: a scratch copy of a
 * database, rd_store_open_copy; read, never written) over [FROM_MS, TO_MS)
 * (INT64_MIN: from its first event; INT64_MAX: to just after its last)
 * under CANDIDATE, beside the history as recorded (BASELINE NULL) or a
 * replay under BASELINE (both rule sets taken over: freed here, also on
 * failure), as tools.md says ("From history"): the state at FROM_MS, the
 * referrals received in the span with their recorded content, the
 * connectors' recorded answers to the offers the history made too, drawn
 * ones (OPTS->seed) to others, people's changes where they apply, erased
 * referrals as recorded (counted in skipped_erased), deadlines when the
 * daemon handled them. Each run's file replaces every file of the span.
 * 0 and a new result in *OUT, or a negative errno with a sentence in
 * ERRBUF: -ENOENT (no referral in STORE), -EINVAL (an empty span), -EPROTO
 * (a history this build cannot read, or the engine and the figures
 * disagree), -ENOMEM, or a store's. */
int rd_replay_history(struct rd_store *store, struct rd_rules *candidate, struct rd_rules *baseline,
                      int64_t from_ms, int64_t to_ms, const struct rd_replay_options *opts,
                      struct rd_replay_result **out, char *errbuf, size_t errsize);

/* The result as tools.md's JSON: {"baseline": FIGURES, "candidate":
 * FIGURES, "changed", "changes", "skipped_erased", "seed"}. A new
 * reference, or NULL when out of memory. */
json_t *rd_replay_json(const struct rd_replay_result *r);

/* Free R. R may be NULL. */
void rd_replay_result_free(struct rd_replay_result *r);

/* ---- for a person (replay_view.c, replay_html.c) --------------------------------- */

#define RD_REPLAY_TEXT 48      /* bytes of a figure written out */
#define RD_REPLAY_DECISION 160 /* bytes of a decision in words */
#define RD_REPLAY_ROWS 17      /* figures of a side */

/* One figure of both sides, written out: a count, a duration ("6 d 4 h"),
 * a share ("5.9 %") or a mean ("41.2"); an em dash where it is undefined. */
struct rd_replay_row {
        const char *label; /* static */
        char baseline[RD_REPLAY_TEXT], candidate[RD_REPLAY_TEXT];
};

/* The figures of R (every one but the connectors) in tools.md's order:
 * the first MAX (RD_REPLAY_ROWS is all) into ROWS. Returns how many there
 * are, or 0 before R's figures are finished. */
size_t rd_replay_rows(const struct rd_replay_result *r, struct rd_replay_row *rows, size_t max);

/* A connector of either side: its loads where it is in the file. */
struct rd_replay_connector {
        const char *id, *team; /* borrowed from R, of the candidate where it is there */
        uint32_t capacity;
        bool in_baseline, in_candidate;
        struct rd_figures_connector_view baseline, candidate;
};

/* The connectors of R, the baseline's in file order, then those only the
 * candidate has: the first MAX into ROWS (the sum of both sides' counts
 * is enough). Returns how many there are. */
size_t rd_replay_connectors(const struct rd_replay_result *r, struct rd_replay_connector *rows,
                            size_t max);

/* C's capacity into BUF: "6", or "6 → 8" (UTF-8) when the candidate
 * changes it. Returns BUF. */
char *rd_replay_capacity_text(const struct rd_replay_connector *c, char buf[RD_REPLAY_TEXT]);

/* A first decision of `changes` ({"status", "team", "connector",
 * "forward_to"}) in words into BUF: "assigned to kelly (genk)",
 * "forwarded to cgg-limburg", "waitlisted". */
void rd_replay_decision_text(const json_t *d, char buf[RD_REPLAY_DECISION]);

/* R as one self-contained HTML page (tools.md, "HTML output"): the
 * figures of both sides, the connectors, the decisions that changed, and
 * charts of the loads, the waitlist and the times to start with their
 * figures in tables. WHAT says what was replayed ("the synthetic model
 * region.yaml"). 0 with the text in *OUT (the caller frees it) and its
 * length in *LEN, or -ENOMEM. */
int rd_replay_html(const struct rd_replay_result *r, const char *what, char **out, size_t *len);

#endif
