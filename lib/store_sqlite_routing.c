/* store_sqlite_routing.c: the SQLite driver's record of the routing files
 * that have been in force (store.h, rd_store_routing_record). */
#include "store_sqlite.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The digest of the file in force into BUF (65 bytes): 0, -ENOENT when none
 * is, or a negative errno. */
static int in_force(struct sq_store *s, char buf[65])
{
        sqlite3_stmt *st = sq_prep(s, S_ROUTING_IN_FORCE);
        int rc = sqlite3_step(st);

        if (rc == SQLITE_ROW)
                sq_col_text(st, 0, buf, 65);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW)
                return 0;
        return rc == SQLITE_DONE ? -ENOENT : sq_err(rc);
}

int sq_routing_record(struct rd_store *base, const struct rd_routing_file *f, int64_t now_ms)
{
        struct sq_store *s = sq(base);
        sqlite3_stmt *st;
        char digest[65];
        int r = in_force(s, digest);

        if (r == 0 && strcmp(digest, f->digest) == 0)
                return 0;
        if (r < 0 && r != -ENOENT)
                return r;
        st = sq_prep(s, S_ROUTING_END);
        sqlite3_bind_int64(st, 1, now_ms);
        r = sq_step_done(st);
        if (r == 0) {
                st = sq_prep(s, S_ROUTING_KEEP);
                sqlite3_bind_text(st, 1, f->digest, -1, SQLITE_STATIC);
                sqlite3_bind_blob64(st, 2, f->text ? f->text : "", f->len, SQLITE_STATIC);
                r = sq_step_done(st);
        }
        if (r == 0) {
                st = sq_prep(s, S_ROUTING_BEGIN);
                sqlite3_bind_text(st, 1, f->digest, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, f->source, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 3, now_ms);
                r = sq_step_done(st);
        }
        return r;
}

int sq_each_routing(struct rd_store *base, int (*fn)(void *ctx, const struct rd_routing_period *p),
                    void *ctx)
{
        sqlite3_stmt *st = sq_prep(sq(base), S_ROUTING_HISTORY);
        int rc, r = 0;

        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                const unsigned char *digest = sqlite3_column_text(st, 1);
                const unsigned char *source = sqlite3_column_text(st, 2);
                struct rd_routing_period p = {
                        .n = sqlite3_column_int64(st, 0),
                        .digest = digest ? (const char *)digest : "",
                        .source = source ? (const char *)source : "",
                        .from_ms = sqlite3_column_int64(st, 3),
                        .until_ms = sqlite3_column_int64(st, 4),
                };
                r = fn(ctx, &p);
        }
        return sq_finish(st, rc, r);
}

int sq_routing_text(struct rd_store *base, const char *digest, char **text, size_t *len)
{
        sqlite3_stmt *st = sq_prep(sq(base), S_ROUTING_TEXT);
        const void *blob;
        size_t n;
        char *copy;
        int rc;

        sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
                sqlite3_reset(st);
                return rc == SQLITE_DONE ? -ENOENT : sq_err(rc);
        }
        blob = sqlite3_column_blob(st, 0);
        n = (size_t)sqlite3_column_bytes(st, 0);
        copy = malloc(n + 1);
        if (copy) {
                if (n)
                        memcpy(copy, blob, n);
                copy[n] = '\0';
        }
        sqlite3_reset(st);
        if (!copy)
                return -ENOMEM;
        *text = copy;
        *len = n;
        return 0;
}
