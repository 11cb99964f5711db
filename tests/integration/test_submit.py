"""protocol.md, "submit" and "get and list" (get), with routing.md's
decisions as a partner sees them in the submit reply.

Every test uses its own small routing file (rdrouting.ROUTING_BASIC or one
written here), so it does not depend on config/routing.yaml.
"""

import json
import re

import rdtest
from rdrouting import (CAW, REST, ROUTING_BASIC, ROUTING_ROOMY, connector, genk, routing, rule,
                       team)
from rdtest import DAY, DROP, parse_time, recv_events, referral, submit_req, utcnow

SLACK = 2.0  # seconds: receipt time is somewhere between send and reply

def forecast_routing(trajectory="10d"):
    """Two connectors of capacity 1; TRAJECTORY 10d inside a 30d window: when
    both are full, the forecast finds a slot before start_by."""
    return routing([rule("family", {"kind": "family_support"}, assign="genk",
                         otherwise=(CAW, "no room within the window")), REST],
                   [genk(1, ["3600"], languages=["nl"])], trajectory=trajectory)


ROUTING_FORECAST = forecast_routing()


def receipt_bracket(test, d, ref_obj):
    """Submit REF_OBJ; return (reply, t0, t1) with t0/t1 around the call."""
    t0 = utcnow()
    rep = d.submit(ref_obj)
    t1 = utcnow()
    return rep, t0, t1


class SubmitDecisions(rdtest.TestCase):
    """The submit reply carries the decision, shaped as protocol.md says."""

    def setUp(self):
        super().setUp()
        self.d = self.daemon(routing=ROUTING_BASIC)

    def assertStartBy(self, rep, t0, t1, window):
        self.assertIn("start_by", rep)
        sb = self.assertTime(rep["start_by"], "start_by")
        receipt = sb - window
        self.assertGreaterEqual(receipt.timestamp(), t0.timestamp() - SLACK,
                                "start_by %s is not receipt + %s" % (rep["start_by"], window))
        self.assertLessEqual(receipt.timestamp(), t1.timestamp() + SLACK,
                             "start_by %s is not receipt + %s" % (rep["start_by"], window))

    def test_assigned_reply(self):
        rep, t0, t1 = receipt_bracket(self, self.d, referral())
        self.assertIsInstance(rep.get("id"), str)
        self.assertTrue(rep["id"])
        self.assertEqual(rep["status"], "assigned")
        self.assertIs(rep["duplicate"], False)
        self.assertEqual(rep["rule"], "family-genk")
        self.assertEqual(rep["team"], "genk")
        self.assertIn(rep["connector"], ("kelly", "sophie"))
        self.assertStartBy(rep, t0, t1, 30 * DAY)
        self.assertNotIn("forward_to", rep)

    def test_start_by_uses_the_rules_own_window(self):
        rep, t0, t1 = receipt_bracket(self, self.d, referral(kind="first_line_psychology"))
        self.assertEqual(rep["status"], "assigned")
        self.assertEqual(rep["rule"], "psychology")
        self.assertEqual(rep["team"], "psy")
        self.assertEqual(rep["connector"], "psy-1")
        self.assertStartBy(rep, t0, t1, 10 * DAY)

    def test_start_by_matches_the_received_event(self):
        rep = self.d.submit(referral())
        evs = [e for e in self.d.all_events() if e["id"] == rep["id"]]
        self.assertEqual(evs[0]["type"], "referral.received")
        at = parse_time(evs[0]["at"])
        sb = parse_time(rep["start_by"])
        self.assertLessEqual(abs((sb - 30 * DAY - at).total_seconds()), 1.0,
                             "start_by %s is not the receipt (%s) + 30d" % (rep["start_by"], evs[0]["at"]))

    def test_forwarded_reply_has_target_and_reason_and_no_start_by(self):
        rep = self.d.submit(referral(urgency="crisis"))
        self.assertEqual(rep["status"], "forwarded")
        self.assertIs(rep["duplicate"], False)
        self.assertEqual(rep["rule"], "crisis")
        self.assertEqual(rep["forward_to"], "cgg-limburg")
        self.assertEqual(rep["reason"], "acute crisis: needs specialised care at once")
        self.assertNotIn("start_by", rep)
        self.assertNotIn(rep.get("connector"), ("kelly", "sophie", "psy-1"))

    def test_catch_all_forwards_what_no_other_rule_takes(self):
        rep = self.d.submit(referral(postcode="9000"))
        self.assertEqual(rep["status"], "forwarded")
        self.assertEqual(rep["rule"], "everything-else")
        self.assertEqual(rep["forward_to"], "caw-limburg")
        self.assertEqual(rep["reason"], "outside the target group")
        self.assertNotIn("start_by", rep)

    def test_otherwise_forward_when_no_one_can_start_in_the_window(self):
        first = self.d.submit(referral(kind="first_line_psychology"))
        self.assertEqual(first["status"], "assigned")
        # psy-1 is full; its referral ends at +120d, after this one's 10d window.
        rep = self.d.submit(referral(kind="first_line_psychology"))
        self.assertEqual(rep["status"], "forwarded")
        self.assertEqual(rep["rule"], "psychology")
        self.assertEqual(rep["forward_to"], "cgg-limburg")
        self.assertEqual(rep["reason"], "no psychologist can start within the window")
        self.assertNotIn("start_by", rep)

    def test_least_loaded_spreads_then_stops_at_capacity(self):
        got = [self.d.submit(referral())["connector"] for _ in range(4)]
        # equal load/capacity and equal offers: by id; then the less loaded.
        self.assertEqual(got, ["kelly", "sophie", "kelly", "sophie"])
        t0 = utcnow()
        rep = self.d.submit(referral())
        t1 = utcnow()
        self.assertEqual(rep["status"], "waitlisted", "both connectors are at capacity")
        self.assertEqual(rep["rule"], "family-genk")
        self.assertNotIn(rep.get("connector"), ("kelly", "sophie"))
        self.assertStartBy(rep, t0, t1, 30 * DAY)
        loads = {c["id"]: c["load"] for t in self.d.ok({"op": "stats"})["teams"]
                 for c in t["connectors"]}
        self.assertEqual(loads["kelly"], 2)
        self.assertEqual(loads["sophie"], 2)
        # a sixth one waits too: capacity is never exceeded
        self.assertEqual(self.d.submit(referral())["status"], "waitlisted")
        loads = {c["id"]: c["load"] for t in self.d.ok({"op": "stats"})["teams"]
                 for c in t["connectors"]}
        self.assertEqual((loads["kelly"], loads["sophie"]), (2, 2))

    def test_language_prefer_goes_first_whatever_the_load(self):
        got = [self.d.submit(referral(language="fr"))["connector"] for _ in range(3)]
        self.assertEqual(got, ["sophie", "sophie", "kelly"])

    def test_waitlisted_with_expected_start_when_the_forecast_finds_a_slot(self):
        d = self.daemon(routing=ROUTING_FORECAST)
        t0 = utcnow()
        a = d.submit(referral())
        b = d.submit(referral())
        self.assertEqual({a["connector"], b["connector"]}, {"kelly", "sophie"})
        rep = d.submit(referral())
        t1 = utcnow()
        self.assertEqual(rep["status"], "waitlisted")
        self.assertEqual(rep["rule"], "family")
        self.assertIn("start_by", rep)
        self.assertIn("expected_start", rep, "the forecast found a slot: +10d < +30d")
        es = self.assertTime(rep["expected_start"], "expected_start")
        self.assertGreaterEqual(es.timestamp(), (t0 + 10 * DAY).timestamp() - SLACK)
        self.assertLessEqual(es.timestamp(), (t1 + 10 * DAY).timestamp() + SLACK)
        self.assertLess(es, parse_time(rep["start_by"]))


