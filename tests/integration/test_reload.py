"""Reloading the routing file on SIGHUP, as a coordinator and an operator
meet it (routing.md "Checking and reloading"; daemon.md "Command line",
"Signals and lifecycle"; protocol.md "Events": config.reloaded and
config.rejected).

A coordinator edits routing.yaml and sends SIGHUP (systemctl reload). A
valid file is in force at once and a monitor sees `config.reloaded` with the
file's SHA-256; a bad file is refused whole, the old rules stay, a monitor
sees `config.rejected` with the first error and the operator finds every
error in the log (stderr here: no journal in the test). Referrals decided
before a reload keep their decision and `start_by`; connectors taken out of
the file keep their open referrals. `referrald -t` checks a file the same
way before anyone reloads it.
"""

import hashlib
import os
import re
import shutil
import signal
import tempfile
import time

import rdtest
from rdrouting import (BASIC_CRISIS, CAW, EVERYTHING_ELSE, FAMILY_GENK, GENK_POSTCODES, basic,
                       connector, genk, pos, psy, routing, rule, team)
from rdtest import EX_CONFIG, free_ports, recv_events, referral, run_daemon, submit_req, wait_until

PSY = rule("psychology", {"kind": "first_line_psychology"}, assign="psy")

# In force at start: 3600 family referrals are assigned in genk (kelly or
# sophie); 3630 is outside the target group and forwarded to CAW.
ROUTING_OLD = basic(1000, 1000, rules=[BASIC_CRISIS, PSY, FAMILY_GENK, EVERYTHING_ELSE])
OLD_RULES = 4

# The coordinator's edit: CAW takes over 3600 (forwarded, no longer
# assigned), a new team in Maasmechelen takes 3630 (assigned, no longer
# forwarded), sophie leaves genk and murat joins, the default window is
# shorter.
MAAS_POSTCODES = ["3630", "3640"]
NEW_TEAMS = [genk(1000, GENK_POSTCODES, languages=True, people=["kelly", "murat"]),
             team("maasmechelen", [connector("lien", 1000, languages=True)], MAAS_POSTCODES),
             psy(1000)]
NEW_RULE_LIST = [
    BASIC_CRISIS, PSY,
    rule("genk-centre-to-caw", {"kind": "family_support", "postcode": "3600"},
         forward=(CAW, "CAW takes Genk centre from now on")),
    FAMILY_GENK,
    rule("family-maasmechelen", {"kind": "family_support", "postcode": MAAS_POSTCODES},
         assign={"teams": ["maasmechelen"], "by_postcode": True}, otherwise="waitlist"),
    EVERYTHING_ELSE]
ROUTING_NEW = routing(NEW_RULE_LIST, NEW_TEAMS, window="14d")
NEW_RULES = 6


def _edit(text, old, new):
    assert old in text, old
    return text.replace(old, new, 1)


# Invalid edits of ROUTING_NEW: if any part of them were taken, decisions
# and stats would show it (3600 forwarded, murat, lien).
BAD_UNKNOWN_KEY = _edit(ROUTING_NEW, "  - id: maasmechelen\n",
                        "  - id: maasmechelen\n    colour: red\n")
BAD_UNKNOWN_TEAM = _edit(ROUTING_NEW, "assign: {teams: [maasmechelen], by_postcode: true}",
                         "assign: {teams: [maasmechlen], by_postcode: true}")
BAD_SYNTAX = _edit(ROUTING_NEW, "postcodes: ['3630', '3640']", "postcodes: ['3630', '3640'")
BAD_THREE = _edit(_edit(BAD_UNKNOWN_KEY, "assign: {teams: [maasmechelen], by_postcode: true}",
                        "assign: {teams: [maasmechlen], by_postcode: true}"),
                  "    assign: {teams: [psy]}\n", "    assign: {teams: [psy], window: 10q}\n")

ERR_RE = re.compile(r"^(\S*?routing\.yaml):(\d+):(\d+): (.+)$")


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def family(postcode="3600", **kw):
    return referral(kind="family_support", postcode=postcode, **kw)


def team_shape(stats):
    """{team: {connector: capacity}} of a stats reply."""
    return {t["id"]: {c["id"]: c["capacity"] for c in t["connectors"]} for t in stats["teams"]}


def loads(stats):
    return {c["id"]: c["load"] for t in stats["teams"] for c in t["connectors"]}


