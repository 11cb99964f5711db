"""pgharness: real PostgreSQL servers for the integration tests.

The PostgreSQL store (daemon.md rev 2, "Several machines") is tested against
real PostgreSQL 15 servers that this module starts on this machine: a
primary, and streaming standbys made with `pg_basebackup -R`, one of them
synchronous. Everything runs on loopback only, on free ports, each server in
its own folder under /tmp; as root the server programs run as the `postgres`
user through `runuser -u postgres --` (initdb refuses root), as any other
user they run as that user.

    with PgServer() as primary:             # started, role + database made
        standby = primary.add_standby()     # basebackup, start, sync, awaited
        primary.psql("create table t (x int)")
        conninfo = multi_conninfo([primary, standby])
        primary.stop("immediate")
        standby.promote()                   # awaited until it takes writes

Each server is a copy of a template cluster that the process makes once
(initdb, role and database `referrald`, a clean stop): a copy and a start
cost less than initdb and a first start each time.

Nothing is left behind: close() (also on leaving the `with`, at exit, and,
should the test process die without running either, from a watchdog process
that notices its pipe closing) stops every server, kills whatever process of
it remains, removes its shared memory and its folder.

Server settings for tests (see settings()): fsync and synchronous_commit on
(the store's promises are about durability), wal_level replica, small
shared_buffers, no autovacuum. Authentication: the harness itself is the
superuser `postgres` over the private unix socket (trust); the role
`referrald`, owner of the database `referrald`, logs in over TCP on
127.0.0.1 with a password (scram-sha-256; `password=None` makes it trust).

Besides rdtest (wait_until, free_ports), only the Python standard library
and the PostgreSQL programs (psql through subprocess) are used.
"""

import atexit
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from rdtest import free_ports, wait_until

MIN_MAJOR = 15
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
SYNC_TIMEOUT = 30.0
PSQL_TIMEOUT = 30.0
DB = "referrald"
ROLE = "referrald"
HOST = "127.0.0.1"


class PgError(Exception):
    """A PostgreSQL program failed. sqlstate: the SQLSTATE psql printed (its
    messages are verbose), or None (e.g. a connection that failed in libpq)."""

    def __init__(self, what, returncode, output):
        self.returncode = returncode
        self.output = output
        self.sqlstate = _sqlstate(output)
        super().__init__("%s failed (exit %s): %s" % (what, returncode, output.strip()))


def _sqlstate(text):
    # psql -v VERBOSITY=verbose: "ERROR:  42P01: relation ... does not exist"
    for line in text.splitlines():
        for level in ("ERROR:  ", "FATAL:  ", "PANIC:  "):
            i = line.find(level)
            if i >= 0:
                code = line[i + len(level):i + len(level) + 5]
                if len(code) == 5 and code.isalnum() and line[i + len(level) + 5:].startswith(":"):
                    return code
    return None


# ------------------------------------------------------------ the programs


def bindir():
    """The bin folder of the newest installed PostgreSQL server >= 15 that has
    every program the harness runs, or None."""
    base = "/usr/lib/postgresql"
    try:
        majors = sorted((int(v) for v in os.listdir(base) if v.isdigit()), reverse=True)
    except OSError:
        return None
    for major in majors:
        d = os.path.join(base, str(major), "bin")
        if major >= MIN_MAJOR and all(
                os.access(os.path.join(d, p), os.X_OK)
                for p in ("initdb", "pg_ctl", "postgres", "pg_basebackup", "psql")):
            return d
    return None


def skip_reason():
    """Why PostgreSQL servers can not be run here, or None. As root the
    packages can be installed (tools/do deps), so a missing server there is a
    failure, not a reason to skip (start() then says what is missing)."""
    if os.geteuid() == 0:
        return None
    if bindir() is None:
        return ("PostgreSQL %d or newer is not installed and this user (not root) can not "
                "install it (tools/do deps installs postgresql-15)" % MIN_MAJOR)
    return None


