"""The PostgreSQL test harness (pgharness.py) on real PostgreSQL servers.

The tests of the PostgreSQL store (daemon.md rev 2, "Several machines") rest
on this harness: a primary and a synchronous standby that it starts on
loopback, a commit that waits while the standby is down, a promotion that a
two-host conninfo follows, and nothing left running afterwards, whatever
happens to the test. Each test prints how long each step took.

Needs the Debian package postgresql-15 (tools/do deps) and root (the servers
run as the user postgres) or a user that can run them itself; skipped, with
the reason, only where PostgreSQL can neither be installed nor run.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
import unittest

import pgharness
from pgharness import PgError, PgServer, multi_conninfo, psql
from rdtest import wait_until

SKIP = pgharness.skip_reason()

SCHEMA = ("create table referrals (id int primary key, note text);"
          "alter table referrals owner to referrald")


def shm_ids():
    with open("/proc/sysvipc/shm") as f:
        return {line.split()[1] for line in f.read().splitlines()[1:]}


@unittest.skipIf(SKIP, SKIP or "")
class PgHarnessTest(unittest.TestCase):

    def setUp(self):
        self.servers = []
        self.t0 = time.monotonic()
        self.addCleanup(self.report)   # the last cleanup: after every close()

    def report(self):
        for server in self.servers:
            steps = ", ".join("%s %.2fs" % kv for kv in server.timings.items())
            print("    %s: %s" % (server.name, steps))
        print("    whole test %.2fs" % (time.monotonic() - self.t0))

    @classmethod
    def tearDownClass(cls):
        steps = ", ".join("%s %.2fs" % kv for kv in pgharness.template_timings().items())
        print("template cluster (once per process): %s" % steps)

    def primary(self):
        p = PgServer()
        self.addCleanup(p.close)
        self.servers.append(p)
        p.start()
        return p

    def pair(self):
        p = self.primary()
        s = p.add_standby()
        self.servers.append(s)
        p.psql(SCHEMA)
        return p, s

    def test_a_primary_and_its_synchronous_standby_run_durable_on_loopback_and_a_committed_row_reaches_the_standby(self):
        p, s = self.pair()
        self.assertEqual(p.replication_state(s), ("streaming", "sync"))
        self.assertFalse(p.in_recovery())
        self.assertTrue(s.in_recovery())
        p.psql("insert into referrals values (1, 'first')", user="referrald")
        # synchronous_commit=on waits until the standby has flushed the
        # commit, not until it has replayed it: await the replay.
        p.wait_replayed(s)
        self.assertEqual(s.psql("select id, note from referrals"), [("1", "first")])
        for server in (p, s):
            rows = dict(server.psql(
                "select name, setting from pg_settings where name in ('fsync', "
                "'synchronous_commit', 'full_page_writes', 'wal_level', 'listen_addresses')"))
            self.assertEqual(rows, {"fsync": "on", "synchronous_commit": "on",
                                    "full_page_writes": "on", "wal_level": "replica",
                                    "listen_addresses": "127.0.0.1"}, server.name)
        self.assertEqual(p.scalar("show synchronous_standby_names"), '"%s"' % s.cluster_name)

    def test_a_commit_waits_while_the_synchronous_standby_is_down_and_completes_when_it_is_back(self):
        p, s = self.pair()
        s.stop("fast")
        commit = p.psql_popen("insert into referrals values (2, 'waits')")
        wait_until(lambda: p.scalar("select count(*) from pg_stat_activity "
                                    "where wait_event = 'SyncRep'") == "1",
                   10, what="the commit to wait for the synchronous standby")
        with self.assertRaises(subprocess.TimeoutExpired):
            commit.wait(timeout=1.0)
        # In the WAL meanwhile, but not acknowledged, and not yet visible
        # to other sessions.
        self.assertEqual(p.psql("select note from referrals"), [])
        s.start()
        out, err = commit.communicate(timeout=pgharness.SYNC_TIMEOUT)
        self.assertEqual(commit.returncode, 0, err)
        self.assertEqual(err, b"")
        p.wait_sync(s)
        p.wait_replayed(s)
        self.assertEqual(s.psql("select note from referrals"), [("waits",)])

    def test_after_an_immediate_stop_of_the_primary_the_promoted_standby_takes_writes_through_the_two_host_conninfo(self):
        p, s = self.pair()
        both = multi_conninfo([p, s])
        self.assertIn("host=127.0.0.1,127.0.0.1 port=%d,%d" % (p.port, s.port), both)
        self.assertIn("target_session_attrs=read-write", both)
        rows = psql(both, "insert into referrals values (3, 'before') "
                          "returning inet_server_port()", p.password)
        self.assertEqual(rows, [(str(p.port),)])
        p.stop("immediate")
        with self.assertRaises(PgError) as e:
            psql(both, "select 1", p.password)
        self.assertIn("Connection refused", e.exception.output)
        self.assertIn("session is read-only", e.exception.output)
        s.promote()
        self.assertFalse(s.in_recovery())
        rows = psql(both, "insert into referrals values (4, 'after') "
                          "returning inet_server_port()", p.password)
        self.assertEqual(rows, [(str(s.port),)])
        self.assertEqual(s.psql("select id, note from referrals order by id"),
                         [("3", "before"), ("4", "after")])

    def test_the_referrald_role_logs_in_over_loopback_with_its_password_only(self):
        p = self.primary()
        self.assertEqual(psql(p.conninfo(), "select current_user, current_database()",
                              p.password), [("referrald", "referrald")])
        with self.assertRaises(PgError) as e:
            psql(p.conninfo(), "select 1")
        self.assertIn("no password supplied", e.exception.output)
        with self.assertRaises(PgError) as e:
            psql(p.conninfo(), "select 1", "not-the-password")
        self.assertIn("password authentication failed", e.exception.output)
        passfile = p.write_password_file(os.path.join(p.dir, "pgpass"), pgpass=True)
        self.assertEqual(psql(p.conninfo(passfile=passfile), "select current_user"),
                         [("referrald",)])
        plain = p.write_password_file(os.path.join(p.dir, "pg.pass"))
        with open(plain) as f:
            self.assertEqual(f.read(), p.password + "\n")
        self.assertEqual(os.stat(plain).st_mode & 0o777, 0o600)

    def test_a_killed_postmaster_leaves_no_process_and_the_server_recovers_its_commits(self):
        p = self.primary()
        p.psql(SCHEMA)
        p.psql("insert into referrals values (5, 'kept')")
        before = p.pids()
        self.assertGreater(len(before), 3)
        p.kill9()
        self.assertEqual(p.pids(), [])
        self.assertFalse(p.running())
        p.start()
        self.assertEqual(p.psql("select note from referrals"), [("kept",)])

    def test_closing_after_a_failure_leaves_no_process_no_folder_and_no_shared_memory(self):
        with self.assertRaises(RuntimeError):
            with PgServer() as p:
                s = p.add_standby()
                self.servers += [p, s]
                shmids = {p.dir: _shmid(p), s.dir: _shmid(s)}
                p.kill9(everything=True)      # leaves its segment behind
                raise RuntimeError("a failing test")
        for server in (p, s):
            self.assertEqual(server.pids(), [])
            self.assertNotIn(shmids[server.dir], shm_ids())
            wait_until(lambda: not os.path.exists(server.dir), 30,
                       what="the folder of %s to be removed" % server.name)

    def test_a_test_process_killed_with_sigkill_leaves_no_server_behind(self):
        child = textwrap.dedent("""
            import os, signal, sys
            sys.path.insert(0, %r)
            import pgharness
            p = pgharness.PgServer().start()
            s = p.add_standby()
            print(p.dir, s.dir, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
            """ % os.path.dirname(os.path.abspath(pgharness.__file__)))
        proc = subprocess.run([sys.executable, "-c", child], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(proc.returncode, -signal.SIGKILL, proc.stderr)
        dirs = proc.stdout.decode().split()
        self.assertEqual(len(dirs), 2, proc.stderr)
        wait_until(lambda: not any(os.path.exists(d) or pgharness._processes_of(d)
                                   for d in dirs),
                   60, what="the watchdog to remove the servers of a killed test process")


def _shmid(server):
    with open(os.path.join(server.data, "postmaster.pid")) as f:
        return f.read().splitlines()[6].split()[1]


if __name__ == "__main__":
    unittest.main()
