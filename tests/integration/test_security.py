"""Security as the people around referrald would try it (protocol.md
"Security", "erase", "get and list", "events"; daemon.md `security`,
`retention`): two partners, two connectors, a coordinator, a monitor and a
stranger, each with its own CURVE key, against a real daemon; the audit
trail; erasing a family's data down to the bytes of the database file and
its write-ahead log; retention; file modes; and referralctl over CURVE.

Black-box: sockets, files on disk, the daemon's stderr log (the harness
has it log there also where a journal is reachable), the referralctl binary.
"""

import json
import os
import re
import signal
import stat
import subprocess
import tempfile
import time
import unittest

import zmq

import rdtest
from rdrouting import ROUTING_BASIC, ROUTING_ROOMY, basic
from rdtest import (DROP, EX_CONFIG, TestCase, free_ports, recv_events, referral, submit_req,
                    wait_until)

SOURCE_DIR = rdtest.SOURCE_DIR
REFERRALCTL = os.environ.get("REFERRALCTL") or os.path.join(SOURCE_DIR, "build", "referralctl")

# (key name, client id, role). ocmw-genk refers families of Genk; caw-limburg
# is a partner that refers too and is the forward target of the
# "everything-else" rule, so it also sees what is forwarded to it.
CLIENTS = [("coord", "coordinator", "coordinator"),
           ("genk", "ocmw-genk", "partner"),
           ("caw", "caw-limburg", "partner"),
           ("kelly", "kelly", "connector"),
           ("sophie", "sophie", "connector"),
           ("grafana", "grafana", "monitor")]
NAMES = [c[0] for c in CLIENTS]

# Distinctive personal data, so that a search of raw bytes means something.
FAMILY_NAME = "Zyxwvu-Janssens"
FAMILY_PHONE = "+32 470 91 82 73"
FAMILY_NOTE = "Qwertzu-notitie: moeder vraagt hulp bij conflicten"


def personal_referral(tag, **kw):
    """A referral whose family name, phone and note are unique byte strings
    (TAG makes them unique per referral)."""
    family = {"name": "%s-%s" % (FAMILY_NAME, tag), "phone": "%s %s" % (FAMILY_PHONE, tag),
              "email": "gezin.%s@example.org" % tag.lower(),
              "address": "Stationsstraat 12, 3600 Genk"}
    return referral(family=family, note="%s %s" % (FAMILY_NOTE, tag), **kw)


def secrets_of(r):
    return [r["family"]["name"].encode(), r["family"]["phone"].encode(), r["note"].encode()]


def raw_files(d):
    """The bytes of the database file and of its -wal file (empty when absent);
    on the PostgreSQL store, where erased data leaves every table and query
    at once (daemon.md), the text of every row of the daemon's tables."""
    if d.store == "postgresql":
        return {"rows": d.pg_rows().encode()}
    out = {}
    for suffix in ("", "-wal"):
        path = d.database_path + suffix
        try:
            with open(path, "rb") as f:
                out[os.path.basename(path)] = f.read()
        except FileNotFoundError:
            out[os.path.basename(path)] = b""
    return out


def found_in_files(d, needles):
    """[(file, needle)] for every needle present in the db or wal file."""
    files = raw_files(d)
    return [(name, n) for name, data in files.items() for n in needles if n in data]


def refusal_lines(d):
    return [l for l in d.log().splitlines() if re.search(r"refused|handshake", l)
            and not re.search(r"reload", l)]


def no_answer(sock, wait=1.5):
    """True when a ping on SOCK gets no reply within WAIT seconds."""
    try:
        sock.send(b'{"op":"ping"}', zmq.NOBLOCK)
    except zmq.Again:
        return True  # not even connected
    return not sock.poll(int(wait * 1000))


def wait_for_event(d, type_, since, timeout=10.0, referral_id=None):
    def look():
        for e in d.all_events(since):
            if e["type"] == type_ and (referral_id is None or e.get("id") == referral_id):
                return e
        return None
    return wait_until(look, timeout=timeout, interval=0.1, what=type_)


def reload_and_wait(d, since):
    d.signal(signal.SIGHUP)
    return wait_for_event(d, "config.reloaded", since, timeout=10.0)


def reload_clients(d, keys, clients):
    """Write CLIENTS ((name, id, role)) as D's security section, send SIGHUP
    and wait for config.reloaded."""
    base = d.last_seq()
    with open(d.config_path) as f:
        text = f.read()
    with open(d.config_path, "w") as f:
        f.write(text[:text.index("security:")] + keys.yaml(clients))
    return reload_and_wait(d, base)


class UmaskDaemon(rdtest.Daemon):
    """A Daemon started with umask 000 (preexec_fn), to see that the daemon
    itself makes its files private."""

    def start(self, timeout=rdtest.START_TIMEOUT):
        return super().start(timeout, preexec_fn=lambda: os.umask(0))


# ----------------------------------------------------------------- roles