def _require_programs():
    d = bindir()
    if d is None:
        raise PgError("looking for /usr/lib/postgresql/N/bin (N >= %d)" % MIN_MAJOR, None,
                      "PostgreSQL server programs not installed: run tools/do deps "
                      "(Debian packages postgresql-15, libpq-dev)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise PgError("looking for the user postgres", None,
                          "no user postgres (Debian's postgresql-common creates it)")
        if not shutil.which("runuser"):
            raise PgError("looking for runuser", None, "runuser (util-linux) not found")
    return d


def _owner():
    """(uid, gid) that the servers run as."""
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        return pw.pw_uid, pw.pw_gid
    return os.geteuid(), os.getegid()


def _env():
    """The environment for PostgreSQL programs: none of the caller's PG*
    variables (PGHOST, PGPASSWORD, ... would redirect them), messages in
    English."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env.pop("LANGUAGE", None)
    return env


def _as_server_user(argv):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + argv
    return argv


def _run(what, argv, timeout, cwd="/", env=None):
    """Run ARGV (as the server user), return its output; PgError on a
    non-zero exit or a timeout."""
    try:
        p = subprocess.run(_as_server_user(argv), cwd=cwd, env=env or _env(),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise PgError(what, "timeout after %.0fs" % timeout,
                      (e.output or b"").decode("utf-8", "replace"))
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0:
        raise PgError(what, p.returncode, out)
    return out


# ------------------------------------------------------------------ psql


def _psql_argv(conninfo, sql):
    return [os.path.join(bindir() or "/usr/bin", "psql"), "-X", "-q", "-A", "-t",
            "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose",
            "-d", conninfo, "-c", sql]


def _psql_env(password):
    env = _env()
    if password is not None:
        env["PGPASSWORD"] = password
    env["PGCONNECT_TIMEOUT"] = "5"
    return env


def psql(conninfo, sql, password=None, timeout=PSQL_TIMEOUT):
    """Run SQL (one or more statements, autocommit) through psql on CONNINFO,
    as the calling user; return the rows of the last statement as tuples of
    strings (NULL as ''). PgError on failure, with its sqlstate."""
    argv = _psql_argv(conninfo, sql)
    try:
        p = subprocess.run(argv, env=_psql_env(password), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise PgError("psql %r" % sql, "timeout after %.0fs" % timeout,
                      (e.stderr or b"").decode("utf-8", "replace"))
    if p.returncode != 0:
        raise PgError("psql %r" % sql, p.returncode, p.stderr.decode("utf-8", "replace"))
    text = p.stdout.decode("utf-8", "replace")
    return [tuple(line.split("\x1f")) for line in text.splitlines()]


def psql_popen(conninfo, sql, password=None):
    """Start psql with SQL on CONNINFO and return the Popen (stdout and stderr
    pipes) without waiting: for a statement that is expected to block."""
    return subprocess.Popen(_psql_argv(conninfo, sql), env=_psql_env(password),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def multi_conninfo(servers, user=ROLE, dbname=DB, target_session_attrs="read-write",
                   **extra):
    """One conninfo naming every server of SERVERS in that order
    (host=127.0.0.1,127.0.0.1 port=P1,P2 ...): libpq tries them in turn and
    keeps the first that matches target_session_attrs."""
    parts = {"host": ",".join(HOST for _ in servers),
             "port": ",".join(str(s.port) for s in servers),
             "dbname": dbname, "user": user}
    if target_session_attrs:
        parts["target_session_attrs"] = target_session_attrs
    parts.update(extra)
    return _conninfo(parts)


def _conninfo(parts):
    def quote(v):
        v = str(v)
        if v and all(c not in v for c in " '\\"):
            return v
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return " ".join("%s=%s" % (k, quote(v)) for k, v in parts.items())


# ------------------------------------------------------- never left behind

_LIVE = {}          # folder -> server, for atexit
_GUARD = None       # write end of the watchdog's pipe
_GUARD_LOCK = threading.Lock()


def _processes_of(folder):
    """PIDs of every process that belongs to the server in FOLDER: its
    postmaster and the programs run on it (the folder in their command
    line) and its children (their title "postgres: CLUSTER_NAME: ...")."""
    title = ("postgres: %s:" % _cluster_name(folder)).encode()
    mark = (folder + "/").encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if cmd.startswith(title) or mark in cmd:
            pids.append(int(entry))
    return pids


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _reap(folder, timeout=10.0):
    """SIGKILL every process of the server in FOLDER (the postmaster first,
    so it starts nothing new), wait until they are gone, remove the shared
    memory segment a killed postmaster leaves. Return the PIDs killed."""
    killed = []
    deadline = time.monotonic() + timeout
    pm = _postmaster_pid(folder)
    while True:
        pids = _processes_of(folder)
        if pm is not None and _alive(pm) and pm not in pids:
            pids.insert(0, pm)
        pids = [p for p in pids if _alive(p)]
        if not pids or time.monotonic() >= deadline:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except OSError:
                pass
        time.sleep(0.02)
    _remove_shm(folder)
    return sorted(set(killed))


def _postmaster_pid(folder):
    lines = _pid_file(folder)
    return int(lines[0]) if lines and lines[0].strip().isdigit() else None


def _pid_file(folder):
    try:
        with open(os.path.join(folder, "data", "postmaster.pid")) as f:
            return f.read().splitlines()
    except OSError:
        return None


def _remove_shm(folder):
    """postmaster.pid line 7 is "KEY SHMID" of the small System V segment
    that a postmaster removes when it exits; one killed with SIGKILL leaves
    it. Remove it once nothing is attached (best effort)."""
    lines = _pid_file(folder)
    if not lines or len(lines) < 7 or len(lines[6].split()) != 2:
        return
    shmid = lines[6].split()[1]
    if _postmaster_pid(folder) is not None and _alive(_postmaster_pid(folder)):
        return
    try:
        with open("/proc/sysvipc/shm") as f:
            rows = [r.split() for r in f.read().splitlines()[1:]]
    except OSError:
        return
    for r in rows:  # key shmid perms size cpid lpid nattch ...
        if len(r) > 6 and r[1] == shmid and r[6] == "0":
            subprocess.run(["ipcrm", "-m", shmid], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


def _remove_folder(folder):
    if os.path.basename(folder).startswith("rdpg-"):
        shutil.rmtree(folder, ignore_errors=True)


def _guard(line):
    """Tell the watchdog process about a server folder: "+FOLDER" a new one,
    "-FOLDER" closed (its processes are gone: the watchdog removes the
    folder, in the background). Starts the watchdog on first use. False if
    the watchdog is gone."""
    global _GUARD
    with _GUARD_LOCK:
        if _GUARD is None:
            r, w = os.pipe()
            code = ("import sys; sys.path.insert(0, %r); import pgharness; "
                    "pgharness._watchdog(%d)" % (os.path.dirname(os.path.abspath(__file__)), r))
            # The child forks and exits at once: the watchdog is reparented,
            # so that whatever kills this process and its children (a ctest
            # timeout) does not take the watchdog with it. No stdout: ctest
            # must not wait for it.
            p = subprocess.Popen([sys.executable, "-c", code], pass_fds=(r,), cwd="/",
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
            os.close(r)
            p.wait()
            _GUARD = w
        try:
            os.write(_GUARD, (line + "\n").encode())
            return True
        except OSError:
            return False


def _watchdog(fd):
    """The watchdog process: read "+FOLDER"/"-FOLDER" lines from FD; remove
    the folder of each closed server (on a disk mounted with `discard`
    removing a server's folder takes seconds: the tests need not wait for
    it); once the test process is gone (EOF), kill and remove every server
    still listed."""
    if os.fork() != 0:
        os._exit(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    listed, buf = set(), b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except InterruptedError:
            continue
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            folder = line[1:].decode()
            if line.startswith(b"+"):
                listed.add(folder)
            else:
                listed.discard(folder)
                _reap(folder)
                _remove_folder(folder)
    for folder in listed:
        _reap(folder)
        _remove_folder(folder)
    os._exit(0)


@atexit.register
def close_all():
    """Close every server still open (also run at exit)."""
    for server in list(_LIVE.values()):
        server.close()


def _cluster_name(folder):
    # PostgreSQL shows it in every process title: "postgres: NAME: ..."
    return os.path.basename(folder).replace("-", "_")


# ---------------------------------------------------------------- servers

# Settings of every test server. Durability as in production (fsync,
# synchronous_commit, full_page_writes on); lean otherwise.
BASE_SETTINGS = {
    "listen_addresses": HOST,
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "wal_level": "replica",
    "max_wal_senders": "4",
    "max_replication_slots": "4",
    "hot_standby": "on",
    "wal_retrieve_retry_interval": "100ms",
    "max_connections": "40",
    "shared_buffers": "16MB",
    "autovacuum": "off",
    "recovery_init_sync_method": "syncfs",
    "jit": "off",
    "log_line_prefix": "%m [%p] %q%a ",
    "log_min_messages": "warning",
}


class PgServer:
    """A PostgreSQL server of its own, in a new folder under /tmp: a copy of
    the template cluster with the role and database `referrald`, configured
    (settings()); start() starts it. PASSWORD: the role's password
    (generated by default); None: trust on loopback, no password. SETTINGS:
    postgresql.conf entries over BASE_SETTINGS."""

    def __init__(self, name="primary", password=True, settings=None):
        self.bin = _require_programs()
        self.name = name
        self.password = secrets.token_hex(12) if password is True else password
        self.timings = {}       # step -> seconds
        self.port = free_ports(1)[0]
        self.dir = tempfile.mkdtemp(prefix="rdpg-", suffix="-" + name, dir="/tmp")
        _LIVE[self.dir] = self
        _guard("+" + self.dir)
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "server.log")
        self.cluster_name = _cluster_name(self.dir)
        self.extra = dict(settings or {})
        self._started_once = False
        self._provisioned = False
        self._closed = False
        self._popens = []
        self.standbys = []      # made by add_standby(); closed with this one
        uid, gid = _owner()
        os.chown(self.dir, uid, gid)
        os.chmod(self.dir, 0o700)
        try:
            self._make_data()
        except BaseException:
            self.close()
            raise

    # -- construction

    def _make_data(self):
        # A copy of the process's template cluster (initdb'd, role and
        # database made, shut down cleanly): cheaper than initdb and a first
        # start each time. The copy gets its own settings, hba and password.
        template = _template()
        t0 = time.monotonic()
        _run("cp", ["cp", "-a", template.data, self.data], 60)
        self._write_hba()
        self.write_settings()
        self.timings["copy of the template"] = time.monotonic() - t0

    def _initdb(self):
        t0 = time.monotonic()
        # --no-sync: initdb's own final fsync of the new files only; the
        # server runs with fsync=on. 1 MB WAL segments: less to zero-fill.
        self._tool("initdb", ["-D", self.data, "-U", "postgres", "-E", "UTF8", "--no-locale",
                              "-A", "trust", "--no-instructions", "--no-sync",
                              "--wal-segsize=1"], 60)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# pgharness\ninclude 'pgharness.conf'\n")
        self._write_hba()
        self.write_settings()
        self.timings["initdb"] = time.monotonic() - t0

    def _write_hba(self):
        auth = "trust" if self.password is None else "scram-sha-256"
        rules = [
            "local all all trust",
            "host all postgres %s/32 trust" % HOST,
            "host replication postgres %s/32 trust" % HOST,
            "host %s %s %s/32 %s" % (DB, ROLE, HOST, auth),
        ]
        self._write_file("pg_hba.conf", "\n".join(rules) + "\n")

    def _write_file(self, name, text):
        path = os.path.join(self.data, name)
        with open(path, "w") as f:
            f.write(text)
        uid, gid = _owner()
        os.chown(path, uid, gid)
        os.chmod(path, 0o600)

    def settings(self):
        """The settings this server is written with (name -> value, each
        written single-quoted)."""
        s = dict(BASE_SETTINGS)
        s.update({"port": str(self.port),
                  "unix_socket_directories": self.dir,
                  "cluster_name": self.cluster_name})
        s.update(self.extra)
        return s

    def write_settings(self, **changes):
        """Write pgharness.conf (included at the end of postgresql.conf) with
        CHANGES over the current settings; reload() makes a running server
        read it."""
        self.extra.update(changes)
        text = "".join("%s = '%s'\n" % (k, str(v).replace("'", "''"))
                       for k, v in self.settings().items())
        self._write_file("pgharness.conf", text)

    def _tool(self, prog, args, timeout):
        return _run(prog, [os.path.join(self.bin, prog)] + args, timeout, cwd=self.dir)

    # -- lifecycle

    def start(self, timeout=START_TIMEOUT):
        """Start the server and return once it accepts connections (a standby:
        read-only ones); the first start also gives the role `referrald` this
        server's password. A port taken meanwhile by someone else is replaced
        by another free port on the first start."""
        t0 = time.monotonic()
        self._remove_stale_lock_files()
        for attempt in range(5):
            try:
                self._tool("pg_ctl", ["start", "-w", "-t", str(int(timeout)), "-D", self.data,
                                      "-l", self.log_path], timeout + 5)
                break
            except PgError as e:
                if (self._started_once or attempt == 4
                        or "could not bind" not in self.log_text()):
                    raise PgError("pg_ctl start (%s)" % self.name, e.returncode,
                                  e.output + "\n--- server log ---\n" + self.log_tail())
                self._reap_now()
                self.port = free_ports(1)[0]
                self.write_settings()
        wait_until(self._accepts, timeout, what="%s to accept connections" % self.name)
        self.timings["start again" if self._started_once else "start"] = time.monotonic() - t0
        self._started_once = True
        if not self._provisioned:
            self._provision()
        return self

    def _remove_stale_lock_files(self):
        # A postmaster killed with SIGKILL leaves postmaster.pid and the
        # socket's .s.PGSQL.PORT.lock. Where PID 1 does not reap orphans
        # (some containers), the dead postmaster stays a zombie, which
        # PostgreSQL takes for a running server ("lock file ... already
        # exists"): lock files of a dead or zombie postmaster are removed
        # (its shared memory first).
        pm = _postmaster_pid(self.dir)
        if pm is None or _alive(pm) or self.pids():
            return
        _remove_shm(self.dir)
        locks = [os.path.join(self.dir, f) for f in os.listdir(self.dir)
                 if f.startswith(".s.PGSQL.") and f.endswith(".lock")]
        for path in locks + [os.path.join(self.data, "postmaster.pid")]:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def _accepts(self):
        try:
            return self.psql("select 1", dbname="postgres") == [("1",)]
        except PgError:
            return False

    def _provision(self):
        # the role and database came with the template: its own password
        if self.password is not None:
            self.psql("alter role %s password '%s'" % (ROLE, self.password), dbname="postgres")
        self._provisioned = True

    def reload(self):
        """Make the running server read its settings again (pg_ctl reload:
        SIGHUP; sessions pick them up at their next statement)."""
        self._tool("pg_ctl", ["reload", "-D", self.data], 30)

    def stop(self, mode="fast", timeout=STOP_TIMEOUT):
        """pg_ctl stop -m MODE (smart | fast: sessions terminated, a shutdown
        checkpoint | immediate: every process quits at once, crash recovery
        on the next start); return once the server is down."""
        t0 = time.monotonic()
        self._tool("pg_ctl", ["stop", "-w", "-t", str(int(timeout)), "-m", mode,
                              "-D", self.data], timeout + 5)
        self.timings["stop " + mode] = time.monotonic() - t0

    def kill9(self, everything=False, timeout=10.0):
        """SIGKILL the postmaster (EVERYTHING: all the server's processes at
        once, as if the machine died) and return once all its processes are
        gone (the others notice the postmaster's death and exit by
        themselves); then remove the shared memory segment it leaves. Its
        stale postmaster.pid stays behind; start() recovers."""
        pm = _postmaster_pid(self.dir)
        if pm is None or not _alive(pm):
            raise PgError("kill -9 of %s" % self.name, None, "the postmaster is not running")
        t0 = time.monotonic()
        os.kill(pm, signal.SIGKILL)
        if everything:
            for pid in _processes_of(self.dir):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        wait_until(lambda: not [p for p in _processes_of(self.dir) + [pm] if _alive(p)],
                   timeout, what="every process of %s to exit after kill -9" % self.name)
        _remove_shm(self.dir)
        self.timings["kill -9"] = time.monotonic() - t0

    def running(self):
        """True while the postmaster runs."""
        pm = _postmaster_pid(self.dir)
        return pm is not None and _alive(pm)

    def pids(self):
        """PIDs of every process of this server now."""
        return [p for p in _processes_of(self.dir) if _alive(p)]

    def close(self):
        """Close the standbys made by add_standby(), stop this server
        (immediate), kill what remains of it; its folder is then removed in
        the background (the watchdog), or here should the watchdog be gone.
        Idempotent; never raises."""
        if self._closed:
            return
        self._closed = True
        t0 = time.monotonic()
        for standby in self.standbys:
            standby.close()
        for p in self._popens:
            if p.poll() is None:
                p.kill()
            p.wait()
        try:
            if self.running():
                self._tool("pg_ctl", ["stop", "-w", "-t", "10", "-m", "immediate",
                                      "-D", self.data], 15)
        except Exception:
            pass
        self._reap_now()
        if not _guard("-" + self.dir):
            _remove_folder(self.dir)
        self.timings["close"] = time.monotonic() - t0
        _LIVE.pop(self.dir, None)

    def _reap_now(self):
        _reap(self.dir)

    def __repr__(self):
        return "<%s %s port %s in %s>" % (type(self).__name__, self.name, self.port, self.dir)

    def __enter__(self):
        if not self._started_once:
            try:
                self.start()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- talking to it

    def conninfo(self, user=ROLE, dbname=DB, password=False, **extra):
        """host=127.0.0.1 port=P dbname=DBNAME user=USER [password=...] EXTRA"""
        parts = {"host": HOST, "port": self.port, "dbname": dbname, "user": user}
        if password and self.password is not None:
            parts["password"] = self.password
        parts.update(extra)
        return _conninfo(parts)

    def _superuser(self, dbname):
        # the private unix socket in self.dir, trust
        return _conninfo({"host": self.dir, "port": self.port, "dbname": dbname,
                          "user": "postgres"})

    def _superuser_tcp(self):
        # a standby's replication connection: TCP on loopback, trust. No
        # application_name: the standby's walreceiver then reports its
        # cluster_name, which synchronous_standby_names lists.
        return _conninfo({"host": HOST, "port": self.port, "user": "postgres"})

    def psql(self, sql, dbname=DB, user="postgres", timeout=PSQL_TIMEOUT):
        """Run SQL on this server (as the superuser over the unix socket, or as
        USER over TCP with its password); the rows of the last statement."""
        if user == "postgres":
            return psql(self._superuser(dbname), sql, timeout=timeout)
        return psql(self.conninfo(user=user, dbname=dbname), sql, self.password, timeout)

    def in_recovery(self):
        """True while this server is a standby (in recovery)."""
        return self.scalar("select pg_is_in_recovery()") == "t"

    def scalar(self, sql, **kw):
        """The first column of the first row of SQL's result, or None."""
        rows = self.psql(sql, **kw)
        return rows[0][0] if rows else None

    def psql_popen(self, sql, dbname=DB):
        """psql_popen() as the superuser; the process is killed by close()."""
        p = psql_popen(self._superuser(dbname), sql)
        self._popens.append(p)
        return p

    def write_password_file(self, path, pgpass=False):
        """Write the role's password to PATH (0600): the password and a
        newline, or with PGPASS a line of libpq's password file format (for
        the conninfo's passfile=): 127.0.0.1:PORT:referrald:referrald:PASSWORD."""
        text = self.password + "\n"
        if pgpass:
            esc = self.password.replace("\\", "\\\\").replace(":", "\\:")
            text = "%s:%d:%s:%s:%s\n" % (HOST, self.port, DB, ROLE, esc)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=30):
        return "\n".join(self.log_text().splitlines()[-lines:])

    # -- replication

    def add_standby(self, name="standby", sync=True, timeout=SYNC_TIMEOUT):
        """A streaming standby of this (running) server, started; with SYNC,
        this server's synchronous standby (synchronous_standby_names names it
        alone, reloaded), returned once pg_stat_replication shows it `sync`."""
        standby = PgStandby(self, name)
        self.standbys.append(standby)
        try:
            standby.start()
            if sync:
                self.make_sync(standby, timeout)
        except BaseException:
            standby.close()
            raise
        return standby

    def make_sync(self, standby, timeout=SYNC_TIMEOUT):
        """Make STANDBY this server's only synchronous standby and wait until
        it is `sync` in pg_stat_replication."""
        t0 = time.monotonic()
        self.write_settings(synchronous_standby_names='"%s"' % standby.cluster_name,
                            synchronous_commit="on")
        self.reload()
        self.wait_sync(standby, timeout)
        self.timings["standby sync"] = time.monotonic() - t0

    def replication_state(self, standby):
        """(state, sync_state) of STANDBY in pg_stat_replication, or None."""
        rows = self.psql("select state, sync_state from pg_stat_replication "
                         "where application_name = '%s'" % standby.cluster_name)
        return rows[0] if rows else None

    def wait_sync(self, standby, timeout=SYNC_TIMEOUT):
        """Wait until STANDBY streams from this server as its sync standby."""
        wait_until(lambda: self.replication_state(standby) == ("streaming", "sync"),
                   timeout, what="%s to be the sync standby of %s" % (standby.name, self.name),
                   interval=0.05)

    def wait_replayed(self, standby, timeout=SYNC_TIMEOUT):
        """Wait until STANDBY has replayed everything this server wrote so far."""
        lsn = self.scalar("select pg_current_wal_lsn()")
        wait_until(lambda: standby.scalar(
            "select pg_last_wal_replay_lsn() >= '%s'::pg_lsn" % lsn) == "t",
            timeout, what="%s to replay up to %s" % (standby.name, lsn))


