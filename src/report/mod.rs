//! Reports: the results of a run, and the formats they are written in.
//!
//! An [`Exporter`] is pure: a [`Report`] in, bytes out. Where the bytes go (a file, written
//! atomically, or stdout) is [`write`]'s business, so no exporter can leave half a file behind.

pub mod json;
pub mod table;
pub mod write;

use crate::alloc::{Bytes, Params};
use crate::replay::{StrategyResult, Timing};
use crate::trace::SkipKind;
use std::collections::BTreeMap;

/// What was replayed, how, and what came out.
#[derive(Clone, Debug)]
pub struct Report {
    pub trace: TraceSummary,
    pub params: Params,
    pub timing: Timing,
    /// Median cost of the clock read pair included in every latency figure.
    pub clock_overhead_ns: u64,
    pub results: Vec<StrategyResult>,
}

/// The trace, as the report describes it.
#[derive(Clone, Debug)]
pub struct TraceSummary {
    /// As given on the command line.
    pub path: String,
    pub format: &'static str,
    pub events: u64,
    /// Distinct blocks allocated.
    pub blocks: u32,
    /// Events dropped by `--lenient`, by kind.
    pub skipped: BTreeMap<SkipKind, u64>,
}

/// Turns a report into the bytes of one output format.
pub trait Exporter {
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError>;
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("could not encode JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Bytes as a person reads them: `512 B`, `1.5 KiB`, `3.25 MiB`.
pub fn human_bytes(bytes: Bytes) -> String {
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

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn human_bytes_uses_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 + 256 * 1024), "3.25 MiB");
    }
}
