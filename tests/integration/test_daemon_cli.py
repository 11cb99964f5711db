"""daemon.md, "Command line", exit codes and config checking, as an
operator meets them: `referrald --version`, `-t`, bad configs refused with
FILE:LINE:COLUMN, non-local endpoints refused without security.
"""

import hashlib
import os
import re
import shutil
import signal
import socket
import tempfile
import time

import rdrouting
import rdtest
from rdrouting import (BASIC_CRISIS, BASIC_RULES, CAW, EVERYTHING_ELSE, FAMILY_GENK, ROUTING_BASIC,
                       basic, genk, pos, psychology, rule)
from rdtest import EX_CONFIG, EX_USAGE, free_ports, referral, run_daemon


class TempDir(rdtest.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="rdcli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.ports = free_ports(2)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def config(self, extra="", routing=ROUTING_BASIC, intake=None, events=None):
        return rdtest.write_config(self.tmp, intake or "tcp://127.0.0.1:%d" % self.ports[0],
                                   events or "tcp://127.0.0.1:%d" % self.ports[1],
                                   routing=routing, extra=extra)

    def run_d(self, *args, timeout=10, env=None):
        return run_daemon(list(args), timeout=timeout, cwd=self.tmp, env=env)

    def out(self, p):
        return p.stdout + p.stderr


class Options(TempDir):
    def test_version_prints_semver_and_exits_0(self):
        p = self.run_d("--version")
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assertRegex(p.stdout, r"(^|\s)\d+\.\d+\.\d+(\s|$)")

    def test_version_matches_ping(self):
        p = self.run_d("--version")
        v = re.search(r"\d+\.\d+\.\d+", p.stdout).group(0)
        with rdtest.Daemon(routing=ROUTING_BASIC) as d:
            self.assertEqual(d.ok({"op": "ping"})["version"], v)

    def test_help_exits_0_and_names_the_options(self):
        p = self.run_d("--help")
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assertIn("-c", p.stdout)
        self.assertIn("-t", p.stdout)

    def test_unknown_option_is_a_usage_error(self):
        for args in (["--bogus"], ["-x"], ["-c"], ["-c", "a.yaml", "extra-arg"]):
            with self.subTest(args=args):
                p = self.run_d(*args)
                self.assertEqual(p.returncode, EX_USAGE, self.out(p))
                self.assertTrue(p.stderr.strip(), "a usage error says what is wrong on stderr")

    def test_missing_config_file_is_refused(self):
        p = self.run_d("-c", os.path.join(self.tmp, "nope.yaml"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("nope.yaml", self.out(p))


class Check(TempDir):
    """`referrald -t [-c FILE]` checks config and routing file, starts nothing."""

    def test_good_config_exits_0(self):
        path = self.config("retention: 365d\naudit_retention: 730d\njournal_events: decisions\n")
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "referrald.db")),
                         "-t starts nothing and creates no database")
        # and nothing listens on the intake port
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", self.ports[0]))
        finally:
            s.close()

    def test_embedded_defaults_check_ok(self):
        p = self.run_d("-t")
        self.assertEqual(p.returncode, 0, self.out(p))

    def test_empty_config_is_valid(self):
        # every key is optional
        path = self.write("empty.yaml", "")
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, 0, self.out(p))

    def test_unknown_key_is_reported_with_file_line_column(self):
        path = self.config(routing=None, extra="colour: red\n")
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
        self.assertIn("%s:4:1: " % path, self.out(p))

    def test_every_error_is_printed(self):
        path = self.config(routing=None,
                           extra="colour: red\nretention: 5x\njournal_events: sometimes\n")
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
        text = self.out(p)
        self.assertIn("%s:4:1: " % path, text)
        self.assertRegex(text, re.escape(path) + r":5:\d+: ")
        self.assertRegex(text, re.escape(path) + r":6:\d+: ")

    def test_feature_key_the_daemon_lacks_is_an_error(self):
        path = self.config(routing=None, extra="metrics:\n  port: 9100\n")
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
        self.assertIn("%s:4:1: " % path, self.out(p))

    def test_bad_routing_file_is_reported(self):
        routing = basic(rules=[BASIC_CRISIS, psychology("nope"), FAMILY_GENK, EVERYTHING_ELSE])
        line = routing.splitlines().index(
            "    assign: {teams: [nope], window: 10d}") + 1
        path = self.config(routing=routing)
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
        m = re.search(r"routing\.yaml:(\d+):(\d+): ", self.out(p))
        self.assertTrue(m, "no FILE:LINE:COLUMN error for routing.yaml in %r" % self.out(p))
        self.assertEqual(int(m.group(1)), line, self.out(p))

    def test_routing_errors_all_printed(self):
        routing = rdrouting.routing(
            [rule("fam", {"kind": "family_support"}, assign={"teams": ["genk"], "colour": "red"})],
            [genk(2, people=["kelly"])], targets={"caw": "CAW"}, window="30x")
        path = self.config(routing=routing)
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
        lines = {int(m.group(1)) for m in
                 re.finditer(r"routing\.yaml:(\d+):(\d+): (?!warning)", self.out(p))}
        self.assertIn(pos(routing, "30x")[0], lines, "bad duration: %s" % self.out(p))
        self.assertIn(pos(routing, "colour")[0], lines, "unknown key: %s" % self.out(p))
        # the missing catch-all points at the last rule (where it starts)
        self.assertIn(pos(routing, "- name: fam")[0], lines, "missing catch-all: %s" % self.out(p))

    def test_warnings_do_not_fail(self):
        shadowed = rule("shadowed",
                        {"kind": "family_support", "postcode": "3600", "urgency": "high"},
                        forward=(CAW, "never reached"))
        routing = basic(rules=BASIC_RULES[:-1] + [shadowed, EVERYTHING_ELSE])
        path = self.config(routing=routing)
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assertRegex(self.out(p), r"routing\.yaml:\d+:\d+: warning: ")

    def security_yaml(self, key_file="server.key", role="partner", extra=""):
        keys = rdtest.Keys(["a", "b"])
        keys.write_secret(self.tmp)
        text = keys.yaml([("a", "ocmw-genk", role), ("b", "coord", "coordinator")],
                         secret_file=key_file)
        return text + extra

    def test_security_config_checks(self):
        path = self.config(self.security_yaml())
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, 0, self.out(p))
        # with security, a non-local endpoint is allowed
        path = self.config(self.security_yaml(), intake="tcp://0.0.0.0:%d" % self.ports[0])
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, 0, self.out(p))

    def test_bad_security_config_is_reported(self):
        # lines: 1-4 intake, events, database, routing; 5 security:,
        # 6 secret_key_file, 7 clients:, 8 and 9 the two clients
        cases = [
            ("bad role", self.security_yaml(role="boss"), 8),
            ("unknown key", self.security_yaml(extra="  colour: red\n"), 10),
        ]
        for name, sec, line in cases:
            with self.subTest(case=name):
                path = self.config(sec)
                p = self.run_d("-t", "-c", path)
                self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
                self.assertRegex(self.out(p), re.escape(path) + r":%d:\d+: " % line)
                p = self.run_d("-c", path)
                self.assertEqual(p.returncode, EX_CONFIG, self.out(p))

    def test_secret_key_file_that_is_no_key_is_an_invalid_configuration(self):
        self.write("bad.key", "not a key")
        path = self.config(self.security_yaml(key_file="bad.key"))
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, EX_CONFIG, "-t must catch it: " + self.out(p))
        self.assertIn("bad.key", self.out(p))
        p = self.run_d("-c", path)
        self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
        self.assertIn("bad.key", self.out(p))

    def test_missing_secret_key_file_refuses_to_start(self):
        path = self.config(self.security_yaml(key_file="nope.key"))
        p = self.run_d("-c", path)
        self.assertIn(p.returncode, (1, EX_CONFIG), self.out(p))
        self.assertIn("nope.key", self.out(p))

    def test_duplicate_client_id_is_reported(self):
        keys = rdtest.Keys(["a", "b"])
        keys.write_secret(self.tmp)
        sec = keys.yaml([("a", "ocmw-genk", "partner"), ("b", "ocmw-genk", "coordinator")])
        path = self.config(sec)
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
        self.assertRegex(self.out(p), re.escape(path) + r":9:\d+: ")  # the second one

    def test_non_local_endpoint_is_refused_by_check(self):
        path = self.config(intake="tcp://0.0.0.0:%d" % self.ports[0])
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
        self.assertIn("security", self.out(p))


