#!/usr/bin/python3
"""partner_client.py: a minimal referrald partner client (pyzmq).

    partner_client.py submit REFERRAL.json   submit one referral, retrying safely
    partner_client.py follow SINCE [COUNT]   print the events after seq SINCE,
                                             then live ones (COUNT: stop after
                                             that many; 0 or none: never stop)

Environment: REFERRALD_ENDPOINT (default tcp://127.0.0.1:5570),
REFERRALD_EVENTS (default tcp://127.0.0.1:5571), REFERRALD_TIMEOUT_MS
(default 5000).

Exit status: 0 done, 1 an error reply or no reply after all retries, 2 usage.
"""
import json
import os
import sys
import time

import zmq

INTAKE = os.environ.get("REFERRALD_ENDPOINT") or "tcp://127.0.0.1:5570"
EVENTS = os.environ.get("REFERRALD_EVENTS") or "tcp://127.0.0.1:5571"
TIMEOUT_MS = int(os.environ.get("REFERRALD_TIMEOUT_MS") or 5000)
MAX_ATTEMPTS = 5
PAGE = 1000
RECHECK_MS = 2000  # ask for missed events after this much silence

ctx = zmq.Context()


def open_dealer():
    s = ctx.socket(zmq.DEALER)
    s.linger = 0
    s.connect(INTAKE)
    return s


def request(sock, req):
    """Send REQ (a dict with a `corr`) and return the reply with that corr,
    or None after TIMEOUT_MS without one."""
    sock.send(json.dumps(req).encode("utf-8"))
    while sock.poll(TIMEOUT_MS):
        rep = json.loads(sock.recv_multipart()[-1])
        if rep.get("corr") == req["corr"]:
            return rep
        # not ours: a late reply to something older
    return None


def print_error(rep):
    e = rep.get("error", {})
    field = ": " + e["field"] if e.get("field") else ""
    sys.stderr.write("error: %s%s: %s\n" % (e.get("code"), field, e.get("message")))


def submit(path):
    """After a timeout the daemon may or may not have stored the referral,
    so send the SAME referral again (same ref, same content) on a NEW
    socket: `duplicate: true` then means it was stored the first time.
    `unavailable` and `internal` stored nothing: retry later. Any other
    error needs a person (or a code fix): do not retry."""
    with open(path, encoding="utf-8") as f:
        referral = json.load(f)
    req = {"op": "submit", "corr": "submit-%d" % os.getpid(), "referral": referral}
    backoff = 0.5
    for attempt in range(1, MAX_ATTEMPTS + 1):
        sock = open_dealer()
        try:
            rep = request(sock, req)
        finally:
            sock.close(0)  # a late reply to this attempt dies with it
        if rep is None:
            sys.stderr.write("no reply within %d ms (attempt %d of %d)%s\n" % (
                TIMEOUT_MS, attempt, MAX_ATTEMPTS,
                "; resending the same referral" if attempt < MAX_ATTEMPTS else ""))
        elif rep.get("ok") is True:
            print("%s %s duplicate=%s" % (rep["id"], rep["status"],
                                          "true" if rep.get("duplicate") else "false"))
            return 0
        else:
            print_error(rep)
            if rep.get("error", {}).get("code") not in ("unavailable", "internal"):
                return 1  # invalid, conflict, forbidden...: do not retry
        if attempt < MAX_ATTEMPTS:
            time.sleep(backoff)
            backoff *= 2
    return 1


class Follower:
    """Print every event after SINCE exactly once, in seq order."""

    def __init__(self, since, wanted):
        self.cursor = since  # everything with seq <= cursor has been printed
        self.wanted = wanted
        self.printed = 0
        self.dealer = open_dealer()
        self.n = 0

    def done(self):
        return self.wanted > 0 and self.printed >= self.wanted

    def emit(self, ev):
        print("%d %s %s" % (ev["seq"], ev["type"], ev.get("id", "-")), flush=True)
        self.cursor = ev["seq"]
        self.printed += 1

    def replay(self):
        """Print the events after cursor, page by page, until caught up with
        `last`. Raise RuntimeError on no reply or an error reply."""
        while not self.done():
            self.n += 1
            rep = request(self.dealer, {"op": "events", "corr": "events-%d" % self.n,
                                        "since": self.cursor, "limit": PAGE})
            if rep is None:
                raise RuntimeError("no reply within %d ms" % TIMEOUT_MS)
            if rep.get("ok") is not True:
                print_error(rep)
                raise RuntimeError("events failed")
            for ev in rep["events"]:
                if ev["seq"] > self.cursor and not self.done():
                    self.emit(ev)
            if rep.get("more"):
                continue  # the page was cut at 1 MiB: ask again from the cursor
            if not rep["events"] or self.cursor >= rep["last"]:
                return

    def run(self):
        # 1. Subscribe FIRST, so nothing published from now on is lost.
        sub = ctx.socket(zmq.SUB)
        sub.linger = 0
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(EVENTS)
        # 2. Replay what came before.
        self.replay()
        # 3. Live events newer than the cursor; a gap in seq (or a silence,
        #    in case the subscription was not in place yet) is filled from
        #    the replay.
        while not self.done():
            if not sub.poll(RECHECK_MS):
                self.replay()
                continue
            ev = json.loads(sub.recv_multipart()[-1])  # frames: type, event
            if ev["seq"] > self.cursor + 1:
                self.replay()
            if ev["seq"] == self.cursor + 1 and not self.done():
                self.emit(ev)
            # seq <= cursor: printed already
        sub.close(0)
        self.dealer.close(0)
        return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "submit":
        return submit(argv[2])
    if len(argv) in (3, 4) and argv[1] == "follow":
        try:
            return Follower(int(argv[2]), int(argv[3]) if len(argv) == 4 else 0).run()
        except RuntimeError as e:
            sys.stderr.write("error: %s\n" % e)
            return 1
    sys.stderr.write("usage: %s submit REFERRAL.json | follow SINCE [COUNT]\n" % argv[0])
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
