//! The report's charts, one file per chart, each drawn with plotters into an SVG string (no
//! fonts needed: SVG text is rendered by whatever shows the file). Sizes and colours are named
//! constants in `common.rs`, with what else the charts share; drawing errors are returned,
//! never unwrapped. This file only lists the charts ([`all`]) and re-exports `common.rs`: the
//! chart files import `common.rs` directly, never this file, which names each of them.

mod common;
mod fragmentation;
mod free_holes;
mod heap_map;
mod heap_timeline;
mod latency;
mod memory;
mod overview;
mod size_classes;
mod throughput;
mod trace_profile;
mod tradeoff;

// The sizes, palette, `Chart` and helpers, public as before.
pub use common::*;

use super::{ExportError, Report};

/// Every chart the report's data allows, in reading order: timing charts need `--runs` > 0,
/// memory over time needs `--samples` > 0 (or a real allocator), heap pictures need the layout
/// pass. The per-strategy charts (all but the heap pictures and the trace profile) show the
/// real allocators too, after the simulations, labelled `NAME (real)`.
pub fn all(report: &Report) -> Result<Vec<Chart>, ExportError> {
    let mut charts = vec![overview::chart(report)?, fragmentation::chart(report)?];
    let records = report.records();
    if records.iter().any(|r| r.waste_by_size_class.is_some()) {
        charts.push(size_classes::chart(report)?);
        charts.push(free_holes::chart(report)?);
    }
    if records.iter().any(|r| r.throughput.is_some()) {
        charts.push(throughput::chart(report)?);
        charts.extend(tradeoff::chart(report)?);
    }
    if records.iter().any(|r| r.latency_ns.is_some()) {
        charts.push(latency::chart(report)?);
    }
    if memory::has_series(report) {
        charts.push(memory::chart(report)?);
    }
    if !report.heap.is_empty() {
        charts.push(heap_map::chart(report)?);
        charts.push(heap_timeline::chart(report)?);
    }
    charts.push(trace_profile::chart(report)?);
    Ok(charts)
}
