/* server.h: a server that referral-bench starts itself (--spawn: referrald,
 * --floor: referral-floor, --bare: referral-floor --bare), each in a fresh
 * temporary directory (mkdtemp
 * under $TMPDIR or /tmp) that is removed afterwards unless kept: started on
 * free loopback ports with a new database, ready when it answers a ping,
 * stopped with SIGTERM; it must exit 0. */
#ifndef RD_BENCH_SERVER_H
#define RD_BENCH_SERVER_H

#include "bench.h"

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

enum server_kind { SERVER_DAEMON, SERVER_FLOOR, SERVER_BARE, SERVER__MAX };

struct server {
        enum server_kind kind;
        char path[PATH_MAX];
        char dir[PATH_MAX]; /* the temporary directory; "" none */
        char config[PATH_MAX + 32], db[PATH_MAX + 32], log[PATH_MAX + 32];
        char endpoint[64];
        pid_t pid;                             /* running: > 0 */
        long ran_pid;                          /* for the report */
        long long db_bytes, wal_bytes;         /* after the load, still serving */
        long long db_bytes_end, wal_bytes_end; /* after it stopped */
        long long io_write_bytes;              /* /proc/PID/io write_bytes before the stop; -1 */
        double cpu_s;         /* its CPU time (user + system) before the stop; -1 */
        bool room;            /* the daemon routes with room for every referral */
        const char *conninfo; /* the daemon's PostgreSQL store (--postgresql), or NULL */
        int status;           /* its wait status, once it exited */
        bool exited, failed;  /* failed: did not start or stop cleanly */
};

/* "daemon", "floor" or "bare": the key of its results in --json. */
const char *server_name(const struct server *srv);
const char *server_kind_name(enum server_kind kind);

/* "daemon", "floor", "bare floor": a label in a table. */
const char *server_kind_label(enum server_kind kind);

/* "the daemon", "the floor", "the bare floor": for people. */
const char *server_title(const struct server *srv);

/* Find the binary of SRV (srv->kind set): GIVEN (--spawn=PATH,
 * --floor=PATH, --bare=PATH) or, by default, the one in the directory of
 * this program (for an installed referrald also ../sbin). 0, or -1
 * (printed). */
int server_locate(struct server *srv, const char *given);

/* Make the temporary directory (and for the daemon its config), start the
 * server in it with its log there, and wait until it answers a ping. 0, or
 * -1 (printed, with the end of its log); a server that started is stopped
 * again. The directory stays until server_cleanup(). */
int server_start(struct server *srv);

/* Note the database's size, the bytes the server wrote to storage so far
 * (/proc/PID/io) and its CPU time (/proc/PID/stat), SIGTERM, and wait for the exit (SIGKILL when it
 * takes too long); then the size again. Returns 0 when the server
 * exited 0 in time, else -1 (printed; srv->failed). */
int server_stop(struct server *srv);

/* Remove the temporary directory and what the server left in it, unless
 * KEEP. */
void server_cleanup(struct server *srv, bool keep);

/* The peak and current RSS of process PID (rss.have false when its
 * /proc/PID/status cannot be read). */
struct rss read_rss(long pid);

#endif
