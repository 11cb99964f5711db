"""referralctl replay --synthetic (tools.md, "What-if replay", "HTML
output"): what a coordinator runs before a routing file goes live, and what
scripts read from it.

Fixtures in tests/data/: synthetic_example.yaml (tools.md's model, a year of
375 referrals), replay_baseline.yaml (two family connectors, a
psychologist) and replay_candidate.yaml (the same with one more
psychologist). HTML_REPLAY_SCREENSHOTS=DIR keeps the page and its
screenshot there for a person to look at.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import rdtest
from rdtest import EX_CONFIG, EX_USAGE, TestCase

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import htmlcheck  # noqa: E402  (tests/htmlcheck.py)

SOURCE_DIR = rdtest.SOURCE_DIR
REFERRALCTL = os.environ.get("REFERRALCTL") or os.path.join(SOURCE_DIR, "build", "referralctl")
DATA = os.path.join(SOURCE_DIR, "tests", "data")
MODEL = os.path.join(DATA, "synthetic_example.yaml")
BASELINE = os.path.join(DATA, "replay_baseline.yaml")
CANDIDATE = os.path.join(DATA, "replay_candidate.yaml")

TOP_KEYS = ["baseline", "candidate", "changed", "changes", "skipped_erased", "seed"]
FIGURES_KEYS = ["referrals", "days", "by_decision", "window", "time_to_start_s",
                "forwarded_share", "trajectories", "waitlist", "connectors"]
NESTED_KEYS = {
    "by_decision": ["assigned", "waitlisted", "forwarded"],
    "window": ["started", "in_time", "missed"],
    "time_to_start_s": ["p50", "p75", "p90"],
    "trajectories": ["started", "closed", "mean_open", "mean_length_s"],
    "waitlist": ["peak", "mean"],
}
CONNECTOR_KEYS = ["id", "team", "capacity", "peak_load", "mean_load"]
DECISION_KEYS = ["status", "team", "connector", "forward_to"]


def run_ctl(args, timeout=120):
    e = dict(os.environ)
    e.pop("REFERRALD_ENDPOINT", None)
    return subprocess.run([REFERRALCTL] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=e, stdin=subprocess.DEVNULL)


def replay(*more):
    return run_ctl(["replay", "--synthetic", MODEL, "--rules", CANDIDATE,
                    "--against", BASELINE] + list(more))


class ReplaySyntheticTest(TestCase):

    @classmethod
    def setUpClass(cls):
        p = replay("--json", "--seed", "7")
        assert p.returncode == 0, p.stderr
        cls.json_text = p.stdout
        cls.result = json.loads(p.stdout)

    def test_json_is_one_object_with_exactly_the_keys_of_tools_md(self):
        self.assertEqual(len(self.json_text.splitlines()), 1)
        r = self.result
        self.assertEqual(sorted(r), sorted(TOP_KEYS))
        for side in ("baseline", "candidate"):
            f = r[side]
            self.assertEqual(sorted(f), sorted(FIGURES_KEYS), side)
            for key, keys in NESTED_KEYS.items():
                self.assertEqual(sorted(f[key]), sorted(keys), (side, key))
            for c in f["connectors"]:
                self.assertEqual(sorted(c), sorted(CONNECTOR_KEYS), (side, c))
            self.assertEqual(f["days"], 365)
        self.assertEqual([c["id"] for c in r["baseline"]["connectors"]],
                         ["anna", "bert", "psy-1"])
        self.assertEqual([c["id"] for c in r["candidate"]["connectors"]],
                         ["anna", "bert", "psy-1", "psy-2"])
        self.assertEqual(r["seed"], 7)
        self.assertEqual(r["skipped_erased"], 0)

    def test_the_same_referrals_go_through_both_files_and_the_changes_are_listed(self):
        r = self.result
        b, c = r["baseline"], r["candidate"]
        self.assertEqual(b["referrals"], c["referrals"])
        self.assertGreater(b["referrals"], 300)
        self.assertEqual(sum(b["by_decision"].values()), b["referrals"])
        self.assertGreater(r["changed"], 0)
        self.assertEqual(len(r["changes"]), r["changed"])
        for ch in r["changes"]:
            self.assertRegex(ch["id"], r"^S\d{6,}$")
            self.assertEqual(sorted(ch["baseline"]), sorted(DECISION_KEYS))
            self.assertEqual(sorted(ch["candidate"]), sorted(DECISION_KEYS))
            self.assertNotEqual(ch["baseline"], ch["candidate"])
        self.assertIn("psy-2", [ch["candidate"]["connector"] for ch in r["changes"]])
        # one more psychologist: fewer first wait
        self.assertLess(c["by_decision"]["waitlisted"], b["by_decision"]["waitlisted"])

    def test_littles_law_holds_on_both_sides(self):
        for side in ("baseline", "candidate"):
            f = self.result[side]
            t = f["trajectories"]
            little = t["started"] / f["days"] * t["mean_length_s"] / 86400
            self.assertAlmostEqual(t["mean_open"], little, delta=0.01 * little, msg=side)

    def test_the_same_seed_gives_the_same_output_and_another_seed_another(self):
        again = replay("--json", "--seed", "7")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(again.stdout, self.json_text)
        other = replay("--json", "--seed", "8")
        self.assertEqual(other.returncode, 0, other.stderr)
        self.assertNotEqual(other.stdout, self.json_text)

    def test_text_shows_both_sides_the_connectors_and_the_changes(self):
        p = replay("--seed", "7")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout
        self.assertIn("baseline:  %s (digest" % BASELINE, out)
        self.assertIn("candidate: %s (digest" % CANDIDATE, out)
        m = re.search(r"^  referrals +(\d+) +(\d+)$", out, re.M)
        self.assertIsNotNone(m, out)
        self.assertEqual(int(m.group(1)), self.result["baseline"]["referrals"])
        for label in ("first decision: waitlisted", "window: missed", "time to start: p90",
                      "trajectories open (mean)", "waitlist: peak"):
            self.assertIn("  " + label + " ", out)
        self.assertRegex(out, r"(?m)^  psy-2 \(psy, capacity 8\) +- +\d+ / [\d.]+$")
        self.assertIn("First decisions that changed: %d\n" % self.result["changed"], out)
        first = self.result["changes"][0]["id"]
        self.assertRegex(out, r"(?m)^  %s +\S" % first)


class ReplayUsageTest(TestCase):

    def test_a_replay_without_rules_or_a_source_is_a_usage_error(self):
        p = run_ctl(["replay", "--synthetic", MODEL, "--against", BASELINE])
        self.assertEqual(p.returncode, EX_USAGE)
        self.assertIn("needs --rules", p.stderr)
        p = run_ctl(["replay", "--rules", CANDIDATE])
        self.assertEqual(p.returncode, EX_USAGE)
        self.assertIn("--db", p.stderr)

    def test_synthetic_without_against_says_it_needs_against(self):
        p = run_ctl(["replay", "--synthetic", MODEL, "--rules", CANDIDATE])
        self.assertEqual(p.returncode, EX_USAGE)
        self.assertIn("--against", p.stderr)

    def test_from_and_to_are_for_the_history(self):
        p = replay("--from", "2027-01-01")
        self.assertEqual(p.returncode, EX_USAGE)
        self.assertIn("--from and --to", p.stderr)

    def test_a_bad_seed_is_a_usage_error(self):
        p = replay("--seed", "-3")
        self.assertEqual(p.returncode, EX_USAGE)
        self.assertIn("--seed", p.stderr)

    def test_an_invalid_model_or_routing_file_exits_78_with_file_line_column(self):
        d = tempfile.mkdtemp(prefix="test_replay_cli-")
        self.addCleanup(shutil.rmtree, d, True)
        bad = os.path.join(d, "model.yaml")
        with open(bad, "w") as f:
            f.write("synthetic:\n  days: 365\n  referrals_per_year: 375\n  decline_share: 2\n")
        p = run_ctl(["replay", "--synthetic", bad, "--rules", CANDIDATE, "--against", BASELINE])
        self.assertEqual(p.returncode, EX_CONFIG, p.stderr)
        self.assertRegex(p.stderr, r"(?m)^%s:4:\d+: " % re.escape(bad))
        self.assertEqual(p.stdout, "")
        rules = os.path.join(d, "routing.yaml")
        with open(rules, "w") as f:
            f.write("version: 1\nrules: []\n")
        p = run_ctl(["replay", "--synthetic", MODEL, "--rules", rules, "--against", BASELINE])
        self.assertEqual(p.returncode, EX_CONFIG, p.stderr)
        self.assertRegex(p.stderr, r"(?m)^%s:\d+:\d+: " % re.escape(rules))


def write_page(cls, args, name):
    """Run `referralctl replay ARGS --json --html` into a folder of CLS's
    own: CLS gets dir, path, result (the JSON), text (the page) and keep
    (HTML_REPLAY_SCREENSHOTS, where the page is copied as NAME.html)."""
    cls.dir = tempfile.mkdtemp(prefix="test_%s-" % name)
    cls.path = os.path.join(cls.dir, "replay.html")
    p = run_ctl(["replay"] + list(args) + ["--json", "--html", cls.path])
    assert p.returncode == 0, p.stderr
    cls.result = json.loads(p.stdout)
    with open(cls.path, encoding="utf-8") as f:
        cls.text = f.read()
    cls.keep = os.environ.get("HTML_REPLAY_SCREENSHOTS")
    if cls.keep:
        os.makedirs(cls.keep, exist_ok=True)
        shutil.copyfile(cls.path, os.path.join(cls.keep, name + ".html"))


class ReplayHtmlTest(TestCase):
    SHOTS = ""  # the screenshots kept are SHOTS + media + ".png"

    @classmethod
    def setUpClass(cls):
        write_page(cls, ["--synthetic", MODEL, "--rules", CANDIDATE, "--against", BASELINE,
                         "--seed", "7"], "replay")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_the_page_is_self_contained_and_holds_no_personal_data(self):
        self.assertEqual(htmlcheck.check_self_contained(self.text), [])
        self.assertNotIn("<script", self.text)
        # the referrals' postcodes (the model's) never reach the page
        for postcode in ("8500", "8510", "8930"):
            self.assertNotIn(postcode, self.text)

    def test_the_page_says_what_the_json_says(self):
        text = self.text
        self.assertIn("%d referrals got another first decision" % self.result["changed"], text)
        for ch in self.result["changes"][:20]:
            self.assertIn("<td>%s</td>" % ch["id"], text)
        for c in self.result["candidate"]["connectors"]:
            self.assertIn("<td>%s</td>" % c["id"], text)

    def test_it_renders_every_chart_without_an_error_or_a_request(self):
        if htmlcheck.find_chromium() is None:
            if os.environ.get("CI"):
                self.fail("chromium is not installed, and CI must run this test")
            self.skipTest("chromium is not installed (tools/do deps installs it)")
        for media in ("screen", "print"):
            shot = os.path.join(self.dir, media + ".png")
            r = htmlcheck.check_html(self.path, screenshot=shot, media=media)
            if self.keep:
                shutil.copyfile(shot, os.path.join(self.keep, self.SHOTS + media + ".png"))
            self.assertEqual(r.problems(), [], media)
            dom = r.dom
            # load per connector (a panel per connector and side: 4 of them
            # on both sides), the waitlist, the percentiles, the histogram
            panels = 2 * 4
            self.assertEqual(dom.count('<figure class="chart">'), 4, media)
            self.assertEqual(dom.count("<svg "), panels + 3, media)
            self.assertEqual(dom.count('role="img"'), panels + 3, media)
            # a capacity line in each panel of a side that has the connector
            self.assertEqual(dom.count('<line class="limit"'), panels - 1, media)
            # the figures, the connectors, the changes, and one per chart
            self.assertEqual(dom.count("<table>"), 3 + 4, media)
            self.assertIn(">psy-2: candidate<", dom)
            self.assertIn(">Waitlist over time<", dom)
            self.assertIn(">Time to start: percentiles<", dom)


if __name__ == "__main__":
    unittest.main()
