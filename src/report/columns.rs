//! The columns of the summary tables (Markdown and HTML): which figures, how they read, and
//! which way is better.

use super::{human_bytes, Better};
use crate::engine::StrategyResult;

/// One column of the table: its header, which way is better, the figure and how it reads.
pub struct Column {
    pub header: &'static str,
    pub better: Better,
    pub value: fn(&StrategyResult) -> Option<f64>,
    pub text: fn(f64) -> String,
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

pub fn columns(timed: bool) -> Vec<Column> {
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
    let work = Column {
        header: "work/event",
        better: Better::Lower,
        value: |r| Some(r.memory.work_per_event()),
        text: |v| format!("{v:.2}"),
    };
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
    columns.push(work);
    columns
}
