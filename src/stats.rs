//! `replay stats TRACE`: a profile of the trace itself, before any strategy sees it.
//!
//! Every figure is counted over the validated events ([`crate::trace::Event`]), in trace
//! order; "event i" is the i-th event from 0, and "line" the input line that produced it.
//! - *live bytes* after an event: the sum of the requested sizes of the blocks live then (a
//!   `realloc` replaces its block's size); *live blocks*: their number. The maxima are the
//!   first events at which they are reached.
//! - *total bytes allocated*: the sum of the sizes requested by `malloc`, `calloc`, `memalign`
//!   and `realloc` (a `realloc` asks for its whole new size).
//! - *request sizes*: the sizes of those same events; percentiles by nearest rank; the
//!   histogram has one bucket per power of two, `[2^k, 2^(k+1))` (size 0 counts in `[1, 2)`).
//! - *block lifetime*: events from a block's allocation to its free (a `realloc` does not end
//!   it); blocks never freed are counted apart.
//! - *threads*: distinct values of a CSV's `thread` column (unknown for other formats, or
//!   when the column is missing).
//!
//! # The shape verdict (after Wilson, Johnstone, Neely and Boles, "Dynamic Storage
//! Allocation: A Survey and Critical Review", 1995, section 4.1)
//! Wilson et al. see three patterns in live memory over time: *ramps* (it grows and hardly
//! shrinks), *peaks* (it grows fast for a phase, then most of it is freed) and *plateaus* (it
//! grows fast, then stays about level for most of the run). With `M` the max live bytes and
//! time measured in events (0 to 1 of the trace), the rule is, in this order:
//! 1. **peaks (N)** when live bytes climb above `0.75 M` from below `0.25 M` (or from the start)
//!    at least twice: `N` such phases.
//! 2. **ramp** when live bytes first reach `0.9 M` in the second half of the trace (`t90 >=
//!    0.5`): the program kept building up (a final release at exit does not change that).
//! 3. **plateau** when they reach `0.9 M` in the first half and stay at or above `0.5 M` for at
//!    least 75% of the events after that.
//! 4. **peak** otherwise: one phase of growth followed by a release.

use crate::report::write::{self, Destination};
use crate::trace::{self, Event, Format, Op, ParseOptions, Trace};
use crate::words::noun;
use crate::words::thousands;
use crate::Error;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Nearest-rank percentiles of a set of numbers (all 0 when it is empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl Percentiles {
    /// Sorts `values`.
    pub fn of(values: &mut [u64]) -> Percentiles {
        values.sort_unstable();
        let n = values.len();
        if n == 0 {
            return Percentiles::default();
        }
        let rank = |p: u64| values[((p as usize * n).div_ceil(100)).clamp(1, n) - 1];
        Percentiles {
            count: n as u64,
            min: values[0],
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max: values[n - 1],
        }
    }
}

/// One bucket of the request size histogram: sizes in `[from, to)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub from: u64,
    /// Up to 2^64, past every `u64` size.
    pub to: u128,
    pub count: u64,
}

/// The verdict on the trace's shape; see the module docs for the rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Shape {
    /// `ramp`, `peak`, `peaks` or `plateau`.
    pub verdict: &'static str,
    /// Phases that climbed above 0.75 M from below 0.25 M.
    pub peaks: u64,
    /// Where live bytes first reached 0.9 M, in thousandths of the trace.
    pub t90_permille: u64,
    /// The verdict in a sentence.
    pub summary: String,
}

/// The profile of a trace. See the module docs for every definition.
#[derive(Clone, Debug, Serialize)]
pub struct TraceStats {
    pub path: String,
    pub events: u64,
    pub by_op: BTreeMap<&'static str, u64>,
    /// Blocks allocated (malloc, calloc, memalign events): the same for a trace in any format,
    /// whether its block ids are recycled or not.
    pub blocks: u64,
    pub threads: Option<u64>,
    /// Live bytes are exact: a trace may ask for more than 2^64 bytes in all.
    pub max_live_bytes: u128,
    pub max_live_bytes_event: u64,
    pub max_live_bytes_line: u64,
    pub max_live_blocks: u64,
    pub max_live_blocks_event: u64,
    pub max_live_blocks_line: u64,
    pub live_bytes_at_end: u128,
    pub live_blocks_at_end: u64,
    pub total_bytes_allocated: u128,
    pub request_sizes: Percentiles,
    pub request_size_histogram: Vec<Bucket>,
    /// In events, of the blocks that are freed.
    pub lifetimes: Percentiles,
    pub never_freed: u64,
    pub shape: Shape,
    pub skipped: BTreeMap<&'static str, u64>,
}

