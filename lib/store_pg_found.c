/* store_pg_found.c: look-ups answered ahead (rd_store_prefetch). A batch's
 * look-ups by partner and ref are read in one round trip and kept until the
 * transaction ends; rd_store_find answers from them, as the database
 * would: a key the transaction inserts since, or a referral it changes, is
 * forgotten (the next look-up asks the database). */
#include "store_pg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { FOUND_EMPTY, FOUND_ABSENT, FOUND_PRESENT, FOUND_FORGOTTEN };

struct pg_found {
        int state;
        char key[RD_ID_MAX + RD_REF_MAX + 2]; /* partner, NUL, ref */
        struct rd_stored row;                 /* FOUND_PRESENT */
};

/* FNV-1a over the key PARTNER NUL REF, which goes into KEY. */
static uint64_t key_of(const char *partner, const char *ref, char key[RD_ID_MAX + RD_REF_MAX + 2],
                       size_t *len)
{
        size_t p = strlen(partner), r = strlen(ref);
        uint64_t h = 14695981039346656037ULL;

        if (p > RD_ID_MAX || r > RD_REF_MAX)
                return 0;
        memcpy(key, partner, p + 1);
        memcpy(key + p + 1, ref, r + 1);
        *len = p + r + 2;
        for (size_t i = 0; i < *len; i++)
                h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
        return h | 1; /* never 0: 0 says the key cannot be kept */
}

/* The slot of PARTNER + REF: its own, or the empty one where it would go;
 * NULL when nothing is kept or the key is too long to be. */
static struct pg_found *slot_of(struct pg_store *s, const char *partner, const char *ref)
{
        char key[RD_ID_MAX + RD_REF_MAX + 2];
        size_t len, mask = s->found_cap - 1;
        uint64_t h;

        if (!s->found_cap || !(h = key_of(partner, ref, key, &len)))
                return NULL;
        for (size_t i = h & mask;; i = (i + 1) & mask) {
                struct pg_found *f = &s->found[i];
                if (f->state == FOUND_EMPTY || memcmp(f->key, key, len) == 0) {
                        if (f->state == FOUND_EMPTY)
                                memcpy(f->key, key, len);
                        return f;
                }
        }
}

void pg_found_clear(struct pg_store *s)
{
        if (s->found_n)
                for (size_t i = 0; i < s->found_cap; i++)
                        s->found[i].state = FOUND_EMPTY;
        s->found_n = 0;
}

/* Room for N keys at most half full. 0 or -ENOMEM. */
static int found_reserve(struct pg_store *s, size_t n)
{
        size_t cap = 64;
        struct pg_found *v;

        while (cap < 2 * n)
                cap *= 2;
        if (cap <= s->found_cap)
                return 0;
        v = calloc(cap, sizeof *v);
        if (!v)
                return -ENOMEM;
        free(s->found);
        s->found = v;
        s->found_cap = cap;
        return 0;
}

/* Keep what the look-ups of KEYS found (RES[i] for KEYS[i]). */
static void keep_found(struct pg_store *s, const struct rd_store_key *keys, PGresult **res,
                       size_t n)
{
        for (size_t i = 0; i < n; i++) {
                struct pg_found *f = slot_of(s, keys[i].partner, keys[i].ref);
                if (!f || f->state != FOUND_EMPTY)
                        continue; /* the same key twice in a batch: found once */
                f->state = PQntuples(res[i]) > 0 ? FOUND_PRESENT : FOUND_ABSENT;
                if (f->state == FOUND_PRESENT)
                        pg_read_row(res[i], 0, &f->row);
                s->found_n++;
        }
}

int pg_prefetch(struct rd_store *base, const struct rd_store_key *keys, size_t n)
{
        struct pg_store *s = pgs(base);
        struct pg_args *a = calloc(n, sizeof *a);
        PGresult **res = calloc(n, sizeof *res);
        int r = a && res ? found_reserve(s, s->found_n + n) : -ENOMEM;

        for (size_t i = 0; r == 0 && i < n; i++) {
                pa_text(&a[i], keys[i].partner);
                pa_text(&a[i], keys[i].ref);
        }
        if (r == 0)
                r = pg_read_many(s, P_FIND, a, n, res);
        if (r == 0)
                keep_found(s, keys, res, n);
        for (size_t i = 0; r == 0 && i < n; i++)
                PQclear(res[i]);
        free(res);
        free(a);
        return r;
}

int pg_found_lookup(struct pg_store *s, const char *partner, const char *ref, struct rd_stored *out)
{
        struct pg_found *f = s->found_n ? slot_of(s, partner, ref) : NULL;

        if (!f || (f->state != FOUND_ABSENT && f->state != FOUND_PRESENT))
                return 1;
        if (f->state == FOUND_ABSENT)
                return -ENOENT;
        *out = f->row;
        return 0;
}

void pg_found_forget_key(struct pg_store *s, const char *partner, const char *ref)
{
        struct pg_found *f = s->found_n ? slot_of(s, partner, ref) : NULL;

        if (f && f->state != FOUND_EMPTY)
                f->state = FOUND_FORGOTTEN;
}

void pg_found_forget_row(struct pg_store *s, int64_t rowid)
{
        for (size_t i = 0; s->found_n && i < s->found_cap; i++)
                if (s->found[i].state == FOUND_PRESENT && s->found[i].row.rowid == rowid)
                        s->found[i].state = FOUND_FORGOTTEN;
}
