#!/usr/bin/python3
"""tools/perf/pg.py: the PostgreSQL figures of issue 17 (docs/performance.md,
"PostgreSQL (issue 17)"): referral-bench --spawn --room on SQLite, on a
local PostgreSQL 15 server and on a primary with a synchronous standby,
each load on each build, the runs alternating.

    tools/perf/pg.py [-B NAME=BUILD]... [-r REPEATS] [-n SUBMITS] [-1 SUBMITS] [--json]

  - throughput: 4 clients x 256 in flight, SUBMITS (default 40,000);
  - one at a time: 1 client, 1 in flight, SUBMITS (default 2,000): p50/p99.
-B (repeatable; default: after=build) names the builds compared, e.g.
-B before=/tmp/main/build -B after=build. The servers are started here by
tests/integration/pgharness.py (loopback, free ports, a folder under /tmp,
fsync and synchronous_commit on, shared_buffers 256MB); each run gets a new
schema, dropped after it. The server's CPU per submit is that of every
process of the primary server (from /proc, those reaped included) over the
run (and that of the standby server's); with it the WAL bytes and rows
written per submit. Standard library
and pgharness only; referral-bench does the measuring."""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))

import pgharness  # noqa: E402
from table import loadavg, spread  # noqa: E402

SETTINGS = {"shared_buffers": "256MB", "max_wal_size": "1GB"}
TICKS = os.sysconf("SC_CLK_TCK")
LOADS = (("4 x 256", 4, 256), ("one at a time", 1, 1))


def cpu_s(server):
    """CPU seconds used so far by the processes of SERVER: those alive, and
    those the postmaster has reaped (its children's time: a daemon's backend
    ends with the daemon's run)."""
    total = 0
    master = pgharness._postmaster_pid(server.dir)
    for pid in server.pids():
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        if pid == master:
            total += int(fields[13]) + int(fields[14])
    return total / TICKS


def server_state(server):
    """(CPU seconds, WAL position in bytes, rows written in the database) of
    SERVER now, once only the processes of BEFORE (its pids) are left: the
    backend of a daemon that stopped reaped, its statistics reported."""
    lsn, rows = server.psql(
        "select pg_current_wal_lsn() - '0/0', tup_inserted + tup_updated + tup_deleted "
        "from pg_stat_database where datname = current_database()")[0]
    return cpu_s(server), int(float(lsn)), int(rows)


def settle(server, pids):
    """Wait until SERVER runs no process besides PIDS (a daemon's backend
    exits, and is reaped, after the daemon stops)."""
    pgharness.wait_until(lambda: set(server.pids()) <= pids, 10.0,
                         what="the daemon's backend to exit")


class Target:
    """Where the daemon stores: SQLite (SERVER None) or a PostgreSQL server."""

    def __init__(self, name, server=None, standby=None):
        self.name, self.server, self.standby, self.runs = name, server, standby, 0

    def bench(self, build, clients, window, n):
        argv = [os.path.join(build, "referral-bench"), "--spawn", "--room", "--json",
                "-c", str(clients), "-w", str(window), "-n", str(n)]
        schema = None
        if self.server:
            self.runs += 1
            schema = "bench_%d" % self.runs
            self.server.psql("create schema %s authorization referrald" % schema)
            argv += ["--postgresql", self.server.conninfo(
                password=True, options="-csearch_path=%s" % schema)]
        if self.server:
            pids = set(self.server.pids())
            before = server_state(self.server) + (cpu_s(self.standby) if self.standby else 0,)
        try:
            p = subprocess.run(argv, capture_output=True, text=True)
            if self.server:
                settle(self.server, pids)
                after = server_state(self.server) + (cpu_s(self.standby) if self.standby else 0,)
        finally:
            if schema:
                self.server.psql("drop schema %s cascade" % schema)
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            raise SystemExit("pg.py: %s failed (exit %d)" % (argv[0], p.returncode))
        r = json.loads(p.stdout)
        out = {"rps": r["throughput_rps"], "ok": r["ok"],
               "p50_ms": r["latency"]["p50_us"] / 1000, "p99_ms": r["latency"]["p99_us"] / 1000,
               "daemon_us": r["server"].get("cpu_s", -1) * 1e6 / r["ok"], "backend_us": None}
        if self.server:
            d = [(b - a) / r["ok"] for a, b in zip(before, after)]
            out.update(backend_us=d[0] * 1e6, wal_bytes=d[1], rows=d[2], standby_us=d[3] * 1e6)
        return out


def measure(a, builds, targets):
    runs = {}
    for i in range(a.repeats):
        for t in targets:
            for label, clients, window in LOADS:
                for name, build in builds:
                    n = a.n if clients > 1 else a.one
                    runs.setdefault((t.name, label, name), []).append(
                        t.bench(build, clients, window, n))
        sys.stderr.write("pg.py: round %d of %d done (load %s)\n" % (i + 1, a.repeats,
                                                                       loadavg()))
    return runs


def row(runs):
    rps = spread([x["rps"] for x in runs], "%.0f")
    cpu = spread([x["daemon_us"] for x in runs], "%.0f")
    if runs[0]["backend_us"] is not None:
        cpu += " / %s" % spread([x["backend_us"] for x in runs], "%.0f")
        if runs[0]["standby_us"]:
            cpu += " + standby %s" % spread([x["standby_us"] for x in runs], "%.0f")
        cpu += " (WAL %s B, %s rows)" % (
                                            spread([x["wal_bytes"] for x in runs], "%.0f"),
                                            spread([x["rows"] for x in runs], "%.1f"))
    lat = "%s / %s" % (spread([x["p50_ms"] for x in runs], "%.2f"),
                       spread([x["p99_ms"] for x in runs], "%.2f"))
    return rps, lat, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-B", "--build", action="append", default=[],
                    help="NAME=BUILD, repeatable (default after=build)")
    ap.add_argument("-r", "--repeats", type=int, default=3)
    ap.add_argument("-n", type=int, default=40000, help="submits of a throughput run")
    ap.add_argument("-1", dest="one", type=int, default=2000, help="submits one at a time")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    builds = [b.split("=", 1) for b in a.build] or [["after", os.path.join(SOURCE, "build")]]
    builds = [(n, os.path.abspath(b)) for n, b in builds]
    load = [loadavg()]
    with pgharness.PgServer("bench-local", settings=SETTINGS).start() as local, \
            pgharness.PgServer("bench-primary", settings=SETTINGS).start() as primary:
        standby = primary.add_standby("bench-standby", sync=True)
        targets = [Target("SQLite"), Target("PostgreSQL, local", local),
                   Target("PostgreSQL, synchronous standby", primary, standby)]
        runs = measure(a, builds, targets)
    load.append(loadavg())
    if a.json:
        print(json.dumps({"load": load, "runs": [{"store": k[0], "load": k[1], "build": k[2],
                                                  "runs": v} for k, v in runs.items()]}))
        return
    print("load average before %s, after %s; %d rounds; median [min-max]" % (
        load[0], load[1], a.repeats))
    print("| store | build | submits/s (4 x 256) | CPU us per submit, daemon / server |"
          " one at a time p50 / p99 ms |")
    print("| --- | --- | --- | --- | --- |")
    for t in targets:
        for name, _ in builds:
            rps, _, cpu = row(runs[(t.name, LOADS[0][0], name)])
            _, lat, _ = row(runs[(t.name, LOADS[1][0], name)])
            print("| %s | %s | %s | %s | %s |" % (t.name, name, rps, cpu, lat))


if __name__ == "__main__":
    main()
