/* route.h: the routing decision, a pure function of the referral, the
 * rules, the connectors' state and the time (routing.md, "Rules").
 *
 * The decision records what it found in a struct rd_route_record: the rules
 * tried and the key each failed on, every candidate with why it was passed
 * over or picked, the forecast. The JSON trace is built from that record
 * afterwards (route_trace.h); callers that need facts read the record.
 * No I/O, no clock, no allocation that outlives the call except the record
 * or the trace handed to the caller. The daemon keeps struct rd_route_state
 * current from the store; tests and `referralctl rules test` build one by
 * hand. */
#ifndef RD_ROUTE_H
#define RD_ROUTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "referral.h"
#include "rules.h"

/* One referral already on the waitlist (in WAITING), or a set of them (in
 * WAITING_SETS) with its count. Its candidates are the connectors its rule
 * may offer it to: the first n_candidates - n_overflow of them first-rank,
 * the last n_overflow (rev 2) overflow candidates of its rule. Both fields
 * beyond the candidates are zero for a waitlist that knows no overflow:
 * every candidate first-rank.
 *
 * Who takes the first places (routing.md rev 2): a connector serves first
 * the waiting referrals for which it is first-rank, then those for which
 * it is an overflow candidate, and within a rank in waitlist order (highest
 * urgency, earliest start_by, earliest receipt). So a waiting referral
 * takes a place ahead of the one being decided at a connector of the
 * latter's candidates when that connector has it at a better rank, or at
 * the same rank and it comes before in waitlist order.
 *
 * Whether it comes before: an entry of WAITING says so itself (BEHIND:
 * it comes after). The referrals of a set are all of one URGENCY: of a
 * higher urgency than the referral being decided they come before it, of
 * a lower one after it, and of the same one those that state->set_ahead
 * counts (an earlier start_by, or the same and received earlier) come
 * before it, the others after. */
