/* hub.c: the hub's construction, its outbox of events, the requests the
 * daemon brackets, and submit. */
#include "hub_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- construction ---------------------------------------------------------- */

int rd_hub_new(struct rd_store *store, struct rd_rules *rules, struct rd_hub **out)
{
        struct rd_hub *h = calloc(1, sizeof *h);
        int r;

        if (!h) {
                rd_rules_free(rules);
                return -ENOMEM;
        }
        h->store = store;
        h->rules = rules;
        h->wait_limit = WAIT_CACHE;
        h->sets.stale = true;
        r = rd_canonical_init(&h->canon);
        if (r == 0)
                r = hub_rebuild(h);
        if (r < 0) {
                rd_hub_free(h);
                return r;
        }
        *out = h;
        return 0;
}

static void outbox_truncate(struct rd_hub *h, size_t from);

void rd_hub_free(struct rd_hub *h)
{
        struct hub_state s;

        if (!h)
                return;
        s = (struct hub_state){h->conns, h->wait};
        hub_state_free(&s);
        sets_free(&h->sets);
        outbox_truncate(h, 0);
        free(h->events);
        free(h->texts);
        free(h->trace_buf);
        rd_canonical_free(&h->canon);
        rd_rules_free(h->trace_rules);
        rd_rules_free(h->rules);
        free(h);
}

const struct rd_rules *rd_hub_rules(const struct rd_hub *h)
{
        return h->rules;
}

uint32_t rd_hub_load(const struct rd_hub *h, size_t connector)
{
        return !h->stale && connector < h->conns.n ? h->conns.load[connector] : 0;
}

void rd_hub_set_wait_cache(struct rd_hub *h, size_t n)
{
        h->wait_limit = n ? n : 1;
        wait_trim(h);
}

/* ---- the outbox -------------------------------------------------------------- */

/* Room for N more events. 0 or -ENOMEM. */
static int outbox_reserve(struct rd_hub *h, size_t n)
{
        size_t cap = h->cap_events ? h->cap_events : 64;
        struct rd_event *v;
        char **t;

        while (cap < h->n_events + n)
                cap *= 2;
        if (cap == h->cap_events)
                return 0;
        v = realloc(h->events, cap * sizeof *v);
        if (v)
                h->events = v;
        t = realloc(h->texts, cap * sizeof *t);
        if (t)
                h->texts = t;
        if (!v || !t)
                return -ENOMEM;
        h->cap_events = cap;
        return 0;
}

/* Forget the outbox from index FROM on. */
static void outbox_truncate(struct rd_hub *h, size_t from)
{
        for (size_t i = from; i < h->n_events; i++)
                free(h->texts[i]);
        if (from < h->n_events)
                h->n_events = from;
}

void hub_copy_field(char *dst, size_t size, const char *src)
{
        size_t n = strnlen(src, size - 1);

        memcpy(dst, src, n);
        dst[n] = '\0';
}

void hub_event(struct rd_event *ev, enum rd_event_type type, const struct rd_stored *st,
               int64_t now, const char *connector)
{
        memset(ev, 0, sizeof *ev);
        ev->type = type;
        ev->at_ms = now;
        hub_copy_field(ev->id, sizeof ev->id, st->id);
        hub_copy_field(ev->partner, sizeof ev->partner, st->partner);
        hub_copy_field(ev->ref, sizeof ev->ref, st->ref);
        ev->status = st->status;
        if (type != RD_EV_RECEIVED) {
                hub_copy_field(ev->rule, sizeof ev->rule, st->rule);
                hub_copy_field(ev->team, sizeof ev->team, st->team);
                hub_copy_field(ev->connector, sizeof ev->connector,
                               connector ? connector : st->connector);
                ev->start_by_ms = st->start_by_ms;
                ev->expected_start_ms = st->expected_start_ms;
                hub_copy_field(ev->forward_to, sizeof ev->forward_to, st->forward_to);
        }
        /* a forward's reason, for the receiving service; a client's reason
         * for any other change is personal data and never in an event */
        if (type == RD_EV_FORWARDED)
                hub_copy_field(ev->reason, sizeof ev->reason, st->reason);
}