class Roles(rdtest.SecuredCase):
    """One daemon with every kind of client, each on its own connection."""

    CLIENTS = CLIENTS
    ROUTING = basic(50)

    def ok_as(self, name, req):
        rep = self.as_(name, req)
        self.assertOk(rep, "%s: %r -> %r" % (name, req, rep))
        return rep

    def visible_ids(self, name):
        lst = self.ok_as(name, {"op": "list", "limit": 1000})["referrals"]
        ev = self.ok_as(name, {"op": "events", "limit": 10000})["events"]
        return {x["id"] for x in lst}, {e.get("id") for e in ev}

    # -- who gets in at all

    def test_stranger_and_plain_client_get_nothing_and_are_logged(self):
        # the log is rate-limited to a line a second: leave a second between
        time.sleep(1.1)
        before = len(refusal_lines(self.d))
        s = self.d.dealer(curve=self.keys.curve("stranger"))
        try:
            self.assertTrue(no_answer(s), "a client whose key is not listed was answered")
        finally:
            s.close(0)
        time.sleep(1.1)
        p = self.d.dealer(plain=True)
        try:
            self.assertTrue(no_answer(p), "a client without CURVE was answered")
        finally:
            p.close(0)
        lines = refusal_lines(self.d)[before:]
        self.assertTrue(lines, "no log line about the refused clients")
        self.assertTrue(any("127.0.0.1" in l and "security.clients" in l for l in lines),
                        "the refusal of an unlisted key names the peer and why: %r" % lines)
        self.assertTrue(any("intake" in l for l in lines), lines)
        # a client without CURVE fails before the key check: libzmq gives no
        # address for it (only the daemon's own endpoint, which is not the
        # peer's), so it is counted, and no address is named as if it were
        plain = [l for l in lines if "CURVE" in l and "security.clients" not in l]
        self.assertTrue(any("so far" in l for l in plain),
                        "the refusal of a client without CURVE is counted: %r" % lines)
        port = self.d.intake.rsplit(":", 1)[1]
        self.assertFalse([l for l in plain if ":" + port in l],
                         "the daemon's own endpoint is named as the peer: %r" % lines)

    def test_fifty_strangers_make_few_log_lines(self):
        time.sleep(1.1)
        before = len(refusal_lines(self.d))
        socks = []
        try:
            for _ in range(50):
                s = self.d.dealer(curve=self.keys.curve("stranger"))
                s.send(b'{"op":"ping"}', zmq.NOBLOCK)
                socks.append(s)
            time.sleep(1.0)
            for s in socks:
                self.assertFalse(s.poll(0), "a stranger was answered")
        finally:
            for s in socks:
                s.close(0)
        lines = refusal_lines(self.d)[before:]
        self.assertGreaterEqual(len(lines), 1, "50 refused strangers left no trace in the log")
        self.assertLessEqual(len(lines), 10, "the refusal log is not rate-limited:\n%s"
                             % "\n".join(lines))

    def test_every_role_may_ping(self):
        for name in NAMES:
            with self.subTest(client=name):
                self.assertEqual(self.ok_as(name, {"op": "ping"})["last_seq"],
                                 self.d.last_seq())

    # -- partners

    def test_partner_submits_as_itself_only(self):
        rep = self.ok_as("genk", submit_req(referral(partner=DROP)))
        self.assertEqual(self.d.ok({"op": "get", "id": rep["id"]})["referral"]["partner"],
                         "ocmw-genk")
        self.ok_as("genk", submit_req(referral(partner="ocmw-genk")))
        other = referral(partner="caw-limburg")
        self.assertError(self.as_("genk", submit_req(other)), "forbidden", "referral.partner")
        self.assertError(self.d.request({"op": "get", "partner": "caw-limburg",
                                         "ref": other["ref"]}), "not_found",
                         msg="a forbidden submit stored nothing")

    def test_partner_sees_its_own_and_what_is_forwarded_to_it(self):
        genk_own = self.ok_as("genk", submit_req(referral(partner=DROP)))
        self.assertEqual(genk_own["status"], "assigned")
        # outside the target group: forwarded to caw-limburg
        to_caw = self.ok_as("genk", submit_req(referral(partner=DROP, postcode="9000")))
        self.assertEqual(to_caw.get("forward_to"), "caw-limburg", to_caw)
        caw_own = self.ok_as("caw", submit_req(referral(partner=DROP, postcode="3500")))

        genk_list, genk_events = self.visible_ids("genk")
        caw_list, caw_events = self.visible_ids("caw")
        for ids in (genk_list, genk_events):
            self.assertTrue({genk_own["id"], to_caw["id"]} <= ids)
            self.assertNotIn(caw_own["id"], ids)
        for ids in (caw_list, caw_events):
            self.assertTrue({caw_own["id"], to_caw["id"]} <= ids)
            self.assertNotIn(genk_own["id"], ids, "a forward target sees only what it got")
        self.ok_as("caw", {"op": "get", "id": to_caw["id"]})
        # not_found, never forbidden: nothing says it exists
        for name, rid in (("caw", genk_own["id"]), ("genk", caw_own["id"])):
            rep = self.as_(name, {"op": "get", "id": rid})
            self.assertError(rep, "not_found")
            missing = self.as_(name, {"op": "get", "id": "R999999999"})
            self.assertError(missing, "not_found")
            self.assertEqual(rep["error"]["message"], missing["error"]["message"],
                             "an existing referral of another answers like a missing one")
        rep = self.as_("caw", {"op": "get", "partner": "ocmw-genk", "ref": "no-such-ref"})
        self.assertError(rep, "not_found")

    def test_partner_withdraws_only_its_own(self):
        mine = self.ok_as("genk", submit_req(referral(partner=DROP)))
        theirs = self.ok_as("caw", submit_req(referral(partner=DROP)))
        forwarded = self.ok_as("genk", submit_req(referral(partner=DROP, postcode="9000")))
        self.assertError(self.as_("genk", {"op": "update", "id": theirs["id"],
                                           "status": "withdrawn"}), "not_found")
        # caw sees the forward but did not refer it
        rep = self.as_("caw", {"op": "update", "id": forwarded["id"], "status": "withdrawn"})
        self.assertIs(rep.get("ok"), False, rep)
        self.assertIn(rep["error"]["code"], ("forbidden", "conflict"), rep)
        self.assertError(self.as_("genk", {"op": "update", "id": mine["id"],
                                           "status": "accepted"}), "forbidden")
        rep = self.ok_as("genk", {"op": "update", "id": mine["id"], "status": "withdrawn"})
        self.assertEqual(rep["status"], "withdrawn")
        self.assertEqual(self.d.ok({"op": "get", "id": theirs["id"]})["status"], "assigned")

    def test_partner_may_not_use_coordinator_ops(self):
        a = self.ok_as("genk", submit_req(referral(partner=DROP)))
        for req in ({"op": "stats"}, {"op": "erase", "id": a["id"]},
                    {"op": "audit"}, {"op": "update", "id": a["id"], "status": "forwarded",
                                      "forward_to": "cgg-limburg", "reason": "x"}):
            with self.subTest(op=req["op"]):
                self.assertError(self.as_("genk", req), "forbidden")

    # -- connectors

    def offer(self, to):
        """A referral offered to connector TO (submitted by the coordinator,
        re-assigned when the rule offered it to the other one)."""
        a = self.d.submit(referral())
        if a["connector"] != to:
            a = self.d.ok({"op": "update", "id": a["id"], "status": "assigned", "connector": to})
        self.assertEqual(a["connector"], to)
        return a

    def test_connector_sees_what_was_ever_offered_to_it(self):
        a = self.offer("kelly")
        b = self.offer("sophie")
        k_list, k_events = self.visible_ids("kelly")
        self.assertIn(a["id"], k_list)
        self.assertIn(a["id"], k_events)
        self.assertNotIn(b["id"], k_list)
        self.assertNotIn(b["id"], k_events)
        self.assertError(self.as_("kelly", {"op": "get", "id": b["id"]}), "not_found")
        # kelly declines; the new offer goes to sophie; kelly still sees it
        rep = self.ok_as("kelly", {"op": "update", "id": a["id"], "status": "declined"})
        self.assertEqual(rep["connector"], "sophie", rep)
        self.ok_as("kelly", {"op": "get", "id": a["id"]})
        self.assertIn(a["id"], self.visible_ids("kelly")[0], "ever offered to it")
        # ... but may not act on sophie's offer
        last = self.d.last_seq()
        for status in ("accepted", "started"):
            with self.subTest(status=status):
                self.assertError(self.as_("kelly", {"op": "update", "id": a["id"],
                                                    "status": status}), "forbidden")
        # kelly's own decline repeated (a retry) changes nothing of sophie's offer
        rep = self.as_("kelly", {"op": "update", "id": a["id"], "status": "declined"})
        if rep.get("ok") is True:
            self.assertEqual(rep["connector"], "sophie", rep)
        else:
            self.assertError(rep, "forbidden")
        self.assertEqual(self.d.ok({"op": "get", "id": a["id"]})["connector"], "sophie")
        self.assertEqual(self.d.last_seq(), last, "nothing happened to sophie's offer")

    def test_connector_acts_as_itself_through_the_lifecycle(self):
        a = self.offer("kelly")
        self.assertError(self.as_("kelly", {"op": "update", "id": a["id"], "status": "accepted",
                                            "connector": "sophie"}), "forbidden")
        self.assertError(self.as_("sophie", {"op": "update", "id": a["id"],
                                             "status": "accepted"}), "not_found")
        for status in ("accepted", "started", "closed"):
            rep = self.ok_as("kelly", {"op": "update", "id": a["id"], "status": status})
            self.assertEqual(rep["status"], status)
        hist = self.d.ok({"op": "get", "id": a["id"]})["history"]
        self.assertEqual([e["connector"] for e in hist if e["type"] in
                          ("referral.accepted", "referral.started", "referral.closed")],
                         ["kelly"] * 3)

    def test_connector_may_not_use_other_ops(self):
        a = self.offer("kelly")
        for req in (submit_req(referral()), {"op": "stats"}, {"op": "erase", "id": a["id"]},
                    {"op": "audit"},
                    {"op": "update", "id": a["id"], "status": "withdrawn"},
                    {"op": "update", "id": a["id"], "status": "assigned",
                     "connector": "kelly"}):
            with self.subTest(req=req["op"], status=req.get("status")):
                self.assertError(self.as_("kelly", req), "forbidden")

    # -- monitor

    def test_monitor_pings_counts_and_reads_all_events_only(self):
        self.d.submit(referral())
        self.ok_as("grafana", {"op": "stats"})
        ev = self.ok_as("grafana", {"op": "events", "limit": 10000})
        self.assertEqual([e["seq"] for e in ev["events"]], list(range(1, ev["last"] + 1)),
                         "a monitor sees every event")
        some = ev["events"][-1]["id"]
        for req in (submit_req(referral()), {"op": "get", "id": some}, {"op": "list"},
                    {"op": "update", "id": some, "status": "withdrawn"},
                    {"op": "erase", "id": some}, {"op": "audit"}):
            with self.subTest(op=req["op"]):
                self.assertError(self.as_("grafana", req), "forbidden")

    def test_only_monitor_and_coordinator_receive_published_events(self):
        mon = self.d.subscribe(curve=self.keys.curve("grafana"))
        coord = self.d.subscribe(curve=self.keys.curve("coord"))
        others = {}
        for name in ("genk", "caw", "kelly", "stranger"):
            s = rdtest.zsock(zmq.SUB, self.keys.curve(name))
            s.setsockopt(zmq.SUBSCRIBE, b"")
            s.connect(self.d.events)
            self.addCleanup(s.close, 0)
            others[name] = s
        plain = rdtest.zsock(zmq.SUB)
        plain.setsockopt(zmq.SUBSCRIBE, b"")
        plain.connect(self.d.events)
        self.addCleanup(plain.close, 0)
        others["plain"] = plain
        base = self.d.last_seq()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            # genk's own referrals: still nothing on the PUB for genk
            self.ok_as("genk", submit_req(referral(partner=DROP)))
            self.offer("kelly")
            for name, s in others.items():
                if s.poll(50):
                    self.fail("%s received a published event" % name)
        self.assertTrue(recv_events(mon, 1, after_seq=base), "the monitor got nothing")
        self.assertTrue(recv_events(coord, 1, after_seq=base), "the coordinator got nothing")

    # -- coordinator

    def test_coordinator_does_everything(self):
        r = referral(partner="ocmw-genk")
        a = self.ok_as("coord", submit_req(r))
        self.assertEqual(self.ok_as("genk", {"op": "get", "id": a["id"]})["referral"]["ref"],
                         r["ref"], "submitted on behalf of genk, genk sees it as its own")
        self.assertError(self.as_("coord", submit_req(referral(partner=DROP))), "invalid",
                         "referral.partner")
        self.ok_as("coord", {"op": "get", "id": a["id"]})
        self.ok_as("coord", {"op": "list"})
        self.ok_as("coord", {"op": "stats"})
        self.ok_as("coord", {"op": "events", "since": 0, "limit": 5})
        self.ok_as("coord", {"op": "audit", "limit": 5})
        other = "sophie" if a["connector"] == "kelly" else "kelly"
        self.assertEqual(self.ok_as("coord", {"op": "update", "id": a["id"], "status": "assigned",
                                              "connector": other})["connector"], other)
        self.ok_as("coord", {"op": "update", "id": a["id"], "status": "forwarded",
                             "forward_to": "cgg-limburg", "reason": "family moved"})
        self.ok_as("coord", {"op": "erase", "id": a["id"]})