class ReloadCase(rdtest.TestCase):
    """A daemon on ROUTING_OLD, and the coordinator's ways to reload it."""

    START = ROUTING_OLD

    def setUp(self):
        super().setUp()
        self.d = self.daemon(routing=self.START)

    def write_routing(self, text):
        # replace, not rewrite in place: a reload never sees half a file
        tmp = self.d.routing_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.d.routing_path)

    def config_events(self, since=0):
        return [e for e in self.d.all_events(since) if e["type"].startswith("config.")]

    def sighup(self, text=None, timeout=5.0):
        """Write TEXT (if given) as the routing file, send SIGHUP and wait
        for the config event it causes (read through replay). Return it."""
        if text is not None:
            self.write_routing(text)
        base = self.d.last_seq()
        self.d.signal(signal.SIGHUP)
        evs = wait_until(lambda: self.config_events(base), timeout=timeout,
                         what="config.reloaded or config.rejected after SIGHUP")
        self.assertEqual(len(evs), 1, "one SIGHUP, one config event: %r" % (evs,))
        self.assertTrue(self.d.running(), "the daemon survives a reload")
        return evs[0]

    def assertRejected(self, ev, text, where=None, errors=None):
        """EV is config.rejected for TEXT: `error` is FILE:LINE:COLUMN:
        message (at WHERE, a needle in TEXT, when given); `errors` counts."""
        self.assertEqual(ev["type"], "config.rejected", ev)
        self.assertTime(ev["at"], "at")
        self.assertIsInstance(ev.get("error"), str, ev)
        m = ERR_RE.match(ev["error"])
        self.assertTrue(m, "error is not FILE:LINE:COLUMN: message: %r" % ev["error"])
        line, col = int(m.group(2)), int(m.group(3))
        self.assertGreaterEqual(line, 1)
        self.assertGreaterEqual(col, 1)
        self.assertLessEqual(line, text.count("\n") + 1, ev["error"])
        if where is not None:
            self.assertEqual((line, col), pos(text, where),
                             "the error points at %r: %r" % (where, ev["error"]))
        self.assertIsInstance(ev.get("errors"), int, ev)
        self.assertNotIsInstance(ev.get("errors"), bool, ev)
        if errors is None:
            self.assertGreaterEqual(ev["errors"], 1, ev)
        else:
            self.assertEqual(ev["errors"], errors, ev)
        self.assertNotIn("digest", ev, "a refused file has no digest in force: %r" % ev)
        return m

    def assertOldRulesDecide(self):
        """The rules of ROUTING_OLD decide: 3600 assigned in genk, 3630
        forwarded as outside the target group."""
        rep = self.d.submit(family("3600"))
        self.assertEqual((rep["status"], rep["rule"], rep["team"]),
                         ("assigned", "family-genk", "genk"), rep)
        self.assertIn(rep["connector"], ("kelly", "sophie"), rep)
        rep = self.d.submit(family("3630"))
        self.assertEqual((rep["status"], rep["rule"], rep["forward_to"]),
                         ("forwarded", "everything-else", "caw-limburg"), rep)

    def assertNewRulesDecide(self):
        rep = self.d.submit(family("3600"))
        self.assertEqual((rep["status"], rep["rule"], rep["forward_to"]),
                         ("forwarded", "genk-centre-to-caw", "caw-limburg"), rep)
        self.assertNotIn("start_by", rep, "a forwarded referral has no window")
        rep = self.d.submit(family("3630"))
        self.assertEqual((rep["status"], rep["rule"], rep["team"], rep["connector"]),
                         ("assigned", "family-maasmechelen", "maasmechelen", "lien"), rep)
        return rep