# One rule for each `when` and `assign` key; the partner picks the rule.
ROUTING_KEYS = routing(
    [rule("rr", {"partner": "rr-partner"}, assign={"teams": ["t1"], "pick": "round_robin"}),
     rule("req-lang", {"partner": "lang-partner"},
          assign={"teams": ["t1"], "language": "require"},
          otherwise=("caw", "nobody speaks the language")),
     rule("skill", {"partner": "skill-partner"}, assign={"teams": ["t1"], "skill": "special"}),
     rule("bypc", {"partner": "pc-partner"}, assign={"teams": ["t1", "t2"], "by_postcode": True}),
     rule("concerns", {"concerns": {"all": ["a_tag", "b_tag"], "none": ["c_tag"]}},
          forward=("caw", "concerns rule")),
     rule("any-concern", {"concerns": ["x_tag", "y_tag"]}, forward=("caw", "any concern")),
     rule("toddler", {"age": "0-3"}, forward=("caw", "toddler")),
     rule("rest", forward=("caw", "rest"))],
    [team("t1", [connector("c-a", 5, languages=["nl"]),
                 # a single skill and language as scalars, not lists
                 connector("c-b", 5, skills="family_support", languages="fr"),
                 connector("c-c", 5, ["family_support", "special"], ["nl"])],
          postcodes=["3600", 3601]),  # a quoted and an unquoted postcode
     team("t2", [connector("c-d", 5, ["family_support", "special"], ["nl"])])],
    targets={"caw": "CAW"})


