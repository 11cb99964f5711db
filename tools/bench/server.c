/* server.c: see server.h. */
#include "server.h"

#include "macro.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define DAEMON_NAME "referrald"
#define FLOOR_NAME "referral-floor"
#define START_TIMEOUT_NS (20 * NS_PER_S) /* a started server must answer a ping by then */
#define STOP_TIMEOUT_NS (30 * NS_PER_S)  /* and exit after SIGTERM by then, or get SIGKILL */

struct rss read_rss(long pid)
{
        struct rss out = {0};
        char path[64], line[256];
        FILE *f;

        snprintf(path, sizeof path, "/proc/%ld/status", pid);
        f = fopen(path, "r");
        if (!f)
                return out;
        while (fgets(line, sizeof line, f)) {
                if (sscanf(line, "VmHWM: %ld kB", &out.hwm_kb) == 1)
                        out.have = true;
                sscanf(line, "VmRSS: %ld kB", &out.rss_kb);
        }
        fclose(f);
        return out;
}

extern char **environ;

/* Per kind: its key, its label, its title, the program, the option. */
static const struct {
        const char *name, *label, *title, *program, *option;
} kinds[] = {
        [SERVER_DAEMON] = {"daemon", "daemon", "the daemon", DAEMON_NAME, "--spawn"},
        [SERVER_FLOOR] = {"floor", "floor", "the floor", FLOOR_NAME, "--floor"},
        [SERVER_BARE] = {"bare", "bare floor", "the bare floor", FLOOR_NAME, "--bare"},
};
RD_TABLE_COVERS(kinds, SERVER__MAX);

const char *server_kind_name(enum server_kind kind)
{
        return kinds[kind].name;
}

const char *server_kind_label(enum server_kind kind)
{
        return kinds[kind].label;
}

const char *server_name(const struct server *srv)
{
        return kinds[srv->kind].name;
}

const char *server_title(const struct server *srv)
{
        return kinds[srv->kind].title;
}

int server_locate(struct server *srv, const char *given)
{
        const char *name = kinds[srv->kind].program;
        const char *option = kinds[srv->kind].option;
        char self[PATH_MAX - 64], *slash; /* room for "/../sbin/NAME" */
        ssize_t n;

        if (given) {
                if (!realpath(given, srv->path) || access(srv->path, X_OK) < 0) {
                        tool_msg(PROG, "%s=%s: %s", option, given, strerror(errno));
                        return -1;
                }
                return 0;
        }
        n = readlink("/proc/self/exe", self, sizeof self);
        if (n <= 0 || (size_t)n >= sizeof self) {
                tool_msg(PROG, "cannot find the directory of this program: %s",
                         n < 0 ? strerror(errno) : "its path is too long");
                return -1;
        }
        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash)
                *slash = '\0';
        snprintf(srv->path, sizeof srv->path, "%s/%s", self, name);
        if (access(srv->path, X_OK) == 0)
                return 0;
        if (srv->kind == SERVER_DAEMON) {
                char sbin[PATH_MAX];
                snprintf(sbin, sizeof sbin, "%s/../sbin/%s", self, name);
                if (realpath(sbin, srv->path) && access(srv->path, X_OK) == 0)
                        return 0;
        }
        tool_msg(PROG, "no %s in %s; name it with %s=PATH", name, self, option);
        return -1;
}

/* Free TCP ports on the loopback: bound to port 0 and let go again (the
 * server binds them a moment later). N is at most 2. */
static int free_ports(int *ports, int n)
{
        int fds[2] = {-1, -1}, r = 0;

        for (int i = 0; i < n && r == 0; i++) {
                struct sockaddr_in a = {.sin_family = AF_INET,
                                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                socklen_t len = sizeof a;

                fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof a) < 0 ||
                    getsockname(fds[i], (struct sockaddr *)&a, &len) < 0)
                        r = -errno;
                else
                        ports[i] = ntohs(a.sin_port);
        }
        for (int i = 0; i < n; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        return r;
}

/* The benchmark's routing files (compiled in): tools/bench/routing.yaml,
 * the example region as it was before overflow, so that a submit does the
 * same work from release to release whatever the shipped example becomes;
 * and tools/bench/room.yaml (--room), the same region with room for every
 * referral. */
extern const char rd_bench_routing[];
extern const unsigned long rd_bench_routing_len;
extern const char rd_bench_room[];
extern const unsigned long rd_bench_room_len;

