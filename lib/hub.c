#include "hub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

#define MAX_DECLINES 256 /* connectors remembered per referral for routing */
/* Waiting referrals kept in memory: the head of the waitlist. The rest stays
 * in the store, read a page at a time when the head runs out, so that a
 * long waitlist costs neither memory nor start-up time. */
#define WAIT_CACHE 1024
#define WAIT_PAGE 256

struct wait_entry {
        int64_t rowid;
        enum rd_urgency urgency; /* the order: highest urgency first, */
        int64_t start_by_ms;     /* then earliest start_by, then first received */
        size_t rule;             /* index into the rules in force, or SIZE_MAX: gone */
        size_t *cands;           /* connector indexes of the rules in force */
        size_t n_cands;
};

struct rd_hub {
        struct rd_store *store;
        struct rd_rules *rules;
        /* connectors, indexed like rules->connectors */
        uint32_t *load;
        uint64_t *offers;
        int64_t **ends; /* expected ends of open referrals, ascending */
        size_t *n_ends, *cap_ends;
        char (*rr_last)[RD_ID_MAX + 1]; /* per rule */
        const char **rr_ptr;
        /* the head of the waitlist, in order: the first n_wait waiting
         * referrals of the store's list (all of them when wait_complete) */
        struct wait_entry *wait;
        size_t n_wait, cap_wait, wait_limit;
        bool wait_complete;
        struct rd_waiting *wview; /* the same, as route.h wants it */
        /* the whole waitlist by candidates: scount[i] referrals wait for
         * the connectors of sview[i] (their ids: stext[i]); reread from
         * the store when sets_stale */
        char **stext;
        struct rd_waiting *sview;
        uint64_t *scount;
        size_t n_sets, cap_sets;
        bool sets_stale;
        /* the outbox */
        struct rd_event *events;
        char **texts; /* each event's JSON text, as stored */
        size_t n_events, cap_events, mark_events;
        int64_t retention_ms; /* erase personal data this long after a final status */
        bool erased;          /* something was erased since rd_hub_erased() */
};

static void outbox_truncate(struct rd_hub *h, size_t from);

/* ---- memory state -------------------------------------------------------- */

static void wait_clear(struct rd_hub *h)
{
        for (size_t i = 0; i < h->n_wait; i++)
                free(h->wait[i].cands);
        h->n_wait = 0;
        h->wait_complete = false;
}

static void sets_clear(struct rd_hub *h)
{
        for (size_t i = 0; i < h->n_sets; i++) {
                free(h->stext[i]);
                free((size_t *)h->sview[i].candidates);
        }
        h->n_sets = 0;
        h->sets_stale = true;
}

static void conns_free(struct rd_hub *h)
{
        size_t nc = h->rules ? h->rules->n_connectors : 0;
        if (h->ends)
                for (size_t i = 0; i < nc; i++)
                        free(h->ends[i]);
        free(h->load);
        free(h->offers);
        free(h->ends);
        free(h->n_ends);
        free(h->cap_ends);
        free(h->rr_last);
        free(h->rr_ptr);
        h->load = NULL;
        h->offers = NULL;
        h->ends = NULL;
        h->n_ends = h->cap_ends = NULL;
        h->rr_last = NULL;
        h->rr_ptr = NULL;
}

