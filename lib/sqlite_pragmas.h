/* sqlite_pragmas.h: how every SQLite connection that writes referrald's
 * data is set up: the store's SQLite driver, and referral-floor, which
 * measures the unavoidable cost under exactly the same settings. A header
 * of constants, so that the floor need not link lib/. */
#ifndef RD_SQLITE_PRAGMAS_H
#define RD_SQLITE_PRAGMAS_H

/* WAL, a durable commit (synchronous=FULL: an ack survives a power cut),
 * secure_delete so that erased bytes leave the pages, and the statement
 * journal in memory. RD_SQLITE_PRAGMAS_NORMAL is for tests and benchmarks
 * that measure something else than durability. */
#define RD_SQLITE_PRAGMAS_(sync)                                                                   \
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=" sync "; PRAGMA foreign_keys=ON;"            \
        " PRAGMA secure_delete=ON; PRAGMA temp_store=MEMORY;"
#define RD_SQLITE_PRAGMAS_FULL RD_SQLITE_PRAGMAS_("FULL")
#define RD_SQLITE_PRAGMAS_NORMAL RD_SQLITE_PRAGMAS_("NORMAL")

/* How long a tool's statement waits for another connection's lock. The
 * daemon's connection has none: its loop never waits on a lock (store.h,
 * rd_store_open). */
#define RD_SQLITE_BUSY_TIMEOUT_MS 5000

#endif
