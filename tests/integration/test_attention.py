"""referral.needs_attention over the wire (protocol.md rev 2, "Events"; "get
and list"), as a coordinator's tool sees it.

A family that no connector can ever take under its rule (no team for its
postcode; every candidate declined or let the offer lapse) must not wait in
silence: the daemon says so once, right after the event that made it wait,
and `get` and `list` carry `attention` while it lasts. It ends with an
offer, a forward, a withdrawal, or a reload that gives it a candidate again.
It fires once per entry into that state, also across reloads and kill -9.
"""

import os
import signal
import subprocess

import rdtest
from rdrouting import (CRISIS, EVERYTHING_ELSE, GENK_POSTCODES, PSYCHOLOGY, genk, psy, routing,
                       rule)
from rdtest import referral

REFERRALCTL = os.environ.get("REFERRALCTL") or os.path.join(rdtest.SOURCE_DIR, "build",
                                                            "referralctl")


def family(genk_postcodes=GENK_POSTCODES, capacity=1):
    """genk (kelly, sophie: CAPACITY each) serves GENK_POSTCODES; the family
    rule also takes 3700, which no team serves; psychology forwards when
    nobody can take it."""
    return routing([CRISIS, PSYCHOLOGY,
                    rule("family", {"kind": "family_support",
                                    "postcode": GENK_POSTCODES + ["3700"]},
                         assign={"teams": ["genk"], "by_postcode": True}, otherwise="waitlist"),
                    EVERYTHING_ELSE],
                   [genk(capacity, genk_postcodes, languages=True), psy(1)])


