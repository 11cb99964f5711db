"""rdtest: black-box harness for referrald integration tests.

Everything here talks to the real daemon the way a partner system would:
ZeroMQ DEALER/REQ on the intake ROUTER, SUB on the events PUB, files on
disk. Nothing reaches into the daemon's internals. The contract is
shared/spec/protocol.md, daemon.md and routing.md.

The process itself (start, wait for a ping, stop, kill -9, its log) is
tools/rdproc.py, shared with tools/soak.py; the routing files are written by
rdrouting.py.

Environment (set by tests/CMakeLists.txt):
  REFERRALD      the daemon binary
  REFERRALCTL    the command-line client (not used here)
  RD_SOURCE_DIR  the source tree
  RD_TEST_STORE  the store every Daemon runs on unless a test says otherwise:
                 sqlite (the default: a file in the daemon's folder) or
                 postgresql (a schema of its own on this process's PostgreSQL
                 server, pgharness.py; the ctest integration.pg.* runs)
"""

import datetime
import itertools
import json
import os
import re
import subprocess
import sys
import time
import unittest

import zmq

SOURCE_DIR = os.environ.get(
    "RD_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
REFERRALD = os.environ.get("REFERRALD") or os.path.join(SOURCE_DIR, "build", "referrald")

# tools/rdproc.py of this tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import rdproc  # noqa: E402
from rdproc import START_TIMEOUT, STOP_TIMEOUT, DaemonError, zsock  # noqa: E402

# for the tests, which import rdtest first
clean_env = rdproc.clean_env
free_ports = rdproc.free_ports
terminate = rdproc.terminate
write_config = rdproc.write_config

EX_USAGE = 2
EX_CONFIG = 78

STORES = ("sqlite", "postgresql")
STORE = os.environ.get("RD_TEST_STORE") or "sqlite"
if STORE not in STORES:
    raise SystemExit("RD_TEST_STORE must be one of %s, not %r" % (", ".join(STORES), STORE))

CTX = zmq.Context.instance()  # the one rdproc.zsock uses


class Keys:
    """CURVE key pairs for a secured daemon: a server pair and one pair per
    client name. keys.yaml(roles) writes the daemon config's security
    section (the secret key file goes into DIR)."""

    def __init__(self, names):
        self.server_public, self.server_secret = zmq.curve_keypair()
        self.pairs = {n: zmq.curve_keypair() for n in names}

    def curve(self, name):
        pub, sec = self.pairs[name]
        return (self.server_public, pub, sec)

    def write_secret(self, folder, fname="server.key"):
        path = os.path.join(folder, fname)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.server_secret)
        return path

    def yaml(self, clients, secret_file="server.key"):
        """CLIENTS: list of (name, id, role)."""
        lines = ["security:", "  secret_key_file: %s" % secret_file, "  clients:"]
        for name, cid, role in clients:
            lines.append('    - {id: %s, role: %s, public_key: "%s"}'
                         % (cid, role, self.pairs[name][0].decode()))
        return "\n".join(lines) + "\n"


# Every live daemon, so that a failing test can print their logs.
_LIVE = []

# ------------------------------------------------------------ PostgreSQL

_PG = None
_pg_schemas = itertools.count(1)


def pg_server():
    """This process's PostgreSQL server (pgharness.PgServer), started on first
    use and closed at exit: one server for every test of the file."""
    global _PG
    if _PG is None:
        import pgharness  # it imports this module: only when needed
        _PG = pgharness.PgServer(name="rdtest").start()
    return _PG


def pg_store_yaml(folder):
    """The config keys of a daemon on a PostgreSQL store of its own: a new
    schema on pg_server() (a CREATE SCHEMA takes 15 ms, a CREATE DATABASE
    340 ms: each daemon is as independent either way), named by the
    conninfo's search_path; the password in FOLDER/pg.pass. Returns (the
    YAML, the conninfo, the schema)."""
    server = pg_server()
    schema = "rd_%d_%d" % (os.getpid(), next(_pg_schemas))
    server.psql("create schema %s authorization referrald" % schema)
    server.write_password_file(os.path.join(folder, "pg.pass"))
    conninfo = server.conninfo(options="-csearch_path=%s" % schema)
    text = ("store: postgresql\npostgresql:\n  conninfo: \"%s\"\n  password_file: pg.pass\n"
            % conninfo)
    return text, conninfo, schema


