"""The daemon's promises under faults (daemon.md and protocol.md, rev 2):

- one daemon per database: a second one exits 1 naming the database and
  the first one's pid, and changes nothing; readers are not held back;
- (an empty database file refused at start: test_store_faults.py);
- a database file removed or replaced while the daemon runs: every request
  that would write is `unavailable`, a critical line says so (at most once
  a minute), and what was acknowledged can be copied from the file the
  daemon still holds open;
- at the limit of open files the daemon says so and does not spin a core;
- a failed CURVE handshake is logged without naming the daemon's own
  endpoint as the peer; a refusal by the key check names the peer;
- errors name the fault by `field`, never by quoting the request; a
  readable `corr` comes back on every failed request; replies keep the
  order of the requests of their connection.

Nothing waits for a time: conditions are awaited with deadlines.
"""

import json
import os
import re
import resource
import shutil
import subprocess
import time

import rdtest
import zmq
from rdrouting import ROUTING_BASIC
from rdtest import referral, submit_req

KIB64 = 64 * 1024


def crit_lines(d):
    return [l for l in d.log().splitlines() if l.startswith("referrald: critical:")]


# ---------------------------------------------------------------- one daemon per database


class OneDaemonPerDatabase(rdtest.TestCase):
    def second_on(self, first):
        """A daemon on FIRST's database (its own folder and ports), not
        waited for."""
        d = self.daemon(routing=ROUTING_BASIC, database=first.database_path, start=False)
        return d.start(wait=False)

    def test_a_second_daemon_on_the_same_database_exits_1_naming_it_and_the_first_pid(self):
        first = self.daemon(routing=ROUTING_BASIC)
        self.assertOk(first.request(submit_req(referral())))
        second = self.second_on(first)
        rdtest.wait_until(lambda: not second.running(), timeout=10,
                          what="the second daemon to refuse to start")
        self.assertEqual(second.wait_exit(), 1)
        log = second.log()
        self.assertIn(first.database_path, log)
        self.assertIn("pid %d" % first.proc.pid, log)
        # the first one goes on writing as before
        rep = first.request(submit_req(referral()))
        self.assertOk(rep)
        self.assertOk(first.request({"op": "update", "id": rep["id"], "status": "accepted",
                                     "connector": rep["connector"]}))
        self.assertEqual(first.last_seq(), 5)

    def test_the_lock_goes_with_the_daemon_also_after_kill_9(self):
        first = self.daemon(routing=ROUTING_BASIC)
        ref = referral()
        self.assertOk(first.request(submit_req(ref)))
        first.kill9()
        second = self.second_on(first)
        second.wait_ready()
        rep = second.request({"op": "get", "partner": ref["partner"], "ref": ref["ref"]})
        self.assertOk(rep)

    def test_a_reader_is_not_held_back_by_the_running_daemon(self):
        d = self.daemon(routing=ROUTING_BASIC)
        ref = referral()
        self.assertOk(d.request(submit_req(ref)))
        copy = os.path.join(d.dir, "backup.db")
        p = subprocess.run([os.environ.get("REFERRALCTL", "referralctl"), "backup",
                            d.database_path, copy], capture_output=True, text=True, timeout=30)
        self.assertExit(p, 0)
        self.assertTrue(os.path.getsize(copy) > 0)
        self.assertOk(d.request(submit_req(referral())))


# ---------------------------------------------------------------- the file removed or replaced


class DatabaseFileGone(rdtest.TestCase):
    def setUp(self):
        super().setUp()
        self.d = self.daemon(routing=ROUTING_BASIC)
        self.ref = referral()
        self.acked = self.d.submit(self.ref)

    def assert_writes_unavailable(self):
        d = self.d
        self.assertError(d.request(submit_req(referral(), corr="w-1")), "unavailable")
        self.assertError(d.request({"op": "update", "id": self.acked["id"],
                                    "status": "accepted", "connector": self.acked["connector"]}),
                         "unavailable")
        self.assertError(d.request({"op": "erase", "id": self.acked["id"]}), "unavailable")
        # a get of personal data is written to the audit trail: it writes too
        self.assertError(d.request({"op": "get", "id": self.acked["id"]}), "unavailable")
        # reads go on
        self.assertOk(d.request({"op": "ping"}))
        self.assertEqual([e["seq"] for e in d.ok({"op": "events"})["events"]], [1, 2])
        self.assertEqual(len(d.ok({"op": "list"})["referrals"]), 1)

    def test_a_removed_database_file_makes_every_write_unavailable(self):
        os.remove(self.d.database_path)
        self.assert_writes_unavailable()
        rdtest.wait_until(lambda: crit_lines(self.d), timeout=5,
                          what="a critical line about the removed database")
        line = crit_lines(self.d)[0]
        self.assertIn(self.d.database_path, line)
        self.assertIn("removed", line)
        self.assert_writes_unavailable()
        self.assertEqual(len(crit_lines(self.d)), 1, "at most one line a minute")

    def test_it_is_noticed_without_any_request(self):
        os.remove(self.d.database_path)
        rdtest.wait_until(lambda: crit_lines(self.d), timeout=5,
                          what="a critical line about the removed database")

    def test_a_replaced_database_file_makes_every_write_unavailable(self):
        other = self.daemon(routing=ROUTING_BASIC)  # another, valid database
        other.stop()
        os.replace(other.database_path, self.d.database_path)
        self.assert_writes_unavailable()
        rdtest.wait_until(lambda: crit_lines(self.d), timeout=5,
                          what="a critical line about the replaced database")
        self.assertIn("replaced", crit_lines(self.d)[0])

    def test_what_was_acknowledged_can_be_copied_from_the_open_file(self):
        d = self.d
        os.remove(d.database_path)
        rdtest.wait_until(lambda: crit_lines(d), timeout=5, what="the critical line")
        m = re.search(r"cp (/proc/\d+/fd/\d+) ", crit_lines(d)[0])
        self.assertTrue(m, crit_lines(d)[0])
        rescued = self.daemon(routing=ROUTING_BASIC, start=False)

        def copied():
            # the write-ahead log is emptied into the open file right after
            shutil.copyfile(m.group(1), rescued.database_path)
            for ext in ("-wal", "-shm"):
                if os.path.exists(rescued.database_path + ext):
                    os.remove(rescued.database_path + ext)
            rescued.start()
            found = rescued.request({"op": "get", "partner": self.ref["partner"],
                                     "ref": self.ref["ref"]})
            rescued.stop()
            return found.get("ok")

        rdtest.wait_until(copied, timeout=10, interval=0.5,
                          what="the acknowledged referral in the copy")
        d.stop()


