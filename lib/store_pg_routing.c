/* store_pg_routing.c: the PostgreSQL driver's record of the routing files
 * that have been in force (store.h, rd_store_routing_record). */
#include "store_pg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The digest of the file in force into BUF (65 bytes): 0, -ENOENT when none
 * is, or a negative errno. */
static int in_force(struct pg_store *s, char buf[65])
{
        PGresult *res;
        int r = pg_read(s, P_ROUTING_IN_FORCE, &(struct pg_args){0}, &res);

        if (r == 0 && PQntuples(res) == 0)
                r = -ENOENT;
        else if (r == 0)
                pg_text(res, 0, 0, buf, 65);
        PQclear(res);
        return r;
}

int pg_routing_record(struct rd_store *base, const struct rd_routing_file *f, int64_t now_ms)
{
        struct pg_store *s = pgs(base);
        struct pg_args a = {0};
        char digest[65], *text;
        int r = in_force(s, digest);

        if (r == 0 && strcmp(digest, f->digest) == 0)
                return 0;
        if (r < 0 && r != -ENOENT)
                return r;
        /* the bytes as a string: libyaml read them, so UTF-8 without NUL */
        text = strndup(f->text ? f->text : "", f->len);
        if (!text)
                return -ENOMEM;
        pa_int(&a, now_ms);
        r = pg_write(s, P_ROUTING_END, &a, true);
        a.n = 0;
        pa_text(&a, f->digest);
        pa_text(&a, text);
        if (r == 0)
                r = pg_write(s, P_ROUTING_KEEP, &a, true);
        a.n = 0;
        pa_text(&a, f->digest);
        pa_text(&a, f->source);
        pa_int(&a, now_ms);
        if (r == 0)
                r = pg_write(s, P_ROUTING_BEGIN, &a, true);
        free(text);
        return r;
}

int pg_each_routing(struct rd_store *base, int (*fn)(void *ctx, const struct rd_routing_period *p),
                    void *ctx)
{
        PGresult *res;
        int r = pg_read(pgs(base), P_ROUTING_HISTORY, &(struct pg_args){0}, &res);

        for (int i = 0; r == 0 && i < PQntuples(res); i++) {
                struct rd_routing_period p = {
                        .n = pg_int(res, i, 0),
                        .digest = PQgetvalue(res, i, 1),
                        .source = PQgetvalue(res, i, 2),
                        .from_ms = pg_int(res, i, 3),
                        .until_ms = pg_int(res, i, 4),
                };
                r = fn(ctx, &p);
        }
        PQclear(res);
        return r;
}

int pg_routing_text(struct rd_store *base, const char *digest, char **text, size_t *len)
{
        struct pg_args a = {0};
        PGresult *res;
        char *copy;
        int r;

        pa_text(&a, digest);
        r = pg_read(pgs(base), P_ROUTING_TEXT, &a, &res);
        if (r == 0 && PQntuples(res) == 0)
                r = -ENOENT;
        if (r < 0) {
                PQclear(res);
                return r;
        }
        copy = strdup(PQgetvalue(res, 0, 0));
        if (copy) {
                *text = copy;
                *len = (size_t)PQgetlength(res, 0, 0);
        }
        PQclear(res);
        return copy ? 0 : -ENOMEM;
}
