/* hub.h: what happens to referrals: submit, the update state machine,
 * offers that expire, the waitlist, deadlines and reload, on top of the
 * store (through its interface, store.h) and the routing engine.
 *
 * Free of sockets, signals and the clock: every call takes `now`. Every
 * change goes to the store inside the caller's transaction, with its
 * events, and only then to memory; the events are also kept in an outbox
 * the caller publishes after COMMIT (rd_hub_events) and clears
 * (rd_hub_events_clear). The hub keeps the connectors' state, the head of
 * the waitlist and its counts by candidates in memory (the rest of the
 * waitlist is read from the store when needed), read again at start, on
 * reload and whenever a request or a commit fails.
 *
 * That state is read aside and put in force only when complete. When the
 * store cannot be read, the hub is stale: it routes nothing, every call
 * that needs the state first tries to read it again, and, while that
 * fails, is refused with RD_UNAVAILABLE ("nothing was stored; retry") and
 * -EAGAIN. */
#ifndef RD_HUB_H
#define RD_HUB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "event.h"
#include "referral.h"
#include "route.h"
#include "rules.h"
#include "store.h"

struct rd_hub;

/* Make a hub over STORE (borrowed; must outlive the hub) with RULES (taken
 * over: freed by the hub). Reads the connectors' state and the waitlist.
 * Returns 0 and *OUT, or a negative errno (RULES is then freed too; a hub
 * is never made stale). */
int rd_hub_new(struct rd_store *store, struct rd_rules *rules, struct rd_hub **out);

/* Free HUB and its rules. HUB may be NULL. */
void rd_hub_free(struct rd_hub *hub);

/* The rule set in force (owned by the hub). */
const struct rd_rules *rd_hub_rules(const struct rd_hub *hub);

/* The routing state a new referral is decided with: loads, offers,
 * round-robin positions, expected ends and the whole waitlist (counted by
 * candidates and urgency; how many of the new referral's own urgency come
 * before it, the forecast asks HUB's store), pointing into HUB (valid until
 * its next change). For dry runs (referralctl rules test --state). 0, or -ENOMEM, -EAGAIN (stale)
 * or a store errno (*OUT is then untouched). */
int rd_hub_route_state(struct rd_hub *hub, struct rd_route_state *out);

/* Keep at most N (at least 1) waiting referrals in memory, the head of the
 * waitlist; the rest is read from the store when needed. The default is
 * 1024. Decisions do not depend on N: tests set it low to prove that. */
void rd_hub_set_wait_cache(struct rd_hub *hub, size_t n);

/* 0 when the hub's routing state is in memory (read again first when the
 * last read failed); else RD_UNAVAILABLE in ERR (may be NULL) and -EAGAIN:
 * for a caller that reports loads (stats), so that it never shows the
 * empty loads of a stale hub as real ones. */
int rd_hub_ready(struct rd_hub *hub, struct rd_error *err);

/* Load of connector I of the rules in force; 0 while the hub is stale
 * (ask rd_hub_ready first). */
uint32_t rd_hub_load(const struct rd_hub *hub, size_t connector);

/* A request inside the caller's transaction: begin, then end with KEEP
 * true to keep its changes and events, false to undo them (store and
 * memory: read again from the store; when that fails the hub is stale).
 * 0 or the store's negative errno. */
int rd_hub_request_begin(struct rd_hub *hub);
int rd_hub_request_end(struct rd_hub *hub, bool keep);

/* The same begun without a savepoint (rd_store_request_begin_whole): undone
 * with the whole transaction when it fails after it wrote; its _end then
 * returns RD_STORE_ABORTED and the caller's transaction is lost (the caller
 * rolls back and calls rd_hub_rolled_back, as after any fault). */
int rd_hub_request_begin_whole(struct rd_hub *hub);

/* After the caller's transaction failed and was rolled back: drop the
 * outbox and read memory again from the store (stale when that fails). */
void rd_hub_rolled_back(struct rd_hub *hub);

/* Submit R (partner filled in) received at NOW. On success fills *OUT with
 * the referral's state and *DUPLICATE (true: same partner, ref and content
 * as one stored before; nothing changed, no event). Errors (in ERR):
 * RD_CONFLICT for the same partner and ref with other content;
 * RD_UNAVAILABLE while stale; a store fault's errno with RD_INTERNAL. */
int rd_hub_submit(struct rd_hub *hub, const struct rd_referral *r, int64_t now,
                  struct rd_stored *out, bool *duplicate, struct rd_error *err);

/* A status change asked for by a client (protocol.md, "update"). */
struct rd_update {
        const char *id;
        enum rd_status status; /* the new status */
        bool declined;         /* "declined": STATUS is then ignored */
        const char *connector; /* or NULL */
        const char *forward_to;
        /* forwarded: the reason shown to the receiving service (it goes into
         * the event); declined, withdrawn, closed (rev 2): the client's free
         * text, personal data, kept with the referral only; else ignored */
        const char *reason;
        const char *reason_code; /* (rev 2) declined, withdrawn, closed; or NULL */
        int64_t expected_end_ms; /* 0: none */
};