class Attention(rdtest.TestCase):

    def events_of(self, d, rid):
        return [e for e in d.all_events() if e.get("id") == rid]

    def types_of(self, d, rid):
        return [e["type"] for e in self.events_of(d, rid)]

    def listed(self, d, **filters):
        req = {"op": "list", "attention": True}
        req.update(filters)
        return {x["id"]: x.get("attention") for x in d.ok(req)["referrals"]}

    def update(self, d, rid, status, **kw):
        req = {"op": "update", "id": rid, "status": status}
        req.update(kw)
        return d.ok(req)

    def reload(self, d, text):
        """Put TEXT in force by SIGHUP; wait for its config.reloaded."""
        base = d.last_seq()
        tmp = d.routing_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, d.routing_path)
        d.signal(signal.SIGHUP)
        rdtest.wait_until(lambda: [e for e in d.all_events(base) if e["type"] == "config.reloaded"],
                          what="config.reloaded")
        return [e for e in d.all_events(base)]

    def ctl(self, d, *args):
        return subprocess.run([REFERRALCTL, "-e", d.intake] + list(args), capture_output=True,
                              text=True, timeout=30, env=rdtest.clean_env())

    def assert_asks(self, d, rid, attention, after):
        """The events of RID end with AFTER (types), then needs_attention with
        ATTENTION, each seq one more than the one before."""
        evs = self.events_of(d, rid)
        tail = evs[-len(after) - 1:]
        self.assertEqual([e["type"] for e in tail], after + ["referral.needs_attention"], evs)
        self.assertEqual([e["seq"] for e in tail],
                         list(range(tail[0]["seq"], tail[0]["seq"] + len(tail))),
                         "needs_attention follows the event that made it wait")
        ask = tail[-1]
        self.assertEqual(ask["attention"], attention, ask)
        self.assertEqual(ask["status"], "waitlisted", ask)
        self.assertEqual(ask["rule"], "family", ask)
        self.assertNotIn("attention", tail[-2], "the waitlisted event itself has none")
        for key in ("reason", "family", "note", "postcode", "children"):
            self.assertNotIn(key, ask)
        return ask

    # -- ways in

    def test_a_family_no_team_serves_asks_for_a_coordinator_when_it_arrives(self):
        d = self.daemon(routing=family())
        sub = d.subscribe(["referral."])
        base = d.last_seq()
        rep = d.submit(referral(postcode="3700"))
        self.assertEqual(rep["status"], "waitlisted")
        self.assertNotIn("expected_start", rep)
        ask = self.assert_asks(d, rep["id"], "no_candidate",
                               ["referral.received", "referral.waitlisted"])
        got = rdtest.recv_events(sub, 3, after_seq=base)
        self.assertEqual([f[0] for f, _ in got],
                         [b"referral.received", b"referral.waitlisted", b"referral.needs_attention"])
        self.assertEqual(got[2][1], ask)
        g = d.ok({"op": "get", "id": rep["id"]})
        self.assertEqual((g["status"], g["attention"]), ("waitlisted", "no_candidate"))
        self.assertEqual(self.listed(d), {rep["id"]: "no_candidate"})
        # the journal (here: standard error) has it, as a warning
        rdtest.wait_until(lambda: "no_candidate" in d.log(), what="the log line")
        line = next(ln for ln in d.log().splitlines() if "referral.needs_attention" in ln)
        self.assertIn(rep["id"], line)
        # and a coordinator's tool lists it
        p = self.ctl(d, "list", "--attention")
        self.assertExit(p, 0)
        row = next(ln for ln in p.stdout.splitlines() if ln.startswith(rep["id"] + " "))
        self.assertIn("no_candidate", row)
        p = self.ctl(d, "get", rep["id"])
        self.assertExit(p, 0)
        self.assertIn("needs a coordinator", p.stdout)

    def test_every_candidate_declining_asks_and_an_offer_by_hand_ends_it(self):
        d = self.daemon(routing=family(capacity=2))
        rep = d.submit(referral())
        first = rep["connector"]
        other = "sophie" if first == "kelly" else "kelly"
        self.update(d, rep["id"], "declined", connector=first)
        self.update(d, rep["id"], "declined", connector=other)
        self.assert_asks(d, rep["id"], "all_declined",
                         ["referral.declined", "referral.waitlisted"])
        self.assertEqual(self.listed(d), {rep["id"]: "all_declined"})
        # a coordinator gives it to one of them by hand: it ends
        self.update(d, rep["id"], "assigned", connector="kelly")
        self.assertEqual(self.listed(d), {})
        self.assertNotIn("attention", d.ok({"op": "get", "id": rep["id"]}))
        self.assertEqual(self.types_of(d, rep["id"]).count("referral.needs_attention"), 1)

    def test_a_forward_and_a_withdrawal_end_it(self):
        d = self.daemon(routing=family())
        a = d.submit(referral(postcode="3700"))
        b = d.submit(referral(postcode="3700"))
        self.assertEqual(set(self.listed(d)), {a["id"], b["id"]})
        self.update(d, a["id"], "forwarded", forward_to="cgg-limburg",
                    reason="no team for this postcode")
        self.update(d, b["id"], "withdrawn", reason_code="moved")
        self.assertEqual(self.listed(d), {})
        for rid in (a["id"], b["id"]):
            self.assertNotIn("attention", d.ok({"op": "get", "id": rid}))

    def test_a_rule_that_forwards_otherwise_forwards_as_before(self):
        d = self.daemon(routing=family())
        p = d.submit(referral(kind="first_line_psychology"))
        self.update(d, p["id"], "declined", connector="psy-1")
        self.assertEqual(self.types_of(d, p["id"])[-2:],
                         ["referral.declined", "referral.forwarded"])
        self.assertEqual(self.listed(d), {})

    # -- reloads and restarts

    def test_a_reload_takes_the_last_candidate_away_and_another_gives_it_back(self):
        d = self.daemon(routing=family())
        full = [d.submit(referral()) for _ in range(2)]
        self.assertEqual({r["status"] for r in full}, {"assigned"})
        w = d.submit(referral())
        self.assertEqual(w["status"], "waitlisted")

        # genk no longer serves 3600: nobody can ever take it
        evs = self.reload(d, family(genk_postcodes=["3660-3668"]))
        asks = [e for e in evs if e["type"] == "referral.needs_attention"]
        self.assertEqual([(e["id"], e["attention"]) for e in asks], [(w["id"], "no_candidate")])
        self.assertEqual(self.listed(d), {w["id"]: "no_candidate"})
        # another file, still nobody: it stays, and says nothing again
        evs = self.reload(d, family(genk_postcodes=["3660-3667"]))
        self.assertEqual([e["type"] for e in evs], ["config.reloaded"])
        # genk serves 3600 again; kelly and sophie are full: it waits for them
        evs = self.reload(d, family())
        ends = [e for e in evs if e.get("id") == w["id"]]
        self.assertEqual([e["type"] for e in ends], ["referral.waitlisted"], evs)
        self.assertNotIn("attention", ends[0])
        self.assertEqual(self.listed(d), {})
        # and is served when one of them has room
        self.update(d, full[0]["id"], "withdrawn")
        self.assertEqual(self.types_of(d, w["id"])[-1], "referral.assigned")

    def test_a_reload_with_a_free_candidate_serves_it(self):
        d = self.daemon(routing=family())
        h = d.submit(referral(postcode="3700"))
        evs = self.reload(d, family(genk_postcodes=GENK_POSTCODES + ["3700"]))
        mine = [e for e in evs if e.get("id") == h["id"]]
        self.assertEqual([e["type"] for e in mine], ["referral.assigned"], evs)
        self.assertEqual(self.listed(d), {})

    def test_once_across_kill_9_and_restarts(self):
        d = self.daemon(routing=family())
        h = d.submit(referral(postcode="3700"))
        d.kill9()
        d.start()
        self.assertEqual(self.listed(d), {h["id"]: "no_candidate"})
        # the daemon is up and has served its waitlist: nothing more
        d.submit(referral(urgency="crisis"))
        # a restart under another file that still has nobody for it
        d.stop()
        with open(d.routing_path, "w") as f:
            f.write(family(genk_postcodes=["3600"]))
        d.start()
        d.submit(referral(urgency="crisis"))
        d.kill9()
        d.start()
        self.assertEqual(self.types_of(d, h["id"]).count("referral.needs_attention"), 1,
                         self.types_of(d, h["id"]))
        self.assertEqual(d.ok({"op": "get", "id": h["id"]})["attention"], "no_candidate")
        # a restart under a file that serves 3700: served at start
        d.stop()
        with open(d.routing_path, "w") as f:
            f.write(family(genk_postcodes=GENK_POSTCODES + ["3700"]))
        d.start()
        rdtest.wait_until(lambda: self.types_of(d, h["id"])[-1] == "referral.assigned",
                          what="the offer at start")
        self.assertEqual(self.listed(d), {})


if __name__ == "__main__":
    import unittest
    unittest.main()