class _Template(PgServer):
    """The cluster every PgServer of this process is copied from: initdb,
    one start to create the role and database `referrald`, a fast
    (clean) stop. Closed at exit."""

    def _make_data(self):
        self._initdb()

    def _provision(self):
        t0 = time.monotonic()
        self.psql("create role %s login" % ROLE, dbname="postgres")
        self.psql("create database %s owner %s" % (DB, ROLE), dbname="postgres")
        self._provisioned = True
        self.timings["create role and database"] = time.monotonic() - t0


_TEMPLATE = None
_TEMPLATE_LOCK = threading.Lock()


def _template():
    """This process's template cluster, made on first use."""
    global _TEMPLATE
    with _TEMPLATE_LOCK:
        if _TEMPLATE is None or _TEMPLATE._closed:
            t = _Template("template", password=None)
            try:
                t.start()
                t.stop("fast")
            except BaseException:
                t.close()
                raise
            _TEMPLATE = t
        return _TEMPLATE


def template_timings():
    """The steps of making this process's template cluster, or {}."""
    return dict(_TEMPLATE.timings) if _TEMPLATE else {}


class PgStandby(PgServer):
    """A streaming standby of PRIMARY: `pg_basebackup -R` (with a replication
    slot, so the primary keeps the WAL it still needs) into a new folder;
    not started. Same role, password and settings as the primary, its own
    port, socket and cluster_name; no synchronous standby of its own (after
    promote() it commits alone)."""

    def __init__(self, primary, name="standby"):
        self.primary = primary
        super().__init__(name, password=primary.password, settings=primary.extra)
        self._provisioned = True

    def _make_data(self):
        t0 = time.monotonic()
        slot = self.cluster_name
        self._tool("pg_basebackup", [
            "-D", self.data, "-R", "-X", "stream", "-c", "fast", "-C", "-S", slot,
            "--no-sync", "-d", self.primary._superuser_tcp()], 120)
        self.extra.pop("synchronous_standby_names", None)
        self.write_settings(synchronous_standby_names="")
        self.timings["basebackup"] = time.monotonic() - t0

    def promote(self, timeout=START_TIMEOUT):
        """pg_ctl promote, then wait until it takes writes."""
        t0 = time.monotonic()
        self._tool("pg_ctl", ["promote", "-w", "-t", str(int(timeout)), "-D", self.data],
                   timeout + 5)

        def writable():
            try:
                return self.scalar("select pg_current_xact_id()") is not None
            except PgError:
                return False
        wait_until(writable, timeout, what="%s to take writes after promotion" % self.name)
        self.timings["promote"] = time.monotonic() - t0
