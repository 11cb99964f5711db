"""What an operator watches (docs/operations.md, "Monitoring"; protocol.md,
`ping` and `stats`, the addition `routing`; tools.md, `referralctl stats
--openmetrics`).

An operator who sent SIGHUP must see, in `referralctl ping` and `stats`,
which routing file is in force (its digest, where it came from, since
when), without finding the pid or reading the journal; a refused reload
leaves the old one named. node_exporter's textfile collector reads
`referralctl stats --openmetrics`: it must parse as OpenMetrics (checked
with the Prometheus client's own parser, Debian's python3-prometheus-client)
and carry the same figures as the `stats` reply.
"""

import hashlib
import json
import os
import re
import signal
import subprocess
import time

import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import (
    text_string_to_metric_families as text_string_to_metric_families_0_0_4)

import rdtest
from rdrouting import (BROKEN, CRISIS, GENK_POSTCODES, REST, basic, genk, psy, routing, rule)
from rdtest import free_ports, referral, terminate, wait_until

REFERRALCTL = os.environ.get("REFERRALCTL") or os.path.join(rdtest.SOURCE_DIR, "build",
                                                            "referralctl")

# Debian's prometheus-node-exporter (not among tools/do's packages: it
# starts a service listening on port 9100 when installed)
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"

ROUTING_A = basic(5)
ROUTING_B = basic(7)

ROUTING_LINE = re.compile(r"(?m)^routing file in force: digest ([0-9a-f]{64}), from (.+), "
                          r"since (\S+)$")


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ctl(d, *args, timeout_ms=None):
    extra = ["-t", str(timeout_ms)] if timeout_ms is not None else []
    return subprocess.run([REFERRALCTL, "-e", d.intake] + extra + list(args),
                          capture_output=True, text=True, timeout=30, env=rdtest.clean_env())


class RoutingInForce(rdtest.TestCase):
    """ping and stats name the routing file in force, JSON and text."""

    def run_ctl(self, d, *args):
        p = ctl(d, *args)
        self.assertExit(p, 0)
        return p.stdout

    def shown(self, d):
        """The routing file in force as every view shows it, asserted to
        agree: (digest, source, since) of ping's and stats' replies, of
        referralctl's --json and of its text lines."""
        views = {}
        for op in ("ping", "stats"):
            ro = d.ok({"op": op})["routing"]
            self.assertEqual(sorted(ro), ["digest", "in_force_since", "source"], ro)
            views[op] = (ro["digest"], ro["source"], ro["in_force_since"])
            ro = json.loads(self.run_ctl(d, op, "--json"))["routing"]
            views[op + " --json"] = (ro["digest"], ro["source"], ro["in_force_since"])
            lines = ROUTING_LINE.findall(self.run_ctl(d, op))
            self.assertEqual(len(lines), 1, "referralctl %s prints the routing file once" % op)
            views[op + " text"] = lines[0]
        self.assertEqual(len(set(views.values())), 1, views)
        digest, source, since = views["ping"]
        return digest, source, self.assertTime(since)

    def sighup(self, d, text):
        """Write TEXT as the routing file, SIGHUP, and return the config
        event that follows."""
        tmp = d.routing_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, d.routing_path)
        base = d.last_seq()
        d.signal(signal.SIGHUP)
        return wait_until(lambda: [e for e in d.all_events(base) if e["type"].startswith("config.")],
                          what="the config event of the SIGHUP")[0]

    def test_after_a_reload_ping_and_stats_name_the_new_file_and_a_later_time(self):
        d = self.daemon(routing=ROUTING_A)
        digest, source, since_a = self.shown(d)
        self.assertEqual(digest, sha256(ROUTING_A))
        self.assertEqual(os.path.realpath(source), os.path.realpath(d.routing_path))

        ev = self.sighup(d, ROUTING_B)
        self.assertEqual(ev["type"], "config.reloaded")
        digest, source, since_b = self.shown(d)
        self.assertEqual(digest, sha256(ROUTING_B))
        self.assertEqual(digest, ev["digest"])
        self.assertEqual(os.path.realpath(source), os.path.realpath(d.routing_path))
        self.assertGreater(since_b, since_a)
        self.assertLess(abs((since_b - self.assertTime(ev["at"])).total_seconds()), 1.0,
                        "in force since the reload that config.reloaded reports")

        ev = self.sighup(d, BROKEN)
        self.assertEqual(ev["type"], "config.rejected")
        self.assertEqual(self.shown(d), (sha256(ROUTING_B), source, since_b),
                         "a refused reload leaves the file in force and its time")

    def test_the_same_file_again_keeps_its_time_in_force(self):
        d = self.daemon(routing=ROUTING_A)
        before = self.shown(d)
        self.assertEqual(self.sighup(d, ROUTING_A)["type"], "config.reloaded")
        self.assertEqual(self.shown(d), before, "a reload of the same file")
        d.restart()
        self.assertEqual(self.shown(d), before, "a restart with the same file")

    def test_the_built_in_example_is_named_so(self):
        d = self.daemon()
        digest, source, _ = self.shown(d)
        self.assertEqual(source, "built-in example")
        self.assertEqual(digest, d.ok({"op": "stats"})["rules_digest"])


