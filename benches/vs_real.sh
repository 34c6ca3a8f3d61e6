#!/usr/bin/env bash
# The table of issue 16: every simulated strategy's throughput beside `replay`'s own real
# allocators (glibc, mimalloc, jemalloc, each replayed in child processes), on five traces, and
# the ratios strategy / glibc and strategy / mimalloc. One command, re-runnable:
#
#   bash benches/vs_real.sh            # builds target/release/replay if needed
#   RUNS=3 bash benches/vs_real.sh     # fewer runs (default 5, as the issue's table)
#   PREPARE_ONLY=1 bash benches/vs_real.sh   # only record / generate the traces
#
# The traces: the shipped traces/perl-hash.csv and traces/python-dict.csv.gz; a gcc cc1 run and
# a python3 json run, recorded with `replay record` into $WORK (default /tmp/replay-vs-real) if
# they are not there yet; and `replay gen --events 10000000 --live 100000`, converted once to
# .rtrace. Each is replayed with `replay T --alloc all --runs $RUNS --json ... -v`: the JSON
# files and each run's wall-time breakdown (-v) stay in $WORK. About 5 minutes on a loaded
# 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
WORK=${WORK:-/tmp/replay-vs-real}
REPLAY=${REPLAY:-target/release/replay}
mkdir -p "$WORK"
[ -x "$REPLAY" ] || cargo build --release --locked
REPLAY=$(realpath "$REPLAY")

# A gcc cc1 run: compiling a C file made here (the same on every machine), with -O2.
cc1=$(ls "$WORK"/gcc.cc1.*.csv 2>/dev/null | head -n 1 || true)
if [ -z "$cc1" ]; then
    python3 - "$WORK/unit.c" <<'EOF'
import sys
with open(sys.argv[1], "w") as out:
    out.write("#include <string.h>\nstruct s { int a[8]; double d; char n[16]; };\n")
    for i in range(80):
        out.write(f"""
static int helper{i}(struct s *p, int x) {{
    for (int k = 0; k < 8; k++) p->a[k] = (p->a[k] * {i + 3} + x) ^ k;
    switch (x % 5) {{ case 0: return p->a[{i % 8}]; case 1: return (int)p->d;
    case 2: return strlen(p->n); case 3: return p->a[0] + {i}; default: return x * {i}; }}
}}
int entry{i}(struct s *p, int x) {{ return helper{i}(p, x) + helper{i}(p, x + 1); }}
""")
EOF
    "$REPLAY" record -o "$WORK/gcc.csv" -- gcc -O2 -c "$WORK/unit.c" -o "$WORK/unit.o" >&2
    cc1=$(ls "$WORK"/gcc.cc1.*.csv | head -n 1)
fi

# A python3 json run: build, dump and load a list of dicts.
pyjson="$WORK/python-json.csv"
if [ ! -s "$pyjson" ]; then
    # The interpreter itself, not pyenv's shim; every object through malloc (not pymalloc's
    # arenas), as a program that allocates per object does.
    python=$(python3 -c 'import sys; print(sys.executable)')
    PYTHONMALLOC=malloc "$REPLAY" record -o "$pyjson" -- "$python" -c '
import json
d = [{"k%d" % i: list(range(i % 40)), "s": "x" * (i % 90), "f": i / 7} for i in range(2000)]
s = json.dumps(d)
assert json.loads(s) == d
' >&2
fi

gen="$WORK/gen-10m-100k.rtrace"
if [ ! -s "$gen" ]; then
    "$REPLAY" gen --events 10000000 --live 100000 -o "$WORK/gen-10m-100k.csv" >&2
    "$REPLAY" convert "$WORK/gen-10m-100k.csv" -o "$gen" >&2
    rm -f "$WORK/gen-10m-100k.csv"
fi

[ -z "${PREPARE_ONLY:-}" ] || { echo "replay: traces ready in $WORK" >&2; exit 0; }

names=(perl-hash python-dict gcc-cc1 python3-json gen-10M-100k)
traces=(traces/perl-hash.csv traces/python-dict.csv.gz "$cc1" "$pyjson" "$gen")
started=$(date +%s)
for i in "${!names[@]}"; do
    echo "replay: ${traces[$i]} --alloc all --runs $RUNS" >&2
    "$REPLAY" "${traces[$i]}" --alloc all --runs "$RUNS" -q -v \
        --json "$WORK/${names[$i]}.json" 2> "$WORK/${names[$i]}.phases.txt"
done
echo "replay: all five in $(( $(date +%s) - started )) s; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$WORK" "${names[@]}" <<'EOF'
import json, sys
work, names = sys.argv[1], sys.argv[2:]
results = {}
for name in names:
    with open(f"{work}/{name}.json") as f:
        doc = json.load(f)
    results[name] = {r["allocator"]: r for r in doc["results"]}
def median(name, allocator):
    t = results[name].get(allocator, {}).get("throughput")
    return t["median"] / 1e6 if t else None
first = results[names[0]]
real = [a for a, r in first.items() if r.get("kind") == "real"]
simulated = [a for a, r in first.items() if r.get("kind") != "real"]
header = "| events/s, millions (median of runs) | " + " | ".join(names) + " |"
print(header)
print("|---|" + "---:|" * len(names))
def row(label, cells):
    print(f"| {label} | " + " | ".join(cells) + " |")
fmt = lambda x: "-" if x is None else (f"{x:.1f}" if x < 10 else f"{x:.0f}")
for a in real:
    row(f"{a} (real)", [fmt(median(n, a)) for n in names])
for a in simulated:
    row(a, [fmt(median(n, a)) for n in names])
print()
print("| strategy / glibc, strategy / mimalloc | " + " | ".join(names) + " |")
print("|---|" + "---:|" * len(names))
for a in simulated:
    cells = []
    for n in names:
        s, g, m = median(n, a), median(n, "glibc"), median(n, "mimalloc")
        ratio = lambda x: "-" if s is None or not x else f"{s / x:.2f}"
        cells.append(f"{ratio(g)} / {ratio(m)}")
    row(a, cells)
EOF
