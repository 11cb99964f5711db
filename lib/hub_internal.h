/* hub_internal.h: inside the hub (hub.h), shared by its files only:
 *
 *   hub.c         construction, the outbox, requests, submit
 *   hub_state.c   the connectors' state in memory; reading it aside and
 *                 swapping it in (or marking the hub stale)
 *   hub_wait.c    the head of the waitlist and its counts by candidates
 *                 and urgency
 *   hub_serve.c   deciding again and serving the waitlist
 *   hub_attention.c  who may take a waiting referral, and when nobody can
 *                 (referral.needs_attention); working the waitlist through
 *                 again after a change of routing file
 *   hub_update.c  the update state machine
 *   hub_time.c    deadlines, retention, erase
 *   hub_reload.c  putting another routing file in force
 *
 * Every change goes to the store first and to memory second: a request
 * that fails half way leaves memory as it was or, after the store rolled
 * back, memory is read again from it (hub_rebuild). */
#ifndef RD_HUB_INTERNAL_H
#define RD_HUB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hub.h"

#define MAX_DECLINES 256 /* connectors remembered per referral for routing */
/* Waiting referrals kept in memory: the head of the waitlist. The rest stays
 * in the store, read a page at a time when the head runs out, so that a
 * long waitlist costs neither memory nor start-up time. */
#define WAIT_CACHE 1024
#define WAIT_PAGE 256
/* (rev 2) In the candidates a waiting referral is stored with (connector
 * ids, space separated), this word stands before its overflow candidates:
 * "an bo / cas dirk". Without overflow candidates it is left out, so a
 * routing file without overflow stores what it always stored, and an old
 * list reads as first-rank only. The store keeps the text whole and counts
 * the waitlist by it, so the counts by candidates know the ranks. */
#define WAIT_OVERFLOW_MARK "/"

/* ---- hub_state.c: the connectors ------------------------------------------------- */

/* Per connector of the rules it was read for, and per rule. */
struct hub_conns {
        size_t n; /* connectors */
        uint32_t *load;
        uint64_t *offers;
        int64_t **ends; /* expected ends of open referrals, ascending */
        size_t *n_ends, *cap_ends;
        char (*rr_last)[RD_ID_MAX + 1]; /* per rule */
        const char **rr_ptr;
};

/* ---- hub_wait.c: the waitlist ---------------------------------------------------- */

struct wait_entry {
        int64_t rowid;
        enum rd_urgency urgency; /* the order: highest urgency first, */
        int64_t start_by_ms;     /* then earliest start_by, then first received */
        size_t rule;             /* index into the rules in force, or SIZE_MAX: gone */
        size_t *cands;           /* connector indexes of the rules in force, */
        size_t n_cands;          /* first-rank ones first, */
        size_t n_overflow;       /* then this many overflow ones (rev 2) */
};

/* The head of the waitlist, in order: the first N waiting referrals of the
 * store's list (all of them when COMPLETE). */
struct wait_head {
        struct wait_entry *e;
        struct rd_waiting *view; /* the same, as route.h wants it */
        size_t n, cap;
        bool complete;
};

/* The whole waitlist by candidates and urgency: COUNT[i] referrals of
 * urgency VIEW[i].urgency wait for the connectors of VIEW[i] (their ids:
 * TEXT[i]), none with a start_by after LATEST[i] (struct rd_waiting_set);
 * reread from the store when STALE. ROWID: the referral the route state
 * was last made for (INT64_MAX: a new one), whose place the forecast asks
 * the store about (sets_route_state). */
struct wait_sets {
        char **text;
        struct rd_waiting *view;
        uint64_t *count;
        int64_t *latest;
        size_t n, cap;
        bool stale;
        int64_t rowid;
};

/* Everything the hub reads from the store into memory, for one rule set. */
struct hub_state {
        struct hub_conns conns;
        struct wait_head wait;
};