struct rd_waiting {
        const size_t *candidates; /* indexes into rules->connectors */
        size_t n_candidates;
        size_t n_overflow;       /* the last n_overflow of CANDIDATES (more: all) */
        bool behind;             /* WAITING: after the referral being decided in waitlist order */
        enum rd_urgency urgency; /* WAITING_SETS: the urgency of the set's referrals */
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
        /* The waiting referrals that may take a place before this one, one
         * by one (the hub: for a waiting referral decided again, those
         * before it in the list) */
        const struct rd_waiting *waiting;
        size_t n_waiting;
        /* and, besides those listed one by one, more waiting referrals,
         * counted by candidates and urgency (the hub: the whole waitlist,
         * for a referral that does not wait yet): waiting_set_counts[i]
         * referrals each like waiting_sets[i]. The forecast only counts the
         * waiting referrals that take a place ahead, and whether one does
         * depends on nothing but its candidates, their split by rank and
         * whether it comes before this referral. So K entries and a set of
         * count K whose referrals come before or after as those entries
         * say give the same decision, exactly, in any order, and the hub
         * hands a long waitlist over in a few sets. */
        const struct rd_waiting *waiting_sets;
        const uint64_t *waiting_set_counts;
        size_t n_waiting_sets;
        /* For set SET of waiting_sets, of the urgency of the referral being
         * decided, whose start_by is START_BY: into *N how many of the set's
         * referrals come before it in waitlist order (a start_by before
         * START_BY, or the same and received before it), or CAP when at
         * least CAP do (counting may stop there). Returns 0 or a negative
         * errno, which the decision returns. Called by the forecast only,
         * at most once per set, and only for a set some of whose referrals
         * would take a place that the others would not. NULL: every
         * referral of such a set comes before (a referral received after
         * them all, under a window no shorter than theirs). */
        int (*set_ahead)(void *ctx, size_t set, int64_t start_by, uint64_t cap, uint64_t *n);
        void *set_ahead_ctx;
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

/* ---- the record of a decision ------------------------------------------ */

/* The `when` keys, in the order of routing.md's table: the order in which
 * they are tried (names: rd_when_key_name in route_trace.h). */
enum rd_when_key {
        RD_WHEN_KIND = 0,
        RD_WHEN_URGENCY,
        RD_WHEN_PARTNER,
        RD_WHEN_POSTCODE,
        RD_WHEN_AGE,
        RD_WHEN_LANGUAGE,
        RD_WHEN_CONCERNS,
        RD_WHEN__MAX
};

/* What became of one candidate (words: rd_route_why_name in route_trace.h).
 * The filters come first: a candidate one of them passed over is not
 * eligible, it cannot take the referral at all. */
enum rd_route_why {
        RD_WHY_CHOSEN = 0,      /* got the offer */
        RD_WHY_POSTCODE,        /* by_postcode: its team does not hold the postcode */
        RD_WHY_SKILL,           /* lacks the rule's skill */
        RD_WHY_LANGUAGE,        /* language: require, and does not speak it */
        RD_WHY_DECLINED,        /* declined this referral or let its offer expire */
        RD_WHY_FULL,            /* eligible from here on: load not below capacity */
        RD_WHY_NOT_SPEAKER,     /* language: prefer, free, but a speaker was free */
        RD_WHY_NOT_PICKED,      /* free, but another was less loaded or had the turn */
        RD_WHY_FIRST_RANK_FREE, /* (rev 2) an overflow candidate, free, but a first-rank
                                   candidate was free and got the offer */
        RD_WHY__MAX
};

/* true when no filter passed the candidate over: chosen, full, or free and
 * not picked. These are the connectors a waiting referral waits for. */
bool rd_route_why_eligible(enum rd_route_why why);

/* One connector of the deciding rule's teams or (rev 2) overflow teams. */
struct rd_route_cand {
        size_t connector;      /* index into rules->connectors */
        bool overflow;         /* of an overflow team: a second-rank candidate */
        uint32_t load;         /* as the state gave it */
        uint32_t capacity;     /* as the rules gave it */
        enum rd_route_why why; /* never RD_WHY__MAX once decided */
};

/* The slots and the waiting referrals ahead of one rank of candidates. */
struct rd_route_rank_forecast {
        size_t candidates;    /* eligible candidates of this rank */
        size_t slots;         /* their known ends */
        size_t waiting_ahead; /* waiting referrals that a candidate of this rank
                                 serves first, counted up to SLOTS */
};

/* The forecast, made when an assign rule found nobody free. The slots of
 * both ranks go together, earliest first. A waiting referral that a
 * first-rank candidate serves first may take a first-rank slot, one that an
 * overflow candidate serves first an overflow slot; this referral's slot is
 * the first that they cannot all take (for the slots up to it: no more
 * first-rank slots than referrals that may take them, no more overflow
 * slots than those, no more slots in all than referrals ahead). Without
 * overflow that is the slot after the WAITING_AHEAD first ones. */
struct rd_route_forecast {
        size_t candidates;    /* eligible candidates */
        size_t slots;         /* their known ends */
        size_t waiting_ahead; /* waiting referrals that share a candidate
                                 and take a place first, counted up to SLOTS
                                 ("at least" then) */
        /* (rev 2) by rank; overflow is all zero for a rule without it */
        struct rd_route_rank_forecast first, overflow;
        bool found;             /* a slot is left for this referral */
        int64_t expected_start; /* FOUND: that slot, not before now */
        bool expected_overflow; /* FOUND: an overflow candidate's slot */
        int64_t start_by;       /* the end of the window it was held against */
        bool within_window;     /* FOUND and EXPECTED_START before START_BY */
};

/* What one decision found, in indexes into the rules it was made under,
 * reason codes and numbers: no value of the referral. With the indexes
 * turned into ids it is a compact trace; rd_route_trace_json renders it.
 * Filled by rd_route_decide_record, whose arrays rd_route_record_clear
 * frees. */
struct rd_route_record {
        struct rd_decision decision;
        bool redecided; /* decided by the rule it was given; `when` not tried */
        /* rules->rules[i] for i < n_tried did not match, on key failed[i] */
        enum rd_when_key *failed;
        size_t n_tried;
        enum rd_action action; /* of the deciding rule */
        enum rd_pick pick;     /* ASSIGN: of the deciding rule */
        bool has_overflow;     /* ASSIGN: the rule has overflow teams (rev 2) */
        /* ASSIGN: every connector of the rule's teams, in file order, then
         * every connector of its overflow teams, in file order */
        struct rd_route_cand *cands;
        size_t n_cands;
        bool has_forecast; /* ASSIGN, nobody free */
        struct rd_route_forecast forecast;
        /* the forecast gave no slot within the window, so the rule's
         * `otherwise` decided: decision.status says which (FORWARDED or
         * WAITLISTED) */
        bool used_otherwise;
};

/* Decide for referral R received at RECEIVED_MS, at NOW_MS, as
 * rd_route_redecide does (RULE == SIZE_MAX: the rules from the top; a new
 * referral has RECEIVED_MS == NOW_MS), and record what was found in *REC.
 * On success returns 0 and REC holds arrays the caller owns (free with
 * rd_route_record_clear); the record borrows nothing from R or STATE, and
 * DECISION.reason from RULES. Returns -EINVAL as rd_route_redecide,
 * -ENOMEM, or the errno STATE->set_ahead returned; REC is then untouched. */
int rd_route_decide_record(const struct rd_referral *r, const struct rd_rules *rules,
                           const struct rd_route_state *state, size_t rule, int64_t received_ms,
                           int64_t now_ms, struct rd_route_record *rec);

/* Free what REC holds and zero it. REC may be NULL. */
void rd_route_record_clear(struct rd_route_record *rec);

/* The eligible candidates of REC (rd_route_why_eligible) in the record's
 * order (first-rank ones, then overflow ones, each in file order): writes
 * the first MAX of their connector indexes to OUT (may be NULL when MAX is
 * 0) and returns how many there are. For a waitlisted decision these are
 * the connectors the referral waits for: with rd_route_eligible_overflow,
 * its struct rd_waiting. */
size_t rd_route_eligible(const struct rd_route_record *rec, size_t *out, size_t max);

/* How many of REC's eligible candidates are overflow candidates: the last
 * ones rd_route_eligible writes. */
size_t rd_route_eligible_overflow(const struct rd_route_record *rec);

/* ---- the decision with its trace ---------------------------------------- */

/* Decide for referral R under RULES given STATE (may be NULL: empty loads)
 * at NOW_MS (ms since the epoch, the time of receipt for a new referral).
 * (rev 2) With the rule's `overflow`: a free first-rank candidate gets the
 * offer (by pick); else a free overflow candidate (by pick among them);
 * else the forecast over both ranks (struct rd_route_forecast).
 * Fills *OUT and returns 0. If TRACE is not NULL, *TRACE receives a new
 * JSON object (caller owns) that explains the decision: each rule tried
 * and the `when` key that did not match, each candidate passed over and
 * why (full, skill, language, postcode, declined), and the forecast when
 * none was free (rd_route_trace_json of the record). The trace never
 * holds family data, note, postcode or ages: it names keys, not values.
 * Returns -EINVAL only for inconsistent input (a count without its array;
 * a waiting referral's candidate out of range is skipped instead),
 * -ENOMEM when the trace cannot be built, or the errno STATE->set_ahead
 * returned; OUT is then untouched. */
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
