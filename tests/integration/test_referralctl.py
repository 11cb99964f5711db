"""referralctl against a real referrald: what a person (or a script) at the
command line sees. Black-box: the binary from $REFERRALCTL, the daemon
from $REFERRALD (rdtest), checked through its own protocol.

Exit codes (daemon.md): 0 done, 1 a runtime fault or an error reply, 2 a
usage error.
"""

import json
import os
import queue
import re
import signal
import subprocess
import tempfile
import threading
import time

import rdtest
from rdrouting import ROUTING_ROOMY
from rdtest import TestCase, free_ports, parse_time, referral

SOURCE_DIR = rdtest.SOURCE_DIR
REFERRALCTL = os.environ.get("REFERRALCTL") or os.path.join(SOURCE_DIR, "build", "referralctl")

# "R000001 assigned to kelly (team genk, rule family-genk), start by 2026-12-23T10:00:00Z"
ASSIGNED_LINE = re.compile(
    r"^(?P<id>\S+) assigned to (?P<connector>kelly|sophie) "
    r"\(team genk, rule family-genk\), start by (?P<start_by>\S+)(?P<rest>.*)$")


def run_ctl(args, input=None, timeout=20, env=None):
    e = dict(os.environ)
    e.pop("REFERRALD_ENDPOINT", None)
    e.pop("REFERRALD_EVENTS", None)
    if env:
        e.update(env)
    return subprocess.run([REFERRALCTL] + list(args), input=input, capture_output=True,
                          text=True, timeout=timeout, env=e)


class LineReader:
    """Collect the stdout lines of a running process in a thread."""

    def __init__(self, stream):
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.t.start()

    def _run(self, stream):
        for line in stream:
            self.q.put(line)
        self.q.put(None)

    def lines_until(self, pred, timeout=10.0):
        """Read lines until PRED(all lines so far) is true; return them."""
        out = []
        deadline = time.monotonic() + timeout
        while not pred(out):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            out.append(line)
        return out


