#!/usr/bin/env bash
# The recording overhead of `replay record` at 1, 4 and 16 threads: the wall time of
# `examples/allocate.rs threads N CALLS` (N threads, CALLS callocs and as many frees each) alone,
# with the interposer preloaded and recording (the program's own slowdown: what the
# interposer's locks cost), and under the whole `replay record` (which also converts the
# recording), the median of RUNS runs of each. Figures in benches/README.md.
#   cargo build --release --workspace --example allocate && bash benches/record_overhead.sh
# Environment: CALLS (per thread, default 200000), RUNS (default 5), THREADS (default "1 4 16"),
# REPLAY (the replay binary, default target/release/replay; the interposer beside it is used).
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${CALLS:-200000}
runs=${RUNS:-5}
bin=target/release
replay=${REPLAY:-$bin/replay}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
interposer="$(dirname "$replay")/libreplay_interposer.so"
printf '%-8s %10s %11s %10s %7s\n' threads alone interposed recorded ratio
for n in ${THREADS:-1 4 16}; do
  alone=$(for _ in $(seq "$runs"); do seconds "$bin/examples/allocate" threads "$n" "$calls"; done | median)
  interposed=$(for _ in $(seq "$runs"); do
    rm -f "$out/raw"
    # The program's parent is this subshell (env execs it).
    seconds env LD_PRELOAD="$interposer" REPLAY_RECORD_FILE="$out/raw" \
      REPLAY_RECORD_PARENT="$BASHPID" "$bin/examples/allocate" threads "$n" "$calls"
  done | median)
  recorded=$(for _ in $(seq "$runs"); do
    seconds "$replay" record -o "$out/t.csv" -- "$bin/examples/allocate" threads "$n" "$calls"
  done | median)
  printf '%-8s %9.3fs %10.3fs %9.3fs %6.1fx\n' "$n" "$alone" "$interposed" "$recorded" \
    "$(echo "$recorded / $alone" | bc -l)"
done