class RoutingKeys(rdtest.TestCase):
    """routing.md: what each `when` and `assign` key does, seen in the
    submit reply."""

    @classmethod
    def setUpClass(cls):
        cls.d = cls.class_daemon(routing=ROUTING_KEYS)

    def test_round_robin_takes_turns_in_file_order_across_restarts(self):
        got = [self.d.submit(referral(partner="rr-partner", language=DROP))["connector"]
               for _ in range(4)]
        self.assertEqual(got, ["c-a", "c-b", "c-c", "c-a"])
        self.d.restart()
        self.assertEqual(self.d.submit(referral(partner="rr-partner", language=DROP))["connector"],
                         "c-b")

    def test_language_require(self):
        rep = self.d.submit(referral(partner="lang-partner", language="fr"))
        self.assertEqual(rep["connector"], "c-b")
        rep = self.d.submit(referral(partner="lang-partner", language="tr"))
        self.assertEqual(rep["status"], "forwarded")
        self.assertEqual(rep["rule"], "req-lang")
        self.assertEqual(rep["reason"], "nobody speaks the language")

    def test_skill_override(self):
        for _ in range(3):
            rep = self.d.submit(referral(partner="skill-partner"))
            self.assertEqual(rep["connector"], "c-c")

    def test_by_postcode(self):
        rep = self.d.submit(referral(partner="pc-partner", postcode="3601"))
        self.assertEqual(rep["team"], "t1")
        rep = self.d.submit(referral(partner="pc-partner", postcode="9000"))
        self.assertEqual(rep["status"], "waitlisted",
                         "no team holds 9000 and a team without postcodes is left out")
        self.assertNotIn(rep.get("connector"), ("c-a", "c-b", "c-c", "c-d"))

    def test_concerns_all_none_any(self):
        def rule(concerns):
            return self.d.submit(referral(concerns=concerns, children=[{"age": 10}]))["rule"]
        self.assertEqual(rule(["a_tag", "b_tag"]), "concerns")
        self.assertEqual(rule(["b_tag", "zz", "a_tag"]), "concerns")
        self.assertEqual(rule(["a_tag", "b_tag", "c_tag"]), "rest")
        self.assertEqual(rule(["a_tag"]), "rest")
        self.assertEqual(rule(["y_tag"]), "any-concern")
        self.assertEqual(rule([]), "rest")

    def test_age_range_matches_any_child(self):
        rep = self.d.submit(referral(concerns=[], children=[{"age": 10}, {"age": 3}]))
        self.assertEqual(rep["rule"], "toddler")
        rep = self.d.submit(referral(concerns=[], children=[{"age": 4}]))
        self.assertEqual(rep["rule"], "rest")
        rep = self.d.submit(referral(concerns=[], children=[{"age": 0}]))
        self.assertEqual(rep["rule"], "toddler")


class Forecast(rdtest.TestCase):
    """routing.md: the forecast when no candidate is free."""

    def test_waiting_referrals_take_the_first_slots(self):
        d = self.daemon(routing=ROUTING_FORECAST)
        d.submit(referral())
        d.submit(referral())
        c = d.submit(referral())
        e = d.submit(referral())
        self.assertEqual([c["status"], e["status"]], ["waitlisted", "waitlisted"])
        # two slots (+10d each) went to c and e: none is left for f
        f = d.submit(referral())
        self.assertEqual(f["status"], "forwarded", f)
        self.assertEqual(f["reason"], "no room within the window")

    def test_expected_end_moves_the_forecast(self):
        d = self.daemon(routing=forecast_routing("120d"))
        a = d.submit(referral())
        b = d.submit(referral())
        # both end at +120d: nothing before the 30d window ends
        self.assertEqual(d.submit(referral())["status"], "forwarded")
        end = (utcnow() + 5 * DAY).replace(microsecond=0)
        end_s = end.strftime("%Y-%m-%dT%H:%M:%SZ")
        d.ok({"op": "update", "id": a["id"], "status": "started", "connector": a["connector"],
              "expected_end": end_s})
        rep = d.submit(referral())
        self.assertEqual(rep["status"], "waitlisted", rep)
        self.assertLessEqual(abs((parse_time(rep["expected_start"]) - end).total_seconds()), 2,
                             "the forecast is the connector's expected_end")


def case(name, field, **overrides):
    return (name, field, overrides)


