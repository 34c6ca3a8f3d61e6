//! The figure registry: every figure `replay` reports, defined once.
//!
//! Each [`Figure`] carries its key (in the JSON result and as the CSV header), its label (the
//! column header of the tables), its unit, which way is better, its written definition, how it
//! is read from a result ([`ResultRecord`]) and how the regression gate treats it. The terminal
//! table, the CSV, Markdown and HTML tables, the HTML definitions, `replay compare`'s rows and
//! the names `--max-regression` accepts are all made from [`FIGURES`], so a figure cannot be
//! shown in one place and forgotten in another. Adding a figure is one entry here (and its
//! computation in [`crate::metrics`] and [`crate::results::ResultRecord::of`]); see
//! CONTRIBUTING.md.
//!
//! The words the definitions use ([`TERMS`]): after each event `i` of a replay,
//! `live_requested(i)` is the sum of the requested sizes of the live blocks, `live_consumed(i)`
//! the sum of the sizes of the blocks that hold them, and `footprint(i)` the strategy's `top`.

use crate::results::ResultRecord;

/// Which way a figure is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
    /// Not a score: a property of the trace more than of the strategy (max live bytes).
    Neither,
}

/// How a figure reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A whole number of events or allocations.
    Count,
    Bytes,
    /// A fraction, shown in percent.
    Ratio,
    /// Work units per event.
    PerEvent,
    EventsPerSec,
    Ns,
}

impl Unit {
    /// The unit's name, for the definitions.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Count => "count",
            Unit::Bytes => "bytes",
            Unit::Ratio => "ratio (shown in percent)",
            Unit::PerEvent => "work units per event",
            Unit::EventsPerSec => "events per second",
            Unit::Ns => "nanoseconds",
        }
    }

    /// A value as tables show it: rounded for reading (`1.50 KiB`, `12.34%`, `8.90M`).
    pub fn short(self, v: f64) -> String {
        match self {
            Unit::Count | Unit::Ns => format!("{v}"),
            Unit::Bytes => human_bytes(v as u64),
            Unit::Ratio => format!("{:.2}%", v * 100.0),
            Unit::PerEvent => format!("{v:.2}"),
            Unit::EventsPerSec => format!("{:.2}M", v / 1e6),
        }
    }

    /// Whether a change of this unit reads as a difference in percentage points (a ratio shown
    /// in percent: 10.50% -> 25.88% is `+15.38 pp`) rather than in percent of the old value
    /// (which would say `+146.43%`, a percent of a percent).
    pub fn changes_in_points(self) -> bool {
        self == Unit::Ratio
    }

    /// A value as `replay compare` shows it: precise enough to see any change of an exact
    /// figure.
    pub fn precise(self, v: f64) -> String {
        match self {
            Unit::Bytes => format!("{} ({})", v as u64, human_bytes(v as u64)),
            Unit::Count => format!("{}", v as u64),
            Unit::Ratio => format!("{:.4}%", v * 100.0),
            Unit::PerEvent => format!("{v:.4}"),
            Unit::EventsPerSec => format!("{:.3}M/s", v / 1e6),
            Unit::Ns => format!("{v} ns"),
        }
    }
}

/// Bytes as a person reads them: `512 B`, `1.5 KiB`, `3.25 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

/// Where a figure comes from, which decides how the gate judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An exact function of trace, strategy and settings, the same on every machine: any
    /// change is real. Shown in the memory table.
    Exact,
    /// A timing: noisy, and absent with `--runs 0`. Shown in the speed table.
    Timed,
}

/// How the gate holds a figure (`--max-regression NAME=PERCENT|off`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gate {
    /// The name `--max-regression` knows it by. Several figures may share one (`p99`).
    pub name: &'static str,
    /// The default threshold, as a fraction of the old value; `None` for off (shown, not gated).
    pub default: Option<f64>,
}

/// Reads every repetition of a repeated figure from a result.
pub type Repetitions = fn(&ResultRecord) -> Option<Vec<f64>>;

