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
pub mod verdict;
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

/// Which records may be ranked, and against which others: the simulations that reuse memory
/// among themselves, the real allocators among themselves (their footprint is resident memory
/// in pages and their speed a separate process's, measured apart from the simulations' exact
/// heap tops and in-process passes, so the two are not one contest). `None`: never ranked, a
/// simulation that never reuses memory ([`crate::alloc::Strategy::reuses_memory`]: `bump`, a
/// baseline and not a choice) or a real allocator whose replay failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contest {
    Simulated,
    Real,
}

impl Contest {
    /// The contest `r` takes part in, if any (see [`Contest`]).
    pub fn of(r: &ResultRecord) -> Option<Contest> {
        if r.error.is_some() {
            None
        } else if r.is_real() {
            Some(Contest::Real)
        } else {
            crate::alloc::by_name(&r.allocator)
                .is_none_or(|e| e.reuses_memory())
                .then_some(Contest::Simulated)
        }
    }
}

/// Most rows a tie for best is marked on: a tie of more says nothing about any one of them.
pub const MOST_TIED_MARKS: usize = 2;

/// The line under every table with best marks, saying what they mean (`marked` is how the
/// table shows them: "Bold", "Highlighted").
pub fn best_legend(marked: &str) -> String {
    format!(
        "{marked}: the best value of its column among the simulations that reuse memory (bump \
         never does, so it is never marked) and, apart, among the real allocators. A tie for best \
         is marked on every tied row only when at most {MOST_TIED_MARKS} rows tie and they are \
         fewer than half of those compared; otherwise that column is not marked in that group."
    )
}

/// Which rows hold the best value of `figure`, by the rule of [`best_legend`]: within each
/// [`Contest`] of at least two records with the figure, the best value is marked when one
/// record holds it, or when at most [`MOST_TIED_MARKS`] do and they are fewer than half of the
/// contest's records with the figure. Marks nothing for a figure that is not a score.
pub fn best_rows(records: &[ResultRecord], figure: &crate::figures::Figure) -> Vec<bool> {
    best_rows_of(records, figure.read, figure.better)
}

/// [`best_rows`] for a value that is not a registry figure (the results table's p99.9 columns).
pub fn best_rows_of(
    records: &[ResultRecord],
    read: impl Fn(&ResultRecord) -> Option<f64>,
    better: Better,
) -> Vec<bool> {
    let mut marks = vec![false; records.len()];
    for contest in [Contest::Simulated, Contest::Real] {
        let values: Vec<(usize, f64)> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| Contest::of(r) == Some(contest))
            .filter_map(|(i, r)| Some((i, read(r)?)))
            .collect();
        let best = match better {
            Better::Lower => values.iter().map(|v| v.1).reduce(f64::min),
            Better::Higher => values.iter().map(|v| v.1).reduce(f64::max),
            Better::Neither => None,
        };
        let Some(best) = best else { continue };
        let tied: Vec<usize> = values.iter().filter(|v| v.1 == best).map(|v| v.0).collect();
        let n = values.len();
        let marked =
            n >= 2 && (tied.len() == 1 || (tied.len() <= MOST_TIED_MARKS && 2 * tied.len() < n));
        if marked {
            for i in tied {
                marks[i] = true;
            }
        }
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::figures::FIGURES;

    fn figure(key: &str) -> &'static crate::figures::Figure {
        FIGURES.iter().find(|f| f.key == key).unwrap()
    }

    /// A record with this footprint and throughput; `kind` "simulated" or "real".
    fn record(name: &str, kind: &str, footprint: u64, throughput: f64) -> ResultRecord {
        ResultRecord {
            allocator: name.into(),
            kind: Some(kind.into()),
            peak_footprint_bytes: Some(footprint),
            throughput_events_per_sec: Some(throughput),
            ..ResultRecord::default()
        }
    }

    fn marked(records: &[ResultRecord], key: &str) -> Vec<String> {
        let marks = best_rows(records, figure(key));
        records.iter().zip(marks).filter(|(_, m)| *m).map(|(r, _)| r.allocator.clone()).collect()
    }

    #[test]
    fn bump_is_never_marked_best_even_where_it_has_the_best_value() {
        let records = [
            record("bump", "simulated", 100, 90e6),
            record("first-fit", "simulated", 300, 10e6),
            record("tlsf", "simulated", 200, 20e6),
        ];
        assert_eq!(marked(&records, "throughput_events_per_sec"), ["tlsf"]);
        assert_eq!(marked(&records, "peak_footprint_bytes"), ["tlsf"]);
    }

    #[test]
    fn a_tie_of_five_marks_no_cell_and_a_tie_of_two_among_five_marks_both() {
        let five: Vec<ResultRecord> = ["first-fit", "next-fit", "best-fit", "worst-fit", "tlsf"]
            .iter()
            .map(|n| record(n, "simulated", 256, 1e6))
            .chain([
                record("slab", "simulated", 40960, 1e6),
                record("buddy", "simulated", 512, 1e6),
            ])
            .collect();
        assert!(marked(&five, "peak_footprint_bytes").is_empty());
        let mut two = five.clone();
        for r in &mut two[2..5] {
            r.peak_footprint_bytes = Some(300);
        }
        assert_eq!(marked(&two, "peak_footprint_bytes"), ["first-fit", "next-fit"]);
        // Three tied rows are too many even among many.
        two[2].peak_footprint_bytes = Some(256);
        assert!(marked(&two, "peak_footprint_bytes").is_empty());
    }

    #[test]
    fn real_allocators_are_marked_apart_from_the_simulations() {
        let records = [
            record("first-fit", "simulated", 300, 5e6),
            record("tlsf", "simulated", 200, 9e6),
            record("glibc", "real", 4096, 20e6),
            record("jemalloc", "real", 8192, 30e6),
        ];
        assert_eq!(marked(&records, "peak_footprint_bytes"), ["tlsf", "glibc"]);
        assert_eq!(marked(&records, "throughput_events_per_sec"), ["tlsf", "jemalloc"]);
        // Alone in its group, nothing to beat: not marked; a figure that is no score: never.
        assert_eq!(marked(&records[1..3], "peak_footprint_bytes"), Vec::<String>::new());
        assert!(marked(&records, "max_live_bytes").is_empty());
    }
}