# One case per rule of the submit table (and the lines around it).
INVALID = [
    case("ref missing", "referral.ref", ref=DROP),
    case("ref empty", "referral.ref", ref=""),
    case("ref of 129 characters", "referral.ref", ref="A" * 129),
    case("ref with a space", "referral.ref", ref="OCMW 42"),
    case("ref with a tab", "referral.ref", ref="OCMW\t42"),
    case("ref with DEL", "referral.ref", ref="OCMW\x7f42"),
    case("ref not ASCII", "referral.ref", ref="OCMW-\u00e9"),
    case("ref a number", "referral.ref", ref=42),
    case("ref null", "referral.ref", ref=None),
    case("partner missing (security off)", "referral.partner", partner=DROP),
    case("partner upper case", "referral.partner", partner="OCMW-Genk"),
    case("partner leading dash", "referral.partner", partner="-genk"),
    case("partner leading underscore", "referral.partner", partner="_genk"),
    case("partner with a dot", "referral.partner", partner="ocmw.genk"),
    case("partner of 65 characters", "referral.partner", partner="a" * 65),
    case("partner empty", "referral.partner", partner=""),
    case("partner a number", "referral.partner", partner=5),
    case("kind missing", "referral.kind", kind=DROP),
    case("kind unknown", "referral.kind", kind="therapy"),
    case("kind wrong case", "referral.kind", kind="Family_Support"),
    case("kind a list", "referral.kind", kind=["family_support"]),
    case("postcode missing", "referral.postcode", postcode=DROP),
    case("postcode below 1000", "referral.postcode", postcode="0999"),
    case("postcode 3 digits", "referral.postcode", postcode="999"),
    case("postcode 5 digits", "referral.postcode", postcode="10000"),
    case("postcode with letters", "referral.postcode", postcode="36OO"),
    case("postcode with a space", "referral.postcode", postcode="3600 "),
    case("postcode a number", "referral.postcode", postcode=3600),
    case("children missing", "referral.children", children=DROP),
    case("children empty", "referral.children", children=[]),
    case("children 21", "referral.children", children=[{"age": 5}] * 21),
    case("children an object", "referral.children", children={"age": 5}),
    case("child not an object", "referral.children[0]", children=[5]),
    case("child without age", "referral.children[0].age", children=[{}]),
    case("child age 26", "referral.children[0].age", children=[{"age": 26}]),
    case("child age -1", "referral.children[0].age", children=[{"age": -1}]),
    case("child age a fraction", "referral.children[0].age", children=[{"age": 1.5}]),
    case("child age a string", "referral.children[0].age", children=[{"age": "3"}]),
    case("child age null", "referral.children[0].age", children=[{"age": None}]),
    case("child age a boolean", "referral.children[0].age", children=[{"age": True}]),
    case("second child age 30", "referral.children[1].age",
         children=[{"age": 3}, {"age": 30}]),
    case("child with another key", "referral.children[0].name",
         children=[{"age": 3, "name": "Jan"}]),
    case("concerns 17 tags", "referral.concerns",
         concerns=["tag_%d" % i for i in range(17)]),
    case("concerns a string", "referral.concerns", concerns="teen_conflict"),
    case("concern upper case", "referral.concerns[0]", concerns=["Teen"]),
    case("second concern with a dash", "referral.concerns[1]",
         concerns=["teen_conflict", "teen-conflict"]),
    case("concern empty", "referral.concerns[0]", concerns=[""]),
    case("concern of 65 characters", "referral.concerns[0]", concerns=["a" * 65]),
    case("concern a number", "referral.concerns[0]", concerns=[1]),
    case("language upper case", "referral.language", language="NL"),
    case("language one letter", "referral.language", language="n"),
    case("language four letters", "referral.language", language="nlde"),
    case("language with a digit", "referral.language", language="n1"),
    case("language a number", "referral.language", language=5),
    case("language null", "referral.language", language=None),
    case("urgency unknown", "referral.urgency", urgency="low"),
    case("urgency wrong case", "referral.urgency", urgency="Normal"),
    case("urgency empty", "referral.urgency", urgency=""),
    case("urgency a number", "referral.urgency", urgency=1),
    case("consent missing", "referral.consent", consent=DROP),
    case("consent false", "referral.consent", consent=False),
    case("consent a string", "referral.consent", consent="true"),
    case("consent 1", "referral.consent", consent=1),
    case("consent null", "referral.consent", consent=None),
    case("family a string", "referral.family", family="Janssens"),
    case("family a list", "referral.family", family=["Janssens"]),
    case("family with another key", "referral.family.ssn",
         family={"name": "Janssens", "ssn": "85.07.30-033.61"}),
    case("family name a number", "referral.family.name", family={"name": 5}),
    case("family email null", "referral.family.email", family={"email": None}),
    case("family name of 257 characters", "referral.family.name",
         family={"name": "J" * 257}),
    case("family address of 257 code points", "referral.family.address",
         family={"address": "\u00e9" * 257}),
    case("note of 2001 characters", "referral.note", note="n" * 2001),
    case("note of 2001 code points", "referral.note", note="\u00eb" * 2001),
    case("note a number", "referral.note", note=5),
    case("note an object", "referral.note", note={"text": "x"}),
    case("unknown field", "referral.ssn", ssn="85.07.30-033.61"),
    case("unknown field status", "referral.status", status="assigned"),
    case("unknown field, other case", "referral.Note", Note="x"),
]

# Values at the edge of each rule that must be accepted.
VALID = [
    ("ref of 128 characters", dict(ref="!" + "~" * 126 + "!")),
    ("ref of printable ASCII", dict(ref="!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~")),
    ("ref of 1 character", dict(ref="x")),
    ("partner of 64 characters", dict(partner="a" + "b_-9" * 15 + "zzz")),
    ("partner of 1 character", dict(partner="9")),
    ("kind first_line_psychology", dict(kind="first_line_psychology")),
    ("postcode 1000", dict(postcode="1000")),
    ("postcode 9999", dict(postcode="9999")),
    ("20 children aged 0 to 25", dict(children=[{"age": a} for a in (0, 25) * 10])),
    ("16 concerns of 64 characters",
     dict(concerns=[("c%02d" % i) + "_" * 61 for i in range(16)])),
    ("no concerns", dict(concerns=[])),
    ("concerns absent", dict(concerns=DROP)),
    ("language of 3 letters", dict(language="tur")),
    ("language absent", dict(language=DROP)),
    ("urgency high", dict(urgency="high")),
    ("urgency crisis", dict(urgency="crisis")),
    ("urgency normal", dict(urgency="normal")),
    ("family of 256 code points each",
     dict(family={"name": "\u00e9" * 256, "phone": "1" * 256,
                  "email": "\U0001F600" * 256, "address": "a" * 256})),
    ("family partial", dict(family={"phone": "+32 11 22 33 44"})),
    ("family empty", dict(family={})),
    ("family absent", dict(family=DROP)),
    ("note of 2000 code points", dict(note="\U0001F600" * 2000)),
    ("note empty", dict(note="")),
    ("note absent", dict(note=DROP)),
]