/// One figure.
pub struct Figure {
    /// Its place in a JSON result (`.` between nested keys) and its CSV column header.
    pub key: &'static str,
    /// Its column header in the tables.
    pub label: &'static str,
    /// Its name in sentences, `replay compare` rows and the definitions.
    pub name: &'static str,
    pub unit: Unit,
    pub better: Better,
    pub kind: Kind,
    /// What it is, in words a user can check by hand.
    pub definition: &'static str,
    /// The figure, from a result; `None` when the result does not have it.
    pub read: fn(&ResultRecord) -> Option<f64>,
    /// For a figure repeated `--runs` times (a timing; a real allocator's footprint): every
    /// repetition, which the gate tests for significance and the terminal shows the range of.
    /// `None`, or `None` from the reader, for a figure measured once.
    pub runs: Option<Repetitions>,
    /// `None`: never gated (not a score).
    pub gate: Option<Gate>,
}

impl Figure {
    /// The figure's value in `r`, as tables show it; `-` when absent.
    pub fn short(&self, r: &ResultRecord) -> String {
        (self.read)(r).map_or("-".to_string(), |v| self.unit.short(v))
    }

    /// The figure's value in `r` as the CSV has it: exact (integers for counts and bytes, the
    /// shortest decimal that reads back the same for ratios); empty when absent.
    pub fn exact(&self, r: &ResultRecord) -> String {
        match (self.read)(r) {
            None => String::new(),
            Some(v) => match self.unit {
                Unit::Count | Unit::Bytes | Unit::Ns => format!("{}", v as u64),
                Unit::Ratio | Unit::PerEvent | Unit::EventsPerSec => v.to_string(),
            },
        }
    }
}

const fn exact(v: Option<u64>) -> Option<f64> {
    match v {
        Some(v) => Some(v as f64),
        None => None,
    }
}

fn latency(
    r: &ResultRecord,
    pick: fn(&crate::results::LatencyRecord) -> Option<u64>,
) -> Option<f64> {
    exact(r.latency_ns.as_ref().and_then(pick))
}

/// Every run of a latency figure (a real allocator's `latency_ns_runs`); `None` for a result
/// measured once (a simulation's).
fn latency_runs(
    r: &ResultRecord,
    pick: fn(&crate::results::LatencyRecord) -> Option<u64>,
) -> Option<Vec<f64>> {
    let runs = r.latency_ns_runs.as_ref().filter(|runs| !runs.is_empty())?;
    runs.iter().map(|l| pick(l).map(|v| v as f64)).collect()
}

const SAMPLED: &str = "the latency figures come from a separate pass that reads the clock (the \
     calibrated time-stamp counter) before and after each strategy call, into hdrhistograms. \
     For a strategy whose calls are cheaper than that, it times one call in \
     `latency_ns.sample_every`, every call equally likely (chosen so the pass costs under 2x the \
     untimed one; `count` is the calls timed). Each figure includes about \
     `settings.clock_overhead_ns` of clock reads; p99.9 and max are in the JSON and CSV. A real \
     allocator times every call, in `--runs` latency runs (each a fresh process, after its \
     throughput runs): each percentile is the median of the runs', every run in \
     `latency_ns_runs`.";

