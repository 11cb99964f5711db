"""daemon.md rev 2, "Several machines": active and standby daemons on one
PostgreSQL database, as an operator and a partner meet them. Two daemons:
one active, one standby (ping's role, `unavailable` with the reason, READY
and STATUS, nothing published, the routing file of the one that takes
over); kill -9 of the active daemon under pipelined load from a client
with two endpoints (the standby takes over within 10 s, every
acknowledged referral is stored, seq has no gap, the client's retries are
duplicates); a daemon whose database session is killed becomes a standby
and acknowledges nothing while the other leads; and a primary with a
synchronous standby server, stopped at once, the standby promoted and its
synchronous_standby_names cleared by the operator: the daemons follow
through the two-host conninfo and nothing acknowledged is lost.
"""

import collections
import json
import os
import shutil
import signal
import socket
import tempfile
import time

import zmq

import pgharness
import rdtest
from rdrouting import ROUTING_BASIC, ROUTING_ROOMY
from rdtest import free_ports, referral, submit_req, wait_until, zsock
from test_pg_daemon import pg_yaml, run_ctl
from test_systemd import Notifications

TAKEOVER_S = 10  # daemon.md: a standby is active within 10 s


def role(d):
    return d.ok({"op": "ping"}, timeout=10)["role"]


def event_seqs(d):
    return [e["seq"] for e in d.all_events()]


class FailoverClient:
    """A partner's client with several endpoints (daemon.md, "Clients"):
    up to WINDOW submits in flight on the endpoint in use; on `unavailable`
    or `internal`, or when the oldest has had no reply for TIMEOUT seconds,
    the same requests again on the next endpoint. A late `ok` from any
    endpoint counts: the daemon committed it."""

    def __init__(self, endpoints, window=32, timeout=3.0):
        self.socks = []
        for ep in endpoints:
            s = zsock(zmq.DEALER)
            s.connect(ep)
            self.socks.append(s)
        self.window, self.timeout = window, timeout
        self.acked = {}           # ref -> (id, index of the endpoint, monotonic time)
        self.retries = 0
        self.errors = collections.Counter()

    def close(self):
        for s in self.socks:
            s.close(0)

    def run(self, referrals, deadline_s=120.0, tick=None):
        """Submit every referral of REFERRALS until each is acknowledged,
        calling TICK(self) between rounds. Returns the acks."""
        by_ref = {r["ref"]: r for r in referrals}
        todo = collections.deque(by_ref)
        inflight = {}             # ref -> (endpoint index, time sent)
        cur = 0
        deadline = time.monotonic() + deadline_s
        poller = zmq.Poller()
        for s in self.socks:
            poller.register(s, zmq.POLLIN)
        while todo or inflight:
            if time.monotonic() > deadline:
                raise AssertionError("%d referrals never acknowledged (errors %r)"
                                     % (len(todo) + len(inflight), dict(self.errors)))
            while todo and len(inflight) < self.window:
                ref = todo.popleft()
                if ref in self.acked:
                    continue
                self.socks[cur].send_json(submit_req(by_ref[ref], corr=ref))
                inflight[ref] = (cur, time.monotonic())
            for sock, _ in poller.poll(50):
                while sock.poll(0):
                    rep = json.loads(sock.recv())
                    i = self.socks.index(sock)
                    ref = rep.get("corr")
                    if rep.get("ok"):
                        if ref in self.acked:
                            assert self.acked[ref][0] == rep["id"], "one ref, two ids"
                        else:
                            self.acked[ref] = (rep["id"], i, time.monotonic())
                        inflight.pop(ref, None)
                        continue
                    code = rep["error"]["code"]
                    assert code in ("unavailable", "internal"), rep
                    self.errors[code] += 1
                    if inflight.get(ref, (None,))[0] == i:
                        del inflight[ref]
                        todo.appendleft(ref)
                        self.retries += 1
                        if i == cur:
                            cur = (cur + 1) % len(self.socks)
            oldest = min((t for i, t in inflight.values() if i == cur), default=None)
            if oldest is not None and time.monotonic() - oldest > self.timeout:
                for ref, (i, _) in list(inflight.items()):
                    if i == cur:
                        del inflight[ref]
                        todo.appendleft(ref)
                        self.retries += 1
                cur = (cur + 1) % len(self.socks)
            if tick:
                tick(self)
        return self.acked


