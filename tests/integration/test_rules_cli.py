"""referralctl rules check / rules test / explain (routing.md, "Checking and
reloading"; daemon.md exit codes): what a coordinator sees before a routing
file goes live, and why the daemon decided as it did.

Fixtures are in tests/data/: rules_cli_valid.yaml (4 connectors, small
capacities), rules_cli_invalid.yaml (three errors), rules_cli_warning.yaml (a
shadowed rule), referral_*.json and cases_rules_cli_*.yaml.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile

import rdtest
from rdrouting import ROUTING_OVERFLOW
from rdtest import EX_CONFIG, EX_USAGE, TestCase, parse_time, referral, utcnow

SOURCE_DIR = rdtest.SOURCE_DIR
REFERRALCTL = os.environ.get("REFERRALCTL") or os.path.join(SOURCE_DIR, "build", "referralctl")
DATA = os.path.join(SOURCE_DIR, "tests", "data")

VALID = os.path.join(DATA, "rules_cli_valid.yaml")
INVALID = os.path.join(DATA, "rules_cli_invalid.yaml")
WARNING = os.path.join(DATA, "rules_cli_warning.yaml")
FAMILY_FR = os.path.join(DATA, "referral_family_fr.json")
FAMILY_AR = os.path.join(DATA, "referral_family_ar.json")
CRISIS = os.path.join(DATA, "referral_crisis.json")
CASES_OK = os.path.join(DATA, "cases_rules_cli_ok.yaml")
CASES_MISMATCH = os.path.join(DATA, "cases_rules_cli_mismatch.yaml")

AT = "2027-01-04T09:00:00Z"
DIAG = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")


def run_ctl(args, timeout=20):
    e = dict(os.environ)
    e.pop("REFERRALD_ENDPOINT", None)
    e.pop("REFERRALD_EVENTS", None)
    return subprocess.run([REFERRALCTL] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=e, stdin=subprocess.DEVNULL)


def sha256_file(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class RulesCheckTest(TestCase):

    def test_valid_file_exits_0_with_a_summary(self):
        p = run_ctl(["rules", "check", VALID])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        line = p.stdout.strip()
        self.assertEqual(len(line.splitlines()), 1, line)
        self.assertIn("5 rules", line)
        self.assertIn("3 teams", line)
        self.assertIn("4 connectors", line)
        self.assertIn("digest " + sha256_file(VALID), line)

    def test_invalid_file_prints_every_error_and_exits_78(self):
        p = run_ctl(["rules", "check", INVALID])
        self.assertEqual(p.returncode, EX_CONFIG, p.stderr)
        self.assertEqual(p.stdout, "")
        diags = [DIAG.match(l) for l in p.stderr.splitlines()]
        diags = [m for m in diags if m]
        got = [(m["file"], int(m["line"]), int(m["col"])) for m in diags]
        # the path as given; each problem where it is (routing.md)
        self.assertIn((INVALID, 3, 11), got, p.stderr)   # window: 30 days
        self.assertIn((INVALID, 8, 60), got, p.stderr)   # colour: blue
        self.assertIn((INVALID, 14, 22), got, p.stderr)  # teams: [gnk]
        msgs = " | ".join(m["msg"] for m in diags)
        self.assertIn("duration", msgs)
        self.assertIn("colour", msgs)
        self.assertIn("gnk", msgs)

    def test_relative_path_is_kept_as_given(self):
        p = subprocess.run([REFERRALCTL, "rules", "check", "rules_cli_invalid.yaml"],
                           capture_output=True, text=True, cwd=DATA, timeout=20)
        self.assertEqual(p.returncode, EX_CONFIG)
        self.assertRegex(p.stderr, r"(?m)^rules_cli_invalid\.yaml:14:22: ")

    def test_warnings_do_not_fail(self):
        p = run_ctl(["rules", "check", WARNING])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stderr, r"(?m)^%s:12:5: warning: rule 'family-urgent' never applies"
                         % re.escape(WARNING))
        self.assertIn("1 warning", p.stdout)

    def test_missing_file_is_an_invalid_configuration(self):
        p = run_ctl(["rules", "check", os.path.join(DATA, "no-such-routing.yaml")])
        self.assertEqual(p.returncode, EX_CONFIG)
        self.assertIn("no-such-routing.yaml", p.stderr)

    def test_usage_errors_exit_2(self):
        for args in (["rules"], ["rules", "check"], ["rules", "check", VALID, VALID],
                     ["rules", "frob", VALID], ["rules", "test", VALID],
                     ["rules", "test", VALID, FAMILY_FR, "--at", "yesterday"],
                     ["rules", "check", VALID, "--state", "x.db"]):
            with self.subTest(args=args):
                p = run_ctl(args)
                self.assertEqual(p.returncode, EX_USAGE, p.stderr)

    def test_show_prints_the_rules_as_a_coordinator_reads_them(self):
        p = run_ctl(["rules", "show", VALID])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertIn("digest " + sha256_file(VALID), p.stdout)
        self.assertRegex(p.stdout, r"(?m)^4\. family-by-region \(line \d+\)$")
        self.assertIn("     maasmechelen, postcodes 3630:", p.stdout)
        self.assertIn("       lien: capacity 1; skills family_support; languages nl, tr",
                      p.stdout)
        self.assertIn('forwards to caw-limburg (CAW Limburg), reason: "outside the '
                      'target group"', p.stdout)
        j = run_ctl(["rules", "show", VALID, "--json"])
        self.assertEqual(j.returncode, 0, j.stderr)
        o = json.loads(j.stdout)
        self.assertEqual([r["name"] for r in o["rules"]],
                         ["crisis", "psychology", "arabic-family", "family-by-region",
                          "everything-else"])
        fam = o["rules"][3]["assign"]
        self.assertEqual([t["id"] for t in fam["teams"]], ["genk", "maasmechelen"])
        self.assertTrue(fam["by_postcode"])
        self.assertEqual(fam["overflow"], [])
        bad = run_ctl(["rules", "show", INVALID])
        self.assertEqual(bad.returncode, EX_CONFIG)
        self.assertEqual(bad.stdout, "")


class RulesTestOneTest(TestCase):

    def decide(self, path, *extra):
        p = run_ctl(["rules", "test", VALID, path, "--at", AT] + list(extra))
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_assigned_says_who_and_why_others_were_passed_over(self):
        out = self.decide(FAMILY_FR)
        self.assertIn("crisis: does not apply: urgency", out)
        self.assertIn("psychology: does not apply: kind", out)
        self.assertIn("arabic-family: does not apply: language", out)
        self.assertIn("family-by-region: applies and decides", out)
        self.assertRegex(out, r"(?m)^  sophie \(team genk, load 0 of 2\): chosen$")
        self.assertRegex(out, r"(?m)^  kelly \(team genk.*passed over: language")
        self.assertRegex(out, r"(?m)^  lien \(team maasmechelen.*passed over: postcode")
        self.assertRegex(out, r"(?m)^Decision: assigned to sophie of team genk, start by "
                              r"2027-02-03T09:00:00(\.000)?Z")

    def test_forwarded_says_where_and_the_reason(self):
        out = self.decide(CRISIS)
        self.assertIn("crisis: applies and decides", out)
        self.assertRegex(out, r"(?m)^Decision: forwarded to cgg-limburg \(CGG Limburg\), "
                              r"reason: acute crisis: needs specialised care at once")

    def test_waitlisted_says_why_nobody_could_take_it(self):
        out = self.decide(FAMILY_AR)
        self.assertIn("arabic-family: applies and decides", out)
        for who in ("kelly", "sophie", "lien"):
            self.assertRegex(out, r"(?m)^  %s \(.*passed over: language" % who)
        self.assertIn("no forecast", out)
        self.assertIn("otherwise applies: waitlist", out)
        self.assertRegex(out, r"(?m)^Decision: waitlisted, start by 2027-02-03T09:00:00"
                              r"(\.000)?Z, no expected start")

    def test_json_has_the_decision_and_the_trace(self):
        p = run_ctl(["rules", "test", VALID, FAMILY_FR, "--json", "--at", AT])
        self.assertEqual(p.returncode, 0, p.stderr)
        o = json.loads(p.stdout)
        self.assertEqual(o["status"], "assigned")
        self.assertEqual(o["connector"], "sophie")
        self.assertEqual(o["team"], "genk")
        self.assertEqual(o["rule"], "family-by-region")
        self.assertEqual(parse_time(o["start_by"]), parse_time("2027-02-03T09:00:00Z"))
        tr = o["trace"]
        self.assertEqual(tr["rule"], "family-by-region")
        self.assertEqual(tr["decision"], "assigned")
        self.assertEqual([t["failed"] for t in tr["rules_tried"]],
                         ["urgency", "kind", "language"])
        by = {c["connector"]: c for c in tr["candidates"]}
        self.assertIs(by["sophie"].get("chosen"), True)
        self.assertEqual(by["kelly"]["passed_over"], "language")
        self.assertEqual(by["lien"]["passed_over"], "postcode")

    def test_now_is_the_default_time(self):
        p = run_ctl(["rules", "test", VALID, FAMILY_FR, "--json"])
        self.assertEqual(p.returncode, 0, p.stderr)
        start_by = parse_time(json.loads(p.stdout)["start_by"])
        want = utcnow() + 30 * rdtest.DAY
        self.assertLess(abs((start_by - want).total_seconds()), 60)

    def test_invalid_routing_file_exits_78(self):
        p = run_ctl(["rules", "test", INVALID, FAMILY_FR])
        self.assertEqual(p.returncode, EX_CONFIG)
        self.assertRegex(p.stderr, r"(?m)^%s:14:22: " % re.escape(INVALID))

    def test_invalid_referral_is_refused(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"kind": "family_support", "postcode": "36", "children": [{"age": 3}]}, f)
        self.addCleanup(os.unlink, f.name)
        p = run_ctl(["rules", "test", VALID, f.name])
        self.assertEqual(p.returncode, 1)
        self.assertIn("postcode", p.stderr)


class RulesTestCasesTest(TestCase):

    def test_all_cases_match(self):
        p = run_ctl(["rules", "test", VALID, CASES_OK])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("7 passed, 0 failed", p.stdout)
        self.assertNotIn("FAIL", p.stdout)

    def test_a_mismatch_exits_1_and_is_listed(self):
        p = run_ctl(["rules", "test", VALID, CASES_MISMATCH])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("ok   french family in Genk goes to Sophie", p.stdout)
        self.assertIn("FAIL english family expected with Sophie (wrong): "
                      "connector: expected sophie, got kelly", p.stdout)
        self.assertIn("FAIL crisis expected to wait (wrong): "
                      "status: expected waitlisted, got forwarded", p.stdout)
        self.assertIn("1 passed, 2 failed", p.stdout)

    def test_json_lines_per_case(self):
        p = run_ctl(["rules", "test", VALID, CASES_MISMATCH, "--json"])
        self.assertEqual(p.returncode, 1)
        rows = [json.loads(l) for l in p.stdout.splitlines()]
        self.assertEqual([r["ok"] for r in rows], [True, False, False])
        self.assertEqual(rows[1]["got"]["connector"], "kelly")
        self.assertEqual(rows[1]["expect"]["connector"], "sophie")

    def test_cases_file_detected_by_content(self):
        # a .txt file holding a YAML list is a cases file too
        d = tempfile.mkdtemp(prefix="rulescli-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "cases.txt")
        shutil.copy(CASES_OK, path)
        p = run_ctl(["rules", "test", VALID, path])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("7 passed", p.stdout)

    def test_bad_cases_file_points_at_each_problem(self):
        d = tempfile.mkdtemp(prefix="rulescli-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "cases.yaml")
        with open(path, "w") as f:
            f.write("- name: a\n"
                    "  referral: {kind: family_suport, postcode: \"3600\", children: [{age: 4}]}\n"
                    "  expect: {status: asigned}\n"
                    "- name: b\n"
                    "  loads: {kely: 2}\n"
                    "  referral: {kind: family_support, postcode: \"3600\", children: [{age: 4}]}\n"
                    "  expect: {status: assigned, colour: red}\n")
        p = run_ctl(["rules", "test", VALID, path])
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")
        for pos in ("2:20", "3:11", "5:11", "7:30"):
            self.assertRegex(p.stderr, r"(?m)^%s:%s: " % (re.escape(path), pos))
        self.assertIn("nothing was tested", p.stderr)


class RulesTestOverflowTest(TestCase):
    """rules check and rules test on a file with `overflow` (routing.md rev
    2): rdrouting.ROUTING_OVERFLOW, where Genk (kelly) helps Maasmechelen
    (lien) out."""

    CASES = """\
