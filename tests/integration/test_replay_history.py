"""referralctl replay --db (tools.md, "What-if replay": "From history",
"Fidelity", "HTML output"): a history replayed under a candidate routing
file, beside the history as recorded.

Two kinds of history:
  - made by the real daemon in a few seconds of real time (its own clock,
    deadlines handled when its loop wakes up, the audit trail of its
    requests), with the test as the partners, the connectors and a
    coordinator: accepts, declines, starts, closes, offers left to lapse,
    windows missed, withdrawals and a manual assignment; replayed under the
    file that decided it, nothing changes;
  - a year of a region made by make_history (tests/history_maker.c: the
    hub over a database file, driven as the daemon drives it), for what a
    coordinator reads: the JSON of tools.md, the text, the page.

HTML_REPLAY_SCREENSHOTS=DIR keeps the page and its screenshots there.
"""

import heapq
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import unittest

import rdtest
import test_replay_cli as cli  # its helpers (its tests run in their own file)
from rdrouting import CRISIS, REST, genk, psy, routing, rule
from rdtest import EX_USAGE, TestCase


SOURCE_DIR = rdtest.SOURCE_DIR
MAKE_HISTORY = os.environ.get("MAKE_HISTORY") or os.path.join(
    SOURCE_DIR, "build", "tests", "make_history")
MODEL, BASELINE, CANDIDATE = cli.MODEL, cli.BASELINE, cli.CANDIDATE
TOP_KEYS, FIGURES_KEYS = cli.TOP_KEYS, cli.FIGURES_KEYS
run_ctl = cli.run_ctl
EX_FAULT = 1


def replay_json(*args):
    p = run_ctl(["replay", "--json"] + list(args))
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


# ------------------------------------------------------------------ the real daemon

# Seconds: a window, an offer's life and a trajectory short enough that a
# test sees them run out.
DAEMON_ROUTING = routing(
    [CRISIS, rule("psy", {"kind": "first_line_psychology"}, assign="psy"),
     rule("fam", {"kind": "family_support"}, assign="genk"), REST],
    teams=[genk(2), psy(1)], window="8s", accept_within="2s", at_risk="4s", trajectory="20s")

ARRIVALS_S = 9.0    # referrals arrive over this long
QUIET_S = 7.0       # then the connectors finish what they do for this long
REFERRALS = 60


class Driver:
    """The partners, connectors and coordinator of a small region, in real
    time, against daemon D: what connectors do with offers is dealt from
    a seeded deck (answer), so runs differ only in the daemon's timing."""

    def __init__(self, d, seed=7):
        self.d = d
        self.rng = random.Random(seed)
        self.kinds = random.Random(seed + 1)  # the referrals, whatever the timing
        self.submitted = 0
        self.queue = []  # (monotonic time, n, action)
        self.n = 0
        self.seen = 0
        self.manual_done = False
        self.t0 = time.monotonic()
        self.answers = []   # what the next offers get, dealt from ANSWERS
        self.waits = 0      # waitlisted events seen

    # What connectors do with offers, in the proportions of a region (a
    # fifth left to lapse, 15% declined, a tenth started at once): dealt
    # from a shuffled deck rather than drawn one by one, so that any twenty
    # offers hold every answer, however slow the daemon runs (the ASan
    # build under a loaded CI machine makes fewer offers than a quick one).
    ANSWERS = ["lapse"] * 4 + ["decline"] * 3 + ["start"] * 2 + ["accept"] * 11

    def answer(self):
        if not self.answers:
            self.answers = list(self.ANSWERS)
            self.rng.shuffle(self.answers)
        return self.answers.pop()

    def at(self, delay, fn):
        self.n += 1
        heapq.heappush(self.queue, (time.monotonic() + delay, self.n, fn))

    def update(self, **u):
        self.d.request(dict({"op": "update"}, **u))  # refused when it no longer applies

    def submit(self):
        # Drawn apart from the connectors' answers (whose order follows the
        # daemon's timing), and one in twenty a crisis, so that every run
        # has forwards.
        kind = "first_line_psychology" if self.kinds.random() < 0.3 else "family_support"
        urgency = "crisis" if self.submitted % 20 == 7 else "normal"
        self.submitted += 1
        self.d.ok(rdtest.submit_req(rdtest.referral(kind=kind, urgency=urgency)))

    def offered(self, ev):
        rid, c = ev["id"], ev["connector"]
        a = self.answer()
        if a == "lapse":
            return
        if a == "decline":
            self.at(self.rng.uniform(0.1, 1.5),
                    lambda: self.update(id=rid, status="declined", connector=c))
            return

        def close():
            self.update(id=rid, status="closed", connector=c)

        def start():
            self.update(id=rid, status="started", connector=c)
            self.at(self.rng.uniform(1.0, 4.0), close)

        def accept():
            self.update(id=rid, status="accepted", connector=c)
            self.at(self.rng.uniform(0.1, 1.0), start)

        self.at(self.rng.uniform(0.1, 1.5), accept if a == "accept" else start)

    def waiting(self, ev):
        rid = ev["id"]
        self.waits += 1
        if not self.manual_done and time.monotonic() - self.t0 > 3:
            self.manual_done = True  # a coordinator assigns it by hand
            self.at(0.5, lambda: self.update(id=rid, status="assigned", connector="kelly"))
        elif self.waits % 7 == 3:  # a family withdraws one in seven, not drawn: every run has some
            self.at(self.rng.uniform(0.5, 3.0), lambda: self.update(id=rid, status="withdrawn"))

    def poll(self):
        rep = self.d.ok({"op": "events", "since": self.seen, "limit": 1000})
        for ev in rep["events"]:
            self.seen = ev["seq"]
            if ev["type"] == "referral.assigned":
                self.offered(ev)
            elif ev["type"] == "referral.waitlisted":
                self.waiting(ev)

    def run(self):
        for _ in range(REFERRALS):
            self.at(self.rng.uniform(0, ARRIVALS_S), self.submit)
        end = self.t0 + ARRIVALS_S + QUIET_S
        while time.monotonic() < end:
            while self.queue and self.queue[0][0] <= time.monotonic():
                heapq.heappop(self.queue)[2]()
            self.poll()
            time.sleep(0.02)