/* Write the benchmark's routing file beside the config. 0 or -1 (said). */
static int write_routing(const struct server *srv)
{
        const char *text = srv->room ? rd_bench_room : rd_bench_routing;
        unsigned long len = srv->room ? rd_bench_room_len : rd_bench_routing_len;
        char path[sizeof srv->config + 16];
        int fd;
        FILE *f;

        snprintf(path, sizeof path, "%s/routing.yaml", srv->dir);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f || fwrite(text, 1, len, f) != len) {
                tool_msg(PROG, "cannot write %s: %s", path, strerror(errno));
                if (f)
                        fclose(f);
                else if (fd >= 0)
                        close(fd);
                return -1;
        }
        if (fclose(f) != 0) {
                tool_msg(PROG, "cannot write %s: %s", path, strerror(errno));
                return -1;
        }
        return 0;
}

/* VALUE in YAML single quotes ('' is one '). */
static void put_quoted(FILE *f, const char *value)
{
        fputc('\'', f);
        for (const char *p = value; *p; p++) {
                if (*p == '\'')
                        fputc('\'', f);
                fputc(*p, f);
        }
        fputs("'\n", f);
}

/* The daemon's config (daemon.md, config/referrald.yaml): the endpoints, the
 * database (or with --postgresql the PostgreSQL store) and the benchmark's
 * routing file; the rest as by default,
 * journal_events `all` (the event lines go to the log, as they go to the
 * journal under systemd). */
static int write_config(const struct server *srv, int events_port)
{
        int fd;
        FILE *f;

        if (write_routing(srv) < 0)
                return -1;
        fd = open(srv->config, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        f = fd >= 0 ? fdopen(fd, "w") : NULL;

        if (!f) {
                tool_msg(PROG, "cannot write %s: %s", srv->config, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        fprintf(f,
                "# written by " PROG " --spawn for one run\n"
                "intake: %s\n"
                "events: tcp://127.0.0.1:%d\n"
                "routing: routing.yaml\n",
                srv->endpoint, events_port);
        if (srv->conninfo) {
                fputs("store: postgresql\npostgresql:\n  conninfo: ", f);
                put_quoted(f, srv->conninfo);
        } else {
                fputs("database: ", f);
                put_quoted(f, srv->db);
        }
        if (fclose(f) != 0) {
                tool_msg(PROG, "cannot write %s: %s", srv->config, strerror(errno));
                return -1;
        }
        return 0;
}

/* This environment without what would let the child talk to the service
 * manager of this program. Points into environ; free the array only. */
static char **child_env(void)
{
        static const char *const drop[] = {"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=",
                                           "LISTEN_FDS=",    "LISTEN_PID=",    "LISTEN_FDNAMES="};
        size_t n = 0, k = 0;
        char **env;

        while (environ[n])
                n++;
        env = calloc(n + 1, sizeof *env);
        if (!env)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                bool skip = false;
                for (size_t d = 0; d < sizeof drop / sizeof drop[0]; d++)
                        skip |= strncmp(environ[i], drop[d], strlen(drop[d])) == 0;
                if (!skip)
                        env[k++] = environ[i];
        }
        return env;
}

static void describe_status(int status, char *buf, size_t cap)
{
        if (WIFEXITED(status))
                snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status),
                         strsignal(WTERMSIG(status)));
        else
                snprintf(buf, cap, "wait status %d", status);
}

/* The end of the server's log on stderr: why it did not start or stop. */
static void show_log(const struct server *srv)
{
        char buf[4096];
        FILE *f = fopen(srv->log, "r");
        size_t n;
        const char *text = buf;

        if (!f)
                return;
        if (fseek(f, -(long)(sizeof buf - 1), SEEK_END) < 0)
                rewind(f);
        else
                text = NULL; /* mid-line: start at the next line */
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        if (!text) {
                text = strchr(buf, '\n');
                text = text ? text + 1 : buf;
        }
        if (*text)
                fprintf(stderr, PROG ": the end of %s's log %s:\n%s%s", server_title(srv), srv->log,
                        text, text[strlen(text) - 1] == '\n' ? "" : "\n");
}

/* Note that the server exited with STATUS. */
static void reaped(struct server *srv, int status)
{
        srv->pid = 0;
        srv->exited = true;
        srv->status = status;
}

