/* sqlite_pragmas.h: how every SQLite connection that writes referrald's
 * data is set up: the store's SQLite driver, and referral-floor, which
 * measures the unavoidable cost under exactly the same settings. A header
 * of constants, so that the floor need not link lib/. */
#ifndef RD_SQLITE_PRAGMAS_H
#define RD_SQLITE_PRAGMAS_H

/* WAL, a durable commit (synchronous=FULL: an ack survives a power cut),
 * secure_delete so that erased bytes leave the pages, the statement
 * journal in memory, and a checkpoint (run by the commit that passes the
 * mark) every 4,000 pages of log instead of SQLite's 1,000: a one-at-a-time
 * submit writes ~15 pages, so one in ~270 pays for a checkpoint instead of
 * one in ~70, which took the p99 of one at a time from 1.2 to 0.55 ms
 * (docs/performance.md, issue 16); fewer checkpoints also write a page
 * that many commits change once instead of four times (4% fewer bytes
 * written). The log file then stays at up to ~16 MiB. Measured and left:
 * a checkpoint in a thread of its own (a second connection) made the p99
 * worse, its fsync racing the commits'. RD_SQLITE_PRAGMAS_NORMAL is for
 * tests and benchmarks that measure something else than durability. */
#define RD_SQLITE_PRAGMAS_(sync)                                                                   \
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=" sync "; PRAGMA foreign_keys=ON;"            \
        " PRAGMA secure_delete=ON; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=4000;"
#define RD_SQLITE_PRAGMAS_FULL RD_SQLITE_PRAGMAS_("FULL")
#define RD_SQLITE_PRAGMAS_NORMAL RD_SQLITE_PRAGMAS_("NORMAL")

/* How long a tool's statement waits for another connection's lock. The
 * daemon's connection has none: its loop never waits on a lock (store.h,
 * rd_store_open). */
#define RD_SQLITE_BUSY_TIMEOUT_MS 5000

#endif
