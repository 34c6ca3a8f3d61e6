//! `--json`: the machine-readable results. The key names are a contract: CI scripts read them,
//! and `schema_version` changes when they change.

use super::{ExportError, Exporter, Report};
use crate::engine::verify::{Finding, Safety};
use crate::metrics::{Latency, MemoryStats, Series, Throughput};
use serde::Serialize;
use std::collections::BTreeMap;

/// Version of the JSON layout below.
pub const SCHEMA_VERSION: u32 = 1;

pub struct JsonExporter;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    tool: Tool,
    trace: Trace<'a>,
    settings: Settings<'a>,
    results: Vec<Result<'a>>,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Trace<'a> {
    path: &'a str,
    format: &'a str,
    events: u64,
    blocks: u32,
    skipped: BTreeMap<&'static str, u64>,
    /// `fnv1a64:` and 16 hex digits: the FNV-1a hash of the trace file's bytes, so `replay
    /// compare` and `replay merge` can tell whether two results replayed the same trace.
    content_hash: Option<&'a str>,
}

#[derive(Serialize)]
struct Settings<'a> {
    min_size: u64,
    coalesce: bool,
    heap_limit: Option<u64>,
    runs: u32,
    timing_parallel: bool,
    clock_overhead_ns: u64,
    samples: u64,
    guard: bool,
    /// The hidden `--test-slowdown` settings, as typed (empty when none): a result made with
    /// one is not comparable with one made without.
    test_slowdown: Vec<&'a str>,
}

#[derive(Serialize)]
struct Result<'a> {
    allocator: &'a str,
    events: u64,
    peak_footprint_bytes: u64,
    max_live_bytes: u64,
    overhead: Option<f64>,
    internal_fragmentation: f64,
    external_fragmentation: f64,
    peak_event: u64,
    failed_allocations: u64,
    ignored_frees: u64,
    final_footprint_bytes: u64,
    /// The strategy's own count of its work, and that over `events` (see metrics.rs).
    work: u64,
    work_per_event: f64,
    at_peak: AtPeak,
    throughput_events_per_sec: Option<f64>,
    throughput: Option<&'a Throughput>,
    latency_ns: Option<&'a Latency>,
    safety: SafetyJson<'a>,
    series: SeriesJson,
}

/// The memory time series, one array per figure, all indexed alike (`event[i]` is the event
/// after which `footprint_bytes[i]` etc. were sampled). Empty arrays with `--samples 0`.
#[derive(Serialize)]
struct SeriesJson {
    event: Vec<u64>,
    footprint_bytes: Vec<u64>,
    live_requested_bytes: Vec<u64>,
    live_consumed_bytes: Vec<u64>,
    free_bytes: Vec<u64>,
    largest_satisfiable_bytes: Vec<u64>,
}

impl SeriesJson {
    fn of(series: &Series) -> SeriesJson {
        let column = |f: fn(&crate::metrics::Sample) -> u64| series.samples.iter().map(f).collect();
        SeriesJson {
            event: column(|s| s.event),
            footprint_bytes: column(|s| s.footprint),
            live_requested_bytes: column(|s| s.live_requested),
            live_consumed_bytes: column(|s| s.live_consumed),
            free_bytes: column(|s| s.free),
            largest_satisfiable_bytes: column(|s| s.largest_satisfiable),
        }
    }
}

/// `--verify` findings and corruption. Counts are null when `--verify` did not run.
#[derive(Serialize)]
struct SafetyJson<'a> {
    verified: bool,
    overruns: Option<u64>,
    use_after_free: Option<u64>,
    verify_errors: Option<u64>,
    corruption: Option<FindingJson<'a>>,
    findings: Vec<FindingJson<'a>>,
}

#[derive(Serialize)]
struct FindingJson<'a> {
    kind: &'static str,
    event: u64,
    line: u64,
    message: &'a str,
    culprit_line: Option<u64>,
}

impl<'a> FindingJson<'a> {
    fn of(f: &'a Finding) -> FindingJson<'a> {
        FindingJson {
            kind: f.kind.name(),
            event: f.event,
            line: f.line,
            message: &f.message,
            culprit_line: f.culprit_line,
        }
    }
}

impl<'a> SafetyJson<'a> {
    fn of(s: &'a Safety) -> SafetyJson<'a> {
        let counted = |n: u64| s.verified.then_some(n);
        SafetyJson {
            verified: s.verified,
            overruns: counted(s.overruns),
            use_after_free: counted(s.use_after_free),
            verify_errors: counted(s.verify_errors),
            corruption: s.corruption.as_ref().map(FindingJson::of),
            findings: s.findings.iter().map(FindingJson::of).collect(),
        }
    }
}

/// The raw figures the fragmentation ratios are computed from, so anyone can recompute them.
#[derive(Serialize)]
struct AtPeak {
    live_blocks: u64,
    live_requested_bytes: u64,
    live_consumed_bytes: u64,
    footprint_bytes: u64,
    free_bytes: u64,
    largest_satisfiable_bytes: u64,
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

impl Exporter for JsonExporter {
    fn export(&self, report: &Report) -> std::result::Result<Vec<u8>, ExportError> {
        let document = Document {
            schema_version: SCHEMA_VERSION,
            tool: Tool { name: "replay", version: env!("CARGO_PKG_VERSION") },
            trace: Trace {
                path: &report.trace.path,
                format: report.trace.format,
                events: report.trace.events,
                blocks: report.trace.blocks,
                skipped: report.trace.skipped.iter().map(|(k, v)| (k.name(), *v)).collect(),
                content_hash: report.trace.content_hash.as_deref(),
            },
            settings: Settings {
                min_size: report.params.min_size,
                coalesce: report.params.coalesce,
                heap_limit: report.params.heap_limit,
                runs: report.timing.runs,
                timing_parallel: report.timing.parallel,
                clock_overhead_ns: report.clock_overhead_ns,
                samples: report.samples,
                guard: report.params.guard,
                test_slowdown: report.test_slowdown.iter().map(String::as_str).collect(),
            },
            results: report
                .results
                .iter()
                .map(|r| {
                    let m = &r.memory;
                    Result {
                        allocator: r.allocator,
                        events: m.events,
                        peak_footprint_bytes: m.peak_footprint_bytes,
                        max_live_bytes: m.max_live_bytes,
                        overhead: m.overhead(),
                        internal_fragmentation: m.internal_fragmentation(),
                        external_fragmentation: m.external_fragmentation(),
                        peak_event: m.peak_event,
                        failed_allocations: m.failed_allocations,
                        ignored_frees: m.ignored_frees,
                        final_footprint_bytes: m.final_footprint_bytes,
                        work: m.work,
                        work_per_event: m.work_per_event(),
                        at_peak: AtPeak::of(m),
                        throughput_events_per_sec: r.throughput.as_ref().map(|t| t.median),
                        throughput: r.throughput.as_ref(),
                        latency_ns: r.latency.as_ref(),
                        safety: SafetyJson::of(&r.safety),
                        series: SeriesJson::of(&r.series),
                    }
                })
                .collect(),
        };
        let mut bytes = serde_json::to_vec_pretty(&document)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}
