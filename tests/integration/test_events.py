"""protocol.md, "Events", "events (replay)" and `list`.

A monitor subscribes to the PUB socket; a partner or a connector's app
catches up with `events` and `list`. They rely on: two frames with the
type as topic, seq rising by exactly 1, nothing published before it is in
the replay, and no personal data in any event.
"""

import hashlib
import json
import re
import signal
import time

import rdtest
from rdrouting import (EVERYTHING_ELSE, FAMILY_GENK, GENK_POSTCODES, REST, ROUTING_BASIC,
                       ROUTING_ROOMY, basic, connector, genk, psy, psychology, routing, rule)
from rdtest import recv_events, referral, submit_req

EVENT_TYPES = {
    "referral.received", "referral.assigned", "referral.accepted", "referral.declined",
    "referral.offer_expired", "referral.started", "referral.closed", "referral.withdrawn",
    "referral.waitlisted", "referral.forwarded", "referral.window_at_risk",
    "referral.window_missed", "referral.erased", "config.reloaded", "config.rejected",
}
PERSONAL_KEYS = ("family", "note", "children", "postcode")

MARK_NAME = "Vlierbessenstruik"
MARK_NOTE = "Zeer-Persoonlijke-Notitie-4711"
MARK_MAIL = "geheim.adres@voorbeeld.invalid"


def marked_referral(**kw):
    return referral(family={"name": MARK_NAME, "email": MARK_MAIL, "phone": "+32 470 11 22 33",
                            "address": "Kerkplein 3, 3600 Genk"},
                    note=MARK_NOTE, children=[{"age": 17}, {"age": 4}], **kw)


def submit_pipelined(test, d, refs, poll_ms):
    """Submit REFS to D pipelined on one DEALER, then read the replies; TEST
    asserts each is ok and none waited for longer than POLL_MS."""
    s = d.dealer()
    try:
        for r in refs:
            s.send_json(submit_req(r))
        for i in range(len(refs)):
            test.assertTrue(s.poll(poll_ms), "submit %d not answered" % i)
            test.assertOk(json.loads(s.recv()))
    finally:
        s.close(0)

