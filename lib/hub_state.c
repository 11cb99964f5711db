/* hub_state.c: the connectors' state in memory (loads, offers, expected
 * ends, round-robin positions) and reading the hub's state from the store:
 * aside, swapped in only when complete; when the store cannot be read the
 * hub is stale and routes nothing until it can. */
#include "hub_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the connectors ---------------------------------------------------------------- */

static void conns_free(struct hub_conns *c)
{
        if (c->ends)
                for (size_t i = 0; i < c->n; i++)
                        free(c->ends[i]);
        free(c->load);
        free(c->offers);
        free(c->ends);
        free(c->n_ends);
        free(c->cap_ends);
        free(c->rr_last);
        free(c->rr_ptr);
        memset(c, 0, sizeof *c);
}

/* Zeroed arrays for the connectors and rules of RULES. 0 or -ENOMEM. */
static int conns_alloc(struct hub_conns *c, const struct rd_rules *rules)
{
        size_t nc = rules->n_connectors + 1, nr = rules->n_rules + 1;

        memset(c, 0, sizeof *c);
        c->n = rules->n_connectors;
        c->load = calloc(nc, sizeof *c->load);
        c->offers = calloc(nc, sizeof *c->offers);
        c->ends = calloc(nc, sizeof *c->ends);
        c->n_ends = calloc(nc, sizeof *c->n_ends);
        c->cap_ends = calloc(nc, sizeof *c->cap_ends);
        c->rr_last = calloc(nr, sizeof *c->rr_last);
        c->rr_ptr = calloc(nr, sizeof *c->rr_ptr);
        if (!c->load || !c->offers || !c->ends || !c->n_ends || !c->cap_ends || !c->rr_last ||
            !c->rr_ptr) {
                conns_free(c);
                return -ENOMEM;
        }
        return 0;
}

