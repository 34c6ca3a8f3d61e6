//! Comparing two `--json` results: which figures got worse, by how much, and whether that is a
//! regression the gate fails on.
//!
//! Both results are read through the typed document that writes them ([`crate::results`]);
//! the figures compared, how each is judged and its threshold come from the registry
//! ([`crate::figures::FIGURES`]). A figure or a strategy that the baseline has and the new
//! result lacks is *missing*: the gate fails on it (unless `--allow-missing`), because a
//! figure that is not compared cannot regress. A figure absent from the baseline (a run without
//! timing, a trace without realloc) is not compared.

use super::hash;
use super::stats;
use super::thresholds::Thresholds;
use crate::figures::{Better, Figure, Kind, Unit, FIGURES};
use crate::results::{Document, ResultRecord};
use std::path::Path;

/// A result file, read and checked to be a `replay --json` document of this schema version.
pub struct ResultFile {
    /// As named on the command line, for messages.
    pub name: String,
    pub document: Document,
}

impl ResultFile {
    /// Read `path`; every failure is a message naming the file.
    pub fn read(path: &Path) -> Result<ResultFile, String> {
        let name = path.display().to_string();
        let document = Document::read(path)?;
        Ok(ResultFile { name, document })
    }

    pub fn parse(name: String, bytes: &[u8]) -> Result<ResultFile, String> {
        let document = Document::parse(&name, bytes)?;
        Ok(ResultFile { name, document })
    }

    pub fn results(&self) -> &[ResultRecord] {
        &self.document.results
    }

    pub fn content_hash(&self) -> Option<&str> {
        self.document.trace.content_hash.as_deref()
    }

    fn trace_label(&self) -> String {
        format!(
            "{} ({})",
            self.document.trace.path,
            self.content_hash().unwrap_or("no content hash")
        )
    }
}

/// Refuse to compare results of different traces, unless `force`; `Ok` carries a note for
/// the comparison when there is something to say (traces compared with `--force`, a baseline
/// hashed the old way).
///
/// Each content hash names its algorithm ([`hash::algorithm_of`]). A baseline written by an
/// older replay (`fnv1a64:`) still compares: when the trace itself is at hand (`--baseline`),
/// it is hashed again the baseline's way; without it (`replay compare` of two files) the two
/// cannot be matched and that is said.
pub fn check_same_trace(
    old: &ResultFile,
    new: &ResultFile,
    force: bool,
    trace: Option<&Path>,
) -> Result<Option<String>, String> {
    let differ = || {
        format!(
            "{} and {} replayed different traces: {} vs {}",
            old.name,
            new.name,
            old.trace_label(),
            new.trace_label()
        )
    };
    let refused = |why: String| {
        if force {
            Ok(Some(format!("different traces (compared with --force): {why}")))
        } else {
            Err(format!("{why}; pass --force to compare anyway"))
        }
    };
    match (old.content_hash(), new.content_hash()) {
        (Some(a), Some(b)) if a == b => Ok(None),
        (None, _) | (_, None) => refused(format!(
            "{} or {} has no trace content hash, so they may have replayed different traces: \
             {} vs {}",
            old.name,
            new.name,
            old.trace_label(),
            new.trace_label()
        )),
        (Some(a), Some(b)) => {
            let (Some(was), Some(now)) = (hash::algorithm_of(a), hash::algorithm_of(b)) else {
                return refused(differ());
            };
            if was == now {
                return refused(differ());
            }
            let Some(trace) = trace else {
                return refused(format!(
                    "{} hashed its trace with {} and {} with {}, so this comparison cannot tell \
                     whether they replayed the same trace: re-run {} with this replay, or \
                     compare with --baseline on the trace",
                    old.name,
                    was.prefix(),
                    new.name,
                    now.prefix(),
                    old.name
                ));
            };
            match hash::of_file(trace, was) {
                Ok(again) if again == a => Ok(Some(format!(
                    "{} hashed its trace with {}; {} hashed the same way matches it",
                    old.name,
                    was.prefix(),
                    trace.display()
                ))),
                Ok(again) => refused(format!(
                    "{} and {} replayed different traces: {} vs {} ({} hashed the old way: {again})",
                    old.name,
                    new.name,
                    old.trace_label(),
                    new.trace_label(),
                    trace.display()
                )),
                Err(e) => refused(format!("cannot hash {} again: {e}", trace.display())),
            }
        }
    }
}