class RoutingForRoles(rdtest.SecuredCase):
    """The routing file goes to those who get config.* events."""

    CLIENTS = [("coord", "coordinator", "coordinator"), ("genk", "ocmw-genk", "partner"),
               ("kelly", "kelly", "connector"), ("grafana", "grafana", "monitor")]
    ROUTING = ROUTING_A

    def test_partners_and_connectors_ping_without_the_routing_file(self):
        for name, has in (("coord", True), ("grafana", True), ("genk", False),
                          ("kelly", False)):
            with self.subTest(client=name):
                rep = self.as_(name, {"op": "ping"})
                self.assertOk(rep)
                self.assertEqual("routing" in rep, has, rep)
                if has:
                    self.assertEqual(rep["routing"]["digest"], sha256(ROUTING_A))


# psy-1 takes one psychology referral, the rest wait; family support in
# genk's postcodes, and 3700 (no team) waits for a coordinator; windows of
# 2 s, so that what does not start misses its window within the test.
FIGURES = routing([CRISIS,
                   rule("psychology", {"kind": "first_line_psychology"}, assign="psy",
                        otherwise="waitlist"),
                   rule("family", {"kind": "family_support", "postcode": GENK_POSTCODES + ["3700"]},
                        assign={"teams": ["genk"], "by_postcode": True}, otherwise="waitlist"),
                   REST],
                  [genk(2, GENK_POSTCODES), psy(1)], window="2s", accept_within="60s", at_risk="1s")

# name -> (type, unit) of every family, each sample named as the parser
# names them (a counter's with _total)
FAMILIES = {
    "referrald_referrals": ("gauge", ""),
    "referrald_connector_capacity": ("gauge", ""),
    "referrald_connector_load": ("gauge", ""),
    "referrald_window_started": ("counter", ""),
    "referrald_window_in_time": ("counter", ""),
    "referrald_window_missed": ("counter", ""),
    "referrald_waitlist_length": ("gauge", ""),
    "referrald_waitlist_oldest_age_seconds": ("gauge", "seconds"),
    "referrald_waitlist_attention": ("gauge", ""),
    "referrald_forwarded": ("gauge", ""),
    "referrald_last_seq": ("gauge", ""),
    "referrald_routing_info": ("gauge", ""),
    "referrald_routing_in_force_timestamp_seconds": ("gauge", "seconds"),
}
TEXT_0_0_4_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
STATUSES = ["waitlisted", "assigned", "accepted", "started", "forwarded", "closed", "withdrawn"]