class SubmitValidation(rdtest.TestCase):
    """Each rule of the submit table: a bad value is `invalid` with the exact
    `field`, and a failed submit stores nothing and emits nothing."""

    @classmethod
    def setUpClass(cls):
        cls.d = cls.class_daemon(routing=ROUTING_ROOMY)

    def test_each_invalid_field_is_named(self):
        before = self.d.last_seq()
        for name, field, overrides in INVALID:
            with self.subTest(case=name):
                r = referral(**overrides)
                rep = self.d.request(submit_req(r, corr="v"))
                self.assertError(rep, "invalid", field=field)
                self.assertEqual(rep.get("corr"), "v")
                if (isinstance(r.get("ref"), str) and re.match(r"^[!-~]{1,128}$", r["ref"])
                        and isinstance(r.get("partner"), str)
                        and re.match(r"^[a-z0-9][a-z0-9_-]{0,63}$", r["partner"])):
                    got = self.d.request({"op": "get", "partner": r["partner"], "ref": r["ref"]})
                    self.assertError(got, "not_found", msg="a failed submit stored %r" % (got,))
        self.assertEqual(self.d.last_seq(), before, "a failed submit emitted events")
        self.assertEqual(self.d.ok({"op": "events", "since": before})["events"], [])

    def test_referral_missing_or_not_an_object(self):
        for value in (DROP, "x", ["ref"], None, 5):
            with self.subTest(value=value):
                req = {"op": "submit"}
                if value is not DROP:
                    req["referral"] = value
                self.assertError(self.d.request(req), "invalid", field="referral")

    def test_values_at_the_edge_are_accepted(self):
        for name, overrides in VALID:
            with self.subTest(case=name):
                r = referral(**overrides)
                rep = self.d.request(submit_req(r))
                self.assertOk(rep)
                self.assertIs(rep["duplicate"], False)
                got = self.d.ok({"op": "get", "id": rep["id"]})
                self.assertEqual(got["referral"]["ref"], r["ref"])
                if "note" in r:
                    self.assertEqual(got["referral"].get("note"), r["note"])
                if "family" in r and r["family"]:
                    self.assertEqual(got["referral"].get("family"), r["family"])


class Idempotency(rdtest.TestCase):
    """Same partner + ref: same content is a duplicate, other content a
    conflict; neither stores or emits anything."""

    @classmethod
    def setUpClass(cls):
        cls.d = cls.class_daemon(routing=ROUTING_ROOMY)

    def test_resubmit_is_duplicate_with_same_id_and_no_event(self):
        r = referral()
        first = self.d.submit(r)
        last = self.d.last_seq()
        again = self.d.submit(r)
        self.assertIs(again["duplicate"], True)
        self.assertEqual(again["id"], first["id"])
        for k in ("status", "rule", "team", "connector", "start_by"):
            self.assertEqual(again.get(k), first.get(k), k)
        self.assertEqual(self.d.last_seq(), last, "a duplicate emitted an event")

    def test_resubmit_with_other_key_order_is_duplicate(self):
        r = referral()
        first = self.d.submit(r)
        reordered = dict(reversed(list(r.items())))
        reordered["family"] = dict(reversed(list(r["family"].items())))
        body = json.dumps({"referral": reordered, "op": "submit"}, indent=3)
        again = self.d.request(body)
        self.assertOk(again)
        self.assertIs(again["duplicate"], True)
        self.assertEqual(again["id"], first["id"])

    def test_missing_urgency_equals_normal(self):
        r = referral(urgency=DROP)
        first = self.d.submit(r)
        last = self.d.last_seq()
        again = self.d.submit(dict(r, urgency="normal"))
        self.assertIs(again["duplicate"], True)
        self.assertEqual(again["id"], first["id"])
        r2 = referral(urgency="normal")
        first2 = self.d.submit(r2)
        last = self.d.last_seq()
        again2 = self.d.submit({k: v for k, v in r2.items() if k != "urgency"})
        self.assertIs(again2["duplicate"], True)
        self.assertEqual(again2["id"], first2["id"])
        self.assertEqual(self.d.last_seq(), last)

    def test_duplicate_of_a_forwarded_referral(self):
        r = referral(urgency="crisis")
        first = self.d.submit(r)
        again = self.d.submit(r)
        self.assertIs(again["duplicate"], True)
        self.assertEqual(again["status"], "forwarded")
        self.assertEqual(again["forward_to"], first["forward_to"])
        self.assertNotIn("start_by", again)

    def test_duplicate_returns_the_current_state(self):
        r = referral()
        first = self.d.submit(r)
        self.d.ok({"op": "update", "id": first["id"], "status": "accepted",
                   "connector": first["connector"]})
        last = self.d.last_seq()
        again = self.d.submit(r)
        self.assertIs(again["duplicate"], True)
        self.assertEqual(again["id"], first["id"])
        self.assertEqual(again["status"], "accepted")
        self.assertEqual(self.d.last_seq(), last)

    def test_duplicate_after_erase(self):
        r = referral()
        first = self.d.submit(r)
        self.d.ok({"op": "erase", "id": first["id"]})
        last = self.d.last_seq()
        again = self.d.submit(r)
        self.assertIs(again["duplicate"], True)
        self.assertEqual(again["id"], first["id"])
        self.assertEqual(self.d.last_seq(), last, "a duplicate after erase emitted an event")

    def test_changed_content_after_erase_is_still_conflict(self):
        r = referral()
        first = self.d.submit(r)
        self.d.ok({"op": "erase", "id": first["id"]})
        self.assertError(self.d.request(submit_req(dict(r, note="another note"))), "conflict")
        self.assertError(self.d.request(submit_req(dict(r, children=[{"age": 2}]))), "conflict")

    def test_changed_content_is_conflict_and_changes_nothing(self):
        r = referral(urgency=DROP)
        first = self.d.submit(r)
        changes = {
            "note": dict(r, note=r["note"] + "!"),
            "family.phone": dict(r, family=dict(r["family"], phone="+32 11 00 00 00")),
            "family removed": {k: v for k, v in r.items() if k != "family"},
            "children": dict(r, children=[{"age": 13}]),
            "urgency high": dict(r, urgency="high"),
            "kind": dict(r, kind="first_line_psychology"),
            "postcode": dict(r, postcode="3660"),
            "concerns": dict(r, concerns=["teen_conflict", "parental_conflict"]),
            "language": dict(r, language="fr"),
            "note removed": {k: v for k, v in r.items() if k != "note"},
        }
        last = self.d.last_seq()
        for name, changed in changes.items():
            with self.subTest(change=name):
                self.assertError(self.d.request(submit_req(changed)), "conflict")
        self.assertEqual(self.d.last_seq(), last, "a conflict emitted events")
        got = self.d.ok({"op": "get", "id": first["id"]})
        self.assertEqual(got["referral"]["note"], r["note"])
        self.assertEqual(got["referral"]["family"], r["family"])
        self.assertEqual(got["referral"]["urgency"], "normal")
        self.assertEqual(got["status"], first["status"])

    def test_same_ref_for_another_partner_is_a_new_referral(self):
        r = referral()
        first = self.d.submit(r)
        other = self.d.submit(dict(r, partner="ocmw-hasselt"))
        self.assertIs(other["duplicate"], False)
        self.assertNotEqual(other["id"], first["id"])