class PubEvents(rdtest.TestCase):
    def setUp(self):
        super().setUp()
        self.d = self.daemon(routing=ROUTING_BASIC)

    def check_event_common(self, frames, ev):
        self.assertEqual(len(frames), 2, "an event is two frames: %r" % (frames,))
        self.assertEqual(frames[0].decode("utf-8"), ev["type"], "topic equals type")
        self.assertIn(ev["type"], EVENT_TYPES)
        self.assertIsInstance(ev["seq"], int)
        self.assertTime(ev["at"], "at")

    def test_submit_publishes_received_then_decision_as_two_frames(self):
        sub = self.d.subscribe()
        base = self.d.last_seq()
        r = referral()
        rep = self.d.submit(r)
        got = recv_events(sub, 2, after_seq=base)
        self.assertEqual(len(got), 2, "want received + assigned, got %r" % (got,))
        for frames, ev in got:
            self.check_event_common(frames, ev)
            self.assertEqual(ev["id"], rep["id"])
            self.assertEqual(ev["partner"], r["partner"])
            self.assertEqual(ev["ref"], r["ref"])
        (_, rec), (_, dec) = got
        self.assertEqual([rec["seq"], dec["seq"]], [base + 1, base + 2])
        self.assertEqual(rec["type"], "referral.received")
        self.assertEqual(rec["status"], "received")
        self.assertEqual(dec["type"], "referral.assigned")
        self.assertEqual(dec["status"], "assigned")
        for k in ("rule", "team", "connector", "start_by"):
            self.assertEqual(dec.get(k), rep[k], k)

    def test_forwarded_and_waitlisted_decisions_are_published(self):
        sub = self.d.subscribe()
        base = self.d.last_seq()
        fwd = self.d.submit(referral(urgency="crisis"))
        ids = [self.d.submit(referral())["id"] for _ in range(4)]  # fills kelly and sophie
        wait = self.d.submit(referral())
        self.assertEqual(wait["status"], "waitlisted")
        got = recv_events(sub, 12, after_seq=base)
        self.assertEqual(len(got), 12)
        by_id = {}
        for frames, ev in got:
            self.check_event_common(frames, ev)
            by_id.setdefault(ev["id"], []).append(ev)
        self.assertEqual([e["type"] for e in by_id[fwd["id"]]],
                         ["referral.received", "referral.forwarded"])
        self.assertEqual(by_id[fwd["id"]][1]["status"], "forwarded")
        self.assertEqual(by_id[fwd["id"]][1]["rule"], "crisis")
        self.assertNotIn("start_by", by_id[fwd["id"]][1])
        self.assertEqual([e["type"] for e in by_id[wait["id"]]],
                         ["referral.received", "referral.waitlisted"])
        self.assertEqual(by_id[wait["id"]][1]["status"], "waitlisted")
        self.assertEqual(by_id[wait["id"]][1]["start_by"], wait["start_by"])
        for i in ids:
            self.assertEqual([e["type"] for e in by_id[i]],
                             ["referral.received", "referral.assigned"])

    def test_seq_rises_by_exactly_one_and_pub_equals_replay(self):
        d = self.daemon(routing=ROUTING_ROOMY)
        sub = d.subscribe()
        base = d.last_seq()
        n = 40
        submit_pipelined(self, d, [referral(urgency="crisis" if i % 3 == 0 else "normal")
                                   for i in range(n)], 10000)
        got = recv_events(sub, 2 * n, after_seq=base, timeout=10)
        seqs = [ev["seq"] for _, ev in got]
        self.assertEqual(seqs, list(range(base + 1, base + 2 * n + 1)),
                         "PUB seq must rise by exactly 1")
        replay = d.ok({"op": "events", "since": base})
        self.assertEqual(replay["last"], base + 2 * n)
        self.assertEqual([ev for _, ev in got], replay["events"],
                         "the published events are the replayed events")
        first_seen = {}
        for _, ev in got:
            first_seen.setdefault(ev["id"], ev["type"])
        self.assertTrue(all(t == "referral.received" for t in first_seen.values()))

    def test_events_are_published_only_after_they_are_in_the_replay(self):
        d = self.daemon(routing=ROUTING_ROOMY)
        sub = d.subscribe()
        base = d.last_seq()
        s = d.dealer()
        try:
            n = 30
            for i in range(n):
                s.send_json(submit_req(referral()))
            seen = 0
            deadline = time.monotonic() + 15
            while seen < 2 * n and time.monotonic() < deadline:
                if not sub.poll(1000):
                    continue
                frames = sub.recv_multipart()
                ev = json.loads(frames[1])
                if ev["seq"] <= base:
                    continue
                seen += 1
                rep = d.ok({"op": "events", "since": ev["seq"] - 1, "limit": 1})
                self.assertGreaterEqual(rep["last"], ev["seq"])
                self.assertEqual(len(rep["events"]), 1,
                                 "event %d was published before it could be replayed" % ev["seq"])
                self.assertEqual(rep["events"][0], ev)
            self.assertEqual(seen, 2 * n)
            for i in range(n):
                self.assertTrue(s.poll(5000))
                s.recv()
        finally:
            s.close(0)

    def test_events_carry_no_personal_data(self):
        sub = self.d.subscribe()
        base = self.d.last_seq()
        a = self.d.submit(marked_referral())
        self.d.submit(marked_referral(urgency="crisis"))
        self.d.ok({"op": "update", "id": a["id"], "status": "accepted", "connector": a["connector"]})
        self.d.ok({"op": "update", "id": a["id"], "status": "started", "connector": a["connector"]})
        self.d.ok({"op": "update", "id": a["id"], "status": "closed", "connector": a["connector"]})
        got = recv_events(sub, 7, after_seq=base)
        self.assertEqual(len(got), 7)
        replay = self.d.ok({"op": "events", "since": base})["events"]
        hist = self.d.ok({"op": "get", "id": a["id"]})["history"]
        for ev in [e for _, e in got] + replay + hist:
            for k in PERSONAL_KEYS:
                self.assertNotIn(k, ev, "event %s carries %s" % (ev.get("type"), k))
            text = json.dumps(ev, ensure_ascii=False)
            for m in (MARK_NAME, MARK_NOTE, MARK_MAIL, "Kerkplein"):
                self.assertNotIn(m, text)
        self.assertNotIn(MARK_NAME, self.d.log())
        self.assertNotIn(MARK_NOTE, self.d.log())

    def test_topic_filter_gets_only_that_type(self):
        sub = self.d.subscribe(topics=["referral.forwarded"])
        base = self.d.last_seq()
        self.d.submit(referral())                       # received + assigned: not for us
        fwd = self.d.submit(referral(urgency="crisis"))  # received + forwarded
        got = recv_events(sub, 2, after_seq=base, timeout=1.5)
        self.assertEqual(len(got), 1, got)
        frames, ev = got[0]
        self.assertEqual(frames[0], b"referral.forwarded")
        self.assertEqual(ev["id"], fwd["id"])
        self.assertEqual(ev["seq"], base + 4)

    def test_state_changes_are_published_in_order(self):
        sub = self.d.subscribe()
        base = self.d.last_seq()
        a = self.d.submit(referral())
        c = a["connector"]
        self.d.ok({"op": "update", "id": a["id"], "status": "accepted", "connector": c})
        self.d.ok({"op": "update", "id": a["id"], "status": "started", "connector": c})
        self.d.ok({"op": "update", "id": a["id"], "status": "closed", "connector": c})
        got = recv_events(sub, 5, after_seq=base)
        self.assertEqual([ev["type"] for _, ev in got],
                         ["referral.received", "referral.assigned", "referral.accepted",
                          "referral.started", "referral.closed"])
        self.assertEqual([ev["status"] for _, ev in got],
                         ["received", "assigned", "accepted", "started", "closed"])
        self.assertEqual([ev["seq"] for _, ev in got], list(range(base + 1, base + 6)))