class OpenMetrics(rdtest.TestCase):

    def openmetrics(self, d):
        """`referralctl stats --openmetrics`, parsed: {family name: family},
        and its text."""
        p = ctl(d, "stats", "--openmetrics")
        self.assertExit(p, 0)
        self.assertTrue(p.stdout.endswith("\n# EOF\n"), p.stdout[-200:])
        # node_exporter's textfile collector reads the file with the older
        # text parser (0.0.4), which refuses the whole file for another type
        self.assertEqual(set(re.findall(r"(?m)^# TYPE \S+ (\S+)$", p.stdout)) - TEXT_0_0_4_TYPES,
                         set(), "a type that node_exporter does not know")
        fams = {}
        for fam in text_string_to_metric_families(p.stdout):
            self.assertNotIn(fam.name, fams)
            fams[fam.name] = fam
        return fams, p.stdout

    def values(self, fam, *labels):
        """{tuple of LABELS' values: value} of the samples of FAM."""
        out = {}
        for s in fam.samples:
            key = tuple(s.labels[k] for k in labels)
            self.assertNotIn(key, out, "one sample per label set")
            out[key] = s.value
        return out

    def test_the_figures_parse_as_openmetrics_and_equal_those_of_stats(self):
        d = self.daemon(routing=FIGURES)
        fam = [d.submit(referral(postcode="3600")) for _ in range(2)]
        d.ok({"op": "update", "id": fam[0]["id"], "status": "started",
              "connector": fam[0]["connector"]})
        d.ok({"op": "update", "id": fam[1]["id"], "status": "accepted",
              "connector": fam[1]["connector"]})
        d.submit(referral(urgency="crisis"))
        d.submit(referral(postcode="1000"))
        for _ in range(3):
            d.submit(referral(kind="first_line_psychology"))
        self.assertEqual(d.submit(referral(postcode="3700"))["status"], "waitlisted")
        # everything that did not start misses its window: then the figures stay
        wait_until(lambda: d.ok({"op": "stats"})["window"]["missed"] == 5, timeout=15,
                   interval=0.1, what="five referral.window_missed")

        t0 = time.time()
        fams, text = self.openmetrics(d)
        t1 = time.time()
        rep = d.ok({"op": "stats"})

        self.assertEqual(set(fams), set(FAMILIES))
        for name, fam in fams.items():
            with self.subTest(family=name):
                self.assertEqual((fam.type, fam.unit), FAMILIES[name])
                self.assertTrue(fam.documentation, "a HELP line")
                self.assertIn("# TYPE %s %s\n" % (name, fam.type), text)

        self.assertEqual(self.values(fams["referrald_referrals"], "status"),
                         {(s,): rep["by_status"].get(s, 0) for s in STATUSES})
        conns = {(t["id"], c["id"]): c for t in rep["teams"] for c in t["connectors"]}
        for what in ("capacity", "load"):
            self.assertEqual(self.values(fams["referrald_connector_" + what], "team", "connector"),
                             {k: c[what] for k, c in conns.items()})
        self.assertIn(1, [c["load"] for c in conns.values()])
        w = rep["window"]
        self.assertEqual((w["started"], w["in_time"], w["missed"]), (1, 1, 5))
        for key in ("started", "in_time", "missed"):
            fam = fams["referrald_window_" + key]
            self.assertEqual([(s.name, s.value) for s in fam.samples],
                             [("referrald_window_%s_total" % key, w[key])])
        wl = rep["waitlist"]
        self.assertEqual((wl["length"], wl["attention"]), (3, 1))
        self.assertEqual(fams["referrald_waitlist_length"].samples[0].value, wl["length"])
        self.assertEqual(fams["referrald_waitlist_attention"].samples[0].value, wl["attention"])
        oldest = self.assertTime(wl["oldest"]).timestamp()
        age = fams["referrald_waitlist_oldest_age_seconds"].samples[0].value
        self.assertGreaterEqual(age, t0 - oldest - 0.002)
        self.assertLessEqual(age, t1 - oldest + 0.002)
        self.assertEqual(self.values(fams["referrald_forwarded"], "to"),
                         {(t["to"],): t["count"] for t in rep["forwarded"]["to"]})
        self.assertEqual(len(rep["forwarded"]["to"]), 2)
        self.assertEqual(fams["referrald_last_seq"].samples[0].value, rep["last_seq"])
        info = fams["referrald_routing_info"].samples
        self.assertEqual([(s.name, s.labels, s.value) for s in info],
                         [("referrald_routing_info", {"digest": rep["routing"]["digest"],
                                                      "source": rep["routing"]["source"]}, 1)])
        self.assertAlmostEqual(
            fams["referrald_routing_in_force_timestamp_seconds"].samples[0].value,
            self.assertTime(rep["routing"]["in_force_since"]).timestamp(), places=3)

    def test_an_empty_waitlist_is_0_seconds_old(self):
        d = self.daemon(routing=FIGURES)
        fams, _ = self.openmetrics(d)
        self.assertIsNone(d.ok({"op": "stats"})["waitlist"]["oldest"])
        self.assertEqual(fams["referrald_waitlist_oldest_age_seconds"].samples[0].value, 0)
        self.assertEqual(self.values(fams["referrald_referrals"], "status"),
                         {(s,): 0 for s in STATUSES})

    def test_a_source_with_quotes_backslashes_and_a_newline_is_escaped(self):
        odd = 'we"ird\\dir\nname'
        d = self.daemon(start=False, extra_yaml="routing: %s\n" % json.dumps(odd + "/r.yaml"))
        os.mkdir(os.path.join(d.dir, odd))
        with open(os.path.join(d.dir, odd, "r.yaml"), "w") as f:
            f.write(ROUTING_A)
        d.start()
        source = d.ok({"op": "stats"})["routing"]["source"]
        self.assertTrue(source.endswith(odd + "/r.yaml"), source)
        fams, text = self.openmetrics(d)
        self.assertEqual(fams["referrald_routing_info"].samples[0].labels["source"], source)
        self.assertIn('we\\"ird\\\\dir\\nname/r.yaml"', text)

    def test_node_exporter_reads_the_file_written_as_operations_md_says(self):
        if not os.access(NODE_EXPORTER, os.X_OK):
            self.skipTest("%s is not installed (Debian: prometheus-node-exporter)" % NODE_EXPORTER)
        d = self.daemon(routing=FIGURES)
        d.submit(referral(postcode="3700"))
        folder = os.path.join(d.dir, "textfile")
        os.mkdir(folder)
        out = os.path.join(folder, "referrald.prom")
        p = subprocess.run(["/bin/sh", "-c", '"$CTL" -e "$EP" stats --openmetrics > "$OUT.tmp" '
                            '&& mv "$OUT.tmp" "$OUT"'], capture_output=True, text=True, timeout=30,
                           env=rdtest.clean_env({"CTL": REFERRALCTL, "EP": d.intake, "OUT": out}))
        self.assertExit(p, 0)
        rep = d.ok({"op": "stats"})
        port = free_ports(1)[0]
        ne = subprocess.Popen([NODE_EXPORTER, "--collector.disable-defaults",
                               "--collector.textfile", "--collector.textfile.directory=" + folder,
                               "--web.listen-address=127.0.0.1:%d" % port],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.addCleanup(terminate, ne)

        def scrape():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2) as r:
                    return r.read().decode("utf-8")
            except OSError:
                return None
        text = wait_until(scrape, timeout=10, interval=0.1, what="node_exporter's /metrics")
        got = {}
        for fam in text_string_to_metric_families_0_0_4(text):
            for s in fam.samples:
                got[(s.name, tuple(sorted(s.labels.items())))] = s.value
        self.assertEqual(got[("node_textfile_scrape_error", ())], 0, text)
        self.assertEqual(got[("referrald_waitlist_attention", ())], 1)
        self.assertEqual(got[("referrald_window_missed_total", ())], rep["window"]["missed"])
        self.assertEqual(got[("referrald_routing_info",
                              (("digest", rep["routing"]["digest"]),
                               ("source", rep["routing"]["source"])))], 1)

    def test_no_reply_prints_nothing_and_fails(self):
        d = self.daemon(routing=FIGURES)
        d.stop()
        p = ctl(d, "stats", "--openmetrics", timeout_ms=300)
        self.assertExit(p, 1)
        self.assertEqual(p.stdout, "", "nothing that a rename could put in place")

    def test_openmetrics_and_json_together_are_a_usage_error(self):
        d = self.daemon(routing=FIGURES)
        p = ctl(d, "stats", "--openmetrics", "--json")
        self.assertExit(p, 2)
        self.assertEqual(p.stdout, "")
        self.assertIn("--openmetrics", p.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