class ReplayOfTheDaemonsOwnHistoryTest(TestCase):

    @classmethod
    def setUpClass(cls):
        cls.d = rdtest.Daemon(routing=DAEMON_ROUTING)
        try:
            Driver(cls.d).run()
            cls.events = cls.d.all_events()
            cls.audit = cls.d.ok({"op": "audit", "limit": 1000})
            cls.d.stop()  # a quiet database, as a backup would be
        except BaseException:
            rdtest.dump_log(cls.d)
            cls.d.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def test_the_history_holds_what_people_and_deadlines_do(self):
        types = [e["type"] for e in self.events]
        for t in ("referral.accepted", "referral.declined", "referral.offer_expired",
                  "referral.started", "referral.closed", "referral.withdrawn",
                  "referral.waitlisted", "referral.forwarded", "referral.window_missed"):
            self.assertIn(t, types)
        actions = [e["action"] for e in self.audit["entries"]]
        self.assertIn("update:assigned", actions)

    def test_replayed_under_the_file_that_decided_it_nothing_changes(self):
        r = replay_json("--db", self.d.db_arg(), "--rules", self.d.routing_path)
        self.assertEqual(r["changed"], 0, r["changes"][:5])
        self.assertEqual(r["baseline"], r["candidate"])
        self.assertEqual(r["baseline"]["referrals"], REFERRALS)
        self.assertEqual(r["skipped_erased"], 0)


# ------------------------------------------------------------------ a year of a region