/// Profile `trace`. O(events) time (plus a sort of the sizes and lifetimes); memory O(requests)
/// for the sizes and lifetimes, and O(block ids) for the table of live sizes.
pub fn profile(trace: &Trace, threads: Option<u64>) -> TraceStats {
    let events = &trace.events;
    let mut by_op = BTreeMap::new();
    // Indexed by block id. An id may be recycled (an `.rtrace` reuses the id of a freed block):
    // an entry describes the block that has the id now, and everything counted per *block* is
    // counted per allocation, never per id.
    let mut size_of = vec![0u64; trace.blocks as usize];
    let mut born = vec![0u64; trace.blocks as usize];
    let (mut live, mut live_blocks) = (0u128, 0u64);
    let (mut max_bytes, mut max_bytes_at, mut max_blocks, mut max_blocks_at) = (0, 0, 0, 0);
    let (mut total, mut allocations) = (0u128, 0u64);
    let mut sizes = Vec::new();
    let mut lifetimes = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let i = i as u64;
        *by_op.entry(e.op.name()).or_insert(0u64) += 1;
        let id = e.id as usize;
        match e.op {
            Op::Malloc | Op::Calloc | Op::Memalign => {
                size_of[id] = e.size;
                born[id] = i;
                live += u128::from(e.size);
                live_blocks += 1;
                allocations += 1;
                total += u128::from(e.size);
                sizes.push(e.size);
            }
            Op::Realloc => {
                live = live - u128::from(size_of[id]) + u128::from(e.size);
                size_of[id] = e.size;
                total += u128::from(e.size);
                sizes.push(e.size);
            }
            Op::Free => {
                live -= u128::from(size_of[id]);
                live_blocks -= 1;
                lifetimes.push(i - born[id]);
            }
            Op::Write => {}
        }
        if live > max_bytes {
            (max_bytes, max_bytes_at) = (live, i);
        }
        if live_blocks > max_blocks {
            (max_blocks, max_blocks_at) = (live_blocks, i);
        }
    }
    let mut histogram: Vec<Bucket> = Vec::new();
    for &size in &sizes {
        let k = size.max(1).ilog2();
        while histogram.len() <= k as usize {
            let j = histogram.len() as u32;
            histogram.push(Bucket { from: 1 << j, to: 1 << (j + 1), count: 0 });
        }
        histogram[k as usize].count += 1;
    }
    let first_used = histogram.iter().position(|b| b.count > 0).unwrap_or(0);
    histogram.drain(..first_used);
    let shape = shape_of(max_bytes, events.len() as u64, || LiveBytes::new(events, trace.blocks));
    TraceStats {
        path: trace.path.display().to_string(),
        events: events.len() as u64,
        by_op,
        blocks: allocations,
        threads,
        max_live_bytes: max_bytes,
        max_live_bytes_event: max_bytes_at,
        max_live_bytes_line: trace.line_of(max_bytes_at),
        max_live_blocks: max_blocks,
        max_live_blocks_event: max_blocks_at,
        max_live_blocks_line: trace.line_of(max_blocks_at),
        live_bytes_at_end: live,
        live_blocks_at_end: live_blocks,
        total_bytes_allocated: total,
        request_sizes: Percentiles::of(&mut sizes),
        request_size_histogram: histogram,
        lifetimes: Percentiles::of(&mut lifetimes),
        never_freed: live_blocks,
        shape,
        skipped: trace.skipped.iter().map(|(k, n)| (k.name(), *n)).collect(),
    }
}

/// Live bytes after each event, in order, as [`profile`] counts them; replayed again for the
/// shape verdict, so that the series is never stored. Exact: the sum of at most 2^32 live sizes
/// (one per block id) of less than 2^64 bytes each fits a `u128`.
pub struct LiveBytes<'a> {
    events: std::slice::Iter<'a, Event>,
    /// Requested bytes of the block that has each id now.
    size_of: Vec<u64>,
    live: u128,
}

