//! `--csv`: one row per strategy, flat columns, exact figures (bytes as integers, ratios as the
//! same shortest round-trip decimals the JSON has). An empty cell is a figure that does not
//! exist for this run (no timing with `--runs 0`, no realloc in the trace, no `--verify`).
//!
//! Every column is named by its place in a JSON result, nested keys joined by `.`: first every
//! figure of the registry ([`crate::figures::FIGURES`]), then [`DETAILS`], the raw figures
//! behind them.

use super::{ExportError, Exporter, Report};
use crate::figures::FIGURES;
use crate::results::{PercentilesRecord, ResultRecord};

pub struct CsvExporter;

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or(String::new(), |v| v.to_string())
}

fn tail(p: Option<PercentilesRecord>, pick: fn(PercentilesRecord) -> Option<u64>) -> String {
    opt(p.and_then(pick))
}

/// A column after the figures: its key in a JSON result and its cell.
pub struct Detail {
    pub key: &'static str,
    pub cell: fn(&ResultRecord) -> String,
}

/// The raw figures behind the registry's, in column order.
pub const DETAILS: &[Detail] = &[
    Detail { key: "ignored_frees", cell: |r| opt(r.ignored_frees) },
    Detail { key: "final_footprint_bytes", cell: |r| opt(r.final_footprint_bytes) },
    Detail { key: "work", cell: |r| opt(r.work) },
    Detail { key: "at_peak.live_blocks", cell: |r| opt(r.at_peak.map(|a| a.live_blocks)) },
    Detail {
        key: "at_peak.live_consumed_bytes",
        cell: |r| opt(r.at_peak.map(|a| a.live_consumed_bytes)),
    },
    Detail { key: "at_peak.footprint_bytes", cell: |r| opt(r.at_peak.map(|a| a.footprint_bytes)) },
    Detail { key: "at_peak.free_bytes", cell: |r| opt(r.at_peak.map(|a| a.free_bytes)) },
    Detail {
        key: "at_peak.largest_satisfiable_bytes",
        cell: |r| opt(r.at_peak.map(|a| a.largest_satisfiable_bytes)),
    },
    Detail { key: "throughput.min", cell: |r| opt(r.throughput.as_ref().map(|t| t.min)) },
    Detail { key: "throughput.max", cell: |r| opt(r.throughput.as_ref().map(|t| t.max)) },
    Detail {
        key: "latency_ns.malloc.p999",
        cell: |r| tail(r.latency_ns.and_then(|l| l.malloc), |p| p.p999),
    },
    Detail {
        key: "latency_ns.malloc.max",
        cell: |r| tail(r.latency_ns.and_then(|l| l.malloc), |p| p.max),
    },
    Detail {
        key: "latency_ns.free.p999",
        cell: |r| tail(r.latency_ns.and_then(|l| l.free), |p| p.p999),
    },
    Detail {
        key: "latency_ns.free.max",
        cell: |r| tail(r.latency_ns.and_then(|l| l.free), |p| p.max),
    },
    Detail {
        key: "latency_ns.realloc.p999",
        cell: |r| tail(r.latency_ns.and_then(|l| l.realloc), |p| p.p999),
    },
    Detail {
        key: "latency_ns.realloc.max",
        cell: |r| tail(r.latency_ns.and_then(|l| l.realloc), |p| p.max),
    },
    Detail {
        key: "latency_ns.sample_every",
        cell: |r| opt(r.latency_ns.and_then(|l| l.sample_every)),
    },
    Detail { key: "safety.verify_errors", cell: |r| opt(r.safety.verify_errors) },
    Detail {
        key: "safety.corruption.line",
        cell: |r| opt(r.safety.corruption.as_ref().map(|c| c.line)),
    },
];

/// The header: `allocator`, the figures' keys, the details' keys.
pub fn header() -> Vec<&'static str> {
    let mut header = vec!["allocator"];
    header.extend(FIGURES.iter().map(|f| f.key));
    header.extend(DETAILS.iter().map(|d| d.key));
    header
}

/// The cells of one strategy's row, in the order of [`header`].
fn row(r: &ResultRecord) -> Vec<String> {
    let mut cells = vec![r.allocator.clone()];
    cells.extend(FIGURES.iter().map(|f| f.exact(r)));
    cells.extend(DETAILS.iter().map(|d| (d.cell)(r)));
    cells
}

impl Exporter for CsvExporter {
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(header())?;
        for r in &report.records() {
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
        assert_eq!(row(&ResultRecord::default()).len(), header().len());
    }
}