# ---------------------------------------------------------------- the limit of open files


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FileLimit(rdtest.TestCase):
    LIMIT = 40  # the daemon itself takes some 23

    def test_at_the_file_limit_the_daemon_says_so_and_does_not_spin(self):
        def low_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.LIMIT, 4096))

        d = self.daemon(routing=ROUTING_BASIC, start=False)
        d.start(preexec_fn=low_limit)
        socks = []
        try:
            for _ in range(self.LIMIT):
                s = d.dealer()
                s.send(b'{"op":"ping"}')
                socks.append(s)
            rdtest.wait_until(lambda: "cannot accept connections" in d.log(), timeout=10,
                              what="a line about the accepts that fail")
            line = [l for l in d.log().splitlines() if "cannot accept connections" in l][0]
            self.assertIn("LimitNOFILE", line)
            self.assertIn(d.intake, line)
            # a spinning I/O thread takes a core; backing off takes next to
            # nothing. CPU over a span is what a person sees in top: an upper
            # bound only, which a busy machine can only make easier to meet.
            c0, t0 = cpu_seconds(d.proc.pid), time.monotonic()
            time.sleep(3)
            share = (cpu_seconds(d.proc.pid) - c0) / (time.monotonic() - t0)
            self.assertLess(share, 0.5, "the daemon used %.0f%% of a core" % (share * 100))
        finally:
            for s in socks[10:]:
                s.close(0)
        # with files to spare it serves again, old clients and new
        fresh = d.dealer()
        try:
            def answered():
                fresh.send(b'{"op":"ping","corr":"fresh"}')
                return fresh.poll(500) and json.loads(fresh.recv()).get("ok")
            rdtest.wait_until(answered, timeout=90, interval=0.1, what="a new client served")
        finally:
            fresh.close(0)
            for s in socks[:10]:
                s.close(0)
        self.assertOk(d.request({"op": "ping"}, timeout=30))


# ---------------------------------------------------------------- failed CURVE handshakes


class HandshakeLog(rdtest.SecuredCase):
    CLIENTS = (("coord", "coordinator", "coordinator"),)

    def lines_after(self, n):
        return [l for l in self.d.log().splitlines() if "CURVE" in l or "refused" in l][n:]

    def test_a_client_with_another_server_key_is_counted_not_given_our_address(self):
        n = len(self.lines_after(0))
        pub, sec = self.keys.pairs["coord"]
        wrong_server = zmq.curve_keypair()[0]
        s = rdtest.zsock(zmq.DEALER, (wrong_server, pub, sec))
        s.connect(self.d.intake)
        try:
            s.send(b'{"op":"ping"}')
            rdtest.wait_until(lambda: self.lines_after(n), timeout=10,
                              what="a line about the failed handshake")
            self.assertFalse(s.poll(0))
        finally:
            s.close(0)
        line = self.lines_after(n)[0]
        self.assertIn("so far", line)
        port = self.d.intake.rsplit(":", 1)[1]
        self.assertNotIn(":" + port, line, "the daemon's own endpoint named as the peer")

    def test_a_refused_key_names_the_peers_address(self):
        n = len(self.lines_after(0))
        port = self.d.intake.rsplit(":", 1)[1]
        socks = []

        def named():
            # a stranger from another loopback address, again until a line
            # (at most one a second) names it
            s = rdtest.zsock(zmq.DEALER, self.keys.curve("stranger"))
            s.connect("tcp://127.0.0.2:0;127.0.0.1:%s" % port)
            s.send(b'{"op":"ping"}')
            socks.append(s)
            return any("127.0.0.2" in l for l in self.lines_after(n))

        try:
            rdtest.wait_until(named, timeout=10, interval=0.3,
                              what="a line naming the peer 127.0.0.2")
            self.assertFalse(any(s.poll(0) for s in socks), "a stranger was answered")
        finally:
            for s in socks:
                s.close(0)


