#!/usr/bin/python3
"""tools/perf/million.py: the daemon on a database of a million referrals:
start-up to the first ping, `stats` time, RSS (docs/performance.md,
"Instruments").

    tools/perf/million.py [-B BUILD] [-n N] [--db FILE] [--rebuild] [--runs R]
                          [--trajectory MINUTES] [--json]

1. The database: BUILD/perf/million-N.db, made once by referral-perf-fill
   (tools/perf/fill.c: N referrals through lib/hub with synchronous=NORMAL
   over 300 days per million that end when it is made; every offer started
   at once and closed ten simulated minutes later (--trajectory: a long one
   leaves the teams full and most referrals waiting); the benchmark's routing
   file, tools/bench/routing.yaml) and kept for later runs (--rebuild makes
   it again). A million takes a few minutes and some 2.5 GB.
2. A copy of it in a temporary folder (the daemon writes to what it opens;
   the copy keeps every run on the same file), then R times: start the
   daemon on the copy with the same routing file and time from the start
   of the process to the answer of its first ping (the ping is sent at
   once and waits in the socket, which tries to connect every millisecond);
   stop it (SIGTERM).
3. In the last of those runs, R `stats` requests one after the other: the
   time of each, the RSS sampled every millisecond during each (the peak
   above the RSS before it) and VmHWM before and after.

The file is in the page cache after the copy (a warm start; a cold one
would need the caches dropped for the whole machine, which this script
does not do). Standard library and python3-zmq only."""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
ROUTING = os.path.join(SOURCE, "tools", "bench", "routing.yaml")
TIMEOUT = 120


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def make_db(build, n, path, trajectory):
    """The database of N referrals at PATH, made by referral-perf-fill
    (trajectories closed TRAJECTORY simulated minutes after their start)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".part"
    for p in (tmp, tmp + "-wal", tmp + "-shm"):
        if os.path.exists(p):
            os.unlink(p)
    span = max(1, round(300 * n / 1000000))
    sys.stderr.write("million.py: making %s (%d referrals over %d days)\n" % (path, n, span))
    t0 = time.monotonic()
    subprocess.run([os.path.join(build, "referral-perf-fill"), "-d", tmp, "-r", ROUTING,
                    "-n", str(n), "--span", str(span), "--trajectory", str(trajectory)],
                   check=True)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(tmp + suffix):
            raise SystemExit("million.py: referral-perf-fill left %s behind" % (tmp + suffix))
    os.rename(tmp, path)
    sys.stderr.write("million.py: made in %.0f s\n" % (time.monotonic() - t0))


class Daemon:
    """referrald on DB in DIR, with the benchmark's routing file."""

    def __init__(self, build, folder, db):
        self.binary = os.path.join(build, "referrald")
        self.folder = folder
        self.endpoint = "tcp://127.0.0.1:%d" % free_port()
        self.config = os.path.join(folder, "referrald.yaml")
        with open(self.config, "w") as f:
            f.write("intake: %s\nevents: tcp://127.0.0.1:%d\nrouting: '%s'\ndatabase: '%s'\n"
                    % (self.endpoint, free_port(), ROUTING.replace("'", "''"),
                       db.replace("'", "''")))
        self.ctx = zmq.Context()
        self.proc = None
        self.sock = None

    def ask(self, request):
        """Send REQUEST, wait for the reply: (seconds, reply)."""
        t0 = time.monotonic()
        self.sock.send(json.dumps(request).encode())
        if not self.sock.poll(TIMEOUT * 1000):
            raise SystemExit("million.py: no reply to %s within %d s" % (request["op"], TIMEOUT))
        reply = json.loads(self.sock.recv())
        return time.monotonic() - t0, reply

    def start(self):
        """Start it; the seconds from the start of the process to the answer
        of its first ping."""
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        # the port is not bound yet: try again every millisecond, not
        # every 100 (ZeroMQ's default would be most of what is measured)
        self.sock.setsockopt(zmq.RECONNECT_IVL, 1)
        self.sock.connect(self.endpoint)
        log = open(os.path.join(self.folder, "referrald.log"), "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([self.binary, "-c", self.config], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self.sock.send(b'{"op":"ping","corr":"first"}')
        while not self.sock.poll(20):
            if self.proc.poll() is not None:
                raise SystemExit("million.py: the daemon exited (%d); its log is %s"
                                 % (self.proc.returncode, os.path.join(self.folder,
                                                                       "referrald.log")))
            if time.monotonic() - t0 > TIMEOUT:
                raise SystemExit("million.py: no answer to a ping within %d s" % TIMEOUT)
        reply = json.loads(self.sock.recv())
        if not reply.get("ok"):
            raise SystemExit("million.py: the ping was answered %r" % reply)
        return time.monotonic() - t0

    def stats(self):
        """One stats request: its time, the RSS before it and the peak
        sampled during it, VmHWM before and after (KiB)."""
        pid = self.proc.pid
        before, hwm_before = status_kb(pid, "VmRSS"), status_kb(pid, "VmHWM")
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                v = status_kb(pid, "VmRSS")
                if v and v > peak[0]:
                    peak[0] = v
                time.sleep(0.001)

        t = threading.Thread(target=sample)
        t.start()
        try:
            seconds, reply = self.ask({"op": "stats", "corr": "stats"})
        finally:
            done.set()
            t.join()
        if not reply.get("ok"):
            raise SystemExit("million.py: stats answered %r" % reply)
        return {"s": seconds, "rss_before_kb": before, "rss_peak_kb": peak[0],
                "hwm_before_kb": hwm_before, "hwm_after_kb": status_kb(pid, "VmHWM"),
                "referrals": reply.get("referrals", reply.get("counts"))}

    def stop(self):
        if self.sock:
            self.sock.close()
            self.sock = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else 0
        self.proc = None
        return rc

    def close(self):
        self.stop()
        self.ctx.term()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-B", "--build", default=os.path.join(SOURCE, "build"))
    ap.add_argument("-n", type=int, default=1000000, help="referrals (default a million)")
    ap.add_argument("--db", help="the database (default BUILD/perf/million-N.db)")
    ap.add_argument("--rebuild", action="store_true", help="make the database again")
    ap.add_argument("--runs", type=int, default=3, help="start-ups and stats calls (default 3)")
    ap.add_argument("--trajectory", type=int, default=10,
                    help="simulated minutes from start to close (default 10); a long one "
                    "leaves the teams full and a backlog waiting")
    ap.add_argument("--json", action="store_true", help="the figures as one JSON object")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    db = a.db or os.path.join(build, "perf", "million-%d%s.db" % (
        a.n, "" if a.trajectory == 10 else "-t%d" % a.trajectory))
    if a.rebuild or not os.path.exists(db):
        make_db(build, a.n, db, a.trajectory)
    out = {"db": db, "db_bytes": os.path.getsize(db),
           "db_age_days": (time.time() - os.path.getmtime(db)) / 86400}
    folder = tempfile.mkdtemp(prefix="rd-million-")
    try:
        copy = os.path.join(folder, "referrald.db")
        shutil.copyfile(db, copy)
        d = Daemon(build, folder, copy)
        try:
            out["startup_s"] = []
            for i in range(a.runs):
                out["startup_s"].append(d.start())
                out["rss_after_start_kb"] = status_kb(d.proc.pid, "VmRSS")
                if i + 1 < a.runs and d.stop() != 0:
                    raise SystemExit("million.py: the daemon did not stop cleanly")
            out["stats"] = [d.stats() for _ in range(a.runs)]
            out["exit"] = d.stop()
        finally:
            d.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if a.json:
        print(json.dumps(out))
        return
    print("database %s: %.2f GB, made %.1f days ago" % (db, out["db_bytes"] / 1e9,
                                                         out["db_age_days"]))
    print("start-up to the first ping: %s" % ", ".join("%.0f ms" % (s * 1000)
                                                       for s in out["startup_s"]))
    print("RSS after the start: %.1f MiB" % (out["rss_after_start_kb"] / 1024))
    for s in out["stats"]:
        print("stats: %.0f ms; RSS %.1f MiB before, peak %.1f MiB during (+%.1f); VmHWM "
              "%.1f -> %.1f MiB" % (s["s"] * 1000, s["rss_before_kb"] / 1024,
                                     s["rss_peak_kb"] / 1024,
                                     (s["rss_peak_kb"] - s["rss_before_kb"]) / 1024,
                                     s["hwm_before_kb"] / 1024, s["hwm_after_kb"] / 1024))
    if out["exit"] != 0:
        raise SystemExit("million.py: the daemon exited %d" % out["exit"])


if __name__ == "__main__":
    main()