class ValidReload(ReloadCase):
    def test_valid_file_is_in_force_at_once_and_announced_with_its_sha256(self):
        sub = self.d.subscribe()
        before = self.d.submit(family("3600"))
        self.assertEqual(before["rule"], "family-genk")
        base = self.d.last_seq()

        self.write_routing(ROUTING_NEW)
        self.d.signal(signal.SIGHUP)
        got = recv_events(sub, 1, after_seq=base, timeout=5)
        self.assertEqual(len(got), 1, "no event on the PUB socket after SIGHUP")
        frames, ev = got[0]
        self.assertEqual(len(frames), 2, "an event is two frames: %r" % (frames,))
        self.assertEqual(frames[0], b"config.reloaded", ev)
        self.assertEqual(ev["type"], "config.reloaded")
        self.assertEqual(ev["seq"], base + 1, "seq rises by exactly 1")
        self.assertTime(ev["at"], "at")
        self.assertEqual(ev["digest"], sha256(ROUTING_NEW),
                         "digest is the SHA-256 (hex) of the new file's bytes")
        self.assertEqual(ev["rules"], NEW_RULES)
        self.assertNotIn("error", ev)
        # replayable: a monitor that was away finds the same event
        self.assertEqual(self.d.ok({"op": "events", "since": base, "limit": 10})["events"], [ev])

        # the next submit is decided by the new rules
        self.assertNewRulesDecide()
        rep = self.d.submit(family("3662"))
        self.assertEqual((rep["rule"], rep["team"]), ("family-genk", "genk"), rep)
        self.assertIn(rep["connector"], ("kelly", "murat"), "sophie left genk: %r" % (rep,))
        start_by = self.assertTime(rep["start_by"])
        self.assertLess(start_by, rdtest.utcnow() + 15 * rdtest.DAY,
                        "the new default window (14d) applies: %r" % (rep,))

        # stats show the new teams and connectors
        stats = self.d.ok({"op": "stats"})
        self.assertEqual(team_shape(stats), {
            "genk": {"kelly": 1000, "murat": 1000},
            "maasmechelen": {"lien": 1000},
            "psy": {"psy-1": 1000},
        })
        if "rules_digest" in stats:  # the daemon's own addition
            self.assertEqual(stats["rules_digest"], sha256(ROUTING_NEW))

    def test_reloading_the_same_file_is_announced_with_the_same_digest(self):
        ev = self.sighup()
        self.assertEqual(ev["type"], "config.reloaded", ev)
        self.assertEqual((ev["digest"], ev["rules"]), (sha256(ROUTING_OLD), OLD_RULES))
        self.assertOldRulesDecide()


    def test_other_keys_of_the_daemon_config_wait_for_a_restart_and_the_reload_says_so(self):
        """daemon.md "Signals and lifecycle": a change to any key but the
        routing file and security.clients takes effect only on restart, and
        the reload says so in the journal (stderr here), key by key."""
        with open(self.d.config_path) as f:
            text = f.read()
        other_intake = "tcp://127.0.0.1:%d" % free_ports(1)[0]
        text = text.replace(self.d.intake, other_intake)
        text += "retention: 30d\naudit_retention: 60d\njournal_events: none\n"
        with open(self.d.config_path, "w") as f:
            f.write(text)
        ev = self.sighup(ROUTING_NEW)
        self.assertEqual(ev["type"], "config.reloaded", ev)
        self.assertNewRulesDecide()  # the routing file is taken at once ...
        log = self.d.log()  # ... and served on the intake in force
        for key in ("intake", "retention", "audit_retention", "journal_events"):
            with self.subTest(key=key):
                self.assertIn("the daemon config's %s changed: that takes effect on restart "
                              "only" % key, log)
        for key in ("events", "database", "store", "routing", "security"):
            self.assertNotIn("the daemon config's %s changed" % key, log)

    def test_digest_is_of_the_file_bytes_as_written(self):
        # comments, CRLF line ends and non-ASCII text are part of the file
        raw = ("# edited by the coordinator, 23/11  \r\n" + ROUTING_NEW.replace("\n", "\r\n")
               .replace("CAW takes Genk centre", "CAW neemt Genk-centrum \u00e9\u00e9n")).encode()
        with open(self.d.routing_path, "wb") as f:
            f.write(raw)
        ev = self.sighup()
        self.assertEqual(ev["type"], "config.reloaded", ev)
        self.assertEqual(ev["digest"], hashlib.sha256(raw).hexdigest())
        self.assertEqual(ev["rules"], NEW_RULES)

    def test_reload_takes_effect_under_a_sustained_stream_of_submits(self):
        # routing.md: "A valid file replaces the old one at once". A partner
        # pushing referrals without pause (1000 in flight) must not hold a
        # reload back until the stream stops. Counted, not timed: after the
        # SIGHUP, at most what was in flight (1000) and one batch the daemon
        # had in hand (512) may still be decided by the old rules.
        s = self.d.dealer()
        self.addCleanup(s.close, 0)
        inflight, sent, hup_sent, old_after_hup, first_new = 0, 0, None, 0, False
        deadline = time.monotonic() + 60  # a safety net only
        while not first_new and time.monotonic() < deadline:
            while inflight < 1000:
                s.send_json(submit_req(family("3600")))
                inflight += 1
                sent += 1
            if s.poll(100):
                rep = s.recv_json()
                inflight -= 1
                self.assertOk(rep)
                if hup_sent is not None:
                    if rep["rule"] != "family-genk":
                        first_new = True
                    else:
                        old_after_hup += 1
            if hup_sent is None and sent >= 3000:
                self.write_routing(ROUTING_NEW)
                self.d.signal(signal.SIGHUP)
                hup_sent = sent
        while inflight and s.poll(10000):  # drain, so the daemon can stop in time
            s.recv()
            inflight -= 1
        self.assertTrue(first_new, "no referral was decided by the new rules while submits "
                        "kept coming")
        self.assertLessEqual(old_after_hup, 1000 + 512,
                             "the reload waited for the stream: %d referrals were decided by "
                             "the old rules after the SIGHUP" % old_after_hup)