# ----------------------------------------------------------------- reload


class Revocation(TestCase):

    def test_removed_client_is_refused_on_its_open_connection(self):
        keys = rdtest.Keys(NAMES)
        d = self.daemon(routing=ROUTING_ROOMY, keys=keys, curve=keys.curve("coord"),
                        extra_yaml=keys.yaml(CLIENTS))
        caw = d.dealer(curve=keys.curve("caw"))
        kelly = d.dealer(curve=keys.curve("kelly"))
        self.addCleanup(caw.close, 0)
        self.addCleanup(kelly.close, 0)
        self.assertOk(d.request({"op": "ping"}, sock=caw))
        self.assertOk(d.request({"op": "ping"}, sock=kelly))
        reload_clients(d, keys, [c for c in CLIENTS if c[0] != "caw"])
        for req in ({"op": "ping"}, submit_req(referral(partner=DROP)), {"op": "list"}):
            with self.subTest(op=req["op"]):
                self.assertError(d.request(req, sock=caw), "forbidden")
        self.assertOk(d.request({"op": "ping"}, sock=kelly), "others stay in")
        fresh = d.dealer(curve=keys.curve("caw"))
        self.addCleanup(fresh.close, 0)
        self.assertTrue(no_answer(fresh), "a removed key got in on a new connection")

    def test_a_key_replaced_on_reload_is_refused_on_its_open_connection(self):
        """protocol.md: "Only clients whose public key is listed may
        connect" and a client removed on reload is refused "even on a
        connection it opened before": kelly's key replaced (a lost laptop)
        removes the old key, also from the connection it opened, while the
        id stays with the new key."""
        keys = rdtest.Keys(NAMES + ["kelly-new"])
        d = self.daemon(routing=ROUTING_ROOMY, keys=keys, curve=keys.curve("coord"),
                        extra_yaml=keys.yaml(CLIENTS))
        old = d.dealer(curve=keys.curve("kelly"))
        self.addCleanup(old.close, 0)
        self.assertOk(d.request({"op": "list"}, sock=old))
        reload_clients(d, keys, [c for c in CLIENTS if c[0] != "kelly"]
                       + [("kelly-new", "kelly", "connector")])
        for req in ({"op": "ping"}, {"op": "list"}, {"op": "events"}):
            with self.subTest(op=req["op"]):
                err = self.assertError(d.request(req, sock=old), "forbidden")
                self.assertIn("no longer", err["message"])
        new = d.dealer(curve=keys.curve("kelly-new"))
        self.addCleanup(new.close, 0)
        self.assertOk(d.request({"op": "list"}, sock=new))
        again = d.dealer(curve=keys.curve("kelly"))
        self.addCleanup(again.close, 0)
        self.assertTrue(no_answer(again), "a replaced key got in on a new connection")

    def test_a_role_changed_on_reload_holds_on_the_open_connection(self):
        """Each request is judged by the role in the list in force when it
        arrives: a partner made a monitor may read the figures and may no
        longer submit, on the connection it opened as a partner."""
        keys = rdtest.Keys(NAMES)
        d = self.daemon(routing=ROUTING_ROOMY, keys=keys, curve=keys.curve("coord"),
                        extra_yaml=keys.yaml(CLIENTS))
        caw = d.dealer(curve=keys.curve("caw"))
        self.addCleanup(caw.close, 0)
        self.assertOk(d.request(submit_req(referral(partner=DROP)), sock=caw))
        self.assertError(d.request({"op": "stats"}, sock=caw), "forbidden")
        reload_clients(d, keys, [c if c[0] != "caw" else ("caw", "caw-limburg", "monitor")
                                 for c in CLIENTS])
        self.assertError(d.request(submit_req(referral(partner=DROP)), sock=caw), "forbidden")
        self.assertOk(d.request({"op": "stats"}, sock=caw))

    def test_removed_monitor_stops_receiving_published_events(self):
        """protocol.md: "Only monitors and coordinators may subscribe to the
        PUB socket" and "a client removed on reload is refused ... even on
        a connection it opened before". A monitor removed on reload is no
        longer one; its open SUB connection must not go on receiving."""
        keys = rdtest.Keys(NAMES)
        d = self.daemon(routing=ROUTING_ROOMY, keys=keys, curve=keys.curve("coord"),
                        extra_yaml=keys.yaml(CLIENTS))
        mon = d.subscribe(curve=keys.curve("grafana"))
        reload_clients(d, keys, [c for c in CLIENTS if c[0] != "grafana"])
        while mon.poll(300):
            mon.recv_multipart()
        after = d.last_seq()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            d.submit(referral())
            self.assertFalse(recv_events(mon, 1, after_seq=after, timeout=0.2),
                             "a monitor removed on reload still receives published events "
                             "on the connection it opened before")

    def test_key_added_on_reload_works_from_the_next_connection(self):
        keys = rdtest.Keys(NAMES + ["newbie"])
        d = self.daemon(routing=ROUTING_ROOMY, keys=keys, curve=keys.curve("coord"),
                        extra_yaml=keys.yaml(CLIENTS))
        before = d.dealer(curve=keys.curve("newbie"))
        self.addCleanup(before.close, 0)
        self.assertTrue(no_answer(before, wait=1.0), "an unlisted key was answered")
        reload_clients(d, keys, CLIENTS + [("newbie", "ocmw-hasselt", "partner")])
        s = d.dealer(curve=keys.curve("newbie"))
        self.addCleanup(s.close, 0)
        rep = d.request(submit_req(referral(partner=DROP)), sock=s)
        self.assertOk(rep)
        self.assertEqual(d.ok({"op": "get", "id": rep["id"]})["referral"]["partner"],
                         "ocmw-hasselt")