int hub_write(struct rd_hub *h, struct rd_store_change *ch, bool insert)
{
        int r = outbox_reserve(h, ch->n_events);

        if (r < 0)
                return r;
        ch->texts = &h->texts[h->n_events];
        r = insert ? rd_store_insert(h->store, ch) : rd_store_change(h->store, ch);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ch->n_events; i++, h->n_events++)
                if (&ch->events[i] != &h->events[h->n_events]) /* not written in place */
                        h->events[h->n_events] = ch->events[i];
        return 0;
}

int hub_emit(struct rd_hub *h, struct rd_stored *st, struct rd_event *ev)
{
        struct rd_store_change ch = {.st = st, .events = ev, .n_events = 1};
        return hub_write(h, &ch, false);
}

const struct rd_event *rd_hub_events(const struct rd_hub *h, size_t *n)
{
        *n = h->n_events;
        return h->events;
}

const char *rd_hub_event_text(const struct rd_hub *h, size_t i)
{
        return i < h->n_events ? h->texts[i] : NULL;
}

void rd_hub_events_clear(struct rd_hub *h)
{
        outbox_truncate(h, 0);
        h->mark_events = 0;
}

/* ---- requests --------------------------------------------------------------- */

/* Where a request begins: its events and writes come after these. */
static void request_mark(struct rd_hub *h)
{
        h->mark_events = h->n_events;
        h->mark_writes = h->store->writes;
}

int rd_hub_request_begin(struct rd_hub *h)
{
        request_mark(h);
        return rd_store_request_begin(h->store);
}

int rd_hub_request_begin_whole(struct rd_hub *h)
{
        request_mark(h);
        return rd_store_request_begin_whole(h->store);
}

int rd_hub_request_end(struct rd_hub *h, bool keep)
{
        int r = rd_store_request_end(h->store, keep);
        if (!keep || r < 0) {
                outbox_truncate(h, h->mark_events);
                /* memory follows the store only after a write: a request
                 * refused before it wrote anything (invalid, conflict, not
                 * found: checked without side effects) left memory as it
                 * was, and reading the whole state again for it would let
                 * one client's bad requests stall every other client */
                if (h->store->writes != h->mark_writes)
                        hub_rebuild(h); /* on failure stale: the next request reads it again */
        }
        return r;
}

void rd_hub_rolled_back(struct rd_hub *h)
{
        outbox_truncate(h, 0);
        h->mark_events = 0;
        h->recheck.has_after = false; /* what it did is undone: from the head again */
        hub_rebuild(h);
}

/* ---- the routing state --------------------------------------------------------- */

int hub_route_state(struct rd_hub *h, int64_t rowid, const char *const *excluded, size_t n_excluded,
                    size_t ahead, struct rd_route_state *rs)
{
        memset(rs, 0, sizeof *rs);
        rs->load = h->conns.load;
        rs->offers = h->conns.offers;
        rs->rr_last = h->conns.rr_ptr;
        rs->ends = (const int64_t *const *)h->conns.ends;
        rs->n_ends = h->conns.n_ends;
        rs->excluded = excluded;
        rs->n_excluded = n_excluded;
        if (ahead != SIZE_MAX) {
                rs->waiting = h->wait.view;
                rs->n_waiting = ahead;
                return 0;
        }
        return sets_route_state(h, rowid, rs);
}

int rd_hub_ready(struct rd_hub *h, struct rd_error *err)
{
        return hub_ready(h, err);
}

int rd_hub_route_state(struct rd_hub *h, struct rd_route_state *out)
{
        struct rd_route_state rs;
        int r = hub_ready(h, NULL);

        if (r == 0)
                r = hub_route_state(h, INT64_MAX, NULL, 0, SIZE_MAX, &rs);
        if (r == 0)
                *out = rs;
        return r;
}

/* ---- submit ---------------------------------------------------------------------- */

/* A same partner and ref as stored before: a duplicate, or a conflict. */
static int submitted_before(const struct rd_stored *st, const char *digest, struct rd_stored *out,
                            bool *duplicate, struct rd_error *err)
{
        if (strcmp(st->digest, digest) != 0)
                return rd_error_set(err, RD_CONFLICT, "referral.ref",
                                    "this partner already submitted a referral with this ref and "
                                    "different content; a new referral needs a new ref");
        *out = *st;
        *duplicate = true;
        return 0;
}

/* What a new referral R, decided D at NOW, is stored with. */
struct new_referral {
        struct rd_stored st;
        const char *trace;       /* compact, in the hub's buffer */
        struct wait_facts facts; /* waitlisted */
};