class RefusedReload(ReloadCase):
    def test_invalid_file_is_refused_whole_old_rules_stay_and_log_has_every_error(self):
        stats0 = self.d.ok({"op": "stats"})
        shape0 = team_shape(stats0)
        cases = [
            ("syntax error", BAD_SYNTAX, None, None),
            ("unknown key", BAD_UNKNOWN_KEY, "colour", 1),
            ("unknown team", BAD_UNKNOWN_TEAM, "maasmechlen", 1),
        ]
        for what, text, where, errors in cases:
            with self.subTest(what):
                ev = self.sighup(text)
                m = self.assertRejected(ev, text, where, errors)
                # the operator finds the error in the log (stderr: no journal here)
                needle = "routing.yaml:%s:%s: " % (m.group(2), m.group(3))
                wait_until(lambda: needle in self.d.log(), timeout=3,
                           what="%r in the daemon's log" % needle)
                # refused whole: the old rules decide, the old teams stay
                self.assertOldRulesDecide()
                self.assertEqual(team_shape(self.d.ok({"op": "stats"})), shape0)
                self.assertTrue(self.d.ok({"op": "ping"})["last_seq"] >= ev["seq"])

    def test_a_bad_daemon_config_refuses_a_good_routing_file_with_it(self):
        """daemon.md: SIGHUP reloads the routing file and security.clients
        all or nothing: the daemon config is read again too, and an error in
        it refuses the reload whole, the new routing file included."""
        with open(self.d.config_path, "a") as f:
            f.write("colour: red\n")
        ev = self.sighup(ROUTING_NEW)
        self.assertEqual(ev["type"], "config.rejected", ev)
        self.assertTrue(ev["error"].startswith(self.d.config_path + ":"), ev)
        self.assertIn("colour", ev["error"])
        self.assertEqual(ev["errors"], 1, ev)
        self.assertOldRulesDecide()

    def test_config_rejected_names_the_first_error_and_counts_them_all(self):
        # routing.md: unknown key, unknown team, bad duration are all errors
        expected = [pos(BAD_THREE, "colour"), pos(BAD_THREE, "maasmechlen"),
                    pos(BAD_THREE, "10q")]
        ev = self.sighup(BAD_THREE)
        self.assertRejected(ev, BAD_THREE, where="colour", errors=3)
        # every error is in the log, as FILE:LINE:COLUMN
        for line, col in expected:
            needle = "routing.yaml:%d:%d: " % (line, col)
            wait_until(lambda: needle in self.d.log(), timeout=3,
                       what="%r in the daemon's log" % needle)
        self.assertOldRulesDecide()

    def test_refused_reload_never_looks_like_success_and_a_later_good_one_works(self):
        sub = self.d.subscribe(topics=["config."], warmup=False)
        # config events are rare: prove the subscription works with a
        # reload of the file in force
        deadline = time.monotonic() + 5
        while True:
            ev = self.sighup()  # in the replay, so it was also published
            if recv_events(sub, 1, after_seq=ev["seq"] - 1, timeout=0.5):
                break
            self.assertLess(time.monotonic(), deadline, "no config event on the PUB socket")
        base = self.d.last_seq()

        rejected = self.sighup(BAD_UNKNOWN_TEAM)
        self.assertRejected(rejected, BAD_UNKNOWN_TEAM, "maasmechlen", 1)
        self.assertOldRulesDecide()
        stats = self.d.ok({"op": "stats"})
        if "rules_digest" in stats:
            self.assertEqual(stats["rules_digest"], sha256(ROUTING_OLD),
                             "the digest in force is still the old file's")
        # a second bad file in a row: refused too
        rejected2 = self.sighup(BAD_SYNTAX)
        self.assertRejected(rejected2, BAD_SYNTAX)

        reloaded = self.sighup(ROUTING_NEW)
        self.assertEqual(reloaded["type"], "config.reloaded", reloaded)
        self.assertEqual(reloaded["digest"], sha256(ROUTING_NEW))
        self.assertEqual(reloaded["rules"], NEW_RULES)
        self.assertNewRulesDecide()

        # replay: exactly rejected, rejected, reloaded, in that order
        self.assertEqual([(e["type"], e["seq"]) for e in self.config_events(base)],
                         [("config.rejected", rejected["seq"]),
                          ("config.rejected", rejected2["seq"]),
                          ("config.reloaded", reloaded["seq"])])
        # PUB: the same three, nothing that says "reloaded" for a bad file
        got = recv_events(sub, 3, after_seq=base, timeout=5)
        self.assertEqual([(f[0], e["seq"]) for f, e in got],
                         [(b"config.rejected", rejected["seq"]),
                          (b"config.rejected", rejected2["seq"]),
                          (b"config.reloaded", reloaded["seq"])])
        self.assertEqual(got[2][1], reloaded)

    def test_daemon_keeps_serving_after_refused_reloads(self):
        for text in (BAD_SYNTAX, BAD_UNKNOWN_KEY, BAD_THREE, "", "rules: [\n", "\x00\xff"):
            ev = self.sighup(text)
            self.assertEqual(ev["type"], "config.rejected", (text, ev))
        self.assertEqual(self.d.ok({"op": "ping"})["last_seq"], self.d.last_seq())
        self.assertOldRulesDecide()


    def test_missing_routing_file_is_rejected_with_file_line_column_and_old_rules_stay(self):
        # the coordinator's editor moved the file away at the wrong moment
        os.remove(self.d.routing_path)
        ev = self.sighup()
        self.assertRejected(ev, "", errors=1)
        self.assertOldRulesDecide()
        ev = self.sighup(ROUTING_NEW)
        self.assertEqual(ev["type"], "config.reloaded", ev)

    def test_warnings_neither_refuse_a_file_nor_count_as_errors(self):
        shadowed = routing(NEW_RULE_LIST[:-1]
                           + [rule("crisis-to-caw", {"urgency": "crisis"},
                                   forward=(CAW, "never used")), EVERYTHING_ELSE],
                           NEW_TEAMS, window="14d")
        ev = self.sighup(shadowed)  # a shadowed rule is a warning: the file is taken
        self.assertEqual(ev["type"], "config.reloaded", ev)
        self.assertEqual((ev["digest"], ev["rules"]), (sha256(shadowed), NEW_RULES + 1))
        self.assertNewRulesDecide()
        bad = _edit(shadowed, "assign: {teams: [psy]}", "assign: {teams: [psy-team]}")
        ev = self.sighup(bad)  # one error (and the warning, which is no error)
        self.assertRejected(ev, bad, where="psy-team", errors=1)
        self.assertNotIn("warning:", ev["error"])
        self.assertNewRulesDecide()