class Replay(rdtest.TestCase):
    """`events`: since, limit, last."""

    @classmethod
    def setUpClass(cls):
        cls.d = cls.class_daemon(routing=ROUTING_BASIC)
        cls.reps = [cls.d.submit(referral()), cls.d.submit(referral(urgency="crisis")),
                    cls.d.submit(referral(kind="first_line_psychology"))]

    def test_seq_starts_at_1_oldest_first(self):
        rep = self.d.ok({"op": "events", "corr": "e"})
        self.assertEqual(rep["corr"], "e")
        self.assertEqual([e["seq"] for e in rep["events"]], [1, 2, 3, 4, 5, 6])
        self.assertEqual(rep["last"], 6)
        self.assertEqual([e["type"] for e in rep["events"]],
                         ["referral.received", "referral.assigned",
                          "referral.received", "referral.forwarded",
                          "referral.received", "referral.assigned"])
        self.assertEqual([e["id"] for e in rep["events"]],
                         [r["id"] for r in self.reps for _ in (0, 1)])

    def test_since(self):
        self.assertEqual([e["seq"] for e in self.d.ok({"op": "events", "since": 0})["events"]],
                         [1, 2, 3, 4, 5, 6])
        rep = self.d.ok({"op": "events", "since": 2})
        self.assertEqual([e["seq"] for e in rep["events"]], [3, 4, 5, 6])
        self.assertEqual(rep["last"], 6)
        rep = self.d.ok({"op": "events", "since": 6})
        self.assertEqual(rep["events"], [])
        self.assertEqual(rep["last"], 6)
        rep = self.d.ok({"op": "events", "since": 1000})
        self.assertEqual(rep["events"], [])
        self.assertEqual(rep["last"], 6)

    def test_limit(self):
        rep = self.d.ok({"op": "events", "limit": 2})
        self.assertEqual([e["seq"] for e in rep["events"]], [1, 2])
        self.assertEqual(rep["last"], 6, "last is the newest seq, not the last one returned")
        rep = self.d.ok({"op": "events", "since": 3, "limit": 2})
        self.assertEqual([e["seq"] for e in rep["events"]], [4, 5])
        rep = self.d.ok({"op": "events", "limit": 1000000})
        self.assertEqual([e["seq"] for e in rep["events"]], [1, 2, 3, 4, 5, 6],
                         "a large limit is taken as 10000, not refused")

    def test_last_equals_ping_last_seq(self):
        self.assertEqual(self.d.ok({"op": "events"})["last"], self.d.last_seq())

    def test_bad_arguments_are_invalid(self):
        for req, field in [({"op": "events", "since": "0"}, "since"),
                           ({"op": "events", "since": 1.5}, "since"),
                           ({"op": "events", "since": None}, "since"),
                           ({"op": "events", "limit": "10"}, "limit"),
                           ({"op": "events", "limit": [10]}, "limit"),
                           ({"op": "events", "type": "referral.assigned"}, "type")]:
            with self.subTest(req=req):
                self.assertError(self.d.request(req), "invalid", field=field)


