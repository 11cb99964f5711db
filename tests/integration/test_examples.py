"""The partner clients of docs/integration.md (docs/examples/partner_client.c
and .py) against a real referrald: they submit, retry safely after a lost
reply, stop on errors that a retry cannot fix, and follow events from a seq
without gaps or doubles; given several daemons (rdfake's standby and silent
ones beside the real one), they send the same request to the next on
`unavailable` or a timeout, send it again after "outcome": "unknown", and
follow the events of all of them.

Environment: PARTNER_CLIENT (the built C example; its tests are skipped
without it), RD_SOURCE_DIR, REFERRALD.
"""

import json
import os
import subprocess
import tempfile
import threading
import time
import unittest

import zmq

import rdfake
import rdtest
from rdrouting import ROUTING_ROOMY
from rdtest import TestCase, free_ports, referral

PY = "/usr/bin/python3"
PY_CLIENT = os.path.join(rdtest.SOURCE_DIR, "docs", "examples", "partner_client.py")
C_CLIENT = os.environ.get("PARTNER_CLIENT")

# "R000001 assigned duplicate=false"
SUBMIT_LINE = r"^(\S+) (assigned|waitlisted|forwarded) duplicate=(true|false)$"


class LossyProxy:
    """A ROUTER in front of the daemon that forwards every request but
    drops the daemon's reply to the first submit, as a network that fails
    after the daemon committed would: the client times out although its
    referral is stored."""

    def __init__(self, target):
        self.endpoint = "tcp://127.0.0.1:%d" % free_ports(1)[0]
        self.front = rdtest.CTX.socket(zmq.ROUTER)
        self.front.linger = 0
        self.front.bind(self.endpoint)
        self.back = rdtest.CTX.socket(zmq.DEALER)
        self.back.linger = 0
        self.back.connect(target)
        self.dropped = 0
        self.forwarded = 0
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        pending = {}  # proxy corr -> (client identity, client corr, is submit)
        n = 0
        poller = zmq.Poller()
        poller.register(self.front, zmq.POLLIN)
        poller.register(self.back, zmq.POLLIN)
        while not self._stop:
            for sock, _ in poller.poll(100):
                if sock is self.front:
                    frames = self.front.recv_multipart()
                    req = json.loads(frames[-1])
                    n += 1
                    pending["proxy-%d" % n] = (frames[0], req.get("corr"),
                                               req.get("op") == "submit")
                    req["corr"] = "proxy-%d" % n
                    self.back.send(json.dumps(req).encode())
                    self.forwarded += 1
                else:
                    rep = json.loads(self.back.recv())
                    ident, corr, is_submit = pending.pop(rep.get("corr"))
                    if is_submit and self.dropped == 0:
                        self.dropped += 1
                        continue
                    if corr is None:
                        rep.pop("corr", None)
                    else:
                        rep["corr"] = corr
                    self.front.send_multipart([ident, json.dumps(rep).encode()])

    def close(self):
        self._stop = True
        self._t.join(5)
        self.front.close(0)
        self.back.close(0)


