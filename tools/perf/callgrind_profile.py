#!/usr/bin/python3
"""tools/perf/callgrind_profile.py: instructions per submit, from two callgrind
profiles of the same server under two lengths of the same load.

    callgrind_profile.py SHORT.out N_SHORT LONG.out N_LONG [--profile] [--json]

Each profile is read whole (the callgrind format: costs per function, and
for each call the callee's inclusive cost), and every figure is the
difference LONG - SHORT divided by N_LONG - N_SHORT: start-up, the ping,
the set-up of the first batch and the shutdown are in both and cancel, so
what is left is what one more submit costs. Instruction counts do not
depend on the machine's load; they vary a little with how requests fall
into batches (one commit per batch), which the difference of two lengths
of the same load keeps small (docs/performance.md says how much).

With --profile, where the instructions go (docs/performance.md, "Where the
time goes"):
  - by object (the daemon, libsqlite3, libjansson, libc, ...): the
    instructions executed in each, exclusive;
  - libc by kind: malloc and free, the string and memory functions, the
    printf family;
  - the steps of a submit: the inclusive cost of the daemon's own
    functions along the path, each named below (STEPS);
  - json_dumps, json_loadb and the jansson object building by caller: who
    serialises, parses or builds what;
  - the functions with the largest exclusive cost.
Standard library only (/usr/bin/python3)."""

import argparse
import json
import re
import sys
from collections import defaultdict

# The steps of one submit through the daemon, as functions whose inclusive
# cost is that step (daemon/ and lib/; a static function the compiler
# inlined shows up in its caller). They nest as indented.
STEPS = [
    ("rd_server_serve_batch", 0, "a batch: everything below, per submit"),
    ("recv_request", 1, "receive the frame (ZeroMQ)"),
    ("rd_ops_handle", 1, "answer one request"),
    ("rd_request_decode", 2, "decode the request (yajl; the referral into its struct)"),
    ("rd_referral_from_view", 3, "validate the referral (in the decoder)"),
    ("rd_op_submit", 2, "submit"),
    ("rd_hub_submit", 3, "the hub's submit"),
    ("rd_referral_canonical", 4, "canonical form (yajl_gen) and SHA-256"),
    ("rd_canonical_write", 4, "canonical form (yajl_gen, the hub's writer) and SHA-256"),
    ("rd_store_find", 4, "idempotency: look the ref up"),
    ("rd_route_decide", 4, "decide, with the trace as a jansson tree"),
    ("rd_route_decide_record", 4, "decide: the route record"),
    ("hub_trace_text", 4, "the trace as stored: the record, compact (lib/trace_store)"),
    ("hub_waiting_candidates", 4, "the candidates of a waiting referral"),
    ("hub_write", 4, "store: row, offer, round robin, events"),
    ("sq_insert", 5, "the driver's insert: all below"),
    ("insert_row", 6, "INSERT the referral (8 indexes; inlined: in sq_insert)"),
    ("offer_parts", 6, "offer_counts, offered, round_robin"),
    ("append_events", 6, "two events: JSON, INSERT, index"),
    ("rd_event_text", 7, "the event's text (yajl_gen)"),
    ("rd_event_write", 7, "the event's text for the outbox (yajl_gen, the store's writer)"),
    ("sq_event_insert", 7, "the event's INSERT in its compact form, with the index"),
    ("hub_remember", 4, "memory follows (connectors' state)"),
    ("rd_ops_put_decision", 3, "the reply's decision fields (jansson tree)"),
    ("audit", 2, "the audit row"),
    ("rd_hub_request_begin", 2, "SAVEPOINT (not for a submit: rd_hub_request_begin_whole)"),
    ("rd_hub_request_end", 2, "RELEASE (a submit: nothing to release)"),
    ("json_delete", 2, "free the request's tree (and every other tree: all callers)"),
    ("set_reply", 1, "serialise the reply (json_dumps)"),
    ("rd_server_commit", 1, "COMMIT (one per batch)"),
    ("rd_txn_commit", 1, "COMMIT (one per batch)"),
    ("send_reply", 1, "send the reply (ZeroMQ)"),
    ("rd_server_publish", 1, "publish the events (PUB socket, log lines)"),
]

# Functions of jansson whose callers say who does what.
BY_CALLER = ["json_dumps", "json_loadb", "json_object_set_new_nocheck", "json_object_set_new",
             "json_decref_helper", "json_delete", "vsnprintf", "__vsnprintf_internal",
             "__snprintf", "snprintf", "malloc", "free"]

