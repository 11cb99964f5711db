/* hub_wait.c: the waitlist in memory: its head (the first wait_limit
 * waiting referrals, in order; the rest is read from the store a page at a
 * time) and the whole list counted by candidates and urgency (for the
 * forecast of a referral that does not wait yet). */
#include "hub_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The connector indexes (of RULES) of the space-separated ids in
 * CANDIDATES, those not in the rules skipped: a new array in *OUT (caller
 * frees), its length in *N, and in *N_OVERFLOW how many of its last ones
 * stood after WAIT_OVERFLOW_MARK. 0 or -ENOMEM. */
static int parse_candidates(const struct rd_rules *rules, const char *candidates, size_t **out,
                            size_t *n, size_t *n_overflow)
{
        size_t *v = calloc(rules->n_connectors + 1, sizeof *v), k = 0, first = SIZE_MAX;
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
                        if (!strcmp(id, WAIT_OVERFLOW_MARK) && first == SIZE_MAX)
                                first = k;
                        else if (c >= 0 && k < rules->n_connectors)
                                v[k++] = (size_t)c;
                }
                p += len;
                while (*p == ' ')
                        p++;
        }
        *out = v;
        *n = k;
        *n_overflow = first == SIZE_MAX ? 0 : k - first;
        return 0;
}

/* ---- the whole list by candidates and urgency --------------------------------------------- */

void sets_clear(struct wait_sets *s)
{
        for (size_t i = 0; i < s->n; i++) {
                free(s->text[i]);
                free((size_t *)s->view[i].candidates);
        }
        s->n = 0;
        s->stale = true;
}

void sets_free(struct wait_sets *s)
{
        sets_clear(s);
        free(s->text);
        free(s->view);
        free(s->count);
        free(s->latest);
        memset(s, 0, sizeof *s);
}

static int sets_grow(struct wait_sets *s)
{
        size_t cap = s->cap ? s->cap * 2 : 8;
        char **t = realloc(s->text, cap * sizeof *t);
        struct rd_waiting *v;
        uint64_t *c;
        int64_t *l;

        if (t)
                s->text = t;
        v = t ? realloc(s->view, cap * sizeof *v) : NULL;
        if (v)
                s->view = v;
        c = v ? realloc(s->count, cap * sizeof *c) : NULL;
        if (c)
                s->count = c;
        l = c ? realloc(s->latest, cap * sizeof *l) : NULL;
        if (!l)
                return -ENOMEM;
        s->latest = l;
        s->cap = cap;
        return 0;
}

/* SET->count more referrals of SET->urgency wait for SET->candidates (ids
 * of RULES), none with a start_by after SET->latest_start_by. */
static int sets_add(struct wait_sets *s, const struct rd_rules *rules,
                    const struct rd_waiting_set *set)
{
        size_t i;
        int r;

        for (i = 0; i < s->n; i++)
                if (s->view[i].urgency == set->urgency &&
                    strcmp(s->text[i], set->candidates) == 0) {
                        s->count[i] += (uint64_t)set->count;
                        if (s->latest[i] < set->latest_start_by)
                                s->latest[i] = set->latest_start_by;
                        return 0;
                }
        if (s->n == s->cap && (r = sets_grow(s)) < 0)
                return r;
        s->text[i] = strdup(set->candidates);
        if (!s->text[i])
                return -ENOMEM;
        memset(&s->view[i], 0, sizeof s->view[i]);
        s->view[i].urgency = set->urgency;
        r = parse_candidates(rules, set->candidates, (size_t **)&s->view[i].candidates,
                             &s->view[i].n_candidates, &s->view[i].n_overflow);
        if (r < 0) {
                free(s->text[i]);
                return r;
        }
        s->count[i] = (uint64_t)set->count;
        s->latest[i] = set->latest_start_by;
        s->n++;
        return 0;
}

struct set_reading {
        struct wait_sets *s;
        const struct rd_rules *rules;
};

static int load_set(void *ctx, const struct rd_waiting_set *set)
{
        struct set_reading *sr = ctx;
        return set->count > 0 ? sets_add(sr->s, sr->rules, set) : 0;
}

