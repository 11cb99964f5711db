"""protocol.md, "Transport" (rev 2): whatever one connection sends, and
whether or not it reads its replies, the daemon holds at most 64 MiB on its
behalf, and gives back what it held once the connection is gone. An
`events` or `list` reply holds at most 1 MiB (then `"more": true`); a `get`
too, its history and trace included. A frame over the socket's limit (just
above 64 KiB) closes the connection; a multipart message is ZeroMQ's to
buffer (the unit's MemoryMax= bounds it), and what it held is given back.

Memory is read from /proc/PID/status (VmRSS, VmHWM): the figures a person
watching the daemon sees. Nothing here waits for a time: conditions are
awaited with deadlines.
"""

import json
import os
import signal
import time

import rdtest
import zmq
from rdrouting import ROUTING_ROOMY
from rdtest import referral, submit_req

MIB = 1 << 20
BOUND = 64 * MIB  # protocol.md: per connection
PAGE = MIB  # protocol.md: an events or list reply
BATCH_REPLIES = 16 * MIB  # lib/bounds.h RD_BATCH_REPLY_BYTES: one batch's replies
KIB64 = 64 * 1024
SOCKET_MAX = KIB64 + 4096  # lib/bounds.h RD_SOCKET_MSG_MAX
GIVEN_BACK = 16 * MIB  # what may stay above the resident size before the burst


def sanitized(d):
    """True when the daemon runs under AddressSanitizer, whose allocator
    keeps freed memory in quarantine: its memory figures say nothing then."""
    with open("/proc/%d/maps" % d.proc.pid) as f:
        return "libasan" in f.read()


def status(d, key):
    """The daemon's /proc/PID/status KEY (VmRSS, VmHWM) in bytes."""
    with open("/proc/%d/status" % d.proc.pid) as f:
        for line in f:
            k, v = line.split(":", 1)
            if k == key:
                return int(v.split()[0]) * 1024
    raise AssertionError("no %s in /proc/%d/status" % (key, d.proc.pid))


def pipelined(d, reqs, timeout=60.0):
    """Send REQS on one DEALER, then read every reply (in order)."""
    s = d.dealer()
    try:
        for r in reqs:
            s.send_json(r)
        out = []
        for _ in reqs:
            assert s.poll(int(timeout * 1000)), "a pipelined request was not answered"
            out.append(json.loads(s.recv()))
        return out
    finally:
        s.close(0)


def compact_size(rep):
    return len(json.dumps(rep, separators=(",", ":"), ensure_ascii=False).encode())


def deaf_dealer(d):
    """A DEALER that never reads: its own queue and the kernel's buffers
    as small as they go, so that replies pile up in the daemon."""
    s = rdtest.zsock(zmq.DEALER)
    s.setsockopt(zmq.RCVHWM, 1)
    s.setsockopt(zmq.RCVBUF, 4096)
    s.connect(d.intake)
    return s


