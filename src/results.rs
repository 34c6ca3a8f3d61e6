//! The results document: what `--json` writes and what `replay compare`, `--baseline` and
//! `replay merge` read back, through these same types, so the writer and the reader cannot
//! disagree on a key.
//!
//! The key names are a contract (CI scripts read them); [`SCHEMA_VERSION`] changes when they
//! change, and a reader refuses any other version. Every figure of the registry
//! ([`crate::figures::FIGURES`]) is an `Option` here: a writer always fills it (or writes
//! `null` for a figure that does not exist in that run, such as throughput with `--runs 0`),
//! and a reader takes a missing key as absent, so that the gate can name a figure that a result
//! lacks instead of failing to parse it.

use crate::engine::at_peak::{FreeHoles, WasteClass};
use crate::engine::verify::{Finding, Safety};
use crate::engine::StrategyResult;
use crate::metrics::{Latency, MemoryStats, Percentiles, Series, Throughput};
use crate::real::run::RealResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the layout below.
pub const SCHEMA_VERSION: u32 = 1;

/// One `replay --json` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub schema_version: u32,
    pub tool: Tool,
    pub trace: TraceInfo,
    pub settings: Settings,
    pub results: Vec<ResultRecord>,
    /// The report's verdict (`report::verdict`): which allocator to pick and what the trace is
    /// like, with every figure it quotes. Absent in results written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<VerdictRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    /// This build of `replay`.
    pub fn this() -> Tool {
        Tool { name: "replay".into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceInfo {
    /// As given on the command line.
    pub path: String,
    pub format: String,
    pub events: u64,
    pub blocks: u32,
    /// Events dropped by `--lenient`, by kind.
    pub skipped: BTreeMap<String, u64>,
    /// `ALGORITHM:...` ([`crate::gate::hash`]): the hash of the trace file's bytes, so `replay
    /// compare` and `replay merge` can tell whether two results replayed the same trace. The
    /// prefix names the hash; `null` when the file could not be read again.
    pub content_hash: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub min_size: u64,
    pub coalesce: bool,
    pub heap_limit: Option<u64>,
    pub runs: u32,
    pub timing_parallel: bool,
    pub clock_overhead_ns: u64,
    pub samples: u64,
    pub guard: bool,
    /// A test setting: the hidden `--test-slowdown` values, as typed. Written only when there
    /// are some; a result made with one is not comparable with one made without.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_slowdown: Vec<String>,
}

/// Everything measured for one strategy. The figures' definitions are in
/// [`crate::figures::FIGURES`]; the rest are the raw figures they are computed from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    pub allocator: String,
    /// `simulated` (a strategy of [`crate::alloc::ALL`], replayed exactly) or `real` (an
    /// allocator replayed for real in child processes, [`crate::real`]).
    pub kind: Option<String>,
    /// A real allocator's version, as it tells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why a real allocator's replay failed (its child crashed or refused): every figure is
    /// then null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub events: Option<u64>,
    pub peak_footprint_bytes: Option<u64>,
    pub max_live_bytes: Option<u64>,
    pub overhead: Option<f64>,
    pub internal_fragmentation: Option<f64>,
    pub external_fragmentation: Option<f64>,
    pub peak_event: Option<u64>,
    pub failed_allocations: Option<u64>,
    /// Frees of blocks whose allocation failed (ignored).
    pub ignored_frees: Option<u64>,
    /// The footprint after the last event.
    pub final_footprint_bytes: Option<u64>,
    /// The strategy's own count of its work (`work_per_event` is this over `events`).
    pub work: Option<u64>,
    pub work_per_event: Option<f64>,
    /// The raw figures the fragmentation ratios are computed from, so anyone can recompute them.
    pub at_peak: Option<AtPeak>,
    /// The median of `throughput.runs`.
    pub throughput_events_per_sec: Option<f64>,
    pub throughput: Option<ThroughputRecord>,
    pub latency_ns: Option<LatencyRecord>,
    /// A real allocator's latency, run by run (each a fresh process, `--runs` of them, in the
    /// order they ran): each percentile of `latency_ns` is the median of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ns_runs: Option<Vec<LatencyRecord>>,
    #[serde(default)]
    pub safety: SafetyRecord,
    #[serde(default)]
    pub series: SeriesRecord,
    /// A real allocator's memory, run by run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident: Option<ResidentRecord>,
    /// A real allocator's OS threads (see `real::threads`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<ThreadsRecord>,
    /// The blocks live at the peak event by requested size class (0-16, 17-32, 33-64, ...
    /// bytes; only the classes that have blocks): their waste adds up to
    /// `at_peak.live_consumed_bytes - max_live_bytes` ([`crate::engine::at_peak`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waste_by_size_class: Option<Vec<WasteClass>>,
    /// The free holes at the peak event (address ranges below the footprint no live block
    /// covers), by size class, and the largest: they add up to `at_peak.free_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_holes_at_peak: Option<FreeHoles>,
}

/// On how many OS threads a real allocator replayed, and how often they had to wait for each
/// other.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreadsRecord {
    /// OS threads that replayed the events (distinct kernel thread ids), in the first run: 1
    /// for a trace without threads or with `--serial`, else one per recorded thread.
    pub os_threads: u64,
    /// Consecutive events of one block on two different recorded threads: the orders the
    /// replay enforces between threads (a property of the trace).
    pub cross_thread_orders: u64,
    /// Per run: the events that found the event they follow on another thread not yet done,
    /// and waited for it.
    pub waits: Vec<u64>,
    /// Per run: events that found their block in another state than the file's order gives
    /// it. Always 0: a check of the replay's orders.
    pub out_of_order: Vec<u64>,
}