class Pair(rdtest.TestCase):
    """Two daemons on one database (rdtest's PostgreSQL server, a schema of
    the first daemon's), the first started first."""

    def pair(self, routing_b=ROUTING_ROOMY, env_b=None):
        a = self.daemon(routing=ROUTING_ROOMY, store="postgresql")
        b = self.daemon(routing=routing_b, store="sqlite", database=None, env=env_b,
                        extra_yaml=pg_yaml(a.pg_conninfo, os.path.join(a.dir, "pg.pass")))
        return a, b

    def check_stored(self, d, referrals, acked):
        """Every acknowledged referral is in D's database where its ack
        said; seq has no gap; each referral was received once."""
        evs = d.all_events()
        seqs = [e["seq"] for e in evs]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "seq has no gap")
        received = [e["ref"] for e in evs if e["type"] == "referral.received"]
        self.assertEqual(len(received), len(set(received)), "a retry stored a referral twice")
        by_ref = {r["ref"]: r for r in referrals}
        for ref, (rid, _, _) in acked.items():
            got = d.ok({"op": "get", "partner": by_ref[ref]["partner"], "ref": ref})
            self.assertEqual(got["id"], rid, "an acknowledged referral is where it said")


class ActiveAndStandby(Pair):

    def test_the_second_daemon_is_a_standby_that_answers_ping_only(self):
        tmp = tempfile.mkdtemp(prefix="rdfo-")
        self.addCleanup(shutil.rmtree, tmp, True)
        n = Notifications(tmp)
        self.addCleanup(n.close)
        a, b = self.pair(routing_b=ROUTING_BASIC, env_b={"NOTIFY_SOCKET": n.path})
        n.wait_for("READY=1")
        self.assertEqual((role(a), role(b)), ("active", "standby"))
        self.assertIn("STATUS=Standby (another daemon is active)", [l for _, l in n.lines()])
        ping = b.ok({"op": "ping"})
        self.assertEqual(ping["last_seq"], a.last_seq())
        p = run_ctl(["-e", b.intake, "ping"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"\Areferrald \S+, up \d+ s, last seq \d+, standby\n")
        # every other request: unavailable, saying why; malformed and
        # unknown ops as usual
        r = referral()
        err = self.assertError(b.request(submit_req(r, corr="c1")), "unavailable")
        self.assertIn("standby", err["message"])
        self.assertEqual(b.request(submit_req(r, corr="c1"))["corr"], "c1")
        for req in ({"op": "get", "id": "R000001"}, {"op": "events"}, {"op": "stats"},
                    {"op": "list"}, {"op": "erase", "id": "R000001"}):
            self.assertError(b.request(req), "unavailable")
        self.assertError(b.request(b"{not json"), "malformed")
        self.assertError(b.request({"op": "frobnicate"}), "unknown_op", "op")
        # its last_seq follows the active daemon's
        a.submit(referral())
        wait_until(lambda: b.ok({"op": "ping"})["last_seq"] == a.last_seq(), 5, interval=0.1,
                   what="the standby's last_seq to follow")
        # it publishes nothing: the active daemon's events go out on its own socket
        sub = b.subscribe(warmup=False)
        time.sleep(0.3)  # a SUB connects in the background; nothing to await on a silent PUB
        a.submit(referral())
        self.assertFalse(sub.poll(1000), "a standby published an event")
        self.assertNotIn(r["ref"], a.pg_rows(), "a refused submit was stored")
        # the active daemon stops: the standby takes over within 10 s, with
        # its own routing file put in force (config.reloaded)
        seq = a.last_seq()
        t0 = time.monotonic()
        a.stop()
        wait_until(lambda: role(b) == "active", TAKEOVER_S, interval=0.1,
                   what="the standby to take over")
        self.assertLess(time.monotonic() - t0, TAKEOVER_S)
        wait_until(lambda: any(l.startswith("STATUS=Serving (active)") for _, l in n.lines()),
                   5, what="STATUS to say it serves")
        reloaded = [e for e in b.all_events() if e["type"] == "config.reloaded"]
        self.assertEqual(len(reloaded), 1, reloaded)
        self.assertGreater(reloaded[0]["seq"], seq)
        self.assertEqual(reloaded[0]["digest"], b.ok({"op": "ping"})["routing"]["digest"])
        b.submit(referral())
        seqs = event_seqs(b)
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
        self.assertIn("took the lead", b.log())

    def test_the_same_routing_file_is_taken_over_without_an_event(self):
        a, b = self.pair()
        a.submit(referral())
        a.stop()
        wait_until(lambda: role(b) == "active", TAKEOVER_S, interval=0.1,
                   what="the standby to take over")
        types = [e["type"] for e in b.all_events()]
        self.assertEqual(len(types), 2, types)  # the referral's two, no config.reloaded
        self.assertEqual(types[0], "referral.received")

    def test_kill_9_of_the_active_daemon_under_load_loses_nothing_acknowledged(self):
        a, b = self.pair()
        referrals = [referral(partner="p%d" % (i % 3)) for i in range(600)]
        client = FailoverClient([a.intake, b.intake])
        self.addCleanup(client.close)
        killed = {}

        def tick(c):
            if not killed and len(c.acked) >= 150:
                a.kill9()
                killed["at"] = time.monotonic()
                killed["acked"] = len(c.acked)

        acked = client.run(referrals, tick=tick)
        self.assertTrue(killed, "the load ended before the kill")
        self.assertLess(killed["acked"], len(referrals), "nothing was in flight at the kill")
        after = [t for (_, i, t) in acked.values() if i == 1]
        self.assertTrue(after, "the standby acknowledged nothing")
        self.assertLess(min(after) - killed["at"], TAKEOVER_S, "took over within 10 s")
        self.assertGreater(client.retries, 0)
        self.assertEqual(role(b), "active")
        self.assertEqual(len(acked), len(referrals))
        self.check_stored(b, referrals, acked)

    def test_a_daemon_whose_session_is_killed_becomes_a_standby_and_acknowledges_nothing(self):
        a, b = self.pair()
        before = [a.submit(referral()) for _ in range(3)]
        self.assertEqual(a.pg_end_lead_session(), [("t",)],
                         "the active daemon's session holds the lead")
        wait_until(lambda: role(b) == "active", TAKEOVER_S, interval=0.1,
                   what="the standby to take over")
        wait_until(lambda: role(a) == "standby", 5, interval=0.1,
                   what="the daemon without its session to be a standby")
        for _ in range(20):
            err = self.assertError(a.request(submit_req(referral())), "unavailable")
            self.assertIn("standby", err["message"])
        self.assertIn("lost the lead", a.log())
        # it stays a standby while the other leads (it tries every second)
        time.sleep(4)
        self.assertEqual((role(a), role(b)), ("standby", "active"))
        b.submit(referral())
        for rep in before:
            b.ok({"op": "get", "id": rep["id"]})
        seqs = event_seqs(b)
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "seq has no gap")
        self.assertEqual(len(seqs), 2 * 4)


