/* dbfile.c: the lock beside the database, the refusal of an empty file,
 * and the identity of the file (device and inode of a descriptor kept
 * open, so that the inode cannot be reused while the daemon compares). */
#include "dbfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct rd_dbfile {
        char *path;
        char lock_path[4096];
        int lock_fd; /* -1 unless the lock is ours */
        int fd;      /* the database, O_RDONLY, from rd_dbfile_watch */
        dev_t dev;
        ino_t ino;
};

/* The folder of PATH, made 0700 when it is missing (as the store would). */
static int make_folder(const char *path)
{
        char *copy = strdup(path), *dir;
        int r = 0;

        if (!copy)
                return -ENOMEM;
        dir = dirname(copy);
        if (mkdir(dir, 0700) == 0) {
                if (chmod(dir, 0700) < 0) /* whatever the umask */
                        r = -errno;
        } else if (errno != EEXIST) {
                r = -errno;
        }
        free(copy);
        return r;
}

/* Say who holds F's lock (its pid, read from the file open as FD). */
static void say_holder(struct rd_dbfile *f, int fd, char *errbuf, size_t errsize)
{
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);

        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(errbuf, errsize,
                 "the database %s is in use by another referrald (pid %s, which holds %s); one "
                 "daemon per database: stop that one, or give this one another database",
                 f->path, pid[0] ? pid : "unknown", f->lock_path);
}

/* Lock F's lock file and write our pid in it, or say who holds it. A
 * daemon that stops removes the file while it still holds the lock: a
 * lock taken on a file that is no longer at the path is let go, and the
 * path tried again. */
static int take_lock(struct rd_dbfile *f, char *errbuf, size_t errsize)
{
        struct stat held, now;
        char pid[32];
        int fd, n, r = make_folder(f->path);

        while (r == 0) {
                fd = open(f->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0) {
                        r = -errno;
                        break;
                }
                if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                        r = errno == EWOULDBLOCK ? -EBUSY : -errno;
                        if (r == -EBUSY)
                                say_holder(f, fd, errbuf, errsize);
                        close(fd);
                        return r;
                }
                if (fstat(fd, &held) == 0 && stat(f->lock_path, &now) == 0 &&
                    held.st_dev == now.st_dev && held.st_ino == now.st_ino) {
                        f->lock_fd = fd;
                        break;
                }
                close(fd); /* removed by the daemon that just stopped */
        }
        if (r == 0) {
                n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
                if (ftruncate(f->lock_fd, 0) < 0 || pwrite(f->lock_fd, pid, (size_t)n, 0) != n)
                        r = -errno;
        }
        if (r < 0)
                snprintf(errbuf, errsize, "cannot take the lock %s: %s", f->lock_path,
                         strerror(-r));
        return r;
}

int rd_dbfile_lock(const char *path, struct rd_dbfile **out, char *errbuf, size_t errsize)
{
        struct rd_dbfile *f = calloc(1, sizeof *f);
        struct stat sb;
        int r;

        if (!f || !(f->path = strdup(path))) {
                free(f);
                snprintf(errbuf, errsize, "out of memory");
                return -ENOMEM;
        }
        f->fd = f->lock_fd = -1;
        snprintf(f->lock_path, sizeof f->lock_path, "%s.lock", path);
        r = take_lock(f, errbuf, errsize);
        if (r == 0 && stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0) {
                r = -EINVAL;
                snprintf(errbuf, errsize,
                         "the database file %s is empty (0 bytes): it holds no database, and "
                         "referrald creates a new one only where no file exists; remove it to "
                         "start with an empty database, or put the backup back",
                         path);
        }
        if (r < 0) {
                rd_dbfile_free(f);
                return r;
        }
        *out = f;
        return 0;
}

int rd_dbfile_watch(struct rd_dbfile *f)
{
        struct stat sb;

        f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
        if (f->fd < 0 || fstat(f->fd, &sb) < 0)
                return -errno;
        f->dev = sb.st_dev;
        f->ino = sb.st_ino;
        return 0;
}

int rd_dbfile_check(const struct rd_dbfile *f, char *why, size_t size)
{
        struct stat now;

        if (stat(f->path, &now) < 0) {
                int e = errno;
                if (e == ENOENT)
                        snprintf(why, size, "was removed");
                else
                        snprintf(why, size, "cannot be looked at (%s)", strerror(e));
                return -e;
        }
        if (now.st_dev != f->dev || now.st_ino != f->ino) {
                snprintf(why, size, "was replaced by another file");
                return -ESTALE;
        }
        return 0;
}

int rd_dbfile_fd(const struct rd_dbfile *f)
{
        return f->fd;
}

const char *rd_dbfile_path(const struct rd_dbfile *f)
{
        return f->path;
}

void rd_dbfile_free(struct rd_dbfile *f)
{
        if (!f)
                return;
        if (f->fd >= 0)
                close(f->fd);
        if (f->lock_fd >= 0) {
                unlink(f->lock_path); /* still locked: see take_lock */
                close(f->lock_fd);    /* lets go of the flock */
        }
        free(f->path);
        free(f);
}
