"""referralctl with several endpoints (daemon.md, "Several machines"): one
daemon active, the others standby. The real daemon stands behind a relay
that records what it receives; beside it the fakes of rdfake: a standby
(answers `unavailable`), a daemon that never answers, a port where nothing
listens. What a person sees: the same output as with one endpoint; the
same request (the same bytes, the same corr) goes to the next endpoint on
`unavailable`, a timeout or no connection, round the list, within the
command's timeout; any other answer ends it.

Environment: REFERRALCTL, REFERRALD, RD_SOURCE_DIR.
"""

import json
import os
import re
import signal
import subprocess
import tempfile
import time

import rdfake
import rdtest
from rdrouting import ROUTING_ROOMY
from rdtest import TestCase, free_ports, referral
from test_referralctl import REFERRALCTL, LineReader, run_ctl


def dead_endpoint():
    """An endpoint where nothing listens: the connection is refused."""
    return "tcp://127.0.0.1:%d" % free_ports(1)[0]


class SeveralEndpoints(TestCase):

    @classmethod
    def setUpClass(cls):
        cls.d = cls.class_daemon(routing=ROUTING_ROOMY)
        cls.tmp = tempfile.TemporaryDirectory(prefix="endpoints-")
        cls.addClassCleanup(cls.tmp.cleanup)

    def fake(self, make, *args):
        f = make(*args)
        self.addCleanup(f.close)
        return f

    def real(self):
        """The real daemon behind a relay that records what it receives."""
        return self.fake(rdfake.Relay, self.d.intake)

    def ctl(self, endpoints, *args, env=None, timeout=30):
        argv = []
        for ep in endpoints:
            argv += ["-e", ep]
        t0 = time.monotonic()
        p = run_ctl(argv + list(args), env=env, timeout=timeout)
        p.elapsed = time.monotonic() - t0
        return p

    def write(self, obj):
        return rdtest.write_json(self.tmp.name, obj)

    # -- the order, the same request, the output
    def test_a_request_goes_round_in_order_with_the_same_bytes_until_answered(self):
        silent, standby, real = self.fake(rdfake.silent), self.fake(rdfake.standby), self.real()
        r = referral()
        p = self.ctl([silent.endpoint, standby.endpoint, real.endpoint], "-t", "6000", "-v",
                     "submit", self.write(r))
        self.assertExit(p, 0)
        self.assertRegex(p.stdout, r"^R\d+ assigned to ")
        # one copy each, in the order of -e, byte for byte the same
        self.assertEqual(len(silent.bodies()), 1)
        body = silent.bodies()[0]
        self.assertEqual(standby.bodies(), [body])
        self.assertEqual(real.bodies(), [body])
        req = json.loads(body)
        self.assertEqual(req["op"], "submit")
        self.assertEqual(req["referral"]["ref"], r["ref"])
        self.assertTrue(req["corr"])
        self.assertLess(silent.received[0][0], standby.received[0][0])
        self.assertLess(standby.received[0][0], real.received[0][0])
        # the silent one had its share of the timeout (6000 ms / 3) before the next
        self.assertGreaterEqual(standby.received[0][0] - silent.received[0][0], 1.9)
        # -v says so, in that order
        lines = p.stderr.splitlines()
        self.assertEqual(lines, [
            "referralctl: %s: no reply within 2000 ms; the same request to %s"
            % (silent.endpoint, standby.endpoint),
            "referralctl: %s: unavailable: %s; the same request to %s"
            % (standby.endpoint, rdfake.STANDBY_MESSAGE, real.endpoint),
            "referralctl: answered by %s" % real.endpoint], p.stderr)
        stored = self.d.ok({"op": "get", "partner": r["partner"], "ref": r["ref"]})
        self.assertEqual(p.stdout.split()[0], stored["id"])

    def test_without_verbose_the_output_is_as_with_one_endpoint(self):
        standby, real = self.fake(rdfake.standby), self.real()
        r = referral()
        path = self.write(r)
        p = self.ctl([standby.endpoint, real.endpoint], "--json", "submit", path)
        self.assertExit(p, 0)
        self.assertEqual(p.stderr, "")
        rep = json.loads(p.stdout)
        self.assertIs(rep["duplicate"], False)
        one = self.ctl([self.d.intake], "--json", "submit", path)
        self.assertExit(one, 0)
        self.assertEqual(json.loads(one.stdout)["id"], rep["id"])

    def test_an_endpoint_that_refuses_the_connection_is_left_at_once(self):
        real = self.real()
        p = self.ctl([dead_endpoint(), real.endpoint], "-t", "20000", "stats")
        self.assertExit(p, 0)
        self.assertIn("by status", p.stdout)
        self.assertLess(p.elapsed, 5.0, "waited for its share of the timeout (10 s)")

    def test_the_timeout_bounds_every_round(self):
        silent, standby = self.fake(rdfake.silent), self.fake(rdfake.standby)
        p = self.ctl([silent.endpoint, standby.endpoint], "-t", "1500", "stats")
        self.assertExit(p, 1)
        self.assertGreaterEqual(p.elapsed, 1.4)
        self.assertLess(p.elapsed, 4.0)
        # the last answer was the standby's: said as an error reply
        self.assertIn("error: unavailable: " + rdfake.STANDBY_MESSAGE, p.stderr)
        # round the list more than once, always the same request
        self.assertGreaterEqual(len(silent.bodies()), 2)
        self.assertEqual(set(silent.bodies() + standby.bodies()), {silent.bodies()[0]})

    def test_no_answer_anywhere_is_a_timeout_that_names_every_endpoint(self):
        a, b = self.fake(rdfake.silent), self.fake(rdfake.silent)
        p = self.ctl([a.endpoint, b.endpoint], "-t", "1000", "ping")
        self.assertExit(p, 1)
        self.assertIn("no reply from %s or %s within 1000 ms" % (a.endpoint, b.endpoint),
                      p.stderr)
        self.assertLess(p.elapsed, 4.0)

    def test_an_error_that_is_not_unavailable_is_final(self):
        r = referral()
        self.d.submit(r)
        changed = self.write(dict(r, postcode="3660"))
        for order in ("real first", "standby first"):
            with self.subTest(order=order):
                standby, real = self.fake(rdfake.standby), self.real()
                eps = [real.endpoint, standby.endpoint]
                if order == "standby first":
                    eps.reverse()
                p = self.ctl(eps, "-t", "4000", "submit", changed)
                self.assertExit(p, 1)
                self.assertIn("error: conflict", p.stderr)
                self.assertLess(p.elapsed, 3.0)
                self.assertEqual(len(real.bodies()), 1, "conflict is not sent again")
                self.assertEqual(len(standby.bodies()), 0 if order == "real first" else 1)

    def test_later_requests_go_first_to_the_endpoint_that_answered(self):
        for _ in range(3):
            self.d.submit(referral())
        standby, real = self.fake(rdfake.standby), self.real()
        p = self.ctl([standby.endpoint, real.endpoint], "--json", "audit", "--limit", "1",
                     "--follow-all")
        self.assertExit(p, 0)
        self.assertGreaterEqual(len(json.loads(p.stdout)["entries"]), 3)
        self.assertEqual(len(standby.bodies()), 1, "only the first page tried the standby")
        self.assertGreaterEqual(len(real.bodies()), 3)

    # -- where the endpoints come from
    def test_the_environment_gives_a_list_separated_by_commas(self):
        standby, real = self.fake(rdfake.standby), self.real()
        p = self.ctl([], "stats", env={"REFERRALD_ENDPOINT": "%s,%s" % (standby.endpoint,
                                                                       real.endpoint)})
        self.assertExit(p, 0)
        self.assertEqual((len(standby.bodies()), len(real.bodies())), (1, 1))

    def test_options_replace_the_environment(self):
        silent, real = self.fake(rdfake.silent), self.real()
        p = self.ctl([real.endpoint], "-t", "3000", "stats",
                     env={"REFERRALD_ENDPOINT": silent.endpoint})
        self.assertExit(p, 0)
        self.assertEqual(silent.bodies(), [])
        # and -e after the command adds to the list of -e before it
        standby = self.fake(rdfake.standby)
        p = run_ctl(["-e", standby.endpoint, "stats", "-e", real.endpoint])
        self.assertExit(p, 0)
        self.assertEqual(len(standby.bodies()), 1)

    def test_usage_errors(self):
        many = []
        for port in range(17):
            many += ["-e", "tcp://127.0.0.1:%d" % (20000 + port)]
        for args, words in (
                (["-e", "tcp://127.0.0.1:1,tcp://127.0.0.1:2", "ping"], "-e A -e B"),
                (many + ["ping"], "more than 16"),
                (["--events-endpoint", "tcp://127.0.0.1:1,tcp://127.0.0.1:2", "ping"],
                 "once per daemon")):
            with self.subTest(args=args[:2]):
                p = run_ctl(args)
                self.assertExit(p, 2)
                self.assertIn(words, p.stderr)
        p = run_ctl(["ping"], env={"REFERRALD_ENDPOINT": ",".join(
            "tcp://127.0.0.1:%d" % (20000 + i) for i in range(17))})
        self.assertExit(p, 2)
        self.assertIn("$REFERRALD_ENDPOINT", p.stderr)

    # -- events --follow
    def test_follow_takes_every_publisher_and_fills_the_gap_between_them(self):
        """Two daemons' publishers: the first publishes up to K+4 and goes
        silent (it died), the second from K+3 on (it took over), but K+5
        reached neither: referralctl prints K+1..K+6 once each, in order,
        the missing one fetched with `events` (past the standby first)."""
        first, second, k = rdfake.takeover_publishers(self.d, self.addCleanup)
        standby, real = self.fake(rdfake.standby), self.real()
        argv = ["-e", standby.endpoint, "-e", real.endpoint, "--events-endpoint",
                first.endpoint, "--events-endpoint", second.endpoint, "--json", "events",
                "--follow", "--since", str(k)]
        proc = subprocess.Popen([REFERRALCTL] + argv, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        reader = LineReader(proc.stdout)
        # the replay (nothing yet) went past the standby to the real daemon
        rdtest.wait_until(lambda: real.bodies(), timeout=10, what="the first replay")
        time.sleep(0.5)  # while the subscription settles (a miss is filled anyway)
        for _ in range(3):
            self.d.submit(referral())  # 2 events each: K+1 .. K+6
        lines = reader.lines_until(lambda out: len(out) >= 6, timeout=15)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 0, err)
        want = self.d.all_events(k)[:6]
        self.assertEqual([json.loads(l) for l in lines], want)
        self.assertEqual([e["seq"] for e in want], list(range(k + 1, k + 7)))
        self.assertGreaterEqual(len(standby.bodies()), 1)
        self.assertEqual({json.loads(b)["op"] for b in standby.bodies()}, {"events"})

    def test_follow_rides_out_a_time_when_every_daemon_is_unavailable(self):
        """While no daemon serves (the standby has not taken over yet), the
        replays of --follow come back `unavailable`: it says so once and
        goes on, and prints what happened meanwhile once one serves."""
        k = self.d.last_seq()
        a, standby = self.real(), self.fake(rdfake.standby)
        quiet = self.fake(rdfake.EventRelay, self.d.events, lambda ev: False)
        argv = ["-e", a.endpoint, "-e", standby.endpoint, "--events-endpoint", quiet.endpoint,
                "-t", "1000", "--json", "events", "--follow", "--since", str(k)]
        proc = subprocess.Popen([REFERRALCTL] + argv, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        reader = LineReader(proc.stdout)
        rdtest.wait_until(lambda: a.bodies(), timeout=10, what="the first replay")
        a.mode = "standby"
        self.d.submit(referral())
        # two replays at the standby: the first ran out of time
        rdtest.wait_until(lambda: len({r["corr"] for r in standby.requests()}) >= 2,
                          timeout=15, what="a replay that found no daemon serving")
        a.mode = "active"
        lines = reader.lines_until(lambda out: len(out) >= 2, timeout=15)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual([json.loads(l) for l in lines], self.d.all_events(k)[:2])
        self.assertEqual(err.count("still following"), 1, err)
        self.assertIn("unavailable (%s); still following" % rdfake.STANDBY_MESSAGE, err)


class SeveralEndpointsOverCurve(TestCase):
    """Several daemons may share one server key pair, or have their own:
    one --server-key for all, or one per endpoint in their order."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="endpointscurve-")
        cls.addClassCleanup(lambda: subprocess.run(["rm", "-rf", cls.tmp]))
        pubs = {}
        for name in ("server", "coord", "other"):
            p = run_ctl(["keygen", "--out", os.path.join(cls.tmp, name)])
            assert p.returncode == 0, p.stderr
            pubs[name] = p.stdout.strip()
        cls.server_pub, cls.other_pub = pubs["server"], pubs["other"]
        yaml = ("security:\n  secret_key_file: %s\n  clients:\n"
                '    - {id: coordinator, role: coordinator, public_key: "%s"}\n'
                % (os.path.join(cls.tmp, "server.key"), pubs["coord"]))
        own = (pubs["server"].encode(), pubs["coord"].encode(),
               open(os.path.join(cls.tmp, "coord.key")).read().strip().encode())
        cls.d = cls.class_daemon(routing=ROUTING_ROOMY, curve=own, extra_yaml=yaml)

    def ping(self, *keys, timeout="3000"):
        argv = ["-e", dead_endpoint(), "-e", self.d.intake, "-t", timeout]
        for k in keys:
            argv += ["--server-key", k]
        return run_ctl(argv + ["--key", os.path.join(self.tmp, "coord.key"), "ping"])

    def test_one_server_key_for_all_the_daemons(self):
        self.assertExit(self.ping(self.server_pub), 0)

    def test_one_server_key_per_endpoint_in_their_order(self):
        self.assertExit(self.ping(self.other_pub, self.server_pub), 0)
        p = self.ping(self.server_pub, self.other_pub, timeout="1500")
        self.assertExit(p, 1)
        self.assertIn("no reply", p.stderr)

    def test_the_environment_gives_the_keys_separated_by_commas(self):
        p = run_ctl(["-e", dead_endpoint(), "-e", self.d.intake, "ping"],
                    env={"REFERRALD_SERVER_KEY": "%s,%s" % (self.other_pub, self.server_pub),
                         "REFERRALD_KEY": os.path.join(self.tmp, "coord.key")})
        self.assertExit(p, 0)

    def test_another_number_of_keys_is_a_usage_error(self):
        p = self.ping(self.server_pub, self.server_pub, self.server_pub)
        self.assertExit(p, 2)
        self.assertIn("3 server keys", p.stderr)
        self.assertIn("one per endpoint", p.stderr)
        self.assertNotIn("no reply", p.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