class Endpoints(TestCase):

    def test_non_loopback_endpoint_without_security_exits_78(self):
        d = self.daemon(routing=ROUTING_BASIC, start=False,
                        intake="tcp://0.0.0.0:%d" % free_ports(1)[0])
        p = rdtest.run_daemon(["-c", d.config_path])
        self.assertEqual(p.returncode, EX_CONFIG, p.stdout + p.stderr)
        self.assertIn("security", p.stdout + p.stderr, "the message names what to set")

    def test_non_loopback_endpoint_with_security_starts(self):
        keys = rdtest.Keys(NAMES)
        port = free_ports(1)[0]
        d = self.daemon(routing=ROUTING_BASIC, keys=keys, curve=keys.curve("coord"),
                        extra_yaml=keys.yaml(CLIENTS), start=False,
                        intake="tcp://0.0.0.0:%d" % port)
        d.start()  # the harness pings over 0.0.0.0 -> loopback
        self.assertOk(d.request({"op": "ping"}))


# ----------------------------------------------------------------- audit


class Audit(rdtest.SecuredCase):

    CLIENTS = CLIENTS
    ROUTING = ROUTING_ROOMY

    def as_(self, name, req):
        # a fresh connection for each request
        s = self.d.dealer(curve=self.keys.curve(name))
        try:
            return self.d.request(req, sock=s)
        finally:
            s.close(0)

    def audit(self, **kw):
        return self.d.ok(dict({"op": "audit", "limit": 10000}, **kw))

    def test_gets_with_personal_data_and_changes_are_recorded_never_the_data(self):
        since = self.audit()["last"]
        r = personal_referral("AUD1", partner=DROP)
        a = self.as_("genk", submit_req(r))
        self.assertOk(a)
        rid, conn = a["id"], a["connector"]
        self.assertOk(self.as_("genk", {"op": "get", "id": rid}))
        self.assertOk(self.d.request({"op": "get", "id": rid}))
        self.assertOk(self.as_(conn, {"op": "update", "id": rid, "status": "accepted"}))
        self.assertOk(self.as_(conn, {"op": "get", "id": rid}))
        # reads without personal data are not recorded
        self.assertOk(self.as_("genk", {"op": "list"}))
        self.assertOk(self.as_("grafana", {"op": "events"}))
        self.assertOk(self.as_("grafana", {"op": "stats"}))
        self.assertOk(self.d.request({"op": "erase", "id": rid}))
        self.assertOk(self.d.request({"op": "get", "id": rid}))  # nothing personal left
        # failures are not recorded
        self.assertError(self.as_("caw", {"op": "get", "id": rid}), "not_found")

        rep = self.audit(since=since, id=rid)
        got = [(e["client"], e["role"], e["action"], e["id"]) for e in rep["entries"]]
        want = [("ocmw-genk", "partner", "submit", rid),
                ("ocmw-genk", "partner", "get", rid),
                ("coordinator", "coordinator", "get", rid),
                (conn, "connector", "update:accepted", rid),
                (conn, "connector", "get", rid),
                ("coordinator", "coordinator", "erase", rid)]
        self.assertEqual(got, want)
        for e in rep["entries"]:
            self.assertTime(e["at"])
            self.assertIsInstance(e["n"], int)
        self.assertEqual(rep["last"], rep["entries"][-1]["n"])
        whole = json.dumps(self.audit(since=0))
        for needle in (r["family"]["name"], r["family"]["phone"], r["family"]["email"],
                       r["note"], "Stationsstraat"):
            self.assertNotIn(needle, whole, "the audit trail holds personal data")

    def test_paging_and_filter(self):
        ids = [self.d.submit(referral())["id"] for _ in range(3)]
        since = self.audit()["last"] - 3
        page = self.audit(since=since, limit=2)
        self.assertEqual([e["id"] for e in page["entries"]], ids[:2])
        rest = self.audit(since=page["last"], limit=2)
        self.assertEqual([e["id"] for e in rest["entries"]], ids[2:])
        self.assertEqual([e["id"] for e in self.audit(since=0, id=ids[1])["entries"]],
                         [ids[1]])
        self.assertEqual(self.audit(since=0, id="R-no-such")["entries"], [])

    def test_only_coordinators_read_the_trail(self):
        for name in ("genk", "kelly", "grafana"):
            with self.subTest(client=name):
                self.assertError(self.as_(name, {"op": "audit"}), "forbidden")


