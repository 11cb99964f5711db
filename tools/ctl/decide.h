/* decide.h: one routing decision offline, as the daemon would make it
 * (`rules test`, for one referral or a cases file): the connectors' state
 * of a database copy, and the decision in the JSON form of the daemon's
 * replies. lib/hub and lib/route do the work; nothing here decides. */
#ifndef RD_CTL_DECIDE_H
#define RD_CTL_DECIDE_H

#include "hub.h"
#include "referral.h"
#include "route.h"
#include "rules.h"
#include "store.h"

#include <jansson.h>
#include <stdint.h>

/* The connectors' state for a test against a database copy: the daemon's
 * own lib/hub reads it from the store exactly as the daemon does at start
 * (loads and expected ends of the open referrals, offers ever made, the
 * round-robin position of each rule, the waitlist, all of it ahead of a new
 * referral). The hub owns the rules from then on. */
struct test_state {
        struct rd_store *store;
        struct rd_hub *hub;
        struct rd_route_state st;
};

/* Fill TS from the database at PATH (a copy: rd_store_open may migrate
 * it), handing RULES to it (the hub's from then on: rd_hub_rules). 0 or an
 * exit code (printed); RULES is freed on failure. */
int test_state_load_db(struct test_state *ts, const char *path, struct rd_rules *rules);

/* Close TS's store and free its hub and with it the rules; TS is zeroed. */
void test_state_free(struct test_state *ts);

/* Decide for R at AT under RULES and ST (NULL: empty loads); in *OUT (the
 * caller's) the decision fields as the daemon's replies carry them (status,
 * rule, team, connector, start_by, expected_start, offer_expires,
 * forward_to, reason) plus "trace". 0 or an exit code (printed). */
int run_decision(const struct rd_rules *rules, const struct rd_route_state *st,
                 const struct rd_referral *r, int64_t at, json_t **out);

#endif
