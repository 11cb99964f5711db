"""`assign.overflow` over the wire, as an independent client and a
coordinator meet it (routing.md rev 2, "assign"; protocol.md rev 2, "The
waitlist", "The decision trace", `list`'s `team`; tools.md `explain`).

The region of rdrouting.ROUTING_OVERFLOW: Maasmechelen (lien, one place)
is helped out by Genk (kelly, one place); Genk families only ever go to
kelly.

- a Maasland family goes to lien while she is free, kelly passed over as
  `first_rank_free`; once lien is full, to kelly, `"rank": "overflow"` in
  `get`'s trace and in `referralctl explain`'s words;
- when everyone is full, the forecast takes both ranks' places, and a
  Genk family is not held back by a Maasland family waiting for kelly;
- a place that comes free at kelly goes to a waiting Genk family (her
  own team's) before a Maasland family that is more urgent and came
  first; only then to the Maasland family, as overflow;
- `list` by `team` names a waiting referral under its first-rank team.
"""

import os
import subprocess

import rdtest
from rdrouting import ROUTING_OVERFLOW
from rdtest import DAY, parse_time, referral, utcnow, wait_until

REFERRALCTL = os.environ.get("REFERRALCTL") or os.path.join(rdtest.SOURCE_DIR, "build",
                                                            "referralctl")


def maasland(**kw):
    return referral(postcode="3630", **kw)


def genk(**kw):
    return referral(postcode="3600", **kw)


def by_connector(trace):
    return {c["connector"]: c for c in trace["candidates"]}