# The servers' own binaries: what they call into a library is that
# library's, with whatever it calls in turn (memset of SQLite's pages is
# SQLite's, jansson's malloc is jansson's).
OWN = ("referrald", "referral-floor")

# Library functions that call back into the server's own code (the start of
# the program and of threads): not counted as the library's.
CALLS_BACK = re.compile(r"libc_start|start_thread|^clone|below main")

NAME = re.compile(r"^\((\d+)\)(?: (.*))?$")


class Profile:
    """One callgrind file: exclusive cost per function, inclusive cost per
    call edge, the program total. A function is (object, name)."""

    def __init__(self, path):
        self.self_cost = defaultdict(int)
        self.edges = defaultdict(int)  # (caller, callee) -> inclusive cost of the calls
        self.files = {}  # function -> the source file it is defined in
        self.total = 0
        self.read(path)

    def read(self, path):
        names = {"ob": {}, "fl": {}, "fn": {}}
        ob = fl = fn = None
        cob = cfn = None
        in_call = False
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    continue
                c = line[0]
                if c.isdigit() or c in "+-*":
                    cost = int(line.split()[-1]) if len(line.split()) > 1 else 0
                    if in_call:
                        self.edges[(fn, (cob or ob, cfn))] += cost
                        in_call = False
                        cob = cfn = None
                    else:
                        self.self_cost[fn] += cost
                    continue
                key, _, value = line.partition("=")
                if key in ("ob", "cob", "fl", "fi", "fe", "cfi", "cfl", "fn", "cfn"):
                    space = {"ob": "ob", "cob": "ob", "fn": "fn", "cfn": "fn"}.get(key, "fl")
                    m = NAME.match(value)
                    if m:
                        if m.group(2) is not None:
                            names[space][m.group(1)] = m.group(2)
                        value = names[space].get(m.group(1), value)
                    if key == "ob":
                        ob = value
                    elif key == "cob":
                        cob = value
                    elif key == "fl":
                        fl = value
                    elif key == "fn":
                        fn = (ob, value)
                        self.files.setdefault(fn, fl)
                    elif key == "cfn":
                        cfn = value
                elif key == "calls":
                    in_call = True
                elif key == "summary" or key == "totals":
                    self.total = max(self.total, int(value.split()[0]))
        if not self.total:
            self.total = sum(self.self_cost.values())

    def inclusive(self):
        """Inclusive cost per function: its own plus its calls to others
        (a call to itself is in its own already)."""
        inc = defaultdict(int, self.self_cost)
        for (caller, callee), cost in self.edges.items():
            if caller != callee:
                inc[caller] += cost
        return inc


def short_object(ob):
    ob = ob or "???"
    base = ob.rsplit("/", 1)[-1]
    m = re.match(r"(lib[\w+-]+?)(?:-[\d.]+)?\.so", base)
    return m.group(1) if m else base


def libc_kind(fn, files):
    name = fn[1]
    fl = files.get(fn) or ""
    if "malloc" in fl or name in ("malloc", "free", "realloc", "calloc", "cfree"):
        return "malloc and free"
    if "printf" in fl or "printf" in name or "vfprintf" in fl:
        return "the printf family"
    if re.search(r"mem|str|wcs", name) or "string" in fl or "multiarch" in fl:
        return "string and memory functions"
    return "other libc"


def by_name(costs):
    out = defaultdict(int)
    for (ob, name), v in costs.items():
        out[name] += v
    return out