int sets_fresh(struct rd_hub *h)
{
        struct set_reading sr = {&h->sets, h->rules};
        int r;

        if (!h->sets.stale)
                return 0;
        sets_clear(&h->sets);
        r = rd_store_each_waiting_set(h->store, load_set, &sr);
        if (r < 0) {
                sets_clear(&h->sets);
                return r;
        }
        h->sets.stale = false;
        return 0;
}

/* struct rd_route_state, set_ahead: of set K (of the urgency of the
 * referral H->sets.rowid being decided, whose start_by is START_BY), how
 * many come before it, at most CAP: all when none has a later start_by (a
 * new referral comes after those of the same one), else as the store
 * counts them. */
static int set_ahead(void *ctx, size_t k, int64_t start_by, uint64_t cap, uint64_t *n)
{
        struct rd_hub *h = ctx;
        const struct rd_wait_key place = {h->sets.view[k].urgency, start_by, h->sets.rowid};
        int64_t got = 0;
        int r;

        if (h->sets.latest[k] < start_by ||
            (h->sets.latest[k] == start_by && h->sets.rowid == INT64_MAX)) {
                *n = h->sets.count[k] < cap ? h->sets.count[k] : cap;
                return 0;
        }
        r = rd_store_count_waiting_before(h->store, h->sets.text[k], &place,
                                          cap > INT64_MAX ? INT64_MAX : (int64_t)cap, &got);
        if (r == 0)
                *n = got > 0 ? (uint64_t)got : 0;
        return r;
}

int sets_route_state(struct rd_hub *h, int64_t rowid, struct rd_route_state *rs)
{
        int r = sets_fresh(h);

        if (r < 0)
                return r;
        h->sets.rowid = rowid;
        rs->waiting_sets = h->sets.view;
        rs->waiting_set_counts = h->sets.count;
        rs->n_waiting_sets = h->sets.n;
        rs->set_ahead = set_ahead;
        rs->set_ahead_ctx = h;
        return 0;
}

/* ---- the head ---------------------------------------------------------------------------- */

static void wait_clear(struct wait_head *w)
{
        for (size_t i = 0; i < w->n; i++)
                free(w->e[i].cands);
        w->n = 0;
        w->complete = false;
}

