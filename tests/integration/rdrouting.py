"""rdrouting: routing.yaml texts for the integration tests (routing.md,
version 1), so that each test states only what differs from what most of
them use.

    routing([CRISIS, rule("fam", {"kind": "family_support"}, assign="genk"), REST],
            teams=[genk(5)], window="60s", accept_within="2s")

PyYAML writes the text: a mapping or list that holds only scalars and lists
of scalars (a connector, a forward target, `defaults`, `when`, `assign`,
`forward`) on one line, everything else in blocks. The forward targets are
those the rules name, unless given.
"""

import yaml

CGG, CAW = "cgg-limburg", "caw-limburg"
TARGET_NAMES = {CGG: "CGG Limburg", CAW: "CAW Limburg"}

# routing.md's defaults, written out in every file.
DEFAULTS = {"window": "30d", "accept_within": "2d", "at_risk": "7d", "trajectory": "120d"}

GENK_POSTCODES = ["3600", "3660-3668"]
LANGUAGES = {"kelly": ["nl", "en"], "sophie": ["nl", "fr"], "murat": ["nl", "tr"],
             "lien": ["nl", "tr"]}

# A file the YAML parser refuses (an unclosed flow sequence).
BROKEN = "version: 1\nrules:\n  - name: x\n    when: {kind: [\n"


def connector(cid, capacity, skills=("family_support",), languages=None):
    """A connector; LANGUAGES True: its entry in LANGUAGES."""
    c = {"id": cid, "capacity": capacity,
         "skills": skills if isinstance(skills, str) else list(skills)}
    if languages is True:
        languages = LANGUAGES[cid]
    if languages is not None:
        c["languages"] = languages
    return c


def team(tid, connectors, postcodes=None, **more):
    """A team; MORE: further keys (to write a wrong file)."""
    t = {"id": tid}
    if postcodes is not None:
        t["postcodes"] = postcodes
    t["connectors"] = list(connectors)
    t.update(more)
    return t


def genk(capacity, postcodes=None, languages=None, people=("kelly", "sophie")):
    """Team genk: PEOPLE with CAPACITY each, skill family_support, with
    LANGUAGES (True: from LANGUAGES)."""
    return team("genk", [connector(p, capacity, languages=languages) for p in people], postcodes)


def psy(capacity=1):
    """Team psy: psy-1 with CAPACITY, skill first_line_psychology."""
    return team("psy", [connector("psy-1", capacity, ["first_line_psychology"])])


def rule(name, when=None, assign=None, forward=None, otherwise=None, overflow=None):
    """A rule. ASSIGN: a team id, a list of them, or the whole mapping;
    OVERFLOW: a team id or a list of them, the assign's `overflow` (rev 2);
    FORWARD: (target, reason); OTHERWISE: "waitlist" or (target, reason)."""
    r = {"name": name}
    if when is not None:
        r["when"] = when
    if assign is not None:
        if isinstance(assign, str):
            assign = [assign]
        r["assign"] = {"teams": assign} if isinstance(assign, list) else dict(assign)
    if overflow is not None:
        r["assign"]["overflow"] = [overflow] if isinstance(overflow, str) else list(overflow)
    if forward is not None:
        r["forward"] = {"to": forward[0], "reason": forward[1]}
    if otherwise is not None:
        r["otherwise"] = (otherwise if isinstance(otherwise, str)
                          else {"forward": {"to": otherwise[0], "reason": otherwise[1]}})
    return r


def pos(text, needle):
    """(line, column), both from 1, of the first NEEDLE in TEXT."""
    i = text.index(needle)
    line = text.count("\n", 0, i) + 1
    col = i - (text.rfind("\n", 0, i) + 1) + 1
    return line, col


def _forwards(rules):
    for r in rules:
        if "forward" in r:
            yield r["forward"]
        if isinstance(r.get("otherwise"), dict):
            yield r["otherwise"]["forward"]


def routing(rules, teams, targets=None, **defaults):
    """The text of a routing.yaml: version 1, DEFAULTS with DEFAULTS (the
    keyword arguments) over them, TEAMS, forward TARGETS ({id: name}; None:
    those that RULES forward to, named from TARGET_NAMES), RULES."""
    if targets is None:
        used = {f["to"] for f in _forwards(rules)}
        targets = {t: n for t, n in TARGET_NAMES.items() if t in used}
    doc = {"version": 1, "defaults": dict(DEFAULTS, **defaults), "teams": teams,
           "forward_targets": [{"id": t, "name": n} for t, n in targets.items()],
           "rules": rules}
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=1000)


