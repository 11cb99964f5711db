"""The coordinators' tools as a coordinator runs them (tools.md rev 2, "What
a reload would do now" and "The weekly report"; daemon.md rev 2: the
database keeps every routing file that has been in force).

The daemon runs with the example region (config/routing.yaml). Genk is
full and two families wait; the coordinator asks what adding a connector
would do (`rules diff`), what a new family would get after that reload
(`rules test --state`), reloads the daemon with that very file and sees it
do what the diff said; and reads the week (`report`, also as a page that
renders in Chromium without the network). The tools read the
live database, and must neither write it (its bytes and its -wal are the
same before and after) nor hold a read transaction after they exit (an
erase right after wipes the log at once). On the PostgreSQL store
(RD_TEST_STORE, integration.pg.*) the database is named by its conninfo,
and unchanged means every row of it unchanged.
"""

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile

import rdtest
from rdtest import EX_USAGE, TestCase, referral, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import htmlcheck  # noqa: E402  (tests/htmlcheck.py)

SOURCE_DIR = rdtest.SOURCE_DIR
REFERRALCTL = os.environ.get("REFERRALCTL") or os.path.join(SOURCE_DIR, "build", "referralctl")
EXAMPLE = os.path.join(SOURCE_DIR, "config", "routing.yaml")
GENK_PLACES = 6 + 6 + 5  # kelly, sophie, murat
MURAT = "      - {id: murat, capacity: 5,"
JAN = "      - {id: jan, capacity: 1, skills: [family_support], languages: [nl]}\n"


def run_ctl(args, timeout=60):
    e = dict(os.environ)
    e.pop("REFERRALD_ENDPOINT", None)
    return subprocess.run([REFERRALCTL] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=e, stdin=subprocess.DEVNULL)


def example():
    with open(EXAMPLE) as f:
        return f.read()


def with_jan():
    """The example with one more connector in genk: jan, one place."""
    text = example()
    assert MURAT in text
    return text.replace(MURAT, JAN + MURAT, 1)


def family(**kw):
    return referral(postcode="3600", language="nl", **kw)


def files_of(db):
    """The bytes of the database and of its -wal (None when absent)."""
    out = []
    for path in (db, db + "-wal"):
        try:
            with open(path, "rb") as f:
                out.append(f.read())
        except FileNotFoundError:
            out.append(None)
    return out


def without_at(ev):
    return {k: v for k, v in ev.items() if k != "at"}


