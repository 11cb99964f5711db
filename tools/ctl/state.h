/* state.h: the database an offline command reads (tools.md: --db,
 * --state): a SQLite file (the daemon's, a copy or a backup) or a
 * PostgreSQL database named by a conninfo ("postgresql://host/referrald",
 * "host=db1 dbname=referrald"), either way through a scratch copy in
 * memory (store.h, rd_store_open_copy, rd_store_open_copy_pg). The one
 * opener of every offline command. */
#ifndef RD_CTL_STATE_H
#define RD_CTL_STATE_H

#include "store.h"

/* A scratch copy of WHERE: a conninfo (rd_store_is_conninfo: not an
 * existing file, and looks like one; its password from it, PGPASSWORD or
 * ~/.pgpass) or else a SQLite file; read in one short read transaction,
 * never created nor migrated (another schema version is refused). 0 and
 * *OUT (the caller closes it), or an exit code after printing why; a
 * conninfo is never printed (it may hold a password). */
int state_open(const char *where, struct rd_store **out);

/* The name of WHERE in messages: the file, or "the PostgreSQL database". */
const char *state_name(const char *where);

#endif
