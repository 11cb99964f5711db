"""Reason codes and reasons on `update` (protocol.md rev 2), as a connector's
app and a coordinator's tool use them.

`declined`, `withdrawn` and `closed` take a `reason_code` from a fixed list
per status and a free-text `reason`. The code goes into the event, the
journal and the figures; the text may describe the family: it is kept with
the referral, shown by `get` in `reasons` (and audited), erased with the
personal data, and never in an event (over the wire or replayed), the
journal or standard error, or the database's events table.
"""

import os
import sqlite3
import subprocess

import rdtest
from rdrouting import basic
from rdtest import referral

REFERRALCTL = os.environ.get("REFERRALCTL") or os.path.join(rdtest.SOURCE_DIR, "build",
                                                            "referralctl")
MARKER = "MARKER-c41d"

CODES = {
    "declined": ["no_capacity", "language", "distance", "conflict_of_interest", "not_suitable",
                 "other"],
    "withdrawn": ["family_declined", "family_unreachable", "need_resolved", "moved", "other"],
    "closed": ["goals_reached", "partly_reached", "family_stopped", "referred_on", "other"],
}


def zeros(change, **given):
    """The counts stats gives for CHANGE: every code of its list, then none,
    in that order, 0 but where GIVEN says otherwise."""
    counts = {code: 0 for code in CODES[change] + ["none"]}
    counts.update(given)
    return counts


def text(n):
    return "%s %d: the mother lost her job and the family sleeps at her sister's" % (MARKER, n)