def differences(short, long_, per):
    """The figures of LONG - SHORT, per submit."""
    out = {}
    out["total"] = (long_.total - short.total) / per
    objects = defaultdict(float)
    kinds = defaultdict(float)
    for prof, sign in ((long_, 1), (short, -1)):
        for fn, v in prof.self_cost.items():
            o = short_object(fn[0])
            objects[o] += sign * v / per
            if o == "libc.so.6" or o.startswith("libc"):
                kinds[libc_kind(fn, prof.files)] += sign * v / per
    out["objects"] = dict(objects)
    entry = defaultdict(float)
    for prof, sign in ((long_, 1), (short, -1)):
        own = {fn[0] for fn in prof.self_cost if short_object(fn[0]) in OWN}
        for fn, v in prof.self_cost.items():
            if fn[0] in own:
                entry[short_object(fn[0])] += sign * v / per
        for (caller, callee), v in prof.edges.items():
            if caller[0] in own and callee[0] not in own and not CALLS_BACK.search(callee[1]):
                entry[short_object(callee[0])] += sign * v / per
    out["entered"] = dict(entry)
    out["libc"] = dict(kinds)
    inc_l, inc_s = by_name(long_.inclusive()), by_name(short.inclusive())
    out["steps"] = [(name, depth, what, (inc_l.get(name, 0) - inc_s.get(name, 0)) / per)
                    for name, depth, what in STEPS]
    callers = defaultdict(float)
    for prof, sign in ((long_, 1), (short, -1)):
        for (caller, callee), v in prof.edges.items():
            if callee[1] in BY_CALLER and caller[1] != callee[1]:
                callers[(callee[1], caller[1])] += sign * v / per
    out["callers"] = {"%s <- %s" % k: v for k, v in callers.items()}
    self_l, self_s = long_.self_cost, short.self_cost
    fns = defaultdict(float)
    for fn in set(self_l) | set(self_s):
        fns["%s [%s]" % (fn[1], short_object(fn[0]))] = (self_l.get(fn, 0) - self_s.get(fn, 0)) / per
    out["functions"] = dict(fns)
    return out


def share(v, total):
    return "%5.1f%%" % (100.0 * v / total) if total else "     -"


def print_profile(d, out):
    total = d["total"]
    w = out.write
    w("\nBy object (exclusive), per submit:\n")
    for o, v in sorted(d["objects"].items(), key=lambda kv: -kv[1]):
        if abs(v) >= total * 0.002:
            w("  %-28s %10s %s\n" % (o, "{:,.0f}".format(v), share(v, total)))
    w("\nBy what the server calls (its own code, and each library with all it\n"
      "calls in turn), per submit:\n")
    for o, v in sorted(d["entered"].items(), key=lambda kv: -kv[1]):
        if abs(v) >= total * 0.002:
            w("  %-28s %10s %s\n" % (o, "{:,.0f}".format(v), share(v, total)))
    w("  %-28s %10s %s\n" % ("other threads and start-up", "{:,.0f}".format(
        total - sum(d["entered"].values())), share(total - sum(d["entered"].values()), total)))
    w("\nlibc by kind (exclusive), per submit:\n")
    for k, v in sorted(d["libc"].items(), key=lambda kv: -kv[1]):
        w("  %-28s %10s %s\n" % (k, "{:,.0f}".format(v), share(v, total)))
    w("\nThe steps of a submit (inclusive), per submit:\n")
    for name, depth, what, v in d["steps"]:
        if v == 0:
            continue
        w("  %-44s %10s %s  %s\n" % ("  " * depth + name, "{:,.0f}".format(v), share(v, total),
                                     what))
    w("\nWho calls (inclusive cost of the calls), per submit:\n")
    for k, v in sorted(d["callers"].items(), key=lambda kv: -kv[1]):
        if v >= total * 0.005:
            w("  %-60s %10s %s\n" % (k, "{:,.0f}".format(v), share(v, total)))
    w("\nThe 30 functions of the largest exclusive cost, per submit:\n")
    for k, v in sorted(d["functions"].items(), key=lambda kv: -kv[1])[:30]:
        w("  %-60s %10s %s\n" % (k[:60], "{:,.0f}".format(v), share(v, total)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("short")
    ap.add_argument("n_short", type=int)
    ap.add_argument("long")
    ap.add_argument("n_long", type=int)
    ap.add_argument("--profile", action="store_true", help="where the instructions go")
    ap.add_argument("--json", action="store_true", help="the figures as one JSON object")
    a = ap.parse_args()
    if a.n_long <= a.n_short:
        ap.error("N_LONG must be larger than N_SHORT")
    short, long_ = Profile(a.short), Profile(a.long)
    d = differences(short, long_, a.n_long - a.n_short)
    d["n_short"], d["n_long"] = a.n_short, a.n_long
    d["total_short"], d["total_long"] = short.total, long_.total
    if a.json:
        json.dump(d, sys.stdout)
        sys.stdout.write("\n")
        return
    sys.stdout.write("%s instructions per submit (%s for %d, %s for %d)\n" % (
        "{:,.0f}".format(d["total"]), "{:,}".format(short.total), a.n_short,
        "{:,}".format(long_.total), a.n_long))
    if a.profile:
        print_profile(d, sys.stdout)


if __name__ == "__main__":
    main()