struct rd_hub {
        struct rd_store *store;
        struct rd_rules *rules;
        /* read for RULES; empty while STALE (the last read failed: every
         * request that needs it reads it again first, or is refused) */
        struct hub_conns conns;
        struct wait_head wait;
        bool stale;
        size_t wait_limit;
        struct wait_sets sets;
        /* the outbox: events appended since the last clear, and each one's
         * JSON text as stored */
        struct rd_event *events;
        char **texts;
        size_t n_events, cap_events, mark_events;
        uint64_t mark_writes; /* the store's writes when the request began */
        int64_t retention_ms; /* erase personal data this long after a final status */
        bool erased;          /* something was erased since rd_hub_erased() */
        /* the waitlist is being worked through again for the rules in
         * force (its candidates were worked out under another file), from
         * after AFTER (from the head without HAS_AFTER), a page per tick */
        struct {
                bool on, has_after;
                struct rd_wait_key after;
        } recheck;
        /* the compact trace of the latest decision (hub_trace_text),
         * reused from one decision to the next */
        char *trace_buf;
        size_t trace_cap;
        /* the canonical form of the referral submitted and its digest,
         * the writer and the digest's context reused */
        struct rd_canonical canon;
        /* the routing file of the last trace rendered that was not made
         * under RULES (rd_hub_trace_json), or NULL */
        struct rd_rules *trace_rules;
};

/* ---- hub_state.c ------------------------------------------------------------------ */

/* Read the state for RULES from STORE, in one pass, into *OUT (the head of
 * the waitlist: WAIT_LIMIT entries). 0, or a negative errno with *OUT
 * untouched: nothing half read is ever handed out. */
int hub_state_read(struct rd_store *store, const struct rd_rules *rules, size_t wait_limit,
                   struct hub_state *out);

/* Free what S holds and empty it. */
void hub_state_free(struct hub_state *s);

/* Put S (taken over) in force in H, and hand the state it replaces back in
 * *OLD (caller frees); the counts by candidates become stale. */
void hub_state_swap(struct rd_hub *h, struct hub_state *s, struct hub_state *old);

/* Read H's state for H->rules aside and swap it in when complete. On
 * failure the old state is dropped and H is stale. 0 or a negative errno. */
int hub_rebuild(struct rd_hub *h);

/* 0 when H's state is there, read again first if it was stale; else
 * RD_UNAVAILABLE in ERR (may be NULL) and -EAGAIN. */
int hub_ready(struct rd_hub *h, struct rd_error *err);

/* When the open referral ST is expected to end (routing.md, the forecast). */
int64_t hub_expected_end(const struct rd_rules *rules, const struct rd_stored *st);

/* Keep END among connector C's expected ends, or take one END out. */
int hub_ends_insert(struct rd_hub *h, size_t c, int64_t end);
void hub_ends_remove(struct rd_hub *h, size_t c, int64_t end);

/* Connector C of the rules in force got an offer, expected to end at END. */
int hub_offer_taken(struct rd_hub *h, size_t c, int64_t end);

/* The connector of ST (as the store had it) lets go of it: load, ends.
 * Returns its index in the rules in force, or SIZE_MAX. */
size_t hub_release(struct rd_hub *h, const struct rd_stored *st);

/* ---- hub_wait.c ---------------------------------------------------------------------- */

void wait_free(struct wait_head *w);

/* Put ST, waiting for the space-separated CANDIDATES (connector ids of
 * RULES; others are skipped), at index AT of W. 0 or -ENOMEM. */
int wait_put(struct wait_head *w, const struct rd_rules *rules, size_t at,
             const struct rd_stored *st, const char *candidates);

/* Keep at most H->wait_limit entries in memory. */
void wait_trim(struct rd_hub *h);

/* ST has just joined the waitlist (the store has it), waiting for
 * CANDIDATES: into the head when its place is there; the counts follow. */
int wait_joined(struct rd_hub *h, const struct rd_stored *st, const char *candidates);

/* Read up to N more waiting referrals from the store onto the end of the
 * head. 0, -ENOMEM or a store errno. */
int wait_extend(struct rd_hub *h, size_t n);

/* Referral ROWID left the waitlist (the store has it). */
void wait_remove(struct rd_hub *h, int64_t rowid);

/* Where referral ROWID is in W, from index FROM on; -1 when not there. */
ssize_t wait_find(const struct wait_head *w, size_t from, int64_t rowid);

/* Where waiting referral ROWID is in the head, reading more of the list
 * from the store until it is found; -1 when it is not waiting (*ERR: 0) or
 * on a fault (*ERR: a negative errno). */
ssize_t wait_find_extend(struct rd_hub *h, int64_t rowid, int *err);

/* Entry AT of the head waits for CANDIDATES now (its place stays). */
int wait_recandidate(struct rd_hub *h, size_t at, const char *candidates);