class DecidedReferrals(ReloadCase):
    def test_decided_referrals_keep_decision_and_start_by_when_their_connector_leaves(self):
        decided = [self.d.submit(family("3600")) for _ in range(6)]
        decided.append(self.d.submit(family("3630")))                 # forwarded
        decided.append(self.d.submit(family("3600", urgency="crisis")))  # forwarded
        by_sophie = [r for r in decided if r.get("connector") == "sophie"]
        by_kelly = [r for r in decided if r.get("connector") == "kelly"]
        self.assertTrue(by_sophie and by_kelly, "least_loaded spreads over both: %r" % decided)
        stats0 = self.d.ok({"op": "stats"})

        ev = self.sighup(ROUTING_NEW)  # sophie leaves, window 30d -> 14d, 3600 now forwarded
        self.assertEqual(ev["type"], "config.reloaded", ev)

        for rep in decided:
            got = self.d.ok({"op": "get", "id": rep["id"]})
            for k in ("status", "rule", "team", "connector", "start_by", "forward_to", "reason"):
                self.assertEqual(got.get(k), rep.get(k),
                                 "%s of %s changed on reload: %r" % (k, rep["id"], got))
        stats1 = self.d.ok({"op": "stats"})
        self.assertEqual(stats1["by_status"].get("assigned"), stats0["by_status"].get("assigned"),
                         "no open referral was dropped or re-decided: %r" % stats1["by_status"])
        self.assertEqual(stats1["by_status"].get("forwarded"),
                         stats0["by_status"].get("forwarded"))
        self.assertEqual(loads(stats1)["kelly"], len(by_kelly))
        self.assertNotIn("sophie", loads(stats1))
        self.assertEqual(loads(stats1)["murat"], 0, "nothing moves to the newcomer")
        listed = self.d.ok({"op": "list", "status": "assigned", "limit": 1000})["referrals"]
        self.assertEqual({r["id"] for r in listed if r["connector"] == "sophie"},
                         {r["id"] for r in by_sophie}, "sophie keeps her open referrals")

        # the partner retries an old submit: the decision it got, not a new one
        again = self.d.request(submit_req(self.d.ok({"op": "get", "id": decided[0]["id"]})
                                          ["referral"]))
        self.assertOk(again)
        self.assertIs(again["duplicate"], True, again)
        self.assertEqual((again["status"], again["rule"], again.get("connector"),
                          again["start_by"]),
                         (decided[0]["status"], decided[0]["rule"], decided[0]["connector"],
                          decided[0]["start_by"]))

        # sophie comes back: her open referrals were kept all along
        ev = self.sighup(ROUTING_OLD)
        self.assertEqual(ev["type"], "config.reloaded", ev)
        self.assertEqual(loads(self.d.ok({"op": "stats"}))["sophie"], len(by_sophie))