class ConnectingStandby(Pair):
    """A standby that connects again while the first host of its conninfo
    takes connections and never answers (a machine that vanished behind a
    listening socket): the connection is made without blocking the loop."""

    def test_a_standby_connecting_through_a_silent_host_answers_ping_and_takes_the_lead(self):
        a = self.daemon(routing=ROUTING_ROOMY, store="postgresql")
        pg = rdtest.pg_server()
        silent_port = free_ports(1)[0]
        app = "rd-standby-%d" % silent_port  # its session, to end it
        conninfo = pg.conninfo(host="%s,%s" % (pgharness.HOST, pgharness.HOST),
                               port="%d,%d" % (silent_port, pg.port), application_name=app,
                               options="-csearch_path=%s" % a.pg_schema)
        # at its start nothing listens there: it connects to the second host
        b = self.daemon(routing=ROUTING_ROOMY, store="sqlite", database=None,
                        extra_yaml=pg_yaml(conninfo, os.path.join(a.dir, "pg.pass")))
        self.assertEqual((role(a), role(b)), ("active", "standby"))
        silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(silent.close)
        silent.bind((pgharness.HOST, silent_port))
        silent.listen(8)
        held = []
        self.addCleanup(lambda: [c.close() for c in held])
        # its session ends: it connects again, to the silent host first,
        # which accepts and never says a word
        self.assertEqual(pg.psql("select pg_terminate_backend(pid) from pg_stat_activity"
                                 " where application_name = '%s'" % app), [("t",)])
        silent.settimeout(30)
        held.append(silent.accept()[0])
        for _ in range(10):
            self.assertEqual(b.ok({"op": "ping"}, timeout=1)["role"], "standby")
        # after that host's connect_timeout it connects to the next one,
        # and takes over from the active daemon as before
        a.stop()
        wait_until(lambda: role(b) == "active", TAKEOVER_S + 5, interval=0.1,
                   what="the standby to take over through the second host")
        b.submit(referral())
        self.assertIn("took the lead", b.log())