class CheckOutsideTheService(TempDir):
    """daemon.md rev 2: `referrald -t` run by an operator, where systemd's
    ${STATE_DIRECTORY} and ${CREDENTIALS_DIRECTORY} are not set, checks
    everything else, prints one warning per path it could not check (at
    its key) and exits 0 when nothing else is wrong."""

    # lines: 1 intake, 2 events, 3 database, 4 routing, 5 security:,
    # 6 secret_key_file, 7 clients:, 8 the client
    WARNINGS = [
        (3, 1, "database uses ${STATE_DIRECTORY}, which is not set"),
        (4, 1, "routing uses ${STATE_DIRECTORY}, which is not set"),
        (6, 3, "security.secret_key_file uses ${CREDENTIALS_DIRECTORY}, which is not set"),
    ]

    def config_with_variables(self, extra=""):
        keys = rdtest.Keys(["a"])
        self.state = os.path.join(self.tmp, "state")
        self.cred = os.path.join(self.tmp, "credentials")
        os.makedirs(self.state)
        os.makedirs(self.cred)
        self.write("state/routing.yaml", ROUTING_BASIC)
        keys.write_secret(self.cred)
        sec = keys.yaml([("a", "ocmw-genk", "partner")],
                        secret_file="${CREDENTIALS_DIRECTORY}/server.key")
        return rdtest.write_config(self.tmp, "tcp://127.0.0.1:%d" % self.ports[0],
                                   "tcp://127.0.0.1:%d" % self.ports[1],
                                   database="${STATE_DIRECTORY}/referrald.db",
                                   extra="routing: ${STATE_DIRECTORY}/routing.yaml\n" + sec + extra)

    def warnings(self, p):
        return [l for l in p.stderr.splitlines() if ": warning: " in l]

    def assert_warnings(self, path, p):
        got = self.warnings(p)
        self.assertEqual(len(got), len(self.WARNINGS), self.out(p))
        for line, (row, col, message) in zip(got, self.WARNINGS):
            self.assertTrue(line.startswith("%s:%d:%d: warning: %s" % (path, row, col, message)),
                            "%r in %s" % (line, self.out(p)))

    def test_unset_variables_are_warnings_and_the_check_passes(self):
        path = self.config_with_variables()
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assert_warnings(path, p)
        self.assertEqual(os.listdir(self.state), ["routing.yaml"], "-t creates no database")

    def test_set_variables_are_expanded_and_checked_without_a_warning(self):
        path = self.config_with_variables()
        env = {"STATE_DIRECTORY": self.state, "CREDENTIALS_DIRECTORY": self.cred}
        p = self.run_d("-t", "-c", path, env=env)
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assertEqual(self.warnings(p), [], self.out(p))
        self.assertIn(os.path.join(self.state, "routing.yaml"), p.stdout)
        # checked, not skipped: a key file that is no key fails
        self.write("credentials/server.key", "not a key")
        p = self.run_d("-t", "-c", path, env=env)
        self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
        self.assertIn("server.key", self.out(p))

    def test_a_real_error_besides_fails_and_everything_is_printed(self):
        path = self.config_with_variables(extra="journal_events: sometimes\n")
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
        self.assertIn("%s:9:17: journal_events: unknown value 'sometimes'" % path, p.stderr)
        self.assert_warnings(path, p)

    def test_starting_with_the_variables_unset_stays_an_invalid_configuration(self):
        path = self.config_with_variables()
        p = self.run_d("-c", path)
        self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
        for row, _, message in self.WARNINGS:
            self.assertRegex(p.stderr, re.escape(path) + r":%d:\d+: %s" % (row, re.escape(message)))
        self.assertNotIn(": warning: ", p.stderr)
        self.assertEqual(os.listdir(self.state), ["routing.yaml"], "nothing was started")

    def test_the_shipped_example_config_passes(self):
        for name in ("referrald.yaml", "routing.yaml"):
            shutil.copy(os.path.join(rdtest.SOURCE_DIR, "config", name), self.tmp)
        path = os.path.join(self.tmp, "referrald.yaml")
        p = self.run_d("-t", "-c", path)
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assertRegex(p.stderr, r"^%s:\d+:1: warning: database uses \$\{STATE_DIRECTORY\}"
                         % re.escape(path))


