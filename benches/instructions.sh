#!/usr/bin/env bash
# Instructions, simulated branch mispredicts and D1 misses per event of ONE untimed throughput
# pass, per strategy: deterministic figures that do not depend on the machine's load (the
# machines this project runs on are shared VMs without hardware counters).
#
#   bash benches/instructions.sh TRACE EVENTS STRATEGY...
#   K=2 REPLAY=/tmp/old-replay bash benches/instructions.sh traces/perl-hash.csv 101002 tlsf
#
# For each strategy it runs `replay TRACE --alloc S --runs 1` and `--runs 1+K` under cachegrind
# (branch and cache simulation on) and divides the difference by K passes and EVENTS (the trace's
# event count, as the JSON's `events` says). The difference also holds each extra pass's untimed
# set-up (the table of live blocks is allocated and cleared per pass), a few instructions per
# event at most. Needs valgrind; takes ~10 s per strategy on perl-hash.
set -euo pipefail
trace=$1; events=$2; shift 2
K=${K:-4}
replay=${REPLAY:-target/release/replay}
for s in "$@"; do
  for r in 1 $((1 + K)); do
    valgrind --tool=cachegrind --cache-sim=yes --branch-sim=yes --cachegrind-out-file=/dev/null \
        "$replay" "$trace" --alloc "$s" --runs "$r" -q --samples 0 2>&1 |
      awk -v r="$r" '/I   refs/ {gsub(",", "", $4); i = $4}
                     /D1  misses/ {gsub(",", "", $4); d = $4}
                     /Mispredicts/ {gsub(",", "", $3); m = $3}
                     END {print r, i, m, d}'
  done | awk -v s="$s" -v n="$events" -v k="$K" '
      NR == 1 {i = $2; m = $3; d = $4}
      NR == 2 {printf "%-13s %8.1f Ir/event %6.2f mispredicts/event %6.2f D1 misses/event\n",
               s, ($2 - i) / k / n, ($3 - m) / k / n, ($4 - d) / k / n}'
done
