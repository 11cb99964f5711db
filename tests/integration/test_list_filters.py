"""`list` filters (protocol.md rev 2, "get and list"), as a coordinator's
tool and a connector's app use them: `team`, `connector`, `status` as a
string or a list, `"attention": true`; every given filter must hold, on top
of what the client may see.

`connector` is the connector of the referral's current or last offer (a
referral that connector declined, now waiting again, still lists under it);
`team` is the team of that offer, and for a waiting referral any team of
its (first-rank) candidates. referralctl list takes repeated --status,
--team, --connector and --attention.
"""

import json
import os
import subprocess

import rdtest
from rdrouting import CRISIS, EVERYTHING_ELSE, GENK_POSTCODES, connector, routing, rule, team
from rdtest import referral

REFERRALCTL = os.environ.get("REFERRALCTL") or os.path.join(rdtest.SOURCE_DIR, "build",
                                                            "referralctl")

# genk (kelly, sophie) and maasmechelen (lien), room for one each; the family
# rule also takes 3700, which no team serves.
ROUTING = routing(
    [CRISIS,
     rule("family", {"kind": "family_support",
                     "postcode": GENK_POSTCODES + ["3630", "3700"]},
          assign={"teams": ["genk", "maasmechelen"], "by_postcode": True}, otherwise="waitlist"),
     EVERYTHING_ELSE],
    [team("genk", [connector("kelly", 1), connector("sophie", 1)], GENK_POSTCODES),
     team("maasmechelen", [connector("lien", 1)], ["3630"])])

CLIENTS = (("coord", "coord", "coordinator"), ("sophie", "sophie", "connector"),
           ("genk", "ocmw-genk", "partner"))


def scenario(d, partner="ocmw-genk"):
    """Referrals in every place a filter tells apart; returns their ids:
    a: kelly declined it, now sophie has it; b: sophie declined it, it waits
    for kelly; c: kelly has it; m: lien has it; x: waits for lien; f:
    forwarded; h: waits, no team for its postcode."""
    ids = {}

    def sub(name, **kw):
        rep = d.submit(referral(partner=partner, **kw))
        ids[name] = rep["id"]
        return rep

    def upd(name, status, **kw):
        req = {"op": "update", "id": ids[name], "status": status}
        req.update(kw)
        return d.ok(req)

    assert sub("a")["connector"] == "kelly"
    assert sub("b")["connector"] == "sophie"
    assert sub("m", postcode="3630")["connector"] == "lien"
    assert sub("c")["status"] == "waitlisted"
    assert sub("x", postcode="3630")["status"] == "waitlisted"
    assert sub("f", urgency="crisis")["status"] == "forwarded"
    upd("a", "declined", connector="kelly")   # a waits for sophie; kelly takes c
    upd("b", "declined", connector="sophie")  # b waits for kelly; sophie takes a
    assert sub("h", postcode="3700")["status"] == "waitlisted"
    return ids


