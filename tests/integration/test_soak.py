"""tools/soak.py, the soak run, in small: it spawns its own daemon (the one
in $REFERRALD), submits referrals, plays the connectors' apps (accept, start,
close, some declines), writes its CSV and exits 0 only when every request
was answered ok. Behaviour only: no timing thresholds.

The real run (a million referrals, docs/soak.csv and docs/soak.png) is not
part of the suite:

    /usr/bin/python3 tools/soak.py -n 1000000 --csv docs/soak.csv --plot docs/soak.png
"""

import csv
import json
import os
import re
import subprocess
import sys
import tempfile

import rdtest
from rdrouting import ROUTING_BASIC
from rdtest import TestCase, referral

SOAK = os.path.join(rdtest.SOURCE_DIR, "tools", "soak.py")

COLUMNS = [
    "elapsed_s", "submitted_total", "acked_total", "submits_per_s", "updates_per_s",
    "lat_p50_ms", "lat_p99_ms", "lat_p999_ms", "lat_max_ms",
    "rss_kib", "hwm_kib", "db_bytes", "waitlist", "open", "errors",
]
OPEN = ("waitlisted", "assigned", "accepted", "started")


def run_soak(args, timeout=240):
    return subprocess.run([sys.executable, SOAK] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=rdtest.clean_env({"REFERRALD": rdtest.REFERRALD}),
                          stdin=subprocess.DEVNULL)


def summary_of(proc):
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if not lines:
        raise AssertionError("soak.py printed no summary; stderr:\n%s" % proc.stderr[-3000:])
    return json.loads(lines[-1])


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


class SoakSpawned(TestCase):
    """soak.py with its own daemon: 2000 referrals, one CSV row a second."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="soaktest-")
        cls.addClassCleanup(cls.tmp.cleanup)
        cls.csv = os.path.join(cls.tmp.name, "soak.csv")
        cls.n = 2000
        cls.proc = run_soak(["-n", str(cls.n), "--interval", "1", "--csv", cls.csv])

    def setUp(self):
        super().setUp()
        self.assertEqual(self.proc.returncode, 0,
                         "soak.py exited %d\nstdout:\n%s\nstderr:\n%s"
                         % (self.proc.returncode, self.proc.stdout[-3000:],
                            self.proc.stderr[-5000:]))
        self.summary = summary_of(self.proc)

    def test_every_referral_acked_without_errors(self):
        s = self.summary
        self.assertEqual(s["submitted"], self.n)
        self.assertEqual(s["acked"], self.n)
        self.assertEqual(s["errors"], 0, s.get("error_kinds"))
        self.assertEqual(s["daemon_exit"], 0)
        self.assertEqual(sum(s["decisions"].values()), self.n)

    def test_churn_happened(self):
        s = self.summary
        self.assertGreater(s["offers"], 0)
        self.assertGreater(s["closed"], 0)
        # every offer was accepted, started and closed, or declined (and
        # then decided again): 3 updates per close, 1 per decline
        self.assertEqual(s["updates"], 3 * s["closed"] + s["declined"])
        self.assertEqual(s["offers"], s["closed"] + s["declined"])
        # the daemon's own figures at the end: nothing left open, and every
        # referral closed or forwarded
        by = s["stats_by_status"]
        self.assertGreater(by.get("closed", 0), 0)
        self.assertEqual(by.get("closed", 0), s["closed"])
        self.assertEqual(by.get("closed", 0) + by.get("forwarded", 0), self.n, by)
        for st in OPEN:
            self.assertEqual(by.get(st, 0), 0, by)

    def test_csv_header_and_rows(self):
        header, rows = read_csv(self.csv)
        self.assertEqual(header[:len(COLUMNS)], COLUMNS)
        self.assertGreaterEqual(len(rows), 1)
        for r in rows:
            self.assertGreater(int(r["rss_kib"]), 0, r)
            self.assertGreater(int(r["hwm_kib"]), 0, r)
            self.assertGreaterEqual(int(r["hwm_kib"]), int(r["rss_kib"]), r)
            self.assertGreater(int(r["db_bytes"]), 0, r)
            self.assertEqual(int(r["errors"]), 0, r)
        last = rows[-1]
        self.assertEqual(int(last["submitted_total"]), self.n)
        self.assertEqual(int(last["acked_total"]), self.n)
        self.assertGreater(int(last["closed_total"]), 0)
        # the last row carries the stats op's figures, after the drain
        self.assertEqual(int(last["waitlist"]), 0)
        self.assertEqual(int(last["open"]), 0)
        # totals never go down
        acked = [int(r["acked_total"]) for r in rows]
        self.assertEqual(acked, sorted(acked))

    def test_temp_dir_removed(self):
        m = re.search(r"spawned .* \(pid \d+\) in (\S+)", self.proc.stderr)
        self.assertIsNotNone(m, self.proc.stderr[-2000:])
        self.assertFalse(os.path.exists(m.group(1)))


class SoakAttached(TestCase):
    """soak.py against a daemon it did not start: it acts on its own
    referrals only and leaves the daemon running."""

    def test_attach_touches_only_its_own_referrals(self):
        d = self.daemon(routing=ROUTING_BASIC)
        mine = d.submit(referral())
        self.assertEqual(mine["status"], "assigned")
        with tempfile.TemporaryDirectory(prefix="soaktest-") as tmp:
            path = os.path.join(tmp, "soak.csv")
            p = run_soak(["-n", "300", "--interval", "1", "--csv", path,
                          "--endpoint", d.intake, "--events", d.events,
                          "--pid", str(d.proc.pid), "--db", d.database_path])
            self.assertEqual(p.returncode, 0, "stdout:\n%s\nstderr:\n%s"
                             % (p.stdout[-3000:], p.stderr[-5000:]))
            s = summary_of(p)
            self.assertEqual(s["acked"], 300)
            self.assertGreater(s["closed"], 0)
            self.assertIsNone(s["daemon_exit"])
            header, rows = read_csv(path)
            self.assertGreaterEqual(len(rows), 1)
            self.assertGreater(int(rows[-1]["rss_kib"]), 0)
        self.assertTrue(d.running())
        got = d.ok({"op": "get", "id": mine["id"]})
        self.assertEqual(got["status"], "assigned")
        self.assertEqual(got["connector"], mine["connector"])

    def test_usage_error(self):
        p = run_soak(["-n", "0"], timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