def sqlite_only(reason):
    """Decorator: a test (or class) about SQLite's own file, skipped when the
    tests run on PostgreSQL (RD_TEST_STORE), with REASON."""
    return unittest.skipIf(STORE != "sqlite", "SQLite only: " + reason)

# ---------------------------------------------------------------- helpers


def wait_until(pred, timeout=5.0, interval=0.02, what="condition"):
    """Call PRED until it returns a true value; return that value. Raise
    AssertionError after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?Z$")


def parse_time(s):
    """Parse an RFC 3339 UTC time with a `Z` (fractions optional) into a
    timezone-aware datetime. Raise ValueError for anything else."""
    if not isinstance(s, str):
        raise ValueError("not a string: %r" % (s,))
    m = _RFC3339.match(s)
    if not m:
        raise ValueError("not an RFC 3339 UTC time with Z: %r" % (s,))
    y, mo, d, h, mi, sec = (int(g) for g in m.groups()[:6])
    frac = m.group(7)
    us = int(round(float(frac) * 1e6)) if frac else 0
    if us >= 1000000:
        us = 999999
    return datetime.datetime(y, mo, d, h, mi, sec, us, tzinfo=datetime.timezone.utc)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


DAY = datetime.timedelta(days=1)

# ---------------------------------------------------------------- referrals

DROP = object()  # referral(key=DROP) leaves KEY out
_counter = itertools.count(1)
RUN_ID = "%d-%d" % (os.getpid(), int(time.time()) % 100000)


def unique_ref(prefix="IT"):
    return "%s-%s-%05d" % (prefix, RUN_ID, next(_counter))


def referral(**overrides):
    """A valid referral (the inner object of a submit), unique `ref` per
    call. Overrides replace keys; a value of DROP removes the key."""
    r = {
        "ref": unique_ref(),
        "partner": "ocmw-genk",
        "kind": "family_support",
        "postcode": "3600",
        "children": [{"age": 14}],
        "concerns": ["teen_conflict"],
        "language": "nl",
        "consent": True,
        "family": {
            "name": "Janssens",
            "phone": "+32 89 12 34 56",
            "email": "gezin.janssens@example.org",
            "address": "Stationsstraat 12, 3600 Genk",
        },
        "note": "Moeder vraagt hulp bij conflicten met haar zoon.",
    }
    for k, v in overrides.items():
        if v is DROP:
            r.pop(k, None)
        else:
            r[k] = v
    return r


def write_json(folder, obj, name=None):
    """Write OBJ as JSON (UTF-8) to FOLDER/NAME (default: its ref + .json,
    x.json without one); return the path."""
    path = os.path.join(folder, name or "%s.json" % obj.get("ref", "x"))
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    return path


def submit_req(ref_obj, corr=None):
    req = {"op": "submit", "referral": ref_obj}
    if corr is not None:
        req["corr"] = corr
    return req


# ---------------------------------------------------------------- the daemon


class Daemon(rdproc.Referrald):
    """One referrald (rdproc.Referrald) in its own temp dir, on two free
    loopback ports, with the harness's sockets; closed sockets at every
    stop, its log printed when a test fails.

    with Daemon(routing=ROUTING_BASIC) as d:
        rep = d.request({"op": "ping"})
    """

    def __init__(self, routing=None, extra_yaml="", database="referrald.db",
                 intake=None, events=None, start=True, env=None, curve=None, keys=None,
                 store=None):
        # CURVE: the harness's own client identity on a secured daemon.
        # STORE: "sqlite" (DATABASE is its file) or "postgresql" (a schema of
        # its own, pg_store_yaml); default RD_TEST_STORE.
        self.store = store or STORE
        pg = self.store == "postgresql"
        super().__init__(REFERRALD, routing=routing, extra_yaml=extra_yaml,
                         database=None if pg else database,
                         intake=intake, events=events, env=env, curve=curve, prefix="rdtest-")
        self.pg_conninfo = self.pg_schema = None
        if pg:
            text, self.pg_conninfo, self.pg_schema = pg_store_yaml(self.dir)
            with open(self.config_path, "a") as f:
                f.write(text)
        if keys is not None:
            keys.write_secret(self.dir)
        self._dealer = None
        self._subs = []
        if start:
            self.start()

    # -- lifecycle
    def start(self, timeout=START_TIMEOUT, **kw):
        """rdproc.Referrald.start (KW: wait, wrapper, preexec_fn)."""
        self._close_sockets()
        if self not in _LIVE:
            _LIVE.append(self)
        return super().start(timeout, **kw)

    def stop(self, timeout=STOP_TIMEOUT, check=True):
        """SIGTERM, wait for the exit; assert exit status 0 when CHECK."""
        self._close_sockets()
        return super().stop(timeout, check)

    def restart(self, timeout=START_TIMEOUT):
        self.stop()
        return self.start(timeout)

    def _after_exit(self):
        self._close_sockets()
        super()._after_exit()

    def _close_sockets(self):
        if self._dealer is not None:
            self._dealer.close(0)
            self._dealer = None
        for s in self._subs:
            s.close(0)
        self._subs = []

    def close(self):
        """Stop (kill if it will not stop) and remove the temp dir (kept with
        RD_KEEP_TMP)."""
        keep = bool(os.environ.get("RD_KEEP_TMP"))
        try:
            super().close(keep)
        finally:
            if self in _LIVE:
                _LIVE.remove(self)
            if keep:
                sys.stderr.write("rdtest: kept %s\n" % self.dir)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None and not isinstance(exc[1], DaemonError):
            dump_log(self)
        self.close()
        return False

    def db_arg(self):
        """The database as the tools take it (--db, --state): the SQLite file,
        or on PostgreSQL its conninfo with the password."""
        if self.store == "postgresql":
            return self.pg_conninfo + " password=" + pg_server().password
        return self.database_path

    # -- its PostgreSQL store
    def pg_psql(self, sql):
        """Run SQL in this daemon's schema on pg_server() (as the superuser);
        the rows of the last statement, as tuples of strings."""
        return pg_server().psql("set search_path = %s; %s" % (self.pg_schema, sql))

    def pg_end_lead_session(self):
        """End the database session that holds the lead (its advisory lock
        on rd_counter, lib/store_pg_lead.c), as a restarted PostgreSQL or
        an operator's pg_terminate_backend would. The rows of the query:
        [("t",)] when a session held it."""
        return self.pg_psql("select pg_terminate_backend(pid) from pg_locks"
                            " where locktype = 'advisory' and granted and classid = %d"
                            " and objid = 'rd_counter'::regclass::oid" % 0x72666c64)

    def pg_rows(self):
        """The text of every row of every table of this daemon's schema, one
        row a line: what a query can still find there."""
        tables = [t for (t,) in self.pg_psql(
            "select tablename from pg_tables where schemaname = current_schema() "
            "order by tablename")]
        return "\n".join("%s %s" % (t, row[0]) for t in tables
                         for row in self.pg_psql("select x::text from %s x" % t))

    # -- talking to it
    def dealer(self, curve=None, plain=False):
        """A new DEALER connected to the intake (caller closes it); as the
        harness's identity, or CURVE, or with PLAIN no security at all."""
        s = zsock(zmq.DEALER, None if plain else (curve or self.curve))
        s.connect(self.intake)
        return s

    def request(self, obj, timeout=5.0, sock=None):
        """Send OBJ (a dict, or str/bytes sent as is) as one frame over the
        kept DEALER (or SOCK) and return the decoded reply."""
        own = sock is None
        if own:
            if self._dealer is None:
                self._dealer = self.dealer()
            sock = self._dealer
        if isinstance(obj, (bytes, bytearray)):
            body = bytes(obj)
        elif isinstance(obj, str):
            body = obj.encode("utf-8")
        else:
            body = json.dumps(obj).encode("utf-8")
        sock.send(body)
        if not sock.poll(int(timeout * 1000)):
            if own:
                self._dealer.close(0)
                self._dealer = None
            raise AssertionError("no reply within %.1fs to %s" % (timeout, _short(body)))
        frames = sock.recv_multipart()
        if len(frames) != 1:
            raise AssertionError("reply to a DEALER has %d frames, want 1: %r"
                                 % (len(frames), frames))
        return json.loads(frames[0].decode("utf-8"))

    def raw(self, frames, timeout=5.0, extra_wait=0.0):
        """Send FRAMES (a list of bytes) as one multipart message on a fresh
        DEALER. Return the list of reply messages (each a list of frames)
        received within TIMEOUT for the first and EXTRA_WAIT for any more."""
        s = self.dealer()
        try:
            s.send_multipart([bytes(f) for f in frames])
            out = []
            if s.poll(int(timeout * 1000)):
                out.append(s.recv_multipart())
                while s.poll(int(extra_wait * 1000)):
                    out.append(s.recv_multipart())
            return out
        finally:
            s.close(0)

    def ok(self, obj, timeout=5.0, sock=None):
        """request() and assert the reply is ok."""
        rep = self.request(obj, timeout, sock=sock)
        if rep.get("ok") is not True:
            raise AssertionError("request %s failed: %s" % (_short(json.dumps(obj)), rep))
        return rep

    def submit(self, ref_obj, **kw):
        return self.ok(submit_req(ref_obj), **kw)

    def last_seq(self):
        return self.ok({"op": "ping"})["last_seq"]

    def all_events(self, since=0):
        """Every event after SINCE, through replay (pages of 1000)."""
        out = []
        while True:
            rep = self.ok({"op": "events", "since": since, "limit": 1000})
            out.extend(rep["events"])
            if not rep["events"] or rep["events"][-1]["seq"] >= rep["last"]:
                return out
            since = rep["events"][-1]["seq"]

    def subscribe(self, topics=("",), warmup=True, warmup_referral=None, timeout=5.0,
                  curve=None):
        """A SUB socket on the events PUB with TOPICS. With WARMUP, submit
        throw-away referrals (by default: crisis, which every test routing
        file forwards) until the subscription demonstrably works, then drain
        what arrived. Callers filter by seq > the last_seq they read after
        this returns."""
        sub = zsock(zmq.SUB, curve or self.curve)
        for t in topics:
            sub.setsockopt(zmq.SUBSCRIBE, t.encode() if isinstance(t, str) else t)
        sub.connect(self.events)
        self._subs.append(sub)
        if warmup:
            deadline = time.monotonic() + timeout
            while True:
                r = warmup_referral or referral(partner="it-warmup", urgency="crisis")
                self.submit(r)
                if sub.poll(200):
                    break
                if time.monotonic() >= deadline:
                    raise AssertionError("no event on the PUB socket within %.0fs" % timeout)
            while sub.poll(300):
                sub.recv_multipart()
        return sub