# ------------------------------------------------------------ the writer


class _Dumper(yaml.SafeDumper):
    """Block sequences indented under their key; flat collections in flow
    style; no anchors, a shared list is written again."""

    def ignore_aliases(self, data):
        return True

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _scalar(v):
    return not isinstance(v, (dict, list))


def _flat(v):
    return _scalar(v) or (isinstance(v, list) and all(_scalar(x) for x in v))


def _mapping(dumper, data):
    return dumper.represent_mapping("tag:yaml.org,2002:map", data,
                                    flow_style=all(_flat(v) for v in data.values()))


def _sequence(dumper, data):
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data,
                                     flow_style=all(_scalar(v) for v in data))


_Dumper.add_representer(dict, _mapping)
_Dumper.add_representer(list, _sequence)


# ------------------------------------------------------------ the shared files

# The rules of the files with windows of seconds.
CRISIS = rule("crisis", {"urgency": "crisis"}, forward=(CGG, "acute crisis"))
REST = rule("rest", forward=(CAW, "outside the target group"))
FAM = rule("fam", {"kind": "family_support"}, assign="genk")

# The rules of basic().
BASIC_CRISIS = rule("crisis", {"urgency": "crisis"},
                    forward=(CGG, "acute crisis: needs specialised care at once"))


def psychology(team="psy"):
    """First-line psychology assigned in TEAM within 10d, else forwarded to
    CGG."""
    return rule("psychology", {"kind": "first_line_psychology"},
                assign={"teams": [team], "window": "10d"},
                otherwise=(CGG, "no psychologist can start within the window"))


PSYCHOLOGY = psychology()
FAMILY_GENK = rule("family-genk", {"kind": "family_support", "postcode": GENK_POSTCODES},
                   assign={"teams": ["genk"], "by_postcode": True}, otherwise="waitlist")
EVERYTHING_ELSE = rule("everything-else", forward=(CAW, "outside the target group"))
BASIC_RULES = [BASIC_CRISIS, PSYCHOLOGY, FAMILY_GENK, EVERYTHING_ELSE]


def basic(capacity=2, psy_capacity=1, rules=BASIC_RULES, teams=None):
    """The small file most tests use: genk (3600, 3660-3668; kelly and
    sophie with CAPACITY and their languages), psy (psy-1, PSY_CAPACITY);
    crisis forwarded to CGG, psychology assigned in 10d or forwarded to
    CGG, family support in genk's postcodes assigned or waitlisted,
    everything else forwarded to CAW."""
    if teams is None:
        teams = [genk(capacity, GENK_POSTCODES, languages=True), psy(psy_capacity)]
    return routing(rules, teams)


def windows(window, at_risk):
    """Window events within a test: WINDOW and AT_RISK of seconds, offers
    that do not lapse (60s); genk (kelly, sophie: 10 each), psy (psy-1: 1);
    crisis forwarded, psychology assigned or waitlisted, family support
    assigned, the rest forwarded."""
    return routing([CRISIS, rule("psychology", {"kind": "first_line_psychology"},
                                 assign="psy", otherwise="waitlist"), FAM, REST],
                   [genk(10), psy(1)], window=window, accept_within="60s", at_risk=at_risk)


ROUTING_BASIC = basic()
# Same shape, but with room for many referrals (durability, events, load).
ROUTING_ROOMY = basic(100000, 100000)

# Overflow (routing.md rev 2): Maasmechelen (3630, lien) is small, Genk
# (3600, kelly) next door helps out. Maasland families go to lien first,
# to kelly when lien is full; Genk families only ever to kelly. One place
# each, so that a test fills them with a referral each.
MAAS_POSTCODES = ["3630"]
FAMILY_MAASLAND = rule("family-maasland", {"kind": "family_support", "postcode": MAAS_POSTCODES},
                       assign="maasmechelen", overflow="genk", otherwise="waitlist")
FAMILY_GENK_ONLY = rule("family-genk", {"kind": "family_support", "postcode": ["3600"]},
                        assign="genk", otherwise="waitlist")


def overflow_routing(capacity=1):
    """FAMILY_MAASLAND and FAMILY_GENK_ONLY, the rest forwarded to CAW;
    lien and kelly with CAPACITY each."""
    return routing([FAMILY_MAASLAND, FAMILY_GENK_ONLY, EVERYTHING_ELSE],
                   [team("maasmechelen", [connector("lien", capacity)], MAAS_POSTCODES),
                    team("genk", [connector("kelly", capacity)], ["3600"])])


ROUTING_OVERFLOW = overflow_routing()
