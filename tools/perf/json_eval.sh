#!/bin/bash
# tools/perf/json_eval.sh: instructions per submit request of each C JSON
# parser Debian 12 packages, and per event written (tools/perf/json_eval.c
# says what each does),
# counted by callgrind: the inclusive cost of each parser's function over
# SHORT and LONG requests, the difference divided by LONG - SHORT (the
# first calls' set-up cancels). Needs libjson-c-dev and libcjson-dev
# (libyajl-dev is a build package); then the build makes referral-json-eval
# and referral-json-eval-jsonc.
#
# Usage: tools/perf/json_eval.sh [-B BUILD] [-o DIR]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$here/../.." && pwd)/build
out=
while getopts "B:o:h" opt; do
        case $opt in
        B) build=$(cd "$OPTARG" && pwd) ;;
        o) out=$OPTARG ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) exit 2 ;;
        esac
done
out=${out:-$build/perf}
mkdir -p "$out"
for p in referral-json-eval referral-json-eval-jsonc; do
        [ -x "$build/$p" ] || { echo "json_eval.sh: no $build/$p (install the -dev packages)" >&2; exit 1; }
        for n in 1000 3000; do
                valgrind --tool=callgrind --callgrind-out-file="$out/$p-$n.out" \
                        --log-file="$out/$p-$n.log" "$build/$p" -n "$n" >"$out/$p-$n.txt"
        done
done
/usr/bin/python3 - "$here" "$out" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from callgrind_profile import Profile, by_name
out = sys.argv[2]
print("%-12s %14s" % ("parser", "instructions"))
for prog, names in (("referral-json-eval", ["jansson", "jansson_all", "cjson", "yajl",
                                            "yajl_decode", "gen_jansson", "gen_cjson", "gen_yajl"]),
                    ("referral-json-eval-jsonc", ["jsonc"])):
    a = by_name(Profile("%s/%s-1000.out" % (out, prog)).inclusive())
    b = by_name(Profile("%s/%s-3000.out" % (out, prog)).inclusive())
    for n in names:
        f = n if n.startswith("gen_") else "parse_" + n
        print("%-12s %14s" % (n, "{:,.0f}".format((b.get(f, 0) - a.get(f, 0)) / 2000)))
PY
