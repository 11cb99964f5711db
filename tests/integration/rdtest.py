"""rdtest: black-box harness for referrald integration tests.

Everything here talks to the real daemon the way a partner system would:
ZeroMQ DEALER/REQ on the intake ROUTER, SUB on the events PUB, files on
disk. Nothing reaches into the daemon's internals. The contract is
shared/spec/protocol.md, daemon.md and routing.md.

Environment (set by tests/CMakeLists.txt):
  REFERRALD      the daemon binary
  REFERRALCTL    the command-line client (not used here)
  RD_SOURCE_DIR  the source tree
"""

import datetime
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import zmq

SOURCE_DIR = os.environ.get(
    "RD_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
REFERRALD = os.environ.get("REFERRALD") or os.path.join(SOURCE_DIR, "build", "referrald")

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

EX_USAGE = 2
EX_CONFIG = 78

CTX = zmq.Context.instance()


def zsock(kind, curve=None):
    """A ZeroMQ socket with linger 0 that can also reach tcp://[::1].
    CURVE: (server_public, client_public, client_secret) makes it a CURVE
    client."""
    s = CTX.socket(kind)
    s.linger = 0
    s.setsockopt(zmq.IPV6, 1)
    if curve:
        server_pub, pub, sec = curve
        s.curve_serverkey = server_pub
        s.curve_publickey = pub
        s.curve_secretkey = sec
    return s


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


def free_ports(n=2):
    """N distinct free TCP ports on 127.0.0.1."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


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


def submit_req(ref_obj, corr=None):
    req = {"op": "submit", "referral": ref_obj}
    if corr is not None:
        req["corr"] = corr
    return req


# A small routing file most tests use (routing.md format), so they do not
# depend on the example file. Capacities are deliberately small.
ROUTING_BASIC = """\
version: 1
defaults:
  window: 30d
  accept_within: 2d
  at_risk: 7d
  trajectory: 120d
teams:
  - id: genk
    postcodes: ["3600", "3660-3668"]
    connectors:
      - {id: kelly,  capacity: 2, skills: [family_support], languages: [nl, en]}
      - {id: sophie, capacity: 2, skills: [family_support], languages: [nl, fr]}
  - id: psy
    connectors:
      - {id: psy-1, capacity: 1, skills: [first_line_psychology]}
forward_targets:
  - {id: cgg-limburg, name: "CGG Limburg"}
  - {id: caw-limburg, name: "CAW Limburg"}
rules:
  - name: crisis
    when: {urgency: crisis}
    forward: {to: cgg-limburg, reason: "acute crisis: needs specialised care at once"}
  - name: psychology
    when: {kind: first_line_psychology}
    assign: {teams: [psy], window: 10d}
    otherwise: {forward: {to: cgg-limburg, reason: "no psychologist can start within the window"}}
  - name: family-genk
    when: {kind: family_support, postcode: ["3600", "3660-3668"]}
    assign: {teams: [genk], by_postcode: true}
    otherwise: waitlist
  - name: everything-else
    forward: {to: caw-limburg, reason: "outside the target group"}
"""

# Same shape, but with room for many referrals (durability, events, load).
ROUTING_ROOMY = ROUTING_BASIC.replace("capacity: 2,", "capacity: 100000,").replace(
    "capacity: 1,", "capacity: 100000,")

# ---------------------------------------------------------------- the daemon


class DaemonError(AssertionError):
    pass


class Daemon:
    """One referrald in its own temp dir, on two free loopback ports.

    with Daemon(routing=ROUTING_BASIC) as d:
        rep = d.request({"op": "ping"})
    """

    def __init__(self, routing=None, extra_yaml="", database="referrald.db",
                 intake=None, events=None, start=True, env=None, curve=None, keys=None):
        self.dir = tempfile.mkdtemp(prefix="rdtest-")
        self.curve = curve  # the harness's own client identity on a secured daemon
        if keys is not None:
            keys.write_secret(self.dir)
        self.rundir = os.path.join(self.dir, "cwd")  # the daemon's cwd, not the config dir
        os.mkdir(self.rundir)
        ports = free_ports(2)
        self.intake = intake or "tcp://127.0.0.1:%d" % ports[0]
        self.events = events or "tcp://127.0.0.1:%d" % ports[1]
        self.database_rel = database
        self.config_path = os.path.join(self.dir, "referrald.yaml")
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.routing_path = None
        if routing is not None:
            self.routing_path = os.path.join(self.dir, "routing.yaml")
            with open(self.routing_path, "w") as f:
                f.write(routing)
        lines = [
            "intake: %s" % self.intake,
            "events: %s" % self.events,
        ]
        if database is not None:  # None: leave the key out (daemon default)
            lines.append("database: %s" % database)
        if self.routing_path:
            lines.append("routing: routing.yaml")
        text = "\n".join(lines) + "\n"
        if extra_yaml:
            text += extra_yaml if extra_yaml.endswith("\n") else extra_yaml + "\n"
        with open(self.config_path, "w") as f:
            f.write(text)
        self.env = dict(os.environ)
        # No systemd around us: make sure the daemon does not think so.
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS",
                  "STATE_DIRECTORY", "CREDENTIALS_DIRECTORY"):
            self.env.pop(k, None)
        if env:
            self.env.update(env)
        self.proc = None
        self.returncode = None
        self._dealer = None
        self._subs = []
        self._logf = None
        self.starts = 0
        if start:
            self.start()

    # -- paths
    @property
    def database_path(self):
        return os.path.join(self.dir, self.database_rel or "referrald.db")

    # -- lifecycle
    def start(self, timeout=START_TIMEOUT):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._close_sockets()
        self._logf = open(self.log_path, "ab")
        self._logf.write(("\n----- start #%d -----\n" % (self.starts + 1)).encode())
        self._logf.flush()
        self.proc = subprocess.Popen(
            [REFERRALD, "-c", self.config_path],
            stdin=subprocess.DEVNULL, stdout=self._logf, stderr=subprocess.STDOUT,
            cwd=self.rundir, env=self.env)
        self.starts += 1
        self.returncode = None
        if self not in _LIVE:
            _LIVE.append(self)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        s = zsock(zmq.DEALER, self.curve)
        s.connect(self.intake)
        try:
            last_send = 0.0
            while True:
                rc = self.proc.poll()
                if rc is not None:
                    self.returncode = rc
                    raise DaemonError("referrald exited with %d before answering ping\n%s"
                                      % (rc, self.log()))
                now = time.monotonic()
                if now >= deadline:
                    raise DaemonError("referrald did not answer ping within %.0fs\n%s"
                                      % (timeout, self.log()))
                if now - last_send > 0.25:
                    try:
                        s.send(b'{"op":"ping"}', zmq.NOBLOCK)
                        last_send = now
                    except zmq.Again:
                        pass  # not connected yet
                if s.poll(50):
                    rep = json.loads(s.recv())
                    if rep.get("ok") is True:
                        return
        finally:
            s.close(0)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise DaemonError("referrald did not exit within %.0fs\n%s" % (timeout, self.log()))
        self.returncode = rc
        self._after_exit()
        return rc

    def stop(self, timeout=STOP_TIMEOUT, check=True):
        """SIGTERM, wait for the exit; assert exit status 0 when CHECK."""
        if not self.running():
            self._after_exit()
            return self.returncode
        self._close_sockets()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.wait_exit(timeout)
        if check and rc != 0:
            raise DaemonError("referrald exited with %r after SIGTERM (want 0)\n%s"
                              % (rc, self.log()))
        return rc

    def kill9(self):
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.returncode = self.proc.returncode if self.proc else None
        self._after_exit()

    def restart(self, timeout=START_TIMEOUT):
        self.stop()
        return self.start(timeout)

    def _after_exit(self):
        self._close_sockets()
        if self._logf:
            self._logf.close()
            self._logf = None

    def _close_sockets(self):
        if self._dealer is not None:
            self._dealer.close(0)
            self._dealer = None
        for s in self._subs:
            s.close(0)
        self._subs = []

    def close(self):
        """Stop (kill if it will not stop) and remove the temp dir."""
        try:
            if self.running():
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            self._after_exit()
            if self in _LIVE:
                _LIVE.remove(self)
            if os.environ.get("RD_KEEP_TMP"):
                sys.stderr.write("rdtest: kept %s\n" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None and not isinstance(exc[1], DaemonError):
            dump_log(self)
        self.close()
        return False

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

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


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
    text = d.log()
    lines = text.splitlines()
    if len(lines) > tail:
        lines = ["... (%d lines before)" % (len(lines) - tail)] + lines[-tail:]
    sys.stderr.write("\n===== referrald log (%s) =====\n%s\n===== end of log =====\n"
                     % (d.dir, "\n".join(lines)))


def run_daemon(args, timeout=10.0, cwd=None, env=None):
    """Run referrald with ARGS to completion; return CompletedProcess."""
    e = dict(os.environ)
    for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "STATE_DIRECTORY", "CREDENTIALS_DIRECTORY"):
        e.pop(k, None)
    if env:
        e.update(env)
    return subprocess.run([REFERRALD] + list(args), capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=e, stdin=subprocess.DEVNULL)


# ---------------------------------------------------------------- test base


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
        start = kw.pop("start", True)
        d = Daemon(start=False, **kw)
        self.addCleanup(d.close)
        if start:
            d.start()
        return d

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

    def assertTime(self, s, msg=None):
        try:
            return parse_time(s)
        except ValueError as e:
            self.fail("%s%s" % (msg + ": " if msg else "", e))

    @classmethod
    def class_daemon(cls, **kw):
        """A Daemon for the whole class; call from setUpClass."""
        start = kw.pop("start", True)
        d = Daemon(start=False, **kw)
        cls.addClassCleanup(d.close)
        if start:
            d.start()
        return d