void sets_clear(struct wait_sets *s);
void sets_free(struct wait_sets *s);

/* The counts by candidates, reread from the store when stale. 0 or errno. */
int sets_fresh(struct rd_hub *h);

/* The whole waitlist by candidates and urgency into RS, for deciding the
 * referral ROWID (INT64_MAX: a new one) that does not wait: the sets (read
 * first when stale), and how many of a set of its urgency come before it,
 * from the store (struct rd_route_state, set_ahead). RS borrows from H
 * until the next change of the waitlist. 0 or a store errno. */
int sets_route_state(struct rd_hub *h, int64_t rowid, struct rd_route_state *rs);

/* ---- hub.c --------------------------------------------------------------------------- */

/* SRC into DST of SIZE bytes, cut to fit (snprintf's "%s", without its
 * cost; the fields of rd_stored and rd_event have the same sizes: nothing
 * is cut but a longer CONNECTOR). */
void hub_copy_field(char *dst, size_t size, const char *src);

/* An event of TYPE about referral ST at NOW into *EV (written in place:
 * an event is some 1,700 bytes, not to be copied back); CONNECTOR
 * overrides the connector named (the one who declined or let an offer
 * lapse). */
void hub_event(struct rd_event *ev, enum rd_event_type type, const struct rd_stored *st,
               int64_t now, const char *connector);

/* Write CH to the store (INSERT: a new referral) and put its events in
 * the outbox. 0 or a negative errno (the outbox unchanged). */
int hub_write(struct rd_hub *h, struct rd_store_change *ch, bool insert);

/* Only the event EV, about referral ST (NULL: none). */
int hub_emit(struct rd_hub *h, struct rd_stored *st, struct rd_event *ev);

/* The routing state for deciding referral ROWID (INT64_MAX: a new one),
 * excluding the EXCLUDED connectors: the referrals waiting ahead of it are
 * the first AHEAD of the head, or, with AHEAD == SIZE_MAX, the whole
 * waitlist, by candidates and urgency (sets_route_state: those of a higher
 * urgency before it, of a lower one after it, of its own urgency before it
 * when their start_by is earlier, or the same and they came first). For a
 * waiting referral decided again (AHEAD: its place) those behind it are
 * left out, also those that a connector would serve first for being
 * first-rank for them and overflow for it: such a decision only ever keeps
 * an offer, never its forecast. 0, -ENOMEM or a store errno. */
int hub_route_state(struct rd_hub *h, int64_t rowid, const char *const *excluded, size_t n_excluded,
                    size_t ahead, struct rd_route_state *rs);

/* ---- hub_serve.c ---------------------------------------------------------------------- */

/* Write decision D (at NOW) into the columns of ST. */
void hub_fill_decision(const struct rd_rules *rules, struct rd_stored *st,
                       const struct rd_decision *d, int64_t now);

/* The event of a decision of STATUS. */
enum rd_event_type hub_decision_event(enum rd_status status);

/* The candidates a waiting referral may take, from the record REC of its
 * decision under RULES (rd_route_eligible), as the store keeps them
 * (WAIT_OVERFLOW_MARK before the overflow ones; malloc'ed, caller frees),
 * or NULL without memory. */
char *hub_waiting_candidates(const struct rd_rules *rules, const struct rd_route_record *rec);

/* The compact trace of REC (a decision under H's rules) as the store keeps
 * it (trace_store.h), in H's buffer: valid until the next call. NULL
 * without memory. */
const char *hub_trace_text(struct rd_hub *h, const struct rd_route_record *rec);

/* Append WORD to the text at BUF (SIZE bytes, *LEN used), space separated.
 * false when it does not fit (BUF is left as it was). */
bool hub_append_word(char *buf, size_t size, size_t *len, const char *word);

/* Memory follows decision D for ST, once the store has it. */
int hub_remember(struct rd_hub *h, const struct rd_stored *st, const struct rd_decision *d,
                 bool was_waiting, const char *cands, int64_t now);

/* accept_within of RULE (its own when it assigns, else the file's), in ms. */
int64_t hub_accept_within_ms(const struct rd_rules *rules, const char *rule);

/* The connector of offer ST let go of it (TYPE: declined, with the
 * client's reason WHY or NULL; expired): record it, decide again, then
 * serve the waitlist with the room it left. */