static int ends_insert(struct hub_conns *cs, size_t c, int64_t end)
{
        size_t i;
        if (cs->n_ends[c] == cs->cap_ends[c]) {
                size_t cap = cs->cap_ends[c] ? cs->cap_ends[c] * 2 : 8;
                int64_t *v = realloc(cs->ends[c], cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                cs->ends[c] = v;
                cs->cap_ends[c] = cap;
        }
        for (i = cs->n_ends[c]; i > 0 && cs->ends[c][i - 1] > end; i--)
                cs->ends[c][i] = cs->ends[c][i - 1];
        cs->ends[c][i] = end;
        cs->n_ends[c]++;
        return 0;
}

int hub_ends_insert(struct rd_hub *h, size_t c, int64_t end)
{
        return ends_insert(&h->conns, c, end);
}

void hub_ends_remove(struct rd_hub *h, size_t c, int64_t end)
{
        struct hub_conns *cs = &h->conns;
        for (size_t i = 0; i < cs->n_ends[c]; i++) {
                if (cs->ends[c][i] == end) {
                        memmove(&cs->ends[c][i], &cs->ends[c][i + 1],
                                (cs->n_ends[c] - i - 1) * sizeof cs->ends[c][0]);
                        cs->n_ends[c]--;
                        return;
                }
        }
}

int64_t hub_expected_end(const struct rd_rules *rules, const struct rd_stored *st)
{
        if (st->expected_end_ms)
                return st->expected_end_ms;
        if (st->started_ms)
                return st->started_ms + rules->trajectory_s * 1000;
        return st->offered_ms + rules->trajectory_s * 1000;
}

int hub_offer_taken(struct rd_hub *h, size_t c, int64_t end)
{
        int r = ends_insert(&h->conns, c, end);
        if (r < 0)
                return r;
        h->conns.load[c]++;
        h->conns.offers[c]++;
        return 0;
}

static bool holds_load(const struct rd_stored *st)
{
        return (st->status == RD_STATUS_ASSIGNED || st->status == RD_STATUS_ACCEPTED ||
                st->status == RD_STATUS_STARTED) &&
               st->connector[0];
}

size_t hub_release(struct rd_hub *h, const struct rd_stored *st)
{
        ssize_t c;
        if (!holds_load(st))
                return SIZE_MAX;
        c = rd_rules_connector_index(h->rules, st->connector);
        if (c < 0)
                return SIZE_MAX;
        if (h->conns.load[c])
                h->conns.load[c]--;
        hub_ends_remove(h, (size_t)c, hub_expected_end(h->rules, st));
        return (size_t)c;
}

/* ---- reading it all from the store ------------------------------------------------------- */

struct reading {
        const struct rd_rules *rules;
        struct hub_state *s;
};

static int read_open(void *ctx, const struct rd_stored *st)
{
        struct reading *rd = ctx;
        ssize_t c = rd_rules_connector_index(rd->rules, st->connector);
        if (c < 0) /* a connector removed from the file keeps its referrals */
                return 0;
        rd->s->conns.load[c]++;
        return ends_insert(&rd->s->conns, (size_t)c, hub_expected_end(rd->rules, st));
}

static int read_offers(void *ctx, const char *connector, int64_t count)
{
        struct reading *rd = ctx;
        ssize_t c = rd_rules_connector_index(rd->rules, connector);
        if (c >= 0)
                rd->s->conns.offers[c] = (uint64_t)count;
        return 0;
}

static int read_rr(void *ctx, const char *rule, const char *connector)
{
        struct reading *rd = ctx;
        struct hub_conns *cs = &rd->s->conns;
        ssize_t i = rd_rules_rule_index(rd->rules, rule);
        if (i >= 0) {
                snprintf(cs->rr_last[i], RD_ID_MAX + 1, "%s", connector);
                cs->rr_ptr[i] = cs->rr_last[i];
        }
        return 0;
}

static int read_waiting(void *ctx, const struct rd_stored *st, const char *candidates)
{
        struct reading *rd = ctx;
        return wait_put(&rd->s->wait, rd->rules, rd->s->wait.n, st, candidates);
}

int hub_state_read(struct rd_store *store, const struct rd_rules *rules, size_t wait_limit,
                   struct hub_state *out)
{
        struct hub_state s = {0};
        struct reading rd = {rules, &s};
        const struct rd_store_state_fns fns = {.open = read_open,
                                               .offer_count = read_offers,
                                               .round_robin = read_rr,
                                               .waiting = read_waiting,
                                               .wait_limit = wait_limit};
        int r = conns_alloc(&s.conns, rules);

        if (r < 0)
                return r;
        r = rd_store_each_state(store, &fns, &rd);
        if (r < 0) {
                hub_state_free(&s);
                return r;
        }
        s.wait.complete = s.wait.n < wait_limit;
        *out = s;
        return 0;
}

void hub_state_free(struct hub_state *s)
{
        conns_free(&s->conns);
        wait_free(&s->wait);
}

void hub_state_swap(struct rd_hub *h, struct hub_state *s, struct hub_state *old)
{
        old->conns = h->conns;
        old->wait = h->wait;
        h->conns = s->conns;
        h->wait = s->wait;
        memset(s, 0, sizeof *s);
        sets_clear(&h->sets); /* stale: read when first needed */
}

int hub_rebuild(struct rd_hub *h)
{
        struct hub_state fresh, old;
        int r = hub_state_read(h->store, h->rules, h->wait_limit, &fresh);

        if (r < 0) {
                /* what memory held no longer matches the store: drop it */
                memset(&fresh, 0, sizeof fresh);
                h->stale = true;
        } else {
                h->stale = false;
        }
        hub_state_swap(h, &fresh, &old);
        hub_state_free(&old);
        return r;
}

int hub_ready(struct rd_hub *h, struct rd_error *err)
{
        if (!h->stale || hub_rebuild(h) == 0)
                return 0;
        return rd_error_set(err, RD_UNAVAILABLE, NULL,
                            "the daemon cannot read its routing state from the store; nothing "
                            "was stored; retry later");
}