class Reasons(rdtest.TestCase):

    def update(self, d, rid, status, **kw):
        req = {"op": "update", "id": rid, "status": status}
        req.update(kw)
        return d.request(req)

    def ok_update(self, d, rid, status, **kw):
        rep = self.update(d, rid, status, **kw)
        self.assertOk(rep)
        return rep

    def ctl(self, d, *args):
        return subprocess.run([REFERRALCTL, "-e", d.intake] + list(args), capture_output=True,
                              text=True, timeout=30, env=rdtest.clean_env())

    def test_the_code_goes_into_events_and_the_text_only_to_get(self):
        d = self.daemon(routing=basic(capacity=5))
        sub = d.subscribe()
        base = d.last_seq()
        a, b, c = (d.submit(referral()) for _ in range(3))
        self.ok_update(d, a["id"], "declined", connector=a["connector"], reason_code="language",
                       reason=text(1))
        self.ok_update(d, b["id"], "withdrawn", reason_code="family_unreachable", reason=text(2))
        self.ok_update(d, c["id"], "started", connector=c["connector"])
        self.ok_update(d, c["id"], "closed", connector=c["connector"],
                       reason_code="goals_reached", reason=text(3))

        evs = d.all_events(base)
        coded = {(e["type"], e["id"]): e for e in evs if "reason_code" in e}
        self.assertEqual(coded[("referral.declined", a["id"])]["reason_code"], "language")
        self.assertEqual(coded[("referral.withdrawn", b["id"])]["reason_code"],
                         "family_unreachable")
        self.assertEqual(coded[("referral.closed", c["id"])]["reason_code"], "goals_reached")
        self.assertEqual(len(coded), 3, coded)
        for e in evs:
            self.assertNotIn("reason", e, e)

        # get shows both, oldest first, with who and when
        g = d.ok({"op": "get", "id": a["id"]})
        self.assertEqual(len(g["reasons"]), 1)
        why = g["reasons"][0]
        self.assertEqual((why["status"], why["connector"], why["reason_code"], why["reason"]),
                         ("declined", a["connector"], "language", text(1)))
        self.assertTime(why["at"])
        self.assertEqual(d.ok({"op": "get", "id": b["id"]})["reasons"][0]["reason"], text(2))

        # the text is nowhere else: the PUB socket, a replay, the log, the events table
        got = rdtest.recv_events(sub, len(evs), after_seq=base)
        self.assertEqual(len(got), len(evs))
        for frames, _ in got:
            self.assertNotIn(MARKER.encode(), b"".join(frames))
        replay = d.request({"op": "events", "since": 0, "limit": 10000})
        self.assertNotIn(MARKER, str(replay))
        self.assertIn("goals_reached", d.log(), "the code is in the log")
        self.assertNotIn(MARKER, d.log())
        cells = self.events_table(d)
        self.assertTrue(cells)
        self.assertFalse([x for x in cells if MARKER in x])

    def events_table(self, d):
        """Every column of every row of D's events table, as text: on
        SQLite the JSON of rows kept before and the compact form (ev) of
        those kept since schema version 10; on PostgreSQL each row whole."""
        if d.store == "postgresql":
            return [row[0] for row in d.pg_psql("select x::text from events x")]
        db = sqlite3.connect("file:%s?mode=ro" % d.database_path, uri=True)
        try:
            rows = [r for r in db.execute("SELECT * FROM events")]
        finally:
            db.close()
        return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)
                for r in rows for x in r]

    def test_each_status_takes_its_own_codes_only(self):
        d = self.daemon(routing=basic(capacity=100))
        for status, codes in CODES.items():
            for other, theirs in CODES.items():
                for code in theirs:
                    with self.subTest(status=status, code=code):
                        r = d.submit(referral())
                        kw = {"reason_code": code}
                        if status == "closed":
                            self.ok_update(d, r["id"], "started", connector=r["connector"])
                        if status != "withdrawn":
                            kw["connector"] = r["connector"]
                        before = d.last_seq()
                        rep = self.update(d, r["id"], status, **kw)
                        if code in codes:
                            self.assertOk(rep)
                            continue
                        self.assertError(rep, "invalid", field="reason_code")
                        self.assertEqual(d.last_seq(), before, "a refused update changes nothing")
        # on any other status a code is invalid; the state machine comes first
        r = d.submit(referral())
        self.assertError(self.update(d, r["id"], "accepted", connector=r["connector"],
                                     reason_code="other"), "invalid", field="reason_code")
        other = "kelly" if r["connector"] == "sophie" else "sophie"
        self.assertError(self.update(d, r["id"], "assigned", connector=other,
                                     reason_code="other"), "invalid", field="reason_code")
        self.assertError(self.update(d, r["id"], "closed", connector=r["connector"],
                                     reason_code="banana"), "conflict", field="status")
        self.assertError(self.update(d, r["id"], "declined", connector=r["connector"],
                                     reason_code=7), "invalid", field="reason_code")
        self.assertError(self.update(d, r["id"], "declined", connector=r["connector"],
                                     reason="x" * 501), "invalid", field="reason")

    def test_a_repeat_with_another_code_or_text_is_ok_and_changes_nothing(self):
        d = self.daemon(routing=basic(capacity=5))
        r = d.submit(referral())
        self.ok_update(d, r["id"], "withdrawn", reason_code="moved", reason="to Antwerp")
        before = d.last_seq()
        rep = self.ok_update(d, r["id"], "withdrawn", reason_code="need_resolved",
                             reason=text(4))
        self.assertEqual(rep["status"], "withdrawn")
        self.assertEqual(d.last_seq(), before)
        g = d.ok({"op": "get", "id": r["id"]})
        self.assertEqual([(w["reason_code"], w["reason"]) for w in g["reasons"]],
                         [("moved", "to Antwerp")])

    def test_erase_takes_the_text_for_good_and_keeps_the_code(self):
        d = self.daemon(routing=basic(capacity=5))
        r = d.submit(referral())
        self.ok_update(d, r["id"], "declined", connector=r["connector"],
                       reason_code="not_suitable", reason=text(5))
        self.assertIn(MARKER, self.stored(d), "the text is stored before the erase")
        d.ok({"op": "erase", "id": r["id"]})  # answered once the log is wiped (no reader)
        g = d.ok({"op": "get", "id": r["id"]})
        self.assertEqual([(w["status"], w["reason_code"]) for w in g["reasons"]],
                         [("declined", "not_suitable")])
        self.assertNotIn("reason", g["reasons"][0])
        self.assertNotIn(MARKER, self.stored(d))

    def stored(self, d):
        """What D's database holds: on SQLite the bytes of its file and
        its log (erased means gone from the pages too); on PostgreSQL what
        a query finds in any table (test_pg_erasure: the files)."""
        if d.store == "postgresql":
            return d.pg_rows()
        return "".join(self.read(p).decode("latin-1") for p in self.files(d))

    def files(self, d):
        return [p for p in (d.database_path, d.database_path + "-wal") if os.path.exists(p)]

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def test_a_get_that_shows_a_reason_is_audited(self):
        d = self.daemon(routing=basic(capacity=5))
        plain = referral(family=rdtest.DROP, note=rdtest.DROP)
        r = d.submit(plain)
        d.ok({"op": "get", "id": r["id"]})
        audited = [e for e in d.ok({"op": "audit", "id": r["id"]})["entries"]
                   if e["action"] == "get"]
        self.assertEqual(audited, [], "no personal data shown: not audited")
        self.ok_update(d, r["id"], "withdrawn", reason=text(6))
        d.ok({"op": "get", "id": r["id"]})
        audited = [e for e in d.ok({"op": "audit", "id": r["id"]})["entries"]
                   if e["action"] == "get"]
        self.assertEqual(len(audited), 1, audited)

    def test_stats_counts_the_codes(self):
        d = self.daemon(routing=basic(capacity=5))
        rs = [d.submit(referral()) for _ in range(3)]
        self.ok_update(d, rs[0]["id"], "declined", connector=rs[0]["connector"],
                       reason_code="no_capacity")
        self.ok_update(d, rs[1]["id"], "declined", connector=rs[1]["connector"])
        self.ok_update(d, rs[2]["id"], "withdrawn", reason_code="moved")
        codes = d.ok({"op": "stats"})["reason_codes"]
        self.assertEqual(codes, {"declined": zeros("declined", no_capacity=1, none=1),
                                 "withdrawn": zeros("withdrawn", moved=1),
                                 "closed": zeros("closed")})
        for change in CODES:  # every code of the contract's list, in its order, then none
            self.assertEqual(list(codes[change]), CODES[change] + ["none"])

    def test_referralctl_gives_and_shows_them(self):
        d = self.daemon(routing=basic(capacity=5))
        r = d.submit(referral())
        p = self.ctl(d, "update", r["id"], "declined", "--connector", r["connector"],
                     "--reason-code", "distance", "--reason", "too far for the family")
        self.assertExit(p, 0)
        p = self.ctl(d, "get", r["id"])
        self.assertExit(p, 0)
        self.assertRegex(p.stdout, r"(?m)^reasons:\n  \S+ declined \(connector %s\): distance: "
                         r"too far for the family$" % r["connector"])
        p = self.ctl(d, "explain", r["id"])
        self.assertExit(p, 0)
        self.assertIn("distance: too far for the family", p.stdout)
        p = self.ctl(d, "update", r["id"], "withdrawn", "--reason-code", "goals_reached")
        self.assertExit(p, 1)
        self.assertIn("invalid: reason_code", p.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
