"""Erasure on the PostgreSQL store (protocol.md `erase` and `"wiped"`,
daemon.md rev 2 "Several machines", docs/security.md "Erasure on
PostgreSQL"), the way an operator and a data protection officer meet it.

What the daemon guarantees is asserted: the personal data of an erased
referral leaves every table in the erase's own transaction, so that no
query (the daemon's ops, referralctl's offline commands, a look at every
row) returns it once the erase is acknowledged; and the measure that
docs/security.md gives to take it out of the heap files (VACUUM FULL of
the two tables that held it) does so, on the primary and, through
replication, on its synchronous standby. With the settings the page gives
(wal_recycle off, log_parameter_max_length 0) the write-ahead log of both
servers and the server log hold it no longer after a segment switch and a
checkpoint.

What PostgreSQL keeps besides is recorded, not asserted (it is
PostgreSQL's behaviour, not the daemon's): each test prints a table of
where a distinctive marker in the family's fields was found at each step.
The numbers in docs/security.md come from these tables.
"""

import json
import os
import secrets
import shutil
import sys
import tempfile

import pgharness
import rdtest
from rdrouting import ROUTING_ROOMY
from rdtest import referral
from test_pg_daemon import pg_yaml, run_ctl


class Marks:
    """Distinctive personal data for one referral: the family's name, phone
    and note, and the free text of a reason, each a unique string."""

    def __init__(self):
        tag = secrets.token_hex(6).upper()
        self.by_label = {"name": "ZyxName" + tag, "phone": "+32 470 %s" % tag,
                         "note": "QwertzNote" + tag, "reason": "WhyText" + tag}

    def referral(self):
        return referral(family={"name": self.by_label["name"], "phone": self.by_label["phone"]},
                        note=self.by_label["note"])

    def found(self, data):
        """The labels of the marks in DATA (bytes or str), sorted."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        return sorted(k for k, v in self.by_label.items() if v.encode("utf-8") in data)

    def in_files(self, root):
        """The labels of the marks in any file under ROOT (a folder or a
        file), read as raw bytes."""
        paths = [root] if os.path.isfile(root) else [
            os.path.join(d, f) for d, _, files in os.walk(root) for f in files]
        labels = set()
        for path in paths:
            try:
                with open(path, "rb") as f:
                    labels.update(self.found(f.read()))
            except OSError:
                pass  # removed meanwhile (a recycled WAL segment, a temp file)
        return sorted(labels)


class Record:
    """A table of where the marks were found, printed at the end of a test."""

    def __init__(self, title):
        self.title = title
        self.rows = []

    def add(self, step, place, labels):
        self.rows.append((step, place, ", ".join(labels) if labels else "-"))
        return labels

    def print(self):
        width = max(len(r[0]) for r in self.rows)
        place_width = max(len(r[1]) for r in self.rows)
        sys.stderr.write("\n%s\n" % self.title)
        for step, place, found in self.rows:
            sys.stderr.write("  %-*s  %-*s  %s\n" % (width, step, place_width, place, found))


class Machines:
    """A primary and its synchronous standby (pgharness), each with SETTINGS,
    and a daemon on the primary's database `referrald`."""

    def __init__(self, test, settings=None):
        self.primary = pgharness.PgServer(name="erase-primary", settings=settings).start()
        test.addCleanup(self.primary.close)
        self.standby = self.primary.add_standby(name="erase-standby")
        tmp = tempfile.mkdtemp(prefix="rdpg-erase-")
        test.addCleanup(shutil.rmtree, tmp, True)
        pw = self.primary.write_password_file(os.path.join(tmp, "pg.pass"))
        self.daemon = test.daemon(routing=ROUTING_ROOMY, store="sqlite", database=None,
                                  extra_yaml=pg_yaml(self.primary.conninfo(), pw))
        dboid = self.primary.scalar("select oid from pg_database where datname = 'referrald'")
        self.places = {
            "primary heap": os.path.join(self.primary.data, "base", dboid),
            "primary WAL": os.path.join(self.primary.data, "pg_wal"),
            "standby heap": os.path.join(self.standby.data, "base", dboid),
            "standby WAL": os.path.join(self.standby.data, "pg_wal"),
        }

    def checkpoint(self):
        """A CHECKPOINT on the primary, and once the standby replayed it a
        restartpoint there: the data pages of both are on disk."""
        self.primary.psql("checkpoint")
        self.primary.wait_replayed(self.standby)
        self.standby.psql("checkpoint")

    def switch_wal(self):
        """End the current WAL segment, then checkpoint() both servers: the
        segments before it may be removed or recycled."""
        self.primary.psql("select pg_switch_wal()")
        self.checkpoint()

    def submit_marked(self, marks):
        """Submit the referral of MARKS among others and decline it with a
        reason in free text; return its id."""
        d = self.daemon
        for _ in range(10):
            d.submit(referral())
        a = d.submit(marks.referral())
        for _ in range(10):
            d.submit(referral())
        d.ok({"op": "update", "id": a["id"], "status": "declined", "connector": a["connector"],
              "reason_code": "other", "reason": marks.by_label["reason"]})
        return a["id"]

    def where(self, marks, record, step):
        """After a checkpoint(): record in RECORD under STEP where MARKS are
        in each place; return {place: labels}."""
        self.checkpoint()
        return {place: record.add(step, place, marks.in_files(root))
                for place, root in self.places.items()}

    def erase(self, rid):
        rep = self.daemon.ok({"op": "erase", "id": rid})
        assert rep["wiped"] is False, rep

    def vacuum(self, full=False):
        self.primary.psql("vacuum %s referrals, reasons" % ("full" if full else ""))