class Replies(rdtest.TestCase):
    """One daemon with 3,000 referrals (6,000 events: more than fit in a
    page)."""

    N = 3000

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d = cls.class_daemon(routing=ROUTING_ROOMY)
        reps = pipelined(cls.d, [submit_req(referral(urgency="crisis" if i % 2 else "normal"))
                                 for i in range(cls.N)])
        assert all(r.get("ok") for r in reps), [r for r in reps if not r.get("ok")][:3]

    def test_a_client_that_never_reads_makes_the_daemon_hold_at_most_64_mib(self):
        d = self.d
        before = status(d, "VmRSS")
        deaf = deaf_dealer(d)
        try:
            for _ in range(80):  # 80 pages of 1 MiB asked for, none read
                deaf.send_json({"op": "events", "limit": 10000})
            rdtest.wait_until(lambda: "does not read its replies" in d.log(), timeout=60,
                              what="the daemon to say it drops the deaf client's replies")
            peak = status(d, "VmHWM")
            if not sanitized(d):
                self.assertLessEqual(peak - before, BOUND,
                                     "held %.0f MiB for one connection" % ((peak - before) / MIB))
            # every other client is served as before
            self.assertOk(d.request({"op": "ping"}))
            self.assertOk(d.request(submit_req(referral())))
        finally:
            deaf.close(0)
        if not sanitized(d):
            rdtest.wait_until(lambda: status(d, "VmRSS") - before <= GIVEN_BACK, timeout=30,
                              what="the daemon to give back what it held for the deaf client")

    def test_an_events_reply_holds_at_most_1_mib_and_says_more(self):
        last = self.d.last_seq()
        rep = self.d.ok({"op": "events", "limit": 10000}, timeout=30)
        self.assertLessEqual(compact_size(rep), PAGE)
        self.assertLess(len(rep["events"]), last, "all %d events in one reply" % last)
        self.assertIs(rep.get("more"), True)
        seqs = [e["seq"] for e in rep["events"]]
        while rep.get("more"):
            rep = self.d.ok({"op": "events", "since": seqs[-1], "limit": 10000}, timeout=30)
            self.assertLessEqual(compact_size(rep), PAGE)
            seqs += [e["seq"] for e in rep["events"]]
        self.assertEqual(seqs[:last], list(range(1, last + 1)), "following more loses nothing")

    def test_a_page_that_fits_has_no_more(self):
        rep = self.d.ok({"op": "events", "limit": 100})
        self.assertEqual(len(rep["events"]), 100)
        self.assertNotIn("more", rep)
        rep = self.d.ok({"op": "list", "limit": 1000}, timeout=30)
        self.assertEqual(len(rep["referrals"]), 1000)
        self.assertLessEqual(compact_size(rep), PAGE)
        self.assertNotIn("more", rep)

    def test_requests_past_a_batchs_16_mib_of_replies_are_all_answered_in_order(self):
        # 24 pages of 1 MiB between 24 submits, queued while the daemon is
        # stopped, so that one batch receives them all: it answers until its
        # replies hold 16 MiB, and the rest wait, in order, for the next.
        d = self.d
        reqs = []
        for i in range(24):
            reqs.append({"op": "events", "limit": 10000, "corr": "events-%d" % i})
            reqs.append(submit_req(referral(), corr="submit-%d" % i))
        s = d.dealer()
        try:
            os.kill(d.proc.pid, signal.SIGSTOP)
            try:
                for r in reqs:
                    s.send_json(r)
            finally:
                os.kill(d.proc.pid, signal.SIGCONT)
            reps = []
            for _ in reqs:
                assert s.poll(60000), "a request was not answered"
                reps.append(json.loads(s.recv()))
        finally:
            s.close(0)
        self.assertEqual([r.get("corr") for r in reps], [r["corr"] for r in reqs])
        for r in reps:
            self.assertOk(r)
        pages = sum(compact_size(r) for r in reps if "events" in r)
        self.assertGreater(pages, BATCH_REPLIES, "the replies fit in one batch")
        for req, rep in zip(reqs[1::2], reps[1::2]):
            got = d.ok({"op": "get", "id": rep["id"]})
            self.assertEqual(got["referral"]["ref"], req["referral"]["ref"])

    def test_a_get_of_a_referral_with_a_huge_history_holds_at_most_1_mib(self):
        d = self.d
        rep = d.submit(referral())
        self.assertEqual(rep["status"], "assigned")
        rid, who = rep["id"], ["kelly", "sophie"]
        # a coordinator re-assigns it thousands of times: ~200 bytes an
        # event; more than the 10,000 a get reads (lib/bounds.h RD_HISTORY_MAX)
        reps = pipelined(d, [{"op": "update", "id": rid, "status": "assigned",
                              "connector": who[i % 2]} for i in range(10500)])
        self.assertTrue(all(r.get("ok") for r in reps), [r for r in reps if not r.get("ok")][:3])
        got = d.ok({"op": "get", "id": rid}, timeout=30)
        self.assertLessEqual(compact_size(got), PAGE)
        self.assertGreater(got.get("history_omitted", 0), 0, "no word of the events left out")
        seqs = [e["seq"] for e in got["history"]]
        self.assertEqual(seqs, sorted(seqs), "history oldest first")
        self.assertEqual(seqs[-1], d.last_seq(), "the newest events are kept")
        # what was left out is counted: the history and the omitted are all its events
        mine, since = 0, 0
        while True:
            page = d.ok({"op": "events", "since": since, "limit": 10000}, timeout=30)
            mine += sum(1 for e in page["events"] if e.get("id") == rid)
            if not page["events"]:
                break
            since = page["events"][-1]["seq"]
        self.assertEqual(got["history_omitted"] + len(got["history"]), mine)
        self.assertIn(got["connector"], who)


