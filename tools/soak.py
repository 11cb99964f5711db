#!/usr/bin/python3
"""soak.py: a long run of referrald with accept/start/close churn; memory and
latency over time as a CSV (and a PNG through tools/soak.gp).

Not part of the test suite (tests/integration/test_soak.py runs a short one).
Only Debian's python3-zmq and tools/rdproc.py (in this file's folder) are
needed.

    /usr/bin/python3 tools/soak.py -n 1000000 --csv docs/soak.csv --plot docs/soak.png
    /usr/bin/python3 tools/soak.py -n 20000 --interval 1 --keep
    /usr/bin/python3 tools/soak.py --endpoint tcp://127.0.0.1:5570 \\
        --events tcp://127.0.0.1:5571 --pid $(pidof referrald) --db /var/lib/referrald/referrald.db

The tool plays both sides of the protocol (shared/spec/protocol.md):

- the partner systems: one DEALER pipelining `submit`s (at most --window in
  flight) of valid referrals with unique refs, in a mix that exercises every
  rule of the example routing file (config/routing.yaml, compiled into the
  daemon): family support inside and outside the region's postcodes,
  first-line psychology, crises, child-safety concerns; languages and
  urgencies vary;
- the connectors' case-work apps: it follows the PUB socket, and for every
  `referral.assigned` (from a submit, from the waitlist being served, or from
  a re-decision after a decline) it sends, on a second DEALER and as the
  offered connector, `update` accepted, then started, then closed. A share
  of first offers (--decline, 5%) is declined instead, so that re-decisions
  happen; a referral is declined at most once, so it always has another
  candidate. Each close frees capacity, and the daemon serves its waitlist.

Events are processed in `seq` order. A gap (the PUB socket drops when the
subscriber lags) is filled with the `events` op before going on, so no
offer is ever lost.

Bounds: the connectors' capacity bounds the referrals in the accept ->
start -> close pipeline (at most --update-window updates in flight); new
submits pause while the tool's referrals that are still open (waitlisted,
offered, accepted, started, as the events say) number --max-open or more.
The example file has 27 family-support places for ~60% of the referrals,
so at steady state the waitlist stays just under --max-open, and the submit
rate follows what churn frees.

By default the tool spawns its own daemon (through tools/rdproc.py, next to
this file, which the integration tests share): the binary from --referrald
(default: $REFERRALD, else build-rel/referrald of this source tree), in a
fresh temp dir with a generated config: two free loopback ports, the
database soak.db in that dir, the compiled-in routing file (or --routing
FILE), `journal_events: none` (--journal-events; without a journal the
events would all go to the log as text), stderr to daemon.log there. It
waits for a `ping` reply (--start-timeout), sends SIGTERM at the end,
expects exit 0, and removes the dir unless --keep. With --endpoint it
attaches to a running daemon instead (--events for its PUB socket, --pid
for memory, --db for size); it then acts only on its own referrals (their
refs start with SOAK-<run id>-).

Every --interval seconds one CSV row (flushed at once, so a cut-short run
still leaves its data) and one line on stderr. Columns:

  elapsed_s        seconds since the first submit
  submitted_total  submits sent so far
  acked_total      submits answered ok so far
  submits_per_s    submit replies (ok) per second in this interval
  updates_per_s    update replies (ok) per second in this interval
  lat_p50_ms .. lat_max_ms
                   submit latency (send to reply) of the replies in this
                   interval: p50, p99, p99.9, max (nearest rank)
  rss_kib, hwm_kib daemon VmRSS and VmHWM (/proc/PID/status)
  db_bytes         database file + its -wal
  waitlist, open   from the `stats` op (the whole daemon): waiting referrals;
                   open ones (waitlisted + assigned + accepted + started); only
                   in the rows where it was asked (--stats-every), and always
                   in the last row
  errors           error replies, timeouts, unmatched replies so far
  closed_total, declined_total, offers_total
                   closes and declines answered ok; referral.assigned events
  upd_p50_ms, upd_p99_ms
                   update latency in this interval
  stats_ms         how long that `stats` request took (it scans the database
                   and the daemon serves nothing else meanwhile)
  daemon_cpu_pct, tool_cpu_pct
                   CPU use in this interval (100 = one core)
  run_waitlist, run_open
                   the same two figures for this run's referrals, as the
                   events say, in every row (equal to the stats figures on a
                   daemon of its own)

Exit status: 0 when every submit was answered ok, every update was
answered ok, nothing timed out, no reply was unmatched, every referral of
the run reached a final status after the drain (closed or forwarded), and a
spawned daemon exited 0 on SIGTERM; 1 otherwise; 2 for a usage error.
The last line on stdout is a JSON summary of the run.
"""