class Refuse(TempDir):
    """Without a valid configuration the daemon does not start (exit 78)."""

    def test_non_local_endpoints_refused_without_security(self):
        for intake, events in [("tcp://0.0.0.0:%d" % self.ports[0], None),
                               ("tcp://*:%d" % self.ports[0], None),
                               (None, "tcp://0.0.0.0:%d" % self.ports[1])]:
            with self.subTest(intake=intake, events=events):
                path = self.config(intake=intake, events=events)
                p = self.run_d("-c", path)
                self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
                self.assertIn("security", self.out(p),
                              "the message names what to set")

    def test_invalid_routing_file_refuses_to_start(self):
        bad = rule("BAD NAME", forward=(CAW, "outside the target group"))
        routing = basic(rules=BASIC_RULES[:-1] + [bad])
        path = self.config(routing=routing)
        p = self.run_d("-c", path)
        self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
        self.assertRegex(self.out(p), r"routing\.yaml:\d+:\d+: ")

    def test_missing_routing_file_refuses_to_start(self):
        path = self.config(routing=None, extra="routing: does-not-exist.yaml\n")
        p = self.run_d("-c", path)
        self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
        self.assertIn("does-not-exist.yaml", self.out(p))

    def test_invalid_config_refuses_to_start(self):
        path = self.config(extra="journal_events: sometimes\n")
        p = self.run_d("-c", path)
        self.assertEqual(p.returncode, EX_CONFIG, self.out(p))
        self.assertRegex(self.out(p), re.escape(path) + r":\d+:\d+: ")

    def test_busy_port_is_a_runtime_fault(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        s.bind(("127.0.0.1", self.ports[0]))
        s.listen(1)
        try:
            path = self.config()
            p = self.run_d("-c", path)
            self.assertEqual(p.returncode, 1, self.out(p))
            self.assertIn(str(self.ports[0]), self.out(p), "the message names the endpoint")
        finally:
            s.close()


class EmbeddedDefaults(TempDir):
    """daemon.md, "Command line": `referrald` alone runs in the foreground
    with the embedded defaults: 5570 intake, 5571 events, referrald.db in
    $STATE_DIRECTORY or else the current folder, and the example routing
    file compiled in. The ports are fixed: skipped when something else has
    them."""

    DEFAULT_PORTS = (5570, 5571)

    def setUp(self):
        super().setUp()
        for port in self.DEFAULT_PORTS:
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                self.skipTest("port %d is in use here" % port)
            finally:
                s.close()

    def run_bare(self, env=None):
        """`referrald` without arguments, in self.tmp; return its Daemon
        (whose `-c CONFIG` a shell drops: `exec "$0"` runs the binary alone)."""
        d = rdtest.Daemon(start=False, intake="tcp://127.0.0.1:5570",
                          events="tcp://127.0.0.1:5571", env=env)
        self.addCleanup(d.close)
        d.rundir = self.tmp
        d.start(wrapper=["/bin/sh", "-c", 'exec "$0"'])
        return d

    def test_without_arguments_it_serves_the_example_on_5570_and_5571_from_the_current_folder(self):
        d = self.run_bare()
        ping = d.ok({"op": "ping"})
        with open(os.path.join(rdtest.SOURCE_DIR, "config", "routing.yaml"), "rb") as f:
            example = hashlib.sha256(f.read()).hexdigest()
        self.assertEqual(ping["routing"]["digest"], example, ping)
        sub = d.subscribe()  # the events on 5571
        base = d.last_seq()
        d.submit(referral())
        self.assertEqual(len(rdtest.recv_events(sub, 2, after_seq=base)), 2)
        self.assertTrue(os.path.isfile(os.path.join(self.tmp, "referrald.db")))
        self.assertEqual(d.stop(), 0)

    def test_without_arguments_the_database_is_in_the_state_directory(self):
        state = os.path.join(self.tmp, "state")
        os.mkdir(state)
        d = self.run_bare(env={"STATE_DIRECTORY": state})
        d.submit(referral())
        self.assertTrue(os.path.isfile(os.path.join(state, "referrald.db")))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "referrald.db")))