/// Every figure, in the order of the tables' columns.
pub const FIGURES: &[Figure] = &[
    Figure {
        key: "events",
        label: "events",
        name: "events",
        unit: Unit::Count,
        better: Better::Neither,
        kind: Kind::Exact,
        definition: "events replayed (fewer than the trace has only when a strategy found its \
                     metadata damaged and stopped).",
        read: |r| exact(r.events),
        runs: None,
        gate: None,
    },
    Figure {
        key: "peak_footprint_bytes",
        label: "peak footprint",
        name: "peak footprint",
        unit: Unit::Bytes,
        better: Better::Lower,
        kind: Kind::Exact,
        definition: "`max_i footprint(i)`: the highest address the strategy's heap has grown \
                     to. For a real allocator: the process's resident bytes above its baseline \
                     right before the replay, at their highest sample (every 65,536 events and \
                     at the end), the median of its throughput runs, every run in \
                     `resident.rss_peak_above_baseline`.",
        read: |r| exact(r.peak_footprint_bytes),
        runs: Some(|r| {
            let runs = &r.resident.as_ref()?.rss_peak_above_baseline;
            Some(runs.iter().map(|&b| b as f64).collect())
        }),
        gate: Some(Gate { name: "footprint", default: Some(0.0) }),
    },
    Figure {
        key: "max_live_bytes",
        label: "max live",
        name: "max live bytes",
        unit: Unit::Bytes,
        better: Better::Neither,
        kind: Kind::Exact,
        definition: "`max_i live_requested(i)`.",
        read: |r| exact(r.max_live_bytes),
        runs: None,
        gate: None,
    },
    Figure {
        key: "overhead",
        label: "overhead",
        name: "overhead",
        unit: Unit::Ratio,
        better: Better::Lower,
        kind: Kind::Exact,
        definition: "`(peak_footprint_bytes - max_live_bytes) / max_live_bytes`: Johnstone \
                     and Wilson's fragmentation measure #4, the headline number: the memory a \
                     strategy needs beyond what the program ever had live at once (null when \
                     `max_live_bytes` is 0).",
        read: |r| r.overhead,
        runs: Some(|r| {
            let live = r.max_live_bytes.filter(|&l| l > 0)? as f64;
            let runs = &r.resident.as_ref()?.rss_peak_above_baseline;
            Some(runs.iter().map(|&b| (b as f64 - live) / live).collect())
        }),
        gate: Some(Gate { name: "overhead", default: Some(0.0) }),
    },
    Figure {
        key: "internal_fragmentation",
        label: "internal",
        name: "internal fragmentation",
        unit: Unit::Ratio,
        better: Better::Lower,
        kind: Kind::Exact,
        definition: "at `peak_event`: `(live_consumed - live_requested) / live_consumed` (0 if \
                     nothing is consumed).",
        read: |r| r.internal_fragmentation,
        runs: None,
        gate: Some(Gate { name: "internal", default: None }),
    },
    Figure {
        key: "external_fragmentation",
        label: "external",
        name: "external fragmentation",
        unit: Unit::Ratio,
        better: Better::Lower,
        kind: Kind::Exact,
        definition: "at `peak_event`: `1 - largest_satisfiable / free_bytes` (0 if no byte is \
                     free), where `free_bytes = footprint - live_consumed` and \
                     `largest_satisfiable` is the largest request the strategy could serve then \
                     without growing the heap (for the free-list family: the largest free \
                     block): how much of the free memory is in holes too small to use whole.",
        read: |r| r.external_fragmentation,
        runs: None,
        gate: Some(Gate { name: "external", default: None }),
    },
    Figure {
        key: "peak_event",
        label: "peak event",
        name: "peak event",
        unit: Unit::Count,
        better: Better::Neither,
        kind: Kind::Exact,
        definition: "the first event index `i` (0-based, in the parsed trace) with \
                     `live_requested(i) = max_live_bytes`: where the fragmentation figures are \
                     taken.",
        read: |r| exact(r.peak_event),
        runs: None,
        gate: None,
    },
    Figure {
        key: "failed_allocations",
        label: "failed",
        name: "failed allocations",
        unit: Unit::Count,
        better: Better::Lower,
        kind: Kind::Exact,
        definition: "requests (allocations and reallocations) that fail because the \
                     strategy's rules would put the block past `--heap-limit`, or past the \
                     address-space ceiling of 2^47 bytes (128 TiB) that holds for every strategy \
                     (for `boundary-tag`, past the end of its arena, `ARENA_LIMIT` = 2^34 bytes \
                     = 16 GiB). The rules are applied as written and not retried: a realloc \
                     whose rule is to grow in place at `top` (free-list realloc rule 3, \
                     `boundary-tag`'s rule 3, `slab`'s large reallocs) fails when that growth \
                     passes the limit, even if a free block elsewhere could hold the new size. \
                     The run goes on without them, and a failed realloc keeps its old block, as \
                     C's does.",
        read: |r| exact(r.failed_allocations),
        runs: None,
        gate: Some(Gate { name: "failed", default: Some(0.0) }),
    },
    Figure {
        key: "work_per_event",
        label: "work/event",
        name: "work per event",
        unit: Unit::PerEvent,
        better: Better::Lower,
        kind: Kind::Exact,
        definition: "`work / events`, where `work` is the strategy's own count of the steps \
                     it took (tree levels, list entries or bitmap words visited, splits, \
                     merges: each strategy's rule is in its module docs and the README's table \
                     \"What `work` counts\"); 0 when \
                     there are no events. Deterministic, so a CI gate on it never flaps, and it \
                     catches an algorithmic regression on any machine.",
        read: |r| r.work_per_event,
        runs: None,
        gate: Some(Gate { name: "work", default: Some(0.0) }),
    },
    Figure {
        key: "throughput_events_per_sec",
        label: "events/s (median)",
        name: "throughput",
        unit: Unit::EventsPerSec,
        better: Better::Higher,
        kind: Kind::Timed,
        definition: "events / seconds of one pass with no per-operation timing and no \
                     metric sampling; the median of `--runs` passes (default 3), every pass in \
                     `throughput.runs`, their min and max beside it.",
        read: |r| r.throughput_events_per_sec,
        runs: Some(|r| {
            let runs = &r.throughput.as_ref()?.runs;
            (!runs.is_empty()).then(|| runs.clone())
        }),
        gate: Some(Gate { name: "throughput", default: Some(0.10) }),
    },
    Figure {
        key: "latency_ns.malloc.p50",
        label: "malloc p50 ns",
        name: "malloc p50",
        unit: Unit::Ns,
        better: Better::Lower,
        kind: Kind::Timed,
        definition: "the median time of a malloc, calloc or memalign call to the strategy, \
                     from the latency pass (see latency).",
        read: |r| latency(r, |l| l.malloc?.p50),
        runs: Some(|r| latency_runs(r, |l| l.malloc?.p50)),
        gate: None,
    },
    Figure {
        key: "latency_ns.malloc.p99",
        label: "malloc p99 ns",
        name: "malloc p99",
        unit: Unit::Ns,
        better: Better::Lower,
        kind: Kind::Timed,
        definition: "the 99th percentile time of a malloc, calloc or memalign call.",
        read: |r| latency(r, |l| l.malloc?.p99),
        runs: Some(|r| latency_runs(r, |l| l.malloc?.p99)),
        gate: Some(Gate { name: "p99", default: None }),
    },
    Figure {
        key: "latency_ns.free.p50",
        label: "free p50 ns",
        name: "free p50",
        unit: Unit::Ns,
        better: Better::Lower,
        kind: Kind::Timed,
        definition: "the median time of a free call.",
        read: |r| latency(r, |l| l.free?.p50),
        runs: Some(|r| latency_runs(r, |l| l.free?.p50)),
        gate: None,
    },
    Figure {
        key: "latency_ns.free.p99",
        label: "free p99 ns",
        name: "free p99",
        unit: Unit::Ns,
        better: Better::Lower,
        kind: Kind::Timed,
        definition: "the 99th percentile time of a free call.",
        read: |r| latency(r, |l| l.free?.p99),
        runs: Some(|r| latency_runs(r, |l| l.free?.p99)),
        gate: Some(Gate { name: "p99", default: None }),
    },
    Figure {
        key: "latency_ns.realloc.p50",
        label: "realloc p50 ns",
        name: "realloc p50",
        unit: Unit::Ns,
        better: Better::Lower,
        kind: Kind::Timed,
        definition: "the median time of a realloc call (null when the trace has none).",
        read: |r| latency(r, |l| l.realloc?.p50),
        runs: Some(|r| latency_runs(r, |l| l.realloc?.p50)),
        gate: None,
    },
    Figure {
        key: "latency_ns.realloc.p99",
        label: "realloc p99 ns",
        name: "realloc p99",
        unit: Unit::Ns,
        better: Better::Lower,
        kind: Kind::Timed,
        definition: "the 99th percentile time of a realloc call.",
        read: |r| latency(r, |l| l.realloc?.p99),
        runs: Some(|r| latency_runs(r, |l| l.realloc?.p99)),
        gate: None,
    },
];