static int ends_insert(struct rd_hub *h, size_t c, int64_t end)
{
        size_t i;
        if (h->n_ends[c] == h->cap_ends[c]) {
                size_t cap = h->cap_ends[c] ? h->cap_ends[c] * 2 : 8;
                int64_t *v = realloc(h->ends[c], cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                h->ends[c] = v;
                h->cap_ends[c] = cap;
        }
        for (i = h->n_ends[c]; i > 0 && h->ends[c][i - 1] > end; i--)
                h->ends[c][i] = h->ends[c][i - 1];
        h->ends[c][i] = end;
        h->n_ends[c]++;
        return 0;
}

static void ends_remove(struct rd_hub *h, size_t c, int64_t end)
{
        for (size_t i = 0; i < h->n_ends[c]; i++) {
                if (h->ends[c][i] == end) {
                        memmove(&h->ends[c][i], &h->ends[c][i + 1],
                                (h->n_ends[c] - i - 1) * sizeof h->ends[c][0]);
                        h->n_ends[c]--;
                        return;
                }
        }
}

/* When an open referral is expected to end (routing.md, the forecast). */
static int64_t expected_end(const struct rd_rules *rules, const struct rd_stored *st)
{
        if (st->expected_end_ms)
                return st->expected_end_ms;
        if (st->started_ms)
                return st->started_ms + rules->trajectory_s * 1000;
        return st->offered_ms + rules->trajectory_s * 1000;
}

static int holds_load(const struct rd_stored *st)
{
        return (st->status == RD_STATUS_ASSIGNED || st->status == RD_STATUS_ACCEPTED ||
                st->status == RD_STATUS_STARTED) &&
               st->connector[0];
}

static int rebuild_open(void *ctx, const struct rd_stored *st)
{
        struct rd_hub *h = ctx;
        ssize_t c = rd_rules_connector_index(h->rules, st->connector);
        if (c < 0) /* a connector removed from the file keeps its referrals */
                return 0;
        h->load[c]++;
        return ends_insert(h, (size_t)c, expected_end(h->rules, st));
}

static int rebuild_offers(void *ctx, const char *connector, int64_t count)
{
        struct rd_hub *h = ctx;
        ssize_t c = rd_rules_connector_index(h->rules, connector);
        if (c >= 0)
                h->offers[c] = (uint64_t)count;
        return 0;
}

static int rebuild_rr(void *ctx, const char *rule, const char *connector)
{
        struct rd_hub *h = ctx;
        ssize_t i = rd_rules_rule_index(h->rules, rule);
        if (i >= 0) {
                snprintf(h->rr_last[i], RD_ID_MAX + 1, "%s", connector);
                h->rr_ptr[i] = h->rr_last[i];
        }
        return 0;
}

/* The connector indexes (rules in force) of the space-separated ids in
 * CANDIDATES, those not in the rules skipped: a new array in *OUT (caller
 * frees) and its length in *N. 0 or -ENOMEM. */
static int parse_candidates(const struct rd_rules *rules, const char *candidates, size_t **out,
                            size_t *n)
{
        size_t *v = calloc(rules->n_connectors + 1, sizeof *v), k = 0;
        const char *p = candidates;

        if (!v)
                return -ENOMEM;
        while (*p) {
                char id[RD_ID_MAX + 1];
                size_t len = strcspn(p, " ");
                ssize_t c;
                if (len && len <= RD_ID_MAX) {
                        memcpy(id, p, len);
                        id[len] = '\0';
                        c = rd_rules_connector_index(rules, id);
                        if (c >= 0 && k < rules->n_connectors)
                                v[k++] = (size_t)c;
                }
                p += len;
                while (*p == ' ')
                        p++;
        }
        *out = v;
        *n = k;
        return 0;
}

/* N more referrals wait for CANDIDATES (the whole waitlist's count). */
static int sets_add(struct rd_hub *h, const char *candidates, uint64_t n)
{
        size_t i;
        int r;

        for (i = 0; i < h->n_sets; i++)
                if (strcmp(h->stext[i], candidates) == 0) {
                        h->scount[i] += n;
                        return 0;
                }
        if (h->n_sets == h->cap_sets) {
                size_t cap = h->cap_sets ? h->cap_sets * 2 : 8;
                char **t = realloc(h->stext, cap * sizeof *t);
                struct rd_waiting *v;
                uint64_t *c;
                if (t)
                        h->stext = t;
                v = t ? realloc(h->sview, cap * sizeof *v) : NULL;
                if (v)
                        h->sview = v;
                c = v ? realloc(h->scount, cap * sizeof *c) : NULL;
                if (!c)
                        return -ENOMEM;
                h->scount = c;
                h->cap_sets = cap;
        }
        h->stext[i] = strdup(candidates);
        if (!h->stext[i])
                return -ENOMEM;
        memset(&h->sview[i], 0, sizeof h->sview[i]); /* all first-rank, all ahead */
        r = parse_candidates(h->rules, candidates, (size_t **)&h->sview[i].candidates,
                             &h->sview[i].n_candidates);
        if (r < 0) {
                free(h->stext[i]);
                return r;
        }
        h->scount[i] = n;
        h->n_sets++;
        return 0;
}

static int load_set(void *ctx, const char *candidates, int64_t count)
{
        return count > 0 ? sets_add(ctx, candidates, (uint64_t)count) : 0;
}

/* The counts by candidates, reread from the store when a change made them
 * stale. 0, -ENOMEM or -EIO. */
static int sets_fresh(struct rd_hub *h)
{
        int r;
        if (!h->sets_stale)
                return 0;
        sets_clear(h);
        r = rd_store_each_waiting_set(h->store, load_set, h);
        if (r < 0) {
                sets_clear(h);
                return r;
        }
        h->sets_stale = false;
        return 0;
}

static bool wait_before(const struct wait_entry *a, const struct rd_stored *b)
{
        if (a->urgency != b->urgency)
                return a->urgency > b->urgency;
        if (a->start_by_ms != b->start_by_ms)
                return a->start_by_ms < b->start_by_ms;
        return a->rowid < b->rowid;
}

/* Drop the last entry of the head: the list goes on in the store. */
static void wait_drop_last(struct rd_hub *h)
{
        free(h->wait[h->n_wait - 1].cands);
        h->n_wait--;
        h->wait_complete = false;
}

/* Keep at most wait_limit entries in memory. */
static void wait_trim(struct rd_hub *h)
{
        while (h->n_wait > h->wait_limit)
                wait_drop_last(h);
}

/* Entry AT of the head may be taken by the space-separated CANDIDATES
 * (connector ids; those not in the rules in force are skipped). */
static int wait_set_candidates(struct rd_hub *h, size_t at, const char *candidates)
{
        struct wait_entry *e = &h->wait[at];
        int r;

        free(e->cands);
        e->cands = NULL;
        e->n_cands = 0;
        r = parse_candidates(h->rules, candidates, &e->cands, &e->n_cands);
        h->wview[at].candidates = e->cands;
        h->wview[at].n_candidates = e->n_cands;
        return r;
}

/* Put ST, waiting for the space-separated CANDIDATES, at index AT of the
 * head. */
static int wait_put(struct rd_hub *h, size_t at, const struct rd_stored *st, const char *candidates)
{
        struct wait_entry *e;
        ssize_t ri = rd_rules_rule_index(h->rules, st->rule);

        if (h->n_wait == h->cap_wait) {
                size_t cap = h->cap_wait ? h->cap_wait * 2 : 64;
                struct wait_entry *v = realloc(h->wait, cap * sizeof *v);
                struct rd_waiting *wv = realloc(h->wview, cap * sizeof *wv);
                if (v)
                        h->wait = v;
                if (wv)
                        h->wview = wv;
                if (!v || !wv)
                        return -ENOMEM;
                h->cap_wait = cap;
        }
        memmove(&h->wait[at + 1], &h->wait[at], (h->n_wait - at) * sizeof h->wait[0]);
        memmove(&h->wview[at + 1], &h->wview[at], (h->n_wait - at) * sizeof h->wview[0]);
        memset(&h->wview[at], 0, sizeof h->wview[at]);
        e = &h->wait[at];
        memset(e, 0, sizeof *e);
        e->rowid = st->rowid;
        e->urgency = st->urgency;
        e->start_by_ms = st->start_by_ms;
        e->rule = ri < 0 ? SIZE_MAX : (size_t)ri;
        h->n_wait++; /* the entry is in place: wait_clear frees it in any case */
        return wait_set_candidates(h, at, candidates);
}

/* ST has just joined the waitlist, waiting for CANDIDATES: into the head
 * when its place is there, else it stays in the store only. */
static int wait_insert(struct rd_hub *h, const struct rd_stored *st, const char *candidates)
{
        size_t at = h->n_wait;
        int r;

        while (at > 0 && !wait_before(&h->wait[at - 1], st))
                at--;
        if (at == h->n_wait && !h->wait_complete)
                return 0; /* behind the head: read from the store when needed */
        r = wait_put(h, at, st, candidates);
        if (r == 0 && h->n_wait > h->wait_limit)
                wait_drop_last(h);
        return r;
}

static int wait_append(void *ctx, const struct rd_stored *st, const char *candidates)
{
        struct rd_hub *h = ctx;
        return wait_put(h, h->n_wait, st, candidates);
}

/* Read up to N more waiting referrals from the store onto the end of the
 * head. 0, -ENOMEM or -EIO. */
static int wait_extend(struct rd_hub *h, size_t n)
{
        struct rd_wait_key key;
        size_t got = 0;
        int r;

        if (h->wait_complete)
                return 0;
        if (h->n_wait) {
                const struct wait_entry *e = &h->wait[h->n_wait - 1];
                key.urgency = e->urgency;
                key.start_by_ms = e->start_by_ms;
                key.rowid = e->rowid;
        }
        r = rd_store_each_waiting(h->store, h->n_wait ? &key : NULL, n, wait_append, h, &got);
        if (r == 0 && got < n)
                h->wait_complete = true;
        return r;
}

/* Everything in memory, from the store, for the rules in force. */
static int rebuild(struct rd_hub *h)
{
        size_t nc = h->rules->n_connectors + 1, nr = h->rules->n_rules + 1;
        int r;

        conns_free(h);
        wait_clear(h);
        sets_clear(h); /* stale: read when first needed */
        h->load = calloc(nc, sizeof *h->load);
        h->offers = calloc(nc, sizeof *h->offers);
        h->ends = calloc(nc, sizeof *h->ends);
        h->n_ends = calloc(nc, sizeof *h->n_ends);
        h->cap_ends = calloc(nc, sizeof *h->cap_ends);
        h->rr_last = calloc(nr, sizeof *h->rr_last);
        h->rr_ptr = calloc(nr, sizeof *h->rr_ptr);
        if (!h->load || !h->offers || !h->ends || !h->n_ends || !h->cap_ends || !h->rr_last ||
            !h->rr_ptr)
                return -ENOMEM;
        r = rd_store_each_open(h->store, rebuild_open, h);
        if (r == 0)
                r = rd_store_each_offer_count(h->store, rebuild_offers, h);
        if (r == 0)
                r = rd_store_each_rr(h->store, rebuild_rr, h);
        if (r == 0)
                r = wait_extend(h, h->wait_limit);
        return r;
}

static ssize_t wait_find(const struct rd_hub *h, int64_t rowid)
{
        for (size_t i = 0; i < h->n_wait; i++)
                if (h->wait[i].rowid == rowid)
                        return (ssize_t)i;
        return -1;
}

static void wait_remove(struct rd_hub *h, int64_t rowid)
{
        ssize_t i = wait_find(h, rowid);
        h->sets_stale = true; /* it left the list (the store's counts follow) */
        if (i < 0)
                return;
        free(h->wait[i].cands);
        memmove(&h->wait[i], &h->wait[i + 1], (h->n_wait - (size_t)i - 1) * sizeof h->wait[0]);
        memmove(&h->wview[i], &h->wview[i + 1], (h->n_wait - (size_t)i - 1) * sizeof h->wview[0]);
        h->n_wait--;
}

/* Where waiting referral ROWID is in the head, reading more of the list
 * from the store until it is found; -1 when it is not waiting. */
static ssize_t wait_find_extend(struct rd_hub *h, int64_t rowid, int *err)
{
        ssize_t i = wait_find(h, rowid);
        *err = 0;
        while (i < 0 && !h->wait_complete) {
                size_t from = h->n_wait;
                *err = wait_extend(h, WAIT_PAGE);
                if (*err < 0)
                        return -1;
                for (size_t k = from; k < h->n_wait && i < 0; k++)
                        if (h->wait[k].rowid == rowid)
                                i = (ssize_t)k;
        }
        return i;
}

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
        r = rebuild(h);
        if (r < 0) {
                rd_hub_free(h);
                return r;
        }
        *out = h;
        return 0;
}