class Get(rdtest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = cls.class_daemon(routing=ROUTING_BASIC)

    def check_full(self, got, r, rep):
        self.assertOk(got)
        self.assertEqual(got["id"], rep["id"])
        self.assertEqual(got["status"], rep["status"])
        for k in ("rule", "team", "connector", "start_by", "forward_to", "reason"):
            self.assertEqual(got.get(k), rep.get(k), k)
        stored = got["referral"]
        for k, v in r.items():
            if k == "consent":
                continue  # always true; whether it is echoed is not specified
            self.assertEqual(stored.get(k), v, "referral.%s as stored" % k)
        self.assertEqual(stored.get("urgency", None), r.get("urgency", "normal"),
                         "defaults filled in")
        hist = got["history"]
        self.assertIsInstance(hist, list)
        self.assertGreaterEqual(len(hist), 2)
        seqs = [e["seq"] for e in hist]
        self.assertEqual(seqs, sorted(seqs), "history oldest first")
        self.assertEqual(len(set(seqs)), len(seqs))
        self.assertEqual(hist[0]["type"], "referral.received")
        self.assertEqual(hist[0]["status"], "received")
        self.assertEqual(hist[1]["type"], "referral." + rep["status"])
        for e in hist:
            self.assertEqual(e["id"], rep["id"])
            for pd in ("family", "note", "children", "postcode"):
                self.assertNotIn(pd, e)

    def test_get_by_id_returns_referral_with_defaults_personal_data_and_history(self):
        r = referral(urgency=DROP, note="Gezin met drie kinderen; vader werkt 's nachts.")
        rep = self.d.submit(r)
        got = self.d.request({"op": "get", "id": rep["id"], "corr": "g"})
        self.check_full(got, r, rep)
        self.assertEqual(got["corr"], "g")
        self.assertEqual(got["referral"]["family"]["name"], "Janssens")

    def test_get_by_partner_and_ref_equals_get_by_id(self):
        r = referral()
        rep = self.d.submit(r)
        a = self.d.ok({"op": "get", "id": rep["id"]})
        b = self.d.ok({"op": "get", "partner": r["partner"], "ref": r["ref"]})
        self.check_full(b, r, rep)
        self.assertEqual(a, b)

    def test_get_forwarded_referral(self):
        r = referral(urgency="crisis")
        rep = self.d.submit(r)
        got = self.d.ok({"op": "get", "id": rep["id"]})
        self.check_full(got, r, rep)
        self.assertEqual(got["forward_to"], "cgg-limburg")
        self.assertNotIn("start_by", got)

    def test_history_grows_with_updates(self):
        r = referral()
        rep = self.d.submit(r)
        self.d.ok({"op": "update", "id": rep["id"], "status": "accepted",
                   "connector": rep["connector"]})
        got = self.d.ok({"op": "get", "id": rep["id"]})
        self.assertEqual([e["type"] for e in got["history"]],
                         ["referral.received", "referral.assigned", "referral.accepted"])
        self.assertEqual(got["status"], "accepted")

    def test_get_unknown_is_not_found(self):
        r = referral()
        rep = self.d.submit(r)
        for req in [{"op": "get", "id": "R-does-not-exist"},
                    {"op": "get", "id": rep["id"] + "x"},
                    {"op": "get", "partner": r["partner"], "ref": r["ref"] + "-nope"},
                    {"op": "get", "partner": "ocmw-elders", "ref": r["ref"]}]:
            with self.subTest(req=req):
                self.assertError(self.d.request(req), "not_found")


class Update(rdtest.TestCase):
    """protocol.md "update": the state machine as a connector's app and a
    coordinator (security off: every client is trusted like one) meet it."""

    def setUp(self):
        super().setUp()
        self.d = self.daemon(routing=ROUTING_BASIC)

    def upd(self, rid, status, **kw):
        req = {"op": "update", "id": rid, "status": status}
        req.update(kw)
        return self.d.request(req)

    def loads(self):
        return {c["id"]: c["load"] for t in self.d.ok({"op": "stats"})["teams"]
                for c in t["connectors"]}

    def test_accept_start_close(self):
        a = self.d.submit(referral())
        c = a["connector"]
        rep = self.upd(a["id"], "accepted", connector=c, corr="u1")
        self.assertOk(rep)
        self.assertEqual(rep["corr"], "u1")
        self.assertEqual(rep["id"], a["id"])
        self.assertEqual(rep["status"], "accepted")
        self.assertEqual(rep["connector"], c)
        self.assertEqual(rep["start_by"], a["start_by"])
        rep = self.upd(a["id"], "started", connector=c, expected_end="2027-03-01T00:00:00Z")
        self.assertOk(rep)
        self.assertEqual(rep["status"], "started")
        self.assertEqual(self.loads()[c], 1)
        rep = self.upd(a["id"], "closed", connector=c)
        self.assertOk(rep)
        self.assertEqual(rep["status"], "closed")
        self.assertEqual(self.loads()[c], 0, "closing frees capacity")
        self.assertEqual(self.d.ok({"op": "get", "id": a["id"]})["status"], "closed")

    def test_start_straight_from_assigned(self):
        a = self.d.submit(referral())
        rep = self.upd(a["id"], "started", connector=a["connector"])
        self.assertOk(rep)
        self.assertEqual(rep["status"], "started")

    def test_repeating_a_change_is_ok_and_emits_nothing(self):
        a = self.d.submit(referral())
        self.assertOk(self.upd(a["id"], "accepted", connector=a["connector"]))
        last = self.d.last_seq()
        rep = self.upd(a["id"], "accepted", connector=a["connector"])
        self.assertOk(rep)
        self.assertEqual(rep["status"], "accepted")
        self.assertEqual(self.d.last_seq(), last)

    def test_change_the_state_machine_does_not_allow_is_conflict(self):
        a = self.d.submit(referral())
        c = a["connector"]
        last = self.d.last_seq()
        err = self.assertError(self.upd(a["id"], "closed", connector=c), "conflict")
        # the message names the changes allowed from assigned
        for allowed in ("accepted", "started", "declined"):
            self.assertIn(allowed, err["message"])
        self.assertEqual(self.d.last_seq(), last)
        self.assertEqual(self.d.ok({"op": "get", "id": a["id"]})["status"], "assigned")
        self.assertOk(self.upd(a["id"], "withdrawn"))
        for status in ("accepted", "started", "closed", "declined"):
            with self.subTest(status=status):
                self.assertError(self.upd(a["id"], status, connector=c), "conflict")
        fwd = self.d.submit(referral(urgency="crisis"))
        self.assertError(self.upd(fwd["id"], "accepted", connector="kelly"), "conflict")
        self.assertError(self.upd(fwd["id"], "withdrawn"), "conflict")

    def test_connector_is_needed_and_must_be_the_offered_one(self):
        a = self.d.submit(referral())
        other = "sophie" if a["connector"] == "kelly" else "kelly"
        for status in ("accepted", "declined", "started"):
            with self.subTest(status=status):
                self.assertError(self.upd(a["id"], status), "invalid", field="connector")
                self.assertError(self.upd(a["id"], status, connector=other), "forbidden")
        self.assertEqual(self.d.ok({"op": "get", "id": a["id"]})["status"], "assigned")

    def test_state_machine_is_checked_before_the_connector(self):
        fwd = self.d.submit(referral(urgency="crisis"))
        self.assertError(self.upd(fwd["id"], "accepted"), "conflict")

    def test_unknown_referral_and_bad_status(self):
        self.assertError(self.upd("R-nope", "accepted", connector="kelly"), "not_found")
        a = self.d.submit(referral())
        self.assertError(self.upd(a["id"], "finished", connector="kelly"), "invalid",
                         field="status")

    def test_decline_offers_to_another_connector(self):
        sub = self.d.subscribe()
        base = self.d.last_seq()
        a = self.d.submit(referral())
        self.assertEqual(a["connector"], "kelly")
        rep = self.upd(a["id"], "declined", connector="kelly", reason="no time")
        self.assertOk(rep)
        self.assertEqual(rep["status"], "assigned")
        self.assertEqual(rep["connector"], "sophie")
        self.assertEqual(rep["start_by"], a["start_by"], "the window runs from receipt")
        evs = [ev for _, ev in recv_events(sub, 4, after_seq=base)]
        self.assertEqual([e["type"] for e in evs],
                         ["referral.received", "referral.assigned",
                          "referral.declined", "referral.assigned"])
        self.assertEqual(evs[2]["status"], "assigned")
        self.assertEqual(evs[2]["connector"], "kelly")
        self.assertEqual(evs[3]["connector"], "sophie")
        self.assertEqual(self.loads(), {"kelly": 0, "sophie": 1, "psy-1": 0})

    def test_a_decliner_is_not_offered_the_referral_again(self):
        a = self.d.submit(referral())
        self.assertOk(self.upd(a["id"], "declined", connector="kelly"))
        rep = self.upd(a["id"], "declined", connector="sophie")
        self.assertOk(rep)
        self.assertEqual(rep["status"], "waitlisted", "no one left who did not decline")
        self.assertNotIn(rep.get("connector"), ("kelly", "sophie"))

    def test_waitlist_is_served_when_capacity_frees_urgent_first(self):
        assigned = [self.d.submit(referral()) for _ in range(4)]
        w_normal = self.d.submit(referral())
        w_high = self.d.submit(referral(urgency="high"))
        self.assertEqual([w_normal["status"], w_high["status"]], ["waitlisted", "waitlisted"])
        kelly_one = next(a for a in assigned if a["connector"] == "kelly")
        self.assertOk(self.upd(kelly_one["id"], "withdrawn", reason="family moved"))
        got = self.d.ok({"op": "get", "id": w_high["id"]})
        self.assertEqual(got["status"], "assigned", "the high-urgency referral goes first")
        self.assertEqual(got["connector"], "kelly")
        self.assertEqual(got["start_by"], w_high["start_by"])
        self.assertEqual(self.d.ok({"op": "get", "id": w_normal["id"]})["status"], "waitlisted")
        sophie_one = next(a for a in assigned if a["connector"] == "sophie")
        self.assertOk(self.upd(sophie_one["id"], "started", connector="sophie"))
        self.assertOk(self.upd(sophie_one["id"], "closed", connector="sophie"))
        got = self.d.ok({"op": "get", "id": w_normal["id"]})
        self.assertEqual(got["status"], "assigned")
        self.assertEqual(got["connector"], "sophie")

    def test_coordinator_reassigns_to_any_connector_and_forwards(self):
        a = self.d.submit(referral())
        rep = self.upd(a["id"], "assigned", connector="psy-1")
        self.assertOk(rep)
        self.assertEqual(rep["status"], "assigned")
        self.assertEqual(rep["connector"], "psy-1")
        self.assertEqual(self.loads()["psy-1"], 1)
        self.assertEqual(self.loads()[a["connector"]], 0)
        rep = self.upd(a["id"], "forwarded", forward_to="caw-limburg", reason="better fit")
        self.assertOk(rep)
        self.assertEqual(rep["status"], "forwarded")
        self.assertEqual(rep["forward_to"], "caw-limburg")
        self.assertEqual(self.loads()["psy-1"], 0)
        self.assertError(self.upd(a["id"], "assigned", connector="kelly"), "conflict")

    def test_repeating_withdraw_start_and_reassign_is_safe(self):
        a = self.d.submit(referral())
        self.assertOk(self.upd(a["id"], "assigned", connector=a["connector"]))
        b = self.d.submit(referral())
        self.assertOk(self.upd(b["id"], "started", connector=b["connector"]))
        last = self.d.last_seq()
        self.assertOk(self.upd(a["id"], "assigned", connector=a["connector"]))
        self.assertOk(self.upd(b["id"], "started", connector=b["connector"]))
        self.assertEqual(self.d.last_seq(), last, "repeating a change emits nothing")
        self.assertOk(self.upd(a["id"], "withdrawn"))
        last = self.d.last_seq()
        rep = self.upd(a["id"], "withdrawn")
        self.assertOk(rep)
        self.assertEqual(rep["status"], "withdrawn")
        self.assertEqual(self.d.last_seq(), last)

    def test_bad_update_fields_are_invalid(self):
        a = self.d.submit(referral())
        c = a["connector"]
        last = self.d.last_seq()
        for req, field in [
                ({"status": "started", "connector": c, "expected_end": "next week"}, "expected_end"),
                ({"status": "started", "connector": c, "expected_end": 5}, "expected_end"),
                ({"status": "accepted", "connector": c, "reason": 5}, "reason"),
                ({"status": "accepted", "connector": c, "colour": "red"}, "colour"),
                ({"status": 3, "connector": c}, "status"),
                ({"connector": c}, "status"),
                ({"status": "assigned", "connector": "nobody-here"}, "connector"),
                ({"status": "forwarded", "reason": "x"}, "forward_to")]:
            with self.subTest(req=req):
                body = {"op": "update", "id": a["id"]}
                body.update(req)
                self.assertError(self.d.request(body), "invalid", field=field)
        self.assertError(self.d.request({"op": "update", "status": "accepted", "connector": c}),
                         "invalid", field="id")
        self.assertEqual(self.d.last_seq(), last)
        self.assertEqual(self.d.ok({"op": "get", "id": a["id"]})["status"], "assigned")

    def test_decliner_keeps_reading_but_may_not_act(self):
        # security off: the daemon still checks the connector named
        a = self.d.submit(referral())
        self.assertOk(self.upd(a["id"], "declined", connector="kelly"))
        self.assertError(self.upd(a["id"], "accepted", connector="kelly"), "forbidden")
        self.assertOk(self.upd(a["id"], "accepted", connector="sophie"))

    def test_withdraw_from_waitlist(self):
        for _ in range(4):
            self.d.submit(referral())
        w = self.d.submit(referral())
        self.assertEqual(w["status"], "waitlisted")
        rep = self.upd(w["id"], "withdrawn")
        self.assertOk(rep)
        self.assertEqual(rep["status"], "withdrawn")
        self.assertEqual(self.d.ok({"op": "stats"})["by_status"].get("withdrawn"), 1)


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
