/* fault_vfs.h: a SQLite VFS for tests that makes chosen I/O calls fail, the
 * way SQLite tests itself (its test_vfs.c and "malloc/io error" loops).
 *
 * fault_vfs_register() adds the VFS "rdfault", a shim over the default
 * (unix) VFS; it is never the default, so only a connection that names it
 * uses it (the store's open: struct rd_sqlite_options.vfs). Every file such
 * a connection opens (the database, its write-ahead log, journals) goes
 * through the shim, which counts the reads, writes, syncs and truncates
 * and, once armed, fails the Nth of the kinds asked for. The shared-memory
 * index (-shm) is mapped, not read or written, and is passed through.
 *
 * One process, one thread: the state is global. */
#ifndef RD_TEST_FAULT_VFS_H
#define RD_TEST_FAULT_VFS_H

#include <stdbool.h>

#define FAULT_VFS_NAME "rdfault"

/* The kinds of I/O call counted, as bits. */
enum fault_kind {
        FAULT_READ = 1u << 0,
        FAULT_WRITE = 1u << 1,
        FAULT_SYNC = 1u << 2,
        FAULT_TRUNCATE = 1u << 3,
        FAULT_ANY = FAULT_READ | FAULT_WRITE | FAULT_SYNC | FAULT_TRUNCATE,
};

/* How a call fails: FAULT_FULL as a full disk does (writes SQLITE_FULL,
 * as the unix VFS says ENOSPC; the other kinds as FAULT_IOERR), FAULT_IOERR
 * with the kind's own SQLite code, as the unix VFS reports a failed
 * pread/pwrite/fsync/ftruncate (SQLITE_IOERR_READ, _WRITE, _FSYNC,
 * _TRUNCATE). */
enum fault_mode { FAULT_FULL, FAULT_IOERR };

/* Register "rdfault" over the default VFS (once; later calls do nothing).
 * 0, or a SQLite result code. */
int fault_vfs_register(void);

/* From now on count the calls of KINDS (enum fault_kind) from 1, and fail
 * the Nth with MODE; with STICKY every later one of KINDS fails too (a disk
 * that stays full) until fault_vfs_disarm. N 0: count only. */
void fault_vfs_arm(unsigned kinds, long n, enum fault_mode mode, bool sticky);

/* Stop failing and counting. */
void fault_vfs_disarm(void);

/* While HOLD, calls are neither counted nor failed (the test's own reads
 * between the steps it counts). */
void fault_vfs_hold(bool hold);

/* How many calls of the armed kinds were made since fault_vfs_arm. */
long fault_vfs_calls(void);

/* The kind of the first call that failed since fault_vfs_arm, or 0 when
 * none did. */
unsigned fault_vfs_fired(void);

#endif