void rd_hub_free(struct rd_hub *h)
{
        if (!h)
                return;
        conns_free(h);
        wait_clear(h);
        free(h->wait);
        free(h->wview);
        sets_clear(h);
        free(h->stext);
        free(h->sview);
        free(h->scount);
        outbox_truncate(h, 0);
        free(h->events);
        free(h->texts);
        rd_rules_free(h->rules);
        free(h);
}

const struct rd_rules *rd_hub_rules(const struct rd_hub *h)
{
        return h->rules;
}

uint32_t rd_hub_load(const struct rd_hub *h, size_t connector)
{
        return connector < h->rules->n_connectors ? h->load[connector] : 0;
}

/* ---- events ------------------------------------------------------------------ */

static int emit_flags(struct rd_hub *h, struct rd_event *ev, int64_t rowid, unsigned flags)
{
        char *text = NULL;
        int r;
        if (h->n_events == h->cap_events) {
                size_t cap = h->cap_events ? h->cap_events * 2 : 64;
                struct rd_event *v = realloc(h->events, cap * sizeof *v);
                char **t = realloc(h->texts, cap * sizeof *t);
                if (v)
                        h->events = v;
                if (t)
                        h->texts = t;
                if (!v || !t)
                        return -ENOMEM;
                h->cap_events = cap;
        }
        r = rd_store_append_event(h->store, ev, rowid, flags, &text);
        if (r < 0)
                return r;
        h->texts[h->n_events] = text;
        h->events[h->n_events++] = *ev;
        return 0;
}

static int emit(struct rd_hub *h, struct rd_event *ev, int64_t rowid)
{
        return emit_flags(h, ev, rowid, 0);
}

/* Forget the outbox from index FROM on. */
static void outbox_truncate(struct rd_hub *h, size_t from)
{
        for (size_t i = from; i < h->n_events; i++)
                free(h->texts[i]);
        if (from < h->n_events)
                h->n_events = from;
}

/* An event about referral ST of TYPE at NOW; CONNECTOR overrides the
 * connector named (the one who declined or let an offer lapse). */
static int emit_for_flags(struct rd_hub *h, enum rd_event_type type, const struct rd_stored *st,
                          int64_t now, const char *connector, unsigned flags)
{
        struct rd_event ev;

        memset(&ev, 0, sizeof ev);
        ev.type = type;
        ev.at_ms = now;
        snprintf(ev.id, sizeof ev.id, "%s", st->id);
        snprintf(ev.partner, sizeof ev.partner, "%s", st->partner);
        snprintf(ev.ref, sizeof ev.ref, "%s", st->ref);
        ev.status = st->status;
        if (type != RD_EV_RECEIVED) {
                snprintf(ev.rule, sizeof ev.rule, "%s", st->rule);
                snprintf(ev.team, sizeof ev.team, "%s", st->team);
                snprintf(ev.connector, sizeof ev.connector, "%s",
                         connector ? connector : st->connector);
                ev.start_by_ms = st->start_by_ms;
                ev.expected_start_ms = st->expected_start_ms;
                snprintf(ev.forward_to, sizeof ev.forward_to, "%s", st->forward_to);
                snprintf(ev.reason, sizeof ev.reason, "%s", st->reason);
        }
        return emit_flags(h, &ev, st->rowid, flags);
}