class ReplayLimits(rdtest.TestCase):
    """The default limit is 1000; larger limits are capped at 10000."""

    def submit_many(self, d, n, poll_ms):
        """N referrals (two events each: received, then assigned or
        forwarded), pipelined."""
        submit_pipelined(self, d, [referral(urgency="crisis" if i % 2 else "normal")
                                   for i in range(n)], poll_ms)

    def test_default_limit_1000_and_paging(self):
        d = self.daemon(routing=ROUTING_ROOMY)
        n = 510  # 1020 events
        self.submit_many(d, n, 20000)
        rep = d.ok({"op": "events"})
        self.assertEqual(len(rep["events"]), 1000)
        self.assertEqual(rep["events"][0]["seq"], 1)
        self.assertEqual(rep["events"][-1]["seq"], 1000)
        self.assertEqual(rep["last"], 2 * n)
        rep2 = d.ok({"op": "events", "since": 1000})
        self.assertEqual([e["seq"] for e in rep2["events"]], list(range(1001, 2 * n + 1)))
        rep3 = d.ok({"op": "events", "limit": 5000})
        self.assertEqual(len(rep3["events"]), 2 * n)
        self.assertEqual(rep3["events"], rep["events"] + rep2["events"])
        # list: default limit 100, at most what was asked
        lst = d.ok({"op": "list"})
        self.assertEqual(len(lst["referrals"]), 100)
        lst = d.ok({"op": "list", "limit": 1000})
        self.assertEqual(len(lst["referrals"]), n)


    def test_limit_over_10000_is_taken_as_10000(self):
        d = self.daemon(routing=ROUTING_ROOMY)
        n = 5050  # 10100 events
        self.submit_many(d, n, 30000)
        rep = d.ok({"op": "events", "limit": 50000}, timeout=30)
        self.assertEqual(rep["last"], 2 * n)
        # rev 2: a reply holds at most 1 MiB, so 10,000 events of ~200
        # bytes come as pages with "more"; none holds more than 10,000
        self.assertLessEqual(len(json.dumps(rep, separators=(",", ":"))), 1 << 20)
        self.assertLessEqual(len(rep["events"]), 10000)
        self.assertIs(rep.get("more"), True)
        got = [e["seq"] for e in rep["events"]]
        while rep.get("more"):
            rep = d.ok({"op": "events", "since": got[-1], "limit": 50000}, timeout=30)
            self.assertLessEqual(len(rep["events"]), 10000)
            got += [e["seq"] for e in rep["events"]]
        self.assertEqual(got, list(range(1, 2 * n + 1)))
        # list: at most 1000, whatever the limit asked
        rep = d.request({"op": "list", "limit": 5000}, timeout=30)
        if rep.get("ok"):
            self.assertEqual(len(rep["referrals"]), 1000)
        else:
            self.assertError(rep, "invalid", field="limit")


