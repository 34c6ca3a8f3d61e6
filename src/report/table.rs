//! The terminal report: a memory table and a speed table, one row per strategy.

use super::{human_bytes, ExportError, Exporter, Report};
use crate::engine::verify::FindingKind;
use crate::metrics::{Percentiles, Throughput};

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

fn percent(value: f64) -> String {
    format!("{:.2}%", value * 100.0)
}

fn rate(events_per_sec: f64) -> String {
    format!("{:.2}M", events_per_sec / 1e6)
}

fn throughput(t: &Throughput) -> String {
    format!("{} [{} .. {}]", rate(t.median), rate(t.min), rate(t.max))
}

fn latency(p: &Option<Percentiles>) -> String {
    match p {
        Some(p) => format!("{} / {} / {} / {}", p.p50, p.p99, p.p999, p.max),
        None => "-".into(),
    }
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

        let memory_rows: Vec<Vec<String>> = report
            .results
            .iter()
            .map(|r| {
                let m = &r.memory;
                vec![
                    r.allocator.to_string(),
                    m.events.to_string(),
                    human_bytes(m.peak_footprint_bytes),
                    human_bytes(m.max_live_bytes),
                    m.overhead().map_or("-".into(), percent),
                    percent(m.internal_fragmentation()),
                    percent(m.external_fragmentation()),
                    m.peak_event.to_string(),
                    m.failed_allocations.to_string(),
                    format!("{:.2}", m.work_per_event()),
                ]
            })
            .collect();
        out.push_str(&render(
            &[
                "strategy",
                "events",
                "peak footprint",
                "max live",
                "overhead",
                "internal",
                "external",
                "peak event",
                "failed",
                "work/event",
            ],
            &memory_rows,
        ));

        if report.timing.runs > 0 {
            let speed_rows: Vec<Vec<String>> = report
                .results
                .iter()
                .map(|r| {
                    let lat = r.latency.as_ref();
                    vec![
                        r.allocator.to_string(),
                        r.throughput.as_ref().map_or("-".into(), throughput),
                        lat.map_or("-".into(), |l| latency(&l.malloc)),
                        lat.map_or("-".into(), |l| latency(&l.free)),
                        lat.map_or("-".into(), |l| latency(&l.realloc)),
                    ]
                })
                .collect();
            out.push('\n');
            out.push_str(&render(
                &[
                    "strategy",
                    "events/s median [min .. max]",
                    "malloc ns p50 / p99 / p99.9 / max",
                    "free ns",
                    "realloc ns",
                ],
                &speed_rows,
            ));
            out.push_str(&format!(
                "\nthroughput: median of {} untimed runs; timing ran {}; latency includes ~{} ns of clock reads\n",
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
        safety(&mut out, report);
        Ok(out.into_bytes())
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
