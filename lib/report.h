/* report.h: the weekly report of tools.md ("The weekly report"): the
 * figures of the one-month promise for a period [FROM, TO), worked out from
 * the events as the store keeps them and the routing files kept in the
 * database, through the store interface (no SQL here). Every event that
 * happened before TO counts, whenever the report is made: a period's
 * figures do not change once it is over (only erasure takes personal data
 * away, never events).
 *
 * The definitions (each key of the report):
 *   received        referrals whose referral.received falls in [FROM, TO)
 *   by_decision     of those, how many got each first decision before TO
 *                   (the first referral.assigned, .waitlisted or
 *                   .forwarded after receipt)
 *   time_to_offer_s of those offered before TO: from receipt to the first
 *                   referral.assigned; p50, p75, p90 by nearest rank, whole
 *                   seconds (rounded down); null when none was offered
 *   time_to_start_s the same up to the first referral.started
 *   declines        referral.declined events before TO of those referrals,
 *                   by reason_code ("none" when the event has none): every
 *                   code of rd_declined_codes in its order, then "none",
 *                   0 when none occurred
 *   closes          referral.closed events, the same way (rd_closed_codes)
 *   forwarded       referral.forwarded events before TO of those
 *                   referrals, by forward_to: [{to, count}], most first
 *   window          referrals whose start_by falls in [FROM, TO): started:
 *                   started before TO; in_time: started at or before
 *                   start_by; late: started after it (and before TO);
 *                   missed: got referral.window_missed before TO
 *   waiting         at TO: now: how many are waitlisted; oldest: when the
 *                   one received first was received (null when none)
 *   connectors      at TO: the connectors of the routing file in force then,
 *                   in its order, with team and capacity, and load:
 *                   referrals offered to, accepted or started by each
 *   attention       at TO: waitlisted referrals whose last
 *                   referral.needs_attention was not followed by an event
 *                   that ended it (anything but the window events and
 *                   referral.erased)
 * A status at TO is the status the referral's last event before TO left
 * it in. Besides, for the charts of the HTML page:
 *   time_to_start_days  {"days": 5, "counts": [7 counts]}: the referrals of
 *                   time_to_start_s by the days they took, [0, 5), [5, 10),
 *                   ..., the last 30 days or more
 *   series          {"at": [RFC 3339...], "waiting": [n...], "load": {id:
 *                   [n...]}}: waiting and the load of each connector of
 *                   `connectors` at FROM, a day later (more days for a
 *                   period of over three months: at most 93 points), ...,
 *                   and TO: at each moment, the state the events before it
 *                   left (the last one is the state at TO) */
#ifndef RD_REPORT_H
#define RD_REPORT_H

#include <jansson.h>
#include <stdint.h>

#include "rules.h"
#include "store.h"

struct rd_report;

/* A report of [FROM_MS, TO_MS) being fed: 0 and *OUT, -EINVAL when FROM_MS
 * is not before TO_MS, or -ENOMEM. */
int rd_report_new(int64_t from_ms, int64_t to_ms, struct rd_report **out);

/* Count EV, an event as the store keeps it (protocol.md's JSON form),
 * borrowed. Events must come in seq order. An event that is not a
 * referral's (config.*) or not before TO counts for nothing. 0, -EINVAL
 * for an event without a readable type, id or at, or -ENOMEM. */
int rd_report_event(struct rd_report *rep, const json_t *ev);

/* The report (tools.md's object) as a new JSON object in *OUT, with the
 * connectors of RULES, the routing file in force at TO (NULL when none is
 * known: then the connectors that hold referrals at TO, with a null team
 * and capacity). Call it once, after the last event: REP is then only to
 * be freed. 0 or -ENOMEM. */
int rd_report_finish(struct rd_report *rep, const struct rd_rules *rules, json_t **out);

/* Free REP (may be NULL). */
void rd_report_free(struct rd_report *rep);

/* The report of [FROM_MS, TO_MS) from STORE (borrowed; a scratch copy,
 * rd_store_open_copy): every event, then the routing file in force at TO
 * (rd_routing_at). With it, "routing": {"source", "digest", "since"} (null
 * when none is known). 0 and *OUT (the caller's), or a negative errno. */
int rd_report_from_store(struct rd_store *store, int64_t from_ms, int64_t to_ms, json_t **out);

#endif
