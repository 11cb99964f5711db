"""referral-bench and referral-floor as a person measuring the daemon uses
them: one command starts the server (the daemon, the floor, the bare
floor, or all three one after the other), loads it, stops it and reports.
Behaviour only: exit codes, what the report names, what is left on disk;
never timings.

The bench from $REFERRAL_BENCH; the daemon and referral-floor are the ones
in its directory (its default), the daemon as $REFERRALD too.

Exit codes: 0 done, 1 a failed run or a fault, 2 a usage error.
"""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time

import zmq

import rdfake
import rdtest
from rdrouting import ROUTING_ROOMY
from rdtest import EX_USAGE, TestCase, free_ports, referral, submit_req, zsock

SOURCE_DIR = rdtest.SOURCE_DIR
BENCH = os.environ.get("REFERRAL_BENCH") or os.path.join(SOURCE_DIR, "build", "referral-bench")
FLOOR = os.path.join(os.path.dirname(BENCH), "referral-floor")

RUN_TIMEOUT = 240  # ASan builds are slow; a hang still ends the test

THROUGHPUT = re.compile(r"^  sent (\d+), answered (\d+) in [\d.]+ s: [\d.]+ req/s$", re.M)
P99 = re.compile(r"^  latency send->reply \(\d+\):.* p99 [\d.]+ ms .*$", re.M)
RSS = re.compile(r"^  (daemon|floor|bare floor) pid \d+: peak RSS [\d.]+ MiB", re.M)
DATABASE = re.compile(r"^  database after the run [\d.]+ [KM]iB .*after the stop [\d.]+ [KM]iB",
                      re.M)
RATIO = re.compile(r"^daemon/floor ratio: \d+\.\d{3} \(daemon [\d,]+/s, floor [\d,]+/s\)$", re.M)
BARE_RATIOS = (
    re.compile(r"^floor/bare floor ratio: \d+\.\d{3} \(floor [\d,]+/s, bare floor [\d,]+/s\)\n"
               r"  parsing: -?[\d.]+ us per submit$", re.M),
    re.compile(r"^daemon/bare floor ratio: \d+\.\d{3} \(daemon [\d,]+/s, bare floor [\d,]+/s\)"
               r"\n  all the daemon does above the bare floor: -?[\d.]+ us per submit$", re.M),
)
SIDE_ROW = r"(?m)^  %s +[\d,]+ +[\d.]+ +[\d.]+ +[\d.]+ +\d+ +(\d+|-) +([\d.]+|-)$"