# ----------------------------------------------------------------- erase


class Erase(TestCase):

    def setUp(self):
        super().setUp()
        self.d = self.daemon(routing=ROUTING_ROOMY)

    def test_erased_bytes_are_gone_from_database_and_wal(self):
        d = self.d
        r = personal_referral("ER1")
        keep = personal_referral("KEEP1")
        a = d.submit(r)
        d.submit(keep)
        self.assertEqual(a["status"], "assigned")
        d.ok({"op": "update", "id": a["id"], "status": "accepted", "connector": a["connector"]})
        # the search finds what is there (else the test below proves nothing)
        self.assertEqual(len({n for _, n in found_in_files(d, secrets_of(r))}), 3,
                         "the personal data is not stored as plain bytes?")
        base = d.last_seq()
        rep = d.ok({"op": "erase", "id": a["id"]})
        self.assertEqual(rep["status"], "withdrawn", "an open referral is withdrawn first")
        # checked at once: gone once the erase has committed (and was acknowledged)
        self.assertEqual(found_in_files(d, secrets_of(r)), [],
                         "erased personal data is still in the files")
        self.assertEqual(len({n for _, n in found_in_files(d, secrets_of(keep))}), 3,
                         "another family's data went too")
        evs = d.all_events(base)
        self.assertEqual([e["type"] for e in evs], ["referral.withdrawn", "referral.erased"])
        self.assertEqual(evs[-1]["status"], "withdrawn")
        got = d.ok({"op": "get", "id": a["id"]})
        content = got["referral"] or {}
        for k in ("family", "note", "children", "postcode"):
            self.assertNotIn(k, content, "erased %s still returned" % k)
        self.assertTrue(got["history"], "the routing history stays")
        for needle in ("postcode", "3600", "children", "age"):
            self.assertNotIn(needle, json.dumps(got.get("trace")),
                             "the trace still holds something derived from erased data")
        # a resubmit of the same content is a duplicate, and stores nothing again
        last = d.last_seq()
        dup = d.submit(r)
        self.assertIs(dup["duplicate"], True)
        self.assertEqual(dup["id"], a["id"])
        self.assertEqual(d.last_seq(), last, "a duplicate emits nothing")
        self.assertEqual(found_in_files(d, secrets_of(r)), [],
                         "the duplicate brought the personal data back")
        # erasing again: ok, nothing emitted
        again = d.ok({"op": "erase", "id": a["id"]})
        self.assertEqual(again["id"], a["id"])
        self.assertEqual(d.last_seq(), last, "erasing again emits nothing")
        # nor did it ever go to events or the log
        all_text = json.dumps(d.all_events(0)) + d.log()
        for needle in secrets_of(r) + secrets_of(keep):
            self.assertNotIn(needle.decode(), all_text, "personal data in events or the log")

    def test_erase_survives_restart_and_closed_referrals(self):
        d = self.d
        r = personal_referral("ER2")
        a = d.submit(r)
        for status in ("accepted", "started", "closed"):
            d.ok({"op": "update", "id": a["id"], "status": status, "connector": a["connector"]})
        rep = d.ok({"op": "erase", "id": a["id"]})
        self.assertEqual(rep["status"], "closed", "a final referral keeps its status")
        d.restart()
        self.assertEqual(found_in_files(d, secrets_of(r)), [])
        got = d.ok({"op": "get", "id": a["id"]})
        self.assertNotIn("family", got["referral"] or {})
        self.assertIs(d.submit(r)["duplicate"], True, "still a duplicate after a restart")

    def test_erase_unknown_is_not_found(self):
        self.assertError(self.d.request({"op": "erase", "id": "R999999999"}), "not_found")
        self.assertError(self.d.request({"op": "erase"}), "invalid", "id")


