//! `--markdown`: the results as a GitHub-flavoured Markdown table, fit for a pull-request
//! comment. The best value of each column is in bold. Figures are rounded for reading (bytes in
//! binary units, ratios in percent); `--csv` and `--json` have the exact ones.

use super::{best_rows, human_bytes, Better, ExportError, Exporter, Report};
use crate::replay::StrategyResult;

pub struct MarkdownExporter;

/// One column of the table: its header, which way is better, the figure and how it reads.
struct Column {
    header: &'static str,
    better: Better,
    value: fn(&StrategyResult) -> Option<f64>,
    text: fn(f64) -> String,
}

fn bytes(v: f64) -> String {
    human_bytes(v as u64)
}

fn percent(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

fn millions(v: f64) -> String {
    format!("{:.2}M", v / 1e6)
}

fn ns(v: f64) -> String {
    format!("{v}")
}

fn columns(timed: bool) -> Vec<Column> {
    let mut columns = vec![
        Column {
            header: "peak footprint",
            better: Better::Lower,
            value: |r| Some(r.memory.peak_footprint_bytes as f64),
            text: bytes,
        },
        Column {
            header: "max live",
            better: Better::Neither,
            value: |r| Some(r.memory.max_live_bytes as f64),
            text: bytes,
        },
        Column {
            header: "overhead",
            better: Better::Lower,
            value: |r| r.memory.overhead(),
            text: percent,
        },
        Column {
            header: "internal",
            better: Better::Lower,
            value: |r| Some(r.memory.internal_fragmentation()),
            text: percent,
        },
        Column {
            header: "external",
            better: Better::Lower,
            value: |r| Some(r.memory.external_fragmentation()),
            text: percent,
        },
        Column {
            header: "failed",
            better: Better::Lower,
            value: |r| Some(r.memory.failed_allocations as f64),
            text: |v| format!("{v}"),
        },
    ];
    if timed {
        columns.extend([
            Column {
                header: "events/s (median)",
                better: Better::Higher,
                value: |r| r.throughput.as_ref().map(|t| t.median),
                text: millions,
            },
            Column {
                header: "malloc p50 ns",
                better: Better::Lower,
                value: |r| r.latency.and_then(|l| l.malloc).map(|p| p.p50 as f64),
                text: ns,
            },
            Column {
                header: "malloc p99 ns",
                better: Better::Lower,
                value: |r| r.latency.and_then(|l| l.malloc).map(|p| p.p99 as f64),
                text: ns,
            },
            Column {
                header: "free p50 ns",
                better: Better::Lower,
                value: |r| r.latency.and_then(|l| l.free).map(|p| p.p50 as f64),
                text: ns,
            },
            Column {
                header: "free p99 ns",
                better: Better::Lower,
                value: |r| r.latency.and_then(|l| l.free).map(|p| p.p99 as f64),
                text: ns,
            },
        ]);
    }
    columns
}

impl Exporter for MarkdownExporter {
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let t = &report.trace;
        let mut out = format!(
            "**replay** {} · `{}` ({}): {} events, {} blocks\n\n",
            env!("CARGO_PKG_VERSION"),
            t.path,
            t.format,
            t.events,
            t.blocks
        );
        let columns = columns(report.timing.runs > 0);
        out.push_str("| strategy |");
        for c in &columns {
            out.push_str(&format!(" {} |", c.header));
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(columns.len()));
        out.push('\n');
        let best: Vec<Vec<bool>> = columns
            .iter()
            .map(|c| best_rows(report.results.iter().map(c.value), c.better))
            .collect();
        for (i, r) in report.results.iter().enumerate() {
            out.push_str(&format!("| {} |", r.allocator));
            for (c, best) in columns.iter().zip(&best) {
                let cell = (c.value)(r).map_or("-".to_string(), c.text);
                if best[i] {
                    out.push_str(&format!(" **{cell}** |"));
                } else {
                    out.push_str(&format!(" {cell} |"));
                }
            }
            out.push('\n');
        }
        out.push_str("\nBold: the best value of its column. ");
        if report.timing.runs > 0 {
            out.push_str(&format!(
                "Throughput: median of {} untimed runs; latency includes ~{} ns of clock reads.\n",
                report.timing.runs, report.clock_overhead_ns
            ));
        } else {
            out.push_str("Timing skipped (`--runs 0`).\n");
        }
        Ok(out.into_bytes())
    }
}
