/* store_sqlite_import.c: a SQLite store in memory filled row by row from
 * another database (store_import.h): an empty store in memory
 * (rd_store_open_memory), each row inserted by the names the source gives
 * in one transaction, the figures' tallies of its referrals counted, then
 * its seq read as at a begin. */
#include "store_import.h"
#include "store_sqlite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rd_import {
        struct rd_store *store; /* the SQLite store in memory being filled */
        sqlite3 *db;            /* its connection */
        sqlite3_stmt *insert;   /* for TABLE and its N columns, as last asked */
        char table[64];
        int n;
        char errmsg[256];
};

int rd_import_open(struct rd_import **out, char *errbuf, size_t errsize)
{
        struct rd_import *im = calloc(1, sizeof *im);
        int rc, r;

        errbuf[0] = '\0';
        if (!im)
                return -ENOMEM;
        r = rd_store_open_memory(&im->store, errbuf, errsize);
        if (r == 0) {
                im->db = sq(im->store)->db;
                rc = sqlite3_exec(im->db, "BEGIN", NULL, NULL, NULL);
                if (rc != SQLITE_OK) {
                        snprintf(errbuf, errsize, "cannot make the copy: %s",
                                 sqlite3_errmsg(im->db));
                        r = sq_err(rc);
                }
        }
        if (r < 0) {
                rd_import_abort(im);
                return r;
        }
        *out = im;
        return 0;
}

static bool is_name(const char *s)
{
        return s[0] && strspn(s, "abcdefghijklmnopqrstuvwxyz_") == strlen(s) && strlen(s) < 64;
}

/* The insert statement of TABLE with COLUMNS[N], prepared (kept while the
 * same table is asked for: the source gives a table's rows together). */
static int prepare_insert(struct rd_import *im, const char *table, int n,
                          const char *const *columns)
{
        char sql[2048];
        size_t k;
        int rc;

        if (im->insert && im->n == n && strcmp(im->table, table) == 0)
                return 0;
        sqlite3_finalize(im->insert);
        im->insert = NULL;
        if (!is_name(table) || n <= 0)
                return -EINVAL;
        k = (size_t)snprintf(sql, sizeof sql, "INSERT INTO %s (", table);
        for (int i = 0; i < n && k < sizeof sql; i++) {
                if (!is_name(columns[i]))
                        return -EINVAL;
                k += (size_t)snprintf(sql + k, sizeof sql - k, "%s%s", i ? ", " : "", columns[i]);
        }
        for (int i = 0; i < n && k < sizeof sql; i++)
                k += (size_t)snprintf(sql + k, sizeof sql - k, "%s?%d", i ? ", " : ") VALUES (",
                                      i + 1);
        if (k + 2 >= sizeof sql)
                return -E2BIG;
        strcat(sql, ")");
        rc = sqlite3_prepare_v2(im->db, sql, -1, &im->insert, NULL);
        if (rc != SQLITE_OK)
                return sq_err(rc);
        snprintf(im->table, sizeof im->table, "%s", table);
        im->n = n;
        return 0;
}

int rd_import_row(struct rd_import *im, const char *table, int n, const char *const *columns,
                  const char *const *values)
{
        int r = prepare_insert(im, table, n, columns);

        if (r < 0) {
                snprintf(im->errmsg, sizeof im->errmsg, "cannot copy the table %s: %s", table,
                         r == -EINVAL ? "not a name of the schema" : sqlite3_errmsg(im->db));
                return r;
        }
        sqlite3_reset(im->insert);
        sqlite3_clear_bindings(im->insert);
        for (int i = 0; i < n; i++)
                if (values[i])
                        sqlite3_bind_text(im->insert, i + 1, values[i], -1, SQLITE_STATIC);
        r = sq_step_done(im->insert);
        if (r < 0)
                snprintf(im->errmsg, sizeof im->errmsg, "cannot copy a row of %s: %s", table,
                         sqlite3_errmsg(im->db));
        return r;
}

const char *rd_import_errmsg(const struct rd_import *im)
{
        return im->errmsg;
}

int rd_import_finish(struct rd_import *im, struct rd_store **out, char *errbuf, size_t errsize)
{
        int rc, r;

        sqlite3_finalize(im->insert);
        im->insert = NULL;
        /* no trigger counts an inserted referral (schema version 11) */
        r = sq_run(sq(im->store), S_TALLIES_FILL);
        rc = r == 0 ? sqlite3_exec(im->db, "COMMIT", NULL, NULL, NULL) : SQLITE_ERROR;
        if (r == 0)
                r = rc == SQLITE_OK ? sq_load_seq(sq(im->store)) : sq_err(rc);
        if (r < 0) {
                snprintf(errbuf, errsize, "cannot make the copy: %s", sqlite3_errmsg(im->db));
                rd_import_abort(im);
                return r;
        }
        *out = im->store;
        free(im);
        return 0;
}

void rd_import_abort(struct rd_import *im)
{
        if (!im)
                return;
        sqlite3_finalize(im->insert);
        rd_store_close(im->store);
        free(im);
}
