//! Comparing two `--json` results: which figures got worse, by how much, and whether that is a
//! regression the gate fails on.
//!
//! Inputs are read as JSON values, so results written by any version with the same
//! `schema_version` compare; a figure missing from either side (an older file without `work`,
//! a run without timing) is left out.

use super::stats;
use super::thresholds::{Key, Thresholds};
use serde_json::Value;
use std::path::Path;

/// A result file, read and checked to be a `replay --json` document.
pub struct Document {
    /// As named on the command line, for messages.
    pub name: String,
    pub value: Value,
}

impl Document {
    /// Read `path`; every failure is a message naming the file.
    pub fn read(path: &Path) -> Result<Document, String> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        Document::parse(name, &bytes)
    }

    pub fn parse(name: String, bytes: &[u8]) -> Result<Document, String> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            format!("{name} is not JSON ({e}); expected the output of replay --json")
        })?;
        if !value["schema_version"].is_u64() || !value["results"].is_array() {
            return Err(format!(
                "{name} is not a replay --json result (no schema_version or results)"
            ));
        }
        let version = value["schema_version"].as_u64().unwrap_or(0);
        if version != u64::from(crate::report::json::SCHEMA_VERSION) {
            return Err(format!(
                "{name} has schema_version {version}, this replay reads {}: re-run it with this \
                 version",
                crate::report::json::SCHEMA_VERSION
            ));
        }
        Ok(Document { name, value })
    }

    pub fn results(&self) -> &[Value] {
        self.value["results"].as_array().map_or(&[], Vec::as_slice)
    }

    pub fn content_hash(&self) -> Option<&str> {
        self.value["trace"]["content_hash"].as_str()
    }

    fn trace_label(&self) -> String {
        format!(
            "{} ({})",
            self.value["trace"]["path"].as_str().unwrap_or("?"),
            self.content_hash().unwrap_or("no content hash")
        )
    }
}

/// Refuse to compare results of different traces (unless `force`).
pub fn check_same_trace(old: &Document, new: &Document, force: bool) -> Result<(), String> {
    if force {
        return Ok(());
    }
    match (old.content_hash(), new.content_hash()) {
        (Some(a), Some(b)) if a == b => Ok(()),
        (None, _) | (_, None) => Err(format!(
            "{} or {} has no trace content hash, so they may have replayed different traces: \
             {} vs {}; pass --force to compare anyway",
            old.name,
            new.name,
            old.trace_label(),
            new.trace_label()
        )),
        _ => Err(format!(
            "{} and {} replayed different traces: {} vs {}; pass --force to compare anyway",
            old.name,
            new.name,
            old.trace_label(),
            new.trace_label()
        )),
    }
}

/// Which way a figure is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Better {
    Lower,
    Higher,
}

/// How a figure is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Deterministic: any difference is real.
    Exact,
    /// Repeated timings: a change must pass the threshold and the Mann-Whitney test.
    Repeated,
    /// One timing per run (latency percentiles): the threshold alone.
    Single,
}

/// How a figure reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Bytes,
    Count,
    Ratio,
    PerEvent,
    EventsPerSec,
    Ns,
}

struct Metric {
    /// As shown in tables.
    label: &'static str,
    key: Key,
    kind: Kind,
    better: Better,
    unit: Unit,
    /// The figure, or for repeated timings every repetition; `None` when the result has none.
    read: fn(&Value) -> Option<Vec<f64>>,
}

fn one(v: &Value) -> Option<Vec<f64>> {
    v.as_f64().map(|x| vec![x])
}