/* Wait until the server answers a ping, or it exits, or the deadline. */
static int wait_ready(struct server *srv)
{
        static const char ping[] = "{\"op\":\"ping\",\"corr\":\"ready\"}";
        int64_t deadline = tool_mono_ns() + START_TIMEOUT_NS;
        void *zctx = zmq_ctx_new(), *sock = zctx ? zmq_socket(zctx, ZMQ_DEALER) : NULL;
        int zero = 0, r = -1;

        if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) < 0 ||
            zmq_connect(sock, srv->endpoint) < 0 || zmq_send(sock, ping, sizeof ping - 1, 0) < 0) {
                tool_msg(PROG, "cannot ping %s at %s: %s", server_title(srv), srv->endpoint,
                         zmq_strerror(errno));
                goto out;
        }
        /* the ping waits in the socket until the server has bound its port */
        for (;;) {
                zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
                char what[96];
                int status;

                if (zmq_poll(&it, 1, 20) > 0) {
                        zmq_msg_t msg;
                        zmq_msg_init(&msg);
                        if (zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) >= 0) {
                                bool ok = memmem(zmq_msg_data(&msg), zmq_msg_size(&msg),
                                                 "\"ok\":true", 9) != NULL;
                                zmq_msg_close(&msg);
                                if (ok)
                                        r = 0;
                                else
                                        tool_msg(PROG, "%s answered the ping with an error",
                                                 server_title(srv));
                                break;
                        }
                        zmq_msg_close(&msg);
                }
                if (waitpid(srv->pid, &status, WNOHANG) == srv->pid) {
                        reaped(srv, status);
                        describe_status(status, what, sizeof what);
                        tool_msg(PROG, "%s %s exited before it answered a ping: %s",
                                 server_title(srv), srv->path, what);
                        show_log(srv);
                        break;
                }
                if (tool_interrupted) {
                        tool_msg(PROG, "interrupted while %s started", server_title(srv));
                        break;
                }
                if (tool_mono_ns() >= deadline) {
                        tool_msg(PROG, "%s did not answer a ping within %d s", server_title(srv),
                                 (int)(START_TIMEOUT_NS / NS_PER_S));
                        show_log(srv);
                        break;
                }
        }
out:
        if (sock)
                zmq_close(sock);
        if (zctx)
                zmq_ctx_term(zctx);
        return r;
}

/* Make SRV's temporary directory, name its files in it, take free ports
 * (the intake's into srv->endpoint) and, for the daemon, write its config.
 * Fills ARGV (7 entries) with the server's command line. 0 or -1
 * (printed). */
static int server_prepare(struct server *srv, char **argv)
{
        const char *tmp = getenv("TMPDIR");
        const char *base = srv->kind == SERVER_DAEMON ? DAEMON_NAME : server_name(srv);
        int ports[2], r;

        if (!tmp || !*tmp)
                tmp = "/tmp";
        if (snprintf(srv->dir, sizeof srv->dir, "%s/" PROG ".XXXXXX", tmp) >=
                    (int)sizeof srv->dir ||
            !mkdtemp(srv->dir)) {
                tool_msg(PROG, "cannot make a temporary directory in %s: %s", tmp, strerror(errno));
                srv->dir[0] = '\0';
                return -1;
        }
        snprintf(srv->db, sizeof srv->db, "%s/%s.db", srv->dir, base);
        snprintf(srv->log, sizeof srv->log, "%s/%s.log", srv->dir, base);
        snprintf(srv->config, sizeof srv->config, "%s/%s.yaml", srv->dir, base);
        r = free_ports(ports, srv->kind == SERVER_DAEMON ? 2 : 1);
        if (r < 0) {
                tool_msg(PROG, "cannot find a free port on 127.0.0.1: %s", strerror(-r));
                return -1;
        }
        snprintf(srv->endpoint, sizeof srv->endpoint, "tcp://127.0.0.1:%d", ports[0]);
        if (srv->kind == SERVER_DAEMON) {
                if (write_config(srv, ports[1]) < 0)
                        return -1;
                argv[0] = srv->path;
                argv[1] = "-c";
                argv[2] = srv->config;
                argv[3] = NULL;
        } else {
                int k = 0;
                argv[k++] = srv->path;
                if (srv->kind == SERVER_BARE)
                        argv[k++] = "--bare";
                argv[k++] = "-e";
                argv[k++] = srv->endpoint;
                argv[k++] = "-d";
                argv[k++] = srv->db;
                argv[k] = NULL;
        }
        return 0;
}

/* Start ARGV in SRV's directory, stdin /dev/null, stdout and stderr its
 * log, in its own process group, with this environment but for the
 * service manager's variables. The child's pid, or -1 (printed). */
static pid_t server_spawn(const struct server *srv, char **argv)
{
        int logfd = open(srv->log, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        char **env = child_env();
        pid_t parent = getpid(), pid = -1;

        if (logfd < 0 || nullfd < 0 || !env) {
                tool_msg(PROG, "cannot set up %s: %s", server_title(srv), strerror(errno));
                goto out;
        }
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid == 0) {
                /* the child: only async-signal-safe calls up to the exec */
                static const char msg[] = PROG ": cannot execute the server\n";
                sigset_t none;

                if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0 ||
                    chdir(srv->dir) < 0)
                        _exit(127);
                /* its own process group: a Ctrl-C reaches this program alone,
                 * which lets the replies in flight come back, then stops it */
                setpgid(0, 0);
                /* and should this program die, the server stops too */
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() != parent)
                        _exit(127);
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                execve(srv->path, argv, env);
                if (write(2, msg, sizeof msg - 1) < 0)
                        _exit(127);
                _exit(127);
        }
        if (pid < 0)
                tool_msg(PROG, "cannot start %s: %s", server_title(srv), strerror(errno));