def recv_events(sub, n, after_seq=0, timeout=5.0):
    """Receive until N events with seq > AFTER_SEQ arrived (or TIMEOUT).
    Return a list of (frames, event dict) of those events."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0 or not sub.poll(int(left * 1000)):
            break
        frames = sub.recv_multipart()
        ev = json.loads(frames[-1].decode("utf-8"))
        if isinstance(ev, dict) and isinstance(ev.get("seq"), int) and ev["seq"] <= after_seq:
            continue
        out.append((frames, ev))
    return out


def _short(b, n=200):
    if isinstance(b, bytes):
        b = b.decode("utf-8", "replace")
    return b if len(b) <= n else b[:n] + "...(%d bytes)" % len(b)


def dump_log(d, tail=200):
    sys.stderr.write("\n===== referrald log (%s) =====\n%s\n===== end of log =====\n"
                     % (d.dir, d.log_tail(tail)))


def run_daemon(args, timeout=10.0, cwd=None, env=None):
    """Run referrald with ARGS to completion; return CompletedProcess."""
    return subprocess.run([REFERRALD] + list(args), capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=rdproc.clean_env(env),
                          stdin=subprocess.DEVNULL)


# ---------------------------------------------------------------- test base


def _cleaned_daemon(add_cleanup, kw):
    """Daemon(**KW), closed through ADD_CLEANUP (registered before it starts,
    so that a failed start is cleaned up too)."""
    start = kw.pop("start", True)
    d = Daemon(start=False, **kw)
    add_cleanup(d.close)
    if start:
        d.start()
    return d


class TestCase(unittest.TestCase):
    """unittest.TestCase that prints every live daemon's log when a test
    fails, plus a few assertions on replies."""

    maxDiff = 4000

    def setUp(self):
        super().setUp()
        self.addCleanup(self._dump_on_failure)

    def _dump_on_failure(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and not outcome.success:
            for d in list(_LIVE):
                dump_log(d)

    def daemon(self, **kw):
        """A Daemon closed when the test ends."""
        return _cleaned_daemon(self.addCleanup, kw)

    def assertOk(self, rep, msg=None):
        self.assertIsInstance(rep, dict)
        self.assertIs(rep.get("ok"), True, msg or "reply not ok: %r" % (rep,))

    def assertError(self, rep, code, field=None, msg=None):
        """REP is a failure reply with CODE (and FIELD, when given; field=""
        is not checked). Every error has a non-empty message."""
        self.assertIsInstance(rep, dict, msg)
        self.assertIs(rep.get("ok"), False, msg or "want error %s, got %r" % (code, rep))
        err = rep.get("error")
        self.assertIsInstance(err, dict, "error object missing: %r" % (rep,))
        self.assertEqual(err.get("code"), code, msg or "wrong code in %r" % (rep,))
        self.assertIsInstance(err.get("message"), str, "message missing: %r" % (rep,))
        self.assertGreater(len(err["message"].strip()), 0, "empty message: %r" % (rep,))
        if field is not None:
            self.assertEqual(err.get("field"), field, msg or "wrong field in %r" % (rep,))
        return err

    def assertExit(self, p, code):
        self.assertEqual(p.returncode, code, "exit %d, want %d\nstdout: %s\nstderr: %s"
                         % (p.returncode, code, p.stdout, p.stderr))

    def assertTime(self, s, msg=None):
        try:
            return parse_time(s)
        except ValueError as e:
            self.fail("%s%s" % (msg + ": " if msg else "", e))

    @classmethod
    def class_daemon(cls, **kw):
        """A Daemon for the whole class; call from setUpClass."""
        return _cleaned_daemon(cls.addClassCleanup, kw)


class SecuredCase(TestCase):
    """One secured daemon for the class: CURVE, a key pair for each client
    of CLIENTS ((name, id, role), listed in the config) and for "stranger"
    (not listed); the harness speaks as "coord". as_() speaks as one of
    them, each on its own kept connection."""

    CLIENTS = ()
    ROUTING = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.keys = Keys([c[0] for c in cls.CLIENTS] + ["stranger"])
        cls.d = cls.class_daemon(routing=cls.ROUTING, keys=cls.keys,
                                 curve=cls.keys.curve("coord"),
                                 extra_yaml=cls.keys.yaml(cls.CLIENTS))
        cls.socks = {}

    @classmethod
    def tearDownClass(cls):
        for s in cls.socks.values():
            s.close(0)
        super().tearDownClass()

    def as_(self, name, req, timeout=5.0):
        if name not in self.socks:
            self.socks[name] = self.d.dealer(curve=self.keys.curve(name))
        return self.d.request(req, timeout=timeout, sock=self.socks[name])
