#!/usr/bin/python3
"""partner_client.py: a minimal referrald partner client (pyzmq).

    partner_client.py submit REFERRAL.json   submit one referral, retrying safely
    partner_client.py follow SINCE [COUNT]   print the events after seq SINCE,
                                             then live ones (COUNT: stop after
                                             that many; 0 or none: never stop)

Environment: REFERRALD_ENDPOINT (default tcp://127.0.0.1:5570),
REFERRALD_EVENTS (default tcp://127.0.0.1:5571): with several daemons,
their endpoints separated by commas; REFERRALD_TIMEOUT_MS (default 5000):
how long one attempt waits for a reply.

Exit status: 0 done, 1 an error reply or no reply after all retries, 2 usage.
"""
import json
import os
import sys
import time

import zmq

INTAKE = (os.environ.get("REFERRALD_ENDPOINT") or "tcp://127.0.0.1:5570").split(",")
EVENTS = (os.environ.get("REFERRALD_EVENTS") or "tcp://127.0.0.1:5571").split(",")
TIMEOUT_MS = int(os.environ.get("REFERRALD_TIMEOUT_MS") or 5000)
MAX_ROUNDS = 5  # rounds of all the endpoints, with pauses of 0.5, 1, 2 and 4 s
PAGE = 1000
RECHECK_MS = 2000  # ask for missed events after this much silence
# Nothing was stored (or, with "outcome": "unknown", maybe it was): the
# same request again is safe, to the next daemon.
RETRY = ("unavailable", "internal")

ctx = zmq.Context()
current = 0  # the endpoint that answered last: the next request goes there first


def request(endpoint, req):
    """Send REQ (a dict with a `corr`) to ENDPOINT on a NEW socket and return
    the reply with that corr, or None after TIMEOUT_MS without one. The
    socket is closed after: a late reply to this attempt dies with it."""
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(endpoint)
    try:
        sock.send(json.dumps(req).encode("utf-8"))
        while sock.poll(TIMEOUT_MS):
            rep = json.loads(sock.recv_multipart()[-1])
            if rep.get("corr") == req["corr"]:
                return rep
            # not ours: a late reply to something older
        return None
    finally:
        sock.close(0)


def print_error(rep):
    e = rep.get("error", {})
    field = ": " + e["field"] if e.get("field") else ""
    sys.stderr.write("error: %s%s: %s\n" % (e.get("code"), field, e.get("message")))


def ask(req):
    """Send REQ until a daemon answers it, and return that answer (ok, or
    an error that no retry can fix), or None after MAX_ROUNDS rounds.

    Several daemons: one is active, the others are standby and answer
    `unavailable`. So on no reply, on `unavailable` or `internal`, and on
    "outcome": "unknown", send the SAME request (same corr, same content)
    to the next endpoint, round the list, starting with the one that
    answered last; after each round, a pause. That is safe: a submit of a
    referral that is already stored answers `"duplicate": true` with that
    referral (the one you already sent), and the other requests a partner
    sends only read, or change nothing when repeated."""
    global current
    pause = 0.5
    for rnd in range(1, MAX_ROUNDS + 1):
        for k in range(len(INTAKE)):
            i = (current + k) % len(INTAKE)
            rep = request(INTAKE[i], req)
            if rep is None:
                sys.stderr.write("no reply from %s within %d ms\n" % (INTAKE[i], TIMEOUT_MS))
                continue
            err = rep.get("error", {})
            if rep.get("ok") is True or err.get("code") not in RETRY:
                current = i
                return rep
            sys.stderr.write("%s answered %s: %s%s\n" % (
                INTAKE[i], err.get("code"), err.get("message"),
                " (the outcome is unknown: the same request again tells)"
                if err.get("outcome") == "unknown" else ""))
        if rnd < MAX_ROUNDS:
            sys.stderr.write("round %d of %d without an answer; the same request again in "
                             "%.1f s\n" % (rnd, MAX_ROUNDS, pause))
            time.sleep(pause)
            pause *= 2
    return None


def submit(path):
    """Submit the referral in PATH. The request is built once and sent as
    it is until a daemon answers: `duplicate: true` then means that an
    earlier attempt had stored it. Any error but those of RETRY needs a
    person (or a code fix): do not retry."""
    with open(path, encoding="utf-8") as f:
        referral = json.load(f)
    rep = ask({"op": "submit", "corr": "submit-%d" % os.getpid(), "referral": referral})
    if rep is None:
        sys.stderr.write("no answer after %d rounds: keep the referral and submit it again "
                         "later (the same ref, the same content)\n" % MAX_ROUNDS)
        return 1
    if rep.get("ok") is not True:
        print_error(rep)  # invalid, conflict, forbidden...: do not retry
        return 1
    print("%s %s duplicate=%s" % (rep["id"], rep["status"],
                                  "true" if rep.get("duplicate") else "false"))
    return 0


class Follower:
    """Print every event after SINCE exactly once, in seq order."""

    def __init__(self, since, wanted):
        self.cursor = since  # everything with seq <= cursor has been printed
        self.wanted = wanted
        self.printed = 0
        self.n = 0

    def done(self):
        return self.wanted > 0 and self.printed >= self.wanted

    def emit(self, ev):
        print("%d %s %s" % (ev["seq"], ev["type"], ev.get("id", "-")), flush=True)
        self.cursor = ev["seq"]
        self.printed += 1

    def replay(self):
        """Print the events after cursor, page by page, until caught up with
        `last`. Raise RuntimeError on no answer or an error reply."""
        while not self.done():
            self.n += 1
            rep = ask({"op": "events", "corr": "events-%d" % self.n,
                       "since": self.cursor, "limit": PAGE})
            if rep is None:
                raise RuntimeError("no answer after %d rounds" % MAX_ROUNDS)
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
        # 1. Subscribe FIRST, so nothing published from now on is lost: to
        #    every daemon (only the active one publishes; after a takeover,
        #    the next one).
        sub = ctx.socket(zmq.SUB)
        sub.linger = 0
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        for endpoint in EVENTS:
            sub.connect(endpoint)
        # 2. Replay what came before.
        self.replay()
        # 3. Live events newer than the cursor; a gap in seq (or a silence,
        #    in case the subscription was not in place yet, or a daemon
        #    took over) is filled from the replay. An event that two
        #    daemons published is printed once: seq <= cursor is skipped.
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