class Retention(TestCase):

    def test_closed_referral_is_erased_after_retention(self):
        d = self.daemon(routing=ROUTING_ROOMY, extra_yaml="retention: 3s\n")
        closed = personal_referral("RET1")
        open_ = personal_referral("RET2")
        forwarded = personal_referral("RET3", urgency="crisis")
        a = d.submit(closed)
        d.submit(open_)
        f = d.submit(forwarded)
        self.assertEqual(f["status"], "forwarded")
        base = d.last_seq()
        for status in ("accepted", "started", "closed"):
            d.ok({"op": "update", "id": a["id"], "status": status, "connector": a["connector"]})
        t0 = time.monotonic()
        ev = wait_for_event(d, "referral.erased", base, timeout=15.0, referral_id=a["id"])
        self.assertGreaterEqual(time.monotonic() - t0, 2.0, "erased before retention passed")
        self.assertEqual(ev["status"], "closed")
        wait_for_event(d, "referral.erased", 0, timeout=15.0, referral_id=f["id"])
        self.assertEqual(found_in_files(d, secrets_of(closed) + secrets_of(forwarded)), [])
        self.assertNotIn("family", d.ok({"op": "get", "id": a["id"]})["referral"] or {})
        # an open referral keeps its data: retention runs from a final status
        got = d.ok({"op": "get", "partner": open_["partner"], "ref": open_["ref"]})
        self.assertEqual(got["referral"]["family"], open_["family"])
        self.assertEqual(len({n for _, n in found_in_files(d, secrets_of(open_))}), 3,
                         "an open referral's data went too")
        erased = [e for e in d.all_events(0) if e["type"] == "referral.erased"]
        self.assertEqual(sorted(e["id"] for e in erased), sorted([a["id"], f["id"]]),
                         "each erased once")


