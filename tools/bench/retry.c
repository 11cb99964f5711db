/* retry.c: see retry.h. */
#include "retry.h"

#include "submit.h"

#include <errno.h>
#include <stdlib.h>
#include <zmq.h>

#define PAUSE_FIRST_NS (100 * NS_PER_MS)
#define PAUSE_MAX_NS NS_PER_S

int retry_send(struct client *c, struct slot *s, int j, int64_t now)
{
        int len = build_submit(c->opt, c->prefix_hash, c->index, (int)(s - c->slots), s->seq,
                               c->req, REQUEST_MAX);

        if (len < 0)
                return -E2BIG;
        s->state = SLOT_INFLIGHT;
        s->endpoint = j;
        s->attempt_ns = now;
        if (zmq_send(c->peers.sock[j], c->req, (size_t)len, 0) < 0)
                return -errno;
        if (s->attempts++ == 0) {
                s->sent_ns = now;
                c->st.sent++;
        } else {
                c->st.resends++;
        }
        c->st.ep[j].sent++;
        return 0;
}

/* The pause before round ROUND (2, 3, ...) of the endpoints. */
static int64_t pause_ns(uint32_t round)
{
        int64_t p = PAUSE_FIRST_NS;

        while (--round > 1 && p < PAUSE_MAX_NS)
                p *= 2;
        return p < PAUSE_MAX_NS ? p : PAUSE_MAX_NS;
}

int retry_failed(struct client *c, struct slot *s, int64_t now)
{
        int n = c->opt->n_endpoints, next = (s->endpoint + 1) % n;

        if (c->current == s->endpoint)
                c->current = next;
        s->endpoint = next;
        if (s->attempts % (uint32_t)n == 0) { /* a round is done */
                s->state = SLOT_WAITING;
                s->retry_at_ns = now + pause_ns(s->attempts / (uint32_t)n + 1);
                return 0;
        }
        return retry_send(c, s, next, now);
}

int retry_lost(struct client *c, int j, int64_t now)
{
        int r = 0;

        for (int i = 0; i < c->opt->window && r == 0; i++) {
                struct slot *s = &c->slots[i];

                if (s->state == SLOT_INFLIGHT && s->endpoint == j)
                        r = retry_failed(c, s, now);
        }
        return r;
}

int retry_scan(struct client *c, int64_t now)
{
        const struct options *opt = c->opt;
        int r = 0;

        for (int i = 0; i < opt->window && r == 0; i++) {
                struct slot *s = &c->slots[i];

                if (s->state != SLOT_INFLIGHT && s->state != SLOT_WAITING)
                        continue;
                if (now - s->sent_ns >= opt->timeout_ns) {
                        s->state = SLOT_TIMEDOUT; /* retired: not reused */
                        c->st.timeouts++;
                        if (c->records)
                                c->records[s->seq].outcome = REQ_TIMED_OUT;
                        run_abort();
                } else if (s->state == SLOT_WAITING && now >= s->retry_at_ns) {
                        r = retry_send(c, s, s->endpoint, now);
                } else if (s->state == SLOT_INFLIGHT && opt->n_endpoints > 1 &&
                           now - s->attempt_ns >= opt->attempt_timeout_ns) {
                        c->st.ep[s->endpoint].attempt_timeouts++;
                        r = retry_failed(c, s, now);
                }
        }
        return r;
}

/* ---- the copies still out ----------------------------------------------- */

static size_t slot_of(const struct stale *t, uint64_t key)
{
        uint64_t h = key * UINT64_C(0x9E3779B97F4A7C15);

        return (size_t)(h >> 32) & (t->cap - 1);
}

/* Grow T to twice its size (or 256). false when out of memory (the copies
 * are then not remembered: their replies count as unmatched). */
static bool stale_grow(struct stale *t)
{
        struct stale big = {.cap = t->cap ? t->cap * 2 : 256};

        big.key = calloc(big.cap, sizeof *big.key);
        big.left = calloc(big.cap, sizeof *big.left);
        if (!big.key || !big.left) {
                free(big.key);
                free(big.left);
                return false;
        }
        for (size_t i = 0; i < t->cap; i++) {
                size_t k;

                if (!t->key[i] || !t->left[i])
                        continue;
                for (k = slot_of(&big, t->key[i]); big.key[k]; k = (k + 1) & (big.cap - 1))
                        ;
                big.key[k] = t->key[i];
                big.left[k] = t->left[i];
                big.used++;
        }
        free(t->key);
        free(t->left);
        *t = big;
        return true;
}

static void stale_add(struct stale *t, uint64_t seq, uint32_t copies)
{
        size_t k;

        if ((t->used + 1) * 2 > t->cap && !stale_grow(t))
                return;
        for (k = slot_of(t, seq + 1); t->key[k]; k = (k + 1) & (t->cap - 1))
                ;
        t->key[k] = seq + 1;
        t->left[k] = copies;
        t->used++;
}

bool retry_late_copy(struct client *c, uint64_t seq)
{
        struct stale *t = &c->stale;

        if (!t->cap)
                return false;
        for (size_t k = slot_of(t, seq + 1); t->key[k]; k = (k + 1) & (t->cap - 1)) {
                if (t->key[k] == seq + 1 && t->left[k]) {
                        t->left[k]--;
                        return true;
                }
        }
        return false;
}

void retry_answered(struct client *c, const struct slot *s)
{
        /* the copies besides the one answered that nothing has come back for */
        uint32_t out = s->attempts > s->replies + 1 ? s->attempts - s->replies - 1 : 0;

        c->st.by_attempts[s->attempts < N_ATTEMPT_BINS ? s->attempts - 1 : N_ATTEMPT_BINS - 1]++;
        if (s->attempts > 1)
                c->st.retried++;
        if (out > 0)
                stale_add(&c->stale, s->seq, out);
}

void retry_free(struct client *c)
{
        free(c->stale.key);
        free(c->stale.left);
        c->stale = (struct stale){0};
}
