/* reload_preview.h: what a reload would do now (tools.md, "What a reload
 * would do now"), worked out by the daemon's own code: a hub over a
 * scratch copy of the database (rd_store_open_copy) with the routing file
 * in force there, and rd_hub_set_rules putting the new file in force in
 * it exactly as the daemon's reload does; then, as the daemon's loop does
 * right after, whatever is due at that moment (rd_hub_tick: with a long
 * waitlist, the rest of it worked through again). What the hub emits is
 * what the daemon would emit; the loads are read from the copy before and
 * after, and so is who waits for a coordinator. Nothing here decides
 * anything itself. */
#ifndef RD_RELOAD_PREVIEW_H
#define RD_RELOAD_PREVIEW_H

#include <jansson.h>
#include <stdint.h>

#include "hub.h"
#include "rules.h"
#include "store.h"

/* What the reload did, each a JSON array (owned by the preview). */
struct rd_preview {
        /* every event the reload emitted, in order, as the daemon would
         * publish it (config.reloaded ends the reload's own; what was due
         * right after follows) */
        json_t *events;
        /* from those events: the waiting referrals offered to a connector
         * ({"id", "connector", "team"}, referral.assigned) and those whose
         * attention ended ({"id"}, referral.waitlisted) */
        json_t *served, *attention_ended;
        /* from the store after the reload: every waiting referral left with
         * no candidate, in waitlist order, whether the reload made it so
         * (its referral.needs_attention) or it waited for a coordinator
         * already: {"id", "attention"}, with "before": its attention under
         * the file in force before, when it had one */
        json_t *attention;
        /* the connectors of the new file in its order, then those only the
         * old file has: {"id", "team", "capacity", "load_before",
         * "load_after"}, with "added": true or "removed": true (team and
         * capacity then from the old file) */
        json_t *connectors;
};

/* In HUB, made over STORE (a scratch copy: this writes to it), put
 * NEW_RULES (taken over) in force at NOW as the daemon's reload does
 * (rd_hub_set_rules, in a transaction of STORE that commits), and fill
 * *OUT (rd_preview_clear frees it) with what it did. HUB then has the new
 * rules and the state after the reload. With RELOAD false, HUB already has
 * the new rules (no file was in force to reload from) and NEW_RULES must be
 * NULL: the waitlist is served as the daemon serves it at start
 * (rd_hub_serve_waitlist) instead. 0, or a negative errno with *OUT empty
 * (HUB is then only fit to be freed). */
int rd_preview_reload(struct rd_hub *hub, struct rd_store *store, struct rd_rules *new_rules,
                      bool reload, int64_t now, struct rd_preview *out);

/* Free what P holds; P may be zeroed. */
void rd_preview_clear(struct rd_preview *p);

#endif
