/* dbfile.h: the SQLite database file as the daemon holds it (daemon.md,
 * "Signals and lifecycle"): one daemon per database, an empty file refused
 * at start, and a file removed or replaced while the daemon runs noticed.
 *
 * The lock is PATH.lock beside the database, locked with flock(2) for the
 * daemon's lifetime and holding its pid: the kernel lets go of it when the
 * daemon dies, also by kill -9, so a file left behind never holds anyone
 * back; a daemon that stops removes it.
 * Tools that only read the database (referralctl backup, rules test
 * --state) do not take it. */
#ifndef RD_DBFILE_H
#define RD_DBFILE_H

#include <stddef.h>

struct rd_dbfile;

/* Take the lock of the database PATH (creating PATH.lock 0600, and the
 * folder 0700 when missing), then refuse PATH when it exists and is empty.
 * Returns 0 and *OUT, or a negative errno with a sentence for the operator
 * in ERRBUF: -EBUSY when another process holds the lock (its pid named),
 * -EINVAL for an empty PATH, another when the lock cannot be made. On
 * failure nothing but PATH.lock (and its folder) was created. */
int rd_dbfile_lock(const char *path, struct rd_dbfile **out, char *errbuf, size_t errsize);

/* Remember which file PATH is now, once the store has opened it, by
 * keeping a descriptor of it open. 0, or a negative errno. */
int rd_dbfile_watch(struct rd_dbfile *f);

/* Is PATH still the file rd_dbfile_watch saw? 0 when it is; -ENOENT when
 * it was removed, -ESTALE when another file is there now, another negative
 * errno when PATH cannot be looked at; with a sentence in WHY then. */
int rd_dbfile_check(const struct rd_dbfile *f, char *why, size_t size);

/* The descriptor of the watched file: while the daemon runs, a removed
 * database can still be copied from /proc/PID/fd/FD. -1 before watching. */
int rd_dbfile_fd(const struct rd_dbfile *f);

/* The database's path (borrowed from F). */
const char *rd_dbfile_path(const struct rd_dbfile *f);

/* Close the watched file, remove the lock file and let go of the lock.
 * Only after the store is
 * closed: closing any descriptor of the database drops SQLite's own locks
 * on it. F may be NULL. */
void rd_dbfile_free(struct rd_dbfile *f);

#endif
