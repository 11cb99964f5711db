#!/usr/bin/python3
"""tools/perf/table.py: the table of issue 16, measured: the daemon, the
floor and the bare floor side by side (referral-bench --compare --room),
under pipelining partners and one at a time, each repeated, with the
median and the spread.

    tools/perf/table.py [-B BUILD] [-r REPEATS] [-n SUBMITS] [-1 SUBMITS] [--json]

  - throughput: 4 clients x 256 in flight, SUBMITS each (default 200,000);
  - one at a time: 1 client, 1 in flight, SUBMITS (default 5,000): p50/p99.
Each of the REPEATS (default 3) rounds runs both, every server on a fresh
database. The machine is shared: the spread says how much that moved the
figures; the load average is printed before and after. Standard library
only; referral-bench does the measuring."""

import argparse
import json
import os
import statistics
import subprocess
import sys

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KINDS = ("daemon", "floor", "bare")
LABEL = {"daemon": "referrald", "floor": "referral-floor", "bare": "bare floor"}


def compare(build, clients, window, n):
    cmd = [os.path.join(build, "referral-bench"), "--compare", "--room", "--json",
           "-c", str(clients), "-w", str(window), "-n", str(n)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit("table.py: %s failed (exit %d)" % (" ".join(cmd), p.returncode))
    return json.loads(p.stdout)


def figures(o, kind):
    r = o[kind]
    srv = r["server"]
    stored = r["ok"] - r["duplicates"]
    return {
        "rps": r["throughput_rps"],
        "p50_ms": r["latency"]["p50_us"] / 1000,
        "p99_ms": r["latency"]["p99_us"] / 1000,
        "stored_b": (srv["db_bytes_after_stop"] + srv["wal_bytes_after_stop"]) / stored,
        "written_b": srv.get("io_write_bytes", -1) / stored,
        "cpu_us": srv.get("cpu_s", -1) * 1e6 / r["ok"],
    }


def spread(values, fmt):
    med = statistics.median(values)
    if len(values) == 1:
        return fmt % med
    return (fmt + " [" + fmt + "-" + fmt + "]") % (med, min(values), max(values))


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-B", "--build", default=os.path.join(SOURCE, "build"))
    ap.add_argument("-r", "--repeats", type=int, default=3)
    ap.add_argument("-n", type=int, default=200000, help="submits of a throughput run")
    ap.add_argument("-1", dest="one", type=int, default=5000, help="submits one at a time")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    load = [loadavg()]
    runs = {"pipelined": [], "one": []}
    for i in range(a.repeats):
        runs["pipelined"].append(compare(build, 4, 256, a.n))
        runs["one"].append(compare(build, 1, 1, a.one))
        sys.stderr.write("table.py: round %d of %d done (load %s)\n" % (i + 1, a.repeats,
                                                                          loadavg()))
    load.append(loadavg())
    table = {}
    for kind in KINDS:
        p = [figures(o, kind) for o in runs["pipelined"]]
        one = [figures(o, kind) for o in runs["one"]]
        table[kind] = {"pipelined": p, "one": one}
    if a.json:
        print(json.dumps({"load": load, "table": table, "runs": runs}))
        return
    print("load average before %s, after %s; %d rounds; median [min-max]" % (
        load[0], load[1], a.repeats))
    print("| | durable submits/s (4 x 256) | one at a time p50 / p99 ms | CPU us per submit |"
          " bytes stored / written per referral |")
    print("| --- | --- | --- | --- | --- |")
    for kind in KINDS:
        p, one = table[kind]["pipelined"], table[kind]["one"]
        print("| %s | %s | %s / %s | %s | %s / %s |" % (
            LABEL[kind], spread([x["rps"] for x in p], "%.0f"),
            spread([x["p50_ms"] for x in one], "%.2f"),
            spread([x["p99_ms"] for x in one], "%.2f"),
            spread([x["cpu_us"] for x in p], "%.1f"),
            spread([x["stored_b"] for x in p], "%.0f"),
            spread([x["written_b"] for x in p], "%.0f")))
    for a_, b_ in (("daemon", "floor"), ("floor", "bare"), ("daemon", "bare")):
        r = [x["ratios"]["%s/%s" % (a_, b_)] for x in runs["pipelined"]]
        print("%s/%s: %s" % (a_, b_, spread(r, "%.3f")))


if __name__ == "__main__":
    main()