/// What a real allocator's replays took from the system, one entry per run (each a fresh
/// process), in the order they ran.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResidentRecord {
    /// Whether every block was written as a program would (`--no-touch` turns it off).
    pub touched: bool,
    /// The process's resident bytes above its baseline right before the replay, at its
    /// highest sample (every 65,536 events and at the end): `peak_footprint_bytes` is their
    /// median.
    pub rss_peak_above_baseline: Vec<u64>,
    /// The kernel's high-water mark of resident memory above the baseline (catches a peak
    /// between samples); null where the kernel did not give it.
    pub rss_hwm_above_baseline: Vec<Option<u64>>,
    /// The allocator's own figure of its resident memory at its highest sample, where it
    /// reports one (jemalloc's `stats.resident`, mimalloc's process info).
    pub allocator_resident_peak: Vec<Option<u64>>,
    /// The memory series of the run that asked usable sizes (the first latency run when the
    /// throughput runs are timed, the first run otherwise: [`RealResult::sized`]), so that its
    /// `live_consumed` is the usable bytes.
    pub series: Vec<crate::real::MemorySample>,
}

/// The heap at the peak event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtPeak {
    pub live_blocks: u64,
    pub live_requested_bytes: u64,
    pub live_consumed_bytes: u64,
    pub footprint_bytes: u64,
    pub free_bytes: u64,
    pub largest_satisfiable_bytes: u64,
}

/// Events per second over `--runs` untimed passes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThroughputRecord {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Every run, in the order they ran.
    pub runs: Vec<f64>,
    /// The median pass took less than 5 ms: too short to time well, its figures are mostly
    /// noise (`engine::timing::pass_too_short`). Written only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub too_short: bool,
    /// How many runs were made (`runs`'s length).
    #[serde(default)]
    pub runs_made: usize,
    /// `(max - min) / median` of the middle half of the runs (`engine::timing::spread_of`),
    /// which decides when to stop by default; null of no runs or a zero median.
    #[serde(default)]
    pub spread: Option<f64>,
    /// Why no more runs were made: `--runs 5` (as many as asked for), `spread 0.42% < 3%`
    /// (tight: the default stops), `max runs (5), spread 7.10%`; absent where not told (a
    /// real allocator makes `settings.runs` runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// Latency percentiles per kind of operation, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyRecord {
    pub malloc: Option<PercentilesRecord>,
    pub free: Option<PercentilesRecord>,
    pub realloc: Option<PercentilesRecord>,
    /// 1 when every call was timed; `k` when one call in `k` was.
    pub sample_every: Option<u32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PercentilesRecord {
    /// How many calls were timed.
    pub count: Option<u64>,
    pub p50: Option<u64>,
    pub p99: Option<u64>,
    pub p999: Option<u64>,
    pub max: Option<u64>,
    /// The maximum is most likely a preemption by the scheduler, not the allocator's
    /// (`engine::timing::max_is_preemption`). Written only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub max_preempted: bool,
}

/// `--verify` findings and corruption. Counts are null when `--verify` did not run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyRecord {
    pub verified: bool,
    pub overruns: Option<u64>,
    pub use_after_free: Option<u64>,
    pub verify_errors: Option<u64>,
    pub corruption: Option<FindingRecord>,
    pub findings: Vec<FindingRecord>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRecord {
    pub kind: String,
    pub event: u64,
    pub line: u64,
    pub message: String,
    pub culprit_line: Option<u64>,
}