import argparse
import collections
import functools
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import time

import zmq

import rdproc  # tools/rdproc.py, next to this file

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(HERE)

COLUMNS = [
    "elapsed_s", "submitted_total", "acked_total", "submits_per_s", "updates_per_s",
    "lat_p50_ms", "lat_p99_ms", "lat_p999_ms", "lat_max_ms",
    "rss_kib", "hwm_kib", "db_bytes", "waitlist", "open", "errors",
    "closed_total", "declined_total", "offers_total", "upd_p50_ms", "upd_p99_ms",
    "stats_ms", "daemon_cpu_pct", "tool_cpu_pct", "run_waitlist", "run_open",
]

FINAL = ("closed", "forwarded", "withdrawn")
OPEN = ("waitlisted", "assigned", "accepted", "started")


def log(msg):
    sys.stderr.write("soak: %s\n" % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------- referrals

REGION = ["3600", "3660", "3661", "3665", "3668", "3630", "3640", "3650", "3670",
          "3680", "3690"]
ELSEWHERE = ["3500", "3510", "3900", "3910", "3700", "1000", "2000", "9000", "8000"]
LANGS = ["nl"] * 70 + ["fr"] * 8 + ["en"] * 7 + ["tr"] * 8 + ["ar"] * 4 + ["it"] * 3
CONCERNS = ["teen_conflict", "parental_conflict", "school_absence", "parenting_stress",
            "divorce", "anxiety", "low_mood", "bullying", "sleep", "debt", "housing"]
PARTNERS = ["ocmw-genk", "ocmw-maasmechelen", "clb-limburg", "kind-en-gezin",
            "huisarts-oost", "caw-intake"]
NAMES = ["Janssens", "Peeters", "Maes", "Yilmaz", "Claes", "Goossens", "Rossi",
         "El Amrani", "Wouters", "Dubois"]
STREETS = ["Stationsstraat", "Kerkstraat", "Molenweg", "Hoogstraat", "Dorpsplein"]


class Mix:
    """Valid referrals in a realistic mix for the example routing file."""

    def __init__(self, seed, run_id):
        self.rng = random.Random(seed)
        self.prefix = "SOAK-%s-" % run_id
        self.n = 0

    def next(self):
        rng = self.rng
        self.n += 1
        r = rng.random()
        urgency = "high" if rng.random() < 0.15 else "normal"
        concerns = rng.sample(CONCERNS, rng.randint(1, 3))
        kind = "family_support"
        ages = [rng.randint(0, 17) for _ in range(rng.randint(1, 4))]
        if r < 0.02:                       # rule crisis: forwarded
            urgency = "crisis"
            postcode = rng.choice(REGION)
        elif r < 0.04:                     # rule child-safety: forwarded
            concerns = ["domestic_violence"] + concerns[:1]
            postcode = rng.choice(REGION)
        elif r < 0.20:                     # rule psychology: assigned or forwarded
            kind = "first_line_psychology"
            ages = [rng.randint(6, 25)]
            postcode = rng.choice(REGION + ELSEWHERE)
        elif r < 0.80:                     # rule family-by-region: assigned or waitlisted
            postcode = rng.choice(REGION)
        else:                              # rule everything-else: forwarded
            postcode = rng.choice(ELSEWHERE)
        name = rng.choice(NAMES)
        ref = {
            "ref": "%s%07d" % (self.prefix, self.n),
            "partner": rng.choice(PARTNERS),
            "kind": kind,
            "postcode": postcode,
            "children": [{"age": a} for a in ages],
            "concerns": concerns,
            "language": rng.choice(LANGS),
            "urgency": urgency,
            "consent": True,
            "family": {
                "name": name,
                "phone": "+32 89 %02d %02d %02d" % (rng.randint(10, 99), rng.randint(10, 99),
                                                    rng.randint(10, 99)),
                "email": "gezin.%s@example.org" % name.lower().replace(" ", ""),
                "address": "%s %d, %s" % (rng.choice(STREETS), rng.randint(1, 200), postcode),
            },
            "note": "Soak referral %d: the family asks for help; contact by phone "
                    "after school hours." % self.n,
        }
        return ref


# ---------------------------------------------------------------- the daemon


def new_daemon(a):
    """referrald (rdproc.Referrald, not started yet) for the run of args A:
    --referrald, --routing (else the compiled-in file), --journal-events,
    the database soak.db."""
    routing = None
    if a.routing:
        with open(a.routing, "rb") as f:
            routing = f.read()
    return rdproc.Referrald(a.referrald, routing=routing, database="soak.db",
                            extra_yaml="journal_events: %s" % a.journal_events, prefix="soak-")


def drain(sock, n, handler, multipart=False):
    """Call HANDLER on each message waiting on SOCK (its frames with
    MULTIPART, else its one frame), at most N of them (None: all)."""
    recv = sock.recv_multipart if multipart else sock.recv
    for _ in (range(n) if n is not None else itertools.count()):
        try:
            msg = recv(zmq.NOBLOCK)
        except zmq.Again:
            return
        handler(msg)


# ---------------------------------------------------------------- measuring


def proc_memory(pid):
    """(VmRSS, VmHWM) in KiB, or (None, None)."""
    rss = hwm = None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return rss, hwm


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def file_bytes(*paths):
    total, found = 0, False
    for p in paths:
        try:
            total += os.path.getsize(p)
            found = True
        except OSError:
            pass
    return total if found else None


def pct(sorted_ns, q):
    """Nearest-rank percentile of sorted nanoseconds, in ms."""
    if not sorted_ns:
        return None
    k = max(0, min(len(sorted_ns) - 1, -(-len(sorted_ns) * q // 1) - 1))
    return sorted_ns[int(k)] / 1e6


def fmt(v, nd=3):
    if v is None:
        return ""
    if isinstance(v, float):
        return ("%%.%df" % nd) % v
    return str(v)


# ---------------------------------------------------------------- the run


class Soak:
    def __init__(self, args, intake, events, pid, db):
        self.a = args
        self.pid = pid
        self.db = db
        self.rng = random.Random(args.seed + 1)
        self.run_id = "%d-%d" % (os.getpid(), int(time.time()) % 1000000)
        self.mix = Mix(args.seed, self.run_id)
        self.prefix = self.mix.prefix

        def dealer():
            s = rdproc.zsock(zmq.DEALER)
            s.sndhwm = 0
            s.rcvhwm = 0
            s.connect(intake)
            return s
        self.sub_sock = dealer()      # partners: submits
        self.upd_sock = dealer()      # connectors' apps: updates
        self.ctl_sock = dealer()      # events replay, stats, ping
        self.ev_sock = rdproc.zsock(zmq.SUB)
        self.ev_sock.rcvhwm = 0
        self.ev_sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.ev_sock.connect(events)

        # requests in flight: corr -> (sent_ns, ...)
        self.sub_pending = {}
        self.upd_pending = {}
        self.ctl_pending = {}
        self.corr_n = 0
        self.todo = collections.deque()   # (id, connector, status) updates to send

        # what the events say about this run's referrals that are still open
        self.open = {}                    # id -> status
        self.declined_ids = set()
        self.last_seq = 0
        self.held = []                    # live events held while a replay is out
        self.replaying = False
        self.gaps = 0
        self.replayed = 0

        # totals
        self.submitted = 0
        self.acked = 0
        self.updates_ok = 0
        self.closed = 0
        self.declined = 0
        self.offers = 0
        self.forwarded = 0
        self.waitlisted_decisions = 0
        self.duplicates = 0
        self.expired = 0
        self.errors = 0
        self.error_kinds = collections.Counter()
        self.error_samples = []
        self.status_counts = collections.Counter()

        # this interval
        self.i_sub_lat = []
        self.i_upd_lat = []
        self.i_acked = 0
        self.i_updates = 0
        self.rows = collections.deque()   # [row, waits for stats], written in order
        self.stats_out = False
        self.stats_last = None
        self.elapsed = 0.0

    # -- small helpers
    def corr(self, tag):
        self.corr_n += 1
        return "%s%d" % (tag, self.corr_n)

    def error(self, kind, detail):
        self.errors += 1
        self.error_kinds[kind] += 1
        if len(self.error_samples) < 20:
            self.error_samples.append("%s: %s" % (kind, detail))
            log("error %s: %s" % (kind, detail))

    def ctl(self, obj, what):
        c = self.corr("c")
        obj["corr"] = c
        self.ctl_pending[c] = (time.perf_counter_ns(), what, None)
        self.ctl_sock.send(json.dumps(obj).encode())
        return c

    def ctl_request(self, obj, timeout=30.0):
        """A synchronous request on the control socket (only outside the loop)."""
        c = self.ctl(obj, "sync")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ctl_sock.poll(100):
                rep = json.loads(self.ctl_sock.recv())
                self.ctl_pending.pop(rep.get("corr"), None)
                if rep.get("corr") == c:
                    return rep
        raise RuntimeError("no reply to %s within %.0fs" % (obj.get("op"), timeout))

    # -- events
    def on_live_event(self, frames):
        try:
            ev = json.loads(frames[-1])
            seq = ev["seq"]
        except (ValueError, KeyError, TypeError):
            self.error("bad_event", repr(frames)[:200])
            return
        if seq <= self.last_seq:
            return
        if self.replaying:
            self.held.append(ev)
            return
        if seq != self.last_seq + 1:
            self.gaps += 1
            self.held.append(ev)
            self.start_replay()
            return
        self.apply(ev)

    def start_replay(self):
        """Fetch the events between the last one applied and the first one held."""
        self.replaying = True
        want = self.held[0]["seq"] - self.last_seq - 1 if self.held else 1000
        self.ctl({"op": "events", "since": self.last_seq, "limit": max(1, min(want, 10000))},
                 "events")

    def on_replay(self, rep):
        self.replaying = False
        if rep.get("ok") is not True:
            self.error("replay", json.dumps(rep)[:300])
            return
        for ev in rep.get("events", []):
            if ev["seq"] == self.last_seq + 1:
                self.replayed += 1
                self.apply(ev)
        if rep.get("more"):
            # the page was cut at 1 MiB (protocol.md): ask again from there
            self.start_replay()
            return
        held, self.held = self.held, []
        held.sort(key=lambda e: e["seq"])
        for i, ev in enumerate(held):
            if ev["seq"] <= self.last_seq:
                continue
            if ev["seq"] != self.last_seq + 1:
                self.held = held[i:]
                self.start_replay()
                return
            self.apply(ev)

    def apply(self, ev):
        self.last_seq = ev["seq"]
        ref = ev.get("ref")
        if not ref or not ref.startswith(self.prefix):
            return
        t = ev.get("type")
        rid = ev.get("id")
        status = ev.get("status")
        if t == "referral.received":
            return
        if t == "referral.assigned":
            self.offers += 1
            self.open[rid] = "assigned"
            conn = ev.get("connector")
            if rid not in self.declined_ids and self.rng.random() < self.a.decline:
                self.declined_ids.add(rid)
                self.todo.append((rid, conn, "declined"))
            else:
                self.todo.append((rid, conn, "accepted"))
        elif t == "referral.offer_expired":
            self.expired += 1
        elif t == "referral.declined":
            pass                     # the new decision follows
        elif status in FINAL:
            self.open.pop(rid, None)
            if t == "referral.forwarded":
                self.forwarded += 1
        elif status in OPEN:
            if t == "referral.waitlisted":
                self.waitlisted_decisions += 1
            self.open[rid] = status

    # -- replies
    def matched(self, raw, pending):
        """(reply, what PENDING held for its corr, now taken out) for the
        reply RAW; (None, None) when it is no JSON or matches nothing there
        (an error each)."""
        try:
            rep = json.loads(raw)
        except ValueError:
            self.error("bad_reply", raw[:200])
            return None, None
        p = pending.pop(rep.get("corr"), None)
        if p is None:
            self.error("unmatched", raw[:200])
            return None, None
        return rep, p

    def on_submit_reply(self, now, raw):
        rep, p = self.matched(raw, self.sub_pending)
        if rep is None:
            return
        self.i_sub_lat.append(now - p)
        if rep.get("ok") is not True:
            self.error("submit_" + str((rep.get("error") or {}).get("code")), raw[:300])
            return
        if rep.get("duplicate"):
            self.duplicates += 1
            self.error("duplicate", raw[:200])
        self.acked += 1
        self.i_acked += 1
        self.status_counts[rep.get("status")] += 1

    def on_update_reply(self, now, raw):
        rep, p = self.matched(raw, self.upd_pending)
        if rep is None:
            return
        sent, rid, conn, status = p
        self.i_upd_lat.append(now - sent)
        if rep.get("ok") is not True:
            self.error("update_%s_%s" % (status, (rep.get("error") or {}).get("code")), raw[:300])
            return
        self.updates_ok += 1
        self.i_updates += 1
        if status == "accepted":
            self.todo.append((rid, conn, "started"))
        elif status == "started":
            self.todo.append((rid, conn, "closed"))
        elif status == "closed":
            self.closed += 1
        elif status == "declined":
            self.declined += 1

    # -- sending
    def send_submits(self):
        a = self.a
        while (len(self.sub_pending) < a.window and self.submitted < a.count
               and len(self.open) + len(self.sub_pending) < a.max_open):
            c = self.corr("s")
            body = json.dumps({"op": "submit", "corr": c, "referral": self.mix.next()},
                              separators=(",", ":")).encode()
            self.sub_pending[c] = time.perf_counter_ns()
            self.sub_sock.send(body)
            self.submitted += 1

    def send_updates(self):
        while self.todo and len(self.upd_pending) < self.a.update_window:
            rid, conn, status = self.todo.popleft()
            c = self.corr("u")
            req = {"op": "update", "corr": c, "id": rid, "status": status, "connector": conn}
            if status == "declined":
                req["reason"] = "no room this month (soak)"
            self.upd_pending[c] = (time.perf_counter_ns(), rid, conn, status)
            self.upd_sock.send(json.dumps(req, separators=(",", ":")).encode())

    def expire(self, now_ns):
        lim = int(self.a.timeout * 1e9)
        for c, p in list(self.sub_pending.items()):
            if now_ns - p > lim:
                del self.sub_pending[c]
                self.error("timeout", "submit %s" % c)
        for c, p in list(self.upd_pending.items()):
            if now_ns - p[0] > lim:
                del self.upd_pending[c]
                self.error("timeout", "update %s %s %s" % (c, p[1], p[3]))
        for c, p in list(self.ctl_pending.items()):
            if now_ns - p[0] > lim:
                del self.ctl_pending[c]
                self.error("timeout", "%s request %s" % (p[1], c))
                if p[1] == "events":
                    self.replaying = False
                    self.start_replay()
                elif p[1] == "stats":
                    self.stats_out = False
                    for r in self.rows:
                        if r[0] is p[2]:
                            r[1] = False
                    self.flush_rows()

    # -- the loop
    def run(self, csv_out):
        a = self.a
        self.csv_out = csv_out
        # the baseline: events up to now are not ours (or are replayed)
        ping = self.ctl_request({"op": "ping"})
        self.last_seq = ping["last_seq"]
        log("daemon %s, last_seq %d, run id %s" % (ping.get("version"), self.last_seq,
                                                     self.run_id))
        poller = zmq.Poller()
        for s in (self.sub_sock, self.upd_sock, self.ctl_sock, self.ev_sock):
            poller.register(s, zmq.POLLIN)

        self.t0 = t0 = time.monotonic()
        next_tick = t0 + a.interval
        next_expire = t0 + 1.0
        next_stats = t0 + a.stats_every if a.stats_every > 0 else float("inf")
        self.last_tick = t0
        self.cpu_d = proc_cpu_s(self.pid) if self.pid else None
        self.cpu_t = sum(os.times()[:2])
        drain_started = None
        interrupted = False

        try:
            while True:
                self.send_updates()
                self.send_submits()
                done_submitting = (self.submitted >= a.count and not self.sub_pending)
                if done_submitting and drain_started is None:
                    drain_started = time.monotonic()
                if (done_submitting and not self.open and not self.todo and not self.upd_pending
                        and not self.replaying and not self.held):
                    break
                if drain_started is not None and time.monotonic() - drain_started > a.drain_timeout:
                    log("drain: %d referrals still open after %.0fs"
                        % (len(self.open), a.drain_timeout))
                    break
                now = time.monotonic()
                wait_ms = max(0, int((min(next_tick, next_expire) - now) * 1000))
                events = dict(poller.poll(min(wait_ms, 100)))
                now_ns = time.perf_counter_ns()
                if self.sub_sock in events:
                    drain(self.sub_sock, 1000, functools.partial(self.on_submit_reply, now_ns))
                if self.upd_sock in events:
                    drain(self.upd_sock, 1000, functools.partial(self.on_update_reply, now_ns))
                if self.ev_sock in events:
                    drain(self.ev_sock, 2000, self.on_live_event, multipart=True)
                if self.ctl_sock in events:
                    self.recv_ctl()
                now = time.monotonic()
                if now >= next_expire:
                    self.expire(time.perf_counter_ns())
                    next_expire = now + 1.0
                if now >= next_tick:
                    ask = now >= next_stats and not self.stats_out
                    if ask:
                        next_stats = now + a.stats_every
                    self.tick(now, ask)
                    next_tick += a.interval
                    if next_tick <= now:
                        next_tick = now + a.interval
        except KeyboardInterrupt:
            interrupted = True
            log("interrupted")

        # the last row: after the drain, with a fresh stats reply
        now = time.monotonic()
        self.elapsed = now - t0
        deadline = time.monotonic() + max(60.0, a.timeout)
        while self.stats_out and time.monotonic() < deadline:
            if self.ctl_sock.poll(100):
                self.recv_ctl()
        self.tick(now, True)
        while self.rows and time.monotonic() < deadline:
            if self.ctl_sock.poll(100):
                self.recv_ctl()
        if self.rows:
            self.error("timeout", "no reply to the last stats request")
            for r in self.rows:
                r[1] = False
            self.flush_rows()
        if self.open:
            self.error("still_open", "%d referrals of this run did not reach a final status "
                       "(e.g. %s)" % (len(self.open), list(self.open.items())[:5]))
        if self.sub_pending or self.upd_pending:
            self.error("unanswered", "%d submits, %d updates without a reply at the end"
                       % (len(self.sub_pending), len(self.upd_pending)))
        if self.expired:
            self.error("offer_expired", "%d offers expired: the tool accepts every offer at once"
                       % self.expired)
        return not interrupted

    def recv_ctl(self):
        drain(self.ctl_sock, None, self.on_ctl_reply)

    def on_ctl_reply(self, raw):
        rep, p = self.matched(raw, self.ctl_pending)
        if rep is None:
            return
        if p[1] == "events":
            self.on_replay(rep)
        elif p[1] == "stats":
            self.stats_out = False
            row = p[2]
            row["stats_ms"] = (time.perf_counter_ns() - p[0]) / 1e6
            if rep.get("ok") is True:
                self.stats_last = rep
                by = rep.get("by_status") or {}
                wl = rep.get("waitlist")
                row["waitlist"] = (wl.get("length") if isinstance(wl, dict)
                                   else by.get("waitlisted", 0))
                row["open"] = sum(by.get(s, 0) for s in OPEN)
            else:
                self.error("stats", raw[:300])
            for r in self.rows:
                if r[0] is row:
                    r[1] = False
            self.flush_rows()

    def flush_rows(self):
        """Write the rows at the head of the queue that no longer wait for stats."""
        while self.rows and not self.rows[0][1]:
            row = self.rows.popleft()[0]
            row["errors"] = self.errors
            self.csv_out.write(",".join(fmt(row.get(k)) for k in COLUMNS) + "\n")
            self.csv_out.flush()
            log("%6.0fs acked %d/%d  %s sub/s %s upd/s  p50 %s p99 %s ms  rss %s hwm %s KiB  "
                "wait %s open %s  closed %d  cpu d/t %s/%s%%  err %d%s"
                % (row["elapsed_s"], row["acked_total"], self.a.count,
                   fmt(row["submits_per_s"], 0), fmt(row["updates_per_s"], 0),
                   fmt(row["lat_p50_ms"], 2), fmt(row["lat_p99_ms"], 2), row.get("rss_kib"),
                   row.get("hwm_kib"), row["run_waitlist"], row["run_open"],
                   row["closed_total"], fmt(row.get("daemon_cpu_pct"), 0),
                   fmt(row.get("tool_cpu_pct"), 0), row["errors"],
                   "  stats %s ms" % fmt(row["stats_ms"], 0) if "stats_ms" in row else ""))

    def tick(self, now, ask_stats):
        """Close this interval's row; with ASK_STATS it waits for a stats reply."""
        dt = max(1e-9, now - self.last_tick)
        sl = sorted(self.i_sub_lat)
        ul = sorted(self.i_upd_lat)
        rss, hwm = proc_memory(self.pid) if self.pid else (None, None)
        cd = proc_cpu_s(self.pid) if self.pid else None
        ct = sum(os.times()[:2])
        row = {
            "elapsed_s": round(now - self.t0, 3),
            "submitted_total": self.submitted,
            "acked_total": self.acked,
            "submits_per_s": self.i_acked / dt,
            "updates_per_s": self.i_updates / dt,
            "lat_p50_ms": pct(sl, 0.50), "lat_p99_ms": pct(sl, 0.99),
            "lat_p999_ms": pct(sl, 0.999), "lat_max_ms": sl[-1] / 1e6 if sl else None,
            "rss_kib": rss, "hwm_kib": hwm,
            "db_bytes": file_bytes(self.db, self.db + "-wal") if self.db else None,
            "closed_total": self.closed, "declined_total": self.declined,
            "offers_total": self.offers,
            "upd_p50_ms": pct(ul, 0.50), "upd_p99_ms": pct(ul, 0.99),
            "daemon_cpu_pct": (100.0 * (cd - self.cpu_d) / dt)
            if cd is not None and self.cpu_d is not None else None,
            "tool_cpu_pct": 100.0 * (ct - self.cpu_t) / dt,
            "run_waitlist": sum(1 for v in self.open.values() if v == "waitlisted"),
            "run_open": len(self.open),
        }
        self.cpu_d, self.cpu_t, self.last_tick = cd, ct, now
        self.i_sub_lat = []
        self.i_upd_lat = []
        self.i_acked = 0
        self.i_updates = 0
        if ask_stats and not self.stats_out:
            c = self.corr("c")
            self.ctl_pending[c] = (time.perf_counter_ns(), "stats", row)
            self.ctl_sock.send(json.dumps({"op": "stats", "corr": c}).encode())
            self.stats_out = True
            self.rows.append([row, True])
        else:
            self.rows.append([row, False])
        self.flush_rows()

    def close(self):
        for s in (self.sub_sock, self.upd_sock, self.ctl_sock, self.ev_sock):
            s.close(0)


# ---------------------------------------------------------------- main


def default_referrald():
    return os.environ.get("REFERRALD") or os.path.join(SOURCE_DIR, "build-rel", "referrald")


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="soak.py", description="Soak referrald: N referrals with accept/start/close churn; "
        "memory and latency over time as CSV (and PNG).",
        epilog="See the top of this file for the CSV columns and the exit status.")
    p.add_argument("-n", "--count", type=int, default=1000000,
                   help="referrals to submit (default 1000000)")
    p.add_argument("-w", "--window", type=int, default=64,
                   help="submits in flight at most (default 64)")
    p.add_argument("--update-window", type=int, default=64,
                   help="updates in flight at most (default 64)")
    p.add_argument("--max-open", type=int, default=1000,
                   help="pause submits while this many of the run's referrals are open "
                   "(default 1000): bounds the waitlist")
    p.add_argument("--decline", type=float, default=0.05,
                   help="share of first offers declined (default 0.05)")
    p.add_argument("--interval", type=float, default=5.0,
                   help="seconds between CSV rows (default 5)")
    p.add_argument("--csv", default=os.path.join(SOURCE_DIR, "docs", "soak.csv"),
                   help="CSV output (default docs/soak.csv of this source tree)")
    p.add_argument("--plot", metavar="PNG",
                   help="after the run, draw the CSV into PNG with tools/soak.gp (gnuplot)")
    p.add_argument("--stats-every", type=float, default=60.0, metavar="SECONDS",
                   help="ask `stats` at most this often (default 60; 0: only at the end); "
                   "it scans the whole database and blocks the daemon meanwhile")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds a request may wait for its reply (default 30)")
    p.add_argument("--drain-timeout", type=float, default=120.0,
                   help="seconds to let open referrals close after the last submit "
                   "(default 120)")
    p.add_argument("--seed", type=int, default=1, help="seed of the referral mix (default 1)")
    g = p.add_argument_group("spawned daemon (the default)")
    g.add_argument("--referrald", default=default_referrald(),
                   help="the daemon binary (default $REFERRALD, else build-rel/referrald of "
                   "this source tree)")
    g.add_argument("--routing", help="a routing file instead of the compiled-in example")
    g.add_argument("--journal-events", default="none", choices=("all", "decisions", "none"),
                   help="journal_events of the generated config (default none)")
    g.add_argument("--start-timeout", type=float, default=30.0,
                   help="seconds to wait for the first ping reply (default 30)")
    g.add_argument("--keep", action="store_true", help="keep the temp dir (db, config, log)")
    g = p.add_argument_group("a running daemon")
    g.add_argument("--endpoint", help="its intake, e.g. tcp://127.0.0.1:5570")
    g.add_argument("--events", help="its PUB socket (default: the intake's port + 1)")
    g.add_argument("--pid", type=int, help="its pid, for memory and CPU columns")
    g.add_argument("--db", help="its database file, for the db_bytes column")
    a = p.parse_args(argv)
    if a.count < 1 or a.window < 1 or a.update_window < 1 or a.max_open < 1 or a.interval <= 0:
        p.error("counts, windows and the interval must be positive")
    if not 0.0 <= a.decline < 1.0:
        p.error("--decline must be in [0, 1)")
    if a.endpoint and not a.events:
        host, _, port = a.endpoint.rpartition(":")
        if not port.isdigit():
            p.error("--events is needed with this --endpoint")
        a.events = "%s:%d" % (host, int(port) + 1)
    if not a.endpoint and not os.access(a.referrald, os.X_OK):
        p.error("no daemon binary at %s (give --referrald or set REFERRALD)" % a.referrald)
    return a


def plot(csv_path, png):
    gp = shutil.which("gnuplot")
    script = os.path.join(HERE, "soak.gp")
    cmd = ["gnuplot", "-e", "csv='%s'; png='%s'" % (csv_path, png), script]
    if not gp:
        log("gnuplot not found; to draw the plot: apt-get install gnuplot-nox, then\n    %s"
            % " ".join(cmd[:2] + ['"%s"' % cmd[2]] + cmd[3:]))
        return True
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        log("gnuplot failed (%d):\n%s" % (r.returncode, r.stderr))
        return False
    log("plot: %s" % png)
    return True


def main(argv):
    a = parse_args(argv)
    spawned = None
    ok = True
    soak = None
    try:
        if a.endpoint:
            intake, events, pid, db = a.endpoint, a.events, a.pid, a.db
        else:
            spawned = new_daemon(a)
            spawned.start(a.start_timeout)
            intake, events, pid, db = (spawned.intake, spawned.events, spawned.proc.pid,
                                       spawned.database_path)
            log("spawned %s (pid %d) in %s" % (a.referrald, pid, spawned.dir))
        csv_dir = os.path.dirname(os.path.abspath(a.csv))
        os.makedirs(csv_dir, exist_ok=True)
        soak = Soak(a, intake, events, pid, db)
        with open(a.csv, "w") as out:
            out.write(",".join(COLUMNS) + "\n")
            out.flush()
            ok = soak.run(out)
        soak.close()
        rc_daemon = None
        if spawned is not None:
            t = time.monotonic()
            try:
                rc_daemon = spawned.stop(max(60.0, a.timeout))
            except rdproc.DaemonError:
                log("referrald did not exit within %.0fs of SIGTERM: killed"
                    % max(60.0, a.timeout))
            log("referrald exited %s after SIGTERM (%.1fs)" % (rc_daemon, time.monotonic() - t))
            if rc_daemon != 0:
                soak.error("daemon_exit", "referrald exited %r on SIGTERM; log:\n%s"
                           % (rc_daemon, spawned.log_tail()))
        st = soak.stats_last or {}
        summary = {
            "count": a.count, "submitted": soak.submitted, "acked": soak.acked,
            "elapsed_s": round(soak.elapsed, 1),
            "referrals_per_s": round(soak.acked / soak.elapsed, 1) if soak.elapsed else None,
            "decisions": dict(soak.status_counts), "offers": soak.offers,
            "declined": soak.declined, "closed": soak.closed, "forwarded": soak.forwarded,
            "updates": soak.updates_ok, "event_gaps": soak.gaps,
            "events_replayed": soak.replayed,
            "errors": soak.errors, "error_kinds": dict(soak.error_kinds),
            "stats_by_status": st.get("by_status"), "daemon_exit": rc_daemon,
            "csv": os.path.abspath(a.csv),
        }
        ok = ok and soak.errors == 0
        if a.plot:
            ok = plot(os.path.abspath(a.csv), os.path.abspath(a.plot)) and ok
        log("%s: %d referrals in %.0fs, %d closed, %d declined, %d forwarded, %d errors"
            % ("ok" if ok else "FAILED", soak.acked, soak.elapsed, soak.closed, soak.declined,
               soak.forwarded, soak.errors))
        print(json.dumps(summary, sort_keys=True))
        sys.stdout.flush()
    except (RuntimeError, rdproc.DaemonError) as e:
        log(str(e))
        ok = False
    finally:
        if soak is not None:
            try:
                soak.close()
            except zmq.ZMQError:
                pass
        if spawned is not None:
            spawned.close(a.keep)
            if a.keep:
                log("kept %s (config, soak.db, daemon.log)" % spawned.dir)
        zmq.Context.instance().term()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