class ServerFailover(Pair):
    """A primary PostgreSQL server with a synchronous standby server, and
    two daemons on the two-host conninfo (target_session_attrs=read-write)."""

    def test_the_primary_stopped_and_the_standby_promoted_loses_nothing_acknowledged(self):
        with pgharness.PgServer(name="primary") as p:
            s = p.add_standby()
            # as in production, each server names the other its synchronous
            # standby: after the promotion the new primary waits for one
            s.write_settings(synchronous_standby_names='"%s"' % p.cluster_name)
            s.reload()
            tmp = tempfile.mkdtemp(prefix="rdfo-")
            self.addCleanup(shutil.rmtree, tmp, True)
            pw = p.write_password_file(os.path.join(tmp, "pg.pass"))
            conninfo = pgharness.multi_conninfo([p, s])
            a = self.daemon(routing=ROUTING_ROOMY, store="sqlite", database=None,
                            extra_yaml=pg_yaml(conninfo, pw))
            b = self.daemon(routing=ROUTING_ROOMY, store="sqlite", database=None,
                            extra_yaml=pg_yaml(conninfo, pw))
            self.assertEqual((role(a), role(b)), ("active", "standby"))
            referrals = [referral() for _ in range(400)]
            client = FailoverClient([a.intake, b.intake])
            self.addCleanup(client.close)
            done = {}

            def tick(c):
                if "stopped" not in done and len(c.acked) >= 100:
                    p.stop("immediate")
                    done["stopped"] = len(c.acked)
                    s.promote()
                    # what the operator (or Patroni) does: the new primary
                    # has no synchronous standby to wait for
                    wait_until(lambda: s.scalar("select count(*) from pg_stat_activity"
                                                " where wait_event = 'SyncRep'") != "0",
                               30, interval=0.1, what="a commit waiting for a sync standby")
                    s.psql("alter system set synchronous_standby_names = ''")
                    s.psql("select pg_reload_conf()")

            acked = client.run(referrals, tick=tick, deadline_s=180)
            self.assertIn("stopped", done)
            self.assertEqual(len(acked), len(referrals))
            active = wait_until(lambda: [d for d in (a, b) if role(d) == "active"], 30,
                                interval=0.2, what="a daemon to be active")
            self.assertEqual(len(active), 1)
            self.assertEqual(s.scalar("select pg_is_in_recovery()"), "f")
            self.check_stored(active[0], referrals, acked)


if __name__ == "__main__":
    import unittest
    unittest.main()