/// The memory time series, one array per figure, all indexed alike (`event[i]` is the event
/// after which `footprint_bytes[i]` etc. were sampled). Empty arrays with `--samples 0`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesRecord {
    pub event: Vec<u64>,
    pub footprint_bytes: Vec<u64>,
    pub live_requested_bytes: Vec<u64>,
    pub live_consumed_bytes: Vec<u64>,
    pub free_bytes: Vec<u64>,
    pub largest_satisfiable_bytes: Vec<u64>,
}

impl ResultRecord {
    /// The record of one strategy's results: the only place figures are turned into keys.
    pub fn of(r: &StrategyResult) -> ResultRecord {
        let m = &r.memory;
        ResultRecord {
            allocator: r.allocator.to_string(),
            kind: Some("simulated".into()),
            version: None,
            error: None,
            events: Some(m.events),
            peak_footprint_bytes: Some(m.peak_footprint_bytes),
            max_live_bytes: Some(m.max_live_bytes),
            overhead: m.overhead(),
            internal_fragmentation: Some(m.internal_fragmentation()),
            external_fragmentation: Some(m.external_fragmentation()),
            peak_event: Some(m.peak_event),
            failed_allocations: Some(m.failed_allocations),
            ignored_frees: Some(m.ignored_frees),
            final_footprint_bytes: Some(m.final_footprint_bytes),
            work: Some(m.work),
            work_per_event: Some(m.work_per_event()),
            at_peak: Some(AtPeak::of(m)),
            throughput_events_per_sec: r.throughput.as_ref().map(|t| t.median),
            throughput: r.throughput.as_ref().map(|t| ThroughputRecord::of(t, m.events)),
            latency_ns: r.latency.as_ref().map(LatencyRecord::of),
            latency_ns_runs: None,
            safety: SafetyRecord::of(&r.safety),
            series: SeriesRecord::of(&r.series),
            resident: None,
            threads: None,
            waste_by_size_class: r.at_peak.as_ref().map(|b| b.waste.clone()),
            free_holes_at_peak: r.at_peak.as_ref().map(|b| b.holes.clone()),
        }
    }

    /// The record of a real allocator's replays. Figures a real allocator does not have are
    /// null: external fragmentation (no largest satisfiable request), work, the `at_peak` raw
    /// figures. The footprint figures are the medians of the runs (of an even count, the lower
    /// middle one), every run in `resident`; the latency percentiles the medians of the latency
    /// runs, every run in `latency_ns_runs`; the live figures are the same in every run.
    pub fn of_real(r: &RealResult) -> ResultRecord {
        let mut record = ResultRecord {
            allocator: r.allocator.clone(),
            kind: Some("real".into()),
            version: (!r.version.is_empty()).then(|| r.version.clone()),
            error: r.failure.clone(),
            ..ResultRecord::default()
        };
        let Some(first) = r.runs.first() else { return record };
        if r.failure.is_some() {
            return record;
        }
        let median = |values: Vec<u64>| -> u64 {
            let mut sorted = values;
            sorted.sort_unstable();
            sorted[(sorted.len() - 1) / 2]
        };
        let peak = median(r.runs.iter().map(|m| m.rss_peak_above_baseline).collect());
        let fin = median(r.runs.iter().map(|m| m.rss_final_above_baseline.max(0) as u64).collect());
        let live = first.max_live_bytes;
        record.events = Some(first.events);
        record.peak_footprint_bytes = Some(peak);
        record.max_live_bytes = Some(live);
        record.overhead = (live > 0).then(|| (peak as f64 - live as f64) / live as f64);
        // The usable sizes are the sized run's: the timed throughput runs do not ask them.
        let sized = r.sized().unwrap_or(first);
        record.internal_fragmentation = sized.internal_fragmentation;
        record.peak_event = Some(first.peak_event);
        record.failed_allocations = Some(first.failed_allocations);
        record.ignored_frees = Some(first.ignored_frees);
        record.final_footprint_bytes = Some(fin);
        let runs: Vec<f64> = r.runs.iter().map(|m| m.events_per_sec).collect();
        if let Some(mut t) = Throughput::from_runs(runs).filter(|_| r.timed) {
            t.stopped = r.stopped.map(|stop| stop.to_string());
            record.throughput_events_per_sec = Some(t.median);
            record.throughput = Some(ThroughputRecord::of(&t, first.events));
        }
        record.latency_ns = r.latency().as_ref().map(LatencyRecord::of_real);
        if !r.latency_runs.is_empty() {
            record.latency_ns_runs =
                Some(r.latency_runs.iter().map(LatencyRecord::of_real).collect());
        }
        record.resident = Some(ResidentRecord {
            touched: first.touched,
            rss_peak_above_baseline: r.runs.iter().map(|m| m.rss_peak_above_baseline).collect(),
            rss_hwm_above_baseline: r.runs.iter().map(|m| m.rss_hwm_above_baseline).collect(),
            allocator_resident_peak: r.runs.iter().map(|m| m.allocator_resident_peak).collect(),
            series: sized.series.clone(),
        });
        record.threads = Some(ThreadsRecord {
            os_threads: first.threads,
            cross_thread_orders: first.cross_thread_orders,
            waits: r.runs.iter().map(|m| m.waits).collect(),
            out_of_order: r.runs.iter().map(|m| m.out_of_order).collect(),
        });
        record
    }