static int emit_for(struct rd_hub *h, enum rd_event_type type, const struct rd_stored *st,
                    int64_t now, const char *connector)
{
        return emit_for_flags(h, type, st, now, connector, 0);
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

int rd_hub_request_begin(struct rd_hub *h)
{
        h->mark_events = h->n_events;
        return rd_store_request_begin(h->store);
}

int rd_hub_request_end(struct rd_hub *h, bool keep)
{
        int r = rd_store_request_end(h->store, keep);
        if (!keep || r < 0) {
                outbox_truncate(h, h->mark_events);
                rebuild(h);
        }
        return r;
}

void rd_hub_rolled_back(struct rd_hub *h)
{
        outbox_truncate(h, 0);
        h->mark_events = 0;
        rebuild(h);
}

/* ---- deciding ------------------------------------------------------------------ */

struct declines {
        const char *ids[MAX_DECLINES];
        char buf[MAX_DECLINES][RD_ID_MAX + 1];
        size_t n;
};

static int add_decline(void *ctx, const char *connector)
{
        struct declines *d = ctx;
        if (d->n < MAX_DECLINES) {
                snprintf(d->buf[d->n], sizeof d->buf[d->n], "%s", connector);
                d->ids[d->n] = d->buf[d->n];
                d->n++;
        }
        return 0;
}

/* Space-separated ids of the candidates the trace found eligible (free or
 * full, not passed over for postcode, skill, language or a decline). */
static void trace_candidates(const json_t *trace, char *buf, size_t size)
{
        const json_t *cands = json_object_get(trace, "candidates"), *c;
        size_t i, len = 0;

        buf[0] = '\0';
        json_array_foreach(cands, i, c)
        {
                const char *why = json_string_value(json_object_get(c, "passed_over"));
                const char *id = json_string_value(json_object_get(c, "connector"));
                int n;
                if (!id || (why && strcmp(why, "full") != 0 && strcmp(why, "not_picked") != 0))
                        continue;
                n = snprintf(buf + len, size - len, "%s%s", len ? " " : "", id);
                if (n < 0 || (size_t)n >= size - len) {
                        buf[len] = '\0';
                        return;
                }
                len += (size_t)n;
        }
}

/* Record decision D for ST (received, or being decided again) at NOW, with
 * its TRACE. Emits the decision's event and keeps memory in step. */
/* Write decision D (at NOW) into the columns of ST. */
static void fill_decision(const struct rd_rules *rules, struct rd_stored *st,
                          const struct rd_decision *d, int64_t now)
{
        snprintf(st->rule, sizeof st->rule, "%s", rules->rules[d->rule].name);
        st->team[0] = st->connector[0] = st->forward_to[0] = st->reason[0] = '\0';
        st->offered_ms = st->offer_expires_ms = st->expected_start_ms = 0;
        if (st->status == RD_STATUS_RECEIVED)
                st->start_by_ms = d->start_by_ms; /* a new referral's window */
        st->status = d->status;
        switch (d->status) {
        case RD_STATUS_ASSIGNED:
                snprintf(st->team, sizeof st->team, "%s", rules->teams[d->team].id);
                snprintf(st->connector, sizeof st->connector, "%s",
                         rules->connectors[d->connector].id);
                st->offered_ms = now;
                st->offer_expires_ms = d->offer_expires_ms;
                break;
        case RD_STATUS_WAITLISTED: st->expected_start_ms = d->expected_start_ms; break;
        default:
                snprintf(st->forward_to, sizeof st->forward_to, "%s",
                         rules->targets[d->forward_to].id);
                snprintf(st->reason, sizeof st->reason, "%s", d->reason ? d->reason : "");
                st->start_by_ms = 0; /* a forwarded referral has no window */
                st->final_ms = now;
                break;
        }
}

static enum rd_event_type decision_event(enum rd_status status)
{
        return status == RD_STATUS_ASSIGNED     ? RD_EV_ASSIGNED
               : status == RD_STATUS_WAITLISTED ? RD_EV_WAITLISTED
                                                : RD_EV_FORWARDED;
}

/* The candidates a waiting referral may take, from TRACE, as the store
 * keeps them (malloc'ed, caller frees), or NULL when out of memory. */
static char *waiting_candidates(const struct rd_rules *rules, const json_t *trace)
{
        size_t size = rules->n_connectors * (RD_ID_MAX + 1) + 1;
        char *cands = malloc(size);
        if (cands)
                trace_candidates(trace, cands, size);
        return cands;
}

/* ST has joined the waitlist (the store has it), waiting for CANDIDATES. */
static int wait_joined(struct rd_hub *h, const struct rd_stored *st, const char *candidates)
{
        int r = wait_insert(h, st, candidates);
        if (r == 0 && !h->sets_stale && sets_add(h, candidates, 1) < 0)
                h->sets_stale = true; /* reread from the store when needed */
        return r;
}

/* Memory follows decision D for ST, once the store has it. */
static int remember(struct rd_hub *h, const struct rd_stored *st, const struct rd_decision *d,
                    bool was_waiting, const char *cands, int64_t now)
{
        if (was_waiting && d->status != RD_STATUS_WAITLISTED)
                wait_remove(h, st->rowid);
        if (d->status == RD_STATUS_ASSIGNED) {
                size_t c = d->connector;
                h->load[c]++;
                h->offers[c]++;
                snprintf(h->rr_last[d->rule], RD_ID_MAX + 1, "%s", st->connector);
                h->rr_ptr[d->rule] = h->rr_last[d->rule];
                return ends_insert(h, c, now + h->rules->trajectory_s * 1000);
        }
        if (d->status == RD_STATUS_WAITLISTED && !was_waiting)
                return wait_joined(h, st, cands ? cands : "");
        return 0;
}

/* Record decision D for ST (being decided again) at NOW, with its TRACE.
 * Emits the decision's event and keeps memory in step. */
static int apply(struct rd_hub *h, struct rd_stored *st, const struct rd_decision *d,
                 const json_t *trace, int64_t now)
{
        const struct rd_rules *rules = h->rules;
        bool was_waiting = st->status == RD_STATUS_WAITLISTED;
        char *cands = NULL;
        int r;

        fill_decision(rules, st, d, now);
        r = rd_store_update(h->store, st);
        if (r == 0)
                r = rd_store_set_trace(h->store, st->rowid, trace, rules->digest);
        if (r == 0 && d->status == RD_STATUS_ASSIGNED) {
                r = rd_store_offer_made(h->store, st->rowid, st->connector);
                if (r == 0)
                        r = rd_store_set_rr(h->store, st->rule, st->connector);
        }
        if (r == 0 && d->status == RD_STATUS_WAITLISTED) {
                cands = waiting_candidates(rules, trace);
                r = cands ? rd_store_set_candidates(h->store, st->rowid, cands) : -ENOMEM;
        }
        if (r == 0)
                r = emit_for(h, decision_event(d->status), st, now, NULL);
        if (r == 0)
                r = remember(h, st, d, was_waiting, cands, now);
        free(cands);
        return r;
}

/* Waiting referral ST gets the candidates of TRACE, in the store and in
 * memory (its place in the waitlist stays). */
static int wait_recandidate(struct rd_hub *h, size_t pos, const struct rd_stored *st,
                            const json_t *trace)
{
        size_t size = h->rules->n_connectors * (RD_ID_MAX + 1) + 1;
        char *cands = malloc(size);
        int r;

        if (!cands)
                return -ENOMEM;
        trace_candidates(trace, cands, size);
        r = rd_store_set_candidates(h->store, st->rowid, cands);
        if (r == 0)
                r = wait_set_candidates(h, pos, cands); /* its place stays */
        h->sets_stale = true;
        free(cands);
        return r;
}

/* The routing state for deciding a referral, with its DECLINES: the
 * referrals waiting ahead of it are the first AHEAD of the head, or, with
 * AHEAD == SIZE_MAX, the whole waitlist, by candidates. 0, -ENOMEM, -EIO. */
static int route_state(struct rd_hub *h, const struct declines *dec, size_t ahead,
                       struct rd_route_state *rs)
{
        memset(rs, 0, sizeof *rs);
        rs->load = h->load;
        rs->offers = h->offers;
        rs->rr_last = h->rr_ptr;
        rs->ends = (const int64_t *const *)h->ends;
        rs->n_ends = h->n_ends;
        rs->excluded = dec ? dec->ids : NULL;
        rs->n_excluded = dec ? dec->n : 0;
        if (ahead != SIZE_MAX) {
                rs->waiting = h->wview;
                rs->n_waiting = ahead;
                return 0;
        }
        int r = sets_fresh(h);
        if (r < 0)
                return r;
        rs->waiting_sets = h->sview;
        rs->waiting_set_counts = h->scount;
        rs->n_waiting_sets = h->n_sets;
        return 0;
}

int rd_hub_route_state(struct rd_hub *h, struct rd_route_state *out)
{
        return route_state(h, NULL, SIZE_MAX, out);
}

void rd_hub_set_wait_cache(struct rd_hub *h, size_t n)
{
        h->wait_limit = n ? n : 1;
        wait_trim(h);
}

/* Decide again for stored referral ST at NOW, by its rule when that is
 * still in the file, without those who declined it. With ONLY_ASSIGN, a
 * decision other than an offer changes nothing (a waiting referral stays
 * waiting). */
static int redecide(struct rd_hub *h, struct rd_stored *st, ssize_t pos, int64_t now,
                    bool only_assign, bool *assigned)
{
        struct declines *dec = calloc(1, sizeof *dec);
        struct rd_referral ref;
        struct rd_decision d;
        struct rd_route_state rs;
        struct rd_error err;
        json_t *content = NULL, *trace = NULL;
        ssize_t ri = rd_rules_rule_index(h->rules, st->rule);
        int r;

        if (assigned)
                *assigned = false;
        if (!dec)
                return -ENOMEM;
        /* POS: where it waits, when the caller knows (else found here) */
        r = 0;
        if (st->status == RD_STATUS_WAITLISTED &&
            (pos < 0 || (size_t)pos >= h->n_wait || h->wait[pos].rowid != st->rowid))
                pos = wait_find_extend(h, st->rowid, &r);
        else if (st->status != RD_STATUS_WAITLISTED)
                pos = -1;
        if (r == 0)
                r = rd_store_each_decline(h->store, st->rowid, add_decline, dec);
        if (r == 0)
                r = rd_store_content(h->store, st->rowid, &content, NULL, NULL);
        if (r < 0)
                goto out;
        if (!content || rd_referral_from_json(content, &ref, &err) < 0) {
                r = -EINVAL; /* erased content: an open referral is withdrawn first */
                goto out;
        }
        r = route_state(h, dec, pos < 0 ? SIZE_MAX : (size_t)pos, &rs);
        if (r < 0) {
                rd_referral_clear(&ref);
                goto out;
        }
        if (ri >= 0 && h->rules->rules[ri].action == RD_ACTION_ASSIGN)
                r = rd_route_redecide(&ref, h->rules, &rs, (size_t)ri, st->received_ms, now, &d,
                                      &trace);
        else
                r = rd_route_redecide(&ref, h->rules, &rs, SIZE_MAX, st->received_ms, now, &d,
                                      &trace);
        rd_referral_clear(&ref);
        if (r < 0)
                goto out;
        if (only_assign && d.status != RD_STATUS_ASSIGNED) {
                /* still waiting: who may take it under the rules in force
                 * (a reload may have added connectors to its rule) */
                if (d.status == RD_STATUS_WAITLISTED && pos >= 0)
                        r = wait_recandidate(h, (size_t)pos, st, trace);
                goto out;
        }
        r = apply(h, st, &d, trace, now);
        if (r == 0 && assigned)
                *assigned = d.status == RD_STATUS_ASSIGNED;
out:
        json_decref(trace);
        json_decref(content);
        free(dec);
        return r;
}

/* Capacity freed: serve the waitlist in order. With FREED a connector
 * index, only referrals that connector may take are tried, while it has
 * room; with SIZE_MAX, every waiting referral with a free candidate. */
static bool any_room(const struct rd_hub *h)
{
        for (size_t c = 0; c < h->rules->n_connectors; c++)
                if (h->load[c] < h->rules->connectors[c].capacity)
                        return true;
        return false;
}

/* Which connectors a serving pass is for: FREED, or (SIZE_MAX) each one
 * with room now, in TARGET (n_connectors entries). How many waiting
 * referrals name one of them, from the counts by candidates. */
static int serve_targets(struct rd_hub *h, size_t freed, bool *target, uint64_t *naming)
{
        const struct rd_rules *rules = h->rules;
        int r = sets_fresh(h);

        if (r < 0)
                return r;
        for (size_t c = 0; c < rules->n_connectors; c++)
                target[c] =
                        freed == SIZE_MAX ? h->load[c] < rules->connectors[c].capacity : c == freed;
        *naming = 0;
        for (size_t i = 0; i < h->n_sets; i++)
                for (size_t k = 0; k < h->sview[i].n_candidates; k++)
                        if (target[h->sview[i].candidates[k]]) {
                                *naming += h->scount[i];
                                break;
                        }
        return 0;
}

/* Serve the waitlist in its order now that connector FREED has room, or
 * (FREED == SIZE_MAX) every connector with room. A waiting referral is
 * tried when one of its candidates has room; with ALL (the routing file
 * changed since its candidates were worked out, so they may miss a new
 * connector) every one is tried while anybody has room. The pass stops as
 * soon as nobody it is for has room, or no referral further down names
 * one of them: the rest of a long list is not read. Returns 0 and, in
 * *WHOLE, whether it went through the whole list. */
static int serve_pass(struct rd_hub *h, size_t freed, bool all, int64_t now, bool *whole)
{
        bool *target = calloc(h->rules->n_connectors + 1, sizeof *target);
        uint64_t naming = 0; /* waiting referrals naming a target, not yet passed */
        size_t i = 0;
        int r;

        *whole = false;
        if (!target)
                return -ENOMEM;
        r = serve_targets(h, freed, target, &naming);
        while (r == 0) {
                if (freed == SIZE_MAX ? !any_room(h)
                                      : h->load[freed] >= h->rules->connectors[freed].capacity)
                        break;
                if (!all && naming == 0)
                        break;
                if (i == h->n_wait) { /* the head is done: read on in the store */
                        r = wait_extend(h, WAIT_PAGE);
                        if (r < 0)
                                break;
                        if (i == h->n_wait) {
                                *whole = true;
                                break;
                        }
                }
                struct wait_entry *e = &h->wait[i];
                struct rd_stored st;
                bool try = all, names = false, assigned = false;
                char id[RD_RID_MAX];

                for (size_t k = 0; k < e->n_cands; k++) {
                        size_t c = e->cands[k];
                        if (!target[c])
                                continue;
                        names = true;
                        try = try || h->load[c] < h->rules->connectors[c].capacity;
                }
                if (names && naming)
                        naming--;
                if (!try) {
                        i++;
                        continue;
                }
                snprintf(id, sizeof id, "R%06lld", (long long)e->rowid);
                r = rd_store_get(h->store, id, &st);
                if (r == 0)
                        r = redecide(h, &st, (ssize_t)i, now, true, &assigned);
                if (r == 0 && !assigned)
                        i++; /* it stays; when assigned, entry i is now the next one */
        }
        free(target);
        wait_trim(h);
        return r;
}

static int serve_waitlist(struct rd_hub *h, size_t freed, int64_t now)
{
        bool whole;
        return serve_pass(h, freed, false, now, &whole);
}

/* At start and on reload: serve every connector with room. When the
 * routing file is not the one the waiting referrals' candidates were
 * worked out with, try each of them (and remember the file once the pass
 * has been through the whole list). */
#define META_CANDIDATES "candidates_rules"

static int serve_everyone(struct rd_hub *h, int64_t now)
{
        char digest[65] = "";
        bool current, whole = false;
        int r = rd_store_meta_get(h->store, META_CANDIDATES, digest, sizeof digest);

        if (r < 0 && r != -ENOENT)
                return r;
        current = r == 0 && strcmp(digest, h->rules->digest) == 0;
        r = serve_pass(h, SIZE_MAX, !current, now, &whole);
        if (r == 0 && !current)
                r = rd_store_meta_set(h->store, META_CANDIDATES, whole ? h->rules->digest : "");
        return r;
}

/* The connector of ST lets go of it: load, ends. Returns its index in the
 * rules in force, or SIZE_MAX. */
static size_t release(struct rd_hub *h, const struct rd_stored *st)
{
        ssize_t c;
        if (!holds_load(st))
                return SIZE_MAX;
        c = rd_rules_connector_index(h->rules, st->connector);
        if (c < 0)
                return SIZE_MAX;
        if (h->load[c])
                h->load[c]--;
        ends_remove(h, (size_t)c, expected_end(h->rules, st));
        return (size_t)c;
}

/* ---- submit ---------------------------------------------------------------------- */

int rd_hub_submit(struct rd_hub *h, const struct rd_referral *r, int64_t now, struct rd_stored *out,
                  bool *duplicate, struct rd_error *err)
{
        struct rd_stored st;
        struct rd_decision d;
        struct rd_route_state rs;
        json_t *trace = NULL;
        char *content = NULL, *trace_text = NULL, *cands = NULL;
        char digest[65];
        int rc;

        rc = rd_referral_canonical(r, &content, digest);
        if (rc < 0)
                goto fault;
        rc = rd_store_find(h->store, r->partner, r->ref, &st);
        if (rc == 0) {
                free(content);
                if (strcmp(st.digest, digest) != 0)
                        return rd_error_set(err, RD_CONFLICT, "referral.ref",
                                            "this partner already submitted a referral with this "
                                            "ref and different content; a new referral needs a "
                                            "new ref");
                *out = st;
                *duplicate = true;
                return 0;
        }
        if (rc != -ENOENT)
                goto fault;
        /* decide first, then write the referral with its decision at once */
        rc = route_state(h, NULL, SIZE_MAX, &rs);
        if (rc < 0)
                goto fault;
        rc = rd_route_decide(r, h->rules, &rs, now, &d, &trace);
        if (rc < 0)
                goto fault;
        memset(&st, 0, sizeof st);
        snprintf(st.partner, sizeof st.partner, "%s", r->partner);
        snprintf(st.ref, sizeof st.ref, "%s", r->ref);
        snprintf(st.digest, sizeof st.digest, "%s", digest);
        st.received_ms = now;
        st.urgency = r->urgency;
        st.status = RD_STATUS_RECEIVED;
        fill_decision(h->rules, &st, &d, now);
        st.last_seq = rd_store_last_seq(h->store) + 2; /* received, then the decision */
        trace_text = json_dumps(trace, JSON_COMPACT);
        if (d.status == RD_STATUS_WAITLISTED)
                cands = waiting_candidates(h->rules, trace);
        rc = -ENOMEM;
        if (trace_text && (cands || d.status != RD_STATUS_WAITLISTED))
                rc = rd_store_insert(h->store, &st, content, trace_text, h->rules->digest, cands);
        if (rc == 0) {
                struct rd_stored received = st;
                received.status = RD_STATUS_RECEIVED;
                rc = emit_for_flags(h, RD_EV_RECEIVED, &received, now, NULL,
                                    RD_EVENT_KEEP_LAST_SEQ);
        }
        if (rc == 0)
                rc = emit_for_flags(h, decision_event(d.status), &st, now, NULL,
                                    RD_EVENT_KEEP_LAST_SEQ);
        if (rc == 0 && d.status == RD_STATUS_ASSIGNED) {
                rc = rd_store_offer_made(h->store, st.rowid, st.connector);
                if (rc == 0)
                        rc = rd_store_set_rr(h->store, st.rule, st.connector);
        }
        if (rc == 0)
                rc = remember(h, &st, &d, false, cands, now);
        if (rc < 0)
                goto fault;
        free(content);
        free(trace_text);
        free(cands);
        json_decref(trace);
        *out = st;
        *duplicate = false;
        return 0;
fault:
        free(content);
        free(trace_text);
        free(cands);
        json_decref(trace);
        rd_error_set(err, RD_INTERNAL, NULL,
                     "the daemon could not store this referral; nothing was stored; retry later");
        return rc < 0 ? rc : -EIO;
}

/* ---- update ---------------------------------------------------------------------- */

static const char *change_name(const struct rd_update *u)
{
        return u->declined ? "declined" : rd_status_name(u->status);
}

/* The changes protocol.md allows from status S, for messages. */
static const char *allowed_from(enum rd_status s)
{
        switch (s) {
        case RD_STATUS_WAITLISTED: return "withdrawn, assigned (with connector), forwarded";
        case RD_STATUS_ASSIGNED:
                return "accepted, started, declined, withdrawn, assigned (with connector), "
                       "forwarded";
        case RD_STATUS_ACCEPTED: return "started, withdrawn, assigned (with connector), forwarded";
        case RD_STATUS_STARTED: return "closed, withdrawn, assigned (with connector), forwarded";
        default: return NULL;
        }
}

static bool allowed(enum rd_status from, const struct rd_update *u)
{
        if (!rd_status_is_open(from))
                return false;
        if (u->declined)
                return from == RD_STATUS_ASSIGNED;
        switch (u->status) {
        case RD_STATUS_ACCEPTED: return from == RD_STATUS_ASSIGNED;
        case RD_STATUS_STARTED: return from == RD_STATUS_ASSIGNED || from == RD_STATUS_ACCEPTED;
        case RD_STATUS_CLOSED: return from == RD_STATUS_STARTED;
        case RD_STATUS_WITHDRAWN:
        case RD_STATUS_ASSIGNED:
        case RD_STATUS_FORWARDED: return true;
        default: return false;
        }
}

static int is_declined_by(void *ctx, const char *connector)
{
        return strcmp(ctx, connector) == 0;
}

/* Is U a repeat of the change that already happened to ST? */
static int is_repeat(struct rd_hub *h, const struct rd_stored *st, const struct rd_update *u)
{
        const char *c = u->connector ? u->connector : "";
        if (u->declined)
                return c[0] && strcmp(st->connector, c) != 0 &&
                       rd_store_each_decline(h->store, st->rowid, is_declined_by, (void *)c) == 1;
        if (u->status != st->status)
                return 0;
        switch (u->status) {
        case RD_STATUS_ACCEPTED:
        case RD_STATUS_STARTED:
        case RD_STATUS_CLOSED:
        case RD_STATUS_ASSIGNED: return strcmp(st->connector, c) == 0;
        case RD_STATUS_WITHDRAWN: return 1;
        case RD_STATUS_FORWARDED:
                return u->forward_to && strcmp(st->forward_to, u->forward_to) == 0;
        default: return 0;
        }
}

static int64_t accept_within_ms(const struct rd_rules *rules, const char *rule)
{
        ssize_t ri = rd_rules_rule_index(rules, rule);
        if (ri >= 0 && rules->rules[ri].action == RD_ACTION_ASSIGN)
                return rules->rules[ri].accept_within_s * 1000;
        return rules->accept_within_s * 1000;
}

/* The connector who let go of an offer (declined, expired): remember it,
 * decide again, then serve the waitlist with the room it left. */
static int offer_ended(struct rd_hub *h, struct rd_stored *st, enum rd_event_type type, int64_t now)
{
        char who[RD_ID_MAX + 1];
        size_t freed;
        int r;

        snprintf(who, sizeof who, "%s", st->connector);
        r = emit_for(h, type, st, now, who); /* status: still the offer's (assigned) */
        if (r == 0)
                r = rd_store_add_decline(h->store, st->rowid, who);
        if (r < 0)
                return r;
        freed = release(h, st);
        r = redecide(h, st, -1, now, false, NULL);
        if (r == 0 && freed != SIZE_MAX)
                r = serve_waitlist(h, freed, now);
        return r;
}

int rd_hub_update(struct rd_hub *h, const struct rd_update *u, int64_t now, struct rd_stored *out,
                  bool *changed, struct rd_error *err)
{
        struct rd_stored st;
        enum rd_event_type type;
        size_t freed = SIZE_MAX;
        ssize_t ci = -1, ti = -1;
        int r;

        r = rd_store_get(h->store, u->id, &st);
        if (r == -ENOENT)
                return rd_error_set(err, RD_NOT_FOUND, "id", "no such referral");
        if (r < 0)
                goto fault;
        if (is_repeat(h, &st, u)) {
                *out = st;
                *changed = false;
                return 0;
        }
        if (!allowed(st.status, u)) {
                const char *ok = allowed_from(st.status);
                if (!ok)
                        return rd_error_set(err, RD_CONFLICT, "status",
                                            "the referral is %s, a final status: no change is "
                                            "allowed",
                                            rd_status_name(st.status));
                return rd_error_set(err, RD_CONFLICT, "status",
                                    "a referral that is %s cannot become %s; allowed: %s",
                                    rd_status_name(st.status), change_name(u), ok);
        }
        /* what each change needs */
        if (u->declined || u->status == RD_STATUS_ACCEPTED || u->status == RD_STATUS_STARTED ||
            u->status == RD_STATUS_CLOSED) {
                if (!u->connector)
                        return rd_error_set(err, RD_INVALID, "connector",
                                            "%s needs connector: the id of the connector who "
                                            "has the offer",
                                            change_name(u));
                if (strcmp(u->connector, st.connector) != 0)
                        return rd_error_set(err, RD_FORBIDDEN, "connector",
                                            "this referral is offered to another connector");
        } else if (u->status == RD_STATUS_ASSIGNED) {
                if (!u->connector)
                        return rd_error_set(err, RD_INVALID, "connector",
                                            "a manual assignment needs connector: a connector "
                                            "of the routing file");
                ci = rd_rules_connector_index(h->rules, u->connector);
                if (ci < 0)
                        return rd_error_set(err, RD_INVALID, "connector",
                                            "no connector with this id in the routing file in "
                                            "force");
        } else if (u->status == RD_STATUS_FORWARDED) {
                if (!u->forward_to)
                        return rd_error_set(err, RD_INVALID, "forward_to",
                                            "a manual forward needs forward_to: a forward target "
                                            "of the routing file");
                ti = rd_rules_target_index(h->rules, u->forward_to);
                if (ti < 0)
                        return rd_error_set(err, RD_INVALID, "forward_to",
                                            "no forward target with this id in the routing file "
                                            "in force");
                if (!u->reason || !u->reason[0])
                        return rd_error_set(err, RD_INVALID, "reason",
                                            "a manual forward needs a reason the receiving "
                                            "service can read");
        }
        if (u->status == RD_STATUS_STARTED && !u->declined && u->expected_end_ms &&
            u->expected_end_ms <= now)
                return rd_error_set(err, RD_INVALID, "expected_end",
                                    "expected_end must be a time in the future");

        *changed = true;
        if (u->declined) {
                r = offer_ended(h, &st, RD_EV_DECLINED, now);
                if (r < 0)
                        goto fault;
                *out = st;
                return 0;
        }
        switch (u->status) {
        case RD_STATUS_ACCEPTED:
                st.status = RD_STATUS_ACCEPTED;
                st.offer_expires_ms = 0; /* the offer holds */
                type = RD_EV_ACCEPTED;
                break;
        case RD_STATUS_STARTED: {
                ssize_t c = rd_rules_connector_index(h->rules, st.connector);
                int64_t old_end = expected_end(h->rules, &st);
                st.status = RD_STATUS_STARTED;
                st.offer_expires_ms = 0;
                st.started_ms = now;
                st.expected_end_ms = u->expected_end_ms;
                if (c >= 0) {
                        ends_remove(h, (size_t)c, old_end);
                        r = ends_insert(h, (size_t)c, expected_end(h->rules, &st));
                        if (r < 0)
                                goto fault;
                }
                type = RD_EV_STARTED;
                break;
        }
        case RD_STATUS_CLOSED:
                freed = release(h, &st);
                st.status = RD_STATUS_CLOSED;
                st.final_ms = now;
                type = RD_EV_CLOSED;
                break;
        case RD_STATUS_WITHDRAWN:
                freed = release(h, &st);
                if (st.status == RD_STATUS_WAITLISTED)
                        wait_remove(h, st.rowid);
                st.status = RD_STATUS_WITHDRAWN;
                st.offer_expires_ms = 0;
                st.final_ms = now;
                type = RD_EV_WITHDRAWN;
                break;
        case RD_STATUS_FORWARDED:
                freed = release(h, &st);
                if (st.status == RD_STATUS_WAITLISTED)
                        wait_remove(h, st.rowid);
                st.status = RD_STATUS_FORWARDED;
                st.offer_expires_ms = 0;
                st.start_by_ms = 0;
                st.final_ms = now;
                st.team[0] = st.connector[0] = '\0';
                snprintf(st.forward_to, sizeof st.forward_to, "%s", h->rules->targets[ti].id);
                snprintf(st.reason, sizeof st.reason, "%s", u->reason);
                type = RD_EV_FORWARDED;
                break;
        case RD_STATUS_ASSIGNED:
                freed = release(h, &st);
                if (st.status == RD_STATUS_WAITLISTED)
                        wait_remove(h, st.rowid);
                st.status = RD_STATUS_ASSIGNED;
                snprintf(st.connector, sizeof st.connector, "%s", h->rules->connectors[ci].id);
                snprintf(st.team, sizeof st.team, "%s",
                         h->rules->teams[h->rules->connectors[ci].team].id);
                st.offered_ms = now;
                st.offer_expires_ms = now + accept_within_ms(h->rules, st.rule);
                st.started_ms = 0;
                st.expected_end_ms = 0;
                st.expected_start_ms = 0;
                r = rd_store_offer_made(h->store, st.rowid, st.connector);
                if (r < 0)
                        goto fault;
                r = ends_insert(h, (size_t)ci, expected_end(h->rules, &st));
                if (r < 0)
                        goto fault;
                h->load[ci]++;
                h->offers[ci]++;
                type = RD_EV_ASSIGNED;
                break;
        default: return rd_error_set(err, RD_INVALID, "status", "not a status a client can set");
        }
        r = rd_store_update(h->store, &st);
        if (r == 0)
                r = emit_for(h, type, &st, now, NULL);
        if (r == 0 && freed != SIZE_MAX &&
            !(u->status == RD_STATUS_ASSIGNED && freed == (size_t)ci))
                r = serve_waitlist(h, freed, now);
        if (r < 0)
                goto fault;
        *out = st;
        return 0;
fault:
        rd_error_set(err, RD_INTERNAL, NULL,
                     "the daemon could not store this change; nothing was changed; retry later");
        return r < 0 ? r : -EIO;
}

/* ---- erasure ------------------------------------------------------------------------ */

/* The trace of an erased referral: which rule decided and how, without
 * anything derived from the family's data (why candidates were passed
 * over, which `when` keys failed). */
static json_t *erased_trace(const json_t *trace)
{
        json_t *t = json_object();
        const char *keep[] = {"rule", "action", "decision", "connector", "team", "forward_to"};
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
                json_t *v = json_object_get(trace, keep[i]);
                if (v)
                        json_object_set(t, keep[i], v);
        }
        json_object_set_new(t, "erased", json_true());
        return t;
}

