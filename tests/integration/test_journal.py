"""referrald and a real systemd-journald.

protocol.md "Journal": every event also goes to the journal with MESSAGE (no
personal data), MESSAGE_ID (one per event type, in the catalog), PRIORITY,
REFERRAL_ID, PARTNER, REF, STATUS, RULE, TEAM, CONNECTOR, EVENT_SEQ (those
that apply) and SYSLOG_IDENTIFIER=referrald; daemon.md: `journal_events:
decisions` leaves out referral.received and the window events, `none` every
event.

The journal is a real /lib/systemd/systemd-journald, started by this test in
a private mount namespace (`unshare -m`, also a private network namespace so
that it can not reach the host's audit netlink) with a folder of ours bound
over /run/systemd and /run/log and its own journald.conf: it creates
/run/systemd/journal/socket there and writes /run/log/journal/MACHINE-ID/.
referrald runs in another private mount namespace with the same folder bound
over /run/systemd, so it finds the socket and logs to that journald; the
host's /run is never touched. journalctl --directory reads the files back.

Needs root (mount namespaces); skipped otherwise, with the reason.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

import rdtest
from rdrouting import BROKEN, windows
from rdtest import referral

JOURNALD = "/lib/systemd/systemd-journald"

# One MESSAGE_ID per event type (systemd/referrald.catalog, daemon/log.c).
EVENT_IDS = {
    "referral.received": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b10",
    "referral.assigned": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b11",
    "referral.accepted": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b12",
    "referral.declined": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b13",
    "referral.offer_expired": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b14",
    "referral.started": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b15",
    "referral.closed": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b16",
    "referral.withdrawn": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b17",
    "referral.waitlisted": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b18",
    "referral.forwarded": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b19",
    "referral.window_at_risk": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b1a",
    "referral.window_missed": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b1b",
    "referral.erased": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b1c",
    "config.reloaded": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b1d",
    "config.rejected": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b1e",
    "referral.needs_attention": "7c1a9e0b5d6f4e2a8b3c4d5e6f7a8b1f",
}
MSG_STARTED = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e01"
MSG_STOPPED = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e02"
MSG_RELOADED = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e03"
MSG_RELOAD_REFUSED = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e04"
MSG_LEAD_TAKEN = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e0a"
MSG_LEAD_LOST = "b3f2e4a1c8d94a0f9e1d2c3b4a5f6e0b"

LOG_WARNING, LOG_NOTICE, LOG_INFO = 4, 5, 6
WARNING_EVENTS = {"referral.window_at_risk", "referral.window_missed", "config.rejected",
                  "referral.needs_attention"}
NOT_DECISIONS = {"referral.received", "referral.window_at_risk", "referral.window_missed"}

# event key -> journal field
FIELDS = {"id": "REFERRAL_ID", "partner": "PARTNER", "ref": "REF", "status": "STATUS",
          "rule": "RULE", "team": "TEAM", "connector": "CONNECTOR",
          "forward_to": "FORWARD_TO", "reason_code": "REASON_CODE", "attention": "ATTENTION"}

# Windows of 5 s, at risk 3 s before: window events within the test.
ROUTING = windows("5s", "3s")

JOURNALD_CONF = """\
[Journal]
Storage=volatile
ReadKMsg=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
RateLimitIntervalSec=0
RuntimeMaxUse=64M
"""

# Personal data we submit, each unique to this run: none may reach the journal.
SECRET = "Qz%sx" % os.urandom(5).hex()
FAMILY = "Vanderstraeten%s" % SECRET
PHONE = "+32 89 55 %s" % SECRET
EMAIL = "gezin.%s@example.org" % SECRET
ADDRESS = "Kolenspoor %s, 3600 Genk" % SECRET
NOTE = "Vader vraagt hulp %s bij schoolweigering." % SECRET
REASON = "de moeder %s spreekt enkel Arabisch" % SECRET  # a connector's free text


def private_referral(**kw):
    r = referral(**kw)
    r["family"] = {"name": FAMILY, "phone": PHONE, "email": EMAIL, "address": ADDRESS}
    r["note"] = NOTE
    return r


def skip_reason():
    if os.geteuid() != 0:
        return "needs root to start a private systemd-journald (mount namespaces)"
    for tool in (JOURNALD, shutil.which("unshare"), shutil.which("journalctl")):
        if not tool or not os.access(tool, os.X_OK):
            return "missing %s" % (tool or "unshare/journalctl")
    return None


class Journald:
    """A private systemd-journald; its files in self.dir/run-log/journal."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rdjournal-", dir="/tmp")
        self.run_systemd = os.path.join(self.dir, "run-systemd")
        self.run_log = os.path.join(self.dir, "run-log")
        os.mkdir(self.run_systemd)
        os.mkdir(self.run_log)
        conf = os.path.join(self.dir, "journald.conf")
        with open(conf, "w") as f:
            f.write(JOURNALD_CONF)
        self.log = open(os.path.join(self.dir, "journald.log"), "wb")
        script = ("mount --bind \"$1\" /run/systemd && mount --bind \"$2\" /run/log && "
                  "mount --bind \"$3\" /etc/systemd/journald.conf && exec \"$4\"")
        # unshare(1) without --fork execs in place: self.proc.pid is journald's.
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--net", "--propagation", "private",
             "/bin/sh", "-c", script, "sh", self.run_systemd, self.run_log, conf, JOURNALD],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.socket = os.path.join(self.run_systemd, "journal", "socket")
        try:
            rdtest.wait_until(lambda: os.path.exists(self.socket) or self.proc.poll() is not None,
                              10.0, what="journald's socket")
        except AssertionError:
            self.close()
            raise
        if self.proc.poll() is not None:
            out = self.output()
            self.close()
            raise unittest.SkipTest("systemd-journald did not start here (exit %s): %s"
                                    % (self.proc.returncode, out))

    def output(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wrapper(self):
        """The command prefix that runs a program with our /run/systemd."""
        return ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                'mount --bind "$1" /run/systemd && shift && exec "$@"', "sh",
                self.run_systemd]

    def entries(self, *matches):
        """Every journal entry (dicts, as journalctl -o json) matching MATCHES."""
        out = subprocess.run(
            ["journalctl", "--directory", os.path.join(self.run_log, "journal"),
             "--no-pager", "-o", "json"] + list(matches),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        if out.returncode not in (0, 1) or (out.returncode == 1 and out.stdout):
            raise AssertionError("journalctl failed (%d): %s"
                                 % (out.returncode, out.stderr.decode()))
        return [json.loads(l) for l in out.stdout.decode().splitlines() if l.strip()]

    def raw(self):
        """The text of every entry in the journal, for searching."""
        out = subprocess.run(
            ["journalctl", "--directory", os.path.join(self.run_log, "journal"),
             "--no-pager", "-o", "export"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30)
        return out.stdout

    def close(self):
        rdtest.terminate(self.proc, 10)
        self.log.close()
        if os.environ.get("RD_KEEP_TMP"):
            print("test_journal: kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class JournalDaemon(rdtest.Daemon):
    """A Daemon that logs to our journald: without the harness's
    REFERRALD_LOG_TARGET (unless ENV names one), it decides where to log as
    under systemd."""

    def __init__(self, journald, **kw):
        self.journald = journald
        env = dict(kw.pop("env", None) or {})
        env.setdefault("REFERRALD_LOG_TARGET", None)
        super().__init__(start=False, env=env, **kw)

    def start(self, timeout=rdtest.START_TIMEOUT):
        # the namespace wrapper in front; unshare and sh exec in place, so
        # self.proc.pid is the daemon's
        return super().start(timeout, wrapper=self.journald.wrapper())

    def entries(self, *matches):
        return self.journald.entries("_PID=%d" % self.proc.pid, *matches)

    def stop_and_collect(self):
        """Stop; wait until the journal has the stop message; return every
        entry this daemon wrote."""
        self.stop()
        rdtest.wait_until(lambda: self.entries("MESSAGE_ID=" + MSG_STOPPED), 10.0,
                          what="the stop message in the journal")
        return self.entries()


def events_of(entries):
    return [e for e in entries if "EVENT_TYPE" in e]


class JournaldCase(rdtest.TestCase):
    """One private journald (cls.journald) for the class; skipped with the
    reason where it cannot run."""

    @classmethod
    def setUpClass(cls):
        why = skip_reason()
        if why:
            raise unittest.SkipTest(why)
        cls.journald = Journald()
        cls.addClassCleanup(cls.journald.close)


class JournalTest(JournaldCase):

    def jdaemon(self, journal_events):
        d = JournalDaemon(self.journald, routing=ROUTING,
                          extra_yaml="journal_events: %s\n" % journal_events)
        self.addCleanup(d.close)
        d.start()
        return d

    def test_daemon_logs_to_the_journal_not_stderr(self):
        d = self.jdaemon("all")
        rdtest.wait_until(lambda: d.entries("MESSAGE_ID=" + MSG_STARTED), 10.0,
                          what="the start message in the journal")
        self.assertOk(d.submit(private_referral()))
        entries = d.stop_and_collect()
        self.assertTrue(events_of(entries))
        with open(d.log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        self.assertNotIn("referrald: event", log, "events went to stderr as well")
        started = d.entries("MESSAGE_ID=" + MSG_STARTED)[0]
        self.assertEqual(started["PRIORITY"], str(LOG_INFO))
        self.assertEqual(started["SYSLOG_IDENTIFIER"], "referrald")
        self.assertEqual(d.entries("MESSAGE_ID=" + MSG_STOPPED)[0]["PRIORITY"], str(LOG_INFO))

    def test_all_events(self):
        """journal_events: all. Every event of the replay is in the journal,
        once, with its MESSAGE_ID, PRIORITY and fields; no personal data."""
        d = self.jdaemon("all")
        # assigned, accepted, started, closed
        a = d.submit(private_referral(kind="family_support"))
        self.assertOk(a)
        for st in ("accepted", "started", "closed"):
            d.ok({"op": "update", "id": a["id"], "status": st, "connector": a["connector"]})
        # forwarded, then erased
        b = d.submit(private_referral(urgency="crisis"))
        self.assertEqual(b["status"], "forwarded")
        d.ok({"op": "erase", "id": b["id"]})
        # assigned to psy-1, then one waitlisted: both open, so their
        # windows come at risk and are missed
        c = d.submit(private_referral(kind="first_line_psychology"))
        self.assertEqual(c["status"], "assigned")
        w = d.submit(private_referral(kind="first_line_psychology"))
        self.assertEqual(w["status"], "waitlisted")
        # declined (and offered to the other), declined again: nobody left,
        # a coordinator must act (rev 2); then withdrawn. The codes go to the
        # journal, the free text never
        e = d.submit(private_referral(kind="family_support"))
        d.ok({"op": "update", "id": e["id"], "status": "declined", "connector": e["connector"],
              "reason_code": "language", "reason": REASON})
        other = d.ok({"op": "get", "id": e["id"]})["connector"]
        d.ok({"op": "update", "id": e["id"], "status": "declined", "connector": other,
              "reason_code": "distance", "reason": REASON})
        d.ok({"op": "update", "id": e["id"], "status": "withdrawn", "reason_code": "moved",
              "reason": REASON})
        # a good reload, then a refused one
        d.signal(signal.SIGHUP)
        rdtest.wait_until(lambda: any(x["type"] == "config.reloaded" for x in d.all_events()),
                          10.0, what="config.reloaded")
        with open(d.routing_path, "w") as f:
            f.write(BROKEN)
        d.signal(signal.SIGHUP)
        rdtest.wait_until(lambda: any(x["type"] == "config.rejected" for x in d.all_events()),
                          10.0, what="config.rejected")
        rdtest.wait_until(
            lambda: sum(x["type"] == "referral.window_missed" for x in d.all_events()) >= 2,
            15.0, what="two referral.window_missed")
        replay = d.all_events()
        entries = d.stop_and_collect()

        types = {ev["type"] for ev in replay}
        want = set(EVENT_IDS) - {"referral.offer_expired"}
        self.assertEqual(want - types, set(), "the scenario missed event types")

        by_seq = {}
        for j in events_of(entries):
            self.assertNotIn(j["EVENT_SEQ"], by_seq, "event %s twice" % j["EVENT_SEQ"])
            by_seq[j["EVENT_SEQ"]] = j
        self.assertEqual(sorted(int(s) for s in by_seq), [ev["seq"] for ev in replay])
        for ev in replay:
            j = by_seq[str(ev["seq"])]
            with self.subTest(seq=ev["seq"], type=ev["type"]):
                self.assertEqual(j["EVENT_TYPE"], ev["type"])
                self.assertEqual(j["MESSAGE_ID"], EVENT_IDS[ev["type"]])
                self.assertEqual(j["PRIORITY"], str(LOG_WARNING if ev["type"] in WARNING_EVENTS
                                                    else LOG_INFO))
                self.assertEqual(j["SYSLOG_IDENTIFIER"], "referrald")
                self.assertTrue(j.get("MESSAGE"), "no MESSAGE")
                for key, field in FIELDS.items():
                    if ev.get(key):
                        self.assertEqual(j.get(field), str(ev[key]), field)
                    else:
                        self.assertNotIn(field, j, "%s for an event without %s" % (field, key))
                if ev["type"].startswith("referral."):
                    self.assertIn(ev["id"], j["MESSAGE"])

        # operational messages: reloaded (notice), refused (warnings)
        reloaded = [j for j in entries if j.get("MESSAGE_ID") == MSG_RELOADED]
        self.assertTrue(reloaded)
        self.assertTrue(all(j["PRIORITY"] == str(LOG_NOTICE) for j in reloaded), reloaded)
        refused = [j for j in entries if j.get("MESSAGE_ID") == MSG_RELOAD_REFUSED]
        self.assertTrue(refused, "no reload-refused message")
        self.assertTrue(all(j["PRIORITY"] == str(LOG_WARNING) for j in refused),
                        [(j["PRIORITY"], j["MESSAGE"]) for j in refused])
        self.assertTrue(any("routing.yaml:" in j["MESSAGE"] for j in refused),
                        "the error is not named FILE:LINE:COLUMN")

        # no personal data anywhere in the journal, in any field
        raw = self.journald.raw()
        self.assertIn(a["id"].encode(), raw)
        for secret in (FAMILY, PHONE, EMAIL, ADDRESS, NOTE, REASON, SECRET):
            self.assertNotIn(secret.encode(), raw, "personal data in the journal")

    def test_decisions(self):
        """journal_events: decisions: no referral.received, no window events."""
        d = self.jdaemon("decisions")
        a = d.submit(private_referral(kind="family_support"))
        self.assertOk(a)
        d.signal(signal.SIGHUP)
        rdtest.wait_until(
            lambda: {"referral.window_missed", "config.reloaded"}
            <= {x["type"] for x in d.all_events()}, 15.0, what="window_missed and a reload")
        replay = d.all_events()
        self.assertTrue(NOT_DECISIONS <= {x["type"] for x in replay})
        entries = d.stop_and_collect()
        got = {j["EVENT_TYPE"] for j in events_of(entries)}
        self.assertEqual(got, {x["type"] for x in replay} - NOT_DECISIONS)
        self.assertIn("referral.assigned", got)
        self.assertIn("config.reloaded", got)
        self.assertFalse(NOT_DECISIONS & got)

    def test_none(self):
        """journal_events: none: no event at all; operational messages stay."""
        d = self.jdaemon("none")
        self.assertOk(d.submit(private_referral(kind="family_support")))
        self.assertOk(d.submit(private_referral(urgency="crisis")))
        self.assertGreaterEqual(len(d.all_events()), 4)
        entries = d.stop_and_collect()
        self.assertEqual(events_of(entries), [])
        self.assertFalse([j for j in entries if j.get("MESSAGE_ID") in EVENT_IDS.values()])
        self.assertTrue([j for j in entries if j.get("MESSAGE_ID") == MSG_STARTED])



class RoleTest(JournaldCase):
    """(rev 2) Several daemons on PostgreSQL: each change of role is in the
    journal with a message id of its own, so that monitoring can alert on a
    failover (operations.md, "Two machines")."""

    def one_entry(self, d, msg_id, priority, words):
        """Await D's entry with MSG_ID; it is the only one, at PRIORITY,
        and its message says WORDS."""
        rdtest.wait_until(lambda: d.entries("MESSAGE_ID=" + msg_id), 10.0,
                          what="the entry %s in the journal" % msg_id)
        found = d.entries("MESSAGE_ID=" + msg_id)
        self.assertEqual(len(found), 1, found)
        self.assertEqual(found[0]["PRIORITY"], str(priority))
        self.assertIn(words, found[0]["MESSAGE"])

    def test_a_daemon_that_takes_and_loses_the_lead_says_so_with_its_message_ids(self):
        d = JournalDaemon(self.journald, routing=ROUTING, store="postgresql")
        self.addCleanup(d.close)
        d.start()
        self.one_entry(d, MSG_LEAD_TAKEN, LOG_NOTICE, "took the lead")
        self.assertEqual(d.entries("MESSAGE_ID=" + MSG_LEAD_LOST), [])
        # its database session ends: a standby, then (no other daemon) active again
        self.assertEqual(d.pg_end_lead_session(), [("t",)], "the daemon's session held the lead")
        self.one_entry(d, MSG_LEAD_LOST, LOG_WARNING, "lost the lead")
        rdtest.wait_until(lambda: len(d.entries("MESSAGE_ID=" + MSG_LEAD_TAKEN)) == 2, 15.0,
                          what="the lead taken again, in the journal")
        self.assertEqual(d.ok({"op": "ping"})["role"], "active")


if __name__ == "__main__":
    unittest.main()