impl<'a> LiveBytes<'a> {
    /// The series of `events`, whose block ids are all below `ids`.
    pub fn new(events: &'a [Event], ids: u32) -> LiveBytes<'a> {
        LiveBytes { events: events.iter(), size_of: vec![0; ids as usize], live: 0 }
    }
}

impl Iterator for LiveBytes<'_> {
    type Item = u128;

    fn next(&mut self) -> Option<u128> {
        let e = self.events.next()?;
        let size = &mut self.size_of[e.id as usize];
        match e.op {
            Op::Malloc | Op::Calloc | Op::Memalign => {
                *size = e.size;
                self.live += u128::from(e.size);
            }
            Op::Realloc => {
                self.live = self.live - u128::from(*size) + u128::from(e.size);
                *size = e.size;
            }
            Op::Free => self.live -= u128::from(*size),
            Op::Write => {}
        }
        Some(self.live)
    }
}

/// The verdict on a series of live bytes, one value per event (see the module docs).
pub fn shape(series: &[u64]) -> Shape {
    let max = series.iter().copied().max().unwrap_or(0);
    shape_of(u128::from(max), series.len() as u64, || series.iter().map(|&f| u128::from(f)))
}

/// The verdict on the series of `len` values that `series()` yields afresh at every call, whose
/// maximum is `max`. Reads the series twice.
fn shape_of<I: Iterator<Item = u128>>(max: u128, len: u64, series: impl Fn() -> I) -> Shape {
    let n = u128::from(len.max(1));
    if max == 0 {
        return Shape {
            verdict: "peak",
            peaks: 0,
            t90_permille: 0,
            summary: "nothing is ever live".into(),
        };
    }
    // Thresholds in exact integer arithmetic: f >= x M  <=>  100 f >= 100x M. Live bytes are
    // below 2^96 (see `LiveBytes`), so a hundred times them fits a `u128`.
    let at_least = |f: u128, percent: u128| f * 100 >= percent * max;
    let below = |f: u128, percent: u128| f * 100 < percent * max;
    let mut peaks = 0;
    let mut armed = true;
    let mut t90 = None;
    for (i, f) in series().enumerate() {
        if armed && at_least(f, 75) {
            peaks += 1;
            armed = false;
        } else if !armed && below(f, 25) {
            armed = true;
        }
        if t90.is_none() && at_least(f, 90) {
            t90 = Some(i);
        }
    }
    let t90 = t90.unwrap_or(0);
    let t90_permille = (t90 as u128 * 1000 / n) as u64;
    let (mut after, mut held) = (0u128, 0u128);
    for f in series().skip(t90) {
        after += 1;
        held += u128::from(at_least(f, 50));
    }
    let held_percent = (held * 100 / after.max(1)) as u64;
    let (verdict, summary) = if peaks >= 2 {
        ("peaks", format!("{peaks} phases each build up over 75% of the max live bytes and release most of it"))
    } else if t90_permille >= 500 {
        (
            "ramp",
            format!(
                "live bytes build up through the run, reaching 90% of their max only {}% of the way in",
                t90_permille / 10
            ),
        )
    } else if held_percent >= 75 {
        (
            "plateau",
            format!(
                "live bytes reach 90% of their max {}% of the way in and stay above half of it for {held_percent}% of the rest",
                t90_permille / 10
            ),
        )
    } else {
        (
            "peak",
            format!(
                "live bytes reach 90% of their max {}% of the way in, then most is freed (above half for only {held_percent}% of the rest)",
                t90_permille / 10
            ),
        )
    };
    Shape { verdict, peaks, t90_permille, summary }
}

/// Distinct values of a CSV trace's `thread` column; `None` without one.
fn count_threads(path: &Path) -> Option<u64> {
    let input = trace::open(path).ok()?;
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(input);
    let column = reader.byte_headers().ok()?.iter().position(|h| h.trim_ascii() == b"thread")?;
    let mut seen = std::collections::HashSet::new();
    let mut record = ::csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).ok()? {
        if let Some(t) = record.get(column).filter(|t| !t.is_empty()) {
            if !seen.contains(t) {
                seen.insert(t.to_vec());
            }
        }
    }
    Some(seen.len() as u64)
}

