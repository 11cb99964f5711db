"""The PostgreSQL store's unit tests on a real server (daemon.md rev 2,
"Several machines: the PostgreSQL store").

tests/test_store_pg.c tests the driver itself (lib/store_pg*); the hub's
unit tests (test_hub*.c, tests/hub_fixture.c) run once more on it, each test
on a schema of its own, so that the whole hub (submit, updates, the waitlist,
deadlines, reload, erase) meets the PostgreSQL driver as it meets SQLite's.
This file starts the server (pgharness.py) and runs those programs with
RD_TEST_PG_CONNINFO (the role referrald, with its password) and
RD_TEST_PG_ADMIN (the superuser, for what a test does to the server).

Environment: RD_UNIT_DIR, the folder of the unit test programs (set by
tests/CMakeLists.txt).
"""

import os
import re
import subprocess
import unittest

import pgharness
import rdtest

UNIT_DIR = os.environ.get("RD_UNIT_DIR") or os.path.join(rdtest.SOURCE_DIR, "build", "tests")


class UnitTestsOnPostgreSQL(rdtest.TestCase):
    server = None
    # tests about SQLite's own file (hub_fixture.h, SQLITE_ONLY)
    MAY_SKIP = {"test_hub_reasons": 1, "test_hub_attention": 1, "test_store_stats": 3}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = pgharness.PgServer(name="unit").start()
        cls.addClassCleanup(cls.server.close)

    def run_unit(self, program, timeout=240):
        env = dict(os.environ,
                   RD_TEST_PG_CONNINFO=self.server.conninfo(password=True),
                   RD_TEST_PG_ADMIN=self.server.conninfo(user="postgres"),
                   CMOCKA_MESSAGE_OUTPUT="stdout")
        p = subprocess.run([os.path.join(UNIT_DIR, program)], env=env, capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, "%s failed on PostgreSQL:\n%s\n--- server log ---\n%s"
                         % (program, out, self.server.log_tail()))
        passed = re.search(r"\[  PASSED  \] (\d+) test", out)
        skipped = re.search(r"\[  SKIPPED \] (\d+) test", out)
        self.assertTrue(passed and int(passed.group(1)) > 0, "%s ran nothing:\n%s" % (program, out))
        # only tests about SQLite's own file skip themselves (SQLITE_ONLY)
        self.assertLessEqual(int(skipped.group(1)) if skipped else 0, self.MAY_SKIP.get(program, 0),
                             "%s skipped tests:\n%s" % (program, out))
        return out

    def test_the_driver_keeps_its_promises(self):
        out = self.run_unit("test_store_pg")
        self.assertIn("PASSED", out)

    def test_the_hub_submits_and_decides_the_same(self):
        self.run_unit("test_hub")

    def test_the_hub_keeps_time_the_same(self):
        self.run_unit("test_hub_time")

    def test_the_hub_keeps_its_waitlist_the_same(self):
        self.run_unit("test_hub_wait")

    def test_the_hub_reads_its_state_the_same(self):
        self.run_unit("test_hub_state")

    def test_the_hub_tells_who_needs_attention_the_same(self):
        self.run_unit("test_hub_attention")

    def test_the_hub_keeps_reasons_the_same(self):
        self.run_unit("test_hub_reasons")

    def test_the_hub_keeps_and_shows_its_traces_the_same(self):
        self.run_unit("test_hub_trace")

    def test_the_figures_of_stats_are_those_counted_from_the_rows(self):
        self.run_unit("test_store_stats")


if __name__ == "__main__":
    unittest.main()
