/* replay_queue.c: the event queue of a run (replay_internal.h), a binary
 * heap ordered by time, then by order. */
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

int queue_push(struct replay_queue *q, const struct replay_action *a)
{
        size_t i;

        if (q->n == q->cap) {
                size_t cap = q->cap ? q->cap * 2 : 64;
                struct replay_action *v = realloc(q->v, cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                q->v = v;
                q->cap = cap;
        }
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