class Filters(rdtest.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d = cls.class_daemon(routing=ROUTING)
        cls.ids = scenario(cls.d)
        cls.names = {v: k for k, v in cls.ids.items()}

    def listed(self, **filters):
        req = {"op": "list"}
        req.update(filters)
        rep = self.d.ok(req)
        seqs = [x["seq"] for x in rep["referrals"]]
        self.assertEqual(seqs, sorted(seqs), "ordered by the latest event")
        return [self.names[x["id"]] for x in rep["referrals"]]

    def test_the_state_the_filters_tell_apart(self):
        got = {x["id"]: x for x in self.d.ok({"op": "list"})["referrals"]}
        st = {self.names[i]: (x["status"], x.get("connector")) for i, x in got.items()}
        self.assertEqual(st, {"a": ("assigned", "sophie"), "b": ("waitlisted", None),
                              "c": ("assigned", "kelly"), "m": ("assigned", "lien"),
                              "x": ("waitlisted", None), "f": ("forwarded", None),
                              "h": ("waitlisted", None)})

    def test_connector_is_the_current_or_last_offer(self):
        self.assertEqual(sorted(self.listed(connector="kelly")), ["c"])
        self.assertEqual(sorted(self.listed(connector="sophie")), ["a", "b"])
        self.assertEqual(sorted(self.listed(connector="lien")), ["m"])
        self.assertEqual(self.listed(connector="nobody"), [])

    def test_team_is_the_offers_team_or_a_waiting_referrals_candidates(self):
        self.assertEqual(sorted(self.listed(team="genk")), ["a", "b", "c"])
        self.assertEqual(sorted(self.listed(team="maasmechelen")), ["m", "x"])

    def test_status_as_a_string_or_a_list(self):
        self.assertEqual(sorted(self.listed(status="waitlisted")), ["b", "h", "x"])
        self.assertEqual(sorted(self.listed(status=["assigned", "waitlisted"])),
                         ["a", "b", "c", "h", "m", "x"])
        self.assertEqual(self.listed(status=["forwarded"]), ["f"])
        self.assertEqual(sorted(self.listed(status=["closed", "forwarded", "withdrawn"])), ["f"])

    def test_attention_lists_who_waits_for_a_coordinator(self):
        rep = self.d.ok({"op": "list", "attention": True})
        self.assertEqual([(self.names[x["id"]], x["attention"]) for x in rep["referrals"]],
                         [("h", "no_candidate")])
        others = self.d.ok({"op": "list"})["referrals"]
        self.assertEqual([x for x in others if "attention" in x and self.names[x["id"]] != "h"],
                         [], "only a referral with attention carries it")

    def test_every_given_filter_must_hold(self):
        self.assertEqual(self.listed(team="genk", status="waitlisted"), ["b"])
        self.assertEqual(self.listed(team="genk", status=["assigned"], connector="sophie"), ["a"])
        self.assertEqual(self.listed(connector="sophie", status="assigned"), ["a"])
        self.assertEqual(self.listed(team="maasmechelen", connector="kelly"), [])
        self.assertEqual(self.listed(attention=True, team="genk"), [],
                         "a referral nobody can take is under no team")
        self.assertEqual(self.listed(attention=True, status="waitlisted"), ["h"])

    def test_since_and_limit_page_through_a_filter(self):
        everything = self.listed(team="genk")
        first = self.d.ok({"op": "list", "team": "genk", "limit": 2})["referrals"]
        self.assertEqual([self.names[x["id"]] for x in first], everything[:2])
        rest = self.listed(team="genk", since=first[-1]["seq"])
        self.assertEqual(rest, everything[2:])

    def test_referralctl_list_takes_them(self):
        def run(*args):
            p = subprocess.run([REFERRALCTL, "-e", self.d.intake, "--json", "list"] + list(args),
                               capture_output=True, text=True, timeout=30, env=rdtest.clean_env())
            self.assertExit(p, 0)
            return sorted(self.names[x["id"]] for x in json.loads(p.stdout)["referrals"])
        self.assertEqual(run("--status", "assigned", "--status", "waitlisted", "--team", "genk"),
                         ["a", "b", "c"])
        self.assertEqual(run("--connector", "sophie", "--status", "waitlisted"), ["b"])
        self.assertEqual(run("--attention"), ["h"])
        p = subprocess.run([REFERRALCTL, "-e", self.d.intake, "list", "--team", "genk"],
                           capture_output=True, text=True, timeout=30, env=rdtest.clean_env())
        self.assertExit(p, 0)
        self.assertRegex(p.stdout, r"(?m)^ID\s+STATUS.*\bATTENTION$")
        self.assertEqual(len([ln for ln in p.stdout.splitlines() if ln.startswith("R")]), 3)
        p = subprocess.run([REFERRALCTL, "-e", self.d.intake, "list", "--attention", "yes"],
                           capture_output=True, text=True, timeout=30, env=rdtest.clean_env())
        self.assertExit(p, 2)


class FiltersOnWhatAClientMaySee(rdtest.SecuredCase):
    """The filters narrow what the client may see; they never widen it."""

    CLIENTS = CLIENTS
    ROUTING = ROUTING

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ids = scenario(cls.d)
        cls.names = {v: k for k, v in cls.ids.items()}

    def listed(self, who, **filters):
        req = {"op": "list"}
        req.update(filters)
        rep = self.as_(who, req)
        self.assertOk(rep)
        return sorted(self.names[x["id"]] for x in rep["referrals"])

    def test_a_connector_sees_only_what_was_ever_offered_to_it(self):
        self.assertEqual(self.listed("sophie", team="genk"), ["a", "b"])
        self.assertEqual(self.listed("sophie", connector="kelly"), [])
        self.assertEqual(self.listed("sophie", status="waitlisted"), ["b"])
        self.assertEqual(self.listed("sophie", attention=True), [])

    def test_a_partner_sees_its_own(self):
        self.assertEqual(self.listed("genk", connector="kelly"), ["c"])
        self.assertEqual(self.listed("genk", attention=True), ["h"])


if __name__ == "__main__":
    import unittest
    unittest.main()
