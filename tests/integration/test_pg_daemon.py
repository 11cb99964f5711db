"""daemon.md rev 2, "Several machines: the PostgreSQL store", as an operator
and a partner meet it: the config keys and `-t`, a start that cannot reach
or log in to the database, the schema made and versioned by the daemon, a
PostgreSQL server that goes away and comes back under a running daemon, two
daemons that race on one database (seq stays gap-free), a commit whose
outcome is unknown (a synchronous standby that is gone), and the tools'
--state on a conninfo. The protocol, routing, lifecycle and security tests
run on this store too (integration.pg.*); this file has what only this
store has. Each test's PostgreSQL server is pgharness's (rdtest.pg_server:
one per process, a schema per daemon), or one of its own where it stops it.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time

import pgharness
import rdtest
from rdrouting import ROUTING_BASIC, ROUTING_ROOMY
from rdtest import EX_CONFIG, EX_USAGE, free_ports, referral, run_daemon, submit_req, wait_until

REFERRALCTL = os.environ.get("REFERRALCTL") or os.path.join(rdtest.SOURCE_DIR, "build",
                                                            "referralctl")
FAMILY_FR = os.path.join(rdtest.SOURCE_DIR, "tests", "data", "referral_family_fr.json")


def pg_yaml(conninfo, password_file=None):
    text = "store: postgresql\npostgresql:\n  conninfo: \"%s\"\n" % conninfo
    if password_file:
        text += "  password_file: %s\n" % password_file
    return text


def run_ctl(args, timeout=30, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    e.update(env or {})
    return subprocess.run([REFERRALCTL] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=e, stdin=subprocess.DEVNULL)


def event_seqs(d):
    return [e["seq"] for e in d.all_events()]


class Folder(rdtest.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="rdpgcfg-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.ports = free_ports(2)

    def config(self, extra, database=None):
        return rdtest.write_config(self.tmp, "tcp://127.0.0.1:%d" % self.ports[0],
                                   "tcp://127.0.0.1:%d" % self.ports[1], database=database,
                                   routing=ROUTING_BASIC, extra=extra)

    def check(self, config, env=None):
        return run_daemon(["-t", "-c", config], cwd=self.tmp, env=env)

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path


class Config(Folder):
    """The store's keys, checked by -t without connecting to anything."""

    def test_a_conninfo_libpq_reads_passes_without_a_server(self):
        p = self.check(self.config(pg_yaml("host=127.0.0.1 port=1 dbname=referrald "
                                           "connect_timeout=2")))
        self.assertExit(p, 0)
        p = self.check(self.config(pg_yaml("postgresql://referrald@127.0.0.1:1/referrald")))
        self.assertExit(p, 0)

    def test_a_conninfo_libpq_cannot_read_is_an_error_at_its_value(self):
        path = self.config(pg_yaml("host=127.0.0.1 dbname"))
        p = self.check(path)
        self.assertExit(p, EX_CONFIG)
        line = [l for l in p.stderr.splitlines() if "postgresql.conninfo" in l]
        self.assertTrue(line, p.stderr)
        self.assertRegex(line[0], r"^%s:\d+:\d+: postgresql.conninfo is not a connection string"
                         % path)
        self.assertIn("dbname", line[0], "libpq's reason is told")

    def test_store_postgresql_needs_a_conninfo(self):
        path = self.config("store: postgresql\n")
        p = self.check(path)
        self.assertExit(p, EX_CONFIG)
        self.assertRegex(p.stderr, r"%s:\d+:1: store: postgresql needs postgresql.conninfo"
                         % path)
        p = self.check(self.config("store: postgresql\npostgresql: {password_file: pw}\n"))
        self.assertExit(p, EX_CONFIG)
        self.assertIn("postgresql needs conninfo", p.stderr)

    def test_a_postgresql_section_with_the_sqlite_store_is_an_error(self):
        p = self.check(self.config("postgresql: {conninfo: \"dbname=referrald\"}\n"))
        self.assertExit(p, EX_CONFIG)
        self.assertIn("postgresql is read only with store: postgresql", p.stderr)

    def test_an_unknown_store_or_key_is_an_error(self):
        p = self.check(self.config("store: mysql\n"))
        self.assertExit(p, EX_CONFIG)
        self.assertIn("store: unknown value 'mysql'", p.stderr)
        p = self.check(self.config(pg_yaml("dbname=referrald") + "  pasword_file: x\n"))
        self.assertExit(p, EX_CONFIG)
        self.assertIn("did you mean 'password_file'", p.stderr)

    def test_database_beside_the_postgresql_store_is_left_unused(self):
        p = self.check(self.config(pg_yaml("dbname=referrald"), database="referrald.db"))
        self.assertExit(p, 0)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "referrald.db")))

    def test_password_file_in_the_credentials_directory(self):
        path = self.config(pg_yaml("dbname=referrald", "${CREDENTIALS_DIRECTORY}/pg.pass"))
        p = self.check(path)  # outside the service: a warning, unchecked
        self.assertExit(p, 0)
        self.assertIn("postgresql.password_file uses ${CREDENTIALS_DIRECTORY}", p.stderr)
        creds = os.path.join(self.tmp, "creds")
        os.mkdir(creds)
        p = self.check(path, env={"CREDENTIALS_DIRECTORY": creds})
        self.assertExit(p, EX_CONFIG)
        self.assertIn("postgresql.password_file: cannot read the password file", p.stderr)
        self.write("creds/pg.pass", "\n")
        p = self.check(path, env={"CREDENTIALS_DIRECTORY": creds})
        self.assertExit(p, EX_CONFIG)
        self.assertIn("holds no password", p.stderr)
        self.write("creds/pg.pass", "s3cret\n")
        p = self.check(path, env={"CREDENTIALS_DIRECTORY": creds})
        self.assertExit(p, 0)
        self.assertNotIn("s3cret", p.stdout + p.stderr)


