/* store_pg_copy.c: the coordinators' tools read a PostgreSQL database
 * through a scratch copy (store.h, rd_store_open_copy_pg), as they read a
 * SQLite file: a read-only session that refuses another schema version,
 * every table read in one repeatable-read snapshot, its rows put into a
 * SQLite store in memory (store_import.h), the session closed. The copy
 * holds the whole database in memory, as the copy of a file does. */
#include "store_import.h"
#include "store_pg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The tables copied (store_pg_sql.c has their columns), routing_files
 * before routing_in_force, which names them. */
static const struct {
        enum pg_stmt id;
        const char *table;
} tables[] = {
        {P_COPY_REFERRALS, "referrals"},
        {P_COPY_EVENTS, "events"},
        {P_COPY_OFFERED, "offered"},
        {P_COPY_DECLINES, "declines"},
        {P_COPY_OFFER_COUNTS, "offer_counts"},
        {P_COPY_ROUND_ROBIN, "round_robin"},
        {P_COPY_META, "meta"},
        {P_COPY_AUDIT, "audit"},
        {P_COPY_REASONS, "reasons"},
        {P_COPY_ROUTING_FILES, "routing_files"},
        {P_COPY_ROUTING_IN_FORCE, "routing_in_force"},
};

/* The rows of RES into TABLE of IM, by the names of RES's columns. */
static int copy_rows(struct rd_import *im, const char *table, const PGresult *res)
{
        const char *columns[PG_ARGS_MAX + 16], *values[PG_ARGS_MAX + 16];
        int n = PQnfields(res), r = 0;

        if (n > (int)(sizeof columns / sizeof columns[0]))
                return -E2BIG;
        for (int c = 0; c < n; c++)
                columns[c] = PQfname(res, c);
        for (int row = 0; r == 0 && row < PQntuples(res); row++) {
                for (int c = 0; c < n; c++)
                        values[c] = PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
                r = rd_import_row(im, table, n, columns, values);
        }
        return r;
}

/* Every table of S, in one snapshot, into IM. */
static int copy_tables(struct pg_store *s, struct rd_import *im, char *errbuf, size_t errsize)
{
        int r;

        s->in_txn = true; /* a transaction of reads only: no fence, no counters */
        r = pg_send(s, P_BEGIN_SNAPSHOT, &(struct pg_args){0});
        for (size_t i = 0; r == 0 && i < sizeof tables / sizeof tables[0]; i++) {
                PGresult *res;
                r = pg_read(s, tables[i].id, &(struct pg_args){0}, &res);
                if (r == 0 && (r = copy_rows(im, tables[i].table, res)) < 0)
                        snprintf(errbuf, errsize, "%s", rd_import_errmsg(im));
                else if (r < 0)
                        snprintf(errbuf, errsize, "cannot read the table %s: %s", tables[i].table,
                                 s->errmsg);
                PQclear(res);
        }
        rd_store_rollback(&s->base);
        return r;
}

int rd_store_open_copy_pg(const char *conninfo, const char *password, struct rd_store **out,
                          char *errbuf, size_t errsize)
{
        struct rd_store *src = NULL;
        struct rd_import *im = NULL;
        int r = pg_open(conninfo, password, true, &src, errbuf, errsize);

        if (r == 0)
                r = rd_import_open(&im, errbuf, errsize);
        if (r == 0)
                r = copy_tables(pgs(src), im, errbuf, errsize);
        rd_store_close(src);
        if (r < 0) {
                rd_import_abort(im);
                return r;
        }
        return rd_import_finish(im, out, errbuf, errsize); /* takes IM */
}
