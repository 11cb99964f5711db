"""referrald under a service manager: the sd_notify protocol.

daemon.md "Signals and lifecycle": with NOTIFY_SOCKET set, READY=1 only once
both sockets are bound and the database is open; STATUS= lines; RELOADING=1
then READY=1 around a reload (also a refused one); STOPPING=1 at shutdown;
WATCHDOG=1 at half of WATCHDOG_USEC, from the serving loop.

The test plays systemd: it binds its own AF_UNIX datagram socket, gives its
path as NOTIFY_SOCKET, and starts referrald through
`sh -c 'export WATCHDOG_PID=$$; exec referrald ...'` so that WATCHDOG_PID is
the daemon's own pid, as systemd sets it.
"""

import os
import signal
import socket
import threading
import time

import rdtest
from rdrouting import BROKEN, ROUTING_ROOMY
from rdtest import referral

WATCHDOG_USEC = 2000000          # 2 s: pings expected every 1 s
PING = WATCHDOG_USEC / 2e6       # seconds
SAMPLE = 5.0                     # how long the watchdog rate is measured


class Notifications:
    """A NOTIFY_SOCKET: every datagram with its arrival time (monotonic)."""

    def __init__(self, folder):
        self.path = os.path.join(folder, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.msgs = []  # (t, [lines])
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.msgs.append((time.monotonic(), data.decode("utf-8", "replace")
                                  .strip("\n").split("\n")))

    def lines(self):
        """Every line received so far, in order, with its arrival time."""
        with self.lock:
            return [(t, l) for t, ls in self.msgs for l in ls]

    def index(self, line, start=0):
        """The position of the first LINE at or after START in lines(), or -1."""
        for i, (_, l) in enumerate(self.lines()[start:], start):
            if l == line:
                return i
        return -1

    def wait_for(self, line, start=0, timeout=5.0):
        return rdtest.wait_until(lambda: self.index(line, start) + 1, timeout,
                                 what="%s after notification #%d" % (line, start)) - 1

    def watchdog_times(self, since=0.0, until=None):
        return [t for t, l in self.lines()
                if l == "WATCHDOG=1" and t >= since and (until is None or t <= until)]

    def close(self):
        self.done = True
        self.thread.join(2)
        self.sock.close()


class NotifyDaemon(rdtest.Daemon):
    """A Daemon started as systemd would start it: NOTIFY_SOCKET,
    WATCHDOG_USEC and WATCHDOG_PID=its own pid, and no
    REFERRALD_LOG_TARGET (it logs to the journal where one is reachable)."""

    def __init__(self, notify, watchdog_pid="$$", **kw):
        self.wrapper = ["/bin/sh", "-c",
                        'export WATCHDOG_PID=%s; exec "$0" "$@"' % watchdog_pid]
        env = dict(kw.pop("env", None) or {})
        env.update({"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": str(WATCHDOG_USEC),
                    "REFERRALD_LOG_TARGET": None})
        super().__init__(env=env, start=False, **kw)

    def start(self, timeout=rdtest.START_TIMEOUT, wait=True):
        # the wrapper in front of the binary; WAIT=False: do not ping it first.
        return super().start(timeout, wait=wait, wrapper=self.wrapper)


class SystemdNotifyTest(rdtest.TestCase):

    def notify_daemon(self, **kw):
        folder = self.tmpdir()
        n = Notifications(folder)
        self.addCleanup(n.close)
        d = NotifyDaemon(n, routing=kw.pop("routing", ROUTING_ROOMY), **kw)
        self.addCleanup(d.close)
        return n, d

    def tmpdir(self):
        import shutil
        import tempfile
        # short: AF_UNIX paths are limited to 107 bytes
        d = tempfile.mkdtemp(prefix="rdsd-", dir="/tmp")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def test_lifecycle_order(self):
        """READY=1 (bound and open) ... RELOADING=1, READY=1 ... STOPPING=1."""
        n, d = self.notify_daemon()
        d.start(wait=False)
        ready = n.wait_for("READY=1", timeout=rdtest.START_TIMEOUT)
        # At READY=1 both sockets are bound and the database is open.
        for ep in (d.intake, d.events):
            host, port = ep[len("tcp://"):].rsplit(":", 1)
            socket.create_connection((host, int(port)), timeout=1.0).close()
        self.assertTrue(os.path.exists(d.database_path), "no database at READY=1")
        self.assertEqual(n.index("STOPPING=1"), -1)
        self.assertEqual(n.index("RELOADING=1"), -1, "RELOADING=1 before any SIGHUP")
        self.assertOk(d.request({"op": "ping"}, timeout=2.0))
        self.assertOk(d.submit(referral()))

        # A good reload: RELOADING=1 then READY=1.
        d.signal(signal.SIGHUP)
        rel = n.wait_for("RELOADING=1", ready + 1)
        again = n.wait_for("READY=1", rel + 1)
        self.assertOk(d.request({"op": "ping"}))

        # A refused reload: the same pair, and the daemon serves on.
        with open(d.routing_path, "w") as f:
            f.write(BROKEN)
        d.signal(signal.SIGHUP)
        rel2 = n.wait_for("RELOADING=1", again + 1)
        again2 = n.wait_for("READY=1", rel2 + 1)
        self.assertTrue(any(e["type"] == "config.rejected" for e in d.all_events()))
        self.assertOk(d.request({"op": "ping"}))

        # Stop: STOPPING=1, exit 0, nothing after it but STATUS lines.
        d.stop()
        stop = n.wait_for("STOPPING=1", again2 + 1, timeout=1.0)
        after = [l for _, l in n.lines()[stop + 1:]]
        self.assertFalse([l for l in after if l in ("READY=1", "RELOADING=1")], after)

        lines = [l for _, l in n.lines()]
        self.assertEqual(lines.count("READY=1"), 3, lines)
        self.assertEqual(lines.count("RELOADING=1"), 2, lines)
        self.assertEqual(lines.count("STOPPING=1"), 1, lines)
        statuses = [l for l in lines if l.startswith("STATUS=")]
        self.assertTrue(statuses, "no STATUS= line: %r" % lines)
        for s in statuses:
            self.assertGreater(len(s), len("STATUS="), "empty STATUS=")
        # A STATUS= line says what it is doing at each step.
        for i in (ready, rel, rel2, stop):
            t, _ = n.lines()[i]
            same = [l for tt, l in n.lines() if tt == t and l.startswith("STATUS=")]
            self.assertTrue(same, "no STATUS= with %s" % n.lines()[i][1])

    def test_watchdog_rate(self):
        """WATCHDOG=1 every WATCHDOG_USEC/2 (1 s here), also under load."""
        n, d = self.notify_daemon()
        d.start()
        n.wait_for("READY=1")
        t0 = time.monotonic()
        time.sleep(SAMPLE)
        t1 = time.monotonic()
        pings = n.watchdog_times(t0, t1)
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        mean = (pings[-1] - pings[0]) / (len(pings) - 1) if len(pings) > 1 else float("inf")
        print("watchdog: %d pings in %.1f s while idle, mean interval %.3f s, "
              "gaps %.3f..%.3f s (WATCHDOG_USEC %d)"
              % (len(pings), t1 - t0, mean, min(gaps or [0]), max(gaps or [0]),
                 WATCHDOG_USEC))
        expected = SAMPLE / PING
        self.assertGreaterEqual(len(pings), expected - 1, pings)
        self.assertLessEqual(len(pings), expected + 2, "pinging too often: %r" % gaps)
        self.assertLess(abs(mean - PING), 0.25 * PING, "mean interval %.3f s" % mean)
        self.assertLess(max(gaps), 1.6 * PING, "a gap of %.3f s" % max(gaps))

        # A stream of requests must not delay the pings past the deadline.
        t0 = time.monotonic()
        sock = d.dealer()
        self.addCleanup(sock.close, 0)
        n_sent = 0
        while time.monotonic() - t0 < 3.0:
            rep = d.request(rdtest.submit_req(referral(partner="load")), sock=sock)
            self.assertOk(rep)
            n_sent += 1
        t1 = time.monotonic()
        pings = n.watchdog_times(t0, t1)
        gaps = [b - a for a, b in zip([t0] + pings, pings + [t1])]
        print("watchdog: %d pings in %.1f s while serving %d submits, largest gap %.3f s"
              % (len(pings), t1 - t0, n_sent, max(gaps)))
        self.assertLess(max(gaps), 1.6 * PING, "a gap of %.3f s under load" % max(gaps))

    def test_stopped_loop_stops_pinging(self):
        """The pings come from the serving loop: a stopped process sends
        none (SIGSTOP stands in for a stuck loop), and they resume after."""
        n, d = self.notify_daemon()
        d.start()
        n.wait_for("READY=1")
        time.sleep(1.5 * PING)
        d.signal(signal.SIGSTOP)
        try:
            time.sleep(0.1)
            t0 = time.monotonic()
            time.sleep(2.5 * PING)
            self.assertEqual(n.watchdog_times(t0), [])
        finally:
            d.signal(signal.SIGCONT)
        t1 = time.monotonic()
        rdtest.wait_until(lambda: n.watchdog_times(t1), 2 * PING, what="WATCHDOG=1 again")

    def test_watchdog_for_another_pid(self):
        """WATCHDOG_PID names another process: no WATCHDOG=1, READY=1 still."""
        n, d = self.notify_daemon()
        d.wrapper = ["/bin/sh", "-c", 'export WATCHDOG_PID=1; exec "$0" "$@"']
        d.start()
        n.wait_for("READY=1")
        time.sleep(2.5 * PING)
        self.assertEqual(n.watchdog_times(), [])
        d.stop()
        n.wait_for("STOPPING=1", timeout=1.0)

    def test_without_watchdog(self):
        """No WATCHDOG_USEC: READY=1, no WATCHDOG=1."""
        n, d = self.notify_daemon()
        d.env.pop("WATCHDOG_USEC")
        d.start()
        n.wait_for("READY=1")
        time.sleep(2.5 * PING)
        self.assertEqual(n.watchdog_times(), [])


if __name__ == "__main__":
    import unittest
    unittest.main()