def picking(pick, people, capacity, **defaults):
    """Family support in genk (PEOPLE with CAPACITY each, or {person:
    capacity}) by PICK, the rest forwarded to CAW."""
    caps = capacity if isinstance(capacity, dict) else {p: capacity for p in people}
    return routing([rule("family", {"kind": "family_support"},
                         assign={"teams": ["genk"], "pick": pick}), EVERYTHING_ELSE],
                   [team("genk", [connector(p, caps[p]) for p in people])], **defaults)


class PickedOffers(ReloadCase):
    """routing.md, Checking and reloading: an offer made under a `pick`
    stays where it is across a reload that changes the file; the next
    referral goes where the new file says, counting the offers kept."""

    def assertKeptOffers(self, before, base):
        """BEFORE (submit replies) are still offered to the same connector,
        with their start_by, and the reload (since BASE) emitted nothing
        but config.reloaded."""
        for rep in before:
            got = self.d.ok({"op": "get", "id": rep["id"]})
            self.assertEqual((got["status"], got["connector"], got["start_by"]),
                             ("assigned", rep["connector"], rep["start_by"]), got)
        self.assertEqual([e["type"] for e in self.d.all_events(base)], ["config.reloaded"])

    def connectors(self, n):
        return [self.d.submit(family())["connector"] for _ in range(n)]


class LeastLoadedOffers(PickedOffers):
    START = picking("least_loaded", ["kelly", "sophie"], 3)

    def test_least_loaded_offers_stay_and_the_new_capacities_pick_the_next(self):
        before = [self.d.submit(family()) for _ in range(3)]
        # equal load, equal offers: by id; then the lower load
        self.assertEqual([r["connector"] for r in before], ["kelly", "sophie", "kelly"])
        base = self.d.last_seq()
        # kelly down to one place (she keeps both her offers), murat joins,
        # offers lapse later
        ev = self.sighup(picking("least_loaded", ["kelly", "sophie", "murat"],
                                 {"kelly": 1, "sophie": 3, "murat": 3}, accept_within="3d"))
        self.assertEqual(ev["type"], "config.reloaded", ev)
        self.assertKeptOffers(before, base)
        self.assertEqual(loads(self.d.ok({"op": "stats"})), {"kelly": 2, "sophie": 1, "murat": 0})
        # murat 0/3; then murat and sophie at 1/3 with one offer each: by
        # id; then sophie at 1/3; kelly, over her capacity, gets none
        self.assertEqual(self.connectors(3), ["murat", "murat", "sophie"])
        # kelly's offer is still hers to accept
        self.d.ok({"op": "update", "id": before[0]["id"], "status": "accepted",
                   "connector": "kelly"})


class RoundRobinOffers(PickedOffers):
    START = picking("round_robin", ["kelly", "sophie"], 5)

    def test_round_robin_offers_stay_and_the_turn_goes_on_in_the_new_order(self):
        before = [self.d.submit(family())]
        self.assertEqual(before[0]["connector"], "kelly")
        base = self.d.last_seq()
        # murat joins between kelly and sophie
        ev = self.sighup(picking("round_robin", ["kelly", "murat", "sophie"], 5))
        self.assertEqual(ev["type"], "config.reloaded", ev)
        self.assertKeptOffers(before, base)
        # the next after kelly, the one this rule offered to last, in the
        # new file's order
        self.assertEqual(self.connectors(4), ["murat", "sophie", "kelly", "murat"])
        self.assertEqual(loads(self.d.ok({"op": "stats"})), {"kelly": 2, "murat": 2, "sophie": 1})


