"""The life of a referral after its first decision, with windows of seconds.

protocol.md "update", "Declines and expiry", "The waitlist", "Events" (window
events), "stats"; routing.md (durations, defaults); daemon.md "Signals and
lifecycle" (kill -9: timers and the event seq carry on).

Seen as a connector's app and a coordinator see it: replies, the events
replay and stats. Every wait is bounded (rdtest.wait_until polling the
replay); margins are generous because the machine is small and busy: a timer
may fire up to SLACK seconds late, never early.
"""

import datetime

import rdtest
from rdrouting import CAW, CRISIS, FAM, REST, genk, routing, rule, windows
from rdtest import parse_time, referral, utcnow

SLACK = 3.0            # a timer may fire this late on a loaded machine
EARLY = 0.02           # ms rounding of `at` and `start_by`
SETTLE = 1.5           # how long we give a wrongly repeating timer to fire again
SEC = datetime.timedelta(seconds=1)

def expiry_routing(accept_within="2s"):
    """Offers lapse after ACCEPT_WITHIN; no window event within the test
    (window 60 s)."""
    return routing([CRISIS, rule("fam", {"kind": "family_support"}, assign="genk",
                                 otherwise=(CAW, "no connector can take it in time")), REST],
                   [genk(5)], window="60s", accept_within=accept_within, at_risk="1s")


ROUTING_EXPIRY = expiry_routing()

# Windows of 8 s, at risk 4 s before; offers do not lapse within the test.
ROUTING_WINDOW = windows("8s", "4s")

# For kill -9 while deadlines pass: windows of 4 s (at risk 2 s before) for
# family support; partner "lapse" gets offers that lapse after 2 s.
ROUTING_DOWN = routing(
    [rule("lapse", {"partner": "lapse"},
          assign={"teams": ["genk"], "window": "60s", "accept_within": "2s"},
          otherwise=(CAW, "no connector can take it in time")), FAM, REST],
    [genk(5)], window="4s", accept_within="60s", at_risk="2s")

# One connector with room for one family: everything else waits.
ROUTING_WAITLIST = routing(
    [CRISIS,
     rule("once", {"partner": "once-only"}, assign="genk",
          otherwise=(CAW, "no connector can take it in time")),
     rule("short", {"partner": "short-window"},
          assign={"teams": ["genk"], "window": "60s", "accept_within": "2s"},
          otherwise="waitlist"),
     rule("fam", {"kind": "family_support"}, assign="genk", otherwise="waitlist"), REST],
    [genk(1, people=["kelly"])], window="120s", accept_within="60s", at_risk="1s")


def secs(a, b):
    """Seconds from datetime A to datetime B."""
    return (b - a).total_seconds()


