/* store_import.h: a store filled row by row from another database: the
 * tools' scratch copy of a PostgreSQL database (rd_store_open_copy_pg) is a
 * SQLite store in memory, as the copy of a SQLite file is (store.h,
 * rd_store_open_copy). The SQLite driver makes it (store_sqlite_import.c);
 * the source names the tables and columns, which are the same in both
 * drivers' schemas. Nothing here reads a file. */
#ifndef RD_STORE_IMPORT_H
#define RD_STORE_IMPORT_H

#include <stddef.h>

#include "store.h"

struct rd_import;

/* A new, empty SQLite database in memory with the SQLite driver's schema,
 * a transaction open on it. 0 and *OUT, or a negative errno with a reason
 * in ERRBUF. */
int rd_import_open(struct rd_import **out, char *errbuf, size_t errsize);

/* Insert a row into TABLE: N values VALUES (text; NULL: SQL NULL) for the
 * columns COLUMNS. Names are the schema's own ([a-z_] only). The SQLite
 * driver's triggers run (waiting_sets follows referrals: it is not
 * imported); the tallies of the rows, which no trigger counts at insert
 * since schema 11, are counted by rd_import_finish before its commit. 0 or
 * a negative errno (the reason: rd_import_errmsg). */
int rd_import_row(struct rd_import *im, const char *table, int n, const char *const *columns,
                  const char *const *values);

/* The last error's text. */
const char *rd_import_errmsg(const struct rd_import *im);

/* Commit the rows and make the store over them (IM is freed): 0 and *OUT,
 * or a negative errno with a reason in ERRBUF. */
int rd_import_finish(struct rd_import *im, struct rd_store **out, char *errbuf, size_t errsize);

/* Drop IM and what was imported (may be NULL). */
void rd_import_abort(struct rd_import *im);

#endif