class ExampleClientTests:
    """Mixed into one TestCase per client; CMD is the command prefix."""

    CMD = None

    @classmethod
    def setUpClass(cls):
        cls.d = cls.class_daemon(routing=ROUTING_ROOMY)
        cls.tmp = tempfile.TemporaryDirectory(prefix="examples-")
        cls.addClassCleanup(cls.tmp.cleanup)

    def client(self, *args, intake=None, timeout_ms=3000, wait=60):
        env = dict(os.environ, REFERRALD_ENDPOINT=intake or self.d.intake,
                   REFERRALD_EVENTS=self.d.events, REFERRALD_TIMEOUT_MS=str(timeout_ms))
        return subprocess.run(self.CMD + list(args), capture_output=True, text=True,
                              timeout=wait, env=env)

    def fake(self, make, *args):
        f = make(*args)
        self.addCleanup(f.close)
        return f

    def received(self, since, r):
        return [e for e in self.d.all_events(since)
                if e["type"] == "referral.received" and e.get("ref") == r["ref"]]

    def write(self, obj):
        return rdtest.write_json(self.tmp.name, obj)

    def test_the_same_request_goes_to_the_next_daemon(self):
        standby, silent = self.fake(rdfake.standby), self.fake(rdfake.silent)
        real = self.fake(rdfake.Relay, self.d.intake)
        r = referral()
        p = self.client("submit", self.write(r), timeout_ms=700,
                        intake=",".join([standby.endpoint, silent.endpoint, real.endpoint]))
        self.assertExit(p, 0)
        self.assertRegex(p.stdout.strip(), r"^\S+ assigned duplicate=false$")
        self.assertIn("%s answered unavailable: %s" % (standby.endpoint,
                                                       rdfake.STANDBY_MESSAGE), p.stderr)
        self.assertIn("no reply from %s within 700 ms" % silent.endpoint, p.stderr)
        # one copy each, in that order, byte for byte the same
        body = standby.bodies()
        self.assertEqual(len(body), 1)
        self.assertEqual((silent.bodies(), real.bodies()), (body, body))
        self.assertEqual(json.loads(body[0])["referral"], r)
        self.assertLess(standby.received[0][0], silent.received[0][0])
        self.assertLess(silent.received[0][0], real.received[0][0])

    def test_outcome_unknown_sends_the_same_request_again(self):
        answered = []

        def unknown_first(req, rep):
            if answered:
                return rep
            answered.append(rep)  # stored by the daemon; the client is told it may not be
            return {"ok": False, "corr": req["corr"],
                    "error": {"code": "unavailable", "outcome": "unknown",
                              "message": "the commit may or may not have taken effect"}}
        relay = self.fake(rdfake.Relay, self.d.intake, unknown_first)
        r = referral()
        since = self.d.last_seq()
        p = self.client("submit", self.write(r), intake=relay.endpoint)
        self.assertExit(p, 0)
        self.assertIn("the outcome is unknown", p.stderr)
        self.assertEqual(p.stdout.strip(), "%s assigned duplicate=true" % answered[0]["id"])
        self.assertEqual(len(set(relay.bodies())), 1, "the same request")
        self.assertEqual(len(relay.bodies()), 2)
        self.assertEqual(len(self.received(since, r)), 1, "stored once")

    def test_follow_takes_every_daemon_and_fills_the_gap(self):
        first, second, k = rdfake.takeover_publishers(self.d, self.addCleanup)
        standby = self.fake(rdfake.standby)
        env = dict(os.environ, REFERRALD_ENDPOINT="%s,%s" % (standby.endpoint, self.d.intake),
                   REFERRALD_EVENTS="%s,%s" % (first.endpoint, second.endpoint))
        proc = subprocess.Popen(self.CMD + ["follow", str(k), "6"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        rdtest.wait_until(lambda: standby.bodies(), timeout=10, what="the first replay")
        time.sleep(0.5)  # while it subscribes (a miss is filled anyway)
        for _ in range(3):
            self.d.submit(referral())  # 2 events each: K+1 .. K+6
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self.fail("follow did not print 6 events within 30 s:\n%s\n%s" % (out, err))
        self.assertEqual(proc.returncode, 0, err)
        want = self.d.all_events(k)[:6]
        self.assertEqual(out.splitlines(),
                         ["%d %s %s" % (e["seq"], e["type"], e.get("id", "-")) for e in want])
        self.assertEqual([e["seq"] for e in want], list(range(k + 1, k + 7)))
        self.assertEqual({json.loads(b)["op"] for b in standby.bodies()}, {"events"})

    def test_submit_then_duplicate(self):
        r = referral()
        path = self.write(r)
        p = self.client("submit", path)
        self.assertExit(p, 0)
        self.assertRegex(p.stdout.strip(), SUBMIT_LINE)
        rid, status, dup = p.stdout.split()
        self.assertEqual((status, dup), ("assigned", "duplicate=false"))
        rep = self.d.ok({"op": "get", "partner": r["partner"], "ref": r["ref"]})
        self.assertEqual(rep["id"], rid)
        p = self.client("submit", path)
        self.assertExit(p, 0)
        self.assertEqual(p.stdout.strip(), "%s assigned duplicate=true" % rid)

    def test_retry_after_lost_reply_stores_once(self):
        r = referral()
        since = self.d.last_seq()
        proxy = LossyProxy(self.d.intake)
        self.addCleanup(proxy.close)
        p = self.client("submit", self.write(r), intake=proxy.endpoint, timeout_ms=700)
        self.assertExit(p, 0)
        self.assertEqual(proxy.dropped, 1, "the first reply was not dropped")
        self.assertRegex(p.stderr, "no reply")
        self.assertRegex(p.stdout.strip(), r"^\S+ assigned duplicate=true$")
        received = [e for e in self.d.all_events(since)
                    if e["type"] == "referral.received" and e.get("ref") == r["ref"]]
        self.assertEqual(len(received), 1, "stored once, not twice")

    def test_error_is_not_retried(self):
        r = referral(children=[{"age": 99}])
        t0 = time.monotonic()
        p = self.client("submit", self.write(r))
        self.assertExit(p, 1)
        self.assertLess(time.monotonic() - t0, 3.0, "an invalid referral must not be retried")
        self.assertIn("error: invalid: referral.children[0].age:", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_conflict_is_reported(self):
        r = referral()
        self.assertExit(self.client("submit", self.write(r)), 0)
        p = self.client("submit", self.write(dict(r, postcode="3660")))
        self.assertExit(p, 1)
        self.assertIn("error: conflict", p.stderr)

    def test_gives_up_on_dead_endpoint(self):
        port = free_ports(1)[0]
        p = self.client("submit", self.write(referral()),
                        intake="tcp://127.0.0.1:%d" % port, timeout_ms=100)
        self.assertExit(p, 1)
        self.assertGreaterEqual(p.stderr.count("no reply"), 2, "retried before giving up")

    def test_follow_from_seq_no_gap_no_double(self):
        for _ in range(2):
            self.d.submit(referral())
        since = self.d.last_seq() - 3
        count = 3 + 2 * 10 + 2 * 5  # 3 old events, then 10 + 5 referrals of 2 events each
        env = dict(os.environ, REFERRALD_ENDPOINT=self.d.intake, REFERRALD_EVENTS=self.d.events)
        proc = subprocess.Popen(self.CMD + ["follow", str(since), str(count)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        for _ in range(10):  # while it subscribes and replays
            self.d.submit(referral())
        time.sleep(0.3)
        for i in range(5):  # when it is live
            self.d.submit(referral(urgency="crisis" if i % 2 else "normal"))
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self.fail("follow did not print %d events within 30 s:\n%s\n%s" % (count, out, err))
        self.assertEqual(proc.returncode, 0, err)
        want = self.d.all_events(since)[:count]
        self.assertEqual(out.splitlines(),
                         ["%d %s %s" % (e["seq"], e["type"], e.get("id", "-")) for e in want])
        self.assertEqual([e["seq"] for e in want], list(range(since + 1, since + 1 + count)))


class DocumentationTest(unittest.TestCase):
    """docs/integration.md shows the example files verbatim."""

    def test_examples_are_included_verbatim(self):
        docs = os.path.join(rdtest.SOURCE_DIR, "docs")
        with open(os.path.join(docs, "integration.md"), encoding="utf-8") as f:
            doc = f.read()
        for name, lang in (("partner_client.c", "c"), ("partner_client.py", "python")):
            with open(os.path.join(docs, "examples", name), encoding="utf-8") as f:
                code = f.read()
            with self.subTest(name=name):
                self.assertIn("```%s\n%s```\n" % (lang, code), doc,
                              "docs/integration.md must include docs/examples/%s verbatim"
                              % name)


class PythonExample(ExampleClientTests, TestCase):
    CMD = [PY, PY_CLIENT]


@unittest.skipUnless(C_CLIENT, "PARTNER_CLIENT (the built docs/examples/partner_client.c) not set")
class CExample(ExampleClientTests, TestCase):
    CMD = [C_CLIENT or "partner_client"]


if __name__ == "__main__":
    unittest.main()