class Start(Folder):
    """What a start that cannot use the database says: exit 1, the reason,
    never the password."""

    def start(self, extra):
        path = self.config(extra)
        return subprocess.run([rdtest.REFERRALD, "-c", path], capture_output=True, text=True,
                              timeout=30, cwd=self.tmp, env=rdtest.clean_env(),
                              stdin=subprocess.DEVNULL)

    def test_a_server_that_is_not_there_is_exit_1_with_the_reason(self):
        p = self.start(pg_yaml("host=127.0.0.1 port=%d dbname=referrald user=referrald"
                               % free_ports(1)[0]))
        self.assertExit(p, 1)
        self.assertIn("cannot open the PostgreSQL database: cannot connect", p.stderr)
        self.assertIn("Connection refused", p.stderr)

    def test_a_wrong_password_is_exit_1_and_never_logged(self):
        server = rdtest.pg_server()
        pw = self.write("pg.pass", "not-the-password-4711\n")
        p = self.start(pg_yaml(server.conninfo(), pw))
        self.assertExit(p, 1)
        self.assertIn("password authentication failed", p.stderr)
        self.assertNotIn("not-the-password-4711", p.stdout + p.stderr)

    def test_the_password_file_logs_in(self):
        server = rdtest.pg_server()
        schema = "pwfile_%d" % os.getpid()
        server.psql("create schema %s authorization referrald" % schema)
        pw = server.write_password_file(os.path.join(self.tmp, "pg.pass"))
        d = self.daemon(routing=ROUTING_BASIC, store="sqlite", database=None,
                        extra_yaml=pg_yaml(server.conninfo(options="-csearch_path=" + schema),
                                           pw))
        self.assertEqual(d.submit(referral())["id"], "R000001")
        self.assertNotIn(server.password, d.log())

    def test_a_newer_schema_is_refused_and_left_alone(self):
        d = self.daemon(routing=ROUTING_BASIC, store="postgresql")
        d.submit(referral())
        d.stop()
        self.assertEqual(d.pg_psql("select version from rd_schema"), [("2",)])
        d.pg_psql("update rd_schema set version = 99")
        with self.assertRaises(rdtest.DaemonError):
            d.start()
        self.assertEqual(d.returncode, 1)
        self.assertIn("schema version 99, newer than this referrald", d.log())
        self.assertEqual(d.pg_psql("select version from rd_schema"), [("99",)])