/// How the gate judges a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Judged {
    /// Deterministic: any difference is real.
    Exact,
    /// Repeated timings: a change must pass the threshold and the Mann-Whitney test.
    Repeated,
    /// One timing per run (latency percentiles): the threshold alone.
    Single,
}

/// Repeated when the baseline has the figure's repetitions (a timing, a real allocator's
/// footprint), else exact or, for a timing, single.
fn judged(figure: &Figure, old: &ResultRecord) -> Judged {
    if figure.runs.and_then(|runs| runs(old)).is_some() {
        return Judged::Repeated;
    }
    match figure.kind {
        Kind::Exact => Judged::Exact,
        Kind::Timed => Judged::Single,
    }
}

/// The figure in `r`: every repetition of a repeated timing, else the one value.
fn samples(figure: &Figure, r: &ResultRecord) -> Option<Vec<f64>> {
    match figure.runs {
        Some(runs) => runs(r).or_else(|| (figure.read)(r).map(|v| vec![v])),
        None => (figure.read)(r).map(|v| vec![v]),
    }
}

/// What the gate says about one figure of one strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Worse past its threshold (and, for repeated timings, significantly): fails the gate.
    Regressed,
    /// Worse, but the metric is excluded from the gate (`=off`).
    NotGated,
    /// Worse, but within its threshold.
    Tolerated,
    /// A timing that moved, but not past its threshold or not significantly.
    Noise,
    Improved,
    /// A figure that is not a score (max live bytes, events) and changed: the trace or the
    /// settings differ.
    Changed,
    Unchanged,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Regressed => "regressed",
            Verdict::NotGated => "worse (not gated)",
            Verdict::Tolerated => "worse (within threshold)",
            Verdict::Noise => "noise",
            Verdict::Improved => "improved",
            Verdict::Changed => "changed (not a score)",
            Verdict::Unchanged => "unchanged",
        }
    }
}

/// One figure of one strategy, old against new.
#[derive(Clone, Debug)]
pub struct Row {
    pub allocator: String,
    pub metric: &'static str,
    /// The compared value: the figure, or the median of the repetitions.
    pub old: f64,
    pub new: f64,
    /// `(new - old) / |old|`; infinite when `old` is 0 and `new` is not.
    pub change: f64,
    pub verdict: Verdict,
    /// The threshold (a fraction) the figure was held to; `None` when it is off.
    pub threshold: Option<f64>,
    /// The Mann-Whitney p-value, for repeated timings.
    pub p_value: Option<f64>,
    unit: Unit,
}

impl Row {
    pub fn old_text(&self) -> String {
        self.unit.precise(self.old)
    }
    pub fn new_text(&self) -> String {
        self.unit.precise(self.new)
    }
    /// The change as the table shows it: in percent of the old value (`+12.50%`), or for a
    /// ratio ([`Unit::changes_in_points`]: overhead, fragmentation) in percentage points
    /// (`+15.38 pp`). The verdict and the threshold are judged on [`Row::change`] either way.
    pub fn change_text(&self) -> String {
        if self.unit.changes_in_points() {
            let points = (self.new - self.old) * 100.0;
            return if points == 0.0 {
                "0 pp".into()
            } else if points.abs() < 0.005 {
                format!("{}<0.01 pp", if points > 0.0 { "+" } else { "-" })
            } else {
                format!("{points:+.2} pp")
            };
        }
        if self.change.is_infinite() {
            if self.change > 0.0 {
                "+inf".into()
            } else {
                "-inf".into()
            }
        } else if self.change == 0.0 {
            "0%".into()
        } else if self.change.abs() < 0.0001 {
            if self.change > 0.0 {
                "+<0.01%".into()
            } else {
                "-<0.01%".into()
            }
        } else {
            format!("{:+.2}%", self.change * 100.0)
        }
    }
    /// The verdict with what it rests on: the threshold, and the p-value of timings.
    pub fn verdict_text(&self) -> String {
        let mut text = self.verdict.name().to_string();
        let mut why = Vec::new();
        if let Some(t) = self.threshold {
            if self.verdict != Verdict::Unchanged {
                why.push(format!("threshold {}%", t * 100.0));
            }
        }
        if let Some(p) = self.p_value {
            if self.verdict != Verdict::Unchanged {
                why.push(format!("p={p:.3}"));
            }
        }
        if !why.is_empty() {
            text.push_str(&format!(" ({})", why.join(", ")));
        }
        text
    }
}