    /// Whether this is a real allocator's result.
    pub fn is_real(&self) -> bool {
        self.kind.as_deref() == Some("real")
    }
}

impl AtPeak {
    fn of(m: &MemoryStats) -> AtPeak {
        AtPeak {
            live_blocks: m.live_blocks_at_peak,
            live_requested_bytes: m.max_live_bytes,
            live_consumed_bytes: m.live_consumed_at_peak,
            footprint_bytes: m.footprint_at_peak,
            free_bytes: m.free_bytes_at_peak(),
            largest_satisfiable_bytes: m.largest_satisfiable_at_peak,
        }
    }
}

impl ThroughputRecord {
    fn of(t: &Throughput, events: u64) -> ThroughputRecord {
        ThroughputRecord {
            median: t.median,
            min: t.min,
            max: t.max,
            runs: t.runs.clone(),
            too_short: crate::engine::timing::pass_too_short(events, t.median),
            runs_made: t.runs.len(),
            spread: crate::engine::timing::spread_of(&t.runs),
            stopped: t.stopped.clone(),
        }
    }
}

impl LatencyRecord {
    fn of(l: &Latency) -> LatencyRecord {
        LatencyRecord {
            malloc: l.malloc.map(PercentilesRecord::of),
            free: l.free.map(PercentilesRecord::of),
            realloc: l.realloc.map(PercentilesRecord::of),
            sample_every: Some(l.sample_every),
        }
    }
}

impl LatencyRecord {
    /// A real allocator's latency: every call timed.
    fn of_real(l: &crate::real::measure::LatencyNs) -> LatencyRecord {
        let of = |c: Option<crate::real::measure::CallLatency>| {
            c.map(|c| {
                PercentilesRecord::of(Percentiles {
                    count: c.count,
                    p50: c.p50,
                    p99: c.p99,
                    p999: c.p999,
                    max: c.max,
                })
            })
        };
        LatencyRecord {
            malloc: of(l.malloc),
            free: of(l.free),
            realloc: of(l.realloc),
            sample_every: Some(1),
        }
    }
}

impl PercentilesRecord {
    fn of(p: Percentiles) -> PercentilesRecord {
        PercentilesRecord {
            count: Some(p.count),
            p50: Some(p.p50),
            p99: Some(p.p99),
            p999: Some(p.p999),
            max: Some(p.max),
            max_preempted: crate::engine::timing::max_is_preemption(&p),
        }
    }
}

impl FindingRecord {
    fn of(f: &Finding) -> FindingRecord {
        FindingRecord {
            kind: f.kind.name().to_string(),
            event: f.event,
            line: f.line,
            message: f.message.clone(),
            culprit_line: f.culprit_line,
        }
    }
}

impl SafetyRecord {
    fn of(s: &Safety) -> SafetyRecord {
        let counted = |n: u64| s.verified.then_some(n);
        SafetyRecord {
            verified: s.verified,
            overruns: counted(s.overruns),
            use_after_free: counted(s.use_after_free),
            verify_errors: counted(s.verify_errors),
            corruption: s.corruption.as_ref().map(FindingRecord::of),
            findings: s.findings.iter().map(FindingRecord::of).collect(),
        }
    }
}

impl SeriesRecord {
    fn of(series: &Series) -> SeriesRecord {
        let column = |f: fn(&crate::metrics::Sample) -> u64| series.samples.iter().map(f).collect();
        SeriesRecord {
            event: column(|s| s.event),
            footprint_bytes: column(|s| s.footprint),
            live_requested_bytes: column(|s| s.live_requested),
            live_consumed_bytes: column(|s| s.live_consumed),
            free_bytes: column(|s| s.free),
            largest_satisfiable_bytes: column(|s| s.largest_satisfiable),
        }
    }
}

