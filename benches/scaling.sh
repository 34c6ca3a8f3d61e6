#!/bin/sh
# Per-event cost of every simulated strategy at 1k, 10k, 100k and 1M live blocks (issue 16).
#
#   benches/scaling.sh [EVENTS]        (run from the repository root after `cargo build --release`)
#
# For each size L it generates `replay gen --events max(EVENTS, 4 L) --live L --pattern plateau`
# (a quick ramp to L live blocks, then churn at that level: the same mixed sizes at every L, so
# only the number of live blocks changes), replays it through `--alloc simulated --runs 3` and
# prints ns/event (1e9 / the median events/s of the three untimed throughput runs) and work/event
# per strategy, one row per strategy, one column per L. EVENTS defaults to 2000000. Set REPLAY
# to time another build of the binary, ALLOC to replay another `--alloc` list (default
# `simulated`; `ALLOC=simulated,real EXTRA=--no-touch` adds the real allocators, which then
# write nothing into their blocks, as the simulations write nothing), EXTRA for more options.
# Takes a few minutes on a quiet machine.
set -eu

events=${1:-2000000}
replay=${REPLAY:-target/release/replay}
alloc=${ALLOC:-simulated}
extra=${EXTRA:-}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

sizes="1000 10000 100000 1000000"
for live in $sizes; do
    n=$events
    [ "$n" -lt $((4 * live)) ] && n=$((4 * live))
    "$replay" gen --events "$n" --live "$live" --pattern plateau --output "$dir/t.csv" >/dev/null 2>&1
    # shellcheck disable=SC2086 # EXTRA is a list of options
    "$replay" "$dir/t.csv" --alloc "$alloc" --runs 3 $extra --quiet --json "$dir/$live.json" >/dev/null
done

printf '%-14s' strategy
for live in $sizes; do printf '%22s' "ns/event @ $live"; done
printf '%14s\n' 'work/event'
jq -r '.results[].allocator' "$dir/1000.json" | while read -r name; do
    printf '%-14s' "$name"
    for live in $sizes; do
        jq -r --arg n "$name" \
            '.results[] | select(.allocator == $n) | 1e9 / .throughput.median | . * 10 | round / 10' \
            "$dir/$live.json" | xargs printf '%22s'
    done
    jq -r --arg n "$name" '[.results[] | select(.allocator == $n) | if .work_per_event == null then "-" else .work_per_event * 100 | round / 100 end] | .[0]' \
        "$dir/1000000.json" | xargs printf '%14s\n'
done
