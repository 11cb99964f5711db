/* fault_vfs.c: the test VFS of fault_vfs.h. Each method of a file it opens
 * passes the call on to the file the default VFS opened, after asking
 * fault() whether this call is the one to fail. */
#include "fault_vfs.h"

#include <sqlite3.h>
#include <string.h>

static struct {
        unsigned kinds; /* counted */
        long n;         /* the call to fail, from 1; 0: none */
        enum fault_mode mode;
        bool sticky;
        long calls;
        unsigned fired;
        bool hold;
} g;

static sqlite3_vfs fault_vfs;

/* A file of the shim: the default VFS's file follows it in the same
 * allocation (fault_vfs.szOsFile). */
struct ffile {
        sqlite3_file base;
        sqlite3_file *real;
};

void fault_vfs_arm(unsigned kinds, long n, enum fault_mode mode, bool sticky)
{
        g.kinds = kinds;
        g.n = n;
        g.mode = mode;
        g.sticky = sticky;
        g.calls = 0;
        g.fired = 0;
}

void fault_vfs_hold(bool hold)
{
        g.hold = hold;
}

void fault_vfs_disarm(void)
{
        g.kinds = 0;
        g.n = 0;
}

long fault_vfs_calls(void)
{
        return g.calls;
}

unsigned fault_vfs_fired(void)
{
        return g.fired;
}

/* SQLITE_OK when a call of KIND may go on, else the code it fails with
 * (IOERR: the kind's own code). */
static int fault(unsigned kind, int ioerr)
{
        if (!(g.kinds & kind) || g.hold)
                return SQLITE_OK;
        g.calls++;
        if (g.n == 0 || (g.calls != g.n && !(g.sticky && g.calls > g.n)))
                return SQLITE_OK;
        if (!g.fired)
                g.fired = kind;
        return g.mode == FAULT_FULL && kind == FAULT_WRITE ? SQLITE_FULL : ioerr;
}

static sqlite3_file *real(sqlite3_file *f)
{
        return ((struct ffile *)f)->real;
}

/* ---- the file's methods ------------------------------------------------------------- */

static int f_close(sqlite3_file *f)
{
        return real(f)->pMethods->xClose(real(f));
}

static int f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
        int rc = fault(FAULT_READ, SQLITE_IOERR_READ);
        return rc ? rc : real(f)->pMethods->xRead(real(f), buf, n, off);
}

static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
        int rc = fault(FAULT_WRITE, SQLITE_IOERR_WRITE);
        return rc ? rc : real(f)->pMethods->xWrite(real(f), buf, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
        int rc = fault(FAULT_TRUNCATE, SQLITE_IOERR_TRUNCATE);
        return rc ? rc : real(f)->pMethods->xTruncate(real(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
        int rc = fault(FAULT_SYNC, SQLITE_IOERR_FSYNC);
        return rc ? rc : real(f)->pMethods->xSync(real(f), flags);
}

static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
        return real(f)->pMethods->xFileSize(real(f), size);
}

static int f_lock(sqlite3_file *f, int level)
{
        return real(f)->pMethods->xLock(real(f), level);
}

static int f_unlock(sqlite3_file *f, int level)
{
        return real(f)->pMethods->xUnlock(real(f), level);
}

static int f_check_lock(sqlite3_file *f, int *out)
{
        return real(f)->pMethods->xCheckReservedLock(real(f), out);
}

static int f_control(sqlite3_file *f, int op, void *arg)
{
        return real(f)->pMethods->xFileControl(real(f), op, arg);
}

static int f_sector(sqlite3_file *f)
{
        return real(f)->pMethods->xSectorSize(real(f));
}

static int f_device(sqlite3_file *f)
{
        return real(f)->pMethods->xDeviceCharacteristics(real(f));
}

static int f_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **out)
{
        return real(f)->pMethods->xShmMap(real(f), page, size, extend, out);
}

static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
        return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
        real(f)->pMethods->xShmBarrier(real(f));
}

static int f_shm_unmap(sqlite3_file *f, int delete_flag)
{
        return real(f)->pMethods->xShmUnmap(real(f), delete_flag);
}

/* Version 2: with the shared-memory methods, without memory-mapped I/O
 * (xFetch), so that every page comes through f_read. */
static const sqlite3_io_methods fault_io = {
        .iVersion = 2,
        .xClose = f_close,
        .xRead = f_read,
        .xWrite = f_write,
        .xTruncate = f_truncate,
        .xSync = f_sync,
        .xFileSize = f_size,
        .xLock = f_lock,
        .xUnlock = f_unlock,
        .xCheckReservedLock = f_check_lock,
        .xFileControl = f_control,
        .xSectorSize = f_sector,
        .xDeviceCharacteristics = f_device,
        .xShmMap = f_shm_map,
        .xShmLock = f_shm_lock,
        .xShmBarrier = f_shm_barrier,
        .xShmUnmap = f_shm_unmap,
};

/* ---- the VFS ---------------------------------------------------------------------------- */

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
        sqlite3_vfs *under = vfs->pAppData;
        struct ffile *f = (struct ffile *)file;
        int rc;

        f->real = (sqlite3_file *)(f + 1);
        rc = under->xOpen(under, name, f->real, flags, out_flags);
        /* SQLite calls xClose only when pMethods is set */
        f->base.pMethods = rc == SQLITE_OK && f->real->pMethods ? &fault_io : NULL;
        return rc;
}

int fault_vfs_register(void)
{
        sqlite3_vfs *under;

        if (fault_vfs.zName)
                return SQLITE_OK;
        under = sqlite3_vfs_find(NULL);
        if (!under)
                return SQLITE_ERROR;
        /* every other method is the default VFS's own */
        fault_vfs = *under;
        fault_vfs.pNext = NULL;
        fault_vfs.zName = FAULT_VFS_NAME;
        fault_vfs.pAppData = under;
        fault_vfs.szOsFile = (int)sizeof(struct ffile) + under->szOsFile;
        fault_vfs.xOpen = v_open;
        return sqlite3_vfs_register(&fault_vfs, 0);
}