/// The profile as text, for the terminal.
pub fn render(stats: &TraceStats) -> String {
    let mut out = String::new();
    let ops: Vec<String> =
        stats.by_op.iter().map(|(op, n)| format!("{op} {}", thousands(*n))).collect();
    out.push_str(&format!("trace       {}\n", stats.path));
    out.push_str(&format!("events      {} ({})\n", thousands(stats.events), ops.join(", ")));
    out.push_str(&format!(
        "blocks      {}; threads: {}\n",
        thousands(stats.blocks),
        stats.threads.map_or("unknown".into(), thousands)
    ));
    out.push_str(&format!(
        "max live    {} bytes at event {} (line {}); {} {} at event {} (line {})\n",
        thousands(stats.max_live_bytes),
        thousands(stats.max_live_bytes_event),
        thousands(stats.max_live_bytes_line),
        thousands(stats.max_live_blocks),
        noun(stats.max_live_blocks, "block", "blocks"),
        thousands(stats.max_live_blocks_event),
        thousands(stats.max_live_blocks_line)
    ));
    out.push_str(&format!(
        "at the end  {} bytes in {} {}\n",
        thousands(stats.live_bytes_at_end),
        thousands(stats.live_blocks_at_end),
        noun(stats.live_blocks_at_end, "block", "blocks")
    ));
    out.push_str(&format!(
        "allocated   {} bytes in total\n",
        thousands(stats.total_bytes_allocated)
    ));
    let p = &stats.request_sizes;
    out.push_str(&format!(
        "sizes       p50 {}, p90 {}, p99 {}, max {} bytes\n",
        thousands(p.p50),
        thousands(p.p90),
        thousands(p.p99),
        thousands(p.max)
    ));
    let widest = stats.request_size_histogram.iter().map(|b| b.count).max().unwrap_or(1).max(1);
    for b in &stats.request_size_histogram {
        let bar = "#".repeat((u128::from(b.count) * 40).div_ceil(u128::from(widest)) as usize);
        out.push_str(&format!(
            "            [{:>9}, {:>9})  {:>10}  {bar}\n",
            thousands(b.from),
            thousands(b.to),
            thousands(b.count)
        ));
    }
    let l = &stats.lifetimes;
    out.push_str(&format!(
        "lifetimes   p50 {}, p90 {}, p99 {}, max {} events ({} {} freed, {} never)\n",
        thousands(l.p50),
        thousands(l.p90),
        thousands(l.p99),
        thousands(l.max),
        thousands(l.count),
        noun(l.count, "block", "blocks"),
        thousands(stats.never_freed)
    ));
    out.push_str(&format!("shape       {}: {}\n", stats.shape.verdict, stats.shape.summary));
    for (kind, n) in &stats.skipped {
        out.push_str(&format!("skipped     {} {kind} (--lenient)\n", thousands(*n)));
    }
    out
}

/// What `replay stats` profiles and where the profile goes.
#[derive(Clone, Debug)]
pub struct StatsConfig {
    /// The trace to profile.
    pub trace: PathBuf,
    /// What the profile calls it (`<stdin>` for a trace read from standard input, which
    /// `trace` is a temporary copy of).
    pub shown: PathBuf,
    pub format: Format,
    pub parse: ParseOptions,
    /// Where the profile goes as JSON, if anywhere; standard output replaces the text.
    pub json: Option<Destination>,
}