def tool_outputs(d, routing_path):
    """What referralctl's offline commands print about D's database: the
    report, a replay of its history, and a rules diff, each as JSON."""
    out = {}
    for name, args in (("report", ["report", "--db", d.db_arg(), "--json", "--from",
                                   "2000-01-01"]),
                       ("replay", ["replay", "--db", d.db_arg(), "--rules", routing_path,
                                   "--json"]),
                       ("rules diff", ["rules", "diff", routing_path, "--state", d.db_arg(),
                                       "--json"])):
        p = run_ctl(args, timeout=60)
        assert p.returncode == 0, "%s: %s" % (name, p.stdout + p.stderr)
        out[name] = p.stdout
    return out


def daemon_answers(d, rid):
    """Every reply of the daemon that could show referral RID: get (with
    its history, trace and reasons), list, events, audit."""
    return {"get": json.dumps(d.ok({"op": "get", "id": rid})),
            "list": json.dumps(d.ok({"op": "list", "since": 0, "limit": 1000})),
            "events": json.dumps(d.all_events(0)),
            "audit": json.dumps(d.ok({"op": "audit", "since": 0, "limit": 10000}))}


class GoneFromEveryQuery(rdtest.TestCase):
    """The daemon's guarantee: gone from every table and query at once."""

    def test_an_erase_takes_the_data_out_of_every_table_in_one_transaction(self):
        d = self.daemon(routing=ROUTING_ROOMY, store="postgresql")
        marks = Marks()
        d.submit(referral())
        a = d.submit(marks.referral())
        # declined with a reason: the referral is offered to the other
        # connector and stays open, so that the erase withdraws it first
        d.ok({"op": "update", "id": a["id"], "status": "declined", "connector": a["connector"],
              "reason_code": "other", "reason": marks.by_label["reason"]})
        everything = sorted(marks.by_label)
        # the searches find what is there (else the assertions below prove nothing)
        self.assertEqual(marks.found(d.pg_rows()), everything)
        self.assertEqual(marks.found(daemon_answers(d, a["id"])["get"]), everything)
        base = d.last_seq()
        rep = d.ok({"op": "erase", "id": a["id"]})
        self.assertEqual(rep["status"], "withdrawn")
        self.assertIs(rep["wiped"], False, "PostgreSQL keeps old bytes: never true here")
        # acknowledged: no row of any table holds it, no answer shows it
        self.assertEqual(marks.found(d.pg_rows()), [], "a table still holds erased data")
        for name, text in daemon_answers(d, a["id"]).items():
            self.assertEqual(marks.found(text), [], "%s still returns erased data" % name)
        for name, text in tool_outputs(d, d.routing_path).items():
            self.assertEqual(marks.found(text), [], "referralctl %s prints erased data" % name)
        # one transaction: the withdrawal, the erased row, its reasons, the
        # events and the audit entry were written by the same one
        evs = d.all_events(base)
        self.assertEqual([e["type"] for e in evs], ["referral.withdrawn", "referral.erased"])
        rowid = int(a["id"][1:])
        xids = d.pg_psql("select xmin::text from referrals where rowid = %d"
                         " union select xmin::text from reasons where referral = %d"
                         " union select xmin::text from events where seq > %d"
                         " union select xmin::text from audit where referral = '%s'"
                         "   and action = 'erase'"
                         % (rowid, rowid, base, a["id"]))
        self.assertEqual(len(xids), 1, "the erase was written by several transactions: %r"
                         % xids)
        self.assertEqual(d.pg_psql("select count(*) from audit where referral = '%s'"
                                   " and action = 'erase'" % a["id"]), [("1",)])


