/* route_trace.h: the trace of a routing decision, built from its record
 * after the decision (routing.md "How decisions are explained" in
 * docs/routing.md).
 *
 * The trace is the JSON the store keeps with each decision, `get` returns
 * and `referralctl explain` and `rules test` print. It names rules, keys,
 * connectors, teams and targets: ids from the routing file, never a value
 * of the referral. No I/O, no clock. */
#ifndef RD_ROUTE_TRACE_H
#define RD_ROUTE_TRACE_H

#include <jansson.h>

#include "route.h"
#include "rules.h"

/* The key's name in routing.yaml ("kind", ...); static, never NULL. */
const char *rd_when_key_name(enum rd_when_key key);

/* The word for WHY in the trace: "chosen", "postcode", "skill", "language"
 * (for both RD_WHY_LANGUAGE and RD_WHY_NOT_SPEAKER, as routing.md has it),
 * "declined", "full", "not_picked", "first_rank_free" (rev 2). Static,
 * never NULL. */
const char *rd_route_why_name(enum rd_route_why why);

/* Was the candidate REC chose (rev 2) an overflow one? false when it chose
 * none. */
bool rd_route_chosen_overflow(const struct rd_route_record *rec);

/* The trace of the decision recorded in REC, which was made under RULES
 * (the same rule set: REC holds indexes into it). Returns a new JSON object
 * (caller owns) with, in this order: "rules_tried" (each rule tried before
 * the deciding one, {"rule", "failed": key}), "redecided_by_rule" (true,
 * when decided again by its rule), "rule", "action" ("forward" or
 * "assign"); for assign "pick", "candidates" (each {"connector", "team",
 * "chosen": true or "passed_over": why, "load", "capacity"}), "forecast"
 * when nobody was free ({"candidates", "slots", "waiting_ahead",
 * "expected_start" or null, "start_by", "within_window"}) and "otherwise"
 * when it decided; then "forward_to", or "connector" and "team", and
 * "decision". (rev 2) When the deciding rule has overflow teams, and only
 * then: each candidate has "rank" ("first" or "overflow") after "team";
 * the forecast has, after "within_window", "first" and "overflow" (each
 * {"candidates", "slots", "waiting_ahead"} of that rank) and, when a slot
 * was found, "expected_rank"; an assigned decision has "rank" after "team".
 * Returns NULL when out of memory. */
json_t *rd_route_trace_json(const struct rd_route_record *rec, const struct rd_rules *rules);

#endif
