/* replay_queue.c: the event queue of a run (replay_internal.h), a binary
 * heap ordered by time, then by order; and the one way the replay grows
 * an array. */
#include "replay_internal.h"

#include <errno.h>
#include <stdlib.h>

static bool before(const struct replay_action *a, const struct replay_action *b)
{
        return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static void swap(struct replay_action *a, struct replay_action *b)
{
        struct replay_action t = *a;
        *a = *b;
        *b = t;
}

int replay_grow(void *p, size_t *cap, size_t n, size_t size)
{
        void **pp = p;
        size_t c = *cap ? *cap : 64;
        void *v;

        if (n <= *cap)
                return 0;
        while (c < n)
                c *= 2;
        v = realloc(*pp, c * size);
        if (!v)
                return -ENOMEM;
        *pp = v;
        *cap = c;
        return 0;
}

int queue_push(struct replay_queue *q, const struct replay_action *a)
{
        size_t i;

        if (replay_grow(&q->v, &q->cap, q->n + 1, sizeof *q->v) < 0)
                return -ENOMEM;
        i = q->n++;
        q->v[i] = *a;
        while (i > 0 && before(&q->v[i], &q->v[(i - 1) / 2])) {
                swap(&q->v[i], &q->v[(i - 1) / 2]);
                i = (i - 1) / 2;
        }
        return 0;
}

const struct replay_action *queue_top(const struct replay_queue *q)
{
        return q->n ? &q->v[0] : NULL;
}

bool queue_pop(struct replay_queue *q, struct replay_action *out)
{
        size_t i = 0;

        if (!q->n)
                return false;
        *out = q->v[0];
        q->v[0] = q->v[--q->n];
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                if (l < q->n && before(&q->v[l], &q->v[m]))
                        m = l;
                if (r < q->n && before(&q->v[r], &q->v[m]))
                        m = r;
                if (m == i)
                        return true;
                swap(&q->v[i], &q->v[m]);
                i = m;
        }
}

void queue_free(struct replay_queue *q)
{
        free(q->v);
        *q = (struct replay_queue){0};
}