/* Take family, note, children and postcode out of referral ST for good. */
static int erase(struct rd_hub *h, struct rd_stored *st, int64_t now)
{
        json_t *content = NULL, *trace = NULL, *slim;
        int r = rd_store_content(h->store, st->rowid, &content, &trace, NULL);
        if (r < 0)
                return r;
        if (!content)
                content = json_object();
        json_object_del(content, "family");
        json_object_del(content, "note");
        json_object_del(content, "children");
        json_object_del(content, "postcode");
        slim = trace ? erased_trace(trace) : NULL;
        r = rd_store_erase(h->store, st->rowid, content, slim, now);
        json_decref(content);
        json_decref(trace);
        json_decref(slim);
        if (r < 0)
                return r;
        st->erased_ms = now;
        h->erased = true;
        return emit_for(h, RD_EV_ERASED, st, now, NULL);
}

int rd_hub_erase(struct rd_hub *h, const char *id, int64_t now, struct rd_stored *out,
                 bool *changed, struct rd_error *err)
{
        struct rd_stored st;
        int r = rd_store_get(h->store, id, &st);

        if (r == -ENOENT)
                return rd_error_set(err, RD_NOT_FOUND, "id", "no such referral");
        if (r < 0)
                goto fault;
        if (st.erased_ms) {
                *out = st;
                *changed = false;
                return 0;
        }
        if (rd_status_is_open(st.status)) {
                struct rd_update u = {.id = id, .status = RD_STATUS_WITHDRAWN};
                bool ch;
                r = rd_hub_update(h, &u, now, &st, &ch, err);
                if (r < 0)
                        return r;
        }
        r = erase(h, &st, now);
        if (r < 0)
                goto fault;
        *out = st;
        *changed = true;
        return 0;
fault:
        rd_error_set(err, RD_INTERNAL, NULL,
                     "the daemon could not erase this referral; nothing was changed; retry later");
        return r < 0 ? r : -EIO;
}