/// The words the figures' definitions are built on, for the HTML page and the README.
pub const TERMS: &[(&str, &str)] = &[
    (
        "live_requested(i)",
        "after event `i`: the sum of the requested sizes of the live blocks (the live bytes).",
    ),
    (
        "live_consumed(i)",
        "after event `i`: the sum of the sizes of the blocks those live blocks occupy (rounding, \
         headers and alignment padding included).",
    ),
    (
        "footprint(i)",
        "after event `i`: the strategy's `top`, the highest address its heap has grown to; it \
         never shrinks.",
    ),
    ("latency", SAMPLED),
    (
        "size class",
        "powers of two of bytes: 0-16, 17-32, 33-64, ... (a request of 0 bytes is in the first \
         class).",
    ),
    (
        "waste_by_size_class",
        "waste by request size class: the blocks live after `peak_event`, grouped by the size class of their requested size: \
         per class the blocks, their requested bytes, the bytes their blocks consume and the \
         waste, consumed minus requested. The classes add up to the at-peak figures, so the \
         waste sums to `live_consumed(peak_event) - max_live_bytes`, of which internal \
         fragmentation is the share.",
    ),
    (
        "free_holes_at_peak",
        "free holes at the peak: the maximal address ranges in `[0, footprint(peak_event))` no live block covers, \
         by the size class of their length (count and bytes), and the largest. They add up to \
         `at_peak.free_bytes`. They are holes in the address space, alike for every strategy: \
         free bytes side by side are one hole even where the strategy keeps them apart (two \
         slab pages, two buddies, no coalescing), so the largest satisfiable request is at most \
         the largest hole and, for segregated strategies, can be much smaller.",
    ),
];