class ReferralctlTest(TestCase):

    @classmethod
    def setUpClass(cls):
        cls.d = cls.class_daemon(routing=ROUTING_ROOMY)
        cls.tmp = tempfile.TemporaryDirectory(prefix="ctltest-")
        cls.addClassCleanup(cls.tmp.cleanup)

    # -- helpers
    def ctl(self, *args, **kw):
        return run_ctl(["-e", self.d.intake, "--events-endpoint", self.d.events] + list(args),
                       **kw)

    def write(self, obj, name=None):
        return rdtest.write_json(self.tmp.name, obj, name)

    def get_by_ref(self, r):
        return self.d.request({"op": "get", "partner": r["partner"], "ref": r["ref"]})

    # -- backup
    def test_backup_copies_a_live_database_0600_and_never_overwrites(self):
        import sqlite3
        subs = [self.d.submit(referral()) for _ in range(20)]
        out = os.path.join(self.tmp.name, "backup.db")
        old = os.umask(0)
        try:
            p = run_ctl(["backup", self.d.database_path, out])
        finally:
            os.umask(old)
        self.assertExit(p, 0)
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o600, "a copy of personal data")
        db = sqlite3.connect(out)
        try:
            ids = {row[0] for row in db.execute("SELECT rowid FROM referrals")}
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        finally:
            db.close()
        for s in subs:
            self.assertIn(int(s["id"][1:]), ids)
        again = run_ctl(["backup", self.d.database_path, out])
        self.assertExit(again, 1)
        self.assertIn("cannot create", again.stderr)
        self.assertExit(run_ctl(["backup", self.d.database_path]), 2)

    # -- list
    def test_list_hint_resumes_after_the_last_row_printed(self):
        subs = [self.d.submit(referral()) for _ in range(3)]
        since = self.d.request({"op": "ping"})["last_seq"] - 6  # before the three
        p = self.ctl("list", "--since", str(since), "--limit", "2")
        self.assertExit(p, 0)
        rows = [l.split() for l in p.stdout.splitlines()[1:] if l.startswith("R")]
        self.assertEqual([r[0] for r in rows], [s["id"] for s in subs[:2]])
        m = re.search(r"more may follow: \S+ list --since (\d+)", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        # the seq of the last row printed, not the daemon's newest seq: the
        # third referral is still to come
        self.assertEqual(int(m.group(1)), int(rows[-1][6]))
        rest = self.ctl("list", "--since", m.group(1))
        self.assertExit(rest, 0)
        self.assertIn(subs[2]["id"], rest.stdout)

    # -- submit
    def test_submit_file_human(self):
        r = referral()
        p = self.ctl("submit", self.write(r))
        self.assertExit(p, 0)
        self.assertEqual(p.stderr, "")
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 1, p.stdout)
        m = ASSIGNED_LINE.match(lines[0])
        self.assertIsNotNone(m, "unexpected submit output: %r" % lines[0])
        self.assertNotIn("duplicate", m.group("rest"))
        parse_time(m.group("start_by"))
        # The line tells the truth: the daemon has it so.
        rep = self.get_by_ref(r)
        self.assertOk(rep)
        self.assertEqual(rep["id"], m.group("id"))
        self.assertEqual(rep["status"], "assigned")
        self.assertEqual(rep["connector"], m.group("connector"))
        self.assertEqual(rep["start_by"], m.group("start_by"))

    def test_submit_json(self):
        r = referral()
        p = self.ctl("--json", "submit", self.write(r))
        self.assertExit(p, 0)
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 1, "one JSON object per line: %r" % p.stdout)
        rep = json.loads(lines[0])
        self.assertIs(rep["ok"], True)
        self.assertIs(rep["duplicate"], False)
        self.assertEqual(rep["status"], "assigned")
        self.assertEqual(rep["team"], "genk")
        self.assertEqual(rep["rule"], "family-genk")
        self.assertIsInstance(rep.get("corr"), str)
        self.assertEqual(self.get_by_ref(r)["id"], rep["id"])

    def test_submit_stdin_and_json_after_command(self):
        r = referral()
        p = self.ctl("submit", "-", "--json", input=json.dumps(r))
        self.assertExit(p, 0)
        rep = json.loads(p.stdout)
        self.assertEqual(rep["status"], "assigned")
        self.assertEqual(self.get_by_ref(r)["id"], rep["id"])

    def test_submit_forwarded(self):
        r = referral(urgency="crisis")
        p = self.ctl("submit", self.write(r))
        self.assertExit(p, 0)
        self.assertRegex(p.stdout.strip(),
                         r"^\S+ forwarded to cgg-limburg \(rule crisis\): acute crisis")
        self.assertNotIn("start by", p.stdout)

    def test_duplicate_is_success_and_noted(self):
        r = referral()
        path = self.write(r)
        first = self.ctl("submit", path)
        self.assertExit(first, 0)
        seq = self.d.last_seq()
        again = self.ctl("submit", path)
        self.assertExit(again, 0)
        m1 = ASSIGNED_LINE.match(first.stdout.strip())
        m2 = ASSIGNED_LINE.match(again.stdout.strip())
        self.assertIsNotNone(m2, again.stdout)
        self.assertEqual(m1.group("id"), m2.group("id"))
        self.assertIn("duplicate", m2.group("rest"))
        js = self.ctl("--json", "submit", path)
        self.assertExit(js, 0)
        rep = json.loads(js.stdout)
        self.assertIs(rep["duplicate"], True)
        self.assertEqual(rep["id"], m1.group("id"))
        self.assertEqual(self.d.last_seq(), seq, "a duplicate emits no event")

    def test_conflict_exits_1(self):
        r = referral()
        self.assertExit(self.ctl("submit", self.write(r, "c1.json")), 0)
        r2 = dict(r, postcode="3660")
        p = self.ctl("submit", self.write(r2, "c2.json"))
        self.assertExit(p, 1)
        self.assertEqual(p.stdout, "")
        self.assertRegex(p.stderr, r"(?m)^error: conflict: ")

    def test_invalid_referral_names_the_field(self):
        r = referral(children=[{"age": 30}])
        p = self.ctl("submit", self.write(r))
        self.assertExit(p, 1)
        self.assertEqual(p.stdout, "")
        self.assertRegex(p.stderr, r"(?m)^error: invalid: referral\.children\[0\]\.age: \S")
        self.assertEqual(self.get_by_ref(r)["error"]["code"], "not_found")
        # --json: the error reply goes to stdout for scripts, and still exit 1.
        p = self.ctl("--json", "submit", self.write(r))
        self.assertExit(p, 1)
        rep = json.loads(p.stdout)
        self.assertIs(rep["ok"], False)
        self.assertEqual(rep["error"]["field"], "referral.children[0].age")

    def test_unreadable_file_exits_1(self):
        bad = os.path.join(self.tmp.name, "broken.json")
        with open(bad, "w") as f:
            f.write('{"ref": "X-1",')
        p = self.ctl("submit", bad)
        self.assertExit(p, 1)
        self.assertIn("broken.json", p.stderr)
        p = self.ctl("submit", os.path.join(self.tmp.name, "missing.json"))
        self.assertExit(p, 1)
        self.assertIn("missing.json", p.stderr)

    # -- get
    def test_get_by_id_and_by_ref(self):
        r = referral()
        sub = self.d.submit(r)
        p = self.ctl("get", sub["id"])
        self.assertExit(p, 0)
        lines = p.stdout.splitlines()
        self.assertTrue(lines[0].startswith("%s assigned to %s" % (sub["id"], sub["connector"])),
                        lines[0])
        self.assertIn(r["ref"], p.stdout)
        self.assertIn("referral.received", p.stdout)
        self.assertIn("referral.assigned", p.stdout)
        p = self.ctl("--json", "get", "--partner", r["partner"], "--ref", r["ref"])
        self.assertExit(p, 0)
        rep = json.loads(p.stdout)
        self.assertEqual(rep["id"], sub["id"])
        self.assertEqual(rep["referral"]["ref"], r["ref"])
        self.assertEqual([e["type"] for e in rep["history"]],
                         ["referral.received", "referral.assigned"])

    def test_get_unknown_exits_1(self):
        p = self.ctl("get", "R-no-such-referral")
        self.assertExit(p, 1)
        self.assertRegex(p.stderr, r"(?m)^error: not_found")

    # -- list
    def test_list(self):
        since = self.d.last_seq()
        a = self.d.submit(referral())
        b = self.d.submit(referral())
        c = self.d.submit(referral(urgency="crisis"))
        p = self.ctl("--json", "list", "--since", str(since))
        self.assertExit(p, 0)
        rep = json.loads(p.stdout)
        self.assertEqual([x["id"] for x in rep["referrals"]], [a["id"], b["id"], c["id"]])
        p = self.ctl("list", "--since", str(since), "--status", "forwarded", "--json")
        self.assertExit(p, 0)
        self.assertEqual([x["id"] for x in json.loads(p.stdout)["referrals"]], [c["id"]])
        p = self.ctl("list", "--since", str(since), "--limit", "2")
        self.assertExit(p, 0)
        first_words = [ln.split()[0] for ln in p.stdout.splitlines() if ln.strip()]
        self.assertIn(a["id"], first_words)
        self.assertIn(b["id"], first_words)
        self.assertNotIn(c["id"], p.stdout)
        row = next(ln for ln in p.stdout.splitlines() if ln.startswith(a["id"] + " "))
        self.assertIn("%s/%s" % ("ocmw-genk", self.d.ok({"op": "get", "id": a["id"]})
                                 ["referral"]["ref"]), row)
        self.assertIn("assigned", row)

    # -- update
    def test_update(self):
        sub = self.d.submit(referral())
        p = self.ctl("update", sub["id"], "accepted", "--connector", sub["connector"])
        self.assertExit(p, 0)
        self.assertTrue(p.stdout.startswith("%s accepted by %s" % (sub["id"], sub["connector"])),
                        p.stdout)
        self.assertEqual(self.d.ok({"op": "get", "id": sub["id"]})["status"], "accepted")
        p = self.ctl("update", sub["id"], "closed", "--connector", sub["connector"])
        self.assertExit(p, 1)
        self.assertRegex(p.stderr, r"(?m)^error: conflict")
        p = self.ctl("update", sub["id"], "started", "--expected-end", "someday")
        self.assertExit(p, 2)

    # -- events
    def test_events_replay(self):
        since = self.d.last_seq()
        for _ in range(3):
            self.d.submit(referral())
        want = self.d.all_events(since)
        p = self.ctl("--json", "events", "--since", str(since))
        self.assertExit(p, 0)
        got = [json.loads(ln) for ln in p.stdout.splitlines()]
        self.assertEqual(got, want)
        self.assertEqual([e["seq"] for e in got], list(range(since + 1, since + 1 + len(got))))
        p = self.ctl("events", "--since", str(since))
        self.assertExit(p, 0)
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), len(want))
        for line, ev in zip(lines, want):
            self.assertTrue(line.startswith("%d %s %s" % (ev["seq"], ev["at"], ev["type"])), line)

    def test_events_replay_pages(self):
        # More than one page (1000 events): 520 referrals, pipelined.
        since = self.d.last_seq()
        s = self.d.dealer()
        try:
            for i in range(520):
                s.send_string(json.dumps({"op": "submit", "corr": str(i),
                                          "referral": referral(urgency="crisis")}))
            for _ in range(520):
                self.assertTrue(s.poll(30000), "no reply")
                self.assertIs(json.loads(s.recv())["ok"], True)
        finally:
            s.close(0)
        last = self.d.last_seq()
        self.assertGreater(last - since, 1000)
        p = self.ctl("--json", "events", "--since", str(since), timeout=60)
        self.assertExit(p, 0)
        seqs = [json.loads(ln)["seq"] for ln in p.stdout.splitlines()]
        self.assertEqual(seqs, list(range(since + 1, last + 1)))

    def test_events_follow_no_gap_no_double(self):
        before = [self.d.submit(referral()) for _ in range(2)]
        since = self.d.last_seq() - 3  # replay starts inside the history
        proc = subprocess.Popen(
            [REFERRALCTL, "-e", self.d.intake, "--events-endpoint", self.d.events, "--json",
             "events", "--since", str(since), "--follow"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        reader = LineReader(proc.stdout)
        # Submit while it subscribes and replays (the race it must survive)...
        during = [self.d.submit(referral()) for _ in range(10)]
        lines = reader.lines_until(lambda ls: len(ls) >= 1, timeout=10)
        self.assertTrue(lines, "events --follow printed nothing")
        # ... and after it is live.
        after = [self.d.submit(referral(urgency="crisis" if i % 2 else "normal"))
                 for i in range(10)]
        last = self.d.last_seq()
        lines += reader.lines_until(
            lambda ls: len(lines) + len(ls) >= last - since, timeout=15)
        # Nothing more may come (no double printed late).
        lines += reader.lines_until(lambda ls: False, timeout=0.5)
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(10), 0, proc.stderr.read())
        got = [json.loads(ln) for ln in lines]
        self.assertEqual([e["seq"] for e in got], list(range(since + 1, last + 1)))
        self.assertEqual(got, self.d.all_events(since))
        ids = {e.get("id") for e in got}
        for rep in before[1:] + during + after:
            self.assertIn(rep["id"], ids)

    def test_events_follow_unreachable_event_endpoint(self):
        port = free_ports(1)[0]
        p = run_ctl(["-e", self.d.intake, "--events-endpoint", "tcp://127.0.0.1:%d" % port,
                     "-t", "500", "events", "--follow"])
        self.assertExit(p, 1)
        self.assertIn("127.0.0.1:%d" % port, p.stderr)

    # -- stats, ping
    def test_stats(self):
        self.d.submit(referral())
        p = self.ctl("--json", "stats")
        self.assertExit(p, 0)
        rep = json.loads(p.stdout)
        self.assertGreaterEqual(rep["by_status"]["assigned"], 1)
        teams = {t["id"]: t for t in rep["teams"]}
        self.assertIn("genk", teams)
        p = self.ctl("stats")
        self.assertExit(p, 0)
        self.assertRegex(p.stdout, r"assigned \d+")
        self.assertIn("team genk", p.stdout)
        self.assertRegex(p.stdout, r"kelly\s+load \d+/100000")

    def test_ping(self):
        p = self.ctl("ping")
        self.assertExit(p, 0)
        self.assertRegex(p.stdout, r"\Areferrald \d+\.\d+\.\d+, up \d+ s, last seq \d+, active\n"
                         r"routing file in force: digest [0-9a-f]{64}, from \S+, since \S+\n\Z")
        last = self.d.last_seq()
        p = self.ctl("ping", "--json")
        self.assertExit(p, 0)
        rep = json.loads(p.stdout)
        self.assertIs(rep["ok"], True)
        self.assertEqual(rep["last_seq"], last)

    def test_endpoint_from_environment(self):
        p = run_ctl(["ping"], env={"REFERRALD_ENDPOINT": self.d.intake})
        self.assertExit(p, 0)
        # -e wins over the environment
        port = free_ports(1)[0]
        p = run_ctl(["-e", self.d.intake, "ping"],
                    env={"REFERRALD_ENDPOINT": "tcp://127.0.0.1:%d" % port})
        self.assertExit(p, 0)

    # -- usage and faults
    def test_usage_errors_exit_2(self):
        seq = self.d.last_seq()
        for args in ([], ["frobnicate"], ["explain"], ["submit"], ["submit", "a", "b"],
                     ["get"], ["get", "R1", "--partner", "p"], ["get", "--ref", "x"],
                     ["list", "--limit", "ten"], ["list", "--since", "-1"], ["list", "extra"],
                     ["update", "R1"], ["events", "--since", "x"], ["ping", "--bogus"],
                     ["--bogus", "ping"], ["-t", "soon", "ping"], ["-t"]):
            with self.subTest(args=args):
                p = self.ctl(*args)
                self.assertExit(p, 2)
                self.assertEqual(p.stdout, "")
                self.assertNotEqual(p.stderr.strip(), "")
        self.assertEqual(self.d.last_seq(), seq)

    def test_help_and_version(self):
        p = run_ctl(["--help"])
        self.assertExit(p, 0)
        for cmd in ("submit", "get", "list", "update", "events", "stats", "ping"):
            self.assertRegex(p.stdout, r"(?m)^\s+%s\b" % cmd)
        p = run_ctl(["--version"])
        self.assertExit(p, 0)
        self.assertRegex(p.stdout, r"^referralctl \d+\.\d+\.\d+\n$")

    def test_timeout_against_dead_endpoint(self):
        port = free_ports(1)[0]
        for args in (["ping"], ["submit", self.write(referral())], ["events"]):
            with self.subTest(args=args):
                t0 = time.monotonic()
                p = run_ctl(["-e", "tcp://127.0.0.1:%d" % port, "-t", "300"] + args)
                self.assertLess(time.monotonic() - t0, 5)
                self.assertExit(p, 1)
                self.assertEqual(p.stdout, "")
                self.assertIn("no reply", p.stderr)
                self.assertIn("127.0.0.1:%d" % port, p.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
