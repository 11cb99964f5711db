"""`stats` as a coordinator reads it (protocol.md rev 2, "ping, stats";
tools.md, "`stats` for a person").

A month in which families missed their window must not read "0 started, 0
in time": `window.missed` counts the referrals that got
referral.window_missed. `referralctl stats` without --json shows every
figure the daemon returns.
"""

import json
import os
import re
import subprocess

import rdtest
from rdrouting import CAW, CRISIS, REST, genk, psy, routing, rule
from rdtest import referral

REFERRALCTL = os.environ.get("REFERRALCTL") or os.path.join(rdtest.SOURCE_DIR, "build",
                                                            "referralctl")



def stats_routing(window):
    """Windows of WINDOW (at risk 1 s before); psy-1 takes one referral,
    the rest wait; family support in genk; the rest forwarded."""
    return routing([CRISIS, rule("psychology", {"kind": "first_line_psychology"}, assign="psy",
                                 otherwise="waitlist"),
                    rule("fam", {"kind": "family_support"}, assign="genk",
                         otherwise=(CAW, "no connector can take it in time")), REST],
                   [genk(5), psy(1)], window=window, accept_within="60s", at_risk="1s")


class Stats(rdtest.TestCase):

    def ctl(self, d, *args):
        p = subprocess.run([REFERRALCTL, "-e", d.intake] + list(args), capture_output=True,
                           text=True, timeout=30, env=rdtest.clean_env())
        self.assertExit(p, 0)
        return p.stdout

    def test_three_families_who_missed_their_window_are_counted(self):
        d = self.daemon(routing=stats_routing("2s"))
        rs = [d.submit(referral(kind="first_line_psychology")) for _ in range(3)]
        self.assertEqual([r["status"] for r in rs], ["assigned", "waitlisted", "waitlisted"])
        rdtest.wait_until(
            lambda: sum(e["type"] == "referral.window_missed" for e in d.all_events()) == 3,
            timeout=15, interval=0.1, what="three referral.window_missed")
        window = d.ok({"op": "stats"})["window"]
        self.assertEqual((window["started"], window["in_time"], window["missed"]), (0, 0, 3))
        self.assertRegex(self.ctl(d, "stats"),
                         r"(?m)^window: 0 started, 0 in time, 3 missed \(referral.window_missed\)$")
        # one starts late: it ran out of its window all the same
        d.ok({"op": "update", "id": rs[0]["id"], "status": "started", "connector": "psy-1"})
        window = d.ok({"op": "stats"})["window"]
        self.assertEqual((window["started"], window["in_time"], window["missed"]), (1, 0, 3))

    def test_referralctl_stats_shows_every_figure(self):
        d = self.daemon(routing=stats_routing("30d"))
        a = d.submit(referral())
        d.ok({"op": "update", "id": a["id"], "status": "started", "connector": a["connector"]})
        d.ok({"op": "update", "id": a["id"], "status": "closed", "connector": a["connector"],
              "reason_code": "goals_reached"})
        b = d.submit(referral())
        d.ok({"op": "update", "id": b["id"], "status": "declined", "connector": b["connector"],
              "reason_code": "no_capacity"})
        d.submit(referral(urgency="crisis"))
        d.submit(referral(kind="first_line_psychology"))
        d.submit(referral(kind="first_line_psychology"))
        rep = d.ok({"op": "stats"})
        text = self.ctl(d, "stats")
        self.assertEqual(json.loads(self.ctl(d, "stats", "--json"))["by_status"], rep["by_status"])

        for status, n in rep["by_status"].items():
            self.assertRegex(text, r"by status:.*\b%s %d\b" % (status, n))
        w = rep["window"]
        self.assertIn("window: %d started, %d in time" % (w["started"], w["in_time"]), text)
        self.assertIn("%d missed" % w["missed"], text)
        for what in ("offer", "start"):
            t = rep["time_to_" + what]
            self.assertRegex(text, r"(?m)^time to %s:.*\(%d referrals?\)$" % (what, t["count"]))
            if t["count"]:
                self.assertRegex(text, r"(?m)^time to %s: median \S+.*, 90%% within \S+" % what)
        fw = rep["forwarded"]
        line = next(ln for ln in text.splitlines() if ln.startswith("forwarded:"))
        self.assertIn("forwarded: %d (%.1f%% of all)" % (fw["count"], 100 * fw["share"]), line)
        for to in fw["to"]:
            self.assertIn("%s %d" % (to["to"], to["count"]), line)
        wl = rep["waitlist"]
        line = next(ln for ln in text.splitlines() if ln.startswith("waitlist:"))
        self.assertIn("%d waiting" % wl["length"], line)
        self.assertIn("the oldest received %s" % wl["oldest"], line)
        self.assertIn("%d with no connector who can take them" % wl["attention"], line)
        line = next(ln for ln in text.splitlines() if ln.startswith("reasons:"))
        for change, codes in rep["reason_codes"].items():
            self.assertIn(change, line)
            for code, n in codes.items():
                if n:  # the codes given; the zeros are left out of the line
                    self.assertIn("%s %d" % (code, n), line)
                else:
                    self.assertNotIn("%s 0" % code, line)
        closed = rep["reason_codes"]["closed"]
        self.assertEqual({c: n for c, n in closed.items() if n}, {"goals_reached": 1})
        self.assertIn("goals_reached", closed)
        self.assertEqual(closed["other"], 0, "every code of the list, 0 where none was given")
        for t in rep["teams"]:
            self.assertIn("team %s (load %d/%d)" % (t["id"], t["load"], t["capacity"]), text)
            for c in t["connectors"]:
                self.assertRegex(text, r"(?m)^  %s\s+load %d/%d$"
                                 % (re.escape(c["id"]), c["load"], c["capacity"]))
        self.assertIn("routing file in force: digest %s" % rep["rules_digest"], text)
        self.assertRegex(text, r"(?m)^last event: seq \d+$")


if __name__ == "__main__":
    import unittest
    unittest.main()
