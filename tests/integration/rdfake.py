"""rdfake: stand-ins for the other daemons of a set of several (daemon.md,
"Several machines"), for the tests of clients that are given several
endpoints: a standby that answers every request `unavailable`, a daemon
that never answers, a relay in front of the real daemon that may rewrite
its answers, and a publisher that relays some of the real daemon's events.
Each listens on a free loopback port, records every request frame exactly
as it came (bytes), and runs in a thread of its own until close().

    fake = rdfake.standby()      # or silent(), Relay(d.intake, ...)
    ... give fake.endpoint to the client ...
    fake.bodies()                # the request frames it received, in order
    fake.close()
"""

import json
import threading
import time

import zmq

import rdtest
from rdtest import free_ports

STANDBY_MESSAGE = "this daemon is a standby: send the request to the active daemon"


def _loopback():
    return "tcp://127.0.0.1:%d" % free_ports(1)[0]


class FakeDaemon:
    """A ROUTER that hands each request frame to ANSWER(body) and sends back
    the dict it returns (None: no answer at all)."""

    def __init__(self, answer):
        self.answer = answer
        self.dead = False  # set while handling a request: the fake dies after it
        self.endpoint = _loopback()
        self.received = []  # (monotonic time, the frame as received)
        self._lock = threading.Lock()
        self.sock = rdtest.CTX.socket(zmq.ROUTER)
        self.sock.linger = 0
        self.sock.bind(self.endpoint)
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop:
            if not self.sock.poll(50):
                continue
            frames = self.sock.recv_multipart()
            with self._lock:
                self.received.append((time.monotonic(), frames[-1]))
            rep = self.answer(frames[-1])
            if rep is not None:
                self.sock.send_multipart(frames[:-1] + [json.dumps(rep).encode()])
            if self.dead:
                self.sock.close(0)  # as a killed daemon's: its connections drop
                return

    def bodies(self):
        with self._lock:
            return [b for _, b in self.received]

    def requests(self):
        return [json.loads(b) for b in self.bodies()]

    def close(self):
        self._stop = True
        self._t.join(5)
        self.sock.close(0)


def _standby_answer(body):
    """What a standby answers: `ping` with "role": "standby", every other
    request `unavailable` (the message says it is a standby)."""
    req = json.loads(body)
    rep = {"corr": req["corr"]} if "corr" in req else {}
    if req.get("op") == "ping":
        rep.update(ok=True, version="1.0.0", uptime_s=1, last_seq=0, role="standby")
    else:
        rep.update(ok=False, error={"code": "unavailable", "message": STANDBY_MESSAGE})
    return rep


def standby():
    return FakeDaemon(_standby_answer)


def silent():
    """A daemon whose machine vanished: the connection is made, nothing
    comes back."""
    return FakeDaemon(lambda body: None)


class Relay(FakeDaemon):
    """A daemon in front of the real one at TARGET. Its MODE may change
    while it runs (SWITCH(relay, request) is called before each request
    is handled, and may set it):
      "active"   each frame goes on as it came and the real answer comes
                 back, through REWRITE(request, answer) -> the answer to
                 send (None: none) when given;
      "lost"     the frame goes on, the answer is dropped (a daemon that
                 committed and died before it answered);
      "standby"  answered as a standby does, nothing goes on;
      "silent"   nothing goes on, nothing comes back;
      "dead"     nothing goes on, and the fake closes its socket: its
                 connections drop and new ones are refused."""

    def __init__(self, target, rewrite=None, mode="active", switch=None):
        self.back = rdtest.CTX.socket(zmq.DEALER)
        self.back.linger = 0
        self.back.connect(target)
        self.rewrite = rewrite
        self.mode = mode
        self.switch = switch
        self.forwarded = 0
        super().__init__(self._answer)

    def _answer(self, body):
        req = json.loads(body)
        if self.switch:
            self.switch(self, req)
        if self.mode == "standby":
            return _standby_answer(body)
        if self.mode in ("silent", "dead"):
            self.dead = self.mode == "dead"
            return None
        self.forwarded += 1
        self.back.send(body)
        while self.back.poll(10000):
            rep = json.loads(self.back.recv())
            if rep.get("corr") == req.get("corr"):
                if self.mode == "lost":
                    return None
                return self.rewrite(req, rep) if self.rewrite else rep
        return None

    def close(self):
        super().close()
        self.back.close(0)


class EventRelay:
    """A PUB that republishes the events of the real daemon's PUB at SOURCE
    for which KEEP(event) is true: one daemon's share of a stream."""

    def __init__(self, source, keep):
        self.keep = keep
        self.endpoint = _loopback()
        self.pub = rdtest.CTX.socket(zmq.PUB)
        self.pub.linger = 0
        self.pub.bind(self.endpoint)
        self.sub = rdtest.CTX.socket(zmq.SUB)
        self.sub.linger = 0
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(source)
        self.seen = []  # the seqs it got from the source
        self._lock = threading.Lock()
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop:
            if not self.sub.poll(50):
                continue
            frames = self.sub.recv_multipart()
            ev = json.loads(frames[-1])
            with self._lock:
                self.seen.append(ev["seq"])
            if self.keep(ev):
                self.pub.send_multipart(frames)

    def has_seen(self, seq):
        with self._lock:
            return seq in self.seen

    def close(self):
        self._stop = True
        self._t.join(5)
        self.pub.close(0)
        self.sub.close(0)


def takeover_publishers(d, add_cleanup, timeout=10.0):
    """Two daemons' publishers over the real daemon D's events, as a client
    sees them across a takeover: FIRST publishes up to K+4 and goes silent
    (it died), SECOND publishes from K+3 on (it took over), and K+5 reaches
    neither (published before anyone was subscribed). Returns (FIRST,
    SECOND, K), K being D's last seq once both relay D's stream."""
    k = [None]
    first = EventRelay(d.events, lambda ev: k[0] is not None and ev["seq"] <= k[0] + 4)
    add_cleanup(first.close)
    second = EventRelay(d.events, lambda ev: k[0] is not None and ev["seq"] >= k[0] + 3
                        and ev["seq"] != k[0] + 5)
    add_cleanup(second.close)
    deadline = time.monotonic() + timeout
    while True:  # submit throw-away referrals until both relay the stream
        d.submit(rdtest.referral(partner="it-warmup", urgency="crisis"))
        seq = d.last_seq()
        time.sleep(0.1)
        if first.has_seen(seq) and second.has_seen(seq):
            break
        if time.monotonic() > deadline:
            raise AssertionError("the relays did not get the daemon's events")
    k[0] = d.last_seq()
    return first, second, k[0]
