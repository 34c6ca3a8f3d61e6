//! `--csv`: one row per strategy, flat columns, exact figures (bytes as integers, ratios as the
//! same shortest round-trip decimals the JSON has). An empty cell is a figure that does not
//! exist for this run (no timing with `--runs 0`, no realloc in the trace, no `--verify`).

use super::{ExportError, Exporter, Report};
use crate::engine::StrategyResult;
use crate::metrics::Percentiles;

pub struct CsvExporter;

/// The columns, in order. Names follow the JSON keys; nested keys are joined with `_`.
pub const COLUMNS: &[&str] = &[
    "allocator",
    "events",
    "peak_footprint_bytes",
    "max_live_bytes",
    "overhead",
    "internal_fragmentation",
    "external_fragmentation",
    "peak_event",
    "failed_allocations",
    "ignored_frees",
    "final_footprint_bytes",
    "at_peak_live_blocks",
    "at_peak_live_consumed_bytes",
    "at_peak_footprint_bytes",
    "at_peak_free_bytes",
    "at_peak_largest_satisfiable_bytes",
    "throughput_median_events_per_sec",
    "throughput_min_events_per_sec",
    "throughput_max_events_per_sec",
    "malloc_p50_ns",
    "malloc_p99_ns",
    "malloc_p999_ns",
    "malloc_max_ns",
    "free_p50_ns",
    "free_p99_ns",
    "free_p999_ns",
    "free_max_ns",
    "realloc_p50_ns",
    "realloc_p99_ns",
    "realloc_p999_ns",
    "realloc_max_ns",
    "verify_errors",
    "corrupted",
    "work",
    "work_per_event",
];

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or(String::new(), |v| v.to_string())
}

fn percentiles(p: Option<Percentiles>) -> [String; 4] {
    [opt(p.map(|p| p.p50)), opt(p.map(|p| p.p99)), opt(p.map(|p| p.p999)), opt(p.map(|p| p.max))]
}

/// The cells of one strategy's row, in the order of [`COLUMNS`].
fn row(r: &StrategyResult) -> Vec<String> {
    let m = &r.memory;
    let t = r.throughput.as_ref();
    let lat = r.latency.as_ref();
    let mut cells = vec![
        r.allocator.to_string(),
        m.events.to_string(),
        m.peak_footprint_bytes.to_string(),
        m.max_live_bytes.to_string(),
        opt(m.overhead()),
        m.internal_fragmentation().to_string(),
        m.external_fragmentation().to_string(),
        m.peak_event.to_string(),
        m.failed_allocations.to_string(),
        m.ignored_frees.to_string(),
        m.final_footprint_bytes.to_string(),
        m.live_blocks_at_peak.to_string(),
        m.live_consumed_at_peak.to_string(),
        m.footprint_at_peak.to_string(),
        m.free_bytes_at_peak().to_string(),
        m.largest_satisfiable_at_peak.to_string(),
        opt(t.map(|t| t.median)),
        opt(t.map(|t| t.min)),
        opt(t.map(|t| t.max)),
    ];
    cells.extend(percentiles(lat.and_then(|l| l.malloc)));
    cells.extend(percentiles(lat.and_then(|l| l.free)));
    cells.extend(percentiles(lat.and_then(|l| l.realloc)));
    cells.push(opt(r.safety.verified.then_some(r.safety.verify_errors)));
    cells.push(r.safety.corruption.is_some().to_string());
    cells.push(m.work.to_string());
    cells.push(m.work_per_event().to_string());
    cells
}

impl Exporter for CsvExporter {
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(COLUMNS)?;
        for r in &report.results {
            out.write_record(row(r))?;
        }
        out.into_inner().map_err(|e| ExportError::Csv(e.into_error().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_a_cell_for_every_column() {
        let r = StrategyResult {
            allocator: "bump",
            memory: Default::default(),
            throughput: None,
            latency: None,
            safety: Default::default(),
            series: Default::default(),
            heap: None,
        };
        assert_eq!(row(&r).len(), COLUMNS.len());
    }
}