out:
        if (logfd >= 0)
                close(logfd);
        if (nullfd >= 0)
                close(nullfd);
        free(env);
        return pid;
}

int server_start(struct server *srv)
{
        char *argv[7];
        pid_t pid;

        if (server_prepare(srv, argv) < 0)
                return -1;
        pid = server_spawn(srv, argv);
        if (pid < 0)
                return -1;
        srv->pid = pid;
        srv->ran_pid = (long)pid;
        if (wait_ready(srv) < 0) {
                if (srv->pid > 0)
                        server_stop(srv);
                srv->failed = true;
                return -1;
        }
        return 0;
}

/* The size of PATH in bytes; 0 when it does not exist. */
static long long file_size(const char *path)
{
        struct stat st;

        return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* write_bytes of /proc/PID/io: what process PID caused to be written to
 * storage (pages dirtied), or -1 when it cannot be read. */
static long long io_write_bytes(pid_t pid)
{
        char path[64], line[128];
        long long v = -1;
        FILE *f;

        snprintf(path, sizeof path, "/proc/%ld/io", (long)pid);
        f = fopen(path, "r");
        if (!f)
                return -1;
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "write_bytes: %lld", &v) == 1)
                        break;
        fclose(f);
        return v;
}

/* The CPU time (user + system, every thread) of process PID in seconds,
 * or -1 when /proc/PID/stat cannot be read. */
static double cpu_seconds(pid_t pid)
{
        char path[64], buf[1024], *p;
        unsigned long long utime, stime;
        FILE *f;
        size_t n;

        snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
        f = fopen(path, "r");
        if (!f)
                return -1;
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')'); /* the command may hold spaces */
        /* after ") ": state, then fields 4 to 13, then utime (14), stime (15) */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                         &stime) != 2)
                return -1;
        return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void db_sizes(const struct server *srv, long long *db, long long *wal)
{
        char wal_path[sizeof srv->db + 8];

        snprintf(wal_path, sizeof wal_path, "%s-wal", srv->db);
        if (srv->conninfo) { /* the files are the PostgreSQL server's */
                *db = *wal = 0;
                return;
        }
        *db = file_size(srv->db);
        *wal = file_size(wal_path);
}

int server_stop(struct server *srv)
{
        int64_t deadline = tool_mono_ns() + STOP_TIMEOUT_NS;
        char what[96];
        int status = 0;

        srv->io_write_bytes = -1;
        srv->cpu_s = -1;
        if (srv->pid > 0) {
                db_sizes(srv, &srv->db_bytes, &srv->wal_bytes);
                srv->io_write_bytes = io_write_bytes(srv->pid);
                srv->cpu_s = cpu_seconds(srv->pid);
                kill(srv->pid, SIGTERM);
                for (;;) {
                        /* a short poll with a deadline: a daemon checkpoints its
                         * write-ahead log as it closes the database */
                        struct timespec ts = {.tv_nsec = 5 * NS_PER_MS};
                        pid_t r = waitpid(srv->pid, &status, WNOHANG);

                        if (r == srv->pid)
                                break;
                        if (r < 0 && errno != EINTR) {
                                tool_msg(PROG, "waiting for %s: %s", server_title(srv),
                                         strerror(errno));
                                srv->pid = 0;
                                srv->failed = true;
                                return -1;
                        }
                        if (tool_mono_ns() >= deadline) {
                                tool_msg(PROG, "%s did not stop within %d s of SIGTERM; SIGKILL",
                                         server_title(srv), (int)(STOP_TIMEOUT_NS / NS_PER_S));
                                kill(srv->pid, SIGKILL);
                                waitpid(srv->pid, &status, 0);
                                break;
                        }
                        nanosleep(&ts, NULL);
                }
                reaped(srv, status);
        }
        db_sizes(srv, &srv->db_bytes_end, &srv->wal_bytes_end);
        if (!srv->exited || !WIFEXITED(srv->status) || WEXITSTATUS(srv->status) != 0) {
                describe_status(srv->status, what, sizeof what);
                tool_msg(PROG, "%s %s stopped with %s", server_title(srv), srv->path, what);
                show_log(srv);
                srv->failed = true;
                return -1;
        }
        return 0;
}

void server_cleanup(struct server *srv, bool keep)
{
        DIR *d;

        if (!srv->dir[0] || keep)
                return;
        d = opendir(srv->dir);
        if (d) {
                struct dirent *e;
                while ((e = readdir(d)) != NULL)
                        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                                unlinkat(dirfd(d), e->d_name, 0);
                closedir(d);
        }
        if (rmdir(srv->dir) < 0)
                tool_msg(PROG, "cannot remove %s: %s", srv->dir, strerror(errno));
        srv->dir[0] = '\0';
}