def nearest_rank(values, pct):
    v = sorted(values)
    return v[(len(v) * pct + 99) // 100 - 1]


class LifeCase(rdtest.TestCase):
    """Helpers that read only what a client reads: replies, replay, stats."""

    def events_of(self, d, rid, etype=None, connector=None):
        return [e for e in d.all_events()
                if e.get("id") == rid and (etype is None or e["type"] == etype)
                and (connector is None or e.get("connector") == connector)]

    def types_of(self, d, rid):
        return [e["type"] for e in self.events_of(d, rid)]

    def wait_event(self, d, rid, etype, connector=None, timeout=10.0):
        """Wait (bounded) until the replay holds an ETYPE event of RID (for
        CONNECTOR); return the first such event."""
        def pred():
            es = self.events_of(d, rid, etype, connector)
            return es[0] if es else None
        return rdtest.wait_until(pred, timeout=timeout, interval=0.1,
                                 what="%s of %s%s" % (etype, rid,
                                                      " (%s)" % connector if connector else ""))

    def wait_past(self, d, when, timeout=15.0):
        """Wait (bounded) until the wall clock is past WHEN, reading the
        replay meanwhile (the daemon keeps answering); return the events."""
        box = []

        def pred():
            box[:] = [d.all_events()]
            return utcnow() >= when
        rdtest.wait_until(pred, timeout=timeout, interval=0.1,
                          what="the clock to pass %s" % when.isoformat())
        return box[0]

    def assert_seq_contiguous(self, d):
        evs = d.all_events()
        last = d.ok({"op": "events", "limit": 1})["last"]
        self.assertEqual([e["seq"] for e in evs], list(range(1, last + 1)),
                         "seq must rise by exactly 1 from 1 to last")
        self.assertEqual(d.last_seq(), last)
        return evs

    def assert_timed(self, got, lo, hi, what):
        """GOT (a datetime) lies in [LO - EARLY, HI]."""
        self.assertGreaterEqual(secs(lo, got), -EARLY,
                                "%s too early: %s, not before %s" % (what, got, lo))
        self.assertLessEqual(secs(lo, got), secs(lo, hi),
                             "%s too late: %s, want by %s" % (what, got, hi))

    def at(self, ev):
        return parse_time(ev["at"])

    def update(self, d, rid, status, **kw):
        req = {"op": "update", "id": rid, "status": status}
        req.update(kw)
        return d.ok(req)

    def figures(self, d, evs, ids):
        """From the replay: (time to first offer, time to start) in seconds
        for the referrals IDS, as lists."""
        to_offer, to_start = [], []
        for rid in ids:
            es = [e for e in evs if e.get("id") == rid]
            rec = self.at(es[0])
            offers = [e for e in es if e["type"] == "referral.assigned"]
            starts = [e for e in es if e["type"] == "referral.started"]
            if offers:
                to_offer.append(secs(rec, self.at(offers[0])))
            if starts:
                to_start.append(secs(rec, self.at(starts[0])))
        return to_offer, to_start

    def assert_durations(self, got, want, what):
        """stats' {count, p50_s, p90_s} against durations WANT (seconds)."""
        self.assertEqual(got["count"], len(want), "%s count: %r" % (what, got))
        if not want:
            return
        for key, pct in (("p50_s", 50), ("p90_s", 90)):
            w = nearest_rank(want, pct)
            self.assertIsInstance(got[key], (int, float), "%s %s: %r" % (what, key, got))
            self.assertLessEqual(abs(got[key] - w), 1.0,
                                 "%s %s: %r, want about %.2f s (from %r)"
                                 % (what, key, got, w, want))

    def loads(self, stats):
        return {c["id"]: (c["load"], c["capacity"])
                for t in stats["teams"] for c in t["connectors"]}


class OfferExpiry(LifeCase):
    """An offer neither accepted nor started within accept_within lapses; the
    lapsed connector is not offered it again; a held offer does not lapse."""

    def test_offer_lapses_goes_on_and_never_returns_to_who_let_it_lapse(self):
        d = self.daemon(routing=ROUTING_EXPIRY)
        r1 = d.submit(referral())                            # left alone twice
        self.assertEqual((r1["status"], r1["connector"]), ("assigned", "kelly"))
        r2 = d.submit(referral())                            # accepted at once
        self.assertEqual(r2["connector"], "sophie")
        self.update(d, r2["id"], "accepted", connector="sophie")
        r3 = d.submit(referral())                            # started at once from assigned
        self.assertEqual(r3["connector"], "kelly")
        self.update(d, r3["id"], "started", connector="kelly")
        offered = self.at(self.events_of(d, r1["id"], "referral.assigned")[0])

        # kelly lets it lapse: offer_expired (status assigned, connector kelly),
        # and at once the next decision: sophie, the other connector
        exp1 = self.wait_event(d, r1["id"], "referral.offer_expired", "kelly",
                               timeout=2 + SLACK + 5)
        self.assert_timed(self.at(exp1), offered + 2 * SEC, offered + (2 + SLACK) * SEC,
                          "kelly's offer_expired")
        self.assertEqual(exp1["status"], "assigned", exp1)
        self.assertEqual(exp1["start_by"], r1["start_by"], exp1)
        after = [e for e in self.events_of(d, r1["id"]) if e["seq"] > exp1["seq"]]
        self.assertEqual(after[0]["type"], "referral.assigned", after)
        self.assertEqual(after[0]["seq"], exp1["seq"] + 1, "the new decision follows")
        self.assertEqual(after[0]["connector"], "sophie", after)
        self.assertEqual(after[0]["start_by"], r1["start_by"], "start_by stays")

        # sophie lets it lapse too: nobody left, so the rule's otherwise
        exp2 = self.wait_event(d, r1["id"], "referral.offer_expired", "sophie",
                               timeout=2 + SLACK + 5)
        self.assert_timed(self.at(exp2), self.at(after[0]) + 2 * SEC,
                          self.at(after[0]) + (2 + SLACK) * SEC, "sophie's offer_expired")
        self.assertEqual(exp2["status"], "assigned", exp2)
        fwd = self.wait_event(d, r1["id"], "referral.forwarded", timeout=5)
        self.assertEqual(fwd["seq"], exp2["seq"] + 1, "the new decision follows")
        self.assertEqual(fwd.get("forward_to", "caw-limburg"), "caw-limburg", fwd)

        # give a wrong timer the chance to fire again, then check it all
        self.wait_past(d, self.at(exp2) + SETTLE * SEC)
        evs = self.events_of(d, r1["id"])
        self.assertEqual([e.get("connector") for e in evs if e["type"] == "referral.assigned"],
                         ["kelly", "sophie"], "a connector who let it lapse is not offered again")
        self.assertEqual([e["connector"] for e in evs if e["type"] == "referral.offer_expired"],
                         ["kelly", "sophie"])
        self.assertEqual(d.ok({"op": "get", "id": r1["id"]})["status"], "forwarded")

        # held offers did not lapse (both are well past accept_within + slack by now)
        self.assertGreater(secs(offered, utcnow()), 2 + SLACK)
        for rep, status in ((r2, "accepted"), (r3, "started")):
            self.assertNotIn("referral.offer_expired", self.types_of(d, rep["id"]))
            got = d.ok({"op": "get", "id": rep["id"]})
            self.assertEqual((got["status"], got["connector"]), (status, rep["connector"]))
        self.assertEqual(self.loads(d.ok({"op": "stats"})),
                         {"kelly": (1, 5), "sophie": (1, 5)},
                         "lapsed offers no longer count as load")
        self.assert_seq_contiguous(d)

    def test_reassigned_offer_has_its_own_accept_within(self):
        # protocol.md "update": a coordinator's re-assignment is "a new offer
        # with its own accept_within"; the old offer's timer must not end it
        d = self.daemon(routing=ROUTING_EXPIRY)
        r = d.submit(referral())
        self.assertEqual(r["connector"], "kelly")
        offered = self.at(self.events_of(d, r["id"], "referral.assigned")[0])
        self.wait_past(d, offered + 1 * SEC)
        if self.events_of(d, r["id"], "referral.offer_expired"):
            self.skipTest("machine too slow: the offer lapsed before the re-assignment")
        self.update(d, r["id"], "assigned", connector="sophie")
        moved = self.events_of(d, r["id"], "referral.assigned")
        self.assertEqual([e["connector"] for e in moved], ["kelly", "sophie"])
        reoffered = self.at(moved[1])
        exp = self.wait_event(d, r["id"], "referral.offer_expired", timeout=2 + SLACK + 5)
        self.assertEqual(exp["connector"], "sophie", "kelly's old offer has no timer left")
        self.assert_timed(self.at(exp), reoffered + 2 * SEC, reoffered + (2 + SLACK) * SEC,
                          "the re-assigned offer's expiry")
        # kelly did not let it lapse (it was taken from her): she may get it again
        nxt = [e for e in self.events_of(d, r["id"]) if e["seq"] > exp["seq"]]
        self.assertEqual((nxt[0]["type"], nxt[0].get("connector")),
                         ("referral.assigned", "kelly"), nxt)
        self.assertEqual(len(self.events_of(d, r["id"], "referral.offer_expired", "kelly")), 0)
        self.assert_seq_contiguous(d)


class WindowEvents(LifeCase):
    """window_at_risk once when start_by - now <= at_risk and not started;
    window_missed once when start_by passes; none for referrals started in
    time, forwarded, withdrawn or closed first. Then stats, against what
    the test did."""

    def test_window_events_and_stats(self):
        d = self.daemon(routing=ROUTING_WINDOW)
        reps = {}
        reps["A"] = d.submit(referral())                                  # left alone, started late
        reps["B"] = d.submit(referral())                                  # started at once
        reps["C"] = d.submit(referral())                                  # withdrawn at once
        reps["D"] = d.submit(referral())                                  # started and closed
        reps["E"] = d.submit(referral())                                  # forwarded by a coordinator
        reps["F"] = d.submit(referral())                                  # accepted, started when at risk
        reps["P1"] = d.submit(referral(kind="first_line_psychology"))     # offered, left alone
        reps["P2"] = d.submit(referral(kind="first_line_psychology"))     # waits, left alone
        reps["X"] = d.submit(referral(urgency="crisis"))                  # forwarded by its rule
        self.assertEqual(reps["P2"]["status"], "waitlisted", reps["P2"])
        self.assertEqual(reps["X"]["status"], "forwarded", reps["X"])
        ids = {k: v["id"] for k, v in reps.items()}
        self.update(d, ids["B"], "started", connector=reps["B"]["connector"])
        self.update(d, ids["C"], "withdrawn")
        self.update(d, ids["D"], "started", connector=reps["D"]["connector"])
        self.update(d, ids["D"], "closed", connector=reps["D"]["connector"])
        self.update(d, ids["E"], "forwarded", forward_to="caw-limburg",
                    reason="better served by the CAW")
        self.update(d, ids["F"], "accepted", connector=reps["F"]["connector"])
        start_by = {k: parse_time(v["start_by"]) for k, v in reps.items() if "start_by" in v}
        for k in ("A", "B", "C", "D", "E", "F", "P1", "P2"):
            self.assertIn(k, start_by, "assigned and waitlisted referrals have start_by")
        self.assertNotIn("X", start_by, "a forwarded referral has no window")

        # F is started once it was at risk, before its start_by: in time
        risk_f = self.wait_event(d, ids["F"], "referral.window_at_risk", timeout=4 + SLACK + 5)
        self.update(d, ids["F"], "started", connector=reps["F"]["connector"])
        self.assertLess(utcnow(), start_by["F"], "F must start in time for this test")

        # wait until every window has passed, with room for late timers
        for k in ("A", "P1", "P2"):
            self.wait_event(d, ids[k], "referral.window_missed", timeout=8 + SLACK + 5)
        self.wait_past(d, max(start_by.values()) + SETTLE * SEC)

        at_risk = datetime.timedelta(seconds=4)
        for k, status in (("A", "assigned"), ("P1", "assigned"), ("P2", "waitlisted")):
            with self.subTest(referral=k):
                evs = self.events_of(d, ids[k])
                types = [e["type"] for e in evs]
                self.assertEqual(types.count("referral.window_at_risk"), 1, types)
                self.assertEqual(types.count("referral.window_missed"), 1, types)
                risk = evs[types.index("referral.window_at_risk")]
                miss = evs[types.index("referral.window_missed")]
                self.assertLess(risk["seq"], miss["seq"])
                self.assert_timed(self.at(risk), start_by[k] - at_risk,
                                  start_by[k] - at_risk + SLACK * SEC, "window_at_risk of " + k)
                self.assert_timed(self.at(miss), start_by[k], start_by[k] + SLACK * SEC,
                                  "window_missed of " + k)
                for e in (risk, miss):
                    self.assertEqual(e["status"], status, e)
                    self.assertEqual(e["start_by"], reps[k]["start_by"], e)
        self.assert_timed(self.at(risk_f), start_by["F"] - at_risk,
                          start_by["F"] - at_risk + SLACK * SEC, "window_at_risk of F")
        types = self.types_of(d, ids["F"])
        self.assertEqual(types.count("referral.window_at_risk"), 1, types)
        self.assertNotIn("referral.window_missed", types, "F started in time")
        for k in ("B", "C", "D", "E", "X"):
            types = self.types_of(d, ids[k])
            self.assertNotIn("referral.window_at_risk", types, k)
            self.assertNotIn("referral.window_missed", types, k)

        # A is started after all, late
        self.update(d, ids["A"], "started", connector=reps["A"]["connector"])

        # stats, against what happened
        evs = self.assert_seq_contiguous(d)
        st = d.ok({"op": "stats"})
        self.assertEqual({k: v for k, v in st["by_status"].items() if v},
                         {"started": 3, "closed": 1, "withdrawn": 1, "forwarded": 2,
                          "assigned": 1, "waitlisted": 1})
        want_load = {"kelly": 0, "sophie": 0, "psy-1": 0}
        for k in ("A", "B", "F", "P1"):                       # open with a connector
            want_load[reps[k]["connector"]] += 1
        self.assertEqual(self.loads(st), {"kelly": (want_load["kelly"], 10),
                                          "sophie": (want_load["sophie"], 10),
                                          "psy-1": (want_load["psy-1"], 1)})
        self.assertEqual(st["window"]["started"], 4, st["window"])      # A, B, D, F
        self.assertEqual(st["window"]["in_time"], 3, st["window"])      # not A
        if "share_in_time" in st["window"]:
            self.assertAlmostEqual(st["window"]["share_in_time"], 0.75, places=3)
        to_offer, to_start = self.figures(d, evs, ids.values())
        self.assertEqual(len(to_offer), 7)                  # all but P2 and X
        self.assertEqual(len(to_start), 4)
        self.assert_durations(st["time_to_offer"], to_offer, "time_to_offer")
        self.assert_durations(st["time_to_start"], to_start, "time_to_start")
        fw = st["forwarded"]
        self.assertEqual(fw["count"], 2, fw)
        self.assertAlmostEqual(fw["share"], 2 / 9, places=3)
        self.assertEqual(sorted((t["to"], t["count"]) for t in fw["to"]),
                         [("caw-limburg", 1), ("cgg-limburg", 1)])
        self.assertEqual(st["waitlist"]["length"], 1, st["waitlist"])
        self.assertEqual(parse_time(st["waitlist"]["oldest"]),
                         self.at(self.events_of(d, ids["P2"])[0]), st["waitlist"])


class KillNine(LifeCase):
    """daemon.md: the database survives kill -9 at any moment; timers carry
    on: an expiry fires once, at its time; deadlines that passed while the
    daemon was down fire at once on restart, once each."""

    def test_kill_9_between_offer_and_expiry(self):
        d = self.daemon(routing=expiry_routing("3s"))
        r = d.submit(referral())
        self.assertEqual(r["connector"], "kelly")
        offered = self.at(self.events_of(d, r["id"], "referral.assigned")[0])
        self.wait_past(d, offered + 1 * SEC)
        if self.events_of(d, r["id"], "referral.offer_expired"):
            self.skipTest("machine too slow: the offer lapsed before the kill")
        d.kill9()
        d.start()

        exp = self.wait_event(d, r["id"], "referral.offer_expired", "kelly",
                              timeout=3 + SLACK + 10)
        self.assert_timed(self.at(exp), offered + 3 * SEC, offered + (3 + SLACK) * SEC,
                          "offer_expired after kill -9")
        self.assertEqual(exp["status"], "assigned")
        nxt = [e for e in self.events_of(d, r["id"]) if e["seq"] > exp["seq"]]
        self.assertEqual((nxt[0]["type"], nxt[0].get("connector")),
                         ("referral.assigned", "sophie"), nxt)
        # sophie's offer (made after the restart) lapses at its own time
        exp2 = self.wait_event(d, r["id"], "referral.offer_expired", "sophie",
                               timeout=3 + SLACK + 5)
        self.assert_timed(self.at(exp2), self.at(nxt[0]) + 3 * SEC,
                          self.at(nxt[0]) + (3 + SLACK) * SEC, "sophie's offer_expired")
        self.wait_past(d, self.at(exp2) + SETTLE * SEC)
        evs = self.events_of(d, r["id"])
        self.assertEqual([e["connector"] for e in evs if e["type"] == "referral.offer_expired"],
                         ["kelly", "sophie"], "each expiry once, not twice, not never")
        self.assertEqual([e["connector"] for e in evs if e["type"] == "referral.assigned"],
                         ["kelly", "sophie"])
        self.assertEqual(evs[-1]["type"], "referral.forwarded", evs)
        self.assert_seq_contiguous(d)

    def test_kill_9_while_start_by_passes(self):
        d = self.daemon(routing=ROUTING_DOWN)
        a = d.submit(referral())                      # window 4 s, at risk 2 s before
        x = d.submit(referral(partner="lapse"))       # offer lapses after 2 s
        self.assertEqual((a["status"], x["status"], x["connector"]),
                         ("assigned", "assigned", "sophie"))
        if self.types_of(d, a["id"]).count("referral.window_at_risk"):
            self.skipTest("machine too slow: at risk before the kill")
        d.kill9()
        start_by = parse_time(a["start_by"])
        down_until = start_by + 0.5 * SEC
        rdtest.wait_until(lambda: utcnow() >= down_until, timeout=10, interval=0.05,
                          what="start_by to pass while the daemon is down")
        restarted = utcnow()
        d.start()

        miss = self.wait_event(d, a["id"], "referral.window_missed", timeout=SLACK + 5)
        risk = self.wait_event(d, a["id"], "referral.window_at_risk", timeout=2)
        exp = self.wait_event(d, x["id"], "referral.offer_expired", "sophie", timeout=SLACK + 5)
        for e, what in ((risk, "window_at_risk"), (miss, "window_missed"),
                        (exp, "offer_expired")):
            self.assert_timed(self.at(e), restarted, restarted + SLACK * SEC,
                              what + " at once after the restart")
        self.assertLess(risk["seq"], miss["seq"])
        self.assertEqual(miss["status"], "assigned")

        # once each, also after a wait and after one more kill -9
        self.wait_past(d, utcnow() + SETTLE * SEC)
        d.kill9()
        d.start()
        self.wait_past(d, utcnow() + SETTLE * SEC)
        types = self.types_of(d, a["id"])
        self.assertEqual(types.count("referral.window_at_risk"), 1, types)
        self.assertEqual(types.count("referral.window_missed"), 1, types)
        xs = self.events_of(d, x["id"], "referral.offer_expired", "sophie")
        self.assertEqual(len(xs), 1, xs)
        self.assertNotIn("sophie", [e.get("connector") for e in self.events_of(d, x["id"])
                                    if e["type"] == "referral.assigned"
                                    and e["seq"] > exp["seq"]])
        self.assert_seq_contiguous(d)


class Waitlist(LifeCase):
    """protocol.md "The waitlist": when capacity frees (close, withdraw,
    decline, expiry, a forward) the waiting referrals that the freed
    connector may take are served: highest urgency first, then earliest
    start_by. A waiting referral keeps its start_by."""

    def test_waitlist_served_on_decline_close_withdraw_and_expiry(self):
        d = self.daemon(routing=ROUTING_WAITLIST)
        b1 = d.submit(referral(partner="once-only"))
        self.assertEqual((b1["status"], b1["connector"]), ("assigned", "kelly"))
        w = {}
        last = utcnow()
        for name, kw in (("W1", {}), ("W2", {"urgency": "high"}), ("W3", {}),
                         ("W4", {"urgency": "high"}), ("W5", {"partner": "short-window"}),
                         ("W6", {})):
            # distinct receipt times, so that start_by orders them strictly
            rdtest.wait_until(lambda: utcnow() >= last + datetime.timedelta(milliseconds=5),
                              timeout=2, interval=0.002)
            w[name] = d.submit(referral(**kw))
            last = utcnow()
            self.assertEqual(w[name]["status"], "waitlisted", (name, w[name]))
        sb = {k: parse_time(v["start_by"]) for k, v in w.items()}
        self.assertLess(sb["W5"], sb["W1"], "W5's rule has the shorter window")
        self.assertLess(sb["W1"], sb["W3"])
        self.assertLess(sb["W3"], sb["W6"])
        ids = {k: v["id"] for k, v in w.items()}

        def status(k):
            return d.ok({"op": "get", "id": ids[k]})

        def served_next(want):
            got = rdtest.wait_until(
                lambda: [k for k in ids if status(k)["status"] == "assigned"],
                timeout=5, interval=0.05, what="a waiting referral to be served")
            self.assertEqual(got, [want])
            rep = status(want)
            self.assertEqual(rep["connector"], "kelly")
            self.assertEqual(rep["start_by"], w[want]["start_by"], "a waiting referral keeps start_by")
            return rep

        # decline frees kelly: the declined one goes by its rule's otherwise;
        # W2 (high, earliest of the high) is served
        self.update(d, b1["id"], "declined", connector="kelly", reason="no room after all")
        dec = self.events_of(d, b1["id"], "referral.declined")
        self.assertEqual(len(dec), 1)
        self.assertEqual((dec[0]["status"], dec[0]["connector"]), ("assigned", "kelly"))
        self.assertEqual(d.ok({"op": "get", "id": b1["id"]})["status"], "forwarded")
        served_next("W2")

        # close frees kelly: W4 (high)
        self.update(d, ids["W2"], "started", connector="kelly")
        self.update(d, ids["W2"], "closed", connector="kelly")
        served_next("W4")

        # withdraw frees kelly: W5 (normal, earliest start_by, not first in)
        self.update(d, ids["W4"], "withdrawn")
        served_next("W5")
        offered = self.at(self.events_of(d, ids["W5"], "referral.assigned")[-1])

        # W5's offer lapses (its rule: accept_within 2 s): W1 is served; W5
        # waits again (kelly let it lapse), with the same start_by
        exp = self.wait_event(d, ids["W5"], "referral.offer_expired", "kelly",
                              timeout=2 + SLACK + 5)
        self.assert_timed(self.at(exp), offered + 2 * SEC, offered + (2 + SLACK) * SEC,
                          "W5's offer_expired")
        served_next("W1")
        w5 = status("W5")
        self.assertEqual((w5["status"], w5["start_by"]), ("waitlisted", w["W5"]["start_by"]))
        for k in ("W3", "W6"):
            self.assertEqual(status(k)["status"], "waitlisted", k)
            self.assertEqual(status(k)["start_by"], w[k]["start_by"], k)

        # stats, against what happened
        evs = self.assert_seq_contiguous(d)
        st = d.ok({"op": "stats"})
        self.assertEqual({k: v for k, v in st["by_status"].items() if v},
                         {"forwarded": 1, "closed": 1, "withdrawn": 1, "assigned": 1,
                          "waitlisted": 3})
        self.assertEqual(self.loads(st), {"kelly": (1, 1)})
        self.assertEqual((st["window"]["started"], st["window"]["in_time"]), (1, 1))
        if "share_in_time" in st["window"]:
            self.assertAlmostEqual(st["window"]["share_in_time"], 1.0)
        all_ids = [b1["id"]] + list(ids.values())
        to_offer, to_start = self.figures(d, evs, all_ids)
        self.assertEqual(len(to_offer), 5)            # B1, W2, W4, W5, W1
        self.assertEqual(len(to_start), 1)            # W2
        self.assert_durations(st["time_to_offer"], to_offer, "time_to_offer")
        self.assert_durations(st["time_to_start"], to_start, "time_to_start")
        fw = st["forwarded"]
        self.assertEqual(fw["count"], 1, fw)
        self.assertAlmostEqual(fw["share"], 1 / 7, places=3)
        self.assertEqual([(t["to"], t["count"]) for t in fw["to"]], [("caw-limburg", 1)])
        self.assertEqual(st["waitlist"]["length"], 3, st["waitlist"])
        self.assertEqual(parse_time(st["waitlist"]["oldest"]),
                         self.at(self.events_of(d, ids["W3"])[0]),
                         "the oldest waiting referral is W3: %r" % (st["waitlist"],))

        # a coordinator's forward frees kelly too: W5 waits with the earliest
        # start_by, but kelly let it lapse, so W3 is served
        self.update(d, ids["W1"], "forwarded", forward_to="cgg-limburg",
                    reason="needs specialised care")
        served_next("W3")
        self.assertEqual(status("W5")["status"], "waitlisted")
        self.assertEqual(status("W6")["status"], "waitlisted")
        self.assertNotIn("kelly", [e["connector"] for e in self.events_of(d, ids["W5"])
                                   if e["type"] == "referral.assigned"
                                   and e["seq"] > exp["seq"]])
        self.assert_seq_contiguous(d)


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