/* Apply U at NOW. Checks, in this order, before it changes anything: the
 * referral exists (RD_NOT_FOUND), the state machine allows it (RD_CONFLICT,
 * naming the allowed changes), the connector is the offer's (RD_INVALID
 * when missing, RD_FORBIDDEN when another's), what it needs is there
 * (RD_INVALID with the field; a reason_code must be one of its status's
 * list). Repeating the change that already happened is ok and changes
 * nothing (*CHANGED false), whatever its code or text. Declined, withdrawn
 * and closed keep their code and text (struct rd_store_reason; the code
 * goes into the event too). Fills *OUT with the new state. RD_UNAVAILABLE
 * while stale; RD_INTERNAL on a store fault. */
int rd_hub_update(struct rd_hub *hub, const struct rd_update *u, int64_t now, struct rd_stored *out,
                  bool *changed, struct rd_error *err);

/* Erase referral ID's personal data at NOW (protocol.md, "erase"): an open
 * referral is withdrawn first; family, note, children and postcode leave
 * its content, and what the trace derived from them leaves the trace;
 * referral.erased is emitted. Erasing again is ok and changes nothing
 * (*CHANGED false). RD_NOT_FOUND for an unknown id. */
int rd_hub_erase(struct rd_hub *hub, const char *id, int64_t now, struct rd_stored *out,
                 bool *changed, struct rd_error *err);

/* The decision trace TRACE (its text as the store kept it:
 * rd_store_content) of a referral whose row names the routing file DIGEST,
 * as `get` returns it (rd_trace_json): JSON text kept before as it was; a
 * compact trace rendered under that file, the rules in force when they are
 * it, else the file's text kept in the store (the last one read stays with
 * the hub). Returns 0 and a new reference in *OUT; -ENOENT when the store
 * keeps no file of DIGEST, -EBADMSG when that file no longer loads or the
 * trace cannot be read (or does not fit it), -ENOMEM, or a store errno. */
int rd_hub_trace_json(struct rd_hub *hub, const char *trace, const char *digest, json_t **out);

/* Erase automatically RETENTION_S seconds after a final status (0: never). */
void rd_hub_set_retention(struct rd_hub *hub, int64_t retention_s);

/* true once after anything was erased: the caller then checkpoints the WAL
 * (rd_store_checkpoint) after its commit, so the erased bytes leave it. */
bool rd_hub_erased(struct rd_hub *hub);

/* The earliest moment something is due (an offer expiring, a window at
 * risk or missed), or 0 when nothing is; 1 (long past: at once) while the
 * waitlist is being worked through after a change of routing file. */
int rd_hub_next_deadline(struct rd_hub *hub, int64_t *when);

/* Handle what is due at NOW (offers, windows, retention, a page of the
 * waitlist being worked through): at most LIMIT referrals per kind. *N_DONE is how many were
 * handled (call again while it equals the work left). 0, -EAGAIN while stale, or a negative errno.
 */
int rd_hub_tick(struct rd_hub *hub, int64_t now, size_t limit, size_t *n_done);

/* Put RULES in force (taken over) at NOW: the connectors' state is read
 * for them (aside: the old rules and state stay in force until it is
 * complete), open offers get the expiry of the new file, and the waitlist
 * is served for connectors with room. Emits config.reloaded. On success
 * *OLD receives the rules that were in force: free them once the
 * transaction committed, or, when the commit failed and was rolled back,
 * hand them back with rd_hub_restore_rules. On failure RULES is freed, the
 * old rules and their state are back in force, and the caller rolls back
 * and calls rd_hub_rolled_back. */
int rd_hub_set_rules(struct rd_hub *hub, struct rd_rules *rules, int64_t now,
                     struct rd_rules **old);

/* After a failed commit of a reload: put OLD back in force (the rules of the
 * reload are freed) and read memory again from the rolled-back store
 * (stale when that fails). */
void rd_hub_restore_rules(struct rd_hub *hub, struct rd_rules *old);

/* Offer waiting referrals to connectors with room (at start, when the
 * routing file may have changed while the daemon was down). 0, -EAGAIN
 * while stale, or a negative errno. */
int rd_hub_serve_waitlist(struct rd_hub *hub, int64_t now);

/* Record that a reload was refused: emits config.rejected with the first
 * error and the count. */
int rd_hub_reject_rules(struct rd_hub *hub, const char *first_error, size_t errors, int64_t now);

/* The events appended since the last rd_hub_events_clear, in seq order.
 * Publish them only after the transaction that holds them committed. */
const struct rd_event *rd_hub_events(const struct rd_hub *hub, size_t *n);

/* Event I's JSON text, as stored (owned by the hub until cleared). */
const char *rd_hub_event_text(const struct rd_hub *hub, size_t i);

void rd_hub_events_clear(struct rd_hub *hub);

#endif
