//! Reports: the results of a run, and the formats they are written in.
//!
//! An [`Exporter`] is pure: a [`Report`] in, bytes out. Where the bytes go (a file, written
//! atomically, or stdout) is [`mod@write`]'s business, so no exporter can leave half a file behind.

pub mod breakdowns;
pub mod chart;
pub mod csv;
pub mod html;
pub mod json;
pub mod markdown;
pub mod table;
pub mod write;

use crate::alloc::Params;
use crate::engine::heap_pictures::HeapPictures;
use crate::engine::{StrategyResult, Timing};
pub use crate::figures::human_bytes;
use crate::figures::Better;
use crate::results::ResultRecord;
use crate::trace::SkipKind;
use crate::trace::{Event, Op};
use std::collections::BTreeMap;

/// What was replayed, how, and what came out.
#[derive(Clone, Debug)]
pub struct Report {
    pub trace: TraceSummary,
    pub params: Params,
    pub timing: Timing,
    /// Median cost of the clock read pair included in every latency figure.
    pub clock_overhead_ns: u64,
    /// `--samples`: samples of the memory time series per strategy.
    pub samples: u64,
    pub results: Vec<StrategyResult>,
    /// The real allocators' results, after the simulations' in every table.
    pub real: Vec<crate::real::run::RealResult>,
    /// Heap map and timeline per strategy, in the order of `results`; empty unless `--report`
    /// asked for them (they cost one more replay per strategy).
    pub heap: Vec<HeapPictures>,
    /// The command line that produced the report, as typed.
    pub command_line: String,
    /// The hidden `--test-slowdown` settings, as typed (empty when none).
    pub test_slowdown: Vec<String>,
}

impl Report {
    /// Every strategy's results as the JSON has them, which is what every table reads its
    /// figures from ([`crate::figures::Figure::read`]).
    pub fn records(&self) -> Vec<ResultRecord> {
        let simulated = self.results.iter().map(ResultRecord::of);
        simulated.chain(self.real.iter().map(ResultRecord::of_real)).collect()
    }
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
    /// Requested sizes of allocations (malloc, calloc, memalign, realloc) in log2 buckets:
    /// `request_sizes[0]` counts sizes 0 and 1, `request_sizes[k]` sizes in `[2^k, 2^(k+1))`.
    pub request_sizes: Vec<u64>,
    /// The hash of the trace file's bytes, prefixed by the hash's name
    /// ([`crate::gate::hash`]); `None` when the file could not be read again.
    pub content_hash: Option<String>,
}

/// The request size histogram of [`TraceSummary::request_sizes`].
pub fn request_size_histogram(events: &[Event]) -> Vec<u64> {
    let mut buckets = vec![0u64; 65];
    for e in events.iter().filter(|e| !matches!(e.op, Op::Free | Op::Write)) {
        buckets[e.size.max(1).ilog2() as usize] += 1;
    }
    let used = buckets.iter().rposition(|&n| n > 0).map_or(0, |i| i + 1);
    buckets.truncate(used);
    buckets
}

/// Turns a report into the bytes of one output format.
pub trait Exporter {
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError>;
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("could not encode JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("could not encode CSV: {0}")]
    Csv(#[from] ::csv::Error),
    #[error("could not draw the {chart} chart: {message}")]
    Chart { chart: &'static str, message: String },
}

/// The figures the summary tables (Markdown, HTML) show: all of them, but the timings when
/// timing was skipped (`--runs 0`), whose columns would be empty.
pub fn shown_figures(report: &Report) -> Vec<&'static crate::figures::Figure> {
    let timed = report.timing.runs > 0;
    crate::figures::FIGURES
        .iter()
        .filter(|f| timed || f.kind == crate::figures::Kind::Exact)
        .collect()
}

/// Which rows hold the best value of a column (every row that ties for it). Marks nothing when
/// the column is not a score, or when all its values are equal (no row stands out).
pub fn best_rows(values: impl Iterator<Item = Option<f64>>, better: Better) -> Vec<bool> {
    let values: Vec<Option<f64>> = values.collect();
    let present = || values.iter().flatten().copied();
    let best = match better {
        Better::Lower => present().reduce(f64::min),
        Better::Higher => present().reduce(f64::max),
        Better::Neither => None,
    };
    let distinct = present().any(|v| Some(v) != best);
    values.iter().map(|v| distinct && v.is_some() && *v == best).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_value_is_marked_on_every_row_that_ties_for_it() {
        let values = [Some(3.0), Some(1.0), None, Some(1.0)];
        assert_eq!(best_rows(values.into_iter(), Better::Lower), [false, true, false, true]);
        assert_eq!(best_rows(values.into_iter(), Better::Higher), [true, false, false, false]);
        assert_eq!(best_rows([Some(2.0), Some(2.0)].into_iter(), Better::Lower), [false, false]);
        assert_eq!(best_rows(values.into_iter(), Better::Neither), [false; 4]);
    }
}
