#!/bin/bash
# tools/perf/instructions.sh: instructions per submit of the daemon, the
# floor and the bare floor, counted by callgrind; the same figures for the
# same binaries whatever else the machine does (docs/performance.md,
# "Instruments").
#
# Method: referral-bench starts each server under callgrind
# (tools/perf/callgrind-wrap in place of the server) and sends it the same
# load twice, SHORT and LONG submits (4 clients x 16 in flight, the
# daemon routing with room for every referral: every submit assigned, as in
# issue 16; the refs and contents fixed by --ref-prefix, so that both runs
# and every rerun send the same referrals). Each run starts on a fresh
# database. The figure is (instructions of the LONG run - those of the
# SHORT run) / (LONG - SHORT): start-up, the first ping, the first batch's
# set-up and the shutdown are in both and cancel. callgrind counts every
# thread of the server (ZeroMQ's I/O thread too).
#
# Usage: tools/perf/instructions.sh [-B BUILD] [-s SHORT] [-l LONG]
#            [-k daemon,floor,bare] [-o DIR] [-p] [-j]
#   -B BUILD  the build folder (default: build); RelWithDebInfo, so that the
#             profile names the daemon's functions
#   -s, -l    the two lengths (default 1000 and 4000)
#   -k        which servers (default daemon,floor,bare)
#   -o DIR    where the profiles stay (default BUILD/perf), for
#             callgrind_annotate or kcachegrind
#   -p        and where the daemon's instructions go (callgrind_profile.py
#             --profile)
#   -j        one JSON object per server (callgrind_profile.py --json)
# Takes about a minute for the daemon (callgrind runs it ~50 times slower)
# and seconds for each floor. Exit status 0, or 1 when a run failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$src/build
short=1000
long=4000
kinds=daemon,floor,bare
out=
profile=
json=
while getopts "B:s:l:k:o:pjh" opt; do
        case $opt in
        B) build=$(cd "$OPTARG" && pwd) ;;
        s) short=$OPTARG ;;
        l) long=$OPTARG ;;
        k) kinds=$OPTARG ;;
        o) out=$OPTARG ;;
        p) profile=--profile ;;
        j) json=--json ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) exit 2 ;;
        esac
done
out=${out:-$build/perf}
mkdir -p "$out"
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 1; }
[ "$long" -gt "$short" ] || { echo "instructions.sh: -l must be larger than -s" >&2; exit 2; }

# run KIND N: one run of N submits against KIND under callgrind
run() {
        local kind=$1 n=$2 program=$build/referral-floor opt extra=()
        case $kind in
        daemon) program=$build/referrald opt=--spawn extra=(--room) ;;
        floor) opt=--floor ;;
        bare) opt=--bare ;;
        *) echo "instructions.sh: no server '$kind'" >&2; exit 2 ;;
        esac
        rm -f "$out/$kind-$n.out"
        if ! RD_PERF_PROGRAM=$program RD_PERF_OUT=$out/$kind-$n.out \
                "$build/referral-bench" "$opt=$here/callgrind-wrap" "${extra[@]}" \
                -c 4 -w 16 -n "$n" --ref-prefix perf >"$out/$kind-$n.txt" 2>&1; then
                echo "instructions.sh: the run of $n submits against the $kind failed:" >&2
                cat "$out/$kind-$n.txt" >&2
                exit 1
        fi
}

for kind in ${kinds//,/ }; do
        run "$kind" "$short"
        run "$kind" "$long"
        [ -n "$json" ] || printf '%-7s ' "$kind:"
        p=
        [ "$kind" = daemon ] && p=$profile
        /usr/bin/python3 "$here/callgrind_profile.py" $p $json \
                "$out/$kind-$short.out" "$short" "$out/$kind-$long.out" "$long"
done