int hub_offer_ended(struct rd_hub *h, struct rd_stored *st, enum rd_event_type type,
                    const struct rd_store_reason *why, int64_t now);

/* Decide again for stored referral ST at NOW, by its rule when that still
 * assigns in the file, without those who declined it: the decision and
 * what it found into *REC (caller frees: rd_route_record_clear). The
 * referrals waiting ahead of it: the first AHEAD of the head, or (SIZE_MAX)
 * the whole waitlist by candidates. Reads only. 0 or a negative errno (REC
 * untouched). */
int hub_decide_again(struct rd_hub *h, const struct rd_stored *st, size_t ahead, int64_t now,
                     struct rd_route_record *rec);

/* Record the decision of REC for ST at NOW, with its trace: the store,
 * with the decision's event (and referral.needs_attention when it starts
 * to wait for a coordinator), then memory. */
int hub_apply(struct rd_hub *h, struct rd_stored *st, const struct rd_route_record *rec,
              int64_t now);

/* Serve the waitlist now that connector FREED has room: the waiting
 * referrals for which it is a first-rank candidate in waitlist order, then
 * (rev 2) those for which it is an overflow candidate, in waitlist order. */
int hub_serve_freed(struct rd_hub *h, size_t freed, int64_t now);

/* At start and on reload: serve every connector with room, first-rank
 * candidates first as hub_serve_freed. When the routing file is not the
 * one the waiting referrals' candidates were worked out with, every
 * waiting referral is decided again: those that the passes for the
 * connectors with room do not reach are worked through by hub_recheck. */
int hub_serve_everyone(struct rd_hub *h, int64_t now);

/* ---- hub_attention.c ---------------------------------------------------------------- */

/* What the decision of a waiting referral found of who may take it:
 * its eligible candidates (not passed over for postcode, skill, language or
 * a decline) and the teams of the first-rank ones, each space separated as
 * the store keeps them (malloc'ed), and whether it needs a coordinator. */
struct wait_facts {
        char *cands, *teams;
        enum rd_attention attention;
};

/* The facts of record REC (RULES: the file it was decided under) into
 * *OUT. 0 or -ENOMEM (*OUT then holds nothing to free). */
int hub_wait_facts(const struct rd_rules *rules, const struct rd_route_record *rec,
                   struct wait_facts *out);

/* Free what F holds. */
void hub_wait_facts_free(struct wait_facts *f);

/* referral.needs_attention about ST (its attention set) at NOW, into *EV
 * (hub_event). */
void hub_attention_event(struct rd_event *ev, const struct rd_stored *st, int64_t now);

/* Waiting referral ST, at POS in the head (-1: not in it), gets the
 * candidates of the decision REC (decided at NOW), in the store and in
 * memory (its place in the waitlist stays); entering or leaving
 * needs_attention emits referral.needs_attention or referral.waitlisted
 * (without attention). */
int hub_recandidate(struct rd_hub *h, ssize_t pos, struct rd_stored *st,
                    const struct rd_route_record *rec, int64_t now);

/* *CURRENT: the store's fact KEY (META_*) names the rules in force. 0 or a
 * store errno. */
int hub_rules_current(struct rd_hub *h, const char *key, bool *current);

/* Unless the waiting referrals' teams and attention were worked out with
 * the rules in force (META_ATTENTION), start working the waitlist through
 * again (H->recheck) at NOW, as many as the head holds at once. 0 or a
 * negative errno. */
int hub_recheck_begin(struct rd_hub *h, int64_t now);

/* Waiting referrals worked through again per tick: each is decided again,
 * so a page this size keeps a tick short (requests come in between). */
#define RECHECK_PAGE 64

/* Work the waitlist through again (H->recheck) for at most LIMIT waiting
 * referrals at NOW: each is decided again (an offer when a candidate has
 * room, else its candidates and attention follow the rules in force). Once
 * the whole list is done, the store remembers the file (both META_*).
 * *DONE grows by the referrals handled (and 1 for the end). 0 or a
 * negative errno. */
int hub_recheck(struct rd_hub *h, int64_t now, size_t limit, size_t *done);

/* Facts of the store (meta): the routing file every waiting referral's
 * candidates, and their teams and attention, were worked out with. */
#define META_CANDIDATES "candidates_rules"
#define META_ATTENTION "attention_rules"

#endif