class ReloadUnderLoad(ReloadCase):
    N_BEFORE = 40
    N_AFTER = 260

    def test_reload_during_pipelined_burst_each_referral_decided_by_exactly_one_rule_set(self):
        old_digest, new_digest = sha256(ROUTING_OLD), sha256(ROUTING_NEW)
        base = self.d.last_seq()
        s = self.d.dealer()
        self.addCleanup(s.close, 0)
        sent = {}

        def send(i):
            r = family("3600" if i % 2 else "3630")
            sent["b-%d" % i] = r
            s.send_json(submit_req(r, corr="b-%d" % i))

        replies = {}

        def collect(timeout_ms):
            while s.poll(timeout_ms):
                rep = s.recv_json()
                self.assertNotIn(rep.get("corr"), replies, "two replies to one request")
                replies[rep.get("corr")] = rep
                timeout_ms = 0
                if len(replies) == len(sent):
                    return

        for i in range(self.N_BEFORE):
            send(i)
        # the burst is being served: now the coordinator reloads
        wait_until(lambda: collect(100) or replies, timeout=5, what="the first reply")
        self.write_routing(ROUTING_NEW)
        self.d.signal(signal.SIGHUP)
        for i in range(self.N_BEFORE, self.N_BEFORE + self.N_AFTER):
            send(i)
            if i % 20 == 0:
                collect(0)
        wait_until(lambda: collect(50) or len(replies) == len(sent), timeout=30,
                   what="a reply to each of %d pipelined submits" % len(sent))
        self.assertEqual(set(replies), set(sent), "every request answered, exactly once")
        for corr, rep in replies.items():
            self.assertOk(rep, "%s: %r" % (corr, rep))

        reloads = wait_until(
            lambda: [e for e in self.config_events(base) if e["type"] == "config.reloaded"],
            timeout=5, what="config.reloaded")
        self.assertEqual(len(reloads), 1, reloads)
        reload_seq = reloads[0]["seq"]
        self.assertEqual(reloads[0]["digest"], new_digest)

        events = self.d.all_events(base)
        seqs = [e["seq"] for e in events]
        self.assertEqual(seqs, list(range(base + 1, base + 1 + len(events))),
                         "seq is gap-free and in order across the reload")
        self.assertEqual(seqs[-1], self.d.last_seq())
        decision_seq = {}
        for e in events:
            if e["type"] in ("referral.assigned", "referral.forwarded", "referral.waitlisted"):
                self.assertNotIn(e["id"], decision_seq, "one decision per referral: %r" % e)
                decision_seq[e["id"]] = e["seq"]

        OLD = {("3600", "family-genk", "assigned"), ("3630", "everything-else", "forwarded")}
        NEW = {("3600", "genk-centre-to-caw", "forwarded"),
               ("3630", "family-maasmechelen", "assigned")}
        n_old = n_new = 0
        for corr, rep in replies.items():
            key = (sent[corr]["postcode"], rep["rule"], rep["status"])
            got = self.d.ok({"op": "get", "id": rep["id"]})
            dseq = decision_seq.get(rep["id"])
            self.assertIsNotNone(dseq, "no decision event for %s" % corr)
            if key in OLD:
                n_old += 1
                want_digest = old_digest
                self.assertLess(dseq, reload_seq, "decided by the old rules after the reload: %r"
                                % rep)
            elif key in NEW:
                n_new += 1
                want_digest = new_digest
                self.assertGreater(dseq, reload_seq, "decided by the new rules before the "
                                   "reload: %r" % rep)
                if rep["status"] == "assigned":
                    self.assertEqual(rep["connector"], "lien")
            else:
                self.fail("%s decided by neither rule set: %r" % (corr, rep))
            self.assertIn("rules_digest", got, "get shows which rules decided: %r" % got)
            self.assertEqual(got["rules_digest"], want_digest,
                             "%s: decision %r but rules_digest of the other file" % (corr, key))
            if rep["status"] == "assigned":
                self.assertEqual(got["start_by"], rep["start_by"])
        self.assertGreaterEqual(n_old, 1, "the first reply came before SIGHUP")
        self.assertEqual(n_old + n_new, len(sent))
        if os.environ.get("RD_RELOAD_DEBUG"):
            print("burst: %d decided by the old rules, %d by the new" % (n_old, n_new))
        # after the reload, the new rules decide
        self.assertNewRulesDecide()
        self.assertTrue(self.d.running())