/// The threshold of a real allocator's footprint figures (peak footprint, overhead), which are
/// measured, not exact: judged over the runs like throughput, worse past 2% and significantly.
pub const REAL_MEMORY: Gate = Gate { name: "real", default: Some(0.02) };

/// The names `--max-regression` accepts, once each, in the order of [`FIGURES`], then
/// [`REAL_MEMORY`]'s.
pub fn gate_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = vec![];
    for gate in FIGURES.iter().filter_map(|f| f.gate) {
        if !names.contains(&gate.name) {
            names.push(gate.name);
        }
    }
    names.push(REAL_MEMORY.name);
    names
}

/// The default threshold of a gate name.
pub fn default_of(name: &str) -> Option<f64> {
    let gates = FIGURES.iter().filter_map(|f| f.gate).chain([REAL_MEMORY]);
    gates.into_iter().find(|g| g.name == name).and_then(|g| g.default)
}

/// The default `--max-regression`, as the user would type it: `footprint=0,...,p99=off`.
pub fn default_thresholds() -> String {
    gate_names()
        .iter()
        .map(|name| match default_of(name) {
            None => format!("{name}=off"),
            Some(0.0) => format!("{name}=0"),
            Some(t) => format!("{name}={}%", t * 100.0),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_uses_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 + 256 * 1024), "3.25 MiB");
    }

    #[test]
    fn every_key_is_unique_and_every_shared_gate_name_has_one_default() {
        for (i, f) in FIGURES.iter().enumerate() {
            assert!(FIGURES[..i].iter().all(|g| g.key != f.key), "{} twice", f.key);
            assert!(FIGURES[..i].iter().all(|g| g.label != f.label), "{} twice", f.label);
        }
        for name in gate_names() {
            let defaults: Vec<Option<f64>> = FIGURES
                .iter()
                .filter_map(|f| f.gate)
                .filter(|g| g.name == name)
                .map(|g| g.default)
                .collect();
            assert!(defaults.windows(2).all(|w| w[0] == w[1]), "{name}: {defaults:?}");
        }
    }

    #[test]
    fn the_default_thresholds_read_as_the_user_types_them() {
        assert_eq!(
            default_thresholds(),
            "footprint=0,overhead=0,internal=off,external=off,failed=0,work=0,throughput=10%,\
             p99=off,real=2%"
        );
    }

    #[test]
    fn a_figure_reads_from_its_key_in_a_result() {
        // Every figure of a JSON result read back from its dotted key is what `read` gives.
        let r = ResultRecord {
            allocator: "x".into(),
            events: Some(10),
            peak_footprint_bytes: Some(4096),
            overhead: Some(0.25),
            latency_ns: Some(crate::results::LatencyRecord {
                malloc: Some(crate::results::PercentilesRecord {
                    p50: Some(7),
                    p99: Some(70),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let json = serde_json::to_value(&r).unwrap();
        for f in FIGURES {
            let at = f.key.split('.').try_fold(&json, |v, k| v.get(k));
            let from_json = at.and_then(serde_json::Value::as_f64);
            assert_eq!(from_json, (f.read)(&r), "{}", f.key);
        }
        let p99 = FIGURES.iter().find(|f| f.key == "latency_ns.malloc.p99").unwrap();
        assert_eq!((p99.read)(&r), Some(70.0));
    }
}