class List(rdtest.TestCase):
    def setUp(self):
        super().setUp()
        self.d = self.daemon(routing=ROUTING_BASIC)
        self.a = self.d.submit(referral())                      # seq 1, 2
        self.b = self.d.submit(referral(urgency="crisis"))      # seq 3, 4
        self.c = self.d.submit(referral(partner="ocmw-hasselt"))  # seq 5, 6

    def ids(self, rep):
        return [r["id"] for r in rep["referrals"]]

    def test_list_all_ordered_by_latest_event(self):
        rep = self.d.ok({"op": "list", "corr": "l"})
        self.assertEqual(rep["corr"], "l")
        self.assertEqual(self.ids(rep), [self.a["id"], self.b["id"], self.c["id"]])
        self.assertEqual([r["seq"] for r in rep["referrals"]], [2, 4, 6])
        self.assertIsInstance(rep["last"], int)
        self.assertGreaterEqual(rep["last"], 6)
        first = rep["referrals"][0]
        for k in ("id", "partner", "ref", "status", "team", "connector", "start_by", "seq"):
            self.assertIn(k, first)
        self.assertEqual(first["partner"], "ocmw-genk")
        self.assertEqual(first["status"], "assigned")
        self.assertEqual(first["team"], self.a["team"])
        self.assertEqual(first["connector"], self.a["connector"])
        self.assertEqual(first["start_by"], self.a["start_by"])
        self.assertEqual(rep["referrals"][2]["partner"], "ocmw-hasselt")
        for r in rep["referrals"]:
            for k in ("family", "note", "children", "postcode"):
                self.assertNotIn(k, r)

    def test_list_by_status(self):
        self.assertEqual(self.ids(self.d.ok({"op": "list", "status": "assigned"})),
                         [self.a["id"], self.c["id"]])
        self.assertEqual(self.ids(self.d.ok({"op": "list", "status": "forwarded"})),
                         [self.b["id"]])
        self.assertEqual(self.ids(self.d.ok({"op": "list", "status": "closed"})), [])

    def test_list_since_and_limit(self):
        self.assertEqual(self.ids(self.d.ok({"op": "list", "since": 2})),
                         [self.b["id"], self.c["id"]])
        self.assertEqual(self.ids(self.d.ok({"op": "list", "since": 6})), [])
        self.assertEqual(self.ids(self.d.ok({"op": "list", "limit": 2})),
                         [self.a["id"], self.b["id"]])
        self.assertEqual(self.ids(self.d.ok({"op": "list", "since": 2, "limit": 1})),
                         [self.b["id"]])

    def test_a_change_moves_the_referral_to_the_end(self):
        self.d.ok({"op": "update", "id": self.a["id"], "status": "accepted",
                   "connector": self.a["connector"]})
        rep = self.d.ok({"op": "list"})
        self.assertEqual(self.ids(rep), [self.b["id"], self.c["id"], self.a["id"]])
        self.assertEqual(rep["referrals"][-1]["seq"], 7)
        self.assertEqual(rep["referrals"][-1]["status"], "accepted")
        rep = self.d.ok({"op": "list", "since": 6})
        self.assertEqual(self.ids(rep), [self.a["id"]])
        self.assertEqual(self.ids(self.d.ok({"op": "list", "status": "assigned"})),
                         [self.c["id"]])

    def test_bad_arguments_are_invalid(self):
        for req, field in [({"op": "list", "status": "nope"}, "status"),
                           ({"op": "list", "status": 1}, "status"),
                           ({"op": "list", "since": "0"}, "since"),
                           ({"op": "list", "limit": "5"}, "limit"),
                           # rev 2: connector and team are filters, of ids
                           ({"op": "list", "connector": "Kelly Peeters"}, "connector"),
                           ({"op": "list", "team": 3}, "team"),
                           ({"op": "list", "status": []}, "status"),
                           ({"op": "list", "status": ["assigned", "nope"]}, "status"),
                           ({"op": "list", "attention": False}, "attention")]:
            with self.subTest(req=req):
                self.assertError(self.d.request(req), "invalid", field=field)


def reloaded_routing(psy_team="psy"):
    """ROUTING_BASIC without the crisis rule, murat (capacity 3) in genk;
    psychology assigned in PSY_TEAM."""
    g = genk(2, GENK_POSTCODES, languages=True)
    g["connectors"].append(connector("murat", 3, languages=True))
    return basic(rules=[psychology(psy_team), FAMILY_GENK, EVERYTHING_ELSE], teams=[g, psy(1)])


ROUTING_RELOADED = reloaded_routing()


