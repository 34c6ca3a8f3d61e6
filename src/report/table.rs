//! The terminal report: a memory table (the exact figures) and a speed table (the timings), one
//! row per strategy and a column per figure of the registry.

use super::{ExportError, Exporter, Report};
use crate::engine::verify::FindingKind;
use crate::figures::{Figure, Kind, FIGURES};
use crate::results::{PercentilesRecord, ResultRecord};
use crate::words::count;

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
        let mut out = format!(
            "trace {} ({}): {}, {}",
            t.path,
            t.format,
            count(t.events, "event", "events"),
            count(t.blocks, "block", "blocks")
        );
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
                "\nthroughput: median [min .. max] of {}; timing ran {}; latency includes ~{} ns of clock reads\n",
                crate::engine::timing::runs_note(
                    report.timing,
                    &records
                        .iter()
                        .filter_map(|r| Some((r.allocator.as_str(), r.throughput.as_ref()?.runs_made)))
                        .collect::<Vec<_>>()
                ),
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
            preempted(&mut out, &records);
        } else {
            out.push_str("\ntiming skipped (--runs 0)\n");
        }
        threads(&mut out, &records);
        safety(&mut out, report);
        out.push('\n');
        out.push_str(&super::verdict::text(report));
        Ok(out.into_bytes())
    }
}

/// The latency maxima that are most likely preemption by the scheduler
/// ([`crate::engine::timing::max_is_preemption`]), named, so that nobody reads them as the
/// allocator's.
fn preempted(out: &mut String, records: &[ResultRecord]) {
    let kinds = |r: &ResultRecord| {
        let l = r.latency_ns.unwrap_or_default();
        [("malloc", l.malloc), ("free", l.free), ("realloc", l.realloc)]
    };
    let named: Vec<String> = records
        .iter()
        .flat_map(|r| kinds(r).map(|(kind, p)| (r.allocator.as_str(), kind, p)))
        .filter_map(|(name, kind, p): (&str, &str, Option<PercentilesRecord>)| {
            let p = p.filter(|p| p.max_preempted)?;
            Some(format!("{name} {kind} {} ns", p.max?))
        })
        .collect();
    if !named.is_empty() {
        out.push_str(&format!(
            "latency max is most likely the scheduler's, not the allocator's (at least {} ms and \
             {}x its p99; max_preempted in the JSON): {}\n",
            crate::engine::timing::PREEMPTION_MIN_NS / 1_000_000,
            crate::engine::timing::PREEMPTION_OVER_P99,
            named.join(", ")
        ));
    }
}

/// The warning for strategies whose timed passes were too short to time well
/// ([`crate::engine::timing::pass_too_short`]), naming each with the time of its median pass;
/// `None` when every pass was long enough.
pub fn short_pass_warning(records: &[ResultRecord]) -> Option<String> {
    let short: Vec<String> = records
        .iter()
        .filter(|r| r.throughput.as_ref().is_some_and(|t| t.too_short))
        .filter_map(|r| {
            let ns = crate::engine::timing::pass_ns(r.events?, r.throughput_events_per_sec?)?;
            Some(format!("{} {}", r.allocator, duration(ns)))
        })
        .collect();
    (!short.is_empty()).then(|| {
        format!(
            "a timed pass under {} is too short to time well, so these throughputs and latencies \
             are mostly noise (replay a longer trace): {} a pass",
            duration(crate::engine::timing::MIN_TIMED_PASS_NS).replace(".00", ""),
            short.join(", ")
        )
    })
}

/// Nanoseconds as a person reads them: `240 ns`, `3.50 µs`, `1.25 ms`, `2.00 s`.
fn duration(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// On how many OS threads the real allocators replayed, when the trace has threads.
fn threads(out: &mut String, records: &[ResultRecord]) {
    let threaded = records.iter().filter_map(|r| r.threads.as_ref()).find(|t| t.os_threads > 1);
    if let Some(t) = threaded {
        out.push_str(&format!(
            "real allocators: replayed on the trace's {} threads, one OS thread each, {} between \
             them kept (--serial replays on one)\n",
            t.os_threads,
            count(t.cross_thread_orders, "order", "orders")
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
            "\nverify: {}, {} in the trace\n",
            count(s.overruns, "buffer overrun", "buffer overruns"),
            count(s.use_after_free, "use after free", "uses after free")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::StrategyResult;
    use crate::metrics::{Latency, MemoryStats, Percentiles, Throughput};

    /// The record of a strategy with these throughput runs and malloc latencies, as `--json`
    /// and the table read it.
    fn record(name: &'static str, events: u64, runs: Vec<f64>, p99: u64, max: u64) -> ResultRecord {
        let malloc = Percentiles { count: events, p50: 40, p99, p999: p99, max };
        ResultRecord::of(&StrategyResult {
            allocator: name,
            memory: MemoryStats { events, ..MemoryStats::default() },
            throughput: Throughput::from_runs(runs),
            latency: Some(Latency {
                malloc: Some(malloc),
                free: None,
                realloc: None,
                sample_every: 1,
            }),
            safety: Default::default(),
            series: Default::default(),
            heap: None,
            at_peak: None,
        })
    }

    #[test]
    fn a_preempted_latency_maximum_is_marked_in_the_json_and_named_under_the_table() {
        // The same 4,023,203 ns in two strategies, far above their p99; a third's maximum is in
        // line with its tail.
        let records = [
            record("first-fit", 1_000_000, vec![50e6], 120, 4_023_203),
            record("best-fit", 1_000_000, vec![50e6], 150, 4_023_203),
            record("buddy", 1_000_000, vec![50e6], 9_000, 4_023_203),
        ];
        let marked: Vec<bool> =
            records.iter().map(|r| r.latency_ns.unwrap().malloc.unwrap().max_preempted).collect();
        assert_eq!(marked, [true, true, false]);
        let json = serde_json::to_value(&records[0]).unwrap();
        assert_eq!(json["latency_ns"]["malloc"]["max_preempted"], true);
        assert!(serde_json::to_value(&records[2]).unwrap()["latency_ns"]["malloc"]
            .get("max_preempted")
            .is_none());
        let mut out = String::new();
        preempted(&mut out, &records);
        assert!(out.starts_with("latency max is most likely the scheduler's"), "{out}");
        assert!(out.contains("first-fit malloc 4023203 ns, best-fit malloc 4023203 ns\n"), "{out}");
        assert!(!out.contains("buddy"), "{out}");
    }

    #[test]
    fn a_pass_too_short_to_time_is_warned_of_by_strategy_and_time() {
        // 10 events at 41.67M events/s: 240 ns a pass; 1M events at 50M/s: 20 ms.
        let short = record("first-fit", 10, vec![11.61e6, 41.67e6, 71.43e6], 100, 10_000);
        let long = record("best-fit", 1_000_000, vec![50e6], 100, 10_000);
        assert!(short.throughput.as_ref().unwrap().too_short);
        assert!(!long.throughput.as_ref().unwrap().too_short);
        let warning = short_pass_warning(&[short, long.clone()]).unwrap();
        assert!(warning.starts_with("a timed pass under 5 ms is too short to time well"));
        assert!(warning.ends_with(": first-fit 240 ns a pass"), "{warning}");
        assert_eq!(short_pass_warning(&[long]), None);
    }
}
