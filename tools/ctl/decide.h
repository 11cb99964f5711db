/* decide.h: one routing decision offline, as the daemon would make it
 * (`rules test`, for one referral or a cases file): the state of a
 * database after a reload with the file tested (also what `rules diff`
 * shows), and the decision in the JSON form of the daemon's replies.
 * lib/hub and lib/route do the work; nothing here decides. */
#ifndef RD_CTL_DECIDE_H
#define RD_CTL_DECIDE_H

#include "hub.h"
#include "referral.h"
#include "reload_preview.h"
#include "route.h"
#include "routing_files.h"
#include "rules.h"
#include "store.h"

#include <jansson.h>
#include <stdint.h>

/* The state of a database after a reload with a new routing file, for
 * `rules test --state` and `rules diff` (tools.md): the database is read
 * through a scratch copy (state_open: a SQLite file or a PostgreSQL
 * conninfo; read only, one short read transaction, never migrated), the
 * daemon's own lib/hub is made over the
 * copy with the routing file in force there (its kept text), and the new
 * file is put in force in it as the daemon's reload does
 * (rd_preview_reload): the waitlist is served first, as a reload would
 * serve it; a new referral is then decided with what is left. */
struct test_state {
        struct rd_store *store; /* the scratch copy */
        struct rd_hub *hub;     /* over it, with the new rules */
        struct rd_route_state st;
        struct rd_preview preview;          /* what the reload did */
        struct rd_routing_current in_force; /* its rules handed on (NULL); source, digest,
                                               from_ms zero when none was recorded */
        json_t *changes; /* rd_rules_diff from the file in force; NULL when none was recorded */
};

/* Fill TS from the database at PATH, putting RULES (taken over: the hub's
 * from then on, rd_hub_rules) in force in it at AT. 0 or an exit code
 * (printed; RULES freed). */
int test_state_load_db(struct test_state *ts, const char *path, struct rd_rules *rules, int64_t at);

/* Free what TS holds, the hub and its rules too; TS is zeroed. */
void test_state_free(struct test_state *ts);

/* Decide for R at AT under RULES and ST (NULL: empty loads); in *OUT (the
 * caller's) the decision fields as the daemon's replies carry them (status,
 * rule, team, connector, start_by, expected_start, offer_expires,
 * forward_to, reason) plus "trace". 0 or an exit code (printed). */
int run_decision(const struct rd_rules *rules, const struct rd_route_state *st,
                 const struct rd_referral *r, int64_t at, json_t **out);

#endif