def rfc3339(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class Overflow(rdtest.TestCase):

    def setUp(self):
        super().setUp()
        self.d = self.daemon(routing=ROUTING_OVERFLOW)

    def trace(self, rid):
        return self.d.ok({"op": "get", "id": rid})["trace"]

    def explain(self, rid):
        p = subprocess.run([REFERRALCTL, "-e", self.d.intake, "explain", rid],
                           capture_output=True, text=True, timeout=30,
                           env=rdtest.clean_env(), stdin=subprocess.DEVNULL)
        self.assertExit(p, 0)
        return p.stdout

    def start(self, rep, days):
        """REP's connector starts with it, expecting to end in DAYS days:
        the place comes free then in every forecast."""
        end = rfc3339(utcnow() + days * DAY)
        self.d.ok({"op": "update", "id": rep["id"], "status": "started",
                   "connector": rep["connector"], "expected_end": end})
        return parse_time(end)

    def status_of(self, rid):
        return self.d.ok({"op": "get", "id": rid})

    def test_the_first_rank_gets_the_offer_while_free_then_the_overflow_team(self):
        first = self.d.submit(maasland())
        self.assertEqual((first["status"], first["connector"], first["team"]),
                         ("assigned", "lien", "maasmechelen"), first)
        tr = self.trace(first["id"])
        self.assertEqual((tr["decision"], tr["connector"], tr["rank"]),
                         ("assigned", "lien", "first"), tr)
        cand = by_connector(tr)
        self.assertEqual((cand["lien"]["rank"], cand["lien"].get("chosen")), ("first", True))
        self.assertEqual((cand["kelly"]["rank"], cand["kelly"]["passed_over"]),
                         ("overflow", "first_rank_free"), cand)
        words = self.explain(first["id"])
        self.assertRegex(words, r"(?m)^  kelly \(team genk, overflow, load 0 of 1\): passed "
                                r"over: overflow \(free, but a connector of the rule's own teams "
                                r"was free and goes first\)$")
        self.assertRegex(words, r"(?m)^Decision: assigned to lien of team maasmechelen, ")

        # lien is full: the next Maasland family is offered to kelly
        second = self.d.submit(maasland())
        self.assertEqual((second["status"], second["connector"], second["team"],
                          second["rule"]), ("assigned", "kelly", "genk", "family-maasland"),
                         second)
        tr = self.trace(second["id"])
        self.assertEqual((tr["connector"], tr["team"], tr["rank"]),
                         ("kelly", "genk", "overflow"), tr)
        cand = by_connector(tr)
        self.assertEqual((cand["lien"]["rank"], cand["lien"]["passed_over"]), ("first", "full"))
        self.assertEqual((cand["kelly"]["rank"], cand["kelly"].get("chosen")),
                         ("overflow", True))
        words = self.explain(second["id"])
        self.assertRegex(words, r"(?m)^  lien \(team maasmechelen, load 1 of 1\): passed over: "
                                r"full")
        self.assertRegex(words, r"(?m)^  kelly \(team genk, overflow, load 0 of 1\): chosen$")
        self.assertRegex(words, r"(?m)^Decision: assigned to kelly of team genk \(overflow: "
                                r"nobody of the rule's own teams was free\), start by ")

    def test_a_genk_family_never_overflows_to_maasmechelen(self):
        self.assertEqual(self.d.submit(genk())["connector"], "kelly")
        rep = self.d.submit(genk())
        self.assertEqual(rep["status"], "waitlisted", rep)
        tr = self.trace(rep["id"])
        self.assertEqual([c["connector"] for c in tr["candidates"]], ["kelly"], tr)
        self.assertNotIn("rank", tr["candidates"][0], "a rule without overflow has no rank")

    def test_a_freed_connector_serves_her_own_teams_families_before_the_overflow(self):
        d = self.d
        g0 = d.submit(genk())
        m0 = d.submit(maasland())
        self.assertEqual((g0["connector"], m0["connector"]), ("kelly", "lien"))
        kelly_free = self.start(g0, 5)   # kelly's place comes free first
        self.start(m0, 20)

        # an urgent Maasland family first: both ranks' places in its forecast
        m1 = d.submit(maasland(urgency="high"))
        self.assertEqual(m1["status"], "waitlisted", m1)
        fc = self.trace(m1["id"])["forecast"]
        self.assertEqual((fc["first"]["candidates"], fc["first"]["slots"]), (1, 1), fc)
        self.assertEqual((fc["overflow"]["candidates"], fc["overflow"]["slots"]), (1, 1), fc)
        self.assertEqual((fc["expected_rank"], fc["waiting_ahead"], fc["within_window"]),
                         ("overflow", 0, True), fc)
        self.assertLess(abs((parse_time(m1["expected_start"]) - kelly_free).total_seconds()), 60)

        # then an ordinary Genk family: kelly is hers before she is m1's,
        # so m1 waiting for kelly is not ahead of her
        g1 = d.submit(genk())
        self.assertEqual(g1["status"], "waitlisted", g1)
        fc = self.trace(g1["id"])["forecast"]
        self.assertEqual((fc["candidates"], fc["slots"], fc["waiting_ahead"]), (1, 1, 0), fc)
        self.assertLess(abs((parse_time(g1["expected_start"]) - kelly_free).total_seconds()), 60)

        # each waits under its own first-rank team
        def waiting(team):
            return {r["id"] for r in d.ok({"op": "list", "team": team,
                                           "status": "waitlisted"})["referrals"]}
        self.assertEqual(waiting("genk"), {g1["id"]})
        self.assertEqual(waiting("maasmechelen"), {m1["id"]})

        # kelly's place comes free: her own team's family gets it, though
        # m1 is more urgent and came first
        d.ok({"op": "update", "id": g0["id"], "status": "closed", "connector": "kelly"})
        wait_until(lambda: self.status_of(g1["id"])["status"] == "assigned", timeout=5,
                   what="the Genk family offered the place that came free")
        got = self.status_of(g1["id"])
        self.assertEqual((got["connector"], got["team"]), ("kelly", "genk"), got)
        self.assertEqual(self.status_of(m1["id"])["status"], "waitlisted")

        # kelly's place comes free again, no Genk family waits: the
        # Maasland family gets it, as overflow
        d.ok({"op": "update", "id": g1["id"], "status": "withdrawn"})
        wait_until(lambda: self.status_of(m1["id"])["status"] == "assigned", timeout=5,
                   what="the Maasland family offered kelly's place")
        got = self.status_of(m1["id"])
        self.assertEqual((got["connector"], got["team"], got["rule"]),
                         ("kelly", "genk", "family-maasland"), got)
        tr = got["trace"]
        self.assertEqual((tr["rank"], tr.get("redecided_by_rule")), ("overflow", True), tr)
        self.assertRegex(self.explain(m1["id"]),
                         r"(?m)^Decision: assigned to kelly of team genk \(overflow: ")
        # the offer is an event like any other, with the rule that made it
        offers = [e for e in d.all_events() if e["type"] == "referral.assigned"
                  and e.get("id") == m1["id"]]
        self.assertEqual([(e["connector"], e["team"], e["rule"]) for e in offers],
                         [("kelly", "genk", "family-maasland")], offers)


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