class LocalEndpoints(rdtest.TestCase):
    """protocol.md, Security: without security the daemon binds local
    endpoints (127.0.0.0/8, ::1, localhost, ipc://, inproc://)."""

    def roundtrip(self, d):
        rep = d.submit(referral())
        self.assertEqual(rep["status"], "assigned")
        sub = d.subscribe()
        base = d.last_seq()
        d.submit(referral())
        self.assertEqual(len(rdtest.recv_events(sub, 2, after_seq=base)), 2)

    def test_ipc_endpoints(self):
        tmp = tempfile.mkdtemp(prefix="rdipc-")
        self.addCleanup(shutil.rmtree, tmp, True)
        d = self.daemon(routing=ROUTING_BASIC, intake="ipc://%s/intake.sock" % tmp,
                        events="ipc://%s/events.sock" % tmp)
        self.roundtrip(d)

    def test_other_loopback_address(self):
        port1, port2 = free_ports(2)
        d = self.daemon(routing=ROUTING_BASIC, intake="tcp://127.0.0.2:%d" % port1,
                        events="tcp://127.0.0.1:%d" % port2)
        self.roundtrip(d)

    def test_localhost(self):
        port1, port2 = free_ports(2)
        d = self.daemon(routing=ROUTING_BASIC, intake="tcp://localhost:%d" % port1,
                        events="tcp://localhost:%d" % port2)
        self.roundtrip(d)

    def test_ipv6_loopback(self):
        try:
            s = socket.socket(socket.AF_INET6)
            s.bind(("::1", 0))
            s.close()
        except OSError:
            self.skipTest("no ::1 here")
        port1, port2 = free_ports(2)
        d = self.daemon(routing=ROUTING_BASIC, intake="tcp://[::1]:%d" % port1,
                        events="tcp://127.0.0.1:%d" % port2)
        self.roundtrip(d)


