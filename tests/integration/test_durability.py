"""protocol.md "Durability" and daemon.md "Signals and lifecycle": what a
partner was told is stored stays stored, through restarts, SIGTERM and
kill -9, and the event seq carries on without a gap.
"""

import json
import random
import os
import shutil
import signal
import stat
import tempfile
import time

import rdtest
from rdrouting import ROUTING_BASIC, ROUTING_ROOMY
from rdtest import referral, submit_req


def check_event_log(test, d):
    """The whole replay: seq 1..last without gap or repeat; per referral,
    exactly one referral.received, first; returns (events, by id)."""
    evs = d.all_events()
    last = d.ok({"op": "events", "limit": 1})["last"]
    test.assertEqual([e["seq"] for e in evs], list(range(1, last + 1)),
                     "seq must run 1..last without gap")
    by_id = {}
    for e in evs:
        if e["type"].startswith("referral."):
            by_id.setdefault(e["id"], []).append(e)
    for rid, es in by_id.items():
        types = [e["type"] for e in es]
        test.assertEqual(types[0], "referral.received", "referral %s: %s" % (rid, types))
        test.assertEqual(types.count("referral.received"), 1,
                         "referral %s received twice: %s" % (rid, types))
        test.assertGreaterEqual(len(types), 2, "referral %s has no decision: %s" % (rid, types))
    return evs, by_id


def all_referrals(d):
    """Every referral through `list` pages: id -> entry."""
    out, since = {}, 0
    while True:
        rep = d.ok({"op": "list", "since": since, "limit": 1000})
        for e in rep["referrals"]:
            out[e["id"]] = e
        if len(rep["referrals"]) < 1000:
            return out
        since = rep["referrals"][-1]["seq"]


class Restart(rdtest.TestCase):
    def test_restart_keeps_referrals_and_seq_continues(self):
        d = self.daemon(routing=ROUTING_ROOMY)
        refs = [referral(), referral(urgency="crisis"), referral(kind="first_line_psychology"),
                referral(postcode="9000"), referral(urgency="high")]
        reps = [d.submit(r) for r in refs]
        d.ok({"op": "update", "id": reps[0]["id"], "status": "accepted",
              "connector": reps[0]["connector"]})
        before = [d.ok({"op": "get", "id": rep["id"]}) for rep in reps]
        last = d.last_seq()
        self.assertEqual(last, 11)
        d.restart()
        self.assertEqual(d.last_seq(), last, "last_seq must survive a restart")
        after = [d.ok({"op": "get", "id": rep["id"]}) for rep in reps]
        self.assertEqual(after, before)
        for r, rep in zip(refs, reps):
            again = d.submit(r)
            self.assertIs(again["duplicate"], True)
            self.assertEqual(again["id"], rep["id"])
        self.assertEqual(d.last_seq(), last)
        new = d.submit(referral())
        evs = d.ok({"op": "events", "since": last})["events"]
        self.assertEqual([e["seq"] for e in evs], [last + 1, last + 2])
        self.assertEqual({e["id"] for e in evs}, {new["id"]})
        check_event_log(self, d)

    def test_offers_ever_made_survive_a_restart(self):
        # routing.md, pick least_loaded: "fewest offers ever made to the
        # connector (declined and expired ones count; the count survives
        # restarts and reloads)".
        d = self.daemon(routing=ROUTING_BASIC)
        a = d.submit(referral())
        self.assertEqual(a["connector"], "kelly")
        d.ok({"op": "update", "id": a["id"], "status": "withdrawn"})
        d.restart()
        # both loads are 0 again; kelly had one offer, sophie none
        b = d.submit(referral())
        self.assertEqual(b["connector"], "sophie")

    def test_sigterm_exits_0_and_sigint_too(self):
        d = self.daemon(routing=ROUTING_BASIC)
        d.submit(referral())
        self.assertEqual(d.stop(), 0)
        d.start()
        d.submit(referral())
        d.signal(signal.SIGINT)
        self.assertEqual(d.wait_exit(), 0)
        d.start()
        self.assertEqual(d.last_seq(), 4)

    def test_sigterm_answers_what_it_had_in_hand(self):
        d = self.daemon(routing=ROUTING_ROOMY)
        s = d.dealer()
        n = 2000
        refs = [referral() for _ in range(n)]
        try:
            for i, r in enumerate(refs):
                s.send_json(submit_req(r, corr=str(i)))
            # wait for the first reply, so the daemon is busy with the rest
            self.assertTrue(s.poll(10000))
            replies = [json.loads(s.recv())]
            d.signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(replies) < n:
                if s.poll(200):
                    replies.append(json.loads(s.recv()))
                elif not d.running():
                    break
        finally:
            s.close(0)
        self.assertEqual(d.wait_exit(), 0, "SIGTERM must end with exit 0")
        acked, refused = [], []
        for rep in replies:
            if rep.get("ok") is True:
                acked.append(rep)
            else:
                self.assertEqual(rep.get("error", {}).get("code"), "unavailable",
                                 "while stopping, the answer is ok or unavailable: %r" % (rep,))
                refused.append(rep)
        d.start()
        for rep in acked:
            got = d.ok({"op": "get", "id": rep["id"]})
            self.assertEqual(got["status"], rep["status"])
        for rep in refused:
            r = refs[int(rep["corr"])]
            self.assertError(d.request({"op": "get", "partner": r["partner"], "ref": r["ref"]}),
                             "not_found", msg="an `unavailable` submit must store nothing")
        check_event_log(self, d)


