/* figures.h: the figures of a replay (tools.md, "What-if replay": FIGURES),
 * worked out from what happens to referrals, fed in time order.
 *
 * A replay driver feeds one accumulator per run (baseline, candidate) with
 * every referral received, each decision, start, close, withdrawal and
 * missed window, and every change of a connector's load and of the
 * waitlist's length; then closes the span and reads FIGURES, the series
 * the charts draw, and the referrals whose first decision differs between
 * two runs (`changes`).
 *
 * Definitions (tools.md; where it is silent, what is written here):
 *   - The span is [start, end): `days` = (end - start) / 86400 s.
 *   - Referral figures concern the referrals received in the span
 *     (rd_figures_received), not those open at its start
 *     (rd_figures_existing): `referrals`; `by_decision`, each referral's
 *     first decision; `window`: `started` (started at least once),
 *     `in_time` (first start at or before the start_by of its first
 *     decision that had a window), `missed` (window missed);
 *     `time_to_start_s`, receipt to first start, nearest-rank percentiles
 *     (the value at rank ceil(p/100 * n) of the n sorted times), whole
 *     seconds rounded down, null when none started; `forwarded_share`,
 *     the share of them forwarded by any decision (the first or a later
 *     one), null when there are none.
 *   - A trajectory runs from a start to the close, withdrawal or new
 *     decision (a coordinator's reassignment or forward) that ends it; a
 *     referral started again later has a second one. `trajectories`:
 *     `started` and `closed` count those started in the span and their
 *     closes; `mean_length_s` is the mean of their lengths, one still open
 *     at the end counted up to the end (null when none started);
 *     `mean_open` is the time-average over the span of the number open,
 *     those open at the start included. So on a run that starts empty,
 *     mean_open = started / days * mean_length_s / 86400 (Little's law),
 *     up to rounding.
 *   - `waitlist` and `connectors`: the peak and the time-average of the
 *     length and of each load, as step functions set by the driver. The
 *     peak is the highest value that stood for some time (or stands at
 *     the end); values set and replaced at the same instant do not count.
 * Times are ms since the epoch. Every call checks the bookkeeping (time
 * never goes back, a close needs a start, nothing after a final status)
 * and refuses with -EINVAL what does not add up, changing nothing. The
 * sums are whole numbers (ms times counts), exact; an overflow is
 * -EOVERFLOW. Nothing here does I/O, reads the clock or logs. */
#ifndef RD_FIGURES_H
#define RD_FIGURES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "referral.h"

struct rd_figures_acc;

/* ---- feeding ----------------------------------------------------------------- */

/* A new accumulator for a span starting at START_MS: 0 and *OUT (free with
 * rd_figures_free), or -ENOMEM. The waitlist is empty and no trajectory is
 * open at the start unless the driver says otherwise. */
int rd_figures_new(int64_t start_ms, struct rd_figures_acc **out);

/* Free F. F may be NULL. */
void rd_figures_free(struct rd_figures_acc *f);

/* Add the connector ID of team TEAM (both copied) with CAPACITY, with load
 * 0 from now on, or update the team and capacity of a connector already
 * added (its load stays): 0 and its index in *INDEX (0, 1, ... in the
 * order first added: the order of `connectors`), -EINVAL (an empty or
 * NULL id, after the span was closed) or -ENOMEM. */
int rd_figures_connector(struct rd_figures_acc *f, const char *id, const char *team,
                         uint32_t capacity, size_t *index);

/* Referral ID (copied; the id that `changes` names) was received at AT_MS
 * (not before the start): 0 and its handle in *HANDLE (0, 1, ... in the
 * order of the calls to this and rd_figures_existing), or -EINVAL, or
 * -ENOMEM. */
int rd_figures_received(struct rd_figures_acc *f, int64_t at_ms, const char *id, size_t *handle);

/* Referral ID was received before the start and is open at it, started
 * (OPEN: a trajectory open since before the start) or not. Only before
 * any event after the start. It counts in the trajectories open, in loads
 * and the waitlist as the driver sets them, and not in the referral
 * figures. 0 and its handle, -EINVAL or -ENOMEM. */
int rd_figures_existing(struct rd_figures_acc *f, const char *id, bool open, size_t *handle);

/* A decision (the first of a referral, or a later one: after a decline
 * or expiry, the waitlist served, a coordinator's reassignment or
 * forward). CONNECTOR is the index of the offered connector for ASSIGNED
 * (its team is taken from it, as it stands now), else ignored; FORWARD_TO
 * the target (copied) for FORWARDED, else ignored; START_BY_MS the
 * referral's window, 0 for none (forwarded). */
struct rd_figures_decision {
        enum rd_status status; /* ASSIGNED, WAITLISTED or FORWARDED */
        size_t connector;
        const char *forward_to;
        int64_t start_by_ms;
};

/* Referral HANDLE was decided at AT_MS as D says. A decision ends the
 * referral's open trajectory (a reassignment of a started referral);
 * FORWARDED is final. 0, -EINVAL or -ENOMEM. */
int rd_figures_decided(struct rd_figures_acc *f, size_t handle, int64_t at_ms,
                       const struct rd_figures_decision *d);

/* Referral HANDLE went to STATUS at AT_MS: ACCEPTED (nothing to count),
 * STARTED (a trajectory opens; none may be open), CLOSED (ends the open
 * trajectory, which there must be; final) or WITHDRAWN (ends it if open;
 * final). 0, -EINVAL or -ENOMEM. */