class Reload(rdtest.TestCase):
    """SIGHUP (daemon.md; routing.md "Checking and reloading"): a monitor
    sees config.reloaded or config.rejected; a bad file changes nothing."""

    def setUp(self):
        super().setUp()
        self.d = self.daemon(routing=ROUTING_BASIC)

    def reload(self, text):
        sub = self.d.subscribe(topics=["config."], warmup=False)
        # config events are rare: make sure the subscription is in place
        # by reloading the file in force first (emits config.reloaded).
        deadline = time.monotonic() + 5
        base = self.d.last_seq()
        while True:
            self.d.signal(signal.SIGHUP)
            if sub.poll(500):
                break
            self.assertLess(time.monotonic(), deadline, "no config event after SIGHUP")
        while sub.poll(300):
            sub.recv_multipart()
        base = self.d.last_seq()
        with open(self.d.routing_path, "w") as f:
            f.write(text)
        self.d.signal(signal.SIGHUP)
        got = recv_events(sub, 1, after_seq=base, timeout=5)
        self.assertEqual(len(got), 1, "no config event after SIGHUP")
        return got[0]

    def test_valid_file_is_taken_at_once_with_config_reloaded(self):
        before = self.d.submit(referral())
        frames, ev = self.reload(ROUTING_RELOADED)
        self.assertEqual(frames[0], b"config.reloaded")
        self.assertEqual(ev["type"], "config.reloaded")
        self.assertEqual(ev["digest"], hashlib.sha256(ROUTING_RELOADED.encode()).hexdigest())
        self.assertEqual(ev["rules"], 3)
        replay = self.d.ok({"op": "events", "since": ev["seq"] - 1, "limit": 1})["events"]
        self.assertEqual(replay, [ev])
        # the new rules decide from now on: no crisis rule any more
        rep = self.d.submit(referral(urgency="crisis"))
        self.assertEqual(rep["rule"], "family-genk")
        self.assertEqual(rep["status"], "assigned")
        conns = {c["id"] for t in self.d.ok({"op": "stats"})["teams"] for c in t["connectors"]}
        self.assertIn("murat", conns)
        # decided referrals keep their decision and start_by
        got = self.d.ok({"op": "get", "id": before["id"]})
        self.assertEqual(got["start_by"], before["start_by"])
        self.assertEqual(got["connector"], before["connector"])

    def test_invalid_file_is_refused_whole_with_config_rejected(self):
        bad = reloaded_routing(psy_team="nope")
        line = bad.splitlines().index("    assign: {teams: [nope], window: 10d}") + 1
        frames, ev = self.reload(bad)
        self.assertEqual(frames[0], b"config.rejected")
        self.assertEqual(ev["type"], "config.rejected")
        self.assertIsInstance(ev["errors"], int)
        self.assertGreaterEqual(ev["errors"], 1)
        m = re.match(r"^(.*):(\d+):(\d+): (.+)$", ev["error"])
        self.assertTrue(m, "error is not FILE:LINE:COLUMN: message: %r" % ev["error"])
        self.assertTrue(m.group(1).endswith("routing.yaml"), ev["error"])
        self.assertEqual(int(m.group(2)), line, ev["error"])
        # the old file stays in force: crisis is still forwarded, no murat
        rep = self.d.submit(referral(urgency="crisis"))
        self.assertEqual(rep["rule"], "crisis")
        self.assertEqual(rep["status"], "forwarded")
        conns = {c["id"] for t in self.d.ok({"op": "stats"})["teams"] for c in t["connectors"]}
        self.assertNotIn("murat", conns)
        self.assertTrue(self.d.running())


def timer_routing(**defaults):
    """genk (kelly, sophie: 5 each) takes normal and high family support, the
    rest goes to CAW; DEFAULTS of seconds."""
    return routing([rule("fam", {"kind": "family_support", "urgency": ["normal", "high"]},
                         assign="genk"), REST], [genk(5)], **defaults)


ROUTING_WINDOW = timer_routing(window="3s", at_risk="2s", accept_within="1d")
ROUTING_EXPIRY = timer_routing(window="30d", at_risk="7d", accept_within="2s")