class Served(rdtest.TestCase):
    """A running daemon on PostgreSQL."""

    def test_the_schema_is_made_once_and_ids_and_seq_carry_on(self):
        d = self.daemon(routing=ROUTING_ROOMY, store="postgresql")
        a = d.submit(referral())
        d.restart()
        b = d.submit(referral())
        self.assertEqual((a["id"], b["id"]), ("R000001", "R000002"))
        self.assertEqual(event_seqs(d), [1, 2, 3, 4])
        self.assertEqual(d.pg_psql("select seq, last_rowid from rd_counter"), [("4", "2")])

    def test_an_erase_says_it_is_not_wiped(self):
        # protocol.md rev 2: the rows are gone at once, the bytes stay in
        # PostgreSQL's files and log until vacuum and log recycling
        d = self.daemon(routing=ROUTING_ROOMY, store="postgresql")
        a = d.submit(referral())
        rep = d.ok({"op": "erase", "id": a["id"]})
        self.assertIs(rep["wiped"], False)
        self.assertIs(d.ok({"op": "erase", "id": a["id"]})["wiped"], False)
        self.assertNotIn("Janssens", d.pg_rows())

    def test_a_batch_of_pipelined_submits_with_a_failure_in_it(self):
        # one DEALER, many requests at once: one batch; a conflict in the
        # middle changes nothing, the rest is stored
        d = self.daemon(routing=ROUTING_ROOMY, store="postgresql")
        first = referral()
        d.submit(first)
        clash = dict(first, note="other content")
        reqs = [referral() for _ in range(30)]
        reqs.insert(15, clash)
        s = d.dealer()
        try:
            for i, r in enumerate(reqs):
                s.send_json(submit_req(r, corr=str(i)))
            reps = {}
            while len(reps) < len(reqs) and s.poll(10000):
                rep = json.loads(s.recv())
                reps[rep["corr"]] = rep
        finally:
            s.close(0)
        self.assertError(reps["15"], "conflict", "referral.ref")
        oks = [reps[str(i)] for i in range(len(reqs)) if i != 15]
        for rep in oks:
            self.assertOk(rep)
        self.assertEqual(len({rep["id"] for rep in oks}), 30)
        self.assertEqual(event_seqs(d), list(range(1, 2 + 2 * 31 - 1)))

    def test_postgresql_going_away_and_back_is_served_again_without_a_restart(self):
        with pgharness.PgServer(name="restarted") as server:
            tmp = tempfile.mkdtemp(prefix="rdpg-")
            self.addCleanup(shutil.rmtree, tmp, True)
            pw = server.write_password_file(os.path.join(tmp, "pg.pass"))
            d = self.daemon(routing=ROUTING_ROOMY, store="sqlite",
                            extra_yaml=pg_yaml(server.conninfo(), pw), database=None)
            before = [d.submit(referral()) for _ in range(3)]
            server.stop("fast")
            rep = d.request(submit_req(referral()), timeout=20)
            self.assertIs(rep["ok"], False, "nothing is acknowledged without the database")
            self.assertIn(rep["error"]["code"], ("unavailable", "internal"))
            server.start()
            after = wait_until(lambda: d.request(submit_req(referral()), timeout=20).get("ok"),
                               timeout=30, interval=0.2, what="a submit to be served again")
            self.assertTrue(after)
            for rep in before:
                d.ok({"op": "get", "id": rep["id"]})
            seqs = event_seqs(d)
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "seq has no gap")
            # logged with its cause, by whichever call met it first
            self.assertRegex(d.log(), "the connection to PostgreSQL was lost|terminating "
                                      "connection due to administrator command")

    def test_two_daemons_racing_on_one_database_keep_seq_gap_free(self):
        # The second daemon is a standby (test_pg_failover.py): it answers
        # unavailable; and were both to write, the counter row's fence
        # would make the loser of a race fail its batch, never commit a seq
        # twice or leave a gap.
        a = self.daemon(routing=ROUTING_ROOMY, store="postgresql")
        b = self.daemon(routing=ROUTING_ROOMY, store="sqlite", database=None,
                        extra_yaml=pg_yaml(a.pg_conninfo, os.path.join(a.dir, "pg.pass")))
        sent, acked = {}, {}
        socks = [a.dealer(), b.dealer()]
        try:
            for i in range(400):
                r = referral()
                sent[r["ref"]] = r
                socks[i % 2].send_json(submit_req(r, corr=r["ref"]))
            deadline = time.monotonic() + 60
            replies = 0
            while replies < 400 and time.monotonic() < deadline:
                for s in socks:
                    while s.poll(10):
                        rep = json.loads(s.recv())
                        replies += 1
                        if rep.get("ok"):
                            acked[rep["corr"]] = rep
                        else:
                            self.assertIn(rep["error"]["code"], ("internal", "unavailable"))
        finally:
            for s in socks:
                s.close(0)
        self.assertEqual(replies, 400)
        self.assertGreater(len(acked), 0)
        evs = a.all_events()
        seqs = [e["seq"] for e in evs]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "seq has no gap")
        received = [e["ref"] for e in evs if e["type"] == "referral.received"]
        self.assertEqual(len(received), len(set(received)), "a referral stored twice")
        for ref, rep in acked.items():
            got = a.ok({"op": "get", "partner": sent[ref]["partner"], "ref": ref})
            self.assertEqual(got["id"], rep["id"], "an acknowledged referral is where it said")