/// `replay stats TRACE [--json FILE]`: the profile as text on standard output, and as JSON.
pub fn command(config: &StatsConfig) -> Result<(), Error> {
    let format = config.format;
    let mut trace = trace::load(&config.trace, format, config.parse)
        .map_err(|e| e.naming(&config.trace, &config.shown))?;
    trace.path.clone_from(&config.shown);
    let threads = match format {
        Format::Csv => count_threads(&config.trace),
        // Formats that name every line's thread: a trace of one thread keeps none.
        Format::Android | Format::Logalloc => Some(trace.thread_ids.len().max(1) as u64),
        _ => None,
    };
    let stats = profile(&trace, threads);
    let mut to_stdout = false;
    if let Some(dest) = &config.json {
        let mut bytes = serde_json::to_vec_pretty(&stats)
            .map_err(|e| Error::Export(crate::report::ExportError::Json(e)))?;
        bytes.push(b'\n');
        write::write(dest, &bytes)
            .map_err(|source| Error::Output { dest: dest.to_string(), source })?;
        to_stdout = *dest == Destination::Stdout;
    }
    if !to_stdout {
        let dest = Destination::Stdout;
        write::write(&dest, render(&stats).as_bytes())
            .map_err(|source| Error::Output { dest: dest.to_string(), source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events' live bytes after each event; block ids below `blocks`.
    fn live_bytes_series(events: &[Event], blocks: u32) -> Vec<u128> {
        LiveBytes::new(events, blocks).collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<u64> = (1..=100).collect();
        let p = Percentiles::of(&mut v);
        assert_eq!((p.min, p.p50, p.p90, p.p99, p.max), (1, 50, 90, 99, 100));
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }

    #[test]
    fn a_heap_that_grows_to_the_end_is_a_ramp() {
        let series: Vec<u64> = (1..=100).collect();
        assert_eq!(shape(&series).verdict, "ramp");
    }

    #[test]
    fn a_heap_that_fills_early_and_stays_is_a_plateau() {
        let series: Vec<u64> = (0..100).map(|i| if i < 10 { i * 10 } else { 95 }).collect();
        assert_eq!(shape(&series).verdict, "plateau");
    }

    #[test]
    fn a_heap_that_fills_and_empties_twice_has_peaks() {
        let up_down: Vec<u64> = (0..50).chain((0..50).rev()).collect();
        let series: Vec<u64> = up_down.iter().chain(&up_down).copied().collect();
        let s = shape(&series);
        assert_eq!((s.verdict, s.peaks), ("peaks", 2));
        let once: Vec<u64> = (0..30).chain((0..70).rev().map(|i| i * 29 / 69)).collect();
        assert_eq!(shape(&once).verdict, "peak");
    }

    #[test]
    fn live_bytes_follow_reallocs_and_frees() {
        let trace = Trace {
            events: vec![
                Event::malloc(0, 10),
                Event::malloc(1, 5),
                Event::realloc(0, 30),
                Event::free(1),
                Event::free(0),
            ],
            blocks: 2,
            ..Trace::default()
        };
        let stats = profile(&trace, None);
        assert_eq!((stats.max_live_bytes, stats.max_live_bytes_event), (35, 2));
        assert_eq!((stats.max_live_blocks, stats.live_bytes_at_end), (2, 0));
        assert_eq!(stats.total_bytes_allocated, 45);
        assert_eq!(stats.lifetimes.max, 4);
        assert_eq!(live_bytes_series(&trace.events, 2), [10, 15, 35, 30, 0]);
    }

    #[test]
    fn blocks_are_counted_per_allocation_even_when_ids_are_recycled() {
        // As an `.rtrace` stores it: id 0 serves three blocks in turn, the last never freed.
        let events = vec![
            Event::malloc(0, 10),
            Event::free(0),
            Event::malloc(0, 20),
            Event::free(0),
            Event::malloc(0, 30),
        ];
        let stats = profile(&Trace { events, blocks: 1, ..Trace::default() }, None);
        assert_eq!((stats.blocks, stats.never_freed, stats.live_blocks_at_end), (3, 1, 1));
        assert_eq!((stats.lifetimes.count, stats.lifetimes.max), (2, 1));
    }

    #[test]
    fn live_bytes_past_two_to_the_sixty_four_are_exact() {
        let events = vec![Event::malloc(0, u64::MAX), Event::malloc(1, u64::MAX), Event::free(0)];
        let stats = profile(&Trace { events, blocks: 2, ..Trace::default() }, None);
        let max = u128::from(u64::MAX);
        assert_eq!((stats.max_live_bytes, stats.max_live_bytes_event), (2 * max, 1));
        assert_eq!((stats.total_bytes_allocated, stats.live_bytes_at_end), (2 * max, max));
        let top = stats.request_size_histogram.last().unwrap();
        assert_eq!((top.from, top.to, top.count), (1 << 63, 1 << 64, 2));
        assert_eq!(stats.shape.verdict, "plateau");
    }
}