class RepeatedReloads(ReloadCase):
    def open_fds(self):
        try:
            return len(os.listdir("/proc/%d/fd" % self.d.proc.pid))
        except OSError:
            return None

    def test_ten_sighups_in_a_row_give_ten_config_reloaded_and_no_leak(self):
        base = self.d.last_seq()
        fds0 = self.open_fds()
        texts = [ROUTING_NEW, ROUTING_OLD] * 5
        for i, text in enumerate(texts):
            ev = self.sighup(text)
            self.assertEqual(ev["type"], "config.reloaded", "reload #%d: %r" % (i + 1, ev))
            self.assertEqual(ev["digest"], sha256(text), "reload #%d" % (i + 1))
        evs = self.config_events(base)
        self.assertEqual([e["type"] for e in evs], ["config.reloaded"] * 10)
        self.assertEqual(self.d.ok({"op": "ping"})["last_seq"], evs[-1]["seq"])
        self.assertOldRulesDecide()
        if fds0 is not None:
            self.assertLessEqual(self.open_fds(), fds0, "file descriptors leak on reload")
        self.d.stop()  # and it still stops cleanly (exit 0)

    def test_a_volley_of_sighups_is_survived_and_coalesced_at_most(self):
        # standard signals sent faster than they are read may merge: at
        # least one reload, at most one per signal, never a crash
        self.write_routing(ROUTING_NEW)
        base = self.d.last_seq()
        for _ in range(10):
            self.d.signal(signal.SIGHUP)
        wait_until(lambda: self.config_events(base), timeout=5, what="config.reloaded")
        self.assertNewRulesDecide()  # round trip: the signals have been read by now
        evs = self.config_events(base)
        self.assertTrue(1 <= len(evs) <= 10, evs)
        self.assertEqual({e["type"] for e in evs}, {"config.reloaded"})
        self.assertTrue(self.d.running())


class CheckOnly(rdtest.TestCase):
    """`referrald -t -c CONFIG`: the operator checks an edited file before
    reloading it."""

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="rdreload-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.ports = free_ports(2)

    def check(self, text):
        config = rdtest.write_config(self.tmp, "tcp://127.0.0.1:%d" % self.ports[0],
                                     "tcp://127.0.0.1:%d" % self.ports[1], routing=text)
        return run_daemon(["-t", "-c", config], cwd=self.tmp)

    def test_check_valid_routing_file_exits_0(self):
        for text in (ROUTING_OLD, ROUTING_NEW):
            p = self.check(text)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertNotRegex(p.stderr, r"routing\.yaml:\d+:\d+: (?!warning:)")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "referrald.db")),
                         "-t starts nothing")

    def test_check_invalid_routing_file_exits_78_with_every_error_on_stderr(self):
        p = self.check(BAD_THREE)
        self.assertEqual(p.returncode, EX_CONFIG, p.stdout + p.stderr)
        errs = [l for l in p.stderr.splitlines() if ERR_RE.match(l)]
        where = sorted(pos(BAD_THREE, n) for n in ("colour", "maasmechlen", "10q"))
        self.assertEqual([(int(ERR_RE.match(l).group(2)), int(ERR_RE.match(l).group(3)))
                          for l in errs], where, p.stderr)
        for l in errs:
            self.assertTrue(ERR_RE.match(l).group(4).strip(), "an error has a message: %r" % l)
        self.assertIn("colour", errs[0])
        self.assertIn("10q", errs[1])
        self.assertIn("maasmechlen", errs[2])

    def test_check_syntax_error_exits_78_with_file_line_column(self):
        p = self.check(BAD_SYNTAX)
        self.assertEqual(p.returncode, EX_CONFIG, p.stdout + p.stderr)
        errs = [l for l in p.stderr.splitlines() if ERR_RE.match(l)]
        self.assertGreaterEqual(len(errs), 1, p.stderr)
        line = int(ERR_RE.match(errs[0]).group(2))
        self.assertGreaterEqual(line, pos(BAD_SYNTAX, "postcodes: ['3630'")[0], errs[0])

    def test_check_and_reload_report_the_same_first_error(self):
        p = self.check(BAD_THREE)
        first = [l for l in p.stderr.splitlines() if ERR_RE.match(l)][0]
        m = ERR_RE.match(first)
        d = self.daemon(routing=ROUTING_OLD)
        with open(d.routing_path, "w") as f:
            f.write(BAD_THREE)
        base = d.last_seq()
        d.signal(signal.SIGHUP)
        evs = wait_until(lambda: [e for e in d.all_events(base)
                                  if e["type"].startswith("config.")], timeout=5,
                         what="config.rejected")
        self.assertEqual(evs[0]["type"], "config.rejected")
        em = ERR_RE.match(evs[0]["error"])
        self.assertTrue(em, evs[0])
        self.assertEqual(em.group(2, 3, 4), m.group(2, 3, 4))
        self.assertEqual(evs[0]["errors"], len([l for l in p.stderr.splitlines()
                                                if ERR_RE.match(l)]))


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