const METRICS: &[Metric] = &[
    Metric {
        label: "peak footprint",
        key: Key::Footprint,
        kind: Kind::Exact,
        better: Better::Lower,
        unit: Unit::Bytes,
        read: |r| one(&r["peak_footprint_bytes"]),
    },
    Metric {
        label: "overhead",
        key: Key::Overhead,
        kind: Kind::Exact,
        better: Better::Lower,
        unit: Unit::Ratio,
        read: |r| one(&r["overhead"]),
    },
    Metric {
        label: "internal fragmentation",
        key: Key::Internal,
        kind: Kind::Exact,
        better: Better::Lower,
        unit: Unit::Ratio,
        read: |r| one(&r["internal_fragmentation"]),
    },
    Metric {
        label: "external fragmentation",
        key: Key::External,
        kind: Kind::Exact,
        better: Better::Lower,
        unit: Unit::Ratio,
        read: |r| one(&r["external_fragmentation"]),
    },
    Metric {
        label: "failed allocations",
        key: Key::Failed,
        kind: Kind::Exact,
        better: Better::Lower,
        unit: Unit::Count,
        read: |r| one(&r["failed_allocations"]),
    },
    Metric {
        label: "work per event",
        key: Key::Work,
        kind: Kind::Exact,
        better: Better::Lower,
        unit: Unit::PerEvent,
        read: |r| one(&r["work_per_event"]),
    },
    Metric {
        label: "throughput",
        key: Key::Throughput,
        kind: Kind::Repeated,
        better: Better::Higher,
        unit: Unit::EventsPerSec,
        read: |r| {
            let runs: Vec<f64> =
                r["throughput"]["runs"].as_array()?.iter().filter_map(Value::as_f64).collect();
            (!runs.is_empty()).then_some(runs)
        },
    },
    Metric {
        label: "malloc p99",
        key: Key::P99,
        kind: Kind::Single,
        better: Better::Lower,
        unit: Unit::Ns,
        read: |r| one(&r["latency_ns"]["malloc"]["p99"]),
    },
    Metric {
        label: "free p99",
        key: Key::P99,
        kind: Kind::Single,
        better: Better::Lower,
        unit: Unit::Ns,
        read: |r| one(&r["latency_ns"]["free"]["p99"]),
    },
];

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
        value_text(self.old, self.unit)
    }
    pub fn new_text(&self) -> String {
        value_text(self.new, self.unit)
    }
    pub fn change_text(&self) -> String {
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

fn value_text(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Bytes => format!("{} ({})", v as u64, crate::report::human_bytes(v as u64)),
        Unit::Count => format!("{}", v as u64),
        Unit::Ratio => format!("{:.4}%", v * 100.0),
        Unit::PerEvent => format!("{v:.4}"),
        Unit::EventsPerSec => format!("{:.3}M/s", v / 1e6),
        Unit::Ns => format!("{v} ns"),
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
    /// The significance level of each throughput test: [`stats::ALPHA`] over the number of
    /// strategies tested (Bonferroni).
    pub alpha: f64,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.rows.iter().filter(|r| r.verdict == Verdict::Regressed).count()
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    crate::metrics::median_of_sorted(&sorted)
}

/// Compare every figure of every strategy present in both documents.
pub fn compare(old: &Document, new: &Document, thresholds: &Thresholds) -> Comparison {
    let mut comparison = Comparison {
        old_name: old.name.clone(),
        new_name: new.name.clone(),
        alpha: stats::ALPHA,
        ..Comparison::default()
    };
    settings_notes(old, new, &mut comparison.notes);
    // Bonferroni: one throughput test per strategy in both, so that the chance of any false
    // alarm in the whole comparison stays at most ALPHA.
    let timed = old
        .results()
        .iter()
        .filter(|o| new.results().iter().any(|n| n["allocator"] == o["allocator"]))
        .filter(|o| o["throughput"]["runs"].is_array())
        .count();
    comparison.alpha = stats::ALPHA / timed.max(1) as f64;
    for o in old.results() {
        let name = o["allocator"].as_str().unwrap_or("?");
        let Some(n) = new.results().iter().find(|n| n["allocator"] == o["allocator"]) else {
            comparison.notes.push(format!("{name} is in {} only", old.name));
            continue;
        };
        for metric in METRICS {
            let (Some(a), Some(b)) = ((metric.read)(o), (metric.read)(n)) else { continue };
            let threshold = thresholds.get(metric.key);
            comparison.rows.push(judge(name, metric, &a, &b, threshold, comparison.alpha));
        }
    }
    for n in new.results() {
        if !old.results().iter().any(|o| o["allocator"] == n["allocator"]) {
            let name = n["allocator"].as_str().unwrap_or("?");
            comparison.notes.push(format!("{name} is in {} only", new.name));
        }
    }
    // A stable sort: strategies and metrics keep their order within a verdict.
    comparison.rows.sort_by_key(|r| r.verdict);
    comparison
}

/// The verdict on one figure; `threshold` is a fraction, `None` when the metric is off.
fn judge(
    allocator: &str,
    metric: &Metric,
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
    let worse_by = match metric.better {
        Better::Lower => change,
        Better::Higher => -change,
    };
    let t = threshold.unwrap_or(0.0);
    let mut p_value = None;
    let verdict = if old == new || a == b && metric.kind == Kind::Exact {
        Verdict::Unchanged
    } else {
        match metric.kind {
            // One timing a side and no threshold: nothing to judge it by.
            Kind::Single if threshold.is_none() => Verdict::Noise,
            Kind::Exact | Kind::Single => {
                if worse_by <= 0.0 {
                    if metric.kind == Kind::Single && -worse_by <= t {
                        Verdict::Noise
                    } else {
                        Verdict::Improved
                    }
                } else if threshold.is_none() {
                    Verdict::NotGated
                } else if worse_by > t {
                    Verdict::Regressed
                } else if metric.kind == Kind::Single {
                    Verdict::Noise
                } else {
                    Verdict::Tolerated
                }
            }
            Kind::Repeated => {
                // Is the new figure significantly worse than the old one moved by the
                // threshold, i.e. worse by more than the threshold? And the same for better.
                let (worse_p, better_p) = match metric.better {
                    Better::Higher => {
                        let slower: Vec<f64> = old.iter().map(|x| x * (1.0 - t)).collect();
                        let faster: Vec<f64> = old.iter().map(|x| x * (1.0 + t)).collect();
                        (stats::p_greater(&slower, new), stats::p_greater(new, &faster))
                    }
                    Better::Lower => {
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
        metric: metric.label,
        old: a,
        new: b,
        change,
        verdict,
        threshold,
        p_value,
        unit: metric.unit,
    }
}

/// Notes on settings that differ (a different `--min-size` is what a comparison may be about,
/// so it is reported, not refused).
fn settings_notes(old: &Document, new: &Document, notes: &mut Vec<String>) {
    if old.value["tool"]["version"] != new.value["tool"]["version"] {
        notes.push(format!(
            "tool version: {} -> {}",
            old.value["tool"]["version"], new.value["tool"]["version"]
        ));
    }
    if old.value["trace"]["content_hash"] != new.value["trace"]["content_hash"] {
        notes.push(format!(
            "different traces (compared with --force): {} vs {}",
            old.trace_label(),
            new.trace_label()
        ));
    }
    let (Some(a), Some(b)) = (old.value["settings"].as_object(), new.value["settings"].as_object())
    else {
        return;
    };
    for (key, value) in a {
        if key == "clock_overhead_ns" || key == "samples" {
            continue;
        }
        let other = b.get(key).unwrap_or(&Value::Null);
        if value != other {
            notes.push(format!("settings differ: {key} {value} -> {other}"));
        }
    }
}