@rdtest.sqlite_only("the modes of the database file and its folder")
class FileModes(TestCase):

    def test_database_0600_and_folder_0700_with_umask_000(self):
        d = UmaskDaemon(routing=ROUTING_BASIC, database="state/referrald.db", start=False)
        self.addCleanup(d.close)
        d.start()
        d.submit(personal_referral("MODE"))
        folder = os.path.dirname(d.database_path)
        self.assertEqual(stat.S_IMODE(os.stat(d.database_path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(folder).st_mode), 0o700)
        for suffix in ("-wal", "-shm"):
            path = d.database_path + suffix
            if os.path.exists(path):
                with self.subTest(file=suffix):
                    self.assertEqual(stat.S_IMODE(os.stat(path).st_mode) & 0o077, 0,
                                     "%s is readable by others" % path)


# ----------------------------------------------------------------- referralctl


def run_ctl(args, env=None, timeout=30, umask=None, **kw):
    e = dict(os.environ)
    for k in ("REFERRALD_ENDPOINT", "REFERRALD_EVENTS", "REFERRALD_SERVER_KEY", "REFERRALD_KEY"):
        e.pop(k, None)
    if env:
        e.update(env)
    pre = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run([REFERRALCTL] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=e, preexec_fn=pre, **kw)


class Keygen(TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="keygen-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.tmp]))

    def test_keygen_files_and_modes(self):
        base = os.path.join(self.tmp, "ocmw-genk")
        p = run_ctl(["keygen", "--out", base], umask=0)
        self.assertExit(p, 0)
        pub = open(base + ".pub").read()
        sec = open(base + ".key").read()
        self.assertEqual(p.stdout, pub, "prints the public key")
        self.assertRegex(pub, r"^[\x21-\x7e]{40}\n$")
        self.assertRegex(sec, r"^[\x21-\x7e]{40}\n$")
        self.assertEqual(zmq.curve_public(sec.strip().encode()), pub.strip().encode(),
                         "the two files are one pair")
        self.assertEqual(stat.S_IMODE(os.stat(base + ".key").st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(base + ".pub").st_mode), 0o644)
        # no overwrite without --force
        p = run_ctl(["keygen", "--out", base])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--force", p.stderr)
        self.assertEqual(open(base + ".key").read(), sec, "the secret key was overwritten")
        self.assertEqual(open(base + ".pub").read(), pub)
        # --force replaces, and an existing loose mode does not survive
        os.chmod(base + ".key", 0o644)
        p = run_ctl(["keygen", "--out", base, "--force"], umask=0)
        self.assertExit(p, 0)
        self.assertNotEqual(open(base + ".key").read(), sec)
        self.assertEqual(stat.S_IMODE(os.stat(base + ".key").st_mode), 0o600)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["ocmw-genk.key", "ocmw-genk.pub"],
                         "no temporary files left")

    def test_keygen_to_stdout(self):
        p = run_ctl(["keygen"])
        self.assertExit(p, 0)
        m = re.fullmatch(r"public: (\S{40})\nsecret: (\S{40})\n", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        self.assertEqual(zmq.curve_public(m.group(2).encode()), m.group(1).encode())
        p = run_ctl(["--json", "keygen"])
        self.assertExit(p, 0)
        o = json.loads(p.stdout)
        self.assertEqual(zmq.curve_public(o["secret_key"].encode()), o["public_key"].encode())

    def test_bad_keys_are_usage_errors(self):
        base = os.path.join(self.tmp, "c")
        self.assertExit(run_ctl(["keygen", "--out", base]), 0)
        srv = zmq.curve_keypair()[0].decode()
        bad = os.path.join(self.tmp, "bad.key")
        with open(bad, "w") as f:
            f.write("not a key\n")
        cases = [
            (["--server-key", "short", "--key", base + ".key"], "--server-key"),
            (["--server-key", srv, "--key", bad], "40"),
            (["--server-key", srv, "--key", base + ".pub"], "secret"),
            (["--server-key", srv, "--key", os.path.join(self.tmp, "missing.key")], "missing"),
            (["--server-key", "@" + os.path.join(self.tmp, "nope.pub"), "--key", base + ".key"],
             "nope.pub"),
            (["--server-key", srv], "--key"),
            (["--key", base + ".key"], "--server-key"),
            (["--server-key", "@" + base + ".pub", "--key", base + ".key"], "own public key"),
        ]
        for args, words in cases:
            with self.subTest(args=args):
                p = run_ctl(args + ["-e", "tcp://127.0.0.1:9", "ping"])
                self.assertExit(p, 2)
                self.assertIn(words, p.stderr)
                self.assertNotIn("no reply", p.stderr, "bad keys are said before connecting")


class ReferralctlOverCurve(TestCase):
    """keygen for the server and every client, then a round trip of
    referralctl commands over CURVE."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ctlcurve-")
        cls.addClassCleanup(lambda: subprocess.run(["rm", "-rf", cls.tmp]))
        cls.pubs = {}
        for name in ("server", "coord", "genk", "kelly", "sophie", "grafana", "stranger"):
            p = run_ctl(["keygen", "--out", os.path.join(cls.tmp, name)])
            assert p.returncode == 0, p.stderr
            cls.pubs[name] = p.stdout.strip()
        clients = [("coord", "coordinator", "coordinator"), ("genk", "ocmw-genk", "partner"),
                   ("kelly", "kelly", "connector"), ("sophie", "sophie", "connector"),
                   ("grafana", "grafana", "monitor")]
        lines = ["security:", "  secret_key_file: %s" % os.path.join(cls.tmp, "server.key"),
                 "  clients:"]
        for name, cid, role in clients:
            lines.append('    - {id: %s, role: %s, public_key: "%s"}'
                         % (cid, role, cls.pubs[name]))
        own = (cls.pubs["server"].encode(), cls.pubs["coord"].encode(),
               open(os.path.join(cls.tmp, "coord.key")).read().strip().encode())
        cls.d = cls.class_daemon(routing=ROUTING_ROOMY, curve=own,
                                 extra_yaml="\n".join(lines) + "\n")

    def key(self, name):
        return os.path.join(self.tmp, name + ".key")

    def ctl(self, name, *args, **kw):
        keys = []
        if name:
            keys = ["--server-key", "@" + os.path.join(self.tmp, "server.pub"),
                    "--key", self.key(name)]
        return run_ctl(["-e", self.d.intake, "--events-endpoint", self.d.events] + keys
                       + list(args), **kw)

    def ok(self, name, *args, **kw):
        p = self.ctl(name, *args, **kw)
        self.assertEqual(p.returncode, 0, "referralctl %s as %s: exit %d\n%s%s"
                         % (" ".join(args), name, p.returncode, p.stdout, p.stderr))
        return p

    def write(self, obj):
        return rdtest.write_json(self.tmp, obj)

    def test_round_trip(self):
        r = personal_referral("CTL1", partner=DROP)
        sub = json.loads(self.ok("genk", "--json", "submit", self.write(r)).stdout)
        rid, conn = sub["id"], sub["connector"]
        got = json.loads(self.ok("genk", "--json", "get", rid).stdout)
        self.assertEqual(got["referral"]["partner"], "ocmw-genk")
        self.assertIn(rid, self.ok("genk", "list").stdout)
        self.assertIn(rid, self.ok(conn, "list", "--status", "assigned").stdout)
        self.ok(conn, "update", rid, "accepted")
        self.ok(conn, "update", rid, "started")
        self.assertIn("referral.started", self.ok("genk", "events").stdout)
        self.assertIn("by status", self.ok("grafana", "stats").stdout)
        self.assertIn("referrald", self.ok("grafana", "ping").stdout)
        # forbidden things come back as error replies (exit 1)
        p = self.ctl("genk", "stats")
        self.assertEqual(p.returncode, 1)
        self.assertIn("forbidden", p.stderr)
        # the coordinator: erase, then the audit trail shows who did what
        out = self.ok("coord", "erase", rid).stdout
        self.assertIn("erased", out)
        self.assertEqual(found_in_files(self.d, secrets_of(r)), [])
        p = self.ok("coord", "audit", "--id", rid)
        rows = [l.split() for l in p.stdout.splitlines()[1:]]
        self.assertEqual([(x[2], x[3], x[4]) for x in rows],
                         [("ocmw-genk", "partner", "submit"), ("ocmw-genk", "partner", "get"),
                          (conn, "connector", "update:accepted"),
                          (conn, "connector", "update:started"),
                          ("coordinator", "coordinator", "erase")])
        self.assertEqual(p.stdout.splitlines()[0].split(),
                         ["N", "AT", "CLIENT", "ROLE", "ACTION", "ID"])
        j = json.loads(self.ok("coord", "--json", "audit", "--id", rid).stdout)
        self.assertEqual(len(j["entries"]), 5)
        self.assertNotIn(FAMILY_NAME, json.dumps(j))

    def test_audit_follow_all_pages_to_the_end(self):
        for _ in range(5):
            self.ok("coord", "submit", self.write(referral()))
        full = json.loads(self.ok("coord", "--json", "audit", "--limit", "10000").stdout)
        paged = json.loads(self.ok("coord", "--json", "audit", "--limit", "2",
                                   "--follow-all").stdout)
        self.assertEqual(paged["entries"], full["entries"])
        self.assertEqual(paged["last"], full["entries"][-1]["n"])
        one = json.loads(self.ok("coord", "--json", "audit", "--limit", "2").stdout)
        self.assertEqual(one["entries"], full["entries"][:2])
        human = self.ok("coord", "audit", "--limit", "2", "--since", "1").stdout
        self.assertEqual(len(human.splitlines()), 1 + 2 + 1, human)  # header, rows, hint
        self.assertIn("--follow-all", human.splitlines()[-1])
        human_all = self.ok("coord", "audit", "--limit", "2", "--follow-all").stdout
        self.assertEqual(len(human_all.splitlines()), 1 + len(full["entries"]), human_all)

    def test_environment_gives_the_keys(self):
        env = {"REFERRALD_SERVER_KEY": self.pubs["server"], "REFERRALD_KEY": self.key("grafana")}
        p = self.ctl(None, "ping", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_stranger_plain_and_wrong_server_key_are_told_to_check_keys(self):
        p = self.ctl("stranger", "--timeout", "3000", "ping")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("security.clients", p.stderr)
        self.assertIn(self.pubs["stranger"], p.stderr, "names the key to list")
        p = self.ctl(None, "--timeout", "3000", "ping")
        self.assertEqual(p.returncode, 1)
        self.assertIn("--server-key", p.stderr)
        p = run_ctl(["-e", self.d.intake, "--timeout", "1500", "--server-key",
                     self.pubs["coord"], "--key", self.key("genk"), "ping"])
        self.assertEqual(p.returncode, 1)
        self.assertIn("no reply", p.stderr)
        self.assertIn("--server-key", p.stderr)

    def test_follow_as_monitor_and_as_partner(self):
        """A monitor follows the PUB; a partner may not subscribe and
        referralctl falls back to asking for what is new."""
        procs = {}
        for name in ("grafana", "genk"):
            args = ["-e", self.d.intake, "--events-endpoint", self.d.events,
                    "--server-key", "@" + os.path.join(self.tmp, "server.pub"),
                    "--key", self.key(name), "events", "--follow", "--since",
                    str(self.d.last_seq())]
            e = dict(os.environ)
            procs[name] = subprocess.Popen([REFERRALCTL] + args, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True, env=e)
        try:
            time.sleep(1.0)
            r = referral(partner=DROP)
            rid = json.loads(self.ok("genk", "--json", "submit", self.write(r)).stdout)["id"]
            time.sleep(3.0)
        finally:
            outs = {}
            for name, p in procs.items():
                p.send_signal(signal.SIGINT)
                try:
                    outs[name] = p.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    outs[name] = p.communicate()
        for name in ("grafana", "genk"):
            out, err = outs[name]
            with self.subTest(client=name):
                self.assertIn(rid, out, "%s did not see its event\nstderr: %s" % (name, err))
                self.assertIn("referral.assigned", out)
        self.assertIn("subscribe", outs["genk"][1], "the partner is told why it polls")


if __name__ == "__main__":
    unittest.main(verbosity=2)
