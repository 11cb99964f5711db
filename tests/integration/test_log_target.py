"""Where the daemon logs: REFERRALD_LOG_TARGET (docs/configuration.md,
"Environment"; referrald(8), ENVIRONMENT).

Unset or `auto`, the daemon logs to the journal when its socket is there
and to standard error otherwise (test_journal.py); `console` sends every
line to standard error, also where a journal is reachable, which is how the
harness starts every test daemon (tools/rdproc.py, LOG_ENV), so that the
tests that read the log run on any host. Any other value is a usage error
(exit 2), with `-t` too.

The journal is the private systemd-journald of test_journal.py, in a mount
namespace of its own: root only, skipped with the reason otherwise.
"""

import os
import unittest

import rdtest
from rdrouting import ROUTING_BASIC
from rdtest import EX_USAGE, referral
from test_journal import MSG_STARTED, MSG_STOPPED, JournalDaemon, JournaldCase

# Lines of the daemon on standard error (daemon/log.c).
STARTED_LINE = "referrald: info: referrald "
EVENT_LINE = "referrald: event "


class ATargetWhereAJournalIsReachable(JournaldCase):

    def run_one(self, target):
        """A daemon beside the journal with REFERRALD_LOG_TARGET=TARGET (None:
        as the harness starts every test daemon), one referral submitted,
        then stopped. Return its standard error, its journal entries and
        the reply to the submit. The entries are read once a daemon logging
        to the journal has stopped after it: the journal has taken by then
        whatever the first one sent."""
        if target is None:
            d = self.daemon(routing=ROUTING_BASIC, start=False)
            d.start(wrapper=self.journald.wrapper())
        else:
            d = JournalDaemon(self.journald, routing=ROUTING_BASIC,
                              env={"REFERRALD_LOG_TARGET": target})
            self.addCleanup(d.close)
            d.start()
        rep = d.submit(referral())
        d.stop()
        witness = JournalDaemon(self.journald, routing=ROUTING_BASIC)
        self.addCleanup(witness.close)
        witness.start()
        witness.stop_and_collect()
        return d.log(), self.journald.entries("_PID=%d" % d.proc.pid), rep

    def assert_all_on_standard_error(self, target):
        log, entries, rep = self.run_one(target)
        self.assertIn(STARTED_LINE, log)
        self.assertIn("referrald: info: referrald stopped", log)
        self.assertTrue([l for l in log.splitlines()
                         if l.startswith(EVENT_LINE) and rep["id"] in l], log)
        self.assertEqual(entries, [], "the daemon wrote to the journal as well")

    def test_the_harness_has_every_line_on_standard_error_though_a_journal_is_there(self):
        self.assert_all_on_standard_error(None)

    def test_console_sends_every_line_to_standard_error(self):
        self.assert_all_on_standard_error("console")

    def test_auto_or_no_target_sends_every_line_to_the_journal(self):
        for target in ("auto", "", None):
            with self.subTest(target=target):
                d = JournalDaemon(self.journald, routing=ROUTING_BASIC,
                                  env={"REFERRALD_LOG_TARGET": target})
                self.addCleanup(d.close)
                d.start()
                rep = d.submit(referral())
                entries = d.stop_and_collect()
                ids = [e.get("MESSAGE_ID") for e in entries]
                self.assertIn(MSG_STARTED, ids)
                self.assertIn(MSG_STOPPED, ids)
                self.assertIn(rep["id"], [e.get("REFERRAL_ID") for e in entries])
                self.assertNotIn(STARTED_LINE, d.log())
                self.assertNotIn(EVENT_LINE, d.log())


class AnUnknownTarget(rdtest.TestCase):

    def test_is_a_usage_error_that_names_the_variable(self):
        d = self.daemon(routing=ROUTING_BASIC, start=False)
        for args in (["-c", d.config_path], ["-t", "-c", d.config_path]):
            with self.subTest(args=args):
                p = rdtest.run_daemon(args, env={"REFERRALD_LOG_TARGET": "syslog"})
                self.assertExit(p, EX_USAGE)
                self.assertIn("REFERRALD_LOG_TARGET: unknown value 'syslog' "
                              "(auto or console)", p.stderr)
        self.assertFalse(os.path.exists(d.database_path), "it started all the same")


if __name__ == "__main__":
    unittest.main(verbosity=2)
