/* state.h: opening the database a tool reads (tools.md: --db, --state): a
 * SQLite file (the daemon's, a copy or a backup) or a PostgreSQL database
 * named by a conninfo ("postgresql://host/referrald", "host=db1
 * dbname=referrald"). The one opener of every offline command. */
#ifndef RD_CTL_STATE_H
#define RD_CTL_STATE_H

#include "store.h"

/* Open WHERE to read: a conninfo (rd_store_is_conninfo: not an existing
 * file, and looks like one) read-only, never migrated, a database of
 * another schema version refused; else a SQLite file, which must exist
 * (rd_store_open would create a missing one: a typo must not read an
 * empty database). The password of a conninfo comes from it, PGPASSWORD
 * or ~/.pgpass (libpq). 0 and *OUT (the caller closes it), or an exit
 * code after printing why; a conninfo is never printed (it may hold a
 * password). */
int state_open(const char *where, struct rd_store **out);

/* The name of WHERE in messages: the file, or "the PostgreSQL database". */
const char *state_name(const char *where);

#endif