# ---------------------------------------------------------------- errors


class Errors(rdtest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d = cls.class_daemon(routing=ROUTING_BASIC)

    def test_an_unknown_top_level_key_is_named_by_field_never_quoted(self):
        for op in ("ping", "events", "list", "stats", "get", "submit", "update"):
            for key, field in (("Janssens-Gezin", "Janssens-Gezin"), ("Janssens Gezin", None)):
                with self.subTest(op=op, key=key):
                    req = {"op": op, "corr": "k", key: "Stationsstraat 12"}
                    rep = self.d.request(req)
                    err = self.assertError(rep, "invalid")
                    self.assertEqual(err.get("field"), field)
                    self.assertNotIn("Janssens", err["message"])
                    self.assertNotIn("Stationsstraat", err["message"])
                    self.assertEqual(rep.get("corr"), "k")

    def test_a_readable_corr_comes_back_on_every_failed_request(self):
        deep = b"[" * 40 + b"]" * 40
        cases = [
            ("over 64 KiB", b'{"op":"ping","corr":"c","pad":"' + b"x" * KIB64 + b'"}',
             "malformed"),
            ("over 64 KiB, corr last", b'{"op":"ping","pad":"' + b"x" * KIB64 + b'","corr":"c"}',
             "malformed"),
            ("unknown key", b'{"op":"ping","corr":"c","nope":1}', "invalid"),
            ("unknown op", b'{"op":"nope","corr":"c"}', "unknown_op"),
            ("no op", b'{"corr":"c"}', "unknown_op"),
            ("deeper nesting", b'{"op":"ping","corr":"c","x":' + deep + b"}", "malformed"),
            ("deeper nesting first", b'{"x":' + deep + b',"op":"ping","corr":"c"}', "malformed"),
            ("bad UTF-8 elsewhere", b'{"op":"ping","note":"\xff","corr":"c"}', "malformed"),
            ("duplicate key", b'{"op":"ping","op":"ping","corr":"c"}', "malformed"),
            ("huge number", b'{"op":"events","since":1e999,"corr":"c"}', "malformed"),
            ("NUL byte", b'{"op":"ping","x":"a\x00b","corr":"c"}', "malformed"),
            ("text after", b'{"op":"ping","corr":"c"} trailing', "malformed"),
            ("escaped key", b'{"op":"nope","c\\u006frr":"c"}', "unknown_op"),
        ]
        for what, body, code in cases:
            with self.subTest(what=what):
                rep = self.d.request(body)
                self.assertError(rep, code)
                self.assertEqual(rep.get("corr"), "c", rep)

    def test_two_body_frames_get_the_corr_of_the_first(self):
        replies = self.d.raw([b'{"op":"ping","corr":"two"}', b'{"op":"ping"}'])
        self.assertEqual(len(replies), 1)
        rep = json.loads(replies[0][-1])
        self.assertError(rep, "malformed")
        self.assertEqual(rep.get("corr"), "two")

    def test_no_corr_comes_back_when_it_is_not_readable(self):
        for body in (b'[{"op":"ping","corr":"c"}]', b'{"op":"ping","corr":"c","corr":"d"}',
                     b'{"op":"ping","x":{"corr":"c"}, "y": 1e999}',
                     b'{"op":"ping","corr":"' + b"c" * 129 + b'","n":1e999}'):
            with self.subTest(body=body[:50]):
                rep = self.d.request(body)
                self.assertIs(rep.get("ok"), False)
                self.assertNotIn("corr", rep)

    def test_replies_of_one_connection_keep_the_order_of_its_requests(self):
        bodies = []
        for i in range(300):
            corr = "o-%d" % i
            kind = i % 6
            if kind == 0:
                bodies.append(json.dumps({"op": "ping", "corr": corr}).encode())
            elif kind == 1:
                bodies.append(json.dumps(submit_req(referral(), corr=corr)).encode())
            elif kind == 2:
                bodies.append(b'{"op":"ping","corr":"%s","x":[' % corr.encode() + b"x" * 10)
            elif kind == 3:
                bodies.append(json.dumps({"op": "nope", "corr": corr}).encode())
            elif kind == 4:
                bodies.append(b'{"op":"ping","corr":"%s","p":"' % corr.encode()
                              + b"x" * KIB64 + b'"}')
            else:
                bodies.append(json.dumps({"op": "events", "limit": 5, "corr": corr}).encode())
        s = self.d.dealer()
        try:
            for b in bodies:
                s.send(b)
            got = []
            for _ in bodies:
                self.assertTrue(s.poll(30000), "a reply is missing")
                got.append(json.loads(s.recv()).get("corr"))
        finally:
            s.close(0)
        self.assertEqual(got, ["o-%d" % i for i in range(300)])
