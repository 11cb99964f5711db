"""The YAML limits end to end (routing.md and daemon.md, rev 2; issue 12,
item 9): a routing file or a daemon config that is not a regular file (a
FIFO, which a plain open would wait on for ever) or that is nested too deep
(200,000 `[`: libyaml's scanner, quadratic in the depth, takes some 40 s of
CPU over it) or larger than 1 MiB is refused at once, with the same
message, by every way in:

- `referrald -t` and `referralctl rules check`: exit 78 and
  `FILE:1:1: not a regular file`, `FILE:1:65: nested deeper than 64
  levels of lists and mappings` or `FILE:1:1: the file is larger than
  1048576 bytes`;
- a start: exit 78 with that line, and no database made;
- SIGHUP on a running daemon: refused (`config.rejected` carrying the
  message), and the daemon serves on: a ping sent right after the signal
  is answered, a submit right after the refusal is decided by the rules in
  force, and a good file is taken again by the next SIGHUP.

Nothing waits for a time: each run and each condition has a deadline
(QUICK), which a daemon that blocks on the FIFO or chews on the nesting
misses by far.
"""

import os
import re
import signal
import subprocess

import rdtest
from rdrouting import ROUTING_BASIC, ROUTING_ROOMY
from rdtest import EX_CONFIG, referral, run_daemon, wait_until

REFERRALCTL = os.environ.get("REFERRALCTL") or os.path.join(rdtest.SOURCE_DIR, "build",
                                                             "referralctl")

QUICK = 5.0  # seconds: the deadline of each run and each awaited condition
DEPTH = 200000
FILE_MAX = 1024 * 1024  # lib/yaml_reader.h, RD_YAML_FILE_MAX


def make_fifo(path):
    """PATH becomes a FIFO (replaced at once: a reader never sees a half)."""
    tmp = path + ".fifo"
    os.mkfifo(tmp)
    os.replace(tmp, path)


def make_deep(path):
    tmp = path + ".deep"
    with open(tmp, "w") as f:
        f.write("[" * DEPTH)
    os.replace(tmp, path)


def make_large(path):
    """PATH becomes a valid file one byte over the limit (a comment)."""
    tmp = path + ".large"
    with open(tmp, "w") as f:
        f.write("version: 1\n#" + "x" * (FILE_MAX - len("version: 1\n#") + 1))
    assert os.path.getsize(tmp) == FILE_MAX + 1
    os.replace(tmp, path)


# kind -> (how to make the file so, the message after FILE:)
BAD = {
    "fifo": (make_fifo, "1:1: not a regular file"),
    "deep": (make_deep, "1:65: nested deeper than 64 levels of lists and mappings"),
    "large": (make_large, "1:1: the file is larger than 1048576 bytes"),
}


def diag_line(path, kind):
    """The line that names PATH's fault of KIND, as a regex of a whole line."""
    return r"(?m)^%s:%s$" % (re.escape(path), re.escape(BAD[kind][1]))


class Case(rdtest.TestCase):
    """A daemon on ROUTING_BASIC (not started) per test; WHICH file of it
    is made bad."""

    def bad_daemon(self, kind, which, start=False):
        d = self.daemon(routing=ROUTING_BASIC, start=start)
        path = d.routing_path if which == "routing" else d.config_path
        BAD[kind][0](path)
        return d, path

    def each_bad(self, check, files=("routing", "config")):
        """CHECK(daemon, path, kind) for each kind of bad file of FILES, each
        in a subtest."""
        for kind in BAD:
            for which in files:
                with self.subTest(kind=kind, file=which):
                    d, path = self.bad_daemon(kind, which)
                    check(d, path, kind)


class ACheckRefusesThemAtOnce(Case):

    def test_referrald_t_exits_78_naming_the_file_and_the_fault(self):
        def check(d, path, kind):
            p = run_daemon(["-t", "-c", d.config_path], timeout=QUICK)
            self.assertExit(p, EX_CONFIG)
            self.assertRegex(p.stderr, diag_line(path, kind))
        self.each_bad(check)

    def test_rules_check_exits_78_naming_the_file_and_the_fault(self):
        def check(d, path, kind):
            p = subprocess.run([REFERRALCTL, "rules", "check", path], capture_output=True,
                               text=True, timeout=QUICK, stdin=subprocess.DEVNULL)
            self.assertExit(p, EX_CONFIG)
            self.assertEqual(p.stdout, "")
            self.assertRegex(p.stderr, diag_line(path, kind))
        self.each_bad(check, files=("routing",))


class AStartRefusesThem(Case):

    def test_a_start_exits_78_with_the_line_and_makes_no_database(self):
        def check(d, path, kind):
            d.start(wait=False)
            self.assertEqual(d.wait_exit(QUICK), EX_CONFIG, d.log())
            self.assertRegex(d.log(), diag_line(path, kind))
            self.assertFalse(os.path.exists(d.database_path))
        self.each_bad(check)


class AReloadRefusesThemAndServesOn(Case):

    def test_sighup_is_refused_and_the_daemon_goes_on_serving(self):
        d = self.daemon(routing=ROUTING_ROOMY)
        with open(d.routing_path) as f:
            good_routing = f.read()
        with open(d.config_path) as f:
            good_config = f.read()
        for kind in BAD:
            for which, path, good in (("routing", d.routing_path, good_routing),
                                      ("config", d.config_path, good_config)):
                with self.subTest(kind=kind, file=which):
                    self.refused_and_served(d, kind, path)
                    self.taken_again(d, path, good)

    def config_events(self, d, since):
        return [e for e in d.all_events(since) if e["type"].startswith("config.")]

    def refused_and_served(self, d, kind, path):
        base = d.last_seq()
        BAD[kind][0](path)
        d.signal(signal.SIGHUP)
        # the serving loop neither blocks on the file nor parses it
        self.assertOk(d.request({"op": "ping"}, timeout=QUICK))
        evs = wait_until(lambda: self.config_events(d, base), timeout=QUICK,
                         what="config.rejected after SIGHUP")
        self.assertEqual([e["type"] for e in evs], ["config.rejected"], evs)
        self.assertEqual(evs[0]["error"], "%s:%s" % (path, BAD[kind][1]))
        self.assertEqual(evs[0]["errors"], 1)
        log = d.log()
        self.assertRegex(log, r"(?m)^referrald: warning: %s:%s$"
                         % (re.escape(path), re.escape(BAD[kind][1])))
        self.assertRegex(log, r"(?m)^referrald: warning: reload refused: 1 errors; the rules in "
                              r"force stay \(digest [0-9a-f]{64}\)$")
        # the rules in force decide the next referral at once
        rep = d.submit(referral(), timeout=QUICK)
        self.assertEqual((rep["status"], rep["rule"], rep["team"]),
                         ("assigned", "family-genk", "genk"), rep)
        self.assertTrue(d.running())

    def taken_again(self, d, path, good):
        base = d.last_seq()
        os.unlink(path)  # the FIFO or the deep file
        with open(path, "w") as f:
            f.write(good)
        d.signal(signal.SIGHUP)
        evs = wait_until(lambda: self.config_events(d, base), timeout=QUICK,
                         what="config.reloaded after SIGHUP")
        self.assertEqual([e["type"] for e in evs], ["config.reloaded"], evs)


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