class Timers(rdtest.TestCase):
    """Window and offer timers fire once, only for open referrals, and carry
    on across kill -9 (daemon.md: "timers and the event seq carry on")."""

    def events_of(self, d, rid):
        return [e for e in d.all_events() if e.get("id") == rid]

    def types_of(self, d, rid):
        return [e["type"] for e in self.events_of(d, rid)]

    def test_window_at_risk_and_missed_fire_once_for_open_referrals_only(self):
        d = self.daemon(routing=ROUTING_WINDOW)
        t0 = time.monotonic()
        a = d.submit(referral())                       # stays assigned
        b = d.submit(referral())                       # started at once
        c = d.submit(referral())                       # withdrawn at once
        f = d.submit(referral(urgency="crisis"))       # forwarded
        d.ok({"op": "update", "id": b["id"], "status": "started", "connector": b["connector"]})
        d.ok({"op": "update", "id": c["id"], "status": "withdrawn"})
        rdtest.wait_until(lambda: "referral.window_missed" in self.types_of(d, a["id"]),
                          timeout=10, interval=0.2, what="referral.window_missed")
        self.assertGreaterEqual(time.monotonic() - t0, 2.5, "window_missed before start_by")
        # give a wrongly repeating timer the chance to fire again
        end = time.monotonic() + 1.5
        rdtest.wait_until(lambda: time.monotonic() >= end, timeout=3, interval=0.1)
        types = self.types_of(d, a["id"])
        self.assertEqual(types.count("referral.window_at_risk"), 1, types)
        self.assertEqual(types.count("referral.window_missed"), 1, types)
        self.assertLess(types.index("referral.window_at_risk"),
                        types.index("referral.window_missed"))
        for e in self.events_of(d, a["id"]):
            if e["type"].startswith("referral.window_"):
                self.assertEqual(e["status"], "assigned")
        for other in (b, c, f):
            types = self.types_of(d, other["id"])
            self.assertNotIn("referral.window_at_risk", types)
            self.assertNotIn("referral.window_missed", types)

    def test_window_timers_carry_on_across_kill_9(self):
        d = self.daemon(routing=ROUTING_WINDOW)
        a = d.submit(referral())
        d.kill9()
        end = time.monotonic() + 3.5   # start_by passes while the daemon is down
        rdtest.wait_until(lambda: time.monotonic() >= end, timeout=5, interval=0.1)
        d.start()
        rdtest.wait_until(lambda: "referral.window_missed" in self.types_of(d, a["id"]),
                          timeout=8, interval=0.2, what="referral.window_missed after restart")
        types = self.types_of(d, a["id"])
        self.assertEqual(types.count("referral.window_missed"), 1, types)
        self.assertLessEqual(types.count("referral.window_at_risk"), 1, types)
        seqs = [e["seq"] for e in d.all_events()]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)))

    def test_late_start_counts_as_started_not_in_time(self):
        d = self.daemon(routing=ROUTING_WINDOW)
        a = d.submit(referral())
        b = d.submit(referral())
        d.ok({"op": "update", "id": b["id"], "status": "started", "connector": b["connector"]})
        end = time.monotonic() + 3.5  # a's start_by passes
        rdtest.wait_until(lambda: time.monotonic() >= end, timeout=5, interval=0.1)
        d.ok({"op": "update", "id": a["id"], "status": "started", "connector": a["connector"]})
        w = d.ok({"op": "stats"})["window"]
        self.assertEqual((w["started"], w["in_time"]), (2, 1), w)

    def test_retention_erases_final_referrals_automatically(self):
        d = self.daemon(routing=ROUTING_EXPIRY, extra_yaml="retention: 2s")
        closed = d.submit(marked_referral())
        c = closed["connector"]
        d.ok({"op": "update", "id": closed["id"], "status": "started", "connector": c})
        d.ok({"op": "update", "id": closed["id"], "status": "closed", "connector": c})
        fwd = d.submit(marked_referral(urgency="crisis"))
        open_one = d.submit(marked_referral())
        d.ok({"op": "update", "id": open_one["id"], "status": "accepted",
              "connector": open_one["connector"]})
        for rid in (closed["id"], fwd["id"]):
            rdtest.wait_until(lambda: "referral.erased" in self.types_of(d, rid), timeout=10,
                              interval=0.2, what="referral.erased by retention")
            got = d.ok({"op": "get", "id": rid})
            for k in ("family", "note", "children", "postcode"):
                self.assertNotIn(k, got["referral"])
            self.assertEqual(self.types_of(d, rid).count("referral.erased"), 1)
        got = d.ok({"op": "get", "id": open_one["id"]})
        self.assertEqual(got["referral"]["note"], MARK_NOTE, "an open referral is kept whole")
        self.assertNotIn("referral.erased", self.types_of(d, open_one["id"]))

    def test_offer_expires_and_goes_to_the_next_connector(self):
        d = self.daemon(routing=ROUTING_EXPIRY)
        sub = d.subscribe(warmup_referral=referral(kind="first_line_psychology"))
        base = d.last_seq()
        a = d.submit(referral())
        self.assertEqual(a["connector"], "kelly")
        got = recv_events(sub, 4, after_seq=base, timeout=8)
        evs = [ev for _, ev in got]
        self.assertEqual([e["type"] for e in evs],
                         ["referral.received", "referral.assigned",
                          "referral.offer_expired", "referral.assigned"], evs)
        self.assertEqual(evs[2]["status"], "assigned")
        self.assertEqual(evs[2]["connector"], "kelly")
        self.assertEqual(evs[3]["connector"], "sophie")
        self.assertEqual(evs[3]["start_by"], a["start_by"])

    def test_accepted_offer_does_not_expire(self):
        d = self.daemon(routing=ROUTING_EXPIRY)
        a = d.submit(referral())
        d.ok({"op": "update", "id": a["id"], "status": "accepted", "connector": a["connector"]})
        end = time.monotonic() + 3.5
        rdtest.wait_until(lambda: time.monotonic() >= end, timeout=5, interval=0.1)
        self.assertNotIn("referral.offer_expired", self.types_of(d, a["id"]))
        self.assertEqual(d.ok({"op": "get", "id": a["id"]})["status"], "accepted")

    def test_offer_expiry_carries_on_across_kill_9(self):
        d = self.daemon(routing=ROUTING_EXPIRY)
        a = d.submit(referral())
        d.kill9()
        end = time.monotonic() + 2.5
        rdtest.wait_until(lambda: time.monotonic() >= end, timeout=5, interval=0.1)
        d.start()
        rdtest.wait_until(lambda: "referral.offer_expired" in self.types_of(d, a["id"]),
                          timeout=8, interval=0.2, what="referral.offer_expired after restart")
        got = d.ok({"op": "get", "id": a["id"]})
        self.assertIn(got["connector"], ("sophie",), got)