class Frames(rdtest.TestCase):
    """The socket's frame limit and multipart messages."""

    def setUp(self):
        super().setUp()
        self.d = self.daemon(routing=ROUTING_ROOMY)

    def test_a_frame_just_over_64_kib_is_answered_malformed_with_its_corr(self):
        body = b'{"op":"ping","corr":"big-1","pad":"' + b"x" * (KIB64 + 1000) + b'"}'
        self.assertLess(len(body), SOCKET_MAX)
        replies = self.d.raw([body])
        self.assertEqual(len(replies), 1)
        rep = json.loads(replies[0][-1])
        self.assertError(rep, "malformed")
        self.assertEqual(rep.get("corr"), "big-1")

    def test_a_frame_over_the_socket_limit_closes_the_connection_without_a_reply(self):
        before = status(self.d, "VmRSS")
        s = self.d.dealer()
        try:
            for _ in range(50):  # 50 MiB, were it read
                s.send(b'{"op":"ping","corr":"' + b"x" * (MIB - 100) + b'"}')
            self.assertFalse(s.poll(2000), "a frame over the limit was answered")
        finally:
            s.close(0)
        self.assertOk(self.d.request({"op": "ping"}))
        if not sanitized(self.d):
            self.assertLessEqual(status(self.d, "VmHWM") - before, 16 * MIB)

    def test_a_message_of_many_large_frames_is_refused_and_its_memory_given_back(self):
        d = self.d
        before = status(d, "VmRSS")
        frames = [b'{"op":"ping","corr":"frames"}'] + [b" " * (KIB64 - 100)] * 600  # 38 MiB
        replies = d.raw(frames, timeout=60)
        self.assertEqual(len(replies), 1)
        rep = json.loads(replies[0][-1])
        self.assertError(rep, "malformed")
        self.assertEqual(rep.get("corr"), "frames")
        self.assertOk(d.request({"op": "ping"}))
        if not sanitized(d):
            rdtest.wait_until(lambda: status(d, "VmRSS") - before <= GIVEN_BACK, timeout=30,
                              what="the daemon to give back the frames it held")


class Pipelining(rdtest.TestCase):
    """The benchmark's load: 4 clients with 256 requests in flight each lose
    no reply."""

    def test_four_clients_with_256_in_flight_get_every_reply(self):
        d = self.daemon(routing=ROUTING_ROOMY)
        socks = [d.dealer() for _ in range(4)]
        total, window = 2000, 256
        sent, got = [0] * 4, [0] * 4
        try:
            deadline = time.monotonic() + 120
            while min(got) < total:
                self.assertLess(time.monotonic(), deadline, "replies missing: %r" % got)
                for i, s in enumerate(socks):
                    while sent[i] < total and sent[i] - got[i] < window:
                        s.send_json(submit_req(referral(), corr="%d-%d" % (i, sent[i])))
                        sent[i] += 1
                    while s.poll(0):
                        rep = json.loads(s.recv())
                        self.assertOk(rep)
                        self.assertEqual(rep["corr"], "%d-%d" % (i, got[i]), "out of order")
                        got[i] += 1
                zmq.select([s for s in socks], [], [], 0.05)
        finally:
            for s in socks:
                s.close(0)
        self.assertNotIn("could not be delivered", d.log())