class CoordinatorToolsTest(TestCase):

    def setUp(self):
        super().setUp()
        self.d = self.daemon(routing=example())
        self.db = self.d.db_arg()
        for _ in range(GENK_PLACES):
            self.assertEqual(self.d.submit(family())["status"], "assigned")
        self.waiting = [self.d.submit(family())["id"] for _ in range(2)]
        self.new_file = os.path.join(self.d.dir, "routing-new.yaml")
        with open(self.new_file, "w") as f:
            f.write(with_jan())

    def tool(self, args, code=0):
        """Run referralctl ARGS against the live database: exit CODE, and
        neither the database nor its -wal changed."""
        before = self.stored()
        p = run_ctl(args)
        self.assertExit(p, code)
        after = self.stored()
        self.assertTrue(before[0] == after[0], "the tool changed the database file")
        self.assertTrue(before[1] == after[1], "the tool changed the -wal")
        return p

    def stored(self):
        """What is stored: the bytes of the database and its -wal, or on
        PostgreSQL the rows of the daemon's tables (and nothing beside)."""
        if self.d.store == "postgresql":
            return [self.d.pg_rows(), None]
        return files_of(self.db)

    def reload(self, text):
        tmp = self.d.routing_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.d.routing_path)
        base = self.d.last_seq()
        self.d.signal(signal.SIGHUP)
        wait_until(lambda: any(e["type"] == "config.reloaded" for e in self.d.all_events(base)),
                   what="config.reloaded")
        return self.d.all_events(base)

    def test_rules_diff_says_what_a_reload_would_do_and_the_reload_does_it(self):
        p = self.tool(["rules", "diff", self.new_file, "--state", self.db, "--json"])
        diff = json.loads(p.stdout)
        # tools.md: served, attention, connectors
        self.assertEqual(diff["served"],
                         [{"id": self.waiting[0], "connector": "jan", "team": "genk"}])
        self.assertEqual(diff["attention"], [])
        conns = {c["id"]: c for c in diff["connectors"]}
        for c in diff["connectors"]:
            self.assertEqual(set(c) & {"id", "team", "capacity", "load_before", "load_after"},
                             {"id", "team", "capacity", "load_before", "load_after"})
        self.assertEqual((conns["jan"]["capacity"], conns["jan"]["load_before"],
                          conns["jan"]["load_after"]), (1, 0, 1))
        self.assertEqual((conns["kelly"]["load_before"], conns["kelly"]["load_after"]), (6, 6))
        self.assertEqual(conns["lien"]["team"], "maasmechelen")
        # against the file in force, kept in the database
        self.assertEqual(diff["in_force"]["digest"],
                         hashlib.sha256(example().encode()).hexdigest())
        self.assertIn({"kind": "connector", "id": "jan", "change": "added"}, diff["changes"])
        # the daemon, reloaded with that file, does exactly that
        events = self.reload(with_jan())
        self.assertEqual([without_at(e) for e in events],
                         [without_at(e) for e in diff["events"]])
        self.assertEqual(self.d.ok({"op": "get", "id": self.waiting[0]})["connector"], "jan")

    def test_rules_diff_for_a_person(self):
        p = self.tool(["rules", "diff", self.new_file, "--state", self.db])
        out = p.stdout
        self.assertRegex(out, r"(?m)^In force: .*routing\.yaml \(digest [0-9a-f]{12}\)")
        self.assertIn("connector jan: added", out)
        self.assertRegex(out, r"(?m)^  team genk: connectors: \[.*\] -> \[.*\"jan\".*\]$")
        self.assertIn("offer %s to jan (team genk)" % self.waiting[0], out)
        self.assertRegex(out, r"(?m)^  jan +team genk +0 -> +1 of 1  \(added\)$")
        # the same file as the one in force: nothing to offer, nothing differs
        p = self.tool(["rules", "diff", self.d.routing_path, "--state", self.db])
        self.assertIn("nothing (they route alike)", p.stdout)
        self.assertIn("offer no waiting referral", p.stdout)

    def test_rules_diff_lists_every_waiting_referral_left_with_no_candidate(self):
        w0, w1 = self.waiting
        # every genk connector declines w0: it waits for a coordinator already
        for who in ("kelly", "sophie", "murat"):
            self.d.ok({"op": "update", "id": w0, "status": "assigned", "connector": who})
            self.d.ok({"op": "update", "id": w0, "status": "declined", "connector": who})
        self.assertEqual(self.d.ok({"op": "get", "id": w0}).get("attention"), "all_declined")
        self.assertNotIn("attention", self.d.ok({"op": "get", "id": w1}))
        # a file where genk no longer serves 3600: w1 is left with no
        # candidate, and w0 still is
        team_genk = 'postcodes: ["3600", "3660-3668"]'
        self.assertEqual(example().count(team_genk), 1)
        no_3600 = example().replace(team_genk, 'postcodes: ["3660-3668"]')
        new_file = os.path.join(self.d.dir, "routing-no-3600.yaml")
        with open(new_file, "w") as f:
            f.write(no_3600)
        p = self.tool(["rules", "diff", new_file, "--state", self.db, "--json"])
        diff = json.loads(p.stdout)
        self.assertEqual(diff["served"], [])
        self.assertEqual([(a["id"], a["attention"]) for a in diff["attention"]],
                         [(w0, "no_candidate"), (w1, "no_candidate")])
        # and what each needed under the file in force
        self.assertEqual([a.get("before") for a in diff["attention"]], ["all_declined", None])
        p = self.tool(["rules", "diff", new_file, "--state", self.db])
        self.assertIn("leave %s waiting with no candidate (needs_attention: no_candidate; it "
                      "already waits for a coordinator: all_declined)" % w0, p.stdout)
        self.assertIn("leave %s waiting with no candidate (needs_attention: no_candidate)\n" % w1,
                      p.stdout)
        # a file that gives w0 a candidate: offered, and nobody is left
        p = self.tool(["rules", "diff", self.new_file, "--state", self.db, "--json"])
        diff_jan = json.loads(p.stdout)
        self.assertEqual(diff_jan["served"], [{"id": w0, "connector": "jan", "team": "genk"}])
        self.assertEqual(diff_jan["attention"], [])
        # the daemon, reloaded with the first file, waits for a coordinator
        # on exactly those
        self.reload(no_3600)
        listed = self.d.ok({"op": "list", "attention": True})["referrals"]
        self.assertEqual(sorted((r["id"], r["attention"]) for r in listed),
                         sorted((a["id"], a["attention"]) for a in diff["attention"]))

    def test_rules_test_state_decides_after_the_reload_first_serves_the_waitlist(self):
        ref = os.path.join(self.d.dir, "new-family.json")
        with open(ref, "w") as f:
            json.dump({"kind": "family_support", "postcode": "3600", "language": "nl",
                       "children": [{"age": 7}], "consent": True, "ref": "NEW"}, f)
        p = self.tool(["rules", "test", self.new_file, ref, "--state", self.db, "--json"])
        decision = json.loads(p.stdout)
        # jan's place goes to the family waiting first, not to this one
        self.assertEqual(decision["status"], "waitlisted", decision)
        p = self.tool(["rules", "test", self.new_file, ref, "--state", self.db])
        self.assertIn("The reload first offers 1 waiting referral(s)", p.stdout)
        self.assertIn("against the loads of the database after a reload", p.stdout)
        # and so it goes on the daemon
        self.reload(with_jan())
        self.assertEqual(self.d.submit(family())["status"], "waitlisted")

    def test_report_as_a_coordinator_reads_it(self):
        r0 = self.d.ok({"op": "list", "status": "assigned", "limit": 3})["referrals"]
        a, b, c = (x["id"] for x in r0)
        conn = {x["id"]: x["connector"] for x in r0}
        self.d.ok({"op": "update", "id": a, "status": "started", "connector": conn[a]})
        self.d.ok({"op": "update", "id": b, "status": "started", "connector": conn[b]})
        self.d.ok({"op": "update", "id": b, "status": "closed", "connector": conn[b]})
        self.d.ok({"op": "update", "id": c, "status": "declined", "connector": conn[c]})
        self.assertEqual(self.d.submit(referral(urgency="crisis"))["status"], "forwarded")
        p = self.tool(["report", "--db", self.db, "--json"])
        rep = json.loads(p.stdout)
        for key in ("from", "to", "received", "by_decision", "waiting", "time_to_offer_s",
                    "time_to_start_s", "window", "declines", "closes", "forwarded",
                    "connectors", "attention"):
            self.assertIn(key, rep)
        self.assertEqual(rep["received"], GENK_PLACES + 2 + 1)
        self.assertEqual(rep["by_decision"],
                         {"assigned": GENK_PLACES, "waitlisted": 2, "forwarded": 1})
        # every code of protocol.md in its order, 0 where none occurred, then none
        self.assertEqual(list(rep["declines"].items()),
                         [("no_capacity", 0), ("language", 0), ("distance", 0),
                          ("conflict_of_interest", 0), ("not_suitable", 0), ("other", 0),
                          ("none", 1)])
        self.assertEqual(list(rep["closes"].items()),
                         [("goals_reached", 0), ("partly_reached", 0), ("family_stopped", 0),
                          ("referred_on", 0), ("other", 0), ("none", 1)])
        self.assertEqual(rep["forwarded"], [{"to": "cgg-limburg", "count": 1}])
        # the close and the decline each freed a place in genk for a family
        # waiting; the declined one waits now
        self.assertEqual(rep["waiting"]["now"], 1)
        rdtest.parse_time(rep["waiting"]["oldest"])
        self.assertEqual(set(rep["time_to_offer_s"]), {"p50", "p75", "p90"})
        self.assertIsInstance(rep["time_to_start_s"]["p50"], int)
        conns = {c["id"]: c for c in rep["connectors"]}
        self.assertEqual(len(conns), 7)
        self.assertEqual((conns["murat"]["team"], conns["murat"]["capacity"]), ("genk", 5))
        # the loads at the end of the period (now) are the daemon's
        stats = self.d.ok({"op": "stats"})
        self.assertEqual({c["id"]: c["load"] for c in rep["connectors"]},
                         {c["id"]: c["load"] for t in stats["teams"] for c in t["connectors"]})
        self.assertEqual(sum(c["load"] for c in rep["connectors"]), GENK_PLACES)
        self.assertEqual(rep["attention"], 0)
        p = self.tool(["report", "--db", self.db])
        self.assertRegex(p.stdout, r"(?m)^  referrals +20: assigned 17, waitlisted 2, "
                                   r"forwarded 1$")
        self.assertRegex(p.stdout, r"(?m)^  declines by reason +no_capacity 0, language 0, "
                                   r"distance 0, .*, other 0, none 1$")
        self.assertRegex(p.stdout, r"(?m)^    murat +team genk +\d+ of 5$")
        # a period of dates, midnight in Brussels; before this week: nothing
        p = self.tool(["report", "--db", self.db, "--json", "--from", "2020-01-01",
                       "--to", "2020-01-08"])
        old = json.loads(p.stdout)
        self.assertEqual((old["from"], old["to"], old["received"]),
                         ("2019-12-31T23:00:00.000Z", "2020-01-07T23:00:00.000Z", 0))
        p = self.tool(["report", "--db", self.db, "--from", "last week"], code=EX_USAGE)
        self.assertIn("YYYY-MM-DD", p.stderr)

    def test_report_as_a_page_renders_without_the_network_or_personal_data(self):
        if htmlcheck.find_chromium() is None:
            if os.environ.get("CI"):
                raise AssertionError("chromium is not installed (tools/do deps installs it)")
            self.skipTest("chromium is not installed (tools/do deps installs it)")
        page = os.path.join(self.d.dir, "week.html")
        p = self.tool(["report", "--db", self.db, "--html", page])
        self.assertIn("Received in the period", p.stdout)
        with open(page, encoding="utf-8") as f:
            text = f.read()
        self.assertEqual(htmlcheck.check_self_contained(text), [])
        self.assertNotIn("<script", text)
        # ids, teams, connectors and figures only: nothing of a family
        fam = referral()
        for personal in list(fam["family"].values()) + [fam["note"], fam["ref"][:3] + "-"]:
            self.assertNotIn(personal, text)
        for media in ("screen", "print"):
            r = htmlcheck.check_html(page, media=media)
            self.assertEqual(r.problems(), [], media)
            self.assertEqual(r.console, [], media)
            # time to start, the waiting list, the load per connector
            self.assertEqual(r.dom.count('<figure class="chart">'), 3, media)
            self.assertIn(">murat</", r.dom)
            self.assertIn("capacity 5", r.dom)

    def test_no_tool_keeps_a_read_transaction_open(self):
        rid = self.d.submit(referral(urgency="crisis"))["id"]
        self.tool(["report", "--db", self.db])
        self.tool(["rules", "diff", self.new_file, "--state", self.db])
        if self.d.store == "postgresql":  # their sessions have ended
            self.assertEqual(rdtest.pg_server().scalar(
                "select count(*) from pg_stat_activity where datname = 'referrald'"
                " and state like 'idle in transaction%'"), "0")
            return
        rep = self.d.ok({"op": "erase", "id": rid})
        if "wiped" in rep:  # protocol.md rev 2
            self.assertIs(rep["wiped"], True, rep)
        # the erased bytes left the log at once: nobody held it
        self.assertEqual(os.path.getsize(self.db + "-wal"), 0)

    @rdtest.sqlite_only("a SQLite copy of another schema version and a missing file")
    def test_tools_refuse_a_database_they_cannot_read_as_it_is(self):
        folder = tempfile.mkdtemp(prefix="rdtools-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", folder]))
        copy = os.path.join(folder, "copy.db")
        self.assertExit(run_ctl(["backup", self.db, copy]), 0)
        con = sqlite3.connect(copy)
        con.execute("PRAGMA user_version = 2")
        con.close()
        for args in (["report", "--db", copy], ["rules", "diff", self.new_file, "--state", copy]):
            p = run_ctl(args)
            self.assertExit(p, 1)
            self.assertIn("schema version 2", p.stderr)
        missing = os.path.join(folder, "missing.db")
        p = run_ctl(["report", "--db", missing])
        self.assertExit(p, 1)
        self.assertFalse(os.path.exists(missing), "a missing database must not be created")
        p = run_ctl(["rules", "diff", self.new_file])
        self.assertExit(p, EX_USAGE)
        self.assertIn("--state", p.stderr)


@rdtest.sqlite_only("files beside a database file")
class StoppedDatabaseTest(TestCase):
    """A database no daemon has open (a stopped one, a backup): the tools
    read it and leave nothing beside it, not even an empty -wal."""

    def test_a_stopped_database_gets_nothing_beside_it(self):
        d = self.daemon(routing=example())
        d.submit(family())
        d.stop()
        db = d.database_path
        self.assertFalse(os.path.exists(db + "-wal"))
        before = files_of(db)
        p = run_ctl(["report", "--db", db, "--json"])
        self.assertExit(p, 0)
        self.assertEqual(json.loads(p.stdout)["received"], 1)
        self.assertExit(run_ctl(["rules", "diff", EXAMPLE, "--state", db]), 0)
        self.assertEqual(files_of(db), before)
        self.assertFalse(os.path.exists(db + "-shm"))


if __name__ == "__main__":
    import unittest
    unittest.main()