/* Store the new referral N with content CONTENT, then memory follows. Its
 * events (received, the decision, needs_attention) are written in the
 * outbox's room for them, where hub_write keeps them without a copy (the
 * room is reserved first: hub_write's reserve moves nothing). */
static int store_new(struct rd_hub *h, struct new_referral *n, const char *content,
                     const struct rd_decision *d, int64_t now)
{
        bool offer = d->status == RD_STATUS_ASSIGNED;
        int r = outbox_reserve(h, 3);
        struct rd_event *ev = r == 0 ? &h->events[h->n_events] : NULL;
        struct rd_store_change ch = {.st = &n->st,
                                     .content = content,
                                     .trace = n->trace,
                                     .rules_digest = h->rules->digest,
                                     .candidates = n->facts.cands,
                                     .teams = n->facts.teams,
                                     .offered = offer ? n->st.connector : NULL,
                                     .rr_rule = offer ? n->st.rule : NULL,
                                     .events = ev,
                                     .n_events = 2};

        if (r < 0)
                return r;
        hub_event(&ev[0], RD_EV_RECEIVED, &n->st, now, NULL);
        ev[0].status = RD_STATUS_RECEIVED; /* what it was when received */
        hub_event(&ev[1], hub_decision_event(d->status), &n->st, now, NULL);
        if (n->st.attention) /* nobody can take it: a coordinator must act */
                hub_attention_event(&ev[ch.n_events++], &n->st, now);
        r = hub_write(h, &ch, true);
        if (r == 0)
                r = hub_remember(h, &n->st, d, false, n->facts.cands, now);
        return r;
}

/* Decide R at NOW and store it with its decision. */
static int submit_new(struct rd_hub *h, const struct rd_referral *r, const char *content,
                      const char *digest, int64_t now, struct rd_stored *out)
{
        struct new_referral n;
        struct rd_route_record rec;
        const struct rd_decision *d = &rec.decision;
        struct rd_route_state rs;
        int rc = hub_route_state(h, INT64_MAX, NULL, 0, SIZE_MAX, &rs);

        if (rc == 0)
                rc = rd_route_decide_record(r, h->rules, &rs, SIZE_MAX, now, now, &rec);
        if (rc < 0)
                return rc;
        memset(&n, 0, sizeof n);
        hub_copy_field(n.st.partner, sizeof n.st.partner, r->partner);
        hub_copy_field(n.st.ref, sizeof n.st.ref, r->ref);
        hub_copy_field(n.st.digest, sizeof n.st.digest, digest);
        n.st.received_ms = now;
        n.st.urgency = r->urgency;
        n.st.status = RD_STATUS_RECEIVED;
        hub_fill_decision(h->rules, &n.st, d, now);
        n.trace = hub_trace_text(h, &rec);
        rc = n.trace ? 0 : -ENOMEM;
        if (rc == 0 && d->status == RD_STATUS_WAITLISTED) {
                rc = hub_wait_facts(h->rules, &rec, &n.facts);
                n.st.attention = n.facts.attention;
        }
        if (rc == 0)
                rc = store_new(h, &n, content, d, now);
        if (rc == 0)
                *out = n.st;
        hub_wait_facts_free(&n.facts);
        rd_route_record_clear(&rec);
        return rc;
}

int rd_hub_submit(struct rd_hub *h, const struct rd_referral *r, int64_t now, struct rd_stored *out,
                  bool *duplicate, struct rd_error *err)
{
        struct rd_stored st;
        const char *content;
        char digest[65];
        int rc = hub_ready(h, err);

        if (rc < 0)
                return rc;
        /* the text is borrowed from h->canon until the next submit */
        content = rd_canonical_write(&h->canon, r, NULL, digest);
        rc = content ? rd_store_find(h->store, r->partner, r->ref, &st) : -ENOMEM;
        if (rc == 0)
                return submitted_before(&st, digest, out, duplicate, err);
        if (rc == -ENOENT) /* decide first, then write it with its decision at once */
                rc = submit_new(h, r, content, digest, now, out);
        if (rc < 0) {
                rd_error_set(err, RD_INTERNAL, NULL,
                             "the daemon could not store this referral; nothing was stored; "
                             "retry later");
                return rc;
        }
        *duplicate = false;
        return 0;
}