void rd_hub_set_retention(struct rd_hub *h, int64_t retention_s)
{
        h->retention_ms = retention_s * 1000;
}

bool rd_hub_erased(struct rd_hub *h)
{
        bool e = h->erased;
        h->erased = false;
        return e;
}

/* ---- deadlines -------------------------------------------------------------------- */

int rd_hub_next_deadline(struct rd_hub *h, int64_t *when)
{
        int64_t offer, at_risk, missed, best = 0;
        int r = rd_store_next_deadlines(h->store, &offer, &at_risk, &missed);
        if (r < 0)
                return r;
        if (at_risk)
                at_risk -= h->rules->at_risk_s * 1000;
        if (offer && (!best || offer < best))
                best = offer;
        if (at_risk && (!best || at_risk < best))
                best = at_risk;
        if (missed && (!best || missed < best))
                best = missed;
        if (h->retention_ms) {
                int64_t final_ms = 0;
                r = rd_store_next_erase(h->store, &final_ms);
                if (r < 0)
                        return r;
                if (final_ms && (!best || final_ms + h->retention_ms < best))
                        best = final_ms + h->retention_ms;
        }
        *when = best;
        return 0;
}

int rd_hub_tick(struct rd_hub *h, int64_t now, size_t limit, size_t *n_done)
{
        struct rd_stored *rows = calloc(limit ? limit : 1, sizeof *rows);
        size_t n = 0, done = 0;
        int r;

        if (!rows)
                return -ENOMEM;
        /* offers that lapsed */
        r = rd_store_due(h->store, RD_DUE_OFFER, now, (int64_t)limit, rows, &n);
        for (size_t i = 0; r == 0 && i < n; i++) {
                struct rd_stored st;
                /* an earlier one in this tick may have changed it */
                r = rd_store_get(h->store, rows[i].id, &st);
                if (r == 0 && st.status == RD_STATUS_ASSIGNED && st.offer_expires_ms &&
                    st.offer_expires_ms <= now)
                        r = offer_ended(h, &st, RD_EV_OFFER_EXPIRED, now);
                done++;
        }
        /* windows at risk, then missed */
        for (int kind = RD_DUE_AT_RISK; r == 0 && kind <= RD_DUE_MISSED; kind++) {
                int64_t threshold = kind == RD_DUE_AT_RISK ? now + h->rules->at_risk_s * 1000 : now;
                r = rd_store_due(h->store, (enum rd_deadline)kind, threshold, (int64_t)limit, rows,
                                 &n);
                for (size_t i = 0; r == 0 && i < n; i++) {
                        struct rd_stored *st = &rows[i];
                        if (kind == RD_DUE_AT_RISK)
                                st->at_risk_fired = 1;
                        else
                                st->missed_fired = 1;
                        r = rd_store_update(h->store, st);
                        if (r == 0)
                                r = emit_for(h,
                                             kind == RD_DUE_AT_RISK ? RD_EV_WINDOW_AT_RISK
                                                                    : RD_EV_WINDOW_MISSED,
                                             st, now, NULL);
                        done++;
                }
        }
        /* personal data past its retention */
        if (r == 0 && h->retention_ms) {
                r = rd_store_due(h->store, RD_DUE_ERASE, now - h->retention_ms, (int64_t)limit,
                                 rows, &n);
                for (size_t i = 0; r == 0 && i < n; i++) {
                        r = erase(h, &rows[i], now);
                        done++;
                }
        }
        free(rows);
        if (r < 0)
                return r;
        *n_done = done;
        return 0;
}