/// Everything `compare` found.
#[derive(Clone, Debug, Default)]
pub struct Comparison {
    pub old_name: String,
    pub new_name: String,
    /// Regressions first, then the other verdicts in the order of [`Verdict`]; strategies and
    /// metrics in their order within a verdict.
    pub rows: Vec<Row>,
    /// Differences in settings and strategies the reader should know about.
    pub notes: Vec<String>,
    /// What the baseline has and the new result lacks: strategies, and figures of strategies
    /// in both (`bump: peak footprint (peak_footprint_bytes)`).
    pub missing: Vec<String>,
    /// `--allow-missing`: missing figures and strategies are reported, not failed on.
    pub allow_missing: bool,
    /// The significance level of each throughput test: [`stats::ALPHA`] over the number of
    /// strategies tested (Bonferroni).
    pub alpha: f64,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.rows.iter().filter(|r| r.verdict == Verdict::Regressed).count()
    }

    /// Whether the gate passes: nothing regressed, and nothing is missing (or that is allowed).
    pub fn passed(&self) -> bool {
        self.regressions() == 0 && (self.missing.is_empty() || self.allow_missing)
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    crate::metrics::median_of_sorted(&sorted)
}

/// Compare every figure of every strategy of the baseline `old` with `new`.
pub fn compare(
    old: &ResultFile,
    new: &ResultFile,
    thresholds: &Thresholds,
    allow_missing: bool,
    trace_note: Option<String>,
) -> Comparison {
    let mut comparison = Comparison {
        old_name: old.name.clone(),
        new_name: new.name.clone(),
        alpha: stats::ALPHA,
        allow_missing,
        ..Comparison::default()
    };
    comparison.notes.extend(trace_note);
    settings_notes(old, new, &mut comparison.notes);
    let in_new = |o: &ResultRecord| new.document.result(&o.allocator);
    // Bonferroni: one test per repeated figure per strategy in both, so that the chance of any
    // false alarm in the whole comparison stays at most ALPHA.
    let tests = old
        .results()
        .iter()
        .filter_map(|o| Some((o, in_new(o)?)))
        .map(|(o, n)| {
            FIGURES
                .iter()
                .filter(|f| judged(f, o) == Judged::Repeated && samples(f, n).is_some())
                .count()
        })
        .sum::<usize>();
    comparison.alpha = stats::ALPHA / tests.max(1) as f64;
    for o in old.results() {
        let name = &o.allocator;
        let Some(n) = in_new(o) else {
            comparison.missing.push(format!("strategy {name}"));
            continue;
        };
        for figure in FIGURES {
            let Some(a) = samples(figure, o) else { continue };
            let Some(b) = samples(figure, n) else {
                comparison.missing.push(format!("{name}: {} ({})", figure.name, figure.key));
                continue;
            };
            let threshold = thresholds.of(figure, o.is_real());
            let kind = judged(figure, o);
            comparison.rows.push(judge(name, figure, kind, &a, &b, threshold, comparison.alpha));
        }
    }
    for n in new.results() {
        if old.document.result(&n.allocator).is_none() {
            comparison.notes.push(format!("{} is in {} only", n.allocator, new.name));
        }
    }
    // A stable sort: strategies and figures keep their order within a verdict.
    comparison.rows.sort_by_key(|r| r.verdict);
    comparison
}