impl Document {
    /// Read a result file; every failure is a message naming the file.
    pub fn read(path: &std::path::Path) -> Result<Document, String> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        Document::parse(&name, &bytes)
    }

    /// Parse the bytes of a result (`name` is for messages). The version is checked before the
    /// layout, so a result of another version gets that message, not a missing key.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Document, String> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            format!("{name} is not JSON ({e}); expected the output of replay --json")
        })?;
        let Some(version) = value.get("schema_version") else {
            return Err(format!("{name} is not a replay --json result (it has no schema_version)"));
        };
        match version.as_u64() {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "{name} has schema_version {v}, but this replay ({}) reads only version \
                     {SCHEMA_VERSION}: re-run that result with this replay",
                    env!("CARGO_PKG_VERSION")
                ))
            }
            None => {
                return Err(format!(
                    "{name}: schema_version is {version}, not a version number; expected the \
                     output of replay --json"
                ))
            }
        }
        serde_json::from_value(value).map_err(|e| {
            format!("{name} is not a replay --json result of schema version {SCHEMA_VERSION}: {e}")
        })
    }

    /// The result of `allocator`, if the document has one.
    pub fn result(&self, allocator: &str) -> Option<&ResultRecord> {
        self.results.iter().find(|r| r.allocator == allocator)
    }

    /// The document as pretty-printed JSON, with a final newline: the `--json` bytes.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// The verdict of a report (made by `report::verdict`, which defines every rule): its sentences,
/// then every figure they quote, each under the key its record has it under, so anyone can check
/// one against the other.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VerdictRecord {
    /// The sentences, as every output shows them.
    pub text: Vec<String>,
    /// How the speeds were obtained: `measured`, `fake clock` (made up) or `not measured`
    /// (`--runs 0`).
    pub speed: String,
    /// Simulations never ranked because they never reuse memory.
    pub not_ranked: Vec<String>,
    /// Among the simulations that reuse memory; absent when there are none.
    pub simulated: Option<RankingRecord>,
    /// Among the real allocators; absent when there are none.
    pub real: Option<RankingRecord>,
    pub trace: TraceShapeRecord,
    /// How close each simulation's peak footprint comes to each real allocator's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub simulated_vs_real: Vec<VersusRecord>,
}

/// The picks of one contest; a list holds more than one allocator when they tie.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RankingRecord {
    pub least_memory: Vec<PickRecord>,
    /// Empty when speed was not measured.
    pub fastest: Vec<PickRecord>,
    /// Empty when speed was not measured.
    pub trade_off: Vec<PickRecord>,
}

/// One allocator a verdict names, with the figures of its record that the verdict quotes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PickRecord {
    pub allocator: String,
    pub peak_footprint_bytes: Option<u64>,
    pub overhead: Option<f64>,
    pub throughput_events_per_sec: Option<f64>,
}

/// What the trace is like: the shape of its live bytes and its request sizes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceShapeRecord {
    /// `ramp`, `peak` or `plateau`; absent without a memory series (`--samples 0`).
    pub shape: Option<String>,
    pub events: u64,
    pub max_live_bytes: Option<u64>,
    pub peak_event: Option<u64>,
    /// Live bytes after the last event.
    pub final_live_bytes: Option<u64>,
    /// The mean of the live bytes over the events, over `max_live_bytes`.
    pub mean_live_fraction: Option<f64>,
    /// Allocation requests (malloc, calloc, memalign, realloc).
    pub requests: u64,
    /// The size class with most requests: sizes in `[from_bytes, below_bytes)`.
    pub most_requests: Option<SizeClassRecord>,
    /// The least power of two that at least 90% of the requests are under.
    pub p90_below_bytes: Option<u64>,
}

/// Requests of sizes in `[from_bytes, below_bytes)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SizeClassRecord {
    pub from_bytes: u64,
    pub below_bytes: u64,
    pub requests: u64,
}

/// A simulation's peak footprint against a real allocator's (`peak_footprint_bytes` of both
/// records: the simulation's heap top, the real allocator's resident bytes above its baseline).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VersusRecord {
    pub simulated: String,
    pub real: String,
    pub simulated_peak_footprint_bytes: u64,
    pub real_peak_footprint_bytes: u64,
    /// simulated / real; absent when the real figure is 0.
    pub ratio: Option<f64>,
    /// simulated - real, in bytes (negative: the simulation needs less).
    pub difference_bytes: i64,
}