int rd_figures_update(struct rd_figures_acc *f, size_t handle, int64_t at_ms,
                      enum rd_status status);

/* Referral HANDLE missed its window at AT_MS (referral.window_missed);
 * counted once. 0 or -EINVAL. */
int rd_figures_missed(struct rd_figures_acc *f, size_t handle, int64_t at_ms);

/* The load of connector INDEX is LOAD from AT_MS on. 0, -EINVAL, -ENOMEM
 * or -EOVERFLOW. */
int rd_figures_load(struct rd_figures_acc *f, int64_t at_ms, size_t index, uint64_t load);

/* The waitlist holds LENGTH referrals from AT_MS on. 0, -EINVAL, -ENOMEM
 * or -EOVERFLOW. */
int rd_figures_waitlist(struct rd_figures_acc *f, int64_t at_ms, uint64_t length);

/* Close the span at END_MS (not before the last event): the figures can
 * be read from now on and nothing more fed. 0, -EINVAL (also when called
 * twice), -ENOMEM or -EOVERFLOW. */
int rd_figures_finish(struct rd_figures_acc *f, int64_t end_ms);

/* ---- reading (after rd_figures_finish) ---------------------------------------- */

/* FIGURES as numbers. A count of 0 says that the figure beside it (share,
 * percentiles, mean length) is undefined: it is then 0 here and null in
 * JSON. */
struct rd_figures_summary {
        uint64_t referrals;
        double days;
        uint64_t assigned, waitlisted, forwarded; /* first decisions */
        uint64_t window_started, window_in_time, window_missed;
        int64_t p50_s, p75_s, p90_s; /* time to start, of window_started */
        uint64_t forwarded_any;      /* forwarded by any decision */
        double forwarded_share;      /* forwarded_any / referrals */
        uint64_t trajectories_started, trajectories_closed;
        double mean_open, mean_length_s;
        uint64_t waitlist_peak;
        double waitlist_mean;
};

/* A step function: the value from AT_MS until the next point's. The first
 * point is at the start; no two points share a time or a value in a row. */
struct rd_figures_point {
        int64_t at_ms;
        uint64_t value;
};

struct rd_figures_series {
        const struct rd_figures_point *v; /* borrowed from the accumulator */
        size_t n;                         /* at least 1 */
};

struct rd_figures_connector_view {
        const char *id, *team; /* borrowed */
        uint32_t capacity;
        uint64_t peak_load;
        double mean_load;
        struct rd_figures_series load;
};

/* The summary into *OUT: 0, or -EINVAL before rd_figures_finish. */
int rd_figures_summary(const struct rd_figures_acc *f, struct rd_figures_summary *out);

/* How many connectors were added. */
size_t rd_figures_n_connectors(const struct rd_figures_acc *f);

/* Connector INDEX into *OUT (borrowing from F): 0, or -EINVAL before
 * rd_figures_finish or for an unknown index. */
int rd_figures_connector_view(const struct rd_figures_acc *f, size_t index,
                              struct rd_figures_connector_view *out);

/* The waitlist's length over the span. 0, or -EINVAL before finish. */
int rd_figures_waitlist_series(const struct rd_figures_acc *f, struct rd_figures_series *out);

/* The times to start (ms, ascending, one per referral in window.started):
 * *V borrowed from F, *N of them. 0, or -EINVAL before finish. */
int rd_figures_times_to_start(const struct rd_figures_acc *f, const int64_t **v, size_t *n);

/* FIGURES as tools.md writes them: a new object (the caller owns it), or
 * NULL before rd_figures_finish or when out of memory. */
json_t *rd_figures_json(const struct rd_figures_acc *f);

/* What the charts need, compact: {"start", "end" (RFC 3339), "waitlist":
 * [[s, n], ...], "connectors": [{"id", "team", "capacity", "load": [[s, n],
 * ...]}], "time_to_start_s": [s, ...]}: each series a list of [seconds
 * since the start (whole, rounded down), value] at each change, the first
 * at 0; the times to start ascending. A new object, or NULL (as above). */
json_t *rd_figures_series_json(const struct rd_figures_acc *f);

/* ---- comparing two runs ------------------------------------------------------- */

/* The first decision of referral HANDLE; strings borrowed from F, NULL
 * where the decision has none (status is RD_STATUS_RECEIVED when the
 * referral was never decided in the span, as for one received before it). */
struct rd_figures_first {
        const char *id;
        enum rd_status status;
        const char *team, *connector, *forward_to;
};

/* 0 and *OUT, or -EINVAL for an unknown handle. Also before finish. */
int rd_figures_first(const struct rd_figures_acc *f, size_t handle, struct rd_figures_first *out);

/* The `changes` of tools.md between the runs BASELINE and CANDIDATE, fed
 * with the same referrals in the same order (handle i is the same
 * referral in both): a new array in *OUT of {"id", "baseline": {"status",
 * "team", "connector", "forward_to"}, "candidate": {...}} (a missing field
 * null) for each referral received in the span whose first decision
 * differs in status, team, connector or forward target, in handle order,
 * and their number in *CHANGED. 0, -EINVAL (another number of referrals,
 * or another id at some handle) or -ENOMEM; outputs untouched on error. */
int rd_figures_changes(const struct rd_figures_acc *baseline,
                       const struct rd_figures_acc *candidate, json_t **out, size_t *changed);

#endif
