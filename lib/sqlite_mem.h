/* sqlite_mem.h: SQLite's memory through a cache of the blocks it freed
 * (docs/performance.md, cut 12).
 *
 * Each submit made SQLite allocate and free some 170 blocks: its cursors
 * (one per table and index a statement opens: 513 to 1024 bytes), the
 * records it builds, the statement journal of the request's savepoint
 * (4 KiB pieces), pages. Debian's SQLite is built without its own
 * lookaside allocator (OMIT_LOOKASIDE), and glibc's per-thread cache keeps
 * only 7 blocks of a size, so most of them went through glibc's bins
 * (about 360 instructions a block). Here SQLite's allocator keeps the
 * blocks it freed, up to RD_SQLITE_MEM_MAX bytes each, on a list per size
 * (16 bytes apart) per thread: at most RD_SQLITE_MEM_KEEP of a size and
 * RD_SQLITE_MEM_BYTES in all per thread that used SQLite; larger ones, and
 * those beyond, go to malloc and free as before. So what a burst made
 * SQLite hold beyond that is given back as before (malloc_trim). Not
 * installed under AddressSanitizer. */
#ifndef RD_SQLITE_MEM_H
#define RD_SQLITE_MEM_H

/* Blocks kept per size and thread, their largest size, and the bytes kept
 * per thread at most. */
#define RD_SQLITE_MEM_KEEP 256
#define RD_SQLITE_MEM_MAX 4608
#define RD_SQLITE_MEM_BYTES (2 * 1024 * 1024)

/* Give SQLite this allocator, once per process, before its first
 * connection (sqlite3_config: SQLite must not be initialised yet). Returns
 * 0, or -EBUSY when SQLite was initialised already (it keeps its own
 * allocator: nothing else changes). Safe to call again and from any
 * thread. */
int rd_sqlite_mem_install(void);

#endif
