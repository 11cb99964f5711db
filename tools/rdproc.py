"""rdproc: one referrald process, driven from Python.

Shared by the integration tests (tests/integration/rdtest.py builds its
Daemon on Referrald) and tools/soak.py: write a config into a fresh temp
folder, start the daemon there, wait until it answers a `ping` (with a
deadline), stop it with SIGTERM and wait, or kill -9 it, and read what it
wrote to stdout and stderr. Only Debian's python3-zmq is needed.

It lives next to soak.py, which finds it because Python puts the script's
own folder first on sys.path; an installed soak.py needs this file in the
same folder. The tests put this folder on sys.path (rdtest.py).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import zmq

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

# What systemd hands a service: a daemon started here must not think it
# runs under systemd unless the caller says so (ENV of Referrald).
SYSTEMD_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS",
               "STATE_DIRECTORY", "CREDENTIALS_DIRECTORY")

# Where a daemon started here logs: its standard error (its log()), also on
# a host where a journal is reachable (docs/configuration.md,
# "Environment"). A test of the journal itself passes
# {"REFERRALD_LOG_TARGET": None} as ENV: the daemon then decides as under
# systemd.
LOG_ENV = {"REFERRALD_LOG_TARGET": "console"}


class DaemonError(AssertionError):
    """referrald did not start, answer or stop as it should; the message
    carries its log. An AssertionError, so that a test counts it as a
    failure."""


def clean_env(extra=None):
    """A copy of os.environ without SYSTEMD_ENV, with LOG_ENV and then EXTRA
    (a dict) over it; a variable that EXTRA maps to None is left out."""
    env = {k: v for k, v in os.environ.items() if k not in SYSTEMD_ENV}
    env.update(LOG_ENV)
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


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


def zsock(kind, curve=None):
    """A ZeroMQ socket of the process-wide context, with linger 0, that can
    also reach tcp://[::1]. CURVE: (server_public, client_public,
    client_secret) makes it a CURVE client. The caller closes it."""
    s = zmq.Context.instance().socket(kind)
    s.linger = 0
    s.setsockopt(zmq.IPV6, 1)
    if curve:
        s.curve_serverkey, s.curve_publickey, s.curve_secretkey = curve
    return s


def write_config(folder, intake, events, database="referrald.db", routing=None, extra="",
                 name="referrald.yaml"):
    """Write the daemon config FOLDER/NAME: intake, events, database (left
    out when None: the daemon's default), `routing: routing.yaml` when
    ROUTING (its text, str or bytes) is given, which goes to
    FOLDER/routing.yaml, then EXTRA (config text). Return the config's path."""
    lines = ["intake: %s" % intake, "events: %s" % events]
    if database is not None:
        lines.append("database: %s" % database)
    if routing is not None:
        with open(os.path.join(folder, "routing.yaml"),
                  "wb" if isinstance(routing, bytes) else "w") as f:
            f.write(routing)
        lines.append("routing: routing.yaml")
    text = "\n".join(lines) + "\n"
    if extra:
        text += extra if extra.endswith("\n") else extra + "\n"
    path = os.path.join(folder, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def terminate(proc, timeout=STOP_TIMEOUT):
    """SIGTERM to PROC (a Popen) if it still runs, and wait up to TIMEOUT
    seconds. Return its exit status, or None when it had to be killed
    (SIGKILL) after TIMEOUT."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
    return proc.returncode


class Referrald:
    """One referrald in its own temp folder (self.dir, named PREFIX...), on
    two free loopback ports unless INTAKE and EVENTS are given.

    self.dir holds referrald.yaml (write_config: DATABASE, ROUTING,
    EXTRA_YAML), the database and daemon.log (stdout and stderr, appended
    start after start: every line the daemon logs, see LOG_ENV). The
    daemon runs in self.dir/cwd, so that paths in the config are seen to be
    taken from the config's folder. ENV goes over clean_env(); CURVE is the
    identity its ping uses on a secured daemon.
    Nothing runs until start(); close() stops it and removes the folder."""

    def __init__(self, binary, routing=None, extra_yaml="", database="referrald.db",
                 intake=None, events=None, env=None, curve=None, prefix="referrald-"):
        self.binary = binary
        self.curve = curve
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.rundir = os.path.join(self.dir, "cwd")
        os.mkdir(self.rundir)
        ports = free_ports(2)
        self.intake = intake or "tcp://127.0.0.1:%d" % ports[0]
        self.events = events or "tcp://127.0.0.1:%d" % ports[1]
        self.database_rel = database
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.routing_path = os.path.join(self.dir, "routing.yaml") if routing is not None else None
        self.config_path = write_config(self.dir, self.intake, self.events, database, routing,
                                        extra_yaml)
        self.env = clean_env(env)
        self.proc = None
        self.returncode = None
        self.starts = 0
        self._logf = None

    @property
    def database_path(self):
        return os.path.join(self.dir, self.database_rel or "referrald.db")

    def start(self, timeout=START_TIMEOUT, wait=True, wrapper=(), preexec_fn=None):
        """Start `BINARY -c CONFIG` (behind the command prefix WRAPPER, with
        PREEXEC_FN in the child); with WAIT, wait_ready(TIMEOUT). Return self."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._logf = open(self.log_path, "ab")
        self._logf.write(("\n----- start #%d -----\n" % (self.starts + 1)).encode())
        self._logf.flush()
        self.proc = subprocess.Popen(
            list(wrapper) + [self.binary, "-c", self.config_path],
            stdin=subprocess.DEVNULL, stdout=self._logf, stderr=subprocess.STDOUT,
            cwd=self.rundir, env=self.env, preexec_fn=preexec_fn)
        self.starts += 1
        self.returncode = None
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        """Ping the intake until a reply says ok. Raise DaemonError when the
        daemon exits first or TIMEOUT seconds pass. A ping unanswered for a
        quarter of a second is sent again; before the socket closes, the
        replies to those repeats are awaited too (for a second at most), so
        that a slow start does not leave the daemon replies it cannot
        deliver, which its log would report."""
        deadline = time.monotonic() + timeout
        s = zsock(zmq.DEALER, self.curve)
        s.connect(self.intake)
        try:
            last_send, sent, answered, ready = 0.0, 0, 0, False
            while not ready or answered < sent:
                rc = self.proc.poll()
                if rc is not None:
                    self.returncode = rc
                    raise DaemonError("referrald exited with %d before answering ping\n%s"
                                      % (rc, self.log()))
                now = time.monotonic()
                if now >= deadline:
                    if ready:
                        return  # a repeat went to a daemon that is gone
                    raise DaemonError("referrald did not answer ping within %.0fs\n%s"
                                      % (timeout, self.log()))
                if not ready and now - last_send > 0.25:
                    try:
                        s.send(b'{"op":"ping"}', zmq.NOBLOCK)
                        last_send, sent = now, sent + 1
                    except zmq.Again:
                        pass  # not connected yet
                if s.poll(50):
                    answered += 1
                    if not ready and json.loads(s.recv()).get("ok") is True:
                        ready, deadline = True, min(deadline, time.monotonic() + 1.0)
                    elif ready:
                        s.recv()
        finally:
            s.close(0)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Wait for the exit; return its status. After TIMEOUT seconds kill
        it and raise DaemonError."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise DaemonError("referrald did not exit within %.0fs\n%s" % (timeout, self.log()))
        self.returncode = rc
        self._after_exit()
        return rc

    def stop(self, timeout=STOP_TIMEOUT, check=False):
        """SIGTERM and wait_exit(TIMEOUT); return the exit status. With
        CHECK, raise DaemonError unless that status is 0. Not running: its
        last exit status, unchecked."""
        if not self.running():
            self._after_exit()
            return self.returncode
        self.proc.send_signal(signal.SIGTERM)
        rc = self.wait_exit(timeout)
        if check and rc != 0:
            raise DaemonError("referrald exited with %r after SIGTERM (want 0)\n%s"
                              % (rc, self.log()))
        return rc

    def kill9(self):
        """SIGKILL and wait for it."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.returncode = self.proc.returncode if self.proc else None
        self._after_exit()

    def close(self, keep=False):
        """Stop it if it runs (terminate()) and remove self.dir unless KEEP."""
        try:
            if self.running():
                self.returncode = terminate(self.proc)
        finally:
            self._after_exit()
            if not keep:
                shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        """Everything the daemon wrote to stdout and stderr, every start."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        """The last N lines of log(), after a line that counts those left out."""
        lines = self.log().splitlines()
        if len(lines) > n:
            lines = ["... (%d lines before)" % (len(lines) - n)] + lines[-n:]
        return "\n".join(lines)

    def _after_exit(self):
        """Called once it has exited (and by close()); subclasses close
        their sockets here too."""
        if self._logf:
            self._logf.close()
            self._logf = None