class StderrJournal(rdtest.TestCase):
    """Without a journal (or with REFERRALD_LOG_TARGET=console, as the
    harness starts every daemon), the event lines go to standard error,
    readable and without personal data; journal_events limits them."""

    def test_event_lines_on_stderr_without_journal(self):
        d = self.daemon(routing=ROUTING_BASIC)
        rep = d.submit(marked_referral())
        rdtest.wait_until(lambda: rep["id"] in d.log(), timeout=5,
                          what="an event line naming the referral on stderr")
        log = d.log()
        for m in (MARK_NAME, MARK_NOTE, MARK_MAIL):
            self.assertNotIn(m, log)

    def lines_naming(self, journal_events):
        d = self.daemon(routing=ROUTING_BASIC, extra_yaml="journal_events: %s" % journal_events)
        rep = d.submit(referral(urgency="crisis"))
        d.stop()
        return [l for l in d.log().splitlines() if rep["id"] in l]

    def test_journal_events_none_and_decisions(self):
        all_lines = self.lines_naming("all")
        decisions = self.lines_naming("decisions")
        none = self.lines_naming("none")
        self.assertEqual(none, [], "journal_events: none writes no event lines")
        self.assertGreaterEqual(len(decisions), 1, "the decision is still written")
        self.assertLess(len(decisions), len(all_lines), "decisions leaves out received")


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