class SystemdNotify(rdtest.TestCase):
    """daemon.md, under systemd (NOTIFY_SOCKET set): READY=1 once both
    sockets are bound and the database is open, STATUS= lines, RELOADING=1
    then READY=1 around a reload, STOPPING=1 at shutdown, WATCHDOG=1 at
    half of WATCHDOG_USEC."""

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="rdnotify-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.path = os.path.join(self.tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.addCleanup(self.sock.close)
        self.got = []  # (monotonic time, line)

    def collect(self, until, timeout=5.0):
        """Read notifications until UNTIL(lines) is true or TIMEOUT."""
        deadline = time.monotonic() + timeout
        while not until([l for _, l in self.got]):
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail("notifications so far: %r" % [l for _, l in self.got])
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            now = time.monotonic()
            for line in data.decode("utf-8", "replace").splitlines():
                self.got.append((now, line))

    def test_ready_status_reload_stopping(self):
        d = self.daemon(routing=ROUTING_BASIC, start=False, env={"NOTIFY_SOCKET": self.path})
        d.start()
        self.collect(lambda ls: "READY=1" in ls)
        lines = [l for _, l in self.got]
        self.assertTrue(any(l.startswith("STATUS=") for l in lines), lines)
        # READY=1 means both sockets answer right away
        s = d.dealer()
        s.send(b'{"op":"ping"}')
        self.assertTrue(s.poll(1000))
        s.close(0)
        self.got.clear()
        d.signal(signal.SIGHUP)
        self.collect(lambda ls: "RELOADING=1" in ls and "READY=1" in ls[ls.index("RELOADING=1"):])
        self.got.clear()
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0)
        self.collect(lambda ls: "STOPPING=1" in ls, timeout=1.0)

    def test_watchdog_pings_at_half_the_interval(self):
        d = self.daemon(routing=ROUTING_BASIC, start=False,
                        env={"NOTIFY_SOCKET": self.path, "WATCHDOG_USEC": "400000"})
        d.start()
        self.collect(lambda ls: ls.count("WATCHDOG=1") >= 5, timeout=3.0)
        times = [t for t, l in self.got if l == "WATCHDOG=1"]
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertLess(max(gaps), 0.4, "a watchdog gap as long as WATCHDOG_USEC: %r" % gaps)


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
