/* route.h: the routing decision, a pure function of the referral, the
 * rules, the connectors' state and the time (routing.md, "Rules").
 *
 * No I/O, no clock, no allocation that outlives the call except the trace
 * handed to the caller. The daemon keeps struct rd_route_state current
 * from the store; tests and `referralctl rules test` build one by hand. */
#ifndef RD_ROUTE_H
#define RD_ROUTE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "referral.h"
#include "rules.h"

/* One referral already on the waitlist, in waitlist order (highest urgency
 * first, then earliest start_by). Its candidates are the connectors its
 * rule may offer it to. */
struct rd_waiting {
        const size_t *candidates; /* indexes into rules->connectors */
        size_t n_candidates;
};

/* What the engine may know about connectors. Every array is indexed like
 * rules->connectors and may be NULL, meaning "all zero / none". */
struct rd_route_state {
        const uint32_t *load;   /* open referrals offered to/accepted/started by */
        const uint64_t *offers; /* offers ever made (declined, expired included) */
        /* connector ids that declined this referral or let its offer expire */
        const char *const *excluded;
        size_t n_excluded;
        /* per rule (indexed like rules->rules): id of the connector this rule
         * offered to last, or NULL; for pick: round_robin */
        const char *const *rr_last;
        /* forecast: per connector, expected ends (ms since epoch) of its open
         * referrals, ascending; n_ends[i] of them */
        const int64_t *const *ends;
        const size_t *n_ends;
        const struct rd_waiting *waiting;
        size_t n_waiting;
        /* and, besides those listed one by one, more waiting referrals ahead,
         * counted by their candidates: waiting_set_counts[i] referrals may
         * be taken by the candidates of waiting_sets[i]. Only how many of
         * them share a candidate counts, not their order, so the hub hands
         * a long waitlist over in a few sets instead of entry by entry. */
        const struct rd_waiting *waiting_sets;
        const uint64_t *waiting_set_counts;
        size_t n_waiting_sets;
};

struct rd_decision {
        enum rd_status status; /* RD_STATUS_ASSIGNED, _WAITLISTED or _FORWARDED */
        size_t rule;           /* index into rules->rules */
        /* ASSIGNED */
        size_t team;              /* index into rules->teams */
        size_t connector;         /* index into rules->connectors */
        int64_t offer_expires_ms; /* now + accept_within */
        /* ASSIGNED and WAITLISTED */
        int64_t start_by_ms;       /* now + window */
        int64_t expected_start_ms; /* WAITLISTED: the forecast, 0 when none */
        /* FORWARDED */
        size_t forward_to;  /* index into rules->targets */
        const char *reason; /* borrowed from RULES */
};

/* Decide for referral R under RULES given STATE (may be NULL: empty loads)
 * at NOW_MS (ms since the epoch, the time of receipt for a new referral).
 * Fills *OUT and returns 0. If TRACE is not NULL, *TRACE receives a new
 * JSON object (caller owns) that explains the decision: each rule tried
 * and the `when` key that did not match, each candidate passed over and
 * why (full, skill, language, postcode, declined), and the forecast when
 * none was free. The trace never holds family data, note, postcode or
 * ages: it names keys, not values.
 * Returns -EINVAL only for inconsistent input (a count without its array;
 * a waiting referral's candidate out of range is skipped instead),
 * -ENOMEM when the trace cannot be built; OUT is then untouched. */
int rd_route_decide(const struct rd_referral *r, const struct rd_rules *rules,
                    const struct rd_route_state *state, int64_t now_ms, struct rd_decision *out,
                    json_t **trace);

/* Decide again for a referral received at RECEIVED_MS, at NOW_MS: after a
 * decline or an expired offer (STATE->excluded names who may not get it
 * again), or when capacity frees for a waiting referral. With RULE an index
 * into rules->rules, that rule decides without its `when` being tried again
 * (protocol.md: "decided again by the same rule"); with RULE == SIZE_MAX the
 * rules are tried from the top (the rule is gone from the file). start_by
 * counts from RECEIVED_MS, the offer's expiry and the forecast from NOW_MS.
 * Returns as rd_route_decide; -EINVAL for a RULE out of range. */
int rd_route_redecide(const struct rd_referral *r, const struct rd_rules *rules,
                      const struct rd_route_state *state, size_t rule, int64_t received_ms,
                      int64_t now_ms, struct rd_decision *out, json_t **trace);

#endif