class WhatPostgreSQLKeeps(rdtest.TestCase):
    """Where the bytes are after an erase, on the primary and its
    synchronous standby, and what takes them out."""

    def test_with_the_default_settings_old_bytes_stay_until_vacuum_full(self):
        # log_min_duration_statement 0: an operator who logs statements
        # (log_parameter_max_length is -1 by default: every parameter)
        m = Machines(self, settings={"log_min_duration_statement": "0"})
        marks = Marks()
        rec = Record("An erase on PostgreSQL 15, default settings (wal_recycle on, "
                     "log_parameter_max_length -1), log_min_duration_statement 0:")
        rid = m.submit_marked(marks)
        before = m.where(marks, rec, "before the erase")
        for place, found in before.items():
            self.assertTrue(found, "the search finds nothing in the %s" % place)
        # a dump and a base backup taken before the erase
        tmp = tempfile.mkdtemp(prefix="rdpg-erase-copies-")
        self.addCleanup(shutil.rmtree, tmp, True)
        os.chmod(tmp, 0o777)  # written by the server's user
        dump, backup = os.path.join(tmp, "before.sql"), os.path.join(tmp, "before-backup")
        m.primary._tool("pg_dump", ["-d", m.primary._superuser("referrald"), "-f", dump], 60)
        m.primary._tool("pg_basebackup", ["-D", backup, "-X", "stream", "-c", "fast",
                                          "--no-sync", "-d", m.primary._superuser_tcp()], 120)
        m.erase(rid)
        found = rec.add("erase acknowledged", "every row (a query)", marks.found(
            m.primary.psql("select x::text from referrals x union all "
                             "select x::text from reasons x union all "
                             "select x::text from events x")))
        self.assertEqual(found, [], "a query still finds erased data")
        m.where(marks, rec, "erase, CHECKPOINT")
        rec.add("erase", "primary server log", marks.found(m.primary.log_text()))
        rec.add("(taken before)", "pg_dump output", marks.in_files(dump))
        rec.add("(taken before)", "pg_basebackup", marks.in_files(backup))
        m.switch_wal()
        for place in ("primary WAL", "standby WAL"):
            rec.add("erase, pg_switch_wal, CHECKPOINT", place, marks.in_files(m.places[place]))
        m.vacuum()
        m.checkpoint()
        for place in ("primary heap", "standby heap"):
            rec.add("VACUUM, CHECKPOINT", place, marks.in_files(m.places[place]))
        m.vacuum(full=True)
        m.checkpoint()
        for place in ("primary heap", "standby heap"):
            found = rec.add("VACUUM FULL, CHECKPOINT", place, marks.in_files(m.places[place]))
            self.assertEqual(found, [], "VACUUM FULL left erased data in the %s" % place)
        for _ in range(4):
            m.switch_wal()
        for place in ("primary WAL", "standby WAL"):
            rec.add("4 x (pg_switch_wal, CHECKPOINT)", place, marks.in_files(m.places[place]))
        rec.print()

    def test_with_wal_recycle_off_a_switch_and_a_checkpoint_take_it_out_of_the_wal(self):
        m = Machines(self, settings={"wal_recycle": "off", "log_min_duration_statement": "0",
                                     "log_parameter_max_length": "0"})
        marks = Marks()
        rec = Record("An erase on PostgreSQL 15, wal_recycle off, log_parameter_max_length 0,"
                     " log_min_duration_statement 0:")
        rid = m.submit_marked(marks)
        for place, found in m.where(marks, rec, "before the erase").items():
            self.assertTrue(found, "the search finds nothing in the %s" % place)
        # the segments of the submit gone, the erase's own WAL: the first
        # change of a page after a checkpoint logs the whole page, the old
        # version of the row included
        m.switch_wal()
        rec.add("pg_switch_wal, CHECKPOINT", "primary WAL",
                marks.in_files(m.places["primary WAL"]))
        m.erase(rid)
        rec.add("then the erase", "primary WAL", marks.in_files(m.places["primary WAL"]))
        m.vacuum(full=True)
        m.switch_wal()
        for place, root in m.places.items():
            found = rec.add("VACUUM FULL, pg_switch_wal, CHECKPOINT", place, marks.in_files(root))
            self.assertEqual(found, [], "erased data is still in the %s" % place)
        for server in (m.primary, m.standby):
            found = rec.add("throughout", server.name + " server log",
                            marks.found(server.log_text()))
            self.assertEqual(found, [], "personal data in the server log of %s" % server.name)
        rec.print()


if __name__ == "__main__":
    import unittest
    unittest.main()