void wait_free(struct wait_head *w)
{
        wait_clear(w);
        free(w->e);
        free(w->view);
        memset(w, 0, sizeof *w);
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
static void wait_drop_last(struct wait_head *w)
{
        free(w->e[w->n - 1].cands);
        w->n--;
        w->complete = false;
}

void wait_trim(struct rd_hub *h)
{
        while (h->wait.n > h->wait_limit)
                wait_drop_last(&h->wait);
}

/* Entry AT of W may be taken by the space-separated CANDIDATES. */
static int wait_set_candidates(struct wait_head *w, const struct rd_rules *rules, size_t at,
                               const char *candidates)
{
        struct wait_entry *e = &w->e[at];
        int r;

        free(e->cands);
        e->cands = NULL;
        e->n_cands = e->n_overflow = 0;
        r = parse_candidates(rules, candidates, &e->cands, &e->n_cands, &e->n_overflow);
        w->view[at].candidates = e->cands;
        w->view[at].n_candidates = e->n_cands;
        w->view[at].n_overflow = e->n_overflow;
        return r;
}

static int wait_grow(struct wait_head *w)
{
        size_t cap = w->cap ? w->cap * 2 : 64;
        struct wait_entry *v = realloc(w->e, cap * sizeof *v);
        struct rd_waiting *wv = realloc(w->view, cap * sizeof *wv);

        if (v)
                w->e = v;
        if (wv)
                w->view = wv;
        if (!v || !wv)
                return -ENOMEM;
        w->cap = cap;
        return 0;
}

int wait_put(struct wait_head *w, const struct rd_rules *rules, size_t at,
             const struct rd_stored *st, const char *candidates)
{
        struct wait_entry *e;
        ssize_t ri = rd_rules_rule_index(rules, st->rule);
        int r;

        if (w->n == w->cap && (r = wait_grow(w)) < 0)
                return r;
        memmove(&w->e[at + 1], &w->e[at], (w->n - at) * sizeof w->e[0]);
        memmove(&w->view[at + 1], &w->view[at], (w->n - at) * sizeof w->view[0]);
        memset(&w->view[at], 0, sizeof w->view[at]);
        e = &w->e[at];
        memset(e, 0, sizeof *e);
        e->rowid = st->rowid;
        e->urgency = st->urgency;
        e->start_by_ms = st->start_by_ms;
        e->rule = ri < 0 ? SIZE_MAX : (size_t)ri;
        w->n++; /* the entry is in place: wait_clear frees it in any case */
        return wait_set_candidates(w, rules, at, candidates);
}

/* ST has just joined the waitlist: into the head when its place is there,
 * else it stays in the store only. */
static int wait_insert(struct rd_hub *h, const struct rd_stored *st, const char *candidates)
{
        struct wait_head *w = &h->wait;
        size_t at = w->n;
        int r;

        while (at > 0 && !wait_before(&w->e[at - 1], st))
                at--;
        if (at == w->n && !w->complete)
                return 0; /* behind the head: read from the store when needed */
        r = wait_put(w, h->rules, at, st, candidates);
        if (r == 0 && w->n > h->wait_limit)
                wait_drop_last(w);
        return r;
}

int wait_joined(struct rd_hub *h, const struct rd_stored *st, const char *candidates)
{
        const struct rd_waiting_set set = {candidates, st->urgency, 1, st->start_by_ms};
        int r = wait_insert(h, st, candidates);

        if (r == 0 && !h->sets.stale && sets_add(&h->sets, h->rules, &set) < 0)
                h->sets.stale = true; /* reread from the store when needed */
        return r;
}

static int wait_append(void *ctx, const struct rd_stored *st, const char *candidates)
{
        struct rd_hub *h = ctx;
        return wait_put(&h->wait, h->rules, h->wait.n, st, candidates);
}

int wait_extend(struct rd_hub *h, size_t n)
{
        struct wait_head *w = &h->wait;
        struct rd_wait_key key;
        size_t got = 0;
        int r;

        if (w->complete)
                return 0;
        if (w->n) {
                const struct wait_entry *e = &w->e[w->n - 1];
                key.urgency = e->urgency;
                key.start_by_ms = e->start_by_ms;
                key.rowid = e->rowid;
        }
        r = rd_store_each_waiting(h->store, w->n ? &key : NULL, n, wait_append, h, &got);
        if (r == 0 && got < n)
                w->complete = true;
        return r;
}

ssize_t wait_find(const struct wait_head *w, size_t from, int64_t rowid)
{
        for (size_t i = from; i < w->n; i++)
                if (w->e[i].rowid == rowid)
                        return (ssize_t)i;
        return -1;
}

void wait_remove(struct rd_hub *h, int64_t rowid)
{
        struct wait_head *w = &h->wait;
        ssize_t i = wait_find(w, 0, rowid);
        h->sets.stale = true; /* it left the list (the store's counts follow) */
        if (i < 0)
                return;
        free(w->e[i].cands);
        memmove(&w->e[i], &w->e[i + 1], (w->n - (size_t)i - 1) * sizeof w->e[0]);
        memmove(&w->view[i], &w->view[i + 1], (w->n - (size_t)i - 1) * sizeof w->view[0]);
        w->n--;
}

ssize_t wait_find_extend(struct rd_hub *h, int64_t rowid, int *err)
{
        ssize_t i = wait_find(&h->wait, 0, rowid);
        *err = 0;
        while (i < 0 && !h->wait.complete) {
                size_t from = h->wait.n;
                *err = wait_extend(h, WAIT_PAGE);
                if (*err < 0)
                        return -1;
                i = wait_find(&h->wait, from, rowid);
        }
        return i;
}

int wait_recandidate(struct rd_hub *h, size_t at, const char *candidates)
{
        h->sets.stale = true;
        return wait_set_candidates(&h->wait, h->rules, at, candidates);
}