class KillNine(rdtest.TestCase):
    """kill -9 right after acknowledgements: every acknowledged referral is
    there after restart, exactly once, and seq is gap-free."""

    # The daemon commits in groups: a big pipelined burst, killed after a
    # varying number of acknowledgements, lands the kill between groups.
    PER_ROUND = 1500
    # three fixed moments, then random ones (the seed is printed, and
    # RD_CRASH_SEED repeats a run)
    SEED = int(os.environ.get("RD_CRASH_SEED") or random.SystemRandom().randrange(1 << 30))
    KILL_AFTER = (40, 400, 900) + tuple(random.Random(SEED).sample(range(1, 1400), 7))

    def test_acknowledged_referrals_survive_kill_9(self):
        print("kill -9 after %s acknowledgements (RD_CRASH_SEED=%d)"
              % (list(self.KILL_AFTER), self.SEED))
        d = self.daemon(routing=ROUTING_ROOMY)
        all_acked = {}   # ref -> reply
        all_sent = {}    # ref -> referral
        for rnd, kill_after in enumerate(self.KILL_AFTER):
            with self.subTest(round=rnd):
                s = d.dealer()
                refs = [referral() for _ in range(self.PER_ROUND)]
                acked = []
                try:
                    for i, r in enumerate(refs):
                        all_sent[r["ref"]] = r
                        s.send_json(submit_req(r, corr=r["ref"]))
                    deadline = time.monotonic() + 10
                    while len(acked) < kill_after and time.monotonic() < deadline:
                        if s.poll(500):
                            rep = json.loads(s.recv())
                            self.assertOk(rep)
                            acked.append(rep)
                    d.kill9()
                    # replies already delivered to us were acknowledgements too
                    while s.poll(100):
                        rep = json.loads(s.recv())
                        self.assertOk(rep)
                        acked.append(rep)
                finally:
                    s.close(0)
                self.assertGreaterEqual(len(acked), kill_after)
                for rep in acked:
                    all_acked[rep["corr"]] = rep
                d.start()
                listed = all_referrals(d)  # id -> list entry
                for ref, rep in all_acked.items():
                    self.assertIn(rep["id"], listed,
                                  "acknowledged referral %s lost after kill -9" % ref)
                    self.assertEqual(listed[rep["id"]]["ref"], ref)
                    self.assertEqual(listed[rep["id"]]["status"], rep["status"])
                for ref in list(all_acked)[:: max(1, len(all_acked) // 20)]:
                    got = d.ok({"op": "get", "id": all_acked[ref]["id"]})
                    self.assertEqual(got["referral"]["ref"], ref)
                    self.assertEqual(got["referral"]["note"], all_sent[ref]["note"])
                evs, by_id = check_event_log(self, d)
                last = evs[-1]["seq"]
                self.assertEqual(set(listed), set(by_id), "list and events disagree")
                # unacknowledged ones are there whole (checked above), or not at all
                listed_refs = {e["ref"] for e in listed.values()}
                self.assertEqual(len(listed_refs), len(listed), "a ref stored twice")
                self.assertTrue(set(all_acked) <= listed_refs)
                self.assertTrue(listed_refs <= set(all_sent))
                # resubmitting an acknowledged one is a duplicate, no event
                some = list(all_acked)[:: max(1, len(all_acked) // 5)]
                for ref in some:
                    again = d.submit(all_sent[ref])
                    self.assertIs(again["duplicate"], True)
                    self.assertEqual(again["id"], all_acked[ref]["id"])
                self.assertEqual(d.last_seq(), last)
        # after the last round: new work continues the seq
        last = d.last_seq()
        d.submit(referral())
        self.assertEqual([e["seq"] for e in d.ok({"op": "events", "since": last})["events"]],
                         [last + 1, last + 2])


class Files(rdtest.TestCase):
    def test_database_file_is_mode_0600(self):
        d = self.daemon(routing=ROUTING_BASIC)
        d.submit(referral())
        st = os.stat(d.database_path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600,
                         "database mode is %o" % stat.S_IMODE(st.st_mode))

    def test_database_relative_to_the_config_folder(self):
        d = self.daemon(routing=ROUTING_BASIC)
        d.submit(referral())
        self.assertTrue(os.path.exists(os.path.join(d.dir, "referrald.db")))
        self.assertFalse(os.path.exists(os.path.join(d.rundir, "referrald.db")),
                         "a relative database path is beside the config file, not in the cwd")

    def test_folder_created_for_the_database_is_0700(self):
        d = self.daemon(routing=ROUTING_BASIC, database="state/referrald.db")
        d.submit(referral())
        self.assertTrue(os.path.exists(d.database_path))
        self.assertEqual(stat.S_IMODE(os.stat(d.database_path).st_mode), 0o600)
        for folder in ("state",):
            m = stat.S_IMODE(os.stat(os.path.join(d.dir, folder)).st_mode)
            self.assertEqual(m, 0o700, "%s has mode %o" % (folder, m))

    def test_default_database_is_beside_the_config_file(self):
        d = self.daemon(routing=ROUTING_BASIC, database=None)
        d.submit(referral())
        self.assertTrue(os.path.exists(os.path.join(d.dir, "referrald.db")))
        self.assertEqual(os.listdir(d.rundir), [])

    def test_default_database_is_in_state_directory(self):
        state = tempfile.mkdtemp(prefix="rdstate-")
        self.addCleanup(shutil.rmtree, state, True)
        d = self.daemon(routing=ROUTING_BASIC, database=None, env={"STATE_DIRECTORY": state})
        r = referral()
        d.submit(r)
        self.assertTrue(os.path.exists(os.path.join(state, "referrald.db")))
        self.assertFalse(os.path.exists(os.path.join(d.dir, "referrald.db")))
        d.restart()
        self.assertOk(d.request({"op": "get", "partner": r["partner"], "ref": r["ref"]}))

    def test_state_directory_in_a_path_is_expanded(self):
        state = tempfile.mkdtemp(prefix="rdstate-")
        self.addCleanup(shutil.rmtree, state, True)
        d = self.daemon(routing=ROUTING_BASIC, database="${STATE_DIRECTORY}/other.db",
                        env={"STATE_DIRECTORY": state})
        d.submit(referral())
        self.assertTrue(os.path.exists(os.path.join(state, "other.db")))

    def test_data_survives_in_the_file_not_the_process(self):
        d = self.daemon(routing=ROUTING_BASIC)
        r = referral()
        rep = d.submit(r)
        d.kill9()
        d.start()
        got = d.ok({"op": "get", "partner": r["partner"], "ref": r["ref"]})
        self.assertEqual(got["id"], rep["id"])
        self.assertEqual(got["referral"]["family"], r["family"])


class Erase(rdtest.TestCase):
    """protocol.md "erase": personal data gone for good, from the replies and
    from the database file and its write-ahead log."""

    NAME = "Appelboomgaard-Familie"
    NOTE = "Uiterst-Vertrouwelijke-Notitie-8812"
    MAIL = "appelboom.gezin@voorbeeld.invalid"

    def marked(self):
        return referral(postcode="3667", children=[{"age": 11}, {"age": 7}],
                        family={"name": self.NAME, "email": self.MAIL},
                        note=self.NOTE)

    def file_bytes(self, d):
        out = b""
        for suffix in ("", "-wal", "-journal"):
            try:
                with open(d.database_path + suffix, "rb") as f:
                    out += f.read()
            except FileNotFoundError:
                pass
        return out

    def test_erase_withdraws_and_removes_personal_data_for_good(self):
        d = self.daemon(routing=ROUTING_BASIC)
        r = self.marked()
        a = d.submit(r)
        keep = d.submit(referral())  # another family's data stays
        self.assertIn(self.NOTE.encode(), self.file_bytes(d))
        last = d.last_seq()
        rep = d.request({"op": "erase", "id": a["id"], "corr": "e"})
        self.assertOk(rep)
        evs = d.ok({"op": "events", "since": last})["events"]
        self.assertEqual([e["type"] for e in evs], ["referral.withdrawn", "referral.erased"])
        self.assertEqual(evs[1]["status"], "withdrawn")
        got = d.ok({"op": "get", "id": a["id"]})
        self.assertEqual(got["status"], "withdrawn")
        for k in ("family", "note", "children", "postcode"):
            self.assertNotIn(k, got["referral"])
        self.assertEqual(got["referral"]["ref"], r["ref"])
        text = json.dumps(got, ensure_ascii=False)
        for m in (self.NAME, self.NOTE, self.MAIL, "3667"):
            self.assertNotIn(m, text)
        # the routing history stays
        self.assertEqual([e["type"] for e in got["history"]][:2],
                         ["referral.received", "referral.assigned"])
        raw = self.file_bytes(d)
        for m in (self.NAME, self.NOTE, self.MAIL):
            self.assertNotIn(m.encode(), raw, "erased bytes still in the database files")
        # erasing again is ok and emits nothing
        last = d.last_seq()
        self.assertOk(d.request({"op": "erase", "id": a["id"]}))
        self.assertEqual(d.last_seq(), last)
        # the other referral is untouched, also after a restart
        d.restart()
        self.assertEqual(d.ok({"op": "get", "id": keep["id"]})["referral"]["note"],
                         referral()["note"])
        for m in (self.NAME, self.NOTE, self.MAIL):
            self.assertNotIn(m.encode(), self.file_bytes(d))

    def test_erase_of_a_closed_referral_keeps_its_status(self):
        d = self.daemon(routing=ROUTING_BASIC)
        a = d.submit(self.marked())
        c = a["connector"]
        d.ok({"op": "update", "id": a["id"], "status": "started", "connector": c})
        d.ok({"op": "update", "id": a["id"], "status": "closed", "connector": c})
        last = d.last_seq()
        self.assertOk(d.request({"op": "erase", "id": a["id"]}))
        evs = d.ok({"op": "events", "since": last})["events"]
        self.assertEqual([(e["type"], e["status"]) for e in evs], [("referral.erased", "closed")])
        self.assertEqual(d.ok({"op": "get", "id": a["id"]})["status"], "closed")

    def test_erase_unknown_is_not_found(self):
        d = self.daemon(routing=ROUTING_BASIC)
        self.assertError(d.request({"op": "erase", "id": "R-nope"}), "not_found")


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