class Bench(TestCase):
    def setUp(self):
        super().setUp()
        # the bench makes its temporary directories here: the test sees
        # what it leaves behind
        self.tmp = tempfile.mkdtemp(prefix="rdbench-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def bench(self, *args):
        env = dict(os.environ, TMPDIR=self.tmp)
        return subprocess.run([BENCH] + list(args), capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, env=env)

    def out(self, p):
        return "exit %d\n--- stdout\n%s--- stderr\n%s" % (p.returncode, p.stdout, p.stderr)

    def assertReport(self, text, n, what):
        m = THROUGHPUT.search(text)
        self.assertIsNotNone(m, "no throughput line:\n" + text)
        self.assertEqual((int(m.group(1)), int(m.group(2))), (n, n), text)
        self.assertRegex(text, r"(?m)^  ok %d \(duplicates 0\)" % n)
        self.assertRegex(text, P99)
        m = RSS.search(text)
        self.assertIsNotNone(m, "no peak RSS line:\n" + text)
        self.assertEqual(m.group(1), what, text)
        self.assertRegex(text, DATABASE)

    def test_spawn_runs_the_daemon_and_reports(self):
        p = self.bench("--spawn", "-c", "2", "-w", "8", "-n", "400")
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assertRegex(p.stdout, r"(?m)^== the daemon: \S*referrald ==$")
        self.assertReport(p.stdout, 400, "daemon")
        self.assertNotIn("FLOOR", p.stdout)
        self.assertEqual(os.listdir(self.tmp), [], "the temporary directory stayed")

    def test_spawn_with_a_path(self):
        p = self.bench("--spawn=" + rdtest.REFERRALD, "-c", "1", "-w", "4", "-n", "50")
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assertIn(os.path.realpath(rdtest.REFERRALD), p.stdout)
        self.assertReport(p.stdout, 50, "daemon")

    def test_the_floor_sets_the_options_of_the_daemons_intake(self):
        # a floor that read more requests ahead than the daemon, or held
        # more replies, would not be the floor under it
        def options(rel):
            with open(os.path.join(SOURCE_DIR, rel), encoding="utf-8") as f:
                body = re.search(r"\nstatic int open_intake\(.*?\n\}\n", f.read(), re.S)
            self.assertIsNotNone(body, "%s: no open_intake" % rel)
            sets = dict(re.findall(r"zmq_setsockopt\(\w+->intake, (ZMQ_\w+), &(\w+),",
                                   body.group(0)))
            values = dict(re.findall(r"\b(\w+) = (\w+)", body.group(0)))
            return {opt: values.get(var, var) for opt, var in sets.items()}

        daemon = options("daemon/server.c")
        self.assertEqual(daemon.get("ZMQ_RCVHWM"), "RD_REQUEST_HWM", daemon)
        self.assertEqual(options("tools/floor.c"), daemon)

    def test_floor_runs_the_floor_and_says_so(self):
        p = self.bench("--floor", "-c", "2", "-w", "8", "-n", "400")
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assertRegex(p.stdout, r"(?m)^== the FLOOR, not the daemon: \S*referral-floor ")
        self.assertReport(p.stdout, 400, "floor")
        self.assertEqual(os.listdir(self.tmp), [], "the temporary directory stayed")

    def test_compare_runs_all_three_side_by_side_with_the_ratios(self):
        p = self.bench("--compare", "-c", "1", "-w", "4", "-n", "200")
        self.assertEqual(p.returncode, 0, self.out(p))
        daemon, _, floor = p.stdout.partition("== the FLOOR")
        floor, _, bare = floor.partition("== the BARE FLOOR")
        bare, _, side = bare.partition("== side by side")
        self.assertIn("== the daemon:", daemon)
        self.assertReport(daemon, 200, "daemon")
        self.assertReport(floor, 200, "floor")
        self.assertRegex(bare, r"^, not the daemon: \S*referral-floor --bare ")
        self.assertReport(bare, 200, "bare floor")
        self.assertRegex(p.stdout, RATIO)
        for ratio in BARE_RATIOS:
            self.assertRegex(p.stdout, ratio)
        # one row each, in the order they ran
        rows = re.findall(SIDE_ROW % "(daemon|floor|bare floor)", side)
        self.assertEqual([r[0] for r in rows], ["daemon", "floor", "bare floor"], side)
        # the same load three times: the same refs
        prefixes = re.findall(r"(?m)^  ref prefix (\S+)$", p.stdout)
        self.assertEqual(len(prefixes), 3, p.stdout)
        self.assertEqual(prefixes[0], prefixes[1])
        self.assertEqual(prefixes[0], prefixes[2])
        self.assertEqual(os.listdir(self.tmp), [], "a temporary directory stayed")

    def test_two_of_the_three_are_compared_alone(self):
        p = self.bench("--floor", "--bare", "-c", "1", "-w", "4", "-n", "100")
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assertNotIn("== the daemon", p.stdout)
        self.assertRegex(p.stdout, BARE_RATIOS[0])
        self.assertNotRegex(p.stdout, RATIO)
        self.assertNotIn("daemon/bare floor", p.stdout)

    def test_compare_json_is_one_object(self):
        p = self.bench("--compare", "--json", "-c", "1", "-w", "4", "-n", "100")
        self.assertEqual(p.returncode, 0, self.out(p))
        o = json.loads(p.stdout)
        self.assertEqual(o["exit"], 0)
        self.assertIsInstance(o["ratio"], float)
        self.assertEqual(sorted(o["ratios"]), ["daemon/bare", "daemon/floor", "floor/bare"])
        self.assertEqual(o["ratios"]["daemon/floor"], o["ratio"])
        for pair in ("daemon/bare", "daemon/floor", "floor/bare"):
            self.assertIsInstance(o["ratios"][pair], float)
            self.assertIsInstance(o["us_per_submit_difference"][pair], float)
        self.assertEqual(sorted(o["us_per_submit"]), ["bare", "daemon", "floor"])
        self.assertEqual(o["daemon"]["server"]["routing"], "example")
        for kind in ("daemon", "floor", "bare"):
            self.assertEqual(o[kind]["server"]["kind"], kind)
            self.assertEqual(o[kind]["ok"], 100)
            self.assertGreater(o[kind]["throughput_rps"], 0)
            self.assertIn("p99_us", o[kind]["latency"])
            self.assertGreater(o[kind]["daemon_peak_rss_kb"], 0)
            self.assertGreater(o[kind]["server"]["db_bytes_after_stop"], 0)
            self.assertTrue(o[kind]["server"]["stopped_cleanly"])

    def test_bare_runs_the_bare_floor_and_says_so(self):
        p = self.bench("--bare", "-c", "2", "-w", "8", "-n", "400")
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assertRegex(p.stdout,
                         r"(?m)^== the BARE FLOOR, not the daemon: \S*referral-floor --bare ")
        self.assertReport(p.stdout, 400, "bare floor")
        self.assertEqual(os.listdir(self.tmp), [], "the temporary directory stayed")

    def test_room_assigns_every_referral(self):
        p = self.bench("--spawn", "--room", "--json", "-c", "2", "-w", "8", "-n", "300")
        self.assertEqual(p.returncode, 0, self.out(p))
        o = json.loads(p.stdout)
        self.assertEqual(o["by_status"],
                         {"assigned": 300, "waitlisted": 0, "forwarded": 0, "other": 0})
        self.assertEqual(o["server"]["routing"], "room")

    def test_keep_leaves_config_database_and_log(self):
        p = self.bench("--spawn", "--keep", "-c", "1", "-w", "4", "-n", "20")
        self.assertEqual(p.returncode, 0, self.out(p))
        m = re.search(r"(?m)^  kept (\S+) ", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        self.assertEqual(os.path.dirname(m.group(1)), self.tmp)
        self.assertEqual(sorted(os.listdir(m.group(1))),
                         ["referrald.db", "referrald.log", "referrald.yaml", "routing.yaml"])
        # the benchmark's own routing file, not the shipped example
        with open(os.path.join(m.group(1), "routing.yaml")) as f:
            with open(os.path.join(rdtest.SOURCE_DIR, "tools", "bench", "routing.yaml")) as g:
                self.assertEqual(f.read(), g.read())

    def test_a_missing_server_fails(self):
        p = self.bench("--floor=" + os.path.join(self.tmp, "nothing-here"), "-n", "10")
        self.assertEqual(p.returncode, 1, self.out(p))
        self.assertIn("nothing-here", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_usage_errors(self):
        for args in (["--spawn", "-e", "tcp://127.0.0.1:5570"],
                     ["--compare", "--pid", "1"],
                     ["--keep"],
                     ["--spawn="],
                     ["--bare="],
                     ["--bare", "--pid", "1"],
                     ["--floor", "--room"],
                     ["-e", "tcp://127.0.0.1:5570", "--attempt-timeout", "100"],
                     ["-t", "0"]):
            with self.subTest(args=args):
                p = self.bench(*args)
                self.assertEqual(p.returncode, EX_USAGE, self.out(p))
                self.assertIn("referral-bench:", p.stderr)

    def test_help_names_the_modes(self):
        p = self.bench("--help")
        self.assertEqual(p.returncode, 0, self.out(p))
        for opt in ("--spawn", "--floor", "--bare", "--compare", "--room", "--keep",
                    "--timeout", "--attempt-timeout", "--requests"):
            self.assertIn(opt, p.stdout)


class SeveralEndpoints(TestCase):
    """-e A -e B against daemons of which one serves: the load goes on
    through a failover, every request is answered, and the report counts
    the retries per request and per endpoint, and the duplicates they came
    back as. The real daemon stands behind rdfake relays whose mode the
    test switches: A serves, then answers nothing (after it passed the
    request on: a daemon that committed and died); B is a standby that
    takes over a little later."""

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="rdbench-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.d = self.daemon(routing=ROUTING_ROOMY)

    def relay(self, **kw):
        r = rdfake.Relay(self.d.intake, **kw)
        self.addCleanup(r.close)
        return r

    def bench(self, *args):
        return subprocess.run([BENCH] + list(args), capture_output=True, text=True,
                              timeout=RUN_TIMEOUT)

    def failover(self, death, takeover_s):
        """Relays A and B and the state they share: A serves until it has
        passed on 60 submits, then goes into mode DEATH ("lost", "dead");
        B is a standby until TAKEOVER_S seconds after that, then serves.
        STATE["died"]: when A died."""
        state = {}

        def a_dies(relay, req):
            if req.get("op") == "submit" and relay.forwarded >= 60 and relay.mode == "active":
                relay.mode = death
                state["died"] = time.monotonic()

        def b_takes_over(relay, req):
            if "died" in state and time.monotonic() - state["died"] > takeover_s:
                relay.mode = "active"

        return (self.relay(switch=a_dies), self.relay(mode="standby", switch=b_takes_over),
                state)

    def test_the_load_goes_on_through_a_failover_and_every_referral_is_stored_once(self):
        a, b, state = self.failover("lost", 0.5)
        requests = os.path.join(self.tmp, "requests.jsonl")
        prefix = "FO-%d" % os.getpid()
        p = self.bench("-e", a.endpoint, "-e", b.endpoint, "-c", "2", "-w", "8", "-n", "200",
                       "--attempt-timeout", "300", "-t", "30000", "--ref-prefix", prefix,
                       "--partner", "ocmw-genk", "--json", "--requests", requests)
        self.assertEqual(p.returncode, 0, "exit %d\n%s\n%s" % (p.returncode, p.stdout, p.stderr))
        o = json.loads(p.stdout)
        self.assertEqual((o["sent"], o["ok"], o["errors"], o["timeouts"]), (200, 200, 0, 0))
        self.assertEqual(o["unmatched_replies"], 0)
        self.assertIn("died", state, "A never died: the test tried nothing")
        r = o["retries"]
        self.assertGreater(r["requests_retried"], 0)
        self.assertGreaterEqual(r["resends"], r["requests_retried"])
        self.assertEqual(sum(r["by_attempts"].values()), 200)
        self.assertEqual(r["by_attempts"]["1"], 200 - r["requests_retried"])
        # A stored what it took after it died: those came back as duplicates
        self.assertGreater(r["duplicates_after_retry"], 0)
        self.assertEqual(r["duplicates_first_attempt"], 0)
        self.assertEqual(o["duplicates"], r["duplicates_after_retry"])
        ea, eb = o["by_endpoint"]
        self.assertEqual((ea["endpoint"], eb["endpoint"]), (a.endpoint, b.endpoint))
        self.assertGreater(ea["attempt_timeouts"], 0)
        self.assertGreater(eb["unavailable"], 0)
        self.assertEqual(ea["answered"] + eb["answered"], 200)
        self.assertEqual(ea["sent"] + eb["sent"], 200 + r["resends"])
        # per request: the attempts, who answered, duplicates only after a retry
        with open(requests) as f:
            lines = [json.loads(l) for l in f]
        self.assertEqual(len(lines), 200)
        self.assertEqual(len({l["ref"] for l in lines}), 200)
        self.assertTrue(all(l["ok"] for l in lines), lines)
        self.assertEqual(sum(l["attempts"] > 1 for l in lines), r["requests_retried"])
        self.assertEqual(sum(l["duplicate"] for l in lines), r["duplicates_after_retry"])
        for l in lines:
            if l["duplicate"]:
                self.assertGreater(l["attempts"], 1, l)
        # after the failover, new requests go to B at once
        by = {ep: sum(l["endpoint"] == ep for l in lines) for ep in (a.endpoint, b.endpoint)}
        self.assertEqual((by[a.endpoint], by[b.endpoint]), (ea["answered"], eb["answered"]))
        self.assertGreater(sum(l["endpoint"] == b.endpoint and l["attempts"] == 1
                               for l in lines), 0)
        # every acknowledged referral is in the daemon, stored once
        for l in lines:
            got = self.d.ok({"op": "get", "partner": "ocmw-genk", "ref": l["ref"]})
            self.assertEqual(got["id"], l["id"])
        received = [e for e in self.d.all_events()
                    if e["type"] == "referral.received" and e["ref"].startswith(prefix + "-")]
        self.assertEqual(len(received), 200, "each referral stored once")

    def test_a_lost_connection_sends_the_requests_on_at_once(self):
        a, b, state = self.failover("dead", 0.3)
        t0 = time.monotonic()
        p = self.bench("-e", a.endpoint, "-e", b.endpoint, "-c", "2", "-w", "8", "-n", "200",
                       "--attempt-timeout", "20000", "-t", "60000", "--partner", "ocmw-genk",
                       "--json")
        self.assertEqual(p.returncode, 0, "exit %d\n%s\n%s" % (p.returncode, p.stdout, p.stderr))
        self.assertLess(time.monotonic() - t0, 15, "waited for the attempt timeout")
        o = json.loads(p.stdout)
        self.assertEqual((o["ok"], o["timeouts"], o["unmatched_replies"]), (200, 0, 0))
        ea, eb = o["by_endpoint"]
        self.assertGreater(ea["connections_lost"], 0)
        self.assertEqual(ea["attempt_timeouts"], 0)
        self.assertEqual(ea["answered"] + eb["answered"], 200)
        self.assertGreater(o["retries"]["requests_retried"], 0)

    def test_the_text_report_names_each_endpoint(self):
        b = self.relay(mode="standby")
        a = self.relay()
        p = self.bench("-e", b.endpoint, "-e", a.endpoint, "-c", "1", "-w", "4", "-n", "20",
                       "--partner", "ocmw-genk")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("%s %s" % (b.endpoint, a.endpoint), p.stdout)
        # the warm-up found the one that serves: nothing went to the standby
        self.assertRegex(p.stdout, r"(?m)^  retried 0 \(0 sends more\); by attempts: 1 20; "
                                   r"duplicates after a retry 0$")
        self.assertIn("  %s: sent 0, answered 0," % b.endpoint, p.stdout)
        self.assertIn("  %s: sent 20, answered 20," % a.endpoint, p.stdout)

    def test_no_daemon_that_serves_is_a_fault(self):
        b = self.relay(mode="standby")
        p = self.bench("-e", b.endpoint, "-e", self.relay(mode="silent").endpoint,
                       "-t", "1000", "-c", "1", "-n", "5")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("no daemon answered a ping", p.stderr)


class Floor(TestCase):
    def run_floor(self, *args):
        return subprocess.run([FLOOR] + list(args), capture_output=True, text=True, timeout=30)

    def test_bad_arguments_exit_2(self):
        for args in (["--bogus"], ["-e", "tcp://127.0.0.1:5999"], ["-d", "x.db"],
                     ["-e", "tcp://127.0.0.1:5999", "-d", "x.db", "extra"]):
            with self.subTest(args=args):
                p = self.run_floor(*args)
                self.assertEqual(p.returncode, EX_USAGE, p.stderr)
                self.assertIn("referral-floor", p.stderr)

    def test_help_exits_0(self):
        p = self.run_floor("--help")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("-e", p.stdout)

    def start_floor(self, *args):
        """referral-floor ARGS on a new database: (the process, the
        database's path, ask(frame) -> the decoded reply)."""
        tmp = tempfile.mkdtemp(prefix="rdfloor-")
        self.addCleanup(shutil.rmtree, tmp, True)
        db = os.path.join(tmp, "f.db")
        endpoint = "tcp://127.0.0.1:%d" % free_ports(1)[0]
        proc = subprocess.Popen([FLOOR] + list(args) + ["-e", endpoint, "-d", db],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        s = zsock(zmq.DEALER)
        self.addCleanup(s.close)
        s.connect(endpoint)

        def ask(frame):
            s.send(frame)
            self.assertTrue(s.poll(10000), "no reply to %r" % (frame,))
            return json.loads(s.recv())
        return proc, db, ask

    def test_answers_submits_durably_and_stops_on_sigterm(self):
        proc, _, ask_frame = self.start_floor()

        def ask(obj):
            return ask_frame(json.dumps(obj).encode())

        rep = ask({"op": "ping", "corr": "p"})
        self.assertOk(rep)
        self.assertEqual(rep["corr"], "p")
        req = submit_req(referral(), corr='c"1')
        first = ask(req)
        self.assertOk(first)
        self.assertEqual(first["corr"], 'c"1')
        self.assertRegex(first["id"], r"^R\d+$")
        self.assertIsInstance(first["status"], str)
        self.assertIs(first["duplicate"], False)
        again = ask(req)
        self.assertOk(again)
        self.assertEqual((again["id"], again["duplicate"]), (first["id"], True))
        self.assertError(ask({"op": "frobnicate", "corr": "x"}), "unknown_op")
        self.assertError(ask_frame(b"not json"), "malformed")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)

    def test_bare_stores_each_frame_as_it_came_and_answers_with_its_corr(self):
        proc, db, ask = self.start_floor("--bare")
        rep = ask(b'{"op":"ping","corr":"p"}')
        self.assertOk(rep)
        self.assertEqual((rep["corr"], rep["floor"]), ("p", "bare"))
        frame = json.dumps(submit_req(referral(), corr='c\\"1'), separators=(",", ":")).encode()
        first = ask(frame)
        self.assertOk(first)
        self.assertEqual(first["corr"], 'c\\"1')  # copied as it stood, escapes and all
        self.assertRegex(first["id"], r"^R\d+$")
        self.assertEqual((first["status"], first["duplicate"]), ("received", False))
        # no parsing: the same frame again is another row, and so is one
        # that is no JSON at all
        again = ask(frame)
        self.assertOk(again)
        self.assertNotEqual(again["id"], first["id"])
        self.assertOk(ask(b"not json"))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        with sqlite3.connect(db) as conn:
            rows = [bytes(r[0]) for r in conn.execute("SELECT body FROM frames ORDER BY id")]
        self.assertEqual(rows, [frame, frame, b"not json"])

    def test_pipeline_answers_every_submit_once_it_is_stored(self):
        proc, db, ask = self.start_floor("--pipeline")
        s = zsock(zmq.DEALER)
        self.addCleanup(s.close)
        s.connect(proc.args[proc.args.index("-e") + 1])
        reqs = [submit_req(referral(ref="P-%d" % i), corr="c%d" % i) for i in range(50)]
        for r in reqs:  # all in flight at once: batches meet the writer busy
            s.send(json.dumps(r).encode())
        replies = {}
        for _ in reqs:
            self.assertTrue(s.poll(10000), "a reply is missing")
            rep = json.loads(s.recv())
            self.assertOk(rep)
            replies[rep["corr"]] = rep
        self.assertEqual(sorted(replies), sorted("c%d" % i for i in range(50)))
        self.assertEqual(len({r["id"] for r in replies.values()}), 50)
        again = ask(json.dumps(reqs[7]).encode())
        self.assertEqual((again["id"], again["duplicate"]), (replies["c7"]["id"], True))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        with sqlite3.connect(db) as conn:
            self.assertEqual(conn.execute("SELECT count(*) FROM referrals").fetchone()[0], 50)