def make_history(folder, routing_path, seed="3", withdraw="5", manual="3", erase="0"):
    path = os.path.join(folder, "referrald.db")
    p = subprocess.run([MAKE_HISTORY, path, routing_path, MODEL, seed, withdraw, manual, erase],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return path, json.loads(p.stdout)


@rdtest.sqlite_only("a history made into a SQLite file (make_history)")
class ReplayOfAYearTest(TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="test_replay_history-")
        cls.db, cls.made = make_history(cls.dir, BASELINE, erase="5")
        cls.result = replay_json("--db", cls.db, "--rules", CANDIDATE, "--seed", "4")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_json_is_tools_md_object_beside_the_history_as_recorded(self):
        r = self.result
        self.assertEqual(sorted(r), sorted(TOP_KEYS))
        for side in ("baseline", "candidate"):
            self.assertEqual(sorted(r[side]), sorted(FIGURES_KEYS), side)
        self.assertEqual(r["baseline"]["referrals"], self.made["received"])
        self.assertEqual(r["candidate"]["referrals"], self.made["received"])
        self.assertEqual(r["skipped_erased"], 5)
        self.assertEqual(r["seed"], 4)
        self.assertEqual([c["id"] for c in r["candidate"]["connectors"]],
                         ["anna", "bert", "psy-1", "psy-2"])
        self.assertGreater(r["changed"], 0)
        for ch in r["changes"]:
            self.assertRegex(ch["id"], r"^R\d{6}$")

    def test_under_the_file_in_force_the_history_is_reproduced(self):
        r = replay_json("--db", self.db, "--rules", BASELINE)
        self.assertEqual(r["changed"], 0)
        self.assertEqual(r["baseline"], r["candidate"])

    def test_a_span_starts_from_the_state_recorded_at_from(self):
        r = replay_json("--db", self.db, "--rules", BASELINE, "--from", "2027-04-01",
                        "--to", "2027-10-01T00:00:00+02:00")
        self.assertEqual(r["changed"], 0)
        self.assertEqual(r["baseline"], r["candidate"])
        self.assertAlmostEqual(r["candidate"]["days"], 183, delta=0.05)
        self.assertLess(r["candidate"]["referrals"], self.made["received"])

    def test_the_same_seed_gives_the_same_output(self):
        again = replay_json("--db", self.db, "--rules", CANDIDATE, "--seed", "4")
        self.assertEqual(again, self.result)

    def test_against_a_file_both_sides_are_replays(self):
        r = replay_json("--db", self.db, "--rules", CANDIDATE, "--against", BASELINE,
                        "--seed", "4")
        self.assertEqual(r["candidate"], self.result["candidate"])
        self.assertEqual(r["changes"], self.result["changes"])

    def test_text_says_what_was_replayed_and_the_history_as_recorded(self):
        p = run_ctl(["replay", "--db", self.db, "--rules", CANDIDATE, "--seed", "4"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Replay of the history of %s from 2027-01-01 to " % self.db, p.stdout)
        self.assertIn("  baseline:  the history as recorded\n", p.stdout)
        self.assertIn("  candidate: %s (digest" % CANDIDATE, p.stdout)
        self.assertIn("First decisions that changed: %d\n" % self.result["changed"], p.stdout)
        self.assertIn("Erased referrals kept as recorded: 5\n", p.stdout)

    def test_synthetic_without_against_sets_the_candidate_beside_the_file_in_force(self):
        r = replay_json("--synthetic", MODEL, "--rules", CANDIDATE, "--db", self.db)
        against = replay_json("--synthetic", MODEL, "--rules", CANDIDATE, "--against", BASELINE)
        self.assertEqual(r, against)

    def test_usage_errors_and_a_database_that_cannot_be_read_are_said(self):
        p = run_ctl(["replay", "--db", self.db, "--rules", BASELINE, "--from", "2027-06-01",
                     "--to", "2027-05-01"])
        self.assertEqual(p.returncode, EX_USAGE)
        self.assertIn("--from must come before --to", p.stderr)
        p = run_ctl(["replay", "--db", self.db, "--rules", BASELINE, "--from", "yesterday"])
        self.assertEqual(p.returncode, EX_USAGE)
        self.assertIn("--from needs a date", p.stderr)
        missing = os.path.join(self.dir, "missing.db")
        p = run_ctl(["replay", "--db", missing, "--rules", BASELINE])
        self.assertEqual(p.returncode, EX_FAULT)
        self.assertIn(missing, p.stderr)
        self.assertFalse(os.path.exists(missing))
        p = run_ctl(["replay", "--db", self.db, "--rules", BASELINE, "--from", "2030-01-01"])
        self.assertEqual(p.returncode, EX_FAULT)
        self.assertIn("empty", p.stderr)


@rdtest.sqlite_only("a history made into a SQLite file (make_history)")
class ReplayOfAYearHtmlTest(cli.ReplayHtmlTest):
    """The page of a replay from history passes what a synthetic one does."""
    SHOTS = "history-"

    @classmethod
    def setUpClass(cls):
        folder = tempfile.mkdtemp(prefix="test_replay_history_db-")
        try:
            db, _ = make_history(folder, BASELINE)
            cli.write_page(cls, ["--db", db, "--rules", CANDIDATE], "replay-history")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def test_the_page_names_the_history_as_recorded(self):
        self.assertIn("the history as recorded", self.text)
        self.assertIn("Replayed: the history of ", self.text)


if __name__ == "__main__":
    unittest.main()
