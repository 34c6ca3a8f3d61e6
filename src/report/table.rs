//! The terminal report: a memory table (the exact figures) and a speed table (the timings), one
//! row per strategy and a column per figure of the registry.

use super::{ExportError, Exporter, Report};
use crate::engine::verify::FindingKind;
use crate::figures::{Figure, Kind, FIGURES};
use crate::results::ResultRecord;

pub struct TableExporter;

/// Columns of left-aligned first cells and right-aligned numbers, separated by two spaces.
pub(crate) fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].len()).chain([header[c].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (c, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if c == 0 {
                out.push_str(&format!("{cell:<width$}"));
            } else {
                out.push_str(&format!("  {cell:>width$}"));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    out.push_str(&line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>()));
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// One table of figures: the strategy, then a column per figure.
fn figure_table(records: &[ResultRecord], figures: &[&Figure]) -> String {
    let mut header = vec!["strategy"];
    header.extend(figures.iter().map(|f| f.label));
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let mut row = vec![r.allocator.clone()];
            row.extend(figures.iter().map(|f| cell(f, r)));
            row
        })
        .collect();
    render(&header, &rows)
}

/// A figure's cell; a repeated figure also shows the range of its runs: `1.20M [1.10M .. 1.30M]`
/// (a real allocator's footprint only when its runs differ).
fn cell(f: &Figure, r: &ResultRecord) -> String {
    let value = f.short(r);
    let range = f.runs.and_then(|runs| runs(r)).and_then(|runs| {
        let min = runs.iter().copied().reduce(f64::min)?;
        let max = runs.iter().copied().reduce(f64::max)?;
        (f.kind == Kind::Timed || min != max)
            .then(|| format!(" [{} .. {}]", f.unit.short(min), f.unit.short(max)))
    });
    value + &range.unwrap_or_default()
}

impl Exporter for TableExporter {
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let t = &report.trace;
        let mut out =
            format!("trace {} ({}): {} events, {} blocks", t.path, t.format, t.events, t.blocks);
        if !t.skipped.is_empty() {
            let kinds: Vec<String> =
                t.skipped.iter().map(|(kind, n)| format!("{n} {}", kind.name())).collect();
            out.push_str(&format!("; skipped (--lenient): {}", kinds.join(", ")));
        }
        out.push_str("\n\n");

        let records = report.records();
        let of_kind = |kind: Kind| FIGURES.iter().filter(|f| f.kind == kind).collect::<Vec<_>>();
        out.push_str(&figure_table(&records, &of_kind(Kind::Exact)));

        if report.timing.runs > 0 {
            out.push('\n');
            out.push_str(&figure_table(&records, &of_kind(Kind::Timed)));
            out.push_str(&format!(
                "\nthroughput: median [min .. max] of {} untimed runs; timing ran {}; latency includes ~{} ns of clock reads\n",
                report.timing.runs,
                if report.timing.parallel {
                    "with strategies in parallel"
                } else {
                    "one strategy at a time"
                },
                report.clock_overhead_ns
            ));
            let sampled: Vec<String> = report
                .results
                .iter()
                .filter_map(|r| r.latency.as_ref().map(|l| (r.allocator, l.sample_every)))
                .filter(|&(_, every)| every > 1)
                .map(|(name, every)| format!("{name} 1 in {every}"))
                .collect();
            if !sampled.is_empty() {
                out.push_str(&format!(
                    "latency sampled where calls are cheaper than the clock: {}\n",
                    sampled.join(", ")
                ));
            }
        } else {
            out.push_str("\ntiming skipped (--runs 0)\n");
        }
        threads(&mut out, &records);
        safety(&mut out, report);
        Ok(out.into_bytes())
    }
}

/// On how many OS threads the real allocators replayed, when the trace has threads.
fn threads(out: &mut String, records: &[ResultRecord]) {
    let threaded = records.iter().filter_map(|r| r.threads.as_ref()).find(|t| t.os_threads > 1);
    if let Some(t) = threaded {
        out.push_str(&format!(
            "real allocators: replayed on the trace's {} threads, one OS thread each, {} orders \
             between them kept (--serial replays on one)\n",
            t.os_threads, t.cross_thread_orders
        ));
    }
}

/// The safety lab's findings: the trace's own memory errors once (they are the same for every
/// strategy that replayed that far), then per strategy what broke or was damaged.
fn safety(out: &mut String, report: &Report) {
    let path = &report.trace.path;
    let verified = report.results.iter().find(|r| r.safety.verified);
    if let Some(first) = verified {
        let s = &first.safety;
        out.push_str(&format!(
            "\nverify: {} buffer overruns, {} uses after free in the trace\n",
            s.overruns, s.use_after_free
        ));
        for f in s.findings.iter().filter(|f| f.kind != FindingKind::VerifyError) {
            out.push_str(&format!("{path}:{}: {}\n", f.line, f.text()));
        }
        let shown = s.findings.iter().filter(|f| f.kind != FindingKind::VerifyError).count() as u64;
        if shown < s.overruns + s.use_after_free {
            out.push_str(&format!("... and {} more\n", s.overruns + s.use_after_free - shown));
        }
    }
    for r in &report.results {
        let s = &r.safety;
        for f in s.findings.iter().filter(|f| f.kind == FindingKind::VerifyError) {
            out.push_str(&format!("{}: {path}:{}: {}\n", r.allocator, f.line, f.text()));
        }
        if let Some(c) = &s.corruption {
            out.push_str(&format!("{}: {path}:{}: {}\n", r.allocator, c.line, c.text()));
        }
    }
    if verified.is_some() {
        let broken: Vec<&str> = report
            .results
            .iter()
            .filter(|r| r.safety.verify_errors > 0)
            .map(|r| r.allocator)
            .collect();
        if broken.is_empty() {
            out.push_str("verify: every strategy kept the heap model\n");
        } else {
            out.push_str(&format!("verify: FAILED for {}\n", broken.join(", ")));
        }
    }
}