class SynchronousStandby(rdtest.TestCase):
    """An ack means committed on the primary and its synchronous standby; a
    commit whose wait for the standby was given up is never `ok`."""

    def test_a_commit_the_standby_never_confirms_is_not_ok_and_a_retry_finds_it(self):
        with pgharness.PgServer(name="primary") as primary:
            standby = primary.add_standby()
            tmp = tempfile.mkdtemp(prefix="rdpg-")
            self.addCleanup(shutil.rmtree, tmp, True)
            pw = primary.write_password_file(os.path.join(tmp, "pg.pass"))
            d = self.daemon(routing=ROUTING_ROOMY, store="sqlite", database=None,
                            extra_yaml=pg_yaml(primary.conninfo(), pw))
            d.submit(referral())
            standby.stop("fast")
            r = referral()
            rep = d.request(submit_req(r), timeout=30)
            self.assertIs(rep["ok"], False, "no ok without the synchronous standby: %r" % rep)
            self.assertEqual(rep["error"]["code"], "unavailable", "daemon.md: it is unavailable")
            self.assertEqual(rep["error"].get("outcome"), "unknown", rep)
            self.assertIn("not known to be replicated", d.log())
            standby.start()
            primary.wait_sync(standby)
            again = d.request(submit_req(r), timeout=30)
            self.assertOk(again)
            self.assertIs(again["duplicate"], True, "it had committed on the primary")
            seqs = event_seqs(d)
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "seq has no gap")


class Tools(rdtest.TestCase):
    """referralctl's offline commands on a conninfo (tools.md)."""

    def test_rules_test_reads_the_loads_of_a_postgresql_database(self):
        d = self.daemon(routing=ROUTING_BASIC, store="postgresql")
        for _ in range(3):
            d.submit(referral())
        conninfo = d.pg_conninfo + " password=" + rdtest.pg_server().password
        p = run_ctl(["rules", "test", d.routing_path, FAMILY_FR, "--state", conninfo, "--json"])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(json.loads(p.stdout)["status"], ("assigned", "waitlisted", "forwarded"))
        # the same through PGPASSWORD, and a URI
        server = rdtest.pg_server()
        uri = "postgresql://referrald@127.0.0.1:%d/referrald?options=-csearch_path%%3D%s" % (
            server.port, d.pg_schema)
        p = run_ctl(["rules", "test", d.routing_path, FAMILY_FR, "--state", uri, "--json"],
                    env={"PGPASSWORD": server.password})
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_rules_test_never_writes_nor_migrates(self):
        d = self.daemon(routing=ROUTING_BASIC, store="postgresql")
        d.submit(referral())
        d.stop()
        d.pg_psql("update rd_schema set version = 0")
        conninfo = d.pg_conninfo + " password=" + rdtest.pg_server().password
        p = run_ctl(["rules", "test", d.routing_path, FAMILY_FR, "--state", conninfo])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("the PostgreSQL database: the database has schema version 0", p.stderr)
        self.assertNotIn(rdtest.pg_server().password, p.stdout + p.stderr)
        self.assertEqual(d.pg_psql("select version from rd_schema"), [("0",)])

    def test_a_wrong_password_is_told_and_not_printed(self):
        d = self.daemon(routing=ROUTING_BASIC, store="postgresql")
        p = run_ctl(["rules", "test", d.routing_path, FAMILY_FR, "--state",
                     d.pg_conninfo + " password=wrong-4711"])
        self.assertEqual(p.returncode, 1)
        self.assertIn("password authentication failed", p.stderr)
        self.assertNotIn("wrong-4711", p.stdout + p.stderr)

    def test_backup_of_a_postgresql_database_is_pg_dumps_job(self):
        out = os.path.join(tempfile.mkdtemp(prefix="rdpg-"), "copy.db")
        self.addCleanup(shutil.rmtree, os.path.dirname(out), True)
        p = run_ctl(["backup", "host=127.0.0.1 dbname=referrald", out])
        self.assertEqual(p.returncode, EX_USAGE, p.stdout + p.stderr)
        self.assertIn("pg_dump", p.stderr)
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    import unittest
    unittest.main()