/// The verdict on one figure; `threshold` is a fraction, `None` when the metric is off.
fn judge(
    allocator: &str,
    figure: &Figure,
    kind: Judged,
    old: &[f64],
    new: &[f64],
    threshold: Option<f64>,
    alpha: f64,
) -> Row {
    let (a, b) = (median(old), median(new));
    let change = if a == b {
        0.0
    } else if a == 0.0 {
        if b > a {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        }
    } else {
        (b - a) / a.abs()
    };
    // Positive when the figure got worse.
    let worse_by = match figure.better {
        Better::Lower => change,
        Better::Higher => -change,
        Better::Neither => 0.0,
    };
    let t = threshold.unwrap_or(0.0);
    let mut p_value = None;
    let verdict = if old == new || a == b && kind == Judged::Exact {
        Verdict::Unchanged
    } else if figure.better == Better::Neither {
        Verdict::Changed
    } else {
        match kind {
            // One timing a side and no threshold: nothing to judge it by.
            Judged::Single if threshold.is_none() => Verdict::Noise,
            Judged::Exact | Judged::Single => {
                if worse_by <= 0.0 {
                    if kind == Judged::Single && -worse_by <= t {
                        Verdict::Noise
                    } else {
                        Verdict::Improved
                    }
                } else if threshold.is_none() {
                    Verdict::NotGated
                } else if worse_by > t {
                    Verdict::Regressed
                } else if kind == Judged::Single {
                    Verdict::Noise
                } else {
                    Verdict::Tolerated
                }
            }
            Judged::Repeated => {
                // Is the new figure significantly worse than the old one moved by the
                // threshold, i.e. worse by more than the threshold? And the same for better.
                let (worse_p, better_p) = match figure.better {
                    Better::Higher => {
                        let slower: Vec<f64> = old.iter().map(|x| x * (1.0 - t)).collect();
                        let faster: Vec<f64> = old.iter().map(|x| x * (1.0 + t)).collect();
                        (stats::p_greater(&slower, new), stats::p_greater(new, &faster))
                    }
                    Better::Lower | Better::Neither => {
                        let higher: Vec<f64> = old.iter().map(|x| x * (1.0 + t)).collect();
                        let lower: Vec<f64> = old.iter().map(|x| x * (1.0 - t)).collect();
                        (stats::p_greater(new, &higher), stats::p_greater(&lower, new))
                    }
                };
                if worse_by > t && worse_p <= alpha {
                    p_value = Some(worse_p);
                    if threshold.is_some() {
                        Verdict::Regressed
                    } else {
                        Verdict::NotGated
                    }
                } else if -worse_by > t && better_p <= alpha {
                    p_value = Some(better_p);
                    Verdict::Improved
                } else {
                    p_value = Some(if worse_by > 0.0 { worse_p } else { better_p });
                    Verdict::Noise
                }
            }
        }
    };
    Row {
        allocator: allocator.to_string(),
        metric: figure.name,
        old: a,
        new: b,
        change,
        verdict,
        threshold,
        p_value,
        unit: figure.unit,
    }
}

/// Notes on settings that differ (a different `--min-size` is what a comparison may be about,
/// so it is reported, not refused).
fn settings_notes(old: &ResultFile, new: &ResultFile, notes: &mut Vec<String>) {
    let (a, b) = (&old.document, &new.document);
    if a.tool.version != b.tool.version {
        notes.push(format!("tool version: {} -> {}", a.tool.version, b.tool.version));
    }
    // Compared as JSON values, key by key, so every setting is covered and named as written.
    let as_map = |d: &Document| match serde_json::to_value(&d.settings) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (a, b) = (as_map(a), as_map(b));
    let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
    for key in keys {
        if key == "clock_overhead_ns" || key == "samples" {
            continue;
        }
        let (x, y) = (a.get(key), b.get(key));
        if x != y {
            let shown =
                |v: Option<&serde_json::Value>| v.map_or("(none)".to_string(), |v| v.to_string());
            notes.push(format!("settings differ: {key} {} -> {}", shown(x), shown(y)));
        }
    }
}