- name: a Maasland family goes to Lien
  referral: {kind: family_support, postcode: "3630", children: [{age: 7}]}
  expect: {status: assigned, connector: lien, team: maasmechelen, rule: family-maasland}
- name: Maasmechelen full, Genk helps out
  loads: {lien: 1}
  referral: {kind: family_support, postcode: "3630", children: [{age: 7}]}
  expect: {status: assigned, connector: kelly, team: genk, rule: family-maasland}
- name: Lien declined, Genk takes it though Lien is free
  declined: [lien]
  referral: {kind: family_support, postcode: "3630", children: [{age: 7}]}
  expect: {status: assigned, connector: kelly, team: genk}
- name: both full, the Maasland family waits
  loads: {lien: 1, kelly: 1}
  referral: {kind: family_support, postcode: "3630", children: [{age: 7}]}
  expect: {status: waitlisted, rule: family-maasland}
- name: Genk full, a Genk family does not overflow to Maasmechelen
  loads: {kelly: 1}
  referral: {kind: family_support, postcode: "3600", children: [{age: 7}]}
  expect: {status: waitlisted, rule: family-genk}
"""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="rulescli-overflow-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.routing = self.write("routing.yaml", ROUTING_OVERFLOW)
        self.family = rdtest.write_json(self.dir, {
            "kind": "family_support", "postcode": "3630", "children": [{"age": 7}],
            "consent": True, "ref": "M-1"}, "maasland.json")

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_check_passes_the_file_without_a_warning(self):
        p = run_ctl(["rules", "check", self.routing])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertIn("0 warning(s)", p.stdout)

    def test_rules_test_says_the_rank_of_each_candidate(self):
        p = run_ctl(["rules", "test", self.routing, self.family, "--at", AT])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"(?m)^  lien \(team maasmechelen, load 0 of 1\): chosen$")
        self.assertRegex(p.stdout, r"(?m)^  kelly \(team genk, overflow, load 0 of 1\): passed "
                                   r"over: overflow \(free, but a connector of the rule's own "
                                   r"teams was free and goes first\)$")
        self.assertRegex(p.stdout, r"(?m)^Decision: assigned to lien of team maasmechelen, ")
        p = run_ctl(["rules", "test", self.routing, self.family, "--at", AT, "--json"])
        tr = json.loads(p.stdout)["trace"]
        self.assertEqual(tr["rank"], "first")
        self.assertEqual([(c["connector"], c["rank"]) for c in tr["candidates"]],
                         [("lien", "first"), ("kelly", "overflow")])

    def test_a_cases_file_with_overflow_cases_passes(self):
        p = run_ctl(["rules", "test", self.routing, self.write("cases.yaml", self.CASES)])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("ok   Maasmechelen full, Genk helps out", p.stdout)
        self.assertIn("5 passed, 0 failed", p.stdout)

    def test_an_overflow_case_that_expects_the_first_rank_fails(self):
        wrong = self.CASES.replace(
            "expect: {status: assigned, connector: kelly, team: genk, rule: family-maasland}",
            "expect: {status: assigned, connector: lien, team: maasmechelen}")
        self.assertNotEqual(wrong, self.CASES)
        p = run_ctl(["rules", "test", self.routing, self.write("wrong.yaml", wrong)])
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("FAIL Maasmechelen full, Genk helps out: connector: expected lien, got "
                      "kelly; team: expected maasmechelen, got genk", p.stdout)
        self.assertIn("4 passed, 1 failed", p.stdout)


class RulesTestStateAndExplainTest(TestCase):
    """Against a real daemon: its database and its stored traces."""

    def routing(self):
        with open(VALID) as f:
            return f.read()

    def test_state_from_a_database_shows_full_connectors(self):
        d = self.daemon(routing=self.routing())
        got = []
        for _ in range(4):  # kelly and sophie have capacity 2 each
            rep = d.submit(referral(postcode="3600", language="nl"))
            self.assertEqual(rep["status"], "assigned", rep)
            got.append(rep["connector"])
        self.assertEqual(sorted(got), ["kelly", "kelly", "sophie", "sophie"])
        rep = d.submit(referral(postcode="3600", language="nl"))
        self.assertEqual(rep["status"], "waitlisted", rep)  # one family waits
        rep = d.submit(referral(kind="first_line_psychology", children=[{"age": 17}]))
        self.assertEqual(rep["connector"], "psy-1", rep)
        d.stop()
        copy_dir = tempfile.mkdtemp(prefix="rulescli-db-")
        self.addCleanup(shutil.rmtree, copy_dir, True)
        copy = os.path.join(copy_dir, "copy.db")
        shutil.copy(d.database_path, copy)
        for ext in ("-wal", "-shm"):
            if os.path.exists(d.database_path + ext):
                shutil.copy(d.database_path + ext, copy + ext)

        # the family would have gone to sophie; now both are full
        p = run_ctl(["rules", "test", VALID, FAMILY_FR, "--state", copy])
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout
        self.assertIn("against the loads of the database", out)
        self.assertRegex(out, r"(?m)^  kelly \(team genk, load 2 of 2\): passed over: full")
        self.assertRegex(out, r"(?m)^  sophie \(team genk, load 2 of 2\): passed over: full")
        self.assertIn("Forecast: 2 candidate(s), 4 place(s) coming free, "
                      "1 family(ies) waiting ahead", out)
        self.assertIn("not within the window", out)
        self.assertRegex(out, r"(?m)^Decision: waitlisted, start by \S+, expected start \S+")

        p = run_ctl(["rules", "test", VALID, FAMILY_FR, "--state", copy, "--json"])
        o = json.loads(p.stdout)
        self.assertEqual(o["status"], "waitlisted")
        # each open referral ends at its offer + trajectory (120d); the
        # family already waiting takes the first of those places
        exp = parse_time(o["expected_start"])
        self.assertLess(abs((exp - (utcnow() + 120 * rdtest.DAY)).total_seconds()), 120)
        fc = o["trace"]["forecast"]
        self.assertEqual((fc["candidates"], fc["slots"], fc["waiting_ahead"],
                          fc["within_window"]), (2, 4, 1, False))

        # the psychologist is full: the rule's otherwise forwards
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"kind": "first_line_psychology", "postcode": "3600",
                       "children": [{"age": 16}], "consent": True, "ref": "X"}, f)
        self.addCleanup(os.unlink, f.name)
        p = run_ctl(["rules", "test", VALID, f.name, "--state", copy])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"(?m)^  psy-1 \(team psy, load 1 of 1\): passed over: full")
        self.assertIn("otherwise applies: forward", p.stdout)
        self.assertIn("Decision: forwarded to cgg-limburg (CGG Limburg), reason: no psychologist",
                      p.stdout)

        # the cases file against the same loads
        p = run_ctl(["rules", "test", VALID, CASES_OK, "--state", copy])
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("FAIL french family in Genk goes to Sophie: "
                      "status: expected assigned, got waitlisted", p.stdout)

    def test_state_database_must_exist(self):
        missing = os.path.join(tempfile.gettempdir(), "rulescli-no-such-%d.db" % os.getpid())
        p = run_ctl(["rules", "test", VALID, FAMILY_FR, "--state", missing])
        self.assertEqual(p.returncode, 1)
        self.assertFalse(os.path.exists(missing), "a missing database must not be created")

    def test_explain_prints_the_trace_digest_and_history(self):
        d = self.daemon(routing=self.routing())
        rep = d.submit(referral(postcode="3600", language="fr"))
        self.assertEqual(rep["connector"], "sophie", rep)
        rid = rep["id"]
        d.ok({"op": "update", "id": rid, "status": "accepted", "connector": "sophie"})
        p = run_ctl(["-e", d.intake, "explain", rid])
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout
        self.assertRegex(out, r"(?m)^Now: %s accepted by sophie" % rid)
        self.assertIn("crisis: does not apply: urgency", out)
        self.assertIn("family-by-region: applies and decides", out)
        self.assertRegex(out, r"(?m)^  sophie \(team genk, load 0 of 2\): chosen$")
        self.assertRegex(out, r"(?m)^  kelly \(team genk.*passed over: language")
        self.assertRegex(out, r"(?m)^Decision: assigned to sophie of team genk")
        self.assertIn("digest %s" % sha256_file(VALID), out)
        self.assertRegex(out, r"(?m)^  \d+ \S+ referral\.assigned connector sophie$")
        self.assertRegex(out, r"(?m)^  \d+ \S+ referral\.accepted connector sophie$")

        # the same words as rules test for the same referral and loads
        t = run_ctl(["rules", "test", VALID, FAMILY_FR])
        for line in ("  kelly (team genk, load 0 of 2): passed over: language",
                     "  lien (team maasmechelen, load 0 of 1): passed over: postcode"):
            self.assertIn(line, t.stdout)
            self.assertIn(line, out)

        p = run_ctl(["-e", d.intake, "explain", rid, "--json"])
        self.assertEqual(p.returncode, 0, p.stderr)
        o = json.loads(p.stdout)
        self.assertEqual(set(o), {"id", "status", "trace", "rules_digest"})
        self.assertEqual(o["id"], rid)
        self.assertEqual(o["status"], "accepted")
        self.assertEqual(o["rules_digest"], sha256_file(VALID))
        self.assertEqual(o["trace"]["connector"], "sophie")

    def test_explain_forwarded_and_unknown(self):
        d = self.daemon(routing=self.routing())
        rep = d.submit(referral(urgency="crisis"))
        p = run_ctl(["-e", d.intake, "explain", rep["id"]])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Decision: forwarded to cgg-limburg, reason: acute crisis", p.stdout)
        p = run_ctl(["-e", d.intake, "explain", "R999999"])
        self.assertEqual(p.returncode, 1)
        self.assertIn("not_found", p.stderr)