/* ---- reload ------------------------------------------------------------------------ */

struct reexpire_ctx {
        struct rd_hub *h;
        int r;
};

static int reexpire(void *ctx, const struct rd_stored *st)
{
        struct reexpire_ctx *c = ctx;
        struct rd_stored copy = *st;
        int64_t exp = st->offered_ms + accept_within_ms(c->h->rules, st->rule);
        if (!st->offer_expires_ms || exp == st->offer_expires_ms)
                return 0;
        copy.offer_expires_ms = exp;
        c->r = rd_store_update(c->h->store, &copy);
        return c->r;
}

int rd_hub_set_rules(struct rd_hub *h, struct rd_rules *rules, int64_t now,
                     struct rd_rules **old_out)
{
        struct rd_rules *old = h->rules;
        struct reexpire_ctx rc = {h, 0};
        struct rd_event ev;
        int r;

        /* rebuild() frees arrays sized by the rules they were made for */
        conns_free(h);
        h->rules = rules;
        r = rebuild(h);
        if (r == 0)
                r = rd_store_each_offer(h->store, reexpire, &rc);
        if (r == 0)
                r = serve_everyone(h, now);
        if (r == 0) {
                memset(&ev, 0, sizeof ev);
                ev.type = RD_EV_CONFIG_RELOADED;
                ev.at_ms = now;
                snprintf(ev.digest, sizeof ev.digest, "%s", rules->digest);
                ev.rules = (int64_t)rules->n_rules;
                r = emit(h, &ev, 0);
        }
        if (r < 0) {
                /* the caller rolls back, then rd_hub_rolled_back rebuilds */
                conns_free(h);
                wait_clear(h);
                h->rules = old;
                rd_rules_free(rules);
                return r;
        }
        *old_out = old;
        return 0;
}

void rd_hub_restore_rules(struct rd_hub *h, struct rd_rules *old)
{
        conns_free(h);
        rd_rules_free(h->rules);
        h->rules = old;
        rd_hub_rolled_back(h);
}

int rd_hub_serve_waitlist(struct rd_hub *h, int64_t now)
{
        return serve_everyone(h, now);
}

int rd_hub_reject_rules(struct rd_hub *h, const char *first_error, size_t errors, int64_t now)
{
        struct rd_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = RD_EV_CONFIG_REJECTED;
        ev.at_ms = now;
        snprintf(ev.error, sizeof ev.error, "%s", first_error);
        ev.errors = (int64_t)errors;
        return emit(h, &ev, 0);
}
